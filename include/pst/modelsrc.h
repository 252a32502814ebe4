/* modelsrc.h — where a config's model comes from (model.hf_dir, model.gguf, model.weights, or
 * random weights) and its tokenizer (data.tokenizer, the HF directory or the GGUF file):
 * one resolution shared by `pst train`, `pst generate` and `pst eval`. */
#ifndef PST_MODELSRC_H
#define PST_MODELSRC_H

#include "pst/config.h"
#include "pst/model.h"
#include "pst/tokenizer.h"

/* Fill the model dimensions from model.hf_dir's config.json or model.gguf's metadata (both
 * set is an error). */
pst_err pst_source_config(pst_config *cfg);
/* The tokenizer of the config: data.tokenizer, else model.hf_dir, else the GGUF's own; *tok =
 * NULL when none is configured and `needed` is 0 (needed = 1: that is an error). */
pst_err pst_source_tokenizer(const pst_config *cfg, int needed, pst_tokenizer **tok);
/* Frozen weights: random from train.seed, then model.hf_dir, model.gguf, model.weights. */
pst_err pst_source_weights(const pst_config *cfg, pst_model *m);

#endif
