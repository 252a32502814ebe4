/* modelsrc.c — a config's model dimensions, tokenizer and frozen weights (modelsrc.h). */
#include "pst/modelsrc.h"

#include "pst/gguf_llama.h"
#include "pst/hfmodel.h"

pst_err pst_source_config(pst_config *cfg) {
  char path[PST_PATH_MAX + 64];
  if (cfg->hf_dir[0] && cfg->gguf[0])
    PST_ERR(PST_ERR_CONFIG, "model.hf_dir and model.gguf are both set: choose one model source");
  if (cfg->hf_dir[0]) {
    pst_config_path(cfg, cfg->hf_dir, path, sizeof path);
    PST_CHECK(pst_hf_read_config(path, cfg, NULL));
  }
  if (cfg->gguf[0]) {
    pst_config_path(cfg, cfg->gguf, path, sizeof path);
    PST_CHECK(pst_gguf_read_config(path, cfg));
  }
  return PST_OK;
}

pst_err pst_source_tokenizer(const pst_config *cfg, int needed, pst_tokenizer **tok) {
  char path[PST_PATH_MAX + 64];
  *tok = NULL;
  const char *dir = cfg->tokenizer[0] ? cfg->tokenizer : cfg->hf_dir;
  if (!dir[0] && cfg->gguf[0]) {
    pst_config_path(cfg, cfg->gguf, path, sizeof path); /* the tokenizer in the GGUF metadata */
    return pst_gguf_tokenizer_build(path, cfg->vocab, tok);
  }
  if (!dir[0]) {
    if (needed) PST_ERR(PST_ERR_CONFIG, "no tokenizer: set data.tokenizer, model.hf_dir or model.gguf");
    return PST_OK;
  }
  pst_config_path(cfg, dir, path, sizeof path);
  PST_CHECK(pst_tokenizer_load_dir(tok, path));
  if (pst_tokenizer_vocab_size(*tok) > cfg->vocab) {
    const int n = pst_tokenizer_vocab_size(*tok);
    pst_tokenizer_free(*tok);
    *tok = NULL;
    PST_ERR(PST_ERR_CONFIG, "the tokenizer in %s has %d ids but model.vocab is %d", path, n, cfg->vocab);
  }
  return PST_OK;
}

pst_err pst_source_weights(const pst_config *cfg, pst_model *m) {
  char path[PST_PATH_MAX + 64];
  pst_model_init_random(m, cfg->seed);
  if (cfg->hf_dir[0]) {
    pst_config_path(cfg, cfg->hf_dir, path, sizeof path);
    PST_CHECK(pst_hf_load_weights(path, m));
  }
  if (cfg->gguf[0]) { /* dequantized to fp32; this rank's tp slice only */
    pst_config_path(cfg, cfg->gguf, path, sizeof path);
    PST_CHECK(pst_gguf_load_weights(path, m, NULL));
  }
  if (cfg->weights[0]) {
    pst_config_path(cfg, cfg->weights, path, sizeof path);
    PST_CHECK(pst_model_load(m, path));
  }
  return PST_OK;
}
