/* Basin hopping for the global minimum of a Lennard-Jones cluster
 * (Wales and Doye, J. Phys. Chem. A 101, 5111 (1997)).
 *
 * lj_basin_create / lj_basin_destroy: local; workspace for n.
 * lj_basin_start(b, seed, walk, row): local; the walk's first minimum.
 * lj_basin_steps(b, seed, walk, chunk, row): local; LJ_BASIN_CHUNK steps.
 *
 * The walk moves on the transformed surface E~(x) = E(min(x)): every state
 * is a local minimum, which removes the barriers inside each funnel; a
 * Metropolis test at `temperature` on the minima's energies lets the walk
 * climb out of a funnel. A walk row is (current E, best E, current
 * coordinates, best coordinates): everything the walk needs to continue,
 * so a checkpoint of the rows resumes it exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/lj.h"

struct lj_basin {
  int n;
  double radius, step, temperature;
  double *trial; /* (n, 3) */
  lj_minimiser *min;
};

/* Gradient norms: loose while hopping (the minimum's energy is then exact
 * to ~gtol^2 / curvature, 1e-10, far below the gaps between minima);
 * for the best minimum, the one reported, as far as the line search can
 * go (it stops near |grad| ~ 1e-6, minimise.c). */
static const double gtol_hop = 1e-5, gtol_best = 1e-10;
enum { MAX_ITER = 100000 };

static uint64_t purpose(int what) { return CORE_PURPOSE_LJ | (uint64_t)what << 8; }

core_status lj_basin_create(int n, double radius, double step, double temperature, lj_basin **b) {
  *b = NULL;
  CORE_CHECK(n >= 2 && n <= LJ_MAX_N, CORE_ERR_ARG, "cluster size %d: expected 2 to %d particles", n, (int)LJ_MAX_N);
  CORE_CHECK(isfinite(radius) && radius > 0 && isfinite(step) && step > 0 && isfinite(temperature) && temperature > 0,
             CORE_ERR_ARG, "basin hopping: radius %g, step %g, temperature %g: expected finite and > 0", radius, step,
             temperature);
  lj_basin *p = calloc(1, sizeof *p);
  CORE_CHECK(p, CORE_ERR_MEM, "cannot allocate basin hopping");
  *p = (lj_basin){.n = n, .radius = radius, .step = step, .temperature = temperature};
  p->trial = malloc(sizeof(double) * 3 * (size_t)n);
  core_status st = p->trial ? lj_minimiser_create(n, &p->min) : CORE_ERROR(CORE_ERR_MEM, "cannot allocate a walk");
  if (st) {
    lj_basin_destroy(&p);
    return st;
  }
  *b = p;
  return CORE_OK;
}

void lj_basin_destroy(lj_basin **b) {
  if (!b || !*b) return;
  lj_minimiser_destroy(&(*b)->min);
  free((*b)->trial);
  free(*b);
  *b = NULL;
}

core_status lj_basin_start(lj_basin *b, uint64_t seed, uint64_t walk, double *row) {
  const int n = b->n;
  core_rng rng;
  /* Index 2^32 + walk: above every temperature index of the samplers'
   * starts, so the two never share a stream. */
  core_rng_init(&rng, seed, purpose(LJ_STREAM_START), (uint64_t)1 << 32 | walk);
  double *x = row + LJ_WALK_X, e;
  CORE_CALL(lj_random_start(n, fmin(b->radius, 0.75 * cbrt((double)n) + 0.5), &rng, x));
  CORE_CALL(lj_minimise(b->min, x, gtol_best, MAX_ITER, &e));
  lj_center(n, x);
  row[LJ_WALK_ENERGY] = row[LJ_WALK_BEST_ENERGY] = e;
  memcpy(lj_walk_best(row, n), x, sizeof(double) * 3 * (size_t)n);
  return CORE_OK;
}

core_status lj_basin_steps(lj_basin *b, uint64_t seed, uint64_t walk, uint64_t chunk, double *row) {
  const int n = b->n;
  core_rng rng;
  core_rng_init(&rng, seed, purpose(LJ_STREAM_BASIN), walk << 32 | chunk);
  double *x = row + LJ_WALK_X, *best = lj_walk_best(row, n), *trial = b->trial;
  for (int s = 0; s < LJ_BASIN_CHUNK; ++s) {
    for (int k = 0; k < 3 * n; ++k) trial[k] = x[k] + b->step * (2.0 * core_rng_uniform(&rng) - 1.0);
    const double u = core_rng_uniform(&rng);
    double e;
    CORE_CALL(lj_minimise(b->min, trial, gtol_hop, MAX_ITER, &e));
    /* A particle that left the cluster makes a "minimum" that is only a
     * smaller cluster plus a free particle: rejected, as Wales and Doye's
     * container does. */
    if (lj_center(n, trial) > b->radius) continue;
    const double de = e - row[LJ_WALK_ENERGY];
    if (!(de <= 0.0 || u < exp(-de / b->temperature))) continue;
    memcpy(x, trial, sizeof(double) * 3 * (size_t)n);
    row[LJ_WALK_ENERGY] = e;
    if (e < row[LJ_WALK_BEST_ENERGY]) {
      memcpy(best, trial, sizeof(double) * 3 * (size_t)n);
      double e_best;
      CORE_CALL(lj_minimise(b->min, best, gtol_best, MAX_ITER, &e_best));
      lj_center(n, best);
      row[LJ_WALK_BEST_ENERGY] = e_best; /* the energy of the stored coordinates */
    }
  }
  return CORE_OK;
}
