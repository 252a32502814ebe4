/* mteval_tok.c — the "13a" tokenizer of mteval-v13a.pl (sub tokenization), in the two forms
 * the metrics need:
 *   sacrebleu (BLEU, mteval = 0): optional Python str.lower(), rstrip(), "<skipped>" and "-\n"
 *     removed, "\n" -> " ", the entities &quot; &amp; &lt; &gt; decoded, then the four
 *     regular expressions below, then ' '.join(s.split()) (sacrebleu's Tokenizer13a);
 *   mteval (NIST, mteval = 1): the segment's white space runs collapsed to one space (as
 *     mteval's SGML reader does), the same removals and entities, ASCII-only lowercasing
 *     (tr/[A-Z]/[a-z]/, when lowercase) and the same expressions, then \s+ -> " " and trim.
 * The expressions, applied in order, each as a left-to-right non-overlapping substitution:
 *   ([\{-\~\[-\` -\&\(-\+\:-\@\/])  -> " \1 "   punctuation and symbols
 *   ([^0-9])([\.,])                 -> "\1 \2 " period and comma unless after a digit
 *   ([\.,])([^0-9])                 -> " \1 \2" period and comma unless before a digit
 *   ([0-9])(-)                      -> "\1 \2 " dash after a digit */
#include <stdlib.h>
#include <string.h>

#include "nlg_internal.h"

/* Replace every occurrence of `from` by `to` (left to right, non-overlapping). */
static pst_err replace_all(char **s, const char *from, const char *to) {
  if (!strstr(*s, from)) return PST_OK;
  nlg_buf b = {0};
  size_t nf = strlen(from), nt = strlen(to);
  const char *p = *s, *q;
  pst_err rc = nlg_buf_put(&b, "", 0);
  while (!rc && (q = strstr(p, from))) {
    rc = nlg_buf_put(&b, p, (size_t)(q - p));
    if (!rc) rc = nlg_buf_put(&b, to, nt);
    p = q + nf;
  }
  if (!rc) rc = nlg_buf_put(&b, p, strlen(p));
  if (rc) {
    free(b.s);
    return rc;
  }
  free(*s);
  *s = b.s;
  return PST_OK;
}

static int is_digit(int32_t c) { return c >= '0' && c <= '9'; }
static int is_pc(int32_t c) { return c == '.' || c == ','; }
static int is_punct13a(int32_t c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}

/* One pass of the expressions 2-4: at each position, a pair (a, b) that matches becomes
 * pre a mid b post (spaces), and the scan resumes after b. */
static size_t pair_pass(int32_t *dst, const int32_t *a, size_t n, int which) {
  size_t k = 0;
  for (size_t i = 0; i < n;) {
    int m = 0;
    if (i + 1 < n) {
      if (which == 2) m = !is_digit(a[i]) && is_pc(a[i + 1]);
      else if (which == 3) m = is_pc(a[i]) && !is_digit(a[i + 1]);
      else m = is_digit(a[i]) && a[i + 1] == '-';
    }
    if (!m) {
      dst[k++] = a[i++];
      continue;
    }
    if (which == 3) dst[k++] = ' ';
    dst[k++] = a[i];
    dst[k++] = ' ';
    dst[k++] = a[i + 1];
    if (which != 3) dst[k++] = ' ';
    i += 2;
  }
  return k;
}

/* The code points of s (mteval: white space runs as one space; lowercase: Python lower). */
static pst_err prepare(char **out, const char *s, int lowercase, int mteval) {
  int32_t *cp;
  size_t n;
  PST_CHECK(nlg_decode(&cp, &n, s));
  nlg_buf b = {0};
  pst_err rc = nlg_buf_put(&b, "", 0);
  if (!mteval) {
    /* str.lower() then rstrip() */
    for (size_t i = 0; i < n && !rc; i++) rc = lowercase ? nlg_put_lower(&b, cp, n, i) : nlg_buf_put_cp(&b, cp[i]);
    free(cp);
    if (!rc) rc = nlg_decode(&cp, &n, b.s);
    if (rc) {
      free(b.s);
      return rc;
    }
    while (n > 0 && nlg_is_py_space(cp[n - 1])) n--;
    b.len = 0;
    for (size_t i = 0; i < n && !rc; i++) rc = nlg_buf_put_cp(&b, cp[i]);
  } else {
    for (size_t i = 0; i < n && !rc; i++) {
      if (nlg_is_perl_space(cp[i])) {
        if (i == 0 || !nlg_is_perl_space(cp[i - 1])) rc = nlg_buf_putc(&b, ' ');
      } else {
        rc = nlg_buf_put_cp(&b, cp[i]);
      }
    }
  }
  free(cp);
  if (rc) {
    free(b.s);
    return rc;
  }
  *out = b.s;
  return PST_OK;
}

pst_err pst_nlg_tokenize_13a(char **out, const char *s, int lowercase, int mteval) {
  static const char *const subst[][2] = {{"<skipped>", ""}, {"-\n", ""},    {"\n", " "},   {"&quot;", "\""},
                                         {"&amp;", "&"},    {"&lt;", "<"},  {"&gt;", ">"}};
  char *t = NULL;
  *out = NULL;
  PST_CHECK(prepare(&t, s, lowercase, mteval));
  pst_err rc = PST_OK;
  for (size_t i = 0; i < sizeof subst / sizeof subst[0] && !rc; i++) rc = replace_all(&t, subst[i][0], subst[i][1]);
  int32_t *cp = NULL, *a = NULL, *b = NULL;
  size_t n = 0;
  if (!rc) rc = nlg_decode(&cp, &n, t);
  free(t);
  if (rc) return rc;
  /* " s ", then the four expressions; each pass at most triples the length */
  size_t cap = 3 * (n + 2) * 3 + 8;
  a = malloc(cap * sizeof *a);
  b = malloc(cap * sizeof *b);
  if (!a || !b) {
    free(cp);
    free(a);
    free(b);
    PST_ERR(PST_ERR_MEM, "out of memory tokenizing %zu characters", n);
  }
  size_t k = 0;
  a[k++] = ' ';
  for (size_t i = 0; i < n; i++) a[k++] = (mteval && lowercase && cp[i] >= 'A' && cp[i] <= 'Z') ? cp[i] + 32 : cp[i];
  a[k++] = ' ';
  free(cp);
  size_t m = 0;
  for (size_t i = 0; i < k; i++) {
    if (is_punct13a(a[i])) {
      b[m++] = ' ';
      b[m++] = a[i];
      b[m++] = ' ';
    } else {
      b[m++] = a[i];
    }
  }
  k = pair_pass(a, b, m, 2);
  m = pair_pass(b, a, k, 3);
  k = pair_pass(a, b, m, 4);
  /* single spaces between tokens, none around */
  nlg_buf o = {0};
  rc = nlg_buf_put(&o, "", 0);
  int pending = 0;
  for (size_t i = 0; i < k && !rc; i++) {
    if (mteval ? nlg_is_perl_space(a[i]) : nlg_is_py_space(a[i])) {
      pending = o.len > 0;
      continue;
    }
    if (pending) rc = nlg_buf_putc(&o, ' ');
    pending = 0;
    if (!rc) rc = nlg_buf_put_cp(&o, a[i]);
  }
  free(a);
  free(b);
  if (rc) {
    free(o.s);
    return rc;
  }
  *out = o.s;
  return PST_OK;
}

pst_err nlg_tok_13a(char **out, const char *s, int flag) {
  return pst_nlg_tokenize_13a(out, s, flag & 1, (flag >> 1) & 1);
}
