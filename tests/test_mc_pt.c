/* TAP test of parallel tempering over ranks (run at 1, 2 and 4 ranks):
 * - the ladder permutation and every position's energy after 400 sweeps
 *   equal, bit for bit, a one-rank run done on every rank;
 * - feedback keeps the ladder's end points, keeps it increasing, and evens
 *   out the exchange acceptance (smaller spread than the geometric ladder);
 * - the coldest temperature's energy is that of the replica found there. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

enum { T = 10, SWEEPS = 400 };

static void run(mc_pt *pt, int sweeps) {
  for (int t = 0; t < sweeps; ++t) {
    mc_pt_sweep(pt);
    mc_pt_exchange(pt);
  }
}

static double spread(const double *rates) {
  double lo = 1, hi = 0;
  for (int k = 0; k + 1 < T; ++k) lo = fmin(lo, rates[k]), hi = fmax(hi, rates[k]);
  return hi - lo;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  tap_mpi_start(4, &rank, &size);
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 8);
  double J[128];
  spin_couplings_generate(&lat, SPIN_COUPLING_GAUSSIAN, 21, 2, J);

  mc_pt *whole, *shard;
  mc_pt_create(MPI_COMM_SELF, &lat, J, 0.0, T, 0.2, 2.5, MC_METROPOLIS, 21, 2, &whole);
  mc_pt_create(MPI_COMM_WORLD, &lat, J, 0.0, T, 0.2, 2.5, MC_METROPOLIS, 21, 2, &shard);
  run(whole, SWEEPS);
  run(shard, SWEEPS);
  int same = 1;
  for (int k = 0; k < T; ++k)
    same &= mc_pt_replica_at(whole, k) == mc_pt_replica_at(shard, k) &&
            mc_pt_energy_at(whole, k) == mc_pt_energy_at(shard, k) &&
            mc_pt_magnetization_at(whole, k) == mc_pt_magnetization_at(shard, k);
  int all_same;
  MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(all_same, "ladder permutation and energies after %d sweeps equal the one-rank run (coldest E = %.6f)", SWEEPS,
         mc_pt_energy_at(shard, T - 1));

  /* The replica at the coldest position: its owner checks the energy. */
  int first, count;
  mc_chain *ch = mc_pt_chain(shard, &first, &count);
  int coldest = mc_pt_replica_at(shard, T - 1), ok_local = 1;
  if (coldest >= first && coldest < first + count)
    ok_local = fabs(spin_energy(&lat, J, 0.0, mc_chain_spins(ch, coldest - first)) - mc_pt_energy_at(shard, T - 1)) < 1e-9;
  int ok_all;
  MPI_Allreduce(&ok_local, &ok_all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(ok_all, "the coldest position's energy is the energy of the spins of the replica found there");

  /* Feedback. */
  double before[T], after[T];
  mc_pt_adapt(shard); /* restart the counts */
  run(shard, 1000);
  mc_pt_rates(shard, before);
  for (int round = 0; round < 6; ++round) {
    mc_pt_adapt(shard);
    run(shard, 1000);
  }
  mc_pt_rates(shard, after);
  const double *b = mc_pt_betas(shard);
  int increasing = 1;
  for (int k = 0; k + 1 < T; ++k) increasing &= b[k + 1] > b[k];
  tap_ok(increasing && fabs(b[0] - 0.2) < 1e-12 && fabs(b[T - 1] - 2.5) < 1e-12,
         "feedback keeps the ladder increasing from 0.2 to 2.5");
  tap_ok(spread(after) < spread(before), "feedback evens out acceptance: spread %.3f -> %.3f (min %.3f)", spread(before),
         spread(after), after[0]);
  mc_pt_destroy(&whole);
  mc_pt_destroy(&shard);
  MPI_Finalize();
  return tap_done();
}
