/* Metropolis Monte Carlo of Lennard-Jones clusters in a containing sphere,
 * and the replica exchange of parallel tempering.
 *
 * lj_sampler_create / lj_sampler_destroy: local; workspace for n.
 * lj_sampler_start(s, seed, t, row): local; temperature t's first row.
 * lj_sampler_start_at(s, t, x, row): local; the same, at a given structure.
 * lj_sampler_cycle(s, seed, t, cycle, T, sweeps, adapt, row, &acc, stop):
 *   local; one cycle of sweeps at temperature T.
 * lj_exchange(n, n_temps, temperatures, seed, cycle, rows, acc, tried):
 *   local, pure.
 *
 * Why a containing sphere: at any finite temperature a free cluster
 * evaporates (the vapour has infinite entropy), so the canonical ensemble
 * of a cluster only exists in a container; a hard sphere around the
 * origin (moves that leave it are rejected) is the usual choice, and its
 * radius is an option stored with the data.
 *
 * Rows are (energy, step size, coordinates (n, 3)): a row depends only on
 * the seed, its temperature index and the cycles it went through, never
 * on the rank that runs it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/lj.h"

struct lj_sampler {
  int n;
  double radius;
  double *xs, *ys, *zs; /* (n) each: the configuration as structure of arrays */
  double *work;         /* (6n) scratch of lj_energy_gradient */
  lj_minimiser *min;
};

static uint64_t purpose(int what) { return CORE_PURPOSE_LJ | (uint64_t)what << 8; }

core_status lj_sampler_create(int n, double radius, lj_sampler **s) {
  *s = NULL;
  CORE_CHECK(n >= 2 && n <= LJ_MAX_N, CORE_ERR_ARG, "cluster size %d: expected 2 to %d particles", n, (int)LJ_MAX_N);
  CORE_CHECK(isfinite(radius) && radius > 0, CORE_ERR_ARG, "container radius %g: expected > 0", radius);
  lj_sampler *p = calloc(1, sizeof *p);
  CORE_CHECK(p, CORE_ERR_MEM, "cannot allocate a sampler");
  p->n = n, p->radius = radius;
  p->xs = malloc(sizeof(double) * 3 * (size_t)n);
  p->work = malloc(sizeof(double) * 6 * (size_t)n);
  if (!p->xs || !p->work) {
    lj_sampler_destroy(&p);
    return CORE_ERROR(CORE_ERR_MEM, "cannot allocate a sampler for %d particles", n);
  }
  p->ys = p->xs + n, p->zs = p->xs + 2 * n;
  core_status st = lj_minimiser_create(n, &p->min);
  if (st) {
    lj_sampler_destroy(&p);
    return st;
  }
  *s = p;
  return CORE_OK;
}

void lj_sampler_destroy(lj_sampler **s) {
  if (!s || !*s) return;
  lj_minimiser_destroy(&(*s)->min);
  free((*s)->xs), free((*s)->work);
  free(*s);
  *s = NULL;
}

/* The ball random starts are drawn in: dense enough to quench into one
 * cluster, loose enough to place n particles 0.8 apart (volume fraction of
 * their 0.4-spheres about 0.15), never beyond the container. */
static double start_ball(int n, double radius) { return fmin(radius, 0.75 * cbrt((double)n) + 0.5); }

/* The rest of a first row whose coordinates are in place: centred, inside
 * the container, energy and initial step. `what` names the start. */
static core_status finish_start(lj_sampler *s, int t, const char *what, double *row) {
  double *x = row + LJ_ROW_X;
  const double rmax = lj_center(s->n, x);
  CORE_CHECK(rmax <= s->radius, CORE_ERR_ARG, "the %s of temperature %d reaches %.3g from its centre, outside the "
             "container radius %g: give a larger radius", what, t, rmax, s->radius);
  row[LJ_ROW_ENERGY] = lj_energy_gradient(s->n, x, NULL, s->work);
  row[LJ_ROW_STEP] = 0.1;
  return CORE_OK;
}

core_status lj_sampler_start(lj_sampler *s, uint64_t seed, int t, double *row) {
  core_rng rng;
  core_rng_init(&rng, seed, purpose(LJ_STREAM_START), (uint64_t)t);
  double *x = row + LJ_ROW_X, e;
  CORE_CALL(lj_random_start(s->n, start_ball(s->n, s->radius), &rng, x));
  /* A quenched start: the cold chains begin inside a basin instead of
   * spending their equilibration condensing a gas. */
  CORE_CALL(lj_minimise(s->min, x, 1e-6, 100000, &e));
  return finish_start(s, t, "quenched start", row);
}

core_status lj_sampler_start_at(lj_sampler *s, int t, const double *x, double *row) {
  double *y = row + LJ_ROW_X;
  for (int i = 0; i < 3 * s->n; ++i) {
    CORE_CHECK(isfinite(x[i]), CORE_ERR_ARG, "the start structure has a non-finite coordinate (atom %d)", i / 3);
    y[i] = x[i];
  }
  /* Two atoms within 0.5 sigma (E > 1.6e4 for that pair alone) are no
   * conformation to sample around: Metropolis would spend the run
   * separating them and store its way out as "equilibrium". */
  for (int i = 0; i < s->n; ++i)
    for (int j = i + 1; j < s->n; ++j) {
      double r2 = 0;
      for (int k = 0; k < 3; ++k) r2 += (y[3 * i + k] - y[3 * j + k]) * (y[3 * i + k] - y[3 * j + k]);
      CORE_CHECK(r2 >= 0.25, CORE_ERR_ARG, "the start structure has atoms %d and %d %.3g apart, closer than 0.5 "
                 "sigma: not a cluster to sample around", i, j, sqrt(r2));
    }
  return finish_start(s, t, "start structure", row);
}

core_status lj_sampler_cycle(lj_sampler *s, uint64_t seed, int t, uint64_t cycle, double temperature, int sweeps,
                             int adapt, double *row, double *accepted, volatile sig_atomic_t *stop) {
  CORE_CHECK(isfinite(temperature) && temperature > 0 && sweeps >= 0, CORE_ERR_ARG,
             "temperature %g and sweeps %d: expected T > 0 and sweeps >= 0", temperature, sweeps);
  const int n = s->n;
  double *xs = s->xs, *ys = s->ys, *zs = s->zs;
  const double *x = row + LJ_ROW_X;
  for (int i = 0; i < n; ++i) xs[i] = x[3 * i], ys[i] = x[3 * i + 1], zs[i] = x[3 * i + 2];
  core_rng rng;
  core_rng_init(&rng, seed, purpose(LJ_STREAM_MOVES), (uint64_t)t << 32 | cycle);
  const double beta = 1.0 / temperature, step = row[LJ_ROW_STEP], r2max = s->radius * s->radius;
  int64_t acc = 0, tried = 0;
  for (int sweep = 0; sweep < sweeps; ++sweep) {
    CORE_CHECK(!(stop && *stop), CORE_ERR_STOPPED, "stopped on request");
    for (int i = 0; i < n; ++i, ++tried) {
      const double old[3] = {xs[i], ys[i], zs[i]};
      double p[3];
      for (int k = 0; k < 3; ++k) p[k] = old[k] + step * (2.0 * core_rng_uniform(&rng) - 1.0);
      const double u = core_rng_uniform(&rng);
      if (p[0] * p[0] + p[1] * p[1] + p[2] * p[2] > r2max) continue; /* the container's wall */
      const double de = lj_particle_energy(n, i, p, xs, ys, zs) - lj_particle_energy(n, i, old, xs, ys, zs);
      /* Metropolis: accept with min(1, exp(-beta dE)); u < 1 so dE <= 0
       * is always accepted. */
      if (de <= 0.0 || u < exp(-beta * de)) {
        xs[i] = p[0], ys[i] = p[1], zs[i] = p[2];
        ++acc;
      }
    }
  }
  double *xw = row + LJ_ROW_X;
  for (int i = 0; i < n; ++i) xw[3 * i] = xs[i], xw[3 * i + 1] = ys[i], xw[3 * i + 2] = zs[i];
  /* From scratch, not the sum of the dE: the stored energy is exactly
   * the energy of the stored coordinates. */
  row[LJ_ROW_ENERGY] = lj_energy_gradient(n, xw, NULL, s->work);
  const double rate = tried ? (double)acc / (double)tried : 0.0;
  if (adapt && tried) {
    const double next = rate > 0.5 ? step * 1.1 : step / 1.1;
    row[LJ_ROW_STEP] = fmin(fmax(next, 1e-4), s->radius);
  }
  if (accepted) *accepted = rate;
  return CORE_OK;
}

void lj_exchange(int n, int n_temps, const double *temperatures, uint64_t seed, uint64_t cycle, double *rows,
                 double *accepted, double *tried) {
  core_rng rng;
  core_rng_init(&rng, seed, purpose(LJ_STREAM_EXCHANGE), cycle);
  const int64_t size = lj_row_size(n);
  /* Alternating even and odd pairs: every pair is tried every second
   * cycle, and the pairs of one cycle are disjoint. */
  for (int t = (int)(cycle & 1); t + 1 < n_temps; t += 2) {
    double *a = rows + t * size, *b = rows + (t + 1) * size;
    const double u = core_rng_uniform(&rng);
    const double delta = (1.0 / temperatures[t] - 1.0 / temperatures[t + 1]) * (a[LJ_ROW_ENERGY] - b[LJ_ROW_ENERGY]);
    tried[t] += 1;
    if (delta >= 0.0 || u < exp(delta)) {
      accepted[t] += 1;
      /* Swap energy and coordinates; each temperature keeps its step. */
      double tmp = a[LJ_ROW_ENERGY];
      a[LJ_ROW_ENERGY] = b[LJ_ROW_ENERGY], b[LJ_ROW_ENERGY] = tmp;
      for (int64_t k = LJ_ROW_X; k < size; ++k) tmp = a[k], a[k] = b[k], b[k] = tmp;
    }
  }
}
