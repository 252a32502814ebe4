/* metrics.h — evaluation metrics of GLUE, computed in double exactly as the reference
 * implementations that HF `evaluate`'s "glue" metric calls define them:
 *
 *   accuracy      sklearn.metrics.accuracy_score: (number of pred[i] == gold[i]) / n
 *   f1            sklearn.metrics.f1_score(gold, pred) with its defaults: binary, positive
 *                 class 1: p = tp/(tp+fp), r = tp/(tp+fn), F1 = 2pr/(p+r); 0 when tp = 0
 *                 (sklearn's zero_division="warn" value, also when there is no positive
 *                 label or prediction at all)
 *   mcc           sklearn.metrics.matthews_corrcoef (multiclass form, from the confusion
 *                 matrix C: (c*s - t.p) / sqrt((s^2 - p.p)(s^2 - t.t)) with t, p the row
 *                 and column sums, c the trace, s = n); 0 when the denominator is 0
 *   pearson       scipy.stats.pearsonr statistic; NaN when x or y is constant (all values
 *                 equal), as scipy; for n == 2 sign(dx) * sign(dy), as scipy
 *   spearman      scipy.stats.spearmanr statistic: Pearson r of the ranks, ties getting
 *                 the average of their ranks (scipy.stats.rankdata "average"); NaN when x
 *                 or y is constant, as scipy
 *
 * Deviations from the references (all on inputs they do not accept or turn into NaN):
 * n < 1 (n < 2 for pearson/spearman) is PST_ERR_ARG (scipy raises for pearsonr but returns
 * NaN for spearmanr at n = 1); a NaN or infinite value is PST_ERR_NUMERIC (scipy returns
 * NaN); a negative class id is PST_ERR_ARG; f1 needs ids in {0, 1} (sklearn raises for
 * non-binary input). Results are within a few ulps of the references; the tests
 * (tests/unit/test_metrics.c against tests/fixtures/metrics/, written by
 * tests/reference/make_metric_fixtures.py) check them to 1e-12 relative.
 *
 * GLUE task metrics (pst_glue_score) follow HF evaluate's glue metric and HF transformers'
 * run_glue.py: CoLA matthews_correlation; SST-2, MNLI (matched and mismatched alike),
 * QNLI, RTE, WNLI accuracy; MRPC, QQP accuracy and f1; STS-B pearson and spearmanr. The
 * main score is the one metric, or for two metrics their unweighted mean, which is
 * run_glue.py's "combined_score" and the per-task score the GLUE paper averages into the
 * GLUE score (tasks with two metrics count with the mean of both). */
#ifndef PST_METRICS_H
#define PST_METRICS_H

#include "pst/core.h"

/* ---- single metrics: class ids are ints >= 0, values are finite doubles ---------------- */
pst_err pst_metric_accuracy(double *out, const int *pred, const int *gold, long n);
pst_err pst_metric_f1(double *out, const int *pred, const int *gold, long n);
pst_err pst_metric_mcc(double *out, const int *pred, const int *gold, long n);
pst_err pst_metric_pearson(double *out, const double *x, const double *y, long n);
pst_err pst_metric_spearman(double *out, const double *x, const double *y, long n);

/* ---- GLUE tasks --------------------------------------------------------------------------- */
typedef enum {
  PST_GLUE_COLA,
  PST_GLUE_SST2,
  PST_GLUE_MRPC,
  PST_GLUE_STSB,
  PST_GLUE_QQP,
  PST_GLUE_MNLI,
  PST_GLUE_QNLI,
  PST_GLUE_RTE,
  PST_GLUE_WNLI,
  PST_GLUE_NTASKS
} pst_glue_task;

/* Task from its name, case-insensitive: HF's config names cola sst2 mrpc stsb qqp mnli qnli
 * rte wnli, or the glue_data folder names CoLA SST-2 MRPC STS-B QQP MNLI QNLI RTE WNLI;
 * anything else is PST_ERR_CONFIG listing the names. */
pst_err pst_glue_task_parse(pst_glue_task *task, const char *name);
/* HF's config name ("cola", "sst2", ...) and the glue_data folder name ("CoLA", "SST-2", ...);
 * "?" for a value out of range. */
const char *pst_glue_task_name(pst_glue_task task);
const char *pst_glue_task_dir(pst_glue_task task);
/* 1 for STS-B (the only regression task), else 0. */
int pst_glue_is_regression(pst_glue_task task);

#define PST_GLUE_MAX_METRICS 2
typedef struct {
  int n;                                  /* metrics reported: 1 or 2 */
  const char *name[PST_GLUE_MAX_METRICS]; /* HF evaluate's keys, in its order: "accuracy",
                                             "f1", "matthews_correlation", "pearson",
                                             "spearmanr" (static strings) */
  double value[PST_GLUE_MAX_METRICS];
  const char *main_name;                  /* name[0] when n == 1, else "combined_score" */
  double main;                            /* value[0], or (value[0] + value[1]) / 2 */
} pst_glue_scores;

/* Score n predictions of a task. Classification tasks read pred/gold (class ids in the
 * label order of textdata.h) and ignore pred_f/gold_f; STS-B reads pred_f/gold_f and
 * ignores pred/gold. The arrays the task needs must not be NULL (PST_ERR_ARG). */
pst_err pst_glue_score(pst_glue_scores *s, pst_glue_task task, long n, const int *pred, const int *gold,
                       const double *pred_f, const double *gold_f);

#endif
