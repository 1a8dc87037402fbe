#define _POSIX_C_SOURCE 200809L
/* eloss eval: a trained model on a test set.
 *
 *   eloss eval -model model.ckpt -test test.h5 [-csv per_instance.csv]
 *
 * Prints energy_gap=<mean> err=<standard error> exact_fraction=<f>
 * site_accuracy=<a>; the prediction is sign(z) per site, the gap
 * E(prediction) - E(ground state), accuracy up to the global flip. The
 * test instances are shared over the ranks; results do not depend on how
 * many.
 *
 *   eloss eval -model denoise.ckpt -test test.h5
 *
 * A denoise model (eloss train -task denoise) prints its test metrics
 * (test_dist_error=... as at the end of training) on a clustergen or XYZ
 * test set of the model's kind and atom count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/train.h"

static const char help[] =
    "eloss eval: evaluate a model file of eloss train on a test set (spin models: HDF5 from eloss spingen).\n"
    "Prints energy_gap=<mean> err=<standard error> exact_fraction=<f> site_accuracy=<a>;\n"
    "-csv writes one row per instance: instance, energy_gap, exact, site_accuracy,\n"
    "predicted_energy, ground_state_energy.\n"
    "A denoise model prints the metrics of eloss train -task denoise on a test set of its kind (clustergen\n"
    "HDF5 or XYZ) and atom count.\n";

/* The per-instance table, atomically (rank 0). */
static core_status write_csv(const char *path, int64_t count, const double *gap, const int8_t *exact, const double *acc,
                             const double *energy) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  fprintf(f.fp, "instance,energy_gap,exact,site_accuracy,predicted_energy,ground_state_energy\n");
  for (int64_t i = 0; i < count; ++i)
    fprintf(f.fp, "%lld,%.17g,%d,%.17g,%.17g,%.17g\n", (long long)i, gap[i], exact[i], acc[i], energy[i],
            energy[i] - gap[i]);
  return io_atomic_commit(&f);
}

typedef struct {
  char model[PETSC_MAX_PATH_LEN], test[PETSC_MAX_PATH_LEN], csv[PETSC_MAX_PATH_LEN], pred[PETSC_MAX_PATH_LEN];
  PetscInt chunk, conv;
  PetscBool csv_set, pred_set, conv_set, force;
} eval_args;

static PetscErrorCode eval_options(void *opts) {
  eval_args *a = opts;
  a->conv = NN_CONV_WINOGRAD;
  PetscBool model_set, test_set, set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss eval options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-model", "model file of eloss train, required", "a file name", a->model,
                           sizeof a->model, &model_set));
  PetscCall(app_opt_string(po, "-test", "test set (spin: HDF5 from eloss spingen; denoise: clustergen HDF5 or XYZ), "
                           "required", "a file name", a->test, sizeof a->test, &test_set));
  PetscCall(app_opt_string(po, "-csv", "per-instance results", "a file name", a->csv, sizeof a->csv, &a->csv_set));
  PetscCall(app_opt_string(po, "-pred_out", "spin models: the test set's network inputs, logits and predicted spins "
                           "(HDF5)", "a file name", a->pred, sizeof a->pred, &a->pred_set));
  PetscCall(app_opt_bool(po, "-force", "replace an existing -csv or -pred_out", &a->force, &set));
  PetscCall(app_opt_int(po, "-chunk", "instances per forward pass (0: the training's micro-shard size, which "
                        "reproduces its test metrics bit for bit)", 0, 65536, &a->chunk, &set));
  PetscCall(app_opt_enum(po, "-conv", "spin models: the convolutions' algorithm (default: the training's, which "
                         "reproduces its test metrics bit for bit)", nn_conv_algorithm_names, NN_CONV_COUNT, &a->conv,
                         &a->conv_set));
  PetscOptionsEnd();
  if (!model_set) app_option_error("-model", "required: a model file written by eloss train");
  if (!test_set) app_option_error("-test", "required: the test set");
  if (a->csv_set && (io_same_file(a->csv, a->model) || io_same_file(a->csv, a->test)))
    app_option_error("-csv", "is an input of the run (-model or -test): choose another file");
  else if (a->csv_set && a->pred_set && io_same_file(a->csv, a->pred))
    app_option_error("-pred_out", "is also the -csv file: choose another file");
  else if (a->pred_set && (io_same_file(a->pred, a->model) || io_same_file(a->pred, a->test)))
    app_option_error("-pred_out", "is an input of the run (-model or -test): choose another file");
  return 0;
}

/* A denoise model: the metrics of its training, on this test set (rank 0). */
static core_status eval_denoise(const eval_args *a, train_task *task, const train_model_meta *meta) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (a->conv_set) return CORE_ERROR(CORE_ERR_ARG, "-conv: applies to spin models; %s is a denoise model", a->model);
  if (a->csv_set)
    return CORE_ERROR(CORE_ERR_ARG, "-csv: per-instance tables are written for spin models; %s is a denoise model",
                      a->model);
  if (a->pred_set)
    return CORE_ERROR(CORE_ERR_ARG, "-pred_out: predictions are written for spin models; %s is a denoise model",
                      a->model);
  train_metrics m;
  core_status st = task->evaluate(task, MPI_COMM_WORLD, &m);
  if (!st && rank == 0) {
    for (int k = 0; k < m.count; ++k) printf("%s%s=%.9g", k ? " " : "", m.name[k], m.value[k]);
    printf(" steps=%lld\n", (long long)meta->step);
  }
  return st;
}

/* What a reader of the numbers should know (rank 0). */
static void eval_warnings(const eval_args *a, const train_task *task, const train_model_meta *meta, int64_t n_test,
                          const double *gap) {
  int64_t below = 0;
  for (int64_t i = 0; i < n_test; ++i) below += gap[i] < -1e-9;
  if (below)
    fprintf(stderr, "eloss eval: warning: on %lld instances the prediction has a lower energy than the stored ground "
                    "state, which is then not a ground state (heuristic -gs pt or sa data); their gaps are negative\n",
            (long long)below);
  if (task->test_crc == meta->data_crc)
    fprintf(stderr, "eloss eval: warning: %s is the data %s was trained on: these are training numbers, not test "
                    "ones\n", a->test, a->model);
  if (n_test == 1) fprintf(stderr, "eloss eval: note: one test instance: its standard error is not defined (err=nan)\n");
}

static int eval_main(void *opts) {
  const eval_args *a = opts;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  train_task *task = NULL;
  train_model_meta meta;
  core_status st = train_model_open(MPI_COMM_WORLD, a->model, a->test, (int)a->chunk, a->conv_set ? (int)a->conv : -1,
                                    &task, &meta);
  if (!st && meta.kind == TRAIN_TASK_DENOISE) {
    st = eval_denoise(a, task, &meta);
    train_task_destroy(&task);
    return st ? app_report("eval", st) : 0;
  }
  const int conv_asked = a->conv_set ? (int)a->conv : meta.conv;
  if (!st && rank == 0 && (int)train_spin_task_conv(task) != conv_asked)
    fprintf(stderr, "eloss eval: -conv %s: oneDNN has no Winograd kernel for this model on this CPU; direct "
                    "convolutions give the numbers to float32 rounding, not the training's bits\n",
            nn_conv_algorithm_names[conv_asked]);
  /* An existing table is kept unless -force (checked before the work). */
  if (!st && rank == 0 && a->csv_set && !a->force && access(a->csv, F_OK) == 0)
    st = CORE_ERROR(CORE_ERR_ARG, "%s already exists; pass -force to replace it, or choose another -csv", a->csv);
  st = core_agree(MPI_COMM_WORLD, st);
  const int64_t n_test = st ? 0 : train_spin_test_count(task);
  double *gap = NULL, *acc = NULL, *energy = NULL;
  int8_t *exact = NULL;
  if (!st && rank == 0) {
    gap = malloc(sizeof(double) * (size_t)n_test), acc = malloc(sizeof(double) * (size_t)n_test);
    energy = malloc(sizeof(double) * (size_t)n_test), exact = malloc((size_t)n_test);
    if (!gap || !acc || !energy || !exact)
      st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate %lld results", (long long)n_test);
  }
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st) st = train_spin_evaluate_instances(task, MPI_COMM_WORLD, gap, exact, acc, energy);
  if (!st && rank == 0 && a->csv_set) st = write_csv(a->csv, n_test, gap, exact, acc, energy);
  st = core_agree(MPI_COMM_WORLD, st);
  const char *inputs[3] = {a->model, a->test, a->csv_set ? a->csv : NULL};
  if (!st && a->pred_set)
    st = train_spin_write_predictions(task, MPI_COMM_WORLD, a->pred, a->force, meta.options, inputs, 3);
  if (!st && rank == 0) {
    double v[4];
    train_spin_summary(n_test, gap, exact, acc, v);
    eval_warnings(a, task, &meta, n_test, gap);
    printf("energy_gap=%.9g err=%.9g exact_fraction=%.9g site_accuracy=%.9g instances=%lld steps=%lld", v[0], v[1],
           v[2], v[3], (long long)n_test, (long long)meta.step);
    /* A model trained with -select best holds an earlier step's parameters. */
    if (meta.selected_step != meta.step) printf(" selected_step=%lld", (long long)meta.selected_step);
    printf("\n");
  }
  free(gap), free(acc), free(energy), free(exact);
  train_task_destroy(&task);
  return st ? app_report("eval", st) : 0;
}

const app_command app_eval_command = {
    .name = "eval",
    .summary = "evaluate a trained model on a test set (energy gap, exact fraction, accuracy)",
    .help = help,
    .size = sizeof(eval_args),
    .options = eval_options,
    .run = eval_main,
};
