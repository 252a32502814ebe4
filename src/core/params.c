/* params.c — named tensors in one contiguous buffer; see params.h. */
#include "pst/params.h"

#include <stdlib.h>
#include <string.h>

#include "pst/rng.h"

pst_err pst_params_add(pst_params *p, const char *name, int ndim, int64_t d0, int64_t d1,
                       int decay, int required, float **bind, float **bind_grad) {
  if (ndim < 1 || ndim > 2 || d0 <= 0 || (ndim == 2 && d1 <= 0))
    PST_ERR(PST_ERR_INTERNAL, "tensor %s: bad shape", name);
  if (strlen(name) >= sizeof p->t[0].name) PST_ERR(PST_ERR_INTERNAL, "tensor name too long: %s", name);
  if (p->n == p->cap) {
    int cap = p->cap ? 2 * p->cap : 64;
    pst_tensor_info *t = realloc(p->t, (size_t)cap * sizeof *t);
    if (!t) PST_ERR(PST_ERR_MEM, "out of memory registering %s", name);
    p->t = t;
    p->cap = cap;
  }
  pst_tensor_info *e = &p->t[p->n++];
  memset(e, 0, sizeof *e);
  strcpy(e->name, name);
  e->ndim = ndim;
  e->shape[0] = d0;
  e->shape[1] = ndim == 2 ? d1 : 1;
  e->numel = (size_t)d0 * (size_t)e->shape[1];
  /* 16-float (64-byte) alignment of every tensor */
  e->offset = (p->total + 15) / 16 * 16;
  p->total = e->offset + e->numel;
  e->decay = decay;
  e->required = required;
  e->bind = bind;
  e->bind_grad = bind_grad;
  e->shard_dim = -1;
  e->gshape[0] = e->shape[0];
  e->gshape[1] = e->shape[1];
  return PST_OK;
}

void pst_params_shard_last(pst_params *p, int dim, int64_t start, int64_t global) {
  pst_tensor_info *e = &p->t[p->n - 1];
  e->shard_dim = dim;
  e->shard_start = start;
  e->gshape[dim] = global;
}

void pst_params_partial_last(pst_params *p) { p->t[p->n - 1].tp_partial_grad = 1; }

pst_err pst_params_alloc(pst_params *p, int with_grad) {
  /* pages: a sparse inference model never touches the dense weights of its sparse linears,
   * nor any gradient (params.h) */
  PST_CHECK(pst_alloc_pages((void **)&p->data, p->total * sizeof(float), "parameters"));
  if (with_grad) PST_CHECK(pst_alloc_pages((void **)&p->grad, p->total * sizeof(float), "gradients"));
  for (int i = 0; i < p->n; i++) {
    if (p->t[i].bind) *p->t[i].bind = p->data + p->t[i].offset;
    if (p->t[i].bind_grad) *p->t[i].bind_grad = p->grad ? p->grad + p->t[i].offset : NULL;
  }
  return PST_OK;
}

const pst_tensor_info *pst_params_find(const pst_params *p, const char *name) {
  for (int i = 0; i < p->n; i++)
    if (!strcmp(p->t[i].name, name)) return &p->t[i];
  return NULL;
}

void pst_params_free(pst_params *p) {
  pst_free_pages(p->data, p->total * sizeof(float));
  pst_free_pages(p->grad, p->grad ? p->total * sizeof(float) : 0);
  free(p->t);
  memset(p, 0, sizeof *p);
}

void pst_params_fill_normal(const pst_tensor_info *t, float *x, float mean, float std, uint64_t seed,
                            uint64_t stream) {
  const int64_t gcols = t->gshape[1];
  if (t->shard_dim == 1) { /* a column block: one counter range per row */
    for (int64_t r = 0; r < t->shape[0]; r++)
      pst_rng_normal_at(x + r * t->shape[1], (size_t)t->shape[1], (uint64_t)(r * gcols + t->shard_start), mean, std,
                        seed, stream);
  } else {
    uint64_t first = t->shard_dim == 0 ? (uint64_t)(t->shard_start * gcols) : 0;
    pst_rng_normal_at(x, t->numel, first, mean, std, seed, stream);
  }
}
