/* safetensors.c — mmap-based safetensors reader with full header validation, dtype
 * conversion to fp32/int32, and an atomic (temp file + fsync + rename) writer.
 *
 * The header is parsed with jansson and kept alive for the life of the handle: tensor
 * names and metadata strings point into it. All validation happens in pst_st_open, so
 * the accessors and readers can trust offsets and sizes. The mapping is MAP_PRIVATE
 * read-only; as with any mmap, truncating the file while it is open may raise SIGBUS. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "pst/jsonkind.h"
#include "pst/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor data are little-endian; we copy them without byte swapping. */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "pst safetensors I/O requires a little-endian host");
#define ST_HOST_IS_LE() 1
#else
static int st_host_is_le(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}
#define ST_HOST_IS_LE() st_host_is_le()
#endif

struct pst_safetensors {
  char *path;
  const uint8_t *map; /* whole file, read-only */
  size_t map_size;
  uint64_t data_start; /* absolute offset of the data section */
  uint64_t data_size;
  json_t *root;     /* parsed header; owns the strings that names point to */
  json_t *metadata; /* borrowed from root, or NULL */
  int n;
  pst_st_tensor *tensors; /* sorted by name */
};

typedef unsigned long long ull;

static const struct {
  const char *name;
  pst_dtype dt;
  size_t size;
} dtype_table[] = {
    {"F32", PST_DT_F32, 4}, {"F16", PST_DT_F16, 2}, {"BF16", PST_DT_BF16, 2},
    {"I32", PST_DT_I32, 4}, {"I64", PST_DT_I64, 8}, {"U8", PST_DT_U8, 1},
    {"BOOL", PST_DT_BOOL, 1}, {"F64", PST_DT_F64, 8}, {"U16", PST_DT_U16, 2},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

static int dtype_valid(pst_dtype dt) { return (int)dt >= 0 && (int)dt < N_DTYPES; }

size_t pst_dtype_size(pst_dtype dt) {
  for (int i = 0; i < N_DTYPES; i++)
    if (dtype_table[i].dt == dt) return dtype_table[i].size;
  return 0;
}

const char *pst_dtype_name(pst_dtype dt) {
  for (int i = 0; i < N_DTYPES; i++)
    if (dtype_table[i].dt == dt) return dtype_table[i].name;
  return "?";
}

static int dtype_parse(const char *s, pst_dtype *out) {
  for (int i = 0; i < N_DTYPES; i++)
    if (strcmp(s, dtype_table[i].name) == 0) {
      *out = dtype_table[i].dt;
      return 0;
    }
  return -1;
}

/* Half precision: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals are
 * mant * 2^-24, which a float holds exactly (mant < 2^10). Inf/NaN keep their payload. */
float pst_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    float v = (float)mant * 0x1p-24f;
    return sign ? -v : v;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + (127 - 15)) << 23) | (mant << 13);
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* bfloat16 is the top half of a float32. */
float pst_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}


/* Element count of a shape; -1 if it overflows uint64. Order independent: any zero
 * dimension gives 0 even if the other dimensions multiply past 2^64. */
static int shape_numel(int ndim, const int64_t *shape, uint64_t *out) {
  uint64_t n = 1;
  for (int i = 0; i < ndim; i++)
    if (shape[i] == 0) {
      *out = 0;
      return 0;
    }
  for (int i = 0; i < ndim; i++) {
    uint64_t d = (uint64_t)shape[i];
    if (n > UINT64_MAX / d) return -1;
    n *= d;
  }
  *out = n;
  return 0;
}

static uint64_t read_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Validate one header entry `name: {...}` and fill *t (except offset ordering, which
 * is checked across all tensors afterwards). */
static pst_err parse_entry(const pst_safetensors *st, const char *name, json_t *v,
                           pst_st_tensor *t) {
  const char *path = st->path;
  if (!json_is_object(v))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': entry is %s, not an object", path, name,
            pst_json_kind(v));
  const char *key;
  json_t *val;
  json_object_foreach(v, key, val) {
    if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': unknown key '%s'", path, name, key);
  }
  t->name = name;

  json_t *jd = json_object_get(v, "dtype");
  if (!jd) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': missing 'dtype'", path, name);
  if (!json_is_string(jd))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': 'dtype' is %s, not a string", path, name,
            pst_json_kind(jd));
  if (dtype_parse(json_string_value(jd), &t->dtype))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': unsupported dtype '%s'", path, name,
            json_string_value(jd));

  json_t *js = json_object_get(v, "shape");
  if (!js) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': missing 'shape'", path, name);
  if (!json_is_array(js))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': 'shape' is %s, not an array", path, name,
            pst_json_kind(js));
  size_t nd = json_array_size(js);
  if (nd > PST_ST_MAX_DIM)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': shape has %zu dimensions (at most %d supported)",
            path, name, nd, PST_ST_MAX_DIM);
  t->ndim = (int)nd;
  for (size_t i = 0; i < nd; i++) {
    json_t *d = json_array_get(js, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': shape entry %zu is not a non-negative integer",
              path, name, i);
    t->shape[i] = (int64_t)json_integer_value(d);
  }
  char sbuf[256];
  uint64_t numel;
  size_t esize = pst_dtype_size(t->dtype);
  if (shape_numel(t->ndim, t->shape, &numel) || numel > UINT64_MAX / esize) {
    pst_fmt_shape(sbuf, sizeof sbuf, t->ndim, t->shape);
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': byte size of shape %s overflows", path, name,
            sbuf);
  }
  uint64_t need = numel * esize;

  json_t *jo = json_object_get(v, "data_offsets");
  if (!jo) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': missing 'data_offsets'", path, name);
  if (!json_is_array(jo) || json_array_size(jo) != 2 ||
      !json_is_integer(json_array_get(jo, 0)) || !json_is_integer(json_array_get(jo, 1)) ||
      json_integer_value(json_array_get(jo, 0)) < 0 ||
      json_integer_value(json_array_get(jo, 1)) < 0)
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s': 'data_offsets' is not an array of two non-negative integers",
            path, name);
  uint64_t b = (uint64_t)json_integer_value(json_array_get(jo, 0));
  uint64_t e = (uint64_t)json_integer_value(json_array_get(jo, 1));
  if (b > e)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': data offsets [%llu, %llu) are reversed", path,
            name, (ull)b, (ull)e);
  if (e > st->data_size)
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s': data offsets [%llu, %llu) exceed the data section (%llu bytes)",
            path, name, (ull)b, (ull)e, (ull)st->data_size);
  if (e - b != need) {
    pst_fmt_shape(sbuf, sizeof sbuf, t->ndim, t->shape);
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s': data offsets [%llu, %llu) span %llu bytes but shape %s of %s "
            "needs %llu bytes",
            path, name, (ull)b, (ull)e, (ull)(e - b), sbuf, pst_dtype_name(t->dtype),
            (ull)need);
  }
  t->offset = st->data_start + b;
  t->nbytes = need;
  return PST_OK;
}

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const pst_st_tensor *)a)->name, ((const pst_st_tensor *)b)->name);
}

static int cmp_offset(const void *a, const void *b) {
  const pst_st_tensor *x = *(const pst_st_tensor *const *)a;
  const pst_st_tensor *y = *(const pst_st_tensor *const *)b;
  if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
  if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Reject any two non-empty tensors whose byte ranges intersect. Gaps are allowed;
 * zero-size tensors occupy no bytes and never overlap. */
static pst_err check_overlap(const pst_safetensors *st) {
  if (st->n < 2) return PST_OK;
  const pst_st_tensor **by_off = malloc((size_t)st->n * sizeof *by_off);
  if (!by_off) PST_ERR(PST_ERR_MEM, "%s: out of memory checking tensor offsets", st->path);
  for (int i = 0; i < st->n; i++) by_off[i] = &st->tensors[i];
  qsort(by_off, (size_t)st->n, sizeof *by_off, cmp_offset);
  const pst_st_tensor *prev = NULL; /* non-empty tensor reaching furthest so far */
  for (int i = 0; i < st->n; i++) {
    const pst_st_tensor *t = by_off[i];
    if (t->nbytes == 0) continue;
    if (prev && t->offset < prev->offset + prev->nbytes) {
      uint64_t ds = st->data_start;
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__,
                  "%s: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap", st->path,
                  prev->name, (ull)(prev->offset - ds), (ull)(prev->offset + prev->nbytes - ds),
                  t->name, (ull)(t->offset - ds), (ull)(t->offset + t->nbytes - ds));
      free(by_off);
      return PST_ERR_FORMAT;
    }
    if (!prev || t->offset + t->nbytes > prev->offset + prev->nbytes) prev = t;
  }
  free(by_off);
  return PST_OK;
}

/* Map st->path and validate everything; on failure the caller frees st. */
static pst_err st_load(pst_safetensors *st) {
  const char *path = st->path;
  if (!ST_HOST_IS_LE())
    PST_ERR(PST_ERR_INTERNAL, "%s: safetensors I/O requires a little-endian host", path);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) PST_ERR(PST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    int e = errno;
    close(fd);
    PST_ERR(PST_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
  }
  if (!S_ISREG(sb.st_mode)) {
    close(fd);
    PST_ERR(PST_ERR_IO, "%s: not a regular file", path);
  }
  uint64_t size = (uint64_t)sb.st_size;
  if (size < 8) {
    close(fd);
    PST_ERR(PST_ERR_FORMAT, "%s: file is %llu bytes, too short for the 8-byte header length",
            path, (ull)size);
  }
  if (size > SIZE_MAX) {
    close(fd);
    PST_ERR(PST_ERR_IO, "%s: file of %llu bytes is too large to map", path, (ull)size);
  }
  void *m = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
  int merr = errno;
  close(fd);
  if (m == MAP_FAILED)
    PST_ERR(PST_ERR_IO, "%s: cannot mmap %llu bytes: %s", path, (ull)size, strerror(merr));
  st->map = m;
  st->map_size = (size_t)size;

  uint64_t hlen = read_le64(st->map);
  if (hlen > PST_ST_MAX_HEADER)
    PST_ERR(PST_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit", path,
            (ull)hlen, (ull)PST_ST_MAX_HEADER);
  if (hlen > size - 8)
    PST_ERR(PST_ERR_FORMAT, "%s: header length %llu exceeds the file size (%llu bytes)", path,
            (ull)hlen, (ull)size);
  st->data_start = 8 + hlen;
  st->data_size = size - 8 - hlen;

  json_error_t jerr;
  st->root = json_loadb((const char *)st->map + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
  if (!st->root)
    PST_ERR(PST_ERR_FORMAT, "%s: header is not valid JSON: %s (line %d, column %d)", path,
            jerr.text, jerr.line, jerr.column);
  if (!json_is_object(st->root))
    PST_ERR(PST_ERR_FORMAT, "%s: header JSON is %s, not an object", path,
            pst_json_kind(st->root));

  json_t *meta = json_object_get(st->root, "__metadata__");
  if (meta) {
    if (!json_is_object(meta))
      PST_ERR(PST_ERR_FORMAT, "%s: '__metadata__' is %s, not an object", path, pst_json_kind(meta));
    const char *key;
    json_t *val;
    json_object_foreach(meta, key, val) {
      if (!json_is_string(val))
        PST_ERR(PST_ERR_FORMAT, "%s: '__metadata__' key '%s' is %s, not a string", path, key,
                pst_json_kind(val));
    }
    st->metadata = meta;
  }

  size_t count = json_object_size(st->root) - (meta ? 1 : 0);
  if (count > INT_MAX) PST_ERR(PST_ERR_FORMAT, "%s: too many tensors (%zu)", path, count);
  if (count) {
    st->tensors = calloc(count, sizeof *st->tensors);
    if (!st->tensors)
      PST_ERR(PST_ERR_MEM, "%s: out of memory for %zu tensor descriptors", path, count);
  }
  const char *name;
  json_t *v;
  json_object_foreach(st->root, name, v) {
    if (v == meta) continue;
    PST_CHECK(parse_entry(st, name, v, &st->tensors[st->n]));
    st->n++;
  }
  PST_CHECK(check_overlap(st));
  if (st->n > 1) qsort(st->tensors, (size_t)st->n, sizeof *st->tensors, cmp_name);
  return PST_OK;
}

pst_err pst_st_open(pst_safetensors **out, const char *path) {
  if (!out) PST_ERR(PST_ERR_ARG, "pst_st_open: NULL output pointer");
  *out = NULL;
  if (!path) PST_ERR(PST_ERR_ARG, "pst_st_open: NULL path");
  pst_safetensors *st = calloc(1, sizeof *st);
  if (!st) PST_ERR(PST_ERR_MEM, "%s: out of memory opening safetensors file", path);
  st->path = strdup(path);
  if (!st->path) {
    free(st);
    PST_ERR(PST_ERR_MEM, "%s: out of memory opening safetensors file", path);
  }
  pst_err rc = st_load(st);
  if (rc) {
    pst_st_close(st);
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  *out = st;
  return PST_OK;
}

void pst_st_close(pst_safetensors *st) {
  if (!st) return;
  if (st->map) munmap((void *)st->map, st->map_size);
  if (st->root) json_decref(st->root);
  free(st->tensors);
  free(st->path);
  free(st);
}

int pst_st_count(const pst_safetensors *st) { return st ? st->n : 0; }

const pst_st_tensor *pst_st_at(const pst_safetensors *st, int i) {
  if (!st || i < 0 || i >= st->n) return NULL;
  return &st->tensors[i];
}

const pst_st_tensor *pst_st_find(const pst_safetensors *st, const char *name) {
  if (!st || !name || st->n == 0) return NULL;
  pst_st_tensor key;
  key.name = name;
  return bsearch(&key, st->tensors, (size_t)st->n, sizeof *st->tensors, cmp_name);
}

const char *pst_st_path(const pst_safetensors *st) { return st ? st->path : NULL; }

const char *pst_st_metadata(const pst_safetensors *st, const char *key) {
  if (!st || !st->metadata || !key) return NULL;
  return json_string_value(json_object_get(st->metadata, key));
}

const void *pst_st_data(const pst_safetensors *st, const pst_st_tensor *t) {
  if (!st || !t) return NULL;
  return st->map + t->offset;
}

/* Find `name` and check its shape against the caller's expectation. */
static pst_err lookup(const pst_safetensors *st, const char *name, int ndim,
                      const int64_t *shape, const pst_st_tensor **out) {
  if (!st || !name) PST_ERR(PST_ERR_ARG, "safetensors read: NULL handle or tensor name");
  const pst_st_tensor *t = pst_st_find(st, name);
  if (!t) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' not found", st->path, name);
  if (ndim < 0 || ndim > PST_ST_MAX_DIM || (ndim > 0 && !shape))
    PST_ERR(PST_ERR_ARG, "%s: tensor '%s': invalid expected shape (ndim %d)", st->path, name,
            ndim);
  int same = ndim == t->ndim;
  for (int i = 0; same && i < ndim; i++) same = shape[i] == t->shape[i];
  if (!same) {
    char have[256], want[256];
    pst_fmt_shape(have, sizeof have, t->ndim, t->shape);
    pst_fmt_shape(want, sizeof want, ndim, shape);
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", st->path, name, have,
            want);
  }
  *out = t;
  return PST_OK;
}

/* Float dtypes only (F32, F16, BF16, F64); an error naming the tensor otherwise. */
static pst_err check_float(const pst_safetensors *st, const pst_st_tensor *t) {
  if (t->dtype != PST_DT_F32 && t->dtype != PST_DT_F16 && t->dtype != PST_DT_BF16 &&
      t->dtype != PST_DT_F64)
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s' has dtype %s; expected a float dtype (F32, F16, BF16 or F64)",
            st->path, t->name, pst_dtype_name(t->dtype));
  return PST_OK;
}

/* The one conversion path of the float readers: n elements of float dtype dt at p
 * (little-endian, possibly unaligned) into out[n]. */
static void convert_f32(pst_dtype dt, const uint8_t *p, size_t n, float *out) {
  switch (dt) {
  case PST_DT_F32:
    memcpy(out, p, n * sizeof(float));
    break;
  case PST_DT_F16:
  case PST_DT_BF16:
    for (size_t i = 0; i < n; i++) {
      uint16_t h;
      memcpy(&h, p + 2 * i, 2);
      out[i] = dt == PST_DT_F16 ? pst_f16_to_f32(h) : pst_bf16_to_f32(h);
    }
    break;
  case PST_DT_F64:
    for (size_t i = 0; i < n; i++) {
      double d;
      memcpy(&d, p + 8 * i, 8);
      out[i] = (float)d;
    }
    break;
  default:
    break; /* excluded by check_float */
  }
}

pst_err pst_st_read_f32(const pst_safetensors *st, const char *name, float *out, int ndim,
                        const int64_t *shape) {
  const pst_st_tensor *t;
  PST_CHECK(lookup(st, name, ndim, shape, &t));
  PST_CHECK(check_float(st, t));
  size_t n = (size_t)(t->nbytes / pst_dtype_size(t->dtype));
  if (n == 0) return PST_OK;
  if (!out) PST_ERR(PST_ERR_ARG, "%s: tensor '%s': NULL output buffer", st->path, name);
  convert_f32(t->dtype, st->map + t->offset, n, out);
  return PST_OK;
}

/* The file tensor [outer, extent, inner] (outer = prod shape[0..dim), inner = prod
 * shape[dim+1..)) sliced to [outer, count, inner] along dim: outer segments of count * inner
 * contiguous elements, segment o starting at element (o * extent + start) * inner. */
pst_err pst_st_read_f32_slice(const pst_safetensors *st, const char *name, float *out, int ndim,
                              const int64_t *gshape, int dim, int64_t start, int64_t count) {
  const pst_st_tensor *t;
  PST_CHECK(lookup(st, name, ndim, gshape, &t));
  PST_CHECK(check_float(st, t));
  if (dim < 0 || dim >= ndim)
    PST_ERR(PST_ERR_ARG, "%s: tensor '%s': slice dimension %d outside [0, %d)", st->path, name,
            dim, ndim);
  const int64_t extent = t->shape[dim];
  if (start < 0 || count < 0 || start > extent || count > extent - start)
    PST_ERR(PST_ERR_ARG,
            "%s: tensor '%s': slice of %lld from %lld along dimension %d is outside its "
            "extent %lld",
            st->path, name, (long long)count, (long long)start, dim, (long long)extent);
  uint64_t outer = 1, inner = 1; /* both bounded by the validated element count */
  for (int i = 0; i < dim; i++) outer *= (uint64_t)t->shape[i];
  for (int i = dim + 1; i < ndim; i++) inner *= (uint64_t)t->shape[i];
  const size_t seg = (size_t)((uint64_t)count * inner); /* elements per segment */
  if (seg == 0 || outer == 0) return PST_OK;
  if (!out) PST_ERR(PST_ERR_ARG, "%s: tensor '%s': NULL output buffer", st->path, name);
  const size_t es = pst_dtype_size(t->dtype);
  const uint8_t *base = st->map + t->offset;
  for (uint64_t o = 0; o < outer; o++) {
    const uint64_t first = (o * (uint64_t)extent + (uint64_t)start) * inner;
    convert_f32(t->dtype, base + first * es, seg, out + o * seg);
  }
  return PST_OK;
}

pst_err pst_st_read_param(const pst_safetensors *st, const char *name, const pst_tensor_info *t,
                          float *out) {
  if (!st || !name || !t)
    PST_ERR(PST_ERR_ARG, "safetensors read: NULL handle, tensor name or tensor info");
  if (t->shard_dim < 0) return pst_st_read_f32(st, name, out, t->ndim, t->shape);
  const int d = t->shard_dim;
  int ok = t->ndim >= 1 && t->ndim <= 2 && d < t->ndim;
  for (int i = 0; ok && i < t->ndim; i++)
    if (i != d) ok = t->shape[i] == t->gshape[i];
  if (!ok)
    PST_ERR(PST_ERR_ARG,
            "%s: tensor '%s': local shape [%lld, %lld] is not a slice along dimension %d of "
            "the global shape [%lld, %lld] (ndim %d)",
            st->path, name, (long long)t->shape[0], (long long)t->shape[1], d,
            (long long)t->gshape[0], (long long)t->gshape[1], t->ndim);
  PST_CHECK(pst_st_read_f32_slice(st, name, out, t->ndim, t->gshape, d, t->shard_start,
                                  t->shape[d]));
  return PST_OK;
}

pst_err pst_st_read_i32(const pst_safetensors *st, const char *name, int32_t *out, int ndim,
                        const int64_t *shape) {
  const pst_st_tensor *t;
  PST_CHECK(lookup(st, name, ndim, shape, &t));
  if (t->dtype != PST_DT_I32 && t->dtype != PST_DT_I64 && t->dtype != PST_DT_U8 &&
      t->dtype != PST_DT_BOOL)
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s' has dtype %s; expected an integer dtype (I32, I64, U8 or BOOL)",
            st->path, name, pst_dtype_name(t->dtype));
  const uint8_t *p = st->map + t->offset;
  size_t n = (size_t)(t->nbytes / pst_dtype_size(t->dtype));
  if (n == 0) return PST_OK;
  if (!out) PST_ERR(PST_ERR_ARG, "%s: tensor '%s': NULL output buffer", st->path, name);
  switch (t->dtype) {
  case PST_DT_I32:
    memcpy(out, p, (size_t)t->nbytes);
    break;
  case PST_DT_I64:
    for (size_t i = 0; i < n; i++) {
      int64_t v;
      memcpy(&v, p + 8 * i, 8);
      if (v < INT32_MIN || v > INT32_MAX)
        PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': element %zu = %lld is outside the int32 range",
                st->path, name, i, (long long)v);
      out[i] = (int32_t)v;
    }
    break;
  case PST_DT_U8:
    for (size_t i = 0; i < n; i++) out[i] = p[i];
    break;
  case PST_DT_BOOL:
    for (size_t i = 0; i < n; i++) {
      if (p[i] > 1)
        PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': element %zu is byte %u, not a BOOL (0 or 1)",
                st->path, name, i, (unsigned)p[i]);
      out[i] = p[i];
    }
    break;
  default:
    break; /* excluded above */
  }
  return PST_OK;
}

/* ---- writer ---- */

/* Resources of one pst_st_write call, released by pst_st_write. */
typedef struct {
  json_t *root;
  char *json;   /* from json_dumps */
  uint8_t *hdr; /* length prefix + padded JSON */
  char *tmp;
  int fd;
  int tmp_exists;
} st_writer;

/* Byte size of an entry; -1 on overflow (entries are validated before use). */
static int entry_nbytes(const pst_st_entry *e, uint64_t *out) {
  uint64_t numel;
  size_t es = pst_dtype_size(e->dtype);
  if (shape_numel(e->ndim, e->shape, &numel) || numel > UINT64_MAX / es) return -1;
  *out = numel * es;
  return 0;
}

/* Validate the entries and metadata and build the header object in w->root. */
static pst_err build_header(st_writer *w, const char *path, const pst_st_entry *entries, int n,
                            const char *const *metadata) {
  w->root = json_object();
  if (!w->root) PST_ERR(PST_ERR_MEM, "%s: out of memory building the header", path);
  if (metadata && metadata[0]) {
    json_t *m = json_object();
    if (!m || json_object_set_new(w->root, "__metadata__", m))
      PST_ERR(PST_ERR_MEM, "%s: out of memory building the header", path);
    for (size_t i = 0; metadata[i]; i += 2) {
      const char *k = metadata[i], *v = metadata[i + 1];
      if (!v) PST_ERR(PST_ERR_ARG, "%s: metadata key '%s' has no value", path, k);
      if (json_object_get(m, k))
        PST_ERR(PST_ERR_ARG, "%s: duplicate metadata key '%s'", path, k);
      json_t *s = json_string(v);
      if (!s) PST_ERR(PST_ERR_ARG, "%s: metadata value for key '%s' is not valid UTF-8", path, k);
      if (json_object_set_new(m, k, s))
        PST_ERR(PST_ERR_ARG, "%s: metadata key '%s' is not valid UTF-8", path, k);
    }
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    const pst_st_entry *e = &entries[i];
    if (!e->name) PST_ERR(PST_ERR_ARG, "%s: entry %d has no name", path, i);
    const char *name = e->name;
    if (strcmp(name, "__metadata__") == 0)
      PST_ERR(PST_ERR_ARG, "%s: tensor name '__metadata__' is reserved", path);
    if (json_object_get(w->root, name))
      PST_ERR(PST_ERR_ARG, "%s: duplicate tensor name '%s'", path, name);
    if (!dtype_valid(e->dtype))
      PST_ERR(PST_ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, name, (int)e->dtype);
    if (e->ndim < 0 || e->ndim > PST_ST_MAX_DIM)
      PST_ERR(PST_ERR_ARG, "%s: tensor '%s': ndim %d outside [0, %d]", path, name, e->ndim,
              PST_ST_MAX_DIM);
    for (int d = 0; d < e->ndim; d++)
      if (e->shape[d] < 0)
        PST_ERR(PST_ERR_ARG, "%s: tensor '%s': negative dimension %lld", path, name,
                (long long)e->shape[d]);
    uint64_t nb = 0;
    if (entry_nbytes(e, &nb) || nb > UINT64_MAX - off || off + nb > (uint64_t)INT64_MAX)
      PST_ERR(PST_ERR_ARG, "%s: tensor '%s': size overflows", path, name);
    if (nb && !e->data) PST_ERR(PST_ERR_ARG, "%s: tensor '%s': NULL data", path, name);

    json_t *obj = json_object();
    if (!obj)
      PST_ERR(PST_ERR_MEM, "%s: tensor '%s': out of memory building the header", path, name);
    if (json_object_set_new(w->root, name, obj)) /* frees obj */
      PST_ERR(PST_ERR_ARG, "%s: tensor name '%s' is not valid UTF-8", path, name);
    /* Each set_new/append_new takes ownership (or frees) its value, even on failure. */
    json_t *shape = json_array(), *offs = json_array();
    int bad = json_object_set_new(obj, "dtype", json_string(pst_dtype_name(e->dtype)));
    bad |= json_object_set_new(obj, "shape", shape);
    bad |= json_object_set_new(obj, "data_offsets", offs);
    for (int d = 0; !bad && d < e->ndim; d++)
      bad = json_array_append_new(shape, json_integer((json_int_t)e->shape[d]));
    if (!bad)
      bad = json_array_append_new(offs, json_integer((json_int_t)off)) ||
            json_array_append_new(offs, json_integer((json_int_t)(off + nb)));
    if (bad)
      PST_ERR(PST_ERR_MEM, "%s: tensor '%s': out of memory building the header", path, name);
    off += nb;
  }
  return PST_OK;
}

static pst_err write_all(int fd, const void *buf, uint64_t len, const char *tmp) {
  const uint8_t *p = buf;
  while (len) {
    size_t chunk = len > (1u << 30) ? (size_t)1 << 30 : (size_t)len;
    ssize_t w = write(fd, p, chunk);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      PST_ERR(PST_ERR_IO, "%s: write failed: %s", tmp, w < 0 ? strerror(errno) : "no progress");
    p += w;
    len -= (uint64_t)w;
  }
  return PST_OK;
}

/* Best effort: make the rename durable by syncing the containing directory. */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

static pst_err st_write_impl(st_writer *w, const char *path, const pst_st_entry *entries, int n,
                             const char *const *metadata) {
  if (!ST_HOST_IS_LE())
    PST_ERR(PST_ERR_INTERNAL, "%s: safetensors I/O requires a little-endian host", path);
  PST_CHECK(build_header(w, path, entries, n, metadata));
  w->json = json_dumps(w->root, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (!w->json) PST_ERR(PST_ERR_MEM, "%s: out of memory serializing the header", path);
  size_t jlen = strlen(w->json);
  size_t hlen = (jlen + 7) / 8 * 8; /* pad with spaces so the data section is 8-aligned */
  w->hdr = malloc(8 + hlen);
  if (!w->hdr) PST_ERR(PST_ERR_MEM, "%s: out of memory serializing the header", path);
  uint8_t *hdr = w->hdr;
  for (int i = 0; i < 8; i++) hdr[i] = (uint8_t)(((uint64_t)hlen >> (8 * i)) & 0xff);
  memcpy(hdr + 8, w->json, jlen);
  memset(hdr + 8 + jlen, ' ', hlen - jlen);

  size_t tlen = strlen(path) + 32;
  w->tmp = malloc(tlen);
  if (!w->tmp) PST_ERR(PST_ERR_MEM, "%s: out of memory", path);
  snprintf(w->tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
  w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (w->fd < 0)
    PST_ERR(PST_ERR_IO, "%s: cannot create temporary file '%s': %s", path, w->tmp,
            strerror(errno));
  w->tmp_exists = 1;
  PST_CHECK(write_all(w->fd, hdr, 8 + hlen, w->tmp));
  for (int i = 0; i < n; i++) {
    uint64_t nb = 0;
    entry_nbytes(&entries[i], &nb); /* validated in build_header */
    PST_CHECK(write_all(w->fd, entries[i].data, nb, w->tmp));
  }
  if (fsync(w->fd) != 0) PST_ERR(PST_ERR_IO, "%s: fsync failed: %s", w->tmp, strerror(errno));
  int rc = close(w->fd);
  w->fd = -1;
  if (rc != 0) PST_ERR(PST_ERR_IO, "%s: close failed: %s", w->tmp, strerror(errno));
  if (rename(w->tmp, path) != 0)
    PST_ERR(PST_ERR_IO, "%s: cannot rename '%s' over it: %s", path, w->tmp, strerror(errno));
  w->tmp_exists = 0;
  sync_parent_dir(path);
  return PST_OK;
}

pst_err pst_st_write(const char *path, const pst_st_entry *entries, int n,
                     const char *const *metadata) {
  if (!path) PST_ERR(PST_ERR_ARG, "pst_st_write: NULL path");
  if (n < 0 || (n > 0 && !entries))
    PST_ERR(PST_ERR_ARG, "%s: invalid tensor list (n = %d)", path, n);
  st_writer w = {NULL, NULL, NULL, NULL, -1, 0};
  pst_err rc = st_write_impl(&w, path, entries, n, metadata);
  if (w.fd >= 0) close(w.fd);
  if (w.tmp_exists) unlink(w.tmp);
  free(w.tmp);
  free(w.hdr);
  free(w.json);
  json_decref(w.root);
  if (rc) pst_err_trace(__FILE__, __LINE__, __func__);
  return rc;
}
