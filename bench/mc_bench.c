/* Benchmark of the Monte Carlo sweep against a deliberately naive
 * single-spin Metropolis on the same lattice: scalar, double precision,
 * libc exp, neighbours recomputed with modulo arithmetic, one replica.
 * Everything runs the 16 x 16 periodic EA instance with uniform couplings
 * at beta = 1. The production sweep runs 16 replicas (one group of SIMD
 * lanes); the cases are Metropolis, heat bath, and Metropolis with every
 * replica's exact energy read after each sweep (what tempering and
 * annealing do). Each side is timed `rounds` times alternately and the
 * best kept. Prints ns per single-spin update and the ratio to the naive
 * sweep measured in the same run. The naive sweep (mc_naive.c) is
 * compiled with -O3 -march=native, the same freedom the production sweep
 * has through its AVX-512 / AVX2 builds. Run through bench/run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eloss/mc.h"
#include "mc_naive.h"

static double production_sweeps(mc_chain *ch, int replicas, int sweeps, int read_energies, double *sink) {
  double t0 = core_time();
  for (int t = 0; t < sweeps; ++t) {
    mc_chain_sweep(ch);
    if (read_energies)
      for (int r = 0; r < replicas; ++r) *sink += mc_chain_energy(ch, r);
  }
  return core_time() - t0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const int L = MC_NAIVE_L, replicas = 16, sweeps = 2000, rounds = 3;
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double *J = malloc(sizeof(double) * 2 * L * L);
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 1, 0, J);
  int8_t *s = malloc((size_t)(L * L));
  core_rng rng;
  core_rng_init(&rng, 1, CORE_PURPOSE_TEST, 0);
  for (int i = 0; i < L * L; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
  mc_chain *metro, *heat;
  mc_chain_create(&lat, J, 0.0, 0, replicas, MC_METROPOLIS, 1, 0, &metro);
  mc_chain_create(&lat, J, 0.0, 0, replicas, MC_HEATBATH, 1, 0, &heat);
  mc_chain_set_beta(metro, 1.0), mc_chain_set_beta(heat, 1.0);
  double naive = INFINITY, best[3] = {INFINITY, INFINITY, INFINITY}, sink = 0;
  for (int round = 0; round < rounds; ++round) {
    /* The naive sweep does the same number of single-spin updates. */
    naive = fmin(naive, mc_naive_sweeps(J, s, 1.0, sweeps * replicas, &rng));
    best[0] = fmin(best[0], production_sweeps(metro, replicas, sweeps, 0, &sink));
    best[1] = fmin(best[1], production_sweeps(heat, replicas, sweeps, 0, &sink));
    best[2] = fmin(best[2], production_sweeps(metro, replicas, sweeps, 1, &sink));
  }
  const char *names[3] = {"metropolis_16x16_uniform", "heatbath_16x16_uniform", "metropolis_16x16_with_energies"};
  const double updates = (double)sweeps * replicas * L * L;
  for (int c = 0; c < 3; ++c)
    printf("case=%s naive_ns=%.3f eloss_ns=%.3f speedup=%.2f\n", names[c], 1e9 * naive / updates,
           1e9 * best[c] / updates, naive / best[c]);
  fprintf(stderr, "(checksum %.6g)\n", sink);
  mc_chain_destroy(&metro), mc_chain_destroy(&heat);
  free(J), free(s);
  MPI_Finalize();
  return 0;
}
