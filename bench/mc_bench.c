/* Benchmark of the Monte Carlo sweep against a deliberately naive
 * single-spin Metropolis on the same lattice: scalar, double precision,
 * libc exp, neighbours recomputed with modulo arithmetic, one replica. Both
 * run the 16 x 16 periodic EA instance with uniform couplings at beta = 1
 * for the same number of updates. Prints ns per single-spin update of each
 * and their ratio. Run through bench/run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eloss/mc.h"

/* The naive reference: what a first implementation looks like. */
static double naive_sweeps(int L, const double *J, int8_t *s, double beta, int sweeps, core_rng *rng) {
  const int n = L * L;
  double t0 = core_time();
  for (int t = 0; t < sweeps; ++t)
    for (int i = 0; i < n; ++i) {
      int x = i % L, y = i / L;
      int right = y * L + (x + 1) % L, left = y * L + (x + L - 1) % L;
      int down = ((y + 1) % L) * L + x, up = ((y + L - 1) % L) * L + x;
      double h = J[i] * s[right] + J[left] * s[left] + J[n + i] * s[down] + J[n + up] * s[up];
      double delta = 2.0 * s[i] * h;
      if (delta <= 0 || core_rng_uniform(rng) < exp(-beta * delta)) s[i] = (int8_t)-s[i];
    }
  return core_time() - t0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const int L = 16, replicas = 16, sweeps = 2000;
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double *J = malloc(sizeof(double) * 2 * L * L);
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 1, 0, J);
  int8_t *s = malloc((size_t)(L * L));
  core_rng rng;
  core_rng_init(&rng, 1, CORE_PURPOSE_TEST, 0);
  for (int i = 0; i < L * L; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
  double naive = naive_sweeps(L, J, s, 1.0, sweeps * replicas, &rng);
  mc_chain *ch;
  mc_chain_create(&lat, J, 0.0, 0, replicas, MC_METROPOLIS, 1, 0, &ch);
  mc_chain_set_beta(ch, 1.0);
  double t0 = core_time();
  for (int t = 0; t < sweeps; ++t) mc_chain_sweep(ch);
  double production = core_time() - t0;
  /* The same with every replica's exact energy after each sweep, as
   * tempering and annealing need. */
  t0 = core_time();
  double sink = 0;
  for (int t = 0; t < sweeps; ++t) {
    mc_chain_sweep(ch);
    for (int r = 0; r < replicas; ++r) sink += mc_chain_energy(ch, r);
  }
  double with_energy = core_time() - t0;
  const double updates = (double)sweeps * replicas * L * L;
  printf("case=metropolis_16x16_uniform naive_ns=%.3f eloss_ns=%.3f speedup=%.2f\n", 1e9 * naive / updates,
         1e9 * production / updates, naive / production);
  printf("case=metropolis_16x16_uniform_energies naive_ns=%.3f eloss_ns=%.3f speedup=%.2f (sum %.3g)\n",
         1e9 * naive / updates, 1e9 * with_energy / updates, naive / with_energy, sink);
  mc_chain_destroy(&ch);
  free(J), free(s);
  MPI_Finalize();
  return 0;
}
