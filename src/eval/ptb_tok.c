/* ptb_tok.c — the tokenization the COCO caption evaluation (pycocoevalcap's PTBTokenizer, and
 * so the E2E script) applies before METEOR, ROUGE-L and CIDEr: Stanford CoreNLP 3.4.1
 * `PTBTokenizer -preserveLines -lowerCase`, then the tokens '' ' `` ` -LRB- -RRB- -LCB- -RCB-
 * . ? ! , : - -- ... ; dropped (the bracket names are upper case there, so the lowercased
 * -lrb- ... stay, as in pycocoevalcap).
 *
 * This is not the JFlex PTB lexer but the subset of its rules that English descriptions of
 * restaurants use, written to give its output on the E2E data: of the 51,426 references of
 * the E2E train, dev and test sets, 13 tokenize differently (runs of 4+ periods, "no."
 * before a digit, a period the lexer reads as an abbreviation's, commas between words
 * without a space), 4 of them still after the punctuation removal (all in the training
 * set). Rules, on white-space separated chunks, lowercased:
 *   £ -> "#", € and $ -> "$", ¢ -> "cents" (PTB3 currency normalization), each a token;
 *   " -> `` at the start of a word, else ''; ' -> ` before a letter at the start of a word,
 *   else '; the clitics 's 're 've 'll 'd 'm and n't split off ("isn't" -> is n't,
 *   "can't" -> ca n't); cannot/gonna/wanna/gotta -> can not / gon na / wan na / got ta;
 *   ( [ { ) ] } -> -lrb- -lsb- -lcb- -rrb- -rsb- -rcb-;
 *   a word is letters/digits joined by - or / (family-friendly, 20-25, 5/5), by . , : between
 *   digits (3.5, 1,000, 10:30), by . between letters (u.s, cheap.it) or by an apostrophe
 *   between letters that starts no clitic (d'oeuvres, o'clock); -25 after a non-word
 *   character is a signed number;
 *   a word of letters followed by "." keeps the period when a comma follows ("center.,"), when
 *   it is one letter ("l.") or a known abbreviation (mr. st. etc. rd. ...); a sentence-ending
 *   abbreviation (etc. rd. co. inc. ltd. ...) at the end of the line or before a capitalized
 *   word is followed by an extra "." (dropped again as punctuation);
 *   runs of periods: "..." for 3 or more, else one "." each; runs of dashes: "--" for 2 or
 *   more, else "-"; a run of ! and ? is one token ("!!", "?!"); any other character is a
 *   token of its own. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "nlg_internal.h"

static int is_alpha(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static int is_alnum(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return is_alpha(c) || (k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO);
}
static int is_digit(int32_t c) { return c >= '0' && c <= '9'; }

/* w[i..n) starts with the ASCII string s. */
static int starts(const int32_t *w, size_t i, size_t n, const char *s) {
  for (size_t k = 0; s[k]; k++)
    if (i + k >= n || w[i + k] != (unsigned char)s[k]) return 0;
  return 1;
}

/* Length of the clitic ('s 're 've 'll 'd 'm) at w[i] that ends a word, else 0. */
static size_t clitic_at(const int32_t *w, size_t i, size_t n) {
  static const char *const cl[] = {"'s", "'re", "'ve", "'ll", "'d", "'m"};
  for (size_t k = 0; k < sizeof cl / sizeof cl[0]; k++) {
    size_t len = strlen(cl[k]);
    if (starts(w, i, n, cl[k]) && (i + len == n || !is_alnum(w[i + len]))) return len;
  }
  return 0;
}

/* w[i..j) equals one of the NULL-terminated ASCII words. */
static int word_in(const int32_t *w, size_t i, size_t j, const char *const *list) {
  for (; *list; list++)
    if (strlen(*list) == j - i && starts(w, i, j, *list)) return 1;
  return 0;
}

static const char *const TITLES[] = {"mr", "mrs", "ms", "dr", "st", "prof", "sr", "jr", "mt", "ft", "messrs",
                                     "gen", "rev", "sen", "rep", "gov", "capt", "lt", "col", "sgt", NULL};
static const char *const SENT_ABBR[] = {"etc", "rd", "co", "corp", "inc", "ltd", "ave", "blvd", "bros", "vs", NULL};

/* Emit one token; punctuation tokens that pycocoevalcap removes are dropped here. */
static pst_err emit(nlg_buf *o, const int32_t *w, size_t i, size_t j, const char *lit) {
  static const char *const drop[] = {"''", "'", "``", "`", ".", "?", "!", ",", ":", "-", "--", "...", ";", NULL};
  if (lit) {
    for (const char *const *d = drop; *d; d++)
      if (!strcmp(lit, *d)) return PST_OK;
  } else if (word_in(w, i, j, drop)) {
    return PST_OK;
  }
  if (o->len) PST_CHECK(nlg_buf_putc(o, ' '));
  if (lit) return nlg_buf_put(o, lit, strlen(lit));
  for (size_t k = i; k < j; k++) PST_CHECK(nlg_buf_put_cp(o, w[k]));
  return PST_OK;
}

/* The end of the word starting at w[i] (an alphanumeric character). */
static size_t word_end(const int32_t *w, size_t i, size_t n) {
  size_t j = i;
  for (;;) {
    while (j < n && is_alnum(w[j])) j++;
    if (j + 1 >= n) return j;
    int32_t c = w[j], prev = w[j - 1], next = w[j + 1];
    if ((c == '-' || c == '/') && is_alnum(next)) j++;
    else if ((c == '.' || c == ',' || c == ':') && is_digit(prev) && is_digit(next)) j++;
    else if (c == '.' && is_alpha(prev) && is_alpha(next)) j++;
    else if (c == '\'' && is_alpha(prev) && is_alpha(next) && !clitic_at(w, j, n) &&
             !(prev == 'n' && next == 't' && (j + 2 == n || !is_alnum(w[j + 2]))))
      j++;
    else return j;
  }
}

/* A word w[i..j) and what follows it: abbreviation periods, n't, the special words. Returns
 * the position after what was consumed. */
static pst_err emit_word(nlg_buf *o, const int32_t *w, size_t i, size_t j, size_t n, int last_chunk,
                         int next_upper, size_t *next) {
  int letters = 1, dotted = 0; /* dotted: u.s. a.m. e.g. */
  for (size_t k = i; k < j; k++) {
    letters &= is_alpha(w[k]) || w[k] == '.';
    dotted |= w[k] == '.';
  }
  if (letters && j < n && w[j] == '.') {
    int abbr = j - i == 1 || dotted || word_in(w, i, j, TITLES) || word_in(w, i, j, SENT_ABBR);
    if ((j + 1 < n && w[j + 1] == ',') || abbr) {
      PST_CHECK(emit(o, w, i, j + 1, NULL));
      if (word_in(w, i, j, SENT_ABBR) && j + 1 == n && (last_chunk || next_upper)) PST_CHECK(emit(o, NULL, 0, 0, "."));
      *next = j + 1;
      return PST_OK;
    }
  }
  if (starts(w, j, n, "'t") && w[j - 1] == 'n' && (j + 2 == n || !is_alnum(w[j + 2]))) {
    if (j - 1 > i) PST_CHECK(emit(o, w, i, j - 1, NULL));
    PST_CHECK(emit(o, NULL, 0, 0, "n't"));
    *next = j + 2;
    return PST_OK;
  }
  static const char *const special[][3] = {
      {"cannot", "can", "not"}, {"gonna", "gon", "na"}, {"wanna", "wan", "na"}, {"gotta", "got", "ta"}};
  for (size_t k = 0; k < sizeof special / sizeof special[0]; k++) {
    const char *const one[] = {special[k][0], NULL};
    if (word_in(w, i, j, one)) {
      PST_CHECK(emit(o, NULL, 0, 0, special[k][1]));
      PST_CHECK(emit(o, NULL, 0, 0, special[k][2]));
      *next = j;
      return PST_OK;
    }
  }
  *next = j;
  return emit(o, w, i, j, NULL);
}

/* The tokens of one white-space separated chunk w[0..n) (lowercased). */
static pst_err chunk(nlg_buf *o, const int32_t *w, size_t n, int last_chunk, int next_upper) {
  for (size_t i = 0; i < n;) {
    int32_t c = w[i];
    const char *lit = NULL;
    switch (c) {
      case 0xa3: lit = "#"; break;
      case 0x20ac: case '$': lit = "$"; break;
      case 0xa2: lit = "cents"; break;
      case '(': lit = "-lrb-"; break;
      case ')': lit = "-rrb-"; break;
      case '[': lit = "-lsb-"; break;
      case ']': lit = "-rsb-"; break;
      case '{': lit = "-lcb-"; break;
      case '}': lit = "-rcb-"; break;
      case '"': lit = (i == 0 || !is_alnum(w[i - 1])) ? "``" : "''"; break;
      default: break;
    }
    if (lit) {
      PST_CHECK(emit(o, NULL, 0, 0, lit));
      i++;
      continue;
    }
    size_t j = i;
    if (c == '.' || (c == '-' && !(i + 1 < n && is_digit(w[i + 1]) && (i == 0 || !is_alnum(w[i - 1]))))) {
      while (j < n && w[j] == c) j++;
      if (c == '.' && j - i < 3)
        for (size_t k = i; k < j; k++) PST_CHECK(emit(o, NULL, 0, 0, "."));
      else PST_CHECK(emit(o, NULL, 0, 0, c == '.' ? "..." : (j - i >= 2 ? "--" : "-")));
      i = j;
    } else if (c == '!' || c == '?') { /* "!!" "?!" are one token (kept: only "!" and "?" are dropped) */
      while (j < n && (w[j] == '!' || w[j] == '?')) j++;
      PST_CHECK(emit(o, w, i, j, NULL));
      i = j;
    } else if (c == '-') { /* signed number */
      j = i + 1;
      while (j < n && (is_digit(w[j]) || ((w[j] == '.' || w[j] == ',') && j + 1 < n && is_digit(w[j + 1])))) j++;
      PST_CHECK(emit(o, w, i, j, NULL));
      i = j;
    } else if (c == '\'') {
      size_t k = clitic_at(w, i, n);
      if (k) {
        PST_CHECK(emit(o, w, i, i + k, NULL));
        i += k;
      } else {
        PST_CHECK(emit(o, NULL, 0, 0, (i == 0 || !is_alnum(w[i - 1])) && i + 1 < n && is_alpha(w[i + 1]) ? "`" : "'"));
        i++;
      }
    } else if (is_alnum(c)) {
      PST_CHECK(emit_word(o, w, i, word_end(w, i, n), n, last_chunk, next_upper, &i));
    } else {
      PST_CHECK(emit(o, w, i, i + 1, NULL));
      i++;
    }
  }
  return PST_OK;
}

pst_err pst_nlg_coco_tokenize(char **out, const char *s) {
  int32_t *cp, *low;
  size_t n;
  *out = NULL;
  PST_CHECK(nlg_decode(&cp, &n, s));
  low = malloc((n + 1) * sizeof *low);
  if (!low) {
    free(cp);
    PST_ERR(PST_ERR_MEM, "out of memory tokenizing %zu characters", n);
  }
  for (size_t i = 0; i < n; i++) low[i] = utf8proc_tolower(cp[i]);
  nlg_buf o = {0};
  pst_err rc = nlg_buf_put(&o, "", 0);
  for (size_t i = 0; i < n && !rc;) {
    if (nlg_is_py_space(cp[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && !nlg_is_py_space(cp[j])) j++;
    size_t k = j;
    while (k < n && nlg_is_py_space(cp[k])) k++;
    int next_upper = k < n && utf8proc_category(cp[k]) == UTF8PROC_CATEGORY_LU;
    rc = chunk(&o, low + i, j - i, k == n, next_upper);
    i = j;
  }
  free(cp);
  free(low);
  if (rc) {
    free(o.s);
    return rc;
  }
  *out = o.s;
  return PST_OK;
}

pst_err nlg_tok_coco(char **out, const char *s, int flag) {
  (void)flag;
  return pst_nlg_coco_tokenize(out, s);
}
