/* common.h — internals shared by the CUDA backend's .cu files (not a public header).
 *
 * The context struct, error macros (PETSc style, like core.h: a failing CUDA or cuBLAS call
 * sets the message and returns a pst_err), the row-major cuBLAS wrappers (arguments as for
 * cblas_sgemm(CblasRowMajor, ...)), launch-size helpers and deterministic block reductions. */
#ifndef PST_CUDA_COMMON_H
#define PST_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include "pst/cuda.h"

struct pst_cuda_ctx {
  int device;
  cudaStream_t stream;
  cublasHandle_t blas;
  int tf32;
  int sm_count;
  size_t smem_optin;       /* max dynamic shared memory per block after opt-in */
  char desc[320];
  void *ws;                /* device workspace (ops carve it; one ws request per op) */
  size_t ws_cap;
  void *pinned;            /* small pinned host buffer for status read-backs */
  size_t pinned_cap;
};

#define PST_CU(call, what)                                                                   \
  do {                                                                                       \
    cudaError_t pst_cu_e_ = (call);                                                          \
    if (pst_cu_e_ != cudaSuccess)                                                            \
      PST_ERR(pst_cu_e_ == cudaErrorMemoryAllocation ? PST_ERR_MEM : PST_ERR_INTERNAL,       \
              "CUDA: %s: %s (%s)", (what), cudaGetErrorString(pst_cu_e_),                    \
              cudaGetErrorName(pst_cu_e_));                                                  \
  } while (0)

#define PST_CUBLAS(call, what)                                                               \
  do {                                                                                       \
    cublasStatus_t pst_cb_s_ = (call);                                                       \
    if (pst_cb_s_ != CUBLAS_STATUS_SUCCESS)                                                  \
      PST_ERR(pst_cb_s_ == CUBLAS_STATUS_ALLOC_FAILED ? PST_ERR_MEM : PST_ERR_INTERNAL,      \
              "cuBLAS: %s: %s", (what), cublasGetStatusString(pst_cb_s_));                   \
  } while (0)

/* After a kernel launch: configuration errors are reported at once. */
#define PST_CU_LAUNCHED(what) PST_CU(cudaGetLastError(), what)

/* Workspace of at least `bytes` (grown, after waiting for the stream). Call once per op and
 * carve the pieces from the one pointer: a second call may move the first one. */
pst_err pst_cu_workspace(pst_cuda_ctx *c, size_t bytes, void **out);
/* Pinned host buffer of at least `bytes` (for status read-backs). */
pst_err pst_cu_pinned(pst_cuda_ctx *c, size_t bytes, void **out);

/* Row-major C[M,N] = alpha op(A) op(B) + beta C, ta/tb = 1 for transposed (cblas semantics:
 * lda etc. are the row-major leading dimensions). precise = 1: plain fp32 even when the
 * context allows TF32. M, N or K = 0 are handled (K = 0: C = beta C). */
pst_err pst_cu_gemm(pst_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc, int precise);
/* The same over `batch` matrices at strides sA, sB, sC (floats). */
pst_err pst_cu_gemm_batched(pst_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                            int lda, long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                            int ldc, long long sC, int batch, int precise);
/* Row-major A[M,N] (leading dim lda): trans = 0: y[M] = alpha A x + beta y;
 * trans = 1: y[N] = alpha A^T x + beta y. */
pst_err pst_cu_gemv(pst_cuda_ctx *c, int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
                    float beta, float *y);

/* Grid size for a grid-stride loop over n items with `block` threads (at least 1). */
static inline unsigned pst_cu_grid(const pst_cuda_ctx *c, long n, int block) {
  long g = (n + block - 1) / block;
  const long cap = (long)c->sm_count * 32;
  if (g > cap) g = cap;
  return (unsigned)(g < 1 ? 1 : g);
}

#ifdef __CUDACC__
#define PST_FULL_MASK 0xffffffffu

/* Sum over a warp by xor butterfly: every lane gets the same value (a + b == b + a), and the
 * order is fixed, so the result is deterministic. */
__device__ __forceinline__ double pst_warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(PST_FULL_MASK, v, o);
  return v;
}
__device__ __forceinline__ float pst_warp_sumf(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(PST_FULL_MASK, v, o);
  return v;
}
__device__ __forceinline__ float pst_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) {
    const float u = __shfl_xor_sync(PST_FULL_MASK, v, o);
    v = u > v ? u : v;
  }
  return v;
}

/* Sum over the block (blockDim.x a multiple of 32, every thread calls it); every thread gets
 * the result. sh: __shared__ double[32]. Fixed order: deterministic. */
__device__ __forceinline__ double pst_block_sum(double v, double *sh) {
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = pst_warp_sum(v);
  __syncthreads(); /* sh may still be read by a previous call */
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  double r = lane < nw ? sh[lane] : 0.0;
  r = pst_warp_sum(r);
  return r;
}
__device__ __forceinline__ float pst_block_max(float v, float *sh) {
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = pst_warp_max(v);
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : -__int_as_float(0x7f800000);
  return pst_warp_max(r);
}

/* Exclusive prefix sum over the block in thread order (blockDim.x a multiple of 32, every
 * thread calls it); *total = the block's sum. */
__device__ __forceinline__ unsigned long long pst_block_excl_scan(unsigned long long v, unsigned long long *total) {
  __shared__ unsigned long long warp_tot[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  unsigned long long x = v;
  for (int o = 1; o < 32; o <<= 1) {
    const unsigned long long y = __shfl_up_sync(PST_FULL_MASK, x, o);
    if (lane >= o) x += y;
  }
  __syncthreads(); /* warp_tot may still be read by a previous call */
  if (lane == 31) warp_tot[wid] = x;
  __syncthreads();
  if (wid == 0) {
    unsigned long long t = lane < nw ? warp_tot[lane] : 0ull;
    for (int o = 1; o < 32; o <<= 1) {
      const unsigned long long y = __shfl_up_sync(PST_FULL_MASK, t, o);
      if (lane >= o) t += y;
    }
    warp_tot[lane] = t; /* inclusive over warps */
  }
  __syncthreads();
  const unsigned long long off = wid ? warp_tot[wid - 1] : 0ull;
  *total = warp_tot[nw - 1];
  return off + x - v;
}

/* pst_score_key (sparsity.h) on the device: order-preserving u32 of a float, -0.0 -> +0.0. */
__device__ __forceinline__ unsigned pst_cu_score_key(float x) {
  unsigned u = __float_as_uint(x);
  u &= 0u - (unsigned)((u << 1) != 0);
  return u ^ ((0u - (u >> 31)) | 0x80000000u);
}
#endif /* __CUDACC__ */

#endif
