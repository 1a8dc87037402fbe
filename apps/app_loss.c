/* eloss loss: one atomistic loss and its gradient on arrays from files.
 *
 *   eloss loss -pred P.npy -ref R.npy -loss energy -coeff exp_dist \
 *              -edges complete -grad_out G.npy [-repeat 100]
 *
 * Prints loss=<%.17g> (and ms_per_eval=<ms> with -repeat). Structures are
 * sharded over the ranks of MPI_COMM_WORLD; every rank reads only its rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/atoms.h"
#include "eloss/io.h"

static const char help[] =
    "eloss loss: the paper's atomistic energy loss (Eq. 7) or a baseline, with its\n"
    "gradient with respect to the prediction, on (B,N,d) .npy arrays or XYZ files.\n"
    "Structures are sharded over MPI ranks; the result does not depend on their number.\n";

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

typedef struct {
  char pred[PETSC_MAX_PATH_LEN], ref[PETSC_MAX_PATH_LEN], grad[PETSC_MAX_PATH_LEN], natoms[PETSC_MAX_PATH_LEN];
  char edges[PETSC_MAX_PATH_LEN];
  PetscInt loss, coeff, precision, degree, pool, seed, repeat, preset;
  PetscReal k0, dmin, bond_tolerance;
  PetscBool per_atom;
  PetscBool pred_set, ref_set, loss_set, preset_set, coeff_set, k0_set, per_atom_set, dmin_set, edges_set, degree_set, pool_set, seed_set,
      tol_set;
} loss_args;

static PetscErrorCode read_options(loss_args *a) {
  static const char *const precisions[] = {"double", "single"};
  PetscBool set;
  snprintf(a->edges, sizeof a->edges, "complete");
  a->loss = ATOMS_LOSS_ENERGY, a->coeff = ATOMS_COEFF_CONSTANT, a->pool = 100;
  a->k0 = 1.0, a->dmin = 1e-6, a->bond_tolerance = 0.45;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss loss options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-pred", "prediction: (B,N,d) .npy (float32/64, d = 2 or 3) or .xyz, required",
                           "a file name", a->pred, sizeof a->pred, &a->pred_set));
  PetscCall(app_opt_string(po, "-ref", "reference, same shape as -pred, required", "a file name", a->ref,
                           sizeof a->ref, &a->ref_set));
  PetscCall(app_opt_enum(po, "-loss", "loss function", atoms_loss_names, ATOMS_LOSS_COUNT, &a->loss, &a->loss_set));
  PetscCall(app_opt_enum(po, "-preset", "a training loss of eloss shapes and train -task denoise by name, in place of "
                         "-loss and -edges (-coeff then defaults to exp_dist)", atoms_preset_names, ATOMS_PRESET_COUNT,
                         &a->preset, &a->preset_set));
  PetscCall(app_opt_enum(po, "-coeff", "energy loss: Eq. 7 coefficient law k(d)", atoms_coeff_names,
                         ATOMS_COEFF_COUNT, &a->coeff, &a->coeff_set));
  PetscCall(app_opt_real(po, "-k0", "energy loss: global scale of every coefficient", 0, INFINITY, 1, &a->k0,
                         &a->k0_set));
  PetscCall(app_opt_bool(po, "-per_atom", "energy loss: divide each structure's energy by its atom count",
                         &a->per_atom, &a->per_atom_set));
  PetscCall(app_opt_real(po, "-coeff_dmin", "energy loss: reference distances below this count as this in k(d)", 0,
                         INFINITY, 1, &a->dmin, &a->dmin_set));
  PetscCall(app_opt_string(po, "-edges", "energy loss: edge set", "complete, regular, bonds or an (E,2) int .npy file",
                           a->edges, sizeof a->edges, &a->edges_set));
  PetscCall(app_opt_int(po, "-degree", "-edges regular: degree k (0: 2 d, the paper's choice)", 0, PETSC_MAX_INT,
                        &a->degree, &a->degree_set));
  PetscCall(app_opt_int(po, "-pool", "-edges regular: graphs pre-generated per atom count", 1, PETSC_MAX_INT,
                        &a->pool, &a->pool_set));
  PetscCall(app_opt_int(po, "-seed", "-edges regular: random seed", 0, PETSC_MAX_INT, &a->seed, &a->seed_set));
  PetscCall(app_opt_real(po, "-bond_tolerance", "-edges bonds: Angstrom added to the covalent radii sum", -INFINITY,
                         INFINITY, 0, &a->bond_tolerance, &a->tol_set));
  PetscCall(app_opt_string(po, "-natoms", "optional (B,) int .npy of atom counts for padded batches", "a file name",
                           a->natoms, sizeof a->natoms, &set));
  PetscCall(app_opt_enum(po, "-precision", "arithmetic of the prediction and gradient", precisions, 2,
                         &a->precision, &set));
  PetscCall(app_opt_string(po, "-grad_out", "write the gradient (B,N,d) .npy here", "a file name", a->grad,
                           sizeof a->grad, &set));
  PetscCall(app_opt_int(po, "-repeat", "time this many evaluations after one warm-up (0: none)", 0, PETSC_MAX_INT,
                        &a->repeat, &set));
  PetscOptionsEnd();
  return 0;
}

/* The edge set -edges names: a kind, or an .npy edge list. */
static atoms_edge_kind edge_kind(const char *edges) {
  atoms_edge_kind kind;
  if (!strcmp(edges, "explicit") || atoms_edges_from_name(edges, &kind)) return ATOMS_EDGES_EXPLICIT;
  return kind;
}

/* -preset: the loss and edge set of a training loss (atoms_preset_table). */
static void apply_preset(loss_args *a) {
  if (!a->preset_set) return;
  const atoms_preset_info *p = &atoms_preset_table[a->preset];
  if (a->loss_set) app_option_error("-loss", "contradicts -preset %s: give one of them", p->name);
  if (a->edges_set) app_option_error("-edges", "contradicts -preset %s: give one of them", p->name);
  a->loss = p->loss;
  snprintf(a->edges, sizeof a->edges, "%s", atoms_edges_names[p->edges]);
  if (!a->coeff_set) a->coeff = ATOMS_COEFF_EXP_DIST;
}

static PetscErrorCode loss_options(void *opts) {
  loss_args *a = opts;
  PetscCall(read_options(a));
  apply_preset(a);
  /* Which options apply: -coeff .. -edges to the energy loss only, and
   * each edge set's parameters to that edge set only. */
  const atoms_edge_kind kind = edge_kind(a->edges);
  if (!app_options_failed() && kind == ATOMS_EDGES_EXPLICIT && !ends_with(a->edges, ".npy"))
    app_option_error("-edges", "expected complete, regular, bonds or an (E,2) int .npy file");
  if (a->loss != ATOMS_LOSS_ENERGY) {
    char why[128];
    snprintf(why, sizeof why, "applies only to -loss energy (this run: -loss %s)", atoms_loss_names[a->loss]);
    const char *energy_only[] = {"-coeff", "-k0", "-per_atom", "-coeff_dmin", "-edges", "-degree", "-pool", "-seed",
                                 "-bond_tolerance"};
    const PetscBool given[] = {a->coeff_set, a->k0_set, a->per_atom_set, a->dmin_set, a->edges_set,
                               a->degree_set, a->pool_set, a->seed_set, a->tol_set};
    for (size_t k = 0; k < sizeof given / sizeof given[0]; ++k) app_option_inapplicable(energy_only[k], given[k], why);
  }
  const char *regular_why = "applies only to -edges regular";
  app_option_inapplicable("-degree", a->degree_set && kind != ATOMS_EDGES_REGULAR, regular_why);
  app_option_inapplicable("-pool", a->pool_set && kind != ATOMS_EDGES_REGULAR, regular_why);
  app_option_inapplicable("-seed", a->seed_set && kind != ATOMS_EDGES_REGULAR, regular_why);
  app_option_inapplicable("-bond_tolerance", a->tol_set && kind != ATOMS_EDGES_BONDS, "applies only to -edges bonds");
  if (!a->pred_set || !a->ref_set) app_option_error(a->pred_set ? "-ref" : "-pred", "required (both -pred and -ref are)");
  const char *inputs[] = {a->pred, a->ref, a->natoms, a->edges};
  app_output_not_input("-grad_out", a->grad, inputs, 4);
  return 0;
}

/* The loss's options; an explicit edge list is read into *edge_list. */
static core_status plan_options(const loss_args *a, const io_structures *ref, atoms_options *opt,
                                int32_t **edge_list) {
  atoms_options_default(opt);
  opt->loss = (atoms_loss_kind)a->loss, opt->coeff = (atoms_coeff_law)a->coeff;
  opt->k0 = a->k0, opt->per_atom = a->per_atom, opt->dmin = a->dmin;
  opt->degree = (int)a->degree, opt->pool = (int)a->pool, opt->seed = (uint64_t)a->seed;
  opt->bond_tolerance = a->bond_tolerance;
  opt->edges = edge_kind(a->edges);
  opt->element = ref->element;
  if (opt->edges == ATOMS_EDGES_BONDS && !ref->element)
    return CORE_ERROR(CORE_ERR_ARG, "-edges bonds needs the elements: give -ref as an .xyz file");
  if (opt->edges != ATOMS_EDGES_EXPLICIT) return CORE_OK;
  int64_t n_vertices;
  core_status st = io_edges_read(a->edges, ref->n_max, edge_list, &opt->n_edges, &n_vertices);
  opt->edge_list = *edge_list;
  return st;
}

static int loss_main(void *opts) {
  const loss_args *a = opts;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  io_structures pred, ref;
  memset(&pred, 0, sizeof pred);
  memset(&ref, 0, sizeof ref);
  int32_t *edge_list = NULL;
  atoms_options opt;
  core_status st = io_structures_read_pair(a->pred, a->ref, a->natoms, size, rank, &pred, &ref);
  if (!st) st = plan_options(a, &ref, &opt, &edge_list);
  st = core_agree(MPI_COMM_WORLD, st);
  atoms_plan *plan = NULL;
  if (!st)
    st = atoms_plan_create(MPI_COMM_WORLD, &opt, ref.batch, ref.b_start, ref.b_count, ref.n_max, ref.d, ref.coords,
                           ref.natoms, &plan);
  const size_t local = (size_t)(ref.b_count * ref.n_max * ref.d) + 1;
  const int single = a->precision == 1;
  void *grad = NULL;
  float *pred_f = NULL;
  if (!st) {
    grad = malloc((single ? sizeof(float) : sizeof(double)) * local);
    if (single && (pred_f = malloc(sizeof(float) * local)))
      for (size_t k = 0; k + 1 < local; ++k) pred_f[k] = (float)pred.coords[k];
    if (!grad || (single && !pred_f)) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the gradient");
  }
  st = core_agree(MPI_COMM_WORLD, st);
  double value = 0, seconds = 0;
  if (!st) st = atoms_plan_time(plan, single ? (const void *)pred_f : pred.coords, single,
                                (int64_t)a->repeat, &value, grad, &seconds);
  /* Finite inputs can still overflow the squares of large coordinates;
   * say so rather than print loss=nan (the value is the same on every rank). */
  if (!st && !isfinite(value))
    st = CORE_ERROR(CORE_ERR_VALUE, "the loss overflowed to %g: coordinates too large for %s precision (scale them "
                    "down)", value, single ? "single" : "double");
  if (!st && a->grad[0])
    st = io_structures_write_gathered(MPI_COMM_WORLD, a->grad, single ? IO_F32 : IO_F64, &ref, grad);
  if (!st && rank == 0) {
    printf("loss=%.17g\n", value);
    if (a->repeat > 0) printf("ms_per_eval=%.6g\n", 1e3 * seconds / (double)a->repeat);
    fflush(stdout);
  }
  atoms_plan_destroy(&plan);
  free(grad);
  free(pred_f);
  free(edge_list);
  io_structures_free(&pred);
  io_structures_free(&ref);
  return st ? app_report("loss", st) : 0;
}

const app_command app_loss_command = {
    .name = "loss",
    .summary = "atomistic loss + gradient on .npy/.xyz arrays (Eq. 7 and baselines)",
    .help = help,
    .size = sizeof(loss_args),
    .options = loss_options,
    .run = loss_main,
};
