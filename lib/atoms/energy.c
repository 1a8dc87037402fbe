/* The paper's atomistic energy loss, Eq. 7, per structure:
 *
 *   E(y^, y) = sum_{i != j} 1/2 k_ij(y) (|y_i - y_j| - |y^_i - y^_j|)^2
 *            = sum_{i < j in the edge set} k_ij (d_ij - d^_ij)^2,
 *
 * with k_ij from the reference distances (edges.c). The sum is Eq. 5's
 * energy difference for a quadratic pair potential around the data, hence
 * invariant to E(d) and to the reference's automorphisms (Prop. 4.2) and
 * minimised exactly by rigid motions of y (Cor. 4.3).
 *
 * atoms_energy_structure_f64 / _f32(plan, b, pred, grad, soa, soa_grad):
 *   local; returns the structure's share of the batch loss and writes the
 *   gradient rows (n_max, d) if grad is not NULL. The kernels themselves are
 *   in energy_kernel.inc, compiled once per precision.
 *
 * The complete-graph kernel is compiled for AVX-512, AVX2 and baseline x86-64
 * (GCC function multi-versioning picks one at load time), so one binary is
 * both portable and fast. */
#include <math.h>

#include "atoms_impl.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

#define REAL double
#define ACC double
#define SQRT sqrt
#define KERNEL(name) energy_f64_##name
#include "energy_kernel.inc"
#undef REAL
#undef ACC
#undef SQRT
#undef KERNEL

#define REAL float
#define ACC double
#define SQRT sqrtf
#define KERNEL(name) energy_f32_##name
#include "energy_kernel.inc"
#undef REAL
#undef ACC
#undef SQRT
#undef KERNEL

double atoms_energy_structure_f64(const atoms_plan *plan, int64_t b, const double *pred,
                                  double *grad, double *soa, double *soa_grad) {
  return energy_f64_structure(plan, b, pred, grad, soa, soa_grad, plan->dref, plan->kcoef);
}

double atoms_energy_structure_f32(const atoms_plan *plan, int64_t b, const float *pred,
                                  float *grad, float *soa, float *soa_grad) {
  return energy_f32_structure(plan, b, pred, grad, soa, soa_grad, plan->dref_f, plan->kcoef_f);
}
