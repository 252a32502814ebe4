/* cuda_model.h — the few device ops the on-device model (src/model/device.c) needs beyond
 * cuda.h's op list: residual add, device-to-device copies (whole buffers and strided rows:
 * BERT's CLS rows), and the device memory counters the benchmark reports. Same conventions as
 * cuda.h (device pointers, asynchronous on the context's stream); src/kernels/cuda/model_ops.cu.
 * Built only with ./configure --with-cuda. */
#ifndef PST_CUDA_MODEL_H
#define PST_CUDA_MODEL_H

#include <stddef.h>

#include "pst/cuda.h"

#ifdef __cplusplus
extern "C" {
#endif

/* y[i] = y[i] + x[i] (float, no contraction: block.c's add_inplace bit for bit). */
pst_err pst_cuda_add(pst_cuda_ctx *ctx, float *y, const float *x, long n);
/* dst[0..bytes) = src[0..bytes) (device to device, asynchronous). */
pst_err pst_cuda_copy(pst_cuda_ctx *ctx, void *dst, const void *src, size_t bytes);
/* rows x cols floats: dst[r * ld_dst + c] = src[r * ld_src + c] (leading dimensions in floats). */
pst_err pst_cuda_copy_rows(pst_cuda_ctx *ctx, float *dst, long ld_dst, const float *src, long ld_src, long rows,
                           long cols);
/* Free and total memory of the context's device (cudaMemGetInfo), in bytes. */
pst_err pst_cuda_mem_info(pst_cuda_ctx *ctx, size_t *free_bytes, size_t *total_bytes);

#ifdef __cplusplus
}
#endif

#endif
