/* nlg_internal.h — what the NLG metrics of src/eval/ share: a growable string, UTF-8 and
 * case helpers (textutil.c), and token ids, n-gram count tables and tokenized corpora
 * (ngram.c). Not installed. */
#ifndef PST_NLG_INTERNAL_H
#define PST_NLG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pst/nlgscore.h"

/* ---- textutil.c ------------------------------------------------------------------------ */
typedef struct {
  char *s;
  size_t len, cap;
} nlg_buf;
pst_err nlg_buf_put(nlg_buf *b, const char *s, size_t n);
pst_err nlg_buf_putc(nlg_buf *b, char c);
pst_err nlg_buf_put_cp(nlg_buf *b, int32_t cp); /* one code point as UTF-8 */

/* Decode UTF-8 into code points (*cps malloc'd, *n of them); PST_ERR_ARG on invalid UTF-8. */
pst_err nlg_decode(int32_t **cps, size_t *n, const char *s);
/* Python's str.isspace() (str.split() splits on these) and Perl's \s on character strings. */
int nlg_is_py_space(int32_t c);
int nlg_is_perl_space(int32_t c);
/* Python's str.lower() of cp[i] in its string cp[0..n), appended: the simple lowercase
 * mapping, U+0130 -> "i" U+0307, and capital sigma -> final sigma in the Final_Sigma context. */
pst_err nlg_put_lower(nlg_buf *b, const int32_t *cp, size_t n, size_t i);
/* Python's ' '.join(s.lower().split()) (lowercase 0: ' '.join(s.split())) into *out. */
pst_err nlg_py_lower_split(char **out, const char *s, int lowercase);

/* ---- ngram.c ----------------------------------------------------------------------------- */
#define NLG_MAXN 5 /* longest n-gram any metric counts (NIST) */

/* String -> id interning. */
typedef struct {
  char **str;  /* [n] */
  int n, cap;
  int *slot;   /* open addressing: id + 1, 0 = empty; nslot is a power of two */
  size_t nslot;
} nlg_vocab;

typedef struct {
  int *id;
  int len;
} nlg_seq;

typedef struct {
  int n;                /* 0 = empty slot */
  int id[NLG_MAXN];
  double v;
} nlg_ngram;

/* n-gram -> value table (open addressing; entries with n > 0 are the live ones). */
typedef struct {
  nlg_ngram *e;
  size_t cap, count;
} nlg_ngtab;

pst_err nlg_ngtab_add(nlg_ngtab *t, const int *id, int n, double v); /* value += v */
pst_err nlg_ngtab_max(nlg_ngtab *t, const int *id, int n, double v); /* value = max(value, v) */
/* The entry of an n-gram, or NULL. */
const nlg_ngram *nlg_ngtab_find(const nlg_ngtab *t, const int *id, int n);
double nlg_ngtab_get(const nlg_ngtab *t, const int *id, int n); /* 0 when absent */
/* Add the count of every n-gram of s with minn <= n <= maxn. */
pst_err nlg_ngtab_count(nlg_ngtab *t, const nlg_seq *s, int minn, int maxn);
void nlg_ngtab_clear(nlg_ngtab *t);
void nlg_ngtab_free(nlg_ngtab *t);

/* How a tokenizer's output string becomes tokens. */
typedef enum {
  NLG_SPLIT_WS,   /* runs of spaces separate tokens (Python s.split() on normalized text) */
  NLG_SPLIT_SPACE /* every single space separates (Python s.split(" "): "" is one empty token) */
} nlg_split;

/* A tokenizer: the normalized, single-space-joined tokens of s into *out (malloc'd). */
typedef pst_err (*nlg_tokfn)(char **out, const char *s, int flag);

/* The corpus as token id sequences: hyp[i], and ref[ref_off[i] .. ref_off[i+1]). */
typedef struct {
  nlg_vocab vocab;
  int n;
  nlg_seq *hyp;
  nlg_seq *ref;
  int *ref_off;
  int max_refs; /* the largest nrefs[i] */
} nlg_corpus;

/* Check the arguments (n >= 1, nrefs[i] >= 1, no NULL), tokenize every segment with tok(.,
 * flag) and split it. Errors name the metric (what) and the segment. */
pst_err nlg_corpus_build(nlg_corpus *c, const char *what, const char *const *hyps, int n,
                         const char *const *const *refs, const int *nrefs, nlg_tokfn tok, int flag,
                         nlg_split split);
void nlg_corpus_free(nlg_corpus *c);

/* refmax = for every n-gram (n <= maxn) of segment i's references, its largest count in one
 * reference (the clipping counts of BLEU and NIST). */
pst_err nlg_ref_max_counts(nlg_ngtab *refmax, const nlg_corpus *c, int i, int maxn);

/* Numerically careful mean of x[0..n) (pairwise sum, as numpy's mean). */
double nlg_mean(const double *x, int n);

/* The PTB pipeline as an nlg_tokfn (flag unused); the 13a tokenizer likewise (flag bit 0
 * lowercase, bit 1 mteval mode). */
pst_err nlg_tok_coco(char **out, const char *s, int flag);
pst_err nlg_tok_13a(char **out, const char *s, int flag);

#endif
