/* h5util.c — HDF5 attribute and text helpers shared by src/io (h5util.h). */
#include "h5util.h"

#include "pst/rng.h"

#include <stdlib.h>
#include <string.h>

herr_t pst_h5_attr_read(hid_t loc, const char *name, hid_t type, void *v) {
  if (H5Aexists(loc, name) <= 0) return -1;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Aread(a, type, v);
  if (a >= 0) H5Aclose(a);
  return rc;
}

herr_t pst_h5_attr_read_str(hid_t loc, const char *name, char *out, size_t cap) {
  if (H5Aexists(loc, name) <= 0) return -1;
  hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t t = H5Aget_type(a);
  size_t n = t < 0 ? 0 : H5Tget_size(t);
  herr_t rc = -1;
  if (n > 0 && n <= cap) {
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, n);
    rc = H5Aread(a, mt, out);
    H5Tclose(mt);
    out[n - 1] = 0;
  }
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return rc;
}

herr_t pst_h5_attr_write(hid_t loc, const char *name, hid_t type, int n, const void *v) {
  hsize_t dim = (hsize_t)n;
  hid_t sp = n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(loc, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, type, v);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc;
}

herr_t pst_h5_attr_write_str(hid_t loc, const char *name, const char *s) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(s) + 1);
  herr_t rc = pst_h5_attr_write(loc, name, t, 0, s);
  H5Tclose(t);
  return rc;
}

/* A 1-D u8 dataset as a string (NULL if unreadable). */
int pst_h5_dataset_is(hid_t ds, hid_t type, long long numel) {
  hid_t ft = H5Dget_type(ds), sp = H5Dget_space(ds), dcpl = H5Dget_create_plist(ds);
  int ok = ft >= 0 && sp >= 0 && dcpl >= 0 && H5Tequal(ft, type) > 0;
  hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK];
  int nd = ok ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
  ok = ok && nd >= 0 && nd <= 2;
  if (ok && H5Pget_layout(dcpl) == H5D_CHUNKED) {
    ok = H5Pget_chunk(dcpl, nd, chunk) == nd;
    for (int i = 0; ok && i < nd; i++) ok = chunk[i] >= 1 && chunk[i] <= (dims[i] ? dims[i] : 1);
  }
  if (ok) {
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    ok = npts >= 0 && (numel < 0 || npts == numel) &&
         (hsize_t)npts * H5Tget_size(type) <= (hsize_t)H5Dget_storage_size(ds);
  }
  if (dcpl >= 0) H5Pclose(dcpl);
  if (sp >= 0) H5Sclose(sp);
  if (ft >= 0) H5Tclose(ft);
  return ok;
}

char *pst_h5_read_text(hid_t f, const char *name) {
  hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
  if (ds < 0) return NULL;
  if (!pst_h5_dataset_is(ds, H5T_STD_U8LE, -1)) {
    H5Dclose(ds);
    return NULL;
  }
  hid_t sp = H5Dget_space(ds);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (s && n > 0 && H5Dread(ds, H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0) {
    free(s);
    s = NULL;
  }
  if (s) s[n] = 0;
  uint64_t want;
  hsize_t len = (hsize_t)(n > 0 ? n : 0), s0 = 0;
  if (s && (pst_h5_xsum_read(ds, &want) != 1 || pst_h5_xsum(s, 1, 1, &len, &s0, &len) != want)) {
    free(s); /* damaged, or written without its content checksum */
    s = NULL;
  }
  H5Sclose(sp);
  H5Dclose(ds);
  return s;
}

uint64_t pst_h5_xsum(const void *buf, size_t esize, int nd, const hsize_t *gdims, const hsize_t *start,
                     const hsize_t *count) {
  const unsigned char *p = buf;
  const hsize_t rows = count[0], cols = nd > 1 ? count[1] : 1, width = nd > 1 ? gdims[1] : 1;
  const hsize_t c0 = nd > 1 ? start[1] : 0;
  uint64_t sum = 0;
  for (hsize_t r = 0; r < rows; r++)
    for (hsize_t c = 0; c < cols; c++, p += esize) {
      uint64_t bits = 0;
      memcpy(&bits, p, esize); /* little-endian hosts: the element's value as an integer */
      sum += pst_rng_u64(bits, PST_H5_XSUM_STREAM, (start[0] + r) * width + c0 + c);
    }
  return sum;
}

herr_t pst_h5_xsum_write(hid_t loc, const char *name, uint64_t xsum) {
  hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
  herr_t rc = ds < 0 ? -1 : pst_h5_attr_write(ds, "xsum", H5T_STD_U64LE, 0, &xsum);
  if (ds >= 0) H5Dclose(ds);
  return rc;
}

int pst_h5_xsum_read(hid_t ds, uint64_t *xsum) {
  htri_t e = H5Aexists(ds, "xsum");
  if (e <= 0) return e < 0 ? -1 : 0;
  return pst_h5_attr_read(ds, "xsum", H5T_NATIVE_UINT64, xsum) < 0 ? -1 : 1;
}
