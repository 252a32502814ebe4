/* checkpoint.c — HDF5 checkpoints, written and read collectively (checkpoint.h; the layout
 * is documented in doc/checkpoint-format.md).
 *
 * Who writes what: the replicas of dp rank 0 hold the state; of a tensor sharded over tp each
 * tp rank writes its slice (a row or column hyperslab of the global dataset), a replicated
 * tensor is written by tp rank 0; every other rank takes part with an empty selection (HDF5's
 * collective calls need them all). The sparse weight of a layer is stored as global CSR
 * (row pointers int64 [gm+1], column indices int32 [nnz], values f32 [nnz]): a rank that
 * holds a column block first trades its nonzeros with the tp group (MPI_Alltoallv) so that it
 * owns a row block, whose entries are then one contiguous range of the CSR arrays. */
#include "pst/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/tokenizer.h"
#include "h5util.h"

#define COMM(h) (*(MPI_Comm *)(h))
#define CHUNK_BYTES (1 << 20)

void pst_ckpt_meta_free(pst_ckpt_meta *meta) {
  free(meta->config_text);
  free(meta->results_json);
  meta->config_text = meta->results_json = NULL;
}

void pst_ckpt_path(char *out, size_t n, const char *dir, long step) { snprintf(out, n, "%s/ckpt-%08ld.h5", dir, step); }

static int cmp_desc(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x < y) - (x > y);
}

int pst_ckpt_list(const char *dir, long *steps, int cap) {
  DIR *dp = opendir(dir);
  if (!dp) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dp)) && n < cap) {
    long s;
    char tail[8];
    if (sscanf(e->d_name, "ckpt-%ld.%7s", &s, tail) == 2 && !strcmp(tail, "h5")) steps[n++] = s;
  }
  closedir(dp);
  qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
  return n;
}

void pst_ckpt_prune(const char *dir, int keep, long protect) {
  long steps[4096];
  int n = pst_ckpt_list(dir, steps, 4096);
  char path[PST_PATH_MAX + 32];
  for (int i = keep; i < n; i++) {
    if (steps[i] == protect) continue;
    pst_ckpt_path(path, sizeof path, dir, steps[i]);
    remove(path);
  }
}

pst_err pst_file_sha256(const char *path, char hex[65]) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) PST_ERR(PST_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st)) {
    close(fd);
    PST_ERR(PST_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
  }
  void *p = st.st_size ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  close(fd);
  if (p == MAP_FAILED) PST_ERR(PST_ERR_IO, "cannot map '%s': %s", path, strerror(errno));
  pst_sha256_hex(p ? p : "", (size_t)st.st_size, hex);
  if (p) munmap(p, (size_t)st.st_size);
  return PST_OK;
}

/* ---- HDF5 helpers (return < 0 on failure, like HDF5) ---- */

/* A chunked, Fletcher32-checked dataset of global dims (n = 0: contiguous, nothing to check). */
static hid_t ds_create(hid_t loc, const char *name, hid_t type, int nd, const hsize_t *dims) {
  hid_t sp = H5Screate_simple(nd, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hsize_t numel = 1, chunk[2] = {dims[0], nd > 1 ? dims[1] : 1};
  for (int i = 0; i < nd; i++) numel *= dims[i];
  if (numel > 0) {
    /* ~1 MiB chunks of whole rows, split evenly so the last chunk is nearly full (a chunk is
     * stored whole: rounding up to fixed-size chunks cost 30 % of a checkpoint's size) */
    size_t esz = H5Tget_size(type);
    hsize_t row = nd > 1 ? dims[1] : 1, row_bytes = row * esz;
    if (nd > 1 && row_bytes > CHUNK_BYTES) { /* rows longer than a chunk: split them too */
      hsize_t parts = (row_bytes + CHUNK_BYTES - 1) / CHUNK_BYTES;
      chunk[0] = 1;
      chunk[1] = (row + parts - 1) / parts;
    } else {
      hsize_t total = dims[0] * row_bytes, nchunks = (total + CHUNK_BYTES - 1) / CHUNK_BYTES;
      chunk[0] = (dims[0] + nchunks - 1) / nchunks;
    }
    H5Pset_chunk(dcpl, nd, chunk);
    H5Pset_fletcher32(dcpl);
  }
  hid_t ds = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return ds;
}

/* Write (or read) the hyperslab [start, start+count) of ds from buf; active = 0: take part
 * with an empty selection. */
static herr_t ds_io(hid_t ds, hid_t type, hid_t dxpl, int nd, const hsize_t *start, const hsize_t *count, void *buf,
                    int active, int write) {
  hid_t fs = H5Dget_space(ds);
  hsize_t numel = 1;
  for (int i = 0; i < nd; i++) numel *= active ? count[i] : 0;
  hid_t ms = H5Screate_simple(1, &numel, NULL);
  herr_t rc;
  if (active && numel > 0) {
    rc = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
  } else {
    rc = H5Sselect_none(fs);
    if (rc >= 0) rc = H5Sselect_none(ms);
  }
  static float dummy;
  if (rc >= 0) rc = write ? H5Dwrite(ds, type, ms, fs, dxpl, buf ? buf : &dummy) : H5Dread(ds, type, ms, fs, dxpl, buf ? buf : &dummy);
  H5Sclose(ms);
  H5Sclose(fs);
  return rc;
}

/* ---- file access over the world (or serial without MPI) ---- */

/* Files are created in the newest format of the library: its object headers (attributes) and
 * chunk indexes carry checksums, where the oldest format's metadata carries none. */
static hid_t file_access(const pst_dist *d, const char *hints) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (d && d->world) {
    /* ckpt.mpiio_hints "k=v,k=v" (syntax checked with the config) into an MPI_Info; HDF5
     * keeps its own copy */
    MPI_Info info = MPI_INFO_NULL;
    if (hints && hints[0]) {
      MPI_Info_create(&info);
      char buf[256], *save = NULL;
      snprintf(buf, sizeof buf, "%s", hints);
      for (char *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq) continue;
        *eq = 0;
        MPI_Info_set(info, kv, eq + 1);
      }
    }
    H5Pset_fapl_mpio(fapl, COMM(d->world), info);
    if (info != MPI_INFO_NULL) MPI_Info_free(&info);
  }
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  return fapl;
}

/* Group (and file: the root group) creation: links and attributes stay in the object header,
 * which the newest format checksums. Past 8 links (or attributes) HDF5 moves them into a
 * fractal heap whose blocks it does not checksum, and HDF 1.10 crashes on some damaged ones. */
static hid_t group_props(hid_t cls) {
  hid_t pl = H5Pcreate(cls);
  H5Pset_link_phase_change(pl, 65535, 65535);
  H5Pset_attr_phase_change(pl, 65535, 65535);
  return pl;
}

static hid_t group_create(hid_t loc, const char *name) {
  hid_t gcpl = group_props(H5P_GROUP_CREATE);
  hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* ---- content checksums (h5util.h: pst_h5_xsum) ---- */

/* The datasets written or read so far and this rank's partial checksum of each. */
typedef struct {
  char (*path)[192];
  uint64_t *v, *want; /* partial sums; the stored attribute (reading) */
  int n, cap;
} xsum_list;

static int xsum_add(xsum_list *l, const char *path, uint64_t v, uint64_t want) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 256;
    char(*p)[192] = realloc(l->path, (size_t)cap * sizeof *p);
    if (p) l->path = p;
    uint64_t *a = p ? realloc(l->v, (size_t)cap * sizeof *a) : NULL;
    if (a) l->v = a;
    uint64_t *b = a ? realloc(l->want, (size_t)cap * sizeof *b) : NULL;
    if (!b) return -1;
    l->want = b;
    l->cap = cap;
  }
  snprintf(l->path[l->n], sizeof l->path[0], "%s", path);
  l->v[l->n] = v;
  l->want[l->n++] = want;
  return 0;
}

static void xsum_free(xsum_list *l) {
  free(l->path);
  free(l->v);
  free(l->want);
  memset(l, 0, sizeof *l);
}

/* Sum the partial checksums over the world (every rank then holds the whole tensors'). */
static void xsum_reduce(const pst_dist *d, xsum_list *l) {
  if (d && d->world && l->n > 0)
    MPI_Allreduce(MPI_IN_PLACE, l->v, l->n, MPI_UINT64_T, MPI_SUM, COMM(d->world));
}

static hid_t transfer(const pst_dist *d, int collective) {
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (d && d->world) H5Pset_dxpl_mpio(dxpl, collective ? H5FD_MPIO_COLLECTIVE : H5FD_MPIO_INDEPENDENT);
  return dxpl;
}

/* The worst (largest) error code over all ranks: every rank then fails alike. */
static pst_err agree(const pst_dist *d, pst_err rc) {
  int v = rc;
  if (d && d->world) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, COMM(d->world));
  return v;
}

/* The global slab of tensor t held by this rank. */
static void tensor_slab(const pst_tensor_info *t, hsize_t start[2], hsize_t count[2]) {
  start[0] = start[1] = 0;
  count[0] = (hsize_t)t->shape[0];
  count[1] = (hsize_t)t->shape[1];
  if (t->shard_dim >= 0) start[t->shard_dim] = (hsize_t)t->shard_start;
}

/* ---- the sparse weights in CSR ---- */

typedef struct {
  long rows, row0;   /* the row block this rank owns (after the exchange) */
  int64_t *rowptr;   /* [rows + 1], local (from 0) */
  int32_t *col;      /* global column indices */
  float *val;
  long nnz;
} csr_block;

static void csr_free(csr_block *c) {
  free(c->rowptr);
  free(c->col);
  free(c->val);
  memset(c, 0, sizeof *c);
}

/* CSR of the local dense slice w [rows, cols] (mask may be NULL: keep everything). */
static pst_err csr_from_dense(csr_block *c, const float *w, const uint8_t *mask, long rows, long cols, long row0,
                              long col0) {
  memset(c, 0, sizeof *c);
  c->rows = rows;
  c->row0 = row0;
  long nnz = 0;
  for (long i = 0; i < rows * cols; i++) nnz += mask ? mask[i] != 0 : 1;
  c->rowptr = malloc((size_t)(rows + 1) * sizeof *c->rowptr);
  c->col = malloc((size_t)(nnz ? nnz : 1) * sizeof *c->col);
  c->val = malloc((size_t)(nnz ? nnz : 1) * sizeof *c->val);
  if (!c->rowptr || !c->col || !c->val) {
    csr_free(c);
    PST_ERR(PST_ERR_MEM, "out of memory for a sparse weight");
  }
  long k = 0;
  for (long r = 0; r < rows; r++) {
    c->rowptr[r] = k;
    for (long j = 0; j < cols; j++)
      if (!mask || mask[r * cols + j]) {
        c->col[k] = (int32_t)(col0 + j);
        c->val[k++] = w[r * cols + j];
      }
  }
  c->rowptr[rows] = k;
  c->nnz = k;
  return PST_OK;
}

/* A column block (rows = gm, columns [col0, col0 + cols)) becomes row block tp_rank of gm /
 * tp rows with every column: rank k sends each row-block owner its entries of those rows. */
static pst_err csr_to_row_block(csr_block *c, const pst_dist *d, long gm) {
  const int tp = d->tp, me = d->tp_rank;
  const long rb = gm / tp;
  MPI_Comm comm = COMM(d->tp_comm);
  int *scnt = calloc((size_t)tp * 4, sizeof(int)), *sdis = scnt + tp, *rcnt = scnt + 2 * tp, *rdis = scnt + 3 * tp;
  int *rowc = NULL;
  int64_t *newptr = NULL;
  int32_t *rcol = NULL;
  float *rval = NULL;
  pst_err rc = PST_OK;
  if (!scnt) PST_ERR(PST_ERR_MEM, "out of memory exchanging a sparse weight");
  /* per-row counts: to rank j go the counts of rows [j rb, (j+1) rb) */
  int *myc = malloc((size_t)gm * sizeof *myc);
  rowc = malloc((size_t)rb * tp * sizeof *rowc);
  newptr = malloc((size_t)(rb + 1) * sizeof *newptr);
  if (!myc || !rowc || !newptr) {
    rc = PST_ERR_MEM;
    goto done;
  }
  for (long r = 0; r < gm; r++) myc[r] = (int)(c->rowptr[r + 1] - c->rowptr[r]);
  MPI_Alltoall(myc, (int)rb, MPI_INT, rowc, (int)rb, MPI_INT, comm); /* rowc[k][i]: rank k's count of my row i */
  for (int j = 0; j < tp; j++) {
    scnt[j] = (int)(c->rowptr[(j + 1) * rb] - c->rowptr[j * rb]);
    sdis[j] = (int)c->rowptr[j * rb];
  }
  long total = 0;
  for (int k = 0; k < tp; k++) {
    long s = 0;
    for (long i = 0; i < rb; i++) s += rowc[k * rb + i];
    rcnt[k] = (int)s;
    rdis[k] = (int)total;
    total += s;
  }
  rcol = malloc((size_t)(total ? total : 1) * sizeof *rcol);
  rval = malloc((size_t)(total ? total : 1) * sizeof *rval);
  int32_t *ocol = malloc((size_t)(total ? total : 1) * sizeof *ocol);
  float *oval = malloc((size_t)(total ? total : 1) * sizeof *oval);
  if (!rcol || !rval || !ocol || !oval) {
    free(ocol);
    free(oval);
    rc = PST_ERR_MEM;
    goto done;
  }
  MPI_Alltoallv(c->col, scnt, sdis, MPI_INT32_T, rcol, rcnt, rdis, MPI_INT32_T, comm);
  MPI_Alltoallv(c->val, scnt, sdis, MPI_FLOAT, rval, rcnt, rdis, MPI_FLOAT, comm);
  /* merge: row i = rank 0's entries of row i, then rank 1's, ... (column blocks ascend) */
  long k = 0;
  for (long i = 0; i < rb; i++) {
    newptr[i] = k;
    for (int src = 0; src < tp; src++) {
      long off = rdis[src];
      for (long q = 0; q < i; q++) off += rowc[src * rb + q];
      for (int e = 0; e < rowc[src * rb + i]; e++) {
        ocol[k] = rcol[off + e];
        oval[k++] = rval[off + e];
      }
    }
  }
  newptr[rb] = k;
  csr_free(c);
  c->rows = rb;
  c->row0 = me * rb;
  c->rowptr = newptr;
  c->col = ocol;
  c->val = oval;
  c->nnz = k;
  newptr = NULL;
done:
  free(myc);
  free(rowc);
  free(newptr);
  free(rcol);
  free(rval);
  free(scnt);
  if (rc) PST_ERR(rc, "out of memory exchanging a sparse weight");
  return PST_OK;
}

/* Write layer i's M ⊙ W' as /sparse/<name>/{rowptr, col, val} (+ nnz attribute). */
static pst_err write_sparse(hid_t grp, pst_dist *d, pst_model *m, int i, hid_t dxpl, float *wbuf, xsum_list *xs) {
  int rows, cols, gm, gn, sd;
  const uint8_t *mask = pst_model_linear_mask(m, i, &rows, &cols);
  pst_model_linear_global(m, i, &gm, &gn, &sd);
  pst_model_linear_weight(m, i, wbuf);
  const int tp = d->tp, me = d->tp_rank;
  const long row0 = sd == 0 ? (long)me * rows : 0, col0 = sd == 1 ? (long)me * cols : 0;
  csr_block c;
  PST_CHECK(csr_from_dense(&c, wbuf, mask, rows, cols, row0, col0));
  if (sd == 1) {
    pst_err rc = csr_to_row_block(&c, d, gm);
    if (rc) { csr_free(&c); return rc; }
  }
  /* global offsets of this row block: an exclusive prefix over the tp group (whole
   * matrix per rank when the layer is not sharded) */
  long before = 0, nnz = c.nnz;
  if (sd >= 0 && tp > 1) {
    MPI_Exscan(&c.nnz, &before, 1, MPI_LONG, MPI_SUM, COMM(d->tp_comm));
    if (me == 0) before = 0;
    MPI_Allreduce(&c.nnz, &nnz, 1, MPI_LONG, MPI_SUM, COMM(d->tp_comm));
  }
  const int active = d->dp_rank == 0 && (sd >= 0 || me == 0);
  const int last = sd < 0 || me == tp - 1;
  for (long r = 0; r <= c.rows; r++) c.rowptr[r] += before;
  hid_t g = group_create(grp, pst_model_linear_name(m, i));
  hsize_t dp1 = (hsize_t)gm + 1, dnz = (hsize_t)nnz;
  hid_t dr = ds_create(g, "rowptr", H5T_STD_I64LE, 1, &dp1);
  hid_t dc = ds_create(g, "col", H5T_STD_I32LE, 1, &dnz);
  hid_t dv = ds_create(g, "val", H5T_IEEE_F32LE, 1, &dnz);
  hsize_t rs = (hsize_t)c.row0, rn = (hsize_t)c.rows + (last ? 1 : 0), vs = (hsize_t)before, vn = (hsize_t)c.nnz;
  long nnz_attr = nnz;
  herr_t h = g < 0 || dr < 0 || dc < 0 || dv < 0 ? -1 : 0;
  if (h >= 0) h = ds_io(dr, H5T_NATIVE_INT64, dxpl, 1, &rs, &rn, c.rowptr, active, 1);
  if (h >= 0) h = ds_io(dc, H5T_NATIVE_INT32, dxpl, 1, &vs, &vn, c.col, active, 1);
  if (h >= 0) h = ds_io(dv, H5T_NATIVE_FLOAT, dxpl, 1, &vs, &vn, c.val, active, 1);
  char path[200];
  const char *ln = pst_model_linear_name(m, i);
  snprintf(path, sizeof path, "/sparse/%s/rowptr", ln);
  if (h >= 0) h = xsum_add(xs, path, active ? pst_h5_xsum(c.rowptr, 8, 1, &dp1, &rs, &rn) : 0, 0);
  snprintf(path, sizeof path, "/sparse/%s/col", ln);
  if (h >= 0) h = xsum_add(xs, path, active ? pst_h5_xsum(c.col, 4, 1, &dnz, &vs, &vn) : 0, 0);
  snprintf(path, sizeof path, "/sparse/%s/val", ln);
  if (h >= 0) h = xsum_add(xs, path, active ? pst_h5_xsum(c.val, 4, 1, &dnz, &vs, &vn) : 0, 0);
  if (h >= 0) h = pst_h5_attr_write(g, "nnz", H5T_NATIVE_LONG, 0, &nnz_attr);
  int shape[2] = {gm, gn};
  if (h >= 0) h = pst_h5_attr_write(g, "shape", H5T_NATIVE_INT, 2, shape);
  if (dr >= 0) H5Dclose(dr);
  if (dc >= 0) H5Dclose(dc);
  if (dv >= 0) H5Dclose(dv);
  if (g >= 0) H5Gclose(g);
  csr_free(&c);
  if (h < 0) PST_ERR(PST_ERR_IO, "cannot write the sparse weight of %s", pst_model_linear_name(m, i));
  return PST_OK;
}

/* A byte string as the 1-D u8 dataset /meta/<name> written by world rank 0. */
static herr_t write_text(hid_t loc, const char *name, const char *text, const pst_dist *d, hid_t dxpl, xsum_list *xs) {
  hsize_t n = (hsize_t)strlen(text), s0 = 0;
  hid_t ds = ds_create(loc, name, H5T_STD_U8LE, 1, &n);
  herr_t rc = ds < 0 ? -1 : ds_io(ds, H5T_NATIVE_UCHAR, dxpl, 1, &s0, &n, (void *)text, d->world_rank == 0, 1);
  if (ds >= 0) H5Dclose(ds);
  char path[96];
  snprintf(path, sizeof path, "/meta/%s", name);
  if (rc >= 0) rc = xsum_add(xs, path, d->world_rank == 0 ? pst_h5_xsum(text, 1, 1, &n, &s0, &n) : 0, 0);
  return rc;
}

static pst_err write_all(hid_t f, pst_dist *d, pst_model *m, const pst_adamw *opt, const pst_ckpt_meta *meta) {
  hid_t dxpl = transfer(d, 1);
  pst_err rc = PST_OK;
  long v[4] = {meta->step, meta->epoch, meta->cursor, meta->total_steps};
  int ver = PST_CKPT_VERSION, layout[2] = {d->dp, d->tp};
  herr_t h = pst_h5_attr_write_str(f, "format", PST_CKPT_FORMAT);
  if (h >= 0) h = pst_h5_attr_write(f, "version", H5T_NATIVE_INT, 0, &ver);
  if (h >= 0) h = pst_h5_attr_write(f, "step", H5T_NATIVE_LONG, 0, &v[0]);
  if (h >= 0) h = pst_h5_attr_write(f, "epoch", H5T_NATIVE_LONG, 0, &v[1]);
  if (h >= 0) h = pst_h5_attr_write(f, "data_cursor", H5T_NATIVE_LONG, 0, &v[2]);
  if (h >= 0) h = pst_h5_attr_write(f, "total_steps", H5T_NATIVE_LONG, 0, &v[3]);
  if (h >= 0) h = pst_h5_attr_write(f, "sparsity", H5T_NATIVE_DOUBLE, 0, &meta->sparsity);
  if (h >= 0) h = pst_h5_attr_write(f, "seed", H5T_NATIVE_UINT64, 0, &meta->seed);
  if (h >= 0) h = pst_h5_attr_write(f, "layout_dp", H5T_NATIVE_INT, 0, &layout[0]);
  if (h >= 0) h = pst_h5_attr_write(f, "layout_tp", H5T_NATIVE_INT, 0, &layout[1]);
  if (h >= 0) h = pst_h5_attr_write_str(f, "base_model", meta->base_model);
  if (h >= 0) h = pst_h5_attr_write_str(f, "base_sha256", meta->base_sha256);
  hid_t gm = group_create(f, "meta");
  xsum_list xs = {0};
  if (h >= 0) h = gm < 0 ? -1 : write_text(gm, "config", meta->config_text ? meta->config_text : "", d, dxpl, &xs);
  if (h >= 0) h = write_text(gm, "results", meta->results_json ? meta->results_json : "{}", d, dxpl, &xs);
  if (gm >= 0) H5Gclose(gm);
  if (h < 0) {
    H5Pclose(dxpl);
    xsum_free(&xs);
    PST_ERR(PST_ERR_IO, "cannot write the checkpoint's attributes");
  }
  const pst_params *p = pst_model_trainables(m);
  const char *groups[3] = {"trainable", "adam_m", "adam_v"};
  const float *bufs[3] = {p->data, opt->m, opt->v};
  for (int g = 0; g < 3 && !rc; g++) {
    hid_t grp = group_create(f, groups[g]);
    for (int i = 0; i < p->n && grp >= 0; i++) {
      const pst_tensor_info *t = &p->t[i];
      hsize_t dims[2] = {(hsize_t)t->gshape[0], (hsize_t)t->gshape[1]}, start[2], count[2];
      tensor_slab(t, start, count);
      const int active = d->dp_rank == 0 && (t->shard_dim >= 0 || d->tp_rank == 0);
      hid_t ds = ds_create(grp, t->name, H5T_IEEE_F32LE, t->ndim, dims);
      h = ds < 0 ? -1 : ds_io(ds, H5T_NATIVE_FLOAT, dxpl, t->ndim, start, count, (void *)(bufs[g] + t->offset), active, 1);
      if (ds >= 0) H5Dclose(ds);
      char path[200];
      snprintf(path, sizeof path, "/%s/%s", groups[g], t->name);
      if (h >= 0)
        h = xsum_add(&xs, path, active ? pst_h5_xsum(bufs[g] + t->offset, 4, t->ndim, dims, start, count) : 0, 0);
      if (h < 0) {
        pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write /%s/%s", groups[g], t->name);
        rc = PST_ERR_IO;
        break;
      }
    }
    if (grp < 0 && !rc) {
      pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot create group /%s", groups[g]);
      rc = PST_ERR_IO;
    }
    if (grp >= 0) H5Gclose(grp);
  }
  if (!rc && meta->sparse) {
    hid_t sp = group_create(f, "sparse");
    int rows, cols;
    long most = 0;
    for (int i = 0; i < pst_model_num_linears(m); i++) {
      pst_model_linear_mask(m, i, &rows, &cols);
      if ((long)rows * cols > most) most = (long)rows * cols;
    }
    float *wbuf = malloc((size_t)most * sizeof(float));
    if (sp < 0 || !wbuf) {
      pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot create /sparse");
      rc = PST_ERR_IO;
    }
    for (int i = 0; !rc && i < pst_model_num_linears(m); i++) rc = write_sparse(sp, d, m, i, dxpl, wbuf, &xs);
    free(wbuf);
    if (sp >= 0) H5Gclose(sp);
  }
  if (!(rc = agree(d, rc))) { /* every dataset's content checksum, summed over the ranks' slabs */
    xsum_reduce(d, &xs);
    for (int i = 0; i < xs.n && !rc; i++)
      if (pst_h5_xsum_write(f, xs.path[i], xs.v[i]) < 0) {
        pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write the checksum of %s", xs.path[i]);
        rc = PST_ERR_IO;
      }
  }
  xsum_free(&xs);
  H5Pclose(dxpl);
  return rc;
}

pst_err pst_ckpt_write(const char *path, pst_dist *d, pst_model *m, const pst_adamw *opt, const pst_ckpt_meta *meta) {
  char tmp[PST_PATH_MAX + 16];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t fapl = file_access(d, meta->mpiio_hints);
  hid_t fcpl = group_props(H5P_FILE_CREATE);
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  pst_err rc = f < 0 ? PST_ERR_IO : PST_OK;
  if (f < 0) pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot create '%s'", tmp);
  if (!rc) rc = write_all(f, d, m, opt, meta);
  if (f >= 0 && (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || H5Fclose(f) < 0) && !rc) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot flush '%s'", tmp);
    rc = PST_ERR_IO;
  }
  if ((rc = agree(d, rc))) {
    if (d->world_rank == 0) remove(tmp);
    PST_ERR(rc, "checkpoint %s was not written (the previous one is untouched)", path);
  }
  if (d->world_rank == 0) { /* durable before it is visible under its name */
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
      fsync(fd);
      close(fd);
    }
    if (rename(tmp, path)) rc = PST_ERR_IO;
    char dir[PST_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
      fsync(fd);
      close(fd);
    }
  }
  if ((rc = agree(d, rc))) PST_ERR(rc, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
  return PST_OK;
}

/* ---- reading ---- */

pst_err pst_ckpt_meta_read_h5(hid_t f, const char *path, pst_ckpt_meta *meta) {
  memset(meta, 0, sizeof *meta);
  char fmt[64] = "";
  int ver = 0;
  if (pst_h5_attr_read_str(f, "format", fmt, sizeof fmt) < 0 || strcmp(fmt, PST_CKPT_FORMAT))
    PST_ERR(PST_ERR_FORMAT, "%s: not a pst checkpoint (format attribute '%s')", path, fmt);
  if (pst_h5_attr_read(f, "version", H5T_NATIVE_INT, &ver) < 0 || ver != PST_CKPT_VERSION)
    PST_ERR(PST_ERR_FORMAT, "%s: checkpoint version %d, this pst reads version %d", path, ver, PST_CKPT_VERSION);
  if (pst_h5_attr_read(f, "step", H5T_NATIVE_LONG, &meta->step) < 0 || pst_h5_attr_read(f, "epoch", H5T_NATIVE_LONG, &meta->epoch) < 0 ||
      pst_h5_attr_read(f, "data_cursor", H5T_NATIVE_LONG, &meta->cursor) < 0 ||
      pst_h5_attr_read(f, "total_steps", H5T_NATIVE_LONG, &meta->total_steps) < 0 ||
      pst_h5_attr_read(f, "sparsity", H5T_NATIVE_DOUBLE, &meta->sparsity) < 0 ||
      pst_h5_attr_read(f, "seed", H5T_NATIVE_UINT64, &meta->seed) < 0 || pst_h5_attr_read(f, "layout_dp", H5T_NATIVE_INT, &meta->dp) < 0 ||
      pst_h5_attr_read(f, "layout_tp", H5T_NATIVE_INT, &meta->tp) < 0 ||
      pst_h5_attr_read_str(f, "base_model", meta->base_model, sizeof meta->base_model) < 0 ||
      pst_h5_attr_read_str(f, "base_sha256", meta->base_sha256, sizeof meta->base_sha256) < 0)
    PST_ERR(PST_ERR_FORMAT, "%s: a root attribute is missing or unreadable", path);
  meta->sparse = H5Lexists(f, "sparse", H5P_DEFAULT) > 0;
  meta->config_text = pst_h5_read_text(f, "meta/config");
  meta->results_json = pst_h5_read_text(f, "meta/results");
  if (!meta->config_text || !meta->results_json) {
    pst_ckpt_meta_free(meta);
    PST_ERR(PST_ERR_FORMAT, "%s: /meta/config or /meta/results is unreadable (checksum?)", path);
  }
  return PST_OK;
}

pst_err pst_ckpt_read_meta(const char *path, pst_ckpt_meta *meta) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) PST_ERR(PST_ERR_IO, "cannot open checkpoint '%s' (missing, truncated or not HDF5)", path);
  pst_err rc = pst_ckpt_meta_read_h5(f, path, meta);
  H5Fclose(f);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* Read a whole CSR layer and check its structure and its datasets' content checksums (every
 * chunk's Fletcher32 is verified by the read itself). */
static pst_err verify_sparse(hid_t sp, const char *path, const char *name) {
  hid_t g = H5Gopen2(sp, name, H5P_DEFAULT);
  if (g < 0) PST_ERR(PST_ERR_FORMAT, "%s: /sparse/%s is missing", path, name);
  long nnz = -1;
  int shape[2] = {0, 0};
  herr_t h = pst_h5_attr_read(g, "shape", H5T_NATIVE_INT, shape);
  if (h >= 0) h = pst_h5_attr_read(g, "nnz", H5T_NATIVE_LONG, &nnz);
  if (h >= 0 && (shape[0] < 1 || shape[1] < 1 || nnz < 0 || nnz > (long)shape[0] * shape[1])) h = -1; /* damaged */
  int64_t *rp = h >= 0 ? malloc(((size_t)shape[0] + 1) * sizeof *rp) : NULL;
  int32_t *col = h >= 0 && nnz >= 0 ? malloc((size_t)(nnz ? nnz : 1) * sizeof *col) : NULL;
  float *val = col ? malloc((size_t)(nnz ? nnz : 1) * sizeof *val) : NULL;
  pst_err rc = PST_OK;
  const char *what = "its attributes";
  if (!rp || !col || !val) rc = PST_ERR_FORMAT;
  hid_t ds;
#define RD(nm, ftype, type, buf, count)                                                                              \
  if (!rc) {                                                                                           \
    what = nm;                                                                                         \
    ds = H5Dopen2(g, nm, H5P_DEFAULT);                                                                 \
    if (ds < 0 || !pst_h5_dataset_is(ds, ftype, count) || (nnz > 0 || strcmp(nm, "rowptr") == 0 ? H5Dread(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 : 0)) \
      rc = PST_ERR_FORMAT;                                                                             \
    hsize_t n_ = (hsize_t)(count), z_ = 0;                                                             \
    uint64_t want_;                                                                                    \
    if (!rc && (pst_h5_xsum_read(ds, &want_) != 1 || pst_h5_xsum(buf, sizeof *(buf), 1, &n_, &z_, &n_) != want_)) \
      rc = PST_ERR_FORMAT;                                                                             \
    if (ds >= 0) H5Dclose(ds);                                                                         \
  }
  RD("rowptr", H5T_STD_I64LE, H5T_NATIVE_INT64, rp, (long long)shape[0] + 1)
  RD("col", H5T_STD_I32LE, H5T_NATIVE_INT32, col, nnz)
  RD("val", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, val, nnz)
#undef RD
  if (!rc) {
    what = "its structure";
    if (rp[0] != 0 || rp[shape[0]] != nnz) rc = PST_ERR_FORMAT;
    for (long r = 0; !rc && r < shape[0]; r++)
      if (rp[r + 1] < rp[r]) rc = PST_ERR_FORMAT;
    for (long k = 0; !rc && k < nnz; k++)
      if (col[k] < 0 || col[k] >= shape[1]) rc = PST_ERR_FORMAT;
  }
  free(rp);
  free(col);
  free(val);
  H5Gclose(g);
  if (rc) PST_ERR(rc, "%s: /sparse/%s: %s fails verification (corrupted: checksum or structure)", path, name, what);
  return PST_OK;
}

static pst_err read_all(hid_t f, const char *path, pst_dist *d, pst_model *m, pst_adamw *opt) {
  pst_params *p = pst_model_trainables(m);
  hid_t dxpl = transfer(d, 0);
  xsum_list xs = {0};
  const char *groups[3] = {"trainable", "adam_m", "adam_v"};
  float *bufs[3] = {p->data, opt->m, opt->v};
  pst_err rc = PST_OK;
  for (int g = 0; g < 3 && !rc; g++)
    for (int i = 0; i < p->n && !rc; i++) {
      const pst_tensor_info *t = &p->t[i];
      char name[160];
      snprintf(name, sizeof name, "%s/%s", groups[g], t->name);
      hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
      if (ds < 0) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s is missing (a checkpoint of another model or method?)", path, name);
        rc = PST_ERR_FORMAT;
        break;
      }
      if (!pst_h5_dataset_is(ds, H5T_IEEE_F32LE, (long long)(t->gshape[0] * t->gshape[1]))) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                    "%s: /%s is not float32 [%lld, %lld] or its layout is damaged (a checkpoint of another model?)", path,
                    name, (long long)t->gshape[0], (long long)t->gshape[1]);
        rc = PST_ERR_FORMAT;
        H5Dclose(ds);
        break;
      }
      hid_t sp = H5Dget_space(ds);
      hsize_t dims[2] = {0, 1}, start[2], count[2];
      int nd = H5Sget_simple_extent_dims(sp, dims, NULL);
      H5Sclose(sp);
      if (nd != t->ndim || (int64_t)dims[0] != t->gshape[0] || (nd == 2 && (int64_t)dims[1] != t->gshape[1])) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s has shape [%llu, %llu], the model needs [%lld, %lld]",
                    path, name, (unsigned long long)dims[0], (unsigned long long)(nd == 2 ? dims[1] : 1),
                    (long long)t->gshape[0], (long long)t->gshape[1]);
        rc = PST_ERR_FORMAT;
      } else {
        tensor_slab(t, start, count);
        uint64_t want = 0;
        if (ds_io(ds, H5T_NATIVE_FLOAT, dxpl, t->ndim, start, count, bufs[g] + t->offset, 1, 0) < 0) {
          pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s fails its checksum or cannot be read", path, name);
          rc = PST_ERR_FORMAT;
        } else if (pst_h5_xsum_read(ds, &want) != 1) {
          pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s has no readable content checksum", path, name);
          rc = PST_ERR_FORMAT;
        } else { /* the slab's share of the content checksum (each slab counted once, as written) */
          const int active = d->dp_rank == 0 && (t->shard_dim >= 0 || d->tp_rank == 0);
          if (xsum_add(&xs, name, active ? pst_h5_xsum(bufs[g] + t->offset, 4, t->ndim, dims, start, count) : 0, want))
            rc = PST_ERR_MEM;
        }
      }
      H5Dclose(ds);
    }
  H5Pclose(dxpl);
  /* the content checksums: every slab read, summed over the ranks, against the stored ones
   * (a damaged chunk address can hand HDF5 another chunk whose own Fletcher32 is valid) */
  if (!(rc = agree(d, rc))) {
    xsum_reduce(d, &xs);
    for (int i = 0; i < xs.n && !rc; i++)
      if (xs.v[i] != xs.want[i]) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                    "%s: /%s does not match its content checksum (corrupted)", path, xs.path[i]);
        rc = PST_ERR_FORMAT;
      }
  }
  xsum_free(&xs);
  /* the sparse weights (in the final checkpoint, or every one with ckpt.sparse) are not needed
   * to resume, but a checkpoint is good only if all of it reads back: layer i is verified by
   * rank i mod world */
  const int has_sparse = !rc && H5Lexists(f, "sparse", H5P_DEFAULT) > 0;
  hid_t sp = has_sparse ? H5Gopen2(f, "sparse", H5P_DEFAULT) : -1;
  if (has_sparse && sp < 0) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /sparse cannot be opened", path);
    rc = PST_ERR_FORMAT;
  }
  for (int i = 0; !rc && sp >= 0 && i < pst_model_num_linears(m); i++)
    if (i % d->world_size == d->world_rank) rc = verify_sparse(sp, path, pst_model_linear_name(m, i));
  if (sp >= 0) H5Gclose(sp);
  return rc;
}

pst_err pst_ckpt_read(const char *path, pst_dist *d, pst_model *m, pst_adamw *opt, pst_ckpt_meta *meta) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  memset(meta, 0, sizeof *meta);
  hid_t fapl = file_access(d, NULL);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  pst_err rc = PST_OK;
  if (f < 0) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot open checkpoint '%s' (missing, truncated or not HDF5)", path);
    rc = PST_ERR_IO;
  }
  if (!rc) rc = pst_ckpt_meta_read_h5(f, path, meta);
  if (!rc) rc = read_all(f, path, d, m, opt);
  if (f >= 0) H5Fclose(f);
  pst_err all = agree(d, rc);
  if (all) {
    pst_ckpt_meta_free(meta);
    if (!rc) PST_ERR(all, "%s: another rank found it unreadable or corrupted", path);
    pst_err_trace(__FILE__, __LINE__, __func__);
    return all;
  }
  opt->t = meta->step;
  return PST_OK;
}
