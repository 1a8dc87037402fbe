#define _POSIX_C_SOURCE 200809L
/* eloss train: train a model with an energy loss or a baseline, data
 * parallel over the ranks (lib/train).
 *
 *   mpirun -n 2 eloss train -task spin -train train.h5 -test test.h5 -loss local \
 *          -width 32 -depth 6 -steps 1500 -batch 64 -lr 1e-3 -seed 1 -out model.ckpt
 *
 * SIGTERM, SIGINT or SIGUSR1: the step in progress finishes, the model file
 * is checkpointed and the program exits with code 3; the same command with
 * -resume continues to the same final parameters.
 *
 *   eloss train -task denoise -train lj13a.h5 -test lj13b.h5 -loss energy -noise 0.05,0.1,0.2 \
 *          -rotate -steps 2000 -batch 64 -out denoise.ckpt */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/train.h"

static const char help[] =
    "eloss train: train a model on an eloss dataset with an energy loss or a baseline.\n"
    "-task spin: the ground state of an Edwards-Anderson instance from its couplings (data from eloss\n"
    "spingen); the model is nn.h's convolutional network, the losses those of eloss spinloss.\n"
    "-task denoise: a clean structure x from x + sigma eps (sigma from -noise, eps ~ N(0, I)); data from\n"
    "eloss clustergen (HDF5) or a multi-frame XYZ file (frames padded to the largest); the model is the MLP\n"
    "{3N + 1, W, W, 3N} ({4N + 1, ...} with atomic numbers for XYZ) predicting eps,\n"
    "x_hat = x_t - sigma eps_hat; losses mse, energy, kabsch, sparse.\n"
    "Each step's batch (-batch) is cut into -shards micro-shards added in a fixed order, so 1, 2 or 4\n"
    "ranks (any divisor of -shards) give the same parameters, bit for bit. -out is the model file and\n"
    "the checkpoint (atomic, checksummed); SIGTERM checkpoints and exits with code 3; -resume\n"
    "continues it (also to a larger -steps). Metrics go to -metrics as JSON lines.\n";

int app_train(int argc, char **argv) {
  /* A stop request that arrives while MPI and PETSc start is kept (the
   * first step sees it), not the default death by signal; PETSc installs
   * its own handlers on the way, so ours go back right after. */
  app_catch_stop_signals();
  PetscCall(app_initialize(&argc, &argv, help));
  app_catch_stop_signals();
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  static const char *const tasks[] = {"spin", "denoise"};
  enum { TASK_SPIN, TASK_DENOISE };
  PetscInt task_kind = TASK_SPIN, loss = SPIN_LOSS_CE, coeff = ATOMS_COEFF_EXP_DIST, width = 32, depth = 6;
  PetscInt conv = NN_CONV_WINOGRAD;
  PetscInt steps = 1000, batch = 64, shards = 4, seed = 0;
  PetscInt eval_every = 100, checkpoint_every = 0;
  PetscReal T = 0.1, h0 = 5.0, lr = 1e-3, checkpoint_seconds = 60.0;
  PetscBool flip = PETSC_FALSE, resume = PETSC_FALSE, force = PETSC_FALSE, set, train_set, out_set, metrics_set;
  PetscBool T_set, h0_set, flip_set, depth_set, test_set, noise_set, rotate_set, coeff_set, conv_set;
  PetscBool rotate = PETSC_FALSE;
  PetscReal noise[TRAIN_DENOISE_MAX_LEVELS] = {0.05, 0.1, 0.2};
  PetscInt n_noise = 3;
  int denoise = 0;
  char train[PETSC_MAX_PATH_LEN] = "", test[PETSC_MAX_PATH_LEN] = "", out[PETSC_MAX_PATH_LEN] = "";
  char metrics[PETSC_MAX_PATH_LEN] = "";

  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss train options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-task", "what to learn", tasks, 2, &task_kind, &set));
  denoise = task_kind == TASK_DENOISE;
  PetscCall(app_opt_string(po, "-train", "training set (spin: HDF5 from eloss spingen; denoise: HDF5 from eloss "
                           "clustergen or XYZ), required", "a file name", train, sizeof train, &train_set));
  PetscCall(app_opt_string(po, "-test", "test set for the metrics (the same kind; required for denoise)",
                           "a file name", test, sizeof test, &test_set));
  /* -loss names the losses of the task chosen above (the block reads
   * options in order, so -task is known here). */
  if (denoise) loss = ATOMS_PRESET_MSE;
  if (denoise)
    PetscCall(app_opt_enum(po, "-loss", "loss (with -task spin: ce, margin, local, true, bond; default ce)",
                           atoms_preset_names, ATOMS_PRESET_COUNT, &loss, &set));
  else
    PetscCall(app_opt_enum(po, "-loss", "loss (with -task denoise: mse, energy, kabsch, sparse; default mse)",
                           spin_loss_names, SPIN_LOSS_COUNT, &loss, &set));
  /* sigma beyond 100 data lengths leaves no structure to recover: a
   * typo, refused. */
  PetscCall(app_opt_real_list(po, "-noise", "denoise: distinct noise levels sigma, each draw picks one uniformly", 0,
                              100, 1, TRAIN_DENOISE_MAX_LEVELS, noise, &n_noise, &noise_set));
  PetscCall(app_opt_bool(po, "-rotate", "denoise: rotate every training draw uniformly at random", &rotate,
                         &rotate_set));
  PetscCall(app_opt_enum(po, "-coeff", "denoise, -loss energy and sparse: Eq. 7 coefficient law", atoms_coeff_names,
                         ATOMS_COEFF_COUNT, &coeff, &coeff_set));
  PetscCall(app_opt_bool(po, "-flip_invariant", "ce, margin: the loss of the better of y and -y", &flip, &flip_set));
  PetscCall(app_opt_real(po, "-T", "temperature: > 0 for local and bond, >= 0 for true", 0, 1e6, 0, &T, &T_set));
  PetscCall(app_opt_real(po, "-h0", "local, bond: the constant of w_i = y_i h_i(y) + h0, w_ij = J_ij y_i y_j + h0",
                         -1e6, 1e6, 0, &h0, &h0_set));
  if (denoise) width = 128;
  PetscCall(app_opt_int(po, "-width", "channels of the network (denoise: MLP hidden width, default 128)", 1, 4096,
                        &width, &set));
  PetscCall(app_opt_int(po, "-depth", "spin: convolutions in residual blocks (even)", 0, 1000, &depth, &depth_set));
  PetscCall(app_opt_enum(po, "-conv", "spin: the residual convolutions' algorithm (winograd: oneDNN's where it has "
                         "one, AVX-512 and -width a multiple of 16, else direct)", nn_conv_algorithm_names, NN_CONV_COUNT,
                         &conv, &conv_set));
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

  if (!train_set)
    app_option_error("-train", denoise ? "required: the training set (eloss clustergen or XYZ)"
                                       : "required: the training set (eloss spingen -split train ...)");
  if (!out_set) app_option_error("-out", "required: the model file to write");
  if (denoise) {
    if (!test_set) app_option_error("-test", "required for -task denoise: the test structures of the metrics");
    app_option_inapplicable("-depth", depth_set, "applies to -task spin (the denoise MLP has 2 hidden layers)");
    app_option_inapplicable("-conv", conv_set, "applies to -task spin (the denoise MLP has no convolutions)");
  } else {
    app_option_inapplicable("-noise", noise_set, "applies to -task denoise");
    app_option_inapplicable("-rotate", rotate_set, "applies to -task denoise");
    app_option_inapplicable("-coeff", coeff_set, "applies to -task denoise");
    if (depth % 2) app_option_error("-depth", "expected an even number: depth / 2 residual blocks of 2 convolutions");
  }
  if (batch % shards) app_option_error("-batch", "expected a multiple of -shards %d", (int)shards);
  for (PetscInt i = 0; i < n_noise; ++i)
    for (PetscInt j = 0; j < i; ++j)
      if (noise[i] == noise[j]) app_option_error("-noise", "level %g is given twice", (double)noise[i]);
  if (denoise) {
    app_option_inapplicable("-flip_invariant", flip_set, "applies to -task spin");
    app_option_inapplicable("-T", T_set, "applies to -task spin");
    app_option_inapplicable("-h0", h0_set, "applies to -task spin");
    if (!atoms_preset_table[loss].uses_coeff)
      app_option_inapplicable("-coeff", coeff_set, "applies to -loss energy and sparse");
  } else {
    spin_loss_options check = {.kind = (spin_loss_kind)loss, .T = T, .h0 = h0, .flip_invariant = flip};
    const char *refused;
    if (spin_loss_options_check(&check, (T_set ? SPIN_LOSS_GIVEN_T : 0) | (h0_set ? SPIN_LOSS_GIVEN_H0 : 0), &refused))
      app_option_error(refused, "%s", core_error_message());
    /* Training runs in float32. */
    else if ((spin_loss_table[loss].flags & SPIN_LOSS_DIVIDES_BY_T) && T < 1e-6)
      app_option_error("-T", "-loss %s scales as 1/T: below 1e-6 its values and gradients overflow float32",
                       spin_loss_names[loss]);
  }
  if (resume && force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  {
    /* The outputs (metrics default: <out>.jsonl) never name an input. */
    char metrics_name[PETSC_MAX_PATH_LEN + 8];
    snprintf(metrics_name, sizeof metrics_name, "%s%s", metrics_set ? metrics : out, metrics_set ? "" : ".jsonl");
    const char *inputs[] = {train, test[0] ? test : NULL};
    app_output_not_input("-out", out, inputs, 2);
    app_output_not_input("-metrics", metrics_name, inputs, 2);
    app_output_name("-out", out);
    app_output_name("-metrics", metrics_name);
    /* A new run writes its metrics to <metrics>.partial first. */
    char partial[sizeof metrics_name + 8];
    snprintf(partial, sizeof partial, "%s.partial", metrics_name);
    if (io_same_file(out, metrics_name)) app_option_error("-metrics", "is the model file -out: choose another file");
    else if (!strcmp(out, partial) || io_same_file(out, partial))
      app_option_error("-out", "is where the metrics (%s) are written first: choose another file", partial);
  }
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* Advice the next check accepts: -shards must also divide -batch. */
  const int fits = train_shards_for(batch, size);
  if (shards % size && fits)
    app_option_error("-shards", "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, "
                     "or set -shards %d (a multiple of %d that divides -batch %d; results are identical for every "
                     "rank count dividing -shards)", size, (int)shards, (int)shards, fits, size, (int)batch);
  else if (shards % size)
    app_option_error("-shards", "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, "
                     "or make -batch a multiple of %d and -shards %d", size, (int)shards, (int)shards, size, size);
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
  so.width = (int)width, so.depth = (int)depth, so.seed = (uint64_t)seed, so.conv = (nn_conv_algorithm)conv;
  so.shard = (int)(batch / shards);

  train_denoise_options dn;
  train_denoise_options_default(&dn);
  dn.train = train, dn.test = test;
  dn.loss = (atoms_preset)loss, dn.coeff = (atoms_coeff_law)coeff;
  dn.n_levels = (int)n_noise;
  for (int l = 0; l < dn.n_levels; ++l) dn.levels[l] = noise[l];
  dn.rotate = rotate, dn.width = (int)width, dn.seed = (uint64_t)seed, dn.shard = (int)(batch / shards);

  /* The task first: the spin model decides which convolutions run here. */
  train_task *task = NULL;
  core_status st = denoise ? train_denoise_task_create(MPI_COMM_WORLD, &dn, &task)
                           : train_spin_task_create(MPI_COMM_WORLD, &so, &task);
  const nn_conv_algorithm conv_run = st || denoise ? NN_CONV_DIRECT : train_spin_task_conv(task);
  if (!st && !denoise && (PetscInt)conv_run != conv && rank == 0)
    fprintf(stderr, "eloss train: -conv %s: oneDNN has no Winograd kernel for this model on this CPU (it needs AVX-512, "
                    "-width a multiple of 16 and -depth > 0); running direct convolutions\n",
            nn_conv_algorithm_names[conv]);
  if (!st && !denoise && resume) {
    /* The two -conv refusals whose generic message ("run with its
     * options") would not help. Every rank reads the file (small). */
    char config[TRAIN_CONFIG_BYTES];
    train_model_meta meta;
    if (train_model_info(out, config, &meta) == CORE_OK) {
      if (meta.kind == TRAIN_TASK_SPIN && meta.conv == NN_CONV_WINOGRAD && conv_run == NN_CONV_DIRECT &&
          conv == NN_CONV_WINOGRAD)
        st = CORE_ERROR(CORE_ERR_ARG, "-resume: %s ran Winograd convolutions, which oneDNN has not for this model on "
                        "this CPU: continue it on a CPU with AVX-512 (or start over with -force)", out);
    }
    st = core_agree(MPI_COMM_WORLD, st);
  }

  train_options to;
  train_options_default(&to);
  to.steps = steps, to.batch = batch, to.shards = (int)shards, to.adam.lr = lr, to.seed = (uint64_t)seed;
  to.eval_every = eval_every, to.checkpoint_every = checkpoint_every, to.checkpoint_seconds = checkpoint_seconds;
  to.out = out, to.metrics = metrics, to.resume = resume, to.force = force;
  to.inputs[0] = train, to.inputs[1] = test[0] ? test : NULL;
  if (!st && rank == 0) {
    char identity[IO_JOB_IDENTITY_BYTES];
    train_identity(task, &to, identity, sizeof identity);
    fprintf(stderr, "eloss train: %s -steps %d -out %s\n", identity, (int)steps, out);
  }

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
