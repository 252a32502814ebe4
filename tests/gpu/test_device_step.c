/* test_device_step.c — the on-device training step (device_model.h) against the CPU trainer.
 *
 * For tiny BERT and GPT-2 configurations (the sizes of tests/parity) and several methods, the
 * CPU model (libpst.a) and the device model are built from the same initialisation; then:
 *  - step 0: forward loss and logits, and the gradient of every trainable tensor after one
 *    backward (max|d| / max|ref| <= 1e-4 per tensor);
 *  - 5 trainer steps (pst_trainer_step vs pst_dmodel_step, same micro-batches, sparsity
 *    schedule 0 -> 0.5): per-step loss (relative 1e-5), gradient norm (relative 1e-4), lr and
 *    sparsity (equal), masks identical at every step. A mask bit may only differ where the
 *    importance score is a float near-tie at the top-k threshold (|S - thr| <= 1e-5 max|S|:
 *    the two sides' trainables differ by float reduction order); such bits are counted and
 *    printed, and the device masks are re-aligned to the CPU's so the next step compares like
 *    with like. Any other difference fails;
 *  - after step 3 the checkpoint bridge goes down and up again (pst_dmodel_download_trainer /
 *    pst_dmodel_upload_trainer), and after step 5 the AdamW moments are compared
 *    (max|d| / max|ref| <= 1e-4) and the step counters must be equal;
 *  - the final trainables, per tensor: max|d| <= max(1e-4 max(1, max|ref|), 2 x floor) (1e-4
 *    absolute, relative for tensors whose values exceed 1), where floor is the CPU trainer's
 *    own change when its initial values move by one float32 ulp (the parity suite's noise
 *    floor: Adam's per-element normalisation amplifies rounding in tiny gradients).
 * Usage: test_device_step [--quick] [--tf32]
 *   --quick  two small cases, 2 steps (for compute-sanitizer);  --tf32  the device context uses
 *   TF32 for the large products (tolerances x100; informational).
 * Exits 77 (automake SKIP) with the reason when there is no usable CUDA device. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/config.h"
#include "pst/cuda.h"
#include "pst/data.h"
#include "pst/device_model.h"
#include "pst/model.h"
#include "pst/rng.h"
#include "pst/sparsity.h"
#include "pst/train.h"

static int g_pass, g_fail, g_quick, g_tf32;
static double g_scale = 1.0; /* tolerance multiplier (--tf32) */

#define TRY(call)                                                                     \
  do {                                                                                \
    if ((call) != PST_OK) {                                                           \
      fprintf(stderr, "test_device_step: %s failed at line %d\n", #call, __LINE__);   \
      pst_err_print(stderr, 1);                                                       \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (ok) g_pass++;
  else g_fail++;
}

static void *xmalloc(size_t bytes) {
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!p) {
    fprintf(stderr, "test_device_step: out of memory\n");
    exit(1);
  }
  return p;
}

/* max|got - ref| and max|ref| (NaN in either: infinite difference) */
static void diff_stats(const float *got, const float *ref, long n, double *maxdiff, double *maxref) {
  double d = 0, r = 0;
  for (long i = 0; i < n; i++) {
    if (isnan(got[i]) || isnan(ref[i])) {
      d = INFINITY;
      continue;
    }
    const double e = fabs((double)got[i] - ref[i]);
    if (e > d) d = e;
    if (fabs(ref[i]) > r) r = fabs(ref[i]);
  }
  *maxdiff = d;
  *maxref = r;
}

/* max|d| / max(max|ref|, 1e-6) <= tol */
static int check_rel(const char *what, const float *got, const float *ref, long n, double tol, int verbose) {
  double d, r;
  diff_stats(got, ref, n, &d, &r);
  const double rel = d / (r > 1e-6 ? r : 1e-6);
  const int ok = rel <= tol;
  if (verbose || !ok) check(ok, "%-36s max|d|/max|ref| = %.2e (tol %.0e, max|ref| %.3g)", what, rel, tol, r);
  else g_pass++;
  return ok;
}

/* ---- cases ------------------------------------------------------------------------------ */

typedef struct {
  const char *name, *arch, *method, *task;
  int hidden, layers, heads, ffn, vocab, B, T, nmicro;
  int warm;          /* non-zero V, B, R, C (S) before the first step */
  int pad;           /* padded sequences (attention mask 0 at the end) */
  double ls;         /* label smoothing */
  int num_labels;
  int varlen;        /* batches shorter than T (padded to their longest: T, T-8, T-4, ...) */
} tcase;

static const tcase CASES[] = {
    {"bert-pst", "bert", "pst", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 0, 0, 0.0, 3, 0},
    {"bert-pst-warm-pad", "bert", "pst", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 1, 1, 0.1, 3, 0},
    {"bert-regress-pst", "bert", "pst", "regress", 64, 2, 4, 128, 100, 4, 16, 1, 1, 1, 0.0, 1, 0},
    {"bert-movement", "bert", "movement", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 1, 0, 0.0, 2, 0},
    {"bert-magnitude", "bert", "magnitude", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 1, 0, 0.0, 2, 0},
    {"bert-dense", "bert", "dense", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 0, 0, 0.0, 2, 0},
    {"gpt2-pst", "gpt2", "pst", "lm", 64, 2, 4, 128, 100, 4, 16, 1, 0, 0, 0.1, 2, 0},
    {"gpt2-pst-warm-accum2", "gpt2", "pst", "lm", 64, 2, 4, 128, 100, 4, 16, 2, 1, 1, 0.1, 2, 0},
    {"gpt2-lora", "gpt2", "lora", "lm", 64, 2, 4, 128, 100, 4, 16, 1, 1, 0, 0.0, 2, 0},
    {"gpt2-soft-movement", "gpt2", "soft-movement", "lm", 64, 2, 4, 128, 100, 4, 16, 1, 1, 0, 0.0, 2, 0},
    {"bert-pst-h128-t32", "bert", "pst", "classify", 128, 2, 4, 512, 300, 4, 32, 1, 1, 1, 0.0, 3, 0},
    {"bert-pst-varlen", "bert", "pst", "classify", 64, 2, 4, 128, 100, 4, 16, 1, 1, 1, 0.0, 3, 1},
    {"gpt2-pst-varlen-accum2", "gpt2", "pst", "lm", 64, 2, 4, 128, 100, 4, 16, 2, 1, 1, 0.1, 2, 1},
    {"gpt2-pst-h128-t32", "gpt2", "pst", "lm", 128, 3, 8, 512, 300, 2, 32, 2, 1, 1, 0.0, 2, 0},
};

static void make_config(pst_config *cfg, const tcase *c, long steps) {
  pst_config_defaults(cfg);
  snprintf(cfg->arch, sizeof cfg->arch, "%s", c->arch);
  cfg->hidden = c->hidden;
  cfg->layers = c->layers;
  cfg->heads = c->heads;
  cfg->ffn = c->ffn;
  cfg->vocab = c->vocab;
  cfg->max_positions = 2 * c->T;
  cfg->type_vocab = 2;
  cfg->num_labels = c->num_labels;
  cfg->train_head = 1;
  snprintf(cfg->method, sizeof cfg->method, "%s", c->method);
  cfg->r1 = cfg->r2 = 8;
  cfg->alpha1 = cfg->alpha2 = cfg->beta = 1;
  cfg->sparsity_init = 0;
  cfg->sparsity_final = 0.5;
  cfg->threshold = 0.0;
  cfg->lr = 0.005;
  cfg->weight_decay = 0.01;
  cfg->warmup_steps = 0;
  cfg->max_grad_norm = 1;
  cfg->eps = 1e-6;
  cfg->label_smoothing = c->ls;
  cfg->steps = steps;
  cfg->batch_size = c->B;
  cfg->seq_len = c->T;
  cfg->grad_accum = c->nmicro;
  cfg->seed = 1234;
  snprintf(cfg->task, sizeof cfg->task, "%s", c->task);
  TRY(pst_config_finalize(cfg));
}

/* Non-zero values for the trainables the CPU initialises to 0 (V, B, R, C: 0.01 N(0,1); S:
 * 0.02 N(0,1)), so every gradient path is active from the first step. */
static void warm_trainables(pst_model *m, uint64_t seed) {
  pst_params *p = pst_model_trainables(m);
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    const size_t len = strlen(t->name);
    const char last = len >= 2 && t->name[len - 2] == '.' ? t->name[len - 1] : 0;
    float std = 0;
    if (last == 'V' || last == 'B' || last == 'R' || last == 'C') std = 0.01f;
    if (last == 'S') std = 0.02f;
    if (std > 0) pst_rng_normal(p->data + t->offset, t->numel, 0.f, std, seed, pst_rng_stream(t->name));
  }
}

/* Move every value of p by one float32 ulp, up or down at random. */
static void nudge(pst_params *p, uint64_t seed) {
  for (size_t i = 0; i < p->total; i++)
    p->data[i] = nextafterf(p->data[i], pst_rng_u64(seed, 5, i) & 1 ? INFINITY : -INFINITY);
}

static void fill_batch(pst_batch *b, const tcase *c, const pst_config *cfg, uint64_t seed) {
  const int B = c->B, T = b->T;
  int gpt2 = !strcmp(c->arch, "gpt2");
  for (int r = 0; r < B; r++) {
    const int len = c->pad && (r % 2) ? T - 1 - (int)(pst_rng_u64(seed, 9, (uint64_t)r) % (uint64_t)(T / 2)) : T;
    for (int t = 0; t < T; t++) {
      const long n = (long)r * T + t;
      b->input_ids[n] = (int32_t)(pst_rng_u64(seed, 1, (uint64_t)n) % (uint64_t)cfg->vocab);
      b->attn_mask[n] = t < len;
      if (b->token_type_ids) b->token_type_ids[n] = !gpt2 && t >= T / 2;
      if (gpt2) {
        b->targets[n] = (int32_t)(pst_rng_u64(seed, 2, (uint64_t)n) % (uint64_t)cfg->vocab);
        b->loss_mask[n] = t < len - 1 ? 1.f : 0.f;
      }
    }
    if (b->labels) b->labels[r] = (int32_t)(pst_rng_u64(seed, 3, (uint64_t)r) % (uint64_t)cfg->num_labels);
    if (b->labels_f) b->labels_f[r] = (float)(pst_rng_u64(seed, 4, (uint64_t)r) % 1000) / 200.f;
  }
  if (gpt2 && b->token_type_ids) { /* gpt2 batches carry no token types */
    pst_free(b->token_type_ids);
    b->token_type_ids = NULL;
  }
}

/* Compare masks of m (CPU) and m2 (the device's, downloaded); near-tie flips are counted. */
static int compare_masks(const char *tag, pst_model *m, pst_model *m2, pst_dmodel *dm, long *near_total) {
  int bad_layers = 0;
  long near = 0, real = 0, bits = 0;
  for (int i = 0; i < pst_model_num_linears(m); i++) {
    int rows, cols, r2, c2;
    const uint8_t *a = pst_model_linear_mask(m, i, &rows, &cols), *b = pst_model_linear_mask(m2, i, &r2, &c2);
    if (!a && !b) continue;
    if (!a || !b || rows != r2 || cols != c2) {
      check(0, "%s: layer %d: mask presence or shape differs", tag, i);
      return 1;
    }
    const long n = (long)rows * cols;
    long diff = 0;
    for (long j = 0; j < n; j++) diff += (a[j] != 0) != (b[j] != 0);
    bits += n;
    if (!diff) continue;
    /* near-tie analysis on the device's scores */
    float *s = xmalloc((size_t)n * sizeof(float));
    TRY(pst_dmodel_download_scores(dm, i, s));
    double smax = 0, kept_min = INFINITY, drop_max = -INFINITY;
    for (long j = 0; j < n; j++) {
      if (fabs(s[j]) > smax) smax = fabs(s[j]);
      if (b[j] && s[j] < kept_min) kept_min = s[j];
      if (!b[j] && s[j] > drop_max) drop_max = s[j];
    }
    const double tol = 1e-5 * (smax > 0 ? smax : 1) * g_scale;
    long ln = 0, lr = 0;
    for (long j = 0; j < n; j++) {
      if ((a[j] != 0) == (b[j] != 0)) continue;
      const double d1 = fabs(s[j] - kept_min), d2 = fabs(s[j] - drop_max);
      if ((d1 < d2 ? d1 : d2) <= tol) ln++;
      else lr++;
    }
    near += ln;
    real += lr;
    if (lr) {
      bad_layers++;
      printf("     %s: %s: %ld mask bits differ, %ld of them not near-ties (tol %.1e)\n", tag,
             pst_model_linear_name(m, i), diff, lr, tol);
    }
    free(s);
  }
  *near_total += near;
  if (real || near)
    check(real == 0, "%s: masks: %ld of %ld bits differ (%ld near-ties at the threshold, re-aligned)", tag,
          real + near, bits, near);
  else g_pass++;
  return bad_layers;
}

static void run_case(const tcase *c, pst_cuda_ctx *ctx) {
  const long steps = g_quick ? 2 : 5;
  printf("== %s (%s %s, %s, h%d l%d, %dx%d, %d micro-batch%s%s)\n", c->name, c->arch, c->method, c->task, c->hidden,
         c->layers, c->B, c->T, c->nmicro, c->nmicro > 1 ? "es" : "", c->warm ? ", warm factors" : "");
  fflush(stdout);
  pst_config cfg;
  make_config(&cfg, c, steps);
  pst_task task;
  TRY(pst_task_parse(&task, cfg.task));
  /* the CPU model (the reference) and a second one receiving the device's tensors */
  pst_model *m, *m2;
  TRY(pst_model_create(&m, &cfg, c->B, c->T, NULL));
  if (!strcmp(c->method, "dense")) { /* full fine-tuning (every tensor trains) stays on the CPU */
    pst_dmodel *no = NULL;
    pst_err_clear();
    const pst_err rc = pst_dmodel_create(&no, m, ctx, c->B, c->T);
    check(rc != PST_OK && !no && strstr(pst_err_message(), "trains every tensor"),
          "pst.method = dense is refused with a message (got %d: %s)", rc, pst_err_message());
    pst_err_clear();
    pst_model_destroy(m);
    return;
  }
  TRY(pst_model_create(&m2, &cfg, c->B, c->T, NULL));
  pst_model_init_random(m, cfg.seed);
  pst_model_init_random(m2, cfg.seed);
  if (c->warm) warm_trainables(m, 77);
  pst_params *p = pst_model_trainables(m), *p2 = pst_model_trainables(m2);
  /* batches: nmicro per step, different every step */
  const int nb = (int)(steps * c->nmicro);
  pst_batch *batches = xmalloc((size_t)nb * sizeof(pst_batch));
  for (int i = 0; i < nb; i++) {
    TRY(pst_batch_alloc(&batches[i], c->B, c->T, task));
    if (c->varlen) batches[i].T = c->T - 4 * ((i + 1) % 3); /* T-4, T-8, T, ...: packed [B*T] */
    fill_batch(&batches[i], c, &cfg, 1000 + (uint64_t)i);
  }
  /* the noise floor (as the parity suite's): the CPU trainer again from inputs moved by one
   * float32 ulp; the final trainables may differ from the CPU's by 2x that change */
  pst_model *m3;
  TRY(pst_model_create(&m3, &cfg, c->B, c->T, NULL));
  pst_model_init_random(m3, cfg.seed);
  if (c->warm) warm_trainables(m3, 77);
  pst_params *p3 = pst_model_trainables(m3);
  nudge(pst_model_frozen(m3), 11);
  nudge(p3, 12);
  pst_dmodel *dm;
  TRY(pst_dmodel_create(&dm, m, ctx, c->B, c->T));
  pst_trainer tr, tr2, tr3;
  TRY(pst_trainer_init(&tr, &cfg, m, steps, NULL));
  TRY(pst_trainer_init(&tr3, &cfg, m3, steps, NULL));
  TRY(pst_trainer_init(&tr2, &cfg, m2, steps, NULL));
  TRY(pst_dmodel_train_init(dm, &cfg, steps, NULL));

  /* step 0: forward values and gradients of one backward */
  {
    double lc, ld;
    memset(p->grad, 0, p->total * sizeof(float));
    TRY(pst_model_forward(m, &batches[0], &lc));
    TRY(pst_dmodel_forward(dm, &batches[0], &ld));
    long nl, nl2;
    const float *lg = pst_model_logits(m, &nl);
    TRY(pst_dmodel_download_logits(dm, NULL, &nl2));
    float *dl = xmalloc((size_t)nl2 * sizeof(float));
    TRY(pst_dmodel_download_logits(dm, dl, &nl2));
    check(nl == nl2, "step 0: logits count %ld vs %ld", nl2, nl);
    check_rel("step 0: logits", dl, lg, nl < nl2 ? nl : nl2, 1e-4 * g_scale, 1);
    const double rel = fabs(ld - lc) / (fabs(lc) > 1e-12 ? fabs(lc) : 1e-12);
    check(rel <= 1e-5 * g_scale, "step 0: loss %.9f vs CPU %.9f (rel %.1e)", ld, lc, rel);
    free(dl);
    TRY(pst_model_backward(m, &batches[0], 1.0f));
    TRY(pst_dmodel_backward(dm, &batches[0], 1.0f));
    float *g = xmalloc(p->total * sizeof(float));
    TRY(pst_dmodel_download_grads(dm, g));
    int bad = 0;
    for (int i = 0; i < p->n; i++) {
      char nm[160];
      snprintf(nm, sizeof nm, "step 0: grad.%s", p->t[i].name);
      bad += !check_rel(nm, g + p->t[i].offset, p->grad + p->t[i].offset, (long)p->t[i].numel, 1e-4 * g_scale, 0);
    }
    check(!bad, "step 0: gradients of %d trainable tensors (max|d|/max|ref| <= %.0e each)", p->n, 1e-4 * g_scale);
    free(g);
  }

  /* the trainer steps */
  long near_total = 0;
  for (long s = 0; s < steps; s++) {
    const pst_batch *mb = &batches[s * c->nmicro];
    double lc, ld;
    TRY(pst_trainer_step(&tr, mb, c->nmicro, &lc));
    double l3;
    TRY(pst_trainer_step(&tr3, mb, c->nmicro, &l3));
    TRY(pst_dmodel_step(dm, mb, c->nmicro, &ld));
    const pst_dmodel_state *st = pst_dmodel_get_state(dm);
    const double rel = fabs(ld - lc) / (fabs(lc) > 1e-12 ? fabs(lc) : 1e-12);
    const double nrel = fabs(st->grad_norm - tr.grad_norm) / (tr.grad_norm > 1e-12 ? tr.grad_norm : 1e-12);
    check(rel <= 1e-5 * g_scale && nrel <= 1e-4 * g_scale && st->lr == tr.lr && st->sparsity == tr.sparsity &&
              st->step == tr.step,
          "step %ld: loss %.9f vs CPU %.9f (rel %.1e), grad norm rel %.1e, lr %g, sparsity %.4f vs %.4f", s + 1, ld,
          lc, rel, nrel, st->lr, st->sparsity, tr.sparsity);
    TRY(pst_dmodel_download(dm, m2));
    char tag[64];
    snprintf(tag, sizeof tag, "step %ld", s + 1);
    compare_masks(tag, m, m2, dm, &near_total);
    TRY(pst_dmodel_upload_masks(dm, m)); /* re-align near-tie flips (no-op otherwise) */
    if (s == 2 && steps > 3) { /* the checkpoint bridge, down and up */
      TRY(pst_dmodel_download_trainer(dm, &tr2));
      TRY(pst_dmodel_upload_trainer(dm, &tr2));
    }
  }
  if (near_total) printf("     %ld near-tie mask bits over the run (re-aligned each time)\n", near_total);

  /* final state */
  TRY(pst_dmodel_download_trainer(dm, &tr2));
  check(tr2.step == tr.step && tr2.opt.t == tr.opt.t, "trainer counters: step %ld vs %ld, adam t %ld vs %ld", tr2.step,
        tr.step, tr2.opt.t, tr.opt.t);
  int bad = 0;
  double worst = 0, worst_rel = 0, worst_floor = 0;
  const char *worst_name = "";
  for (int i = 0; i < p->n; i++) {
    const pst_tensor_info *t = &p->t[i];
    double d, r, fl, r3;
    diff_stats(p2->data + t->offset, p->data + t->offset, (long)t->numel, &d, &r);
    diff_stats(p3->data + t->offset, p->data + t->offset, (long)t->numel, &fl, &r3);
    const double base = 1e-4 * (r > 1 ? r : 1) * g_scale, tol = base > 2 * fl ? base : 2 * fl;
    if (d > tol) {
      bad++;
      printf("     final.%s: max|d| %.2e > %.1e (max|ref| %.3g, noise floor %.2e)\n", t->name, d, tol, r, fl);
    }
    if (d / tol > worst) worst = d / tol, worst_name = t->name;
    if (d / (r > 1e-6 ? r : 1e-6) > worst_rel) worst_rel = d / (r > 1e-6 ? r : 1e-6);
    if (fl > worst_floor) worst_floor = fl;
  }
  check(!bad, "final trainables: %d tensors, worst max|d| / tol = %.2f (%s; tol = max(1e-4 max(1, max|ref|), "
        "2 x noise floor)), worst max|d|/max|ref| %.2e, largest noise floor %.1e", p->n, worst, worst_name,
        worst_rel, worst_floor);
  const double mt = 1e-4 * g_scale;
  int okm = check_rel("final AdamW m", tr2.opt.m, tr.opt.m, (long)p->total, mt, 1);
  int okv = check_rel("final AdamW v", tr2.opt.v, tr.opt.v, (long)p->total, mt, 1);
  (void)okm;
  (void)okv;
  {
    long kept, total, kept2, total2;
    pst_model_nnz(m, &kept, &total);
    pst_model_nnz(m2, &kept2, &total2);
    check(kept == kept2 && total == total2, "final masks: kept %ld of %ld (CPU %ld of %ld)", kept2, total2, kept, total);
  }
  pst_trainer_free(&tr);
  pst_trainer_free(&tr2);
  pst_trainer_free(&tr3);
  pst_model_destroy(m3);
  pst_dmodel_destroy(dm);
  for (int i = 0; i < nb; i++) pst_batch_free(&batches[i]);
  free(batches);
  pst_model_destroy(m);
  pst_model_destroy(m2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) g_quick = 1;
    else if (!strcmp(argv[i], "--tf32")) g_tf32 = 1;
    else {
      fprintf(stderr, "usage: %s [--quick] [--tf32]\n", argv[0]);
      return 2;
    }
  }
  char why[256];
  if (!pst_cuda_available(why, sizeof why)) {
    printf("SKIP: %s\n", why);
    return 77;
  }
  if (g_tf32) g_scale = 100;
  pst_cuda_ctx *ctx;
  TRY(pst_cuda_create(&ctx, 0, g_tf32));
  printf("device %s%s\n", pst_cuda_describe(ctx), g_tf32 ? " (TF32 products)" : " (fp32)");
  const int ncase = (int)(sizeof CASES / sizeof CASES[0]);
  for (int i = 0; i < ncase; i++) {
    if (g_quick && strcmp(CASES[i].name, "bert-pst-warm-pad") && strcmp(CASES[i].name, "gpt2-pst-warm-accum2"))
      continue;
    run_case(&CASES[i], ctx);
  }
  pst_cuda_destroy(ctx);
  printf("test_device_step: %d passed, %d failed: %s\n", g_pass, g_fail, g_fail ? "FAILED" : "passed");
  return g_fail ? 1 : 0;
}
