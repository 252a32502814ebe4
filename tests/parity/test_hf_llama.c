/* test_hf_llama.c — pst's Hugging Face loader on LLaMA-family directories written by
 * transformers (tests/reference/make_llama_fixtures.py: save_pretrained of LlamaForCausalLM /
 * Qwen2ForCausalLM, one file or shards with an index).
 *
 * usage: test_hf_llama CASE.ini HF_DIR
 * CASE.ini is the parity case whose CASE.init.safetensors holds the same weights under pst's
 * names. Checks: every model.* key that config.json sets equals the case's (heads, key/value
 * heads, rope theta and scaling, biases, head tying, ...), and every frozen tensor loaded from
 * HF_DIR equals the case's tensor bit for bit (names, transposes, tying, biases). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/config.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/safetensors.h"

static int failures;

#define DIE_ON(call) do { if (call) { pst_err_print(stderr, 1); return 2; } } while (0)
#define SAME_INT(f) do { if (a->f != b->f) { printf("FAIL config model.%s: %d from config.json, %d in the case\n", #f, \
                       a->f, b->f); failures++; } } while (0)
#define SAME_DBL(f) do { if (a->f != b->f) { printf("FAIL config model.%s: %.17g from config.json, %.17g in the case\n", \
                       #f, a->f, b->f); failures++; } } while (0)
#define SAME_STR(f) do { if (strcmp(a->f, b->f)) { printf("FAIL config model.%s: %s from config.json, %s in the case\n", \
                       #f, a->f, b->f); failures++; } } while (0)

static void compare_config(const pst_config *a, const pst_config *b) {
  SAME_STR(arch);
  SAME_INT(hidden);
  SAME_INT(layers);
  SAME_INT(heads);
  SAME_INT(kv_heads);
  SAME_INT(ffn);
  SAME_INT(vocab);
  SAME_INT(max_positions);
  SAME_DBL(ln_eps);
  SAME_STR(activation);
  SAME_DBL(rope_theta);
  SAME_STR(rope_scaling);
  if (strcmp(b->rope_scaling, "none")) SAME_DBL(rope_factor);
  if (!strcmp(b->rope_scaling, "llama3")) {
    SAME_DBL(rope_low_freq_factor);
    SAME_DBL(rope_high_freq_factor);
    SAME_INT(rope_original_max_positions);
  }
  SAME_INT(qkv_bias);
  SAME_INT(o_bias);
  SAME_INT(mlp_bias);
  SAME_INT(tie_embeddings);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s CASE.ini HF_DIR\n", argv[0]);
    return 2;
  }
  printf("== %s from %s\n", argv[1], argv[2]);
  pst_config want, cfg;
  pst_config_defaults(&want);
  DIE_ON(pst_config_load(&want, argv[1]));
  DIE_ON(pst_config_finalize(&want));
  cfg = want;
  DIE_ON(pst_hf_read_config(argv[2], &cfg, NULL));
  DIE_ON(pst_config_finalize(&cfg));
  compare_config(&cfg, &want);
  pst_model *m;
  DIE_ON(pst_model_create(&m, &cfg, 1, 4, NULL));
  pst_hf_report rep;
  DIE_ON(pst_hf_load_weights_report(argv[2], m, &rep));
  char path[1200];
  pst_config_path(&want, want.weights, path, sizeof path);
  pst_safetensors *st;
  DIE_ON(pst_st_open(&st, path));
  const pst_params *fz = pst_model_frozen(m);
  int compared = 0;
  for (int i = 0; i < fz->n; i++) {
    const pst_tensor_info *t = &fz->t[i];
    float *ref = malloc(t->numel * sizeof(float));
    if (!ref || pst_st_read_f32(st, t->name, ref, t->ndim, t->shape)) {
      printf("FAIL %s: not readable from %s\n", t->name, path);
      pst_err_clear();
      failures++;
      free(ref);
      continue;
    }
    long diff = 0;
    for (size_t j = 0; j < t->numel; j++) diff += memcmp(&ref[j], &(*t->bind)[j], sizeof(float)) != 0;
    if (diff) {
      printf("FAIL %s: %ld of %zu values differ from the case\n", t->name, diff, t->numel);
      failures++;
    }
    compared++;
    free(ref);
  }
  printf("%s: %d frozen tensors compared bit for bit, %d files read (%s), %d checkpoint tensors unused: %s\n", argv[2],
         compared, rep.nfiles, rep.model_type, rep.ignored, failures ? "FAILED" : "passed");
  pst_st_close(st);
  pst_model_destroy(m);
  return failures ? 1 : 0;
}
