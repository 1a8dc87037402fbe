/* Baseline losses of the paper's atomistic experiments: MSE (Eq. 5 with the
 * physically meaningless energy |y^ - y|^2), MAE, and Kabsch-aligned MSE.
 *
 * atoms_baseline_structure_f64 / _f32(plan, b, pred, grad, &term): local;
 *   term = the structure's share of the batch mean over real coordinates.
 * atoms_kabsch_rotation(n, d, p, q, R), atoms_kabsch_rmsd(n, d, p, q, &rmsd):
 *   local, allocate nothing (GSL views on stack arrays).
 *
 * Kabsch-aligned MSE, as the paper's baseline: centre both structures, find
 * the proper rotation R minimising sum_i |p_i - R q_i|^2 (p = prediction,
 * q = reference), and take the MSE between the prediction and the aligned
 * reference R q_i + mean(p). The rotation is held fixed in the gradient
 * (no derivative through the SVD), so dL/dp_i = 2 s (p_i - mean(p) -
 * R q_i); the centroid term drops because the residuals sum to zero. */
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <math.h>
#include <string.h>

#include "atoms_impl.h"

/* R = V diag(1, .., det(V U^T)) U^T from the SVD H = U S V^T of the
 * covariance H = sum_i q_i p_i^T (d x d, row-major); maximises tr(R H). */
static core_status kabsch_from_covariance(int d, const double *cov, double *R) {
  double h[9], v[9], s[3], work[3];
  memcpy(h, cov, sizeof(double) * (size_t)(d * d));
  gsl_matrix_view H = gsl_matrix_view_array(h, (size_t)d, (size_t)d);
  gsl_matrix_view V = gsl_matrix_view_array(v, (size_t)d, (size_t)d);
  gsl_vector_view S = gsl_vector_view_array(s, (size_t)d);
  gsl_vector_view W = gsl_vector_view_array(work, (size_t)d);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int gst = gsl_linalg_SV_decomp(&H.matrix, &V.matrix, &S.vector, &W.vector);
  gsl_set_error_handler(old);
  CORE_CHECK(gst == 0, CORE_ERR_NUMERIC, "kabsch: SVD failed: %s", gsl_strerror(gst));
  /* h now holds U; the sign of det(V U^T) decides a reflection. */
  double m[9];
  for (int a = 0; a < d; ++a)
    for (int c = 0; c < d; ++c) {
      double t = 0;
      for (int k = 0; k < d; ++k) t += v[a * d + k] * h[c * d + k];
      m[a * d + c] = t;
    }
  double det = d == 1 ? m[0]
               : d == 2 ? m[0] * m[3] - m[1] * m[2]
                        : m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) +
                              m[2] * (m[3] * m[7] - m[4] * m[6]);
  double sign = det < 0 ? -1.0 : 1.0;
  for (int a = 0; a < d; ++a)
    for (int c = 0; c < d; ++c) {
      double t = 0;
      for (int k = 0; k < d; ++k) t += v[a * d + k] * (k == d - 1 ? sign : 1.0) * h[c * d + k];
      R[a * d + c] = t;
    }
  return CORE_OK;
}

core_status atoms_kabsch_rotation(int64_t n, int d, const double *p, const double *q, double *R) {
  CORE_CHECK(d >= 1 && d <= 3, CORE_ERR_ARG, "kabsch: dimension must be 1..3, got %d", d);
  double h[9] = {0};
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < d; ++a)
      for (int c = 0; c < d; ++c) h[a * d + c] += q[i * d + a] * p[i * d + c];
  return kabsch_from_covariance(d, h, R);
}

static void centroid(int64_t n, int d, const double *x, double *c) {
  for (int k = 0; k < d; ++k) c[k] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int k = 0; k < d; ++k) c[k] += x[i * d + k];
  for (int k = 0; k < d; ++k) c[k] /= n > 0 ? (double)n : 1.0;
}

core_status atoms_kabsch_rmsd(int64_t n, int d, const double *p, const double *q, double *rmsd) {
  CORE_CHECK(n > 0 && d >= 1 && d <= 3, CORE_ERR_ARG, "kabsch: need n > 0 and d in 1..3");
  double cp[3], cq[3], R[9], sum = 0;
  centroid(n, d, p, cp);
  centroid(n, d, q, cq);
  double h[9] = {0};
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < d; ++a)
      for (int c = 0; c < d; ++c) h[a * d + c] += (q[i * d + a] - cq[a]) * (p[i * d + c] - cp[c]);
  CORE_CALL(kabsch_from_covariance(d, h, R));
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < d; ++a) {
      double rq = 0;
      for (int c = 0; c < d; ++c) rq += R[a * d + c] * (q[i * d + c] - cq[c]);
      double e = p[i * d + a] - cp[a] - rq;
      sum += e * e;
    }
  *rmsd = sqrt(sum / (double)n);
  return CORE_OK;
}

#define REAL double
#define SUFFIX f64
#include "baselines_kernel.inc"
#undef REAL
#undef SUFFIX

#define REAL float
#define SUFFIX f32
#include "baselines_kernel.inc"
#undef REAL
#undef SUFFIX
