/* llama.c — the LLaMA family (Llama 2/3, Mistral, Qwen2, SmolLM): one pre-norm decoder block
 * and the pass around it, built from the shared ops of kernels.h.
 *   x0 = tok[ids] (no position table)
 *   block: ln1 = rms(x); q, k, v = lin(ln1); q, k rotated (RoPE); ctx = causal GQA attn;
 *          res1 = x + o(ctx); ln2 = rms(res1); h = silu(gate(ln2)) * up(ln2); out = res1 + down(h)
 *   head:  logits[N,V] = rms_f(x_L) @ head^T (head = tok when tied); loss = token CE weighted by
 *          the batch's loss mask (label smoothing).
 * Shapes: N = B*T tokens, C hidden, hs head size, NH query heads, KV key/value heads, F ffn;
 * per tp rank NHl = NH/tp, KVl = KV/tp heads (Cl = NHl*hs, Kl = KVl*hs) and Fl = F/tp features.
 * Tensor parallelism (Megatron): q, k, v, gate, up column-parallel (rows sharded), o and down
 * row-parallel (columns sharded; their outputs are partial sums summed over the tp group, and
 * so are the column-parallel layers' input gradients). Biases: q/k/v (qkv_bias: Qwen2, Llama
 * attention_bias), o (o_bias), gate/up/down (mlp_bias); none by default. */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

static const char *LL_NAMES[LL_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};

pst_err pst_llama_register(pst_model *m) {
  const int C = m->C, F = m->F, Q = m->NH * m->hs, K = m->KV * m->hs;
  const pst_config *cfg = &m->cfg;
  static const int PAR[LL_COUNT] = {PST_PAR_COLUMN, PST_PAR_COLUMN, PST_PAR_COLUMN, PST_PAR_ROW,
                                    PST_PAR_COLUMN, PST_PAR_COLUMN, PST_PAR_ROW};
  const int dims[LL_COUNT][2] = {{Q, C}, {K, C}, {K, C}, {C, Q}, {F, C}, {F, C}, {C, F}};
  const int bias[LL_COUNT] = {cfg->qkv_bias, cfg->qkv_bias, cfg->qkv_bias, cfg->o_bias,
                              cfg->mlp_bias, cfg->mlp_bias, cfg->mlp_bias};
  pst_params *fz = &m->frozen, *tr = &m->train;
  char nm[96];
  PST_CHECK(pst_model_add_base(m, "emb.tok", 2, m->V, C, &m->emb_tok, &m->d_emb_tok));
  for (int l = 0; l < cfg->layers; l++) {
    pst_block *b = &m->blocks[l];
    for (int j = 0; j < LL_COUNT; j++) {
      snprintf(b->lin_name[j], sizeof b->lin_name[j], "blk.%d.%s", l, LL_NAMES[j]);
      pst_linear_shard sh = {PAR[j], m->tp.rank, m->tp.size};
      PST_CHECK(pst_linear_register(&b->lin[j], &m->lopts, b->lin_name[j], dims[j][0], dims[j][1], bias[j], &sh, fz,
                                    tr));
    }
    snprintf(nm, sizeof nm, "blk.%d.ln1.w", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln1_w, &b->dln1_w));
    snprintf(nm, sizeof nm, "blk.%d.ln2.w", l);
    PST_CHECK(pst_model_add_base(m, nm, 1, C, 0, &b->ln2_w, &b->dln2_w));
  }
  PST_CHECK(pst_model_add_base(m, "lnf.w", 1, C, 0, &m->lnf_w, &m->d_lnf_w));
  if (!cfg->tie_embeddings) PST_CHECK(pst_model_add_base(m, "head.w", 2, m->V, C, &m->head_w, &m->d_head_w));
  return PST_OK;
}

/* Activations and backward buffers in two allocations, plus the rotary table [T, hs/2].
 * Decoding (m->infer): N rows shared by every layer (in = out = x0), no probs, the head over
 * B rows (one per sequence), no backward buffers. */
pst_err pst_llama_alloc(pst_model *m) {
  const int inf = m->infer;
  const size_t N = (size_t)m->N, C = (size_t)m->C, L = inf ? 1 : (size_t)m->cfg.layers;
  const size_t Cl = (size_t)m->Cl, Kl = (size_t)m->Kl, Fl = (size_t)m->Fl, V = (size_t)m->V;
  const size_t P = inf ? 0 : (size_t)m->B * m->NHl * m->T * m->T, h2 = (size_t)m->hs / 2;
  const size_t npos = (size_t)m->T; /* rotary table rows: the positions a pass uses */
  const size_t NH = inf ? (size_t)m->B : N; /* rows of the final norm and the head */
  /* per layer: ln1 res1 ln2 (3 NC) + out (NC, training) + q ctx (2 N Cl) + k v (2 N Kl)
   * + gate up h (3 N Fl) + probs + 2 N */
  const size_t per_layer = (inf ? 3 : 4) * N * C + 2 * N * Cl + 2 * N * Kl + 3 * N * Fl + P + 2 * N;
  const size_t total = L * per_layer + N * C + NH * C + NH + NH * V + 2 * npos * h2;
  PST_CHECK(pst_calloc((void **)&m->act_buf, total, sizeof(float), "activations"));
  PST_CHECK(pst_calloc((void **)&m->lacts, (size_t)m->cfg.layers, sizeof(pst_llama_acts), "activations"));
  float *p = m->act_buf;
#define TAKE(ptr, count) ((ptr) = p, p += (count))
  TAKE(m->x0, N * C);
  float *prev_out = m->x0;
  for (size_t l = 0; l < L; l++) {
    pst_llama_acts *a = &m->lacts[l];
    a->in = prev_out;
    TAKE(a->ln1, N * C);
    TAKE(a->ln1_rstd, N);
    TAKE(a->q, N * Cl);
    TAKE(a->k, N * Kl);
    TAKE(a->v, N * Kl);
    TAKE(a->ctx, N * Cl);
    if (P) TAKE(a->probs, P);
    TAKE(a->res1, N * C);
    TAKE(a->ln2, N * C);
    TAKE(a->ln2_rstd, N);
    TAKE(a->gate, N * Fl);
    TAKE(a->up, N * Fl);
    TAKE(a->h, N * Fl);
    if (inf) a->out = m->x0; /* the input is dead once res1 = in + o(ctx) is formed */
    else TAKE(a->out, N * C);
    prev_out = a->out;
  }
  for (int l = 1; inf && l < m->cfg.layers; l++) m->lacts[l] = m->lacts[0];
  TAKE(m->lnf, NH * C);
  TAKE(m->lnf_rstd, NH);
  TAKE(m->logits, NH * V);
  TAKE(m->rope_cos, npos * h2);
  TAKE(m->rope_sin, npos * h2);
  if ((size_t)(p - m->act_buf) != total) PST_ERR(PST_ERR_INTERNAL, "llama activation layout mismatch");

  if (!inf) {
    const size_t gtotal = 4 * N * C + 2 * N * Cl + 2 * N * Kl + 3 * N * Fl + N * V;
    PST_CHECK(pst_calloc((void **)&m->grad_buf, gtotal, sizeof(float), "activation gradients"));
    p = m->grad_buf;
    TAKE(m->d_out, N * C);
    TAKE(m->d_in, N * C);
    TAKE(m->d_res, N * C);
    TAKE(m->tp_buf, N * C);
    TAKE(m->d_ctx, N * Cl);
    TAKE(m->d_q, N * Cl);
    TAKE(m->d_k, N * Kl);
    TAKE(m->d_v, N * Kl);
    TAKE(m->d_g, N * Fl);
    TAKE(m->d_f1, N * Fl);
    TAKE(m->d_up, N * Fl);
    TAKE(m->d_logits, N * V);
  }
#undef TAKE
  const pst_config *c = &m->cfg;
  const int scaling = !strcmp(c->rope_scaling, "linear")   ? PST_ROPE_LINEAR
                      : !strcmp(c->rope_scaling, "llama3") ? PST_ROPE_LLAMA3
                                                           : PST_ROPE_NONE;
  rope_table(m->rope_cos, m->rope_sin, m->T, m->hs, c->rope_theta, scaling, c->rope_factor,
             c->rope_low_freq_factor, c->rope_high_freq_factor, c->rope_original_max_positions);
  return PST_OK;
}

static void add_inplace(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] += x[i];
}

static void zero(float *x, long n) { memset(x, 0, (size_t)n * sizeof(float)); }

/* Rotate x [N, nh*hs] of pass p: training from position 0, decoding from each pos[b]. */
static void rotate(pst_model *m, const pst_pass *p, float *x, int nh) {
  if (!p->cached) {
    rope_forward(x, m->rope_cos, m->rope_sin, p->B, p->T, nh, m->hs, 0);
    return;
  }
  const long w = (long)p->T * nh * m->hs;
  for (int b = 0; b < p->B; b++) rope_forward(x + b * w, m->rope_cos, m->rope_sin, 1, p->T, nh, m->hs, p->pos[b]);
}

static void block_forward(pst_model *m, int l, const pst_pass *p) {
  pst_block *b = &m->blocks[l];
  pst_llama_acts *a = &m->lacts[l];
  const pst_linear_opts *o = &m->lopts;
  pst_linear_scratch *s = &m->scratch;
  const int N = p->N, C = m->C;
  const long NC = (long)N * C;
  const float eps = m->ln_eps;
  rmsnorm_forward(a->ln1, a->ln1_rstd, a->in, b->ln1_w, N, C, eps);
  pst_linear_forward(&b->lin[LL_Q], o, a->q, a->ln1, N, s);
  pst_linear_forward(&b->lin[LL_K], o, a->k, a->ln1, N, s);
  pst_linear_forward(&b->lin[LL_V], o, a->v, a->ln1, N, s);
  rotate(m, p, a->q, m->NHl);
  rotate(m, p, a->k, m->KVl);
  pst_model_attend(m, l, p, a->ctx, a->probs, a->q, a->k, a->v);
  pst_linear_forward(&b->lin[LL_O], o, a->res1, a->ctx, N, s);
  pst_model_tp_sum(m, a->res1, NC);
  add_inplace(a->res1, a->in, NC);
  rmsnorm_forward(a->ln2, a->ln2_rstd, a->res1, b->ln2_w, N, C, eps);
  pst_linear_forward(&b->lin[LL_GATE], o, a->gate, a->ln2, N, s);
  pst_linear_forward(&b->lin[LL_UP], o, a->up, a->ln2, N, s);
  swiglu_forward(a->h, a->gate, a->up, (long)N * m->Fl);
  pst_linear_forward(&b->lin[LL_DOWN], o, a->out, a->h, N, s);
  pst_model_tp_sum(m, a->out, NC);
  add_inplace(a->out, a->res1, NC);
}

/* m->d_out = dL/d(block l output); on return m->d_in = dL/d(block input) if need_din. */
static void block_backward(pst_model *m, int l, int need_din) {
  pst_block *b = &m->blocks[l];
  pst_llama_acts *a = &m->lacts[l];
  const pst_linear_opts *o = &m->lopts;
  pst_linear_scratch *s = &m->scratch;
  const int N = m->N, C = m->C, B = m->B, T = m->T;
  const long NC = (long)N * C, NF = (long)N * m->Fl;
  float *dpart = m->tp_buf; /* a column-parallel layer's input gradient, summed over tp */
  /* MLP half: out = res1 + down(h) */
  memcpy(m->d_res, m->d_out, (size_t)NC * sizeof(float)); /* residual into res1 */
  zero(m->d_g, NF);
  pst_linear_backward(&b->lin[LL_DOWN], o, m->d_g, m->d_out, a->h, N, s);
  zero(m->d_f1, NF);
  zero(m->d_up, NF);
  swiglu_backward(m->d_f1, m->d_up, a->gate, a->up, m->d_g, NF);
  zero(dpart, NC);
  pst_linear_backward(&b->lin[LL_GATE], o, dpart, m->d_f1, a->ln2, N, s);
  pst_linear_backward(&b->lin[LL_UP], o, dpart, m->d_up, a->ln2, N, s);
  pst_model_tp_sum(m, dpart, NC);
  rmsnorm_backward(m->d_res, b->dln2_w, dpart, a->res1, b->ln2_w, a->ln2_rstd, N, C);
  /* attention half: m->d_res = dL/d res1; res1 = in + o(ctx) */
  const long NCl = (long)N * m->Cl, NKl = (long)N * m->Kl;
  zero(m->d_ctx, NCl);
  pst_linear_backward(&b->lin[LL_O], o, m->d_ctx, m->d_res, a->ctx, N, s);
  zero(m->d_q, NCl);
  zero(m->d_k, NKl);
  zero(m->d_v, NKl);
  attention_backward(m->d_q, m->d_k, m->d_v, m->d_ctx, a->probs, a->q, a->k, a->v, B, T, m->Cl, m->NHl, m->KVl);
  rope_backward(m->d_q, m->rope_cos, m->rope_sin, B, T, m->NHl, m->hs, 0);
  rope_backward(m->d_k, m->rope_cos, m->rope_sin, B, T, m->KVl, m->hs, 0);
  float *d_ln1 = NULL;
  if (need_din) {
    zero(dpart, NC);
    d_ln1 = dpart;
  }
  pst_linear_backward(&b->lin[LL_Q], o, d_ln1, m->d_q, a->ln1, N, s);
  pst_linear_backward(&b->lin[LL_K], o, d_ln1, m->d_k, a->ln1, N, s);
  pst_linear_backward(&b->lin[LL_V], o, d_ln1, m->d_v, a->ln1, N, s);
  if (need_din) {
    pst_model_tp_sum(m, dpart, NC);
    memcpy(m->d_in, m->d_res, (size_t)NC * sizeof(float)); /* residual into in */
    rmsnorm_backward(m->d_in, b->dln1_w, dpart, a->in, b->ln1_w, a->ln1_rstd, N, C);
  }
}

void pst_llama_body(pst_model *m, const pst_pass *p, const int32_t *ids) {
  pst_model_embed(m, p, ids, NULL);
  for (int l = 0; l < m->cfg.layers; l++) block_forward(m, l, p);
}

double pst_llama_forward(pst_model *m, const pst_batch *bt) {
  const int N = m->N, C = m->C, L = m->cfg.layers;
  const pst_pass p = pst_model_train_pass(m);
  pst_llama_body(m, &p, bt->input_ids);
  rmsnorm_forward(m->lnf, m->lnf_rstd, m->lacts[L - 1].out, m->lnf_w, N, C, m->ln_eps);
  matmul_forward(m->logits, m->lnf, m->head_w ? m->head_w : m->emb_tok, NULL, N, C, m->V);
  return crossentropy_forward(m->logits, bt->targets, bt->loss_mask, N, m->V, (float)m->cfg.label_smoothing);
}

void pst_llama_backward(pst_model *m, const pst_batch *bt, float dloss) {
  const int N = m->N, C = m->C, L = m->cfg.layers;
  const long NC = (long)N * C, nlog = (long)N * m->V;
  zero(m->d_logits, nlog);
  crossentropy_backward(m->d_logits, m->logits, bt->targets, bt->loss_mask, N, m->V, (float)m->cfg.label_smoothing,
                        dloss);
  zero(m->d_in, NC);
  matmul_backward(m->d_in, m->head_w ? m->d_head_w : m->d_emb_tok, NULL, m->d_logits, m->lnf,
                  m->head_w ? m->head_w : m->emb_tok, N, C, m->V);
  zero(m->d_out, NC);
  rmsnorm_backward(m->d_out, m->d_lnf_w, m->d_in, m->lacts[L - 1].out, m->lnf_w, m->lnf_rstd, N, C);
  for (int l = L - 1; l >= 0; l--) {
    block_backward(m, l, l > 0 || m->train_all);
    float *t = m->d_out; /* block l's input gradient is block l-1's output gradient */
    m->d_out = m->d_in;
    m->d_in = t;
  }
  if (m->train_all) /* d_out = dL/d x0: scattered into the token rows */
    embedding_backward(m->d_emb_tok, NULL, NULL, m->d_out, bt->input_ids, NULL, m->B, m->T, C);
}
