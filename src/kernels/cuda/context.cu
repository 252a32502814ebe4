/* context.cu — CUDA device discovery, the context (stream, cuBLAS handle, workspace), device
 * buffers, and the row-major cuBLAS wrappers used by the other .cu files. */
#include <stdio.h>
#include <string.h>

#include "common.h"

/* A kernel that does nothing: asking for its attributes tells whether this build carries code
 * the device can run (e.g. built for sm_90 only, run on an older GPU). */
__global__ void pst_cu_probe_kernel(void) {}

int pst_cuda_available(char *why, size_t n) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    if (why && n) snprintf(why, n, "no CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
    (void)cudaGetLastError();
    return 0;
  }
  if (count <= 0) {
    if (why && n) snprintf(why, n, "no CUDA device: the driver reports none");
    return 0;
  }
  cudaFuncAttributes fa;
  e = cudaFuncGetAttributes(&fa, pst_cu_probe_kernel);
  if (e != cudaSuccess) {
    cudaDeviceProp p;
    memset(&p, 0, sizeof p);
    (void)cudaGetDeviceProperties(&p, 0);
    if (why && n)
      snprintf(why, n, "no CUDA device usable: %s is sm_%d%d and this build has no code for it: %s", p.name,
               p.major, p.minor, cudaGetErrorString(e));
    (void)cudaGetLastError();
    return 0;
  }
  if (why && n) snprintf(why, n, "%d CUDA device%s", count, count > 1 ? "s" : "");
  return count;
}

pst_err pst_cuda_create(pst_cuda_ctx **out, int device, int tf32) {
  *out = NULL;
  char why[256];
  const int count = pst_cuda_available(why, sizeof why);
  if (!count) PST_ERR(PST_ERR_ARG, "%s", why);
  if (device < 0 || device >= count) PST_ERR(PST_ERR_ARG, "CUDA device %d does not exist (%d found)", device, count);
  pst_cuda_ctx *c = (pst_cuda_ctx *)calloc(1, sizeof *c);
  if (!c) PST_ERR(PST_ERR_MEM, "out of memory for the CUDA context");
  c->device = device;
  c->tf32 = tf32;
  cudaDeviceProp p;
  pst_err rc = PST_OK;
  cudaError_t e = cudaSetDevice(device);
  if (e == cudaSuccess) e = cudaGetDeviceProperties(&p, device);
  if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
  if (e != cudaSuccess) {
    free(c);
    PST_ERR(PST_ERR_INTERNAL, "CUDA: device %d: %s", device, cudaGetErrorString(e));
  }
  c->sm_count = p.multiProcessorCount;
  c->smem_optin = p.sharedMemPerBlockOptin;
  snprintf(c->desc, sizeof c->desc, "%s (sm_%d%d, %d SMs, %.0f GiB)", p.name, p.major, p.minor, p.multiProcessorCount,
           (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  cublasStatus_t s = cublasCreate(&c->blas);
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetStream(c->blas, c->stream);
  /* the default math mode is plain fp32; TF32 is asked for per call (compute type) */
  if (s == CUBLAS_STATUS_SUCCESS) s = cublasSetMathMode(c->blas, CUBLAS_DEFAULT_MATH);
  if (s != CUBLAS_STATUS_SUCCESS) {
    if (c->blas) cublasDestroy(c->blas);
    cudaStreamDestroy(c->stream);
    free(c);
    PST_ERR(PST_ERR_INTERNAL, "cuBLAS: could not set up a handle: %s", cublasGetStatusString(s));
  }
  *out = c;
  return rc;
}

void pst_cuda_destroy(pst_cuda_ctx *c) {
  if (!c) return;
  cudaStreamSynchronize(c->stream);
  cudaFree(c->ws);
  cudaFreeHost(c->pinned);
  cublasDestroy(c->blas);
  cudaStreamDestroy(c->stream);
  free(c);
}

const char *pst_cuda_describe(const pst_cuda_ctx *c) { return c->desc; }

pst_err pst_cuda_sync(pst_cuda_ctx *c) {
  PST_CU(cudaStreamSynchronize(c->stream), "stream synchronize");
  return PST_OK;
}

pst_err pst_cu_workspace(pst_cuda_ctx *c, size_t bytes, void **out) {
  if (bytes > c->ws_cap) {
    PST_CU(cudaStreamSynchronize(c->stream), "workspace (waiting for the stream)");
    cudaFree(c->ws);
    c->ws = NULL;
    c->ws_cap = 0;
    size_t cap = bytes + bytes / 4 + 4096;
    PST_CU(cudaMalloc(&c->ws, cap), "workspace allocation");
    c->ws_cap = cap;
  }
  *out = c->ws;
  return PST_OK;
}

pst_err pst_cu_pinned(pst_cuda_ctx *c, size_t bytes, void **out) {
  if (bytes > c->pinned_cap) {
    PST_CU(cudaStreamSynchronize(c->stream), "pinned buffer (waiting for the stream)");
    cudaFreeHost(c->pinned);
    c->pinned = NULL;
    c->pinned_cap = 0;
    PST_CU(cudaMallocHost(&c->pinned, bytes), "pinned host buffer");
    c->pinned_cap = bytes;
  }
  *out = c->pinned;
  return PST_OK;
}

pst_err pst_cuda_alloc(void **dptr, size_t bytes, const char *what) {
  *dptr = NULL;
  if (!bytes) bytes = 1;
  cudaError_t e = cudaMalloc(dptr, bytes);
  if (e != cudaSuccess) {
    *dptr = NULL;
    (void)cudaGetLastError();
    PST_ERR(PST_ERR_MEM, "CUDA: cannot allocate %zu bytes for %s: %s", bytes, what, cudaGetErrorString(e));
  }
  /* cudaMemset runs on the legacy default stream, which does not order against the
   * context's non-blocking stream: wait for it, so the zeros are there before any op */
  e = cudaMemset(*dptr, 0, bytes);
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    cudaFree(*dptr);
    *dptr = NULL;
    PST_ERR(PST_ERR_INTERNAL, "CUDA: cannot clear %s: %s", what, cudaGetErrorString(e));
  }
  return PST_OK;
}

void pst_cuda_release(void *dptr) {
  if (dptr) cudaFree(dptr);
}

pst_err pst_cuda_upload(pst_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
  if (!bytes) return PST_OK;
  PST_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream), "upload");
  PST_CU(cudaStreamSynchronize(c->stream), "upload");
  return PST_OK;
}

pst_err pst_cuda_download(pst_cuda_ctx *c, void *dst, const void *src, size_t bytes) {
  if (!bytes) return PST_OK;
  PST_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream), "download");
  PST_CU(cudaStreamSynchronize(c->stream), "download");
  return PST_OK;
}

pst_err pst_cuda_zero(pst_cuda_ctx *c, void *dst, size_t bytes) {
  if (!bytes) return PST_OK;
  PST_CU(cudaMemsetAsync(dst, 0, bytes, c->stream), "memset");
  return PST_OK;
}

/* ---- row-major cuBLAS ----------------------------------------------------------------
 * A row-major X[r,c] with leading dimension ld is the column-major X^T[c,r] with the same ld,
 * so C = op(A) op(B) (row-major) is C^T = op(B)^T op(A)^T (column-major): swap the operands
 * and M <-> N, keep the transposition flags. */
static cublasComputeType_t compute_type(const pst_cuda_ctx *c, int precise) {
  return c->tf32 && !precise ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

pst_err pst_cu_gemm(pst_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                    const float *B, int ldb, float beta, float *C, int ldc, int precise) {
  if (M <= 0 || N <= 0) return PST_OK;
  PST_CUBLAS(cublasGemmEx(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha,
                          B, CUDA_R_32F, ldb, A, CUDA_R_32F, lda, &beta, C, CUDA_R_32F, ldc,
                          compute_type(c, precise), CUBLAS_GEMM_DEFAULT),
             "sgemm");
  return PST_OK;
}

pst_err pst_cu_gemm_batched(pst_cuda_ctx *c, int ta, int tb, int M, int N, int K, float alpha, const float *A,
                            int lda, long long sA, const float *B, int ldb, long long sB, float beta, float *C,
                            int ldc, long long sC, int batch, int precise) {
  if (M <= 0 || N <= 0 || batch <= 0) return PST_OK;
  PST_CUBLAS(cublasGemmStridedBatchedEx(c->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N,
                                        M, K, &alpha, B, CUDA_R_32F, ldb, sB, A, CUDA_R_32F, lda, sA, &beta, C,
                                        CUDA_R_32F, ldc, sC, batch, compute_type(c, precise),
                                        CUBLAS_GEMM_DEFAULT),
             "strided batched sgemm");
  return PST_OK;
}

pst_err pst_cu_gemv(pst_cuda_ctx *c, int trans, int M, int N, float alpha, const float *A, int lda, const float *x,
                    float beta, float *y) {
  if (M <= 0 || N <= 0) return PST_OK;
  /* column-major view: A^T [N, M], ld lda */
  PST_CUBLAS(cublasSgemv(c->blas, trans ? CUBLAS_OP_N : CUBLAS_OP_T, N, M, &alpha, A, lda, x, 1, &beta, y, 1),
             "sgemv");
  return PST_OK;
}
