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

typedef struct {
  PetscInt lattice, bc, law, algorithm, L, therm, sweeps, replicas, seed, instance, blocks, pt_temps, pt_adapt;
  PetscReal beta, field, pt_beta_min;
  PetscBool cold, split, replicas_set;
} mc_args;

static PetscErrorCode read_options(mc_args *a, PetscBool given[6]) {
  const char *const *lattices = spin_lattice_kind_names, *const *bcs = spin_boundary_names;
  a->lattice = SPIN_SQUARE, a->bc = SPIN_PERIODIC, a->law = SPIN_COUPLING_UNIFORM, a->algorithm = MC_METROPOLIS;
  a->L = 16, a->therm = 1000, a->sweeps = 10000, a->replicas = 16, a->blocks = 20;
  a->beta = 0.4406868, a->pt_beta_min = 0.1;
  PetscBool set;
  enum { FIELD, COLD, SWEEPS, PT, PT_BETA, PT_ADAPT };
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss mc options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-lattice", "lattice", lattices, SPIN_LATTICE_KIND_COUNT, &a->lattice, &set));
  PetscCall(app_opt_int(po, "-L", "linear size", 2, PETSC_MAX_INT, &a->L, &set));
  PetscCall(app_opt_enum(po, "-bc", "boundary condition (cubic: periodic only)", bcs, SPIN_BOUNDARY_COUNT, &a->bc,
                         &set));
  PetscCall(app_opt_enum(po, "-couplings", "coupling law of J_ij", spin_coupling_names, SPIN_COUPLING_COUNT, &a->law,
                         &set));
  PetscCall(app_opt_int(po, "-instance", "instance number: couplings are a function of (seed, instance)", 0,
                        PETSC_MAX_INT, &a->instance, &set));
  PetscCall(app_opt_real(po, "-beta", "inverse temperature (tempering: the coldest)", 0, APP_BETA_MAX, 0, &a->beta,
                         &set));
  PetscCall(app_opt_real(po, "-field", "uniform field", -1000, 1000, 0, &a->field, &given[FIELD]));
  PetscCall(app_opt_enum(po, "-algorithm", "single-spin update", mc_algorithm_names, MC_ALGORITHM_COUNT,
                         &a->algorithm, &set));
  PetscCall(app_opt_int(po, "-therm", "sweeps discarded before measuring", 0, PETSC_MAX_INT, &a->therm, &set));
  PetscCall(app_opt_int(po, "-sweeps", "measured sweeps (at least -blocks)", 1, PETSC_MAX_INT, &a->sweeps,
                        &given[SWEEPS]));
  PetscCall(app_opt_int(po, "-replicas", "independent replicas (sharded over ranks; 16 per rank fill the SIMD lanes; "
                        "-split: default 2)", 1, PETSC_MAX_INT, &a->replicas, &a->replicas_set));
  PetscCall(app_opt_int(po, "-seed", "random seed", 0, PETSC_MAX_INT, &a->seed, &set));
  PetscCall(app_opt_int(po, "-blocks", "jackknife blocks of the measured series", 2, PETSC_MAX_INT, &a->blocks, &set));
  PetscCall(app_opt_bool(po, "-cold", "start every replica from all spins up", &a->cold, &given[COLD]));
  PetscCall(app_opt_bool(po, "-split", "every replica's lattice split across the ranks in slabs (PETSc DMDA, "
                         "fftw3-mpi overlaps); the same run on any number of ranks", &a->split, &set));
  PetscCall(app_opt_int(po, "-pt_temperatures", "parallel tempering: temperatures over the ranks, 0 (off) or >= 2; "
                        "observables are measured at the coldest, -beta", 0, PETSC_MAX_INT, &a->pt_temps, &given[PT]));
  PetscCall(app_opt_real(po, "-pt_beta_min", "parallel tempering: hottest inverse temperature, <= -beta", 0,
                         APP_BETA_MAX, 1, &a->pt_beta_min, &given[PT_BETA]));
  PetscCall(app_opt_int(po, "-pt_adapt", "parallel tempering: retune the ladder every this many thermalisation "
                        "sweeps (0: fixed geometric ladder)", 0, PETSC_MAX_INT, &a->pt_adapt, &given[PT_ADAPT]));
  PetscOptionsEnd();
  return 0;
}

static PetscErrorCode mc_options(void *opts) {
  mc_args *a = opts;
  PetscBool given[6] = {PETSC_FALSE};
  enum { FIELD, COLD, SWEEPS, PT, PT_BETA, PT_ADAPT };
  PetscCall(read_options(a, given));
  /* Three modes: replica chains (default), parallel tempering
   * (-pt_temperatures K >= 2) and one lattice split over the ranks
   * (-split). Options of another mode are refused. */
  if (a->lattice == SPIN_CUBIC && a->bc == SPIN_OPEN)
    app_option_error("-bc", "cubic lattices are periodic only; give -bc periodic or leave -bc out");
  if (a->sweeps < a->blocks)
    app_option_error(given[SWEEPS] ? "-sweeps" : "-blocks", "needs -sweeps >= -blocks (here %d < %d)",
                     (int)a->sweeps, (int)a->blocks);
  if (a->pt_temps == 1) app_option_error("-pt_temperatures", "expected 0 (off) or an integer >= 2");
  const int max_L = a->lattice == SPIN_CUBIC ? SPIN_CUBIC_MAX_L : SPIN_SQUARE_MAX_L;
  if (a->L > max_L)
    app_option_error("-L", "expected an integer from 2 to %d for a %s lattice", max_L,
                     spin_lattice_kind_names[a->lattice]);
  /* Metropolis accepts every flip at beta = 0 and, in float32, every flip
   * below beta ~ 1e-8: each sweep then flips all spins, a deterministic
   * two-state cycle; up to beta ~ 0.01 it is nearly so. Heat bath mixes at
   * every temperature. */
  if (a->algorithm == MC_METROPOLIS && (a->beta < 0.01 || (a->pt_temps >= 2 && a->pt_beta_min < 0.01)))
    app_option_error(a->beta < 0.01 ? "-beta" : "-pt_beta_min", "Metropolis below beta = 0.01 flips nearly every spin "
                     "at every sweep and barely mixes; use -algorithm heatbath");
  if (a->pt_temps >= 2 && a->pt_adapt > a->therm)
    app_option_error("-pt_adapt", "the ladder is retuned every N thermalisation sweeps, so N must be <= -therm (%d)",
                     (int)a->therm);
  if (a->split) {
    if (given[FIELD]) app_option_error("-split", "does not combine with -field (the split sweep has no field)");
    if (given[COLD]) app_option_error("-split", "does not combine with -cold");
    if (a->bc == SPIN_PERIODIC && a->L % 2)
      app_option_error("-L", "-split on a periodic lattice needs an even L (the checkerboard wraps around), got %d",
                       (int)a->L);
    if (given[PT]) app_option_error("-split", "does not combine with -pt_temperatures");
  }
  if (a->pt_temps >= 2) {
    if (a->replicas_set)
      app_option_error("-pt_temperatures", "does not combine with -replicas (each temperature is one chain)");
    if (given[COLD]) app_option_error("-pt_temperatures", "does not combine with -cold");
    if (a->pt_beta_min > a->beta) app_option_error("-pt_beta_min", "needs -pt_beta_min <= -beta (%g)", (double)a->beta);
  } else {
    const char *why = "applies only to parallel tempering; add -pt_temperatures K (K >= 2)";
    app_option_inapplicable("-pt_beta_min", given[PT_BETA], why);
    app_option_inapplicable("-pt_adapt", given[PT_ADAPT], why);
  }
  return 0;
}

static int mc_main(void *opts) {
  const mc_args *a = opts;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  spin_lattice lat;
  core_status st = core_agree(MPI_COMM_WORLD, spin_lattice_init(&lat, a->lattice ? SPIN_CUBIC : SPIN_SQUARE,
                                                                 a->bc ? SPIN_PERIODIC : SPIN_OPEN, (int)a->L));
  if (st) return app_report("mc", st);
  const mc_run_options run = {.lat = &lat, .law = (spin_coupling_law)a->law, .seed = (uint64_t)a->seed,
                              .instance = (uint64_t)a->instance,
                              .algorithm = a->algorithm ? MC_HEATBATH : MC_METROPOLIS, .beta = a->beta,
                              .field = a->field, .therm = a->therm, .sweeps = a->sweeps, .blocks = (int)a->blocks,
                              .progress = rank == 0 ? stderr : NULL};
  mc_run_result res;
  if (a->split) {
    st = mc_run_split(MPI_COMM_WORLD, &run, a->replicas_set ? (int)a->replicas : 2, &res);
  } else if (a->pt_temps > 0) {
    const int temps = (int)a->pt_temps;
    double *betas = malloc(sizeof(double) * (size_t)temps), *rates = malloc(sizeof(double) * (size_t)temps);
    st = core_agree(MPI_COMM_WORLD, betas && rates ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the ladder"));
    if (!st) st = mc_run_tempering(MPI_COMM_WORLD, &run, temps, a->pt_beta_min, (int)a->pt_adapt, &res, betas, rates);
    if (!st && rank == 0) print_tempering(&res, temps, betas, rates);
    free(betas), free(rates);
    return st ? app_report("mc", st) : 0;
  } else {
    if (rank == 0)
      fprintf(stderr, "eloss mc: %s L=%d %s, %s couplings (seed %d, instance %d), beta=%g field=%g, %s, %d+%d sweeps, "
              "%d replicas on %d rank%s\n", spin_lattice_kind_names[a->lattice], (int)a->L,
              spin_boundary_names[a->bc], spin_coupling_names[a->law], (int)a->seed, (int)a->instance,
              (double)a->beta, (double)a->field, mc_algorithm_names[a->algorithm], (int)a->therm, (int)a->sweeps,
              (int)a->replicas, size, size == 1 ? "" : "s");
    st = mc_run_replicas(MPI_COMM_WORLD, &run, (int)a->replicas, a->cold, &res);
  }
  if (!st && rank == 0) {
    print_estimates(res.est, res.count);
    printf("ns_per_update=%.4g\n", res.ns_per_update);
  }
  return st ? app_report("mc", st) : 0;
}

const app_command app_mc_command = {
    .name = "mc",
    .summary = "Metropolis / heat-bath Monte Carlo of a spin system, replicas over ranks",
    .help = help,
    .size = sizeof(mc_args),
    .options = mc_options,
    .run = mc_main,
};
