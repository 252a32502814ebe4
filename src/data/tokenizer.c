/* tokenizer.c — the tokenizer front end shared by WordPiece, byte-level BPE and the
 * tokenizer.json-style BPE tokenizers (hftok.c): loading (files or a Hugging Face model
 * directory), UTF-8 validation, special tokens written in the text, model inputs with specials
 * / pairs / longest-first truncation, decoding, identity strings; and the building blocks of
 * include/pst/tokenizer.h (string -> id map, UTF-8, SHA-256). */
#include "pst/tokenizer.h"
#include "hftok.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- string -> id map ---------------------------------------------------------------------- */

typedef struct {
  uint64_t hash;
  uint32_t off, len; /* key bytes in pool */
  int32_t id;        /* -1 = empty slot */
} vocab_slot;

struct pst_tok_vocab {
  char *pool;
  size_t pool_len, pool_cap;
  vocab_slot *slots;
  size_t cap, count, max_len; /* cap: power of two */
};

/* FNV-1a over prefix then s (so "##" + piece hashes without building the string). */
static uint64_t hash2(const char *p, size_t plen, const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < plen; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

pst_err pst_tok_vocab_new(pst_tok_vocab **out) {
  *out = NULL;
  pst_tok_vocab *v = calloc(1, sizeof *v);
  if (!v) PST_ERR(PST_ERR_MEM, "out of memory allocating a vocabulary");
  v->cap = 1024;
  v->slots = malloc(v->cap * sizeof *v->slots);
  if (!v->slots) {
    free(v);
    PST_ERR(PST_ERR_MEM, "out of memory allocating a vocabulary");
  }
  for (size_t i = 0; i < v->cap; i++) v->slots[i].id = -1;
  *out = v;
  return PST_OK;
}

void pst_tok_vocab_free(pst_tok_vocab *v) {
  if (!v) return;
  free(v->pool);
  free(v->slots);
  free(v);
}

static size_t vocab_find_slot(const pst_tok_vocab *v, uint64_t h, const char *p, size_t plen,
                              const char *s, size_t len) {
  size_t mask = v->cap - 1, i = (size_t)h & mask;
  for (;;) {
    const vocab_slot *e = &v->slots[i];
    if (e->id < 0) return i;
    if (e->hash == h && e->len == plen + len && (!plen || memcmp(v->pool + e->off, p, plen) == 0) &&
        (!len || memcmp(v->pool + e->off + plen, s, len) == 0))
      return i;
    i = (i + 1) & mask;
  }
}

static pst_err vocab_grow(pst_tok_vocab *v) {
  size_t ncap = v->cap * 2;
  vocab_slot *ns = malloc(ncap * sizeof *ns);
  if (!ns) PST_ERR(PST_ERR_MEM, "out of memory growing a vocabulary to %zu slots", ncap);
  for (size_t i = 0; i < ncap; i++) ns[i].id = -1;
  for (size_t i = 0; i < v->cap; i++) {
    if (v->slots[i].id < 0) continue;
    size_t j = (size_t)v->slots[i].hash & (ncap - 1);
    while (ns[j].id >= 0) j = (j + 1) & (ncap - 1);
    ns[j] = v->slots[i];
  }
  free(v->slots);
  v->slots = ns;
  v->cap = ncap;
  return PST_OK;
}

pst_err pst_tok_vocab_put(pst_tok_vocab *v, const char *s, size_t len, int32_t id) {
  if (id < 0) PST_ERR(PST_ERR_INTERNAL, "negative token id %d", (int)id);
  if (len > UINT32_MAX / 2) PST_ERR(PST_ERR_FORMAT, "token of %zu bytes is too long", len);
  if ((v->count + 1) * 2 > v->cap) PST_CHECK(vocab_grow(v));
  uint64_t h = hash2(NULL, 0, s, len);
  size_t i = vocab_find_slot(v, h, NULL, 0, s, len);
  if (v->slots[i].id >= 0) { /* overwrite */
    v->slots[i].id = id;
    return PST_OK;
  }
  if (v->pool_len + len + 1 > v->pool_cap) {
    size_t ncap = v->pool_cap ? v->pool_cap : 1 << 16;
    while (ncap < v->pool_len + len + 1) ncap *= 2;
    if (ncap > UINT32_MAX) PST_ERR(PST_ERR_FORMAT, "vocabulary strings exceed 4 GiB");
    char *np = realloc(v->pool, ncap);
    if (!np) PST_ERR(PST_ERR_MEM, "out of memory growing a vocabulary pool to %zu bytes", ncap);
    v->pool = np;
    v->pool_cap = ncap;
  }
  memcpy(v->pool + v->pool_len, s, len);
  v->pool[v->pool_len + len] = 0;
  v->slots[i] = (vocab_slot){h, (uint32_t)v->pool_len, (uint32_t)len, id};
  v->pool_len += len + 1;
  v->count++;
  if (len > v->max_len) v->max_len = len;
  return PST_OK;
}

int32_t pst_tok_vocab_get(const pst_tok_vocab *v, const char *prefix, size_t plen, const char *s,
                          size_t len) {
  if (plen + len > v->max_len) return -1;
  uint64_t h = hash2(prefix, plen, s, len);
  return v->slots[vocab_find_slot(v, h, prefix, plen, s, len)].id;
}

size_t pst_tok_vocab_count(const pst_tok_vocab *v) { return v->count; }

pst_err pst_tok_vocab_reverse(const pst_tok_vocab *v, int size, const char ***out) {
  *out = NULL;
  const char **r = calloc(size > 0 ? (size_t)size : 1, sizeof *r);
  if (!r) PST_ERR(PST_ERR_MEM, "out of memory for %d token strings", size);
  for (size_t i = 0; i < v->cap; i++)
    if (v->slots[i].id >= 0 && v->slots[i].id < size) r[v->slots[i].id] = v->pool + v->slots[i].off;
  *out = r;
  return PST_OK;
}
size_t pst_tok_vocab_max_len(const pst_tok_vocab *v) { return v->max_len; }

pst_err pst_tok_push(int32_t **ids, int *n, int *cap, int32_t id) {
  if (*n >= *cap) {
    if (*cap > (1 << 29)) PST_ERR(PST_ERR_MEM, "token buffer exceeds %d ids", *cap);
    int ncap = *cap < 64 ? 64 : 2 * *cap;
    int32_t *p = realloc(*ids, (size_t)ncap * sizeof *p);
    if (!p) PST_ERR(PST_ERR_MEM, "out of memory growing a token buffer to %d ids", ncap);
    *ids = p;
    *cap = ncap;
  }
  (*ids)[(*n)++] = id;
  return PST_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

int pst_utf8_put(unsigned char *o, int32_t cp) {
  if (cp < 0x80) {
    o[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (unsigned char)(0xC0 | (cp >> 6));
    o[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (unsigned char)(0xE0 | (cp >> 12));
    o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (unsigned char)(0xF0 | (cp >> 18));
  o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Strict UTF-8 (RFC 3629): the lead byte fixes the allowed range of the second byte, which
 * rules out overlong forms, surrogates and code points above U+10FFFF. The offset returned is
 * that of the first byte of the malformed sequence (as Python's UnicodeDecodeError.start). */
long pst_utf8_seq(const unsigned char *s, size_t len) {
  unsigned c = s[0];
  int need;
  unsigned lo = 0x80, hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) {
    need = 2;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 3;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return -1;
  }
  size_t i = 1;
  for (int k = 0; k < need; k++, i++) {
    if (i >= len) return -(long)i;
    unsigned b = s[i];
    if (k == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return -(long)i;
  }
  return (long)i;
}

long pst_utf8_invalid_at(const unsigned char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    const long n = pst_utf8_seq(s + i, len - i);
    if (n < 0) return (long)i;
    i += (size_t)n;
  }
  return -1;
}

/* ---- files and SHA-256 ----------------------------------------------------------------------- */

pst_err pst_tok_read_file(const char *path, char **buf, size_t *len) {
  *buf = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) PST_ERR(PST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    PST_ERR(PST_ERR_IO, "%s: not a regular file", path);
  }
  size_t size = (size_t)sb.st_size;
  char *b = malloc(size + 1);
  if (!b) {
    fclose(f);
    PST_ERR(PST_ERR_MEM, "%s: out of memory reading %zu bytes", path, size);
  }
  size_t got = fread(b, 1, size, f);
  int bad = ferror(f);
  fclose(f);
  if (bad || got != size) {
    free(b);
    PST_ERR(PST_ERR_IO, "%s: read failed (%zu of %zu bytes)", path, got, size);
  }
  b[size] = 0;
  *buf = b;
  *len = size;
  return PST_OK;
}

/* FIPS 180-4 SHA-256, byte-oriented; used only to name vocab files in identity strings. */
typedef struct {
  uint32_t h[8];
  uint64_t bits;
  unsigned char blk[64];
  size_t fill;
} sha256_ctx;

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR32(x, r) (((x) >> (r)) | ((x) << (32 - (r))))

static void sha256_block(sha256_ctx *c, const unsigned char *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6],
           h = c->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + ((e & f) ^ (~e & g)) + sha_k[i] + w[i];
    uint32_t t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = cc;
    cc = b;
    b = a;
    a = t1 + t2;
  }
  c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d;
  c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}

void pst_sha256_hex(const void *data, size_t len, char hex[65]) {
  sha256_ctx c = {{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                   0x5be0cd19},
                  0,
                  {0},
                  0};
  const unsigned char *p = data;
  c.bits = (uint64_t)len * 8;
  size_t i = 0;
  for (; i + 64 <= len; i += 64) sha256_block(&c, p + i);
  unsigned char tail[128] = {0};
  size_t rem = len - i;
  if (rem) memcpy(tail, p + i, rem);
  tail[rem] = 0x80;
  size_t tl = rem + 1 + 8 <= 64 ? 64 : 128;
  for (int k = 0; k < 8; k++) tail[tl - 1 - k] = (unsigned char)(c.bits >> (8 * k));
  sha256_block(&c, tail);
  if (tl == 128) sha256_block(&c, tail + 64);
  static const char dig[] = "0123456789abcdef";
  for (int k = 0; k < 32; k++) {
    unsigned char byte = (unsigned char)(c.h[k / 4] >> (24 - 8 * (k % 4)));
    hex[2 * k] = dig[byte >> 4];
    hex[2 * k + 1] = dig[byte & 15];
  }
  hex[64] = 0;
}

/* ---- the tokenizer ------------------------------------------------------------------------- */

enum { KIND_WORDPIECE, KIND_GPT2, KIND_ROBERTA, KIND_HF };

#define MAX_SPECIALS 8

struct pst_tokenizer {
  int kind;
  pst_wordpiece *wp;
  pst_bpe *bpe;
  pst_hftok *hf;    /* KIND_HF: everything below except identity is unused */
  const char **rev; /* BPE: id -> token string (decoding) */
  int vocab_size;
  int32_t cls, sep, pad; /* BERT [CLS] [SEP] / RoBERTa <s> </s>; -1 for GPT-2 */
  /* Special tokens recognised in raw text, longest first. */
  int nspecial;
  const char *special[MAX_SPECIALS];
  size_t special_len[MAX_SPECIALS];
  int32_t special_id[MAX_SPECIALS];
  unsigned char special_first[256]; /* 1 if some special starts with this byte */
  char identity[256];
};

static void add_special(pst_tokenizer *t, const char *tok, int32_t id) {
  if (id < 0 || t->nspecial >= MAX_SPECIALS) return;
  size_t len = strlen(tok);
  int i = t->nspecial++;
  while (i > 0 && t->special_len[i - 1] < len) { /* keep longest first */
    t->special[i] = t->special[i - 1];
    t->special_len[i] = t->special_len[i - 1];
    t->special_id[i] = t->special_id[i - 1];
    i--;
  }
  t->special[i] = tok;
  t->special_len[i] = len;
  t->special_id[i] = id;
  t->special_first[(unsigned char)tok[0]] = 1;
}

void pst_tokenizer_free(pst_tokenizer *t) {
  if (!t) return;
  pst_wordpiece_free(t->wp);
  pst_bpe_free(t->bpe);
  pst_hftok_free(t->hf);
  free(t->rev);
  free(t);
}

pst_err pst_tokenizer_load_wordpiece(pst_tokenizer **out, const char *vocab_txt, int lowercase) {
  *out = NULL;
  pst_tokenizer *t = calloc(1, sizeof *t);
  if (!t) PST_ERR(PST_ERR_MEM, "out of memory allocating a tokenizer");
  char sha[65];
  pst_err rc = pst_wordpiece_load(&t->wp, vocab_txt, lowercase, sha);
  if (rc) {
    free(t);
    PST_CHECK(rc);
  }
  t->kind = KIND_WORDPIECE;
  t->vocab_size = pst_wordpiece_size(t->wp);
  static const char *const need[] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]"};
  for (int i = 0; i < 4; i++)
    if (pst_wordpiece_id(t->wp, need[i]) < 0) {
      pst_tokenizer_free(t);
      PST_ERR(PST_ERR_FORMAT, "%s: special token %s not in the vocabulary", vocab_txt, need[i]);
    }
  t->cls = pst_wordpiece_id(t->wp, "[CLS]");
  t->sep = pst_wordpiece_id(t->wp, "[SEP]");
  t->pad = pst_wordpiece_id(t->wp, "[PAD]");
  static const char *const spec[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; i < 5; i++) add_special(t, spec[i], pst_wordpiece_id(t->wp, spec[i]));
  snprintf(t->identity, sizeof t->identity, "wordpiece %s vocab-sha256:%s", lowercase ? "lowercase" : "cased",
           sha);
  *out = t;
  return PST_OK;
}

/* BPE tokenizer; roberta < 0: RoBERTa exactly when the vocab holds "<s>". */
static pst_err load_bpe(pst_tokenizer **out, const char *vocab_json, const char *merges_txt, int roberta) {
  *out = NULL;
  pst_tokenizer *t = calloc(1, sizeof *t);
  if (!t) PST_ERR(PST_ERR_MEM, "out of memory allocating a tokenizer");
  char vsha[65], msha[65];
  pst_err rc = pst_bpe_load(&t->bpe, vocab_json, merges_txt, vsha, msha);
  if (rc) {
    free(t);
    PST_CHECK(rc);
  }
  t->vocab_size = pst_bpe_size(t->bpe);
  if (roberta < 0) roberta = pst_bpe_id(t->bpe, "<s>") >= 0;
  if (roberta) {
    /* RobertaTokenizer's specials; those missing from the vocab are appended in this order */
    static const char *const spec[] = {"<s>", "</s>", "<unk>", "<pad>", "<mask>"};
    int32_t id[5];
    for (int i = 0; i < 5; i++) {
      id[i] = pst_bpe_id(t->bpe, spec[i]);
      if (id[i] < 0) id[i] = t->vocab_size++;
      add_special(t, spec[i], id[i]);
    }
    t->kind = KIND_ROBERTA;
    t->cls = id[0];
    t->sep = id[1];
    t->pad = id[3];
  } else {
    t->kind = KIND_GPT2;
    int32_t eot = pst_bpe_id(t->bpe, "<|endoftext|>");
    add_special(t, "<|endoftext|>", eot);
    t->cls = t->sep = -1;
    t->pad = eot >= 0 ? eot : 0;
  }
  snprintf(t->identity, sizeof t->identity, "bpe %s vocab-sha256:%s merges-sha256:%s",
           roberta ? "roberta" : "gpt2", vsha, msha);
  /* id -> token for pst_detokenize, unless ids are absurdly large (vocab.json allows them) */
  rc = t->vocab_size <= PST_TOK_MAX_ID ? pst_bpe_reverse(t->bpe, &t->rev) : PST_OK;
  if (rc) {
    pst_tokenizer_free(t);
    PST_CHECK(rc);
  }
  *out = t;
  return PST_OK;
}

pst_err pst_tokenizer_load_bpe(pst_tokenizer **out, const char *vocab_json, const char *merges_txt,
                               int roberta_specials) {
  PST_CHECK(load_bpe(out, vocab_json, merges_txt, roberta_specials != 0));
  return PST_OK;
}

pst_err pst_tokenizer_wrap_hf(pst_tokenizer **out, pst_hftok *h) {
  *out = NULL;
  pst_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    pst_hftok_free(h);
    PST_ERR(PST_ERR_MEM, "out of memory allocating a tokenizer");
  }
  t->kind = KIND_HF;
  t->hf = h;
  t->vocab_size = h->vocab_size;
  t->pad = h->pad;
  snprintf(t->identity, sizeof t->identity, "%s", h->identity);
  *out = t;
  return PST_OK;
}

static int file_exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Parse dir/name as JSON if it exists: *root = NULL when absent; a malformed file fails. */
static pst_err load_json_opt(const char *dir, const char *name, json_t **root) {
  *root = NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (!file_exists(path)) return PST_OK;
  json_error_t je;
  *root = json_load_file(path, 0, &je);
  if (!*root) PST_ERR(PST_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
  if (!json_is_object(*root)) {
    json_decref(*root);
    *root = NULL;
    PST_ERR(PST_ERR_FORMAT, "%s: not a JSON object", path);
  }
  return PST_OK;
}

static int mentions_roberta(json_t *v) {
  if (json_is_string(v)) return strcasestr(json_string_value(v), "roberta") != NULL;
  if (json_is_array(v)) {
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e) if (mentions_roberta(e)) return 1;
  }
  return 0;
}

/* Token named by tokenizer_config.json key ("<s>" or {"content": "<s>"}): its id, else -1. */
static int32_t config_token(const pst_tokenizer *t, json_t *tcfg, const char *key) {
  json_t *v = json_object_get(tcfg, key);
  if (json_is_object(v)) v = json_object_get(v, "content");
  return json_is_string(v) ? pst_hftok_token_id(t->hf, json_string_value(v)) : -1;
}

/* bos / eos / pad of a tokenizer.json tokenizer from tokenizer_config.json, where it names them. */
static void hf_config_specials(pst_tokenizer *t, json_t *tcfg) {
  int32_t id;
  if ((id = config_token(t, tcfg, "bos_token")) >= 0) t->hf->bos = id;
  if ((id = config_token(t, tcfg, "eos_token")) >= 0) t->hf->eos = id;
  if ((id = config_token(t, tcfg, "pad_token")) >= 0) t->hf->pad = t->pad = id;
}

pst_err pst_tokenizer_load_dir(pst_tokenizer **out, const char *dir) {
  *out = NULL;
  char p1[4096], p2[4096];
  json_t *tcfg = NULL, *cfg = NULL;
  PST_CHECK(load_json_opt(dir, "tokenizer_config.json", &tcfg));
  pst_err rc = load_json_opt(dir, "config.json", &cfg);
  if (rc) {
    json_decref(tcfg);
    PST_CHECK(rc);
  }
  snprintf(p1, sizeof p1, "%s/vocab.txt", dir);
  if (file_exists(p1)) {
    int lower = 1;
    json_t *v = tcfg ? json_object_get(tcfg, "do_lower_case") : NULL;
    if (v && json_is_boolean(v)) lower = json_is_true(v);
    /* options this tokenizer cannot follow are refused rather than ignored */
    json_t *sa = tcfg ? json_object_get(tcfg, "strip_accents") : NULL;
    json_t *cc = tcfg ? json_object_get(tcfg, "tokenize_chinese_chars") : NULL;
    int bad_sa = sa && json_is_boolean(sa) && json_is_true(sa) != lower, bad_cc = cc && json_is_false(cc);
    json_decref(tcfg);
    json_decref(cfg);
    if (bad_sa || bad_cc)
      PST_ERR(PST_ERR_CONFIG, "%s/tokenizer_config.json: %s is not supported (accents are stripped exactly when "
              "lower-casing; CJK ideographs are always split)",
              dir, bad_sa ? "strip_accents different from do_lower_case" : "tokenize_chinese_chars = false");
    PST_CHECK(pst_tokenizer_load_wordpiece(out, p1, lower));
    return PST_OK;
  }
  int roberta = 0;
  if (tcfg) roberta |= mentions_roberta(json_object_get(tcfg, "tokenizer_class"));
  if (cfg) {
    roberta |= mentions_roberta(json_object_get(cfg, "model_type"));
    roberta |= mentions_roberta(json_object_get(cfg, "architectures"));
  }
  json_decref(cfg);
  snprintf(p1, sizeof p1, "%s/vocab.json", dir);
  snprintf(p2, sizeof p2, "%s/merges.txt", dir);
  int have_vocab_json = file_exists(p1);
  if (!file_exists(p1) || !file_exists(p2)) {
    snprintf(p1, sizeof p1, "%s/encoder.json", dir);
    snprintf(p2, sizeof p2, "%s/vocab.bpe", dir);
  }
  if (file_exists(p1) && file_exists(p2)) {
    json_decref(tcfg);
    PST_CHECK(load_bpe(out, p1, p2, roberta ? 1 : -1)); /* -1: RoBERTa if the vocab has <s> */
    return PST_OK;
  }
  snprintf(p1, sizeof p1, "%s/tokenizer.json", dir);
  if (have_vocab_json || !file_exists(p1)) {
    json_decref(tcfg);
    PST_ERR(PST_ERR_IO, "%s: no tokenizer files (vocab.txt, vocab.json + merges.txt, encoder.json + vocab.bpe or "
            "tokenizer.json)", dir);
  }
  rc = pst_tokenizer_load_json(out, p1);
  if (!rc && tcfg) hf_config_specials(*out, tcfg);
  json_decref(tcfg);
  PST_CHECK(rc);
  return PST_OK;
}

int pst_tokenizer_vocab_size(const pst_tokenizer *t) { return t->vocab_size; }
int32_t pst_tokenizer_pad_id(const pst_tokenizer *t) { return t->pad; }
const char *pst_tokenizer_identity(const pst_tokenizer *t) { return t->identity; }

int32_t pst_tokenizer_bos_id(const pst_tokenizer *t) {
  if (t->hf) return t->hf->bos;
  if (t->kind == KIND_GPT2) return pst_bpe_id(t->bpe, "<|endoftext|>");
  return t->cls;
}

int32_t pst_tokenizer_eos_id(const pst_tokenizer *t) {
  if (t->hf) return t->hf->eos;
  if (t->kind == KIND_GPT2) return pst_bpe_id(t->bpe, "<|endoftext|>");
  return t->sep;
}

int32_t pst_tokenizer_token_id(const pst_tokenizer *t, const char *token) {
  if (t->hf) return pst_hftok_token_id(t->hf, token);
  for (int i = 0; i < t->nspecial; i++)
    if (strcmp(t->special[i], token) == 0) return t->special_id[i];
  return t->wp ? pst_wordpiece_id(t->wp, token) : pst_bpe_id(t->bpe, token);
}

static pst_err model_tokenize(const pst_tokenizer *t, const char *s, size_t len, int32_t **ids, int *n,
                              int *cap) {
  if (!len) return PST_OK;
  if (t->wp) PST_CHECK(pst_wordpiece_tokenize(t->wp, s, len, ids, n, cap));
  else PST_CHECK(pst_bpe_tokenize(t->bpe, s, len, ids, n, cap));
  return PST_OK;
}

pst_err pst_tokenize(const pst_tokenizer *t, const char *text, int32_t **ids, int *n, int *cap) {
  if (!t || !text || !ids || !n || !cap) PST_ERR(PST_ERR_ARG, "pst_tokenize: NULL argument");
  size_t len = strlen(text);
  long bad = pst_utf8_invalid_at((const unsigned char *)text, len);
  if (bad >= 0)
    PST_ERR(PST_ERR_FORMAT, "text is not valid UTF-8: byte 0x%02x at byte offset %ld",
            (unsigned char)text[bad], bad);
  if (t->hf) {
    int n0 = *n;
    pst_err rc = pst_hftok_tokenize(t->hf, text, len, ids, n, cap);
    if (rc) {
      *n = n0;
      PST_CHECK(rc);
    }
    return PST_OK;
  }
  int n0 = *n;
  /* Split on special tokens written in the text (leftmost, longest first), tokenizing the
   * pieces between them on their own, as HF's added-vocabulary pass does. */
  size_t start = 0;
  for (size_t i = 0; i < len;) {
    int hit = -1;
    if (t->special_first[(unsigned char)text[i]])
      for (int k = 0; k < t->nspecial && hit < 0; k++)
        if (len - i >= t->special_len[k] && memcmp(text + i, t->special[k], t->special_len[k]) == 0) hit = k;
    if (hit < 0) {
      i++;
      continue;
    }
    pst_err rc = model_tokenize(t, text + start, i - start, ids, n, cap);
    if (!rc) rc = pst_tok_push(ids, n, cap, t->special_id[hit]);
    if (rc) {
      *n = n0;
      PST_CHECK(rc);
    }
    i += t->special_len[hit];
    start = i;
  }
  pst_err rc = model_tokenize(t, text + start, len - start, ids, n, cap);
  if (rc) {
    *n = n0;
    PST_CHECK(rc);
  }
  return PST_OK;
}

/* HF tokenizers' TruncationStrategy::LongestFirst for a pair (ported verbatim). */
void pst_truncate_pair(int na, int nb, int m, int *ka, int *kb) {
  if (na + nb <= m) {
    *ka = na;
    *kb = nb;
    return;
  }
  int n1 = na, n2 = nb, swap = 0;
  if (n1 > n2) {
    swap = 1;
    n1 = nb;
    n2 = na;
  }
  if (n1 > m) n2 = n1;
  else n2 = n1 > m - n1 ? n1 : m - n1;
  if (n1 + n2 > m) {
    n1 = m / 2;
    n2 = n1 + m % 2;
  }
  if (swap) {
    int tmp = n1;
    n1 = n2;
    n2 = tmp;
  }
  *ka = na < n1 ? na : n1;
  *kb = nb < n2 ? nb : n2;
}

/* pst_encode's common part: the items it[0..nit) in order — a special token (seq < 0: its id) or
 * the tokens of a (seq 0) or b (seq 1), each with its token type — with a and b truncated to fit
 * max_len minus the specials, as HF's longest_first does. */
static pst_err encode_items(const pst_tokenizer *t, const char *a, const char *b, int pair, const hf_item *it, int nit,
                            int max_len, int32_t *ids, int32_t *types, int *len) {
  int nspec = 0;
  for (int i = 0; i < nit; i++) nspec += it[i].seq < 0;
  if (max_len < nspec)
    PST_ERR(PST_ERR_ARG, "max_len %d leaves no room for the %d special tokens of a %s", max_len, nspec,
            pair ? "pair" : "sequence");
  int32_t *ta = NULL, *tb = NULL;
  int na = 0, ca = 0, nb = 0, cb = 0;
  pst_err rc = pst_tokenize(t, a, &ta, &na, &ca);
  if (!rc && pair) rc = pst_tokenize(t, b, &tb, &nb, &cb);
  if (rc) {
    free(ta);
    free(tb);
    PST_CHECK(rc);
  }
  int m = max_len - nspec, ka = na < m ? na : m, kb = 0;
  if (pair) pst_truncate_pair(na, nb, m, &ka, &kb);
  int k = 0;
  for (int i = 0; i < nit; i++) {
    int cnt = it[i].seq < 0 ? 1 : it[i].seq == 0 ? ka : kb;
    const int32_t *src = it[i].seq < 0 ? &it[i].id : it[i].seq == 0 ? ta : tb;
    for (int j = 0; j < cnt; j++, k++) {
      ids[k] = src[j];
      if (types) types[k] = it[i].type_id;
    }
  }
  free(ta);
  free(tb);
  *len = k;
  return PST_OK;
}

pst_err pst_encode(const pst_tokenizer *t, const char *a, const char *b, int max_len, int32_t *ids,
                   int32_t *types, int *len) {
  if (!t || !a || !ids || !len) PST_ERR(PST_ERR_ARG, "pst_encode: NULL argument");
  *len = 0;
  const int pair = b && b[0];
  if (t->hf) { /* tokenizer.json: the post-processor's template, or a then b (types 0, 1) */
    const pst_hftok *h = t->hf;
    static const hf_item plain_single[] = {{-1, 0, 0}}, plain_pair[] = {{-1, 0, 0}, {-1, 1, 1}};
    const hf_item *it = h->has_template ? (pair ? h->pair : h->single) : (pair ? plain_pair : plain_single);
    const int nit = h->has_template ? (pair ? h->npair : h->nsingle) : (pair ? 2 : 1);
    PST_CHECK(encode_items(t, a, b, pair, it, nit, max_len, ids, types, len));
    return PST_OK;
  }
  /* GPT-2: a (b); WordPiece: [CLS] a [SEP] (b [SEP], type 1); RoBERTa: <s> a </s> (</s> b </s>) */
  const int32_t cls = t->cls, sep = t->sep;
  const hf_item gpt2[] = {{-1, 0, 0}, {-1, 1, 1}};
  const hf_item wordpiece[] = {{cls, -1, 0}, {-1, 0, 0}, {sep, -1, 0}, {-1, 1, 1}, {sep, -1, 1}};
  const hf_item roberta_single[] = {{cls, -1, 0}, {-1, 0, 0}, {sep, -1, 0}};
  const hf_item roberta_pair[] = {{cls, -1, 0}, {-1, 0, 0}, {sep, -1, 0}, {sep, -1, 0}, {-1, 1, 0}, {sep, -1, 0}};
  const hf_item *it = t->kind == KIND_GPT2 ? gpt2 : t->kind == KIND_WORDPIECE ? wordpiece
                      : pair ? roberta_pair : roberta_single;
  const int nit = t->kind == KIND_GPT2 ? (pair ? 2 : 1) : t->kind == KIND_WORDPIECE ? (pair ? 5 : 3) : (pair ? 6 : 3);
  PST_CHECK(encode_items(t, a, b, pair, it, nit, max_len, ids, types, len));
  return PST_OK;
}

pst_err pst_detokenize(const pst_tokenizer *t, const int32_t *ids, int n, int flags, char **text) {
  if (!t || (!ids && n > 0) || n < 0 || !text) PST_ERR(PST_ERR_ARG, "pst_detokenize: NULL argument or n < 0");
  *text = NULL;
  int skip = (flags & PST_DETOK_SKIP_SPECIAL) != 0;
  if (t->hf) {
    PST_CHECK(pst_hftok_decode(t->hf, ids, n, skip, text));
    return PST_OK;
  }
  if (t->kind == KIND_WORDPIECE) PST_ERR(PST_ERR_ARG, "pst_detokenize: not available for WordPiece tokenizers");
  if (!t->rev) PST_ERR(PST_ERR_ARG, "pst_detokenize: token ids up to %d are too large to decode", t->vocab_size - 1);
  const char **toks = malloc((n > 0 ? (size_t)n : 1) * sizeof *toks);
  if (!toks) PST_ERR(PST_ERR_MEM, "out of memory decoding %d ids", n);
  int k = 0, nbpe = pst_bpe_size(t->bpe);
  for (int i = 0; i < n; i++) {
    int sp = -1;
    for (int j = 0; j < t->nspecial && sp < 0; j++)
      if (t->special_id[j] == ids[i]) sp = j;
    if (sp >= 0) {
      if (!skip) toks[k++] = t->special[sp];
    } else if (ids[i] >= 0 && ids[i] < nbpe && t->rev[ids[i]]) {
      toks[k++] = t->rev[ids[i]];
    }
  }
  pst_err rc = pst_bytelevel_decode(toks, k, text);
  free(toks);
  PST_CHECK(rc);
  return PST_OK;
}
