/* test_metrics.c — unit tests of the GLUE metrics (include/pst/metrics.h, src/data/metrics.c).
 *
 * Reference values: tests/fixtures/metrics/{classify,regress,glue}.json, written by
 * tests/reference/make_metric_fixtures.py with sklearn 1.2.1 / scipy 1.10.1 (read from
 * $top_srcdir/tests/fixtures/metrics; top_srcdir defaults to "."). Every value must agree to
 * 1e-12 relative (|got - want| <= 1e-12 * max(|got|, |want|), so an exact 0 must be 0):
 *   classify: accuracy, binary F1 (cases with ids outside {0,1} must fail with PST_ERR_ARG,
 *             as sklearn raises), MCC: random, imbalanced, uncorrelated, all correct / wrong,
 *             constant predictions or labels (MCC 0), all-negative (F1 0), n = 1 and 2,
 *             three classes, sparse class ids (0, 7, 42, 1000000);
 *   regress:  Pearson and Spearman: random, STS-B-like with ties, float32-rounded predictions,
 *             tie-heavy integers on one or both sides, n = 2 (scipy's sign rule) and 3,
 *             constant x or y (NaN, JSON null), monotonic non-linear (Spearman 1),
 *             anti-correlated, offset 1e4, magnitudes 1e150 and 1e-150, weak and near-zero r;
 *   glue:     pst_glue_score on every task: HF evaluate's metric names in its order, values
 *             and run_glue's combined_score (the mean) as the main score.
 * Also: argument errors (n < 1, n < 2 for correlations, NULL, negative ids, f1 with id 2,
 * NaN/Inf inputs = PST_ERR_NUMERIC), invariances (Pearson symmetric and invariant under
 * positive affine maps, sign flip under negation; Spearman invariant under monotone maps),
 * pst_glue_task_parse / _name / _dir / _is_regression, pst_glue_score with missing arrays,
 * constant STS-B predictions giving a NaN main score. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/metrics.h"

#define REL_TOL 1e-12

static void assert_close(double got, double want, const char *what, const char *name) {
  if (isnan(want)) {
    if (!isnan(got)) fail_msg("%s %s: got %.17g, want NaN", name, what, got);
    return;
  }
  double err = fabs(got - want), scale = fmax(fabs(got), fabs(want));
  if (!(err <= REL_TOL * scale))
    fail_msg("%s %s: got %.17g, want %.17g (rel err %.3g)", name, what, got, want, scale > 0 ? err / scale : err);
}

static json_t *load_fixture(const char *file) {
  const char *top = getenv("top_srcdir");
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/metrics/%s", top && *top ? top : ".", file);
  json_error_t e;
  json_t *j = json_load_file(path, 0, &e);
  if (!j) fail_msg("cannot read fixture %s: %s (line %d) — run tests/reference/make_metric_fixtures.py", path,
                   e.text, e.line);
  if (!json_is_array(j) || json_array_size(j) == 0) fail_msg("%s: expected a non-empty array", path);
  return j;
}

static double num(json_t *v) { return json_is_null(v) ? NAN : json_number_value(v); }

static int *int_array(json_t *a, long *n) {
  *n = (long)json_array_size(a);
  int *v = malloc((size_t)*n * sizeof *v);
  assert_non_null(v);
  for (long i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(a, (size_t)i));
  return v;
}

static double *dbl_array(json_t *a, long *n) {
  *n = (long)json_array_size(a);
  double *v = malloc((size_t)*n * sizeof *v);
  assert_non_null(v);
  for (long i = 0; i < *n; i++) v[i] = json_number_value(json_array_get(a, (size_t)i));
  return v;
}

/* ------------------------------------------------------------------------------------------ */
static void test_classify_fixtures(void **state) {
  (void)state;
  json_t *all = load_fixture("classify.json");
  size_t k;
  json_t *c;
  json_array_foreach(all, k, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    long n, n2;
    int *pred = int_array(json_object_get(c, "pred"), &n);
    int *gold = int_array(json_object_get(c, "gold"), &n2);
    assert_int_equal(n, n2);
    double v;
    if (pst_metric_accuracy(&v, pred, gold, n)) fail_msg("%s accuracy: %s", name, pst_err_message());
    assert_close(v, num(json_object_get(c, "accuracy")), "accuracy", name);
    if (pst_metric_mcc(&v, pred, gold, n)) fail_msg("%s mcc: %s", name, pst_err_message());
    assert_close(v, num(json_object_get(c, "mcc")), "mcc", name);
    json_t *f1 = json_object_get(c, "f1");
    pst_err rc = pst_metric_f1(&v, pred, gold, n);
    if (json_is_null(f1)) {
      assert_int_equal(rc, PST_ERR_ARG);
      assert_non_null(strstr(pst_err_message(), "0/1"));
    } else {
      if (rc) fail_msg("%s f1: %s", name, pst_err_message());
      assert_close(v, num(f1), "f1", name);
    }
    /* F1 and MCC are symmetric in (pred, gold) */
    if (pst_metric_mcc(&v, gold, pred, n) == PST_OK) assert_close(v, num(json_object_get(c, "mcc")), "mcc^T", name);
    free(pred);
    free(gold);
  }
  json_decref(all);
}

static void test_regress_fixtures(void **state) {
  (void)state;
  json_t *all = load_fixture("regress.json");
  size_t k;
  json_t *c;
  json_array_foreach(all, k, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    long n, n2;
    double *x = dbl_array(json_object_get(c, "x"), &n);
    double *y = dbl_array(json_object_get(c, "y"), &n2);
    assert_int_equal(n, n2);
    double v;
    if (pst_metric_pearson(&v, x, y, n)) fail_msg("%s pearson: %s", name, pst_err_message());
    assert_close(v, num(json_object_get(c, "pearson")), "pearson", name);
    if (pst_metric_spearman(&v, x, y, n)) fail_msg("%s spearman: %s", name, pst_err_message());
    assert_close(v, num(json_object_get(c, "spearman")), "spearman", name);
    free(x);
    free(y);
  }
  json_decref(all);
}

static void test_glue_fixtures(void **state) {
  (void)state;
  json_t *all = load_fixture("glue.json");
  size_t k;
  json_t *c;
  int seen[PST_GLUE_NTASKS] = {0};
  json_array_foreach(all, k, c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    pst_glue_task task;
    assert_int_equal(pst_glue_task_parse(&task, json_string_value(json_object_get(c, "task"))), PST_OK);
    seen[task] = 1;
    long n, n2;
    pst_glue_scores s;
    pst_err rc;
    int *pi = NULL, *gi = NULL;
    double *pf = NULL, *gf = NULL;
    if (task == PST_GLUE_STSB) {
      pf = dbl_array(json_object_get(c, "pred"), &n);
      gf = dbl_array(json_object_get(c, "gold"), &n2);
    } else {
      pi = int_array(json_object_get(c, "pred"), &n);
      gi = int_array(json_object_get(c, "gold"), &n2);
    }
    assert_int_equal(n, n2);
    rc = pst_glue_score(&s, task, n, pi, gi, pf, gf);
    if (rc) fail_msg("%s: %s", name, pst_err_message());
    json_t *m = json_object_get(c, "metrics");
    assert_int_equal(s.n, (int)json_object_size(m));
    /* HF's key order: the fixture object keeps it (jansson preserves insertion order) */
    const char *key;
    json_t *val;
    int i = 0;
    json_object_foreach(m, key, val) {
      assert_string_equal(s.name[i], key);
      assert_close(s.value[i], num(val), key, name);
      i++;
    }
    assert_close(s.main, num(json_object_get(c, "main")), "main", name);
    assert_string_equal(s.main_name, s.n == 1 ? s.name[0] : "combined_score");
    free(pi);
    free(gi);
    free(pf);
    free(gf);
  }
  for (int t = 0; t < PST_GLUE_NTASKS; t++)
    if (!seen[t]) fail_msg("glue.json has no case for %s", pst_glue_task_name((pst_glue_task)t));
  json_decref(all);
}

/* ------------------------------------------------------------------------------------------ */
static void test_argument_errors(void **state) {
  (void)state;
  int p[3] = {0, 1, 1}, g[3] = {1, 1, 0}, neg[3] = {0, -1, 1}, two[3] = {0, 2, 1};
  double x[3] = {1, 2, 3}, y[3] = {2, 1, 5}, bad[3] = {1, NAN, 2}, inf[3] = {1, 2, INFINITY};
  double v = 0;
  assert_int_equal(pst_metric_accuracy(&v, p, g, 0), PST_ERR_ARG);
  assert_int_equal(pst_metric_f1(&v, p, g, -1), PST_ERR_ARG);
  assert_int_equal(pst_metric_mcc(&v, NULL, g, 3), PST_ERR_ARG);
  assert_int_equal(pst_metric_mcc(&v, neg, g, 3), PST_ERR_ARG);
  assert_non_null(strstr(pst_err_message(), "index 1"));
  assert_int_equal(pst_metric_accuracy(&v, p, neg, 3), PST_ERR_ARG);
  assert_int_equal(pst_metric_f1(&v, two, g, 3), PST_ERR_ARG);
  assert_int_equal(pst_metric_mcc(&v, two, g, 3), PST_OK); /* multiclass is fine for MCC */
  assert_int_equal(pst_metric_pearson(&v, x, y, 1), PST_ERR_ARG);
  assert_int_equal(pst_metric_spearman(&v, x, y, 1), PST_ERR_ARG);
  assert_int_equal(pst_metric_pearson(&v, x, NULL, 3), PST_ERR_ARG);
  assert_int_equal(pst_metric_pearson(&v, x, bad, 3), PST_ERR_NUMERIC);
  assert_non_null(strstr(pst_err_message(), "index 1"));
  assert_int_equal(pst_metric_spearman(&v, inf, y, 3), PST_ERR_NUMERIC);
  assert_non_null(strstr(pst_err_message(), "index 2"));
  pst_err_clear();
}

static void test_invariances(void **state) {
  (void)state;
  enum { N = 257 };
  double x[N], y[N], t[N], u[N];
  uint64_t s = 88172645463325252ULL;
  for (int i = 0; i < N; i++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    x[i] = (double)(s % 1000) / 37.0;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    y[i] = x[i] + (double)(s % 500) / 50.0 - 5.0;
  }
  double r, r2;
  assert_int_equal(pst_metric_pearson(&r, x, y, N), PST_OK);
  assert_int_equal(pst_metric_pearson(&r2, y, x, N), PST_OK);
  assert_close(r2, r, "pearson symmetric", "invariance");
  for (int i = 0; i < N; i++) t[i] = 3.5 * x[i] - 17.0, u[i] = -y[i];
  assert_int_equal(pst_metric_pearson(&r2, t, y, N), PST_OK);
  assert_true(fabs(r2 - r) < 1e-13);
  assert_int_equal(pst_metric_pearson(&r2, x, u, N), PST_OK);
  assert_true(fabs(r2 + r) < 1e-13);
  assert_int_equal(pst_metric_spearman(&r, x, y, N), PST_OK);
  for (int i = 0; i < N; i++) t[i] = exp(x[i] / 10.0), u[i] = y[i] * y[i] * y[i];
  assert_int_equal(pst_metric_spearman(&r2, t, u, N), PST_OK);
  assert_close(r2, r, "spearman monotone", "invariance");
  assert_true(r > 0.5 && r <= 1.0);
}

static void test_glue_tasks(void **state) {
  (void)state;
  static const struct {
    const char *name;
    pst_glue_task t;
  } ok[] = {{"cola", PST_GLUE_COLA}, {"CoLA", PST_GLUE_COLA}, {"SST-2", PST_GLUE_SST2}, {"sst2", PST_GLUE_SST2},
            {"mrpc", PST_GLUE_MRPC}, {"STS-B", PST_GLUE_STSB}, {"stsb", PST_GLUE_STSB}, {"QQP", PST_GLUE_QQP},
            {"mnli", PST_GLUE_MNLI}, {"QNLI", PST_GLUE_QNLI}, {"rte", PST_GLUE_RTE}, {"WNLI", PST_GLUE_WNLI}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    pst_glue_task t = PST_GLUE_NTASKS;
    assert_int_equal(pst_glue_task_parse(&t, ok[i].name), PST_OK);
    assert_int_equal(t, ok[i].t);
  }
  pst_glue_task t;
  assert_int_equal(pst_glue_task_parse(&t, "sst-3"), PST_ERR_CONFIG);
  assert_non_null(strstr(pst_err_message(), "cola|sst2|mrpc|stsb|qqp|mnli|qnli|rte|wnli"));
  assert_int_equal(pst_glue_task_parse(&t, NULL), PST_ERR_CONFIG);
  assert_string_equal(pst_glue_task_name(PST_GLUE_STSB), "stsb");
  assert_string_equal(pst_glue_task_dir(PST_GLUE_STSB), "STS-B");
  assert_string_equal(pst_glue_task_dir(PST_GLUE_SST2), "SST-2");
  assert_string_equal(pst_glue_task_name(PST_GLUE_NTASKS), "?");
  for (int k = 0; k < PST_GLUE_NTASKS; k++) assert_int_equal(pst_glue_is_regression((pst_glue_task)k), k == PST_GLUE_STSB);

  pst_glue_scores s;
  int p[4] = {1, 0, 1, 1}, g[4] = {1, 0, 0, 1};
  double pf[4] = {2, 2, 2, 2}, gf[4] = {1, 2, 3, 4};
  assert_int_equal(pst_glue_score(&s, PST_GLUE_STSB, 4, p, g, NULL, gf), PST_ERR_ARG);
  assert_int_equal(pst_glue_score(&s, PST_GLUE_MRPC, 4, NULL, g, pf, gf), PST_ERR_ARG);
  assert_int_equal(pst_glue_score(&s, PST_GLUE_NTASKS, 4, p, g, pf, gf), PST_ERR_ARG);
  /* MRPC: acc 3/4, F1 = 2 * (2/3) * 1 / (5/3) = 0.8, main = 0.775 */
  assert_int_equal(pst_glue_score(&s, PST_GLUE_MRPC, 4, p, g, NULL, NULL), PST_OK);
  assert_int_equal(s.n, 2);
  assert_close(s.value[0], 0.75, "acc", "mrpc");
  assert_close(s.value[1], 0.8, "f1", "mrpc");
  assert_close(s.main, 0.775, "main", "mrpc");
  /* a constant STS-B prediction: Pearson and Spearman are NaN (scipy), so is the main score */
  assert_int_equal(pst_glue_score(&s, PST_GLUE_STSB, 4, NULL, NULL, pf, gf), PST_OK);
  assert_true(isnan(s.value[0]) && isnan(s.value[1]) && isnan(s.main));
  assert_string_equal(s.main_name, "combined_score");
  pst_err_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_classify_fixtures), cmocka_unit_test(test_regress_fixtures),
      cmocka_unit_test(test_glue_fixtures),     cmocka_unit_test(test_argument_errors),
      cmocka_unit_test(test_invariances),       cmocka_unit_test(test_glue_tasks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
