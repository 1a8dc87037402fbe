/* The spin model of lib/nn: a fully convolutional network from the
 * couplings of an L x L square lattice to one logit per site.
 *
 * nn_spin_input(lat, B, J, x): local, pure; J (B, 2 S) float64 in spin.h
 *   layout -> x (B, 4, L, L) float32, channels = bond right, left, down, up.
 * nn_spin_model_create(cfg, seed, &model): local; allocates the parameter
 *   block and one workspace sized for cfg->max_batch; the caller owns
 *   *model and frees it with nn_spin_model_destroy (accepts NULL).
 * nn_spin_model_forward(model, B, x, z), nn_spin_model_backward(model, B,
 *   dz): local; allocate nothing (the DNNL backend: except the first call
 *   with a new B, which creates that B's oneDNN primitives); B > max_batch
 *   is refused.
 * nn_spin_model_set_backend(model, b): local; swaps the workspace.
 *
 * Backends (nn.h, nn_backend): BLAS runs the layer functions of layers.c
 * on the workspace below; DNNL (lib/nn/spin_dnnl.c) keeps its own
 * activations in oneDNN's blocked layout and is the default when the build
 * has oneDNN: 1.5-1.7x PyTorch's samples/s on the paper's model
 * (docs/performance.md). Both read and write the same parameter block.
 *
 * Architecture, with S = L^2 sites and R = depth / 2 blocks:
 *   h_0 = conv3x3_{4->W}(x)                           (B, W, L, L)
 *   h_r = h_{r-1} + conv2(relu(conv1(relu(h_{r-1}))))  (B, W, L, L), r = 1..R
 *   z   = conv1x1_{W->1}(relu(h_R))                    (B, 1, L, L)
 * With circular padding every layer commutes with lattice translations, so
 * the model does (test_nn checks it); zero padding is for open lattices,
 * where the border is physically different.
 *
 * Why 4 bond channels rather than 2 (J_x, J_y at the site): a site's local
 * field involves its 4 bonds, and giving them at the site makes the input a
 * local, symmetric description (a 3x3 kernel sees all bonds of the site and
 * its neighbours). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

struct nn_spin_model {
  nn_spin_config cfg;
  int R;           /* residual blocks */
  nn_params *p;
  int last_B;      /* B of the last forward, 0 before any */
  nn_backend backend;
  nn_spin_dnnl *dnnl; /* the DNNL backend's state, NULL under BLAS */
  float *mem;      /* the BLAS backend's one workspace allocation (NULL under DNNL), carved below */
  float *x;        /* (Bm, 4, S) copy of the input */
  float *h;        /* (R + 1, Bm, W, S) block inputs/outputs */
  float *cache;    /* (R, 3, Bm, W, S) residual caches */
  float *af;       /* (Bm, W, S) relu(h_R) */
  float *dA, *dB;  /* (Bm, W, S) gradient ping-pong */
  float *ws;       /* layer workspace */
};

core_status nn_spin_input(const spin_lattice *lat, int64_t B, const double *J, float *x) {
  CORE_CHECK(lat && lat->kind == SPIN_SQUARE, CORE_ERR_ARG, "nn_spin_input: expected a square lattice");
  CORE_CHECK(B >= 0 && (B == 0 || (J && x)), CORE_ERR_ARG, "nn_spin_input: B = %lld, J or x NULL", (long long)B);
  const int64_t S = lat->n_sites;
  for (int64_t b = 0; b < B; ++b) {
    const double *Jb = J + b * 2 * S;
    float *xb = x + b * 4 * S;
    for (int64_t i = 0; i < S; ++i) {
      /* J[dir S + i] couples i to its + neighbour along dir; the - bond of
       * i is the + bond of its - neighbour. */
      int64_t left = spin_neighbor(lat, i, 0, -1), up = spin_neighbor(lat, i, 1, -1);
      int64_t right = spin_neighbor(lat, i, 0, +1), down = spin_neighbor(lat, i, 1, +1);
      xb[0 * S + i] = right >= 0 ? (float)Jb[0 * S + i] : 0.0f;
      xb[1 * S + i] = left >= 0 ? (float)Jb[0 * S + left] : 0.0f;
      xb[2 * S + i] = down >= 0 ? (float)Jb[1 * S + i] : 0.0f;
      xb[3 * S + i] = up >= 0 ? (float)Jb[1 * S + up] : 0.0f;
    }
  }
  return CORE_OK;
}

/* Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) from the stream of tensor t. */
static void init_tensor(float *w, size_t n, size_t fan_in, uint64_t seed, int t) {
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_NN, (uint64_t)t);
  const double a = 1.0 / sqrt((double)fan_in);
  for (size_t i = 0; i < n; ++i) w[i] = (float)(a * (2.0 * core_rng_uniform(&rng) - 1.0));
}

core_status nn_spin_model_create(const nn_spin_config *cfg, uint64_t seed, nn_spin_model **out) {
  CORE_CHECK(out != NULL && cfg != NULL, CORE_ERR_ARG, "nn_spin_model_create: NULL argument");
  *out = NULL;
  CORE_CHECK(cfg->L >= 2 && cfg->L <= 4096, CORE_ERR_ARG, "nn_spin_model_create: L = %d, expected 2..4096", cfg->L);
  CORE_CHECK(cfg->pad == NN_PAD_ZERO || cfg->pad == NN_PAD_CIRCULAR, CORE_ERR_ARG,
             "nn_spin_model_create: unknown padding %d", (int)cfg->pad);
  CORE_CHECK(cfg->width >= 1 && cfg->width <= 4096, CORE_ERR_ARG, "nn_spin_model_create: width = %d, expected 1..4096",
             cfg->width);
  CORE_CHECK(cfg->depth >= 0 && cfg->depth % 2 == 0 && cfg->depth <= 1000, CORE_ERR_ARG,
             "nn_spin_model_create: depth = %d, expected an even number 0..1000", cfg->depth);
  CORE_CHECK(cfg->max_batch >= 1, CORE_ERR_ARG, "nn_spin_model_create: max_batch = %d, expected >= 1",
             cfg->max_batch);
  CORE_CHECK(cfg->conv == NN_CONV_WINOGRAD || cfg->conv == NN_CONV_DIRECT, CORE_ERR_ARG,
             "nn_spin_model_create: conv = %d, expected NN_CONV_WINOGRAD or NN_CONV_DIRECT", (int)cfg->conv);
  const int W = cfg->width, R = cfg->depth / 2;

  /* The table of sizes, in the order of nn.h, and the fan-in of each. */
  const int nt = 2 + 4 * R + 2;
  size_t *sizes = malloc(sizeof(size_t) * 2 * (size_t)nt);
  CORE_CHECK(sizes != NULL, CORE_ERR_MEM, "nn_spin_model_create: out of memory");
  size_t *fan = sizes + nt;
  int t = 0;
  sizes[t] = (size_t)W * 4 * 9, fan[t++] = 4 * 9;
  sizes[t] = (size_t)W, fan[t++] = 4 * 9;
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < 2; ++k) {
      sizes[t] = (size_t)W * W * 9, fan[t++] = (size_t)W * 9;
      sizes[t] = (size_t)W, fan[t++] = (size_t)W * 9;
    }
  sizes[t] = (size_t)W, fan[t++] = (size_t)W;
  sizes[t] = 1, fan[t++] = (size_t)W;

  nn_spin_model *m = calloc(1, sizeof *m);
  core_status st = m ? nn_params_create(nt, sizes, &m->p) : CORE_ERROR(CORE_ERR_MEM, "nn_spin_model_create: out of memory");
  if (st == CORE_ERR_MEM) {
    double n = 0;
    for (int k = 0; k < nt; ++k) n += (double)sizes[k];
    st = CORE_ERROR(CORE_ERR_MEM, "a spin model of width %d and depth %d has %.3g parameters: cannot allocate the "
                    "%.3g GB of them, their gradients and Adam's moments", W, cfg->depth, n, 4 * 4 * n / 1e9);
  }
  if (st) {
    free(sizes);
    free(m);
    return st;
  }
  for (t = 0; t < nt; ++t) init_tensor(nn_params_tensor(m->p, t), sizes[t], fan[t], seed, t);
  free(sizes);
  /* The names and shapes of python/eloss/torch.py's SpinModel. */
  {
    const int64_t in_w[4] = {W, 4, 3, 3}, b[1] = {W}, blk_w[4] = {W, W, 3, 3}, out_w[4] = {1, W, 1, 1}, out_b[1] = {1};
    char name[NN_TENSOR_NAME_BYTES];
    t = 0;
    st = nn_params_name(m->p, t++, "input.weight", 4, in_w);
    if (!st) st = nn_params_name(m->p, t++, "input.bias", 1, b);
    for (int r = 0; !st && r < R; ++r)
      for (int k = 1; !st && k <= 2; ++k) {
        snprintf(name, sizeof name, "blocks.%d.conv%d.weight", r, k);
        st = nn_params_name(m->p, t++, name, 4, blk_w);
        snprintf(name, sizeof name, "blocks.%d.conv%d.bias", r, k);
        if (!st) st = nn_params_name(m->p, t++, name, 1, b);
      }
    if (!st) st = nn_params_name(m->p, t++, "output.weight", 4, out_w);
    if (!st) st = nn_params_name(m->p, t++, "output.bias", 1, out_b);
    if (st) {
      nn_params_destroy(&m->p);
      free(m);
      return st;
    }
  }

  m->cfg = *cfg;
  m->R = R;
  /* oneDNN's fast (JIT) convolutions want channel blocks of the CPU's
   * vector width (nn_spin_dnnl_block); for other widths it falls back to
   * kernels 5-10x slower than im2col + OpenBLAS (measured: width 8 on
   * 8 x 8, batch 4). */
  const int dnnl_fast = nn_spin_dnnl_block(cfg->width) > 0;
  st = nn_spin_model_set_backend(m, nn_backend_available(NN_BACKEND_DNNL) && dnnl_fast ? NN_BACKEND_DNNL
                                                                                    : NN_BACKEND_BLAS);
  if (st) {
    nn_spin_model_destroy(&m);
    return st;
  }
  *out = m;
  return CORE_OK;
}

/* The BLAS backend's workspace for cfg.max_batch. */
static core_status blas_workspace_create(nn_spin_model *m) {
  const nn_spin_config *cfg = &m->cfg;
  const int W = cfg->width, R = m->R;
  const size_t S = (size_t)cfg->L * cfg->L, Bm = (size_t)cfg->max_batch, act = Bm * W * S;
  size_t ws = nn_residual_floats((int)Bm, W, cfg->L);
  size_t wc = 2 * nn_conv3x3_floats(W > 4 ? W : 4, cfg->L);
  if (wc > ws) ws = wc;
  size_t total = Bm * 4 * S + (size_t)(R + 1) * act + (size_t)R * 3 * act + 3 * act + ws;
  m->mem = malloc(sizeof(float) * total);
  CORE_CHECK(m->mem != NULL, CORE_ERR_MEM, "nn_spin_model_create: cannot allocate a workspace of %zu floats", total);
  float *q = m->mem;
  m->x = q, q += Bm * 4 * S;
  m->h = q, q += (size_t)(R + 1) * act;
  m->cache = q, q += (size_t)R * 3 * act;
  m->af = q, q += act;
  m->dA = q, q += act;
  m->dB = q, q += act;
  m->ws = q;
  return CORE_OK;
}

int nn_backend_available(nn_backend b) {
#ifdef ELOSS_HAVE_DNNL
  return b == NN_BACKEND_BLAS || b == NN_BACKEND_DNNL;
#else
  return b == NN_BACKEND_BLAS;
#endif
}

nn_backend nn_spin_model_backend(const nn_spin_model *m) { return m->backend; }

const char *const nn_conv_algorithm_names[NN_CONV_COUNT] = {"winograd", "direct"};

nn_conv_algorithm nn_spin_model_conv_in_use(const nn_spin_model *m) {
  return m->dnnl && nn_spin_dnnl_winograd(m->dnnl) ? NN_CONV_WINOGRAD : NN_CONV_DIRECT;
}

core_status nn_spin_model_set_backend(nn_spin_model *m, nn_backend b) {
  CORE_CHECK(m != NULL, CORE_ERR_ARG, "nn_spin_model_set_backend: NULL model");
  CORE_CHECK(b == NN_BACKEND_BLAS || b == NN_BACKEND_DNNL, CORE_ERR_ARG, "nn_spin_model_set_backend: unknown backend %d",
             (int)b);
  CORE_CHECK(nn_backend_available(b), CORE_ERR_UNSUPPORTED,
             "nn_spin_model_set_backend: this build has no oneDNN (install libdnnl-dev and reconfigure)");
  m->last_B = 0;
  if (b == m->backend && (m->mem || m->dnnl)) return CORE_OK;
  free(m->mem);
  m->mem = NULL;
  nn_spin_dnnl_destroy(&m->dnnl);
  m->backend = b;
  if (b == NN_BACKEND_DNNL) return nn_spin_dnnl_create(&m->cfg, &m->dnnl);
  return blas_workspace_create(m);
}

void nn_spin_model_destroy(nn_spin_model **mp) {
  if (!mp || !*mp) return;
  nn_params_destroy(&(*mp)->p);
  nn_spin_dnnl_destroy(&(*mp)->dnnl);
  free((*mp)->mem);
  free(*mp);
  *mp = NULL;
}

nn_params *nn_spin_model_params(nn_spin_model *m) { return m->p; }

core_status nn_spin_model_forward(nn_spin_model *m, int B, const float *x, float *z) {
  CORE_CHECK(B >= 1 && B <= m->cfg.max_batch, CORE_ERR_ARG,
             "nn_spin_model_forward: batch %d, expected 1..%d (the max_batch the workspace was sized for)", B,
             m->cfg.max_batch);
  CORE_CHECK(x != NULL && z != NULL, CORE_ERR_ARG, "nn_spin_model_forward: x or z is NULL");
  if (m->backend == NN_BACKEND_DNNL) {
    m->last_B = 0;
    CORE_CALL(nn_spin_dnnl_forward(m->dnnl, m->p, B, x, z));
    m->last_B = B;
    return CORE_OK;
  }
  const int W = m->cfg.width, L = m->cfg.L, R = m->R;
  const nn_padding pad = m->cfg.pad;
  const size_t S = (size_t)L * L, act = (size_t)m->cfg.max_batch * W * S, n = (size_t)B * W * S;
  nn_params *p = m->p;
  memcpy(m->x, x, sizeof(float) * (size_t)B * 4 * S);
  nn_conv3x3_forward(m->h, m->x, nn_params_tensor(p, 0), nn_params_tensor(p, 1), B, 4, W, L, pad, m->ws);
  for (int r = 0; r < R; ++r) {
    int t = 2 + 4 * r;
    nn_residual_forward(m->h + (size_t)(r + 1) * act, m->h + (size_t)r * act, m->cache + (size_t)r * 3 * act,
                        nn_params_tensor(p, t), nn_params_tensor(p, t + 1), nn_params_tensor(p, t + 2),
                        nn_params_tensor(p, t + 3), B, W, L, pad, m->ws);
  }
  nn_relu_forward(m->af, m->h + (size_t)R * act, n);
  int t = 2 + 4 * R;
  nn_conv1x1_forward(z, m->af, nn_params_tensor(p, t), nn_params_tensor(p, t + 1), B, W, 1, (int)S);
  m->last_B = B;
  return CORE_OK;
}

core_status nn_spin_model_backward(nn_spin_model *m, int B, const float *dz) {
  CORE_CHECK(B >= 1 && B == m->last_B, CORE_ERR_ARG,
             "nn_spin_model_backward: batch %d, expected the %d of the last forward", B, m->last_B);
  CORE_CHECK(dz != NULL, CORE_ERR_ARG, "nn_spin_model_backward: dz is NULL");
  if (m->backend == NN_BACKEND_DNNL) return nn_spin_dnnl_backward(m->dnnl, m->p, B, dz);
  const int W = m->cfg.width, L = m->cfg.L, R = m->R;
  const nn_padding pad = m->cfg.pad;
  const size_t S = (size_t)L * L, act = (size_t)m->cfg.max_batch * W * S, n = (size_t)B * W * S;
  nn_params *p = m->p;
  int t = 2 + 4 * R;
  /* z = conv1x1(af): dA = dL/daf. */
  memset(m->dA, 0, sizeof(float) * n);
  nn_conv1x1_backward(m->dA, nn_params_grad(p, t), nn_params_grad(p, t + 1), dz, m->af, nn_params_tensor(p, t), B,
                      W, 1, (int)S);
  /* af = relu(h_R): dB = dL/dh_R. */
  memset(m->dB, 0, sizeof(float) * n);
  nn_relu_backward(m->dB, m->dA, m->h + (size_t)R * act, n);
  float *dcur = m->dB, *dnext = m->dA;
  for (int r = R - 1; r >= 0; --r) {
    t = 2 + 4 * r;
    memset(dnext, 0, sizeof(float) * n);
    nn_residual_backward(dnext, nn_params_grad(p, t), nn_params_grad(p, t + 1), nn_params_grad(p, t + 2),
                         nn_params_grad(p, t + 3), dcur, m->h + (size_t)r * act, m->cache + (size_t)r * 3 * act,
                         nn_params_tensor(p, t), nn_params_tensor(p, t + 2), B, W, L, pad, m->ws);
    float *tmp = dcur;
    dcur = dnext;
    dnext = tmp;
  }
  /* h_0 = conv3x3(x): parameter gradients only (x is data). */
  nn_conv3x3_backward(NULL, nn_params_grad(p, 0), nn_params_grad(p, 1), dcur, m->x, nn_params_tensor(p, 0), B, 4, W,
                      L, pad, m->ws);
  return CORE_OK;
}
