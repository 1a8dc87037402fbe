/* Local minimisation and random starts of Lennard-Jones clusters.
 *
 * lj_minimiser_create(n, &m) / lj_minimiser_destroy(&m): local; GSL's
 *   vector_bfgs2 workspace for 3n coordinates, made once and reused by
 *   every minimisation (no allocation per call).
 * lj_minimise(m, x, gtol, max_iter, &energy): local; x (n, 3) in place.
 * lj_random_start(n, ball, rng, x): local; points in a ball, kept apart.
 * lj_center(n, x): local; centre of mass to the origin.
 *
 * Why BFGS (Fletcher's line search, GSL's bfgs2): the LJ surface near a
 * minimum is smooth and well conditioned enough that quasi-Newton steps
 * converge superlinearly, in about 3n iterations from a perturbed
 * minimum, which is what basin hopping does thousands of times. */
#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <math.h>
#include <stdlib.h>

#include "eloss/lj.h"

struct lj_minimiser {
  int n;
  gsl_multimin_fdfminimizer *s;
  gsl_vector *x;
  double *work; /* (6n) scratch of lj_energy_gradient */
  gsl_multimin_function_fdf fdf;
};

static double f_value(const gsl_vector *x, void *params) {
  lj_minimiser *m = params;
  return lj_energy_gradient(m->n, x->data, NULL, m->work);
}

static void f_fdf(const gsl_vector *x, void *params, double *f, gsl_vector *g) {
  lj_minimiser *m = params;
  *f = lj_energy_gradient(m->n, x->data, g->data, m->work);
}

static void f_gradient(const gsl_vector *x, void *params, gsl_vector *g) {
  double f;
  f_fdf(x, params, &f, g);
}

core_status lj_minimiser_create(int n, lj_minimiser **m) {
  *m = NULL;
  CORE_CHECK(n >= 2 && n <= LJ_MAX_N, CORE_ERR_ARG, "cluster size %d: expected 2 to %d particles", n, (int)LJ_MAX_N);
  lj_minimiser *p = calloc(1, sizeof *p);
  CORE_CHECK(p, CORE_ERR_MEM, "cannot allocate a minimiser");
  p->n = n;
  p->work = malloc(sizeof(double) * 6 * (size_t)n);
  /* GSL's allocators report failure through its error handler, whose
   * default aborts; the library must not die, so it is switched off for
   * the calls and put back. */
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  p->s = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, 3 * (size_t)n);
  p->x = gsl_vector_alloc(3 * (size_t)n);
  gsl_set_error_handler(old);
  if (!p->work || !p->s || !p->x) {
    lj_minimiser_destroy(&p);
    return CORE_ERROR(CORE_ERR_MEM, "cannot allocate a minimiser for %d particles", n);
  }
  p->fdf = (gsl_multimin_function_fdf){.f = f_value, .df = f_gradient, .fdf = f_fdf, .n = 3 * (size_t)n, .params = p};
  *m = p;
  return CORE_OK;
}

core_status lj_minimise(lj_minimiser *m, double *x, double gtol, int max_iter, double *energy) {
  const size_t dim = 3 * (size_t)m->n;
  for (size_t k = 0; k < dim; ++k) m->x->data[k] = x[k];
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  /* First step 0.01 sigma, line-search tolerance 0.1: GSL's recommended
   * values for bfgs2 (a loose line search is cheaper overall). */
  int status = gsl_multimin_fdfminimizer_set(m->s, &m->fdf, m->x, 0.01, 0.1);
  for (int it = 0; !status && it < max_iter; ++it) {
    if (gsl_blas_dnrm2(m->s->gradient) <= gtol) break;
    /* GSL_ENOPROG: the line search cannot lower E any more. Its test
     * compares energies, which doubles resolve to ~1e-16 |E|, so it ends
     * near |grad| ~ 1e-6 for LJ13 (measured): the energy is then within
     * ~|grad|^2 / curvature ~ 1e-12 of the minimum's, far inside any
     * tolerance the suite uses, and a gtol below that is never reached. */
    if (gsl_multimin_fdfminimizer_iterate(m->s) != GSL_SUCCESS) break;
  }
  gsl_set_error_handler(old);
  const double e = m->s->f;
  CORE_CHECK(!status && isfinite(e), CORE_ERR_NUMERIC, "minimisation of %d particles: energy %g is not finite",
             m->n, e);
  for (size_t k = 0; k < dim; ++k) x[k] = m->s->x->data[k];
  *energy = e;
  return CORE_OK;
}

void lj_minimiser_destroy(lj_minimiser **m) {
  if (!m || !*m) return;
  if ((*m)->s) gsl_multimin_fdfminimizer_free((*m)->s);
  if ((*m)->x) gsl_vector_free((*m)->x);
  free((*m)->work);
  free(*m);
  *m = NULL;
}

core_status lj_random_start(int n, double ball, core_rng *rng, double *x) {
  /* 0.8 sigma apart: V(0.8) = 43 epsilon, finite and gentle enough for
   * the first line search; rejection sampling gives up after a bounded
   * number of tries rather than loop forever in a ball that is too small. */
  const double dmin2 = 0.8 * 0.8;
  int64_t tries = 0;
  for (int i = 0; i < n;) {
    CORE_CHECK(++tries <= 1000000, CORE_ERR_ARG, "cannot place %d particles 0.8 apart in a ball of radius %g; "
               "give a larger radius", n, ball);
    double p[3], r2 = 0.0;
    for (int k = 0; k < 3; ++k) p[k] = ball * (2.0 * core_rng_uniform(rng) - 1.0), r2 += p[k] * p[k];
    if (r2 > ball * ball) continue;
    int far = 1;
    for (int j = 0; far && j < i; ++j) {
      const double dx = p[0] - x[3 * j], dy = p[1] - x[3 * j + 1], dz = p[2] - x[3 * j + 2];
      far = dx * dx + dy * dy + dz * dz >= dmin2;
    }
    if (!far) continue;
    for (int k = 0; k < 3; ++k) x[3 * i + k] = p[k];
    ++i;
  }
  return CORE_OK;
}

double lj_center(int n, double *x) {
  double c[3] = {0, 0, 0};
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) c[k] += x[3 * i + k];
  double rmax2 = 0.0;
  for (int i = 0; i < n; ++i) {
    double r2 = 0.0;
    for (int k = 0; k < 3; ++k) {
      x[3 * i + k] -= c[k] / n;
      r2 += x[3 * i + k] * x[3 * i + k];
    }
    rmax2 = fmax(rmax2, r2);
  }
  return sqrt(rmax2);
}
