/* test_safetensors.c — unit tests for the safetensors reader/writer (cmocka).
 *
 * Covers: write/read round trips over every dtype (0-d scalars and zero-size tensors
 * included), exact F16/BF16 decoding, files laid out byte for byte as Python's
 * safetensors writes them, a table of malformed files each rejected with a specific
 * message, read-side errors (missing tensor, shape/dtype mismatch, range checks),
 * slice reads for tensor parallelism (every row / column / inner-dimension range of F32,
 * F16, BF16, F64 tensors against a full read; range errors; pst_st_read_param per shard
 * fields) and the atomicity of pst_st_write. All files live in a mkdtemp directory removed at the
 * end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pst/params.h"
#include "pst/safetensors.h"

static char tmpdir[256];

static void tpath(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static void write_raw(const char *path, const void *bytes, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  if (len) assert_int_equal(fwrite(bytes, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
}

/* Read a whole file into a malloc'd buffer. */
static unsigned char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

/* Build "<u64 hlen><json><data>" at path; hlen is strlen(json) unless forced. */
static void make_st(const char *path, const char *json, const void *data, size_t dlen) {
  size_t jl = strlen(json);
  unsigned char *b = malloc(8 + jl + dlen + 1);
  assert_non_null(b);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)(((uint64_t)jl >> (8 * i)) & 0xff);
  memcpy(b + 8, json, jl);
  if (dlen) memcpy(b + 8 + jl, data, dlen);
  write_raw(path, b, 8 + jl + dlen);
  free(b);
}

static int count_dir_entries(void) {
  DIR *d = opendir(tmpdir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
  closedir(d);
  return n;
}

static int has_tmp_files(void) {
  DIR *d = opendir(tmpdir);
  assert_non_null(d);
  int found = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) found = 1;
  closedir(d);
  return found;
}

static void remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    struct stat sb;
    if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
      remove_tree(p);
    else
      unlink(p);
  }
  closedir(d);
  rmdir(dir);
}

static int group_setup(void **state) {
  (void)state;
  const char *base = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/pst_st_test_XXXXXX", base && *base ? base : "/tmp");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  remove_tree(tmpdir);
  return 0;
}

/* Assert that the last error message contains `frag`, printing it otherwise. */
static void assert_msg_has(const char *frag) {
  const char *m = pst_err_message();
  if (!strstr(m, frag)) {
    print_error("message: \"%s\"\nexpected fragment: \"%s\"\n", m, frag);
    fail();
  }
}

static uint32_t fbits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

/* ---- round trip ---- */

static void test_roundtrip_all_dtypes(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "rt.safetensors");
  float w[6] = {1.5f, -2.0f, 0.0f, 3.25f, -0.0f, 1e-30f};
  int32_t ids[4] = {0, -1, INT32_MAX, INT32_MIN};
  uint8_t mask[5] = {0, 1, 255, 7, 128};
  float scalar = 42.5f;
  uint16_t h[3] = {0x3c00, 0xc000, 0x0001};        /* 1, -2, 2^-24 */
  uint16_t bh[2] = {0x3f80, 0x4049};               /* 1, 3.140625 */
  double dd[2] = {0.1, -1e300};                    /* second overflows float */
  int64_t ll[3] = {5, -7, 2147483647};
  uint8_t bb[2] = {1, 0};
  pst_st_entry e[] = {
      {"w", PST_DT_F32, 2, {2, 3}, w},
      {"ids", PST_DT_I32, 1, {4}, ids},
      {"mask", PST_DT_U8, 1, {5}, mask},
      {"scalar", PST_DT_F32, 0, {0}, &scalar},
      {"empty", PST_DT_F32, 2, {0, 3}, NULL},
      {"h", PST_DT_F16, 1, {3}, h},
      {"bh", PST_DT_BF16, 1, {2}, bh},
      {"d", PST_DT_F64, 1, {2}, dd},
      {"l", PST_DT_I64, 1, {3}, ll},
      {"b", PST_DT_BOOL, 1, {2}, bb},
      {"empty_i", PST_DT_I32, 3, {4, 0, 2}, NULL},
  };
  int n = (int)(sizeof e / sizeof e[0]);
  const char *meta[] = {"format", "pt", "step", "42", NULL};
  assert_int_equal(pst_st_write(path, e, n, meta), PST_OK);
  assert_false(has_tmp_files());

  /* Header in the given order with __metadata__ first; data section 8-aligned. */
  size_t flen;
  unsigned char *raw = slurp(path, &flen);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | raw[i];
  assert_int_equal(hlen % 8, 0);
  char *hdr = strndup((const char *)raw + 8, (size_t)hlen);
  const char *prev = strstr(hdr, "\"__metadata__\"");
  assert_non_null(prev);
  for (int i = 0; i < n; i++) {
    char key[64];
    snprintf(key, sizeof key, "\"%s\":{", e[i].name);
    const char *at = strstr(hdr, key);
    assert_non_null(at);
    assert_true(at > prev);
    prev = at;
  }
  free(hdr);
  free(raw);

  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  assert_string_equal(pst_st_path(st), path);
  assert_int_equal(pst_st_count(st), n);
  for (int i = 1; i < n; i++)
    assert_true(strcmp(pst_st_at(st, i - 1)->name, pst_st_at(st, i)->name) < 0);
  assert_null(pst_st_at(st, n));
  assert_null(pst_st_at(st, -1));
  assert_string_equal(pst_st_metadata(st, "format"), "pt");
  assert_string_equal(pst_st_metadata(st, "step"), "42");
  assert_null(pst_st_metadata(st, "nope"));
  assert_null(pst_st_find(st, "nope"));
  assert_int_equal(flen, 8 + hlen + 24 + 16 + 5 + 4 + 6 + 4 + 16 + 24 + 2);

  const pst_st_tensor *t = pst_st_find(st, "w");
  assert_non_null(t);
  assert_int_equal(t->dtype, PST_DT_F32);
  assert_int_equal(t->ndim, 2);
  assert_int_equal(t->shape[0], 2);
  assert_int_equal(t->shape[1], 3);
  assert_int_equal(t->offset, 8 + hlen); /* first tensor starts the data section */
  assert_int_equal(t->nbytes, 24);
  assert_memory_equal(pst_st_data(st, t), w, 24);

  float fw[6];
  assert_int_equal(pst_st_read_f32(st, "w", fw, 2, (int64_t[]){2, 3}), PST_OK);
  for (int i = 0; i < 6; i++) assert_int_equal(fbits(fw[i]), fbits(w[i]));

  int32_t iv[5];
  assert_int_equal(pst_st_read_i32(st, "ids", iv, 1, (int64_t[]){4}), PST_OK);
  assert_memory_equal(iv, ids, sizeof ids);
  assert_int_equal(pst_st_read_i32(st, "mask", iv, 1, (int64_t[]){5}), PST_OK);
  for (int i = 0; i < 5; i++) assert_int_equal(iv[i], mask[i]);

  float s = 0;
  t = pst_st_find(st, "scalar");
  assert_int_equal(t->ndim, 0);
  assert_int_equal(t->nbytes, 4);
  assert_int_equal(pst_st_read_f32(st, "scalar", &s, 0, NULL), PST_OK);
  assert_true(s == 42.5f);

  t = pst_st_find(st, "empty");
  assert_int_equal(t->nbytes, 0);
  assert_int_equal(pst_st_read_f32(st, "empty", NULL, 2, (int64_t[]){0, 3}), PST_OK);
  assert_int_equal(pst_st_read_i32(st, "empty_i", NULL, 3, (int64_t[]){4, 0, 2}), PST_OK);

  float f3[3];
  assert_int_equal(pst_st_read_f32(st, "h", f3, 1, (int64_t[]){3}), PST_OK);
  assert_true(f3[0] == 1.0f && f3[1] == -2.0f && f3[2] == 0x1p-24f);
  assert_int_equal(pst_st_read_f32(st, "bh", f3, 1, (int64_t[]){2}), PST_OK);
  assert_true(f3[0] == 1.0f && f3[1] == 3.140625f);
  assert_int_equal(pst_st_read_f32(st, "d", f3, 1, (int64_t[]){2}), PST_OK);
  assert_true(f3[0] == 0.1f && isinf(f3[1]) && f3[1] < 0);
  assert_int_equal(pst_st_read_i32(st, "l", iv, 1, (int64_t[]){3}), PST_OK);
  assert_true(iv[0] == 5 && iv[1] == -7 && iv[2] == INT32_MAX);
  assert_int_equal(pst_st_read_i32(st, "b", iv, 1, (int64_t[]){2}), PST_OK);
  assert_true(iv[0] == 1 && iv[1] == 0);
  pst_st_close(st);
  pst_st_close(NULL);

  /* Overwriting an existing file replaces it; no metadata and no tensors is valid. */
  assert_int_equal(pst_st_write(path, NULL, 0, NULL), PST_OK);
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  assert_int_equal(pst_st_count(st), 0);
  assert_null(pst_st_metadata(st, "format"));
  pst_st_close(st);
  unlink(path);
}

/* ---- F16 / BF16 decoding ---- */

static void test_f16_bf16_bits(void **state) {
  (void)state;
  static const struct {
    uint16_t h;
    uint32_t f;
  } f16[] = {
      {0x0000, 0x00000000}, /* +0 */
      {0x8000, 0x80000000}, /* -0 */
      {0x3c00, 0x3f800000}, /* 1 */
      {0xc000, 0xc0000000}, /* -2 */
      {0x3555, 0x3eaaa000}, /* 0.333251953125 */
      {0x7bff, 0x477fe000}, /* 65504, largest normal */
      {0x0400, 0x38800000}, /* 2^-14, smallest normal */
      {0x0001, 0x33800000}, /* 2^-24, smallest subnormal */
      {0x03ff, 0x387fc000}, /* largest subnormal 1023 * 2^-24 */
      {0x8001, 0xb3800000}, /* -2^-24 */
      {0x0200, 0x38000000}, /* 2^-15 */
      {0x7c00, 0x7f800000}, /* +inf */
      {0xfc00, 0xff800000}, /* -inf */
      {0x7e00, 0x7fc00000}, /* quiet NaN */
      {0x7c01, 0x7f802000}, /* signalling NaN payload kept */
      {0xfe00, 0xffc00000}, /* negative NaN */
  };
  for (size_t i = 0; i < sizeof f16 / sizeof f16[0]; i++) {
    uint32_t got = fbits(pst_f16_to_f32(f16[i].h));
    if (got != f16[i].f) {
      print_error("f16 0x%04x -> 0x%08x, expected 0x%08x\n", f16[i].h, got, f16[i].f);
      fail();
    }
  }
#ifdef __FLT16_MAX__
  /* Exhaustive check against the compiler's own half -> float conversion. */
  for (uint32_t u = 0; u < 65536; u++) {
    uint16_t h = (uint16_t)u;
    __extension__ _Float16 x; /* GCC/Clang extension, not ISO C */
    memcpy(&x, &h, 2);
    float ref = (float)x, got = pst_f16_to_f32(h);
    if (isnan(ref)) {
      assert_true(isnan(got));
      assert_int_equal(fbits(got) >> 31, fbits(ref) >> 31);
    } else {
      assert_int_equal(fbits(got), fbits(ref));
    }
  }
#endif
  static const struct {
    uint16_t h;
    uint32_t f;
  } bf16[] = {
      {0x0000, 0x00000000}, {0x8000, 0x80000000}, {0x3f80, 0x3f800000}, /* 1 */
      {0x4049, 0x40490000},                                             /* 3.140625 */
      {0x0001, 0x00010000}, /* smallest subnormal 2^-133 */
      {0x007f, 0x007f0000}, /* largest subnormal */
      {0x7f7f, 0x7f7f0000}, /* largest finite */
      {0x7f80, 0x7f800000}, {0xff80, 0xff800000}, {0x7fc0, 0x7fc00000},
  };
  for (size_t i = 0; i < sizeof bf16 / sizeof bf16[0]; i++)
    assert_int_equal(fbits(pst_bf16_to_f32(bf16[i].h)), bf16[i].f);
  assert_true(pst_bf16_to_f32(0x0001) == 0x1p-133f);

  /* The same patterns through a file (odd header length: data not aligned). */
  char path[512];
  tpath(path, sizeof path, "half.safetensors");
  uint16_t data[16 + 10];
  for (int i = 0; i < 16; i++) data[i] = f16[i].h;
  for (int i = 0; i < 10; i++) data[16 + i] = bf16[i].h;
  make_st(path,
          "{\"h\":{\"dtype\":\"F16\",\"shape\":[4,4],\"data_offsets\":[0,32]},"
          "\"bh\":{\"dtype\":\"BF16\",\"shape\":[10],\"data_offsets\":[32,52]}}  ",
          data, sizeof data);
  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  assert_int_equal(pst_st_find(st, "h")->offset % 2, 1);
  float out[16];
  assert_int_equal(pst_st_read_f32(st, "h", out, 2, (int64_t[]){4, 4}), PST_OK);
  for (int i = 0; i < 16; i++) assert_int_equal(fbits(out[i]), f16[i].f);
  assert_int_equal(pst_st_read_f32(st, "bh", out, 1, (int64_t[]){10}), PST_OK);
  for (int i = 0; i < 10; i++) assert_int_equal(fbits(out[i]), bf16[i].f);
  pst_st_close(st);
  unlink(path);
}

/* ---- files as Python's safetensors writes them ---- */

/* safetensors.torch.save_file({"a": torch.tensor([[1., 2.], [3., 4.]]),
 *                              "b": torch.tensor([1, -2, 3])}, metadata={"format": "pt"})
 * The reference writer puts __metadata__ first, orders tensors by alignment then name
 * (I64 before F32), packs data contiguously and pads the header with spaces to a
 * multiple of 8. Header: 143 bytes of JSON + 1 space = 144 = 0x90. */
static const unsigned char py_file[] =
    "\x90\x00\x00\x00\x00\x00\x00\x00"
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"b\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[24,40]}} "
    /* b = [1, -2, 3] as little-endian int64 */
    "\x01\x00\x00\x00\x00\x00\x00\x00"
    "\xfe\xff\xff\xff\xff\xff\xff\xff"
    "\x03\x00\x00\x00\x00\x00\x00\x00"
    /* a = [1, 2, 3, 4] as little-endian float32 */
    "\x00\x00\x80\x3f\x00\x00\x00\x40\x00\x00\x40\x40\x00\x00\x80\x40";

/* save_file({"a": torch.tensor([1., 2.])}): 54 bytes of JSON + 2 spaces = 56 = 0x38. */
static const unsigned char py_small[] =
    "\x38\x00\x00\x00\x00\x00\x00\x00"
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  "
    "\x00\x00\x80\x3f\x00\x00\x00\x40";

static void test_python_layout(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "py.safetensors");
  write_raw(path, py_file, sizeof py_file - 1);
  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  assert_int_equal(pst_st_count(st), 2);
  assert_string_equal(pst_st_at(st, 0)->name, "a");
  assert_string_equal(pst_st_at(st, 1)->name, "b");
  assert_string_equal(pst_st_metadata(st, "format"), "pt");
  assert_int_equal(pst_st_find(st, "b")->offset, 8 + 144);
  assert_int_equal(pst_st_find(st, "a")->offset, 8 + 144 + 24);
  float a[4];
  assert_int_equal(pst_st_read_f32(st, "a", a, 2, (int64_t[]){2, 2}), PST_OK);
  assert_true(a[0] == 1 && a[1] == 2 && a[2] == 3 && a[3] == 4);
  int32_t b[3];
  assert_int_equal(pst_st_read_i32(st, "b", b, 1, (int64_t[]){3}), PST_OK);
  assert_true(b[0] == 1 && b[1] == -2 && b[2] == 3);
  pst_st_close(st);

  /* Our writer produces the reference writer's bytes exactly. */
  float v[2] = {1, 2};
  pst_st_entry e = {"a", PST_DT_F32, 1, {2}, v};
  assert_int_equal(pst_st_write(path, &e, 1, NULL), PST_OK);
  size_t len;
  unsigned char *got = slurp(path, &len);
  assert_int_equal(len, sizeof py_small - 1);
  assert_memory_equal(got, py_small, len);
  free(got);
  unlink(path);
}

/* Valid-but-unusual files that must be accepted. */
static void test_accepted_edge_cases(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "edge.safetensors");
  unsigned char data[32] = {0};
  static const struct {
    const char *json;
    size_t dlen;
    int count;
  } ok[] = {
      {"{}", 0, 0},
      {"{}        ", 0, 0},
      {" \n{ }\t\r\n", 0, 0},
      {"{\"__metadata__\":{}}", 0, 0},
      /* gap before and after a tensor, trailing bytes after the last one */
      {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[4,6]}}", 32, 1},
      /* zero-size tensors may share offsets with anything */
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
       "\"y\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[8,8]}}",
       8, 3},
      /* huge dimension times zero is zero elements, not an overflow */
      {"{\"a\":{\"dtype\":\"F64\",\"shape\":[9223372036854775807,9223372036854775807,0],"
       "\"data_offsets\":[0,0]}}",
       0, 1},
      /* keys in any order; unicode names */
      {"{\"\\u00e9t\\u00e9\":{\"data_offsets\":[0,1],\"shape\":[],\"dtype\":\"BOOL\"}}", 1, 1},
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    make_st(path, ok[i].json, data, ok[i].dlen);
    pst_safetensors *st = NULL;
    pst_err rc = pst_st_open(&st, path);
    if (rc) {
      print_error("case %zu rejected: %s\n", i, pst_err_message());
      fail();
    }
    assert_int_equal(pst_st_count(st), ok[i].count);
    pst_st_close(st);
  }
  unlink(path);
}

/* ---- malformed files ---- */

typedef struct {
  const char *label;
  const char *json; /* header; NULL: use raw/rawlen */
  size_t dlen;      /* bytes of zero data after the header */
  const char *raw;
  size_t rawlen;
  const char *frag; /* expected message fragment */
} bad_case;

/* Header with one tensor 't'. */
#define T1(dt, shape, offs) \
  "{\"t\":{\"dtype\":" dt ",\"shape\":" shape ",\"data_offsets\":" offs "}}"

static const bad_case bad_cases[] = {
    {"empty file", NULL, 0, "", 0, "file is 0 bytes, too short for the 8-byte header length"},
    {"truncated length", NULL, 0, "\x10\x00\x00", 3, "file is 3 bytes, too short"},
    {"length past EOF", NULL, 0, "\x00\x01\x00\x00\x00\x00\x00\x00{}", 10,
     "header length 256 exceeds the file size (10 bytes)"},
    {"length huge", NULL, 0, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10,
     "header length 18446744073709551615 exceeds the 100000000-byte limit"},
    {"length over limit", NULL, 0, "\x01\xe1\xf5\x05\x00\x00\x00\x00{}", 10,
     "header length 100000001 exceeds the 100000000-byte limit"},
    {"empty header", "", 0, NULL, 0, "header is not valid JSON"},
    {"non-JSON", "{\"t\": ", 0, NULL, 0, "header is not valid JSON"},
    {"garbage", "safetensors!", 0, NULL, 0, "header is not valid JSON"},
    {"trailing garbage", "{} x", 0, NULL, 0, "header is not valid JSON"},
    {"bad utf-8", "{\"\xff\xfe\":{}}", 0, NULL, 0, "header is not valid JSON"},
    {"NUL in name", "{\"a\\u0000b\":{}}", 0, NULL, 0, "header is not valid JSON"},
    {"array", "[1, 2]", 0, NULL, 0, "header JSON is an array, not an object"},
    {"string", "\"x\"", 0, NULL, 0, "header is not valid JSON"},
    {"duplicate keys",
     "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
     "\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
     2, NULL, 0, "duplicate object key"},
    {"entry not object", "{\"t\":[1]}", 0, NULL, 0, "tensor 't': entry is an array, not an object"},
    {"unknown entry key",
     "{\"t\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"stride\":[1]}}", 1, NULL, 0,
     "tensor 't': unknown key 'stride'"},
    {"missing dtype", "{\"t\":{\"shape\":[1],\"data_offsets\":[0,1]}}", 1, NULL, 0,
     "tensor 't': missing 'dtype'"},
    {"dtype not string", T1("4", "[1]", "[0,4]"), 4, NULL, 0,
     "tensor 't': 'dtype' is an integer, not a string"},
    {"unknown dtype I8", T1("\"I8\"", "[1]", "[0,1]"), 1, NULL, 0,
     "tensor 't': unsupported dtype 'I8'"},
    {"unknown dtype F8", T1("\"F8_E4M3\"", "[1]", "[0,1]"), 1, NULL, 0,
     "unsupported dtype 'F8_E4M3'"},
    {"lowercase dtype", T1("\"f32\"", "[1]", "[0,4]"), 4, NULL, 0, "unsupported dtype 'f32'"},
    {"missing shape", "{\"t\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, NULL, 0,
     "tensor 't': missing 'shape'"},
    {"shape not array", T1("\"U8\"", "3", "[0,3]"), 3, NULL, 0,
     "tensor 't': 'shape' is an integer, not an array"},
    {"negative shape", T1("\"F32\"", "[2,-1]", "[0,0]"), 0, NULL, 0,
     "tensor 't': shape entry 1 is not a non-negative integer"},
    {"float shape", T1("\"F32\"", "[2.0]", "[0,8]"), 8, NULL, 0,
     "tensor 't': shape entry 0 is not a non-negative integer"},
    {"string shape", T1("\"F32\"", "[\"2\"]", "[0,8]"), 8, NULL, 0,
     "shape entry 0 is not a non-negative integer"},
    {"too many dims", T1("\"U8\"", "[1,1,1,1,1,1,1,1,1]", "[0,1]"), 1, NULL, 0,
     "tensor 't': shape has 9 dimensions (at most 8 supported)"},
    {"shape overflow (numel)", T1("\"U8\"", "[4294967296,4294967296,2]", "[0,0]"), 0, NULL, 0,
     "tensor 't': byte size of shape [4294967296, 4294967296, 2] overflows"},
    {"shape overflow (bytes)", T1("\"F32\"", "[4611686018427387904]", "[0,0]"), 0, NULL, 0,
     "byte size of shape [4611686018427387904] overflows"},
    {"integer too big for JSON", T1("\"U8\"", "[99999999999999999999]", "[0,0]"), 0, NULL, 0,
     "header is not valid JSON"},
    {"missing offsets", "{\"t\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, NULL, 0,
     "tensor 't': missing 'data_offsets'"},
    {"offsets one entry", T1("\"U8\"", "[1]", "[1]"), 1, NULL, 0,
     "tensor 't': 'data_offsets' is not an array of two non-negative integers"},
    {"offsets float", T1("\"U8\"", "[1]", "[0,1.0]"), 1, NULL, 0,
     "'data_offsets' is not an array of two non-negative integers"},
    {"offsets negative", T1("\"U8\"", "[1]", "[-1,0]"), 1, NULL, 0,
     "'data_offsets' is not an array of two non-negative integers"},
    {"offsets reversed", T1("\"U8\"", "[0]", "[8,0]"), 8, NULL, 0,
     "tensor 't': data offsets [8, 0) are reversed"},
    {"offsets out of range", T1("\"F32\"", "[6]", "[0,24]"), 16, NULL, 0,
     "tensor 't': data offsets [0, 24) exceed the data section (16 bytes)"},
    {"offsets far out of range", T1("\"U8\"", "[0]", "[9223372036854775807,9223372036854775807]"),
     0, NULL, 0, "exceed the data section (0 bytes)"},
    {"size mismatch", T1("\"F32\"", "[2]", "[0,12]"), 12, NULL, 0,
     "tensor 't': data offsets [0, 12) span 12 bytes but shape [2] of F32 needs 8 bytes"},
    {"scalar size mismatch", T1("\"I64\"", "[]", "[0,4]"), 8, NULL, 0,
     "span 4 bytes but shape [] of I64 needs 8 bytes"},
    {"overlap",
     "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
     12, NULL, 0, "tensors 'a' [0, 8) and 'b' [4, 12) overlap"},
    {"contained overlap",
     "{\"big\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
     "\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[10,12]},"
     "\"s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}",
     16, NULL, 0, "tensors 'big' [0, 16) and 's' [2, 3) overlap"},
    {"same range",
     "{\"x\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
     "\"y\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
     4, NULL, 0, "tensors 'x' [0, 4) and 'y' [0, 4) overlap"},
    {"metadata not object", "{\"__metadata__\":[\"a\"]}", 0, NULL, 0,
     "'__metadata__' is an array, not an object"},
    {"metadata value not string", "{\"__metadata__\":{\"format\":1}}", 0, NULL, 0,
     "'__metadata__' key 'format' is an integer, not a string"},
};

static void test_malformed_table(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "bad.safetensors");
  unsigned char zeros[64] = {0};
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
    const bad_case *c = &bad_cases[i];
    if (c->json)
      make_st(path, c->json, zeros, c->dlen);
    else
      write_raw(path, c->raw, c->rawlen);
    pst_safetensors *st = (pst_safetensors *)&st; /* must be reset to NULL */
    pst_err rc = pst_st_open(&st, path);
    if (rc != PST_ERR_FORMAT || st != NULL || !strstr(pst_err_message(), c->frag) ||
        strncmp(pst_err_message(), path, strlen(path)) != 0) {
      print_error("case '%s': rc %d, message \"%s\"\nexpected fragment \"%s\"\n", c->label, rc,
                  pst_err_message(), c->frag);
      pst_st_close(rc ? NULL : st);
      fail();
    }
    pst_err_clear();
  }
  unlink(path);
}

static void test_open_io_errors(void **state) {
  (void)state;
  char path[512];
  pst_safetensors *st;
  tpath(path, sizeof path, "does-not-exist.safetensors");
  assert_int_equal(pst_st_open(&st, path), PST_ERR_IO);
  assert_null(st);
  assert_msg_has("does-not-exist.safetensors: cannot open: No such file");
  assert_int_equal(pst_st_open(&st, tmpdir), PST_ERR_IO);
  assert_msg_has("not a regular file");
  assert_int_equal(pst_st_open(&st, NULL), PST_ERR_ARG);
  assert_int_equal(pst_st_open(NULL, path), PST_ERR_ARG);
  pst_err_clear();
}

/* ---- read-side errors ---- */

static void test_read_errors(void **state) {
  (void)state;
  char path[512], want[600];
  tpath(path, sizeof path, "read.safetensors");
  float w[6] = {0};
  int32_t i32[2] = {1, 2};
  int64_t big[2] = {1, (int64_t)INT32_MAX + 1};
  int64_t neg[1] = {(int64_t)INT32_MIN - 1};
  uint8_t badbool[3] = {0, 1, 2};
  pst_st_entry e[] = {
      {"blk.0.q.w", PST_DT_F32, 2, {2, 3}, w},      {"i", PST_DT_I32, 1, {2}, i32},
      {"big", PST_DT_I64, 1, {2}, big},             {"neg", PST_DT_I64, 1, {1}, neg},
      {"flags", PST_DT_BOOL, 1, {3}, badbool},
  };
  assert_int_equal(pst_st_write(path, e, 5, NULL), PST_OK);
  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  float out[6];
  int32_t iout[6];

  assert_int_equal(pst_st_read_f32(st, "nope", out, 1, (int64_t[]){1}), PST_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: tensor 'nope' not found", path);
  assert_string_equal(pst_err_message(), want);
  assert_int_equal(pst_st_read_i32(st, "nope", iout, 1, (int64_t[]){1}), PST_ERR_FORMAT);
  assert_string_equal(pst_err_message(), want);

  assert_int_equal(pst_st_read_f32(st, "blk.0.q.w", out, 2, (int64_t[]){3, 2}), PST_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: tensor 'blk.0.q.w' has shape [2, 3], expected [3, 2]", path);
  assert_string_equal(pst_err_message(), want);
  assert_int_equal(pst_st_read_f32(st, "blk.0.q.w", out, 1, (int64_t[]){6}), PST_ERR_FORMAT);
  assert_msg_has("tensor 'blk.0.q.w' has shape [2, 3], expected [6]");
  assert_int_equal(pst_st_read_f32(st, "blk.0.q.w", out, 3, (int64_t[]){2, 3, 1}),
                   PST_ERR_FORMAT);
  assert_msg_has("has shape [2, 3], expected [2, 3, 1]");
  assert_int_equal(pst_st_read_i32(st, "i", iout, 0, NULL), PST_ERR_FORMAT);
  assert_msg_has("tensor 'i' has shape [2], expected []");
  assert_int_equal(pst_st_read_f32(st, "blk.0.q.w", out, 9, (int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1}),
                   PST_ERR_ARG);

  assert_int_equal(pst_st_read_f32(st, "i", out, 1, (int64_t[]){2}), PST_ERR_FORMAT);
  assert_msg_has("tensor 'i' has dtype I32; expected a float dtype");
  assert_int_equal(pst_st_read_i32(st, "blk.0.q.w", iout, 2, (int64_t[]){2, 3}), PST_ERR_FORMAT);
  assert_msg_has("tensor 'blk.0.q.w' has dtype F32; expected an integer dtype");

  assert_int_equal(pst_st_read_i32(st, "big", iout, 1, (int64_t[]){2}), PST_ERR_FORMAT);
  assert_msg_has("tensor 'big': element 1 = 2147483648 is outside the int32 range");
  assert_int_equal(pst_st_read_i32(st, "neg", iout, 1, (int64_t[]){1}), PST_ERR_FORMAT);
  assert_msg_has("element 0 = -2147483649 is outside the int32 range");
  assert_int_equal(pst_st_read_i32(st, "flags", iout, 1, (int64_t[]){3}), PST_ERR_FORMAT);
  assert_msg_has("tensor 'flags': element 2 is byte 2, not a BOOL");
  pst_st_close(st);
  pst_err_clear();
  unlink(path);
}

/* ---- slices (tensor parallelism) ---- */

/* Compare a slice read of `name` (shape [d0, d1, d2], ndim dims) along dim with the same
 * elements of a full read, bit for bit, for every (start, count); a sentinel after the
 * slice must stay untouched. */
static void check_slices(const pst_safetensors *st, const char *name, int ndim, const int64_t *shape) {
  size_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= (size_t)shape[i];
  float *full = malloc(numel * sizeof(float)), *out = malloc((numel + 1) * sizeof(float));
  assert_true(full && out);
  assert_int_equal(pst_st_read_f32(st, name, full, ndim, shape), PST_OK);
  for (int dim = 0; dim < ndim; dim++) {
    int64_t outer = 1, inner = 1, ext = shape[dim];
    for (int i = 0; i < dim; i++) outer *= shape[i];
    for (int i = dim + 1; i < ndim; i++) inner *= shape[i];
    for (int64_t start = 0; start <= ext; start++)
      for (int64_t count = 0; start + count <= ext; count++) {
        const size_t n = (size_t)(outer * count * inner);
        out[n] = 12345.f; /* sentinel */
        assert_int_equal(pst_st_read_f32_slice(st, name, out, ndim, shape, dim, start, count), PST_OK);
        assert_true(out[n] == 12345.f);
        for (int64_t o = 0; o < outer; o++)
          for (int64_t c = 0; c < count; c++)
            for (int64_t i = 0; i < inner; i++) {
              float got = out[(o * count + c) * inner + i];
              float want = full[(o * ext + start + c) * inner + i];
              if (fbits(got) != fbits(want)) {
                print_error("%s dim %d [%lld, +%lld): element (%lld, %lld, %lld) = %g, expected %g\n", name, dim,
                            (long long)start, (long long)count, (long long)o, (long long)c, (long long)i,
                            (double)got, (double)want);
                fail();
              }
            }
      }
  }
  free(full);
  free(out);
}

static void test_slices(void **state) {
  (void)state;
  char path[512], want[700];
  tpath(path, sizeof path, "slice.safetensors");
  float w[5 * 7], c3[2 * 3 * 4];
  uint16_t h[4 * 6], bh[3 * 5], hv[9];
  double d[4 * 3];
  int32_t iv[6] = {0};
  for (int i = 0; i < 35; i++) w[i] = (float)i * 0.5f - 7.f;
  for (int i = 0; i < 24; i++) c3[i] = (float)i + 0.25f;
  for (int i = 0; i < 24; i++) h[i] = (uint16_t)(0x3c00 + 37 * i); /* 1 and up */
  h[5] = 0x8001;                                                     /* -2^-24 */
  for (int i = 0; i < 15; i++) bh[i] = (uint16_t)(0xbf80 + 11 * i);
  for (int i = 0; i < 9; i++) hv[i] = (uint16_t)(0x4000 + i);
  for (int i = 0; i < 12; i++) d[i] = 0.1 * i - 0.3;
  pst_st_entry e[] = {
      {"w", PST_DT_F32, 2, {5, 7}, w},   {"h", PST_DT_F16, 2, {4, 6}, h},  {"bh", PST_DT_BF16, 2, {3, 5}, bh},
      {"d", PST_DT_F64, 2, {4, 3}, d},   {"hv", PST_DT_F16, 1, {9}, hv},   {"c3", PST_DT_F32, 3, {2, 3, 4}, c3},
      {"i", PST_DT_I32, 2, {2, 3}, iv},
  };
  assert_int_equal(pst_st_write(path, e, 7, NULL), PST_OK);
  pst_safetensors *st;
  assert_int_equal(pst_st_open(&st, path), PST_OK);
  check_slices(st, "w", 2, (int64_t[]){5, 7});
  check_slices(st, "h", 2, (int64_t[]){4, 6});
  check_slices(st, "bh", 2, (int64_t[]){3, 5});
  check_slices(st, "d", 2, (int64_t[]){4, 3});
  check_slices(st, "hv", 1, (int64_t[]){9});
  check_slices(st, "c3", 3, (int64_t[]){2, 3, 4});

  /* spot values: rows 1..2 of w; columns 4..5 of h (decoded F16) */
  float out[64];
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, (int64_t[]){5, 7}, 0, 1, 2), PST_OK);
  for (int i = 0; i < 14; i++) assert_true(out[i] == w[7 + i]);
  assert_int_equal(pst_st_read_f32_slice(st, "h", out, 2, (int64_t[]){4, 6}, 1, 4, 2), PST_OK);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 2; c++) assert_true(out[r * 2 + c] == pst_f16_to_f32(h[r * 6 + 4 + c]));
  assert_true(out[1] == -0x1p-24f);

  /* the file's shape must equal the global shape */
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, (int64_t[]){7, 5}, 0, 0, 1), PST_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: tensor 'w' has shape [5, 7], expected [7, 5]", path);
  assert_string_equal(pst_err_message(), want);
  assert_int_equal(pst_st_read_f32_slice(st, "nope", out, 1, (int64_t[]){1}, 0, 0, 1), PST_ERR_FORMAT);
  assert_msg_has("tensor 'nope' not found");
  assert_int_equal(pst_st_read_f32_slice(st, "i", out, 2, (int64_t[]){2, 3}, 0, 0, 1), PST_ERR_FORMAT);
  assert_msg_has("tensor 'i' has dtype I32; expected a float dtype");
  /* range checks */
  const int64_t ws[2] = {5, 7};
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 0, 4, 2), PST_ERR_ARG);
  assert_msg_has("tensor 'w': slice of 2 from 4 along dimension 0 is outside its extent 5");
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 1, -1, 2), PST_ERR_ARG);
  assert_msg_has("tensor 'w': slice of 2 from -1 along dimension 1");
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 1, 0, -1), PST_ERR_ARG);
  assert_msg_has("tensor 'w'");
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 1, 8, 0), PST_ERR_ARG);
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 1, 0, INT64_MAX), PST_ERR_ARG);
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 1, INT64_MAX, INT64_MAX), PST_ERR_ARG);
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, 2, 0, 1), PST_ERR_ARG);
  assert_msg_has("tensor 'w': slice dimension 2 outside [0, 2)");
  assert_int_equal(pst_st_read_f32_slice(st, "w", out, 2, ws, -1, 0, 1), PST_ERR_ARG);
  /* an empty slice needs no buffer; a non-empty one does */
  assert_int_equal(pst_st_read_f32_slice(st, "w", NULL, 2, ws, 1, 7, 0), PST_OK);
  assert_int_equal(pst_st_read_f32_slice(st, "w", NULL, 2, ws, 1, 0, 1), PST_ERR_ARG);
  assert_msg_has("NULL output buffer");

  /* pst_st_read_param: whole, rows, columns, per the tensor's shard fields */
  pst_params p = {0};
  float *pw = NULL, *rows = NULL, *cols = NULL, *vrows = NULL, *bad = NULL;
  assert_int_equal(pst_params_add(&p, "whole", 2, 5, 7, 0, 1, &pw, NULL), PST_OK);
  assert_int_equal(pst_params_add(&p, "rows", 2, 2, 7, 0, 1, &rows, NULL), PST_OK);
  pst_params_shard_last(&p, 0, 3, 5); /* rows [3, 5) of [5, 7] */
  assert_int_equal(pst_params_add(&p, "cols", 2, 4, 2, 0, 1, &cols, NULL), PST_OK);
  pst_params_shard_last(&p, 1, 4, 6); /* columns [4, 6) of [4, 6] */
  assert_int_equal(pst_params_add(&p, "vrows", 1, 3, 0, 0, 1, &vrows, NULL), PST_OK);
  pst_params_shard_last(&p, 0, 6, 9); /* elements [6, 9) of [9] */
  assert_int_equal(pst_params_add(&p, "bad", 2, 2, 3, 0, 1, &bad, NULL), PST_OK);
  pst_params_shard_last(&p, 0, 0, 5);
  p.t[4].gshape[1] = 7; /* 3 columns of a 7-column tensor: not a row slice */
  assert_int_equal(pst_params_alloc(&p, 0), PST_OK);
  assert_int_equal(pst_st_read_param(st, "w", &p.t[0], pw), PST_OK);
  assert_memory_equal(pw, w, sizeof w);
  assert_int_equal(pst_st_read_param(st, "w", &p.t[1], rows), PST_OK);
  assert_memory_equal(rows, w + 3 * 7, 2 * 7 * sizeof(float));
  assert_int_equal(pst_st_read_param(st, "h", &p.t[2], cols), PST_OK);
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 2; c++) assert_true(cols[r * 2 + c] == pst_f16_to_f32(h[r * 6 + 4 + c]));
  assert_int_equal(pst_st_read_param(st, "hv", &p.t[3], vrows), PST_OK);
  for (int i = 0; i < 3; i++) assert_true(vrows[i] == pst_f16_to_f32(hv[6 + i]));
  assert_int_equal(pst_st_read_param(st, "w", &p.t[4], bad), PST_ERR_ARG);
  assert_msg_has("tensor 'w': local shape [2, 3] is not a slice along dimension 0 of the global shape [5, 7]");
  /* the global shape is what the file must have */
  assert_int_equal(pst_st_read_param(st, "h", &p.t[1], rows), PST_ERR_FORMAT);
  assert_msg_has("tensor 'h' has shape [4, 6], expected [5, 7]");
  p.t[1].shard_start = 4; /* rows [4, 6) of 5 */
  assert_int_equal(pst_st_read_param(st, "w", &p.t[1], rows), PST_ERR_ARG);
  assert_msg_has("tensor 'w': slice of 2 from 4 along dimension 0 is outside its extent 5");
  pst_params_free(&p);
  pst_st_close(st);
  pst_err_clear();
  unlink(path);
}

/* ---- writer errors and atomicity ---- */

static void test_write_argument_errors(void **state) {
  (void)state;
  char path[512];
  tpath(path, sizeof path, "args.safetensors");
  float v[4] = {0};
  const struct {
    pst_st_entry e[2];
    int n;
    const char *const *meta;
    const char *frag;
  } cases[] = {
      {{{"a", PST_DT_F32, 1, {4}, NULL}}, 1, NULL, "tensor 'a': NULL data"},
      {{{"a", PST_DT_F32, 1, {-4}, v}}, 1, NULL, "tensor 'a': negative dimension -4"},
      {{{"a", PST_DT_F32, 9, {1}, v}}, 1, NULL, "tensor 'a': ndim 9 outside [0, 8]"},
      {{{"a", (pst_dtype)99, 1, {1}, v}}, 1, NULL, "tensor 'a': invalid dtype 99"},
      {{{"__metadata__", PST_DT_F32, 1, {1}, v}}, 1, NULL, "'__metadata__' is reserved"},
      {{{"a", PST_DT_F32, 1, {1}, v}, {"a", PST_DT_F32, 1, {1}, v}}, 2, NULL,
       "duplicate tensor name 'a'"},
      {{{NULL, PST_DT_F32, 1, {1}, v}}, 1, NULL, "entry 0 has no name"},
      {{{"bad\xff", PST_DT_F32, 1, {1}, v}}, 1, NULL, "is not valid UTF-8"},
      {{{"a", PST_DT_F32, 2, {INT64_MAX, 4}, v}}, 1, NULL, "tensor 'a': size overflows"},
      {{{"a", PST_DT_F32, 1, {1}, v}}, 1, (const char *const[]){"k", NULL}, "key 'k' has no value"},
      {{{"a", PST_DT_F32, 1, {1}, v}}, 1, (const char *const[]){"k", "1", "k", "2", NULL},
       "duplicate metadata key 'k'"},
      {{{"a", PST_DT_F32, 1, {1}, v}}, 1, (const char *const[]){"k", "\xc3", NULL},
       "metadata value for key 'k' is not valid UTF-8"},
      {{{"a", PST_DT_F32, 1, {1}, v}}, 1, (const char *const[]){"k\xff", "v", NULL},
       "is not valid UTF-8"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pst_err rc = pst_st_write(path, cases[i].e, cases[i].n, cases[i].meta);
    if (rc != PST_ERR_ARG || !strstr(pst_err_message(), cases[i].frag)) {
      print_error("case %zu: rc %d, message \"%s\", expected \"%s\"\n", i, rc, pst_err_message(),
                  cases[i].frag);
      fail();
    }
    assert_int_equal(access(path, F_OK), -1); /* nothing created */
  }
  assert_int_equal(pst_st_write(path, NULL, 1, NULL), PST_ERR_ARG);
  assert_int_equal(pst_st_write(NULL, NULL, 0, NULL), PST_ERR_ARG);
  assert_false(has_tmp_files());
  pst_err_clear();
}

static void test_atomic_write(void **state) {
  (void)state;
  char path[512], bad[512];
  tpath(path, sizeof path, "keep.safetensors");
  float v[3] = {1, 2, 3};
  pst_st_entry e = {"v", PST_DT_F32, 1, {3}, v};
  assert_int_equal(pst_st_write(path, &e, 1, NULL), PST_OK);
  size_t len0;
  unsigned char *orig = slurp(path, &len0);
  int entries0 = count_dir_entries();

  /* Into a directory that does not exist. */
  tpath(bad, sizeof bad, "no/such/dir/out.safetensors");
  assert_int_equal(pst_st_write(bad, &e, 1, NULL), PST_ERR_IO);
  assert_msg_has("no/such/dir/out.safetensors: cannot create temporary file");

  /* Failing validation never touches the existing file. */
  pst_st_entry dup[2] = {e, e};
  assert_int_equal(pst_st_write(path, dup, 2, NULL), PST_ERR_ARG);

  /* A write error half way (file size limit): temp file removed, original intact. */
  static float bigbuf[1 << 14];
  pst_st_entry big = {"big", PST_DT_F32, 1, {1 << 14}, bigbuf};
  struct rlimit old, lim;
  assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  lim = old;
  lim.rlim_cur = 4096;
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
  pst_err rc = pst_st_write(path, &big, 1, NULL);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  assert_int_equal(rc, PST_ERR_IO);
  assert_msg_has(".tmp.");
  assert_msg_has("write failed: File too large");

  /* Rename fails: the target is a non-empty directory. */
  tpath(bad, sizeof bad, "adir");
  assert_int_equal(mkdir(bad, 0700), 0);
  char inner[600];
  snprintf(inner, sizeof inner, "%s/x", bad);
  write_raw(inner, "x", 1);
  assert_int_equal(pst_st_write(bad, &e, 1, NULL), PST_ERR_IO);
  assert_msg_has("adir: cannot rename");
  unlink(inner);
  rmdir(bad);

  assert_false(has_tmp_files());
  assert_int_equal(count_dir_entries(), entries0);
  size_t len1;
  unsigned char *now = slurp(path, &len1);
  assert_int_equal(len0, len1);
  assert_memory_equal(orig, now, len0);
  free(orig);
  free(now);
  pst_st_open(NULL, NULL); /* exercise the NULL-output guard */
  pst_err_clear();
  unlink(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_all_dtypes),
      cmocka_unit_test(test_f16_bf16_bits),
      cmocka_unit_test(test_python_layout),
      cmocka_unit_test(test_accepted_edge_cases),
      cmocka_unit_test(test_malformed_table),
      cmocka_unit_test(test_open_io_errors),
      cmocka_unit_test(test_read_errors),
      cmocka_unit_test(test_slices),
      cmocka_unit_test(test_write_argument_errors),
      cmocka_unit_test(test_atomic_write),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
