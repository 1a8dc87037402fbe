/* Exact ground states of open square lattices by either solver: the
 * transfer matrix (lib/mc/exact.c) or matching (lib/mc/planar.c), and the
 * rule that picks the faster one for a size.
 *
 * mc_ground_method_default, mc_ground_check, mc_ground_method_text: pure.
 * mc_ground_create / _solve / _destroy: local; see mc.h. */
#include <stdlib.h>

#include "eloss/mc.h"

/* Below this L the transfer matrix is used (bench/planar_bench, uniform
 * couplings: at L = 10 it takes 0.7x matching's time, at L = 11 1.2x, at
 * L = 12 2.3x, at L = 16 21x). L = 11 would gain 0.06 ms per instance by
 * matching, but +-J instances, with many ground states, would then store
 * another one than the datasets made so far. */
enum { MATCHING_FROM_L = 12 };

struct mc_ground {
  mc_ground_method method;
  spin_lattice lat;
  mc_exact *tm;
  mc_planar *matching;
};

mc_ground_method mc_ground_method_default(int L) { return L < MATCHING_FROM_L ? MC_GROUND_TM : MC_GROUND_MATCHING; }

const char *mc_ground_method_text(mc_ground_method method) {
  return method == MC_GROUND_TM ? "exact: min-plus transfer matrix (eloss mc_exact_solve)"
                                : "exact: minimum-weight perfect matching of the frustrated plaquettes on the dual "
                                  "graph (eloss mc_planar_solve)";
}

core_status mc_ground_check(int L, mc_ground_method method) {
  if (method == MC_GROUND_TM)
    CORE_CHECK(L >= 2 && L <= MC_EXACT_MAX_L, CORE_ERR_UNSUPPORTED,
               "the transfer matrix solves 2 <= L <= %d (memory and time grow as 2^L); L = %d needs matching",
               (int)MC_EXACT_MAX_L, L);
  else
    CORE_CHECK(L >= 2 && (int64_t)L * L <= MC_PLANAR_MAX_SITES, CORE_ERR_UNSUPPORTED,
               "matching solves open L x L lattices with 2 <= L and L^2 <= %lld; L = %d is outside",
               (long long)MC_PLANAR_MAX_SITES, L);
  return CORE_OK;
}

core_status mc_ground_create(int L, mc_ground_method method, mc_ground **out) {
  *out = NULL;
  CORE_CALL(mc_ground_check(L, method));
  mc_ground *g = calloc(1, sizeof *g);
  CORE_CHECK(g, CORE_ERR_MEM, "exact ground states: out of memory");
  g->method = method;
  core_status st = spin_lattice_init(&g->lat, SPIN_SQUARE, SPIN_OPEN, L);
  if (!st) st = method == MC_GROUND_TM ? mc_exact_create(L, &g->tm) : mc_planar_create(L, L, &g->matching);
  if (st) {
    free(g);
    return st;
  }
  *out = g;
  return CORE_OK;
}

core_status mc_ground_solve(mc_ground *g, const double *J, int8_t *spins, double *energy) {
  if (g->method == MC_GROUND_MATCHING) return mc_planar_solve(g->matching, J, spins, energy); /* spin_energy's sum */
  CORE_CALL(mc_exact_solve(g->tm, J, spins, energy));
  /* The energy summed from the spins, as spin_energy sums it (and as
   * mc_planar_solve returns it): the two solvers then store the same bytes
   * whenever they find the same state. */
  *energy = spin_energy(&g->lat, J, 0.0, spins);
  return CORE_OK;
}

int64_t mc_ground_memory(int L, mc_ground_method method) {
  if (method == MC_GROUND_TM) return 8 * ((int64_t)1 << L) + (int64_t)L * L * ((int64_t)1 << L) / 8;
  return 1900 * (int64_t)L * L;
}

void mc_ground_set_stop(mc_ground *g, volatile sig_atomic_t *stop) {
  if (g->matching) mc_planar_set_stop(g->matching, stop);
}

void mc_ground_destroy(mc_ground **g) {
  if (!g || !*g) return;
  mc_exact_destroy(&(*g)->tm);
  mc_planar_destroy(&(*g)->matching);
  free(*g);
  *g = NULL;
}
