/* test_tokenizer_json.c — unit tests of the tokenizer.json-style BPE tokenizers
 * (pst_tokenizer_load_json, pst_tokenizer_from_vocab, pst_detokenize; src/data/hftok.c,
 * tokjson.c, tokspec.c, detok.c, pretok.c).
 *
 * Fixtures (tests/reference/make_llama_tokenizer_fixtures.py, PyPI tokenizers, committed under
 * tests/fixtures/tokenizer/json): five small trained tokenizers of the LLaMA family (llama3,
 * qwen2, smollm2 byte-level; llama2, mistral SentencePiece-style) and 2,346 texts. For each,
 * loaded from its tokenizer.json, every raw token list (pst_tokenize), decode
 * (pst_detokenize, specials skipped), model input at max_len 512 and 8 with its token types and
 * its decode with specials, and pairs at 512 and 9 must equal tokenizers' exactly; the same
 * again (but mistral, whose normalized added token has no GGUF form) with the tokenizer built
 * by pst_tokenizer_from_vocab from arrays taken out of the file as a GGUF converter would, and for
 * llama2 (whose merges the script made from SentencePiece scores as transformers'
 * LlamaConverter does) from the scores alone, the merges derived in C.
 * small.json: tiny hand-made tokenizers for the corners (byte fallback with missing bytes, unk
 * fused or not, no unk, Metaspace variants, lstrip / rstrip / normalized added tokens, Digits
 * runs, Bert / Roberta templates, bytes without a token).
 * The GPT-2 vocabulary (shared/data/vocab/gpt2) written as a tokenizer.json two ways (ByteLevel,
 * and Split(GPT-2 regex) + ByteLevel(use_regex=false)) must give the tokens of the existing
 * gpt2.json fixture. Any difference fails and prints the text and both id lists.
 *
 * Also: the Llama 3 / Qwen2 / Digits pre-tokenisers on hand cases; load errors naming the file
 * and the field (other model types, unknown Split pattern printed, malformed merges, missing
 * vocab, ...); pst_tokenizer_from_vocab argument errors and merges derived from scores;
 * pst_tokenizer_load_dir choosing tokenizer.json; decoding corners (U+FFFD for broken byte
 * runs, skipped specials, WordPiece refused). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkdtemp */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/tokenizer.h"

static char fixdir[1024];  /* tests/fixtures/tokenizer */
static char vocabdir[1024];
static char tmpdir[256];
static char created[64][512];
static int ncreated;
static json_t *texts; /* json/texts.json */

static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("message '%s' does not contain '%s'", hay, needle);
}

static const char *write_text(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  const char *p = NULL;
  for (int i = 0; i < ncreated && !p; i++)
    if (!strcmp(created[i], path)) p = created[i];
  if (!p) {
    assert_true(ncreated < 64);
    strcpy(created[ncreated], path);
    p = created[ncreated++];
  }
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
  fclose(f);
  return p;
}

static const char *make_subdir(const char *name) {
  assert_true(ncreated < 64);
  snprintf(created[ncreated], sizeof created[0], "%s/%s", tmpdir, name);
  assert_int_equal(mkdir(created[ncreated], 0700), 0);
  return created[ncreated++];
}

static json_t *load_json_file(const char *path) {
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  if (!doc) fail_msg("%s:%d: %s", path, je.line, je.text);
  return doc;
}

static char *quoted(const char *s) {
  json_t *j = json_string(s);
  char *r = json_dumps(j, JSON_ENCODE_ANY);
  json_decref(j);
  return r;
}

/* ids == expect (a JSON array of integers); else print the text and both lists, return 0 */
static int same_ids(const char *what, const char *text, const int32_t *ids, int n, json_t *expect) {
  int ok = json_is_array(expect) && (size_t)n == json_array_size(expect);
  for (int i = 0; ok && i < n; i++) ok = ids[i] == json_integer_value(json_array_get(expect, (size_t)i));
  if (!ok) {
    char *e = json_dumps(expect, JSON_COMPACT), *q = quoted(text);
    fprintf(stderr, "MISMATCH %s for %s\n  expected %s\n  got      [", what, q, e ? e : "?");
    for (int i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
    free(e);
    free(q);
  }
  return ok;
}

static int same_text(const char *what, const char *text, const char *got, const char *want) {
  if (!strcmp(got, want)) return 1;
  char *a = quoted(text), *b = quoted(want), *c = quoted(got);
  fprintf(stderr, "MISMATCH %s for %s\n  expected %s\n  got      %s\n", what, a, b, c);
  free(a), free(b), free(c);
  return 0;
}

/* The ids of a JSON array into buf (at most cap). */
static int json_ids(json_t *a, int32_t *buf, int cap) {
  int n = (int)json_array_size(a);
  assert_true(n <= cap);
  for (int i = 0; i < n; i++) buf[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
  return n;
}

/* ---- GGUF-style arrays from a tokenizer.json --------------------------------------------------- */

/* What a GGUF converter would write for the tokenizer.json doc: tokens by id, merges as
 * "a b", token types (added special -> control, or unknown for the unk token; added not
 * special -> user-defined; <0xAB> of a SentencePiece vocab -> byte; else normal). */
typedef struct {
  pst_tokenizer_spec spec;
  char **tok, **merge;
  int32_t *type;
  float *score;
  int nmerge;
} gguf_arrays;

static void gguf_free(gguf_arrays *g) {
  for (int i = 0; i < g->spec.ntokens; i++) free(g->tok[i]);
  for (int i = 0; i < g->nmerge; i++) free(g->merge[i]);
  free(g->tok);
  free(g->merge);
  free(g->type);
  free(g->score);
}

static void gguf_from_json(gguf_arrays *g, json_t *doc, const char *name) {
  memset(g, 0, sizeof *g);
  json_t *model = json_object_get(doc, "model"), *vocab = json_object_get(model, "vocab");
  json_t *added = json_object_get(doc, "added_tokens"), *merges = json_object_get(model, "merges"), *v;
  int sp = !strcmp(name, "llama2") || !strcmp(name, "mistral");
  int n = 0;
  const char *key;
  size_t i;
  json_object_foreach(vocab, key, v) if (json_integer_value(v) >= n) n = (int)json_integer_value(v) + 1;
  json_array_foreach(added, i, v) if (json_integer_value(json_object_get(v, "id")) >= n) n =
      (int)json_integer_value(json_object_get(v, "id")) + 1;
  g->tok = calloc((size_t)n, sizeof *g->tok);
  g->type = calloc((size_t)n, sizeof *g->type);
  g->score = calloc((size_t)n, sizeof *g->score);
  assert_non_null(g->tok), assert_non_null(g->type), assert_non_null(g->score);
  json_object_foreach(vocab, key, v) {
    int id = (int)json_integer_value(v);
    g->tok[id] = strdup(key);
    g->type[id] = sp && strlen(key) == 6 && !strncmp(key, "<0x", 3) ? PST_TOKTYPE_BYTE : PST_TOKTYPE_NORMAL;
    g->score[id] = id < 259 ? 0.0f : -(float)id; /* as the fixture script's sp_scores */
  }
  const char *unk = json_string_value(json_object_get(model, "unk_token"));
  json_array_foreach(added, i, v) {
    int id = (int)json_integer_value(json_object_get(v, "id"));
    const char *c = json_string_value(json_object_get(v, "content"));
    free(g->tok[id]);
    g->tok[id] = strdup(c);
    g->type[id] = !json_is_true(json_object_get(v, "special")) ? PST_TOKTYPE_USER_DEFINED
                  : unk && !strcmp(unk, c)                       ? PST_TOKTYPE_UNKNOWN
                                                                 : PST_TOKTYPE_CONTROL;
  }
  for (int k = 0; k < n; k++) assert_non_null(g->tok[k]); /* the fixtures have no holes */
  g->nmerge = g->spec.nmerges = (int)json_array_size(merges);
  g->merge = calloc((size_t)g->spec.nmerges + 1, sizeof *g->merge);
  json_array_foreach(merges, i, v) {
    if (json_is_string(v)) {
      g->merge[i] = strdup(json_string_value(v));
    } else {
      const char *a = json_string_value(json_array_get(v, 0)), *b = json_string_value(json_array_get(v, 1));
      g->merge[i] = malloc(strlen(a) + strlen(b) + 2);
      sprintf(g->merge[i], "%s %s", a, b);
    }
  }
  pst_tokenizer_spec *s = &g->spec;
  s->kind = sp ? PST_TOK_SENTENCEPIECE : PST_TOK_BYTE_LEVEL;
  s->pre = !strcmp(name, "llama3") ? "llama-bpe" : !strcmp(name, "qwen2") ? "qwen2" : !strcmp(name, "smollm2") ? "smollm" : NULL;
  s->tokens = (const char *const *)g->tok;
  s->ntokens = n;
  s->merges = (const char *const *)g->merge;
  s->token_types = g->type;
  s->bos_id = s->eos_id = s->unk_id = s->pad_id = -1;
  for (int k = 0; k < n; k++) {
    if (!strcmp(g->tok[k], "<s>") || !strcmp(g->tok[k], "<|begin_of_text|>")) s->bos_id = k;
    if (!strcmp(g->tok[k], "</s>") || !strcmp(g->tok[k], "<|end_of_text|>") || !strcmp(g->tok[k], "<|endoftext|>"))
      s->eos_id = k;
    if (unk && !strcmp(g->tok[k], unk)) s->unk_id = k;
  }
  s->add_bos = !strcmp(name, "llama3") || sp;
  s->identity = name;
}

/* ---- the trained fixtures ---------------------------------------------------------------------- */

/* via_arrays: 0 tokenizer.json, 1 arrays with merges, 2 arrays with scores instead of merges */
static pst_tokenizer *load_fixture(const char *name, int via_arrays, gguf_arrays *g) {
  char path[1200];
  snprintf(path, sizeof path, "%s/json/%s.json", fixdir, name);
  pst_tokenizer *t = NULL;
  if (!via_arrays) {
    if (pst_tokenizer_load_json(&t, path)) fail_msg("loading %s: %s", path, pst_err_message());
    assert_true(strncmp(pst_tokenizer_identity(t), "bpe-json ", 9) == 0);
    return t;
  }
  json_t *doc = load_json_file(path);
  gguf_from_json(g, doc, name);
  json_decref(doc);
  if (via_arrays == 2) g->spec.scores = g->score, g->spec.nmerges = 0;
  if (pst_tokenizer_from_vocab(&t, &g->spec)) fail_msg("arrays of %s: %s", path, pst_err_message());
  assert_string_equal(pst_tokenizer_identity(t), name);
  return t;
}

static void run_fixture(const char *name, int via_arrays) {
  gguf_arrays g;
  pst_tokenizer *t = load_fixture(name, via_arrays, &g);
  char path[1200];
  snprintf(path, sizeof path, "%s/json/%s.ids.json", fixdir, name);
  json_t *ids_doc = load_json_file(path);
  snprintf(path, sizeof path, "%s/json/%s.enc.json", fixdir, name);
  json_t *enc_doc = load_json_file(path);
  assert_int_equal(pst_tokenizer_vocab_size(t), json_integer_value(json_object_get(ids_doc, "vocab_size")));
  json_t *tokens = json_object_get(ids_doc, "tokens"), *decode = json_object_get(ids_doc, "decode");
  assert_int_equal(json_array_size(tokens), json_array_size(texts));
  assert_true(json_array_size(texts) >= 2000);
  long lists = 0, bad = 0;
  static int32_t want[8192];
  for (size_t i = 0; i < json_array_size(texts); i++) {
    const char *text = json_string_value(json_array_get(texts, i));
    int32_t *ids = NULL;
    int n = 0, cap = 0;
    if (pst_tokenize(t, text, &ids, &n, &cap)) fail_msg("%s: tokenize: %s", name, pst_err_message());
    bad += !same_ids("tokens", text, ids, n, json_array_get(tokens, i));
    free(ids);
    /* decode of the expected ids, specials skipped */
    char key[32], *dec;
    snprintf(key, sizeof key, "%zu", i);
    json_t *d = json_object_get(decode, key);
    int nw = json_ids(json_array_get(tokens, i), want, 8192);
    if (pst_detokenize(t, want, nw, PST_DETOK_SKIP_SPECIAL, &dec)) fail_msg("%s: decode: %s", name, pst_err_message());
    bad += !same_text("decode", text, dec, d ? json_string_value(d) : text);
    free(dec);
    lists += 2;
  }
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(enc_doc, "encode"), i, e) {
    const char *text = json_string_value(json_array_get(texts, i));
    static const int L[2] = {512, 8};
    for (int k = 0; k < 2; k++) {
      char key[8], what[32];
      snprintf(key, sizeof key, "%d", L[k]);
      int32_t ids[600], types[600];
      int len;
      if (pst_encode(t, text, NULL, L[k], ids, types, &len)) fail_msg("%s: encode: %s", name, pst_err_message());
      snprintf(what, sizeof what, "ids (max_len %d)", L[k]);
      bad += !same_ids(what, text, ids, len, json_array_get(json_object_get(e, key), 0));
      snprintf(what, sizeof what, "types (max_len %d)", L[k]);
      bad += !same_ids(what, text, types, len, json_array_get(json_object_get(e, key), 1));
      lists += 2;
      if (k == 0) { /* decode with the specials kept */
        char *dec;
        if (pst_detokenize(t, ids, len, 0, &dec)) fail_msg("%s: decode: %s", name, pst_err_message());
        bad += !same_text("decode with specials", text, dec, json_string_value(json_object_get(e, "keep")));
        free(dec);
        lists++;
      }
    }
  }
  json_array_foreach(json_object_get(enc_doc, "pairs"), i, e) {
    const char *a = json_string_value(json_array_get(texts, (size_t)json_integer_value(json_object_get(e, "a"))));
    const char *b = json_string_value(json_array_get(texts, (size_t)json_integer_value(json_object_get(e, "b"))));
    static const int L[2] = {512, 9};
    for (int k = 0; k < 2; k++) {
      char key[8], what[64];
      snprintf(key, sizeof key, "%d", L[k]);
      int32_t ids[1200], types[1200];
      int len;
      if (pst_encode(t, a, b, L[k], ids, types, &len)) fail_msg("%s: encode pair: %s", name, pst_err_message());
      snprintf(what, sizeof what, "pair ids (max_len %d, b = %.20s)", L[k], b);
      bad += !same_ids(what, a, ids, len, json_array_get(json_object_get(e, key), 0));
      snprintf(what, sizeof what, "pair types (max_len %d, b = %.20s)", L[k], b);
      bad += !same_ids(what, a, types, len, json_array_get(json_object_get(e, key), 1));
      lists += 2;
    }
  }
  printf("%s%s: %ld of %ld lists equal tokenizers' (%zu texts)\n", name,
         via_arrays == 2 ? " (arrays, merges from scores)" : via_arrays ? " (arrays)" : "", lists - bad,
         lists, json_array_size(texts));
  pst_tokenizer_free(t);
  if (via_arrays) gguf_free(&g);
  json_decref(ids_doc);
  json_decref(enc_doc);
  if (bad) fail_msg("%s: %ld of %ld lists differ from tokenizers'", name, bad, lists);
}

static void test_llama3(void **state) { (void)state; run_fixture("llama3", 0); }
static void test_qwen2(void **state) { (void)state; run_fixture("qwen2", 0); }
static void test_smollm2(void **state) { (void)state; run_fixture("smollm2", 0); }
static void test_llama2(void **state) { (void)state; run_fixture("llama2", 0); }
static void test_mistral(void **state) { (void)state; run_fixture("mistral", 0); }
static void test_llama3_arrays(void **state) { (void)state; run_fixture("llama3", 1); }
static void test_qwen2_arrays(void **state) { (void)state; run_fixture("qwen2", 1); }
static void test_smollm2_arrays(void **state) { (void)state; run_fixture("smollm2", 1); }
static void test_llama2_arrays(void **state) { (void)state; run_fixture("llama2", 1); }
static void test_llama2_scores(void **state) { (void)state; run_fixture("llama2", 2); }

/* The tiny hand-made tokenizers of small.json. */
static void test_small(void **state) {
  (void)state;
  char path[1200];
  snprintf(path, sizeof path, "%s/json/small.json", fixdir);
  json_t *doc = load_json_file(path);
  long lists = 0, bad = 0;
  size_t i, k;
  json_t *s, *c;
  json_array_foreach(json_object_get(doc, "small"), i, s) {
    const char *name = json_string_value(json_object_get(s, "name"));
    char *buf = json_dumps(json_object_get(s, "tokenizer"), JSON_COMPACT);
    pst_tokenizer *t;
    if (pst_tokenizer_load_json_buf(&t, name, buf, strlen(buf))) fail_msg("%s: %s", name, pst_err_message());
    free(buf);
    json_array_foreach(json_object_get(s, "cases"), k, c) {
      const char *text = json_string_value(json_object_get(c, "text"));
      char what[96], *dec;
      int32_t *ids = NULL, e[64], ty[64];
      int n = 0, cap = 0, len;
      assert_int_equal(pst_tokenize(t, text, &ids, &n, &cap), PST_OK);
      snprintf(what, sizeof what, "%s tokens", name);
      bad += !same_ids(what, text, ids, n, json_object_get(c, "tokens"));
      assert_int_equal(pst_detokenize(t, ids, n, PST_DETOK_SKIP_SPECIAL, &dec), PST_OK);
      snprintf(what, sizeof what, "%s decode", name);
      bad += !same_text(what, text, dec, json_string_value(json_object_get(c, "decode")));
      free(dec);
      free(ids);
      assert_int_equal(pst_encode(t, text, NULL, 64, e, ty, &len), PST_OK);
      snprintf(what, sizeof what, "%s encode", name);
      bad += !same_ids(what, text, e, len, json_array_get(json_object_get(c, "encode"), 0));
      bad += !same_ids(what, text, ty, len, json_array_get(json_object_get(c, "encode"), 1));
      assert_int_equal(pst_detokenize(t, e, len, 0, &dec), PST_OK);
      snprintf(what, sizeof what, "%s decode with specials", name);
      bad += !same_text(what, text, dec, json_string_value(json_object_get(c, "keep")));
      free(dec);
      assert_int_equal(pst_encode(t, text, "ab", 64, e, ty, &len), PST_OK);
      snprintf(what, sizeof what, "%s encode (text, \"ab\")", name);
      bad += !same_ids(what, text, e, len, json_array_get(json_object_get(c, "pair_ab"), 0));
      bad += !same_ids(what, text, ty, len, json_array_get(json_object_get(c, "pair_ab"), 1));
      lists += 7;
    }
    pst_tokenizer_free(t);
  }
  json_decref(doc);
  printf("small: %ld of %ld lists equal tokenizers'\n", lists - bad, lists);
  if (bad) fail_msg("small: %ld of %ld lists differ from tokenizers'", bad, lists);
}

/* ---- GPT-2 as a tokenizer.json ---------------------------------------------------------------- */

/* tokenizer.json text of the GPT-2 vocabulary with the given pre_tokenizer (JSON). */
static char *gpt2_tokenizer_json(const char *pre) {
  char p[1200];
  snprintf(p, sizeof p, "%s/gpt2/encoder.json", vocabdir);
  json_t *vocab = load_json_file(p);
  snprintf(p, sizeof p, "%s/gpt2/vocab.bpe", vocabdir);
  FILE *f = fopen(p, "rb");
  if (!f) fail_msg("%s not found (set PST_VOCAB_DIR)", p);
  json_t *merges = json_array();
  char line[512];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0] || !strncmp(line, "#version", 8)) continue;
    json_array_append_new(merges, json_string(line));
  }
  fclose(f);
  json_error_t je;
  json_t *pre_j = json_loads(pre, 0, &je);
  assert_non_null(pre_j);
  json_t *doc = json_pack("{s:o, s:n, s:o, s:o, s:{s:s, s:o, s:o, s:b}}", "added_tokens",
                          json_pack("[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}]", "id", 50256, "content", "<|endoftext|>",
                                    "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1),
                          "normalizer", "pre_tokenizer", pre_j, "post_processor",
                          json_pack("{s:s, s:b, s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0),
                          "model", "type", "BPE", "vocab", vocab, "merges", merges, "ignore_merges", 0);
  assert_non_null(doc);
  char *s = json_dumps(doc, JSON_COMPACT);
  json_decref(doc);
  return s;
}

static void test_gpt2_as_json(void **state) {
  (void)state;
  static const char *const pres[2] = {
      "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}",
      "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
      "\"'s|'t|'re|'ve|'m|'ll|'d| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"}, "
      "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
      "\"trim_offsets\": true, \"use_regex\": false}]}"};
  char path[1200];
  snprintf(path, sizeof path, "%s/gpt2.json", fixdir);
  json_t *fx = load_json_file(path);
  for (int k = 0; k < 2; k++) {
    char *js = gpt2_tokenizer_json(pres[k]);
    pst_tokenizer *t;
    if (pst_tokenizer_load_json_buf(&t, "gpt2-tokenizer.json", js, strlen(js))) fail_msg("%s", pst_err_message());
    free(js);
    assert_int_equal(pst_tokenizer_vocab_size(t), 50257);
    long lists = 0, bad = 0;
    static const char *const parts[2] = {"single", "random"};
    for (int p = 0; p < 2; p++) {
      size_t i;
      json_t *e;
      json_array_foreach(json_object_get(fx, parts[p]), i, e) {
        const char *text = json_string_value(json_object_get(e, "text"));
        int32_t *ids = NULL;
        int n = 0, cap = 0;
        assert_int_equal(pst_tokenize(t, text, &ids, &n, &cap), PST_OK);
        bad += !same_ids("gpt2 tokens", text, ids, n, json_object_get(e, "tokens"));
        char *dec;
        assert_int_equal(pst_detokenize(t, ids, n, 0, &dec), PST_OK);
        bad += !same_text("gpt2 decode", text, dec, text);
        free(dec);
        free(ids);
        lists += 2;
      }
    }
    printf("gpt2 as tokenizer.json (%s): %ld of %ld lists equal\n", k ? "Split" : "ByteLevel", lists - bad, lists);
    pst_tokenizer_free(t);
    if (bad) fail_msg("gpt2 as tokenizer.json: %ld lists differ", bad);
  }
  json_decref(fx);
}

/* ---- pre-tokenisers ------------------------------------------------------------------------------ */

static pst_err collect(void *ctx, const char *piece, size_t len) {
  char *out = ctx;
  strncat(out, piece, len);
  strcat(out, "|");
  return PST_OK;
}

static void test_pretokenizers(void **state) {
  (void)state;
  /* expected pieces from tokenizers' Split(Regex(pattern), "isolated") */
  static const char *const l3[][2] = {
      {"'\xc5\xbf x'S 'RE 'Ll", "'\xc5\xbf| x|'S| '|RE| '|Ll|"},
      {"a \n\n b", "a| \n\n| b|"},
      {"a  \n \t b", "a|  \n| \t| b|"},
      {"x\r\n\r\n  y", "x|\r\n\r\n| | y|"},
      {"12345 ab", "123|45| ab|"},
      {"!!\n\n", "!!\n\n|"},
      {" !!\r\nx", " !!\r\n|x|"},
      {"\t\tx", "\t|\tx|"},
      {"a \xc2\xa0" "b", "a| |\xc2\xa0" "b|"},
      {"  \n", "  \n|"},
      {"it's 'sx", "it|'s| '|sx|"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof l3 / sizeof l3[0]; i++) {
    char out[256] = "";
    assert_int_equal(pst_llama3_pretokenize(l3[i][0], strlen(l3[i][0]), 3, collect, out), PST_OK);
    if (strcmp(out, l3[i][1])) fail_msg("llama3 '%s' -> '%s', want '%s'", l3[i][0], out, l3[i][1]);
  }
  char out[256] = "";
  assert_int_equal(pst_llama3_pretokenize("12345 ab", 8, 1, collect, out), PST_OK);
  assert_string_equal(out, "1|2|3|4|5| ab|");
  out[0] = 0;
  assert_int_equal(pst_digits_pretokenize("a 12 \xc2\xbd" "x", 9, 1, collect, out), PST_OK);
  assert_string_equal(out, "a |1|2| |\xc2\xbd|x|");
  out[0] = 0;
  assert_int_equal(pst_digits_pretokenize("a 12 \xc2\xbd" "x", 9, 0, collect, out), PST_OK);
  assert_string_equal(out, "a |12| |\xc2\xbd|x|");
}

/* ---- errors ------------------------------------------------------------------------------------------ */

static void expect_json_error(const char *name, const char *json, const char *n1, const char *n2) {
  const char *p = write_text(name, json);
  pst_tokenizer *t = (pst_tokenizer *)&t;
  pst_err rc = pst_tokenizer_load_json(&t, p);
  if (rc != PST_ERR_FORMAT) fail_msg("%s: rc %d, want PST_ERR_FORMAT (%s)", name, rc, pst_err_message());
  assert_null(t);
  assert_contains(pst_err_message(), name);
  assert_contains(pst_err_message(), n1);
  if (n2) assert_contains(pst_err_message(), n2);
}

#define BPE_MODEL "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\"]}"

static void test_load_errors(void **state) {
  (void)state;
  static const char *const other[] = {"WordPiece", "Unigram", "WordLevel"};
  for (int i = 0; i < 3; i++) {
    char j[256];
    snprintf(j, sizeof j, "{\"model\": {\"type\": \"%s\", \"vocab\": {\"a\": 0}}}", other[i]);
    expect_json_error("other_model.json", j, "model.type", other[i]);
  }
  expect_json_error("unknown_pattern.json",
                    "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                    "\"pattern\": {\"Regex\": \"\\\\p{L}+|[0-9]{1,4}\"}, \"behavior\": \"Isolated\", \"invert\": false}]}, "
                    BPE_MODEL "}",
                    "pre_tokenizer.pretokenizers[0].pattern.Regex", "\\p{L}+|[0-9]{1,4}");
  expect_json_error("merge_one.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}}",
                    "model.merges[0]", "left right");
  expect_json_error("merge_nospace.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"aa\"]}}",
                    "model.merges[0]", NULL);
  expect_json_error("merge_num.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\", 3]}}",
                    "model.merges[0]", "\"b\" is not in the vocabulary");
  expect_json_error("merge_oov.json",
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
                    "model.merges[0]", "\"ab\" is not in the vocabulary");
  expect_json_error("merge_type.json",
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", 3]}}",
                    "model.merges[1]", NULL);
  expect_json_error("no_vocab.json", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", "model.vocab", NULL);
  expect_json_error("no_merges.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model.merges", NULL);
  expect_json_error("no_model.json", "{\"normalizer\": null}", "model", NULL);
  expect_json_error("bad_id.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}",
                    "model.vocab", "\"a\"");
  expect_json_error("not_json.json", "{\"model\": ", "not_json.json:1:", NULL);
  expect_json_error("unk.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"unk_token\": \"<unk>\"}}",
                    "model.unk_token", "<unk>");
  expect_json_error("dropout.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"dropout\": 0.1}}",
                    "model.dropout", NULL);
  expect_json_error("normalizer.json", "{\"normalizer\": {\"type\": \"Lowercase\"}, " BPE_MODEL "}", "normalizer.type",
                    "Lowercase");
  expect_json_error("pre.json", "{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, " BPE_MODEL "}", "pre_tokenizer.type",
                    "Whitespace");
  expect_json_error("bl_prefix.json", "{\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true}, " BPE_MODEL "}",
                    "pre_tokenizer.add_prefix_space", NULL);
  expect_json_error("bl_order.json",
                    "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\", "
                    "\"use_regex\": false}, {\"type\": \"Digits\"}]}, " BPE_MODEL "}",
                    "ByteLevel must be the last", NULL);
  expect_json_error("behavior.json",
                    "{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"x\"}, \"behavior\": "
                    "\"Removed\"}, " BPE_MODEL "}",
                    "pre_tokenizer.behavior", "Removed");
  expect_json_error("single_word.json",
                    "{\"added_tokens\": [{\"id\": 3, \"content\": \"<x>\", \"single_word\": true, \"special\": true}], "
                    BPE_MODEL "}",
                    "added_tokens[0].single_word", NULL);
  expect_json_error("added_bad.json", "{\"added_tokens\": [{\"id\": \"3\", \"content\": \"<x>\"}], " BPE_MODEL "}",
                    "added_tokens[0]", NULL);
  expect_json_error("post.json", "{\"post_processor\": {\"type\": \"Weird\"}, " BPE_MODEL "}", "post_processor.type", "Weird");
  expect_json_error("template.json",
                    "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": "
                    "{\"id\": \"<s>\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}, " BPE_MODEL "}",
                    "post_processor.single[0]", "<s>");
  pst_tokenizer *t;
  char missing[600];
  snprintf(missing, sizeof missing, "%s/no_such_tokenizer.json", tmpdir);
  assert_int_equal(pst_tokenizer_load_json(&t, missing), PST_ERR_IO);
  assert_contains(pst_err_message(), missing);
}

/* ---- arrays ------------------------------------------------------------------------------------------- */

static void test_from_vocab(void **state) {
  (void)state;
  pst_tokenizer *t = (pst_tokenizer *)&t;
  static const char *const tok[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\xe2\x96\x81" "a", "ab",
                                    "<0xC3>", "<0xA9>", "\xe2\x96\x81" "ab"};
  static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 6, 6, 1};
  static const char *const merges[] = {"\xe2\x96\x81 a", "a b", "\xe2\x96\x81" "a b"};
  static const float scores[] = {0, 0, 0, -1, -2, -3, -4, -5, 0, 0, -6};
  pst_tokenizer_spec s = {.kind = PST_TOK_SENTENCEPIECE, .tokens = tok, .ntokens = 11, .merges = merges, .nmerges = 3,
                          .token_types = types, .bos_id = 1, .eos_id = 2, .unk_id = 0, .pad_id = -1, .add_bos = 1,
                          .identity = "test-spm"};
  assert_int_equal(pst_tokenizer_from_vocab(&t, &s), PST_OK);
  assert_int_equal(pst_tokenizer_bos_id(t), 1);
  assert_int_equal(pst_tokenizer_eos_id(t), 2);
  assert_int_equal(pst_tokenizer_pad_id(t), 2); /* no pad: eos */
  assert_string_equal(pst_tokenizer_identity(t), "test-spm");
  int32_t ids[16];
  int len;
  assert_int_equal(pst_encode(t, "ab \xc3\xa9</s>", NULL, 16, ids, NULL, &len), PST_OK);
  static const int32_t want[] = {1, 10, 3, 8, 9, 2};
  assert_int_equal(len, 6);
  for (int i = 0; i < 6; i++) assert_int_equal(ids[i], want[i]);
  char *dec;
  assert_int_equal(pst_detokenize(t, ids, len, PST_DETOK_SKIP_SPECIAL, &dec), PST_OK);
  assert_string_equal(dec, "ab \xc3\xa9");
  free(dec);
  pst_tokenizer_free(t);
  /* the same merges derived from the scores (the merged token's score ranks a merge) */
  s.merges = NULL, s.nmerges = 0, s.scores = scores;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &s), PST_OK);
  assert_int_equal(pst_encode(t, "ab \xc3\xa9</s>", NULL, 16, ids, NULL, &len), PST_OK);
  assert_int_equal(len, 6);
  for (int i = 0; i < 6; i++) assert_int_equal(ids[i], want[i]);
  pst_tokenizer_free(t);
  /* argument errors name the field */
  t = (pst_tokenizer *)&t;
  pst_tokenizer_spec b = s;
  b.scores = NULL;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "merges or scores");
  assert_null(t);
  b = s, b.kind = 7;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "spec.kind");
  b = s, b.bos_id = 11;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "spec.bos_id");
  static const char *const bad_merges[] = {"a b", "b a"};
  b = s, b.merges = bad_merges, b.nmerges = 2;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "spec.merges[1]");
  assert_contains(pst_err_message(), "\"ba\"");
  b = s, b.kind = PST_TOK_BYTE_LEVEL, b.pre = "falcon";
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "falcon");
  static const char *const badutf[] = {"a", "\xff"};
  b = s, b.tokens = badutf, b.ntokens = 2, b.token_types = NULL, b.bos_id = b.eos_id = b.unk_id = -1, b.add_bos = 0;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "spec.tokens[1]");
  static const int32_t badtype[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 9, 1};
  b = s, b.token_types = badtype;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_ERR_ARG);
  assert_contains(pst_err_message(), "spec.token_types[9]");
  assert_null(t);
}

/* ---- directories and decoding ------------------------------------------------------------------- */

static void test_load_dir(void **state) {
  (void)state;
  char src[1200];
  snprintf(src, sizeof src, "%s/json/small.json", fixdir);
  json_t *small = load_json_file(src);
  char *js = json_dumps(json_object_get(json_array_get(json_object_get(small, "small"), 0), "tokenizer"), JSON_COMPACT);
  json_decref(small);
  const char *d = make_subdir("dir_json");
  write_text("dir_json/tokenizer.json", js);
  free(js);
  pst_tokenizer *t;
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe-json sentencepiece sha256:", 30) == 0);
  assert_int_equal(pst_tokenizer_bos_id(t), 1);
  assert_int_equal(pst_tokenizer_eos_id(t), 2);
  assert_int_equal(pst_tokenizer_pad_id(t), 2);
  pst_tokenizer_free(t);
  /* tokenizer_config.json names the specials */
  write_text("dir_json/tokenizer_config.json", "{\"bos_token\": {\"content\": \"</s>\"}, \"eos_token\": \"<s>\", "
                                               "\"pad_token\": \"<unk>\"}");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_int_equal(pst_tokenizer_bos_id(t), 2);
  assert_int_equal(pst_tokenizer_eos_id(t), 1);
  assert_int_equal(pst_tokenizer_pad_id(t), 0);
  pst_tokenizer_free(t);
  /* vocab.json + merges.txt still win over tokenizer.json */
  write_text("dir_json/vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
  write_text("dir_json/merges.txt", "a b\n");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe gpt2", 8) == 0);
  pst_tokenizer_free(t);
  /* a broken tokenizer.json is reported */
  d = make_subdir("dir_bad");
  write_text("dir_bad/tokenizer.json", "{\"model\": {\"type\": \"Unigram\"}}");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_ERR_FORMAT);
  assert_contains(pst_err_message(), "dir_bad/tokenizer.json");
}

static void test_decode(void **state) {
  (void)state;
  static const char *const tok[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "<0xC3>", "<0xA9>", "<0xFF>", "<0x41>"};
  static const int32_t types[] = {2, 3, 3, 1, 1, 6, 6, 6, 6};
  static const float scores[] = {0, 0, 0, -1, -2, 0, 0, 0, 0};
  pst_tokenizer_spec s = {.kind = PST_TOK_SENTENCEPIECE, .tokens = tok, .ntokens = 9, .scores = scores,
                          .token_types = types, .bos_id = 1, .eos_id = 2, .unk_id = 0, .pad_id = -1};
  pst_tokenizer *t;
  assert_int_equal(pst_tokenizer_from_vocab(&t, &s), PST_OK);
  static const struct {
    int32_t ids[6];
    int n, flags;
    const char *want;
  } cases[] = {
      {{3, 4, 5, 6}, 4, 0, "a\xc3\xa9"},               /* leading space stripped, bytes joined */
      {{5, 4, 6}, 3, 0, "\xef\xbf\xbd" "a\xef\xbf\xbd"}, /* broken runs: U+FFFD per byte */
      {{7, 8}, 2, 0, "\xef\xbf\xbd\xef\xbf\xbd"},
      {{1, 3, 4, 2}, 4, 0, "<s> a</s>"},
      {{1, 3, 4, 2}, 4, PST_DETOK_SKIP_SPECIAL, "a"},
      {{0, 3, 3, 4}, 4, PST_DETOK_SKIP_SPECIAL, " a"},  /* <unk> is special too */
      {{4, 99, -1}, 3, 0, "a"},                             /* no such ids: left out */
      {{0}, 0, 0, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *dec;
    assert_int_equal(pst_detokenize(t, cases[i].ids, cases[i].n, cases[i].flags, &dec), PST_OK);
    if (strcmp(dec, cases[i].want)) fail_msg("case %zu: '%s', want '%s'", i, dec, cases[i].want);
    free(dec);
  }
  pst_tokenizer_free(t);
  /* byte-level: ill-formed UTF-8 of partial tokens becomes U+FFFD per maximal subpart */
  static const char *const bl[] = {"\xc3\xa3", "\xc4\xa3", "\xc4\xa0", "a"}; /* bytes E3, 81, space (Ġ), a */
  pst_tokenizer_spec b = {.kind = PST_TOK_BYTE_LEVEL, .tokens = bl, .ntokens = 4, .bos_id = -1, .eos_id = -1,
                          .unk_id = -1, .pad_id = -1};
  assert_int_equal(pst_tokenizer_from_vocab(&t, &b), PST_OK);
  int32_t ids[] = {0, 1, 2, 3, 1, 0};
  char *dec;
  assert_int_equal(pst_detokenize(t, ids, 6, 0, &dec), PST_OK);
  assert_string_equal(dec, "\xef\xbf\xbd a\xef\xbf\xbd\xef\xbf\xbd"); /* E3 81 | space a | 81 | E3 */
  free(dec);
  pst_tokenizer_free(t);
  /* GPT-2 / RoBERTa from encoder.json + vocab.bpe decode too (RoBERTa's specials skipped or kept) */
  char v[1200], m[1200];
  snprintf(v, sizeof v, "%s/gpt2/encoder.json", vocabdir);
  snprintf(m, sizeof m, "%s/gpt2/vocab.bpe", vocabdir);
  assert_int_equal(pst_tokenizer_load_bpe(&t, v, m, 1), PST_OK);
  const char *text = "Hello <mask> w\xc3\xb6rld \xf0\x9f\x98\x80\n";
  int32_t e[64];
  int len;
  assert_int_equal(pst_encode(t, text, NULL, 64, e, NULL, &len), PST_OK);
  assert_int_equal(pst_detokenize(t, e, len, 0, &dec), PST_OK);
  assert_string_equal(dec, "<s>Hello <mask> w\xc3\xb6rld \xf0\x9f\x98\x80\n</s>");
  free(dec);
  assert_int_equal(pst_detokenize(t, e, len, PST_DETOK_SKIP_SPECIAL, &dec), PST_OK);
  assert_string_equal(dec, "Hello  w\xc3\xb6rld \xf0\x9f\x98\x80\n");
  free(dec);
  assert_int_equal(pst_tokenizer_bos_id(t), 50257); /* appended after GPT-2's vocab */
  assert_int_equal(pst_tokenizer_eos_id(t), 50258);
  pst_tokenizer_free(t);
  /* WordPiece has no decoder here */
  const char *wpv = write_text("wp.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nx\n");
  assert_int_equal(pst_tokenizer_load_wordpiece(&t, wpv, 1), PST_OK);
  assert_int_equal(pst_detokenize(t, ids, 1, 0, &dec), PST_ERR_ARG);
  assert_int_equal(pst_tokenizer_bos_id(t), 2);
  assert_int_equal(pst_tokenizer_eos_id(t), 3);
  pst_tokenizer_free(t);
}

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/pst_test_tokjson_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) return -1;
  char p[1200];
  snprintf(p, sizeof p, "%s/json/texts.json", fixdir);
  json_error_t je;
  texts = json_load_file(p, 0, &je);
  if (!texts) fprintf(stderr, "%s:%d: %s\n", p, je.line, je.text);
  return texts ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  for (int i = ncreated - 1; i >= 0; i--)
    if (unlink(created[i]) != 0) rmdir(created[i]);
  rmdir(tmpdir);
  json_decref(texts);
  return 0;
}

int main(int argc, char **argv) {
  const char *top = getenv("top_srcdir");
  if (!top || !*top) top = ".";
  if (argc > 1) snprintf(fixdir, sizeof fixdir, "%s", argv[1]);
  else if (getenv("PST_FIXTURES")) snprintf(fixdir, sizeof fixdir, "%s", getenv("PST_FIXTURES"));
  else snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/tokenizer", top);
  if (getenv("PST_VOCAB_DIR")) {
    snprintf(vocabdir, sizeof vocabdir, "%s", getenv("PST_VOCAB_DIR"));
  } else {
    snprintf(vocabdir, sizeof vocabdir, "%s/shared/data/vocab", top);
    if (!is_dir(vocabdir)) snprintf(vocabdir, sizeof vocabdir, "%s/../shared/data/vocab", top);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_pretokenizers), cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_from_vocab),    cmocka_unit_test(test_load_dir),
      cmocka_unit_test(test_decode),        cmocka_unit_test(test_small),
      cmocka_unit_test(test_llama3),        cmocka_unit_test(test_qwen2),
      cmocka_unit_test(test_smollm2),       cmocka_unit_test(test_llama2),
      cmocka_unit_test(test_mistral),       cmocka_unit_test(test_llama3_arrays),
      cmocka_unit_test(test_qwen2_arrays),  cmocka_unit_test(test_smollm2_arrays),
      cmocka_unit_test(test_llama2_arrays), cmocka_unit_test(test_llama2_scores),
      cmocka_unit_test(test_gpt2_as_json),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
