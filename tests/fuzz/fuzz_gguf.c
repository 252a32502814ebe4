/* fuzz_gguf.c — fuzz target for the GGUF reader (gguf.c, gguf_dequant.c) and the LLaMA mapping
 * (gguf_llama.c, gguf_tokenizer.c).
 *
 * Built with clang -fsanitize=fuzzer,address it is a libFuzzer target (LLVMFuzzerTestOneInput);
 * built with -DPST_FUZZ_MAIN it replays the corpus directories / files named on the command
 * line (default tests/fuzz/corpus/gguf), so `make check` runs the committed corpus without
 * clang. See tests/fuzz/README.md.
 *
 * Each input is written to a temp file and opened. If it opens: every tensor's placement is
 * checked against the file; every tensor of a supported type is read whole and by row and
 * column ranges, which must agree bit for bit with the whole read; an unsupported type must be
 * refused by name; every metadata value is read through every typed accessor (each either
 * succeeds or fails with PST_ERR_FORMAT); the llama config, the tokenizer metadata and, for
 * small models, the loader (whole and as a tp = 2 shard, which must agree) run and either
 * succeed or fail cleanly. If it does not open, the error message must start with the path.
 * A broken invariant calls abort(). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pst/gguf.h"
#include "pst/gguf_llama.h"
#include "pst/params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char work_dir[512];
static char in_path[600];
static const char *current_input = "libFuzzer input";

#define CHECK(cond)                                                                                   \
  do {                                                                                                \
    if (!(cond)) {                                                                                    \
      fprintf(stderr, "fuzz_gguf: %s: invariant failed at line %d: %s\n  last error: %s\n",          \
              current_input, __LINE__, #cond, pst_err_message());                                     \
      abort();                                                                                        \
    }                                                                                                 \
  } while (0)

static void remove_work_dir(void) {
  unlink(in_path);
  rmdir(work_dir);
}

static void init_work_dir(void) {
  if (work_dir[0]) return;
  const char *base = getenv("TMPDIR");
  if (!base || !*base) base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(work_dir, sizeof work_dir, "%s/pst_fuzz_gguf_XXXXXX", base);
  if (!mkdtemp(work_dir)) {
    perror("fuzz_gguf: mkdtemp");
    abort();
  }
  snprintf(in_path, sizeof in_path, "%s/in.gguf", work_dir);
  pst_log_level = 0;
  atexit(remove_work_dir);
}

static void write_input(const uint8_t *data, size_t size) {
  int fd = open(in_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    perror("fuzz_gguf: open");
    abort();
  }
  while (size) {
    ssize_t w = write(fd, data, size);
    if (w <= 0) {
      perror("fuzz_gguf: write");
      abort();
    }
    data += w;
    size -= (size_t)w;
  }
  close(fd);
}

/* A clean failure: a format (or allocation) error whose message names the file. */
static void check_clean_error(pst_err rc) {
  CHECK(rc == PST_ERR_FORMAT || rc == PST_ERR_MEM);
  CHECK(strstr(pst_err_message(), in_path) != NULL);
  pst_err_clear();
}

#define MAX_READ (1 << 20) /* elements read per tensor (inputs are small; keeps runs fast) */

static void exercise_tensors(const pst_gguf *g, size_t file_size) {
  const int nt = pst_gguf_tensor_count(g);
  const uint64_t ds = pst_gguf_data_offset(g);
  for (int i = 0; i < nt; i++) {
    const pst_gguf_tensor *t = pst_gguf_tensor_at(g, i);
    CHECK(t && t->name && strlen(t->name) < PST_GGUF_MAX_NAME);
    CHECK(pst_gguf_find_tensor(g, t->name) == t);
    CHECK(pst_gguf_tensor_index(g, t) == i);
    CHECK(t->ndim >= 1 && t->ndim <= PST_GGUF_MAX_DIMS);
    CHECK(t->offset >= ds && (t->offset - ds) % pst_gguf_alignment(g) == 0);
    CHECK(t->offset <= file_size && t->nbytes <= file_size - t->offset);
    const int64_t blk = pst_ggml_block_size(t->type), ne0 = t->ne[0], rows = pst_gguf_rows(t);
    CHECK(blk > 0 && ne0 % blk == 0);
    CHECK((uint64_t)(ne0 / blk) * pst_ggml_type_size(t->type) * (uint64_t)rows == t->nbytes);
    if (!pst_ggml_type_supported(t->type)) {
      float one;
      CHECK(pst_gguf_read_rows_f32(g, t->name, 0, 0, &one) == PST_ERR_FORMAT);
      CHECK(strstr(pst_err_message(), pst_ggml_type_name(t->type)));
      pst_err_clear();
      continue;
    }
    if (ne0 * rows > MAX_READ) continue;
    const size_t n = (size_t)(ne0 * rows);
    float *all = malloc(n * 4), *part = malloc(n * 4);
    CHECK(all && part);
    CHECK(pst_gguf_read_f32(g, t->name, all) == PST_OK);
    const int64_t r0 = rows / 3, nr = rows - r0 - rows / 4;
    CHECK(pst_gguf_read_rows_f32(g, t->name, r0, nr, part) == PST_OK);
    CHECK(memcmp(part, all + r0 * ne0, (size_t)(nr * ne0) * 4) == 0);
    const int64_t c0 = ne0 / 3, nc = ne0 - c0 - ne0 / 5;
    CHECK(pst_gguf_read_cols_f32(g, t->name, c0, nc, part) == PST_OK);
    for (int64_t r = 0; r < rows; r++) CHECK(memcmp(part + r * nc, all + r * ne0 + c0, (size_t)nc * 4) == 0);
    CHECK(pst_gguf_read_rows_f32(g, t->name, rows, 1, part) == PST_ERR_ARG);
    pst_err_clear();
    free(all);
    free(part);
  }
  CHECK(pst_gguf_find_tensor(g, "\x01 no such tensor") == NULL);
}

static void exercise_metadata(const pst_gguf *g) {
  const int nkv = pst_gguf_kv_count(g);
  for (int i = 0; i < nkv; i++) {
    const char *k = pst_gguf_kv_key(g, i);
    CHECK(k && pst_gguf_kv_find(g, k) == i);
    const int type = pst_gguf_kv_type(g, i);
    CHECK(type >= 0 && type <= PST_GGUF_FLOAT64);
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    int b;
    const char *s;
    pst_err rc;
    /* each typed read succeeds or is a clean format error */
    if ((rc = pst_gguf_get_u32(g, k, &u32))) check_clean_error(rc);
    if ((rc = pst_gguf_get_i32(g, k, &i32))) check_clean_error(rc);
    if ((rc = pst_gguf_get_u64(g, k, &u64))) check_clean_error(rc);
    if ((rc = pst_gguf_get_f32(g, k, &f))) check_clean_error(rc);
    if ((rc = pst_gguf_get_bool(g, k, &b))) check_clean_error(rc);
    CHECK(!pst_gguf_get_bool(g, k, &b) == (type == PST_GGUF_BOOL));
    pst_err_clear();
    rc = pst_gguf_get_str(g, k, &s, &u64);
    CHECK(!rc == (type == PST_GGUF_STRING));
    if (rc) check_clean_error(rc);
    int et;
    uint64_t cnt;
    rc = pst_gguf_get_arr(g, k, &et, &cnt);
    CHECK(!rc == (type == PST_GGUF_ARRAY));
    if (rc) {
      check_clean_error(rc);
      continue;
    }
    for (uint64_t j = 0; j < cnt && j < 4096; j++) {
      int64_t iv;
      double dv;
      uint64_t len;
      if ((rc = pst_gguf_arr_str(g, k, j, &s, &len))) check_clean_error(rc);
      if ((rc = pst_gguf_arr_int(g, k, j, &iv))) check_clean_error(rc);
      if ((rc = pst_gguf_arr_float(g, k, j, &dv))) check_clean_error(rc);
    }
  }
  CHECK(pst_gguf_kv_find(g, "\x01 no such key") == -1);
}

/* Register the tensors of model m (ndim 2 global [a, b]; tp = 2: rank 0's Megatron shard). */
static void add(pst_params *p, const char *name, int nd, int64_t a, int64_t b, int sd, int tp) {
  int64_t la = a, lb = b;
  if (tp > 1 && sd == 0) la = a / tp;
  if (tp > 1 && sd == 1) lb = b / tp;
  CHECK(pst_params_add(p, name, nd, la, lb, 0, 1, NULL, NULL) == PST_OK);
  if (tp > 1 && sd >= 0) pst_params_shard_last(p, sd, 0, sd == 0 ? a : b);
}

static void build_tables(pst_params *p, const pst_gguf_llama *m, int tp) {
  memset(p, 0, sizeof *p);
  const int64_t C = m->hidden, Q = (int64_t)m->heads * m->head_dim, KV = (int64_t)m->kv_heads * m->head_dim, F = m->ffn;
  add(p, "emb.tok", 2, m->vocab, C, -1, tp);
  add(p, "lnf.w", 1, C, 0, -1, tp);
  if (!m->tie_embeddings) add(p, "head.w", 2, m->vocab, C, -1, tp);
  char n[96];
  for (int l = 0; l < m->layers; l++) {
#define T(nm, nd, a, b, sd) (snprintf(n, sizeof n, "blk.%d." nm, l), add(p, n, nd, a, b, sd, tp))
    T("ln1.w", 1, C, 0, -1);
    T("ln2.w", 1, C, 0, -1);
    T("q.w", 2, Q, C, 0);
    T("k.w", 2, KV, C, 0);
    T("v.w", 2, KV, C, 0);
    T("o.w", 2, C, Q, 1);
    T("gate.w", 2, F, C, 0);
    T("up.w", 2, F, C, 0);
    T("down.w", 2, C, F, 1);
    if (m->qkv_bias) {
      T("q.b", 1, Q, 0, 0);
      T("k.b", 1, KV, 0, 0);
      T("v.b", 1, KV, 0, 0);
    }
#undef T
  }
}

static float *slot[4096];

static pst_err load(const pst_gguf *g, pst_params *p) {
  CHECK(p->n <= 4096);
  CHECK(pst_params_alloc(p, 0) == PST_OK);
  for (int i = 0; i < p->n; i++) {
    slot[i] = p->data + p->t[i].offset;
    p->t[i].bind = &slot[i];
  }
  pst_params *tabs[1] = {p};
  return pst_gguf_load_params_from(g, tabs, 1, NULL);
}

static void exercise_llama(const pst_gguf *g) {
  pst_gguf_llama m;
  pst_err rc = pst_gguf_llama_read(g, &m);
  if (rc) check_clean_error(rc);
  pst_gguf_tokenizer tok;
  pst_err rt = pst_gguf_tokenizer_read(g, rc ? 0 : m.vocab, &tok);
  if (rt) {
    check_clean_error(rt);
    CHECK(tok.tokens == NULL && tok.ntokens == 0);
  } else {
    CHECK(tok.ntokens > 0 && tok.tokens);
    for (int i = 0; i < tok.ntokens; i++) CHECK(tok.tokens[i]);
    CHECK(tok.bos_id < tok.ntokens && tok.eos_id < tok.ntokens && tok.unk_id < tok.ntokens && tok.pad_id < tok.ntokens);
  }
  pst_gguf_tokenizer_free(&tok);
  if (rc) return;
  CHECK(m.hidden == m.heads * m.head_dim && m.heads % m.kv_heads == 0 && m.head_dim % 2 == 0);
  const int64_t per = (int64_t)m.hidden * (4 * m.hidden + 3 * m.ffn);
  if (m.layers > 4 || per * m.layers + (int64_t)m.vocab * m.hidden * 2 > MAX_READ) return;
  pst_params full, sh;
  build_tables(&full, &m, 1);
  rc = load(g, &full);
  if (rc) {
    CHECK(rc == PST_ERR_FORMAT);
    pst_err_clear();
  } else if (m.kv_heads % 2 == 0 && m.ffn % 2 == 0 && m.hidden % 2 == 0) {
    /* rank 0 of tp 2 reads exactly the leading rows / columns of the full load */
    build_tables(&sh, &m, 2);
    CHECK(load(g, &sh) == PST_OK);
    for (int i = 0; i < sh.n; i++) {
      const pst_tensor_info *t = &sh.t[i], *f = pst_params_find(&full, t->name);
      const float *fd = full.data + f->offset, *sd = sh.data + t->offset;
      if (t->shard_dim == 1)
        for (int64_t r = 0; r < t->shape[0]; r++) CHECK(!memcmp(sd + r * t->shape[1], fd + r * t->gshape[1], (size_t)t->shape[1] * 4));
      else
        CHECK(!memcmp(sd, fd, t->numel * 4));
    }
    pst_params_free(&sh);
  }
  pst_params_free(&full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  init_work_dir();
  write_input(data, size);
  pst_gguf *g = NULL;
  pst_err rc = pst_gguf_open(&g, in_path);
  if (rc == PST_OK) {
    CHECK(g);
    CHECK(strcmp(pst_gguf_path(g), in_path) == 0);
    CHECK(pst_gguf_version(g) == 2 || pst_gguf_version(g) == 3);
    const uint32_t a = pst_gguf_alignment(g);
    CHECK(a && (a & (a - 1)) == 0 && pst_gguf_data_offset(g) % a == 0);
    CHECK(pst_gguf_file_size(g) == size);
    exercise_tensors(g, size);
    exercise_metadata(g);
    exercise_llama(g);
    pst_gguf_close(g);
  } else {
    CHECK(g == NULL);
    CHECK(rc == PST_ERR_FORMAT || rc == PST_ERR_IO || rc == PST_ERR_MEM);
    CHECK(strncmp(pst_err_message(), in_path, strlen(in_path)) == 0);
  }
  pst_err_clear();
  return 0;
}

#ifdef PST_FUZZ_MAIN
#define PST_FUZZ_NAME "gguf"
#include "replay_main.h"
#endif
