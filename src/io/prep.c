/* prep.c — write and read `pst prep` HDF5 files (layout in prep.h), with HDF5's high-level
 * H5LT calls. HDF5's own error stack printing is turned off; failures become pst errors
 * naming the file and the object. */
#include "pst/prep.h"

#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pst/tokenizer.h"

#define PREP_FORMAT "pst-prep"
#define PREP_VERSION "1"

/* sha256 of a whole file into hex[65]. */
static pst_err file_sha256(const char *path, char hex[65]) {
  char *buf;
  size_t len;
  PST_CHECK(pst_tok_read_file(path, &buf, &len));
  pst_sha256_hex(buf, len, hex);
  free(buf);
  return PST_OK;
}

#define H5TRY(call, ...) do { if ((call) < 0) PST_ERR(PST_ERR_IO, __VA_ARGS__); } while (0)

static pst_err write_split(hid_t file, const char *name, const pst_split *s, const char *source, const char *out) {
  hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) PST_ERR(PST_ERR_IO, "%s: cannot create group /%s", out, name);
  const pst_dataset *d = &s->ids;
  hsize_t ntok = (hsize_t)d->start[d->n], nex = (hsize_t)d->n, noff = nex + 1;
  pst_err rc = PST_OK;
  char hex[65];
  if ((rc = file_sha256(source, hex))) goto done;
  /* H5LT refuses zero-size datasets' NULL buffers: pass a dummy pointer for empty arrays */
  static int32_t empty;
  if (H5LTmake_dataset_int(g, "ids", 1, &ntok, ntok ? d->ids : &empty) < 0 ||
      H5LTmake_dataset_int(g, "types", 1, &ntok, ntok ? d->types : &empty) < 0 ||
      H5LTmake_dataset_long(g, "offsets", 1, &noff, d->start) < 0 ||
      (d->label && H5LTmake_dataset_int(g, "labels", 1, &nex, d->label) < 0) ||
      (d->label_f && H5LTmake_dataset_float(g, "labels_f", 1, &nex, d->label_f) < 0) ||
      (d->predict && H5LTmake_dataset(g, "predict", 1, &ntok, H5T_NATIVE_UCHAR, ntok ? (void *)d->predict : &empty) < 0)) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot write the datasets of /%s", out, name);
    rc = PST_ERR_IO;
    goto done;
  }
  size_t names_len = 1;
  for (int i = 0; s->label_names && i < s->num_labels; i++) names_len += strlen(s->label_names[i]) + 1;
  char *names = calloc(names_len, 1);
  for (int i = 0; names && s->label_names && i < s->num_labels; i++) {
    if (i) strcat(names, "\n");
    strcat(names, s->label_names[i]);
  }
  long examples = (long)d->n;
  int bad = !names || H5LTset_attribute_string(g, ".", "source", source) < 0 ||
            H5LTset_attribute_string(g, ".", "source_sha256", hex) < 0 ||
            H5LTset_attribute_int(g, ".", "num_labels", &s->num_labels, 1) < 0 ||
            H5LTset_attribute_string(g, ".", "label_names", names) < 0 ||
            H5LTset_attribute_long(g, ".", "examples", &examples, 1) < 0;
  free(names);
  if (bad) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot write the attributes of /%s", out, name);
    rc = PST_ERR_IO;
  }
done:
  H5Gclose(g);
  return rc;
}

static pst_err prep_splits(const pst_config *cfg, const pst_tokenizer *tok, const char *tmp, const char *out) {
  char path[PST_PATH_MAX];
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) PST_ERR(PST_ERR_IO, "cannot create %s", tmp);
  pst_err rc = PST_OK;
  const char *names[2] = {"train", "dev"}, *paths[2] = {cfg->train_path, cfg->dev_path};
  for (int i = 0; i < 2 && !rc; i++) {
    if (!paths[i][0]) continue;
    pst_config_path(cfg, paths[i], path, sizeof path);
    pst_split s;
    rc = pst_split_load(&s, cfg, path, tok, names[i]);
    if (!rc) {
      rc = write_split(f, names[i], &s, path, out);
      pst_log(1, "pst prep: /%s: %ld examples, %ld tokens from %s\n", names[i], s.ids.n, s.ids.start[s.ids.n], path);
      pst_split_free(&s);
    }
  }
  int seq_len = cfg->seq_len;
  if (!rc && (H5LTset_attribute_string(f, "/", "format", PREP_FORMAT) < 0 ||
              H5LTset_attribute_string(f, "/", "version", PREP_VERSION) < 0 ||
              H5LTset_attribute_string(f, "/", "tokenizer", tok ? pst_tokenizer_identity(tok) : "none") < 0 ||
              H5LTset_attribute_int(f, "/", "seq_len", &seq_len, 1) < 0 ||
              H5LTset_attribute_string(f, "/", "task", cfg->task) < 0 ||
              H5LTset_attribute_string(f, "/", "data_format", cfg->format) < 0 ||
              H5LTset_attribute_string(f, "/", "glue_task", cfg->glue_task) < 0)) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot write the file attributes", out);
    rc = PST_ERR_IO;
  }
  if (H5Fclose(f) < 0 && !rc) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot close (disk full?)", tmp);
    rc = PST_ERR_IO;
  }
  return rc;
}

pst_err pst_prep_write(const pst_config *cfg, const char *out_path) {
  if (!strcmp(cfg->format, "prep")) PST_ERR(PST_ERR_CONFIG, "pst prep: data.format is already prep");
  if (!cfg->train_path[0]) PST_ERR(PST_ERR_CONFIG, "pst prep: data.train is not set");
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  pst_tokenizer *tok = NULL;
  if (strcmp(cfg->format, "ids")) {
    const char *dir = cfg->tokenizer[0] ? cfg->tokenizer : cfg->hf_dir;
    if (!dir[0]) PST_ERR(PST_ERR_CONFIG, "pst prep: data.format = %s needs data.tokenizer or model.hf_dir", cfg->format);
    char path[PST_PATH_MAX];
    pst_config_path(cfg, dir, path, sizeof path);
    PST_CHECK(pst_tokenizer_load_dir(&tok, path));
  }
  char tmp[PST_PATH_MAX + 8];
  snprintf(tmp, sizeof tmp, "%s.tmp", out_path);
  pst_err rc = prep_splits(cfg, tok, tmp, out_path);
  pst_tokenizer_free(tok);
  if (!rc && rename(tmp, out_path)) {
    pst_err_set(PST_ERR_IO, __FILE__, __LINE__, __func__, "cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
    rc = PST_ERR_IO;
  }
  if (rc) {
    remove(tmp);
    pst_err_trace(__FILE__, __LINE__, __func__);
  }
  return rc;
}

/* A string attribute of obj into buf (NUL-terminated); PST_ERR_FORMAT if absent. */
static pst_err get_string(hid_t f, const char *obj, const char *attr, char *buf, size_t size, const char *path) {
  hsize_t dims;
  H5T_class_t cls;
  size_t tsize;
  if (H5LTget_attribute_info(f, obj, attr, &dims, &cls, &tsize) < 0 || cls != H5T_STRING || tsize + 1 > size)
    PST_ERR(PST_ERR_FORMAT, "%s: %s has no string attribute '%s' (not a pst prep file?)", path, obj, attr);
  if (H5LTget_attribute_string(f, obj, attr, buf) < 0) PST_ERR(PST_ERR_FORMAT, "%s: cannot read %s:%s", path, obj, attr);
  buf[tsize] = 0;
  return PST_OK;
}

/* Read an int32/long/float 1-D dataset of exactly n elements into a new buffer. */
static pst_err read_1d(hid_t g, const char *name, size_t n, size_t elsize, void **out, const char *path,
                       const char *split) {
  hsize_t dims[2];
  H5T_class_t cls;
  size_t tsize;
  int rank;
  if (H5LTget_dataset_ndims(g, name, &rank) < 0 || rank != 1 || H5LTget_dataset_info(g, name, dims, &cls, &tsize) < 0 ||
      dims[0] != n)
    PST_ERR(PST_ERR_FORMAT, "%s: /%s/%s is missing or does not hold %zu elements", path, split, name, n);
  PST_CHECK(pst_calloc(out, n ? n : 1, elsize, name));
  herr_t e = elsize == sizeof(long) ? H5LTread_dataset_long(g, name, *out)
             : !strcmp(name, "labels_f") ? H5LTread_dataset_float(g, name, *out)
                                         : H5LTread_dataset_int(g, name, *out);
  if (e < 0) PST_ERR(PST_ERR_FORMAT, "%s: cannot read /%s/%s (truncated or corrupted file?)", path, split, name);
  return PST_OK;
}

static pst_err read_group(pst_split *s, hid_t f, const char *path, const char *split, const pst_config *cfg) {
  hid_t g = H5Gopen2(f, split, H5P_DEFAULT);
  if (g < 0) PST_ERR(PST_ERR_FORMAT, "%s: no /%s group (was data.%s set when it was prepared?)", path, split, split);
  pst_err rc = PST_OK;
  long examples = 0;
  char names[8192];
  if (H5LTget_attribute_long(g, ".", "examples", &examples) < 0 || examples < 0 ||
      H5LTget_attribute_int(g, ".", "num_labels", &s->num_labels) < 0) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s lacks its attributes", path, split);
    rc = PST_ERR_FORMAT;
    goto done;
  }
  pst_dataset *d = &s->ids;
  d->n = examples;
  if ((rc = read_1d(g, "offsets", (size_t)examples + 1, sizeof(long), (void **)&d->start, path, split))) goto done;
  for (long i = 0; i < examples; i++)
    if (d->start[i + 1] < d->start[i] || d->start[i + 1] - d->start[i] > cfg->seq_len || d->start[0] != 0) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s/offsets are not increasing within seq_len at %ld",
                  path, split, i);
      rc = PST_ERR_FORMAT;
      goto done;
    }
  size_t ntok = (size_t)d->start[examples];
  if ((rc = read_1d(g, "ids", ntok, sizeof(int32_t), (void **)&d->ids, path, split))) goto done;
  if ((rc = read_1d(g, "types", ntok, sizeof(int32_t), (void **)&d->types, path, split))) goto done;
  for (size_t i = 0; i < ntok; i++)
    if (d->ids[i] < 0 || d->ids[i] >= cfg->vocab || d->types[i] < 0) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s/ids[%zu] = %d is outside the vocabulary [0, %d)",
                  path, split, i, d->ids[i], cfg->vocab);
      rc = PST_ERR_FORMAT;
      goto done;
    }
  if (H5LTfind_dataset(g, "predict") > 0) { /* lm on text pairs: which tokens are targets */
    hsize_t pd;
    H5T_class_t cls;
    size_t tsize;
    if (H5LTget_dataset_info(g, "predict", &pd, &cls, &tsize) < 0 || pd != ntok || tsize != 1 ||
        (rc = pst_calloc((void **)&d->predict, ntok ? ntok : 1, 1, "predict")) ||
        H5LTread_dataset(g, "predict", H5T_NATIVE_UCHAR, d->predict) < 0) {
      if (!rc) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s/predict is unreadable", path, split);
        rc = PST_ERR_FORMAT;
      }
      goto done;
    }
  }
  if (!strcmp(cfg->task, "classify")) {
    if ((rc = read_1d(g, "labels", (size_t)examples, sizeof(int32_t), (void **)&d->label, path, split))) goto done;
    for (long i = 0; i < examples; i++)
      if (d->label[i] < 0 || d->label[i] >= s->num_labels) {
        pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: /%s/labels[%ld] = %d is outside [0, %d)", path,
                    split, i, d->label[i], s->num_labels);
        rc = PST_ERR_FORMAT;
        goto done;
      }
  } else if (!strcmp(cfg->task, "regress")) {
    if ((rc = read_1d(g, "labels_f", (size_t)examples, sizeof(float), (void **)&d->label_f, path, split))) goto done;
  }
  if (s->num_labels > 0 && !get_string(g, ".", "label_names", names, sizeof names, path) && names[0]) {
    s->label_names = calloc((size_t)s->num_labels, sizeof(char *));
    char *save = NULL, *tok = strtok_r(names, "\n", &save);
    for (int i = 0; s->label_names && i < s->num_labels && tok; i++, tok = strtok_r(NULL, "\n", &save))
      s->label_names[i] = strdup(tok);
  }
  pst_err_clear();
done:
  H5Gclose(g);
  return rc;
}

pst_err pst_prep_read(pst_split *s, const char *path, const char *split, const pst_config *cfg,
                      const char *tok_identity) {
  memset(s, 0, sizeof *s);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (H5Fis_hdf5(path) <= 0) PST_ERR(PST_ERR_IO, "%s: not a readable HDF5 file", path);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) PST_ERR(PST_ERR_IO, "cannot open %s", path);
  char buf[1024];
  int seq_len = 0;
  pst_err rc = get_string(f, "/", "format", buf, sizeof buf, path);
  if (!rc && strcmp(buf, PREP_FORMAT)) {
    pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: format '%s' is not %s", path, buf, PREP_FORMAT);
    rc = PST_ERR_FORMAT;
  }
  if (!rc && (rc = get_string(f, "/", "task", buf, sizeof buf, path)) == PST_OK && strcmp(buf, cfg->task)) {
    pst_err_set(PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s was prepared for data.task = %s, not %s", path, buf, cfg->task);
    rc = PST_ERR_CONFIG;
  }
  if (!rc && (H5LTget_attribute_int(f, "/", "seq_len", &seq_len) < 0 || seq_len != cfg->seq_len)) {
    pst_err_set(PST_ERR_CONFIG, __FILE__, __LINE__, __func__,
                "%s was prepared with seq_len %d but train.seq_len is %d: run pst prep again", path, seq_len, cfg->seq_len);
    rc = PST_ERR_CONFIG;
  }
  if (!rc && tok_identity && (rc = get_string(f, "/", "tokenizer", buf, sizeof buf, path)) == PST_OK &&
      strcmp(buf, tok_identity)) {
    pst_err_set(PST_ERR_CONFIG, __FILE__, __LINE__, __func__, "%s was prepared with tokenizer '%s', not '%s'", path, buf,
                tok_identity);
    rc = PST_ERR_CONFIG;
  }
  if (!rc) rc = read_group(s, f, path, split, cfg);
  H5Fclose(f);
  if (rc) {
    pst_err_trace(__FILE__, __LINE__, __func__);
    pst_split_free(s);
  }
  return rc;
}
