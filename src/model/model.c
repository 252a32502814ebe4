/* model.c — building the model: tensor registration, activation buffers, loading from
 * safetensors, random initialisation, masks and accessors. The passes live in pass.c and
 * block.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "pst/rng.h"
#include "pst/safetensors.h"
#include "pst/sparsity.h"


static const char *LIN_NAMES[LIN_COUNT] = {"q", "k", "v", "o", "fc1", "fc2"};

pst_err pst_model_add_base(pst_model *m, const char *name, int ndim, int64_t d0, int64_t d1, float **bind,
                           float **grad) {
  if (m->train_all) return pst_params_add(&m->train, name, ndim, d0, d1, ndim == 2, 1, bind, grad);
  return pst_params_add(&m->frozen, name, ndim, d0, d1, 0, 1, bind, NULL);
}

/* Register every tensor of the architecture into m->frozen / m->train. */
static pst_err register_tensors(pst_model *m) {
  if (m->arch == ARCH_LLAMA) return pst_llama_register(m);
  const int C = m->C, F = m->F;
  static const int PAR[LIN_COUNT] = {PST_PAR_COLUMN, PST_PAR_COLUMN, PST_PAR_COLUMN, PST_PAR_ROW, PST_PAR_COLUMN,
                                     PST_PAR_ROW};
  pst_params *fz = &m->frozen, *tr = &m->train;
  char nm[96];
  PST_CHECK(pst_model_add_base(m, "emb.tok", 2, m->V, C, &m->emb_tok, &m->d_emb_tok));
  PST_CHECK(pst_model_add_base(m, "emb.pos", 2, m->cfg.max_positions, C, &m->emb_pos, &m->d_emb_pos));
  if (!m->gpt2) {
    PST_CHECK(pst_model_add_base(m, "emb.type", 2, m->cfg.type_vocab, C, &m->emb_type, &m->d_emb_type));
    PST_CHECK(pst_model_add_base(m, "emb.ln.w", 1, C, 0, &m->emb_ln_w, &m->d_emb_ln_w));
    PST_CHECK(pst_model_add_base(m, "emb.ln.b", 1, C, 0, &m->emb_ln_b, &m->d_emb_ln_b));
  }
  for (int l = 0; l < m->cfg.layers; l++) {
    pst_block *b = &m->blocks[l];
    const int dims[LIN_COUNT][2] = {{C, C}, {C, C}, {C, C}, {C, C}, {F, C}, {C, F}};
    for (int j = 0; j < m->nlin; j++) {
      snprintf(b->lin_name[j], sizeof b->lin_name[j], "blk.%d.%s", l, LIN_NAMES[j]);
      pst_linear_shard sh = {PAR[j], m->tp.rank, m->tp.size};
      PST_CHECK(pst_linear_register(&b->lin[j], &m->lopts, b->lin_name[j], dims[j][0], dims[j][1], 1, &sh, fz, tr));
    }
    snprintf(nm, sizeof nm, "blk.%d.ln1.w", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln1_w, &b->dln1_w));
    snprintf(nm, sizeof nm, "blk.%d.ln1.b", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln1_b, &b->dln1_b));
    snprintf(nm, sizeof nm, "blk.%d.ln2.w", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln2_w, &b->dln2_w));
    snprintf(nm, sizeof nm, "blk.%d.ln2.b", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln2_b, &b->dln2_b));
  }
  if (m->gpt2) {
    PST_CHECK(pst_model_add_base(m, "lnf.w", 1, C, 0, &m->lnf_w, &m->d_lnf_w));
    PST_CHECK(pst_model_add_base(m, "lnf.b", 1, C, 0, &m->lnf_b, &m->d_lnf_b));
  } else {
    /* the head: trainable by default (a fresh head must learn), frozen if train_head = false */
    int th = m->cfg.train_head;
    pst_params *hp = th ? tr : fz;
    PST_CHECK(pst_params_add(hp, "pool.w", 2, C, C, 1, 0, &m->pool_w, th ? &m->dpool_w : NULL));
    PST_CHECK(pst_params_add(hp, "pool.b", 1, C, 0, 0, 0, &m->pool_b, th ? &m->dpool_b : NULL));
    PST_CHECK(pst_params_add(hp, "cls.w", 2, m->NL, C, 1, 0, &m->cls_w, th ? &m->dcls_w : NULL));
    PST_CHECK(pst_params_add(hp, "cls.b", 1, m->NL, 0, 0, 0, &m->cls_b, th ? &m->dcls_b : NULL));
  }
  return PST_OK;
}

/* Carve the activation and backward buffers out of two allocations (model_internal.h). */
pst_err pst_model_alloc_activations(pst_model *m) {
  if (m->arch == ARCH_LLAMA) return pst_llama_alloc(m);
  const int inf = m->infer; /* gpt2 only (infer.c refuses bert) */
  const size_t N = (size_t)m->N, C = (size_t)m->C, L = inf ? 1 : (size_t)m->cfg.layers;
  const size_t Cl = (size_t)m->Cl, Fl = (size_t)m->Fl;
  const size_t P = inf ? 0 : (size_t)m->B * m->NHl * m->T * m->T, B = (size_t)m->B;
  const size_t NH = inf ? B : N; /* gpt2: rows of the final LN and the head */
  const size_t nlog = m->gpt2 ? NH * (size_t)m->V : B * (size_t)m->NL;
  /* per layer: lnA res1 lnB (3 NC) + res2 (NC, training) + q k v ctx (4 N Cl) + f1 g (2 N Fl)
   * + probs + 4 N stats */
  size_t per_layer = (inf ? 3 : 4) * N * C + 4 * N * Cl + 2 * N * Fl + P + 4 * N;
  size_t total = L * per_layer + 2 * N * C + 2 * N + (m->gpt2 ? NH * C + 2 * NH : 3 * B * C) + nlog;
  PST_CHECK(pst_calloc((void **)&m->act_buf, total, sizeof(float), "activations"));
  PST_CHECK(pst_calloc((void **)&m->acts, (size_t)m->cfg.layers, sizeof(pst_block_acts), "activations"));
  float *p = m->act_buf;
#define TAKE(ptr, count) ((ptr) = p, p += (count))
  TAKE(m->emb_sum, N * C);
  TAKE(m->x0, N * C);
  TAKE(m->emb_mean, N);
  TAKE(m->emb_rstd, N);
  float *prev_out = m->x0;
  for (size_t l = 0; l < L; l++) {
    pst_block_acts *a = &m->acts[l];
    a->in = prev_out;
    TAKE(a->lnA, N * C);
    TAKE(a->lnA_mean, N);
    TAKE(a->lnA_rstd, N);
    TAKE(a->q, N * Cl);
    TAKE(a->k, N * Cl);
    TAKE(a->v, N * Cl);
    TAKE(a->ctx, N * Cl);
    if (P) TAKE(a->probs, P);
    TAKE(a->res1, N * C);
    TAKE(a->lnB, N * C);
    TAKE(a->lnB_mean, N);
    TAKE(a->lnB_rstd, N);
    TAKE(a->f1, N * Fl);
    TAKE(a->g, N * Fl);
    if (inf) a->res2 = m->x0; /* pre-LN: the input is dead once res1 = in + o(ctx) is formed */
    else TAKE(a->res2, N * C);
    a->out = m->gpt2 ? a->res2 : a->lnB;
    prev_out = a->out;
  }
  for (int l = 1; inf && l < m->cfg.layers; l++) m->acts[l] = m->acts[0];
  if (m->gpt2) {
    TAKE(m->lnf, NH * C);
    TAKE(m->lnf_mean, NH);
    TAKE(m->lnf_rstd, NH);
  } else {
    TAKE(m->cls_in, B * C);
    TAKE(m->pool_pre, B * C);
    TAKE(m->pooled, B * C);
  }
  TAKE(m->logits, nlog);
  if ((size_t)(p - m->act_buf) != total) PST_ERR(PST_ERR_INTERNAL, "activation layout mismatch");
  if (inf) return PST_OK;

  size_t gtotal = 5 * N * C + 4 * N * Cl + 2 * N * Fl + nlog + 3 * B * C;
  PST_CHECK(pst_calloc((void **)&m->grad_buf, gtotal, sizeof(float), "activation gradients"));
  p = m->grad_buf;
  TAKE(m->d_out, N * C);
  TAKE(m->d_in, N * C);
  TAKE(m->d_res, N * C);
  TAKE(m->d_ln, N * C);
  TAKE(m->tp_buf, N * C);
  TAKE(m->d_ctx, N * Cl);
  TAKE(m->d_q, N * Cl);
  TAKE(m->d_k, N * Cl);
  TAKE(m->d_v, N * Cl);
  TAKE(m->d_g, N * Fl);
  TAKE(m->d_f1, N * Fl);
  TAKE(m->d_logits, nlog);
  TAKE(m->d_cls_in, B * C);
  TAKE(m->d_pool_pre, B * C);
  TAKE(m->d_pooled, B * C);
#undef TAKE
  return PST_OK;
}

void pst_model_free_activations(pst_model *m) {
  pst_free(m->act_buf);
  pst_free(m->grad_buf);
  pst_free(m->acts);
  pst_free(m->lacts);
  m->act_buf = m->grad_buf = NULL;
  m->acts = NULL;
  m->lacts = NULL;
}

pst_err pst_model_create(pst_model **out, const pst_config *cfg, int B, int T, const pst_group *tp) {
  *out = NULL;
  const pst_method *me = pst_method_find(cfg->method);
  if (!me) PST_ERR(PST_ERR_CONFIG, "pst.method = '%s' is unknown", cfg->method);
  if (T + cfg->position_offset > cfg->max_positions)
    PST_ERR(PST_ERR_ARG, "sequence length %d (+ position offset %d) exceeds model.max_positions = %d", T,
            cfg->position_offset, cfg->max_positions);
  pst_model *m;
  PST_CHECK(pst_calloc((void **)&m, 1, sizeof *m, "model"));
  m->cfg = *cfg;
  m->arch = !strcmp(cfg->arch, "llama") ? ARCH_LLAMA : !strcmp(cfg->arch, "gpt2") ? ARCH_GPT2 : ARCH_BERT;
  m->gpt2 = m->arch == ARCH_GPT2;
  m->nlin = m->arch == ARCH_LLAMA ? LL_COUNT : LIN_COUNT;
  m->gelu = !strcmp(cfg->activation, "gelu_tanh") ? PST_GELU_TANH : PST_GELU_ERF;
  m->lopts = (pst_linear_opts){me, cfg->r1, cfg->r2, (float)cfg->alpha1, (float)cfg->alpha2, (float)cfg->beta,
                               (float)cfg->threshold, cfg->detach_magnitude};
  m->train_all = me->train_w;
  m->B = B;
  m->T = m->T_max = T;
  m->N = B * T;
  m->C = cfg->hidden;
  m->F = cfg->ffn;
  m->NH = cfg->heads;
  m->V = cfg->vocab;
  m->NL = cfg->num_labels;
  m->ln_eps = (float)cfg->ln_eps;
  m->tp = tp ? *tp : (pst_group){0, 1, NULL, NULL, NULL};
  pst_err rc;
  m->KV = m->arch == ARCH_LLAMA && cfg->kv_heads > 0 ? cfg->kv_heads : m->NH;
  m->hs = m->C / m->NH;
  if (m->NH % m->tp.size || m->F % m->tp.size || m->KV % m->tp.size) {
    pst_err_set(PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                "dist.tp = %d must divide model.heads = %d, model.kv_heads = %d and model.ffn = %d", m->tp.size, m->NH,
                m->KV, m->F);
    rc = PST_ERR_CONFIG;
    goto fail;
  }
  if (m->NH % m->KV) {
    pst_err_set(PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "model.heads = %d is not divisible by model.kv_heads = %d",
                m->NH, m->KV);
    rc = PST_ERR_CONFIG;
    goto fail;
  }
  m->NHl = m->NH / m->tp.size;
  m->KVl = m->KV / m->tp.size;
  m->Kl = m->KVl * m->hs;
  m->Cl = m->C / m->tp.size;
  m->Fl = m->F / m->tp.size;
#define TRY(call) do { rc = (call); if (rc) { pst_err_trace(__FILE__, __LINE__, __func__); goto fail; } } while (0)
  TRY(pst_calloc((void **)&m->blocks, (size_t)cfg->layers, sizeof(pst_block), "blocks"));
  TRY(register_tensors(m));
  TRY(pst_params_alloc(&m->frozen, 0));
  TRY(pst_params_alloc(&m->train, 1));
  /* masks: one byte per weight of every sparsified layer */
  if (me->mask != PST_MASK_NONE) {
    size_t total = 0;
    for (int l = 0; l < cfg->layers; l++)
      for (int j = 0; j < m->nlin; j++) total += (size_t)m->blocks[l].lin[j].m * m->blocks[l].lin[j].n;
    TRY(pst_calloc((void **)&m->masks, total, 1, "masks"));
    uint8_t *p = m->masks;
    for (int l = 0; l < cfg->layers; l++)
      for (int j = 0; j < m->nlin; j++) {
        pst_linear *L = &m->blocks[l].lin[j];
        L->mask = p;
        memset(p, 1, (size_t)L->m * L->n);
        p += (size_t)L->m * L->n;
      }
  }
  long max_mn = 0, max_dim = 0;
  for (int j = 0; j < m->nlin; j++) { /* every block has the shapes of block 0 */
    const pst_linear *L = &m->blocks[0].lin[j];
    if ((long)L->m * L->n > max_mn) max_mn = (long)L->m * L->n;
    if (L->m > max_dim) max_dim = L->m;
    if (L->n > max_dim) max_dim = L->n;
  }
  TRY(pst_linear_scratch_alloc(&m->scratch, max_mn, max_dim, cfg->r1 > cfg->r2 ? cfg->r1 : cfg->r2));
  TRY(pst_model_alloc_activations(m));
  for (int l = 0; l < cfg->layers; l++)
    for (int j = 0; j < m->nlin; j++)
      pst_linear_init_trainables(&m->blocks[l].lin[j], &m->lopts, cfg->seed, m->blocks[l].lin_name[j]);
  if (m->arch == ARCH_BERT && cfg->train_head) { /* a fresh head: N(0, init_std), zero bias */
    pst_rng_normal(m->pool_w, (size_t)m->C * m->C, 0.f, (float)cfg->init_std, cfg->seed, pst_rng_stream("pool.w"));
    pst_rng_normal(m->cls_w, (size_t)m->NL * m->C, 0.f, (float)cfg->init_std, cfg->seed, pst_rng_stream("cls.w"));
  }
#undef TRY
  *out = m;
  return PST_OK;
fail:
  pst_model_destroy(m);
  return rc;
}

void pst_model_destroy(pst_model *m) {
  if (!m) return;
  pst_params_free(&m->frozen);
  pst_params_free(&m->train);
  pst_linear_scratch_free(&m->scratch);
  pst_free(m->masks);
  pst_model_infer_free(m);
  pst_free(m->w_sp_fixed);
  pst_model_free_activations(m);
  pst_free(m->blocks);
  if (m->held_release) m->held_release(m->held);
  pst_free(m);
}

/* Read every tensor of table p found in st; `must` = required tensors must be present. */
static pst_err load_table(pst_params *p, const pst_safetensors *st, const char *path) {
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    if (!pst_st_find(st, t->name)) {
      if (t->required) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' not found (needed by the model config)", path, t->name);
      continue;
    }
    PST_CHECK(pst_st_read_param(st, t->name, t, *t->bind)); /* this rank's slice only */
  }
  return PST_OK;
}

pst_err pst_model_load(pst_model *m, const char *path) {
  pst_safetensors *st;
  PST_CHECK(pst_st_open(&st, path));
  pst_err rc = load_table(&m->frozen, st, path);
  if (!rc) rc = load_table(&m->train, st, path);
  pst_st_close(st);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* A pretrained tensor's random stand-in: norm weights 1, matrices N(0, init_std), vectors 0. */
static void init_base(const pst_model *m, const pst_tensor_info *t, uint64_t seed) {
  float *x = *t->bind;
  const size_t len = strlen(t->name);
  const int is_ln_w = (len >= 5 && (!strcmp(t->name + len - 5, "ln1.w") || !strcmp(t->name + len - 5, "ln2.w") ||
                                    !strcmp(t->name + len - 5, "lnf.w"))) ||
                      !strcmp(t->name, "emb.ln.w");
  if (is_ln_w) for (size_t j = 0; j < t->numel; j++) x[j] = 1.f;
  else if (t->ndim == 2) pst_params_fill_normal(t, x, 0.f, (float)m->cfg.init_std, seed, pst_rng_stream(t->name));
  else memset(x, 0, t->numel * sizeof(float));
}

void pst_model_init_random(pst_model *m, uint64_t seed) {
  for (int i = 0; i < m->frozen.n; i++) init_base(m, &m->frozen.t[i], seed);
  for (int i = 0; i < m->train.n; i++) /* dense: the trainable pretrained tensors */
    if (m->train.t[i].required) init_base(m, &m->train.t[i], seed);
}

/* pst_topk_sharded's score callback: layer i's local scores */
static pst_err shard_scores(void *ctx, int i, float *out) {
  pst_model *m = ctx;
  pst_linear_score(&m->blocks[i / m->nlin].lin[i % m->nlin], &m->lopts, out, &m->scratch);
  return PST_OK;
}

/* Top-k masks of every layer across the tp group: one distributed selection for all. */
static pst_err update_masks_sharded(pst_model *m, double sparsity) {
  const int nl = m->cfg.layers * m->nlin;
  pst_topk_shard *sh;
  PST_CHECK(pst_calloc((void **)&sh, (size_t)nl, sizeof *sh, "top-k shards"));
  for (int i = 0; i < nl; i++) {
    const pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
    sh[i] = (pst_topk_shard){L->m, L->n, L->row0, L->col0, L->gm, L->gn,
                             pst_keep_count((long)L->gm * L->gn, sparsity), L->mask};
  }
  pst_err rc = pst_topk_sharded(sh, nl, shard_scores, m, m->scratch.w1, &m->tp);
  pst_free(sh);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_model_update_masks(pst_model *m, double sparsity) {
  if (pst_group_active(&m->tp) && m->lopts.method->mask == PST_MASK_TOPK) return update_masks_sharded(m, sparsity);
  for (int l = 0; l < m->cfg.layers; l++)
    for (int j = 0; j < m->nlin; j++)
      PST_CHECK(pst_linear_update_mask(&m->blocks[l].lin[j], &m->lopts, sparsity, &m->scratch));
  return PST_OK;
}

pst_params *pst_model_trainables(pst_model *m) { return &m->train; }
pst_params *pst_model_frozen(pst_model *m) { return &m->frozen; }

void pst_model_tp_sum(pst_model *m, float *x, long n) {
  if (!pst_group_active(&m->tp)) return;
  if (m->tp.sum_f32(m->tp.ctx, x, n)) { /* collectives do not fail recoverably: stop the job */
    pst_err_print(stderr, 1);
    abort();
  }
}

const float *pst_model_hidden(const pst_model *m) {
  return m->arch == ARCH_LLAMA ? m->lacts[m->cfg.layers - 1].out : m->acts[m->cfg.layers - 1].out;
}

const float *pst_model_pooled(const pst_model *m) { return m->arch == ARCH_BERT ? m->pooled : NULL; }

const float *pst_model_logits(const pst_model *m, long *n) {
  *n = m->arch != ARCH_BERT ? (long)m->N * m->V : (long)m->B * m->NL;
  return m->logits;
}

int pst_model_num_linears(const pst_model *m) { return m->cfg.layers * m->nlin; }

const char *pst_model_linear_name(const pst_model *m, int i) {
  return m->blocks[i / m->nlin].lin_name[i % m->nlin];
}

const uint8_t *pst_model_linear_mask(const pst_model *m, int i, int *rows, int *cols) {
  const pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
  *rows = L->m;
  *cols = L->n;
  return L->mask;
}

void pst_model_linear_weight(pst_model *m, int i, float *out) {
  pst_linear_effective(&m->blocks[i / m->nlin].lin[i % m->nlin], &m->lopts, out, &m->scratch);
}

void pst_model_linear_global(const pst_model *m, int i, int *gm, int *gn, int *shard_dim) {
  const pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
  *gm = L->gm;
  *gn = L->gn;
  *shard_dim = L->m < L->gm ? 0 : L->n < L->gn ? 1 : -1;
}

uint64_t pst_model_mask_digest(const pst_model *m) {
  uint64_t sum = 0;
  for (int i = 0; i < m->cfg.layers * m->nlin; i++) {
    const pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
    if (!L->mask) continue;
    for (long r = 0; r < L->m; r++)
      for (long c = 0; c < L->n; c++)
        if (L->mask[r * L->n + c]) sum += pst_rng_u64(0, (uint64_t)i, (uint64_t)((L->row0 + r) * L->gn + L->col0 + c));
  }
  return sum;
}

void pst_model_nnz(const pst_model *m, long *kept, long *total) {
  *kept = *total = 0;
  for (int l = 0; l < m->cfg.layers; l++)
    for (int j = 0; j < m->nlin; j++) {
      const pst_linear *L = &m->blocks[l].lin[j];
      *kept += pst_linear_nnz(L);
      *total += (long)L->m * L->n;
    }
}
