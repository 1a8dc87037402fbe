/* eloss core: status codes, counter-based random streams, ownership ranges,
 * timers and progress lines. Every other module depends on this one.
 *
 * Worked example:
 *
 *   core_rng rng;
 *   core_rng_init(&rng, seed, CORE_PURPOSE_EDGES, structure_index);
 *   double u = core_rng_uniform(&rng);          // same value on any rank
 *
 *   int64_t local_n, local_start;
 *   core_partition(batch, size, rank, &local_n, &local_start);
 *   for (int64_t b = local_start; b < local_start + local_n; ++b) ...
 *
 *   core_status st = some_call(...);
 *   st = core_agree(comm, st);                   // every rank returns together
 *   if (st) fprintf(stderr, "%s\n", core_error_message());
 */
#ifndef ELOSS_CORE_H
#define ELOSS_CORE_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* pi to double precision (strict C11 has no M_PI). */
#define CORE_PI 3.14159265358979323846

/* ---- status codes ------------------------------------------------------ */

typedef enum {
  CORE_OK = 0,
  CORE_ERR_ARG,         /* invalid argument: shape, range, option value   */
  CORE_ERR_IO,          /* the file system refused (open, write, rename)  */
  CORE_ERR_FORMAT,      /* a file is malformed or truncated               */
  CORE_ERR_VALUE,       /* NaN/inf or out-of-domain number in the data    */
  CORE_ERR_MEM,         /* allocation failed                              */
  CORE_ERR_MPI,         /* an MPI call failed                             */
  CORE_ERR_NUMERIC,     /* a numerical method did not converge            */
  CORE_ERR_UNSUPPORTED, /* valid request this build or module cannot do   */
  CORE_ERR_STOPPED,     /* a stop was requested (signal): work abandoned  */
  CORE_ERR_COUNT
} core_status;

/* Short name of a status code ("invalid argument", ...). */
const char *core_status_string(core_status code);

/* Record an error (message formatted like printf) and return `code`.
 * The message is what a user reads: name the file or argument, and say what
 * was expected and what was found. Thread-local; overwritten by the next
 * error. */
core_status core_error_set(core_status code, const char *file, int line,
                           const char *func, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The last recorded message, "" if none. */
const char *core_error_message(void);
/* Where the last error was raised: "file:line (function)". */
const char *core_error_origin(void);
void core_error_clear(void);

#define CORE_ERROR(code, ...) \
  core_error_set((code), __FILE__, __LINE__, __func__, __VA_ARGS__)

/* Return `code` with a message unless `cond` holds. */
#define CORE_CHECK(cond, code, ...)           \
  do {                                        \
    if (!(cond)) return CORE_ERROR(code, __VA_ARGS__); \
  } while (0)

/* Propagate a failing status to the caller. */
#define CORE_CALL(expr)                       \
  do {                                        \
    core_status core_call_status_ = (expr);   \
    if (core_call_status_ != CORE_OK) return core_call_status_; \
  } while (0)

/* Index of `name` in a table of `count` names (the library's option
 * vocabularies: spin_coupling_names, ...), or CORE_ERR_ARG with a message
 * naming `what` was looked up and listing the table. Local, pure. */
core_status core_name_lookup(const char *what, const char *const *names, int count, const char *name, int *index);

/* Append printf-formatted text at buf + *len (size bytes in all), cut at
 * size - 1; *len counts what was asked, so a cut line shows as *len >=
 * size. Pure. */
void core_appendf(char *buf, size_t size, size_t *len, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* v as the shortest %g text that reads back (strtod) to the same double:
 * the reals of a run's identity, exact and short ("0.001", not
 * "0.0010000000000000000208"). buf holds at least 32 bytes; returns buf.
 * Pure. */
const char *core_real_text(double v, char buf[32]);

/* The first option that differs between two option lines (was: a
 * file's, now: this run's), matched by name: "-name now (the file has
 * was)", "-name v (the file has no -name)" or "no -name (the file has
 * -name v)" in out: what a refused resume names. A word "-" and a letter
 * is an option, any other word its value. Returns 0, out untouched, if
 * the lines hold the same options and values. Local, pure. */
int core_options_difference(const char *was, const char *now, char *out, size_t len);

/* Collective on comm. Returns CORE_OK on every rank if `local` is CORE_OK on
 * every rank; otherwise every rank returns the status of the lowest failing
 * rank and holds its message, so rank 0 can print the one clear error and
 * nobody deadlocks in the next collective. */
core_status core_agree(MPI_Comm comm, core_status local);

/* ---- counter-based random streams -------------------------------------- */

/* A stream is a pure function of (seed, purpose, index): Philox4x32-10
 * (Salmon et al., SC'11) keyed by a 64-bit hash of (seed, purpose), with the
 * 128-bit counter = (draw number, index). Two streams with different
 * (purpose, index) never share a counter under the same key; different
 * seeds give different keys except with probability 2^-64. Nothing depends
 * on the rank that draws. The struct is plain bytes: copying it saves the
 * stream exactly. */
typedef struct {
  uint32_t key[2];
  uint32_t ctr[4]; /* ctr[0..1]: draw number, ctr[2..3]: index */
  uint32_t buf[4]; /* output block for the current counter */
  int used;        /* words of buf already handed out (4 = empty) */
} core_rng;

/* Purposes used across the suite; new modules add theirs here so streams
 * never collide by accident. Values below 256: a module may fold one more
 * index into the bits above (purpose | index << 8), as lib/mc does with the
 * instance number. */
enum {
  CORE_PURPOSE_TEST = 1,
  CORE_PURPOSE_EDGES = 2,      /* random regular graphs of the pool      */
  CORE_PURPOSE_EDGE_PICK = 3,  /* which pool graph a structure uses      */
  CORE_PURPOSE_RIGIDITY = 4,   /* generic placements and stresses         */
  CORE_PURPOSE_COUPLINGS = 5,  /* spin-glass couplings of an instance     */
  CORE_PURPOSE_MC = 6,         /* Monte Carlo moves of split lattices     */
  CORE_PURPOSE_INIT = 7,       /* initial configurations, weights         */
  CORE_PURPOSE_EXCHANGE = 8,   /* replica exchanges of parallel tempering */
  CORE_PURPOSE_MC_LANES = 9,   /* seeds of the chains' per-replica moves  */
  CORE_PURPOSE_NN = 10,        /* initial weights of lib/nn models, index = tensor */
  CORE_PURPOSE_BATCH = 11,     /* training batches: the example order of epoch index */
  CORE_PURPOSE_SHAPES = 12,    /* regular-shape samples: radius and rotation of sample index */
  CORE_PURPOSE_LJ = 13,        /* Lennard-Jones clusters: starts, moves, exchanges,
                                  basin hopping (lj.h folds which one in above bit 8) */
  CORE_PURPOSE_DENOISE = 14,   /* denoising: noise level, rotation and noise of a
                                  training draw or test draw (train.h folds which in above bit 8) */
  CORE_PURPOSE_DIFFUSION = 15  /* diffusion: a training draw's time step and noise, a sample's
                                  starting noise and step noises (diffusion.h folds which above bit 8) */
};

void core_rng_init(core_rng *rng, uint64_t seed, uint64_t purpose, uint64_t index);
/* Philox4x32-10 applied to one counter block (for known-answer tests and
 * kernels that draw whole blocks). */
void core_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]);
/* Jump to 32-bit word `word` of the stream (the next core_rng_u32 returns
 * it): counter-based streams seek in O(1), which lets a rank draw exactly
 * the numbers that belong to its own sites of a lattice. */
void core_rng_seek(core_rng *rng, uint64_t word);
uint32_t core_rng_u32(core_rng *rng);
uint64_t core_rng_u64(core_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double core_rng_uniform(core_rng *rng);
/* Uniform integer in [0, n), unbiased (rejection); n >= 1. */
uint64_t core_rng_below(core_rng *rng, uint64_t n);
/* Standard normal deviate (Box-Muller on two uniforms; no cached value so the
 * stream stays a plain function of its draw count). */
double core_rng_normal(core_rng *rng);
/* A rotation R (3 x 3, row-major) uniform on SO(3): the unit quaternion of
 * four normals from rng (uniform on S^3). Draws 4 normals. */
void core_rng_rotation(core_rng *rng, double R[9]);

/* ---- ownership ----------------------------------------------------------- */

/* Block distribution of n items over `size` ranks: rank r owns
 * [local_start, local_start + local_n); the first n % size ranks own one
 * more. Local, pure. */
void core_partition(int64_t n, int size, int rank, int64_t *local_n,
                    int64_t *local_start);

/* ---- a sum whose bits do not depend on the rank count --------------------- */

/* The sum of K vectors of n floats ("shards"), rank r of P holding shards
 * [r K/P, (r+1) K/P), grouped by one fixed binary tree over the shards:
 * node i of level l covers shards [i 2^l, (i+1) 2^l) ∩ [0, K) and is its
 * left child + its right child (a lone left child carried up). So the sum
 * has the same bits on any P dividing K; with K = 4 it is
 * ((g0 + g1) + (g2 + g3)). Log depth in K, and ~2 n (P-1)/P floats sent per
 * rank when P and K/P are powers of two (reduce-scatter by recursive
 * halving, then an allgather); lib/core/tree_sum.c has the layout.
 *
 *   core_tree_sum *s;
 *   core_tree_sum_create(comm, K, n, &s);              // once
 *   float *work = malloc(sizeof(float) * core_tree_sum_work(s) + 1);
 *   core_tree_sum_execute(s, bufs, work, sum);         // every step
 *   core_tree_sum_destroy(&s);
 */
typedef struct core_tree_sum core_tree_sum;

/* The plan for `shards` >= 1 shards of n floats (n <= INT_MAX) on comm,
 * whose size must divide shards (else CORE_ERR_ARG on every rank).
 * Collective on comm; *out NULL on failure. Fault site "core.tree_sum". */
core_status core_tree_sum_create(MPI_Comm comm, int shards, size_t n, core_tree_sum **out);
/* Floats of workspace execute needs on this rank (0, n or 2 n). Local. */
size_t core_tree_sum_work(const core_tree_sum *s);
/* sum (n floats, every rank) = the tree sum of the shards; bufs[j] (n
 * floats, j < K/P) holds this rank's shard r K/P + j and is overwritten;
 * work holds core_tree_sum_work(s) floats; sum overlaps neither. One
 * execute at a time per plan. Collective on the plan's communicator. */
core_status core_tree_sum_execute(const core_tree_sum *s, float *const *bufs, float *work, float *sum);
/* Collective (frees the plan's communicator); accepts NULL, nulls *s. */
void core_tree_sum_destroy(core_tree_sum **s);

/* ---- time and progress ------------------------------------------------- */

/* Monotonic wall-clock seconds. */
double core_time(void);

typedef struct {
  const char *label;
  int64_t total;
  int64_t first;   /* done at the start (a resumed run's): not this run's work */
  double t_start, t_last;
  double interval; /* seconds between lines */
  FILE *out;       /* NULL: silent (e.g. ranks other than 0) */
} core_progress;

void core_progress_start(core_progress *p, const char *label, int64_t total,
                         FILE *out);
/* A resumed job: `first` of `total` were done before this run; lines
 * count from the job's start, the rate and ETA from this run's work. */
void core_progress_resume(core_progress *p, int64_t first);
/* Print "label: done/total (pct%) rate/s ETA" if `interval` has passed or
 * done == total. */
void core_progress_update(core_progress *p, int64_t done);

/* ---- fault injection (tests) -------------------------------------------- */

/* Tests prove that a collective path survives a failure on one rank: the
 * library marks the places where a local failure can happen (an allocation,
 * a write) with core_fault("site"), and a test makes the k-th pass through
 * one site fail on one rank. The spec is "site:rank:k" (k >= 1; rank -1
 * means every rank), read from the environment variable ELOSS_FAULT by
 * the eloss program at start-up or set by a test program; NULL or ""
 * disables injection. Sites in use are listed in docs/design.md. Not
 * thread-safe: sites are passed from one thread. */
core_status core_fault_configure(const char *spec);
/* 1 if this pass through `site` must fail on this rank, else 0. Local. */
int core_fault(const char *site);

#ifdef __cplusplus
}
#endif
#endif
