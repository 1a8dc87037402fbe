/* TAP test of the Monte Carlo chains against exact results:
 * - Kaufman's finite-lattice energy equals brute-force enumeration of the
 *   4 x 4 torus (so the reference itself is checked);
 * - Metropolis and heat bath on the 2D ferromagnet, L = 8 and 16 periodic,
 *   beta = 0.3, 0.4407, 0.6: energy per spin within 3 sigma of Kaufman;
 * - detailed balance on a 3 x 3 Edwards-Anderson instance: the histogram of
 *   visited states matches the exact Boltzmann weights (chi-square, p > 1e-4);
 * - a replica's trajectory is a pure function of (seed, instance, replica):
 *   the same in a chain of 2 or of 5 replicas, and on a re-run;
 * - the jackknife error of iid data is 1/sqrt(n) within 15%. */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

static double brute_force_energy(int L, double beta) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[2 * 16];
  spin_couplings_generate(&lat, SPIN_COUPLING_FERRO, 0, 0, J);
  int8_t s[16];
  double z = 0, ez = 0, e_min = -2.0 * L * L;
  for (int64_t code = 0; code < ((int64_t)1 << (L * L)); ++code) {
    for (int i = 0; i < L * L; ++i) s[i] = (int8_t)((code >> i) & 1 ? 1 : -1);
    double e = spin_energy(&lat, J, 0.0, s), w = exp(-beta * (e - e_min));
    z += w, ez += e * w;
  }
  return ez / z / (L * L);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(3 + 6 + 2 + 3 + 2 + 3);
  const double betas[3] = {0.3, 0.4406868, 0.6};

  for (int k = 0; k < 3; ++k) {
    double exact = mc_ising2d_exact_energy(4, betas[k]), brute = brute_force_energy(4, betas[k]);
    tap_close(exact, brute, 1e-8, betas[k] < 0.4 ? "Kaufman = brute force, 4 x 4 torus, beta 0.3"
                                  : betas[k] < 0.5 ? "Kaufman = brute force, 4 x 4 torus, beta_c"
                                                   : "Kaufman = brute force, 4 x 4 torus, beta 0.6");
  }

  /* Ferromagnet: MC against Kaufman. */
  for (int size = 0; size < 2; ++size)
    for (int k = 0; k < 3; ++k) {
      const int L = size ? 16 : 8, replicas = 16, therm = 1000, sweeps = size ? 6000 : 12000;
      spin_lattice lat;
      spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
      double *J = malloc(sizeof(double) * 2 * L * L);
      spin_couplings_generate(&lat, SPIN_COUPLING_FERRO, 0, 0, J);
      const mc_algorithm alg = (k + size) % 2 ? MC_HEATBATH : MC_METROPOLIS;
      mc_chain *ch;
      mc_chain_create(&lat, J, 0.0, 0, replicas, alg, 2385, (uint64_t)(10 * size + k), &ch);
      mc_chain_set_beta(ch, betas[k]);
      if (betas[k] > 0.5) {
        /* Ordered phase: start cold, or stripe states of a random start can
         * outlive the run on a torus. */
        int8_t *up = malloc((size_t)(L * L));
        memset(up, 1, (size_t)(L * L));
        for (int r = 0; r < replicas; ++r) mc_chain_set_spins(ch, r, up);
        free(up);
      }
      for (int t = 0; t < therm; ++t) mc_chain_sweep(ch);
      double *e = malloc(sizeof(double) * sweeps);
      for (int t = 0; t < sweeps; ++t) {
        mc_chain_sweep(ch);
        e[t] = 0;
        for (int r = 0; r < replicas; ++r) e[t] += mc_chain_energy(ch, r) / (L * L) / replicas;
      }
      double mean, err, exact = mc_ising2d_exact_energy(L, betas[k]);
      mc_estimate_mean(e, sweeps, 20, &mean, &err);
      tap_ok(fabs(mean - exact) < 3 * err, "%s L=%d beta=%.4f: E/N = %.5f +- %.5f, exact %.5f (%.1f sigma)",
             alg == MC_METROPOLIS ? "Metropolis" : "heat bath", L, betas[k], mean, err, exact,
             fabs(mean - exact) / err);
      mc_chain_destroy(&ch);
      free(e);
      free(J);
    }

  /* Detailed balance on a 3 x 3 open EA instance. */
  for (int a = 0; a < 2; ++a) {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, 3);
    double J[18];
    spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 77, 3, J);
    const double beta = 0.8, field = 0.15;
    double weight[512], z = 0, e_min = 0;
    int8_t s[9];
    for (int code = 0; code < 512; ++code) {
      for (int i = 0; i < 9; ++i) s[i] = (int8_t)((code >> i) & 1 ? 1 : -1);
      weight[code] = spin_energy(&lat, J, field, s);
      e_min = fmin(e_min, weight[code]);
    }
    for (int code = 0; code < 512; ++code) z += weight[code] = exp(-beta * (weight[code] - e_min));
    const int replicas = 64, records = 3000, gap = 3;
    mc_chain *ch;
    mc_chain_create(&lat, J, field, 0, replicas, a ? MC_HEATBATH : MC_METROPOLIS, 5, 3, &ch);
    mc_chain_set_beta(ch, beta);
    for (int t = 0; t < 50; ++t) mc_chain_sweep(ch);
    static long count[512];
    memset(count, 0, sizeof count);
    for (int t = 0; t < records; ++t) {
      for (int g = 0; g < gap; ++g) mc_chain_sweep(ch);
      for (int r = 0; r < replicas; ++r) {
        const int8_t *x = mc_chain_spins(ch, r);
        int code = 0;
        for (int i = 0; i < 9; ++i) code |= (x[i] > 0) << i;
        count[code]++;
      }
    }
    /* Chi-square with states of expected count < 5 pooled into one bin. */
    const double total = (double)replicas * records;
    double chi2 = 0, pooled_obs = 0, pooled_exp = 0;
    int bins = 0;
    for (int code = 0; code < 512; ++code) {
      double expect = total * weight[code] / z;
      if (expect < 5) {
        pooled_obs += count[code], pooled_exp += expect;
        continue;
      }
      chi2 += (count[code] - expect) * (count[code] - expect) / expect;
      ++bins;
    }
    if (pooled_exp > 0) chi2 += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / pooled_exp, ++bins;
    double p = gsl_cdf_chisq_Q(chi2, bins - 1);
    tap_ok(p > 1e-4, "%s, 3 x 3 EA with field: visited-state histogram vs Boltzmann, chi2 = %.1f on %d dof, p = %.3g",
           a ? "heat bath" : "Metropolis", chi2, bins - 1, p);
    mc_chain_destroy(&ch);
  }

  /* Replica trajectories are pure functions of (seed, instance, replica). */
  {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 6);
    double J[72];
    spin_couplings_generate(&lat, SPIN_COUPLING_GAUSSIAN, 3, 1, J);
    mc_chain *two, *five, *again;
    mc_chain_create(&lat, J, 0.0, 0, 2, MC_METROPOLIS, 9, 4, &two);
    mc_chain_create(&lat, J, 0.0, 0, 5, MC_METROPOLIS, 9, 4, &five);
    mc_chain_create(&lat, J, 0.0, 0, 2, MC_METROPOLIS, 9, 4, &again);
    mc_chain_set_beta(two, 1.3), mc_chain_set_beta(five, 1.3), mc_chain_set_beta(again, 1.3);
    for (int t = 0; t < 50; ++t) mc_chain_sweep(two), mc_chain_sweep(five), mc_chain_sweep(again);
    tap_ok(!memcmp(mc_chain_spins(two, 1), mc_chain_spins(five, 1), 36) &&
               !memcmp(mc_chain_spins(two, 0), mc_chain_spins(again, 0), 36) && mc_chain_sweeps(two) == 50,
           "replica 1 evolves identically in chains of 2 and 5 replicas; a re-run replays (%lld sweeps)",
           (long long)mc_chain_sweeps(two));
    tap_ok(memcmp(mc_chain_spins(five, 1), mc_chain_spins(five, 2), 36) != 0, "different replicas differ");
    mc_chain *shard;
    mc_chain_create(&lat, J, 0.0, 3, 2, MC_METROPOLIS, 9, 4, &shard);
    mc_chain_set_beta(shard, 1.3);
    for (int t = 0; t < 50; ++t) mc_chain_sweep(shard);
    tap_ok(!memcmp(mc_chain_spins(shard, 1), mc_chain_spins(five, 4), 36),
           "a rank's block of replicas (3 and 4) replays replicas 3 and 4 of the whole set");
    mc_chain_destroy(&shard);
    mc_chain_destroy(&two), mc_chain_destroy(&five), mc_chain_destroy(&again);
  }

  /* The FFTW structure factor against a direct Fourier sum, 2D and 3D. */
  for (int kind = 0; kind < 2; ++kind) {
    spin_lattice lat;
    spin_lattice_init(&lat, kind ? SPIN_CUBIC : SPIN_SQUARE, SPIN_PERIODIC, kind ? 4 : 6);
    int8_t a[64], b[64];
    core_rng rng;
    core_rng_init(&rng, 12, CORE_PURPOSE_TEST, (uint64_t)kind);
    for (int64_t x = 0; x < lat.n_sites; ++x) a[x] = core_rng_u32(&rng) & 1 ? 1 : -1, b[x] = core_rng_u32(&rng) & 1 ? 1 : -1;
    mc_overlap *ov;
    mc_overlap_create(&lat, &ov);
    double q, chik, direct = 0, qsum = 0;
    mc_overlap_measure(ov, a, b, &q, &chik);
    for (int d = 0; d < lat.dim; ++d) {
      double re = 0, im = 0;
      for (int64_t x = 0; x < lat.n_sites; ++x) {
        int64_t coord = d == 0 ? x % lat.L : d == 1 ? x / lat.L % lat.L : x / (lat.L * lat.L);
        double phase = 2 * CORE_PI * coord / lat.L;
        re += a[x] * b[x] * cos(phase), im -= a[x] * b[x] * sin(phase);
      }
      direct += (re * re + im * im) / lat.n_sites / lat.dim;
    }
    for (int64_t x = 0; x < lat.n_sites; ++x) qsum += a[x] * b[x];
    tap_ok(fabs(chik - direct) < 1e-12 * fmax(1, direct) && q == qsum / lat.n_sites,
           "%s: FFTW chi(k_min) %.12f = direct Fourier sum %.12f; q = mean overlap", kind ? "cubic 4^3" : "square 6^2",
           chik, direct);
    mc_overlap_destroy(&ov);
  }
  tap_ok(mc_correlation_length(8, 64.0, 64.0) == 0.0 &&
             fabs(mc_correlation_length(8, 5.0, 1.0) - 2.0 / (2 * sin(CORE_PI / 8))) < 1e-12,
         "second-moment correlation length formula");

  /* Jackknife on iid normal data. */
  {
    core_rng rng;
    core_rng_init(&rng, 1, CORE_PURPOSE_TEST, 9);
    const int n = 40000;
    double *x = malloc(sizeof(double) * n), mean, err;
    for (int i = 0; i < n; ++i) x[i] = 2.0 + core_rng_normal(&rng);
    mc_estimate_mean(x, n, 40, &mean, &err);
    tap_ok(fabs(err * sqrt(n) - 1) < 0.15 && fabs(mean - 2) < 4 * err,
           "jackknife of iid data: mean %.4f, error x sqrt(n) = %.3f", mean, err * sqrt(n));
    double *m2 = malloc(sizeof(double) * n), *m4 = malloc(sizeof(double) * n), u, uerr;
    for (int i = 0; i < n; ++i) m2[i] = x[i] * x[i], m4[i] = m2[i] * m2[i];
    mc_estimate_binder(m2, m4, n, 40, &u, &uerr);
    /* For x ~ N(2, 1): <x^2> = 5, <x^4> = 43, U = 1 - 43/75. */
    tap_ok(fabs(u - (1 - 43.0 / 75)) < 4 * uerr && uerr > 0, "Binder ratio of N(2,1) data: %.4f +- %.4f (exact %.4f)",
           u, uerr, 1 - 43.0 / 75);
    free(x), free(m2), free(m4);
  }
  MPI_Finalize();
  return tap_done();
}
