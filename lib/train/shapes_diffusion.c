/* The diffusion model of eloss shapes (-model diffusion): an unconditional
 * generative model of the regular N-gons of the shapes task, the
 * experiment of the paper authors' released shape_generation code, built
 * on lib/diffusion (EDM's variance-preserving process, polynomial_2
 * schedule, ancestral sampler) so that nothing of the molecule task's
 * diffusion is written twice.
 *
 * Data: training shape i is the polygon of train_shapes_draw(seed, i)
 * (radius ~ U[r_min, r_max], turned by U[-aug_angle, aug_angle]), as the
 * regression's targets; vertex k of shape i is point k of a cloud of N
 * points in 2D, centred already (EDM's zero centre-of-mass subspace).
 *
 * Network: the MLP of nn.h, {2N + 1, H, H, 2N} with SiLU, reading the
 * noisy vertices z_t (N, 2) flattened and the time t / T, as the authors'
 * MLPDenoiser reads the flattened coordinates and a feature of t / T
 * (theirs passes t / T through a small MLP of its own first); its output,
 * centred per shape, is the noise prediction eps_hat (N, 2), or with
 * -predict x the clean shape x_hat (the authors' shape code).
 *
 * A training draw of shape i at step k: t and eps from
 * diffusion_train_draw(seed, k, i) (t uniform on 0 .. T, eps centred),
 * z_t = alpha_t x + sigma_t eps. Losses per shape, averaged over the shard
 * (train_prediction):
 *   eps: x_hat = (z_t - sigma_t eps_hat) / alpha_t;
 *        mse: |eps_hat - eps|^2 / 2N (EDM's l2 objective);
 *        energy, kabsch, sparse: SNR_t L(x_hat, x), SNR_t = alpha_t^2 /
 *        sigma_t^2, L the atoms preset: the molecule task's weighting,
 *        the authors' for molecules;
 *   x:   L(x_hat, x) for every loss, mse included, one weight for every t:
 *        the authors' shape code (their network predicts x; their mse is
 *        on x). The same weighting does not suit an eps network: x_hat's
 *        error is sigma_t / alpha_t times eps_hat's, 316 at t = T, so the
 *        noisiest draws would decide every step (SNR_t undoes exactly
 *        that factor, squared).
 * The molecule task's positional weight (the paper's Tables 6-7) balances
 * positions against atom types; a shape has positions only, and Adam's
 * step does not change when the loss is multiplied by a constant, so
 * there is none here.
 *
 * Generation: shape j starts from diffusion_sample_start(seed, j) and
 * runs EDM's ancestral sampler from t = T down to the last step
 * x ~ p(x | z_0), with the moving average of the parameters where there
 * is one (EDM samples with it). Shapes are generated in whole chunks of
 * shard_size given to the ranks (train_gather_rows): a chunk's forward
 * passes, and so its shapes, are the same bits on any rank count.
 *
 * Metrics (evaluate: the generated shapes of train_shapes_generate): the
 * App. C.1 quality of each shape at its own radius (train_shapes_radius:
 * a generated shape has no true radius), its mean, standard error and
 * median, the fraction of shapes above 5 (the paper's "nearly visually
 * perfect"); and the quartiles of the shapes' radii and the fraction of
 * them inside the data's [r_min, r_max]: the quality alone rewards a model
 * that draws one fixed polygon, the radii show whether it draws the
 * data's range. Quartiles, not a standard deviation: a rare sample that
 * runs away in the sampler (radius 1e16 was seen) would be all a
 * standard deviation shows.
 *
 * train_shapes_diffusion_create: local. evaluate, generation: collective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/diffusion.h"
#include "eloss/io.h"
#include "eloss/train.h"
#include "train_impl.h"

enum { METRICS = 8 };

typedef struct {
  train_shapes_options opt; /* first: train_impl.h */
  train_task task;
  diffusion_schedule sched;
  nn_model *model;     /* MLP {2N + 1, H, H, 2N} */
  atoms_plan *plan;    /* the loss of the last shard, reused (train_loss_plan) */
  /* Shard buffers, S = shard_size: */
  float *in;           /* (S, 2N + 1): z_t flattened, then t / T */
  float *out, *dout;   /* (S, 2N): the network output, centred (eps_hat or x_hat), d loss / d output */
  double *x0, *eps, *z, *xhat, *grad; /* (S, N, 2) */
  double *eps_hat;     /* (S, N, 2) eps_hat in double (the sampler's) */
  double *terms;       /* (S) per-shape loss terms of the atoms plan */
  int *tt;             /* (S) time steps */
  core_rng *rng;       /* (S) the streams of the shapes being generated */
  float *backup;       /* (n parameters): the trained parameters while the average samples */
  double *generated;   /* rank 0: the last evaluation's shapes (test, N, 2), kept for -out */
  int64_t generated_at; /* the Adam step they were generated at, -1: none (every rank alike) */
} shapes_diffusion;

/* The -test generated shapes of the current parameters into all (rank 0):
 * the last evaluation's when it was at this step (the final evaluation and
 * -out share one sampling), else sampled now. Collective. */
static core_status generated_now(train_task *t, MPI_Comm comm, double *all) {
  shapes_diffusion *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t step = nn_model_params(c->model)->step;
  const size_t bytes = sizeof(double) * (size_t)(c->opt.test * 2 * c->opt.vertices);
  if (c->generated_at == step) {
    if (rank == 0) memcpy(all, c->generated, bytes);
    return CORE_OK;
  }
  CORE_CALL(train_shapes_generate(t, comm, all));
  if (rank == 0) memcpy(c->generated, all, bytes);
  c->generated_at = step;
  return CORE_OK;
}

/* The network on n shapes at times tt from z (n, N, 2): the MLP on
 * [z, t / T], its output (eps_hat or x_hat, by opt.predict) centred per
 * shape (EDM's zero centre-of-mass projection, applied to the prediction
 * as to the noise and the data it predicts) into out (n, N, 2). */
static core_status network(shapes_diffusion *c, int64_t n, int inference) {
  const int N = c->opt.vertices, row = 2 * N + 1;
  for (int64_t b = 0; b < n; ++b) {
    for (int k = 0; k < 2 * N; ++k) c->in[b * row + k] = (float)c->z[b * 2 * N + k];
    c->in[b * row + 2 * N] = (float)c->tt[b] / (float)c->opt.diffusion_steps;
  }
  CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)n, .x = c->in, .inference = inference}, c->out));
  for (int64_t b = 0; b < n; ++b) {
    float *e = c->out + b * 2 * N;
    for (int q = 0; q < 2; ++q) {
      double mean = 0;
      for (int k = 0; k < N; ++k) mean += e[2 * k + q];
      mean /= N;
      for (int k = 0; k < N; ++k) e[2 * k + q] = (float)(e[2 * k + q] - mean);
    }
  }
  return CORE_OK;
}

/* The noise prediction eps_hat (n, N, 2) in double from the network's
 * output: itself, or from x_hat, eps_hat = (z_t - alpha_t x_hat) / sigma_t
 * (the inverse of diffusion_x_hat). */
static void eps_hat_of(shapes_diffusion *c, int64_t n) {
  const int64_t M = 2 * (int64_t)c->opt.vertices;
  for (int64_t b = 0; b < n; ++b) {
    const int t = c->tt[b];
    const double a = diffusion_alpha(&c->sched, t), g = diffusion_sigma(&c->sched, t);
    for (int64_t k = b * M; k < (b + 1) * M; ++k)
      c->eps_hat[k] = c->opt.predict == TRAIN_PREDICT_EPS ? (double)c->out[k] : (c->z[k] - a * (double)c->out[k]) / g;
  }
}

/* EDM's l2 objective, |eps_hat - eps|^2 / 2N per shape, mean over the n
 * shapes: added to *loss, its gradient (times weight) to dout. */
static void eps_mse_term(shapes_diffusion *c, int64_t n, double weight, double *loss) {
  const int64_t M = 2 * (int64_t)c->opt.vertices;
  const double norm = 1.0 / ((double)M * (double)n);
  for (int64_t i = 0; i < n * M; ++i) {
    const double e = (double)c->out[i] - c->eps[i];
    *loss += e * e * norm;
    c->dout[i] += (float)(2.0 * e * norm * weight);
  }
}

/* The x_hat term: w_t L(x_hat, x) per shape, L the atoms preset (its
 * terms are already means over the shard). eps prediction: x_hat =
 * (z_t - sigma_t eps_hat) / alpha_t, d x_hat / d eps_hat = -sigma_t /
 * alpha_t, w_t = SNR_t = alpha_t^2 / sigma_t^2 (the authors' weighting of
 * the molecule experiments, Sec. 6.2 and App. C.2, which puts the term on
 * eps's scale); x prediction: x_hat is the output, w_t = 1 (the authors'
 * shape code). Added to *loss, its gradient (times weight) to dout. */
static core_status x_hat_term(shapes_diffusion *c, int64_t step, int k_shard, int64_t n, double weight,
                              double *loss) {
  const train_shapes_options *o = &c->opt;
  const int N = o->vertices, eps = o->predict == TRAIN_PREDICT_EPS;
  if (eps) {
    eps_hat_of(c, n);
    for (int64_t b = 0; b < n; ++b)
      diffusion_x_hat(&c->sched, c->tt[b], 2 * N, c->z + b * 2 * N, c->eps_hat + b * 2 * N, c->xhat + b * 2 * N);
  } else {
    for (int64_t k = 0; k < n * 2 * N; ++k) c->xhat[k] = c->out[k];
  }
  atoms_options ao;
  atoms_preset_options(o->loss, o->coeff, o->seed, &ao);
  CORE_CALL(train_loss_plan(&c->plan, &ao, n, N, 2, c->x0, NULL));
  if (atoms_preset_table[o->loss].redrawn)
    CORE_CALL(atoms_plan_resample(c->plan, (uint64_t)step * 4096u + (uint64_t)k_shard));
  CORE_CALL(atoms_plan_execute_local(c->plan, c->xhat, c->terms, c->grad));
  for (int64_t b = 0; b < n; ++b) {
    const int t = c->tt[b];
    const double w = eps ? c->sched.alpha2[t] / c->sched.sigma2[t] : 1.0;
    const double dx = eps ? -diffusion_sigma(&c->sched, t) / diffusion_alpha(&c->sched, t) : 1.0;
    *loss += w * c->terms[b];
    for (int k = 0; k < 2 * N; ++k) c->dout[b * 2 * N + k] += (float)(weight * w * dx * c->grad[b * 2 * N + k]);
  }
  return CORE_OK;
}

static core_status shard_grad(train_task *t, int64_t step, int k_shard, int64_t n, const int64_t *index,
                              double weight, double *loss) {
  shapes_diffusion *c = t->ctx;
  const train_shapes_options *o = &c->opt;
  const int N = o->vertices;
  CORE_CHECK(n >= 1 && n <= o->shard_size, CORE_ERR_ARG, "shapes diffusion: %lld shapes in a shard of %d",
             (long long)n, o->shard_size);
  for (int64_t b = 0; b < n; ++b) {
    double r, phi;
    train_shapes_draw(o, (uint64_t)index[b], &r, &phi);
    train_shapes_polygon(N, r, phi, c->x0 + b * 2 * N);
    diffusion_train_draw(&c->sched, o->seed, step, index[b], N, 2, 0, &c->tt[b], c->eps + b * 2 * N);
    diffusion_q_sample(&c->sched, c->tt[b], 2 * N, c->x0 + b * 2 * N, c->eps + b * 2 * N, c->z + b * 2 * N);
  }
  CORE_CALL(network(c, n, 0));
  *loss = 0.0;
  memset(c->dout, 0, sizeof(float) * (size_t)(n * 2 * N));
  if (o->loss == ATOMS_PRESET_MSE && o->predict == TRAIN_PREDICT_EPS) eps_mse_term(c, n, weight, loss);
  else CORE_CALL(x_hat_term(c, step, k_shard, n, weight, loss));
  /* Through the centring of the output: its Jacobian is the same
   * projection, so the gradient is centred per shape too. */
  for (int64_t b = 0; b < n; ++b) {
    float *d = c->dout + b * 2 * N;
    for (int q = 0; q < 2; ++q) {
      double mean = 0;
      for (int k = 0; k < N; ++k) mean += d[2 * k + q];
      mean /= N;
      for (int k = 0; k < N; ++k) d[2 * k + q] = (float)(d[2 * k + q] - mean);
    }
  }
  return nn_model_backward(c->model, (int)n, c->dout);
}

/* Generated shapes [start, start + count) into out (count, N, 2), in
 * chunks of shard_size: EDM's ancestral sampler from z_T ~ N(0, I)
 * (centred) down to x ~ p(x | z_0), shape j's noise from its stream. */
static core_status generate_range(void *ctx, int64_t start, int64_t count, double *out) {
  shapes_diffusion *c = ctx;
  const int N = c->opt.vertices, T = c->opt.diffusion_steps;
  for (int64_t j0 = start; j0 < start + count; j0 += c->opt.shard_size) {
    const int64_t n = start + count - j0 < c->opt.shard_size ? start + count - j0 : c->opt.shard_size;
    for (int64_t b = 0; b < n; ++b) diffusion_sample_start(c->opt.seed, j0 + b, N, 2, 0, &c->rng[b], c->z + b * 2 * N);
    for (int t = T; t >= 0; --t) {
      for (int64_t b = 0; b < n; ++b) c->tt[b] = t;
      CORE_CALL(network(c, n, 1));
      eps_hat_of(c, n);
      for (int64_t b = 0; b < n; ++b) {
        if (t > 0)
          diffusion_sample_step(&c->sched, t, N, 2, 0, c->eps_hat + b * 2 * N, &c->rng[b], c->z + b * 2 * N);
        else
          diffusion_sample_final(&c->sched, N, 2, 0, c->eps_hat + b * 2 * N, &c->rng[b], c->z + b * 2 * N);
      }
    }
    memcpy(out + (j0 - start) * 2 * N, c->z, sizeof(double) * (size_t)(n * 2 * N));
  }
  return CORE_OK;
}

core_status train_shapes_generate(train_task *t, MPI_Comm comm, double *all) {
  shapes_diffusion *c = t->ctx;
  CORE_CHECK(c->opt.model == TRAIN_SHAPES_DIFFUSION, CORE_ERR_ARG,
             "train_shapes_generate: the regression model generates nothing (train_shapes_predict)");
  nn_params *p = nn_model_params(c->model);
  /* Sampled with the moving average where the model keeps one (EDM). */
  if (p->ema) memcpy(c->backup, p->param, sizeof(float) * p->n), memcpy(p->param, p->ema, sizeof(float) * p->n);
  const core_status st =
      train_gather_rows(comm, c->opt.test, c->opt.shard_size, 2 * (int64_t)c->opt.vertices, generate_range, c, all);
  if (p->ema) memcpy(p->param, c->backup, sizeof(float) * p->n);
  return st;
}

static int compare_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Quantile p of sorted v (n): numpy's default, linear between the order
 * statistics around p (n - 1). */
static double quantile(const double *v, int64_t n, double p) {
  const double h = p * (double)(n - 1);
  const int64_t lo = (int64_t)floor(h), hi = lo + 1 < n ? lo + 1 : lo;
  return v[lo] + (h - (double)lo) * (v[hi] - v[lo]);
}

/* The metrics of `count` generated shapes (count, N, 2) into v: quality
 * mean, its standard error, median, fraction above 5; radius quartiles
 * 1, 2, 3 and the fraction of radii in [r_min, r_max]. q and r are
 * workspaces of count doubles. */
static void sample_metrics(const train_shapes_options *o, int64_t count, const double *shapes, double *q, double *r,
                           double v[METRICS]) {
  const int N = o->vertices;
  double qm = 0;
  int64_t above = 0, inside = 0;
  for (int64_t j = 0; j < count; ++j) {
    r[j] = train_shapes_radius(N, shapes + j * 2 * N);
    q[j] = train_shapes_quality(N, shapes + j * 2 * N, r[j]);
    qm += q[j], above += q[j] > 5.0, inside += r[j] >= o->r_min && r[j] <= o->r_max;
  }
  const double n = (double)count;
  qm /= n;
  double qv = 0;
  for (int64_t j = 0; j < count; ++j) qv += (q[j] - qm) * (q[j] - qm);
  qsort(q, (size_t)count, sizeof(double), compare_double);
  qsort(r, (size_t)count, sizeof(double), compare_double);
  v[0] = qm, v[1] = count > 1 ? sqrt(qv / (n - 1) / n) : 0.0, v[2] = quantile(q, count, 0.5);
  v[3] = (double)above / n;
  v[4] = quantile(r, count, 0.25), v[5] = quantile(r, count, 0.5), v[6] = quantile(r, count, 0.75);
  v[7] = (double)inside / n;
}

static core_status evaluate(train_task *t, MPI_Comm comm, train_metrics *m) {
  shapes_diffusion *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t I = c->opt.test, N = c->opt.vertices;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * 2 * N)) : NULL;
  double *q = rank == 0 ? malloc(sizeof(double) * (size_t)(2 * I)) : NULL;
  core_status st = core_agree(comm, rank == 0 && (!all || !q) ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate %lld "
                                                                           "generated shapes", (long long)I) : CORE_OK);
  if (!st) st = generated_now(t, comm, all);
  double v[METRICS] = {0};
  if (!st && rank == 0) sample_metrics(&c->opt, I, all, q, q + I, v);
  free(all), free(q);
  if (!st && MPI_Bcast(v, METRICS, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the sample metrics failed");
  if (st) return st;
  static const char *const names[METRICS] = {"sample_quality",   "sample_quality_err", "sample_quality_median",
                                             "sample_above_5",   "sample_radius_q1",   "sample_radius_median",
                                             "sample_radius_q3", "sample_radius_in_range"};
  m->count = METRICS;
  for (int k = 0; k < METRICS; ++k) {
    snprintf(m->name[k], sizeof m->name[k], "%s", names[k]);
    m->value[k] = v[k];
  }
  return CORE_OK;
}

core_status train_shapes_diffusion_write(train_task *t, MPI_Comm comm, const char *path) {
  shapes_diffusion *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int N = c->opt.vertices;
  const int64_t I = c->opt.test;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * 2 * N)) : NULL;
  core_status st =
      core_agree(comm, rank == 0 && !all ? CORE_ERROR(CORE_ERR_MEM, "cannot allocate the generated shapes") : CORE_OK);
  if (!st) st = generated_now(t, comm, all);
  if (!st && rank == 0) st = train_shapes_write_csv(path, N, I, all, 2 * N, NULL);
  free(all);
  return core_agree(comm, st);
}

static void destroy(train_task *t) {
  shapes_diffusion *c = t->ctx;
  diffusion_schedule_free(&c->sched);
  nn_model_destroy(&c->model);
  atoms_plan_destroy(&c->plan);
  free(c->in), free(c->out), free(c->dout), free(c->x0), free(c->eps), free(c->z), free(c->xhat), free(c->grad);
  free(c->eps_hat), free(c->terms), free(c->tt), free(c->rng), free(c->backup), free(c->generated);
  free(c);
}

/* The network, the schedule and the shard buffers. */
static core_status setup(shapes_diffusion *c) {
  const train_shapes_options *o = &c->opt;
  const int N = o->vertices, sizes[4] = {2 * N + 1, o->hidden, o->hidden, 2 * N};
  const nn_mlp_config cfg = {.n_layers = 3, .sizes = sizes, .max_batch = o->shard_size};
  CORE_CALL(nn_model_create("mlp", &cfg, o->seed, &c->model));
  nn_params *p = nn_model_params(c->model);
  if (o->ema > 0) CORE_CALL(nn_params_enable_ema(p, o->ema));
  CORE_CALL(diffusion_schedule_create(o->diffusion_steps, 2.0, 1e-5, &c->sched));
  const size_t S = (size_t)o->shard_size, M = 2 * (size_t)N;
  c->in = malloc(sizeof(float) * S * (M + 1));
  c->out = malloc(sizeof(float) * S * M), c->dout = malloc(sizeof(float) * S * M);
  c->x0 = malloc(sizeof(double) * S * M), c->eps = malloc(sizeof(double) * S * M);
  c->z = malloc(sizeof(double) * S * M), c->xhat = malloc(sizeof(double) * S * M);
  c->grad = malloc(sizeof(double) * S * M), c->eps_hat = malloc(sizeof(double) * S * M);
  c->terms = malloc(sizeof(double) * S), c->tt = malloc(sizeof(int) * S), c->rng = malloc(sizeof(core_rng) * S);
  c->backup = malloc(sizeof(float) * p->n);
  c->generated = malloc(sizeof(double) * (size_t)o->test * M), c->generated_at = -1;
  CORE_CHECK(c->in && c->out && c->dout && c->x0 && c->eps && c->z && c->xhat && c->grad && c->eps_hat && c->terms &&
                 c->tt && c->rng && c->backup && c->generated,
             CORE_ERR_MEM, "shapes diffusion: cannot allocate shard buffers");
  return CORE_OK;
}

core_status train_shapes_diffusion_create(const train_shapes_options *o, train_task **out) {
  *out = NULL;
  CORE_CHECK(o->diffusion_steps >= 1 && o->diffusion_steps <= DIFFUSION_STEPS_MAX, CORE_ERR_ARG,
             "shapes diffusion: %d diffusion steps, expected 1 .. %d", o->diffusion_steps, (int)DIFFUSION_STEPS_MAX);
  CORE_CHECK(o->ema >= 0 && o->ema < 1 && (unsigned)o->predict < TRAIN_PREDICT_COUNT, CORE_ERR_ARG,
             "shapes diffusion: ema %g (expected 0 <= ema < 1) or prediction %d unknown", o->ema, (int)o->predict);
  shapes_diffusion *c = calloc(1, sizeof *c);
  CORE_CHECK(c, CORE_ERR_MEM, "cannot allocate the shapes diffusion task");
  train_blas_one_thread();
  c->opt = *o;
  c->task.ctx = c;
  c->task.destroy = destroy;
  const core_status st = setup(c);
  if (st) {
    destroy(&c->task);
    return st;
  }
  train_task *t = &c->task;
  t->name = "shapes";
  t->kind = TRAIN_TASK_SHAPES;
  char aug[32], r_min[32], r_max[32], ema[32];
  snprintf(t->options, sizeof t->options, "-task shapes -model diffusion -loss %s -coeff %s -vertices %d -aug_angle %s "
           "-samples %lld -test %lld -hidden %d -r_min %s -r_max %s -diffusion_steps %d -ema %s -predict %s",
           atoms_preset_names[o->loss], atoms_coeff_names[o->coeff], o->vertices, core_real_text(o->aug_angle, aug),
           (long long)o->samples,
           (long long)o->test, o->hidden, core_real_text(o->r_min, r_min), core_real_text(o->r_max, r_max),
           o->diffusion_steps, core_real_text(o->ema, ema), train_prediction_names[o->predict]);
  snprintf(t->config, TRAIN_CONFIG_BYTES, "task=shapes model=diffusion vertices=%d hidden=%d steps=%d predict=%s",
           o->vertices, o->hidden, o->diffusion_steps, train_prediction_names[o->predict]);
  t->arch = (train_model_arch){.width = o->hidden, .diffusion_steps = o->diffusion_steps, .ema = o->ema};
  t->params = nn_model_params(c->model);
  t->n_train = o->samples;
  t->shard_size = o->shard_size;
  t->shard_grad = shard_grad;
  t->evaluate = evaluate;
  *out = t;
  return CORE_OK;
}
