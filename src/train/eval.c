/* eval.c — dev-set evaluation: mean loss and accuracy (classify), loss (regress, lm). */
#include <math.h>
#include <stdlib.h>

#include "pst/run.h"

pst_err pst_evaluate(pst_model *m, const pst_dataset *d, pst_task task, int B, int T, int num_labels,
                     pst_eval_result *res) {
  pst_batch b;
  PST_CHECK(pst_batch_alloc(&b, B, T, task));
  long *order = malloc((size_t)d->n * sizeof(long));
  if (!order) { pst_batch_free(&b); PST_ERR(PST_ERR_MEM, "out of memory for evaluation"); }
  for (long i = 0; i < d->n; i++) order[i] = i;
  double loss_sum = 0, weight_sum = 0;
  long correct = 0;
  pst_err rc = PST_OK;
  for (long first = 0; first < d->n; first += B) {
    long real = d->n - first < B ? d->n - first : B;
    pst_batch_fill(&b, d, order, d->n, first, task);
    double loss;
    if ((rc = pst_model_forward(m, &b, &loss))) break;
    long nlog;
    const float *logits = pst_model_logits(m, &nlog);
    if (task == PST_TASK_LM) {
      double w = 0;
      for (long n = 0; n < (long)B * T; n++) w += b.loss_mask[n];
      loss_sum += loss * w;
      weight_sum += w;
      continue;
    }
    for (long r = 0; r < real; r++) { /* per-example loss from the logits (padding rows excluded) */
      const float *z = logits + r * num_labels;
      if (task == PST_TASK_REGRESS) {
        double e = z[0] - b.labels_f[r];
        loss_sum += e * e;
      } else {
        int best = 0;
        double mx = z[0], se = 0;
        for (int j = 1; j < num_labels; j++)
          if (z[j] > mx) mx = z[best = j];
        for (int j = 0; j < num_labels; j++) se += exp(z[j] - mx);
        loss_sum += log(se) + mx - z[b.labels[r]];
        correct += best == b.labels[r];
      }
      weight_sum += 1;
    }
  }
  free(order);
  pst_batch_free(&b);
  if (rc) { pst_err_trace(__FILE__, __LINE__, __func__); return rc; }
  res->examples = d->n;
  res->loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
  res->accuracy = task == PST_TASK_CLASSIFY ? (double)correct / (double)d->n : -1;
  return PST_OK;
}
