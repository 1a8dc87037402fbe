/* TAP test of EGNN (lib/nn/egnn.c), EDM's E(n)-equivariant network of
 * molecules, on molecules of 3, 1 and 4 atoms in one batch:
 * - every parameter gradient = central differences of a random linear
 *   functional of the output, block by block (with the coordinate MLP's
 *   output row scaled up from its near-zero init, so the gradient through
 *   the moving coordinates counts); a corrupted gradient entry is caught;
 * - E(3): rotating (and reflecting) the input positions rotates the
 *   coordinate output and leaves the feature output, to round-off;
 *   translating them changes neither; the same check on GDM fails (it
 *   bites);
 * - permuting a molecule's atoms permutes its output; a molecule's output
 *   does not depend on the rest of the batch; the coordinate output is
 *   centred per molecule; an inference forward gives the training
 *   forward's bits; backward accumulates; the model table builds it bit
 *   for bit; impossible batches are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"
#include "tap.h"

enum { F = 2, D = 3 + F, B = 3, L = 2, NA = 8 };
static const int64_t natoms[B] = {3, 1, 4};

typedef struct {
  nn_model *m;
  float x[NA * D], t[B], w[NA * D], y[NA * D];
} ctx;

static double loss(ctx *c) {
  nn_input in = {.B = B, .x = c->x, .natoms = natoms, .t = c->t};
  if (nn_model_forward(c->m, &in, c->y)) return NAN;
  double s = 0;
  for (int k = 0; k < NA * D; ++k) s += (double)c->w[k] * c->y[k];
  return s;
}

/* dL/dparam[i] by central differences, Richardson-extrapolated from steps
 * h and h / 2 (error O(h^4): the distance columns of the first layers
 * multiply squared distances of several A^2, where a plain O(h^2)
 * difference is off by a percent). */
static double central(ctx *c, size_t i, float h) {
  float *w = nn_model_params(c->m)->param;
  const float keep = w[i];
  double d[2];
  for (int k = 0; k < 2; ++k, h *= 0.5f) {
    w[i] = keep + h;
    const double up = loss(c);
    w[i] = keep - h;
    const double down = loss(c);
    d[k] = (up - down) / (2.0 * h);
  }
  w[i] = keep;
  return (4.0 * d[1] - d[0]) / 3.0;
}

/* Worst relative error of the gradients of tensors [t0, t1) against
 * central differences; g the analytic gradient of every parameter. */
static double check_tensors(ctx *c, const float *g, int t0, int t1, int *count) {
  nn_params *p = nn_model_params(c->m);
  double gmax = 0, worst = 0;
  for (size_t i = 0; i < p->n; ++i) gmax = fmax(gmax, fabs(g[i]));
  for (int t = t0; t < t1; ++t)
    for (size_t i = p->offset[t]; i < p->offset[t] + p->size[t]; ++i, ++*count) {
      const double fd = central(c, i, 2e-2f);
      worst = fmax(worst, fabs(fd - g[i]) / (fabs(fd) + 1e-3 * gmax));
    }
  return worst;
}

/* A uniformly random rotation (core_rng_rotation), its last row negated
 * when reflect (an improper orthogonal matrix). */
static void random_orthogonal(core_rng *rng, int reflect, double Q[3][3]) {
  double R[9];
  core_rng_rotation(rng, R);
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) Q[r][k] = (reflect && r == 2 ? -1.0 : 1.0) * R[3 * r + k];
}

/* max |y(Q x + s) - Q y(x)| (features: - y(x)) over max |y(x)|. */
static double e3_error(nn_model *m, const float *x, const float *t, const double Q[3][3], const double s[3]) {
  float y0[NA * D], xq[NA * D], yq[NA * D];
  nn_input in = {.B = B, .x = x, .natoms = natoms, .t = t};
  if (nn_model_forward(m, &in, y0)) return INFINITY;
  memcpy(xq, x, sizeof xq);
  for (int i = 0; i < NA; ++i)
    for (int r = 0; r < 3; ++r) {
      double v = s[r];
      for (int k = 0; k < 3; ++k) v += Q[r][k] * x[i * D + k];
      xq[i * D + r] = (float)v;
    }
  in.x = xq;
  if (nn_model_forward(m, &in, yq)) return INFINITY;
  double err = 0, scale = 0;
  for (int i = 0; i < NA; ++i)
    for (int r = 0; r < D; ++r) {
      double want = y0[i * D + r];
      if (r < 3) {
        want = 0;
        for (int k = 0; k < 3; ++k) want += Q[r][k] * y0[i * D + k];
      }
      err = fmax(err, fabs(yq[i * D + r] - want));
      scale = fmax(scale, fabs(y0[i * D + r]));
    }
  return err / scale;
}

int main(void) {
  tap_plan(12);
  core_rng rng;
  core_rng_init(&rng, 47, CORE_PURPOSE_TEST, 0);
  nn_egnn_config cfg = {.features = F, .width = 6, .layers = L, .norm = 1.0, .coords_range = 15.0,
                        .max_atoms = 16, .max_pairs = 64};
  ctx c;
  core_status st = nn_model_create("egnn", &cfg, 5, &c.m);
  for (int k = 0; k < NA * D; ++k) c.x[k] = (float)core_rng_normal(&rng), c.w[k] = (float)core_rng_normal(&rng);
  for (int b = 0; b < B; ++b) c.t[b] = (float)core_rng_uniform(&rng);
  nn_params *p = st ? NULL : nn_model_params(c.m);
  tap_ok(p && p->n_tensors == 2 + 15 * L + 2, "the model builds: %d tensors, %zu parameters",
         p ? p->n_tensors : 0, p ? p->n : (size_t)0);
  /* The coordinate MLP's output rows start at Xavier gain 0.001: scaled
   * up so the coordinates move and their gradient path is exercised. */
  double max_u = 0;
  for (int l = 0; p && l < L; ++l) {
    float *u = nn_params_tensor(p, 2 + 15 * l + 14);
    for (int k = 0; k < cfg.width; ++k) max_u = fmax(max_u, fabs(u[k])), u[k] *= 30.0f;
  }
  float *g = NULL;
  double worst[L + 2] = {1, 1, 1, 1};
  int counts[L + 2] = {0};
  if (p) {
    nn_params_zero_grad(p);
    loss(&c);
    nn_model_backward(c.m, B, c.w);
    g = malloc(sizeof(float) * p->n);
    memcpy(g, p->grad, sizeof(float) * p->n);
    worst[0] = check_tensors(&c, g, 0, 2, &counts[0]);
    for (int l = 0; l < L; ++l) worst[1 + l] = check_tensors(&c, g, 2 + 15 * l, 2 + 15 * (l + 1), &counts[1 + l]);
    worst[L + 1] = check_tensors(&c, g, 2 + 15 * L, p->n_tensors, &counts[L + 1]);
  }
  double all = 0;
  for (int k = 0; k < L + 2; ++k) all = fmax(all, worst[k]);
  tap_ok(p && all < 5e-3,
         "parameter gradients = central differences: embedding %d (%.1e), block 0 %d (%.1e), block 1 %d (%.1e), "
         "output %d (%.1e)",
         counts[0], worst[0], counts[1], worst[1], counts[2], worst[2], counts[3], worst[3]);
  tap_ok(max_u > 0 && max_u <= 0.001 * sqrt(6.0 / 7.0) + 1e-9,
         "the coordinate MLP's output row starts at EDM's Xavier gain 0.001 (largest %.2e)", max_u);
  /* The check bites: one entry of block 0's edge MLP off by 5 %. */
  if (p) {
    const size_t i = p->offset[2] + 3;
    const double fd = central(&c, i, 2e-2f), bad = g[i] + 0.05 * (fabs(fd) + 1e-2);
    tap_ok(fabs(fd - bad) / (fabs(fd) + 1e-3) > 2e-2, "a gradient entry 5 %% off is caught (%.4g vs %.4g)", bad, fd);
  } else {
    tap_ok(0, "no model");
  }
  double twice = 0, gmax = 0;
  if (p) {
    loss(&c);
    nn_model_backward(c.m, B, c.w);
    for (size_t i = 0; i < p->n; ++i) twice = fmax(twice, fabs(p->grad[i] - 2 * g[i])), gmax = fmax(gmax, fabs(g[i]));
  }
  tap_ok(p && twice < 1e-5 * gmax, "a second backward adds the same gradient again (%.1e of the largest)",
         twice / gmax);
  /* E(3). */
  double Q[3][3], R[3][3];
  const double none[3] = {0, 0, 0}, shift[3] = {3.0, -2.0, 5.0};
  const double I3[3][3] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}};
  random_orthogonal(&rng, 0, Q);
  random_orthogonal(&rng, 1, R);
  const double rot = e3_error(c.m, c.x, c.t, Q, none), ref = e3_error(c.m, c.x, c.t, R, none);
  const double tr = e3_error(c.m, c.x, c.t, I3, shift), both = e3_error(c.m, c.x, c.t, Q, shift);
  tap_ok(rot < 1e-5 && ref < 1e-5, "a rotation (%.1e) and a reflection (%.1e) of the input rotate eps_x and leave eps_h",
         rot, ref);
  tap_ok(tr < 1e-5 && both < 1e-5, "a translation changes nothing (%.1e), nor a rotation with it (%.1e)", tr, both);
  nn_gdm_config gcfg = {.features = F, .width = 6, .layers = L, .norm = 1.0, .max_atoms = 16, .max_pairs = 64};
  nn_model *gdm = NULL;
  const double gdm_rot = nn_model_create("gdm", &gcfg, 5, &gdm) ? 0 : e3_error(gdm, c.x, c.t, Q, none);
  nn_model_destroy(&gdm);
  tap_ok(gdm_rot > 1e-2, "the same check on GDM, not equivariant, fails (%.2g)", gdm_rot);
  /* Permuting molecule 2's atoms (rows 4..7) permutes its output. */
  float y0[NA * D], xp[NA * D], yp[NA * D];
  loss(&c);
  memcpy(y0, c.y, sizeof y0);
  memcpy(xp, c.x, sizeof xp);
  const int perm[4] = {2, 0, 3, 1};
  for (int k = 0; k < 4; ++k) memcpy(xp + (4 + k) * D, c.x + (4 + perm[k]) * D, sizeof(float) * D);
  nn_input in = {.B = B, .x = xp, .natoms = natoms, .t = c.t};
  nn_model_forward(c.m, &in, yp);
  double perr = 0, other = 0;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < D; ++j) perr = fmax(perr, fabs(yp[(4 + k) * D + j] - y0[(4 + perm[k]) * D + j]));
  for (int k = 0; k < 4 * D; ++k) other = fmax(other, fabs(yp[k] - y0[k]));
  /* Molecule 2 alone = molecule 2 in the batch. */
  float y2[4 * D];
  const int64_t one[1] = {4};
  const float t2[1] = {c.t[2]};
  nn_input alone = {.B = 1, .x = c.x + 4 * D, .natoms = one, .t = t2};
  nn_model_forward(c.m, &alone, y2);
  double aerr = 0;
  for (int k = 0; k < 4 * D; ++k) aerr = fmax(aerr, fabs(y2[k] - y0[4 * D + k]));
  double com = 0;
  for (int b = 0, first = 0; b < B; first += (int)natoms[b], ++b)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int i = first; i < first + natoms[b]; ++i) s += y0[i * D + j];
      com = fmax(com, fabs(s));
    }
  tap_ok(perr < 1e-5 && other == 0.0 && aerr < 1e-5 && com < 1e-5,
         "permuting a molecule's atoms permutes its output (%.1e, the others unchanged); alone it gives the same "
         "(%.1e); eps_x is centred per molecule (%.1e)",
         perr, aerr, com);
  float yi[NA * D];
  nn_input inf = {.B = B, .x = c.x, .natoms = natoms, .t = c.t, .inference = 1};
  const core_status si = nn_model_forward(c.m, &inf, yi);
  const core_status sb = nn_model_backward(c.m, B, c.w);
  tap_ok(!si && !memcmp(yi, y0, sizeof yi) && sb == CORE_ERR_ARG,
         "an inference forward = the training forward bit for bit, and refuses a backward after it");
  nn_egnn *direct = NULL;
  nn_model *tm = NULL;
  st = nn_egnn_create(&cfg, 5, &direct);
  core_status st2 = nn_model_create("egnn", &cfg, 5, &tm);
  const int same = !st && !st2 && nn_model_params(tm)->n == nn_egnn_params(direct)->n &&
                   !memcmp(nn_model_params(tm)->param, nn_egnn_params(direct)->param,
                           sizeof(float) * nn_egnn_params(direct)->n);
  tap_ok(same, "nn_model_create(\"egnn\") = nn_egnn_create, bit for bit");
  nn_model_destroy(&tm);
  nn_egnn_destroy(&direct);
  const int64_t empty[2] = {3, 0}, big[1] = {9};
  nn_input e1 = {.B = 2, .x = c.x, .natoms = empty, .t = c.t}, e2 = {.B = 1, .x = c.x, .natoms = big, .t = c.t};
  core_status r1 = nn_model_forward(c.m, &e1, c.y), r2 = nn_model_forward(c.m, &e2, c.y);
  const core_status r3 = nn_model_backward(c.m, 1, c.w);
  nn_egnn_config bad = cfg;
  bad.coords_range = 0;
  const core_status r4 = nn_egnn_create(&bad, 5, &direct);
  tap_ok(r1 == CORE_ERR_ARG && r2 == CORE_ERR_ARG && r3 == CORE_ERR_ARG && r4 == CORE_ERR_ARG,
         "an empty molecule, more pairs than the workspace, a backward without its forward and a zero coordinate "
         "range are refused (%d %d %d %d)",
         (int)r1, (int)r2, (int)r3, (int)r4);
  free(g);
  nn_model_destroy(&c.m);
  return tap_done();
}
