/* h5util.h — small HDF5 helpers shared by the checkpoint writer/reader and the inspect/export
 * tools (private to src/io). All return < 0 on failure, like HDF5. */
#ifndef PST_H5UTIL_H
#define PST_H5UTIL_H

#include <hdf5.h>

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
/* A 1-D u8 dataset as a NUL-terminated string (malloc'ed; NULL if unreadable). */
char *pst_h5_read_text(hid_t f, const char *name);
/* The checkpoint meta (root attributes, /meta/config, /meta/results) of an open file; the
 * errors name path. */
pst_err pst_ckpt_meta_read_h5(hid_t f, const char *path, pst_ckpt_meta *meta);

#endif
