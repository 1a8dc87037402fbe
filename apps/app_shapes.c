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

/* Rows test_index, radius, vertex, x, y, quality of the shape. */
static core_status write_shapes(const char *path, int64_t count, int N, const double *all) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  fprintf(f.fp, "shape,radius,vertex,x,y,quality\n");
  for (int64_t i = 0; i < count; ++i) {
    const double *row = all + i * (1 + 2 * N);
    const double q = train_shapes_quality(N, row + 1, row[0]);
    for (int k = 0; k < N; ++k)
      fprintf(f.fp, "%lld,%.17g,%d,%.9g,%.9g,%.9g\n", (long long)i, row[0], k, row[1 + 2 * k], row[2 + 2 * k], q);
  }
  return io_atomic_commit(&f);
}

int app_shapes(int argc, char **argv) {
  /* A stop request that arrives while MPI and PETSc start is kept (the
   * first step sees it), not the default death by signal; PETSc installs
   * its own handlers on the way, so ours go back right after. */
  app_catch_stop_signals();
  PetscCall(app_initialize(&argc, &argv, help));
  app_catch_stop_signals();
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  train_shapes_options so;
  train_shapes_options_default(&so);
  PetscInt loss = so.loss, vertices = so.vertices, samples = so.samples, epochs = 20, batch = 128, shards = 4;
  PetscInt hidden = so.hidden, seed = 0, test = 1000, eval_every = 0;
  PetscReal aug = 0.0, lr = 1e-3;
  PetscBool set, out_set, metrics_set, eval_every_set, force = PETSC_FALSE;
  char out[PETSC_MAX_PATH_LEN] = "", metrics[PETSC_MAX_PATH_LEN] = "";
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss shapes options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-loss", "loss", atoms_preset_names, ATOMS_PRESET_COUNT, &loss, &set));
  PetscCall(app_opt_int(po, "-vertices", "N, vertices of the polygon", 3, 1024, &vertices, &set));
  PetscCall(app_opt_real(po, "-aug_angle", "targets rotated by U[-A, A], radians (pi = 3.14159...)", 0, 2 * CORE_PI, 0,
                         &aug, &set));
  PetscCall(app_opt_int(po, "-samples", "training samples", 1, PETSC_MAX_INT, &samples, &set));
  PetscCall(app_opt_int(po, "-epochs", "passes over the samples", 1, 100000, &epochs, &set));
  PetscCall(app_opt_int(po, "-batch", "samples per step", 1, 65536, &batch, &set));
  PetscCall(app_opt_int(po, "-shards", "micro-shards per batch; the rank count must divide it", 1, 4096, &shards, &set));
  PetscCall(app_opt_int(po, "-hidden", "width of the two hidden layers", 1, 65536, &hidden, &set));
  PetscCall(app_opt_real(po, "-lr", "Adam learning rate", 0, 10, 1, &lr, &set));
  PetscCall(app_opt_int(po, "-seed", "seed of the data and the initial weights", 0, PETSC_MAX_INT, &seed, &set));
  PetscCall(app_opt_int(po, "-test", "fresh radii to evaluate (2 at least: the standard error)", 2, 10000000, &test,
                        &set));
  PetscCall(app_opt_int(po, "-eval_every", "test quality every this many steps into -metrics (0: at the end)", 0,
                        PETSC_MAX_INT, &eval_every, &eval_every_set));
  PetscCall(app_opt_string(po, "-metrics", "JSON lines of step, loss and test quality", "a file name", metrics,
                           sizeof metrics, &metrics_set));
  PetscCall(app_opt_string(po, "-out", "CSV of the predicted test shapes", "a file name", out, sizeof out, &out_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -out or -metrics", &force, &set));
  PetscOptionsEnd();
  if (batch % shards) app_option_error("-batch", "expected a multiple of -shards %d", (int)shards);
  if (atoms_preset_table[loss].redrawn && vertices < 5)
    app_option_error("-vertices", "-loss sparse draws 4-regular graphs, which need at least 5 vertices");
  if (out_set && metrics_set && !strcmp(out, metrics)) app_option_error("-metrics", "is the -out file");
  if (eval_every_set && !metrics_set)
    app_option_error("-eval_every", "writes into -metrics: give -metrics FILE too (the end's quality is printed anyway)");
  if (out_set && !force && access(out, F_OK) == 0)
    app_option_error("-out", "exists: add -force to replace it, or choose another file");
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (shards % size) app_option_error("-shards", "%d ranks do not divide it: run on a divisor of %d ranks", size, (int)shards);
  PetscBool stop;
  int code;
  PetscCall(app_options_check("shapes", &stop, &code));
  if (stop) return app_finalize(code);

  so.loss = (atoms_preset)loss, so.vertices = (int)vertices, so.aug_angle = aug, so.samples = samples;
  so.test = test, so.hidden = (int)hidden, so.seed = (uint64_t)seed, so.shard = (int)(batch / shards);
  train_options to;
  train_options_default(&to);
  to.batch = batch, to.shards = (int)shards, to.adam.lr = lr, to.seed = (uint64_t)seed;
  to.steps = (epochs * samples + batch - 1) / batch;
  to.eval_every = eval_every, to.out = NULL, to.metrics = metrics_set ? metrics : NULL;
  to.force = force;
  /* One run per -out: rank 0 holds <out>.lock until the CSV is written. */
  io_lock out_lock = {.fd = -1};
  core_status st = rank == 0 && out_set ? io_lock_acquire(out, &out_lock) : CORE_OK;
  /* Before the training, not after it: -out must be writable. */
  if (!st && rank == 0 && out_set) st = io_output_check(out);
  st = core_agree(MPI_COMM_WORLD, st);
  train_task *task = NULL;
  if (!st) st = core_agree(MPI_COMM_WORLD, train_shapes_task_create(&so, &task));
  train_report rep;
  memset(&rep, 0, sizeof rep);
  if (!st) st = train_run(MPI_COMM_WORLD, task, &to, &app_stop_requested, stderr, &rep);
  if (!st && !rep.interrupted && out_set) {
    double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(test * (1 + 2 * vertices))) : NULL;
    st = core_agree(MPI_COMM_WORLD, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate predictions") : CORE_OK);
    if (!st) st = train_shapes_predict(task, MPI_COMM_WORLD, all);
    if (!st && rank == 0) st = write_shapes(out, test, (int)vertices, all);
    st = core_agree(MPI_COMM_WORLD, st);
    free(all);
  }
  train_task_destroy(&task);
  io_lock_release(&out_lock);
  int exit_code = 0;
  if (st) {
    exit_code = app_report("shapes", st);
  } else if (rep.interrupted) {
    if (rank == 0) fprintf(stderr, "eloss shapes: stopped at step %lld; nothing written\n", (long long)rep.step);
    exit_code = 3;
  } else if (rank == 0) {
    printf("quality=%.6g err=%.3g loss=%s vertices=%d aug_angle=%g steps=%lld seconds=%.2f samples_per_s=%.6g\n",
           rep.metrics.value[0], rep.metrics.value[1], atoms_preset_names[loss], (int)vertices, (double)aug,
           (long long)rep.step, rep.seconds, rep.samples_per_s);
  }
  return app_finalize(exit_code);
}
