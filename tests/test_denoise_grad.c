/* TAP test of the denoise task's gradient (lib/train/denoise_task.c): for
 * every loss, with and without rotation, the parameter gradient that
 * shard_grad accumulates against a central difference of its loss along a
 * random direction in parameter space. This checks the whole chain: the
 * MLP, x_hat = x_t - sigma eps_hat, the atoms loss and the weight. Also:
 * shard_grad is a pure function of (step, shard, indices) and accumulates.
 * Data: a small XYZ file of perturbed 8- and 7-atom clusters written here
 * (padded to 8). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/train.h"
#include "tap.h"

enum { N = 8, FRAMES = 6, NB = 4 };

static core_status write_xyz(const char *path, uint64_t seed) {
  FILE *fp = fopen(path, "w");
  CORE_CHECK(fp, CORE_ERR_IO, "cannot write %s", path);
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_TEST, 0);
  /* A cube of side 1.1 (the 8 atoms of an LJ-like cluster), jittered;
   * odd frames lose an atom, so the batch is padded (molecules). */
  for (int f = 0; f < FRAMES; ++f) {
    const int n = N - (f & 1);
    fprintf(fp, "%d\nframe %d\n", n, f);
    for (int a = 0; a < n; ++a)
      fprintf(fp, "Ar %.10f %.10f %.10f\n", 1.1 * (a & 1) + 0.1 * core_rng_normal(&rng),
              1.1 * (a >> 1 & 1) + 0.1 * core_rng_normal(&rng), 1.1 * (a >> 2 & 1) + 0.1 * core_rng_normal(&rng));
  }
  fclose(fp);
  return CORE_OK;
}

/* Loss of the shard at the current parameters (gradient discarded). */
static double loss_at(train_task *t, const int64_t *index) {
  double loss = NAN;
  nn_params_zero_grad(t->params);
  if (t->shard_grad(t, 7, 1, NB, index, 1.0, &loss)) return NAN;
  return loss;
}

/* max over directions of |g.v - (L(p + h v) - L(p - h v)) / 2h| / |g.v|. */
static double direction_error(train_task *t, const int64_t *index, core_rng *rng, double *gv_out) {
  nn_params *p = t->params;
  const size_t n = p->n;
  float *p0 = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
  double worst = INFINITY;
  if (!p0 || !g || !v) goto done;
  memcpy(p0, p->param, sizeof(float) * n);
  double loss;
  nn_params_zero_grad(p);
  if (t->shard_grad(t, 7, 1, NB, index, 1.0, &loss)) goto done;
  memcpy(g, p->grad, sizeof(float) * n);
  worst = 0;
  for (int dir = 0; dir < 3; ++dir) {
    /* A direction along the gradient's sign pattern mixed with noise, so g.v
     * is large against the float32 rounding of the loss. */
    double gv = 0;
    for (size_t i = 0; i < n; ++i) {
      v[i] = (float)((g[i] > 0 ? 1.0 : -1.0) * (dir == 0) + core_rng_normal(rng));
      gv += (double)g[i] * v[i];
    }
    const double h = 1e-3;
    for (size_t i = 0; i < n; ++i) p->param[i] = p0[i] + (float)h * v[i];
    const double lp = loss_at(t, index);
    for (size_t i = 0; i < n; ++i) p->param[i] = p0[i] - (float)h * v[i];
    const double lm = loss_at(t, index);
    memcpy(p->param, p0, sizeof(float) * n);
    const double fd = (lp - lm) / (2 * h);
    const double err = fabs(fd - gv) / fabs(gv);
    if (!(err <= worst)) worst = err;
    if (dir == 0) *gv_out = gv;
  }
done:
  free(p0), free(g), free(v);
  return worst;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(12);
  char path[96], test_path[96];
  snprintf(path, sizeof path, "/tmp/test_denoise_grad_%d.xyz", (int)getpid());
  snprintf(test_path, sizeof test_path, "/tmp/test_denoise_grad_%d_test.xyz", (int)getpid());
  /* A test set of other structures: the task refuses one that shares
   * structures with the training set. */
  core_status st = write_xyz(path, 3);
  if (!st) st = write_xyz(test_path, 4);
  tap_ok(!st, "an XYZ file of %d frames of %d and %d atoms written", FRAMES, N, N - 1);
  core_rng rng;
  core_rng_init(&rng, 11, CORE_PURPOSE_TEST, 1);
  const int64_t index[NB] = {3, 0, 5, 3};
  for (int loss = 0; loss < ATOMS_PRESET_COUNT; ++loss)
    for (int rotate = 0; rotate <= 1; ++rotate) {
      train_denoise_options o;
      train_denoise_options_default(&o);
      o.train = path, o.test = test_path;
      o.loss = (atoms_preset)loss;
      o.rotate = rotate;
      /* large levels: the loss must depend on the network, not be the
       * clean structure's */
      o.n_levels = 2, o.levels[0] = 0.3, o.levels[1] = 0.6;
      o.width = 6, o.seed = 5, o.shard_size = NB;
      train_task *t = NULL;
      double gv = 0, err = INFINITY;
      if (!train_denoise_task_create(MPI_COMM_SELF, &o, &t)) err = direction_error(t, index, &rng, &gv);
      tap_ok(err < 2e-2, "%s%s: directional derivative of the shard loss matches central differences (rel err %.2e, "
             "g.v %.3g)", atoms_preset_names[loss], rotate ? ", rotated" : "", err, gv);
      if (loss == ATOMS_PRESET_SPARSE && rotate) {
        /* Purity and accumulation: twice with weight 0.5 = once with 1. */
        double l1, l2, l3;
        nn_params_zero_grad(t->params);
        t->shard_grad(t, 7, 1, NB, index, 1.0, &l1);
        float *once = malloc(sizeof(float) * t->params->n);
        memcpy(once, t->params->grad, sizeof(float) * t->params->n);
        nn_params_zero_grad(t->params);
        t->shard_grad(t, 7, 1, NB, index, 0.5, &l2);
        t->shard_grad(t, 7, 1, NB, index, 0.5, &l3);
        double diff = 0, norm = 0;
        for (size_t i = 0; i < t->params->n; ++i)
          diff = fmax(diff, fabs(t->params->grad[i] - once[i])), norm = fmax(norm, fabs(once[i]));
        tap_ok(l1 == l2 && l2 == l3 && diff <= 1e-6 * norm,
               "shard_grad is a pure function of (step, shard, indices) and accumulates weight x gradient");
        double l4;
        nn_params_zero_grad(t->params);
        t->shard_grad(t, 8, 1, NB, index, 1.0, &l4);
        tap_ok(l4 != l1, "another step draws other noise (loss %.6g, then %.6g)", l1, l4);
        /* Padding: on a shard of 7-atom frames only, the network's outputs
         * for atom 8 reach no loss, so the rows of the last layer that
         * make them get an exact zero gradient, the others do not. */
        const int64_t odd[3] = {1, 3, 5};
        nn_params_zero_grad(t->params);
        double l5;
        t->shard_grad(t, 7, 1, 3, odd, 1.0, &l5);
        const float *gw = nn_params_grad(t->params, 4), *gb = nn_params_grad(t->params, 5);
        double pad = 0, real = 0;
        for (int r = 0; r < 3 * N; ++r) {
          double row = fabs(gb[r]);
          for (int k = 0; k < o.width; ++k) row += fabs(gw[r * o.width + k]);
          if (r >= 3 * (N - 1)) pad += row; else real += row;
        }
        tap_ok(pad == 0 && real > 0, "padded atoms get no gradient (|grad| of their output rows %g, of the others %.3g)",
               pad, real);
        free(once);
      }
      train_task_destroy(&t);
    }
  remove(path), remove(test_path);
  MPI_Finalize();
  return tap_done();
}
