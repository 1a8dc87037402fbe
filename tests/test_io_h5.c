/* TAP test of the one-writer HDF5 files (lib/io/h5.c) on 1, 2 and 4 ranks:
 * - rows written by each rank's block read back equal under another
 *   partition of the rows, and a string attribute round-trips;
 * - a failure injected on one rank (a refused row range on the last rank,
 *   a failed HDF5 write or flush on the writer) or a genuine bad range on
 *   one rank makes every rank return the same error with the same message,
 *   promptly, and the file stays usable: the next collective write
 *   succeeds on every rank (no rank was left inside a collective);
 * - creating a file in a missing directory fails on every rank alike. */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "eloss/io.h"
#include "tap.h"

enum { ROWS = 23, COLS = 3 };

static double value(int64_t row, int col) { return 1000.0 * (double)row + 2.5 * col + 0.125; }

/* 1 on every rank if every rank got the same status `want` (or any non-OK
 * status when want < 0) and the same message. */
static int same_everywhere(core_status st, int want) {
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int mine = (int)st, lo, hi;
  MPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  unsigned crc = io_crc32(0, core_error_message(), strlen(core_error_message())), crc_lo, crc_hi;
  MPI_Allreduce(&crc, &crc_lo, 1, MPI_UNSIGNED, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&crc, &crc_hi, 1, MPI_UNSIGNED, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi && crc_lo == crc_hi && (want < 0 ? mine != CORE_OK : mine == want);
}

/* Each rank writes its block of rows of dataset "a" under partition
 * `shift` (blocks assigned to ranks rotated by shift). */
static core_status write_block(io_h5 *f, int rank, int size, int shift, int64_t bad_start) {
  int64_t n, start;
  core_partition(ROWS, size, (rank + shift) % size, &n, &start);
  double *rows = malloc(sizeof(double) * (size_t)(n * COLS + 1));
  for (int64_t r = 0; r < n; ++r)
    for (int c = 0; c < COLS; ++c) rows[r * COLS + c] = value(start + r, c);
  core_status st = io_h5_write_rows(f, "a", IO_F64, bad_start >= 0 ? bad_start : start, n, rows);
  free(rows);
  return st;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  tap_mpi_start(14, &rank, &size);
  const int last = size - 1;
  /* A fresh directory under $TMPDIR (or /tmp), made by rank 0, for all. */
  char dir[256], path[300];
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/eloss_h5_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
  if (rank == 0 && !mkdtemp(dir)) dir[0] = '\0';
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  snprintf(path, sizeof path, "%s/t.h5", dir);

  /* A caller's HDF5 error printing (h5py's, say) survives eloss's calls. */
  H5E_auto2_t func_before, func_after;
  void *data_before, *data_after;
  H5Eget_auto2(H5E_DEFAULT, &func_before, &data_before);
  io_h5 *f = NULL;
  core_status st = io_h5_create(MPI_COMM_WORLD, path, &f);
  int64_t shape[2] = {ROWS, COLS};
  if (!st) st = io_h5_dataset_create(f, "a", IO_F64, 2, shape);
  if (!st) st = write_block(f, rank, size, 0, -1);
  if (!st) st = io_h5_attr_string(f, "/", "note", "written by every rank");
  if (!st) st = io_h5_flush(f);
  /* Read back under a rotated partition. */
  int64_t n, start;
  core_partition(ROWS, size, (rank + 1) % size, &n, &start);
  double *got = malloc(sizeof(double) * (size_t)(n * COLS + 1));
  if (!st) st = io_h5_read_rows(f, "a", IO_F64, start, n, got);
  int good = !st;
  for (int64_t r = 0; good && r < n; ++r)
    for (int c = 0; c < COLS; ++c) good &= got[r * COLS + c] == value(start + r, c);
  free(got);
  MPI_Allreduce(MPI_IN_PLACE, &good, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(good, "rows written in one partition read back exactly in another");
  char note[64] = "";
  st = io_h5_attr_read_string(f, "/", "note", note, sizeof note);
  good = !st && !strcmp(note, "written by every rank");
  MPI_Allreduce(MPI_IN_PLACE, &good, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(good, "string attribute round-trips to every rank");

  /* Failures on one rank: every rank returns the same error, then a clean
   * collective write succeeds (nobody is stuck in an earlier collective). */
  struct {
    const char *spec, *what;
    int want;
  } cases[] = {
      {"h5.rows:%d:1", "row range refused on the last rank (write)", CORE_ERR_ARG},
      {"h5.write:0:1", "HDF5 write fails on the writer", CORE_ERR_IO},
      {"h5.flush:0:1", "flush fails on the writer", CORE_ERR_IO},
      {"h5.rows:%d:1", "row range refused on the last rank (read)", CORE_ERR_ARG},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    char spec[64];
    snprintf(spec, sizeof spec, cases[k].spec, last);
    core_fault_configure(spec);
    double t0 = MPI_Wtime();
    if (strstr(cases[k].spec, "flush")) st = io_h5_flush(f);
    else if (k == 3) {
      double row[COLS];
      st = io_h5_read_rows(f, "a", IO_F64, 0, rank == last ? 1 : 0, row);
    } else st = write_block(f, rank, size, 0, -1);
    core_fault_configure(NULL);
    int same = same_everywhere(st, cases[k].want) && strstr(core_error_message(), "injected fault");
    tap_ok(same, "%s: every rank returns \"%s\" (%.2f s)", cases[k].what, core_error_message(), MPI_Wtime() - t0);
    st = write_block(f, rank, size, 1, -1);
    tap_ok(same_everywhere(st, CORE_OK), "%s: the next collective write succeeds on every rank", cases[k].what);
  }
  /* A genuine local error: the last rank asks for rows past the end. */
  st = write_block(f, rank, size, 0, rank == last ? ROWS : -1);
  tap_ok(same_everywhere(st, CORE_ERR_ARG) && strstr(core_error_message(), "outside dataset a"),
         "a bad range on the last rank alone: every rank returns \"%s\"", core_error_message());
  st = io_h5_close(&f);
  tap_ok(same_everywhere(st, CORE_OK) && !f, "close");
  H5Eget_auto2(H5E_DEFAULT, &func_after, &data_after);
  int kept = func_before != NULL && func_after == func_before && data_after == data_before;
  MPI_Allreduce(MPI_IN_PLACE, &kept, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(kept, "HDF5's automatic error printing is the caller's again after every call, failed ones included");

  char missing[400];
  snprintf(missing, sizeof missing, "%s/no/such/dir/t.h5", dir);
  st = io_h5_create(MPI_COMM_WORLD, missing, &f);
  tap_ok(same_everywhere(st, CORE_ERR_IO) && !f && strstr(core_error_message(), missing),
         "create in a missing directory fails on every rank: \"%s\"", core_error_message());

  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) {
    unlink(path);
    rmdir(dir);
  }
  int code = tap_done();
  MPI_Finalize();
  return code;
}
