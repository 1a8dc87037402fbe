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

/* Largest eigenpair of a symmetric 4 x 4 matrix by cyclic Jacobi rotations:
 * slow (a few hundred flops per sweep) but exact to rounding whatever the
 * eigenvalue multiplicities; the fallback of kabsch_quaternion_lanes. */
static void jacobi4_top(const double n_in[16], double v_out[4]) {
  double a[16], v[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  memcpy(a, n_in, sizeof a);
  for (int sweep = 0; sweep < 50; ++sweep) {
    double off = 0, diag = 0;
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) {
        if (r == c) diag += a[r * 4 + c] * a[r * 4 + c];
        else off += a[r * 4 + c] * a[r * 4 + c];
      }
    if (off <= 1e-32 * diag || off == 0) break;
    for (int p = 0; p < 3; ++p)
      for (int q = p + 1; q < 4; ++q) {
        double apq = a[p * 4 + q];
        if (apq == 0) continue;
        double theta = (a[q * 4 + q] - a[p * 4 + p]) / (2 * apq);
        double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
        double c = 1 / sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < 4; ++k) {
          double akp = a[k * 4 + p], akq = a[k * 4 + q];
          a[k * 4 + p] = c * akp - s * akq;
          a[k * 4 + q] = s * akp + c * akq;
        }
        for (int k = 0; k < 4; ++k) {
          double apk = a[p * 4 + k], aqk = a[q * 4 + k];
          a[p * 4 + k] = c * apk - s * aqk;
          a[q * 4 + k] = s * apk + c * aqk;
        }
        for (int k = 0; k < 4; ++k) {
          double vkp = v[k * 4 + p], vkq = v[k * 4 + q];
          v[k * 4 + p] = c * vkp - s * vkq;
          v[k * 4 + q] = s * vkp + c * vkq;
        }
      }
  }
  int best = 0;
  for (int k = 1; k < 4; ++k)
    if (a[k * 4 + k] > a[best * 4 + best]) best = k;
  for (int k = 0; k < 4; ++k) v_out[k] = v[k * 4 + best];
}

/* The optimal proper rotation in 2D has a closed form: the angle
 * maximising tr(R H) is atan2(H01 - H10, H00 + H11). */
static void kabsch_rotation_2d(const double h[4], double R[4]) {
  double c = h[0] + h[3], s = h[1] - h[2], norm = sqrt(c * c + s * s);
  if (norm > 0) c /= norm, s /= norm;
  else c = 1, s = 0;
  R[0] = c, R[1] = -s, R[2] = s, R[3] = c;
}

enum { L = ATOMS_LANES };

/* ATOMS_LANES doubles as one GCC/Clang vector: arithmetic is elementwise and
 * compiles to AVX-512, AVX2 or SSE2 as the target clone allows. Comparisons
 * give lane masks of all ones or zeros. */
#if defined(__GNUC__) && !defined(__clang__)
/* The vector helpers below are always inlined, so the calling convention
 * GCC warns about for 64-byte vectors never applies. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef double lanes_f64 __attribute__((vector_size(ATOMS_LANES * sizeof(double))));
typedef long long lanes_mask __attribute__((vector_size(ATOMS_LANES * sizeof(long long))));

static inline __attribute__((always_inline)) lanes_f64 lanes_select(lanes_mask m, lanes_f64 a, lanes_f64 b) {
  return (lanes_f64)(((lanes_mask)a & m) | ((lanes_mask)b & ~m));
}

static inline __attribute__((always_inline)) lanes_f64 lanes_abs(lanes_f64 x) {
  return lanes_select(x < 0, -x, x);
}

static inline __attribute__((always_inline)) lanes_f64 lanes_det3(lanes_f64 a, lanes_f64 b, lanes_f64 c,
                                                                  lanes_f64 d, lanes_f64 e, lanes_f64 f,
                                                                  lanes_f64 g, lanes_f64 h, lanes_f64 i) {
  return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
}

static inline __attribute__((always_inline)) lanes_f64 lanes_cofactor4(const lanes_f64 m[16], int r, int c) {
  static const int other[4][3] = {{1, 2, 3}, {0, 2, 3}, {0, 1, 3}, {0, 1, 2}};
  const int *i = other[r], *j = other[c];
  lanes_f64 det = lanes_det3(m[i[0] * 4 + j[0]], m[i[0] * 4 + j[1]], m[i[0] * 4 + j[2]], m[i[1] * 4 + j[0]],
                             m[i[1] * 4 + j[1]], m[i[1] * 4 + j[2]], m[i[2] * 4 + j[0]], m[i[2] * 4 + j[1]],
                             m[i[2] * 4 + j[2]]);
  return (r + c) % 2 ? -det : det;
}

/* Optimal proper rotations in 3D for ATOMS_LANES covariances at once (h[k]
 * and R[k] hold entry k of every lane's 3 x 3 matrix H = sum_i q_i p_i^T):
 * the unit quaternion of the largest eigenvalue of Horn's symmetric 4 x 4
 * matrix N (Horn, J. Opt. Soc. Am. A 4, 629 (1987)). The eigenvalue is the
 * largest root of the characteristic quartic, found by Newton's method from
 * the upper bound e0 = (|P|^2 + |Q|^2)/2 until every lane has converged;
 * the eigenvector is the column of adj(N - lambda I) with the largest
 * diagonal entry (the quaternion characteristic polynomial method of
 * Theobald, Acta Cryst. A 61, 478 (2005), with the adjugate eigenvector of
 * Liu et al., J. Comput. Chem. 31, 1561 (2010)). All four columns are
 * computed and selected by mask, so the lanes never branch apart. Where the
 * top eigenvalue is (nearly) degenerate the adjugate vanishes, and that
 * lane's eigenvector comes from Jacobi instead. A quaternion is always a
 * proper rotation, so no reflection fix is needed. */
static inline __attribute__((always_inline)) void kabsch_quaternion_lanes(const double h[9][L],
                                                                          const double e0_in[L],
                                                                          double R_out[9][L]) {
  lanes_f64 H[9], e0, x;
  for (int k = 0; k < 9; ++k) memcpy(&H[k], h[k], sizeof H[k]);
  memcpy(&e0, e0_in, sizeof e0);
  const lanes_f64 sxx = H[0], sxy = H[1], sxz = H[2], syx = H[3], syy = H[4], syz = H[5], szx = H[6],
                  szy = H[7], szz = H[8];
  const lanes_f64 n[16] = {sxx + syy + szz, syz - szy,        szx - sxz,        sxy - syx,
                           syz - szy,       sxx - syy - szz,  sxy + syx,        szx + sxz,
                           szx - sxz,       sxy + syx,        -sxx + syy - szz, syz + szy,
                           sxy - syx,       szx + sxz,        syz + szy,        -sxx - syy + szz};
  lanes_f64 hh = H[0] * H[0];
  for (int k = 1; k < 9; ++k) hh += H[k] * H[k];
  /* det(N - x I) = x^4 + c2 x^2 + c1 x + c0 with c2 = -tr(N^2)/2 and
   * c1 = -tr(N^3)/3 for traceless N; in terms of H these are
   * c2 = -2 |H|_F^2 and c1 = -8 det H (Theobald 2005), c0 = det N. */
  const lanes_f64 c2 = -2 * hh, c1 = -8 * lanes_det3(sxx, sxy, sxz, syx, syy, syz, szx, szy, szz);
  const lanes_f64 c0 = n[0] * lanes_cofactor4(n, 0, 0) + n[1] * lanes_cofactor4(n, 0, 1) +
                       n[2] * lanes_cofactor4(n, 0, 2) + n[3] * lanes_cofactor4(n, 0, 3);
  x = e0;
  for (int it = 0; it < 100; ++it) {
    lanes_f64 x2 = x * x;
    lanes_f64 f = (x2 + c2) * x2 + c1 * x + c0, df = 4 * x2 * x + 2 * c2 * x + c1;
    lanes_f64 zero = {0};
    lanes_f64 step = lanes_select(df != 0, f / df, zero);
    x -= step;
    lanes_mask done = lanes_abs(step) <= 1e-15 * lanes_abs(x);
    int all = 1;
    for (int l = 0; l < L; ++l) all &= done[l] != 0;
    if (all) break;
  }
  lanes_f64 m[16];
  for (int k = 0; k < 16; ++k) m[k] = n[k];
  for (int k = 0; k < 4; ++k) m[k * 4 + k] -= x;
  /* adj(M) is symmetric: column c is (C_c0, C_c1, C_c2, C_c3). */
  lanes_f64 q[4], best;
  for (int r = 0; r < 4; ++r) q[r] = lanes_cofactor4(m, 0, r);
  best = lanes_abs(q[0]);
  for (int c = 1; c < 4; ++c) {
    lanes_f64 col[4];
    for (int r = 0; r < 4; ++r) col[r] = lanes_cofactor4(m, c, r);
    lanes_mask better = lanes_abs(col[c]) > best;
    for (int r = 0; r < 4; ++r) q[r] = lanes_select(better, col[r], q[r]);
    best = lanes_select(better, lanes_abs(col[c]), best);
  }
  lanes_f64 norm2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3], inv;
  for (int l = 0; l < L; ++l) {
    const double scale = e0[l] > 0 ? e0[l] : 1.0;
    if (best[l] > 1e-9 * scale * scale * scale && norm2[l] > 0) {
      inv[l] = 1 / sqrt(norm2[l]);
      continue;
    }
    double nl[16], v[4];
    for (int k = 0; k < 16; ++k) nl[k] = n[k][l];
    jacobi4_top(nl, v);
    for (int k = 0; k < 4; ++k) q[k][l] = v[k];
    inv[l] = 1 / sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
  }
  const lanes_f64 w = q[0] * inv, a = q[1] * inv, b = q[2] * inv, c = q[3] * inv;
  const lanes_f64 R[9] = {w * w + a * a - b * b - c * c, 2 * (a * b - w * c), 2 * (a * c + w * b),
                          2 * (a * b + w * c), w * w - a * a + b * b - c * c, 2 * (b * c - w * a),
                          2 * (a * c - w * b), 2 * (b * c + w * a), w * w - a * a - b * b + c * c};
  for (int k = 0; k < 9; ++k) memcpy(R_out[k], &R[k], sizeof R[k]);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

/* Centre u (n, D, L) per lane, accumulate each lane's covariance with the
 * centred reference q and the Newton bound e0, solve each lane's rotation,
 * and overwrite u with the residuals u - R q; sum[l] = squared residual. The
 * loops over atoms run across the L structures of the group, so they
 * vectorise for any n; only the rotation solve is per structure. */
static inline __attribute__((always_inline)) void kabsch_lanes_body(
    const int D, int64_t n, const double *restrict q, const double *restrict qsq,
    double *restrict u, double *restrict sum) {
  double cp[3][L], h[9][L], usq[L], R[9][L];
  for (int k = 0; k < 3; ++k)
    for (int l = 0; l < L; ++l) cp[k][l] = 0;
  for (int k = 0; k < D; ++k)
    for (int64_t i = 0; i < n; ++i)
      for (int l = 0; l < L; ++l) cp[k][l] += u[(i * D + k) * L + l];
  for (int k = 0; k < D; ++k)
    for (int l = 0; l < L; ++l) cp[k][l] /= (double)(n > 0 ? n : 1);
  for (int a = 0; a < 9; ++a)
    for (int l = 0; l < L; ++l) h[a][l] = 0;
  for (int l = 0; l < L; ++l) usq[l] = 0;
  for (int64_t i = 0; i < n; ++i) {
    double v[3][L];
    for (int k = 0; k < D; ++k)
      for (int l = 0; l < L; ++l) {
        v[k][l] = u[(i * D + k) * L + l] - cp[k][l];
        u[(i * D + k) * L + l] = v[k][l];
        usq[l] += v[k][l] * v[k][l];
      }
    for (int a = 0; a < D; ++a)
      for (int c = 0; c < D; ++c)
        for (int l = 0; l < L; ++l) h[a * D + c][l] += q[(i * D + a) * L + l] * v[c][l];
  }
  if (D == 3) {
    double e0[L];
    for (int l = 0; l < L; ++l) e0[l] = 0.5 * (usq[l] + qsq[l]);
    kabsch_quaternion_lanes(h, e0, R);
  } else {
    for (int l = 0; l < L; ++l) {
      double hl[4], Rl[4];
      for (int a = 0; a < 4; ++a) hl[a] = h[a][l];
      kabsch_rotation_2d(hl, Rl);
      for (int a = 0; a < 4; ++a) R[a][l] = Rl[a];
    }
  }
  for (int l = 0; l < L; ++l) sum[l] = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int a = 0; a < D; ++a)
      for (int l = 0; l < L; ++l) {
        double rq = 0;
        for (int c = 0; c < D; ++c) rq += R[a * D + c][l] * q[(i * D + c) * L + l];
        double e = u[(i * D + a) * L + l] - rq;
        u[(i * D + a) * L + l] = e;
        sum[l] += e * e;
      }
}

TARGET_CLONES static void kabsch_lanes2(int64_t n, const double *restrict q, const double *restrict qsq,
                                               double *restrict u, double *restrict sum) {
  kabsch_lanes_body(2, n, q, qsq, u, sum);
}

TARGET_CLONES static void kabsch_lanes3(int64_t n, const double *restrict q, const double *restrict qsq,
                                               double *restrict u, double *restrict sum) {
  kabsch_lanes_body(3, n, q, qsq, u, sum);
}

static void kabsch_lanes(int d, int64_t n, const double *q, const double *qsq, double *u,
                                double *sum) {
  if (d == 2) kabsch_lanes2(n, q, qsq, u, sum);
  else kabsch_lanes3(n, q, qsq, u, sum);
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
