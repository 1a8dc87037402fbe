#define _POSIX_C_SOURCE 200809L
/* eloss spingen-merge: join the parts of one spin-glass split, written by
 * `eloss spingen ... -first I -count K` (a Slurm job array, jobs/
 * submit-spingen), into the file one run over all instances writes.
 *
 *   eloss spingen-merge -parts p0.h5,p1.h5,p2.h5 -out train.h5
 *
 * Every part is checked (same options apart from the range, ranges that
 * tile the split, every row against its checksum) before the merged file
 * is written to <out>.partial, reread, checked and renamed to <out>. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss spingen-merge: join the parts of one spin-glass split (eloss spingen -first I -count K)\n"
    "into one file, equal dataset for dataset to a single eloss spingen run with the same options.\n"
    "Refuses parts of other options, gaps, overlaps and damaged rows; writes atomically.\n";

enum { PARTS_MAX = 4096, PARTS_TEXT = 1 << 20 };

int app_spingen_merge(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  char *text = calloc(PARTS_TEXT, 1), out[PETSC_MAX_PATH_LEN] = "";
  const char **parts = malloc(sizeof *parts * PARTS_MAX);
  if (!text || !parts) {
    fprintf(stderr, "eloss spingen-merge: error: out of memory\n");
    free(text), free(parts);
    return app_finalize(1);
  }
  PetscBool force = PETSC_FALSE, set, parts_set, out_set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spingen-merge options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-parts", "the parts, comma-separated, in any order, required", "file names",
                           text, PARTS_TEXT, &parts_set));
  PetscCall(app_opt_string(po, "-out", "merged HDF5 file, required", "a file name", out, sizeof out, &out_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -out", &force, &set));
  PetscOptionsEnd();
  int n_parts = 0;
  if (!parts_set) app_option_error("-parts", "required: the part files, comma-separated");
  for (char *save = NULL, *p = strtok_r(text, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    if (n_parts == PARTS_MAX) {
      app_option_error("-parts", "more than %d parts", (int)PARTS_MAX);
      break;
    }
    parts[n_parts++] = p;
  }
  if (parts_set && n_parts == 0) app_option_error("-parts", "names no file");
  if (!out_set) app_option_error("-out", "required: the merged HDF5 file");
  PetscBool stop;
  int code;
  PetscCall(app_options_check("spingen-merge", &stop, &code));
  if (!stop) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int64_t instances = 0;
    core_status st = mc_dataset_merge(MPI_COMM_WORLD, n_parts, parts, out, force, &instances);
    code = st ? app_report("spingen-merge", st) : 0;
    if (!st && rank == 0) printf("instances=%lld parts=%d out=%s\n", (long long)instances, n_parts, out);
  }
  free(text), free(parts);
  return app_finalize(code);
}
