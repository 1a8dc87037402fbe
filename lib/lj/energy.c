/* Lennard-Jones energy and gradient: the hot kernels of lib/lj.
 *
 * lj_energy_gradient(n, x, grad, work): local, pure; E (and dE/dx) of n
 *   particles at x (n, 3), work = 6n doubles of scratch.
 * lj_particle_energy(n, i, p, xs, ys, zs): local, pure; the energy of
 *   particle i placed at p with the others at (xs, ys, zs).
 * lj_default_radius(n): the containing sphere's default radius.
 *
 * Pair potential, reduced units (epsilon = sigma = 1):
 *   V(r) = 4 (r^-12 - r^-6),   E = sum_{i<j} V(r_ij).
 * With s = 1 / r^2 and s3 = s^3: V = 4 s3 (s3 - 1), and
 *   dV/dr * (1/r) = -(48 s3^2 - 24 s3) s = -f,
 * so dE/dx_i = -f (x_i - x_j) and dE/dx_j = +f (x_i - x_j): one f per pair
 * serves both particles (Newton's third law).
 *
 * Speed: the coordinates are copied to structure-of-arrays form (O(n),
 * negligible against the O(n^2) pairs) so that the inner loop over j > i
 * reads three contiguous arrays and updates three contiguous gradient
 * arrays: GCC vectorises it (omp simd; one division per pair, no sqrt,
 * since only even powers of r appear). The kernel is compiled for
 * AVX-512, AVX2 and baseline x86-64 and the loader picks one; the order of
 * the partial sums is fixed by the vector width, so results are
 * reproducible on one machine whatever the number of ranks, and may differ
 * in the last bits between CPUs of different vector widths. */
#include <math.h>

#include "eloss/lj.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

/* Energy only (Metropolis needs no gradient): the triangle j > i. */
TARGET_CLONES static double energy_soa(int n, const double *restrict xs, const double *restrict ys,
                                       const double *restrict zs) {
  double e = 0.0;
  for (int i = 0; i < n - 1; ++i) {
    const double xi = xs[i], yi = ys[i], zi = zs[i];
    double ei = 0.0;
#pragma omp simd reduction(+ : ei)
    for (int j = i + 1; j < n; ++j) {
      const double dx = xi - xs[j], dy = yi - ys[j], dz = zi - zs[j];
      const double s = 1.0 / (dx * dx + dy * dy + dz * dz), s3 = s * s * s;
      ei += s3 * (s3 - 1.0);
    }
    e += ei;
  }
  return 4.0 * e;
}

/* Energy and gradient (gx, gy, gz overwritten), (n) each. */
TARGET_CLONES static double energy_gradient_soa(int n, const double *restrict xs, const double *restrict ys,
                                                const double *restrict zs, double *restrict gx, double *restrict gy,
                                                double *restrict gz) {
  for (int j = 0; j < n; ++j) gx[j] = gy[j] = gz[j] = 0.0;
  double e = 0.0;
  for (int i = 0; i < n - 1; ++i) {
    const double xi = xs[i], yi = ys[i], zi = zs[i];
    double ei = 0.0, gxi = 0.0, gyi = 0.0, gzi = 0.0;
#pragma omp simd reduction(+ : ei, gxi, gyi, gzi)
    for (int j = i + 1; j < n; ++j) {
      const double dx = xi - xs[j], dy = yi - ys[j], dz = zi - zs[j];
      const double s = 1.0 / (dx * dx + dy * dy + dz * dz), s3 = s * s * s;
      ei += s3 * (s3 - 1.0);
      const double f = s * s3 * (48.0 * s3 - 24.0);
      gxi -= f * dx, gyi -= f * dy, gzi -= f * dz;
      gx[j] += f * dx, gy[j] += f * dy, gz[j] += f * dz;
    }
    gx[i] += gxi, gy[i] += gyi, gz[i] += gzi;
    e += ei;
  }
  return 4.0 * e;
}

/* Small clusters: the same pair loop directly on (n, 3), scalar. Below
 * SMALL_N the inner loops are a few iterations long, so the vector
 * kernel's copies and remainder handling cost more than they save
 * (bench/lj_run, n = 13: 30 ns per particle against 24 for this loop). */
enum { SMALL_N = 24 };

static double energy_gradient_small(int n, const double *restrict x, double *restrict g) {
  for (int k = 0; k < 3 * n; ++k) g[k] = 0.0;
  double e = 0.0;
  for (int i = 0; i < n - 1; ++i)
    for (int j = i + 1; j < n; ++j) {
      const double dx = x[3 * i] - x[3 * j], dy = x[3 * i + 1] - x[3 * j + 1], dz = x[3 * i + 2] - x[3 * j + 2];
      const double s = 1.0 / (dx * dx + dy * dy + dz * dz), s3 = s * s * s;
      e += s3 * (s3 - 1.0);
      const double f = s * s3 * (48.0 * s3 - 24.0);
      g[3 * i] -= f * dx, g[3 * i + 1] -= f * dy, g[3 * i + 2] -= f * dz;
      g[3 * j] += f * dx, g[3 * j + 1] += f * dy, g[3 * j + 2] += f * dz;
    }
  return 4.0 * e;
}

double lj_energy_gradient(int n, const double *x, double *grad, double *work) {
  if (grad && n < SMALL_N) return energy_gradient_small(n, x, grad);
  double *xs = work, *ys = work + n, *zs = work + 2 * n;
  for (int i = 0; i < n; ++i) xs[i] = x[3 * i], ys[i] = x[3 * i + 1], zs[i] = x[3 * i + 2];
  if (!grad) return energy_soa(n, xs, ys, zs);
  double *gx = work + 3 * n, *gy = work + 4 * n, *gz = work + 5 * n;
  const double e = energy_gradient_soa(n, xs, ys, zs, gx, gy, gz);
  for (int i = 0; i < n; ++i) grad[3 * i] = gx[i], grad[3 * i + 1] = gy[i], grad[3 * i + 2] = gz[i];
  return e;
}

/* Sum of V over j in [lo, hi) for a particle at (px, py, pz). */
TARGET_CLONES static double row_energy(int lo, int hi, double px, double py, double pz, const double *restrict xs,
                                       const double *restrict ys, const double *restrict zs) {
  double e = 0.0;
#pragma omp simd reduction(+ : e)
  for (int j = lo; j < hi; ++j) {
    const double dx = px - xs[j], dy = py - ys[j], dz = pz - zs[j];
    const double s = 1.0 / (dx * dx + dy * dy + dz * dz), s3 = s * s * s;
    e += s3 * (s3 - 1.0);
  }
  return e;
}

double lj_particle_energy(int n, int i, const double *p, const double *xs, const double *ys, const double *zs) {
  /* Two ranges around i instead of a test inside the loop, which would
   * keep the loop from vectorising. */
  return 4.0 * (row_energy(0, i, p[0], p[1], p[2], xs, ys, zs) + row_energy(i + 1, n, p[0], p[1], p[2], xs, ys, zs));
}

double lj_default_radius(int n) {
  /* 2.5 sigma holds LJ13 with room for its surface to move but keeps
   * evaporated particles near; beyond 13 the same room per particle. */
  return n <= 13 ? 2.5 : 2.5 * cbrt((double)n / 13.0);
}
