/* train.h — optimizer, LR schedule, gradient clipping and the optimizer step.
 *
 * One trainer step = zero grads, forward+backward over grad_accum micro-batches (loss
 * scaled 1/accum), global-norm clip, AdamW at lr(t), then the sparsity schedule advances
 * and every mask is recomputed for s(t+1). The first forward uses s(0). */
#ifndef PST_TRAIN_H
#define PST_TRAIN_H

#include "pst/batch.h"
#include "pst/config.h"
#include "pst/model.h"
#include "pst/sparsity.h"

typedef struct {
  float *m, *v;      /* Adam moments, same layout as the trainable buffer */
  long t;            /* optimizer steps taken */
} pst_adamw;

pst_err pst_adamw_init(pst_adamw *opt, size_t total);
void pst_adamw_free(pst_adamw *opt);
/* One AdamW step (torch.optim.AdamW semantics, decoupled decay on tensors with decay=1). */
void pst_adamw_step(pst_adamw *opt, pst_params *p, double lr, const pst_config *cfg);

/* Linear warm-up then linear decay to 0 at T (HF get_linear_schedule_with_warmup). */
double pst_lr_at(double base_lr, long warmup, long t, long T);
/* The warm-up steps of a run of T steps: optim.warmup_steps, or when it is 0
 * ceil(optim.warmup_ratio * T) (Hugging Face's TrainingArguments.get_warmup_steps). */
long pst_warmup_steps(const pst_config *cfg, long T);
/* Global L2 norm of the gradients; if max_norm > 0 scale them by min(1, max/(norm+1e-6)). */
double pst_clip_grad_norm(pst_params *p, double max_norm);
/* The same in two parts for tensor parallelism: squared norms of the tensors sharded over
 * tp (ss[1]) and of the replicated ones (ss[0]); then the clip for a known norm. */
void pst_grad_sumsq(const pst_params *p, double ss[2]);
double pst_clip_grad_to(pst_params *p, double norm, double max_norm);

typedef struct {
  pst_config cfg;
  pst_model *model;
  struct pst_dist *dist;  /* NULL: one process */
  float *tp_pack;    /* packed partial gradients of the tp-replicated factors */
  long tp_pack_n;
  pst_adamw opt;
  pst_schedule sched;
  long step, total_steps;
  double sparsity;   /* sparsity of the current masks */
  double lr;         /* lr of the last step */
  double grad_norm;  /* pre-clip norm of the last step */
} pst_trainer;

/* Takes the model and the process grid (neither owned; dist NULL = one process); computes
 * the masks for s(0). With dist, every rank calls the trainer in step: micro-batches are
 * this dp rank's slices, gradients are summed over tp (partial factor gradients) and dp. */
pst_err pst_trainer_init(pst_trainer *tr, const pst_config *cfg, pst_model *model, long total_steps,
                         struct pst_dist *dist);
void pst_trainer_free(pst_trainer *tr);
/* One optimizer step over nmicro micro-batches; *loss = their mean loss (each micro-batch's
 * loss is the global one: its dp slices weighted by their loss weights). */
pst_err pst_trainer_step(pst_trainer *tr, const pst_batch *micro, int nmicro, double *loss);

#endif
