/* eloss nn: small models in plain C with hand-written backward passes, for
 * `eloss train` (spins now, atoms later). Parameters, gradients and the two
 * Adam moments are each ONE contiguous float32 block (llm.c style), seen
 * through per-tensor offsets built from a table of sizes, so one
 * MPI_Allreduce moves every gradient and a checkpoint is one section.
 *
 * Worked example (the spin model, one training step):
 *
 *   spin_lattice lat;
 *   spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 16);
 *   nn_spin_config cfg = {.L = 16, .pad = NN_PAD_CIRCULAR, .width = 32,
 *                         .depth = 4, .max_batch = 64};
 *   nn_spin_model *model;
 *   nn_spin_model_create(&cfg, seed, &model);         // deterministic init
 *   nn_spin_input(&lat, B, J, x);                      // x: (B, 4, L, L)
 *   nn_params *p = nn_spin_model_params(model);
 *   nn_adam adam;
 *   nn_adam_default(&adam);                            // lr 1e-3, 0.9, 0.999, 1e-8
 *   nn_params_zero_grad(p);
 *   nn_spin_model_forward(model, B, x, z);             // z: (B, L, L) logits
 *   spin_loss_execute_f32(plan, B, J, z, y, &loss, dz);
 *   nn_spin_model_backward(model, B, dz);              // p->grad += dloss/dparams
 *   // (data-parallel: MPI_Allreduce(p->grad, p->n) here)
 *   nn_adam_step(p, &adam);
 *   nn_spin_model_destroy(&model);
 *
 * Shapes are row-major: (B, C, L, L) is batch, channel, row y, column x.
 * Layer functions are local, reentrant and allocate nothing: the caller
 * passes the workspace whose size the matching *_floats function gives.
 * Backward functions ACCUMULATE (+=) into parameter and input gradients;
 * a NULL input gradient skips that product. GEMMs go through cblas_sgemm
 * (OpenBLAS, linked explicitly); the spin model's convolutions run on
 * oneDNN instead when the build has it (nn_backend below). */
#ifndef ELOSS_NN_H
#define ELOSS_NN_H

#include <stddef.h>
#include <stdint.h>

#include "eloss/core.h"
#include "eloss/spin.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the parameter block (lib/nn/params.c) ------------------------------ */

enum { NN_TENSOR_NAME_BYTES = 40, NN_TENSOR_NDIM_MAX = 4 };

/* A tensor of the block by name: the name and shape of the same tensor in
 * the PyTorch module of the architecture (python/eloss/torch.py), so a
 * model file loads into it as a state_dict. Stored in model files as is
 * (88 bytes, little-endian). */
typedef struct {
  char name[NN_TENSOR_NAME_BYTES]; /* "blocks.0.conv1.weight" */
  int32_t ndim, pad;
  int64_t shape[NN_TENSOR_NDIM_MAX];
  int64_t offset;                  /* floats into the block */
} nn_tensor_info;

typedef struct {
  size_t n;          /* floats in each block */
  int n_tensors;
  nn_tensor_info *info; /* (n_tensors): names "t<index>", shape (size), until nn_params_name */
  size_t *offset;    /* (n_tensors): tensor t is param[offset[t] .. offset[t] + size[t]) */
  size_t *size;      /* (n_tensors) */
  float *param;      /* (n) */
  float *grad;       /* (n) */
  float *m, *v;      /* (n) Adam first and second moments */
  int64_t step;      /* Adam steps taken */
  float *ema;        /* (n) exponential moving average of param, or NULL (nn_params_enable_ema) */
  double ema_decay;
} nn_params;

/* Allocate the four blocks for n_tensors tensors of the given sizes (each
 * >= 1); everything zero. Local; *p owned by the caller. */
core_status nn_params_create(int n_tensors, const size_t *sizes, nn_params **p);
/* Accepts NULL and *p == NULL; sets *p = NULL. */
void nn_params_destroy(nn_params **p);
/* grad = 0, a flat loop. */
void nn_params_zero_grad(nn_params *p);
/* Keep an exponential moving average of the parameters, ema = d ema +
 * (1 - d) param after Adam step t, d = min(decay, (1 + t) / (10 + t)) (a
 * warm-up, so a short run's average is not its initial weights), starting
 * from the current parameters (what diffusion models sample with; EDM:
 * 0.999). 0 < decay < 1, else CORE_ERR_ARG. Local. */
core_status nn_params_enable_ema(nn_params *p, double decay);
/* Name tensor t and give its shape (ndim <= 4, product = its size);
 * CORE_ERR_ARG otherwise. Local. */
core_status nn_params_name(nn_params *p, int t, const char *name, int ndim, const int64_t *shape);
/* Tensor t of the parameter / gradient block. */
float *nn_params_tensor(nn_params *p, int t);
/* Tensor t's parameters drawn from U(-bound, bound) by the stream (seed,
 * CORE_PURPOSE_NN, t): every lib/nn model's initialisation (bound
 * 1 / sqrt(fan_in), PyTorch's default for Linear and Conv2d). Local. */
void nn_params_init_uniform(nn_params *p, int t, double bound, uint64_t seed);
float *nn_params_grad(nn_params *p, int t);

typedef struct {
  double lr, beta1, beta2, eps;
} nn_adam;

/* lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 (Kingma & Ba). */
void nn_adam_default(nn_adam *opt);
/* One bias-corrected Adam step over the whole block (Kingma & Ba, Alg. 1):
 *   t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *   param -= lr (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps);
 * then the moving average, when enabled.
 * A flat loop; local. */
void nn_adam_step(nn_params *p, const nn_adam *opt);

/* ---- layers (lib/nn/layers.c) -------------------------------------------- */

typedef enum {
  NN_PAD_ZERO,     /* open boundaries: zero outside the lattice   */
  NN_PAD_CIRCULAR  /* periodic boundaries: the lattice is a torus */
} nn_padding;

/* 3x3 convolution (cross-correlation, as PyTorch), stride 1, same size:
 *   out[b,o,y,x] = bias[o] + sum_{c,dy,dx} w[o,c,dy,dx] in[b,c,y+dy-1,x+dx-1]
 * in (B, Ci, L, L), w (Co, Ci, 3, 3), bias (Co), out (B, Co, L, L).
 * Forward: im2col + GEMM; workspace nn_conv3x3_floats(Ci, L). Backward:
 * workspace 2 nn_conv3x3_floats(Ci, L); din may be NULL. */
size_t nn_conv3x3_floats(int Ci, int L);
void nn_conv3x3_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co,
                        int L, nn_padding pad, float *ws);
void nn_conv3x3_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                         int B, int Ci, int Co, int L, nn_padding pad, float *ws);

/* 1x1 convolution: out[b,o,s] = bias[o] + sum_c w[o,c] in[b,c,s], s a site;
 * in (B, Ci, S), w (Co, Ci), out (B, Co, S). No workspace. */
void nn_conv1x1_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co,
                        int S);
void nn_conv1x1_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                         int B, int Ci, int Co, int S);

/* Dense: out[b,o] = bias[o] + sum_i w[o,i] in[b,i]; in (B, Ci), w (Co, Ci),
 * out (B, Co). No workspace. */
void nn_dense_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co);
void nn_dense_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                       int B, int Ci, int Co);

/* Elementwise on n floats: relu(x) = max(x, 0); silu(x) = x sigma(x).
 * Backward gets the forward input. out may equal in; din must not alias
 * dout or in. */
void nn_relu_forward(float *out, const float *in, size_t n);
void nn_relu_backward(float *din, const float *dout, const float *in, size_t n);
void nn_silu_forward(float *out, const float *in, size_t n);
void nn_silu_backward(float *din, const float *dout, const float *in, size_t n);
/* The same SiLU keeping its derivative silu'(in) (n floats) for the
 * backward, which then reads two arrays and computes one product; and
 * WRITES din (=). What the MLP and the graph networks use. e^x is a
 * vectorised polynomial and 1/y Newton's (layers.c), not libm's. */
void nn_silu_forward_keep(float *out, float *deriv, const float *in, size_t n);
void nn_silu_backward_kept(float *din, const float *dout, const float *deriv, size_t n);

/* Residual block out = x + conv2(relu(conv1(relu(x)))), C channels, both
 * convolutions 3x3 C -> C. cache (3, B, C, L, L) holds relu(x), conv1 output
 * and its relu for the backward; workspace nn_residual_floats(B, C, L)
 * (forward and backward). */
size_t nn_residual_floats(int B, int C, int L);
void nn_residual_forward(float *out, const float *x, float *cache, const float *w1, const float *b1, const float *w2,
                         const float *b2, int B, int C, int L, nn_padding pad, float *ws);
void nn_residual_backward(float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                          const float *x, const float *cache, const float *w1, const float *w2, int B, int C, int L,
                          nn_padding pad, float *ws);

/* ---- the spin model (lib/nn/spin_model.c) -------------------------------- */

/* Network input of B instances of a 2D square lattice: channels 0..3 hold
 * the coupling of the bond to the right (x+1), left (x-1), down (y+1) and up
 * (y-1) of each site, 0 where the bond leaves an open lattice.
 * J (B, 2 L^2) float64 in spin.h layout, x (B, 4, L, L) float32. Local, pure. */
core_status nn_spin_input(const spin_lattice *lat, int64_t B, const double *J, float *x);

/* How the DNNL backend computes the forward W -> W convolutions of the
 * residual blocks and of their adjoints in backward. WINOGRAD: oneDNN's
 * F(4x4, 3x3) Winograd kernel where it has one (AVX-512 CPUs, W a multiple
 * of 16), direct elsewhere; 2.25x fewer multiplications, the same function
 * up to float32 rounding (relative 3e-7 in the nn test). DIRECT: always direct. The
 * BLAS backend and the weight gradients are always direct. */
typedef enum { NN_CONV_WINOGRAD, NN_CONV_DIRECT, NN_CONV_COUNT } nn_conv_algorithm;
extern const char *const nn_conv_algorithm_names[NN_CONV_COUNT]; /* "winograd", "direct" */

typedef struct {
  int L;          /* lattice size, >= 2 */
  nn_padding pad; /* NN_PAD_ZERO for open lattices, NN_PAD_CIRCULAR for periodic */
  int width;      /* channels W >= 1 */
  int depth;      /* even >= 0: depth / 2 residual blocks */
  int max_batch;  /* largest B forward/backward accept (the workspace is sized for it) */
  nn_conv_algorithm conv; /* 0 = NN_CONV_WINOGRAD */
} nn_spin_config;

/* Logits z (B, L, L) = conv1x1_{W->1}(relu(R_{depth/2}(... R_1(conv3x3_{4->W}(x))))).
 * Tensors, in this order (their indices key the init streams):
 *   0 w_in (W, 4, 3, 3), 1 b_in (W), then per block r: w1 (W, W, 3, 3), b1 (W),
 *   w2 (W, W, 3, 3), b2 (W), then w_out (1, W), b_out (1). */
typedef struct nn_spin_model nn_spin_model;

/* Check cfg, allocate parameters and the workspace for cfg->max_batch, and
 * initialise: weights and biases of a tensor with fan-in f ~ U(-1/sqrt f,
 * 1/sqrt f) (PyTorch's default) from the stream (seed, CORE_PURPOSE_NN,
 * tensor index), so the init is a pure function of (seed, cfg). Local. */
core_status nn_spin_model_create(const nn_spin_config *cfg, uint64_t seed, nn_spin_model **model);
void nn_spin_model_destroy(nn_spin_model **model);
nn_params *nn_spin_model_params(nn_spin_model *model);
/* x (B, 4, L, L) -> z (B, L, L); caches the activations. B > max_batch is
 * CORE_ERR_ARG (nothing is reallocated). Local. */
core_status nn_spin_model_forward(nn_spin_model *model, int B, const float *x, float *z);
/* dz (B, L, L) = dloss/dz of the last forward (same B): grad += dloss/dparams. */
core_status nn_spin_model_backward(nn_spin_model *model, int B, const float *dz);

/* Who computes the 3x3 convolutions. Both give the same function and
 * gradient up to float32 rounding; each is deterministic (same inputs and
 * B -> same bits; one thread per process). BLAS: the layer functions above
 * (im2col + OpenBLAS); the batch gradient is the per-instance gradients
 * accumulated in instance order, bit for bit. DNNL: oneDNN convolutions on
 * activations kept in its blocked layout (lib/nn/spin_dnnl.c), several
 * times fewer memory passes; the weight gradient is summed over the batch
 * inside oneDNN, so splitting a batch changes the rounding. The first
 * forward with a new B creates that B's oneDNN primitives (milliseconds). */
typedef enum { NN_BACKEND_BLAS, NN_BACKEND_DNNL } nn_backend;

/* 1 if this build can run backend b (DNNL needs oneDNN at build time). */
int nn_backend_available(nn_backend b);
/* The model's backend: after create, DNNL when available and the width is
 * a multiple of 16 (oneDNN's fast kernels), else BLAS. */
nn_backend nn_spin_model_backend(const nn_spin_model *model);
/* Switch to backend b, reallocating the workspace; parameters, gradients
 * and Adam state are untouched; the next backward needs a new forward.
 * CORE_ERR_UNSUPPORTED if this build lacks b. Local. */
core_status nn_spin_model_set_backend(nn_spin_model *model, nn_backend b);
/* The algorithm the model's W -> W convolutions run: cfg.conv where oneDNN
 * has it on this CPU for this shape (decided when the backend is set up),
 * DIRECT under BLAS and where it has no Winograd kernel. Local. */
nn_conv_algorithm nn_spin_model_conv_in_use(const nn_spin_model *model);

/* ---- the model table (lib/nn/model.c) ------------------------------------- */

/* What a forward pass reads. Every model reads B and x; the fields a model
 * has no use for stay NULL (graph networks of molecules of several sizes,
 * concatenated: natoms, h, t). */
typedef struct {
  int B;                  /* examples, 1..max_batch */
  const float *x;         /* spin: (B, 4, L, L); mlp: (B, s_0) */
  const int64_t *natoms;  /* atoms of each example (B), when examples differ in size */
  const float *h;         /* per-atom features, (sum natoms, F) */
  const float *t;         /* per-example time or noise level (B) */
  int inference;          /* 1: no backward follows (sampling): a model may keep nothing for one, and a
                             backward after it is refused */
} nn_input;

/* An architecture: one file of lib/nn and one row of nn_model_types.
 * create(config, seed, &model): config is the architecture's own struct
 * (nn_spin_config, nn_mlp_config); the init is a pure function of (seed,
 * config). params: the one parameter block (nn.h's layout). forward(in, y)
 * caches what backward(dy) needs; backward accumulates into the gradients
 * (same B). All local; forward and backward allocate nothing. */
typedef struct nn_model nn_model;
typedef struct {
  const char *name; /* "spin", "mlp" */
  core_status (*create)(const void *config, uint64_t seed, nn_model **model);
  nn_params *(*params)(nn_model *model);
  core_status (*forward)(nn_model *model, const nn_input *in, float *y);
  core_status (*backward)(nn_model *model, int B, const float *dy);
  void (*destroy)(nn_model *model);
} nn_model_type;
/* Every model's struct starts with this, so an nn_model * is its model. */
struct nn_model {
  const nn_model_type *type;
};

extern const nn_model_type *const nn_model_types[];
extern const int nn_model_type_count;
/* The architecture `name` (CORE_ERR_ARG naming the known ones otherwise)
 * built from its config. */
core_status nn_model_create(const char *name, const void *config, uint64_t seed, nn_model **model);
nn_params *nn_model_params(nn_model *model);
core_status nn_model_forward(nn_model *model, const nn_input *in, float *y);
core_status nn_model_backward(nn_model *model, int B, const float *dy);
/* Accepts NULL and *model == NULL; sets *model = NULL. */
void nn_model_destroy(nn_model **model);
/* The typed model behind model, or NULL when it is another architecture. */
nn_spin_model *nn_model_spin(nn_model *model);

/* ---- the multilayer perceptron (lib/nn/mlp.c) ------------------------------ */

enum { NN_MLP_MAX_LAYERS = 8 };

typedef struct {
  int n_layers;       /* dense layers, 1..NN_MLP_MAX_LAYERS */
  const int *sizes;   /* (n_layers + 1): input, hidden..., output widths */
  int max_batch;      /* largest B forward/backward accept */
} nn_mlp_config;

/* y (B, s_n) = dense_n(silu(... silu(dense_1(x)))), x (B, s_0): SiLU
 * between layers, none on the output. Tensors w_l (s_l, s_{l-1}), b_l (s_l)
 * in layer order; init U(+-1/sqrt fan_in) from (seed, CORE_PURPOSE_NN,
 * tensor index). Local; allocates nothing after create; backward
 * accumulates into the parameter gradients (x gets none: it is data). */
typedef struct nn_mlp nn_mlp;
core_status nn_mlp_create(const nn_mlp_config *cfg, uint64_t seed, nn_mlp **mlp);
void nn_mlp_destroy(nn_mlp **mlp);
nn_params *nn_mlp_params(nn_mlp *mlp);
core_status nn_mlp_forward(nn_mlp *mlp, int B, const float *x, float *y);
core_status nn_mlp_backward(nn_mlp *mlp, int B, const float *dy);

/* ---- GDM, EDM's graph network of molecules (lib/nn/gdm.c) ------------------ */

typedef struct {
  int features;      /* F: per-atom features after the 3 coordinates (atom types) */
  int width;         /* H, hidden features */
  int layers;        /* message-passing layers (EDM's GCL) */
  double norm;       /* the aggregation's normalisation factor (EDM: 1) */
  int max_atoms;     /* most atoms in one forward (all molecules together) */
  int64_t max_pairs; /* most ordered pairs sum n_b^2 in one forward */
} nn_gdm_config;

/* eps_hat (sum n_b, 3 + F) from nn_input x (sum n_b, 3 + F) rows of
 * [coordinates, features], natoms (B) and t (B, the time t / T): EDM's
 * non-equivariant GNN on each molecule's complete graph (lib/nn/gdm.c has
 * the equations); the coordinate part centred per molecule. Molecules of
 * any sizes are concatenated, not padded. Tensors in the order
 * embedding.weight (H, 4 + F), embedding.bias, then per layer l
 * gcl_l.edge_mlp.0.weight (H, 2H), .0.bias, .2.weight (H, H), .2.bias,
 * gcl_l.node_mlp.0.weight (H, 2H), .0.bias, .2.weight (H, H), .2.bias, then
 * embedding_out.weight (3 + F, H), .bias; init as every lib/nn model. Local. */
typedef struct nn_gdm nn_gdm;
core_status nn_gdm_create(const nn_gdm_config *cfg, uint64_t seed, nn_gdm **gdm);
void nn_gdm_destroy(nn_gdm **gdm);
nn_params *nn_gdm_params(nn_gdm *gdm);
core_status nn_gdm_forward(nn_gdm *gdm, const nn_input *in, float *y);
core_status nn_gdm_backward(nn_gdm *gdm, int B, const float *dy);

/* ---- EGNN, EDM's E(n)-equivariant network of molecules (lib/nn/egnn.c) ---- */

typedef struct {
  int features;        /* F: per-atom features after the 3 coordinates (atom types) */
  int width;           /* H, hidden features */
  int layers;          /* equivariant blocks (EDM's n_layers), one GCL each */
  double norm;         /* the aggregation's normalisation factor (EDM: 1) */
  double coords_range; /* R, the largest step of a coordinate update per pair (EDM: 15) */
  int max_atoms;       /* most atoms in one forward (all molecules together) */
  int64_t max_pairs;   /* most ordered pairs sum n_b (n_b - 1) in one forward */
} nn_egnn_config;

/* eps_hat (sum n_b, 3 + F) from nn_input x (sum n_b, 3 + F), natoms and t,
 * as nn_gdm_forward, by EDM's EGNN (lib/nn/egnn.c has the equations): the
 * coordinate part rotates with the input positions and ignores their
 * translation, the feature part is invariant under both. Tensors in the
 * order embedding.weight (H, F + 1), .bias, then per block l, prefixed
 * e_block_l.: gcl_0.edge_mlp.0.weight (H, 2H + 2), .0.bias, .2.weight
 * (H, H), .2.bias, gcl_0.node_mlp.0.weight (H, 2H), .0.bias, .2.weight
 * (H, H), .2.bias, gcl_0.att_mlp.0.weight (1, H), .0.bias (1),
 * gcl_equiv.coord_mlp.0.weight (H, 2H + 2), .0.bias, .2.weight (H, H),
 * .2.bias, .4.weight (1, H); then embedding_out.weight (F, H), .bias.
 * Local. */
typedef struct nn_egnn nn_egnn;
core_status nn_egnn_create(const nn_egnn_config *cfg, uint64_t seed, nn_egnn **egnn);
void nn_egnn_destroy(nn_egnn **egnn);
nn_params *nn_egnn_params(nn_egnn *egnn);
core_status nn_egnn_forward(nn_egnn *egnn, const nn_input *in, float *y);
core_status nn_egnn_backward(nn_egnn *egnn, int B, const float *dy);

/* The rows of nn_model_types (lib/nn/spin_model.c, mlp.c, gdm.c, egnn.c). */
extern const nn_model_type nn_spin_model_type, nn_mlp_type, nn_gdm_type, nn_egnn_type;

#ifdef __cplusplus
}
#endif
#endif
