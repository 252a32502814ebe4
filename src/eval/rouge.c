/* rouge.c — ROUGE-L as pycocoevalcap's Rouge computes it: on the COCO tokens (ptb_tok.c) split
 * on single spaces (so an empty text is one empty token), per segment the LCS length with
 * each reference, P = max over references of lcs / |hyp|, R = max of lcs / |ref|, score =
 * (1 + b^2) P R / (R + b^2 P) with b = 1.2 (0 when P or R is 0); the corpus score is the
 * mean over segments. */
#include <math.h>
#include <stdlib.h>

#include "nlg_internal.h"

/* LCS length of two token sequences, one row of the table at a time. */
static pst_err lcs(int *out, const nlg_seq *a, const nlg_seq *b, int *row) {
  for (int j = 0; j <= b->len; j++) row[j] = 0;
  for (int i = 1; i <= a->len; i++) {
    int diag = 0; /* row[j - 1] of the previous row */
    for (int j = 1; j <= b->len; j++) {
      int up = row[j];
      row[j] = a->id[i - 1] == b->id[j - 1] ? diag + 1 : (up > row[j - 1] ? up : row[j - 1]);
      diag = up;
    }
  }
  *out = row[b->len];
  return PST_OK;
}

pst_err pst_nlg_rouge_l(double *out, const char *const *hyps, int n, const char *const *const *refs,
                        const int *nrefs) {
  nlg_corpus c;
  PST_CHECK(nlg_corpus_build(&c, "ROUGE-L", hyps, n, refs, nrefs, nlg_tok_coco, 0, NLG_SPLIT_SPACE));
  double *score = calloc((size_t)n, sizeof *score);
  int *row = NULL;
  pst_err rc = score ? PST_OK : PST_ERR_MEM;
  const double beta2 = pow(1.2, 2);
  for (int i = 0; i < n && !rc; i++) {
    double pmax = 0, rmax = 0;
    free(row);
    row = malloc(((size_t)c.hyp[i].len + 1) * sizeof *row);
    if (!row) rc = PST_ERR_MEM;
    for (int r = c.ref_off[i]; r < c.ref_off[i + 1] && !rc; r++) {
      int l;
      if ((double)c.hyp[i].len * c.ref[r].len > 4e9) {
        rc = PST_ERR_ARG;
        break;
      }
      rc = lcs(&l, &c.ref[r], &c.hyp[i], row);
      pmax = fmax(pmax, (double)l / c.hyp[i].len);
      rmax = fmax(rmax, (double)l / c.ref[r].len);
    }
    score[i] = (pmax != 0 && rmax != 0) ? ((1 + beta2) * pmax * rmax) / (rmax + beta2 * pmax) : 0.0;
    if (rc == PST_ERR_ARG) {
      nlg_corpus_free(&c);
      free(score);
      free(row);
      PST_ERR(PST_ERR_ARG, "ROUGE-L: segment %d is too long for the LCS table", i + 1);
    }
  }
  nlg_corpus_free(&c);
  if (!rc) *out = nlg_mean(score, n);
  free(score);
  free(row);
  if (rc) PST_ERR(rc, "ROUGE-L: out of memory for %d segments", n);
  return PST_OK;
}
