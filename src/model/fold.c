/* fold.c — the weights that inference runs on: each masked linear's M ⊙ W' as CSR
 * (pst_linear.W_sp, include/pst/sparse.h) where eval.sparse says so, the others folded dense
 * (pst_linear.W_inf) for decoding or left on the training path for evaluation.
 *
 * Decision per layer (eval.sparse): auto = the kept share (mask ones / m n, this rank's shard)
 * is below the crossover bench/bench_spmm measured for products of `rows` tokens
 * (pst_sparse_pays); on = every masked layer; off = none. Methods without a mask (dense,
 * lora) never go sparse. Sparse layers hold no dense copy of M ⊙ W'. Inference-only models
 * loaded from a sparse file (export.h) keep their CSR through every fold (w_sp_fixed). */
#include <stdio.h>
#include <string.h>

#include "model_internal.h"

/* The CSR that linear i of an inference-only model runs on for good, or NULL. */
static const pst_csr *fixed(const pst_model *m, int i) {
  return m->w_sp_fixed && m->w_sp_fixed[i].rowptr ? &m->w_sp_fixed[i] : NULL;
}

void pst_model_unfold_weights(pst_model *m) {
  const int nl = m->blocks ? m->cfg.layers * m->nlin : 0; /* blocks is NULL when creation failed early */
  for (int i = 0; i < nl; i++) {
    pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
    L->W_inf = NULL;
    L->W_sp = fixed(m, i);
    if (m->w_sp) pst_csr_free(&m->w_sp[i]);
  }
  pst_free(m->w_sp);
  pst_free(m->w_inf);
  pst_free(m->scratch.sp);
  m->w_sp = NULL;
  m->w_inf = m->scratch.sp = NULL;
  m->scratch.sp_cap = 0;
}

/* Whether linear L runs sparse for products of `rows` tokens under eval.sparse. */
static int goes_sparse(const pst_model *m, const pst_linear *L, int rows) {
  if (!L->mask || !strcmp(m->cfg.eval_sparse, "off") || L->n > PST_CSR_MAX_COLS) return 0;
  if (!strcmp(m->cfg.eval_sparse, "on")) return 1;
  return pst_sparse_pays((double)pst_linear_nnz(L) / ((double)L->m * L->n), rows);
}

pst_err pst_model_fold_weights(pst_model *m, int rows, int fold_dense) {
  pst_model_unfold_weights(m);
  const int nl = m->cfg.layers * m->nlin;
  const int trivial = !m->lopts.method->lowrank_w && m->lopts.method->mask == PST_MASK_NONE;
  size_t dense_total = 0, sp_cap = 0;
  int nsparse = 0;
  for (int i = 0; i < nl; i++) {
    const pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
    if (fixed(m, i) || goes_sparse(m, L, rows)) {
      nsparse++;
      /* passes of up to m->N tokens (decoding) or B x T_max (evaluation) */
      const size_t need = spmm_scratch_floats(m->infer ? m->N : m->B * m->T_max, L->m, L->n);
      if (need > sp_cap) sp_cap = need;
    } else if (fold_dense && !trivial) {
      dense_total += (size_t)L->m * L->n;
    }
  }
  pst_err rc = PST_OK;
  if (nsparse && (rc = pst_calloc((void **)&m->w_sp, (size_t)nl, sizeof(pst_csr), "sparse weights"))) goto fail;
  if (sp_cap && (rc = pst_calloc((void **)&m->scratch.sp, sp_cap, sizeof(float), "sparse product scratch"))) goto fail;
  m->scratch.sp_cap = sp_cap;
  if (dense_total && (rc = pst_calloc((void **)&m->w_inf, dense_total, sizeof(float), "folded weights"))) goto fail;
  float *p = m->w_inf;
  for (int i = 0; i < nl; i++) {
    pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
    if (fixed(m, i)) {
      L->W_sp = fixed(m, i);
    } else if (goes_sparse(m, L, rows)) {
      /* the effective weight through the layer scratch (w1 holds max m n floats) */
      pst_linear_effective(L, &m->lopts, m->scratch.w1, &m->scratch);
      if ((rc = pst_csr_from_dense(&m->w_sp[i], m->scratch.w1, L->m, L->n, pst_model_linear_name(m, i)))) goto fail;
      L->W_sp = &m->w_sp[i];
    } else if (fold_dense && trivial) {
      L->W_inf = L->W0;
    } else if (fold_dense) {
      pst_linear_effective(L, &m->lopts, p, &m->scratch);
      L->W_inf = p;
      p += (size_t)L->m * L->n;
    }
  }
  pst_log(2, "pst: %d of %d linears on sparse weights (eval.sparse = %s, products of %d tokens)\n", nsparse, nl,
          m->cfg.eval_sparse, rows);
  return PST_OK;
fail:
  pst_err_trace(__FILE__, __LINE__, __func__);
  pst_model_unfold_weights(m);
  return rc;
}

pst_err pst_model_set_sparse(pst_model *m, int i, const pst_csr *a, const char *origin) {
  const int nl = m->cfg.layers * m->nlin;
  if (i < 0 || i >= nl) PST_ERR(PST_ERR_ARG, "linear %d is outside [0, %d)", i, nl);
  if (pst_group_active(&m->tp)) PST_ERR(PST_ERR_ARG, "sparse weights from a file need one process (dist.tp = 1)");
  pst_linear *L = &m->blocks[i / m->nlin].lin[i % m->nlin];
  char what[PST_PATH_MAX + 112];
  snprintf(what, sizeof what, "%s: %s", origin, pst_model_linear_name(m, i));
  PST_CHECK(pst_csr_validate(a, L->m, L->n, what));
  if (!m->w_sp_fixed) PST_CHECK(pst_calloc((void **)&m->w_sp_fixed, (size_t)nl, sizeof(pst_csr), "sparse weights"));
  m->w_sp_fixed[i] = *a;
  m->w_sp_fixed[i].owned = 0;
  L->W_sp = &m->w_sp_fixed[i];
  return PST_OK;
}

void pst_model_set_sparse_mode(pst_model *m, const char *mode) {
  snprintf(m->cfg.eval_sparse, sizeof m->cfg.eval_sparse, "%s", mode);
}

void pst_model_hold(pst_model *m, void *handle, void (*release)(void *)) {
  m->held = handle;
  m->held_release = release;
}

void pst_model_sparse_share(const pst_model *m, long *sparse_layers, long *layers) {
  *sparse_layers = *layers = 0;
  for (int i = 0; m->blocks && i < m->cfg.layers * m->nlin; i++) {
    (*layers)++;
    *sparse_layers += m->blocks[i / m->nlin].lin[i % m->nlin].W_sp != NULL;
  }
}
