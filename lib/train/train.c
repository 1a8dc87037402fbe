/* The trainer of eloss: data-parallel Adam for any train_task.
 *
 * train_run(comm, task, opt, stop, progress, &report): collective.
 * train_model_info / train_model_load: local.
 *
 * One step, on P ranks with K = opt->shards micro-shards of m = batch / K:
 *   1. positions s B .. s B + B - 1 of the example stream, where position
 *      q is example order_e[q mod N] of epoch e = q / N, order_e a
 *      Fisher-Yates permutation from the stream (seed, CORE_PURPOSE_BATCH, e);
 *   2. rank r computes its shards k in [r K/P, (r+1) K/P), each from a
 *      zero gradient, weight m / B (so the sum is the batch mean), and
 *      keeps each shard's gradient apart;
 *   3. the sum of the K shard gradients (core_tree_sum): one fixed
 *      binary tree over the shards, ((g0 + g1) + (g2 + g3)) for K = 4.
 *      Float addition is not associative, so the sum has the bits of its
 *      grouping; fixed over shards, not ranks, the grouping and so the
 *      bits are the same on any P dividing K. MPI_Allreduce and PyTorch
 *      DDP group by rank. The tree replaced a chain through the ranks
 *      (the same independence of P, but P - 1 sequential hops of the whole
 *      gradient): within a rank it adds locally, across ranks it is a
 *      reduce-scatter by recursive halving and an allgather when P and
 *      K/P are powers of two, ~2 n (P - 1)/P floats per rank in log2 P
 *      rounds (docs/train.md has the cost model);
 *   4. the same Adam step on every rank.
 * Ranks agree on the shard computation's status before the sum, and on
 * (stop requested, checkpoint due by rank 0's clock) in one MPI_Allreduce
 * after each step, so every rank takes the same branch.
 *
 * The model file (-out) is an io_ckpt of kind "train" with sections
 *   config  (TRAIN_CONFIG_BYTES) the task's config line
 *   state   (5 int64) step, Adam's step, parameter count, batch, examples
 *           per micro-shard (eval's default chunk: with oneDNN a
 *           forward's bits depend on its batch size)
 *   options (1024 bytes) the options text of the run, so a refused resume
 *           can name the option that differs
 *   param, adam_m, adam_v (n floats each)
 *   ema     (n floats) only for a model that keeps a moving average
 * and, for a run with a validation set, three more:
 *   last, best (n floats each) the last parameters and those of the best
 *           validation score ("param" is one of them: the best with
 *           -select best, else the last)
 *   select  (select_record) the best score, its step and metrics, the
 *           evaluations since, and which of the two "param" holds
 * written atomically by rank 0 at every checkpoint and at the end: a
 * finished model and a checkpoint are the same thing, and eval reads
 * either. The CRC of the options text, the task's config and its
 * training and test data's fingerprints keys resume: a resume on another
 * test set would leave metrics of two test sets in one file.
 *
 * Fault-injection sites: "train.shard" (a rank's shard fails),
 * "train.checkpoint" (rank 0 cannot write the model file). */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eloss/io.h"
#include "eloss/train.h"
#include "train_impl.h"

static const char kind[] = "train";

/* No clock time in the file: the same training gives the same bytes. */
typedef struct {
  int64_t step, adam_step, n_params, batch, shard_size, n_tensors;
} model_state;

void train_task_destroy(train_task **t) {
  if (!t || !*t) return;
  if ((*t)->destroy) (*t)->destroy(*t);
  *t = NULL;
}

int train_shards_for(int64_t batch, int ranks) {
  for (int64_t k = ranks; ranks >= 1 && k <= batch; k += ranks)
    if (batch % k == 0) return (int)k;
  return 0;
}

void train_options_default(train_options *o) {
  memset(o, 0, sizeof *o);
  o->steps = 1000;
  o->batch = 64;
  o->shards = 4;
  nn_adam_default(&o->adam);
  o->eval_every = 100;
  o->checkpoint_seconds = 60.0;
}

/* ---- model files ------------------------------------------------------------ */

const char *const train_task_names[TRAIN_TASK_COUNT] = {"spin", "denoise", "shapes", "diffusion"};

/* What a reader of the model needs back from the run, typed. */
typedef struct {
  int32_t kind, conv;
  uint32_t data_crc, test_crc; /* the training and test data's fingerprints */
  train_model_arch arch;
} task_record;

/* The selection of a run with a validation set: numbers only (no
 * padding), so the same training writes the same bytes. */
typedef struct {
  int64_t best_step;    /* the step of the best validation score (0: none yet, the initial parameters) */
  int64_t since_best;   /* evaluations since, none better */
  int64_t select_best;  /* "param" holds the best parameters (1) or the last (0) */
  int64_t n_test, n_valid; /* metrics counts of the best evaluation */
  double best_score;    /* validate's value[0] there, +inf before any */
  double test[TRAIN_METRICS_MAX], valid[TRAIN_METRICS_MAX]; /* its metrics' values */
} select_record;

/* A run's selection: the record and the best parameters. */
typedef struct {
  select_record rec;
  float *best; /* (n) */
} selection;

enum { MODEL_SECTIONS = 11 }; /* "ema" only for a model that keeps one; the last three with a validation set */

/* The sections of a model file after its "run" (io_job's identity); sel
 * NULL without a validation set. */
static int model_sections(const train_task *task, const model_state *s, task_record *r, const selection *sel,
                          io_ckpt_section sec[MODEL_SECTIONS]) {
  const nn_params *p = task->params;
  const size_t bytes = sizeof(float) * p->n;
  memset(r, 0, sizeof *r);
  r->kind = task->kind, r->conv = task->conv, r->data_crc = task->data_crc, r->test_crc = task->test_crc;
  r->arch = task->arch;
  sec[0] = (io_ckpt_section){"config", task->config, TRAIN_CONFIG_BYTES};
  sec[1] = (io_ckpt_section){"task", r, sizeof *r};
  sec[2] = (io_ckpt_section){"state", s, sizeof *s};
  sec[3] = (io_ckpt_section){"tensors", p->info, sizeof(nn_tensor_info) * (size_t)p->n_tensors};
  sec[4] = (io_ckpt_section){"param", sel && sel->rec.select_best ? sel->best : p->param, bytes};
  sec[5] = (io_ckpt_section){"adam_m", p->m, bytes};
  sec[6] = (io_ckpt_section){"adam_v", p->v, bytes};
  int count = 7;
  if (p->ema) sec[count++] = (io_ckpt_section){"ema", p->ema, bytes};
  if (!sel) return count;
  sec[count++] = (io_ckpt_section){"last", p->param, bytes};
  sec[count++] = (io_ckpt_section){"best", sel->best, bytes};
  sec[count++] = (io_ckpt_section){"select", &sel->rec, sizeof sel->rec};
  return count;
}

static core_status check_state(const char *path, const model_state *s, const nn_params *p) {
  CORE_CHECK(s->n_params == (int64_t)p->n && s->n_tensors == p->n_tensors && s->step >= 0 && s->adam_step >= 0 &&
                 s->batch >= 1 && s->shard_size >= 1,
             CORE_ERR_FORMAT, "%s: damaged state section", path);
  for (size_t i = 0; i < p->n; ++i)
    CORE_CHECK(isfinite(p->param[i]), CORE_ERR_VALUE, "%s: parameter %zu is not finite", path, i);
  return CORE_OK;
}

static void meta_set(train_model_meta *meta, const task_record *r, const model_state *s) {
  meta->kind = (train_task_kind)r->kind, meta->conv = r->conv, meta->arch = r->arch;
  meta->data_crc = r->data_crc, meta->test_crc = r->test_crc;
  meta->step = s->step, meta->batch = s->batch, meta->shard_size = s->shard_size;
  meta->selected_step = s->step;
}

core_status train_model_info(const char *path, char config[TRAIN_CONFIG_BYTES], train_model_meta *meta) {
  uint32_t crc;
  model_state s;
  task_record r;
  io_ckpt_section first[4] = {{"run", meta->options, TRAIN_OPTIONS_BYTES},
                              {"config", config, TRAIN_CONFIG_BYTES},
                              {"task", &r, sizeof r},
                              {"state", &s, sizeof s}};
  CORE_CALL(io_ckpt_read_first(path, kind, &crc, 4, first));
  CORE_CHECK(memchr(config, '\0', TRAIN_CONFIG_BYTES) != NULL && memchr(meta->options, '\0', TRAIN_OPTIONS_BYTES) != NULL &&
                 s.batch >= 1 && s.shard_size >= 1 && r.kind >= 0 && r.kind < TRAIN_TASK_COUNT &&
                 r.arch.n_levels >= 0 && r.arch.n_levels <= TRAIN_ARCH_LEVELS,
             CORE_ERR_FORMAT, "%s: damaged run, config, task or state section", path);
  meta_set(meta, &r, &s);
  return CORE_OK;
}

core_status train_model_load(const char *path, const char *config, nn_params *p, train_model_meta *meta) {
  model_state s;
  uint32_t crc;
  char stored[TRAIN_CONFIG_BYTES];
  io_ckpt_section first[2] = {{"run", meta->options, TRAIN_OPTIONS_BYTES}, {"config", stored, TRAIN_CONFIG_BYTES}};
  CORE_CALL(io_ckpt_read_first(path, kind, &crc, 2, first));
  CORE_CHECK(strncmp(stored, config, TRAIN_CONFIG_BYTES) == 0, CORE_ERR_FORMAT,
             "%s: a model of another configuration:\n  file: %.*s\n  run:  %s", path, TRAIN_CONFIG_BYTES, stored, config);
  const size_t bytes = sizeof(float) * p->n;
  task_record r;
  nn_tensor_info *info = malloc(sizeof *info * (size_t)p->n_tensors);
  CORE_CHECK(info, CORE_ERR_MEM, "%s: cannot allocate the tensor table", path);
  io_ckpt_section sec[12] = {{"run", meta->options, TRAIN_OPTIONS_BYTES},
                             {"config", stored, TRAIN_CONFIG_BYTES},
                             {"task", &r, sizeof r},
                             {"state", &s, sizeof s},
                             {"tensors", info, sizeof *info * (size_t)p->n_tensors},
                             {"param", p->param, bytes},
                             {"adam_m", p->m, bytes},
                             {"adam_v", p->v, bytes}};
  int count = 8, in_file = 0, found;
  /* A model that keeps a moving average has one section more; a run with
   * a validation set three (read, checked, not kept but its record). */
  if (p->ema) sec[count++] = (io_ckpt_section){"ema", p->ema, bytes};
  select_record rec = {0};
  float *spare = NULL;
  core_status st = io_ckpt_count(path, kind, &in_file);
  if (!st && in_file == count + 3) {
    if (!(spare = malloc(2 * bytes + 1))) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate the parameters", path);
    sec[count++] = (io_ckpt_section){"last", spare, bytes};
    sec[count++] = (io_ckpt_section){"best", spare + p->n, bytes};
    sec[count++] = (io_ckpt_section){"select", &rec, sizeof rec};
  }
  if (!st) st = io_ckpt_read(path, kind, &crc, count, sec, &found);
  if (!st && memcmp(info, p->info, sizeof *info * (size_t)p->n_tensors) != 0)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: its tensor table (names, shapes) is not this model's", path);
  free(info), free(spare);
  CORE_CALL(st);
  CORE_CHECK(found, CORE_ERR_IO, "%s: no such file", path);
  meta->options[TRAIN_OPTIONS_BYTES - 1] = '\0';
  CORE_CALL(check_state(path, &s, p));
  p->step = s.adam_step;
  meta_set(meta, &r, &s);
  if (rec.select_best) meta->selected_step = rec.best_step;
  return CORE_OK;
}

/* ---- batches ------------------------------------------------------------------ */

/* The order of the N training examples in epoch e. */
static void epoch_order(uint64_t seed, int64_t e, int64_t N, int64_t *order) {
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_BATCH, (uint64_t)e);
  for (int64_t i = 0; i < N; ++i) order[i] = i;
  for (int64_t i = N - 1; i > 0; --i) {
    int64_t j = (int64_t)core_rng_below(&rng, (uint64_t)(i + 1));
    int64_t t = order[i];
    order[i] = order[j], order[j] = t;
  }
}

typedef struct {
  int64_t N, epoch[2];
  int64_t *order[2]; /* two cached epochs: a batch spans at most two when B <= N */
  uint64_t seed;
} batch_source;

static const int64_t *order_of(batch_source *b, int64_t e) {
  for (int k = 0; k < 2; ++k)
    if (b->epoch[k] == e) return b->order[k];
  int k = b->epoch[0] < b->epoch[1] ? 0 : 1; /* replace the older */
  epoch_order(b->seed, e, b->N, b->order[k]);
  b->epoch[k] = e;
  return b->order[k];
}

/* Examples at positions [first, first + n) of the stream. */
static void batch_indices(batch_source *b, int64_t first, int64_t n, int64_t *index) {
  for (int64_t k = 0; k < n; ++k) {
    const int64_t q = first + k;
    index[k] = order_of(b, q / b->N)[q % b->N];
  }
}

void train_blas_one_thread(void) { openblas_set_num_threads(1); }

/* ---- the loss plans of the atomistic tasks ---------------------------------------- */

/* A new plan per shard cost an allocation of every buffer, two collectives
 * on MPI_COMM_SELF and, for the sparse loss, a fresh pool of random regular
 * graphs at every step; kept, the pool fills once and stays. */
core_status train_loss_plan(atoms_plan **cache, const atoms_options *opt, int64_t n, int64_t N, int d,
                            const double *ref, const int64_t *natoms) {
  if (*cache && atoms_plan_matches(*cache, n, N, d, natoms) &&
      !(opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_BONDS))
    return atoms_plan_set_reference(*cache, ref, natoms);
  atoms_plan_destroy(cache);
  return atoms_plan_create(MPI_COMM_SELF, opt, n, 0, n, N, d, ref, natoms, cache);
}

/* ---- evaluation ------------------------------------------------------------------- */

core_status train_gather_rows(MPI_Comm comm, int64_t count, int64_t chunk, int64_t row, train_rows_fn range, void *ctx,
                              double *all) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  const int64_t chunks = (count + chunk - 1) / chunk;
  /* Rows of rank r: its block of whole chunks. */
  int64_t start = 0, end = 0;
  int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
  core_status st = counts && displs ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate gather tables");
  for (int r = 0; !st && r < size; ++r) {
    int64_t n_r, c_r;
    core_partition(chunks, size, r, &n_r, &c_r);
    const int64_t s_r = c_r * chunk, e_r = n_r == 0 ? s_r : (c_r + n_r >= chunks ? count : (c_r + n_r) * chunk);
    counts[r] = (int)((e_r - s_r) * row), displs[r] = (int)(s_r * row);
    if (r == rank) start = s_r, end = e_r;
  }
  double *mine = st ? NULL : malloc(sizeof(double) * (size_t)((end - start) * row + 1));
  if (!st && !mine) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate %lld test rows", (long long)(end - start));
  if (!st && end > start) st = range(ctx, start, end - start, mine);
  st = core_agree(comm, st);
  if (!st && MPI_Gatherv(mine, (int)((end - start) * row), MPI_DOUBLE, all, counts, displs, MPI_DOUBLE, 0, comm) !=
                 MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "MPI_Gatherv of the test results failed");
  free(mine), free(counts), free(displs);
  return st;
}

/* ---- outputs ------------------------------------------------------------------------ */

/* Keep the lines of an existing metrics file up to step `upto` (a resumed
 * run rewrites what came after its checkpoint), atomically; then open it
 * for appending. They must be there, one whole line per step 1 .. upto in
 * order: a file that was truncated, damaged or removed would otherwise
 * continue as a run with steps missing. A fresh run writes to <path>.partial, renamed over <path>
 * when the run first writes its model (or at once without a model file),
 * so a run that fails early leaves the old metrics beside the old model.
 * Rank 0 only. */
static core_status metrics_open(const char *path, int64_t upto, uint32_t run, int fresh_partial, FILE **out) {
  *out = NULL;
  if (upto > 0) {
    FILE *in = fopen(path, "r");
    CORE_CHECK(in || errno != ENOENT, CORE_ERR_IO, "-resume: the metrics file %s does not exist, but the model is at "
               "step %lld: restore it (or name it with -metrics), or start over with -force", path, (long long)upto);
    io_atomic_file f;
    core_status st = io_atomic_open(&f, path);
    if (st) {
      if (in) fclose(in);
      return st;
    }
    char line[4096];
    int64_t next = 1;
    while (in && next <= upto && fgets(line, sizeof line, in)) {
      long long step;
      const size_t len = strlen(line);
      if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '}' || sscanf(line, "{\"step\": %lld", &step) != 1 ||
          step != next)
        break;
      /* The run key of each line: a metrics file shared by two runs (one
       * with -force over the other's) would otherwise continue silently
       * with the other run's steps. */
      unsigned key = 0;
      long long skip;
      if (sscanf(line, "{\"step\": %lld, \"run\": \"%8x\"", &skip, &key) != 2 || key != run) {
        fclose(in);
        io_atomic_abort(&f);
        return CORE_ERROR(CORE_ERR_FORMAT, "-resume: the metrics file %s: step %lld is of another run (run %08x, "
                          "this one %08x): another training wrote it (the same -metrics?); restore this run's, or "
                          "start over with -force", path, step, key, run);
      }
      fputs(line, f.fp);
      ++next;
    }
    if (in) fclose(in);
    if (next <= upto) {
      io_atomic_abort(&f);
      return CORE_ERROR(CORE_ERR_FORMAT, "-resume: the metrics file %s has steps 1 to %lld whole, but the model is at "
                        "step %lld (the file was truncated, damaged or removed): restore it, or start over with -force",
                        path, (long long)(next - 1), (long long)upto);
    }
    CORE_CALL(io_atomic_commit(&f));
    *out = fopen(path, "a");
  } else if (fresh_partial) {
    char partial[4200];
    snprintf(partial, sizeof partial, "%s.partial", path);
    *out = fopen(partial, "w");
  } else {
    *out = fopen(path, "w");
  }
  CORE_CHECK(*out, CORE_ERR_IO, "%s: cannot open the metrics file: %s", path, strerror(errno));
  return CORE_OK;
}

/* The partial metrics of a fresh run become the metrics file. */
static core_status metrics_publish(const char *path) {
  char partial[4200];
  snprintf(partial, sizeof partial, "%s.partial", path);
  CORE_CHECK(rename(partial, path) == 0, CORE_ERR_IO, "%s: cannot rename %s over it: %s", path, partial,
             strerror(errno));
  return CORE_OK;
}

/* ---- the run ----------------------------------------------------------------------- */

/* What keys resume: the task's options, the trainer's, and the training
 * and test data's fingerprints (a resume on another test set would leave
 * metrics of two test sets in one file). */
void train_identity(const train_task *task, const train_options *opt, char *text, size_t size) {
  /* The data by their fingerprints, named as the options that give them:
   * a resume on other data reads "-test_data crc32:... (the file has
   * ...)", or "none" for a run without -test. */
  char lr[32], test[32] = "none";
  if (task->test_crc) snprintf(test, sizeof test, "crc32:%08x", task->test_crc);
  snprintf(text, size, "%s -batch %lld -shards %d -lr %s -seed %llu -train_data crc32:%08x -test_data %s",
           task->options, (long long)opt->batch, opt->shards, core_real_text(opt->adam.lr, lr),
           (unsigned long long)opt->seed, task->data_crc, test);
}

/* A resumed run's model, on every rank: its state, parameters and Adam's
 * moments, and its selection (sel, NULL without a validation set).
 * Collective. */
static core_status resume_model(io_job *job, const train_options *opt, train_task *task, model_state *state,
                                selection *sel) {
  char stored[TRAIN_CONFIG_BYTES];
  io_ckpt_section config = {"config", stored, TRAIN_CONFIG_BYTES};
  CORE_CALL(io_job_read_first(job, 1, &config));
  CORE_CHECK(strncmp(stored, task->config, TRAIN_CONFIG_BYTES) == 0, CORE_ERR_FORMAT,
             "%s: a model of another configuration:\n  file: %.*s\n  run:  %s", opt->out, TRAIN_CONFIG_BYTES, stored,
             task->config);
  io_ckpt_section sec[MODEL_SECTIONS];
  task_record r;
  const int count = model_sections(task, state, &r, sel, sec);
  sec[0].data = stored;
  /* The file's tensor table, compared with this model's, not read over it;
   * with a selection, "param" is a copy of "last" or "best". */
  nn_tensor_info *info = malloc(sec[3].size ? (size_t)sec[3].size : 1);
  float *param = sel ? malloc(sizeof(float) * task->params->n + 1) : NULL;
  CORE_CHECK(info && (param || !sel), CORE_ERR_MEM, "cannot allocate the tensor table");
  sec[3].data = info;
  if (sel) sec[4].data = param;
  core_status st = io_job_read(job, count, sec);
  if (!st && memcmp(info, task->params->info, (size_t)sec[3].size) != 0)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: its tensor table (names, shapes) is not this model's", opt->out);
  free(info), free(param);
  CORE_CALL(st);
  CORE_CHECK(r.kind == (int32_t)task->kind && r.conv == task->conv && r.data_crc == task->data_crc, CORE_ERR_FORMAT,
             "%s: a model of another task, convolutions or data (task %d, conv %d; this run: %d, %d)", opt->out,
             r.kind, r.conv, task->kind, task->conv);
  CORE_CALL(check_state(opt->out, state, task->params));
  CORE_CHECK(state->step < opt->steps, CORE_ERR_ARG,
             "-resume: %s already has %lld steps; give -steps above %lld to train further", opt->out,
             (long long)state->step, (long long)state->step);
  CORE_CHECK(!sel || !opt->patience || sel->rec.since_best < opt->patience, CORE_ERR_ARG,
             "-resume: %s stopped at step %lld: its last %lld evaluations brought no better validation score (best at "
             "step %lld); give -patience above %lld to train further", opt->out, (long long)state->step,
             (long long)sel->rec.since_best, (long long)sel->rec.best_step, (long long)sel->rec.since_best);
  task->params->step = state->adam_step;
  return CORE_OK;
}

/* A JSON number, or null for inf and nan (which JSON has no words for). */
static void json_number(FILE *fp, const char *name, double v, const char *format) {
  fprintf(fp, ", \"%s\": ", name);
  if (isfinite(v)) fprintf(fp, format, v);
  else fputs("null", fp);
}

/* One line, flushed; a failed write (a full disk) is an error, not a
 * silently shorter file. */
static core_status metrics_line(FILE *fp, const char *path, int64_t step, uint32_t run, double loss, double rate,
                                double seconds, const train_metrics *m) {
  if (!fp) return CORE_OK;
  fprintf(fp, "{\"step\": %lld, \"run\": \"%08x\"", (long long)step, run);
  json_number(fp, "loss", loss, "%.9g");
  json_number(fp, "samples_per_s", rate, "%.6g");
  json_number(fp, "seconds", seconds, "%.3f");
  for (int k = 0; m && k < m->count; ++k) json_number(fp, m->name[k], m->value[k], "%.9g");
  fputs("}\n", fp);
  CORE_CHECK(fflush(fp) == 0 && !ferror(fp), CORE_ERR_IO, "%s: cannot write the metrics: %s", path, strerror(errno));
  return CORE_OK;
}

/* A run's working set: the rank's micro-shards and their buffers. */
typedef struct {
  MPI_Comm comm;
  int rank, K, mine;   /* micro-shards per batch, this rank's */
  int64_t m, B;        /* examples per micro-shard, per batch */
  float **bufs;        /* (mine) gradient buffers of p->n floats */
  core_tree_sum *sum;  /* the plan of the gradient sum over the K shards */
  float *work;         /* (core_tree_sum_work) its workspace */
  int64_t *index;      /* (m) examples of one micro-shard */
  double *shard_loss;  /* (K) */
  batch_source src;
  io_job *job;         /* NULL without a model file or a metrics file */
  FILE *metrics;       /* rank 0 */
  int metrics_pending; /* a fresh run's metrics still at <metrics>.partial */
  uint32_t run;        /* the run key of the metrics lines */
  selection sel;       /* with a validation set */
  selection *selp;     /* &sel with one, else NULL */
} trainer;

static void trainer_free(trainer *t) {
  for (int j = 0; t->bufs && j < t->mine; ++j) free(t->bufs[j]);
  core_tree_sum_destroy(&t->sum);
  free(t->bufs), free(t->work), free(t->index), free(t->shard_loss), free(t->src.order[0]), free(t->src.order[1]);
  free(t->sel.best);
  io_job_end(&t->job);
}

/* The buffers; then the outputs checked and locked, fresh or resumed
 * (state), the metrics file opened. Collective. */
static core_status trainer_begin(trainer *t, train_task *task, const train_options *opt, FILE *progress,
                                 model_state *state) {
  const size_t n = task->params->n;
  t->bufs = calloc((size_t)t->mine, sizeof *t->bufs);
  t->index = malloc(sizeof(int64_t) * (size_t)t->m);
  t->shard_loss = malloc(sizeof(double) * (size_t)t->K);
  t->src = (batch_source){.N = task->n_train, .epoch = {-1, -1}, .seed = opt->seed};
  t->src.order[0] = malloc(sizeof(int64_t) * (size_t)t->src.N);
  t->src.order[1] = malloc(sizeof(int64_t) * (size_t)t->src.N);
  if (task->validate) {
    t->selp = &t->sel;
    t->sel.best = malloc(sizeof(float) * n + 1);
    /* Before any evaluation the best are the initial parameters. */
    if (t->sel.best) memcpy(t->sel.best, task->params->param, sizeof(float) * n);
    t->sel.rec.best_score = INFINITY;
  }
  t->sel.rec.select_best = opt->select_best;
  core_status st = t->bufs && t->index && t->shard_loss && t->src.order[0] && t->src.order[1] &&
                           (t->sel.best || !t->selp)
                       ? CORE_OK
                       : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the trainer's buffers");
  for (int j = 0; !st && j < t->mine; ++j)
    if (!(t->bufs[j] = malloc(sizeof(float) * n)))
      st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate %d gradient buffers of %zu floats", t->mine, n);
  /* inputs[0] is the training set, inputs[1] the test set: test metrics
   * on training data would be training metrics. */
  if (!st && t->rank == 0 && opt->inputs[0] && opt->inputs[1] && io_same_file(opt->inputs[0], opt->inputs[1]))
    st = CORE_ERROR(CORE_ERR_ARG, "-test %s is the -train file: evaluate on a test set of its own", opt->inputs[1]);
  st = core_agree(t->comm, st);
  if (!st) st = core_tree_sum_create(t->comm, t->K, n, &t->sum);
  const size_t work = st ? 0 : core_tree_sum_work(t->sum);
  if (!st && work && !(t->work = malloc(sizeof(float) * work)))
    st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the gradient sum's workspace of %zu floats", work);
  st = core_agree(t->comm, st);
  char identity[IO_JOB_IDENTITY_BYTES];
  train_identity(task, opt, identity, sizeof identity);
  t->run = io_crc32(0, identity, strlen(identity));
  /* The model file is the run's checkpoint; without one, the metrics file
   * is the run's only output. */
  io_job_spec spec = {.command = "train", .out = opt->out ? opt->out : opt->metrics,
                      .out_option = opt->out ? "-out" : "-metrics", .kind = kind,
                      .identity = identity, .mode = IO_JOB_IN_PLACE, .no_checkpoint = !opt->out,
                      .resume = opt->resume, .force = opt->force, .companions = {opt->out ? opt->metrics : NULL},
                      .inputs = opt->inputs, .n_inputs = TRAIN_INPUTS_MAX,
                      .checkpoint_seconds = opt->checkpoint_seconds, .checkpoint_every = opt->checkpoint_every,
                      .fault_site = "train.checkpoint", .progress = t->rank == 0 ? progress : NULL};
  if (!st && spec.out) st = io_job_begin(t->comm, &spec, &t->job);
  if (!st && t->job && io_job_resuming(t->job)) st = resume_model(t->job, opt, task, state, t->selp);
  /* This run's choice, whatever the checkpoint's was: both are in the file. */
  t->sel.rec.select_best = opt->select_best;
  if (!st && t->rank == 0 && opt->metrics && opt->resume) {
    /* The metrics of a fresh run killed before its first model write:
     * this run holds the lock, so nobody writes them any more. */
    char partial[4200];
    snprintf(partial, sizeof partial, "%s.partial", opt->metrics);
    unlink(partial);
  }
  task->params->step = state->adam_step;
  if (!st && t->rank == 0 && opt->metrics) {
    t->metrics_pending = state->step == 0;
    st = metrics_open(opt->metrics, state->step, t->run, t->metrics_pending, &t->metrics);
  }
  return core_agree(t->comm, st);
}

/* One step: this rank's micro-shards, each from a zero gradient in its
 * own buffer (p->grad points there meanwhile: no copy), their tree sum,
 * the loss, the same Adam step everywhere. Collective. */
static core_status trainer_step(trainer *t, train_task *task, const train_options *opt, int64_t step, double *loss) {
  nn_params *p = task->params;
  float *const grad = p->grad;
  core_status st = CORE_OK;
  for (int j = 0; !st && j < t->mine; ++j) {
    const int k = t->rank * t->mine + j;
    batch_indices(&t->src, step * t->B + (int64_t)k * t->m, t->m, t->index);
    p->grad = t->bufs[j];
    nn_params_zero_grad(p);
    if (core_fault("train.shard"))
      st = CORE_ERROR(CORE_ERR_NUMERIC, "step %lld, shard %d: injected fault (test)", (long long)step, k);
    else
      st = task->shard_grad(task, step, k, t->m, t->index, (double)t->m / (double)t->B, &t->shard_loss[k]);
    if (st == CORE_ERR_VALUE) /* a non-finite network output: the training diverged */
      st = CORE_ERROR(CORE_ERR_NUMERIC, "step %lld: %s: the training diverged; lower -lr", (long long)step + 1,
                      core_error_message());
  }
  p->grad = grad;
  CORE_CALL(core_agree(t->comm, st));
  CORE_CALL(core_tree_sum_execute(t->sum, t->bufs, t->work, p->grad));
  CORE_CHECK(MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, t->shard_loss, t->mine, MPI_DOUBLE, t->comm) ==
                 MPI_SUCCESS,
             CORE_ERR_MPI, "MPI_Allgather of the shard losses failed");
  *loss = 0;
  for (int k = 0; k < t->K; ++k) *loss += t->shard_loss[k] * ((double)t->m / (double)t->B);
  CORE_CHECK(isfinite(*loss), CORE_ERR_NUMERIC, "step %lld: the training loss is %g: the training diverged; lower -lr",
             (long long)step + 1, *loss);
  nn_adam_step(p, &opt->adam);
  return CORE_OK;
}

/* The model file at `step` (and, at the first one, the metrics put in
 * place). Collective. */
static core_status trainer_save(trainer *t, train_task *task, const train_options *opt, int64_t step) {
  const nn_params *p = task->params;
  model_state now = {step, p->step, (int64_t)p->n, t->B, t->m, p->n_tensors};
  io_ckpt_section sec[MODEL_SECTIONS];
  task_record r;
  const int count = model_sections(task, &now, &r, t->selp, sec);
  core_status st = io_job_checkpoint(t->job, count, sec);
  if (!st && t->rank == 0 && t->metrics_pending) {
    st = metrics_publish(opt->metrics);
    if (!st) t->metrics_pending = 0;
  }
  return core_agree(t->comm, st);
}

/* The metrics file closed; published (no model file, a finished run) or
 * removed (a fresh run that never wrote its model). Collective. */
static core_status trainer_end(trainer *t, const train_options *opt, core_status st, int interrupted) {
  if (t->metrics && fclose(t->metrics) != 0 && !st)
    st = CORE_ERROR(CORE_ERR_IO, "%s: cannot write the metrics: %s", opt->metrics, strerror(errno));
  t->metrics = NULL;
  if (t->rank == 0 && !st && !interrupted && !opt->out && t->metrics_pending && opt->metrics &&
      !(st = metrics_publish(opt->metrics)))
    t->metrics_pending = 0;
  st = core_agree(t->comm, st);
  if (t->metrics_pending) {
    char partial[4200];
    snprintf(partial, sizeof partial, "%s.partial", opt->metrics);
    unlink(partial);
  }
  return st;
}

/* The validation score of the parameters after `step`, kept with them
 * when it is the best so far (strictly: of equal scores the earliest
 * stays); *give_up when -patience evaluations in a row brought none
 * better. `test` holds this evaluation's test metrics; `valid` gets the
 * validation metrics. The same on every rank (validate's numbers are).
 * Collective. */
static core_status trainer_validate(trainer *t, train_task *task, const train_options *opt, int64_t step,
                                    const train_metrics *test, train_metrics *valid, int *give_up) {
  CORE_CALL(task->validate(task, t->comm, valid));
  select_record *rec = &t->sel.rec;
  if (valid->value[0] < rec->best_score) {
    memcpy(t->sel.best, task->params->param, sizeof(float) * task->params->n);
    rec->best_step = step, rec->since_best = 0, rec->best_score = valid->value[0];
    rec->n_test = test->count, rec->n_valid = valid->count;
    for (int k = 0; k < TRAIN_METRICS_MAX; ++k) {
      rec->test[k] = k < test->count ? test->value[k] : 0.0;
      rec->valid[k] = k < valid->count ? valid->value[k] : 0.0;
    }
  } else {
    ++rec->since_best;
  }
  *give_up = opt->patience > 0 && rec->since_best >= opt->patience;
  return CORE_OK;
}

/* The report's metrics: those of the parameters the model file holds. */
static void trainer_report(const trainer *t, const train_options *opt, int64_t step, train_report *report) {
  report->selected_step = step;
  if (!t->selp) return;
  const select_record *rec = &t->sel.rec;
  report->best_step = rec->best_step;
  if (!opt->select_best) return;
  report->selected_step = rec->best_step;
  /* The names are every evaluation's; the values the best one's. */
  report->metrics.count = (int)rec->n_test, report->valid.count = (int)rec->n_valid;
  for (int k = 0; k < TRAIN_METRICS_MAX; ++k) report->metrics.value[k] = rec->test[k], report->valid.value[k] = rec->valid[k];
}

/* Test and validation metrics in one line's list. */
static void metrics_join(const train_metrics *test, const train_metrics *valid, train_metrics *both) {
  *both = *test;
  for (int k = 0; k < valid->count && both->count < TRAIN_METRICS_MAX; ++k) {
    memcpy(both->name[both->count], valid->name[k], sizeof valid->name[k]);
    both->value[both->count++] = valid->value[k];
  }
}

core_status train_run(MPI_Comm comm, train_task *task, const train_options *opt, volatile sig_atomic_t *stop,
                      FILE *progress, train_report *report) {
  memset(report, 0, sizeof *report);
  int size;
  MPI_Comm_size(comm, &size);
  const double t0 = core_time();
  const int K = opt->shards;
  CORE_CHECK((opt->out || !opt->resume) && opt->steps >= 1 && K >= 1 && opt->batch >= K && opt->batch % K == 0,
             CORE_ERR_ARG, "train_run: batch %lld must be a positive multiple of shards %d; steps >= 1; resume needs out",
             (long long)opt->batch, K);
  CORE_CHECK(K % size == 0, CORE_ERR_ARG,
             "%d ranks do not divide the %d micro-shards of a batch: run on a divisor of %d ranks, or set -shards "
             "(results are identical for every rank count dividing -shards)", size, K, K);
  trainer t = {.comm = comm, .K = K, .mine = K / size, .m = opt->batch / K, .B = opt->batch};
  MPI_Comm_rank(comm, &t.rank);
  CORE_CHECK(t.m <= task->shard_size, CORE_ERR_ARG, "train_run: shards of %lld examples, the task takes at most %d",
             (long long)t.m, task->shard_size);
  CORE_CHECK(t.B <= task->n_train, CORE_ERR_ARG, "batch %lld is larger than the %lld training examples",
             (long long)t.B, (long long)task->n_train);
  CORE_CHECK(task->validate || (!opt->select_best && !opt->patience), CORE_ERR_ARG,
             "-select best and -patience score a validation set: give one (-valid)");
  CORE_CHECK(opt->patience >= 0, CORE_ERR_ARG, "train_run: patience %lld < 0", (long long)opt->patience);

  model_state state = {0};
  core_status st = trainer_begin(&t, task, opt, progress, &state);
  if (!st && t.rank == 0 && progress && state.step > 0)
    fprintf(progress, "eloss train: resuming %s at step %lld of %lld\n", opt->out, (long long)state.step,
            (long long)opt->steps);
  /* Progress counts the run's steps from its start; rate and ETA this
   * run's. */
  core_progress prog;
  core_progress_start(&prog, "train steps", opt->steps, t.rank == 0 ? progress : NULL);
  core_progress_resume(&prog, state.step);
  double train_seconds = 0, loss = NAN;
  int64_t step = state.step, steps_run = 0;
  while (!st && step < opt->steps) {
    const double ts = core_time();
    if ((st = trainer_step(&t, task, opt, step, &loss))) break;
    ++step, ++steps_run;
    train_seconds += core_time() - ts;
    /* Stop and checkpoint decisions: one reduction, the same on every rank. */
    int stop_now = 0, due = 0;
    if (t.job) {
      st = io_job_poll(t.job, step, stop, &stop_now, &due);
    } else {
      stop_now = stop && *stop;
      if (MPI_Allreduce(MPI_IN_PLACE, &stop_now, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        st = CORE_ERROR(CORE_ERR_MPI, "MPI_Allreduce of the stop flag failed");
    }
    int last = step == opt->steps, give_up = 0;
    const int eval = last || (opt->eval_every > 0 && step % opt->eval_every == 0);
    if (!st && eval && task->evaluate) st = task->evaluate(task, comm, &report->metrics);
    if (!st && eval && t.selp) st = trainer_validate(&t, task, opt, step, &report->metrics, &report->valid, &give_up);
    if (give_up && !last) {
      last = report->stopped_early = 1;
      if (t.rank == 0 && progress)
        fprintf(progress, "eloss train: stopping after step %lld: %lld evaluations without a better validation score "
                "(-patience; the best at step %lld)\n", (long long)step, (long long)opt->patience,
                (long long)t.sel.rec.best_step);
    }
    train_metrics line = {0};
    if (eval) metrics_join(&report->metrics, &report->valid, &line);
    if (!st && t.rank == 0)
      st = metrics_line(t.metrics, opt->metrics, step, t.run, loss,
                        (double)(steps_run * t.B) / fmax(train_seconds, 1e-9), core_time() - t0,
                        eval ? &line : NULL);
    /* Only with a metrics file can rank 0 fail there. */
    if (opt->metrics) st = core_agree(comm, st);
    if (!st && opt->out && (last || stop_now || due)) st = trainer_save(&t, task, opt, step);
    if (st) break;
    core_progress_update(&prog, step);
    if (stop_now && !last) {
      report->interrupted = 1;
      break;
    }
    if (last) break;
  }
  st = trainer_end(&t, opt, st, report->interrupted);
  trainer_report(&t, opt, step, report);
  trainer_free(&t);
  report->step = step;
  report->loss = loss;
  report->samples_per_s = steps_run > 0 ? (double)(steps_run * t.B) / fmax(train_seconds, 1e-9) : 0.0;
  report->seconds = core_time() - t0;
  return st;
}

typedef struct {
  uint32_t crc;
  int64_t index;
} crc_index;

static int crc_index_compare(const void *a, const void *b) {
  const crc_index *x = a, *y = b;
  return (x->crc > y->crc) - (x->crc < y->crc);
}

core_status train_find_shared(int64_t n_train, const uint32_t *train_crc, int64_t n_test, const uint32_t *test_crc,
                              int (*same)(const void *ctx, int64_t train, int64_t test), const void *ctx,
                              int64_t *shared, int64_t *first_test, int64_t *first_train) {
  *shared = 0, *first_test = -1, *first_train = -1;
  crc_index *sorted = malloc(sizeof(crc_index) * (size_t)(n_train > 0 ? n_train : 1));
  CORE_CHECK(sorted, CORE_ERR_MEM, "cannot allocate the train/test overlap check");
  for (int64_t j = 0; j < n_train; ++j) sorted[j].crc = train_crc[j], sorted[j].index = j;
  qsort(sorted, (size_t)n_train, sizeof *sorted, crc_index_compare);
  for (int64_t i = 0; i < n_test; ++i) {
    const crc_index key = {test_crc[i], 0};
    const crc_index *hit = bsearch(&key, sorted, (size_t)n_train, sizeof *sorted, crc_index_compare);
    /* bsearch lands on one of the equal CRCs: back to the first, then each. */
    while (hit && hit > sorted && hit[-1].crc == key.crc) --hit;
    for (; hit && hit < sorted + n_train && hit->crc == key.crc; ++hit)
      if (same(ctx, hit->index, i)) {
        if (!(*shared)++) *first_test = i, *first_train = hit->index;
        break;
      }
  }
  free(sorted);
  return CORE_OK;
}
