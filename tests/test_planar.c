/* Exact planar ground states by matching, against two independent exact
 * solvers: brute-force enumeration of every configuration of rectangular
 * lattices up to 16 spins, and the transfer matrix (mc_exact_solve) on
 * thousands of square lattices with L <= 20, for every coupling law,
 * including +-J with its many degenerate ground states (energies compared
 * exactly there). Also: the returned energy is the energy of the returned
 * spins, s_0 = +1, the same configuration every time, and the refusals. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "eloss/mc.h"
#include "eloss/spin.h"
#include "tap.h"

/* Least energy over all 2^(n-1) configurations with s_0 = +1. */
static double brute_force(int R, int C, const double *H, const double *V) {
  const int n = R * C;
  double best = INFINITY;
  int8_t s[16];
  for (uint32_t bits = 0; bits < (1u << (n - 1)); ++bits) {
    s[0] = 1;
    for (int i = 1; i < n; ++i) s[i] = (int8_t)((bits >> (i - 1)) & 1 ? 1 : -1);
    double e = 0;
    for (int r = 0; r < R; ++r)
      for (int c = 0; c + 1 < C; ++c) e -= H[r * (C - 1) + c] * s[r * C + c] * s[r * C + c + 1];
    for (int r = 0; r + 1 < R; ++r)
      for (int c = 0; c < C; ++c) e -= V[r * C + c] * s[r * C + c] * s[(r + 1) * C + c];
    if (e < best) best = e;
  }
  return best;
}

static double energy_hv(int R, int C, const double *H, const double *V, const int8_t *s) {
  double e = 0;
  for (int r = 0; r < R; ++r)
    for (int c = 0; c + 1 < C; ++c) e -= H[r * (C - 1) + c] * s[r * C + c] * s[r * C + c + 1];
  for (int r = 0; r + 1 < R; ++r)
    for (int c = 0; c < C; ++c) e -= V[r * C + c] * s[r * C + c] * s[(r + 1) * C + c];
  return e;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(8);

  /* 1. Rectangles up to 16 spins against enumeration, every law. */
  {
    int bad = 0, count = 0;
    const int shapes[][2] = {{2, 2}, {2, 3}, {3, 2}, {2, 5}, {3, 3}, {2, 8}, {8, 2}, {3, 4}, {4, 3}, {3, 5}, {4, 4}};
    double H[16], V[16];
    int8_t s[16];
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; ++sh) {
      const int R = shapes[sh][0], C = shapes[sh][1];
      mc_planar *pl;
      mc_planar_create(R, C, &pl);
      spin_lattice lat; /* a coupling stream: the square lattice of the larger side */
      spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, R > C ? R : C);
      double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
      for (int law = 0; law < SPIN_COUPLING_COUNT; ++law)
        for (int inst = 0; inst < 60; ++inst) {
          spin_couplings_generate(&lat, (spin_coupling_law)law, 11, (uint64_t)(sh * 1000 + inst), J);
          for (int i = 0; i < R * (C - 1); ++i) H[i] = J[i];
          for (int i = 0; i < (R - 1) * C; ++i) V[i] = J[lat.n_sites + i];
          double e;
          core_status st = mc_planar_solve_hv(pl, H, V, s, &e);
          const double want = brute_force(R, C, H, V);
          ++count;
          if (st || fabs(e - want) > 1e-12 * (1 + fabs(want)) || s[0] != 1 ||
              energy_hv(R, C, H, V, s) != e) {
            if (bad++ < 3) tap_diag("%d x %d law %d instance %d: matching %.17g (status %d), enumeration %.17g", R, C,
                                    law, inst, e, (int)st, want);
          }
        }
      free(J);
      mc_planar_destroy(&pl);
    }
    tap_ok(bad == 0, "%d rectangular lattices up to 16 spins (2 x 2 .. 4 x 4, 2 x 8, 8 x 2): energy = enumeration's (%d wrong)",
           count, bad);
  }

  /* 2.-5. Square lattices L = 2 .. 20 against the transfer matrix. */
  const char *law_names[] = {"uniform", "gaussian", "+-J", "ferro"};
  for (int law = 0; law < SPIN_COUPLING_COUNT; ++law) {
    int bad = 0, count = 0, same_spins = 0;
    for (int L = 2; L <= 20; ++L) {
      const int instances = L <= 12 ? 60 : L <= 16 ? 12 : L < 20 ? 2 : (law == 2 ? 1 : 0);
      if (!instances) continue;
      spin_lattice lat;
      spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
      const int64_t n = lat.n_sites;
      double *J = malloc(sizeof(double) * 2 * (size_t)n);
      int8_t *a = malloc((size_t)n), *b = malloc((size_t)n);
      mc_exact *ex;
      mc_planar *pl;
      mc_exact_create(L, &ex);
      mc_planar_create(L, L, &pl);
      for (int inst = 0; inst < instances; ++inst) {
        spin_couplings_generate(&lat, (spin_coupling_law)law, 7, (uint64_t)(L * 100 + inst), J);
        double et, em;
        mc_exact_solve(ex, J, a, &et);
        core_status st = mc_planar_solve(pl, J, b, &em);
        ++count;
        const double tol = law == 2 || law == 3 ? 0 : 1e-12 * fabs(et);
        const int ok = !st && fabs(em - et) <= tol && b[0] == 1 && spin_energy(&lat, J, 0.0, b) == em;
        if (!ok && bad++ < 3)
          tap_diag("%s L %d instance %d: matching %.17g (status %d), transfer matrix %.17g", law_names[law], L, inst, em,
                   (int)st, et);
        same_spins += !memcmp(a, b, (size_t)n);
      }
      mc_exact_destroy(&ex);
      mc_planar_destroy(&pl);
      free(J);
      free(a);
      free(b);
    }
    tap_ok(bad == 0, "%s couplings, %d square lattices L = 2 .. 20: energy = the transfer matrix's%s (%d wrong; %d same configuration)",
           law_names[law], count, law == 2 || law == 3 ? " exactly" : "", bad, same_spins);
  }

  /* 6. Ties: the same configuration every time. */
  {
    const int L = 24;
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
    double *J = malloc(sizeof(double) * 2 * (size_t)lat.n_sites);
    int8_t *a = malloc((size_t)lat.n_sites), *b = malloc((size_t)lat.n_sites);
    spin_couplings_generate(&lat, SPIN_COUPLING_PM, 3, 0, J);
    mc_planar *p1, *p2;
    mc_planar_create(L, L, &p1);
    mc_planar_create(L, L, &p2);
    double e1, e2, e3;
    mc_planar_solve(p1, J, a, &e1);
    mc_planar_solve(p2, J, b, &e2);
    int same = !memcmp(a, b, (size_t)lat.n_sites) && e1 == e2;
    mc_planar_solve(p1, J, b, &e3);
    same = same && !memcmp(a, b, (size_t)lat.n_sites) && e1 == e3;
    tap_ok(same && e1 == floor(e1), "+-J 24 x 24: the same ground state from two workspaces and a reused one (E = %g)", e1);
    /* A stop request ends a solve; the workspace then solves again. */
    volatile sig_atomic_t stop = 1;
    mc_planar_set_stop(p1, &stop);
    const core_status stopped = mc_planar_solve(p1, J, b, &e3);
    stop = 0;
    const core_status again = mc_planar_solve(p1, J, b, &e3);
    tap_ok(stopped == CORE_ERR_STOPPED && again == CORE_OK && !memcmp(a, b, (size_t)lat.n_sites) && e3 == e1,
           "a stop request ends a solve (CORE_ERR_STOPPED); the same workspace then gives the same state");
    mc_planar_destroy(&p1);
    mc_planar_destroy(&p2);
    free(J);
    free(a);
    free(b);
  }

  /* 7. Refusals. */
  {
    mc_planar *pl = NULL;
    core_status a = mc_planar_create(1, 5, &pl);
    core_status b = mc_planar_create(20000, 20000, &pl);
    mc_planar_create(3, 3, &pl);
    double H[6] = {1, 1, 1, NAN, 1, 1}, V[6] = {1, 1, 1, 1, 1, 1}, e;
    int8_t s[9];
    core_status c = mc_planar_solve_hv(pl, H, V, s, &e);
    mc_planar_destroy(&pl);
    mc_planar_create(3, 4, &pl);
    double J[64] = {0};
    core_status d = mc_planar_solve(pl, J, s, &e);
    mc_planar_destroy(&pl);
    tap_ok(a == CORE_ERR_ARG && b == CORE_ERR_ARG && c == CORE_ERR_VALUE && d == CORE_ERR_ARG,
           "refused: a 1 x 5 lattice, 20000 x 20000, a NaN coupling, spin.h couplings for a 3 x 4 workspace");
  }
  MPI_Finalize();
  return tap_done();
}
