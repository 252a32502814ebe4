/* test_kernels.c — unit tests of the CPU kernels (include/pst/kernels.h).
 *
 * Every backward is checked three ways by check_gradients():
 *  1. element-wise against central finite differences of a double-precision re-implementation
 *     of the forward (step FD_H = 1e-5 in double: truncation and rounding errors ~1e-10, so
 *     the tolerance FD_RTOL * max|grad| + FD_ATOL only has to absorb the float backward's own
 *     rounding: observed <= 5e-7 * max|grad|, i.e. <= 1/40 of the tolerance, with every
 *     OpenBLAS core type from Prescott to SkylakeX);
 *  2. a random projection against central differences of the float kernel forward itself
 *     (direction u in {-1,+1}^n, steps 1e-2 and 5e-3 combined by Richardson extrapolation:
 *     truncation ~h^4, float rounding of the loss ~1e-7 * sqrt(#outputs) / h), with tolerance
 *     DIR_RTOL * sum|grad| + DIR_ATOL (observed error <= 1/8 of it);
 *  3. accumulate semantics (gradients start from random values, two calls give start + 2 g)
 *     and NULL gradient pointers (each one NULL in turn leaves the others unchanged; all NULL
 *     is a no-op).
 * The scalar being differentiated is L = sum(R * out) for a fixed random R (passed as dout),
 * or dloss * loss for the losses. Forward values are compared with the double reference and
 * with hand-computed numbers (PyTorch semantics); masks, causal attention, fully masked rows,
 * both GELU kinds, label smoothing, loss weights (zero-weight rows are never read) and the
 * thread-count independence of the reductions are covered. Sizes come in a small variant
 * (serial code paths, all elements finite-differenced) and a large one (OpenMP paths,
 * column-block tails, a random subset of elements finite-differenced).
 *
 * Sensitivity: a wrong gradient term (missing mean term in LayerNorm, missing 1/sqrt(hs) in
 * attention, ls/V smoothing term off, overwrite instead of accumulate, ...) produces errors
 * of the size of the gradient itself, i.e. >= 10^3 times the tolerances below; such mutations
 * of each kernel were verified to fail, down to a 0.1% error in LayerNorm's mean(g) term.
 * PST_TEST_VERBOSE=1 prints each check's error / tolerance ratio. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "pst/kernels.h"

/* ------------------------------------------------------------------------------------------ */
/* tolerances (see the comment on top) */
#define FD_H 1e-5       /* step of the double-precision finite differences */
#define FD_RTOL 2e-5    /* element-wise: |g - fd| <= FD_RTOL * max|fd| + FD_ATOL */
#define FD_ATOL 1e-7
#define DIR_H 1e-2      /* step of the float-forward directional differences */
#define DIR_RTOL 1e-4   /* |g.u - D| <= DIR_RTOL * sum|g| + DIR_ATOL */
#define DIR_ATOL 1e-6
#define MAXP 4          /* parameters per op */

/* ------------------------------------------------------------------------------------------ */
/* deterministic random numbers (splitmix64) */
static uint64_t rng_state = 42;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
/* uniform in [lo, hi), a float value */
static float frand(float lo, float hi) {
  return lo + (hi - lo) * (float)((double)(rng_next() >> 40) / 16777216.0);
}
static int irand(int n) { return (int)(rng_next() % (uint64_t)n); }

/* allocations tracked per test and released by the teardown (also after a failure) */
#define MAX_ALLOCS 4096
static void *allocs[MAX_ALLOCS];
static int nallocs;

static void *xcalloc(size_t n, size_t size) {
  assert_true(nallocs < MAX_ALLOCS);
  void *p = calloc(n ? n : 1, size);
  assert_non_null(p);
  allocs[nallocs++] = p;
  return p;
}
static int teardown(void **state) {
  (void)state;
  for (int i = 0; i < nallocs; i++) free(allocs[i]);
  nallocs = 0;
  return 0;
}
#define NEWF(n) ((float *)xcalloc((size_t)(n), sizeof(float)))
#define NEWD(n) ((double *)xcalloc((size_t)(n), sizeof(double)))

/* float-valued random arrays, as float and as (identical) double */
static float *rand_f(long n, float lo, float hi) {
  float *p = NEWF(n);
  for (long i = 0; i < n; i++) p[i] = frand(lo, hi);
  return p;
}
static double *rand_d(long n, float lo, float hi) {
  double *p = NEWD(n);
  for (long i = 0; i < n; i++) p[i] = frand(lo, hi);
  return p;
}
static void to_float(float *dst, const double *src, long n) {
  for (long i = 0; i < n; i++) dst[i] = (float)src[i];
}
static double dot_fd(const float *a, const double *b, long n) {
  double s = 0.0;
  for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}
static double dot_ff(const float *a, const float *b, long n) {
  double s = 0.0;
  for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* got[i] == want[i] within rtol * max|want| + atol, element-wise. */
static void check_close(const char *what, const float *got, const double *want, long n,
                        double rtol, double atol) {
  double mx = 0.0;
  for (long i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
  const double tol = rtol * mx + atol;
  for (long i = 0; i < n; i++) {
    if (!(fabs((double)got[i] - want[i]) <= tol)) {
      print_error("%s: element %ld: got %.9g, want %.9g (tol %.3g)\n", what, i, (double)got[i],
                  want[i], tol);
      fail();
    }
  }
}
static void check_scalar(const char *what, double got, double want, double tol) {
  if (!(fabs(got - want) <= tol)) {
    print_error("%s: got %.12g, want %.12g (tol %.3g)\n", what, got, want, tol);
    fail();
  }
}

/* ------------------------------------------------------------------------------------------ */
/* generic gradient check */
typedef struct {
  const char *name;
  void *ctx;
  double (*ref_loss)(void *ctx); /* L from the double reference forward at the params */
  double (*ker_loss)(void *ctx); /* L from the float kernel forward at (float) params */
  /* runs the kernel backward (after the kernel forward, if it needs saved values) with
   * g[i] the gradient of params[i] (NULL: not wanted) */
  void (*backward)(void *ctx, float *const *g);
  int np;
  const char *pname[MAXP];
  double *p[MAXP]; /* parameters (double master copies, float-representable at entry) */
  long pn[MAXP];
} gcase;

static int verbose; /* PST_TEST_VERBOSE=1: print each check's error / tolerance ratio */

/* L at p[i] = base + t * u (all elements), restoring base afterwards. */
static double loss_along(const gcase *gc, double (*f)(void *), int i, const double *base,
                         const double *u, double t) {
  double *x = gc->p[i];
  for (long j = 0; j < gc->pn[i]; j++) x[j] = base[j] + t * u[j];
  const double l = f(gc->ctx);
  memcpy(x, base, (size_t)gc->pn[i] * sizeof(double));
  return l;
}

/* Checks every parameter's gradient as described on top. max_fd: at most this many elements
 * per parameter are finite-differenced element-wise (first, last and random others). */
static void check_gradients(const gcase *gc, int max_fd) {
  float *g[MAXP] = {0};
  for (int i = 0; i < gc->np; i++) g[i] = NEWF(gc->pn[i]);
  gc->backward(gc->ctx, g);

  for (int i = 0; i < gc->np; i++) {
    const long n = gc->pn[i];
    double *x = gc->p[i];
    /* 1. element-wise vs double-reference central differences */
    const long nidx = n <= max_fd ? n : max_fd;
    long *idx = xcalloc((size_t)nidx, sizeof(long));
    double *fd = NEWD(nidx);
    double mx = 0.0;
    for (long k = 0; k < nidx; k++) {
      idx[k] = n <= max_fd ? k : k == 0 ? 0 : k == 1 ? n - 1 : irand((int)n);
      const long j = idx[k];
      const double save = x[j];
      x[j] = save + FD_H;
      const double lp = gc->ref_loss(gc->ctx);
      x[j] = save - FD_H;
      const double lm = gc->ref_loss(gc->ctx);
      x[j] = save;
      fd[k] = (lp - lm) / (2.0 * FD_H);
      mx = fmax(mx, fabs(fd[k]));
    }
    if (!(mx > 1e-6)) {
      print_error("%s d%s: reference gradient vanishes, the check would be vacuous\n",
                  gc->name, gc->pname[i]);
      fail();
    }
    const double tol = FD_RTOL * mx + FD_ATOL;
    double worst = 0.0;
    for (long k = 0; k < nidx; k++) {
      const double err = fabs((double)g[i][idx[k]] - fd[k]);
      worst = fmax(worst, err);
      if (!(err <= tol)) {
        print_error("%s d%s[%ld]: backward %.9g, finite differences %.9g (tol %.3g)\n",
                    gc->name, gc->pname[i], idx[k], (double)g[i][idx[k]], fd[k], tol);
        fail();
      }
    }

    /* 2. random projection vs float-forward central differences (Richardson) */
    double *base = NEWD(n), *u = NEWD(n);
    memcpy(base, x, (size_t)n * sizeof(double));
    double an = 0.0, l1 = 0.0;
    for (long j = 0; j < n; j++) {
      u[j] = (rng_next() & 1) ? 1.0 : -1.0;
      an += (double)g[i][j] * u[j];
      l1 += fabs((double)g[i][j]);
    }
    const double d1 = (loss_along(gc, gc->ker_loss, i, base, u, DIR_H) -
                       loss_along(gc, gc->ker_loss, i, base, u, -DIR_H)) / (2.0 * DIR_H);
    const double d2 = (loss_along(gc, gc->ker_loss, i, base, u, 0.5 * DIR_H) -
                       loss_along(gc, gc->ker_loss, i, base, u, -0.5 * DIR_H)) / DIR_H;
    const double dir = (4.0 * d2 - d1) / 3.0;
    const double dtol = DIR_RTOL * l1 + DIR_ATOL;
    if (!(fabs(an - dir) <= dtol)) {
      print_error("%s d%s: projection g.u = %.9g, float-forward differences %.9g (tol %.3g)\n",
                  gc->name, gc->pname[i], an, dir, dtol);
      fail();
    }
    if (verbose)
      fprintf(stderr, "  %-28s d%-6s n=%-6ld fd err/tol %.2e  projection err/tol %.2e\n",
              gc->name, gc->pname[i], n, worst / tol, fabs(an - dir) / dtol);
  }

  /* 3. accumulate: start from random G0, one call gives G0 + g, a second G0 + 2 g */
  float *G[MAXP] = {0}, *G0[MAXP] = {0};
  for (int i = 0; i < gc->np; i++) {
    double gmax = 0.0;
    for (long j = 0; j < gc->pn[i]; j++) gmax = fmax(gmax, fabs((double)g[i][j]));
    G0[i] = rand_f(gc->pn[i], (float)-gmax, (float)gmax);
    G[i] = NEWF(gc->pn[i]);
    memcpy(G[i], G0[i], (size_t)gc->pn[i] * sizeof(float));
  }
  for (int call = 1; call <= 2; call++) {
    gc->backward(gc->ctx, G);
    for (int i = 0; i < gc->np; i++) {
      double *want = NEWD(gc->pn[i]);
      for (long j = 0; j < gc->pn[i]; j++) want[j] = (double)G0[i][j] + call * (double)g[i][j];
      char what[128];
      snprintf(what, sizeof what, "%s d%s after %d accumulating call(s)", gc->name,
               gc->pname[i], call);
      check_close(what, G[i], want, gc->pn[i], 1e-5, 0.0);
    }
  }

  /* 4. NULL gradients: each one NULL in turn (the others must be unaffected), then all */
  for (int skip = 0; skip < gc->np; skip++) {
    float *H[MAXP] = {0};
    for (int i = 0; i < gc->np; i++)
      if (i != skip) H[i] = NEWF(gc->pn[i]);
    gc->backward(gc->ctx, H);
    for (int i = 0; i < gc->np; i++) {
      if (i == skip) continue;
      double *want = NEWD(gc->pn[i]);
      for (long j = 0; j < gc->pn[i]; j++) want[j] = g[i][j];
      char what[128];
      snprintf(what, sizeof what, "%s d%s with d%s = NULL", gc->name, gc->pname[i],
               gc->pname[skip]);
      check_close(what, H[i], want, gc->pn[i], 1e-6, 0.0);
    }
  }
  float *none[MAXP] = {0};
  gc->backward(gc->ctx, none);
}

/* ------------------------------------------------------------------------------------------ */
/* embedding */
typedef struct {
  int B, T, C, V, P, TV;
  int32_t *ids, *tids; /* tids may be NULL */
  int use_type;
  double *tok, *pos, *type;
  float *R, *ftok, *fpos, *ftype, *fout;
  double *out;
} emb_ctx;

static void emb_ref(emb_ctx *c) {
  const int N = c->B * c->T, C = c->C;
  for (int n = 0; n < N; n++)
    for (int ch = 0; ch < C; ch++) {
      double s = c->tok[(size_t)c->ids[n] * C + ch] + c->pos[(size_t)(n % c->T) * C + ch];
      if (c->use_type) s += c->type[(size_t)(c->tids ? c->tids[n] : 0) * C + ch];
      c->out[(size_t)n * C + ch] = s;
    }
}
static void emb_ker(emb_ctx *c) {
  to_float(c->ftok, c->tok, (long)c->V * c->C);
  to_float(c->fpos, c->pos, (long)c->P * c->C);
  if (c->use_type) to_float(c->ftype, c->type, (long)c->TV * c->C);
  embedding_forward(c->fout, c->ids, c->tids, c->ftok, c->fpos, c->use_type ? c->ftype : NULL,
                    c->B, c->T, c->C);
}
static double emb_ref_loss(void *v) {
  emb_ctx *c = v;
  emb_ref(c);
  return dot_fd(c->R, c->out, (long)c->B * c->T * c->C);
}
static double emb_ker_loss(void *v) {
  emb_ctx *c = v;
  emb_ker(c);
  return dot_ff(c->R, c->fout, (long)c->B * c->T * c->C);
}
static void emb_bwd(void *v, float *const *g) {
  emb_ctx *c = v;
  embedding_backward(g[0], g[1], c->use_type ? g[2] : NULL, c->R, c->ids, c->tids, c->B, c->T,
                     c->C);
}

/* type_mode: 0 no type table, 1 type table + type_ids, 2 type table without type_ids. */
static void run_embedding(const char *name, int B, int T, int C, int V, int type_mode,
                          int max_fd) {
  emb_ctx c = {.B = B, .T = T, .C = C, .V = V, .P = T + 3, .TV = 3};
  const int N = B * T;
  c.ids = xcalloc((size_t)N, sizeof(int32_t));
  for (int n = 0; n < N; n++) c.ids[n] = irand(V); /* repeated ids: V < N below */
  c.use_type = type_mode != 0;
  if (type_mode == 1) {
    c.tids = xcalloc((size_t)N, sizeof(int32_t));
    for (int n = 0; n < N; n++) c.tids[n] = irand(c.TV);
  }
  c.tok = rand_d((long)V * C, -1, 1);
  c.pos = rand_d((long)c.P * C, -1, 1);
  c.type = c.use_type ? rand_d((long)c.TV * C, -1, 1) : NULL;
  c.R = rand_f((long)N * C, -1, 1);
  c.ftok = NEWF((long)V * C);
  c.fpos = NEWF((long)c.P * C);
  c.ftype = NEWF((long)c.TV * C);
  c.fout = NEWF((long)N * C);
  c.out = NEWD((long)N * C);
  emb_ref(&c);
  emb_ker(&c);
  check_close(name, c.fout, c.out, (long)N * C, 1e-6, 0.0);
  gcase gc = {name, &c, emb_ref_loss, emb_ker_loss, emb_bwd, c.use_type ? 3 : 2,
              {"tok", "pos", "type"}, {c.tok, c.pos, c.type},
              {(long)V * C, (long)c.P * C, (long)c.TV * C}};
  check_gradients(&gc, max_fd);
}

static void test_embedding_values(void **state) {
  (void)state;
  /* B=1, T=2, C=2, P=3: out[n] = tok[ids[n]] + pos[n] + type[0] (type_ids NULL) */
  const float tok[3 * 2] = {1, 2, 10, 20, 100, 200};
  const float pos[3 * 2] = {0.5f, 0.25f, 4, 8, 1000, 1000};
  const float type[2 * 2] = {0.125f, -1, 77, 77};
  const int32_t ids[2] = {2, 0};
  float out[4];
  embedding_forward(out, ids, NULL, tok, pos, type, 1, 2, 2);
  const double want[4] = {100.625, 200 + 0.25 - 1, 1 + 4 + 0.125, 2 + 8 - 1};
  check_close("embedding values", out, want, 4, 0.0, 0.0);
  embedding_forward(out, ids, NULL, tok, pos, NULL, 1, 2, 2);
  const double want2[4] = {100.5, 200.25, 5, 10};
  check_close("embedding values without type", out, want2, 4, 0.0, 0.0);
}
static void test_embedding_grad(void **state) {
  (void)state;
  run_embedding("embedding type_ids", 2, 3, 5, 4, 1, 1 << 20);
  run_embedding("embedding no type_ids", 2, 3, 5, 4, 2, 1 << 20);
  run_embedding("embedding no type", 2, 3, 5, 4, 0, 1 << 20);
  run_embedding("embedding large", 4, 16, 300, 20, 1, 24); /* parallel, C % 64 != 0 */
}

/* ------------------------------------------------------------------------------------------ */
/* layernorm */
typedef struct {
  int N, C;
  float eps;
  double *inp, *w, *b, *out;
  float *R, *finp, *fw, *fb, *fout, *fmean, *frstd;
} ln_ctx;

static void ln_ref(ln_ctx *c) {
  for (int n = 0; n < c->N; n++) {
    const double *x = c->inp + (size_t)n * c->C;
    double m = 0.0, v = 0.0;
    for (int i = 0; i < c->C; i++) m += x[i];
    m /= c->C;
    for (int i = 0; i < c->C; i++) v += (x[i] - m) * (x[i] - m);
    v /= c->C; /* biased */
    const double r = 1.0 / sqrt(v + c->eps);
    for (int i = 0; i < c->C; i++) c->out[(size_t)n * c->C + i] = (x[i] - m) * r * c->w[i] + c->b[i];
  }
}
static void ln_ker(ln_ctx *c) {
  to_float(c->finp, c->inp, (long)c->N * c->C);
  to_float(c->fw, c->w, c->C);
  to_float(c->fb, c->b, c->C);
  layernorm_forward(c->fout, c->fmean, c->frstd, c->finp, c->fw, c->fb, c->N, c->C, c->eps);
}
static double ln_ref_loss(void *v) {
  ln_ctx *c = v;
  ln_ref(c);
  return dot_fd(c->R, c->out, (long)c->N * c->C);
}
static double ln_ker_loss(void *v) {
  ln_ctx *c = v;
  ln_ker(c);
  return dot_ff(c->R, c->fout, (long)c->N * c->C);
}
static void ln_bwd(void *v, float *const *g) {
  ln_ctx *c = v;
  ln_ker(c);
  layernorm_backward(g[0], g[1], g[2], c->R, c->finp, c->fw, c->fmean, c->frstd, c->N, c->C);
}

static void run_layernorm(const char *name, int N, int C, float eps, float offset, int max_fd) {
  ln_ctx c = {.N = N, .C = C, .eps = eps};
  const long NC = (long)N * C;
  c.inp = rand_d(NC, offset - 1.5f, offset + 1.5f);
  c.w = rand_d(C, 0.5f, 1.5f);
  c.b = rand_d(C, -0.5f, 0.5f);
  c.out = NEWD(NC);
  c.R = rand_f(NC, -1, 1);
  c.finp = NEWF(NC);
  c.fw = NEWF(C);
  c.fb = NEWF(C);
  c.fout = NEWF(NC);
  c.fmean = NEWF(N);
  c.frstd = NEWF(N);
  ln_ref(&c);
  ln_ker(&c);
  check_close(name, c.fout, c.out, NC, 1e-5, 0.0);
  gcase gc = {name, &c, ln_ref_loss, ln_ker_loss, ln_bwd, 3, {"inp", "w", "b"},
              {c.inp, c.w, c.b}, {NC, C, C}};
  check_gradients(&gc, max_fd);
}

static void test_layernorm_values(void **state) {
  (void)state;
  /* hand case: [1,2,3,4], eps 0: mean 2.5, biased var 1.25 */
  const float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, b[4] = {0, 0, 0, 0};
  float out[4], mean, rstd;
  layernorm_forward(out, &mean, &rstd, x, w, b, 1, 4, 0.0f);
  const double want[4] = {-1.3416407864998738, -0.4472135954999579, 0.4472135954999579,
                          1.3416407864998738};
  check_close("layernorm hand case", out, want, 4, 1e-6, 0.0);
  check_scalar("layernorm mean", mean, 2.5, 0.0);
  check_scalar("layernorm rstd", rstd, 1.0 / sqrt(1.25), 1e-7);
  /* random rows far from 0 (mean 1000), w = 1, b = 0: every row has mean 0 and biased
   * variance var/(var + eps) ~ 1 */
  const int N = 64, C = 300;
  float *in = rand_f((long)N * C, 999, 1001), *o = NEWF((long)N * C);
  float *ones = NEWF(C), *zeros = NEWF(C), *m = NEWF(N), *r = NEWF(N);
  for (int i = 0; i < C; i++) ones[i] = 1.0f;
  layernorm_forward(o, m, r, in, ones, zeros, N, C, 1e-12f);
  for (int n = 0; n < N; n++) {
    double s = 0.0, s2 = 0.0;
    for (int i = 0; i < C; i++) s += o[(size_t)n * C + i];
    s /= C;
    for (int i = 0; i < C; i++) s2 += (o[(size_t)n * C + i] - s) * (o[(size_t)n * C + i] - s);
    /* the mean (~1000) must not leak into the output: 1e-5 is ~100 float roundings */
    check_scalar("layernorm row mean", s, 0.0, 1e-5);
    check_scalar("layernorm row variance", s2 / C, 1.0, 1e-5);
  }
}
static void test_layernorm_grad(void **state) {
  (void)state;
  run_layernorm("layernorm", 4, 7, 1e-5f, 0.0f, 1 << 20);
  run_layernorm("layernorm offset", 3, 5, 1e-12f, 3.0f, 1 << 20);
  run_layernorm("layernorm large", 64, 300, 1e-5f, 0.5f, 24);
}

/* ------------------------------------------------------------------------------------------ */
/* matmul */
typedef struct {
  int N, K, M, has_bias;
  double *inp, *w, *bias, *out;
  float *R, *finp, *fw, *fbias, *fout;
} mm_ctx;

static void mm_ref(mm_ctx *c) {
  for (int n = 0; n < c->N; n++)
    for (int m = 0; m < c->M; m++) {
      double s = c->has_bias ? c->bias[m] : 0.0;
      for (int k = 0; k < c->K; k++) s += c->inp[(size_t)n * c->K + k] * c->w[(size_t)m * c->K + k];
      c->out[(size_t)n * c->M + m] = s;
    }
}
static void mm_ker(mm_ctx *c) {
  to_float(c->finp, c->inp, (long)c->N * c->K);
  to_float(c->fw, c->w, (long)c->M * c->K);
  if (c->has_bias) to_float(c->fbias, c->bias, c->M);
  matmul_forward(c->fout, c->finp, c->fw, c->has_bias ? c->fbias : NULL, c->N, c->K, c->M);
}
static double mm_ref_loss(void *v) {
  mm_ctx *c = v;
  mm_ref(c);
  return dot_fd(c->R, c->out, (long)c->N * c->M);
}
static double mm_ker_loss(void *v) {
  mm_ctx *c = v;
  mm_ker(c);
  return dot_ff(c->R, c->fout, (long)c->N * c->M);
}
static void mm_bwd(void *v, float *const *g) {
  mm_ctx *c = v;
  mm_ker(c);
  matmul_backward(g[0], g[1], c->has_bias ? g[2] : NULL, c->R, c->finp, c->fw, c->N, c->K, c->M);
}

static void run_matmul(const char *name, int N, int K, int M, int has_bias, int max_fd) {
  mm_ctx c = {.N = N, .K = K, .M = M, .has_bias = has_bias};
  c.inp = rand_d((long)N * K, -1, 1);
  c.w = rand_d((long)M * K, -1, 1);
  c.bias = rand_d(M, -1, 1);
  c.out = NEWD((long)N * M);
  c.R = rand_f((long)N * M, -1, 1);
  c.finp = NEWF((long)N * K);
  c.fw = NEWF((long)M * K);
  c.fbias = NEWF(M);
  c.fout = NEWF((long)N * M);
  mm_ref(&c);
  mm_ker(&c);
  check_close(name, c.fout, c.out, (long)N * M, 1e-5, 0.0);
  gcase gc = {name, &c, mm_ref_loss, mm_ker_loss, mm_bwd, has_bias ? 3 : 2,
              {"inp", "w", "bias"}, {c.inp, c.w, c.bias}, {(long)N * K, (long)M * K, M}};
  check_gradients(&gc, max_fd);
}

static void test_matmul_values(void **state) {
  (void)state;
  /* inp [2,2] @ w[3,2]^T + bias */
  const float inp[4] = {1, 2, 3, 4}, w[6] = {1, 0, 0, 1, 1, 1}, bias[3] = {0.5f, -1, 2};
  float out[6];
  matmul_forward(out, inp, w, bias, 2, 2, 3);
  const double want[6] = {1.5, 1, 5, 3.5, 3, 9};
  check_close("matmul with bias", out, want, 6, 0.0, 0.0);
  for (int i = 0; i < 6; i++) out[i] = NAN; /* forward overwrites (sgemm beta = 0) */
  matmul_forward(out, inp, w, NULL, 2, 2, 3);
  const double want2[6] = {1, 2, 3, 3, 4, 7};
  check_close("matmul without bias", out, want2, 6, 0.0, 0.0);
}
static void test_matmul_grad(void **state) {
  (void)state;
  run_matmul("matmul bias", 5, 6, 4, 1, 1 << 20);
  run_matmul("matmul no bias", 3, 4, 5, 0, 1 << 20);
  run_matmul("matmul large", 128, 20, 130, 1, 24); /* parallel colsum, M % 64 != 0 */
}

/* ------------------------------------------------------------------------------------------ */
/* gelu (both kinds) and tanh */
typedef struct {
  long n;
  int which; /* 0 gelu erf, 1 gelu tanh, 2 tanh */
  double *inp, *out;
  float *R, *finp, *fout;
} act_ctx;

static double ref_act(double x, int which) {
  if (which == 0) return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  if (which == 1) return 0.5 * x * (1.0 + tanh(sqrt(2.0 / 3.14159265358979323846) *
                                               (x + 0.044715 * x * x * x)));
  return tanh(x);
}
static void act_ker(act_ctx *c) {
  to_float(c->finp, c->inp, c->n);
  if (c->which == 2)
    tanh_forward(c->fout, c->finp, c->n);
  else
    gelu_forward(c->fout, c->finp, c->n, c->which == 1 ? PST_GELU_TANH : PST_GELU_ERF);
}
static double act_ref_loss(void *v) {
  act_ctx *c = v;
  for (long i = 0; i < c->n; i++) c->out[i] = ref_act(c->inp[i], c->which);
  return dot_fd(c->R, c->out, c->n);
}
static double act_ker_loss(void *v) {
  act_ctx *c = v;
  act_ker(c);
  return dot_ff(c->R, c->fout, c->n);
}
static void act_bwd(void *v, float *const *g) {
  act_ctx *c = v;
  act_ker(c);
  if (c->which == 2)
    tanh_backward(g[0], c->fout, c->R, c->n);
  else
    gelu_backward(g[0], c->finp, c->R, c->n, c->which == 1 ? PST_GELU_TANH : PST_GELU_ERF);
}

static void run_act(const char *name, int which, long n, int max_fd) {
  act_ctx c = {.n = n, .which = which};
  c.inp = rand_d(n, -5, 5);
  c.inp[0] = 0.0;
  c.out = NEWD(n);
  c.R = rand_f(n, -1, 1);
  c.finp = NEWF(n);
  c.fout = NEWF(n);
  act_ref_loss(&c);
  act_ker(&c);
  check_close(name, c.fout, c.out, n, 1e-6, 1e-7);
  gcase gc = {name, &c, act_ref_loss, act_ker_loss, act_bwd, 1, {"inp"}, {c.inp}, {n}};
  check_gradients(&gc, max_fd);
}

static void test_activation_values(void **state) {
  (void)state;
  /* torch.nn.functional.gelu(x) and gelu(x, approximate='tanh') at x = 0, 1, -1, 2.5, -3 */
  const float x[5] = {0, 1, -1, 2.5f, -3};
  const double erf_want[5] = {0, 0.8413447460685429, -0.15865525393145707, 2.4844758366855597,
                              -0.00404969409489031};
  const double tanh_want[5] = {0, 0.8411919906082768, -0.15880800939172324, 2.484915733910001,
                               -0.0036373920817729943};
  float out[5];
  gelu_forward(out, x, 5, PST_GELU_ERF);
  check_close("gelu erf values", out, erf_want, 5, 1e-6, 0.0);
  gelu_forward(out, x, 5, PST_GELU_TANH);
  check_close("gelu tanh values", out, tanh_want, 5, 1e-6, 0.0);
  /* derivatives at 0 (both 1/2) and 1: Phi(1) + phi(1) for erf; tanh form from d/dx */
  const float dout[3] = {1, 1, 2};
  float d[3] = {0, 0, 0};
  gelu_backward(d, x, dout, 3, PST_GELU_ERF);
  const double derf[3] = {0.5, 1.0833154705876864, 2 * -0.08331547058768629};
  check_close("gelu erf derivative", d, derf, 3, 1e-6, 0.0);
  memset(d, 0, sizeof d);
  gelu_backward(d, x, dout, 3, PST_GELU_TANH);
  const double dtanh[3] = {0.5, 1.0829640837983767, 2 * -0.08296408385288778};
  check_close("gelu tanh derivative", d, dtanh, 3, 1e-6, 0.0);
  /* tails: finite values and derivatives (no overflow, no inf*0) close to the reference;
   * tolerances relative to max(|value|, 1e-30) plus 1e-7 absolute */
  const float big[6] = {-60, -12, -7, 7, 12, 60};
  for (int kind = 0; kind < 2; kind++) {
    float y[6], dy[6] = {0}, ones[6] = {1, 1, 1, 1, 1, 1};
    gelu_forward(y, big, 6, (pst_gelu_kind)kind);
    gelu_backward(dy, big, ones, 6, (pst_gelu_kind)kind);
    for (int i = 0; i < 6; i++) {
      const double x0 = big[i], want = ref_act(x0, kind);
      const double dwant = (ref_act(x0 + 1e-6, kind) - ref_act(x0 - 1e-6, kind)) / 2e-6;
      assert_true(isfinite(y[i]) && isfinite(dy[i]));
      check_scalar(kind ? "gelu tanh tail" : "gelu erf tail", y[i], want, 1e-6 * fabs(want) + 1e-7);
      check_scalar(kind ? "gelu tanh tail derivative" : "gelu erf tail derivative", dy[i], dwant,
                   1e-5 * fabs(dwant) + 1e-7);
    }
  }
  const float h[2] = {0.5f, 0};
  float t[2];
  tanh_forward(t, h, 2);
  const double twant[2] = {0.46211715726000974, 0};
  check_close("tanh values", t, twant, 2, 1e-7, 0.0);
}
static void test_activation_grad(void **state) {
  (void)state;
  run_act("gelu erf", 0, 40, 1 << 20);
  run_act("gelu tanh", 1, 40, 1 << 20);
  run_act("tanh", 2, 40, 1 << 20);
  run_act("gelu erf large", 0, 20000, 24);
  run_act("gelu tanh large", 1, 20000, 24);
  run_act("tanh large", 2, 20000, 24);
}

/* ------------------------------------------------------------------------------------------ */
/* attention */
typedef struct {
  int B, T, C, NH, NKV, causal; /* k, v: [B,T,NKV*hs] (grouped-query when NKV < NH) */
  const uint8_t *mask;
  double *q, *k, *v, *out, *probs, *s; /* s: [T] scratch of the reference */
  float *R, *fq, *fk, *fv, *fout, *fprobs;
} att_ctx;

static void att_ref(att_ctx *c) {
  const int T = c->T, C = c->C, hs = C / c->NH;
  const double scale = 1.0 / sqrt((double)hs);
  double *s = c->s;
  for (int b = 0; b < c->B; b++)
    for (int h = 0; h < c->NH; h++)
      for (int i = 0; i < T; i++) {
        const double *qi = c->q + ((size_t)b * T + i) * C + h * hs;
        double *p = c->probs + (((size_t)b * c->NH + h) * T + i) * T;
        double *o = c->out + ((size_t)b * T + i) * C + h * hs;
        double mx = -INFINITY;
        for (int j = 0; j < T; j++) {
          p[j] = 0.0;
          const int allowed = (!c->mask || c->mask[b * T + j]) && (!c->causal || j <= i);
          s[j] = NAN;
          if (!allowed) continue;
          const double *kj = c->k + ((size_t)b * T + j) * c->NKV * hs + h / (c->NH / c->NKV) * hs;
          double d = 0.0;
          for (int e = 0; e < hs; e++) d += qi[e] * kj[e];
          s[j] = d * scale;
          mx = fmax(mx, s[j]);
        }
        double sum = 0.0;
        for (int j = 0; j < T; j++)
          if (!isnan(s[j])) sum += (p[j] = exp(s[j] - mx));
        for (int e = 0; e < hs; e++) o[e] = 0.0;
        for (int j = 0; j < T; j++) {
          if (isnan(s[j])) continue;
          p[j] /= sum;
          const double *vj = c->v + ((size_t)b * T + j) * c->NKV * hs + h / (c->NH / c->NKV) * hs;
          for (int e = 0; e < hs; e++) o[e] += p[j] * vj[e];
        }
      }
}
static void att_ker(att_ctx *c) {
  const long n = (long)c->B * c->T * c->C, nkv = n / c->NH * c->NKV;
  to_float(c->fq, c->q, n);
  to_float(c->fk, c->k, nkv);
  to_float(c->fv, c->v, nkv);
  attention_forward(c->fout, c->fprobs, c->fq, c->fk, c->fv, c->mask, c->causal, c->B, c->T,
                    c->C, c->NH, c->NKV);
}
static double att_ref_loss(void *v) {
  att_ctx *c = v;
  att_ref(c);
  return dot_fd(c->R, c->out, (long)c->B * c->T * c->C);
}
static double att_ker_loss(void *v) {
  att_ctx *c = v;
  att_ker(c);
  return dot_ff(c->R, c->fout, (long)c->B * c->T * c->C);
}
static void att_bwd(void *v, float *const *g) {
  att_ctx *c = v;
  att_ker(c);
  attention_backward(g[0], g[1], g[2], c->R, c->fprobs, c->fq, c->fk, c->fv, c->B, c->T, c->C,
                     c->NH, c->NKV);
}

static void att_setup(att_ctx *c, int B, int T, int NH, int NKV, int hs, const uint8_t *mask,
                      int causal) {
  *c = (att_ctx){.B = B, .T = T, .C = NH * hs, .NH = NH, .NKV = NKV, .causal = causal, .mask = mask};
  const long n = (long)B * T * c->C, nkv = (long)B * T * NKV * hs, np = (long)B * NH * T * T;
  c->q = rand_d(n, -1.5f, 1.5f);
  c->k = rand_d(nkv, -1.5f, 1.5f);
  c->v = rand_d(nkv, -1, 1);
  c->out = NEWD(n);
  c->probs = NEWD(np);
  c->s = NEWD(T);
  c->R = rand_f(n, -1, 1);
  c->fq = NEWF(n);
  c->fk = NEWF(nkv);
  c->fv = NEWF(nkv);
  c->fout = NEWF(n);
  c->fprobs = NEWF(np);
  att_ref(c);
  att_ker(c);
}

/* Structural checks of probs/out: masked and causal entries exactly 0, rows sum to 1, fully
 * masked rows all 0 with out 0; returns the number of fully masked rows seen. */
static int att_check_structure(const att_ctx *c) {
  int empty_rows = 0;
  for (int b = 0; b < c->B; b++)
    for (int h = 0; h < c->NH; h++)
      for (int i = 0; i < c->T; i++) {
        const float *p = c->fprobs + (((size_t)b * c->NH + h) * c->T + i) * c->T;
        int nallowed = 0;
        double sum = 0.0;
        for (int j = 0; j < c->T; j++) {
          const int allowed = (!c->mask || c->mask[b * c->T + j]) && (!c->causal || j <= i);
          nallowed += allowed;
          if (!allowed && p[j] != 0.0f) {
            print_error("attention: masked prob (b%d h%d i%d j%d) = %g, not 0\n", b, h, i, j,
                        (double)p[j]);
            fail();
          }
          sum += p[j];
        }
        if (nallowed) {
          check_scalar("attention probs row sum", sum, 1.0, 1e-6);
        } else {
          empty_rows++;
          check_scalar("attention fully masked row sum", sum, 0.0, 0.0);
          const float *o = c->fout + ((size_t)b * c->T + i) * c->C + h * (c->C / c->NH);
          for (int e = 0; e < c->C / c->NH; e++) check_scalar("attention masked out", o[e], 0, 0);
        }
      }
  return empty_rows;
}

static void run_attention(const char *name, int B, int T, int NH, int NKV, int hs, const uint8_t *mask,
                          int causal, int want_empty_rows, int max_fd) {
  att_ctx c;
  att_setup(&c, B, T, NH, NKV, hs, mask, causal);
  const long n = (long)B * T * c.C, nkv = (long)B * T * NKV * hs;
  char what[128];
  snprintf(what, sizeof what, "%s out", name);
  check_close(what, c.fout, c.out, n, 1e-5, 0.0);
  snprintf(what, sizeof what, "%s probs", name);
  check_close(what, c.fprobs, c.probs, (long)B * NH * T * T, 1e-5, 0.0);
  assert_int_equal(att_check_structure(&c), want_empty_rows);
  gcase gc = {name, &c, att_ref_loss, att_ker_loss, att_bwd, 3, {"q", "k", "v"},
              {c.q, c.k, c.v}, {n, nkv, nkv}};
  check_gradients(&gc, max_fd);
}

static void test_attention_values(void **state) {
  (void)state;
  /* B=1, T=2, NH=1, hs=1 (scale 1): q = [1, 1], k = [0, ln 3] -> row probs [1/4, 3/4];
   * v = [2, 6] -> out = 5 (non-causal); causal: row 0 sees key 0 only -> out 2. */
  const float q[2] = {1, 1}, k[2] = {0, (float)log(3.0)}, v[2] = {2, 6};
  float out[2] = {NAN, NAN}, probs[4] = {NAN, NAN, NAN, NAN}; /* outputs are overwritten */
  attention_forward(out, probs, q, k, v, NULL, 0, 1, 2, 1, 1, 1);
  const double pw[4] = {0.25, 0.75, 0.25, 0.75}, ow[2] = {5, 5};
  check_close("attention hand probs", probs, pw, 4, 1e-6, 0.0);
  check_close("attention hand out", out, ow, 2, 1e-6, 0.0);
  attention_forward(out, probs, q, k, v, NULL, 1, 1, 2, 1, 1, 1);
  const double pc[4] = {1, 0, 0.25, 0.75}, oc[2] = {2, 5};
  check_close("attention hand causal probs", probs, pc, 4, 1e-6, 0.0);
  check_close("attention hand causal out", out, oc, 2, 1e-6, 0.0);
  /* key 1 padded: every row attends to key 0 only */
  const uint8_t m[2] = {1, 0};
  attention_forward(out, probs, q, k, v, m, 0, 1, 2, 1, 1, 1);
  const double pm[4] = {1, 0, 1, 0}, om[2] = {2, 2};
  check_close("attention hand masked probs", probs, pm, 4, 0.0, 0.0);
  check_close("attention hand masked out", out, om, 2, 0.0, 0.0);
  /* every key padded: probs and out 0 (not NaN, not a uniform average) */
  const uint8_t m0[2] = {0, 0};
  attention_forward(out, probs, q, k, v, m0, 0, 1, 2, 1, 1, 1);
  const double z[4] = {0, 0, 0, 0};
  check_close("attention fully masked probs", probs, z, 4, 0.0, 0.0);
  check_close("attention fully masked out", out, z, 2, 0.0, 0.0);
  /* huge scores do not overflow */
  const float qb[2] = {1000, 1000}, kb[2] = {1000, -1000};
  attention_forward(out, probs, qb, kb, v, NULL, 0, 1, 2, 1, 1, 1);
  const double pb[4] = {1, 0, 1, 0};
  check_close("attention large scores", probs, pb, 4, 0.0, 0.0);
}

static void test_attention_grad(void **state) {
  (void)state;
  const int B = 2, T = 5;
  run_attention("attention plain", B, T, 2, 2, 3, NULL, 0, 0, 1 << 20);
  /* batch 0: keys 3,4 padded; batch 1: key 1 padded */
  const uint8_t pad[10] = {1, 1, 1, 0, 0, 1, 0, 1, 1, 1};
  run_attention("attention padding", B, T, 2, 2, 3, pad, 0, 0, 1 << 20);
  run_attention("attention causal", B, T, 2, 2, 3, NULL, 1, 0, 1 << 20);
  /* causal + padding of key 0 in batch 1: row 0 of batch 1 has no key (2 heads) */
  const uint8_t pad0[10] = {1, 1, 1, 1, 0, 0, 1, 1, 1, 1};
  run_attention("attention causal padding", B, T, 2, 2, 3, pad0, 1, 2, 1 << 20);
  /* batch 1 entirely padded: 2 heads x 5 rows without keys */
  const uint8_t padall[10] = {1, 1, 0, 1, 1, 0, 0, 0, 0, 0};
  run_attention("attention empty batch", B, T, 2, 2, 3, padall, 0, 10, 1 << 20);
  /* larger: parallel softmax rows, T not a multiple of anything */
  uint8_t *padl = xcalloc(2 * 37, 1);
  for (int j = 0; j < 2 * 37; j++) padl[j] = (uint8_t)(j % 37 < 30 || j < 37);
  run_attention("attention large", 2, 37, 3, 3, 16, padl, 0, 0, 24);
  run_attention("attention large causal", 2, 37, 3, 3, 16, padl, 1, 0, 24);
  /* grouped-query (LLaMA): 6 query heads share 2 key/value heads; and one shared head */
  run_attention("attention gqa causal", B, T, 6, 2, 4, pad, 1, 0, 1 << 20);
  run_attention("attention gqa padding", B, T, 4, 1, 3, pad, 0, 0, 1 << 20);
}

/* ------------------------------------------------------------------------------------------ */
/* cross-entropy */
typedef struct {
  int N, V;
  float ls, dloss;
  const int32_t *targets;
  const float *weights;
  double *logits;
  float *flogits;
} ce_ctx;

/* torch formulation: log_softmax, then (1-ls) nll + ls * mean_j(-log p_j), weighted mean. */
static double ref_ce(const double *logits, const int32_t *targets, const float *weights, int N,
                     int V, double ls) {
  double num = 0.0, den = 0.0;
  for (int n = 0; n < N; n++) {
    const double w = weights ? weights[n] : 1.0;
    if (w == 0.0) continue;
    const double *x = logits + (size_t)n * V;
    double mx = -INFINITY, s = 0.0;
    for (int j = 0; j < V; j++) mx = fmax(mx, x[j]);
    for (int j = 0; j < V; j++) s += exp(x[j] - mx);
    const double lse = mx + log(s);
    double smooth = 0.0;
    for (int j = 0; j < V; j++) smooth += -(x[j] - lse);
    num += w * ((1.0 - ls) * -(x[targets[n]] - lse) + ls * smooth / V);
    den += w;
  }
  return den == 0.0 ? 0.0 : num / den;
}
static double ce_ref_loss(void *v) {
  ce_ctx *c = v;
  return c->dloss * ref_ce(c->logits, c->targets, c->weights, c->N, c->V, c->ls);
}
static double ce_ker_loss(void *v) {
  ce_ctx *c = v;
  to_float(c->flogits, c->logits, (long)c->N * c->V);
  return c->dloss * crossentropy_forward(c->flogits, c->targets, c->weights, c->N, c->V, c->ls);
}
static void ce_bwd(void *v, float *const *g) {
  ce_ctx *c = v;
  to_float(c->flogits, c->logits, (long)c->N * c->V);
  crossentropy_backward(g[0], c->flogits, c->targets, c->weights, c->N, c->V, c->ls, c->dloss);
}

static void run_ce(const char *name, int N, int V, float ls, int weighted, int max_fd) {
  ce_ctx c = {.N = N, .V = V, .ls = ls, .dloss = 1.7f};
  int32_t *t = xcalloc((size_t)N, sizeof(int32_t));
  for (int n = 0; n < N; n++) t[n] = irand(V);
  c.targets = t;
  c.logits = rand_d((long)N * V, -3, 3);
  c.flogits = NEWF((long)N * V);
  if (weighted) {
    float *w = rand_f(N, 0.25f, 2.0f);
    w[1] = 0.0f; /* zero-weight rows with an out-of-range target (never read) */
    w[N - 1] = 0.0f;
    t[1] = -100;
    t[N - 1] = V + 100;
    c.weights = w;
  }
  check_scalar(name, ce_ker_loss(&c), ce_ref_loss(&c), 1e-6 * fabs(ce_ref_loss(&c)));
  gcase gc = {name, &c, ce_ref_loss, ce_ker_loss, ce_bwd, 1, {"logits"}, {c.logits},
              {(long)N * V}};
  check_gradients(&gc, max_fd);
  if (weighted) { /* zero-weight rows get no gradient, also in the accumulating calls */
    float *g = NEWF((long)N * V);
    ce_bwd(&c, &g);
    for (int j = 0; j < V; j++) {
      assert_true(g[(size_t)1 * V + j] == 0.0f);
      assert_true(g[(size_t)(N - 1) * V + j] == 0.0f);
    }
  }
}

static void test_ce_values(void **state) {
  (void)state;
  /* logits [1,2,3], target 2: -log softmax = 0.40760596444438013; with ls = 0.1:
   * 0.9 * 0.4076... + 0.1 * mean(2.4076.., 1.4076.., 0.4076..) = 0.5076059644443801 */
  const float x[3] = {1, 2, 3};
  const int32_t t2[1] = {2};
  check_scalar("ce ls=0", crossentropy_forward(x, t2, NULL, 1, 3, 0.0f), 0.40760596444438013,
               1e-6);
  check_scalar("ce ls=0.1", crossentropy_forward(x, t2, NULL, 1, 3, 0.1f), 0.5076059644443801,
               1e-6);
  /* ls = 0: equals -log p_t of the softmax, for every target */
  for (int32_t t = 0; t < 3; t++) {
    const double p = exp(x[t]) / (exp(1.0) + exp(2.0) + exp(3.0));
    check_scalar("ce = -log p", crossentropy_forward(x, &t, NULL, 1, 3, 0.0f), -log(p), 1e-6);
  }
  /* uniform logits: log V whatever ls */
  const float u[4] = {0.3f, 0.3f, 0.3f, 0.3f};
  const int32_t t1[1] = {1};
  check_scalar("ce uniform", crossentropy_forward(u, t1, NULL, 1, 4, 0.0f), log(4.0), 1e-6);
  check_scalar("ce uniform ls", crossentropy_forward(u, t1, NULL, 1, 4, 0.3f), log(4.0), 1e-6);
  /* weights: rows [1,2,3]->2 and [0,0,0]->0 with weights 1 and 3: (l0 + 3 log 3) / 4;
   * a zero-weight third row holds NaN logits and target -100 and must not be read */
  const float x3[9] = {1, 2, 3, 0, 0, 0, NAN, NAN, NAN};
  const int32_t t3[3] = {2, 0, -100};
  const float w3[3] = {1, 3, 0};
  const double want = (0.40760596444438013 + 3 * log(3.0)) / 4;
  check_scalar("ce weighted", crossentropy_forward(x3, t3, w3, 3, 3, 0.0f), want, 1e-6);
  float g[9];
  for (int i = 0; i < 9; i++) g[i] = 0.5f;
  crossentropy_backward(g, x3, t3, w3, 3, 3, 0.0f, 1.0f);
  for (int j = 6; j < 9; j++) check_scalar("ce zero-weight row gradient", g[j], 0.5, 0.0);
  /* row 1 (weight 3/4 of the mean): d/dx_j = 3/4 (1/3 - [j = 0]) */
  check_scalar("ce weighted gradient", g[3], 0.5 + 0.75 * (1.0 / 3 - 1), 1e-6);
  check_scalar("ce weighted gradient", g[4], 0.5 + 0.75 / 3, 1e-6);
  /* every weight 0: loss 0, backward a no-op (targets never read) */
  const float w0[3] = {0, 0, 0};
  const int32_t tbad[3] = {-1, 99, -100};
  check_scalar("ce all weights 0", crossentropy_forward(x3, tbad, w0, 3, 3, 0.1f), 0.0, 0.0);
  crossentropy_backward(g, x3, tbad, w0, 3, 3, 0.1f, 1.0f);
  for (int j = 6; j < 9; j++) check_scalar("ce all weights 0 gradient", g[j], 0.5, 0.0);
  /* large logits do not overflow: [1000, 0] -> target 0 costs ~0, target 1 costs 1000 */
  const float big[2] = {1000, 0};
  const int32_t b0[1] = {0}, b1[1] = {1};
  check_scalar("ce large logits", crossentropy_forward(big, b0, NULL, 1, 2, 0.0f), 0.0, 1e-9);
  check_scalar("ce large logits", crossentropy_forward(big, b1, NULL, 1, 2, 0.0f), 1000.0, 1e-3);
}
static void test_ce_grad(void **state) {
  (void)state;
  run_ce("ce", 6, 5, 0.0f, 0, 1 << 20);
  run_ce("ce label smoothing", 6, 5, 0.1f, 0, 1 << 20);
  run_ce("ce weights", 6, 5, 0.0f, 1, 1 << 20);
  run_ce("ce weights label smoothing", 7, 4, 0.2f, 1, 1 << 20);
  run_ce("ce large", 40, 500, 0.1f, 1, 24);
}

/* ------------------------------------------------------------------------------------------ */
/* mse */
typedef struct {
  int N;
  float dloss;
  const float *target;
  double *pred;
  float *fpred;
} mse_ctx;

static double mse_ref_loss(void *v) {
  mse_ctx *c = v;
  double s = 0.0;
  for (int n = 0; n < c->N; n++) s += (c->pred[n] - c->target[n]) * (c->pred[n] - c->target[n]);
  return c->dloss * s / c->N;
}
static double mse_ker_loss(void *v) {
  mse_ctx *c = v;
  to_float(c->fpred, c->pred, c->N);
  return c->dloss * mse_forward(c->fpred, c->target, c->N);
}
static void mse_bwd(void *v, float *const *g) {
  mse_ctx *c = v;
  to_float(c->fpred, c->pred, c->N);
  mse_backward(g[0], c->fpred, c->target, c->N, c->dloss);
}

static void test_mse(void **state) {
  (void)state;
  const float p[3] = {1, 2, 3}, t[3] = {0, 0, 0};
  check_scalar("mse hand", mse_forward(p, t, 3), 14.0 / 3.0, 1e-12);
  float d[3] = {1, 1, 1};
  mse_backward(d, p, t, 3, 3.0f); /* 1 + 3 * 2 * p / 3 */
  const double dw[3] = {3, 5, 7};
  check_close("mse gradient hand", d, dw, 3, 1e-7, 0.0);
  mse_ctx c = {.N = 9, .dloss = 0.8f};
  c.target = rand_f(9, -2, 2);
  c.pred = rand_d(9, -2, 2);
  c.fpred = NEWF(9);
  check_scalar("mse", mse_ker_loss(&c), mse_ref_loss(&c), 1e-6 * mse_ref_loss(&c));
  gcase gc = {"mse", &c, mse_ref_loss, mse_ker_loss, mse_bwd, 1, {"pred"}, {c.pred}, {9}};
  check_gradients(&gc, 1 << 20);
}

/* ------------------------------------------------------------------------------------------ */
/* The OpenMP reductions (layernorm dw/db, embedding scatter, cross-entropy sum) are summed in
 * a fixed order: results must be bitwise identical with 1 thread and with all of them.
 * Skipped when OpenMP is limited to one thread (e.g. OMP_NUM_THREADS=1 under valgrind). */
static void test_thread_independence(void **state) {
  (void)state;
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  if (saved < 2) skip();
  const int N = 96, C = 200, V = 700;
  float *x = rand_f((long)N * C, -2, 2), *dout = rand_f((long)N * C, -1, 1);
  float *w = rand_f(C, 0.5f, 1.5f), *b = rand_f(C, -1, 1);
  float *lg = rand_f((long)N * V, -4, 4), *wt = rand_f(N, 0, 1);
  int32_t *ids = xcalloc((size_t)N, sizeof(int32_t)), *tg = xcalloc((size_t)N, sizeof(int32_t));
  for (int n = 0; n < N; n++) {
    ids[n] = irand(7);
    tg[n] = irand(V);
  }
  float *out[2], *dx[2], *dw[2], *db[2], *dtok[2], *dpos[2], *m = NEWF(N), *r = NEWF(N);
  double ce[2];
  for (int k = 0; k < 2; k++) {
    omp_set_num_threads(k == 0 ? 1 : saved);
    out[k] = NEWF((long)N * C);
    dx[k] = NEWF((long)N * C);
    dw[k] = NEWF(C);
    db[k] = NEWF(C);
    dtok[k] = NEWF(7L * C);
    dpos[k] = NEWF((long)N * C);
    layernorm_forward(out[k], m, r, x, w, b, N, C, 1e-5f);
    layernorm_backward(dx[k], dw[k], db[k], dout, x, w, m, r, N, C);
    embedding_backward(dtok[k], dpos[k], NULL, dout, ids, NULL, 4, N / 4, C);
    ce[k] = crossentropy_forward(lg, tg, wt, N, V, 0.1f);
  }
  omp_set_num_threads(saved);
  assert_memory_equal(out[0], out[1], (size_t)N * C * sizeof(float));
  assert_memory_equal(dx[0], dx[1], (size_t)N * C * sizeof(float));
  assert_memory_equal(dw[0], dw[1], (size_t)C * sizeof(float));
  assert_memory_equal(db[0], db[1], (size_t)C * sizeof(float));
  assert_memory_equal(dtok[0], dtok[1], 7 * (size_t)C * sizeof(float));
  assert_memory_equal(dpos[0], dpos[1], (size_t)N * C * sizeof(float));
  assert_true(ce[0] == ce[1]);
#else
  skip();
#endif
}

int main(void) {
  const char *v = getenv("PST_TEST_VERBOSE");
  verbose = v && *v && *v != '0';
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_embedding_values, teardown),
      cmocka_unit_test_teardown(test_embedding_grad, teardown),
      cmocka_unit_test_teardown(test_layernorm_values, teardown),
      cmocka_unit_test_teardown(test_layernorm_grad, teardown),
      cmocka_unit_test_teardown(test_matmul_values, teardown),
      cmocka_unit_test_teardown(test_matmul_grad, teardown),
      cmocka_unit_test_teardown(test_activation_values, teardown),
      cmocka_unit_test_teardown(test_activation_grad, teardown),
      cmocka_unit_test_teardown(test_attention_values, teardown),
      cmocka_unit_test_teardown(test_attention_grad, teardown),
      cmocka_unit_test_teardown(test_ce_values, teardown),
      cmocka_unit_test_teardown(test_ce_grad, teardown),
      cmocka_unit_test_teardown(test_mse, teardown),
      cmocka_unit_test_teardown(test_thread_independence, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
