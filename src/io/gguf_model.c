/* gguf_model.c — pst_gguf_load_weights: a GGUF file into a pst model's frozen and trainable
 * tables (gguf_llama.h). Kept apart from gguf_llama.c so that the reader and the mapping do not
 * depend on the model (the fuzz target links them alone). */
#include "pst/gguf_llama.h"

pst_err pst_gguf_load_weights(const char *path, pst_model *m, pst_gguf_report *report) {
  if (!m) PST_ERR(PST_ERR_ARG, "pst_gguf_load_weights: NULL model");
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  PST_CHECK(pst_gguf_load_params(path, tabs, 2, report));
  return PST_OK;
}
