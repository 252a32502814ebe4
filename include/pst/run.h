/* run.h — `pst train`: the whole training job from a resolved config (data, model,
 * trainer loop, progress line, metrics.jsonl, dev evaluation, final tensors). */
#ifndef PST_RUN_H
#define PST_RUN_H

#include "pst/config.h"
#include "pst/data.h"
#include "pst/model.h"

/* Run training; returns PST_OK, or an error (the run dir keeps what was written). */
pst_err pst_train_run(const pst_config *cfg);

typedef struct {
  long examples;
  double loss;       /* mean loss (per example; per token for lm) */
  double accuracy;   /* classify only, else -1 */
} pst_eval_result;

/* Evaluate the model (created for batch B x T) on a data set, without gradients. */
pst_err pst_evaluate(pst_model *m, const pst_dataset *d, pst_task task, int B, int T, int num_labels,
                     pst_eval_result *res);

#endif
