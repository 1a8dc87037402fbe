/* A trained model opened for evaluation: its task built again from the
 * typed record of its file (train_model_arch), then its parameters
 * loaded. What `eloss eval` and a C caller need, with no text parsed. */
#include <string.h>

#include "eloss/train.h"

static core_status open_spin(MPI_Comm comm, const train_model_meta *meta, const char *test, int shard_size, int conv,
                             train_task **task) {
  const train_model_arch *a = &meta->arch;
  train_spin_options o;
  train_spin_options_default(&o);
  o.kind = (spin_lattice_kind)a->lattice, o.bc = (spin_boundary)a->bc, o.L = a->L;
  o.width = a->width, o.depth = a->depth;
  o.test = test, o.shard_size = shard_size;
  o.conv = (nn_conv_algorithm)(conv >= 0 ? conv : meta->conv);
  return train_spin_task_create(comm, &o, task);
}

static core_status open_denoise(MPI_Comm comm, const train_model_meta *meta, const char *test, int shard_size,
                                train_task **task) {
  const train_model_arch *a = &meta->arch;
  train_denoise_options o;
  train_denoise_options_default(&o);
  o.width = a->width, o.atoms = a->atoms, o.data_kind = a->data_kind, o.n_levels = a->n_levels;
  memcpy(o.levels, a->levels, sizeof o.levels);
  o.test = test, o.shard_size = shard_size;
  return train_denoise_task_create(comm, &o, task);
}

core_status train_model_open(MPI_Comm comm, const char *path, const char *test, int shard_size, int conv,
                             train_task **task, train_model_meta *meta) {
  /* Every rank reads the model file itself (small, read-only): its checks
   * are local, so the ranks agree on them. */
  char config[TRAIN_CONFIG_BYTES];
  *task = NULL;
  core_status st = core_agree(comm, train_model_info(path, config, meta));
  if (st) return st;
  if (meta->kind == TRAIN_TASK_SHAPES)
    return CORE_ERROR(CORE_ERR_ARG, "%s is a shapes model: eloss shapes evaluates its own models", path);
  if (meta->kind == TRAIN_TASK_DIFFUSION)
    return CORE_ERROR(CORE_ERR_ARG, "%s is a diffusion model: its test metrics are those eloss train prints "
                      "(-eval_every)", path);
  if (shard_size <= 0) shard_size = (int)meta->shard_size;
  st = meta->kind == TRAIN_TASK_SPIN ? open_spin(comm, meta, test, shard_size, conv, task)
                                     : open_denoise(comm, meta, test, shard_size, task);
  /* The task's config line comes from the model's record and the test set
   * (data kind, atom count): it must be the model's, or the test set is
   * of another kind. */
  if (!st && strcmp((*task)->config, config) != 0)
    st = CORE_ERROR(CORE_ERR_ARG, "%s is not data of the kind %s was trained on (model: %s; test set: %s)", test,
                    path, config, (*task)->config);
  if (!st) st = core_agree(comm, train_model_load(path, config, (*task)->params, meta));
  if (st) train_task_destroy(task);
  return st;
}
