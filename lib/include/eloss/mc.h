/* eloss mc: ground states and Monte Carlo of spin systems. This release
 * holds the exact ground-state solver for open square lattices; samplers
 * follow.
 *
 * Worked example:
 *
 *   mc_exact *ex;
 *   mc_exact_create(16, &ex);                  // workspace for 16 x 16
 *   for (instance ...) {
 *     spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, seed, instance, J);
 *     double e;
 *     mc_exact_solve(ex, J, spins, &e);         // spins: (256) int8, s_0 = +1
 *   }
 *   mc_exact_destroy(&ex);
 */
#ifndef ELOSS_MC_H
#define ELOSS_MC_H

#include <stdint.h>

#include "eloss/core.h"
#include "eloss/spin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest width the transfer-matrix solver accepts: 2^20 boundary states
 * need 8 MB of energies and 2^20 / 8 bytes of choices per site (50 MB for
 * a 20 x 20 lattice). */
enum { MC_EXACT_MAX_L = 20 };

typedef struct mc_exact mc_exact;

/* Workspace for exact ground states of open L x L square lattices,
 * 2 <= L <= MC_EXACT_MAX_L. Memory: 8 * 2^L bytes of energies plus
 * L^2 * 2^L / 8 bytes of choices. Local. */
core_status mc_exact_create(int L, mc_exact **ex);

/* Ground state of the open L x L Edwards-Anderson lattice with couplings J
 * (spin.h layout; bonds leaving the lattice are ignored) and no field:
 * min-plus transfer matrix over the 2^L states of the last L spins, one site
 * at a time, then backtracking. Writes the spins (L * L, +-1) in canonical
 * sign, spins[0] = +1 (the global flip of a ground state is a ground state),
 * and the energy. Time: about L^2 2^L steps (16 x 16: a few ms). Local. */
core_status mc_exact_solve(mc_exact *ex, const double *J, int8_t *spins, double *energy);

void mc_exact_destroy(mc_exact **ex);

#ifdef __cplusplus
}
#endif
#endif
