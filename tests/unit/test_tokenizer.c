/* test_tokenizer.c — unit tests of the tokenizers (include/pst/tokenizer.h, src/data/tokenizer.c,
 * wordpiece.c, bpe.c).
 *
 * Fixtures (tests/reference/make_tokenizer_fixtures.py, Hugging Face transformers/tokenizers on
 * the corpus tests/fixtures/tokenizer/corpus.txt and seeded random strings): for bert-uncased,
 * bert-cased, gpt2 and roberta, every raw token list (pst_tokenize) and every model input at each
 * max_len (pst_encode: ids and token types, single sequences and pairs with longest-first
 * truncation) must equal HF's exactly.
 * unicode.json: HF's class of every code point (BERT clean-text / white space / CJK / punctuation,
 * GPT-2 regex \s \p{L} \p{N}) and BertNormalizer(lowercase) output of every single code point.
 * The fixture directory is argv[1], else $PST_FIXTURES, else $top_srcdir/tests/fixtures/tokenizer;
 * the vocabularies are $PST_VOCAB_DIR, else $top_srcdir/shared/data/vocab or
 * $top_srcdir/../shared/data/vocab (bert-base-uncased/vocab.txt, gpt2/encoder.json + vocab.bpe);
 * without them the fixture tests are skipped (and say so).
 *
 * Also: SHA-256 test vectors and identity strings; invalid UTF-8 (stray continuation, overlong,
 * surrogate, > U+10FFFF, truncated, bad continuation) is PST_ERR_FORMAT naming the byte offset,
 * for both tokenizers and for pst_encode's a and b; the empty string gives zero tokens; small
 * hand-made vocabularies (greedy longest match, ## pieces, [UNK] for an unmatched piece and for
 * words over 100 characters; merges by rank, leftmost on ties, duplicate merge keeps its last
 * rank, bytes without a token dropped); GPT-2 pre-tokenisation pieces; load errors naming the
 * file (and line) for missing files, invalid UTF-8, missing specials, malformed JSON, non-integer
 * ids, bad merge lines and merge tokens missing from the vocab; pst_tokenizer_load_dir choices
 * (and its refusal of strip_accents / tokenize_chinese_chars settings it cannot follow);
 * pst_encode argument errors and the truncation rule. */
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

static char fixdir[1024];
static char vocabdir[1024];
static char tmpdir[256];
static char created[64][512];
static int ncreated;

static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle)) fail_msg("message '%s' does not contain '%s'", hay, needle);
}

static const char *write_file(const char *name, const void *data, size_t len) {
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
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
  return p;
}
static const char *write_text(const char *name, const char *text) { return write_file(name, text, strlen(text)); }

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s/pst_test_tok_XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  for (int i = ncreated - 1; i >= 0; i--)
    if (unlink(created[i]) != 0) rmdir(created[i]);
  rmdir(tmpdir);
  return 0;
}

static const char *make_subdir(const char *name) {
  assert_true(ncreated < 64);
  snprintf(created[ncreated], sizeof created[0], "%s/%s", tmpdir, name);
  assert_int_equal(mkdir(created[ncreated], 0700), 0);
  return created[ncreated++];
}

/* ---- helpers ---------------------------------------------------------------------------------- */

static int tokenize(const pst_tokenizer *t, const char *text, int32_t **ids, int *n) {
  int cap = 0;
  *ids = NULL;
  *n = 0;
  return pst_tokenize(t, text, ids, n, &cap);
}

/* ids == expect (a JSON array of integers); else print a diff line and return 0 */
static int same_ids(const char *what, const char *text, const int32_t *ids, int n, json_t *expect) {
  int ok = json_is_array(expect) && (size_t)n == json_array_size(expect);
  for (int i = 0; ok && i < n; i++) ok = ids[i] == json_integer_value(json_array_get(expect, (size_t)i));
  if (!ok) {
    char *e = json_dumps(expect, JSON_COMPACT);
    fprintf(stderr, "MISMATCH %s for %s\n  expected %s\n  got      [", what, text, e ? e : "?");
    for (int i = 0; i < n; i++) fprintf(stderr, "%s%d", i ? ", " : "", ids[i]);
    fprintf(stderr, "]\n");
    free(e);
  }
  return ok;
}

static char *quoted(const char *s) {
  json_t *j = json_string(s);
  char *r = json_dumps(j, JSON_ENCODE_ANY);
  json_decref(j);
  return r;
}

static int have_vocab(void) {
  char p[1200];
  snprintf(p, sizeof p, "%s/bert-base-uncased/vocab.txt", vocabdir);
  if (access(p, R_OK) != 0) /* the shared data sits beside the repo in CI: missing is a failure */
    fail_msg("vocabularies not found under '%s' (set PST_VOCAB_DIR)", vocabdir);
  return 1;
}

/* Load the tokenizer a fixture names, from vocabdir. */
static pst_tokenizer *load_fixture_tokenizer(json_t *doc) {
  char v[1200], m[1200];
  pst_tokenizer *t = NULL;
  const char *kind = json_string_value(json_object_get(doc, "kind"));
  snprintf(v, sizeof v, "%s/%s", vocabdir, json_string_value(json_object_get(doc, "vocab")));
  pst_err rc;
  if (!strcmp(kind, "wordpiece")) {
    rc = pst_tokenizer_load_wordpiece(&t, v, json_is_true(json_object_get(doc, "lowercase")));
  } else {
    snprintf(m, sizeof m, "%s/%s", vocabdir, json_string_value(json_object_get(doc, "merges")));
    rc = pst_tokenizer_load_bpe(&t, v, m, json_is_true(json_object_get(doc, "roberta")));
  }
  if (rc) fail_msg("loading %s: %s", v, pst_err_message());
  return t;
}

/* Every raw token list and encoding of fixture NAME.json must equal HF's. */
static void run_fixture(const char *name) {
  if (!have_vocab()) {
    skip();
    return;
  }
  char path[1200];
  snprintf(path, sizeof path, "%s/%s.json", fixdir, name);
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  if (!doc) fail_msg("%s:%d: %s", path, je.line, je.text);
  pst_tokenizer *t = load_fixture_tokenizer(doc);
  assert_int_equal(pst_tokenizer_vocab_size(t), json_integer_value(json_object_get(doc, "vocab_size")));
  assert_int_equal(pst_tokenizer_pad_id(t), json_integer_value(json_object_get(doc, "pad_id")));

  json_t *smax = json_object_get(doc, "single_max_len"), *pmax = json_object_get(doc, "pair_max_len");
  long lists = 0, bad = 0, texts = 0;
  int32_t ids[600], types[600];
  size_t i;
  json_t *e;
  json_array_foreach(json_object_get(doc, "single"), i, e) {
    const char *text = json_string_value(json_object_get(e, "text"));
    char *q = quoted(text);
    int32_t *tok;
    int n;
    if (tokenize(t, text, &tok, &n)) fail_msg("%s: tokenize %s: %s", name, q, pst_err_message());
    bad += !same_ids("tokens", q, tok, n, json_object_get(e, "tokens"));
    lists++;
    free(tok);
    for (size_t k = 0; k < json_array_size(smax); k++) {
      int L = (int)json_integer_value(json_array_get(smax, k)), len;
      assert_true(L <= 600);
      if (pst_encode(t, text, NULL, L, ids, types, &len)) fail_msg("%s: encode %s: %s", name, q, pst_err_message());
      char what[64];
      snprintf(what, sizeof what, "ids (max_len %d)", L);
      bad += !same_ids(what, q, ids, len, json_array_get(json_object_get(e, "ids"), k));
      snprintf(what, sizeof what, "types (max_len %d)", L);
      bad += !same_ids(what, q, types, len, json_array_get(json_object_get(e, "types"), k));
      lists += 2;
    }
    free(q);
    texts++;
  }
  json_array_foreach(json_object_get(doc, "random"), i, e) {
    const char *text = json_string_value(json_object_get(e, "text"));
    char *q = quoted(text);
    int32_t *tok;
    int n;
    if (tokenize(t, text, &tok, &n)) fail_msg("%s: tokenize %s: %s", name, q, pst_err_message());
    bad += !same_ids("tokens", q, tok, n, json_object_get(e, "tokens"));
    lists++;
    texts++;
    free(tok);
    free(q);
  }
  json_array_foreach(json_object_get(doc, "pair"), i, e) {
    const char *a = json_string_value(json_object_get(e, "a")), *b = json_string_value(json_object_get(e, "b"));
    char *qa = quoted(a), *qb = quoted(b), desc[2048];
    snprintf(desc, sizeof desc, "pair %.1000s / %.1000s", qa, qb);
    for (size_t k = 0; k < json_array_size(pmax); k++) {
      int L = (int)json_integer_value(json_array_get(pmax, k)), len;
      assert_true(L <= 600);
      if (pst_encode(t, a, b, L, ids, types, &len)) fail_msg("%s: encode %s: %s", name, desc, pst_err_message());
      char what[64];
      snprintf(what, sizeof what, "ids (max_len %d)", L);
      bad += !same_ids(what, desc, ids, len, json_array_get(json_object_get(e, "ids"), k));
      snprintf(what, sizeof what, "types (max_len %d)", L);
      bad += !same_ids(what, desc, types, len, json_array_get(json_object_get(e, "types"), k));
      lists += 2;
    }
    free(qa);
    free(qb);
    texts++;
  }
  printf("%s: %ld of %ld id lists equal HF's (%ld inputs)\n", name, lists - bad, lists, texts);
  pst_tokenizer_free(t);
  json_decref(doc);
  if (bad) fail_msg("%s: %ld of %ld id lists differ from HF's", name, bad, lists);
}

static void test_fixture_bert_uncased(void **state) { (void)state; run_fixture("bert-uncased"); }
static void test_fixture_bert_cased(void **state) { (void)state; run_fixture("bert-cased"); }
static void test_fixture_gpt2(void **state) { (void)state; run_fixture("gpt2"); }
static void test_fixture_roberta(void **state) { (void)state; run_fixture("roberta"); }

/* HF's class of every code point, and the lower-casing normaliser on every single code point. */
static void test_unicode_tables(void **state) {
  (void)state;
  char path[1200];
  snprintf(path, sizeof path, "%s/unicode.json", fixdir);
  json_error_t je;
  json_t *doc = json_load_file(path, 0, &je);
  if (!doc) fail_msg("%s:%d: %s", path, je.line, je.text);
  static char bert[0x110000], gpt[0x110000];
  const char *keys[2] = {"bert", "gpt2"};
  char *cls[2] = {bert, gpt};
  for (int k = 0; k < 2; k++) {
    json_t *runs = json_object_get(doc, keys[k]);
    size_t nr = json_array_size(runs);
    assert_true(nr > 0);
    for (size_t r = 0; r < nr; r++) {
      json_t *run = json_array_get(runs, r);
      long lo = (long)json_integer_value(json_array_get(run, 0));
      long hi = r + 1 < nr ? (long)json_integer_value(json_array_get(json_array_get(runs, r + 1), 0)) : 0x110000;
      const char *c = json_string_value(json_array_get(run, 1));
      for (long cp = lo; cp < hi; cp++) cls[k][cp] = c[0];
    }
  }
  json_t *lower = json_object_get(doc, "bert_lower");
  long bad = 0, checked = 0;
  for (int32_t cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    static const char bmap[] = {[PST_BERT_OTHER] = 'o', [PST_BERT_SPACE] = 'w', [PST_BERT_PUNCT] = 'p',
                                [PST_BERT_REMOVED] = 'x', [PST_BERT_CJK] = 'c'};
    char b = bmap[pst_bert_char_class(cp)], g = "SLNO"[pst_gpt2_char_class(cp)];
    if (b != bert[cp] && bad++ < 20) fprintf(stderr, "U+%04X: bert class %c, HF %c\n", (unsigned)cp, b, bert[cp]);
    if (g != gpt[cp] && bad++ < 20) fprintf(stderr, "U+%04X: gpt2 class %c, HF %c\n", (unsigned)cp, g, gpt[cp]);
    checked += 2;
    if (bert[cp] == 'x' || bert[cp] == 'w' || (cp >= 0xAC00 && cp <= 0xD7A3)) continue;
    /* expected lower-case normalisation: the listed one, else the code point (spaced if CJK) */
    int32_t want[8];
    int nw = 0;
    char key[16];
    snprintf(key, sizeof key, "%x", (unsigned)cp);
    json_t *l = json_object_get(lower, key);
    if (l) {
      for (size_t j = 0; j < json_array_size(l) && nw < 8; j++) want[nw++] = (int32_t)json_integer_value(json_array_get(l, j));
    } else if (bert[cp] == 'c') {
      want[0] = ' ', want[1] = cp, want[2] = ' ', nw = 3;
    } else {
      want[nw++] = cp;
    }
    unsigned char in[4], wbuf[40];
    int il = pst_utf8_put(in, cp), wl = 0;
    for (int j = 0; j < nw; j++) wl += pst_utf8_put(wbuf + wl, want[j]);
    char *out;
    size_t ol;
    assert_int_equal(pst_bert_normalize((const char *)in, (size_t)il, 1, &out, &ol), PST_OK);
    if ((ol != (size_t)wl || memcmp(out, wbuf, ol) != 0) && bad++ < 20)
      fprintf(stderr, "U+%04X: lower-case normalisation differs from HF's\n", (unsigned)cp);
    free(out);
    checked++;
  }
  json_decref(doc);
  printf("unicode: %ld of %ld code point checks equal HF's\n", checked - bad, checked);
  if (bad) fail_msg("%ld code point checks differ from HF's", bad);
}

/* ---- SHA-256, UTF-8, small vocabularies -------------------------------------------------------- */

static void test_sha256(void **state) {
  (void)state;
  char hex[65];
  pst_sha256_hex("", 0, hex);
  assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  pst_sha256_hex("abc", 3, hex);
  assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes: two blocks */
  pst_sha256_hex(m, strlen(m), hex);
  assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  static char mil[1000000];
  memset(mil, 'a', sizeof mil);
  pst_sha256_hex(mil, sizeof mil, hex);
  assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static const char *WP_VOCAB = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nhello\n,\n!\n##a\na\n"
                              "##b\nb\ncafe\nx\n##x\n\xe4\xbd\xa0\n";

static pst_tokenizer *small_wordpiece(int lowercase) {
  const char *p = write_text("wp_vocab.txt", WP_VOCAB);
  pst_tokenizer *t = NULL;
  if (pst_tokenizer_load_wordpiece(&t, p, lowercase)) fail_msg("%s", pst_err_message());
  return t;
}

static void expect_tokens(const pst_tokenizer *t, const char *text, int n, const int32_t *want) {
  int32_t *ids;
  int got;
  if (tokenize(t, text, &ids, &got)) fail_msg("tokenize '%s': %s", text, pst_err_message());
  int ok = got == n;
  for (int i = 0; ok && i < n; i++) ok = ids[i] == want[i];
  if (!ok) {
    fprintf(stderr, "'%s' ->", text);
    for (int i = 0; i < got; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, " (want");
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", want[i]);
    fprintf(stderr, ")\n");
  }
  free(ids);
  assert_true(ok);
}
#define EXPECT(t, text, ...)                                                          \
  do {                                                                                \
    const int32_t w_[] = {__VA_ARGS__};                                               \
    expect_tokens((t), (text), (int)(sizeof w_ / sizeof w_[0]), w_);                  \
  } while (0)

static void test_wordpiece_small(void **state) {
  (void)state;
  pst_tokenizer *t = small_wordpiece(1);
  assert_int_equal(pst_tokenizer_vocab_size(t), 19);
  assert_int_equal(pst_tokenizer_pad_id(t), 0);
  assert_int_equal(pst_tokenizer_token_id(t, "##aff"), 6);
  assert_int_equal(pst_tokenizer_token_id(t, "nope"), -1);
  EXPECT(t, "unaffable", 5, 6, 7);
  EXPECT(t, "UnAffable, hello!", 5, 6, 7, 9, 8, 10);
  EXPECT(t, "unaffablex", 5, 6, 7, 17);
  EXPECT(t, "unaffabley", 1);       /* one unmatched piece: the whole word is [UNK] */
  EXPECT(t, "CAFÉ caf\xc3\xa9", 15, 15); /* accents stripped */
  EXPECT(t, "aab ab", 12, 11, 13, 12, 13);
  EXPECT(t, "\xe4\xbd\xa0\xe4\xbd\xa0x", 18, 18, 16); /* CJK split from each other and from x */
  EXPECT(t, "hello[MASK]hello [SEP]", 8, 4, 8, 3); /* specials in the text */
  EXPECT(t, "hello[mask]", 8, 1, 1, 1); /* [ mask ] after lower-casing: punctuation + [UNK] */
  /* 100 characters is a word, 101 is [UNK] */
  char w[130];
  memset(w, 'x', 100);
  w[100] = 0;
  int32_t *ids;
  int n;
  assert_int_equal(tokenize(t, w, &ids, &n), PST_OK);
  assert_int_equal(n, 100);
  free(ids);
  w[100] = 'x', w[101] = 0;
  EXPECT(t, w, 1);
  EXPECT(t, "", );
  EXPECT(t, "  \t\n ", );
  EXPECT(t, "\x01\x02\xef\xbf\xbd", ); /* controls and U+FFFD dropped */
  pst_tokenizer_free(t);
  t = small_wordpiece(0);
  EXPECT(t, "UnAffable cafe café", 1, 15, 1);
  assert_true(strncmp(pst_tokenizer_identity(t), "wordpiece cased vocab-sha256:", 29) == 0);
  pst_tokenizer_free(t);
}

/* Byte-level mapped characters used below: 'a'..'z' map to themselves, ' ' to U+0120 (Ġ). */
static pst_tokenizer *small_bpe(const char *merges, int roberta) {
  const char *v = write_text("bpe_vocab.json",
                             "{\"a\": 0, \"b\": 1, \"c\": 2, \"ab\": 3, \"bc\": 4, \"abc\": 5, \"\\u0120\": 6,"
                             " \"\\u0120a\": 7, \"'\": 8, \"s\": 9, \"'s\": 10, \"aa\": 11, \"<|endoftext|>\": 12}");
  const char *m = write_text("bpe_merges.txt", merges);
  pst_tokenizer *t = NULL;
  if (pst_tokenizer_load_bpe(&t, v, m, roberta)) fail_msg("%s", pst_err_message());
  return t;
}

static void test_bpe_small(void **state) {
  (void)state;
  pst_tokenizer *t = small_bpe("#version: 0.2\na b\nb c\nab c\n\xc4\xa0 a\n' s\na a\n", 0);
  assert_int_equal(pst_tokenizer_vocab_size(t), 13);
  assert_int_equal(pst_tokenizer_pad_id(t), 12); /* GPT-2: <|endoftext|> */
  EXPECT(t, "abc", 5);         /* a b -> ab (rank 0), then ab c (rank 2) */
  EXPECT(t, "bc", 4);
  EXPECT(t, "abcabc", 5, 5);
  EXPECT(t, "aaa", 11, 0);     /* tie on (a a): leftmost first */
  EXPECT(t, "a's", 0, 10);     /* 's contraction is its own piece */
  EXPECT(t, " a", 7);
  EXPECT(t, "a<|endoftext|>a", 0, 12, 0);
  EXPECT(t, "xyz", );          /* bytes without a token are dropped */
  EXPECT(t, "", );
  pst_tokenizer_free(t);
  /* merges in the other order: b c (rank 0) wins over a b */
  t = small_bpe("b c\na b\nab c\n", 0);
  EXPECT(t, "abc", 0, 4);
  pst_tokenizer_free(t);
  /* a repeated merge keeps its last rank (HF's map): a b is now after b c */
  t = small_bpe("a b\nb c\na b\n", 0);
  EXPECT(t, "abc", 0, 4);
  pst_tokenizer_free(t);
  /* RoBERTa specials appended after the vocab, in HF's order */
  t = small_bpe("a b\n", 1);
  assert_int_equal(pst_tokenizer_vocab_size(t), 18);
  assert_int_equal(pst_tokenizer_token_id(t, "<s>"), 13);
  assert_int_equal(pst_tokenizer_token_id(t, "</s>"), 14);
  assert_int_equal(pst_tokenizer_token_id(t, "<unk>"), 15);
  assert_int_equal(pst_tokenizer_pad_id(t), 16);
  assert_int_equal(pst_tokenizer_token_id(t, "<mask>"), 17);
  EXPECT(t, "ab<mask>", 3, 17);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe roberta vocab-sha256:", 25) == 0);
  int32_t ids[16], types[16];
  int len;
  assert_int_equal(pst_encode(t, "ab", "a", 16, ids, types, &len), PST_OK);
  assert_int_equal(len, 6);
  const int32_t want[] = {13, 3, 14, 14, 0, 14};
  for (int i = 0; i < 6; i++) assert_int_equal(ids[i], want[i]), assert_int_equal(types[i], 0);
  pst_tokenizer_free(t);
}

/* The pieces of the GPT-2 regex. */
static pst_err collect(void *ctx, const char *piece, size_t len) {
  char *out = ctx;
  strncat(out, piece, len);
  strcat(out, "|");
  return PST_OK;
}

static void test_gpt2_pretokenize(void **state) {
  (void)state;
  static const char *const cases[][2] = {
      {"Hello world", "Hello| world|"},
      {"it's I'M we'll 'd", "it|'s| I|'|M| we|'ll| '|d|"},
      {"a  b", "a| | b|"},
      {"a   ", "a|   |"},
      {"a \n\n b", "a| \n\n| b|"},
      {"x\n\ny", "x|\n|\n|y|"},
      {"  ", "  |"},
      {"!!'s", "!!'|s|"},
      {" 's", " '|s|"},
      {"abc123 456!?", "abc|123| 456|!?|"},
      {"\xc3\xa9t\xc3\xa9 \xd9\xa3\xd9\xa4", "\xc3\xa9t\xc3\xa9| \xd9\xa3\xd9\xa4|"},
      {"a\xc2\xa0" "b", "a|\xc2\xa0|b|"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[256] = "";
    assert_int_equal(pst_gpt2_pretokenize(cases[i][0], strlen(cases[i][0]), collect, out), PST_OK);
    if (strcmp(out, cases[i][1])) fail_msg("'%s' -> '%s', want '%s'", cases[i][0], out, cases[i][1]);
  }
}

/* ---- errors ----------------------------------------------------------------------------------- */

static void test_invalid_utf8(void **state) {
  (void)state;
  pst_tokenizer *tw = small_wordpiece(1);
  pst_tokenizer *tb = small_bpe("a b\n", 0);
  static const struct {
    const char *text;
    long offset;
  } cases[] = {
      {"\x80", 0},                       /* stray continuation byte */
      {"ab\xbf", 2},
      {"ab\xc0\xaf", 2},                 /* overlong '/' */
      {"\xc1\xbf", 0},
      {"x\xe0\x80\xaf", 1},              /* overlong 3-byte */
      {"xy\xf0\x80\x80\xaf", 2},         /* overlong 4-byte */
      {"abc\xed\xa0\x80", 3},            /* surrogate U+D800 */
      {"\xed\xbf\xbf", 0},               /* surrogate U+DFFF */
      {"a\xf4\x90\x80\x80", 1},          /* U+110000 */
      {"\xf5\x80\x80\x80", 0},
      {"\xff", 0},
      {"\xfe\xfe", 0},
      {"hello \xe2\x82", 6},             /* truncated at the end */
      {"hello \xe2", 6},
      {"\xf0\x9f\x98", 0},
      {"ab\xe2(cd", 2},                  /* bad continuation */
      {"\xc3\xa9\xc3(", 2},
      {"ok \xf0\x9f\x98\x80 then \x80", 13},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char want[64];
    snprintf(want, sizeof want, "byte offset %ld", cases[i].offset);
    for (int k = 0; k < 2; k++) {
      pst_tokenizer *t = k ? tb : tw;
      int32_t *ids = NULL;
      int n = 3, cap = 0;
      assert_int_equal(pst_tokenize(t, cases[i].text, &ids, &n, &cap), PST_ERR_FORMAT);
      assert_int_equal(n, 3); /* unchanged */
      assert_contains(pst_err_message(), want);
      free(ids);
      int32_t e[16];
      int len;
      assert_int_equal(pst_encode(t, cases[i].text, NULL, 16, e, NULL, &len), PST_ERR_FORMAT);
      assert_contains(pst_err_message(), want);
      assert_int_equal(pst_encode(t, "ok", cases[i].text, 16, e, NULL, &len), PST_ERR_FORMAT);
      assert_contains(pst_err_message(), want);
    }
  }
  /* valid edge cases */
  EXPECT(tb, "\xf4\x8f\xbf\xbf\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80", );
  pst_tokenizer_free(tw);
  pst_tokenizer_free(tb);
}

static void expect_load_error(pst_err rc, pst_err want, const char *n1, const char *n2) {
  assert_int_equal(rc, want);
  assert_contains(pst_err_message(), n1);
  if (n2) assert_contains(pst_err_message(), n2);
}

static void test_load_errors(void **state) {
  (void)state;
  pst_tokenizer *t = (pst_tokenizer *)&t; /* must be reset to NULL */
  char missing[600];
  snprintf(missing, sizeof missing, "%s/no_such_vocab.txt", tmpdir);
  expect_load_error(pst_tokenizer_load_wordpiece(&t, missing, 1), PST_ERR_IO, missing, NULL);
  assert_null(t);
  const char *p = write_text("bad_utf8.txt", "[PAD]\n[UNK]\nok\xff\n[CLS]\n[SEP]\n");
  expect_load_error(pst_tokenizer_load_wordpiece(&t, p, 1), PST_ERR_FORMAT, "bad_utf8.txt:3:", "UTF-8");
  p = write_text("no_unk.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");
  expect_load_error(pst_tokenizer_load_wordpiece(&t, p, 1), PST_ERR_FORMAT, "no_unk.txt", "[UNK]");
  p = write_text("no_cls.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n");
  expect_load_error(pst_tokenizer_load_wordpiece(&t, p, 1), PST_ERR_FORMAT, "no_cls.txt", "[CLS]");
  p = write_text("empty.txt", "");
  expect_load_error(pst_tokenizer_load_wordpiece(&t, p, 1), PST_ERR_FORMAT, "empty.txt", "empty");
  assert_null(t);
  /* trailing white space and CRLF are not part of a token */
  p = write_text("crlf.txt", "[PAD]\r\n[UNK] \r\n[CLS]\t\n[SEP]\nhello\r\n");
  assert_int_equal(pst_tokenizer_load_wordpiece(&t, p, 1), PST_OK);
  assert_int_equal(pst_tokenizer_token_id(t, "hello"), 4);
  assert_int_equal(pst_tokenizer_vocab_size(t), 5);
  pst_tokenizer_free(t);

  const char *m = write_text("ok_merges.txt", "#version: 0.2\na b\n");
  const char *v = write_text("ok_vocab.json", "{\"a\": 0, \"b\": 1, \"ab\": 2}");
  snprintf(missing, sizeof missing, "%s/no_such_vocab.json", tmpdir);
  expect_load_error(pst_tokenizer_load_bpe(&t, missing, m, 0), PST_ERR_IO, missing, NULL);
  snprintf(missing, sizeof missing, "%s/no_such_merges.txt", tmpdir);
  expect_load_error(pst_tokenizer_load_bpe(&t, v, missing, 0), PST_ERR_IO, missing, NULL);
  p = write_text("notjson.json", "{\"a\": 0,\n \"b\": }");
  expect_load_error(pst_tokenizer_load_bpe(&t, p, m, 0), PST_ERR_FORMAT, "notjson.json:2:", NULL);
  p = write_text("array.json", "[1, 2]");
  expect_load_error(pst_tokenizer_load_bpe(&t, p, m, 0), PST_ERR_FORMAT, "array.json", "object");
  p = write_text("strid.json", "{\"a\": 0, \"b\": \"1\"}");
  expect_load_error(pst_tokenizer_load_bpe(&t, p, m, 0), PST_ERR_FORMAT, "strid.json", "\"b\"");
  p = write_text("negid.json", "{\"a\": 0, \"zz\": -3}");
  expect_load_error(pst_tokenizer_load_bpe(&t, p, m, 0), PST_ERR_FORMAT, "negid.json", "\"zz\"");
  p = write_text("m3.txt", "#version: 0.2\na b\na b c\n");
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "m3.txt:3:", "left right");
  p = write_text("m1.txt", "a b\nab\n");
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "m1.txt:2:", NULL);
  p = write_text("mblank.txt", "a b\n\na b\n");
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "mblank.txt:2:", NULL);
  p = write_text("moov.txt", "a b\na c\n");
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "moov.txt:2:", "\"c\"");
  p = write_text("mnomerge.txt", "a b\nb a\n");
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "mnomerge.txt:2:", "\"ba\"");
  p = write_file("mbad.txt", "a b\n\xc3\n", 6);
  expect_load_error(pst_tokenizer_load_bpe(&t, v, p, 0), PST_ERR_FORMAT, "mbad.txt:2:", "UTF-8");
  assert_null(t);
  /* CRLF merges and a missing final newline are fine */
  p = write_text("mcrlf.txt", "#version: 0.2\r\na b\r\n");
  assert_int_equal(pst_tokenizer_load_bpe(&t, v, p, 0), PST_OK);
  EXPECT(t, "ab", 2);
  pst_tokenizer_free(t);
}

static void test_load_dir(void **state) {
  (void)state;
  pst_tokenizer *t = NULL;
  const char *d = make_subdir("dir_empty");
  expect_load_error(pst_tokenizer_load_dir(&t, d), PST_ERR_IO, "dir_empty", "vocab.txt");
  assert_null(t);
  /* WordPiece, do_lower_case from tokenizer_config.json */
  d = make_subdir("dir_bert");
  write_text("dir_bert/vocab.txt", WP_VOCAB);
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "wordpiece lowercase vocab-sha256:", 33) == 0);
  pst_tokenizer_free(t);
  write_text("dir_bert/tokenizer_config.json", "{\"do_lower_case\": false}");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "wordpiece cased vocab-sha256:", 29) == 0);
  /* the identity names the vocab's sha256 */
  char hex[65], want[128];
  pst_sha256_hex(WP_VOCAB, strlen(WP_VOCAB), hex);
  snprintf(want, sizeof want, "wordpiece cased vocab-sha256:%s", hex);
  assert_string_equal(pst_tokenizer_identity(t), want);
  pst_tokenizer_free(t);
  write_text("dir_bert/tokenizer_config.json", "{\"do_lower_case\": true, \"strip_accents\": false}");
  expect_load_error(pst_tokenizer_load_dir(&t, d), PST_ERR_CONFIG, "tokenizer_config.json", "strip_accents");
  write_text("dir_bert/tokenizer_config.json", "{\"do_lower_case\": false, \"strip_accents\": null, "
                                               "\"tokenize_chinese_chars\": false}");
  expect_load_error(pst_tokenizer_load_dir(&t, d), PST_ERR_CONFIG, "tokenizer_config.json", "tokenize_chinese_chars");
  write_text("dir_bert/tokenizer_config.json", "{\"do_lower_case\": ");
  expect_load_error(pst_tokenizer_load_dir(&t, d), PST_ERR_FORMAT, "tokenizer_config.json:1:", NULL);
  /* BPE: GPT-2 unless the config or the vocab says RoBERTa */
  d = make_subdir("dir_bpe");
  const char *vj = "{\"a\": 0, \"b\": 1, \"ab\": 2, \"<|endoftext|>\": 3}";
  write_text("dir_bpe/vocab.json", vj);
  write_text("dir_bpe/merges.txt", "#version: 0.2\na b\n");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe gpt2 vocab-sha256:", 22) == 0);
  assert_int_equal(pst_tokenizer_vocab_size(t), 4);
  pst_tokenizer_free(t);
  write_text("dir_bpe/config.json", "{\"model_type\": \"roberta\"}");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe roberta vocab-sha256:", 25) == 0);
  assert_int_equal(pst_tokenizer_vocab_size(t), 9);
  pst_tokenizer_free(t);
  write_text("dir_bpe/config.json", "{\"model_type\": \"gpt2\"}");
  write_text("dir_bpe/tokenizer_config.json", "{\"tokenizer_class\": \"RobertaTokenizer\"}");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe roberta", 11) == 0);
  pst_tokenizer_free(t);
  d = make_subdir("dir_rob");
  write_text("dir_rob/vocab.json", "{\"<s>\": 0, \"<pad>\": 1, \"</s>\": 2, \"<unk>\": 3, \"a\": 4, \"b\": 5, \"ab\": 6, "
                                   "\"<mask>\": 7}");
  write_text("dir_rob/merges.txt", "#version: 0.2\na b\n");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe roberta", 11) == 0);
  assert_int_equal(pst_tokenizer_vocab_size(t), 8); /* specials from the vocab */
  assert_int_equal(pst_tokenizer_pad_id(t), 1);
  int32_t ids[8];
  int len;
  assert_int_equal(pst_encode(t, "ab", NULL, 8, ids, NULL, &len), PST_OK);
  assert_int_equal(len, 3);
  assert_int_equal(ids[0], 0), assert_int_equal(ids[1], 6), assert_int_equal(ids[2], 2);
  pst_tokenizer_free(t);
  /* encoder.json + vocab.bpe (the GPT-2 release names) */
  d = make_subdir("dir_gpt2");
  write_text("dir_gpt2/encoder.json", vj);
  write_text("dir_gpt2/vocab.bpe", "#version: 0.2\na b\n");
  assert_int_equal(pst_tokenizer_load_dir(&t, d), PST_OK);
  assert_true(strncmp(pst_tokenizer_identity(t), "bpe gpt2", 8) == 0);
  assert_int_equal(pst_tokenizer_pad_id(t), 3);
  pst_tokenizer_free(t);
}

static void test_encode_args(void **state) {
  (void)state;
  pst_tokenizer *t = small_wordpiece(1);
  int32_t ids[8], types[8];
  int len = 7;
  assert_int_equal(pst_encode(t, "hello", NULL, 1, ids, types, &len), PST_ERR_ARG);
  assert_int_equal(len, 0);
  assert_contains(pst_err_message(), "max_len 1");
  assert_int_equal(pst_encode(t, "hello", "hello", 2, ids, types, &len), PST_ERR_ARG);
  assert_int_equal(pst_encode(t, NULL, NULL, 8, ids, types, &len), PST_ERR_ARG);
  /* exactly the specials */
  assert_int_equal(pst_encode(t, "hello", "hello", 3, ids, types, &len), PST_OK);
  assert_int_equal(len, 3);
  assert_int_equal(ids[0], 2), assert_int_equal(ids[1], 3), assert_int_equal(ids[2], 3);
  assert_int_equal(types[2], 1);
  /* b = "" is a single sequence (as HF) */
  assert_int_equal(pst_encode(t, "hello", "", 8, ids, NULL, &len), PST_OK);
  assert_int_equal(len, 3);
  pst_tokenizer_free(t);
  /* GPT-2: no specials, max_len 0 allowed */
  t = small_bpe("a b\n", 0);
  assert_int_equal(pst_encode(t, "ab", "ab", 0, ids, types, &len), PST_OK);
  assert_int_equal(len, 0);
  assert_int_equal(pst_encode(t, "abab", "b", 8, ids, types, &len), PST_OK);
  assert_int_equal(len, 3);
  assert_int_equal(types[0], 0), assert_int_equal(types[1], 0), assert_int_equal(types[2], 1);
  pst_tokenizer_free(t);
  /* truncation rule (HF tokenizers longest_first) */
  int ka, kb;
  pst_truncate_pair(10, 10, 7, &ka, &kb), assert_int_equal(ka, 3), assert_int_equal(kb, 4); /* tie: b gets the odd one */
  pst_truncate_pair(11, 10, 7, &ka, &kb), assert_int_equal(ka, 4), assert_int_equal(kb, 3);
  pst_truncate_pair(2, 10, 7, &ka, &kb), assert_int_equal(ka, 2), assert_int_equal(kb, 5);
  pst_truncate_pair(4, 10, 7, &ka, &kb), assert_int_equal(ka, 3), assert_int_equal(kb, 4);
  pst_truncate_pair(3, 4, 7, &ka, &kb), assert_int_equal(ka, 3), assert_int_equal(kb, 4);
  pst_truncate_pair(0, 10, 7, &ka, &kb), assert_int_equal(ka, 0), assert_int_equal(kb, 7);
  pst_truncate_pair(5, 5, 0, &ka, &kb), assert_int_equal(ka, 0), assert_int_equal(kb, 0);
  for (int na = 0; na < 20; na++)
    for (int nb = 0; nb < 20; nb++)
      for (int m = 0; m < 25; m++) {
        pst_truncate_pair(na, nb, m, &ka, &kb);
        assert_true(ka >= 0 && kb >= 0 && ka <= na && kb <= nb);
        assert_true(ka + kb == (na + nb < m ? na + nb : m));
      }
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
      cmocka_unit_test(test_sha256),          cmocka_unit_test(test_wordpiece_small),
      cmocka_unit_test(test_bpe_small),       cmocka_unit_test(test_gpt2_pretokenize),
      cmocka_unit_test(test_invalid_utf8),    cmocka_unit_test(test_load_errors),
      cmocka_unit_test(test_load_dir),        cmocka_unit_test(test_encode_args),
      cmocka_unit_test(test_unicode_tables),  cmocka_unit_test(test_fixture_bert_uncased),
      cmocka_unit_test(test_fixture_bert_cased), cmocka_unit_test(test_fixture_gpt2),
      cmocka_unit_test(test_fixture_roberta),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
