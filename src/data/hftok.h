/* hftok.h — internal: the tokenizer.json-style BPE tokenizer (byte-level: GPT-2 / Llama 3 /
 * Qwen2 / SmolLM2; SentencePiece-style: Llama 2 / Mistral / TinyLlama). It is built by
 * tokjson.c (from a Hugging Face tokenizer.json) or tokspec.c (from GGUF-style arrays), run by
 * hftok.c (added tokens, normaliser, pre-tokeniser, model, post-processor template) and decoded
 * by detok.c; tokenizer.c wraps it in a pst_tokenizer. */
#ifndef PST_HFTOK_H
#define PST_HFTOK_H

#include "pst/tokenizer.h"

/* Normaliser steps, applied in order. */
enum { HF_NORM_NFC, HF_NORM_PREPEND, HF_NORM_REPLACE };
typedef struct {
  int op;
  char *a, *b; /* PREPEND: a; REPLACE: a -> b */
  size_t alen, blen;
} hf_norm;

/* Pre-tokeniser stages, each splitting every piece of the previous one. HF_PRE_BYTELEVEL (the
 * ByteLevel mapping; use_regex=true adds a HF_PRE_GPT2 stage before it) must be last. */
enum { HF_PRE_GPT2, HF_PRE_LLAMA3, HF_PRE_QWEN2, HF_PRE_DIGITS, HF_PRE_DIGITS_EACH, HF_PRE_METASPACE, HF_PRE_BYTELEVEL };
enum { HF_PREPEND_NEVER, HF_PREPEND_FIRST, HF_PREPEND_ALWAYS };
typedef struct {
  int type;
  int prepend;   /* METASPACE: HF_PREPEND_* */
  int split;     /* METASPACE: split at the replacement (merged with the next piece) */
  char rep[8];   /* METASPACE: the replacement character (UTF-8) */
} hf_pre;

/* An added token: matched literally on the raw text (normalized = 0) or on each normalised
 * segment (normalized = 1, text normalised like the input), leftmost-longest. */
typedef struct {
  char *text;  /* the content (what decoding gives) */
  char *match; /* what is matched: text, or for normalized tokens text normalised */
  size_t len, mlen;
  int32_t id;
  unsigned char special, lstrip, rstrip, normalized;
} hf_added;

/* Post-processor template item: a special token id (seq = -1) or sequence A (0) / B (1). */
typedef struct {
  int32_t id;
  int seq, type_id;
} hf_item;

/* Largest token id accepted (tables are indexed by id). */
#define PST_TOK_MAX_ID (1 << 24)
#define HF_MAX_NORM 8
#define HF_MAX_PRE 8
#define HF_MAX_ITEMS 32

typedef struct pst_hftok {
  pst_bpe *bpe;
  int byte_level; /* the pre-tokeniser ends with ByteLevel: decode through bytes_to_unicode */
  int nnorm, npre;
  hf_norm norm[HF_MAX_NORM];
  hf_pre pre[HF_MAX_PRE];
  int nadded;
  hf_added *added; /* longest first */
  unsigned char raw_first[256], norm_first[256]; /* 1 if some raw / normalised added token starts with this byte */
  int has_template;
  int nsingle, npair;
  hf_item single[HF_MAX_ITEMS], pair[HF_MAX_ITEMS];
  int32_t bos, eos, pad, unk;
  int vocab_size;   /* max id + 1 over the model vocab and the added tokens */
  const char **tok; /* id -> string (added tokens, else the model's), NULL if unused */
  unsigned char *is_special; /* id -> 1 for special added tokens */
  char identity[256];
} pst_hftok;

pst_err pst_hftok_new(pst_hftok **out);
void pst_hftok_free(pst_hftok *h);
/* Add an added token (copied); id must already fit in the vocab or extends vocab_size. */
pst_err pst_hftok_add_token(pst_hftok *h, const char *text, size_t len, int32_t id, int special, int lstrip,
                            int rstrip, int normalized);
pst_err pst_hftok_add_norm(pst_hftok *h, int op, const char *a, const char *b);
/* After the model, normalisers, pre-tokenisers and added tokens: sort the added tokens,
 * normalise the normalised ones, build the id -> string table. */
pst_err pst_hftok_finish(pst_hftok *h);
/* Normalise text[0..len) (valid UTF-8) into a malloc'd string *out (*olen bytes). */
pst_err pst_hftok_normalize(const pst_hftok *h, const char *text, size_t len, char **out, size_t *olen);
/* Tokens of valid UTF-8 text[0..len), added tokens included: appended to ids. */
pst_err pst_hftok_tokenize(const pst_hftok *h, const char *text, size_t len, int32_t **ids, int *n, int *cap);
/* Token string of id (added token or model), NULL if none. */
const char *pst_hftok_token(const pst_hftok *h, int32_t id);
int32_t pst_hftok_token_id(const pst_hftok *h, const char *token);
/* Decoded text of ids (detok.c). */
pst_err pst_hftok_decode(const pst_hftok *h, const int32_t *ids, int n, int skip_special, char **text);
/* Byte-level decoding of token strings (shared with the GPT-2 / RoBERTa tokenizers): each
 * token's characters through the inverse bytes_to_unicode (a token with any other character
 * as its own bytes), the bytes then read as UTF-8 with U+FFFD for ill-formed sequences. */
pst_err pst_bytelevel_decode(const char *const *tokens, int n, char **text);
/* Bytes -> valid UTF-8 as Rust's String::from_utf8_lossy: each maximal ill-formed subpart is
 * one U+FFFD. Malloc'd, NUL-terminated. */
pst_err pst_utf8_lossy(const unsigned char *s, size_t len, char **out);

/* Wrap h (taken over, also on failure) in a pst_tokenizer (tokenizer.c). */
pst_err pst_tokenizer_wrap_hf(pst_tokenizer **out, pst_hftok *h);

#endif
