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
 * (core time per single-spin update). Ranks own whole replica pairs; the
 * measurements and their estimates are lib/mc's mc_series (rank 0 sums
 * them in replica order, so the printed estimates are the same digits on
 * any number of ranks). Every mode agrees on a status across the ranks
 * before each collective call (fault-injection site "mc.measure": the
 * measurement buffers), so an error on one rank ends all of them with
 * exit code 1. */
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

/* What every mode of the command runs: the instance, the sampler and the
 * measurement plan. */
typedef struct {
  const spin_lattice *lat;
  spin_coupling_law law;
  uint64_t seed, instance;
  mc_algorithm algorithm;
  double beta; /* the measured (tempering: coldest) inverse temperature */
  double field; /* uniform field */
  int therm, sweeps, blocks;
} mc_run;

typedef struct {
  mc_run base;
  int temps, adapt;
  double beta_min;
} tempering_run;

/* Parallel tempering mode: temperatures over the ranks, observables of the
 * coldest temperature, then the ladder and its exchange rates. Returns the
 * exit code. */
static int run_tempering(const tempering_run *run) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const int64_t n = run->base.lat->n_sites;
  double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(run->base.lat));
  double *rates = malloc(sizeof(double) * (size_t)run->temps);
  mc_pt *pt = NULL;
  mc_series *series = NULL; /* the coldest temperature, known on every rank */
  core_status st = J && rates ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the tempering run");
  if (!st) st = spin_couplings_generate(run->base.lat, run->base.law, run->base.seed, run->base.instance, J);
  if (!st) st = mc_series_create(MPI_COMM_SELF, run->base.lat, run->base.sweeps, 1, 0, 1, &series);
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st)
    st = mc_pt_create(MPI_COMM_WORLD, run->base.lat, J, run->base.field, run->temps, run->beta_min, run->base.beta,
                      run->base.algorithm, run->base.seed, run->base.instance, &pt);
  core_progress progress;
  core_progress_start(&progress, "eloss mc tempering sweeps", run->base.therm + run->base.sweeps, rank == 0 ? stderr : NULL);
  double measured = 0;
  for (int t = 0; !st && t < run->base.therm + run->base.sweeps; ++t) {
    const double t0 = core_time();
    mc_pt_sweep(pt);
    if (t >= run->base.therm) measured += core_time() - t0;
    st = mc_pt_exchange(pt);
    if (!st && run->adapt > 0 && t < run->base.therm && (t + 1) % run->adapt == 0) st = mc_pt_adapt(pt);
    if (!st && run->adapt > 0 && t + 1 == run->base.therm) st = mc_pt_adapt(pt); /* rates below cover the measurement */
    if (!st && t >= run->base.therm) {
      mc_series_add(series, 0, mc_pt_energy_at(pt, run->temps - 1), mc_pt_magnetization_at(pt, run->temps - 1));
      /* A series on MPI_COMM_SELF: its status is this rank's alone until
       * agreed, and the next exchange is collective. */
      st = core_agree(MPI_COMM_WORLD, mc_series_next(series));
    }
    core_progress_update(&progress, t + 1);
  }
  mc_estimate est[MC_SERIES_ESTIMATES];
  int count = 0;
  if (!st) st = core_agree(MPI_COMM_WORLD, mc_series_estimate(series, run->base.blocks, est, &count));
  if (!st && rank == 0) print_estimates(est, count);
  double total_time = 0;
  MPI_Allreduce(&measured, &total_time, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  if (!st && rank == 0) {
    const double *betas = mc_pt_betas(pt);
    mc_pt_rates(pt, rates);
    printf("pt_betas=");
    for (int k = 0; k < run->temps; ++k) printf("%s%.6g", k ? "," : "", betas[k]);
    printf("\npt_exchange_rates=");
    for (int k = 0; k + 1 < run->temps; ++k) printf("%s%.3f", k ? "," : "", rates[k]);
    printf("\nns_per_update=%.4g\n", 1e9 * total_time / ((double)run->base.sweeps * run->temps * (double)n));
  }
  int code = st ? app_report("mc", st) : 0;
  mc_pt_destroy(&pt);
  mc_series_destroy(&series);
  free(J), free(rates);
  return code;
}

typedef struct {
  mc_run base;
  int replicas;
} split_run;

/* Split-lattice mode: replicas 0 .. replicas - 1 of the instance, every
 * one spread over all ranks. Returns the exit code. */
static int run_split(const split_run *run) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int R = run->replicas, pairs = R / 2;
  double *energy = malloc(sizeof(double) * (size_t)R), *m = malloc(sizeof(double) * (size_t)R);
  mc_split *sp = NULL;
  mc_series *series = NULL; /* every rank measures every replica */
  core_status st = energy && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the measurements");
  if (!st) st = mc_series_create(MPI_COMM_SELF, run->base.lat, run->base.sweeps, R, 0, R, &series);
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st) st = mc_split_create(MPI_COMM_WORLD, run->base.lat, run->base.law, run->base.seed, run->base.instance, 0, R, run->base.algorithm, &sp);
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st) mc_split_set_beta(sp, run->base.beta);
  core_progress progress;
  core_progress_start(&progress, "eloss mc split sweeps", run->base.therm + run->base.sweeps, rank == 0 ? stderr : NULL);
  double measured = 0;
  const double n = (double)run->base.lat->n_sites;
  const int64_t T = run->base.sweeps;
  for (int t = 0; !st && t < run->base.therm + run->base.sweeps; ++t) {
    /* Time the sweep alone: without the barrier, a rank still measuring
     * would make the others' first halo exchange wait. */
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = core_time();
    st = core_agree(MPI_COMM_WORLD, mc_split_sweep(sp));
    if (!st && t >= run->base.therm) {
      measured += core_time() - t0;
      st = mc_split_measure(sp, energy, m);
      for (int r = 0; !st && r < R; ++r) mc_series_add(series, r, energy[r], m[r]);
      for (int p = 0; !st && p < pairs; ++p) {
        double q, chik;
        st = mc_split_overlap(sp, 2 * p, 2 * p + 1, &q, &chik);
        if (!st) mc_series_add_pair(series, p, q, chik);
      }
      if (!st) st = core_agree(MPI_COMM_WORLD, mc_series_next(series)); /* a series on MPI_COMM_SELF */
    }
    core_progress_update(&progress, t + 1);
  }
  mc_estimate est[MC_SERIES_ESTIMATES];
  int count = 0;
  if (!st) st = core_agree(MPI_COMM_WORLD, mc_series_estimate(series, run->base.blocks, est, &count));
  if (!st && rank == 0) print_estimates(est, count);
  if (!st && rank == 0) {
    /* Wall time of the sweeps times the ranks sharing them. */
    printf("ns_per_update=%.4g\n", 1e9 * measured * size / ((double)T * n * R));
  }
  int code = st ? app_report("mc", st) : 0;
  mc_split_destroy(&sp);
  mc_series_destroy(&series);
  free(energy), free(m);
  return code;
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

  core_status st = CORE_OK;
  spin_lattice lat;
  if (!st) st = spin_lattice_init(&lat, lattice ? SPIN_CUBIC : SPIN_SQUARE, bc ? SPIN_PERIODIC : SPIN_OPEN, (int)L);
  st = core_agree(MPI_COMM_WORLD, st);
  if (st) return app_finalize(app_report("mc", st));
  const mc_run setup = {&lat, (spin_coupling_law)law, (uint64_t)seed, (uint64_t)instance,
                        algorithm ? MC_HEATBATH : MC_METROPOLIS, beta, field, (int)therm, (int)sweeps, (int)blocks};
  if (split) {
    split_run run = {setup, replicas_set ? (int)replicas : 2};
    return app_finalize(run_split(&run));
  }
  if (pt_temps > 0) {
    tempering_run run = {setup, (int)pt_temps, (int)pt_adapt, pt_beta_min};
    return app_finalize(run_tempering(&run));
  }
  if (rank == 0) {
    fprintf(stderr, "eloss mc: %s L=%d %s, %s couplings (seed %d, instance %d), beta=%g field=%g, %s, %d+%d sweeps, %d replicas on %d ranks\n",
            lattices[lattice], (int)L, bcs[bc], laws[law], (int)seed, (int)instance, (double)beta, (double)field,
            algorithms[algorithm], (int)therm, (int)sweeps, (int)replicas, size);
  }

  /* Replicas 2p and 2p+1 form overlap pair p: ranks own whole pairs. */
  const int64_t pairs = (replicas + 1) / 2;
  int64_t my_pairs, first_pair;
  core_partition(pairs, size, rank, &my_pairs, &first_pair);
  const int64_t first = 2 * first_pair;
  int64_t mine = 2 * my_pairs;
  if (first + mine > replicas) mine = replicas - first;
  if (mine < 0) mine = 0;
  const int overlaps = replicas >= 2;
  double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
  mc_chain *chain = NULL;
  mc_overlap *overlap = NULL;
  mc_series *series = NULL;
  if (!J) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the couplings");
  if (!st) st = spin_couplings_generate(&lat, (spin_coupling_law)law, (uint64_t)seed, (uint64_t)instance, J);
  if (!st)
    st = mc_chain_create(&lat, J, field, (int)first, (int)mine, algorithm ? MC_HEATBATH : MC_METROPOLIS,
                         (uint64_t)seed, (uint64_t)instance, &chain);
  if (!st && overlaps) st = mc_overlap_create(&lat, &overlap);
  if (!st && cold) {
    int8_t *up = malloc((size_t)lat.n_sites);
    if (!up) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate a cold start");
    else {
      memset(up, 1, (size_t)lat.n_sites);
      for (int r = 0; r < mine; ++r) mc_chain_set_spins(chain, r, up);
      free(up);
    }
  }
  st = core_agree(MPI_COMM_WORLD, st);
  double measured = 0;
  if (!st) {
    mc_chain_set_beta(chain, beta);
    core_progress progress;
    core_progress_start(&progress, "eloss mc sweeps", therm + sweeps, rank == 0 ? stderr : NULL);
    for (PetscInt t = 0; t < therm; ++t) {
      mc_chain_sweep(chain);
      core_progress_update(&progress, t + 1);
    }
    const double n = (double)lat.n_sites;
    st = mc_series_create(MPI_COMM_WORLD, &lat, sweeps, (int)replicas, (int)first, (int)mine, &series);
    for (PetscInt t = 0; !st && t < sweeps; ++t) {
      double t0 = core_time();
      mc_chain_sweep(chain);
      measured += core_time() - t0;
      mc_series_add_chain(series, chain, overlaps ? overlap : NULL);
      st = mc_series_next(series);
      core_progress_update(&progress, therm + t + 1);
    }
    double total_time;
    MPI_Allreduce(&measured, &total_time, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    mc_estimate est[MC_SERIES_ESTIMATES];
    int count = 0;
    if (!st) st = mc_series_estimate(series, (int)blocks, est, &count);
    if (!st && rank == 0) {
      print_estimates(est, count);
      printf("ns_per_update=%.4g\n", 1e9 * total_time / ((double)sweeps * (double)replicas * n));
    }
  }
  int exit_code = st ? app_report("mc", st) : 0;
  mc_chain_destroy(&chain);
  mc_overlap_destroy(&overlap);
  mc_series_destroy(&series);
  free(J);
  return app_finalize(exit_code);
}
