/* params.h — a table of named fp32 tensors living in one contiguous buffer (llm.c habit).
 *
 * Owners register tensors first (name, shape, where to store the pointers), then
 * pst_params_alloc() allocates the value buffer (and, if asked, a gradient buffer of the
 * same layout) and binds every registered pointer into it. One buffer means one
 * allreduce, one optimizer loop and one checkpoint write. */
#ifndef PST_PARAMS_H
#define PST_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "pst/core.h"

typedef struct {
  char name[96];
  int ndim;            /* 1 or 2 (0 = scalar not used) */
  int64_t shape[2];
  size_t offset;       /* in floats from the buffer start */
  size_t numel;
  int decay;           /* weight decay applies (matrices) */
  int required;        /* must be present in a weights file (pretrained tensors) */
  float **bind;        /* where the value pointer is stored */
  float **bind_grad;   /* where the gradient pointer is stored (NULL: none) */
  /* tensor parallelism: this rank holds a slice of a global tensor [gshape0, gshape1]:
   * shard_dim = 0: rows [shard_start, shard_start + shape[0]); 1: columns
   * [shard_start, shard_start + shape[1]); -1: the whole tensor (replicated). */
  int shard_dim;
  int64_t shard_start;
  int64_t gshape[2];
  /* replicated over the tp group, but its gradient is a partial sum per rank (computed from
   * sharded activations): the gradient is summed over the tp group before the optimizer */
  int tp_partial_grad;
} pst_tensor_info;

typedef struct {
  pst_tensor_info *t;
  int n, cap;
  size_t total;        /* floats */
  float *data;         /* [total] */
  float *grad;         /* [total] or NULL */
} pst_params;

/* Register a tensor of ndim (1 or 2) dims; shape[1] ignored for ndim 1. */
pst_err pst_params_add(pst_params *p, const char *name, int ndim, int64_t d0, int64_t d1,
                       int decay, int required, float **bind, float **bind_grad);
/* Allocate data (zeroed) and optionally grad, and bind all registered pointers. */
pst_err pst_params_alloc(pst_params *p, int with_grad);
/* Mark the last registered tensor as a tp slice (dim 0 rows / 1 columns) of a global
 * tensor whose sharded dimension has extent `global`, starting at `start`. */
void pst_params_shard_last(pst_params *p, int dim, int64_t start, int64_t global);
/* Mark the last registered tensor's gradient as a per-rank partial sum over the tp group. */
void pst_params_partial_last(pst_params *p);
/* x = this rank's slice of the N(mean, std) draw of the whole (global) tensor t. */
void pst_params_fill_normal(const pst_tensor_info *t, float *x, float mean, float std, uint64_t seed,
                            uint64_t stream);
const pst_tensor_info *pst_params_find(const pst_params *p, const char *name);
void pst_params_free(pst_params *p);

#endif
