/* test_linear.c — unit tests of the sparsified linear layer (include/pst/linear.h,
 * src/sparsity/linear.c, src/sparsity/methods.c) for every method: pst, dense, lora,
 * magnitude, movement, soft-movement.
 *
 * Fixture: m = 5 (out), n = 7 (in), r1 = 3, r2 = 2, N = 4 tokens; W0, bias, U, V, A, B, R, C, S
 * all random and nonzero (so every path contributes), alpha1 = 0.7, alpha2 = 0.3, beta = 1.3
 * (not 1, so a missing scale shows). Everything is recomputed here in double from the float
 * tensors (W' = W0 + beta U V; S per DESIGN.md §1; y = x (M ⊙ W')^T + b; G = dout^T x).
 *
 * Mask (update_mask): pst / magnitude / movement have exactly keep = 35 - floor(35 s) ones and
 * equal the (score desc, index asc) top-k of S computed here (for s = 0.4 the fixture is checked
 * to have a gap > 1e-3 between the keep-th and next score, so float vs double rounding cannot
 * flip it; s = 0 and s = 1 too); soft-movement's mask is S > threshold (thresholds 0.2, -10, 10,
 * and one equal to a score, which must not be kept);
 * lora / dense have no mask (L.mask stays NULL, update_mask is a no-op, nnz = m n).
 * Forward: out = x (M ⊙ W')^T + b, |out - ref| <= 2e-5 max|ref| + 1e-6.
 * Backward, with the mask held fixed and L = sum(out ⊙ Wproj) (Wproj passed as dout):
 *  - every gradient (dinp, dU, dV, dA, dB, dR, dC, dS, dW0) against central finite
 *    differences (h = 1e-4; exact up to ~1e-10 because the function is linear in each single
 *    parameter and no |W'| kink is within reach — checked) of the double "straight-through
 *    surrogate"  L~ = sum(Wproj ⊙ (x (M ⊙ W')^T + b)) + sum(P0 ⊙ S~),  P0 = G ⊙ W' held
 *    constant, S~ = the score with its |W'| term removed when detach_magnitude = 1. Its
 *    gradient is exactly DESIGN.md §1's STE rule: dS := G ⊙ W', so dA, dB, dR, dC, dS get the
 *    STE formulas and dU, dV get beta dW' V^T, beta U^T dW' with
 *    dW' = G ⊙ M + (G ⊙ W') ⊙ sign(W') (second term only when S contains |W'| and
 *    detach_magnitude = 0). (Finite differences of the plain loss alone cannot check dA..dS:
 *    with a fixed mask the loss does not depend on them.)
 *  - the same gradients against those closed formulas, evaluated in double;
 *  - tolerance |g - ref| <= 2e-5 max|ref| + 1e-6 per tensor;
 *  - gradients and dinp accumulate (buffers start random; a second call adds the same again),
 *    dinp = NULL computes the same parameter gradients, forward/backward leave the tensors
 *    and the mask untouched; detach_magnitude changes dU/dV by exactly the sign term for pst
 *    and magnitude (and changes nothing for the other methods).
 * Also: registration (which tensors are trainable/frozen per method, shapes), initial values
 * (U, A ~ N(0,1), V, B, R, C, S = 0, deterministic per seed/prefix), and NaN scores ->
 * PST_ERR_NUMERIC. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/linear.h"
#include "pst/params.h"

#define M 5
#define NN 7
#define MN (M * NN)
#define R1 3
#define R2 2
#define NTOK 4
#define ALPHA1 0.7f
#define ALPHA2 0.3f
#define BETA 1.3f
#define FD_H 1e-4
#define RTOL 2e-5
#define ATOL 1e-6

static const char *METHODS[] = {"pst", "dense", "lora", "magnitude", "movement", "soft-movement"};
#define NMETHODS 6

/* ------------------------------------------------------------------------------------------ */
/* deterministic random numbers (splitmix64) */
static uint64_t rng_state;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(void) { return ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
static float rng_gauss(void) {
  return (float)(sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform()));
}
static void fill(float *x, long n) {
  for (long i = 0; i < n; i++) x[i] = rng_gauss();
}

/* ------------------------------------------------------------------------------------------ */
/* the layer under test */
typedef struct {
  const pst_method *me;
  pst_linear_opts o;
  pst_linear L;
  pst_params frozen, train;
  pst_linear_scratch s;
  uint8_t mask[MN];
  float x[NTOK * NN], dout[NTOK * M];
} fixture;

static void fx_build(fixture *f, const char *method, int detach, float threshold, uint64_t seed) {
  memset(f, 0, sizeof *f);
  f->me = pst_method_find(method);
  assert_non_null(f->me);
  f->o = (pst_linear_opts){f->me, R1, R2, ALPHA1, ALPHA2, BETA, threshold, detach};
  assert_int_equal(pst_linear_register(&f->L, &f->o, "blk0.q", M, NN, 1, NULL, &f->frozen, &f->train), PST_OK);
  assert_int_equal(pst_params_alloc(&f->frozen, 0), PST_OK);
  assert_int_equal(pst_params_alloc(&f->train, 1), PST_OK);
  assert_null(f->L.mask);
  if (f->me->mask != PST_MASK_NONE) {
    f->L.mask = f->mask;
    memset(f->mask, 1, MN);
  }
  rng_state = seed;
  fill(f->L.W0, MN);
  fill(f->L.bias, M);
  /* every trainable nonzero (V, B, R, C, S start at 0 in training; not here) */
  if (f->L.U) fill(f->L.U, M * R2);
  if (f->L.V) fill(f->L.V, R2 * NN);
  if (f->L.A) fill(f->L.A, M * R1);
  if (f->L.B) fill(f->L.B, R1 * NN);
  if (f->L.R) fill(f->L.R, M);
  if (f->L.C) fill(f->L.C, NN);
  if (f->L.S) fill(f->L.S, MN);
  fill(f->x, NTOK * NN);
  fill(f->dout, NTOK * M);
  assert_int_equal(pst_linear_scratch_alloc(&f->s, MN, NN > M ? NN : M, R1 > R2 ? R1 : R2), PST_OK);
}

static void fx_free(fixture *f) {
  pst_linear_scratch_free(&f->s);
  pst_params_free(&f->frozen);
  pst_params_free(&f->train);
}

/* ------------------------------------------------------------------------------------------ */
/* double-precision reference */
typedef struct {
  const pst_method *me;
  int detach;
  double a1, a2, beta;
  double W0[MN], bias[M], U[M * R2], V[R2 * NN], A[M * R1], B[R1 * NN], R[M], C[NN], S[MN];
  double x[NTOK * NN], dout[NTOK * M];
  double mask[MN]; /* fixed mask (1 everywhere for methods without one) */
  double P0[MN];   /* G ⊙ W' at the base point (constant in the surrogate) */
} ref_t;

static void to_double(double *d, const float *f, long n) {
  for (long i = 0; i < n; i++) d[i] = f ? (double)f[i] : 0.0;
}

static void ref_from(ref_t *r, const fixture *f) {
  memset(r, 0, sizeof *r);
  r->me = f->me;
  r->detach = f->o.detach_magnitude;
  r->a1 = ALPHA1;
  r->a2 = ALPHA2;
  r->beta = BETA;
  to_double(r->W0, f->L.W0, MN);
  to_double(r->bias, f->L.bias, M);
  to_double(r->U, f->L.U, M * R2);
  to_double(r->V, f->L.V, R2 * NN);
  to_double(r->A, f->L.A, M * R1);
  to_double(r->B, f->L.B, R1 * NN);
  to_double(r->R, f->L.R, M);
  to_double(r->C, f->L.C, NN);
  to_double(r->S, f->L.S, MN);
  to_double(r->x, f->x, NTOK * NN);
  to_double(r->dout, f->dout, NTOK * M);
  for (int i = 0; i < MN; i++) r->mask[i] = 1.0;
}

static void ref_wprime(const ref_t *r, double *wp) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < NN; j++) {
      double v = r->W0[i * NN + j];
      if (r->me->lowrank_w)
        for (int k = 0; k < R2; k++) v += r->beta * r->U[i * R2 + k] * r->V[k * NN + j];
      wp[i * NN + j] = v;
    }
}

/* score; with_abs = 0 drops the |W'| term (for the detached surrogate) */
static void ref_score(const ref_t *r, const double *wp, int with_abs, double *S) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < NN; j++) {
      int ij = i * NN + j;
      double v = 0;
      if (r->me->score_full) v = r->S[ij];
      if (r->me->score_abs && with_abs) v += fabs(wp[ij]);
      if (r->me->score_lowrank) {
        for (int k = 0; k < R1; k++) v += r->a1 * r->A[i * R1 + k] * r->B[k * NN + j];
        v += r->a2 * (r->R[i] + r->C[j]);
      }
      S[ij] = v;
    }
}

static void ref_forward(const ref_t *r, double *y) {
  double wp[MN];
  ref_wprime(r, wp);
  for (int t = 0; t < NTOK; t++)
    for (int i = 0; i < M; i++) {
      double v = r->bias[i];
      for (int j = 0; j < NN; j++) v += r->x[t * NN + j] * r->mask[i * NN + j] * wp[i * NN + j];
      y[t * M + i] = v;
    }
}

/* L~ = sum(dout ⊙ y) + sum(P0 ⊙ S~) (the second term only for methods with a mask) */
static double ref_surrogate(const ref_t *r) {
  double y[NTOK * M], wp[MN], S[MN];
  ref_forward(r, y);
  double L = 0;
  for (int i = 0; i < NTOK * M; i++) L += r->dout[i] * y[i];
  if (r->me->mask != PST_MASK_NONE) {
    ref_wprime(r, wp);
    ref_score(r, wp, !r->detach, S);
    for (int i = 0; i < MN; i++) L += r->P0[i] * S[i];
  }
  return L;
}

static void ref_G(const ref_t *r, double *G) {
  for (int i = 0; i < M; i++)
    for (int j = 0; j < NN; j++) {
      double g = 0;
      for (int t = 0; t < NTOK; t++) g += r->dout[t * M + i] * r->x[t * NN + j];
      G[i * NN + j] = g;
    }
}

/* ------------------------------------------------------------------------------------------ */
static double max_abs(const double *a, long n) {
  double m = 0;
  for (long i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
  return m;
}

/* got[i] (float, minus start[i] if start) vs want[i] */
static void compare(const char *ctx, const char *what, const float *got, const float *start, const double *want,
                    long n) {
  double tol = RTOL * max_abs(want, n) + ATOL;
  for (long i = 0; i < n; i++) {
    double g = (double)got[i] - (start ? (double)start[i] : 0.0);
    if (!(fabs(g - want[i]) <= tol))
      fail_msg("%s: %s[%ld] = %.9g, want %.9g (tol %.3g)", ctx, what, i, g, want[i], tol);
  }
}

/* central differences of the surrogate w.r.t. every element of p[n] */
static void fd_grad(ref_t *r, double *p, long n, double *out) {
  for (long i = 0; i < n; i++) {
    double save = p[i];
    p[i] = save + FD_H;
    double lp = ref_surrogate(r);
    p[i] = save - FD_H;
    double lm = ref_surrogate(r);
    p[i] = save;
    out[i] = (lp - lm) / (2 * FD_H);
  }
}

static int cmp_desc(const void *a, const void *b) {
  const double *x = *(const double *const *)a, *y = *(const double *const *)b;
  if (*x > *y) return -1;
  if (*x < *y) return 1;
  return (x > y) - (x < y); /* index ascending (pointers into one array) */
}

/* reference top-k mask of S (score desc, index asc); *gap = S[keep-1] - S[keep] in the order */
static void ref_topk(const double *S, long keep, uint8_t *mask, double *gap) {
  const double *p[MN];
  for (int i = 0; i < MN; i++) p[i] = &S[i];
  qsort(p, MN, sizeof p[0], cmp_desc);
  memset(mask, 0, MN);
  for (long k = 0; k < keep; k++) mask[p[k] - S] = 1;
  *gap = (keep > 0 && keep < MN) ? *p[keep - 1] - *p[keep] : INFINITY;
}

/* ------------------------------------------------------------------------------------------ */
/* one full check of a method at one sparsity (or threshold) */
static void check_layer(const char *method, int detach, double sparsity, float threshold, uint64_t seed) {
  char ctx[128];
  fixture f;
  fx_build(&f, method, detach, threshold, seed);
  if (isnan(threshold)) { /* threshold exactly equal to a score: that weight is not kept (S > th) */
    assert_non_null(f.L.S);
    threshold = f.o.threshold = f.L.S[3];
  }
  snprintf(ctx, sizeof ctx, "%s detach=%d s=%g th=%g", method, detach, sparsity, (double)threshold);
  ref_t r;
  ref_from(&r, &f);
  const pst_method *me = f.me;

  double wp[MN], S[MN];
  ref_wprime(&r, wp);
  ref_score(&r, wp, 1, S);
  /* the finite differences must not cross a kink of |W'| */
  if (me->score_abs)
    for (int i = 0; i < MN; i++)
      if (fabs(wp[i]) < 1e-2) fail_msg("%s: fixture has |W'[%d]| = %g (pick another seed)", ctx, i, fabs(wp[i]));

  /* ---- mask ---- */
  pst_err_clear();
  pst_err rc = pst_linear_update_mask(&f.L, &f.o, sparsity, &f.s);
  if (rc) fail_msg("%s: update_mask rc=%d (%s)", ctx, rc, pst_err_message());
  if (me->mask == PST_MASK_NONE) {
    assert_null(f.L.mask);
    assert_int_equal(pst_linear_nnz(&f.L), MN);
  } else {
    uint8_t want[MN];
    if (me->mask == PST_MASK_TOPK) {
      long keep = MN - (long)floor(MN * sparsity);
      double gap;
      ref_topk(S, keep, want, &gap);
      if (!(gap > 1e-3)) fail_msg("%s: fixture's top-k gap %g too small (pick another seed)", ctx, gap);
      long ones = 0;
      for (int i = 0; i < MN; i++) ones += f.mask[i];
      if (ones != keep) fail_msg("%s: mask has %ld ones, want keep = %ld", ctx, ones, keep);
      assert_int_equal(pst_linear_nnz(&f.L), keep);
    } else {
      for (int i = 0; i < MN; i++) want[i] = S[i] > (double)threshold;
    }
    for (int i = 0; i < MN; i++)
      if (f.mask[i] != want[i])
        fail_msg("%s: mask[%d] = %u, want %u (score %.9g)", ctx, i, f.mask[i], want[i], S[i]);
    for (int i = 0; i < MN; i++) r.mask[i] = f.mask[i];
  }

  /* snapshot of every tensor: forward/backward must not modify them */
  float *train0 = malloc(f.train.total * sizeof(float)), *frozen0 = malloc(f.frozen.total * sizeof(float));
  assert_non_null(train0);
  assert_non_null(frozen0);
  memcpy(train0, f.train.data, f.train.total * sizeof(float));
  memcpy(frozen0, f.frozen.data, f.frozen.total * sizeof(float));
  uint8_t mask0[MN];
  memcpy(mask0, f.mask, MN);

  /* ---- forward ---- */
  float out[NTOK * M];
  double y[NTOK * M];
  memset(out, 0x7f, sizeof out); /* garbage: out is overwritten, not accumulated */
  pst_linear_forward(&f.L, &f.o, out, f.x, NTOK, &f.s);
  ref_forward(&r, y);
  compare(ctx, "out", out, NULL, y, NTOK * M);

  /* ---- backward (buffers start random: gradients accumulate) ---- */
  float dinp[NTOK * NN], dinp0[NTOK * NN];
  fill(dinp, NTOK * NN);
  memcpy(dinp0, dinp, sizeof dinp);
  fill(f.train.grad, (long)f.train.total);
  float *grad0 = malloc(f.train.total * sizeof(float));
  assert_non_null(grad0);
  memcpy(grad0, f.train.grad, f.train.total * sizeof(float));
  pst_linear_backward(&f.L, &f.o, dinp, f.dout, f.x, NTOK, &f.s);

  double G[MN];
  ref_G(&r, G);
  for (int i = 0; i < MN; i++) r.P0[i] = G[i] * wp[i];

  /* closed forms of DESIGN.md §1 */
  double P[MN], dWp[MN];
  int through_abs = me->score_abs && !detach && me->mask != PST_MASK_NONE;
  for (int i = 0; i < MN; i++) {
    P[i] = G[i] * wp[i];
    double sgn = wp[i] > 0 ? 1.0 : (wp[i] < 0 ? -1.0 : 0.0);
    dWp[i] = G[i] * r.mask[i] + (through_abs ? P[i] * sgn : 0.0);
  }
  double fA[M * R1], fB[R1 * NN], fR[M], fC[NN], fU[M * R2], fV[R2 * NN], fX[NTOK * NN];
  for (int i = 0; i < M; i++) {
    for (int k = 0; k < R1; k++) {
      double v = 0;
      for (int j = 0; j < NN; j++) v += P[i * NN + j] * r.B[k * NN + j];
      fA[i * R1 + k] = r.a1 * v;
    }
    double rs = 0;
    for (int j = 0; j < NN; j++) rs += P[i * NN + j];
    fR[i] = r.a2 * rs;
    for (int k = 0; k < R2; k++) {
      double v = 0;
      for (int j = 0; j < NN; j++) v += dWp[i * NN + j] * r.V[k * NN + j];
      fU[i * R2 + k] = r.beta * v;
    }
  }
  for (int j = 0; j < NN; j++) {
    double cs = 0;
    for (int i = 0; i < M; i++) cs += P[i * NN + j];
    fC[j] = r.a2 * cs;
    for (int k = 0; k < R1; k++) {
      double v = 0;
      for (int i = 0; i < M; i++) v += r.A[i * R1 + k] * P[i * NN + j];
      fB[k * NN + j] = r.a1 * v;
    }
    for (int k = 0; k < R2; k++) {
      double v = 0;
      for (int i = 0; i < M; i++) v += r.U[i * R2 + k] * dWp[i * NN + j];
      fV[k * NN + j] = r.beta * v;
    }
  }
  for (int t = 0; t < NTOK; t++)
    for (int j = 0; j < NN; j++) {
      double v = 0;
      for (int i = 0; i < M; i++) v += r.dout[t * M + i] * r.mask[i * NN + j] * wp[i * NN + j];
      fX[t * NN + j] = v;
    }

  /* finite differences of the surrogate, and the closed forms */
  double fd[MN];
  char what[64];
  fd_grad(&r, r.x, NTOK * NN, fd);
  compare(ctx, "dinp (fd)", dinp, dinp0, fd, NTOK * NN);
  compare(ctx, "dinp (formula)", dinp, dinp0, fX, NTOK * NN);
  struct {
    const char *name;
    float *grad;
    double *param;
    long n;
    const double *formula;
  } T[] = {
      {"dW0", f.L.dW0, r.W0, MN, G},      {"dU", f.L.dU, r.U, M * R2, fU}, {"dV", f.L.dV, r.V, R2 * NN, fV},
      {"dA", f.L.dA, r.A, M * R1, fA},    {"dB", f.L.dB, r.B, R1 * NN, fB}, {"dR", f.L.dR, r.R, M, fR},
      {"dC", f.L.dC, r.C, NN, fC},        {"dS", f.L.dS, r.S, MN, P},
  };
  int ngrads = 0;
  for (int k = 0; k < 8; k++) {
    if (!T[k].grad) continue;
    ngrads++;
    size_t off = (size_t)(T[k].grad - f.train.grad);
    fd_grad(&r, T[k].param, T[k].n, fd);
    snprintf(what, sizeof what, "%s (fd)", T[k].name);
    compare(ctx, what, T[k].grad, grad0 + off, fd, T[k].n);
    snprintf(what, sizeof what, "%s (formula)", T[k].name);
    compare(ctx, what, T[k].grad, grad0 + off, T[k].formula, T[k].n);
  }
  /* number of trainable tensors per method (DESIGN.md §1) */
  static const struct {
    const char *name;
    int n;
  } NT[] = {{"pst", 6}, {"dense", 1}, {"lora", 2}, {"magnitude", 2}, {"movement", 3}, {"soft-movement", 3}};
  for (int k = 0; k < NMETHODS; k++)
    if (!strcmp(NT[k].name, method)) assert_int_equal(ngrads, NT[k].n);

  /* nothing but gradients changed */
  assert_memory_equal(train0, f.train.data, f.train.total * sizeof(float));
  assert_memory_equal(frozen0, f.frozen.data, f.frozen.total * sizeof(float));
  assert_memory_equal(mask0, f.mask, MN);

  /* a second call adds the same again; dinp = NULL gives the same parameter gradients */
  float *grad1 = malloc(f.train.total * sizeof(float));
  assert_non_null(grad1);
  memcpy(grad1, f.train.grad, f.train.total * sizeof(float));
  float dinp1[NTOK * NN];
  memcpy(dinp1, dinp, sizeof dinp);
  pst_linear_backward(&f.L, &f.o, dinp, f.dout, f.x, NTOK, &f.s);
  for (size_t i = 0; i < f.train.total; i++) {
    float once = grad1[i] - grad0[i], twice = f.train.grad[i] - grad1[i];
    if (!(fabsf(once - twice) <= 1e-5f * (1.f + fabsf(once))))
      fail_msg("%s: grad[%zu] second call added %g, first %g", ctx, i, (double)twice, (double)once);
  }
  for (int i = 0; i < NTOK * NN; i++) {
    float once = dinp1[i] - dinp0[i], twice = dinp[i] - dinp1[i];
    if (!(fabsf(once - twice) <= 1e-5f * (1.f + fabsf(once)))) fail_msg("%s: dinp[%d] not accumulated", ctx, i);
  }
  memcpy(f.train.grad, grad0, f.train.total * sizeof(float));
  pst_linear_backward(&f.L, &f.o, NULL, f.dout, f.x, NTOK, &f.s);
  for (size_t i = 0; i < f.train.total; i++)
    if (f.train.grad[i] != grad1[i]) fail_msg("%s: grad[%zu] differs with dinp = NULL", ctx, i);

  free(grad1);
  free(grad0);
  free(train0);
  free(frozen0);
  fx_free(&f);
}

static const uint64_t SEED = 20240611;

static void test_pst(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_layer("pst", d, 0.4, 0.f, SEED);
    check_layer("pst", d, 0.0, 0.f, SEED);
    check_layer("pst", d, 1.0, 0.f, SEED);
    check_layer("pst", d, 0.9, 0.f, SEED + 1);
  }
}
static void test_dense(void **state) {
  (void)state;
  check_layer("dense", 0, 0.4, 0.f, SEED);
  check_layer("dense", 1, 0.9, 0.f, SEED + 1);
}
static void test_lora(void **state) {
  (void)state;
  check_layer("lora", 0, 0.4, 0.f, SEED);
  check_layer("lora", 1, 0.9, 0.f, SEED + 1);
}
static void test_magnitude(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_layer("magnitude", d, 0.4, 0.f, SEED);
    check_layer("magnitude", d, 0.0, 0.f, SEED);
    check_layer("magnitude", d, 1.0, 0.f, SEED);
  }
}
static void test_movement(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_layer("movement", d, 0.4, 0.f, SEED);
    check_layer("movement", d, 0.0, 0.f, SEED);
    check_layer("movement", d, 1.0, 0.f, SEED);
  }
}
static void test_soft_movement(void **state) {
  (void)state;
  for (int d = 0; d < 2; d++) {
    check_layer("soft-movement", d, 0.4, 0.2f, SEED);
    check_layer("soft-movement", d, 0.4, -10.f, SEED); /* all kept */
    check_layer("soft-movement", d, 0.4, 10.f, SEED);  /* none kept */
    check_layer("soft-movement", d, 0.4, NAN, SEED);   /* threshold = S[3] exactly */
  }
}

/* detach_magnitude removes exactly the sign term from dU/dV, for pst and magnitude only */
static void test_detach_magnitude(void **state) {
  (void)state;
  for (int k = 0; k < NMETHODS; k++) {
    if (!strcmp(METHODS[k], "dense")) continue;
    fixture f[2];
    for (int d = 0; d < 2; d++) {
      fx_build(&f[d], METHODS[k], d, 0.2f, SEED);
      assert_int_equal(pst_linear_update_mask(&f[d].L, &f[d].o, 0.4, &f[d].s), PST_OK);
      memset(f[d].train.grad, 0, f[d].train.total * sizeof(float));
      pst_linear_backward(&f[d].L, &f[d].o, NULL, f[d].dout, f[d].x, NTOK, &f[d].s);
    }
    if (f[0].L.mask) assert_memory_equal(f[0].mask, f[1].mask, MN);
    ref_t r;
    ref_from(&r, &f[0]);
    double wp[MN], G[MN], term[MN], fU[M * R2], fV[R2 * NN];
    ref_wprime(&r, wp);
    ref_G(&r, G);
    for (int i = 0; i < MN; i++) term[i] = G[i] * wp[i] * (wp[i] > 0 ? 1.0 : (wp[i] < 0 ? -1.0 : 0.0));
    for (int i = 0; i < M; i++)
      for (int q = 0; q < R2; q++) {
        double v = 0;
        for (int j = 0; j < NN; j++) v += term[i * NN + j] * r.V[q * NN + j];
        fU[i * R2 + q] = BETA * v;
      }
    for (int q = 0; q < R2; q++)
      for (int j = 0; j < NN; j++) {
        double v = 0;
        for (int i = 0; i < M; i++) v += r.U[i * R2 + q] * term[i * NN + j];
        fV[q * NN + j] = BETA * v;
      }
    float diffU[M * R2], diffV[R2 * NN];
    for (int i = 0; i < M * R2; i++) diffU[i] = f[0].L.dU[i] - f[1].L.dU[i];
    for (int i = 0; i < R2 * NN; i++) diffV[i] = f[0].L.dV[i] - f[1].L.dV[i];
    if (f[0].me->score_abs) {
      assert_true(max_abs(fU, M * R2) > 0.1); /* the term matters in this fixture */
      compare(METHODS[k], "dU(attached) - dU(detached)", diffU, NULL, fU, M * R2);
      compare(METHODS[k], "dV(attached) - dV(detached)", diffV, NULL, fV, R2 * NN);
    } else {
      assert_memory_equal(f[0].train.grad, f[1].train.grad, f[0].train.total * sizeof(float));
    }
    /* other gradients never depend on detach */
    float *g0[4] = {f[0].L.dA, f[0].L.dB, f[0].L.dR, f[0].L.dC}, *g1[4] = {f[1].L.dA, f[1].L.dB, f[1].L.dR, f[1].L.dC};
    long n[4] = {M * R1, R1 * NN, M, NN};
    for (int t = 0; t < 4; t++)
      if (g0[t]) assert_memory_equal(g0[t], g1[t], (size_t)n[t] * sizeof(float));
    if (f[0].L.dS) assert_memory_equal(f[0].L.dS, f[1].L.dS, MN * sizeof(float));
    fx_free(&f[0]);
    fx_free(&f[1]);
  }
}

/* ------------------------------------------------------------------------------------------ */
static void test_register(void **state) {
  (void)state;
  static const struct {
    const char *method;
    const char *train[7];
    const char *frozen[3];
  } T[] = {
      {"pst", {"x.U", "x.V", "x.A", "x.B", "x.R", "x.C", NULL}, {"x.w", "x.b", NULL}},
      {"dense", {"x.w", "x.b", NULL}, {NULL}}, /* full fine-tuning: the bias trains too */
      {"lora", {"x.U", "x.V", NULL}, {"x.w", "x.b", NULL}},
      {"magnitude", {"x.U", "x.V", NULL}, {"x.w", "x.b", NULL}},
      {"movement", {"x.U", "x.V", "x.S", NULL}, {"x.w", "x.b", NULL}},
      {"soft-movement", {"x.U", "x.V", "x.S", NULL}, {"x.w", "x.b", NULL}},
      {"magnitude-full", {"x.w", "x.b", NULL}, {NULL}},
      {"movement-full", {"x.w", "x.b", "x.S", NULL}, {NULL}},
  };
  assert_null(pst_method_find("Pst"));
  assert_null(pst_method_find("sparse"));
  for (int k = 0; k < (int)(sizeof T / sizeof T[0]); k++) {
    const pst_method *me = pst_method_find(T[k].method);
    assert_non_null(me);
    assert_string_equal(me->name, T[k].method);
    pst_linear_opts o = {me, R1, R2, 1, 1, 1, 0, 0};
    pst_params fr = {0}, tr = {0};
    pst_linear L;
    assert_int_equal(pst_linear_register(&L, &o, "x", M, NN, 1, NULL, &fr, &tr), PST_OK);
    int nt = 0, nf = 0;
    while (T[k].train[nt]) nt++;
    while (T[k].frozen[nf]) nf++;
    assert_int_equal(tr.n, nt);
    assert_int_equal(fr.n, nf);
    for (int i = 0; i < nt; i++) assert_non_null(pst_params_find(&tr, T[k].train[i]));
    for (int i = 0; i < nf; i++) assert_non_null(pst_params_find(&fr, T[k].frozen[i]));
    /* shapes */
    const struct {
      const char *name;
      int64_t d0, d1;
    } shp[] = {{"x.w", M, NN}, {"x.b", M, 1}, {"x.U", M, R2}, {"x.V", R2, NN}, {"x.A", M, R1},
               {"x.B", R1, NN}, {"x.R", M, 1}, {"x.C", NN, 1}, {"x.S", M, NN}};
    for (int s = 0; s < 9; s++) {
      const pst_tensor_info *ti = pst_params_find(&tr, shp[s].name);
      if (!ti) ti = pst_params_find(&fr, shp[s].name);
      if (!ti) continue;
      assert_int_equal(ti->shape[0], shp[s].d0);
      assert_int_equal(ti->shape[1], shp[s].d1);
    }
    assert_int_equal(pst_params_alloc(&fr, 0), PST_OK);
    assert_int_equal(pst_params_alloc(&tr, 1), PST_OK);
    /* pointers bound; gradients exactly for the trainables */
    assert_non_null(L.W0);
    assert_non_null(L.bias);
    assert_true((L.dW0 != NULL) == (me->train_w != 0));
    assert_true((L.U != NULL) == (me->lowrank_w != 0) && (L.dU != NULL) == (me->lowrank_w != 0));
    assert_true((L.V != NULL) == (L.dV != NULL) && (L.V != NULL) == (me->lowrank_w != 0));
    assert_true((L.A != NULL) == (me->score_lowrank != 0) && (L.dA != NULL) == (me->score_lowrank != 0));
    assert_true((L.B != NULL) == (L.dB != NULL) && (L.R != NULL) == (L.dR != NULL) && (L.C != NULL) == (L.dC != NULL));
    assert_true((L.C != NULL) == (me->score_lowrank != 0));
    assert_true((L.S != NULL) == (me->score_full != 0) && (L.dS != NULL) == (me->score_full != 0));
    assert_null(L.mask);
    pst_params_free(&fr);
    pst_params_free(&tr);
  }
}

static void test_init_trainables(void **state) {
  (void)state;
  enum { BM = 200, BN = 300, BR = 8 };
  const pst_method *me = pst_method_find("pst");
  pst_linear_opts o = {me, BR, BR, 1, 1, 1, 0, 0};
  pst_params fr[2] = {{0}, {0}}, tr[2] = {{0}, {0}};
  pst_linear L[2];
  for (int k = 0; k < 2; k++) {
    assert_int_equal(pst_linear_register(&L[k], &o, k ? "blk1.fc1" : "blk0.fc1", BM, BN, 1, NULL, &fr[k], &tr[k]), PST_OK);
    assert_int_equal(pst_params_alloc(&fr[k], 0), PST_OK);
    assert_int_equal(pst_params_alloc(&tr[k], 1), PST_OK);
    pst_linear_init_trainables(&L[k], &o, 42, k ? "blk1.fc1" : "blk0.fc1");
  }
  /* U, A ~ N(0, 1) */
  float *t[2] = {L[0].U, L[0].A};
  for (int q = 0; q < 2; q++) {
    double s = 0, s2 = 0;
    long n = (long)BM * BR;
    for (long i = 0; i < n; i++) {
      s += t[q][i];
      s2 += (double)t[q][i] * t[q][i];
    }
    double mean = s / n, sd = sqrt(s2 / n - mean * mean);
    if (fabs(mean) > 0.12 || fabs(sd - 1) > 0.08) fail_msg("init %s: mean %g sd %g", q ? "A" : "U", mean, sd);
  }
  /* V, B, R, C are zero */
  for (long i = 0; i < (long)BR * BN; i++) assert_true(L[0].V[i] == 0.f && L[0].B[i] == 0.f);
  for (long i = 0; i < BM; i++) assert_true(L[0].R[i] == 0.f);
  for (long i = 0; i < BN; i++) assert_true(L[0].C[i] == 0.f);
  /* distinct streams per tensor and per layer; deterministic per (seed, prefix) */
  assert_true(memcmp(L[0].U, L[0].A, (size_t)BM * BR * sizeof(float)) != 0);
  assert_true(memcmp(L[0].U, L[1].U, (size_t)BM * BR * sizeof(float)) != 0);
  float *again = malloc((size_t)BM * BR * sizeof(float));
  assert_non_null(again);
  memcpy(again, L[0].U, (size_t)BM * BR * sizeof(float));
  pst_linear_init_trainables(&L[0], &o, 42, "blk0.fc1");
  assert_memory_equal(again, L[0].U, (size_t)BM * BR * sizeof(float));
  free(again);
  for (int k = 0; k < 2; k++) {
    pst_params_free(&fr[k]);
    pst_params_free(&tr[k]);
  }
}

static void test_nan_score(void **state) {
  (void)state;
  /* pst / magnitude: NaN in W0 reaches the score */
  const char *m[4] = {"pst", "magnitude", "movement", "soft-movement"};
  for (int k = 0; k < 4; k++) {
    fixture f;
    fx_build(&f, m[k], 0, 0.2f, SEED);
    if (f.L.S) f.L.S[17] = NAN;
    else f.L.W0[17] = NAN;
    pst_err_clear();
    assert_int_equal(pst_linear_update_mask(&f.L, &f.o, 0.4, &f.s), PST_ERR_NUMERIC);
    if (!strstr(pst_err_message(), "17")) fail_msg("%s: message '%s' does not name index 17", m[k], pst_err_message());
    pst_err_clear();
    fx_free(&f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_register),      cmocka_unit_test(test_init_trainables),
      cmocka_unit_test(test_pst),           cmocka_unit_test(test_dense),
      cmocka_unit_test(test_lora),          cmocka_unit_test(test_magnitude),
      cmocka_unit_test(test_movement),      cmocka_unit_test(test_soft_movement),
      cmocka_unit_test(test_detach_magnitude), cmocka_unit_test(test_nan_score),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
