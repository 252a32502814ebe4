/* nist.c — the NIST score of mteval-v13a.pl (the E2E script's NIST), 5-grams:
 *   text: mteval's tokenization with ASCII lowercasing (its default, no -c);
 *   info(w1..wn) = -log2(count(w1..wn) / count(w1..wn-1)), counts over every reference
 *     segment of the corpus, count of the empty prefix = the total number of reference
 *     words (also, as Perl reads the string "0" as false, for a bigram whose first word is
 *     "0");
 *   per segment: every hypothesis n-gram also in a reference adds info * min(its count,
 *     its largest count in one reference) to tst_info[n]; tst_cnt[n] = max(len - n + 1, 0);
 *   NIST = sum over n = 1..5 of tst_info[n] / max(tst_cnt[n], 1), times
 *     LP(r) = exp(-beta log(r)^2), beta = -log(0.5) / log(1.5)^2, 1 for r >= 1, 0 for r <= 0,
 *     r = hypothesis words / (reference words / number of reference sets). mteval needs
 *     every reference set to hold every segment; the E2E script pads the segments with
 *     fewer references with empty ones, so the number of sets is the largest nrefs[i].
 * A corpus whose references have no word at all (where mteval divides by zero) scores 0. */
#include <math.h>
#include <string.h>

#include "nlg_internal.h"

#define NIST_N 5

/* info of every reference n-gram (n <= 5), from the corpus counts. */
static pst_err ngram_info(const nlg_corpus *c, nlg_ngtab *info, double *ref_words) {
  nlg_ngtab count = {0};
  pst_err rc = PST_OK;
  *ref_words = 0;
  for (int r = 0; r < c->ref_off[c->n] && !rc; r++) {
    rc = nlg_ngtab_count(&count, &c->ref[r], 1, NIST_N);
    *ref_words += c->ref[r].len;
  }
  for (size_t k = 0; k < count.cap && !rc; k++) {
    const nlg_ngram *g = &count.e[k];
    if (!g->n) continue;
    int zero = g->n == 2 && !strcmp(c->vocab.str[g->id[0]], "0");
    double m = (g->n == 1 || zero) ? *ref_words : nlg_ngtab_get(&count, g->id, g->n - 1);
    rc = nlg_ngtab_add(info, g->id, g->n, -log(g->v / m) / log(2.0));
  }
  nlg_ngtab_free(&count);
  return rc;
}

static double length_penalty(double ratio) {
  if (ratio >= 1) return 1;
  if (ratio <= 0) return 0;
  double beta = -log(0.5) / log(1.5) / log(1.5);
  return exp(-beta * log(ratio) * log(ratio));
}

pst_err pst_nlg_nist(double *out, const char *const *hyps, int n, const char *const *const *refs,
                     const int *nrefs) {
  nlg_corpus c;
  PST_CHECK(nlg_corpus_build(&c, "NIST", hyps, n, refs, nrefs, nlg_tok_13a, 3, NLG_SPLIT_WS));
  nlg_ngtab info = {0}, refmax = {0}, hyp = {0};
  double tst_info[NIST_N] = {0}, tst_cnt[NIST_N] = {0}, ref_words = 0;
  pst_err rc = ngram_info(&c, &info, &ref_words);
  for (int i = 0; i < c.n && !rc; i++) {
    nlg_ngtab_clear(&hyp);
    rc = nlg_ref_max_counts(&refmax, &c, i, NIST_N);
    if (!rc) rc = nlg_ngtab_count(&hyp, &c.hyp[i], 1, NIST_N);
    for (size_t k = 0; k < hyp.cap && !rc; k++) {
      const nlg_ngram *g = &hyp.e[k];
      if (!g->n) continue;
      double m = nlg_ngtab_get(&refmax, g->id, g->n);
      if (m > 0) tst_info[g->n - 1] += nlg_ngtab_get(&info, g->id, g->n) * fmin(g->v, m);
    }
    for (int k = 0; k < NIST_N; k++)
      if (c.hyp[i].len > k) tst_cnt[k] += c.hyp[i].len - k;
  }
  int nsets = c.max_refs;
  nlg_ngtab_free(&info);
  nlg_ngtab_free(&refmax);
  nlg_ngtab_free(&hyp);
  nlg_corpus_free(&c);
  PST_CHECK(rc);
  double score = 0;
  for (int k = 0; k < NIST_N; k++) score += tst_info[k] / fmax(tst_cnt[k], 1);
  *out = ref_words > 0 ? score * length_penalty(tst_cnt[0] / (ref_words / nsets)) : 0.0;
  return PST_OK;
}
