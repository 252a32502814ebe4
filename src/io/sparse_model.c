/* sparse_model.c — the sparse inference file: `pst export --format sparse` writes it from a
 * checkpoint, pst_sparse_model_load runs a model from it without a dense copy of the masked
 * weights (export.h describes the layout).
 *
 * The file is safetensors (safetensors.h), read through its read-only mapping: each masked
 * linear's rowptr / col / val arrays are used in place by the sparse kernels (sparse.h), and so
 * is every other F32 tensor (the model's pointers are rebound into the mapping), so the
 * parameter buffers (pst_alloc_pages: untouched pages) are never written and cost no memory;
 * a write through a rebound pointer would fault (the mapping is read-only). Tensors are ordered I64, then F32, then U16, so that
 * every array starts at a multiple of its element size (the data section is 8-aligned). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pst/export.h"
#include "pst/safetensors.h"

#define FORMAT "pst-sparse-inference"
#define VERSION "1"

static const char *const FACTORS[] = {"U", "V", "A", "B", "R", "C", "S"};

/* Whether tensor `name` is linear `lin`'s weight or one of its trainable factors. */
static int belongs_to_linear(const char *name, const char *lin) {
  const size_t n = strlen(lin);
  if (strncmp(name, lin, n) || name[n] != '.') return 0;
  if (!strcmp(name + n + 1, "w")) return 1;
  for (size_t k = 0; k < sizeof FACTORS / sizeof *FACTORS; k++)
    if (!strcmp(name + n + 1, FACTORS[k])) return 1;
  return 0;
}

static int is_linear_part(const pst_model *m, const char *name) {
  for (int i = 0; i < pst_model_num_linears(m); i++)
    if (belongs_to_linear(name, pst_model_linear_name(m, i))) return 1;
  return 0;
}

typedef struct {
  pst_st_entry *e;
  int n, cap;
  char (*names)[112];
} entries;

static pst_err add(entries *E, const char *name, pst_dtype dt, int ndim, int64_t d0, int64_t d1, const void *data) {
  if (E->n == E->cap) {
    const int cap = E->cap ? 2 * E->cap : 256;
    pst_st_entry *e = realloc(E->e, (size_t)cap * sizeof *e);
    char(*nm)[112] = e ? realloc(E->names, (size_t)cap * sizeof *nm) : NULL;
    if (e) E->e = e;
    if (!e || !nm) PST_ERR(PST_ERR_MEM, "out of memory listing the sparse file's tensors");
    E->names = nm;
    E->cap = cap;
  }
  snprintf(E->names[E->n], sizeof E->names[E->n], "%s", name);
  pst_st_entry *x = &E->e[E->n++];
  memset(x, 0, sizeof *x);
  x->dtype = dt;
  x->ndim = ndim;
  x->shape[0] = d0;
  x->shape[1] = d1;
  x->data = data;
  return PST_OK;
}

pst_err pst_export_sparse(const char *ckpt, const char *out, const pst_export_opts *o) {
  struct stat sb;
  if (!stat(out, &sb) && !(o && o->force)) PST_ERR(PST_ERR_ARG, "'%s' exists; refusing to overwrite it (use --force)", out);
  pst_model *m;
  pst_config cfg;
  pst_ckpt_meta meta;
  PST_CHECK(pst_ckpt_load_model(ckpt, o ? &o->base : NULL, 1, 1, &m, &cfg, &meta));
  const int nl = pst_model_num_linears(m);
  entries E = {0};
  pst_csr *csr = calloc((size_t)nl, sizeof *csr);
  float **dense = calloc((size_t)nl, sizeof *dense);
  pst_err rc = csr && dense ? PST_OK : PST_ERR_MEM;
  if (rc) pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory exporting %s", ckpt);
  long kept = 0, total = 0;
  /* each linear: CSR of M ⊙ W' when it has a mask, else its effective weight dense */
  for (int i = 0; !rc && i < nl; i++) {
    int rows, cols;
    const uint8_t *mask = pst_model_linear_mask(m, i, &rows, &cols);
    if (!(dense[i] = malloc((size_t)rows * cols * sizeof(float)))) {
      rc = PST_ERR_MEM;
      pst_err_set(rc, __FILE__, __LINE__, __func__, "out of memory exporting %s", pst_model_linear_name(m, i));
      break;
    }
    pst_model_linear_weight(m, i, dense[i]);
    total += (long)rows * cols;
    if (mask) {
      rc = pst_csr_from_dense(&csr[i], dense[i], rows, cols, pst_model_linear_name(m, i));
      free(dense[i]);
      dense[i] = NULL;
      kept += rc ? 0 : (long)csr[i].nnz;
    } else {
      kept += (long)rows * cols;
    }
  }
  char nm[160];
  for (int i = 0; !rc && i < nl; i++) /* I64 first: 8-aligned */
    if (!dense[i]) {
      snprintf(nm, sizeof nm, "%s.rowptr", pst_model_linear_name(m, i));
      rc = add(&E, nm, PST_DT_I64, 1, csr[i].m + 1, 0, csr[i].rowptr);
    }
  pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  for (int k = 0; !rc && k < 2; k++) /* F32: the other tensors, dense linears, values */
    for (int j = 0; !rc && j < tabs[k]->n; j++) {
      const pst_tensor_info *t = &tabs[k]->t[j];
      if (!is_linear_part(m, t->name))
        rc = add(&E, t->name, PST_DT_F32, t->ndim, t->shape[0], t->shape[1], tabs[k]->data + t->offset);
    }
  for (int i = 0; !rc && i < nl; i++) {
    int rows, cols;
    pst_model_linear_mask(m, i, &rows, &cols);
    snprintf(nm, sizeof nm, "%s.%s", pst_model_linear_name(m, i), dense[i] ? "w" : "val");
    rc = dense[i] ? add(&E, nm, PST_DT_F32, 2, rows, cols, dense[i]) : add(&E, nm, PST_DT_F32, 1, csr[i].nnz, 0, csr[i].val);
  }
  for (int i = 0; !rc && i < nl; i++) /* U16 last */
    if (!dense[i]) {
      snprintf(nm, sizeof nm, "%s.col", pst_model_linear_name(m, i));
      rc = add(&E, nm, PST_DT_U16, 1, csr[i].nnz, 0, csr[i].col);
    }
  if (!rc) {
    for (int i = 0; i < E.n; i++) E.e[i].name = E.names[i];
    char step[32], sparsity[32];
    snprintf(step, sizeof step, "%ld", meta.step);
    snprintf(sparsity, sizeof sparsity, "%.17g", meta.sparsity);
    const char *md[] = {"format", FORMAT, "version", VERSION, "step", step, "sparsity", sparsity,
                        "base_model", meta.base_model, "config", meta.config_text, NULL};
    rc = pst_st_write(out, E.e, E.n, md);
  }
  if (!rc)
    pst_log(1, "pst: %s: %d linears, %ld of %ld weights kept (%.2f %%), step %ld\n", out, nl, kept, total,
            100.0 * kept / (total ? total : 1), meta.step);
  for (int i = 0; csr && i < nl; i++) pst_csr_free(&csr[i]);
  for (int i = 0; dense && i < nl; i++) free(dense[i]);
  free(csr);
  free(dense);
  free(E.e);
  free(E.names);
  pst_model_destroy(m);
  pst_ckpt_meta_free(&meta);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* One mapped array of linear `lin`: tensor "<lin>.<part>" of dtype dt and length n (n < 0:
 * any), aligned to its element size. */
static pst_err mapped(const pst_safetensors *st, const char *lin, const char *part, pst_dtype dt, int64_t n,
                      const void **out, int64_t *len) {
  char nm[160];
  snprintf(nm, sizeof nm, "%s.%s", lin, part);
  const pst_st_tensor *t = pst_st_find(st, nm);
  if (!t) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' is missing", pst_st_path(st), nm);
  if (t->dtype != dt || t->ndim != 1 || (n >= 0 && t->shape[0] != n))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' must be %s [%lld] (it is %s with %d dims, first %lld)", pst_st_path(st),
            nm, pst_dtype_name(dt), (long long)n, pst_dtype_name(t->dtype), t->ndim, (long long)t->shape[0]);
  *out = pst_st_data(st, t);
  *len = t->shape[0];
  if ((uintptr_t)*out % pst_dtype_size(dt))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' is not aligned to its %zu-byte elements (not written by pst export)",
            pst_st_path(st), nm, pst_dtype_size(dt));
  return PST_OK;
}

static void close_file(void *st) { pst_st_close(st); }

/* Whether model tensor t can point at file tensor ft's bytes p as they are: F32 of t's shape,
 * 4-byte aligned, reached through a bound pointer. */
static int in_place(const pst_st_tensor *ft, const pst_tensor_info *t, const void *p) {
  if (ft->dtype != PST_DT_F32 || ft->ndim != t->ndim || !t->bind || (uintptr_t)p % sizeof(float)) return 0;
  for (int d = 0; d < t->ndim; d++)
    if (ft->shape[d] != t->shape[d]) return 0;
  return 1;
}

pst_err pst_sparse_model_load(const char *path, const char *const *overrides, int noverrides, int B, int T,
                              pst_model **model, pst_config *cfg) {
  *model = NULL;
  pst_safetensors *st;
  PST_CHECK(pst_st_open(&st, path));
  pst_model *m = NULL;
  pst_err rc = PST_OK;
  const char *fmt = pst_st_metadata(st, "format"), *ver = pst_st_metadata(st, "version"),
             *text = pst_st_metadata(st, "config");
  if (!fmt || strcmp(fmt, FORMAT) || !ver || strcmp(ver, VERSION) || !text) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                "%s: not a pst sparse inference file (metadata format \"%s\" version %s and a config expected)", path,
                FORMAT, VERSION);
    rc = PST_ERR_FORMAT;
  }
  if (!rc) rc = pst_config_from_stored(text, cfg, path);
  for (int i = 0; !rc && i < noverrides; i++) rc = pst_config_set(cfg, overrides[i]);
  if (!rc) { /* the linears' weights come from the file as they are: no low-rank update, no mask */
    snprintf(cfg->method, sizeof cfg->method, "dense");
    rc = pst_model_create(&m, cfg, B, T, NULL);
  }
  const int nl = m ? pst_model_num_linears(m) : 0;
  char nm[160];
  for (int i = 0; !rc && i < nl; i++) {
    const char *lin = pst_model_linear_name(m, i);
    snprintf(nm, sizeof nm, "%s.rowptr", lin);
    if (!pst_st_find(st, nm)) continue; /* stored dense: read below with the other tensors */
    int gm, gn, sd;
    pst_model_linear_global(m, i, &gm, &gn, &sd);
    pst_csr a = {gm, gn, 0, NULL, NULL, NULL, 0};
    const void *p;
    int64_t len;
    rc = mapped(st, lin, "rowptr", PST_DT_I64, (int64_t)gm + 1, &p, &len);
    if (!rc) {
      a.rowptr = (int64_t *)p;
      a.nnz = a.rowptr[gm];
      if (a.nnz < 0 || a.nnz > (int64_t)gm * gn) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: %s.rowptr ends at %lld, outside [0, %lld]",
                    path, lin, (long long)a.nnz, (long long)gm * gn);
        rc = PST_ERR_FORMAT;
      }
    }
    if (!rc) rc = mapped(st, lin, "col", PST_DT_U16, a.nnz, &p, &len);
    if (!rc) a.col = (uint16_t *)p, rc = mapped(st, lin, "val", PST_DT_F32, a.nnz, &p, &len);
    if (!rc) a.val = (float *)p, rc = pst_model_set_sparse(m, i, &a, path);
  }
  pst_params *tabs[2] = {m ? pst_model_frozen(m) : NULL, m ? pst_model_trainables(m) : NULL};
  for (int k = 0; !rc && k < 2; k++)
    for (int j = 0; !rc && j < tabs[k]->n; j++) {
      const pst_tensor_info *t = &tabs[k]->t[j];
      const size_t len = strlen(t->name);
      snprintf(nm, sizeof nm, "%.*s.rowptr", (int)(len > 2 ? len - 2 : 0), t->name);
      if (len > 2 && !strcmp(t->name + len - 2, ".w") && pst_st_find(st, nm)) continue; /* a sparse linear */
      const pst_st_tensor *ft = pst_st_find(st, t->name);
      if (ft && in_place(ft, t, pst_st_data(st, ft))) { /* used from the mapping: no copy */
        *t->bind = (float *)pst_st_data(st, ft);
        continue;
      }
      rc = pst_st_read_param(st, t->name, t, tabs[k]->data + t->offset);
    }
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_model_destroy(m);
    pst_st_close(st);
    return rc;
  }
  pst_model_hold(m, st, close_file);
  long sp, all;
  pst_model_sparse_share(m, &sp, &all);
  pst_log(1, "pst: %s: %ld of %ld linears sparse (step %s, sparsity %s)\n", path, sp, all,
          pst_st_metadata(st, "step") ? pst_st_metadata(st, "step") : "?",
          pst_st_metadata(st, "sparsity") ? pst_st_metadata(st, "sparsity") : "?");
  *model = m;
  return PST_OK;
}
