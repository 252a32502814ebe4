/* test_gguf.c — unit tests for the GGUF reader (gguf.h) and the LLaMA-family mapping
 * (gguf_llama.h) (cmocka).
 *
 * Fixtures (tests/reference/make_gguf_fixtures.py, written with gguf-py 0.17.1; the directory
 * is $top_srcdir/tests/fixtures/gguf, top_srcdir defaulting to "."):
 *   quants.gguf + quants_expected.safetensors: F32, F16, BF16, Q8_0, Q4_0, Q4_1 tensors and
 *     gguf-py's dequantization of each; compared bit for bit, whole and by every row range
 *     and column range (block-aligned or not).
 *   llama-tiny.gguf + llama-tiny_expected.safetensors: a 2-layer llama file with q/k stored
 *     permuted as convert_hf_to_gguf.py does; the expected file holds the Hugging Face order.
 *     Checks the config, the loaded tensors, tensor-parallel row / column shards (whole heads
 *     and not), the tokenizer metadata and the loader's errors.
 *   qwen2-tiny.gguf: qwen2 (not permuted, q/k/v biases, untied head).
 * Bad input: files built here byte by byte, each rejected with a message naming the file
 * and the field (wrong architecture, unsupported tensor type, truncation, data outside the
 * file, misalignment, absurd counts and lengths, duplicates, wrong value types, ...). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "pst/config.h"
#include "pst/gguf.h"
#include "pst/gguf_llama.h"
#include "pst/params.h"
#include "pst/safetensors.h"

static char fixdir[1024];
static char tmpdir[256];

static void fixture(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", fixdir, name); }

static void assert_msg_has(const char *frag) {
  const char *m = pst_err_message();
  if (!strstr(m, frag)) {
    print_error("message: \"%s\"\nexpected fragment: \"%s\"\n", m, frag);
    fail();
  }
}

static void assert_bits_equal(const float *a, const float *b, size_t n, const char *what) {
  if (n && memcmp(a, b, n * sizeof(float))) {
    for (size_t i = 0; i < n; i++)
      if (memcmp(a + i, b + i, sizeof(float))) {
        print_error("%s: element %zu: got %.9g, expected %.9g\n", what, i, (double)a[i], (double)b[i]);
        break;
      }
    fail();
  }
}

static int group_setup(void **state) {
  (void)state;
  const char *top = getenv("top_srcdir");
  snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/gguf", top && *top ? top : ".");
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/pst_gguf_test_XXXXXX", base && *base ? base : "/tmp");
  pst_log_level = 0;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  char p[512];
  snprintf(p, sizeof p, "%s/t.gguf", tmpdir);
  unlink(p);
  rmdir(tmpdir);
  return 0;
}

/* ---- dequantization against gguf-py ---- */

static void test_type_table(void **state) {
  (void)state;
  assert_string_equal(pst_ggml_type_name(14), "Q6_K");
  assert_int_equal(pst_ggml_block_size(14), 256);
  assert_int_equal(pst_ggml_type_size(14), 210);
  assert_int_equal(pst_ggml_type_size(PST_GGML_Q4_1), 20);
  assert_int_equal(pst_ggml_type_size(PST_GGML_Q8_0), 34);
  assert_int_equal(pst_ggml_block_size(4), 0); /* removed Q4_2 */
  assert_string_equal(pst_ggml_type_name(4), "?");
  assert_true(pst_ggml_type_supported(PST_GGML_BF16));
  assert_false(pst_ggml_type_supported(12));
  float y[32];
  unsigned char blk[34] = {0};
  assert_int_equal(pst_ggml_dequantize(12, blk, y, 256), PST_ERR_ARG);
  assert_msg_has("Q4_K");
  assert_int_equal(pst_ggml_dequantize(PST_GGML_Q8_0, blk, y, 16), PST_ERR_ARG);
  assert_msg_has("multiple");
  pst_err_clear();
}

static void test_dequant_fixture(void **state) {
  (void)state;
  char gp[1100], sp[1100];
  fixture(gp, sizeof gp, "quants.gguf");
  fixture(sp, sizeof sp, "quants_expected.safetensors");
  pst_gguf *g;
  pst_safetensors *st;
  assert_int_equal(pst_gguf_open(&g, gp), PST_OK);
  assert_int_equal(pst_st_open(&st, sp), PST_OK);
  assert_int_equal(pst_st_count(st), pst_gguf_tensor_count(g));
  int seen[64] = {0};
  for (int i = 0; i < pst_st_count(st); i++) {
    const pst_st_tensor *e = pst_st_at(st, i);
    const pst_gguf_tensor *t = pst_gguf_find_tensor(g, e->name);
    assert_non_null(t);
    assert_int_equal(t->ndim, e->ndim);
    for (int d = 0; d < e->ndim; d++) assert_int_equal(t->ne[e->ndim - 1 - d], e->shape[d]);
    if (t->type < 64) seen[t->type] = 1;
    const int64_t ne0 = t->ne[0], rows = pst_gguf_rows(t), n = ne0 * rows;
    float *want = malloc((size_t)n * 4), *got = malloc((size_t)n * 4), *part = malloc((size_t)n * 4);
    assert_true(want && got && part);
    assert_int_equal(pst_st_read_f32(st, e->name, want, e->ndim, e->shape), PST_OK);
    memset(got, 0xa5, (size_t)n * 4);
    assert_int_equal(pst_gguf_read_f32(g, e->name, got), PST_OK);
    assert_bits_equal(got, want, (size_t)n, e->name);
    /* every row range */
    for (int64_t r0 = 0; r0 <= rows; r0++)
      for (int64_t nr = 0; r0 + nr <= rows; nr++) {
        assert_int_equal(pst_gguf_read_rows_f32(g, e->name, r0, nr, part), PST_OK);
        assert_bits_equal(part, want + r0 * ne0, (size_t)(nr * ne0), "row range");
      }
    /* every column range (starts and lengths not block-aligned included) */
    for (int64_t c0 = 0; c0 <= ne0; c0 += (c0 % 7 == 3 ? 5 : 1))
      for (int64_t nc = 0; c0 + nc <= ne0; nc += 1 + nc / 8) {
        assert_int_equal(pst_gguf_read_cols_f32(g, e->name, c0, nc, part), PST_OK);
        for (int64_t r = 0; r < rows; r++) assert_bits_equal(part + r * nc, want + r * ne0 + c0, (size_t)nc, "col range");
      }
    assert_int_equal(pst_gguf_read_rows_f32(g, e->name, rows, 1, part), PST_ERR_ARG);
    assert_msg_has(e->name);
    assert_int_equal(pst_gguf_read_cols_f32(g, e->name, ne0 - 1, 2, part), PST_ERR_ARG);
    free(want);
    free(got);
    free(part);
  }
  assert_true(seen[PST_GGML_F32] && seen[PST_GGML_F16] && seen[PST_GGML_BF16] && seen[PST_GGML_Q8_0] &&
              seen[PST_GGML_Q4_0] && seen[PST_GGML_Q4_1]);
  assert_int_equal(pst_gguf_read_f32(g, "nope", NULL), PST_ERR_FORMAT);
  assert_msg_has("tensor 'nope' not found");
  assert_string_equal(pst_gguf_path(g), gp);
  pst_err_clear();
  pst_st_close(st);
  pst_gguf_close(g);
}

/* ---- metadata ---- */

static void test_metadata(void **state) {
  (void)state;
  char gp[1100];
  fixture(gp, sizeof gp, "llama-tiny.gguf");
  pst_gguf *g;
  assert_int_equal(pst_gguf_open(&g, gp), PST_OK);
  assert_int_equal(pst_gguf_version(g), 3);
  assert_int_equal(pst_gguf_alignment(g), 32);
  assert_int_equal(pst_gguf_data_offset(g) % 32, 0);
  uint32_t u;
  float f;
  const char *s;
  uint64_t len;
  assert_int_equal(pst_gguf_get_u32(g, "llama.block_count", &u), PST_OK);
  assert_int_equal(u, 2);
  assert_int_equal(pst_gguf_get_f32(g, "llama.rope.freq_base", &f), PST_OK);
  assert_true(f == 500000.0f);
  assert_int_equal(pst_gguf_get_str(g, "general.architecture", &s, &len), PST_OK);
  assert_string_equal(s, "llama");
  assert_int_equal(len, 5);
  /* type errors name the file, the key, the expected and the found type */
  assert_int_equal(pst_gguf_get_u32(g, "general.architecture", &u), PST_ERR_FORMAT);
  assert_msg_has(gp);
  assert_msg_has("'general.architecture' is string, expected u32");
  assert_int_equal(pst_gguf_get_str(g, "llama.block_count", &s, NULL), PST_ERR_FORMAT);
  assert_msg_has("'llama.block_count' is u32, expected string");
  assert_int_equal(pst_gguf_get_f32(g, "tokenizer.ggml.tokens", &f), PST_ERR_FORMAT);
  assert_msg_has("is an array of string, expected f32");
  assert_int_equal(pst_gguf_get_u32(g, "no.such.key", &u), PST_ERR_FORMAT);
  assert_msg_has("metadata key 'no.such.key' not found");
  int et;
  uint64_t n;
  assert_int_equal(pst_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), PST_OK);
  assert_int_equal(et, PST_GGUF_STRING);
  assert_int_equal(n, 64);
  assert_int_equal(pst_gguf_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len), PST_OK);
  assert_int_equal(len, 12);
  assert_memory_equal(s, "<|im_start|>", 12);
  assert_int_equal(pst_gguf_arr_str(g, "tokenizer.ggml.tokens", 64, &s, &len), PST_ERR_ARG);
  int64_t iv;
  double dv;
  assert_int_equal(pst_gguf_arr_int(g, "tokenizer.ggml.token_type", 0, &iv), PST_OK);
  assert_int_equal(iv, 3);
  assert_int_equal(pst_gguf_arr_float(g, "tokenizer.ggml.token_type", 0, &dv), PST_ERR_FORMAT);
  assert_msg_has("is an array of i32, expected an array of floats");
  int found = 0;
  for (int i = 0; i < pst_gguf_kv_count(g); i++)
    if (!strcmp(pst_gguf_kv_key(g, i), "llama.context_length")) found = pst_gguf_kv_type(g, i) == PST_GGUF_UINT32;
  assert_true(found);
  assert_null(pst_gguf_kv_key(g, -1));
  pst_err_clear();
  pst_gguf_close(g);

  /* every value type and a nested array (the fuzz seed) */
  const char *top = getenv("top_srcdir");
  char cp[1100];
  snprintf(cp, sizeof cp, "%s/tests/fuzz/corpus/gguf/valid_every_type.gguf", top && *top ? top : ".");
  assert_int_equal(pst_gguf_open(&g, cp), PST_OK);
  int32_t i32;
  uint64_t u64;
  int b;
  assert_int_equal(pst_gguf_get_i32(g, "t.i8", &i32), PST_OK);
  assert_int_equal(i32, -2);
  assert_int_equal(pst_gguf_get_u32(g, "t.i8", &u), PST_ERR_FORMAT);
  assert_msg_has("= -2 (i8) is out of the u32 range");
  assert_int_equal(pst_gguf_get_u32(g, "t.u16", &u), PST_OK);
  assert_int_equal(u, 65535);
  assert_int_equal(pst_gguf_get_u64(g, "t.u64", &u64), PST_OK);
  assert_int_equal(u64, 1ull << 40);
  assert_int_equal(pst_gguf_get_i32(g, "t.u64", &i32), PST_ERR_FORMAT);
  assert_int_equal(pst_gguf_get_i32(g, "t.i64", &i32), PST_ERR_FORMAT);
  assert_int_equal(pst_gguf_get_f32(g, "t.f64", &f), PST_OK);
  assert_true(f == 1.5f);
  assert_int_equal(pst_gguf_get_bool(g, "t.bool", &b), PST_OK);
  assert_int_equal(b, 1);
  assert_int_equal(pst_gguf_get_bool(g, "t.u8", &b), PST_ERR_FORMAT);
  assert_msg_has("'t.u8' is u8, expected bool");
  assert_int_equal(pst_gguf_get_str(g, "t.str", &s, NULL), PST_OK);
  assert_string_equal(s, "h\xc3\xa9llo");
  assert_int_equal(pst_gguf_get_arr(g, "t.nested", &et, &n), PST_OK);
  assert_int_equal(et, PST_GGUF_ARRAY);
  assert_int_equal(n, 2);
  assert_int_equal(pst_gguf_arr_int(g, "t.nested", 0, &iv), PST_ERR_FORMAT);
  assert_int_equal(pst_gguf_arr_int(g, "t.arr_i32", 1, &iv), PST_OK);
  assert_int_equal(iv, -2);
  assert_int_equal(pst_gguf_arr_float(g, "t.arr_f32", 1, &dv), PST_OK);
  assert_true(dv == -1.0);
  assert_int_equal(pst_gguf_arr_str(g, "t.arr_str", 1, &s, &len), PST_OK);
  assert_int_equal(len, 0);
  pst_err_clear();
  pst_gguf_close(g);
}

/* ---- the llama mapping ---- */

static void test_llama_config(void **state) {
  (void)state;
  char gp[1100];
  fixture(gp, sizeof gp, "llama-tiny.gguf");
  pst_gguf *g;
  pst_gguf_llama m;
  assert_int_equal(pst_gguf_open(&g, gp), PST_OK);
  assert_int_equal(pst_gguf_llama_read(g, &m), PST_OK);
  assert_string_equal(m.arch, "llama");
  assert_int_equal(m.layers, 2);
  assert_int_equal(m.hidden, 32);
  assert_int_equal(m.heads, 4);
  assert_int_equal(m.kv_heads, 2);
  assert_int_equal(m.head_dim, 8);
  assert_int_equal(m.ffn, 64);
  assert_int_equal(m.vocab, 64);
  assert_int_equal(m.max_positions, 256);
  assert_true(m.ln_eps == 1e-5f && m.rope_theta == 500000.0f && m.rope_factor == 2.0f);
  assert_string_equal(m.rope_scaling, "linear");
  assert_true(m.tie_embeddings && m.qkv_bias && m.o_bias && !m.mlp_bias && m.permuted_qk);
  pst_gguf_close(g);

  pst_config cfg;
  pst_config_defaults(&cfg);
  assert_int_equal(pst_gguf_read_config(gp, &cfg), PST_OK);
  assert_string_equal(cfg.arch, "llama");
  assert_int_equal(cfg.hidden, 32);
  assert_int_equal(cfg.layers, 2);
  assert_int_equal(cfg.heads, 4);
  assert_int_equal(cfg.kv_heads, 2);
  assert_int_equal(cfg.ffn, 64);
  assert_int_equal(cfg.vocab, 64);
  assert_int_equal(cfg.max_positions, 256);
  assert_true(cfg.ln_eps == 1e-5); /* the decimal the converter wrote, not the f32's 9.99999975e-06 */
  assert_true(cfg.rope_theta == 500000.0);
  assert_string_equal(cfg.rope_scaling, "linear");
  assert_true(cfg.rope_factor == 2.0);
  assert_true(cfg.tie_embeddings && cfg.qkv_bias && cfg.o_bias && !cfg.mlp_bias);

  char qp[1100];
  fixture(qp, sizeof qp, "qwen2-tiny.gguf");
  assert_int_equal(pst_gguf_open(&g, qp), PST_OK);
  assert_int_equal(pst_gguf_llama_read(g, &m), PST_OK);
  assert_string_equal(m.arch, "qwen2");
  assert_true(!m.tie_embeddings && m.qkv_bias && !m.permuted_qk);
  assert_true(m.ln_eps == 1e-6f && m.rope_theta == 1e6f);
  assert_string_equal(m.rope_scaling, "none");
  pst_gguf_close(g);
  pst_config_defaults(&cfg);
  assert_int_equal(pst_gguf_read_config(qp, &cfg), PST_OK);
  assert_true(cfg.ln_eps == 1e-6 && !cfg.tie_embeddings && cfg.rope_factor == 1.0);
}

/* Register a tensor of global shape [d0, d1] ([d0] for ndim 1); shard_dim >= 0 and tp > 1: this
 * rank's equal slice along shard_dim. */
static void add_t(pst_params *p, const char *name, int ndim, int64_t d0, int64_t d1, int shard_dim, int rank, int tp) {
  int64_t l0 = d0, l1 = d1;
  if (shard_dim == 0) l0 = d0 / tp;
  if (shard_dim == 1) l1 = d1 / tp;
  assert_int_equal(pst_params_add(p, name, ndim, l0, l1, 0, 1, NULL, NULL), PST_OK);
  if (shard_dim >= 0 && tp > 1) pst_params_shard_last(p, shard_dim, (shard_dim == 0 ? l0 : l1) * rank, shard_dim == 0 ? d0 : d1);
}

static float *data_of(pst_params *p, const char *name) {
  const pst_tensor_info *t = pst_params_find(p, name);
  assert_non_null(t);
  return p->data + t->offset;
}

/* pst_params_add with bind = NULL: point each tensor's bind at a slot holding its data. */
static float *slots[256];
static void bind_all(pst_params *p) {
  assert_true(p->n <= 256);
  for (int i = 0; i < p->n; i++) {
    slots[i] = p->data + p->t[i].offset;
    p->t[i].bind = &slots[i];
  }
}

static void test_llama_load(void **state) {
  (void)state;
  char gp[1100], ep[1100];
  fixture(gp, sizeof gp, "llama-tiny.gguf");
  fixture(ep, sizeof ep, "llama-tiny_expected.safetensors");
  pst_params full;
  memset(&full, 0, sizeof full);
  {
    pst_params *p = &full;
    const int C = 32, Q = 32, KV = 16, F = 64, V = 64;
    add_t(p, "emb.tok", 2, V, C, -1, 0, 1);
    char n[64];
    for (int l = 0; l < 2; l++) {
#define T(nm, nd, a, b) (snprintf(n, sizeof n, "blk.%d." nm, l), add_t(p, n, nd, a, b, -1, 0, 1))
      T("ln1.w", 1, C, 0);
      T("q.w", 2, Q, C);
      T("q.b", 1, Q, 0);
      T("k.w", 2, KV, C);
      T("k.b", 1, KV, 0);
      T("v.w", 2, KV, C);
      T("v.b", 1, KV, 0);
      T("o.w", 2, C, Q);
      T("o.b", 1, C, 0);
      T("ln2.w", 1, C, 0);
      T("gate.w", 2, F, C);
      T("up.w", 2, F, C);
      T("down.w", 2, C, F);
#undef T
      snprintf(n, sizeof n, "blk.%d.q.A", l);
      assert_int_equal(pst_params_add(p, n, 2, Q, 8, 0, 0, NULL, NULL), PST_OK);
    }
    add_t(p, "lnf.w", 1, C, 0, -1, 0, 1);
    assert_int_equal(pst_params_alloc(p, 0), PST_OK);
  }
  bind_all(&full);
  pst_params *tabs[1] = {&full};
  pst_gguf_report rep;
  assert_int_equal(pst_gguf_load_params(gp, tabs, 1, &rep), PST_OK);
  assert_int_equal(rep.loaded, 1 + 2 * 13 + 1);
  assert_int_equal(rep.ignored, 0);
  assert_true(rep.model.permuted_qk);

  /* q, k weights and biases: the Hugging Face order of the expected file, bit for bit */
  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, ep), PST_OK);
  pst_gguf *g;
  assert_int_equal(pst_gguf_open(&g, gp), PST_OK);
  for (int i = 0; i < pst_st_count(st); i++) {
    const pst_st_tensor *e = pst_st_at(st, i);
    const pst_tensor_info *t = pst_params_find(&full, e->name);
    assert_non_null(t);
    float *want = malloc(t->numel * 4), *raw = malloc(t->numel * 4);
    assert_int_equal(pst_st_read_f32(st, e->name, want, t->ndim, t->shape), PST_OK);
    assert_bits_equal(data_of(&full, e->name), want, t->numel, e->name);
    /* the raw file tensor differs: the permutation was really undone */
    char src[PST_GGUF_MAX_NAME];
    int perm;
    assert_true(pst_gguf_llama_name_of(&rep.model, e->name, src, &perm));
    assert_true(perm == (strstr(e->name, ".q.") ? 4 : 2));
    assert_int_equal(pst_gguf_read_f32(g, src, raw), PST_OK);
    assert_true(memcmp(raw, want, t->numel * 4) != 0);
    free(want);
    free(raw);
  }
  /* the other tensors are the file's as they are */
  static const char *const same[][2] = {{"emb.tok", "token_embd.weight"}, {"blk.1.v.w", "blk.1.attn_v.weight"},
                                        {"blk.0.o.w", "blk.0.attn_output.weight"},
                                        {"blk.1.down.w", "blk.1.ffn_down.weight"},
                                        {"blk.0.ln2.w", "blk.0.ffn_norm.weight"}, {"lnf.w", "output_norm.weight"},
                                        {"blk.1.v.b", "blk.1.attn_v.bias"}, {"blk.0.o.b", "blk.0.attn_output.bias"}};
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
    const pst_tensor_info *t = pst_params_find(&full, same[i][0]);
    float *raw = malloc(t->numel * 4);
    assert_int_equal(pst_gguf_read_f32(g, same[i][1], raw), PST_OK);
    assert_bits_equal(data_of(&full, same[i][0]), raw, t->numel, same[i][0]);
    free(raw);
  }

  /* tensor-parallel shards: tp 2 and 4 (whole heads for tp 2; q at tp 4 holds one head, k
   * half a head: rows that are not whole heads still un-permute) */
  for (int tp = 2; tp <= 4; tp *= 2)
    for (int rank = 0; rank < tp; rank++) {
      pst_params sh;
      memset(&sh, 0, sizeof sh);
      const int C = 32, Q = 32, KV = 16, F = 64;
      char n[64];
      for (int l = 0; l < 2; l++) {
#define T(nm, nd, a, b, sd) (snprintf(n, sizeof n, "blk.%d." nm, l), add_t(&sh, n, nd, a, b, sd, rank, tp))
        T("ln1.w", 1, C, 0, -1);
        T("q.w", 2, Q, C, 0);
        T("q.b", 1, Q, 0, 0);
        T("k.w", 2, KV, C, 0);
        T("k.b", 1, KV, 0, 0);
        T("v.w", 2, KV, C, 0);
        T("v.b", 1, KV, 0, 0);
        T("o.w", 2, C, Q, 1);
        T("o.b", 1, C, 0, -1);
        T("ln2.w", 1, C, 0, -1);
        T("gate.w", 2, F, C, 0);
        T("up.w", 2, F, C, 0);
        T("down.w", 2, C, F, 1);
#undef T
      }
      add_t(&sh, "emb.tok", 2, 64, C, 0, rank, tp); /* vocab-parallel rows */
      add_t(&sh, "lnf.w", 1, C, 0, -1, rank, tp);
      assert_int_equal(pst_params_alloc(&sh, 0), PST_OK);
      bind_all(&sh);
      pst_params *st1[1] = {&sh};
      assert_int_equal(pst_gguf_load_params_from(g, st1, 1, NULL), PST_OK);
      for (int i = 0; i < sh.n; i++) {
        const pst_tensor_info *t = &sh.t[i];
        const pst_tensor_info *f = pst_params_find(&full, t->name);
        const float *fd = full.data + f->offset, *sd = sh.data + t->offset;
        if (t->shard_dim < 0) {
          assert_bits_equal(sd, fd, t->numel, t->name);
        } else if (t->shard_dim == 0) { /* rows (or elements of a vector) */
          const int64_t w = t->ndim == 2 ? t->shape[1] : 1;
          assert_bits_equal(sd, fd + t->shard_start * w, t->numel, t->name);
        } else {
          for (int64_t r = 0; r < t->shape[0]; r++)
            assert_bits_equal(sd + r * t->shape[1], fd + r * t->gshape[1] + t->shard_start, (size_t)t->shape[1], t->name);
        }
      }
      pst_params_free(&sh);
    }

  /* errors: a mis-shaped table, a missing required tensor, a wrong depth */
  pst_params bad;
  memset(&bad, 0, sizeof bad);
  add_t(&bad, "blk.0.q.w", 2, 32, 31, -1, 0, 1);
  add_t(&bad, "blk.1.q.w", 2, 32, 32, -1, 0, 1);
  assert_int_equal(pst_params_alloc(&bad, 0), PST_OK);
  bind_all(&bad);
  pst_params *bt[1] = {&bad};
  assert_int_equal(pst_gguf_load_params_from(g, bt, 1, NULL), PST_ERR_FORMAT);
  assert_msg_has(gp);
  assert_msg_has("tensor 'blk.0.attn_q.weight' has shape [32, 32], expected [32, 31]");
  assert_msg_has("pst tensor 'blk.0.q.w'");
  pst_params_free(&bad);
  memset(&bad, 0, sizeof bad);
  add_t(&bad, "blk.0.q.w", 2, 32, 32, -1, 0, 1);
  add_t(&bad, "blk.1.q.w", 2, 32, 32, -1, 0, 1);
  add_t(&bad, "head.w", 2, 64, 32, -1, 0, 1);
  assert_int_equal(pst_params_alloc(&bad, 0), PST_OK);
  bind_all(&bad);
  assert_int_equal(pst_gguf_load_params_from(g, bt, 1, NULL), PST_ERR_FORMAT);
  assert_msg_has("tensor 'output.weight' not found (needed for pst tensor 'head.w')");
  assert_msg_has("tie_embeddings");
  pst_params_free(&bad);
  memset(&bad, 0, sizeof bad);
  add_t(&bad, "blk.0.q.w", 2, 32, 32, -1, 0, 1);
  assert_int_equal(pst_params_alloc(&bad, 0), PST_OK);
  bind_all(&bad);
  assert_int_equal(pst_gguf_load_params_from(g, bt, 1, NULL), PST_ERR_ARG);
  assert_msg_has("llama.block_count = 2 but the model was created with 1 layers");
  pst_params_free(&bad);
  pst_err_clear();

  pst_gguf_close(g);
  pst_st_close(st);
  pst_params_free(&full);
}

static void test_qwen2_load(void **state) {
  (void)state;
  char qp[1100];
  fixture(qp, sizeof qp, "qwen2-tiny.gguf");
  pst_params p;
  memset(&p, 0, sizeof p);
  add_t(&p, "emb.tok", 2, 64, 32, -1, 0, 1);
  add_t(&p, "head.w", 2, 64, 32, -1, 0, 1);
  add_t(&p, "lnf.w", 1, 32, 0, -1, 0, 1);
  add_t(&p, "blk.0.ln1.w", 1, 32, 0, -1, 0, 1);
  add_t(&p, "blk.0.ln2.w", 1, 32, 0, -1, 0, 1);
  add_t(&p, "blk.0.q.w", 2, 32, 32, -1, 0, 1);
  add_t(&p, "blk.0.q.b", 1, 32, 0, -1, 0, 1);
  add_t(&p, "blk.0.k.w", 2, 16, 32, -1, 0, 1);
  add_t(&p, "blk.0.k.b", 1, 16, 0, -1, 0, 1);
  add_t(&p, "blk.0.v.w", 2, 16, 32, -1, 0, 1);
  add_t(&p, "blk.0.v.b", 1, 16, 0, -1, 0, 1);
  add_t(&p, "blk.0.o.w", 2, 32, 32, -1, 0, 1);
  add_t(&p, "blk.0.gate.w", 2, 64, 32, -1, 0, 1);
  add_t(&p, "blk.0.up.w", 2, 64, 32, -1, 0, 1);
  add_t(&p, "blk.0.down.w", 2, 32, 64, -1, 0, 1);
  assert_int_equal(pst_params_alloc(&p, 0), PST_OK);
  bind_all(&p);
  pst_params *tabs[1] = {&p};
  pst_gguf_report rep;
  assert_int_equal(pst_gguf_load_params(qp, tabs, 1, &rep), PST_OK);
  assert_int_equal(rep.loaded, 15);
  assert_int_equal(rep.ignored, 0);
  pst_gguf *g;
  assert_int_equal(pst_gguf_open(&g, qp), PST_OK);
  static const char *const same[][2] = {{"blk.0.q.w", "blk.0.attn_q.weight"}, {"blk.0.k.w", "blk.0.attn_k.weight"},
                                        {"blk.0.q.b", "blk.0.attn_q.bias"},   {"blk.0.k.b", "blk.0.attn_k.bias"},
                                        {"blk.0.v.b", "blk.0.attn_v.bias"},   {"head.w", "output.weight"}};
  for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) { /* qwen2: not permuted */
    const pst_tensor_info *t = pst_params_find(&p, same[i][0]);
    float *raw = malloc(t->numel * 4);
    assert_int_equal(pst_gguf_read_f32(g, same[i][1], raw), PST_OK);
    assert_bits_equal(data_of(&p, same[i][0]), raw, t->numel, same[i][0]);
    free(raw);
  }
  pst_gguf_close(g);
  pst_params_free(&p);
}

static void test_tokenizer_meta(void **state) {
  (void)state;
  char gp[1100];
  fixture(gp, sizeof gp, "llama-tiny.gguf");
  pst_gguf_tokenizer tok;
  assert_int_equal(pst_gguf_read_tokenizer(gp, &tok), PST_OK);
  assert_string_equal(tok.model, "gpt2");
  assert_string_equal(tok.pre, "smollm");
  assert_int_equal(tok.ntokens, 64);
  assert_string_equal(tok.tokens[0], "<|endoftext|>");
  assert_string_equal(tok.tokens[63], "iii");
  assert_non_null(tok.token_type);
  assert_int_equal(tok.token_type[2], 3);
  assert_int_equal(tok.token_type[3], 1);
  assert_null(tok.scores);
  assert_int_equal(tok.nmerges, 3);
  assert_string_equal(tok.merges[2], "aa a");
  assert_int_equal(tok.bos_id, 1);
  assert_int_equal(tok.eos_id, 2);
  assert_int_equal(tok.unk_id, 0);
  assert_int_equal(tok.pad_id, 2);
  assert_int_equal(tok.add_bos, 0);
  assert_int_equal(tok.add_eos, -1);
  pst_gguf_tokenizer_free(&tok);
  pst_gguf_tokenizer_free(&tok); /* twice is fine */
  pst_gguf *g;
  assert_int_equal(pst_gguf_open(&g, gp), PST_OK);
  assert_int_equal(pst_gguf_tokenizer_read(g, 65, &tok), PST_ERR_FORMAT);
  assert_msg_has("'tokenizer.ggml.tokens' has 64 tokens but the model's vocabulary is 65");
  assert_null(tok.tokens);
  pst_err_clear();
  pst_gguf_close(g);
}

/* ---- bad input, built byte by byte ---- */

typedef struct {
  unsigned char *b;
  size_t n, cap;
} buf_t;

static void put(buf_t *w, const void *p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2 + 64;
    w->b = realloc(w->b, w->cap);
    assert_non_null(w->b);
  }
  memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void u32(buf_t *w, uint32_t v) { put(w, &v, 4); }
static void u64(buf_t *w, uint64_t v) { put(w, &v, 8); }
static void str(buf_t *w, const char *s) {
  u64(w, strlen(s));
  put(w, s, strlen(s));
}
static void kv_u32(buf_t *w, const char *k, uint32_t v) {
  str(w, k);
  u32(w, PST_GGUF_UINT32);
  u32(w, v);
}
static void kv_f32(buf_t *w, const char *k, float v) {
  str(w, k);
  u32(w, PST_GGUF_FLOAT32);
  put(w, &v, 4);
}
static void kv_str(buf_t *w, const char *k, const char *v) {
  str(w, k);
  u32(w, PST_GGUF_STRING);
  str(w, v);
}
static void tinfo(buf_t *w, const char *name, int nd, const uint64_t *ne, uint32_t type, uint64_t off) {
  str(w, name);
  u32(w, (uint32_t)nd);
  for (int i = 0; i < nd; i++) u64(w, ne[i]);
  u32(w, type);
  u64(w, off);
}
static void pad(buf_t *w, size_t a) {
  static const unsigned char z[64] = {0};
  put(w, z, (a - w->n % a) % a);
}
static void header(buf_t *w, uint32_t version, uint64_t nt, uint64_t nkv) {
  put(w, "GGUF", 4);
  u32(w, version);
  u64(w, nt);
  u64(w, nkv);
}

/* Write w to the scratch file, open it, expect code rc and a message with the path and frag;
 * returns the handle when it opened (rc == PST_OK). */
static pst_gguf *expect_open(buf_t *w, pst_err rc, const char *frag) {
  char p[512];
  snprintf(p, sizeof p, "%s/t.gguf", tmpdir);
  FILE *f = fopen(p, "wb");
  assert_non_null(f);
  if (w->n) assert_int_equal(fwrite(w->b, 1, w->n, f), w->n);
  fclose(f);
  pst_gguf *g = NULL;
  const pst_err got = pst_gguf_open(&g, p);
  if (got != rc) print_error("open returned %d (%s), expected %d\n", got, pst_err_message(), rc);
  assert_int_equal(got, rc);
  if (rc) {
    assert_null(g);
    assert_msg_has(p);
    assert_msg_has(frag);
    pst_err_clear();
  }
  free(w->b);
  memset(w, 0, sizeof *w);
  return g;
}

/* A minimal llama file: 1 block, hidden 32, 2 heads, 1 kv head, token_embd F32 [32, 4];
 * `variant` changes one thing. */
static void minimal_llama(buf_t *w, int variant) {
  const char *arch = variant == 1 ? "gpt2" : "llama";
  int nkv = 8 + (variant >= 3 && variant <= 6);
  const int rope_freqs = variant == 7;
  header(w, 3, 1 + rope_freqs, (uint64_t)nkv);
  kv_str(w, "general.architecture", arch);
  char k[96];
#define K(s) (snprintf(k, sizeof k, "%s.%s", arch, s), k)
  if (variant == 2) kv_str(w, K("block_count"), "1");
  else kv_u32(w, K("block_count"), 1);
  kv_u32(w, K("context_length"), 64);
  kv_u32(w, K("embedding_length"), 32);
  kv_u32(w, K("feed_forward_length"), 32);
  kv_u32(w, K("attention.head_count"), 2);
  kv_u32(w, K("attention.head_count_kv"), 1);
  kv_f32(w, K("attention.layer_norm_rms_epsilon"), 1e-5f);
  if (variant == 3) kv_str(w, K("rope.scaling.type"), "yarn");
  if (variant == 4) kv_u32(w, K("expert_count"), 8);
  if (variant == 5) kv_u32(w, K("rope.dimension_count"), 8);
  if (variant == 6) kv_f32(w, K("rope.freq_base"), -1.0f);
#undef K
  const uint64_t ne[2] = {32, 4}, nf[1] = {8};
  tinfo(w, "token_embd.weight", 2, ne, PST_GGML_F32, 0);
  if (rope_freqs) tinfo(w, "rope_freqs.weight", 1, nf, PST_GGML_F32, 512);
  pad(w, 32);
  float z[128 + 8] = {0};
  put(w, z, 512 + (rope_freqs ? 32 : 0));
}

static void expect_llama_error(int variant, const char *frag) {
  buf_t w = {0};
  minimal_llama(&w, variant);
  pst_gguf *g = expect_open(&w, PST_OK, NULL);
  pst_gguf_llama m;
  assert_int_equal(pst_gguf_llama_read(g, &m), PST_ERR_FORMAT);
  assert_msg_has(pst_gguf_path(g));
  assert_msg_has(frag);
  pst_err_clear();
  pst_gguf_close(g);
}

static void test_bad_llama(void **state) {
  (void)state;
  buf_t w = {0};
  minimal_llama(&w, 0);
  pst_gguf *g = expect_open(&w, PST_OK, NULL);
  pst_gguf_llama m;
  assert_int_equal(pst_gguf_llama_read(g, &m), PST_OK);
  assert_int_equal(m.vocab, 4);
  assert_true(m.rope_theta == 10000.0f); /* default */
  pst_gguf_close(g);
  expect_llama_error(1, "metadata key 'general.architecture' = 'gpt2': pst reads 'llama' and 'qwen2' files");
  expect_llama_error(2, "metadata key 'llama.block_count' is string, expected u32");
  expect_llama_error(3, "'llama.rope.scaling.type' = 'yarn'");
  expect_llama_error(4, "'llama.expert_count' = 8");
  expect_llama_error(5, "'llama.rope.dimension_count' = 8, but pst supports only 16");
  expect_llama_error(6, "'llama.rope.freq_base' = -1 must be a positive finite number");
  expect_llama_error(7, "tensor 'rope_freqs.weight'");
}

static void test_bad_files(void **state) {
  (void)state;
  buf_t w = {0};
  const uint64_t ne32[1] = {32}, ne256[1] = {256};
  float z[64] = {0};
  /* unsupported tensor type: opens, reading names the tensor and the type */
  header(&w, 3, 1, 0);
  tinfo(&w, "blk.0.attn_q.weight", 1, ne256, 14, 0);
  pad(&w, 32);
  for (int i = 0; i < 210; i++) put(&w, "\x11", 1);
  pst_gguf *g = expect_open(&w, PST_OK, NULL);
  float out[256];
  assert_int_equal(pst_gguf_read_f32(g, "blk.0.attn_q.weight", out), PST_ERR_FORMAT);
  assert_msg_has("tensor 'blk.0.attn_q.weight' has type Q6_K, which pst cannot dequantize");
  pst_err_clear();
  pst_gguf_close(g);

  put(&w, "GGU", 3);
  expect_open(&w, PST_ERR_FORMAT, "truncated");
  header(&w, 3, 0, 1);
  str(&w, "general.name");
  u32(&w, PST_GGUF_STRING);
  u64(&w, 100);
  put(&w, "abc", 3);
  expect_open(&w, PST_ERR_FORMAT, "string length 100");
  header(&w, 3, 0, 2);
  kv_u32(&w, "a", 1);
  str(&w, "a_key_long_enough_for_the_count");
  expect_open(&w, PST_ERR_FORMAT, "truncated: metadata value type");
  header(&w, 1, 0, 0);
  expect_open(&w, PST_ERR_FORMAT, "GGUF version 1 is not supported");
  put(&w, "GGUF\0\0\0\3", 8);
  u64(&w, 0);
  u64(&w, 0);
  expect_open(&w, PST_ERR_FORMAT, "big-endian");
  header(&w, 4, 0, 0);
  expect_open(&w, PST_ERR_FORMAT, "GGUF version 4 is not supported");
  put(&w, "GGML", 4);
  u32(&w, 3);
  u64(&w, 0);
  u64(&w, 0);
  expect_open(&w, PST_ERR_FORMAT, "not a GGUF file (magic 'GGML'");
  /* absurd counts and lengths */
  header(&w, 3, 0, UINT64_MAX);
  expect_open(&w, PST_ERR_FORMAT, "metadata count 18446744073709551615 is impossible");
  header(&w, 3, 1ull << 40, 0);
  expect_open(&w, PST_ERR_FORMAT, "tensor count 1099511627776 is impossible");
  header(&w, 3, 0, 1);
  str(&w, "tokenizer.ggml.tokens");
  u32(&w, PST_GGUF_ARRAY);
  u32(&w, PST_GGUF_STRING);
  u64(&w, 1ull << 61);
  expect_open(&w, PST_ERR_FORMAT, "metadata key 'tokenizer.ggml.tokens': array of 2305843009213693952 string elements");
  header(&w, 3, 0, 1);
  u64(&w, UINT64_MAX);
  put(&w, "0123456789abcdef", 16);
  expect_open(&w, PST_ERR_FORMAT, "metadata entry 0 key: string length 18446744073709551615");
  header(&w, 3, 1, 0);
  u64(&w, 1ull << 50);
  put(&w, "0123456789abcdef0123456789abcdef", 32);
  expect_open(&w, PST_ERR_FORMAT, "tensor info 0 name: string length");
  /* wrong value types */
  header(&w, 3, 0, 1);
  kv_f32(&w, "general.alignment", 32.0f);
  expect_open(&w, PST_ERR_FORMAT, "metadata key 'general.alignment' is f32, expected u32");
  header(&w, 3, 0, 1);
  str(&w, "x");
  u32(&w, 77);
  u32(&w, 0);
  expect_open(&w, PST_ERR_FORMAT, "metadata key 'x': value type 77 is not a GGUF value type");
  header(&w, 3, 0, 1);
  str(&w, "flag");
  u32(&w, PST_GGUF_BOOL);
  put(&w, "\x05", 1);
  expect_open(&w, PST_ERR_FORMAT, "'flag': bool byte 5");
  /* duplicates */
  header(&w, 3, 0, 2);
  kv_u32(&w, "k", 1);
  kv_u32(&w, "k", 2);
  expect_open(&w, PST_ERR_FORMAT, "duplicate metadata key 'k'");
  header(&w, 3, 2, 0);
  tinfo(&w, "w", 1, ne32, PST_GGML_F32, 0);
  tinfo(&w, "w", 1, ne32, PST_GGML_F32, 128);
  pad(&w, 32);
  for (int i = 0; i < 4; i++) put(&w, z, 64);
  expect_open(&w, PST_ERR_FORMAT, "duplicate tensor name 'w'");
  /* tensor placement */
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 1, ne32, PST_GGML_F32, 64);
  pad(&w, 32);
  put(&w, z, 128);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': data [64, +128 bytes)");
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 1, ne32, PST_GGML_F32, 16);
  pad(&w, 32);
  put(&w, z, 256);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': offset 16 is not a multiple of the alignment 32");
  header(&w, 3, 2, 0);
  tinfo(&w, "a", 1, ne32, PST_GGML_F32, 0);
  tinfo(&w, "b", 1, ne32, PST_GGML_F32, 96);
  pad(&w, 32);
  put(&w, z, 256);
  expect_open(&w, PST_ERR_FORMAT, "tensors 'a' and 'b' overlap");
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 1, ne32, 4, 0);
  pad(&w, 32);
  put(&w, z, 128);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': type 4 is not a ggml tensor type");
  const uint64_t ne40[1] = {40};
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 1, ne40, PST_GGML_Q4_1, 0);
  pad(&w, 32);
  put(&w, z, 64);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': ne[0] = 40 is not a multiple of the Q4_1 block size 32");
  const uint64_t big[3] = {1ull << 31, 1ull << 31, 1ull << 31};
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 3, big, PST_GGML_F32, 0);
  pad(&w, 32);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': shape [2147483648, 2147483648, 2147483648, 1] overflows");
  const uint64_t zero[2] = {32, 0};
  header(&w, 3, 1, 0);
  tinfo(&w, "w", 2, zero, PST_GGML_F32, 0);
  pad(&w, 32);
  expect_open(&w, PST_ERR_FORMAT, "tensor 'w': dimension 1 is 0");
  header(&w, 3, 0, 1);
  kv_u32(&w, "general.alignment", 24);
  expect_open(&w, PST_ERR_FORMAT, "'general.alignment' = 24 is not a power of two");
  /* a valid file cut anywhere fails cleanly */
  buf_t full = {0};
  minimal_llama(&full, 0);
  for (size_t cut = 0; cut < full.n; cut += 7) {
    buf_t part = {0};
    put(&part, full.b, cut);
    expect_open(&part, PST_ERR_FORMAT, cut < 24 ? "truncated" : "");
  }
  free(full.b);
  /* not a file */
  assert_int_equal(pst_gguf_open(&g, tmpdir), PST_ERR_IO);
  assert_msg_has("not a regular file");
  assert_int_equal(pst_gguf_open(&g, "/nonexistent/x.gguf"), PST_ERR_IO);
  assert_msg_has("/nonexistent/x.gguf: cannot open");
  pst_err_clear();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_type_table),    cmocka_unit_test(test_dequant_fixture), cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_llama_config),  cmocka_unit_test(test_llama_load),      cmocka_unit_test(test_qwen2_load),
      cmocka_unit_test(test_tokenizer_meta), cmocka_unit_test(test_bad_llama),      cmocka_unit_test(test_bad_files),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
