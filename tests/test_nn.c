/* Tests of lib/nn: every layer's backward against central differences
 * (open and periodic padding), the spin model's gradient, its translation
 * equivariance on a torus, Adam against a hand computation, and a tiny
 * model that overfits a tiny set of exact ground states.
 *
 * Gradient checks use the loss f = sum_k w_k out_k with random w (so
 * dout = w), evaluated in double from the float32 outputs, and central
 * differences (f(x+h) - f(x-h)) / (2h) over the exact float steps taken.
 * The error reported is max |fd - grad| / max |grad| over the probes.
 * Piecewise-linear layers (ReLU, convolutions) are probed with h = 1e-2:
 * away from a kink f is linear in one coordinate, so the difference is
 * exact up to rounding; a probe whose one-sided slopes disagree has
 * crossed a ReLU kink and is skipped on purpose (and counted). */
#define _GNU_SOURCE /* dladdr */
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/core.h"
#include "eloss/nn.h"
#include "eloss/spin.h"
#include "tap.h"

static void fill_uniform(float *x, size_t n, double a, core_rng *rng) {
  for (size_t i = 0; i < n; ++i) x[i] = (float)(a * (2.0 * core_rng_uniform(rng) - 1.0));
}

/* ---- one harness for every layer ---------------------------------------------- */

typedef enum { K_CONV3, K_CONV1, K_DENSE, K_RELU, K_SILU, K_RES } kind;

typedef struct {
  kind k;
  int B, Ci, Co, L;
  nn_padding pad;
  size_t n_in, n_out, n_w, n_b, n_w2;
  float *in, *w, *b, *w2, *b2; /* inputs and parameters */
  float *din, *dw, *db, *dw2, *db2;
  float *out, *wout, *cache, *ws;
} layer;

static void layer_forward(layer *c) {
  switch (c->k) {
  case K_CONV3: nn_conv3x3_forward(c->out, c->in, c->w, c->b, c->B, c->Ci, c->Co, c->L, c->pad, c->ws); break;
  case K_CONV1: nn_conv1x1_forward(c->out, c->in, c->w, c->b, c->B, c->Ci, c->Co, c->L * c->L); break;
  case K_DENSE: nn_dense_forward(c->out, c->in, c->w, c->b, c->B, c->Ci, c->Co); break;
  case K_RELU: nn_relu_forward(c->out, c->in, c->n_in); break;
  case K_SILU: nn_silu_forward(c->out, c->in, c->n_in); break;
  case K_RES:
    nn_residual_forward(c->out, c->in, c->cache, c->w, c->b, c->w2, c->b2, c->B, c->Ci, c->L, c->pad, c->ws);
    break;
  }
}

static void layer_backward(layer *c) {
  switch (c->k) {
  case K_CONV3:
    nn_conv3x3_backward(c->din, c->dw, c->db, c->wout, c->in, c->w, c->B, c->Ci, c->Co, c->L, c->pad, c->ws);
    break;
  case K_CONV1:
    nn_conv1x1_backward(c->din, c->dw, c->db, c->wout, c->in, c->w, c->B, c->Ci, c->Co, c->L * c->L);
    break;
  case K_DENSE: nn_dense_backward(c->din, c->dw, c->db, c->wout, c->in, c->w, c->B, c->Ci, c->Co); break;
  case K_RELU: nn_relu_backward(c->din, c->wout, c->in, c->n_in); break;
  case K_SILU: nn_silu_backward(c->din, c->wout, c->in, c->n_in); break;
  case K_RES:
    nn_residual_backward(c->din, c->dw, c->db, c->dw2, c->db2, c->wout, c->in, c->cache, c->w, c->w2, c->B, c->Ci,
                         c->L, c->pad, c->ws);
    break;
  }
}

typedef double (*loss_fn)(void *ctx);

static double layer_loss(void *ctx) {
  layer *c = ctx;
  layer_forward(c);
  double f = 0.0;
  for (size_t i = 0; i < c->n_out; ++i) f += (double)c->wout[i] * c->out[i];
  return f;
}

/* Central differences of f with respect to x[i] for up to `probes` indices
 * (all if n <= probes, else a deterministic random subset), against g.
 * The error is relative to max(scale, max |g_i| probed). kink: skip a probe whose one-sided slopes differ by more than this
 * (INFINITY for smooth functions). Returns the error; *skipped counts. */
static double grad_error(loss_fn f, void *ctx, float *x, const float *g, size_t n, int probes, float h, double kink,
                         double scale, int *skipped, int *used, core_rng *rng) {
  double err = 0.0;
  const double f0 = f(ctx);
  int nprobe = n <= (size_t)probes ? (int)n : probes;
  for (int p = 0; p < nprobe; ++p) {
    size_t i = n <= (size_t)probes ? (size_t)p : (size_t)core_rng_below(rng, n);
    float v = x[i];
    float vp = v + h, vm = v - h;
    x[i] = vp;
    double fp = f(ctx);
    x[i] = vm;
    double fm = f(ctx);
    x[i] = v;
    double sp = (fp - f0) / ((double)vp - v), sm = (f0 - fm) / ((double)v - vm);
    if (fabs(sp - sm) > kink) {
      ++*skipped;
      continue;
    }
    ++*used;
    double fd = (fp - fm) / ((double)vp - vm);
    if (fabs(fd - g[i]) > err) err = fabs(fd - g[i]);
    if (fabs(g[i]) > scale) scale = fabs(g[i]);
  }
  f(ctx); /* leave the caches at the unperturbed point */
  return scale > 0 ? err / scale : err;
}

static float *zalloc(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static void layer_setup(layer *c, kind k, int B, int Ci, int Co, int L, nn_padding pad, core_rng *rng) {
  memset(c, 0, sizeof *c);
  c->k = k, c->B = B, c->Ci = Ci, c->Co = Co, c->L = L, c->pad = pad;
  size_t S = (size_t)L * L;
  switch (k) {
  case K_CONV3: c->n_in = B * Ci * S, c->n_out = B * Co * S, c->n_w = Co * Ci * 9, c->n_b = Co; break;
  case K_CONV1: c->n_in = B * Ci * S, c->n_out = B * Co * S, c->n_w = Co * Ci, c->n_b = Co; break;
  case K_DENSE: c->n_in = B * Ci, c->n_out = B * Co, c->n_w = Co * Ci, c->n_b = Co; break;
  case K_RELU:
  case K_SILU: c->n_in = c->n_out = B * Ci * S; break;
  case K_RES: c->n_in = c->n_out = B * Ci * S, c->n_w = c->n_w2 = Ci * Ci * 9, c->n_b = Ci; break;
  }
  c->in = zalloc(c->n_in), c->din = zalloc(c->n_in);
  c->w = zalloc(c->n_w), c->dw = zalloc(c->n_w), c->b = zalloc(c->n_b), c->db = zalloc(c->n_b);
  c->w2 = zalloc(c->n_w2), c->dw2 = zalloc(c->n_w2), c->b2 = zalloc(c->n_b), c->db2 = zalloc(c->n_b);
  c->out = zalloc(c->n_out), c->wout = zalloc(c->n_out);
  c->cache = zalloc(3 * c->n_in);
  c->ws = zalloc(k == K_RES ? nn_residual_floats(B, Ci, L) : 2 * nn_conv3x3_floats(Ci, L));
  fill_uniform(c->in, c->n_in, 1.7, rng);
  fill_uniform(c->w, c->n_w, 0.6, rng);
  fill_uniform(c->b, c->n_b, 0.3, rng);
  fill_uniform(c->w2, c->n_w2, 0.6, rng);
  fill_uniform(c->b2, c->n_b, 0.3, rng);
  fill_uniform(c->wout, c->n_out, 1.3, rng);
  if (k == K_RELU) /* keep inputs off the kink: |x| >= 0.05 */
    for (size_t i = 0; i < c->n_in; ++i) c->in[i] += c->in[i] >= 0 ? 0.05f : -0.05f;
}

static void layer_free(layer *c) {
  float *ps[] = {c->in, c->din, c->w, c->dw, c->b, c->db, c->w2, c->dw2, c->b2, c->db2, c->out, c->wout, c->cache, c->ws};
  for (size_t i = 0; i < sizeof ps / sizeof *ps; ++i) free(ps[i]);
}

/* One TAP line per (layer, padding): input and parameter gradients. */
static void check_layer(const char *name, kind k, int B, int Ci, int Co, int L, nn_padding pad, float h, double kink,
                        double tol, core_rng *rng) {
  layer c;
  layer_setup(&c, k, B, Ci, Co, L, pad, rng);
  layer_forward(&c);
  layer_backward(&c);
  int skipped = 0, used = 0;
  double e_in = grad_error(layer_loss, &c, c.in, c.din, c.n_in, 60, h, kink, 0.0, &skipped, &used, rng);
  double e_w = c.n_w ? grad_error(layer_loss, &c, c.w, c.dw, c.n_w, 60, h, kink, 0.0, &skipped, &used, rng) : 0;
  double e_b = c.n_b ? grad_error(layer_loss, &c, c.b, c.db, c.n_b, 60, h, kink, 0.0, &skipped, &used, rng) : 0;
  double e_w2 = c.n_w2 ? grad_error(layer_loss, &c, c.w2, c.dw2, c.n_w2, 60, h, kink, 0.0, &skipped, &used, rng) : 0;
  double e_b2 = c.n_w2 ? grad_error(layer_loss, &c, c.b2, c.db2, c.n_b, 60, h, kink, 0.0, &skipped, &used, rng) : 0;
  double e = fmax(fmax(e_in, e_w), fmax(e_b, fmax(e_w2, e_b2)));
  tap_ok(e <= tol && skipped * 4 < used, "%s %s: backward = central differences (max rel err %.2e <= %.0e: in %.1e, w %.1e, b %.1e, w2 %.1e, b2 %.1e; %d probes, %d kinks skipped)",
         name, pad == NN_PAD_ZERO ? "zero-padded" : "circular", e, tol, e_in, e_w, e_b, e_w2, e_b2, used, skipped);
  layer_free(&c);
}

/* ---- model harness ---------------------------------------------------------------- */

typedef struct {
  nn_spin_model *m;
  int B;
  const float *x;
  float *z;
  const float *wz;
  size_t nz;
} model_ctx;

static double model_loss(void *ctx) {
  model_ctx *c = ctx;
  nn_spin_model_forward(c->m, c->B, c->x, c->z);
  double f = 0.0;
  for (size_t i = 0; i < c->nz; ++i) f += (double)c->wz[i] * c->z[i];
  return f;
}

static const char *backend_name(nn_backend b) { return b == NN_BACKEND_DNNL ? "oneDNN" : "BLAS"; }

/* 4 TAP lines per call. Each (pad, depth) draws from its own stream, so
 * both backends are probed at the same points. */
static void check_model_grad(nn_padding pad, int depth, nn_backend be) {
  core_rng stream, *rng = &stream;
  core_rng_init(rng, 2385, CORE_PURPOSE_TEST, 100 + 2 * (uint64_t)depth + (uint64_t)pad);
  const int L = 4, B = 2;
  nn_spin_config cfg = {.L = L, .pad = pad, .width = 4, .depth = depth, .max_batch = B};
  nn_spin_model *m = NULL;
  core_status st = nn_spin_model_create(&cfg, 2385, &m);
  if (!st) st = nn_spin_model_set_backend(m, be);
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, pad == NN_PAD_ZERO ? SPIN_OPEN : SPIN_PERIODIC, L);
  double *J = malloc(sizeof(double) * B * 2 * L * L);
  for (int b = 0; b < B; ++b) spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 11, (uint64_t)b, J + b * 2 * L * L);
  float *x = zalloc((size_t)B * 4 * L * L), *z = zalloc((size_t)B * L * L), *wz = zalloc((size_t)B * L * L);
  nn_spin_input(&lat, B, J, x);
  fill_uniform(wz, (size_t)B * L * L, 1.3, rng);
  model_ctx c = {m, B, x, z, wz, (size_t)B * L * L};
  nn_params *p = nn_spin_model_params(m);
  nn_params_zero_grad(p);
  model_loss(&c);
  nn_spin_model_backward(m, B, wz);
  /* Errors relative to the largest gradient of the block: a tensor whose
   * gradient is small has float32 rounding of f (about 1e-6 here, over
   * 2 h = 2e-3) as its floor, not its own scale. */
  double e = 0.0, gmax = 0.0;
  for (size_t i = 0; i < p->n; ++i) gmax = fmax(gmax, fabs(p->grad[i]));
  int skipped = 0, used = 0;
  for (int t = 0; t < p->n_tensors; ++t) {
    double et = grad_error(model_loss, &c, nn_params_tensor(p, t), nn_params_grad(p, t), p->size[t], 6, 1e-3f, 3e-3,
                           gmax, &skipped, &used, rng);
    if (et > e) e = et;
  }
  /* About 640 ReLU units (5 ReLUs of (2, 4, 4, 4)): a step of 1e-3 crosses
   * a kink in a good share of the probes; at least two thirds must remain. */
  tap_ok(st == CORE_OK && e <= 2e-3 && skipped * 2 < used,
         "spin model (%s, L %d, W 4, depth %d, %s): parameter gradient = central differences on %d probes over %d tensors (max rel err %.2e <= 2e-3, %d kinks skipped)",
         backend_name(be), L, depth, pad == NN_PAD_ZERO ? "open" : "periodic", used, p->n_tensors, e, skipped);

  /* Backward accumulates: a second call doubles the gradient block. */
  float *g1 = zalloc(p->n);
  memcpy(g1, p->grad, sizeof(float) * p->n);
  nn_spin_model_backward(m, B, wz);
  double d = 0.0;
  for (size_t i = 0; i < p->n; ++i) d = fmax(d, fabs(p->grad[i] - 2.0f * g1[i]));
  d /= gmax;
  tap_ok(d < 1e-6, "spin model (%s, %s): a second backward adds the same gradient again (max |g2 - 2 g1| / max |g1| = %.1e < 1e-6)",
         backend_name(be), pad == NN_PAD_ZERO ? "open" : "periodic", d);

  /* Reproducible: the same batch again (after other work) gives the same bits. */
  nn_params_zero_grad(p);
  nn_spin_model_forward(m, B, x, z);
  nn_spin_model_backward(m, B, wz);
  memcpy(g1, p->grad, sizeof(float) * p->n);
  float *z1 = zalloc((size_t)B * L * L);
  memcpy(z1, z, sizeof(float) * (size_t)B * L * L);
  nn_spin_model_forward(m, 1, x + 4 * L * L, z); /* other work in between, another B */
  nn_spin_model_backward(m, 1, wz);
  nn_params_zero_grad(p);
  nn_spin_model_forward(m, B, x, z);
  nn_spin_model_backward(m, B, wz);
  tap_ok(memcmp(g1, p->grad, sizeof(float) * p->n) == 0 && memcmp(z1, z, sizeof(float) * (size_t)B * L * L) == 0,
         "spin model (%s, %s): the same batch twice gives the same logits and gradient, bit for bit", backend_name(be),
         pad == NN_PAD_ZERO ? "open" : "periodic");
  free(z1);

  /* The batch gradient is the sum of the per-instance gradients (what a
   * data-parallel step relies on): instance 0 alone, then instance 1 alone,
   * accumulated into one block, equals the batch of 2. */
  nn_params_zero_grad(p);
  nn_spin_model_forward(m, B, x, z);
  nn_spin_model_backward(m, B, wz);
  memcpy(g1, p->grad, sizeof(float) * p->n);
  nn_params_zero_grad(p);
  for (int b = 0; b < B; ++b) {
    nn_spin_model_forward(m, 1, x + (size_t)b * 4 * L * L, z);
    nn_spin_model_backward(m, 1, wz + (size_t)b * L * L);
  }
  d = 0.0;
  for (size_t i = 0; i < p->n; ++i) d = fmax(d, fabs(p->grad[i] - g1[i]));
  d /= gmax;
  /* BLAS, bit for bit: every layer loops over instances and accumulates
   * in instance order, so splitting the batch changes no rounding. oneDNN
   * sums the weight gradient over the batch inside its kernel: equal up to
   * float32 rounding (a few ulps of the largest gradient). */
  const double tol = be == NN_BACKEND_BLAS ? 0.0 : 1e-6;
  tap_ok(d <= tol, "spin model (%s, %s): batch gradient = per-instance gradients accumulated in order (max diff / max |g| = %.1e <= %.0e)",
         backend_name(be), pad == NN_PAD_ZERO ? "open" : "periodic", d, tol);
  free(g1), free(J), free(x), free(z), free(wz);
  nn_spin_model_destroy(&m);
}

/* The same model, input and dz on both backends: logits and gradient
 * agree to float32 rounding (relative to the largest of each). 1 TAP line. */
static void check_backends_agree(nn_padding pad, int L, int W, core_rng *rng) {
  const int B = 3, S = L * L;
  nn_spin_config cfg = {.L = L, .pad = pad, .width = W, .depth = 4, .max_batch = B};
  nn_spin_model *m = NULL;
  core_status st = nn_spin_model_create(&cfg, 77, &m);
  float *x = zalloc((size_t)B * 4 * S), *dz = zalloc((size_t)B * S), *z[2] = {NULL, NULL}, *g[2] = {NULL, NULL};
  fill_uniform(x, (size_t)B * 4 * S, 1.1, rng);
  fill_uniform(dz, (size_t)B * S, 0.7, rng);
  nn_params *p = st ? NULL : nn_spin_model_params(m);
  for (int k = 0; k < 2 && !st; ++k) {
    z[k] = zalloc((size_t)B * S), g[k] = zalloc(p->n);
    st = nn_spin_model_set_backend(m, k ? NN_BACKEND_DNNL : NN_BACKEND_BLAS);
    nn_params_zero_grad(p);
    if (!st) st = nn_spin_model_forward(m, B, x, z[k]);
    if (!st) st = nn_spin_model_backward(m, B, dz);
    memcpy(g[k], p->grad, sizeof(float) * p->n);
  }
  double ez = 0, zm = 0, eg = 0, gm = 0;
  for (int i = 0; !st && i < B * S; ++i) ez = fmax(ez, fabs(z[0][i] - z[1][i])), zm = fmax(zm, fabs(z[0][i]));
  for (size_t i = 0; !st && i < p->n; ++i) eg = fmax(eg, fabs(g[0][i] - g[1][i])), gm = fmax(gm, fabs(g[0][i]));
  ez /= zm, eg /= gm;
  tap_ok(st == CORE_OK && ez <= 1e-5 && eg <= 1e-5,
         "spin model (L %d, W %d, depth 4, %s): oneDNN = BLAS, logits and gradient (max rel diff %.1e, %.1e <= 1e-5)", L, W,
         pad == NN_PAD_ZERO ? "open" : "periodic", ez, eg);
  for (int k = 0; k < 2; ++k) free(z[k]), free(g[k]);
  free(x), free(dz);
  nn_spin_model_destroy(&m);
}

/* The DNNL backend's Winograd convolutions against its direct ones on the
 * small spin model's shape: logits and gradient agree to float32 rounding,
 * and the model says which ran: Winograd on a CPU with AVX-512 (oneDNN's
 * jit_wino_4x3 needs avx512_core), direct when asked for. The model starts
 * on DNNL (width 32: 16-channel blocks on AVX-512, 8 on AVX2). The meson
 * test nn_avx2 runs this with DNNL_MAX_CPU_ISA=AVX2, oneDNN's cap, as on
 * a CPU without AVX-512. 1 TAP line. */
static void check_winograd(nn_padding pad, core_rng *rng) {
  const int B = 3, L = 12, W = 32, S = L * L;
  float *x = zalloc((size_t)B * 4 * S), *dz = zalloc((size_t)B * S), *z[2] = {NULL, NULL}, *g[2] = {NULL, NULL};
  fill_uniform(x, (size_t)B * 4 * S, 1.1, rng);
  fill_uniform(dz, (size_t)B * S, 0.7, rng);
  core_status st = CORE_OK;
  nn_conv_algorithm used[2] = {NN_CONV_COUNT, NN_CONV_COUNT};
  nn_backend first = NN_BACKEND_BLAS;
  size_t n = 0;
  for (int k = 0; k < 2 && !st; ++k) {
    nn_spin_config cfg = {.L = L, .pad = pad, .width = W, .depth = 4, .max_batch = B,
                          .conv = k ? NN_CONV_DIRECT : NN_CONV_WINOGRAD};
    nn_spin_model *m = NULL;
    st = nn_spin_model_create(&cfg, 78, &m);
    if (!st && k == 0) first = nn_spin_model_backend(m);
    if (!st) st = nn_spin_model_set_backend(m, NN_BACKEND_DNNL);
    nn_params *p = st ? NULL : nn_spin_model_params(m);
    if (p) {
      n = p->n, z[k] = zalloc((size_t)B * S), g[k] = zalloc(n);
      nn_params_zero_grad(p);
      st = nn_spin_model_forward(m, B, x, z[k]);
      if (!st) st = nn_spin_model_backward(m, B, dz);
      memcpy(g[k], p->grad, sizeof(float) * n);
      used[k] = nn_spin_model_conv_in_use(m);
    }
    nn_spin_model_destroy(&m);
  }
  double ez = 0, zm = 0, eg = 0, gm = 0;
  for (int i = 0; !st && i < B * S; ++i) ez = fmax(ez, fabs(z[0][i] - z[1][i])), zm = fmax(zm, fabs(z[0][i]));
  for (size_t i = 0; !st && i < n; ++i) eg = fmax(eg, fabs(g[0][i] - g[1][i])), gm = fmax(gm, fabs(g[0][i]));
  ez /= zm, eg /= gm;
  __builtin_cpu_init();
  const char *cap = getenv("DNNL_MAX_CPU_ISA");
  const int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                     !(cap && *cap && !strstr(cap, "512"));
  const nn_conv_algorithm expect = avx512 ? NN_CONV_WINOGRAD : NN_CONV_DIRECT;
  const nn_backend expect_first = __builtin_cpu_supports("avx2") ? NN_BACKEND_DNNL : NN_BACKEND_BLAS;
  tap_ok(st == CORE_OK && ez <= 1e-5 && eg <= 1e-5 && used[0] == expect && used[1] == NN_CONV_DIRECT &&
             first == expect_first,
         "spin model (oneDNN, L %d, W %d, depth 4, %s): Winograd = direct, logits and gradient (max rel diff %.1e, %.1e "
         "<= 1e-5); ran %s (expected %s on this CPU) and %s; started on %s",
         L, W, pad == NN_PAD_ZERO ? "open" : "periodic", ez, eg, used[0] < NN_CONV_COUNT ? nn_conv_algorithm_names[used[0]] : "?",
         nn_conv_algorithm_names[expect], used[1] < NN_CONV_COUNT ? nn_conv_algorithm_names[used[1]] : "?",
         backend_name(first));
  for (int k = 0; k < 2; ++k) free(z[k]), free(g[k]);
  free(x), free(dz);
}

/* ---- translation equivariance ----------------------------------------------------------- */

/* J shifted by (dx, dy) on the torus: the bond of site (y, x) moves to
 * site (y+dy, x+dx). */
static void shift_couplings(int L, const double *J, double *Js, int dx, int dy) {
  const int S = L * L;
  for (int dir = 0; dir < 2; ++dir)
    for (int y = 0; y < L; ++y)
      for (int x = 0; x < L; ++x) Js[dir * S + ((y + dy) % L) * L + (x + dx) % L] = J[dir * S + y * L + x];
}

/* max |z'(site + shift) - z(site)|, z' the logits of the shifted instance. */
static double shift_defect(nn_padding pad, int L, int dx, int dy) {
  nn_spin_config cfg = {.L = L, .pad = pad, .width = 8, .depth = 4, .max_batch = 1};
  nn_spin_model *m = NULL;
  nn_spin_model_create(&cfg, 7, &m);
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  const int S = L * L;
  double *J = malloc(sizeof(double) * 2 * S), *Js = malloc(sizeof(double) * 2 * S);
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 5, 0, J);
  shift_couplings(L, J, Js, dx, dy);
  float *x = zalloc(4 * (size_t)S), *z = zalloc((size_t)S), *zs = zalloc((size_t)S);
  nn_spin_input(&lat, 1, J, x);
  nn_spin_model_forward(m, 1, x, z);
  nn_spin_input(&lat, 1, Js, x);
  nn_spin_model_forward(m, 1, x, zs);
  double d = 0.0;
  for (int y = 0; y < L; ++y)
    for (int xx = 0; xx < L; ++xx) d = fmax(d, fabs(zs[((y + dy) % L) * L + (xx + dx) % L] - z[y * L + xx]));
  free(J), free(Js), free(x), free(z), free(zs);
  nn_spin_model_destroy(&m);
  return d;
}

/* ---- exact ground states by enumeration --------------------------------------------------- */

/* Ground state of an L*L <= 20 site lattice by enumerating every
 * configuration with s_0 = +1 (the sign convention of the datasets). */
static void brute_ground_state(const spin_lattice *lat, const double *J, int8_t *gs) {
  const int n = (int)lat->n_sites;
  int8_t *s = malloc((size_t)n);
  double best = INFINITY;
  for (uint32_t c = 0; c < (1u << (n - 1)); ++c) {
    s[0] = 1;
    for (int i = 1; i < n; ++i) s[i] = (c >> (i - 1)) & 1 ? 1 : -1;
    double e = spin_energy(lat, J, 0.0, s);
    if (e < best) best = e, memcpy(gs, s, (size_t)n);
  }
  free(s);
}

typedef struct {
  nn_mlp *m;
  int B;
  float *x, *y, *wy;
  size_t ny;
} mlp_ctx;

static double mlp_loss(void *ctx) {
  mlp_ctx *c = ctx;
  nn_mlp_forward(c->m, c->B, c->x, c->y);
  double f = 0.0;
  for (size_t i = 0; i < c->ny; ++i) f += (double)c->wy[i] * c->y[i];
  return f;
}

/* The MLP {3, 7, 5, 4} (two SiLU layers; SiLU is smooth, so no kinks):
 * every parameter's gradient against central differences, and a second
 * backward doubling it. 2 TAP lines. */
static void check_mlp(core_rng *rng) {
  const int sizes[4] = {3, 7, 5, 4}, B = 3;
  nn_mlp_config cfg = {.n_layers = 3, .sizes = sizes, .max_batch = B};
  nn_mlp *m = NULL;
  core_status st = nn_mlp_create(&cfg, 77, &m);
  float *x = zalloc(B * 3), *y = zalloc(B * 4), *wy = zalloc(B * 4);
  fill_uniform(x, B * 3, 2.0, rng);
  fill_uniform(wy, B * 4, 1.3, rng);
  mlp_ctx c = {m, B, x, y, wy, (size_t)B * 4};
  nn_params *p = st ? NULL : nn_mlp_params(m);
  double e = 1.0, d = 1.0;
  int skipped = 0, used = 0;
  if (p) {
    nn_params_zero_grad(p);
    mlp_loss(&c);
    nn_mlp_backward(m, B, wy);
    double gmax = 0.0;
    for (size_t i = 0; i < p->n; ++i) gmax = fmax(gmax, fabs(p->grad[i]));
    e = grad_error(mlp_loss, &c, p->param, p->grad, p->n, 1000, 1e-2f, INFINITY, gmax, &skipped, &used, rng);
    float *g1 = zalloc(p->n);
    memcpy(g1, p->grad, sizeof(float) * p->n);
    nn_mlp_backward(m, B, wy);
    d = 0.0;
    for (size_t i = 0; i < p->n; ++i) d = fmax(d, fabs(p->grad[i] - 2.0f * g1[i]));
    d /= gmax;
    free(g1);
  }
  tap_ok(!st && e <= 1e-3 && used == (int)(p ? p->n : 1),
         "MLP {3, 7, 5, 4} with SiLU: all %d parameter gradients = central differences (max rel err %.2e)", used, e);
  tap_ok(!st && d < 1e-6, "MLP: a second backward adds the same gradient again (%.1e)", d);
  nn_mlp_destroy(&m);
  nn_mlp_destroy(&m); /* NULL: no-op */
  free(x), free(y), free(wy);
}

/* The model table builds each architecture as its own create does (the same
 * parameters, bit for bit), runs the same forward, and refuses an unknown
 * name. 3 TAP lines. */
static void check_model_table(core_rng *rng) {
  const int sizes[3] = {3, 6, 2}, B = 2;
  nn_mlp_config mc = {.n_layers = 2, .sizes = sizes, .max_batch = B};
  nn_spin_config sc = {.L = 4, .pad = NN_PAD_CIRCULAR, .width = 8, .depth = 2, .max_batch = B};
  nn_mlp *mlp = NULL;
  nn_spin_model *spin = NULL;
  nn_model *tm = NULL, *ts = NULL;
  core_status st = nn_mlp_create(&mc, 5, &mlp);
  if (!st) st = nn_spin_model_create(&sc, 5, &spin);
  if (!st) st = nn_model_create("mlp", &mc, 5, &tm);
  if (!st) st = nn_model_create("spin", &sc, 5, &ts);
  int same = !st;
  if (same) {
    nn_params *a = nn_mlp_params(mlp), *b = nn_model_params(tm), *c = nn_spin_model_params(spin),
              *d = nn_model_params(ts);
    same = a->n == b->n && !memcmp(a->param, b->param, sizeof(float) * a->n) && c->n == d->n &&
           !memcmp(c->param, d->param, sizeof(float) * c->n) && nn_model_spin(ts) && !nn_model_spin(tm);
  }
  tap_ok(same, "nn_model_create(\"mlp\" / \"spin\") = nn_mlp_create / nn_spin_model_create, bit for bit; "
         "nn_model_spin tells the spin model from the MLP");
  float x[2 * 4 * 16], y1[2 * 16], y2[2 * 16];
  fill_uniform(x, sizeof x / sizeof x[0], 1.0, rng);
  int fwd = same && !nn_spin_model_forward(spin, B, x, y1) &&
            !nn_model_forward(ts, &(nn_input){.B = B, .x = x}, y2) && !memcmp(y1, y2, sizeof y1) &&
            !nn_mlp_forward(mlp, B, x, y1) && !nn_model_forward(tm, &(nn_input){.B = B, .x = x}, y2) &&
            !memcmp(y1, y2, sizeof(float) * 4);
  tap_ok(fwd, "the table's forward is the architecture's own, bit for bit (spin and MLP)");
  nn_model *none = NULL;
  core_status bad = nn_model_create("egnn2", &mc, 5, &none);
  tap_ok(bad == CORE_ERR_ARG && none == NULL && strstr(core_error_message(), "egnn2"),
         "an unknown architecture is refused by name: %s", core_error_message());
  nn_mlp_destroy(&mlp);
  nn_spin_model_destroy(&spin);
  nn_model_destroy(&tm);
  nn_model_destroy(&ts);
  nn_model_destroy(&ts); /* NULL: no-op */
}

int main(void) {
  MPI_Init(NULL, NULL);
  tap_plan(35 - 9 + 2 * 12 + 6 + 2 + 3 + 1);
  core_rng rng;
  core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, 8);

  /* The BLAS behind cblas_sgemm is OpenBLAS, not the reference libblas. */
  Dl_info info;
  int found = dladdr((void *)cblas_sgemm, &info);
  tap_ok(found && info.dli_fname && strstr(info.dli_fname, "openblas"), "cblas_sgemm comes from %s (%s)",
         found && info.dli_fname ? info.dli_fname : "?", openblas_get_config());

  /* Layers (B, Ci, Co, L small; sizes odd so no symmetry hides an index bug). */
  for (int pi = 0; pi < 2; ++pi) {
    nn_padding pad = pi ? NN_PAD_CIRCULAR : NN_PAD_ZERO;
    check_layer("conv3x3", K_CONV3, 2, 3, 5, 5, pad, 1e-2f, INFINITY, 1e-3, &rng);
    check_layer("residual block", K_RES, 2, 3, 3, 4, pad, 1e-2f, 1e-2, 2e-3, &rng);
  }
  check_layer("conv3x3 L = 2 (taps wrap twice)", K_CONV3, 1, 2, 3, 2, NN_PAD_CIRCULAR, 1e-2f, INFINITY, 1e-3, &rng);
  check_layer("conv1x1", K_CONV1, 3, 4, 5, 3, NN_PAD_ZERO, 1e-2f, INFINITY, 1e-3, &rng);
  check_layer("dense", K_DENSE, 6, 7, 5, 1, NN_PAD_ZERO, 1e-2f, INFINITY, 1e-3, &rng);
  check_layer("relu", K_RELU, 2, 3, 3, 4, NN_PAD_ZERO, 1e-2f, 1e-2, 1e-3, &rng);
  check_layer("silu", K_SILU, 2, 3, 3, 4, NN_PAD_ZERO, 1e-2f, INFINITY, 1e-3, &rng);
  check_mlp(&rng);
  check_model_table(&rng);

  /* The checker bites: a wrong gradient entry is caught. */
  {
    layer c;
    layer_setup(&c, K_CONV3, 1, 2, 2, 3, NN_PAD_ZERO, &rng);
    layer_forward(&c);
    layer_backward(&c);
    c.dw[5] += 0.05f * fabsf(c.dw[5]) + 0.05f;
    int skipped = 0, used = 0;
    double e = grad_error(layer_loss, &c, c.w, c.dw, c.n_w, 60, 1e-2f, INFINITY, 0.0, &skipped, &used, &rng);
    tap_ok(e > 1e-3, "gradient check catches a corrupted dw entry (rel err %.2e > 1e-3)", e);
    layer_free(&c);
  }

  /* Conv3x3 by hand: a single 1 at the centre (1, 1) of a zero 3x3 input,
   * weights w[0,0,dy,dx] = 10 dy + dx + 1, bias 0.5. Only the tap that
   * lands on the centre contributes: y + dy - 1 = 1 gives dy = 2 - y, so
   * out[y,x] = 0.5 + w[2-y, 2-x] at every site (zero padding). */
  {
    float in[9] = {0}, w[9], bias = 0.5f, out[9], ws[81];
    in[4] = 1.0f;
    for (int k = 0; k < 9; ++k) w[k] = (float)(10 * (k / 3) + k % 3 + 1);
    nn_conv3x3_forward(out, in, w, &bias, 1, 1, 1, 3, NN_PAD_ZERO, ws);
    int ok = 1;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 3; ++x) ok &= out[y * 3 + x] == 0.5f + w[(2 - y) * 3 + (2 - x)];
    tap_ok(ok, "conv3x3 of a unit impulse is the flipped kernel plus bias (cross-correlation, as PyTorch)");
  }

  /* nn_spin_input on a 3x3 lattice, open and periodic. */
  {
    int ok = 1;
    for (int bi = 0; bi < 2; ++bi) {
      spin_lattice lat;
      spin_lattice_init(&lat, SPIN_SQUARE, bi ? SPIN_PERIODIC : SPIN_OPEN, 3);
      double J[18];
      for (int k = 0; k < 18; ++k) J[k] = 0.125 * (k + 1);
      if (!bi) /* bonds leaving the open lattice are 0 in spin.h layout, but the builder must not read them */
        for (int y = 0; y < 3; ++y) J[0 * 9 + y * 3 + 2] = 99.0, J[1 * 9 + 2 * 3 + y] = 99.0;
      float x[36];
      ok &= nn_spin_input(&lat, 1, J, x) == CORE_OK;
      for (int y = 0; y < 3; ++y)
        for (int c = 0; c < 3; ++c) {
          int i = y * 3 + c;
          double r = c < 2 || bi ? J[i] : 0, l = c > 0 ? J[i - 1] : bi ? J[y * 3 + 2] : 0;
          double d = y < 2 || bi ? J[9 + i] : 0, u = y > 0 ? J[9 + i - 3] : bi ? J[9 + 6 + c] : 0;
          ok &= x[i] == (float)r && x[9 + i] == (float)l && x[18 + i] == (float)d && x[27 + i] == (float)u;
        }
    }
    tap_ok(ok, "nn_spin_input: channels right, left, down, up on open (0 off the lattice) and periodic 3x3");
  }

  for (int bi = 0; bi < 2; ++bi) {
    nn_backend be = bi ? NN_BACKEND_DNNL : NN_BACKEND_BLAS;
    if (!nn_backend_available(be)) {
      for (int k = 0; k < 12 + (bi ? 6 : 0); ++k) tap_ok(1, "# SKIP this build has no %s", backend_name(be));
      continue;
    }
    check_model_grad(NN_PAD_ZERO, 4, be);
    check_model_grad(NN_PAD_CIRCULAR, 4, be);
    check_model_grad(NN_PAD_CIRCULAR, 0, be); /* no residual block */
    if (be == NN_BACKEND_DNNL) {
      /* oneDNN = BLAS on the layouts the gradient checks (W = 4, nhwc) do not
       * reach: W = 16 and 32 (16-channel blocks), W = 6 (nhwc), odd L. */
      check_backends_agree(NN_PAD_CIRCULAR, 5, 16, &rng);
      check_backends_agree(NN_PAD_ZERO, 5, 16, &rng);
      check_backends_agree(NN_PAD_CIRCULAR, 7, 32, &rng);
      check_backends_agree(NN_PAD_CIRCULAR, 6, 6, &rng);
      check_winograd(NN_PAD_ZERO, &rng);
      check_winograd(NN_PAD_CIRCULAR, &rng);
    }
  }

  {
    double d1 = shift_defect(NN_PAD_CIRCULAR, 6, 2, 1), d2 = shift_defect(NN_PAD_CIRCULAR, 6, 5, 3);
    double d0 = shift_defect(NN_PAD_ZERO, 6, 2, 1);
    tap_ok(d1 <= 1e-5 && d2 <= 1e-5,
           "periodic model commutes with lattice translations (6x6, shifts (2,1) and (5,3): max |dz| %.1e, %.1e <= 1e-5)",
           d1, d2);
    tap_ok(d0 > 1e-2, "the same test fails for the zero-padded model (max |dz| %.2e > 1e-2): it can fail", d0);
  }

  /* Deterministic init; refusals. */
  {
    nn_spin_config cfg = {.L = 4, .pad = NN_PAD_CIRCULAR, .width = 3, .depth = 2, .max_batch = 2};
    nn_spin_model *a = NULL, *b = NULL, *c = NULL;
    nn_spin_model_create(&cfg, 9, &a);
    nn_spin_model_create(&cfg, 9, &b);
    nn_spin_model_create(&cfg, 10, &c);
    nn_params *pa = nn_spin_model_params(a), *pb = nn_spin_model_params(b), *pc = nn_spin_model_params(c);
    tap_ok(pa->n == (size_t)(3 * 4 * 9 + 3 + 2 * (3 * 3 * 9 + 3) + 3 + 1) && pa->n_tensors == 8 &&
               pa->offset[7] == pa->n - 1,
           "parameter block: %zu floats in 8 tensors at increasing offsets", pa->n);
    tap_ok(memcmp(pa->param, pb->param, sizeof(float) * pa->n) == 0 &&
               memcmp(pa->param, pc->param, sizeof(float) * pa->n) != 0,
           "init is a pure function of the seed (same seed: same bytes; another seed: other bytes)");
    float x[3 * 4 * 16] = {0}, z[3 * 16];
    core_status s1 = nn_spin_model_forward(a, 3, x, z);
    core_status s2 = nn_spin_model_forward(a, 2, x, z);
    core_status s3 = nn_spin_model_backward(a, 1, z);
    tap_ok(s1 == CORE_ERR_ARG && s2 == CORE_OK && s3 == CORE_ERR_ARG,
           "a batch above max_batch and a backward of another batch size are refused");
    tap_ok(nn_spin_model_forward(a, 2, NULL, z) == CORE_ERR_ARG && nn_spin_model_backward(a, 2, NULL) == CORE_ERR_ARG,
           "NULL input, logits or gradient refused: %s", core_error_message());
    nn_spin_config bad = cfg;
    bad.depth = 3;
    nn_spin_model *d = NULL;
    tap_ok(nn_spin_model_create(&bad, 1, &d) == CORE_ERR_ARG && d == NULL, "odd depth refused: %s",
           core_error_message());
    nn_spin_model_destroy(&a), nn_spin_model_destroy(&b), nn_spin_model_destroy(&c), nn_spin_model_destroy(&d);
    tap_ok(a == NULL && d == NULL, "destroy nulls the handle and accepts NULL");
    size_t sz[2] = {3, 0};
    nn_params *q = NULL;
    tap_ok(nn_params_create(2, sz, &q) == CORE_ERR_ARG && q == NULL, "a tensor of size 0 refused: %s",
           core_error_message());
  }

  /* Adam: two steps against the hand computation of Kingma & Ba, Alg. 1. */
  {
    size_t sizes[2] = {2, 1};
    nn_params *p = NULL;
    nn_params_create(2, sizes, &p);
    const float w0[3] = {0.5f, -1.25f, 2.0f};
    const float g[2][3] = {{0.1f, -0.3f, 0.0f}, {-0.2f, 0.7f, 0.05f}};
    memcpy(p->param, w0, sizeof w0);
    nn_adam opt = {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-3};
    double wh[3], m[3] = {0}, v[3] = {0};
    for (int i = 0; i < 3; ++i) wh[i] = w0[i];
    for (int t = 1; t <= 2; ++t) {
      memcpy(p->grad, g[t - 1], sizeof(float) * 3);
      nn_adam_step(p, &opt);
      if (t == 1) /* by hand, w[0]: m = 0.02, v = 5e-4, mh = 0.1, vh = 0.01, 0.5 - 0.01 * 0.1 / 0.101 */
        tap_ok(fabs(p->param[0] - 0.49009900990099) < 1e-7 && p->param[2] == 2.0f,
               "Adam step 1 by hand: w0 = 0.5 - 0.01 * 0.1 / (0.1 + 1e-3) = 0.490099010 (got %.9f); a zero gradient leaves w2 = 2",
               p->param[0]);
      for (int i = 0; i < 3; ++i) {
        m[i] = 0.8 * m[i] + 0.2 * g[t - 1][i];
        v[i] = 0.95 * v[i] + 0.05 * (double)g[t - 1][i] * g[t - 1][i];
        double mh = m[i] / (1 - pow(0.8, t)), vh = v[i] / (1 - pow(0.95, t));
        wh[i] -= 0.01 * mh / (sqrt(vh) + 1e-3);
      }
    }
    double e = 0.0;
    for (int i = 0; i < 3; ++i) e = fmax(e, fabs(p->param[i] - wh[i]));
    tap_ok(e < 2e-7 && p->step == 2, "Adam, 2 bias-corrected steps = hand computation (max |dw| %.1e < 2e-7)", e);
    nn_params_zero_grad(p);
    tap_ok(p->grad[0] == 0 && p->grad[1] == 0 && p->grad[2] == 0, "zero_grad clears the gradient block");
    nn_params_destroy(&p);
  }

  /* Overfit: 8 periodic 4x4 instances with exact ground states, CE loss. */
  {
    const int L = 4, S = 16, B = 8, steps = 300;
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
    double *J = malloc(sizeof(double) * B * 2 * S);
    int8_t *y = malloc((size_t)B * S);
    for (int b = 0; b < B; ++b) {
      spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 31, (uint64_t)b, J + b * 2 * S);
      brute_ground_state(&lat, J + b * 2 * S, y + b * S);
    }
    float *x = zalloc((size_t)B * 4 * S), *z = zalloc((size_t)B * S), *dz = zalloc((size_t)B * S);
    nn_spin_input(&lat, B, J, x);
    nn_spin_config cfg = {.L = L, .pad = NN_PAD_CIRCULAR, .width = 16, .depth = 2, .max_batch = B};
    nn_spin_model *m = NULL;
    nn_spin_model_create(&cfg, 1, &m);
    spin_loss_options lo;
    spin_loss_options_default(&lo);
    spin_loss_plan *plan = NULL;
    spin_loss_plan_create(&lat, &lo, &plan);
    nn_params *p = nn_spin_model_params(m);
    nn_adam opt;
    nn_adam_default(&opt);
    opt.lr = 1e-2;
    double loss = 0, loss0 = 0;
    double t0 = core_time();
    for (int it = 0; it < steps; ++it) {
      nn_params_zero_grad(p);
      nn_spin_model_forward(m, B, x, z);
      spin_loss_execute_f32(plan, B, NULL, z, y, &loss, dz);
      if (it == 0) loss0 = loss;
      nn_spin_model_backward(m, B, dz);
      nn_adam_step(p, &opt);
    }
    double secs = core_time() - t0;
    nn_spin_model_forward(m, B, x, z);
    spin_loss_execute_f32(plan, B, NULL, z, y, &loss, NULL);
    int right = 0;
    for (int i = 0; i < B * S; ++i) right += (z[i] > 0) == (y[i] > 0);
    tap_ok(right == B * S && loss < 0.05,
           "a W 16 depth 2 model overfits 8 periodic 4x4 ground states: %d/%d sites after %d Adam steps, CE %.3f -> %.4f < 0.05 (%.2f s)",
           right, B * S, steps, loss0, loss, secs);
    spin_loss_plan_destroy(&plan);
    nn_spin_model_destroy(&m);
    free(J), free(y), free(x), free(z), free(dz);
  }

  /* The moving average's warm-up: after step t, ema = d ema + (1 - d) w
   * with d = min(decay, (1 + t) / (10 + t)); 0.999 after 2000 steps. */
  {
    const size_t sizes[1] = {3};
    nn_params *p = NULL;
    core_status st = nn_params_create(1, sizes, &p);
    if (!st) st = nn_params_enable_ema(p, 0.999);
    double err = st ? 1 : 0;
    nn_adam opt;
    nn_adam_default(&opt);
    for (int t = 1; !st && t <= 3000; ++t) {
      for (int k = 0; k < 3; ++k) p->grad[k] = (float)(k + 1) * (t % 7 == 0 ? -1.0f : 1.0f);
      float before[3], want[3];
      memcpy(before, p->ema, sizeof before);
      nn_adam_step(p, &opt);
      const double warm = (1.0 + t) / (10.0 + t), d = warm < 0.999 ? warm : 0.999;
      for (int k = 0; k < 3; ++k) {
        want[k] = (float)d * before[k] + (1.0f - (float)d) * p->param[k];
        err = fmax(err, fabs(want[k] - p->ema[k]) / (fabs(want[k]) + 1e-6));
      }
    }
    tap_ok(!st && err < 1e-6, "the moving average warms up as min(0.999, (1 + t) / (10 + t)) (%.1e)", err);
    nn_params_destroy(&p);
  }

  MPI_Finalize();
  return tap_done();
}
