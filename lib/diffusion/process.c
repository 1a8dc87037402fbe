/* The forward process, its noise and EDM's ancestral sampler
 * (diffusion.h). The sampler follows EDM's en_diffusion.sample_p_zs_given_zt
 * and sample_p_xh_given_z0 in closed form: with gamma = log(sigma^2 /
 * alpha^2), sigma2_{t|s} = -expm1(log alpha_t^2 - log alpha_s^2) keeps its
 * digits when the step is small (1 - alpha_t^2 / alpha_s^2 would cancel). */
#include <math.h>

#include "eloss/diffusion.h"

void diffusion_center(int n, int d, int d_pos, double *x) {
  if (n < 1) return;
  for (int c = 0; c < d_pos; ++c) {
    double mean = 0.0;
    for (int i = 0; i < n; ++i) mean += x[(int64_t)i * d + c];
    mean /= (double)n;
    for (int i = 0; i < n; ++i) x[(int64_t)i * d + c] -= mean;
  }
}

void diffusion_noise(core_rng *rng, int n, int d_pos, int d_feat, double *eps) {
  const int d = d_pos + d_feat;
  for (int64_t k = 0; k < (int64_t)n * d; ++k) eps[k] = core_rng_normal(rng);
  diffusion_center(n, d, d_pos, eps);
}

void diffusion_train_draw(const diffusion_schedule *s, uint64_t seed, int64_t step, int64_t example, int n,
                          int d_pos, int d_feat, int *t, double *eps) {
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_DIFFUSION | DIFFUSION_TRAIN << 8,
                (uint64_t)step << 32 | (uint64_t)(uint32_t)example);
  *t = (int)core_rng_below(&rng, (uint64_t)s->T + 1);
  diffusion_noise(&rng, n, d_pos, d_feat, eps);
}

void diffusion_q_sample(const diffusion_schedule *s, int t, int64_t count, const double *x, const double *eps,
                        double *z) {
  const double a = diffusion_alpha(s, t), g = diffusion_sigma(s, t);
  for (int64_t k = 0; k < count; ++k) z[k] = a * x[k] + g * eps[k];
}

void diffusion_x_hat(const diffusion_schedule *s, int t, int64_t count, const double *z, const double *eps_hat,
                     double *x_hat) {
  const double a = diffusion_alpha(s, t), g = diffusion_sigma(s, t);
  for (int64_t k = 0; k < count; ++k) x_hat[k] = (z[k] - g * eps_hat[k]) / a;
}

void diffusion_sample_start(uint64_t seed, int64_t j, int n, int d_pos, int d_feat, core_rng *rng, double *z) {
  core_rng_init(rng, seed, CORE_PURPOSE_DIFFUSION | DIFFUSION_SAMPLE << 8, (uint64_t)j);
  diffusion_noise(rng, n, d_pos, d_feat, z);
}

void diffusion_sample_step(const diffusion_schedule *s, int t, int n, int d_pos, int d_feat, const double *eps_hat,
                           core_rng *rng, double *z) {
  const int d = d_pos + d_feat, r = t - 1;
  const double log_ratio = log(s->alpha2[t]) - log(s->alpha2[r]); /* log alpha_{t|s}^2 */
  const double sigma2_ts = -expm1(log_ratio), alpha_ts = exp(0.5 * log_ratio);
  const double sigma_t = diffusion_sigma(s, t), sigma_s = diffusion_sigma(s, r);
  const double mean_eps = sigma2_ts / alpha_ts / sigma_t, spread = sqrt(sigma2_ts) * sigma_s / sigma_t;
  for (int64_t k = 0; k < (int64_t)n * d; ++k) {
    const double noise = core_rng_normal(rng);
    z[k] = z[k] / alpha_ts - mean_eps * eps_hat[k] + spread * noise;
  }
  /* The noise's own centring is implied: centring the sum centres each
   * term, and the positions of z_t and eps_hat are centred already. */
  diffusion_center(n, d, d_pos, z);
}

void diffusion_sample_final(const diffusion_schedule *s, int n, int d_pos, int d_feat, const double *eps_hat,
                            core_rng *rng, double *z) {
  const int d = d_pos + d_feat;
  const double a = diffusion_alpha(s, 0), g = diffusion_sigma(s, 0), spread = g / a;
  for (int64_t k = 0; k < (int64_t)n * d; ++k) {
    const double noise = core_rng_normal(rng);
    z[k] = (z[k] - g * eps_hat[k]) / a + spread * noise;
  }
  diffusion_center(n, d, d_pos, z);
}
