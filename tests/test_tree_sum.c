/* TAP test of core_tree_sum (lib/core/tree_sum.c), run under mpiexec on
 * 1, 2, 3, 4, 6 and 8 ranks: the sum of K shard vectors is, bit for bit
 * and on every rank, the serial tree sum computed here by a recursive
 * function of its own, for K = j P (j = 1 .. 6, 8: rank blocks of a power
 * of two shards and not), n = 0, 1, 2, 3, 5, 17, 1000 and 4099 floats (not
 * multiples of P). The values mix magnitudes (1e8, 1, 1e-3) so that
 * another grouping gives other bits: a line checks that a sequential sum
 * (the old chain's grouping) would fail. Known answers by hand; plan
 * reuse; refusals and a failure on one rank returned on every rank. */
#include <stdlib.h>
#include <string.h>

#include "eloss/core.h"
#include "tap.h"

static int rank, size;

/* All ranks agree that cond holds everywhere. */
static int all(int cond) {
  MPI_Allreduce(MPI_IN_PLACE, &cond, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  return cond;
}

/* Shard k's element i: a stream of its own, so every rank can draw every
 * shard whatever P is. */
static float shard_value(int k, size_t i, uint64_t seed) {
  static const float scale[5] = {1e8f, -1e8f, 1.0f, 2.385e-3f, -3.7f};
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_TEST, (uint64_t)k);
  core_rng_seek(&rng, 2 * (uint64_t)i);
  const uint32_t pick = core_rng_u32(&rng);
  return scale[pick % 5] * (float)(0.5 + (double)(core_rng_u32(&rng) >> 8) / 16777216.0);
}

/* The reference: node [lo, lo + width) ∩ [0, K), width a power of two,
 * = left half + right half; a right half past K leaves the left alone. */
static float tree_ref(float *const *g, int K, int lo, int width, size_t i) {
  if (width == 1) return g[lo][i];
  const int half = width / 2;
  if (lo + half >= K) return tree_ref(g, K, lo, half, i);
  return tree_ref(g, K, lo, half, i) + tree_ref(g, K, lo + half, half, i);
}

static void tree_ref_all(float *const *g, int K, size_t n, float *out) {
  int width = 1;
  while (width < K) width *= 2;
  for (size_t i = 0; i < n; ++i) out[i] = tree_ref(g, K, 0, width, i);
}

/* The chain's grouping: ((g0 + g1) + g2) + ... */
static void sequential_all(float *const *g, int K, size_t n, float *out) {
  for (size_t i = 0; i < n; ++i) {
    float s = g[0][i];
    for (int k = 1; k < K; ++k) s += g[k][i];
    out[i] = s;
  }
}

/* One sum of K shards of n floats drawn with `seed`: 1 if every rank got
 * the reference's bits. *seq_differs: the sequential sum has other bits. */
static int check_sum(const core_tree_sum *s, int K, size_t n, uint64_t seed, int *seq_differs) {
  const int M = K / size;
  float **g = malloc(sizeof *g * (size_t)K), **mine = malloc(sizeof *mine * (size_t)M);
  float *ref = malloc(sizeof(float) * (n + 1)), *seq = malloc(sizeof(float) * (n + 1));
  float *sum = malloc(sizeof(float) * (n + 1));
  const size_t w = core_tree_sum_work(s);
  float *work = w ? malloc(sizeof(float) * w) : NULL;
  for (int k = 0; k < K; ++k) {
    g[k] = malloc(sizeof(float) * (n + 1));
    for (size_t i = 0; i < n; ++i) g[k][i] = shard_value(k, i, seed);
  }
  for (int j = 0; j < M; ++j) {
    mine[j] = malloc(sizeof(float) * (n + 1));
    memcpy(mine[j], g[rank * M + j], sizeof(float) * n);
  }
  tree_ref_all(g, K, n, ref);
  sequential_all(g, K, n, seq);
  for (size_t i = 0; i < n; ++i) sum[i] = -0.0f * (float)i + 12345.0f; /* not the answer */
  const core_status st = core_tree_sum_execute(s, mine, work, sum);
  const int same = st == CORE_OK && memcmp(sum, ref, sizeof(float) * n) == 0;
  *seq_differs = n > 0 && memcmp(seq, ref, sizeof(float) * n) != 0;
  if (!same && n > 0) {
    size_t i = 0;
    while (i + 1 < n && sum[i] == ref[i]) ++i;
    fprintf(stderr, "rank %d of %d, K = %d, n = %zu: element %zu is %.9g, the tree gives %.9g (status %d)\n", rank,
            size, K, n, i, (double)sum[i], (double)ref[i], (int)st);
  }
  for (int k = 0; k < K; ++k) free(g[k]);
  for (int j = 0; j < M; ++j) free(mine[j]);
  free(g), free(mine), free(ref), free(seq), free(sum), free(work);
  return same;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_mpi_start(14, &rank, &size);

  /* Known answers, by hand. Shards 1e8, 1, -1e8, 1, 3, 5, 0.25, 2 (n = 1):
   * in float 1e8 + 1 = 1e8 (the spacing there is 8), so the tree gives
   * K = 4: (1e8 + 1) + (-1e8 + 1) = 1e8 - 1e8 = 0 (a chain: 1);
   * K = 6: ((1e8 + 1) + (-1e8 + 1)) + (3 + 5) = 8 (a chain: 9);
   * K = 8: 0 + ((3 + 5) + (0.25 + 2)) = 10.25 (a chain: 11.25). */
  {
    static const float g[8] = {1e8f, 1.0f, -1e8f, 1.0f, 3.0f, 5.0f, 0.25f, 2.0f};
    const int K = size <= 2 || size == 4 ? 4 : (size == 8 ? 8 : 6);
    const float want = K == 4 ? 0.0f : (K == 6 ? 8.0f : 10.25f);
    const int M = K / size;
    float one[8], *mine[8], sum = -1.0f;
    for (int j = 0; j < M; ++j) one[j] = g[rank * M + j], mine[j] = &one[j];
    core_tree_sum *s = NULL;
    core_status st = core_tree_sum_create(MPI_COMM_WORLD, K, 1, &s);
    float work[2];
    if (!st) st = core_tree_sum_execute(s, mine, work, &sum);
    tap_ok(all(!st && sum == want && core_tree_sum_work(s) <= 2),
           "K = %d shards of 1e8, 1, -1e8, 1, 3, 5, 0.25, 2 on %d ranks: %g, the tree's grouping (by hand: %g)", K,
           size, (double)sum, (double)want);
    core_tree_sum_destroy(&s);
  }

  /* K = j P for rank blocks of 1 .. 8 shards, each at every length. */
  static const size_t lengths[] = {0, 1, 2, 3, 5, 17, 1000, 4099};
  static const int per_rank[] = {1, 2, 3, 4, 5, 6, 8};
  int bites = 1;
  for (int b = 0; b < (int)(sizeof per_rank / sizeof *per_rank); ++b) {
    const int K = per_rank[b] * size;
    core_tree_sum *s[8] = {NULL};
    int same = 1;
    for (int c = 0; c < 8; ++c) {
      if (core_tree_sum_create(MPI_COMM_WORLD, K, lengths[c], &s[c]) != CORE_OK) {
        same = 0;
        continue;
      }
      int differs;
      same &= check_sum(s[c], K, lengths[c], 2385 + (uint64_t)c, &differs);
      if (K >= 4 && lengths[c] >= 17) bites &= differs;
    }
    tap_ok(all(same), "K = %d shards (%d per rank) on %d ranks, n = 0, 1, 2, 3, 5, 17, 1000, 4099: every rank has the "
           "serial tree sum's bits", K, per_rank[b], size);
    for (int c = 0; c < 8; ++c) core_tree_sum_destroy(&s[c]);
  }
  /* The checker bites: had the sum been added in shard order, the lines
   * above would have failed. */
  tap_ok(all(bites), "the data tell groupings apart: a sequential sum differs from the tree's for every K >= 4, n >= 17 (K <= 3: the same grouping)");

  /* One plan, many sums (the trainer's steps). */
  {
    const int K = 4 * size;
    core_tree_sum *s = NULL;
    int same = core_tree_sum_create(MPI_COMM_WORLD, K, 777, &s) == CORE_OK, differs;
    for (uint64_t step = 0; same && step < 3; ++step) same &= check_sum(s, K, 777, 99 + step, &differs);
    tap_ok(all(same), "one plan, three sums of new data: each the tree sum");
    core_tree_sum_destroy(&s);
  }

  /* Refusals, on every rank alike, with no plan. */
  {
    core_tree_sum *s = (core_tree_sum *)&s;
    core_status st = core_tree_sum_create(MPI_COMM_WORLD, 0, 10, &s);
    tap_ok(all(st == CORE_ERR_ARG && !s), "0 shards refused: %s", core_error_message());
    if (size > 1) {
      st = core_tree_sum_create(MPI_COMM_WORLD, size + 1, 10, &s);
      tap_ok(all(st == CORE_ERR_ARG && !s), "%d shards on %d ranks refused: %s", size + 1, size, core_error_message());
    } else {
      tap_ok(1, "# SKIP one rank divides every shard count");
    }
    st = core_tree_sum_create(MPI_COMM_WORLD, size, (size_t)1 << 31, &s);
    tap_ok(all(st == CORE_ERR_ARG && !s), "2^31 floats refused (MPI counts are int): %s", core_error_message());
  }

  /* An allocation failure on the last rank: every rank returns it. */
  {
    char spec[64];
    snprintf(spec, sizeof spec, "core.tree_sum:%d:1", size - 1);
    core_fault_configure(spec);
    core_tree_sum *s = NULL;
    const core_status st = core_tree_sum_create(MPI_COMM_WORLD, 2 * size, 100, &s);
    core_fault_configure(NULL);
    tap_ok(all(st == CORE_ERR_MEM && !s), "a failure on rank %d is every rank's: %s", size - 1, core_error_message());
  }
  const int rc = tap_done();
  MPI_Finalize();
  return rc;
}
