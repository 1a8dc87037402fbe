/* TAP test of parallel tempering over ranks (run at 1, 2 and 4 ranks):
 * - the ladder permutation and every position's energy after 400 sweeps
 *   equal, bit for bit, a one-rank run done on every rank;
 * - feedback keeps the ladder's end points, keeps it increasing, and evens
 *   out the exchange acceptance (smaller spread than the geometric ladder);
 * - on a hard instance (16 x 16 periodic, uniform couplings, beta 0.3 to 3
 *   over 8 temperatures, as `eloss mc ... -pt_adapt 2000`) feedback lifts
 *   the weakest exchange rate above the geometric ladder's (the earlier
 *   gap-scaling rule lowered it, 0.023 -> 0.002);
 * - the coldest temperature's energy is that of the replica found there,
 *   field term included: with a field of 4.385 the energy every rank
 *   reports equals spin_energy with that field, and the magnetisation is
 *   near 1 (tempering once ignored the field). */
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

static double weakest(const double *rates, int n) {
  double lo = 1;
  for (int k = 0; k + 1 < n; ++k) lo = fmin(lo, rates[k]);
  return lo;
}

/* The hard instance: geometric ladder, or feedback every 2000 of the 20000
 * thermalisation sweeps (the last restarts the counts); then the weakest
 * exchange rate over the next 4000 sweeps. */
static double hard_weakest_rate(int adapt, double *betas_out) {
  enum { HT = 8 };
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 16);
  double J[512], rates[HT];
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 0, 2, J);
  mc_pt *pt;
  if (mc_pt_create(MPI_COMM_WORLD, &lat, J, 0.0, HT, 0.3, 3.0, MC_METROPOLIS, 0, 2, &pt)) return -1;
  for (int t = 0; t < 20000; ++t) {
    mc_pt_sweep(pt);
    mc_pt_exchange(pt);
    if (adapt && (t + 1) % 2000 == 0 && mc_pt_adapt(pt)) return -1;
  }
  run(pt, 4000); /* geometric ladder: rates over all 24000 sweeps, as eloss mc prints them */
  mc_pt_rates(pt, rates);
  memcpy(betas_out, mc_pt_betas(pt), sizeof(double) * HT);
  mc_pt_destroy(&pt);
  return weakest(rates, HT);
}

static double spread(const double *rates) {
  double lo = 1, hi = 0;
  for (int k = 0; k + 1 < T; ++k) lo = fmin(lo, rates[k]), hi = fmax(hi, rates[k]);
  return hi - lo;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  tap_mpi_start(7, &rank, &size);
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
  int adapt_ok = mc_pt_adapt(shard) == CORE_OK; /* restart the counts */
  run(shard, 1000);
  mc_pt_rates(shard, before);
  for (int round = 0; round < 6; ++round) {
    adapt_ok &= mc_pt_adapt(shard) == CORE_OK;
    run(shard, 1000);
  }
  mc_pt_rates(shard, after);
  const double *b = mc_pt_betas(shard);
  int increasing = 1;
  for (int k = 0; k + 1 < T; ++k) increasing &= b[k + 1] > b[k];
  tap_ok(adapt_ok && increasing && fabs(b[0] - 0.2) < 1e-12 && fabs(b[T - 1] - 2.5) < 1e-12,
         "feedback keeps the ladder increasing from 0.2 to 2.5");
  tap_ok(spread(after) < spread(before), "feedback evens out acceptance: spread %.3f -> %.3f (min %.3f)", spread(before),
         spread(after), after[0]);

  double fixed_betas[8], adapted_betas[8];
  const double fixed = hard_weakest_rate(0, fixed_betas), adapted = hard_weakest_rate(1, adapted_betas);
  tap_ok(fixed > 0 && adapted > fixed && fabs(fixed_betas[1] - 0.3 * pow(10.0, 1.0 / 7)) < 1e-12,
         "hard instance (16 x 16 periodic, beta 0.3..3, 8 temperatures): feedback lifts the weakest exchange rate "
         "%.3f -> %.3f (betas %.3f %.3f %.3f %.3f %.3f %.3f)", fixed, adapted, adapted_betas[1], adapted_betas[2],
         adapted_betas[3], adapted_betas[4], adapted_betas[5], adapted_betas[6]);

  /* A strong field: energies include its term, spins follow it. */
  const double field = 4.385;
  mc_pt *fp;
  core_status st = mc_pt_create(MPI_COMM_WORLD, &lat, J, field, T, 0.2, 2.5, MC_METROPOLIS, 21, 2, &fp);
  run(fp, 200);
  ch = mc_pt_chain(fp, &first, &count);
  ok_local = 1;
  for (int position = 0; !st && position < T; ++position) {
    const int replica = mc_pt_replica_at(fp, position);
    if (replica >= first && replica < first + count)
      ok_local &= fabs(spin_energy(&lat, J, field, mc_chain_spins(ch, replica - first)) - mc_pt_energy_at(fp, position)) < 1e-9 &&
                  fabs(spin_energy(&lat, J, 0.0, mc_chain_spins(ch, replica - first)) - mc_pt_energy_at(fp, position)) > 1;
  }
  MPI_Allreduce(&ok_local, &ok_all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(!st && ok_all, "with field %.3f every position's energy is spin_energy with the field (coldest E = %.4f)", field,
         st ? 0.0 : mc_pt_energy_at(fp, T - 1));
  tap_ok(!st && mc_pt_magnetization_at(fp, T - 1) > 0.9, "with field %.3f the coldest magnetisation is near 1: %.4f",
         field, st ? 0.0 : mc_pt_magnetization_at(fp, T - 1));
  mc_pt_destroy(&fp);
  mc_pt_destroy(&whole);
  mc_pt_destroy(&shard);
  MPI_Finalize();
  return tap_done();
}
