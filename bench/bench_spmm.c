/* bench_spmm.c — the sparse product (spmm_forward) against pst's dense products on one layer
 * shape, at several densities and token counts; prints one table row per case.
 *
 *   bench/bench_spmm [--m M] [--n N] [--layers L] [--tokens 1,8,1024] [--density 1,0.5,0.3,0.1,0.05]
 *                    [--seconds S]
 *
 * Dense side as pst runs it: decoding (tokens <= 8) matmul_forward_split with one BLAS thread
 * per OpenMP thread (pst_model_infer_begin's setting), batched matmul_forward on OpenBLAS's
 * threads. The mask is uniform random (a PST mask is not, but the kernel's cost depends on
 * the entry count and the row lengths, not on where the entries sit). The two sides alternate
 * in rounds of about 50 ms so that noise from other jobs falls on both; the time is each
 * side's median round, per product. --layers L keeps L different weights (each side) and
 * cycles through them, as a model's forward does, so that the weights come from memory and not
 * from the caches when L m n floats exceed them. Used by bench/sparse_infer.sh. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pst/blas.h"
#include "pst/kernels.h"
#include "pst/sparse.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int parse_list(const char *s, double *out, int max) {
  int k = 0;
  for (char *end; *s && k < max; s = *end ? end + 1 : end) {
    out[k++] = strtod(s, &end);
    if (end == s) return -1;
  }
  return k;
}

#define ROUNDS 15

/* median seconds per call of f over ROUNDS rounds, each of `reps` calls */
#define TIME_ROUND(dst, reps, call)                                                                                  \
  do {                                                                                                               \
    const double t0_ = now();                                                                                        \
    for (int r_ = 0; r_ < (reps); r_++)                                                                              \
      for (int l = 0; l < layers; l++) call;                                                                         \
    dst = (now() - t0_) / (reps) / layers;                                                                           \
  } while (0)

int main(int argc, char **argv) {
  pst_blas_ensure_fast(argv);
  int m = 768, n = 768, layers = 1;
  double tokens[8] = {1, 8, 1024}, dens[16] = {1, 0.5, 0.3, 0.1, 0.05};
  int ntok = 3, nden = 5;
  double seconds = 0.75;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) goto usage;
    if (!strcmp(a, "--m")) m = atoi(v);
    else if (!strcmp(a, "--n")) n = atoi(v);
    else if (!strcmp(a, "--layers")) layers = atoi(v);
    else if (!strcmp(a, "--tokens")) ntok = parse_list(v, tokens, 8);
    else if (!strcmp(a, "--density")) nden = parse_list(v, dens, 16);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else goto usage;
    i++;
  }
  if (m <= 0 || n <= 0 || layers <= 0 || layers > 64 || ntok <= 0 || nden <= 0 || n > PST_CSR_MAX_COLS) goto usage;
  const int threads = omp_get_max_threads(), blas_threads = pst_blas_get_threads();
  srand(1);
  float *w = malloc((size_t)layers * m * n * sizeof(float)), *bias = malloc((size_t)m * sizeof(float));
  for (int i = 0; i < m; i++) bias[i] = (float)rand() / RAND_MAX - 0.5f;
  for (int t = 0; t < ntok; t++) {
    const int N = (int)tokens[t];
    float *x = malloc((size_t)N * n * sizeof(float)), *y = malloc((size_t)N * m * sizeof(float));
    float *scratch = malloc((spmm_scratch_floats(N, m, n) + 1) * sizeof(float));
    for (long k = 0; k < (long)N * n; k++) x[k] = (float)rand() / RAND_MAX - 0.5f;
    for (int di = 0; di < nden; di++) {
      pst_csr a[64];
      long nnz = 0;
      for (int l = 0; l < layers; l++) {
        float *wl = w + (size_t)l * m * n;
        for (long k = 0; k < (long)m * n; k++) wl[k] = (double)rand() / RAND_MAX < dens[di] ? (float)rand() / RAND_MAX - 0.5f : 0.0f;
        if (pst_csr_from_dense(&a[l], wl, m, n, "bench")) {
          pst_err_print(stderr, 0);
          return 1;
        }
        nnz += a[l].nnz;
      }
      const double density = (double)nnz / ((double)layers * m * n);
      const int decode = N <= 8;
      if (decode) pst_blas_set_threads(1);
      double td, ts;
      TIME_ROUND(td, 1, decode ? matmul_forward_split(y, x, w + (size_t)l * m * n, bias, N, n, m) : matmul_forward(y, x, w + (size_t)l * m * n, bias, N, n, m));
      TIME_ROUND(ts, 1, spmm_forward(y, x, &a[l], bias, N, scratch));
      const int reps_d = (int)(seconds / ROUNDS / td) + 1, reps_s = (int)(seconds / ROUNDS / ts) + 1;
      double rd[ROUNDS], rs[ROUNDS];
      for (int r = 0; r < ROUNDS; r++) {
        TIME_ROUND(rd[r], reps_d,
                   decode ? matmul_forward_split(y, x, w + (size_t)l * m * n, bias, N, n, m) : matmul_forward(y, x, w + (size_t)l * m * n, bias, N, n, m));
        TIME_ROUND(rs[r], reps_s, spmm_forward(y, x, &a[l], bias, N, scratch));
      }
      if (decode) pst_blas_set_threads(blas_threads);
      qsort(rd, ROUNDS, sizeof(double), cmp_double);
      qsort(rs, ROUNDS, sizeof(double), cmp_double);
      td = rd[ROUNDS / 2], ts = rs[ROUNDS / 2];
      printf("%5d x %-5d x %2d layers  tokens %5d  density %.3f  threads %d | dense %9.4f ms | sparse %9.4f ms | %6.2fx | "
             "pays %s\n", m, n, layers, N, density, threads, 1e3 * td, 1e3 * ts, td / ts,
             pst_sparse_pays(density, N) ? "yes" : "no");
      fflush(stdout);
      for (int l = 0; l < layers; l++) pst_csr_free(&a[l]);
    }
    free(x), free(y), free(scratch);
  }
  free(w), free(bias);
  return 0;
usage:
  fprintf(stderr, "usage: bench_spmm [--m M] [--n N] [--layers L (<= 64)] [--tokens LIST] [--density LIST] [--seconds S]\n");
  return 2;
}
