/* model_internal.h — the model's private layout: tensors, per-layer activations and the
 * shared backward buffers. Shapes: N = B*T tokens, C = hidden, F = ffn, NH heads,
 * L = num_labels, V = vocab. Only src/model/ includes this. */
#ifndef PST_MODEL_INTERNAL_H
#define PST_MODEL_INTERNAL_H

#include "pst/kernels.h"
#include "pst/linear.h"
#include "pst/model.h"

enum { LIN_Q, LIN_K, LIN_V, LIN_O, LIN_FC1, LIN_FC2, LIN_COUNT };

typedef struct {
  pst_linear lin[LIN_COUNT];
  char lin_name[LIN_COUNT][48];
  float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
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

struct pst_model {
  pst_config cfg;
  int gpt2;                      /* 0 = bert (post-LN), 1 = gpt2 (pre-LN) */
  pst_gelu_kind gelu;
  pst_linear_opts lopts;
  int B, T, N, C, F, NH, V, NL;
  /* tensor parallelism: this rank's share of the features split by the column-parallel
   * layers (Cl = C / tp of q, k, v, ctx; Fl = F / tp of f1, g; NHl = NH / tp heads) */
  pst_group tp;
  int Cl, Fl, NHl;
  float *tp_buf;                 /* [N,C] partial input gradients summed over the tp group */
  float ln_eps;
  /* tensors */
  pst_params frozen, train;
  float *emb_tok, *emb_pos, *emb_type, *emb_ln_w, *emb_ln_b, *lnf_w, *lnf_b;
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
  pst_block_acts *acts;
  float *lnf, *lnf_mean, *lnf_rstd;  /* gpt2 [N,C], [N], [N] */
  float *cls_in, *pool_pre, *pooled; /* bert [B,C] */
  float *logits;                 /* [B,NL] or [N,V] */
  const uint8_t *cur_attn_mask;  /* [N] key mask of the batch being processed */
  /* backward buffers */
  float *grad_buf;
  float *d_out, *d_in, *d_res, *d_ln;  /* [N,C] */
  float *d_ctx, *d_q, *d_k, *d_v;      /* [N,Cl] */
  float *d_g, *d_f1;             /* [N,Fl] */
  float *d_logits;               /* like logits */
  float *d_cls_in, *d_pool_pre, *d_pooled; /* [B,C] */
};

/* Sum x[n] over the tp group (no-op on one rank); an MPI failure aborts the job. */
void pst_model_tp_sum(pst_model *m, float *x, long n);

void pst_block_forward(pst_model *m, int l);
/* d_out holds dL/d(block l output); on return d_in holds dL/d(block input) if need_din. */
void pst_block_backward(pst_model *m, int l, int need_din);

#endif
