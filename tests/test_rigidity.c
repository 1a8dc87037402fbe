/* TAP test of the rigidity module: the random regular graph generator and the
 * rigidity / global rigidity classifier behind the sparse energy loss
 * (paper Sec. 4.3, App. A.5, Fig. 5).
 *
 * What is checked, and where each known answer comes from:
 * - Frameworks whose answer is classical (Asimow-Roth counting, Hendrickson's
 *   necessary conditions, Connelly's K_{5,5}): cycles flex in 2D, K3 and K4
 *   are globally rigid in 2D, K4 minus an edge is rigid but not globally
 *   rigid (it folds), two K4 sharing one vertex satisfy the edge count but
 *   turn about the shared vertex, the 3D double banana satisfies
 *   E = 3n - 6 but flexes about the axis through its two hinge vertices
 *   (one more bar makes it rigid, still not globally: a 2-vertex cut), K5 is
 *   globally rigid in 3D,
 *   K_{5,5} is rigid in 3D but not globally rigid (Connelly 1991: K_{m,n}
 *   with m + n = (d+1)(d+2)/2 and m, n >= d + 1). In 1D a cycle is globally
 *   rigid and a path only rigid (a path's tail can be reflected).
 * - The paper's claim (Fig. 5): random 2d-regular graphs on n = 20 vertices
 *   are globally rigid in d = 2 and d = 3 in at least 99% of 1000 samples.
 * - The generator: every output is a simple graph with all degrees k
 *   (n = 300000, k = 4 in under a second, and small cases down to n = k + 1),
 *   the same stream gives the same graph and other streams other graphs.
 *   The simplicity checker is itself fed a broken graph to prove it bites.
 * - Error paths return a non-zero status with a message.
 * No MPI call is made: the functions tested are local. */
#include <stdlib.h>
#include <string.h>

#include "eloss/rigidity.h"
#include "tap.h"

static const uint64_t SEED = 20251103u;

/* 1 iff edges (E, 2) on n vertices has i < j in every row, no repeated row
 * and every degree equal to k. Sorting by (i, j) finds repeats. */
static int cmp_pair(const void *a, const void *b) {
  const int32_t *x = a, *y = b;
  if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
  if (x[1] != y[1]) return x[1] < y[1] ? -1 : 1;
  return 0;
}

static int is_simple_regular(int64_t n, int k, int64_t n_edges, const int32_t *edges) {
  int32_t *sorted = malloc(sizeof(int32_t) * 2 * (size_t)n_edges);
  int64_t *degree = calloc((size_t)n, sizeof(int64_t));
  int ok = sorted && degree;
  for (int64_t e = 0; ok && e < n_edges; ++e) {
    int32_t i = edges[2 * e], j = edges[2 * e + 1];
    if (i < 0 || j >= n || i >= j) ok = 0;
    else {
      ++degree[i];
      ++degree[j];
    }
  }
  for (int64_t v = 0; ok && v < n; ++v) ok = degree[v] == k;
  if (ok) {
    memcpy(sorted, edges, sizeof(int32_t) * 2 * (size_t)n_edges);
    qsort(sorted, (size_t)n_edges, 2 * sizeof(int32_t), cmp_pair);
    for (int64_t e = 1; ok && e < n_edges; ++e)
      ok = cmp_pair(sorted + 2 * (e - 1), sorted + 2 * e) != 0;
  }
  free(sorted);
  free(degree);
  return ok;
}

/* Classify and report; returns the status. */
static core_status classify(int64_t n, int d, int64_t n_edges, const int32_t *edges,
                            rigidity_result *r) {
  memset(r, 0, sizeof *r);
  core_status st = rigidity_classify(n, d, n_edges, edges, SEED, r);
  if (st) tap_diag("rigidity_classify failed: %s", core_error_message());
  return st;
}

static void check_framework(const char *name, int64_t n, int d, int64_t n_edges,
                            const int32_t *edges, int want_rigid, int want_global) {
  rigidity_result r;
  core_status st = classify(n, d, n_edges, edges, &r);
  tap_ok(st == CORE_OK && r.rigid == want_rigid && r.globally_rigid == want_global,
         "%s in %dD: rigid=%d (want %d) globally_rigid=%d (want %d) "
         "[rank %lld/%lld, stress rank %lld/%lld]",
         name, d, r.rigid, want_rigid, r.globally_rigid, want_global,
         (long long)r.rigidity_rank, (long long)r.rigidity_target,
         (long long)r.stress_rank, (long long)r.stress_target);
}

/* All pairs of the vertex list v (m entries) appended to edges at *count,
 * skipping the pair (skip_a, skip_b) (pass -1 to keep all). */
static void add_clique(int32_t *edges, int64_t *count, const int32_t *v, int m,
                       int32_t skip_a, int32_t skip_b) {
  for (int a = 0; a < m; ++a)
    for (int b = a + 1; b < m; ++b) {
      if ((v[a] == skip_a && v[b] == skip_b) || (v[a] == skip_b && v[b] == skip_a)) continue;
      edges[2 * *count] = v[a];
      edges[2 * *count + 1] = v[b];
      ++*count;
    }
}

static void test_frameworks(void) {
  int32_t e[2 * 64];
  int64_t m;

  /* C_7: 7 edges < 2n - 3 = 11. */
  m = 0;
  for (int32_t i = 0; i < 7; ++i) {
    e[2 * m] = i;
    e[2 * m + 1] = (i + 1) % 7;
    ++m;
  }
  check_framework("cycle C_7", 7, 2, m, e, 0, 0);
  check_framework("cycle C_7", 7, 1, m, e, 1, 1);
  check_framework("path P_7 (C_7 minus an edge)", 7, 1, m - 1, e, 1, 0);

  int32_t k4[4] = {0, 1, 2, 3};
  m = 0;
  add_clique(e, &m, k4, 4, -1, -1);
  check_framework("K4", 4, 2, m, e, 1, 1);
  {
    rigidity_result r;
    core_status st = classify(4, 2, m, e, &r);
    tap_ok(st == CORE_OK && r.rigidity_rank == 5 && r.rigidity_target == 5 &&
               r.stress_rank == 1 && r.stress_target == 1,
           "K4 in 2D: rigidity rank 5 = 2n-3 and its one stress has rank n-d-1 = 1 "
           "(got %lld, %lld)",
           (long long)r.rigidity_rank, (long long)r.stress_rank);
  }
  m = 0;
  add_clique(e, &m, k4, 4, 2, 3);
  check_framework("K4 minus an edge (folds across its diagonal)", 4, 2, m, e, 1, 0);

  int32_t k3[3] = {0, 1, 2};
  m = 0;
  add_clique(e, &m, k3, 3, -1, -1);
  check_framework("triangle K3", 3, 2, m, e, 1, 1);
  {
    rigidity_result r;
    core_status st = classify(3, 2, m, e, &r);
    tap_ok(st == CORE_OK && r.rigidity_rank == 3 && r.rigidity_target == 3,
           "K3 in 2D: n <= d+1, target n(n-1)/2 = 3 (got rank %lld, target %lld)",
           (long long)r.rigidity_rank, (long long)r.rigidity_target);
  }
  check_framework("K3 minus an edge", 3, 2, m - 1, e, 0, 0);

  /* Hinge: two K4 sharing vertex 0, E = 12 >= 2n - 3 = 11 but one body turns
   * about the shared vertex. */
  int32_t h1[4] = {0, 1, 2, 3}, h2[4] = {0, 4, 5, 6};
  m = 0;
  add_clique(e, &m, h1, 4, -1, -1);
  add_clique(e, &m, h2, 4, -1, -1);
  check_framework("two K4 hinged at one vertex", 7, 2, m, e, 0, 0);

  /* Double banana: two K5 minus the edge ab, glued at a = 0, b = 1: 8
   * vertices, 18 = 3n - 6 edges, flexible about the line ab. */
  int32_t b1[5] = {0, 1, 2, 3, 4}, b2[5] = {0, 1, 5, 6, 7};
  m = 0;
  add_clique(e, &m, b1, 5, 0, 1);
  add_clique(e, &m, b2, 5, 0, 1);
  tap_ok(m == 18, "double banana has 18 = 3n - 6 edges (got %lld)", (long long)m);
  check_framework("double banana", 8, 3, m, e, 0, 0);
  /* The edge ab itself would not help (both bananas still turn about the
   * line ab); one bar between the bananas stops the turn, but the result is
   * neither redundantly rigid nor 4-connected ({a, b} separates it), so by
   * Hendrickson it is rigid without being globally rigid. */
  e[2 * m] = 2;
  e[2 * m + 1] = 5;
  check_framework("double banana plus a bar between the bananas", 8, 3, m + 1, e, 1, 0);
  /* K5 in 3D: n = d + 2, one stress of rank n - d - 1 = 1. */
  m = 0;
  add_clique(e, &m, b1, 5, -1, -1);
  check_framework("K5", 5, 3, m, e, 1, 1);

  /* K_{5,5} in 3D: rigid (25 >= 24 edges, generic rank 24), redundantly
   * rigid and 5-connected, yet not globally rigid (Connelly). */
  m = 0;
  for (int32_t i = 0; i < 5; ++i)
    for (int32_t j = 5; j < 10; ++j) {
      e[2 * m] = i;
      e[2 * m + 1] = j;
      ++m;
    }
  check_framework("K_{5,5}", 10, 3, m, e, 1, 0);
}

/* Fraction of `samples` random k-regular graphs on n vertices that are
 * globally rigid in dimension d; every sample has its own stream. */
static double fraction_globally_rigid(int64_t n, int k, int d, int samples) {
  int64_t n_edges = n * k / 2;
  int32_t *edges = malloc(sizeof(int32_t) * 2 * (size_t)n_edges);
  int good = 0, failed = 0;
  for (int s = 0; s < samples && edges && !failed; ++s) {
    core_rng rng;
    core_rng_init(&rng, SEED, CORE_PURPOSE_EDGES, (uint64_t)(d * 100000 + s));
    rigidity_result r;
    if (rigidity_regular_graph(n, k, &rng, edges) ||
        rigidity_classify(n, d, n_edges, edges, SEED + (uint64_t)s, &r)) {
      tap_diag("sample %d failed: %s", s, core_error_message());
      failed = 1;
    } else {
      good += r.globally_rigid;
    }
  }
  free(edges);
  return failed || !edges ? -1.0 : (double)good / samples;
}

static void test_survey_claim(void) {
  for (int d = 2; d <= 3; ++d) {
    double t0 = core_time();
    double f = fraction_globally_rigid(20, 2 * d, d, 1000);
    tap_ok(f >= 0.99, "random %d-regular graphs, n = 20, d = %d: %.1f%% of 1000 globally rigid "
           "(want >= 99%%; %.2f s)",
           2 * d, d, 100.0 * f, core_time() - t0);
  }
  /* The other side of the threshold: 3-regular graphs have 3n/2 < 2n - 3
   * edges, so none can be rigid in 2D. */
  double f = fraction_globally_rigid(20, 3, 2, 200);
  tap_ok(f == 0.0, "random 3-regular graphs, n = 20, d = 2: none globally rigid (got %.3f)", f);
}

static void test_generator(void) {
  /* Large case: the pool size the sparse loss needs for big structures. */
  {
    int64_t n = 300000;
    int k = 4;
    int32_t *edges = malloc(sizeof(int32_t) * (size_t)(n * k));
    core_rng rng;
    core_rng_init(&rng, SEED, CORE_PURPOSE_EDGES, 1);
    double t0 = core_time();
    core_status st = edges ? rigidity_regular_graph(n, k, &rng, edges) : CORE_ERR_MEM;
    double dt = core_time() - t0;
    tap_ok(st == CORE_OK && is_simple_regular(n, k, n * k / 2, edges),
           "n = 300000, k = 4: simple and 4-regular");
    tap_ok(st == CORE_OK && dt < 1.0, "n = 300000, k = 4 generated in %.3f s (< 1 s)", dt);
    free(edges);
  }

  /* Small cases, each with many streams: the repair step is exercised most
   * where loops and repeated pairs are frequent (k close to n). */
  static const int cases[][2] = {{6, 4}, {5, 4}, {2, 1}, {4, 1}, {7, 2},  {10, 3},
                                 {11, 6}, {8, 7}, {9, 8}, {20, 6}, {33, 4}, {1000, 6}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    int64_t n = cases[c][0];
    int k = cases[c][1];
    int32_t edges[2 * 3000];
    int ok = 1;
    for (uint64_t s = 0; s < 200 && ok; ++s) {
      core_rng rng;
      core_rng_init(&rng, SEED, CORE_PURPOSE_EDGES, 1000 * (uint64_t)c + s);
      ok = rigidity_regular_graph(n, k, &rng, edges) == CORE_OK &&
           is_simple_regular(n, k, n * k / 2, edges);
    }
    tap_ok(ok, "n = %lld, k = %d: 200 streams give simple %d-regular graphs", (long long)n, k, k);
  }

  /* Determinism and stream separation. */
  {
    int64_t n = 50;
    int k = 4;
    int32_t a[200], b[200], c[200];
    core_rng r1, r2, r3;
    core_rng_init(&r1, SEED, CORE_PURPOSE_EDGES, 7);
    core_rng_init(&r2, SEED, CORE_PURPOSE_EDGES, 7);
    core_rng_init(&r3, SEED, CORE_PURPOSE_EDGES, 8);
    core_status st = rigidity_regular_graph(n, k, &r1, a);
    st = st ? st : rigidity_regular_graph(n, k, &r2, b);
    st = st ? st : rigidity_regular_graph(n, k, &r3, c);
    tap_ok(st == CORE_OK && memcmp(a, b, sizeof a) == 0, "same stream, same graph");
    tap_ok(st == CORE_OK && memcmp(a, c, sizeof a) != 0, "another stream, another graph");
    core_rng_init(&r3, SEED + 1, CORE_PURPOSE_EDGES, 7);
    st = rigidity_regular_graph(n, k, &r3, c);
    tap_ok(st == CORE_OK && memcmp(a, c, sizeof a) != 0, "another seed, another graph");

    /* The checker bites. (1) A repeated pair with every degree still k:
     * switch {u,v},{x,y} -> {u,x},{v,y} where {u,x} is already an edge. */
    memcpy(c, a, sizeof a);
    int64_t n_edges = n * k / 2;
    int32_t u = c[0], v = c[1], x = -1, y = -1;
    int64_t e_ux = -1, e_xy = -1;
    for (int64_t e = 1; e < n_edges && e_ux < 0; ++e)
      if (c[2 * e] == u || c[2 * e + 1] == u) {
        e_ux = e;
        x = c[2 * e] == u ? c[2 * e + 1] : c[2 * e];
      }
    for (int64_t e = 1; e < n_edges && e_xy < 0; ++e) {
      if (e == e_ux || (c[2 * e] != x && c[2 * e + 1] != x)) continue;
      int32_t other = c[2 * e] == x ? c[2 * e + 1] : c[2 * e];
      if (other != v && other != u) {
        e_xy = e;
        y = other;
      }
    }
    int found = e_ux > 0 && e_xy > 0;
    if (found) {
      c[0] = u < x ? u : x;
      c[1] = u < x ? x : u;
      c[2 * e_xy] = v < y ? v : y;
      c[2 * e_xy + 1] = v < y ? y : v;
    }
    tap_ok(found && !is_simple_regular(n, k, n_edges, c),
           "checker rejects a %d-regular multigraph with a repeated edge (broken on purpose)", k);
    /* (2) One endpoint moved: a vertex of degree k + 1. */
    memcpy(c, a, sizeof a);
    c[1] = c[0] == 0 ? (c[1] == 1 ? 2 : 1) : 0;
    if (c[0] > c[1]) {
      int32_t t = c[0];
      c[0] = c[1];
      c[1] = t;
    }
    tap_ok(!is_simple_regular(n, k, n_edges, c),
           "checker rejects a graph with a degree off by one (broken on purpose)");
  }
}

static int fails_with_message(core_status st) {
  int ok = st != CORE_OK && core_error_message()[0] != '\0';
  if (st) tap_diag("expected error: %s", core_error_message());
  core_error_clear();
  return ok;
}

static void test_errors(void) {
  int32_t edges[64];
  core_rng rng;
  core_rng_init(&rng, SEED, CORE_PURPOSE_EDGES, 0);
  tap_ok(fails_with_message(rigidity_regular_graph(7, 3, &rng, edges)),
         "regular graph: odd n*k (7*3) is refused");
  tap_ok(fails_with_message(rigidity_regular_graph(4, 4, &rng, edges)),
         "regular graph: k >= n is refused");
  tap_ok(fails_with_message(rigidity_regular_graph(6, 0, &rng, edges)),
         "regular graph: k = 0 is refused");
  tap_ok(fails_with_message(rigidity_regular_graph(6, 2, NULL, edges)),
         "regular graph: NULL stream is refused");

  rigidity_result r;
  int32_t out_of_range[4] = {0, 1, 1, 4};
  tap_ok(fails_with_message(rigidity_classify(4, 2, 2, out_of_range, SEED, &r)),
         "classify: index 4 on 4 vertices is refused");
  int32_t negative[2] = {-1, 2};
  tap_ok(fails_with_message(rigidity_classify(4, 2, 1, negative, SEED, &r)),
         "classify: negative index is refused");
  int32_t loop[4] = {0, 1, 2, 2};
  tap_ok(fails_with_message(rigidity_classify(4, 2, 2, loop, SEED, &r)),
         "classify: self-loop is refused");
  tap_ok(fails_with_message(rigidity_classify(4, 4, 1, loop, SEED, &r)),
         "classify: dimension 4 is refused");
  tap_ok(fails_with_message(rigidity_classify(0, 2, 0, loop, SEED, &r)),
         "classify: zero vertices is refused");
}

int main(void) {
  tap_plan(46);
  double t0 = core_time();
  test_frameworks();
  test_survey_claim();
  test_generator();
  test_errors();
  tap_diag("total %.2f s", core_time() - t0);
  return tap_done();
}
