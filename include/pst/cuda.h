/* cuda.h — the CUDA backend (issue 7): device discovery, device buffers, one stream + cuBLAS
 * context, and the same ops as the CPU backend (kernels.h, sparsity.h, linear.h) on device
 * memory. Built only with ./configure --with-cuda (PST_HAVE_CUDA in config.h; the objects go
 * into libpstcuda.a); without it nothing here exists and the CPU backend is the only one.
 *
 * Conventions:
 *  - Every pointer passed to an op is a DEVICE pointer (from pst_cuda_alloc), except the
 *    `pst_linear_opts` / `pst_linear` structs themselves, which live on the host: a
 *    pst_linear for the device is the same struct with its tensor pointers (W0, bias, U, ...,
 *    dU, ..., mask) pointing to device memory.
 *  - Shapes, layouts, accumulate-vs-overwrite and NULL-means-not-needed rules are exactly the
 *    CPU ones (see kernels.h and linear.h); each op below names its CPU twin.
 *  - Ops are asynchronous on the context's stream and return PST_OK once queued (launch errors
 *    are reported at once, execution errors by the next call that waits: pst_cuda_sync,
 *    pst_cuda_download, the top-k and mask updates, which wait to report NaN scores).
 *  - Results: element-wise ops use the CPU's float expressions in the same order with no FMA
 *    contraction (the .cu files are compiled with -fmad=false and use __f*_rn intrinsics where
 *    bit identity matters): W', the PST scores S, the effective weight, AdamW and the masks are
 *    bit-identical to the CPU; transcendental ops (expf, erff, tanhf) differ by a few ulp;
 *    reductions use a fixed order (deterministic run to run, ~1e-6 relative to the CPU); the
 *    matrix products go to cuBLAS (fp32; TF32 only where the context asks for it).
 *  - A context is used by one host thread at a time. */
#ifndef PST_CUDA_H
#define PST_CUDA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" { /* the C headers below and this one have C linkage in the .cu files too */
#endif

#include "pst/core.h"
#include "pst/kernels.h"
#include "pst/linear.h"
#include "pst/sparsity.h"

/* ---- discovery and context ------------------------------------------------------------ */

/* Number of usable CUDA devices (> 0), or 0 with the reason in why[n] ("no CUDA device: ...":
 * no driver, no device, or a device this build has no code for). Never fails otherwise. */
int pst_cuda_available(char *why, size_t n);

typedef struct pst_cuda_ctx pst_cuda_ctx;

/* A context on `device`: one stream, one cuBLAS handle bound to it, a growable workspace.
 * tf32 = 1 lets the large matrix products (not the PST factor products) use TF32 tensor cores. */
pst_err pst_cuda_create(pst_cuda_ctx **ctx, int device, int tf32);
void pst_cuda_destroy(pst_cuda_ctx *ctx);
/* "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79 GiB)" */
const char *pst_cuda_describe(const pst_cuda_ctx *ctx);
/* Wait for the stream; reports any error of the queued work. */
pst_err pst_cuda_sync(pst_cuda_ctx *ctx);

/* ---- device buffers ------------------------------------------------------------------- */

/* Zero-filled device allocation of `bytes` (PST_ERR_MEM naming `what` on failure). */
pst_err pst_cuda_alloc(void **dptr, size_t bytes, const char *what);
void pst_cuda_release(void *dptr);
/* Host <-> device copies, ordered on the stream; both wait until the copy is done. */
pst_err pst_cuda_upload(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes);
pst_err pst_cuda_download(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes);
/* dst[0..bytes) = 0, asynchronously. */
pst_err pst_cuda_zero(pst_cuda_ctx *ctx, void *dst, size_t bytes);

/* ---- ops of kernels.h ------------------------------------------------------------------ */

pst_err pst_cuda_embedding_forward(pst_cuda_ctx *ctx, float *out, const int32_t *ids, const int32_t *type_ids,
                                   const float *tok, const float *pos, const float *type, int B, int T, int C);
pst_err pst_cuda_layernorm_forward(pst_cuda_ctx *ctx, float *out, float *mean, float *rstd, const float *inp,
                                   const float *w, const float *b, int N, int C, float eps);
pst_err pst_cuda_layernorm_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *db, const float *dout,
                                    const float *inp, const float *w, const float *mean, const float *rstd, int N,
                                    int C);
pst_err pst_cuda_matmul_forward(pst_cuda_ctx *ctx, float *out, const float *inp, const float *w, const float *bias,
                                int N, int K, int M);
pst_err pst_cuda_matmul_backward(pst_cuda_ctx *ctx, float *dinp, float *dw, float *dbias, const float *dout,
                                 const float *inp, const float *w, int N, int K, int M);
pst_err pst_cuda_gelu_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n, pst_gelu_kind kind);
pst_err pst_cuda_gelu_backward(pst_cuda_ctx *ctx, float *dinp, const float *inp, const float *dout, long n,
                               pst_gelu_kind kind);
pst_err pst_cuda_tanh_forward(pst_cuda_ctx *ctx, float *out, const float *inp, long n);
pst_err pst_cuda_tanh_backward(pst_cuda_ctx *ctx, float *dinp, const float *out, const float *dout, long n);
/* key_mask: device uint8 [B*T] or NULL. Unfused: cuBLAS strided-batched products per sequence
 * and one warp-per-row masked softmax kernel; probs [B,NH,T,T] as on the CPU. */
pst_err pst_cuda_attention_forward(pst_cuda_ctx *ctx, float *out, float *probs, const float *q, const float *k,
                                   const float *v, const uint8_t *key_mask, int causal, int B, int T, int C, int NH);
pst_err pst_cuda_attention_backward(pst_cuda_ctx *ctx, float *dq, float *dk, float *dv, const float *dout,
                                    const float *probs, const float *q, const float *k, const float *v, int B, int T,
                                    int C, int NH);
/* *d_loss (a device double) = the mean loss of crossentropy_forward. */
pst_err pst_cuda_crossentropy_forward(pst_cuda_ctx *ctx, double *d_loss, const float *logits, const int32_t *targets,
                                      const float *weights, int N, int V, float ls);
pst_err pst_cuda_crossentropy_backward(pst_cuda_ctx *ctx, float *dlogits, const float *logits,
                                       const int32_t *targets, const float *weights, int N, int V, float ls,
                                       float dloss);
pst_err pst_cuda_mse_forward(pst_cuda_ctx *ctx, double *d_loss, const float *pred, const float *target, int N);
pst_err pst_cuda_mse_backward(pst_cuda_ctx *ctx, float *dpred, const float *pred, const float *target, int N,
                              float dloss);

/* ---- optimizer (train.h's pst_adamw_step on a device buffer) --------------------------- */

/* One tensor of the trainable buffer: [offset, offset + numel) floats, decay as in params.h. */
typedef struct {
  size_t offset, numel;
  int decay;
} pst_cuda_segment;
/* AdamW step number t (already incremented: 1 for the first step) over the segments of the
 * buffers x, g, m, v; scalars rounded to float exactly as src/train/adamw.c does, so the
 * result is bit-identical to pst_adamw_step. */
pst_err pst_cuda_adamw_step(pst_cuda_ctx *ctx, float *x, const float *g, float *m, float *v,
                            const pst_cuda_segment *segs, int nseg, long t, double lr, double beta1, double beta2,
                            double eps, double weight_decay);
/* *d_out (device double) = sum x[i]^2 in double, fixed order. */
pst_err pst_cuda_sumsq(pst_cuda_ctx *ctx, double *d_out, const float *x, long n);
/* x[i] *= coef. */
pst_err pst_cuda_scale(pst_cuda_ctx *ctx, float *x, long n, float coef);

/* ---- exact top-k (sparsity.h) ---------------------------------------------------------- */

/* mask[numel] = the top `keep` of score in (score desc, flat index asc) order: bit for bit
 * pst_topk_mask. Radix select on the device (16-bit high digit histogram in shared memory,
 * boundary bucket, 16-bit low digit, then the index cut among equal keys); waits for the
 * result. thr (host, may be NULL) receives the threshold (equal to pst_topk_select's).
 * NaN anywhere -> PST_ERR_NUMERIC naming the lowest NaN index, mask untouched. */
pst_err pst_cuda_topk_mask(pst_cuda_ctx *ctx, uint8_t *mask, const float *score, long numel, long keep,
                           pst_topk_threshold *thr);

/* ---- the sparsified linear layer (linear.h) -------------------------------------------- */

/* Device scratch shared by all layers: w1, w2 [max_mn] floats and ones[max_dim]. */
typedef struct {
  float *w1, *w2, *ones;
  long cap, max_dim;
} pst_cuda_linear_scratch;

pst_err pst_cuda_linear_scratch_alloc(pst_cuda_ctx *ctx, pst_cuda_linear_scratch *s, long max_mn, long max_dim);
void pst_cuda_linear_scratch_free(pst_cuda_linear_scratch *s);

/* W' = W0 + beta U V and S = (|W'| + alpha1 A B) + alpha2 (R_i + C_j) (|W'| alone without the
 * low-rank score) in one pass over the elements: score [m*n] (the trainable S for movement),
 * wprime [m*n] or NULL. Bit-identical to pst_linear_score. */
pst_err pst_cuda_linear_score(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *score,
                              float *wprime);
/* M ⊙ W' into out (W0 for dense): pst_linear_effective, bit-identical. */
pst_err pst_cuda_linear_effective(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *out);
/* pst_linear_update_mask (waits: reports NaN scores). */
pst_err pst_cuda_linear_update_mask(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o, double sparsity,
                                    pst_cuda_linear_scratch *s);
/* pst_linear_forward / pst_linear_backward. */
pst_err pst_cuda_linear_forward(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o, float *out,
                                const float *inp, int N, pst_cuda_linear_scratch *s);
pst_err pst_cuda_linear_backward(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o, float *dinp,
                                 const float *dout, const float *inp, int N, pst_cuda_linear_scratch *s);
/* Number of ones of the mask (m*n without a mask); waits. */
pst_err pst_cuda_linear_nnz(pst_cuda_ctx *ctx, const pst_linear *L, long *nnz);

#ifdef __cplusplus
}
#endif

#endif
