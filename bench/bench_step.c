/* bench_step.c — time pst's training step for a named shape, or its top-k mask selection.
 *
 *   bench_step --shape bert-base|bert-tiny|gpt2-small|smollm2 [--method pst] [--batch 8] [--seq 128]
 *              [--steps 3] [--threads 2]
 *   bench_step --topk 768x3072 [--reps 20]
 * Prints one JSON line (ms_per_step, tokens_per_s, peak_rss_mb, blas kernels). The model has
 * random frozen weights and a random full-length batch; sparsity 0.5 as in bench/ref_step.py.
 * One warm-up step is not timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/blas.h"
#include "pst/data.h"
#include "pst/rng.h"
#include "pst/sparsity.h"
#include "pst/train.h"
#include "shapes.h"

static int cmp_desc(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x < y) - (x > y);
}

static int bench_topk(int m, int n, int reps) {
  long numel = (long)m * n;
  float *s = malloc((size_t)numel * sizeof(float)), *c = malloc((size_t)numel * sizeof(float));
  uint8_t *mask = malloc((size_t)numel);
  pst_rng_normal(s, (size_t)numel, 0.f, 1.f, 7, 1);
  double t0 = pst_now();
  for (int r = 0; r < reps; r++)
    if (pst_topk_mask(mask, s, numel, numel / 2)) { pst_err_print(stderr, 1); return 1; }
  double radix = (pst_now() - t0) / reps;
  t0 = pst_now();
  int sreps = reps < 3 ? reps : 3;
  for (int r = 0; r < sreps; r++) {
    memcpy(c, s, (size_t)numel * sizeof(float));
    qsort(c, (size_t)numel, sizeof(float), cmp_desc);
  }
  double sort = (pst_now() - t0) / sreps;
  printf("{\"bench\":\"topk\",\"shape\":\"%dx%d\",\"radix_ms\":%.3f,\"qsort_ms\":%.3f,\"speedup\":%.1f,\"blas\":\"%s\"}\n",
         m, n, radix * 1e3, sort * 1e3, sort / radix, pst_blas_corename());
  free(s);
  free(c);
  free(mask);
  return 0;
}

int main(int argc, char **argv) {
  pst_blas_ensure_fast(argv);
  const char *shape = "bert-base", *method = "pst", *topk = NULL;
  int batch = 8, seq = 128, steps = 3, threads = 0, reps = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--shape")) shape = argv[i + 1];
    else if (!strcmp(argv[i], "--method")) method = argv[i + 1];
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seq")) seq = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--topk")) topk = argv[i + 1];
    else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    else { fprintf(stderr, "bench_step: unknown option %s\n", argv[i]); return 2; }
  }
  pst_set_threads(threads);
  if (pst_blas_is_slow()) {
    fprintf(stderr, "bench_step: refusing to benchmark on OpenBLAS's slow '%s' kernels\n", pst_blas_corename());
    return 1;
  }
  if (topk) {
    int m, n;
    if (sscanf(topk, "%dx%d", &m, &n) != 2) { fprintf(stderr, "--topk MxN\n"); return 2; }
    return bench_topk(m, n, reps);
  }
  pst_config cfg;
  pst_config_defaults(&cfg);
  if (bench_shape(&cfg, shape)) return 2;
  const int lm = strcmp(cfg.arch, "bert") != 0;
  snprintf(cfg.method, sizeof cfg.method, "%s", method);
  cfg.seq_len = seq, cfg.batch_size = batch;
  cfg.sparsity_init = cfg.sparsity_final = 0.5;
  cfg.lr = 1e-4;
  if (pst_config_finalize(&cfg)) { pst_err_print(stderr, 1); return 1; }
  pst_model *m;
  if (pst_model_create(&m, &cfg, batch, seq, NULL)) { pst_err_print(stderr, 1); return 1; }
  pst_model_init_random(m, 1);
  pst_task task;
  pst_task_parse(&task, cfg.task);
  pst_batch b;
  pst_batch_alloc(&b, batch, seq, task);
  for (long i = 0; i < (long)batch * seq; i++) {
    b.input_ids[i] = (int32_t)(pst_rng_u64(3, 0, (uint64_t)i) % (uint64_t)cfg.vocab);
    b.attn_mask[i] = 1;
    if (lm) b.targets[i] = (int32_t)(pst_rng_u64(3, 1, (uint64_t)i) % (uint64_t)cfg.vocab), b.loss_mask[i] = 1;
  }
  if (!lm) for (int r = 0; r < batch; r++) b.labels[r] = r % 2;
  pst_trainer tr;
  if (pst_trainer_init(&tr, &cfg, m, 1000, NULL)) { pst_err_print(stderr, 1); return 1; }
  double loss;
  if (pst_trainer_step(&tr, &b, 1, &loss)) { pst_err_print(stderr, 1); return 1; } /* warm-up */
  double t0 = pst_now();
  for (int s = 0; s < steps; s++)
    if (pst_trainer_step(&tr, &b, 1, &loss)) { pst_err_print(stderr, 1); return 1; }
  double dt = (pst_now() - t0) / steps;
  printf("{\"impl\":\"pst\",\"shape\":\"%s\",\"method\":\"%s\",\"batch\":%d,\"seq\":%d,\"ms_per_step\":%.1f,"
         "\"tokens_per_s\":%.0f,\"peak_rss_mb\":%.0f,\"blas\":\"%s\",\"loss\":%.4f}\n",
         shape, method, batch, seq, dt * 1e3, batch * seq / dt, pst_peak_rss() / 1048576.0, pst_blas_corename(), loss);
  pst_trainer_free(&tr);
  pst_batch_free(&b);
  pst_model_destroy(m);
  return 0;
}
