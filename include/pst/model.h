/* model.h — BERT/RoBERTa encoder (post-LN, token types, pooler, classification or
 * regression head) and GPT-2 decoder (pre-LN, causal, final LN, LM head tied to the token
 * embedding), built from one transformer block whose six linears are sparsified layers.
 *
 * Tensor names (also the safetensors names of pst's own files):
 *   emb.tok [V,H], emb.pos [P,H], emb.type [TV,H] (bert), emb.ln.w/.b [H] (bert)
 *   blk.{i}.{q,k,v,o}.w [H,H], blk.{i}.fc1.w [F,H], blk.{i}.fc2.w [H,F], .b biases,
 *   blk.{i}.ln1.w/.b, blk.{i}.ln2.w/.b [H]; trainables blk.{i}.{lin}.{U,V,A,B,R,C,S}
 *   lnf.w/.b [H] (gpt2); pool.w [H,H], pool.b, cls.w [L,H], cls.b [L] (bert)
 * Activations are sized for one micro-batch shape (B, T) fixed at creation. */
#ifndef PST_MODEL_H
#define PST_MODEL_H

#include "pst/batch.h"
#include "pst/comm.h"
#include "pst/config.h"
#include "pst/core.h"
#include "pst/params.h"
#include "pst/sparse.h"

typedef struct pst_model pst_model;

/* tp: the tensor-parallel group (NULL = one process); heads and ffn must divide by its size.
 * Every rank of the group then holds its shards of the six linears (linear.h). */
pst_err pst_model_create(pst_model **out, const pst_config *cfg, int B, int T, const pst_group *tp);
void pst_model_destroy(pst_model *m);
/* Load tensors by name from a safetensors file: every frozen tensor and the pretrained
 * weights must be present (error names the first missing one); trainable tensors present
 * in the file override their initial values. */
pst_err pst_model_load(pst_model *m, const char *path);
/* Random frozen weights (N(0, init_std), LayerNorm w = 1, b = 0) for runs without a file. */
void pst_model_init_random(pst_model *m, uint64_t seed);
/* Recompute every layer's mask for sparsity s (after each optimizer step). */
pst_err pst_model_update_masks(pst_model *m, double sparsity);
/* Forward pass; *loss = mean loss of the batch (ids are range-checked here). */
pst_err pst_model_forward(pst_model *m, const pst_batch *batch, double *loss);
/* Backward pass of the last forward; trainable gradients accumulate scaled by dloss. */
pst_err pst_model_backward(pst_model *m, const pst_batch *batch, float dloss);

/* Inference weights (src/model/fold.c): each masked linear's M ⊙ W' becomes CSR for the sparse
 * kernels where eval.sparse says so (auto: its kept share is below the measured crossover for
 * products of `rows` tokens; on; off); with fold_dense the other linears get their M ⊙ W'
 * folded dense (decoding), without it they stay on the training path (evaluation: no dense
 * copy). Forward passes use them until unfold (forward only: no backward in between). */
pst_err pst_model_fold_weights(pst_model *m, int rows, int fold_dense);
void pst_model_unfold_weights(pst_model *m);
/* Set eval.sparse (auto | on | off) of a model built before the overrides were read. */
void pst_model_set_sparse_mode(pst_model *m, const char *mode);
/* How many linears currently run on sparse weights, of how many. */
void pst_model_sparse_share(const pst_model *m, long *sparse_layers, long *layers);
/* Inference-only models (a sparse file, export.h): linear i (pst_model_linear_name) runs on
 * the CSR `a` from now on, through every fold and unfold; its dense weight is never read (nor
 * touched: it costs no memory). a's arrays stay the caller's and must outlive the model; it is
 * checked (pst_csr_validate; errors name origin, e.g. the file, and the layer). One process only. */
pst_err pst_model_set_sparse(pst_model *m, int i, const pst_csr *a, const char *origin);
/* Release `handle` with `release` when the model is destroyed (a mapped file holding arrays
 * given to pst_model_set_sparse). */
void pst_model_hold(pst_model *m, void *handle, void (*release)(void *));

/* Decoding with a key/value cache (gpt2, llama; src/model/infer.c).
 * infer_begin folds every layer's mask and trainables into one effective weight M ⊙ W' (the
 * sparse model the run produced, sparse or dense per layer as pst_model_fold_weights; dense
 * keeps W0), releases the training activations and
 * allocates a cache of `rows` sequences x `max_len` positions and activations for passes of up
 * to `max_tokens` tokens over up to `rows` sequences. infer_end frees all that and restores
 * the training activations (trainables and masks are untouched throughout). */
pst_err pst_model_infer_begin(pst_model *m, int rows, int max_len, int max_tokens);
pst_err pst_model_infer_end(pst_model *m);
/* One decoding pass: B sequences of T new tokens each (ids [B*T], sequence-major; padding
 * after a sequence's real tokens is allowed, it only fills cache positions that later tokens
 * overwrite). Sequence b uses cache row slot[b], its tokens at positions pos[b]..pos[b]+T-1;
 * logits [B, V] receive the next-token logits after token last[b] (0 <= last[b] < T). */
pst_err pst_model_infer(pst_model *m, int B, int T, const int32_t *ids, const int32_t *slot, const int32_t *pos,
                        const int32_t *last, float *logits);
/* Cache rows 0..n-1 become the old rows src[0..n-1] (positions 0..len-1): beam reordering. */
void pst_model_cache_reorder(pst_model *m, const int32_t *src, int n, int len);
/* Vocabulary size and the largest position count of the model (decoders). */
int pst_model_vocab(const pst_model *m);
int pst_model_max_positions(const pst_model *m);

pst_params *pst_model_trainables(pst_model *m);
pst_params *pst_model_frozen(pst_model *m);
/* Output of the last block of the last forward, [B*T, hidden] (before any final LN/head). */
const float *pst_model_hidden(const pst_model *m);
/* BERT's pooler output of the last forward, tanh(pool(x_L[b, 0])) [B, hidden]; NULL for decoders. */
const float *pst_model_pooled(const pst_model *m);
/* Logits of the last forward: [B, num_labels] (bert) or [B*T, vocab] (gpt2); *n = count. */
const float *pst_model_logits(const pst_model *m, long *n);
/* Sparsified layers: count, and for layer i its name, mask (NULL if none), m, n, nnz. */
int pst_model_num_linears(const pst_model *m);
const char *pst_model_linear_name(const pst_model *m, int i);
const uint8_t *pst_model_linear_mask(const pst_model *m, int i, int *rows, int *cols);
/* Layer i's local effective weight M ⊙ W' [rows*cols] (this rank's slice) into out. */
void pst_model_linear_weight(pst_model *m, int i, float *out);
/* Layer i's global shape and how this rank's mask slice sits in it: shard_dim 0 = rows
 * (column-parallel), 1 = columns (row-parallel), -1 = the whole matrix. */
void pst_model_linear_global(const pst_model *m, int i, int *gm, int *gn, int *shard_dim);
/* A fingerprint of this rank's mask slices that does not depend on the layout: the wrapping
 * sum over kept weights of a hash of (layer, global flat index). Summed over the tp group it
 * is the whole model's; equal masks give equal sums (tests compare layouts with it). */
uint64_t pst_model_mask_digest(const pst_model *m);
/* Kept / total weights over this rank's shards of all sparsified layers. */
void pst_model_nnz(const pst_model *m, long *kept, long *total);

#endif
