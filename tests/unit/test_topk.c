/* test_topk.c — unit tests of the exact top-k (include/pst/sparsity.h, src/sparsity/topk.c).
 *
 * Reference: a brute-force qsort of (score, index) pairs ordered by (score desc, index asc)
 * with plain float comparisons (so -0.0 == +0.0 and ties go to the lower index), written
 * here without pst_score_key. The mask of pst_topk_mask must equal the first `keep` entries
 * of that order exactly (no tolerance: top-k is exact and deterministic), for
 *   - sizes 1, 2, 7, 1000, 100003 and 768*3072, keep in {0, 1, numel/2, numel-1, numel}
 *     (+ a few random keeps on the mid sizes);
 *   - Gaussian scores, random bit patterns (all finite/inf classes, denormals, negatives),
 *     heavy ties (values from {-1, 0, 1, 2}, and all equal), -0.0/+0.0 mixed, +-inf and
 *     denormals, scores packed into one 11-bit radix bucket (1 + k ulp);
 *   - 1, 2 and 3 OpenMP threads (identical masks; skipped when OMP_NUM_THREADS=1).
 * NaN anywhere (any payload, either sign) -> PST_ERR_NUMERIC whose message names the
 * (first) NaN's index; keep outside [0, numel] -> PST_ERR_ARG. pst_keep_count is checked on
 * a table of values computed with Python floats (numel - math.floor(numel * s)), which covers
 * the cases where numel*s rounds onto / just below an integer in double. pst_score_key must
 * be strictly order-preserving on a sorted list of tricky floats (equal only for -0/+0) and
 * agree with float comparison on random pairs of bit patterns. No timing is measured. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/sparsity.h"

/* ------------------------------------------------------------------------------------------ */
/* deterministic random numbers (splitmix64) */
static uint64_t rng_state = 12345;

static uint64_t rng_next(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }
static float rng_gauss(void) {
  double u1 = rng_uniform(), u2 = rng_uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
static float bits_to_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
/* a random non-NaN bit pattern (covers denormals, +-0, +-inf, every exponent) */
static float rng_bits_float(void) {
  for (;;) {
    float f = bits_to_float((uint32_t)rng_next());
    if (f == f) return f;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* brute-force reference */
typedef struct {
  float s;
  long i;
} pair;

static int cmp_pair(const void *a, const void *b) {
  const pair *x = a, *y = b;
  if (x->s > y->s) return -1;
  if (x->s < y->s) return 1;
  return (x->i > y->i) - (x->i < y->i);
}

static pair *ref_order(const float *score, long n) {
  pair *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  assert_non_null(p);
  for (long i = 0; i < n; i++) {
    p[i].s = score[i];
    p[i].i = i;
  }
  qsort(p, (size_t)n, sizeof *p, cmp_pair);
  return p;
}

/* pst_topk_mask(score, keep) must be exactly {order[0..keep)}; also checks select's threshold */
static void check_keep(const char *what, const float *score, const pair *order, long n, long keep, uint8_t *mask) {
  memset(mask, 0xA5, (size_t)(n ? n : 1)); /* garbage: every byte must be written */
  pst_err_clear();
  pst_err rc = pst_topk_mask(mask, score, n, keep);
  if (rc != PST_OK) fail_msg("%s n=%ld keep=%ld: rc=%d (%s)", what, n, keep, rc, pst_err_message());
  long ones = 0;
  for (long i = 0; i < n; i++) {
    if (mask[i] > 1) fail_msg("%s n=%ld keep=%ld: mask[%ld] = %u is not 0/1", what, n, keep, i, mask[i]);
    ones += mask[i];
  }
  if (ones != keep) fail_msg("%s n=%ld keep=%ld: mask has %ld ones", what, n, keep, ones);
  for (long r = 0; r < keep; r++)
    if (!mask[order[r].i])
      fail_msg("%s n=%ld keep=%ld: rank %ld (index %ld, score %a) not kept", what, n, keep, r, order[r].i,
               (double)order[r].s);
  if (keep > 0) {
    pst_topk_threshold thr;
    assert_int_equal(pst_topk_select(&thr, score, n, keep), PST_OK);
    const pair *last = &order[keep - 1];
    if (thr.key_thr != pst_score_key(last->s) || thr.index_cut < last->i)
      fail_msg("%s n=%ld keep=%ld: threshold (%08x, %ld) vs keep-th element (%a, index %ld)", what, n, keep,
               thr.key_thr, thr.index_cut, (double)last->s, last->i);
  }
}

/* compare for keep in {0, 1, n/2, n-1, n} plus `extra` random keeps */
static void check_all_keeps(const char *what, const float *score, long n, int extra) {
  pair *order = ref_order(score, n);
  uint8_t *mask = malloc((size_t)(n ? n : 1));
  assert_non_null(mask);
  long keeps[5] = {0, 1, n / 2, n - 1, n};
  for (int k = 0; k < 5; k++) {
    if (keeps[k] < 0 || keeps[k] > n) continue;
    int dup = 0;
    for (int j = 0; j < k; j++) dup |= keeps[j] == keeps[k];
    if (!dup) check_keep(what, score, order, n, keeps[k], mask);
  }
  for (int e = 0; e < extra; e++) check_keep(what, score, order, n, (long)(rng_next() % (uint64_t)(n + 1)), mask);
  free(mask);
  free(order);
}

static float *alloc_scores(long n) {
  float *s = malloc((size_t)(n ? n : 1) * sizeof *s);
  assert_non_null(s);
  return s;
}

static const long SIZES[] = {1, 2, 7, 1000, 100003, 768L * 3072};
#define NSIZES ((int)(sizeof SIZES / sizeof SIZES[0]))

/* ------------------------------------------------------------------------------------------ */
static void test_random_gaussian(void **state) {
  (void)state;
  for (int k = 0; k < NSIZES; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) s[i] = rng_gauss();
    check_all_keeps("gaussian", s, n, n <= 100003 ? 3 : 0);
    free(s);
  }
}

static void test_random_bit_patterns(void **state) {
  (void)state;
  for (int k = 0; k < NSIZES - 1; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) s[i] = rng_bits_float();
    check_all_keeps("bit patterns", s, n, 3);
    free(s);
  }
}

static void test_negative_scores(void **state) {
  (void)state;
  for (int k = 0; k < NSIZES - 1; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) s[i] = -fabsf(rng_gauss()) - 1e-3f;
    check_all_keeps("negative", s, n, 2);
    free(s);
  }
}

static void test_heavy_ties(void **state) {
  (void)state;
  static const float vals[4] = {-1.f, 0.f, 1.f, 2.f};
  for (int k = 0; k < NSIZES; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) s[i] = vals[rng_next() & 3];
    check_all_keeps("ties {-1,0,1,2}", s, n, n <= 100003 ? 4 : 1);
    /* keep exactly the count of the top value, and one more / one less */
    long c2 = 0;
    for (long i = 0; i < n; i++) c2 += s[i] == 2.f;
    pair *order = ref_order(s, n);
    uint8_t *mask = malloc((size_t)n);
    assert_non_null(mask);
    for (long kk = c2 - 1; kk <= c2 + 1; kk++)
      if (kk >= 0 && kk <= n) check_keep("ties at group edge", s, order, n, kk, mask);
    free(mask);
    free(order);
    free(s);
  }
}

static void test_all_equal(void **state) {
  (void)state;
  for (int k = 0; k < NSIZES; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) s[i] = 0.375f;
    uint8_t *mask = malloc((size_t)n);
    assert_non_null(mask);
    long keeps[4] = {0, 1, n / 2, n};
    for (int j = 0; j < 4; j++) {
      assert_int_equal(pst_topk_mask(mask, s, n, keeps[j]), PST_OK);
      for (long i = 0; i < n; i++)
        if (mask[i] != (i < keeps[j])) fail_msg("all equal n=%ld keep=%ld: mask[%ld]=%u", n, keeps[j], i, mask[i]);
    }
    free(mask);
    free(s);
  }
}

static void test_signed_zeros(void **state) {
  (void)state;
  /* -0.0 and +0.0 are equal: ties broken by index only */
  {
    float s[6] = {-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f};
    uint8_t mask[6];
    for (long keep = 0; keep <= 6; keep++) {
      assert_int_equal(pst_topk_mask(mask, s, 6, keep), PST_OK);
      for (long i = 0; i < 6; i++) assert_int_equal(mask[i], i < keep);
    }
  }
  {
    float s[5] = {-0.0f, 1.0f, 0.0f, -1.0f, -0.0f}; /* order: 1, then zeros 0, 2, 4, then 3 */
    uint8_t mask[5];
    static const uint8_t want[6][5] = {{0, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {1, 1, 0, 0, 0},
                                       {1, 1, 1, 0, 0}, {1, 1, 1, 0, 1}, {1, 1, 1, 1, 1}};
    for (long keep = 0; keep <= 5; keep++) {
      assert_int_equal(pst_topk_mask(mask, s, 5, keep), PST_OK);
      assert_memory_equal(mask, want[keep], 5);
    }
  }
  for (int k = 0; k < NSIZES - 1; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) {
      uint64_t r = rng_next() % 5;
      s[i] = r == 0 ? -0.0f : r == 1 ? 0.0f : r == 2 ? FLT_TRUE_MIN : r == 3 ? -FLT_TRUE_MIN : 1e-3f;
    }
    check_all_keeps("signed zeros", s, n, 4);
    free(s);
  }
}

static void test_inf_and_denormals(void **state) {
  (void)state;
  static const float special[] = {INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
                                  FLT_TRUE_MIN, -FLT_TRUE_MIN, 2 * FLT_TRUE_MIN, FLT_MIN - FLT_TRUE_MIN,
                                  -(FLT_MIN - FLT_TRUE_MIN), 0.0f, -0.0f, 1.0f, -1.0f};
  const int ns = (int)(sizeof special / sizeof special[0]);
  for (int k = 0; k < NSIZES - 1; k++) {
    long n = SIZES[k];
    float *s = alloc_scores(n);
    for (long i = 0; i < n; i++) {
      uint64_t r = rng_next();
      s[i] = (r & 1) ? special[(r >> 1) % (uint64_t)ns] : ldexpf(rng_gauss(), -126 - (int)((r >> 8) % 24));
    }
    check_all_keeps("inf/denormal", s, n, 4);
    free(s);
  }
  /* +inf beats FLT_MAX, -inf loses to -FLT_MAX; several infinities tie by index */
  float s[7] = {-INFINITY, FLT_MAX, INFINITY, -FLT_MAX, INFINITY, FLT_TRUE_MIN, -INFINITY};
  uint8_t mask[7];
  static const long rank[7] = {2, 4, 1, 5, 3, 0, 6};
  for (long keep = 0; keep <= 7; keep++) {
    assert_int_equal(pst_topk_mask(mask, s, 7, keep), PST_OK);
    uint8_t want[7] = {0};
    for (long r = 0; r < keep; r++) want[rank[r]] = 1;
    assert_memory_equal(mask, want, 7);
  }
}

/* scores that all share the top 11 key bits, differing only in the lower passes' bits */
static void test_one_radix_bucket(void **state) {
  (void)state;
  long n = 100003;
  float *s = alloc_scores(n);
  for (long i = 0; i < n; i++) s[i] = bits_to_float(0x3f800000u + (uint32_t)(rng_next() % 4096));
  check_all_keeps("one bucket", s, n, 6);
  for (long i = 0; i < n; i++) s[i] = bits_to_float(0x3f800000u + (uint32_t)(rng_next() % 3)); /* ties too */
  check_all_keeps("one bucket ties", s, n, 6);
  free(s);
}

/* Skipped when OpenMP is limited to one thread (OMP_NUM_THREADS=1, as under valgrind, where
 * libgomp's pool threads would show as "possibly lost" at exit). */
static void test_thread_counts(void **state) {
  (void)state;
  int saved = omp_get_max_threads();
  if (saved == 1) skip();
  long n = 100003;
  float *s = alloc_scores(n);
  for (long i = 0; i < n; i++) s[i] = (rng_next() & 7) ? rng_bits_float() : 0.5f;
  pair *order = ref_order(s, n);
  uint8_t *mask = malloc((size_t)n);
  assert_non_null(mask);
  static const int threads[3] = {1, 2, 3};
  for (int t = 0; t < 3; t++) {
    omp_set_num_threads(threads[t]);
    check_keep("threads", s, order, n, n / 3, mask);
    check_keep("threads", s, order, n, 1, mask);
    check_keep("threads", s, order, n, n - 2, mask);
  }
  omp_set_num_threads(saved);
  free(mask);
  free(order);
  free(s);
}

/* ------------------------------------------------------------------------------------------ */
static void expect_nan_error(float *s, long n, long first_nan, long keep) {
  uint8_t *mask = malloc((size_t)n);
  assert_non_null(mask);
  pst_err_clear();
  pst_err rc = pst_topk_mask(mask, s, n, keep);
  if (rc != PST_ERR_NUMERIC) fail_msg("NaN at %ld of %ld (keep %ld): rc = %d, want PST_ERR_NUMERIC", first_nan, n, keep, rc);
  char want[64];
  snprintf(want, sizeof want, " %ld ", first_nan);
  if (!strstr(pst_err_message(), want) || !strstr(pst_err_message(), "NaN"))
    fail_msg("NaN message does not name index %ld: '%s'", first_nan, pst_err_message());
  pst_topk_threshold thr;
  assert_int_equal(pst_topk_select(&thr, s, n, keep), PST_ERR_NUMERIC);
  pst_err_clear();
  free(mask);
}

static void test_nan_rejected(void **state) {
  (void)state;
  const float nans[4] = {NAN, -NAN, bits_to_float(0x7f800001u), bits_to_float(0xffffffffu)};
  static const long sizes[4] = {1, 7, 1000, 100003};
  for (int k = 0; k < 4; k++) {
    long n = sizes[k];
    float *s = alloc_scores(n);
    long where[3] = {0, n / 2, n - 1};
    for (int w = 0; w < 3; w++) {
      for (long i = 0; i < n; i++) s[i] = rng_gauss();
      s[where[w]] = nans[(w + k) & 3];
      expect_nan_error(s, n, where[w], n / 2);
      expect_nan_error(s, n, where[w], 0); /* even when nothing is kept */
      expect_nan_error(s, n, where[w], n);
    }
    if (n >= 7) { /* several NaNs: the first one is named */
      for (long i = 0; i < n; i++) s[i] = rng_gauss();
      s[n - 1] = nans[0];
      s[n / 3] = nans[1];
      s[n / 2] = nans[2];
      expect_nan_error(s, n, n / 3, 1);
    }
    free(s);
  }
}

static void test_keep_out_of_range(void **state) {
  (void)state;
  float s[7] = {1, 2, 3, 4, 5, 6, 7};
  uint8_t mask[7];
  const long bad[4] = {-1, 8, -1000000, 1L << 40};
  for (int b = 0; b < 4; b++) {
    pst_err_clear();
    assert_int_equal(pst_topk_mask(mask, s, 7, bad[b]), PST_ERR_ARG);
    assert_non_null(strstr(pst_err_message(), "keep"));
    pst_topk_threshold thr;
    assert_int_equal(pst_topk_select(&thr, s, 7, bad[b]), PST_ERR_ARG);
  }
  pst_err_clear();
  /* numel = 0: keep 0 is valid, keep 1 is not */
  assert_int_equal(pst_topk_mask(mask, s, 0, 0), PST_OK);
  assert_int_equal(pst_topk_mask(mask, s, 0, 1), PST_ERR_ARG);
  pst_err_clear();
}

/* ------------------------------------------------------------------------------------------ */
static void test_keep_count(void **state) {
  (void)state;
  /* expected = numel - math.floor(numel * s), evaluated with Python floats */
  static const struct {
    long n;
    double s;
    long keep;
  } T[] = {
      {1, 0.0, 1},         {1, 0.5, 1},         {1, 1.0, 0},           {2, 0.5, 1},
      {7, 0.0, 7},         {7, 1.0, 0},         {10, 0.3, 7},          {10, 0.7, 3},
      {10, 0.1, 9},        {10, 0.9, 1},        {35, 0.4, 21},         {100, 0.07, 93},
      {100, 0.29, 72},     {100, 0.57, 44},     {1000, 0.001, 999},    {3, 0.3333333333333333, 2},
      {2359296, 0.9, 235930}, {2359296, 0.5, 1179648}, {589824, 0.95, 29492}, {49, 0.14285714285714285, 42},
      {100003, 0.123456789, 87657}, {1000, 0.999999, 1}, {12, 0.25, 9}, {5, 0.2, 4},
      {5, 0.6, 2},         {29, 0.01, 29},      {0, 0.5, 0},           {2359296, 0.0, 2359296},
      {2359296, 1.0, 0},
  };
  for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
    long got = pst_keep_count(T[i].n, T[i].s);
    if (got != T[i].keep) fail_msg("pst_keep_count(%ld, %.17g) = %ld, want %ld", T[i].n, T[i].s, got, T[i].keep);
  }
  /* exact integers numel*s: s = k/numel for dyadic numel */
  for (long n = 1; n <= 4096; n *= 2)
    for (long k = 0; k <= n; k++) assert_int_equal(pst_keep_count(n, (double)k / (double)n), n - k);
  /* s = 0 keeps all, s = 1 keeps none, and keep is non-increasing in s */
  for (long n = 0; n < 300; n++) {
    assert_int_equal(pst_keep_count(n, 0.0), n);
    assert_int_equal(pst_keep_count(n, 1.0), 0);
    long prev = n;
    for (int j = 0; j <= 200; j++) {
      long kc = pst_keep_count(n, j / 200.0);
      assert_true(kc <= prev && kc >= 0);
      prev = kc;
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
static void test_score_key_order(void **state) {
  (void)state;
  const float v[] = {-INFINITY, -FLT_MAX, -nextafterf(FLT_MAX, 0.f), -1e30f, -2.0f, -nextafterf(1.0f, 2.0f),
                     -1.0f, -nextafterf(1.0f, 0.0f), -0.5f, -FLT_MIN, -nextafterf(FLT_MIN, 0.f),
                     -3 * FLT_TRUE_MIN, -2 * FLT_TRUE_MIN, -FLT_TRUE_MIN, -0.0f, 0.0f, FLT_TRUE_MIN,
                     2 * FLT_TRUE_MIN, nextafterf(FLT_MIN, 0.f), FLT_MIN, nextafterf(FLT_MIN, 1.f), 1e-30f,
                     0.5f, nextafterf(1.0f, 0.f), 1.0f, nextafterf(1.0f, 2.f), 2.0f, 1e30f,
                     nextafterf(FLT_MAX, 0.f), FLT_MAX, INFINITY};
  const int n = (int)(sizeof v / sizeof v[0]);
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++) {
      uint32_t ki = pst_score_key(v[i]), kj = pst_score_key(v[j]);
      if (v[i] == v[j]) {
        if (ki != kj) fail_msg("key(%a) = %08x != key(%a) = %08x", (double)v[i], ki, (double)v[j], kj);
      } else if (!(ki < kj)) {
        fail_msg("key(%a) = %08x not < key(%a) = %08x", (double)v[i], ki, (double)v[j], kj);
      }
    }
  assert_int_equal(pst_score_key(-0.0f), pst_score_key(0.0f));
  /* random pairs of bit patterns: key comparison == float comparison */
  for (int t = 0; t < 1000000; t++) {
    float a = rng_bits_float(), b = (t & 1) ? rng_bits_float() : nextafterf(a, (t & 2) ? INFINITY : -INFINITY);
    uint32_t ka = pst_score_key(a), kb = pst_score_key(b);
    int cf = (a > b) - (a < b), ck = (ka > kb) - (ka < kb);
    if (cf != ck) fail_msg("compare(%a, %a) = %d but keys %08x %08x compare %d", (double)a, (double)b, cf, ka, kb, ck);
  }
  /* no finite or infinite score maps onto UINT32_MAX (used as "nothing kept") */
  assert_true(pst_score_key(INFINITY) < UINT32_MAX);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_random_gaussian),   cmocka_unit_test(test_random_bit_patterns),
      cmocka_unit_test(test_negative_scores),   cmocka_unit_test(test_heavy_ties),
      cmocka_unit_test(test_all_equal),         cmocka_unit_test(test_signed_zeros),
      cmocka_unit_test(test_inf_and_denormals), cmocka_unit_test(test_one_radix_bucket),
      cmocka_unit_test(test_thread_counts),     cmocka_unit_test(test_nan_rejected),
      cmocka_unit_test(test_keep_out_of_range), cmocka_unit_test(test_keep_count),
      cmocka_unit_test(test_score_key_order),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
