/* TAP test of GDM (lib/nn/gdm.c), EDM's graph network of molecules:
 * - every parameter gradient = central differences of a random linear
 *   functional of the output, on molecules of 3, 1 and 4 atoms in one batch;
 *   a corrupted gradient entry is caught;
 * - permuting a molecule's atoms permutes its output (the complete graph
 *   has no order); a molecule's output does not depend on the other
 *   molecules of the batch; the coordinate output is centred per molecule;
 * - backward accumulates; the model table builds it bit for bit as
 *   nn_gdm_create; impossible batches are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"
#include "tap.h"

enum { F = 2, D = 3 + F, B = 3 };
static const int64_t natoms[B] = {3, 1, 4};
enum { NA = 8 };

typedef struct {
  nn_gdm *m;
  float x[NA * D], t[B], w[NA * D], y[NA * D];
} ctx;

static double loss(ctx *c) {
  nn_input in = {.B = B, .x = c->x, .natoms = natoms, .t = c->t};
  if (nn_gdm_forward(c->m, &in, c->y)) return NAN;
  double s = 0;
  for (int k = 0; k < NA * D; ++k) s += (double)c->w[k] * c->y[k];
  return s;
}

int main(void) {
  tap_plan(9);
  core_rng rng;
  core_rng_init(&rng, 31, CORE_PURPOSE_TEST, 0);
  nn_gdm_config cfg = {.features = F, .width = 6, .layers = 2, .norm = 1.0, .max_atoms = 16, .max_pairs = 64};
  ctx c;
  core_status st = nn_gdm_create(&cfg, 5, &c.m);
  for (int k = 0; k < NA * D; ++k) c.x[k] = (float)core_rng_normal(&rng), c.w[k] = (float)core_rng_normal(&rng);
  for (int b = 0; b < B; ++b) c.t[b] = (float)core_rng_uniform(&rng);
  nn_params *p = st ? NULL : nn_gdm_params(c.m);
  double worst = 1.0;
  int n_checked = 0;
  float *g = NULL;
  if (p) {
    nn_params_zero_grad(p);
    loss(&c);
    nn_gdm_backward(c.m, B, c.w);
    g = malloc(sizeof(float) * p->n);
    memcpy(g, p->grad, sizeof(float) * p->n);
    worst = 0.0;
    double gmax = 0;
    for (size_t i = 0; i < p->n; ++i) gmax = fmax(gmax, fabs(g[i]));
    for (size_t i = 0; i < p->n; ++i) {
      const float keep = p->param[i], h = 1e-2f;
      p->param[i] = keep + h;
      const double up = loss(&c);
      p->param[i] = keep - h;
      const double down = loss(&c);
      p->param[i] = keep;
      const double fd = (up - down) / (2.0 * h);
      worst = fmax(worst, fabs(fd - g[i]) / (fabs(fd) + 1e-3 * gmax));
      ++n_checked;
    }
  }
  tap_ok(!st && worst < 2e-2, "all %d parameter gradients = central differences (worst relative error %.2e)",
         n_checked, worst);
  /* The check bites: one entry off by 5 %. */
  if (p) {
    size_t i = p->n / 2;
    const float keep = p->param[i], h = 1e-2f;
    p->param[i] = keep + h;
    const double up = loss(&c);
    p->param[i] = keep - h;
    const double down = loss(&c);
    p->param[i] = keep;
    const double fd = (up - down) / (2.0 * h), bad = g[i] + 0.05 * (fabs(fd) + 1e-2);
    tap_ok(fabs(fd - bad) / (fabs(fd) + 1e-3) > 2e-2, "a gradient entry 5 %% off is caught (%.4g vs %.4g)", bad, fd);
  } else {
    tap_ok(0, "no model");
  }
  /* Backward accumulates. */
  double twice = 0;
  if (p) {
    loss(&c);
    nn_gdm_backward(c.m, B, c.w);
    for (size_t i = 0; i < p->n; ++i) twice = fmax(twice, fabs(p->grad[i] - 2 * g[i]));
  }
  tap_ok(p && twice < 1e-5, "a second backward adds the same gradient again (%.1e)", twice);
  /* Permuting molecule 2's atoms (rows 4..7) permutes its output. */
  float y0[NA * D], xp[NA * D], yp[NA * D];
  loss(&c);
  memcpy(y0, c.y, sizeof y0);
  memcpy(xp, c.x, sizeof xp);
  const int perm[4] = {2, 0, 3, 1};
  for (int k = 0; k < 4; ++k) memcpy(xp + (4 + k) * D, c.x + (4 + perm[k]) * D, sizeof(float) * D);
  nn_input in = {.B = B, .x = xp, .natoms = natoms, .t = c.t};
  nn_gdm_forward(c.m, &in, yp);
  double perr = 0, other = 0;
  for (int k = 0; k < 4; ++k)
    for (int j = 0; j < D; ++j) perr = fmax(perr, fabs(yp[(4 + k) * D + j] - y0[(4 + perm[k]) * D + j]));
  for (int k = 0; k < 4 * D; ++k) other = fmax(other, fabs(yp[k] - y0[k]));
  tap_ok(perr < 1e-5 && other == 0.0, "permuting a molecule's atoms permutes its output (%.1e), the others unchanged",
         perr);
  /* Molecule 2 alone = molecule 2 in the batch. */
  float y2[4 * D];
  const int64_t one[1] = {4};
  const float t2[1] = {c.t[2]};
  nn_input alone = {.B = 1, .x = c.x + 4 * D, .natoms = one, .t = t2};
  nn_gdm_forward(c.m, &alone, y2);
  double aerr = 0;
  for (int k = 0; k < 4 * D; ++k) aerr = fmax(aerr, fabs(y2[k] - y0[4 * D + k]));
  tap_ok(aerr < 1e-5, "a molecule's output does not depend on the batch around it (%.1e)", aerr);
  double com = 0;
  for (int b = 0, first = 0; b < B; first += (int)natoms[b], ++b)
    for (int j = 0; j < 3; ++j) {
      double s = 0;
      for (int i = first; i < first + natoms[b]; ++i) s += y0[i * D + j];
      com = fmax(com, fabs(s));
    }
  tap_ok(com < 1e-5, "the coordinate output is centred per molecule (%.1e)", com);
  /* An inference forward (sampling) = the training forward, bit for bit;
   * no backward may follow it. */
  float yi[NA * D];
  nn_input inf = {.B = B, .x = c.x, .natoms = natoms, .t = c.t, .inference = 1};
  const core_status si = nn_gdm_forward(c.m, &inf, yi);
  const core_status sb = nn_gdm_backward(c.m, B, c.w);
  tap_ok(!si && !memcmp(yi, y0, sizeof yi) && sb == CORE_ERR_ARG,
         "an inference forward = the training forward bit for bit, and refuses a backward after it");
  /* The table. */
  nn_model *tm = NULL;
  st = nn_model_create("gdm", &cfg, 5, &tm);
  int same = !st && p && nn_model_params(tm)->n == p->n &&
             !memcmp(nn_model_params(tm)->param, p->param, sizeof(float) * p->n);
  tap_ok(same, "nn_model_create(\"gdm\") = nn_gdm_create, bit for bit (%zu parameters)", p ? p->n : (size_t)0);
  nn_model_destroy(&tm);
  /* Refusals. */
  const int64_t empty[2] = {3, 0}, big[1] = {9};
  nn_input e1 = {.B = 2, .x = c.x, .natoms = empty, .t = c.t}, e2 = {.B = 1, .x = c.x, .natoms = big, .t = c.t};
  core_status r1 = nn_gdm_forward(c.m, &e1, c.y), r2 = nn_gdm_forward(c.m, &e2, c.y);
  const core_status r3 = nn_gdm_backward(c.m, 1, c.w);
  tap_ok(r1 == CORE_ERR_ARG && r2 == CORE_ERR_ARG && r3 == CORE_ERR_ARG,
         "an empty molecule, more pairs than the workspace, and a backward without its forward are refused (%d %d %d): %s",
         (int)r1, (int)r2, (int)r3, core_error_message());
  free(g);
  nn_gdm_destroy(&c.m);
  return tap_done();
}
