/* Random simple k-regular graphs: the sparse edge sets of the energy loss.
 *
 * Why: the sparse variant of Eq. 7 sums over the edges of a random
 * 2d-regular graph instead of all N(N-1)/2 pairs (paper Sec. 4.3, App. A.5);
 * it keeps the minimisers of the complete loss when the graph is globally
 * rigid, which such graphs are with high probability (Fig. 5, checked by
 * classify.c). The generator must be cheap enough to build pools of graphs for
 * large structures (n = 300000 vertices in well under a second) and give the
 * same graph for the same stream on any rank.
 *
 * rigidity_regular_graph(n, k, rng, edges)
 *   n   number of vertices, k < n <= INT32_MAX (indices are int32);
 *   k   degree, k >= 1, with n*k even (a k-regular graph has n*k/2 edges);
 *   rng stream to draw from (advanced; the graph is a pure function of the
 *       stream's state on entry);
 *   edges (E, 2) int32, E = n*k/2 rows, caller-owned; on success each row is
 *       (i, j) with 0 <= i < j < n, no pair repeats, and every vertex appears
 *       in exactly k rows. The rows are in no particular order.
 *   Returns CORE_ERR_ARG for invalid n, k or NULL pointers, CORE_ERR_MEM if
 *   the (n k) int32 workspace cannot be allocated, CORE_ERR_NUMERIC if no
 *   simple graph was reached after many restarts (does not happen for
 *   n > k + 1 in practice; kept so the loop provably ends). Local.
 *
 * Algorithm.
 * 1. Configuration model: n k half-edges, vertex v owning k of
 *    them, are shuffled (Fisher-Yates) and paired consecutively. This is a
 *    uniform random k-regular multigraph; for fixed k it contains on average
 *    (k-1)/2 self-loops and (k-1)^2/4 repeated pairs, so O(1) defects.
 * 2. Each defective edge (u, v) (a loop, or a second copy of a pair) is
 *    repaired by a double-edge switch with a uniformly chosen other edge
 *    (x, y) in a random orientation: {u,v},{x,y} -> {u,x},{v,y}. A switch is
 *    accepted only if neither new edge is a loop or already present, so it
 *    keeps every degree, never creates a defect, and removes at least one.
 *    A single pass over the edges therefore leaves a simple graph. Rejecting
 *    the pairing and redrawing it would be exactly uniform but needs about
 *    e^{(k^2-1)/4} attempts (about 40 for k = 4, 6000 for k = 6); repairing
 *    the O(1) defects perturbs the distribution only on those edges, which
 *    is what a loss edge pool needs.
 * 3. Adjacency is kept as k slots per vertex (degrees never change), so an
 *    edge lookup is a scan of k slots: no hashing, O(n k) memory.
 * If a defect finds no valid partner after many tries (tiny graphs such as
 * n = k + 1, where the only simple graph is complete), the pairing is redrawn
 * from the same stream, so the result stays deterministic. */
#include "eloss/rigidity.h"

#include <stdlib.h>

/* Attempts per defective edge before the pairing is redrawn, and redraws
 * before giving up. Chosen so that graphs with any valid switch virtually
 * never exhaust the first bound, while n = k + 1 still terminates. */
enum { REGULAR_SWITCH_TRIES = 2000, REGULAR_RESTARTS = 10000 };

/* Number of slots of vertex a (k slots at adj + a k) holding b. */
static int adjacency_count(const int32_t *adj, int k, int32_t a, int32_t b) {
  const int32_t *row = adj + (int64_t)a * k;
  int c = 0;
  for (int s = 0; s < k; ++s) c += row[s] == b;
  return c;
}

/* Replace one slot of vertex a that holds `from` by `to`. The slot exists by
 * construction (the edge being switched is present). */
static void adjacency_replace(int32_t *adj, int k, int32_t a, int32_t from, int32_t to) {
  int32_t *row = adj + (int64_t)a * k;
  for (int s = 0; s < k; ++s)
    if (row[s] == from) {
      row[s] = to;
      return;
    }
}

/* Configuration-model pairing: edges (E, 2) and adjacency slots (n, k). */
static void regular_pair_half_edges(int64_t n, int k, core_rng *rng, int32_t *half_edges,
                               int32_t *edges, int32_t *adj) {
  int64_t m = n * k;
  for (int64_t i = 0; i < m; ++i) half_edges[i] = (int32_t)(i / k);
  for (int64_t i = m - 1; i > 0; --i) {
    int64_t j = (int64_t)core_rng_below(rng, (uint64_t)i + 1);
    int32_t t = half_edges[i];
    half_edges[i] = half_edges[j];
    half_edges[j] = t;
  }
  /* The shuffled half_edges are consumed pairwise; half_edges is reused as a per-vertex
   * fill counter afterwards, so copy the pairs out first. */
  for (int64_t e = 0; e < m / 2; ++e) {
    edges[2 * e] = half_edges[2 * e];
    edges[2 * e + 1] = half_edges[2 * e + 1];
  }
  for (int64_t v = 0; v < n; ++v) half_edges[v] = 0;
  for (int64_t e = 0; e < m / 2; ++e) {
    int32_t u = edges[2 * e], v = edges[2 * e + 1];
    adj[(int64_t)u * k + half_edges[u]++] = v;
    adj[(int64_t)v * k + half_edges[v]++] = u;
  }
}

/* Repair every loop and repeated pair by switches (step 2 above). Returns 1
 * when the graph is simple, 0 when some defect found no partner. */
static int regular_repair(int64_t n_edges, int k, core_rng *rng, int32_t *edges,
                          int32_t *adj) {
  for (int64_t e = 0; e < n_edges; ++e) {
    int tries = 0;
    for (;;) {
      int32_t u = edges[2 * e], v = edges[2 * e + 1];
      if (u != v && adjacency_count(adj, k, u, v) == 1) break;
      if (++tries > REGULAR_SWITCH_TRIES) return 0;
      int64_t f = (int64_t)core_rng_below(rng, (uint64_t)n_edges);
      if (f == e) continue;
      int flip = (int)core_rng_below(rng, 2);
      int32_t x = edges[2 * f + flip], y = edges[2 * f + 1 - flip];
      /* New edges {u,x} and {v,y}: no loops, not already present, and not
       * the same pair twice (two loops {u,u},{x,x} would give {u,x} twice). */
      if (u == x || v == y) continue;
      if ((u == v && x == y) || (u == y && x == v)) continue;
      if (adjacency_count(adj, k, u, x) || adjacency_count(adj, k, v, y)) continue;
      /* Remove {u,v} and {x,y}, insert {u,x} and {v,y}: at u the slot of v
       * becomes x, at v the slot of u becomes y, at x the slot of y becomes
       * u, at y the slot of x becomes v. For a loop (u == v) the two slots
       * of u holding u are rewritten one after the other. */
      adjacency_replace(adj, k, u, v, x);
      adjacency_replace(adj, k, v, u, y);
      adjacency_replace(adj, k, x, y, u);
      adjacency_replace(adj, k, y, x, v);
      edges[2 * e] = u;
      edges[2 * e + 1] = x;
      edges[2 * f] = v;
      edges[2 * f + 1] = y;
    }
  }
  return 1;
}

core_status rigidity_regular_graph(int64_t n, int k, core_rng *rng, int32_t *edges) {
  CORE_CHECK(rng != NULL && edges != NULL, CORE_ERR_ARG,
             "rigidity_regular_graph: rng and edges must not be NULL");
  CORE_CHECK(k >= 1, CORE_ERR_ARG, "rigidity_regular_graph: degree k = %d, expected k >= 1", k);
  CORE_CHECK(n > k, CORE_ERR_ARG,
             "rigidity_regular_graph: n = %lld vertices, expected n > k = %d "
             "(a simple k-regular graph needs at least k + 1 vertices)",
             (long long)n, k);
  CORE_CHECK(n <= INT32_MAX, CORE_ERR_ARG,
             "rigidity_regular_graph: n = %lld vertices exceeds the int32 index range",
             (long long)n);
  CORE_CHECK((n * k) % 2 == 0, CORE_ERR_ARG,
             "rigidity_regular_graph: n*k = %lld*%d is odd; a k-regular graph needs n*k even",
             (long long)n, k);

  int64_t m = n * k, n_edges = m / 2;
  int32_t *half_edges = malloc(sizeof(int32_t) * (size_t)m); /* (n k) shuffle, then (n) fill */
  int32_t *adj = malloc(sizeof(int32_t) * (size_t)m);   /* (n, k) neighbour slots */
  if (!half_edges || !adj) {
    free(half_edges);
    free(adj);
    return CORE_ERROR(CORE_ERR_MEM,
                      "rigidity_regular_graph: cannot allocate 2 x %lld int32 for n = %lld, k = %d",
                      (long long)m, (long long)n, k);
  }
  int simple = 0;
  for (int attempt = 0; attempt < REGULAR_RESTARTS && !simple; ++attempt) {
    regular_pair_half_edges(n, k, rng, half_edges, edges, adj);
    simple = regular_repair(n_edges, k, rng, edges, adj);
  }
  free(half_edges);
  free(adj);
  CORE_CHECK(simple, CORE_ERR_NUMERIC,
             "rigidity_regular_graph: no simple %d-regular graph on %lld vertices after %d pairings",
             k, (long long)n, (int)REGULAR_RESTARTS);
  for (int64_t e = 0; e < n_edges; ++e)
    if (edges[2 * e] > edges[2 * e + 1]) {
      int32_t t = edges[2 * e];
      edges[2 * e] = edges[2 * e + 1];
      edges[2 * e + 1] = t;
    }
  return CORE_OK;
}
