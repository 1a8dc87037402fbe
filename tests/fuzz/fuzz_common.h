/* Shared by the libFuzzer harnesses of tests/fuzz (meson -Dfuzz=true, clang).
 *
 * fuzz_file(name, data, size): write the fuzz input to a file in /dev/shm
 *   (one per harness and process, overwritten by every input, removed at
 *   exit) and return its path; the readers take paths, and tmpfs keeps the
 *   round trip cheap. fuzz_path(name): that path, for harnesses that build
 *   the file themselves.
 * fuzz_bytes: a cursor over the input for the structured harnesses, which
 *   draw their choices (shapes, dtypes, values) from it; past the end it
 *   yields zeros, so every input decodes to some file.
 * fuzz_mpi_init(): MPI_Init once, for readers that take a communicator
 *   (they get MPI_COMM_SELF).
 *
 * A harness calls the reader, frees what it returned, and never checks the
 * status: any error is a correct answer to a hostile file. A crash, a
 * sanitizer report or a leak is a finding. */
#ifndef ELOSS_FUZZ_COMMON_H
#define ELOSS_FUZZ_COMMON_H

#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <sanitizer/lsan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The file of this process, removed at exit unless ELOSS_FUZZ_KEEP is set
 * (to keep what a crashing input built, for tests/fuzz/regressions). */
static char fuzz_path_buf[256];

static inline void fuzz_unlink(void) {
  if (fuzz_path_buf[0] && !getenv("ELOSS_FUZZ_KEEP")) unlink(fuzz_path_buf);
}

static inline const char *fuzz_path(const char *name) {
  if (!fuzz_path_buf[0]) {
    snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "/dev/shm/eloss-fuzz-%s-%ld", name, (long)getpid());
    atexit(fuzz_unlink);
  }
  return fuzz_path_buf;
}

static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
  const char *path = fuzz_path(name);
  FILE *fp = fopen(path, "wb");
  if (!fp) abort(); /* the harness, not the reader, is broken */
  if (size && fwrite(data, 1, size, fp) != size) abort();
  if (fclose(fp) != 0) abort();
  return path;
}

/* MPI_Init, then one call of each collective the readers use, so that
 * Open MPI's lazily loaded components allocate what they keep for good
 * before the first input (libFuzzer would report it as that input's leak).
 * Each MPI harness also runs one warm-up input from LLVMFuzzerInitialize.
 * LeakSanitizer ignores what this thread allocates in here: Open MPI keeps
 * some of it reachable only from dead stack slots, which a deep enough
 * input later overwrites (fuzz_h5_raw did after 445 inputs), and with the
 * fast unwinding of the HDF5 harnesses the stacks are too short for
 * tests/fuzz/lsan.supp to see that the leak is Open MPI's. No eloss code
 * runs here. */
static inline void fuzz_mpi_init(void) {
  __lsan_disable();
  int done = 0;
  MPI_Initialized(&done);
  if (!done) MPI_Init(NULL, NULL);
  int64_t a[2] = {1, 2}, b[2];
  int one = 1, zero = 0, min = 0;
  MPI_Datatype row;
  MPI_Allreduce(a, b, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_SELF);
  MPI_Allreduce(&one, &min, 1, MPI_INT, MPI_MIN, MPI_COMM_SELF);
  MPI_Bcast(a, 2, MPI_INT64_T, 0, MPI_COMM_SELF);
  MPI_Gather(a, 2, MPI_INT64_T, b, 2, MPI_INT64_T, 0, MPI_COMM_SELF);
  MPI_Type_contiguous(16, MPI_BYTE, &row);
  MPI_Type_commit(&row);
  MPI_Gatherv(a, 1, row, b, &one, &zero, row, 0, MPI_COMM_SELF);
  MPI_Scatterv(a, &one, &zero, row, b, 1, row, 0, MPI_COMM_SELF);
  MPI_Type_free(&row);
  __lsan_enable();
}

typedef struct {
  const uint8_t *p;
  size_t n;
} fuzz_bytes;

static inline uint8_t fuzz_u8(fuzz_bytes *b) {
  if (!b->n) return 0;
  --b->n;
  return *b->p++;
}

static inline uint32_t fuzz_u32(fuzz_bytes *b) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= (uint32_t)fuzz_u8(b) << (8 * k);
  return v;
}

static inline double fuzz_f64(fuzz_bytes *b) {
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v |= (uint64_t)fuzz_u8(b) << (8 * k);
  double d;
  memcpy(&d, &v, sizeof d);
  return d;
}

#endif
