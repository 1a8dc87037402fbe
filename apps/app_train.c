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
#include "eloss/diffusion.h"
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
    "-task diffusion: EDM's diffusion model of molecules (XYZ of H, C, N, O, F); -model gdm (GDM, GDM-aug with\n"
    "-rotate) or egnn (EDM); losses mse on eps, energy, kabsch, sparse on x_hat (docs/diffusion.md).\n"
    "Each step's batch (-batch) is cut into -shards micro-shards added in a fixed order, so 1, 2 or 4\n"
    "ranks (any divisor of -shards) give the same parameters, bit for bit. -out is the model file and\n"
    "the checkpoint (atomic, checksummed); SIGTERM checkpoints and exits with code 3; -resume\n"
    "continues it (also to a larger -steps). Metrics go to -metrics as JSON lines.\n";

enum { TASK_SPIN, TASK_DENOISE, TASK_DIFFUSION };
static const char *const tasks[] = {"spin", "denoise", "diffusion"};

typedef struct {
  PetscInt task, loss, coeff, width, depth, conv, steps, batch, shards, seed, eval_every, checkpoint_every, n_noise;
  PetscInt model, layers, diffusion_steps, train_count, select, patience;
  PetscReal T, h0, lr, checkpoint_seconds, noise[TRAIN_DENOISE_MAX_LEVELS], pos_weight, ema;
  PetscBool valid_set, train_count_set, select_set, patience_set;
  PetscBool model_set, layers_set, diffusion_steps_set, pos_weight_set, ema_set, lr_set;
  PetscBool flip, resume, force, rotate;
  PetscBool T_set, h0_set, flip_set, depth_set, test_set, noise_set, rotate_set, coeff_set, conv_set, train_set,
      out_set, metrics_set;
  char train[PETSC_MAX_PATH_LEN], test[PETSC_MAX_PATH_LEN], valid[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN],
      metrics[PETSC_MAX_PATH_LEN];
} train_args;

enum { SELECT_LAST, SELECT_BEST };
static const char *const selections[] = {"last", "best"};

static PetscErrorCode read_options(train_args *a) {
  PetscBool set;
  a->loss = SPIN_LOSS_CE, a->coeff = ATOMS_COEFF_EXP_DIST, a->width = 32, a->depth = 6, a->conv = NN_CONV_WINOGRAD;
  a->steps = 1000, a->batch = 64, a->shards = 4, a->eval_every = 100;
  a->T = 0.1, a->h0 = 5.0, a->lr = 1e-3, a->checkpoint_seconds = 60.0;
  a->noise[0] = 0.05, a->noise[1] = 0.1, a->noise[2] = 0.2, a->n_noise = 3;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss train options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-task", "what to learn", tasks, 3, &a->task, &set));
  const int denoise = a->task != TASK_SPIN; /* denoise or diffusion: atoms, their losses */
  PetscCall(app_opt_string(po, "-train", "training set (spin: HDF5 from eloss spingen; denoise: HDF5 from eloss "
                           "clustergen or XYZ; diffusion: XYZ of H, C, N, O, F molecules), required", "a file name",
                           a->train, sizeof a->train, &a->train_set));
  PetscCall(app_opt_string(po, "-test", "test set for the metrics (the same kind; required for denoise and diffusion)",
                           "a file name", a->test, sizeof a->test, &a->test_set));
  PetscCall(app_opt_string(po, "-valid", "spin: validation set (eloss spingen -split valid), scored with the test set; "
                           "what -select best and -patience judge by its energy gap", "a file name", a->valid,
                           sizeof a->valid, &a->valid_set));
  PetscCall(app_opt_int(po, "-train_count", "spin: train on the first N instances of -train (0: all); smaller sets are "
                        "nested in larger ones", 0, PETSC_MAX_INT, &a->train_count, &a->train_count_set));
  PetscCall(app_opt_enum(po, "-select", "with -valid: the parameters the model file holds, the last or those of the "
                         "best validation energy gap (the last stay in the file for -resume)", selections, 2, &a->select,
                         &a->select_set));
  PetscCall(app_opt_int(po, "-patience", "with -valid: stop after this many evaluations (-eval_every) without a "
                        "better validation energy gap (0: never)", 0, PETSC_MAX_INT, &a->patience, &a->patience_set));
  /* -loss names the losses of the task chosen above (the block reads
   * options in order, so -task is known here). */
  if (denoise) a->loss = ATOMS_PRESET_MSE;
  static const char loss_help[] = "loss (-task spin: ce, margin, local, true, bond, default ce; -task denoise and "
                                  "diffusion: mse, energy, kabsch, sparse, default mse)";
  if (denoise)
    PetscCall(app_opt_enum(po, "-loss", loss_help, atoms_preset_names, ATOMS_PRESET_COUNT, &a->loss, &set));
  else
    PetscCall(app_opt_enum(po, "-loss", loss_help, spin_loss_names, SPIN_LOSS_COUNT, &a->loss, &set));
  /* sigma beyond 100 data lengths leaves no structure to recover: a
   * typo, refused. */
  a->layers = 4, a->diffusion_steps = 1000;
  PetscCall(app_opt_enum(po, "-model", "diffusion: the network (gdm: EDM's graph network, GDM-aug with -rotate; egnn: "
                         "EDM's equivariant network)", train_diffusion_network_names, TRAIN_DIFFUSION_NETWORKS,
                         &a->model, &a->model_set));
  PetscCall(app_opt_int(po, "-layers", "diffusion: message-passing layers of the network", 0, 64, &a->layers,
                        &a->layers_set));
  PetscCall(app_opt_int(po, "-diffusion_steps", "diffusion: T, the steps of the noise schedule (EDM: 1000)", 1,
                        DIFFUSION_STEPS_MAX, &a->diffusion_steps, &a->diffusion_steps_set));
  a->ema = 0.999;
  PetscCall(app_opt_real(po, "-ema", "diffusion: decay of the parameters' moving average the samples use (EDM: "
                         "0.999; 0: none)", 0, 0.999999, 0, &a->ema, &a->ema_set));
  PetscCall(app_opt_real(po, "-pos_weight", "diffusion: the position term's weight (default: the paper's Tables 6-7 "
                         "for -model and -loss: gdm mse 1.5, egnn mse 1.0, kabsch 0.8, energy and sparse 0.05)", 0,
                         1e6, 1, &a->pos_weight, &a->pos_weight_set));
  PetscCall(app_opt_real_list(po, "-noise", "denoise: distinct noise levels sigma, each draw picks one uniformly", 0,
                              100, 1, TRAIN_DENOISE_MAX_LEVELS, a->noise, &a->n_noise, &a->noise_set));
  PetscCall(app_opt_bool(po, "-rotate", "denoise, diffusion (GDM-aug): rotate every training draw uniformly at random", &a->rotate,
                         &a->rotate_set));
  PetscCall(app_opt_enum(po, "-coeff", "denoise, diffusion, -loss energy and sparse: Eq. 7 coefficient law", atoms_coeff_names,
                         ATOMS_COEFF_COUNT, &a->coeff, &a->coeff_set));
  PetscCall(app_opt_bool(po, "-flip_invariant", "ce, margin: the loss of the better of y and -y", &a->flip,
                         &a->flip_set));
  PetscCall(app_opt_real(po, "-T", "temperature: > 0 for local and bond, >= 0 for true", 0, 1e6, 0, &a->T,
                         &a->T_set));
  PetscCall(app_opt_real(po, "-h0", "local, bond: the constant of w_i = y_i h_i(y) + h0, w_ij = J_ij y_i y_j + h0",
                         -1e6, 1e6, 0, &a->h0, &a->h0_set));
  if (a->task == TASK_DENOISE) a->width = 128;
  if (a->task == TASK_DIFFUSION) a->width = 64;
  PetscCall(app_opt_int(po, "-width", "channels of the network (denoise: MLP hidden width, default 128)", 1, 4096,
                        &a->width, &set));
  PetscCall(app_opt_int(po, "-depth", "spin: convolutions in residual blocks (even)", 0, 1000, &a->depth,
                        &a->depth_set));
  PetscCall(app_opt_enum(po, "-conv", "spin: the residual convolutions' algorithm (winograd: oneDNN's where it has "
                         "one, AVX-512 and -width a multiple of 16, else direct)", nn_conv_algorithm_names, NN_CONV_COUNT,
                         &a->conv, &a->conv_set));
  PetscCall(app_opt_int(po, "-steps", "Adam steps in all", 1, PETSC_MAX_INT, &a->steps, &set));
  PetscCall(app_opt_int(po, "-batch", "instances per step", 1, PETSC_MAX_INT, &a->batch, &set));
  PetscCall(app_opt_int(po, "-shards", "micro-shards per batch, added in a fixed order; the rank count must divide it",
                        1, 4096, &a->shards, &set));
  PetscCall(app_opt_real(po, "-lr", "Adam learning rate (default 1e-3; diffusion: the paper's Tables 6-7 for -model "
                         "and -loss)", 0, 10, 1, &a->lr, &a->lr_set));
  PetscCall(app_opt_int(po, "-seed", "seed of the initial weights and the batch order", 0, PETSC_MAX_INT, &a->seed,
                        &set));
  PetscCall(app_opt_int(po, "-eval_every", "test metrics every this many steps (0: at the end only)", 0,
                        PETSC_MAX_INT, &a->eval_every, &set));
  PetscCall(app_opt_int(po, "-checkpoint_every", "checkpoint every this many steps (0: by time only)", 0,
                        PETSC_MAX_INT, &a->checkpoint_every, &set));
  PetscCall(app_opt_real(po, "-checkpoint_seconds", "longest time between checkpoints", 0, INFINITY, 1,
                         &a->checkpoint_seconds, &set));
  PetscCall(app_opt_string(po, "-out", "model file (and checkpoint), required", "a file name", a->out, sizeof a->out,
                           &a->out_set));
  PetscCall(app_opt_string(po, "-metrics", "JSON lines of step, loss, test metrics, samples/s (default <out>.jsonl)",
                           "a file name", a->metrics, sizeof a->metrics, &a->metrics_set));
  PetscCall(app_opt_bool(po, "-resume", "continue the training in -out", &a->resume, &set));
  PetscCall(app_opt_bool(po, "-force", "start over, replacing -out and -metrics", &a->force, &set));
  PetscOptionsEnd();
  return 0;
}

/* Options that mean nothing for the chosen task or loss. */
static void check_task_options(const train_args *a) {
  const char *diffusion_why = "applies to -task diffusion";
  if (a->task != TASK_DIFFUSION) {
    app_option_inapplicable("-model", a->model_set, diffusion_why);
    app_option_inapplicable("-layers", a->layers_set, diffusion_why);
    app_option_inapplicable("-diffusion_steps", a->diffusion_steps_set, diffusion_why);
    app_option_inapplicable("-pos_weight", a->pos_weight_set, diffusion_why);
    app_option_inapplicable("-ema", a->ema_set, diffusion_why);
  }
  if (a->task == TASK_DIFFUSION) {
    if (!a->test_set) app_option_error("-test", "required for -task diffusion: the test molecules of the metrics");
    app_option_inapplicable("-valid", a->valid_set, "applies to -task spin");
    app_option_inapplicable("-train_count", a->train_count_set, "applies to -task spin");
    const char *why = "applies to -task spin";
    app_option_inapplicable("-depth", a->depth_set, "applies to -task spin (the diffusion network has -layers)");
    app_option_inapplicable("-conv", a->conv_set, why);
    app_option_inapplicable("-flip_invariant", a->flip_set, why);
    app_option_inapplicable("-T", a->T_set, why);
    app_option_inapplicable("-h0", a->h0_set, why);
    app_option_inapplicable("-noise", a->noise_set, "applies to -task denoise (diffusion draws its own noise levels)");
    if (!atoms_preset_table[a->loss].uses_coeff)
      app_option_inapplicable("-coeff", a->coeff_set, "applies to -loss energy and sparse");
    if (a->model == TRAIN_DIFFUSION_EGNN && a->rotate)
      app_option_error("-rotate", "is GDM-aug's augmentation; -model egnn is equivariant, rotations change nothing");
    if (a->model == TRAIN_DIFFUSION_EGNN && a->layers == 0)
      app_option_error("-layers", "-model egnn needs at least one block: without one its coordinates never move");
    return;
  }
  if (a->task == TASK_DENOISE) {
    if (!a->test_set) app_option_error("-test", "required for -task denoise: the test structures of the metrics");
    app_option_inapplicable("-valid", a->valid_set, "applies to -task spin");
    app_option_inapplicable("-train_count", a->train_count_set, "applies to -task spin");
    app_option_inapplicable("-depth", a->depth_set, "applies to -task spin (the denoise MLP has 2 hidden layers)");
    app_option_inapplicable("-conv", a->conv_set, "applies to -task spin (the denoise MLP has no convolutions)");
    app_option_inapplicable("-flip_invariant", a->flip_set, "applies to -task spin");
    app_option_inapplicable("-T", a->T_set, "applies to -task spin");
    app_option_inapplicable("-h0", a->h0_set, "applies to -task spin");
    if (!atoms_preset_table[a->loss].uses_coeff)
      app_option_inapplicable("-coeff", a->coeff_set, "applies to -loss energy and sparse");
    for (PetscInt i = 0; i < a->n_noise; ++i)
      for (PetscInt j = 0; j < i; ++j)
        if (a->noise[i] == a->noise[j]) app_option_error("-noise", "level %g is given twice", (double)a->noise[i]);
    return;
  }
  app_option_inapplicable("-noise", a->noise_set, "applies to -task denoise");
  app_option_inapplicable("-rotate", a->rotate_set, "applies to -task denoise");
  app_option_inapplicable("-coeff", a->coeff_set, "applies to -task denoise");
  if (a->depth % 2) app_option_error("-depth", "expected an even number: depth / 2 residual blocks of 2 convolutions");
  spin_loss_options check = {.kind = (spin_loss_kind)a->loss, .T = a->T, .h0 = a->h0, .flip_invariant = a->flip};
  const char *refused;
  if (spin_loss_options_check(&check, (a->T_set ? SPIN_LOSS_GIVEN_T : 0) | (a->h0_set ? SPIN_LOSS_GIVEN_H0 : 0),
                              &refused))
    app_option_error(refused, "%s", core_error_message());
  /* Training runs in float32. */
  else if ((spin_loss_table[a->loss].flags & SPIN_LOSS_DIVIDES_BY_T) && a->T < 1e-6)
    app_option_error("-T", "-loss %s scales as 1/T: below 1e-6 its values and gradients overflow float32",
                     spin_loss_names[a->loss]);
}

/* The outputs (metrics default: <out>.jsonl) never name an input, each
 * other, or where the other is written first; the batch splits evenly. */
static void check_outputs_and_batch(train_args *a) {
  if (!a->metrics_set) snprintf(a->metrics, sizeof a->metrics, "%.*s.jsonl", (int)sizeof a->metrics - 8, a->out);
  const char *inputs[] = {a->train, a->test[0] ? a->test : NULL, a->valid[0] ? a->valid : NULL};
  app_output_not_input("-out", a->out, inputs, 3);
  app_output_not_input("-metrics", a->metrics, inputs, 3);
  app_output_name("-out", a->out);
  app_output_name("-metrics", a->metrics);
  /* A new run writes its metrics to <metrics>.partial first. */
  char partial[sizeof a->metrics + 8];
  snprintf(partial, sizeof partial, "%s.partial", a->metrics);
  if (io_same_file(a->out, a->metrics)) app_option_error("-metrics", "is the model file -out: choose another file");
  else if (!strcmp(a->out, partial) || io_same_file(a->out, partial))
    app_option_error("-out", "is where the metrics (%s) are written first: choose another file", partial);
  if (a->batch % a->shards) app_option_error("-batch", "expected a multiple of -shards %d", (int)a->shards);
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  /* Advice the next check accepts: -shards must also divide -batch. */
  const int fits = train_shards_for(a->batch, size), shards = (int)a->shards, batch = (int)a->batch;
  if (shards % size && fits)
    app_option_error("-shards", "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, "
                     "or set -shards %d (a multiple of %d that divides -batch %d; results are identical for every "
                     "rank count dividing -shards)", size, shards, shards, fits, size, batch);
  else if (shards % size)
    app_option_error("-shards", "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, "
                     "or make -batch a multiple of %d and -shards %d", size, shards, shards, size, size);
}

static PetscErrorCode train_app_options(void *opts) {
  train_args *a = opts;
  PetscCall(read_options(a));
  if (!a->train_set)
    app_option_error("-train", a->task == TASK_SPIN ? "required: the training set (eloss spingen -split train ...)"
                                                     : a->task == TASK_DENOISE
                                                         ? "required: the training set (eloss clustergen or XYZ)"
                                                         : "required: the training molecules (XYZ)");
  if (!a->out_set) app_option_error("-out", "required: the model file to write");
  check_task_options(a);
  if (!a->valid_set && a->select_set)
    app_option_error("-select", "chooses by the validation set's score: give -valid (without one the file holds the "
                     "last parameters)");
  if (!a->valid_set && a->patience_set) app_option_error("-patience", "needs a validation set: give -valid");
  if (a->patience_set && a->patience > 0 && a->eval_every == 0)
    app_option_error("-patience", "counts evaluations, and -eval_every 0 evaluates only at the end: give -eval_every");
  if (a->resume && a->force) app_option_error("-force", "contradicts -resume: continue, or start over, not both");
  check_outputs_and_batch(a);
  return 0;
}

/* The task the options describe; the spin model decides here which
 * convolutions run, and a resume that would change them is refused. */
static core_status create_task(const train_args *a, train_task **task) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (a->task == TASK_DIFFUSION) {
    train_diffusion_options df;
    train_diffusion_options_default(&df);
    df.train = a->train, df.test = a->test;
    df.loss = (atoms_preset)a->loss, df.coeff = (atoms_coeff_law)a->coeff, df.pos_weight = a->pos_weight;
    df.network = (train_diffusion_network)a->model;
    df.diffusion_steps = (int)a->diffusion_steps, df.width = (int)a->width, df.layers = (int)a->layers;
    df.rotate = a->rotate, df.ema = a->ema;
    df.seed = (uint64_t)a->seed, df.shard_size = (int)(a->batch / a->shards);
    return train_diffusion_task_create(MPI_COMM_WORLD, &df, task);
  }
  if (a->task == TASK_DENOISE) {
    train_denoise_options dn;
    train_denoise_options_default(&dn);
    dn.train = a->train, dn.test = a->test;
    dn.loss = (atoms_preset)a->loss, dn.coeff = (atoms_coeff_law)a->coeff;
    dn.n_levels = (int)a->n_noise;
    for (int l = 0; l < dn.n_levels; ++l) dn.levels[l] = a->noise[l];
    dn.rotate = a->rotate, dn.width = (int)a->width, dn.seed = (uint64_t)a->seed;
    dn.shard_size = (int)(a->batch / a->shards);
    return train_denoise_task_create(MPI_COMM_WORLD, &dn, task);
  }
  train_spin_options so;
  train_spin_options_default(&so);
  so.train = a->train;
  so.test = a->test[0] ? a->test : NULL;
  so.valid = a->valid[0] ? a->valid : NULL;
  so.train_count = a->train_count;
  so.loss.kind = (spin_loss_kind)a->loss;
  so.loss.T = a->T, so.loss.h0 = a->h0, so.loss.flip_invariant = a->flip;
  so.width = (int)a->width, so.depth = (int)a->depth, so.seed = (uint64_t)a->seed;
  so.conv = (nn_conv_algorithm)a->conv, so.shard_size = (int)(a->batch / a->shards);
  core_status st = train_spin_task_create(MPI_COMM_WORLD, &so, task);
  if (st) return st;
  const nn_conv_algorithm conv_run = train_spin_task_conv(*task);
  if ((PetscInt)conv_run != a->conv && a->conv_set && rank == 0)
    fprintf(stderr, "eloss train: -conv %s: oneDNN has no Winograd kernel for this model on this CPU (it needs AVX-512, "
                    "-width a multiple of 16 and -depth > 0); running direct convolutions\n",
            nn_conv_algorithm_names[a->conv]);
  if (!a->resume) return CORE_OK;
  /* The -conv refusal whose generic message ("run with its options")
   * would not help. Every rank reads the file (small). */
  char config[TRAIN_CONFIG_BYTES];
  train_model_meta meta;
  if (train_model_info(a->out, config, &meta) == CORE_OK && meta.kind == TRAIN_TASK_SPIN &&
      meta.conv == NN_CONV_WINOGRAD && conv_run == NN_CONV_DIRECT && a->conv == NN_CONV_WINOGRAD)
    st = CORE_ERROR(CORE_ERR_ARG, "-resume: %s ran Winograd convolutions, which oneDNN has not for this model on "
                    "this CPU: continue it on a CPU with AVX-512 (or start over with -force)", a->out);
  return core_agree(MPI_COMM_WORLD, st);
}

static int train_main(void *opts) {
  const train_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  train_task *task = NULL;
  core_status st = create_task(a, &task);

  train_options to;
  train_options_default(&to);
  to.steps = a->steps, to.batch = a->batch, to.shards = (int)a->shards, to.adam.lr = a->lr;
  if (a->task == TASK_DIFFUSION && !a->lr_set) {
    double pos_weight;
    train_diffusion_defaults((train_diffusion_network)a->model, (atoms_preset)a->loss, (atoms_coeff_law)a->coeff,
                             &to.adam.lr, &pos_weight);
  }
  to.seed = (uint64_t)a->seed, to.eval_every = a->eval_every, to.checkpoint_every = a->checkpoint_every;
  to.checkpoint_seconds = a->checkpoint_seconds;
  to.out = a->out, to.metrics = a->metrics, to.resume = a->resume, to.force = a->force;
  to.inputs[0] = a->train, to.inputs[1] = a->test[0] ? a->test : NULL, to.inputs[2] = a->valid[0] ? a->valid : NULL;
  to.select_best = a->select == SELECT_BEST, to.patience = a->patience;
  if (!st && rank == 0) {
    char identity[IO_JOB_IDENTITY_BYTES];
    train_identity(task, &to, identity, sizeof identity);
    fprintf(stderr, "eloss train: %s -steps %d -out %s\n", identity, (int)a->steps, a->out);
  }
  train_report rep;
  if (!st) st = train_run(MPI_COMM_WORLD, task, &to, &app_stop_requested, stderr, &rep);
  train_task_destroy(&task);
  if (st) return app_report("train", st);
  if (rep.interrupted)
    return app_stopped("train", "after step %lld of %lld, checkpoint written to %s", (long long)rep.step,
                       (long long)a->steps, a->out);
  if (rank == 0) {
    /* The metrics are those of the model in the file (the selected step's). */
    printf("steps=%lld loss=%.9g", (long long)rep.step, rep.loss);
    if (a->valid_set)
      printf(" selected_step=%lld best_step=%lld stopped_early=%d", (long long)rep.selected_step,
             (long long)rep.best_step, rep.stopped_early);
    for (int k = 0; k < rep.metrics.count; ++k) printf(" %s=%.9g", rep.metrics.name[k], rep.metrics.value[k]);
    for (int k = 0; k < rep.valid.count; ++k) printf(" %s=%.9g", rep.valid.name[k], rep.valid.value[k]);
    printf(" seconds=%.2f out=%s samples_per_s=%.6g\n", rep.seconds, a->out, rep.samples_per_s);
  }
  return 0;
}

const app_command app_train_command = {
    .name = "train",
    .summary = "train a model with an energy loss or a baseline, data-parallel, bit-reproducible",
    .help = help,
    .long_running = 1,
    .size = sizeof(train_args),
    .options = train_app_options,
    .run = train_main,
};
