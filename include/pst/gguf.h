/* gguf.h — read GGUF model files (ggml / llama.cpp): metadata, tensor infos and tensors
 * dequantized to fp32 exactly as ggml's dequantize_row_* define it.
 *
 * Layout (GGUF v2 and v3, little-endian; v1 and big-endian files are refused):
 *   "GGUF", u32 version, u64 tensor count, u64 key/value count,
 *   key/values:   string key, u32 value type, value (arrays: u32 element type, u64 count,
 *                 elements; arrays may nest),
 *   tensor infos: string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset,
 *   padding to the alignment (metadata general.alignment, u32 power of two, default 32),
 *   the data section; each tensor at data start + offset (a multiple of the alignment).
 * Strings are u64 length + bytes (no NUL). ne[0] is the innermost (contiguous) dimension:
 * a matrix with ne = [n, m] is the PyTorch [m, n] row-major tensor; blocks of quantized
 * types run along ne[0].
 *
 * pst_gguf_open mmaps the file read-only and validates everything up front (counts, string
 * lengths and array sizes against the bytes left, value types, tensor types, shapes, block
 * divisibility, alignment, offsets inside the file, no overlap, no duplicate keys or tensor
 * names, overflow-safe arithmetic), so every accessor afterwards can trust the tables. All
 * errors are PST_ERR_FORMAT (PST_ERR_IO / PST_ERR_MEM where that is the cause) and start with
 * the file path. */
#ifndef PST_GGUF_H
#define PST_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "pst/core.h"

/* Metadata value types (the numbers stored in the file). */
typedef enum {
  PST_GGUF_UINT8 = 0,
  PST_GGUF_INT8 = 1,
  PST_GGUF_UINT16 = 2,
  PST_GGUF_INT16 = 3,
  PST_GGUF_UINT32 = 4,
  PST_GGUF_INT32 = 5,
  PST_GGUF_FLOAT32 = 6,
  PST_GGUF_BOOL = 7,
  PST_GGUF_STRING = 8,
  PST_GGUF_ARRAY = 9,
  PST_GGUF_UINT64 = 10,
  PST_GGUF_INT64 = 11,
  PST_GGUF_FLOAT64 = 12
} pst_gguf_type;

/* ggml tensor types pst can dequantize (the numbers stored in the file). Every other type
 * that ggml defines (Q5_0, Q4_K, Q6_K, IQ*, I32, ...) is known by name and size, opens, and
 * is refused when read with an error naming the tensor and the type. */
enum {
  PST_GGML_F32 = 0,
  PST_GGML_F16 = 1,
  PST_GGML_Q4_0 = 2,
  PST_GGML_Q4_1 = 3,
  PST_GGML_Q8_0 = 8,
  PST_GGML_BF16 = 30
};

#define PST_GGUF_MAX_DIMS 4
#define PST_GGUF_MAX_NAME 64 /* tensor names are shorter (ggml's GGML_MAX_NAME) */
#define PST_GGUF_MAX_DEPTH 4 /* nesting of arrays of arrays */

/* One tensor of an open file (name is NUL-terminated, owned by the handle). ne[i] = 1 for
 * i >= ndim. offset: absolute byte offset in the file; nbytes: its data size. */
typedef struct {
  const char *name;
  int ndim;
  int64_t ne[PST_GGUF_MAX_DIMS];
  int type;
  uint64_t offset;
  uint64_t nbytes;
} pst_gguf_tensor;

typedef struct pst_gguf pst_gguf; /* opaque */

/* ---- ggml types ---- */
/* "F32", "Q4_1", "Q6_K", ...; "?" for a number ggml does not define. */
const char *pst_ggml_type_name(int type);
/* Elements per block (1 for F32/F16/BF16, 32 for Q4_0/Q4_1/Q8_0, 256 for K-quants) and bytes
 * per block; 0 for an unknown type. */
int64_t pst_ggml_block_size(int type);
size_t pst_ggml_type_size(int type);
/* 1 if pst_ggml_dequantize handles the type (F32, F16, BF16, Q8_0, Q4_0, Q4_1). */
int pst_ggml_type_supported(int type);
/* Dequantize n elements (a multiple of the block size) of `type` from src (n / block *
 * type size bytes, little-endian, any alignment) into dst[n], exactly as ggml's
 * dequantize_row_* (no fused multiply-add). PST_ERR_ARG for an unsupported type or n not a
 * multiple of the block size. */
pst_err pst_ggml_dequantize(int type, const void *src, float *dst, int64_t n);

/* ---- file ---- */
/* Open and validate. On failure *out is NULL and nothing leaks. */
pst_err pst_gguf_open(pst_gguf **out, const char *path);
void pst_gguf_close(pst_gguf *g); /* NULL ok */
const char *pst_gguf_path(const pst_gguf *g);
uint32_t pst_gguf_version(const pst_gguf *g);   /* 2 or 3 */
uint32_t pst_gguf_alignment(const pst_gguf *g); /* general.alignment or 32 */
uint64_t pst_gguf_data_offset(const pst_gguf *g); /* absolute offset of the data section */
uint64_t pst_gguf_file_size(const pst_gguf *g);

/* ---- metadata ---- */
/* Name of a value type ("u32", "string", "array", ...; "?" if unknown). */
const char *pst_gguf_type_name(int type);
int pst_gguf_kv_count(const pst_gguf *g);
/* Key i (file order), 0 <= i < count; NULL if out of range. */
const char *pst_gguf_kv_key(const pst_gguf *g, int i);
/* Index of key, or -1. */
int pst_gguf_kv_find(const pst_gguf *g, const char *key);
/* Value type of key i (PST_GGUF_ARRAY for arrays); -1 if out of range. */
int pst_gguf_kv_type(const pst_gguf *g, int i);

/* Typed reads of scalar values. A missing key is "<path>: metadata key 'K' not found"; a
 * value of another type is "<path>: metadata key 'K' is <found>, expected <expected>".
 * Integer reads accept any integer type whose value fits the result (else a range error
 * naming the value); get_f32 accepts f32 and f64 (rounded); get_bool a bool only (stored
 * 0 or 1); get_str a string (NUL-terminated, valid until close; a string holding a NUL byte
 * reads as its prefix, *len (may be NULL) gives the full length). */
pst_err pst_gguf_get_u32(const pst_gguf *g, const char *key, uint32_t *out);
pst_err pst_gguf_get_i32(const pst_gguf *g, const char *key, int32_t *out);
pst_err pst_gguf_get_u64(const pst_gguf *g, const char *key, uint64_t *out);
pst_err pst_gguf_get_f32(const pst_gguf *g, const char *key, float *out);
pst_err pst_gguf_get_bool(const pst_gguf *g, const char *key, int *out);
pst_err pst_gguf_get_str(const pst_gguf *g, const char *key, const char **out, uint64_t *len);

/* Arrays: element type and count (an array of arrays reports PST_GGUF_ARRAY; its elements
 * cannot be read through the accessors below). Not an array: the type error above. */
pst_err pst_gguf_get_arr(const pst_gguf *g, const char *key, int *elem_type, uint64_t *count);
/* Element i of a string array: *s points into the mapping (NOT NUL-terminated), *len bytes. */
pst_err pst_gguf_arr_str(const pst_gguf *g, const char *key, uint64_t i, const char **s, uint64_t *len);
/* Element i of an integer array (u8 .. i64; a u64 above INT64_MAX is a range error). */
pst_err pst_gguf_arr_int(const pst_gguf *g, const char *key, uint64_t i, int64_t *out);
/* Element i of a float array (f32 or f64). */
pst_err pst_gguf_arr_float(const pst_gguf *g, const char *key, uint64_t i, double *out);

/* ---- tensors ---- */
int pst_gguf_tensor_count(const pst_gguf *g);
/* Tensor i in file order; NULL if out of range. */
const pst_gguf_tensor *pst_gguf_tensor_at(const pst_gguf *g, int i);
/* NULL if absent. */
const pst_gguf_tensor *pst_gguf_find_tensor(const pst_gguf *g, const char *name);
/* File-order index of a tensor of g (from pst_gguf_tensor_at / find_tensor), else -1. */
int pst_gguf_tensor_index(const pst_gguf *g, const pst_gguf_tensor *t);
/* Raw bytes of a tensor inside the mapping (t->nbytes long). Valid until close. */
const void *pst_gguf_data(const pst_gguf *g, const pst_gguf_tensor *t);
/* Rows of a tensor viewed as a matrix: ne[1] * ne[2] * ne[3] rows of ne[0] elements. */
int64_t pst_gguf_rows(const pst_gguf_tensor *t);

/* Read tensor `name` dequantized to fp32 into out[ne0 * rows]: the PyTorch layout
 * ([ne[1], ne[0]] row-major for a matrix; [ne[3], ne[2], ne[1], ne[0]] in general). A
 * missing tensor is "<path>: tensor 'NAME' not found"; an unsupported type is
 * "<path>: tensor 'NAME' has type Q6_K, which pst cannot dequantize (supported: ...)". */
pst_err pst_gguf_read_f32(const pst_gguf *g, const char *name, float *out);
/* Rows [r0, r0 + nr) (row = index over ne[1] * ne[2] * ne[3]) into out[nr, ne0]; only those
 * rows' bytes are dequantized. */
pst_err pst_gguf_read_rows_f32(const pst_gguf *g, const char *name, int64_t r0, int64_t nr, float *out);
/* Columns [c0, c0 + nc) (along ne[0]) of every row into out[rows, nc]: for quantized types
 * each row's blocks that cover the range are dequantized (the range need not be
 * block-aligned). */
pst_err pst_gguf_read_cols_f32(const pst_gguf *g, const char *name, int64_t c0, int64_t nc, float *out);
/* The rectangle rows [r0, r0 + nr) x columns [c0, c0 + nc) into out[nr, nc]. A range outside
 * the tensor is PST_ERR_ARG naming the tensor. */
pst_err pst_gguf_read_block_f32(const pst_gguf *g, const pst_gguf_tensor *t, int64_t r0, int64_t nr,
                                int64_t c0, int64_t nc, float *out);

#endif
