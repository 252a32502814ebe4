/* rmsnorm.c — RMSNorm over the last dimension (LLaMA; Hugging Face LlamaRMSNorm semantics).
 *
 * Shapes: inp/out/dout/dinp [N,C]; w, dw [C]; rstd [N] (saved for backward).
 * Forward: rstd = 1/sqrt(mean_c x^2 + eps) (accumulated in double), out = x * rstd * w.
 * Backward (g = dout * w): dinp += rstd * g - x * rstd^3 * mean_c(g * x); dw += sum_n dout x rstd.
 * Rows are independent (parallel over rows); dw is reduced per column in row order, so results
 * do not depend on the thread count. */
#include "pst/kernels.h"

#include <math.h>
#include <stddef.h>

void rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double ss = 0.0;
    for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
    const float r = (float)(1.0 / sqrt(ss / C + (double)eps));
    for (int c = 0; c < C; c++) o[c] = w[c] * (x[c] * r);
    if (rstd) rstd[n] = r;
  }
}

void rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp, const float *w,
                      const float *rstd, int N, int C) {
  if (dinp) {
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C, *g = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      const float r = rstd[n];
      double sgx = 0.0;
      for (int c = 0; c < C; c++) sgx += (double)g[c] * w[c] * x[c];
      const float k = (float)(sgx / C) * r * r * r;
      for (int c = 0; c < C; c++) dx[c] += r * (g[c] * w[c]) - x[c] * k;
    }
  }
  if (dw) {
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
    for (int c = 0; c < C; c++) {
      double s = 0.0;
      for (int n = 0; n < N; n++) s += (double)dout[(size_t)n * C + c] * inp[(size_t)n * C + c] * rstd[n];
      dw[c] += (float)s;
    }
  }
}
