/* sparse.h — the sparse weight format of inference and its CPU product (forward only).
 *
 * A masked linear's M ⊙ W' [m, n] (out x in) is kept as CSR with 16-bit column indices:
 * rowptr int64 [m + 1], col uint16 [nnz], val f32 [nnz] — 6 bytes per kept weight instead of
 * 4 per weight, so a layer at density d costs 1.5 d of the dense bytes (n <= 65536).
 * spmm_forward computes out[N, m] = inp[N, n] W^T + bias on it:
 *   N = 1   one gathered dot product per row (decoding one sequence: memory-bound, reads
 *           only the kept weights);
 *   N > 1   inp is transposed to [n, N'] (N' = N rounded up to 8), each row of W accumulates
 *           its kept columns' rows of that transpose, 64 (or 32, 16, 8) tokens at a time in
 *           registers, and each block of rows goes back to out with the bias.
 * Rows are split over the OpenMP threads. The sums run in the row's column order, so results
 * equal the dense product up to float reassociation (tests/unit/test_spmm.c: 1e-5 relative).
 * Training never uses this: the gradients of |W'| and of the scores need the dense weight. */
#ifndef PST_SPARSE_H
#define PST_SPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "pst/core.h"

#define PST_CSR_MAX_COLS 65536

typedef struct {
  int m, n;         /* [m, n] = out x in */
  int64_t nnz;
  int64_t *rowptr;  /* [m + 1], rowptr[0] = 0, rowptr[m] = nnz */
  uint16_t *col;    /* [nnz], ascending within a row */
  float *val;       /* [nnz] */
  int owned;        /* 1: the three arrays were allocated by pst_csr_from_dense */
} pst_csr;

/* The nonzeros of the row-major dense w [m, n] (a folded M ⊙ W'), in column order per row.
 * Fails (PST_ERR_ARG) when n > PST_CSR_MAX_COLS; what names the layer in messages. */
pst_err pst_csr_from_dense(pst_csr *a, const float *w, int m, int n, const char *what);
void pst_csr_free(pst_csr *a);
/* A CSR whose arrays came from a file: shape [m, n] expected by the model, rowptr starting at
 * 0, nondecreasing, ending at nnz, every column < n. Checked once, at load (the kernels trust
 * it); errors name `what`. */
pst_err pst_csr_validate(const pst_csr *a, int m, int n, const char *what);

/* Floats of scratch that spmm_forward needs for N rows of input (n * N', 0 for N = 1). */
size_t spmm_scratch_floats(int N, int m, int n);
/* out[N, m] = inp[N, n] W^T + bias[m] (bias may be NULL); scratch as above. */
void spmm_forward(float *out, const float *inp, const pst_csr *W, const float *bias, int N, float *scratch);

/* Whether a layer of this density (kept / total) runs faster on spmm_forward than on the dense
 * product for products of N rows: the crossovers measured by bench/bench_spmm (bench/sparse_infer.sh, bench/RESULTS.md). */
int pst_sparse_pays(double density, int N);

#endif
