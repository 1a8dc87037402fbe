/* The paper's Fig. 5 survey: how often random k-regular graphs are rigid
 * and globally rigid (rigidity.h has the contract).
 *
 * rigidity_survey_cells: pure. rigidity_survey_run: collective; each rank
 *   classifies its block of the samples of every cell (core_partition),
 *   then one MPI_Allreduce sums the counts: the same table on any rank
 *   count. rigidity_survey_table, rigidity_survey_csv: local. */
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"
#include "eloss/rigidity.h"

enum {
  BITS_SAMPLE = RIGIDITY_SURVEY_BITS_SAMPLE, BITS_D = RIGIDITY_SURVEY_BITS_D, BITS_K = RIGIDITY_SURVEY_BITS_K
};

/* Unique stream index of sample s of (n, k, d): the four values packed into
 * disjoint bit fields, so a graph does not depend on which other (n, k, d)
 * the survey lists, or in which order. Ranges are checked by the caller. */
static uint64_t survey_index(int64_t n, int k, int d, int64_t s) {
  return ((uint64_t)n << (BITS_SAMPLE + BITS_D + BITS_K)) |
         ((uint64_t)k << (BITS_SAMPLE + BITS_D)) | ((uint64_t)d << BITS_SAMPLE) | (uint64_t)s;
}

/* The cells of the survey: every (d, k, n) of the lists with n k even and
 * k < n, in that nesting order. Returns the count written to cells. */
int rigidity_survey_cells(const int64_t *ns, int n_ns, const int *ks, int n_ks, const int *ds, int n_ds,
                          rigidity_survey_cell *cells) {
  int count = 0;
  for (int a = 0; a < n_ds; ++a)
    for (int b = 0; b < n_ks; ++b)
      for (int c = 0; c < n_ns; ++c) {
        int64_t n = ns[c];
        int k = (int)ks[b], d = (int)ds[a];
        if ((n * k) % 2 != 0 || k >= n) continue;
        rigidity_survey_cell *cell = &cells[count++];
        memset(cell, 0, sizeof *cell);
        cell->n = n, cell->k = k, cell->d = d;
        int64_t target = n <= d + 1 ? n * (n - 1) / 2 : d * n - (int64_t)d * (d + 1) / 2;
        cell->by_count = n * k / 2 < target;
      }
  return count;
}

/* This rank's samples of every cell; counts are local on return. Stops at
 * the first failure (the caller agrees on it before any collective). */
static core_status survey_run_local(rigidity_survey_cell *cells, int n_cells, int64_t samples,
                                    uint64_t seed, int size, int rank, FILE *out) {
  int64_t local_n, local_start, total = 0, done = 0, max_edges = 0;
  core_partition(samples, size, rank, &local_n, &local_start);
  for (int c = 0; c < n_cells; ++c)
    if (!cells[c].by_count) {
      total += local_n;
      int64_t m = cells[c].n * cells[c].k / 2;
      if (m > max_edges) max_edges = m;
    }
  int32_t *edges = malloc(sizeof(int32_t) * 2 * (size_t)(max_edges > 0 ? max_edges : 1));
  CORE_CHECK(edges != NULL, CORE_ERR_MEM, "cannot allocate %lld edges", (long long)max_edges);

  core_progress progress;
  core_progress_start(&progress, "eloss rigidity: samples on rank 0", total, rank == 0 ? out : NULL);
  core_status st = CORE_OK;
  for (int c = 0; c < n_cells && !st; ++c) {
    rigidity_survey_cell *cell = &cells[c];
    if (cell->by_count) continue;
    int64_t n_edges = cell->n * cell->k / 2;
    for (int64_t s = local_start; s < local_start + local_n && !st; ++s) {
      core_rng rng;
      core_rng_init(&rng, seed, CORE_PURPOSE_EDGES, survey_index(cell->n, cell->k, cell->d, s));
      st = rigidity_regular_graph(cell->n, cell->k, &rng, edges);
      if (st) break;
      uint64_t placement_seed = core_rng_u64(&rng);
      rigidity_result r;
      st = rigidity_classify(cell->n, cell->d, n_edges, edges, placement_seed, &r);
      if (st) break;
      cell->rigid += r.rigid;
      cell->globally_rigid += r.globally_rigid;
      core_progress_update(&progress, ++done);
    }
  }
  free(edges);
  return st;
}

void rigidity_survey_table(FILE *out, const rigidity_survey_cell *cells, int n_cells, int64_t samples) {
  fprintf(out, "| n | k | d | samples | rigid | globally rigid | decided by |\n");
  fprintf(out, "|--:|--:|--:|--:|--:|--:|:--|\n");
  for (int c = 0; c < n_cells; ++c) {
    const rigidity_survey_cell *cell = &cells[c];
    fprintf(out, "| %lld | %d | %d | %lld | %.3f | %.3f | %s |\n", (long long)cell->n, cell->k,
            cell->d, (long long)(cell->by_count ? 0 : samples),
            cell->by_count ? 0.0 : (double)cell->rigid / (double)samples,
            cell->by_count ? 0.0 : (double)cell->globally_rigid / (double)samples,
            cell->by_count ? "edge count" : "sampling");
  }
  fflush(out);
}

core_status rigidity_survey_csv(const char *path, const rigidity_survey_cell *cells, int n_cells,
                              int64_t samples, uint64_t seed) {
  io_atomic_file f;
  CORE_CALL(io_atomic_open(&f, path));
  fprintf(f.fp, "n,k,d,samples,rigid,globally_rigid,frac_rigid,frac_globally_rigid,by_count,seed\n");
  for (int c = 0; c < n_cells; ++c) {
    const rigidity_survey_cell *cell = &cells[c];
    int64_t m = cell->by_count ? 0 : samples;
    fprintf(f.fp, "%lld,%d,%d,%lld,%lld,%lld,%.6f,%.6f,%d,%llu\n", (long long)cell->n, cell->k,
            cell->d, (long long)m, (long long)cell->rigid, (long long)cell->globally_rigid,
            m ? (double)cell->rigid / (double)m : 0.0,
            m ? (double)cell->globally_rigid / (double)m : 0.0, cell->by_count,
            (unsigned long long)seed);
  }
  return io_atomic_commit(&f); /* checks every write */
}

core_status rigidity_survey_run(MPI_Comm comm, rigidity_survey_cell *cells, int n_cells, int64_t samples,
                                uint64_t seed, FILE *progress) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  for (int c = 0; c < n_cells; ++c) cells[c].rigid = cells[c].globally_rigid = 0;
  core_status st = core_agree(comm, survey_run_local(cells, n_cells, samples, seed, size, rank, progress));
  /* Counts of every cell, summed over the ranks' blocks of samples. */
  int64_t *counts = st ? NULL : malloc(sizeof(int64_t) * 2 * (size_t)(n_cells > 0 ? n_cells : 1));
  if (!st) st = core_agree(comm, counts ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the survey counts"));
  if (!st) {
    for (int c = 0; c < n_cells; ++c) counts[2 * c] = cells[c].rigid, counts[2 * c + 1] = cells[c].globally_rigid;
    if (MPI_Allreduce(MPI_IN_PLACE, counts, 2 * n_cells, MPI_INT64_T, MPI_SUM, comm) != MPI_SUCCESS)
      st = CORE_ERROR(CORE_ERR_MPI, "MPI_Allreduce of the survey counts failed");
    for (int c = 0; c < n_cells && !st; ++c)
      cells[c].rigid = counts[2 * c], cells[c].globally_rigid = counts[2 * c + 1];
  }
  free(counts);
  return st;
}
