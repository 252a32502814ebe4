/* linear.cu — the sparsified linear layer (linear.h) on the device.
 *
 * A pst_linear whose tensor pointers are device pointers (see cuda.h). Element kernels over
 * the m x n weight, one thread per element (i, j), rows by blockIdx.y:
 *   W'[i,j] = W0[i,j] + beta (sum_k U[i,k] V[k,j])          (k in order, from 0.0f)
 *   S[i,j]  = (|W'| + alpha1 (sum_k A[i,k] B[k,j])) + alpha2 (R[i] + C[j])
 * spelled with __fmul_rn/__fadd_rn (never contracted to FMA), which is exactly linear.c's
 * float order (its C code is compiled with -ffp-contract=off): S, W', M ⊙ W' and the
 * element-wise factor terms P = G ⊙ W', dW' = G ⊙ M + P ⊙ sign(W') are bit-identical to the
 * CPU. The products go to cuBLAS: y = x (M ⊙ W')^T + b, dx += dy (M ⊙ W'), G = dy^T x (TF32 if
 * the context allows it), and the small factor products in plain fp32 (deterministic):
 *   dA += alpha1 P B^T, dB += alpha1 A^T P, dR += alpha2 P 1, dC += alpha2 P^T 1,
 *   dU += beta dW' V^T, dV += beta U^T dW',  dS += P (movement).
 * Their sums run in cuBLAS's order, not the CPU's per-thread partials: ~1e-6 relative. */
#include <stdlib.h>

#include "common.h"

#define LIN_BLOCK 256

struct lin_args {
  const float *W0, *U, *V, *A, *B, *R, *C;
  const uint8_t *mask;
  int m, n, r1, r2;
  float alpha1, alpha2, beta;
  int lowrank_s;
};

static lin_args make_args(const pst_linear *L, const pst_linear_opts *o) {
  lin_args a;
  a.W0 = L->W0;
  a.U = L->U;
  a.V = L->V;
  a.A = L->A;
  a.B = L->B;
  a.R = L->R;
  a.C = L->C;
  a.mask = L->mask;
  a.m = L->m;
  a.n = L->n;
  a.r1 = o->r1;
  a.r2 = o->r2;
  a.alpha1 = o->alpha1;
  a.alpha2 = o->alpha2;
  a.beta = o->beta;
  a.lowrank_s = o->method->score_lowrank;
  return a;
}

static dim3 lin_grid(int m, int n) {
  return dim3((unsigned)((n + LIN_BLOCK - 1) / LIN_BLOCK), (unsigned)(m < 65535 ? m : 65535));
}

/* sum_k a[k] X[k,j] for k < r, in k order from 0.0f (linear.c's small_product_row) */
__device__ __forceinline__ float lin_small(const float *a, const float *X, int r, int n, int j) {
  float acc = 0.0f;
  for (int k = 0; k < r; k++) acc = __fadd_rn(acc, __fmul_rn(a[k], X[(size_t)k * n + j]));
  return acc;
}

__device__ __forceinline__ float lin_wprime(const lin_args &a, int i, int j) {
  const float uv = lin_small(a.U + (size_t)i * a.r2, a.V, a.r2, a.n, j);
  return __fadd_rn(a.W0[(size_t)i * a.n + j], __fmul_rn(a.beta, uv));
}

/* score and/or wprime (either may be NULL) */
__global__ void k_lin_score(lin_args a, float *score, float *wprime) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= a.n) return;
  for (int i = blockIdx.y; i < a.m; i += gridDim.y) {
    const float w = lin_wprime(a, i, j);
    const size_t ij = (size_t)i * a.n + j;
    if (wprime) wprime[ij] = w;
    if (!score) continue;
    if (a.lowrank_s) {
      const float ab = lin_small(a.A + (size_t)i * a.r1, a.B, a.r1, a.n, j);
      score[ij] = __fadd_rn(__fadd_rn(fabsf(w), __fmul_rn(a.alpha1, ab)), __fmul_rn(a.alpha2, __fadd_rn(a.R[i], a.C[j])));
    } else {
      score[ij] = fabsf(w);
    }
  }
}

__global__ void k_lin_effective(lin_args a, float *out) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= a.n) return;
  for (int i = blockIdx.y; i < a.m; i += gridDim.y) {
    const size_t ij = (size_t)i * a.n + j;
    const float w = lin_wprime(a, i, j);
    out[ij] = a.mask ? (a.mask[ij] ? w : 0.0f) : w;
  }
}

/* masked methods: P = G ⊙ W' into P, dW' = G ⊙ M + through (P ⊙ sign W') over G (in place),
 * dS += P when dS != NULL (linear.c's factor_row, element part) */
__global__ void k_lin_factor(lin_args a, float *G, float *P, float *dS, float through) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= a.n) return;
  for (int i = blockIdx.y; i < a.m; i += gridDim.y) {
    const size_t ij = (size_t)i * a.n + j;
    const float g = G[ij], w = lin_wprime(a, i, j);
    const float p = __fmul_rn(g, w);
    const float sign = (float)((w > 0.0f) - (w < 0.0f));
    G[ij] = __fadd_rn(__fmul_rn((float)a.mask[ij], g), __fmul_rn(through, __fmul_rn(sign, p)));
    P[ij] = p;
    if (dS) dS[ij] = __fadd_rn(dS[ij], p);
  }
}

__global__ void k_lin_threshold(uint8_t *mask, const float *score, long mn, float th, unsigned long long *nan_at) {
  unsigned long long my = ~0ull;
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < mn; i += (long)gridDim.x * blockDim.x) {
    const float x = score[i];
    if (x != x && (unsigned long long)i < my) my = (unsigned long long)i;
    mask[i] = x > th;
  }
  if (my != ~0ull) atomicMin(nan_at, my);
}

__global__ void k_nan_init(unsigned long long *p) { *p = ~0ull; }

__global__ void k_count_ones(const uint8_t *mask, long mn, unsigned long long *out) {
  __shared__ double sh[32];
  double c = 0.0; /* integer-valued: exact, and every order gives the same result */
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < mn; i += (long)gridDim.x * blockDim.x) c += mask[i];
  c = pst_block_sum(c, sh);
  if (threadIdx.x == 0) atomicAdd(out, (unsigned long long)c);
}

__global__ void k_lin_bias_rows(float *out, const float *bias, long N, int m) {
  const long total = N * m;
  for (long e = blockIdx.x * (long)blockDim.x + threadIdx.x; e < total; e += (long)gridDim.x * blockDim.x)
    out[e] = bias[e % m];
}

static pst_err check_cap(const pst_linear *L, const pst_cuda_linear_scratch *s) {
  if ((long)L->m * L->n > s->cap || L->m > s->max_dim || L->n > s->max_dim)
    PST_ERR(PST_ERR_ARG, "CUDA linear: a %d x %d layer exceeds the scratch (%ld elements, dim %ld)", L->m, L->n,
            s->cap, s->max_dim);
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_scratch_alloc(pst_cuda_ctx *ctx, pst_cuda_linear_scratch *s, long max_mn,
                                                 long max_dim) {
  s->w1 = s->w2 = s->ones = NULL;
  s->cap = max_mn;
  s->max_dim = max_dim;
  PST_CHECK(pst_cuda_alloc((void **)&s->w1, (size_t)max_mn * sizeof(float), "CUDA layer scratch"));
  PST_CHECK(pst_cuda_alloc((void **)&s->w2, (size_t)max_mn * sizeof(float), "CUDA layer scratch"));
  PST_CHECK(pst_cuda_alloc((void **)&s->ones, (size_t)max_dim * sizeof(float), "CUDA layer scratch"));
  float *h = (float *)malloc((size_t)(max_dim > 0 ? max_dim : 1) * sizeof(float));
  if (!h) PST_ERR(PST_ERR_MEM, "out of memory");
  for (long i = 0; i < max_dim; i++) h[i] = 1.0f;
  pst_err rc = pst_cuda_upload(ctx, s->ones, h, (size_t)max_dim * sizeof(float));
  free(h);
  PST_CHECK(rc);
  return PST_OK;
}

extern "C" void pst_cuda_linear_scratch_free(pst_cuda_linear_scratch *s) {
  pst_cuda_release(s->w1);
  pst_cuda_release(s->w2);
  pst_cuda_release(s->ones);
  s->w1 = s->w2 = s->ones = NULL;
  s->cap = s->max_dim = 0;
}

extern "C" pst_err pst_cuda_linear_score(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o,
                                         float *score, float *wprime) {
  const int m = L->m, n = L->n;
  if (m <= 0 || n <= 0) return PST_OK;
  if (o->method->score_full) {
    if (score)
      PST_CU(cudaMemcpyAsync(score, L->S, (size_t)m * n * sizeof(float), cudaMemcpyDeviceToDevice, ctx->stream),
             "linear_score (copy S)");
    score = NULL;
    if (!wprime) return PST_OK;
  }
  if (!o->method->lowrank_w) PST_ERR(PST_ERR_ARG, "CUDA linear_score: method %s has no W' = W0 + beta U V", o->method->name);
  k_lin_score<<<lin_grid(m, n), LIN_BLOCK, 0, ctx->stream>>>(make_args(L, o), score, wprime);
  PST_CU_LAUNCHED("linear_score");
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_effective(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o,
                                             float *out) {
  const int m = L->m, n = L->n;
  if (m <= 0 || n <= 0) return PST_OK;
  if (!o->method->lowrank_w) {
    PST_CU(cudaMemcpyAsync(out, L->W0, (size_t)m * n * sizeof(float), cudaMemcpyDeviceToDevice, ctx->stream),
           "linear_effective (copy W0)");
    return PST_OK;
  }
  k_lin_effective<<<lin_grid(m, n), LIN_BLOCK, 0, ctx->stream>>>(make_args(L, o), out);
  PST_CU_LAUNCHED("linear_effective");
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_update_mask(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o,
                                               double sparsity, pst_cuda_linear_scratch *s) {
  const pst_method *me = o->method;
  if (me->mask == PST_MASK_NONE) return PST_OK;
  const long mn = (long)L->m * L->n;
  const float *score = L->S;
  if (!me->score_full) {
    PST_CHECK(check_cap(L, s));
    PST_CHECK(pst_cuda_linear_score(ctx, L, o, s->w1, NULL));
    score = s->w1;
  }
  if (me->mask == PST_MASK_TOPK) {
    PST_CHECK(pst_cuda_topk_mask(ctx, L->mask, score, mn, pst_keep_count(mn, sparsity), NULL));
    return PST_OK;
  }
  if (mn <= 0) return PST_OK;
  void *ws, *pin;
  PST_CHECK(pst_cu_workspace(ctx, sizeof(unsigned long long), &ws));
  PST_CHECK(pst_cu_pinned(ctx, sizeof(unsigned long long), &pin));
  unsigned long long *nan_at = (unsigned long long *)ws;
  k_nan_init<<<1, 1, 0, ctx->stream>>>(nan_at);
  PST_CU_LAUNCHED("threshold mask (init)");
  k_lin_threshold<<<pst_cu_grid(ctx, mn, 256), 256, 0, ctx->stream>>>(L->mask, score, mn, o->threshold, nan_at);
  PST_CU_LAUNCHED("threshold mask");
  PST_CU(cudaMemcpyAsync(pin, nan_at, sizeof *nan_at, cudaMemcpyDeviceToHost, ctx->stream), "threshold mask");
  PST_CU(cudaStreamSynchronize(ctx->stream), "threshold mask");
  const unsigned long long at = *(const unsigned long long *)pin;
  if (at != ~0ull) PST_ERR(PST_ERR_NUMERIC, "soft-movement: score %llu is NaN", at);
  return PST_OK;
}

/* The effective weight: W0 itself for dense, else M ⊙ W' in s->w1. */
static pst_err effective_weight(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o,
                                pst_cuda_linear_scratch *s, const float **w) {
  if (!o->method->lowrank_w) {
    *w = L->W0;
    return PST_OK;
  }
  PST_CHECK(check_cap(L, s));
  PST_CHECK(pst_cuda_linear_effective(ctx, L, o, s->w1));
  *w = s->w1;
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_forward(pst_cuda_ctx *ctx, const pst_linear *L, const pst_linear_opts *o,
                                           float *out, const float *inp, int N, pst_cuda_linear_scratch *s) {
  const int m = L->m, n = L->n;
  if (N <= 0 || m <= 0) return PST_OK;
  const float *w;
  PST_CHECK(effective_weight(ctx, L, o, s, &w));
  if (L->add_bias) {
    k_lin_bias_rows<<<pst_cu_grid(ctx, (long)N * m, 256), 256, 0, ctx->stream>>>(out, L->bias, N, m);
    PST_CU_LAUNCHED("linear_forward (bias)");
  } else {
    PST_CHECK(pst_cuda_zero(ctx, out, (size_t)N * m * sizeof(float)));
  }
  if (n > 0) PST_CHECK(pst_cu_gemm(ctx, 0, 1, N, m, n, 1.0f, inp, n, w, n, 1.0f, out, m, 0));
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_backward(pst_cuda_ctx *ctx, pst_linear *L, const pst_linear_opts *o, float *dinp,
                                            const float *dout, const float *inp, int N, pst_cuda_linear_scratch *s) {
  const pst_method *me = o->method;
  const int m = L->m, n = L->n;
  if (m <= 0 || n <= 0) return PST_OK;
  if (me->train_w) { /* dense: dinp += dout W; dW += dout^T inp */
    if (dinp) PST_CHECK(pst_cu_gemm(ctx, 0, 0, N, n, m, 1.0f, dout, m, L->W0, n, 1.0f, dinp, n, 0));
    PST_CHECK(pst_cu_gemm(ctx, 1, 0, m, n, N, 1.0f, dout, m, inp, n, 1.0f, L->dW0, n, 0));
    return PST_OK;
  }
  PST_CHECK(check_cap(L, s));
  if (dinp) {
    const float *w;
    PST_CHECK(effective_weight(ctx, L, o, s, &w));
    PST_CHECK(pst_cu_gemm(ctx, 0, 0, N, n, m, 1.0f, dout, m, w, n, 1.0f, dinp, n, 0));
  }
  float *G = s->w2; /* G = dout^T inp [m,n]; then dW' in place */
  if (N > 0) {
    PST_CHECK(pst_cu_gemm(ctx, 1, 0, m, n, N, 1.0f, dout, m, inp, n, 0.0f, G, n, 0));
  } else {
    PST_CHECK(pst_cuda_zero(ctx, G, (size_t)m * n * sizeof(float)));
  }
  const int masked = me->mask != PST_MASK_NONE;
  if (masked) {
    const float through = me->score_abs && !o->detach_magnitude ? 1.0f : 0.0f;
    float *P = s->w1;
    k_lin_factor<<<lin_grid(m, n), LIN_BLOCK, 0, ctx->stream>>>(make_args(L, o), G, P, me->score_full ? L->dS : NULL,
                                                                through);
    PST_CU_LAUNCHED("linear_backward (factor terms)");
    if (me->score_lowrank) {
      PST_CHECK(pst_cu_gemm(ctx, 0, 1, m, o->r1, n, o->alpha1, P, n, L->B, n, 1.0f, L->dA, o->r1, 1));
      PST_CHECK(pst_cu_gemm(ctx, 1, 0, o->r1, n, m, o->alpha1, L->A, o->r1, P, n, 1.0f, L->dB, n, 1));
      PST_CHECK(pst_cu_gemv(ctx, 0, m, n, o->alpha2, P, n, s->ones, 1.0f, L->dR));
      PST_CHECK(pst_cu_gemv(ctx, 1, m, n, o->alpha2, P, n, s->ones, 1.0f, L->dC));
    }
  }
  /* dW' = G (no mask) or the in-place result above */
  PST_CHECK(pst_cu_gemm(ctx, 0, 1, m, o->r2, n, o->beta, G, n, L->V, n, 1.0f, L->dU, o->r2, 1));
  PST_CHECK(pst_cu_gemm(ctx, 1, 0, o->r2, n, m, o->beta, L->U, o->r2, G, n, 1.0f, L->dV, n, 1));
  return PST_OK;
}

extern "C" pst_err pst_cuda_linear_nnz(pst_cuda_ctx *ctx, const pst_linear *L, long *nnz) {
  const long mn = (long)L->m * L->n;
  *nnz = mn;
  if (!L->mask || mn <= 0) return PST_OK;
  void *ws, *pin;
  PST_CHECK(pst_cu_workspace(ctx, sizeof(unsigned long long), &ws));
  PST_CHECK(pst_cu_pinned(ctx, sizeof(unsigned long long), &pin));
  PST_CU(cudaMemsetAsync(ws, 0, sizeof(unsigned long long), ctx->stream), "nnz");
  k_count_ones<<<pst_cu_grid(ctx, mn, 256), 256, 0, ctx->stream>>>(L->mask, mn, (unsigned long long *)ws);
  PST_CU_LAUNCHED("nnz");
  PST_CU(cudaMemcpyAsync(pin, ws, sizeof(unsigned long long), cudaMemcpyDeviceToHost, ctx->stream), "nnz");
  PST_CU(cudaStreamSynchronize(ctx->stream), "nnz");
  *nnz = (long)*(const unsigned long long *)pin;
  return PST_OK;
}
