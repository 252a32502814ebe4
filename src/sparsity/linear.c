/* linear.c — forward, backward and mask update of the sparsified linear layer (linear.h).
 *
 * Speed: a PST layer's extra work is element-wise over its m x n weight (W', S, the factor
 * gradients), so it is memory-bound. Every such pass here is one fused sweep over the rows:
 * W'[i,:] = W0[i,:] + beta U[i,:] V is rebuilt in a per-thread row buffer (V stays in cache)
 * instead of being stored, and the factor gradients are accumulated from that row while it
 * is in L1 (dot products for dA, dU, dR; per-thread column partials for dB, dV, dC). The
 * large products (y = x Wm^T, dx = dy Wm, G = dy^T x) go to sgemm.
 * Float order follows the reference where it decides masks: S = (|W'| + alpha1 (A B)) +
 * alpha2 (R_i + C_j), with W' = W0 + beta (U V). */
#include "pst/linear.h"
#include "pst/kernels.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "pst/rng.h"
#include "pst/sparsity.h"

pst_err pst_linear_register(pst_linear *L, const pst_linear_opts *o, const char *prefix, int gm, int gn,
                            int has_bias, const pst_linear_shard *sh, pst_params *frozen, pst_params *train) {
  const pst_method *me = o->method;
  const int par = sh ? sh->par : PST_PAR_NONE, tp = sh ? sh->tp_size : 1, rank = sh ? sh->tp_rank : 0;
  const int col = par == PST_PAR_COLUMN && tp > 1, row = par == PST_PAR_ROW && tp > 1;
  char nm[96];
  memset(L, 0, sizeof *L);
  if ((col && gm % tp) || (row && gn % tp))
    PST_ERR(PST_ERR_CONFIG, "%s: %d %s do not split over dist.tp = %d ranks", prefix, col ? gm : gn,
            col ? "output features" : "input features", tp);
  L->gm = gm;
  L->gn = gn;
  L->par = par;
  L->m = col ? gm / tp : gm;
  L->n = row ? gn / tp : gn;
  L->row0 = col ? rank * L->m : 0;
  L->col0 = row ? rank * L->n : 0;
  L->add_bias = has_bias && !(row && rank > 0);
  const int m = L->m, n = L->n;
  /* the tensor just added: a row (col) or column (row) slice, or a replicated factor whose
   * gradient is a per-rank partial sum */
#define ROWS(p) do { if (col) pst_params_shard_last(p, 0, L->row0, gm); } while (0)
#define COLS(p, dim) do { if (row) pst_params_shard_last(p, dim, L->col0, gn); } while (0)
#define PARTIAL_IF(c) do { if (c) pst_params_partial_last(train); } while (0)
#define NAME(suffix) (snprintf(nm, sizeof nm, "%s.%s", prefix, suffix), nm)
  pst_params *wt = me->train_w ? train : frozen;
  PST_CHECK(pst_params_add(wt, NAME("w"), 2, m, n, me->train_w, 1, &L->W0, me->train_w ? &L->dW0 : NULL));
  ROWS(wt);
  COLS(wt, 1);
  if (has_bias) { /* trains with W0; a row-parallel bias is replicated and every rank has its whole gradient */
    PST_CHECK(pst_params_add(wt, NAME("b"), 1, m, 0, 0, 1, &L->bias, me->train_w ? &L->dbias : NULL));
    ROWS(wt);
  }
  if (me->lowrank_w) {
    PST_CHECK(pst_params_add(train, NAME("U"), 2, m, o->r2, 1, 0, &L->U, &L->dU));
    ROWS(train);
    PARTIAL_IF(row);
    PST_CHECK(pst_params_add(train, NAME("V"), 2, o->r2, n, 1, 0, &L->V, &L->dV));
    COLS(train, 1);
    PARTIAL_IF(col);
  }
  if (me->score_lowrank) {
    PST_CHECK(pst_params_add(train, NAME("A"), 2, m, o->r1, 1, 0, &L->A, &L->dA));
    ROWS(train);
    PARTIAL_IF(row);
    PST_CHECK(pst_params_add(train, NAME("B"), 2, o->r1, n, 1, 0, &L->B, &L->dB));
    COLS(train, 1);
    PARTIAL_IF(col);
    PST_CHECK(pst_params_add(train, NAME("R"), 1, m, 0, 0, 0, &L->R, &L->dR));
    ROWS(train);
    PARTIAL_IF(row);
    PST_CHECK(pst_params_add(train, NAME("C"), 1, n, 0, 0, 0, &L->C, &L->dC));
    COLS(train, 0);
    PARTIAL_IF(col);
  }
  if (me->score_full) {
    PST_CHECK(pst_params_add(train, NAME("S"), 2, m, n, 1, 0, &L->S, &L->dS));
    ROWS(train);
    COLS(train, 1);
  }
#undef NAME
#undef PARTIAL_IF
#undef COLS
#undef ROWS
  return PST_OK;
}

void pst_linear_init_trainables(pst_linear *L, const pst_linear_opts *o, uint64_t seed, const char *prefix) {
  char nm[96];
  /* U, A are [gm, r]: this shard's rows are the counters from row0 * r on */
  if (L->U) {
    snprintf(nm, sizeof nm, "%s.U", prefix);
    pst_rng_normal_at(L->U, (size_t)L->m * o->r2, (uint64_t)L->row0 * o->r2, 0.f, 1.f, seed, pst_rng_stream(nm));
  }
  if (L->A) {
    snprintf(nm, sizeof nm, "%s.A", prefix);
    pst_rng_normal_at(L->A, (size_t)L->m * o->r1, (uint64_t)L->row0 * o->r1, 0.f, 1.f, seed, pst_rng_stream(nm));
  }
  /* V, B, R, C, S stay zero (the buffer is zero-initialised) */
}

pst_err pst_linear_scratch_alloc(pst_linear_scratch *s, long max_mn, long max_dim, int max_rank) {
  memset(s, 0, sizeof *s);
  s->nthreads = omp_get_max_threads();
  s->cap = max_mn;
  s->max_dim = max_dim;
  s->max_rank = max_rank;
  PST_CHECK(pst_calloc((void **)&s->w1, (size_t)max_mn, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->w2, (size_t)max_mn, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->rows, (size_t)s->nthreads * 2 * max_dim, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->partial, (size_t)s->nthreads * (2 * max_rank + 1) * max_dim, sizeof(float),
                       "layer scratch"));
  return PST_OK;
}

void pst_linear_scratch_free(pst_linear_scratch *s) {
  pst_free(s->w1);
  pst_free(s->w2);
  pst_free(s->rows);
  pst_free(s->partial);
  pst_free(s->sp);
  memset(s, 0, sizeof *s);
}

/* ---- row kernels (n = row length; vectorised loops, no reassociation except omp simd dots).
 * Compiled for AVX-512, AVX2 and baseline x86-64, picked at load time (GCC target_clones).
 * ISO C mode keeps -ffp-contract=off, so no clone fuses a*b+c: element-wise results are the
 * same on every clone; only the omp simd dot products' summation splits differ. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ROW_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define ROW_KERNEL
#endif

/* acc[j] = sum_k a[k] X[k,j] for k < r (X row-major [r,n]), summed in k order. */
static inline void small_product_row(float *restrict acc, const float *restrict a, const float *restrict X, int r, int n) {
  memset(acc, 0, (size_t)n * sizeof(float));
  for (int k = 0; k < r; k++) {
    const float ak = a[k];
    const float *restrict x = X + (long)k * n;
#pragma omp simd
    for (int j = 0; j < n; j++) acc[j] += ak * x[j];
  }
}

/* row[j] = W'[i,j] = W0[i,j] + beta (U V)[i,j]; W0[i,j] for the methods that train W0 itself */
static inline void wprime_row(float *restrict row, const pst_linear *L, const pst_linear_opts *o, int i) {
  const int n = L->n;
  const float *restrict w0 = L->W0 + (long)i * n;
  if (!L->U) {
    memcpy(row, w0, (size_t)n * sizeof(float));
    return;
  }
  small_product_row(row, L->U + (long)i * o->r2, L->V, o->r2, n);
  const float beta = o->beta;
#pragma omp simd
  for (int j = 0; j < n; j++) row[j] = w0[j] + beta * row[j];
}

static inline float dot(const float *restrict a, const float *restrict b, int n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < n; j++) s += a[j] * b[j];
  return s;
}

/* y[j] += a x[j] */
static inline void axpy(float *restrict y, float a, const float *restrict x, int n) {
#pragma omp simd
  for (int j = 0; j < n; j++) y[j] += a * x[j];
}

static int nthreads_for(const pst_linear_scratch *s) {
  int t = omp_get_max_threads();
  return t < s->nthreads ? t : s->nthreads;
}

/* Row i of the score: row = (|W'| + alpha1 A B) + alpha2 (R_i + C) or |W'|; ab: [n] buffer. */
ROW_KERNEL static void score_row(float *restrict row, float *restrict ab, const pst_linear *L,
                                 const pst_linear_opts *o, int i) {
  const int n = L->n;
  wprime_row(row, L, o, i);
  if (o->method->score_lowrank) {
    small_product_row(ab, L->A + (long)i * o->r1, L->B, o->r1, n);
    const float r = L->R[i], a1 = o->alpha1, a2 = o->alpha2;
    const float *restrict C = L->C;
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] = (fabsf(row[j]) + a1 * ab[j]) + a2 * (r + C[j]);
  } else {
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] = fabsf(row[j]);
  }
}

/* Row i of the effective weight: row = M ⊙ W' (W' without a mask). */
ROW_KERNEL static void effective_row(float *restrict row, const pst_linear *L, const pst_linear_opts *o, int i) {
  const int n = L->n;
  wprime_row(row, L, o, i);
  if (L->mask) {
    const uint8_t *restrict mr = L->mask + (long)i * n;
#pragma omp simd
    for (int j = 0; j < n; j++) row[j] = mr[j] ? row[j] : 0.0f;
  }
}

void pst_linear_score(const pst_linear *L, const pst_linear_opts *o, float *out, pst_linear_scratch *s) {
  const int m = L->m, n = L->n;
  if (o->method->score_full) {
    memcpy(out, L->S, (size_t)m * n * sizeof(float));
    return;
  }
  /* S = (|W0 + beta UV| + alpha1 A B) + alpha2 (R_i + C_j), row by row */
#pragma omp parallel num_threads(nthreads_for(s))
  {
    float *ab = s->rows + (size_t)omp_get_thread_num() * 2 * s->max_dim;
#pragma omp for schedule(static)
    for (int i = 0; i < m; i++) score_row(out + (long)i * n, ab, L, o, i);
  }
}

pst_err pst_linear_update_mask(pst_linear *L, const pst_linear_opts *o, double sparsity, pst_linear_scratch *s) {
  const pst_method *me = o->method;
  if (me->mask == PST_MASK_NONE) return PST_OK;
  const long mn = (long)L->m * L->n;
  const float *score = L->S;
  if (!me->score_full) {
    pst_linear_score(L, o, s->w1, s);
    score = s->w1;
  }
  if (me->mask == PST_MASK_TOPK) {
    PST_CHECK(pst_topk_mask(L->mask, score, mn, pst_keep_count(mn, sparsity)));
  } else {
    const float th = o->threshold;
    long nan_at = -1;
    for (long ij = 0; ij < mn; ij++) {
      if (score[ij] != score[ij] && nan_at < 0) nan_at = ij;
      L->mask[ij] = score[ij] > th;
    }
    if (nan_at >= 0) PST_ERR(PST_ERR_NUMERIC, "soft-movement: score %ld is NaN", nan_at);
  }
  return PST_OK;
}

/* The effective weight M ⊙ W' [m,n]: W0 itself for dense, else rebuilt into s->w1. */
static const float *effective_weight(const pst_linear *L, const pst_linear_opts *o, pst_linear_scratch *s) {
  if (!o->method->lowrank_w && !L->mask) return L->W0;
  pst_linear_effective(L, o, s->w1, s);
  return s->w1;
}

void pst_linear_effective(const pst_linear *L, const pst_linear_opts *o, float *out, pst_linear_scratch *s) {
  const int m = L->m, n = L->n;
  if (!o->method->lowrank_w && !L->mask) {
    memcpy(out, L->W0, (size_t)m * n * sizeof(float));
    return;
  }
#pragma omp parallel for schedule(static) num_threads(nthreads_for(s))
  for (int i = 0; i < m; i++) effective_row(out + (long)i * n, L, o, i);
}

void pst_linear_forward(const pst_linear *L, const pst_linear_opts *o, float *out, const float *inp, int N,
                        pst_linear_scratch *s) {
  if (L->W_sp) { /* inference on the sparse weight */
    spmm_forward(out, inp, L->W_sp, L->add_bias ? L->bias : NULL, N, s->sp);
    return;
  }
  if (L->W_inf) { /* decoding: the folded weight, rows split over the threads */
    matmul_forward_split(out, inp, L->W_inf, L->add_bias ? L->bias : NULL, N, L->n, L->m);
    return;
  }
  const float *w = effective_weight(L, o, s);
  const int m = L->m, n = L->n;
  if (L->add_bias) {
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) memcpy(out + (long)t * m, L->bias, (size_t)m * sizeof(float));
  } else {
    memset(out, 0, (size_t)N * m * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, m, n, 1.0f, inp, n, w, n, 1.0f, out, m);
}

/* One row i of factor_gradients: prow, drow are [n] row buffers; pdV [r2,n], pdB [r1,n],
 * pdC [n] this thread's column partials. */
ROW_KERNEL static void factor_row(pst_linear *L, const pst_linear_opts *o, const float *G, int i, float *restrict prow,
                                  float *restrict drow, float *restrict pdV, float *restrict pdB,
                                  float *restrict pdC) {
  const pst_method *me = o->method;
  const int n = L->n, r1 = o->r1, r2 = o->r2;
  const float through_abs = me->score_abs && !o->detach_magnitude ? 1.0f : 0.0f;
  const float *restrict g = G + (long)i * n;
  const float *d = g; /* dW' row */
  if (me->mask != PST_MASK_NONE) {
    wprime_row(prow, L, o, i); /* prow: W' row, then P row */
    const uint8_t *restrict mr = L->mask + (long)i * n;
#pragma omp simd
    for (int j = 0; j < n; j++) { /* branch-free, so it vectorises; every product is exact */
      const float w = prow[j], p = g[j] * w;
      const float sign = (float)((w > 0.0f) - (w < 0.0f));
      drow[j] = (float)mr[j] * g[j] + through_abs * (sign * p);
      prow[j] = p;
    }
    d = drow;
    if (me->score_lowrank) {
      float rs = 0.f;
#pragma omp simd reduction(+ : rs)
      for (int j = 0; j < n; j++) rs += prow[j];
      L->dR[i] += o->alpha2 * rs;
      axpy(pdC, 1.0f, prow, n);
      for (int k = 0; k < r1; k++) {
        L->dA[(long)i * r1 + k] += o->alpha1 * dot(prow, L->B + (long)k * n, n);
        axpy(pdB + (long)k * n, L->A[(long)i * r1 + k], prow, n);
      }
    }
    if (me->score_full) axpy(L->dS + (long)i * n, 1.0f, prow, n);
  }
  for (int k = 0; k < r2; k++) {
    L->dU[(long)i * r2 + k] += o->beta * dot(d, L->V + (long)k * n, n);
    axpy(pdV + (long)k * n, L->U[(long)i * r2 + k], d, n);
  }
}

/* The factor gradients from G [m,n], one fused sweep over the rows (see the file comment):
 *   P = G ⊙ W' (dL/dS), dW' = G ⊙ M [+ P ⊙ sign(W')]   (no mask: dW' = G)
 *   dA += alpha1 P B^T, dB += alpha1 A^T P, dR += alpha2 P 1, dC += alpha2 P^T 1, dS += P,
 *   dU += beta dW' V^T, dV += beta U^T dW'. */
static void factor_gradients(pst_linear *L, const pst_linear_opts *o, const float *G, pst_linear_scratch *s) {
  const pst_method *me = o->method;
  const int m = L->m, n = L->n, r1 = o->r1, r2 = o->r2;
  const int masked = me->mask != PST_MASK_NONE, lowrank_s = me->score_lowrank;
  const int nt = nthreads_for(s);
  const long part = (long)(2 * s->max_rank + 1) * n; /* per thread: dV [r2,n], dB [r1,n], dC [n] */
  memset(s->partial, 0, (size_t)nt * part * sizeof(float));
#pragma omp parallel num_threads(nt)
  {
    const int tid = omp_get_thread_num();
    float *prow = s->rows + (size_t)tid * 2 * s->max_dim, *drow = prow + s->max_dim;
    float *pdV = s->partial + (size_t)tid * part, *pdB = pdV + (long)r2 * n, *pdC = pdB + (long)r1 * n;
#pragma omp for schedule(static)
    for (int i = 0; i < m; i++) factor_row(L, o, G, i, prow, drow, pdV, pdB, pdC);
  }
  /* reduce the per-thread column partials (thread order fixed: deterministic) */
  for (int t = 0; t < nt; t++) {
    const float *pdV = s->partial + (size_t)t * part, *pdB = pdV + (long)r2 * n, *pdC = pdB + (long)r1 * n;
    axpy(L->dV, o->beta, pdV, r2 * n);
    if (masked && lowrank_s) {
      axpy(L->dB, o->alpha1, pdB, r1 * n);
      axpy(L->dC, o->alpha2, pdC, n);
    }
  }
}

/* W0 itself trains (dense, magnitude-full, movement-full), G = dout^T inp [m,n]:
 *   dW0 += G ⊙ M (G without a mask; the mask passes no gradient to W0 through |W0|),
 *   dS += G ⊙ W0 (movement-full: the straight-through score gradient), dbias += colsum(dout). */
static void full_weight_backward(pst_linear *L, const pst_linear_opts *o, float *dinp, const float *dout,
                                 const float *inp, int N, pst_linear_scratch *s) {
  const int m = L->m, n = L->n;
  if (dinp) {
    const float *w = effective_weight(L, o, s);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n, m, 1.0f, dout, m, w, n, 1.0f, dinp, n);
  }
  if (L->dbias) {
    for (int t = 0; t < N; t++) axpy(L->dbias, 1.0f, dout + (long)t * m, m);
  }
  if (!L->mask) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, N, 1.0f, dout, m, inp, n, 1.0f, L->dW0, n);
    return;
  }
  float *G = s->w2;
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, N, 1.0f, dout, m, inp, n, 0.0f, G, n);
  const long mn = (long)m * n;
  const uint8_t *restrict M = L->mask;
  float *restrict dW = L->dW0;
#pragma omp parallel for simd schedule(static) num_threads(nthreads_for(s))
  for (long ij = 0; ij < mn; ij++) dW[ij] += (float)M[ij] * G[ij];
  if (L->dS) {
    float *restrict dS = L->dS;
    const float *restrict W = L->W0;
#pragma omp parallel for simd schedule(static) num_threads(nthreads_for(s))
    for (long ij = 0; ij < mn; ij++) dS[ij] += G[ij] * W[ij];
  }
}

void pst_linear_backward(pst_linear *L, const pst_linear_opts *o, float *dinp, const float *dout,
                         const float *inp, int N, pst_linear_scratch *s) {
  const int m = L->m, n = L->n;
  if (o->method->train_w) {
    full_weight_backward(L, o, dinp, dout, inp, N, s);
    return;
  }
  if (dinp) {
    const float *w = effective_weight(L, o, s);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n, m, 1.0f, dout, m, w, n, 1.0f, dinp, n);
  }
  float *G = s->w2; /* G = dout^T inp [m,n] */
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, N, 1.0f, dout, m, inp, n, 0.0f, G, n);
  factor_gradients(L, o, G, s);
}

long pst_linear_nnz(const pst_linear *L) {
  long mn = (long)L->m * L->n;
  if (!L->mask) return mn;
  long c = 0;
#pragma omp parallel for reduction(+ : c)
  for (long ij = 0; ij < mn; ij++) c += L->mask[ij];
  return c;
}
