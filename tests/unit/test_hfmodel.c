/* test_hfmodel.c — unit tests of the Hugging Face loader (include/pst/hfmodel.h, cmocka).
 *
 * Each test writes a tiny HF model directory into a mkdtemp directory (config.json text and
 * safetensors files through pst_st_write), reads it with pst_hf_read_config, creates the
 * pst model and loads it with pst_hf_load_weights_report, then checks every pst tensor value
 * by value against the source tensor the naming scheme says it comes from:
 *  - BERT with the "bert." prefix (pooler + classifier loaded, extra tensors ignored, PST
 *    trainables untouched) and without it (sentence-transformers layout: head stays fresh,
 *    one tensor stored as F16, TF-style LayerNorm gamma/beta);
 *  - RoBERTa: position offset 2 (out-parameter and model.position_offset), full position
 *    table, classifier.dense -> pool, classifier.out_proj -> cls;
 *  - GPT-2 with and without "transformer.": Conv1D transposes and the c_attn split into q, k,
 *    v checked element by element; gelu_new -> gelu_tanh; attn.bias / lm_head ignored;
 *  - a sharded checkpoint (model.safetensors.index.json over two files);
 *  - errors, each with the words of its message: missing tensor, wrong shape, missing config
 *    key, bad JSON, wrong JSON type, unsupported activation / model_type / position type, no
 *    weights file, layer-count and architecture mismatch, inconsistent index;
 *  - a classifier with another label count keeps the fresh head; pst_hf_read_num_labels;
 *  - tensor parallelism: after each unsharded load above, tables of the same tensors sharded
 *    as tp = 1, 2, 4 ranks (q, k, v, fc1 rows; o, fc2 columns) are loaded with
 *    pst_hf_load_params and must hold exactly the slices of the unsharded values, and so must
 *    the model itself created as each rank of a 2-rank group; shape errors name the global
 *    shape; unsupported or out-of-range shards are errors. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pst/config.h"
#include "pst/hfmodel.h"
#include "pst/model.h"
#include "pst/params.h"
#include "pst/safetensors.h"

/* tiny dimensions: hidden 4, 2 heads, ffn 8, vocab 10, 6 positions, 2 layers */
enum { H = 4, NH = 2, F = 8, V = 10, P = 6, LAYERS = 2, TV = 2 };

static char root[256];
static int dir_seq;

/* ---- a checkpoint under construction ------------------------------------------------- */

typedef struct {
  char name[128];
  int ndim;
  int64_t shape[4];
  float *data;
  size_t numel;
  pst_dtype dt; /* as written: F32, F16 or I64 (data then holds the integer values) */
  int shard;
} ent;

typedef struct {
  ent e[160];
  int n;
} ckpt;

static ent *add4(ckpt *c, const char *name, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  assert_true(c->n < 160);
  ent *e = &c->e[c->n];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "%s", name);
  e->ndim = ndim;
  int64_t d[4] = {d0, d1, d2, d3};
  e->numel = 1;
  for (int i = 0; i < ndim; i++) {
    e->shape[i] = d[i];
    e->numel *= (size_t)d[i];
  }
  e->data = malloc(e->numel * sizeof(float));
  assert_non_null(e->data);
  /* distinct values, exact in F16: multiples of 1/64 in [-7.8, 7.8] */
  for (size_t i = 0; i < e->numel; i++) e->data[i] = (float)((int)((c->n * 131 + i * 7) % 997) - 498) / 64.0f;
  e->dt = PST_DT_F32;
  c->n++;
  return e;
}

static ent *add(ckpt *c, const char *name, int64_t d0, int64_t d1) {
  return add4(c, name, d1 ? 2 : 1, d0, d1, 0, 0);
}

static ent *addf(ckpt *c, int64_t d0, int64_t d1, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static ent *addf(ckpt *c, int64_t d0, int64_t d1, const char *fmt, ...) {
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  return add(c, name, d0, d1);
}

static ent *find(ckpt *c, const char *name) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->e[i].name, name)) return &c->e[i];
  return NULL;
}

static void drop(ckpt *c, const char *name) {
  ent *e = find(c, name);
  assert_non_null(e);
  free(e->data);
  *e = c->e[--c->n];
}

static void ckpt_free(ckpt *c) {
  for (int i = 0; i < c->n; i++) free(c->e[i].data);
  c->n = 0;
}

static uint16_t f32_to_f16_exact(float x) {
  if (x == 0) return 0;
  uint32_t b;
  memcpy(&b, &x, 4);
  uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
  int e = (int)((b >> 23) & 0xff) - 127 + 15;
  assert_true(e > 0 && e < 31 && (b & 0x1fff) == 0); /* normal and exactly representable */
  return (uint16_t)(sign | (e << 10) | ((b >> 13) & 0x3ff));
}

/* Write the entries of shard `shard` (-1: all) to path. */
static void write_st(ckpt *c, const char *path, int shard) {
  pst_st_entry *es = calloc((size_t)c->n, sizeof *es);
  void **bufs = calloc((size_t)c->n, sizeof *bufs);
  assert_true(es && bufs);
  int n = 0;
  for (int i = 0; i < c->n; i++) {
    ent *e = &c->e[i];
    if (shard >= 0 && e->shard != shard) continue;
    pst_st_entry *s = &es[n++];
    s->name = e->name;
    s->dtype = e->dt;
    s->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) s->shape[d] = e->shape[d];
    if (e->dt == PST_DT_F32) {
      s->data = e->data;
    } else if (e->dt == PST_DT_F16) {
      uint16_t *h = malloc(e->numel * 2);
      for (size_t j = 0; j < e->numel; j++) h[j] = f32_to_f16_exact(e->data[j]);
      s->data = bufs[i] = h;
    } else {
      int64_t *v = malloc(e->numel * 8);
      for (size_t j = 0; j < e->numel; j++) v[j] = (int64_t)j;
      s->data = bufs[i] = v;
    }
  }
  const char *meta[] = {"format", "pt", NULL};
  assert_int_equal(pst_st_write(path, es, n, meta), PST_OK);
  for (int i = 0; i < c->n; i++) free(bufs[i]);
  free(bufs);
  free(es);
}

/* ---- directories and files ------------------------------------------------------------- */

static void new_dir(char *dir, size_t cap) {
  snprintf(dir, cap, "%s/m%d", root, dir_seq++);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

static void write_text(const char *dir, const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void write_model(ckpt *c, const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  write_st(c, path, -1);
}

static const char *bert_config_fmt =
    "{\n  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n  \"hidden_size\": 4,\n"
    "  \"num_hidden_layers\": 2,\n  \"num_attention_heads\": 2,\n  \"intermediate_size\": 8,\n"
    "  \"vocab_size\": 10,\n  \"max_position_embeddings\": %d,\n  \"type_vocab_size\": %d,\n"
    "  \"layer_norm_eps\": %s,\n  \"hidden_act\": \"gelu\",\n  \"pad_token_id\": %d,\n"
    "  \"position_embedding_type\": \"absolute\",\n  \"hidden_dropout_prob\": 0.1%s\n}\n";

static void bert_config(const char *dir, const char *model_type, const char *extra) {
  char buf[2048];
  int roberta = !strcmp(model_type, "roberta");
  snprintf(buf, sizeof buf, bert_config_fmt, roberta ? "RobertaForSequenceClassification" : "BertModel", model_type,
           roberta ? P + 2 : P, roberta ? 1 : TV, roberta ? "1e-05" : "1e-12", roberta ? 1 : 0, extra ? extra : "");
  write_text(dir, "config.json", buf);
}

static void gpt2_config(const char *dir) {
  write_text(dir, "config.json",
             "{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 2,\n"
             " \"n_head\": 2, \"n_inner\": null, \"vocab_size\": 10, \"n_positions\": 6, \"n_ctx\": 6,\n"
             " \"layer_norm_epsilon\": 1e-05, \"activation_function\": \"gelu_new\", \"scale_attn_weights\": true,\n"
             " \"tie_word_embeddings\": true, \"bos_token_id\": 9, \"eos_token_id\": 9}\n");
}

/* HF BERT/RoBERTa tensors; P_ = prefix; head: 0 none, 1 BERT pooler + classifier, 2 RoBERTa
 * classifier (dense + out_proj). */
static void bert_ckpt(ckpt *c, const char *pre, int roberta, int head, int labels) {
  const int npos = roberta ? P + 2 : P, ntv = roberta ? 1 : TV;
  addf(c, V, H, "%sembeddings.word_embeddings.weight", pre);
  addf(c, npos, H, "%sembeddings.position_embeddings.weight", pre);
  addf(c, ntv, H, "%sembeddings.token_type_embeddings.weight", pre);
  addf(c, H, 0, "%sembeddings.LayerNorm.weight", pre);
  addf(c, H, 0, "%sembeddings.LayerNorm.bias", pre);
  add4(c, "embeddings.position_ids", 2, 1, npos, 0, 0)->dt = PST_DT_I64; /* a buffer: ignored */
  for (int l = 0; l < LAYERS; l++) {
    const char *lin[] = {"attention.self.query", "attention.self.key", "attention.self.value",
                         "attention.output.dense"};
    for (int j = 0; j < 4; j++) {
      addf(c, H, H, "%sencoder.layer.%d.%s.weight", pre, l, lin[j]);
      addf(c, H, 0, "%sencoder.layer.%d.%s.bias", pre, l, lin[j]);
    }
    addf(c, H, 0, "%sencoder.layer.%d.attention.output.LayerNorm.weight", pre, l);
    addf(c, H, 0, "%sencoder.layer.%d.attention.output.LayerNorm.bias", pre, l);
    addf(c, F, H, "%sencoder.layer.%d.intermediate.dense.weight", pre, l);
    addf(c, F, 0, "%sencoder.layer.%d.intermediate.dense.bias", pre, l);
    addf(c, H, F, "%sencoder.layer.%d.output.dense.weight", pre, l);
    addf(c, H, 0, "%sencoder.layer.%d.output.dense.bias", pre, l);
    addf(c, H, 0, "%sencoder.layer.%d.output.LayerNorm.weight", pre, l);
    addf(c, H, 0, "%sencoder.layer.%d.output.LayerNorm.bias", pre, l);
  }
  if (head == 1) {
    addf(c, H, H, "%spooler.dense.weight", pre);
    addf(c, H, 0, "%spooler.dense.bias", pre);
    add(c, "classifier.weight", labels, H);
    add(c, "classifier.bias", labels, 0);
  } else if (head == 2) {
    add(c, "classifier.dense.weight", H, H);
    add(c, "classifier.dense.bias", H, 0);
    add(c, "classifier.out_proj.weight", labels, H);
    add(c, "classifier.out_proj.bias", labels, 0);
  }
  add(c, "cls.predictions.bias", V, 0); /* an MLM head: not used by pst */
}

/* The HF source of a pst BERT tensor (the naming scheme, written out independently). */
static void bert_source(const char *pst, const char *pre, int roberta, char *out, size_t cap) {
  static const char *const map[][2] = {
      {"q.w", "attention.self.query.weight"},    {"q.b", "attention.self.query.bias"},
      {"k.w", "attention.self.key.weight"},      {"k.b", "attention.self.key.bias"},
      {"v.w", "attention.self.value.weight"},    {"v.b", "attention.self.value.bias"},
      {"o.w", "attention.output.dense.weight"},  {"o.b", "attention.output.dense.bias"},
      {"ln1.w", "attention.output.LayerNorm.weight"}, {"ln1.b", "attention.output.LayerNorm.bias"},
      {"fc1.w", "intermediate.dense.weight"},    {"fc1.b", "intermediate.dense.bias"},
      {"fc2.w", "output.dense.weight"},          {"fc2.b", "output.dense.bias"},
      {"ln2.w", "output.LayerNorm.weight"},      {"ln2.b", "output.LayerNorm.bias"}};
  int l, n = 0;
  out[0] = 0;
  if (!strcmp(pst, "emb.tok")) snprintf(out, cap, "%sembeddings.word_embeddings.weight", pre);
  else if (!strcmp(pst, "emb.pos")) snprintf(out, cap, "%sembeddings.position_embeddings.weight", pre);
  else if (!strcmp(pst, "emb.type")) snprintf(out, cap, "%sembeddings.token_type_embeddings.weight", pre);
  else if (!strcmp(pst, "emb.ln.w")) snprintf(out, cap, "%sembeddings.LayerNorm.weight", pre);
  else if (!strcmp(pst, "emb.ln.b")) snprintf(out, cap, "%sembeddings.LayerNorm.bias", pre);
  else if (!strcmp(pst, "pool.w")) snprintf(out, cap, roberta ? "classifier.dense.weight" : "%spooler.dense.weight", pre);
  else if (!strcmp(pst, "pool.b")) snprintf(out, cap, roberta ? "classifier.dense.bias" : "%spooler.dense.bias", pre);
  else if (!strcmp(pst, "cls.w")) snprintf(out, cap, roberta ? "classifier.out_proj.weight" : "classifier.weight");
  else if (!strcmp(pst, "cls.b")) snprintf(out, cap, roberta ? "classifier.out_proj.bias" : "classifier.bias");
  else if (sscanf(pst, "blk.%d.%n", &l, &n) == 1 && n > 0)
    for (size_t i = 0; i < sizeof map / sizeof *map; i++)
      if (!strcmp(pst + n, map[i][0])) snprintf(out, cap, "%sencoder.layer.%d.%s", pre, l, map[i][1]);
}

/* ---- model helpers --------------------------------------------------------------------- */

/* The model of dir's config.json (tiny batch), as rank tp->rank of a tensor-parallel group
 * (tp NULL: unsharded). */
static pst_model *make_model_tp(const char *dir, const char *method, int num_labels, pst_config *cfg_out,
                                const pst_group *tp) {
  pst_config cfg;
  pst_config_defaults(&cfg);
  int off = -1;
  assert_int_equal(pst_hf_read_config(dir, &cfg, &off), PST_OK);
  assert_int_equal(off, cfg.position_offset);
  snprintf(cfg.method, sizeof cfg.method, "%s", method);
  cfg.num_labels = num_labels;
  cfg.r1 = cfg.r2 = 2;
  cfg.seq_len = 4;
  cfg.batch_size = 1;
  if (!strcmp(cfg.arch, "gpt2")) snprintf(cfg.task, sizeof cfg.task, "lm");
  assert_int_equal(pst_config_finalize(&cfg), PST_OK);
  pst_model *m = NULL;
  if (pst_model_create(&m, &cfg, 1, 4, tp)) fail_msg("creating the model of %s: %s", dir, pst_err_message());
  if (cfg_out) *cfg_out = cfg;
  return m;
}

static pst_model *make_model(const char *dir, const char *method, int num_labels, pst_config *cfg_out) {
  return make_model_tp(dir, method, num_labels, cfg_out, NULL);
}

static const pst_tensor_info *tensor(pst_model *m, const char *name) {
  const pst_tensor_info *t = pst_params_find(pst_model_frozen(m), name);
  if (!t) t = pst_params_find(pst_model_trainables(m), name);
  if (!t) fail_msg("model has no tensor %s", name);
  return t;
}

static float *snapshot(pst_model *m, const char *name) {
  const pst_tensor_info *t = tensor(m, name);
  float *x = malloc(t->numel * sizeof(float));
  memcpy(x, *t->bind, t->numel * sizeof(float));
  return x;
}

static void assert_values(const pst_tensor_info *t, const float *want, const char *src) {
  for (size_t i = 0; i < t->numel; i++)
    if ((*t->bind)[i] != want[i])
      fail_msg("%s[%zu] = %g, expected %g (from %s)", t->name, i, (double)(*t->bind)[i], (double)want[i], src);
}

static void load_ok(const char *dir, pst_model *m, pst_hf_report *rep) {
  if (pst_hf_load_weights_report(dir, m, rep)) fail_msg("loading %s: %s", dir, pst_err_message());
}

/* Load and expect failure with code; every word of `words` (NULL-terminated) in the message. */
static void expect_load_error(const char *dir, pst_model *m, pst_err code, const char *const *words) {
  pst_err rc = pst_hf_load_weights(dir, m);
  const char *msg = pst_err_message();
  if (rc != code) fail_msg("expected error %d, got %d: %s", code, rc, msg);
  for (int i = 0; words[i]; i++)
    if (!strstr(msg, words[i])) fail_msg("message lacks '%s': %s", words[i], msg);
  pst_err_clear();
}

static void expect_config_error(const char *dir, pst_err code, const char *const *words) {
  pst_config cfg, before;
  pst_config_defaults(&cfg);
  before = cfg;
  pst_err rc = pst_hf_read_config(dir, &cfg, NULL);
  const char *msg = pst_err_message();
  if (rc != code) fail_msg("expected error %d, got %d: %s", code, rc, msg);
  for (int i = 0; words[i]; i++)
    if (!strstr(msg, words[i])) fail_msg("message lacks '%s': %s", words[i], msg);
  assert_memory_equal(&cfg, &before, sizeof cfg); /* unchanged on error */
  pst_err_clear();
}

/* Every BERT tensor of m equals its HF source in c; head tensors only if expected. */
static void check_bert(pst_model *m, ckpt *c, const char *pre, int roberta, int head_loaded) {
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  int checked = 0;
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < tabs[k]->n; i++) {
      const pst_tensor_info *t = &tabs[k]->t[i];
      char src[160];
      bert_source(t->name, pre, roberta, src, sizeof src);
      if (!src[0]) continue; /* PST trainables */
      if (!head_loaded && (!strncmp(t->name, "pool.", 5) || !strncmp(t->name, "cls.", 4))) continue;
      ent *e = find(c, src);
      if (!e) fail_msg("no source %s for %s", src, t->name);
      assert_int_equal(e->numel, t->numel);
      assert_values(t, e->data, src);
      checked++;
    }
  assert_int_equal(checked, 5 + LAYERS * 16 + (head_loaded ? 4 : 0));
}

/* ---- tensor-parallel shards ------------------------------------------------------------ */

/* How tensor parallelism shards pst tensor `name`: 0 rows (q, k, v, fc1 weights and biases:
 * column-parallel), 1 columns (o, fc2 weights: row-parallel), -1 replicated. */
static int tp_dim(const char *name) {
  int l, n = 0;
  char part[16] = "", wb[4] = "";
  if (sscanf(name, "blk.%d.%15[^.].%3s%n", &l, part, wb, &n) != 3 || name[n]) return -1;
  const int w = !strcmp(wb, "w"), b = !strcmp(wb, "b");
  if (!strcmp(part, "q") || !strcmp(part, "k") || !strcmp(part, "v") || !strcmp(part, "fc1")) return w || b ? 0 : -1;
  if (!strcmp(part, "o") || !strcmp(part, "fc2")) return w ? 1 : -1;
  return -1;
}

/* One table holding every tensor of a model (same names; sharded ones as rank r of tp hold
 * them), filled with NaN so that tensors the loader does not write stay recognisable. */
typedef struct {
  pst_params p;
  float *ptr[256];
} tp_table;

static tp_table *tp_build(pst_model *m, int r, int tp, int (*dimf)(const char *)) {
  tp_table *tt = calloc(1, sizeof *tt);
  assert_non_null(tt);
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  for (int k = 0; k < 2; k++)
    for (int i = 0; i < tabs[k]->n; i++) {
      const pst_tensor_info *t = &tabs[k]->t[i];
      const int d = dimf(t->name);
      int64_t ls[2] = {t->shape[0], t->shape[1]}, g = d >= 0 ? t->shape[d] : 0;
      if (d >= 0) {
        assert_int_equal(g % tp, 0);
        ls[d] = g / tp;
      }
      assert_true(tt->p.n < 256);
      assert_int_equal(pst_params_add(&tt->p, t->name, t->ndim, ls[0], ls[1], t->decay, t->required,
                                      &tt->ptr[tt->p.n], NULL), PST_OK);
      if (d >= 0) pst_params_shard_last(&tt->p, d, r * (g / tp), g);
    }
  assert_int_equal(pst_params_alloc(&tt->p, 0), PST_OK);
  for (size_t j = 0; j < tt->p.total; j++) tt->p.data[j] = NAN;
  return tt;
}

static void tp_free(tp_table *tt) {
  pst_params_free(&tt->p);
  free(tt);
}

/* m was loaded unsharded from dir (rep.loaded tensors). For tp = 1, 2, 4 and every rank: a
 * sharded table loaded by pst_hf_load_params holds exactly the slice of m's tensor, every
 * sharded tensor is loaded, and the same tensors are loaded as into m. */
static void check_tp(const char *dir, pst_model *m, int loaded) {
  int nsharded = 0, saved = pst_log_level;
  pst_log_level = 0;
  for (int tp = 1; tp <= 4; tp *= 2)
    for (int r = 0; r < tp; r++) {
      tp_table *tt = tp_build(m, r, tp, tp_dim);
      pst_params *tab = &tt->p;
      pst_hf_report rep;
      if (pst_hf_load_params(dir, &tab, 1, &rep)) fail_msg("tp %d rank %d: %s", tp, r, pst_err_message());
      assert_int_equal(rep.loaded, loaded);
      int written = 0;
      for (int i = 0; i < tab->n; i++) {
        const pst_tensor_info *t = &tab->t[i];
        const float *x = *t->bind, *full = *tensor(m, t->name)->bind;
        if (isnan(x[0])) {
          if (t->shard_dim >= 0) fail_msg("tp %d rank %d: sharded %s was not loaded", tp, r, t->name);
          continue;
        }
        written++;
        nsharded += t->shard_dim >= 0;
        const int64_t rows = t->shape[0], cols = t->shape[1], gcols = t->gshape[1];
        const int64_t r0 = t->shard_dim == 0 ? t->shard_start : 0, c0 = t->shard_dim == 1 ? t->shard_start : 0;
        for (int64_t a = 0; a < rows; a++)
          for (int64_t b = 0; b < cols; b++)
            if (x[a * cols + b] != full[(r0 + a) * gcols + c0 + b])
              fail_msg("tp %d rank %d: %s[%lld][%lld] = %g, expected %g (global [%lld][%lld])", tp, r, t->name,
                       (long long)a, (long long)b, (double)x[a * cols + b], (double)full[(r0 + a) * gcols + c0 + b],
                       (long long)(r0 + a), (long long)(c0 + b));
      }
      assert_int_equal(written, loaded);
      tp_free(tt);
    }
  /* per layer 6 weights + 4 biases, on 1 + 2 + 4 ranks */
  assert_int_equal(nsharded, LAYERS * 10 * 7);
  pst_log_level = saved;
}

/* The same through the model itself: m's config created as each rank of a 2-rank tensor-
 * parallel group (no collective is called while creating and loading) and loaded with
 * pst_hf_load_weights_report: every pretrained tensor (and the head, when the checkpoint has
 * it) is the slice of m's that its shard fields name. */
static void check_tp_model(const char *dir, pst_model *m, const char *method, int num_labels, int loaded) {
  const int tp = 2;
  int saved = pst_log_level;
  pst_log_level = 0;
  for (int r = 0; r < tp; r++) {
    pst_group g = {r, tp, NULL, NULL, NULL};
    pst_model *ms = make_model_tp(dir, method, num_labels, NULL, &g);
    pst_hf_report rep;
    load_ok(dir, ms, &rep);
    assert_int_equal(rep.loaded, loaded);
    pst_params *tabs[2] = {pst_model_frozen(ms), pst_model_trainables(ms)};
    int nsharded = 0, compared = 0;
    for (int k = 0; k < 2; k++)
      for (int i = 0; i < tabs[k]->n; i++) {
        const pst_tensor_info *t = &tabs[k]->t[i];
        const int head = !strncmp(t->name, "pool.", 5) || !strncmp(t->name, "cls.", 4);
        if (!t->required && !(head && rep.cls_loaded)) continue; /* PST trainables, a fresh head */
        const float *x = *t->bind, *full = *tensor(m, t->name)->bind;
        const int64_t rows = t->shape[0], cols = t->shape[1], gcols = t->gshape[1];
        const int64_t r0 = t->shard_dim == 0 ? t->shard_start : 0, c0 = t->shard_dim == 1 ? t->shard_start : 0;
        nsharded += t->shard_dim >= 0;
        compared++;
        for (int64_t a = 0; a < rows; a++)
          for (int64_t b = 0; b < cols; b++)
            if (x[a * cols + b] != full[(r0 + a) * gcols + c0 + b])
              fail_msg("rank %d of %d: %s[%lld][%lld] = %g, expected %g", r, tp, t->name, (long long)a, (long long)b,
                       (double)x[a * cols + b], (double)full[(r0 + a) * gcols + c0 + b]);
      }
    assert_int_equal(compared, loaded);
    assert_int_equal(nsharded, LAYERS * 10); /* q k v o fc1 fc2 weights, q k v fc1 biases */
    pst_model_destroy(ms);
  }
  pst_log_level = saved;
}

/* Shard q.w along its columns: not a slice GPT-2's c_attn can give in one read. */
static int tp_dim_qcols(const char *name) { return !strcmp(name, "blk.0.q.w") ? 1 : tp_dim(name); }

static void expect_tp_error(const char *dir, tp_table *tt, pst_err code, const char *const *words) {
  pst_params *tab = &tt->p;
  pst_err rc = pst_hf_load_params(dir, &tab, 1, NULL);
  const char *msg = pst_err_message();
  if (rc != code) fail_msg("expected error %d, got %d: %s", code, rc, msg);
  for (int i = 0; words[i]; i++)
    if (!strstr(msg, words[i])) fail_msg("message lacks '%s': %s", words[i], msg);
  pst_err_clear();
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_bert_prefix(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "bert.", 0, 1, 3);
  write_model(&c, dir);

  pst_config cfg;
  pst_config_defaults(&cfg);
  int off = -1;
  assert_int_equal(pst_hf_read_config(dir, &cfg, &off), PST_OK);
  assert_string_equal(cfg.arch, "bert");
  assert_int_equal(cfg.hidden, H);
  assert_int_equal(cfg.layers, LAYERS);
  assert_int_equal(cfg.heads, NH);
  assert_int_equal(cfg.ffn, F);
  assert_int_equal(cfg.vocab, V);
  assert_int_equal(cfg.max_positions, P);
  assert_int_equal(cfg.type_vocab, TV);
  assert_true(cfg.ln_eps == 1e-12);
  assert_string_equal(cfg.activation, "gelu_erf");
  assert_int_equal(off, 0);
  assert_int_equal(cfg.position_offset, 0);
  assert_int_equal(cfg.num_labels, 2); /* left to the caller */

  pst_model *m = make_model(dir, "pst", 3, NULL);
  float *U = snapshot(m, "blk.1.fc2.U"), *A = snapshot(m, "blk.0.q.A");
  pst_hf_report rep;
  load_ok(dir, m, &rep);
  check_bert(m, &c, "bert.", 0, 1);
  check_tp(dir, m, rep.loaded);
  check_tp_model(dir, m, "pst", 3, rep.loaded);
  assert_values(tensor(m, "blk.1.fc2.U"), U, "its initial value");
  assert_values(tensor(m, "blk.0.q.A"), A, "its initial value");
  assert_string_equal(rep.model_type, "bert");
  assert_string_equal(rep.prefix, "bert.");
  assert_int_equal(rep.position_offset, 0);
  assert_int_equal(rep.loaded, 5 + LAYERS * 16 + 4);
  assert_int_equal(rep.ignored, 2); /* embeddings.position_ids, cls.predictions.bias */
  assert_true(rep.pool_loaded && rep.cls_loaded);
  assert_int_equal(rep.nfiles, 2);
  assert_string_equal(rep.files[0], "config.json");
  assert_string_equal(rep.files[1], "model.safetensors");
  long long floats = 0;
  for (int i = 0; i < c.n; i++)
    if (c.e[i].dt == PST_DT_F32 && strcmp(c.e[i].name, "cls.predictions.bias")) floats += (long long)c.e[i].numel;
  assert_int_equal(rep.params_loaded, floats);
  free(U);
  free(A);
  pst_model_destroy(m);
  ckpt_free(&c);
}

static void test_bert_no_prefix(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "", 0, 0, 0); /* sentence-transformers: no prefix, no pooler, no classifier */
  find(&c, "embeddings.word_embeddings.weight")->dt = PST_DT_F16;
  /* an old TF-converted checkpoint: gamma / beta */
  snprintf(find(&c, "encoder.layer.1.output.LayerNorm.weight")->name, 128, "encoder.layer.1.output.LayerNorm.gamma");
  snprintf(find(&c, "encoder.layer.1.output.LayerNorm.bias")->name, 128, "encoder.layer.1.output.LayerNorm.beta");
  write_model(&c, dir);
  snprintf(find(&c, "encoder.layer.1.output.LayerNorm.gamma")->name, 128, "encoder.layer.1.output.LayerNorm.weight");
  snprintf(find(&c, "encoder.layer.1.output.LayerNorm.beta")->name, 128, "encoder.layer.1.output.LayerNorm.bias");

  pst_model *m = make_model(dir, "dense", 2, NULL);
  float *pw = snapshot(m, "pool.w"), *cw = snapshot(m, "cls.w");
  pst_hf_report rep;
  load_ok(dir, m, &rep);
  check_bert(m, &c, "", 0, 0);
  check_tp(dir, m, rep.loaded);
  check_tp_model(dir, m, "dense", 2, rep.loaded);
  assert_values(tensor(m, "pool.w"), pw, "the fresh head");
  assert_values(tensor(m, "cls.w"), cw, "the fresh head");
  assert_string_equal(rep.prefix, "");
  assert_false(rep.pool_loaded);
  assert_false(rep.cls_loaded);
  assert_int_equal(rep.loaded, 5 + LAYERS * 16);
  free(pw);
  free(cw);
  pst_model_destroy(m);
  ckpt_free(&c);
}

static void test_roberta(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "roberta", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "roberta.", 1, 2, 2);
  write_model(&c, dir);
  pst_config cfg;
  pst_config_defaults(&cfg);
  int off = -1;
  assert_int_equal(pst_hf_read_config(dir, &cfg, &off), PST_OK);
  assert_int_equal(off, 2);
  assert_int_equal(cfg.position_offset, 2);
  assert_int_equal(cfg.max_positions, P + 2); /* the full table; the model adds the offset */
  assert_int_equal(cfg.type_vocab, 1);
  assert_true(cfg.ln_eps == 1e-5);
  pst_model *m = make_model(dir, "pst", 2, NULL);
  pst_hf_report rep;
  load_ok(dir, m, &rep);
  check_bert(m, &c, "roberta.", 1, 1);
  check_tp(dir, m, rep.loaded);
  check_tp_model(dir, m, "pst", 2, rep.loaded);
  assert_int_equal(tensor(m, "emb.pos")->shape[0], P + 2);
  assert_string_equal(rep.model_type, "roberta");
  assert_string_equal(rep.prefix, "roberta.");
  assert_int_equal(rep.position_offset, 2);
  assert_true(rep.pool_loaded && rep.cls_loaded);
  pst_model_destroy(m);
  ckpt_free(&c);
}

/* HF GPT-2 tensors with prefix `pre`, plus the buffers old checkpoints carry. */
static void gpt2_ckpt(ckpt *c, const char *pre) {
  addf(c, V, H, "%swte.weight", pre);
  addf(c, P, H, "%swpe.weight", pre);
  for (int l = 0; l < LAYERS; l++) {
    addf(c, H, 0, "%sh.%d.ln_1.weight", pre, l);
    addf(c, H, 0, "%sh.%d.ln_1.bias", pre, l);
    addf(c, H, 3 * H, "%sh.%d.attn.c_attn.weight", pre, l);
    addf(c, 3 * H, 0, "%sh.%d.attn.c_attn.bias", pre, l);
    addf(c, H, H, "%sh.%d.attn.c_proj.weight", pre, l);
    addf(c, H, 0, "%sh.%d.attn.c_proj.bias", pre, l);
    addf(c, H, 0, "%sh.%d.ln_2.weight", pre, l);
    addf(c, H, 0, "%sh.%d.ln_2.bias", pre, l);
    addf(c, H, 4 * H, "%sh.%d.mlp.c_fc.weight", pre, l); /* n_inner null: 4 n_embd */
    addf(c, 4 * H, 0, "%sh.%d.mlp.c_fc.bias", pre, l);
    addf(c, 4 * H, H, "%sh.%d.mlp.c_proj.weight", pre, l);
    addf(c, H, 0, "%sh.%d.mlp.c_proj.bias", pre, l);
    char nm[128];
    snprintf(nm, sizeof nm, "%sh.%d.attn.bias", pre, l); /* the causal-mask buffer */
    add4(c, nm, 4, 1, 1, P, P);
  }
  addf(c, H, 0, "%sln_f.weight", pre);
  addf(c, H, 0, "%sln_f.bias", pre);
  add(c, "lm_head.weight", V, H); /* tied to wte: not read */
}

/* GPT-2 with prefix `pre`; the Conv1D layouts checked element by element. */
static void gpt2_case(const char *pre, const char *method) {
  char dir[300];
  new_dir(dir, sizeof dir);
  gpt2_config(dir);
  ckpt c = {0};
  gpt2_ckpt(&c, pre);
  write_model(&c, dir);

  pst_config cfg;
  pst_model *m = make_model(dir, method, 2, &cfg);
  assert_string_equal(cfg.arch, "gpt2");
  assert_int_equal(cfg.ffn, 4 * H); /* n_inner null */
  assert_int_equal(cfg.max_positions, P);
  assert_int_equal(cfg.position_offset, 0);
  assert_true(cfg.ln_eps == 1e-5);
  assert_string_equal(cfg.activation, "gelu_tanh");
  pst_hf_report rep;
  load_ok(dir, m, &rep);
  assert_string_equal(rep.prefix, pre);
  assert_int_equal(rep.ignored, LAYERS + 1); /* attn.bias per layer, lm_head.weight */
  assert_int_equal(rep.loaded, 2 + LAYERS * 16 + 2);
  check_tp(dir, m, rep.loaded);
  check_tp_model(dir, m, method, 2, rep.loaded);
  char nm[128];
  snprintf(nm, sizeof nm, "%swte.weight", pre);
  assert_values(tensor(m, "emb.tok"), find(&c, nm)->data, nm);
  snprintf(nm, sizeof nm, "%swpe.weight", pre);
  assert_values(tensor(m, "emb.pos"), find(&c, nm)->data, nm);
  snprintf(nm, sizeof nm, "%sln_f.weight", pre);
  assert_values(tensor(m, "lnf.w"), find(&c, nm)->data, nm);
  snprintf(nm, sizeof nm, "%sln_f.bias", pre);
  assert_values(tensor(m, "lnf.b"), find(&c, nm)->data, nm);
  for (int l = 0; l < LAYERS; l++) {
    char p[64];
    const char *ln[][2] = {{"ln1.w", "ln_1.weight"}, {"ln1.b", "ln_1.bias"}, {"ln2.w", "ln_2.weight"}, {"ln2.b", "ln_2.bias"},
                           {"o.b", "attn.c_proj.bias"}, {"fc1.b", "mlp.c_fc.bias"}, {"fc2.b", "mlp.c_proj.bias"}};
    for (size_t j = 0; j < sizeof ln / sizeof *ln; j++) {
      snprintf(p, sizeof p, "blk.%d.%s", l, ln[j][0]);
      snprintf(nm, sizeof nm, "%sh.%d.%s", pre, l, ln[j][1]);
      assert_values(tensor(m, p), find(&c, nm)->data, nm);
    }
    /* c_attn [H, 3H] (in, out): q.w[o][i] = W[i][o], k: W[i][H + o], v: W[i][2H + o] */
    snprintf(nm, sizeof nm, "%sh.%d.attn.c_attn.weight", pre, l);
    const float *W = find(&c, nm)->data;
    snprintf(nm, sizeof nm, "%sh.%d.attn.c_attn.bias", pre, l);
    const float *Wb = find(&c, nm)->data;
    const char *qkv = "qkv";
    for (int part = 0; part < 3; part++) {
      snprintf(p, sizeof p, "blk.%d.%c.w", l, qkv[part]);
      const pst_tensor_info *t = tensor(m, p);
      assert_int_equal(t->shape[0], H);
      assert_int_equal(t->shape[1], H);
      for (int o = 0; o < H; o++)
        for (int i = 0; i < H; i++)
          if ((*t->bind)[o * H + i] != W[i * 3 * H + part * H + o])
            fail_msg("%s[%d][%d] = %g, expected c_attn[%d][%d] = %g", p, o, i, (double)(*t->bind)[o * H + i], i,
                     part * H + o, (double)W[i * 3 * H + part * H + o]);
      snprintf(p, sizeof p, "blk.%d.%c.b", l, qkv[part]);
      t = tensor(m, p);
      for (int o = 0; o < H; o++) assert_true((*t->bind)[o] == Wb[part * H + o]);
    }
    /* c_proj [H,H], c_fc [H,F], mlp.c_proj [F,H] are [in, out]: pst [out, in] is the transpose */
    const char *tr[][2] = {{"o.w", "attn.c_proj.weight"}, {"fc1.w", "mlp.c_fc.weight"}, {"fc2.w", "mlp.c_proj.weight"}};
    for (int j = 0; j < 3; j++) {
      snprintf(p, sizeof p, "blk.%d.%s", l, tr[j][0]);
      snprintf(nm, sizeof nm, "%sh.%d.%s", pre, l, tr[j][1]);
      const pst_tensor_info *t = tensor(m, p);
      const ent *e = find(&c, nm);
      const int64_t rows = t->shape[0], cols = t->shape[1];
      assert_int_equal(e->shape[0], cols);
      assert_int_equal(e->shape[1], rows);
      for (int64_t o = 0; o < rows; o++)
        for (int64_t i = 0; i < cols; i++)
          if ((*t->bind)[o * cols + i] != e->data[i * rows + o])
            fail_msg("%s[%lld][%lld] != %s[%lld][%lld]", p, (long long)o, (long long)i, nm, (long long)i, (long long)o);
    }
  }
  pst_model_destroy(m);
  ckpt_free(&c);
}

static void test_gpt2_prefix(void **state) {
  (void)state;
  gpt2_case("transformer.", "pst");
}

static void test_gpt2_no_prefix(void **state) {
  (void)state;
  gpt2_case("", "dense");
}

static void sharded_dir(char *dir, size_t cap, ckpt *c, const char *lie_about) {
  new_dir(dir, cap);
  bert_config(dir, "bert", NULL);
  bert_ckpt(c, "bert.", 0, 1, 2);
  char *idx = malloc(65536);
  assert_non_null(idx);
  size_t len = (size_t)snprintf(idx, 65536, "{\"metadata\": {\"total_size\": 0}, \"weight_map\": {");
  for (int i = 0; i < c->n; i++) {
    c->e[i].shard = i % 2;
    int listed = c->e[i].shard;
    if (lie_about && !strcmp(c->e[i].name, lie_about)) listed = !listed;
    len += (size_t)snprintf(idx + len, 65536 - len, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"", i ? ", " : "",
                            c->e[i].name, listed + 1);
  }
  snprintf(idx + len, 65536 - len, "}}\n");
  write_text(dir, "model.safetensors.index.json", idx);
  free(idx);
  char path[512];
  for (int s = 0; s < 2; s++) {
    snprintf(path, sizeof path, "%s/model-0000%d-of-00002.safetensors", dir, s + 1);
    write_st(c, path, s);
  }
}

static void test_sharded(void **state) {
  (void)state;
  char dir[300];
  ckpt c = {0};
  sharded_dir(dir, sizeof dir, &c, NULL);
  pst_model *m = make_model(dir, "pst", 2, NULL);
  pst_hf_report rep;
  load_ok(dir, m, &rep);
  check_bert(m, &c, "bert.", 0, 1);
  check_tp(dir, m, rep.loaded);
  check_tp_model(dir, m, "pst", 2, rep.loaded);
  assert_int_equal(rep.nfiles, 4);
  assert_string_equal(rep.files[0], "config.json");
  assert_string_equal(rep.files[1], "model.safetensors.index.json");
  assert_true(strstr(rep.files[2], "-of-00002.safetensors") && strstr(rep.files[3], "-of-00002.safetensors"));
  assert_int_equal(rep.ignored, 2);
  pst_model_destroy(m);
  ckpt_free(&c);

  /* an index that points at the wrong shard */
  sharded_dir(dir, sizeof dir, &c, "bert.encoder.layer.1.attention.self.key.weight");
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"bert.encoder.layer.1.attention.self.key.weight", "listed in",
                                     "model.safetensors.index.json", "not stored there", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);

  /* a missing shard */
  sharded_dir(dir, sizeof dir, &c, NULL);
  char path[512];
  snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
  assert_int_equal(unlink(path), 0);
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_IO, (const char *[]){"model-00002-of-00002.safetensors", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);

  /* an index without weight_map */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  write_text(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT, (const char *[]){"model.safetensors.index.json", "weight_map", NULL});
  pst_model_destroy(m);
}

static void test_err_missing_tensor(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "bert.", 0, 1, 2);
  drop(&c, "bert.encoder.layer.1.output.dense.weight");
  write_model(&c, dir);
  pst_model *m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"model.safetensors", "'bert.encoder.layer.1.output.dense.weight' not found",
                                     "blk.1.fc2.w", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);

  /* no token embedding under either spelling: not a BERT checkpoint */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  bert_ckpt(&c, "bert.", 0, 0, 0);
  drop(&c, "bert.embeddings.word_embeddings.weight");
  write_model(&c, dir);
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"bert.embeddings.word_embeddings.weight", "not a bert checkpoint", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);

  /* no weights file at all */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_IO, (const char *[]){"neither model.safetensors nor", NULL});
  pst_model_destroy(m);
}

static void test_err_shape(void **state) {
  (void)state;
  char dir[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "bert.", 0, 1, 2);
  drop(&c, "bert.encoder.layer.0.attention.self.query.weight");
  add(&c, "bert.encoder.layer.0.attention.self.query.weight", H, H + 1);
  write_model(&c, dir);
  pst_model *m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"model.safetensors", "'bert.encoder.layer.0.attention.self.query.weight'",
                                     "has shape [4, 5], expected [4, 4]", "blk.0.q.w", NULL});
  /* sharded: the file is compared with the GLOBAL shape [4, 4], not the local [2, 4] */
  tp_table *tt = tp_build(m, 1, 2, tp_dim);
  expect_tp_error(dir, tt, PST_ERR_FORMAT,
                  (const char *[]){"'bert.encoder.layer.0.attention.self.query.weight'",
                                   "has shape [4, 5], expected [4, 4]", "blk.0.q.w", NULL});
  tp_free(tt);
  pst_model_destroy(m);
  ckpt_free(&c);

  /* a position table shorter than the model's */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  bert_ckpt(&c, "bert.", 0, 0, 0);
  drop(&c, "bert.embeddings.position_embeddings.weight");
  add(&c, "bert.embeddings.position_embeddings.weight", P - 1, H);
  write_model(&c, dir);
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"bert.embeddings.position_embeddings.weight", "[5, 4], expected at least [6, 4]", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);

  /* GPT-2 c_attn with the wrong width */
  new_dir(dir, sizeof dir);
  gpt2_config(dir);
  gpt2_ckpt(&c, "");
  drop(&c, "h.0.attn.c_attn.weight");
  add(&c, "h.0.attn.c_attn.weight", H, 2 * H);
  write_model(&c, dir);
  m = make_model(dir, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_FORMAT,
                    (const char *[]){"'h.0.attn.c_attn.weight' has shape [4, 8], expected [4, 12]", NULL});
  tt = tp_build(m, 0, 2, tp_dim);
  expect_tp_error(dir, tt, PST_ERR_FORMAT,
                  (const char *[]){"'h.0.attn.c_attn.weight' has shape [4, 8], expected [4, 12]", "blk.0.q.w", NULL});
  tp_free(tt);
  pst_model_destroy(m);
  ckpt_free(&c);

  /* GPT-2: q.w sharded along its columns is not supported; a shard outside its tensor */
  new_dir(dir, sizeof dir);
  gpt2_config(dir);
  gpt2_ckpt(&c, "");
  write_model(&c, dir);
  m = make_model(dir, "pst", 2, NULL);
  tt = tp_build(m, 0, 2, tp_dim_qcols);
  expect_tp_error(dir, tt, PST_ERR_ARG,
                  (const char *[]){"'blk.0.q.w' is sharded along dimension 1", "h.0.attn.c_attn.weight", NULL});
  tp_free(tt);
  tt = tp_build(m, 1, 2, tp_dim);
  for (int i = 0; i < tt->p.n; i++)
    if (!strcmp(tt->p.t[i].name, "blk.1.k.b")) tt->p.t[i].shard_start = 3; /* [3, 5) of 4 */
  expect_tp_error(dir, tt, PST_ERR_ARG, (const char *[]){"'blk.1.k.b'", "does not fit", NULL});
  tp_free(tt);
  pst_model_destroy(m);
  ckpt_free(&c);

  /* a classifier for 3 labels into a 2-label model: the fresh head stays, no error */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  bert_ckpt(&c, "bert.", 0, 1, 3);
  write_model(&c, dir);
  m = make_model(dir, "pst", 2, NULL);
  float *cw = snapshot(m, "cls.w");
  pst_hf_report rep;
  int saved = pst_log_level;
  pst_log_level = 0;
  load_ok(dir, m, &rep);
  pst_log_level = saved;
  assert_true(rep.pool_loaded);
  assert_false(rep.cls_loaded);
  assert_values(tensor(m, "cls.w"), cw, "the fresh head");
  free(cw);
  pst_model_destroy(m);
  ckpt_free(&c);
}

static void test_err_config(void **state) {
  (void)state;
  char dir[300];
  char buf[2048];
  /* missing required key */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 4, \"num_hidden_layers\": 2,\n"
                                 " \"intermediate_size\": 8, \"vocab_size\": 10, \"max_position_embeddings\": 6}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"config.json", "'num_attention_heads'", "missing", NULL});
  /* bad JSON */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 4,\n");
  expect_config_error(dir, PST_ERR_FORMAT, (const char *[]){"config.json", "invalid JSON", "line", NULL});
  /* not an object */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "[1, 2]");
  expect_config_error(dir, PST_ERR_FORMAT, (const char *[]){"config.json", "not a JSON object", NULL});
  /* a duplicate key is malformed JSON */
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", ", \"intermediate_size\": 8");
  expect_config_error(dir, PST_ERR_FORMAT, (const char *[]){"config.json", "invalid JSON", "duplicate", NULL});
  /* wrong type */
  new_dir(dir, sizeof dir);
  snprintf(buf, sizeof buf, "{\"model_type\": \"bert\", \"hidden_size\": 4.0, \"num_hidden_layers\": 2, "
                            "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"vocab_size\": 10, "
                            "\"max_position_embeddings\": 6}");
  write_text(dir, "config.json", buf);
  expect_config_error(dir, PST_ERR_CONFIG,
                      (const char *[]){"config.json", "'hidden_size'", "must be an integer", "real", NULL});
  /* unsupported activation */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 4, \"num_hidden_layers\": 2, "
                                 "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"vocab_size\": 10, "
                                 "\"max_position_embeddings\": 6, \"hidden_act\": \"relu\"}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"config.json", "'hidden_act'", "'relu'", NULL});
  /* unsupported model_type, and none at all */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"distilbert\", \"dim\": 4}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"config.json", "'distilbert'", "not supported", NULL});
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"hidden_size\": 4}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"config.json", "'model_type'", NULL});
  /* relative positions */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 4, \"num_hidden_layers\": 2, "
                                 "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"vocab_size\": 10, "
                                 "\"max_position_embeddings\": 6, \"position_embedding_type\": \"relative_key\"}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"'position_embedding_type'", "'relative_key'", NULL});
  /* heads do not divide hidden */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 5, \"num_hidden_layers\": 2, "
                                 "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"vocab_size\": 10, "
                                 "\"max_position_embeddings\": 6}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"'hidden_size' = 5", "'num_attention_heads' = 2", NULL});
  /* out of pst's range (model.vocab >= 2) */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 4, \"num_hidden_layers\": 2, "
                                 "\"num_attention_heads\": 2, \"intermediate_size\": 8, \"vocab_size\": 1, "
                                 "\"max_position_embeddings\": 6}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"config.json", "'vocab_size'", "out of range", NULL});
  /* GPT-2 with an untied head */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"model_type\": \"gpt2\", \"n_embd\": 4, \"n_layer\": 2, \"n_head\": 2, "
                                 "\"vocab_size\": 10, \"n_positions\": 6, \"tie_word_embeddings\": false}");
  expect_config_error(dir, PST_ERR_CONFIG, (const char *[]){"'tie_word_embeddings'", NULL});
  /* no config.json */
  new_dir(dir, sizeof dir);
  expect_config_error(dir, PST_ERR_IO, (const char *[]){"config.json", "no such file", NULL});
  /* model_type inferred from architectures */
  new_dir(dir, sizeof dir);
  write_text(dir, "config.json", "{\"architectures\": [\"GPT2LMHeadModel\"], \"n_embd\": 4, \"n_layer\": 2, "
                                 "\"n_head\": 2, \"vocab_size\": 10, \"n_ctx\": 6, \"n_inner\": 12}");
  pst_config cfg;
  pst_config_defaults(&cfg);
  assert_int_equal(pst_hf_read_config(dir, &cfg, NULL), PST_OK);
  assert_string_equal(cfg.arch, "gpt2");
  assert_int_equal(cfg.ffn, 12);
  assert_int_equal(cfg.max_positions, 6);
  assert_string_equal(cfg.activation, "gelu_tanh");
}

static void test_err_model_mismatch(void **state) {
  (void)state;
  char dir[300], other[300];
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  ckpt c = {0};
  bert_ckpt(&c, "bert.", 0, 0, 0);
  write_model(&c, dir);
  /* a model with 1 layer */
  pst_config cfg;
  pst_config_defaults(&cfg);
  assert_int_equal(pst_hf_read_config(dir, &cfg, NULL), PST_OK);
  cfg.layers = 1;
  cfg.r1 = cfg.r2 = 2;
  cfg.seq_len = 4;
  pst_model *m = NULL;
  assert_int_equal(pst_model_create(&m, &cfg, 1, 4, NULL), PST_OK);
  expect_load_error(dir, m, PST_ERR_ARG, (const char *[]){"config.json", "num_hidden_layers = 2", "1 layers", NULL});
  pst_model_destroy(m);
  /* a GPT-2 model from a BERT directory */
  new_dir(other, sizeof other);
  gpt2_config(other);
  m = make_model(other, "pst", 2, NULL);
  expect_load_error(dir, m, PST_ERR_ARG, (const char *[]){"model_type 'bert'", "model.arch = gpt2", NULL});
  pst_model_destroy(m);
  ckpt_free(&c);
}

static void test_num_labels(void **state) {
  (void)state;
  char dir[300];
  int n = -1;
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", ", \"id2label\": {\"0\": \"a\", \"1\": \"b\", \"2\": \"c\"}");
  assert_int_equal(pst_hf_read_num_labels(dir, &n), PST_OK);
  assert_int_equal(n, 3);
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", NULL);
  assert_int_equal(pst_hf_read_num_labels(dir, &n), PST_OK);
  assert_int_equal(n, 0);
  new_dir(dir, sizeof dir);
  bert_config(dir, "bert", ", \"num_labels\": 1");
  assert_int_equal(pst_hf_read_num_labels(dir, &n), PST_OK);
  assert_int_equal(n, 1);
}

static int setup(void **state) {
  (void)state;
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/pst-hf-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(root)) return -1;
  pst_log_level = 1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  return system(cmd) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bert_prefix),        cmocka_unit_test(test_bert_no_prefix),
      cmocka_unit_test(test_roberta),            cmocka_unit_test(test_gpt2_prefix),
      cmocka_unit_test(test_gpt2_no_prefix),     cmocka_unit_test(test_sharded),
      cmocka_unit_test(test_err_missing_tensor), cmocka_unit_test(test_err_shape),
      cmocka_unit_test(test_err_config),         cmocka_unit_test(test_err_model_mismatch),
      cmocka_unit_test(test_num_labels),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
