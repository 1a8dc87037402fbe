#define _POSIX_C_SOURCE 200809L
/* eloss shapes: the paper's regular-shape experiment (Sec. 6.1, App. C.1):
 * train the MLP r -> N vertices with one loss, evaluate fresh radii; or
 * (-model diffusion) a diffusion model of the polygons, evaluated on the
 * shapes it generates.
 *
 *   mpirun -n 2 eloss shapes -loss energy -vertices 9 -aug_angle 3.14159 \
 *          -samples 20000 -epochs 20 -seed 1 [-out shapes.csv]
 *   mpirun -n 2 eloss shapes -model diffusion -loss kabsch -vertices 6 -epochs 40 -test 1000
 *
 * Prints quality=<mean> err=<standard error> over -test fresh radii (or
 * generated shapes, then also their median quality, the fraction above 5,
 * the quartiles of their radii and the fraction of radii in the data's
 * range). The training runs through lib/train
 * (bit-identical for any rank count dividing -shards); it is short, so it
 * keeps no checkpoint. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "eloss/diffusion.h"
#include "eloss/io.h"
#include "eloss/train.h"

static const char help[] =
    "eloss shapes: from a radius r, predict the N vertices of a regular polygon of radius r\n"
    "(paper Sec. 6.1). Training targets are rotated by an angle ~ U[-aug_angle, aug_angle];\n"
    "radii ~ U[0.3, 5] (the paper prints U[03, 5]). Model: MLP {1, 64, 64, 2N} with SiLU, Adam.\n"
    "Losses: mse, energy (Eq. 7, exp_dist coefficients unless -coeff, all pairs), kabsch (MSE after the best\n"
    "rotation), sparse (energy on random 4-regular graphs redrawn every step). Quality (App. C.1):\n"
    "-ln(sigma_gap / 2 pi + sigma_radius / r) about the predicted shape's own centroid.\n"
    "-model diffusion: an unconditional diffusion model of the same polygons (the authors' shape_generation):\n"
    "MLP {2N + 1, H, H, 2N} predicting the noise from the noisy vertices and t / T, EDM's process and\n"
    "ancestral sampler (the molecule diffusion's); mse is the eps-MSE, energy, kabsch, sparse compare\n"
    "x_hat with the data (-predict). The quality is that of -test generated shapes, each at its own\n"
    "mean radius.\n";

typedef struct {
  train_shapes_options so;
  PetscInt model, loss, coeff, vertices, samples, epochs, batch, shards, hidden, seed, test, eval_every, diffusion_steps,
      predict;
  PetscReal aug, lr, ema;
  PetscBool out_set, metrics_set, force, diffusion_steps_set, ema_set, predict_set, coeff_set;
  char out[PETSC_MAX_PATH_LEN], metrics[PETSC_MAX_PATH_LEN];
} shapes_args;

static PetscErrorCode read_options(shapes_args *a, PetscBool *eval_every_set) {
  train_shapes_options_default(&a->so);
  a->model = a->so.model, a->loss = a->so.loss, a->coeff = a->so.coeff, a->vertices = a->so.vertices, a->samples = a->so.samples;
  a->epochs = 20, a->batch = 128, a->shards = 4, a->test = 1000, a->lr = 1e-3;
  a->diffusion_steps = a->so.diffusion_steps, a->ema = a->so.ema, a->predict = a->so.predict;
  PetscBool set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss shapes options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_enum(po, "-model", "what is learnt: regression (radius -> vertices, the paper's Sec. 6.1) or "
                         "diffusion (a generative model of the polygons)", train_shapes_model_names,
                         TRAIN_SHAPES_MODEL_COUNT, &a->model, &set));
  const int diffusion = a->model == TRAIN_SHAPES_DIFFUSION;
  /* The authors' MLPDenoiser is 128 wide. */
  a->hidden = diffusion ? 128 : a->so.hidden;
  PetscCall(app_opt_enum(po, "-loss", "loss", atoms_preset_names, ATOMS_PRESET_COUNT, &a->loss, &set));
  PetscCall(app_opt_enum(po, "-coeff", "-loss energy and sparse: Eq. 7 coefficient law (the paper's: exp_dist)",
                         atoms_coeff_names, ATOMS_COEFF_COUNT, &a->coeff, &a->coeff_set));
  PetscCall(app_opt_int(po, "-vertices", "N, vertices of the polygon", 3, 1024, &a->vertices, &set));
  PetscCall(app_opt_real(po, "-aug_angle", "targets rotated by U[-A, A], radians (pi = 3.14159...)", 0, 2 * CORE_PI,
                         0, &a->aug, &set));
  PetscCall(app_opt_int(po, "-samples", "training samples", 1, PETSC_MAX_INT, &a->samples, &set));
  PetscCall(app_opt_int(po, "-epochs", "passes over the samples", 1, 100000, &a->epochs, &set));
  PetscCall(app_opt_int(po, "-batch", "samples per step", 1, 65536, &a->batch, &set));
  PetscCall(app_opt_int(po, "-shards", "micro-shards per batch; the rank count must divide it", 1, 4096, &a->shards,
                        &set));
  PetscCall(app_opt_int(po, "-hidden", "width of the two hidden layers (regression 64, diffusion 128)", 1, 65536,
                        &a->hidden, &set));
  PetscCall(app_opt_int(po, "-diffusion_steps", "diffusion: T, the steps of the noise schedule (EDM: 1000)", 1,
                        DIFFUSION_STEPS_MAX, &a->diffusion_steps, &a->diffusion_steps_set));
  PetscCall(app_opt_real(po, "-ema", "diffusion: decay of the parameters' moving average the samples use (EDM: "
                         "0.999; 0: none)", 0, 0.999999, 0, &a->ema, &a->ema_set));
  PetscCall(app_opt_enum(po, "-predict", "diffusion: what the network predicts: eps (mse on eps, the other losses "
                         "SNR_t L(x_hat, x): the molecule task's) or x (L(x_hat, x) at every t: the authors' shape code)",
                         train_prediction_names, TRAIN_PREDICT_COUNT, &a->predict, &a->predict_set));
  PetscCall(app_opt_real(po, "-lr", "Adam learning rate", 0, 10, 1, &a->lr, &set));
  PetscCall(app_opt_int(po, "-seed", "seed of the data and the initial weights", 0, PETSC_MAX_INT, &a->seed, &set));
  PetscCall(app_opt_int(po, "-test", "fresh radii to evaluate, or shapes to generate (2 at least: the standard error)",
                        2, 10000000,
                        &a->test, &set));
  PetscCall(app_opt_int(po, "-eval_every", "test quality every this many steps into -metrics (0: at the end)", 0,
                        PETSC_MAX_INT, &a->eval_every, eval_every_set));
  PetscCall(app_opt_string(po, "-metrics", "JSON lines of step, loss and test quality", "a file name", a->metrics,
                           sizeof a->metrics, &a->metrics_set));
  PetscCall(app_opt_string(po, "-out", "CSV of the predicted test shapes (diffusion: the generated shapes)",
                           "a file name", a->out, sizeof a->out,
                           &a->out_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -out or -metrics", &a->force, &set));
  PetscOptionsEnd();
  return 0;
}

static PetscErrorCode shapes_options(void *opts) {
  shapes_args *a = opts;
  PetscBool eval_every_set = PETSC_FALSE;
  PetscCall(read_options(a, &eval_every_set));
  if (a->model != TRAIN_SHAPES_DIFFUSION) {
    const char *why = "applies to -model diffusion";
    app_option_inapplicable("-diffusion_steps", a->diffusion_steps_set, why);
    app_option_inapplicable("-ema", a->ema_set, why);
    app_option_inapplicable("-predict", a->predict_set, why);
  }
  if (!atoms_preset_table[a->loss].uses_coeff)
    app_option_inapplicable("-coeff", a->coeff_set, "applies to -loss energy and sparse");
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
  so.model = (train_shapes_model)a->model, so.diffusion_steps = (int)a->diffusion_steps, so.ema = a->ema;
  so.predict = (train_prediction)a->predict;
  so.coeff = (atoms_coeff_law)a->coeff;
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
  const train_metrics *m = &rep.metrics;
  if (rank == 0 && a->model == TRAIN_SHAPES_DIFFUSION)
    printf("quality=%.6g err=%.3g median=%.6g above5=%.4g radius_q1=%.4g radius_median=%.4g radius_q3=%.4g "
           "in_range=%.4g model=diffusion loss=%s vertices=%d aug_angle=%g steps=%lld seconds=%.2f "
           "samples_per_s=%.6g\n", m->value[0], m->value[1], m->value[2], m->value[3], m->value[4], m->value[5],
           m->value[6], m->value[7], atoms_preset_names[a->loss], (int)a->vertices, (double)a->aug, (long long)rep.step,
           rep.seconds, rep.samples_per_s);
  else if (rank == 0)
    printf("quality=%.6g err=%.3g loss=%s vertices=%d aug_angle=%g steps=%lld seconds=%.2f samples_per_s=%.6g\n",
           rep.metrics.value[0], rep.metrics.value[1], atoms_preset_names[a->loss], (int)a->vertices, (double)a->aug,
           (long long)rep.step, rep.seconds, rep.samples_per_s);
  return 0;
}

const app_command app_shapes_command = {
    .name = "shapes",
    .summary = "regular shapes (paper Sec. 6.1): an MLP regression or a diffusion model, with MSE, energy, Kabsch or "
               "sparse loss",
    .help = help,
    .long_running = 1,
    .size = sizeof(shapes_args),
    .options = shapes_options,
    .run = shapes_main,
};
