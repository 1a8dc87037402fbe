/* The multilayer perceptron of lib/nn: dense layers with SiLU between
 * them, for the atomistic tasks (the paper's App. C.1 shapes
 * model is sizes {1, 64, 64, 2N}).
 *
 * nn_mlp_create(cfg, seed, &mlp): local; one parameter block and one
 *   workspace for cfg->max_batch; the caller owns *mlp.
 * nn_mlp_forward / nn_mlp_backward: local; allocate nothing.
 *
 *   a_0 = x,  h_l = dense_l(a_{l-1}),  a_l = silu(h_l)  (l < n_layers),
 *   y = h_{n_layers}  (no activation on the output).
 * Tensors, in order: w_1 (s_1, s_0), b_1 (s_1), ..., w_n, b_n; initial
 * weights and biases U(-1/sqrt fan_in, 1/sqrt fan_in) from the stream
 * (seed, CORE_PURPOSE_NN, tensor index), as the spin model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"

struct nn_mlp {
  nn_model base; /* first: the model table's view */
  nn_mlp_config cfg;
  int sizes[NN_MLP_MAX_LAYERS + 1];
  nn_params *p;
  int last_B;
  float *mem;
  float *h[NN_MLP_MAX_LAYERS]; /* pre-activations of the hidden layers, (Bm, s_l) */
  float *a[NN_MLP_MAX_LAYERS]; /* their activations */
  float *sg[NN_MLP_MAX_LAYERS]; /* silu'(h), kept for the backward (no exp there) */
  float *x;                    /* (Bm, s_0) copy of the input */
  float *dA, *dB;              /* (Bm, widest) gradient ping-pong */
};

core_status nn_mlp_create(const nn_mlp_config *cfg, uint64_t seed, nn_mlp **out) {
  CORE_CHECK(out && cfg, CORE_ERR_ARG, "nn_mlp_create: NULL argument");
  *out = NULL;
  const int n = cfg->n_layers;
  CORE_CHECK(n >= 1 && n <= NN_MLP_MAX_LAYERS, CORE_ERR_ARG, "nn_mlp_create: %d layers, expected 1..%d", n,
             NN_MLP_MAX_LAYERS);
  CORE_CHECK(cfg->max_batch >= 1, CORE_ERR_ARG, "nn_mlp_create: max_batch = %d, expected >= 1", cfg->max_batch);
  int widest = 0;
  for (int l = 0; l <= n; ++l) {
    CORE_CHECK(cfg->sizes[l] >= 1 && cfg->sizes[l] <= 65536, CORE_ERR_ARG,
               "nn_mlp_create: layer size %d = %d, expected 1..65536", l, cfg->sizes[l]);
    if (cfg->sizes[l] > widest) widest = cfg->sizes[l];
  }
  size_t tensor_sizes[2 * NN_MLP_MAX_LAYERS];
  for (int l = 0; l < n; ++l) {
    tensor_sizes[2 * l] = (size_t)cfg->sizes[l + 1] * (size_t)cfg->sizes[l];
    tensor_sizes[2 * l + 1] = (size_t)cfg->sizes[l + 1];
  }
  nn_mlp *m = calloc(1, sizeof *m);
  core_status st = m ? nn_params_create(2 * n, tensor_sizes, &m->p) : CORE_ERROR(CORE_ERR_MEM, "nn_mlp_create: out of memory");
  if (st) {
    free(m);
    return st;
  }
  m->cfg = *cfg;
  memcpy(m->sizes, cfg->sizes, sizeof(int) * (size_t)(n + 1));
  m->cfg.sizes = m->sizes;
  /* The names and shapes of python/eloss/torch.py's MLP (torch.nn.Linear). */
  for (int l = 0; !st && l < n; ++l) {
    char name[NN_TENSOR_NAME_BYTES];
    const int64_t w[2] = {cfg->sizes[l + 1], cfg->sizes[l]}, b[1] = {cfg->sizes[l + 1]};
    snprintf(name, sizeof name, "layers.%d.weight", l);
    st = nn_params_name(m->p, 2 * l, name, 2, w);
    snprintf(name, sizeof name, "layers.%d.bias", l);
    if (!st) st = nn_params_name(m->p, 2 * l + 1, name, 1, b);
  }
  if (st) {
    nn_params_destroy(&m->p);
    free(m);
    return st;
  }
  for (int t = 0; t < 2 * n; ++t) nn_params_init_uniform(m->p, t, 1.0 / sqrt((double)cfg->sizes[t / 2]), seed);
  const size_t Bm = (size_t)cfg->max_batch;
  size_t total = Bm * (size_t)cfg->sizes[0] + 2 * Bm * (size_t)widest;
  for (int l = 1; l < n; ++l) total += 3 * Bm * (size_t)cfg->sizes[l];
  m->mem = malloc(sizeof(float) * total);
  if (!m->mem) {
    nn_mlp_destroy(&m);
    return CORE_ERROR(CORE_ERR_MEM, "nn_mlp_create: cannot allocate a workspace of %zu floats", total);
  }
  float *q = m->mem;
  m->x = q, q += Bm * (size_t)cfg->sizes[0];
  for (int l = 1; l < n; ++l) {
    m->h[l] = q, q += Bm * (size_t)cfg->sizes[l];
    m->a[l] = q, q += Bm * (size_t)cfg->sizes[l];
    m->sg[l] = q, q += Bm * (size_t)cfg->sizes[l];
  }
  m->dA = q, q += Bm * (size_t)widest;
  m->dB = q;
  m->base.type = &nn_mlp_type;
  *out = m;
  return CORE_OK;
}

void nn_mlp_destroy(nn_mlp **mp) {
  if (!mp || !*mp) return;
  nn_params_destroy(&(*mp)->p);
  free((*mp)->mem);
  free(*mp);
  *mp = NULL;
}

nn_params *nn_mlp_params(nn_mlp *m) { return m->p; }

core_status nn_mlp_forward(nn_mlp *m, int B, const float *x, float *y) {
  CORE_CHECK(B >= 1 && B <= m->cfg.max_batch, CORE_ERR_ARG, "nn_mlp_forward: batch %d, expected 1..%d", B,
             m->cfg.max_batch);
  CORE_CHECK(x && y, CORE_ERR_ARG, "nn_mlp_forward: x or y is NULL");
  const int n = m->cfg.n_layers;
  const int *s = m->sizes;
  memcpy(m->x, x, sizeof(float) * (size_t)B * (size_t)s[0]);
  const float *in = m->x;
  for (int l = 1; l <= n; ++l) {
    float *h = l == n ? y : m->h[l];
    nn_dense_forward(h, in, nn_params_tensor(m->p, 2 * (l - 1)), nn_params_tensor(m->p, 2 * (l - 1) + 1), B, s[l - 1],
                     s[l]);
    if (l < n) {
      nn_silu_forward_keep(m->a[l], m->sg[l], h, (size_t)B * (size_t)s[l]);
      in = m->a[l];
    }
  }
  m->last_B = B;
  return CORE_OK;
}

core_status nn_mlp_backward(nn_mlp *m, int B, const float *dy) {
  CORE_CHECK(B >= 1 && B == m->last_B, CORE_ERR_ARG, "nn_mlp_backward: batch %d, expected the %d of the last forward",
             B, m->last_B);
  CORE_CHECK(dy != NULL, CORE_ERR_ARG, "nn_mlp_backward: dy is NULL");
  const int n = m->cfg.n_layers;
  const int *s = m->sizes;
  const float *dout = dy;
  for (int l = n; l >= 1; --l) {
    const float *in = l == 1 ? m->x : m->a[l - 1];
    /* d(input activation), needed below layer 1 only (x is data). */
    float *da = NULL;
    if (l > 1) {
      da = dout == m->dA ? m->dB : m->dA;
      memset(da, 0, sizeof(float) * (size_t)B * (size_t)s[l - 1]);
    }
    nn_dense_backward(da, nn_params_grad(m->p, 2 * (l - 1)), nn_params_grad(m->p, 2 * (l - 1) + 1), dout, in,
                      nn_params_tensor(m->p, 2 * (l - 1)), B, s[l - 1], s[l]);
    if (l > 1) {
      /* a = silu(h): dh = da silu'(h), into the other buffer. */
      float *dh = da == m->dA ? m->dB : m->dA;
      nn_silu_backward_kept(dh, da, m->sg[l - 1], (size_t)B * (size_t)s[l - 1]);
      dout = dh;
    }
  }
  return CORE_OK;
}

/* ---- the model table's row -------------------------------------------- */

static core_status table_create(const void *config, uint64_t seed, nn_model **model) {
  nn_mlp *m = NULL;
  CORE_CALL(nn_mlp_create(config, seed, &m));
  *model = &m->base;
  return CORE_OK;
}
static nn_params *table_params(nn_model *m) { return ((nn_mlp *)m)->p; }
static core_status table_forward(nn_model *m, const nn_input *in, float *y) {
  return nn_mlp_forward((nn_mlp *)m, in->B, in->x, y);
}
static core_status table_backward(nn_model *m, int B, const float *dy) { return nn_mlp_backward((nn_mlp *)m, B, dy); }
static void table_destroy(nn_model *m) {
  nn_mlp *s = (nn_mlp *)m;
  nn_mlp_destroy(&s);
}

const nn_model_type nn_mlp_type = {"mlp", table_create, table_params, table_forward, table_backward, table_destroy};
