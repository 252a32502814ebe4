/* test_spmm.c — the sparse inference format and product (include/pst/sparse.h).
 *
 * spmm_forward against a double-precision dense product of the same masked weight, for every
 * code path: N = 1 (gathered dots), N in 2..8 (one 8-wide chunk), chunk tails (N = 9, 63, 65,
 * 130: the 64/32/16/8 chunk mix and zero padding), densities 0 (empty rows), 5 %, 50 %, 100 %,
 * with and without bias, on 1 and 2 threads, shapes from 1 x 1 to 384 x 3072 and the largest n
 * the 16-bit columns allow. Tolerance: |out - ref| <= 1e-6 * (|b| + sum_j |w_ij x_tj|) per
 * element — float summation of that many terms errs by far less (observed <= 2e-7 of the
 * scale); a wrong column, a dropped entry or a missing bias errs by the size of a term.
 * pst's dense product (matmul_forward) meets the same bound, so it is no tighter than sgemm.
 * pst_csr_from_dense is checked entry by entry; pst_csr_validate rejects each corruption
 * (rowptr not starting at 0, decreasing, not ending at nnz, a column out of range, a shape
 * mismatch) with a message naming the tensor. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/kernels.h"
#include "pst/sparse.h"

static uint64_t rng_state = 7;
static double urand(void) { /* splitmix64 -> [0, 1) */
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

/* w [m, n] with about density d of its entries nonzero (uniform in [-1, 1)) */
static float *random_masked(int m, int n, double d) {
  float *w = calloc((size_t)m * n, sizeof(float));
  for (long k = 0; k < (long)m * n; k++)
    if (urand() < d) w[k] = (float)(2 * urand() - 1);
  return w;
}

static float *random_vec(long len) {
  float *x = malloc((size_t)(len ? len : 1) * sizeof(float));
  for (long k = 0; k < len; k++) x[k] = (float)(2 * urand() - 1);
  return x;
}

/* max over elements of |got - ref| / (1e-6 * scale) with ref and scale in double */
static double check_product(const float *got, const float *w, const float *x, const float *b, int N, int m, int n) {
  double worst = 0;
  for (int t = 0; t < N; t++)
    for (int i = 0; i < m; i++) {
      double ref = b ? b[i] : 0, scale = b ? fabs(b[i]) : 0;
      for (int j = 0; j < n; j++) {
        ref += (double)w[(size_t)i * n + j] * x[(size_t)t * n + j];
        scale += fabs((double)w[(size_t)i * n + j] * x[(size_t)t * n + j]);
      }
      const double err = fabs(got[(size_t)t * m + i] - ref) / (1e-6 * scale + 1e-30);
      if (isnan(err)) return INFINITY;
      if (err > worst) worst = err;
    }
  return worst;
}

static void one_case(int m, int n, int N, double d, int with_bias, int threads) {
  omp_set_num_threads(threads);
  float *w = random_masked(m, n, d), *x = random_vec((long)N * n), *b = with_bias ? random_vec(m) : NULL;
  pst_csr a;
  assert_int_equal(pst_csr_from_dense(&a, w, m, n, "t"), 0);
  assert_int_equal(pst_csr_validate(&a, m, n, "t"), 0);
  float *out = malloc((size_t)N * m * sizeof(float)), *dense = malloc((size_t)N * m * sizeof(float));
  float *scratch = malloc((spmm_scratch_floats(N, m, n) + 1) * sizeof(float));
  for (long k = 0; k < (long)N * m; k++) out[k] = NAN; /* every element must be written */
  spmm_forward(out, x, &a, b, N, scratch);
  const double e = check_product(out, w, x, b, N, m, n);
  matmul_forward(dense, x, w, b, N, n, m);
  const double e2 = check_product(dense, w, x, b, N, m, n);
  if (!(e <= 1) || getenv("PST_TEST_VERBOSE"))
    printf("  spmm %dx%d N=%d d=%.2f bias=%d threads=%d: err/tol %.3g (sgemm's %.3g), nnz %lld\n", m, n, N, d,
           with_bias, threads, e, e2, (long long)a.nnz);
  assert_true(e <= 1); /* NaN fails */
  assert_true(e2 <= 1); /* the bound holds for pst's dense product too: it is not too tight */
  pst_csr_free(&a);
  free(w), free(x), free(b), free(out), free(dense), free(scratch);
}

static void test_products(void **state) {
  (void)state;
  static const int shapes[][2] = {{1, 1}, {7, 5}, {64, 48}, {300, 129}, {33, 768}};
  static const int Ns[] = {1, 2, 7, 8, 9, 63, 64, 65, 130};
  static const double ds[] = {0, 0.05, 0.5, 1};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (size_t k = 0; k < sizeof Ns / sizeof *Ns; k++)
      for (size_t di = 0; di < sizeof ds / sizeof *ds; di++)
        for (int bias = 0; bias < 2; bias++) one_case(shapes[s][0], shapes[s][1], Ns[k], ds[di], bias, 1 + (int)(k % 2));
}

static void test_large(void **state) { /* half a bert-base fc2; decode and batched, 2 threads */
  (void)state;
  one_case(384, 3072, 1, 0.1, 1, 2);
  one_case(384, 3072, 8, 0.1, 1, 2);
  one_case(384, 3072, 72, 0.1, 0, 2);
  one_case(5, PST_CSR_MAX_COLS, 3, 0.01, 1, 2); /* the last 16-bit column */
}

static void test_from_dense(void **state) {
  (void)state;
  const float w[3 * 4] = {0, 1.5f, 0, -2, 0, 0, 0, 0, 3, 0, 0, 4};
  pst_csr a;
  assert_int_equal(pst_csr_from_dense(&a, w, 3, 4, "x"), 0);
  assert_int_equal(a.nnz, 4);
  const int64_t rp[4] = {0, 2, 2, 4};
  const uint16_t col[4] = {1, 3, 0, 3};
  const float val[4] = {1.5f, -2, 3, 4};
  assert_memory_equal(a.rowptr, rp, sizeof rp);
  assert_memory_equal(a.col, col, sizeof col);
  assert_memory_equal(a.val, val, sizeof val);
  pst_csr_free(&a);
  assert_null(a.rowptr);
  float *wide = calloc(PST_CSR_MAX_COLS + 1, sizeof(float));
  assert_int_equal(pst_csr_from_dense(&a, wide, 1, PST_CSR_MAX_COLS + 1, "wide"), PST_ERR_ARG);
  assert_non_null(strstr(pst_err_message(), "wide"));
  free(wide);
}

static void test_validate(void **state) {
  (void)state;
  int64_t rp[4] = {0, 2, 2, 4};
  uint16_t col[4] = {1, 3, 0, 3};
  float val[4] = {1, 2, 3, 4};
  pst_csr a = {3, 4, 4, rp, col, val, 0};
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), 0);
  assert_int_equal(pst_csr_validate(&a, 4, 4, "blk.0.q"), PST_ERR_FORMAT); /* shape */
  assert_non_null(strstr(pst_err_message(), "blk.0.q"));
  rp[0] = 1;
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), PST_ERR_FORMAT);
  rp[0] = 0, rp[2] = 1; /* decreasing */
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), PST_ERR_FORMAT);
  assert_non_null(strstr(pst_err_message(), "row 1"));
  rp[2] = 2, rp[3] = 3; /* does not end at nnz */
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), PST_ERR_FORMAT);
  rp[3] = 4, col[2] = 4; /* column out of range */
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), PST_ERR_FORMAT);
  assert_non_null(strstr(pst_err_message(), "column 4"));
  col[2] = 0;
  assert_int_equal(pst_csr_validate(&a, 3, 4, "blk.0.q"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_from_dense),
      cmocka_unit_test(test_validate),
      cmocka_unit_test(test_products),
      cmocka_unit_test(test_large),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
