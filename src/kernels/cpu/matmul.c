/* matmul.c — fully connected layer (torch.nn.Linear layout) on cblas_sgemm.
 *
 * Shapes: inp [N,K], w [M,K] (row-major, [out,in]), bias [M] or NULL, out/dout [N,M].
 * Forward: out = inp @ w^T + bias (bias rows copied into out, then one sgemm with beta = 1).
 * Backward (accumulating): dinp[N,K] += dout @ w, dw[M,K] += dout^T @ inp (sgemm with
 * beta = 1), dbias[M] += column sums of dout (double accumulators, per column block in row
 * order: independent of the thread count). */
#include "pst/kernels.h"

#include <cblas.h>
#include <stddef.h>
#include <omp.h>
#include <string.h>

#define MM_CBLOCK 64

void matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                    int N, int K, int M) {
  if (N <= 0 || M <= 0) return;
  if (bias) {
#pragma omp parallel for schedule(static) if ((long)N * M >= 16384)
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * M, bias, (size_t)M * sizeof(float));
  } else if (K <= 0) {
    memset(out, 0, (size_t)N * M * sizeof(float));
  }
  if (K <= 0) return;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, M, K, 1.0f, inp, K, w, K,
              bias ? 1.0f : 0.0f, out, M);
}

void matmul_forward_split(float *out, const float *inp, const float *w, const float *bias, int N, int K, int M) {
  if (N <= 0 || M <= 0 || K <= 0) return;
#pragma omp parallel
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int m0 = (int)((long)M * t / nt), m1 = (int)((long)M * (t + 1) / nt), mc = m1 - m0;
    if (mc > 0) {
      for (int n = 0; n < N; n++) {
        if (bias) memcpy(out + (size_t)n * M + m0, bias + m0, (size_t)mc * sizeof(float));
        else memset(out + (size_t)n * M + m0, 0, (size_t)mc * sizeof(float));
      }
      if (N == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, mc, K, 1.0f, w + (size_t)m0 * K, K, inp, 1, 1.0f, out + m0, 1);
      else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, mc, K, 1.0f, inp, K, w + (size_t)m0 * K, K, 1.0f,
                    out + m0, M);
    }
  }
}

void matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                     const float *inp, const float *w, int N, int K, int M) {
  if (N <= 0 || M <= 0) return;
  if (K > 0) {
    if (dinp)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, K, M, 1.0f, dout, M, w, K,
                  1.0f, dinp, K);
    if (dw)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, K, N, 1.0f, dout, M, inp, K,
                  1.0f, dw, K);
  }
  if (dbias) {
    const int nblk = (M + MM_CBLOCK - 1) / MM_CBLOCK;
#pragma omp parallel for schedule(static) if ((long)N * M >= 16384)
    for (int blk = 0; blk < nblk; blk++) {
      const int m0 = blk * MM_CBLOCK;
      const int nm = m0 + MM_CBLOCK < M ? MM_CBLOCK : M - m0;
      double acc[MM_CBLOCK] = {0};
      for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * M + m0;
        for (int m = 0; m < nm; m++) acc[m] += g[m];
      }
      for (int m = 0; m < nm; m++) dbias[m0 + m] += (float)acc[m];
    }
  }
}
