/* dataload.h — one training/dev split as the run needs it: read per data.format (token-id
 * file, a GLUE task file, or a tsv/csv/jsonl table), tokenized with the run's tokenizer into a
 * pst_dataset of token ids and types (truncated to train.seq_len). */
#ifndef PST_DATALOAD_H
#define PST_DATALOAD_H

#include "pst/config.h"
#include "pst/data.h"
#include "pst/tokenizer.h"

typedef struct {
  pst_dataset ids;
  int num_labels;      /* classes (1 = regression, 0 = lm) */
  char **label_names;  /* [num_labels] or NULL (owned) */
  long skipped;        /* malformed rows skipped (data.bad_rows = skip) */
} pst_split;

/* Load `path` per cfg (format, glue_task, columns, bad_rows, task); tok may be NULL for
 * format = ids (and prep, which then skips its tokenizer check). split ("train" or "dev")
 * picks the group of a prep file. For classification tables the classes are sorted (HF
 * run_glue's order), so train and dev agree; pst_split_check_labels verifies it. */
pst_err pst_split_load(pst_split *s, const pst_config *cfg, const char *path, const pst_tokenizer *tok,
                       const char *split);
/* dev's classes must equal train's (same names, same order). */
pst_err pst_split_check_labels(const pst_split *train, const pst_split *dev, const char *dev_path);
void pst_split_free(pst_split *s);

#endif
