/* The spin task of eloss train: predict the ground state of an
 * Edwards-Anderson instance from its couplings (paper Sec. 6.3).
 *
 * train_spin_task_create(comm, opt, &task): collective; loads and checks
 *   the datasets (spinset_load), builds the nn.h spin model for their
 *   lattice, the network inputs of every instance (once) and the loss.
 * train_spin_evaluate_instances: collective; per-instance results on rank 0.
 * The task's shard_grad is local and allocates nothing.
 *
 * Evaluation cuts the test set into chunks of `shard` instances, gives
 * each rank whole chunks and gathers the per-instance numbers in instance
 * order on rank 0, which sums them in that order: a chunk's forward pass
 * is the same whatever the rank count, so are the metrics.
 *
 * The prediction is y_i = sign(z_i) (+1 at z = 0); its energy gap is
 * E(y) - E(ground state) >= 0, zero for an exact ground state (either
 * sign); site accuracy is the larger of the fractions of sites equal to
 * the ground state and to its flip. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"
#include "eloss/mc.h"
#include "eloss/spinset.h"
#include "eloss/train.h"
#include "train_impl.h"

typedef struct {
  train_spin_options opt;
  spin_lattice lat;
  spinset_data train, test, valid;
  float *x_train, *x_test, *x_valid; /* (N, 4, S) network inputs */
  nn_model *model; /* the spin model of nn.h */
  spin_loss_plan *plan;
  float *xs, *z, *dz;           /* (shard, 4 S), (shard, S), (shard, S) */
  double *Js;                   /* (shard, slots) */
  int8_t *ys;                   /* (shard, S) */
  train_task task;
} spin_ctx;

void train_spin_options_default(train_spin_options *o) {
  memset(o, 0, sizeof *o);
  spin_loss_options_default(&o->loss);
  o->width = 32;
  o->depth = 6;
  o->shard_size = 16;
  o->kind = SPIN_SQUARE;
  o->bc = SPIN_PERIODIC;
}

static void describe(const spin_lattice *lat, const train_spin_options *o, char *config) {
  snprintf(config, TRAIN_CONFIG_BYTES, "task=spin lattice=%s bc=%s L=%d width=%d depth=%d",
           spin_lattice_kind_names[lat->kind], spin_boundary_names[lat->bc], lat->L, o->width, o->depth);
}

static void destroy(train_task *t) {
  spin_ctx *c = t->ctx;
  spinset_data_free(&c->train);
  spinset_data_free(&c->test);
  spinset_data_free(&c->valid);
  free(c->x_train), free(c->x_test), free(c->x_valid), free(c->xs), free(c->z), free(c->dz), free(c->Js), free(c->ys);
  nn_model_destroy(&c->model);
  spin_loss_plan_destroy(&c->plan);
  free(c);
}

static core_status shard_grad(train_task *t, int64_t step, int k_shard, int64_t n, const int64_t *index,
                              double weight, double *loss) {
  (void)step, (void)k_shard; /* nothing is redrawn per step */
  spin_ctx *c = t->ctx;
  const int64_t S = c->lat.n_sites, slots = spin_lattice_bond_slots(&c->lat);
  CORE_CHECK(n >= 1 && n <= c->opt.shard_size, CORE_ERR_ARG, "spin task: %lld instances in a shard of %d", (long long)n,
             c->opt.shard_size);
  for (int64_t k = 0; k < n; ++k) {
    const int64_t i = index[k];
    memcpy(c->xs + k * 4 * S, c->x_train + i * 4 * S, sizeof(float) * (size_t)(4 * S));
    memcpy(c->Js + k * slots, c->train.J + i * slots, sizeof(double) * (size_t)slots);
    memcpy(c->ys + k * S, c->train.gs + i * S, (size_t)S);
  }
  CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)n, .x = c->xs}, c->z));
  CORE_CALL(spin_loss_execute_f32(c->plan, n, c->Js, c->z, c->ys, loss, c->dz));
  const float w = (float)weight;
  for (int64_t k = 0; k < n * S; ++k) c->dz[k] *= w;
  return nn_model_backward(c->model, (int)n, c->dz);
}

int64_t train_spin_test_count(const train_task *t) { return ((const spin_ctx *)t->ctx)->test.count; }

/* One evaluation set: its instances and their network inputs. */
typedef struct {
  spin_ctx *c;
  const spinset_data *d;
  const float *x;
} eval_set;

/* Per instance: gap, exact, accuracy, energy of instances [start, start + count). */
static core_status evaluate_range(const eval_set *set, int64_t start, int64_t count, double *out) {
  spin_ctx *c = set->c;
  const spinset_data *d = set->d;
  const int64_t S = c->lat.n_sites, slots = spin_lattice_bond_slots(&c->lat);
  for (int64_t at = 0; at < count; at += c->opt.shard_size) {
    const int64_t b = count - at < c->opt.shard_size ? count - at : c->opt.shard_size;
    CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)b, .x = set->x + (start + at) * 4 * S}, c->z));
    for (int64_t k = 0; k < b; ++k) {
      const int64_t i = start + at + k;
      int64_t same = 0;
      for (int64_t s = 0; s < S; ++s) {
        c->ys[s] = c->z[k * S + s] >= 0.0f ? 1 : -1;
        same += c->ys[s] == d->gs[i * S + s];
      }
      const double e = spin_energy(&c->lat, d->J + i * slots, 0.0, c->ys);
      const double gap = e - d->energy[i];
      double *o = out + 4 * (at + k);
      o[0] = gap;
      o[1] = fabs(gap) <= 1e-9 * fmax(1.0, fabs(d->energy[i]));
      o[2] = (double)(same > S - same ? same : S - same) / (double)S;
      o[3] = e;
    }
  }
  return CORE_OK;
}

static core_status rows_fn(void *set, int64_t start, int64_t n, double *out) {
  return evaluate_range(set, start, n, out);
}

/* The logits of instances [start, start + count), as doubles. */
static core_status logits_fn(void *ctx, int64_t start, int64_t count, double *out) {
  spin_ctx *c = ctx;
  const int64_t S = c->lat.n_sites;
  for (int64_t at = 0; at < count; at += c->opt.shard_size) {
    const int64_t b = count - at < c->opt.shard_size ? count - at : c->opt.shard_size;
    CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)b, .x = c->x_test + (start + at) * 4 * S}, c->z));
    for (int64_t k = 0; k < b * S; ++k) out[at * S + k] = c->z[k];
  }
  return CORE_OK;
}

core_status train_spin_predict(train_task *t, MPI_Comm comm, float *logits) {
  spin_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t n = c->test.count, S = c->lat.n_sites;
  CORE_CHECK(n > 0, CORE_ERR_ARG, "spin task: no test set to predict");
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(n * S)) : NULL;
  core_status st = core_agree(comm, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate %lld predictions",
                                                                     (long long)n) : CORE_OK);
  if (!st) st = train_gather_rows(comm, n, c->opt.shard_size, S, logits_fn, c, all);
  for (int64_t k = 0; !st && rank == 0 && k < n * S; ++k) logits[k] = (float)all[k];
  free(all);
  return st;
}

core_status train_spin_write_predictions(train_task *t, MPI_Comm comm, const char *path, int force,
                                         const char *model_identity, const char *const *inputs, int n_inputs) {
  spin_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t n = c->test.count, S = c->lat.n_sites;
  float *logits = rank == 0 ? malloc(sizeof(float) * (size_t)(n > 0 ? n * S : 1)) : NULL;
  int8_t *spins = rank == 0 ? malloc((size_t)(n > 0 ? n * S : 1)) : NULL;
  core_status st = core_agree(comm, rank == 0 && (!logits || !spins)
                                        ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate %lld predictions", (long long)n)
                                        : CORE_OK);
  if (!st) st = train_spin_predict(t, comm, logits);
  for (int64_t k = 0; !st && rank == 0 && k < n * S; ++k) spins[k] = logits[k] >= 0.0f ? 1 : -1;
  /* A short output of one writer: checked, locked, staged, published. */
  io_job_spec spec = {.command = "eval", .out = path, .out_option = "-pred_out", .kind = "predictions",
                      .identity = "", .mode = IO_JOB_STAGED, .no_checkpoint = 1, .force = force, .inputs = inputs,
                      .n_inputs = n_inputs};
  io_job *job = NULL;
  if (!st) st = io_job_begin(comm, &spec, &job);
  io_h5 *f = NULL;
  int64_t shape[4] = {n, c->lat.L, c->lat.L, c->lat.L};
  const int64_t mine = rank == 0 ? n : 0;
  if (!st) st = io_h5_create(comm, io_job_partial(job), &f);
  if (!st) st = io_h5_dataset_create(f, "logits", IO_F32, 1 + c->lat.dim, shape);
  if (!st) st = io_h5_dataset_create(f, "spins", IO_I8, 1 + c->lat.dim, shape);
  const int64_t in_shape[4] = {n, 4, c->lat.L, c->lat.L};
  if (!st) st = io_h5_dataset_create(f, "inputs", IO_F32, 4, in_shape);
  if (!st) st = io_h5_write_rows(f, "inputs", IO_F32, 0, mine, c->x_test);
  if (!st) st = io_h5_write_rows(f, "logits", IO_F32, 0, mine, logits);
  if (!st) st = io_h5_write_rows(f, "spins", IO_I8, 0, mine, spins);
  if (!st) st = io_h5_attr_string(f, "/", "model", model_identity);
  if (!st) st = io_h5_attr_string(f, "/", "test", c->opt.test);
  if (!st) st = io_h5_attr_string(f, "/", "spins_rule", "spins = +1 where logits >= 0, else -1 (q(s = +1) = "
                                  "sigmoid(logit))");
  if (!st) st = io_h5_attr_string(f, "/", "inputs_rule", "the network's input: per site the couplings of its bonds "
                                  "to the right, left, down and up neighbours (0 where an open lattice ends)");
  core_status closed = f ? io_h5_close(&f) : CORE_OK;
  if (!st) st = closed;
  if (!st) st = io_job_publish(job);
  if (st && job && rank == 0) remove(io_job_partial(job));
  io_job_end(&job);
  free(logits), free(spins);
  return st;
}

/* Per instance of a set, on rank 0 (train_spin_evaluate_instances). */
static core_status set_instances(const eval_set *set, MPI_Comm comm, double *gap, int8_t *exact, double *accuracy,
                                 double *energy) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t n_test = set->d->count;
  CORE_CHECK(n_test > 0, CORE_ERR_ARG, "spin task: no test set to evaluate");
  double *all = rank == 0 ? malloc(sizeof(double) * 4 * (size_t)n_test) : NULL;
  core_status st = core_agree(comm, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate test results") : CORE_OK);
  /* 4 doubles per instance on rank 0, in instance order. */
  if (!st) st = train_gather_rows(comm, n_test, set->c->opt.shard_size, 4, rows_fn, (void *)set, all);
  for (int64_t i = 0; !st && rank == 0 && i < n_test; ++i) {
    if (gap) gap[i] = all[4 * i];
    if (exact) exact[i] = (int8_t)all[4 * i + 1];
    if (accuracy) accuracy[i] = all[4 * i + 2];
    if (energy) energy[i] = all[4 * i + 3];
  }
  free(all);
  return st;
}

core_status train_spin_evaluate_instances(train_task *t, MPI_Comm comm, double *gap, int8_t *exact, double *accuracy,
                                          double *energy) {
  spin_ctx *c = t->ctx;
  const eval_set set = {c, &c->test, c->x_test};
  return set_instances(&set, comm, gap, exact, accuracy, energy);
}

void train_spin_summary(int64_t n, const double *gap, const int8_t *exact, const double *accuracy, double v[4]) {
  /* Two passes for the variance, in instance order (the same bits on any
   * rank count). */
  double mean = 0, var = 0, ex = 0, acc = 0;
  for (int64_t i = 0; i < n; ++i) mean += gap[i], ex += exact[i], acc += accuracy[i];
  mean /= (double)n;
  for (int64_t i = 0; i < n; ++i) var += (gap[i] - mean) * (gap[i] - mean);
  v[0] = mean;
  v[1] = n > 1 ? sqrt(var / (double)(n - 1) / (double)n) : NAN;
  v[2] = ex / (double)n;
  v[3] = acc / (double)n;
}

/* The four metrics of a set, named <prefix>_energy_gap ..., on every rank. */
static core_status set_metrics(const eval_set *set, MPI_Comm comm, const char *prefix, train_metrics *m) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t n_test = set->d->count;
  double *gap = NULL, *acc = NULL;
  int8_t *exact = NULL;
  if (rank == 0) {
    gap = malloc(sizeof(double) * (size_t)n_test), acc = malloc(sizeof(double) * (size_t)n_test);
    exact = malloc((size_t)n_test);
  }
  core_status st = core_agree(comm, rank == 0 && !(gap && acc && exact)
                                        ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate test results") : CORE_OK);
  if (!st) st = set_instances(set, comm, gap, exact, acc, NULL);
  double v[4] = {0, 0, 0, 0};
  if (!st && rank == 0) train_spin_summary(n_test, gap, exact, acc, v);
  free(gap), free(acc), free(exact);
  if (!st && MPI_Bcast(v, 4, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the test metrics failed");
  if (st) return st;
  static const char *const names[4] = {"energy_gap", "energy_gap_err", "exact_fraction", "site_accuracy"};
  m->count = 4;
  for (int k = 0; k < 4; ++k) {
    snprintf(m->name[k], sizeof m->name[k], "%s_%s", prefix, names[k]);
    m->value[k] = v[k];
  }
  return CORE_OK;
}

static core_status evaluate(train_task *t, MPI_Comm comm, train_metrics *m) {
  spin_ctx *c = t->ctx;
  const eval_set set = {c, &c->test, c->x_test};
  return set_metrics(&set, comm, "test", m);
}

/* The validation energy gap first: the score of -select best and -patience. */
static core_status validate(train_task *t, MPI_Comm comm, train_metrics *m) {
  spin_ctx *c = t->ctx;
  const eval_set set = {c, &c->valid, c->x_valid};
  return set_metrics(&set, comm, "valid", m);
}

static core_status inputs(const spin_lattice *lat, const spinset_data *d, float **x) {
  *x = malloc(sizeof(float) * 4 * (size_t)(d->count * lat->n_sites));
  CORE_CHECK(*x, CORE_ERR_MEM, "cannot allocate the network inputs of %lld instances", (long long)d->count);
  return nn_spin_input(lat, d->count, d->J, *x);
}

static core_status same_lattice(const char *path, const spin_lattice *data, const spin_lattice *model) {
  CORE_CHECK(data->kind == model->kind && data->bc == model->bc && data->L == model->L, CORE_ERR_ARG,
             "%s holds %s %s lattices of L = %d, the model is for %s %s lattices of L = %d", path,
             spin_boundary_names[data->bc], spin_lattice_kind_names[data->kind], data->L,
             spin_boundary_names[model->bc], spin_lattice_kind_names[model->kind], model->L);
  return CORE_OK;
}

typedef struct {
  const spinset_data *a, *b;
  int64_t slots;
} set_pair;

/* Same couplings: one instance (train_find_shared's confirmation). */
static int same_instance(const void *ctx, int64_t i, int64_t j) {
  const set_pair *p = ctx;
  return !memcmp(p->a->J + i * p->slots, p->b->J + j * p->slots, sizeof(double) * (size_t)p->slots);
}

/* Two sets that share an instance are refused (train_find_shared): a
 * score on data the model was trained or selected on says nothing of new
 * instances. */
static core_status disjoint(const spin_lattice *lat, const spinset_data *a, const char *a_option, const char *a_path,
                            const spinset_data *b, const char *b_option, const char *b_path) {
  int64_t shared, first_b, first_a;
  const set_pair pair = {a, b, spin_lattice_bond_slots(lat)};
  CORE_CALL(train_find_shared(a->count, a->crc, b->count, b->crc, same_instance, &pair, &shared, &first_b, &first_a));
  CORE_CHECK(shared == 0, CORE_ERR_ARG,
             "%lld of the %lld instances of %s %s are also in %s %s (instance %lld is instance %lld there): generate "
             "each set with its own -split (eloss spingen -split test, -split valid)",
             (long long)shared, (long long)b->count, b_option, b_path, a_option, a_path, (long long)first_b,
             (long long)first_a);
  return CORE_OK;
}

/* A set's fingerprint: the CRC of its instances' couplings and ground
 * states (0 for none), so a resume on other data is refused. */
static uint32_t set_crc(const spin_lattice *lat, const spinset_data *d) {
  if (!d->count) return 0;
  const uint32_t crc = io_crc32(0, d->J, sizeof(double) * (size_t)(d->count * spin_lattice_bond_slots(lat)));
  return io_crc32(crc, d->gs, (size_t)(d->count * lat->n_sites));
}

static core_status create(MPI_Comm comm, spin_ctx *c) {
  const train_spin_options *o = &c->opt;
  core_status st = CORE_OK;
  if (o->train) {
    CORE_CALL(spinset_load(comm, o->train, &c->train));
    c->lat = c->train.lat;
    CORE_CHECK(o->train_count >= 0 && o->train_count <= c->train.count, CORE_ERR_ARG,
               "-train_count %lld: %s holds %lld instances", (long long)o->train_count, o->train,
               (long long)c->train.count);
    /* The first train_count: a prefix, so smaller training sets are
     * nested in larger ones. Recorded as given, even when it is the whole
     * file: N of a small file is then the same run as N of a large one. */
    if (c->opt.train_count) c->train.count = c->opt.train_count;
  } else {
    CORE_CALL(spin_lattice_init(&c->lat, o->kind, o->bc, o->L));
  }
  if (o->test) {
    CORE_CALL(spinset_load(comm, o->test, &c->test));
    CORE_CALL(same_lattice(o->test, &c->test.lat, &c->lat));
    if (o->train) CORE_CALL(disjoint(&c->lat, &c->train, "-train", o->train, &c->test, "-test", o->test));
  }
  if (o->valid) {
    CORE_CALL(spinset_load(comm, o->valid, &c->valid));
    CORE_CALL(same_lattice(o->valid, &c->valid.lat, &c->lat));
    if (o->train) CORE_CALL(disjoint(&c->lat, &c->train, "-train", o->train, &c->valid, "-valid", o->valid));
    if (o->test) CORE_CALL(disjoint(&c->lat, &c->test, "-test", o->test, &c->valid, "-valid", o->valid));
  }
  /* Evaluation alone needs no chunk larger than the test set. */
  if (!o->train && c->test.count > 0 && c->opt.shard_size > c->test.count) c->opt.shard_size = (int)c->test.count;
  /* Local from here on: every rank holds the same data and options, so
   * every rank succeeds or fails alike (the caller agrees anyway). */
  CORE_CHECK(c->lat.kind == SPIN_SQUARE, CORE_ERR_UNSUPPORTED,
             "%s: the spin model is for square lattices (nn.h); this is a cubic one", o->train ? o->train : o->test);
  nn_spin_config cfg = {.L = c->lat.L, .pad = c->lat.bc == SPIN_PERIODIC ? NN_PAD_CIRCULAR : NN_PAD_ZERO,
                        .width = o->width, .depth = o->depth, .max_batch = o->shard_size, .conv = o->conv};
  CORE_CALL(nn_model_create("spin", &cfg, o->seed, &c->model));
  CORE_CALL(spin_loss_plan_create(&c->lat, &o->loss, &c->plan));
  if (c->train.count) CORE_CALL(inputs(&c->lat, &c->train, &c->x_train));
  if (c->test.count) CORE_CALL(inputs(&c->lat, &c->test, &c->x_test));
  if (c->valid.count) CORE_CALL(inputs(&c->lat, &c->valid, &c->x_valid));
  const size_t S = (size_t)c->lat.n_sites, m = (size_t)o->shard_size;
  c->xs = malloc(sizeof(float) * 4 * S * m);
  c->z = malloc(sizeof(float) * S * m);
  c->dz = malloc(sizeof(float) * S * m);
  c->Js = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&c->lat) * m);
  c->ys = malloc(S * m);
  CORE_CHECK(c->xs && c->z && c->dz && c->Js && c->ys, CORE_ERR_MEM, "cannot allocate shard buffers");
  return st;
}

core_status train_spin_task_create(MPI_Comm comm, const train_spin_options *opt, train_task **out) {
  *out = NULL;
  CORE_CHECK(opt->shard_size >= 1, CORE_ERR_ARG, "spin task: shard %d, expected >= 1", opt->shard_size);
  spin_ctx *c = calloc(1, sizeof *c);
  core_status st = c ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the spin task");
  st = core_agree(comm, st);
  if (st) return st;
  /* One BLAS thread per rank: the ranks are the parallelism (two threads
   * per rank on a core each oversubscribe the node), and a GEMM's bits
   * must not depend on how many threads OpenBLAS happens to start. */
  openblas_set_num_threads(1);
  c->opt = *opt;
  c->task.ctx = c;
  c->task.destroy = destroy;
  st = core_agree(comm, create(comm, c));
  if (st) {
    destroy(&c->task);
    return st;
  }
  train_task *t = &c->task;
  t->name = "spin";
  t->kind = TRAIN_TASK_SPIN;
  /* The convolutions that run, not those asked for: Winograd rounds
   * differently, so a run continues only with the algorithm it started
   * with, on any CPU. */
  t->conv = (int)nn_spin_model_conv_in_use(nn_model_spin(c->model));
  char T[32], h0[32];
  int at = snprintf(t->options, sizeof t->options, "-task spin -loss %s -flip_invariant %d -T %s -h0 %s -width %d "
                    "-depth %d -conv %s", spin_loss_names[opt->loss.kind], opt->loss.flip_invariant,
                    core_real_text(opt->loss.T, T), core_real_text(opt->loss.h0, h0), opt->width, opt->depth,
                    nn_conv_algorithm_names[t->conv]);
  /* Only when given: the identity of every run before them stays. The
   * validation set by its fingerprint, as the training and test data. */
  if (c->opt.train_count)
    at += snprintf(t->options + at, sizeof t->options - (size_t)at, " -train_count %lld",
                   (long long)c->opt.train_count);
  if (c->valid.count)
    snprintf(t->options + at, sizeof t->options - (size_t)at, " -valid_data crc32:%08x", set_crc(&c->lat, &c->valid));
  describe(&c->lat, opt, t->config);
  t->arch = (train_model_arch){.width = opt->width, .lattice = (int32_t)c->lat.kind, .bc = (int32_t)c->lat.bc,
                               .L = c->lat.L, .depth = opt->depth};
  t->params = nn_model_params(c->model);
  t->n_train = c->train.count;
  t->shard_size = c->opt.shard_size;
  t->shard_grad = shard_grad;
  t->evaluate = c->test.count ? evaluate : NULL;
  t->validate = c->valid.count ? validate : NULL;
  t->data_crc = set_crc(&c->lat, &c->train);
  t->test_crc = set_crc(&c->lat, &c->test);
  *out = t;
  return CORE_OK;
}

nn_conv_algorithm train_spin_task_conv(const train_task *task) {
  const spin_ctx *c = task->ctx;
  return nn_spin_model_conv_in_use(nn_model_spin(c->model));
}


