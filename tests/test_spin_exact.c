/* TAP test of lib/spin and the exact ground states of lib/mc:
 * - energies and local fields against their definitions (flip deltas equal
 *   energy differences; the global flip leaves E unchanged without field);
 * - couplings are a pure function of (seed, instance);
 * - the transfer matrix equals brute-force enumeration of all 2^(L^2)
 *   configurations for every instance tried with L = 2, 3, 4 and three
 *   coupling laws, returns spins that have the energy it reports, and puts
 *   them in canonical sign;
 * - a ferromagnet's ground state is all up with E = -2 L (L - 1);
 * - bad sizes and non-finite couplings are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

static double brute_force(const spin_lattice *lat, const double *J) {
  const int64_t n = lat->n_sites;
  int8_t s[16];
  double best = INFINITY;
  for (int64_t code = 0; code < ((int64_t)1 << n); ++code) {
    for (int64_t i = 0; i < n; ++i) s[i] = (int8_t)((code >> i) & 1 ? 1 : -1);
    double e = spin_energy(lat, J, 0.0, s);
    if (e < best) best = e;
  }
  return best;
}

int main(void) {
  tap_plan(14);
  spin_lattice lat;
  core_rng rng;
  core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, 0);

  /* Energies, fields and flips on a periodic 5 x 5 and a cubic 3^3. */
  int fields_ok = 1;
  for (int kind = 0; kind < 2; ++kind) {
    spin_lattice_init(&lat, kind ? SPIN_CUBIC : SPIN_SQUARE, SPIN_PERIODIC, kind ? 3 : 5);
    double J[3 * 27], h[27];
    int8_t s[27];
    spin_couplings_generate(&lat, SPIN_COUPLING_GAUSSIAN, 7, 1, J);
    for (int64_t i = 0; i < lat.n_sites; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
    const double field = 0.37;
    double e0 = spin_energy(&lat, J, field, s);
    spin_local_fields(&lat, J, s, h);
    double sum_sh = 0;
    for (int64_t i = 0; i < lat.n_sites; ++i) {
      double predicted = spin_flip_delta(&lat, J, field, s, i);
      fields_ok &= fabs(predicted - 2 * s[i] * (h[i] + field)) < 1e-12;
      s[i] = (int8_t)-s[i];
      fields_ok &= fabs(spin_energy(&lat, J, field, s) - e0 - predicted) < 1e-12;
      s[i] = (int8_t)-s[i];
      sum_sh += s[i] * h[i];
    }
    /* Each bond appears twice in sum_i s_i h_i. */
    double m = 0;
    for (int64_t i = 0; i < lat.n_sites; ++i) m += s[i];
    fields_ok &= fabs(-0.5 * sum_sh - field * m - e0) < 1e-12;
  }
  tap_ok(fields_ok, "flip deltas equal energy differences; -sum s h / 2 is the bond energy (square and cubic)");

  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, 4);
  double Ja[32], Jb[32];
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 11, 5, Ja);
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 11, 6, Jb);
  int open_zero = 1, in_range = 1;
  for (int r = 0; r < 4; ++r) open_zero &= Ja[r * 4 + 3] == 0 && Ja[16 + 12 + r] == 0;
  for (int k = 0; k < 32; ++k) in_range &= Ja[k] >= -1 && Ja[k] <= 1;
  double Jc[32];
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 11, 5, Jc);
  tap_ok(!memcmp(Ja, Jc, sizeof Ja) && memcmp(Ja, Jb, sizeof Ja) && open_zero && in_range,
         "couplings: pure function of (seed, instance), in [-1, 1], zero off an open edge");

  /* Any single coupling can be computed alone (seeking in the stream). */
  {
    int same = 1;
    for (int kind = 0; kind < 2; ++kind)
      for (int law = 0; law < 4; ++law) {
        spin_lattice l2;
        spin_lattice_init(&l2, kind ? SPIN_CUBIC : SPIN_SQUARE, kind ? SPIN_PERIODIC : SPIN_OPEN, 5);
        double *all = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&l2));
        spin_couplings_generate(&l2, (spin_coupling_law)law, 13, 4, all);
        for (int64_t slot = 0; slot < spin_lattice_bond_slots(&l2); ++slot)
          same &= spin_coupling_slot(&l2, (spin_coupling_law)law, 13, 4, slot) == all[slot];
        free(all);
      }
    tap_ok(same, "spin_coupling_slot equals every slot of spin_couplings_generate (4 laws, open square, cubic)");
  }

  /* Transfer matrix against brute force. */
  const spin_coupling_law laws[3] = {SPIN_COUPLING_UNIFORM, SPIN_COUPLING_GAUSSIAN, SPIN_COUPLING_PM};
  const char *law_names[3] = {"uniform", "gaussian", "pm"};
  for (int L = 2; L <= 4; ++L) {
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
    mc_exact *ex;
    mc_exact_create(L, &ex);
    int agree = 1, consistent = 1, canonical = 1, tried = 0;
    double worst = 0;
    for (int law = 0; law < 3; ++law)
      for (int inst = 0; inst < (L == 4 ? 40 : 100); ++inst, ++tried) {
        double J[32], e;
        int8_t s[16];
        spin_couplings_generate(&lat, laws[law], 99, (uint64_t)(law * 1000 + inst), J);
        mc_exact_solve(ex, J, s, &e);
        double want = brute_force(&lat, J);
        worst = fmax(worst, fabs(e - want));
        agree &= fabs(e - want) <= 1e-12 * fmax(1.0, fabs(want));
        consistent &= fabs(spin_energy(&lat, J, 0.0, s) - e) <= 1e-12 * fmax(1.0, fabs(e));
        canonical &= s[0] == 1;
      }
    tap_ok(agree, "L=%d: transfer-matrix energy equals brute force on %d instances (%s, %s, %s; worst diff %.1e)",
           L, tried, law_names[0], law_names[1], law_names[2], worst);
    tap_ok(consistent && canonical, "L=%d: returned spins have the reported energy and s_0 = +1", L);
    mc_exact_destroy(&ex);
  }

  /* Ferromagnet: all spins up, E = -(number of bonds) = -2 L (L - 1). */
  {
    const int L = 9;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
    double J[2 * 81], e;
    int8_t s[81];
    spin_couplings_generate(&lat, SPIN_COUPLING_FERRO, 1, 0, J);
    mc_exact *ex;
    mc_exact_create(L, &ex);
    mc_exact_solve(ex, J, s, &e);
    int up = 1;
    for (int i = 0; i < L * L; ++i) up &= s[i] == 1;
    tap_ok(up && e == -2.0 * L * (L - 1), "9 x 9 ferromagnet: all up, E = %g (want %d)", e, -2 * L * (L - 1));
    mc_exact_destroy(&ex);
  }

  /* 16 x 16, the paper's size: energy consistent with the spins; time is
   * reported, not asserted. */
  {
    const int L = 16;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
    double *J = malloc(sizeof(double) * 2 * 256), e;
    int8_t s[256];
    mc_exact *ex;
    mc_exact_create(L, &ex);
    spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 2511, 0, J);
    double t0 = core_time();
    const int reps = 10;
    for (int k = 0; k < reps; ++k) mc_exact_solve(ex, J, s, &e);
    double ms = 1e3 * (core_time() - t0) / reps;
    tap_ok(fabs(spin_energy(&lat, J, 0.0, s) - e) < 1e-10 && s[0] == 1,
           "16 x 16 uniform instance: E/N = %.6f matches its spins", e / 256);
    tap_diag("16 x 16 exact ground state: %.2f ms per instance (one core)", ms);
    mc_exact_destroy(&ex);
    free(J);
  }

  /* Errors. */
  mc_exact *ex = NULL;
  core_status st = mc_exact_create(21, &ex);
  tap_ok(st == CORE_ERR_ARG && !ex && strstr(core_error_message(), "L = 21"), "L = 21 refused: %s",
         core_error_message());
  mc_exact_create(3, &ex);
  double Jbad[18] = {0};
  Jbad[4] = NAN;
  int8_t s[9];
  double e;
  st = mc_exact_solve(ex, Jbad, s, &e);
  tap_ok(st == CORE_ERR_VALUE, "a NaN coupling is refused: %s", core_error_message());
  mc_exact_destroy(&ex);
  st = spin_lattice_init(&lat, SPIN_CUBIC, SPIN_OPEN, 4);
  tap_ok(st == CORE_ERR_ARG, "open cubic lattices are refused: %s", core_error_message());
  return tap_done();
}
