/* trainer.c — one optimizer step: micro-batches, gradient reductions over the process grid,
 * clip, AdamW, sparsity schedule, masks.
 *
 * Data parallelism: micro-batch i of a step is one global batch split over the dp ranks.
 * Its loss is the weighted mean sum_r w_r l_r / W (w_r = this slice's loss weight: sequences,
 * or target tokens for LM; W = sum over dp), so each rank back-propagates with dloss
 * w_r / W / nmicro and the dp sum of the gradients is the single-process gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pst/dist.h"
#include "pst/train.h"

/* The loss weight of a micro-batch slice: target-token weights (lm) or its sequences. */
static double batch_weight(const pst_batch *b) {
  if (!b->loss_mask) return (double)b->B;
  double w = 0;
  for (long n = 0; n < (long)b->B * b->T; n++) w += b->loss_mask[n];
  return w;
}

pst_err pst_trainer_init(pst_trainer *tr, const pst_config *cfg, pst_model *model, long total_steps,
                         pst_dist *dist) {
  memset(tr, 0, sizeof *tr);
  tr->cfg = *cfg;
  tr->model = model;
  tr->dist = dist;
  tr->total_steps = total_steps;
  tr->sched = (pst_schedule){cfg->sparsity_init, cfg->sparsity_final, cfg->warmup_frac, cfg->cooldown_frac};
  const pst_params *p = pst_model_trainables(model);
  PST_CHECK(pst_adamw_init(&tr->opt, p->total));
  if (dist && dist->tp > 1) {
    for (int i = 0; i < p->n; i++)
      if (p->t[i].tp_partial_grad) tr->tp_pack_n += (long)p->t[i].numel;
    PST_CHECK(pst_calloc((void **)&tr->tp_pack, (size_t)tr->tp_pack_n, sizeof(float), "tp gradient pack"));
  }
  tr->sparsity = pst_schedule_at(&tr->sched, 0, total_steps);
  if (dist) pst_dist_phase(dist, PST_PHASE_TOPK);
  PST_CHECK(pst_model_update_masks(model, tr->sparsity));
  return PST_OK;
}

void pst_trainer_free(pst_trainer *tr) {
  pst_adamw_free(&tr->opt);
  pst_free(tr->tp_pack);
  tr->tp_pack = NULL;
}

/* Sum the partial gradients of the tp-replicated factors over the tp group (one packed call). */
static pst_err reduce_tp_partials(pst_trainer *tr, pst_params *p) {
  if (!tr->tp_pack) return PST_OK;
  long off = 0;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tp_partial_grad) {
      memcpy(tr->tp_pack + off, p->grad + p->t[i].offset, p->t[i].numel * sizeof(float));
      off += (long)p->t[i].numel;
    }
  pst_dist_phase(tr->dist, PST_PHASE_TP_GRAD);
  PST_CHECK(tr->dist->tp_group.sum_f32(tr->dist, tr->tp_pack, tr->tp_pack_n));
  off = 0;
  for (int i = 0; i < p->n; i++)
    if (p->t[i].tp_partial_grad) {
      memcpy(p->grad + p->t[i].offset, tr->tp_pack + off, p->t[i].numel * sizeof(float));
      off += (long)p->t[i].numel;
    }
  return PST_OK;
}

pst_err pst_trainer_step(pst_trainer *tr, const pst_batch *micro, int nmicro, double *loss) {
  pst_params *p = pst_model_trainables(tr->model);
  pst_dist *d = tr->dist;
  memset(p->grad, 0, p->total * sizeof(float));
  /* w[i]: this slice's weight of micro-batch i; w[nmicro + i]: the sum over dp */
  double w[2 * nmicro], lsum = 0;
  for (int i = 0; i < nmicro; i++) w[i] = w[nmicro + i] = batch_weight(&micro[i]);
  if (d) PST_CHECK(pst_dist_dp_sum_f64(d, w + nmicro, nmicro, PST_PHASE_OTHER));
  for (int i = 0; i < nmicro; i++) {
    if (w[nmicro + i] <= 0) PST_ERR(PST_ERR_ARG, "step %ld: micro-batch %d has no target with a loss weight", tr->step, i);
    if (w[i] <= 0) continue; /* nothing to learn from this slice (the whole tp group skips it) */
    const double share = w[i] / w[nmicro + i];
    double l;
    if (d) pst_dist_phase(d, PST_PHASE_TP_ACT);
    PST_CHECK(pst_model_forward(tr->model, &micro[i], &l));
    PST_CHECK(pst_model_backward(tr->model, &micro[i], (float)(share / nmicro)));
    lsum += l * share;
  }
  double norm;
  if (d) {
    PST_CHECK(reduce_tp_partials(tr, p));
    PST_CHECK(pst_dist_dp_sum_f32(d, p->grad, (long)p->total, PST_PHASE_DP_GRAD));
    PST_CHECK(pst_dist_dp_sum_f64(d, &lsum, 1, PST_PHASE_OTHER));
    double ss[2];
    pst_grad_sumsq(p, ss);
    PST_CHECK(pst_dist_tp_sum_f64(d, &ss[1], 1));
    norm = pst_clip_grad_to(p, sqrt(ss[0] + ss[1]), tr->cfg.max_grad_norm);
  } else {
    norm = pst_clip_grad_norm(p, tr->cfg.max_grad_norm);
  }
  *loss = lsum / nmicro;
  tr->grad_norm = norm;
  if (tr->grad_norm != tr->grad_norm)
    PST_ERR(PST_ERR_NUMERIC, "step %ld: the gradient norm is NaN (lower optim.lr?)", tr->step);
  tr->lr = pst_lr_at(tr->cfg.lr, pst_warmup_steps(&tr->cfg, tr->total_steps), tr->step, tr->total_steps);
  pst_adamw_step(&tr->opt, p, tr->lr, &tr->cfg);
  tr->step++;
  tr->sparsity = pst_schedule_at(&tr->sched, tr->step, tr->total_steps);
  if (d) pst_dist_phase(d, PST_PHASE_TOPK);
  PST_CHECK(pst_model_update_masks(tr->model, tr->sparsity));
  return PST_OK;
}
