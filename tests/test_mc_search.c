/* TAP test: simulated annealing and parallel tempering with their default
 * settings find the exact ground state (from the transfer matrix) of at
 * least 95 of 100 random 10 x 10 open Edwards-Anderson instances; the
 * states they return carry the energies they report; tempering's exchange
 * rates are reported and lie strictly between 0 and 1. The defaults were
 * chosen on other instances (seed 4242); these (seed 777) are fresh. */
#include <math.h>
#include <stdlib.h>

#include "eloss/mc.h"
#include "tap.h"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(5);
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
  MPI_Finalize();
  return tap_done();
}
