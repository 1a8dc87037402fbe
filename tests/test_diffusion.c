/* TAP test of lib/diffusion:
 * - EDM's polynomial schedule: alpha^2 + sigma^2 = 1, alpha^2 decreasing,
 *   the end points and an unclipped middle point against the formula, the
 *   clip of the step ratio at 0.001, bad arguments refused;
 * - noise: positions centred per example, features not; a training draw is
 *   a pure function of (seed, step, example); the positional noise has the
 *   covariance of the zero centre-of-mass projector (chi^2-style bound);
 * - x_hat inverts the forward process;
 * - the ancestral sampler, run with the exact noise predictor of Gaussian
 *   data (E[eps | z_t] is linear in z_t there), gives samples whose
 *   variance matches the sampler's own variance recursion (Monte Carlo, 5
 *   standard errors) and that recursion lands on the data's variance (the
 *   formulas are EDM's reverse process, not merely self-consistent);
 *   samples are the same bytes for the same (seed, index). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/diffusion.h"
#include "tap.h"

/* Gaussian data: positions N(0, c^2) in the zero-mean subspace, features
 * N(0, ch^2). The exact E[eps | z_t] per coordinate: sigma_t z /
 * (alpha_t^2 var + sigma_t^2). */
static double eps_gain(const diffusion_schedule *s, int t, double var) {
  return diffusion_sigma(s, t) / (s->alpha2[t] * var + s->sigma2[t]);
}

static void exact_eps(const diffusion_schedule *s, int t, int n, int dp, int df, double c2, double h2, const double *z,
                      double *e) {
  const double kp = eps_gain(s, t, c2), kh = eps_gain(s, t, h2);
  for (int i = 0; i < n; ++i)
    for (int c = 0; c < dp + df; ++c) e[i * (dp + df) + c] = (c < dp ? kp : kh) * z[i * (dp + df) + c];
}

/* The variance of a sample coordinate (in the subspace for positions) that
 * the sampler produces with the exact linear predictor, by its recursion. */
static double predicted_variance(const diffusion_schedule *s, double var) {
  double v = 1.0;
  for (int t = s->T; t >= 1; --t) {
    const int r = t - 1;
    const double lr = log(s->alpha2[t]) - log(s->alpha2[r]);
    const double s2 = -expm1(lr), a = exp(0.5 * lr);
    const double b = s2 / a / diffusion_sigma(s, t), spread = sqrt(s2) * diffusion_sigma(s, r) / diffusion_sigma(s, t);
    const double m = 1.0 / a - b * eps_gain(s, t, var);
    v = m * m * v + spread * spread;
  }
  const double a0 = diffusion_alpha(s, 0), g0 = diffusion_sigma(s, 0);
  const double m = (1.0 - g0 * eps_gain(s, 0, var)) / a0;
  return m * m * v + g0 * g0 / (a0 * a0);
}

static void sample(const diffusion_schedule *s, uint64_t seed, int64_t j, int n, int dp, int df, double c2, double h2,
                   double *z, double *e) {
  core_rng rng;
  diffusion_sample_start(seed, j, n, dp, df, &rng, z);
  for (int t = s->T; t >= 1; --t) {
    exact_eps(s, t, n, dp, df, c2, h2, z, e);
    diffusion_sample_step(s, t, n, dp, df, e, &rng, z);
  }
  exact_eps(s, 0, n, dp, df, c2, h2, z, e);
  diffusion_sample_final(s, n, dp, df, e, &rng, z);
}

int main(void) {
  tap_plan(12);
  diffusion_schedule s;
  core_status st = diffusion_schedule_create(1000, 2.0, 1e-5, &s);
  int ok = !st && s.T == 1000;
  double worst = 0.0;
  for (int t = 0; ok && t <= s.T; ++t) {
    worst = fmax(worst, fabs(s.alpha2[t] + s.sigma2[t] - 1.0));
    if (t > 0 && !(s.alpha2[t] < s.alpha2[t - 1])) ok = 0;
  }
  tap_ok(ok && worst < 1e-15, "polynomial_2, T = 1000, s = 1e-5: alpha^2 + sigma^2 = 1 (%.1e), alpha^2 strictly "
         "decreasing", worst);
  /* t = 0: a~2 = 1, alpha^2 = 1 - s. t = 500: a~2 = (1 - 1/4)^2 = 0.5625,
   * reached through ratios near 1 (no clipping). t = T: a~2 = 0, the last
   * ratio clipped to 0.001 of a~2(T - 1) = (1 - (999/1000)^2)^2. */
  const double s0 = 1e-5, mid = (1 - 2 * s0) * 0.5625 + s0;
  const double before = pow(1 - pow(999.0 / 1000.0, 2), 2), last = (1 - 2 * s0) * before * 0.001 + s0;
  tap_ok(!st && fabs(s.alpha2[0] - (1 - s0)) < 1e-15 && fabs(s.alpha2[500] - mid) < 1e-14 &&
             fabs(s.alpha2[1000] - last) < 1e-15,
         "alpha^2 at t = 0, 500, 1000 = 1 - s, (1-2s) 0.5625 + s, (1-2s) 0.001 a~2(999) + s (%.17g, %.17g, %.3g)",
         st ? 0.0 : s.alpha2[0], st ? 0.0 : s.alpha2[500], st ? 0.0 : s.alpha2[1000]);
  /* A steep schedule clips every step: power 0.05 drops a~2 by far more
   * than 1000x at t = 1 when T = 2. */
  diffusion_schedule steep;
  core_status st2 = diffusion_schedule_create(2, 0.05, 0.01, &steep);
  const double raw1 = pow(1 - pow(0.5, 0.05), 2);
  const double want1 = (1 - 0.02) * (raw1 < 0.001 ? 0.001 : raw1) + 0.01;
  tap_ok(!st2 && fabs(steep.alpha2[1] - want1) < 1e-15 && fabs(steep.alpha2[2] - ((1 - 0.02) * (raw1 < 0.001 ? 0.001 : raw1) * 0.001 + 0.01)) < 1e-15,
         "the step ratio is clipped at 0.001 (alpha^2 = %.6g, %.6g)", st2 ? 0.0 : steep.alpha2[1],
         st2 ? 0.0 : steep.alpha2[2]);
  diffusion_schedule_free(&steep);
  diffusion_schedule bad;
  tap_ok(diffusion_schedule_create(0, 2, 1e-5, &bad) == CORE_ERR_ARG &&
             diffusion_schedule_create(10, 0, 1e-5, &bad) == CORE_ERR_ARG &&
             diffusion_schedule_create(10, 2, 0.5, &bad) == CORE_ERR_ARG &&
             diffusion_schedule_create(10, NAN, 1e-5, &bad) == CORE_ERR_ARG && bad.alpha2 == NULL,
         "T = 0, power 0, precision 0.5 and a NaN power are refused: %s", core_error_message());

  /* Noise and training draws. */
  enum { N = 5, DP = 3, DF = 2, D = DP + DF };
  double eps[N * D], eps2[N * D], eps3[N * D];
  int t1, t2, t3;
  diffusion_train_draw(&s, 7, 11, 3, N, DP, DF, &t1, eps);
  diffusion_train_draw(&s, 7, 11, 3, N, DP, DF, &t2, eps2);
  diffusion_train_draw(&s, 7, 11, 4, N, DP, DF, &t3, eps3);
  double com = 0.0, feat_sum = 0.0;
  for (int c = 0; c < DP; ++c) {
    double m = 0;
    for (int i = 0; i < N; ++i) m += eps[i * D + c];
    com = fmax(com, fabs(m));
  }
  for (int i = 0; i < N; ++i) feat_sum += eps[i * D + DP] + eps[i * D + DP + 1];
  tap_ok(com < 1e-14 && fabs(feat_sum) > 1e-6, "noise: positions centred per example (|sum| %.1e), features not", com);
  tap_ok(t1 == t2 && !memcmp(eps, eps2, sizeof eps) && memcmp(eps, eps3, sizeof eps) != 0 && t1 >= 0 && t1 <= 1000,
         "a training draw is a pure function of (seed, step, example): t = %d twice, another example differs", t1);
  /* Covariance of the positional noise: Var(eps_ic) = (n - 1) / n,
   * Cov(eps_ic, eps_jc) = -1 / n. */
  enum { M = 20000 };
  double var = 0, cov = 0;
  for (int m = 0; m < M; ++m) {
    int t;
    diffusion_train_draw(&s, 99, 0, m, N, DP, DF, &t, eps);
    var += eps[0] * eps[0];
    cov += eps[0] * eps[D];
  }
  var /= M, cov /= M;
  const double se = sqrt(2.0 / M);
  tap_ok(fabs(var - 0.8) < 5 * se * 0.8 && fabs(cov + 0.2) < 5 * se,
         "positional noise covariance = the zero centre-of-mass projector: var %.4f (0.8), cov %.4f (-0.2)", var, cov);

  /* x_hat inverts z_t = alpha x + sigma eps. */
  double x[N * D], z[N * D], xh[N * D];
  core_rng rng;
  core_rng_init(&rng, 5, CORE_PURPOSE_TEST, 1);
  for (int k = 0; k < N * D; ++k) x[k] = 3.0 * core_rng_normal(&rng);
  double inv = 0.0;
  for (int t = 0; t <= s.T; t += 50) {
    diffusion_q_sample(&s, t, N * D, x, eps, z);
    diffusion_x_hat(&s, t, N * D, z, eps, xh);
    for (int k = 0; k < N * D; ++k) inv = fmax(inv, fabs(xh[k] - x[k]));
  }
  tap_ok(inv < 1e-9, "x_hat(z_t(x, eps), eps) = x at every 50th t (max error %.1e)", inv);

  /* The sampler on Gaussian data with the exact predictor. */
  const double c2 = 4.0, h2 = 0.25;
  enum { S = 1500 };
  double *e = malloc(sizeof(double) * N * D);
  double sum_p = 0, sum_h = 0, sum2_p = 0, sum2_h = 0;
  for (int j = 0; j < S; ++j) {
    sample(&s, 2024, j, N, DP, DF, c2, h2, z, e);
    double p = 0, h = 0;
    for (int i = 0; i < N; ++i)
      for (int c = 0; c < D; ++c) {
        const double q = z[i * D + c] * z[i * D + c];
        if (c < DP) p += q;
        else h += q;
      }
    p /= DP * (N - 1), h /= DF * N; /* per subspace dimension */
    sum_p += p, sum2_p += p * p, sum_h += h, sum2_h += h * h;
  }
  const double mp = sum_p / S, mh = sum_h / S;
  const double sep = sqrt((sum2_p / S - mp * mp) / S), seh = sqrt((sum2_h / S - mh * mh) / S);
  const double vp = predicted_variance(&s, c2), vh = predicted_variance(&s, h2);
  tap_ok(fabs(mp - vp) < 5 * sep && fabs(mh - vh) < 5 * seh,
         "exact-predictor samples: positional variance %.4f +- %.4f (recursion %.4f), features %.4f +- %.4f (%.4f)", mp,
         sep, vp, mh, seh, vh);
  tap_ok(fabs(vp / c2 - 1) < 0.01 && fabs(vh / h2 - 1) < 0.01,
         "the sampler's variance recursion ends at the data's variance: %.5f of 4, %.5f of 0.25 (1 %% at T = 1000)", vp,
         vh);
  double again[N * D], other[N * D];
  sample(&s, 2024, 7, N, DP, DF, c2, h2, z, e);
  sample(&s, 2024, 7, N, DP, DF, c2, h2, again, e);
  sample(&s, 2025, 7, N, DP, DF, c2, h2, other, e);
  double pos_com = 0.0;
  for (int c = 0; c < DP; ++c) {
    double m = 0;
    for (int i = 0; i < N; ++i) m += z[i * D + c];
    pos_com = fmax(pos_com, fabs(m));
  }
  tap_ok(!memcmp(z, again, sizeof z) && memcmp(z, other, sizeof z) != 0 && pos_com < 1e-12,
         "a sample is the same bytes for the same (seed, index), another seed differs, positions centred (%.1e)",
         pos_com);
  /* A predictor that is wrong by 10 % moves the variance: the check bites. */
  double v_wrong = 0.0;
  {
    double v = 1.0;
    for (int t = s.T; t >= 1; --t) {
      const int r = t - 1;
      const double lr = log(s.alpha2[t]) - log(s.alpha2[r]);
      const double s2 = -expm1(lr), a = exp(0.5 * lr);
      const double b = s2 / a / diffusion_sigma(&s, t), spread = sqrt(s2) * diffusion_sigma(&s, r) / diffusion_sigma(&s, t);
      const double m = 1.0 / a - b * 1.1 * eps_gain(&s, t, c2);
      v = m * m * v + spread * spread;
    }
    v_wrong = v;
  }
  tap_ok(fabs(v_wrong / c2 - 1) > 0.05, "a predictor 10 %% too large ends far from the data's variance (%.3f of 4)",
         v_wrong);
  free(e);
  diffusion_schedule_free(&s);
  diffusion_schedule_free(&s); /* freed: a no-op */
  return tap_done();
}
