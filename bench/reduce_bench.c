/* Timing of the trainer's gradient sum (core_tree_sum) against the chain
 * it replaced and against MPI_Allreduce, on the ranks of mpirun.
 *
 *   mpirun -n P build/bench/reduce_bench [shards [n ...]]
 *   (defaults: 8 shards; n = 1e5, 1e6, 4e6 floats)
 *
 * Each of the K shards is a vector of n floats; rank r holds K/P of them.
 * Three ways to give every rank their sum:
 *   tree      core_tree_sum_execute (fixed tree over the shards: the same
 *             bits on any P);
 *   chain     the trainer's former sum, kept here as the baseline: rank 0
 *             adds its shards in order and sends the partial sum to rank 1,
 *             which adds its own, ...; the last rank broadcasts (the same
 *             bits on any P, P - 1 sequential hops);
 *   allreduce each rank adds its own shards, then MPI_Allreduce (Open MPI
 *             picks the algorithm: its bits change with P).
 * Each is timed from a barrier to its end on the slowest rank, median of
 * `reps` runs after one warm-up; the shard buffers are refilled (untimed)
 * before each run, since the tree sums in place. Prints one line per n:
 *   ranks=.. shards=.. n=.. tree_ms=.. chain_ms=.. allreduce_ms=..
 *   chain_over_tree=.. tree_over_allreduce=..
 * Ranks beyond the cores (mpirun --oversubscribe) share them: then the
 * times say little about a cluster (docs/train.md has the cost model). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/core.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The former chain: sum on every rank = ((g0 + g1) + g2) + ... */
static void chain_sum(MPI_Comm comm, float *const *bufs, int mine, float *restrict sum, size_t n) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  int j = 0;
  if (rank == 0) memcpy(sum, bufs[0], sizeof(float) * n), j = 1;
  else MPI_Recv(sum, (int)n, MPI_FLOAT, rank - 1, 0, comm, MPI_STATUS_IGNORE);
  for (; j < mine; ++j) {
    const float *restrict g = bufs[j];
    for (size_t i = 0; i < n; ++i) sum[i] += g[i];
  }
  if (rank + 1 < size) MPI_Send(sum, (int)n, MPI_FLOAT, rank + 1, 0, comm);
  MPI_Bcast(sum, (int)n, MPI_FLOAT, size - 1, comm);
}

static void allreduce_sum(MPI_Comm comm, float *const *bufs, int mine, float *restrict sum, size_t n) {
  memcpy(sum, bufs[0], sizeof(float) * n);
  for (int j = 1; j < mine; ++j) {
    const float *restrict g = bufs[j];
    for (size_t i = 0; i < n; ++i) sum[i] += g[i];
  }
  MPI_Allreduce(MPI_IN_PLACE, sum, (int)n, MPI_FLOAT, MPI_SUM, comm);
}

enum { TREE, CHAIN, ALLREDUCE, METHODS };

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int K = argc > 1 ? atoi(argv[1]) : 8;
  size_t lengths[16] = {100000, 1000000, 4000000};
  int count = 3;
  if (argc > 2)
    for (count = 0; count < 16 && count + 2 < argc; ++count) lengths[count] = (size_t)atof(argv[count + 2]);
  if (K < 1 || K % size) {
    if (rank == 0) fprintf(stderr, "reduce_bench: %d ranks do not divide %d shards\n", size, K);
    MPI_Finalize();
    return 1;
  }
  const int M = K / size;
  for (int c = 0; c < count; ++c) {
    const size_t n = lengths[c];
    core_tree_sum *s = NULL;
    if (core_tree_sum_create(MPI_COMM_WORLD, K, n, &s)) {
      if (rank == 0) fprintf(stderr, "reduce_bench: %s\n", core_error_message());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    float **pristine = malloc(sizeof(float *) * (size_t)M), **bufs = malloc(sizeof(float *) * (size_t)M);
    float *sum = malloc(sizeof(float) * n), *work = malloc(sizeof(float) * (core_tree_sum_work(s) + 1));
    for (int j = 0; j < M; ++j) {
      pristine[j] = malloc(sizeof(float) * n), bufs[j] = malloc(sizeof(float) * n);
      core_rng rng;
      core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, (uint64_t)(rank * M + j));
      for (size_t i = 0; i < n; ++i) pristine[j][i] = (float)(core_rng_uniform(&rng) - 0.5);
    }
    /* About 0.5 s of each method at 1 GB/s, at least 5 and at most 41 runs. */
    int reps = (int)(5e8 / (4.0 * (double)n * (double)K));
    reps = reps < 5 ? 5 : (reps > 41 ? 41 : reps);
    double *t[METHODS], median[METHODS];
    for (int m = 0; m < METHODS; ++m) t[m] = malloc(sizeof(double) * (size_t)reps);
    for (int r = -1; r < reps; ++r)
      for (int m = 0; m < METHODS; ++m) {
        for (int j = 0; j < M; ++j) memcpy(bufs[j], pristine[j], sizeof(float) * n);
        MPI_Barrier(MPI_COMM_WORLD);
        const double t0 = core_time();
        if (m == TREE) core_tree_sum_execute(s, bufs, work, sum);
        else if (m == CHAIN) chain_sum(MPI_COMM_WORLD, bufs, M, sum, n);
        else allreduce_sum(MPI_COMM_WORLD, bufs, M, sum, n);
        double dt = core_time() - t0;
        MPI_Allreduce(MPI_IN_PLACE, &dt, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (r >= 0) t[m][r] = dt;
      }
    for (int m = 0; m < METHODS; ++m) {
      qsort(t[m], (size_t)reps, sizeof(double), cmp);
      median[m] = 1e3 * t[m][reps / 2];
      free(t[m]);
    }
    if (rank == 0)
      printf("ranks=%d shards=%d n=%zu tree_ms=%.3f chain_ms=%.3f allreduce_ms=%.3f chain_over_tree=%.2f "
             "tree_over_allreduce=%.2f reps=%d\n",
             size, K, n, median[TREE], median[CHAIN], median[ALLREDUCE], median[CHAIN] / median[TREE],
             median[TREE] / median[ALLREDUCE], reps);
    fflush(stdout);
    for (int j = 0; j < M; ++j) free(pristine[j]), free(bufs[j]);
    free(pristine), free(bufs), free(sum), free(work);
    core_tree_sum_destroy(&s);
  }
  MPI_Finalize();
  return 0;
}
