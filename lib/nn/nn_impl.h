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

#endif
