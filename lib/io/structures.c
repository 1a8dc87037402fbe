/* Structures sharded over ranks: the rows of a (B, N, d) coordinate array
 * (.npy) or of a multi-frame XYZ file that one rank owns, what `eloss
 * loss` and the bindings read (io.h has the contract). Local: each rank
 * reads its own rows (core_partition of B over size); the gathered write
 * is the one collective. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

void io_structures_free(io_structures *s) {
  free(s->coords);
  free(s->natoms);
  free(s->element);
  memset(s, 0, sizeof *s);
}

core_status io_structures_read(const char *path, int size, int rank, io_structures *s) {
  memset(s, 0, sizeof *s);
  if (ends_with(path, ".xyz")) {
    io_molecules mol;
    CORE_CALL(io_xyz_read(path, &mol));
    s->batch = mol.count, s->n_max = mol.max_atoms, s->d = 3;
    core_partition(s->batch, size, rank, &s->b_count, &s->b_start);
    size_t rows = (size_t)(s->b_count ? s->b_count : 1);
    s->coords = malloc(sizeof(double) * rows * (size_t)(s->n_max * 3));
    s->natoms = malloc(sizeof(int64_t) * rows);
    s->element = malloc(sizeof(int) * rows * (size_t)s->n_max);
    if (!s->coords || !s->natoms || !s->element) {
      io_molecules_free(&mol);
      io_structures_free(s);
      return CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate the molecules", path);
    }
    memcpy(s->coords, mol.coords + s->b_start * s->n_max * 3,
           sizeof(double) * (size_t)(s->b_count * s->n_max * 3));
    memcpy(s->natoms, mol.natoms + s->b_start, sizeof(int64_t) * (size_t)s->b_count);
    memcpy(s->element, mol.element + s->b_start * s->n_max, sizeof(int) * (size_t)(s->b_count * s->n_max));
    io_molecules_free(&mol);
    return CORE_OK;
  }
  io_array info, rows;
  CORE_CALL(io_npy_info(path, &info));
  if (info.ndim != 3 || (info.shape[2] != 2 && info.shape[2] != 3)) {
    char shape[160] = "";
    for (int k = 0; k < info.ndim; ++k) {
      size_t used = strlen(shape);
      snprintf(shape + used, sizeof shape - used, "%s%lld", k ? ", " : "", (long long)info.shape[k]);
    }
    return CORE_ERROR(CORE_ERR_FORMAT, "%s: expected a (B, N, d) array with d = 2 or 3, found shape (%s)",
                      path, shape);
  }
  CORE_CHECK(info.dtype == IO_F64 || info.dtype == IO_F32, CORE_ERR_FORMAT,
             "%s: expected float32 or float64 coordinates, found %s", path, io_dtype_name(info.dtype));
  s->batch = info.shape[0], s->n_max = info.shape[1], s->d = (int)info.shape[2];
  core_partition(s->batch, size, rank, &s->b_count, &s->b_start);
  CORE_CALL(io_npy_read_rows(path, s->b_start, s->b_count, &rows));
  core_status st = io_array_convert(&rows, IO_F64);
  if (st) {
    io_array_free(&rows);
    return st;
  }
  s->coords = rows.data;
  for (int64_t a = 0; a < rows.count; ++a)
    if (!isfinite(s->coords[a])) {
      int64_t per = s->n_max * s->d;
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: non-finite value at structure %lld, atom %lld", path,
                      (long long)(s->b_start + a / per), (long long)(a % per / s->d));
      io_structures_free(s);
      return st;
    }
  return CORE_OK;
}

core_status io_structures_read_natoms(const char *path, io_structures *s) {
  io_array info, a;
  CORE_CALL(io_npy_info(path, &info));
  CORE_CHECK(info.ndim == 1 && info.shape[0] == s->batch &&
                 (info.dtype == IO_I32 || info.dtype == IO_I64),
             CORE_ERR_FORMAT, "%s: expected an int32/int64 array of shape (%lld,)", path,
             (long long)s->batch);
  CORE_CALL(io_npy_read_rows(path, s->b_start, s->b_count, &a));
  free(s->natoms);
  s->natoms = malloc(sizeof(int64_t) * (size_t)(s->b_count ? s->b_count : 1));
  if (!s->natoms) {
    io_array_free(&a);
    return CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate", path);
  }
  core_status st = CORE_OK;
  for (int64_t b = 0; b < s->b_count && !st; ++b) {
    s->natoms[b] = a.dtype == IO_I32 ? ((int32_t *)a.data)[b] : ((int64_t *)a.data)[b];
    if (s->natoms[b] < 0 || s->natoms[b] > s->n_max)
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: structure %lld has %lld atoms, expected 0 to %lld (the arrays' N)", path,
                      (long long)(s->b_start + b), (long long)s->natoms[b], (long long)s->n_max);
  }
  io_array_free(&a);
  return st;
}


core_status io_structures_read_pair(const char *pred_path, const char *ref_path, const char *natoms_path, int size,
                                    int rank, io_structures *pred, io_structures *ref) {
  core_status st = io_structures_read(ref_path, size, rank, ref);
  if (!st) st = io_structures_read(pred_path, size, rank, pred);
  if (!st && (pred->batch != ref->batch || pred->n_max != ref->n_max || pred->d != ref->d))
    return CORE_ERROR(CORE_ERR_ARG, "%s has shape (%lld, %lld, %d) but %s has (%lld, %lld, %d)", pred_path,
                      (long long)pred->batch, (long long)pred->n_max, pred->d, ref_path, (long long)ref->batch,
                      (long long)ref->n_max, ref->d);
  if (!st && natoms_path && natoms_path[0]) st = io_structures_read_natoms(natoms_path, ref);
  if (!st && pred->natoms && ref->natoms)
    for (int64_t b = 0; b < ref->b_count; ++b)
      if (pred->natoms[b] != ref->natoms[b])
        return CORE_ERROR(CORE_ERR_ARG, "%s and %s disagree on the atom count of structure %lld", pred_path,
                          ref_path, (long long)(ref->b_start + b));
  return st;
}

core_status io_structures_write_gathered(MPI_Comm comm, const char *path, io_dtype dtype, const io_structures *layout,
                                         const void *rows) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int single = dtype == IO_F32;
  const size_t elem = single ? sizeof(float) : sizeof(double);
  MPI_Datatype type = single ? MPI_FLOAT : MPI_DOUBLE;
  const int64_t row = layout->n_max * layout->d, total = layout->batch * row;
  int *counts = NULL, *displs = NULL;
  void *all = NULL;
  core_status st = CORE_OK;
  if (dtype != IO_F32 && dtype != IO_F64)
    st = CORE_ERROR(CORE_ERR_ARG, "%s: structures are written as float32 or float64", path);
  else if (total > INT32_MAX)
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "%s: %lld values exceed one MPI message", path, (long long)total);
  if (!st && rank == 0) {
    counts = malloc(sizeof(int) * (size_t)size);
    displs = malloc(sizeof(int) * (size_t)size);
    all = malloc(elem * (size_t)(total ? total : 1));
    if (!counts || !displs || !all) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %lld values", path,
                                                    (long long)total);
    for (int r = 0; !st && r < size; ++r) {
      int64_t n, start;
      core_partition(layout->batch, size, r, &n, &start);
      counts[r] = (int)(n * row);
      displs[r] = (int)(start * row);
    }
  }
  st = core_agree(comm, st);
  if (!st && MPI_Gatherv(rows, (int)(layout->b_count * row), type, all, counts, displs, type, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "%s: gathering the rows failed", path);
  if (!st && rank == 0) {
    const int64_t shape[3] = {layout->batch, layout->n_max, layout->d};
    st = io_npy_write(path, dtype, 3, shape, all);
  }
  free(counts);
  free(displs);
  free(all);
  return core_agree(comm, st);
}
