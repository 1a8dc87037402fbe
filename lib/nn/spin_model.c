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
 * The model is defined once, below, as its stages run in order
 * (nn_spin_stages, nn_impl.h); a backend implements the stages.
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
  nn_model base; /* first: the model table's view */
  nn_spin_config cfg;
  int R;           /* residual blocks */
  nn_params *p;
  nn_spin_tensors w, g; /* named views of p's parameters and gradients, made at each pass: a caller may
                           point p->param or p->grad at another block (the trainer's micro-shards do) */
  nn_spin_block_tensors *blocks; /* (2 R): w.block, then g.block */
  int last_B;      /* B of the last forward, 0 before any */
  nn_backend backend;
  nn_spin_dnnl *dnnl; /* the DNNL backend's state, NULL under BLAS */
  float *mem;      /* the BLAS backend's one workspace allocation (NULL under DNNL), carved below */
  float *x;        /* (Bm, 4, S) copy of the input */
  float *h;        /* (R + 1, Bm, W, S) block inputs/outputs */
  float *cache;    /* (R, 3, Bm, W, S) residual caches */
  float *af;       /* (Bm, W, S) relu(h_R) */
  float *dA, *dB;  /* (Bm, W, S) gradient ping-pong */
  float *dcur, *dnext; /* during a backward: dA or dB, dL/dh_r and the next one */
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

/* Tensor t of the model of width W with R residual blocks: the one table
 * of its layout (nn.h's order; the indices key the init streams), with
 * the names and shapes of python/eloss/torch.py's SpinModel. */
typedef struct {
  char name[NN_TENSOR_NAME_BYTES];
  int ndim;
  int64_t shape[NN_TENSOR_NDIM_MAX];
  size_t size, fan_in;
} spin_tensor_spec;

static void spin_tensor_spec_of(int W, int R, int t, spin_tensor_spec *s) {
  memset(s, 0, sizeof *s);
  const int last = 2 + 4 * R, bias = t % 2;
  if (t < 2) {
    snprintf(s->name, sizeof s->name, "input.%s", bias ? "bias" : "weight");
    s->fan_in = 4 * 9;
    s->ndim = bias ? 1 : 4, s->shape[0] = W, s->shape[1] = 4, s->shape[2] = 3, s->shape[3] = 3;
  } else if (t < last) {
    snprintf(s->name, sizeof s->name, "blocks.%d.conv%d.%s", (t - 2) / 4, 1 + (t - 2) % 4 / 2, bias ? "bias" : "weight");
    s->fan_in = (size_t)W * 9;
    s->ndim = bias ? 1 : 4, s->shape[0] = W, s->shape[1] = W, s->shape[2] = 3, s->shape[3] = 3;
  } else {
    snprintf(s->name, sizeof s->name, "output.%s", bias ? "bias" : "weight");
    s->fan_in = (size_t)W;
    s->ndim = bias ? 1 : 4, s->shape[0] = bias ? 1 : 1, s->shape[1] = W, s->shape[2] = 1, s->shape[3] = 1;
  }
  s->size = 1;
  for (int k = 0; k < s->ndim; ++k) s->size *= (size_t)s->shape[k];
}

/* The named views of one block of p (base: p->param or p->grad). */
static void spin_tensors_view(const nn_params *p, float *base, int R, nn_spin_block_tensors *blocks,
                              nn_spin_tensors *v) {
  int t = 0;
  v->w_in = base + p->offset[t++], v->b_in = base + p->offset[t++];
  for (int r = 0; r < R; ++r) {
    blocks[r].w1 = base + p->offset[t++], blocks[r].b1 = base + p->offset[t++];
    blocks[r].w2 = base + p->offset[t++], blocks[r].b2 = base + p->offset[t++];
  }
  v->block = blocks;
  v->w_out = base + p->offset[t++], v->b_out = base + p->offset[t++];
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

  /* Sizes, fan-ins, names and shapes from the one table of the layout. */
  const int nt = 2 + 4 * R + 2;
  size_t *sizes = malloc(sizeof(size_t) * (size_t)nt);
  nn_spin_model *m = calloc(1, sizeof *m);
  core_status st = sizes && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "nn_spin_model_create: out of memory");
  spin_tensor_spec spec;
  double n = 0;
  for (int t = 0; !st && t < nt; ++t) {
    spin_tensor_spec_of(W, R, t, &spec);
    sizes[t] = spec.size, n += (double)spec.size;
  }
  if (!st && nn_params_create(nt, sizes, &m->p))
    st = CORE_ERROR(CORE_ERR_MEM, "a spin model of width %d and depth %d has %.3g parameters: cannot allocate the "
                    "%.3g GB of them, their gradients and Adam's moments", W, cfg->depth, n, 4 * 4 * n / 1e9);
  free(sizes);
  for (int t = 0; !st && t < nt; ++t) {
    spin_tensor_spec_of(W, R, t, &spec);
    nn_params_init_uniform(m->p, t, 1.0 / sqrt((double)spec.fan_in), seed);
    st = nn_params_name(m->p, t, spec.name, spec.ndim, spec.shape);
  }
  if (!st && !(m->blocks = malloc(sizeof *m->blocks * (size_t)(2 * R + 1))))
    st = CORE_ERROR(CORE_ERR_MEM, "nn_spin_model_create: out of memory");
  if (st) {
    if (m) nn_params_destroy(&m->p), free(m->blocks);
    free(m);
    return st;
  }
  m->base.type = &nn_spin_model_type;
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
  free((*mp)->blocks);
  nn_spin_dnnl_destroy(&(*mp)->dnnl);
  free((*mp)->mem);
  free(*mp);
  *mp = NULL;
}

nn_params *nn_spin_model_params(nn_spin_model *m) { return m->p; }

/* ---- the BLAS backend's stages (nn_impl.h): the layer functions of layers.c on the workspace ---- */

static core_status blas_begin(void *state, int B) {
  (void)state, (void)B;
  return CORE_OK;
}

static void blas_end(void *state) { (void)state; }

static core_status blas_input(void *state, int B, const float *x, const nn_spin_tensors *w) {
  nn_spin_model *m = state;
  const int W = m->cfg.width, L = m->cfg.L;
  memcpy(m->x, x, sizeof(float) * (size_t)B * 4 * (size_t)L * L);
  nn_conv3x3_forward(m->h, m->x, w->w_in, w->b_in, B, 4, W, L, m->cfg.pad, m->ws);
  return CORE_OK;
}

static core_status blas_block(void *state, int B, int r, const nn_spin_block_tensors *w) {
  nn_spin_model *m = state;
  const int W = m->cfg.width, L = m->cfg.L;
  const size_t act = (size_t)m->cfg.max_batch * W * L * L;
  nn_residual_forward(m->h + (size_t)(r + 1) * act, m->h + (size_t)r * act, m->cache + (size_t)r * 3 * act, w->w1,
                      w->b1, w->w2, w->b2, B, W, L, m->cfg.pad, m->ws);
  return CORE_OK;
}

static core_status blas_output(void *state, int B, const nn_spin_tensors *w, float *z) {
  nn_spin_model *m = state;
  const int W = m->cfg.width;
  const size_t S = (size_t)m->cfg.L * m->cfg.L, act = (size_t)m->cfg.max_batch * W * S;
  nn_relu_forward(m->af, m->h + (size_t)m->R * act, (size_t)B * W * S);
  nn_conv1x1_forward(z, m->af, w->w_out, w->b_out, B, W, 1, (int)S);
  return CORE_OK;
}

static core_status blas_output_backward(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *g,
                                        const float *dz) {
  nn_spin_model *m = state;
  const int W = m->cfg.width;
  const size_t S = (size_t)m->cfg.L * m->cfg.L, act = (size_t)m->cfg.max_batch * W * S, n = (size_t)B * W * S;
  /* z = conv1x1(af): dA = dL/daf. */
  memset(m->dA, 0, sizeof(float) * n);
  nn_conv1x1_backward(m->dA, g->w_out, g->b_out, dz, m->af, w->w_out, B, W, 1, (int)S);
  /* af = relu(h_R): dB = dL/dh_R. */
  memset(m->dB, 0, sizeof(float) * n);
  nn_relu_backward(m->dB, m->dA, m->h + (size_t)m->R * act, n);
  m->dcur = m->dB, m->dnext = m->dA;
  return CORE_OK;
}

static core_status blas_block_backward(void *state, int B, int r, const nn_spin_block_tensors *w,
                                       const nn_spin_block_tensors *g) {
  nn_spin_model *m = state;
  const int W = m->cfg.width, L = m->cfg.L;
  const size_t act = (size_t)m->cfg.max_batch * W * L * L;
  memset(m->dnext, 0, sizeof(float) * (size_t)B * W * L * L);
  nn_residual_backward(m->dnext, g->w1, g->b1, g->w2, g->b2, m->dcur, m->h + (size_t)r * act,
                       m->cache + (size_t)r * 3 * act, w->w1, w->w2, B, W, L, m->cfg.pad, m->ws);
  float *tmp = m->dcur;
  m->dcur = m->dnext, m->dnext = tmp;
  return CORE_OK;
}

/* h_0 = conv3x3(x): parameter gradients only (x is data). */
static core_status blas_input_backward(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *g) {
  nn_spin_model *m = state;
  nn_conv3x3_backward(NULL, g->w_in, g->b_in, m->dcur, m->x, w->w_in, B, 4, m->cfg.width, m->cfg.L, m->cfg.pad,
                      m->ws);
  return CORE_OK;
}

static const nn_spin_stages blas_stages = {blas_begin, blas_input, blas_block, blas_output, blas_output_backward,
                                           blas_block_backward, blas_input_backward, blas_end};

/* ---- the model: its stages in order, on the chosen backend --------------------------------- */

static const nn_spin_stages *stages_of(nn_spin_model *m, void **state) {
  *state = m->backend == NN_BACKEND_DNNL ? (void *)m->dnnl : (void *)m;
  return m->backend == NN_BACKEND_DNNL ? &nn_spin_dnnl_stages : &blas_stages;
}

core_status nn_spin_model_forward(nn_spin_model *m, int B, const float *x, float *z) {
  CORE_CHECK(B >= 1 && B <= m->cfg.max_batch, CORE_ERR_ARG,
             "nn_spin_model_forward: batch %d, expected 1..%d (the max_batch the workspace was sized for)", B,
             m->cfg.max_batch);
  CORE_CHECK(x != NULL && z != NULL, CORE_ERR_ARG, "nn_spin_model_forward: x or z is NULL");
  spin_tensors_view(m->p, m->p->param, m->R, m->blocks, &m->w);
  void *state;
  const nn_spin_stages *s = stages_of(m, &state);
  m->last_B = 0;
  core_status st = s->begin(state, B);
  if (!st) st = s->input(state, B, x, &m->w);
  for (int r = 0; !st && r < m->R; ++r) st = s->block(state, B, r, &m->w.block[r]);
  if (!st) st = s->output(state, B, &m->w, z);
  s->end(state);
  if (!st) m->last_B = B;
  return st;
}

core_status nn_spin_model_backward(nn_spin_model *m, int B, const float *dz) {
  CORE_CHECK(B >= 1 && B == m->last_B, CORE_ERR_ARG,
             "nn_spin_model_backward: batch %d, expected the %d of the last forward", B, m->last_B);
  CORE_CHECK(dz != NULL, CORE_ERR_ARG, "nn_spin_model_backward: dz is NULL");
  spin_tensors_view(m->p, m->p->param, m->R, m->blocks, &m->w);
  spin_tensors_view(m->p, m->p->grad, m->R, m->blocks + m->R, &m->g);
  void *state;
  const nn_spin_stages *s = stages_of(m, &state);
  core_status st = s->begin(state, B);
  if (!st) st = s->output_backward(state, B, &m->w, &m->g, dz);
  for (int r = m->R - 1; !st && r >= 0; --r) st = s->block_backward(state, B, r, &m->w.block[r], &m->g.block[r]);
  if (!st) st = s->input_backward(state, B, &m->w, &m->g);
  s->end(state);
  return st;
}

/* ---- the model table's row -------------------------------------------- */

static core_status table_create(const void *config, uint64_t seed, nn_model **model) {
  nn_spin_model *m = NULL;
  CORE_CALL(nn_spin_model_create(config, seed, &m));
  *model = &m->base;
  return CORE_OK;
}
static nn_params *table_params(nn_model *m) { return ((nn_spin_model *)m)->p; }
static core_status table_forward(nn_model *m, const nn_input *in, float *y) {
  return nn_spin_model_forward((nn_spin_model *)m, in->B, in->x, y);
}
static core_status table_backward(nn_model *m, int B, const float *dy) {
  return nn_spin_model_backward((nn_spin_model *)m, B, dy);
}
static void table_destroy(nn_model *m) {
  nn_spin_model *s = (nn_spin_model *)m;
  nn_spin_model_destroy(&s);
}

const nn_model_type nn_spin_model_type = {"spin", table_create, table_params, table_forward, table_backward,
                                          table_destroy};
