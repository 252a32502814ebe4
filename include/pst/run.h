/* run.h — `pst train`: the whole training job from a resolved config (data, model,
 * trainer loop, progress line, metrics.jsonl, dev evaluation, final tensors). */
#ifndef PST_RUN_H
#define PST_RUN_H

#include "pst/config.h"
#include "pst/data.h"
#include "pst/model.h"

/* Run training on the process grid dist (every rank calls it); returns PST_OK, or an error
 * (the run dir keeps what was written). *preempted = 1 when a signal stopped it after the
 * checkpoint of its last step was written (the error then says so). */
struct pst_dist;
pst_err pst_train_run(const pst_config *cfg, struct pst_dist *dist, int *preempted);
/* Exit status of `pst train` after such a stop (EX_TEMPFAIL: rerun with --resume auto). */
#define PST_EXIT_PREEMPTED 75

typedef struct {
  long examples;
  double loss;        /* mean loss (per example; per target token for lm), without label smoothing */
  int nmetrics;       /* metrics reported (<= 2), HF evaluate's names */
  const char *metric_name[2];
  double metric[2];
  const char *main_name; /* the model-selection score (higher is better) */
  double main;
} pst_eval_result;

/* Evaluate the model (created for batch B x T) on a data set, without gradients; with
 * pad_longest each batch is padded to its longest example only (pst_batch_longest).
 * Metrics: GLUE task glue_task (>= 0) as GLUE defines them; otherwise classify: accuracy (and
 * F1 of class 1 for two classes), main = accuracy; regress: Pearson and Spearman, main = their
 * mean; lm: perplexity, main = -loss. */
pst_err pst_evaluate(pst_model *m, const pst_dataset *d, pst_task task, int B, int T, int pad_longest, int num_labels,
                     int glue_task, struct pst_dist *dist, pst_eval_result *res);

#endif
