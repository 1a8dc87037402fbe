/* eloss sample: molecules from a diffusion model of eloss train -task
 * diffusion (lib/train/diffusion_task.c), scored by EDM's stability.
 *
 *   mpirun -n 2 eloss sample -model m.ckpt -n 1000 -seed 1 -out gen.xyz
 *
 * Prints molecules=N atoms=A atom_stability=... mol_stability=...; the XYZ
 * file is the same bytes on any number of ranks. SIGTERM, SIGINT or
 * SIGUSR1: the round in progress is abandoned, the finished molecules are
 * checkpointed in <out>.ckpt, exit code 3; -resume continues to the same
 * file. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/train.h"

static const char help[] =
    "eloss sample: generate molecules with a diffusion model of eloss train -task diffusion (EDM's ancestral\n"
    "sampler): each molecule's atom count from the training set's histogram, its noise from (-seed, its index),\n"
    "its atom types the argmax of the generated features. Writes a multi-frame XYZ (-out) and prints EDM's atom\n"
    "and molecule stability of the samples (eloss molcheck's). Molecules are spread over the ranks in chunks of\n"
    "-chunk; the file does not depend on the number of ranks. The finished molecules are checkpointed in\n"
    "<out>.ckpt; SIGTERM checkpoints and exits with code 3; -resume continues to the same file.\n";

typedef struct {
  char model[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN];
  PetscInt n, seed, chunk;
  PetscReal checkpoint_seconds;
  PetscBool force, resume;
} sample_args;

static PetscErrorCode sample_options(void *opts) {
  sample_args *a = opts;
  a->n = 100, a->chunk = 16, a->checkpoint_seconds = 60.0;
  PetscBool set, model_set, out_set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss sample options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-model", "diffusion model file of eloss train -task diffusion, required", "a file name",
                           a->model, sizeof a->model, &model_set));
  PetscCall(app_opt_int(po, "-n", "molecules to generate (rank 0 holds them all: about 1 kB each)", 1, 1000000, &a->n,
                        &set));
  PetscCall(app_opt_int(po, "-seed", "seed: molecule j's atom count and noise are a function of (seed, j)", 0,
                        PETSC_MAX_INT, &a->seed, &set));
  PetscCall(app_opt_int(po, "-chunk", "molecules per forward pass and rank (the file does not depend on the rank "
                        "count; -chunk is part of a checkpoint's identity)", 1, 4096, &a->chunk, &set));
  PetscCall(app_opt_string(po, "-out", "the generated molecules (multi-frame XYZ), required", "a file name", a->out,
                           sizeof a->out, &out_set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &a->checkpoint_seconds, &set));
  PetscCall(app_opt_bool(po, "-resume", "continue the interrupted run from <out>.ckpt (refused when there is none)",
                         &a->resume, &set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing finished -out, or discard an interrupted run's checkpoint",
                         &a->force, &set));
  PetscOptionsEnd();
  if (!model_set) app_option_error("-model", "required: a model file of eloss train -task diffusion");
  if (!out_set) app_option_error("-out", "required: the XYZ file to write");
  if (a->resume && a->force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  const char *inputs[] = {a->model};
  app_output_not_input("-out", a->out, inputs, 1);
  app_output_name("-out", a->out);
  return 0;
}

static int sample_main(void *opts) {
  const sample_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  train_sample_report r;
  const train_sample_options o = {.model = a->model, .count = a->n, .seed = (uint64_t)a->seed, .chunk = (int)a->chunk,
                                  .out = a->out, .resume = a->resume, .force = a->force,
                                  .checkpoint_seconds = a->checkpoint_seconds};
  core_status st = train_diffusion_sample(MPI_COMM_WORLD, &o, &app_stop_requested, rank == 0 ? stderr : NULL, &r);
  if (st == CORE_ERR_STOPPED && r.interrupted)
    return app_stopped("sample", "after %lld of %lld molecules, checkpoint written", (long long)r.done,
                       (long long)a->n);
  if (st) return app_report("sample", st);
  if (rank == 0)
    printf("molecules=%lld atoms=%lld atom_stability=%.6g mol_stability=%.6g seconds=%.2f molecules_per_s=%.4g out=%s\n",
           (long long)r.molecules, (long long)r.atoms, r.atom_stability, r.molecule_stability, r.seconds,
           (double)r.molecules / (r.seconds > 0 ? r.seconds : 1e-9), a->out);
  return 0;
}

const app_command app_sample_command = {
    .name = "sample",
    .summary = "generate molecules with a diffusion model of train -task diffusion; EDM's stability",
    .help = help,
    .long_running = 1,
    .size = sizeof(sample_args),
    .options = sample_options,
    .run = sample_main,
};
