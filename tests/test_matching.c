/* Minimum-weight perfect matching against brute force: thousands of random
 * graphs up to 16 vertices (dense and sparse, integer weights with many
 * ties, negative weights, parallel edges), solved by dynamic programming
 * over vertex subsets; plus the worked example, determinism, graphs
 * without a perfect matching, and the refusals. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/matching.h"
#include "tap.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static int64_t uniform(int64_t lo, int64_t hi) { return lo + (int64_t)(next_u64() % (uint64_t)(hi - lo + 1)); }

/* Least weight of a perfect matching by DP over subsets; INT64_MAX if none. */
static int64_t brute_force(int n, int64_t m, const int32_t *ends, const int64_t *w) {
  int64_t best_pair[16][16];
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) best_pair[i][j] = INT64_MAX;
  for (int64_t e = 0; e < m; ++e) {
    int a = ends[2 * e], b = ends[2 * e + 1];
    if (w[e] < best_pair[a][b]) best_pair[a][b] = best_pair[b][a] = w[e];
  }
  const uint32_t full = (1u << n) - 1;
  int64_t *f = malloc(sizeof *f * ((size_t)full + 1));
  f[0] = 0;
  for (uint32_t mask = 1; mask <= full; ++mask) {
    f[mask] = INT64_MAX;
    if (__builtin_popcount(mask) % 2) continue;
    int i = __builtin_ctz(mask);
    for (int j = i + 1; j < n; ++j) {
      if (!(mask >> j & 1) || best_pair[i][j] == INT64_MAX) continue;
      uint32_t rest = mask & ~(1u << i) & ~(1u << j);
      if (f[rest] == INT64_MAX) continue;
      int64_t c = f[rest] + best_pair[i][j];
      if (c < f[mask]) f[mask] = c;
    }
  }
  int64_t r = f[full];
  free(f);
  return r;
}

/* mate is a perfect matching of the graph with total weight `total`. */
static int valid_matching(int n, const int32_t *ends, const int64_t *w, const int32_t *mate, int64_t total) {
  int64_t sum = 0;
  for (int v = 0; v < n; ++v) {
    int32_t e = mate[v];
    if (e < 0) return 0;
    int a = ends[2 * e], b = ends[2 * e + 1];
    if (a != v && b != v) return 0;
    int u = a == v ? b : a;
    if (mate[u] != e) return 0;
    if (a == v) sum += w[e];
  }
  return sum == total;
}

typedef struct {
  int n;
  int64_t m;
  int32_t ends[2 * 400];
  int64_t w[400];
} graph;

static void random_graph(graph *g, int n, double p, int64_t wlo, int64_t whi, int parallel) {
  g->n = n;
  g->m = 0;
  uint64_t thresh = (uint64_t)(p * 18446744073709551615.0);
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) {
      int copies = parallel ? (int)uniform(0, 2) : 1;
      for (int c = 0; c < copies; ++c)
        if (next_u64() <= thresh) {
          int swap = (int)(next_u64() & 1);
          g->ends[2 * g->m] = swap ? b : a;
          g->ends[2 * g->m + 1] = swap ? a : b;
          g->w[g->m] = uniform(wlo, whi);
          ++g->m;
        }
    }
}

int main(void) {
  tap_plan(8);

  {
    int32_t ends[] = {0, 1, 1, 2, 2, 3, 3, 0};
    int64_t w[] = {1, 5, 1, 5}, total = -1;
    int32_t mate[4];
    core_status st = matching_min_perfect(4, 4, ends, w, mate, &total);
    tap_ok(!st && total == 2 && mate[0] == 0 && mate[1] == 0 && mate[2] == 2 && mate[3] == 2,
           "the worked example: a 4-cycle takes its two light edges (total %lld)", (long long)total);
  }

  /* Random graphs: (weight range, density, parallel edges) families. */
  struct {
    const char *name;
    int64_t lo, hi;
    double pmin, pmax;
    int parallel;
    int count;
  } fam[] = {
      {"weights 0..2 (ties everywhere), dense", 0, 2, 0.6, 1.0, 0, 1500},
      {"weights 0..2, sparse", 0, 2, 0.2, 0.5, 0, 1500},
      {"weights 0..1000, any density", 0, 1000, 0.15, 1.0, 0, 1500},
      {"weights -50..50, parallel edges", -50, 50, 0.2, 0.8, 1, 1000},
      {"weights 0..10^12", 0, 1000000000000ll, 0.2, 1.0, 0, 500},
  };
  graph *g = malloc(sizeof *g);
  int32_t mate[16];
  for (size_t f = 0; f < sizeof fam / sizeof fam[0]; ++f) {
    int bad = 0, feasible = 0, infeasible = 0;
    for (int t = 0; t < fam[f].count; ++t) {
      int n = 2 * (int)uniform(1, 8);
      double p = fam[f].pmin + (fam[f].pmax - fam[f].pmin) * (double)(next_u64() >> 11) / 9007199254740992.0;
      random_graph(g, n, p, fam[f].lo, fam[f].hi, fam[f].parallel);
      int64_t want = brute_force(n, g->m, g->ends, g->w), total = -1;
      core_status st = matching_min_perfect(n, g->m, g->ends, g->w, mate, &total);
      if (want == INT64_MAX) {
        ++infeasible;
        if (st != CORE_ERR_VALUE) {
          if (bad++ < 3) tap_diag("%s: n %d m %lld: no perfect matching, solver status %d", fam[f].name, n,
                                  (long long)g->m, (int)st);
        }
      } else {
        ++feasible;
        if (st || total != want || !valid_matching(n, g->ends, g->w, mate, total)) {
          if (bad++ < 3)
            tap_diag("%s: n %d m %lld: solver %lld (status %d), brute force %lld", fam[f].name, n, (long long)g->m,
                     (long long)total, (int)st, (long long)want);
        }
      }
    }
    tap_ok(bad == 0, "%s: %d graphs with a perfect matching equal brute force, %d without are refused (%d wrong)",
           fam[f].name, feasible, infeasible, bad);
  }

  {
    /* Same input, same matching. */
    random_graph(g, 16, 0.7, 0, 2, 0);
    int32_t m1[16], m2[16];
    int64_t t1, t2;
    core_status s1 = matching_min_perfect(16, g->m, g->ends, g->w, m1, &t1);
    core_status s2 = matching_min_perfect(16, g->m, g->ends, g->w, m2, &t2);
    tap_ok(!s1 && !s2 && t1 == t2 && !memcmp(m1, m2, sizeof m1), "deterministic: the same graph twice gives the same matching");
  }

  {
    int32_t loop[] = {0, 0, 0, 1};
    int64_t w2[] = {1, 1}, total;
    int32_t m[4];
    int32_t out[] = {0, 5};
    int64_t big[] = {MATCHING_WEIGHT_SUM_MAX, 1};
    int32_t two[] = {0, 1, 0, 1};
    core_status a = matching_min_perfect(3, 1, out, w2, m, &total);
    core_status b = matching_min_perfect(2, 2, loop, w2, m, &total);
    core_status c = matching_min_perfect(2, 1, out, w2, m, &total);
    core_status d = matching_min_perfect(2, 2, two, big, m, &total);
    tap_ok(a == CORE_ERR_VALUE && b == CORE_ERR_ARG && c == CORE_ERR_ARG && d == CORE_ERR_VALUE,
           "refused: odd vertex count, a loop, an end outside the graph, weights summing beyond 2^56 (%d %d %d %d)",
           (int)a, (int)b, (int)c, (int)d);
  }
  free(g);
  return tap_done();
}
