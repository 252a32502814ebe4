/* nlgscore.c — pst_nlg_score: every metric the options ask for, in one call. */
#include <math.h>
#include <string.h>

#include "nlg_internal.h"

pst_err pst_nlg_score(const char *const *hyps, int n, const char *const *const *refs, const int *nrefs,
                      const pst_nlg_opts *opts, pst_nlg_scores *out) {
  pst_nlg_opts def = {PST_NLG_ALL, NULL, 0};
  if (!opts) opts = &def;
  unsigned m = opts->metrics ? opts->metrics : PST_NLG_ALL;
  memset(out, 0, sizeof *out);
  out->bleu = out->nist = out->meteor = out->rouge_l = out->cider = out->ter = NAN;
  if (m & PST_NLG_BLEU) PST_CHECK(pst_nlg_bleu(&out->bleu, hyps, n, refs, nrefs, opts->bleu_lowercase));
  if (m & PST_NLG_NIST) PST_CHECK(pst_nlg_nist(&out->nist, hyps, n, refs, nrefs));
  if (m & PST_NLG_ROUGE_L) PST_CHECK(pst_nlg_rouge_l(&out->rouge_l, hyps, n, refs, nrefs));
  if (m & PST_NLG_CIDER) PST_CHECK(pst_nlg_cider(&out->cider, hyps, n, refs, nrefs));
  if (m & PST_NLG_TER) PST_CHECK(pst_nlg_ter(&out->ter, hyps, n, refs, nrefs));
  if (m & PST_NLG_METEOR) {
    PST_CHECK(pst_nlg_meteor(&out->meteor, &out->has_meteor, out->meteor_note, sizeof out->meteor_note, hyps,
                             n, refs, nrefs, opts->meteor_jar));
    if (!out->has_meteor) out->meteor = NAN;
  }
  return PST_OK;
}
