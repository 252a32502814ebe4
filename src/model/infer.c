/* infer.c — decoding with a key/value cache: the same blocks as training (block.c for GPT-2,
 * llama.c for the LLaMA family) run over passes of new tokens (model_internal.h, pst_pass)
 * whose keys and values are appended to a per-layer cache [rows, Tmax, Kl]; the head runs on
 * one hidden row per sequence (the token whose next-token logits are wanted).
 * Weights: each layer's M ⊙ W' is computed once (fold.c: CSR in pst_linear.W_sp where
 * eval.sparse picks the sparse kernels, else dense in W_inf), so a pass costs one matrix
 * product per layer, as in any inference engine. BERT (an encoder) does not decode. */
#include <omp.h>
#include <string.h>

#include "model_internal.h"
#include "pst/blas.h"

void pst_model_infer_free(pst_model *m) {
  pst_model_unfold_weights(m);
  pst_free(m->kv_k);
  pst_free(m->kv_v);
  pst_free(m->kv_tmp);
  pst_free(m->att_scratch);
  m->kv_k = m->kv_v = m->kv_tmp = m->att_scratch = NULL;
}

int pst_model_vocab(const pst_model *m) { return m->V; }

int pst_model_max_positions(const pst_model *m) { return m->cfg.max_positions - m->cfg.position_offset; }

pst_err pst_model_infer_begin(pst_model *m, int rows, int max_len, int max_tokens) {
  if (m->arch == ARCH_BERT) PST_ERR(PST_ERR_ARG, "model.arch = bert is an encoder: it cannot generate text");
  if (m->infer) PST_ERR(PST_ERR_ARG, "the model is already decoding");
  if (rows <= 0 || max_len <= 0 || max_tokens <= 0)
    PST_ERR(PST_ERR_ARG, "decoding needs rows, max_len, max_tokens > 0 (got %d, %d, %d)", rows, max_len, max_tokens);
  if (max_len > pst_model_max_positions(m))
    PST_ERR(PST_ERR_ARG, "%d positions (prompt + new tokens) exceed the model's %d (model.max_positions)", max_len,
            pst_model_max_positions(m));
  m->blas_threads = pst_blas_get_threads();
  pst_blas_set_threads(1); /* the products split their rows over OpenMP (matmul_forward_split) */
  pst_model_free_activations(m);
  m->train_B = m->B;
  m->train_T = m->T_max;
  m->infer = 1;
  m->B = rows;
  m->T = max_len; /* the rotary table covers every cached position */
  m->N = max_tokens;
  m->kv_rows = rows;
  m->kv_Tmax = max_len;
  const size_t cache = (size_t)m->cfg.layers * rows * max_len * m->Kl;
  pst_err rc;
  /* decoding steps (one token per sequence) dominate: the sparse/dense choice is theirs */
  if ((rc = pst_model_fold_weights(m, rows, 1)) || (rc = pst_model_alloc_activations(m)) || (rc = pst_calloc((void **)&m->kv_k, cache, sizeof(float), "key cache")) ||
      (rc = pst_calloc((void **)&m->kv_v, cache, sizeof(float), "value cache")) ||
      (rc = pst_calloc((void **)&m->kv_tmp, (size_t)rows * max_len * m->Kl, sizeof(float), "cache reorder buffer")) ||
      (rc = pst_calloc((void **)&m->att_scratch, (size_t)omp_get_max_threads() * max_len, sizeof(float),
                       "attention scratch")))
    goto fail;
  return PST_OK;
fail:
  pst_err_trace(__FILE__, __LINE__, __func__);
  if (pst_model_infer_end(m)) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_model_infer_end(pst_model *m) {
  const int was = m->infer;
  pst_model_infer_free(m);
  if (was && m->blas_threads > 0) pst_blas_set_threads(m->blas_threads);
  if (!m->infer) return PST_OK;
  pst_model_free_activations(m);
  m->infer = 0;
  m->B = m->train_B;
  m->T = m->train_T;
  m->N = m->B * m->T;
  return pst_model_alloc_activations(m);
}

pst_err pst_model_infer(pst_model *m, int B, int T, const int32_t *ids, const int32_t *slot, const int32_t *pos,
                        const int32_t *last, float *logits) {
  if (!m->infer) PST_ERR(PST_ERR_ARG, "pst_model_infer before pst_model_infer_begin");
  if (B <= 0 || T <= 0 || B > m->B || (long)B * T > m->N)
    PST_ERR(PST_ERR_ARG, "a decoding pass of %d x %d tokens exceeds the %d sequences / %d tokens reserved", B, T,
            m->B, m->N);
  for (int b = 0; b < B; b++) {
    if (slot[b] < 0 || slot[b] >= m->kv_rows) PST_ERR(PST_ERR_ARG, "cache row %d is outside [0, %d)", slot[b], m->kv_rows);
    if (pos[b] < 0 || pos[b] + T > m->kv_Tmax)
      PST_ERR(PST_ERR_ARG, "positions %d..%d of sequence %d exceed the cache's %d", pos[b], pos[b] + T - 1, b,
              m->kv_Tmax);
    if (last[b] < 0 || last[b] >= T) PST_ERR(PST_ERR_ARG, "last token %d of sequence %d is outside [0, %d)", last[b], b, T);
  }
  for (long n = 0; n < (long)B * T; n++)
    if (ids[n] < 0 || ids[n] >= m->V)
      PST_ERR(PST_ERR_ARG, "token id %d at pass position %ld is outside the vocabulary [0, %d)", ids[n], n, m->V);
  const pst_pass p = {B, T, B * T, pos, slot, 1};
  const int C = m->C;
  if (m->arch == ARCH_LLAMA) {
    pst_llama_body(m, &p, ids);
  } else {
    pst_model_embed(m, &p, ids, NULL);
    for (int l = 0; l < m->cfg.layers; l++) pst_block_forward(m, l, &p);
  }
  /* final norm and head on one row per sequence (every layer's out is x0 when decoding) */
  float *rows = m->arch == ARCH_LLAMA ? m->lacts[0].ln1 : m->acts[0].lnA; /* [B,C], dead after the blocks */
  for (int b = 0; b < B; b++)
    memcpy(rows + (long)b * C, m->x0 + ((long)b * T + last[b]) * C, (size_t)C * sizeof(float));
  if (m->arch == ARCH_LLAMA) rmsnorm_forward(m->lnf, m->lnf_rstd, rows, m->lnf_w, B, C, m->ln_eps);
  else layernorm_forward(m->lnf, m->lnf_mean, m->lnf_rstd, rows, m->lnf_w, m->lnf_b, B, C, m->ln_eps);
  matmul_forward_split(logits, m->lnf, m->head_w ? m->head_w : m->emb_tok, NULL, B, C, m->V);
  return PST_OK;
}

void pst_model_cache_reorder(pst_model *m, const int32_t *src, int n, int len) {
  const size_t Kl = (size_t)m->Kl, row = (size_t)m->kv_Tmax * Kl, used = (size_t)len * Kl;
  for (int l = 0; l < m->cfg.layers; l++)
    for (int kv = 0; kv < 2; kv++) {
      float *c = (kv ? m->kv_v : m->kv_k) + (size_t)l * m->kv_rows * row;
      for (int i = 0; i < n; i++)
        if (src[i] != i) memcpy(m->kv_tmp + i * row, c + (size_t)src[i] * row, used * sizeof(float));
      for (int i = 0; i < n; i++)
        if (src[i] != i) memcpy(c + i * row, m->kv_tmp + i * row, used * sizeof(float));
    }
}
