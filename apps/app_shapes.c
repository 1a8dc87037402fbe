#define _POSIX_C_SOURCE 200809L
/* eloss shapes: the paper's regular-shape experiment (Sec. 6.1, App. C.1):
 * train the MLP r -> N vertices with one loss, evaluate fresh radii.
 *
 *   mpirun -n 2 eloss shapes -loss energy -vertices 9 -aug_angle 3.14159 \
 *          -samples 20000 -epochs 20 -seed 1 [-out shapes.csv]
 *
 * Prints quality=<mean> err=<standard error> over -test fresh radii. The
 * training runs through lib/train (bit-identical for any rank count
 * dividing -shards); it is short, so it keeps no checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/train.h"

static const char help[] =
    "eloss shapes: from a radius r, predict the N vertices of a regular polygon of radius r\n"
    "(paper Sec. 6.1). Training targets are rotated by an angle ~ U[-aug_angle, aug_angle];\n"
    "radii ~ U[0.3, 5] (the paper prints U[03, 5]). Model: MLP {1, 64, 64, 2N} with SiLU, Adam.\n"
    "Losses: mse, energy (Eq. 7, exp_dist coefficients, all pairs), kabsch (MSE after the best\n"
    "rotation), sparse (energy on random 4-regular graphs redrawn every step). Quality (App. C.1):\n"
    "-ln(sigma_gap / 2 pi + sigma_radius / r) about the predicted shape's own centroid.\n";

typedef struct {
  train_shapes_options so;
  PetscInt loss, vertices, samples, epochs, batch, shards, hidden, seed, test, eval_every;
  PetscReal aug, lr;
  PetscBool out_set, metrics_set, force;
  char out[PETSC_MAX_PATH_LEN], metrics[PETSC_MAX_PATH_LEN];
} shapes_args;

static PetscErrorCode read_options(shapes_args *a, PetscBool *eval_every_set) {
  train_shapes_options_default(&a->so);
  a->loss = a->so.loss, a->vertices = a->so.vertices, a->samples = a->so.samples, a->hidden = a->so.hidden;
  a->epochs = 20, a->batch = 128, a->shards = 4, a->test = 1000, a->lr = 1e-3;
  PetscBool set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss shapes options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-loss", "loss", atoms_preset_names, ATOMS_PRESET_COUNT, &a->loss, &set));
  PetscCall(app_opt_int(po, "-vertices", "N, vertices of the polygon", 3, 1024, &a->vertices, &set));
  PetscCall(app_opt_real(po, "-aug_angle", "targets rotated by U[-A, A], radians (pi = 3.14159...)", 0, 2 * CORE_PI,
                         0, &a->aug, &set));
  PetscCall(app_opt_int(po, "-samples", "training samples", 1, PETSC_MAX_INT, &a->samples, &set));
  PetscCall(app_opt_int(po, "-epochs", "passes over the samples", 1, 100000, &a->epochs, &set));
  PetscCall(app_opt_int(po, "-batch", "samples per step", 1, 65536, &a->batch, &set));
  PetscCall(app_opt_int(po, "-shards", "micro-shards per batch; the rank count must divide it", 1, 4096, &a->shards,
                        &set));
  PetscCall(app_opt_int(po, "-hidden", "width of the two hidden layers", 1, 65536, &a->hidden, &set));
  PetscCall(app_opt_real(po, "-lr", "Adam learning rate", 0, 10, 1, &a->lr, &set));
  PetscCall(app_opt_int(po, "-seed", "seed of the data and the initial weights", 0, PETSC_MAX_INT, &a->seed, &set));
  PetscCall(app_opt_int(po, "-test", "fresh radii to evaluate (2 at least: the standard error)", 2, 10000000,
                        &a->test, &set));
  PetscCall(app_opt_int(po, "-eval_every", "test quality every this many steps into -metrics (0: at the end)", 0,
                        PETSC_MAX_INT, &a->eval_every, eval_every_set));
  PetscCall(app_opt_string(po, "-metrics", "JSON lines of step, loss and test quality", "a file name", a->metrics,
                           sizeof a->metrics, &a->metrics_set));
  PetscCall(app_opt_string(po, "-out", "CSV of the predicted test shapes", "a file name", a->out, sizeof a->out,
                           &a->out_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -out or -metrics", &a->force, &set));
  PetscOptionsEnd();
  return 0;
}

static PetscErrorCode shapes_options(void *opts) {
  shapes_args *a = opts;
  PetscBool eval_every_set = PETSC_FALSE;
  PetscCall(read_options(a, &eval_every_set));
  if (a->batch % a->shards) app_option_error("-batch", "expected a multiple of -shards %d", (int)a->shards);
  if (atoms_preset_table[a->loss].redrawn && a->vertices < 5)
    app_option_error("-vertices", "-loss sparse draws 4-regular graphs, which need at least 5 vertices");
  if (a->out_set && a->metrics_set && !strcmp(a->out, a->metrics)) app_option_error("-metrics", "is the -out file");
  if (eval_every_set && !a->metrics_set)
    app_option_error("-eval_every", "writes into -metrics: give -metrics FILE too (the end's quality is printed anyway)");
  if (a->batch > a->samples)
    app_option_error("-batch", "%d is larger than the %d training samples (-samples)", (int)a->batch,
                     (int)a->samples);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (a->shards % size)
    app_option_error("-shards", "%d ranks do not divide it: run on a divisor of %d ranks", size, (int)a->shards);
  return 0;
}

static int shapes_main(void *opts) {
  shapes_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  train_shapes_options so = a->so;
  so.loss = (atoms_preset)a->loss, so.vertices = (int)a->vertices, so.aug_angle = a->aug, so.samples = a->samples;
  so.test = a->test, so.hidden = (int)a->hidden, so.seed = (uint64_t)a->seed, so.shard_size = (int)(a->batch / a->shards);
  train_options to;
  train_options_default(&to);
  to.batch = a->batch, to.shards = (int)a->shards, to.adam.lr = a->lr, to.seed = (uint64_t)a->seed;
  to.steps = (a->epochs * a->samples + a->batch - 1) / a->batch;
  to.eval_every = a->eval_every, to.out = NULL, to.metrics = a->metrics_set ? a->metrics : NULL;
  to.force = a->force;
  /* One run per -out: rank 0 holds <out>.lock until the CSV is written. */
  io_lock out_lock = {.fd = -1};
  core_status st = rank == 0 && a->out_set ? io_lock_acquire(a->out, &out_lock) : CORE_OK;
  /* Before the training, not after it: -out must be new (or -force) and writable. */
  if (!st && rank == 0 && a->out_set && !a->force && access(a->out, F_OK) == 0)
    st = CORE_ERROR(CORE_ERR_ARG, "%s already exists; pass -force to replace it, or choose another -out", a->out);
  if (!st && rank == 0 && a->out_set) st = io_output_check(a->out);
  st = core_agree(MPI_COMM_WORLD, st);
  train_task *task = NULL;
  if (!st) st = core_agree(MPI_COMM_WORLD, train_shapes_task_create(&so, &task));
  train_report rep;
  memset(&rep, 0, sizeof rep);
  if (!st) st = train_run(MPI_COMM_WORLD, task, &to, &app_stop_requested, stderr, &rep);
  if (!st && !rep.interrupted && a->out_set) st = train_shapes_write_predictions(task, MPI_COMM_WORLD, a->out);
  train_task_destroy(&task);
  io_lock_release(&out_lock);
  if (st) return app_report("shapes", st);
  if (rep.interrupted) {
    if (rank == 0) fprintf(stderr, "eloss shapes: stopped at step %lld; nothing written\n", (long long)rep.step);
    return 3;
  }
  if (rank == 0)
    printf("quality=%.6g err=%.3g loss=%s vertices=%d aug_angle=%g steps=%lld seconds=%.2f samples_per_s=%.6g\n",
           rep.metrics.value[0], rep.metrics.value[1], atoms_preset_names[a->loss], (int)a->vertices, (double)a->aug,
           (long long)rep.step, rep.seconds, rep.samples_per_s);
  return 0;
}

const app_command app_shapes_command = {
    .name = "shapes",
    .summary = "regular shapes (paper Sec. 6.1): train an MLP with MSE, energy, Kabsch or sparse loss",
    .help = help,
    .long_running = 1,
    .size = sizeof(shapes_args),
    .options = shapes_options,
    .run = shapes_main,
};
