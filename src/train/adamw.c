/* adamw.c — AdamW over the contiguous trainable buffer, LR schedule and gradient clipping.
 * Scalars are rounded to float where torch rounds them (its kernels run in float32). */
#include <math.h>
#include <string.h>

#include "pst/train.h"

pst_err pst_adamw_init(pst_adamw *opt, size_t total) {
  memset(opt, 0, sizeof *opt);
  PST_CHECK(pst_calloc((void **)&opt->m, total, sizeof(float), "Adam first moments"));
  PST_CHECK(pst_calloc((void **)&opt->v, total, sizeof(float), "Adam second moments"));
  return PST_OK;
}

void pst_adamw_free(pst_adamw *opt) {
  pst_free(opt->m);
  pst_free(opt->v);
  memset(opt, 0, sizeof *opt);
}

void pst_adamw_step(pst_adamw *opt, pst_params *p, double lr, const pst_config *cfg) {
  opt->t++;
  const double bc1 = 1.0 - pow(cfg->beta1, (double)opt->t);
  const double bc2 = 1.0 - pow(cfg->beta2, (double)opt->t);
  const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  const float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2, eps = (float)cfg->eps;
  const float omb1 = (float)(1.0 - cfg->beta1), omb2 = (float)(1.0 - cfg->beta2);
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    float *x = p->data + t->offset, *g = p->grad + t->offset;
    float *m = opt->m + t->offset, *v = opt->v + t->offset;
    const float decay = (float)(1.0 - lr * (t->decay ? cfg->weight_decay : 0.0));
    const long n = (long)t->numel;
#pragma omp parallel for schedule(static)
    for (long j = 0; j < n; j++) {
      x[j] *= decay;
      m[j] = m[j] * b1 + omb1 * g[j];
      v[j] = v[j] * b2 + omb2 * g[j] * g[j];
      float denom = sqrtf(v[j]) / bc2_sqrt + eps;
      x[j] += -step_size * (m[j] / denom);
    }
  }
}

long pst_warmup_steps(const pst_config *cfg, long T) {
  return cfg->warmup_steps > 0 ? cfg->warmup_steps : (long)ceil(cfg->warmup_ratio * (double)T);
}

double pst_lr_at(double base_lr, long warmup, long t, long T) {
  double f;
  if (t < warmup) f = (double)t / (double)(warmup > 0 ? warmup : 1);
  else f = T > warmup ? (double)(T - t) / (double)(T - warmup) : 0.0;
  return base_lr * (f > 0 ? f : 0.0);
}

void pst_grad_sumsq(const pst_params *p, double ss[2]) {
  ss[0] = ss[1] = 0;
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    const float *g = p->grad + t->offset;
    const long n = (long)t->numel;
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (long j = 0; j < n; j++) s += (double)g[j] * g[j];
    ss[t->shard_dim >= 0] += s;
  }
}

double pst_clip_grad_to(pst_params *p, double norm, double max_norm) {
  if (max_norm > 0) {
    const long n = (long)p->total;
    float coef = (float)(max_norm / (norm + 1e-6));
    if (coef < 1.0f) {
#pragma omp parallel for schedule(static)
      for (long j = 0; j < n; j++) p->grad[j] *= coef;
    }
  }
  return norm;
}

double pst_clip_grad_norm(pst_params *p, double max_norm) {
  double ss[2];
  pst_grad_sumsq(p, ss);
  return pst_clip_grad_to(p, sqrt(ss[0] + ss[1]), max_norm);
}
