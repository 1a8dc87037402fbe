#define _POSIX_C_SOURCE 200809L
/* eloss train: train a model with an energy loss or a baseline, data
 * parallel over the ranks (lib/train).
 *
 *   mpirun -n 2 eloss train -task spin -train train.h5 -test test.h5 -loss local \
 *          -width 32 -depth 6 -steps 1500 -batch 64 -lr 1e-3 -seed 1 -out model.ckpt
 *
 * SIGTERM, SIGINT or SIGUSR1: the step in progress finishes, the model file
 * is checkpointed and the program exits with code 3; the same command with
 * -resume continues to the same final parameters. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/train.h"

static const char help[] =
    "eloss train: train a model on an eloss dataset with an energy loss or a baseline.\n"
    "-task spin: the ground state of an Edwards-Anderson instance from its couplings (data from eloss\n"
    "spingen); the model is nn.h's convolutional network, the losses those of eloss spinloss.\n"
    "Each step's batch (-batch) is cut into -shards micro-shards added in a fixed order, so 1, 2 or 4\n"
    "ranks (any divisor of -shards) give the same parameters, bit for bit. -out is the model file and\n"
    "the checkpoint (atomic, checksummed); SIGTERM checkpoints and exits with code 3; -resume\n"
    "continues it (also to a larger -steps). Metrics go to -metrics as JSON lines.\n";

/* A real as short as it can be and still read back to the same double
 * (the options text is a fingerprint: it must be exact). */
static const char *real_text(double v, char *buf) {
  for (int digits = 6; digits <= 17; ++digits) {
    snprintf(buf, 32, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  return buf;
}

int app_train(int argc, char **argv) {
  PetscCall(app_initialize(&argc, &argv, help));
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  static const char *const tasks[] = {"spin"};
  PetscInt task_kind = 0, loss = SPIN_LOSS_CE, width = 32, depth = 6, steps = 1000, batch = 64, shards = 4, seed = 0;
  PetscInt eval_every = 100, checkpoint_every = 0;
  PetscReal T = 0.1, h0 = 5.0, lr = 1e-3, checkpoint_seconds = 60.0;
  PetscBool flip = PETSC_FALSE, resume = PETSC_FALSE, force = PETSC_FALSE, set, train_set, out_set, metrics_set;
  PetscBool T_set, h0_set;
  char train[PETSC_MAX_PATH_LEN] = "", test[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "";
  char metrics[PETSC_MAX_PATH_LEN] = "";

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss train options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-task", "what to learn", tasks, 1, &task_kind, &set));
  PetscCall(app_opt_string(po, "-train", "training set (HDF5 from eloss spingen), required", "a file name", train,
                           sizeof train, &train_set));
  PetscCall(app_opt_string(po, "-test", "test set for the metrics (HDF5 from eloss spingen)", "a file name", test,
                           sizeof test, &set));
  PetscCall(app_opt_enum(po, "-loss", "loss", spin_loss_names, SPIN_LOSS_COUNT, &loss, &set));
  PetscCall(app_opt_bool(po, "-flip_invariant", "ce, margin: the loss of the better of y and -y", &flip, &set));
  PetscCall(app_opt_real(po, "-T", "temperature: > 0 for local and bond, >= 0 for true", 0, 1e6, 0, &T, &T_set));
  PetscCall(app_opt_real(po, "-h0", "local, bond: the constant of w_i = y_i h_i(y) + h0, w_ij = J_ij y_i y_j + h0",
                         -1e6, 1e6, 0, &h0, &h0_set));
  PetscCall(app_opt_int(po, "-width", "channels of the network", 1, 4096, &width, &set));
  PetscCall(app_opt_int(po, "-depth", "convolutions in residual blocks (even)", 0, 1000, &depth, &set));
  PetscCall(app_opt_int(po, "-steps", "Adam steps in all", 1, PETSC_MAX_INT, &steps, &set));
  PetscCall(app_opt_int(po, "-batch", "instances per step", 1, PETSC_MAX_INT, &batch, &set));
  PetscCall(app_opt_int(po, "-shards", "micro-shards per batch, added in a fixed order; the rank count must divide it",
                        1, 4096, &shards, &set));
  PetscCall(app_opt_real(po, "-lr", "Adam learning rate", 0, 10, 1, &lr, &set));
  PetscCall(app_opt_int(po, "-seed", "seed of the initial weights and the batch order", 0, PETSC_MAX_INT, &seed,
                        &set));
  PetscCall(app_opt_int(po, "-eval_every", "test metrics every this many steps (0: at the end only)", 0,
                        PETSC_MAX_INT, &eval_every, &set));
  PetscCall(app_opt_int(po, "-checkpoint_every", "checkpoint every this many steps (0: by time only)", 0,
                        PETSC_MAX_INT, &checkpoint_every, &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &checkpoint_seconds, &set));
  PetscCall(app_opt_string(po, "-out", "model file (and checkpoint), required", "a file name", out, sizeof out,
                           &out_set));
  PetscCall(app_opt_string(po, "-metrics", "JSON lines of step, loss, test metrics, samples/s (default <out>.jsonl)",
                           "a file name", metrics, sizeof metrics, &metrics_set));
  PetscCall(app_opt_bool(po, "-resume", "continue the training in -out", &resume, &set));
  PetscCall(app_opt_bool(po, "-force", "start over, replacing -out and -metrics", &force, &set));
  PetscOptionsEnd();

  if (!train_set) app_option_error("-train", "required: the training set (eloss spingen -split train ...)");
  if (!out_set) app_option_error("-out", "required: the model file to write");
  if (depth % 2) app_option_error("-depth", "expected an even number: depth / 2 residual blocks of 2 convolutions");
  if (batch % shards) app_option_error("-batch", "expected a multiple of -shards %d", (int)shards);
  if (flip && loss == SPIN_LOSS_BOND)
    app_option_error("-flip_invariant", "-loss bond is invariant under y -> -y already");
  else if (flip && loss != SPIN_LOSS_CE && loss != SPIN_LOSS_MARGIN)
    app_option_error("-flip_invariant", "applies to -loss ce and margin only: the min over y and -y of local or true "
                     "collapses training to a constant prediction (README); -loss bond is the flip-invariant "
                     "energy loss");
  if (loss == SPIN_LOSS_CE || loss == SPIN_LOSS_MARGIN) {
    app_option_inapplicable("-T", T_set, "applies to -loss local, bond and true");
    app_option_inapplicable("-h0", h0_set, "applies to -loss local and bond");
  }
  if (loss == SPIN_LOSS_TRUE) app_option_inapplicable("-h0", h0_set, "applies to -loss local and bond");
  if ((loss == SPIN_LOSS_LOCAL || loss == SPIN_LOSS_BOND) && T <= 0)
    app_option_error("-T", "-loss %s needs T > 0", spin_loss_names[loss]);
  if (resume && force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (shards % size)
    app_option_error("-shards", "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, "
                     "or set -shards to a multiple of %d (results are identical for every rank count dividing -shards)",
                     size, (int)shards, (int)shards, size);
  PetscBool stop;
  int code;
  PetscCall(app_options_check("train", &stop, &code));
  if (stop) return app_finalize(code);
  if (!metrics_set) snprintf(metrics, sizeof metrics, "%s.jsonl", out);

  train_spin_options so;
  train_spin_options_default(&so);
  so.train = train;
  so.test = test[0] ? test : NULL;
  so.loss.kind = (spin_loss_kind)loss;
  so.loss.T = T, so.loss.h0 = h0, so.loss.flip_invariant = flip;
  so.width = (int)width, so.depth = (int)depth, so.seed = (uint64_t)seed;
  so.shard = (int)(batch / shards);

  train_options to;
  train_options_default(&to);
  char text[1024], t_text[32], h0_text[32], lr_text[32];
  snprintf(text, sizeof text, "-task %s -loss %s -flip_invariant %d -T %s -h0 %s -width %d -depth %d -batch %d "
           "-shards %d -lr %s -seed %d", tasks[task_kind], spin_loss_names[loss], (int)flip, real_text(T, t_text),
           real_text(h0, h0_text), (int)width, (int)depth, (int)batch, (int)shards, real_text(lr, lr_text), (int)seed);
  to.steps = steps, to.batch = batch, to.shards = (int)shards, to.adam.lr = lr, to.seed = (uint64_t)seed;
  to.eval_every = eval_every, to.checkpoint_every = checkpoint_every, to.checkpoint_seconds = checkpoint_seconds;
  to.out = out, to.metrics = metrics, to.resume = resume, to.force = force, to.options_text = text;
  to.inputs[0] = train, to.inputs[1] = test[0] ? test : NULL;
  if (rank == 0) fprintf(stderr, "eloss train: %s -steps %d -out %s\n", text, (int)steps, out);

  app_catch_stop_signals();

  train_task *task = NULL;
  core_status st = train_spin_task_create(MPI_COMM_WORLD, &so, &task);
  train_report rep;
  if (!st) st = train_run(MPI_COMM_WORLD, task, &to, &app_stop_requested, stderr, &rep);
  train_task_destroy(&task);
  int exit_code = 0;
  if (st) {
    exit_code = app_report("train", st);
  } else if (rep.interrupted) {
    if (rank == 0)
      fprintf(stderr, "eloss train: stopped after step %lld of %lld, checkpoint written to %s; run the same command "
                      "with -resume to continue\n", (long long)rep.step, (long long)steps, out);
    exit_code = 3;
  } else if (rank == 0) {
    printf("steps=%lld loss=%.9g", (long long)rep.step, rep.loss);
    for (int k = 0; k < rep.metrics.count; ++k) printf(" %s=%.9g", rep.metrics.name[k], rep.metrics.value[k]);
    printf(" seconds=%.2f out=%s samples_per_s=%.6g\n", rep.seconds, out, rep.samples_per_s);
  }
  return app_finalize(exit_code);
}
