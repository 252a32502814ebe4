/* bpe.c — the BPE model of Hugging Face tokenizers: the GPT-2 pre-tokenisation regex written
 * out by hand over utf8proc categories; a piece's symbols (byte-level: its bytes mapped through
 * bytes_to_unicode; else its characters, with SentencePiece-style byte fallback and unknown
 * token); BPE merges applied lowest rank first (leftmost on ties). Built from vocab.json +
 * merges.txt here, or token by token by tokjson.c / tokspec.c. */
#include "pst/tokenizer.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
  uint64_t key; /* left id << 32 | right id; UINT64_MAX = empty */
  int32_t rank, id;
} merge_slot;

struct pst_bpe {
  pst_tok_vocab *vocab;
  int size;             /* max id + 1 */
  int32_t byte_id[256]; /* byte-level: id of the one-character token of each byte, -1 if absent */
  int32_t fb_id[256];   /* id of <0xXX>, -1 if absent (byte fallback) */
  merge_slot *merges;
  size_t mcap, mcount; /* mcap: power of two */
  int32_t nrank;       /* merges added so far (the next rank) */
  pst_bpe_opts opt;
};

/* ---- pre-tokenisation ------------------------------------------------------------------------ */

enum { CL_SPACE = PST_GPT2_SPACE, CL_LETTER = PST_GPT2_LETTER, CL_NUMBER = PST_GPT2_NUMBER,
       CL_OTHER = PST_GPT2_OTHER };

/* Letters and numbers of Unicode 16 (Oniguruma's tables in HF tokenizers 0.23.3) that
 * utf8proc 2.8 (Unicode 15.0) leaves unassigned; see tests/reference/make_tokenizer_fixtures.py
 * --c-tables and tests/fixtures/tokenizer/unicode.json. */
static const struct {
  int32_t lo, hi, cl;
} gpt2_class_fix[] = {
    {0x1C89, 0x1C8A, CL_LETTER}, {0xA7CB, 0xA7CD, CL_LETTER}, {0xA7DA, 0xA7DC, CL_LETTER},
    {0x105C0, 0x105F3, CL_LETTER}, {0x10D40, 0x10D49, CL_NUMBER}, {0x10D4A, 0x10D65, CL_LETTER},
    {0x10D6F, 0x10D85, CL_LETTER}, {0x10EC2, 0x10EC4, CL_LETTER}, {0x11380, 0x11389, CL_LETTER},
    {0x1138B, 0x1138B, CL_LETTER}, {0x1138E, 0x1138E, CL_LETTER}, {0x11390, 0x113B5, CL_LETTER},
    {0x113B7, 0x113B7, CL_LETTER}, {0x113D1, 0x113D1, CL_LETTER}, {0x113D3, 0x113D3, CL_LETTER},
    {0x116D0, 0x116E3, CL_NUMBER}, {0x11BC0, 0x11BE0, CL_LETTER}, {0x11BF0, 0x11BF9, CL_NUMBER},
    {0x13460, 0x143FA, CL_LETTER}, {0x16100, 0x1611D, CL_LETTER}, {0x16130, 0x16139, CL_NUMBER},
    {0x16D40, 0x16D6C, CL_LETTER}, {0x16D70, 0x16D79, CL_NUMBER}, {0x18CFF, 0x18CFF, CL_LETTER},
    {0x1CCF0, 0x1CCF9, CL_NUMBER}, {0x1E5D0, 0x1E5ED, CL_LETTER}, {0x1E5F0, 0x1E5F0, CL_LETTER},
    {0x1E5F1, 0x1E5FA, CL_NUMBER}, {0x2EBF0, 0x2EE5D, CL_LETTER},
};

/* Regex classes: \s (Unicode White_Space, as Oniguruma), \p{L}, \p{N}, anything else. */
int pst_gpt2_char_class(int32_t c) {
  if (c < 0x80) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CL_SPACE;
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return CL_LETTER;
    if (c >= '0' && c <= '9') return CL_NUMBER;
    return CL_OTHER;
  }
  if (c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
      c == 0x202F || c == 0x205F || c == 0x3000)
    return CL_SPACE;
  utf8proc_category_t k = utf8proc_category(c);
  if (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO) return CL_LETTER;
  if (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO) return CL_NUMBER;
  if (k == UTF8PROC_CATEGORY_CN && c >= 0x1C89) { /* binary search the Unicode 16 additions */
    int lo = 0, hi = (int)(sizeof gpt2_class_fix / sizeof gpt2_class_fix[0]) - 1;
    while (lo <= hi) {
      int mid = (lo + hi) / 2;
      if (c < gpt2_class_fix[mid].lo) hi = mid - 1;
      else if (c > gpt2_class_fix[mid].hi) lo = mid + 1;
      else return gpt2_class_fix[mid].cl;
    }
  }
  return CL_OTHER;
}

int pst_gpt2_class_at(const unsigned char *s, size_t i, size_t *next) {
  int32_t c;
  *next = i + (size_t)pst_utf8_next(s + i, &c);
  return pst_gpt2_char_class(c);
}

size_t pst_gpt2_run_end(const unsigned char *s, size_t len, size_t i, int k) {
  while (i < len) {
    size_t nx;
    if (pst_gpt2_class_at(s, i, &nx) != k) break;
    i = nx;
  }
  return i;
}

/* The alternatives of 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * tried in order at each position (leftmost-first, greedy, as the regex engine does). */
pst_err pst_gpt2_pretokenize(const char *text, size_t len,
                             pst_err (*fn)(void *ctx, const char *piece, size_t plen), void *ctx) {
  const unsigned char *s = (const unsigned char *)text;
  size_t i = 0;
  while (i < len) {
    size_t end;
    if (s[i] == '\'' && i + 1 < len) {
      unsigned char c1 = s[i + 1], c2 = i + 2 < len ? s[i + 2] : 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        PST_CHECK(fn(ctx, text + i, 2));
        i += 2;
        continue;
      }
      if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
        PST_CHECK(fn(ctx, text + i, 3));
        i += 3;
        continue;
      }
    }
    size_t nx;
    int k = pst_gpt2_class_at(s, i, &nx);
    if (s[i] == ' ' && nx < len) { /* " ?" before a letter, number or other run */
      size_t nx2;
      int k2 = pst_gpt2_class_at(s, nx, &nx2);
      if (k2 != CL_SPACE) {
        end = pst_gpt2_run_end(s, len, nx2, k2);
        PST_CHECK(fn(ctx, text + i, end - i));
        i = end;
        continue;
      }
    }
    if (k != CL_SPACE) {
      end = pst_gpt2_run_end(s, len, nx, k);
    } else {
      /* \s+(?!\S): the whole run at the end of the text; before a non-space, all but its
       * last character (which then starts the next piece) unless that leaves nothing, in
       * which case \s+ takes the single character */
      size_t last = i;
      end = nx;
      while (end < len) {
        size_t n2;
        if (pst_gpt2_class_at(s, end, &n2) != CL_SPACE) break;
        last = end;
        end = n2;
      }
      if (end < len && last > i) end = last;
    }
    PST_CHECK(fn(ctx, text + i, end - i));
    i = end;
  }
  return PST_OK;
}

/* ---- merges ------------------------------------------------------------------------------------ */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

static const merge_slot *merge_find(const pst_bpe *b, int32_t l, int32_t r) {
  if (!b->mcap) return NULL;
  uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
  size_t mask = b->mcap - 1, i = (size_t)mix64(key) & mask;
  for (;;) {
    const merge_slot *m = &b->merges[i];
    if (m->key == key) return m;
    if (m->key == UINT64_MAX) return NULL;
    i = (i + 1) & mask;
  }
}

static void merge_insert(merge_slot *tab, size_t cap, merge_slot e, size_t *count) {
  size_t mask = cap - 1, i = (size_t)mix64(e.key) & mask;
  while (tab[i].key != UINT64_MAX && tab[i].key != e.key) i = (i + 1) & mask;
  if (tab[i].key == UINT64_MAX) (*count)++;
  tab[i] = e;
}

/* Insert or overwrite (a repeated merge keeps its last rank, as HF's map does); the table
 * doubles when half full. */
static pst_err merge_put(pst_bpe *b, int32_t l, int32_t r, int32_t rank, int32_t id) {
  if ((b->mcount + 1) * 2 > b->mcap) {
    size_t ncap = b->mcap ? 2 * b->mcap : 1024, cnt = 0;
    merge_slot *nt = malloc(ncap * sizeof *nt);
    if (!nt) PST_ERR(PST_ERR_MEM, "out of memory for %zu merges", b->mcount + 1);
    for (size_t i = 0; i < ncap; i++) nt[i].key = UINT64_MAX;
    for (size_t i = 0; i < b->mcap; i++)
      if (b->merges[i].key != UINT64_MAX) merge_insert(nt, ncap, b->merges[i], &cnt);
    free(b->merges);
    b->merges = nt;
    b->mcap = ncap;
  }
  merge_insert(b->merges, b->mcap, (merge_slot){(uint64_t)(uint32_t)l << 32 | (uint32_t)r, rank, id},
               &b->mcount);
  return PST_OK;
}

pst_err pst_bpe_add_merge(pst_bpe *b, const char *l, size_t ll, const char *r, size_t rl, char *why,
                          size_t whylen) {
  int32_t lid = pst_tok_vocab_get(b->vocab, NULL, 0, l, ll);
  int32_t rid = pst_tok_vocab_get(b->vocab, NULL, 0, r, rl);
  int32_t mid = pst_tok_vocab_get(b->vocab, l, ll, r, rl);
  if (lid < 0 || rid < 0) {
    snprintf(why, whylen, "token \"%.*s\" is not in the vocabulary", lid < 0 ? (int)(ll > 80 ? 80 : ll) : (int)(rl > 80 ? 80 : rl),
             lid < 0 ? l : r);
    return PST_ERR_FORMAT;
  }
  if (mid < 0) {
    snprintf(why, whylen, "merged token \"%.*s%.*s\" is not in the vocabulary", (int)(ll > 80 ? 80 : ll), l,
             (int)(rl > 80 ? 80 : rl), r);
    return PST_ERR_FORMAT;
  }
  if (b->nrank == INT32_MAX) {
    snprintf(why, whylen, "too many merges");
    return PST_ERR_FORMAT;
  }
  pst_err rc = merge_put(b, lid, rid, b->nrank++, mid);
  if (rc) snprintf(why, whylen, "out of memory");
  return rc;
}

/* ---- BPE of one piece ------------------------------------------------------------------------ */

typedef struct {
  int32_t rank, pos, id;
} heap_ent;

static int heap_less(const heap_ent *a, const heap_ent *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(heap_ent *h, size_t *hn, heap_ent e) {
  size_t i = (*hn)++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!heap_less(&e, &h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = e;
}

static heap_ent heap_pop(heap_ent *h, size_t *hn) {
  heap_ent top = h[0], e = h[--*hn];
  size_t i = 0, n = *hn;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_less(&h[c + 1], &h[c])) c++;
    if (!heap_less(&h[c], &e)) break;
    h[i] = h[c];
    i = c;
  }
  if (n) h[i] = e;
  return top;
}

/* Push the merge of the pair starting at symbol position p (if it has one). */
static void push_pair(const pst_bpe *b, pst_bpe_scratch *w, size_t *hn, int32_t p) {
  int32_t q = w->next[p];
  if (q < 0) return;
  const merge_slot *m = merge_find(b, w->sym[p], w->sym[q]);
  if (m) heap_push(w->heap, hn, (heap_ent){m->rank, p, m->id});
}

/* Room for n symbols and the merge queue. */
static pst_err scratch_reserve(pst_bpe_scratch *w, size_t n) {
  if (n > (size_t)INT32_MAX / 4) PST_ERR(PST_ERR_ARG, "pre-token of %zu symbols is too long", n);
  if (n > w->scap) {
    size_t cap = w->scap ? w->scap : 64;
    while (cap < n) cap *= 2;
    int32_t *s = realloc(w->sym, cap * 3 * sizeof *s);
    if (!s) PST_ERR(PST_ERR_MEM, "out of memory for BPE of a %zu-symbol piece", n);
    w->sym = s;
    w->prev = s + cap;
    w->next = s + 2 * cap;
    w->scap = cap;
  }
  if (3 * n > w->hcap) {
    heap_ent *h = realloc(w->heap, 3 * n * sizeof *h);
    if (!h) PST_ERR(PST_ERR_MEM, "out of memory for BPE of a %zu-symbol piece", n);
    w->heap = h;
    w->hcap = 3 * n;
  }
  return PST_OK;
}

void pst_bpe_scratch_free(pst_bpe_scratch *w) {
  free(w->sym);
  free(w->heap);
  free(w->buf);
  *w = (pst_bpe_scratch){0};
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
int32_t pst_byte_to_unicode(int byte) {
  if ((byte >= 0x21 && byte <= 0x7E) || (byte >= 0xA1 && byte <= 0xAC) || (byte >= 0xAE && byte <= 0xFF))
    return byte;
  int n = 0;
  for (int b = 0; b < byte; b++)
    if (!((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF))) n++;
  return 256 + n;
}

/* The byte-level image of piece (each byte as the UTF-8 of its bytes_to_unicode character)
 * into w->buf; returns its length. */
static pst_err byte_level_image(pst_bpe_scratch *w, const char *piece, size_t plen, size_t *olen) {
  if (2 * plen + 1 > w->bcap) {
    char *nb = realloc(w->buf, 2 * plen + 1);
    if (!nb) PST_ERR(PST_ERR_MEM, "out of memory for a %zu-byte piece", plen);
    w->buf = nb;
    w->bcap = 2 * plen + 1;
  }
  size_t o = 0;
  for (size_t i = 0; i < plen; i++) o += (size_t)pst_utf8_put((unsigned char *)w->buf + o, pst_byte_to_unicode((unsigned char)piece[i]));
  *olen = o;
  return PST_OK;
}

/* Append symbol id at position ns. */
static void sym_add(pst_bpe_scratch *w, int32_t *ns, int32_t id) {
  w->sym[*ns] = id;
  w->prev[*ns] = *ns - 1;
  w->next[*ns] = *ns + 1;
  (*ns)++;
}

/* The initial symbols of a piece, as HF's BPE::merge_word: each character (byte-level: each
 * byte's character) that is a token; else its UTF-8 bytes as <0xXX> tokens with byte_fallback
 * (when all exist); else unk (consecutive ones fused with fuse_unk; a pending unk is written
 * when the next known character comes, as HF does); else nothing. */
static int32_t initial_symbols(const pst_bpe *b, const char *piece, size_t plen, pst_bpe_scratch *w) {
  const unsigned char *s = (const unsigned char *)piece;
  int32_t ns = 0;
  int pending = 0;
  for (size_t i = 0; i < plen;) {
    unsigned char ch[4];
    int cl;
    int32_t id;
    if (b->opt.byte_level) {
      id = b->byte_id[s[i]];
      cl = pst_utf8_put(ch, pst_byte_to_unicode(s[i]));
      i++;
    } else {
      int32_t cp;
      cl = pst_utf8_next(s + i, &cp);
      memcpy(ch, s + i, (size_t)cl);
      id = pst_tok_vocab_get(b->vocab, NULL, 0, piece + i, (size_t)cl);
      i += (size_t)cl;
    }
    if (id >= 0) {
      if (pending) sym_add(w, &ns, b->opt.unk), pending = 0;
      sym_add(w, &ns, id);
      continue;
    }
    if (b->opt.byte_fallback) {
      int all = 1;
      for (int k = 0; k < cl; k++) all &= b->fb_id[ch[k]] >= 0;
      if (all) {
        for (int k = 0; k < cl; k++) sym_add(w, &ns, b->fb_id[ch[k]]);
        continue;
      }
    }
    if (b->opt.unk >= 0) {
      if (pending && !b->opt.fuse_unk) sym_add(w, &ns, b->opt.unk);
      pending = 1;
    }
  }
  if (pending) sym_add(w, &ns, b->opt.unk);
  return ns;
}

/* BPE of one pre-token (HF's Word::merge_all): a queue of candidate merges ordered by
 * (rank, position); stale entries, whose pair no longer exists, are skipped. */
pst_err pst_bpe_word(const pst_bpe *b, const char *piece, size_t plen, pst_bpe_scratch *w, int32_t **ids, int *n,
                     int *cap) {
  if (!plen) return PST_OK;
  if (b->opt.ignore_merges) { /* the whole piece is a token */
    const char *key = piece;
    size_t klen = plen;
    if (b->opt.byte_level) {
      PST_CHECK(byte_level_image(w, piece, plen, &klen));
      key = w->buf;
    }
    int32_t id = pst_tok_vocab_get(b->vocab, NULL, 0, key, klen);
    if (id >= 0) return pst_tok_push(ids, n, cap, id);
  }
  PST_CHECK(scratch_reserve(w, (b->opt.byte_level ? 2 * plen : plen) + 1));
  int32_t ns = initial_symbols(b, piece, plen, w);
  if (!ns) return PST_OK;
  w->next[ns - 1] = -1;
  size_t hn = 0;
  for (int32_t p = 0; p + 1 < ns; p++) push_pair(b, w, &hn, p);
  while (hn) {
    heap_ent e = heap_pop(w->heap, &hn);
    int32_t p = e.pos, q = w->next[p];
    if (w->sym[p] < 0 || q < 0) continue; /* merged away, or now last */
    const merge_slot *m = merge_find(b, w->sym[p], w->sym[q]);
    if (!m || m->id != e.id) continue; /* stale: the pair at p changed */
    w->sym[p] = e.id;
    w->sym[q] = -1;
    w->next[p] = w->next[q];
    if (w->next[q] >= 0) w->prev[w->next[q]] = p;
    if (w->prev[p] >= 0) push_pair(b, w, &hn, w->prev[p]);
    push_pair(b, w, &hn, p);
  }
  for (int32_t p = 0; p >= 0; p = w->next[p]) PST_CHECK(pst_tok_push(ids, n, cap, w->sym[p]));
  return PST_OK;
}

/* GPT-2 pre-tokenisation, then BPE of each piece. */
typedef struct {
  const pst_bpe *b;
  pst_bpe_scratch w;
  int32_t **ids;
  int *n, *cap;
} bpe_run;

static pst_err bpe_piece(void *ctx, const char *piece, size_t plen) {
  bpe_run *r = ctx;
  PST_CHECK(pst_bpe_word(r->b, piece, plen, &r->w, r->ids, r->n, r->cap));
  return PST_OK;
}

pst_err pst_bpe_tokenize(const pst_bpe *b, const char *text, size_t len, int32_t **ids, int *n, int *cap) {
  bpe_run r = {.b = b, .ids = ids, .n = n, .cap = cap};
  pst_err rc = pst_gpt2_pretokenize(text, len, bpe_piece, &r);
  pst_bpe_scratch_free(&r.w);
  PST_CHECK(rc);
  return PST_OK;
}

/* ---- building --------------------------------------------------------------------------------- */

pst_err pst_bpe_new(pst_bpe **out) {
  *out = NULL;
  pst_bpe *b = calloc(1, sizeof *b);
  if (!b) PST_ERR(PST_ERR_MEM, "out of memory allocating a BPE model");
  pst_err rc = pst_tok_vocab_new(&b->vocab);
  if (rc) {
    free(b);
    PST_CHECK(rc);
  }
  b->opt = (pst_bpe_opts){.byte_level = 1, .unk = -1};
  for (int i = 0; i < 256; i++) b->byte_id[i] = b->fb_id[i] = -1;
  *out = b;
  return PST_OK;
}

pst_err pst_bpe_add_token(pst_bpe *b, const char *s, size_t len, int32_t id) {
  PST_CHECK(pst_tok_vocab_put(b->vocab, s, len, id));
  if (id >= b->size) b->size = id + 1;
  return PST_OK;
}

void pst_bpe_set_opts(pst_bpe *b, const pst_bpe_opts *o) {
  b->opt = *o;
  for (int i = 0; i < 256; i++) {
    unsigned char u[4];
    int ul = pst_utf8_put(u, pst_byte_to_unicode(i));
    b->byte_id[i] = pst_tok_vocab_get(b->vocab, NULL, 0, (const char *)u, (size_t)ul);
    char fb[8];
    snprintf(fb, sizeof fb, "<0x%02X>", i);
    b->fb_id[i] = pst_tok_vocab_get(b->vocab, NULL, 0, fb, 6);
  }
}

pst_err pst_bpe_reverse(const pst_bpe *b, const char ***out) {
  PST_CHECK(pst_tok_vocab_reverse(b->vocab, b->size, out));
  return PST_OK;
}

/* ---- loading vocab.json + merges.txt ---------------------------------------------------------- */

static pst_err load_vocab_json(pst_bpe *b, const char *path, char sha[65]) {
  char *buf;
  size_t len;
  PST_CHECK(pst_tok_read_file(path, &buf, &len));
  pst_sha256_hex(buf, len, sha);
  json_error_t je;
  json_t *root = json_loadb(buf, len, 0, &je);
  free(buf);
  if (!root) PST_ERR(PST_ERR_FORMAT, "%s:%d:%d: %s", path, je.line, je.column, je.text);
  if (!json_is_object(root) || json_object_size(root) == 0) {
    json_decref(root);
    PST_ERR(PST_ERR_FORMAT, "%s: expected a non-empty JSON object of token -> id", path);
  }
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
    if (id < 0 || id > INT32_MAX - 64) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: token \"%.64s\": id is not an integer in [0, %d]",
                  path, key, INT32_MAX - 64); /* before json_decref frees key */
      json_decref(root);
      return PST_ERR_FORMAT;
    }
    pst_err rc = pst_bpe_add_token(b, key, strlen(key), (int32_t)id);
    if (rc) {
      json_decref(root);
      PST_CHECK(rc);
    }
  }
  json_decref(root);
  return PST_OK;
}

static pst_err load_merges(pst_bpe *b, const char *path, char sha[65]) {
  char *buf;
  size_t len;
  PST_CHECK(pst_tok_read_file(path, &buf, &len));
  pst_sha256_hex(buf, len, sha);
  long line = 0;
  pst_err rc = PST_OK;
  char msg[512] = "";
  for (size_t i = 0; i < len && !rc;) {
    size_t e = i;
    while (e < len && buf[e] != '\n') e++;
    line++;
    size_t next = e + 1;
    if (e > i && buf[e - 1] == '\r') e--;
    buf[e] = 0;
    char *s = buf + i;
    i = next;
    if (strncmp(s, "#version", 8) == 0) continue;
    long bad = pst_utf8_invalid_at((const unsigned char *)s, strlen(s));
    char *sp = strchr(s, ' ');
    if (bad >= 0) {
      rc = PST_ERR_FORMAT;
      snprintf(msg, sizeof msg, "not valid UTF-8 (byte offset %ld in the line)", bad);
    } else if (e - (size_t)(s - buf) != strlen(s)) {
      rc = PST_ERR_FORMAT;
      snprintf(msg, sizeof msg, "NUL byte in the line");
    } else if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' ')) {
      rc = PST_ERR_FORMAT;
      snprintf(msg, sizeof msg, "expected \"left right\", got \"%.80s\"", s);
    } else {
      rc = pst_bpe_add_merge(b, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), msg, sizeof msg);
    }
  }
  free(buf);
  if (rc) PST_ERR(rc, "%s:%ld: %s", path, line, msg);
  return PST_OK;
}

pst_err pst_bpe_load(pst_bpe **out, const char *vocab_json, const char *merges_txt, char vocab_sha256[65],
                     char merges_sha256[65]) {
  *out = NULL;
  pst_bpe *b;
  PST_CHECK(pst_bpe_new(&b));
  pst_err rc = load_vocab_json(b, vocab_json, vocab_sha256);
  if (!rc) rc = load_merges(b, merges_txt, merges_sha256);
  if (rc) {
    pst_bpe_free(b);
    PST_CHECK(rc);
  }
  pst_bpe_set_opts(b, &(pst_bpe_opts){.byte_level = 1, .unk = -1});
  *out = b;
  return PST_OK;
}

void pst_bpe_free(pst_bpe *b) {
  if (!b) return;
  pst_tok_vocab_free(b->vocab);
  free(b->merges);
  free(b);
}

int32_t pst_bpe_id(const pst_bpe *b, const char *token) {
  return pst_tok_vocab_get(b->vocab, NULL, 0, token, strlen(token));
}

int32_t pst_bpe_id_n(const pst_bpe *b, const char *token, size_t len) {
  return pst_tok_vocab_get(b->vocab, NULL, 0, token, len);
}

int pst_bpe_size(const pst_bpe *b) { return b->size; }
