/* export.c — checkpoint inspection, model rebuild and export (export.h).
 *
 * Shapes (pst names, model.h): emb.tok [V,H], emb.pos [P,H], emb.type [TV,H]; per block the
 * sparsified linears q, k, v, o [H,H], fc1 [F,H], fc2 [H,F] (out x in) with biases [out];
 * pool.w [H,H], cls.w [L,H]. In HF files BERT/RoBERTa keep pst's [out, in] layout; GPT-2's
 * Conv1D weights are [in, out] and c_attn packs q, k, v along the output: [H, 3H].
 * A checkpoint's CSR layer (checkpoint.c) is rowptr int64 [m+1], col int32 [nnz], val f32
 * [nnz] of M ⊙ W' [m, n]. */
#include "pst/export.h"
#include "pst/gguf_llama.h"

#include "h5util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/hfmodel.h"

/* H5Ovisit over HDF5 1.10 (H5Ovisit2, H5O_info_t) and 1.12+ (H5Ovisit3, H5O_info2_t) */
#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t h5o_info;
#define VISIT(f, cb, data) H5Ovisit3((f), H5_INDEX_NAME, H5_ITER_INC, (cb), (data), H5O_INFO_BASIC)
#else
typedef H5O_info_t h5o_info;
#define VISIT(f, cb, data) H5Ovisit2((f), H5_INDEX_NAME, H5_ITER_INC, (cb), (data), H5O_INFO_BASIC)
#endif
#include "pst/safetensors.h"
#include "pst/train.h"

/* path buffers: base paths and temporary names; files inside them; temporaries of those */
#define P1 (PST_PATH_MAX + 64)
#define P2 (PST_PATH_MAX + 128)
#define P3 (PST_PATH_MAX + 192)
#define SLAB_BYTES (64LL << 20) /* inspection reads a dataset in slabs of at most this */
#define CHUNK_ELEMS ((hsize_t)1 << 18) /* chunk of the CSR file's 1-D datasets */

/* ---- files and directories ---- */

static int is_file(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* 1 if dir holds any entry besides . and .. */
static int dir_nonempty(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int found = 0;
  struct dirent *e;
  while (!found && (e = readdir(d))) found = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return found;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* rm -rf path (errors ignored: used for temporaries and replaced outputs) */
static void remove_tree(const char *path) {
  struct stat sb;
  if (lstat(path, &sb)) return;
  if (S_ISDIR(sb.st_mode)) nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  else remove(path);
}

static void fsync_path(const char *path, int dir) {
  int fd = open(path, O_RDONLY | (dir ? O_DIRECTORY : 0));
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

/* The directory part of path ("." if none). */
static void dir_of(const char *path, char *out, size_t n) {
  snprintf(out, n, "%s", path);
  char *slash = strrchr(out, '/');
  if (!slash) snprintf(out, n, ".");
  else if (slash == out) out[1] = 0;
  else *slash = 0;
}

/* An output path may be written: absent, an empty directory (want_dir), or replaced (force). */
static pst_err check_output(const char *path, int want_dir, int force) {
  struct stat sb;
  if (lstat(path, &sb)) return PST_OK;
  if (want_dir && !S_ISDIR(sb.st_mode))
    PST_ERR(PST_ERR_ARG, "'%s' exists and is not a directory%s", path, force ? "" : " (--force replaces it)");
  if (want_dir && !dir_nonempty(path)) return PST_OK;
  if (!want_dir && S_ISDIR(sb.st_mode)) PST_ERR(PST_ERR_ARG, "'%s' is a directory", path);
  if (!force)
    PST_ERR(PST_ERR_ARG, "'%s' exists%s; refusing to overwrite it (use --force)", path, want_dir ? " and is not empty" : "");
  return PST_OK;
}

/* Move the finished temporary tmp to path, replacing what check_output allowed. */
static pst_err publish(const char *tmp, const char *path, int force) {
  struct stat sb;
  char old[P1] = "";
  if (!lstat(path, &sb) && !(S_ISDIR(sb.st_mode) && !dir_nonempty(path))) {
    if (!force) PST_ERR(PST_ERR_ARG, "'%s' appeared while exporting; refusing to overwrite it (use --force)", path);
    snprintf(old, sizeof old, "%s.old.%ld", path, (long)getpid());
    if (rename(path, old)) PST_ERR(PST_ERR_IO, "cannot move '%s' aside: %s", path, strerror(errno));
  }
  if (rename(tmp, path)) {
    int e = errno;
    if (old[0]) rename(old, path);
    PST_ERR(PST_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path, strerror(e));
  }
  if (old[0]) remove_tree(old);
  char parent[PST_PATH_MAX];
  dir_of(path, parent, sizeof parent);
  fsync_path(parent, 1);
  return PST_OK;
}

static pst_err copy_file(const char *src, const char *dst) {
  FILE *in = fopen(src, "rb");
  if (!in) PST_ERR(PST_ERR_IO, "cannot open '%s': %s", src, strerror(errno));
  FILE *out = fopen(dst, "wb");
  if (!out) {
    fclose(in);
    PST_ERR(PST_ERR_IO, "cannot write '%s': %s", dst, strerror(errno));
  }
  char buf[1 << 16];
  size_t n;
  int bad = 0;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) bad |= fwrite(buf, 1, n, out) != n;
  bad |= ferror(in);
  fclose(in);
  bad |= fflush(out) != 0 || fsync(fileno(out)) != 0;
  bad |= fclose(out) != 0;
  if (bad) PST_ERR(PST_ERR_IO, "cannot copy '%s' to '%s'", src, dst);
  return PST_OK;
}

/* ---- HDF5 helpers (< 0 on failure, like HDF5) ---- */

/* The HDF5 signature at offset 0, 512, 1024, ... (where a superblock may start). */
static int has_hdf5_signature(const char *path, long long size) {
  static const unsigned char SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  int found = 0;
  unsigned char buf[8];
  for (long long off = 0; !found && off + 8 <= size; off = off ? off * 2 : 512)
    found = fseeko(f, (off_t)off, SEEK_SET) == 0 && fread(buf, 1, 8, f) == 8 && !memcmp(buf, SIG, 8);
  fclose(f);
  return found;
}

/* Open a file read-only with a message telling a missing, foreign or truncated file apart. */
static pst_err open_h5(const char *path, hid_t *out, long long *file_bytes) {
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  struct stat sb;
  if (stat(path, &sb)) PST_ERR(PST_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) PST_ERR(PST_ERR_IO, "'%s' is not a regular file", path);
  if (file_bytes) *file_bytes = (long long)sb.st_size;
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    if (!has_hdf5_signature(path, (long long)sb.st_size))
      PST_ERR(PST_ERR_IO, "'%s' is not an HDF5 file (%lld bytes, no HDF5 signature)", path, (long long)sb.st_size);
    PST_ERR(PST_ERR_IO, "'%s' is an HDF5 file that cannot be opened: truncated or damaged (%lld bytes)", path,
            (long long)sb.st_size);
  }
  *out = f;
  return PST_OK;
}

/* ---- inspection ---- */

/* Model order of a layer name: (block, q k v o fc1 fc2 | gate up down); unknown names sort last. */
static long layer_rank(const char *name) {
  static const char *LIN[] = {"q", "k", "v", "o", "fc1", "fc2", "gate", "up", "down"};
  int l, n = 0;
  char part[16];
  if (sscanf(name, "blk.%d.%15s%n", &l, part, &n) != 2 || name[n]) return 1L << 40;
  for (int j = 0; j < 9; j++)
    if (!strcmp(part, LIN[j])) return (long)l * 16 + j;
  return (long)l * 16 + 15;
}

static int cmp_layers(const void *a, const void *b) {
  const pst_ckpt_layer *x = a, *y = b;
  long rx = layer_rank(x->name), ry = layer_rank(y->name);
  return rx != ry ? (rx < ry ? -1 : 1) : strcmp(x->name, y->name);
}

typedef struct {
  pst_ckpt_info *info;
  int cap;
  pst_err rc;
} visit_ctx;

/* Read all of dataset ds, in slabs along dimension 0; 1 if every read succeeded. */
/* Read every element of ds (HDF5 verifies each chunk's Fletcher32), recompute its content
 * checksum into *xsum and compare it with the stored one (h5util.h): 1 = all good. */
static int read_fully(hid_t ds, long long *bytes, long long *stored, uint64_t *xsum) {
  *bytes = *stored = 0;
  *xsum = 0;
  /* only the types a checkpoint holds, checked before any read (see pst_h5_dataset_is) */
  if (!pst_h5_dataset_is(ds, H5T_IEEE_F32LE, -1) && !pst_h5_dataset_is(ds, H5T_STD_I32LE, -1) &&
      !pst_h5_dataset_is(ds, H5T_STD_I64LE, -1) && !pst_h5_dataset_is(ds, H5T_STD_U8LE, -1))
    return 0;
  hid_t sp = H5Dget_space(ds), ft = H5Dget_type(ds);
  hid_t mt = ft < 0 ? -1 : H5Tget_native_type(ft, H5T_DIR_ASCEND);
  int nd = sp < 0 ? -1 : H5Sget_simple_extent_ndims(sp);
  int ok = sp >= 0 && mt >= 0 && nd >= 0 && nd <= 8;
  hsize_t dims[8] = {0}, start[8] = {0}, count[8];
  hsize_t npts = 0;
  size_t es = ok ? H5Tget_size(mt) : 0;
  if (ok) {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    npts = (hsize_t)H5Sget_simple_extent_npoints(sp);
  }
  *bytes = (long long)(npts * es);
  *stored = (long long)H5Dget_storage_size(ds);
  if (ok && npts > 0) {
    if (nd == 0) { /* scalar */
      void *buf = malloc(es);
      hsize_t one = 1, zero = 0;
      ok = buf && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0;
      if (ok) *xsum = pst_h5_xsum(buf, es, 1, &one, &zero, &one);
      free(buf);
    } else {
      hsize_t row = npts / dims[0];
      hsize_t rows = (hsize_t)SLAB_BYTES / (row * es);
      if (rows < 1) rows = 1;
      if (rows > dims[0]) rows = dims[0];
      void *buf = malloc((size_t)(rows * row * es));
      ok = buf != NULL;
      for (hsize_t r0 = 0; ok && r0 < dims[0]; r0 += rows) {
        memcpy(count, dims, sizeof count);
        start[0] = r0;
        count[0] = dims[0] - r0 < rows ? dims[0] - r0 : rows;
        hsize_t n = count[0] * row;
        hid_t ms = H5Screate_simple(1, &n, NULL);
        ok = H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dread(ds, mt, ms, sp, H5P_DEFAULT, buf) >= 0;
        if (ok) { /* rows [r0, r0 + count) of a 1-D or 2-D dataset, as (rows, row) */
          hsize_t g2[2] = {dims[0], row}, s2[2] = {r0, 0}, c2[2] = {count[0], row};
          *xsum += pst_h5_xsum(buf, es, 2, g2, s2, c2);
        }
        H5Sclose(ms);
      }
      free(buf);
    }
  }
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (sp >= 0) H5Sclose(sp);
  uint64_t want;
  return ok && pst_h5_xsum_read(ds, &want) == 1 && want == *xsum;
}

static herr_t visit_cb(hid_t obj, const char *name, const h5o_info *oi, void *data) {
  visit_ctx *c = data;
  pst_ckpt_info *info = c->info;
  if (oi->type != H5O_TYPE_DATASET) return 0;
  if (info->ndatasets == c->cap) {
    int cap = c->cap ? 2 * c->cap : 64;
    pst_ckpt_dataset *nd = realloc(info->datasets, (size_t)cap * sizeof *nd);
    if (!nd) {
      c->rc = PST_ERR_MEM;
      return -1;
    }
    info->datasets = nd;
    c->cap = cap;
  }
  pst_ckpt_dataset *e = &info->datasets[info->ndatasets++];
  memset(e, 0, sizeof *e);
  snprintf(e->name, sizeof e->name, "/%s", name);
  hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
  e->ok = ds >= 0 && read_fully(ds, &e->bytes, &e->stored, &e->xsum);
  if (ds >= 0) H5Dclose(ds);
  return 0;
}

/* The /sparse/<layer> groups, from the dataset names "/sparse/<layer>/rowptr". */
static pst_err collect_layers(hid_t f, pst_ckpt_info *info) {
  int n = 0;
  for (int i = 0; i < info->ndatasets; i++) {
    const char *nm = info->datasets[i].name;
    size_t len = strlen(nm);
    n += !strncmp(nm, "/sparse/", 8) && len > 15 && !strcmp(nm + len - 7, "/rowptr");
  }
  info->layers = calloc((size_t)(n ? n : 1), sizeof *info->layers);
  if (!info->layers) PST_ERR(PST_ERR_MEM, "out of memory inspecting a checkpoint");
  for (int i = 0; i < info->ndatasets; i++) {
    const char *nm = info->datasets[i].name;
    size_t len = strlen(nm);
    if (strncmp(nm, "/sparse/", 8) || len <= 15 || strcmp(nm + len - 7, "/rowptr")) continue;
    pst_ckpt_layer *L = &info->layers[info->nlayers++];
    snprintf(L->name, sizeof L->name, "%.*s", (int)(len - 15), nm + 8);
    char grp[160];
    snprintf(grp, sizeof grp, "sparse/%s", L->name);
    hid_t g = H5Gopen2(f, grp, H5P_DEFAULT);
    int shape[2] = {0, 0};
    L->nnz = -1;
    if (g >= 0) {
      if (pst_h5_attr_read(g, "shape", H5T_NATIVE_INT, shape) < 0) shape[0] = shape[1] = 0;
      if (pst_h5_attr_read(g, "nnz", H5T_NATIVE_LONG, &L->nnz) < 0) L->nnz = -1;
      H5Gclose(g);
    }
    L->rows = shape[0];
    L->cols = shape[1];
  }
  qsort(info->layers, (size_t)info->nlayers, sizeof *info->layers, cmp_layers);
  return PST_OK;
}

void pst_ckpt_info_free(pst_ckpt_info *info) {
  pst_ckpt_meta_free(&info->meta);
  free(info->layers);
  free(info->datasets);
  memset(info, 0, sizeof *info);
}

pst_err pst_ckpt_inspect(const char *path, pst_ckpt_info *info) {
  memset(info, 0, sizeof *info);
  hid_t f;
  PST_CHECK(open_h5(path, &f, &info->file_bytes));
  pst_ckpt_meta *m = &info->meta;
  pst_err mrc = pst_ckpt_meta_read_h5(f, path, m); /* format, version, attributes, /meta */
  if (mrc == PST_ERR_FORMAT && (strstr(pst_err_message(), "not a pst checkpoint") || strstr(pst_err_message(), "checkpoint version"))) {
    H5Fclose(f);
    return mrc;
  }
  info->meta_ok = mrc == PST_OK;
  if (!info->meta_ok) pst_err_clear(); /* reported as "meta: unreadable"; the datasets are still verified */
  visit_ctx c = {info, 0, PST_OK};
  herr_t h = VISIT(f, visit_cb, &c);
  pst_err rc = c.rc;
  if (!rc && h < 0) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                "%s: the file's structure cannot be walked (damaged group or object headers) after %d datasets", path,
                info->ndatasets);
    rc = PST_ERR_FORMAT;
  }
  if (!rc) rc = collect_layers(f, info);
  H5Fclose(f);
  if (rc) {
    pst_ckpt_info_free(info);
    if (rc == PST_ERR_MEM) PST_ERR(rc, "out of memory inspecting %s", path);
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  return rc;
}

/* ---- rebuilding the model ---- */

pst_err pst_config_from_stored(const char *text, pst_config *cfg, const char *what) {
  const char *td = getenv("TMPDIR");
  char tmpl[PST_PATH_MAX];
  snprintf(tmpl, sizeof tmpl, "%s/pst-config-XXXXXX", td && td[0] ? td : "/tmp");
  int fd = mkstemp(tmpl);
  if (fd < 0) PST_ERR(PST_ERR_IO, "cannot create a temporary file in %s: %s", td && td[0] ? td : "/tmp", strerror(errno));
  size_t n = strlen(text);
  int bad = write(fd, text, n) != (ssize_t)n;
  bad |= close(fd) != 0;
  pst_config_defaults(cfg);
  pst_err rc = bad ? PST_ERR_IO : pst_config_load(cfg, tmpl);
  unlink(tmpl);
  if (bad) PST_ERR(PST_ERR_IO, "cannot write the temporary file %s", tmpl);
  if (rc) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", pst_err_message());
    pst_err_clear();
    PST_ERR(rc, "%s: the stored config does not load: %s", what, msg);
  }
  strcpy(cfg->base_dir, ".");
  PST_CHECK(pst_config_finalize(cfg));
  return PST_OK;
}

/* Where the base weights are: *hf (directory), *gg (GGUF file) and *wt (file), "" when the
 * config has none. */
static pst_err find_base(const pst_config *cfg, const pst_ckpt_meta *meta, const pst_base_opts *o, char *hf, char *gg,
                         char *wt, size_t cap) {
  hf[0] = gg[0] = wt[0] = 0;
  const int random = !strncmp(meta->base_model, "random", 6);
  if (cfg->hf_dir[0]) {
    char cand[P1] = "", cfgfile[P2];
    if (o && o->hf_dir) {
      snprintf(hf, cap, "%s", o->hf_dir);
    } else {
      if (!cfg->weights[0] && !random) dir_of(meta->base_model, cand, sizeof cand);
      snprintf(cfgfile, sizeof cfgfile, "%s/config.json", cand);
      if (cand[0] && is_file(cfgfile)) snprintf(hf, cap, "%s", cand);
      else snprintf(hf, cap, "%s", cfg->hf_dir);
    }
    snprintf(cfgfile, sizeof cfgfile, "%s/config.json", hf);
    if (!is_file(cfgfile))
      PST_ERR(PST_ERR_IO, "the base model directory '%s' (model.hf_dir = %s) has no config.json: give it with --hf-dir",
              hf, cfg->hf_dir);
  }
  if (cfg->gguf[0]) {
    if (o && o->gguf) snprintf(gg, cap, "%s", o->gguf);
    else if (!random && is_file(meta->base_model)) snprintf(gg, cap, "%s", meta->base_model);
    else snprintf(gg, cap, "%s", cfg->gguf);
    if (!is_file(gg))
      PST_ERR(PST_ERR_IO, "the base GGUF file '%s' (model.gguf = %s) is not there: give it with --gguf", gg, cfg->gguf);
  }
  if (cfg->weights[0]) {
    if (o && o->weights) snprintf(wt, cap, "%s", o->weights);
    else if (!random && is_file(meta->base_model)) snprintf(wt, cap, "%s", meta->base_model);
    else snprintf(wt, cap, "%s", cfg->weights);
    if (!is_file(wt))
      PST_ERR(PST_ERR_IO, "the base weights '%s' (model.weights = %s) are not there: give them with --weights", wt,
              cfg->weights);
  }
  return PST_OK;
}

/* Warn when the base file differs from the one the run hashed (run.c's base_identity). */
static void check_base_sha(const char *hf, const char *wt, const pst_ckpt_meta *meta) {
  char file[P2] = "";
  if (wt[0]) snprintf(file, sizeof file, "%s", wt);
  else if (hf[0]) {
    snprintf(file, sizeof file, "%s/model.safetensors", hf);
    if (!is_file(file)) snprintf(file, sizeof file, "%s/model.safetensors.index.json", hf);
  }
  if (!file[0]) return; /* random: nothing to compare */
  char hex[65];
  if (pst_file_sha256(file, hex)) {
    pst_log(1, "pst: warning: cannot hash the base model %s: %s\n", file, pst_err_message());
    pst_err_clear();
  } else if (!meta->base_sha256[0]) {
    pst_log(1, "pst: warning: the checkpoint records no SHA-256 of its base model; using %s unchecked\n", file);
  } else if (strcmp(hex, meta->base_sha256)) {
    pst_log(1, "pst: warning: the base model %s has SHA-256 %s, but the checkpoint was trained from %s (%s): "
            "the exported weights will not be the trained model's\n", file, hex, meta->base_model, meta->base_sha256);
  } else {
    pst_log(2, "pst: base model %s matches the checkpoint's SHA-256\n", file);
  }
}

pst_err pst_ckpt_load_model(const char *path, const pst_base_opts *opts, int B, int T, pst_model **model,
                            pst_config *cfg, pst_ckpt_meta *meta) {
  *model = NULL;
  PST_CHECK(pst_ckpt_read_meta(path, meta));
  pst_model *m = NULL;
  pst_adamw opt = {NULL, NULL, 0};
  pst_ckpt_meta scratch;
  char hf[P1], gg[P1], wt[P1];
  pst_err rc = pst_config_from_stored(meta->config_text, cfg, path);
  if (!rc) rc = find_base(cfg, meta, opts, hf, gg, wt, sizeof hf);
  if (!rc) {
    check_base_sha(hf, gg[0] ? gg : wt, meta);
    rc = pst_model_create(&m, cfg, B, T, NULL);
  }
  if (!rc) { /* the order of run.c: random, then the HF directory, then the weights file */
    pst_model_init_random(m, cfg->seed);
    if (hf[0]) rc = pst_hf_load_weights(hf, m);
    if (!rc && gg[0]) rc = pst_gguf_load_weights(gg, m, NULL);
    if (!rc && wt[0]) rc = pst_model_load(m, wt);
  }
  if (!rc) rc = pst_adamw_init(&opt, pst_model_trainables(m)->total);
  if (!rc) {
    pst_dist d; /* one process, no MPI: the checkpoint is read serially */
    memset(&d, 0, sizeof d);
    d.world_size = d.dp = d.tp = 1;
    rc = pst_ckpt_read(path, &d, m, &opt, &scratch);
    if (!rc) pst_ckpt_meta_free(&scratch);
  }
  pst_adamw_free(&opt);
  if (!rc) rc = pst_model_update_masks(m, meta->sparsity);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_model_destroy(m);
    pst_ckpt_meta_free(meta);
    return rc;
  }
  *model = m;
  return PST_OK;
}

/* Compare every layer's mask and M ⊙ W' with the checkpoint's /sparse CSR (written by the run
 * itself): a difference means the base or the mask recomputation is not the trained one. */
static pst_err verify_against_csr(const char *path, pst_model *m, int *bad_layers, long *bad_entries, double *maxdiff) {
  *bad_layers = 0;
  *bad_entries = 0;
  *maxdiff = 0;
  hid_t f;
  PST_CHECK(open_h5(path, &f, NULL));
  pst_err rc = PST_OK;
  float *w = NULL;
  for (int i = 0; !rc && i < pst_model_num_linears(m); i++) {
    int rows, cols;
    const uint8_t *mask = pst_model_linear_mask(m, i, &rows, &cols);
    free(w);
    w = malloc((size_t)rows * cols * sizeof *w);
    int64_t *rp = malloc(((size_t)rows + 1) * sizeof *rp);
    int32_t *col = NULL;
    float *val = NULL;
    char nm[160];
    long nnz = -1;
    snprintf(nm, sizeof nm, "sparse/%s", pst_model_linear_name(m, i));
    hid_t g = H5Gopen2(f, nm, H5P_DEFAULT);
    if (g >= 0 && pst_h5_attr_read(g, "nnz", H5T_NATIVE_LONG, &nnz) < 0) nnz = -1;
    if (nnz >= 0) {
      col = malloc((size_t)(nnz ? nnz : 1) * sizeof *col);
      val = malloc((size_t)(nnz ? nnz : 1) * sizeof *val);
    }
    int ok = g >= 0 && w && rp && col && val;
    const char *dsn[3] = {"rowptr", "col", "val"};
    hid_t types[3] = {H5T_NATIVE_INT64, H5T_NATIVE_INT32, H5T_NATIVE_FLOAT};
    hid_t ftypes[3] = {H5T_STD_I64LE, H5T_STD_I32LE, H5T_IEEE_F32LE};
    const long long counts[3] = {(long long)rows + 1, nnz, nnz};
    void *bufs[3] = {rp, col, val};
    for (int k = 0; ok && k < 3; k++) {
      if (k > 0 && nnz == 0) break;
      hid_t ds = H5Dopen2(g, dsn[k], H5P_DEFAULT);
      ok = ds >= 0 && pst_h5_dataset_is(ds, ftypes[k], counts[k]) &&
           H5Dread(ds, types[k], H5S_ALL, H5S_ALL, H5P_DEFAULT, bufs[k]) >= 0;
      if (ds >= 0) H5Dclose(ds);
    }
    if (g >= 0) H5Gclose(g);
    if (!ok) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s cannot be read", path, nm);
      rc = PST_ERR_FORMAT;
    } else {
      pst_model_linear_weight(m, i, w);
      long bad = 0;
      for (long r = 0; r < rows; r++) {
        long k = rp[r], end = rp[r + 1];
        for (long c = 0; c < cols; c++) {
          const int kept = mask ? mask[r * cols + c] != 0 : 1;
          const int in_csr = k < end && col[k] == c;
          if (kept != in_csr) bad++;
          if (in_csr) {
            double dlt = fabs((double)w[r * cols + c] - (double)val[k]);
            if (dlt > *maxdiff) *maxdiff = dlt;
            k++;
          }
        }
        if (k != end) bad++; /* column indices out of order or range */
      }
      if (bad) {
        (*bad_layers)++;
        *bad_entries += bad;
        pst_log(2, "pst: %s: %ld mask entries differ from the checkpoint's CSR\n", pst_model_linear_name(m, i), bad);
      }
    }
    free(rp);
    free(col);
    free(val);
  }
  free(w);
  H5Fclose(f);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* Rebuild for export (one token: the activations do not matter) and cross-check the masks. */
static pst_err load_for_export(const char *ckpt, const pst_export_opts *o, pst_model **m, pst_config *cfg,
                               pst_ckpt_meta *meta) {
  PST_CHECK(pst_ckpt_load_model(ckpt, o ? &o->base : NULL, 1, 1, m, cfg, meta));
  if (!meta->sparse) {
    pst_log(1, "pst: %s holds no /sparse (ckpt.sparse = false): the masks are recomputed from its tensors, "
            "without the cross-check\n", ckpt);
    return PST_OK;
  }
  int bad_layers;
  long bad;
  double maxdiff;
  pst_err rc = verify_against_csr(ckpt, *m, &bad_layers, &bad, &maxdiff);
  if (rc) {
    pst_model_destroy(*m);
    *m = NULL;
    pst_ckpt_meta_free(meta);
    PST_CHECK(rc);
  }
  if (bad_layers)
    pst_log(1, "pst: warning: the recomputed masks differ from the checkpoint's /sparse in %d of %d layers (%ld "
            "entries): the base weights are not the ones trained from, or the scores tie\n",
            bad_layers, pst_model_num_linears(*m), bad);
  else
    pst_log(1, "pst: masks and merged weights of all %d sparsified layers equal the checkpoint's /sparse "
            "(max |diff| %.3g)\n", pst_model_num_linears(*m), maxdiff);
  return PST_OK;
}

/* ---- Hugging Face export ---- */

typedef struct {
  char name[192];
  int ndim;
  int64_t shape[2];
  const float *data;
  float *owned; /* freed after writing (NULL: data points into the model) */
} hf_tensor;

typedef struct {
  hf_tensor *t;
  int n, cap;
} hf_list;

static void list_free(hf_list *l) {
  for (int i = 0; i < l->n; i++) free(l->t[i].owned);
  free(l->t);
  memset(l, 0, sizeof *l);
}

/* Append a tensor; buf (owned) NULL: data is borrowed. Returns the entry or NULL (memory). */
static hf_tensor *list_add(hf_list *l, const char *name, int ndim, int64_t d0, int64_t d1, const float *data, float *owned) {
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    hf_tensor *nt = realloc(l->t, (size_t)cap * sizeof *nt);
    if (!nt) {
      free(owned);
      return NULL;
    }
    l->t = nt;
    l->cap = cap;
  }
  hf_tensor *t = &l->t[l->n++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = ndim;
  t->shape[0] = d0;
  t->shape[1] = ndim == 2 ? d1 : 0;
  t->data = owned ? owned : data;
  t->owned = owned;
  return t;
}

/* A pst tensor of the model (frozen or trainable), or NULL. */
static const pst_tensor_info *model_tensor(pst_model *m, const char *name) {
  const pst_tensor_info *t = pst_params_find(pst_model_frozen(m), name);
  return t ? t : pst_params_find(pst_model_trainables(m), name);
}

/* Layer i's merged M ⊙ W' [m, n], transposed to [n, m] if tr (a new buffer, or NULL). */
static float *merged(pst_model *m, int i, int tr, int *rows, int *cols) {
  pst_model_linear_mask(m, i, rows, cols);
  const long mn = (long)*rows * *cols;
  float *w = malloc((size_t)mn * sizeof *w);
  if (!w || !tr) {
    if (w) pst_model_linear_weight(m, i, w);
    return w;
  }
  float *t = malloc((size_t)mn * sizeof *t);
  if (t) {
    pst_model_linear_weight(m, i, w);
    for (long r = 0; r < *rows; r++)
      for (long c = 0; c < *cols; c++) t[c * *rows + r] = w[r * *cols + c];
  }
  free(w);
  return t;
}

/* Index of the sparsified layer whose weight is pst tensor `name` ("blk.3.fc1.w"), or -1. */
static int linear_of(pst_model *m, const char *name) {
  size_t n = strlen(name);
  if (n < 3 || strcmp(name + n - 2, ".w")) return -1;
  for (int i = 0; i < pst_model_num_linears(m); i++) {
    const char *ln = pst_model_linear_name(m, i);
    if (strlen(ln) == n - 2 && !strncmp(ln, name, n - 2)) return i;
  }
  return -1;
}

/* Add pst tensor t under its HF name h (hfmodel.c's table, the one the loader uses): a
 * sparsified weight as its merged M ⊙ W' (transposed for GPT-2's Conv1D); GPT-2's q, k, v
 * go into c_attn's thirds (*qkv [H, 3H], *qkvb [3H] of the current block, added after v). */
static pst_err add_tensor(pst_model *m, const pst_tensor_info *t, const pst_hf_name *h, int H, float **qkv,
                          float **qkvb, hf_list *l) {
  const int lin = linear_of(m, t->name);
  int rows = (int)t->shape[0], cols = (int)t->shape[1];
  if (h->x == PST_HF_QKV_WEIGHT) { /* c_attn column part*H + j = row j of q / k / v */
    if (!*qkv && !(*qkv = malloc((size_t)3 * H * H * sizeof **qkv))) PST_ERR(PST_ERR_MEM, "out of memory exporting");
    float *w = lin >= 0 ? merged(m, lin, 0, &rows, &cols) : NULL;
    if (!w || rows != H || cols != H) {
      free(w);
      PST_ERR(PST_ERR_INTERNAL, "export: %s is not a [%d, %d] sparsified weight", t->name, H, H);
    }
    for (int r = 0; r < H; r++)
      for (int c = 0; c < H; c++) (*qkv)[(long)c * 3 * H + h->part * H + r] = w[(long)r * H + c];
    free(w);
    if (h->part == 2) {
      hf_tensor *e = list_add(l, h->name, 2, H, 3 * H, NULL, *qkv);
      *qkv = NULL;
      if (!e) PST_ERR(PST_ERR_MEM, "out of memory exporting");
    }
    return PST_OK;
  }
  if (h->x == PST_HF_QKV_BIAS) {
    if (!*qkvb && !(*qkvb = malloc((size_t)3 * H * sizeof **qkvb))) PST_ERR(PST_ERR_MEM, "out of memory exporting");
    memcpy(*qkvb + h->part * H, *t->bind, (size_t)H * sizeof **qkvb);
    if (h->part == 2) {
      hf_tensor *e = list_add(l, h->name, 1, 3 * H, 0, NULL, *qkvb);
      *qkvb = NULL;
      if (!e) PST_ERR(PST_ERR_MEM, "out of memory exporting");
    }
    return PST_OK;
  }
  /* as is, the rows of a table (written whole), or a Conv1D transpose */
  const int tr = h->x == PST_HF_TRANSPOSE;
  if (tr && lin < 0) PST_ERR(PST_ERR_INTERNAL, "export: %s is transposed but not a sparsified weight", t->name);
  float *w = lin >= 0 ? merged(m, lin, tr, &rows, &cols) : NULL;
  if (lin >= 0 && !w) PST_ERR(PST_ERR_MEM, "out of memory exporting the model");
  if (!list_add(l, h->name, t->ndim, tr ? cols : rows, tr ? rows : cols, *t->bind, w))
    PST_ERR(PST_ERR_MEM, "out of memory exporting the model");
  return PST_OK;
}

/* Every frozen and trainable tensor that Hugging Face has, under its HF name. */
static pst_err hf_tensors(pst_model *m, const pst_config *cfg, pst_hf_family fam, hf_list *l) {
  const char *P = fam == PST_HF_GPT2 ? "transformer." : fam == PST_HF_ROBERTA ? "roberta." : fam == PST_HF_LLAMA ? "model." : "bert.";
  const pst_params *tabs[2] = {pst_model_frozen(m), pst_model_trainables(m)};
  float *qkv = NULL, *qkvb = NULL;
  pst_err rc = PST_OK;
  for (int k = 0; k < 2 && !rc; k++)
    for (int i = 0; i < tabs[k]->n && !rc; i++) {
      pst_hf_name h;
      if (pst_hf_name_of(fam, P, tabs[k]->t[i].name, &h))
        rc = add_tensor(m, &tabs[k]->t[i], &h, cfg->hidden, &qkv, &qkvb, l);
    }
  free(qkv);
  free(qkvb);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* The fewest significant digits (<= 17) that print v so that it reads back exactly. */
static int roundtrip_digits(double v) {
  char buf[64];
  for (int p = 1; p < 17; p++) {
    snprintf(buf, sizeof buf, "%.*g", p, v);
    if (strtod(buf, NULL) == v) return p;
  }
  return 17;
}

static pst_err write_config_json(const char *path, const pst_config *cfg, const pst_ckpt_meta *meta, const char *ckpt,
                                 int roberta) {
  const int gpt2 = !strcmp(cfg->arch, "gpt2"), llama = !strcmp(cfg->arch, "llama");
  const char *act = !strcmp(cfg->activation, "gelu_tanh") ? "gelu_new" : "gelu";
  json_t *root = json_object(), *labels = NULL;
  if (!root) PST_ERR(PST_ERR_MEM, "out of memory writing %s", path);
#define SET(k, v) json_object_set_new(root, k, v)
  if (llama) { /* LlamaConfig; Qwen2-style q/k/v-only biases have no Llama equivalent (refused earlier) */
    SET("architectures", json_pack("[s]", "LlamaForCausalLM"));
    SET("model_type", json_string("llama"));
    SET("hidden_size", json_integer(cfg->hidden));
    SET("num_hidden_layers", json_integer(cfg->layers));
    SET("num_attention_heads", json_integer(cfg->heads));
    SET("num_key_value_heads", json_integer(cfg->kv_heads ? cfg->kv_heads : cfg->heads));
    SET("head_dim", json_integer(cfg->hidden / cfg->heads));
    SET("intermediate_size", json_integer(cfg->ffn));
    SET("hidden_act", json_string("silu"));
    SET("vocab_size", json_integer(cfg->vocab));
    SET("max_position_embeddings", json_integer(cfg->max_positions));
    SET("rms_norm_eps", json_real(cfg->ln_eps));
    SET("rope_theta", json_real(cfg->rope_theta));
    if (!strcmp(cfg->rope_scaling, "linear"))
      SET("rope_scaling", json_pack("{s:s, s:f}", "rope_type", "linear", "factor", cfg->rope_factor));
    else if (!strcmp(cfg->rope_scaling, "llama3"))
      SET("rope_scaling", json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor", cfg->rope_factor,
                                    "low_freq_factor", cfg->rope_low_freq_factor, "high_freq_factor",
                                    cfg->rope_high_freq_factor, "original_max_position_embeddings",
                                    cfg->rope_original_max_positions));
    else
      SET("rope_scaling", json_null());
    SET("attention_bias", json_boolean(cfg->qkv_bias && cfg->o_bias));
    SET("mlp_bias", json_boolean(cfg->mlp_bias));
    SET("tie_word_embeddings", json_boolean(cfg->tie_embeddings));
  } else if (gpt2) {
    SET("architectures", json_pack("[s]", "GPT2LMHeadModel"));
    SET("model_type", json_string("gpt2"));
    SET("n_embd", json_integer(cfg->hidden));
    SET("n_layer", json_integer(cfg->layers));
    SET("n_head", json_integer(cfg->heads));
    SET("n_inner", json_integer(cfg->ffn));
    SET("n_positions", json_integer(cfg->max_positions));
    SET("n_ctx", json_integer(cfg->max_positions));
    SET("vocab_size", json_integer(cfg->vocab));
    SET("activation_function", json_string(act));
    SET("layer_norm_epsilon", json_real(cfg->ln_eps));
    SET("scale_attn_weights", json_true());
    SET("tie_word_embeddings", json_true());
    SET("bos_token_id", json_integer(cfg->vocab > 50256 ? 50256 : cfg->vocab - 1));
    SET("eos_token_id", json_integer(cfg->vocab > 50256 ? 50256 : cfg->vocab - 1));
  } else {
    SET("architectures", json_pack("[s]", roberta ? "RobertaForSequenceClassification" : "BertForSequenceClassification"));
    SET("model_type", json_string(roberta ? "roberta" : "bert"));
    SET("hidden_size", json_integer(cfg->hidden));
    SET("num_hidden_layers", json_integer(cfg->layers));
    SET("num_attention_heads", json_integer(cfg->heads));
    SET("intermediate_size", json_integer(cfg->ffn));
    SET("hidden_act", json_string(act));
    SET("vocab_size", json_integer(cfg->vocab));
    SET("max_position_embeddings", json_integer(cfg->max_positions));
    SET("type_vocab_size", json_integer(cfg->type_vocab));
    SET("layer_norm_eps", json_real(cfg->ln_eps));
    SET("position_embedding_type", json_string("absolute"));
    SET("pad_token_id", json_integer(roberta ? cfg->position_offset - 1 : 0));
    if (roberta) {
      SET("bos_token_id", json_integer(0));
      SET("eos_token_id", json_integer(2));
    }
    SET("num_labels", json_integer(cfg->num_labels));
    SET("problem_type", json_string(cfg->num_labels == 1 ? "regression" : "single_label_classification"));
    json_t *id2label = json_object();
    labels = json_object();
    char k[32], v[32];
    for (int i = 0; id2label && labels && i < cfg->num_labels; i++) {
      snprintf(k, sizeof k, "%d", i);
      snprintf(v, sizeof v, "LABEL_%d", i);
      json_object_set_new(id2label, k, json_string(v));
      json_object_set_new(labels, v, json_integer(i));
    }
    SET("id2label", id2label);
    SET("label2id", labels);
  }
  SET("torch_dtype", json_string("float32"));
  SET("pst_export", json_pack("{s:s, s:I, s:f, s:s, s:s, s:s}", "checkpoint", ckpt, "step", (json_int_t)meta->step,
                              "sparsity", meta->sparsity, "method", cfg->method, "base_model", meta->base_model,
                              "base_sha256", meta->base_sha256));
#undef SET
  char tmp[P3];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  int digits = roundtrip_digits(cfg->ln_eps);
  int d2 = roundtrip_digits(meta->sparsity);
  int bad = json_dump_file(root, tmp, JSON_INDENT(2) | JSON_REAL_PRECISION(digits > d2 ? digits : d2));
  json_decref(root);
  if (!bad) fsync_path(tmp, 0);
  if (bad || rename(tmp, path)) {
    remove(tmp);
    PST_ERR(PST_ERR_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return PST_OK;
}

/* Tokenizer files of the base directory, else of data.tokenizer; GPT-2's original
 * encoder.json / vocab.bpe are also stored under their HF names vocab.json / merges.txt. */
static pst_err copy_tokenizer(const pst_config *cfg, const char *hf, const char *out, int *copied) {
  static const char *FILES[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt",
                                "vocab.json", "merges.txt", "added_tokens.json", "sentencepiece.bpe.model",
                                "spiece.model", NULL};
  static const char *ALIAS[][2] = {{"encoder.json", "vocab.json"}, {"vocab.bpe", "merges.txt"}};
  const char *dirs[2] = {hf, cfg->tokenizer};
  char src[P2], dst[P2];
  *copied = 0;
  for (int d = 0; d < 2 && !*copied; d++) {
    if (!dirs[d][0] || !is_dir(dirs[d])) continue;
    for (int i = 0; FILES[i]; i++) {
      snprintf(src, sizeof src, "%s/%s", dirs[d], FILES[i]);
      if (!is_file(src)) continue;
      snprintf(dst, sizeof dst, "%s/%s", out, FILES[i]);
      PST_CHECK(copy_file(src, dst));
      (*copied)++;
    }
    for (int i = 0; i < 2; i++) {
      snprintf(src, sizeof src, "%s/%s", dirs[d], ALIAS[i][0]);
      snprintf(dst, sizeof dst, "%s/%s", out, ALIAS[i][1]);
      if (!is_file(src) || is_file(dst)) continue;
      PST_CHECK(copy_file(src, dst));
      (*copied)++;
    }
    if (*copied) pst_log(1, "pst: copied %d tokenizer files from %s\n", *copied, dirs[d]);
  }
  return PST_OK;
}

static pst_err write_hf_dir(const char *ckpt, const char *tmpdir, pst_model *m, const pst_config *cfg,
                            const pst_ckpt_meta *meta, const char *hf) {
  const int gpt2 = !strcmp(cfg->arch, "gpt2"), llama = !strcmp(cfg->arch, "llama");
  const int roberta = !gpt2 && !llama && cfg->position_offset > 0;
  if (gpt2 && cfg->position_offset)
    PST_ERR(PST_ERR_ARG, "a GPT-2 model with model.position_offset = %d has no Hugging Face equivalent",
            cfg->position_offset);
  if (llama && (cfg->qkv_bias != cfg->o_bias))
    PST_ERR(PST_ERR_ARG, "a llama model with q/k/v biases but %s o bias (Qwen2 style) has no LlamaForCausalLM "
            "equivalent; export it with --format csr", cfg->o_bias ? "an" : "no");
  hf_list l = {NULL, 0, 0};
  pst_err rc = hf_tensors(m, cfg, llama ? PST_HF_LLAMA : gpt2 ? PST_HF_GPT2 : roberta ? PST_HF_ROBERTA : PST_HF_BERT, &l);
  pst_st_entry *e = rc ? NULL : calloc((size_t)l.n, sizeof *e);
  if (!rc && !e) {
    pst_err_set(PST_ERR_MEM, __FILE__, __LINE__, __func__, "out of memory exporting the model");
    rc = PST_ERR_MEM;
  }
  char path[P2], step[32];
  long long floats = 0;
  for (int i = 0; !rc && i < l.n; i++) {
    e[i] = (pst_st_entry){l.t[i].name, PST_DT_F32, l.t[i].ndim, {l.t[i].shape[0], l.t[i].shape[1]}, l.t[i].data};
    floats += l.t[i].shape[0] * (l.t[i].ndim == 2 ? l.t[i].shape[1] : 1);
  }
  snprintf(step, sizeof step, "%ld", meta->step);
  const char *md[] = {"format", "pt", "pst_step", step, "pst_method", cfg->method, NULL};
  snprintf(path, sizeof path, "%s/model.safetensors", tmpdir);
  if (!rc) rc = pst_st_write(path, e, l.n, md);
  if (!rc) pst_log(1, "pst: %d tensors, %lld parameters (F32) -> model.safetensors\n", l.n, floats);
  free(e);
  list_free(&l);
  snprintf(path, sizeof path, "%s/config.json", tmpdir);
  if (!rc) rc = write_config_json(path, cfg, meta, ckpt, roberta);
  int copied;
  if (!rc) rc = copy_tokenizer(cfg, hf, tmpdir, &copied);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_export_hf(const char *ckpt, const char *dir, const pst_export_opts *o) {
  const int force = o && o->force;
  PST_CHECK(check_output(dir, 1, force));
  pst_model *m;
  pst_config cfg;
  pst_ckpt_meta meta;
  PST_CHECK(load_for_export(ckpt, o, &m, &cfg, &meta));
  char hf[P1], gg[P1], wt[P1], tmp[P1];
  pst_err rc = find_base(&cfg, &meta, o ? &o->base : NULL, hf, gg, wt, sizeof hf);
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
  remove_tree(tmp);
  if (!rc && mkdir(tmp, 0777)) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot create '%s': %s", tmp, strerror(errno));
    rc = PST_ERR_IO;
  }
  if (!rc) rc = write_hf_dir(ckpt, tmp, m, &cfg, &meta, hf);
  if (!rc) {
    fsync_path(tmp, 1);
    rc = publish(tmp, dir, force);
  }
  if (rc) remove_tree(tmp);
  pst_model_destroy(m);
  pst_ckpt_meta_free(&meta);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

/* ---- CSR export ---- */

/* A 1-D dataset of n elements (chunked with Fletcher32 when n > 0) holding buf. */
static herr_t write_1d(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *buf) {
  hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (n > 0) {
    hsize_t chunk = n < CHUNK_ELEMS ? n : CHUNK_ELEMS;
    H5Pset_chunk(dcpl, 1, &chunk);
    H5Pset_fletcher32(dcpl);
  }
  hid_t ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  herr_t rc = ds < 0 ? -1 : n > 0 ? H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) : 0;
  if (ds >= 0) H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return rc;
}

/* Copy /sparse/<name>/{rowptr, col, val} and its attributes from src into group dst, and add
 * the bias [m] (zeros for a layer without one). */
static pst_err copy_layer(hid_t src, hid_t dst, const char *name, const float *bias, int brows) {
  char sg[160];
  snprintf(sg, sizeof sg, "sparse/%s", name);
  hid_t gi = H5Gopen2(src, sg, H5P_DEFAULT);
  if (gi < 0) PST_ERR(PST_ERR_FORMAT, "the checkpoint has no /%s", sg);
  long nnz = -1;
  int shape[2] = {0, 0};
  herr_t h = pst_h5_attr_read(gi, "nnz", H5T_NATIVE_LONG, &nnz);
  if (h >= 0) h = pst_h5_attr_read(gi, "shape", H5T_NATIVE_INT, shape);
  if (h >= 0 && (nnz < 0 || shape[0] != brows || shape[1] < 1 || nnz > (long)shape[0] * shape[1])) h = -1;
  int64_t *rp = h >= 0 ? malloc(((size_t)shape[0] + 1) * sizeof *rp) : NULL;
  int32_t *col = rp ? malloc((size_t)(nnz ? nnz : 1) * sizeof *col) : NULL;
  float *val = col ? malloc((size_t)(nnz ? nnz : 1) * sizeof *val) : NULL;
  if (!val) h = -1;
  const char *dsn[3] = {"rowptr", "col", "val"};
  hid_t mt[3] = {H5T_NATIVE_INT64, H5T_NATIVE_INT32, H5T_NATIVE_FLOAT};
  hid_t ft[3] = {H5T_STD_I64LE, H5T_STD_I32LE, H5T_IEEE_F32LE};
  void *bufs[3] = {rp, col, val};
  hsize_t counts[3] = {(hsize_t)shape[0] + 1, (hsize_t)nnz, (hsize_t)nnz};
  for (int k = 0; h >= 0 && k < 3; k++) {
    if (counts[k] == 0) continue;
    hid_t ds = H5Dopen2(gi, dsn[k], H5P_DEFAULT);
    h = ds < 0 || !pst_h5_dataset_is(ds, ft[k], (long long)counts[k]) ? -1
                                                                        : H5Dread(ds, mt[k], H5S_ALL, H5S_ALL, H5P_DEFAULT, bufs[k]);
    if (ds >= 0) H5Dclose(ds);
  }
  H5Gclose(gi);
  if (h < 0) {
    free(rp);
    free(col);
    free(val);
    PST_ERR(PST_ERR_FORMAT, "the checkpoint's /%s cannot be read (checksum or structure)", sg);
  }
  hid_t g = H5Gcreate2(dst, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  h = g < 0 ? -1 : 0;
  for (int k = 0; h >= 0 && k < 3; k++) h = write_1d(g, dsn[k], ft[k], mt[k], counts[k], bufs[k]);
  float *zeros = bias ? NULL : calloc((size_t)brows, sizeof(float));
  if (!bias && !zeros) h = -1;
  if (h >= 0) h = write_1d(g, "bias", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (hsize_t)brows, bias ? bias : zeros);
  free(zeros);
  if (h >= 0) h = pst_h5_attr_write(g, "nnz", H5T_NATIVE_LONG, 0, &nnz);
  if (h >= 0) h = pst_h5_attr_write(g, "shape", H5T_NATIVE_INT, 2, shape);
  if (g >= 0) H5Gclose(g);
  free(rp);
  free(col);
  free(val);
  if (h < 0) PST_ERR(PST_ERR_IO, "cannot write /sparse/%s", name);
  return PST_OK;
}

static pst_err write_csr(const char *ckpt, const char *tmp, pst_model *m, const pst_ckpt_meta *meta) {
  hid_t src;
  PST_CHECK(open_h5(ckpt, &src, NULL));
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) {
    H5Fclose(src);
    PST_ERR(PST_ERR_IO, "cannot create '%s'", tmp);
  }
  int ver = 1;
  herr_t h = pst_h5_attr_write_str(f, "format", "pst-sparse-model");
  if (h >= 0) h = pst_h5_attr_write(f, "version", H5T_NATIVE_INT, 0, &ver);
  if (h >= 0) h = pst_h5_attr_write(f, "step", H5T_NATIVE_LONG, 0, &meta->step);
  if (h >= 0) h = pst_h5_attr_write(f, "sparsity", H5T_NATIVE_DOUBLE, 0, &meta->sparsity);
  if (h >= 0) h = pst_h5_attr_write_str(f, "base_model", meta->base_model);
  if (h >= 0) h = pst_h5_attr_write_str(f, "base_sha256", meta->base_sha256);
  if (h >= 0) h = pst_h5_attr_write_str(f, "config", meta->config_text);
  pst_err rc = PST_OK;
  if (h < 0) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot write the attributes of '%s'", tmp);
    rc = PST_ERR_IO;
  }
  hid_t sp = rc ? -1 : H5Gcreate2(f, "sparse", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!rc && sp < 0) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot create /sparse in '%s'", tmp);
    rc = PST_ERR_IO;
  }
  for (int i = 0; !rc && i < pst_model_num_linears(m); i++) {
    char bn[112];
    int rows, cols;
    pst_model_linear_mask(m, i, &rows, &cols);
    snprintf(bn, sizeof bn, "%s.b", pst_model_linear_name(m, i));
    const pst_tensor_info *bt = model_tensor(m, bn); /* NULL: a bias-free layer (llama) */
    rc = copy_layer(src, sp, pst_model_linear_name(m, i), bt ? *bt->bind : NULL, rows);
  }
  if (sp >= 0) H5Gclose(sp);
  if (H5Fclose(f) < 0 && !rc) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot close '%s'", tmp);
    rc = PST_ERR_IO;
  }
  H5Fclose(src);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}

pst_err pst_export_csr(const char *ckpt, const char *out, const pst_export_opts *o) {
  const int force = o && o->force;
  PST_CHECK(check_output(out, 0, force));
  pst_model *m;
  pst_config cfg;
  pst_ckpt_meta meta;
  PST_CHECK(load_for_export(ckpt, o, &m, &cfg, &meta));
  char tmp[P1];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
  pst_err rc = write_csr(ckpt, tmp, m, &meta);
  if (!rc) {
    fsync_path(tmp, 0);
    rc = publish(tmp, out, force);
  }
  if (rc) remove(tmp);
  pst_model_destroy(m);
  pst_ckpt_meta_free(&meta);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
