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

int app_loss(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  static const char *const precisions[] = {"double", "single"};
  char pred_path[PETSC_MAX_PATH_LEN] = "", ref_path[PETSC_MAX_PATH_LEN] = "";
  char grad_path[PETSC_MAX_PATH_LEN] = "", natoms_path[PETSC_MAX_PATH_LEN] = "";
  char edges[PETSC_MAX_PATH_LEN] = "complete";
  PetscInt loss = ATOMS_LOSS_ENERGY, coeff = ATOMS_COEFF_CONSTANT, precision = 0, degree = 0, pool = 100, seed = 0,
           repeat = 0;
  PetscReal k0 = 1.0, dmin = 1e-6, bond_tolerance = 0.45;
  PetscBool per_atom = PETSC_FALSE, set, pred_set, ref_set;
  PetscBool coeff_set, k0_set, per_atom_set, dmin_set, edges_set, degree_set, pool_set, seed_set, tol_set;

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss loss options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-pred", "prediction: (B,N,d) .npy (float32/64, d = 2 or 3) or .xyz, required",
                           "a file name", pred_path, sizeof pred_path, &pred_set));
  PetscCall(app_opt_string(po, "-ref", "reference, same shape as -pred, required", "a file name", ref_path,
                           sizeof ref_path, &ref_set));
  PetscCall(app_opt_enum(po, "-loss", "loss function", atoms_loss_names, ATOMS_LOSS_COUNT, &loss, &set));
  PetscCall(app_opt_enum(po, "-coeff", "energy loss: Eq. 7 coefficient law k(d)", atoms_coeff_names,
                         ATOMS_COEFF_COUNT, &coeff, &coeff_set));
  PetscCall(app_opt_real(po, "-k0", "energy loss: global scale of every coefficient", 0, INFINITY, 1, &k0, &k0_set));
  PetscCall(app_opt_bool(po, "-per_atom", "energy loss: divide each structure's energy by its atom count",
                         &per_atom, &per_atom_set));
  PetscCall(app_opt_real(po, "-coeff_dmin", "energy loss: reference distances below this count as this in k(d)", 0,
                         INFINITY, 1, &dmin, &dmin_set));
  PetscCall(app_opt_string(po, "-edges", "energy loss: edge set", "complete, regular, bonds or an (E,2) int .npy file",
                           edges, sizeof edges, &edges_set));
  PetscCall(app_opt_int(po, "-degree", "-edges regular: degree k (0: 2 d, the paper's choice)", 0, PETSC_MAX_INT,
                        &degree, &degree_set));
  PetscCall(app_opt_int(po, "-pool", "-edges regular: graphs pre-generated per atom count", 1, PETSC_MAX_INT, &pool,
                        &pool_set));
  PetscCall(app_opt_int(po, "-seed", "-edges regular: random seed", 0, PETSC_MAX_INT, &seed, &seed_set));
  PetscCall(app_opt_real(po, "-bond_tolerance", "-edges bonds: Angstrom added to the covalent radii sum", -INFINITY,
                         INFINITY, 0, &bond_tolerance, &tol_set));
  PetscCall(app_opt_string(po, "-natoms", "optional (B,) int .npy of atom counts for padded batches", "a file name",
                           natoms_path, sizeof natoms_path, &set));
  PetscCall(app_opt_enum(po, "-precision", "arithmetic of the prediction and gradient", precisions, 2, &precision,
                         &set));
  PetscCall(app_opt_string(po, "-grad_out", "write the gradient (B,N,d) .npy here", "a file name", grad_path,
                           sizeof grad_path, &set));
  PetscCall(app_opt_int(po, "-repeat", "time this many evaluations after one warm-up (0: none)", 0, PETSC_MAX_INT,
                        &repeat, &set));
  PetscOptionsEnd();

  /* Which options apply: -coeff .. -edges to the energy loss only, and
   * each edge set's parameters to that edge set only. */
  const int is_regular = !strcmp(edges, "regular"), is_bonds = !strcmp(edges, "bonds");
  if (!app_options_failed() && strcmp(edges, "complete") && !is_regular && !is_bonds && !ends_with(edges, ".npy"))
    app_option_error("-edges", "expected complete, regular, bonds or an (E,2) int .npy file");
  if (loss != ATOMS_LOSS_ENERGY) {
    char why[128];
    snprintf(why, sizeof why, "applies only to -loss energy (this run: -loss %s)", atoms_loss_names[loss]);
    const char *energy_only[] = {"-coeff", "-k0", "-per_atom", "-coeff_dmin", "-edges", "-degree", "-pool", "-seed",
                                 "-bond_tolerance"};
    const PetscBool given[] = {coeff_set, k0_set, per_atom_set, dmin_set, edges_set, degree_set, pool_set, seed_set,
                               tol_set};
    for (size_t k = 0; k < sizeof given / sizeof given[0]; ++k) app_option_inapplicable(energy_only[k], given[k], why);
  }
  const char *regular_why = "applies only to -edges regular";
  app_option_inapplicable("-degree", degree_set && !is_regular, regular_why);
  app_option_inapplicable("-pool", pool_set && !is_regular, regular_why);
  app_option_inapplicable("-seed", seed_set && !is_regular, regular_why);
  app_option_inapplicable("-bond_tolerance", tol_set && !is_bonds, "applies only to -edges bonds");
  if (!pred_set || !ref_set) app_option_error(pred_set ? "-ref" : "-pred", "required (both -pred and -ref are)");
  const char *inputs[] = {pred_path, ref_path, natoms_path, edges};
  app_output_not_input("-grad_out", grad_path, inputs, 4);

  PetscBool stop;
  int code;
  PetscCall(app_options_check("loss", &stop, &code));
  if (stop) return app_finalize(code);

  core_status st = CORE_OK;
  io_structures pred, ref;
  memset(&pred, 0, sizeof pred);
  memset(&ref, 0, sizeof ref);
  int32_t *edge_list = NULL;
  int64_t n_edges = 0;
  st = io_structures_read(ref_path, size, rank, &ref);
  if (!st) st = io_structures_read(pred_path, size, rank, &pred);
  if (!st && (pred.batch != ref.batch || pred.n_max != ref.n_max || pred.d != ref.d))
    st = CORE_ERROR(CORE_ERR_ARG, "%s has shape (%lld, %lld, %d) but %s has (%lld, %lld, %d)",
                    pred_path, (long long)pred.batch, (long long)pred.n_max, pred.d, ref_path,
                    (long long)ref.batch, (long long)ref.n_max, ref.d);
  if (!st && natoms_path[0]) st = io_structures_read_natoms(natoms_path, &ref);
  if (!st && pred.natoms && ref.natoms)
    for (int64_t b = 0; b < ref.b_count && !st; ++b)
      if (pred.natoms[b] != ref.natoms[b])
        st = CORE_ERROR(CORE_ERR_ARG, "%s and %s disagree on the atom count of structure %lld",
                        pred_path, ref_path, (long long)(ref.b_start + b));

  atoms_options opt;
  atoms_options_default(&opt);
  opt.loss = (atoms_loss_kind)loss;
  opt.coeff = (atoms_coeff_law)coeff;
  opt.k0 = k0;
  opt.per_atom = per_atom;
  opt.dmin = dmin;
  opt.degree = (int)degree;
  opt.pool = (int)pool;
  opt.seed = (uint64_t)seed;
  opt.bond_tolerance = bond_tolerance;
  if (!strcmp(edges, "complete")) {
    opt.edges = ATOMS_EDGES_COMPLETE;
  } else if (is_regular) {
    opt.edges = ATOMS_EDGES_REGULAR;
  } else if (is_bonds) {
    opt.edges = ATOMS_EDGES_BONDS;
    opt.element = ref.element;
    if (!st && !ref.element)
      st = CORE_ERROR(CORE_ERR_ARG, "-edges bonds needs the elements: give -ref as an .xyz file");
  } else { /* an .npy file, checked with the options */
    opt.edges = ATOMS_EDGES_EXPLICIT;
    int64_t n_vertices;
    if (!st) st = io_edges_read(edges, ref.n_max, &edge_list, &n_edges, &n_vertices);
    opt.edge_list = edge_list;
    opt.n_edges = n_edges;
  }
  st = core_agree(MPI_COMM_WORLD, st);

  atoms_plan *plan = NULL;
  if (!st)
    st = atoms_plan_create(MPI_COMM_WORLD, &opt, ref.batch, ref.b_start, ref.b_count, ref.n_max,
                           ref.d, ref.coords, ref.natoms, &plan);

  const int64_t local = ref.b_count * ref.n_max * ref.d;
  const int single = precision == 1;
  void *pred_data = pred.coords, *grad = NULL;
  float *pred_f = NULL;
  if (!st) {
    grad = malloc((single ? sizeof(float) : sizeof(double)) * (size_t)(local ? local : 1));
    if (single) {
      pred_f = malloc(sizeof(float) * (size_t)(local ? local : 1));
      if (pred_f)
        for (int64_t a = 0; a < local; ++a) pred_f[a] = (float)pred.coords[a];
      pred_data = pred_f;
    }
    if (!grad || (single && !pred_f)) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the gradient");
  }
  st = core_agree(MPI_COMM_WORLD, st);

  double value = 0, ms_per_eval = 0;
  for (PetscInt it = 0; !st && it <= repeat; ++it) {
    if (it == 1) {
      MPI_Barrier(MPI_COMM_WORLD);
      ms_per_eval = core_time();
    }
    st = single ? atoms_plan_execute_f32(plan, pred_data, &value, grad)
                : atoms_plan_execute(plan, pred_data, &value, grad);
  }
  /* Finite inputs can still overflow the squares of large coordinates;
   * say so rather than print loss=nan (the value is the same on every rank). */
  if (!st && !isfinite(value))
    st = CORE_ERROR(CORE_ERR_VALUE, "the loss overflowed to %g: coordinates too large for %s precision (scale them "
                    "down)", value, single ? "single" : "double");
  if (!st && repeat > 0) {
    double elapsed = core_time() - ms_per_eval, max_elapsed;
    MPI_Allreduce(&elapsed, &max_elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    ms_per_eval = 1e3 * max_elapsed / (double)repeat;
  }

  if (!st && grad_path[0]) {
    /* Gather the rows to rank 0, which writes the file atomically. */
    const size_t elem = single ? sizeof(float) : sizeof(double);
    MPI_Datatype type = single ? MPI_FLOAT : MPI_DOUBLE;
    int *counts = NULL, *displs = NULL;
    void *all = NULL;
    int64_t total = ref.batch * ref.n_max * ref.d;
    if (total > INT32_MAX)
      st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "-grad_out: %lld values exceed one MPI message",
                      (long long)total);
    if (!st && rank == 0) {
      counts = malloc(sizeof(int) * (size_t)size);
      displs = malloc(sizeof(int) * (size_t)size);
      all = malloc(elem * (size_t)(total ? total : 1));
      if (!counts || !displs || !all) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the gradient");
      for (int r = 0; !st && r < size; ++r) {
        int64_t ln, ls;
        core_partition(ref.batch, size, r, &ln, &ls);
        counts[r] = (int)(ln * ref.n_max * ref.d);
        displs[r] = (int)(ls * ref.n_max * ref.d);
      }
    }
    st = core_agree(MPI_COMM_WORLD, st);
    if (!st) {
      if (MPI_Gatherv(grad, (int)local, type, all, counts, displs, type, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
        st = CORE_ERROR(CORE_ERR_MPI, "gathering the gradient failed");
      if (!st && rank == 0) {
        int64_t shape[3] = {ref.batch, ref.n_max, ref.d};
        st = io_npy_write(grad_path, single ? IO_F32 : IO_F64, 3, shape, all);
      }
      st = core_agree(MPI_COMM_WORLD, st);
    }
    free(counts);
    free(displs);
    free(all);
  }

  if (!st && rank == 0) {
    printf("loss=%.17g\n", value);
    if (repeat > 0) printf("ms_per_eval=%.6g\n", ms_per_eval);
    fflush(stdout);
  }
  int exit_code = st ? app_report("loss", st) : 0;
  atoms_plan_destroy(&plan);
  free(grad);
  free(pred_f);
  free(edge_list);
  io_structures_free(&pred);
  io_structures_free(&ref);
  return app_finalize(exit_code);
}
