/* prep.h — `pst prep`: a data set tokenized once into an HDF5 file that training reads.
 *
 * Layout (HDF5, read with h5py as f["train/ids"] etc.):
 *   /            attrs: format "pst-prep", version "1", tokenizer (identity string),
 *                       seq_len, task, data_format, glue_task
 *   /train, /dev groups, attrs: source (path), source_sha256, num_labels, label_names
 *                       ('\n'-joined), examples
 *     ids      int32 [total tokens]   all examples' token ids, concatenated
 *     types    int32 [total tokens]   token types, same layout
 *     offsets  int64 [examples + 1]   example i is ids[offsets[i] : offsets[i+1]]
 *     labels   int32 [examples]       (classify) or labels_f float32 [examples] (regress)
 *     predict  uint8 [total tokens]   (lm on text pairs) 1 where a token is a training target
 * Written to "<path>.tmp" and renamed, so a failed prep never leaves a partial file. */
#ifndef PST_PREP_H
#define PST_PREP_H

#include "pst/config.h"
#include "pst/dataload.h"

/* Tokenize data.train (and data.dev if set) per cfg and write them to out_path. */
pst_err pst_prep_write(const pst_config *cfg, const char *out_path);
/* Read group `split` ("train" or "dev") of a prep file; checks format, seq_len against cfg
 * and, when tok_identity is not NULL, the tokenizer the file was made with. */
pst_err pst_prep_read(pst_split *s, const char *path, const char *split, const pst_config *cfg,
                      const char *tok_identity);

#endif
