/* eloss train: data-parallel training of lib/nn models, the same for every
 * task (spins, regular shapes, denoising of atomic structures), bit-identical
 * for any number of ranks.
 *
 * A task is the model, its data and its loss behind three functions: the
 * loss and parameter gradient of a few training examples, the test-set
 * metrics, and destruction. The trainer owns everything else: which
 * examples make each step's batch, how gradients are reduced, Adam,
 * checkpoints, resume, stop requests, metrics and progress.
 *
 * Worked example (what `eloss train -task spin` does):
 *
 *   train_spin_options so;                      // data paths, model, loss
 *   train_spin_options_default(&so);
 *   so.train = "train.h5"; so.test = "test.h5"; so.shard_size = 16;
 *   train_task *task;
 *   train_spin_task_create(MPI_COMM_WORLD, &so, &task);   // collective
 *   train_options to;
 *   train_options_default(&to);
 *   to.steps = 1500; to.batch = 64; to.out = "model.ckpt"; ...
 *   train_report rep;
 *   train_run(MPI_COMM_WORLD, task, &to, &stop_flag, stderr, &rep);
 *   train_task_destroy(&task);
 *
 * Determinism: step s's batch is a pure function of (seed, s); the batch
 * is cut into `shards` micro-shards of batch / shards examples, rank r of
 * P computes shards [r K/P, (r+1) K/P) one at a time, each from a zero
 * gradient, and the shard gradients are added by one fixed binary tree
 * over the shards (core_tree_sum; lib/train/train.c). So the sum, the
 * Adam step and the parameters are the same bits on 1, 2 or 4 ranks (any
 * P dividing K) as long as the ranks run the same code on the same kind
 * of CPU. */
#ifndef ELOSS_TRAIN_H
#define ELOSS_TRAIN_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "eloss/atoms.h"
#include "eloss/core.h"
#include "eloss/io.h"
#include "eloss/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { TRAIN_METRICS_MAX = 8, TRAIN_CONFIG_BYTES = 512, TRAIN_INPUTS_MAX = 4, TRAIN_OPTIONS_BYTES = IO_JOB_IDENTITY_BYTES };

/* Named test-set numbers of a task, in a fixed order. */
typedef struct {
  int count;
  char name[TRAIN_METRICS_MAX][32];
  double value[TRAIN_METRICS_MAX];
} train_metrics;

/* The kinds of task, recorded in every model file. */
typedef enum { TRAIN_TASK_SPIN, TRAIN_TASK_DENOISE, TRAIN_TASK_SHAPES, TRAIN_TASK_DIFFUSION } train_task_kind;
enum { TRAIN_TASK_COUNT = TRAIN_TASK_DIFFUSION + 1, TRAIN_TASK_OPTIONS_BYTES = 1024 };
extern const char *const train_task_names[TRAIN_TASK_COUNT]; /* "spin", "denoise", "shapes", "diffusion" */

enum { TRAIN_ARCH_LEVELS = 8, TRAIN_ARCH_HIST = 64 };

/* What building a trained model's task again needs, typed (a model file's
 * "task" section holds it, after the kind, the convolutions and the data
 * fingerprints): each task fills its fields, the rest stay 0. */
typedef struct {
  int32_t width;                       /* channels (spin) or hidden width (denoise, shapes) */
  int32_t lattice, bc, L, depth;       /* spin: spin_lattice_kind, spin_boundary, L, depth */
  int32_t atoms, data_kind, n_levels;  /* denoise: padded atom count, 1 clustergen / 2 XYZ, noise levels */
  double levels[TRAIN_ARCH_LEVELS];
  int32_t diffusion_steps, features;   /* diffusion: T, per-atom features (depth: the network's layers) */
  int32_t network;                     /* diffusion: train_diffusion_network (0, GDM, in files before EGNN) */
  int32_t atom_hist[TRAIN_ARCH_HIST];  /* diffusion: training molecules by atom count (what samples draw) */
  double ema;                          /* diffusion: the decay of the parameters' moving average, 0: none */
} train_model_arch;

typedef struct train_task train_task;
struct train_task {
  const char *name;                /* "spin" */
  train_task_kind kind;
  int conv;                        /* spin: the nn_conv_algorithm its model runs (0 elsewhere) */
  char options[TRAIN_TASK_OPTIONS_BYTES]; /* the task's part of the run's identity, composed
                                             from its option struct ("-task spin -loss ce ...") */
  char config[TRAIN_CONFIG_BYTES]; /* one line: the model and what it was trained on (stored in checkpoints) */
  train_model_arch arch;           /* the same, typed: what train_model_open builds from */
  nn_params *params;               /* the model's parameter block */
  int64_t n_train;                 /* training examples */
  int shard_size;                       /* most examples per shard_grad call */
  uint32_t data_crc;               /* fingerprint of the training data (keys resume) */
  uint32_t test_crc;               /* ... and of the test data (the same formula: equal to a
                                      model's data_crc when it is that model's training data),
                                      0 without (keys resume: the metrics of one run are of one
                                      test set) */
  void *ctx;
  /* p->grad += weight * d(mean loss over the n examples index[0..n))/dparams,
    * *loss = that mean; n <= shard_size. step and shard number k say which draw
   * this is (a task that redraws something per step keys it by them, so
   * the draw does not depend on the rank count). Local. */
  core_status (*shard_grad)(train_task *task, int64_t step, int k, int64_t n, const int64_t *index, double weight,
                            double *loss);
  /* Metrics of the current parameters on the test set, the same on every
   * rank; collective. */
  core_status (*evaluate)(train_task *task, MPI_Comm comm, train_metrics *metrics);
  /* Metrics of the current parameters on the validation set (never the
   * test set), the same on every rank, value[0] the score that -select
   * best and -patience minimise; NULL: no validation set. Collective. */
  core_status (*validate)(train_task *task, MPI_Comm comm, train_metrics *metrics);
  void (*destroy)(train_task *task);
};

/* Accepts NULL and *task == NULL. */
void train_task_destroy(train_task **task);

typedef struct {
  int64_t steps;             /* Adam steps in all (a resumed run counts the steps before) */
  int64_t batch;             /* examples per step, a multiple of shards */
  int shards;                /* micro-shards per batch; the rank count must divide it */
  nn_adam adam;              /* lr, betas, eps */
  uint64_t seed;             /* batches: the order of epoch e is a pure function of (seed, e) */
  int64_t eval_every;        /* test metrics every this many steps, and at the last (0: last only) */
  int64_t checkpoint_every;  /* checkpoint every this many steps (0: by time only) */
  double checkpoint_seconds; /* and at least this often */
  const char *out;           /* the model file: checkpoints go there too, atomically;
                                NULL: no file, no checkpoints (a short in-memory run) */
  const char *metrics;       /* JSON lines, one per step with a loss, NULL: none; never
                                replaced without force; a fresh run writes <metrics>.partial
                                until its first model file */
  int resume, force;         /* continue from out; replace out (and metrics) */
  /* With a validation set (task->validate), scored at every evaluation: */
  int select_best;           /* the model file's parameters are those of the best validation score,
                                not the last (the last stay in the file for -resume) */
  int64_t patience;          /* stop after this many evaluations without a better validation score
                                (0: never) */
  const char *inputs[TRAIN_INPUTS_MAX]; /* files the run reads ([0] training, [1] test set, which must
                                           differ, [2] validation set; NULL: none): out and metrics must be
                                           none of them */
} train_options;

/* The fewest micro-shards a batch of `batch` examples can be cut into on
 * `ranks` ranks: the smallest multiple of ranks that divides batch, or 0
 * when there is none (batch must change then). Pure. */
int train_shards_for(int64_t batch, int ranks);

/* steps 1000, batch 64, shards 4, Adam defaults, seed 0, eval_every 100,
 * checkpoint_every 0, checkpoint_seconds 60; paths NULL. */
void train_options_default(train_options *opt);

typedef struct {
  int64_t step;            /* steps done (including those before a resume) */
  int interrupted;         /* stopped by *stop: checkpoint written, exit 3 */
  int stopped_early;       /* stopped by patience: finished */
  int64_t selected_step;   /* the step whose parameters the model file holds */
  int64_t best_step;       /* with a validation set: the step of the best score */
  double loss;             /* training loss of the last step */
  double samples_per_s;    /* training examples per second of this run's steps */
  double seconds;          /* this run's wall time */
  train_metrics metrics;   /* test metrics of the model file's parameters (the selected step's) */
  train_metrics valid;     /* and their validation metrics (count 0 without a validation set) */
} train_report;

/* Train task's model as configured, checkpointing to opt->out. Before any
 * work rank 0 locks <out>.lock and decides: a new run refuses an existing
 * out unless force; resume needs a checkpoint of the same run (options
 * CRC and task config) with fewer than opt->steps steps. When *stop becomes
 * non-zero on any rank (SIGTERM), the ranks finish the step, write a
 * checkpoint and return with report->interrupted = 1. Progress lines (rank
 * 0) go to `progress` if not NULL. Collective. */
core_status train_run(MPI_Comm comm, train_task *task, const train_options *opt, volatile sig_atomic_t *stop,
                      FILE *progress, train_report *report);

/* ---- evaluation --------------------------------------------------------- */

/* Rows [0, count) of a test set, `row` doubles each, computed in chunks of
 * `chunk` rows given whole to the ranks (a chunk's forward pass is then
 * the same whatever the rank count, and so are its numbers) and gathered
 * in order on rank 0 into all (count, row); all may be NULL elsewhere.
 * range(ctx, start, n, out) fills rows [start, start + n). Collective. */
typedef core_status (*train_rows_fn)(void *ctx, int64_t start, int64_t n, double *out);
core_status train_gather_rows(MPI_Comm comm, int64_t count, int64_t chunk, int64_t row, train_rows_fn range, void *ctx,
                              double *all);

/* ---- model files --------------------------------------------------------- */

/* The run's identity: the task's options, the trainer's (-batch, -shards,
 * -lr, -seed) and the CRC-32s of the training and test data, one line
 * (what keys -resume, and what a refused resume compares). Pure. */
void train_identity(const train_task *task, const train_options *opt, char *text, size_t size);

typedef struct {
  train_task_kind kind; /* the task the model was trained for */
  int conv;             /* spin: the nn_conv_algorithm its training ran */
  train_model_arch arch;
  uint32_t data_crc, test_crc; /* its training and test data's fingerprints (train_task) */
  int64_t step;  /* steps trained */
  int64_t batch; /* examples per step */
  int64_t shard_size; /* examples per micro-shard: the chunk of training's test
                    metrics (a forward's bits may depend on its batch size) */
  int64_t selected_step; /* the step whose parameters the file holds: step, or with
                            -select best the best validation score's */
  char options[TRAIN_OPTIONS_BYTES]; /* the run's identity: its options, then -train_data and
                                        -test_data, the fingerprints of its data */
} train_model_meta;

/* Read the config line of a model file written by train_run (any of its
 * checkpoints): what to build before loading it. Local. */
core_status train_model_info(const char *path, char config[TRAIN_CONFIG_BYTES], train_model_meta *meta);

/* Load its parameters into p, after checking that the file's config is
 * `config`, every section's checksum and size, and that the parameters
 * are finite. Local. */
core_status train_model_load(const char *path, const char *config, nn_params *p, train_model_meta *meta);

/* A trained model ready for a test set: the task of its kind and
 * architecture (meta->arch) built for `test`, with `shard_size` examples per
 * forward pass (0: the training's micro-shard, which reproduces its test
 * metrics bit for bit) and, for spin models, convolutions `conv` (-1: the
 * training's), its parameters loaded. Spin and denoise models; a shapes
 * model is refused (eloss shapes evaluates its own). A test set of
 * another kind than the model's data is refused by name. Collective. */
core_status train_model_open(MPI_Comm comm, const char *path, const char *test, int shard_size, int conv,
                             train_task **task, train_model_meta *meta);

/* ---- the spin task (lib/train/spin_task.c) -------------------------------- */

typedef struct {
  const char *train;   /* HDF5 from eloss spingen; NULL for evaluation only */
  const char *test;    /* HDF5 from eloss spingen; NULL: no test metrics */
  const char *valid;   /* HDF5 from eloss spingen, disjoint from both: what -select best and
                          -patience score (the validation energy gap); NULL: none */
  int64_t train_count; /* train on the first train_count instances of `train` (0: all): nested
                          training sets of one file, for data-size studies */
  spin_loss_options loss;
  int width, depth;    /* the model of nn.h */
  nn_conv_algorithm conv; /* its convolutions (nn.h); 0 = Winograd where oneDNN has it */
  uint64_t seed;       /* initial weights */
  int shard_size;           /* most instances per forward pass */
  /* The lattice when there is no training set (evaluation): */
  spin_lattice_kind kind;
  spin_boundary bc;
  int L;
} train_spin_options;

/* no paths, ce, T 0.1, h0 5, width 32, depth 6, seed 0, shard_size 16. */
void train_spin_options_default(train_spin_options *opt);

/* Load and check the datasets (spinset_load), build the model for their
 * lattice (circular padding for periodic, zero for open), the inputs and
 * the loss. Train, test and validation sets must be the same lattice and
 * share no instance. Collective. */
core_status train_spin_task_create(MPI_Comm comm, const train_spin_options *opt, train_task **task);

/* The algorithm its model's convolutions run (nn_spin_model_conv_in_use). Local. */
nn_conv_algorithm train_spin_task_conv(const train_task *task);


/* Per test instance, on rank 0 (NULL elsewhere allowed): energy gap
 * E(sign z) - E(ground state), 1 if that gap is 0 (within 1e-9), the
 * fraction of sites right up to the global flip, and E(sign z). Arrays of
 * the test set's size. Collective. */
core_status train_spin_evaluate_instances(train_task *task, MPI_Comm comm, double *gap, int8_t *exact,
                                          double *accuracy, double *energy);
/* The network's logits of every test instance, (n_test, n_sites) float32
 * on rank 0 (logits may be NULL elsewhere), computed in the chunks of the
 * evaluation: the numbers the metrics come from. Collective. */
core_status train_spin_predict(train_task *task, MPI_Comm comm, float *logits);
/* Write the test set's predictions to an HDF5 file: "logits" (n_test,
 * L, L) float32, "spins" (n_test, L, L) int8 (+1 where the logit >= 0)
 * and the network's "inputs" (n_test, 4, L, L) float32; through io_job (checked, locked, staged,
 * never over an existing file without force, never over one of the n_inputs
 * inputs); its `model` attribute is model_identity (the model file's
 * train_model_meta.options). Collective. */
core_status train_spin_write_predictions(train_task *task, MPI_Comm comm, const char *path, int force,
                                         const char *model_identity, const char *const *inputs, int n_inputs);
/* Mean gap, its standard error (nan for one instance), exact fraction and
 * mean site accuracy of n instances, summed in instance order. Pure. */
void train_spin_summary(int64_t n, const double *gap, const int8_t *exact, const double *accuracy, double v[4]);
/* Instances in the test set (0 without one). */
int64_t train_spin_test_count(const train_task *task);

/* ---- the shapes task (lib/train/shapes_task.c, shapes_diffusion.c; paper Sec. 6.1) ---- */

/* What is learnt of the regular N-gons: the paper's regression (radius ->
 * vertices, an MLP) or an unconditional diffusion model of the polygons
 * themselves (an MLP noise predictor trained and sampled with
 * lib/diffusion, the authors' released shape_generation experiment). */
typedef enum { TRAIN_SHAPES_REGRESSION, TRAIN_SHAPES_DIFFUSION } train_shapes_model;
enum { TRAIN_SHAPES_MODEL_COUNT = TRAIN_SHAPES_DIFFUSION + 1 };
extern const char *const train_shapes_model_names[TRAIN_SHAPES_MODEL_COUNT]; /* "regression", "diffusion" */

/* What the diffusion model's network predicts, and so how its loss is
 * weighted over the time steps t.
 * EPS: the noise eps (EDM, the molecule task): mse is the eps-MSE
 *   |eps_hat - eps|^2; energy, kabsch, sparse are SNR_t L(x_hat, x) with
 *   x_hat = (z_t - sigma_t eps_hat) / alpha_t and SNR_t = alpha_t^2 /
 *   sigma_t^2, the authors' weighting of the molecule experiments (for the
 *   MSE, SNR_t |x_hat - x|^2 is the eps-MSE exactly).
 * X: the clean shape x itself (the authors' shape code): every loss is
 *   L(x_hat, x), one weight for every t; the sampler gets eps_hat =
 *   (z_t - alpha_t x_hat) / sigma_t. */
typedef enum { TRAIN_PREDICT_EPS, TRAIN_PREDICT_X } train_prediction;
enum { TRAIN_PREDICT_COUNT = TRAIN_PREDICT_X + 1 };
extern const char *const train_prediction_names[TRAIN_PREDICT_COUNT]; /* "eps", "x" */

typedef struct {
  train_shapes_model model;
  atoms_preset loss;
  atoms_coeff_law coeff; /* energy, sparse: Eq. 7's coefficient law (the paper's shapes: exp_dist) */
  int vertices;        /* N */
  double aug_angle;    /* targets rotated by U[-aug_angle, aug_angle] (radians) */
  int64_t samples;     /* training samples */
  int64_t test;        /* regression: fresh test radii; diffusion: shapes generated for the metrics */
  int hidden;          /* MLP {1, H, H, 2N}; diffusion {2N + 1, H, H, 2N} */
  uint64_t seed;       /* data, initial weights (diffusion: and every draw) */
  int shard_size;      /* most samples per forward pass (diffusion: also shapes sampled at once) */
  double r_min, r_max; /* radii ~ U[r_min, r_max] */
  /* Diffusion only: */
  int diffusion_steps; /* T of lib/diffusion's schedule */
  double ema;          /* decay of the parameters' moving average the samples use (0: none) */
  train_prediction predict;
} train_shapes_options;

/* regression, mse, exp_dist, 9 vertices, no rotation, 20000 samples, hidden 64,
 * shard_size 32, radii U[0.3, 5]; diffusion: T 1000, EMA 0.999, eps
 * prediction; test must be set. */
void train_shapes_options_default(train_shapes_options *opt);
/* Local: the data are a pure function of (seed, index) on every rank. */
core_status train_shapes_task_create(const train_shapes_options *opt, train_task **task);
/* Rank 0 gets (test, 1 + 2N): per test shape its radius and predicted
 * vertices (x, y); regression only; collective. */
core_status train_shapes_predict(train_task *task, MPI_Comm comm, double *radius_and_vertices);
/* Diffusion: rank 0 gets (test, 2N), the vertices of generated shape j =
 * 0 .. test - 1, sampled with EDM's ancestral sampler (lib/diffusion) from
 * the moving average of the parameters where there is one; shape j's
 * noise is the stream (seed, j) and shapes go to the ranks in whole chunks
 * of shard_size, so the numbers do not depend on the rank count.
 * Collective. */
core_status train_shapes_generate(train_task *task, MPI_Comm comm, double *vertices);
/* Quality of one predicted shape p (N, 2) of true radius r (App. C.1). Pure. */
double train_shapes_quality(int N, const double *p, double r);
/* Mean distance of the vertices of p (N, 2) from their centroid: the
 * radius a generated shape's quality is taken at. Pure. */
double train_shapes_radius(int N, const double *p);
/* The predicted test shapes (regression) or the generated shapes
 * (diffusion; radius: train_shapes_radius) as CSV (rows shape, radius,
 * vertex, x, y, quality), written atomically by rank 0 of comm. Collective. */
core_status train_shapes_write_predictions(train_task *task, MPI_Comm comm, const char *path);

/* ---- the denoise task (lib/train/denoise_task.c; paper Sec. 4.2) ------------ */

enum { TRAIN_DENOISE_MAX_LEVELS = TRAIN_ARCH_LEVELS };

typedef struct {
  const char *train;      /* eloss clustergen HDF5 or multi-frame XYZ (molecules, padded to the largest); NULL:
                             evaluation only */
  const char *test;       /* the same kind of file; required (the metrics) */
  atoms_preset loss;
  atoms_coeff_law coeff;  /* energy, sparse: Eq. 7 coefficient law (exp_dist) */
  int n_levels;           /* noise levels sigma (length units of the data) */
  double levels[TRAIN_DENOISE_MAX_LEVELS];
  int rotate;             /* rotate every training draw uniformly at random */
  int width;              /* MLP {3N + 1, width, width, 3N}; XYZ data: {4N + 1, ...} (atomic numbers too) */
  int atoms;              /* evaluation only: the model's (padded) atom count; 0: the test set's */
  int data_kind;          /* evaluation only: the model's data, 1 clustergen, 2 XYZ; 0: the test set's */
  uint64_t seed;          /* initial weights and every noise draw */
  int shard_size;              /* most draws per forward pass */
} train_denoise_options;

/* mse, exp_dist, levels 0.05 0.1 0.2, no rotation, width 128, seed 0,
 * shard_size 16; paths NULL. */
void train_denoise_options_default(train_denoise_options *opt);
/* Read and check both files (clustergen: every crc32 row; XYZ: at least 2
 * atoms per frame, padded to the largest), centre every structure and
 * build the model. Collective. */
core_status train_denoise_task_create(MPI_Comm comm, const train_denoise_options *opt, train_task **task);

/* ---- the diffusion task (lib/train/diffusion_task.c; paper Sec. 4.2, 6.2) ---------- */

/* The networks a diffusion model can be (nn_model_types' names in
 * train_diffusion_network_names): EDM's GNN, trained as GDM or GDM-aug
 * (with rotate), and EDM's EGNN. */
typedef enum { TRAIN_DIFFUSION_GDM, TRAIN_DIFFUSION_EGNN, TRAIN_DIFFUSION_NETWORKS } train_diffusion_network;
extern const char *const train_diffusion_network_names[TRAIN_DIFFUSION_NETWORKS]; /* "gdm", "egnn" */

typedef struct {
  const char *train;       /* multi-frame XYZ of molecules of H, C, N, O, F; NULL: evaluation only */
  const char *test;        /* the same kind of file; required (the metrics) */
  atoms_preset loss;       /* mse: EDM's eps-MSE; energy, kabsch, sparse: on x_hat's positions */
  atoms_coeff_law coeff;   /* energy, sparse: Eq. 7 coefficient law (exp_dist) */
  double pos_weight;       /* the position term's weight; 0: the paper's for the network and loss */
  int diffusion_steps;     /* T (EDM: 1000) */
  train_diffusion_network network;
  int width, layers;       /* the network's hidden width and layers (EGNN: equivariant blocks) */
  int rotate;              /* GDM-aug: every training draw turned by a uniformly random rotation (GDM only:
                              EGNN is equivariant) */
  double ema;              /* decay of the parameters' moving average the samples use (0: none) */
  uint64_t seed;           /* initial weights and every draw */
  int shard_size;          /* most molecules per forward pass */
} train_diffusion_options;

/* mse, exp_dist, T 1000, GDM of width 64 and 4 layers, EMA 0.999, seed 0, shard_size 8;
 * pos_weight 0: train_diffusion_defaults'. */
void train_diffusion_options_default(train_diffusion_options *opt);
/* The paper's tuned learning rate and positional weight (its Tables 6 and 7)
 * for a network, loss and coefficient law: GDM mse 1e-3 / 1.5, kabsch
 * 8e-4 / 0.8, energy and sparse 4e-4 / 0.05 with exp_dist (9e-4, 7e-4,
 * 6e-4 for constant, inv_dist, inv_dist2); EGNN mse 3e-4 / 1.0, kabsch
 * 3e-4 / 0.8, energy and sparse 1e-4 / 0.05 (inv_dist2: 0.1). */
void train_diffusion_defaults(train_diffusion_network network, atoms_preset loss, atoms_coeff_law coeff, double *lr,
                              double *pos_weight);
/* Read both files (every element H, C, N, O or F; every molecule centred;
 * fewer than TRAIN_ARCH_HIST atoms), build the network and EDM's schedule.
 * Collective. */
core_status train_diffusion_task_create(MPI_Comm comm, const train_diffusion_options *opt, train_task **task);

/* The network of a diffusion model file, with its parameters (or, with
 * use_ema and when the file keeps one, their moving average, what
 * eloss sample uses), for forwards of up to max_atoms atoms in all in
 * molecules of up to max_n atoms (0: the largest training molecule)
 * (nn_model_forward with nn_input x (atoms, 3 + 5), natoms, t = t / T);
 * meta receives the file's record. Local. */
core_status train_diffusion_network_open(const char *path, int64_t max_atoms, int max_n, int use_ema,
                                         nn_model **model, train_model_meta *meta);

typedef struct {
  const char *model;         /* a diffusion model file of train_diffusion_task_create's runs */
  int64_t count;             /* molecules to generate */
  uint64_t seed;
  int chunk;                 /* molecules per forward pass (part of the bits: a GEMM's depend on its size) */
  const char *out;           /* the XYZ file */
  int resume, force;         /* io_job's: continue <out>.ckpt; replace a finished -out or discard a checkpoint */
  double checkpoint_seconds; /* longest time between checkpoints (rank 0's clock) */
} train_sample_options;

typedef struct {
  int64_t molecules, atoms;
  double atom_stability, molecule_stability; /* EDM's (eloss/molecule.h) */
  double seconds;
  int64_t done;    /* molecules generated when the run ended (a stop: fewer than count) */
  int interrupted; /* stopped on request, the finished molecules checkpointed */
} train_sample_report;

/* Generate `count` molecules from a diffusion model file with EDM's
 * ancestral sampler (lib/diffusion): molecule j draws its atom count from
 * the training set's histogram and all its noise from (seed, j); types are
 * the argmax of the features. Rounds of `chunk` molecules per rank, given
 * whole to the ranks, so the XYZ file is the same bytes on any rank count.
 * A long job on io_job (STAGED, kind "sample"): the finished molecules are
 * checkpointed in <out>.ckpt (every checkpoint_seconds, and when *stop
 * becomes non-zero: the round in progress is abandoned, the run returns
 * CORE_ERR_STOPPED with report->interrupted); resume continues to the
 * same bytes; the XYZ file is published when every molecule is done.
 * Progress lines to `progress` (rank 0) when not NULL. Collective. */
core_status train_diffusion_sample(MPI_Comm comm, const train_sample_options *opt, volatile sig_atomic_t *stop,
                                   FILE *progress, train_sample_report *report);

#ifdef __cplusplus
}
#endif
#endif
