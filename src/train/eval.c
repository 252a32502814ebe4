/* eval.c — dev-set evaluation: loss, predictions and the task's metrics (run.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pst/dist.h"
#include "pst/metrics.h"
#include "pst/run.h"

/* Metrics from predictions (see run.h). pred/gold: class ids; pf/gf: regression values. */
static pst_err score(pst_eval_result *res, pst_task task, int glue_task, int num_labels, long n, const int *pred,
                     const int *gold, const double *pf, const double *gf) {
  if (task == PST_TASK_LM) {
    res->nmetrics = 1;
    res->metric_name[0] = "perplexity";
    res->metric[0] = exp(res->loss);
    res->main_name = "neg_loss";
    res->main = -res->loss;
    return PST_OK;
  }
  if (glue_task >= 0) {
    pst_glue_scores g;
    PST_CHECK(pst_glue_score(&g, (pst_glue_task)glue_task, n, pred, gold, pf, gf));
    res->nmetrics = g.n;
    for (int i = 0; i < g.n; i++) res->metric_name[i] = g.name[i], res->metric[i] = g.value[i];
    res->main_name = g.main_name;
    res->main = g.main;
    return PST_OK;
  }
  if (task == PST_TASK_REGRESS) {
    res->nmetrics = 2;
    res->metric_name[0] = "pearson";
    res->metric_name[1] = "spearmanr";
    PST_CHECK(pst_metric_pearson(&res->metric[0], pf, gf, n));
    PST_CHECK(pst_metric_spearman(&res->metric[1], pf, gf, n));
    res->main_name = "combined_score";
    res->main = 0.5 * (res->metric[0] + res->metric[1]);
    return PST_OK;
  }
  res->nmetrics = num_labels == 2 ? 2 : 1;
  res->metric_name[0] = "accuracy";
  PST_CHECK(pst_metric_accuracy(&res->metric[0], pred, gold, n));
  if (num_labels == 2) {
    res->metric_name[1] = "f1";
    PST_CHECK(pst_metric_f1(&res->metric[1], pred, gold, n));
  }
  res->main_name = "accuracy";
  res->main = res->metric[0];
  return PST_OK;
}

pst_err pst_evaluate(pst_model *m, const pst_dataset *d, pst_task task, int B, int T, int pad_longest, int num_labels,
                     int glue_task, pst_dist *dist, pst_eval_result *res) {
  memset(res, 0, sizeof *res);
  pst_batch b;
  PST_CHECK(pst_batch_alloc(&b, B, T, task));
  /* masked linears below the crossover run on the sparse kernels (eval.sparse) */
  pst_err rc = pst_model_fold_weights(m, B * T, 0);
  if (rc) {
    pst_batch_free(&b);
    PST_CHECK(rc);
  }
  long *order = malloc((size_t)d->n * sizeof(long));
  int *pred = calloc((size_t)d->n, sizeof(int)), *gold = calloc((size_t)d->n, sizeof(int));
  double *pf = calloc((size_t)d->n, sizeof(double)), *gf = calloc((size_t)d->n, sizeof(double));
  if (!order || !pred || !gold || !pf || !gf) {
    pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory for evaluation");
    rc = PST_ERR_MEM;
  }
  for (long i = 0; !rc && i < d->n; i++) order[i] = i;
  double loss_sum = 0, weight_sum = 0;
  /* dp rank r evaluates examples [lo, hi) (its tp group together); the per-example results
   * are summed over dp afterwards (each rank filled only its own range) */
  const int dp = dist ? dist->dp : 1, r0 = dist ? dist->dp_rank : 0;
  const long lo = d->n * r0 / dp, hi = d->n * (r0 + 1) / dp;
  for (long first = lo; !rc && first < hi; first += B) {
    long real = hi - first < B ? hi - first : B;
    pst_batch_fill(&b, d, order, hi, first, pad_longest ? pst_batch_longest(d, order, hi, first, B, T) : T, task);
    double loss;
    if ((rc = pst_model_forward(m, &b, &loss))) break;
    long nlog;
    const float *logits = pst_model_logits(m, &nlog);
    if (task == PST_TASK_LM) { /* token cross-entropy without label smoothing: perplexity */
      const long V = nlog / ((long)B * b.T);
      for (long k = 0; k < real * b.T; k++) {
        if (b.loss_mask[k] == 0) continue;
        const float *z = logits + k * V;
        double mx = z[0], se = 0;
        for (long j = 1; j < V; j++) mx = z[j] > mx ? z[j] : mx;
        for (long j = 0; j < V; j++) se += exp(z[j] - mx);
        loss_sum += log(se) + mx - z[b.targets[k]];
        weight_sum += 1;
      }
      continue;
    }
    for (long r = 0; r < real; r++) { /* per-example loss from the logits (padding rows excluded) */
      const float *z = logits + r * num_labels;
      if (task == PST_TASK_REGRESS) {
        double e = z[0] - b.labels_f[r];
        loss_sum += e * e;
        pf[first + r] = z[0];
        gf[first + r] = b.labels_f[r];
      } else {
        int best = 0;
        double mx = z[0], se = 0;
        for (int j = 1; j < num_labels; j++)
          if (z[j] > mx) mx = z[best = j];
        for (int j = 0; j < num_labels; j++) se += exp(z[j] - mx);
        loss_sum += log(se) + mx - z[b.labels[r]];
        pred[first + r] = best;
        gold[first + r] = b.labels[r];
      }
      weight_sum += 1;
    }
  }
  if (!rc && dp > 1) {
    double sums[2] = {loss_sum, weight_sum};
    rc = pst_dist_dp_sum_f64(dist, sums, 2, PST_PHASE_OTHER);
    if (!rc) rc = pst_dist_dp_sum_f64(dist, pf, d->n, PST_PHASE_OTHER);
    if (!rc) rc = pst_dist_dp_sum_f64(dist, gf, d->n, PST_PHASE_OTHER);
    if (!rc) rc = pst_dist_dp_sum_i32(dist, pred, d->n);
    if (!rc) rc = pst_dist_dp_sum_i32(dist, gold, d->n);
    loss_sum = sums[0];
    weight_sum = sums[1];
  }
  if (!rc) {
    res->examples = d->n;
    res->loss = weight_sum > 0 ? loss_sum / weight_sum : 0;
    rc = score(res, task, glue_task, num_labels, d->n, pred, gold, pf, gf);
  }
  pst_model_unfold_weights(m);
  free(order);
  free(pred);
  free(gold);
  free(pf);
  free(gf);
  pst_batch_free(&b);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
