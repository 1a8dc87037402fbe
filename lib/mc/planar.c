/* Exact ground states of open rows x cols Edwards-Anderson lattices (no
 * field) by minimum-weight perfect matching (Bieche, Maynard, Rammal, Uhry
 * 1980; Barahona 1982).
 *
 * mc_planar_create / mc_planar_destroy: workspace; local.
 * mc_planar_solve, mc_planar_solve_hv: local; see mc.h.
 *
 * The lattice is planar. Its faces are the (rows-1)(cols-1) plaquettes and
 * the outer face; a face is frustrated when an odd number of its bonds are
 * negative. The bonds a spin configuration leaves unsatisfied (J s_i s_j <
 * 0) cross an odd number of times into every frustrated face and an even
 * number into every other, and every such bond set comes from exactly two
 * configurations (s and -s). With E = -sum |J| + 2 sum_unsatisfied |J|, the
 * ground state is the least-weight T-join of the dual graph (a node per
 * face, an edge of weight |J| per bond, T = the frustrated faces).
 *
 * Dual graph. The outer face is split into one node per boundary bond, in
 * order around the perimeter, joined in a path by edges of weight 0
 * (contracting them gives back the outer face, and a T-join of the path
 * graph costs what its contraction costs); the first of them carries the
 * outer face's frustration (the parity of the frustrated plaquettes: every
 * bond borders two faces, so the frustrated faces are even in number).
 * Every dual node then has degree at most 4, and the graph stays sparse.
 *
 * T-join to perfect matching (Edmonds and Johnson 1973). Each dual edge d
 * becomes two vertices 2d, 2d+1 (its two ends) joined by an edge of weight
 * w_d: matched means "d is in the join". At each dual node the end
 * vertices of its edges are joined pairwise at weight 0, plus one more
 * vertex joined to all of them when the node's degree and its T parity
 * differ: the ends not matched across must pair up inside, which leaves an
 * odd number across exactly at the nodes of T. A plaquette: 4 ends, 6 + 4
 * inner edges.
 *
 * Weights are integers for the matching: |J| 2^k rounded, with the largest
 * k that keeps their sum below 2^55. Couplings that are integers (+-J) or
 * dyadic stay exact; others are exact to about 2^-55 of the sum of |J|,
 * far below double rounding of the energy itself. The configuration is read
 * off the join from site 0 (= +1) along row 0 and down every column, every
 * other bond is checked against the join, and the energy is summed from the
 * configuration. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/matching.h"
#include "eloss/mc.h"

struct mc_planar {
  int rows, cols;
  int64_t bonds, dual_edges, plaquettes, boundary;
  double *H, *V;     /* (rows, cols-1), (rows-1, cols) from spin.h's layout */
  int32_t *ends;     /* matching graph: (m, 2) */
  int64_t *weight;   /* (m) */
  int32_t *mate;     /* (vertices) */
  int8_t *join;      /* (bonds) */
  int64_t *boundary_of; /* (bonds) boundary node of each boundary bond */
  int64_t *node_ends;   /* (dual nodes, 4) end vertices of each dual node's edges */
  int8_t *degree;       /* (dual nodes) */
  int64_t max_vertices, max_edges;
  volatile sig_atomic_t *stop;
};

static int64_t h_bond(const mc_planar *pl, int r, int c) { return (int64_t)r * (pl->cols - 1) + c; }
static int64_t v_bond(const mc_planar *pl, int r, int c) {
  return (int64_t)pl->rows * (pl->cols - 1) + (int64_t)r * pl->cols + c;
}
static int64_t plaquette(const mc_planar *pl, int r, int c) { return (int64_t)r * (pl->cols - 1) + c; }

core_status mc_planar_create(int rows, int cols, mc_planar **out) {
  *out = NULL;
  CORE_CHECK(rows >= 2 && cols >= 2 && (int64_t)rows * cols <= MC_PLANAR_MAX_SITES, CORE_ERR_ARG,
             "planar ground states: a %d x %d lattice (need at least 2 x 2 and at most %lld sites)", rows, cols,
             (long long)MC_PLANAR_MAX_SITES);
  mc_planar *pl = calloc(1, sizeof *pl);
  CORE_CHECK(pl, CORE_ERR_MEM, "planar ground states: out of memory");
  pl->rows = rows;
  pl->cols = cols;
  pl->bonds = (int64_t)rows * (cols - 1) + (int64_t)(rows - 1) * cols;
  pl->plaquettes = (int64_t)(rows - 1) * (cols - 1);
  pl->boundary = 2 * (int64_t)(rows - 1) + 2 * (int64_t)(cols - 1);
  pl->dual_edges = pl->bonds + pl->boundary - 1;
  /* Vertices: two per dual edge and at most one extra per dual node;
   * edges: one per dual edge, at most 6 + 4 per plaquette and 3 + 3 per
   * boundary node. */
  pl->max_vertices = 2 * pl->dual_edges + pl->plaquettes + pl->boundary;
  pl->max_edges = pl->dual_edges + 10 * pl->plaquettes + 6 * pl->boundary;
  pl->H = malloc(sizeof(double) * (size_t)rows * (size_t)(cols - 1));
  pl->V = malloc(sizeof(double) * (size_t)(rows - 1) * (size_t)cols);
  pl->ends = malloc(sizeof(int32_t) * 2 * (size_t)pl->max_edges);
  pl->weight = malloc(sizeof(int64_t) * (size_t)pl->max_edges);
  pl->mate = malloc(sizeof(int32_t) * (size_t)pl->max_vertices);
  pl->join = malloc((size_t)pl->bonds);
  pl->boundary_of = malloc(sizeof(int64_t) * (size_t)pl->bonds);
  pl->node_ends = malloc(sizeof(int64_t) * 4 * (size_t)(pl->plaquettes + pl->boundary));
  pl->degree = malloc((size_t)(pl->plaquettes + pl->boundary));
  if (!pl->H || !pl->V || !pl->ends || !pl->weight || !pl->mate || !pl->join || !pl->boundary_of ||
      !pl->node_ends || !pl->degree) {
    mc_planar_destroy(&pl);
    return CORE_ERROR(CORE_ERR_MEM, "planar ground states: cannot allocate the workspace for %d x %d", rows, cols);
  }
  *out = pl;
  return CORE_OK;
}

void mc_planar_set_stop(mc_planar *pl, volatile sig_atomic_t *stop) { pl->stop = stop; }

void mc_planar_destroy(mc_planar **pl) {
  if (!pl || !*pl) return;
  free((*pl)->H);
  free((*pl)->V);
  free((*pl)->ends);
  free((*pl)->weight);
  free((*pl)->mate);
  free((*pl)->join);
  free((*pl)->boundary_of);
  free((*pl)->node_ends);
  free((*pl)->degree);
  free(*pl);
  *pl = NULL;
}

static double bond_value(const mc_planar *pl, int64_t b) {
  const int64_t nh = (int64_t)pl->rows * (pl->cols - 1);
  return b < nh ? pl->H[b] : pl->V[b - nh];
}

/* The dual graph's edge list: for each dual edge its two dual nodes
 * (plaquettes 0 .. P-1, boundary nodes P .. P+K-1). */
static void dual_ends(const mc_planar *pl, int64_t d, int64_t *a, int64_t *b, const int64_t *boundary_of) {
  const int R = pl->rows, C = pl->cols;
  const int64_t P = pl->plaquettes, nh = (int64_t)R * (C - 1);
  if (d < nh) {
    const int r = (int)(d / (C - 1)), c = (int)(d % (C - 1));
    *a = r > 0 ? plaquette(pl, r - 1, c) : P + boundary_of[d];
    *b = r < R - 1 ? plaquette(pl, r, c) : P + boundary_of[d];
  } else if (d < pl->bonds) {
    const int r = (int)((d - nh) / C), c = (int)((d - nh) % C);
    *a = c > 0 ? plaquette(pl, r, c - 1) : P + boundary_of[d];
    *b = c < C - 1 ? plaquette(pl, r, c) : P + boundary_of[d];
  } else {
    const int64_t i = d - pl->bonds;
    *a = P + i;
    *b = P + i + 1;
  }
}

core_status mc_planar_solve_hv(mc_planar *pl, const double *H, const double *V, int8_t *spins, double *energy) {
  const int R = pl->rows, C = pl->cols;
  const int64_t nh = (int64_t)R * (C - 1), nv = (int64_t)(R - 1) * C;
  if (H != pl->H) memcpy(pl->H, H, sizeof(double) * (size_t)nh);
  if (V != pl->V) memcpy(pl->V, V, sizeof(double) * (size_t)nv);
  double max_abs = 0;
  for (int64_t b = 0; b < pl->bonds; ++b) {
    const double j = bond_value(pl, b);
    CORE_CHECK(isfinite(j), CORE_ERR_VALUE, "planar ground states: coupling %lld is not finite", (long long)b);
    if (fabs(j) > max_abs) max_abs = fabs(j);
  }
  /* 2^k: the sum of the scaled |J| stays below 2^55. */
  int k = 0;
  if (max_abs > 0) {
    int e;
    frexp(max_abs * (double)pl->bonds, &e); /* max_abs * bonds < 2^e */
    k = 55 - e;
  }
  const int64_t P = pl->plaquettes, K = pl->boundary, D = pl->dual_edges;
  /* Boundary node of each boundary bond, in order around the perimeter. */
  int64_t *boundary_of = pl->boundary_of, *node_ends = pl->node_ends;
  int8_t *degree = pl->degree;
  memset(degree, 0, (size_t)(P + K));
  {
    int64_t i = 0;
    for (int c = 0; c < C - 1; ++c) boundary_of[h_bond(pl, 0, c)] = i++;
    for (int r = 0; r < R - 1; ++r) boundary_of[v_bond(pl, r, C - 1)] = i++;
    for (int c = C - 2; c >= 0; --c) boundary_of[h_bond(pl, R - 1, c)] = i++;
    for (int r = R - 2; r >= 0; --r) boundary_of[v_bond(pl, r, 0)] = i++;
  }
  /* Cross edges first (edge d joins vertices 2d and 2d+1), and the end
   * vertices of every dual node. */
  int64_t m = 0;
  for (int64_t d = 0; d < D; ++d) {
    int64_t a, b;
    dual_ends(pl, d, &a, &b, boundary_of);
    pl->ends[2 * m] = (int32_t)(2 * d);
    pl->ends[2 * m + 1] = (int32_t)(2 * d + 1);
    pl->weight[m++] = d < pl->bonds ? llround(ldexp(fabs(bond_value(pl, d)), k)) : 0;
    node_ends[4 * a + degree[a]++] = 2 * d;
    node_ends[4 * b + degree[b]++] = 2 * d + 1;
  }
  /* Frustration: plaquettes from their bonds' signs, the outer face (on
   * boundary node 0) from the parity of their count. */
  int64_t vertices = 2 * D, frustrated = 0;
  for (int64_t x = 0; x < P + K; ++x) {
    int t = 0;
    if (x < P) {
      const int r = (int)(x / (C - 1)), c = (int)(x % (C - 1));
      t = (bond_value(pl, h_bond(pl, r, c)) < 0) ^ (bond_value(pl, h_bond(pl, r + 1, c)) < 0) ^
          (bond_value(pl, v_bond(pl, r, c)) < 0) ^ (bond_value(pl, v_bond(pl, r, c + 1)) < 0);
      frustrated += t;
    } else if (x == P) {
      /* all plaquettes come before the boundary nodes */
      t = (int)(frustrated & 1);
    }
    const int deg = degree[x];
    for (int i = 0; i < deg; ++i)
      for (int j = i + 1; j < deg; ++j) {
        pl->ends[2 * m] = (int32_t)node_ends[4 * x + i];
        pl->ends[2 * m + 1] = (int32_t)node_ends[4 * x + j];
        pl->weight[m++] = 0;
      }
    if ((deg - t) % 2 != 0) {
      for (int i = 0; i < deg; ++i) {
        pl->ends[2 * m] = (int32_t)node_ends[4 * x + i];
        pl->ends[2 * m + 1] = (int32_t)vertices;
        pl->weight[m++] = 0;
      }
      ++vertices;
    }
  }
  int64_t total;
  CORE_CALL(matching_min_perfect_stoppable((int32_t)vertices, m, pl->ends, pl->weight, pl->stop, pl->mate, &total));
  for (int64_t b = 0; b < pl->bonds; ++b) pl->join[b] = pl->mate[2 * b] == (int32_t)b;
  /* Read the configuration off the join, then check every bond. */
  spins[0] = 1;
  for (int c = 0; c + 1 < C; ++c) {
    const int64_t b = h_bond(pl, 0, c);
    const int8_t sat = (int8_t)(pl->H[b] < 0 ? -1 : 1);
    spins[c + 1] = (int8_t)(spins[c] * sat * (pl->join[b] ? -1 : 1));
  }
  for (int r = 0; r + 1 < R; ++r)
    for (int c = 0; c < C; ++c) {
      const int64_t b = v_bond(pl, r, c);
      const int8_t sat = (int8_t)(pl->V[b - nh] < 0 ? -1 : 1);
      spins[(int64_t)(r + 1) * C + c] = (int8_t)(spins[(int64_t)r * C + c] * sat * (pl->join[b] ? -1 : 1));
    }
  double e = 0;
  for (int r = 0; r < R; ++r)
    for (int c = 0; c + 1 < C; ++c) {
      const int64_t b = h_bond(pl, r, c), s = (int64_t)r * C + c;
      const double j = pl->H[b];
      const int unsat = (j < 0 ? -1 : 1) * spins[s] * spins[s + 1] < 0;
      CORE_CHECK(unsat == pl->join[b], CORE_ERR_NUMERIC,
                 "planar ground states: internal error: the join is not a cut at bond (%d, %d)-(%d, %d)", r, c, r,
                 c + 1);
      e -= j * spins[s] * spins[s + 1];
    }
  for (int r = 0; r + 1 < R; ++r)
    for (int c = 0; c < C; ++c) {
      const int64_t s = (int64_t)r * C + c;
      e -= pl->V[(int64_t)r * C + c] * spins[s] * spins[s + C];
    }
  *energy = e;
  return CORE_OK;
}

core_status mc_planar_solve(mc_planar *pl, const double *J, int8_t *spins, double *energy) {
  CORE_CHECK(pl->rows == pl->cols, CORE_ERR_ARG,
             "planar ground states: spin.h couplings are square; this workspace is %d x %d", pl->rows, pl->cols);
  spin_lattice lat;
  CORE_CALL(spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, pl->rows));
  spin_couplings_to_hv(&lat, J, pl->H, pl->V);
  CORE_CALL(mc_planar_solve_hv(pl, pl->H, pl->V, spins, energy));
  /* The energy as every other eloss reader sums it. */
  *energy = spin_energy(&lat, J, 0.0, spins);
  return CORE_OK;
}
