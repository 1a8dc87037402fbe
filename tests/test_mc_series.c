/* TAP test of mc_series, the measurements of `eloss mc` (run at 1, 2 and
 * 4 ranks):
 * - 7 replicas of a 6 x 6 periodic EA instance, sharded over the ranks in
 *   whole pairs as eloss mc shards them, measured for 300 sweeps (two
 *   gathers of MC_SERIES_CHUNK = 256 and 44 sweeps): the 8 estimates equal,
 *   bit for bit, estimates computed here from series summed by hand in
 *   replica order from one chain holding all 7 replicas (mc_estimate_mean,
 *   _binder, _xi), and they are the same bits on every rank;
 * - the same series on MPI_COMM_SELF, every replica measured on every rank,
 *   gives the same bits;
 * - the comparison bites: one value of the hand series changed by 1e-9
 *   changes the energy estimate;
 * - with one replica there is no pair: 4 estimates; a series is estimated
 *   once (the sums become averages);
 * - refused on every rank alike, with the handle NULL: replicas that split
 *   a pair across ranks, and an allocation failure injected on the last
 *   rank ("mc.measure"); on one rank, estimates before the last sweep and
 *   a sweep past the last. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

enum { R = 7, L = 6, SWEEPS = 300, BLOCKS = 10 };

/* Every rank holds the same value of x (min = max over the ranks). */
static int same_everywhere(double x) {
  double lo, hi;
  MPI_Allreduce(&x, &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&x, &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi || (isnan(lo) && isnan(hi));
}

static int all_ranks(int cond) {
  int all;
  MPI_Allreduce(&cond, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return all;
}

/* The 8 estimates from series (9, T) of replica sums, as mc_series
 * documents them. */
static void hand_estimates(double *s, int64_t T, double *v, double *e) {
  for (int64_t k = 0; k < 4 * T; ++k) s[k] /= R;
  for (int64_t k = 4 * T; k < 9 * T; ++k) s[k] /= R / 2;
  for (int k = 0; k < 3; ++k) mc_estimate_mean(s + k * T, T, BLOCKS, &v[k], &e[k]);
  mc_estimate_binder(s + 2 * T, s + 3 * T, T, BLOCKS, &v[3], &e[3]);
  mc_estimate_mean(s + 4 * T, T, BLOCKS, &v[4], &e[4]);
  mc_estimate_mean(s + 5 * T, T, BLOCKS, &v[5], &e[5]);
  mc_estimate_binder(s + 5 * T, s + 6 * T, T, BLOCKS, &v[6], &e[6]);
  mc_estimate_xi(L, s + 7 * T, s + 8 * T, T, BLOCKS, &v[7], &e[7]);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  tap_mpi_start(8, &rank, &size);
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
  spin_couplings_generate(&lat, SPIN_COUPLING_GAUSSIAN, 23, 4, J);
  const double n = (double)lat.n_sites;

  /* This rank's pairs, as eloss mc takes them. */
  int64_t my_pairs, first_pair;
  core_partition((R + 1) / 2, size, rank, &my_pairs, &first_pair);
  const int first = (int)(2 * first_pair);
  int mine = (int)(2 * my_pairs);
  if (first + mine > R) mine = R - first;
  if (mine < 0) mine = 0;

  mc_chain *part, *whole;
  mc_overlap *ov;
  mc_chain_create(&lat, J, 0.0, first, mine, MC_METROPOLIS, 23, 4, &part);
  mc_chain_create(&lat, J, 0.0, 0, R, MC_METROPOLIS, 23, 4, &whole);
  mc_chain_set_beta(part, 1.385), mc_chain_set_beta(whole, 1.385);
  mc_overlap_create(&lat, &ov);
  mc_series *world = NULL, *self = NULL;
  core_status st = mc_series_create(MPI_COMM_WORLD, &lat, SWEEPS, R, first, mine, &world);
  if (!st) st = mc_series_create(MPI_COMM_SELF, &lat, SWEEPS, R, 0, R, &self);
  double *hand = calloc(9 * SWEEPS, sizeof(double));
  for (int t = 0; !st && t < SWEEPS; ++t) {
    mc_chain_sweep(part), mc_chain_sweep(whole);
    mc_series_add_chain(world, part, ov);
    for (int r = 0; r < R; ++r) {
      const double e = mc_chain_energy(whole, r), m = mc_chain_magnetization(whole, r);
      mc_series_add(self, r, e, m);
      hand[t] += e / n, hand[SWEEPS + t] += fabs(m), hand[2 * SWEEPS + t] += m * m;
      hand[3 * SWEEPS + t] += m * m * m * m;
    }
    for (int p = 0; p < R / 2; ++p) {
      double q, chik;
      mc_overlap_measure(ov, mc_chain_spins(whole, 2 * p), mc_chain_spins(whole, 2 * p + 1), &q, &chik);
      mc_series_add_pair(self, p, q, chik);
      double *o = hand + 4 * SWEEPS + t;
      o[0] += fabs(q), o[SWEEPS] += q * q, o[2 * SWEEPS] += q * q * q * q, o[3 * SWEEPS] += n * q * q;
      o[4 * SWEEPS] += chik;
    }
    st = mc_series_next(world);
    if (!st) st = mc_series_next(self);
  }
  mc_estimate ew[MC_SERIES_ESTIMATES], es[MC_SERIES_ESTIMATES];
  int cw = 0, cs = 0;
  if (!st) st = mc_series_estimate(world, BLOCKS, ew, &cw);
  if (!st) st = mc_series_estimate(self, BLOCKS, es, &cs);
  double v[8], e[8];
  double *broken = malloc(sizeof(double) * 9 * SWEEPS);
  memcpy(broken, hand, sizeof(double) * 9 * SWEEPS);
  hand_estimates(hand, SWEEPS, v, e);
  int equal_world = !st && cw == 8, equal_self = !st && cs == 8, everywhere = !st;
  for (int k = 0; !st && k < 8; ++k) {
    equal_world &= ew[k].value == v[k] && ew[k].err == e[k];
    equal_self &= es[k].value == v[k] && es[k].err == e[k];
    everywhere &= same_everywhere(ew[k].value) && same_everywhere(ew[k].err);
  }
  tap_ok(all_ranks(equal_world), "7 replicas over %d ranks, 300 sweeps: the 8 estimates = the hand series' (%s=%.10g)",
         size, st ? "-" : ew[0].name, st ? 0.0 : ew[0].value);
  tap_ok(all_ranks(everywhere), "the estimates are the same bits on every rank");
  tap_ok(all_ranks(equal_self), "the same series on MPI_COMM_SELF, all replicas on each rank: the same bits");
  broken[SWEEPS / 2] += 1e-9;
  double bv[8], be[8];
  hand_estimates(broken, SWEEPS, bv, be);
  tap_ok(all_ranks(!st && bv[0] != ew[0].value), "a hand series off by 1e-9 in one value gives another energy (%.17g vs %.17g)",
         bv[0], st ? 0.0 : ew[0].value);
  mc_series_destroy(&world), mc_series_destroy(&self);

  /* One replica: no pair, 4 estimates. */
  mc_series *one = NULL;
  st = mc_series_create(MPI_COMM_SELF, &lat, 4, 1, 0, 1, &one);
  for (int t = 0; !st && t < 4; ++t) {
    mc_series_add(one, 0, -2.5 * n + t, 0.125 * t);
    st = mc_series_next(one);
  }
  if (!st) st = mc_series_estimate(one, 2, es, &cs);
  const core_status again = st ? st : mc_series_estimate(one, 2, ew, &cw);
  tap_ok(all_ranks(!st && cs == 4 && strcmp(es[3].name, "binder") == 0 && fabs(es[0].value - (-2.5 + 1.5 / n)) < 1e-12 &&
                   again == CORE_ERR_ARG),
         "one replica: 4 estimates, energy_per_spin = %.6g; a second estimate refused", st ? 0.0 : es[0].value);
  mc_series_destroy(&one);

  /* Refusals, the same on every rank. */
  mc_series *bad = (mc_series *)&st; /* must come back NULL */
  st = mc_series_create(MPI_COMM_WORLD, &lat, 10, 4, rank == size - 1 ? 1 : 0, rank == size - 1 ? 3 : 0, &bad);
  if (size == 1) tap_ok(st == CORE_ERR_ARG && !bad, "replicas 1 .. 3 of 4 (pair 0 split) refused, handle NULL");
  else tap_ok(all_ranks(st == CORE_ERR_ARG && !bad), "a pair split across ranks refused on every rank, handle NULL");
  mc_series *s2 = NULL;
  if (size == 1) { /* one replica of 3 sweeps */
    st = mc_series_create(MPI_COMM_WORLD, &lat, 3, 1, 0, 1, &s2);
    mc_series_add(s2, 0, 1.0, 1.0);
    const core_status early = st ? st : mc_series_estimate(s2, 2, es, &cs);
    for (int t = 0; !st && t < 3; ++t) st = mc_series_next(s2);
    const core_status past = st ? st : mc_series_next(s2);
    tap_ok(!st && early == CORE_ERR_ARG && past == CORE_ERR_ARG,
           "estimates before the last sweep and a sweep past the last refused");
  } else { /* one replica per rank: odd ranks would start at an odd replica */
    st = mc_series_create(MPI_COMM_WORLD, &lat, 3, size, rank, 1, &s2);
    tap_ok(all_ranks(st == CORE_ERR_ARG && !s2), "one replica per rank (pairs split) refused on every rank");
  }
  mc_series_destroy(&s2);
  char spec[64];
  snprintf(spec, sizeof spec, "mc.measure:%d:1", size - 1);
  core_fault_configure(spec);
  mc_series *f = (mc_series *)&st;
  st = mc_series_create(MPI_COMM_WORLD, &lat, 10, R, first, mine, &f);
  core_fault_configure(NULL);
  tap_ok(all_ranks(st == CORE_ERR_MEM && !f), "allocation failure on rank %d: CORE_ERR_MEM on every rank, handle NULL",
         size - 1);

  free(hand), free(broken), free(J);
  mc_overlap_destroy(&ov);
  mc_chain_destroy(&part), mc_chain_destroy(&whole);
  const int code = tap_done();
  MPI_Finalize();
  return code;
}
