/* bench_infer.c — inference on the sparse kernels against pst's dense paths, whole models.
 *
 *   bench_infer --shape bert-base --mode encode [--batch 8] [--seq 128] [--sparsity 0,0.5,0.7,0.9,0.95]
 *   bench_infer --shape gpt2-small|smollm2 --mode decode [--batch 1] [--prompt 16] [--new 32] [...]
 *              [--threads 2] [--rounds 3]
 * For each sparsity two models with the same random weights and masks (|W0| top-k after
 * pst_model_update_masks) are built: one with eval.sparse = off, one with auto. Timed, in
 * alternating rounds (median of --rounds):
 *   encode  pst_model_forward of a full batch x seq batch: "train path" (off, nothing folded:
 *           M ⊙ W' formed at every forward, what evaluation did before), "dense" (off, folded
 *           dense) and "sparse" (auto, folded: sparse where it pays);
 *   decode  after a prompt pass of batch x prompt tokens, --new single-token steps of batch
 *           sequences with the key/value cache (pst_model_infer), head included: "dense" (off)
 *           and "sparse" (auto); ms per step.
 * One JSON line per sparsity: times, speed-ups over dense, linears on sparse weights, peak RSS
 * of the process (both models: no per-model figure; see bench/RESULTS.md). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/blas.h"
#include "pst/data.h"
#include "pst/model.h"
#include "pst/rng.h"
#include "pst/train.h"
#include "shapes.h"

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#define DIE_ON(call)                                                                                                 \
  do {                                                                                                               \
    if (call) {                                                                                                      \
      pst_err_print(stderr, 1);                                                                                      \
      exit(1);                                                                                                       \
    }                                                                                                                \
  } while (0)

static pst_model *build(const pst_config *base, const char *sparse, double s, int B, int T) {
  pst_config cfg = *base;
  snprintf(cfg.eval_sparse, sizeof cfg.eval_sparse, "%s", sparse);
  pst_model *m;
  DIE_ON(pst_model_create(&m, &cfg, B, T, NULL));
  pst_model_init_random(m, 1);
  DIE_ON(pst_model_update_masks(m, s));
  return m;
}

/* seconds of one forward of batch b (what = 0: training path, 1: folded) */
static double time_encode(pst_model *m, const pst_batch *b, int fold) {
  double loss;
  if (fold) DIE_ON(pst_model_fold_weights(m, b->B * b->T, 1));
  const double t0 = pst_now();
  DIE_ON(pst_model_forward(m, b, &loss));
  const double dt = pst_now() - t0;
  if (fold) pst_model_unfold_weights(m);
  return dt;
}

/* seconds per decoding step of B sequences after a P-token prompt, K steps */
static double time_decode(pst_model *m, int B, int P, int K) {
  const int V = pst_model_vocab(m);
  int32_t *ids = malloc((size_t)B * P * sizeof(int32_t)), slot[256], pos[256], last[256];
  float *logits = malloc((size_t)B * V * sizeof(float));
  for (long i = 0; i < (long)B * P; i++) ids[i] = (int32_t)(pst_rng_u64(5, 0, (uint64_t)i) % (uint64_t)V);
  for (int b = 0; b < B; b++) slot[b] = b, pos[b] = 0, last[b] = P - 1;
  DIE_ON(pst_model_infer_begin(m, B, P + K, B * P));
  DIE_ON(pst_model_infer(m, B, P, ids, slot, pos, last, logits));
  for (int b = 0; b < B; b++) last[b] = 0;
  const double t0 = pst_now();
  for (int k = 0; k < K; k++) {
    for (int b = 0; b < B; b++) { /* greedy next token of each sequence */
      int best = 0;
      for (int j = 1; j < V; j++)
        if (logits[(size_t)b * V + j] > logits[(size_t)b * V + best]) best = j;
      ids[b] = best;
      pos[b] = P + k;
    }
    DIE_ON(pst_model_infer(m, B, 1, ids, slot, pos, last, logits));
  }
  const double dt = (pst_now() - t0) / K;
  DIE_ON(pst_model_infer_end(m));
  free(ids);
  free(logits);
  return dt;
}

int main(int argc, char **argv) {
  pst_blas_ensure_fast(argv);
  const char *shape = "bert-base", *mode = "encode", *slist = "0,0.5,0.7,0.9,0.95";
  int B = 0, T = 128, P = 16, K = 32, threads = 0, rounds = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--shape")) shape = v;
    else if (!strcmp(a, "--mode")) mode = v;
    else if (!strcmp(a, "--batch")) B = atoi(v);
    else if (!strcmp(a, "--seq")) T = atoi(v);
    else if (!strcmp(a, "--prompt")) P = atoi(v);
    else if (!strcmp(a, "--new")) K = atoi(v);
    else if (!strcmp(a, "--sparsity")) slist = v;
    else if (!strcmp(a, "--threads")) threads = atoi(v);
    else if (!strcmp(a, "--rounds")) rounds = atoi(v);
    else {
      fprintf(stderr, "bench_infer: unknown option %s\n", a);
      return 2;
    }
  }
  const int encode = !strcmp(mode, "encode");
  if (!encode && strcmp(mode, "decode")) {
    fprintf(stderr, "bench_infer: --mode encode or decode\n");
    return 2;
  }
  if (B <= 0) B = encode ? 8 : 1;
  if (B > 256 || rounds < 1 || rounds > 15 || P < 1 || K < 1) {
    fprintf(stderr, "bench_infer: batch 1..256, rounds 1..15, prompt and new >= 1\n");
    return 2;
  }
  pst_set_threads(threads);
  if (pst_blas_is_slow()) {
    fprintf(stderr, "bench_infer: refusing to benchmark on OpenBLAS's slow '%s' kernels\n", pst_blas_corename());
    return 1;
  }
  pst_config cfg;
  pst_config_defaults(&cfg);
  if (bench_shape(&cfg, shape)) return 2;
  if (encode != !strcmp(cfg.arch, "bert")) {
    fprintf(stderr, "bench_infer: encode needs a bert shape, decode a decoder shape\n");
    return 2;
  }
  cfg.seq_len = encode ? T : P + K, cfg.batch_size = B;
  DIE_ON(pst_config_finalize(&cfg));
  pst_batch b;
  pst_task task;
  pst_task_parse(&task, cfg.task);
  DIE_ON(pst_batch_alloc(&b, B, encode ? T : 1, task));
  if (encode) {
    for (long i = 0; i < (long)B * T; i++) {
      b.input_ids[i] = (int32_t)(pst_rng_u64(3, 0, (uint64_t)i) % (uint64_t)cfg.vocab);
      b.attn_mask[i] = 1;
    }
    for (int r = 0; r < B; r++) b.labels[r] = r % 2;
  }
  for (const char *p = slist; *p;) {
    char *end;
    const double s = strtod(p, &end);
    if (end == p) break;
    p = *end ? end + 1 : end;
    pst_model *md = build(&cfg, "off", s, B, encode ? T : P + K), *ms = build(&cfg, "auto", s, B, encode ? T : P + K);
    double tt[15], td[15], ts[15];
    for (int r = 0; r < rounds; r++) {
      if (encode) {
        tt[r] = time_encode(md, &b, 0);
        td[r] = time_encode(md, &b, 1);
        ts[r] = time_encode(ms, &b, 1);
      } else {
        td[r] = time_decode(md, B, P, K);
        ts[r] = time_decode(ms, B, P, K);
      }
    }
    qsort(tt, encode ? (size_t)rounds : 0, sizeof(double), cmp_double);
    qsort(td, (size_t)rounds, sizeof(double), cmp_double);
    qsort(ts, (size_t)rounds, sizeof(double), cmp_double);
    long nsp, nl;
    DIE_ON(pst_model_fold_weights(ms, encode ? B * T : B, 0));
    pst_model_sparse_share(ms, &nsp, &nl);
    pst_model_unfold_weights(ms);
    printf("{\"shape\":\"%s\",\"mode\":\"%s\",\"batch\":%d,\"%s\":%d,\"sparsity\":%.2f,", shape, mode, B,
           encode ? "seq" : "prompt", encode ? T : P, s);
    if (encode) printf("\"train_path_ms\":%.1f,", 1e3 * tt[rounds / 2]);
    printf("\"dense_ms\":%.2f,\"sparse_ms\":%.2f,\"speedup\":%.2f,\"sparse_linears\":\"%ld/%ld\",\"threads\":%d,"
           "\"peak_rss_mb\":%.0f,\"blas\":\"%s\"}\n",
           1e3 * td[rounds / 2], 1e3 * ts[rounds / 2], td[rounds / 2] / ts[rounds / 2], nsp, nl, omp_get_max_threads(),
           pst_peak_rss() / 1048576.0, pst_blas_corename());
    fflush(stdout);
    pst_model_destroy(md);
    pst_model_destroy(ms);
  }
  pst_batch_free(&b);
  return 0;
}
