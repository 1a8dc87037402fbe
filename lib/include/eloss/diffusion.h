/* eloss diffusion: the variance-preserving diffusion of EDM (Hoogeboom,
 * Satorras, Vignac, Welling 2022, "Equivariant Diffusion for Molecule
 * Generation in 3D") for point clouds with features, the generative half
 * the paper's molecule experiments train with energy losses (Sec. 4.2,
 * 6.2).
 *
 * An example is n points, each a row of d_pos coordinates followed by
 * d_feat features (EDM's xh: positions, then one-hot atom types scaled by
 * 1/4). Positions live in the zero centre-of-mass subspace: data, noise
 * and samples are projected there, so a network that sees positions only
 * through differences loses nothing.
 *
 *   z_t = alpha_t x + sigma_t eps,  alpha_t^2 + sigma_t^2 = 1,  t = 0 .. T,
 *
 * with EDM's polynomial schedule (diffusion_schedule_create). A network
 * predicts eps from (z_t, t / T); x_hat = (z_t - sigma_t eps_hat) / alpha_t
 * is the clean example the energy losses compare with x. Sampling runs
 * EDM's ancestral sampler p(z_{t-1} | z_t) from z_T ~ N(0, I) down to
 * t = 0 and then x ~ p(x | z_0).
 *
 * Every random draw is a pure function of (seed, what, index): a training
 * draw of example i at step k uses the stream (seed, CORE_PURPOSE_DIFFUSION
 * | DIFFUSION_TRAIN << 8, k << 32 | i) (first t, then the noise), a sample
 * j the stream (seed, ... | DIFFUSION_SAMPLE << 8, j) (its starting noise,
 * then one noise per step in order), so models and samples do not depend
 * on how examples are spread over ranks.
 *
 * Worked example (one training draw, then one sample):
 *
 *   diffusion_schedule s;
 *   diffusion_schedule_create(1000, 2.0, 1e-5, &s);       // EDM's polynomial_2
 *   int t;
 *   diffusion_train_draw(&s, seed, step, i, n, 3, 5, &t, eps);
 *   diffusion_q_sample(&s, t, n * 8, x, eps, z);           // z_t; x centred
 *   ... eps_hat = network(z, t / T) ...
 *   diffusion_x_hat(&s, t, n * 8, z, eps_hat, x_hat);
 *
 *   core_rng rng;
 *   diffusion_sample_start(seed, j, n, 3, 5, &rng, z);     // z_T
 *   for (int t = s.T; t >= 1; --t) {
 *     ... eps_hat = network(z, t / T) ...
 *     diffusion_sample_step(&s, t, n, 3, 5, eps_hat, &rng, z);  // z_{t-1}, in place
 *   }
 *   ... eps_hat = network(z, 0) ...
 *   diffusion_sample_final(&s, n, 3, 5, eps_hat, &rng, z);       // x
 *   diffusion_schedule_free(&s);
 */
#ifndef ELOSS_DIFFUSION_H
#define ELOSS_DIFFUSION_H

#include <stdint.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DIFFUSION_STEPS_MAX = 1000000, DIFFUSION_TRAIN = 1, DIFFUSION_SAMPLE = 2 };

/* alpha_t^2 and sigma_t^2 = 1 - alpha_t^2 for t = 0 .. T. */
typedef struct {
  int T;
  double *alpha2; /* (T + 1) */
  double *sigma2; /* (T + 1) */
} diffusion_schedule;

/* EDM's polynomial schedule ("polynomial_<power>", EDM's
 * en_diffusion.polynomial_schedule): a~2(t) = (1 - (t / T)^power)^2, the
 * ratios a~2(t) / a~2(t - 1) clipped below at 0.001 (and a~2(-1) = 1), then
 * alpha_t^2 = (1 - 2 s) a~2(t) + s with the precision s. EDM on QM9: T =
 * 1000, power 2, s = 1e-5. CORE_ERR_ARG for T outside 1 .. DIFFUSION_STEPS_MAX,
 * power <= 0 or s outside (0, 0.5). Local. */
core_status diffusion_schedule_create(int T, double power, double precision, diffusion_schedule *s);
/* Accepts a zeroed or freed schedule. */
void diffusion_schedule_free(diffusion_schedule *s);
/* alpha_t, sigma_t. */
double diffusion_alpha(const diffusion_schedule *s, int t);
double diffusion_sigma(const diffusion_schedule *s, int t);

/* x (n, d) row-major: subtract the mean of the first d_pos columns of the
 * rows (the centre of mass of the positions); the other columns are left.
 * Pure. */
void diffusion_center(int n, int d, int d_pos, double *x);

/* Noise eps (n, d_pos + d_feat) from rng: standard normal, the positions
 * projected to zero centre of mass (EDM's centre-of-gravity-free
 * Gaussian). Draws n (d_pos + d_feat) normals in row order. */
void diffusion_noise(core_rng *rng, int n, int d_pos, int d_feat, double *eps);

/* The training draw of example `example` at step `step`: t uniform on
 * 0 .. T, then its noise (diffusion_noise). Pure function of its
 * arguments. */
void diffusion_train_draw(const diffusion_schedule *s, uint64_t seed, int64_t step, int64_t example, int n,
                          int d_pos, int d_feat, int *t, double *eps);

/* z = alpha_t x + sigma_t eps over `count` numbers. Pure. */
void diffusion_q_sample(const diffusion_schedule *s, int t, int64_t count, const double *x, const double *eps,
                        double *z);
/* x_hat = (z - sigma_t eps_hat) / alpha_t over `count` numbers: the clean
 * example implied by a noise prediction. Pure. */
void diffusion_x_hat(const diffusion_schedule *s, int t, int64_t count, const double *z, const double *eps_hat,
                     double *x_hat);

/* Sample j's stream, and its starting point z_T ~ N(0, I) (positions
 * centred) into z (n, d_pos + d_feat). */
void diffusion_sample_start(uint64_t seed, int64_t j, int n, int d_pos, int d_feat, core_rng *rng, double *z);
/* One step of EDM's ancestral sampler, z_t -> z_s with s = t - 1 (t = T ..
 * 1), in place, from the network's eps_hat at (z_t, t):
 *   sigma2_{t|s} = 1 - alpha_t^2 / alpha_s^2,  alpha_{t|s} = alpha_t / alpha_s,
 *   mu = z_t / alpha_{t|s} - sigma2_{t|s} / (alpha_{t|s} sigma_t) eps_hat,
 *   z_s = mu + (sigma_{t|s} sigma_s / sigma_t) noise,
 * noise from rng (diffusion_noise); positions centred after. */
void diffusion_sample_step(const diffusion_schedule *s, int t, int n, int d_pos, int d_feat, const double *eps_hat,
                           core_rng *rng, double *z);
/* The last step, x ~ p(x | z_0): x = (z_0 - sigma_0 eps_hat) / alpha_0 +
 * (sigma_0 / alpha_0) noise, in place; positions centred. */
void diffusion_sample_final(const diffusion_schedule *s, int n, int d_pos, int d_feat, const double *eps_hat,
                            core_rng *rng, double *z);

#ifdef __cplusplus
}
#endif
#endif
