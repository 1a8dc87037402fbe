/* The diffusion task of eloss train: GDM or EGNN (lib/nn/gdm.c, egnn.c)
 * trained as EDM's noise predictor (lib/diffusion) on molecules, with the
 * paper's losses.
 *
 * Data: multi-frame XYZ of molecules of H, C, N, O, F (any sizes; the
 * QM9-like set of docs/molecules.md). A molecule's rows are [x - centre of
 * mass (3), one-hot type / 4 (5)] (EDM scales one-hot by 1/4); molecules
 * are concatenated, never padded.
 *
 * A training draw of molecule i at step k: t and eps from
 * diffusion_train_draw(seed, k, i), z_t = alpha_t x + sigma_t eps; the
 * network predicts eps_hat from (z_t, t / T). Losses, per molecule of n atoms,
 * d = 8 numbers per atom, averaged over the shard:
 *   mse:     (|eps_hat_h - eps_h|^2 + pos_weight |eps_hat_x - eps_x|^2) / (n d)
 *            (EDM's l2 objective; the authors weight its positions);
 *   energy, kabsch, sparse: pos_weight SNR_t L(x_hat, x) on the positions,
 *            x_hat = (z_t - sigma_t eps_hat) / alpha_t, SNR_t =
 *            alpha_t^2 / sigma_t^2 (the authors' weighting, which puts the
 *            term back on eps's scale), L the atoms preset of the same name
 *            (Eq. 7 with exp_dist on every pair, on random 6-regular graphs
 *            redrawn every step, or MSE after the Kabsch rotation), plus the
 *            types' eps-MSE |eps_hat_h - eps_h|^2 / (n d).
 * The paper's authors compute exp_dist's distances over positions and
 * normalised features; here over positions only.
 *
 * Metrics on the test set, at fixed draws (seed 0 whatever the run's
 * seed, the levels t = T (q + 1/2) / 8, q = 0 .. 7, every molecule at every
 * level): test_eps_mse (EDM's l2) and test_x_rmse (the positions of x_hat
 * against x, root mean square per atom coordinate).
 * shard_grad: local. evaluate: collective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/diffusion.h"
#include "eloss/io.h"
#include "eloss/molecule.h"
#include "eloss/train.h"
#include "train_impl.h"

enum { F = DIFFUSION_FEATURES, D = 3 + F, LEVELS = 8, ROW = 2, STREAM_TEST = 3, STREAM_ROTATE = 5 };

/* The one-hot columns are eloss/molecule.h's element rows: H, C, N, O, F. */

typedef struct {
  int64_t count, atoms, max_atoms; /* molecules, all their atoms, the largest */
  int64_t *natoms, *first;         /* (count) */
  double *rows;                    /* (atoms, D) */
} molecules;

typedef struct {
  train_task task;
  train_diffusion_options opt;
  molecules train, test;
  diffusion_schedule sched;
  nn_model *model;
  atoms_plan *plan;
  /* Shard buffers (shard_size molecules of at most max_atoms). */
  float *in, *eps_hat, *deps, *t_in;
  double *eps, *z, *ref, *xhat, *grad, *terms, *x0;
  int64_t *natoms;
  int *tt;
} diff_ctx;

void train_diffusion_options_default(train_diffusion_options *o) {
  memset(o, 0, sizeof *o);
  o->loss = ATOMS_PRESET_MSE, o->coeff = ATOMS_COEFF_EXP_DIST;
  o->diffusion_steps = 1000, o->width = 64, o->layers = 4, o->shard_size = 8, o->ema = 0.999;
}

static void molecules_free(molecules *m) {
  free(m->natoms), free(m->first), free(m->rows);
  memset(m, 0, sizeof *m);
}

static core_status read_molecules(const char *path, molecules *m, uint32_t *crc) {
  io_molecules x;
  memset(&x, 0, sizeof x);
  CORE_CALL(io_xyz_read(path, &x));
  core_status st = x.count >= 1 ? CORE_OK : CORE_ERROR(CORE_ERR_FORMAT, "%s: no molecules", path);
  int64_t atoms = 0;
  for (int64_t b = 0; b < x.count; ++b) atoms += x.natoms[b];
  m->natoms = malloc(sizeof(int64_t) * (size_t)(x.count + 1));
  m->first = malloc(sizeof(int64_t) * (size_t)(x.count + 1));
  m->rows = calloc((size_t)(atoms + 1) * D, sizeof(double));
  if (!st && (!m->natoms || !m->first || !m->rows)) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate", path);
  *crc = 0;
  for (int64_t b = 0, at = 0; !st && b < x.count; ++b) {
    const int64_t n = x.natoms[b];
    m->natoms[b] = n, m->first[b] = at;
    if (n > m->max_atoms) m->max_atoms = n;
    double com[3] = {0, 0, 0};
    for (int64_t i = 0; i < n; ++i)
      for (int c = 0; c < 3; ++c) com[c] += x.coords[(b * x.max_atoms + i) * 3 + c] / (double)n;
    for (int64_t i = 0; i < n && !st; ++i, ++at) {
      const int z = x.element[b * x.max_atoms + i], col = molecule_element_row(z);
      if (col < 0) {
        st = CORE_ERROR(CORE_ERR_VALUE, "%s: molecule %lld, atom %lld has atomic number %d: the diffusion task "
                        "takes H, C, N, O and F", path, (long long)b, (long long)i, z);
        break;
      }
      double *r = m->rows + at * D;
      for (int c = 0; c < 3; ++c) r[c] = x.coords[(b * x.max_atoms + i) * 3 + c] - com[c];
      r[3 + col] = 0.25;
      /* The network computes in float32: a molecule 10^4 A across is a
       * unit mistake, and 10^38 would overflow. */
      if (fabs(r[0]) > 1e4 || fabs(r[1]) > 1e4 || fabs(r[2]) > 1e4) {
        st = CORE_ERROR(CORE_ERR_VALUE, "%s: molecule %lld, atom %lld lies %.3g A from its molecule's centre: "
                        "expected positions in Angstrom (at most 1e4)", path, (long long)b, (long long)i,
                        sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]));
        break;
      }
    }
  }
  if (!st) {
    m->count = x.count, m->atoms = atoms;
    *crc = io_crc32(0, m->natoms, sizeof(int64_t) * (size_t)x.count);
    *crc = io_crc32(*crc, m->rows, sizeof(double) * (size_t)(atoms * D));
  }
  io_molecules_free(&x);
  if (st) molecules_free(m);
  return st;
}

const char *const train_diffusion_network_names[TRAIN_DIFFUSION_NETWORKS] = {"gdm", "egnn"};

void train_diffusion_config(char *config, train_diffusion_network network, int width, int layers, int steps) {
  snprintf(config, TRAIN_CONFIG_BYTES, "task=diffusion model=%s features=%d width=%d layers=%d steps=%d",
           train_diffusion_network_names[network], F, width, layers, steps);
}

/* At EDM's QM9 settings: aggregation normalisation 1, EGNN's coordinate
 * range 15. */
core_status train_diffusion_network_create(train_diffusion_network network, int width, int layers, int64_t max_atoms,
                                  int64_t N, uint64_t seed, nn_model **model) {
  if (network == TRAIN_DIFFUSION_EGNN) {
    nn_egnn_config cfg = {.features = F, .width = width, .layers = layers, .norm = 1.0, .coords_range = 15.0,
                          .max_atoms = (int)max_atoms, .max_pairs = max_atoms * (N - 1)};
    return nn_model_create("egnn", &cfg, seed, model);
  }
  nn_gdm_config cfg = {.features = F, .width = width, .layers = layers, .norm = 1.0, .max_atoms = (int)max_atoms,
                       .max_pairs = max_atoms * N};
  return nn_model_create("gdm", &cfg, seed, model);
}

static uint32_t molecule_crc(const molecules *m, int64_t b) {
  return io_crc32(0, m->rows + m->first[b] * D, sizeof(double) * (size_t)(m->natoms[b] * D));
}

typedef struct {
  const molecules *train, *test;
} molecule_pair;

/* The same centred molecule (train_find_shared's confirmation). */
static int same_molecule(const void *ctx, int64_t train, int64_t test) {
  const molecule_pair *p = ctx;
  const molecules *a = p->train, *b = p->test;
  return a->natoms[train] == b->natoms[test] &&
         !memcmp(a->rows + a->first[train] * D, b->rows + b->first[test] * D,
                 sizeof(double) * (size_t)(a->natoms[train] * D));
}

/* A test set must not hold a training molecule: its metrics would be
 * training metrics (the rule of every eloss train task). */
static core_status check_disjoint(const train_diffusion_options *o, const molecules *train, const molecules *test) {
  const int64_t n = train->count, m = test->count;
  uint32_t *sums = malloc(sizeof(uint32_t) * (size_t)(n + m));
  CORE_CHECK(sums, CORE_ERR_MEM, "cannot allocate %lld checksums", (long long)(n + m));
  for (int64_t b = 0; b < n; ++b) sums[b] = molecule_crc(train, b);
  for (int64_t j = 0; j < m; ++j) sums[n + j] = molecule_crc(test, j);
  int64_t shared = 0, first_test = -1, first_train = -1;
  const molecule_pair ctx = {train, test};
  core_status st = train_find_shared(n, sums, m, sums + n, same_molecule, &ctx, &shared, &first_test, &first_train);
  free(sums);
  if (st) return st;
  CORE_CHECK(shared == 0, CORE_ERR_ARG, "diffusion task: %lld of the %lld test molecules of %s are training molecules "
             "of %s (test molecule %lld is training molecule %lld): a test set must not share molecules with the "
             "training set", (long long)shared, (long long)m, o->test, o->train, (long long)first_test,
             (long long)first_train);
  return CORE_OK;
}

/* The position term's weight of a loss: the paper's Tables 6-7. */
/* The paper's tuned hyperparameters (App. C.2.1, Table 6 for GDM, Table 7
 * for EDM), by loss and, for the energy losses, coefficient law; the
 * sparse loss takes the energy loss's. */
void train_diffusion_defaults(train_diffusion_network network, atoms_preset loss, atoms_coeff_law coeff, double *lr,
                              double *pos_weight) {
  const int edm = network == TRAIN_DIFFUSION_EGNN;
  if (loss == ATOMS_PRESET_MSE) {
    *lr = edm ? 3e-4 : 1e-3, *pos_weight = edm ? 1.0 : 1.5;
  } else if (loss == ATOMS_PRESET_KABSCH) {
    *lr = edm ? 3e-4 : 8e-4, *pos_weight = 0.8;
  } else {
    *pos_weight = edm && coeff == ATOMS_COEFF_INV_DIST2 ? 0.1 : 0.05;
    switch (coeff) {
      case ATOMS_COEFF_CONSTANT: *lr = edm ? 1e-4 : 9e-4; break;
      case ATOMS_COEFF_INV_DIST: *lr = edm ? 1e-4 : 7e-4; break;
      case ATOMS_COEFF_INV_DIST2: *lr = edm ? 1e-4 : 6e-4; break;
      default: *lr = edm ? 1e-4 : 4e-4; break; /* exp_dist, and laws the tables do not list */
    }
  }
}

static double pos_weight_of(const train_diffusion_options *o) {
  double lr, w;
  train_diffusion_defaults(o->network, o->loss, o->coeff, &lr, &w);
  return o->pos_weight > 0 ? o->pos_weight : w;
}

/* Draw molecule i's noisy rows at t from its clean rows x: z (n, D). */
static void noisy(const diff_ctx *c, const molecules *m, int64_t i, int t, const double *x, const double *eps,
                  double *z) {
  diffusion_q_sample(&c->sched, t, m->natoms[i] * D, x, eps, z);
}

/* Training molecule i's clean rows at step k into x (n, D); with GDM-aug
 * turned by a uniformly random rotation from (seed, step, i). */
static void clean_rows(const diff_ctx *c, int64_t step, int64_t i, double *x) {
  const molecules *m = &c->train;
  const double *src = m->rows + m->first[i] * D;
  if (!c->opt.rotate) {
    memcpy(x, src, sizeof(double) * (size_t)(m->natoms[i] * D));
    return;
  }
  core_rng rng;
  core_rng_init(&rng, c->opt.seed, CORE_PURPOSE_DIFFUSION | STREAM_ROTATE << 8,
                (uint64_t)step << 32 | (uint64_t)(uint32_t)i);
  double R[9];
  core_rng_rotation(&rng, R);
  for (int64_t a = 0; a < m->natoms[i]; ++a) {
    for (int q = 0; q < 3; ++q)
      x[a * D + q] = R[3 * q] * src[a * D] + R[3 * q + 1] * src[a * D + 1] + R[3 * q + 2] * src[a * D + 2];
    for (int q = 3; q < D; ++q) x[a * D + q] = src[a * D + q];
  }
}

/* Forward the shard's n molecules (rows of z in c->z, t in c->tt). */
static core_status forward(diff_ctx *c, int64_t n, int64_t atoms) {
  for (int64_t k = 0; k < atoms * D; ++k) c->in[k] = (float)c->z[k];
  for (int64_t b = 0; b < n; ++b) c->t_in[b] = (float)c->tt[b] / (float)c->opt.diffusion_steps;
  nn_input in = {.B = (int)n, .x = c->in, .natoms = c->natoms, .t = c->t_in};
  return nn_model_forward(c->model, &in, c->eps_hat);
}

/* The position term of energy / kabsch / sparse: weights pos_weight SNR_t
 * per molecule on the preset loss of x_hat; adds to *loss, d eps_hat. */
static core_status position_term(diff_ctx *c, int64_t step, int k_shard, int64_t n, double scale, double *loss) {
  const int64_t N = c->train.max_atoms;
  const train_diffusion_options *o = &c->opt;
  memset(c->ref, 0, sizeof(double) * (size_t)(n * N * 3));
  memset(c->xhat, 0, sizeof(double) * (size_t)(n * N * 3));
  for (int64_t b = 0, at = 0; b < n; at += c->natoms[b], ++b) {
    const double a = diffusion_alpha(&c->sched, c->tt[b]), g = diffusion_sigma(&c->sched, c->tt[b]);
    for (int64_t i = 0; i < c->natoms[b]; ++i)
      for (int q = 0; q < 3; ++q) {
        const int64_t r = (at + i) * D + q;
        c->ref[(b * N + i) * 3 + q] = c->x0[r];
        c->xhat[(b * N + i) * 3 + q] = (c->z[r] - g * (double)c->eps_hat[r]) / a;
      }
  }
  atoms_options ao;
  atoms_preset_options(o->loss, o->coeff, o->seed, &ao);
  CORE_CALL(train_loss_plan(&c->plan, &ao, n, N, 3, c->ref, c->natoms));
  if (atoms_preset_table[o->loss].redrawn)
    CORE_CALL(atoms_plan_resample(c->plan, (uint64_t)step * 4096u + (uint64_t)k_shard));
  CORE_CALL(atoms_plan_execute_local(c->plan, c->xhat, c->terms, c->grad));
  const double w0 = pos_weight_of(o);
  for (int64_t b = 0, at = 0; b < n; at += c->natoms[b], ++b) {
    const int t = c->tt[b];
    const double snr = c->sched.alpha2[t] / c->sched.sigma2[t], w = w0 * snr;
    const double dx = -diffusion_sigma(&c->sched, t) / diffusion_alpha(&c->sched, t);
    *loss += w * c->terms[b];
    for (int64_t i = 0; i < c->natoms[b]; ++i)
      for (int q = 0; q < 3; ++q)
        c->deps[(at + i) * D + q] += (float)(scale * w * dx * c->grad[(b * N + i) * 3 + q]);
  }
  return CORE_OK;
}

static core_status shard_grad(train_task *t, int64_t step, int k_shard, int64_t n, const int64_t *index,
                              double weight, double *loss) {
  diff_ctx *c = t->ctx;
  const train_diffusion_options *o = &c->opt;
  CORE_CHECK(n >= 1 && n <= o->shard_size, CORE_ERR_ARG, "diffusion task: %lld molecules in a shard of %d",
             (long long)n, o->shard_size);
  int64_t atoms = 0;
  for (int64_t b = 0; b < n; ++b) {
    const int64_t i = index[b], nb = c->train.natoms[i];
    c->natoms[b] = nb;
    diffusion_train_draw(&c->sched, o->seed, step, i, (int)nb, 3, F, &c->tt[b], c->eps + atoms * D);
    clean_rows(c, step, i, c->x0 + atoms * D);
    noisy(c, &c->train, i, c->tt[b], c->x0 + atoms * D, c->eps + atoms * D, c->z + atoms * D);
    atoms += nb;
  }
  CORE_CALL(forward(c, n, atoms));
  /* The eps-MSE: the types' for every loss; for mse also the positions',
   * weighted by pos_weight (the authors' energy_loss_weight). */
  const int mse = o->loss == ATOMS_PRESET_MSE;
  const double wx = mse ? pos_weight_of(o) : 0.0;
  *loss = 0.0;
  memset(c->deps, 0, sizeof(float) * (size_t)(atoms * D));
  for (int64_t b = 0, at = 0; b < n; at += c->natoms[b], ++b) {
    const double norm = 1.0 / ((double)c->natoms[b] * D * (double)n);
    for (int64_t i = at; i < at + c->natoms[b]; ++i)
      for (int q = mse ? 0 : 3; q < D; ++q) {
        const double e = (double)c->eps_hat[i * D + q] - c->eps[i * D + q], w = q < 3 ? wx : 1.0;
        *loss += w * e * e * norm;
        c->deps[i * D + q] = (float)(2.0 * w * e * norm * weight);
      }
  }
  if (o->loss != ATOMS_PRESET_MSE) CORE_CALL(position_term(c, step, k_shard, n, weight, loss));
  return nn_model_backward(c->model, (int)n, c->deps);
}

/* Test rows [start, start + count): item q = j LEVELS + l is molecule j at
 * level l; row = (eps-MSE, positions' squared error of x_hat per coordinate). */
static core_status evaluate_range(diff_ctx *c, int64_t start, int64_t count, double *out) {
  const int T = c->opt.diffusion_steps;
  for (int64_t q0 = start; q0 < start + count; q0 += c->opt.shard_size) {
    const int64_t n = start + count - q0 < c->opt.shard_size ? start + count - q0 : c->opt.shard_size;
    int64_t atoms = 0;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t q = q0 + b, j = q / LEVELS, l = q % LEVELS, nb = c->test.natoms[j];
      c->natoms[b] = nb;
      c->tt[b] = (int)((double)T * ((double)l + 0.5) / LEVELS);
      core_rng rng;
      core_rng_init(&rng, 0, CORE_PURPOSE_DIFFUSION | STREAM_TEST << 8, (uint64_t)q);
      diffusion_noise(&rng, (int)nb, 3, F, c->eps + atoms * D);
      noisy(c, &c->test, j, c->tt[b], c->test.rows + c->test.first[j] * D, c->eps + atoms * D, c->z + atoms * D);
      atoms += nb;
    }
    CORE_CALL(forward(c, n, atoms));
    for (int64_t b = 0, at = 0; b < n; at += c->natoms[b], ++b) {
      const double g = diffusion_sigma(&c->sched, c->tt[b]), a = diffusion_alpha(&c->sched, c->tt[b]);
      double mse = 0, x2 = 0;
      for (int64_t i = at; i < at + c->natoms[b]; ++i)
        for (int k = 0; k < D; ++k) {
          const double e = (double)c->eps_hat[i * D + k] - c->eps[i * D + k];
          mse += e * e;
          if (k < 3) x2 += (g * e / a) * (g * e / a); /* x_hat - x = -sigma (eps_hat - eps) / alpha */
        }
      out[(q0 - start + b) * ROW] = mse / ((double)c->natoms[b] * D);
      out[(q0 - start + b) * ROW + 1] = x2 / ((double)c->natoms[b] * 3);
    }
  }
  return CORE_OK;
}

static core_status rows_fn(void *ctx, int64_t start, int64_t n, double *out) { return evaluate_range(ctx, start, n, out); }

static core_status evaluate(train_task *t, MPI_Comm comm, train_metrics *m) {
  diff_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t I = c->test.count * LEVELS;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * ROW)) : NULL;
  core_status st = core_agree(comm, rank != 0 || all ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate test rows"));
  if (!st) st = train_gather_rows(comm, I, c->opt.shard_size, ROW, rows_fn, c, all);
  double v[ROW] = {0, 0};
  if (!st && rank == 0) {
    for (int64_t i = 0; i < I; ++i) v[0] += all[i * ROW], v[1] += all[i * ROW + 1];
    v[0] /= (double)I, v[1] = sqrt(v[1] / (double)I);
  }
  free(all);
  if (!st && MPI_Bcast(v, ROW, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the test metrics failed");
  if (st) return st;
  m->count = ROW;
  snprintf(m->name[0], sizeof m->name[0], "test_eps_mse");
  snprintf(m->name[1], sizeof m->name[1], "test_x_rmse");
  m->value[0] = v[0], m->value[1] = v[1];
  return CORE_OK;
}

static void destroy(train_task *t) {
  diff_ctx *c = t->ctx;
  molecules_free(&c->train);
  molecules_free(&c->test);
  diffusion_schedule_free(&c->sched);
  nn_model_destroy(&c->model);
  atoms_plan_destroy(&c->plan);
  free(c->in), free(c->eps_hat), free(c->deps), free(c->t_in), free(c->eps), free(c->z), free(c->ref);
  free(c->xhat), free(c->grad), free(c->terms), free(c->natoms), free(c->tt), free(c->x0);
  free(c);
}

static core_status buffers(diff_ctx *c) {
  const int64_t S = c->opt.shard_size, N = c->train.max_atoms > c->test.max_atoms ? c->train.max_atoms
                                                                                   : c->test.max_atoms;
  const size_t rows = (size_t)(S * N * D), pos = (size_t)(S * N * 3);
  c->in = malloc(sizeof(float) * rows), c->eps_hat = malloc(sizeof(float) * rows);
  c->deps = malloc(sizeof(float) * rows), c->t_in = malloc(sizeof(float) * (size_t)S);
  c->eps = malloc(sizeof(double) * rows), c->z = malloc(sizeof(double) * rows), c->x0 = malloc(sizeof(double) * rows);
  c->ref = malloc(sizeof(double) * pos), c->xhat = malloc(sizeof(double) * pos), c->grad = malloc(sizeof(double) * pos);
  c->terms = malloc(sizeof(double) * (size_t)S), c->natoms = malloc(sizeof(int64_t) * (size_t)S);
  c->tt = malloc(sizeof(int) * (size_t)S);
  CORE_CHECK(c->in && c->eps_hat && c->deps && c->t_in && c->eps && c->z && c->x0 && c->ref && c->xhat && c->grad &&
                 c->terms && c->natoms && c->tt,
             CORE_ERR_MEM, "diffusion task: cannot allocate shard buffers");
  return train_diffusion_network_create(c->opt.network, c->opt.width, c->opt.layers, S * N, N, c->opt.seed, &c->model);
}

core_status train_diffusion_task_create(MPI_Comm comm, const train_diffusion_options *o, train_task **out) {
  (void)comm; /* every rank reads both files itself (small) */
  *out = NULL;
  CORE_CHECK(o->test && o->shard_size >= 1 && o->width >= 1 && o->layers >= 0 && o->network >= 0 &&
                 o->network < TRAIN_DIFFUSION_NETWORKS,
             CORE_ERR_ARG, "diffusion task: a test set, a network, shard_size >= 1, width >= 1 and layers >= 0 are "
             "required");
  CORE_CHECK(!(o->rotate && o->network == TRAIN_DIFFUSION_EGNN), CORE_ERR_ARG,
             "diffusion task: rotate is GDM-aug's augmentation; EGNN is equivariant");
  train_blas_one_thread();
  diff_ctx *c = calloc(1, sizeof *c);
  CORE_CHECK(c != NULL, CORE_ERR_MEM, "diffusion task: out of memory");
  c->opt = *o;
  c->task.ctx = c, c->task.destroy = destroy;
  uint32_t crc = 0, crc_test = 0;
  core_status st = o->train ? read_molecules(o->train, &c->train, &crc) : CORE_OK;
  if (!st) st = read_molecules(o->test, &c->test, &crc_test);
  if (!st && !o->train) c->train.max_atoms = c->test.max_atoms;
  if (!st && o->train) st = check_disjoint(o, &c->train, &c->test);
  for (int64_t b = 0; !st && b < c->train.count; ++b)
    if (c->train.natoms[b] >= TRAIN_ARCH_HIST)
      st = CORE_ERROR(CORE_ERR_ARG, "diffusion task: training molecule %lld of %s has %lld atoms, expected fewer "
                      "than %d", (long long)b, o->train, (long long)c->train.natoms[b], (int)TRAIN_ARCH_HIST);
  if (!st) st = diffusion_schedule_create(o->diffusion_steps, 2.0, 1e-5, &c->sched);
  if (!st) st = buffers(c);
  if (!st && o->ema > 0) st = nn_params_enable_ema(nn_model_params(c->model), o->ema);
  if (st) {
    destroy(&c->task);
    return st;
  }
  train_task *t = &c->task;
  t->name = "diffusion";
  t->kind = TRAIN_TASK_DIFFUSION;
  char pw[32], em[32];
  snprintf(t->options, sizeof t->options, "-task diffusion -model %s -loss %s -coeff %s -pos_weight %s "
           "-diffusion_steps %d -width %d -layers %d -rotate %d -ema %s", train_diffusion_network_names[o->network],
           atoms_preset_names[o->loss],
           atoms_coeff_names[o->coeff],
           core_real_text(pos_weight_of(o), pw), o->diffusion_steps,
           o->width, o->layers, o->rotate, core_real_text(o->ema, em));
  train_diffusion_config(t->config, o->network, o->width, o->layers, o->diffusion_steps);
  t->arch = (train_model_arch){.width = o->width, .depth = o->layers, .diffusion_steps = o->diffusion_steps,
                               .features = F, .network = o->network, .ema = o->ema};
  for (int64_t b = 0; b < c->train.count; ++b) ++t->arch.atom_hist[c->train.natoms[b]];
  t->params = nn_model_params(c->model);
  t->n_train = c->train.count;
  t->shard_size = o->shard_size;
  t->data_crc = crc, t->test_crc = crc_test;
  t->shard_grad = shard_grad;
  t->evaluate = evaluate;
  *out = t;
  return CORE_OK;
}
