/* test_cuda_ops.c — parity of the CUDA backend (include/pst/cuda.h) with the CPU backend.
 *
 * Every op runs on the same random inputs on the CPU (libpst.a) and on the device, and the
 * results are compared with the tolerance each op's contract states:
 *  - bit-identical: PST scores S, W', the effective weight M ⊙ W', top-k thresholds and masks
 *    (random, heavy ties, all equal, -0.0/+0.0, keep = 0 / 1 / numel, NaN -> PST_ERR_NUMERIC
 *    with the mask untouched), the threshold mask, AdamW (x, m, v after several steps), MSE
 *    backward;
 *  - transcendental element-wise ops (GELU erf/tanh, tanh): |d| <= 1e-5 |ref| + 1e-6 max|ref|
 *    (CUDA's expf/erff/tanhf vs glibc's, a few ulp);
 *  - reductions and cuBLAS products (layernorm, matmul, attention, cross-entropy gradients,
 *    linear forward/backward): max|d| <= 1e-5 max|ref| per tensor (2e-4 where the context uses
 *    TF32, --tf32); losses and sums of squares: relative 1e-12 (double accumulators).
 * Usage: test_cuda_ops [--quick] [--tf32] [--bench] [--bench-out FILE]
 *   --quick  small shapes only (for compute-sanitizer);  --bench  also time the PST layer ops at
 *   bert-base shapes on the device and on the CPU (printed, and appended to FILE).
 * Exits 77 (automake SKIP) with the reason when there is no usable CUDA device. */
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/blas.h"
#include "pst/config.h"
#include "pst/cuda.h"
#include "pst/kernels.h"
#include "pst/linear.h"
#include "pst/params.h"
#include "pst/sparsity.h"
#include "pst/train.h"

static int g_pass, g_fail, g_quick, g_tf32;
static pst_cuda_ctx *g_ctx;

#define TRY(call)                                                                 \
  do {                                                                            \
    if ((call) != PST_OK) {                                                       \
      fprintf(stderr, "test_cuda_ops: %s failed at line %d\n", #call, __LINE__); \
      pst_err_print(stderr, 1);                                                   \
      exit(1);                                                                    \
    }                                                                             \
  } while (0)

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (ok) g_pass++;
  else g_fail++;
}

/* ---- data ------------------------------------------------------------------------------ */

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd_u64(void) {
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return g_rng;
}
static float rnd_normal(void) {
  const double u1 = ((rnd_u64() >> 11) + 1.0) * (1.0 / 9007199254740993.0), u2 = (rnd_u64() >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void *xmalloc(size_t bytes) {
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!p) {
    fprintf(stderr, "test_cuda_ops: out of memory\n");
    exit(1);
  }
  return p;
}
static float *fnew(long n) { return xmalloc((size_t)n * sizeof(float)); }
static float *frand(long n, float scale) {
  float *x = fnew(n);
  for (long i = 0; i < n; i++) x[i] = scale * rnd_normal();
  return x;
}

/* device copy of host data (n elements of `size` bytes) */
static void *dput(const void *h, long n, size_t size) {
  void *d;
  TRY(pst_cuda_alloc(&d, (size_t)n * size, "test data"));
  if (h) TRY(pst_cuda_upload(g_ctx, d, h, (size_t)n * size));
  return d;
}
static float *dputf(const float *h, long n) { return dput(h, n, sizeof(float)); }
/* host copy of device floats */
static float *dgetf(const float *d, long n) {
  float *h = fnew(n);
  TRY(pst_cuda_download(g_ctx, h, d, (size_t)n * sizeof(float)));
  return h;
}
static double dget_double(const double *d) {
  double h;
  TRY(pst_cuda_download(g_ctx, &h, d, sizeof h));
  return h;
}

/* ---- comparisons ----------------------------------------------------------------------- */

static double maxabs(const float *x, long n) {
  double m = 0;
  for (long i = 0; i < n; i++)
    if (fabs(x[i]) > m) m = fabs(x[i]);
  return m;
}
/* max|a - b| / max|ref| (0 if both are 0); NaN anywhere counts as a failure */
static double normwise(const float *got, const float *ref, long n) {
  double d = 0, r = maxabs(ref, n);
  for (long i = 0; i < n; i++) {
    if (isnan(got[i]) != isnan(ref[i])) return INFINITY;
    const double e = fabs((double)got[i] - ref[i]);
    if (e > d) d = e;
  }
  return r > 0 ? d / r : d;
}
static long bit_mismatches(const void *a, const void *b, long n, size_t size) {
  long c = 0;
  const unsigned char *x = a, *y = b;
  for (long i = 0; i < n; i++)
    if (memcmp(x + (size_t)i * size, y + (size_t)i * size, size)) c++;
  return c;
}
static void check_close(const char *what, const float *got, const float *ref, long n, double tol) {
  const double e = normwise(got, ref, n);
  check(e <= tol, "%s: max|d|/max|ref| = %.3g (tol %.1g; %ld of %ld bit-identical)", what, e, tol,
        n - bit_mismatches(got, ref, n, sizeof(float)), n);
}
static void check_bits(const char *what, const void *got, const void *ref, long n, size_t size) {
  const long bad = bit_mismatches(got, ref, n, size);
  check(bad == 0, "%s: %ld of %ld elements differ (must be bit-identical)", what, bad, n);
}
/* element-wise: |d| <= rtol |ref| + atol max|ref| */
static void check_elementwise(const char *what, const float *got, const float *ref, long n, double rtol,
                              double atol) {
  const double s = maxabs(ref, n);
  long bad = 0, worst = -1;
  double wr = 0;
  for (long i = 0; i < n; i++) {
    const double d = fabs((double)got[i] - ref[i]), lim = rtol * fabs(ref[i]) + atol * s;
    if (!(d <= lim)) {
      bad++;
      if (worst < 0 || d / (lim > 0 ? lim : 1e-300) > wr) {
        worst = i;
        wr = d / (lim > 0 ? lim : 1e-300);
      }
    }
  }
  if (bad)
    check(0, "%s: %ld of %ld elements outside %.0e|ref| + %.0e max|ref| (worst [%ld] %.9g vs %.9g)", what, bad, n,
          rtol, atol, worst, got[worst], ref[worst]);
  else
    check(1, "%s: element-wise within %.0e|ref| + %.0e max|ref| (%ld of %ld bit-identical)", what, rtol, atol,
          n - bit_mismatches(got, ref, n, sizeof(float)), n);
}
static double gemm_tol(void) { return g_tf32 ? 2e-3 : 1e-5; }

/* ---- kernels.h ops ----------------------------------------------------------------------- */

static void test_layernorm(void) {
  const int N = g_quick ? 33 : 517, C = g_quick ? 100 : 768;
  const long NC = (long)N * C;
  float *x = frand(NC, 1.0f), *w = frand(C, 1.0f), *b = frand(C, 1.0f);
  for (long i = 0; i < NC; i++) x[i] += 3.0f; /* a mean far from 0 */
  float *out = fnew(NC), *mean = fnew(N), *rstd = fnew(N);
  layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
  float *dx = dputf(x, NC), *dw = dputf(w, C), *db = dputf(b, C), *dout = dputf(NULL, NC), *dmean = dputf(NULL, N),
        *drstd = dputf(NULL, N);
  TRY(pst_cuda_layernorm_forward(g_ctx, dout, dmean, drstd, dx, dw, db, N, C, 1e-5f));
  float *o2 = dgetf(dout, NC), *m2 = dgetf(dmean, N), *r2 = dgetf(drstd, N);
  check_close("layernorm_forward out", o2, out, NC, 1e-6);
  check_close("layernorm_forward mean", m2, mean, N, 1e-6);
  check_close("layernorm_forward rstd", r2, rstd, N, 1e-6);
  /* backward, accumulating onto random gradients */
  float *g = frand(NC, 1.0f), *gi = frand(NC, 1.0f), *gw = frand(C, 1.0f), *gb = frand(C, 1.0f);
  float *dg = dputf(g, NC), *dgi = dputf(gi, NC), *dgw = dputf(gw, C), *dgb = dputf(gb, C);
  layernorm_backward(gi, gw, gb, g, x, w, mean, rstd, N, C);
  TRY(pst_cuda_layernorm_backward(g_ctx, dgi, dgw, dgb, dg, dx, dw, dmean, drstd, N, C));
  float *gi2 = dgetf(dgi, NC), *gw2 = dgetf(dgw, C), *gb2 = dgetf(dgb, C);
  check_close("layernorm_backward dinp", gi2, gi, NC, 1e-5);
  check_close("layernorm_backward dw", gw2, gw, C, 1e-5);
  check_close("layernorm_backward db", gb2, gb, C, 1e-5);
  void *fr[] = {x, w, b, out, mean, rstd, o2, m2, r2, g, gi, gw, gb, gi2, gw2, gb2};
  for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
  void *dfr[] = {dx, dw, db, dout, dmean, drstd, dg, dgi, dgw, dgb};
  for (size_t i = 0; i < sizeof dfr / sizeof dfr[0]; i++) pst_cuda_release(dfr[i]);
}

static void test_matmul(void) {
  const int N = g_quick ? 17 : 130, K = g_quick ? 40 : 320, M = g_quick ? 24 : 200;
  float *x = frand((long)N * K, 1.0f), *w = frand((long)M * K, 0.1f), *b = frand(M, 1.0f);
  float *out = fnew((long)N * M);
  float *dx = dputf(x, (long)N * K), *dw = dputf(w, (long)M * K), *db = dputf(b, M), *dout = dputf(NULL, (long)N * M);
  matmul_forward(out, x, w, b, N, K, M);
  TRY(pst_cuda_matmul_forward(g_ctx, dout, dx, dw, db, N, K, M));
  float *o2 = dgetf(dout, (long)N * M);
  check_close("matmul_forward", o2, out, (long)N * M, gemm_tol());
  float *g = frand((long)N * M, 1.0f), *gi = frand((long)N * K, 1.0f), *gw = frand((long)M * K, 1.0f),
        *gb = frand(M, 1.0f);
  float *dg = dputf(g, (long)N * M), *dgi = dputf(gi, (long)N * K), *dgw = dputf(gw, (long)M * K), *dgb = dputf(gb, M);
  matmul_backward(gi, gw, gb, g, x, w, N, K, M);
  TRY(pst_cuda_matmul_backward(g_ctx, dgi, dgw, dgb, dg, dx, dw, N, K, M));
  float *gi2 = dgetf(dgi, (long)N * K), *gw2 = dgetf(dgw, (long)M * K), *gb2 = dgetf(dgb, M);
  check_close("matmul_backward dinp", gi2, gi, (long)N * K, gemm_tol());
  check_close("matmul_backward dw", gw2, gw, (long)M * K, gemm_tol());
  check_close("matmul_backward dbias", gb2, gb, M, 1e-6);
  void *fr[] = {x, w, b, out, o2, g, gi, gw, gb, gi2, gw2, gb2};
  for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
  void *dfr[] = {dx, dw, db, dout, dg, dgi, dgw, dgb};
  for (size_t i = 0; i < sizeof dfr / sizeof dfr[0]; i++) pst_cuda_release(dfr[i]);
}

static void test_activations(void) {
  const long n = g_quick ? 5000 : 300000;
  float *x = frand(n, 3.0f);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 10.0f, -10.0f, 30.0f, -30.0f, 88.0f, -88.0f, 0.5f, -0.75f};
  memcpy(x, special, sizeof special);
  float *dx = dputf(x, n), *dy = dputf(NULL, n);
  float *g = frand(n, 1.0f), *dg = dputf(g, n);
  for (int kind = 0; kind < 2; kind++) {
    const char *nm = kind == PST_GELU_TANH ? "tanh" : "erf";
    char what[64];
    float *y = fnew(n);
    gelu_forward(y, x, n, (pst_gelu_kind)kind);
    TRY(pst_cuda_gelu_forward(g_ctx, dy, dx, n, (pst_gelu_kind)kind));
    float *y2 = dgetf(dy, n);
    snprintf(what, sizeof what, "gelu_forward (%s)", nm);
    check_elementwise(what, y2, y, n, 1e-5, 1e-6);
    float *gi = frand(n, 1.0f), *dgi = dputf(gi, n);
    gelu_backward(gi, x, g, n, (pst_gelu_kind)kind);
    TRY(pst_cuda_gelu_backward(g_ctx, dgi, dx, dg, n, (pst_gelu_kind)kind));
    float *gi2 = dgetf(dgi, n);
    snprintf(what, sizeof what, "gelu_backward (%s)", nm);
    check_elementwise(what, gi2, gi, n, 1e-5, 1e-6);
    free(y);
    free(y2);
    free(gi);
    free(gi2);
    pst_cuda_release(dgi);
  }
  float *y = fnew(n);
  tanh_forward(y, x, n);
  TRY(pst_cuda_tanh_forward(g_ctx, dy, dx, n));
  float *y2 = dgetf(dy, n);
  check_elementwise("tanh_forward", y2, y, n, 1e-5, 1e-6);
  float *gi = frand(n, 1.0f), *dgi = dputf(gi, n);
  tanh_backward(gi, y, g, n);
  TRY(pst_cuda_tanh_backward(g_ctx, dgi, dy, dg, n));
  float *gi2 = dgetf(dgi, n);
  check_elementwise("tanh_backward", gi2, gi, n, 1e-5, 1e-6);
  free(x);
  free(g);
  free(y);
  free(y2);
  free(gi);
  free(gi2);
  pst_cuda_release(dx);
  pst_cuda_release(dy);
  pst_cuda_release(dg);
  pst_cuda_release(dgi);
}

static void test_attention(int causal) {
  const int B = 3, T = g_quick ? 19 : 70, NH = 4, hs = g_quick ? 8 : 16, C = NH * hs;
  const long n = (long)B * T * C, np = (long)B * NH * T * T;
  float *q = frand(n, 1.0f), *k = frand(n, 1.0f), *v = frand(n, 1.0f);
  uint8_t *km = xmalloc((size_t)B * T);
  for (int t = 0; t < T; t++) {
    km[t] = 1;                    /* batch 0: no padding */
    km[T + t] = t < T - 7;        /* batch 1: 7 padding keys */
    km[2 * T + t] = causal ? t > 2 : 0; /* batch 2: all masked (causal: the first 3 rows see nothing) */
  }
  float *out = fnew(n), *probs = fnew(np);
  attention_forward(out, probs, q, k, v, km, causal, B, T, C, NH, NH);
  float *dq = dputf(q, n), *dk = dputf(k, n), *dv = dputf(v, n), *dout = dputf(NULL, n), *dprobs = dputf(NULL, np);
  uint8_t *dkm = dput(km, (long)B * T, 1);
  TRY(pst_cuda_attention_forward(g_ctx, dout, dprobs, dq, dk, dv, dkm, causal, B, T, C, NH));
  float *o2 = dgetf(dout, n), *p2 = dgetf(dprobs, np);
  char what[64];
  snprintf(what, sizeof what, "attention_forward probs (causal %d)", causal);
  check_close(what, p2, probs, np, gemm_tol());
  snprintf(what, sizeof what, "attention_forward out (causal %d)", causal);
  check_close(what, o2, out, n, gemm_tol());
  float *g = frand(n, 1.0f), *gq = frand(n, 1.0f), *gk = frand(n, 1.0f), *gv = frand(n, 1.0f);
  float *dg = dputf(g, n), *dgq = dputf(gq, n), *dgk = dputf(gk, n), *dgv = dputf(gv, n);
  attention_backward(gq, gk, gv, g, probs, q, k, v, B, T, C, NH, NH);
  TRY(pst_cuda_attention_backward(g_ctx, dgq, dgk, dgv, dg, dprobs, dq, dk, dv, B, T, C, NH));
  float *gq2 = dgetf(dgq, n), *gk2 = dgetf(dgk, n), *gv2 = dgetf(dgv, n);
  snprintf(what, sizeof what, "attention_backward dq (causal %d)", causal);
  check_close(what, gq2, gq, n, gemm_tol());
  snprintf(what, sizeof what, "attention_backward dk (causal %d)", causal);
  check_close(what, gk2, gk, n, gemm_tol());
  snprintf(what, sizeof what, "attention_backward dv (causal %d)", causal);
  check_close(what, gv2, gv, n, gemm_tol());
  void *fr[] = {q, k, v, km, out, probs, o2, p2, g, gq, gk, gv, gq2, gk2, gv2};
  for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
  void *dfr[] = {dq, dk, dv, dout, dprobs, dkm, dg, dgq, dgk, dgv};
  for (size_t i = 0; i < sizeof dfr / sizeof dfr[0]; i++) pst_cuda_release(dfr[i]);
}

static void test_losses(void) {
  const int N = g_quick ? 13 : 67, V = g_quick ? 101 : 1001;
  float *logits = frand((long)N * V, 3.0f), *w = fnew(N);
  int32_t *t = xmalloc((size_t)N * sizeof(int32_t));
  for (int i = 0; i < N; i++) {
    t[i] = (int32_t)(rnd_u64() % (uint64_t)V);
    w[i] = i % 5 == 2 ? 0.0f : (float)(1 + i % 3);
  }
  float *dl = dputf(logits, (long)N * V), *dw = dputf(w, N);
  int32_t *dt = dput(t, N, sizeof(int32_t));
  double *dloss = dput(NULL, 1, sizeof(double));
  const float ls_list[] = {0.0f, 0.1f};
  for (int li = 0; li < 2; li++)
    for (int weighted = 0; weighted < 2; weighted++) {
      const float ls = ls_list[li];
      const float *ww = weighted ? w : NULL, *dww = weighted ? dw : NULL;
      const double ref = crossentropy_forward(logits, t, ww, N, V, ls);
      TRY(pst_cuda_crossentropy_forward(g_ctx, dloss, dl, dt, dww, N, V, ls));
      const double got = dget_double(dloss);
      check(fabs(got - ref) <= 1e-12 * fabs(ref), "crossentropy_forward (ls %.1f, weights %d): %.17g vs %.17g", ls,
            weighted, got, ref);
      float *g = frand((long)N * V, 0.01f), *dg = dputf(g, (long)N * V);
      crossentropy_backward(g, logits, t, ww, N, V, ls, 0.7f);
      TRY(pst_cuda_crossentropy_backward(g_ctx, dg, dl, dt, dww, N, V, ls, 0.7f));
      float *g2 = dgetf(dg, (long)N * V);
      char what[80];
      snprintf(what, sizeof what, "crossentropy_backward (ls %.1f, weights %d)", ls, weighted);
      check_close(what, g2, g, (long)N * V, 1e-6);
      free(g);
      free(g2);
      pst_cuda_release(dg);
    }
  /* all weights zero: loss 0, gradient untouched */
  float *z = fnew(N), *dz = dputf(z, N);
  TRY(pst_cuda_crossentropy_forward(g_ctx, dloss, dl, dt, dz, N, V, 0.1f));
  check(dget_double(dloss) == 0.0, "crossentropy_forward with all weights 0 is 0");
  /* MSE */
  float *p = frand(N, 1.0f), *tg = frand(N, 1.0f), *dp = dputf(p, N), *dtg = dputf(tg, N);
  const double mref = mse_forward(p, tg, N);
  TRY(pst_cuda_mse_forward(g_ctx, dloss, dp, dtg, N));
  const double mgot = dget_double(dloss);
  check(fabs(mgot - mref) <= 1e-12 * mref, "mse_forward: %.17g vs %.17g", mgot, mref);
  float *gp = frand(N, 1.0f), *dgp = dputf(gp, N);
  mse_backward(gp, p, tg, N, 0.3f);
  TRY(pst_cuda_mse_backward(g_ctx, dgp, dp, dtg, N, 0.3f));
  float *gp2 = dgetf(dgp, N);
  check_bits("mse_backward", gp2, gp, N, sizeof(float));
  void *fr[] = {logits, w, t, z, p, tg, gp, gp2};
  for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
  void *dfr[] = {dl, dw, dt, dloss, dz, dp, dtg, dgp};
  for (size_t i = 0; i < sizeof dfr / sizeof dfr[0]; i++) pst_cuda_release(dfr[i]);
}

static void test_adamw(void) {
  pst_params p;
  memset(&p, 0, sizeof p);
  float *a = NULL, *ga = NULL, *b = NULL, *gb = NULL, *c = NULL, *gc = NULL;
  const long na = 1000, nb = 37, nc = g_quick ? 3000 : 100000;
  TRY(pst_params_add(&p, "a", 2, 10, na / 10, 1, 0, &a, &ga));
  TRY(pst_params_add(&p, "b", 1, nb, 0, 0, 0, &b, &gb));
  TRY(pst_params_add(&p, "c", 1, nc, 0, 1, 0, &c, &gc));
  TRY(pst_params_alloc(&p, 1));
  const long total = (long)p.total;
  for (long i = 0; i < total; i++) {
    p.data[i] = rnd_normal();
    p.grad[i] = 1e-3f * rnd_normal();
  }
  p.grad[0] = 0.0f;
  pst_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.beta1 = 0.9;
  cfg.beta2 = 0.999;
  cfg.eps = 1e-8;
  cfg.weight_decay = 0.01;
  pst_adamw opt;
  TRY(pst_adamw_init(&opt, (size_t)total));
  float *dx = dputf(p.data, total), *dg = dputf(p.grad, total), *dm = dputf(NULL, total), *dv = dputf(NULL, total);
  pst_cuda_segment *segs = xmalloc((size_t)p.n * sizeof *segs);
  for (int i = 0; i < p.n; i++) {
    segs[i].offset = p.t[i].offset;
    segs[i].numel = p.t[i].numel;
    segs[i].decay = p.t[i].decay;
  }
  const double lrs[] = {1e-3, 3e-4, 2e-5, 5e-2};
  for (int s = 0; s < 4; s++) {
    pst_adamw_step(&opt, &p, lrs[s], &cfg);
    TRY(pst_cuda_adamw_step(g_ctx, dx, dg, dm, dv, segs, p.n, opt.t, lrs[s], cfg.beta1, cfg.beta2, cfg.eps,
                            cfg.weight_decay));
  }
  float *x2 = dgetf(dx, total), *m2 = dgetf(dm, total), *v2 = dgetf(dv, total);
  check_bits("adamw_step x (4 steps)", x2, p.data, total, sizeof(float));
  check_bits("adamw_step m (4 steps)", m2, opt.m, total, sizeof(float));
  check_bits("adamw_step v (4 steps)", v2, opt.v, total, sizeof(float));
  /* sum of squares */
  double ref = 0;
  for (long i = 0; i < total; i++) ref += (double)p.grad[i] * p.grad[i];
  double *ds = dput(NULL, 1, sizeof(double));
  TRY(pst_cuda_sumsq(g_ctx, ds, dg, total));
  const double got = dget_double(ds);
  check(fabs(got - ref) <= 1e-12 * ref, "sumsq: %.17g vs %.17g", got, ref);
  free(x2);
  free(m2);
  free(v2);
  free(segs);
  pst_adamw_free(&opt);
  pst_params_free(&p);
  pst_cuda_release(dx);
  pst_cuda_release(dg);
  pst_cuda_release(dm);
  pst_cuda_release(dv);
  pst_cuda_release(ds);
}

/* ---- top-k ------------------------------------------------------------------------------ */

static void topk_case(const char *name, const float *score, long n, long keep) {
  pst_topk_threshold t1, t2 = {0, -2};
  uint8_t *m1 = xmalloc((size_t)n), *m2 = xmalloc((size_t)n);
  TRY(pst_topk_select(&t1, score, n, keep));
  pst_topk_apply(m1, score, n, &t1);
  float *ds = dputf(score, n);
  uint8_t *dm = dput(NULL, n, 1);
  TRY(pst_cuda_topk_mask(g_ctx, dm, ds, n, keep, &t2));
  TRY(pst_cuda_download(g_ctx, m2, dm, (size_t)n));
  long ones = 0;
  for (long i = 0; i < n; i++) ones += m2[i];
  const long bad = bit_mismatches(m1, m2, n, 1);
  check(bad == 0 && t1.key_thr == t2.key_thr && t1.index_cut == t2.index_cut && ones == keep,
        "topk %s (n %ld, keep %ld): threshold %08x/%ld vs CPU %08x/%ld, %ld ones, %ld mask bytes differ", name, n,
        keep, t2.key_thr, t2.index_cut, t1.key_thr, t1.index_cut, ones, bad);
  free(m1);
  free(m2);
  pst_cuda_release(ds);
  pst_cuda_release(dm);
}

static void test_topk(void) {
  /* random */
  long n = g_quick ? 20011 : 100003;
  float *s = frand(n, 1.0f);
  const long keeps[] = {0, 1, 2, n / 3, n / 2, n - 1, n};
  for (size_t i = 0; i < sizeof keeps / sizeof keeps[0]; i++) topk_case("random", s, n, keeps[i]);
  free(s);
  /* heavy ties, signed zeros */
  n = g_quick ? 30000 : 200000;
  s = fnew(n);
  const float vals[] = {-1.0f, -0.0f, 0.0f, 0.5f, 1.0f};
  for (long i = 0; i < n; i++) s[i] = vals[rnd_u64() % 5];
  const long keeps2[] = {1, n / 5, n / 2, 3 * n / 4, n - 1};
  for (size_t i = 0; i < sizeof keeps2 / sizeof keeps2[0]; i++) topk_case("ties", s, n, keeps2[i]);
  free(s);
  /* all equal, more than one histogram block and many tie chunks */
  n = g_quick ? 9001 : 140001;
  s = fnew(n);
  for (long i = 0; i < n; i++) s[i] = 0.25f;
  const long keeps3[] = {0, 1, 4097, n / 2, n};
  for (size_t i = 0; i < sizeof keeps3 / sizeof keeps3[0]; i++) topk_case("all-equal", s, n, keeps3[i]);
  free(s);
  /* bert-base fc1 size, scores on a 1e-3 grid (many ties) */
  if (!g_quick) {
    n = 3072L * 768;
    s = fnew(n);
    for (long i = 0; i < n; i++) s[i] = roundf(fabsf(rnd_normal()) * 1000.0f) / 1000.0f;
    topk_case("fc1-grid", s, n, n / 2);
    topk_case("fc1-grid", s, n, n / 10);
    free(s);
  }
  /* tiny */
  float one = 3.0f;
  topk_case("single", &one, 1, 1);
  topk_case("single", &one, 1, 0);
  /* NaN: PST_ERR_NUMERIC, mask untouched */
  n = 5000;
  s = frand(n, 1.0f);
  s[1234] = NAN;
  s[4000] = NAN;
  float *ds = dputf(s, n);
  uint8_t *fill = xmalloc((size_t)n), *back = xmalloc((size_t)n);
  memset(fill, 7, (size_t)n);
  uint8_t *dm = dput(fill, n, 1);
  pst_err rc = pst_cuda_topk_mask(g_ctx, dm, ds, n, n / 2, NULL);
  const char *msg = pst_err_message();
  const int named = msg && strstr(msg, "score 1234 ") != NULL;
  pst_err_clear();
  TRY(pst_cuda_download(g_ctx, back, dm, (size_t)n));
  check(rc == PST_ERR_NUMERIC && named && !memcmp(back, fill, (size_t)n),
        "topk with NaN: PST_ERR_NUMERIC naming index 1234, mask untouched (rc %d)", rc);
  free(s);
  free(fill);
  free(back);
  pst_cuda_release(ds);
  pst_cuda_release(dm);
}

/* ---- the PST linear layer ----------------------------------------------------------------- */

typedef struct {
  pst_linear h, d; /* host and device views of the same tensors */
  long mn;
} layer_pair;

static float *pair_tensor(float **hp, float **dp, long n, float scale) {
  *hp = scale != 0.0f ? frand(n, scale) : fnew(n);
  *dp = dputf(*hp, n);
  return *hp;
}

/* ties = 1: W0 on a coarse grid, V = B = 0, R, C integers: S full of exact ties */
static void layer_make(layer_pair *lp, const pst_linear_opts *o, int m, int n, int ties) {
  const pst_method *me = o->method;
  memset(lp, 0, sizeof *lp);
  pst_linear *h = &lp->h, *d = &lp->d;
  h->m = d->m = h->gm = d->gm = m;
  h->n = d->n = h->gn = d->gn = n;
  h->add_bias = d->add_bias = 1;
  lp->mn = (long)m * n;
  pair_tensor(&h->W0, &d->W0, lp->mn, 0.05f);
  if (ties) {
    for (long i = 0; i < lp->mn; i++) h->W0[i] = (float)((long)(rnd_u64() % 9) - 4) / 16.0f;
    TRY(pst_cuda_upload(g_ctx, d->W0, h->W0, (size_t)lp->mn * sizeof(float)));
  }
  pair_tensor(&h->bias, &d->bias, m, 0.1f);
  if (me->train_w) pair_tensor(&h->dW0, &d->dW0, lp->mn, 0.01f);
  if (me->lowrank_w) {
    pair_tensor(&h->U, &d->U, (long)m * o->r2, 1.0f);
    pair_tensor(&h->V, &d->V, (long)o->r2 * n, ties ? 0.0f : 0.01f);
    pair_tensor(&h->dU, &d->dU, (long)m * o->r2, 0.01f);
    pair_tensor(&h->dV, &d->dV, (long)o->r2 * n, 0.01f);
  }
  if (me->score_lowrank) {
    pair_tensor(&h->A, &d->A, (long)m * o->r1, 1.0f);
    pair_tensor(&h->B, &d->B, (long)o->r1 * n, ties ? 0.0f : 0.01f);
    pair_tensor(&h->R, &d->R, m, ties ? 0.0f : 0.01f);
    pair_tensor(&h->C, &d->C, n, ties ? 0.0f : 0.01f);
    if (ties) {
      for (int i = 0; i < m; i++) h->R[i] = (float)(i % 3);
      for (int j = 0; j < n; j++) h->C[j] = (float)(j % 2);
      TRY(pst_cuda_upload(g_ctx, d->R, h->R, (size_t)m * sizeof(float)));
      TRY(pst_cuda_upload(g_ctx, d->C, h->C, (size_t)n * sizeof(float)));
    }
    pair_tensor(&h->dA, &d->dA, (long)m * o->r1, 0.01f);
    pair_tensor(&h->dB, &d->dB, (long)o->r1 * n, 0.01f);
    pair_tensor(&h->dR, &d->dR, m, 0.01f);
    pair_tensor(&h->dC, &d->dC, n, 0.01f);
  }
  if (me->score_full) {
    pair_tensor(&h->S, &d->S, lp->mn, 0.05f);
    if (ties) {
      for (long i = 0; i < lp->mn; i++) h->S[i] = (float)(rnd_u64() % 4);
      TRY(pst_cuda_upload(g_ctx, d->S, h->S, (size_t)lp->mn * sizeof(float)));
    }
    pair_tensor(&h->dS, &d->dS, lp->mn, 0.01f);
  }
  if (me->mask != PST_MASK_NONE) {
    h->mask = xmalloc((size_t)lp->mn);
    d->mask = dput(NULL, lp->mn, 1);
  }
}

static void layer_free(layer_pair *lp) {
  float **hp[] = {&lp->h.W0, &lp->h.bias, &lp->h.U, &lp->h.V, &lp->h.A, &lp->h.B, &lp->h.R, &lp->h.C, &lp->h.S,
                  &lp->h.dW0, &lp->h.dU, &lp->h.dV, &lp->h.dA, &lp->h.dB, &lp->h.dR, &lp->h.dC, &lp->h.dS};
  float **dp[] = {&lp->d.W0, &lp->d.bias, &lp->d.U, &lp->d.V, &lp->d.A, &lp->d.B, &lp->d.R, &lp->d.C, &lp->d.S,
                  &lp->d.dW0, &lp->d.dU, &lp->d.dV, &lp->d.dA, &lp->d.dB, &lp->d.dR, &lp->d.dC, &lp->d.dS};
  for (size_t i = 0; i < sizeof hp / sizeof hp[0]; i++) {
    free(*hp[i]);
    pst_cuda_release(*dp[i]);
  }
  free(lp->h.mask);
  pst_cuda_release(lp->d.mask);
}

static void cmp_grad(const char *tag, const char *nm, const float *h, const float *d, long n) {
  if (!h) return;
  float *g = dgetf(d, n);
  char what[128];
  snprintf(what, sizeof what, "%s %s", tag, nm);
  check_close(what, g, h, n, gemm_tol());
  free(g);
}

static void test_linear_method(const char *method, int detach, int m, int n, int N, int ties, double sparsity) {
  pst_linear_opts o;
  memset(&o, 0, sizeof o);
  o.method = pst_method_find(method);
  o.r1 = 8;
  o.r2 = 8;
  o.alpha1 = 0.7f;
  o.alpha2 = 1.3f;
  o.beta = 0.9f;
  o.threshold = 0.02f;
  o.detach_magnitude = detach;
  const pst_method *me = o.method;
  char tag[96];
  snprintf(tag, sizeof tag, "linear %s%s %dx%d%s s=%.2f", method, detach ? " (detach)" : "", m, n, ties ? " ties" : "",
           sparsity);
  layer_pair lp;
  layer_make(&lp, &o, m, n, ties);
  const long mn = lp.mn, maxdim = m > n ? m : n;
  pst_linear_scratch hs;
  TRY(pst_linear_scratch_alloc(&hs, mn, maxdim, 8));
  pst_cuda_linear_scratch ds;
  TRY(pst_cuda_linear_scratch_alloc(g_ctx, &ds, mn, maxdim));
  float *ref = fnew(mn), *got = NULL, *dbuf = dputf(NULL, mn), *dbuf2 = dputf(NULL, mn);
  char what[160];
  if (me->lowrank_w) {
    /* W' (the effective weight of the mask-less view) and S, bit for bit */
    pst_linear nomask = lp.h;
    nomask.mask = NULL;
    pst_linear_effective(&nomask, &o, ref, &hs);
    TRY(pst_cuda_linear_score(g_ctx, &lp.d, &o, dbuf2, dbuf));
    got = dgetf(dbuf, mn);
    snprintf(what, sizeof what, "%s W'", tag);
    check_bits(what, got, ref, mn, sizeof(float));
    free(got);
    pst_linear_score(&lp.h, &o, ref, &hs);
    got = dgetf(dbuf2, mn);
    snprintf(what, sizeof what, "%s S", tag);
    check_bits(what, got, ref, mn, sizeof(float));
    free(got);
  }
  if (me->mask != PST_MASK_NONE) {
    TRY(pst_linear_update_mask(&lp.h, &o, sparsity, &hs));
    TRY(pst_cuda_linear_update_mask(g_ctx, &lp.d, &o, sparsity, &ds));
    uint8_t *mk = xmalloc((size_t)mn);
    TRY(pst_cuda_download(g_ctx, mk, lp.d.mask, (size_t)mn));
    long nnz = 0;
    TRY(pst_cuda_linear_nnz(g_ctx, &lp.d, &nnz));
    snprintf(what, sizeof what, "%s mask (nnz %ld vs %ld)", tag, nnz, pst_linear_nnz(&lp.h));
    check_bits(what, mk, lp.h.mask, mn, 1);
    /* from here on both sides use the CPU's mask, so the rest is tested even after a mismatch */
    TRY(pst_cuda_upload(g_ctx, lp.d.mask, lp.h.mask, (size_t)mn));
    free(mk);
  }
  pst_linear_effective(&lp.h, &o, ref, &hs);
  TRY(pst_cuda_linear_effective(g_ctx, &lp.d, &o, dbuf));
  got = dgetf(dbuf, mn);
  snprintf(what, sizeof what, "%s effective weight", tag);
  check_bits(what, got, ref, mn, sizeof(float));
  free(got);
  /* forward */
  float *x = frand((long)N * n, 1.0f), *dx = dputf(x, (long)N * n);
  float *y = fnew((long)N * m), *dy = dputf(NULL, (long)N * m);
  pst_linear_forward(&lp.h, &o, y, x, N, &hs);
  TRY(pst_cuda_linear_forward(g_ctx, &lp.d, &o, dy, dx, N, &ds));
  got = dgetf(dy, (long)N * m);
  snprintf(what, sizeof what, "%s forward", tag);
  check_close(what, got, y, (long)N * m, gemm_tol());
  free(got);
  /* backward (accumulating onto the random gradients made above) */
  float *g = frand((long)N * m, 1.0f), *dg = dputf(g, (long)N * m);
  float *gi = frand((long)N * n, 1.0f), *dgi = dputf(gi, (long)N * n);
  pst_linear_backward(&lp.h, &o, gi, g, x, N, &hs);
  TRY(pst_cuda_linear_backward(g_ctx, &lp.d, &o, dgi, dg, dx, N, &ds));
  cmp_grad(tag, "dinp", gi, dgi, (long)N * n);
  cmp_grad(tag, "dW0", lp.h.dW0, lp.d.dW0, mn);
  cmp_grad(tag, "dU", lp.h.dU, lp.d.dU, (long)m * o.r2);
  cmp_grad(tag, "dV", lp.h.dV, lp.d.dV, (long)o.r2 * n);
  cmp_grad(tag, "dA", lp.h.dA, lp.d.dA, (long)m * o.r1);
  cmp_grad(tag, "dB", lp.h.dB, lp.d.dB, (long)o.r1 * n);
  cmp_grad(tag, "dR", lp.h.dR, lp.d.dR, m);
  cmp_grad(tag, "dC", lp.h.dC, lp.d.dC, n);
  cmp_grad(tag, "dS", lp.h.dS, lp.d.dS, mn);
  free(x);
  free(y);
  free(g);
  free(gi);
  free(ref);
  pst_cuda_release(dx);
  pst_cuda_release(dy);
  pst_cuda_release(dg);
  pst_cuda_release(dgi);
  pst_cuda_release(dbuf);
  pst_cuda_release(dbuf2);
  pst_linear_scratch_free(&hs);
  pst_cuda_linear_scratch_free(&ds);
  layer_free(&lp);
}

static void test_linear(void) {
  const int m = g_quick ? 40 : 96, n = g_quick ? 24 : 80, N = g_quick ? 8 : 32;
  const char *methods[] = {"pst", "magnitude", "movement", "soft-movement", "lora", "dense"};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) test_linear_method(methods[i], 0, m, n, N, 0, 0.5);
  test_linear_method("pst", 1, m, n, N, 0, 0.5);
  test_linear_method("magnitude", 1, m, n, N, 0, 0.5);
  test_linear_method("pst", 0, m, n, N, 1, 0.5);
  test_linear_method("pst", 0, m, n, N, 1, 0.9);
  test_linear_method("movement", 0, m, n, N, 1, 0.3);
  test_linear_method("pst", 0, m, n, N, 0, 0.0);
  test_linear_method("pst", 0, m, n, N, 0, 1.0);
  if (!g_quick) {
    test_linear_method("pst", 0, 768, 768, 64, 0, 0.7);
    test_linear_method("pst", 0, 3072, 768, 64, 0, 0.5);
    test_linear_method("pst", 0, 768, 3072, 64, 1, 0.5);
  }
}

/* ---- timings of the PST layer ops at bert-base shapes ----------------------------------------- */

static void bench(const char *out_path) {
  FILE *f = out_path ? fopen(out_path, "a") : NULL;
  const int N = 32 * 128;
  const int shapes[3][2] = {{768, 768}, {3072, 768}, {768, 3072}};
  printf("\nbench: PST layer ops, N = %d tokens, r1 = r2 = 8, sparsity 0.5; device %s%s\n", N,
         pst_cuda_describe(g_ctx), g_tf32 ? ", TF32" : "");
  printf("%-12s %-14s %12s %12s %8s\n", "shape", "op", "cpu ms", "gpu ms", "speedup");
  if (f) fprintf(f, "shape,op,cpu_ms,gpu_ms\n");
  for (int si = 0; si < 3; si++) {
    const int m = shapes[si][0], n = shapes[si][1];
    pst_linear_opts o;
    memset(&o, 0, sizeof o);
    o.method = pst_method_find("pst");
    o.r1 = o.r2 = 8;
    o.alpha1 = o.alpha2 = o.beta = 1.0f;
    layer_pair lp;
    layer_make(&lp, &o, m, n, 0);
    const long mn = lp.mn, maxdim = m > n ? m : n;
    pst_linear_scratch hs;
    TRY(pst_linear_scratch_alloc(&hs, mn, maxdim, 8));
    pst_cuda_linear_scratch ds;
    TRY(pst_cuda_linear_scratch_alloc(g_ctx, &ds, mn, maxdim));
    float *x = frand((long)N * n, 1.0f), *dx = dputf(x, (long)N * n), *y = fnew((long)N * m),
          *dy = dputf(NULL, (long)N * m), *gi = fnew((long)N * n), *dgi = dputf(NULL, (long)N * n);
    float *dscore = dputf(NULL, mn);
    float *hscore = fnew(mn);
    uint8_t *hm = xmalloc((size_t)mn);
    const long keep = pst_keep_count(mn, 0.5);
    for (int op = 0; op < 5; op++) {
      static const char *names[] = {"score", "topk", "update_mask", "forward", "backward"};
      const int cpu_it = 3, gpu_it = 20;
      double tc = 0, tg = 0;
      for (int side = 0; side < 2; side++) {
        const int it = side ? gpu_it : cpu_it;
        double t0 = 0;
        for (int r = -1; r < it; r++) { /* r = -1: warm-up */
          if (r == 0) {
            if (side) TRY(pst_cuda_sync(g_ctx));
            t0 = pst_now();
          }
          if (!side) {
            switch (op) {
            case 0: pst_linear_score(&lp.h, &o, hscore, &hs); break;
            case 1: TRY(pst_topk_mask(hm, hscore, mn, keep)); break;
            case 2: TRY(pst_linear_update_mask(&lp.h, &o, 0.5, &hs)); break;
            case 3: pst_linear_forward(&lp.h, &o, y, x, N, &hs); break;
            default: pst_linear_backward(&lp.h, &o, gi, y, x, N, &hs); break;
            }
          } else {
            switch (op) {
            case 0: TRY(pst_cuda_linear_score(g_ctx, &lp.d, &o, dscore, NULL)); break;
            case 1: TRY(pst_cuda_topk_mask(g_ctx, lp.d.mask, dscore, mn, keep, NULL)); break;
            case 2: TRY(pst_cuda_linear_update_mask(g_ctx, &lp.d, &o, 0.5, &ds)); break;
            case 3: TRY(pst_cuda_linear_forward(g_ctx, &lp.d, &o, dy, dx, N, &ds)); break;
            default: TRY(pst_cuda_linear_backward(g_ctx, &lp.d, &o, dgi, dy, dx, N, &ds)); break;
            }
          }
        }
        if (side) TRY(pst_cuda_sync(g_ctx));
        const double ms = (pst_now() - t0) * 1e3 / it;
        if (side) tg = ms;
        else tc = ms;
      }
      char shape[32];
      snprintf(shape, sizeof shape, "%dx%d", m, n);
      printf("%-12s %-14s %12.3f %12.3f %7.1fx\n", shape, names[op], tc, tg, tg > 0 ? tc / tg : 0.0);
      if (f) fprintf(f, "%s,%s,%.4f,%.4f\n", shape, names[op], tc, tg);
    }
    free(x);
    free(y);
    free(gi);
    free(hscore);
    free(hm);
    pst_cuda_release(dx);
    pst_cuda_release(dy);
    pst_cuda_release(dgi);
    pst_cuda_release(dscore);
    pst_linear_scratch_free(&hs);
    pst_cuda_linear_scratch_free(&ds);
    layer_free(&lp);
  }
  if (f) fclose(f);
}

int main(int argc, char **argv) {
  pst_blas_ensure_fast(argv); /* OpenBLAS's fast kernels for the CPU reference and timings */
  int do_bench = 0;
  const char *bench_out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) g_quick = 1;
    else if (!strcmp(argv[i], "--tf32")) g_tf32 = 1;
    else if (!strcmp(argv[i], "--bench")) do_bench = 1;
    else if (!strcmp(argv[i], "--bench-out") && i + 1 < argc) bench_out = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--quick] [--tf32] [--bench] [--bench-out FILE]\n", argv[0]);
      return 2;
    }
  }
  char why[256];
  if (!pst_cuda_available(why, sizeof why)) {
    printf("SKIP: %s\n", why);
    return 77;
  }
  TRY(pst_cuda_create(&g_ctx, 0, g_tf32));
  printf("device: %s%s%s; CPU reference: OpenBLAS %s, %d OpenMP threads\n", pst_cuda_describe(g_ctx),
         g_quick ? " (quick)" : "", g_tf32 ? " (TF32)" : "", pst_blas_corename(), omp_get_max_threads());
  const double t0 = pst_now();
  test_topk();
  test_linear();
  test_layernorm();
  test_matmul();
  test_activations();
  test_attention(0);
  test_attention(1);
  test_losses();
  test_adamw();
  TRY(pst_cuda_sync(g_ctx));
  printf("parity: %.1f s\n", pst_now() - t0);
  if (do_bench) bench(bench_out);
  pst_cuda_destroy(g_ctx);
  printf("%d passed, %d failed\n", g_pass, g_fail);
  return g_fail ? 1 : 0;
}
