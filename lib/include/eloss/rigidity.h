/* eloss rigidity: random regular graphs, and whether a graph's distances fix
 * a point cloud up to rigid motion, the reason the sparse energy loss
 * (paper Sec. 4.3, App. A.5) keeps the minimisers of the complete one.
 *
 * Worked example:
 *
 *   core_rng rng;
 *   core_rng_init(&rng, seed, CORE_PURPOSE_EDGES, 0);
 *   int32_t *edges = malloc(sizeof(int32_t) * 2 * (n * k / 2));   // (E, 2)
 *   rigidity_regular_graph(n, k, &rng, edges);
 *   rigidity_result r;
 *   rigidity_classify(n, d, n * k / 2, edges, seed, &r);
 *   // r.rigid, r.globally_rigid
 *
 * Edges are unordered pairs of 0-based vertex indices stored as rows (E, 2)
 * of int32. */
#ifndef ELOSS_RIGIDITY_H
#define ELOSS_RIGIDITY_H

#include <stdint.h>
#include <stdio.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A uniformly drawn-looking simple k-regular graph on n vertices (no
 * self-loops, no multi-edges): configuration-model pairing followed by
 * random edge switches that remove loops and multi-edges. Writes n*k/2 rows
 * into edges (E, 2) with row[0] < row[1]. Requires n > k >= 1, n*k even and
 * n <= INT32_MAX (else CORE_ERR_ARG); CORE_ERR_MEM if its (n k) int32
 * workspace cannot be allocated. Deterministic given the stream. Local. */
core_status rigidity_regular_graph(int64_t n, int k, core_rng *rng, int32_t *edges);

typedef struct {
  int rigid;               /* infinitesimally rigid at a generic placement */
  int globally_rigid;      /* passes the random stress test               */
  int64_t rigidity_rank;   /* rank of the (E, d n) rigidity matrix        */
  int64_t rigidity_target; /* d n - d(d+1)/2 (or E of K_n for n <= d+1)   */
  int64_t stress_rank;     /* rank of the random equilibrium stress matrix */
  int64_t stress_target;   /* n - d - 1 (both 0 when n <= d + 1: no test)  */
} rigidity_result;

/* Classify a graph in dimension d (1..3) at a generic placement drawn from
 * the stream (seed, CORE_PURPOSE_RIGIDITY, 0):
 * - infinitesimal rigidity: rank of the rigidity matrix equals
 *   d n - d(d+1)/2 (Asimow-Roth);
 * - global rigidity: Gortler-Healy-Thurston random stress test, rank of a
 *   random equilibrium stress matrix equals n - d - 1 (for n >= d + 2;
 *   complete graphs on n <= d + 1 vertices are globally rigid).
 * Ranks use the GSL SVD with tolerance sigma_max * max(rows, cols) * 1e-10
 * (why this value: lib/rigidity/classify.c). Dense: O((E + d n)^3) time,
 * meant for graphs of up to a few hundred vertices. Repeated edges are
 * allowed. Errors: an edge index outside [0, n), a self-loop, d outside
 * 1..3, n < 1. Local. */
core_status rigidity_classify(int64_t n, int d, int64_t n_edges,
                              const int32_t *edges, uint64_t seed,
                              rigidity_result *result);

/* ---- the paper's Fig. 5 survey (lib/rigidity/survey.c) ----------------------
 *
 * How often are random k-regular graphs on n vertices rigid and globally
 * rigid in d dimensions?
 *
 *   rigidity_survey_cell cells[RIGIDITY_SURVEY_MAX];
 *   int count = rigidity_survey_cells(ns, n_ns, ks, n_ks, ds, n_ds, cells);
 *   rigidity_survey_run(comm, cells, count, samples, seed, stderr);
 *   rigidity_survey_table(stdout, cells, count, samples);   // Markdown
 *   rigidity_survey_csv("fig5.csv", cells, count, samples, seed);
 *
 * Sample s of cell (n, k, d) draws its graph and placement from the stream
 * (seed, CORE_PURPOSE_EDGES, n, k, d, s packed into bit fields): a graph
 * depends neither on the other cells listed nor on the rank count. */
enum {
  RIGIDITY_SURVEY_BITS_SAMPLE = 32, RIGIDITY_SURVEY_BITS_D = 2, RIGIDITY_SURVEY_BITS_K = 10,
  RIGIDITY_SURVEY_BITS_N = 20, RIGIDITY_SURVEY_MAX_LIST = 64
};

typedef struct {
  int64_t n;
  int k, d;
  int by_count;                  /* decided by the edge count, no sampling */
  int64_t rigid, globally_rigid; /* counts over the samples */
} rigidity_survey_cell;

/* The cells: every (d, k, n) of the lists (that nesting order) with n k
 * even and k < n; n < 2^20, k < 2^10, d <= 3. Returns their count; cells
 * holds n_ns n_ks n_ds. Pure. */
int rigidity_survey_cells(const int64_t *ns, int n_ns, const int *ks, int n_ks, const int *ds, int n_ds,
                          rigidity_survey_cell *cells);
/* Classify `samples` graphs of every cell not decided by its edge count,
 * the samples sharded over the ranks of comm, and sum the counts on every
 * rank. A progress line (rank 0) goes to progress when not NULL.
 * Collective. */
core_status rigidity_survey_run(MPI_Comm comm, rigidity_survey_cell *cells, int n_cells, int64_t samples,
                                uint64_t seed, FILE *progress);
/* The table as Markdown (fractions of the samples). Local. */
void rigidity_survey_table(FILE *out, const rigidity_survey_cell *cells, int n_cells, int64_t samples);
/* The table as CSV, atomically (io_atomic: a failed write leaves no
 * file). Local. */
core_status rigidity_survey_csv(const char *path, const rigidity_survey_cell *cells, int n_cells, int64_t samples,
                                uint64_t seed);

#ifdef __cplusplus
}
#endif
#endif
