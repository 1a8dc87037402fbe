/* TAP test: simulated annealing and parallel tempering with their default
 * settings find the exact ground state (from the transfer matrix) of at
 * least 95 of 100 random 10 x 10 open Edwards-Anderson instances; the
 * states they return carry the energies they report; tempering's exchange
 * rates are reported and lie strictly between 0 and 1. The defaults were
 * chosen on other instances (seed 4242); these (seed 777) are fresh.
 * Then boundary cases and the search options:
 * - annealing with 1 and 2 sweeps returns a valid state (+-1, canonical
 *   sign) carrying its energy (it once returned the caller's buffer);
 * - stream 1 draws from other random numbers than stream 0 (another
 *   state after a short search), and a stream past the replica range is
 *   refused;
 * - a stop flag set before the call makes both searches return
 *   CORE_ERR_STOPPED at once on a 512 x 512 lattice with 10^6 sweeps;
 * - on 16 x 16 periodic instances (uniform couplings, seed 9090, not the
 *   tuning seed), the default tempering searches with streams 0 and 1 agree
 *   on the ground-state energy (1e-9) for >= 95% of them, and a search 10
 *   times longer (stream 2) finds nothing lower on the first few. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(11);
  const int L = 10, instances = 100;
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
  mc_exact *ex;
  mc_exact_create(L, &ex);
  mc_search_options sa, pt;
  mc_search_options_anneal(&sa);
  mc_search_options_tempering(&pt);
  double J[200], rates[64], min_rate = 1, max_rate = 0;
  int8_t exact[100], found[100];
  int sa_hits = 0, pt_hits = 0, consistent = 1;
  double t_sa = 0, t_pt = 0;
  for (int i = 0; i < instances; ++i) {
    double e_exact, e_sa, e_pt;
    spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 777, (uint64_t)i, J);
    mc_exact_solve(ex, J, exact, &e_exact);
    double t0 = core_time();
    mc_anneal(&lat, J, &sa, 777, (uint64_t)i, found, &e_sa);
    t_sa += core_time() - t0;
    consistent &= fabs(spin_energy(&lat, J, 0.0, found) - e_sa) < 1e-9 && found[0] == 1;
    sa_hits += e_sa <= e_exact + 1e-9;
    t0 = core_time();
    mc_tempering(&lat, J, &pt, 777, (uint64_t)i, found, &e_pt, rates);
    t_pt += core_time() - t0;
    consistent &= fabs(spin_energy(&lat, J, 0.0, found) - e_pt) < 1e-9 && found[0] == 1;
    pt_hits += e_pt <= e_exact + 1e-9;
    for (int k = 0; k + 1 < pt.replicas; ++k) min_rate = fmin(min_rate, rates[k]), max_rate = fmax(max_rate, rates[k]);
  }
  tap_ok(sa_hits >= 95, "simulated annealing (defaults) finds the exact ground state of %d/100 10 x 10 instances (%.1f ms each)",
         sa_hits, 1e3 * t_sa / instances);
  tap_ok(pt_hits >= 95, "parallel tempering (defaults) finds the exact ground state of %d/100 10 x 10 instances (%.1f ms each)",
         pt_hits, 1e3 * t_pt / instances);
  tap_ok(consistent, "returned states carry the reported energies, canonical sign");
  tap_ok(min_rate > 0 && max_rate < 1, "tempering exchange rates within (0, 1): min %.3f, max %.3f", min_rate, max_rate);
  mc_search_options bad = sa;
  bad.beta_min = 0;
  double e;
  tap_ok(mc_anneal(&lat, J, &bad, 1, 0, found, &e) == CORE_ERR_ARG, "beta_min = 0 refused: %s", core_error_message());
  mc_exact_destroy(&ex);

  /* Annealing with 1 and 2 sweeps: the record holds the final sweep. */
  for (int sweeps = 1; sweeps <= 2; ++sweeps) {
    mc_search_options o = sa;
    o.sweeps = sweeps;
    memset(found, 7, sizeof found); /* what an unwritten buffer would return */
    core_status st = mc_anneal(&lat, J, &o, 31, 4, found, &e);
    int valid = found[0] == 1;
    for (int i = 0; i < L * L; ++i) valid &= found[i] == 1 || found[i] == -1;
    tap_ok(!st && valid && fabs(spin_energy(&lat, J, 0.0, found) - e) < 1e-9 && e < 0,
           "annealing with %d sweep%s returns a valid state with its energy %.4f", sweeps, sweeps > 1 ? "s" : "", e);
  }

  /* Streams: short searches of stream 0 and 1 end in different states. */
  {
    mc_search_options o = pt;
    o.sweeps = 3;
    int8_t other[100];
    double e0, e1;
    core_status st = mc_tempering(&lat, J, &o, 31, 4, found, &e0, NULL);
    o.stream = 1;
    st = st ? st : mc_tempering(&lat, J, &o, 31, 4, other, &e1, NULL);
    int differ = memcmp(found, other, sizeof other) != 0;
    o = sa, o.sweeps = 3;
    st = st ? st : mc_anneal(&lat, J, &o, 31, 4, found, &e0);
    o.stream = 1;
    st = st ? st : mc_anneal(&lat, J, &o, 31, 4, other, &e1);
    differ &= memcmp(found, other, sizeof other) != 0;
    o.stream = (1 << 19) / o.replicas;
    tap_ok(!st && differ && mc_anneal(&lat, J, &o, 31, 4, found, &e0) == CORE_ERR_ARG,
           "stream 1 searches other random numbers than stream 0; stream %d refused: %s", o.stream,
           core_error_message());
  }

  /* A stop requested before the call: no sweep of a huge search. */
  {
    spin_lattice big;
    spin_lattice_init(&big, SPIN_SQUARE, SPIN_PERIODIC, 512);
    double *Jb = malloc(sizeof(double) * 2 * (size_t)big.n_sites);
    int8_t *sb = malloc((size_t)big.n_sites);
    volatile sig_atomic_t stop = 1;
    mc_search_options a = sa, t = pt;
    a.sweeps = t.sweeps = 1000000, a.stop = t.stop = &stop;
    spin_couplings_generate(&big, SPIN_COUPLING_UNIFORM, 31, 0, Jb);
    double t0 = core_time();
    core_status st_a = mc_anneal(&big, Jb, &a, 31, 0, sb, &e);
    core_status st_t = mc_tempering(&big, Jb, &t, 31, 0, sb, &e, NULL);
    const double took = core_time() - t0;
    tap_ok(st_a == CORE_ERR_STOPPED && st_t == CORE_ERR_STOPPED && took < 2.0,
           "stop flag set: annealing and tempering of 512 x 512 (10^6 sweeps) return CORE_ERR_STOPPED in %.3f s", took);
    free(Jb), free(sb);
  }

  /* Heuristic ground states of 16 x 16 periodic instances. */
  {
    enum { N16 = 100, REF = 3 };
    spin_lattice per;
    spin_lattice_init(&per, SPIN_SQUARE, SPIN_PERIODIC, 16);
    double J16[512], e0, e1, er, t16 = 0;
    int8_t s16[256];
    int agreed = 0, ref_lower = 0, ok = 1;
    for (int i = 0; i < N16; ++i) {
      mc_search_options o = pt;
      spin_couplings_generate(&per, SPIN_COUPLING_UNIFORM, 9090, (uint64_t)i, J16);
      const double t0 = core_time();
      ok &= mc_tempering(&per, J16, &o, 9090, (uint64_t)i, s16, &e0, NULL) == CORE_OK;
      t16 += core_time() - t0;
      o.stream = 1;
      ok &= mc_tempering(&per, J16, &o, 9090, (uint64_t)i, s16, &e1, NULL) == CORE_OK;
      agreed += fabs(e0 - e1) < 1e-9;
      if (i < REF) {
        o.stream = 2, o.sweeps *= 10;
        ok &= mc_tempering(&per, J16, &o, 9090, (uint64_t)i, s16, &er, NULL) == CORE_OK;
        ref_lower += er < fmin(e0, e1) - 1e-9;
      }
    }
    tap_ok(ok && agreed >= 95 * N16 / 100,
           "16 x 16 periodic: default tempering streams 0 and 1 agree on %d/%d ground-state energies (%.3f s per search)",
           agreed, N16, t16 / N16);
    tap_ok(ok && ref_lower == 0, "16 x 16 periodic: a 10x longer search finds a lower energy on %d of %d instances",
           ref_lower, REF);
  }
  MPI_Finalize();
  return tap_done();
}
