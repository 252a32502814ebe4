/* block.c — one transformer block, post-LN (BERT/RoBERTa) or pre-LN (GPT-2).
 *   bert: res1 = in + o(attn(q,k,v of in)); lnA = LN1(res1);
 *         res2 = lnA + fc2(gelu(fc1(lnA))); out = lnB = LN2(res2)
 *   gpt2: lnA = LN1(in); res1 = in + o(causal attn(q,k,v of lnA));
 *         lnB = LN2(res1); out = res2 = res1 + fc2(gelu(fc1(lnB)))
 * All activations [N,C] except f1, g [N,F] and probs [B,NH,T,T]; the forward runs over a pass
 * (a training batch, or new tokens attending to a key/value cache: model_internal.h).
 * Tensor parallelism (Megatron): q, k, v, fc1 are column-parallel, so this rank computes its
 * NH/tp heads ([N,Cl]) and its F/tp MLP features ([N,Fl]); o and fc2 are row-parallel and
 * produce partial sums that are summed over the tp group before the residual. Backward, the
 * column-parallel layers' input gradients are partial sums, summed the same way. */
#include <string.h>

#include "model_internal.h"

static void add_inplace(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] += x[i];
}

static void zero(float *x, long n) { memset(x, 0, (size_t)n * sizeof(float)); }

void pst_block_forward(pst_model *m, int l, const pst_pass *p) {
  pst_block *b = &m->blocks[l];
  pst_block_acts *a = &m->acts[l];
  const pst_linear_opts *o = &m->lopts;
  pst_linear_scratch *s = &m->scratch;
  const int N = p->N, C = m->C;
  const long NC = (long)N * C;

  const float *attn_in = a->in;
  if (m->gpt2) {
    layernorm_forward(a->lnA, a->lnA_mean, a->lnA_rstd, a->in, b->ln1_w, b->ln1_b, N, C, m->ln_eps);
    attn_in = a->lnA;
  }
  pst_linear_forward(&b->lin[LIN_Q], o, a->q, attn_in, N, s);
  pst_linear_forward(&b->lin[LIN_K], o, a->k, attn_in, N, s);
  pst_linear_forward(&b->lin[LIN_V], o, a->v, attn_in, N, s);
  pst_model_attend(m, l, p, a->ctx, a->probs, a->q, a->k, a->v);
  pst_linear_forward(&b->lin[LIN_O], o, a->res1, a->ctx, N, s);
  pst_model_tp_sum(m, a->res1, NC);
  add_inplace(a->res1, a->in, NC);

  const float *mlp_in;
  if (m->gpt2) {
    layernorm_forward(a->lnB, a->lnB_mean, a->lnB_rstd, a->res1, b->ln2_w, b->ln2_b, N, C, m->ln_eps);
    mlp_in = a->lnB;
  } else {
    layernorm_forward(a->lnA, a->lnA_mean, a->lnA_rstd, a->res1, b->ln1_w, b->ln1_b, N, C, m->ln_eps);
    mlp_in = a->lnA;
  }
  pst_linear_forward(&b->lin[LIN_FC1], o, a->f1, mlp_in, N, s);
  gelu_forward(a->g, a->f1, (long)N * m->Fl, m->gelu);
  pst_linear_forward(&b->lin[LIN_FC2], o, a->res2, a->g, N, s);
  pst_model_tp_sum(m, a->res2, NC);
  add_inplace(a->res2, m->gpt2 ? a->res1 : a->lnA, NC);
  if (!m->gpt2)
    layernorm_forward(a->lnB, a->lnB_mean, a->lnB_rstd, a->res2, b->ln2_w, b->ln2_b, N, C, m->ln_eps);
}

void pst_block_backward(pst_model *m, int l, int need_din) {
  pst_block *b = &m->blocks[l];
  pst_block_acts *a = &m->acts[l];
  const pst_linear_opts *o = &m->lopts;
  pst_linear_scratch *s = &m->scratch;
  const int N = m->N, C = m->C;
  const long NC = (long)N * C, NF = (long)N * m->Fl, NCl = (long)N * m->Cl;
  float *dpart = m->tp_buf; /* a column-parallel layer's input gradient, summed over tp */

  /* MLP half: d_res = dL/d(res1 for gpt2 | lnA for bert), accumulated from the residual */
  const float *mlp_in;
  float *d_res2;
  if (m->gpt2) {
    d_res2 = m->d_out; /* out = res2 */
    memcpy(m->d_res, m->d_out, (size_t)NC * sizeof(float)); /* residual into res1 */
    mlp_in = a->lnB;
  } else {
    zero(m->d_ln, NC);
    layernorm_backward(m->d_ln, b->dln2_w, b->dln2_b, m->d_out, a->res2, b->ln2_w, a->lnB_mean, a->lnB_rstd, N, C);
    d_res2 = m->d_ln;                              /* dL/d res2 */
    memcpy(m->d_res, d_res2, (size_t)NC * sizeof(float)); /* residual into lnA */
    mlp_in = a->lnA;
  }
  zero(m->d_g, NF);
  pst_linear_backward(&b->lin[LIN_FC2], o, m->d_g, d_res2, a->g, N, s);
  zero(m->d_f1, NF);
  gelu_backward(m->d_f1, a->f1, m->d_g, NF, m->gelu);
  zero(dpart, NC);
  pst_linear_backward(&b->lin[LIN_FC1], o, dpart, m->d_f1, mlp_in, N, s);
  pst_model_tp_sum(m, dpart, NC);
  if (m->gpt2) {
    layernorm_backward(m->d_res, b->dln2_w, b->dln2_b, dpart, a->res1, b->ln2_w, a->lnB_mean, a->lnB_rstd, N, C);
  } else {
    add_inplace(m->d_res, dpart, NC);
    /* d_res = dL/d lnA -> dL/d res1 */
    zero(m->d_ln, NC);
    layernorm_backward(m->d_ln, b->dln1_w, b->dln1_b, m->d_res, a->res1, b->ln1_w, a->lnA_mean, a->lnA_rstd, N, C);
    memcpy(m->d_res, m->d_ln, (size_t)NC * sizeof(float));
  }
  /* attention half: m->d_res = dL/d res1 */
  zero(m->d_ctx, NCl);
  pst_linear_backward(&b->lin[LIN_O], o, m->d_ctx, m->d_res, a->ctx, N, s);
  zero(m->d_q, NCl);
  zero(m->d_k, NCl);
  zero(m->d_v, NCl);
  attention_backward(m->d_q, m->d_k, m->d_v, m->d_ctx, a->probs, a->q, a->k, a->v, m->B, m->T, m->Cl, m->NHl, m->NHl);
  const float *attn_in = m->gpt2 ? a->lnA : a->in;
  float *d_attn_in = NULL;
  if (need_din) {
    zero(dpart, NC);
    d_attn_in = dpart;
  }
  pst_linear_backward(&b->lin[LIN_Q], o, d_attn_in, m->d_q, attn_in, N, s);
  pst_linear_backward(&b->lin[LIN_K], o, d_attn_in, m->d_k, attn_in, N, s);
  pst_linear_backward(&b->lin[LIN_V], o, d_attn_in, m->d_v, attn_in, N, s);
  if (need_din) {
    pst_model_tp_sum(m, dpart, NC);
    memcpy(m->d_in, m->d_res, (size_t)NC * sizeof(float)); /* residual into in */
    if (m->gpt2)
      layernorm_backward(m->d_in, b->dln1_w, b->dln1_b, dpart, a->in, b->ln1_w, a->lnA_mean, a->lnA_rstd, N, C);
    else add_inplace(m->d_in, dpart, NC);
  }
}
