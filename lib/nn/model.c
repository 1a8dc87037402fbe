/* The model table: one row per architecture of lib/nn. A new network is
 * its file (with its nn_model_type) and one line here. */
#include <string.h>

#include "eloss/nn.h"

const nn_model_type *const nn_model_types[] = {&nn_spin_model_type, &nn_mlp_type, &nn_gdm_type, &nn_egnn_type};
const int nn_model_type_count = sizeof nn_model_types / sizeof nn_model_types[0];

core_status nn_model_create(const char *name, const void *config, uint64_t seed, nn_model **model) {
  CORE_CHECK(model && config && name, CORE_ERR_ARG, "nn_model_create: NULL argument");
  *model = NULL;
  for (int k = 0; k < nn_model_type_count; ++k)
    if (!strcmp(nn_model_types[k]->name, name)) return nn_model_types[k]->create(config, seed, model);
  return CORE_ERROR(CORE_ERR_ARG, "nn_model_create: no architecture '%s' (known: spin, mlp, gdm, egnn)", name);
}

nn_params *nn_model_params(nn_model *m) { return m->type->params(m); }

core_status nn_model_forward(nn_model *m, const nn_input *in, float *y) {
  CORE_CHECK(m && in, CORE_ERR_ARG, "nn_model_forward: NULL argument");
  return m->type->forward(m, in, y);
}

core_status nn_model_backward(nn_model *m, int B, const float *dy) {
  CORE_CHECK(m != NULL, CORE_ERR_ARG, "nn_model_backward: NULL model");
  return m->type->backward(m, B, dy);
}

void nn_model_destroy(nn_model **m) {
  if (!m || !*m) return;
  (*m)->type->destroy(*m);
  *m = NULL;
}

nn_spin_model *nn_model_spin(nn_model *m) {
  return m && m->type == &nn_spin_model_type ? (nn_spin_model *)m : NULL;
}
