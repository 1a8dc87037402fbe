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
 * (core time per single-spin update). Ranks own whole replica pairs; rank
 * 0 sums the measurements in replica order, so the printed estimates are
 * the same digits on any number of ranks. Every mode agrees on a status
 * across the ranks before each collective call (fault-injection site
 * "mc.measure": the measurement buffers), so an error on one rank ends
 * all of them with exit code 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss mc: Metropolis or heat-bath Monte Carlo of an Edwards-Anderson instance\n"
    "(square or cubic lattice, open or periodic), many replicas sharded over MPI ranks.\n"
    "Every random number is a function of (seed, instance, replica, sweep, site), so the\n"
    "chains do not depend on the number of ranks. Progress goes to stderr.\n";

/* Series (4, sweeps) of E/N, |m|, m^2, m^4: add one measurement. */
static void series_add(double *series, int64_t sweeps, int64_t k, double energy_per_spin, double m) {
  series[k] += energy_per_spin;
  series[sweeps + k] += fabs(m);
  series[2 * sweeps + k] += m * m;
  series[3 * sweeps + k] += m * m * m * m;
}

/* One line per estimate: <name>=<value> err=<error>. */
static void print_estimates(const char *const names[4], const double *value, const double *err) {
  for (int k = 0; k < 4; ++k) printf("%s=%.10g err=%.3g\n", names[k], value[k], err[k]);
}

/* Jackknife estimates of the four series; rank 0 prints them. */
static core_status series_report(const double *series, int64_t sweeps, int blocks, int rank) {
  double value[4], err[4];
  core_status st = CORE_OK;
  for (int k = 0; k < 3 && !st; ++k) st = mc_estimate_mean(series + k * sweeps, sweeps, blocks, &value[k], &err[k]);
  if (!st) st = mc_estimate_binder(series + 2 * sweeps, series + 3 * sweeps, sweeps, blocks, &value[3], &err[3]);
  static const char *const names[4] = {"energy_per_spin", "abs_m", "m2", "binder"};
  if (!st && rank == 0) print_estimates(names, value, err);
  return st;
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
  double *series = calloc((size_t)(4 * run->base.sweeps), sizeof(double)); /* E/N, |m|, m^2, m^4 at the coldest */
  double *rates = malloc(sizeof(double) * (size_t)run->temps);
  mc_pt *pt = NULL;
  core_status st = J && series && rates ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the tempering run");
  if (!st) st = spin_couplings_generate(run->base.lat, run->base.law, run->base.seed, run->base.instance, J);
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
    if (t >= run->base.therm)
      series_add(series, run->base.sweeps, t - run->base.therm, mc_pt_energy_at(pt, run->temps - 1) / (double)n,
                 mc_pt_magnetization_at(pt, run->temps - 1));
    core_progress_update(&progress, t + 1);
  }
  if (!st) st = series_report(series, run->base.sweeps, run->base.blocks, rank);
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
  free(J), free(series), free(rates);
  return code;
}

/* Per-sweep measurements of every local replica (4 values) and local
 * pair (5 values), gathered to rank 0 every CHUNK sweeps and added there
 * into the series (9, sweeps) in global replica order: the sums are the
 * same bits whatever the number of ranks, because ranks own consecutive
 * blocks of replicas. */
enum { CHUNK = 256 };
typedef struct {
  double *series;          /* rank 0: the (9, sweeps) sums */
  int64_t sweeps, flushed; /* sweeps measured into the series */
  int row;                 /* values per sweep and rank: 4 mine + 5 (mine / 2) */
  double *local;           /* (CHUNK, row) */
  double *all;             /* rank 0: every rank's (CHUNK, row) blocks */
  int *mine, *counts, *displs; /* per rank: replicas, and doubles sent */
} ordered_sums;

static core_status ordered_sums_create(ordered_sums *o, double *series, int64_t sweeps, int mine) {
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  memset(o, 0, sizeof *o);
  o->series = series, o->sweeps = sweeps, o->row = 4 * mine + 5 * (mine / 2);
  o->local = calloc((size_t)CHUNK * (size_t)(o->row > 0 ? o->row : 1), sizeof(double));
  o->mine = malloc(sizeof(int) * (size_t)size);
  o->counts = malloc(sizeof(int) * (size_t)size), o->displs = malloc(sizeof(int) * (size_t)size);
  core_status st = CORE_OK;
  if (!o->local || !o->mine || !o->counts || !o->displs || core_fault("mc.measure"))
    st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the sums");
  /* Agree before the gather: a rank that returned here alone would leave
   * the others waiting in it. */
  CORE_CALL(core_agree(MPI_COMM_WORLD, st));
  CORE_CHECK(MPI_Allgather(&mine, 1, MPI_INT, o->mine, 1, MPI_INT, MPI_COMM_WORLD) == MPI_SUCCESS, CORE_ERR_MPI,
             "MPI_Allgather failed");
  int64_t total = 0;
  for (int r = 0; r < size; ++r)
    o->displs[r] = (int)total, total += o->counts[r] = CHUNK * (4 * o->mine[r] + 5 * (o->mine[r] / 2));
  if (rank == 0) o->all = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
  CORE_CHECK(rank != 0 || o->all, CORE_ERR_MEM, "cannot allocate the sums");
  return CORE_OK;
}

/* Where this rank writes sweep t's values. */
static double *ordered_sums_row(ordered_sums *o, int64_t t) {
  double *row = o->local + (t - o->flushed) * o->row;
  memset(row, 0, sizeof(double) * (size_t)o->row);
  return row;
}

/* After sweep done - 1: gather and add when the chunk is full or last. */
static core_status ordered_sums_flush(ordered_sums *o, int64_t done) {
  if (done - o->flushed < CHUNK && done < o->sweeps) return CORE_OK;
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int err = MPI_Gatherv(o->local, CHUNK * o->row, MPI_DOUBLE, o->all, o->counts, o->displs, MPI_DOUBLE, 0,
                              MPI_COMM_WORLD);
  /* Every rank leaves the measurement loop together or not at all. */
  CORE_CALL(core_agree(MPI_COMM_WORLD,
                       err == MPI_SUCCESS ? CORE_OK : CORE_ERROR(CORE_ERR_MPI, "gathering the measurements failed")));
  const int64_t T = o->sweeps;
  for (int q = 0; rank == 0 && q < size; ++q) {
    const double *block = o->all + o->displs[q];
    const int m = o->mine[q], row = 4 * m + 5 * (m / 2);
    for (int64_t t = o->flushed; t < done; ++t) {
      const double *v = block + (t - o->flushed) * row;
      for (int r = 0; r < m; ++r)
        for (int j = 0; j < 4; ++j) o->series[j * T + t] += v[4 * r + j];
      for (int p = 0; p < m / 2; ++p)
        for (int j = 0; j < 5; ++j) o->series[(4 + j) * T + t] += v[4 * m + 5 * p + j];
    }
  }
  o->flushed = done;
  return CORE_OK;
}

static void ordered_sums_destroy(ordered_sums *o) {
  free(o->local), free(o->all), free(o->mine), free(o->counts), free(o->displs);
}

/* Series (5, sweeps) of |q|, q^2, q^4, chi(0), chi(k_min): add one pair. */
static void overlap_add(double *series, int64_t sweeps, int64_t k, double n, double q, double chik) {
  series[k] += fabs(q);
  series[sweeps + k] += q * q;
  series[2 * sweeps + k] += q * q * q * q;
  series[3 * sweeps + k] += n * q * q;
  series[4 * sweeps + k] += chik;
}

/* Jackknife estimates of the overlap series; rank 0 prints them. */
static core_status overlap_report(const double *series, int64_t sweeps, int blocks, int L, int rank) {
  double v[4], e[4];
  core_status st = mc_estimate_mean(series, sweeps, blocks, &v[0], &e[0]);
  if (!st) st = mc_estimate_mean(series + sweeps, sweeps, blocks, &v[1], &e[1]);
  if (!st) st = mc_estimate_binder(series + sweeps, series + 2 * sweeps, sweeps, blocks, &v[2], &e[2]);
  if (!st) st = mc_estimate_xi(L, series + 3 * sweeps, series + 4 * sweeps, sweeps, blocks, &v[3], &e[3]);
  static const char *const names[4] = {"abs_q", "q2", "binder_q", "xi_sg"};
  if (!st && rank == 0) print_estimates(names, v, e);
  return st;
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
  enum { NSERIES = 9 }; /* as in the chain mode */
  double *series = calloc((size_t)(NSERIES * run->base.sweeps), sizeof(double));
  double *energy = malloc(sizeof(double) * (size_t)R), *m = malloc(sizeof(double) * (size_t)R);
  mc_split *sp = NULL;
  core_status st = series && energy && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the series");
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
      const int64_t k = t - run->base.therm;
      for (int r = 0; !st && r < R; ++r) series_add(series, T, k, energy[r] / n, m[r]);
      for (int p = 0; !st && p < pairs; ++p) {
        double q, chik;
        st = mc_split_overlap(sp, 2 * p, 2 * p + 1, &q, &chik);
        if (!st) overlap_add(series + 4 * T, T, k, n, q, chik);
      }
      /* Replica and pair averages. */
      for (int j = 0; j < NSERIES; ++j) series[j * T + k] /= j < 4 ? R : (pairs > 0 ? pairs : 1);
    }
    core_progress_update(&progress, t + 1);
  }
  if (!st) st = series_report(series, T, run->base.blocks, rank);
  if (!st && pairs > 0) st = overlap_report(series + 4 * T, T, run->base.blocks, run->base.lat->L, rank);
  if (!st && rank == 0) {
    /* Wall time of the sweeps times the ranks sharing them. */
    printf("ns_per_update=%.4g\n", 1e9 * measured * size / ((double)T * n * R));
  }
  int code = st ? app_report("mc", st) : 0;
  mc_split_destroy(&sp);
  free(series), free(energy), free(m);
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
  /* (9, sweeps) sums: E/N, |m|, m^2, m^4 over replicas; |q|, q^2, q^4,
   * chi(0), chi(k_min) over pairs. */
  enum { NSERIES = 9 };
  double *series = calloc((size_t)(NSERIES * sweeps), sizeof(double));
  mc_chain *chain = NULL;
  mc_overlap *overlap = NULL;
  if (!J || !series) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the couplings and series");
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
    ordered_sums sums;
    st = core_agree(MPI_COMM_WORLD, ordered_sums_create(&sums, series, sweeps, (int)mine));
    for (PetscInt t = 0; !st && t < sweeps; ++t) {
      double t0 = core_time();
      mc_chain_sweep(chain);
      measured += core_time() - t0;
      double *row = ordered_sums_row(&sums, t);
      for (int r = 0; r < mine; ++r)
        series_add(row, 1, 4 * r, mc_chain_energy(chain, r) / n, mc_chain_magnetization(chain, r));
      for (int r = 0; overlaps && r + 1 < mine; r += 2) {
        double q, chik;
        mc_overlap_measure(overlap, mc_chain_spins(chain, r), mc_chain_spins(chain, r + 1), &q, &chik);
        overlap_add(row + 4 * mine, 1, 5 * (r / 2), n, q, chik);
      }
      st = ordered_sums_flush(&sums, t + 1);
      core_progress_update(&progress, therm + t + 1);
    }
    ordered_sums_destroy(&sums);
    /* Replica and pair averages, on rank 0, which holds the sums. */
    for (int64_t k = 0; k < 4 * sweeps; ++k) series[k] /= (double)replicas;
    for (int64_t k = 4 * sweeps; k < NSERIES * sweeps; ++k) series[k] /= (double)(replicas / 2);
    double total_time;
    MPI_Allreduce(&measured, &total_time, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (!st && rank == 0) {
      st = series_report(series, sweeps, (int)blocks, rank);
      if (!st && overlaps) st = overlap_report(series + 4 * sweeps, sweeps, (int)blocks, (int)L, rank);
      if (!st) printf("ns_per_update=%.4g\n", 1e9 * total_time / ((double)sweeps * (double)replicas * n));
    }
    st = core_agree(MPI_COMM_WORLD, st);
  }
  int exit_code = st ? app_report("mc", st) : 0;
  mc_chain_destroy(&chain);
  mc_overlap_destroy(&overlap);
  free(J);
  free(series);
  return app_finalize(exit_code);
}
