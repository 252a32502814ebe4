/* device_model.h — the whole training step on the CUDA device (issue 7): parameters, masks,
 * activations, gradients and the AdamW moments stay on the device for the whole step; only a
 * micro-batch goes up (one copy), a few doubles come down (losses, the squared gradient norm)
 * and, with data parallelism, the packed trainable gradients cross to MPI and back.
 *
 * A pst_dmodel is made from a CPU pst_model after loading / initialising it (same config, same
 * tensors): its frozen and trainable buffers are uploaded as one contiguous device buffer each,
 * in the pst_params layout (offsets of pst_model_frozen / pst_model_trainables), the masks as
 * one byte buffer in the CPU model's layout, and the activations are allocated on the device
 * for the micro-batch shape B x T given here (the CPU model's own activation shape does not
 * matter: it can be created with B = T = 1).
 *
 * The passes mirror src/model/pass.c and block.c op for op (same order, same accumulations)
 * with the pst_cuda_* twins of the CPU ops, and the step mirrors src/train/trainer.c; results
 * match the CPU within float reduction order (cuBLAS vs OpenBLAS sums, ~1e-6 relative per
 * product), element-wise parts bit for bit (see cuda.h). TF32 is the context's choice.
 *
 * Limits: one process per tensor-parallel group (dist.tp = 1; dp > 1 is supported); top-k,
 * threshold and unmasked methods (every method of linear.h). Built only with
 * ./configure --with-cuda (libpstcuda.a). One host thread at a time. */
#ifndef PST_DEVICE_MODEL_H
#define PST_DEVICE_MODEL_H

#include "pst/batch.h"
#include "pst/config.h"
#include "pst/core.h"
#include "pst/cuda.h"
#include "pst/model.h"
#include "pst/sparsity.h"
#include "pst/train.h"

struct pst_dist;

typedef struct pst_dmodel pst_dmodel;

/* Trainer state of the device step (the fields of pst_trainer that are not tensors). */
typedef struct {
  long step, total_steps;  /* optimizer steps taken / planned */
  long adam_t;             /* AdamW step count (= step unless resumed differently) */
  double sparsity;         /* sparsity of the current masks */
  double lr;               /* lr of the last step */
  double grad_norm;        /* pre-clip norm of the last step */
} pst_dmodel_state;

/* Upload cpu's tensors and masks to the device of ctx (not owned; it must outlive the model)
 * and allocate activations for micro-batches of B x T. cpu is only read (it is not kept).
 * Errors: tensor parallelism (cpu built with a tp group of size > 1), T too long for the
 * positions, device memory (PST_ERR_MEM naming the buffer). */
pst_err pst_dmodel_create(pst_dmodel **out, const pst_model *cpu, pst_cuda_ctx *ctx, int B, int T);
void pst_dmodel_destroy(pst_dmodel *dm);
/* Bytes of device memory held by the model's own buffers (tensors, moments, masks,
 * activations, scratch; not the context's workspace or cuBLAS). */
size_t pst_dmodel_device_bytes(const pst_dmodel *dm);

/* Upload cpu's trainable values and masks again (e.g. after reading a checkpoint into it). */
pst_err pst_dmodel_upload(pst_dmodel *dm, const pst_model *cpu);
/* Upload cpu's masks only (e.g. masks taken from elsewhere; tests re-align near-tie flips). */
pst_err pst_dmodel_upload_masks(pst_dmodel *dm, const pst_model *cpu);
/* Download the trainable values and the masks into cpu (for checkpoints, export, eval). */
pst_err pst_dmodel_download(pst_dmodel *dm, pst_model *cpu);
/* Importance scores of sparsified layer i (pst_model_linear_* numbering) into out [rows*cols]
 * (the trainable S for movement); PST_ERR_ARG for a method without scores. */
pst_err pst_dmodel_download_scores(pst_dmodel *dm, int i, float *out);
/* Download the trainable gradients of the last backward ([pst_model_trainables(cpu)->total]). */
pst_err pst_dmodel_download_grads(pst_dmodel *dm, float *grad);
/* Logits of the last forward into out ([B, num_labels] or [B*T, vocab]); *n = count. out may
 * be NULL to ask for the count only. */
pst_err pst_dmodel_download_logits(pst_dmodel *dm, float *out, long *n);

/* Recompute every layer's mask for sparsity s on the device (pst_model_update_masks). */
pst_err pst_dmodel_update_masks(pst_dmodel *dm, double sparsity);
/* Forward pass of batch (host arrays, B x T of the model; ids range-checked on the host as
 * pass.c does; the batch is uploaded in one copy); *loss = mean loss (one read-back). */
pst_err pst_dmodel_forward(pst_dmodel *dm, const pst_batch *batch, double *loss);
/* Backward pass of the last forward (uses the uploaded batch); trainable gradients
 * accumulate scaled by dloss, as pst_model_backward. */
pst_err pst_dmodel_backward(pst_dmodel *dm, const pst_batch *batch, float dloss);

/* The trainer on the device (pst_trainer_init): AdamW moments zeroed, the sparsity schedule of
 * cfg, masks for s(0). dist (not owned) may be NULL; with dist, dist->tp must be 1. */
pst_err pst_dmodel_train_init(pst_dmodel *dm, const pst_config *cfg, long total_steps, struct pst_dist *dist);
/* One optimizer step over nmicro micro-batches (pst_trainer_step): zero gradients, forward
 * and backward of each micro-batch with dloss = share / nmicro, [dp sum of the gradients],
 * global-norm clip (sum of squares and scale on the device), AdamW on the device at
 * lr(step), schedule, masks for s(step + 1). *loss = mean loss. One read-back of nmicro + 1
 * doubles per step, plus the top-k's own waits. */
pst_err pst_dmodel_step(pst_dmodel *dm, const pst_batch *micro, int nmicro, double *loss);
const pst_dmodel_state *pst_dmodel_get_state(const pst_dmodel *dm);

/* Checkpoint bridge: copy the device trainer into a CPU pst_trainer made with pst_trainer_init
 * on the CPU model (trainables, masks, AdamW moments and t, step, sparsity, lr, grad norm), so
 * pst_ckpt_write(..., tr->model, &tr->opt, ...) writes what the device holds; and back, after
 * pst_ckpt_read into such a trainer (resume). */
pst_err pst_dmodel_download_trainer(pst_dmodel *dm, pst_trainer *tr);
pst_err pst_dmodel_upload_trainer(pst_dmodel *dm, const pst_trainer *tr);

#endif
