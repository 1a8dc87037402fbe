/* Spin-glass datasets: the suite's main job, behind `eloss spingen`.
 *
 * mc_dataset_generate(comm, opt, stop, progress, &report): collective.
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
 * Root attributes record every option, the seed, the split, the method and
 * how the sign was fixed; `sample_betas` lists the temperatures.
 *
 * Resilience: the data go to <out>.partial; after a batch is written and
 * flushed, rank 0 may write <out>.ckpt atomically: a small binary record
 * (magic, version, CRC-32 of the options, instances done, CRC-32 of the
 * record). A resumed run checks the options CRC and continues after the
 * last checkpointed instance; rows written after it are simply recomputed.
 * Since instance i's data are a pure function of (options, i), a resume
 * may even use a different number of ranks. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/io.h"
#include "eloss/mc.h"

enum { CKPT_VERSION = 1 };

/* Equilibrium samples at temperature b of an instance are its mc_chain
 * replica SAMPLE_REPLICA_BASE + b, far above the replicas of the
 * ground-state searches, so the two never share a random stream. */
enum { SAMPLE_REPLICA_BASE = 1 << 19 };
static const char ckpt_magic[8] = {'E', 'L', 'S', 'G', 'C', 'K', 'P', 'T'};

typedef struct {
  char magic[8];
  uint32_t version;
  uint32_t options_crc;
  int64_t done;
  int64_t instances;
  uint32_t record_crc; /* CRC-32 of the bytes above */
  uint32_t pad;
} checkpoint;

static uint32_t checkpoint_crc(const checkpoint *c) {
  return io_crc32(0, c, offsetof(checkpoint, record_crc));
}

static core_status checkpoint_write(const char *path, uint32_t options_crc, int64_t done, int64_t instances) {
  checkpoint c;
  memset(&c, 0, sizeof c);
  memcpy(c.magic, ckpt_magic, sizeof c.magic);
  c.version = CKPT_VERSION, c.options_crc = options_crc, c.done = done, c.instances = instances;
  c.record_crc = checkpoint_crc(&c);
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  if (fwrite(&c, sizeof c, 1, f.fp) != 1) {
    io_atomic_abort(&f);
    return CORE_ERROR(CORE_ERR_IO, "%s: cannot write the checkpoint: %s", path, strerror(errno));
  }
  return io_atomic_commit(&f);
}

/* 1 if a valid checkpoint was read, 0 if there is none; errors for a
 * corrupt one. */
static core_status checkpoint_read(const char *path, checkpoint *c, int *found) {
  *found = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp) return CORE_OK;
  size_t got = fread(c, sizeof *c, 1, fp);
  fclose(fp);
  CORE_CHECK(got == 1 && !memcmp(c->magic, ckpt_magic, sizeof c->magic) && c->version == CKPT_VERSION &&
                 c->record_crc == checkpoint_crc(c),
             CORE_ERR_FORMAT, "%s: corrupt or foreign checkpoint (bad magic, version or checksum)", path);
  *found = 1;
  return CORE_OK;
}

/* Per-rank buffers of one batch. */
typedef struct {
  double *bonds[3], *energy, *J;
  int8_t *gs, *samples;
} batch_buffers;

static void buffers_free(batch_buffers *b) {
  for (int d = 0; d < 3; ++d) free(b->bonds[d]);
  free(b->energy), free(b->J), free(b->gs), free(b->samples);
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

static const char *method_text(mc_gs_method method) {
  switch (method) {
    case MC_GS_EXACT: return "exact: min-plus transfer matrix (eloss mc_exact_solve)";
    case MC_GS_TEMPERING: return "parallel tempering: lowest energy visited (not proven optimal)";
    case MC_GS_ANNEAL: return "simulated annealing: lowest energy visited (not proven optimal)";
  }
  return "";
}

static core_status create_file(MPI_Comm comm, const mc_dataset_options *opt, const spin_lattice *lat,
                               const char *path, io_h5 **file) {
  const int64_t I = opt->instances, L = opt->L;
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
    CORE_CALL(io_h5_attr_double(f, "/", "sample_betas", opt->n_betas, opt->betas));
  }
  char lattice[128];
  snprintf(lattice, sizeof lattice, "%s, %s boundaries", lat->kind == SPIN_SQUARE ? "square" : "cubic",
           lat->bc == SPIN_OPEN ? "open" : "periodic");
  CORE_CALL(io_h5_attr_string(f, "/", "options", opt->options_text));
  CORE_CALL(io_h5_attr_string(f, "/", "split", opt->split));
  CORE_CALL(io_h5_attr_string(f, "/", "lattice", lattice));
  CORE_CALL(io_h5_attr_string(f, "/", "hamiltonian", "E = -sum_<ij> J_ij s_i s_j over nearest neighbours"));
  CORE_CALL(io_h5_attr_string(f, "/", "ground_state_method", method_text(opt->method)));
  CORE_CALL(io_h5_attr_string(f, "/", "canonical_sign", "ground states stored with s[0, ...] = +1 (the global flip is also a ground state)"));
  CORE_CALL(io_h5_attr_string(f, "/", "degeneracy", "not computed"));
  CORE_CALL(io_h5_attr_string(f, "/", "program", "eloss " ELOSS_VERSION));
  int64_t seed = (int64_t)opt->seed, L64 = L, instances = I;
  CORE_CALL(io_h5_attr_int64(f, "/", "seed", 1, &seed));
  CORE_CALL(io_h5_attr_int64(f, "/", "L", 1, &L64));
  CORE_CALL(io_h5_attr_int64(f, "/", "instances", 1, &instances));
  return CORE_OK;
}

/* Equilibrium samples of instances [start, start + count), couplings
 * J (count, slots): chains of several instances share one mc_chain, so
 * their (instance, beta) pairs fill the SIMD lanes; a lane is the chain
 * the instance would have alone, so the grouping changes no bit. Groups
 * stay within 64 lanes and about 64 MB of per-lane couplings. */
static core_status sample_batch(const mc_dataset_options *opt, const spin_lattice *lat, int64_t start, int64_t count,
                                const double *J, int8_t *samples) {
  const int64_t n = lat->n_sites, slots = spin_lattice_bond_slots(lat), nb = opt->n_betas;
  const double lane_bytes = (double)n * 2 * lat->dim * (sizeof(float) + sizeof(double)) * (double)nb;
  int64_t per_chain = 64 / nb;
  if ((double)per_chain * lane_bytes > 64e6) per_chain = (int64_t)(64e6 / lane_bytes);
  if (per_chain < 1) per_chain = 1;
  const int max_lanes = (int)(per_chain * nb);
  const double **Js = malloc(sizeof *Js * (size_t)max_lanes);
  uint64_t *instance = malloc(sizeof *instance * (size_t)max_lanes);
  int *replica = malloc(sizeof *replica * (size_t)max_lanes);
  core_status st = Js && instance && replica ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "spingen: cannot allocate samples");
  for (int64_t first = 0; !st && first < count; first += per_chain) {
    const int64_t here = count - first < per_chain ? count - first : per_chain;
    const int lanes = (int)(here * nb);
    for (int l = 0; l < lanes; ++l) {
      const int64_t k = first + l / nb;
      Js[l] = J + k * slots, instance[l] = (uint64_t)(start + k), replica[l] = SAMPLE_REPLICA_BASE + (int)(l % nb);
    }
    mc_chain *ch;
    st = mc_chain_create_lanes(lat, lanes, Js, instance, replica, 0.0, opt->algorithm, opt->seed, &ch);
    if (st) break;
    for (int l = 0; l < lanes; ++l) mc_chain_set_replica_beta(ch, l, opt->betas[l % nb]);
    for (int t = 0; t < opt->sample_therm; ++t) mc_chain_sweep(ch);
    for (int s = 0; s < opt->samples; ++s) {
      for (int t = 0; t < opt->sample_sweeps; ++t) mc_chain_sweep(ch);
      for (int l = 0; l < lanes; ++l) {
        const int64_t k = first + l / nb, beta = l % nb;
        memcpy(samples + ((k * nb + beta) * opt->samples + s) * n, mc_chain_spins(ch, l), (size_t)n);
      }
    }
    mc_chain_destroy(&ch);
  }
  free(Js), free(instance), free(replica);
  return st;
}

/* The rank's instances [start, start + count) of one batch. */
static core_status compute_batch(const mc_dataset_options *opt, mc_exact *ex, const spin_lattice *lat, int64_t start,
                                 int64_t count, batch_buffers *b) {
  const int64_t n = lat->n_sites, slots = spin_lattice_bond_slots(lat);
  for (int64_t k = 0; k < count; ++k) {
    const uint64_t instance = (uint64_t)(start + k);
    double *J = b->J + k * slots;
    CORE_CALL(spin_couplings_generate(lat, opt->law, opt->seed, instance, J));
    if (lat->bc == SPIN_OPEN)
      spin_couplings_to_hv(lat, J, b->bonds[0] + k * bond_count(lat, 0), b->bonds[1] + k * bond_count(lat, 1));
    else
      for (int dir = 0; dir < lat->dim; ++dir) memcpy(b->bonds[dir] + k * n, J + dir * n, sizeof(double) * (size_t)n);
    switch (opt->method) {
      case MC_GS_EXACT: CORE_CALL(mc_exact_solve(ex, J, b->gs + k * n, &b->energy[k])); break;
      case MC_GS_TEMPERING:
        CORE_CALL(mc_tempering(lat, J, &opt->search, opt->seed, instance, b->gs + k * n, &b->energy[k], NULL));
        break;
      case MC_GS_ANNEAL:
        CORE_CALL(mc_anneal(lat, J, &opt->search, opt->seed, instance, b->gs + k * n, &b->energy[k]));
        break;
    }
  }
  if (opt->n_betas > 0 && opt->samples > 0) CORE_CALL(sample_batch(opt, lat, start, count, b->J, b->samples));
  return CORE_OK;
}

static core_status write_batch(io_h5 *f, const mc_dataset_options *opt, const spin_lattice *lat, int64_t start,
                               int64_t count, const batch_buffers *b) {
  for (int dir = 0; dir < lat->dim; ++dir)
    CORE_CALL(io_h5_write_rows(f, bond_names[dir], IO_F64, start, count, b->bonds[dir]));
  CORE_CALL(io_h5_write_rows(f, "ground_state", IO_I8, start, count, b->gs));
  CORE_CALL(io_h5_write_rows(f, "energy", IO_F64, start, count, b->energy));
  if (opt->samples > 0) CORE_CALL(io_h5_write_rows(f, "samples", IO_I8, start, count, b->samples));
  return CORE_OK;
}

/* Mean and standard error of the ground-state energy per spin over the
 * file's first `done` instances. */
static core_status summarize(MPI_Comm comm, io_h5 *f, const spin_lattice *lat, int64_t done,
                             mc_dataset_report *report) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int64_t count, start;
  core_partition(done, size, rank, &count, &start);
  double *e = malloc(sizeof(double) * (size_t)(count > 0 ? count : 1)), sums[2] = {0, 0};
  core_status st = e ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the energy summary");
  st = core_agree(comm, st);
  if (!st) st = io_h5_read_rows(f, "energy", IO_F64, start, count, e);
  const double n = (double)lat->n_sites;
  for (int64_t k = 0; !st && k < count; ++k) sums[0] += e[k] / n, sums[1] += (e[k] / n) * (e[k] / n);
  free(e);
  MPI_Allreduce(MPI_IN_PLACE, sums, 2, MPI_DOUBLE, MPI_SUM, comm);
  const double mean = done > 0 ? sums[0] / (double)done : 0.0;
  const double var = done > 1 ? (sums[1] - (double)done * mean * mean) / (double)(done - 1) : 0.0;
  report->mean_energy = mean;
  report->mean_energy_err = done > 1 ? sqrt(fmax(var, 0.0) / (double)done) : 0.0;
  return st;
}

core_status mc_dataset_generate(MPI_Comm comm, const mc_dataset_options *opt, volatile sig_atomic_t *stop,
                                FILE *progress, mc_dataset_report *report) {
  memset(report, 0, sizeof *report);
  const double t_start = core_time();
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  core_status st = CORE_OK;
  spin_lattice lat;
  st = spin_lattice_init(&lat, opt->kind, opt->bc, opt->L);
  if (!st && opt->method == MC_GS_EXACT && (opt->kind != SPIN_SQUARE || opt->bc != SPIN_OPEN || opt->L > MC_EXACT_MAX_L))
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "spingen: exact ground states need an open square lattice with L <= %d; "
                                          "use -gs pt or -gs sa", (int)MC_EXACT_MAX_L);
  if (!st && (opt->instances < 1 || opt->batch < 1 ||
              (opt->samples > 0 && (opt->n_betas < 1 || opt->sample_sweeps < 1 || opt->sample_therm < 0))))
    st = CORE_ERROR(CORE_ERR_ARG, "spingen: need instances >= 1, batch >= 1 and, with samples, "
                                  "at least one beta and sample_sweeps >= 1");
  CORE_CALL(core_agree(comm, st));
  char partial[4200], ckpt_path[4200];
  snprintf(partial, sizeof partial, "%s.partial", opt->out);
  snprintf(ckpt_path, sizeof ckpt_path, "%s.ckpt", opt->out);
  const uint32_t options_crc = io_crc32(0, opt->options_text, strlen(opt->options_text));

  /* Resume or start afresh: rank 0 decides, everyone follows. */
  int64_t done = 0;
  int resuming = 0;
  if (rank == 0 && opt->resume) {
    checkpoint c;
    int found;
    st = checkpoint_read(ckpt_path, &c, &found);
    if (!st && found) {
      if (c.options_crc != options_crc || c.instances != opt->instances)
        st = CORE_ERROR(CORE_ERR_ARG, "%s: the checkpoint was written with different options; rerun without -resume "
                                      "to start over", ckpt_path);
      else if (access(partial, R_OK | W_OK) != 0)
        st = CORE_ERROR(CORE_ERR_IO, "%s: checkpoint found but its data file %s is missing", ckpt_path, partial);
      else
        done = c.done, resuming = 1;
    }
  }
  st = core_agree(comm, st);
  CORE_CALL(st);
  int64_t shared[2] = {done, resuming};
  MPI_Bcast(shared, 2, MPI_INT64_T, 0, comm);
  done = shared[0], resuming = (int)shared[1];
  if (rank == 0 && progress)
    fprintf(progress, resuming ? "spingen: resuming %s at instance %lld of %lld\n" : "spingen: writing %s (%lld of %lld done)\n",
            partial, (long long)done, (long long)opt->instances);

  io_h5 *f = NULL;
  st = resuming ? io_h5_open(comm, partial, &f) : create_file(comm, opt, &lat, partial, &f);
  st = core_agree(comm, st);
  if (st) {
    io_h5_close(&f);
    return st;
  }

  mc_exact *ex = NULL;
  batch_buffers b;
  memset(&b, 0, sizeof b);
  const int64_t n = lat.n_sites, per_rank = opt->batch;
  if (opt->method == MC_GS_EXACT) st = mc_exact_create(opt->L, &ex);
  if (!st) {
    for (int dir = 0; dir < lat.dim; ++dir) b.bonds[dir] = malloc(sizeof(double) * (size_t)(per_rank * bond_count(&lat, dir)));
    b.energy = malloc(sizeof(double) * (size_t)per_rank);
    b.J = malloc(sizeof(double) * (size_t)(per_rank * spin_lattice_bond_slots(&lat)));
    b.gs = malloc((size_t)(per_rank * n));
    b.samples = malloc((size_t)(opt->samples > 0 ? per_rank * opt->n_betas * opt->samples * n : 1));
    if (!b.bonds[0] || !b.bonds[1] || (lat.dim == 3 && !b.bonds[2]) || !b.energy || !b.J || !b.gs || !b.samples)
      st = CORE_ERROR(CORE_ERR_MEM, "spingen: cannot allocate a batch of %lld instances", (long long)per_rank);
  }
  st = core_agree(comm, st);

  core_progress bar;
  core_progress_start(&bar, "spingen instances", opt->instances, rank == 0 ? progress : NULL);
  double last_checkpoint = core_time();
  const int64_t global_batch = per_rank * size;
  while (!st && done < opt->instances) {
    const int64_t batch_n = opt->instances - done < global_batch ? opt->instances - done : global_batch;
    int64_t count, offset;
    core_partition(batch_n, size, rank, &count, &offset);
    st = compute_batch(opt, ex, &lat, done + offset, count, &b);
    st = core_agree(comm, st);
    if (!st) st = core_agree(comm, write_batch(f, opt, &lat, done + offset, count, &b));
    if (st) break;
    done += batch_n;
    core_progress_update(&bar, done);
    int local_stop = stop && *stop, any_stop = 0;
    MPI_Allreduce(&local_stop, &any_stop, 1, MPI_INT, MPI_MAX, comm);
    const int finished = done == opt->instances;
    if (any_stop || finished || core_time() - last_checkpoint >= opt->checkpoint_seconds) {
      st = core_agree(comm, io_h5_flush(f));
      if (!st && rank == 0) st = checkpoint_write(ckpt_path, options_crc, done, opt->instances);
      st = core_agree(comm, st);
      last_checkpoint = core_time();
    }
    if (!st && any_stop && !finished) {
      report->interrupted = 1;
      break;
    }
  }
  if (!st) st = summarize(comm, f, &lat, done, report);
  core_status close_st = core_agree(comm, io_h5_close(&f));
  if (!st) st = close_st;
  if (!st && !report->interrupted && rank == 0) {
    if (rename(partial, opt->out) != 0)
      st = CORE_ERROR(CORE_ERR_IO, "%s: cannot rename the finished dataset: %s", opt->out, strerror(errno));
    else
      remove(ckpt_path);
  }
  st = core_agree(comm, st);
  report->done = done;
  report->seconds = core_time() - t_start;
  mc_exact_destroy(&ex);
  buffers_free(&b);
  return st;
}
