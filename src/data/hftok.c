/* hftok.c — running a tokenizer.json-style BPE tokenizer as Hugging Face tokenizers does:
 * added tokens found on the raw text (leftmost-longest, with lstrip / rstrip), each segment
 * between them normalised (NFC, Prepend, Replace), normalised added tokens found in it, the
 * rest pre-tokenised (GPT-2 / Llama 3 / Qwen2 splits, Digits, Metaspace, ByteLevel) and each
 * piece run through the BPE model. Also building the tokenizer (shared by tokjson.c and
 * tokspec.c). */
#include "hftok.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- building ---------------------------------------------------------------------------------- */

pst_err pst_hftok_new(pst_hftok **out) {
  *out = NULL;
  pst_hftok *h = calloc(1, sizeof *h);
  if (!h) PST_ERR(PST_ERR_MEM, "out of memory allocating a tokenizer");
  pst_err rc = pst_bpe_new(&h->bpe);
  if (rc) {
    free(h);
    PST_CHECK(rc);
  }
  h->bos = h->eos = h->pad = h->unk = -1;
  *out = h;
  return PST_OK;
}

void pst_hftok_free(pst_hftok *h) {
  if (!h) return;
  pst_bpe_free(h->bpe);
  for (int i = 0; i < h->nnorm; i++) {
    free(h->norm[i].a);
    free(h->norm[i].b);
  }
  for (int i = 0; i < h->nadded; i++) {
    if (h->added[i].match != h->added[i].text) free(h->added[i].match);
    free(h->added[i].text);
  }
  free(h->added);
  free(h->tok);
  free(h->is_special);
  free(h);
}

static char *dup_n(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = 0;
  }
  return d;
}

pst_err pst_hftok_add_token(pst_hftok *h, const char *text, size_t len, int32_t id, int special, int lstrip,
                            int rstrip, int normalized) {
  if (!len) PST_ERR(PST_ERR_FORMAT, "empty added token (id %d)", (int)id);
  if (id < 0 || id >= PST_TOK_MAX_ID) PST_ERR(PST_ERR_FORMAT, "added token id %d out of range", (int)id);
  if (h->nadded % 64 == 0) {
    hf_added *na = realloc(h->added, (size_t)(h->nadded + 64) * sizeof *na);
    if (!na) PST_ERR(PST_ERR_MEM, "out of memory for %d added tokens", h->nadded + 64);
    h->added = na;
  }
  char *t = dup_n(text, len);
  if (!t) PST_ERR(PST_ERR_MEM, "out of memory for an added token");
  h->added[h->nadded++] = (hf_added){t, t, len, len, id, (unsigned char)!!special, (unsigned char)!!lstrip,
                                     (unsigned char)!!rstrip, (unsigned char)!!normalized};
  return PST_OK;
}

pst_err pst_hftok_add_norm(pst_hftok *h, int op, const char *a, const char *b) {
  if (h->nnorm >= HF_MAX_NORM) PST_ERR(PST_ERR_FORMAT, "more than %d normalizer steps", HF_MAX_NORM);
  hf_norm *n = &h->norm[h->nnorm];
  *n = (hf_norm){.op = op};
  if (a && !(n->a = dup_n(a, n->alen = strlen(a)))) PST_ERR(PST_ERR_MEM, "out of memory for a normalizer");
  if (b && !(n->b = dup_n(b, n->blen = strlen(b)))) {
    free(n->a);
    PST_ERR(PST_ERR_MEM, "out of memory for a normalizer");
  }
  h->nnorm++;
  return PST_OK;
}

pst_err pst_hftok_finish(pst_hftok *h) {
  /* longest first (stable: insertion sort keeps the file's order among equal lengths) */
  for (int i = 1; i < h->nadded; i++) {
    hf_added a = h->added[i];
    int j = i;
    while (j > 0 && h->added[j - 1].len < a.len) {
      h->added[j] = h->added[j - 1];
      j--;
    }
    h->added[j] = a;
  }
  int vs = pst_bpe_size(h->bpe);
  for (int i = 0; i < h->nadded; i++) {
    hf_added *a = &h->added[i];
    if (a->normalized && h->nnorm) {
      char *m;
      size_t ml;
      PST_CHECK(pst_hftok_normalize(h, a->text, a->len, &m, &ml));
      if (!ml) {
        free(m);
        PST_ERR(PST_ERR_FORMAT, "added token \"%.80s\" normalises to nothing", a->text);
      }
      a->match = m;
      a->mlen = ml;
    }
    (a->normalized ? h->norm_first : h->raw_first)[(unsigned char)a->match[0]] = 1;
    if (a->id >= vs) vs = a->id + 1;
  }
  h->vocab_size = vs;
  const char **rev;
  PST_CHECK(pst_bpe_reverse(h->bpe, &rev));
  h->tok = calloc((size_t)vs + 1, sizeof *h->tok);
  h->is_special = calloc((size_t)vs + 1, 1);
  if (!h->tok || !h->is_special) {
    free(rev);
    PST_ERR(PST_ERR_MEM, "out of memory for %d token strings", vs);
  }
  memcpy(h->tok, rev, (size_t)pst_bpe_size(h->bpe) * sizeof *rev);
  free(rev);
  for (int i = h->nadded - 1; i >= 0; i--) { /* the first of equal-id tokens wins */
    h->tok[h->added[i].id] = h->added[i].text;
    h->is_special[h->added[i].id] = h->added[i].special;
  }
  return PST_OK;
}

const char *pst_hftok_token(const pst_hftok *h, int32_t id) {
  return id >= 0 && id < h->vocab_size ? h->tok[id] : NULL;
}

int32_t pst_hftok_token_id(const pst_hftok *h, const char *token) {
  size_t len = strlen(token);
  for (int i = 0; i < h->nadded; i++)
    if (h->added[i].len == len && memcmp(h->added[i].text, token, len) == 0) return h->added[i].id;
  return pst_bpe_id_n(h->bpe, token, len);
}

/* ---- normaliser ---------------------------------------------------------------------------------- */

/* Replace every occurrence of a (left to right, not overlapping) by b. */
static pst_err replace_all(const char *s, size_t len, const hf_norm *n, char **out, size_t *olen) {
  size_t count = 0;
  for (size_t i = 0; n->alen && i + n->alen <= len;)
    if (memcmp(s + i, n->a, n->alen) == 0) count++, i += n->alen;
    else i++;
  size_t cap = len + count * n->blen + 1;
  char *o = malloc(cap);
  if (!o) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
  size_t k = 0;
  for (size_t i = 0; i < len;) {
    if (n->alen && i + n->alen <= len && memcmp(s + i, n->a, n->alen) == 0) {
      memcpy(o + k, n->b, n->blen);
      k += n->blen;
      i += n->alen;
    } else {
      o[k++] = s[i++];
    }
  }
  o[k] = 0;
  *out = o;
  *olen = k;
  return PST_OK;
}

/* One normaliser step on s[0..len) into a malloc'd *out. */
static pst_err norm_step(const hf_norm *n, const char *s, size_t len, char **out, size_t *olen) {
  *out = NULL;
  switch (n->op) {
  case HF_NORM_NFC: {
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t rl = len ? utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &r,
                                             UTF8PROC_STABLE | UTF8PROC_COMPOSE)
                              : 0;
    if (rl < 0) PST_ERR(PST_ERR_FORMAT, "NFC normalisation failed: %s", utf8proc_errmsg(rl));
    if (!len) {
      r = malloc(1);
      if (!r) PST_ERR(PST_ERR_MEM, "out of memory normalising");
      r[0] = 0;
    }
    *out = (char *)r;
    *olen = (size_t)rl;
    return PST_OK;
  }
  case HF_NORM_PREPEND: {
    size_t pl = len ? n->alen : 0; /* HF: only a non-empty string gets the prefix */
    char *o = malloc(pl + len + 1);
    if (!o) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
    memcpy(o, n->a, pl);
    memcpy(o + pl, s, len);
    o[pl + len] = 0;
    *out = o;
    *olen = pl + len;
    return PST_OK;
  }
  default:
    PST_CHECK(replace_all(s, len, n, out, olen));
    return PST_OK;
  }
}

pst_err pst_hftok_normalize(const pst_hftok *h, const char *text, size_t len, char **out, size_t *olen) {
  char *cur = dup_n(text, len);
  if (!cur) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
  size_t cl = len;
  for (int i = 0; i < h->nnorm; i++) {
    char *nx;
    size_t nl;
    pst_err rc = norm_step(&h->norm[i], cur, cl, &nx, &nl);
    free(cur);
    PST_CHECK(rc);
    cur = nx;
    cl = nl;
  }
  *out = cur;
  *olen = cl;
  return PST_OK;
}

/* ---- the pipeline ---------------------------------------------------------------------------------- */

typedef struct {
  const pst_hftok *h;
  pst_bpe_scratch w;
  int32_t **ids;
  int *n, *cap;
} tok_run;

/* Pre-tokeniser stage `stage` over one piece; seg is the start of its normalised segment and
 * first says whether that segment starts the text (Metaspace prepend_scheme "first"). */
typedef struct {
  tok_run *r;
  int stage, first;
  const char *seg;
} stage_ctx;

static pst_err stage_piece(void *vctx, const char *p, size_t len);

/* Metaspace: spaces -> the replacement, the replacement prepended (always, or to the first
 * segment) unless already there, then split before each replacement if asked. */
static pst_err metaspace(const stage_ctx *c, stage_ctx *next, const hf_pre *pr, const char *p, size_t len) {
  size_t rl = strlen(pr->rep), spaces = 0;
  for (size_t i = 0; i < len; i++) spaces += p[i] == ' ';
  char *b = malloc(len + (spaces + 1) * rl + 1);
  if (!b) PST_ERR(PST_ERR_MEM, "out of memory pre-tokenising %zu bytes", len);
  size_t k = 0;
  for (size_t i = 0; i < len; i++)
    if (p[i] == ' ') memcpy(b + k, pr->rep, rl), k += rl;
    else b[k++] = p[i];
  int starts = k >= rl && memcmp(b, pr->rep, rl) == 0;
  int first = c->first && p == c->seg;
  if (!starts && (pr->prepend == HF_PREPEND_ALWAYS || (pr->prepend == HF_PREPEND_FIRST && first))) {
    memmove(b + rl, b, k);
    memcpy(b, pr->rep, rl);
    k += rl;
  }
  pst_err rc = PST_OK;
  if (!pr->split) {
    rc = stage_piece(next, b, k);
  } else {
    size_t start = 0;
    for (size_t i = rl; i + rl <= k && !rc; i++)
      if (memcmp(b + i, pr->rep, rl) == 0 && i > start) {
        rc = stage_piece(next, b + start, i - start);
        start = i;
      }
    if (!rc && start < k) rc = stage_piece(next, b + start, k - start);
  }
  free(b);
  return rc;
}

static pst_err stage_piece(void *vctx, const char *p, size_t len) {
  const stage_ctx *c = vctx;
  tok_run *r = c->r;
  const pst_hftok *h = r->h;
  if (!len) return PST_OK;
  if (c->stage >= h->npre) {
    PST_CHECK(pst_bpe_word(h->bpe, p, len, &r->w, r->ids, r->n, r->cap));
    return PST_OK;
  }
  stage_ctx next = *c;
  next.stage++;
  const hf_pre *pr = &h->pre[c->stage];
  switch (pr->type) {
  case HF_PRE_GPT2: PST_CHECK(pst_gpt2_pretokenize(p, len, stage_piece, &next)); break;
  case HF_PRE_LLAMA3: PST_CHECK(pst_llama3_pretokenize(p, len, 3, stage_piece, &next)); break;
  case HF_PRE_QWEN2: PST_CHECK(pst_llama3_pretokenize(p, len, 1, stage_piece, &next)); break;
  case HF_PRE_DIGITS: PST_CHECK(pst_digits_pretokenize(p, len, 0, stage_piece, &next)); break;
  case HF_PRE_DIGITS_EACH: PST_CHECK(pst_digits_pretokenize(p, len, 1, stage_piece, &next)); break;
  case HF_PRE_METASPACE: PST_CHECK(metaspace(c, &next, pr, p, len)); break;
  default: PST_CHECK(stage_piece(&next, p, len)); break; /* ByteLevel: the model maps the bytes */
  }
  return PST_OK;
}

typedef pst_err (*gap_fn)(tok_run *r, const char *s, size_t len, int at_start);

static int is_space_at(const unsigned char *s, size_t i, size_t *next) {
  int32_t c;
  *next = i + (size_t)pst_utf8_next(s + i, &c);
  return pst_gpt2_char_class(c) == PST_GPT2_SPACE;
}

/* Find the added tokens of one kind (normalized or not) in s[0..len): leftmost, longest
 * first; lstrip / rstrip take the white space before / after into the token. Gaps go to gap(),
 * tokens to the ids. at_start: s starts the text. */
static pst_err split_added(tok_run *r, int normalized, const char *s, size_t len, int at_start, gap_fn gap) {
  const pst_hftok *h = r->h;
  const unsigned char *u = (const unsigned char *)s;
  const unsigned char *first = normalized ? h->norm_first : h->raw_first;
  size_t start = 0;
  for (size_t i = 0; i < len;) {
    int hit = -1;
    if (first[u[i]])
      for (int k = 0; k < h->nadded && hit < 0; k++) {
        const hf_added *a = &h->added[k];
        if (a->normalized == normalized && len - i >= a->mlen && memcmp(s + i, a->match, a->mlen) == 0) hit = k;
      }
    if (hit < 0) {
      i++;
      continue;
    }
    const hf_added *a = &h->added[hit];
    size_t ms = i, me = i + a->mlen;
    if (a->lstrip) { /* back over the white space before it, not into the previous match */
      size_t p = start, ns = start;
      while (p < ms) {
        size_t nx;
        if (!is_space_at(u, p, &nx)) ns = nx;
        p = nx;
      }
      ms = ns;
    }
    if (a->rstrip)
      while (me < len) {
        size_t nx;
        if (!is_space_at(u, me, &nx)) break;
        me = nx;
      }
    if (ms > start) PST_CHECK(gap(r, s + start, ms - start, at_start && start == 0));
    PST_CHECK(pst_tok_push(r->ids, r->n, r->cap, a->id));
    start = i = me;
  }
  if (start < len) PST_CHECK(gap(r, s + start, len - start, at_start && start == 0));
  return PST_OK;
}

/* A piece of a normalised segment between normalised added tokens: pre-tokenise it. */
static pst_err norm_gap(tok_run *r, const char *s, size_t len, int at_start) {
  stage_ctx c = {r, 0, at_start, s};
  PST_CHECK(stage_piece(&c, s, len));
  return PST_OK;
}

/* A raw segment between added tokens: normalise, then find the normalised added tokens. */
static pst_err raw_gap(tok_run *r, const char *s, size_t len, int at_start) {
  const pst_hftok *h = r->h;
  if (!h->nnorm) {
    PST_CHECK(split_added(r, 1, s, len, at_start, norm_gap));
    return PST_OK;
  }
  char *ns;
  size_t nl;
  PST_CHECK(pst_hftok_normalize(h, s, len, &ns, &nl));
  pst_err rc = split_added(r, 1, ns, nl, at_start, norm_gap);
  free(ns);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err pst_hftok_tokenize(const pst_hftok *h, const char *text, size_t len, int32_t **ids, int *n, int *cap) {
  tok_run r = {.h = h, .ids = ids, .n = n, .cap = cap};
  pst_err rc = split_added(&r, 0, text, len, 1, raw_gap);
  pst_bpe_scratch_free(&r.w);
  PST_CHECK(rc);
  return PST_OK;
}
