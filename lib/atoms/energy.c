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
 * atoms_energy_f64 / _f32(plan, pred, terms, grad): local; each owned
 *   structure's share of the batch loss and its gradient rows. The kernels
 *   are in energy_kernel.inc, compiled once per precision.
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

/* L: structures per SIMD group; PREFETCH_AHEAD: edges between a prefetch
 * of a random second atom and its use (about one memory latency of work). */
enum { L = ATOMS_LANES, PREFETCH_AHEAD = 48 };

#define REAL double
#define SQRT sqrt
#define KERNEL(name) energy_f64_##name
#include "energy_kernel.inc"
#undef REAL
#undef SQRT
#undef KERNEL

#define REAL float
#define SQRT sqrtf
#define KERNEL(name) energy_f32_##name
#include "energy_kernel.inc"
#undef REAL
#undef SQRT
#undef KERNEL

void atoms_energy_f64(atoms_plan *plan, const double *pred, double *terms, double *grad) {
  energy_f64_all(plan, pred, terms, grad, plan->soa, plan->soa_grad, plan->dref, plan->kcoef, plan->ell_dref,
                 plan->ell_k);
}

void atoms_energy_f32(atoms_plan *plan, const float *pred, double *terms, float *grad) {
  energy_f32_all(plan, pred, terms, grad, plan->soa_f, plan->soa_grad_f, plan->dref_f, plan->kcoef_f,
                 plan->ell_dref_f, plan->ell_k_f);
}
