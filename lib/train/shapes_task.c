/* The shapes task of eloss train (paper Sec. 6.1, App. C.1): from a radius
 * r, predict the N vertices of a regular polygon of radius r centred at the
 * origin, whose training targets are rotated by an angle drawn from
 * U[-aug_angle, aug_angle]. The model is the MLP of nn.h, {1, H, H, 2N}
 * with SiLU; the loss is MSE, the energy loss (Eq. 7, exp_dist coefficients
 * unless -coeff says otherwise, complete graph), Kabsch-aligned MSE or the sparse energy loss on random
 * 2d-regular graphs redrawn every step, all from lib/atoms.
 *
 * train_shapes_task_create(opt, &task): local (the data are generated, a
 *   pure function of (seed, sample index), on every rank alike).
 * evaluate / train_shapes_predict: collective over the ranks.
 *
 * Sample i: r_i = r_min + (r_max - r_min) u, phi_i = aug (2 u' - 1) from
 * the stream (seed, CORE_PURPOSE_SHAPES, i); test shape j uses index
 * TEST_BASE + j, so training and test never share a stream. Vertex k of a
 * target: r (cos(2 pi k / N + phi), sin(...)).
 *
 * Each shard's loss is an atoms plan over that shard's structures on
 * MPI_COMM_SELF (the trainer reduces across ranks), kept from shard to
 * shard and given the new targets (train_loss_plan); the sparse graphs are
 * redrawn with draw number step * shards + k, which does not depend on the
 * rank count.
 *
 * Quality (App. C.1) of a predicted shape, about its own centroid (the
 * invariant losses leave the position free): sort the vertex angles,
 * take the N consecutive gaps (wrapping), sigma_gap their standard
 * deviation and sigma_r that of the vertex radii (population, ddof 0);
 * quality = -ln(sigma_gap / 2 pi + sigma_r / r). A perfect polygon scores
 * +inf; the sum is floored at 1e-15 (quality <= 34.5). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/atoms.h"
#include "eloss/io.h"
#include "eloss/train.h"
#include "train_impl.h"

enum { TEST_BASE_SHIFT = 40 };

typedef struct {
  train_shapes_options opt; /* first: train_impl.h */
  nn_model *model; /* the MLP of nn.h */
  float *x, *pred, *dpred; /* (shard, 1), (shard, 2N), (shard, 2N) */
  double *ref;             /* (shard, N, 2) */
  atoms_plan *plan;        /* the loss of the last shard, reused (train_loss_plan) */
  train_task task;
} shapes_ctx;


const char *const train_shapes_model_names[TRAIN_SHAPES_MODEL_COUNT] = {"regression", "diffusion"};
const char *const train_prediction_names[TRAIN_PREDICT_COUNT] = {"eps", "x"};

void train_shapes_options_default(train_shapes_options *o) {
  memset(o, 0, sizeof *o);
  o->model = TRAIN_SHAPES_REGRESSION;
  o->loss = ATOMS_PRESET_MSE;
  o->coeff = ATOMS_COEFF_EXP_DIST;
  o->vertices = 9;
  o->samples = 20000;
  o->hidden = 64;
  o->shard_size = 32;
  o->r_min = 0.3, o->r_max = 5.0;
  o->diffusion_steps = 1000, o->ema = 0.999, o->predict = TRAIN_PREDICT_EPS;
}

void train_shapes_draw(const train_shapes_options *o, uint64_t i, double *r, double *phi) {
  core_rng rng;
  core_rng_init(&rng, o->seed, CORE_PURPOSE_SHAPES, i);
  *r = o->r_min + (o->r_max - o->r_min) * core_rng_uniform(&rng);
  *phi = o->aug_angle * (2.0 * core_rng_uniform(&rng) - 1.0);
}

void train_shapes_polygon(int N, double r, double phi, double *xy) {
  for (int k = 0; k < N; ++k) {
    const double a = 2.0 * CORE_PI * k / N + phi;
    xy[2 * k] = r * cos(a), xy[2 * k + 1] = r * sin(a);
  }
}

double train_shapes_radius(int N, const double *p) {
  double cx = 0, cy = 0, r = 0;
  for (int k = 0; k < N; ++k) cx += p[2 * k], cy += p[2 * k + 1];
  cx /= N, cy /= N;
  for (int k = 0; k < N; ++k) r += hypot(p[2 * k] - cx, p[2 * k + 1] - cy);
  return r / N;
}

double train_shapes_quality(int N, const double *p, double r) {
  double cx = 0, cy = 0;
  for (int k = 0; k < N; ++k) cx += p[2 * k], cy += p[2 * k + 1];
  cx /= N, cy /= N;
  double ang[1024], rad[1024];
  const int n = N < 1024 ? N : 1024;
  for (int k = 0; k < n; ++k) {
    const double dx = p[2 * k] - cx, dy = p[2 * k + 1] - cy;
    ang[k] = atan2(dy, dx), rad[k] = hypot(dx, dy);
  }
  /* Insertion sort: N is small (the paper's largest is 128). */
  for (int k = 1; k < n; ++k)
    for (int j = k; j > 0 && ang[j] < ang[j - 1]; --j) {
      const double t = ang[j];
      ang[j] = ang[j - 1], ang[j - 1] = t;
    }
  double gm = 0, g2 = 0, rm = 0, r2 = 0;
  for (int k = 0; k < n; ++k) {
    const double gap = k + 1 < n ? ang[k + 1] - ang[k] : ang[0] + 2.0 * CORE_PI - ang[n - 1];
    gm += gap, g2 += gap * gap, rm += rad[k], r2 += rad[k] * rad[k];
  }
  gm /= n, rm /= n;
  const double sg = sqrt(fmax(g2 / n - gm * gm, 0.0)), sr = sqrt(fmax(r2 / n - rm * rm, 0.0));
  return -log(fmax(sg / (2.0 * CORE_PI) + sr / r, 1e-15));
}

static core_status shard_grad(train_task *t, int64_t step, int k_shard, int64_t n, const int64_t *index,
                              double weight, double *loss) {
  shapes_ctx *c = t->ctx;
  const train_shapes_options *o = &c->opt;
  const int N = o->vertices;
  CORE_CHECK(n >= 1 && n <= o->shard_size, CORE_ERR_ARG, "shapes task: %lld samples in a shard of %d", (long long)n,
             o->shard_size);
  for (int64_t b = 0; b < n; ++b) {
    double r, phi;
    train_shapes_draw(o, (uint64_t)index[b], &r, &phi);
    c->x[b] = (float)r;
    train_shapes_polygon(N, r, phi, c->ref + b * N * 2);
  }
  CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)n, .x = c->x}, c->pred));
  atoms_options ao;
  atoms_preset_options(o->loss, o->coeff, o->seed, &ao);
  CORE_CALL(train_loss_plan(&c->plan, &ao, n, N, 2, c->ref, NULL));
  if (atoms_preset_table[o->loss].redrawn) CORE_CALL(atoms_plan_resample(c->plan, (uint64_t)step * 4096u + (uint64_t)k_shard));
  CORE_CALL(atoms_plan_execute_f32(c->plan, c->pred, loss, c->dpred));
  const float w = (float)weight;
  for (int64_t i = 0; i < n * 2 * N; ++i) c->dpred[i] *= w;
  return nn_model_backward(c->model, (int)n, c->dpred);
}

/* Test shapes [start, start + count): radius and prediction (count, N, 2). */
static core_status predict_range(shapes_ctx *c, int64_t start, int64_t count, double *out) {
  const train_shapes_options *o = &c->opt;
  const int N = o->vertices;
  for (int64_t at = 0; at < count; at += o->shard_size) {
    const int64_t b = count - at < o->shard_size ? count - at : o->shard_size;
    for (int64_t k = 0; k < b; ++k) {
      double r, phi;
      train_shapes_draw(o, ((uint64_t)1 << TEST_BASE_SHIFT) + (uint64_t)(start + at + k), &r, &phi);
      c->x[k] = (float)r;
      out[(at + k) * (1 + 2 * N)] = r;
    }
    CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)b, .x = c->x}, c->pred));
    for (int64_t k = 0; k < b; ++k)
      for (int j = 0; j < 2 * N; ++j) out[(at + k) * (1 + 2 * N) + 1 + j] = c->pred[k * 2 * N + j];
  }
  return CORE_OK;
}

static core_status rows_fn(void *ctx, int64_t start, int64_t n, double *out) {
  return predict_range(ctx, start, n, out);
}

core_status train_shapes_predict(train_task *t, MPI_Comm comm, double *all) {
  shapes_ctx *c = t->ctx;
  CORE_CHECK(c->opt.model == TRAIN_SHAPES_REGRESSION, CORE_ERR_ARG,
             "train_shapes_predict: a diffusion model has no radius to predict from (train_shapes_generate)");
  return train_gather_rows(comm, c->opt.test, c->opt.shard_size, 1 + 2 * c->opt.vertices, rows_fn, c, all);
}

static core_status evaluate(train_task *t, MPI_Comm comm, train_metrics *m) {
  shapes_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t I = c->opt.test, row = 1 + 2 * c->opt.vertices;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * row)) : NULL;
  core_status st = core_agree(comm, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate test results") : CORE_OK);
  if (!st) st = train_shapes_predict(t, comm, all);
  double v[2] = {0, 0};
  if (!st && rank == 0) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < I; ++i) mean += train_shapes_quality(c->opt.vertices, all + i * row + 1, all[i * row]);
    mean /= (double)I;
    for (int64_t i = 0; i < I; ++i) {
      const double q = train_shapes_quality(c->opt.vertices, all + i * row + 1, all[i * row]) - mean;
      var += q * q;
    }
    v[0] = mean, v[1] = I > 1 ? sqrt(var / (double)(I - 1) / (double)I) : 0.0;
  }
  free(all);
  if (!st && MPI_Bcast(v, 2, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the test metrics failed");
  if (st) return st;
  m->count = 2;
  snprintf(m->name[0], sizeof m->name[0], "test_quality");
  snprintf(m->name[1], sizeof m->name[1], "test_quality_err");
  m->value[0] = v[0], m->value[1] = v[1];
  return CORE_OK;
}

static void destroy(train_task *t) {
  shapes_ctx *c = t->ctx;
  nn_model_destroy(&c->model);
  atoms_plan_destroy(&c->plan);
  free(c->x), free(c->pred), free(c->dpred), free(c->ref);
  free(c);
}

core_status train_shapes_task_create(const train_shapes_options *o, train_task **out) {
  *out = NULL;
  CORE_CHECK((unsigned)o->model < TRAIN_SHAPES_MODEL_COUNT, CORE_ERR_ARG, "shapes task: unknown model %d",
             (int)o->model);
  CORE_CHECK((unsigned)o->loss < ATOMS_PRESET_COUNT && (unsigned)o->coeff < ATOMS_COEFF_COUNT, CORE_ERR_ARG,
             "shapes task: unknown loss %d or coefficient law %d", (int)o->loss, (int)o->coeff);
  CORE_CHECK(o->vertices >= 3 && o->vertices <= 1024, CORE_ERR_ARG, "shapes task: %d vertices, expected 3..1024",
             o->vertices);
  CORE_CHECK(!atoms_preset_table[o->loss].redrawn || o->vertices >= 5, CORE_ERR_ARG,
             "shapes task: the sparse loss needs a 4-regular graph, so at least 5 vertices");
  CORE_CHECK(o->samples >= 1 && o->test >= 1 && o->shard_size >= 1 && o->hidden >= 1, CORE_ERR_ARG,
             "shapes task: samples, test, shard and hidden must be >= 1");
  CORE_CHECK(isfinite(o->aug_angle) && o->aug_angle >= 0 && o->r_min > 0 && o->r_max >= o->r_min, CORE_ERR_ARG,
             "shapes task: aug_angle >= 0 and 0 < r_min <= r_max");
  if (o->model == TRAIN_SHAPES_DIFFUSION) return train_shapes_diffusion_create(o, out);
  shapes_ctx *c = calloc(1, sizeof *c);
  CORE_CHECK(c, CORE_ERR_MEM, "cannot allocate the shapes task");
  train_blas_one_thread();
  c->opt = *o;
  c->task.ctx = c;
  c->task.destroy = destroy;
  const int N = o->vertices, sizes[4] = {1, o->hidden, o->hidden, 2 * N};
  nn_mlp_config cfg = {.n_layers = 3, .sizes = sizes, .max_batch = o->shard_size};
  core_status st = nn_model_create("mlp", &cfg, o->seed, &c->model);
  const size_t m = (size_t)o->shard_size;
  c->x = malloc(sizeof(float) * m);
  c->pred = malloc(sizeof(float) * m * 2 * (size_t)N);
  c->dpred = malloc(sizeof(float) * m * 2 * (size_t)N);
  c->ref = malloc(sizeof(double) * m * 2 * (size_t)N);
  if (!st && (!c->x || !c->pred || !c->dpred || !c->ref)) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate shard buffers");
  if (st) {
    destroy(&c->task);
    return st;
  }
  train_task *t = &c->task;
  t->name = "shapes";
  t->kind = TRAIN_TASK_SHAPES;
  char aug[32], r_min[32], r_max[32];
  snprintf(t->options, sizeof t->options, "-task shapes -loss %s -coeff %s -vertices %d -aug_angle %s -samples %lld "
           "-test %lld -hidden %d -r_min %s -r_max %s", atoms_preset_names[o->loss], atoms_coeff_names[o->coeff], N, core_real_text(o->aug_angle, aug),
           (long long)o->samples, (long long)o->test, o->hidden, core_real_text(o->r_min, r_min),
           core_real_text(o->r_max, r_max));
  snprintf(t->config, TRAIN_CONFIG_BYTES, "task=shapes vertices=%d hidden=%d", N, o->hidden);
  t->params = nn_model_params(c->model);
  t->n_train = o->samples;
  t->shard_size = o->shard_size;
  t->shard_grad = shard_grad;
  t->evaluate = evaluate;
  *out = t;
  return CORE_OK;
}

core_status train_shapes_write_csv(const char *path, int N, int64_t count, const double *xy, int64_t stride,
                                   const double *radius) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  fprintf(f.fp, "shape,radius,vertex,x,y,quality\n");
  for (int64_t i = 0; i < count; ++i) {
    const double *p = xy + i * stride, r = radius ? radius[i * stride] : train_shapes_radius(N, p);
    const double q = train_shapes_quality(N, p, r);
    for (int k = 0; k < N; ++k)
      fprintf(f.fp, "%lld,%.17g,%d,%.9g,%.9g,%.9g\n", (long long)i, r, k, p[2 * k], p[2 * k + 1], q);
  }
  return io_atomic_commit(&f);
}

core_status train_shapes_write_predictions(train_task *t, MPI_Comm comm, const char *path) {
  if (((const train_shapes_options *)t->ctx)->model == TRAIN_SHAPES_DIFFUSION)
    return train_shapes_diffusion_write(t, comm, path);
  shapes_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int N = c->opt.vertices;
  const int64_t I = c->opt.test, row = 1 + 2 * N;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * row)) : NULL;
  core_status st =
      core_agree(comm, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate the predictions") : CORE_OK);
  if (!st) st = train_shapes_predict(t, comm, all);
  if (!st && rank == 0) st = train_shapes_write_csv(path, N, I, all + 1, row, all);
  free(all);
  return core_agree(comm, st);
}
