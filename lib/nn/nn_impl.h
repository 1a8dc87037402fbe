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

/* The oneDNN path of the spin model (lib/nn/spin_dnnl.c), compiled when the
 * build found oneDNN (ELOSS_HAVE_DNNL); otherwise create returns
 * CORE_ERR_UNSUPPORTED. It owns its activations (sized for cfg->max_batch)
 * and the oneDNN primitives; parameters and gradients stay in the model's
 * nn_params block, in the layout nn.h documents. Local. */
typedef struct nn_spin_dnnl nn_spin_dnnl;
core_status nn_spin_dnnl_create(const nn_spin_config *cfg, nn_spin_dnnl **d);
void nn_spin_dnnl_destroy(nn_spin_dnnl **d);
core_status nn_spin_dnnl_forward(nn_spin_dnnl *d, const nn_spin_tensors *w, int B, const float *x, float *z);
core_status nn_spin_dnnl_backward(nn_spin_dnnl *d, const nn_spin_tensors *w, const nn_spin_tensors *g, int B,
                                  const float *dz);
int nn_spin_dnnl_winograd(const nn_spin_dnnl *d);
int nn_spin_dnnl_block(int width);

#endif
