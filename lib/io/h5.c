/* HDF5 datasets with one writer: the format of eloss's spin datasets,
 * filled by all ranks and read by h5py.
 *
 * io_h5_create / io_h5_open / io_h5_close / io_h5_flush / io_h5_reserve:
 *   collective.
 * io_h5_dataset_create, io_h5_attr_*: collective; every rank passes the
 *   same arguments.
 * io_h5_write_rows / io_h5_read_rows: collective; each rank passes its own
 *   slab of rows.
 *
 * Why one writer: only rank 0 opens the file (HDF5's sec2 driver); the
 * other ranks send their rows to it (MPI_Gatherv) or receive them
 * (MPI_Scatterv). Every HDF5 call, and so every way the file system can
 * fail (a full disk, a quota, a lost mount), happens on one process, and
 * the ranks learn the outcome through core_agree after it. With MPI-IO
 * collective transfers a write error on one rank leaves the others inside
 * the library's own collectives, where nothing can agree with them: the job
 * hangs. Each function agrees on the local checks before its first
 * collective and on rank 0's result after the HDF5 call, so every rank
 * reaches the same MPI calls whatever fails where.
 *
 * HDF5's automatic error printing is turned off only during eloss's own
 * calls and restored after them (the process may be a Python interpreter
 * whose h5py wants it); a failure becomes one eloss message naming the file,
 * the dataset and the innermost HDF5 reason ("No space left on device").
 * Datasets are contiguous and object times are not tracked, so two runs
 * with the same data write the same dataset bytes.
 *
 * Fault-injection sites (core_fault, for tests): "h5.write" (rank 0: the
 *   HDF5 write fails), "h5.rows" (any rank: its row range is refused),
 *   "h5.flush" (rank 0: flushing fails). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/io.h"

struct io_h5 {
  hid_t file; /* rank 0 only; -1 elsewhere */
  MPI_Comm comm;
  int rank, size;
  int read_only; /* io_h5_open_read: datasets are inputs, held whole */
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

/* ---- HDF5's error printing, off only while eloss calls HDF5 --------------- */

typedef struct {
  H5E_auto2_t func;
  void *data;
} h5_quiet;

static void quiet_begin(h5_quiet *q) {
  H5Eget_auto2(H5E_DEFAULT, &q->func, &q->data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void quiet_end(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

/* The most specific entry of HDF5's error stack, reduced to the operating
 * system's reason when HDF5 quotes one ("error message = '...'"). */
static herr_t innermost(unsigned n, const H5E_error2_t *err, void *reason) {
  if (n > 0) return 0;
  const char *desc = err->desc ? err->desc : "";
  const char *quote = strstr(desc, "error message = '");
  if (quote) {
    quote += strlen("error message = '");
    const char *end = strchr(quote, '\'');
    size_t len = end ? (size_t)(end - quote) : strlen(quote);
    if (len > 200) len = 200;
    memcpy(reason, quote, len);
    ((char *)reason)[len] = '\0';
  } else {
    snprintf(reason, 256, "%s", desc);
  }
  return 0;
}

/* Record an I/O error naming the file, what failed and HDF5's reason. */
static core_status h5_fail(const io_h5 *f, const char *what) {
  char reason[256] = "";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, reason);
  H5Eclear2(H5E_DEFAULT);
  return CORE_ERROR(CORE_ERR_IO, "%s: cannot %s%s%s", f->path, what, reason[0] ? ": " : "", reason);
}

/* ---- files ---------------------------------------------------------------- */

/* Create (truncate) path and claim 64 KiB of disk for it, then give the
 * blocks back: CORE_ERR_IO naming the file when there is no room. */
static core_status h5_room(const char *path) {
  const char *input = io_input_registered(path);
  CORE_CHECK(!input, CORE_ERR_ARG, "%s is the options file %s read: choose another output", path, input);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666);
  CORE_CHECK(fd >= 0, CORE_ERR_IO, "%s: cannot create the HDF5 file: %s", path, strerror(errno));
  const int err = posix_fallocate(fd, 0, 65536);
  const int cut = ftruncate(fd, 0);
  close(fd);
  if (err && err != EINVAL && err != EOPNOTSUPP) {
    unlink(path);
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot create the HDF5 file: %s", path, strerror(err));
  }
  CORE_CHECK(cut == 0, CORE_ERR_IO, "%s: cannot create the HDF5 file: %s", path, strerror(errno));
  return CORE_OK;
}

/* mode: 1 create (truncate), 0 open read-write, 2 open read-only. */
static core_status h5_open_common(MPI_Comm comm, const char *path, int mode, io_h5 **file) {
  *file = NULL;

  io_h5 *f = calloc(1, sizeof *f);
  core_status st = f ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate an HDF5 handle", path);
  if (!st && strlen(path) >= sizeof f->path) st = CORE_ERROR(CORE_ERR_ARG, "output path is too long: %s", path);
  if (!st) {
    snprintf(f->path, sizeof f->path, "%s", path);
    f->comm = comm;
    f->file = -1;
    f->read_only = mode == 2;
    MPI_Comm_rank(comm, &f->rank);
    MPI_Comm_size(comm, &f->size);
    if (f->rank == 0) {
      /* A file whose creation fails on a full disk stays half-open inside
       * HDF5 1.10, whose shutdown at exit then prints "infinite loop
       * closing library" and a line of codes after our one error: claim
       * the first blocks ourselves, and hand HDF5 only a disk with room
       * for its superblock and first metadata. */
      if (mode == 1) st = h5_room(path);
      h5_quiet q;
      quiet_begin(&q);
      if (!st)
        f->file = mode == 1 ? H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)
                            : H5Fopen(path, mode == 2 ? H5F_ACC_RDONLY : H5F_ACC_RDWR, H5P_DEFAULT);
      if (!st && f->file < 0) st = h5_fail(f, mode == 1 ? "create the HDF5 file" : "open the HDF5 file");
      quiet_end(&q);
    }
  }
  st = core_agree(comm, st);
  if (st) {
    if (f && f->file >= 0) H5Fclose(f->file);
    free(f);
    return st;
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

core_status io_h5_open_read(MPI_Comm comm, const char *path, io_h5 **file) {
  return h5_open_common(comm, path, 2, file);
}

core_status io_h5_dataset_create(io_h5 *f, const char *name, io_dtype dtype, int ndim, const int64_t *shape) {
  core_status st = CORE_OK;
  if (ndim < 1 || ndim > IO_NDIM_MAX) st = CORE_ERROR(CORE_ERR_ARG, "%s: dataset %s: bad rank %d", f->path, name, ndim);
  st = core_agree(f->comm, st);
  if (!st && f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hsize_t dims[IO_NDIM_MAX];
    for (int k = 0; k < ndim; ++k) dims[k] = (hsize_t)shape[k];
    hid_t space = H5Screate_simple(ndim, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_obj_track_times(dcpl, 0);
    /* Early allocation: every byte of the dataset has its place in the file
     * from the start (io_h5_reserve can then claim the disk blocks), and rows
     * not yet written read as 0 until a run or a resumed run writes them. */
    H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
    hid_t set = H5Dcreate2(f->file, name, h5_file_type(dtype), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (set < 0) st = h5_fail(f, "create a dataset");
    else H5Dclose(set);
    H5Pclose(dcpl);
    H5Sclose(space);
    quiet_end(&q);
  }
  return core_agree(f->comm, st);
}

/* ---- rows ------------------------------------------------------------------- */

/* Rank 0 opens dataset `name` and tells every rank its shape; a missing
 * dataset is an error unless `optional` (then *ndim = 0). */
/* Rank 0, the dataset open: a read converts nothing, so its stored type
 * must be dtype's (a float32 set read as float64 would give other
 * numbers, reported further on as a damaged row). */
static core_status stored_type_check(const io_h5 *f, hid_t set, const char *name, io_dtype dtype) {
  hid_t type = H5Dget_type(set);
  const H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  const size_t bytes = type >= 0 ? H5Tget_size(type) : 0;
  const int is_signed = cls == H5T_INTEGER && H5Tget_sign(type) == H5T_SGN_2;
  if (type >= 0) H5Tclose(type);
  const int want_float = dtype == IO_F32 || dtype == IO_F64, want_signed = dtype != IO_U8 && !want_float;
  if (cls == (want_float ? H5T_FLOAT : H5T_INTEGER) && bytes == io_dtype_size(dtype) &&
      (want_float || is_signed == want_signed))
    return CORE_OK;
  const char *held = cls == H5T_FLOAT     ? "floating-point"
                     : cls == H5T_INTEGER ? (is_signed ? "signed integer" : "unsigned integer")
                                          : "non-numeric";
  return CORE_ERROR(CORE_ERR_FORMAT, "%s: dataset %s holds %zu-byte %s values, expected %s", f->path, name, bytes,
                    held, io_dtype_name(dtype));
}

/* Shape of dataset `name` on every rank; with want >= 0 (an io_dtype),
 * its stored type checked too, in the same open and agreement.
 * Collective. */
static core_status dataset_shape_opt(io_h5 *f, const char *name, int optional, int want, int *ndim,
                                     hsize_t *dims) {
  core_status st = CORE_OK;
  int64_t info[1 + IO_NDIM_MAX] = {0};
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hid_t set = H5Dopen2(f->file, name, H5P_DEFAULT);
    if (set < 0) {
      H5Eclear2(H5E_DEFAULT);
      if (!optional) st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no dataset %s", f->path, name);
    } else {
      hid_t space = H5Dget_space(set);
      int nd = H5Sget_simple_extent_ndims(space);
      hsize_t d[IO_NDIM_MAX];
      H5D_space_status_t stored = H5D_SPACE_STATUS_ERROR;
      if (nd < 1 || nd > IO_NDIM_MAX) st = CORE_ERROR(CORE_ERR_FORMAT, "%s: dataset %s has rank %d", f->path, name, nd);
      else H5Sget_simple_extent_dims(space, d, NULL);
      /* An input whose storage was never (fully) written is not a dataset
       * eloss wrote (they are allocated at creation): its shape may promise
       * terabytes in a file of a few kilobytes (found by fuzz_h5_spin). */
      /* An empty dataset has no storage to write: it is not incomplete. */
      const hssize_t points = st ? 0 : H5Sget_simple_extent_npoints(space);
      if (!st && f->read_only && points > 0 &&
          (H5Dget_space_status(set, &stored) < 0 || stored != H5D_SPACE_STATUS_ALLOCATED))
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: dataset %s is incomplete: its storage was never %swritten", f->path,
                        name, stored == H5D_SPACE_STATUS_PART_ALLOCATED ? "fully " : "");
      if (!st && want >= 0) st = stored_type_check(f, set, name, (io_dtype)want);
      info[0] = nd;
      for (int k = 0; !st && k < nd; ++k) info[1 + k] = (int64_t)d[k];
      H5Sclose(space);
      H5Dclose(set);
    }
    quiet_end(&q);
  }
  CORE_CALL(core_agree(f->comm, st));
  if (MPI_Bcast(info, 1 + IO_NDIM_MAX, MPI_INT64_T, 0, f->comm) != MPI_SUCCESS)
    return CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Bcast of the shape of %s failed", f->path, name);
  *ndim = (int)info[0];
  for (int k = 0; k < *ndim; ++k) dims[k] = (hsize_t)info[1 + k];
  return CORE_OK;
}

core_status io_h5_dataset_info(io_h5 *f, const char *name, int *ndim, int64_t *shape) {
  hsize_t dims[IO_NDIM_MAX];
  CORE_CALL(dataset_shape_opt(f, name, 1, -1, ndim, dims));
  for (int k = 0; k < *ndim; ++k) shape[k] = (int64_t)dims[k];
  return CORE_OK;
}

/* Rank 0 writes or reads `rows` rows from `row_start` of dataset `name`
 * (rows of row_elems elements each) to or from `buffer`. */
static core_status root_transfer(io_h5 *f, const char *name, io_dtype dtype, int ndim, const hsize_t *dims,
                                 int64_t row_start, int64_t rows, void *buffer, int write) {
  if (rows == 0) return CORE_OK;
  if (write && core_fault("h5.write"))
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot write dataset %s: injected fault (test)", f->path, name);
  h5_quiet q;
  quiet_begin(&q);
  core_status st = CORE_OK;
  hid_t set = H5Dopen2(f->file, name, H5P_DEFAULT);
  hid_t space = H5Dget_space(set);
  hsize_t start[IO_NDIM_MAX] = {0}, count[IO_NDIM_MAX];
  for (int k = 0; k < ndim; ++k) count[k] = dims[k];
  start[0] = (hsize_t)row_start;
  count[0] = (hsize_t)rows;
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL);
  hid_t mem = H5Screate_simple(ndim, count, NULL);
  herr_t err = write ? H5Dwrite(set, h5_type(dtype), mem, space, H5P_DEFAULT, buffer)
                     : H5Dread(set, h5_type(dtype), mem, space, H5P_DEFAULT, buffer);
  if (err < 0) {
    char what[512];
    snprintf(what, sizeof what, "%s dataset %s", write ? "write" : "read", name);
    st = h5_fail(f, what);
  }
  H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(set);
  quiet_end(&q);
  return st;
}

/* The collective row transfer: agree on every rank's range, then move the
 * rows between the ranks and rank 0 in one MPI_Gatherv / MPI_Scatterv of a
 * row type (counts in rows fit an int where counts in bytes may not), with
 * rank 0 doing the HDF5 call for each rank's slab in between. */
static core_status rows_transfer(io_h5 *f, const char *name, io_dtype dtype, int64_t row_start, int64_t row_count,
                                 void *data, int write) {
  int ndim = 0;
  hsize_t dims[IO_NDIM_MAX];
  CORE_CALL(dataset_shape_opt(f, name, 0, write ? -1 : (int)dtype, &ndim, dims));
  /* A row travels as one MPI type of row_bytes bytes: at most INT_MAX. */
  size_t row_bytes = io_dtype_size(dtype);
  int row_fits = 1;
  for (int k = 1; k < ndim; ++k) {
    if (dims[k] && row_bytes > (size_t)INT_MAX / dims[k]) row_fits = 0;
    else row_bytes *= (size_t)dims[k];
  }
  core_status st = CORE_OK;
  if (!row_fits)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: a row of dataset %s holds more than %d bytes", f->path, name, INT_MAX);
  else if (row_start < 0 || row_count < 0 || (hsize_t)(row_start + row_count) > dims[0] || row_count > INT_MAX)
    st = CORE_ERROR(CORE_ERR_ARG, "%s: rows [%lld, %lld) outside dataset %s of %llu rows", f->path,
                    (long long)row_start, (long long)(row_start + row_count), name, (unsigned long long)dims[0]);
  else if (core_fault("h5.rows"))
    st = CORE_ERROR(CORE_ERR_ARG, "%s: rows of dataset %s refused: injected fault (test)", f->path, name);
  int64_t mine[2] = {row_start, row_count}, *ranges = NULL;
  int *counts = NULL, *displs = NULL;
  char *all = NULL;
  int64_t total = 0;
  if (!st && f->rank == 0) {
    ranges = malloc(sizeof *ranges * 2 * (size_t)f->size);
    counts = malloc(sizeof *counts * (size_t)f->size);
    displs = malloc(sizeof *displs * (size_t)f->size);
    if (!ranges || !counts || !displs) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate row tables", f->path);
  }
  st = core_agree(f->comm, st);
  if (!st && MPI_Gather(mine, 2, MPI_INT64_T, ranges, 2, MPI_INT64_T, 0, f->comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Gather of row ranges failed", f->path);
  if (!st && f->rank == 0) {
    for (int r = 0; r < f->size; ++r) total += ranges[2 * r + 1];
    if (total > INT_MAX) st = CORE_ERROR(CORE_ERR_ARG, "%s: %lld rows in one transfer of %s", f->path, (long long)total, name);
    for (int r = 0, at = 0; !st && r < f->size; ++r) counts[r] = (int)ranges[2 * r + 1], displs[r] = at, at += counts[r];
    if (!st) {
      all = malloc(row_bytes * (size_t)(total > 0 ? total : 1));
      if (!all) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %lld rows of %s", f->path, (long long)total, name);
    }
  }
  st = core_agree(f->comm, st);
  MPI_Datatype row = MPI_DATATYPE_NULL;
  if (!st && (MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row) != MPI_SUCCESS || MPI_Type_commit(&row) != MPI_SUCCESS))
    st = CORE_ERROR(CORE_ERR_MPI, "%s: cannot make a row type of %zu bytes", f->path, row_bytes);
  st = core_agree(f->comm, st);
  if (!st && write) {
    if (MPI_Gatherv(data, (int)row_count, row, all, counts, displs, row, 0, f->comm) != MPI_SUCCESS)
      st = CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Gatherv of dataset %s failed", f->path, name);
    for (int r = 0; !st && f->rank == 0 && r < f->size; ++r)
      st = root_transfer(f, name, dtype, ndim, dims, ranges[2 * r], ranges[2 * r + 1],
                         all + (size_t)displs[r] * row_bytes, 1);
    st = core_agree(f->comm, st);
  } else if (!st) {
    for (int r = 0; !st && f->rank == 0 && r < f->size; ++r)
      st = root_transfer(f, name, dtype, ndim, dims, ranges[2 * r], ranges[2 * r + 1],
                         all + (size_t)displs[r] * row_bytes, 0);
    st = core_agree(f->comm, st);
    if (!st && MPI_Scatterv(all, counts, displs, row, data, (int)row_count, row, 0, f->comm) != MPI_SUCCESS)
      st = CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Scatterv of dataset %s failed", f->path, name);
  }
  if (row != MPI_DATATYPE_NULL) MPI_Type_free(&row);
  free(ranges), free(counts), free(displs), free(all);
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

/* ---- attributes ---------------------------------------------------------------- */

/* Rank 0 writes attribute `name` of `object` (replacing it); a string when
 * file_type < 0. */
static core_status attr_write(io_h5 *f, const char *object, const char *name, hid_t file_type, hid_t mem_type,
                              int count, const void *values) {
  core_status st = CORE_OK;
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hid_t string = -1;
    if (file_type < 0) {
      /* A variable-length UTF-8 string: what h5py writes for a Python str
       * and reads back as str (fixed-length strings come back as bytes). */
      string = H5Tcopy(H5T_C_S1);
      H5Tset_size(string, H5T_VARIABLE);
      H5Tset_cset(string, H5T_CSET_UTF8);
      file_type = mem_type = string;
    }
    hid_t obj = H5Oopen(f->file, object, H5P_DEFAULT);
    if (obj < 0) {
      H5Eclear2(H5E_DEFAULT);
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no object %s for attribute %s", f->path, object, name);
    } else {
      if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
      hsize_t dims[1] = {(hsize_t)count};
      hid_t space = count == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
      hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
      herr_t err = attr < 0 ? -1 : H5Awrite(attr, mem_type, values);
      if (attr >= 0) H5Aclose(attr);
      H5Sclose(space);
      H5Oclose(obj);
      if (err < 0) {
        char what[512];
        snprintf(what, sizeof what, "write attribute %s on %s", name, object);
        st = h5_fail(f, what);
      }
    }
    if (string >= 0) H5Tclose(string);
    quiet_end(&q);
  }
  return core_agree(f->comm, st);
}

core_status io_h5_attr_string(io_h5 *f, const char *object, const char *name, const char *value) {
  return attr_write(f, object, name, -1, -1, 1, &value);
}

core_status io_h5_attr_double(io_h5 *f, const char *object, const char *name, int count, const double *values) {
  return attr_write(f, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, count, values);
}

core_status io_h5_attr_int64(io_h5 *f, const char *object, const char *name, int count, const int64_t *values) {
  return attr_write(f, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, count, values);
}

core_status io_h5_attr_read_string(io_h5 *f, const char *object, const char *name, char *value, size_t size) {
  core_status st = CORE_OK;
  if (size < 1) st = CORE_ERROR(CORE_ERR_ARG, "%s: no room for attribute %s", f->path, name);
  st = core_agree(f->comm, st);
  if (st) return st;
  value[0] = '\0';
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hid_t attr = H5Aopen_by_name(f->file, object, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t aspace = attr < 0 ? -1 : H5Aget_space(attr);
    if (attr < 0) {
      H5Eclear2(H5E_DEFAULT);
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no attribute %s on %s", f->path, name, object);
    } else if (H5Sget_simple_extent_npoints(aspace) != 1) {
      /* H5Aread fills one pointer per element: an array of strings would
       * write past `text` (found reading fuzz_h5_spin's attribute forms). */
      H5Eclear2(H5E_DEFAULT);
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: attribute %s on %s is not one string", f->path, name, object);
      H5Aclose(attr);
    } else {
      hid_t type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, H5T_VARIABLE);
      H5Tset_cset(type, H5T_CSET_UTF8);
      char *text = NULL;
      if (H5Aread(attr, type, &text) < 0 || !text) {
        H5Eclear2(H5E_DEFAULT);
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: attribute %s on %s is not a string", f->path, name, object);
      } else {
        snprintf(value, size, "%s", text);
        H5free_memory(text);
      }
      H5Tclose(type);
      H5Aclose(attr);
    }
    if (aspace >= 0) H5Sclose(aspace);
    quiet_end(&q);
  }
  CORE_CALL(core_agree(f->comm, st));
  if (MPI_Bcast(value, (int)(size < INT_MAX ? size : INT_MAX), MPI_CHAR, 0, f->comm) != MPI_SUCCESS)
    return CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Bcast of attribute %s failed", f->path, name);
  return CORE_OK;
}

/* ---- durability ------------------------------------------------------------------ */

/* The file descriptor of rank 0's file (sec2 driver), or -1. */
static int root_fd(const io_h5 *f) {
  void *handle = NULL;
  if (H5Fget_vfd_handle(f->file, H5P_DEFAULT, &handle) < 0 || !handle) return -1;
  return *(int *)handle;
}

core_status io_h5_flush(io_h5 *f) {
  core_status st = CORE_OK;
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    if (core_fault("h5.flush")) st = CORE_ERROR(CORE_ERR_IO, "%s: cannot flush: injected fault (test)", f->path);
    else if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0) st = h5_fail(f, "flush");
    /* A checkpoint written after this promises that the rows are on disk. */
    int fd = st ? -1 : root_fd(f);
    if (fd >= 0 && fsync(fd) != 0 && errno != EINVAL)
      st = CORE_ERROR(CORE_ERR_IO, "%s: cannot flush to disk: %s", f->path, strerror(errno));
    quiet_end(&q);
  }
  return core_agree(f->comm, st);
}

core_status io_h5_reserve(io_h5 *f) {
  core_status st = CORE_OK;
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hsize_t size = 0;
    if (H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0 || H5Fget_filesize(f->file, &size) < 0) {
      st = h5_fail(f, "flush");
    } else {
      int fd = root_fd(f);
      int err = fd >= 0 ? posix_fallocate(fd, 0, (off_t)size) : 0;
      /* File systems without block reservation (EOPNOTSUPP, EINVAL) get
       * their blocks on first write instead; a full disk is refused now. */
      if (err == ENOSPC || err == EFBIG || err == EDQUOT)
        st = CORE_ERROR(CORE_ERR_IO, "%s: cannot reserve %.1f MB for the dataset: %s", f->path, (double)size / 1e6,
                        strerror(err));
    }
    quiet_end(&q);
  }
  return core_agree(f->comm, st);
}

core_status io_h5_close(io_h5 **file) {
  if (!file || !*file) return CORE_OK;
  io_h5 *f = *file;
  core_status st = CORE_OK;
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    if (H5Fclose(f->file) < 0) st = h5_fail(f, "close");
    quiet_end(&q);
  }
  st = core_agree(f->comm, st);
  free(f);
  *file = NULL;
  return st;
}

core_status io_h5_attr_read_int64(io_h5 *f, const char *object, const char *name, int count, int64_t *values,
                                  int *found) {
  core_status st = CORE_OK;
  int64_t have = 0;
  if (count < 1) st = CORE_ERROR(CORE_ERR_ARG, "%s: attribute %s: count %d < 1", f->path, name, count);
  st = core_agree(f->comm, st);
  if (st) return st;
  if (f->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    htri_t exists = H5Aexists_by_name(f->file, object, name, H5P_DEFAULT);
    hid_t attr = exists > 0 ? H5Aopen_by_name(f->file, object, name, H5P_DEFAULT, H5P_DEFAULT) : -1;
    if (exists < 0) {
      H5Eclear2(H5E_DEFAULT);
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no object %s for attribute %s", f->path, object, name);
    } else if (exists > 0) {
      hid_t type = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
      const hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
      if (attr < 0 || type < 0 || H5Tget_class(type) != H5T_INTEGER || n != count ||
          H5Aread(attr, H5T_NATIVE_INT64, values) < 0) {
        H5Eclear2(H5E_DEFAULT);
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: attribute %s on %s is not %d integer%s", f->path, name, object, count,
                        count == 1 ? "" : "s");
      } else {
        have = 1;
      }
      if (type >= 0) H5Tclose(type);
      if (space >= 0) H5Sclose(space);
    }
    if (attr >= 0) H5Aclose(attr);
    quiet_end(&q);
  }
  CORE_CALL(core_agree(f->comm, st));
  if (MPI_Bcast(&have, 1, MPI_INT64_T, 0, f->comm) != MPI_SUCCESS ||
      (have && MPI_Bcast(values, count, MPI_INT64_T, 0, f->comm) != MPI_SUCCESS))
    return CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Bcast of attribute %s failed", f->path, name);
  *found = (int)have;
  return CORE_OK;
}

/* H5Aiterate2 callback of io_h5_attrs_copy: one attribute, type, shape
 * and bytes as they are. */
typedef struct {
  hid_t to;
  const char *const *skip;
  int n_skip;
  const char *failed; /* the attribute that could not be copied */
} attrs_copy_ctx;

static herr_t attr_copy_one(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  (void)info;
  attrs_copy_ctx *ctx = data;
  for (int k = 0; k < ctx->n_skip; ++k)
    if (strcmp(name, ctx->skip[k]) == 0) return 0;
  hid_t attr = H5Aopen(loc, name, H5P_DEFAULT);
  hid_t type = attr >= 0 ? H5Aget_type(attr) : -1, space = attr >= 0 ? H5Aget_space(attr) : -1;
  herr_t err = attr < 0 || type < 0 || space < 0 ? -1 : 0;
  void *buffer = NULL;
  if (!err) {
    /* A variable-length string is read as a char * and written back as one. */
    const size_t size = H5Tis_variable_str(type) > 0 ? sizeof(char *) : H5Tget_size(type);
    const hssize_t n = H5Sget_simple_extent_npoints(space);
    buffer = n >= 0 && size > 0 ? calloc((size_t)(n > 0 ? n : 1), size) : NULL;
    if (!buffer || H5Aread(attr, type, buffer) < 0) err = -1;
    if (!err && H5Aexists(ctx->to, name) > 0 && H5Adelete(ctx->to, name) < 0) err = -1;
    hid_t out = err ? -1 : H5Acreate2(ctx->to, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (out < 0 || H5Awrite(out, type, buffer) < 0) err = -1;
    if (out >= 0) H5Aclose(out);
    if (buffer && H5Tis_variable_str(type) > 0) H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
  }
  free(buffer);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  if (attr >= 0) H5Aclose(attr);
  if (err) ctx->failed = name;
  return err ? -1 : 0;
}

core_status io_h5_attrs_copy(io_h5 *from, io_h5 *to, const char *object, const char *const *skip, int n_skip) {
  core_status st = CORE_OK;
  if (from->comm != to->comm && from->rank != to->rank)
    st = CORE_ERROR(CORE_ERR_ARG, "%s, %s: attributes copied between files of different ranks", from->path, to->path);
  st = core_agree(from->comm, st);
  if (st) return st;
  if (from->rank == 0) {
    h5_quiet q;
    quiet_begin(&q);
    hid_t src = H5Oopen(from->file, object, H5P_DEFAULT), dst = H5Oopen(to->file, object, H5P_DEFAULT);
    if (src < 0 || dst < 0) {
      H5Eclear2(H5E_DEFAULT);
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no object %s to copy attributes %s", src < 0 ? from->path : to->path,
                      object, src < 0 ? "from" : "to");
    } else {
      attrs_copy_ctx ctx = {dst, skip, n_skip, NULL};
      hsize_t at = 0;
      if (H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &at, attr_copy_one, &ctx) < 0) {
        char what[4800];
        snprintf(what, sizeof what, "copy attribute %.200s of %.200s from %.4096s", ctx.failed ? ctx.failed : "?",
                 object, from->path);
        st = h5_fail(to, what);
      }
    }
    if (src >= 0) H5Oclose(src);
    if (dst >= 0) H5Oclose(dst);
    quiet_end(&q);
  }
  return core_agree(from->comm, st);
}
