/* ngram.c — token interning, n-gram count tables and tokenized corpora: the counting that
 * BLEU, NIST, ROUGE-L, CIDEr and TER share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nlg_internal.h"

static uint64_t hash_bytes(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

static uint64_t hash_ids(const int *id, int n) {
  uint64_t h = 1469598103934665603ull ^ (uint64_t)n;
  for (int i = 0; i < n; i++) h = (h ^ (uint32_t)id[i]) * 1099511628211ull;
  return h ^ (h >> 29);
}

/* ---- vocabulary ---------------------------------------------------------------------------- */

static pst_err vocab_grow(nlg_vocab *v) {
  size_t ns = v->nslot ? 2 * v->nslot : 256;
  int *slot = calloc(ns, sizeof *slot);
  if (!slot) PST_ERR(PST_ERR_MEM, "out of memory for a vocabulary of %d tokens", v->n);
  for (int i = 0; i < v->n; i++) {
    size_t k = hash_bytes(v->str[i], strlen(v->str[i])) & (ns - 1);
    while (slot[k]) k = (k + 1) & (ns - 1);
    slot[k] = i + 1;
  }
  free(v->slot);
  v->slot = slot;
  v->nslot = ns;
  return PST_OK;
}

/* The id of the token s[0..len), added when new. */
static pst_err vocab_id(nlg_vocab *v, const char *s, size_t len, int *id) {
  if (2 * ((size_t)v->n + 1) > v->nslot) PST_CHECK(vocab_grow(v));
  size_t k = hash_bytes(s, len) & (v->nslot - 1);
  for (; v->slot[k]; k = (k + 1) & (v->nslot - 1)) {
    const char *t = v->str[v->slot[k] - 1];
    if (strlen(t) == len && !memcmp(t, s, len)) {
      *id = v->slot[k] - 1;
      return PST_OK;
    }
  }
  if (v->n == v->cap) {
    int cap = v->cap ? 2 * v->cap : 256;
    char **p = realloc(v->str, (size_t)cap * sizeof *p);
    if (!p) PST_ERR(PST_ERR_MEM, "out of memory for a vocabulary of %d tokens", cap);
    v->str = p;
    v->cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) PST_ERR(PST_ERR_MEM, "out of memory for a token of %zu bytes", len);
  memcpy(copy, s, len);
  copy[len] = '\0';
  v->str[v->n] = copy;
  v->slot[k] = v->n + 1;
  *id = v->n++;
  return PST_OK;
}

static void vocab_free(nlg_vocab *v) {
  for (int i = 0; i < v->n; i++) free(v->str[i]);
  free(v->str);
  free(v->slot);
  memset(v, 0, sizeof *v);
}

/* The tokens of a tokenizer's output string as ids. */
static pst_err split_ids(nlg_seq *seq, nlg_vocab *v, const char *s, nlg_split mode) {
  size_t len = strlen(s), max = len + 1;
  seq->len = 0;
  seq->id = malloc(max * sizeof *seq->id);
  if (!seq->id) PST_ERR(PST_ERR_MEM, "out of memory for %zu tokens", max);
  size_t i = 0;
  for (;;) {
    if (mode == NLG_SPLIT_WS)
      while (i < len && s[i] == ' ') i++;
    if (mode == NLG_SPLIT_WS && i == len) break;
    size_t j = i;
    while (j < len && s[j] != ' ') j++;
    PST_CHECK(vocab_id(v, s + i, j - i, &seq->id[seq->len]));
    seq->len++;
    if (j == len) break;
    i = j + 1;
  }
  return PST_OK;
}

/* ---- n-gram tables -------------------------------------------------------------------------- */

static nlg_ngram *slot_of(nlg_ngram *e, size_t cap, const int *id, int n) {
  size_t k = hash_ids(id, n) & (cap - 1);
  for (;; k = (k + 1) & (cap - 1)) {
    if (!e[k].n) return &e[k];
    if (e[k].n == n && !memcmp(e[k].id, id, (size_t)n * sizeof *id)) return &e[k];
  }
}

static pst_err ngtab_grow(nlg_ngtab *t) {
  size_t cap = t->cap ? 2 * t->cap : 64;
  nlg_ngram *e = calloc(cap, sizeof *e);
  if (!e) PST_ERR(PST_ERR_MEM, "out of memory for %zu n-grams", cap);
  for (size_t i = 0; i < t->cap; i++)
    if (t->e[i].n) *slot_of(e, cap, t->e[i].id, t->e[i].n) = t->e[i];
  free(t->e);
  t->e = e;
  t->cap = cap;
  return PST_OK;
}

/* The slot of an n-gram, made live with value 0 when new. */
static pst_err ngtab_slot(nlg_ngtab *t, const int *id, int n, nlg_ngram **out) {
  if (n < 1 || n > NLG_MAXN) PST_ERR(PST_ERR_INTERNAL, "n-gram order %d out of 1..%d", n, NLG_MAXN);
  if (2 * (t->count + 1) > t->cap) PST_CHECK(ngtab_grow(t));
  nlg_ngram *s = slot_of(t->e, t->cap, id, n);
  if (!s->n) {
    s->n = n;
    memcpy(s->id, id, (size_t)n * sizeof *id);
    s->v = 0;
    t->count++;
  }
  *out = s;
  return PST_OK;
}

pst_err nlg_ngtab_add(nlg_ngtab *t, const int *id, int n, double v) {
  nlg_ngram *s;
  PST_CHECK(ngtab_slot(t, id, n, &s));
  s->v += v;
  return PST_OK;
}

pst_err nlg_ngtab_max(nlg_ngtab *t, const int *id, int n, double v) {
  nlg_ngram *s;
  PST_CHECK(ngtab_slot(t, id, n, &s));
  if (v > s->v) s->v = v;
  return PST_OK;
}

const nlg_ngram *nlg_ngtab_find(const nlg_ngtab *t, const int *id, int n) {
  if (!t->cap || n < 1 || n > NLG_MAXN) return NULL;
  const nlg_ngram *s = slot_of(t->e, t->cap, id, n);
  return s->n ? s : NULL;
}

double nlg_ngtab_get(const nlg_ngtab *t, const int *id, int n) {
  const nlg_ngram *s = nlg_ngtab_find(t, id, n);
  return s ? s->v : 0.0;
}

pst_err nlg_ngtab_count(nlg_ngtab *t, const nlg_seq *s, int minn, int maxn) {
  for (int k = minn; k <= maxn; k++)
    for (int i = 0; i + k <= s->len; i++) PST_CHECK(nlg_ngtab_add(t, s->id + i, k, 1.0));
  return PST_OK;
}

pst_err nlg_ref_max_counts(nlg_ngtab *refmax, const nlg_corpus *c, int i, int maxn) {
  nlg_ngtab_clear(refmax);
  for (int r = c->ref_off[i]; r < c->ref_off[i + 1]; r++) {
    nlg_ngtab one = {0};
    pst_err rc = nlg_ngtab_count(&one, &c->ref[r], 1, maxn);
    for (size_t k = 0; k < one.cap && !rc; k++)
      if (one.e[k].n) rc = nlg_ngtab_max(refmax, one.e[k].id, one.e[k].n, one.e[k].v);
    nlg_ngtab_free(&one);
    PST_CHECK(rc);
  }
  return PST_OK;
}

void nlg_ngtab_clear(nlg_ngtab *t) {
  if (t->e) memset(t->e, 0, t->cap * sizeof *t->e);
  t->count = 0;
}

void nlg_ngtab_free(nlg_ngtab *t) {
  free(t->e);
  memset(t, 0, sizeof *t);
}

/* ---- corpora ---------------------------------------------------------------------------------- */

/* Tokenize and split one segment; errors name the metric and the segment. */
static pst_err add_segment(nlg_corpus *c, nlg_seq *seq, const char *s, const char *what, int i,
                           const char *role, nlg_tokfn tok, int flag, nlg_split split) {
  if (!s) PST_ERR(PST_ERR_ARG, "%s: %s of segment %d is NULL", what, role, i + 1);
  char *t = NULL;
  pst_err rc = tok(&t, s, flag);
  if (rc) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s", pst_err_message());
    PST_ERR(rc, "%s: %s of segment %d: %s", what, role, i + 1, msg);
  }
  rc = split_ids(seq, &c->vocab, t, split);
  free(t);
  PST_CHECK(rc);
  return PST_OK;
}

pst_err nlg_corpus_build(nlg_corpus *c, const char *what, const char *const *hyps, int n,
                         const char *const *const *refs, const int *nrefs, nlg_tokfn tok, int flag,
                         nlg_split split) {
  memset(c, 0, sizeof *c);
  if (n < 1) PST_ERR(PST_ERR_ARG, "%s: need at least one segment (n = %d)", what, n);
  if (!hyps || !refs || !nrefs) PST_ERR(PST_ERR_ARG, "%s: NULL hypotheses or references", what);
  long total = 0;
  for (int i = 0; i < n; i++) {
    if (nrefs[i] < 1 || !refs[i])
      PST_ERR(PST_ERR_ARG, "%s: segment %d has no reference (nrefs = %d)", what, i + 1, nrefs[i]);
    total += nrefs[i];
    if (total > 0x3fffffff) PST_ERR(PST_ERR_ARG, "%s: too many references (%ld)", what, total);
    if (nrefs[i] > c->max_refs) c->max_refs = nrefs[i];
  }
  c->n = n;
  c->hyp = calloc((size_t)n, sizeof *c->hyp);
  c->ref = calloc((size_t)total, sizeof *c->ref);
  c->ref_off = calloc((size_t)n + 1, sizeof *c->ref_off);
  if (!c->hyp || !c->ref || !c->ref_off) {
    nlg_corpus_free(c);
    PST_ERR(PST_ERR_MEM, "%s: out of memory for %d segments", what, n);
  }
  for (int i = 0; i < n; i++) c->ref_off[i + 1] = c->ref_off[i] + nrefs[i];
  pst_err rc = PST_OK;
  for (int i = 0; i < n && !rc; i++) {
    rc = add_segment(c, &c->hyp[i], hyps[i], what, i, "hypothesis", tok, flag, split);
    for (int r = 0; r < nrefs[i] && !rc; r++)
      rc = add_segment(c, &c->ref[c->ref_off[i] + r], refs[i][r], what, i, "reference", tok, flag, split);
  }
  if (rc) {
    nlg_corpus_free(c);
    PST_CHECK(rc);
  }
  return PST_OK;
}

void nlg_corpus_free(nlg_corpus *c) {
  if (c->hyp)
    for (int i = 0; i < c->n; i++) free(c->hyp[i].id);
  if (c->ref && c->ref_off)
    for (int i = 0; i < c->ref_off[c->n]; i++) free(c->ref[i].id);
  free(c->hyp);
  free(c->ref);
  free(c->ref_off);
  vocab_free(&c->vocab);
  memset(c, 0, sizeof *c);
}
