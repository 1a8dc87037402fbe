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
#include "eloss/spinset.h"

static const char help[] =
    "eloss spingen-merge: join the parts of one spin-glass split (eloss spingen -first I -count K)\n"
    "into one file, equal dataset for dataset to a single eloss spingen run with the same options.\n"
    "Refuses parts of other options, gaps, overlaps and damaged rows; writes atomically.\n";

enum { PARTS_MAX = 4096, PARTS_TEXT = 1 << 20 };

typedef struct {
  char text[PARTS_TEXT], out[PETSC_MAX_PATH_LEN];
  const char *parts[PARTS_MAX];
  int n_parts;
  PetscBool force;
} merge_args;

static PetscErrorCode merge_options(void *opts) {
  merge_args *a = opts;
  PetscBool set, parts_set, out_set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spingen-merge options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-parts", "the parts, comma-separated, in any order, required", "file names",
                           a->text, sizeof a->text, &parts_set));
  PetscCall(app_opt_string(po, "-out", "merged HDF5 file, required", "a file name", a->out, sizeof a->out, &out_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -out", &a->force, &set));
  PetscOptionsEnd();
  if (!parts_set) app_option_error("-parts", "required: the part files, comma-separated");
  const size_t len = strlen(a->text);
  if (parts_set && len && (strstr(a->text, ",,") || a->text[0] == ',' || a->text[len - 1] == ','))
    app_option_error("-parts", "an empty item: expected comma-separated file names");
  for (char *save = NULL, *p = strtok_r(a->text, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
    if (a->n_parts == PARTS_MAX) {
      app_option_error("-parts", "more than %d parts", (int)PARTS_MAX);
      break;
    }
    a->parts[a->n_parts++] = p;
  }
  if (parts_set && a->n_parts == 0) app_option_error("-parts", "names no file");
  if (!out_set) app_option_error("-out", "required: the merged HDF5 file");
  app_output_not_input("-out", a->out, a->parts, a->n_parts);
  app_output_name("-out", a->out);
  return 0;
}

static int merge_main(void *opts) {
  const merge_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int64_t instances = 0;
  core_status st = spinset_merge(MPI_COMM_WORLD, a->n_parts, a->parts, a->out, a->force, &instances);
  if (st) return app_report("spingen-merge", st);
  if (rank == 0) printf("instances=%lld parts=%d out=%s\n", (long long)instances, a->n_parts, a->out);
  return 0;
}

const app_command app_spingen_merge_command = {
    .name = "spingen-merge",
    .summary = "join the parts of a split (spingen -first -count) into one file",
    .help = help,
    .size = sizeof(merge_args),
    .options = merge_options,
    .run = merge_main,
};
