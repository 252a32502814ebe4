/* model_internal.h — the model's private layout: tensors, per-layer activations and the
 * shared backward buffers. Shapes: N = B*T tokens, C = hidden, F = ffn, NH heads,
 * L = num_labels, V = vocab. Only src/model/ includes this. */
#ifndef PST_MODEL_INTERNAL_H
#define PST_MODEL_INTERNAL_H

#include "pst/kernels.h"
#include "pst/linear.h"
#include "pst/model.h"

/* The sparsified linears of one block, per family; layer i of the model is block i / nlin,
 * linear i % nlin (nlin = LIN_COUNT or LL_COUNT). */
enum { LIN_Q, LIN_K, LIN_V, LIN_O, LIN_FC1, LIN_FC2, LIN_COUNT };          /* bert, gpt2 */
enum { LL_Q, LL_K, LL_V, LL_O, LL_GATE, LL_UP, LL_DOWN, LL_COUNT };      /* llama */
#define LIN_MAX LL_COUNT

typedef enum { ARCH_BERT, ARCH_GPT2, ARCH_LLAMA } pst_arch;

typedef struct {
  pst_linear lin[LIN_MAX];
  char lin_name[LIN_MAX][48];
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b;  /* llama: RMSNorm weights ln1_w, ln2_w only */
  float *dln1_w, *dln1_b, *dln2_w, *dln2_b; /* their gradients (NULL unless the method trains all) */
} pst_block;

/* Saved activations of one block (see block.c for which is which per architecture). */
typedef struct {
  float *in;                     /* [N,C] block input (aliases the previous block's out) */
  float *lnA, *lnA_mean, *lnA_rstd;
  float *q, *k, *v, *ctx;        /* [N,Cl] */
  float *probs;                  /* [B,NHl,T,T] */
  float *res1;                   /* [N,C] */
  float *lnB, *lnB_mean, *lnB_rstd;
  float *f1, *g;                 /* [N,Fl] */
  float *res2;                   /* [N,C] */
  float *out;                    /* [N,C] = lnB (bert) or res2 (gpt2) */
} pst_block_acts;

/* Saved activations of one LLaMA block (llama.c). Kl = this rank's key/value width KVl*hs. */
typedef struct {
  float *in;                     /* [N,C] block input (the previous block's out) */
  float *ln1, *ln1_rstd;         /* [N,C], [N] RMSNorm before attention */
  float *q, *k, *v, *ctx;        /* q, ctx [N,Cl]; k, v [N,Kl]; q and k after the rotation */
  float *probs;                  /* [B,NHl,T,T] */
  float *res1;                   /* [N,C] in + o(ctx) */
  float *ln2, *ln2_rstd;         /* [N,C], [N] RMSNorm before the MLP */
  float *gate, *up, *h;          /* [N,Fl]; h = silu(gate) * up */
  float *out;                    /* [N,C] res1 + down(h) */
} pst_llama_acts;

/* The shape of one forward pass and where its keys and values live.
 * Training: B x T tokens at positions 0..T-1, attention over the pass's own keys (cached = 0).
 * Decoding (infer.c): B sequences of T new tokens; sequence b's tokens sit at positions
 * pos[b]..pos[b]+T-1 of cache row slot[b]; their keys and values are appended to the cache and
 * each token attends to its row's positions 0..its own. */
typedef struct {
  int B, T, N;                   /* N = B*T rows of every activation */
  const int32_t *pos, *slot;     /* [B] (decoding only) */
  int cached;
} pst_pass;

struct pst_model {
  pst_config cfg;
  pst_arch arch;
  int gpt2;                      /* 1 = gpt2 (pre-LN; block.c), 0 = bert (post-LN) or llama */
  int nlin;                      /* sparsified linears per block */
  pst_gelu_kind gelu;
  pst_linear_opts lopts;
  int B, T, N, C, F, NH, V, NL;  /* T, N = B*T: the current batch's (set by each forward) */
  int T_max;                     /* tokens per sequence the activations hold (a batch's T <= T_max) */
  /* tensor parallelism: this rank's share of the features split by the column-parallel
   * layers (Cl = C / tp of q, k, v, ctx; Fl = F / tp of f1, g; NHl = NH / tp heads) */
  pst_group tp;
  int Cl, Fl, NHl;
  /* llama: KV key/value heads (KVl on this rank), hs head size, Kl = KVl*hs */
  int KV, KVl, hs, Kl;
  float *rope_cos, *rope_sin;    /* [T, hs/2]: positions 0..T-1 */
  float *tp_buf;                 /* [N,C] partial input gradients summed over the tp group */
  float ln_eps;
  /* tensors */
  pst_params frozen, train;
  float *emb_tok, *emb_pos, *emb_type, *emb_ln_w, *emb_ln_b, *lnf_w, *lnf_b;
  float *head_w;                 /* llama with an untied head: [V,C] (frozen), else NULL */
  /* gradients of the tensors above when the method fine-tunes every tensor (dense); else NULL */
  float *d_emb_tok, *d_emb_pos, *d_emb_type, *d_emb_ln_w, *d_emb_ln_b, *d_lnf_w, *d_lnf_b, *d_head_w;
  int train_all;                 /* the method trains every tensor (pst_method.train_w: dense) */
  float *pool_w, *pool_b, *cls_w, *cls_b;
  float *dpool_w, *dpool_b, *dcls_w, *dcls_b;  /* NULL when the head is frozen */
  pst_block *blocks;
  uint8_t *masks;                /* all layers' masks, one buffer */
  pst_linear_scratch scratch;
  /* activations */
  float *act_buf;
  float *emb_sum;                /* [N,C] embedding sum (bert: before LN) */
  float *emb_mean, *emb_rstd;    /* [N] */
  float *x0;                     /* [N,C] input of block 0 */
  pst_block_acts *acts;          /* bert, gpt2 */
  pst_llama_acts *lacts;         /* llama */
  float *lnf, *lnf_mean, *lnf_rstd;  /* gpt2, llama [N,C], [N], [N] (llama: no mean) */
  float *cls_in, *pool_pre, *pooled; /* bert [B,C] */
  float *logits;                 /* [B,NL] or [N,V] */
  const uint8_t *cur_attn_mask;  /* [N] key mask of the batch being processed */
  /* decoding (infer.c): weights folded into each pst_linear's W_inf, the training shape kept
   * aside, a key/value cache [L][rows][Tmax][Kl] and the head's gathered rows */
  int infer, train_B, train_T, blas_threads; /* OpenBLAS threads to restore after decoding */
  int kv_rows, kv_Tmax;
  float *w_inf;                  /* the folded dense weights (fold.c; NULL when none) */
  pst_csr *w_sp;                 /* [layers * nlin] sparse weights (fold.c; NULL when none) */
  pst_csr *w_sp_fixed;           /* [layers * nlin] inference-only models' CSR (pst_model_set_sparse;
                                    rowptr NULL where a layer has none), else NULL */
  void *held;                    /* released with held_release at destroy (pst_model_hold) */
  void (*held_release)(void *);
  float *kv_k, *kv_v, *kv_tmp;   /* caches; kv_tmp [rows, Tmax, Kl] for reordering */
  float *att_scratch;            /* [threads, Tmax] */
  /* backward buffers */
  float *grad_buf;
  float *d_out, *d_in, *d_res, *d_ln;  /* [N,C] */
  float *d_ctx, *d_q, *d_k, *d_v;      /* [N,Cl] */
  float *d_g, *d_f1;             /* [N,Fl] (llama: dL/dh, dL/dgate) */
  float *d_up;                   /* llama [N,Fl] */
  float *d_logits;               /* like logits */
  float *d_cls_in, *d_pool_pre, *d_pooled; /* [B,C] */
};

/* Register a tensor of the architecture outside the sparsified linears (embeddings, norms,
 * untied head): frozen, or trainable with its gradient (*grad) when the method trains every
 * tensor (m->train_all; weight decay on matrices only, as HF's no_decay of biases and norms).
 * Replicated over tp: every rank computes the same gradient, so none is summed. */
pst_err pst_model_add_base(pst_model *m, const char *name, int ndim, int64_t d0, int64_t d1, float **bind,
                           float **grad);
/* Sum x[n] over the tp group (no-op on one rank); an MPI failure aborts the job. */
void pst_model_tp_sum(pst_model *m, float *x, long n);

/* Training passes (pass.c) run over the model's B x T batch. */
pst_pass pst_model_train_pass(const pst_model *m);
/* Attention of pass p in layer l: training = attention_forward (probs saved, key mask,
 * causal for decoders); decoding = append k, v [N,Kl] to the cache, attend over it. */
void pst_model_attend(pst_model *m, int l, const pst_pass *p, float *ctx, float *probs, const float *q,
                      const float *k, const float *v);
/* Token embeddings of pass p into x0 (gpt2: + position rows, bert: + types; LN after). */
void pst_model_embed(pst_model *m, const pst_pass *p, const int32_t *ids, const int32_t *type_ids);
/* Activation buffers for m->B x m->T (training) or, when m->infer, one shared set of
 * m->N rows (every layer's in and out are x0; no probs, no backward buffers). */
pst_err pst_model_alloc_activations(pst_model *m);
void pst_model_free_activations(pst_model *m);

/* Release what decoding holds (folded weights, caches); the activations stay. */
void pst_model_infer_free(pst_model *m);

void pst_block_forward(pst_model *m, int l, const pst_pass *p);
/* d_out holds dL/d(block l output); on return d_in holds dL/d(block input) if need_din. */
void pst_block_backward(pst_model *m, int l, int need_din);

/* The LLaMA family (llama.c): tensors, activations, the whole forward (embedding, blocks,
 * final RMSNorm, LM head, token cross-entropy) and its backward. */
pst_err pst_llama_register(pst_model *m);
pst_err pst_llama_alloc(pst_model *m);
/* Embedding and blocks of pass p (the part training and decoding share). */
void pst_llama_body(pst_model *m, const pst_pass *p, const int32_t *ids);
double pst_llama_forward(pst_model *m, const pst_batch *bt);
void pst_llama_backward(pst_model *m, const pst_batch *bt, float dloss);

#endif
