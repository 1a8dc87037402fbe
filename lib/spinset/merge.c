/* Joining the parts of a spin-glass dataset: what lets a job array write
 * one split in pieces (`eloss spingen -first I -count K`) and a dependent
 * job put them together (`eloss spingen-merge`).
 *
 * spinset_merge(comm, n_parts, parts, out, force, &instances):
 *   collective on comm. parts: n_parts file names, any order; out: the
 *   merged file; force: replace an existing out. The caller owns every
 *   string. Returns CORE_ERR_ARG for parts that do not make one split
 *   (other options, a gap, an overlap, a missing end), CORE_ERR_FORMAT for
 *   a damaged part or one that is not a part, CORE_ERR_IO for a file that
 *   cannot be read or written; out is then left as it was.
 *
 * Why the result equals a single run: instance i's rows are a pure
 * function of (options, i) (lib/spinset/generate.c), a part stores instances
 * [first, first + count) of the split with the whole run's options in its
 * `options` attribute, and the merged file is created with the datasets of
 * a whole run (same names, order, shapes and types) and the part's root
 * attributes except `part_first` and `part_count`, which are the only ones
 * a part adds. The per-instance `crc32` values are copied with their rows.
 *
 * What is checked, before anything is written:
 *   - every part opens, has part_first and part_count, and the same
 *     `options` and `instances` as the first one named;
 *   - every dataset of spingen's layout is present in all parts or in
 *     none, with the same shape apart from the rows (= part_count);
 *   - sorted by first, the ranges start at 0, each starts where the last
 *     ended, and the last ends at `instances`;
 * and while copying, every row against its stored crc32 (the layout of
 * lib/spinset/generate.c: the rows of couplings_h, _v, _z, ground_state, energy,
 * samples, ground_state_agreement, those present, in that order). The
 * merged file is then reread and checked in full, and renamed from
 * <out>.partial to out only if all of that held. <out>.lock refuses a
 * second merge into the same out.
 *
 * Parallelism: rank 0 reads and writes (io_h5's one writer); each chunk
 * of rows is spread over the ranks, which check their rows' checksums. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eloss/io.h"
#include "eloss/mc.h"
#include "eloss/spinset.h"

/* spingen's datasets in checksum order, crc32 last. */
enum { N_COLUMNS = 8, CRC_COLUMN = 7, CHUNK = 64, OPTIONS_MAX = 4096 };
static const struct {
  const char *name;
  io_dtype dtype;
  size_t bytes;  /* per element */
  int required;
} columns[N_COLUMNS] = {
    {"couplings_h", IO_F64, 8, 1}, {"couplings_v", IO_F64, 8, 1}, {"couplings_z", IO_F64, 8, 0},
    {"ground_state", IO_I8, 1, 1}, {"energy", IO_F64, 8, 1},      {"samples", IO_I8, 1, 0},
    {"ground_state_agreement", IO_I8, 1, 0}, {"crc32", IO_I64, 8, 1}};

typedef struct {
  int64_t first, count;
  int nd[N_COLUMNS];                   /* 0: dataset absent */
  int64_t shape[N_COLUMNS][IO_NDIM_MAX];
} part_info;

static int64_t row_elements(const part_info *p, int c) {
  int64_t n = 1;
  for (int k = 1; k < p->nd[c]; ++k) n *= p->shape[c][k];
  return n;
}

/* Part k's range, options and shapes; `options` and `instances` are those
 * of the first part (k = 0 fills them). Collective. */
static core_status part_read_info(MPI_Comm comm, const char *path, const char *first_path, int k, char *options,
                                  int64_t *instances, part_info *p) {
  io_h5 *f;
  CORE_CALL(io_h5_open_read(comm, path, &f));
  char text[OPTIONS_MAX];
  int64_t range[2], total = 0, rules = 1; /* files before the attribute: rules 1 */
  int found[4] = {0, 0, 0, 0};
  core_status st = io_h5_attr_read_string(f, "/", "options", text, sizeof text);
  if (st == CORE_ERR_FORMAT)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: no options attribute: not a dataset written by eloss spingen", path);
  if (!st) st = io_h5_attr_read_int64(f, "/", "part_first", 1, &range[0], &found[0]);
  if (!st) st = io_h5_attr_read_int64(f, "/", "part_count", 1, &range[1], &found[1]);
  if (!st) st = io_h5_attr_read_int64(f, "/", "instances", 1, &total, &found[2]);
  if (!st) st = io_h5_attr_read_int64(f, "/", "mc_sweep_rules", 1, &rules, &found[3]);
  for (int c = 0; !st && c < N_COLUMNS; ++c) st = io_h5_dataset_info(f, columns[c].name, &p->nd[c], p->shape[c]);
  io_h5_close(&f);
  CORE_CALL(st);
  CORE_CHECK(found[0] && found[1] && found[2], CORE_ERR_FORMAT, "%s: no part_first, part_count or instances "
             "attribute: not a part written by eloss spingen -first I -count K", path);
  p->first = range[0], p->count = range[1];
  if (k == 0) {
    snprintf(options, OPTIONS_MAX, "%s", text);
    *instances = total;
  }
  CORE_CHECK(rules == MC_SWEEP_RULES, CORE_ERR_ARG, "%s: written by an eloss with Monte Carlo rules %lld, not this "
             "one's %d: its chains would not match the other parts'; generate it again", path, (long long)rules,
             MC_SWEEP_RULES);
  CORE_CHECK(strcmp(text, options) == 0 && total == *instances, CORE_ERR_ARG,
             "%s: written with other options than %s: \"%s\" against \"%s\"", path, first_path, text, options);
  CORE_CHECK(p->count >= 1 && p->first >= 0 && p->first <= total - p->count, CORE_ERR_FORMAT,
             "%s: range [%lld, %lld) is not within the split's %lld instances", path, (long long)p->first,
             (long long)(p->first + p->count), (long long)total);
  for (int c = 0; c < N_COLUMNS; ++c) {
    CORE_CHECK(p->nd[c] > 0 || !columns[c].required, CORE_ERR_FORMAT, "%s: no dataset %s", path, columns[c].name);
    CORE_CHECK(p->nd[c] == 0 || p->shape[c][0] == p->count, CORE_ERR_FORMAT,
               "%s: %s has %lld rows, the part's range %lld", path, columns[c].name, (long long)p->shape[c][0],
               (long long)p->count);
  }
  return CORE_OK;
}

/* Parts other than the first must have the first one's datasets. */
static core_status part_same_layout(const char *path, const char *first_path, const part_info *p,
                                    const part_info *p0) {
  for (int c = 0; c < N_COLUMNS; ++c) {
    int same = p->nd[c] == p0->nd[c];
    for (int k = 1; same && k < p->nd[c]; ++k) same = p->shape[c][k] == p0->shape[c][k];
    CORE_CHECK(same, CORE_ERR_ARG, "%s: dataset %s does not have the shape it has in %s", path, columns[c].name,
               first_path);
  }
  return CORE_OK;
}

/* Buffers for CHUNK rows of every column. */
typedef struct {
  void *rows[N_COLUMNS];
} chunk;

static void chunk_free(chunk *b) {
  for (int c = 0; c < N_COLUMNS; ++c) free(b->rows[c]);
}

static core_status chunk_alloc(const part_info *p, chunk *b) {
  memset(b, 0, sizeof *b);
  int ok = 1;
  for (int c = 0; c < N_COLUMNS; ++c)
    if (p->nd[c] > 0) ok = ok && (b->rows[c] = malloc((size_t)CHUNK * (size_t)row_elements(p, c) * columns[c].bytes));
  if (!ok) chunk_free(b);
  return ok ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate a chunk of %d instances", (int)CHUNK);
}

/* Read rows [start, start + count) (this rank's) of f, check each against
 * its crc32 (instance numbers reported as base + row), and write them to
 * rows [to + start, ...) of out when out != NULL. Collective. */
static core_status rows_copy(MPI_Comm comm, io_h5 *f, const char *path, io_h5 *out, const part_info *p, int64_t base,
                             int64_t to, int64_t start, int64_t count, chunk *b) {
  for (int c = 0; c < N_COLUMNS; ++c)
    if (p->nd[c] > 0) CORE_CALL(io_h5_read_rows(f, columns[c].name, columns[c].dtype, start, count, b->rows[c]));
  core_status st = CORE_OK;
  for (int64_t r = 0; !st && r < count; ++r) {
    uint32_t crc = 0;
    for (int c = 0; c < CRC_COLUMN; ++c)
      if (p->nd[c] > 0) {
        const size_t row = (size_t)row_elements(p, c) * columns[c].bytes;
        crc = io_crc32(crc, (const char *)b->rows[c] + (size_t)r * row, row);
      }
    if ((int64_t)crc != ((const int64_t *)b->rows[CRC_COLUMN])[r])
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld does not match its stored checksum: the file was modified "
                      "or damaged; generate this part again", path, (long long)(base + start + r));
  }
  CORE_CALL(core_agree(comm, st));
  for (int c = 0; out && c < N_COLUMNS; ++c)
    if (p->nd[c] > 0) CORE_CALL(io_h5_write_rows(out, columns[c].name, columns[c].dtype, to + start, count, b->rows[c]));
  return CORE_OK;
}

/* Every row of f (n rows), chunk by chunk over the ranks: checked, and
 * copied to rows [to, to + n) of out if out != NULL. Collective. */
static core_status file_copy(MPI_Comm comm, io_h5 *f, const char *path, io_h5 *out, const part_info *p, int64_t base,
                             int64_t to, int64_t n, chunk *b) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  for (int64_t done = 0; done < n;) {
    const int64_t step = n - done < (int64_t)CHUNK * size ? n - done : (int64_t)CHUNK * size;
    int64_t count, offset;
    core_partition(step, size, rank, &count, &offset);
    CORE_CALL(rows_copy(comm, f, path, out, p, base, to, done + offset, count, b));
    done += step;
  }
  return CORE_OK;
}

/* Sort part indices by first (insertion sort: a job array has tens of parts). */
static void order_parts(int n, const part_info *info, int *order) {
  for (int k = 0; k < n; ++k) order[k] = k;
  for (int k = 1; k < n; ++k)
    for (int j = k; j > 0 && info[order[j - 1]].first > info[order[j]].first; --j) {
      const int t = order[j];
      order[j] = order[j - 1], order[j - 1] = t;
    }
}

/* The ranges, in order, must tile [0, instances). Pure. */
static core_status check_tiling(int n, const char *const *parts, const part_info *info, const int *order,
                                int64_t instances) {
  int64_t expect = 0;
  for (int k = 0; k < n; ++k) {
    const part_info *p = &info[order[k]];
    CORE_CHECK(p->first <= expect, CORE_ERR_ARG, "instances [%lld, %lld) are in no part (a gap before %s)",
               (long long)expect, (long long)p->first, parts[order[k]]);
    CORE_CHECK(p->first >= expect || !io_same_file(parts[order[k - 1]], parts[order[k]]), CORE_ERR_ARG,
               "%s is given twice", parts[order[k]]);
    CORE_CHECK(p->first >= expect, CORE_ERR_ARG, "%s and %s overlap: both hold instance %lld", parts[order[k - 1]],
               parts[order[k]], (long long)p->first);
    expect = p->first + p->count;
  }
  CORE_CHECK(expect == instances, CORE_ERR_ARG, "instances [%lld, %lld) of the split's %lld are in no part",
             (long long)expect, (long long)instances, (long long)instances);
  return CORE_OK;
}

core_status spinset_merge(MPI_Comm comm, int n_parts, const char *const *parts, const char *out, int force,
                             int64_t *instances_out) {
  int rank;
  MPI_Comm_rank(comm, &rank);
  CORE_CHECK(n_parts >= 1 && parts && out, CORE_ERR_ARG, "merge: need at least one part and an output");
  part_info *info = calloc((size_t)n_parts, sizeof *info);
  int *order = malloc(sizeof *order * (size_t)n_parts);
  char *options = malloc(OPTIONS_MAX);
  core_status st = info && order && options ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "merge: cannot allocate tables");
  st = core_agree(comm, st);
  int64_t instances = 0;
  for (int k = 0; !st && k < n_parts; ++k) {
    st = part_read_info(comm, parts[k], parts[0], k, options, &instances, &info[k]);
    if (!st && k > 0) st = part_same_layout(parts[k], parts[0], &info[k], &info[0]);
  }
  if (!st) {
    order_parts(n_parts, info, order);
    st = check_tiling(n_parts, parts, info, order, instances);
  }
  /* A short job: no checkpoint, the output staged and published. */
  io_job_spec spec = {.command = "spingen-merge", .out = out, .kind = "spingen-merge", .identity = "",
                      .mode = IO_JOB_STAGED, .no_checkpoint = 1, .force = force, .inputs = parts,
                      .n_inputs = n_parts};
  io_job *job = NULL;
  if (!st) st = io_job_begin(comm, &spec, &job);
  const char *partial = job ? io_job_partial(job) : "";
  io_h5 *f = NULL, *part = NULL;
  chunk b = {{NULL}};
  if (!st) st = core_agree(comm, chunk_alloc(&info[0], &b));
  if (!st) {
    /* The datasets of a whole run, in its order (lib/spinset/generate.c), then
     * its attributes: those of the part at 0 without the range. */
    st = io_h5_create(comm, partial, &f);
    for (int c = 0; !st && c < N_COLUMNS; ++c) {
      if (info[0].nd[c] == 0) continue;
      int64_t shape[IO_NDIM_MAX];
      memcpy(shape, info[0].shape[c], sizeof shape);
      shape[0] = instances;
      st = io_h5_dataset_create(f, columns[c].name, columns[c].dtype, info[0].nd[c], shape);
    }
    if (!st) st = io_h5_reserve(f);
    static const char *const range_attrs[2] = {"part_first", "part_count"};
    if (!st) st = io_h5_open_read(comm, parts[order[0]], &part);
    if (!st) st = io_h5_attrs_copy(part, f, "/", range_attrs, 2);
    io_h5_close(&part);
  }
  for (int k = 0; !st && k < n_parts; ++k) {
    const part_info *p = &info[order[k]];
    st = io_h5_open_read(comm, parts[order[k]], &part);
    if (!st) st = file_copy(comm, part, parts[order[k]], f, p, p->first, p->first, p->count, &b);
    io_h5_close(&part);
  }
  /* The merged file as written, reread: every row against its checksum. */
  if (!st) st = io_h5_flush(f);
  if (!st) {
    part_info whole = info[0];
    whole.first = 0, whole.count = instances;
    st = file_copy(comm, f, partial, NULL, &whole, 0, 0, instances, &b);
  }
  core_status close_st = io_h5_close(&f);
  if (!st) st = close_st;
  st = core_agree(comm, st);
  if (!st) st = io_job_publish(job);
  /* A merge keeps no checkpoint: its partial file is worth nothing. */
  if (st && job && rank == 0) remove(partial);
  io_job_end(&job);
  chunk_free(&b);
  free(info), free(order), free(options);
  if (!st && instances_out) *instances_out = instances;
  return st;
}
