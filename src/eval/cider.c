/* cider.c — CIDEr-D as pycocoevalcap's Cider (cider_scorer.py) computes it, n = 1..4,
 * sigma = 6, on the COCO tokens (ptb_tok.c) split on white space:
 *   df(g) = number of segments whose references (any of them) contain n-gram g;
 *   vec(g) = tf(g) * (log(N) - log(max(1, df(g)))), N = number of segments; norm_n = the
 *     Euclidean norm of the order-n part; "length" = the number of bigrams (cider_scorer
 *     counts the terms with n == 1 of its 0-based order index);
 *   sim_n(h, r) = sum over g of h of min(vec_h(g), vec_r(g)) * vec_r(g), divided by
 *     norm_h * norm_r when both are nonzero, times e^(-(len_h - len_r)^2 / (2 sigma^2));
 *   segment score = 10 * mean over n of (sum over references of sim_n) / nrefs;
 *   CIDEr = mean over segments. */
#include <math.h>
#include <stdlib.h>

#include "nlg_internal.h"

#define CIDER_N 4
#define CIDER_SIGMA 6.0

typedef struct {
  nlg_ngtab tf;          /* term frequencies */
  double norm[CIDER_N];  /* norm of each order's tf-idf vector */
  double length;         /* the bigram count */
} cvec;

/* tf-idf weight of an n-gram with term frequency tf. */
static double weight(const nlg_ngtab *df, double ref_len, const nlg_ngram *g) {
  return g->v * (ref_len - log(fmax(1.0, nlg_ngtab_get(df, g->id, g->n))));
}

static pst_err cvec_make(cvec *v, const nlg_seq *s, const nlg_ngtab *df, double ref_len) {
  nlg_ngtab_clear(&v->tf);
  PST_CHECK(nlg_ngtab_count(&v->tf, s, 1, CIDER_N));
  double sq[CIDER_N] = {0};
  v->length = 0;
  for (size_t k = 0; k < v->tf.cap; k++) {
    const nlg_ngram *g = &v->tf.e[k];
    if (!g->n) continue;
    double w = weight(df, ref_len, g);
    sq[g->n - 1] += pow(w, 2);
    if (g->n == 2) v->length += g->v;
  }
  for (int k = 0; k < CIDER_N; k++) v->norm[k] = sqrt(sq[k]);
  return PST_OK;
}

/* sum over orders of sim_n(h, r), accumulated into acc[n]. */
static void sim(double *acc, const cvec *h, const cvec *r, const nlg_ngtab *df, double ref_len) {
  double val[CIDER_N] = {0};
  for (size_t k = 0; k < h->tf.cap; k++) {
    const nlg_ngram *g = &h->tf.e[k];
    if (!g->n) continue;
    const nlg_ngram *rg = nlg_ngtab_find(&r->tf, g->id, g->n);
    if (!rg) continue;
    double vh = weight(df, ref_len, g), vr = weight(df, ref_len, rg);
    val[g->n - 1] += fmin(vh, vr) * vr;
  }
  double delta = h->length - r->length;
  for (int k = 0; k < CIDER_N; k++) {
    if (h->norm[k] != 0 && r->norm[k] != 0) val[k] /= h->norm[k] * r->norm[k];
    val[k] *= pow(M_E, -(delta * delta) / (2 * CIDER_SIGMA * CIDER_SIGMA));
    acc[k] += val[k];
  }
}

/* Document frequencies over the references of every segment. */
static pst_err doc_freq(nlg_ngtab *df, const nlg_corpus *c) {
  nlg_ngtab seen = {0};
  pst_err rc = PST_OK;
  for (int i = 0; i < c->n && !rc; i++) {
    rc = nlg_ref_max_counts(&seen, c, i, CIDER_N);
    for (size_t k = 0; k < seen.cap && !rc; k++)
      if (seen.e[k].n) rc = nlg_ngtab_add(df, seen.e[k].id, seen.e[k].n, 1.0);
  }
  nlg_ngtab_free(&seen);
  return rc;
}

pst_err pst_nlg_cider(double *out, const char *const *hyps, int n, const char *const *const *refs,
                      const int *nrefs) {
  nlg_corpus c;
  PST_CHECK(nlg_corpus_build(&c, "CIDEr", hyps, n, refs, nrefs, nlg_tok_coco, 0, NLG_SPLIT_WS));
  nlg_ngtab df = {0};
  cvec h = {0}, r = {0};
  double *score = calloc((size_t)n, sizeof *score), ref_len = log((double)n);
  pst_err rc = score ? doc_freq(&df, &c) : PST_ERR_MEM;
  for (int i = 0; i < n && !rc; i++) {
    double acc[CIDER_N] = {0};
    rc = cvec_make(&h, &c.hyp[i], &df, ref_len);
    for (int k = c.ref_off[i]; k < c.ref_off[i + 1] && !rc; k++) {
      rc = cvec_make(&r, &c.ref[k], &df, ref_len);
      if (!rc) sim(acc, &h, &r, &df, ref_len);
    }
    score[i] = nlg_mean(acc, CIDER_N) / nrefs[i] * 10.0;
  }
  if (!rc) *out = nlg_mean(score, n);
  nlg_ngtab_free(&df);
  nlg_ngtab_free(&h.tf);
  nlg_ngtab_free(&r.tf);
  nlg_corpus_free(&c);
  free(score);
  if (rc == PST_ERR_MEM && !score) PST_ERR(rc, "CIDEr: out of memory for %d segments", n);
  PST_CHECK(rc);
  return PST_OK;
}
