/* The denoise task of eloss train (paper Sec. 4.2): recover a
 * clean structure x (N atoms, 3 d) from a noisy copy x_t = x + sigma eps,
 * eps ~ N(0, I), with one of lib/atoms' losses between the prediction and
 * x.
 *
 * train_denoise_task_create(comm, opt, &task): collective; reads both
 *   files (on rank 0 for HDF5, broadcast; every rank itself for XYZ),
 *   checks them, centres every structure and builds the MLP. Without a
 *   training file the task only evaluates (eloss eval).
 * For evaluation (train_model_open), the options carry the model's atom
 *   count, data kind, width and noise levels (its file's typed record), so
 *   a test set of another kind or size is refused on load.
 * shard_grad: local. evaluate: collective.
 *
 * Data. An `eloss clustergen` file gives its sampled conformations,
 * positions (T, K, N, 3), every temperature's crc32 row checked as
 * lib/spinset/load.c checks spins (zlib CRC-32 of positions[t],
 * energies[t], temperatures[t]); the T K samples are the examples, in
 * (t, k) order; every stored energy must be the LJ energy of its
 * positions. A multi-frame XYZ file gives its frames (at least 2
 * atoms each). The kind is told by the file's first bytes
 * (the HDF5 signature), not its name. Every structure is moved to its
 * centroid: the noise and the losses do not care about a translation, and
 * the network then sees coordinates of order the cluster's size.
 * Molecules of an XYZ file may differ in size: they are padded with zero
 * rows to the largest, N (a test set to the training set's N); padding
 * gets no noise, the losses ignore it (atoms_plan natoms) and the metrics
 * skip it.
 *
 * Noise (variance exploding: alpha_t = 1, x_t = x + sigma eps, the form
 * whose sample prediction the paper trains). A training draw of example i
 * at step s uses the stream (seed, CORE_PURPOSE_DENOISE | TRAIN << 8,
 * s << 32 | i): first the level, uniform over opt->levels, then four
 * normals whose normalised quaternion is a uniformly random rotation R
 * (drawn always, used with opt->rotate, so that -rotate changes the
 * geometry and not the noise), then the 3N normals of eps. With rotate the
 * clean target is R x and the input R x + sigma eps. The draw depends on
 * (seed, s, i) only, so on no rank count. Test draw q = j L + l (test
 * structure j, level l of L) uses (0, CORE_PURPOSE_DENOISE | TEST << 8, q)
 * at the fixed level l, no rotation: seed 0 whatever the run's seed, so
 * every model is scored on the same draws.
 *
 * Model: the MLP of nn.h, {3N + 1, W, W, 3N} with SiLU. Its input is x_t
 * flattened and sigma (XYZ data: x_t, the N atomic numbers / 10, sigma:
 * {4N + 1, W, W, 3N}); its output is the noise estimate eps_hat, and the
 * prediction is x_hat = x_t - sigma eps_hat (sample prediction from a
 * noise-prediction network, so the identity x_hat = x_t is what a zero
 * network gives and small sigma is easy from the start). The network is
 * not equivariant: the invariance of the energy and Kabsch losses is what
 * makes rotations of the data free for them (the paper's argument).
 *
 * Loss: an atoms plan over the shard's clean structures on MPI_COMM_SELF
 * (the trainer reduces across ranks): mse, energy (Eq. 7, complete graph,
 * opt->coeff), kabsch, or sparse (energy on random 2d-regular graphs,
 * redrawn with draw number step * 4096 + k, which does not depend on the
 * rank count). Chain rule: dL/d eps_hat = -sigma dL/d x_hat.
 *
 * Metrics, over every test draw (test structures x levels), summed in
 * draw order on rank 0:
 *   test_dist_error        mean over pairs of |D_ij(x_hat) - D_ij(x)|, then over draws
 *   test_dist_error_noisy  the same for the input x_t (what doing nothing scores)
 *   test_bonds_ok          fraction of draws whose bonded pairs all keep |D_hat - D| <= 0.1 D
 *                          (test_bonds_ok_noisy: the same for x_t);
 *                          bonded: D < 1.5 for clustergen data (reduced LJ units, the
 *                          first-neighbour shell ends near 1.5), D < r_i + r_j + 0.45 for
 *                          XYZ molecules (covalent radii, as ATOMS_EDGES_BONDS)
 *   test_kabsch_rmsd       mean RMSD of x_hat to x after the best rotation
 *   test_lj_energy_gap     clustergen only: MEDIAN over draws of E_LJ(x_hat) - E_LJ(x); a
 *                          median because one squeezed pair sends r^-12 to any size and a
 *                          mean would report that one draw
 *   test_lj_energy_gap_noisy  the same for the input x_t */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"
#include "eloss/lj.h"
#include "eloss/train.h"
#include "train_impl.h"

enum { STREAM_TRAIN = 0, STREAM_TEST = 1, ROW = 7 };
/* The test draws' seed: fixed, not the run's -seed, so that every model
 * (any seed, any loss, and eloss eval) is scored on the same noise. */
enum { TEST_SEED = 0 };


/* Structures of one file, centred, padded to N atoms. */
typedef struct {
  int64_t count;
  double *x;       /* (count, N, 3), zeros past natoms */
  int *element;    /* (count, N) atomic numbers, 0 past natoms; NULL for clustergen (LJ) data */
  int64_t *natoms; /* (count) real atoms; NULL for clustergen data (all N) */
  int64_t start;   /* clustergen: the CRC-32 of the start the chains began from, -1 without */
} denoise_data;

typedef struct {
  train_denoise_options opt;
  int N, lj;                     /* atoms (padded); 1 for clustergen data */
  int in_size;                   /* network input: 3N + 1 (clustergen) or 4N + 1 (XYZ: atomic numbers too) */
  denoise_data train, test;
  nn_model *model; /* the MLP of nn.h */
  float *in, *eps_hat, *x_hat, *d; /* (shard, in_size), (shard, 3N) x 3 */
  double *ref, *sigma;             /* (shard, N, 3), (shard) */
  int64_t *natoms;                 /* (shard) real atoms of the shard's draws */
  double *work;                    /* (6N + 2 * 3N) LJ scratch and double copies */
  atoms_plan *plan;                /* the last shard's loss plan (train_loss_plan) */
  train_task task;
} denoise_ctx;

void train_denoise_options_default(train_denoise_options *o) {
  memset(o, 0, sizeof *o);
  o->loss = ATOMS_PRESET_MSE;
  o->coeff = ATOMS_COEFF_EXP_DIST;
  o->n_levels = 3;
  o->levels[0] = 0.05, o->levels[1] = 0.1, o->levels[2] = 0.2;
  o->width = 128;
  o->shard_size = 16;
}

static void data_free(denoise_data *d) {
  free(d->x), free(d->element), free(d->natoms);
  memset(d, 0, sizeof *d);
}

static int real_atoms(const denoise_data *d, int N, int64_t b) { return d->natoms ? (int)d->natoms[b] : N; }

/* The first n atoms of x to their centroid (padding stays at 0). */
static void centre(int n, double *x) {
  double c[3] = {0, 0, 0};
  for (int a = 0; a < n; ++a)
    for (int k = 0; k < 3; ++k) c[k] += x[3 * a + k];
  for (int a = 0; a < n; ++a)
    for (int k = 0; k < 3; ++k) x[3 * a + k] -= c[k] / n;
}

/* A clustergen file (lj_cluster_load): its samples, T K structures of N
 * atoms. Collective. */
static core_status read_clustergen(MPI_Comm comm, const char *path, int *N, denoise_data *d, uint32_t *crc) {
  lj_cluster_data lj;
  CORE_CALL(lj_cluster_load(comm, path, &lj));
  d->count = lj.T * lj.K, d->x = lj.positions, d->start = lj.start_crc;
  *N = lj.N, *crc = lj.crc;
  return CORE_OK;
}

/* An XYZ file, read by every rank (text, small). Frames may differ in
 * size (molecules): they are padded to the largest. Local. */
static core_status read_xyz(const char *path, int *N, denoise_data *d, uint32_t *crc) {
  io_molecules mol;
  memset(&mol, 0, sizeof mol);
  CORE_CALL(io_xyz_read(path, &mol));
  core_status st = CORE_OK;
  for (int64_t b = 0; b < mol.count && !st; ++b)
    if (mol.natoms[b] < 2)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: frame %lld has %lld atom%s: denoising needs at least 2 per structure",
                      path, (long long)b, (long long)mol.natoms[b], mol.natoms[b] == 1 ? "" : "s");
  if (!st && mol.max_atoms > LJ_MAX_N)
    st = CORE_ERROR(CORE_ERR_ARG, "%s: %lld atoms, at most %d", path, (long long)mol.max_atoms, (int)LJ_MAX_N);
  if (!st) {
    *N = (int)mol.max_atoms;
    d->count = mol.count;
    d->x = mol.coords, d->element = mol.element, d->natoms = mol.natoms;
    mol.coords = NULL, mol.element = NULL, mol.natoms = NULL;
    uint32_t sum = io_crc32(0, d->x, sizeof(double) * (size_t)(d->count * *N * 3));
    sum = io_crc32(sum, d->element, sizeof(int) * (size_t)(d->count * *N));
    *crc = io_crc32(sum, d->natoms, sizeof(int64_t) * (size_t)d->count);
  }
  io_molecules_free(&mol);
  return st;
}

/* Pad d from n0 to N atoms per structure (a test set of smaller molecules
 * than the model's). Local. */
static core_status pad_to(denoise_data *d, int n0, int N) {
  if (n0 == N) return CORE_OK;
  double *x = calloc((size_t)(d->count * N * 3), sizeof(double));
  int *el = calloc((size_t)(d->count * N), sizeof(int));
  if (!x || !el) {
    free(x), free(el);
    return CORE_ERROR(CORE_ERR_MEM, "cannot allocate the padded test set");
  }
  for (int64_t b = 0; b < d->count; ++b) {
    memcpy(x + b * N * 3, d->x + b * n0 * 3, sizeof(double) * 3 * (size_t)n0);
    memcpy(el + b * N, d->element + b * n0, sizeof(int) * (size_t)n0);
  }
  free(d->x), free(d->element);
  d->x = x, d->element = el;
  return CORE_OK;
}

/* Either kind, told by the HDF5 signature; then centred. Collective. */
static core_status read_data(MPI_Comm comm, const char *path, int *N, int *lj, denoise_data *d, uint32_t *crc) {
  static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  unsigned char head[8] = {0};
  *lj = 0;
  FILE *fp = fopen(path, "rb");
  core_status st = fp ? CORE_OK : CORE_ERROR(CORE_ERR_IO, "%s: cannot open the data file", path);
  if (fp) {
    *lj = fread(head, 1, 8, fp) == 8 && !memcmp(head, sig, 8);
    fclose(fp);
  }
  CORE_CALL(core_agree(comm, st));
  if (*lj)
    st = read_clustergen(comm, path, N, d, crc);
  else
    st = core_agree(comm, read_xyz(path, N, d, crc));
  if (st) {
    data_free(d);
    return st;
  }
  for (int64_t b = 0; b < d->count; ++b) centre(real_atoms(d, *N, b), d->x + b * *N * 3);
  /* Coordinates beyond 1e6 data lengths from the centroid are a broken
   * file, not a structure: float32 inputs and pair distances would lose
   * every digit (and training report a "divergence" the data caused). */
  for (int64_t i = 0; i < d->count * *N * 3; ++i)
    if (!(fabs(d->x[i]) <= 1e6)) {
      const int64_t b = i / (*N * 3);
      data_free(d);
      return CORE_ERROR(CORE_ERR_FORMAT, "%s: structure %lld has a coordinate beyond 1e6 from its centroid: not a "
                        "structure to denoise", path, (long long)b);
    }
  return CORE_OK;
}

/* Structure b's bytes (coordinates, then atomic numbers). */
static uint32_t structure_crc(const denoise_data *d, int N, int64_t b) {
  uint32_t sum = io_crc32(0, d->x + b * N * 3, sizeof(double) * 3 * (size_t)N);
  return d->element ? io_crc32(sum, d->element + b * N, sizeof(int) * (size_t)N) : sum;
}

/* The same structure (train_find_shared's confirmation). */
static int same_structure(const void *ctx, int64_t train, int64_t test) {
  const denoise_ctx *c = ctx;
  const int N = c->N;
  return !memcmp(c->train.x + train * N * 3, c->test.x + test * N * 3, sizeof(double) * 3 * (size_t)N) &&
         (!c->train.element ||
          !memcmp(c->train.element + train * N, c->test.element + test * N, sizeof(int) * (size_t)N));
}

/* A test set must not hold a training structure (train_find_shared): a
 * copy of the training file, or a clustergen run of the training run's
 * seed, would score memorisation. Local. */
static core_status check_disjoint(const train_denoise_options *o, const denoise_ctx *c) {
  const int64_t n = c->train.count, m = c->test.count;
  uint32_t *sums = malloc(sizeof(uint32_t) * (size_t)(n + m));
  CORE_CHECK(sums, CORE_ERR_MEM, "cannot allocate %lld checksums", (long long)(n + m));
  for (int64_t b = 0; b < n; ++b) sums[b] = structure_crc(&c->train, c->N, b);
  for (int64_t j = 0; j < m; ++j) sums[n + j] = structure_crc(&c->test, c->N, j);
  int64_t shared = 0, first_test = -1, first_train = -1;
  core_status st = train_find_shared(n, sums, m, sums + n, same_structure, c, &shared, &first_test, &first_train);
  free(sums);
  if (st) return st;
  CORE_CHECK(shared == 0, CORE_ERR_ARG, "denoise task: %lld of the %lld test structures of %s are training structures "
             "of %s (test structure %lld is training structure %lld): a test set must not share structures with the "
             "training set (for clustergen data, sample it with another -seed)", (long long)shared, (long long)m,
             o->test, o->train, (long long)first_test, (long long)first_train);
  return CORE_OK;
}

/* One draw: *sigma, the clean target (N, 3) and the network input
 * (in_size) from structure x (N, 3) of n real atoms and atomic numbers
 * element (NULL for LJ) (header comment). level < 0 draws it. */
static void corrupt(const denoise_ctx *c, uint64_t seed, uint64_t what, uint64_t index, int level, int rotate,
                    int n, const int *element, const double *x, double *clean, float *in, double *sigma) {
  const train_denoise_options *o = &c->opt;
  const int N = c->N;
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_DENOISE | what << 8, index);
  const int l = level >= 0 ? level : (int)core_rng_below(&rng, (uint64_t)o->n_levels);
  const double s = o->levels[l];
  double R[9];
  core_rng_rotation(&rng, R);
  for (int i = 0; i < N; ++i)
    for (int k = 0; k < 3; ++k)
      clean[3 * i + k] = rotate ? R[3 * k] * x[3 * i] + R[3 * k + 1] * x[3 * i + 1] + R[3 * k + 2] * x[3 * i + 2]
                                : x[3 * i + k];
  for (int i = 0; i < 3 * n; ++i) in[i] = (float)(clean[i] + s * core_rng_normal(&rng));
  for (int i = 3 * n; i < 3 * N; ++i) in[i] = 0.0f;
  /* Atomic numbers tell the network which atoms are real and what they
   * are; scaled to order 1. */
  if (element)
    for (int i = 0; i < N; ++i) in[3 * N + i] = (float)(element[i] / 10.0);
  in[c->in_size - 1] = (float)s;
  *sigma = s;
}

static core_status shard_grad(train_task *t, int64_t step, int k_shard, int64_t n, const int64_t *index,
                              double weight, double *loss) {
  denoise_ctx *c = t->ctx;
  const train_denoise_options *o = &c->opt;
  const int N = c->N, D = 3 * N;
  CORE_CHECK(n >= 1 && n <= o->shard_size, CORE_ERR_ARG, "denoise task: %lld draws in a shard of %d", (long long)n,
             o->shard_size);
  const denoise_data *tr = &c->train;
  for (int64_t b = 0; b < n; ++b) {
    c->natoms[b] = real_atoms(tr, N, index[b]);
    corrupt(c, o->seed, STREAM_TRAIN, (uint64_t)step << 32 | (uint64_t)index[b], -1, o->rotate, (int)c->natoms[b],
            tr->element ? tr->element + index[b] * N : NULL, tr->x + index[b] * D, c->ref + b * D,
            c->in + b * c->in_size, &c->sigma[b]);
  }
  CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)n, .x = c->in}, c->eps_hat));
  /* x_hat = x_t - sigma eps_hat */
  for (int64_t b = 0; b < n; ++b)
    for (int i = 0; i < D; ++i)
      c->x_hat[b * D + i] = c->in[b * c->in_size + i] - (float)c->sigma[b] * c->eps_hat[b * D + i];
  atoms_options ao;
  atoms_preset_options(o->loss, o->coeff, o->seed, &ao);
  /* The shard's loss plan, reused from shard to shard while the atom
   * counts stay (train_loss_plan). */
  CORE_CALL(train_loss_plan(&c->plan, &ao, n, N, 3, c->ref, tr->natoms ? c->natoms : NULL));
  if (atoms_preset_table[o->loss].redrawn)
    CORE_CALL(atoms_plan_resample(c->plan, (uint64_t)step * 4096u + (uint64_t)k_shard));
  CORE_CALL(atoms_plan_execute_f32(c->plan, c->x_hat, loss, c->d));
  /* d eps_hat = -sigma d x_hat, times the trainer's weight */
  for (int64_t b = 0; b < n; ++b) {
    const float g = (float)(-c->sigma[b] * weight);
    for (int i = 0; i < D; ++i) c->d[b * D + i] *= g;
  }
  return nn_model_backward(c->model, (int)n, c->d);
}

/* Is pair (i, j) of reference structure x (N, 3), test structure j0,
 * bonded? (header comment) */
static int bonded(const denoise_ctx *c, int64_t j0, int i, int j, double dist) {
  if (c->lj) return dist < 1.5;
  const int *el = c->test.element + j0 * c->N;
  return dist < atoms_covalent_radius(el[i]) + atoms_covalent_radius(el[j]) + 0.45;
}

/* Mean |D(p) - D(x)| over the pairs of the first N atoms, and whether
 * every bonded pair is within 10 %. */
static double dist_error(const denoise_ctx *c, int64_t j0, int N, const double *x, const double *p, int *bonds_ok) {
  double sum = 0;
  int ok = 1;
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) {
      double d0 = 0, d1 = 0;
      for (int k = 0; k < 3; ++k) {
        const double u = x[3 * i + k] - x[3 * j + k], v = p[3 * i + k] - p[3 * j + k];
        d0 += u * u, d1 += v * v;
      }
      d0 = sqrt(d0), d1 = sqrt(d1);
      sum += fabs(d1 - d0);
      /* not "> 0.1 d0": a NaN distance is a broken bond too */
      if (bonds_ok && bonded(c, j0, i, j, d0) && !(fabs(d1 - d0) <= 0.1 * d0)) ok = 0;
    }
  if (bonds_ok) *bonds_ok = ok;
  return sum / (0.5 * N * (N - 1));
}

/* Test draws [start, start + count): ROW numbers each (dist error, noisy
 * dist error, bonds ok, noisy bonds ok, Kabsch RMSD, LJ energy gap, noisy
 * LJ energy gap). */
static core_status evaluate_range(denoise_ctx *c, int64_t start, int64_t count, double *out) {
  const train_denoise_options *o = &c->opt;
  const int N = c->N, D = 3 * N, L = o->n_levels;
  double *xh = c->work + 6 * N, *xt = xh + D;
  for (int64_t at = 0; at < count; at += o->shard_size) {
    const int64_t n = count - at < o->shard_size ? count - at : o->shard_size;
    const denoise_data *te = &c->test;
    for (int64_t b = 0; b < n; ++b) {
      const int64_t q = start + at + b, j = q / L;
      corrupt(c, TEST_SEED, STREAM_TEST, (uint64_t)q, (int)(q % L), 0, real_atoms(te, N, j),
              te->element ? te->element + j * N : NULL, te->x + j * D, c->ref + b * D, c->in + b * c->in_size,
              &c->sigma[b]);
    }
    CORE_CALL(nn_model_forward(c->model, &(nn_input){.B = (int)n, .x = c->in}, c->eps_hat));
    for (int64_t b = 0; b < n; ++b) {
      const int64_t q = start + at + b;
      const double *x = c->ref + b * D;
      const int na = real_atoms(&c->test, N, q / L);
      for (int i = 0; i < D; ++i) {
        xt[i] = c->in[b * c->in_size + i];
        xh[i] = (double)(c->in[b * c->in_size + i] - (float)c->sigma[b] * c->eps_hat[b * D + i]);
      }
      double *r = out + (at + b) * ROW;
      int ok, ok_noisy;
      r[0] = dist_error(c, q / L, na, x, xh, &ok);
      r[1] = dist_error(c, q / L, na, x, xt, &ok_noisy);
      r[2] = ok, r[3] = ok_noisy;
      CORE_CALL(atoms_kabsch_rmsd(na, 3, x, xh, &r[4]));
      const double e0 = c->lj ? lj_energy_gradient(N, x, NULL, c->work) : 0.0;
      r[5] = c->lj ? lj_energy_gradient(N, xh, NULL, c->work) - e0 : 0.0;
      r[6] = c->lj ? lj_energy_gradient(N, xt, NULL, c->work) - e0 : 0.0;
    }
  }
  return CORE_OK;
}

static int compare_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static core_status rows_fn(void *ctx, int64_t start, int64_t n, double *out) {
  return evaluate_range(ctx, start, n, out);
}

static core_status evaluate(train_task *t, MPI_Comm comm, train_metrics *m) {
  denoise_ctx *c = t->ctx;
  int rank;
  MPI_Comm_rank(comm, &rank);
  const int64_t I = c->test.count * c->opt.n_levels;
  double *all = rank == 0 ? malloc(sizeof(double) * (size_t)(I * ROW)) : NULL;
  double *gaps = rank == 0 ? malloc(sizeof(double) * (size_t)(2 * I)) : NULL;
  core_status st = rank != 0 || (all && gaps) ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate test results");
  st = core_agree(comm, st);
  if (!st) st = train_gather_rows(comm, I, c->opt.shard_size, ROW, rows_fn, c, all);
  double v[ROW] = {0};
  if (!st && rank == 0) {
    for (int64_t i = 0; i < I; ++i) {
      for (int k = 0; k < 5; ++k) v[k] += all[i * ROW + k];
      gaps[i] = all[i * ROW + 5], gaps[I + i] = all[i * ROW + 6];
    }
    for (int k = 0; k < 5; ++k) v[k] /= (double)I;
    for (int k = 0; k < 2; ++k) {
      double *g = gaps + k * I;
      qsort(g, (size_t)I, sizeof(double), compare_double);
      v[5 + k] = I % 2 ? g[I / 2] : 0.5 * (g[I / 2 - 1] + g[I / 2]);
    }
  }
  free(all), free(gaps);
  if (!st && MPI_Bcast(v, ROW, MPI_DOUBLE, 0, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Bcast of the test metrics failed");
  if (st) return st;
  static const char *const names[ROW] = {"test_dist_error",  "test_dist_error_noisy", "test_bonds_ok",
                                         "test_bonds_ok_noisy", "test_kabsch_rmsd", "test_lj_energy_gap",
                                         "test_lj_energy_gap_noisy"};
  m->count = c->lj ? 7 : 5;
  for (int k = 0; k < m->count; ++k) {
    snprintf(m->name[k], sizeof m->name[k], "%s", names[k]);
    m->value[k] = v[k];
  }
  return CORE_OK;
}

static void destroy(train_task *t) {
  denoise_ctx *c = t->ctx;
  nn_model_destroy(&c->model);
  atoms_plan_destroy(&c->plan);
  data_free(&c->train), data_free(&c->test);
  free(c->in), free(c->eps_hat), free(c->x_hat), free(c->d), free(c->ref), free(c->sigma), free(c->natoms);
  free(c->work);
  free(c);
}

core_status train_denoise_task_create(MPI_Comm comm, const train_denoise_options *o, train_task **out) {
  *out = NULL;
  CORE_CHECK(o->test, CORE_ERR_ARG, "denoise task: a test file is needed (the metrics)");
  CORE_CHECK((unsigned)o->loss < ATOMS_PRESET_COUNT, CORE_ERR_ARG, "denoise task: unknown loss %d", (int)o->loss);
  CORE_CHECK((unsigned)o->coeff < ATOMS_COEFF_COUNT, CORE_ERR_ARG, "denoise task: unknown coefficient law %d",
             (int)o->coeff);
  CORE_CHECK(o->n_levels >= 1 && o->n_levels <= TRAIN_DENOISE_MAX_LEVELS, CORE_ERR_ARG,
             "denoise task: %d noise levels, expected 1..%d", o->n_levels, (int)TRAIN_DENOISE_MAX_LEVELS);
  for (int l = 0; l < o->n_levels; ++l)
    CORE_CHECK(isfinite(o->levels[l]) && o->levels[l] > 0, CORE_ERR_ARG, "denoise task: noise level %g, expected > 0",
               o->levels[l]);
  CORE_CHECK(o->width >= 1 && o->shard_size >= 1, CORE_ERR_ARG, "denoise task: width and shard must be >= 1");
  denoise_ctx *c = calloc(1, sizeof *c);
  CORE_CHECK(c, CORE_ERR_MEM, "cannot allocate the denoise task");
  train_blas_one_thread(); /* the ranks are the parallelism (train_impl.h) */
  c->opt = *o;
  c->task.ctx = c;
  c->task.destroy = destroy;
  int Nt = 0, lj_test = 0;
  uint32_t crc = 0, crc_test = 0;
  core_status st = o->train ? read_data(comm, o->train, &c->N, &c->lj, &c->train, &crc) : CORE_OK;
  if (!st) st = read_data(comm, o->test, &Nt, &lj_test, &c->test, &crc_test);
  if (!st && !o->train) /* evaluation only: the model's size and kind, when its config gave them */
    c->N = o->atoms > 0 ? o->atoms : Nt, c->lj = o->data_kind > 0 ? o->data_kind == 1 : lj_test;
  /* XYZ molecules are padded to the model's size, so a test set of
   * smaller molecules is fine; LJ clusters have one size. */
  if (!st && (lj_test != c->lj || (c->lj ? Nt != c->N : Nt > c->N)))
    st = CORE_ERROR(CORE_ERR_ARG, "denoise task: the test set %s (%s, %d atoms) is not like the %s (%s, %s%d atoms)",
                    o->test, lj_test ? "clustergen" : "XYZ", Nt, o->train ? "training set" : "model",
                    c->lj ? "clustergen" : "XYZ", c->lj ? "" : "at most ", c->N);
  if (!st && !c->lj) st = pad_to(&c->test, Nt, c->N);
  if (!st && o->train && c->lj && c->train.start != c->test.start)
    st = CORE_ERROR(CORE_ERR_ARG, "denoise task: %s and %s were sampled from different starts (clustergen start_crc32 "
                    "%lld and %lld, -1 for none): their atom labels differ, and no model can learn to denoise across "
                    "them; sample both with one -start", o->train, o->test, (long long)c->train.start,
                    (long long)c->test.start);
  if (!st && o->train) st = check_disjoint(o, c);
  if (!st && ((o->train && c->train.count < 1) || c->test.count < 1 || c->train.count >= (int64_t)1 << 32))
    st = CORE_ERROR(CORE_ERR_ARG, "denoise task: %lld training and %lld test structures, expected 1 .. 2^32 - 1 and "
                    ">= 1", (long long)c->train.count, (long long)c->test.count);
  if (st) {
    destroy(&c->task);
    return st;
  }
  c->in_size = c->lj ? 3 * c->N + 1 : 4 * c->N + 1;
  const int N = c->N, D = 3 * N, sizes[4] = {c->in_size, o->width, o->width, D};
  nn_mlp_config cfg = {.n_layers = 3, .sizes = sizes, .max_batch = o->shard_size};
  st = nn_model_create("mlp", &cfg, o->seed, &c->model);
  const size_t m = (size_t)o->shard_size;
  c->in = malloc(sizeof(float) * m * (size_t)c->in_size);
  c->natoms = malloc(sizeof(int64_t) * m);
  c->eps_hat = malloc(sizeof(float) * m * (size_t)D);
  c->x_hat = malloc(sizeof(float) * m * (size_t)D);
  c->d = malloc(sizeof(float) * m * (size_t)D);
  c->ref = malloc(sizeof(double) * m * (size_t)D);
  c->sigma = malloc(sizeof(double) * m);
  c->work = malloc(sizeof(double) * (size_t)(6 * N + 2 * D));
  if (!st && (!c->in || !c->eps_hat || !c->x_hat || !c->d || !c->ref || !c->sigma || !c->natoms || !c->work))
    st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate shard buffers");
  if (st) {
    destroy(&c->task);
    return st;
  }
  train_task *t = &c->task;
  t->name = "denoise";
  t->kind = TRAIN_TASK_DENOISE;
  int at = snprintf(t->options, sizeof t->options, "-task denoise -loss %s -coeff %s -noise",
                    atoms_preset_names[o->loss], atoms_coeff_names[o->coeff]);
  for (int l = 0; l < o->n_levels && at > 0 && (size_t)at < sizeof t->options; ++l) {
    char level[32];
    at += snprintf(t->options + at, sizeof t->options - (size_t)at, "%s%s", l ? "," : " ",
                   core_real_text(o->levels[l], level));
  }
  if (at > 0 && (size_t)at < sizeof t->options)
    snprintf(t->options + at, sizeof t->options - (size_t)at, " -rotate %d -width %d", o->rotate, o->width);
  /* Levels as %.17g: the config of a model opened again compares equal. */
  int used = snprintf(t->config, TRAIN_CONFIG_BYTES, "task=denoise atoms=%d data=%s width=%d noise=", N,
                      c->lj ? "clustergen" : "xyz", o->width);
  for (int l = 0; l < o->n_levels && used < TRAIN_CONFIG_BYTES; ++l)
    used += snprintf(t->config + used, TRAIN_CONFIG_BYTES - (size_t)used, "%s%.17g", l ? "," : "", o->levels[l]);
  t->arch = (train_model_arch){.width = o->width, .atoms = N, .data_kind = c->lj ? 1 : 2, .n_levels = o->n_levels};
  memcpy(t->arch.levels, o->levels, sizeof(double) * (size_t)o->n_levels);
  t->params = nn_model_params(c->model);
  t->n_train = c->train.count;
  t->shard_size = o->shard_size;
  t->data_crc = crc;
  t->test_crc = crc_test;
  t->shard_grad = shard_grad;
  t->evaluate = evaluate;
  *out = t;
  return CORE_OK;
}

