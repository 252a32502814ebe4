/* embedding.c — token + position (+ token-type) embedding lookup and its scatter-add backward.
 *
 * Shapes: ids, type_ids [N = B*T] int32; tok [V,C]; pos [P>=T,C] (NULL: none, llama); type [TV,C];
 * out/dout [N,C].
 * Token n = b*T + t uses position row t = n % T. Ids are range-checked by the caller.
 *
 * The backward parallelises over blocks of channels (each thread owns whole columns of every
 * gradient table), so repeated ids never race and every element is summed in token order:
 * the result does not depend on the number of threads. */
#include "pst/kernels.h"

#include <stddef.h>

/* Channel block owned by one thread in the backward (64 floats = one 256-byte stripe). */
#define EMB_CBLOCK 64

void embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                       const float *tok, const float *pos, const float *type,
                       int B, int T, int C) {
  const long N = (long)B * T;
#pragma omp parallel for schedule(static) if (N * C >= 16384)
  for (long n = 0; n < N; n++) {
    const float *tr = tok + (size_t)ids[n] * C;
    float *o = out + (size_t)n * C;
    if (!pos) { /* llama: no position table (rotary embeddings act inside attention) */
      for (int c = 0; c < C; c++) o[c] = tr[c];
      continue;
    }
    const float *pr = pos + (size_t)(n % T) * C;
    if (type) {
      const float *yr = type + (size_t)(type_ids ? type_ids[n] : 0) * C;
      for (int c = 0; c < C; c++) o[c] = tr[c] + pr[c] + yr[c];
    } else {
      for (int c = 0; c < C; c++) o[c] = tr[c] + pr[c];
    }
  }
}

/* dtok[V,C] += sum_{n: ids[n]=v} dout[n]; dpos[t] += sum_{n % T = t} dout[n];
 * dtype[y] += sum_{n: type_ids[n]=y} dout[n] (type_ids NULL: all rows go to y = 0). */
void embedding_backward(float *dtok, float *dpos, float *dtype, const float *dout,
                        const int32_t *ids, const int32_t *type_ids, int B, int T, int C) {
  if (!dtok && !dpos && !dtype) return;
  const long N = (long)B * T;
  const int nblk = (C + EMB_CBLOCK - 1) / EMB_CBLOCK;
#pragma omp parallel for schedule(static) if (N * C >= 16384)
  for (int blk = 0; blk < nblk; blk++) {
    const int c0 = blk * EMB_CBLOCK;
    const int c1 = c0 + EMB_CBLOCK < C ? c0 + EMB_CBLOCK : C;
    for (long n = 0; n < N; n++) {
      const float *g = dout + (size_t)n * C;
      if (dtok) {
        float *r = dtok + (size_t)ids[n] * C;
        for (int c = c0; c < c1; c++) r[c] += g[c];
      }
      if (dpos) {
        float *r = dpos + (size_t)(n % T) * C;
        for (int c = c0; c < c1; c++) r[c] += g[c];
      }
      if (dtype) {
        float *r = dtype + (size_t)(type_ids ? type_ids[n] : 0) * C;
        for (int c = c0; c < c1; c++) r[c] += g[c];
      }
    }
  }
}
