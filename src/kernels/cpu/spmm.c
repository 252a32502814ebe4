/* spmm.c — CSR (16-bit columns) weights times activations, forward only (include/pst/sparse.h).
 *
 * Shapes: W [m, n] (out x in), inp [N, n], out [N, m]. For N > 1 the tokens are cut into
 * chunks of 64 (then 32, 16, 8; N rounded up to 8, padding tokens 0) and the input is
 * transposed chunk by chunk into packed slices xt_c [n, ch], so that every kept weight W[i, j]
 * multiplies one contiguous run of ch floats; row i of the chunk's yt_c [m, ch] accumulates in
 * registers while the slice (n x 64 floats, 192 KiB for n = 768, contiguous: no power-of-two
 * strides to alias in the caches) stays in the core's L2 for all rows; each block of 16 rows'
 * [16, ch] result is transposed into out (with the bias) while it is in L1. Kernels are compiled for AVX-512, AVX2 and baseline x86-64 (target_clones); ISO C
 * mode keeps -ffp-contract=off, so products and sums round separately on every clone. */
#include "pst/sparse.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SP_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SP_KERNEL
#endif

/* Density below which the sparse product wins (bench/bench_spmm, 768 x 768 layers cycled so the
 * weights come from memory, 1 thread, AMD EPYC (AVX2), 2026-12-02; bench/RESULTS.md "Sparse
 * inference"). Decoding (N <= 8) is memory-bound: one token 1.09x at density 0.5, 1.69x at
 * 0.3, 5.0x at 0.1; eight tokens 1.57x at 0.5. Batches (N = 1024) are compute-bound: 0.85x at
 * 0.3, 1.28x at 0.2, 2.1x at 0.1. The thresholds sit below the break-even points, so that a
 * layer at 50 % never runs slower than dense. */
#define CROSSOVER_DECODE 0.40
#define CROSSOVER_BATCH 0.20
#define DECODE_ROWS 8

int pst_sparse_pays(double density, int N) {
  return density <= (N <= DECODE_ROWS ? CROSSOVER_DECODE : CROSSOVER_BATCH);
}

pst_err pst_csr_from_dense(pst_csr *a, const float *w, int m, int n, const char *what) {
  memset(a, 0, sizeof *a);
  if (m <= 0 || n <= 0) PST_ERR(PST_ERR_ARG, "%s: a sparse weight needs a positive shape (got %d x %d)", what, m, n);
  if (n > PST_CSR_MAX_COLS)
    PST_ERR(PST_ERR_ARG, "%s: %d input columns exceed the sparse format's 16-bit column indices (%d)", what, n,
            PST_CSR_MAX_COLS);
  a->m = m;
  a->n = n;
  PST_CHECK(pst_calloc((void **)&a->rowptr, (size_t)m + 1, sizeof(int64_t), "CSR row pointers"));
#pragma omp parallel for schedule(static)
  for (int i = 0; i < m; i++) {
    const float *r = w + (size_t)i * n;
    int64_t c = 0;
    for (int j = 0; j < n; j++) c += r[j] != 0.0f;
    a->rowptr[i + 1] = c;
  }
  for (int i = 0; i < m; i++) a->rowptr[i + 1] += a->rowptr[i];
  a->nnz = a->rowptr[m];
  a->owned = 1;
  pst_err rc = pst_calloc((void **)&a->col, (size_t)(a->nnz ? a->nnz : 1), sizeof(uint16_t), "CSR columns");
  if (!rc) rc = pst_calloc((void **)&a->val, (size_t)(a->nnz ? a->nnz : 1), sizeof(float), "CSR values");
  if (rc) {
    pst_csr_free(a);
    PST_CHECK(rc);
  }
#pragma omp parallel for schedule(static)
  for (int i = 0; i < m; i++) {
    const float *r = w + (size_t)i * n;
    int64_t k = a->rowptr[i];
    for (int j = 0; j < n; j++)
      if (r[j] != 0.0f) a->col[k] = (uint16_t)j, a->val[k++] = r[j];
  }
  return PST_OK;
}

void pst_csr_free(pst_csr *a) {
  if (a->owned) {
    pst_free(a->rowptr);
    pst_free(a->col);
    pst_free(a->val);
  }
  memset(a, 0, sizeof *a);
}

pst_err pst_csr_validate(const pst_csr *a, int m, int n, const char *what) {
  if (a->m != m || a->n != n)
    PST_ERR(PST_ERR_FORMAT, "%s: sparse shape [%d, %d] does not match the model's [%d, %d]", what, a->m, a->n, m, n);
  if (n > PST_CSR_MAX_COLS) PST_ERR(PST_ERR_FORMAT, "%s: %d columns exceed the 16-bit column indices", what, n);
  if (!a->rowptr || a->rowptr[0] != 0) PST_ERR(PST_ERR_FORMAT, "%s: rowptr[0] is not 0", what);
  if (a->rowptr[m] != a->nnz)
    PST_ERR(PST_ERR_FORMAT, "%s: rowptr[%d] = %lld, but the tensor holds %lld values", what, m,
            (long long)a->rowptr[m], (long long)a->nnz);
  for (int i = 0; i < m; i++) {
    const int64_t b = a->rowptr[i], e = a->rowptr[i + 1];
    if (e < b || e - b > n)
      PST_ERR(PST_ERR_FORMAT, "%s: row %d spans entries %lld..%lld (must be nondecreasing, at most %d)", what, i,
              (long long)b, (long long)e, n);
    for (int64_t k = b; k < e; k++)
      if (a->col[k] >= n)
        PST_ERR(PST_ERR_FORMAT, "%s: entry %lld of row %d has column %d, outside [0, %d)", what, (long long)k, i,
                a->col[k], n);
  }
  return PST_OK;
}

size_t spmm_scratch_floats(int N, int m, int n) {
  (void)m;
  if (N <= 1) return 0;
  return (((size_t)N + 7) / 8 * 8) * n;
}

/* out[i] = bias[i] + sum over row i's entries of val * x[col], rows [i0, i1): four running sums
 * (entries k = 0, 1, 2, 3 mod 4 of the row) so that the loads of x overlap; gathers are no
 * faster on these CPUs. */
SP_KERNEL static void rows_vec(float *restrict out, const float *restrict x, const int64_t *restrict rowptr,
                               const uint16_t *restrict col, const float *restrict val, const float *bias, int i0,
                               int i1) {
  for (int i = i0; i < i1; i++) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int64_t k = rowptr[i];
    const int64_t e = rowptr[i + 1];
    for (; k + 4 <= e; k += 4) {
      s0 += val[k] * x[col[k]];
      s1 += val[k + 1] * x[col[k + 1]];
      s2 += val[k + 2] * x[col[k + 2]];
      s3 += val[k + 3] * x[col[k + 3]];
    }
    for (; k < e; k++) s0 += val[k] * x[col[k]];
    const float sum = (s0 + s1) + (s2 + s3);
    out[i] = bias ? bias[i] + sum : sum;
  }
}

/* 8 floats, loaded and stored unaligned (GCC vector extension: AVX registers on the AVX2 and
 * AVX-512 clones, SSE pairs on the baseline one) */
typedef float v8f __attribute__((vector_size(32), aligned(4)));

/* dst[q * ds + p] = src[p * ss + q] (+ add[q] when add is not NULL) for p, q < 8: an 8 x 8
 * transpose in registers (unpack, shuffle, 128-bit lane swap). */
SP_KERNEL static void transpose8(float *restrict dst, size_t ds, const float *restrict src, size_t ss,
                                 const float *restrict add) {
  typedef int v8i __attribute__((vector_size(32)));
  v8f r[8], t[8], u[8];
  for (int p = 0; p < 8; p++) r[p] = *(const v8f *)(src + p * ss);
  for (int p = 0; p < 8; p += 2) {
    t[p] = __builtin_shuffle(r[p], r[p + 1], (v8i){0, 8, 1, 9, 4, 12, 5, 13});
    t[p + 1] = __builtin_shuffle(r[p], r[p + 1], (v8i){2, 10, 3, 11, 6, 14, 7, 15});
  }
  for (int p = 0; p < 8; p += 4) {
    u[p] = __builtin_shuffle(t[p], t[p + 2], (v8i){0, 1, 8, 9, 4, 5, 12, 13});
    u[p + 1] = __builtin_shuffle(t[p], t[p + 2], (v8i){2, 3, 10, 11, 6, 7, 14, 15});
    u[p + 2] = __builtin_shuffle(t[p + 1], t[p + 3], (v8i){0, 1, 8, 9, 4, 5, 12, 13});
    u[p + 3] = __builtin_shuffle(t[p + 1], t[p + 3], (v8i){2, 3, 10, 11, 6, 7, 14, 15});
  }
  const v8f a = add ? *(const v8f *)add : (v8f){0};
  for (int q = 0; q < 4; q++) {
    *(v8f *)(dst + q * ds) = __builtin_shuffle(u[q], u[q + 4], (v8i){0, 1, 2, 3, 8, 9, 10, 11}) + a;
    *(v8f *)(dst + (q + 4) * ds) = __builtin_shuffle(u[q], u[q + 4], (v8i){4, 5, 6, 7, 12, 13, 14, 15}) + a;
  }
}

/* Rows [i0, i1) of one chunk of 8 NV token columns: yt[i - i0, c] = sum_k val[k] xt[col[k], c],
 * xt [n, 8 NV] the chunk's packed slice, yt [i1 - i0, 8 NV]; the NV accumulators stay in
 * registers. */
#define ROWS_CHUNK(NV)                                                                                              \
  SP_KERNEL static void rows_chunk##NV(float *restrict yt, const float *restrict xt,                                \
                                       const int64_t *restrict rowptr, const uint16_t *restrict col,              \
                                       const float *restrict val, int i0, int i1) {                                \
    for (int i = i0; i < i1; i++) {                                                                                 \
      v8f acc[NV];                                                                                                  \
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) acc[v] = (v8f){0};                                      \
      for (int64_t k = rowptr[i]; k < rowptr[i + 1]; k++) {                                                         \
        const v8f w = (v8f){0} + val[k];                                                                            \
        const v8f *xr = (const v8f *)(xt + (size_t)col[k] * 8 * NV);                                                 \
        _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) acc[v] += w * xr[v];                                  \
      }                                                                                                             \
      v8f *yr = (v8f *)(yt + (size_t)(i - i0) * 8 * NV);                                                                    \
      _Pragma("GCC unroll 8") for (int v = 0; v < NV; v++) yr[v] = acc[v];                                         \
    }                                                                                                               \
  }
ROWS_CHUNK(8)
ROWS_CHUNK(4)
ROWS_CHUNK(2)
ROWS_CHUNK(1)

#define ROW_GRAIN 16

/* token columns of the next chunk when `left` (a multiple of 8) remain */
static int chunk_width(int left) { return left >= 64 ? 64 : left >= 32 ? 32 : left >= 16 ? 16 : 8; }

void spmm_forward(float *out, const float *inp, const pst_csr *W, const float *bias, int N, float *scratch) {
  const int m = W->m, n = W->n;
  if (N <= 0 || m <= 0) return;
  if (N == 1) {
#pragma omp parallel
    {
      const int nt = omp_get_num_threads(), t = omp_get_thread_num();
      /* contiguous row ranges of about equal entry counts */
      const int64_t lo = W->nnz * t / nt, hi = W->nnz * (t + 1) / nt;
      int i0 = 0, i1 = 0;
      while (i0 < m && W->rowptr[i0] < lo) i0++;
      while (i1 < m && W->rowptr[i1] < hi) i1++;
      if (t == 0) i0 = 0;
      if (t == nt - 1) i1 = m;
      rows_vec(out, inp, W->rowptr, W->col, W->val, bias, i0, i1);
    }
    return;
  }
  const int ld = (N + 7) / 8 * 8;
  float *xt = scratch;
#pragma omp parallel
  {
    /* xc[j, t] = inp[c0 + t, j], chunk by chunk, in 8 x 8 tiles; padding tokens 0 */
    for (int c0 = 0; c0 < ld;) {
      const int ch = chunk_width(ld - c0), real = N - c0 < ch ? N - c0 : ch;
      float *xc = xt + (size_t)c0 * n;
#pragma omp for schedule(static)
      for (int j0 = 0; j0 < n; j0 += 8) {
        for (int t0 = 0; t0 < ch; t0 += 8)
          if (j0 + 8 <= n && t0 + 8 <= real) {
            transpose8(xc + (size_t)j0 * ch + t0, ch, inp + (size_t)(c0 + t0) * n + j0, n, NULL);
          } else {
            for (int j = j0; j < j0 + 8 && j < n; j++)
              for (int t = t0; t < t0 + 8; t++) xc[(size_t)j * ch + t] = t < real ? inp[(size_t)(c0 + t) * n + j] : 0.0f;
          }
      }
      c0 += ch;
    }
    /* rows of W in blocks of ROW_GRAIN; each block's [ROW_GRAIN, ch] result goes straight to out */
    float yb[ROW_GRAIN * 64];
    for (int c0 = 0; c0 < ld;) {
      const int ch = chunk_width(ld - c0), real = N - c0 < ch ? N - c0 : ch;
      const float *xc = xt + (size_t)c0 * n;
#pragma omp for schedule(dynamic, 1) nowait
      for (int i0 = 0; i0 < m; i0 += ROW_GRAIN) {
        const int i1 = i0 + ROW_GRAIN < m ? i0 + ROW_GRAIN : m;
        switch (ch) {
        case 64: rows_chunk8(yb, xc, W->rowptr, W->col, W->val, i0, i1); break;
        case 32: rows_chunk4(yb, xc, W->rowptr, W->col, W->val, i0, i1); break;
        case 16: rows_chunk2(yb, xc, W->rowptr, W->col, W->val, i0, i1); break;
        default: rows_chunk1(yb, xc, W->rowptr, W->col, W->val, i0, i1); break;
        }
        /* out[c0 + t, i] = yb[i - i0, t] + bias[i] */
        for (int t0 = 0; t0 < real; t0 += 8)
          for (int r0 = i0; r0 < i1; r0 += 8)
            if (t0 + 8 <= real && r0 + 8 <= i1) {
              transpose8(out + (size_t)(c0 + t0) * m + r0, m, yb + (size_t)(r0 - i0) * ch + t0, ch, bias ? bias + r0 : NULL);
            } else {
              for (int t = t0; t < t0 + 8 && t < real; t++)
                for (int i = r0; i < r0 + 8 && i < i1; i++)
                  out[(size_t)(c0 + t) * m + i] = yb[(size_t)(i - i0) * ch + t] + (bias ? bias[i] : 0.0f);
            }
      }
      c0 += ch;
    }
  }
}
