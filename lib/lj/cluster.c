/* Lennard-Jones cluster datasets: the job behind `eloss clustergen`.
 *
 * lj_cluster_generate(comm, opt, stop, progress, &report): collective.
 *
 * The run is a sequence of cycles, every one the same on any number of
 * ranks:
 *   start     temperature t's chain: a quenched random start (stream START,
 *             t), or with opt->start that structure (every chain, so every
 *             sample keeps its atom labels: a denoiser's training and test
 *             sets sampled from one start share them); walk w: a minimised
 *             random start (START, 2^32 + w).
 *   cycles [0, P), P = therm + samples (0 without samples): parallel
 *             tempering. Each rank runs `sweeps` Metropolis sweeps of its
 *             block of temperatures (stream MOVES, t << 32 | cycle); the
 *             rows (energy, step, coordinates) are gathered on every rank
 *             (MPI_Allgatherv, a few KB), and every rank makes the same
 *             exchanges from the stream (EXCHANGE, cycle). Step sizes
 *             adapt during the first `therm` cycles; cycle therm + k stores
 *             sample k of every temperature.
 *   cycles [P, P + B), B = ceil(bh_steps / LJ_BASIN_CHUNK): basin hopping.
 *             Each rank advances its block of walks by one chunk (stream
 *             BASIN, w << 32 | chunk); rows gathered likewise.
 * Every rank thus holds the whole state (rows, walks, samples so far)
 * after every cycle, and a cycle's result depends only on the state before
 * it: the data are a pure function of the options, whatever the rank
 * count, and a resume may use another rank count.
 *
 * File layout (HDF5; T temperatures, K samples, N particles, W walks):
 *   temperatures          (T,)          float64  ascending
 *   positions             (T, K, N, 3)  float64  sample k at temperature t (K > 0)
 *   energies              (T, K)        float64  E of each sample (K > 0)
 *   crc32                 (T,)          int64    zlib CRC-32 of the bytes of
 *                                                positions[t], energies[t] and
 *                                                temperatures[t], in that order
 *   global_min_positions  (N, 3)        float64  lowest minimum found, centred
 *   global_min_energy     (1,)          float64  its energy
 *   walk_min_energies     (W,)          float64  each walk's lowest minimum
 * Root attributes: `options` (the canonical option line) and each option
 * on its own (n, seed, samples, therm, sweeps, radius, walks, bh_steps,
 * bh_step, bh_temperature, temperatures), `exchange_acceptance` (T - 1),
 * `global_min_crc32` (CRC-32 of global_min_positions then
 * global_min_energy), and text attributes naming the potential and units.
 *
 * Resilience, as spingen (lib/spinset/generate.c):
 * - Rank 0 locks <out>.lock for the whole run, checks that <out> can be
 *   written, never replaces a finished <out> without force, never discards
 *   a checkpoint without resume or force, and refuses resume with nothing
 *   to resume or with other options (the options' CRC-32 is in the
 *   checkpoint header).
 * - The checkpoint <out>.ckpt (io_ckpt: two checksummed sections,
 *   "progress" and "state") holds the whole state, every double of it, so
 *   a resume continues bit for bit. It is written at cycle 0, when rank 0's
 *   clock says one is due (the decision reduced over the ranks), on a stop
 *   request and at the end.
 * - The HDF5 file is written once, at the end, to <out>.partial through
 *   lib/io's one-writer io_h5 (rank 0 writes, the others send rows), and
 *   renamed to <out> when complete.
 * - A stop request (*stop on any rank) abandons the cycle in progress at
 *   the next sweep (a cycle's work is done in scratch rows, so the state
 *   stays that of the last finished cycle), checkpoints and returns. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eloss/io.h"
#include "eloss/lj.h"

static const char ckpt_kind[] = "clustergen";

/* The checkpoint's "progress" section: where the run is, and the sizes
 * that fix the length of the "state" section. */
typedef struct {
  int64_t cycle, cycles_total, n, n_temps, samples, walks;
} progress_record;

/* The whole state: one block of doubles, seen through named pointers. */
typedef struct {
  double *block;
  int64_t count;
  double *rows;      /* (T, lj_row_size(N)) chains, by temperature */
  double *ex_acc;    /* (T) exchanges accepted between t and t + 1 */
  double *ex_tried;  /* (T) ... and tried */
  double *positions; /* (T, K, N, 3) samples */
  double *energies;  /* (T, K) */
  double *walks;     /* (W, lj_walk_size(N)) basin-hopping walks */
} run_state;

static core_status state_alloc(const lj_cluster_options *opt, run_state *s) {
  const int64_t T = opt->n_temps, K = opt->samples, N = opt->n, W = opt->walks;
  const int64_t sizes[6] = {T * lj_row_size(opt->n), T, T, T * K * N * 3, T * K, W * lj_walk_size(opt->n)};
  s->count = 0;
  for (int k = 0; k < 6; ++k) s->count += sizes[k];
  s->block = calloc((size_t)s->count, sizeof(double));
  CORE_CHECK(s->block, CORE_ERR_MEM, "cannot allocate the run's state (%lld doubles)", (long long)s->count);
  double **views[6] = {&s->rows, &s->ex_acc, &s->ex_tried, &s->positions, &s->energies, &s->walks};
  double *p = s->block;
  for (int k = 0; k < 6; ++k) *views[k] = p, p += sizes[k];
  return CORE_OK;
}

static int64_t pt_cycles(const lj_cluster_options *opt) {
  return opt->samples > 0 ? (int64_t)opt->therm + opt->samples : 0;
}

static int64_t total_cycles(const lj_cluster_options *opt) {
  return pt_cycles(opt) + ((int64_t)opt->bh_steps + LJ_BASIN_CHUNK - 1) / LJ_BASIN_CHUNK;
}

static core_status checkpoint_write(io_job *job, const lj_cluster_options *opt, int64_t cycle, const run_state *s) {
  progress_record p = {cycle, total_cycles(opt), opt->n, opt->n_temps, opt->samples, opt->walks};
  io_ckpt_section sections[2] = {{"progress", &p, sizeof p}, {"state", s->block, sizeof(double) * (uint64_t)s->count}};
  return io_job_checkpoint(job, 2, sections);
}

/* The checkpoint of the last finished cycle (io_job_step_end's save). */
typedef struct {
  io_job *job;
  const lj_cluster_options *opt;
  const int64_t *cycle;
  const run_state *s;
} cycle_save;

static core_status save_cycle(void *ctx) {
  const cycle_save *c = ctx;
  return checkpoint_write(c->job, c->opt, *c->cycle, c->s);
}

/* The whole checkpoint into s, on every rank; the cycle reached. */
static core_status checkpoint_read(io_job *job, const lj_cluster_options *opt, run_state *s, int64_t *cycle) {
  progress_record p;
  io_ckpt_section sections[2] = {{"progress", &p, sizeof p}, {"state", s->block, sizeof(double) * (uint64_t)s->count}};
  CORE_CALL(io_job_read(job, 2, sections));
  CORE_CHECK(p.cycle >= 0 && p.cycle <= total_cycles(opt) && p.cycles_total == total_cycles(opt) && p.n == opt->n &&
                 p.n_temps == opt->n_temps && p.samples == opt->samples && p.walks == opt->walks,
             CORE_ERR_FORMAT, "%s: a damaged checkpoint (cycle %lld of %lld); start over with -force",
             io_job_checkpoint_path(job), (long long)p.cycle, (long long)p.cycles_total);
  *cycle = p.cycle;
  return CORE_OK;
}

/* Allgatherv of blocks of `width` doubles: rank r sends its rows
 * [start_r, start_r + n_r) of `total` from mine, everyone receives all.
 * Collective; callers agree on their status before. */
static core_status gather_rows(MPI_Comm comm, int64_t total, int64_t width, const double *mine, double *all) {
  int size;
  MPI_Comm_size(comm, &size);
  int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
  core_status st = counts && displs ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate gather tables");
  st = core_agree(comm, st);
  int64_t mine_n = 0;
  for (int r = 0; !st && r < size; ++r) {
    int64_t n_r, start_r;
    core_partition(total, size, r, &n_r, &start_r);
    counts[r] = (int)(n_r * width), displs[r] = (int)(start_r * width);
  }
  if (!st) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    mine_n = counts[rank];
    if (MPI_Allgatherv(mine, (int)mine_n, MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, comm) != MPI_SUCCESS)
      st = CORE_ERROR(CORE_ERR_MPI, "MPI_Allgatherv of the replica rows failed");
  }
  free(counts), free(displs);
  return st;
}

/* Index of the walk with the lowest minimum (the first on a tie). */
static int64_t best_walk(const lj_cluster_options *opt, const run_state *s) {
  int64_t best = 0;
  const int64_t width = lj_walk_size(opt->n);
  for (int64_t w = 1; w < opt->walks; ++w)
    if (s->walks[w * width + LJ_WALK_BEST_ENERGY] < s->walks[best * width + LJ_WALK_BEST_ENERGY]) best = w;
  return best;
}

/* Rank 0, before any work: -xyz must be writable, none of the run's own
 * files (-out, its .partial, .ckpt, .lock) and no existing file unless
 * force (a resume may rewrite its own run's XYZ). */
static core_status write_xyz(const char *path, int n, const double *x, double energy) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  /* Argon, the classic Lennard-Jones element, so viewers draw atoms. */
  fprintf(f.fp, "%d\nLJ%d global minimum found by eloss clustergen: E = %.10f epsilon (sigma = 1)\n", n, n, energy);
  for (int i = 0; i < n; ++i) fprintf(f.fp, "Ar %.12f %.12f %.12f\n", x[3 * i], x[3 * i + 1], x[3 * i + 2]);
  return io_atomic_commit(&f); /* checks every write, names the reason */
}

/* The HDF5 file, written collectively to `path` (the layout above). */
static core_status write_output(MPI_Comm comm, const lj_cluster_options *opt, const run_state *s, const char *path) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t T = opt->n_temps, K = opt->samples, N = opt->n, W = opt->walks;
  int64_t tn, t0, wn, w0;
  core_partition(T, size, rank, &tn, &t0);
  core_partition(W, size, rank, &wn, &w0);
  const int64_t wb = best_walk(opt, s), width = lj_walk_size(opt->n);
  const double *gm = lj_walk_best(s->walks + wb * width, opt->n), gm_e = s->walks[wb * width + LJ_WALK_BEST_ENERGY];
  double *walk_e = malloc(sizeof(double) * (size_t)(W > 0 ? W : 1));
  int64_t *crc = malloc(sizeof(int64_t) * (size_t)(T > 0 ? T : 1));
  core_status st = walk_e && crc ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the output rows");
  for (int64_t w = 0; !st && w < W; ++w) walk_e[w] = s->walks[w * width + LJ_WALK_BEST_ENERGY];
  for (int64_t t = 0; !st && t < T; ++t) {
    crc[t] = lj_cluster_row_crc(K, (int)N, s->positions + t * K * N * 3, s->energies + t * K, opt->temperatures[t]);
  }
  st = core_agree(comm, st);
  io_h5 *f = NULL;
  if (!st) st = io_h5_create(comm, path, &f);
  const int64_t shape_pos[4] = {T, K, N, 3}, shape_e[2] = {T, K}, shape_gm[2] = {N, 3}, one = 1;
  if (!st) st = io_h5_dataset_create(f, "temperatures", IO_F64, 1, &T);
  if (!st && K > 0) st = io_h5_dataset_create(f, "positions", IO_F64, 4, shape_pos);
  if (!st && K > 0) st = io_h5_dataset_create(f, "energies", IO_F64, 2, shape_e);
  if (!st) st = io_h5_dataset_create(f, "crc32", IO_I64, 1, &T);
  if (!st) st = io_h5_dataset_create(f, "global_min_positions", IO_F64, 2, shape_gm);
  if (!st) st = io_h5_dataset_create(f, "global_min_energy", IO_F64, 1, &one);
  if (!st) st = io_h5_dataset_create(f, "walk_min_energies", IO_F64, 1, &W);
  if (!st) st = io_h5_write_rows(f, "temperatures", IO_F64, t0, tn, opt->temperatures + t0);
  if (!st && K > 0) st = io_h5_write_rows(f, "positions", IO_F64, t0, tn, s->positions + t0 * K * N * 3);
  if (!st && K > 0) st = io_h5_write_rows(f, "energies", IO_F64, t0, tn, s->energies + t0 * K);
  if (!st) st = io_h5_write_rows(f, "crc32", IO_I64, t0, tn, crc + t0);
  if (!st) st = io_h5_write_rows(f, "global_min_positions", IO_F64, 0, rank == 0 ? N : 0, gm);
  if (!st) st = io_h5_write_rows(f, "global_min_energy", IO_F64, 0, rank == 0 ? 1 : 0, &gm_e);
  if (!st) st = io_h5_write_rows(f, "walk_min_energies", IO_F64, w0, wn, walk_e + w0);
  /* Attributes: the canonical option line, then every option on its own. */
  const int64_t ints[7] = {opt->n, (int64_t)opt->seed, opt->samples, opt->therm, opt->sweeps, opt->walks, opt->bh_steps};
  const char *int_names[7] = {"n", "seed", "samples", "therm", "sweeps", "walks", "bh_steps"};
  const double reals[3] = {opt->radius, opt->bh_step, opt->bh_temperature};
  const char *real_names[3] = {"radius", "bh_step", "bh_temperature"};
  char text[IO_JOB_IDENTITY_BYTES];
  lj_cluster_options_text(opt, text, sizeof text);
  const int64_t start_crc = lj_cluster_start_crc(opt);
  if (!st) st = io_h5_attr_string(f, "/", "options", text);
  if (!st) st = io_h5_attr_int64(f, "/", "start_crc32", 1, &start_crc);
  for (int k = 0; !st && k < 7; ++k) st = io_h5_attr_int64(f, "/", int_names[k], 1, &ints[k]);
  for (int k = 0; !st && k < 3; ++k) st = io_h5_attr_double(f, "/", real_names[k], 1, &reals[k]);
  if (!st) st = io_h5_attr_double(f, "/", "temperatures", opt->n_temps, opt->temperatures);
  if (!st && T > 1) {
    double rates[256];
    const int m = (int)(T - 1 < 256 ? T - 1 : 256);
    for (int t = 0; t < m; ++t) rates[t] = s->ex_tried[t] > 0 ? s->ex_acc[t] / s->ex_tried[t] : 0.0;
    st = io_h5_attr_double(f, "/", "exchange_acceptance", m, rates);
  }
  if (!st) {
    uint32_t c = io_crc32(0, gm, sizeof(double) * (size_t)(N * 3));
    const int64_t gm_crc = io_crc32(c, &gm_e, sizeof(double));
    st = io_h5_attr_int64(f, "/", "global_min_crc32", 1, &gm_crc);
  }
  if (!st) st = io_h5_attr_string(f, "/", "potential", "Lennard-Jones E = 4 sum_{i<j} (r^-12 - r^-6), reduced units "
                                  "epsilon = sigma = k_B = 1");
  if (!st) st = io_h5_attr_string(f, "/", "sampling", "Metropolis single-particle moves in a hard sphere of the given "
                                  "radius around the origin, parallel tempering over the temperatures; samples are "
                                  "taken after therm cycles, one per cycle of sweeps sweeps");
  if (!st) st = io_h5_attr_string(f, "/", "global_min_method", "basin hopping (Wales and Doye 1997) with BFGS "
                                  "minimisation, the lowest of the walks (a putative global minimum, not proven)");
  core_status close_st = io_h5_close(&f);
  free(walk_e), free(crc);
  return st ? st : close_st;
}

uint32_t lj_cluster_row_crc(int64_t K, int N, const double *positions, const double *energies, double temperature) {
  uint32_t c = io_crc32(0, positions, sizeof(double) * (size_t)(K * N * 3));
  c = io_crc32(c, energies, sizeof(double) * (size_t)K);
  return io_crc32(c, &temperature, sizeof(double));
}

void lj_cluster_data_free(lj_cluster_data *d) {
  free(d->positions);
  memset(d, 0, sizeof *d);
}

core_status lj_cluster_load(MPI_Comm comm, const char *path, lj_cluster_data *d) {
  memset(d, 0, sizeof *d);
  uint32_t *crc = &d->crc;
  int rank;
  MPI_Comm_rank(comm, &rank);
  io_h5 *f = NULL;
  CORE_CALL(io_h5_open_read(comm, path, &f));
  int nd, td, ed, cd;
  int64_t ps[8], ts[8], es[8], cs[8];
  core_status st = io_h5_dataset_info(f, "positions", &nd, ps);
  if (!st) st = io_h5_dataset_info(f, "temperatures", &td, ts);
  if (!st) st = io_h5_dataset_info(f, "energies", &ed, es);
  if (!st) st = io_h5_dataset_info(f, "crc32", &cd, cs);
  if (!st && !(nd == 4 && ps[0] >= 1 && ps[1] >= 1 && ps[2] >= 2 && ps[2] <= LJ_MAX_N && ps[3] == 3))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected clustergen positions (T, K, N, 3) with K >= 1 and N >= 2", path);
  if (!st && !(td == 1 && ts[0] == ps[0] && ed == 2 && es[0] == ps[0] && es[1] == ps[1] && cd == 1 && cs[0] == ps[0]))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: temperatures (T), energies (T, K) and crc32 (T) must match positions", path);
  /* The positions are broadcast in one call: T K N 3 doubles fit an int. */
  if (!st && (ps[1] > INT_MAX / (3 * ps[2]) || ps[0] > INT_MAX / (3 * ps[2] * ps[1])))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: positions (%lld, %lld, %lld, 3) hold more than %d values", path,
                    (long long)ps[0], (long long)ps[1], (long long)ps[2], INT_MAX);
  const int64_t T = st ? 0 : ps[0], K = st ? 0 : ps[1], n = st ? 0 : ps[2], row = K * n * 3;
  double *temps = NULL, *en = NULL;
  int64_t *sums = NULL;
  if (!st) {
    d->T = T, d->K = K;
    d->positions = malloc(sizeof(double) * (size_t)(T * row));
    temps = malloc(sizeof(double) * (size_t)T), en = malloc(sizeof(double) * (size_t)(T * K));
    sums = malloc(sizeof(int64_t) * (size_t)T);
    st = core_agree(comm, d->positions && temps && en && sums ? CORE_OK
                                                      : CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate", path));
  }
  const int64_t mine = rank == 0 ? T : 0;
  if (!st) st = io_h5_read_rows(f, "positions", IO_F64, 0, mine, d->positions);
  if (!st) st = io_h5_read_rows(f, "temperatures", IO_F64, 0, mine, temps);
  if (!st) st = io_h5_read_rows(f, "energies", IO_F64, 0, mine, en);
  if (!st) st = io_h5_read_rows(f, "crc32", IO_I64, 0, mine, sums);
  /* The start the samples were drawn from (their atom labels); -1 for a
   * file without one. The read is collective: every rank gets it. */
  d->start_crc = -1;
  int found = 0;
  if (!st) st = io_h5_attr_read_int64(f, "/", "start_crc32", 1, &d->start_crc, &found);
  core_status cl = io_h5_close(&f);
  if (!st) st = cl;
  if (!st && rank == 0) {
    *crc = 0;
    for (int64_t t = 0; t < T && !st; ++t) {
      uint32_t sum = lj_cluster_row_crc(K, (int)n, d->positions + t * row, en + t * K, temps[t]);
      if ((int64_t)sum != sums[t])
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: temperature %lld does not match its stored checksum (crc32): the file "
                        "is damaged", path, (long long)t);
      *crc = io_crc32(*crc, &sum, sizeof sum);
    }
    /* A checksum vouches for the bytes, not for what wrote them: every
     * stored energy must be the LJ energy of its positions. */
    double *work = st ? NULL : malloc(sizeof(double) * 6 * (size_t)n);
    if (!st && !work) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate", path);
    for (int64_t i = 0; !st && i < T * K; ++i) {
      const double e = lj_energy_gradient((int)n, d->positions + i * n * 3, NULL, work);
      if (!(fabs(e - en[i]) <= 1e-8 * (1 + fabs(e))))
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: sample %lld of temperature %lld has energy %.10g, but its positions give "
                        "%.10g: not Lennard-Jones clusters of eloss clustergen", path, (long long)(i % K),
                        (long long)(i / K), en[i], e);
    }
    free(work);
  }
  st = core_agree(comm, st);
  if (!st && (MPI_Bcast(d->positions, (int)(T * row), MPI_DOUBLE, 0, comm) != MPI_SUCCESS ||
              MPI_Bcast(crc, 1, MPI_UINT32_T, 0, comm) != MPI_SUCCESS))
    st = CORE_ERROR(CORE_ERR_MPI, "%s: MPI_Bcast of the positions failed", path);
  free(temps), free(en), free(sums);
  if (st) {
    lj_cluster_data_free(d);
    return st;
  }
  d->N = (int)n;
  return CORE_OK;
}

int64_t lj_cluster_start_crc(const lj_cluster_options *opt) {
  return opt->start ? (int64_t)io_crc32(0, opt->start, sizeof(double) * 3 * (size_t)opt->n) : -1;
}

void lj_cluster_options_text(const lj_cluster_options *opt, char *text, size_t size) {
  size_t len = 0;
  core_appendf(text, size, &len, "-n %d -seed %lld -samples %d -therm %d -sweeps %d -radius %.17g -walks %d "
               "-bh_steps %d -bh_step %.17g -bh_temperature %.17g -temperatures", opt->n, (long long)opt->seed,
               opt->samples, opt->therm, opt->sweeps, opt->radius, opt->walks, opt->bh_steps, opt->bh_step,
               opt->bh_temperature);
  for (int k = 0; k < opt->n_temps; ++k) core_appendf(text, size, &len, "%s%.17g", k ? "," : " ", opt->temperatures[k]);
  /* The start's CRC-32 joins the line: a resume with an edited start file
   * is refused. */
  if (opt->start)
    core_appendf(text, size, &len, " -start %s -start_crc32 %u", opt->start_name ? opt->start_name : "",
                 (unsigned)lj_cluster_start_crc(opt));
}

/* The options a cluster dataset can be made with. Local. */
static core_status check_options(const lj_cluster_options *opt) {
  CORE_CHECK(!(opt->n < 2 || opt->n > LJ_MAX_N || opt->n_temps < 1 || opt->samples < 0 || opt->therm < 0 ||
               opt->sweeps < 1 || opt->walks < 1 || opt->bh_steps < 1 || !opt->out),
             CORE_ERR_ARG, "clustergen: need 2 <= n <= %d, at least one temperature, samples >= 0, therm >= 0, "
             "sweeps >= 1, walks >= 1, bh_steps >= 1 and an output", (int)LJ_MAX_N);
  for (int t = 0; t < opt->n_temps; ++t)
    CORE_CHECK(isfinite(opt->temperatures[t]) && opt->temperatures[t] > 0 &&
                   (t == 0 || opt->temperatures[t] > opt->temperatures[t - 1]),
               CORE_ERR_ARG, "temperatures must be finite, > 0 and strictly ascending (entry %d is %g)", t,
               opt->temperatures[t]);
  return CORE_OK;
}

/* A fresh run's starts: this rank's chains and walks, gathered on every
 * rank, and a checkpoint at cycle 0 (a run stopped before its first
 * cycle resumes too). Collective. */
static core_status fresh_start(MPI_Comm comm, io_job *job, const lj_cluster_options *opt, lj_sampler *sampler,
                               lj_basin *basin, double *rows_mine, double *walks_mine, run_state *s) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t row = lj_row_size(opt->n), wrow = lj_walk_size(opt->n);
  int64_t tn, t0, wn, w0;
  core_partition(opt->n_temps, size, rank, &tn, &t0);
  core_partition(opt->walks, size, rank, &wn, &w0);
  core_status st = CORE_OK;
  for (int64_t k = 0; !st && k < tn; ++k)
    st = opt->start ? lj_sampler_start_at(sampler, (int)(t0 + k), opt->start, rows_mine + k * row)
                    : lj_sampler_start(sampler, opt->seed, (int)(t0 + k), rows_mine + k * row);
  for (int64_t k = 0; !st && k < wn; ++k) st = lj_basin_start(basin, opt->seed, (uint64_t)(w0 + k), walks_mine + k * wrow);
  CORE_CALL(core_agree(comm, st));
  CORE_CALL(gather_rows(comm, opt->n_temps, row, rows_mine, s->rows));
  CORE_CALL(gather_rows(comm, opt->walks, wrow, walks_mine, s->walks));
  return checkpoint_write(job, opt, 0, s);
}

/* One cycle on every rank: a tempering cycle of this rank's temperatures
 * (then the exchanges and, after thermalisation, the samples), or a chunk
 * of basin hopping of its walks; the rows gathered everywhere. Collective. */
static core_status advance(MPI_Comm comm, const lj_cluster_options *opt, lj_sampler *sampler, lj_basin *basin,
                           int64_t cycle, double *rows_mine, double *walks_mine, run_state *s,
                           volatile sig_atomic_t *stop) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t T = opt->n_temps, W = opt->walks, P = pt_cycles(opt);
  const int64_t row = lj_row_size(opt->n), wrow = lj_walk_size(opt->n);
  int64_t tn, t0, wn, w0;
  core_partition(T, size, rank, &tn, &t0);
  core_partition(W, size, rank, &wn, &w0);
  core_status st = CORE_OK;
  if (cycle >= P) {
    /* Basin hopping: this rank's walks by one chunk. */
    if (stop && *stop) st = CORE_ERROR(CORE_ERR_STOPPED, "stopped on request");
    memcpy(walks_mine, s->walks + w0 * wrow, sizeof(double) * (size_t)(wn * wrow));
    for (int64_t k = 0; !st && k < wn; ++k)
      st = lj_basin_steps(basin, opt->seed, (uint64_t)(w0 + k), (uint64_t)(cycle - P), walks_mine + k * wrow);
    CORE_CALL(core_agree(comm, st));
    return gather_rows(comm, W, wrow, walks_mine, s->walks);
  }
  /* Parallel tempering: this rank's temperatures in scratch rows. */
  memcpy(rows_mine, s->rows + t0 * row, sizeof(double) * (size_t)(tn * row));
  for (int64_t k = 0; !st && k < tn; ++k)
    st = lj_sampler_cycle(sampler, opt->seed, (int)(t0 + k), (uint64_t)cycle, opt->temperatures[t0 + k], opt->sweeps,
                          cycle < opt->therm, rows_mine + k * row, NULL, stop);
  if (!st && core_fault("cluster.compute"))
    st = CORE_ERROR(CORE_ERR_NUMERIC, "cycle %lld failed: injected fault (test)", (long long)cycle);
  CORE_CALL(core_agree(comm, st));
  CORE_CALL(gather_rows(comm, T, row, rows_mine, s->rows));
  lj_exchange(opt->n, opt->n_temps, opt->temperatures, opt->seed, (uint64_t)cycle, s->rows, s->ex_acc, s->ex_tried);
  if (cycle >= opt->therm) {
    const int64_t k = cycle - opt->therm, K = opt->samples, N = opt->n;
    for (int64_t t = 0; t < T; ++t) {
      memcpy(s->positions + (t * K + k) * N * 3, s->rows + t * row + LJ_ROW_X, sizeof(double) * (size_t)(N * 3));
      s->energies[t * K + k] = s->rows[t * row + LJ_ROW_ENERGY];
    }
  }
  return CORE_OK;
}

core_status lj_cluster_generate(MPI_Comm comm, const lj_cluster_options *opt, volatile sig_atomic_t *stop,
                                FILE *progress, lj_cluster_report *report) {
  double *rates_out = report->exchange_rates;
  memset(report, 0, sizeof *report);
  report->exchange_rates = rates_out;
  const double t_start = core_time();
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  CORE_CALL(core_agree(comm, check_options(opt)));
  core_status st = CORE_OK;
  /* Before any work: the outputs checked, locked, and the start decided. */
  char identity[IO_JOB_IDENTITY_BYTES];
  lj_cluster_options_text(opt, identity, sizeof identity);
  io_job_spec spec = {.command = "clustergen", .out = opt->out, .kind = ckpt_kind, .identity = identity,
                      .mode = IO_JOB_STAGED, .resume = opt->resume, .force = opt->force,
                      .companions = {opt->xyz},
                      .checkpoint_seconds = opt->checkpoint_seconds, .fault_site = "cluster.checkpoint",
                      .progress = rank == 0 ? progress : NULL};
  io_job *job = NULL;
  CORE_CALL(io_job_begin(comm, &spec, &job));
  const int resuming = io_job_resuming(job);

  const int64_t T = opt->n_temps, W = opt->walks, total = total_cycles(opt);
  const int64_t row = lj_row_size(opt->n), wrow = lj_walk_size(opt->n);
  int64_t tn, t0, wn, w0;
  core_partition(T, size, rank, &tn, &t0);
  core_partition(W, size, rank, &wn, &w0);
  run_state s = {0};
  lj_sampler *sampler = NULL;
  lj_basin *basin = NULL;
  double *rows_mine = NULL, *walks_mine = NULL;
  st = state_alloc(opt, &s);
  if (!st) {
    rows_mine = malloc(sizeof(double) * (size_t)((tn > 0 ? tn : 1) * row));
    walks_mine = malloc(sizeof(double) * (size_t)((wn > 0 ? wn : 1) * wrow));
    if (!rows_mine || !walks_mine || core_fault("cluster.alloc"))
      st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the rows of %lld temperatures and %lld walks", (long long)tn,
                      (long long)wn);
  }
  if (!st) st = lj_sampler_create(opt->n, opt->radius, &sampler);
  if (!st) st = lj_basin_create(opt->n, opt->radius, opt->bh_step, opt->bh_temperature, &basin);
  st = core_agree(comm, st);

  int64_t cycle = 0;
  if (!st && resuming) {
    st = checkpoint_read(job, opt, &s, &cycle);
    if (!st && rank == 0 && progress)
      fprintf(progress, "clustergen: resuming %s at cycle %lld of %lld\n", io_job_checkpoint_path(job), (long long)cycle,
              (long long)total);
  } else if (!st) {
    st = fresh_start(comm, job, opt, sampler, basin, rows_mine, walks_mine, &s);
  }

  core_progress bar;
  core_progress_start(&bar, "clustergen cycles", total, rank == 0 ? progress : NULL);
  core_progress_resume(&bar, cycle);
  cycle_save save = {job, opt, &cycle, &s};
  while (!st && cycle < total) {
    st = advance(comm, opt, sampler, basin, cycle, rows_mine, walks_mine, &s, stop);
    if (st) break;
    ++cycle;
    core_progress_update(&bar, cycle);
    st = io_job_step_end(job, cycle, total, stop, save_cycle, &save);
  }
  if (st == CORE_ERR_STOPPED) {
    /* The cycle in progress is abandoned; the state is the last finished
     * cycle's on every rank. */
    report->interrupted = 1;
    st = io_job_stopped_inside(job, cycle, stop, save_cycle, &save);
  }
  if (!st && !report->interrupted) {
    st = write_output(comm, opt, &s, io_job_partial(job));
    const int64_t wb = best_walk(opt, &s);
    if (!st && rank == 0 && opt->xyz)
      st = write_xyz(opt->xyz, opt->n, lj_walk_best(s.walks + wb * wrow, opt->n), s.walks[wb * wrow + LJ_WALK_BEST_ENERGY]);
    st = core_agree(comm, st);
    if (!st) st = io_job_publish(job);
  }
  if (s.block) {
    const int64_t wb = best_walk(opt, &s);
    report->global_min_energy = s.walks[wb * wrow + LJ_WALK_BEST_ENERGY];
    for (int64_t t = 0; report->exchange_rates && t + 1 < T; ++t)
      report->exchange_rates[t] = s.ex_tried[t] > 0 ? s.ex_acc[t] / s.ex_tried[t] : 0.0;
  }
  report->cycles = cycle;
  report->cycles_total = total;
  report->seconds = core_time() - t_start;
  io_job_end(&job);
  lj_sampler_destroy(&sampler);
  lj_basin_destroy(&basin);
  free(rows_mine), free(walks_mine), free(s.block);
  return st;
}

core_status lj_cluster_start_read(const char *path, int n, io_molecules *mol) {
  core_status st = io_xyz_read(path, mol);
  if (!st && (mol->count != 1 || mol->natoms[0] != n))
    st = CORE_ERROR(CORE_ERR_ARG, "%s: -start needs one structure of -n %d atoms, the file has %lld frame%s of %lld",
                    path, n, (long long)mol->count, mol->count == 1 ? "" : "s",
                    mol->count ? (long long)mol->natoms[0] : 0LL);
  if (st) io_molecules_free(mol);
  return st;
}
