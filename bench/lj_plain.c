/* The plain baseline of bench/lj_bench: Lennard-Jones energy and gradient
 * as a first implementation writes it, a double loop over the pairs of
 * (n, 3) coordinates, with the same maths as lib/lj (no sqrt, one
 * division per pair). bench/meson.build compiles this file alone with
 * -O3 -march=native, so the comparison is against the compiler's best on
 * straightforward code. */
#include "lj_plain.h"

double lj_plain_energy_gradient(int n, const double *x, double *g) {
  for (int k = 0; k < 3 * n; ++k) g[k] = 0.0;
  double e = 0.0;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double dx = x[3 * i] - x[3 * j], dy = x[3 * i + 1] - x[3 * j + 1], dz = x[3 * i + 2] - x[3 * j + 2];
      const double s = 1.0 / (dx * dx + dy * dy + dz * dz), s3 = s * s * s;
      e += 4.0 * s3 * (s3 - 1.0);
      const double f = s * s3 * (48.0 * s3 - 24.0);
      g[3 * i] -= f * dx, g[3 * i + 1] -= f * dy, g[3 * i + 2] -= f * dz;
      g[3 * j] += f * dx, g[3 * j + 1] += f * dy, g[3 * j + 2] += f * dz;
    }
  return e;
}
