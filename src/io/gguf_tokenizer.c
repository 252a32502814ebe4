/* gguf_tokenizer.c — the tokenizer.ggml.* metadata of a GGUF file as plain C arrays
 * (pst_gguf_tokenizer, gguf_llama.h), validated; tokenization itself lives elsewhere.
 *
 * All strings (tokens, merges) are copied into one arena of sum(len + 1) bytes, bounded by the
 * file size; the pointer arrays hold ntokens / nmerges entries. */
#include "pst/gguf_llama.h"

#include <stdlib.h>
#include <string.h>

void pst_gguf_tokenizer_free(pst_gguf_tokenizer *tok) {
  if (!tok) return;
  free(tok->tokens);
  free(tok->token_type);
  free(tok->scores);
  free(tok->merges);
  free(tok->arena_);
  memset(tok, 0, sizeof *tok);
  tok->bos_id = tok->eos_id = tok->unk_id = tok->pad_id = -1;
  tok->add_bos = tok->add_eos = -1;
}

/* Bytes of all strings of a string array plus one NUL each. */
static pst_err arr_bytes(const pst_gguf *g, const char *key, uint64_t n, uint64_t *total) {
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    uint64_t len;
    PST_CHECK(pst_gguf_arr_str(g, key, i, &s, &len));
    *total += len + 1; /* len < file size: no overflow */
  }
  return PST_OK;
}

/* Copy string array key (n elements) into out[n] inside the arena at *pos. */
static pst_err arr_copy(const pst_gguf *g, const char *key, uint64_t n, char **out, char *arena, uint64_t *pos) {
  for (uint64_t i = 0; i < n; i++) {
    const char *s;
    uint64_t len;
    PST_CHECK(pst_gguf_arr_str(g, key, i, &s, &len));
    if (memchr(s, 0, (size_t)len))
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': element %llu contains a NUL byte", pst_gguf_path(g), key,
              (unsigned long long)i);
    out[i] = arena + *pos;
    memcpy(out[i], s, (size_t)len);
    out[i][len] = 0;
    *pos += len + 1;
  }
  return PST_OK;
}

/* A string array's length (0 if absent; required: error if absent). */
static pst_err str_array(const pst_gguf *g, const char *key, int required, uint64_t *n) {
  *n = 0;
  if (!required && pst_gguf_kv_find(g, key) < 0) return PST_OK;
  int et;
  PST_CHECK(pst_gguf_get_arr(g, key, &et, n));
  if (et != PST_GGUF_STRING)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' is an array of %s, expected an array of string", pst_gguf_path(g),
            key, pst_gguf_type_name(et));
  if (*n > (1u << 24))
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' has %llu entries (at most %u supported)", pst_gguf_path(g), key,
            (unsigned long long)*n, 1u << 24);
  return PST_OK;
}

/* Optional token id in [0, ntokens) into *out (-1 if absent). */
static pst_err token_id(const pst_gguf *g, const char *key, int ntokens, int *out) {
  *out = -1;
  if (pst_gguf_kv_find(g, key) < 0) return PST_OK;
  uint32_t v;
  PST_CHECK(pst_gguf_get_u32(g, key, &v));
  if (v >= (uint32_t)ntokens)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %u is not a token id (the vocabulary has %d tokens)",
            pst_gguf_path(g), key, v, ntokens);
  *out = (int)v;
  return PST_OK;
}

static pst_err opt_bool(const pst_gguf *g, const char *key, int *out) {
  *out = -1;
  if (pst_gguf_kv_find(g, key) < 0) return PST_OK;
  PST_CHECK(pst_gguf_get_bool(g, key, out));
  return PST_OK;
}

/* An optional per-token array (integers into i32 or floats into f32) of exactly n entries. */
static pst_err per_token(const pst_gguf *g, const char *key, int n, int is_float, void **out) {
  *out = NULL;
  if (pst_gguf_kv_find(g, key) < 0) return PST_OK;
  int et;
  uint64_t cnt;
  PST_CHECK(pst_gguf_get_arr(g, key, &et, &cnt));
  if (cnt != (uint64_t)n)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' has %llu entries but tokenizer.ggml.tokens has %d",
            pst_gguf_path(g), key, (unsigned long long)cnt, n);
  void *buf = malloc(n ? (size_t)n * 4 : 1);
  if (!buf) PST_ERR(PST_ERR_MEM, "%s: out of memory reading '%s'", pst_gguf_path(g), key);
  *out = buf;
  for (int i = 0; i < n; i++) {
    if (is_float) {
      double v;
      PST_CHECK(pst_gguf_arr_float(g, key, (uint64_t)i, &v));
      ((float *)buf)[i] = (float)v;
    } else {
      int64_t v;
      PST_CHECK(pst_gguf_arr_int(g, key, (uint64_t)i, &v));
      if (v < INT32_MIN || v > INT32_MAX)
        PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': element %d = %lld is out of the i32 range", pst_gguf_path(g),
                key, i, (long long)v);
      ((int32_t *)buf)[i] = (int32_t)v;
    }
  }
  return PST_OK;
}

static pst_err tok_read(const pst_gguf *g, int vocab, pst_gguf_tokenizer *t) {
  const char *path = pst_gguf_path(g), *s;
  PST_CHECK(pst_gguf_get_str(g, "tokenizer.ggml.model", &s, NULL));
  if (strlen(s) >= sizeof t->model)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'tokenizer.ggml.model' = '%.40s...' is too long", path, s);
  snprintf(t->model, sizeof t->model, "%s", s);
  if (pst_gguf_kv_find(g, "tokenizer.ggml.pre") >= 0) {
    PST_CHECK(pst_gguf_get_str(g, "tokenizer.ggml.pre", &s, NULL));
    if (strlen(s) >= sizeof t->pre)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'tokenizer.ggml.pre' = '%.40s...' is too long", path, s);
    snprintf(t->pre, sizeof t->pre, "%s", s);
  }
  uint64_t nt, nm;
  PST_CHECK(str_array(g, "tokenizer.ggml.tokens", 1, &nt));
  PST_CHECK(str_array(g, "tokenizer.ggml.merges", 0, &nm));
  if (nt == 0) PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'tokenizer.ggml.tokens' is empty", path);
  if (vocab > 0 && nt != (uint64_t)vocab)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'tokenizer.ggml.tokens' has %llu tokens but the model's vocabulary is %d",
            path, (unsigned long long)nt, vocab);
  uint64_t bytes = 0;
  PST_CHECK(arr_bytes(g, "tokenizer.ggml.tokens", nt, &bytes));
  if (nm) PST_CHECK(arr_bytes(g, "tokenizer.ggml.merges", nm, &bytes));
  t->arena_ = malloc((size_t)bytes);
  t->tokens = malloc((size_t)nt * sizeof *t->tokens);
  if (nm) t->merges = malloc((size_t)nm * sizeof *t->merges);
  if (!t->arena_ || !t->tokens || (nm && !t->merges))
    PST_ERR(PST_ERR_MEM, "%s: out of memory for %llu tokenizer strings", path, (unsigned long long)(nt + nm));
  uint64_t pos = 0;
  PST_CHECK(arr_copy(g, "tokenizer.ggml.tokens", nt, t->tokens, t->arena_, &pos));
  t->ntokens = (int)nt;
  if (nm) PST_CHECK(arr_copy(g, "tokenizer.ggml.merges", nm, t->merges, t->arena_, &pos));
  t->nmerges = (int)nm;
  void *p;
  PST_CHECK(per_token(g, "tokenizer.ggml.token_type", t->ntokens, 0, &p));
  t->token_type = p;
  PST_CHECK(per_token(g, "tokenizer.ggml.scores", t->ntokens, 1, &p));
  t->scores = p;
  PST_CHECK(token_id(g, "tokenizer.ggml.bos_token_id", t->ntokens, &t->bos_id));
  PST_CHECK(token_id(g, "tokenizer.ggml.eos_token_id", t->ntokens, &t->eos_id));
  PST_CHECK(token_id(g, "tokenizer.ggml.unknown_token_id", t->ntokens, &t->unk_id));
  PST_CHECK(token_id(g, "tokenizer.ggml.padding_token_id", t->ntokens, &t->pad_id));
  PST_CHECK(opt_bool(g, "tokenizer.ggml.add_bos_token", &t->add_bos));
  PST_CHECK(opt_bool(g, "tokenizer.ggml.add_eos_token", &t->add_eos));
  return PST_OK;
}

pst_err pst_gguf_tokenizer_read(const pst_gguf *g, int vocab, pst_gguf_tokenizer *tok) {
  if (!g || !tok) PST_ERR(PST_ERR_ARG, "pst_gguf_tokenizer_read: NULL argument");
  memset(tok, 0, sizeof *tok);
  pst_gguf_tokenizer_free(tok); /* the empty state: ids -1 */
  pst_err rc = tok_read(g, vocab, tok);
  if (rc) {
    pst_gguf_tokenizer_free(tok);
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  return rc;
}

pst_err pst_gguf_read_tokenizer(const char *path, pst_gguf_tokenizer *tok) {
  pst_gguf *g;
  PST_CHECK(pst_gguf_open(&g, path));
  pst_gguf_llama m;
  int vocab = 0;
  pst_err rc = PST_OK;
  const int ia = pst_gguf_kv_find(g, "general.architecture");
  const char *arch = NULL;
  if (ia >= 0 && pst_gguf_kv_type(g, ia) == PST_GGUF_STRING && !pst_gguf_get_str(g, "general.architecture", &arch, NULL) &&
      (!strcmp(arch, "llama") || !strcmp(arch, "qwen2"))) {
    rc = pst_gguf_llama_read(g, &m);
    vocab = m.vocab;
  }
  if (!rc) rc = pst_gguf_tokenizer_read(g, vocab, tok);
  pst_gguf_close(g);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
