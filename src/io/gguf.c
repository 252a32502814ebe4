/* gguf.c — mmap-based GGUF reader: header, metadata and tensor-info parsing with full
 * validation, typed metadata accessors, and fp32 reads (whole tensors, row ranges, column
 * ranges) through gguf_dequant.c.
 *
 * Parsing walks the file with a bounds-checked cursor: every count and length is checked
 * against the bytes left BEFORE anything is allocated for it (an array of n u32 needs 4n
 * bytes, of n strings at least 8n), so a hostile file cannot make us allocate more than a
 * small multiple of its size. Keys and string scalars are copied (NUL-terminated); string
 * arrays keep one offset per element into the mapping. The mapping is MAP_PRIVATE read-only;
 * truncating the file while it is open may raise SIGBUS, as with any mmap. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "pst/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "pst GGUF I/O requires a little-endian host");
#endif

typedef unsigned long long ull;

/* One metadata entry. Scalars: num (integers zero- and sign-extended, floats as double),
 * strings: str (copy). Arrays: elem, count, pos = offset of the first element; string
 * arrays also soff[count] = offset of each element's u64 length. */
typedef struct {
  char *key;
  int type;
  int elem;
  uint64_t count;
  uint64_t pos;
  uint64_t *soff;
  char *str;
  uint64_t slen;
  struct {
    uint64_t u;
    int64_t i;
    double f;
  } num;
} gguf_kv;

typedef struct {
  pst_gguf_tensor t;
  char name[PST_GGUF_MAX_NAME];
} gguf_ti;

struct pst_gguf {
  char *path;
  const uint8_t *map;
  uint64_t size;
  uint32_t version;
  uint32_t alignment;
  uint64_t data_start;
  int nkv;
  gguf_kv *kv;
  int *kv_sorted; /* kv indices sorted by key */
  int nt;
  gguf_ti *ti;    /* file order */
  int *t_sorted;  /* tensor indices sorted by name */
};

/* ---- value types ---- */

static const char *const VT_NAMES[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string",
                                       "array", "u64", "i64", "f64"};

const char *pst_gguf_type_name(int type) {
  return type >= 0 && type <= PST_GGUF_FLOAT64 ? VT_NAMES[type] : "?";
}

/* Bytes of a fixed-size value type; 0 for string / array / unknown. */
static uint64_t vt_size(int type) {
  switch (type) {
    case PST_GGUF_UINT8: case PST_GGUF_INT8: case PST_GGUF_BOOL: return 1;
    case PST_GGUF_UINT16: case PST_GGUF_INT16: return 2;
    case PST_GGUF_UINT32: case PST_GGUF_INT32: case PST_GGUF_FLOAT32: return 4;
    case PST_GGUF_UINT64: case PST_GGUF_INT64: case PST_GGUF_FLOAT64: return 8;
    default: return 0;
  }
}

/* Smallest encoding of one element: fixed size, 8 (string length), 12 (array header). */
static uint64_t vt_min_size(int type) {
  return type == PST_GGUF_STRING ? 8 : type == PST_GGUF_ARRAY ? 12 : vt_size(type);
}

static int vt_is_signed(int type) {
  return type == PST_GGUF_INT8 || type == PST_GGUF_INT16 || type == PST_GGUF_INT32 || type == PST_GGUF_INT64;
}

static uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Decode a fixed-size numeric value at p: integers into *u (zero-extended) or *i
 * (sign-extended), floats into *f. */
static void decode_num(int type, const uint8_t *p, uint64_t *u, int64_t *i, double *f) {
  uint64_t raw = le(p, (int)vt_size(type));
  *u = raw;
  *i = (int64_t)raw;
  *f = 0;
  switch (type) {
    case PST_GGUF_INT8: *i = (int8_t)raw; break;
    case PST_GGUF_INT16: *i = (int16_t)raw; break;
    case PST_GGUF_INT32: *i = (int32_t)raw; break;
    case PST_GGUF_FLOAT32: {
      uint32_t b = (uint32_t)raw;
      float x;
      memcpy(&x, &b, 4);
      *f = x;
      break;
    }
    case PST_GGUF_FLOAT64: memcpy(f, &raw, 8); break;
    default: break;
  }
}

/* ---- bounds-checked cursor ---- */

typedef struct {
  const uint8_t *b;
  uint64_t size, pos;
  const char *path;
} cur;

static uint64_t left(const cur *c) { return c->size - c->pos; }

/* n bytes must remain; `what` names the field in the error. */
static pst_err need(cur *c, uint64_t n, const char *what) {
  if (n > left(c))
    PST_ERR(PST_ERR_FORMAT, "%s: truncated: %s needs %llu bytes at offset %llu, the file has %llu left", c->path,
            what, (ull)n, (ull)c->pos, (ull)left(c));
  return PST_OK;
}

static pst_err rd_u32(cur *c, uint32_t *v, const char *what) {
  PST_CHECK(need(c, 4, what));
  *v = (uint32_t)le(c->b + c->pos, 4);
  c->pos += 4;
  return PST_OK;
}

static pst_err rd_u64(cur *c, uint64_t *v, const char *what) {
  PST_CHECK(need(c, 8, what));
  *v = le(c->b + c->pos, 8);
  c->pos += 8;
  return PST_OK;
}

/* A string: u64 length then bytes; *off = offset of the bytes. */
static pst_err rd_str(cur *c, uint64_t *off, uint64_t *len, const char *what) {
  PST_CHECK(rd_u64(c, len, what));
  if (*len > left(c))
    PST_ERR(PST_ERR_FORMAT, "%s: %s: string length %llu at offset %llu exceeds the %llu bytes left in the file",
            c->path, what, (ull)*len, (ull)(c->pos - 8), (ull)left(c));
  *off = c->pos;
  c->pos += *len;
  return PST_OK;
}

static pst_err copy_str(const cur *c, uint64_t off, uint64_t len, char **out, const char *what) {
  if (len >= SIZE_MAX) PST_ERR(PST_ERR_MEM, "%s: %s: string too long", c->path, what);
  char *s = malloc((size_t)len + 1);
  if (!s) PST_ERR(PST_ERR_MEM, "%s: %s: out of memory for a %llu-byte string", c->path, what, (ull)len);
  if (len) memcpy(s, c->b + off, (size_t)len);
  s[len] = 0;
  *out = s;
  return PST_OK;
}

/* ---- metadata parsing ---- */

/* Validate and skip one value of `type` (not an array's own header when type is ARRAY: that
 * is read here too). depth: array nesting so far. */
static pst_err skip_value(cur *c, int type, int depth, const char *key);

/* An array header (element type, count) then its elements; checks count against the bytes
 * left before walking them. */
static pst_err skip_array(cur *c, int depth, const char *key, int *elem_out, uint64_t *count_out) {
  uint32_t et;
  uint64_t n;
  PST_CHECK(rd_u32(c, &et, "array element type"));
  PST_CHECK(rd_u64(c, &n, "array element count"));
  if (et > PST_GGUF_FLOAT64)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': array element type %u is not a GGUF value type", c->path, key,
            et);
  if (et == PST_GGUF_ARRAY && depth + 1 >= PST_GGUF_MAX_DEPTH)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': arrays nested deeper than %d levels", c->path, key,
            PST_GGUF_MAX_DEPTH);
  const uint64_t min = vt_min_size((int)et);
  if (n > left(c) / min)
    PST_ERR(PST_ERR_FORMAT,
            "%s: metadata key '%s': array of %llu %s elements needs at least %llu bytes per element, the file has "
            "%llu bytes left",
            c->path, key, (ull)n, pst_gguf_type_name((int)et), (ull)min, (ull)left(c));
  if (elem_out) *elem_out = (int)et;
  if (count_out) *count_out = n;
  const uint64_t fixed = vt_size((int)et);
  if (fixed && et != PST_GGUF_BOOL) {
    c->pos += n * fixed; /* checked above */
    return PST_OK;
  }
  for (uint64_t i = 0; i < n; i++) PST_CHECK(skip_value(c, (int)et, depth + 1, key));
  return PST_OK;
}

static pst_err skip_value(cur *c, int type, int depth, const char *key) {
  if (type == PST_GGUF_STRING) {
    uint64_t off, len;
    PST_CHECK(rd_str(c, &off, &len, key));
    return PST_OK;
  }
  if (type == PST_GGUF_ARRAY) {
    PST_CHECK(skip_array(c, depth, key, NULL, NULL));
    return PST_OK;
  }
  const uint64_t n = vt_size(type);
  if (!n) PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': value type %d is not a GGUF value type", c->path, key, type);
  PST_CHECK(need(c, n, "metadata value"));
  if (type == PST_GGUF_BOOL && c->b[c->pos] > 1)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': bool byte %u at offset %llu is neither 0 nor 1", c->path, key,
            (unsigned)c->b[c->pos], (ull)c->pos);
  c->pos += n;
  return PST_OK;
}

/* Parse key/value i into kv. */
static pst_err parse_kv(pst_gguf *g, cur *c, int i, gguf_kv *kv) {
  char what[64];
  snprintf(what, sizeof what, "metadata entry %d key", i);
  uint64_t off, len;
  PST_CHECK(rd_str(c, &off, &len, what));
  if (len == 0) PST_ERR(PST_ERR_FORMAT, "%s: metadata entry %d has an empty key", g->path, i);
  if (memchr(c->b + off, 0, (size_t)len))
    PST_ERR(PST_ERR_FORMAT, "%s: metadata entry %d: key contains a NUL byte", g->path, i);
  PST_CHECK(copy_str(c, off, len, &kv->key, what));
  uint32_t type;
  PST_CHECK(rd_u32(c, &type, "metadata value type"));
  if (type > PST_GGUF_FLOAT64)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': value type %u is not a GGUF value type", g->path, kv->key, type);
  kv->type = (int)type;
  if (type == PST_GGUF_STRING) {
    PST_CHECK(rd_str(c, &off, &len, kv->key));
    PST_CHECK(copy_str(c, off, len, &kv->str, kv->key));
    kv->slen = len;
  } else if (type == PST_GGUF_ARRAY) {
    const uint64_t start = c->pos + 12; /* after element type and count */
    PST_CHECK(skip_array(c, 0, kv->key, &kv->elem, &kv->count));
    kv->pos = start;
    if (kv->elem == PST_GGUF_STRING && kv->count) {
      /* count <= bytes / 8 was checked: the index is at most the file's size */
      kv->soff = malloc((size_t)kv->count * sizeof *kv->soff);
      if (!kv->soff)
        PST_ERR(PST_ERR_MEM, "%s: metadata key '%s': out of memory indexing %llu strings", g->path, kv->key,
                (ull)kv->count);
      uint64_t p = start;
      for (uint64_t j = 0; j < kv->count; j++) {
        kv->soff[j] = p;
        p += 8 + le(c->b + p, 8); /* validated by skip_array */
      }
    }
  } else {
    PST_CHECK(need(c, vt_size((int)type), kv->key));
    const uint64_t at = c->pos;
    PST_CHECK(skip_value(c, (int)type, 0, kv->key));
    kv->pos = at;
    decode_num((int)type, c->b + at, &kv->num.u, &kv->num.i, &kv->num.f);
  }
  return PST_OK;
}

typedef struct {
  const char *s;
  int i;
} name_ix;

static int cmp_name_ix(const void *a, const void *b) {
  return strcmp(((const name_ix *)a)->s, ((const name_ix *)b)->s);
}

/* *out = indices of the n keys (tensors = 0) or tensor names (1) in name order; a duplicate
 * name is an error. */
static pst_err sort_index(pst_gguf *g, int n, int **out, int tensors) {
  if (n == 0) return PST_OK;
  name_ix *v = malloc((size_t)n * sizeof *v);
  int *ix = malloc((size_t)n * sizeof *ix);
  if (!v || !ix) {
    free(v);
    free(ix);
    PST_ERR(PST_ERR_MEM, "%s: out of memory sorting %d names", g->path, n);
  }
  for (int i = 0; i < n; i++) {
    v[i].s = tensors ? g->ti[i].name : g->kv[i].key;
    v[i].i = i;
  }
  qsort(v, (size_t)n, sizeof *v, cmp_name_ix);
  for (int i = 0; i < n; i++) ix[i] = v[i].i;
  *out = ix;
  for (int i = 1; i < n; i++)
    if (!strcmp(v[i - 1].s, v[i].s)) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: duplicate %s '%s'", g->path,
                  tensors ? "tensor name" : "metadata key", v[i].s);
      free(v);
      return PST_ERR_FORMAT;
    }
  free(v);
  return PST_OK;
}

/* ---- tensor infos ---- */

static pst_err parse_tensor(pst_gguf *g, cur *c, int i, gguf_ti *ti) {
  char what[64];
  snprintf(what, sizeof what, "tensor info %d name", i);
  uint64_t off, len;
  PST_CHECK(rd_str(c, &off, &len, what));
  if (len == 0) PST_ERR(PST_ERR_FORMAT, "%s: tensor info %d has an empty name", g->path, i);
  if (len >= PST_GGUF_MAX_NAME)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor info %d: name of %llu bytes is too long (at most %d)", g->path, i, (ull)len,
            PST_GGUF_MAX_NAME - 1);
  if (memchr(c->b + off, 0, (size_t)len))
    PST_ERR(PST_ERR_FORMAT, "%s: tensor info %d: name contains a NUL byte", g->path, i);
  memcpy(ti->name, c->b + off, (size_t)len);
  ti->name[len] = 0;
  pst_gguf_tensor *t = &ti->t;
  t->name = ti->name;
  uint32_t nd;
  PST_CHECK(rd_u32(c, &nd, "tensor dimension count"));
  if (nd < 1 || nd > PST_GGUF_MAX_DIMS)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': %u dimensions (1 to %d supported)", g->path, ti->name, nd,
            PST_GGUF_MAX_DIMS);
  t->ndim = (int)nd;
  for (int d = 0; d < PST_GGUF_MAX_DIMS; d++) t->ne[d] = 1;
  for (uint32_t d = 0; d < nd; d++) {
    uint64_t v;
    PST_CHECK(rd_u64(c, &v, "tensor dimension"));
    if (v == 0 || v > (uint64_t)INT64_MAX)
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': dimension %u is %llu (must be in [1, 2^63))", g->path, ti->name, d,
              (ull)v);
    t->ne[d] = (int64_t)v;
  }
  uint32_t type;
  PST_CHECK(rd_u32(c, &type, "tensor type"));
  const int64_t blk = pst_ggml_block_size((int)type);
  if (blk == 0 || type > INT_MAX)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': type %u is not a ggml tensor type", g->path, ti->name, type);
  t->type = (int)type;
  if (t->ne[0] % blk)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': ne[0] = %lld is not a multiple of the %s block size %lld", g->path,
            ti->name, (long long)t->ne[0], pst_ggml_type_name(t->type), (long long)blk);
  /* bytes = ne0 / blk * type size * ne1 * ne2 * ne3, overflow-checked */
  uint64_t bytes = (uint64_t)(t->ne[0] / blk);
  const uint64_t ts = pst_ggml_type_size(t->type);
  int ovf = bytes > UINT64_MAX / ts;
  if (!ovf) bytes *= ts;
  uint64_t numel = (uint64_t)t->ne[0];
  for (int d = 1; d < PST_GGUF_MAX_DIMS && !ovf; d++) {
    const uint64_t n = (uint64_t)t->ne[d];
    ovf = bytes > UINT64_MAX / n || numel > (uint64_t)INT64_MAX / n;
    if (!ovf) {
      bytes *= n;
      numel *= n;
    }
  }
  if (ovf)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': shape [%lld, %lld, %lld, %lld] overflows its element or byte count",
            g->path, ti->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
  t->nbytes = bytes;
  PST_CHECK(rd_u64(c, &t->offset, "tensor offset")); /* relative until the data start is known */
  return PST_OK;
}

static int cmp_off(const void *a, const void *b) {
  const pst_gguf_tensor *x = *(const pst_gguf_tensor *const *)a, *y = *(const pst_gguf_tensor *const *)b;
  return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Place the tensors: aligned relative offsets, inside the file, not overlapping. */
static pst_err place_tensors(pst_gguf *g) {
  const uint64_t ds = g->data_start, avail = g->size > ds ? g->size - ds : 0;
  for (int i = 0; i < g->nt; i++) {
    pst_gguf_tensor *t = &g->ti[i].t;
    const uint64_t rel = t->offset;
    if (rel % g->alignment)
      PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s': offset %llu is not a multiple of the alignment %u", g->path, t->name,
              (ull)rel, g->alignment);
    if (rel > avail || t->nbytes > avail - rel)
      PST_ERR(PST_ERR_FORMAT,
              "%s: tensor '%s': data [%llu, +%llu bytes) from the data section at %llu lies outside the file "
              "(%llu bytes)",
              g->path, t->name, (ull)rel, (ull)t->nbytes, (ull)ds, (ull)g->size);
    t->offset = ds + rel;
  }
  if (g->nt < 2) return PST_OK;
  const pst_gguf_tensor **by = malloc((size_t)g->nt * sizeof *by);
  if (!by) PST_ERR(PST_ERR_MEM, "%s: out of memory checking tensor offsets", g->path);
  for (int i = 0; i < g->nt; i++) by[i] = &g->ti[i].t;
  qsort(by, (size_t)g->nt, sizeof *by, cmp_off);
  for (int i = 1; i < g->nt; i++)
    if (by[i]->offset < by[i - 1]->offset + by[i - 1]->nbytes) {
      pst_err_set(PST_ERR_FORMAT, __FILE__, __LINE__, __func__, "%s: tensors '%s' and '%s' overlap in the data section",
                  g->path, by[i - 1]->name, by[i]->name);
      free(by);
      return PST_ERR_FORMAT;
    }
  free(by);
  return PST_OK;
}

/* ---- open ---- */

static pst_err load(pst_gguf *g) {
  const char *path = g->path;
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
  g->size = (uint64_t)sb.st_size;
  if (g->size < 24) {
    close(fd);
    PST_ERR(PST_ERR_FORMAT, "%s: truncated: %llu bytes, a GGUF header needs 24", path, (ull)g->size);
  }
  if (g->size > SIZE_MAX) {
    close(fd);
    PST_ERR(PST_ERR_IO, "%s: file of %llu bytes is too large to map", path, (ull)g->size);
  }
  void *m = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
  int merr = errno;
  close(fd);
  if (m == MAP_FAILED) PST_ERR(PST_ERR_IO, "%s: cannot mmap %llu bytes: %s", path, (ull)g->size, strerror(merr));
  g->map = m;

  cur c = {g->map, g->size, 0, path};
  if (memcmp(g->map, "GGUF", 4)) {
    char mg[5];
    for (int i = 0; i < 4; i++) mg[i] = g->map[i] >= 32 && g->map[i] < 127 ? (char)g->map[i] : '?';
    mg[4] = 0;
    PST_ERR(PST_ERR_FORMAT, "%s: not a GGUF file (magic '%s', expected 'GGUF')", path, mg);
  }
  c.pos = 4;
  PST_CHECK(rd_u32(&c, &g->version, "version"));
  if ((g->version & 0xffffu) == 0)
    PST_ERR(PST_ERR_FORMAT, "%s: version field 0x%08x: a big-endian GGUF file (pst reads little-endian files only)",
            path, g->version);
  if (g->version == 1)
    PST_ERR(PST_ERR_FORMAT, "%s: GGUF version 1 is not supported (versions 2 and 3 are)", path);
  if (g->version < 2 || g->version > 3)
    PST_ERR(PST_ERR_FORMAT, "%s: GGUF version %u is not supported (versions 2 and 3 are)", path, g->version);
  uint64_t nt, nkv;
  PST_CHECK(rd_u64(&c, &nt, "tensor count"));
  PST_CHECK(rd_u64(&c, &nkv, "metadata count"));
  /* a key/value takes at least 8 + 1 + 4 + 1 bytes, a tensor info 8 + 1 + 4 + 8 + 4 + 8 */
  if (nkv > left(&c) / 14 || nkv > INT_MAX)
    PST_ERR(PST_ERR_FORMAT, "%s: metadata count %llu is impossible in a file with %llu bytes left", path, (ull)nkv,
            (ull)left(&c));
  if (nt > left(&c) / 33 || nt > INT_MAX)
    PST_ERR(PST_ERR_FORMAT, "%s: tensor count %llu is impossible in a file with %llu bytes left", path, (ull)nt,
            (ull)left(&c));
  if (nkv) {
    g->kv = calloc((size_t)nkv, sizeof *g->kv);
    if (!g->kv) PST_ERR(PST_ERR_MEM, "%s: out of memory for %llu metadata entries", path, (ull)nkv);
  }
  for (uint64_t i = 0; i < nkv; i++) {
    g->nkv = (int)i + 1; /* so close frees what was parsed */
    PST_CHECK(parse_kv(g, &c, (int)i, &g->kv[i]));
  }
  PST_CHECK(sort_index(g, g->nkv, &g->kv_sorted, 0));

  g->alignment = 32;
  const int ia = pst_gguf_kv_find(g, "general.alignment");
  if (ia >= 0) {
    const gguf_kv *a = &g->kv[ia];
    if (a->type != PST_GGUF_UINT32)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'general.alignment' is %s, expected u32", path,
              pst_gguf_type_name(a->type));
    if (a->num.u == 0 || (a->num.u & (a->num.u - 1)))
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key 'general.alignment' = %llu is not a power of two", path,
              (ull)a->num.u);
    g->alignment = (uint32_t)a->num.u;
  }

  if (nt) {
    g->ti = calloc((size_t)nt, sizeof *g->ti);
    if (!g->ti) PST_ERR(PST_ERR_MEM, "%s: out of memory for %llu tensor infos", path, (ull)nt);
  }
  for (uint64_t i = 0; i < nt; i++) {
    PST_CHECK(parse_tensor(g, &c, (int)i, &g->ti[i]));
    g->nt = (int)i + 1;
  }
  PST_CHECK(sort_index(g, g->nt, &g->t_sorted, 1));
  /* data start: the end of the tensor infos rounded up to the alignment (c.pos <= size) */
  g->data_start = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
  PST_CHECK(place_tensors(g));
  return PST_OK;
}

pst_err pst_gguf_open(pst_gguf **out, const char *path) {
  if (!out) PST_ERR(PST_ERR_ARG, "pst_gguf_open: NULL output pointer");
  *out = NULL;
  if (!path) PST_ERR(PST_ERR_ARG, "pst_gguf_open: NULL path");
  pst_gguf *g = calloc(1, sizeof *g);
  if (!g || !(g->path = strdup(path))) {
    free(g);
    PST_ERR(PST_ERR_MEM, "%s: out of memory opening GGUF file", path);
  }
  pst_err rc = load(g);
  if (rc) {
    pst_gguf_close(g);
    pst_err_trace(__FILE__, __LINE__, __func__);
    return rc;
  }
  *out = g;
  return PST_OK;
}

void pst_gguf_close(pst_gguf *g) {
  if (!g) return;
  if (g->map) munmap((void *)g->map, (size_t)g->size);
  for (int i = 0; i < g->nkv; i++) {
    free(g->kv[i].key);
    free(g->kv[i].str);
    free(g->kv[i].soff);
  }
  free(g->kv);
  free(g->kv_sorted);
  free(g->ti);
  free(g->t_sorted);
  free(g->path);
  free(g);
}

const char *pst_gguf_path(const pst_gguf *g) { return g ? g->path : NULL; }
uint32_t pst_gguf_version(const pst_gguf *g) { return g ? g->version : 0; }
uint32_t pst_gguf_alignment(const pst_gguf *g) { return g ? g->alignment : 0; }
uint64_t pst_gguf_data_offset(const pst_gguf *g) { return g ? g->data_start : 0; }
uint64_t pst_gguf_file_size(const pst_gguf *g) { return g ? g->size : 0; }

/* ---- metadata accessors ---- */

int pst_gguf_kv_count(const pst_gguf *g) { return g ? g->nkv : 0; }

const char *pst_gguf_kv_key(const pst_gguf *g, int i) {
  return g && i >= 0 && i < g->nkv ? g->kv[i].key : NULL;
}

int pst_gguf_kv_find(const pst_gguf *g, const char *key) {
  if (!g || !key || !g->kv_sorted) return -1;
  int lo = 0, hi = g->nkv - 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2, c = strcmp(g->kv[g->kv_sorted[mid]].key, key);
    if (!c) return g->kv_sorted[mid];
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

int pst_gguf_kv_type(const pst_gguf *g, int i) { return g && i >= 0 && i < g->nkv ? g->kv[i].type : -1; }

/* The entry for key with one of the wanted types (a bit mask of 1 << type); errors name the
 * file, the key, what was expected and what was found. */
static pst_err get_kv(const pst_gguf *g, const char *key, unsigned wanted, const char *expected, const gguf_kv **out) {
  if (!g || !key) PST_ERR(PST_ERR_ARG, "gguf: NULL handle or key");
  const int i = pst_gguf_kv_find(g, key);
  if (i < 0) PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' not found", g->path, key);
  const gguf_kv *kv = &g->kv[i];
  if (!(wanted & (1u << kv->type))) {
    if (kv->type == PST_GGUF_ARRAY)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' is an array of %s, expected %s", g->path, key,
              pst_gguf_type_name(kv->elem), expected);
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' is %s, expected %s", g->path, key, pst_gguf_type_name(kv->type),
            expected);
  }
  *out = kv;
  return PST_OK;
}

#define INT_TYPES                                                                                                 \
  ((1u << PST_GGUF_UINT8) | (1u << PST_GGUF_INT8) | (1u << PST_GGUF_UINT16) | (1u << PST_GGUF_INT16) |             \
   (1u << PST_GGUF_UINT32) | (1u << PST_GGUF_INT32) | (1u << PST_GGUF_UINT64) | (1u << PST_GGUF_INT64))

/* An integer value within [lo, hi] (as signed; u64 above INT64_MAX handled by hi_u). */
static pst_err get_int_range(const pst_gguf *g, const char *key, const char *expected, int64_t lo, uint64_t hi,
                             uint64_t *out) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, INT_TYPES, expected, &kv));
  if (vt_is_signed(kv->type)) {
    const int64_t v = kv->num.i;
    if (v < lo || (v >= 0 && (uint64_t)v > hi))
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %lld (%s) is out of the %s range", g->path, key, (long long)v,
              pst_gguf_type_name(kv->type), expected);
    *out = (uint64_t)v;
  } else {
    if (kv->num.u > hi)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' = %llu (%s) is out of the %s range", g->path, key,
              (ull)kv->num.u, pst_gguf_type_name(kv->type), expected);
    *out = kv->num.u;
  }
  return PST_OK;
}

pst_err pst_gguf_get_u32(const pst_gguf *g, const char *key, uint32_t *out) {
  uint64_t v;
  PST_CHECK(get_int_range(g, key, "u32", 0, UINT32_MAX, &v));
  *out = (uint32_t)v;
  return PST_OK;
}

pst_err pst_gguf_get_i32(const pst_gguf *g, const char *key, int32_t *out) {
  uint64_t v;
  PST_CHECK(get_int_range(g, key, "i32", INT32_MIN, INT32_MAX, &v));
  *out = (int32_t)(int64_t)v;
  return PST_OK;
}

pst_err pst_gguf_get_u64(const pst_gguf *g, const char *key, uint64_t *out) {
  uint64_t v;
  PST_CHECK(get_int_range(g, key, "u64", 0, UINT64_MAX, &v));
  *out = v;
  return PST_OK;
}

pst_err pst_gguf_get_f32(const pst_gguf *g, const char *key, float *out) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, (1u << PST_GGUF_FLOAT32) | (1u << PST_GGUF_FLOAT64), "f32", &kv));
  *out = (float)kv->num.f;
  return PST_OK;
}

pst_err pst_gguf_get_bool(const pst_gguf *g, const char *key, int *out) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, 1u << PST_GGUF_BOOL, "bool", &kv));
  *out = kv->num.u != 0;
  return PST_OK;
}

pst_err pst_gguf_get_str(const pst_gguf *g, const char *key, const char **out, uint64_t *len) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, 1u << PST_GGUF_STRING, "string", &kv));
  *out = kv->str;
  if (len) *len = kv->slen;
  return PST_OK;
}

pst_err pst_gguf_get_arr(const pst_gguf *g, const char *key, int *elem_type, uint64_t *count) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, 1u << PST_GGUF_ARRAY, "array", &kv));
  if (elem_type) *elem_type = kv->elem;
  if (count) *count = kv->count;
  return PST_OK;
}

/* Array entry for key with element type in `wanted` and index i < count. */
static pst_err arr_elem(const pst_gguf *g, const char *key, uint64_t i, unsigned wanted, const char *expected,
                        const gguf_kv **out) {
  const gguf_kv *kv;
  PST_CHECK(get_kv(g, key, 1u << PST_GGUF_ARRAY, "array", &kv));
  if (!(wanted & (1u << kv->elem)))
    PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s' is an array of %s, expected an array of %s", g->path, key,
            pst_gguf_type_name(kv->elem), expected);
  if (i >= kv->count)
    PST_ERR(PST_ERR_ARG, "%s: metadata key '%s': index %llu outside the array of %llu", g->path, key, (ull)i,
            (ull)kv->count);
  *out = kv;
  return PST_OK;
}

pst_err pst_gguf_arr_str(const pst_gguf *g, const char *key, uint64_t i, const char **s, uint64_t *len) {
  const gguf_kv *kv;
  PST_CHECK(arr_elem(g, key, i, 1u << PST_GGUF_STRING, "string", &kv));
  const uint64_t p = kv->soff[i];
  *len = le(g->map + p, 8);
  *s = (const char *)g->map + p + 8;
  return PST_OK;
}

pst_err pst_gguf_arr_int(const pst_gguf *g, const char *key, uint64_t i, int64_t *out) {
  const gguf_kv *kv;
  PST_CHECK(arr_elem(g, key, i, INT_TYPES, "integers", &kv));
  uint64_t u;
  int64_t s;
  double f;
  decode_num(kv->elem, g->map + kv->pos + i * vt_size(kv->elem), &u, &s, &f);
  if (vt_is_signed(kv->elem)) {
    *out = s;
  } else {
    if (u > (uint64_t)INT64_MAX)
      PST_ERR(PST_ERR_FORMAT, "%s: metadata key '%s': element %llu = %llu is out of the i64 range", g->path, key,
              (ull)i, (ull)u);
    *out = (int64_t)u;
  }
  return PST_OK;
}

pst_err pst_gguf_arr_float(const pst_gguf *g, const char *key, uint64_t i, double *out) {
  const gguf_kv *kv;
  PST_CHECK(arr_elem(g, key, i, (1u << PST_GGUF_FLOAT32) | (1u << PST_GGUF_FLOAT64), "floats", &kv));
  uint64_t u;
  int64_t s;
  decode_num(kv->elem, g->map + kv->pos + i * vt_size(kv->elem), &u, &s, out);
  return PST_OK;
}

/* ---- tensors ---- */

int pst_gguf_tensor_count(const pst_gguf *g) { return g ? g->nt : 0; }

const pst_gguf_tensor *pst_gguf_tensor_at(const pst_gguf *g, int i) {
  return g && i >= 0 && i < g->nt ? &g->ti[i].t : NULL;
}

const pst_gguf_tensor *pst_gguf_find_tensor(const pst_gguf *g, const char *name) {
  if (!g || !name || !g->t_sorted) return NULL;
  int lo = 0, hi = g->nt - 1;
  while (lo <= hi) {
    const int mid = lo + (hi - lo) / 2, c = strcmp(g->ti[g->t_sorted[mid]].name, name);
    if (!c) return &g->ti[g->t_sorted[mid]].t;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return NULL;
}

int pst_gguf_tensor_index(const pst_gguf *g, const pst_gguf_tensor *t) {
  if (!g || !t || g->nt == 0) return -1;
  const gguf_ti *ti = (const gguf_ti *)(const void *)t; /* t is the first member of its gguf_ti */
  if (ti < g->ti || ti >= g->ti + g->nt) return -1;
  return (int)(ti - g->ti);
}

const void *pst_gguf_data(const pst_gguf *g, const pst_gguf_tensor *t) {
  return g && t ? g->map + t->offset : NULL;
}

int64_t pst_gguf_rows(const pst_gguf_tensor *t) { return t ? t->ne[1] * t->ne[2] * t->ne[3] : 0; }

pst_err pst_gguf_read_block_f32(const pst_gguf *g, const pst_gguf_tensor *t, int64_t r0, int64_t nr, int64_t c0,
                                int64_t nc, float *out) {
  if (!g || !t) PST_ERR(PST_ERR_ARG, "gguf read: NULL handle or tensor");
  if (!pst_ggml_type_supported(t->type))
    PST_ERR(PST_ERR_FORMAT,
            "%s: tensor '%s' has type %s, which pst cannot dequantize (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1)",
            g->path, t->name, pst_ggml_type_name(t->type));
  const int64_t rows = pst_gguf_rows(t), ne0 = t->ne[0];
  if (r0 < 0 || nr < 0 || r0 > rows || nr > rows - r0 || c0 < 0 || nc < 0 || c0 > ne0 || nc > ne0 - c0)
    PST_ERR(PST_ERR_ARG, "%s: tensor '%s': rows [%lld, +%lld) x columns [%lld, +%lld) outside its %lld x %lld",
            g->path, t->name, (long long)r0, (long long)nr, (long long)c0, (long long)nc, (long long)rows,
            (long long)ne0);
  if (nr == 0 || nc == 0) return PST_OK;
  if (!out) PST_ERR(PST_ERR_ARG, "%s: tensor '%s': NULL output buffer", g->path, t->name);
  const int64_t blk = pst_ggml_block_size(t->type);
  const size_t ts = pst_ggml_type_size(t->type);
  const uint64_t row_bytes = (uint64_t)(ne0 / blk) * ts;
  const uint8_t *base = g->map + t->offset;
  const int64_t b0 = c0 / blk, b1 = (c0 + nc - 1) / blk; /* blocks covering the columns */
  for (int64_t r = 0; r < nr; r++) {
    const uint8_t *row = base + (uint64_t)(r0 + r) * row_bytes;
    float *dst = out + r * nc;
    if (c0 % blk == 0 && nc % blk == 0) {
      PST_CHECK(pst_ggml_dequantize(t->type, row + (uint64_t)b0 * ts, dst, nc));
      continue;
    }
    float tmp[32]; /* one block of a supported type (at most 32 elements) */
    for (int64_t b = b0; b <= b1; b++) {
      PST_CHECK(pst_ggml_dequantize(t->type, row + (uint64_t)b * ts, tmp, blk));
      const int64_t lo = b * blk > c0 ? b * blk : c0, hi = (b + 1) * blk < c0 + nc ? (b + 1) * blk : c0 + nc;
      memcpy(dst + (lo - c0), tmp + (lo - b * blk), (size_t)(hi - lo) * sizeof(float));
    }
  }
  return PST_OK;
}

static pst_err find(const pst_gguf *g, const char *name, const pst_gguf_tensor **t) {
  if (!g || !name) PST_ERR(PST_ERR_ARG, "gguf read: NULL handle or tensor name");
  *t = pst_gguf_find_tensor(g, name);
  if (!*t) PST_ERR(PST_ERR_FORMAT, "%s: tensor '%s' not found", g->path, name);
  return PST_OK;
}

pst_err pst_gguf_read_f32(const pst_gguf *g, const char *name, float *out) {
  const pst_gguf_tensor *t;
  PST_CHECK(find(g, name, &t));
  PST_CHECK(pst_gguf_read_block_f32(g, t, 0, pst_gguf_rows(t), 0, t->ne[0], out));
  return PST_OK;
}

pst_err pst_gguf_read_rows_f32(const pst_gguf *g, const char *name, int64_t r0, int64_t nr, float *out) {
  const pst_gguf_tensor *t;
  PST_CHECK(find(g, name, &t));
  PST_CHECK(pst_gguf_read_block_f32(g, t, r0, nr, 0, t->ne[0], out));
  return PST_OK;
}

pst_err pst_gguf_read_cols_f32(const pst_gguf *g, const char *name, int64_t c0, int64_t nc, float *out) {
  const pst_gguf_tensor *t;
  PST_CHECK(find(g, name, &t));
  PST_CHECK(pst_gguf_read_block_f32(g, t, 0, pst_gguf_rows(t), c0, nc, out));
  return PST_OK;
}
