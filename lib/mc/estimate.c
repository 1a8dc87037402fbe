/* Error bars of Monte Carlo time series, and the exact finite-lattice
 * energy of the 2D Ising model the samplers are validated against.
 *
 * mc_estimate_mean(x, n, blocks, &mean, &err), mc_estimate_binder(...):
 *   blocked jackknife; local, pure.
 * mc_ising2d_exact_energy(L, beta): Kaufman's solution; local, pure.
 *
 * Blocked jackknife: the series is cut into `blocks` equal blocks (a tail
 * shorter than a block is dropped); estimate k leaves block k out; the
 * error is sqrt((B - 1)/B sum_k (f_k - f_mean)^2). For a plain mean this is
 * the standard error of block means; for the Binder ratio it also carries
 * the bias-aware propagation through the ratio. */
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>

#include "eloss/mc.h"

/* Jackknife of f(<a>, <b>) over blocks; b may be NULL. */
static core_status jackknife(const double *a, const double *b, int64_t n, int blocks,
                             double (*f)(double, double, const void *), const void *ctx, double *value,
                             double *err) {
  CORE_CHECK(blocks >= 2 && n >= blocks, CORE_ERR_ARG,
             "mc: a jackknife needs at least 2 blocks and one sample per block (n = %lld, blocks = %d)",
             (long long)n, blocks);
  const int64_t len = n / blocks;
  double *sa = calloc((size_t)blocks, sizeof(double)), *sb = calloc((size_t)blocks, sizeof(double));
  double *est = malloc(sizeof(double) * (size_t)blocks);
  if (!sa || !sb || !est) {
    free(sa), free(sb), free(est);
    return CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate %d jackknife blocks", blocks);
  }
  double ta = 0, tb = 0;
  for (int k = 0; k < blocks; ++k) {
    sa[k] = len * gsl_stats_mean(a + k * len, 1, (size_t)len);
    sb[k] = b ? len * gsl_stats_mean(b + k * len, 1, (size_t)len) : 0;
    ta += sa[k], tb += sb[k];
  }
  const double total = (double)(len * blocks), rest = (double)(len * (blocks - 1));
  *value = f(ta / total, tb / total, ctx);
  for (int k = 0; k < blocks; ++k) est[k] = f((ta - sa[k]) / rest, (tb - sb[k]) / rest, ctx);
  double mean_est = gsl_stats_mean(est, 1, (size_t)blocks), sum = 0;
  for (int k = 0; k < blocks; ++k) sum += (est[k] - mean_est) * (est[k] - mean_est);
  *err = sqrt((blocks - 1.0) / blocks * sum);
  free(sa), free(sb), free(est);
  return CORE_OK;
}

static double first(double a, double b, const void *ctx) {
  (void)b, (void)ctx;
  return a;
}

static double binder(double m2, double m4, const void *ctx) {
  (void)ctx;
  return m2 > 0 ? 1.0 - m4 / (3.0 * m2 * m2) : 0.0;
}

static double xi_of(double chi0, double chik, const void *ctx) {
  return mc_correlation_length(*(const int *)ctx, chi0, chik);
}

core_status mc_estimate_mean(const double *x, int64_t n, int blocks, double *mean, double *err) {
  return jackknife(x, NULL, n, blocks, first, NULL, mean, err);
}

core_status mc_estimate_binder(const double *m2, const double *m4, int64_t n, int blocks, double *value,
                               double *err) {
  return jackknife(m2, m4, n, blocks, binder, NULL, value, err);
}

core_status mc_estimate_xi(int L, const double *chi0, const double *chik, int64_t n, int blocks, double *xi,
                           double *err) {
  return jackknife(chi0, chik, n, blocks, xi_of, &L, xi, err);
}

/* log(|x|) and sign, accumulated over a product. */
typedef struct {
  double log_abs;
  int sign;
} signed_log;

static void times(signed_log *p, double factor) {
  p->log_abs += log(fabs(factor));
  if (factor < 0) p->sign = -p->sign;
}

/* ln Z of the periodic L x L Ising ferromagnet at coupling K = beta J:
 *   Z = 1/2 (2 sinh 2K)^(N/2) (Z1 + Z2 + Z3 + Z4),
 *   Z1 = prod_{r<L} 2 cosh(L g_{2r+1} / 2), Z2 = prod 2 sinh(L g_{2r+1} / 2),
 *   Z3 = prod_{r<L} 2 cosh(L g_{2r} / 2),   Z4 = prod 2 sinh(L g_{2r} / 2),
 *   cosh g_l = cosh 2K coth 2K - cos(pi l / L) (l > 0), g_0 = 2K + ln tanh K.
 * g_0 < 0 below the critical coupling makes Z4 negative; the four terms
 * are combined in log space with their signs. */
static double ising2d_log_z(int L, double K) {
  const double N = (double)L * L, base = cosh(2 * K) / tanh(2 * K);
  signed_log z[4] = {{0, 1}, {0, 1}, {0, 1}, {0, 1}};
  for (int r = 0; r < L; ++r) {
    const int l_odd = 2 * r + 1, l_even = 2 * r;
    const double g_odd = acosh(base - cos(CORE_PI * l_odd / L));
    const double g_even = l_even == 0 ? 2 * K + log(tanh(K)) : acosh(base - cos(CORE_PI * l_even / L));
    times(&z[0], 2 * cosh(0.5 * L * g_odd));
    times(&z[1], 2 * sinh(0.5 * L * g_odd));
    times(&z[2], 2 * cosh(0.5 * L * g_even));
    times(&z[3], 2 * sinh(0.5 * L * g_even));
  }
  double top = z[0].log_abs;
  for (int k = 1; k < 4; ++k) top = fmax(top, z[k].log_abs);
  double sum = 0;
  for (int k = 0; k < 4; ++k) sum += z[k].sign * exp(z[k].log_abs - top);
  return -log(2.0) + 0.5 * N * log(2 * sinh(2 * K)) + top + log(sum);
}

double mc_ising2d_exact_energy(int L, double beta) {
  const double h = 1e-5 * fmax(1.0, beta);
  return -(ising2d_log_z(L, beta + h) - ising2d_log_z(L, beta - h)) / (2 * h) / ((double)L * L);
}
