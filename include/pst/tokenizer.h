/* tokenizer.h — text to token ids and back: BERT WordPiece, GPT-2 / RoBERTa byte-level BPE
 * and the BPE tokenizer.json models of the LLaMA family (Llama 2/3, Mistral, TinyLlama, Qwen2,
 * SmolLM2; also built from GGUF tokenizer arrays), reproducing Hugging Face tokenizers
 * (BertTokenizer = BertNormalizer + BertPreTokenizer + WordPiece; GPT2Tokenizer /
 * RobertaTokenizer = ByteLevel + BPE; tokenizers.Tokenizer.from_file) id for id.
 *
 * Text is UTF-8; invalid UTF-8 fails with PST_ERR_FORMAT naming the byte offset. The special
 * tokens of the tokenizer ([CLS] [SEP] [PAD] [UNK] [MASK]; <s> </s> <unk> <pad> <mask>;
 * <|endoftext|> for GPT-2; the added_tokens of a tokenizer.json) written literally in the text
 * are recognised as those tokens, as HF does (exact, case-sensitive match on the raw text,
 * before normalisation).
 *
 * A loaded tokenizer is read-only: pst_tokenize / pst_encode may run concurrently on one
 * tokenizer from several threads (errors are per thread, see core.h). */
#ifndef PST_TOKENIZER_H
#define PST_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "pst/core.h"

typedef struct pst_tokenizer pst_tokenizer;

/* BERT WordPiece from vocab.txt (one token per line, id = line index, trailing whitespace of
 * a line ignored). lowercase != 0: lower-case and strip accents (bert-base-uncased);
 * 0: keep case and accents (bert-base-cased). The vocab must hold [UNK] [CLS] [SEP] [PAD]. */
pst_err pst_tokenizer_load_wordpiece(pst_tokenizer **out, const char *vocab_txt, int lowercase);

/* Byte-level BPE from vocab.json / encoder.json (token -> id object) and merges.txt /
 * vocab.bpe (optional "#version" line, then "left right" per line, rank = order).
 * roberta_specials != 0: RoBERTa (<s> a </s></s> b </s>); <s> </s> <unk> <pad> <mask> take
 * their ids from the vocab, or when absent (the GPT-2 vocab) are appended after it in that
 * order, as HF's RobertaTokenizer does. 0: GPT-2, no specials added to encodings. */
pst_err pst_tokenizer_load_bpe(pst_tokenizer **out, const char *vocab_json, const char *merges_txt,
                               int roberta_specials);

/* A Hugging Face model directory: vocab.txt (WordPiece; lowercase = tokenizer_config.json
 * "do_lower_case", default true), else vocab.json + merges.txt or encoder.json + vocab.bpe
 * (BPE; RoBERTa when tokenizer_config.json "tokenizer_class" or config.json "model_type" /
 * "architectures" says roberta, or the vocab holds "<s>"). */
pst_err pst_tokenizer_load_dir(pst_tokenizer **out, const char *dir);

/* A Hugging Face tokenizer.json whose model.type is "BPE" (src/data/tokjson.c):
 *  - byte-level: pre_tokenizer ByteLevel (GPT-2 regex), or a Sequence of Split(regex) +
 *    ByteLevel(use_regex=false) where the regex is GPT-2's, Llama 3's or Qwen2's (recognised by
 *    its exact text; another pattern is an error that prints it), or Digits + ByteLevel
 *    (SmolLM2); ignore_merges (Llama 3); NFC normaliser (Qwen2);
 *  - SentencePiece-style (Llama 2, Mistral, TinyLlama): normalizer Sequence[Prepend("▁"),
 *    Replace(" ", "▁")] or pre_tokenizer Metaspace, BPE with byte_fallback (<0xAB> tokens),
 *    unk_token and fuse_unk.
 * Merges may be "a b" strings or ["a", "b"] pairs. added_tokens are matched literally (raw
 * text, or normalised text for normalized ones; lstrip / rstrip; single_word is refused);
 * post_processor TemplateProcessing (also Bert/RobertaProcessing) gives what pst_encode adds,
 * as HF's encode(add_special_tokens=True). bos = the template's first special token (else
 * <s> / <|begin_of_text|> / <bos>), eos = </s> / <|end_of_text|> / <|endoftext|> / <eos> /
 * <|im_end|>, pad = padding.pad_id, else <pad>, else eos, else 0 (pst_tokenizer_load_dir takes
 * them from tokenizer_config.json when it names them). Errors (PST_ERR_FORMAT) name the file
 * and the field: another model type (WordPiece, Unigram, WordLevel), an unsupported
 * normaliser / pre-tokeniser / post-processor, malformed merges, a missing vocab. */
pst_err pst_tokenizer_load_json(pst_tokenizer **out, const char *tokenizer_json);
/* The same from bytes in memory; name stands for the file in messages. */
pst_err pst_tokenizer_load_json_buf(pst_tokenizer **out, const char *name, const char *buf, size_t len);

/* GGUF-style tokenizer metadata (tokenizer.ggml.*) for pst_tokenizer_from_vocab. */
typedef enum {
  PST_TOK_BYTE_LEVEL = 1,   /* tokenizer.ggml.model "gpt2" */
  PST_TOK_SENTENCEPIECE = 2 /* tokenizer.ggml.model "llama" */
} pst_tokenizer_kind;
/* tokenizer.ggml.token_type values */
enum { PST_TOKTYPE_NORMAL = 1, PST_TOKTYPE_UNKNOWN = 2, PST_TOKTYPE_CONTROL = 3, PST_TOKTYPE_USER_DEFINED = 4,
       PST_TOKTYPE_UNUSED = 5, PST_TOKTYPE_BYTE = 6 };
typedef struct {
  pst_tokenizer_kind kind;
  /* tokenizer.ggml.pre (byte-level only; NULL = "default"): "gpt-2" / "default" (GPT-2 regex),
   * "llama-bpe" / "llama3" / "llama-v3" (Llama 3 regex, ignore_merges), "qwen2" (Qwen2 regex,
   * NFC as HF's Qwen2 tokenizer.json), "smollm" (each digit alone, then the GPT-2 regex, as
   * llama.cpp's LLAMA_VOCAB_PRE_TYPE_SMOLLM and SmolLM2's Digits + ByteLevel) */
  const char *pre;
  const char *const *tokens; /* id -> token text (valid UTF-8), ntokens of them */
  int ntokens;
  const char *const *merges; /* "left right" in rank order (a token with spaces: the split
                                whose parts are tokens); SentencePiece needs them or scores */
  int nmerges;
  const float *scores;        /* SentencePiece without merges: merges derived from the scores as
                                 HF's LlamaConverter does (may be NULL) */
  const int32_t *token_types; /* PST_TOKTYPE_* per token, or NULL (all normal). UNKNOWN, CONTROL
                                 (special) and USER_DEFINED (not special) are matched literally
                                 in the text; BYTE tokens are the <0xAB> byte fallback */
  int32_t bos_id, eos_id, unk_id, pad_id; /* -1 = none */
  int add_bos, add_eos;       /* pst_encode adds them (HF Llama template) */
  const char *identity;       /* provenance string for pst_tokenizer_identity (copied) */
} pst_tokenizer_spec;
/* A tokenizer from arrays (src/data/tokspec.c), tokenizing as the equivalent Hugging Face
 * tokenizer.json: byte-level BPE with the pre-tokeniser named by spec->pre; SentencePiece
 * kind = Llama 2's Prepend("▁") + Replace(" ", "▁") normaliser (every segment between special
 * tokens gets the ▁, as llama.cpp does), byte fallback, fused unk. PST_ERR_ARG names the bad
 * field. */
pst_err pst_tokenizer_from_vocab(pst_tokenizer **out, const pst_tokenizer_spec *spec);

void pst_tokenizer_free(pst_tokenizer *t);

/* Raw tokens of text (NUL-terminated UTF-8, no specials added): ids appended to *ids, a
 * realloc'd buffer of *cap elements (may start NULL / 0; free() it), *n = count so far.
 * The empty string gives zero tokens. On error *n is unchanged. */
pst_err pst_tokenize(const pst_tokenizer *t, const char *text, int32_t **ids, int *n, int *cap);

/* Model input for text a and optional b (NULL or "" = single sequence, like HF):
 *   WordPiece: [CLS] a [SEP] (b [SEP])   token types 0 over [CLS] a [SEP], 1 over b [SEP]
 *   RoBERTa:   <s> a </s> (</s> b </s>)  token types all 0
 *   GPT-2:     a (b)                     token types 0 over a, 1 over b (as HF reports them)
 * truncated to at most max_len ids as HF tokenizers' 'longest_first' does: with
 * M = max_len - (number of specials), a single sequence keeps its first M tokens; a pair keeps
 * the first ka of a and kb of b from pst_truncate_pair(na, nb, M). Outputs: ids[max_len] and
 * types[max_len] (types may be NULL), *len = ids used (<= max_len; no padding is written).
 * max_len below the number of specials (2 single / 3 pair for BERT, 2 / 4 for RoBERTa, 0 for
 * GPT-2) is PST_ERR_ARG; invalid UTF-8 in a or b is PST_ERR_FORMAT. */
pst_err pst_encode(const pst_tokenizer *t, const char *a, const char *b, int max_len, int32_t *ids,
                   int32_t *types, int *len);

/* Number of ids (embedding rows): vocab.txt lines, or BPE max id + 1 plus appended specials. */
int pst_tokenizer_vocab_size(const pst_tokenizer *t);
/* [PAD] / <pad>; GPT-2 has none: <|endoftext|> (0 if absent). The attention mask hides it. */
int32_t pst_tokenizer_pad_id(const pst_tokenizer *t);
/* Id of a token string in the vocab (or an appended special), -1 if absent. */
int32_t pst_tokenizer_token_id(const pst_tokenizer *t, const char *token);
/* Beginning / end of sequence ids, -1 if none: [CLS] / [SEP] for WordPiece, <s> / </s> for
 * RoBERTa, <|endoftext|> for GPT-2; for tokenizer.json / arrays see above. */
int32_t pst_tokenizer_bos_id(const pst_tokenizer *t);
int32_t pst_tokenizer_eos_id(const pst_tokenizer *t);
/* Text of ids (malloc'd, NUL-terminated, valid UTF-8; free() it), as HF's decode: byte-level
 * tokens through the inverse bytes_to_unicode map; SentencePiece "▁" -> " ", <0xAB> runs ->
 * bytes (U+FFFD per byte of an invalid run), one leading space stripped (Llama 2's decoder).
 * PST_DETOK_SKIP_SPECIAL in flags leaves out special tokens; ids that are no token are left
 * out. Not available for WordPiece (PST_ERR_ARG). */
enum { PST_DETOK_SKIP_SPECIAL = 1 };
pst_err pst_detokenize(const pst_tokenizer *t, const int32_t *ids, int n, int flags, char **text);
/* Provenance: "wordpiece lowercase vocab-sha256:<hex>", "wordpiece cased ...",
 * "bpe gpt2 vocab-sha256:<hex> merges-sha256:<hex>" or "bpe roberta ...", "bpe-json byte-level
 * sha256:<hex>" / "bpe-json sentencepiece sha256:<hex>" (of tokenizer.json) (SHA-256 of the
 * file bytes, computed by the built-in pst_sha256_hex; no libcrypto); from arrays, the spec's
 * identity. Owned by t. */
const char *pst_tokenizer_identity(const pst_tokenizer *t);

/* Longest-first pair truncation of HF tokenizers (TruncationStrategy::LongestFirst): token
 * counts na, nb cut to *ka <= na, *kb <= nb with *ka + *kb = min(na + nb, m). When both fit
 * nothing is cut; when the shorter one is at most m/2 it is kept whole and the longer one gets
 * the rest; otherwise the shorter gets floor(m/2) and the longer ceil(m/2), and on equal
 * lengths b counts as the longer one (b gets the odd token; Python's old slow rule gave it to
 * a). */
void pst_truncate_pair(int na, int nb, int m, int *ka, int *kb);

/* ---- building blocks shared by src/data/{tokenizer,wordpiece,bpe}.c ------------------------ */

/* String -> id hash map (open addressing over a byte pool). Keys are byte strings. */
typedef struct pst_tok_vocab pst_tok_vocab;
pst_err pst_tok_vocab_new(pst_tok_vocab **out);
void pst_tok_vocab_free(pst_tok_vocab *v);
/* Insert or overwrite (a later duplicate wins, as in HF's maps). */
pst_err pst_tok_vocab_put(pst_tok_vocab *v, const char *s, size_t len, int32_t id);
/* Id of prefix||s (prefix may be NULL/0), -1 if absent. */
int32_t pst_tok_vocab_get(const pst_tok_vocab *v, const char *prefix, size_t plen, const char *s,
                          size_t len);
size_t pst_tok_vocab_count(const pst_tok_vocab *v);
/* Longest key in bytes. */
size_t pst_tok_vocab_max_len(const pst_tok_vocab *v);
/* id -> key (pointers into v, valid while v is unchanged; NULL where no key has the id) for
 * ids in [0, size): a malloc'd array (free() it). */
pst_err pst_tok_vocab_reverse(const pst_tok_vocab *v, int size, const char ***out);

/* Append one id to a growable buffer (as in pst_tokenize). */
pst_err pst_tok_push(int32_t **ids, int *n, int *cap, int32_t id);

/* Decode one code point of valid UTF-8 at s (already validated): returns its byte length. */
static inline int pst_utf8_next(const unsigned char *s, int32_t *cp) {
  unsigned c = s[0];
  if (c < 0x80) { *cp = (int32_t)c; return 1; }
  if (c < 0xE0) { *cp = (int32_t)(((c & 0x1Fu) << 6) | (s[1] & 0x3Fu)); return 2; }
  if (c < 0xF0) {
    *cp = (int32_t)(((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu));
    return 3;
  }
  *cp = (int32_t)(((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu));
  return 4;
}
/* Encode cp as UTF-8 into out (>= 4 bytes); returns the byte length. */
int pst_utf8_put(unsigned char *out, int32_t cp);
/* Byte offset of the first malformed UTF-8 sequence in s[0..len) (its first byte: a stray
 * continuation byte, a bad lead byte, an overlong form, a surrogate, a code point above
 * U+10FFFF, a bad or missing continuation byte), or -1 if s is valid. */
long pst_utf8_invalid_at(const unsigned char *s, size_t len);
/* Length of the well-formed UTF-8 sequence at s[0..len) (len >= 1), or -(length of its maximal
 * ill-formed subpart) (at least 1), per Unicode's "maximal subpart" practice. */
long pst_utf8_seq(const unsigned char *s, size_t len);
/* GPT-2 regex class (pst_gpt2_char_class) of the code point at s[i] of valid UTF-8; *next = the
 * offset after it. */
int pst_gpt2_class_at(const unsigned char *s, size_t i, size_t *next);
/* End of the run of class k starting at i (s[0..len) valid UTF-8). */
size_t pst_gpt2_run_end(const unsigned char *s, size_t len, size_t i, int k);

/* Whole file into a NUL-terminated malloc'd buffer (PST_ERR_IO naming path). */
pst_err pst_tok_read_file(const char *path, char **buf, size_t *len);
/* SHA-256 of bytes, as 64 lowercase hex digits + NUL. */
void pst_sha256_hex(const void *data, size_t len, char hex[65]);

/* WordPiece model (src/data/wordpiece.c): vocab + BERT normaliser / pre-tokeniser. */
typedef struct pst_wordpiece pst_wordpiece;
/* Reads vocab_txt; *vocab_sha256 (65 bytes) receives the file's hash. */
pst_err pst_wordpiece_load(pst_wordpiece **out, const char *vocab_txt, int lowercase,
                           char vocab_sha256[65]);
void pst_wordpiece_free(pst_wordpiece *w);
/* Tokens of text[0..len) (valid UTF-8, no special tokens inside): appended to ids. */
pst_err pst_wordpiece_tokenize(const pst_wordpiece *w, const char *text, size_t len, int32_t **ids,
                               int *n, int *cap);
int32_t pst_wordpiece_id(const pst_wordpiece *w, const char *token); /* -1 if absent */
int pst_wordpiece_size(const pst_wordpiece *w);
/* BERT normalisation (clean text, CJK spacing, and with lowercase NFD + drop Mn + lower case)
 * of text[0..len), which must be valid UTF-8, into a malloc'd NUL-terminated string *out
 * (*out_len bytes; free() it). */
pst_err pst_bert_normalize(const char *text, size_t len, int lowercase, char **out, size_t *out_len);

/* Character classes of the BERT normaliser / pre-tokeniser: removed by clean_text (NUL,
 * U+FFFD, controls), white space (-> ' ', splits words), CJK ideograph (spaced out),
 * punctuation (a word of its own), other. */
enum { PST_BERT_OTHER, PST_BERT_SPACE, PST_BERT_PUNCT, PST_BERT_REMOVED, PST_BERT_CJK };
int pst_bert_char_class(int32_t c);

/* BPE model (src/data/bpe.c). */
typedef struct pst_bpe pst_bpe;
pst_err pst_bpe_load(pst_bpe **out, const char *vocab_json, const char *merges_txt,
                     char vocab_sha256[65], char merges_sha256[65]);
void pst_bpe_free(pst_bpe *b);
/* GPT-2 pre-tokenisation + byte-level BPE of text[0..len) (valid UTF-8, no special tokens
 * inside): appended to ids. */
pst_err pst_bpe_tokenize(const pst_bpe *b, const char *text, size_t len, int32_t **ids, int *n,
                         int *cap);
int32_t pst_bpe_id(const pst_bpe *b, const char *token); /* -1 if absent */
int32_t pst_bpe_id_n(const pst_bpe *b, const char *token, size_t len);
int pst_bpe_size(const pst_bpe *b);                       /* max id + 1 */
/* Building a model token by token: new (empty, byte-level), add tokens, then merges in rank
 * order (PST_ERR_FORMAT with the reason in why[whylen] when a part or the merged token is not
 * a token; the global error is not set), then set_opts once all tokens are in. */
pst_err pst_bpe_new(pst_bpe **out);
pst_err pst_bpe_add_token(pst_bpe *b, const char *s, size_t len, int32_t id);
pst_err pst_bpe_add_merge(pst_bpe *b, const char *l, size_t ll, const char *r, size_t rl, char *why,
                          size_t whylen);
typedef struct {
  int byte_level;    /* symbols: the bytes' bytes_to_unicode characters (else UTF-8 characters) */
  int byte_fallback; /* a character that is no token -> its bytes as <0xXX> tokens, if all exist */
  int32_t unk;       /* else -> this id (-1: the character is dropped) */
  int fuse_unk;      /* consecutive unknown characters -> one unk */
  int ignore_merges; /* a piece that is a token is that one token (Llama 3) */
} pst_bpe_opts;
void pst_bpe_set_opts(pst_bpe *b, const pst_bpe_opts *o);
/* Per-call scratch of pst_bpe_word: zero-initialise, pst_bpe_scratch_free when done. */
typedef struct {
  int32_t *sym, *prev, *next;
  void *heap;
  char *buf;
  size_t scap, hcap, bcap;
} pst_bpe_scratch;
void pst_bpe_scratch_free(pst_bpe_scratch *w);
/* BPE of one pre-token piece[0..plen) (valid UTF-8): ids appended. */
pst_err pst_bpe_word(const pst_bpe *b, const char *piece, size_t plen, pst_bpe_scratch *w, int32_t **ids,
                     int *n, int *cap);
/* id -> token string (pointers into b, NULL for unused ids), a malloc'd array of
 * pst_bpe_size(b) entries. */
pst_err pst_bpe_reverse(const pst_bpe *b, const char ***out);
/* GPT-2's bytes_to_unicode of one byte. */
int32_t pst_byte_to_unicode(int byte);

/* Classes of the GPT-2 regex: \s, \p{L}, \p{N}, anything else. */
enum { PST_GPT2_SPACE, PST_GPT2_LETTER, PST_GPT2_NUMBER, PST_GPT2_OTHER };
int pst_gpt2_char_class(int32_t c);
/* Pre-tokenisers call fn(ctx, start, len) for each piece of text[0..len) in order. */
typedef pst_err (*pst_piece_fn)(void *ctx, const char *piece, size_t plen);
/* GPT-2 pre-tokenisation (the regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|
 * \s+(?!\S)|\s+). */
pst_err pst_gpt2_pretokenize(const char *text, size_t len, pst_piece_fn fn, void *ctx);
/* Llama 3 (max_digits 3) and Qwen2 (max_digits 1) pre-tokenisation (src/data/pretok.c): the regex
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 * \s*[\r\n]+|\s+(?!\S)|\s+ (\p{N} alone for Qwen2). */
pst_err pst_llama3_pretokenize(const char *text, size_t len, int max_digits, pst_piece_fn fn, void *ctx);
/* HF Digits: each number character (individual) or each run of them a piece of its own. */
pst_err pst_digits_pretokenize(const char *text, size_t len, int individual, pst_piece_fn fn, void *ctx);

#endif
