/* fake_cuda.c — the pst_cuda_* API (cuda.h, cuda_model.h) on the host, for checking the
 * on-device model's logic (src/model/device.c: layout, pointer moves, op order, the step) on a
 * machine without a GPU: "device" memory is host memory and every op calls its CPU twin.
 * Linked instead of libpstcuda.a's .cu objects (never together with them):
 *   test_device_step against this must match the CPU trainer to float rounding (the only
 *   different sum is the squared gradient norm's order), so any mistake in device.c shows.
 * Not a model of the device's numerics: the real ops are checked by test_cuda_ops on a GPU. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pst/cuda.h"
#include "pst/cuda_model.h"

struct pst_cuda_ctx {
  int tf32;
};

static pst_linear_scratch g_scratch;

/* PST_FAKE_CUDA_NOISE=1: move the outputs of the products (layers, matmuls, attention) by up to
 * 2 ulp at random, as a different summation order would, to see that the parity test's
 * tolerances and near-tie handling hold for legitimate rounding differences. */
static int g_noise = -1;
static uint64_t g_noise_state = 0x2545f4914f6cdd1dull;
static void noise(float *x, long n) {
  if (g_noise < 0) {
    const char *e = getenv("PST_FAKE_CUDA_NOISE");
    g_noise = e && *e && strcmp(e, "0");
  }
  if (!g_noise || !x) return;
  for (long i = 0; i < n; i++) {
    g_noise_state ^= g_noise_state << 13;
    g_noise_state ^= g_noise_state >> 7;
    g_noise_state ^= g_noise_state << 17;
    const int k = (int)(g_noise_state % 5) - 2;
    for (int j = 0; j < (k < 0 ? -k : k); j++) x[i] = nextafterf(x[i], k < 0 ? -INFINITY : INFINITY);
  }
}
static long g_mn, g_dim;
static int g_rank;

int pst_cuda_available(char *why, size_t n) {
  if (why && n) snprintf(why, n, "1 fake CUDA device (host memory, CPU ops)");
  return 1;
}

pst_err pst_cuda_create(pst_cuda_ctx **ctx, int device, int tf32) {
  if (device != 0) PST_ERR(PST_ERR_ARG, "fake CUDA: device %d does not exist", device);
  PST_CHECK(pst_calloc((void **)ctx, 1, sizeof **ctx, "fake context"));
  (*ctx)->tf32 = tf32;
  return PST_OK;
}

void pst_cuda_destroy(pst_cuda_ctx *ctx) {
  pst_free(ctx);
  pst_linear_scratch_free(&g_scratch);
  g_mn = g_dim = 0;
  g_rank = 0;
}

const char *pst_cuda_describe(const pst_cuda_ctx *ctx) {
  return ctx->tf32 ? "fake device (host, CPU ops; tf32 flag ignored)" : "fake device (host, CPU ops)";
}

pst_err pst_cuda_sync(pst_cuda_ctx *ctx) {
  (void)ctx;
  return PST_OK;
}

pst_err pst_cuda_alloc(void **dptr, size_t bytes, const char *what) {
  PST_CHECK(pst_calloc(dptr, bytes ? bytes : 1, 1, what));
  return PST_OK;
}
void pst_cuda_release(void *dptr) { pst_free(dptr); }
pst_err pst_cuda_upload(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes) memcpy(dst, src, bytes);
  return PST_OK;
}
pst_err pst_cuda_download(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes) memcpy(dst, src, bytes);
  return PST_OK;
}
pst_err pst_cuda_zero(pst_cuda_ctx *ctx, void *dst, size_t bytes) {
  (void)ctx;
  if (bytes) memset(dst, 0, bytes);
  return PST_OK;
}

pst_err pst_cuda_embedding_forward(pst_cuda_ctx *ctx, float *out, const int32_t *ids, const int32_t *type_ids,
                                   const float *tok, const float *pos, const float *type, int B, int T, int C) {
  (void)ctx;
  embedding_forward(out, ids, type_ids, tok, pos, type, B, T, C);
  return PST_OK;
}
pst_err pst_cuda_layernorm_forward(pst_cuda_ctx *ctx, float *out, float *mean, float *rstd, const float *inp,
                                   const float *w, const float *b, int N, int C, float eps) {
  (void)ctx;
  layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps);
  return PST_OK;
}
pst_err pst_cuda_layernorm_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *db, const float *dout,
                                    const float *inp, const float *w, const float *mean, const float *rstd, int N,
                                    int C) {
  (void)ctx;
  layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
  return PST_OK;
}
pst_err pst_cuda_matmul_forward(pst_cuda_ctx *ctx, float *out, const float *inp, const float *w, const float *bias,
                                int N, int K, int M) {
  (void)ctx;
  matmul_forward(out, inp, w, bias, N, K, M);
  noise(out, (long)N * M);
  return PST_OK;
}
pst_err pst_cuda_matmul_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int N, int K, int M) {
  (void)ctx;
  matmul_backward(dinp, dw, dbias, dout, inp, w, N, K, M);
  noise(dinp, (long)N * K);
  return PST_OK;
}
pst_err pst_cuda_gelu_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n, pst_gelu_kind kind) {
  (void)ctx;
  gelu_forward(out, inp, n, kind);
  return PST_OK;
}
pst_err pst_cuda_gelu_backward(pst_cuda_ctx *ctx, float *dinp, const float *inp, const float *dout, long n,
                               pst_gelu_kind kind) {
  (void)ctx;
  gelu_backward(dinp, inp, dout, n, kind);
  return PST_OK;
}
pst_err pst_cuda_tanh_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n) {
  (void)ctx;
  tanh_forward(out, inp, n);
  return PST_OK;
}
pst_err pst_cuda_tanh_backward(pst_cuda_ctx *ctx, float *dinp, const float *out, const float *dout, long n) {
  (void)ctx;
  tanh_backward(dinp, out, dout, n);
  return PST_OK;
}
pst_err pst_cuda_attention_forward(pst_cuda_ctx *ctx, float *out, float *probs, const float *q, const float *k,
                                   const float *v, const uint8_t *key_mask, int causal, int B, int T, int C, int NH) {
  (void)ctx;
  attention_forward(out, probs, q, k, v, key_mask, causal, B, T, C, NH, NH);
  noise(out, (long)B * T * C);
  return PST_OK;
}
pst_err pst_cuda_attention_backward(pst_cuda_ctx *ctx, float *dq, float *dk, float *dv, const float *dout,
                                    const float *probs, const float *q, const float *k, const float *v, int B, int T,
                                    int C, int NH) {
  (void)ctx;
  attention_backward(dq, dk, dv, dout, probs, q, k, v, B, T, C, NH, NH);
  noise(dq, (long)B * T * C);
  noise(dk, (long)B * T * C);
  noise(dv, (long)B * T * C);
  return PST_OK;
}
pst_err pst_cuda_crossentropy_forward(pst_cuda_ctx *ctx, double *d_loss, const float *logits, const int32_t *targets,
                                      const float *weights, int N, int V, float ls) {
  (void)ctx;
  *d_loss = crossentropy_forward(logits, targets, weights, N, V, ls);
  return PST_OK;
}
pst_err pst_cuda_crossentropy_backward(pst_cuda_ctx *ctx, float *dlogits, const float *logits,
                                       const int32_t *targets, const float *weights, int N, int V, float ls,
                                       float dloss) {
  (void)ctx;
  crossentropy_backward(dlogits, logits, targets, weights, N, V, ls, dloss);
  return PST_OK;
}
pst_err pst_cuda_mse_forward(pst_cuda_ctx *ctx, double *d_loss, const float *pred, const float *target, int N) {
  (void)ctx;
  *d_loss = mse_forward(pred, target, N);
  return PST_OK;
}
pst_err pst_cuda_mse_backward(pst_cuda_ctx *ctx, float *dpred, const float *pred, const float *target, int N,
                              float dloss) {
  (void)ctx;
  mse_backward(dpred, pred, target, N, dloss);
  return PST_OK;
}

/* adamw.c's update, segment by segment */
pst_err pst_cuda_adamw_step(pst_cuda_ctx *ctx, float *x, const float *g, float *m, float *v,
                            const pst_cuda_segment *segs, int nseg, long t, double lr, double beta1, double beta2,
                            double eps, double weight_decay) {
  (void)ctx;
  if (t < 1) PST_ERR(PST_ERR_ARG, "AdamW: step number %ld < 1", t);
  const double bc1 = 1.0 - pow(beta1, (double)t), bc2 = 1.0 - pow(beta2, (double)t);
  const float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  const float b1 = (float)beta1, b2 = (float)beta2, e = (float)eps;
  const float omb1 = (float)(1.0 - beta1), omb2 = (float)(1.0 - beta2);
  for (int i = 0; i < nseg; i++) {
    float *xs = x + segs[i].offset, *ms = m + segs[i].offset, *vs = v + segs[i].offset;
    const float *gs = g + segs[i].offset;
    const float decay = (float)(1.0 - lr * (segs[i].decay ? weight_decay : 0.0));
    for (size_t j = 0; j < segs[i].numel; j++) {
      xs[j] *= decay;
      ms[j] = ms[j] * b1 + omb1 * gs[j];
      vs[j] = vs[j] * b2 + omb2 * gs[j] * gs[j];
      const float denom = sqrtf(vs[j]) / bc2_sqrt + e;
      xs[j] += -step_size * (ms[j] / denom);
    }
  }
  return PST_OK;
}
pst_err pst_cuda_sumsq(pst_cuda_ctx *ctx, double *d_out, const float *x, long n) {
  (void)ctx;
  double s = 0;
  for (long i = 0; i < n; i++) s += (double)x[i] * x[i];
  *d_out = s;
  return PST_OK;
}
pst_err pst_cuda_scale(pst_cuda_ctx *ctx, float *x, long n, float coef) {
  (void)ctx;
  for (long i = 0; i < n; i++) x[i] *= coef;
  return PST_OK;
}
pst_err pst_cuda_topk_mask(pst_cuda_ctx *ctx, uint8_t *mask, const float *score, long numel, long keep,
                           pst_topk_threshold *thr) {
  (void)ctx;
  (void)thr;
  PST_CHECK(pst_topk_mask(mask, score, numel, keep));
  return PST_OK;
}

/* ---- the layer: the CPU layer ops with a CPU scratch sized on demand ---------------------- */

static pst_err cpu_scratch(const pst_linear *L, const pst_linear_opts *o) {
  const long mn = (long)L->m * L->n, dim = L->m > L->n ? L->m : L->n;
  const int rank = o->r1 > o->r2 ? o->r1 : o->r2;
  if (mn <= g_mn && dim <= g_dim && rank <= g_rank) return PST_OK;
  pst_linear_scratch_free(&g_scratch);
  g_mn = mn > g_mn ? mn : g_mn;
  g_dim = dim > g_dim ? dim : g_dim;
  g_rank = rank > g_rank ? rank : g_rank;
  PST_CHECK(pst_linear_scratch_alloc(&g_scratch, g_mn, g_dim, g_rank));
  return PST_OK;
}

pst_err pst_cuda_linear_scratch_alloc(pst_cuda_ctx *ctx, pst_cuda_linear_scratch *s, long max_mn, long max_dim) {
  (void)ctx;
  memset(s, 0, sizeof *s);
  s->cap = max_mn;
  s->max_dim = max_dim;
  PST_CHECK(pst_cuda_alloc((void **)&s->w1, (size_t)max_mn * sizeof(float), "fake scratch"));
  PST_CHECK(pst_cuda_alloc((void **)&s->w2, (size_t)max_mn * sizeof(float), "fake scratch"));
  PST_CHECK(pst_cuda_alloc((void **)&s->ones, (size_t)max_dim * sizeof(float), "fake scratch"));
  return PST_OK;
}
void pst_cuda_linear_scratch_free(pst_cuda_linear_scratch *s) {
  pst_cuda_release(s->w1);
  pst_cuda_release(s->w2);
  pst_cuda_release(s->ones);
  memset(s, 0, sizeof *s);
}
pst_err pst_cuda_linear_score(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *score,
                              float *wprime) {
  (void)ctx;
  if (wprime) PST_ERR(PST_ERR_ARG, "fake CUDA: linear_score with W' is not emulated");
  PST_CHECK(cpu_scratch(L, o));
  pst_linear_score(L, o, score, &g_scratch);
  return PST_OK;
}
pst_err pst_cuda_linear_effective(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *out) {
  (void)ctx;
  PST_CHECK(cpu_scratch(L, o));
  pst_linear_effective(L, o, out, &g_scratch);
  return PST_OK;
}
pst_err pst_cuda_linear_update_mask(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o, double sparsity,
                                    pst_cuda_linear_scratch *s) {
  (void)ctx;
  (void)s;
  PST_CHECK(cpu_scratch(L, o));
  PST_CHECK(pst_linear_update_mask(L, o, sparsity, &g_scratch));
  return PST_OK;
}
pst_err pst_cuda_linear_forward(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *out,
                                const float *inp, int N, pst_cuda_linear_scratch *s) {
  (void)ctx;
  (void)s;
  PST_CHECK(cpu_scratch(L, o));
  pst_linear_forward(L, o, out, inp, N, &g_scratch);
  noise(out, (long)N * L->m);
  return PST_OK;
}
pst_err pst_cuda_linear_backward(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o, float *dinp,
                                 const float *dout, const float *inp, int N, pst_cuda_linear_scratch *s) {
  (void)ctx;
  (void)s;
  PST_CHECK(cpu_scratch(L, o));
  pst_linear_backward(L, o, dinp, dout, inp, N, &g_scratch);
  noise(dinp, (long)N * L->n);
  noise(L->dU, (long)L->m * o->r2);
  noise(L->dA, (long)L->m * o->r1);
  noise(L->dW0, o->method->train_w ? (long)L->m * L->n : 0);
  return PST_OK;
}
pst_err pst_cuda_linear_nnz(pst_cuda_ctx *ctx, const pst_linear *L, long *nnz) {
  (void)ctx;
  *nnz = pst_linear_nnz(L);
  return PST_OK;
}

/* ---- cuda_model.h ------------------------------------------------------------------------- */

pst_err pst_cuda_add(pst_cuda_ctx *ctx, float *y, const float *x, long n) {
  (void)ctx;
  for (long i = 0; i < n; i++) y[i] += x[i];
  return PST_OK;
}
pst_err pst_cuda_copy(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes) {
  (void)ctx;
  if (bytes && dst != src) memmove(dst, src, bytes);
  return PST_OK;
}
pst_err pst_cuda_copy_rows(pst_cuda_ctx *ctx, float *dst, long ld_dst, const float *src, long ld_src, long rows,
                           long cols) {
  (void)ctx;
  for (long r = 0; r < rows; r++) memcpy(dst + r * ld_dst, src + r * ld_src, (size_t)cols * sizeof(float));
  return PST_OK;
}
pst_err pst_cuda_mem_info(pst_cuda_ctx *ctx, size_t *free_bytes, size_t *total_bytes) {
  (void)ctx;
  *free_bytes = *total_bytes = 0;
  return PST_OK;
}
