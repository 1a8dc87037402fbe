/* Parallel HDF5 datasets: the format of eloss's spin datasets, written by
 * all ranks at once and read by h5py.
 *
 * io_h5_create / io_h5_open / io_h5_close / io_h5_flush: collective.
 * io_h5_dataset_create, io_h5_attr_*: collective; every rank passes the
 *   same arguments (HDF5 metadata operations are collective in parallel).
 * io_h5_write_rows / io_h5_read_rows: collective MPI-IO transfer of each
 *   rank's slab of rows.
 *
 * HDF5's own error stack is silenced and every failure becomes one eloss
 * message naming the file and the dataset. Datasets are contiguous and
 * object times are not tracked, so two runs with the same data write the
 * same dataset bytes. */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"

struct io_h5 {
  hid_t file;
  MPI_Comm comm;
  char path[4096];
};

static hid_t h5_type(io_dtype dtype) {
  switch (dtype) {
    case IO_F32: return H5T_NATIVE_FLOAT;
    case IO_F64: return H5T_NATIVE_DOUBLE;
    case IO_I8: return H5T_NATIVE_INT8;
    case IO_U8: return H5T_NATIVE_UINT8;
    case IO_I32: return H5T_NATIVE_INT32;
    case IO_I64: return H5T_NATIVE_INT64;
  }
  return H5T_NATIVE_DOUBLE;
}

/* Little-endian file types, whatever the machine: what numpy expects. */
static hid_t h5_file_type(io_dtype dtype) {
  switch (dtype) {
    case IO_F32: return H5T_IEEE_F32LE;
    case IO_F64: return H5T_IEEE_F64LE;
    case IO_I8: return H5T_STD_I8LE;
    case IO_U8: return H5T_STD_U8LE;
    case IO_I32: return H5T_STD_I32LE;
    case IO_I64: return H5T_STD_I64LE;
  }
  return H5T_IEEE_F64LE;
}

static core_status h5_open_common(MPI_Comm comm, const char *path, int create, io_h5 **file) {
  *file = NULL;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  io_h5 *f = calloc(1, sizeof *f);
  CORE_CHECK(f, CORE_ERR_MEM, "%s: cannot allocate an HDF5 handle", path);
  snprintf(f->path, sizeof f->path, "%s", path);
  f->comm = comm;
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  H5Pset_all_coll_metadata_ops(fapl, 1);
  H5Pset_coll_metadata_write(fapl, 1);
  f->file = create ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl) : H5Fopen(path, H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  if (f->file < 0) {
    free(f);
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot %s the HDF5 file", path, create ? "create" : "open");
  }
  *file = f;
  return CORE_OK;
}

core_status io_h5_create(MPI_Comm comm, const char *path, io_h5 **file) {
  return h5_open_common(comm, path, 1, file);
}

core_status io_h5_open(MPI_Comm comm, const char *path, io_h5 **file) {
  return h5_open_common(comm, path, 0, file);
}

core_status io_h5_dataset_create(io_h5 *f, const char *name, io_dtype dtype, int ndim, const int64_t *shape) {
  hsize_t dims[IO_NDIM_MAX];
  CORE_CHECK(ndim >= 1 && ndim <= IO_NDIM_MAX, CORE_ERR_ARG, "%s: dataset %s: bad rank %d", f->path, name, ndim);
  for (int k = 0; k < ndim; ++k) dims[k] = (hsize_t)shape[k];
  hid_t space = H5Screate_simple(ndim, dims, NULL);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_obj_track_times(dcpl, 0);
  /* Early allocation with a fill value: rows not yet written read as 0,
   * which a resumed run overwrites. */
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  hid_t set = H5Dcreate2(f->file, name, h5_file_type(dtype), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(space);
  CORE_CHECK(set >= 0, CORE_ERR_IO, "%s: cannot create dataset %s", f->path, name);
  H5Dclose(set);
  return CORE_OK;
}

static core_status rows_transfer(io_h5 *f, const char *name, io_dtype dtype, int64_t row_start,
                                 int64_t row_count, void *data, int write) {
  hid_t set = H5Dopen2(f->file, name, H5P_DEFAULT);
  CORE_CHECK(set >= 0, CORE_ERR_FORMAT, "%s: no dataset %s", f->path, name);
  hid_t space = H5Dget_space(set);
  int ndim = H5Sget_simple_extent_ndims(space);
  hsize_t dims[IO_NDIM_MAX], start[IO_NDIM_MAX] = {0}, count[IO_NDIM_MAX];
  H5Sget_simple_extent_dims(space, dims, NULL);
  core_status st = CORE_OK;
  if (row_start < 0 || row_count < 0 || (hsize_t)(row_start + row_count) > dims[0])
    st = CORE_ERROR(CORE_ERR_ARG, "%s: rows [%lld, %lld) outside dataset %s of %llu rows", f->path,
                    (long long)row_start, (long long)(row_start + row_count), name, (unsigned long long)dims[0]);
  hid_t mem = -1;
  if (!st) {
    for (int k = 0; k < ndim; ++k) count[k] = dims[k];
    start[0] = (hsize_t)row_start;
    count[0] = (hsize_t)row_count;
    if (row_count > 0) {
      H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
      mem = H5Screate_simple(ndim, count, NULL);
    } else {
      H5Sselect_none(space);
      mem = H5Screate_simple(ndim, count, NULL);
      H5Sselect_none(mem);
    }
    hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
    H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
    herr_t err = write ? H5Dwrite(set, h5_type(dtype), mem, space, dxpl, data)
                       : H5Dread(set, h5_type(dtype), mem, space, dxpl, data);
    H5Pclose(dxpl);
    if (err < 0) st = CORE_ERROR(CORE_ERR_IO, "%s: cannot %s dataset %s", f->path, write ? "write" : "read", name);
  }
  if (mem >= 0) H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(set);
  return st;
}

core_status io_h5_write_rows(io_h5 *f, const char *name, io_dtype dtype, int64_t row_start, int64_t row_count,
                             const void *data) {
  return rows_transfer(f, name, dtype, row_start, row_count, (void *)data, 1);
}

core_status io_h5_read_rows(io_h5 *f, const char *name, io_dtype dtype, int64_t row_start, int64_t row_count,
                            void *data) {
  return rows_transfer(f, name, dtype, row_start, row_count, data, 0);
}

static core_status attr_write(io_h5 *f, const char *object, const char *name, hid_t file_type, hid_t mem_type,
                              int count, const void *values) {
  hid_t obj = H5Oopen(f->file, object, H5P_DEFAULT);
  CORE_CHECK(obj >= 0, CORE_ERR_FORMAT, "%s: no object %s for attribute %s", f->path, object, name);
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hsize_t dims[1] = {(hsize_t)count};
  hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
  hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t err = attr < 0 ? -1 : H5Awrite(attr, mem_type, values);
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  H5Oclose(obj);
  CORE_CHECK(err >= 0, CORE_ERR_IO, "%s: cannot write attribute %s on %s", f->path, name, object);
  return CORE_OK;
}

core_status io_h5_attr_string(io_h5 *f, const char *object, const char *name, const char *value) {
  /* A variable-length UTF-8 string: what h5py writes for a Python str and
   * reads back as str (fixed-length strings come back as bytes). */
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  hid_t obj = H5Oopen(f->file, object, H5P_DEFAULT);
  if (obj < 0) {
    H5Tclose(type);
    return CORE_ERROR(CORE_ERR_FORMAT, "%s: no object %s for attribute %s", f->path, object, name);
  }
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t attr = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t err = attr < 0 ? -1 : H5Awrite(attr, type, &value);
  if (attr >= 0) H5Aclose(attr);
  H5Sclose(space);
  H5Oclose(obj);
  H5Tclose(type);
  CORE_CHECK(err >= 0, CORE_ERR_IO, "%s: cannot write attribute %s on %s", f->path, name, object);
  return CORE_OK;
}

core_status io_h5_attr_double(io_h5 *f, const char *object, const char *name, int count, const double *values) {
  return attr_write(f, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, count, values);
}

core_status io_h5_attr_int64(io_h5 *f, const char *object, const char *name, int count, const int64_t *values) {
  return attr_write(f, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, count, values);
}

core_status io_h5_flush(io_h5 *f) {
  CORE_CHECK(H5Fflush(f->file, H5F_SCOPE_GLOBAL) >= 0, CORE_ERR_IO, "%s: cannot flush", f->path);
  return CORE_OK;
}

core_status io_h5_close(io_h5 **file) {
  if (!file || !*file) return CORE_OK;
  io_h5 *f = *file;
  herr_t err = H5Fclose(f->file);
  core_status st = err < 0 ? CORE_ERROR(CORE_ERR_IO, "%s: cannot close", f->path) : CORE_OK;
  free(f);
  *file = NULL;
  return st;
}
