/* params.c — named tensors in one contiguous buffer; see params.h. */
#include "pst/params.h"

#include <stdlib.h>
#include <string.h>

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
  return PST_OK;
}

pst_err pst_params_alloc(pst_params *p, int with_grad) {
  PST_CHECK(pst_calloc((void **)&p->data, p->total, sizeof(float), "parameters"));
  if (with_grad) PST_CHECK(pst_calloc((void **)&p->grad, p->total, sizeof(float), "gradients"));
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
  pst_free(p->data);
  pst_free(p->grad);
  free(p->t);
  memset(p, 0, sizeof *p);
}
