/* metrics.c — GLUE evaluation metrics (see metrics.h for the definitions followed).
 * Sums use Neumaier compensation and the correlations centre and scale their inputs
 * first, so the results stay within a few ulps of scipy / sklearn (which use pairwise
 * and BLAS sums) and cannot overflow for large finite inputs. */
#include "pst/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- helpers ------------------------------------------------------------------------------ */

/* Compensated (Neumaier) running sum. */
typedef struct {
  double s, c;
} ksum;

static void ksum_add(ksum *k, double v) {
  double t = k->s + v;
  if (fabs(k->s) >= fabs(v)) k->c += (k->s - t) + v;
  else k->c += (v - t) + k->s;
  k->s = t;
}

static double ksum_get(const ksum *k) { return k->s + k->c; }

static pst_err check_ids(const int *pred, const int *gold, long n, const char *what) {
  if (n < 1) PST_ERR(PST_ERR_ARG, "%s: need at least one example (n = %ld)", what, n);
  if (!pred || !gold) PST_ERR(PST_ERR_ARG, "%s: NULL predictions or labels", what);
  for (long i = 0; i < n; i++)
    if (pred[i] < 0 || gold[i] < 0)
      PST_ERR(PST_ERR_ARG, "%s: negative class id at index %ld (pred %d, gold %d)", what, i, pred[i], gold[i]);
  return PST_OK;
}

static pst_err check_values(const double *x, const double *y, long n, const char *what) {
  if (n < 2) PST_ERR(PST_ERR_ARG, "%s: need at least two values (n = %ld)", what, n);
  if (!x || !y) PST_ERR(PST_ERR_ARG, "%s: NULL input", what);
  for (long i = 0; i < n; i++)
    if (!isfinite(x[i]) || !isfinite(y[i]))
      PST_ERR(PST_ERR_NUMERIC, "%s: value at index %ld is not finite (x %g, y %g)", what, i, x[i], y[i]);
  return PST_OK;
}

static int is_constant(const double *x, long n) {
  for (long i = 1; i < n; i++)
    if (x[i] != x[0]) return 0;
  return 1;
}

/* x - mean(x), scaled so that the largest magnitude is 1 (two-pass mean with correction). */
static void centre_scale(double *d, const double *x, long n) {
  ksum k = {0, 0};
  for (long i = 0; i < n; i++) ksum_add(&k, x[i]);
  double m = ksum_get(&k) / (double)n;
  ksum r = {0, 0};
  for (long i = 0; i < n; i++) ksum_add(&r, x[i] - m);
  m += ksum_get(&r) / (double)n;
  double mx = 0;
  for (long i = 0; i < n; i++) {
    d[i] = x[i] - m;
    if (fabs(d[i]) > mx) mx = fabs(d[i]);
  }
  if (mx > 0)
    for (long i = 0; i < n; i++) d[i] /= mx;
}

/* Pearson r of two non-constant series of n >= 2 finite values (scratch: 2n doubles). */
static double pearson_core(const double *x, const double *y, long n, double *scratch) {
  double *dx = scratch, *dy = scratch + n;
  centre_scale(dx, x, n);
  centre_scale(dy, y, n);
  ksum sxx = {0, 0}, syy = {0, 0}, sxy = {0, 0};
  for (long i = 0; i < n; i++) {
    ksum_add(&sxx, dx[i] * dx[i]);
    ksum_add(&syy, dy[i] * dy[i]);
    ksum_add(&sxy, dx[i] * dy[i]);
  }
  double den = sqrt(ksum_get(&sxx)) * sqrt(ksum_get(&syy));
  if (!(den > 0)) return NAN; /* only if centring lost every difference */
  double r = ksum_get(&sxy) / den;
  return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

/* ---- classification ---------------------------------------------------------------------- */

pst_err pst_metric_accuracy(double *out, const int *pred, const int *gold, long n) {
  PST_CHECK(check_ids(pred, gold, n, "accuracy"));
  long c = 0;
  for (long i = 0; i < n; i++) c += pred[i] == gold[i];
  *out = (double)c / (double)n;
  return PST_OK;
}

pst_err pst_metric_f1(double *out, const int *pred, const int *gold, long n) {
  PST_CHECK(check_ids(pred, gold, n, "f1"));
  long tp = 0, fp = 0, fn = 0;
  for (long i = 0; i < n; i++) {
    if (pred[i] > 1 || gold[i] > 1)
      PST_ERR(PST_ERR_ARG, "f1: binary F1 needs class ids 0/1, found pred %d gold %d at index %ld", pred[i],
              gold[i], i);
    tp += pred[i] == 1 && gold[i] == 1;
    fp += pred[i] == 1 && gold[i] == 0;
    fn += pred[i] == 0 && gold[i] == 1;
  }
  /* sklearn's order of operations: p, r, then (1 + beta^2) p r / (beta^2 p + r) */
  double p = tp + fp ? (double)tp / (double)(tp + fp) : 0.0;
  double r = tp + fn ? (double)tp / (double)(tp + fn) : 0.0;
  double den = p + r;
  *out = den == 0.0 ? 0.0 : 2.0 * p * r / den;
  return PST_OK;
}

static int cmp_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

/* MCC from sorted copies of the labels, so arbitrary class ids need no table of max-id size:
 * t.p = sum over classes of (gold count * pred count), merged over the two sorted runs. */
pst_err pst_metric_mcc(double *out, const int *pred, const int *gold, long n) {
  PST_CHECK(check_ids(pred, gold, n, "mcc"));
  int *g = malloc((size_t)n * sizeof *g), *p = malloc((size_t)n * sizeof *p);
  if (!g || !p) {
    free(g);
    free(p);
    PST_ERR(PST_ERR_MEM, "mcc: out of memory for %ld labels", n);
  }
  memcpy(g, gold, (size_t)n * sizeof *g);
  memcpy(p, pred, (size_t)n * sizeof *p);
  qsort(g, (size_t)n, sizeof *g, cmp_int);
  qsort(p, (size_t)n, sizeof *p, cmp_int);
  double tt = 0, pp = 0, tp = 0, correct = 0;
  for (long i = 0; i < n; i++) correct += pred[i] == gold[i];
  long i = 0, j = 0;
  while (i < n || j < n) {
    int k = i < n && (j >= n || g[i] <= p[j]) ? g[i] : p[j];
    long ci = 0, cj = 0;
    while (i < n && g[i] == k) i++, ci++;
    while (j < n && p[j] == k) j++, cj++;
    tt += (double)ci * (double)ci;
    pp += (double)cj * (double)cj;
    tp += (double)ci * (double)cj;
  }
  free(g);
  free(p);
  double s = (double)n;
  double cov_ytyp = correct * s - tp;
  double cov_ypyp = s * s - pp;
  double cov_ytyt = s * s - tt;
  *out = cov_ypyp * cov_ytyt == 0 ? 0.0 : cov_ytyp / sqrt(cov_ytyt * cov_ypyp);
  return PST_OK;
}

/* ---- correlation -------------------------------------------------------------------------- */

pst_err pst_metric_pearson(double *out, const double *x, const double *y, long n) {
  PST_CHECK(check_values(x, y, n, "pearson"));
  if (is_constant(x, n) || is_constant(y, n)) {
    *out = NAN;
    return PST_OK;
  }
  if (n == 2) { /* scipy's special case */
    double sx = x[1] > x[0] ? 1.0 : -1.0, sy = y[1] > y[0] ? 1.0 : -1.0;
    *out = sx * sy;
    return PST_OK;
  }
  double *scratch = malloc(2 * (size_t)n * sizeof *scratch);
  if (!scratch) PST_ERR(PST_ERR_MEM, "pearson: out of memory for %ld values", n);
  *out = pearson_core(x, y, n, scratch);
  free(scratch);
  return PST_OK;
}

typedef struct {
  double v;
  long i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
  double x = ((const keyed *)a)->v, y = ((const keyed *)b)->v;
  return (x > y) - (x < y);
}

/* r[i] = the 1-based rank of x[i], ties getting the mean of their ranks (exact in double:
 * a half-integer). kv is scratch for n entries. */
static void average_ranks(double *r, const double *x, long n, keyed *kv) {
  for (long i = 0; i < n; i++) kv[i] = (keyed){x[i], i};
  qsort(kv, (size_t)n, sizeof *kv, cmp_keyed);
  for (long i = 0; i < n;) {
    long j = i;
    while (j + 1 < n && kv[j + 1].v == kv[i].v) j++;
    double rank = (double)(i + j + 2) / 2.0;
    for (long k = i; k <= j; k++) r[kv[k].i] = rank;
    i = j + 1;
  }
}

pst_err pst_metric_spearman(double *out, const double *x, const double *y, long n) {
  PST_CHECK(check_values(x, y, n, "spearman"));
  if (is_constant(x, n) || is_constant(y, n)) {
    *out = NAN;
    return PST_OK;
  }
  double *buf = malloc(4 * (size_t)n * sizeof *buf);
  keyed *idx = malloc((size_t)n * sizeof *idx);
  if (!buf || !idx) {
    free(buf);
    free(idx);
    PST_ERR(PST_ERR_MEM, "spearman: out of memory for %ld values", n);
  }
  average_ranks(buf, x, n, idx);
  average_ranks(buf + n, y, n, idx);
  *out = pearson_core(buf, buf + n, n, buf + 2 * n);
  free(buf);
  free(idx);
  return PST_OK;
}

/* ---- GLUE tasks --------------------------------------------------------------------------- */

static const char *const task_names[PST_GLUE_NTASKS] = {"cola", "sst2", "mrpc", "stsb", "qqp",
                                                         "mnli", "qnli", "rte",  "wnli"};
static const char *const task_dirs[PST_GLUE_NTASKS] = {"CoLA", "SST-2", "MRPC", "STS-B", "QQP",
                                                        "MNLI", "QNLI",  "RTE",  "WNLI"};

pst_err pst_glue_task_parse(pst_glue_task *task, const char *name) {
  for (int t = 0; t < PST_GLUE_NTASKS; t++)
    if (name && (!strcasecmp(name, task_names[t]) || !strcasecmp(name, task_dirs[t]))) {
      *task = (pst_glue_task)t;
      return PST_OK;
    }
  PST_ERR(PST_ERR_CONFIG, "GLUE task '%s': allowed values are cola|sst2|mrpc|stsb|qqp|mnli|qnli|rte|wnli",
          name ? name : "(null)");
}

const char *pst_glue_task_name(pst_glue_task task) {
  return (unsigned)task < PST_GLUE_NTASKS ? task_names[task] : "?";
}

const char *pst_glue_task_dir(pst_glue_task task) {
  return (unsigned)task < PST_GLUE_NTASKS ? task_dirs[task] : "?";
}

int pst_glue_is_regression(pst_glue_task task) { return task == PST_GLUE_STSB; }

pst_err pst_glue_score(pst_glue_scores *s, pst_glue_task task, long n, const int *pred, const int *gold,
                       const double *pred_f, const double *gold_f) {
  memset(s, 0, sizeof *s);
  if ((unsigned)task >= PST_GLUE_NTASKS) PST_ERR(PST_ERR_ARG, "GLUE task %d out of range", (int)task);
  const char *tn = task_names[task];
  if (task == PST_GLUE_STSB) {
    if (!pred_f || !gold_f) PST_ERR(PST_ERR_ARG, "glue %s: needs real-valued predictions and labels", tn);
  } else if (!pred || !gold) {
    PST_ERR(PST_ERR_ARG, "glue %s: needs class-id predictions and labels", tn);
  }
  switch (task) {
  case PST_GLUE_COLA:
    s->n = 1;
    s->name[0] = "matthews_correlation";
    PST_CHECK(pst_metric_mcc(&s->value[0], pred, gold, n));
    break;
  case PST_GLUE_MRPC:
  case PST_GLUE_QQP:
    s->n = 2;
    s->name[0] = "accuracy";
    s->name[1] = "f1";
    PST_CHECK(pst_metric_accuracy(&s->value[0], pred, gold, n));
    PST_CHECK(pst_metric_f1(&s->value[1], pred, gold, n));
    break;
  case PST_GLUE_STSB:
    s->n = 2;
    s->name[0] = "pearson";
    s->name[1] = "spearmanr";
    PST_CHECK(pst_metric_pearson(&s->value[0], pred_f, gold_f, n));
    PST_CHECK(pst_metric_spearman(&s->value[1], pred_f, gold_f, n));
    break;
  default:
    s->n = 1;
    s->name[0] = "accuracy";
    PST_CHECK(pst_metric_accuracy(&s->value[0], pred, gold, n));
    break;
  }
  if (s->n == 1) {
    s->main_name = s->name[0];
    s->main = s->value[0];
  } else {
    s->main_name = "combined_score";
    s->main = (s->value[0] + s->value[1]) / 2.0;
  }
  return PST_OK;
}
