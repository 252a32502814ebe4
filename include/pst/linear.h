/* linear.h — the sparsified linear layer y = x (M ⊙ W')^T + b behind every method.
 *
 * A method is a row of flags (which tensors train, which importance, which mask rule);
 * the layer code reads the flags, the training loop never branches on the method.
 *   W' = W0 + beta U V                       (W' = W0 for dense, magnitude-full, movement-full: W0
 *                                             itself trains, with every other tensor of the model)
 *   S  = [|W'|] + [alpha1 A B + alpha2 (R 1^T + 1 C^T)]   or the trainable S (movement)
 *   M  = top-k(S) (keep = numel - floor(numel s)), S > threshold (soft-movement), or 1.
 * Shapes: W0 [m,n] (out x in), U [m,r2], V [r2,n], A [m,r1], B [r1,n], R [m], C [n], S [m,n].
 * Gradients follow DESIGN.md §1 (straight-through dL/dS = G ⊙ W'). */
#ifndef PST_LINEAR_H
#define PST_LINEAR_H

#include <stdint.h>

#include "pst/core.h"
#include "pst/params.h"
#include "pst/sparse.h"

enum { PST_MASK_NONE = 0, PST_MASK_TOPK = 1, PST_MASK_THRESHOLD = 2 };

typedef struct {
  const char *name;
  int train_w;      /* W0 and the bias train; so do the model's other tensors (full fine-tuning) */
  int lowrank_w;    /* W' = W0 + beta U V (U, V trainable) */
  int mask;         /* PST_MASK_* */
  int score_abs;    /* S includes |W'| */
  int score_lowrank;/* S includes alpha1 A B + alpha2 (R + C) (A, B, R, C trainable) */
  int score_full;   /* S is a trainable m x n matrix */
} pst_method;

/* The method named `name` (pst, dense, lora, magnitude, movement, soft-movement,
 * magnitude-full, movement-full) or NULL. */
const pst_method *pst_method_find(const char *name);

typedef struct {
  const pst_method *method;
  int r1, r2;
  float alpha1, alpha2, beta;
  float threshold;
  int detach_magnitude;
} pst_linear_opts;

/* Tensor parallelism (DESIGN.md §4): column-parallel layers hold rows [row0, row0 + m) of the
 * global [gm, gn] weight (their output is a slice of the features), row-parallel ones hold
 * columns [col0, col0 + n) (their output is a partial sum over the tp group). */
enum { PST_PAR_NONE = 0, PST_PAR_COLUMN = 1, PST_PAR_ROW = 2 };

typedef struct {
  int par, tp_rank, tp_size;
} pst_linear_shard;

typedef struct {
  int m, n;                               /* local shape */
  int gm, gn, row0, col0, par;            /* global shape and this shard's offset */
  int add_bias;                           /* 0 without a bias and on the row-parallel shards of tp ranks > 0 */
  float *W0, *bias;                       /* frozen (both trainable when the method trains W0), bias [m] */
  float *U, *V, *A, *B, *R, *C, *S;       /* trainables, NULL when the method has none */
  float *dW0, *dbias, *dU, *dV, *dA, *dB, *dR, *dC, *dS;
  uint8_t *mask;                          /* [m*n], NULL when the method has no mask */
  const float *W_inf;                     /* inference only: the folded M ⊙ W' [m,n] that
                                             pst_linear_forward uses as is; NULL in training */
  const pst_csr *W_sp;                    /* inference only: M ⊙ W' as CSR (sparse.h), used
                                             before W_inf and the training path when set */
} pst_linear;

/* Scratch shared by all layers: two m x n buffers (the effective weight or the score, and G),
 * per-thread row buffers [nthreads][2][max_dim] and per-thread column partial sums
 * [nthreads][2 max_rank + 1][max_dim] for the fused backward. */
typedef struct {
  float *w1, *w2;
  float *rows, *partial;
  long cap, max_dim;
  int max_rank, nthreads;
  float *sp;        /* spmm_forward's scratch while sparse weights are folded (else NULL) */
  size_t sp_cap;    /* its floats */
} pst_linear_scratch;

/* Register this layer's tensors (global weight [gm, gn]; sh = NULL: not sharded) under
 * "<prefix>.w", "<prefix>.b" (only if has_bias; else bias = NULL), "<prefix>.U", ...: frozen ones into `frozen`, trainable ones
 * into `train`, with their shard descriptors and, for factors replicated over the tp group
 * whose gradients are partial sums (V, B, C of column-parallel, U, A, R of row-parallel
 * layers), the partial-gradient flag. gm (column) or gn (row) must divide by tp_size. */
pst_err pst_linear_register(pst_linear *L, const pst_linear_opts *o, const char *prefix, int gm, int gn,
                            int has_bias, const pst_linear_shard *sh, pst_params *frozen, pst_params *train);
/* Initial values of trainables not loaded from a file: U, A ~ N(0,1); V, B, R, C, S = 0. */
void pst_linear_init_trainables(pst_linear *L, const pst_linear_opts *o, uint64_t seed, const char *prefix);
/* max_mn: largest m*n; max_dim: largest m or n; max_rank: max(r1, r2). Sized for the
 * current omp_get_max_threads(); the layer ops use at most that many threads. */
pst_err pst_linear_scratch_alloc(pst_linear_scratch *s, long max_mn, long max_dim, int max_rank);
void pst_linear_scratch_free(pst_linear_scratch *s);

/* This shard's effective weight M ⊙ W' [m*n] into out (W0 for dense). */
void pst_linear_effective(const pst_linear *L, const pst_linear_opts *o, float *out, pst_linear_scratch *s);
/* This shard's importance scores [m*n] into out (the trainable S for movement). */
void pst_linear_score(const pst_linear *L, const pst_linear_opts *o, float *out, pst_linear_scratch *s);
/* Recompute the mask for sparsity s from the current tensors (once per optimizer step). */
pst_err pst_linear_update_mask(pst_linear *L, const pst_linear_opts *o, double sparsity, pst_linear_scratch *s);
/* out[N,m] = inp[N,n] (M ⊙ W')^T + bias (no bias where add_bias = 0: a partial sum): on W_sp
 * (spmm_forward; needs s->sp of spmm_scratch_floats(N, m, n)), else W_inf, else the weight
 * formed from the trainables. */
void pst_linear_forward(const pst_linear *L, const pst_linear_opts *o, float *out, const float *inp, int N,
                        pst_linear_scratch *s);
/* Given dout[N,m] and the forward input inp[N,n]: dinp += dout (M ⊙ W') (skipped if NULL),
 * and the trainable gradients of L are accumulated. */
void pst_linear_backward(pst_linear *L, const pst_linear_opts *o, float *dinp, const float *dout,
                         const float *inp, int N, pst_linear_scratch *s);
/* Number of kept weights (mask ones), or m*n without a mask. */
long pst_linear_nnz(const pst_linear *L);

#endif
