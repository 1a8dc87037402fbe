#define _POSIX_C_SOURCE 200809L
/* eloss molcheck: EDM's atom and molecule stability of the molecules of
 * an XYZ file (eloss/molecule.h has the definition and its source).
 *
 *   eloss molcheck -in molecules.xyz [-csv per_molecule.csv] [-force]
 *
 * Prints molecules=<N> atoms=<A> atom_stability=<f> mol_stability=<f>;
 * -csv writes one row per molecule: index, atoms, stable_atoms, stable,
 * formula. The data are small, so every rank checks every molecule and
 * rank 0 prints and writes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/molecule.h"

static const char help[] =
    "eloss molcheck: the stability metric of EDM (Hoogeboom et al. 2022) on the molecules of a multi-frame XYZ\n"
    "file (elements H, C, N, O, F). Every pair of atoms gets a bond order 0..3 from its distance and EDM's\n"
    "tables of single, double and triple bond lengths (margins 10, 5, 3 pm); an atom is stable when its\n"
    "orders add up to its valence (H 1, C 4, N 3, O 2, F 1), a molecule when all its atoms are.\n"
    "Prints molecules=<N> atoms=<A> atom_stability=<stable atoms / atoms> mol_stability=<stable molecules / N>;\n"
    "-csv writes one row per molecule: index, atoms, stable_atoms, stable, formula.\n";

/* The per-molecule table, atomically (rank 0). */
static core_status write_csv(const char *path, const io_molecules *mol, const molecule_result *per) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  fprintf(f.fp, "index,atoms,stable_atoms,stable,formula\n");
  for (int64_t b = 0; b < mol->count; ++b) {
    char formula[MOLECULE_FORMULA_MAX];
    const core_status st = molecule_formula(mol->natoms[b], mol->element + b * mol->max_atoms, formula, sizeof formula);
    if (st) {
      io_atomic_abort(&f);
      return st;
    }
    fprintf(f.fp, "%lld,%lld,%lld,%d,%s\n", (long long)b, (long long)per[b].atoms, (long long)per[b].stable_atoms,
            per[b].stable, formula);
  }
  return io_atomic_commit(&f);
}

typedef struct {
  char in[PETSC_MAX_PATH_LEN], csv[PETSC_MAX_PATH_LEN];
  PetscBool csv_set, force;
} molcheck_args;

static PetscErrorCode molcheck_options(void *opts) {
  molcheck_args *a = opts;
  PetscBool in_set, set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss molcheck options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-in", "molecules, multi-frame XYZ (Angstrom), required", "a file name", a->in,
                           sizeof a->in, &in_set));
  PetscCall(app_opt_string(po, "-csv", "per-molecule results: index, atoms, stable_atoms, stable, formula",
                           "a file name", a->csv, sizeof a->csv, &a->csv_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -csv", &a->force, &set));
  PetscOptionsEnd();
  if (!in_set) app_option_error("-in", "required: the molecules (XYZ)");
  const char *inputs[] = {a->in};
  app_output_not_input("-csv", a->csv, inputs, 1);
  app_output_name("-csv", a->csv);
  return 0;
}

static int molcheck_main(void *opts) {
  const molcheck_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  io_molecules mol = {0};
  int *bond_sum = NULL;
  molecule_result *per = NULL;
  molecule_summary sum;
  core_status st = CORE_OK;
  /* An existing table is kept unless -force, and an unwritable one is
   * refused, before the input is read. */
  if (rank == 0 && a->csv_set && !a->force && access(a->csv, F_OK) == 0)
    st = CORE_ERROR(CORE_ERR_ARG, "%s already exists; pass -force to replace it, or choose another -csv", a->csv);
  if (!st && rank == 0 && a->csv_set) st = io_output_check(a->csv);
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st) st = io_xyz_read(a->in, &mol);
  if (!st) {
    bond_sum = malloc(sizeof(int) * (size_t)(mol.count * mol.max_atoms));
    per = malloc(sizeof(molecule_result) * (size_t)mol.count);
    if (!bond_sum || !per)
      st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate the results of %lld molecules", a->in, (long long)mol.count);
  }
  if (!st) {
    st = molecule_check_batch(mol.count, mol.max_atoms, mol.natoms, mol.element, mol.coords, bond_sum, per, &sum);
    if (st) {
      char why[600];
      snprintf(why, sizeof why, "%s", core_error_message());
      st = CORE_ERROR(st, "%s: %s", a->in, why);
    }
  }
  if (!st && rank == 0 && a->csv_set) st = write_csv(a->csv, &mol, per);
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st && rank == 0)
    printf("molecules=%lld atoms=%lld atom_stability=%.9g mol_stability=%.9g\n", (long long)sum.molecules,
           (long long)sum.atoms, sum.atom_stability, sum.molecule_stability);
  free(bond_sum);
  free(per);
  io_molecules_free(&mol);
  return st ? app_report("molcheck", st) : 0;
}

const app_command app_molcheck_command = {
    .name = "molcheck",
    .summary = "EDM's atom and molecule stability of the molecules of an XYZ file",
    .help = help,
    .size = sizeof(molcheck_args),
    .options = molcheck_options,
    .run = molcheck_main,
};
