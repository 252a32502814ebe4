/* fuzz_safetensors.c — fuzz target for the safetensors reader and writer.
 *
 * Built with clang -fsanitize=fuzzer,address it is a libFuzzer target
 * (LLVMFuzzerTestOneInput); built with -DPST_FUZZ_MAIN it is a plain program that
 * replays every file of the corpus directories / files named on the command line, so
 * `make check` can run the committed corpus without clang. See tests/fuzz/README.md.
 *
 * Each input is written to a temp file and opened. If it opens, every tensor is read
 * (into fp32 or int32 as its dtype allows), invariants are checked, and the whole file
 * is written back with pst_st_write and reopened: the copy must hold the same tensors
 * byte for byte. If it does not open, the error message must name the file. Any broken
 * invariant calls abort() so the fuzzer records a crash. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work_dir[512];
static char in_path[600];
static char out_path[600];
static const char *current_input = "libFuzzer input"; /* named in failure reports */

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "fuzz_safetensors: %s: invariant failed at line %d: %s\n"      \
              "  last error: %s\n", current_input, __LINE__, #cond, pst_err_message());  \
      abort();                                                                       \
    }                                                                                \
  } while (0)

static void remove_work_dir(void) {
  unlink(in_path);
  unlink(out_path);
  rmdir(work_dir);
}

/* Create the scratch directory once per process: $TMPDIR, else /dev/shm (tmpfs keeps
 * the writer's fsync cheap), else /tmp. */
static void init_work_dir(void) {
  if (work_dir[0]) return;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(work_dir, sizeof work_dir, "%s/pst_fuzz_st_XXXXXX", base);
  if (!mkdtemp(work_dir)) {
    perror("fuzz_safetensors: mkdtemp");
    abort();
  }
  snprintf(in_path, sizeof in_path, "%s/in.safetensors", work_dir);
  snprintf(out_path, sizeof out_path, "%s/out.safetensors", work_dir);
  atexit(remove_work_dir);
}

static void write_input(const uint8_t *data, size_t size) {
  int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    perror("fuzz_safetensors: open");
    abort();
  }
  while (size) {
    ssize_t w = write(fd, data, size);
    if (w <= 0) {
      perror("fuzz_safetensors: write");
      abort();
    }
    data += w;
    size -= (size_t)w;
  }
  close(fd);
}

static int is_float(pst_dtype dt) {
  return dt == PST_DT_F32 || dt == PST_DT_F16 || dt == PST_DT_BF16 || dt == PST_DT_F64;
}

/* Read every tensor and check the reader's invariants. */
static void exercise(const pst_safetensors *st, size_t file_size) {
  int n = pst_st_count(st);
  for (int i = 0; i < n; i++) {
    const pst_st_tensor *t = pst_st_at(st, i);
    CHECK(t && t->name);
    CHECK(pst_st_find(st, t->name) == t);
    if (i) CHECK(strcmp(pst_st_at(st, i - 1)->name, t->name) < 0);
    CHECK(t->ndim >= 0 && t->ndim <= PST_ST_MAX_DIM);
    CHECK(t->offset >= 8 && t->offset <= file_size && t->nbytes <= file_size - t->offset);
    uint64_t numel = t->nbytes / pst_dtype_size(t->dtype);
    CHECK(numel * pst_dtype_size(t->dtype) == t->nbytes);

    /* fp32 / int32 outputs are at most 4x the (file-bounded) input bytes. */
    void *buf = malloc(numel ? (size_t)numel * 4 : 1);
    CHECK(buf);
    pst_err rf = pst_st_read_f32(st, t->name, buf, t->ndim, t->shape);
    pst_err ri = pst_st_read_i32(st, t->name, buf, t->ndim, t->shape);
    if (is_float(t->dtype)) {
      CHECK(rf == PST_OK);
      CHECK(ri == PST_ERR_FORMAT);
    } else {
      CHECK(rf == PST_ERR_FORMAT);
      /* I64 out of int32 range and BOOL bytes other than 0/1 are the only failures */
      CHECK(ri == PST_OK || t->dtype == PST_DT_I64 || t->dtype == PST_DT_BOOL);
    }
    if (t->ndim < PST_ST_MAX_DIM) { /* one extra dimension never matches */
      int64_t shape[PST_ST_MAX_DIM];
      memcpy(shape, t->shape, sizeof shape);
      shape[t->ndim] = 1;
      CHECK(pst_st_read_f32(st, t->name, buf, t->ndim + 1, shape) == PST_ERR_FORMAT);
    }
    free(buf);
  }
  CHECK(pst_st_read_f32(st, "\x01 no such tensor", NULL, 0, NULL) == PST_ERR_FORMAT);
  CHECK(strstr(pst_err_message(), "not found"));
  (void)pst_st_metadata(st, "format");
  (void)pst_st_metadata(st, "");
}

/* Write all tensors of st to out_path and check that the copy reads back the same. */
static void round_trip(const pst_safetensors *st) {
  int n = pst_st_count(st);
  pst_st_entry *e = calloc((size_t)n + 1, sizeof *e);
  CHECK(e);
  for (int i = 0; i < n; i++) {
    const pst_st_tensor *t = pst_st_at(st, i);
    e[i].name = t->name;
    e[i].dtype = t->dtype;
    e[i].ndim = t->ndim;
    memcpy(e[i].shape, t->shape, sizeof e[i].shape);
    e[i].data = pst_st_data(st, t);
  }
  const char *meta[] = {"source", "fuzz", NULL};
  CHECK(pst_st_write(out_path, e, n, meta) == PST_OK);
  pst_safetensors *copy = NULL;
  CHECK(pst_st_open(&copy, out_path) == PST_OK);
  CHECK(pst_st_count(copy) == n);
  CHECK(strcmp(pst_st_metadata(copy, "source"), "fuzz") == 0);
  /* Entries were written in name order, so the first one starts the 8-aligned data. */
  if (n) CHECK(pst_st_at(copy, 0)->offset % 8 == 0);
  for (int i = 0; i < n; i++) {
    const pst_st_tensor *a = pst_st_at(st, i), *b = pst_st_at(copy, i);
    CHECK(strcmp(a->name, b->name) == 0 && a->dtype == b->dtype && a->ndim == b->ndim);
    CHECK(memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) == 0);
    CHECK(a->nbytes == b->nbytes);
    CHECK(memcmp(pst_st_data(st, a), pst_st_data(copy, b), (size_t)a->nbytes) == 0);
  }
  pst_st_close(copy);
  free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_work_dir();
  write_input(data, size);
  pst_safetensors *st = NULL;
  pst_err rc = pst_st_open(&st, in_path);
  if (rc == PST_OK) {
    CHECK(st);
    CHECK(strcmp(pst_st_path(st), in_path) == 0);
    exercise(st, size);
    round_trip(st);
    pst_st_close(st);
  } else {
    CHECK(st == NULL);
    CHECK(rc == PST_ERR_FORMAT || rc == PST_ERR_IO || rc == PST_ERR_MEM);
    CHECK(strncmp(pst_err_message(), in_path, strlen(in_path)) == 0);
  }
  pst_err_clear();
  return 0;
}

#ifdef PST_FUZZ_MAIN
#define PST_FUZZ_NAME "safetensors"
#include "replay_main.h"
#endif
