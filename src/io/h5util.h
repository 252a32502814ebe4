/* h5util.h — small HDF5 helpers shared by the checkpoint writer/reader and the inspect/export
 * tools (private to src/io). All return < 0 on failure, like HDF5. */
#ifndef PST_H5UTIL_H
#define PST_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "pst/checkpoint.h"

/* Attribute `name` of loc: read into v as type (scalar or array). */
herr_t pst_h5_attr_read(hid_t loc, const char *name, hid_t type, void *v);
/* A fixed-length string attribute into out[cap] (NUL-terminated). */
herr_t pst_h5_attr_read_str(hid_t loc, const char *name, char *out, size_t cap);
/* Write a scalar (n = 0) or 1-D [n] attribute of type. */
herr_t pst_h5_attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v);
herr_t pst_h5_attr_write_str(hid_t loc, const char *name, const char *s);
/* 1 if dataset ds is stored as exactly `type` (e.g. H5T_IEEE_F32LE), has numel elements
 * (numel < 0: any number), a sane chunk layout, and storage for all of them: a damaged
 * datatype, layout or extent message must be refused before H5Dread, which trusts them
 * (HDF5 1.10 reads out of bounds on some damaged datatype messages, and a damaged extent
 * would make a read of terabytes of fill values). */
int pst_h5_dataset_is(hid_t ds, hid_t type, long long numel);
/* Content checksum ("xsum" attribute of every checkpoint dataset): the sum, modulo 2^64, over
 * the elements of pst_rng_u64(bits, PST_H5_XSUM_STREAM, global flat index), bits = the
 * element's bytes as an unsigned integer (esize 1, 4 or 8). It does not depend on chunking or on
 * which rank wrote which slab: the partial sums of disjoint slabs add up to the whole's, and any
 * single changed bit changes exactly one term. This is the slab [start, start+count) of a
 * dataset of global dims gdims (nd 1 or 2), buf holding it densely. */
#define PST_H5_XSUM_STREAM 0x5853554d43484b31ULL
uint64_t pst_h5_xsum(const void *buf, size_t esize, int nd, const hsize_t *gdims, const hsize_t *start,
                     const hsize_t *count);
/* Write the "xsum" attribute of dataset `name` under loc. */
herr_t pst_h5_xsum_write(hid_t loc, const char *name, uint64_t xsum);
/* Read it: 1 = present (into *xsum), 0 = absent, < 0 on error. */
int pst_h5_xsum_read(hid_t ds, uint64_t *xsum);
/* A 1-D u8 dataset as a NUL-terminated string (malloc'ed; NULL if unreadable, or if its
 * content does not match its xsum attribute or it has none). */
char *pst_h5_read_text(hid_t f, const char *name);
/* The checkpoint meta (root attributes, /meta/config, /meta/results) of an open file; the
 * errors name path. */
pst_err pst_ckpt_meta_read_h5(hid_t f, const char *path, pst_ckpt_meta *meta);

#endif
