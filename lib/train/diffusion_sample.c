/* eloss sample: molecules from a diffusion model of the diffusion task
 * (diffusion_task.c) with EDM's ancestral sampler (lib/diffusion), as a
 * long job on io_job: rounds of `chunk` molecules per rank, gathered on
 * rank 0 (molecule j's row: its atom count, then (Z, x, y, z) per atom,
 * padded to the model's largest molecule), checkpointed as the rows done
 * so far, published as XYZ at the end. Every draw of molecule j is keyed
 * by (seed, j), and a round's molecules go to the ranks in whole chunks,
 * so the file depends on neither the rank count nor the stops.
 *
 * The checkpoint (kind "sample", in <out>.ckpt) holds "progress" (3 int64:
 * molecules done, count, row length) and "rows" (the done ones). The run's identity: the model's weights (CRC-32 of the block
 * it samples with), its config line, count, seed and chunk.
 *
 * Fault-injection site: "sample.checkpoint". */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eloss/diffusion.h"
#include "eloss/io.h"
#include "eloss/molecule.h"
#include "eloss/train.h"
#include "train_impl.h"

enum { F = DIFFUSION_FEATURES, D = 3 + F };
static const char kind[] = "sample";

typedef struct {
  nn_model *model;
  diffusion_schedule sched;
  train_model_meta meta;
  int chunk, nmax;
  uint64_t seed;
  double hist_total;
  float *in, *eps_hat, *t_in;
  double *z, *e;
  int64_t *natoms;
  core_rng *rng;
  volatile sig_atomic_t *stop; /* polled before every chunk */
  int64_t base;                /* the round's first molecule (sample_range's offsets are the round's) */
} sampler;

/* Row of one molecule: n, then (Z, x, y, z) for each of nmax atoms. */
static int64_t sample_row(const sampler *s) { return 1 + 4 * (int64_t)s->nmax; }

static int draw_size(const sampler *s, int64_t j) {
  core_rng rng;
  core_rng_init(&rng, s->seed, CORE_PURPOSE_DIFFUSION | DIFFUSION_STREAM_SIZE << 8, (uint64_t)j);
  double u = core_rng_uniform(&rng) * s->hist_total;
  for (int n = 1; n < TRAIN_ARCH_HIST; ++n) {
    u -= s->meta.arch.atom_hist[n];
    if (u < 0) return n;
  }
  return s->nmax;
}

/* Molecules base + [start, start + count) into out rows. */
static core_status sample_range(void *ctx, int64_t round_start, int64_t count, double *out) {
  sampler *s = ctx;
  const int64_t start = s->base + round_start;
  const int T = s->meta.arch.diffusion_steps;
  for (int64_t j0 = start; j0 < start + count; j0 += s->chunk) {
    /* A stop abandons the round (the caller agrees and checkpoints the rounds before). */
    CORE_CHECK(!(s->stop && *s->stop), CORE_ERR_STOPPED, "sample: stopped on request");
    const int64_t n = start + count - j0 < s->chunk ? start + count - j0 : s->chunk;
    int64_t atoms = 0;
    for (int64_t b = 0; b < n; ++b) {
      s->natoms[b] = draw_size(s, j0 + b);
      diffusion_sample_start(s->seed, j0 + b, (int)s->natoms[b], 3, F, &s->rng[b], s->z + atoms * D);
      atoms += s->natoms[b];
    }
    for (int t = T; t >= 0; --t) {
      for (int64_t k = 0; k < atoms * D; ++k) s->in[k] = (float)s->z[k];
      for (int64_t b = 0; b < n; ++b) s->t_in[b] = (float)t / (float)T;
      nn_input in = {.B = (int)n, .x = s->in, .natoms = s->natoms, .t = s->t_in, .inference = 1};
      CORE_CALL(nn_model_forward(s->model, &in, s->eps_hat));
      for (int64_t k = 0; k < atoms * D; ++k) s->e[k] = s->eps_hat[k];
      for (int64_t b = 0, at = 0; b < n; at += s->natoms[b], ++b) {
        if (t > 0) diffusion_sample_step(&s->sched, t, (int)s->natoms[b], 3, F, s->e + at * D, &s->rng[b], s->z + at * D);
        else diffusion_sample_final(&s->sched, (int)s->natoms[b], 3, F, s->e + at * D, &s->rng[b], s->z + at * D);
      }
    }
    const int64_t R = sample_row(s);
    for (int64_t b = 0, at = 0; b < n; at += s->natoms[b], ++b) {
      double *row = out + (j0 - start + b) * R;
      memset(row, 0, sizeof(double) * (size_t)R);
      row[0] = (double)s->natoms[b];
      for (int64_t i = 0; i < s->natoms[b]; ++i) {
        const double *zi = s->z + (at + i) * D;
        int best = 0;
        for (int k = 1; k < F; ++k)
          if (zi[3 + k] > zi[3 + best]) best = k;
        row[1 + 4 * i] = molecule_atomic_number[best];
        for (int q = 0; q < 3; ++q) row[2 + 4 * i + q] = zi[q];
        CORE_CHECK(isfinite(zi[0]) && isfinite(zi[1]) && isfinite(zi[2]), CORE_ERR_NUMERIC,
                   "sample: molecule %lld, atom %lld: a non-finite coordinate; the model's network diverged "
                   "(its training loss will say so)", (long long)(j0 + b), (long long)i);
      }
    }
  }
  return CORE_OK;
}

static void sampler_free(sampler *s) {
  nn_model_destroy(&s->model);
  diffusion_schedule_free(&s->sched);
  free(s->in), free(s->eps_hat), free(s->t_in), free(s->z), free(s->e), free(s->natoms), free(s->rng);
}

/* The model's record, checked, and its largest molecule. */
static core_status diffusion_meta(const char *path, train_model_meta *meta, int *nmax, double *hist_total) {
  char config[TRAIN_CONFIG_BYTES], want[TRAIN_CONFIG_BYTES];
  CORE_CALL(train_model_info(path, config, meta));
  const train_model_arch *a = &meta->arch;
  CORE_CHECK(meta->kind == TRAIN_TASK_DIFFUSION, CORE_ERR_ARG, "%s is a %s model, not a diffusion model", path,
             train_task_names[meta->kind]);
  *nmax = 0, *hist_total = 0;
  for (int n = 1; n < TRAIN_ARCH_HIST; ++n)
    if (a->atom_hist[n] > 0) *hist_total += a->atom_hist[n], *nmax = n;
  CORE_CHECK(*hist_total > 0 && a->features == F && a->width >= 1 && a->diffusion_steps >= 1 && a->network >= 0 &&
                 a->network < TRAIN_DIFFUSION_NETWORKS,
             CORE_ERR_FORMAT, "%s: a diffusion model without its atom-count histogram or architecture", path);
  train_diffusion_config(want, (train_diffusion_network)a->network, a->width, a->depth, a->diffusion_steps);
  CORE_CHECK(strcmp(want, config) == 0, CORE_ERR_FORMAT, "%s: config '%s' is not the diffusion record's '%s'", path,
             config, want);
  return CORE_OK;
}

core_status train_diffusion_network_open(const char *path, int64_t max_atoms, int max_n, int use_ema,
                                         nn_model **model, train_model_meta *meta) {
  *model = NULL;
  int nmax = 0;
  double total = 0;
  CORE_CALL(diffusion_meta(path, meta, &nmax, &total));
  const train_model_arch *a = &meta->arch;
  if (max_n <= 0) max_n = nmax;
  CORE_CHECK(max_atoms >= max_n && max_n >= 1, CORE_ERR_ARG, "%s: room for %lld atoms in molecules of up to %d", path,
             (long long)max_atoms, max_n);
  CORE_CALL(train_diffusion_network_create((train_diffusion_network)a->network, a->width, a->depth, max_atoms, max_n,
                                           0, model));
  nn_params *p = nn_model_params(*model);
  char config[TRAIN_CONFIG_BYTES];
  train_diffusion_config(config, (train_diffusion_network)a->network, a->width, a->depth, a->diffusion_steps);
  core_status st = a->ema > 0 ? nn_params_enable_ema(p, a->ema) : CORE_OK;
  if (!st) st = train_model_load(path, config, p, meta);
  if (!st && use_ema && p->ema) memcpy(p->param, p->ema, sizeof(float) * p->n);
  if (st) nn_model_destroy(model);
  return st;
}

static core_status sampler_create(const char *path, uint64_t seed, int chunk, sampler *s) {
  CORE_CALL(diffusion_meta(path, &s->meta, &s->nmax, &s->hist_total));
  const train_model_arch *a = &s->meta.arch;
  s->seed = seed, s->chunk = chunk;
  const size_t rows = (size_t)chunk * (size_t)s->nmax * D;
  s->in = malloc(sizeof(float) * rows), s->eps_hat = malloc(sizeof(float) * rows);
  s->t_in = malloc(sizeof(float) * (size_t)chunk), s->z = malloc(sizeof(double) * rows);
  s->e = malloc(sizeof(double) * rows), s->natoms = malloc(sizeof(int64_t) * (size_t)chunk);
  s->rng = malloc(sizeof(core_rng) * (size_t)chunk);
  CORE_CHECK(s->in && s->eps_hat && s->t_in && s->z && s->e && s->natoms && s->rng, CORE_ERR_MEM,
             "sample: cannot allocate a chunk of %d molecules", chunk);
  /* Sampled with the moving average where the model keeps one (EDM). */
  CORE_CALL(train_diffusion_network_open(path, (int64_t)chunk * s->nmax, s->nmax, 1, &s->model, &s->meta));
  return diffusion_schedule_create(a->diffusion_steps, 2.0, 1e-5, &s->sched);
}

/* The samples as XYZ into path (rank 0; the job's partial file), and
 * their stability. */
static core_status write_samples(const sampler *s, const char *path, int64_t count, const double *all,
                                 train_sample_report *r) {
  const int64_t R = sample_row(s);
  int64_t *natoms = malloc(sizeof(int64_t) * (size_t)count);
  int *element = calloc((size_t)(count * s->nmax), sizeof(int)), *bonds = malloc(sizeof(int) * (size_t)(count * s->nmax));
  double *coords = calloc((size_t)(count * s->nmax * 3), sizeof(double));
  core_status st = natoms && element && bonds && coords ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "sample: out of memory");
  io_atomic_file f;
  if (!st) st = io_atomic_open(&f, path);
  for (int64_t j = 0; !st && j < count; ++j) {
    const double *row = all + j * R;
    natoms[j] = (int64_t)row[0];
    fprintf(f.fp, "%lld\nsample %lld\n", (long long)natoms[j], (long long)j);
    for (int64_t i = 0; i < natoms[j]; ++i) {
      const int z = (int)row[1 + 4 * i];
      element[j * s->nmax + i] = z;
      for (int q = 0; q < 3; ++q) coords[(j * s->nmax + i) * 3 + q] = row[2 + 4 * i + q];
      fprintf(f.fp, "%s %.6f %.6f %.6f\n", molecule_symbol[molecule_element_row(z)], row[2 + 4 * i], row[3 + 4 * i],
              row[4 + 4 * i]);
    }
  }
  if (!st) st = io_atomic_commit(&f);
  molecule_summary sum;
  if (!st) st = molecule_check_batch(count, s->nmax, natoms, element, coords, bonds, NULL, &sum);
  if (!st) {
    r->molecules = sum.molecules, r->atoms = sum.atoms;
    r->atom_stability = sum.atom_stability, r->molecule_stability = sum.molecule_stability;
  }
  free(natoms), free(element), free(bonds), free(coords);
  return st;
}

typedef struct {
  io_job *job;
  const double *all; /* rank 0's rows */
  int64_t count, row;
  const int64_t *done;
} save_state;

/* The checkpoint: the rows done so far. Collective (data from rank 0). */
static core_status save_rows(void *ctx) {
  const save_state *v = ctx;
  int64_t progress[3] = {*v->done, v->count, v->row};
  io_ckpt_section sec[2] = {{"progress", progress, sizeof progress},
                            {"rows", (void *)v->all, sizeof(double) * (size_t)(*v->done * v->row)}};
  return io_job_checkpoint(v->job, 2, sec);
}

/* A resumed run's rows and how many are done. Collective. */
static core_status read_rows(MPI_Comm comm, io_job *job, int64_t count, int64_t row, double *all, int64_t *done) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  int64_t progress[3] = {0};
  io_ckpt_section first = {"progress", progress, sizeof progress};
  core_status st = io_job_read_first(job, 1, &first);
  if (!st && !(progress[1] == count && progress[2] == row && progress[0] >= 0 && progress[0] <= count))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: checkpoint of %lld of %lld molecules (rows of %lld), not of this run's %lld "
                    "(rows of %lld); start over with -force", io_job_checkpoint_path(job), (long long)progress[0],
                    (long long)progress[1], (long long)progress[2], (long long)count, (long long)row);
  st = core_agree(comm, st);
  /* Every rank receives the rows (io_job_read); only rank 0 keeps them. */
  const int64_t done_rows = st ? 0 : progress[0];
  double *rows = st ? NULL : (rank == 0 ? all : malloc(sizeof(double) * (size_t)(done_rows * row + 1)));
  if (!st && !rows) st = CORE_ERROR(CORE_ERR_MEM, "sample: cannot allocate the checkpoint's rows");
  st = core_agree(comm, st);
  io_ckpt_section sec[2] = {{"progress", progress, sizeof progress},
                            {"rows", rows, sizeof(double) * (size_t)(done_rows * row)}};
  if (!st) st = io_job_read(job, 2, sec);
  if (rank != 0) free(rows);
  *done = progress[0];
  return st;
}

/* The run's identity: what the bytes of its file depend on. */
static void sample_identity(const sampler *s, const train_sample_options *o, char *text, size_t size) {
  const nn_params *p = nn_model_params(s->model);
  char config[TRAIN_CONFIG_BYTES];
  train_diffusion_config(config, (train_diffusion_network)s->meta.arch.network, s->meta.arch.width,
                         s->meta.arch.depth, s->meta.arch.diffusion_steps);
  snprintf(text, size, "sample -model_weights crc:%08x %s -n %lld -seed %llu -chunk %d",
           io_crc32(0, p->param, sizeof(float) * p->n), config, (long long)o->count, (unsigned long long)o->seed,
           o->chunk);
}

/* Rounds of chunk molecules per rank until done == count or a stop, each
 * gathered on rank 0 and followed by io_job_step_end. Collective. */
static core_status sample_rounds(MPI_Comm comm, io_job *job, sampler *s, int64_t count, double *all, int64_t *done,
                                 volatile sig_atomic_t *stop, FILE *progress) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t R = sample_row(s), round = (int64_t)s->chunk * size;
  core_progress bar;
  core_progress_start(&bar, "sample molecules", count, rank == 0 ? progress : NULL);
  core_progress_resume(&bar, *done);
  save_state save = {job, all, count, R, done};
  core_status st = CORE_OK;
  while (!st && *done < count) {
    const int64_t n = count - *done < round ? count - *done : round;
    s->base = *done;
    st = train_gather_rows(comm, n, s->chunk, R, sample_range, s, rank == 0 ? all + *done * R : NULL);
    if (st) break;
    *done += n;
    core_progress_update(&bar, *done);
    st = io_job_step_end(job, *done, count, stop, save_rows, &save);
  }
  if (st == CORE_ERR_STOPPED) st = io_job_stopped_inside(job, *done, stop, save_rows, &save);
  return st ? st : (*done < count ? CORE_ERR_STOPPED : CORE_OK);
}

core_status train_diffusion_sample(MPI_Comm comm, const train_sample_options *o, volatile sig_atomic_t *stop,
                                   FILE *progress, train_sample_report *report) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  memset(report, 0, sizeof *report);
  const double t0 = core_time();
  CORE_CHECK(o->count >= 1 && o->chunk >= 1 && o->model && o->out, CORE_ERR_ARG,
             "sample: %lld molecules in chunks of %d", (long long)o->count, o->chunk);
  train_blas_one_thread();
  sampler s;
  memset(&s, 0, sizeof s);
  /* Every rank reads the model itself (small): its checks are local. */
  s.stop = stop;
  core_status st = core_agree(comm, sampler_create(o->model, o->seed, o->chunk, &s));
  char identity[IO_JOB_IDENTITY_BYTES];
  if (!st) sample_identity(&s, o, identity, sizeof identity);
  const char *inputs[1] = {o->model};
  io_job_spec spec = {.command = "sample", .out = o->out, .kind = kind, .identity = identity,
                      .mode = IO_JOB_STAGED, .resume = o->resume, .force = o->force, .inputs = inputs, .n_inputs = 1,
                      .checkpoint_seconds = o->checkpoint_seconds, .fault_site = "sample.checkpoint",
                      .progress = rank == 0 ? progress : NULL};
  io_job *job = NULL;
  if (!st) st = io_job_begin(comm, &spec, &job);
  const int64_t R = st ? 0 : sample_row(&s);
  double *all = NULL;
  if (!st && rank == 0 && !(all = calloc((size_t)(o->count * R), sizeof(double))))
    st = CORE_ERROR(CORE_ERR_MEM, "sample: cannot allocate %lld samples", (long long)o->count);
  st = core_agree(comm, st);
  int64_t done = 0;
  if (!st && io_job_resuming(job)) st = read_rows(comm, job, o->count, R, all, &done);
  if (!st && rank == 0 && progress)
    fprintf(progress, "sample: %lld molecules of %s in chunks of %d, %d steps each%s\n", (long long)o->count,
            o->model, o->chunk, s.meta.arch.diffusion_steps, done ? " (resumed)" : "");
  if (!st) st = sample_rounds(comm, job, &s, o->count, all, &done, stop, progress);
  report->done = done;
  report->interrupted = st == CORE_ERR_STOPPED;
  if (!st) {
    if (rank == 0) st = write_samples(&s, io_job_partial(job), o->count, all, report);
    st = core_agree(comm, st);
  }
  if (!st) st = io_job_publish(job);
  if (!st) {
    double v[4] = {(double)report->molecules, (double)report->atoms, report->atom_stability,
                   report->molecule_stability};
    MPI_Bcast(v, 4, MPI_DOUBLE, 0, comm);
    report->molecules = (int64_t)v[0], report->atoms = (int64_t)v[1];
    report->atom_stability = v[2], report->molecule_stability = v[3];
  }
  report->seconds = core_time() - t0;
  free(all);
  io_job_end(&job);
  sampler_free(&s);
  return st;
}
