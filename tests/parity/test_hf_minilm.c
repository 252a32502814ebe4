/* test_hf_minilm.c — pst on real pretrained weights: sentence-transformers/all-MiniLM-L6-v2
 * loaded through the Hugging Face loader (hfmodel.h) must reproduce the PyTorch reference's
 * last hidden states (tests/reference/make_hf_fixtures.py) on the real tokens of 4 sentences.
 *
 * usage: test_hf_minilm [MODEL_DIR [FIXTURE]]
 *   MODEL_DIR  default $top_srcdir/models/all-MiniLM-L6-v2 (scripts/get-model installs it)
 *   FIXTURE    default $top_builddir/tests/parity/hf_minilm.safetensors
 * Runs the forward with pst.method = dense and lora (no masks: W' = W0 exactly) and checks
 * max |pst - ref| / max |ref| <= 1e-4 over the real (unpadded) tokens of pst_model_hidden(), and
 * the same for the pooler output (pst_model_pooled, [B, H]: the checkpoint's pooler.dense through
 * tanh) against the fixture's pooler_output. A missing model directory, fixture or pooler output
 * is a failure with the command that makes it, never a skip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/batch.h"
#include "pst/config.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/safetensors.h"

#define TOL 1e-4

static int is_file(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

#define DIE_ON(call) do { if (call) { pst_err_print(stderr, 1); printf("FAIL: %s\n", #call); return 1; } } while (0)

/* Forward the fixture batch with `method`; print and return the relative error. */
static int run_method(const char *dir, const char *method, const pst_safetensors *fx, int B, int T, int H,
                      double *rel_out) {
  pst_config cfg;
  pst_config_defaults(&cfg);
  int offset = -1;
  DIE_ON(pst_hf_read_config(dir, &cfg, &offset));
  if (offset != 0) { printf("FAIL: bert position offset %d, expected 0\n", offset); return 1; }
  if (cfg.hidden != H) { printf("FAIL: config.json hidden %d but the fixture has %d\n", cfg.hidden, H); return 1; }
  snprintf(cfg.method, sizeof cfg.method, "%s", method);
  cfg.num_labels = 2;
  cfg.batch_size = B;
  cfg.seq_len = T;
  DIE_ON(pst_config_finalize(&cfg));
  pst_model *m = NULL;
  DIE_ON(pst_model_create(&m, &cfg, B, T, NULL));
  pst_hf_report rep;
  if (pst_hf_load_weights_report(dir, m, &rep)) {
    pst_err_print(stderr, 1);
    pst_model_destroy(m);
    printf("FAIL: loading %s\n", dir);
    return 1;
  }
  const long N = (long)B * T;
  int32_t *ids = malloc((size_t)N * sizeof *ids), *types = malloc((size_t)N * sizeof *types);
  int32_t *am = malloc((size_t)N * sizeof *am), labels[64] = {0};
  uint8_t *mask = malloc((size_t)N);
  float *ref = malloc((size_t)N * H * sizeof *ref), *pref = malloc((size_t)B * H * sizeof *pref);
  const int64_t bt[2] = {B, T}, bth[3] = {B, T, H}, bh[2] = {B, H};
  int rc = 1;
  if (!ids || !types || !am || !mask || !ref || !pref || B > 64) { printf("FAIL: out of memory\n"); goto out; }
  if (pst_st_read_i32(fx, "input_ids", ids, 2, bt) || pst_st_read_i32(fx, "token_type_ids", types, 2, bt) ||
      pst_st_read_i32(fx, "attention_mask", am, 2, bt) || pst_st_read_f32(fx, "last_hidden_state", ref, 3, bth) ||
      pst_st_read_f32(fx, "pooler_output", pref, 2, bh)) {
    pst_err_print(stderr, 1);
    printf("FAIL: reading the fixture\n");
    goto out;
  }
  for (long n = 0; n < N; n++) mask[n] = am[n] != 0;
  pst_batch batch = {.B = B, .T = T, .input_ids = ids, .token_type_ids = types, .attn_mask = mask, .labels = labels};
  double loss;
  if (pst_model_forward(m, &batch, &loss)) {
    pst_err_print(stderr, 1);
    printf("FAIL: forward\n");
    goto out;
  }
  const float *h = pst_model_hidden(m);
  double maxref = 0, maxdiff = 0;
  long at = -1, real = 0;
  for (long n = 0; n < N; n++) {
    if (!mask[n]) continue;
    real++;
    for (int c = 0; c < H; c++) {
      double r = ref[n * H + c], d = fabs((double)h[n * H + c] - r);
      if (fabs(r) > maxref) maxref = fabs(r);
      if (d > maxdiff || d != d) { maxdiff = d; at = n * H + c; }
    }
  }
  double rel = maxdiff / (maxref > 1e-6 ? maxref : 1e-6);
  int ok = real > 0 && rel <= TOL;
  printf("%-4s %-6s last hidden states, %ld real tokens x %d: rel.err %.2e (tol %.0e, max|ref| %.4g, "
         "max|diff| %.3g at token %ld dim %ld; %d tensors / %lld parameters loaded)\n",
         ok ? "ok" : "FAIL", method, real, H, rel, TOL, maxref, maxdiff, at >= 0 ? at / H : -1, at >= 0 ? at % H : -1,
         rep.loaded, rep.params_loaded);
  /* the pooler: tanh(pool(h[b, 0])) of the checkpoint's pooler.dense */
  const float *pl = pst_model_pooled(m);
  double pmax = 0, pdiff = 0;
  for (long i = 0; pl && i < (long)B * H; i++) {
    const double d = fabs((double)pl[i] - pref[i]);
    if (fabs(pref[i]) > pmax) pmax = fabs(pref[i]);
    if (d > pdiff || d != d) pdiff = d;
  }
  const double prel = pdiff / (pmax > 1e-6 ? pmax : 1e-6);
  const int pok = pl && rep.pool_loaded && prel <= TOL;
  printf("%-4s %-6s pooler output [%d, %d]: rel.err %.2e (tol %.0e, max|ref| %.4g; pooler %s)\n", pok ? "ok" : "FAIL",
         method, B, H, prel, TOL, pmax, rep.pool_loaded ? "loaded from the checkpoint" : "NOT in the checkpoint");
  *rel_out = rel;
  rc = ok && pok ? 0 : 1;
out:
  free(ids);
  free(types);
  free(am);
  free(mask);
  free(ref);
  free(pref);
  pst_model_destroy(m);
  return rc;
}

int main(int argc, char **argv) {
  const char *src = getenv("top_srcdir"), *bld = getenv("top_builddir");
  char dir[1024], fixture[1024], path[1100];
  snprintf(dir, sizeof dir, "%s/models/all-MiniLM-L6-v2", src && *src ? src : ".");
  snprintf(fixture, sizeof fixture, "%s/tests/parity/hf_minilm.safetensors", bld && *bld ? bld : ".");
  if (argc > 3 || (argc > 1 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: %s [MODEL_DIR [FIXTURE]]\n", argv[0]);
    return 2;
  }
  if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
  if (argc > 2) snprintf(fixture, sizeof fixture, "%s", argv[2]);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (!is_file(path)) {
    printf("FAIL: the pretrained model is missing: %s not found; install it with scripts/get-model\n", path);
    return 1;
  }
  if (!is_file(fixture)) {
    printf("FAIL: reference fixture %s not found; make it with\n"
           "      /usr/bin/python3 tests/reference/make_hf_fixtures.py %s %s\n", fixture, dir, fixture);
    return 1;
  }
  pst_safetensors *fx;
  if (pst_st_open(&fx, fixture)) {
    pst_err_print(stderr, 1);
    printf("FAIL: cannot read %s\n", fixture);
    return 1;
  }
  const pst_st_tensor *t = pst_st_find(fx, "last_hidden_state");
  if (!t || t->ndim != 3) {
    printf("FAIL: %s has no 3-d last_hidden_state\n", fixture);
    pst_st_close(fx);
    return 1;
  }
  const int B = (int)t->shape[0], T = (int)t->shape[1], H = (int)t->shape[2];
  const char *ref = pst_st_metadata(fx, "reference");
  printf("== %s vs %s (B=%d, T=%d; reference: %s)\n", dir, fixture, B, T, ref ? ref : "?");
  const char *methods[] = {"dense", "lora"};
  int fail = 0;
  for (int i = 0; i < 2; i++) {
    double rel = 0;
    fail += run_method(dir, methods[i], fx, B, T, H, &rel);
  }
  pst_st_close(fx);
  printf("%d passed, %d failed\n", 2 - fail, fail);
  return fail ? 1 : 0;
}
