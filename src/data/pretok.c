/* pretok.c — the pre-tokenisers of the LLaMA-family byte-level BPE tokenizers, written out by
 * hand (there is no regex engine): the Split regexes of Llama 3 and Qwen2 and Hugging Face's
 * Digits pre-tokeniser (SmolLM2). Character classes are those of the GPT-2 regex
 * (pst_gpt2_char_class: Oniguruma's \s, \p{L}, \p{N} as HF tokenizers sees them). */
#include "pst/tokenizer.h"


static int lower_ascii(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i]: length of the match, 0 if none. Oniguruma's case
 * folding also lets U+017F (long s) match 's'. */
static size_t contraction_ci(const unsigned char *s, size_t len, size_t i) {
  if (s[i] != '\'' || i + 1 >= len) return 0;
  int c1 = lower_ascii(s[i + 1]);
  if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
  if (s[i + 1] == 0xC5 && i + 2 < len && s[i + 2] == 0xBF) return 3; /* 'ſ */
  if (i + 2 >= len) return 0;
  int c2 = lower_ascii(s[i + 2]);
  if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return 3;
  return 0;
}

/* End of the match at i (< len) of
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * with the alternatives tried in order (leftmost-first, greedy, backtracking as Oniguruma). */
static size_t llama3_match(const unsigned char *s, size_t len, size_t i, int max_digits) {
  size_t m = contraction_ci(s, len, i);
  if (m) return i + m;
  size_t n1;
  int k0 = pst_gpt2_class_at(s, i, &n1);
  /* [^\r\n\p{L}\p{N}]?\p{L}+ : the optional character, then a letter run */
  if (k0 != PST_GPT2_LETTER && k0 != PST_GPT2_NUMBER && s[i] != '\r' && s[i] != '\n' && n1 < len) {
    size_t n2;
    if (pst_gpt2_class_at(s, n1, &n2) == PST_GPT2_LETTER) return pst_gpt2_run_end(s, len, n2, PST_GPT2_LETTER);
  }
  if (k0 == PST_GPT2_LETTER) return pst_gpt2_run_end(s, len, n1, PST_GPT2_LETTER);
  if (k0 == PST_GPT2_NUMBER) { /* \p{N}{1,max_digits} */
    size_t e = n1;
    for (int d = 1; d < max_digits && e < len; d++) {
      size_t nx;
      if (pst_gpt2_class_at(s, e, &nx) != PST_GPT2_NUMBER) break;
      e = nx;
    }
    return e;
  }
  /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
  size_t j = i;
  if (s[i] == ' ' && n1 < len) {
    size_t n2;
    if (pst_gpt2_class_at(s, n1, &n2) == PST_GPT2_OTHER) j = n1;
  }
  size_t nj;
  if (pst_gpt2_class_at(s, j, &nj) == PST_GPT2_OTHER) {
    size_t e = pst_gpt2_run_end(s, len, nj, PST_GPT2_OTHER);
    while (e < len && (s[e] == '\r' || s[e] == '\n')) e++;
    return e;
  }
  /* here s[i] is white space. \s*[\r\n]+ : up to the last CR / LF of the white-space run */
  size_t e = pst_gpt2_run_end(s, len, n1, PST_GPT2_SPACE), last_nl = 0, last = i;
  int have_nl = 0;
  for (size_t p = i; p < e;) {
    size_t nx;
    pst_gpt2_class_at(s, p, &nx);
    if (s[p] == '\r' || s[p] == '\n') have_nl = 1, last_nl = p;
    last = p;
    p = nx;
  }
  if (have_nl) return last_nl + 1;
  /* \s+(?!\S): the whole run at the end of the text; before a non-space all but its last
   * character, unless that leaves nothing, in which case \s+ takes the one character */
  if (e < len && last > i) return last;
  return e;
}

pst_err pst_llama3_pretokenize(const char *text, size_t len, int max_digits, pst_piece_fn fn, void *ctx) {
  const unsigned char *s = (const unsigned char *)text;
  for (size_t i = 0; i < len;) {
    size_t e = llama3_match(s, len, i, max_digits);
    PST_CHECK(fn(ctx, text + i, e - i));
    i = e;
  }
  return PST_OK;
}

/* HF Digits: numbers (char::is_numeric, i.e. \p{N}) split off, each on its own when
 * individual, else as runs; the text between them is one piece. */
pst_err pst_digits_pretokenize(const char *text, size_t len, int individual, pst_piece_fn fn, void *ctx) {
  const unsigned char *s = (const unsigned char *)text;
  size_t start = 0;
  for (size_t i = 0; i < len;) {
    size_t nx;
    if (pst_gpt2_class_at(s, i, &nx) != PST_GPT2_NUMBER) {
      i = nx;
      continue;
    }
    if (i > start) PST_CHECK(fn(ctx, text + start, i - start));
    size_t e = individual ? nx : pst_gpt2_run_end(s, len, nx, PST_GPT2_NUMBER);
    PST_CHECK(fn(ctx, text + i, e - i));
    i = start = e;
  }
  if (start < len) PST_CHECK(fn(ctx, text + start, len - start));
  return PST_OK;
}
