/* shapes.h — the model shapes the benchmarks name (bench_step, bench_infer): dimensions of
 * bert-base, bert-tiny, gpt2-small and SmolLM2-135M (LLaMA, grouped-query attention, tied head)
 * set into cfg (arch, task, sizes); the weights are random. Returns 0, or 2 after a message
 * for an unknown name. */
#ifndef PST_BENCH_SHAPES_H
#define PST_BENCH_SHAPES_H

#include <stdio.h>
#include <string.h>

#include "pst/config.h"

static inline int bench_shape(pst_config *cfg, const char *shape) {
  const int llama = !strcmp(shape, "smollm2"), gpt2 = !strncmp(shape, "gpt2", 4);
  if (llama) {
    cfg->hidden = 576, cfg->layers = 30, cfg->heads = 9, cfg->kv_heads = 3, cfg->ffn = 1536, cfg->vocab = 49152;
    cfg->max_positions = 8192, cfg->rope_theta = 100000, cfg->ln_eps = 1e-5;
  } else if (!strcmp(shape, "bert-base") || !strcmp(shape, "gpt2-small")) {
    cfg->hidden = 768, cfg->layers = 12, cfg->heads = 12, cfg->ffn = 3072;
    cfg->vocab = gpt2 ? 50257 : 30522, cfg->max_positions = gpt2 ? 1024 : 512;
  } else if (!strcmp(shape, "bert-tiny")) {
    cfg->hidden = 64, cfg->layers = 2, cfg->heads = 4, cfg->ffn = 128, cfg->vocab = 1000, cfg->max_positions = 512;
  } else {
    fprintf(stderr, "unknown shape %s (bert-base, bert-tiny, gpt2-small, smollm2)\n", shape);
    return 2;
  }
  snprintf(cfg->arch, sizeof cfg->arch, "%s", llama ? "llama" : gpt2 ? "gpt2" : "bert");
  snprintf(cfg->task, sizeof cfg->task, "%s", llama || gpt2 ? "lm" : "classify");
  return 0;
}

#endif
