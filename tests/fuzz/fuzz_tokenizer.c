/* fuzz_tokenizer.c — fuzz target for the tokenizers (src/data/tokenizer.c, wordpiece.c, bpe.c).
 *
 * Built with clang -fsanitize=fuzzer,address it is a libFuzzer target (LLVMFuzzerTestOneInput);
 * built with -DPST_FUZZ_MAIN it is a plain program that replays every file of the corpus
 * directories / files named on the command line (default: tests/fuzz/corpus/tokenizer), as
 * fuzz_safetensors.c does. From the repository root:
 *
 *   clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -Iinclude src/core/error.c src/core/util.c src/data/wordpiece.c src/data/bpe.c \
 *     src/data/tokenizer.c tests/fuzz/fuzz_tokenizer.c -ljansson -lutf8proc -lm -o $F/fuzz_tokenizer
 *   $F/fuzz_tokenizer -max_total_time=120 -max_len=8192 $F/corpus tests/fuzz/corpus/tokenizer
 *
 * Tokenizers: a small WordPiece vocab and a small byte-level BPE (all 256 byte tokens, a few
 * merges, <|endoftext|>) written to a scratch directory, plus the real bert-base-uncased
 * (lower-case and cased) and GPT-2 / RoBERTa vocabularies when found ($PST_VOCAB_DIR, else
 * $top_srcdir/../shared/data/vocab, else ../shared/data/vocab), plus the tokenizer.json
 * fixtures (llama3, smollm2, qwen2, llama2, mistral) of tests/fixtures/tokenizer/json: for
 * those, pst_detokenize gives valid UTF-8 and, for llama3 / smollm2 with the specials kept,
 * exactly a; pst_encode puts the template's specials first and then a prefix of a's tokens.
 *
 * Each input is split at its first NUL into a and b. For every tokenizer: pst_tokenize(a)
 * succeeds exactly when a is valid UTF-8 (checked here independently), else fails with
 * PST_ERR_FORMAT naming the byte offset and leaves the count alone; ids lie in [0, vocab);
 * a second run gives the same ids; for byte-level BPE, decoding the ids (vocab strings through
 * the inverse bytes_to_unicode map) gives back a byte for byte; for WordPiece, tokenizing
 * a + " " + a gives the tokens of a twice. pst_encode(a, b) at several max_len keeps len <=
 * max_len, puts the specials where they belong, keeps token types in {0, 1} and copies a
 * prefix of each side's tokens. GPT-2 pre-tokenisation pieces are non-empty and concatenate to
 * a. Any broken invariant calls abort(). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *current_input = "libFuzzer input";

#define CHECK(cond)                                                                                  \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      fprintf(stderr, "fuzz_tokenizer: %s: invariant failed at line %d: %s\n  last error: %s\n",     \
              current_input, __LINE__, #cond, pst_err_message());                                    \
      abort();                                                                                       \
    }                                                                                                \
  } while (0)

#define MAX_TOK 12

typedef struct {
  const char *name;
  pst_tokenizer *t;
  int kind;      /* 0 wordpiece, 1 gpt2, 2 roberta, 3 tokenizer.json lossless byte-level (llama3,
                    smollm2), 4 other tokenizer.json (qwen2 NFC, llama2, mistral) */
  char **token;  /* id -> vocab string (BPE), for decoding */
  int ntoken;
} fuzz_tok;

static fuzz_tok toks[MAX_TOK];
static int ntoks;
static char work_dir[512];
static char paths[4][600];
static int byte_of[512]; /* inverse bytes_to_unicode: code point -> byte, -1 if none */

static void cleanup(void) {
  for (int i = 0; i < ntoks; i++) {
    pst_tokenizer_free(toks[i].t);
    for (int k = 0; k < toks[i].ntoken; k++) free(toks[i].token[k]);
    free(toks[i].token);
  }
  for (int i = 0; i < 4; i++)
    if (paths[i][0]) unlink(paths[i]);
  if (work_dir[0]) rmdir(work_dir);
}

static int printable(int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); }

static int32_t byte_to_cp(int b) {
  if (printable(b)) return b;
  int n = 0;
  for (int k = 0; k < b; k++) n += !printable(k);
  return 256 + n;
}

/* id -> token string table of a vocab.json (for decoding BPE ids). */
static void load_reverse(fuzz_tok *ft, const char *vocab_json) {
  json_error_t je;
  json_t *root = json_load_file(vocab_json, 0, &je);
  CHECK(root && json_is_object(root));
  ft->ntoken = pst_tokenizer_vocab_size(ft->t);
  ft->token = calloc((size_t)ft->ntoken, sizeof *ft->token);
  CHECK(ft->token);
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    long id = (long)json_integer_value(v);
    CHECK(id >= 0 && id < ft->ntoken);
    free(ft->token[id]);
    ft->token[id] = strdup(key);
  }
  json_decref(root);
  static const char *const spec[] = {"<s>", "</s>", "<unk>", "<pad>", "<mask>"};
  for (int i = 0; i < 5 && ft->kind == 2; i++) { /* appended RoBERTa specials */
    int32_t id = pst_tokenizer_token_id(ft->t, spec[i]);
    if (id >= 0 && !ft->token[id]) ft->token[id] = strdup(spec[i]);
  }
}

static void add_tok(const char *name, pst_tokenizer *t, int kind, const char *vocab_json) {
  CHECK(ntoks < MAX_TOK);
  fuzz_tok *ft = &toks[ntoks++];
  ft->name = name;
  ft->t = t;
  ft->kind = kind;
  if (kind == 1 || kind == 2) load_reverse(ft, vocab_json);
}

static void write_file(int slot, const char *name, const char *text, size_t len) {
  snprintf(paths[slot], sizeof paths[slot], "%s/%s", work_dir, name);
  FILE *f = fopen(paths[slot], "wb");
  CHECK(f);
  CHECK(fwrite(text, 1, len, f) == len);
  fclose(f);
}

static void init(void) {
  if (ntoks) return;
  for (int i = 0; i < 512; i++) byte_of[i] = -1;
  for (int b = 0; b < 256; b++) byte_of[byte_to_cp(b)] = b;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(work_dir, sizeof work_dir, "%s/pst_fuzz_tok_XXXXXX", base);
  if (!mkdtemp(work_dir)) {
    perror("fuzz_tokenizer: mkdtemp");
    abort();
  }
  atexit(cleanup);
  /* small WordPiece vocab */
  static const char wp[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\n##a\n##b\n##c\nab\n##ab\n!\n.\n'\n"
                           "\xc3\xa9\n\xe4\xb8\xad\n##\xcc\x81\ne\n";
  write_file(0, "vocab.txt", wp, sizeof wp - 1);
  pst_tokenizer *t = NULL;
  CHECK(pst_tokenizer_load_wordpiece(&t, paths[0], 1) == PST_OK);
  add_tok("small-wordpiece", t, 0, NULL);
  /* small byte-level BPE: every byte, merges a b / ab c / Ġ a / Ġ Ġ, and <|endoftext|> */
  char *json = malloc(65536);
  CHECK(json);
  size_t jl = 0;
  jl += (size_t)sprintf(json + jl, "{");
  for (int b = 0; b < 256; b++) {
    unsigned char u[4];
    int ul = pst_utf8_put(u, byte_to_cp(b));
    char key[16] = "";
    if (b == '"' || b == '\\') snprintf(key, sizeof key, "\\%c", b);
    else memcpy(key, u, (size_t)ul), key[ul] = 0;
    jl += (size_t)sprintf(json + jl, "\"%s\": %d, ", key, b);
  }
  jl += (size_t)sprintf(json + jl, "\"ab\": 256, \"abc\": 257, \"\xc4\xa0" "a\": 258, \"\xc4\xa0\xc4\xa0\": 259, "
                                   "\"<|endoftext|>\": 260}");
  write_file(1, "vocab.json", json, jl);
  free(json);
  static const char merges[] = "#version: 0.2\na b\nab c\n\xc4\xa0 a\n\xc4\xa0 \xc4\xa0\n";
  write_file(2, "merges.txt", merges, sizeof merges - 1);
  t = NULL;
  CHECK(pst_tokenizer_load_bpe(&t, paths[1], paths[2], 0) == PST_OK);
  add_tok("small-bpe", t, 1, paths[1]);
  /* real vocabularies when present */
  char vd[1024], p1[1100], p2[1100];
  const char *env = getenv("PST_VOCAB_DIR"), *top = getenv("top_srcdir");
  if (env && *env) snprintf(vd, sizeof vd, "%s", env);
  else snprintf(vd, sizeof vd, "%s/../shared/data/vocab", top && *top ? top : ".");
  snprintf(p1, sizeof p1, "%s/bert-base-uncased/vocab.txt", vd);
  if (access(p1, R_OK) == 0) {
    t = NULL;
    CHECK(pst_tokenizer_load_wordpiece(&t, p1, 1) == PST_OK);
    add_tok("bert-uncased", t, 0, NULL);
    t = NULL;
    CHECK(pst_tokenizer_load_wordpiece(&t, p1, 0) == PST_OK);
    add_tok("bert-cased", t, 0, NULL);
  }
  snprintf(p1, sizeof p1, "%s/gpt2/encoder.json", vd);
  snprintf(p2, sizeof p2, "%s/gpt2/vocab.bpe", vd);
  if (access(p1, R_OK) == 0 && access(p2, R_OK) == 0) {
    t = NULL;
    CHECK(pst_tokenizer_load_bpe(&t, p1, p2, 0) == PST_OK);
    add_tok("gpt2", t, 1, p1);
    t = NULL;
    CHECK(pst_tokenizer_load_bpe(&t, p1, p2, 1) == PST_OK);
    add_tok("roberta", t, 2, p1);
  }
  /* the tokenizer.json fixtures of tests/unit/test_tokenizer_json.c */
  static const char *const hf[] = {"llama3", "smollm2", "qwen2", "llama2", "mistral"};
  for (int i = 0; i < 5; i++) {
    snprintf(p1, sizeof p1, "%s/tests/fixtures/tokenizer/json/%s.json", top && *top ? top : ".", hf[i]);
    t = NULL;
    CHECK(pst_tokenizer_load_json(&t, p1) == PST_OK);
    add_tok(hf[i], t, i < 2 ? 3 : 4, NULL);
  }
}

/* Independent strict UTF-8 check (decode and re-encode every sequence). */
static long invalid_at(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    int len = s[i] < 0x80 ? 1 : (s[i] >> 5) == 6 ? 2 : (s[i] >> 4) == 14 ? 3 : (s[i] >> 3) == 30 ? 4 : 0;
    if (!len || i + (size_t)len > n) return (long)i;
    uint32_t cp = len == 1 ? s[i] : (uint32_t)(s[i] & (0x7F >> len));
    for (int k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80) return (long)i;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    int need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (need != len || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long)i;
    i += (size_t)len;
  }
  return -1;
}

static pst_err piece_cb(void *ctx, const char *piece, size_t len) {
  char **cursor = ctx;
  CHECK(len > 0);
  CHECK(memcmp(*cursor, piece, len) == 0 && *cursor == piece);
  *cursor += len;
  return PST_OK;
}

/* Decode BPE ids back to bytes (appended to out, at most cap bytes); returns the length. */
static size_t decode(const fuzz_tok *ft, const int32_t *ids, int n, unsigned char *out, size_t cap) {
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    const char *s = ft->token[ids[i]];
    CHECK(s);
    for (size_t j = 0; s[j];) {
      int32_t cp;
      j += (size_t)pst_utf8_next((const unsigned char *)s + j, &cp);
      CHECK(cp < 512 && byte_of[cp] >= 0);
      CHECK(k < cap);
      out[k++] = (unsigned char)byte_of[cp];
    }
  }
  return k;
}

static void check_tokenizer(const fuzz_tok *ft, const char *a, size_t alen, const char *b, size_t blen) {
  const pst_tokenizer *t = ft->t;
  int V = pst_tokenizer_vocab_size(t);
  long bad_a = invalid_at((const unsigned char *)a, alen), bad_b = invalid_at((const unsigned char *)b, blen);
  /* append to a buffer that already holds 5 ids */
  int n = 5, cap = 8;
  int32_t *ids = malloc((size_t)cap * sizeof *ids);
  CHECK(ids);
  for (int i = 0; i < 5; i++) ids[i] = -7 - i;
  pst_err rc = pst_tokenize(t, a, &ids, &n, &cap);
  for (int i = 0; i < 5; i++) CHECK(ids[i] == -7 - i);
  if (bad_a >= 0) {
    CHECK(rc == PST_ERR_FORMAT);
    CHECK(n == 5);
    char want[64];
    snprintf(want, sizeof want, "byte offset %ld", bad_a);
    CHECK(strstr(pst_err_message(), want));
    free(ids);
    int32_t e[8];
    int len = -1;
    CHECK(pst_encode(t, a, NULL, 8, e, NULL, &len) == PST_ERR_FORMAT && len == 0);
    return;
  }
  CHECK(rc == PST_OK);
  CHECK(n >= 5);
  for (int i = 5; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < V);
  int na = n - 5;
  int32_t *ta = ids + 5;
  /* deterministic */
  int32_t *again = NULL;
  int n2 = 0, cap2 = 0;
  CHECK(pst_tokenize(t, a, &again, &n2, &cap2) == PST_OK);
  CHECK(n2 == na && (na == 0 || memcmp(again, ta, (size_t)na * sizeof *ta) == 0));
  free(again);
  if (ft->kind >= 3) { /* decoding with the specials gives a back (byte-level) or valid UTF-8 */
    for (int flags = 0; flags < 2; flags++) {
      char *dec = NULL;
      CHECK(pst_detokenize(t, ta, na, flags, &dec) == PST_OK);
      CHECK(invalid_at((const unsigned char *)dec, strlen(dec)) < 0);
      if (ft->kind == 3 && !flags) CHECK(strlen(dec) == alen && memcmp(dec, a, alen) == 0);
      free(dec);
    }
  } else if (ft->kind) { /* lossless byte-level BPE */
    unsigned char *dec = malloc(alen + 64);
    CHECK(dec);
    size_t dl = decode(ft, ta, na, dec, alen + 64);
    CHECK(dl == alen && memcmp(dec, a, alen) == 0);
    free(dec);
    const char *cursor = a;
    CHECK(pst_gpt2_pretokenize(a, alen, piece_cb, &cursor) == PST_OK);
    CHECK(cursor == a + alen);
  } else if (alen < 4096) { /* WordPiece words never span white space */
    char *aa = malloc(2 * alen + 2);
    CHECK(aa);
    memcpy(aa, a, alen);
    aa[alen] = ' ';
    memcpy(aa + alen + 1, a, alen);
    aa[2 * alen + 1] = 0;
    int32_t *t2 = NULL;
    int m = 0, c2 = 0;
    CHECK(pst_tokenize(t, aa, &t2, &m, &c2) == PST_OK);
    CHECK(m == 2 * na);
    for (int i = 0; i < na; i++) CHECK(t2[i] == ta[i] && t2[na + i] == ta[i]);
    free(t2);
    free(aa);
  }
  /* tokens of b */
  int32_t *tb = NULL;
  int nb = 0, cb = 0;
  rc = pst_tokenize(t, b, &tb, &nb, &cb);
  CHECK(bad_b >= 0 ? rc == PST_ERR_FORMAT : rc == PST_OK);
  int pair = blen > 0;
  static const int lens[] = {0, 1, 2, 3, 4, 5, 7, 16, 64, 512};
  if (ft->kind >= 3) { /* templates: the specials (all before $A in these fixtures), then a */
    int nspec = -1;
    int32_t e[512], ty[512];
    CHECK(pst_encode(t, "", NULL, 512, e, ty, &nspec) == PST_OK);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
      int L = lens[li], len = -1;
      rc = pst_encode(t, a, NULL, L, e, ty, &len);
      if (L < nspec) {
        CHECK(rc == PST_ERR_ARG && len == 0);
        continue;
      }
      CHECK(rc == PST_OK && len == (na + nspec < L ? na + nspec : L));
      for (int i = nspec; i < len; i++) CHECK(e[i] == ta[i - nspec] && ty[i] == 0);
      if (pair && bad_b < 0) { /* these fixtures' pair templates repeat the single one's specials */
        rc = pst_encode(t, a, b, L, e, ty, &len);
        CHECK(L < 2 * nspec ? rc == PST_ERR_ARG : rc == PST_OK && len <= L);
        for (int i = 0; i < len; i++) CHECK(e[i] >= 0 && e[i] < V && (ty[i] == 0 || ty[i] == 1));
      }
    }
    free(tb);
    free(ids);
    return;
  }
  int nspec = ft->kind == 1 ? 0 : ft->kind == 0 ? (pair ? 3 : 2) : (pair ? 4 : 2);
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
    int L = lens[li], len = -1;
    int32_t e[512], ty[512];
    rc = pst_encode(t, a, pair ? b : NULL, L, e, ty, &len);
    if (L < nspec) {
      CHECK(rc == PST_ERR_ARG && len == 0);
      continue;
    }
    if (pair && bad_b >= 0) {
      CHECK(rc == PST_ERR_FORMAT);
      continue;
    }
    CHECK(rc == PST_OK);
    CHECK(len >= nspec && len <= L);
    CHECK(len == (na + (pair ? nb : 0) + nspec < L ? na + (pair ? nb : 0) + nspec : L));
    int ka, kb;
    if (pair) pst_truncate_pair(na, nb, L - nspec, &ka, &kb);
    else ka = na < L - nspec ? na : L - nspec, kb = 0;
    CHECK(ka + kb + nspec == len);
    int p = 0;
    if (ft->kind != 1) CHECK(e[p++] == pst_tokenizer_token_id(t, ft->kind ? "<s>" : "[CLS]"));
    for (int i = 0; i < ka; i++, p++) CHECK(e[p] == ta[i] && ty[p] == 0);
    if (ft->kind != 1) {
      CHECK(e[p] == pst_tokenizer_token_id(t, ft->kind ? "</s>" : "[SEP]") && ty[p] == 0);
      p++;
    }
    if (ft->kind == 2 && pair) {
      CHECK(e[p] == pst_tokenizer_token_id(t, "</s>") && ty[p] == 0);
      p++;
    }
    for (int i = 0; i < kb; i++, p++) CHECK(e[p] == tb[i] && ty[p] == (ft->kind == 2 ? 0 : 1));
    if (pair && ft->kind != 1) {
      CHECK(e[p] == pst_tokenizer_token_id(t, ft->kind ? "</s>" : "[SEP]") && ty[p] == (ft->kind == 2 ? 0 : 1));
      p++;
    }
    CHECK(p == len);
  }
  free(tb);
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init();
  /* a = bytes before the first NUL, b = bytes after it (up to the next NUL) */
  char *buf = malloc(size + 2);
  CHECK(buf);
  if (size) memcpy(buf, data, size);
  buf[size] = 0;
  buf[size + 1] = 0;
  size_t alen = strlen(buf);
  const char *b = alen < size ? buf + alen + 1 : buf + size + 1;
  size_t blen = strlen(b);
  for (int i = 0; i < ntoks; i++) check_tokenizer(&toks[i], buf, alen, b, blen);
  free(buf);
  pst_err_clear();
  return 0;
}

#ifdef PST_FUZZ_MAIN
#define PST_FUZZ_NAME "tokenizer"
#include "replay_main.h"
#endif
