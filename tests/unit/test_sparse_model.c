/* test_sparse_model.c — the sparse inference path of whole models (src/model/fold.c) against
 * the dense masked path, for BERT, GPT-2 and LLaMA (grouped-query attention, untied head)
 * shapes at 90 % sparsity with random frozen weights, random biases (LLaMA with q, k, v and MLP
 * biases) and random trainables (so that W' = W0 + U V differs from W0 and the mask is PST's,
 * not |W0|'s):
 *  - logits of a padded batch: max |sparse - dense| <= 1e-5 max |dense| (observed ~1e-7);
 *  - every masked linear went sparse under eval.sparse = on and auto (90 %: below every
 *    crossover), none under off; off gives bit-identical logits (the training path);
 *  - the model is back on the training path after unfold (same logits, bit for bit);
 *  - greedy generation (GPT-2, LLaMA; batch 3, prompts of unequal length, 12 new tokens) gives
 *    the same tokens with the sparse kernels as without, and scores equal to 1e-5 relative.
 * Sensitivity: dropping the bias in spmm_forward's batched path, or an off-by-one column,
 * fails the logits check by orders of magnitude. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/batch.h"
#include "pst/config.h"
#include "pst/data.h"
#include "pst/generate.h"
#include "pst/model.h"

enum { B = 3, T = 16 };

static uint64_t rng_state = 11;
static double urand(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return (double)((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
}

static pst_model *make_model(const char *arch, const char *sparse) {
  pst_config cfg;
  pst_config_defaults(&cfg);
  snprintf(cfg.arch, sizeof cfg.arch, "%s", arch);
  snprintf(cfg.eval_sparse, sizeof cfg.eval_sparse, "%s", sparse);
  cfg.hidden = 64;
  cfg.heads = 4;
  cfg.ffn = 160;
  cfg.vocab = 300;
  cfg.layers = 2;
  cfg.max_positions = 64;
  cfg.seq_len = T;
  if (!strcmp(arch, "llama")) cfg.kv_heads = 2, cfg.tie_embeddings = 0, cfg.qkv_bias = cfg.mlp_bias = 1;
  snprintf(cfg.task, sizeof cfg.task, "%s", strcmp(arch, "bert") ? "lm" : "classify");
  snprintf(cfg.activation, sizeof cfg.activation, "auto");
  if (pst_config_finalize(&cfg)) pst_err_print(stderr, 1), fail();
  pst_model *m;
  assert_int_equal(pst_model_create(&m, &cfg, B, T, NULL), 0);
  pst_model_init_random(m, 5);
  pst_params *tr = pst_model_trainables(m), *fz = pst_model_frozen(m);
  rng_state = 99; /* the same trainables and biases for every model of the test */
  for (size_t k = 0; k < tr->total; k++) tr->data[k] = (float)(0.05 * (2 * urand() - 1));
  for (int i = 0; i < fz->n; i++) { /* biases (0 after init_random) */
    const size_t len = strlen(fz->t[i].name);
    if (len > 2 && !strcmp(fz->t[i].name + len - 2, ".b") && !strncmp(fz->t[i].name, "blk.", 4))
      for (size_t k = 0; k < fz->t[i].numel; k++) fz->data[fz->t[i].offset + k] = (float)(0.1 * (2 * urand() - 1));
  }
  assert_int_equal(pst_model_update_masks(m, 0.9), 0);
  return m;
}

static void fill_batch(pst_batch *b, int V, int lm) {
  rng_state = 3;
  for (int r = 0; r < B; r++)
    for (int t = 0; t < T; t++) {
      const int k = r * T + t, real = t < T - 4 * r; /* row r has 4 r padding tokens */
      b->input_ids[k] = real ? (int32_t)(urand() * V) : 0;
      b->attn_mask[k] = (uint8_t)real;
      if (b->token_type_ids) b->token_type_ids[k] = t >= 6;
      if (lm) b->targets[k] = (int32_t)(urand() * V), b->loss_mask[k] = (float)real;
    }
  if (!lm)
    for (int r = 0; r < B; r++) b->labels[r] = r % 2;
}

static float *logits_copy(pst_model *m, long *n) {
  const float *z = pst_model_logits(m, n);
  float *c = malloc((size_t)*n * sizeof(float));
  memcpy(c, z, (size_t)*n * sizeof(float));
  return c;
}

static void check_arch(const char *arch) {
  const int lm = strcmp(arch, "bert") != 0;
  static const char *const modes[] = {"off", "on", "auto"};
  pst_batch b;
  assert_int_equal(pst_batch_alloc(&b, B, T, lm ? PST_TASK_LM : PST_TASK_CLASSIFY), 0);
  float *ref = NULL;
  long nref = 0;
  for (int mi = 0; mi < 3; mi++) {
    pst_model *m = make_model(arch, modes[mi]);
    fill_batch(&b, pst_model_vocab(m), lm);
    double loss;
    assert_int_equal(pst_model_forward(m, &b, &loss), 0);
    long n;
    float *dense = logits_copy(m, &n);
    if (!ref) ref = dense, nref = n;
    else free(dense);
    assert_int_equal(n, nref);
    assert_int_equal(pst_model_fold_weights(m, B * T, 0), 0);
    long sp, all;
    pst_model_sparse_share(m, &sp, &all);
    assert_int_equal(sp, mi == 0 ? 0 : all);
    assert_int_equal(pst_model_forward(m, &b, &loss), 0);
    float *got = logits_copy(m, &n);
    double mx = 0, err = 0;
    for (long k = 0; k < n; k++) {
      mx = fabs(ref[k]) > mx ? fabs(ref[k]) : mx;
      const double e = fabs((double)got[k] - ref[k]);
      err = e > err || isnan(e) ? e : err;
    }
    printf("  %s eval.sparse=%s: %ld of %ld linears sparse, max |logit diff| %.3g of max |logit| %.3g\n", arch,
           modes[mi], sp, all, err, mx);
    assert_true(err <= 1e-5 * mx);
    if (mi == 0) assert_memory_equal(got, ref, (size_t)n * sizeof(float));
    pst_model_unfold_weights(m);
    free(got);
    assert_int_equal(pst_model_forward(m, &b, &loss), 0);
    got = logits_copy(m, &n);
    assert_memory_equal(got, ref, (size_t)n * sizeof(float)); /* back on the training path */
    free(got);
    pst_model_destroy(m);
  }
  free(ref);
  pst_batch_free(&b);
}

static void test_bert(void **state) { (void)state; check_arch("bert"); }
static void test_gpt2(void **state) { (void)state; check_arch("gpt2"); }
static void test_llama(void **state) { (void)state; check_arch("llama"); }

static void check_generate(const char *arch) {
  enum { NP = 3, NEW = 12 };
  int32_t p0[5] = {5, 17, 42, 7, 99}, p1[2] = {200, 3}, p2[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const int32_t *const prompts[NP] = {p0, p1, p2};
  const int lens[NP] = {5, 2, 8};
  pst_gen_out out[2][NP];
  for (int s = 0; s < 2; s++) {
    pst_model *m = make_model(arch, s ? "on" : "off");
    pst_config cfg;
    pst_config_defaults(&cfg);
    pst_gen_opts o;
    pst_gen_opts_from_config(&o, &cfg);
    o.max_new_tokens = NEW;
    o.batch = NP;
    assert_int_equal(pst_generate(m, prompts, lens, NP, &o, NULL, NULL, NULL, out[s]), 0);
    pst_model_destroy(m);
  }
  for (int i = 0; i < NP; i++) {
    assert_int_equal(out[0][i].n, NEW);
    assert_int_equal(out[1][i].n, out[0][i].n);
    assert_memory_equal(out[1][i].ids, out[0][i].ids, (size_t)out[0][i].n * sizeof(int32_t));
    assert_true(fabs(out[1][i].score - out[0][i].score) <= 1e-5 * fabs(out[0][i].score));
  }
  printf("  %s: greedy generation identical (prompt 0: %d %d %d ...)\n", arch, out[0][0].ids[0], out[0][0].ids[1],
         out[0][0].ids[2]);
  pst_gen_out_free(out[0], NP);
  pst_gen_out_free(out[1], NP);
}

static void test_generate_gpt2(void **state) { (void)state; check_generate("gpt2"); }
static void test_generate_llama(void **state) { (void)state; check_generate("llama"); }

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bert),          cmocka_unit_test(test_gpt2),          cmocka_unit_test(test_llama),
      cmocka_unit_test(test_generate_gpt2), cmocka_unit_test(test_generate_llama),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
