/* tokspec.c — a tokenizer from arrays (GGUF tokenizer.ggml.* metadata): the pst_hftok that the
 * equivalent Hugging Face tokenizer.json would give. Byte-level ("gpt2"): the pre-tokeniser
 * named by llama.cpp's tokenizer.ggml.pre; SentencePiece ("llama"): Llama 2's normaliser,
 * byte fallback and fused unk, with merges given or derived from the scores as
 * transformers' LlamaConverter (SentencePieceExtractor / generate_merges) does. */
#include "hftok.h"

#include <stdlib.h>
#include <string.h>

/* llama.cpp pre-tokeniser names -> stages (and NFC / ignore_merges). */
static const struct {
  const char *name;
  int stages[2], nstages, nfc, ignore_merges;
} pre_names[] = {
    {"default", {HF_PRE_GPT2}, 1, 0, 0},
    {"gpt-2", {HF_PRE_GPT2}, 1, 0, 0},
    {"llama-bpe", {HF_PRE_LLAMA3}, 1, 0, 1},
    {"llama3", {HF_PRE_LLAMA3}, 1, 0, 1},
    {"llama-v3", {HF_PRE_LLAMA3}, 1, 0, 1},
    {"qwen2", {HF_PRE_QWEN2}, 1, 1, 0},
    {"smollm", {HF_PRE_DIGITS_EACH, HF_PRE_GPT2}, 2, 0, 0},
};

/* Split a merge "left right" at the first space whose two sides are tokens (else the first). */
static pst_err add_merge(pst_hftok *h, const char *m, int i) {
  const char *first = strchr(m, ' '), *sp = first;
  for (; sp; sp = strchr(sp + 1, ' '))
    if (sp > m && sp[1] && pst_bpe_id_n(h->bpe, m, (size_t)(sp - m)) >= 0 && pst_bpe_id(h->bpe, sp + 1) >= 0) break;
  if (!sp) sp = first;
  if (!sp || sp == m || !sp[1]) PST_ERR(PST_ERR_ARG, "spec.merges[%d] \"%.80s\": expected \"left right\"", i, m);
  char why[256];
  pst_err rc = pst_bpe_add_merge(h->bpe, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), why, sizeof why);
  if (rc) PST_ERR(rc == PST_ERR_MEM ? rc : PST_ERR_ARG, "spec.merges[%d] \"%.80s\": %s", i, m, why);
  return PST_OK;
}

/* ---- merges from SentencePiece scores ------------------------------------------------------------- */

typedef struct {
  int32_t tok;            /* the merged token */
  int32_t lid, rid;       /* its parts' ids */
  uint32_t lbytes, lchars, rchars;
  float score;
  int64_t order;          /* position before sorting (stability) */
} derived;

static int cmp_local(const void *a, const void *b) {
  const derived *x = a, *y = b;
  if (x->lid != y->lid) return x->lid < y->lid ? -1 : 1;
  if (x->rid != y->rid) return x->rid < y->rid ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* generate_merges(vocab, scores): sorted by (score, chars of left, chars of right), highest
 * first, stable. */
static int cmp_rank(const void *a, const void *b) {
  const derived *x = a, *y = b;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  if (x->lchars != y->lchars) return x->lchars > y->lchars ? -1 : 1;
  if (x->rchars != y->rchars) return x->rchars > y->rchars ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static uint32_t utf8_chars(const char *s, size_t len) {
  uint32_t n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80;
  return n;
}

/* For every token (in id order) each split into two tokens at a character boundary, the
 * splits of one token ordered by (left id, right id); then ranked by cmp_rank. The merge
 * lists of a vocab follow its ids, as in Python dict order: the last of duplicate tokens. */
static pst_err derive_merges(pst_hftok *h, const pst_tokenizer_spec *sp) {
  size_t cap = 1024, n = 0;
  derived *d = malloc(cap * sizeof *d);
  if (!d) PST_ERR(PST_ERR_MEM, "out of memory deriving merges");
  for (int t = 0; t < sp->ntokens; t++) {
    const char *s = sp->tokens[t];
    size_t len = strlen(s), n0 = n;
    if (pst_bpe_id_n(h->bpe, s, len) != t) continue; /* a duplicate: Python's dict keeps the last */
    for (size_t i = 1; i < len; i++) {
      if (((unsigned char)s[i] & 0xC0) == 0x80) continue;
      int32_t l = pst_bpe_id_n(h->bpe, s, i), r = pst_bpe_id_n(h->bpe, s + i, len - i);
      if (l < 0 || r < 0) continue;
      if (n == cap) {
        derived *nd = realloc(d, 2 * cap * sizeof *d);
        if (!nd) {
          free(d);
          PST_ERR(PST_ERR_MEM, "out of memory deriving merges");
        }
        d = nd;
        cap *= 2;
      }
      d[n] = (derived){t, l, r, (uint32_t)i, utf8_chars(s, i), utf8_chars(s + i, len - i), sp->scores[t], (int64_t)n};
      n++;
    }
    qsort(d + n0, n - n0, sizeof *d, cmp_local);
  }
  for (size_t i = 0; i < n; i++) d[i].order = (int64_t)i;
  qsort(d, n, sizeof *d, cmp_rank);
  pst_err rc = PST_OK;
  char why[256];
  for (size_t i = 0; i < n && !rc; i++) {
    const char *s = sp->tokens[d[i].tok];
    rc = pst_bpe_add_merge(h->bpe, s, d[i].lbytes, s + d[i].lbytes, strlen(s) - d[i].lbytes, why, sizeof why);
  }
  free(d);
  if (rc) PST_ERR(rc, "deriving merges from the scores: %s", why);
  return PST_OK;
}

/* ---- the tokenizer -------------------------------------------------------------------------------- */

static pst_err check_spec(const pst_tokenizer_spec *sp) {
  if (sp->kind != PST_TOK_BYTE_LEVEL && sp->kind != PST_TOK_SENTENCEPIECE)
    PST_ERR(PST_ERR_ARG, "spec.kind %d: expected PST_TOK_BYTE_LEVEL or PST_TOK_SENTENCEPIECE", (int)sp->kind);
  if (!sp->tokens || sp->ntokens <= 0 || sp->ntokens >= PST_TOK_MAX_ID)
    PST_ERR(PST_ERR_ARG, "spec.tokens: expected 1 to %d tokens, got %d", PST_TOK_MAX_ID - 1, sp->ntokens);
  if (sp->nmerges < 0 || (sp->nmerges && !sp->merges)) PST_ERR(PST_ERR_ARG, "spec.merges: NULL or nmerges %d", sp->nmerges);
  const int32_t ids[4] = {sp->bos_id, sp->eos_id, sp->unk_id, sp->pad_id};
  static const char *const names[4] = {"bos_id", "eos_id", "unk_id", "pad_id"};
  for (int i = 0; i < 4; i++)
    if (ids[i] < -1 || ids[i] >= sp->ntokens)
      PST_ERR(PST_ERR_ARG, "spec.%s %d: not -1 or a token id below %d", names[i], (int)ids[i], sp->ntokens);
  if (sp->add_bos && sp->bos_id < 0) PST_ERR(PST_ERR_ARG, "spec.add_bos without a bos_id");
  if (sp->add_eos && sp->eos_id < 0) PST_ERR(PST_ERR_ARG, "spec.add_eos without an eos_id");
  if (sp->kind == PST_TOK_SENTENCEPIECE && !sp->nmerges && !sp->scores)
    PST_ERR(PST_ERR_ARG, "spec: a SentencePiece tokenizer needs merges or scores");
  for (int i = 0; i < sp->ntokens; i++) {
    if (!sp->tokens[i]) PST_ERR(PST_ERR_ARG, "spec.tokens[%d] is NULL", i);
    long bad = pst_utf8_invalid_at((const unsigned char *)sp->tokens[i], strlen(sp->tokens[i]));
    if (bad >= 0) PST_ERR(PST_ERR_ARG, "spec.tokens[%d]: not valid UTF-8 (byte offset %ld)", i, bad);
    int ty = sp->token_types ? sp->token_types[i] : PST_TOKTYPE_NORMAL;
    if (ty < PST_TOKTYPE_NORMAL || ty > PST_TOKTYPE_BYTE)
      PST_ERR(PST_ERR_ARG, "spec.token_types[%d] = %d: expected 1 to 6", i, ty);
  }
  return PST_OK;
}

/* Everything but the wrapping; h is freed by the caller on failure. */
static pst_err build(pst_hftok *h, const pst_tokenizer_spec *sp) {
  int bl = sp->kind == PST_TOK_BYTE_LEVEL, pi = -1;
  if (bl) {
    const char *pre = sp->pre && *sp->pre ? sp->pre : "default";
    for (size_t k = 0; k < sizeof pre_names / sizeof pre_names[0] && pi < 0; k++)
      if (!strcmp(pre, pre_names[k].name)) pi = (int)k;
    if (pi < 0)
      PST_ERR(PST_ERR_ARG, "spec.pre \"%.40s\" is not supported (default, gpt-2, llama-bpe, llama3, llama-v3, qwen2, "
              "smollm)", pre);
    for (int k = 0; k < pre_names[pi].nstages; k++) h->pre[h->npre++] = (hf_pre){.type = pre_names[pi].stages[k]};
    h->pre[h->npre++] = (hf_pre){.type = HF_PRE_BYTELEVEL};
    if (pre_names[pi].nfc) PST_CHECK(pst_hftok_add_norm(h, HF_NORM_NFC, NULL, NULL));
  } else {
    PST_CHECK(pst_hftok_add_norm(h, HF_NORM_PREPEND, "\xe2\x96\x81", NULL));
    PST_CHECK(pst_hftok_add_norm(h, HF_NORM_REPLACE, " ", "\xe2\x96\x81"));
  }
  h->byte_level = bl;
  int32_t unk = sp->unk_id;
  for (int i = 0; i < sp->ntokens; i++) {
    const char *s = sp->tokens[i];
    size_t len = strlen(s);
    int ty = sp->token_types ? sp->token_types[i] : PST_TOKTYPE_NORMAL;
    PST_CHECK(pst_bpe_add_token(h->bpe, s, len, i));
    if (len && (ty == PST_TOKTYPE_UNKNOWN || ty == PST_TOKTYPE_CONTROL || ty == PST_TOKTYPE_USER_DEFINED))
      PST_CHECK(pst_hftok_add_token(h, s, len, i, ty != PST_TOKTYPE_USER_DEFINED, 0, 0, 0));
    if (ty == PST_TOKTYPE_UNKNOWN && unk < 0) unk = i;
  }
  for (int i = 0; i < sp->nmerges; i++) {
    if (!sp->merges[i]) PST_ERR(PST_ERR_ARG, "spec.merges[%d] is NULL", i);
    PST_CHECK(add_merge(h, sp->merges[i], i));
  }
  if (!bl && !sp->nmerges) PST_CHECK(derive_merges(h, sp));
  pst_bpe_opts o = {.byte_level = bl, .unk = bl ? sp->unk_id : unk, .byte_fallback = !bl, .fuse_unk = !bl,
                    .ignore_merges = bl && pre_names[pi].ignore_merges};
  pst_bpe_set_opts(h->bpe, &o);
  h->unk = o.unk;
  /* HF's Llama template: [bos] $A [eos], pair [bos] $A [eos] [bos]:1 $B:1 [eos]:1 */
  h->has_template = 1;
  int ns = 0, np = 0;
  if (sp->add_bos) h->single[ns++] = (hf_item){sp->bos_id, -1, 0};
  h->single[ns++] = (hf_item){-1, 0, 0};
  if (sp->add_eos) h->single[ns++] = (hf_item){sp->eos_id, -1, 0};
  memcpy(h->pair, h->single, (size_t)ns * sizeof *h->pair);
  np = ns;
  if (sp->add_bos) h->pair[np++] = (hf_item){sp->bos_id, -1, 1};
  h->pair[np++] = (hf_item){-1, 1, 1};
  if (sp->add_eos) h->pair[np++] = (hf_item){sp->eos_id, -1, 1};
  h->nsingle = ns;
  h->npair = np;
  PST_CHECK(pst_hftok_finish(h));
  h->bos = sp->bos_id;
  h->eos = sp->eos_id;
  h->pad = sp->pad_id >= 0 ? sp->pad_id : sp->eos_id >= 0 ? sp->eos_id : 0;
  snprintf(h->identity, sizeof h->identity, "%s", sp->identity && *sp->identity ? sp->identity : "bpe-arrays");
  return PST_OK;
}

pst_err pst_tokenizer_from_vocab(pst_tokenizer **out, const pst_tokenizer_spec *spec) {
  if (!out || !spec) PST_ERR(PST_ERR_ARG, "pst_tokenizer_from_vocab: NULL argument");
  *out = NULL;
  PST_CHECK(check_spec(spec));
  pst_hftok *h;
  PST_CHECK(pst_hftok_new(&h));
  pst_err rc = build(h, spec);
  if (rc) {
    pst_hftok_free(h);
    PST_CHECK(rc);
  }
  PST_CHECK(pst_tokenizer_wrap_hf(out, h));
  return PST_OK;
}
