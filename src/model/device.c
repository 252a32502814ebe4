/* device.c — the model and its training step on the CUDA device (device_model.h, issue 7).
 *
 * Mirrors the CPU model op for op: pass.c (embeddings, head, loss, backward driver), block.c
 * (the post-LN / pre-LN block and its backward) and trainer.c + adamw.c (one optimizer step),
 * with the pst_cuda_* twins of the CPU ops on device buffers laid out exactly as the CPU
 * model's (pst_params offsets, one mask buffer, the activation layout of model.c with the
 * tensor-parallel sizes Cl = C, Fl = F, NHl = NH). The layers are the CPU model's pst_linear
 * structs with every tensor pointer moved into the device buffers.
 *
 * Host <-> device traffic of a step: one upload per micro-batch (its arrays packed into one
 * copy), one read-back of nmicro + 1 doubles (the losses and the squared gradient norm, which
 * the host needs for the clip coefficient and the NaN checks), the top-k's waits (one per
 * layer, to report NaN scores) and, with data parallelism, the packed gradient buffer down,
 * through MPI and up again. Only this file (and model_ops.cu) know the layout. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "pst/cuda_model.h"
#include "pst/device_model.h"
#include "pst/dist.h"

typedef struct {
  pst_linear lin[LIN_COUNT];
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
} dblock;

struct pst_dmodel {
  pst_cuda_ctx *ctx;
  pst_config cfg; /* the model's configuration (copied from the CPU model) */
  int gpt2;
  pst_gelu_kind gelu;
  pst_linear_opts lopts;
  int B, T, N, C, F, NH, V, NL, L; /* T, N = B*T, nlog: the current batch's (set by its upload) */
  int T_max;                        /* tokens per sequence the activations hold */
  float ln_eps;
  /* tensors: one device buffer each, the CPU layout */
  size_t nfrozen, ntrain, nmask;
  float *frozen, *train, *grad, *adam_m, *adam_v;
  uint8_t *masks;
  pst_cuda_segment *segs;
  int nseg;
  float *emb_tok, *emb_pos, *emb_type, *emb_ln_w, *emb_ln_b, *lnf_w, *lnf_b;
  float *pool_w, *pool_b, *cls_w, *cls_b;
  float *dpool_w, *dpool_b, *dcls_w, *dcls_b;
  dblock *blocks;
  pst_cuda_linear_scratch scratch;
  /* activations (model.c's layout) */
  float *act_buf;
  float *emb_sum, *emb_mean, *emb_rstd, *x0;
  pst_block_acts *acts;
  float *lnf, *lnf_mean, *lnf_rstd;
  float *cls_in, *pool_pre, *pooled;
  float *logits;
  long nlog;
  /* backward buffers */
  float *grad_buf;
  float *d_out, *d_in, *d_res, *d_ln, *d_part;
  float *d_ctx, *d_q, *d_k, *d_v, *d_g, *d_f1, *d_logits, *d_cls_in, *d_pool_pre, *d_pooled;
  /* the micro-batch: one device buffer and its host staging copy */
  void *dbatch;
  unsigned char *hbatch;
  size_t batch_bytes;
  int32_t *b_ids, *b_type, *b_labels, *b_targets;
  float *b_labels_f, *b_loss_mask;
  uint8_t *b_attn;
  int has_type, has_attn, has_batch;
  /* read-backs: aux[0] = squared gradient norm, aux[1 + i] = loss of micro-batch i */
  double *aux, *haux;
  int aux_cap;
  /* the trainer */
  int trainer_ready;
  pst_config tcfg;
  struct pst_dist *dist;
  pst_schedule sched;
  pst_dmodel_state st;
  float *hgrad; /* host copy of the gradients for the dp all-reduce */
  size_t bytes;
};

/* ---- building ------------------------------------------------------------------------------ */

static pst_err dalloc(pst_dmodel *dm, void **p, size_t bytes, const char *what) {
  PST_CHECK(pst_cuda_alloc(p, bytes, what));
  dm->bytes += bytes;
  return PST_OK;
}

/* Host pointer ranges of the CPU model and where they live on the device. */
typedef struct {
  uintptr_t hf, ht, hg, hm;
  size_t nf, nt, nm;
  float *df, *dt, *dg;
  uint8_t *dmk;
} xlate;

static int in_range(uintptr_t p, uintptr_t base, size_t bytes) { return base && p >= base && p < base + bytes; }

static pst_err xf(const xlate *x, const float *h, float **d, const char *what) {
  *d = NULL;
  if (!h) return PST_OK;
  const uintptr_t p = (uintptr_t)h;
  if (in_range(p, x->hf, x->nf * sizeof(float))) *d = x->df + (p - x->hf) / sizeof(float);
  else if (in_range(p, x->ht, x->nt * sizeof(float))) *d = x->dt + (p - x->ht) / sizeof(float);
  else if (in_range(p, x->hg, x->nt * sizeof(float))) *d = x->dg + (p - x->hg) / sizeof(float);
  else PST_ERR(PST_ERR_INTERNAL, "device model: tensor %s is outside the model's parameter buffers", what);
  return PST_OK;
}

static pst_err xm(const xlate *x, const uint8_t *h, uint8_t **d, const char *what) {
  *d = NULL;
  if (!h) return PST_OK;
  const uintptr_t p = (uintptr_t)h;
  if (!in_range(p, x->hm, x->nm)) PST_ERR(PST_ERR_INTERNAL, "device model: mask of %s is outside the mask buffer", what);
  *d = x->dmk + (p - x->hm);
  return PST_OK;
}

static size_t mask_total(const pst_model *m) {
  if (!m->masks) return 0;
  size_t total = 0;
  for (int l = 0; l < m->cfg.layers; l++)
    for (int j = 0; j < LIN_COUNT; j++) total += (size_t)m->blocks[l].lin[j].m * m->blocks[l].lin[j].n;
  return total;
}

/* The CPU model must have the layout the device model was built from. */
static pst_err same_layout(const pst_dmodel *dm, const pst_model *m) {
  if (m->frozen.total != dm->nfrozen || m->train.total != dm->ntrain || mask_total(m) != dm->nmask ||
      m->cfg.layers != dm->L || m->C != dm->C || m->gpt2 != dm->gpt2 || m->train.n != dm->nseg)
    PST_ERR(PST_ERR_ARG, "device model: the CPU model has another layout (%zu/%zu/%zu values) than the device "
            "model (%zu/%zu/%zu)", m->frozen.total, m->train.total, mask_total(m), dm->nfrozen, dm->ntrain, dm->nmask);
  return PST_OK;
}

static pst_err alloc_activations(pst_dmodel *dm) {
  const size_t N = (size_t)dm->N, C = (size_t)dm->C, L = (size_t)dm->L, F = (size_t)dm->F;
  const size_t P = (size_t)dm->B * dm->NH * dm->T * dm->T, B = (size_t)dm->B;
  const size_t nlog = (size_t)dm->nlog;
  const size_t per_layer = 4 * N * C + 4 * N * C + 2 * N * F + P + 4 * N;
  const size_t total = L * per_layer + 2 * N * C + 2 * N + (dm->gpt2 ? N * C + 2 * N : 3 * B * C) + nlog;
  PST_CHECK(dalloc(dm, (void **)&dm->act_buf, total * sizeof(float), "device activations"));
  PST_CHECK(pst_calloc((void **)&dm->acts, L, sizeof(pst_block_acts), "device activation table"));
  float *p = dm->act_buf;
#define TAKE(ptr, count) ((ptr) = p, p += (count))
  TAKE(dm->emb_sum, N * C);
  TAKE(dm->x0, N * C);
  TAKE(dm->emb_mean, N);
  TAKE(dm->emb_rstd, N);
  float *prev_out = dm->x0;
  for (size_t l = 0; l < L; l++) {
    pst_block_acts *a = &dm->acts[l];
    a->in = prev_out;
    TAKE(a->lnA, N * C);
    TAKE(a->lnA_mean, N);
    TAKE(a->lnA_rstd, N);
    TAKE(a->q, N * C);
    TAKE(a->k, N * C);
    TAKE(a->v, N * C);
    TAKE(a->ctx, N * C);
    TAKE(a->probs, P);
    TAKE(a->res1, N * C);
    TAKE(a->lnB, N * C);
    TAKE(a->lnB_mean, N);
    TAKE(a->lnB_rstd, N);
    TAKE(a->f1, N * F);
    TAKE(a->g, N * F);
    TAKE(a->res2, N * C);
    a->out = dm->gpt2 ? a->res2 : a->lnB;
    prev_out = a->out;
  }
  if (dm->gpt2) {
    TAKE(dm->lnf, N * C);
    TAKE(dm->lnf_mean, N);
    TAKE(dm->lnf_rstd, N);
  } else {
    TAKE(dm->cls_in, B * C);
    TAKE(dm->pool_pre, B * C);
    TAKE(dm->pooled, B * C);
  }
  TAKE(dm->logits, nlog);
  if ((size_t)(p - dm->act_buf) != total) PST_ERR(PST_ERR_INTERNAL, "device activation layout mismatch");

  const size_t gtotal = 5 * N * C + 4 * N * C + 2 * N * F + nlog + 3 * B * C;
  PST_CHECK(dalloc(dm, (void **)&dm->grad_buf, gtotal * sizeof(float), "device activation gradients"));
  p = dm->grad_buf;
  TAKE(dm->d_out, N * C);
  TAKE(dm->d_in, N * C);
  TAKE(dm->d_res, N * C);
  TAKE(dm->d_ln, N * C);
  TAKE(dm->d_part, N * C);
  TAKE(dm->d_ctx, N * C);
  TAKE(dm->d_q, N * C);
  TAKE(dm->d_k, N * C);
  TAKE(dm->d_v, N * C);
  TAKE(dm->d_g, N * F);
  TAKE(dm->d_f1, N * F);
  TAKE(dm->d_logits, nlog);
  TAKE(dm->d_cls_in, B * C);
  TAKE(dm->d_pool_pre, B * C);
  TAKE(dm->d_pooled, B * C);
#undef TAKE
  if ((size_t)(p - dm->grad_buf) != gtotal) PST_ERR(PST_ERR_INTERNAL, "device gradient layout mismatch");
  return PST_OK;
}

/* The batch buffer: ids, type ids, targets [N] int32, loss mask [N] float, labels [B] int32,
 * labels_f [B] float, attention mask [N] bytes (last: everything before is 4-byte aligned). */
static pst_err alloc_batch(pst_dmodel *dm) {
  const size_t N = (size_t)dm->N, B = (size_t)dm->B;
  dm->batch_bytes = 4 * N * 4 + 2 * B * 4 + N;
  PST_CHECK(dalloc(dm, &dm->dbatch, dm->batch_bytes, "device batch"));
  PST_CHECK(pst_calloc((void **)&dm->hbatch, dm->batch_bytes, 1, "batch staging"));
  unsigned char *p = dm->dbatch;
  dm->b_ids = (int32_t *)p, p += N * 4;
  dm->b_type = (int32_t *)p, p += N * 4;
  dm->b_targets = (int32_t *)p, p += N * 4;
  dm->b_loss_mask = (float *)p, p += N * 4;
  dm->b_labels = (int32_t *)p, p += B * 4;
  dm->b_labels_f = (float *)p, p += B * 4;
  dm->b_attn = (uint8_t *)p;
  return PST_OK;
}

static pst_err grow_aux(pst_dmodel *dm, int n) {
  if (n <= dm->aux_cap) return PST_OK;
  int cap = dm->aux_cap ? dm->aux_cap : 16;
  while (cap < n) cap *= 2;
  pst_cuda_release(dm->aux);
  dm->aux = NULL;
  pst_free(dm->haux);
  dm->haux = NULL;
  dm->aux_cap = 0;
  PST_CHECK(pst_cuda_alloc((void **)&dm->aux, (size_t)cap * sizeof(double), "device read-back buffer"));
  PST_CHECK(pst_calloc((void **)&dm->haux, (size_t)cap, sizeof(double), "read-back buffer"));
  dm->aux_cap = cap;
  return PST_OK;
}

static pst_err build(pst_dmodel *dm, const pst_model *m, pst_cuda_ctx *ctx, int B, int T) {
  if (m->arch == ARCH_LLAMA)
    PST_ERR(PST_ERR_ARG, "the device model implements model.arch = bert and gpt2; llama runs on the CPU");
  if (m->tp.size > 1)
    PST_ERR(PST_ERR_ARG, "the device model runs one process per model: dist.tp = %d is not supported", m->tp.size);
  if (m->train_all)
    PST_ERR(PST_ERR_ARG, "pst.method = %s trains every tensor (embeddings, norms, biases): the device model trains "
            "the sparsified layers and the head only; train it on the CPU", m->lopts.method->name);
  if (B <= 0 || T <= 0) PST_ERR(PST_ERR_ARG, "device model: batch shape %dx%d", B, T);
  if (T + m->cfg.position_offset > m->cfg.max_positions)
    PST_ERR(PST_ERR_ARG, "sequence length %d (+ position offset %d) exceeds model.max_positions = %d", T,
            m->cfg.position_offset, m->cfg.max_positions);
  dm->ctx = ctx;
  dm->cfg = m->cfg;
  dm->gpt2 = m->gpt2;
  dm->gelu = m->gelu;
  dm->lopts = m->lopts;
  dm->B = B;
  dm->T = dm->T_max = T;
  dm->N = B * T;
  dm->C = m->C;
  dm->F = m->F;
  dm->NH = m->NH;
  dm->V = m->V;
  dm->NL = m->NL;
  dm->L = m->cfg.layers;
  dm->ln_eps = m->ln_eps;
  dm->nlog = dm->gpt2 ? (long)dm->N * dm->V : (long)B * dm->NL;
  dm->nfrozen = m->frozen.total;
  dm->ntrain = m->train.total;
  dm->nmask = mask_total(m);

  /* tensors */
  const size_t fb = dm->nfrozen * sizeof(float), tb = dm->ntrain * sizeof(float);
  PST_CHECK(dalloc(dm, (void **)&dm->frozen, fb, "device frozen tensors"));
  PST_CHECK(dalloc(dm, (void **)&dm->train, tb, "device trainable tensors"));
  PST_CHECK(dalloc(dm, (void **)&dm->grad, tb, "device gradients"));
  PST_CHECK(dalloc(dm, (void **)&dm->adam_m, tb, "device Adam first moments"));
  PST_CHECK(dalloc(dm, (void **)&dm->adam_v, tb, "device Adam second moments"));
  if (dm->nmask) PST_CHECK(dalloc(dm, (void **)&dm->masks, dm->nmask, "device masks"));
  PST_CHECK(pst_cuda_upload(ctx, dm->frozen, m->frozen.data, fb));
  PST_CHECK(pst_cuda_upload(ctx, dm->train, m->train.data, tb));
  if (dm->nmask) PST_CHECK(pst_cuda_upload(ctx, dm->masks, m->masks, dm->nmask));
  dm->nseg = m->train.n;
  PST_CHECK(pst_calloc((void **)&dm->segs, (size_t)(dm->nseg > 0 ? dm->nseg : 1), sizeof(pst_cuda_segment),
                       "AdamW segments"));
  for (int i = 0; i < dm->nseg; i++)
    dm->segs[i] = (pst_cuda_segment){m->train.t[i].offset, m->train.t[i].numel, m->train.t[i].decay};

  const xlate x = {(uintptr_t)m->frozen.data, (uintptr_t)m->train.data, (uintptr_t)m->train.grad,
                   (uintptr_t)m->masks, dm->nfrozen, dm->ntrain, dm->nmask, dm->frozen, dm->train, dm->grad,
                   dm->masks};
  PST_CHECK(xf(&x, m->emb_tok, &dm->emb_tok, "emb.tok"));
  PST_CHECK(xf(&x, m->emb_pos, &dm->emb_pos, "emb.pos"));
  PST_CHECK(xf(&x, m->emb_type, &dm->emb_type, "emb.type"));
  PST_CHECK(xf(&x, m->emb_ln_w, &dm->emb_ln_w, "emb.ln.w"));
  PST_CHECK(xf(&x, m->emb_ln_b, &dm->emb_ln_b, "emb.ln.b"));
  PST_CHECK(xf(&x, m->lnf_w, &dm->lnf_w, "lnf.w"));
  PST_CHECK(xf(&x, m->lnf_b, &dm->lnf_b, "lnf.b"));
  PST_CHECK(xf(&x, m->pool_w, &dm->pool_w, "pool.w"));
  PST_CHECK(xf(&x, m->pool_b, &dm->pool_b, "pool.b"));
  PST_CHECK(xf(&x, m->cls_w, &dm->cls_w, "cls.w"));
  PST_CHECK(xf(&x, m->cls_b, &dm->cls_b, "cls.b"));
  PST_CHECK(xf(&x, m->dpool_w, &dm->dpool_w, "pool.w gradient"));
  PST_CHECK(xf(&x, m->dpool_b, &dm->dpool_b, "pool.b gradient"));
  PST_CHECK(xf(&x, m->dcls_w, &dm->dcls_w, "cls.w gradient"));
  PST_CHECK(xf(&x, m->dcls_b, &dm->dcls_b, "cls.b gradient"));
  PST_CHECK(pst_calloc((void **)&dm->blocks, (size_t)dm->L, sizeof(dblock), "device blocks"));
  for (int l = 0; l < dm->L; l++) {
    const pst_block *hb = &m->blocks[l];
    dblock *db = &dm->blocks[l];
    PST_CHECK(xf(&x, hb->ln1_w, &db->ln1_w, "ln1.w"));
    PST_CHECK(xf(&x, hb->ln1_b, &db->ln1_b, "ln1.b"));
    PST_CHECK(xf(&x, hb->ln2_w, &db->ln2_w, "ln2.w"));
    PST_CHECK(xf(&x, hb->ln2_b, &db->ln2_b, "ln2.b"));
    for (int j = 0; j < LIN_COUNT; j++) {
      const pst_linear *h = &hb->lin[j];
      pst_linear *d = &db->lin[j];
      *d = *h; /* shapes and flags; every pointer replaced below */
      const char *nm = hb->lin_name[j];
      PST_CHECK(xf(&x, h->W0, &d->W0, nm));
      PST_CHECK(xf(&x, h->bias, &d->bias, nm));
      PST_CHECK(xf(&x, h->U, &d->U, nm));
      PST_CHECK(xf(&x, h->V, &d->V, nm));
      PST_CHECK(xf(&x, h->A, &d->A, nm));
      PST_CHECK(xf(&x, h->B, &d->B, nm));
      PST_CHECK(xf(&x, h->R, &d->R, nm));
      PST_CHECK(xf(&x, h->C, &d->C, nm));
      PST_CHECK(xf(&x, h->S, &d->S, nm));
      PST_CHECK(xf(&x, h->dW0, &d->dW0, nm));
      PST_CHECK(xf(&x, h->dU, &d->dU, nm));
      PST_CHECK(xf(&x, h->dV, &d->dV, nm));
      PST_CHECK(xf(&x, h->dA, &d->dA, nm));
      PST_CHECK(xf(&x, h->dB, &d->dB, nm));
      PST_CHECK(xf(&x, h->dR, &d->dR, nm));
      PST_CHECK(xf(&x, h->dC, &d->dC, nm));
      PST_CHECK(xf(&x, h->dS, &d->dS, nm));
      PST_CHECK(xm(&x, h->mask, &d->mask, nm));
    }
  }
  long max_mn = 0, max_dim = 0;
  for (int j = 0; j < LIN_COUNT; j++) {
    const pst_linear *L = &m->blocks[0].lin[j];
    if ((long)L->m * L->n > max_mn) max_mn = (long)L->m * L->n;
    if (L->m > max_dim) max_dim = L->m;
    if (L->n > max_dim) max_dim = L->n;
  }
  PST_CHECK(pst_cuda_linear_scratch_alloc(ctx, &dm->scratch, max_mn, max_dim));
  dm->bytes += (size_t)(2 * max_mn + max_dim) * sizeof(float);
  PST_CHECK(alloc_activations(dm));
  PST_CHECK(alloc_batch(dm));
  PST_CHECK(grow_aux(dm, 16));
  dm->st.sparsity = 0;
  return PST_OK;
}

pst_err pst_dmodel_create(pst_dmodel **out, const pst_model *cpu, pst_cuda_ctx *ctx, int B, int T) {
  *out = NULL;
  pst_dmodel *dm;
  PST_CHECK(pst_calloc((void **)&dm, 1, sizeof *dm, "device model"));
  pst_err rc = build(dm, cpu, ctx, B, T);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_dmodel_destroy(dm);
    return rc;
  }
  *out = dm;
  return PST_OK;
}

void pst_dmodel_destroy(pst_dmodel *dm) {
  if (!dm) return;
  if (dm->ctx) (void)pst_cuda_sync(dm->ctx);
  pst_cuda_release(dm->frozen);
  pst_cuda_release(dm->train);
  pst_cuda_release(dm->grad);
  pst_cuda_release(dm->adam_m);
  pst_cuda_release(dm->adam_v);
  pst_cuda_release(dm->masks);
  pst_cuda_linear_scratch_free(&dm->scratch);
  pst_cuda_release(dm->act_buf);
  pst_cuda_release(dm->grad_buf);
  pst_cuda_release(dm->dbatch);
  pst_cuda_release(dm->aux);
  pst_free(dm->haux);
  pst_free(dm->hbatch);
  pst_free(dm->hgrad);
  pst_free(dm->acts);
  pst_free(dm->blocks);
  pst_free(dm->segs);
  pst_free(dm);
}

size_t pst_dmodel_device_bytes(const pst_dmodel *dm) { return dm->bytes + (size_t)dm->aux_cap * sizeof(double); }

const pst_dmodel_state *pst_dmodel_get_state(const pst_dmodel *dm) { return &dm->st; }

/* ---- host <-> device copies of the tensors --------------------------------------------------- */

pst_err pst_dmodel_upload(pst_dmodel *dm, const pst_model *cpu) {
  PST_CHECK(same_layout(dm, cpu));
  PST_CHECK(pst_cuda_upload(dm->ctx, dm->train, cpu->train.data, dm->ntrain * sizeof(float)));
  if (dm->nmask) PST_CHECK(pst_cuda_upload(dm->ctx, dm->masks, cpu->masks, dm->nmask));
  return PST_OK;
}

pst_err pst_dmodel_upload_masks(pst_dmodel *dm, const pst_model *cpu) {
  PST_CHECK(same_layout(dm, cpu));
  if (dm->nmask) PST_CHECK(pst_cuda_upload(dm->ctx, dm->masks, cpu->masks, dm->nmask));
  return PST_OK;
}

pst_err pst_dmodel_download_scores(pst_dmodel *dm, int i, float *out) {
  if (i < 0 || i >= dm->L * LIN_COUNT) PST_ERR(PST_ERR_ARG, "device model: no sparsified layer %d", i);
  const pst_method *me = dm->lopts.method;
  if (me->mask == PST_MASK_NONE) PST_ERR(PST_ERR_ARG, "method %s has no importance scores", me->name);
  const pst_linear *L = &dm->blocks[i / LIN_COUNT].lin[i % LIN_COUNT];
  PST_CHECK(pst_cuda_linear_score(dm->ctx, L, &dm->lopts, dm->scratch.w1, NULL));
  PST_CHECK(pst_cuda_download(dm->ctx, out, dm->scratch.w1, (size_t)L->m * L->n * sizeof(float)));
  return PST_OK;
}

pst_err pst_dmodel_download(pst_dmodel *dm, pst_model *cpu) {
  PST_CHECK(same_layout(dm, cpu));
  PST_CHECK(pst_cuda_download(dm->ctx, cpu->train.data, dm->train, dm->ntrain * sizeof(float)));
  if (dm->nmask) PST_CHECK(pst_cuda_download(dm->ctx, cpu->masks, dm->masks, dm->nmask));
  return PST_OK;
}

pst_err pst_dmodel_download_grads(pst_dmodel *dm, float *grad) {
  PST_CHECK(pst_cuda_download(dm->ctx, grad, dm->grad, dm->ntrain * sizeof(float)));
  return PST_OK;
}

pst_err pst_dmodel_download_logits(pst_dmodel *dm, float *out, long *n) {
  *n = dm->nlog;
  if (out) PST_CHECK(pst_cuda_download(dm->ctx, out, dm->logits, (size_t)dm->nlog * sizeof(float)));
  return PST_OK;
}

/* ---- the micro-batch ------------------------------------------------------------------------ */

/* pass.c's check_batch, plus the arrays the task needs (the CPU code assumes them). */
static pst_err check_batch(const pst_dmodel *dm, const pst_batch *bt) {
  if (bt->B != dm->B || bt->T < 1 || bt->T > dm->T_max)
    PST_ERR(PST_ERR_ARG, "batch shape %dx%d does not fit the device model's %dx(1..%d)", bt->B, bt->T, dm->B,
            dm->T_max);
  if (!bt->input_ids) PST_ERR(PST_ERR_ARG, "the batch has no input ids");
  if (dm->gpt2 && (!bt->targets || !bt->loss_mask))
    PST_ERR(PST_ERR_ARG, "a gpt2 batch needs targets and a loss mask");
  if (!dm->gpt2 && dm->NL > 1 && !bt->labels) PST_ERR(PST_ERR_ARG, "a classification batch needs labels");
  if (!dm->gpt2 && dm->NL == 1 && !bt->labels_f) PST_ERR(PST_ERR_ARG, "a regression batch needs float labels");
  for (int n = 0; n < bt->B * bt->T; n++) {
    if (bt->input_ids[n] < 0 || bt->input_ids[n] >= dm->V)
      PST_ERR(PST_ERR_ARG, "token id %d at batch position %d is outside the vocabulary [0, %d)", bt->input_ids[n], n,
              dm->V);
    if (!dm->gpt2 && bt->token_type_ids &&
        (bt->token_type_ids[n] < 0 || bt->token_type_ids[n] >= dm->cfg.type_vocab))
      PST_ERR(PST_ERR_ARG, "token type %d at batch position %d is outside [0, %d)", bt->token_type_ids[n], n,
              dm->cfg.type_vocab);
    if (dm->gpt2 && bt->loss_mask[n] != 0 && (bt->targets[n] < 0 || bt->targets[n] >= dm->V))
      PST_ERR(PST_ERR_ARG, "target id %d at batch position %d is outside the vocabulary", bt->targets[n], n);
  }
  if (!dm->gpt2 && dm->NL > 1)
    for (int b = 0; b < dm->B; b++)
      if (bt->labels[b] < 0 || bt->labels[b] >= dm->NL)
        PST_ERR(PST_ERR_ARG, "label %d of sequence %d is outside [0, %d)", bt->labels[b], b, dm->NL);
  return PST_OK;
}

/* Check and upload a micro-batch (one copy of the packed arrays). */
static pst_err upload_batch(pst_dmodel *dm, const pst_batch *bt) {
  PST_CHECK(check_batch(dm, bt));
  /* this batch's length for every op of its forward and backward; the arrays keep their
   * places in the buffer (alloc_batch: offsets of B x T_max tokens), packed [B*T] inside */
  dm->T = bt->T;
  dm->N = dm->B * dm->T;
  dm->nlog = dm->gpt2 ? (long)dm->N * dm->V : (long)dm->B * dm->NL;
  const size_t N = (size_t)dm->N, B = (size_t)dm->B, Ncap = (size_t)dm->B * dm->T_max;
  unsigned char *p = dm->hbatch;
  memset(p, 0, dm->batch_bytes);
  memcpy(p, bt->input_ids, N * 4);
  if (bt->token_type_ids) memcpy(p + Ncap * 4, bt->token_type_ids, N * 4);
  if (bt->targets) memcpy(p + 2 * Ncap * 4, bt->targets, N * 4);
  if (bt->loss_mask) memcpy(p + 3 * Ncap * 4, bt->loss_mask, N * 4);
  if (bt->labels) memcpy(p + 4 * Ncap * 4, bt->labels, B * 4);
  if (bt->labels_f) memcpy(p + 4 * Ncap * 4 + B * 4, bt->labels_f, B * 4);
  if (bt->attn_mask) memcpy(p + 4 * Ncap * 4 + 2 * B * 4, bt->attn_mask, N);
  dm->has_type = bt->token_type_ids != NULL;
  dm->has_attn = bt->attn_mask != NULL;
  dm->has_batch = 0;
  PST_CHECK(pst_cuda_upload(dm->ctx, dm->dbatch, dm->hbatch, dm->batch_bytes));
  dm->has_batch = 1;
  return PST_OK;
}

/* ---- the block (block.c) ---------------------------------------------------------------------- */

static pst_err block_forward(pst_dmodel *dm, int l) {
  pst_cuda_ctx *ctx = dm->ctx;
  dblock *b = &dm->blocks[l];
  pst_block_acts *a = &dm->acts[l];
  const pst_linear_opts *o = &dm->lopts;
  pst_cuda_linear_scratch *s = &dm->scratch;
  const int N = dm->N, C = dm->C;
  const long NC = (long)N * C;
  const uint8_t *key_mask = dm->has_attn ? dm->b_attn : NULL;

  const float *attn_in = a->in;
  if (dm->gpt2) {
    PST_CHECK(pst_cuda_layernorm_forward(ctx, a->lnA, a->lnA_mean, a->lnA_rstd, a->in, b->ln1_w, b->ln1_b, N, C,
                                         dm->ln_eps));
    attn_in = a->lnA;
  }
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_Q], o, a->q, attn_in, N, s));
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_K], o, a->k, attn_in, N, s));
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_V], o, a->v, attn_in, N, s));
  PST_CHECK(pst_cuda_attention_forward(ctx, a->ctx, a->probs, a->q, a->k, a->v, key_mask, dm->gpt2, dm->B, dm->T, C,
                                       dm->NH));
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_O], o, a->res1, a->ctx, N, s));
  PST_CHECK(pst_cuda_add(ctx, a->res1, a->in, NC));

  const float *mlp_in;
  if (dm->gpt2) {
    PST_CHECK(pst_cuda_layernorm_forward(ctx, a->lnB, a->lnB_mean, a->lnB_rstd, a->res1, b->ln2_w, b->ln2_b, N, C,
                                         dm->ln_eps));
    mlp_in = a->lnB;
  } else {
    PST_CHECK(pst_cuda_layernorm_forward(ctx, a->lnA, a->lnA_mean, a->lnA_rstd, a->res1, b->ln1_w, b->ln1_b, N, C,
                                         dm->ln_eps));
    mlp_in = a->lnA;
  }
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_FC1], o, a->f1, mlp_in, N, s));
  PST_CHECK(pst_cuda_gelu_forward(ctx, a->g, a->f1, (long)N * dm->F, dm->gelu));
  PST_CHECK(pst_cuda_linear_forward(ctx, &b->lin[LIN_FC2], o, a->res2, a->g, N, s));
  PST_CHECK(pst_cuda_add(ctx, a->res2, dm->gpt2 ? a->res1 : a->lnA, NC));
  if (!dm->gpt2)
    PST_CHECK(pst_cuda_layernorm_forward(ctx, a->lnB, a->lnB_mean, a->lnB_rstd, a->res2, b->ln2_w, b->ln2_b, N, C,
                                         dm->ln_eps));
  return PST_OK;
}

static pst_err dzero(pst_dmodel *dm, float *x, long n) {
  PST_CHECK(pst_cuda_zero(dm->ctx, x, (size_t)n * sizeof(float)));
  return PST_OK;
}

static pst_err block_backward(pst_dmodel *dm, int l, int need_din) {
  pst_cuda_ctx *ctx = dm->ctx;
  dblock *b = &dm->blocks[l];
  pst_block_acts *a = &dm->acts[l];
  const pst_linear_opts *o = &dm->lopts;
  pst_cuda_linear_scratch *s = &dm->scratch;
  const int N = dm->N, C = dm->C;
  const long NC = (long)N * C, NF = (long)N * dm->F;
  const size_t NCb = (size_t)NC * sizeof(float);
  float *dpart = dm->d_part;

  /* MLP half: d_res = dL/d(res1 for gpt2 | lnA for bert), accumulated from the residual */
  const float *mlp_in;
  float *d_res2;
  if (dm->gpt2) {
    d_res2 = dm->d_out; /* out = res2 */
    PST_CHECK(pst_cuda_copy(ctx, dm->d_res, dm->d_out, NCb));
    mlp_in = a->lnB;
  } else {
    PST_CHECK(dzero(dm, dm->d_ln, NC));
    PST_CHECK(pst_cuda_layernorm_backward(ctx, dm->d_ln, NULL, NULL, dm->d_out, a->res2, b->ln2_w, a->lnB_mean,
                                          a->lnB_rstd, N, C));
    d_res2 = dm->d_ln;
    PST_CHECK(pst_cuda_copy(ctx, dm->d_res, d_res2, NCb));
    mlp_in = a->lnA;
  }
  PST_CHECK(dzero(dm, dm->d_g, NF));
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_FC2], o, dm->d_g, d_res2, a->g, N, s));
  PST_CHECK(dzero(dm, dm->d_f1, NF));
  PST_CHECK(pst_cuda_gelu_backward(ctx, dm->d_f1, a->f1, dm->d_g, NF, dm->gelu));
  PST_CHECK(dzero(dm, dpart, NC));
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_FC1], o, dpart, dm->d_f1, mlp_in, N, s));
  if (dm->gpt2) {
    PST_CHECK(pst_cuda_layernorm_backward(ctx, dm->d_res, NULL, NULL, dpart, a->res1, b->ln2_w, a->lnB_mean,
                                          a->lnB_rstd, N, C));
  } else {
    PST_CHECK(pst_cuda_add(ctx, dm->d_res, dpart, NC));
    PST_CHECK(dzero(dm, dm->d_ln, NC));
    PST_CHECK(pst_cuda_layernorm_backward(ctx, dm->d_ln, NULL, NULL, dm->d_res, a->res1, b->ln1_w, a->lnA_mean,
                                          a->lnA_rstd, N, C));
    PST_CHECK(pst_cuda_copy(ctx, dm->d_res, dm->d_ln, NCb));
  }
  /* attention half: d_res = dL/d res1 */
  PST_CHECK(dzero(dm, dm->d_ctx, NC));
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_O], o, dm->d_ctx, dm->d_res, a->ctx, N, s));
  PST_CHECK(dzero(dm, dm->d_q, NC));
  PST_CHECK(dzero(dm, dm->d_k, NC));
  PST_CHECK(dzero(dm, dm->d_v, NC));
  PST_CHECK(pst_cuda_attention_backward(ctx, dm->d_q, dm->d_k, dm->d_v, dm->d_ctx, a->probs, a->q, a->k, a->v, dm->B,
                                        dm->T, C, dm->NH));
  const float *attn_in = dm->gpt2 ? a->lnA : a->in;
  float *d_attn_in = NULL;
  if (need_din) {
    PST_CHECK(dzero(dm, dpart, NC));
    d_attn_in = dpart;
  }
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_Q], o, d_attn_in, dm->d_q, attn_in, N, s));
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_K], o, d_attn_in, dm->d_k, attn_in, N, s));
  PST_CHECK(pst_cuda_linear_backward(ctx, &b->lin[LIN_V], o, d_attn_in, dm->d_v, attn_in, N, s));
  if (need_din) {
    PST_CHECK(pst_cuda_copy(ctx, dm->d_in, dm->d_res, NCb)); /* residual into in */
    if (dm->gpt2)
      PST_CHECK(pst_cuda_layernorm_backward(ctx, dm->d_in, NULL, NULL, dpart, a->in, b->ln1_w, a->lnA_mean,
                                            a->lnA_rstd, N, C));
    else
      PST_CHECK(pst_cuda_add(ctx, dm->d_in, dpart, NC));
  }
  return PST_OK;
}

/* ---- the passes (pass.c) ---------------------------------------------------------------------- */

/* Forward of the uploaded batch; the mean loss goes to the device double d_loss. */
static pst_err forward_dev(pst_dmodel *dm, double *d_loss) {
  pst_cuda_ctx *ctx = dm->ctx;
  const int N = dm->N, C = dm->C, B = dm->B, T = dm->T;
  const float ls = (float)dm->cfg.label_smoothing;
  const float *pos = dm->emb_pos + (long)dm->cfg.position_offset * C; /* RoBERTa-style offsets */
  if (dm->gpt2) {
    PST_CHECK(pst_cuda_embedding_forward(ctx, dm->x0, dm->b_ids, NULL, dm->emb_tok, pos, NULL, B, T, C));
  } else {
    PST_CHECK(pst_cuda_embedding_forward(ctx, dm->emb_sum, dm->b_ids, dm->has_type ? dm->b_type : NULL, dm->emb_tok,
                                         pos, dm->emb_type, B, T, C));
    PST_CHECK(pst_cuda_layernorm_forward(ctx, dm->x0, dm->emb_mean, dm->emb_rstd, dm->emb_sum, dm->emb_ln_w,
                                         dm->emb_ln_b, N, C, dm->ln_eps));
  }
  for (int l = 0; l < dm->L; l++) PST_CHECK(block_forward(dm, l));
  const float *xL = dm->acts[dm->L - 1].out;
  if (dm->gpt2) {
    PST_CHECK(pst_cuda_layernorm_forward(ctx, dm->lnf, dm->lnf_mean, dm->lnf_rstd, xL, dm->lnf_w, dm->lnf_b, N, C,
                                         dm->ln_eps));
    PST_CHECK(pst_cuda_matmul_forward(ctx, dm->logits, dm->lnf, dm->emb_tok, NULL, N, C, dm->V));
    PST_CHECK(pst_cuda_crossentropy_forward(ctx, d_loss, dm->logits, dm->b_targets, dm->b_loss_mask, N, dm->V, ls));
  } else {
    PST_CHECK(pst_cuda_copy_rows(ctx, dm->cls_in, C, xL, (long)T * C, B, C));
    PST_CHECK(pst_cuda_matmul_forward(ctx, dm->pool_pre, dm->cls_in, dm->pool_w, dm->pool_b, B, C, C));
    PST_CHECK(pst_cuda_tanh_forward(ctx, dm->pooled, dm->pool_pre, (long)B * C));
    PST_CHECK(pst_cuda_matmul_forward(ctx, dm->logits, dm->pooled, dm->cls_w, dm->cls_b, B, C, dm->NL));
    if (dm->NL == 1) PST_CHECK(pst_cuda_mse_forward(ctx, d_loss, dm->logits, dm->b_labels_f, B));
    else PST_CHECK(pst_cuda_crossentropy_forward(ctx, d_loss, dm->logits, dm->b_labels, NULL, B, dm->NL, ls));
  }
  return PST_OK;
}

static pst_err backward_dev(pst_dmodel *dm, float dloss) {
  pst_cuda_ctx *ctx = dm->ctx;
  const int N = dm->N, C = dm->C, B = dm->B, T = dm->T;
  const long NC = (long)N * C;
  const float ls = (float)dm->cfg.label_smoothing;
  PST_CHECK(dzero(dm, dm->d_out, NC));
  const float *xL = dm->acts[dm->L - 1].out;
  if (dm->gpt2) {
    PST_CHECK(dzero(dm, dm->d_logits, dm->nlog));
    PST_CHECK(pst_cuda_crossentropy_backward(ctx, dm->d_logits, dm->logits, dm->b_targets, dm->b_loss_mask, N, dm->V,
                                             ls, dloss));
    PST_CHECK(dzero(dm, dm->d_in, NC));
    PST_CHECK(pst_cuda_matmul_backward(ctx, dm->d_in, NULL, NULL, dm->d_logits, dm->lnf, dm->emb_tok, N, C, dm->V));
    PST_CHECK(pst_cuda_layernorm_backward(ctx, dm->d_out, NULL, NULL, dm->d_in, xL, dm->lnf_w, dm->lnf_mean,
                                          dm->lnf_rstd, N, C));
  } else {
    PST_CHECK(dzero(dm, dm->d_logits, (long)B * dm->NL));
    if (dm->NL == 1) PST_CHECK(pst_cuda_mse_backward(ctx, dm->d_logits, dm->logits, dm->b_labels_f, B, dloss));
    else
      PST_CHECK(pst_cuda_crossentropy_backward(ctx, dm->d_logits, dm->logits, dm->b_labels, NULL, B, dm->NL, ls,
                                               dloss));
    PST_CHECK(dzero(dm, dm->d_pooled, (long)B * C));
    PST_CHECK(dzero(dm, dm->d_pool_pre, (long)B * C));
    PST_CHECK(dzero(dm, dm->d_cls_in, (long)B * C));
    PST_CHECK(pst_cuda_matmul_backward(ctx, dm->d_pooled, dm->dcls_w, dm->dcls_b, dm->d_logits, dm->pooled, dm->cls_w,
                                       B, C, dm->NL));
    PST_CHECK(pst_cuda_tanh_backward(ctx, dm->d_pool_pre, dm->pooled, dm->d_pooled, (long)B * C));
    PST_CHECK(pst_cuda_matmul_backward(ctx, dm->d_cls_in, dm->dpool_w, dm->dpool_b, dm->d_pool_pre, dm->cls_in,
                                       dm->pool_w, B, C, C));
    PST_CHECK(pst_cuda_copy_rows(ctx, dm->d_out, (long)T * C, dm->d_cls_in, C, B, C));
  }
  for (int l = dm->L - 1; l >= 0; l--) {
    PST_CHECK(block_backward(dm, l, l > 0));
    float *t = dm->d_out; /* block l's input gradient is block l-1's output gradient */
    dm->d_out = dm->d_in;
    dm->d_in = t;
  }
  return PST_OK;
}

pst_err pst_dmodel_forward(pst_dmodel *dm, const pst_batch *batch, double *loss) {
  PST_CHECK(upload_batch(dm, batch));
  PST_CHECK(forward_dev(dm, dm->aux + 1));
  PST_CHECK(pst_cuda_download(dm->ctx, dm->haux + 1, dm->aux + 1, sizeof(double)));
  *loss = dm->haux[1];
  if (*loss != *loss) PST_ERR(PST_ERR_NUMERIC, "the loss is NaN");
  return PST_OK;
}

pst_err pst_dmodel_backward(pst_dmodel *dm, const pst_batch *batch, float dloss) {
  if (!dm->has_batch) PST_ERR(PST_ERR_ARG, "device model: backward without a forward");
  if (batch && (batch->B != dm->B || batch->T != dm->T))
    PST_ERR(PST_ERR_ARG, "batch shape %dx%d does not match the device model's %dx%d", batch->B, batch->T, dm->B, dm->T);
  PST_CHECK(backward_dev(dm, dloss));
  return PST_OK;
}

pst_err pst_dmodel_update_masks(pst_dmodel *dm, double sparsity) {
  for (int l = 0; l < dm->L; l++)
    for (int j = 0; j < LIN_COUNT; j++)
      PST_CHECK(pst_cuda_linear_update_mask(dm->ctx, &dm->blocks[l].lin[j], &dm->lopts, sparsity, &dm->scratch));
  return PST_OK;
}

/* ---- the trainer (trainer.c) ----------------------------------------------------------------- */

/* The loss weight of a micro-batch slice: target-token weights (lm) or its sequences. */
static double batch_weight(const pst_batch *b) {
  if (!b->loss_mask) return (double)b->B;
  double w = 0;
  for (long n = 0; n < (long)b->B * b->T; n++) w += b->loss_mask[n];
  return w;
}

pst_err pst_dmodel_train_init(pst_dmodel *dm, const pst_config *cfg, long total_steps, struct pst_dist *dist) {
  if (dist && dist->tp > 1)
    PST_ERR(PST_ERR_ARG, "the device trainer runs one process per model: dist.tp = %d is not supported", dist->tp);
  dm->tcfg = *cfg;
  dm->dist = dist;
  dm->sched = (pst_schedule){cfg->sparsity_init, cfg->sparsity_final, cfg->warmup_frac, cfg->cooldown_frac};
  memset(&dm->st, 0, sizeof dm->st);
  dm->st.total_steps = total_steps;
  const size_t tb = dm->ntrain * sizeof(float);
  PST_CHECK(pst_cuda_zero(dm->ctx, dm->adam_m, tb));
  PST_CHECK(pst_cuda_zero(dm->ctx, dm->adam_v, tb));
  if (dist && !dm->hgrad) PST_CHECK(pst_calloc((void **)&dm->hgrad, dm->ntrain ? dm->ntrain : 1, sizeof(float), "gradient pack"));
  dm->st.sparsity = pst_schedule_at(&dm->sched, 0, total_steps);
  if (dist) pst_dist_phase(dist, PST_PHASE_TOPK);
  PST_CHECK(pst_dmodel_update_masks(dm, dm->st.sparsity));
  dm->trainer_ready = 1;
  return PST_OK;
}

pst_err pst_dmodel_step(pst_dmodel *dm, const pst_batch *micro, int nmicro, double *loss) {
  if (!dm->trainer_ready) PST_ERR(PST_ERR_ARG, "device model: pst_dmodel_step before pst_dmodel_train_init");
  if (nmicro < 1) PST_ERR(PST_ERR_ARG, "device model: a step needs at least one micro-batch (got %d)", nmicro);
  pst_cuda_ctx *ctx = dm->ctx;
  pst_dist *d = dm->dist;
  const pst_config *cfg = &dm->tcfg;
  PST_CHECK(grow_aux(dm, nmicro + 1));
  PST_CHECK(pst_cuda_zero(ctx, dm->grad, dm->ntrain * sizeof(float)));
  /* w[i]: this slice's weight of micro-batch i; w[nmicro + i]: the sum over dp */
  double *w;
  PST_CHECK(pst_calloc((void **)&w, 2 * (size_t)nmicro, sizeof(double), "micro-batch weights"));
  pst_err rc = PST_OK;
#define TRY(call)                                   \
  do {                                              \
    rc = (call);                                    \
    if (rc) {                                       \
      pst_err_trace(__FILE__, __LINE__, __func__);  \
      goto done;                                    \
    }                                               \
  } while (0)
  for (int i = 0; i < nmicro; i++) w[i] = w[nmicro + i] = batch_weight(&micro[i]);
  if (d) TRY(pst_dist_dp_sum_f64(d, w + nmicro, nmicro, PST_PHASE_OTHER));
  for (int i = 0; i < nmicro; i++) {
    if (w[nmicro + i] <= 0) {
      pst_err_set(PST_ERR_ARG, __FILE__, __LINE__, __func__,
                  "step %ld: micro-batch %d has no target with a loss weight", dm->st.step, i);
      rc = PST_ERR_ARG;
      goto done;
    }
    if (w[i] <= 0) continue; /* nothing to learn from this slice */
    const double share = w[i] / w[nmicro + i];
    if (d) pst_dist_phase(d, PST_PHASE_TP_ACT);
    TRY(upload_batch(dm, &micro[i]));
    TRY(forward_dev(dm, dm->aux + 1 + i));
    TRY(backward_dev(dm, (float)(share / nmicro)));
  }
  if (d) { /* only the packed trainable gradients cross to MPI */
    TRY(pst_cuda_download(ctx, dm->hgrad, dm->grad, dm->ntrain * sizeof(float)));
    TRY(pst_dist_dp_sum_f32(d, dm->hgrad, (long)dm->ntrain, PST_PHASE_DP_GRAD));
    TRY(pst_cuda_upload(ctx, dm->grad, dm->hgrad, dm->ntrain * sizeof(float)));
  }
  TRY(pst_cuda_sumsq(ctx, dm->aux, dm->grad, (long)dm->ntrain));
  TRY(pst_cuda_download(ctx, dm->haux, dm->aux, (size_t)(nmicro + 1) * sizeof(double)));
  double lsum = 0;
  for (int i = 0; i < nmicro; i++) {
    if (w[i] <= 0) continue;
    const double l = dm->haux[1 + i];
    if (l != l) {
      pst_err_set(PST_ERR_NUMERIC, __FILE__, __LINE__, __func__, "the loss is NaN");
      rc = PST_ERR_NUMERIC;
      goto done;
    }
    lsum += l * (w[i] / w[nmicro + i]);
  }
  if (d) TRY(pst_dist_dp_sum_f64(d, &lsum, 1, PST_PHASE_OTHER));
  const double norm = sqrt(dm->haux[0]);
  if (cfg->max_grad_norm > 0) { /* pst_clip_grad_to */
    const float coef = (float)(cfg->max_grad_norm / (norm + 1e-6));
    if (coef < 1.0f) TRY(pst_cuda_scale(ctx, dm->grad, (long)dm->ntrain, coef));
  }
  *loss = lsum / nmicro;
  dm->st.grad_norm = norm;
  if (norm != norm) {
    pst_err_set(PST_ERR_NUMERIC, __FILE__, __LINE__, __func__, "step %ld: the gradient norm is NaN (lower optim.lr?)",
                dm->st.step);
    rc = PST_ERR_NUMERIC;
    goto done;
  }
  dm->st.lr = pst_lr_at(cfg->lr, pst_warmup_steps(cfg, dm->st.total_steps), dm->st.step, dm->st.total_steps);
  dm->st.adam_t++;
  TRY(pst_cuda_adamw_step(ctx, dm->train, dm->grad, dm->adam_m, dm->adam_v, dm->segs, dm->nseg, dm->st.adam_t,
                          dm->st.lr, cfg->beta1, cfg->beta2, cfg->eps, cfg->weight_decay));
  dm->st.step++;
  dm->st.sparsity = pst_schedule_at(&dm->sched, dm->st.step, dm->st.total_steps);
  if (d) pst_dist_phase(d, PST_PHASE_TOPK);
  TRY(pst_dmodel_update_masks(dm, dm->st.sparsity));
#undef TRY
done:
  pst_free(w);
  return rc;
}

/* ---- checkpoint bridge ------------------------------------------------------------------------ */

pst_err pst_dmodel_download_trainer(pst_dmodel *dm, pst_trainer *tr) {
  if (!dm->trainer_ready) PST_ERR(PST_ERR_ARG, "device model: no trainer state (pst_dmodel_train_init)");
  PST_CHECK(pst_dmodel_download(dm, tr->model));
  const size_t tb = dm->ntrain * sizeof(float);
  PST_CHECK(pst_cuda_download(dm->ctx, tr->opt.m, dm->adam_m, tb));
  PST_CHECK(pst_cuda_download(dm->ctx, tr->opt.v, dm->adam_v, tb));
  tr->opt.t = dm->st.adam_t;
  tr->step = dm->st.step;
  tr->sparsity = dm->st.sparsity;
  tr->lr = dm->st.lr;
  tr->grad_norm = dm->st.grad_norm;
  return PST_OK;
}

pst_err pst_dmodel_upload_trainer(pst_dmodel *dm, const pst_trainer *tr) {
  if (!dm->trainer_ready) PST_ERR(PST_ERR_ARG, "device model: pst_dmodel_train_init first, then the resumed state");
  PST_CHECK(pst_dmodel_upload(dm, tr->model));
  const size_t tb = dm->ntrain * sizeof(float);
  PST_CHECK(pst_cuda_upload(dm->ctx, dm->adam_m, tr->opt.m, tb));
  PST_CHECK(pst_cuda_upload(dm->ctx, dm->adam_v, tr->opt.v, tb));
  dm->st.adam_t = tr->opt.t;
  dm->st.step = tr->step;
  dm->st.sparsity = tr->sparsity;
  dm->st.lr = tr->lr;
  dm->st.grad_norm = tr->grad_norm;
  return PST_OK;
}
