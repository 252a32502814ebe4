/* wordpiece.c — BERT WordPiece as Hugging Face tokenizers does it: BertNormalizer (clean
 * text, CJK ideographs spaced out, optionally NFD + drop Mn + lower case), BertPreTokenizer
 * (split on whitespace, isolate punctuation) and WordPiece (greedy longest match first with
 * "##" continuations, words over 100 characters -> [UNK]). Unicode data comes from utf8proc. */
#include "pst/tokenizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define WP_MAX_WORD_CHARS 100 /* HF max_input_chars_per_word */

struct pst_wordpiece {
  pst_tok_vocab *vocab;
  int size;      /* lines of vocab.txt */
  int lowercase; /* also strip accents */
  int32_t unk;
};

/* ---- Unicode tables ----------------------------------------------------------------------------
 * HF's BertNormalizer / BertPreTokenizer classify characters with Unicode 8.0 data (Rust
 * crates unicode_categories and unicode-normalization-alignments) but lower-case with the
 * Rust standard library's (Unicode 16); utf8proc 2.8 has Unicode 15.0. These tables give
 * HF's answer where it differs from utf8proc 2.8, found by comparing every code point with
 * tokenizers 0.23.3 (tests/reference/make_tokenizer_fixtures.py --c-tables prints them;
 * tests/fixtures/tokenizer/unicode.json, checked by tests/unit/test_tokenizer.c, holds HF's
 * classes of every code point). */
typedef struct {
  int32_t lo, hi, val;
} uni_range;

/* HF "control" (removed by clean_text) where utf8proc's category says otherwise */
static const uni_range bert_control_fix[] = {
    {0x890, 0x891, 0}, {0x8E2, 0x8E2, 0}, {0x110CD, 0x110CD, 0}, {0x13430, 0x1343F, 0},
};
/* HF punctuation (category P*, Unicode 8.0) */
static const uni_range bert_punct_fix[] = {
    {0x61D, 0x61D, 0}, {0x9FD, 0x9FD, 0}, {0xA76, 0xA76, 0}, {0xC77, 0xC77, 0}, {0xC84, 0xC84, 0},
    {0x166D, 0x166D, 1}, {0x1B7D, 0x1B7E, 0}, {0x2E43, 0x2E4F, 0}, {0x2E52, 0x2E5D, 0},
    {0x10EAD, 0x10EAD, 0}, {0x10F55, 0x10F59, 0}, {0x10F86, 0x10F89, 0}, {0x111C9, 0x111C9, 1},
    {0x1144B, 0x1144F, 0}, {0x1145A, 0x1145B, 0}, {0x1145D, 0x1145D, 0}, {0x11660, 0x1166C, 0},
    {0x116B9, 0x116B9, 0}, {0x1183B, 0x1183B, 0}, {0x11944, 0x11946, 0}, {0x119E2, 0x119E2, 0},
    {0x11A3F, 0x11A46, 0}, {0x11A9A, 0x11A9C, 0}, {0x11A9E, 0x11AA2, 0}, {0x11B00, 0x11B09, 0},
    {0x11C41, 0x11C45, 0}, {0x11C70, 0x11C71, 0}, {0x11EF7, 0x11EF8, 0}, {0x11F43, 0x11F4F, 0},
    {0x11FFF, 0x11FFF, 0}, {0x12FF1, 0x12FF2, 0}, {0x16E97, 0x16E9A, 0}, {0x16FE2, 0x16FE2, 0},
    {0x1E95E, 0x1E95F, 0},
};
/* HF nonspacing marks (Mn, dropped by strip_accents); val 0 = a mark HF does not know, which
 * also keeps combining class 0 in canonical ordering */
static const uni_range bert_mn_fix[] = {
    {0x7FD, 0x7FD, 0}, {0x898, 0x89F, 0}, {0x8CA, 0x8E1, 0}, {0x9FE, 0x9FE, 0}, {0xAFA, 0xAFF, 0},
    {0xB55, 0xB55, 0}, {0xC04, 0xC04, 0}, {0xC3C, 0xC3C, 0}, {0xD00, 0xD00, 0}, {0xD3B, 0xD3C, 0},
    {0xD81, 0xD81, 0}, {0xEBA, 0xEBA, 0}, {0xECE, 0xECE, 0}, {0x1734, 0x1734, 1},
    {0x180F, 0x180F, 0}, {0x1885, 0x1886, 0}, {0x1ABF, 0x1ACE, 0}, {0x1DF6, 0x1DFB, 0},
    {0xA82C, 0xA82C, 0}, {0xA8C5, 0xA8C5, 0}, {0xA8FF, 0xA8FF, 0}, {0xA9BD, 0xA9BD, 0},
    {0x10D24, 0x10D27, 0}, {0x10EAB, 0x10EAC, 0}, {0x10EFD, 0x10EFF, 0}, {0x10F46, 0x10F50, 0},
    {0x10F82, 0x10F85, 0}, {0x11070, 0x11070, 0}, {0x11073, 0x11074, 0}, {0x110C2, 0x110C2, 0},
    {0x111C9, 0x111C9, 0}, {0x111CF, 0x111CF, 0}, {0x1123E, 0x1123E, 0}, {0x11241, 0x11241, 0},
    {0x1133B, 0x1133B, 0}, {0x11438, 0x1143F, 0}, {0x11442, 0x11444, 0}, {0x11446, 0x11446, 0},
    {0x1145E, 0x1145E, 0}, {0x1182F, 0x11837, 0}, {0x11839, 0x1183A, 0}, {0x1193B, 0x1193C, 0},
    {0x1193E, 0x1193E, 0}, {0x11943, 0x11943, 0}, {0x119D4, 0x119D7, 0}, {0x119DA, 0x119DB, 0},
    {0x119E0, 0x119E0, 0}, {0x11A01, 0x11A0A, 0}, {0x11A33, 0x11A38, 0}, {0x11A3B, 0x11A3E, 0},
    {0x11A47, 0x11A47, 0}, {0x11A51, 0x11A56, 0}, {0x11A59, 0x11A5B, 0}, {0x11A8A, 0x11A96, 0},
    {0x11A98, 0x11A99, 0}, {0x11C30, 0x11C36, 0}, {0x11C38, 0x11C3D, 0}, {0x11C3F, 0x11C3F, 0},
    {0x11C92, 0x11CA7, 0}, {0x11CAA, 0x11CB0, 0}, {0x11CB2, 0x11CB3, 0}, {0x11CB5, 0x11CB6, 0},
    {0x11D31, 0x11D36, 0}, {0x11D3A, 0x11D3A, 0}, {0x11D3C, 0x11D3D, 0}, {0x11D3F, 0x11D45, 0},
    {0x11D47, 0x11D47, 0}, {0x11D90, 0x11D91, 0}, {0x11D95, 0x11D95, 0}, {0x11D97, 0x11D97, 0},
    {0x11EF3, 0x11EF4, 0}, {0x11F00, 0x11F01, 0}, {0x11F36, 0x11F3A, 0}, {0x11F40, 0x11F40, 0},
    {0x11F42, 0x11F42, 0}, {0x13440, 0x13440, 0}, {0x13447, 0x13455, 0}, {0x16F4F, 0x16F4F, 0},
    {0x16FE4, 0x16FE4, 0}, {0x1CF00, 0x1CF2D, 0}, {0x1CF30, 0x1CF46, 0}, {0x1E000, 0x1E006, 0},
    {0x1E008, 0x1E018, 0}, {0x1E01B, 0x1E021, 0}, {0x1E023, 0x1E024, 0}, {0x1E026, 0x1E02A, 0},
    {0x1E08F, 0x1E08F, 0}, {0x1E130, 0x1E136, 0}, {0x1E2AE, 0x1E2AE, 0}, {0x1E2EC, 0x1E2EF, 0},
    {0x1E4EC, 0x1E4EF, 0}, {0x1E944, 0x1E94A, 0},
};
/* Lower-case mappings of Unicode 16 (Rust char::to_lowercase) missing from utf8proc 2.8:
 * val = lower - upper */
static const uni_range lower_fix[] = {
    {0x1C89, 0x1C89, 1}, {0xA7CB, 0xA7CB, -42343}, {0xA7CC, 0xA7CC, 1}, {0xA7CE, 0xA7CE, 1},
    {0xA7D2, 0xA7D2, 1}, {0xA7D4, 0xA7D4, 1}, {0xA7DA, 0xA7DA, 1}, {0xA7DC, 0xA7DC, -42561},
    {0x10D50, 0x10D65, 32}, {0x16EA0, 0x16EB8, 27},
};
/* Canonical decompositions newer than HF's tables: these code points stay whole */
#define NFD_KEEP(c) ((c) == 0x11938)

/* val of the range holding c, or dflt */
static int32_t uni_lookup(const uni_range *t, int n, int32_t c, int32_t dflt) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (c < t[mid].lo) hi = mid - 1;
    else if (c > t[mid].hi) lo = mid + 1;
    else return t[mid].val;
  }
  return dflt;
}
#define UNI_LOOKUP(t, c, d) uni_lookup((t), (int)(sizeof(t) / sizeof((t)[0])), (c), (d))

/* Unicode White_Space (Rust char::is_whitespace, used by both BERT stages). */
static int is_ws(int32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* BertNormalizer's "control": categories Cc Cf Co Cs except \t \n \r (unassigned code
 * points are kept). */
static int is_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return 0;
  if (c < 0x20 || c == 0x7F) return 1;
  if (c < 0xA0) return c >= 0x80;
  utf8proc_category_t k = utf8proc_category(c);
  int ctl = k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
            k == UTF8PROC_CATEGORY_CS;
  return UNI_LOOKUP(bert_control_fix, c, ctl);
}

/* ASCII punctuation (33-47, 58-64, 91-96, 123-126, which includes symbols like $ + < = > ^ ` |
 * ~) or a Unicode P* category. */
static int is_punct(int32_t c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  utf8proc_category_t k = utf8proc_category(c);
  return UNI_LOOKUP(bert_punct_fix, c, k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO);
}

static int is_mn(int32_t c) {
  if (c < 0x300) return 0;
  return UNI_LOOKUP(bert_mn_fix, c, utf8proc_category(c) == UTF8PROC_CATEGORY_MN);
}

static int ccc(int32_t c) {
  if (c < 0x300) return 0;
  if (UNI_LOOKUP(bert_mn_fix, c, 1) == 0) return 0;
  return utf8proc_get_property(c)->combining_class;
}

static int32_t to_lower(int32_t c) {
  if (c < 0x80) return c >= 'A' && c <= 'Z' ? c + 32 : c;
  return c + UNI_LOOKUP(lower_fix, c, utf8proc_tolower(c) - c);
}

/* The CJK blocks of BertNormalizer's handle_chinese_chars (tokenizers' current table). */
static int is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

int pst_bert_char_class(int32_t c) {
  if (c == 0 || c == 0xFFFD || is_control(c)) return PST_BERT_REMOVED;
  if (is_ws(c)) return PST_BERT_SPACE;
  if (is_cjk(c)) return PST_BERT_CJK;
  if (is_punct(c)) return PST_BERT_PUNCT;
  return PST_BERT_OTHER;
}

/* ---- normalisation ----------------------------------------------------------------------------- */

/* BertNormalizer on valid UTF-8 text[0..len): clean text (drop NUL, U+FFFD and controls,
 * white space -> ' '), space out CJK ideographs, and with lowercase: NFD (per code point,
 * then canonical ordering), drop Mn, lower-case. Into a malloc'd NUL-terminated string. */
pst_err pst_bert_normalize(const char *text, size_t len, int lowercase, char **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  const unsigned char *s = (const unsigned char *)text;
  if (len > (SIZE_MAX / sizeof(int32_t) - 64) / 12)
    PST_ERR(PST_ERR_MEM, "text of %zu bytes is too long to normalise", len);
  int ascii = 1;
  for (size_t i = 0; i < len && ascii; i++) ascii = s[i] < 0x80;
  if (ascii) { /* NFD, accents and CJK do not apply */
    unsigned char *o = malloc(len + 1);
    if (!o) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
      int32_t c = s[i];
      if (c == 0 || is_control(c)) continue;
      o[k++] = (unsigned char)(is_ws(c) ? ' ' : lowercase ? to_lower(c) : c);
    }
    o[k] = 0;
    *out = (char *)o;
    *out_len = k;
    return PST_OK;
  }
  /* clean + CJK into code points (at most 3 per input byte) */
  int32_t *cp = malloc((3 * len + 1) * sizeof *cp);
  if (!cp) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
  size_t n = 0;
  for (size_t i = 0; i < len;) {
    int32_t c;
    i += (size_t)pst_utf8_next(s + i, &c);
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (is_ws(c)) {
      cp[n++] = ' ';
    } else if (is_cjk(c)) {
      cp[n++] = ' ';
      cp[n++] = c;
      cp[n++] = ' ';
    } else {
      cp[n++] = c;
    }
  }
  if (lowercase) {
    /* NFD: decompose each code point, then order each run of combining marks by class */
    size_t cap = n + 16, m = 0;
    int32_t *d = malloc(cap * sizeof *d);
    for (size_t i = 0; i < n && d; i++) {
      if (m + 8 > cap) { /* room for any canonical decomposition (at most 4 code points) */
        cap *= 2;
        int32_t *nd = realloc(d, cap * sizeof *d);
        if (!nd) free(d);
        d = nd;
        if (!d) break;
      }
      int32_t c = cp[i];
      if (c < 0xC0 || NFD_KEEP(c)) {
        d[m++] = c;
        continue;
      }
      int bc = 0;
      utf8proc_ssize_t r = utf8proc_decompose_char(c, d + m, (utf8proc_ssize_t)(cap - m), UTF8PROC_DECOMPOSE, &bc);
      if (r < 0 || (size_t)r > cap - m) {
        free(d);
        free(cp);
        PST_ERR(PST_ERR_INTERNAL, "utf8proc_decompose_char(U+%04X) failed", (unsigned)c);
      }
      m += (size_t)r;
    }
    free(cp);
    if (!d) PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
    for (size_t i = 1; i < m; i++) { /* stable insertion sort by combining class within runs */
      int ci = ccc(d[i]);
      if (!ci) continue;
      int32_t c = d[i];
      size_t j = i;
      while (j > 0) {
        int cj = ccc(d[j - 1]);
        if (cj <= ci) break; /* a starter (class 0) or an equal / lower class stops it */
        d[j] = d[j - 1];
        j--;
      }
      d[j] = c;
    }
    /* drop Mn, lower-case */
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
      if (!is_mn(d[i])) d[k++] = to_lower(d[i]);
    cp = d;
    n = k;
  }
  unsigned char *o = malloc(4 * n + 1);
  if (!o) {
    free(cp);
    PST_ERR(PST_ERR_MEM, "out of memory normalising %zu bytes", len);
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += (size_t)pst_utf8_put(o + k, cp[i]);
  o[k] = 0;
  free(cp);
  *out = (char *)o;
  *out_len = k;
  return PST_OK;
}

/* WordPiece of one word w[0..len) (nchars code points): greedy longest-match-first. */
static pst_err wordpiece_word(const pst_wordpiece *w, const unsigned char *s, size_t len, int nchars,
                              int32_t **ids, int *n, int *cap) {
  if (nchars > WP_MAX_WORD_CHARS) return pst_tok_push(ids, n, cap, w->unk);
  int n0 = *n;
  size_t maxlen = pst_tok_vocab_max_len(w->vocab);
  size_t start = 0;
  while (start < len) {
    size_t plen = start ? 2 : 0;
    size_t end = len;
    if (end - start + plen > maxlen) { /* no vocab entry is longer: start at a char boundary */
      end = start + (maxlen > plen ? maxlen - plen : 0);
      while (end > start && (s[end] & 0xC0) == 0x80) end--;
    }
    int32_t id = -1;
    while (end > start) {
      id = pst_tok_vocab_get(w->vocab, "##", plen, (const char *)s + start, end - start);
      if (id >= 0) break;
      do end--; /* back one code point */
      while (end > start && (s[end] & 0xC0) == 0x80);
    }
    if (id < 0) { /* some piece matches nothing: the whole word is [UNK] */
      *n = n0;
      return pst_tok_push(ids, n, cap, w->unk);
    }
    PST_CHECK(pst_tok_push(ids, n, cap, id));
    start = end;
  }
  return PST_OK;
}

pst_err pst_wordpiece_tokenize(const pst_wordpiece *w, const char *text, size_t len, int32_t **ids, int *n,
                               int *cap) {
  char *norm;
  size_t nlen;
  PST_CHECK(pst_bert_normalize(text, len, w->lowercase, &norm, &nlen));
  const unsigned char *s = (const unsigned char *)norm;
  /* BertPreTokenizer: whitespace ends a word, punctuation is a word of its own */
  size_t word = 0;
  int nch = 0;
  pst_err rc = PST_OK;
  for (size_t i = 0; i < nlen && !rc;) {
    int32_t c;
    int cl = pst_utf8_next(s + i, &c);
    int ws = is_ws(c), pu = !ws && is_punct(c);
    if (ws || pu) {
      if (i > word) rc = wordpiece_word(w, s + word, i - word, nch, ids, n, cap);
      if (!rc && pu) rc = wordpiece_word(w, s + i, (size_t)cl, 1, ids, n, cap);
      word = i + (size_t)cl;
      nch = 0;
    } else {
      nch++;
    }
    i += (size_t)cl;
  }
  if (!rc && nlen > word) rc = wordpiece_word(w, s + word, nlen - word, nch, ids, n, cap);
  free(norm);
  PST_CHECK(rc);
  return PST_OK;
}

/* Fill w->vocab from the bytes of vocab.txt: token = line without its trailing white space
 * (Rust trim_end, as HF's WordPiece::read_file), id = line index; a later duplicate wins. */
static pst_err parse_vocab_txt(pst_wordpiece *w, const char *path, const char *buf, size_t len) {
  long line = 0;
  for (size_t i = 0; i < len;) {
    size_t e = i;
    while (e < len && buf[e] != '\n') e++;
    line++;
    if (line > INT32_MAX - 16) PST_ERR(PST_ERR_FORMAT, "%s: more than %d lines", path, INT32_MAX - 16);
    long bad = pst_utf8_invalid_at((const unsigned char *)buf + i, e - i);
    if (bad >= 0)
      PST_ERR(PST_ERR_FORMAT, "%s:%ld: not valid UTF-8 (byte offset %ld in the line)", path, line, bad);
    size_t t = i, k = i;
    while (k < e) {
      int32_t c;
      k += (size_t)pst_utf8_next((const unsigned char *)buf + k, &c);
      if (!is_ws(c)) t = k;
    }
    PST_CHECK(pst_tok_vocab_put(w->vocab, buf + i, t - i, (int32_t)(line - 1)));
    i = e + 1;
  }
  if (line == 0) PST_ERR(PST_ERR_FORMAT, "%s: empty vocabulary", path);
  w->size = (int)line;
  w->unk = pst_tok_vocab_get(w->vocab, NULL, 0, "[UNK]", 5);
  if (w->unk < 0) PST_ERR(PST_ERR_FORMAT, "%s: special token [UNK] not in the vocabulary", path);
  return PST_OK;
}

pst_err pst_wordpiece_load(pst_wordpiece **out, const char *vocab_txt, int lowercase, char vocab_sha256[65]) {
  *out = NULL;
  char *buf;
  size_t len;
  PST_CHECK(pst_tok_read_file(vocab_txt, &buf, &len));
  pst_sha256_hex(buf, len, vocab_sha256);
  pst_wordpiece *w = calloc(1, sizeof *w);
  if (!w) {
    free(buf);
    PST_ERR(PST_ERR_MEM, "out of memory loading %s", vocab_txt);
  }
  w->lowercase = lowercase != 0;
  pst_err rc = pst_tok_vocab_new(&w->vocab);
  if (!rc) rc = parse_vocab_txt(w, vocab_txt, buf, len);
  free(buf);
  if (rc) {
    pst_wordpiece_free(w);
    PST_CHECK(rc);
  }
  *out = w;
  return PST_OK;
}

void pst_wordpiece_free(pst_wordpiece *w) {
  if (!w) return;
  pst_tok_vocab_free(w->vocab);
  free(w);
}

int32_t pst_wordpiece_id(const pst_wordpiece *w, const char *token) {
  return pst_tok_vocab_get(w->vocab, NULL, 0, token, strlen(token));
}

int pst_wordpiece_size(const pst_wordpiece *w) { return w->size; }
