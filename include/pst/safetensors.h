/* safetensors.h — read and write the safetensors checkpoint format.
 *
 * Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian u64
 * header length N, then N bytes of UTF-8 JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}          (metadata optional)
 * possibly padded with trailing spaces, then the data section. Offsets are relative
 * to the start of the data section; tensors are stored row-major, little-endian.
 *
 * Reading mmaps the file read-only and validates the whole header up front, so every
 * tensor handed out afterwards is known to lie inside the file and not to overlap
 * another. Writing is atomic: a temporary file is written, fsynced and renamed. */
#ifndef PST_SAFETENSORS_H
#define PST_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "pst/core.h"
#include "pst/params.h"

/* Supported element types. Other safetensors dtypes (I8, U32, F8_E4M3, ...) are
 * rejected on open with an error naming the dtype. */
typedef enum {
  PST_DT_F32,
  PST_DT_F16,
  PST_DT_BF16,
  PST_DT_I32,
  PST_DT_I64,
  PST_DT_U8,
  PST_DT_BOOL,
  PST_DT_F64,
  PST_DT_U16     /* column indices of the sparse inference file (export.h) */
} pst_dtype;

#define PST_ST_MAX_DIM 8
/* Largest header accepted on read (same limit as the reference implementation). */
#define PST_ST_MAX_HEADER 100000000ull

/* One tensor of an open file. name points into the file's parsed header and lives
 * as long as the pst_safetensors. offset is the absolute byte offset in the file. */
typedef struct {
  const char *name;
  pst_dtype dtype;
  int ndim;
  int64_t shape[PST_ST_MAX_DIM];
  uint64_t offset;
  uint64_t nbytes;
} pst_st_tensor;

typedef struct pst_safetensors pst_safetensors; /* opaque */

/* Size in bytes of one element, and the safetensors spelling ("F32", "BF16", ...). */
size_t pst_dtype_size(pst_dtype dt);
const char *pst_dtype_name(pst_dtype dt);

/* Exact conversions of IEEE half / bfloat16 bit patterns to float (subnormals,
 * infinities and NaN payloads included). */
float pst_f16_to_f32(uint16_t h);
float pst_bf16_to_f32(uint16_t h);

/* Open and fully validate a file: header length within the file and <= 100 MB,
 * header is a JSON object, every entry has exactly a known dtype, a shape of at most
 * 8 non-negative integers (element count overflow checked) and data_offsets [b, e]
 * with b <= e <= data size and e - b == numel * dtype size; no duplicate names, no
 * two tensors overlap; "__metadata__", if present, maps strings to strings.
 * On failure *out is NULL and nothing leaks. */
pst_err pst_st_open(pst_safetensors **out, const char *path);
void pst_st_close(pst_safetensors *st); /* NULL ok */

int pst_st_count(const pst_safetensors *st);
/* Tensors sorted by name (byte order), 0 <= i < count; NULL if out of range. */
const pst_st_tensor *pst_st_at(const pst_safetensors *st, int i);
/* NULL if absent. */
const pst_st_tensor *pst_st_find(const pst_safetensors *st, const char *name);
const char *pst_st_path(const pst_safetensors *st);
/* __metadata__ value for key, or NULL. */
const char *pst_st_metadata(const pst_safetensors *st, const char *key);
/* Raw little-endian bytes of a tensor inside the mapping (t->nbytes long, possibly
 * unaligned; use memcpy). Valid until pst_st_close. */
const void *pst_st_data(const pst_safetensors *st, const pst_st_tensor *t);

/* Read a tensor converted to fp32 (from F32, F16, BF16, F64; integer dtypes are
 * rejected), checking that its shape equals (ndim, shape): a mismatch is an error
 * naming the tensor and both shapes. A missing tensor is the error
 * "<path>: tensor '<name>' not found". out holds numel floats. */
pst_err pst_st_read_f32(const pst_safetensors *st, const char *name, float *out, int ndim,
                        const int64_t *shape);
/* Read a slice of a float tensor (same dtypes and conversions as pst_st_read_f32): the
 * file's shape must equal the global shape (ndim, gshape) (same message as above); out
 * receives, row-major, the elements whose index along dimension dim lies in
 * [start, start + count) -- dim 0: rows, out is [count, gshape[1]]; dim 1: columns, out is
 * [gshape[0], count] (any 0 <= dim < ndim works the same way). Only the slice's bytes are
 * read (one contiguous range for dim 0, one segment per row for dim 1); nothing is
 * allocated. A dim outside [0, ndim), start < 0, count < 0 or start + count > gshape[dim] is
 * PST_ERR_ARG naming the tensor. */
pst_err pst_st_read_f32_slice(const pst_safetensors *st, const char *name, float *out, int ndim,
                              const int64_t *gshape, int dim, int64_t start, int64_t count);
/* Read tensor `name` into out (t->numel floats, t's LOCAL shape) as t's tensor-parallel
 * shard fields say: t->shard_dim < 0: the whole tensor, shape t->shape (pst_st_read_f32);
 * else the slice [t->shard_start, t->shard_start + t->shape[t->shard_dim]) along
 * t->shard_dim of a file tensor of shape t->gshape (pst_st_read_f32_slice). A t whose local
 * and global shapes differ outside the sharded dimension is PST_ERR_ARG. */
pst_err pst_st_read_param(const pst_safetensors *st, const char *name, const pst_tensor_info *t,
                          float *out);
/* Read an integer tensor into int32 (from I32, I64 with range check, U8, BOOL with
 * bytes 0/1 only), with the same shape check and messages. */
pst_err pst_st_read_i32(const pst_safetensors *st, const char *name, int32_t *out, int ndim,
                        const int64_t *shape);

/* One tensor to write: data holds numel elements of dtype, row-major, little-endian.
 * Any pst_dtype may be written (the trainer writes F32, I32 and U8). */
typedef struct {
  const char *name;
  pst_dtype dtype;
  int ndim;
  int64_t shape[PST_ST_MAX_DIM];
  const void *data;
} pst_st_entry;

/* Write atomically: to "<path>.tmp.<pid>", fsync, rename over path. The header lists
 * entries in the given order ("__metadata__" first), data are packed contiguously in
 * the same order and the data section starts 8-byte aligned (header padded with
 * spaces). metadata: NULL, or a NULL-terminated array of key, value string pairs.
 * On any failure the temporary file is removed and an existing file at path is left
 * untouched. */
pst_err pst_st_write(const char *path, const pst_st_entry *entries, int n,
                     const char *const *metadata);

#endif
