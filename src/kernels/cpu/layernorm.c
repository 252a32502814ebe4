/* layernorm.c — LayerNorm over the last dimension (torch.nn.LayerNorm semantics).
 *
 * Shapes: inp/out/dout/dinp [N,C]; w, b, dw, db [C]; mean, rstd [N] (saved for backward).
 * Forward: mean = sum x / C, var = sum (x-mean)^2 / C (biased), rstd = 1/sqrt(var + eps),
 * out = (x - mean) * rstd * w + b. Row statistics are accumulated in double (two passes).
 * Backward (xhat = (x-mean)*rstd, g = dout*w):
 *   dinp += rstd * (g - mean_c(g) - xhat * mean_c(g*xhat)),
 *   dw += sum_n dout*xhat, db += sum_n dout.
 * Rows are independent (parallel over rows); dw/db are reduced per column block in row
 * order, so results do not depend on the thread count. */
#include "pst/kernels.h"

#include <math.h>
#include <stddef.h>

#define LN_CBLOCK 64

/* mean and rstd may be NULL when the statistics are not needed (inference). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
  for (int n = 0; n < N; n++) {
    const float *x = inp + (size_t)n * C;
    float *o = out + (size_t)n * C;
    double s = 0.0;
    for (int c = 0; c < C; c++) s += x[c];
    const double m = s / C;
    double v = 0.0;
    for (int c = 0; c < C; c++) {
      const double d = x[c] - m;
      v += d * d;
    }
    v /= C;
    const float mf = (float)m;
    const float rf = (float)(1.0 / sqrt(v + (double)eps));
    /* centre in double: x - mean stays exact when |mean| >> std */
    for (int c = 0; c < C; c++) o[c] = (float)(x[c] - m) * rf * w[c] + b[c];
    if (mean) mean[n] = mf;
    if (rstd) rstd[n] = rf;
  }
}

void layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                        const float *inp, const float *w, const float *mean,
                        const float *rstd, int N, int C) {
  if (dinp) {
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
    for (int n = 0; n < N; n++) {
      const float *x = inp + (size_t)n * C;
      const float *g = dout + (size_t)n * C;
      float *dx = dinp + (size_t)n * C;
      const float m = mean[n], r = rstd[n];
      double sg = 0.0, sgx = 0.0;
      for (int c = 0; c < C; c++) {
        const float gw = g[c] * w[c];
        sg += gw;
        sgx += (double)gw * ((x[c] - m) * r);
      }
      const float mg = (float)(sg / C), mgx = (float)(sgx / C);
      for (int c = 0; c < C; c++) {
        const float xhat = (x[c] - m) * r;
        dx[c] += r * (g[c] * w[c] - mg - xhat * mgx);
      }
    }
  }
  if (dw || db) {
    const int nblk = (C + LN_CBLOCK - 1) / LN_CBLOCK;
#pragma omp parallel for schedule(static) if ((long)N * C >= 16384)
    for (int blk = 0; blk < nblk; blk++) {
      const int c0 = blk * LN_CBLOCK;
      const int nc = c0 + LN_CBLOCK < C ? LN_CBLOCK : C - c0;
      double aw[LN_CBLOCK] = {0}, ab[LN_CBLOCK] = {0};
      for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C + c0;
        const float *g = dout + (size_t)n * C + c0;
        const float m = mean[n], r = rstd[n];
        for (int c = 0; c < nc; c++) {
          aw[c] += (double)g[c] * ((x[c] - m) * r);
          ab[c] += g[c];
        }
      }
      for (int c = 0; c < nc; c++) {
        if (dw) dw[c0 + c] += (float)aw[c];
        if (db) db[c0 + c] += (float)ab[c];
      }
    }
  }
}
