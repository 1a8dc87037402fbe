/* The naive reference of bench/mc_bench: what a first implementation of
 * single-spin Metropolis looks like. Scalar, double precision, libc exp,
 * neighbours recomputed with modulo arithmetic, one replica, one uniform
 * (core_rng) per proposed uphill move. No hand vectorisation; bench/meson.build
 * compiles this file alone with -O3 -march=native, so the compiler may use
 * every instruction this CPU has, as the production sweep's AVX-512 build
 * does. */
#include "mc_naive.h"

#include <math.h>

double mc_naive_sweeps(const double *J, int8_t *s, double beta, int sweeps, core_rng *rng) {
  const int L = MC_NAIVE_L, n = L * L;
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
