/* nlgeval.h — data-to-text evaluation by generation: decode the distinct inputs of a split
 * (prompts.h) with the configured decoding, score the outputs against their references with
 * the E2E metrics (nlgscore.h), keep the hypotheses. Used by `pst eval` and, with
 * eval.generate, by the training loop's dev evaluations. */
#ifndef PST_NLGEVAL_H
#define PST_NLGEVAL_H

#include "pst/dist.h"
#include "pst/generate.h"
#include "pst/nlgscore.h"
#include "pst/prompts.h"

typedef struct {
  pst_nlg_scores s;
  long inputs, tokens; /* decoded inputs, new tokens over all ranks */
  double seconds;      /* decoding wall time of rank 0 */
} pst_nlg_eval_result;

/* The text of one output (malloc'd): detokenized without special tokens; trim = 1 strips the
 * surrounding spaces and newlines (the reference side was trained as " " + reference). */
pst_err pst_gen_text(const pst_tokenizer *tok, const pst_gen_out *o, int trim, char **text);

/* Decode p's inputs [0, n) (n <= p->n; each dp replica of d takes a contiguous share, the tp
 * ranks of a replica decode it together; d may be NULL: one process), score them on world rank
 * 0 and broadcast the scores. hyp_path (may be NULL): rank 0 writes the hypotheses there, one
 * per line (newlines as spaces), atomically. BLEU is lowercased as the E2E script's. Collective
 * over d's world. */
pst_err pst_nlg_eval(pst_model *m, const pst_tokenizer *tok, const pst_prompts *p, int n, const pst_gen_opts *o,
                     pst_dist *d, const char *meteor_jar, const char *hyp_path, pst_nlg_eval_result *r);

#endif
