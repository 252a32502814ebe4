/* comm.h — the collectives that the model and the sparsity code need from their
 * tensor-parallel group, as callbacks: neither includes MPI (src/dist provides them, see
 * dist.h). A group of size 1 (or a NULL group) is a single process and never calls them.
 * Every callback is collective: all ranks of the group call it in the same order with the
 * same n, and all of them get the same return code. */
#ifndef PST_COMM_H
#define PST_COMM_H

#include <stdint.h>

#include "pst/core.h"

typedef struct pst_group {
  int rank, size;
  void *ctx;
  /* in-place element-wise sum over the group */
  pst_err (*sum_f32)(void *ctx, float *x, long n);
  pst_err (*sum_u32)(void *ctx, uint32_t *x, long n);
} pst_group;

/* 1 when g is a real multi-rank group. */
static inline int pst_group_active(const pst_group *g) { return g && g->size > 1; }

#endif
