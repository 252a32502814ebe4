/* hfmodel.h — Hugging Face model directories: config.json into the run config, and
 * model.safetensors (or shards listed by model.safetensors.index.json) into a pst model.
 *
 * Supported checkpoints (model_type in config.json, else architectures[0]):
 *   bert                          names "bert.embeddings...", or the same without "bert."
 *                                 (sentence-transformers); head: pooler.dense -> pool.*,
 *                                 classifier -> cls.*
 *   roberta, xlm-roberta, camembert   "roberta." names or none; head: classifier.dense -> pool.*
 *                                 (else roberta.pooler.dense), classifier.out_proj -> cls.*
 *   gpt2                          "transformer." names or none; Conv1D weights [in, out] are
 *                                 transposed and c_attn [H, 3H] is split into q, k, v
 *   llama, mistral, qwen2         "model." names or none (LlamaForCausalLM, MistralForCausalLM,
 *                                 Qwen2ForCausalLM); q/k/v/o_proj, gate/up/down_proj as is;
 *                                 lm_head.weight -> head.w when tie_word_embeddings is false
 *                                 (else the token embedding is the head and a saved lm_head is
 *                                 ignored); config: num_key_value_heads, rms_norm_eps,
 *                                 rope_theta, rope_scaling (default, linear, llama3),
 *                                 attention_bias (Qwen2: q/k/v biases), mlp_bias; sliding_window
 *                                 (Mistral v0.1, Qwen2 use_sliding_window) caps max_positions
 * Weights may be F32, F16, BF16 or F64 in the file; they are converted to fp32.
 *
 * Positions: RoBERTa numbers real tokens from pad_token_id + 1 (= 2). pst_hf_read_config
 * sets model.position_offset to that (0 for BERT and GPT-2) and max_positions to the full
 * max_position_embeddings (514); the loader copies the whole position table into emb.pos and
 * the model adds the offset (pass.c). pst batches are right-padded, so real token t gets
 * position t + offset, exactly as HF's create_position_ids_from_input_ids.
 * A model created with fewer positions than the checkpoint gets the first rows only. */
#ifndef PST_HFMODEL_H
#define PST_HFMODEL_H

#include "pst/config.h"
#include "pst/core.h"
#include "pst/model.h"
#include "pst/params.h"

/* Fill the model.* keys of cfg from DIR/config.json: arch (bert|gpt2), hidden, layers,
 * heads, ffn, vocab, max_positions, position_offset, type_vocab (bert), ln_eps, activation.
 * num_labels and the other sections are left to the caller. hidden_act / activation_function:
 *   gelu, gelu_python -> gelu_erf;  gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_accurate ->
 *   gelu_tanh (the same tanh formula);
 * anything else (relu, silu, quick_gelu, ...) is an error naming the key and value. Keys
 * that change the architecture in ways pst does not implement (position_embedding_type other
 * than absolute, add_cross_attention, scale_attn_weights = false, untied GPT-2 head, ...)
 * are errors. Errors name DIR/config.json and the key; cfg is unchanged on error.
 * position_offset (may be NULL) also receives model.position_offset. */
pst_err pst_hf_read_config(const char *dir, pst_config *cfg, int *position_offset);

/* Number of labels of a fine-tuned checkpoint: len(id2label), else "num_labels", else 0. */
pst_err pst_hf_read_num_labels(const char *dir, int *num_labels);

#define PST_HF_MAX_FILES 64

/* What pst_hf_load_weights_report read and did. */
typedef struct {
  char model_type[32];     /* config.json model_type (or the one inferred from architectures) */
  char prefix[32];         /* tensor-name prefix found: "bert.", "roberta.", "transformer." or "" */
  int position_offset;     /* position id of the first token (see the top of this file) */
  int nfiles;              /* files read, in order: config.json, [index,] safetensors files */
  char files[PST_HF_MAX_FILES][256]; /* names relative to DIR (the first PST_HF_MAX_FILES) */
  int loaded;              /* pst tensors written */
  long long params_loaded; /* floats written */
  int ignored;             /* checkpoint tensors pst does not use (listed at log level 2) */
  int pool_loaded, cls_loaded; /* the bert head came from the checkpoint */
} pst_hf_report;

/* Load DIR's weights into m, which must have been created from the config that
 * pst_hf_read_config gave for DIR (any pst.method; num_labels free). Every tensor that the
 * checkpoint provides is written through the pst tables (pst_model_frozen/trainables); PST
 * trainables (U, V, A, B, R, C, S) are left as created. pool.* / cls.* keep their current
 * values when the checkpoint has no pooler / classifier (log level 2), and cls.* also when
 * its classifier has a different number of labels (log level 1); with model.train_head =
 * false such a head is zero unless pst_model_init_random ran first. A missing or mis-shaped
 * required tensor is an error naming the HF tensor, the file and both shapes; checkpoint
 * tensors pst does not use are ignored (one log line each at level 2). */
pst_err pst_hf_load_weights(const char *dir, pst_model *m);
/* The same, filling *report (may be NULL). */
pst_err pst_hf_load_weights_report(const char *dir, pst_model *m, pst_hf_report *report);
/* The code path of both: load DIR's weights into the tensors of tables tabs[0..ntabs) (the
 * model's are frozen, trainables; any tables named as model.c names its tensors will do).
 * Tensor-parallel shards (pst_tensor_info.shard_dim >= 0: rows or columns of a global tensor
 * gshape) receive only their slice, read straight from the file: the checkpoint's shapes are
 * checked against the GLOBAL shapes, and no global-size temporary is allocated. Supported
 * shards: any of a copied or transposed tensor (BERT, GPT-2 Conv1D), rows of GPT-2's q/k/v
 * weights and biases (column ranges of c_attn) and rows of the position table; other
 * combinations, or a shard outside its global shape, are PST_ERR_ARG. */
pst_err pst_hf_load_params(const char *dir, pst_params *const *tabs, int ntabs, pst_hf_report *report);


/* How a pst tensor sits in a Hugging Face checkpoint (the one name table, used to load and to
 * export): as is; transposed (GPT-2 Conv1D [in, out]); rows part*H.. of c_attn's columns
 * (GPT-2 q/k/v weight: the transposed third) or its bias third; the first rows of a table. */
typedef enum { PST_HF_COPY, PST_HF_TRANSPOSE, PST_HF_QKV_WEIGHT, PST_HF_QKV_BIAS, PST_HF_ROWS } pst_hf_xform;
typedef struct {
  char name[192];
  pst_hf_xform x;
  int part;  /* q/k/v: 0, 1, 2 */
} pst_hf_name;
/* The HF tensor holding pst tensor `name` for a checkpoint of `family` whose names start with
 * prefix ("transformer.", "roberta.", "bert.", "model."; lm_head.weight of the LLaMA family has
 * no prefix); 0 for pst-only tensors (U, V, ...). */
typedef enum { PST_HF_BERT, PST_HF_ROBERTA, PST_HF_GPT2, PST_HF_LLAMA } pst_hf_family;
int pst_hf_name_of(pst_hf_family family, const char *prefix, const char *name, pst_hf_name *out);

#endif
