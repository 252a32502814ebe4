/* model_ops.cu — device ops of include/pst/cuda_model.h: what src/model/device.c needs beyond
 * cuda.h (the residual add, device copies, memory counters). */
#include "common.h"
#include "pst/cuda_model.h"

#define ADD_BLOCK 256

__global__ void k_add_inplace(float *y, const float *x, long n) {
  for (long i = blockIdx.x * (long)blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x)
    y[i] = __fadd_rn(y[i], x[i]);
}

extern "C" pst_err pst_cuda_add(pst_cuda_ctx *ctx, float *y, const float *x, long n) {
  if (n <= 0) return PST_OK;
  k_add_inplace<<<pst_cu_grid(ctx, n, ADD_BLOCK), ADD_BLOCK, 0, ctx->stream>>>(y, x, n);
  PST_CU_LAUNCHED("add");
  return PST_OK;
}

extern "C" pst_err pst_cuda_copy(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes) {
  if (!bytes || dst == src) return PST_OK;
  PST_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream), "device copy");
  return PST_OK;
}

extern "C" pst_err pst_cuda_copy_rows(pst_cuda_ctx *ctx, float *dst, long ld_dst, const float *src, long ld_src,
                                      long rows, long cols) {
  if (rows <= 0 || cols <= 0) return PST_OK;
  if (ld_dst < cols || ld_src < cols)
    PST_ERR(PST_ERR_ARG, "copy_rows: leading dimensions %ld, %ld below the row length %ld", ld_dst, ld_src, cols);
  PST_CU(cudaMemcpy2DAsync(dst, (size_t)ld_dst * sizeof(float), src, (size_t)ld_src * sizeof(float),
                           (size_t)cols * sizeof(float), (size_t)rows, cudaMemcpyDeviceToDevice, ctx->stream),
         "strided row copy");
  return PST_OK;
}

extern "C" pst_err pst_cuda_mem_info(pst_cuda_ctx *ctx, size_t *free_bytes, size_t *total_bytes) {
  PST_CU(cudaSetDevice(ctx->device), "set device");
  size_t f = 0, t = 0;
  PST_CU(cudaMemGetInfo(&f, &t), "memory info");
  *free_bytes = f;
  *total_bytes = t;
  return PST_OK;
}
