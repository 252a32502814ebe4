/* export.h — what can be done with a finished checkpoint (checkpoint.h) outside training:
 * inspect it (run state, per-layer sparsity, sizes, a full checksum pass), rebuild the model
 * it was trained from, and export it as a Hugging Face directory or as a compact CSR file.
 *
 * Rebuilding (pst_ckpt_load_model) follows src/train/run.c: the config is /meta/config; the
 * frozen weights are random from train.seed, then model.hf_dir, then model.weights, as that
 * config says; the trainables come from /trainable (read with pst_ckpt_read, which checks
 * every dataset); the masks are recomputed for the checkpoint's sparsity. Relative paths in
 * the stored config were relative to the training config's directory, which the checkpoint
 * does not record: the base file is looked for at the checkpoint's base_model attribute (the
 * path the run resolved), then at the config's path as given (relative to the current
 * directory); pst_base_opts overrides both.
 *
 * HF export (pst_export_hf) writes DIR/config.json, DIR/model.safetensors (F32, HF names)
 * and the tokenizer files of the base directory (or of data.tokenizer):
 *   bert       BertForSequenceClassification: bert.embeddings.*, bert.encoder.layer.{l}.*,
 *              bert.pooler.dense.* (= pool), classifier.* (= cls)
 *   roberta    (model.position_offset > 0, pad_token_id = offset - 1)
 *              RobertaForSequenceClassification: roberta.embeddings.*, roberta.encoder.*,
 *              classifier.dense.* (= pool), classifier.out_proj.* (= cls)
 *   gpt2       GPT2LMHeadModel: transformer.{wte, wpe, h.{l}.*, ln_f}; Conv1D weights [in, out]
 *              (the transpose of pst's [out, in]); c_attn.weight [H, 3H] = [q; k; v]^T and
 *              c_attn.bias = [q.b, k.b, v.b]; lm_head tied to wte (not stored)
 * Every sparsified linear is stored merged and masked, M ⊙ (W0 + beta U V) (dense where the
 * method has no mask), zeros included. The directory is written under DIR.tmp.<pid> and
 * renamed into place.
 *
 * CSR export (pst_export_csr) writes an HDF5 file (format "pst-sparse-model", version 1):
 *   root attributes  format, version, step, sparsity, base_model, base_sha256, config (the
 *                    resolved INI text of /meta/config)
 *   /sparse/<layer>/rowptr int64 [m+1], col int32 [nnz], val f32 [nnz] (copied from the
 *                    checkpoint; attributes nnz and shape [m, n] = out x in), bias f32 [m]
 * chunked with Fletcher32, written to OUT.tmp.<pid> and renamed.
 *
 * Sparse inference export (pst_export_sparse) writes a safetensors file (format
 * "pst-sparse-inference", version 1, in __metadata__ with step, sparsity, base_model and the
 * run's config text) that runs without the base model or the checkpoint:
 *   <layer>.rowptr I64 [m+1], <layer>.col U16 [nnz], <layer>.val F32 [nnz]   each masked
 *                    linear's M ⊙ W' [m, n] (out x in) as CSR (n <= 65536), rows in order,
 *                    columns ascending; exact zeros of W' inside the mask are dropped
 *   <layer>.w F32 [m, n]   a linear without a mask (dense, lora): its effective weight
 *   every other tensor of the model (embeddings, norms, biases, head) F32 under its pst name
 * ordered I64, F32, U16 so that every array is aligned in the mapping. */
#ifndef PST_EXPORT_H
#define PST_EXPORT_H

#include "pst/checkpoint.h"
#include "pst/config.h"
#include "pst/core.h"
#include "pst/model.h"

/* ---- inspection ---- */

typedef struct {
  char name[96];       /* blk.{l}.{q,k,v,o,fc1,fc2} */
  int rows, cols;      /* global shape (out x in) */
  long nnz;            /* the nnz attribute (-1 if unreadable) */
} pst_ckpt_layer;

typedef struct {
  char name[160];      /* full path, "/trainable/blk.0.q.U" */
  long long bytes;     /* in memory (elements x type size) */
  long long stored;    /* on disk (chunks, after filters) */
  int ok;              /* read back completely (every chunk's Fletcher32 verified) and its
                          content checksum (xsum, recomputed) equal to the stored one */
  uint64_t xsum;       /* the content checksum recomputed from what was read */
} pst_ckpt_dataset;

typedef struct {
  pst_ckpt_meta meta;  /* config_text / results_json may be NULL when unreadable */
  int meta_ok;         /* every root attribute was read */
  long long file_bytes;
  int nlayers;
  pst_ckpt_layer *layers;     /* in model order (layer, then q k v o fc1 fc2) */
  int ndatasets;
  pst_ckpt_dataset *datasets; /* in file order (groups, then names) */
} pst_ckpt_info;

/* Open path and read every dataset of it fully (HDF5 checks each chunk's Fletcher32 on read);
 * a dataset that fails is recorded with ok = 0 (not an error). Errors: the file is missing,
 * not HDF5 or truncated (PST_ERR_IO), or not a pst checkpoint (PST_ERR_FORMAT), or its
 * structure cannot be walked (PST_ERR_FORMAT). */
pst_err pst_ckpt_inspect(const char *path, pst_ckpt_info *info);
void pst_ckpt_info_free(pst_ckpt_info *info);

/* ---- rebuilding the trained model ---- */

typedef struct {
  const char *hf_dir;   /* the base Hugging Face directory (NULL: from the checkpoint) */
  const char *weights;  /* the base safetensors file (NULL: from the checkpoint) */
  const char *gguf;     /* the base GGUF file (NULL: from the checkpoint) */
} pst_base_opts;

/* Build the model of checkpoint path for micro-batches B x T (T + position_offset <=
 * max_positions), load its base and trainables, recompute its masks. *cfg receives the
 * checkpoint's config, *meta its run state (caller frees with pst_ckpt_meta_free). A base file
 * whose SHA-256 differs from base_sha256 is a warning (log level 1). opts may be NULL. */
pst_err pst_ckpt_load_model(const char *path, const pst_base_opts *opts, int B, int T, pst_model **model,
                            pst_config *cfg, pst_ckpt_meta *meta);

/* ---- export ---- */

typedef struct {
  pst_base_opts base;
  int force;            /* replace an existing non-empty output */
} pst_export_opts;

/* Hugging Face directory (see the top of this file). An existing non-empty dir is an error
 * unless force. */
pst_err pst_export_hf(const char *ckpt, const char *dir, const pst_export_opts *opts);
/* Compact CSR HDF5 file (see the top of this file). An existing out is an error unless force. */
pst_err pst_export_csr(const char *ckpt, const char *out, const pst_export_opts *opts);
/* Sparse inference file (see the top of this file; src/io/sparse_model.c). An existing out is
 * an error unless force. */
pst_err pst_export_sparse(const char *ckpt, const char *out, const pst_export_opts *opts);
/* A model for inference from a sparse inference file: its stored config with key=value
 * overrides (generate.*, eval.*), activations for B x T, every tensor read, each masked linear
 * on the file's mapped CSR (checked once here: shapes, row pointers, column range; errors name
 * the file and tensor). The model runs forward passes and decoding only. */
pst_err pst_sparse_model_load(const char *path, const char *const *overrides, int noverrides, int B, int T,
                              pst_model **model, pst_config *cfg);
/* A config stored as INI text (a checkpoint's /meta/config, a sparse file's metadata), finalized;
 * relative paths stay relative to the current directory. Errors name `what`. */
pst_err pst_config_from_stored(const char *text, pst_config *cfg, const char *what);

#endif
