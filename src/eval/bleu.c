/* bleu.c — corpus BLEU as sacrebleu 2.x corpus_bleu computes it with its defaults
 * (BLEU.compute_bleu, smooth_method "exp", effective_order off, 4-grams, 13a tokens):
 *   per segment: n-gram counts of the hypothesis, clipped by the maximum count over the
 *   references; the reference length is the closest to the hypothesis length (ties: the
 *   shorter); corpus sums of matches, totals, hypothesis and reference lengths;
 *   precision p_n = 100 * correct_n / total_n; when correct_n = 0, p_n = 100 / (2^k total_n)
 *   with k counting the zero-match orders so far; when total_n = 0 the orders from n on stay 0;
 *   BLEU = BP * exp(mean of log p_n) with log 0 = -9999999999 (sacrebleu's my_log), and
 *   BP = exp(1 - ref_len / sys_len) when sys_len < ref_len (0 when sys_len = 0), else 1. */
#include <math.h>
#include <stdlib.h>

#include "nlg_internal.h"

#define BLEU_N 4

/* The reference length closest to hyp_len (ties: the shorter), as sacrebleu. */
static int closest_ref_len(const nlg_corpus *c, int i) {
  int best = -1, best_diff = -1, hl = c->hyp[i].len;
  for (int r = c->ref_off[i]; r < c->ref_off[i + 1]; r++) {
    int rl = c->ref[r].len, d = abs(hl - rl);
    if (best_diff < 0 || d < best_diff) {
      best_diff = d;
      best = rl;
    } else if (d == best_diff && rl < best) {
      best = rl;
    }
  }
  return best;
}

/* Add segment i's matched and total n-gram counts. */
static pst_err segment_stats(const nlg_corpus *c, int i, nlg_ngtab *ref, nlg_ngtab *hyp, double *correct,
                             double *total) {
  nlg_ngtab_clear(hyp);
  PST_CHECK(nlg_ref_max_counts(ref, c, i, BLEU_N));
  PST_CHECK(nlg_ngtab_count(hyp, &c->hyp[i], 1, BLEU_N));
  for (size_t k = 0; k < hyp->cap; k++) {
    const nlg_ngram *g = &hyp->e[k];
    if (!g->n) continue;
    total[g->n - 1] += g->v;
    correct[g->n - 1] += fmin(g->v, nlg_ngtab_get(ref, g->id, g->n));
  }
  return PST_OK;
}

pst_err pst_nlg_bleu(double *out, const char *const *hyps, int n, const char *const *const *refs,
                     const int *nrefs, int lowercase) {
  nlg_corpus c;
  PST_CHECK(nlg_corpus_build(&c, "BLEU", hyps, n, refs, nrefs, nlg_tok_13a, lowercase ? 1 : 0, NLG_SPLIT_WS));
  double correct[BLEU_N] = {0}, total[BLEU_N] = {0};
  long sys_len = 0, ref_len = 0;
  nlg_ngtab ref = {0}, hyp = {0};
  pst_err rc = PST_OK;
  for (int i = 0; i < c.n && !rc; i++) {
    rc = segment_stats(&c, i, &ref, &hyp, correct, total);
    sys_len += c.hyp[i].len;
    ref_len += closest_ref_len(&c, i);
  }
  nlg_ngtab_free(&ref);
  nlg_ngtab_free(&hyp);
  nlg_corpus_free(&c);
  PST_CHECK(rc);

  double prec[BLEU_N] = {0}, smooth = 1.0, logsum = 0.0;
  for (int k = 0; k < BLEU_N; k++) {
    if (total[k] == 0) break;
    if (correct[k] == 0) {
      smooth *= 2;
      prec[k] = 100.0 / (smooth * total[k]);
    } else {
      prec[k] = 100.0 * correct[k] / total[k];
    }
  }
  for (int k = 0; k < BLEU_N; k++) logsum += prec[k] > 0 ? log(prec[k]) : -9999999999.0;
  double bp = 1.0;
  if (sys_len < ref_len) bp = sys_len > 0 ? exp(1.0 - (double)ref_len / (double)sys_len) : 0.0;
  *out = bp * exp(logsum / BLEU_N);
  return PST_OK;
}
