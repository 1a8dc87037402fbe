/* Shared by the structured HDF5 harnesses (fuzz_h5_spin.c,
 * fuzz_h5_cluster.c): build a small HDF5 file with the HDF5 API from
 * choices drawn from the fuzz input, so that the fuzzer explores what the
 * loaders do with shapes, dtypes, values, attributes and missing datasets
 * rather than libhdf5's own parser of raw bytes (fuzz_h5_raw.c does that).
 *
 * h5_put(file, name, b, ndim, dims, mem_type, values): one dataset. A
 *   control byte from b decides: 0xff omit it; else bits 0-2 the file
 *   dtype (as asked, f64, f32, i8, i32, i64, u8, a 4-byte string), bits
 *   3-5 the shape (as asked; one extent redrawn 0..5; a rank redrawn
 *   1..5; one extent up to 2^40 (chunked, nothing written), or scalar). values (mem_type, dims elements) are written when the shape
 *   is as asked. Returns 1 if the dataset has the shape asked for. */
#ifndef ELOSS_FUZZ_H5_COMMON_H
#define ELOSS_FUZZ_H5_COMMON_H

#include <hdf5.h>

#include "fuzz_common.h"

/* Read a whole dataset back as mem_type into buf; 0 on success. */
static inline int h5_get(hid_t file, const char *name, hid_t mem_type, void *buf) {
  hid_t set = H5Dopen2(file, name, H5P_DEFAULT);
  if (set < 0) return -1;
  herr_t err = H5Dread(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(set);
  return err < 0 ? -1 : 0;
}

static inline int h5_put(hid_t file, const char *name, fuzz_bytes *b, int ndim, const hsize_t *dims, hid_t mem_type,
                         const void *values) {
  const uint8_t c = fuzz_u8(b);
  if (c == 0xff) return 0;
  hid_t str = H5Tcopy(H5T_C_S1);
  H5Tset_size(str, 4);
  const hid_t types[8] = {mem_type, H5T_IEEE_F64LE, H5T_IEEE_F32LE, H5T_STD_I8LE,
                          H5T_STD_I32LE, H5T_STD_I64BE, H5T_STD_U8LE, str};
  hid_t type = types[c & 7];
  hsize_t d[8];
  int nd = ndim, as_asked = 1, chunked = 0;
  for (int k = 0; k < ndim; ++k) d[k] = dims[k];
  switch ((c >> 3) & 7) {
    case 4: d[fuzz_u8(b) % ndim] = fuzz_u8(b) % 6, as_asked = 0; break;
    case 5:
      nd = 1 + fuzz_u8(b) % 5, as_asked = 0;
      for (int k = 0; k < nd; ++k) d[k] = fuzz_u8(b) % 5;
      break;
    case 6: d[fuzz_u8(b) % ndim] = (hsize_t)1 + ((hsize_t)fuzz_u32(b) << 8), as_asked = 0, chunked = 1; break;
    case 7: nd = 0, as_asked = 0; break;
    default: break;
  }
  hid_t space = nd ? H5Screate_simple(nd, d, NULL) : H5Screate(H5S_SCALAR);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (chunked) {
    hsize_t chunk[8];
    for (int k = 0; k < nd; ++k) chunk[k] = d[k] ? (d[k] < 4 ? d[k] : 4) : 1;
    H5Pset_chunk(dcpl, nd, chunk);
  }
  hid_t set = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (set >= 0 && as_asked && values && (c & 7) != 7) H5Dwrite(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
  if (set >= 0) H5Dclose(set);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Tclose(str);
  return as_asked && (c & 7) != 7;
}

/* A "split"-like string attribute on the root group, by a control byte:
 * absent, a variable-length string, an array of 2 of them, a fixed-length
 * string, an integer. */
static inline void h5_put_attr(hid_t file, const char *name, fuzz_bytes *b) {
  const uint8_t c = fuzz_u8(b) % 5;
  if (c == 0) return;
  const char *text[2] = {"train", "test"};
  hid_t type;
  if (c == 4) {
    type = H5Tcopy(H5T_STD_I64LE);
  } else {
    type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, c == 3 ? 5 : H5T_VARIABLE);
  }
  hsize_t two = 2;
  hid_t space = c == 2 ? H5Screate_simple(1, &two, NULL) : H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(file, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (attr >= 0) {
    int64_t v = 7;
    H5Awrite(attr, type, c == 4 ? (const void *)&v : c == 3 ? (const void *)text[0] : (const void *)text);
    H5Aclose(attr);
  }
  H5Sclose(space);
  H5Tclose(type);
}

#endif
