/* pass.c — the whole forward and backward pass: embeddings, blocks, head and loss.
 * bert: x0 = LN(tok + pos + type); head: logits[B,L] = cls(tanh(pool(x_L[b, 0])));
 *       loss = CE (L >= 2, label smoothing) or MSE on logits[:,0] (L = 1).
 * gpt2: x0 = tok + pos; head: logits[N,V] = LNf(x_L) @ tok^T; loss = token CE weighted by
 *       the batch's loss mask (label smoothing).
 * llama: the whole pass lives in llama.c (its own block, RMSNorm, rotary positions).
 * Also the two pieces every block family shares with decoding (infer.c): the embeddings of a
 * pass (per-sequence positions when decoding) and its attention (over the pass itself, or
 * appended to and read from the key/value cache). */
#include <string.h>

#include "model_internal.h"

/* A batch of B x T tokens, T <= T_max (padded to its longest example), valid ids and labels. */
static pst_err check_batch(const pst_model *m, const pst_batch *bt) {
  const int decoder = m->arch != ARCH_BERT;
  if (bt->B != m->B || bt->T < 1 || bt->T > m->T_max)
    PST_ERR(PST_ERR_ARG, "batch shape %dx%d does not fit the model's %dx(1..%d)", bt->B, bt->T, m->B, m->T_max);
  for (int n = 0; n < bt->B * bt->T; n++) {
    if (bt->input_ids[n] < 0 || bt->input_ids[n] >= m->V)
      PST_ERR(PST_ERR_ARG, "token id %d at batch position %d is outside the vocabulary [0, %d)", bt->input_ids[n], n, m->V);
    if (!decoder && bt->token_type_ids &&
        (bt->token_type_ids[n] < 0 || bt->token_type_ids[n] >= m->cfg.type_vocab))
      PST_ERR(PST_ERR_ARG, "token type %d at batch position %d is outside [0, %d)", bt->token_type_ids[n], n,
              m->cfg.type_vocab);
    if (decoder && bt->loss_mask[n] != 0 && (bt->targets[n] < 0 || bt->targets[n] >= m->V))
      PST_ERR(PST_ERR_ARG, "target id %d at batch position %d is outside the vocabulary", bt->targets[n], n);
  }
  if (!decoder && m->NL > 1)
    for (int b = 0; b < m->B; b++)
      if (bt->labels[b] < 0 || bt->labels[b] >= m->NL)
        PST_ERR(PST_ERR_ARG, "label %d of sequence %d is outside [0, %d)", bt->labels[b], b, m->NL);
  return PST_OK;
}

pst_pass pst_model_train_pass(const pst_model *m) { return (pst_pass){m->B, m->T, m->N, NULL, NULL, 0}; }

void pst_model_embed(pst_model *m, const pst_pass *p, const int32_t *ids, const int32_t *type_ids) {
  const int C = m->C;
  if (m->arch == ARCH_LLAMA) { /* no position table: rotary positions live in the attention */
    embedding_forward(m->x0, ids, NULL, m->emb_tok, NULL, NULL, p->B, p->T, C);
    return;
  }
  const float *pos = m->emb_pos + (long)m->cfg.position_offset * C; /* RoBERTa-style offsets */
  if (m->gpt2 && p->cached) { /* sequence b's first new token at position pos[b] */
    for (int b = 0; b < p->B; b++)
      embedding_forward(m->x0 + (long)b * p->T * C, ids + (long)b * p->T, NULL, m->emb_tok,
                        pos + (long)p->pos[b] * C, NULL, 1, p->T, C);
  } else if (m->gpt2) {
    embedding_forward(m->x0, ids, NULL, m->emb_tok, pos, NULL, p->B, p->T, C);
  } else {
    embedding_forward(m->emb_sum, ids, type_ids, m->emb_tok, pos, m->emb_type, p->B, p->T, C);
    layernorm_forward(m->x0, m->emb_mean, m->emb_rstd, m->emb_sum, m->emb_ln_w, m->emb_ln_b, p->N, C, m->ln_eps);
  }
}

void pst_model_attend(pst_model *m, int l, const pst_pass *p, float *ctx, float *probs, const float *q,
                      const float *k, const float *v) {
  if (!p->cached) {
    attention_forward(ctx, probs, q, k, v, m->cur_attn_mask, m->arch != ARCH_BERT, p->B, p->T, m->Cl, m->NHl,
                      m->KVl);
    return;
  }
  const long Kl = m->Kl, layer = (long)l * m->kv_rows * m->kv_Tmax * Kl;
  float *kc = m->kv_k + layer, *vc = m->kv_v + layer;
  for (int b = 0; b < p->B; b++) {
    const long at = ((long)p->slot[b] * m->kv_Tmax + p->pos[b]) * Kl, from = (long)b * p->T * Kl;
    memcpy(kc + at, k + from, (size_t)p->T * Kl * sizeof(float));
    memcpy(vc + at, v + from, (size_t)p->T * Kl * sizeof(float));
  }
  attention_cached_forward(ctx, q, kc, vc, p->slot, p->pos, p->B, p->T, m->kv_Tmax, m->Cl, m->NHl, m->KVl,
                           m->att_scratch);
}

pst_err pst_model_forward(pst_model *m, const pst_batch *bt, double *loss) {
  if (m->infer) PST_ERR(PST_ERR_ARG, "the model is decoding (pst_model_infer_begin): call pst_model_infer_end first");
  PST_CHECK(check_batch(m, bt));
  m->T = bt->T; /* this batch's length: every op of the pass and of its backward reads it */
  m->N = m->B * m->T;
  const int N = m->N, C = m->C, B = m->B, T = m->T;
  m->cur_attn_mask = bt->attn_mask;
  if (m->arch == ARCH_LLAMA) {
    *loss = pst_llama_forward(m, bt);
    if (*loss != *loss) PST_ERR(PST_ERR_NUMERIC, "the loss is NaN");
    return PST_OK;
  }
  const pst_pass p = pst_model_train_pass(m);
  pst_model_embed(m, &p, bt->input_ids, bt->token_type_ids);
  for (int l = 0; l < m->cfg.layers; l++) pst_block_forward(m, l, &p);
  const float *xL = m->acts[m->cfg.layers - 1].out;
  if (m->gpt2) {
    layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, xL, m->lnf_w, m->lnf_b, N, C, m->ln_eps);
    matmul_forward(m->logits, m->lnf, m->emb_tok, NULL, N, C, m->V);
    *loss = crossentropy_forward(m->logits, bt->targets, bt->loss_mask, N, m->V, (float)m->cfg.label_smoothing);
  } else {
    for (int b = 0; b < B; b++) memcpy(m->cls_in + (long)b * C, xL + (long)b * T * C, (size_t)C * sizeof(float));
    matmul_forward(m->pool_pre, m->cls_in, m->pool_w, m->pool_b, B, C, C);
    tanh_forward(m->pooled, m->pool_pre, (long)B * C);
    matmul_forward(m->logits, m->pooled, m->cls_w, m->cls_b, B, C, m->NL);
    if (m->NL == 1) {
      float pred[B];
      for (int b = 0; b < B; b++) pred[b] = m->logits[b];
      *loss = mse_forward(pred, bt->labels_f, B);
    } else {
      *loss = crossentropy_forward(m->logits, bt->labels, NULL, B, m->NL, (float)m->cfg.label_smoothing);
    }
  }
  if (*loss != *loss) PST_ERR(PST_ERR_NUMERIC, "the loss is NaN");
  return PST_OK;
}

/* The embeddings' gradients from d_out = dL/d x0 (training every tensor): gpt2 x0 = tok + pos;
 * bert x0 = LN(tok + pos + type), the LN's input gradient into d_ln first. */
static void embeddings_backward(pst_model *m, const pst_batch *bt) {
  const int N = m->N, C = m->C;
  float *dpos = m->d_emb_pos + (long)m->cfg.position_offset * C;
  if (m->gpt2) {
    embedding_backward(m->d_emb_tok, dpos, NULL, m->d_out, bt->input_ids, NULL, m->B, m->T, C);
    return;
  }
  memset(m->d_ln, 0, (size_t)N * C * sizeof(float));
  layernorm_backward(m->d_ln, m->d_emb_ln_w, m->d_emb_ln_b, m->d_out, m->emb_sum, m->emb_ln_w, m->emb_mean, m->emb_rstd,
                     N, C);
  embedding_backward(m->d_emb_tok, dpos, m->d_emb_type, m->d_ln, bt->input_ids, bt->token_type_ids, m->B, m->T, C);
}

pst_err pst_model_backward(pst_model *m, const pst_batch *bt, float dloss) {
  if (m->infer) PST_ERR(PST_ERR_ARG, "the model is decoding: there is no backward pass to run");
  if (bt->B != m->B || bt->T != m->T)
    PST_ERR(PST_ERR_ARG, "backward of a %dx%d batch after a forward of %dx%d", bt->B, bt->T, m->B, m->T);
  if (m->arch == ARCH_LLAMA) {
    pst_llama_backward(m, bt, dloss);
    return PST_OK;
  }
  const int N = m->N, C = m->C, B = m->B, T = m->T;
  const long NC = (long)N * C;
  memset(m->d_out, 0, (size_t)NC * sizeof(float));
  const float *xL = m->acts[m->cfg.layers - 1].out;
  if (m->gpt2) {
    long nlog = (long)N * m->V;
    memset(m->d_logits, 0, (size_t)nlog * sizeof(float));
    crossentropy_backward(m->d_logits, m->logits, bt->targets, bt->loss_mask, N, m->V,
                          (float)m->cfg.label_smoothing, dloss);
    memset(m->d_in, 0, (size_t)NC * sizeof(float));
    matmul_backward(m->d_in, m->d_emb_tok, NULL, m->d_logits, m->lnf, m->emb_tok, N, C, m->V); /* tied head */
    layernorm_backward(m->d_out, m->d_lnf_w, m->d_lnf_b, m->d_in, xL, m->lnf_w, m->lnf_mean, m->lnf_rstd, N, C);
  } else {
    memset(m->d_logits, 0, (size_t)B * m->NL * sizeof(float));
    if (m->NL == 1) {
      float pred[B], dpred[B];
      for (int b = 0; b < B; b++) pred[b] = m->logits[b], dpred[b] = 0.f;
      mse_backward(dpred, pred, bt->labels_f, B, dloss);
      for (int b = 0; b < B; b++) m->d_logits[b] = dpred[b];
    } else {
      crossentropy_backward(m->d_logits, m->logits, bt->labels, NULL, B, m->NL, (float)m->cfg.label_smoothing, dloss);
    }
    memset(m->d_pooled, 0, (size_t)B * C * sizeof(float));
    memset(m->d_pool_pre, 0, (size_t)B * C * sizeof(float));
    memset(m->d_cls_in, 0, (size_t)B * C * sizeof(float));
    matmul_backward(m->d_pooled, m->dcls_w, m->dcls_b, m->d_logits, m->pooled, m->cls_w, B, C, m->NL);
    tanh_backward(m->d_pool_pre, m->pooled, m->d_pooled, (long)B * C);
    matmul_backward(m->d_cls_in, m->dpool_w, m->dpool_b, m->d_pool_pre, m->cls_in, m->pool_w, B, C, C);
    for (int b = 0; b < B; b++) memcpy(m->d_out + (long)b * T * C, m->d_cls_in + (long)b * C, (size_t)C * sizeof(float));
  }
  for (int l = m->cfg.layers - 1; l >= 0; l--) {
    pst_block_backward(m, l, l > 0 || m->train_all);
    float *t = m->d_out; /* block l's input gradient is block l-1's output gradient */
    m->d_out = m->d_in;
    m->d_in = t;
  }
  if (m->train_all) embeddings_backward(m, bt);
  return PST_OK;
}
