/* eloss rigidity: is a graph (globally) rigid, and how often are random
 * k-regular graphs? The second question is the paper's Fig. 5 (App. A.5),
 * the evidence that the sparse energy loss over a random 2d-regular graph
 * keeps the minimisers of the complete one.
 *
 * Two modes, chosen by whether -edges is given:
 *
 *   eloss rigidity -edges E.npy -d D [-n N] [-seed S]
 *     E: int32 or int64 .npy of shape (E, 2), 0-based vertex pairs. Prints
 *     exactly one line "rigid=0|1 globally_rigid=0|1" on stdout (rank 0).
 *     n defaults to the largest index + 1. Every rank classifies the same
 *     graph (it is small); bad input gives one error naming the file.
 *
 *   eloss rigidity [-survey_n 10,20,50,100] [-survey_k 2,3,4,5,6]
 *                  [-survey_d 2,3] [-samples 300] [-csv out.csv] [-seed S]
 *     For every (n, k, d) with n k even and k < n: the fraction of `samples`
 *     random k-regular graphs that are infinitesimally rigid and globally
 *     rigid in R^d. Prints a Markdown table on stdout, progress on stderr,
 *     and writes the CSV atomically (temp file + rename) if -csv is given.
 *     The figure itself is drawn by jobs/plot_rigidity.py from the CSV;
 *     jobs/rigidity-fig5 runs both. (Keeping Python out of the C program
 *     means a survey on a cluster node needs no matplotlib.)
 *
 * Determinism and parallelism: sample s of (n, k, d) draws its graph from
 * the stream (seed, CORE_PURPOSE_EDGES, index(n, k, d, s)) and then, from the
 * same stream, the seed of its generic placement, so each sample is a pure
 * function of (seed, n, k, d, s). The samples of each (n, k, d) are split
 * into contiguous blocks over MPI ranks (core_partition) and the integer
 * counts summed with MPI_Allreduce: the table and CSV are identical for any
 * number of ranks.
 *
 * Edge count (Maxwell): a graph with fewer edges than the rigidity target
 * d n - d(d+1)/2 cannot be rigid, since the rank of its (E, d n) rigidity
 * matrix is at most E. Every k-regular graph has n k / 2 edges, so such a
 * (n, k, d) is recorded as 0 rigid and 0 globally rigid without drawing
 * graphs, and marked "edge count" in the table (by_count = 1 in the CSV).
 * This skips the factorisations whose answer is a theorem, about half the
 * survey's time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/rigidity.h"

static const char help[] =
    "eloss rigidity: rigidity and global rigidity of graphs (paper App. A.5, Fig. 5).\n"
    "\n"
    "  eloss rigidity -edges E.npy -d D [-n N] [-seed S]\n"
    "      one graph: prints 'rigid=0|1 globally_rigid=0|1'\n"
    "  eloss rigidity [-survey_n ...] [-survey_k ...] [-survey_d ...] [-samples M] [-csv F]\n"
    "      survey of random k-regular graphs: Markdown table on stdout, CSV with -csv.\n"
    "      The default survey (n = 10,20,50,100; k = 2..6; d = 2,3; 300 samples) takes\n"
    "      about a minute on one core; jobs/rigidity-fig5 runs the paper's 1000 samples\n"
    "      and draws the figure with jobs/plot_rigidity.py.\n"
    "\n"
    "Infinitesimal rigidity: rank of the rigidity matrix at a random generic placement.\n"
    "Global rigidity: Gortler-Healy-Thurston random equilibrium stress test.\n";

/* ---- one graph from a file ------------------------------------------------- */

/* Read an (E, 2) int32/int64 .npy into int32 pairs, checking indices against
 * n_given (if > 0) or setting *n to the largest index + 1. Errors name the
 * file. On success the caller frees *edges. */
static core_status edges_load(const char *path, int64_t n_given, int32_t **edges,
                              int64_t *n_edges, int64_t *n) {
  CORE_CALL(io_edges_read(path, n_given, edges, n_edges, n));
  if (*n == 0) {
    free(*edges);
    *edges = NULL;
    return CORE_ERROR(CORE_ERR_VALUE, "%s: the edge list is empty; give the vertex count with -n", path);
  }
  return CORE_OK;
}

static core_status classify_file(const char *path, int d, int64_t n_given, uint64_t seed,
                                 rigidity_result *r, int64_t *n, int64_t *n_edges) {
  int32_t *edges = NULL;
  CORE_CALL(edges_load(path, n_given, &edges, n_edges, n));
  core_status st = rigidity_classify(*n, d, *n_edges, edges, seed, r);
  free(edges);
  return st;
}

enum { MAX_LIST = RIGIDITY_SURVEY_MAX_LIST };

typedef struct {
  char edges[PETSC_MAX_PATH_LEN], csv[PETSC_MAX_PATH_LEN];
  PetscInt d, n, seed, samples, ns[MAX_LIST], ks[MAX_LIST], ds[MAX_LIST], n_ns, n_ks, n_ds;
  PetscBool edges_set;
} rigidity_args;

static PetscErrorCode rigidity_options(void *opts) {
  rigidity_args *a = opts;
  const PetscInt ns[] = {10, 20, 50, 100}, ks[] = {2, 3, 4, 5, 6}, ds[] = {2, 3};
  memcpy(a->ns, ns, sizeof ns), memcpy(a->ks, ks, sizeof ks), memcpy(a->ds, ds, sizeof ds);
  a->n_ns = 4, a->n_ks = 5, a->n_ds = 2; /* how many defaults each list holds */
  a->seed = 2511, a->samples = 300;
  PetscBool d_set, n_set, ns_set, ks_set, ds_set, samples_set, csv_set, set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss rigidity options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-edges", "one graph: (E,2) int32/int64 .npy of 0-based vertex pairs "
                           "(without it: the survey)", "a file name", a->edges, sizeof a->edges, &a->edges_set));
  PetscCall(app_opt_int(po, "-d", "one graph: dimension, required with -edges", 1, 3, &a->d, &d_set));
  PetscCall(app_opt_int(po, "-n", "one graph: vertex count (0: largest index in -edges + 1)", 0, PETSC_MAX_INT, &a->n,
                        &n_set));
  PetscCall(app_opt_int(po, "-seed", "random seed of placements, stresses and survey graphs", 0, PETSC_MAX_INT,
                        &a->seed, &set));
  /* The stream index packs n, k, d into bit fields (rigidity.h). */
  PetscCall(app_opt_int_list(po, "-survey_n", "survey: vertex counts n", 2, (1 << RIGIDITY_SURVEY_BITS_N) - 1,
                             MAX_LIST, a->ns, &a->n_ns, &ns_set));
  PetscCall(app_opt_int_list(po, "-survey_k", "survey: degrees k", 1, (1 << RIGIDITY_SURVEY_BITS_K) - 1, MAX_LIST,
                             a->ks, &a->n_ks, &ks_set));
  PetscCall(app_opt_int_list(po, "-survey_d", "survey: dimensions d", 1, 3, MAX_LIST, a->ds, &a->n_ds, &ds_set));
  PetscCall(app_opt_int(po, "-samples", "survey: random graphs per (n, k, d)", 1, PETSC_MAX_INT, &a->samples,
                        &samples_set));
  PetscCall(app_opt_string(po, "-csv", "survey: write the table as CSV here (atomically)", "a file name", a->csv,
                           sizeof a->csv, &csv_set));
  PetscOptionsEnd();

  /* -edges picks the mode: one graph takes -d and -n, the survey the rest. */
  if (a->edges_set) {
    const char *survey_why = "belongs to the survey; it cannot be combined with -edges";
    app_option_inapplicable("-survey_n", ns_set, survey_why);
    app_option_inapplicable("-survey_k", ks_set, survey_why);
    app_option_inapplicable("-survey_d", ds_set, survey_why);
    app_option_inapplicable("-samples", samples_set, survey_why);
    app_option_inapplicable("-csv", csv_set, survey_why);
    if (!d_set) app_option_error("-edges", "needs -d 1, 2 or 3 (not given)");
  } else {
    const char *graph_why = "applies to one graph given with -edges; the survey takes -survey_d and -survey_n";
    app_option_inapplicable("-d", d_set, graph_why);
    app_option_inapplicable("-n", n_set, graph_why);
  }
  return 0;
}

static int classify_main(const rigidity_args *a) {
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  rigidity_result r;
  int64_t n_vertices = 0, n_edges = 0;
  core_status st = classify_file(a->edges, (int)a->d, a->n, (uint64_t)a->seed, &r, &n_vertices, &n_edges);
  st = core_agree(MPI_COMM_WORLD, st);
  if (st) return app_report("rigidity", st);
  if (rank == 0) {
    fprintf(stderr,
            "eloss rigidity: %s: n = %lld, E = %lld, d = %d, seed = %d: rigidity rank %lld of "
            "%lld, stress rank %lld of %lld\n",
            a->edges, (long long)n_vertices, (long long)n_edges, (int)a->d, (int)a->seed,
            (long long)r.rigidity_rank, (long long)r.rigidity_target,
            (long long)r.stress_rank, (long long)r.stress_target);
    printf("rigid=%d globally_rigid=%d\n", r.rigid, r.globally_rigid);
    fflush(stdout);
  }
  return 0;
}

static int rigidity_main(void *opts) {
  const rigidity_args *a = opts;
  if (a->edges_set) return classify_main(a);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int64_t n_list[MAX_LIST];
  int k_list[MAX_LIST], d_list[MAX_LIST];
  for (PetscInt i = 0; i < a->n_ns; ++i) n_list[i] = a->ns[i];
  for (PetscInt i = 0; i < a->n_ks; ++i) k_list[i] = (int)a->ks[i];
  for (PetscInt i = 0; i < a->n_ds; ++i) d_list[i] = (int)a->ds[i];
  rigidity_survey_cell *cells = malloc(sizeof *cells * (size_t)(a->n_ns * a->n_ks * a->n_ds));
  core_status st =
      core_agree(MPI_COMM_WORLD, cells ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the survey table"));
  const int n_cells =
      st ? 0 : rigidity_survey_cells(n_list, (int)a->n_ns, k_list, (int)a->n_ks, d_list, (int)a->n_ds, cells);
  if (!st && n_cells == 0) st = CORE_ERROR(CORE_ERR_ARG, "the survey lists no (n, k, d) with n*k even and k < n");
  if (!st && rank == 0)
    fprintf(stderr, "eloss rigidity: survey of %d (n, k, d) cells, %d samples each, seed %d, %d rank%s, csv %s\n",
            n_cells, (int)a->samples, (int)a->seed, size, size > 1 ? "s" : "", a->csv[0] ? a->csv : "(none)");
  const double t0 = core_time();
  if (!st) st = rigidity_survey_run(MPI_COMM_WORLD, cells, n_cells, a->samples, (uint64_t)a->seed, stderr);
  if (!st && rank == 0) {
    fprintf(stderr, "eloss rigidity: survey done in %.1f s\n", core_time() - t0);
    /* CSV first: if it cannot be written, nothing is printed either. */
    if (a->csv[0]) st = rigidity_survey_csv(a->csv, cells, n_cells, a->samples, (uint64_t)a->seed);
    if (!st) rigidity_survey_table(stdout, cells, n_cells, a->samples);
  }
  st = core_agree(MPI_COMM_WORLD, st);
  free(cells);
  return st ? app_report("rigidity", st) : 0;
}

const app_command app_rigidity_command = {
    .name = "rigidity",
    .summary = "rigidity of a graph; Fig. 5 random regular graph survey",
    .help = help,
    .size = sizeof(rigidity_args),
    .options = rigidity_options,
    .run = rigidity_main,
};
