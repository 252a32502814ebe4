/* bench_step_cuda.c — time pst's training step on the CUDA device (device_model.h).
 *
 *   bench_step_cuda [--shape bert-base|gpt2-small|bert-tiny] [--method pst] [--batch 32]
 *                   [--seq 128] [--steps 10] [--warmup 2] [--tf32 0|1] [--sparsity 0.5]
 * The model has random frozen weights (N(0, 0.02)) and a random full-length batch, sparsity
 * fixed (0.5 as bench_step.c and bench/ref_step.py); warm-up steps are not timed. Prints one
 * JSON line: ms_per_step, tokens_per_s, the split of a step into forward + backward and the
 * mask update (timed separately afterwards), the model's device buffers and the device memory
 * in use after the run beyond what the context held before the model was made (cudaMemGetInfo:
 * the high-water mark, as nothing is freed during steps), and the device name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/cuda.h"
#include "pst/cuda_model.h"
#include "pst/data.h"
#include "pst/device_model.h"
#include "pst/rng.h"
#include "pst/train.h"

#define DIE(call)                                                                   \
  do {                                                                              \
    if ((call) != PST_OK) {                                                         \
      fprintf(stderr, "bench_step_cuda: %s failed (line %d)\n", #call, __LINE__);   \
      pst_err_print(stderr, 1);                                                     \
      return 1;                                                                     \
    }                                                                               \
  } while (0)

static double mib(size_t b) { return (double)b / 1048576.0; }

int main(int argc, char **argv) {
  const char *shape = "bert-base", *method = "pst";
  int batch = 32, seq = 128, steps = 10, warmup = 2, tf32 = 0;
  double sparsity = 0.5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--shape")) shape = argv[i + 1];
    else if (!strcmp(argv[i], "--method")) method = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seq")) seq = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--warmup")) warmup = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--tf32")) tf32 = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--sparsity")) sparsity = atof(argv[i + 1]);
    else {
      fprintf(stderr, "bench_step_cuda: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if ((argc - 1) % 2) {
    fprintf(stderr, "bench_step_cuda: option %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  if (steps < 1 || batch < 1 || seq < 1) {
    fprintf(stderr, "bench_step_cuda: --steps, --batch and --seq must be >= 1\n");
    return 2;
  }
  char why[256];
  if (!pst_cuda_available(why, sizeof why)) {
    printf("{\"impl\":\"pst-cuda\",\"skipped\":\"%s\"}\n", why);
    return 77;
  }
  pst_config cfg;
  pst_config_defaults(&cfg);
  const int gpt2 = !strncmp(shape, "gpt2", 4);
  if (!strcmp(shape, "bert-base") || !strcmp(shape, "gpt2-small")) {
    cfg.hidden = 768, cfg.layers = 12, cfg.heads = 12, cfg.ffn = 3072;
    cfg.vocab = gpt2 ? 50257 : 30522, cfg.max_positions = gpt2 ? 1024 : 512;
  } else if (!strcmp(shape, "bert-tiny")) {
    cfg.hidden = 64, cfg.layers = 2, cfg.heads = 4, cfg.ffn = 128, cfg.vocab = 1000, cfg.max_positions = 512;
  } else {
    fprintf(stderr, "bench_step_cuda: unknown shape %s (bert-base, bert-tiny, gpt2-small)\n", shape);
    return 2;
  }
  strcpy(cfg.arch, gpt2 ? "gpt2" : "bert");
  strcpy(cfg.task, gpt2 ? "lm" : "classify");
  snprintf(cfg.method, sizeof cfg.method, "%s", method);
  cfg.seq_len = seq, cfg.batch_size = batch;
  cfg.sparsity_init = cfg.sparsity_final = sparsity;
  cfg.lr = 1e-4;
  DIE(pst_config_finalize(&cfg));

  pst_cuda_ctx *ctx;
  DIE(pst_cuda_create(&ctx, 0, tf32));
  size_t free0, total;
  DIE(pst_cuda_mem_info(ctx, &free0, &total));
  /* the CPU model only holds the initial tensors: its activations are 1 x 1 */
  pst_model *m;
  DIE(pst_model_create(&m, &cfg, 1, 1, NULL));
  pst_model_init_random(m, 1);
  double t0 = pst_now();
  pst_dmodel *dm;
  DIE(pst_dmodel_create(&dm, m, ctx, batch, seq));
  const double t_create = pst_now() - t0;

  pst_task task;
  DIE(pst_task_parse(&task, cfg.task));
  pst_batch b;
  DIE(pst_batch_alloc(&b, batch, seq, task));
  for (long i = 0; i < (long)batch * seq; i++) {
    b.input_ids[i] = (int32_t)(pst_rng_u64(3, 0, (uint64_t)i) % (uint64_t)cfg.vocab);
    b.attn_mask[i] = 1;
    if (gpt2) b.targets[i] = (int32_t)(pst_rng_u64(3, 1, (uint64_t)i) % (uint64_t)cfg.vocab), b.loss_mask[i] = 1;
  }
  if (!gpt2) for (int r = 0; r < batch; r++) b.labels[r] = r % 2;

  DIE(pst_dmodel_train_init(dm, &cfg, 1000, NULL));
  double loss = 0;
  for (int s = 0; s < warmup; s++) DIE(pst_dmodel_step(dm, &b, 1, &loss));
  DIE(pst_cuda_sync(ctx));
  t0 = pst_now();
  for (int s = 0; s < steps; s++) DIE(pst_dmodel_step(dm, &b, 1, &loss));
  DIE(pst_cuda_sync(ctx));
  const double dt = (pst_now() - t0) / steps;
  size_t free1;
  DIE(pst_cuda_mem_info(ctx, &free1, &total));

  /* the split: forward + backward (with the batch upload and the loss read-back), masks */
  const int reps = steps < 3 ? steps : 3;
  double lf;
  t0 = pst_now();
  for (int s = 0; s < reps; s++) {
    DIE(pst_dmodel_forward(dm, &b, &lf));
    DIE(pst_dmodel_backward(dm, &b, 1.0f));
  }
  DIE(pst_cuda_sync(ctx));
  const double t_fb = (pst_now() - t0) / reps;
  t0 = pst_now();
  for (int s = 0; s < reps; s++) DIE(pst_dmodel_update_masks(dm, sparsity));
  DIE(pst_cuda_sync(ctx));
  const double t_mask = (pst_now() - t0) / reps;

  printf("{\"impl\":\"pst-cuda\",\"shape\":\"%s\",\"method\":\"%s\",\"batch\":%d,\"seq\":%d,\"precision\":\"%s\","
         "\"ms_per_step\":%.2f,\"tokens_per_s\":%.0f,\"fwd_bwd_ms\":%.2f,\"masks_ms\":%.2f,\"steps\":%d,"
         "\"model_device_mb\":%.0f,\"device_used_mb\":%.0f,\"create_s\":%.2f,\"loss\":%.4f,\"device\":\"%s\"}\n",
         shape, method, batch, seq, tf32 ? "tf32" : "fp32", dt * 1e3, batch * seq / dt, t_fb * 1e3, t_mask * 1e3, steps,
         mib(pst_dmodel_device_bytes(dm)), mib(free0 > free1 ? free0 - free1 : 0), t_create, loss, pst_cuda_describe(ctx));
  fflush(stdout);
  pst_batch_free(&b);
  pst_dmodel_destroy(dm);
  pst_model_destroy(m);
  pst_cuda_destroy(ctx);
  return 0;
}
