/* eloss io: NumPy .npy arrays, XYZ molecules, atomic writes, checksums.
 *
 * Worked example:
 *
 *   io_array ref;
 *   core_status st = io_npy_read("ref.npy", &ref);   // any supported dtype
 *   if (st) { puts(core_error_message()); ... }      // names file + problem
 *   // ref.shape[0..ref.ndim-1], ref.dtype, ref.data (owned by ref)
 *   io_array_free(&ref);
 *
 *   int64_t shape[3] = {B, N, 3};
 *   io_npy_write("grad.npy", IO_F64, 3, shape, grad); // temp file + rename
 *
 * Every writer is atomic: the data go to "<path>.tmp.<pid>" and are renamed
 * over <path> only after a successful flush, so a reader never sees a
 * partial file and a failed write leaves nothing behind. */
#ifndef ELOSS_IO_H
#define ELOSS_IO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { IO_F32, IO_F64, IO_I8, IO_U8, IO_I32, IO_I64 } io_dtype;

enum { IO_NDIM_MAX = 8 };

typedef struct {
  io_dtype dtype;
  int ndim;
  int64_t shape[IO_NDIM_MAX];
  int64_t count; /* product of shape */
  void *data;    /* count elements, C order, native byte order; owned */
} io_array;

size_t io_dtype_size(io_dtype dtype);
const char *io_dtype_name(io_dtype dtype); /* "float64", ... */
/* An array's shape as numpy prints it, "(2, 4, 3)" or "(5,)", in text;
 * returns text. */
const char *io_shape_text(const io_array *a, char *text, size_t size);

/* Read a .npy file (format versions 1.0, 2.0 and 3.0; little- or big-endian
 * float32/float64/int8/uint8/int32/int64; C order only). The data are
 * converted to native byte order. Errors name the file and the problem
 * (not .npy, truncated, Fortran order, unsupported dtype). Local. */
core_status io_npy_read(const char *path, io_array *array);

/* Read only the header: dtype, ndim, shape, count; data stays NULL. */
core_status io_npy_info(const char *path, io_array *info);

/* Read rows [row_start, row_start + row_count) of the leading axis: what a
 * rank needs of a batch sharded over ranks. array->shape[0] = row_count. */
core_status io_npy_read_rows(const char *path, int64_t row_start,
                             int64_t row_count, io_array *array);

/* Convert in place to float64 or float32 (no-op if already that dtype). */
core_status io_array_convert(io_array *array, io_dtype to);

/* Free the data of an array read by io_npy_read; accepts a zeroed array. */
void io_array_free(io_array *array);

/* Write a C-order little-endian .npy (version 1.0, or 2.0 if the header needs
 * it), atomically. Local. */
core_status io_npy_write(const char *path, io_dtype dtype, int ndim,
                         const int64_t *shape, const void *data);

/* ---- edge lists ------------------------------------------------------------ */

/* Read an (E, 2) int32/int64 .npy of 0-based vertex pairs into a new int32
 * array (caller frees). Refuses a wrong dtype or shape, an index outside
 * [0, n_given) (outside int32 if n_given <= 0), a self-loop and a pair
 * given twice (in either order), naming the file and the edge. *n = n_given if positive, else largest index + 1. */
core_status io_edges_read(const char *path, int64_t n_given, int32_t **edges, int64_t *n_edges,
                          int64_t *n);

/* ---- atomic files --------------------------------------------------------- */

typedef struct {
  FILE *fp;
  char path[4096];
  char tmp_path[4096 + 32];
} io_atomic_file;

/* Open "<path>.tmp.<pid>" for writing. */
core_status io_atomic_open(io_atomic_file *f, const char *path);
/* Flush, fsync, close and rename over the final path. On failure the
 * temporary file is removed. */
core_status io_atomic_commit(io_atomic_file *f);
/* Close and remove the temporary file (after an error). */
void io_atomic_abort(io_atomic_file *f);

/* Before any work: can `out` be written? It must be a regular file or
 * absent, in an existing, writable directory, and not end in ".lock" (the
 * locks of io_lock_acquire); the error names the file and the problem.
 * Local. */
core_status io_output_check(const char *out);
/* Why `path` is a name outputs' own files use (<file>.lock, a lock;
 * <file>.tmp.<digits>, a temporary), or NULL. Pure. */
const char *io_output_name_reserved(const char *path);

/* The files a program read its configuration from (decks): no output may
 * be one of them, whatever -force says. io_output_check, io_atomic_open
 * and io_h5_create refuse them. Process-wide, up to 16 paths; not
 * thread-safe (registered at start-up). */
void io_input_register(const char *path);
/* The registered input `path` names, or NULL. Local. */
const char *io_input_registered(const char *path);

/* 1 if a and b are the same path or name the same existing file (an
 * output that would overwrite an input); 0 for NULL. Local. */
int io_same_file(const char *a, const char *b);

/* ---- checksums ------------------------------------------------------------ */

/* CRC-32 (IEEE 802.3 polynomial, as zlib's crc32); start with crc = 0. */
uint32_t io_crc32(uint32_t crc, const void *data, size_t n);

/* ---- HDF5 datasets (one writer) ---------------------------------------------- */

/* An HDF5 file shared by the ranks of a communicator and opened by rank 0
 * alone: the other ranks send it their rows and receive rows from it.
 * Every function is collective, agrees on its local checks before its
 * first collective call and on the outcome of the HDF5 call after it, so a
 * failure on one rank (a full disk, a bad range) makes every rank return
 * the same error instead of hanging. Datasets are contiguous, C order;
 * object timestamps are off, so the same data give the same file whatever
 * the date. Readable by h5py with no special code. */
typedef struct io_h5 io_h5;

/* Create (truncate) or open read-write; collective on comm. */
core_status io_h5_create(MPI_Comm comm, const char *path, io_h5 **file);
core_status io_h5_open(MPI_Comm comm, const char *path, io_h5 **file);
/* Open read-only (a dataset to train on: a read never changes the file);
 * collective. */
core_status io_h5_open_read(MPI_Comm comm, const char *path, io_h5 **file);

/* Rank and shape of dataset `name` on every rank; *ndim = 0 when the file
 * has no such dataset (not an error); collective. */
core_status io_h5_dataset_info(io_h5 *file, const char *name, int *ndim, int64_t *shape);

/* Create dataset `name` of shape (ndim) and dtype, its space allocated in
 * the file at once; collective, same arguments on every rank. */
core_status io_h5_dataset_create(io_h5 *file, const char *name, io_dtype dtype, int ndim,
                                 const int64_t *shape);

/* Write / read rows [row_start, row_start + row_count) of the leading axis;
 * collective, each rank its own range (a rank with no rows passes
 * row_count = 0); at most INT_MAX rows per rank and per call. */
core_status io_h5_write_rows(io_h5 *file, const char *name, io_dtype dtype, int64_t row_start,
                             int64_t row_count, const void *data);
core_status io_h5_read_rows(io_h5 *file, const char *name, io_dtype dtype, int64_t row_start,
                            int64_t row_count, void *data);

/* Attributes on the root group ("/") or a dataset; collective, same value on
 * every rank. */
core_status io_h5_attr_string(io_h5 *file, const char *object, const char *name, const char *value);
core_status io_h5_attr_double(io_h5 *file, const char *object, const char *name, int count,
                              const double *values);
core_status io_h5_attr_int64(io_h5 *file, const char *object, const char *name, int count,
                             const int64_t *values);
/* Read a string attribute into value (size bytes, truncated) on every rank;
 * collective. */
core_status io_h5_attr_read_string(io_h5 *file, const char *object, const char *name, char *value, size_t size);
/* Read an integer attribute of `count` values (stored as any integer
 * type) on every rank; *found = 0 and values untouched when it is absent,
 * an error when it has another type or count; collective. */
core_status io_h5_attr_read_int64(io_h5 *file, const char *object, const char *name, int count, int64_t *values,
                                  int *found);
/* Copy every attribute of `object` in `from` to the same object in `to`
 * (type, shape and bytes as they are; existing ones replaced), except the
 * n_skip names in skip; both files opened on the same communicator;
 * collective. */
core_status io_h5_attrs_copy(io_h5 *from, io_h5 *to, const char *object, const char *const *skip, int n_skip);

/* Claim the disk blocks of everything allocated so far (posix_fallocate), so
 * that a disk too small for the datasets is refused before any work;
 * collective. */
core_status io_h5_reserve(io_h5 *file);
/* Flush everything written so far and fsync it to disk; collective. */
core_status io_h5_flush(io_h5 *file);
/* Close; collective; accepts NULL. */
core_status io_h5_close(io_h5 **file);

/* ---- checkpoints ------------------------------------------------------------------ */

/* One checkpoint format for every long job (lib/io/checkpoint.c has the
 * layout): a header naming the job's kind and carrying the CRC-32 of the
 * options that identify the run, then named sections, each with its own
 * size and CRC-32. Writes are atomic. Reads fill the caller's buffers:
 * every section must be there, in order, with the size asked for and its
 * checksum right, or the read fails naming the file and the section. */
typedef struct {
  const char *name; /* at most 15 bytes */
  const void *data; /* write: the payload; read: the buffer to fill */
  uint64_t size;    /* bytes */
} io_ckpt_section;

/* Local. */
core_status io_ckpt_write(const char *path, const char *kind, uint32_t options_crc, int count,
                          const io_ckpt_section *sections);
/* Local. *found = 0 (and CORE_OK) when there is no file at path. */
core_status io_ckpt_read(const char *path, const char *kind, uint32_t *options_crc, int count,
                         const io_ckpt_section *sections, int *found);
/* The number of sections of a checkpoint of `kind` (its header checked):
 * how a reader tells a file's optional sections apart. Local; a missing
 * file is an error. */
core_status io_ckpt_count(const char *path, const char *kind, int *count);
/* Read the header and the first `count` sections only (names, sizes and
 * checksums checked as above): a description that tells the reader the
 * sizes of the sections after them. Local; a missing file is an error. */
core_status io_ckpt_read_first(const char *path, const char *kind, uint32_t *options_crc, int count,
                               const io_ckpt_section *first);

/* ---- long jobs: one lifecycle ------------------------------------------------------ */

/* The life of every job that builds one output over a long time and may be
 * stopped and resumed (spingen, spingen-merge, clustergen, train): check
 * the outputs, lock them, decide how to start, checkpoint when all ranks
 * agree it is due, publish, release. Jobs keep only their science:
 *
 *   io_job_spec spec = {.command = "spingen", .out = out, .kind = "spingen",
 *                       .identity = text, .mode = IO_JOB_STAGED, .resume = r,
 *                       .force = f, .checkpoint_seconds = 60, .progress = stderr};
 *   io_job *job;
 *   CORE_CALL(io_job_begin(comm, &spec, &job));      // refusals, lock, fresh or resumed
 *   if (io_job_resuming(job)) st = io_job_read(job, n, sections);
 *   while (!st && work left) {
 *     ... one step, its status agreed ...
 *     int stop_now, due;
 *     st = io_job_poll(job, step, stop_flag, &stop_now, &due);   // one reduction
 *     if (!st && (stop_now || due)) st = io_job_checkpoint(job, n, sections);
 *     if (stop_now) break;
 *   }
 *   if (!st && finished) st = io_job_publish(job);   // <out>.partial -> <out>
 *   io_job_end(&job);
 *
 * Files: STAGED jobs build <out>.partial (the job writes it) and keep their
 * checkpoint in <out>.ckpt; publish renames the one and removes the other.
 * IN_PLACE jobs (a model) have no partial file: the output is its own
 * checkpoint, rewritten atomically each time. Every checkpoint opens with a
 * section "run" holding the identity text, whose CRC-32 is the header's
 * key: a resume with another identity is refused naming what differs.
 * Every refusal happens on rank 0 before any work, with one wording for
 * every command, and every rank returns it (core_agree). */
typedef enum {
  IO_JOB_STAGED,  /* <out>.partial + <out>.ckpt, renamed into place at the end */
  IO_JOB_IN_PLACE /* the output is the checkpoint (a model file)                */
} io_job_mode;

enum { IO_JOB_FILES_MAX = 8, IO_JOB_IDENTITY_BYTES = 4096 };

typedef struct {
  const char *command;  /* "spingen": names the job in its messages        */
  const char *out;      /* the output                                        */
  const char *out_option; /* its option, for messages (NULL: "-out")         */
  const char *kind;     /* checkpoint kind (io_ckpt), at most 15 bytes       */
  const char *identity; /* what identifies the run (its options and data
                           fingerprints), < IO_JOB_IDENTITY_BYTES bytes      */
  io_job_mode mode;
  int no_checkpoint;    /* a short job that is never resumed (no .ckpt; a
                           stale partial file is removed, not refused)     */
  int resume, force;
  int dry_run;          /* every refusal, no lock taken, nothing removed    */
  const char *const *inputs; /* (n_inputs) files the run reads; NULLs skipped */
  int n_inputs;
  const char *companions[IO_JOB_FILES_MAX]; /* further outputs (a metrics
                                               file): checked and locked    */
  double checkpoint_seconds; /* a checkpoint is due this long after the last
                                (rank 0's clock)                            */
  int64_t checkpoint_every;  /* ... or every this many steps (0: by clock)  */
  const char *fault_site;    /* core_fault site of a checkpoint write       */
  FILE *progress;            /* rank 0's messages (a stop); may be NULL     */
} io_job_spec;

typedef struct io_job io_job;

/* Check the outputs (io_output_check; none an input or another output),
 * lock them, remove their stale temporaries and decide how to start:
 * fresh (a -force run's old checkpoint and partial file removed; an
 * IN_PLACE output stays until its first checkpoint replaces it) or
 * resumed (the checkpoint's identity must match). Refuses what would lose
 * data: a finished output, a checkpoint or a stray partial file without
 * -force, -resume with nothing to resume. Collective; on error *job is
 * NULL on every rank and nothing is held. */
core_status io_job_begin(MPI_Comm comm, const io_job_spec *spec, io_job **job);
/* 1 if the run continues a checkpoint. Local. */
int io_job_resuming(const io_job *job);
/* Where a STAGED job builds its output: "<out>.partial". Local. */
const char *io_job_partial(const io_job *job);
/* The checkpoint's path ("<out>.ckpt", or out itself IN_PLACE). Local. */
const char *io_job_checkpoint_path(const io_job *job);
/* Read the checkpoint's sections after "run" into the buffers (the same
 * sizes on every rank): rank 0 reads, every rank receives. Collective. */
core_status io_job_read(io_job *job, int count, const io_ckpt_section *sections);
/* Read only the first `count` sections after "run" (to learn the sizes of
 * the rest), on every rank. Collective. */
core_status io_job_read_first(io_job *job, int count, const io_ckpt_section *sections);
/* After step `step` (counted from the run's start, resumes included): is
 * a stop requested (any rank's *stop) or a checkpoint due (rank 0's clock,
 * or step a multiple of checkpoint_every)? One reduction;
 * the same answers on every rank. Prints, on a stop, what to run next,
 * before the checkpoint is written. Collective. */
core_status io_job_poll(io_job *job, int64_t step, volatile sig_atomic_t *stop, int *stop_now, int *due);
/* The end of a long step (a batch of instances, a cycle): poll, and call
 * save(ctx) (the caller's checkpoint) when the run stops, a checkpoint is
 * due or step == total. Returns CORE_ERR_STOPPED when the run stops before
 * the end, after its save; a stop requested during the last step lets the
 * job complete (it says so, with no advice to resume). Collective. */
core_status io_job_step_end(io_job *job, int64_t step, int64_t total, volatile sig_atomic_t *stop,
                            core_status (*save)(void *ctx), void *ctx);
/* A stop seen inside a step (the step abandoned; its work returned
 * CORE_ERR_STOPPED), or after io_job_step_end's: say it (once) and save
 * step, the last finished one, unless it is saved. Collective. */
core_status io_job_stopped_inside(io_job *job, int64_t step, volatile sig_atomic_t *stop,
                                  core_status (*save)(void *ctx), void *ctx);
/* Write the checkpoint ("run" + sections, data from rank 0) after
 * checking that this run still holds its lock. Collective. */
core_status io_job_checkpoint(io_job *job, int count, const io_ckpt_section *sections);
/* A STAGED job's finished output: <out>.partial renamed to <out>, the
 * checkpoint removed. Collective. */
core_status io_job_publish(io_job *job);
/* Release the locks and free; accepts NULL, nulls the handle. Local. */
void io_job_end(io_job **job);

/* Remove "<path>.tmp.<digits>" files (io_atomic temporaries a killed run
 * left behind). Call holding the output's lock. Local. */
void io_remove_stale_temporaries(const char *path);

/* ---- output locks --------------------------------------------------------------- */

/* An exclusive advisory lock (flock) on "<path>.lock" held for a whole run:
 * a second run on the same output is refused at once, with a message
 * naming the holder (host, pid, start time, written into the lock file).
 * Release removes the lock file. Local (one process per output takes it). */
typedef struct {
  int fd;              /* -1: not held */
  char path[4096 + 8];
} io_lock;

core_status io_lock_acquire(const char *path, io_lock *lock);
/* CORE_ERR_IO if the lock file was removed or replaced since it was taken
 * (someone deleted it by hand: another run may now hold a new one). */
core_status io_lock_check(const io_lock *lock);
void io_lock_release(io_lock *lock);

/* ---- XYZ molecules ---------------------------------------------------------- */

/* A padded batch of molecules read from a (multi-frame) XYZ file. */
typedef struct {
  int64_t count;      /* B: number of frames */
  int64_t max_atoms;  /* N: largest frame */
  int64_t *natoms;    /* (B) atoms per frame */
  int *element;       /* (B, N) atomic numbers, 0 for padding */
  double *coords;     /* (B, N, 3) Angstrom, zeros for padding */
} io_molecules;

/* Read every frame of an XYZ file: a count line, a comment line, then one
 * "Symbol x y z" line per atom. Elements H..Rn by symbol (case-insensitive)
 * or by atomic number. Errors name the file, line and problem. Local. */
core_status io_xyz_read(const char *path, io_molecules *mol);
void io_molecules_free(io_molecules *mol);

/* Atomic number of an element symbol, 0 if unknown. */
int io_element_number(const char *symbol);

/* ---- structures sharded over ranks (lib/io/structures.c) ------------------ */

/* The rows [b_start, b_start + b_count) of B structures that one rank of
 * `size` owns (core_partition), from a (B, N, d) float32/float64 .npy (d
 * = 2 or 3; values finite) or a multi-frame XYZ file (d = 3, padded to the
 * largest frame, with atom counts and elements). */
typedef struct {
  int64_t batch, n_max;   /* B, N */
  int d;
  int64_t b_start, b_count;
  double *coords;         /* (b_count, n_max, d) */
  int64_t *natoms;        /* (b_count) or NULL */
  int *element;           /* (b_count, n_max) or NULL (XYZ only) */
} io_structures;

/* Read this rank's rows; errors name the file, the structure and the
 * atom. Local; io_structures_free frees. */
core_status io_structures_read(const char *path, int size, int rank, io_structures *s);
/* Atom counts of this rank's rows from an int32/int64 .npy of shape (B,).
 * Local. */
core_status io_structures_read_natoms(const char *path, io_structures *s);
/* Accepts a zeroed struct. */
void io_structures_free(io_structures *s);
/* A prediction and its reference: this rank's rows of both, of the same
 * shape, with the atom counts of natoms_path (NULL or "": none, or those
 * of XYZ files), which must agree between the two. Errors name both files.
 * Local. */
core_status io_structures_read_pair(const char *pred_path, const char *ref_path, const char *natoms_path, int size,
                                    int rank, io_structures *pred, io_structures *ref);
/* The ranks' rows (b_count x n_max x d values of dtype IO_F32 or IO_F64 on
 * each, laid out as `layout` was read) gathered to rank 0 of comm, which
 * writes them as one (B, N, d) .npy, atomically. Collective; the status is
 * agreed. */
core_status io_structures_write_gathered(MPI_Comm comm, const char *path, io_dtype dtype, const io_structures *layout,
                                         const void *rows);

/* ---- text lines ------------------------------------------------------------- */

/* The next line of a text file into buf, newline included when there is
 * one: IO_LINE, or IO_LINE_END at the end of the file. A line that does not
 * fit in size - 1 bytes (IO_LINE_TOO_LONG) or holds a NUL byte
 * (IO_LINE_NUL) is an error for the caller to name, never cut or read
 * short: fgets would hand back its first part and then its rest as the
 * next line. Local. */
enum { IO_LINE = 1, IO_LINE_END = 0, IO_LINE_TOO_LONG = -1, IO_LINE_NUL = -2 };
int io_text_line(FILE *fp, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
