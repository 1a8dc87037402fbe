/* EDM's polynomial noise schedule (diffusion.h): alpha_t^2 and sigma_t^2
 * for t = 0 .. T, in double. sigma^2 is computed as 1 - alpha^2, which at
 * t = 0 is the precision s itself (1e-5), far above double's rounding. */
#include <math.h>
#include <stdlib.h>

#include "eloss/diffusion.h"

core_status diffusion_schedule_create(int T, double power, double precision, diffusion_schedule *s) {
  CORE_CHECK(s != NULL, CORE_ERR_ARG, "diffusion_schedule_create: NULL schedule");
  s->T = 0, s->alpha2 = NULL, s->sigma2 = NULL;
  CORE_CHECK(T >= 1 && T <= DIFFUSION_STEPS_MAX, CORE_ERR_ARG, "diffusion: %d steps, expected 1 .. %d", T,
             (int)DIFFUSION_STEPS_MAX);
  CORE_CHECK(isfinite(power) && power > 0, CORE_ERR_ARG, "diffusion: schedule power %g, expected > 0", power);
  CORE_CHECK(isfinite(precision) && precision > 0 && precision < 0.5, CORE_ERR_ARG,
             "diffusion: precision %g, expected 0 < s < 0.5", precision);
  double *a = malloc(sizeof(double) * (size_t)(T + 1)), *g = malloc(sizeof(double) * (size_t)(T + 1));
  if (!a || !g) {
    free(a), free(g);
    return CORE_ERROR(CORE_ERR_MEM, "diffusion: cannot allocate a schedule of %d steps", T);
  }
  /* The clipped ratios multiply up from a~2(-1) = 1, as EDM's cumprod. */
  double previous = 1.0, clipped = 1.0;
  for (int t = 0; t <= T; ++t) {
    const double u = 1.0 - pow((double)t / (double)T, power), raw = u * u;
    double ratio = previous > 0 ? raw / previous : 0.0;
    if (ratio < 0.001) ratio = 0.001;
    if (ratio > 1.0) ratio = 1.0;
    clipped *= ratio;
    previous = raw;
    a[t] = (1.0 - 2.0 * precision) * clipped + precision;
    g[t] = 1.0 - a[t];
  }
  s->T = T, s->alpha2 = a, s->sigma2 = g;
  return CORE_OK;
}

void diffusion_schedule_free(diffusion_schedule *s) {
  if (!s) return;
  free(s->alpha2), free(s->sigma2);
  s->alpha2 = s->sigma2 = NULL;
  s->T = 0;
}

double diffusion_alpha(const diffusion_schedule *s, int t) { return sqrt(s->alpha2[t]); }
double diffusion_sigma(const diffusion_schedule *s, int t) { return sqrt(s->sigma2[t]); }
