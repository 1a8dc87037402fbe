/* Spin-glass datasets: the suite's main job, behind `eloss spingen`.
 *
 * spinset_generate(comm, opt, stop, progress, &report): collective.
 *
 * File layout (HDF5, I instances; G = the lattice shape, (L, L) or
 * (L, L, L) as (z,) y, x):
 *   couplings_h   (I, L, L-1) float64   open square: H[r, c] couples (r, c)-(r, c+1)
 *   couplings_v   (I, L-1, L) float64   open square: V[r, c] couples (r, c)-(r+1, c)
 *   couplings_h/v/z (I, G) float64      periodic: the bond from each site to its
 *                                       + neighbour along x / y / z, wrapping
 *   ground_state  (I, G)      int8      +-1, canonical sign s[0, ...] = +1
 *   energy        (I,)        float64   E = -sum J s s of the ground state
 *   samples       (I, B, S, G) int8     if samples > 0: S samples at each
 *                                       of the B inverse temperatures
 *   ground_state_agreement (I,) int8    heuristic methods only: 1 if two
 *                                       independent searches found the same
 *                                       energy, 0 if not (the lower is stored)
 *   crc32         (I,)        int64     CRC-32 (zlib's) of instance i's rows
 *                                       of the datasets above, in that order,
 *                                       as little-endian bytes
 * Root attributes record every option, the seed, the split, the method and
 * how the sign was fixed; `sample_betas` lists the temperatures.
 *
 * Streams: every random number of instance i (couplings, searches, samples)
 * is keyed by (seed, split, i): the split name is hashed into the seed, so
 * a "test" split never repeats the instances of "train" with the same seed.
 *
 * Resilience:
 * - Before any work, rank 0 locks <out>.lock (one writer per output), checks
 *   that <out> can be written and decides how to start: a finished <out> is
 *   never replaced without opt->force; a checkpoint is never discarded
 *   without -resume or force; -resume with nothing to resume is an error.
 * - The data go to <out>.partial, whose datasets get their disk blocks at
 *   creation (a disk too small fails now, not after hours of work).
 * - After a batch is written, a checkpoint may be due: rank 0's clock
 *   decides and a reduction tells every rank, so all ranks enter the flush
 *   together. The checkpoint <out>.ckpt is written (io_ckpt, atomically)
 *   after the rows are fsynced: the CRC-32 of the options in its header and
 *   one checksummed section, "progress": instances done and the CRC-32 of
 *   the per-instance checksums of those instances.
 * - A resumed run verifies every checkpointed row against its checksum and
 *   the checksums against the checkpoint before continuing; the finished
 *   file is verified in full before it is renamed to <out>.
 * - A stop request (*stop, any rank) abandons the batch in progress at the
 *   next sweep or matching event, checkpoints the finished batches and
 *   returns: within about a second whatever the lattice size (a transfer
 *   matrix solve, at most about a second, is finished first).
 * Since instance i's data are a pure function of (options, i), a resume
 * may even use a different number of ranks.
 *
 * Fault-injection sites (core_fault, for tests): "dataset.alloc",
 * "dataset.compute" (a rank's batch fails), "dataset.checkpoint" (rank 0
 * cannot write the checkpoint). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eloss/io.h"
#include "eloss/mc.h"
#include "eloss/spinset.h"

/* Equilibrium samples at temperature b of an instance are its mc_chain
 * replica SAMPLE_REPLICA_BASE + b, above every replica of the ground-state
 * searches (mc.h), so the two never share a random stream. */
enum { SAMPLE_REPLICA_BASE = MC_SEARCH_REPLICA_LIMIT };

/* The checkpoint: one io_ckpt section "progress" (the options' CRC-32 is
 * in the header). */
typedef struct {
  int64_t done;      /* instances [0, done) are in <out>.partial, fsynced */
  int64_t instances; /* of the run */
  uint32_t rows_crc; /* CRC-32 of the per-instance checksums of [0, done) */
  uint32_t pad;
} checkpoint;

static const char ckpt_kind[] = "spingen";

static core_status checkpoint_write(io_job *job, int64_t done, int64_t instances, uint32_t rows_crc) {
  checkpoint c = {.done = done, .instances = instances, .rows_crc = rows_crc};
  io_ckpt_section section = {"progress", &c, sizeof c};
  return io_job_checkpoint(job, 1, &section);
}

/* The finished rows made durable: the file flushed, then the checkpoint
 * (io_job_step_end's save). */
typedef struct {
  io_job *job;
  io_h5 *f;
  const int64_t *done;
  int64_t instances;
  const uint32_t *rows_crc;
} save_state;

static core_status save_rows(void *ctx) {
  save_state *s = ctx;
  CORE_CALL(io_h5_flush(s->f));
  return checkpoint_write(s->job, *s->done, s->instances, *s->rows_crc);
}

/* The seed of every stream of a split: the split name hashed into the
 * user's seed (FNV-1a of the name, mixed by splitmix64's finaliser), so
 * that "train" and "test" with the same seed hold different instances. */
static uint64_t split_seed(uint64_t seed, const char *split) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const unsigned char *p = (const unsigned char *)split; *p; ++p) h = (h ^ *p) * 0x100000001b3ULL;
  uint64_t z = seed ^ h;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static int heuristic(const spinset_options *opt) { return opt->method != SPINSET_GS_EXACT; }

void spinset_options_text(const spinset_options *opt, char *text, size_t size) {
  size_t len = 0;
  core_appendf(text, size, &len, "-lattice %s -bc %s -L %d -couplings %s -instances %lld -seed %lld -gs %s -samples %d",
               spin_lattice_kind_names[opt->kind], spin_boundary_names[opt->bc], opt->L,
               spin_coupling_names[opt->law], (long long)opt->instances, (long long)opt->seed,
               spinset_gs_method_names[opt->method], opt->samples);
  if (!heuristic(opt)) core_appendf(text, size, &len, " -gs_method %s", mc_ground_method_names[opt->exact_method]);
  if (heuristic(opt))
    core_appendf(text, size, &len, " -gs_replicas %d -gs_sweeps %d -gs_beta_min %.17g -gs_beta_max %.17g",
                 opt->search.replicas, opt->search.sweeps, opt->search.beta_min, opt->search.beta_max);
  if (opt->samples > 0) {
    core_appendf(text, size, &len, " -sample_therm %d -sample_sweeps %d -algorithm %s -sample_betas",
                 opt->sample_therm, opt->sample_sweeps, mc_algorithm_names[opt->algorithm]);
    for (int k = 0; k < opt->n_betas; ++k) core_appendf(text, size, &len, "%s%.17g", k ? "," : " ", opt->betas[k]);
  }
  core_appendf(text, size, &len, " -split %s", opt->split);
}

/* A part (opt->count > 0) holds the split's instances [first, first +
 * count); a whole run all of them. rows() is the file's row count; row r
 * holds instance first + r. */
static int is_part(const spinset_options *opt) { return opt->count > 0; }
static int64_t rows_of(const spinset_options *opt) { return is_part(opt) ? opt->count : opt->instances; }
static int64_t first_of(const spinset_options *opt) { return is_part(opt) ? opt->first : 0; }

/* Per-rank buffers of one batch (rows of `per_rank` instances). */
typedef struct {
  double *bonds[3], *energy, *J;
  int8_t *gs, *gs_other, *samples, *agree;
  int64_t *crc, *crc_stored;
  uint32_t *crc_mine; /* (per_rank) this rank's checksums, as sent */
  uint32_t *crc_all;  /* (per_rank * size) checksums of a whole batch */
} batch_buffers;

static void buffers_free(batch_buffers *b) {
  for (int d = 0; d < 3; ++d) free(b->bonds[d]);
  free(b->energy), free(b->J), free(b->gs), free(b->gs_other), free(b->samples), free(b->agree);
  free(b->crc), free(b->crc_stored), free(b->crc_mine), free(b->crc_all);
  memset(b, 0, sizeof *b);
}

static const char *const bond_names[3] = {"couplings_h", "couplings_v", "couplings_z"};

/* Shape (and its rank) of one instance's bonds along dir, and of its spins. */
static int bond_shape(const spin_lattice *lat, int dir, int64_t *shape) {
  const int64_t L = lat->L;
  if (lat->bc == SPIN_OPEN) { /* open square only */
    shape[0] = dir == 1 ? L - 1 : L;
    shape[1] = dir == 0 ? L - 1 : L;
    return 2;
  }
  for (int k = 0; k < lat->dim; ++k) shape[k] = L;
  return lat->dim;
}

static int64_t bond_count(const spin_lattice *lat, int dir) {
  int64_t shape[3], count = 1;
  int nd = bond_shape(lat, dir, shape);
  for (int k = 0; k < nd; ++k) count *= shape[k];
  return count;
}

static int64_t sample_count(const spinset_options *opt, const spin_lattice *lat) {
  return opt->samples > 0 ? (int64_t)opt->n_betas * opt->samples * lat->n_sites : 0;
}

/* The bytes of each buffer of a batch, in batch_buffers' order. */
enum { BUF_BONDS, BUF_ENERGY = 3, BUF_J, BUF_GS, BUF_GS_OTHER, BUF_SAMPLES, BUF_AGREE, BUF_CRC, BUF_CRC_STORED,
       BUF_CRC_MINE, BUF_CRC_ALL, BUF_COUNT };
static void buffer_bytes(const spinset_options *opt, const spin_lattice *lat, int size, size_t *bytes) {
  const size_t rows = (size_t)opt->chunk, n = (size_t)lat->n_sites;
  for (int dir = 0; dir < 3; ++dir)
    bytes[BUF_BONDS + dir] = dir < lat->dim ? sizeof(double) * rows * (size_t)bond_count(lat, dir) : 0;
  bytes[BUF_ENERGY] = sizeof(double) * rows;
  bytes[BUF_J] = sizeof(double) * rows * (size_t)spin_lattice_bond_slots(lat);
  bytes[BUF_GS] = rows * n;
  bytes[BUF_GS_OTHER] = n;
  bytes[BUF_SAMPLES] = opt->samples > 0 ? rows * (size_t)sample_count(opt, lat) : 1;
  bytes[BUF_AGREE] = rows;
  bytes[BUF_CRC] = bytes[BUF_CRC_STORED] = sizeof(int64_t) * rows;
  bytes[BUF_CRC_MINE] = sizeof(uint32_t) * rows;
  bytes[BUF_CRC_ALL] = sizeof(uint32_t) * rows * (size_t)size;
}

static core_status buffers_alloc(const spinset_options *opt, const spin_lattice *lat, int size,
                                 batch_buffers *b) {
  memset(b, 0, sizeof *b);
  const size_t n = (size_t)lat->n_sites;
  size_t bytes[BUF_COUNT];
  buffer_bytes(opt, lat, size, bytes);
  for (int dir = 0; dir < lat->dim; ++dir) b->bonds[dir] = malloc(bytes[BUF_BONDS + dir]);
  b->energy = malloc(bytes[BUF_ENERGY]);
  b->J = malloc(bytes[BUF_J]);
  b->gs = malloc(bytes[BUF_GS]);
  b->gs_other = malloc(bytes[BUF_GS_OTHER]);
  b->samples = malloc(bytes[BUF_SAMPLES]);
  b->agree = malloc(bytes[BUF_AGREE]);
  b->crc = malloc(bytes[BUF_CRC]);
  b->crc_stored = malloc(bytes[BUF_CRC_STORED]);
  b->crc_mine = malloc(bytes[BUF_CRC_MINE]);
  b->crc_all = malloc(bytes[BUF_CRC_ALL]);
  const int injected = core_fault("dataset.alloc");
  if (injected || !b->bonds[0] || !b->bonds[1] || (lat->dim == 3 && !b->bonds[2]) || !b->energy ||
      !b->J || !b->gs || !b->gs_other || !b->samples || !b->agree || !b->crc || !b->crc_stored || !b->crc_mine || !b->crc_all) {
    buffers_free(b);
    return CORE_ERROR(CORE_ERR_MEM, "cannot allocate the buffers of a batch (-chunk %d instances of %lld spins; a smaller "
                      "-chunk needs less)%s", opt->chunk, (long long)n, injected ? ": injected fault (test)" : "");
  }
  return CORE_OK;
}

static const char *method_text(const spinset_options *opt) {
  switch (opt->method) {
    case SPINSET_GS_EXACT: return mc_ground_method_text(opt->exact_method);
    case SPINSET_GS_TEMPERING:
      return "parallel tempering: the lower energy of two independent searches (not proven optimal; "
             "ground_state_agreement says whether they agreed)";
    case SPINSET_GS_ANNEAL:
      return "simulated annealing: the lower energy of two independent searches (not proven optimal; "
             "ground_state_agreement says whether they agreed)";
  }
  return "";
}

/* The root attributes: every option, the seed, the split, the method and
 * the conventions. Written at creation and again before the finished file
 * is published, so that attributes edited in <out>.partial meanwhile
 * cannot describe data they do not belong to. Collective. */
static core_status write_attributes(io_h5 *f, const spinset_options *opt, const spin_lattice *lat) {
  const int64_t I = opt->instances, L = opt->L;
  if (opt->samples > 0) CORE_CALL(io_h5_attr_double(f, "/", "sample_betas", opt->n_betas, opt->betas));
  char lattice[128];
  snprintf(lattice, sizeof lattice, "%s, %s boundaries", lat->kind == SPIN_SQUARE ? "square" : "cubic",
           lat->bc == SPIN_OPEN ? "open" : "periodic");
  char text[IO_JOB_IDENTITY_BYTES - 128];
  spinset_options_text(opt, text, sizeof text);
  CORE_CALL(io_h5_attr_string(f, "/", "options", text));
  CORE_CALL(io_h5_attr_string(f, "/", "split", opt->split));
  CORE_CALL(io_h5_attr_string(f, "/", "streams", "every random number of instance i is keyed by (seed, split, i): "
                                                 "splits with the same seed hold different instances"));
  CORE_CALL(io_h5_attr_string(f, "/", "lattice", lattice));
  CORE_CALL(io_h5_attr_string(f, "/", "hamiltonian", "E = -sum_<ij> J_ij s_i s_j over nearest neighbours"));
  CORE_CALL(io_h5_attr_string(f, "/", "ground_state_method", method_text(opt)));
  CORE_CALL(io_h5_attr_string(f, "/", "canonical_sign", "ground states stored with s[0, ...] = +1 (the global flip is also a ground state)"));
  CORE_CALL(io_h5_attr_string(f, "/", "degeneracy", "not computed"));
  CORE_CALL(io_h5_attr_string(f, "/", "checksum", "crc32[i] = zlib.crc32 of the little-endian bytes of instance i's "
                                                  "rows of couplings_*, ground_state, energy, samples, "
                                                  "ground_state_agreement (those present, in that order)"));
  CORE_CALL(io_h5_attr_string(f, "/", "program", "eloss " ELOSS_VERSION));
  int64_t seed = (int64_t)opt->seed, L64 = L, instances = I, rules = MC_SWEEP_RULES;
  CORE_CALL(io_h5_attr_int64(f, "/", "mc_sweep_rules", 1, &rules));
  CORE_CALL(io_h5_attr_int64(f, "/", "seed", 1, &seed));
  CORE_CALL(io_h5_attr_int64(f, "/", "L", 1, &L64));
  CORE_CALL(io_h5_attr_int64(f, "/", "instances", 1, &instances));
  if (is_part(opt)) {
    /* What spinset_merge needs to place the rows; the merged file drops
     * these two and is then a whole run's file. */
    int64_t range[2] = {opt->first, opt->count};
    CORE_CALL(io_h5_attr_int64(f, "/", "part_first", 1, &range[0]));
    CORE_CALL(io_h5_attr_int64(f, "/", "part_count", 1, &range[1]));
  }
  return CORE_OK;
}

static core_status create_file(MPI_Comm comm, const spinset_options *opt, const spin_lattice *lat,
                               const char *path, io_h5 **file) {
  const int64_t I = rows_of(opt), L = opt->L;
  CORE_CALL(io_h5_create(comm, path, file));
  io_h5 *f = *file;
  for (int dir = 0; dir < lat->dim; ++dir) {
    int64_t shape[4] = {I};
    int nd = bond_shape(lat, dir, shape + 1);
    CORE_CALL(io_h5_dataset_create(f, bond_names[dir], IO_F64, nd + 1, shape));
  }
  int64_t sg[4] = {I, L, L, L}, se[1] = {I};
  CORE_CALL(io_h5_dataset_create(f, "ground_state", IO_I8, 1 + lat->dim, sg));
  CORE_CALL(io_h5_dataset_create(f, "energy", IO_F64, 1, se));
  if (opt->samples > 0) {
    int64_t ss[6] = {I, opt->n_betas, opt->samples, L, L, L};
    CORE_CALL(io_h5_dataset_create(f, "samples", IO_I8, 3 + lat->dim, ss));
  }
  if (heuristic(opt)) CORE_CALL(io_h5_dataset_create(f, "ground_state_agreement", IO_I8, 1, se));
  CORE_CALL(io_h5_dataset_create(f, "crc32", IO_I64, 1, se));
  CORE_CALL(write_attributes(f, opt, lat));
  return CORE_OK;
}

/* Equilibrium samples of instances [start, start + count), couplings
 * J (count, slots): chains of several instances share one mc_chain, so
 * their (instance, beta) pairs fill the SIMD lanes; a lane is the chain
 * the instance would have alone, so the grouping changes no bit. Groups
 * stay within 64 lanes and about 64 MB of per-lane couplings. Polls *stop
 * every sweep. */
static core_status sample_batch(const spinset_options *opt, uint64_t seed, const spin_lattice *lat,
                                int64_t start, int64_t count, const double *J, int8_t *samples,
                                volatile sig_atomic_t *stop) {
  const int64_t n = lat->n_sites, slots = spin_lattice_bond_slots(lat), nb = opt->n_betas;
  const double lane_bytes = (double)n * 2 * lat->dim * (sizeof(float) + sizeof(double)) * (double)nb;
  int64_t per_chain = 64 / nb;
  if ((double)per_chain * lane_bytes > 64e6) per_chain = (int64_t)(64e6 / lane_bytes);
  if (per_chain < 1) per_chain = 1;
  const int max_lanes = (int)(per_chain * nb);
  const double **Js = malloc(sizeof *Js * (size_t)max_lanes);
  uint64_t *instance = malloc(sizeof *instance * (size_t)max_lanes);
  int *replica = malloc(sizeof *replica * (size_t)max_lanes);
  core_status st = Js && instance && replica ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate samples");
#define STOPPED() (stop && *stop)
  for (int64_t first = 0; !st && first < count; first += per_chain) {
    const int64_t here = count - first < per_chain ? count - first : per_chain;
    const int lanes = (int)(here * nb);
    for (int l = 0; l < lanes; ++l) {
      const int64_t k = first + l / nb;
      Js[l] = J + k * slots, instance[l] = (uint64_t)(start + k), replica[l] = SAMPLE_REPLICA_BASE + (int)(l % nb);
    }
    mc_chain *ch;
    st = mc_chain_create_lanes(lat, lanes, Js, instance, replica, 0.0, opt->algorithm, seed, &ch);
    if (st) break;
    for (int l = 0; l < lanes; ++l) mc_chain_set_replica_beta(ch, l, opt->betas[l % nb]);
    for (int t = 0; t < opt->sample_therm && !STOPPED(); ++t) mc_chain_sweep(ch);
    for (int s = 0; s < opt->samples && !STOPPED(); ++s) {
      for (int t = 0; t < opt->sample_sweeps && !STOPPED(); ++t) mc_chain_sweep(ch);
      for (int l = 0; l < lanes; ++l) {
        const int64_t k = first + l / nb, beta = l % nb;
        memcpy(samples + ((k * nb + beta) * opt->samples + s) * n, mc_chain_spins(ch, l), (size_t)n);
      }
    }
    mc_chain_destroy(&ch);
    if (STOPPED()) st = CORE_ERROR(CORE_ERR_STOPPED, "stopped on request");
  }
#undef STOPPED
  free(Js), free(instance), free(replica);
  return st;
}

/* Ground state of one instance by a heuristic search, twice with
 * independent streams: the lower energy is kept (stream 0's state on a
 * tie) and *agree says whether both found the same energy. Two searches
 * that agree on most instances are the evidence that the default search
 * is strong enough; the disagreeing instances are flagged in the file. */
static core_status search_twice(const spinset_options *opt, uint64_t seed, const spin_lattice *lat,
                                const double *J, uint64_t instance, int8_t *gs, int8_t *other, double *energy,
                                int8_t *agree, volatile sig_atomic_t *stop) {
  double e[2];
  for (int k = 0; k < 2; ++k) {
    mc_search_options search = opt->search;
    search.stream = k;
    search.stop = stop;
    int8_t *state = k == 0 ? gs : other;
    if (opt->method == SPINSET_GS_TEMPERING) CORE_CALL(mc_tempering(lat, J, &search, seed, instance, state, &e[k], NULL));
    else CORE_CALL(mc_anneal(lat, J, &search, seed, instance, state, &e[k]));
  }
  *agree = fabs(e[0] - e[1]) <= 1e-9 * fmax(1.0, fabs(e[0]));
  if (e[1] < e[0] && !*agree) memcpy(gs, other, (size_t)lat->n_sites);
  *energy = fmin(e[0], e[1]);
  return CORE_OK;
}

/* Per-instance checksum: the bytes of row k of every dataset in file order
 * (x86 and ARM are little-endian, the file's byte order). */
static uint32_t row_crc(const spinset_options *opt, const spin_lattice *lat, const batch_buffers *b, int64_t k) {
  uint32_t crc = 0;
  for (int dir = 0; dir < lat->dim; ++dir) {
    const int64_t c = bond_count(lat, dir);
    crc = io_crc32(crc, b->bonds[dir] + k * c, sizeof(double) * (size_t)c);
  }
  crc = io_crc32(crc, b->gs + k * lat->n_sites, (size_t)lat->n_sites);
  crc = io_crc32(crc, &b->energy[k], sizeof(double));
  if (opt->samples > 0) {
    const int64_t c = sample_count(opt, lat);
    crc = io_crc32(crc, b->samples + k * c, (size_t)c);
  }
  if (heuristic(opt)) crc = io_crc32(crc, &b->agree[k], 1);
  return crc;
}

/* The rank's instances [start, start + count) of one batch. */
static core_status compute_batch(const spinset_options *opt, uint64_t seed, mc_ground *ex, const spin_lattice *lat,
                                 int64_t start, int64_t count, batch_buffers *b, volatile sig_atomic_t *stop) {
  const int64_t n = lat->n_sites, slots = spin_lattice_bond_slots(lat);
  for (int64_t k = 0; k < count; ++k) {
    CORE_CHECK(!(stop && *stop), CORE_ERR_STOPPED, "stopped on request");
    CORE_CHECK(!core_fault("dataset.compute"), CORE_ERR_NUMERIC, "instance %lld failed: injected fault (test)",
               (long long)(start + k));
    const uint64_t instance = (uint64_t)(start + k);
    double *J = b->J + k * slots;
    CORE_CALL(spin_couplings_generate(lat, opt->law, seed, instance, J));
    if (lat->bc == SPIN_OPEN)
      spin_couplings_to_hv(lat, J, b->bonds[0] + k * bond_count(lat, 0), b->bonds[1] + k * bond_count(lat, 1));
    else
      for (int dir = 0; dir < lat->dim; ++dir) memcpy(b->bonds[dir] + k * n, J + dir * n, sizeof(double) * (size_t)n);
    if (opt->method == SPINSET_GS_EXACT)
      CORE_CALL(mc_ground_solve(ex, J, b->gs + k * n, &b->energy[k]));
    else
      CORE_CALL(search_twice(opt, seed, lat, J, instance, b->gs + k * n, b->gs_other, &b->energy[k], &b->agree[k], stop));
  }
  if (opt->n_betas > 0 && opt->samples > 0)
    CORE_CALL(sample_batch(opt, seed, lat, start, count, b->J, b->samples, stop));
  for (int64_t k = 0; k < count; ++k) b->crc[k] = row_crc(opt, lat, b, k);
  return CORE_OK;
}

static core_status write_batch(io_h5 *f, const spinset_options *opt, const spin_lattice *lat, int64_t start,
                               int64_t count, const batch_buffers *b) {
  for (int dir = 0; dir < lat->dim; ++dir)
    CORE_CALL(io_h5_write_rows(f, bond_names[dir], IO_F64, start, count, b->bonds[dir]));
  CORE_CALL(io_h5_write_rows(f, "ground_state", IO_I8, start, count, b->gs));
  CORE_CALL(io_h5_write_rows(f, "energy", IO_F64, start, count, b->energy));
  if (opt->samples > 0) CORE_CALL(io_h5_write_rows(f, "samples", IO_I8, start, count, b->samples));
  if (heuristic(opt)) CORE_CALL(io_h5_write_rows(f, "ground_state_agreement", IO_I8, start, count, b->agree));
  CORE_CALL(io_h5_write_rows(f, "crc32", IO_I64, start, count, b->crc));
  return CORE_OK;
}

static core_status read_batch(io_h5 *f, const spinset_options *opt, const spin_lattice *lat, int64_t start,
                              int64_t count, batch_buffers *b) {
  for (int dir = 0; dir < lat->dim; ++dir)
    CORE_CALL(io_h5_read_rows(f, bond_names[dir], IO_F64, start, count, b->bonds[dir]));
  CORE_CALL(io_h5_read_rows(f, "ground_state", IO_I8, start, count, b->gs));
  CORE_CALL(io_h5_read_rows(f, "energy", IO_F64, start, count, b->energy));
  if (opt->samples > 0) CORE_CALL(io_h5_read_rows(f, "samples", IO_I8, start, count, b->samples));
  if (heuristic(opt)) CORE_CALL(io_h5_read_rows(f, "ground_state_agreement", IO_I8, start, count, b->agree));
  CORE_CALL(io_h5_read_rows(f, "crc32", IO_I64, start, count, b->crc_stored));
  return CORE_OK;
}

/* Every rank learns the checksums of a whole batch (batch_n instances, the
 * ranks' blocks in order) and folds them into the running CRC of the
 * checksums of instances [0, done). */
static core_status chain_batch(MPI_Comm comm, int64_t batch_n, int64_t count, const batch_buffers *b,
                               uint32_t *rows_crc) {
  int size;
  MPI_Comm_size(comm, &size);
  int *counts = malloc(sizeof *counts * (size_t)size), *displs = malloc(sizeof *displs * (size_t)size);
  core_status st = counts && displs ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate checksum tables");
  st = core_agree(comm, st);
  for (int r = 0, at = 0; !st && r < size; ++r) {
    int64_t n_r, start_r;
    core_partition(batch_n, size, r, &n_r, &start_r);
    counts[r] = (int)n_r, displs[r] = at, at += (int)n_r;
  }
  for (int64_t k = 0; k < count; ++k) b->crc_mine[k] = (uint32_t)b->crc[k];
  if (!st && MPI_Allgatherv(b->crc_mine, (int)count, MPI_UINT32_T, b->crc_all, counts, displs, MPI_UINT32_T, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Allgatherv of checksums failed");
  for (int64_t k = 0; !st && k < batch_n; ++k) {
    const uint32_t c = b->crc_all[k];
    const unsigned char le[4] = {(unsigned char)c, (unsigned char)(c >> 8), (unsigned char)(c >> 16),
                                 (unsigned char)(c >> 24)};
    *rows_crc = io_crc32(*rows_crc, le, 4);
  }
  free(counts), free(displs);
  return st;
}

/* Read instances [0, upto) back, batch by batch, and check that every row
 * matches its stored checksum and the checksums match `rows_crc` (the
 * checkpoint's, or the one accumulated while writing). Collective. */
static core_status verify_rows(MPI_Comm comm, io_h5 *f, const char *path, const spinset_options *opt,
                               const spin_lattice *lat, int64_t upto, uint32_t rows_crc, batch_buffers *b) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t global_batch = (int64_t)opt->chunk * size;
  uint32_t chain = 0;
  for (int64_t done = 0; done < upto;) {
    const int64_t batch_n = upto - done < global_batch ? upto - done : global_batch;
    int64_t count, offset;
    core_partition(batch_n, size, rank, &count, &offset);
    CORE_CALL(read_batch(f, opt, lat, done + offset, count, b));
    core_status st = CORE_OK;
    for (int64_t k = 0; !st && k < count; ++k) {
      b->crc[k] = row_crc(opt, lat, b, k);
      if (b->crc[k] != b->crc_stored[k])
        st = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld does not match its checksum: the file was modified or "
                        "damaged; start over with -force", path, (long long)(first_of(opt) + done + offset + k));
    }
    CORE_CALL(core_agree(comm, st));
    CORE_CALL(chain_batch(comm, batch_n, count, b, &chain));
    done += batch_n;
  }
  CORE_CHECK(chain == rows_crc, CORE_ERR_FORMAT, "%s: the checksums of instances [0, %lld) do not match the "
             "checkpoint: the file was modified or damaged; start over with -force", path, (long long)upto);
  return CORE_OK;
}

/* Mean and standard error of the ground-state energy per spin over the
 * file's first `done` instances, and the agreement of heuristic searches. */
static core_status summarize(MPI_Comm comm, io_h5 *f, const spinset_options *opt, const spin_lattice *lat,
                             int64_t done, spinset_report *report) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t count, start;
  core_partition(done, size, rank, &count, &start);
  double *e = malloc(sizeof(double) * (size_t)(count > 0 ? count : 1)), sums[3] = {0, 0, 0};
  int8_t *agree = malloc((size_t)(count > 0 ? count : 1));
  core_status st = e && agree ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the energy summary");
  st = core_agree(comm, st);
  if (!st) st = io_h5_read_rows(f, "energy", IO_F64, start, count, e);
  if (!st && heuristic(opt)) st = io_h5_read_rows(f, "ground_state_agreement", IO_I8, start, count, agree);
  const double n = (double)lat->n_sites;
  for (int64_t k = 0; !st && k < count; ++k) {
    sums[0] += e[k] / n, sums[1] += (e[k] / n) * (e[k] / n);
    if (heuristic(opt)) sums[2] += agree[k];
  }
  free(e), free(agree);
  if (!st && MPI_Allreduce(MPI_IN_PLACE, sums, 3, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Allreduce of the summary failed");
  const double mean = done > 0 ? sums[0] / (double)done : 0.0;
  const double var = done > 1 ? (sums[1] - (double)done * mean * mean) / (double)(done - 1) : 0.0;
  report->mean_energy = mean;
  report->mean_energy_err = done > 1 ? sqrt(fmax(var, 0.0) / (double)done) : 0.0;
  report->gs_compared = heuristic(opt) ? done : 0;
  report->gs_agreed = heuristic(opt) ? (int64_t)sums[2] : 0;
  return st;
}

int64_t spinset_memory(const spinset_options *opt, int ranks) {
  spin_lattice lat;
  if (spin_lattice_init(&lat, opt->kind, opt->bc, opt->L) || opt->chunk < 1) return 0;
  size_t bytes[BUF_COUNT];
  buffer_bytes(opt, &lat, ranks, bytes);
  int64_t sum = 0;
  for (int i = 0; i < BUF_COUNT; ++i) sum += (int64_t)bytes[i];
  if (opt->method == SPINSET_GS_EXACT) sum += mc_ground_memory(opt->L, opt->exact_method);
  return sum;
}

/* The options a dataset can be made with; the lattice. Local. */
static core_status check_options(const spinset_options *opt, spin_lattice *lat) {
  CORE_CALL(spin_lattice_init(lat, opt->kind, opt->bc, opt->L));
  CORE_CHECK(!(opt->method == SPINSET_GS_EXACT && (opt->kind != SPIN_SQUARE || opt->bc != SPIN_OPEN)),
             CORE_ERR_UNSUPPORTED, "exact ground states need an open square lattice (periodic lattices are not "
             "planar); use -gs pt or -gs sa");
  if (opt->method == SPINSET_GS_EXACT) CORE_CALL(mc_ground_check(opt->L, opt->exact_method));
  CORE_CHECK(!(opt->count < 0 || opt->first < 0 || (opt->count == 0 && opt->first != 0) ||
               (opt->count > 0 && opt->first > opt->instances - opt->count)),
             CORE_ERR_ARG, "instances [%lld, %lld + %lld) are not a range of the split's %lld instances",
             (long long)opt->first, (long long)opt->first, (long long)opt->count, (long long)opt->instances);
  CORE_CHECK(!(opt->instances < 1 || opt->chunk < 1 || !opt->split || !opt->out ||
               (opt->samples > 0 && (opt->n_betas < 1 || opt->sample_sweeps < 1 || opt->sample_therm < 0))),
             CORE_ERR_ARG, "need instances >= 1, batch >= 1, a split, an output and, with samples, at least one beta "
             "and sample_sweeps >= 1");
  return CORE_OK;
}

/* A resumed run's checkpoint, checked against the run and its data file.
 * Collective. */
static core_status read_checkpoint(MPI_Comm comm, io_job *job, int64_t n_rows, checkpoint *c) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  io_ckpt_section section = {"progress", c, sizeof *c};
  core_status st = io_job_read(job, 1, &section);
  if (!st && !(c->done >= 0 && c->done <= c->instances && c->instances == n_rows))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: checkpoint says %lld of %lld instances done, of a run of %lld; start over "
                    "with -force", io_job_checkpoint_path(job), (long long)c->done, (long long)c->instances,
                    (long long)n_rows);
  const char *partial = io_job_partial(job);
  struct stat sb;
  if (!st && rank == 0 && !(lstat(partial, &sb) == 0 && S_ISREG(sb.st_mode) && access(partial, R_OK | W_OK) == 0))
    st = CORE_ERROR(CORE_ERR_IO, "%s: checkpoint found but its data file %s is missing or not a regular file; pass "
                    "-force (without -resume) to start over", io_job_checkpoint_path(job), partial);
  return core_agree(comm, st);
}

/* The data file: a resumed run's, its rows [0, done) checked; or a new
 * one, its disk blocks claimed and a checkpoint at 0 written (a run
 * stopped before its first batch resumes too). Collective. */
static core_status open_data(MPI_Comm comm, io_job *job, const spinset_options *opt, const spin_lattice *lat,
                             const char *text, int64_t done, uint32_t rows_crc, batch_buffers *b, io_h5 **f) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  const char *partial = io_job_partial(job);
  core_status st;
  if (io_job_resuming(job)) {
    st = io_h5_open(comm, partial, f);
    char stored[4096];
    if (!st) st = io_h5_attr_read_string(*f, "/", "options", stored, sizeof stored);
    if (st && st != CORE_ERR_MPI) {
      /* Every rank holds the same agreed message. */
      char why[1024];
      snprintf(why, sizeof why, "%s", core_error_message());
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: the interrupted run's data file is damaged (%s); start over with -force",
                      partial, why);
    }
    if (!st && strcmp(stored, text) != 0)
      st = CORE_ERROR(CORE_ERR_ARG, "%s: written with other options than the checkpoint says; start over with -force",
                      partial);
    st = core_agree(comm, st);
    if (!st) st = verify_rows(comm, *f, partial, opt, lat, done, rows_crc, b);
    return st;
  }
  st = create_file(comm, opt, lat, partial, f);
  if (!st) st = io_h5_reserve(*f);
  if (!st) st = io_h5_flush(*f);
  if (!st) st = checkpoint_write(job, 0, rows_of(opt), 0);
  if (st) {
    /* A new file that could not be set up holds nothing worth keeping. */
    io_h5_close(f);
    if (rank == 0) remove(partial);
  }
  return st;
}

core_status spinset_generate(MPI_Comm comm, const spinset_options *opt, volatile sig_atomic_t *stop,
                                FILE *progress, spinset_report *report) {
  memset(report, 0, sizeof *report);
  const double t_start = core_time();
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  spin_lattice lat;
  CORE_CALL(core_agree(comm, check_options(opt, &lat)));
  core_status st = CORE_OK;
  /* The run's identity: its options, the sweep's rules (another
   * version's chains would not continue this run's bits) and, for a part
   * of a split, its range. */
  char identity[IO_JOB_IDENTITY_BYTES], text[IO_JOB_IDENTITY_BYTES - 128];
  spinset_options_text(opt, text, sizeof text);
  int len = snprintf(identity, sizeof identity, "%s -mc_sweep_rules %d", text, MC_SWEEP_RULES);
  if (is_part(opt) && len > 0 && (size_t)len < sizeof identity)
    snprintf(identity + len, sizeof identity - (size_t)len, " -first %lld -count %lld", (long long)opt->first,
             (long long)opt->count);
  const int64_t n_rows = rows_of(opt), first = first_of(opt);
  const uint64_t seed = split_seed(opt->seed, opt->split);

  /* Before any work: the output checked, locked, and the start decided. */
  io_job_spec spec = {.command = "spingen", .out = opt->out, .kind = ckpt_kind, .identity = identity,
                      .mode = IO_JOB_STAGED, .resume = opt->resume, .force = opt->force, .dry_run = opt->dry_run,
                      .checkpoint_seconds = opt->checkpoint_seconds, .fault_site = "dataset.checkpoint",
                      .progress = rank == 0 ? progress : NULL};
  io_job *job = NULL;
  CORE_CALL(io_job_begin(comm, &spec, &job));
  const char *partial = io_job_partial(job);
  int resuming = io_job_resuming(job);
  if (opt->dry_run) {
    io_job_end(&job);
    return CORE_OK;
  }
  checkpoint c = {0};
  if (resuming) st = read_checkpoint(comm, job, n_rows, &c);
  if (st) {
    io_job_end(&job);
    return st;
  }
  int64_t done = c.done;
  uint32_t rows_crc = c.rows_crc;

  batch_buffers b;
  mc_ground *ex = NULL;
  io_h5 *f = NULL;
  st = core_agree(comm, buffers_alloc(opt, &lat, size, &b));
  if (!st && opt->method == SPINSET_GS_EXACT) st = core_agree(comm, mc_ground_create(opt->L, opt->exact_method, &ex));
  if (!st && ex) mc_ground_set_stop(ex, stop); /* a stop abandons the instance being solved, too */
  if (!st && rank == 0 && progress)
    fprintf(progress, resuming ? "spingen: resuming %s at instance %lld of %lld (checking its rows)\n"
                               : "spingen: writing %s (%lld of %lld done)\n",
            partial, (long long)done, (long long)n_rows);
  if (!st) st = open_data(comm, job, opt, &lat, text, done, rows_crc, &b, &f);

  core_progress bar;
  core_progress_start(&bar, "spingen instances", n_rows, rank == 0 ? progress : NULL);
  core_progress_resume(&bar, done);
  save_state save = {job, NULL, &done, n_rows, &rows_crc};
  const int64_t global_batch = (int64_t)opt->chunk * size;
  while (!st && done < n_rows) {
    const int64_t batch_n = n_rows - done < global_batch ? n_rows - done : global_batch;
    int64_t count, offset;
    core_partition(batch_n, size, rank, &count, &offset);
    st = core_agree(comm, compute_batch(opt, seed, ex, &lat, first + done + offset, count, &b, stop));
    if (st == CORE_ERR_STOPPED) break; /* the batch is abandoned; finished ones are checkpointed below */
    if (!st) st = write_batch(f, opt, &lat, done + offset, count, &b);
    if (!st) st = chain_batch(comm, batch_n, count, &b, &rows_crc);
    if (st) break;
    done += batch_n;
    core_progress_update(&bar, done);
    save.f = f;
    st = io_job_step_end(job, done, n_rows, stop, save_rows, &save);
  }
  if (st == CORE_ERR_STOPPED) {
    /* Stopped inside a batch or at its end: said before the slow part (a
     * flush of the finished rows and the checkpoint). */
    report->interrupted = 1;
    save.f = f;
    st = io_job_stopped_inside(job, done, stop, save_rows, &save);
  }
  if (!st && !report->interrupted) st = write_attributes(f, opt, &lat);
  if (!st && !report->interrupted) st = verify_rows(comm, f, partial, opt, &lat, done, rows_crc, &b);
  if (!st) st = summarize(comm, f, opt, &lat, done, report);
  core_status close_st = io_h5_close(&f);
  if (!st) st = close_st;
  if (!st && !report->interrupted) st = io_job_publish(job);
  io_job_end(&job);
  report->done = done;
  report->seconds = core_time() - t_start;
  mc_ground_destroy(&ex);
  buffers_free(&b);
  return st;
}
