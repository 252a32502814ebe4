/* textutil.c — growable strings, UTF-8 decoding and the whitespace and lowercase rules of
 * Python and Perl that the reference implementations of the NLG metrics rely on. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "nlg_internal.h"

pst_err nlg_buf_put(nlg_buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) PST_ERR(PST_ERR_MEM, "out of memory for a string of %zu bytes", cap);
    b->s = p;
    b->cap = cap;
  }
  if (n) memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
  return PST_OK;
}

pst_err nlg_buf_putc(nlg_buf *b, char c) { return nlg_buf_put(b, &c, 1); }

pst_err nlg_buf_put_cp(nlg_buf *b, int32_t cp) {
  utf8proc_uint8_t enc[4];
  utf8proc_ssize_t k = utf8proc_encode_char(cp, enc);
  return nlg_buf_put(b, (const char *)enc, (size_t)k);
}

pst_err nlg_decode(int32_t **cps, size_t *n, const char *s) {
  size_t len = strlen(s);
  *cps = NULL;
  *n = 0;
  int32_t *out = malloc((len + 1) * sizeof *out);
  if (!out) PST_ERR(PST_ERR_MEM, "out of memory decoding %zu bytes of UTF-8", len);
  size_t k = 0;
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  for (size_t i = 0; i < len;) {
    utf8proc_int32_t c;
    utf8proc_ssize_t step = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
    if (step < 0) {
      free(out);
      PST_ERR(PST_ERR_ARG, "invalid UTF-8 at byte %zu", i);
    }
    out[k++] = c;
    i += (size_t)step;
  }
  *cps = out;
  *n = k;
  return PST_OK;
}

/* White space shared by Python's isspace() and Perl's \s: tab .. carriage return, space, NEL,
 * no-break space, ogham space, the U+2000 spaces, line/paragraph separators, narrow no-break,
 * medium mathematical and ideographic space. */
static int common_space(int32_t c) {
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f ||
         c == 0x3000;
}

/* Python also counts the information separators U+001C .. U+001F as white space. */
int nlg_is_py_space(int32_t c) { return common_space(c) || (c >= 0x1c && c <= 0x1f); }
int nlg_is_perl_space(int32_t c) { return common_space(c); }

/* Unicode's Cased (letters with case: Lu Ll Lt, or any character with a case mapping). */
static int is_cased(int32_t c) {
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         utf8proc_tolower(c) != c || utf8proc_toupper(c) != c;
}

/* Unicode's Case_Ignorable: Mn Me Cf Lm Sk and the word-break MidLetter / MidNumLet /
 * Single_Quote characters. */
static int is_case_ignorable(int32_t c) {
  static const int32_t mid[] = {0x27,   0x2e,   0x3a,   0xb7,   0x387,  0x55f,  0x5f4,  0x2018, 0x2019,
                                0x2024, 0x2027, 0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a};
  utf8proc_category_t k = utf8proc_category(c);
  if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
      k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
    return 1;
  for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
    if (c == mid[i]) return 1;
  return 0;
}

/* Capital sigma at cp[i] in the Final_Sigma context (a cased letter before it and none after
 * it, case-ignorable characters skipped), as CPython's handle_capital_sigma. */
static int final_sigma(const int32_t *cp, size_t n, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(cp[j - 1])) j--;
  if (j == 0 || !is_cased(cp[j - 1])) return 0;
  for (j = i + 1; j < n && is_case_ignorable(cp[j]); j++) {
  }
  return j == n || !is_cased(cp[j]);
}

pst_err nlg_put_lower(nlg_buf *b, const int32_t *cp, size_t n, size_t i) {
  if (cp[i] == 0x130) { /* the one unconditional multi-character lowercase mapping */
    PST_CHECK(nlg_buf_putc(b, 'i'));
    return nlg_buf_put_cp(b, 0x307);
  }
  if (cp[i] == 0x3a3) return nlg_buf_put_cp(b, final_sigma(cp, n, i) ? 0x3c2 : 0x3c3);
  return nlg_buf_put_cp(b, utf8proc_tolower(cp[i]));
}

pst_err nlg_py_lower_split(char **out, const char *s, int lowercase) {
  int32_t *cp;
  size_t n;
  *out = NULL;
  PST_CHECK(nlg_decode(&cp, &n, s));
  nlg_buf b = {0};
  pst_err rc = nlg_buf_put(&b, "", 0);
  int pending = 0; /* a space is due before the next token character */
  for (size_t i = 0; i < n && !rc; i++) {
    if (nlg_is_py_space(cp[i])) {
      pending = b.len > 0;
      continue;
    }
    if (pending) rc = nlg_buf_putc(&b, ' ');
    pending = 0;
    if (!rc) rc = lowercase ? nlg_put_lower(&b, cp, n, i) : nlg_buf_put_cp(&b, cp[i]);
  }
  free(cp);
  if (rc) {
    free(b.s);
    return rc;
  }
  *out = b.s;
  return PST_OK;
}

double nlg_mean(const double *x, int n) {
  if (n <= 0) return 0.0;
  if (n <= 8) {
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s / n;
  }
  /* pairwise: the error stays O(log n) ulps like numpy's */
  int h = n / 2;
  return (nlg_mean(x, h) * h + nlg_mean(x + h, n - h) * (n - h)) / n;
}
