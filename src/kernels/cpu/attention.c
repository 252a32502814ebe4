/* attention.c — multi-head scaled dot-product attention core (no projections).
 *
 * Shapes: q, out, dout, dq [B,T,C] with C = NH*hs; head h of token (b,t) is the column slice
 * [h*hs, (h+1)*hs) of row b*T+t, so one head of one sequence is a [T,hs] matrix with leading
 * dimension C. k, v, dk, dv [B,T,NKV*hs]: grouped-query attention (LLaMA) lets query head h
 * read key/value head h / (NH/NKV); NKV = NH is ordinary multi-head attention.
 * probs [B,NH,T,T], head (b,h) at (b*NH + h)*T*T. key_mask [B*T] (0 = padding key) or NULL.
 *
 * Forward, per head: S = q k^T / sqrt(hs) (one sgemm per head, written into probs), then per
 * row i (parallel over all B*NH*T rows): softmax with max subtraction over the allowed keys
 * j (key_mask[b*T+j] != 0 and, if causal, j <= i); masked keys get probability exactly 0
 * (skipped, not offset by a large negative number); a row without allowed keys is all 0.
 * Then out = P v (one sgemm per head; fully masked rows give out = 0).
 * Backward (accumulating), per head with dP = dout v^T in a [T,T] scratch:
 *   dS = P * (dP - rowsum(P * dP)),  dv += P^T dout,  dq += dS k / sqrt(hs),
 *   dk += dS^T q / sqrt(hs).
 * Masked entries have P = 0, hence dS = 0: the backward needs no mask.
 * Query heads of one group accumulate into the same dk, dv columns one after another.
 * The per-head sgemms run one after another, each multithreaded by OpenBLAS (calling a
 * pthreads OpenBLAS from inside OpenMP threads would oversubscribe the cores). */
#include "pst/kernels.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <omp.h>

/* Masked softmax of one probs row p[T] in place (row i of batch b; km = key_mask + b*T or
 * NULL). On entry p holds the scaled scores. */
static void softmax_row(float *p, const uint8_t *km, int causal, int i, int T) {
  const int jend = causal ? i + 1 : T;
  float mx = -INFINITY;
  int any = 0;
  for (int j = 0; j < jend; j++) {
    if (km && !km[j]) continue;
    if (p[j] > mx) mx = p[j];
    any = 1;
  }
  if (!any) { /* every key masked */
    for (int j = 0; j < T; j++) p[j] = 0.0f;
    return;
  }
  double sum = 0.0;
  for (int j = 0; j < jend; j++) {
    if (km && !km[j]) {
      p[j] = 0.0f;
      continue;
    }
    const float e = expf(p[j] - mx);
    p[j] = e;
    sum += e;
  }
  for (int j = jend; j < T; j++) p[j] = 0.0f;
  const float inv = (float)(1.0 / sum);
  for (int j = 0; j < jend; j++) p[j] *= inv;
}

void attention_forward(float *out, float *probs, const float *q, const float *k,
                       const float *v, const uint8_t *key_mask, int causal,
                       int B, int T, int C, int NH, int NKV) {
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0 || NKV <= 0) return;
  const int hs = C / NH, Ckv = NKV * hs, group = NH / NKV;
  const float scale = 1.0f / sqrtf((float)hs);
  const int BH = B * NH;
  const size_t TT = (size_t)T * T;
  /* S = scale * q k^T per head, straight into probs. */
  for (int bh = 0; bh < BH; bh++) {
    const size_t base = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hs;
    const size_t kvb = (size_t)(bh / NH) * T * Ckv + (size_t)(bh % NH / group) * hs;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q + base, C,
                k + kvb, Ckv, 0.0f, probs + bh * TT, T);
  }
  const long rows = (long)BH * T;
#pragma omp parallel for schedule(static) if (rows * T >= 16384)
  for (long r = 0; r < rows; r++) {
    const int bh = (int)(r / T), i = (int)(r % T), b = bh / NH;
    softmax_row(probs + (size_t)r * T, key_mask ? key_mask + (size_t)b * T : NULL, causal, i,
                T);
  }
  /* out = P v per head. */
  for (int bh = 0; bh < BH; bh++) {
    const size_t base = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hs;
    const size_t kvb = (size_t)(bh / NH) * T * Ckv + (size_t)(bh % NH / group) * hs;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1.0f, probs + bh * TT, T,
                v + kvb, Ckv, 0.0f, out + base, C);
  }
}

void attention_backward(float *dq, float *dk, float *dv, const float *dout,
                        const float *probs, const float *q, const float *k, const float *v,
                        int B, int T, int C, int NH, int NKV) {
  if (!dq && !dk && !dv) return;
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0 || NKV <= 0) return;
  const int hs = C / NH, Ckv = NKV * hs, group = NH / NKV;
  const float scale = 1.0f / sqrtf((float)hs);
  const int BH = B * NH;
  const size_t TT = (size_t)T * T;
  if (dv)
    for (int bh = 0; bh < BH; bh++) {
      const size_t base = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hs;
      const size_t kvb = (size_t)(bh / NH) * T * Ckv + (size_t)(bh % NH / group) * hs;
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1.0f, probs + bh * TT, T,
                  dout + base, C, 1.0f, dv + kvb, Ckv);
    }
  if (!dq && !dk) return;
  /* [T,T] scratch for dP / dS. The kernel API has no error path; T*T floats can only fail to
   * allocate when the process is out of memory anyway. */
  float *ds = malloc(TT * sizeof(float));
  if (!ds) {
    fprintf(stderr, "pst: attention_backward: out of memory (%zu floats)\n", TT);
    abort();
  }
  for (int bh = 0; bh < BH; bh++) {
    const size_t base = (size_t)(bh / NH) * T * C + (size_t)(bh % NH) * hs;
    const size_t kvb = (size_t)(bh / NH) * T * Ckv + (size_t)(bh % NH / group) * hs;
    const float *P = probs + bh * TT;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1.0f, dout + base, C,
                v + kvb, Ckv, 0.0f, ds, T);
    for (int i = 0; i < T; i++) {
      const float *p = P + (size_t)i * T;
      float *d = ds + (size_t)i * T;
      double s = 0.0;
      for (int j = 0; j < T; j++) s += (double)p[j] * d[j];
      const float sf = (float)s;
      for (int j = 0; j < T; j++) d[j] = p[j] * (d[j] - sf);
    }
    if (dq)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, ds, T, k + kvb,
                  Ckv, 1.0f, dq + base, C);
    if (dk)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, ds, T, q + base, C,
                  1.0f, dk + kvb, Ckv);
  }
  free(ds);
}

/* One (token, head) row per iteration: scores by dot products over the cached keys, softmax
 * as softmax_row, then the probability-weighted sum of the cached values. */
void attention_cached_forward(float *out, const float *q, const float *kc, const float *vc,
                              const int32_t *slot, const int32_t *pos, int B, int T, int Tmax,
                              int C, int NH, int NKV, float *scratch) {
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0 || NKV <= 0) return;
  const int hs = C / NH, Ckv = NKV * hs, group = NH / NKV;
  const float scale = 1.0f / sqrtf((float)hs);
  const long rows = (long)B * T * NH;
#pragma omp parallel for schedule(static) if (rows * (pos[0] + T) * hs >= 65536)
  for (long r = 0; r < rows; r++) {
    const int h = (int)(r % NH);
    const long n = r / NH; /* token b*T + t */
    const int b = (int)(n / T), t = (int)(n % T), p = pos[b] + t;
    const float *qh = q + n * C + (long)h * hs;
    const float *kr = kc + (size_t)slot[b] * Tmax * Ckv + (size_t)(h / group) * hs;
    const float *vr = vc + (size_t)slot[b] * Tmax * Ckv + (size_t)(h / group) * hs;
    float *sc = scratch + (size_t)omp_get_thread_num() * Tmax;
    float mx = -INFINITY;
    for (int j = 0; j <= p; j++) {
      const float *kj = kr + (size_t)j * Ckv;
      float d = 0.0f;
      for (int i = 0; i < hs; i++) d += qh[i] * kj[i];
      sc[j] = scale * d;
      if (sc[j] > mx) mx = sc[j];
    }
    double sum = 0.0;
    for (int j = 0; j <= p; j++) {
      sc[j] = expf(sc[j] - mx);
      sum += sc[j];
    }
    const float inv = (float)(1.0 / sum);
    float *o = out + n * C + (long)h * hs;
    for (int i = 0; i < hs; i++) o[i] = 0.0f;
    for (int j = 0; j <= p; j++) {
      const float w = sc[j] * inv;
      const float *vj = vr + (size_t)j * Ckv;
      for (int i = 0; i < hs; i++) o[i] += w * vj[i];
    }
  }
}
