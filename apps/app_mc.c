/* eloss mc: Monte Carlo of one spin-system instance, replicas sharded over
 * the ranks of MPI_COMM_WORLD.
 *
 *   mpirun -n 2 eloss mc -lattice square -L 16 -bc periodic -couplings ferro \
 *       -beta 0.4407 -algorithm metropolis -therm 1000 -sweeps 10000 -replicas 32
 *
 * Prints one line per observable, <name>=<value> err=<error> (energy per
 * spin, |m|, m^2, Binder ratio; with 2 or more replicas also the overlap of
 * replica pairs (2p, 2p+1): |q|, q^2, its Binder ratio and the spin-glass
 * correlation length; errors from a blocked jackknife over the
 * replica-averaged series), then ns_per_update=<ns> for the measured sweeps
 * (core time per single-spin update). The three modes (replica chains,
 * -pt_temperatures, -split) are lib/mc's mc_run_replicas, mc_run_tempering
 * and mc_run_split; this file parses the options and prints. */
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss mc: Metropolis or heat-bath Monte Carlo of an Edwards-Anderson instance\n"
    "(square or cubic lattice, open or periodic), many replicas sharded over MPI ranks.\n"
    "Every random number is a function of (seed, instance, replica, sweep, site), so the\n"
    "chains do not depend on the number of ranks. Progress goes to stderr.\n";

/* One line per estimate: <name>=<value> err=<error>. */
static void print_estimates(const mc_estimate *est, int count) {
  for (int k = 0; k < count; ++k) printf("%s=%.10g err=%.3g\n", est[k].name, est[k].value, est[k].err);
}

/* Tempering's estimates, ladder and exchange rates (rank 0). */
static void print_tempering(const mc_run_result *res, int temps, const double *betas, const double *rates) {
  print_estimates(res->est, res->count);
  printf("pt_betas=");
  for (int k = 0; k < temps; ++k) printf("%s%.6g", k ? "," : "", betas[k]);
  printf("\npt_exchange_rates=");
  for (int k = 0; k + 1 < temps; ++k) printf("%s%.3f", k ? "," : "", rates[k]);
  printf("\nns_per_update=%.4g\n", res->ns_per_update);
}

int app_mc(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const char *const *lattices = spin_lattice_kind_names, *const *bcs = spin_boundary_names;
  const char *const *laws = spin_coupling_names, *const *algorithms = mc_algorithm_names;
  PetscInt lattice = SPIN_SQUARE, bc = SPIN_PERIODIC, law = SPIN_COUPLING_UNIFORM, algorithm = MC_METROPOLIS;
  PetscInt L = 16, therm = 1000, sweeps = 10000, replicas = 16, seed = 0, instance = 0, blocks = 20;
  PetscReal beta = 0.4406868, field = 0.0;
  PetscBool cold = PETSC_FALSE, replicas_set = PETSC_FALSE, split = PETSC_FALSE, set;
  PetscBool bc_set, field_set, cold_set, split_set, sweeps_set, pt_set, pt_beta_set, pt_adapt_set;
  PetscInt pt_temps = 0, pt_adapt = 0;
  PetscReal pt_beta_min = 0.1;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss mc options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-lattice", "lattice", lattices, SPIN_LATTICE_KIND_COUNT, &lattice, &set));
  PetscCall(app_opt_int(po, "-L", "linear size", 2, PETSC_MAX_INT, &L, &set));
  PetscCall(app_opt_enum(po, "-bc", "boundary condition (cubic: periodic only)", bcs, SPIN_BOUNDARY_COUNT, &bc, &bc_set));
  PetscCall(app_opt_enum(po, "-couplings", "coupling law of J_ij", laws, SPIN_COUPLING_COUNT, &law, &set));
  PetscCall(app_opt_int(po, "-instance", "instance number: couplings are a function of (seed, instance)", 0,
                        PETSC_MAX_INT, &instance, &set));
  PetscCall(app_opt_real(po, "-beta", "inverse temperature (tempering: the coldest)", 0, APP_BETA_MAX, 0, &beta, &set));
  PetscCall(app_opt_real(po, "-field", "uniform field", -1000, 1000, 0, &field, &field_set));
  PetscCall(app_opt_enum(po, "-algorithm", "single-spin update", algorithms, MC_ALGORITHM_COUNT, &algorithm, &set));
  PetscCall(app_opt_int(po, "-therm", "sweeps discarded before measuring", 0, PETSC_MAX_INT, &therm, &set));
  PetscCall(app_opt_int(po, "-sweeps", "measured sweeps (at least -blocks)", 1, PETSC_MAX_INT, &sweeps, &sweeps_set));
  PetscCall(app_opt_int(po, "-replicas", "independent replicas (sharded over ranks; 16 per rank fill the SIMD lanes; "
                        "-split: default 2)", 1, PETSC_MAX_INT, &replicas, &replicas_set));
  PetscCall(app_opt_int(po, "-seed", "random seed", 0, PETSC_MAX_INT, &seed, &set));
  PetscCall(app_opt_int(po, "-blocks", "jackknife blocks of the measured series", 2, PETSC_MAX_INT, &blocks, &set));
  PetscCall(app_opt_bool(po, "-cold", "start every replica from all spins up", &cold, &cold_set));
  PetscCall(app_opt_bool(po, "-split", "every replica's lattice split across the ranks in slabs (PETSc DMDA, "
                         "fftw3-mpi overlaps); the same run on any number of ranks", &split, &split_set));
  PetscCall(app_opt_int(po, "-pt_temperatures", "parallel tempering: temperatures over the ranks, 0 (off) or >= 2; "
                        "observables are measured at the coldest, -beta", 0, PETSC_MAX_INT, &pt_temps, &pt_set));
  PetscCall(app_opt_real(po, "-pt_beta_min", "parallel tempering: hottest inverse temperature, <= -beta", 0,
                         APP_BETA_MAX, 1, &pt_beta_min, &pt_beta_set));
  PetscCall(app_opt_int(po, "-pt_adapt", "parallel tempering: retune the ladder every this many thermalisation "
                        "sweeps (0: fixed geometric ladder)", 0, PETSC_MAX_INT, &pt_adapt, &pt_adapt_set));
  PetscOptionsEnd();

  /* Three modes: replica chains (default), parallel tempering
   * (-pt_temperatures K >= 2) and one lattice split over the ranks
   * (-split). Options of another mode are refused. */
  if (lattice == SPIN_CUBIC && bc == SPIN_OPEN)
    app_option_error("-bc", "cubic lattices are periodic only; give -bc periodic or leave -bc out");
  if (sweeps < blocks)
    app_option_error(sweeps_set ? "-sweeps" : "-blocks", "needs -sweeps >= -blocks (here %d < %d)", (int)sweeps,
                     (int)blocks);
  if (pt_temps == 1) app_option_error("-pt_temperatures", "expected 0 (off) or an integer >= 2");
  {
    const int max_L = lattice == SPIN_CUBIC ? SPIN_CUBIC_MAX_L : SPIN_SQUARE_MAX_L;
    if (L > max_L) app_option_error("-L", "expected an integer from 2 to %d for a %s lattice", max_L,
                                    spin_lattice_kind_names[lattice]);
  }
  /* Metropolis accepts every flip at beta = 0 and, in float32, every flip
   * below beta ~ 1e-8: each sweep then flips all spins, a deterministic
   * two-state cycle; up to beta ~ 0.01 it is nearly so. Heat bath mixes at
   * every temperature. */
  if (algorithm == MC_METROPOLIS && (beta < 0.01 || (pt_temps >= 2 && pt_beta_min < 0.01)))
    app_option_error(beta < 0.01 ? "-beta" : "-pt_beta_min", "Metropolis below beta = 0.01 flips nearly every spin "
                     "at every sweep and barely mixes; use -algorithm heatbath");
  if (pt_temps >= 2 && pt_adapt > therm)
    app_option_error("-pt_adapt", "the ladder is retuned every N thermalisation sweeps, so N must be <= -therm (%d)",
                     (int)therm);
  if (split) {
    if (field_set) app_option_error("-split", "does not combine with -field (the split sweep has no field)");
    if (cold_set) app_option_error("-split", "does not combine with -cold");
    if (bc == SPIN_PERIODIC && L % 2)
      app_option_error("-L", "-split on a periodic lattice needs an even L (the checkerboard wraps around), got %d",
                       (int)L);
    if (pt_set) app_option_error("-split", "does not combine with -pt_temperatures");
  }
  if (pt_temps >= 2) {
    if (replicas_set)
      app_option_error("-pt_temperatures", "does not combine with -replicas (each temperature is one chain)");
    if (cold_set) app_option_error("-pt_temperatures", "does not combine with -cold");
    if (pt_beta_min > beta) app_option_error("-pt_beta_min", "needs -pt_beta_min <= -beta (%g)", (double)beta);
  } else {
    const char *why = "applies only to parallel tempering; add -pt_temperatures K (K >= 2)";
    app_option_inapplicable("-pt_beta_min", pt_beta_set, why);
    app_option_inapplicable("-pt_adapt", pt_adapt_set, why);
  }
  PetscBool stop;
  int code;
  PetscCall(app_options_check("mc", &stop, &code));
  if (stop) return app_finalize(code);

  spin_lattice lat;
  core_status st = core_agree(MPI_COMM_WORLD, spin_lattice_init(&lat, lattice ? SPIN_CUBIC : SPIN_SQUARE,
                                                                 bc ? SPIN_PERIODIC : SPIN_OPEN, (int)L));
  if (st) return app_finalize(app_report("mc", st));
  const mc_run_options run = {.lat = &lat, .law = (spin_coupling_law)law, .seed = (uint64_t)seed,
                              .instance = (uint64_t)instance, .algorithm = algorithm ? MC_HEATBATH : MC_METROPOLIS,
                              .beta = beta, .field = field, .therm = therm, .sweeps = sweeps, .blocks = (int)blocks,
                              .progress = rank == 0 ? stderr : NULL};
  mc_run_result res;
  if (split) {
    st = mc_run_split(MPI_COMM_WORLD, &run, replicas_set ? (int)replicas : 2, &res);
  } else if (pt_temps > 0) {
    double *betas = malloc(sizeof(double) * (size_t)pt_temps), *rates = malloc(sizeof(double) * (size_t)pt_temps);
    st = core_agree(MPI_COMM_WORLD, betas && rates ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the ladder"));
    if (!st) st = mc_run_tempering(MPI_COMM_WORLD, &run, (int)pt_temps, pt_beta_min, (int)pt_adapt, &res, betas, rates);
    if (!st && rank == 0) print_tempering(&res, (int)pt_temps, betas, rates);
    free(betas), free(rates);
    return app_finalize(st ? app_report("mc", st) : 0);
  } else {
    if (rank == 0)
      fprintf(stderr, "eloss mc: %s L=%d %s, %s couplings (seed %d, instance %d), beta=%g field=%g, %s, %d+%d sweeps, "
              "%d replicas on %d ranks\n", lattices[lattice], (int)L, bcs[bc], laws[law], (int)seed, (int)instance,
              (double)beta, (double)field, algorithms[algorithm], (int)therm, (int)sweeps, (int)replicas, size);
    st = mc_run_replicas(MPI_COMM_WORLD, &run, (int)replicas, cold, &res);
  }
  if (!st && rank == 0) {
    print_estimates(res.est, res.count);
    printf("ns_per_update=%.4g\n", res.ns_per_update);
  }
  return app_finalize(st ? app_report("mc", st) : 0);
}
