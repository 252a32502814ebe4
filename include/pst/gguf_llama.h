/* gguf_llama.h — LLaMA-family GGUF files (general.architecture "llama" or "qwen2") as pst
 * models: the run config, the weights (dequantized to fp32, tensor-parallel slices read
 * straight from the file) and the tokenizer metadata.
 *
 * Tensor names, GGUF -> pst (shapes in PyTorch order; ggml's ne is the reverse):
 *   token_embd.weight          emb.tok    [V, C]
 *   output_norm.weight         lnf.w      [C]
 *   output.weight              head.w     [V, C]   (absent: the head is tied to emb.tok)
 *   blk.N.attn_norm.weight     blk.N.ln1.w [C]       blk.N.ffn_norm.weight  blk.N.ln2.w [C]
 *   blk.N.attn_q.weight        blk.N.q.w  [NH*hd, C]  blk.N.attn_k.weight   blk.N.k.w [KV*hd, C]
 *   blk.N.attn_v.weight        blk.N.v.w  [KV*hd, C]  blk.N.attn_output.weight blk.N.o.w [C, NH*hd]
 *   blk.N.ffn_gate.weight      blk.N.gate.w [F, C]    blk.N.ffn_up.weight   blk.N.up.w [F, C]
 *   blk.N.ffn_down.weight      blk.N.down.w [C, F]
 *   "<gguf>.bias" -> "<pst>.b" for q, k, v, o, gate, up, down.
 *
 * The q/k permutation: llama.cpp's convert_hf_to_gguf.py (LlamaModel.modify_tensors) stores
 * the q and k weights and biases of "llama" files with the rows of each head reordered by
 *   permute(w, n_head) = w.reshape(n_head, 2, hd/2, ...).swapaxes(1, 2).reshape(w.shape)
 * (n_head = head_count for q, head_count_kv for k): within head h, GGUF row h*hd + 2i + j holds
 * Hugging Face row h*hd + j*hd/2 + i (i < hd/2, j in {0, 1}), i.e. the rotary pairs (i, i+hd/2)
 * of the "rotate_half" convention become adjacent (ggml's interleaved rope). pst uses the
 * Hugging Face order, so the loader undoes it row by row: any row range (a tensor-parallel
 * shard of whole heads or not) is read without touching other rows. "qwen2" files are NOT
 * permuted: Qwen2Model in convert_hf_to_gguf.py derives from TextModel, not LlamaModel, and its
 * modify_tensors only renames (llama.cpp runs qwen2 with the NEOX rope, which pairs (i, i+hd/2)
 * as Hugging Face does).
 *
 * Metadata read (P = the architecture): P.block_count, P.embedding_length,
 * P.feed_forward_length, P.attention.head_count, P.attention.head_count_kv (default
 * head_count), P.context_length, P.attention.layer_norm_rms_epsilon, P.rope.freq_base (default
 * 10000), P.rope.scaling.type (none | linear; others refused) and P.rope.scaling.factor (or the
 * older P.rope.scale_linear), checked when present: P.vocab_size, P.attention.key_length /
 * value_length and P.rope.dimension_count (must equal the head dim), P.expert_count (must be
 * 0). Files pst cannot run as their config says (mixture of experts, partial rotary, a
 * rope_freqs.weight tensor = llama3 rope scaling, per-layer head counts) are refused with the
 * file, the key or tensor, and the value. */
#ifndef PST_GGUF_LLAMA_H
#define PST_GGUF_LLAMA_H

#include <stdint.h>

#include "pst/config.h"
#include "pst/core.h"
#include "pst/gguf.h"
#include "pst/model.h"
#include "pst/params.h"

/* What a LLaMA-family GGUF file describes. */
typedef struct {
  char arch[16];       /* general.architecture: "llama" or "qwen2" */
  int layers, hidden, heads, kv_heads, head_dim, ffn, vocab, max_positions;
  float ln_eps, rope_theta, rope_factor; /* as stored (f32); rope_factor 1 unless linear */
  char rope_scaling[8]; /* "none" or "linear" */
  int tie_embeddings;   /* no output.weight: the head is emb.tok */
  int qkv_bias, o_bias, mlp_bias; /* blk.0.attn_q.bias / attn_output.bias / ffn_gate.bias exist */
  int permuted_qk;      /* q/k rows permuted by the converter (llama: 1, qwen2: 0) */
} pst_gguf_llama;

/* Read and check the model description of an open file; errors name the file and the key. */
pst_err pst_gguf_llama_read(const pst_gguf *g, pst_gguf_llama *out);
/* Set cfg's model.* keys through pst_config_set: arch=llama, hidden, layers, heads, kv_heads,
 * ffn, vocab, max_positions, ln_eps, rope_theta, rope_scaling, rope_factor, tie_embeddings,
 * qkv_bias, o_bias, mlp_bias (floats as the shortest decimal that rounds to the stored f32,
 * e.g. 1e-05). cfg is unchanged on error. */
pst_err pst_gguf_llama_to_config(const pst_gguf_llama *m, pst_config *cfg);
/* Both, from a path. */
pst_err pst_gguf_read_config(const char *path, pst_config *cfg);

/* The GGUF tensor holding pst tensor `name` of model m: *permute_heads = number of heads whose
 * rows are permuted (0: none). 0 for pst tensors no GGUF file holds (PST trainables U V A B
 * R C S, pool/cls, ...). out needs PST_GGUF_MAX_NAME bytes. */
int pst_gguf_llama_name_of(const pst_gguf_llama *m, const char *name, char *out, int *permute_heads);
/* 1 if key is metadata pst reads for architecture arch (general.architecture,
 * general.alignment, the keys above, the tokenizer keys of pst_gguf_tokenizer). */
int pst_gguf_llama_key_used(const char *arch, const char *key);

/* What pst_gguf_load_params read. */
typedef struct {
  pst_gguf_llama model;
  int loaded;               /* pst tensors written */
  long long params_loaded;  /* floats written */
  int ignored;              /* GGUF tensors pst does not use (listed at log level 2) */
} pst_gguf_report;

/* Load the tensors of tables tabs[0..ntabs) (named as the pst model names them) from the GGUF
 * file at path. Tensor-parallel shards (pst_tensor_info.shard_dim 0: rows, 1: columns of the
 * global tensor gshape) receive only their slice, dequantized straight from the file (no
 * global-size temporary); q/k rows are un-permuted (llama). Shapes are checked against the
 * GLOBAL shapes: a mismatch is an error naming the file, the GGUF tensor, both shapes and the
 * pst tensor. pst tensors without a GGUF source are skipped; a required one missing in the file
 * is an error. The tables must describe the file's depth (blk.N.q.w for N < block_count only).
 * report may be NULL. */
pst_err pst_gguf_load_params(const char *path, pst_params *const *tabs, int ntabs, pst_gguf_report *report);
/* The same on an open file. */
pst_err pst_gguf_load_params_from(const pst_gguf *g, pst_params *const *tabs, int ntabs, pst_gguf_report *report);
/* Load into model m (created from the config pst_gguf_read_config gave for path; any
 * pst.method, any tp layout): its frozen and trainable tables; PST trainables stay as created. */
pst_err pst_gguf_load_weights(const char *path, pst_model *m, pst_gguf_report *report);

/* The tokenizer metadata (tokenizer.ggml.*) as plain C arrays; no tokenization here.
 * Absent optional entries are NULL / 0 / -1. */
typedef struct {
  char model[32];     /* tokenizer.ggml.model: "gpt2" (byte-level BPE), "llama" (SentencePiece), ... */
  char pre[64];       /* tokenizer.ggml.pre (pre-tokenizer name), "" if absent */
  int ntokens;
  char **tokens;      /* [ntokens] NUL-terminated UTF-8 (a token holding a NUL byte is refused) */
  int32_t *token_type; /* [ntokens] tokenizer.ggml.token_type or NULL */
  float *scores;      /* [ntokens] tokenizer.ggml.scores or NULL */
  int nmerges;
  char **merges;      /* [nmerges] "left right" or NULL */
  int bos_id, eos_id, unk_id, pad_id; /* tokenizer.ggml.*_token_id, -1 if absent */
  int add_bos, add_eos;               /* tokenizer.ggml.add_bos_token / add_eos_token: 0, 1, -1 absent */
  char *arena_;       /* owns the strings (internal) */
} pst_gguf_tokenizer;

/* Read and validate: tokens present, count == vocab (vocab <= 0: not checked), token_type and
 * scores of the same count, ids in [0, ntokens). Errors name the file and the key. On error
 * *tok is empty. Free with pst_gguf_tokenizer_free (also fine on an empty struct). */
pst_err pst_gguf_tokenizer_read(const pst_gguf *g, int vocab, pst_gguf_tokenizer *tok);
/* From a path; vocab = the model's (pst_gguf_llama_read) when the architecture is supported. */
pst_err pst_gguf_read_tokenizer(const char *path, pst_gguf_tokenizer *tok);
void pst_gguf_tokenizer_free(pst_gguf_tokenizer *tok);

/* The GGUF file's tokenizer as a pst tokenizer (src/io/gguf_tokbuild.c): byte-level BPE
 * (tokenizer.ggml.model gpt2, pre-tokenizer from tokenizer.ggml.pre) or SentencePiece-style BPE
 * (llama); token count checked against vocab (<= 0: not checked). */
struct pst_tokenizer;
pst_err pst_gguf_tokenizer_build(const char *path, int vocab, struct pst_tokenizer **out);

#endif
