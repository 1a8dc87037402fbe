/* The parameter block of lib/nn models and the Adam optimizer.
 *
 * nn_params_create(n_tensors, sizes, &p): local; allocates the four
 *   contiguous float32 blocks param, grad, m, v, each (n) with n = sum of
 *   sizes, zeroed, and the offset table (tensor t starts at the sum of the
 *   sizes before it). Owned by the caller; nn_params_destroy frees them.
 * nn_params_zero_grad(p), nn_adam_step(p, opt): flat loops over the block,
 *   local, allocate nothing.
 *
 * Why one block per quantity (karpathy/llm.c, train_gpt2.c): a
 * data-parallel step reduces the gradient with one MPI_Allreduce of n
 * floats, the optimizer is one loop that knows nothing of layers, and a
 * checkpoint writes four arrays. Layers see their tensors through the
 * offsets only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"

core_status nn_params_create(int n_tensors, const size_t *sizes, nn_params **out) {
  CORE_CHECK(out != NULL, CORE_ERR_ARG, "nn_params_create: out is NULL");
  *out = NULL;
  CORE_CHECK(n_tensors >= 1 && sizes != NULL, CORE_ERR_ARG, "nn_params_create: %d tensors, expected >= 1",
             n_tensors);
  size_t n = 0;
  for (int t = 0; t < n_tensors; ++t) {
    CORE_CHECK(sizes[t] >= 1, CORE_ERR_ARG, "nn_params_create: tensor %d has size 0", t);
    n += sizes[t];
  }
  nn_params *p = calloc(1, sizeof *p);
  if (p) {
    p->offset = malloc(sizeof(size_t) * (size_t)n_tensors);
    p->size = malloc(sizeof(size_t) * (size_t)n_tensors);
    p->param = calloc(4 * n, sizeof(float)); /* param | grad | m | v */
    p->info = calloc((size_t)n_tensors, sizeof *p->info);
  }
  if (!p || !p->offset || !p->size || !p->param || !p->info) {
    if (p) {
      free(p->offset);
      free(p->size);
      free(p->param);
      free(p->info);
    }
    free(p);
    return CORE_ERROR(CORE_ERR_MEM, "nn_params_create: cannot allocate 4 x %zu floats", n);
  }
  p->n = n;
  p->n_tensors = n_tensors;
  p->grad = p->param + n;
  p->m = p->param + 2 * n;
  p->v = p->param + 3 * n;
  size_t off = 0;
  for (int t = 0; t < n_tensors; ++t) {
    p->offset[t] = off;
    p->size[t] = sizes[t];
    snprintf(p->info[t].name, sizeof p->info[t].name, "t%d", t);
    p->info[t].ndim = 1, p->info[t].shape[0] = (int64_t)sizes[t], p->info[t].offset = (int64_t)off;
    off += sizes[t];
  }
  *out = p;
  return CORE_OK;
}

void nn_params_destroy(nn_params **pp) {
  if (!pp || !*pp) return;
  free((*pp)->offset);
  free((*pp)->size);
  free((*pp)->param);
  free((*pp)->info);
  free((*pp)->ema);
  free(*pp);
  *pp = NULL;
}

void nn_params_zero_grad(nn_params *p) { memset(p->grad, 0, sizeof(float) * p->n); }

core_status nn_params_enable_ema(nn_params *p, double decay) {
  CORE_CHECK(decay > 0 && decay < 1, CORE_ERR_ARG, "nn_params_enable_ema: decay %g, expected 0 < decay < 1", decay);
  if (!p->ema) p->ema = malloc(sizeof(float) * (p->n ? p->n : 1));
  CORE_CHECK(p->ema != NULL, CORE_ERR_MEM, "nn_params_enable_ema: cannot allocate %zu floats", p->n);
  memcpy(p->ema, p->param, sizeof(float) * p->n);
  p->ema_decay = decay;
  return CORE_OK;
}

core_status nn_params_name(nn_params *p, int t, const char *name, int ndim, const int64_t *shape) {
  CORE_CHECK(t >= 0 && t < p->n_tensors && ndim >= 1 && ndim <= NN_TENSOR_NDIM_MAX && name &&
                 strlen(name) < NN_TENSOR_NAME_BYTES,
             CORE_ERR_ARG, "nn_params_name: tensor %d of %d, ndim %d, name '%s'", t, p->n_tensors, ndim,
             name ? name : "");
  int64_t count = 1;
  for (int k = 0; k < ndim; ++k) count *= shape[k];
  CORE_CHECK(count == (int64_t)p->size[t], CORE_ERR_ARG, "nn_params_name: %s has %lld values, tensor %d holds %zu",
             name, (long long)count, t, p->size[t]);
  nn_tensor_info *info = &p->info[t];
  snprintf(info->name, sizeof info->name, "%s", name);
  info->ndim = ndim;
  for (int k = 0; k < NN_TENSOR_NDIM_MAX; ++k) info->shape[k] = k < ndim ? shape[k] : 0;
  return CORE_OK;
}

float *nn_params_tensor(nn_params *p, int t) { return p->param + p->offset[t]; }

void nn_params_init_uniform(nn_params *p, int t, double bound, uint64_t seed) {
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_NN, (uint64_t)t);
  float *w = nn_params_tensor(p, t);
  for (size_t i = 0; i < p->size[t]; ++i) w[i] = (float)(bound * (2.0 * core_rng_uniform(&rng) - 1.0));
}
float *nn_params_grad(nn_params *p, int t) { return p->grad + p->offset[t]; }

void nn_adam_default(nn_adam *opt) {
  opt->lr = 1e-3;
  opt->beta1 = 0.9;
  opt->beta2 = 0.999;
  opt->eps = 1e-8;
}

void nn_adam_step(nn_params *p, const nn_adam *opt) {
  p->step += 1;
  /* The bias corrections 1 - beta^t, in double once per step. */
  const double c1 = 1.0 - pow(opt->beta1, (double)p->step);
  const double c2 = 1.0 - pow(opt->beta2, (double)p->step);
  const float b1 = (float)opt->beta1, b2 = (float)opt->beta2;
  const float lr1 = (float)(opt->lr / c1), inv_c2 = (float)(1.0 / c2), eps = (float)opt->eps;
  float *restrict w = p->param, *restrict m = p->m, *restrict v = p->v;
  const float *restrict g = p->grad;
  for (size_t i = 0; i < p->n; ++i) {
    m[i] = b1 * m[i] + (1.0f - b1) * g[i];
    v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    w[i] -= lr1 * m[i] / (sqrtf(v[i] * inv_c2) + eps);
  }
  if (p->ema) {
    /* The decay warms up as min(decay, (1 + t) / (10 + t)) (TensorFlow's
     * ExponentialMovingAverage with num_updates): with a fixed 0.999 the
     * average of a 200-step run would still be 82 % initial weights. */
    const double warm = (1.0 + (double)p->step) / (10.0 + (double)p->step);
    const float d = (float)(p->ema_decay < warm ? p->ema_decay : warm), e = 1.0f - d;
    for (size_t i = 0; i < p->n; ++i) p->ema[i] = d * p->ema[i] + e * w[i];
  }
}
