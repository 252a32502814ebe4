/* linear.c — forward, backward and mask update of the sparsified linear layer (linear.h).
 * Float operations follow the reference's order (W0 + beta*(U@V); (|W'| + alpha1*(A@B)) +
 * alpha2*(R_i + C_j)) so that masks agree bit for bit with PyTorch. */
#include "pst/linear.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pst/rng.h"
#include "pst/sparsity.h"

pst_err pst_linear_register(pst_linear *L, const pst_linear_opts *o, const char *prefix, int m, int n,
                            pst_params *frozen, pst_params *train) {
  const pst_method *me = o->method;
  char nm[96];
  memset(L, 0, sizeof *L);
  L->m = m;
  L->n = n;
#define NAME(suffix) (snprintf(nm, sizeof nm, "%s.%s", prefix, suffix), nm)
  if (me->train_w) PST_CHECK(pst_params_add(train, NAME("w"), 2, m, n, 1, 1, &L->W0, &L->dW0));
  else PST_CHECK(pst_params_add(frozen, NAME("w"), 2, m, n, 0, 1, &L->W0, NULL));
  PST_CHECK(pst_params_add(frozen, NAME("b"), 1, m, 0, 0, 1, &L->bias, NULL));
  if (me->lowrank_w) {
    PST_CHECK(pst_params_add(train, NAME("U"), 2, m, o->r2, 1, 0, &L->U, &L->dU));
    PST_CHECK(pst_params_add(train, NAME("V"), 2, o->r2, n, 1, 0, &L->V, &L->dV));
  }
  if (me->score_lowrank) {
    PST_CHECK(pst_params_add(train, NAME("A"), 2, m, o->r1, 1, 0, &L->A, &L->dA));
    PST_CHECK(pst_params_add(train, NAME("B"), 2, o->r1, n, 1, 0, &L->B, &L->dB));
    PST_CHECK(pst_params_add(train, NAME("R"), 1, m, 0, 0, 0, &L->R, &L->dR));
    PST_CHECK(pst_params_add(train, NAME("C"), 1, n, 0, 0, 0, &L->C, &L->dC));
  }
  if (me->score_full) PST_CHECK(pst_params_add(train, NAME("S"), 2, m, n, 1, 0, &L->S, &L->dS));
#undef NAME
  return PST_OK;
}

void pst_linear_init_trainables(pst_linear *L, const pst_linear_opts *o, uint64_t seed, const char *prefix) {
  char nm[96];
  if (L->U) {
    snprintf(nm, sizeof nm, "%s.U", prefix);
    pst_rng_normal(L->U, (size_t)L->m * o->r2, 0.f, 1.f, seed, pst_rng_stream(nm));
  }
  if (L->A) {
    snprintf(nm, sizeof nm, "%s.A", prefix);
    pst_rng_normal(L->A, (size_t)L->m * o->r1, 0.f, 1.f, seed, pst_rng_stream(nm));
  }
  /* V, B, R, C, S stay zero (the buffer is zero-initialised) */
}

pst_err pst_linear_scratch_alloc(pst_linear_scratch *s, long max_mn, long max_dim) {
  memset(s, 0, sizeof *s);
  PST_CHECK(pst_calloc((void **)&s->w1, (size_t)max_mn, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->w2, (size_t)max_mn, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->w3, (size_t)max_mn, sizeof(float), "layer scratch"));
  PST_CHECK(pst_calloc((void **)&s->ones, (size_t)max_dim, sizeof(float), "layer scratch"));
  for (long i = 0; i < max_dim; i++) s->ones[i] = 1.f;
  s->cap = max_mn;
  s->ones_cap = max_dim;
  return PST_OK;
}

void pst_linear_scratch_free(pst_linear_scratch *s) {
  pst_free(s->w1);
  pst_free(s->w2);
  pst_free(s->w3);
  pst_free(s->ones);
  memset(s, 0, sizeof *s);
}

/* W' into dst (returns dst), or W0 itself when there is no low-rank update. [m,n] */
static const float *form_wprime(const pst_linear *L, const pst_linear_opts *o, float *dst) {
  if (!o->method->lowrank_w) return L->W0;
  long mn = (long)L->m * L->n;
  memcpy(dst, L->W0, (size_t)mn * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L->m, L->n, o->r2, o->beta, L->U, o->r2, L->V, L->n,
              1.0f, dst, L->n);
  return dst;
}

pst_err pst_linear_update_mask(pst_linear *L, const pst_linear_opts *o, double sparsity, pst_linear_scratch *s) {
  const pst_method *me = o->method;
  if (me->mask == PST_MASK_NONE) return PST_OK;
  long mn = (long)L->m * L->n;
  const float *score;
  if (me->score_full) {
    score = L->S;
  } else {
    const float *wp = form_wprime(L, o, s->w1);
    float *S = s->w2;
    const int m = L->m, n = L->n;
    if (me->score_lowrank) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, o->r1, o->alpha1, L->A, o->r1, L->B, n, 0.0f,
                  S, n);
      const float a2 = o->alpha2;
#pragma omp parallel for schedule(static)
      for (int i = 0; i < m; i++) {
        const float r = L->R[i];
        for (int j = 0; j < n; j++) {
          long ij = (long)i * n + j;
          S[ij] = (fabsf(wp[ij]) + S[ij]) + a2 * (r + L->C[j]);
        }
      }
    } else {
#pragma omp parallel for schedule(static)
      for (long ij = 0; ij < mn; ij++) S[ij] = fabsf(wp[ij]);
    }
    score = S;
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

/* M ⊙ W' into dst (in place allowed); returns the effective weight. */
static const float *apply_mask(const pst_linear *L, const float *wp, float *dst) {
  if (!L->mask) return wp;
  long mn = (long)L->m * L->n;
  const uint8_t *M = L->mask;
#pragma omp parallel for schedule(static)
  for (long ij = 0; ij < mn; ij++) dst[ij] = M[ij] ? wp[ij] : 0.0f;
  return dst;
}

void pst_linear_forward(const pst_linear *L, const pst_linear_opts *o, float *out, const float *inp, int N,
                        pst_linear_scratch *s) {
  const float *w = apply_mask(L, form_wprime(L, o, s->w1), s->w1);
  const int m = L->m, n = L->n;
#pragma omp parallel for schedule(static)
  for (int t = 0; t < N; t++) memcpy(out + (long)t * m, L->bias, (size_t)m * sizeof(float));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, m, n, 1.0f, inp, n, w, n, 1.0f, out, m);
}

void pst_linear_backward(pst_linear *L, const pst_linear_opts *o, float *dinp, const float *dout,
                         const float *inp, int N, pst_linear_scratch *s) {
  const pst_method *me = o->method;
  const int m = L->m, n = L->n;
  const long mn = (long)m * n;
  const float *wp = form_wprime(L, o, s->w1);
  if (dinp) {
    const float *w = apply_mask(L, wp, s->w2);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, n, m, 1.0f, dout, m, w, n, 1.0f, dinp, n);
  }
  /* G = dout^T inp  [m,n] */
  float *G = s->w3;
  if (me->train_w) { /* dense: dW += G directly */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, N, 1.0f, dout, m, inp, n, 1.0f, L->dW0, n);
    return;
  }
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, N, 1.0f, dout, m, inp, n, 0.0f, G, n);
  if (me->mask != PST_MASK_NONE) {
    /* P = G ⊙ W' (= dL/dS, straight-through) into w2; dW' = G ⊙ M [+ P ⊙ sign(W')] into G */
    float *P = s->w2;
    const uint8_t *M = L->mask;
    const int through_abs = me->score_abs && !o->detach_magnitude;
#pragma omp parallel for schedule(static)
    for (long ij = 0; ij < mn; ij++) {
      float g = G[ij], w = wp[ij];
      float p = g * w;
      float d = M[ij] ? g : 0.0f;
      if (through_abs) d += w > 0.0f ? p : (w < 0.0f ? -p : 0.0f);
      P[ij] = p;
      G[ij] = d;
    }
    if (me->score_lowrank) {
      /* dA += alpha1 P B^T [m,r1]; dB += alpha1 A^T P [r1,n]; dR += alpha2 P 1; dC += alpha2 P^T 1 */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, o->r1, n, o->alpha1, P, n, L->B, n, 1.0f, L->dA,
                  o->r1);
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o->r1, n, m, o->alpha1, L->A, o->r1, P, n, 1.0f, L->dB,
                  n);
      cblas_sgemv(CblasRowMajor, CblasNoTrans, m, n, o->alpha2, P, n, s->ones, 1, 1.0f, L->dR, 1);
      cblas_sgemv(CblasRowMajor, CblasTrans, m, n, o->alpha2, P, n, s->ones, 1, 1.0f, L->dC, 1);
    }
    if (me->score_full) cblas_saxpy((int)mn, 1.0f, P, 1, L->dS, 1);
  }
  /* dU += beta dW' V^T [m,r2]; dV += beta U^T dW' [r2,n] */
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, o->r2, n, o->beta, G, n, L->V, n, 1.0f, L->dU, o->r2);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, o->r2, n, m, o->beta, L->U, o->r2, G, n, 1.0f, L->dV, n);
}

long pst_linear_nnz(const pst_linear *L) {
  long mn = (long)L->m * L->n;
  if (!L->mask) return mn;
  long c = 0;
#pragma omp parallel for reduction(+ : c)
  for (long ij = 0; ij < mn; ij++) c += L->mask[ij];
  return c;
}
