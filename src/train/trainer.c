/* trainer.c — one optimizer step: micro-batches, clip, AdamW, sparsity schedule, masks. */
#include <string.h>

#include "pst/train.h"

pst_err pst_trainer_init(pst_trainer *tr, const pst_config *cfg, pst_model *model, long total_steps) {
  memset(tr, 0, sizeof *tr);
  tr->cfg = *cfg;
  tr->model = model;
  tr->total_steps = total_steps;
  tr->sched = (pst_schedule){cfg->sparsity_init, cfg->sparsity_final, cfg->warmup_frac, cfg->cooldown_frac};
  PST_CHECK(pst_adamw_init(&tr->opt, pst_model_trainables(model)->total));
  tr->sparsity = pst_schedule_at(&tr->sched, 0, total_steps);
  PST_CHECK(pst_model_update_masks(model, tr->sparsity));
  return PST_OK;
}

void pst_trainer_free(pst_trainer *tr) { pst_adamw_free(&tr->opt); }

pst_err pst_trainer_step(pst_trainer *tr, const pst_batch *micro, int nmicro, double *loss) {
  pst_params *p = pst_model_trainables(tr->model);
  memset(p->grad, 0, p->total * sizeof(float));
  double sum = 0;
  for (int i = 0; i < nmicro; i++) {
    double l;
    PST_CHECK(pst_model_forward(tr->model, &micro[i], &l));
    PST_CHECK(pst_model_backward(tr->model, &micro[i], 1.0f / (float)nmicro));
    sum += l;
  }
  *loss = sum / nmicro;
  tr->grad_norm = pst_clip_grad_norm(p, tr->cfg.max_grad_norm);
  if (tr->grad_norm != tr->grad_norm)
    PST_ERR(PST_ERR_NUMERIC, "step %ld: the gradient norm is NaN (lower optim.lr?)", tr->step);
  tr->lr = pst_lr_at(tr->cfg.lr, tr->cfg.warmup_steps, tr->step, tr->total_steps);
  pst_adamw_step(&tr->opt, p, tr->lr, &tr->cfg);
  tr->step++;
  tr->sparsity = pst_schedule_at(&tr->sched, tr->step, tr->total_steps);
  PST_CHECK(pst_model_update_masks(tr->model, tr->sparsity));
  return PST_OK;
}
