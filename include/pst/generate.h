/* generate.h — text generation with a decoder (GPT-2, LLaMA family) as transformers 4.46's
 * generate(): greedy, beam search (BeamSearchScorer, early_stopping = False or True) and
 * sampling (temperature, top-k, top-p), with no-repeat n-grams, minimum new tokens, EOS ids
 * and stop strings. The model decodes with its key/value cache (model.h, pst_model_infer_*);
 * prompts are decoded `batch` at a time, each independently of the others (a prompt's output
 * does not depend on the batch it is in). */
#ifndef PST_GENERATE_H
#define PST_GENERATE_H

#include <stdint.h>

#include "pst/config.h"
#include "pst/core.h"
#include "pst/model.h"
#include "pst/tokenizer.h"

typedef struct {
  int max_new_tokens;        /* >= 1 */
  int min_new_tokens;        /* the EOS ids are banned before this many new tokens */
  int num_beams;             /* 1 = greedy or sampling; >= 2 = beam search */
  double length_penalty;     /* beam: a finished hypothesis scores sum log p / new_len^lp */
  int early_stopping;        /* beam: 1 = stop at num_beams finished hypotheses; 0 = HF's heuristic */
  int no_repeat_ngram;       /* n > 0: no n-gram occurs twice in prompt + output */
  int do_sample;             /* sample (num_beams = 1) instead of argmax */
  double temperature;        /* > 0; 1 = off */
  int top_k;                 /* 0 = off */
  double top_p;              /* (0, 1]; 1 = off */
  uint64_t seed;             /* sampling: prompt i, new token s draws number s of stream
                                index0 + i of seed, whatever the batch or the rank */
  long index0;
  const int32_t *eos;        /* end-of-sequence ids (n_eos, may be 0) */
  int n_eos;
  const char *const *stop;   /* stop strings (need tok): a sequence ends once its text has one */
  int n_stop;
  int batch;                 /* prompts decoded together (>= 1) */
} pst_gen_opts;

/* The decoding options of cfg's [generate] section (no EOS ids, stop strings or index0: the
 * caller adds them). */
void pst_gen_opts_from_config(pst_gen_opts *o, const pst_config *cfg);

/* One prompt's output: the new tokens (EOS included when it ended the text), its score (beam:
 * the length-penalised sum of log probabilities, as HF's sequences_scores; otherwise the sum
 * of the chosen tokens' model log probabilities), and why it stopped. */
typedef enum { PST_GEN_EOS, PST_GEN_LENGTH, PST_GEN_STOP } pst_gen_end;
typedef struct {
  int32_t *ids; /* malloc'd; free with pst_gen_out_free */
  int n;
  double score;
  pst_gen_end end;
} pst_gen_out;

/* Generate for prompts[i] (lens[i] >= 1 ids each), i < n, into out[n]. The model must be a
 * decoder; pst_generate enters and leaves decoding itself (model.h), so the model is back in
 * its training state afterwards. tok is needed for stop strings only (else may be NULL).
 * progress (may be NULL) is called after each batch with the number of prompts done. */
pst_err pst_generate(pst_model *m, const int32_t *const *prompts, const int *lens, int n, const pst_gen_opts *o,
                     const pst_tokenizer *tok, void (*progress)(void *ctx, int done, int total), void *ctx,
                     pst_gen_out *out);
void pst_gen_out_free(pst_gen_out *out, int n);

/* Check the options against the model's vocabulary (error names the option). */
pst_err pst_gen_opts_check(const pst_gen_opts *o, int vocab);

/* ---- the logits processors (logits.c), on one row of V scores, exposed for tests ---- */
/* logp[V] = log_softmax(logits[V]) (torch's formula: x - max - log sum exp(x - max)). */
void pst_log_softmax(float *logp, const float *logits, int V);
/* Ban (set -inf) every token that would repeat an n-gram of seq[0..len) (HF NoRepeatNGram). */
void pst_ban_repeat_ngrams(float *scores, const int32_t *seq, int len, int n);
/* Sampling warpers in HF order: divide by temperature, keep the top_k scores (ties with the
 * k-th kept), keep the smallest set of top tokens whose probability exceeds top_p (at least
 * one); removed tokens get -inf. */
void pst_warp_logits(float *scores, int V, double temperature, int top_k, double top_p);
/* Index drawn from softmax(scores[V]) with the uniform u in [0, 1). */
int pst_sample_index(const float *scores, int V, double u);

#endif
