/* Internals shared by the files of lib/nn (not installed). */
#ifndef ELOSS_NN_IMPL_H
#define ELOSS_NN_IMPL_H

#include "eloss/nn.h"

/* The spin model's tensors by name, as views into one block of its
 * nn_params (the parameters, or their gradients): llm.c's
 * ParameterTensors. spin_model.c builds them from the one table of the
 * layout (spin_tensor_spec); both backends compute through them. */
typedef struct {
  float *w1, *b1, *w2, *b2; /* conv1 (W, W, 3, 3), (W); conv2 the same */
} nn_spin_block_tensors;
typedef struct {
  float *w_in, *b_in;              /* (W, 4, 3, 3), (W) */
  nn_spin_block_tensors *block;    /* (depth / 2) residual blocks */
  float *w_out, *b_out;            /* (1, W), (1) */
} nn_spin_tensors;

/* The spin model's one definition, as stages that a backend implements
 * and spin_model.c runs in order:
 *   forward:  begin, input (h_0 = conv3x3_{4->W}(x)), block r = 0 .. R-1
 *             (h_{r+1} = h_r + conv2(relu(conv1(relu(h_r))))), output
 *             (z = conv1x1_{W->1}(relu(h_R))), end;
 *   backward: begin, output_backward, block_backward r = R-1 .. 0,
 *             input_backward, end.
 * A stage reads the parameters through the views w and accumulates into
 * the gradient views g; what a backward stage needs its forward stage
 * keeps in the backend's state. end runs whatever a stage returned. */
typedef struct {
  core_status (*begin)(void *state, int B);
  core_status (*input)(void *state, int B, const float *x, const nn_spin_tensors *w);
  core_status (*block)(void *state, int B, int r, const nn_spin_block_tensors *w);
  core_status (*output)(void *state, int B, const nn_spin_tensors *w, float *z);
  core_status (*output_backward)(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *g,
                                 const float *dz);
  core_status (*block_backward)(void *state, int B, int r, const nn_spin_block_tensors *w,
                                const nn_spin_block_tensors *g);
  core_status (*input_backward)(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *g);
  void (*end)(void *state);
} nn_spin_stages;

/* The oneDNN path of the spin model (lib/nn/spin_dnnl.c), compiled when the
 * build found oneDNN (ELOSS_HAVE_DNNL); otherwise create returns
 * CORE_ERR_UNSUPPORTED. It owns its activations (sized for cfg->max_batch)
 * and the oneDNN primitives; parameters and gradients stay in the model's
 * nn_params block, in the layout nn.h documents. Local. */
typedef struct nn_spin_dnnl nn_spin_dnnl;
core_status nn_spin_dnnl_create(const nn_spin_config *cfg, nn_spin_dnnl **d);
void nn_spin_dnnl_destroy(nn_spin_dnnl **d);
/* Its stages, with state an nn_spin_dnnl. */
extern const nn_spin_stages nn_spin_dnnl_stages;
int nn_spin_dnnl_winograd(const nn_spin_dnnl *d);
int nn_spin_dnnl_block(int width);

/* ---- graph networks of molecules (graph.c; used by gdm.c and egnn.c) ---- */

/* C (M, N) = alpha op(A) op(B) + beta C, row-major, on one thread. */
void nn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc);
/* out (rows, H) = in (rows, K) w^T, w's rows of stride ldw, + bias (or 0
 * when bias is NULL). */
void nn_gemm_wt(float *out, const float *in, int rows, int K, const float *w, int ldw, const float *bias, int H);
/* dw (H rows of stride ldw, K columns) += dout (rows, H)^T in (rows, K). */
void nn_gemm_grad(float *dw, int ldw, const float *dout, int rows, int H, const float *in, int K);
/* din (rows, K) += dout (rows, H) w (H, K), w's rows of stride ldw. */
void nn_gemm_back(float *din, const float *dout, int rows, int H, const float *w, int ldw, int K);
/* Rows y (sum natoms, d) of B molecules: the first 3 columns centred per
 * molecule (EDM's remove_mean; a projection, so also its own adjoint). */
void nn_center_positions(float *y, int d, int B, const int64_t *natoms);
/* db (H) += the column sums of dout (rows, H), row by row. */
void nn_bias_grad(float *db, const float *dout, int64_t rows, int H);

/* The ordered atom pairs (i, j) of B molecules concatenated: molecule b's
 * atoms are rows first_b .. first_b + n_b - 1, its pairs every (i, j) of
 * them with i = j when `self` (EDM's GNN) or without (EDM's EGNN, whose
 * edge mask drops the diagonal), grouped by i and then j ascending, so
 * atom a's pairs are rows row[a] .. row[a + 1] - 1. */
typedef struct {
  int atoms;
  int64_t pairs;
  int32_t *i, *j; /* (max pairs) */
  int64_t *row;   /* (max atoms + 1) */
} nn_pairs;
core_status nn_pairs_alloc(nn_pairs *P, int max_atoms, int64_t max_pairs);
void nn_pairs_free(nn_pairs *P);
/* sum_b n_b^2 (self) or n_b (n_b - 1). */
int64_t nn_pairs_count(int B, const int64_t *natoms, int self);
/* Fills P (sized by nn_pairs_alloc for at least these atoms and pairs). */
void nn_pairs_build(nn_pairs *P, int B, const int64_t *natoms, int self);
/* out_a (row a of stride ldo, H columns) = scale sum over a's pairs p of
 * in_p (in (pairs, H)): EDM's unsorted_segment_sum / normalization_factor. */
void nn_pairs_sum(const nn_pairs *P, int H, const float *in, float scale, float *out, int ldo);
/* Its adjoint: out_p = scale din_a for every pair p of atom a. */
void nn_pairs_spread(const nn_pairs *P, int H, const float *din, int ldd, float scale, float *out);

/* EDM's two-layer edge MLP on every pair, with its first layer split as
 * W [h_i, h_j, e_p] + b = A_i + B_j + W_e e_p (A = h W_a^T + b and
 * B = h W_b^T over the atoms: two GEMMs instead of one per pair):
 *   u_p = A_i + B_j + sum_k e_pk W_e[:, k],  m_p = silu(W2 silu(u_p) + b2).
 * E edge attributes per pair (attr (pairs, E)), or none (E = 0). */
typedef struct {
  int H, E;
  const float *we; /* (E, H): W_e's columns, each contiguous */
  const float *w2, *b2;
} nn_pair_mlp;
/* What its backward needs, (pairs, H) each: silu'(u), s1 = silu(u),
 * silu'(v) for v = W2 s1 + b2, and the output m. */
typedef struct {
  float *d1, *s1, *d2, *m;
} nn_pair_mlp_cache;
/* m into the cache, returned; `work` (pairs, H) is scratch. With infer (no
 * backward follows) only m is written. */
float *nn_pair_mlp_forward(const nn_pair_mlp *f, const nn_pairs *P, const float *A, const float *Bn,
                           const float *attr, const nn_pair_mlp_cache *c, float *work, int infer);
/* From dm (pairs, H; destroyed): gw2, gb2 and, with gwe (E, H), the W_e
 * columns' gradients accumulated; dattr (pairs, E) += when not NULL;
 * dA, dB (atoms, H) = dL/dA, dL/dB written (dL/db of the first layer is
 * the column sum of dA). attr as in the forward; work (pairs, H) scratch. */
void nn_pair_mlp_backward(const nn_pair_mlp *f, const nn_pairs *P, const float *attr, const nn_pair_mlp_cache *c,
                          float *dm, float *work, float *dA, float *dB, float *gw2, float *gb2, float *gwe,
                          float *dattr);

#endif
