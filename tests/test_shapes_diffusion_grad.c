/* TAP test of the shapes diffusion model's training gradient and sampler
 * (lib/train/shapes_diffusion.c):
 * - for every loss and both predictions (eps, x), the parameter gradient
 *   shard_grad accumulates against a central difference of its loss along
 *   random directions in parameter space: the whole chain of the MLP, the
 *   centring of its output, x_hat = (z - sigma eps_hat) / alpha, the atoms
 *   loss and the SNR weight; a gradient 5 % off is refused by the same
 *   check (it bites);
 * - shard_grad is a pure function of (step, shard, indices) and
 *   accumulates weight x gradient; another step draws other t and noise;
 * - generation: the same shapes twice, every shape centred, and the
 *   trained parameters untouched by sampling with their moving average. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/train.h"
#include "tap.h"

enum { NV = 7, NB = 6, GEN = 5 };

/* Loss of the shard at the current parameters (gradient discarded). */
static double loss_at(train_task *t, const int64_t *index) {
  double loss = NAN;
  nn_params_zero_grad(t->params);
  if (t->shard_grad(t, 3, 1, NB, index, 1.0, &loss)) return NAN;
  return loss;
}

/* The worst relative error over 3 directions v of g.v against the central
 * difference (L(p + h v) - L(p - h v)) / 2h, with g scaled by `scale`
 * (1: the task's gradient; else a wrong one, to see the check bite). */
static double direction_error(train_task *t, const int64_t *index, double scale, core_rng *rng) {
  nn_params *p = t->params;
  const size_t n = p->n;
  float *p0 = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
  double worst = INFINITY, loss;
  if (!p0 || !g || !v) goto done;
  memcpy(p0, p->param, sizeof(float) * n);
  nn_params_zero_grad(p);
  if (t->shard_grad(t, 3, 1, NB, index, 1.0, &loss)) goto done;
  memcpy(g, p->grad, sizeof(float) * n);
  worst = 0;
  for (int dir = 0; dir < 3; ++dir) {
    /* Along the gradient's sign pattern mixed with noise, so that g.v is
     * large against the float32 rounding of the loss. */
    double gv = 0;
    for (size_t i = 0; i < n; ++i) {
      v[i] = (float)((g[i] > 0 ? 1.0 : -1.0) * (dir == 0) + core_rng_normal(rng));
      gv += scale * (double)g[i] * v[i];
    }
    const double h = 1e-3;
    for (size_t i = 0; i < n; ++i) p->param[i] = p0[i] + (float)h * v[i];
    const double lp = loss_at(t, index);
    for (size_t i = 0; i < n; ++i) p->param[i] = p0[i] - (float)h * v[i];
    const double lm = loss_at(t, index);
    memcpy(p->param, p0, sizeof(float) * n);
    const double err = fabs((lp - lm) / (2 * h) - gv) / fabs(gv);
    if (!(err <= worst)) worst = err;
  }
done:
  free(p0), free(g), free(v);
  return worst;
}

static train_shapes_options options(atoms_preset loss, train_prediction predict) {
  train_shapes_options o;
  train_shapes_options_default(&o);
  o.model = TRAIN_SHAPES_DIFFUSION, o.loss = loss, o.predict = predict;
  /* T = 20: the 6 draws land on t near both ends as well as in between */
  o.vertices = NV, o.aug_angle = 2.385, o.samples = 50, o.test = GEN, o.hidden = 9, o.seed = 4;
  o.shard_size = NB, o.diffusion_steps = 20, o.ema = 0.9;
  return o;
}

/* Purity, accumulation and another step's draw, on one task. */
static void check_shard_grad(train_task *t, const int64_t *index) {
  const size_t n = t->params->n;
  double l1, l2, l3, l4;
  float *once = malloc(sizeof(float) * n);
  nn_params_zero_grad(t->params);
  t->shard_grad(t, 3, 1, NB, index, 1.0, &l1);
  memcpy(once, t->params->grad, sizeof(float) * n);
  nn_params_zero_grad(t->params);
  t->shard_grad(t, 3, 1, NB, index, 0.5, &l2);
  t->shard_grad(t, 3, 1, NB, index, 0.5, &l3);
  double diff = 0, norm = 0;
  for (size_t i = 0; i < n; ++i) diff = fmax(diff, fabs(t->params->grad[i] - once[i])), norm = fmax(norm, fabs(once[i]));
  tap_ok(l1 == l2 && l2 == l3 && diff <= 1e-6 * norm,
         "shard_grad is a pure function of (step, shard, indices) and accumulates weight x gradient");
  nn_params_zero_grad(t->params);
  t->shard_grad(t, 4, 1, NB, index, 1.0, &l4);
  tap_ok(l4 != l1, "another step draws other times and noise (loss %.6g, then %.6g)", l1, l4);
  free(once);
}

/* Generation twice after one Adam step (the moving average then differs
 * from the parameters): the same bytes, centred shapes, parameters kept. */
static void check_generate(train_task *t, const int64_t *index) {
  nn_params *p = t->params;
  double loss;
  nn_params_zero_grad(p);
  t->shard_grad(t, 3, 1, NB, index, 1.0, &loss);
  nn_adam adam;
  nn_adam_default(&adam);
  adam.lr = 0.05;
  nn_adam_step(p, &adam);
  float *before = malloc(sizeof(float) * p->n);
  memcpy(before, p->param, sizeof(float) * p->n);
  double a[GEN * 2 * NV], b[GEN * 2 * NV];
  const core_status st = train_shapes_generate(t, MPI_COMM_SELF, a);
  const core_status st2 = train_shapes_generate(t, MPI_COMM_SELF, b);
  tap_ok(!st && !st2 && !memcmp(a, b, sizeof a), "generating twice gives the same shapes");
  double worst = 0, size = 0;
  for (int j = 0; j < GEN; ++j)
    for (int q = 0; q < 2; ++q) {
      double sum = 0;
      for (int k = 0; k < NV; ++k) sum += a[j * 2 * NV + 2 * k + q], size = fmax(size, fabs(a[j * 2 * NV + 2 * k + q]));
      worst = fmax(worst, fabs(sum));
    }
  tap_ok(size > 0 && worst < 1e-12 * size * NV, "every generated shape is centred (largest |sum| %.2g, coordinates "
         "up to %.3g)", worst, size);
  tap_ok(p->ema && memcmp(p->ema, p->param, sizeof(float) * p->n) && !memcmp(before, p->param, sizeof(float) * p->n),
         "sampling with the moving average leaves the trained parameters as they were");
  free(before);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(2 * ATOMS_PRESET_COUNT + 1 + 2 + 3);
  core_rng rng;
  core_rng_init(&rng, 17, CORE_PURPOSE_TEST, 2);
  const int64_t index[NB] = {12, 0, 49, 7, 12, 31};
  for (int predict = 0; predict < TRAIN_PREDICT_COUNT; ++predict)
    for (int loss = 0; loss < ATOMS_PRESET_COUNT; ++loss) {
      const train_shapes_options o = options((atoms_preset)loss, (train_prediction)predict);
      train_task *t = NULL;
      double err = INFINITY, wrong = 0;
      if (!train_shapes_task_create(&o, &t)) {
        err = direction_error(t, index, 1.0, &rng);
        if (loss == ATOMS_PRESET_ENERGY && predict == TRAIN_PREDICT_EPS) wrong = direction_error(t, index, 1.05, &rng);
      }
      tap_ok(err < 1e-2, "-predict %s, -loss %s: directional derivatives of the shard loss match central "
             "differences (worst rel err %.2e)", train_prediction_names[predict], atoms_preset_names[loss], err);
      if (loss == ATOMS_PRESET_ENERGY && predict == TRAIN_PREDICT_EPS)
        tap_ok(wrong > 1e-2, "the check bites: a gradient 5 %% off is refused (rel err %.2e)", wrong);
      if (loss == ATOMS_PRESET_SPARSE && predict == TRAIN_PREDICT_EPS) check_shard_grad(t, index);
      if (loss == ATOMS_PRESET_KABSCH && predict == TRAIN_PREDICT_X) check_generate(t, index);
      train_task_destroy(&t);
    }
  MPI_Finalize();
  return tap_done();
}
