/* TAP test of lib/lj on one rank: the energy against a plain reference
 * loop and known answers, the analytic gradient against central
 * differences (and a corrupted gradient caught), invariances, the
 * Metropolis move's Delta E, the minimiser, the sampler's and the
 * exchange's purity, and basin hopping's minima for N = 3..20 against the
 * Cambridge Cluster Database. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/lj.h"
#include "tap.h"

/* Putative global minima of LJ_N, N = 3..20, in epsilon: the Cambridge
 * Cluster Database (Wales et al., http://doye.chem.ox.ac.uk/jon/structures/LJ.html;
 * Wales and Doye, J. Phys. Chem. A 101, 5111 (1997), Table 1), 6 decimals. */
static const double ccd[21] = {0, 0, 0, -3.000000, -6.000000, -9.103852, -12.712062, -16.505384, -19.821489,
                               -24.113360, -28.422532, -32.765970, -37.967600, -44.326801, -47.845157, -52.322627,
                               -56.815742, -61.317995, -66.530949, -72.659782, -77.177043};

static core_rng rng;

/* The definition, written as plainly as possible: pow and sqrt, AoS. */
static double reference_energy(int n, const double *x) {
  double e = 0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      double r2 = 0;
      for (int k = 0; k < 3; ++k) r2 += (x[3 * i + k] - x[3 * j + k]) * (x[3 * i + k] - x[3 * j + k]);
      const double r = sqrt(r2);
      e += 4 * (pow(r, -12) - pow(r, -6));
    }
  return e;
}

/* A cluster-like random configuration: a random start (points >= 0.8
 * apart) scaled by 1.1 so that pairs sit around the potential's well. */
static void random_cluster(int n, double *x) {
  lj_random_start(n, 0.75 * cbrt((double)n) + 0.5, &rng, x);
  for (int k = 0; k < 3 * n; ++k) x[k] *= 1.1;
}

/* max |analytic - central difference| / max |analytic|, with the
 * analytic gradient scaled entrywise by `corrupt` at entry `bad`. */
static double gradient_error(int n, const double *x0, int bad, double corrupt) {
  double *x = malloc(sizeof(double) * 3 * n), *g = malloc(sizeof(double) * 3 * n), *w = malloc(sizeof(double) * 6 * n);
  memcpy(x, x0, sizeof(double) * 3 * n);
  lj_energy_gradient(n, x, g, w);
  if (bad >= 0) g[bad] *= corrupt;
  double err = 0, scale = 0;
  for (int a = 0; a < 3 * n; ++a) {
    /* h = 1e-5: the truncation error h^2 E''' / 6 and the rounding error
     * eps E / h are both ~1e-10 of the gradient for these energies. */
    const double h = 1e-5, keep = x[a];
    x[a] = keep + h;
    const double ep = lj_energy_gradient(n, x, NULL, w);
    x[a] = keep - h;
    const double em = lj_energy_gradient(n, x, NULL, w);
    x[a] = keep;
    err = fmax(err, fabs((ep - em) / (2 * h) - g[a]));
    scale = fmax(scale, fabs(g[a]));
  }
  free(x), free(g), free(w);
  return err / scale;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(39);
  core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, 9);
  enum { NMAX = 64 };
  double x[3 * NMAX], y[3 * NMAX], g[3 * NMAX], w[6 * NMAX];

  /* Known answers: V(1) = 0, V(2^(1/6)) = -1 (the well), dV = 0 there. */
  double dimer[6] = {0.3, -0.2, 0.1, 1.3, -0.2, 0.1};
  tap_ok(fabs(lj_energy_gradient(2, dimer, NULL, w)) < 1e-15, "V(r = 1) = 0");
  dimer[3] = 0.3 + pow(2.0, 1.0 / 6.0);
  tap_close(lj_energy_gradient(2, dimer, g, w), -1.0, 1e-15, "V(r = 2^(1/6)) = -1");
  tap_ok(fabs(g[0]) < 1e-13 && fabs(g[3]) < 1e-13, "dV/dr = 0 at the well (g = %.1e, %.1e)", g[0], g[3]);

  /* The kernel = the definition; n = 37 covers the vector remainders. */
  random_cluster(37, x);
  tap_close(lj_energy_gradient(37, x, NULL, w), reference_energy(37, x), 1e-12, "E(37 particles) = plain loop");
  tap_close(lj_energy_gradient(37, x, g, w), reference_energy(37, x), 1e-12, "E with gradient = plain loop");
  random_cluster(13, y); /* below the kernel's small-cluster cut: the scalar path */
  tap_close(lj_energy_gradient(13, y, g, w), reference_energy(13, y), 1e-12, "E with gradient, n = 13 = plain loop");

  /* Gradient against central differences. */
  random_cluster(5, x);
  double e5 = gradient_error(5, x, -1, 1);
  tap_ok(e5 < 1e-6, "gradient = central differences, n = 5 (rel %.1e)", e5);
  random_cluster(38, x);
  double e38 = gradient_error(38, x, -1, 1);
  tap_ok(e38 < 1e-6, "gradient = central differences, n = 38 (rel %.1e)", e38);
  double broken = gradient_error(38, x, 17, 1.001);
  tap_ok(broken > 1e-6, "a gradient entry 0.1 %% off is caught (rel %.1e)", broken);

  /* Invariances: the gradient sums to zero (translation); E is unchanged
   * by a rotation, a translation and a permutation. */
  lj_energy_gradient(38, x, g, w);
  double sum[3] = {0, 0, 0}, gmax = 0;
  for (int i = 0; i < 38; ++i)
    for (int k = 0; k < 3; ++k) sum[k] += g[3 * i + k], gmax = fmax(gmax, fabs(g[3 * i + k]));
  tap_ok(fabs(sum[0]) + fabs(sum[1]) + fabs(sum[2]) < 1e-11 * gmax * 38, "gradients sum to zero (%.1e)",
         fabs(sum[0]) + fabs(sum[1]) + fabs(sum[2]));
  const double c = cos(0.7), s = sin(0.7);
  for (int i = 0; i < 38; ++i) {
    const double *p = x + 3 * ((i * 5) % 38); /* 5 is prime to 38: a permutation */
    y[3 * i] = c * p[0] - s * p[1] + 2.385, y[3 * i + 1] = s * p[0] + c * p[1] - 1.5, y[3 * i + 2] = p[2] + 0.25;
  }
  tap_close(lj_energy_gradient(38, y, NULL, w), lj_energy_gradient(38, x, NULL, w), 1e-12,
            "E invariant to rotation, translation and permutation");

  /* The Metropolis move: particle energies' difference = full difference. */
  {
    double xs[38], ys[38], zs[38], p[3] = {x[3 * 11] + 0.13, x[3 * 11 + 1] - 0.07, x[3 * 11 + 2] + 0.05};
    for (int i = 0; i < 38; ++i) xs[i] = x[3 * i], ys[i] = x[3 * i + 1], zs[i] = x[3 * i + 2];
    const double de = lj_particle_energy(38, 11, p, xs, ys, zs) - lj_particle_energy(38, 11, x + 33, xs, ys, zs);
    memcpy(y, x, sizeof(double) * 3 * 38);
    memcpy(y + 33, p, sizeof p);
    tap_close(de, lj_energy_gradient(38, y, NULL, w) - lj_energy_gradient(38, x, NULL, w), 1e-10,
              "particle Delta E = difference of total energies");
  }

  tap_ok(lj_random_start(40, 1.0, &rng, x) == CORE_ERR_ARG, "40 particles 0.8 apart do not fit a ball of radius 1: "
         "refused (%s)", core_error_message());

  /* The minimiser: from a perturbed random start to a stationary point
   * whose energy is the one reported. */
  {
    lj_minimiser *m;
    double e;
    random_cluster(13, x);
    core_status st = lj_minimiser_create(13, &m);
    if (!st) st = lj_minimise(m, x, 1e-10, 100000, &e);
    lj_energy_gradient(13, x, g, w);
    double gn = 0;
    for (int k = 0; k < 39; ++k) gn += g[k] * g[k];
    /* |g| < 1e-5: the line search stops near 1e-6 (minimise.c), where
     * the energy is within ~1e-12 of the minimum's. */
    tap_ok(!st && sqrt(gn) < 1e-5 && fabs(e - lj_energy_gradient(13, x, NULL, w)) < 1e-12 && e < -30,
           "BFGS reaches a minimum of LJ13 (E = %.6f, |g| = %.1e)", e, sqrt(gn));
    lj_minimiser_destroy(&m);
    tap_ok(m == NULL && lj_minimiser_create(1, &m) == CORE_ERR_ARG && m == NULL, "n = 1 refused, handle NULL");
  }

  /* The sampler: a pure function of (seed, t, cycle, row); stored energy
   * = energy of the stored coordinates; the container holds. */
  {
    const int n = 13;
    lj_sampler *sm;
    double r0[2 + 3 * 13], r1[2 + 3 * 13], r2[2 + 3 * 13], acc;
    core_status st = lj_sampler_create(n, 2.5, &sm);
    if (!st) st = lj_sampler_start(sm, 7, 3, r0);
    memcpy(r1, r0, sizeof r0), memcpy(r2, r0, sizeof r0);
    for (int cyc = 0; !st && cyc < 20; ++cyc) st = lj_sampler_cycle(sm, 7, 3, (uint64_t)cyc, 0.3, 10, 1, r1, &acc, NULL);
    for (int cyc = 0; !st && cyc < 20; ++cyc) st = lj_sampler_cycle(sm, 7, 3, (uint64_t)cyc, 0.3, 10, 1, r2, NULL, NULL);
    tap_ok(!st && memcmp(r1, r2, sizeof r1) == 0 && memcmp(r1, r0, sizeof r0) != 0,
           "20 cycles at T = 0.3 twice: bit-identical, and they moved (step %.3f, acceptance %.2f)", r1[1], acc);
    double rmax = 0;
    for (int i = 0; i < n; ++i)
      rmax = fmax(rmax, sqrt(r1[2 + 3 * i] * r1[2 + 3 * i] + r1[3 + 3 * i] * r1[3 + 3 * i] + r1[4 + 3 * i] * r1[4 + 3 * i]));
    tap_ok(r1[0] == lj_energy_gradient(n, r1 + 2, NULL, w) && rmax <= 2.5,
           "stored energy = energy of the stored coordinates (%.6f); every particle inside the sphere (%.3f <= 2.5)",
           r1[0], rmax);
    volatile sig_atomic_t stop = 1;
    tap_ok(lj_sampler_cycle(sm, 7, 3, 99, 0.3, 10, 0, r2, NULL, &stop) == CORE_ERR_STOPPED,
           "a stop request ends a cycle");
    lj_sampler_destroy(&sm);

    /* Exchange: equal temperatures always swap (the ratio is 1), and the
     * decision is a pure function of (seed, cycle). */
    double rows[3 * (2 + 3 * 13)], again[3 * (2 + 3 * 13)], a[3] = {0}, t[3] = {0};
    for (int k = 0; k < 3; ++k) memcpy(rows + k * (2 + 3 * n), r0, sizeof r0), rows[k * (2 + 3 * n)] = -40.0 - k;
    const double same_t[3] = {0.2, 0.2, 0.2};
    lj_exchange(n, 3, same_t, 5, 0, rows, a, t);
    tap_ok(a[0] == 1 && t[0] == 1 && t[1] == 0 && rows[0] == -41.0 && rows[2 + 3 * n] == -40.0,
           "equal temperatures: pair (0, 1) tried and swapped at an even cycle, pair (1, 2) not tried");
    const double temps[3] = {0.1, 0.2, 0.4};
    for (int k = 0; k < 3; ++k) rows[k * (2 + 3 * n)] = -30.0 - 10 * k; /* hot replicas far lower: unlikely swaps */
    memcpy(again, rows, sizeof rows);
    double a2[3] = {0}, t2[3] = {0};
    for (int cyc = 0; cyc < 50; ++cyc) lj_exchange(n, 3, temps, 5, (uint64_t)cyc, rows, a, t);
    for (int cyc = 0; cyc < 50; ++cyc) lj_exchange(n, 3, temps, 5, (uint64_t)cyc, again, a2, t2);
    tap_ok(memcmp(rows, again, sizeof rows) == 0 && a2[0] <= t2[0] && t2[0] == 25 && t2[1] == 25,
           "50 exchanges twice: identical; every pair tried every second cycle; accepted %g and %g of 25", a2[0], a2[1]);
  }

  /* Basin hopping: 2 walks of 300 steps each find the CCD minimum of
   * every N from 3 to 20 to 1e-5, never anything lower, and the stored
   * coordinates carry the stored energy. */
  {
    const double t0 = core_time();
    int below = 0, mismatched = 0;
    for (int n = 3; n <= 20; ++n) {
      lj_basin *b;
      double *row = malloc(sizeof(double) * lj_walk_size(n)), best = INFINITY;
      core_status st = lj_basin_create(n, lj_default_radius(n), 0.4, 0.8, &b);
      for (uint64_t walk = 0; !st && walk < 2; ++walk) {
        st = lj_basin_start(b, 2385, walk, row);
        for (uint64_t chunk = 0; !st && chunk < 300 / LJ_BASIN_CHUNK; ++chunk) st = lj_basin_steps(b, 2385, walk, chunk, row);
        best = fmin(best, row[LJ_WALK_BEST_ENERGY]);
        below += row[LJ_WALK_BEST_ENERGY] < ccd[n] - 1e-5;
        mismatched += fabs(lj_energy_gradient(n, lj_walk_best(row, n), NULL, w) - row[LJ_WALK_BEST_ENERGY]) > 1e-12;
      }
      tap_ok(!st && fabs(best - ccd[n]) <= 1e-5, "LJ%d: basin hopping %.6f = CCD %.6f (diff %.1e)", n, best, ccd[n],
             fabs(best - ccd[n]));
      lj_basin_destroy(&b);
      free(row);
    }
    tap_ok(below == 0 && mismatched == 0, "no walk went below the CCD value (%d), every best energy is that of its "
           "coordinates (%d mismatches); %.2f s", below, mismatched, core_time() - t0);
  }
  MPI_Finalize();
  return tap_done();
}
