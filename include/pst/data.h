/* data.h — token-id data sets and batching (the pre-tokenized format of this release;
 * text readers and tokenizers come with the "real data" issue).
 *
 * File format, one example per line, ids separated by single spaces:
 *   classify:  <label int>\t<id> <id> ...
 *   regress:   <target float>\t<id> <id> ...
 *   lm:        <id> <id> ...
 * Blank lines and lines starting with '#' are skipped. Errors name file:line. */
#ifndef PST_DATA_H
#define PST_DATA_H

#include <stdint.h>

#include "pst/batch.h"
#include "pst/core.h"

typedef enum { PST_TASK_CLASSIFY, PST_TASK_REGRESS, PST_TASK_LM } pst_task;

typedef struct {
  long n;
  int32_t *label;     /* [n] classify */
  float *label_f;     /* [n] regress */
  long *start;        /* [n+1] offsets into ids */
  int32_t *ids;       /* all tokens */
  int32_t *types;     /* token types, same layout as ids, or NULL (all 0) */
  uint8_t *predict;   /* lm: 1 where a token is a training target, same layout, or NULL (all) */
} pst_dataset;

pst_err pst_task_parse(pst_task *task, const char *name);
/* Read path; ids must lie in [0, vocab), labels in [0, num_labels) for classify. */
pst_err pst_dataset_load(pst_dataset *d, const char *path, pst_task task, int vocab, int num_labels);
void pst_dataset_free(pst_dataset *d);

/* Batch buffers for B x T of the task (T_cap = T). */
pst_err pst_batch_alloc(pst_batch *b, int B, int T, pst_task task);
void pst_batch_free(pst_batch *b);
/* Tokens per sequence for the examples order[first .. first+rows) (those past count are
 * padding rows of one token): the longest, rounded up to a multiple of 8, at most T_cap. */
int pst_batch_longest(const pst_dataset *d, const long *order, long count, long first, long rows, int T_cap);
/* Fill b with examples order[first .. first+B) (indices past count are padding rows with an
 * all-zero attention mask except position 0, label 0, loss mask 0), truncating or
 * right-padding (id 0) to T tokens (sets b->T; T <= 0 or above b->T_cap means b->T_cap). Token types come from
 * d->types (0 when NULL). */
void pst_batch_fill(pst_batch *b, const pst_dataset *d, const long *order, long count, long first, int T,
                    pst_task task);
/* order[i] = a permutation of 0..n-1, shuffled by (seed, epoch) (Fisher-Yates on a counter RNG). */
void pst_shuffle(long *order, long n, uint64_t seed, long epoch);
/* Group a shuffled order by length (Hugging Face's LengthGroupedSampler): every run of
 * `mega` consecutive entries is sorted by example length, longest first (ties keep their
 * shuffled order), so the batches cut from it carry little padding yet stay random. */
pst_err pst_group_by_length(long *order, long n, const pst_dataset *d, long mega);

#endif
