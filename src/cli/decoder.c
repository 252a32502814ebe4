/* decoder.c — the model that `pst generate` and `pst eval` decode with, from one of:
 *   -c CONFIG.ini [key=value ...]  the config's base model (model.hf_dir / gguf / weights),
 *                                  untrained (zero-shot) unless model.weights holds trainables
 *   --ckpt CKPT.h5                 a training checkpoint: base + trainables, masks recomputed
 *   --run RUN_DIR                  the run's best checkpoint (results.json), else its newest
 *   --sparse FILE                  a sparse inference file (pst export --format sparse): the
 *                                  masked linears stay CSR in the file's mapping
 * plus the tokenizer of its config (NULL when it names none). For a checkpoint, key=value may only set [generate] and
 * [eval] keys (the model is the trained one). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/checkpoint.h"
#include "pst/cli.h"
#include "pst/export.h"
#include "pst/modelsrc.h"

/* The checkpoint of a run directory: results.json's best step when that checkpoint is kept,
 * else the newest one. */
static pst_err run_checkpoint(const char *run, char *out, size_t n) {
  char dir[PST_PATH_MAX + 16], path[PST_PATH_MAX + 32];
  snprintf(dir, sizeof dir, "%s/checkpoints", run);
  long steps[64];
  const int k = pst_ckpt_list(dir, steps, 64);
  if (k <= 0) PST_ERR(PST_ERR_IO, "%s: no checkpoint in %s (the run writes them at its end and every ckpt.every steps)", run, dir);
  snprintf(path, sizeof path, "%s/results.json", run);
  json_t *r = json_load_file(path, 0, NULL);
  long best = json_integer_value(json_object_get(json_object_get(r, "best"), "step"));
  json_decref(r);
  long pick = steps[0];
  for (int i = 0; i < k; i++)
    if (best > 0 && steps[i] == best) pick = best;
  pst_ckpt_path(out, n, dir, pick);
  pst_log(1, "pst: %s: using %s (%s)\n", run, out,
          pick == best ? "the best evaluation at the target sparsity" : "the newest checkpoint");
  return PST_OK;
}

/* Apply key=value overrides; for checkpoints only [generate] and [eval] keys. */
static pst_err apply_overrides(pst_config *cfg, const pst_decoder_src *s, int ckpt) {
  for (int i = 0; i < s->noverrides; i++) {
    const char *a = s->overrides[i];
    if (ckpt && strncmp(a, "generate.", 9) && strncmp(a, "eval.", 5))
      PST_ERR(PST_ERR_CONFIG, "'%s': with a checkpoint only generate.* and eval.* keys can be set (the model is the trained one)", a);
    PST_CHECK(pst_config_set(cfg, a));
  }
  return PST_OK;
}

pst_err pst_decoder_open(const pst_decoder_src *s, pst_config *cfg, pst_model **m, pst_tokenizer **tok) {
  *m = NULL;
  *tok = NULL;
  const int nsrc = !!s->config + !!s->ckpt + !!s->run + !!s->sparse;
  if (nsrc != 1)
    PST_ERR(PST_ERR_ARG, "give exactly one model: -c CONFIG.ini, --ckpt CKPT.h5, --run RUN_DIR or --sparse FILE");
  pst_err rc;
  if (s->sparse) {
    for (int i = 0; i < s->noverrides; i++)
      if (strncmp(s->overrides[i], "generate.", 9) && strncmp(s->overrides[i], "eval.", 5))
        PST_ERR(PST_ERR_CONFIG, "'%s': with a sparse file only generate.* and eval.* keys can be set", s->overrides[i]);
    rc = pst_sparse_model_load(s->sparse, s->overrides, s->noverrides, 1, 1, m, cfg);
    if (!rc) { /* where the tokenizer is when the stored paths do not resolve here */
      if (s->tokenizer) snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", s->tokenizer);
      if (s->base.gguf) snprintf(cfg->gguf, sizeof cfg->gguf, "%s", s->base.gguf);
      if (s->base.hf_dir) snprintf(cfg->hf_dir, sizeof cfg->hf_dir, "%s", s->base.hf_dir);
    }
  } else if (s->config) {
    pst_config_defaults(cfg);
    PST_CHECK(pst_config_load(cfg, s->config));
    PST_CHECK(apply_overrides(cfg, s, 0));
    if (s->tokenizer) snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", s->tokenizer);
    PST_CHECK(pst_source_config(cfg));
    if (!strcmp(cfg->arch, "gpt2") || !strcmp(cfg->arch, "llama")) strcpy(cfg->task, "lm");
    if (cfg->seq_len + cfg->position_offset > cfg->max_positions) /* a training length: unused here */
      cfg->seq_len = cfg->max_positions - cfg->position_offset;
    PST_CHECK(pst_config_finalize(cfg));
    PST_CHECK(pst_model_create(m, cfg, 1, 1, NULL));
    rc = pst_source_weights(cfg, *m);
  } else {
    char path[PST_PATH_MAX + 32];
    if (s->run) PST_CHECK(run_checkpoint(s->run, path, sizeof path));
    else snprintf(path, sizeof path, "%s", s->ckpt);
    pst_ckpt_meta meta;
    PST_CHECK(pst_ckpt_load_model(path, &s->base, 1, 1, m, cfg, &meta));
    pst_log(1, "pst: %s: step %ld, sparsity %.4f\n", path, meta.step, meta.sparsity);
    /* the stored config's relative paths were relative to the run's config file: the tokenizer
     * of a GGUF or HF base comes from where the checkpoint found that base */
    const int base_file = strncmp(meta.base_model, "random", 6) != 0;
    if (cfg->gguf[0] && (s->base.gguf || base_file))
      snprintf(cfg->gguf, sizeof cfg->gguf, "%.*s", (int)sizeof cfg->gguf - 1, s->base.gguf ? s->base.gguf : meta.base_model);
    if (cfg->hf_dir[0] && s->base.hf_dir) snprintf(cfg->hf_dir, sizeof cfg->hf_dir, "%s", s->base.hf_dir);
    else if (cfg->hf_dir[0] && base_file && !cfg->weights[0]) {
      char *slash = strrchr(meta.base_model, '/');
      if (slash) snprintf(cfg->hf_dir, sizeof cfg->hf_dir, "%.*s", (int)(slash - meta.base_model), meta.base_model);
    }
    if (s->tokenizer) snprintf(cfg->tokenizer, sizeof cfg->tokenizer, "%s", s->tokenizer);
    pst_ckpt_meta_free(&meta);
    rc = apply_overrides(cfg, s, 1);
    if (!rc) rc = pst_config_finalize(cfg);
    if (!rc) pst_model_set_sparse_mode(*m, cfg->eval_sparse); /* the model was built before the overrides */
  }
  if (!rc && strcmp(cfg->arch, "gpt2") && strcmp(cfg->arch, "llama")) {
    rc = PST_ERR_CONFIG;
    pst_err_set(rc, __FILE__, __LINE__, __func__, "model.arch = %s is not a decoder: generation needs gpt2 or llama",
                cfg->arch);
  }
  if (!rc) rc = pst_source_tokenizer(cfg, 0, tok); /* NULL without one: token ids in and out only */
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_model_destroy(*m);
    *m = NULL;
  }
  return rc;
}
