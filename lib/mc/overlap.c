/* Overlaps between replicas and the spin-glass correlation length.
 *
 * mc_overlap_create / _destroy: an FFTW r2c plan for the lattice shape
 *   (L, L) or (L, L, L) and its buffers; local.
 * mc_overlap_measure(ov, a, b, &q, &chi_kmin): local.
 * mc_correlation_length(L, chi0, chik): pure.
 *
 * The overlap field q_x = a_x b_x of two independent replicas is the
 * spin-glass order parameter; its structure factor at k = 0 and at the
 * smallest wave vector k_min = 2 pi / L gives the second-moment correlation
 * length (Cooper, Freedman and Preston 1982; the standard finite-size
 * estimator of spin-glass studies). One transform gives every k; the
 * k_min components along each axis are averaged. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>

#include "eloss/mc.h"

struct mc_overlap {
  int dim, L;
  int64_t n;
  double *field;        /* (n) */
  fftw_complex *modes;  /* r2c output */
  fftw_plan plan;
};

core_status mc_overlap_create(const spin_lattice *lat, mc_overlap **ov) {
  *ov = NULL;
  mc_overlap *o = calloc(1, sizeof *o);
  CORE_CHECK(o, CORE_ERR_MEM, "mc: cannot allocate an overlap workspace");
  o->dim = lat->dim, o->L = lat->L, o->n = lat->n_sites;
  const int64_t half = o->n / lat->L * (lat->L / 2 + 1);
  o->field = fftw_alloc_real((size_t)o->n);
  o->modes = fftw_alloc_complex((size_t)half);
  if (o->field && o->modes) {
    int dims[3] = {lat->L, lat->L, lat->L};
    o->plan = fftw_plan_dft_r2c(lat->dim, dims, o->field, o->modes, FFTW_ESTIMATE);
  }
  if (!o->field || !o->modes || !o->plan) {
    mc_overlap_destroy(&o);
    return CORE_ERROR(CORE_ERR_MEM, "mc: cannot plan the overlap transform of an L = %d lattice", lat->L);
  }
  *ov = o;
  return CORE_OK;
}

void mc_overlap_measure(mc_overlap *o, const int8_t *a, const int8_t *b, double *q, double *chi_kmin) {
  double sum = 0;
  for (int64_t x = 0; x < o->n; ++x) sum += o->field[x] = (double)(a[x] * b[x]);
  *q = sum / (double)o->n;
  fftw_execute(o->plan);
  /* Row-major (z,) y, x with the last axis halved to L/2 + 1: k_min along
   * x is mode 1, along y mode (L/2 + 1), along z mode L (L/2 + 1). */
  const int64_t half = o->L / 2 + 1;
  const int64_t index[3] = {1, half, (int64_t)o->L * half};
  double chi = 0;
  for (int d = 0; d < o->dim; ++d) {
    const double re = o->modes[index[d]][0], im = o->modes[index[d]][1];
    chi += (re * re + im * im) / (double)o->n;
  }
  *chi_kmin = chi / o->dim;
}

void mc_overlap_destroy(mc_overlap **ov) {
  if (!ov || !*ov) return;
  mc_overlap *o = *ov;
  if (o->plan) fftw_destroy_plan(o->plan);
  fftw_free(o->field);
  fftw_free(o->modes);
  free(o);
  *ov = NULL;
}

double mc_correlation_length(int L, double chi0, double chi_kmin) {
  if (!(chi_kmin > 0) || chi0 / chi_kmin <= 1) return 0.0;
  return sqrt(chi0 / chi_kmin - 1) / (2 * sin(CORE_PI / L));
}
