/* eloss mc: Monte Carlo of one spin-system instance, replicas sharded over
 * the ranks of MPI_COMM_WORLD.
 *
 *   mpirun -n 2 eloss mc -lattice square -L 16 -bc periodic -couplings ferro \
 *       -beta 0.4407 -algorithm metropolis -therm 1000 -sweeps 10000 -replicas 8
 *
 * Prints one line per observable, <name>=<value> err=<error> (energy per
 * spin, |m|, m^2, Binder ratio; with 2 or more replicas also the overlap of
 * replica pairs (2p, 2p+1): |q|, q^2, its Binder ratio and the spin-glass
 * correlation length; errors from a blocked jackknife over the
 * replica-averaged series), then ns_per_update=<ns> for the measured sweeps
 * (core time per single-spin update). Ranks own whole replica pairs. */
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

int app_mc(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  static const char *const lattices[] = {"square", "cubic"}, *const bcs[] = {"open", "periodic"};
  static const char *const laws[] = {"uniform", "gaussian", "pm", "ferro"};
  static const char *const algorithms[] = {"metropolis", "heatbath"};
  PetscInt lattice = 0, bc = 1, law = 0, algorithm = 0, L = 16, therm = 1000, sweeps = 10000, replicas = 8;
  PetscInt seed = 0, instance = 0, blocks = 20;
  PetscReal beta = 0.4406868, field = 0.0;
  PetscBool cold = PETSC_FALSE, set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss mc options", NULL);
  PetscCall(PetscOptionsEList("-lattice", "lattice", NULL, lattices, 2, lattices[lattice], &lattice, &set));
  PetscCall(PetscOptionsInt("-L", "linear size", NULL, L, &L, &set));
  PetscCall(PetscOptionsEList("-bc", "boundary condition (cubic: periodic only)", NULL, bcs, 2, bcs[bc], &bc, &set));
  PetscCall(PetscOptionsEList("-couplings", "coupling law of J_ij", NULL, laws, 4, laws[law], &law, &set));
  PetscCall(PetscOptionsInt("-instance", "instance number: couplings are a function of (seed, instance)", NULL,
                            instance, &instance, &set));
  PetscCall(PetscOptionsReal("-beta", "inverse temperature", NULL, beta, &beta, &set));
  PetscCall(PetscOptionsReal("-field", "uniform field", NULL, field, &field, &set));
  PetscCall(PetscOptionsEList("-algorithm", "single-spin update", NULL, algorithms, 2, algorithms[algorithm],
                              &algorithm, &set));
  PetscCall(PetscOptionsInt("-therm", "sweeps discarded before measuring", NULL, therm, &therm, &set));
  PetscCall(PetscOptionsInt("-sweeps", "measured sweeps", NULL, sweeps, &sweeps, &set));
  PetscCall(PetscOptionsInt("-replicas", "independent replicas (sharded over ranks)", NULL, replicas, &replicas, &set));
  PetscCall(PetscOptionsInt("-seed", "random seed", NULL, seed, &seed, &set));
  PetscCall(PetscOptionsInt("-blocks", "jackknife blocks of the measured series", NULL, blocks, &blocks, &set));
  PetscCall(PetscOptionsBool("-cold", "start every replica from all spins up", NULL, cold, &cold, &set));
  PetscOptionsEnd();
  PetscBool stop;
  int code;
  PetscCall(app_options_check("mc", &stop, &code));
  if (stop) return app_finalize(code);

  core_status st = CORE_OK;
  if (therm < 0 || sweeps < blocks || blocks < 2 || replicas < 1 || seed < 0 || instance < 0 || !(beta >= 0))
    st = CORE_ERROR(CORE_ERR_ARG, "need -therm >= 0, -sweeps >= -blocks >= 2, -replicas >= 1, -seed >= 0, "
                                  "-instance >= 0 and -beta >= 0");
  spin_lattice lat;
  if (!st) st = spin_lattice_init(&lat, lattice ? SPIN_CUBIC : SPIN_SQUARE, bc ? SPIN_PERIODIC : SPIN_OPEN, (int)L);
  st = core_agree(MPI_COMM_WORLD, st);
  if (st) return app_finalize(app_report("mc", st));
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
    for (PetscInt t = 0; t < sweeps; ++t) {
      double t0 = core_time();
      mc_chain_sweep(chain);
      measured += core_time() - t0;
      for (int r = 0; r < mine; ++r) {
        double m = mc_chain_magnetization(chain, r);
        series[t] += mc_chain_energy(chain, r) / n;
        series[sweeps + t] += fabs(m);
        series[2 * sweeps + t] += m * m;
        series[3 * sweeps + t] += m * m * m * m;
      }
      for (int r = 0; overlaps && r + 1 < mine; r += 2) {
        double q, chik;
        mc_overlap_measure(overlap, mc_chain_spins(chain, r), mc_chain_spins(chain, r + 1), &q, &chik);
        series[4 * sweeps + t] += fabs(q);
        series[5 * sweeps + t] += q * q;
        series[6 * sweeps + t] += q * q * q * q;
        series[7 * sweeps + t] += n * q * q;
        series[8 * sweeps + t] += chik;
      }
      core_progress_update(&progress, therm + t + 1);
    }
    /* Replica averages: sums over every rank's replicas. */
    MPI_Allreduce(MPI_IN_PLACE, series, (int)(NSERIES * sweeps), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    for (int64_t k = 0; k < 4 * sweeps; ++k) series[k] /= (double)replicas;
    for (int64_t k = 4 * sweeps; k < NSERIES * sweeps; ++k) series[k] /= (double)(replicas / 2);
    double total_time;
    MPI_Allreduce(&measured, &total_time, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    const char *names[3] = {"energy_per_spin", "abs_m", "m2"};
    double value[4], err[4];
    for (int k = 0; k < 3 && !st; ++k) st = mc_estimate_mean(series + k * sweeps, sweeps, (int)blocks, &value[k], &err[k]);
    if (!st) st = mc_estimate_binder(series + 2 * sweeps, series + 3 * sweeps, sweeps, (int)blocks, &value[3], &err[3]);
    double qv[4] = {0}, qe[4] = {0};
    if (!st && overlaps) {
      st = mc_estimate_mean(series + 4 * sweeps, sweeps, (int)blocks, &qv[0], &qe[0]);
      if (!st) st = mc_estimate_mean(series + 5 * sweeps, sweeps, (int)blocks, &qv[1], &qe[1]);
      if (!st) st = mc_estimate_binder(series + 5 * sweeps, series + 6 * sweeps, sweeps, (int)blocks, &qv[2], &qe[2]);
      if (!st) st = mc_estimate_xi((int)L, series + 7 * sweeps, series + 8 * sweeps, sweeps, (int)blocks, &qv[3], &qe[3]);
    }
    if (!st && rank == 0) {
      for (int k = 0; k < 3; ++k) printf("%s=%.10g err=%.3g\n", names[k], value[k], err[k]);
      printf("binder=%.10g err=%.3g\n", value[3], err[3]);
      const char *qnames[4] = {"abs_q", "q2", "binder_q", "xi_sg"};
      for (int k = 0; overlaps && k < 4; ++k) printf("%s=%.10g err=%.3g\n", qnames[k], qv[k], qe[k]);
      printf("ns_per_update=%.4g\n", 1e9 * total_time / ((double)sweeps * (double)replicas * n));
    }
  }
  int exit_code = st ? app_report("mc", st) : 0;
  mc_chain_destroy(&chain);
  mc_overlap_destroy(&overlap);
  free(J);
  free(series);
  return app_finalize(exit_code);
}
