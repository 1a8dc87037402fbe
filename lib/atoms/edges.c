/* Edge sets of the energy loss and their Eq. 7 coefficients.
 *
 * atoms_edges_count / atoms_edges_fill (plan, opt, b, ...): how many edges
 *   structure b has and which; local.
 * atoms_edges_weigh(plan, b): reference distance and k' = k0 k(d) scale_b
 *   of each edge; local.
 * atoms_coefficient(law, d, dmin), atoms_covalent_radius(Z): pure.
 *
 * Edge sets: COMPLETE (implicit upper triangle), EXPLICIT (one list for
 * every structure, each unordered row standing for both orientations of
 * Eq. 7's ordered sum, i.e. k (d - d^)^2 once), REGULAR (a k-regular graph
 * per structure from a pool of `pool` graphs per atom count, the sparse loss
 * of Sec. 4.3: 2d-regular graphs are globally rigid w.h.p., App. A.5) and
 * BONDS (pairs closer than the sum of covalent radii plus a tolerance, from
 * the reference geometry). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atoms_impl.h"
#include "eloss/rigidity.h"

/* Eq. 7 coefficient laws, App. A.3: constant k is the Morse Taylor
 * coefficient (2 D a^2 with D, a fixed per bond type); 72/d^2 is the
 * Lennard-Jones one (72 eps / r^2 at eps = 1); exp, 1/d and 1/d^2 are the
 * paper's decaying heuristics. Reference atoms closer than dmin would make
 * the decaying laws blow up (two atoms on top of each other are a data
 * error, but one such pair must not turn the loss into inf), so the laws see
 * max(d, dmin). */
double atoms_coefficient(atoms_coeff_law law, double d, double dmin) {
  double r = d > dmin ? d : dmin;
  switch (law) {
    case ATOMS_COEFF_CONSTANT: return 1.0;
    case ATOMS_COEFF_EXP_DIST: return exp(-d);
    case ATOMS_COEFF_INV_DIST: return 1.0 / r;
    case ATOMS_COEFF_INV_DIST2: return 1.0 / (r * r);
    case ATOMS_COEFF_LJ: return 72.0 / (r * r);
  }
  return 0.0;
}

/* Single-bond covalent radii in Angstrom, Cordero et al., "Covalent radii
 * revisited", Dalton Trans. 2008, 2832 (sp3 carbon; low-spin Mn, Fe, Co). */
static const double covalent_radius[] = {
    0.00, 0.31, 0.28, 1.28, 0.96, 0.84, 0.76, 0.71, 0.66, 0.57, 0.58, 1.66, 1.41, 1.21, 1.11,
    1.07, 1.05, 1.02, 1.06, 2.03, 1.76, 1.70, 1.60, 1.53, 1.39, 1.39, 1.32, 1.26, 1.24, 1.32,
    1.22, 1.22, 1.20, 1.19, 1.20, 1.20, 1.16, 2.20, 1.95, 1.90, 1.75, 1.64, 1.54, 1.47, 1.46,
    1.42, 1.39, 1.45, 1.44, 1.42, 1.39, 1.39, 1.38, 1.39, 1.40, 2.44, 2.15, 2.07, 2.04, 2.03,
    2.01, 1.99, 1.98, 1.98, 1.96, 1.94, 1.92, 1.92, 1.89, 1.90, 1.87, 1.87, 1.75, 1.70, 1.62,
    1.51, 1.44, 1.41, 1.36, 1.36, 1.32, 1.45, 1.46, 1.48, 1.40, 1.50, 1.50};

double atoms_covalent_radius(int Z) {
  if (Z < 1 || Z >= (int)(sizeof covalent_radius / sizeof covalent_radius[0])) return 0.0;
  return covalent_radius[Z];
}

static double ref_distance(const atoms_plan *p, int64_t b, int64_t i, int64_t j) {
  const double *x = p->ref + b * p->n_max * p->d;
  double s = 0;
  for (int k = 0; k < p->d; ++k) {
    double t = x[i * p->d + k] - x[j * p->d + k];
    s += t * t;
  }
  return sqrt(s);
}

static int bonded(const atoms_plan *p, const atoms_options *opt, int64_t b, int64_t i, int64_t j) {
  const int *el = opt->element + b * p->n_max;
  return ref_distance(p, b, i, j) <
         atoms_covalent_radius(el[i]) + atoms_covalent_radius(el[j]) + opt->bond_tolerance;
}

core_status atoms_edges_count(const atoms_plan *p, const atoms_options *opt, int64_t b,
                              int64_t *count) {
  const int64_t n = p->natoms[b], gb = p->b_start + b;
  switch (opt->edges) {
    case ATOMS_EDGES_COMPLETE: *count = n * (n - 1) / 2; return CORE_OK;
    case ATOMS_EDGES_EXPLICIT:
      for (int64_t e = 0; e < opt->n_edges; ++e) {
        int32_t i = opt->edge_list[2 * e], j = opt->edge_list[2 * e + 1];
        CORE_CHECK(i >= 0 && j >= 0 && i < n && j < n, CORE_ERR_ARG,
                   "atoms: edge %lld (%d, %d) is outside structure %lld of %lld atoms",
                   (long long)e, (int)i, (int)j, (long long)gb, (long long)n);
        CORE_CHECK(i != j, CORE_ERR_ARG, "atoms: edge %lld joins atom %d to itself", (long long)e, (int)i);
      }
      *count = opt->n_edges;
      return CORE_OK;
    case ATOMS_EDGES_REGULAR: {
      const int k = p->opt.degree;
      if (n == 0) {
        *count = 0;
        return CORE_OK;
      }
      /* n <= k atoms have no k-regular graph: they get their complete
       * graph, the densest they have (a small molecule among large ones). */
      if (n <= k) {
        *count = n * (n - 1) / 2;
        return CORE_OK;
      }
      CORE_CHECK(k >= 1 && (n * k) % 2 == 0, CORE_ERR_ARG,
                 "atoms: structure %lld has %lld atoms: no %d-regular graph exists (n k is odd)", (long long)gb,
                 (long long)n, k);
      *count = n * k / 2;
      return CORE_OK;
    }
    case ATOMS_EDGES_BONDS: {
      int64_t c = 0;
      const int *el = opt->element + b * p->n_max;
      for (int64_t i = 0; i < n; ++i)
        CORE_CHECK(atoms_covalent_radius(el[i]) > 0, CORE_ERR_ARG,
                   "atoms: structure %lld atom %lld has element %d without a covalent radius",
                   (long long)gb, (long long)i, el[i]);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j) c += bonded(p, opt, b, i, j);
      *count = c;
      return CORE_OK;
    }
  }
  return CORE_ERROR(CORE_ERR_ARG, "atoms: unknown edge set %d", (int)opt->edges);
}

/* The pool graph a structure uses at a given draw; built on first use so a
 * single 300 000-atom structure does not pay for 100 graphs. */
static core_status pool_graph(atoms_plan *p, int64_t n, uint64_t pick, const int32_t **graph) {
  int64_t slot = 0;
  while (p->pool_n[slot] != n) ++slot;
  int32_t **g = &p->pool_graph[slot * p->opt.pool + (int64_t)pick];
  if (!*g) {
    int64_t ne = n * p->opt.degree / 2;
    *g = malloc(sizeof(int32_t) * 2 * (size_t)ne);
    CORE_CHECK(*g, CORE_ERR_MEM, "atoms: cannot allocate a %d-regular graph on %lld atoms",
               p->opt.degree, (long long)n);
    core_rng rng;
    core_rng_init(&rng, p->opt.seed, CORE_PURPOSE_EDGES, (uint64_t)n * (uint64_t)p->opt.pool + pick);
    core_status st = rigidity_regular_graph(n, p->opt.degree, &rng, *g);
    if (st) {
      free(*g);
      *g = NULL;
      return st;
    }
  }
  *graph = *g;
  return CORE_OK;
}

static core_status edges_fill_raw(atoms_plan *p, const atoms_options *opt, int64_t b, uint64_t draw) {
  const int64_t n = p->natoms[b], off = p->edge_offset[b], ne = p->edge_offset[b + 1] - off;
  switch (opt->edges) {
    case ATOMS_EDGES_COMPLETE: return CORE_OK;
    case ATOMS_EDGES_EXPLICIT:
      for (int64_t e = 0; e < ne; ++e) {
        p->edge_i[off + e] = opt->edge_list[2 * e];
        p->edge_j[off + e] = opt->edge_list[2 * e + 1];
      }
      return CORE_OK;
    case ATOMS_EDGES_REGULAR: {
      if (ne == 0) return CORE_OK;
      if (n <= p->opt.degree) { /* the complete graph (atoms_edges_count) */
        int64_t e = 0;
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = i + 1; j < n; ++j, ++e) p->edge_i[off + e] = (int32_t)i, p->edge_j[off + e] = (int32_t)j;
        return CORE_OK;
      }
      core_rng rng;
      core_rng_init(&rng, p->opt.seed, CORE_PURPOSE_EDGE_PICK,
                    draw * (uint64_t)p->batch + (uint64_t)(p->b_start + b));
      const int32_t *g = NULL;
      CORE_CALL(pool_graph(p, n, core_rng_below(&rng, (uint64_t)p->opt.pool), &g));
      for (int64_t e = 0; e < ne; ++e) {
        p->edge_i[off + e] = g[2 * e];
        p->edge_j[off + e] = g[2 * e + 1];
      }
      return CORE_OK;
    }
    case ATOMS_EDGES_BONDS: {
      int64_t e = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = i + 1; j < n; ++j)
          if (bonded(p, opt, b, i, j)) {
            p->edge_i[off + e] = (int32_t)i;
            p->edge_j[off + e] = (int32_t)j;
            ++e;
          }
      return CORE_OK;
    }
  }
  return CORE_ERROR(CORE_ERR_ARG, "atoms: unknown edge set %d", (int)opt->edges);
}

/* Owned structure b's lane group (groups are in structure order). */
static int64_t group_of(const atoms_plan *p, int64_t b) {
  int64_t lo = 0, hi = p->n_groups - 1;
  while (lo < hi) {
    int64_t mid = (lo + hi + 1) / 2;
    if (p->group_first[mid] <= b) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

void atoms_edges_weigh(atoms_plan *p, int64_t b) {
  const int64_t n = p->natoms[b];
  const double factor = p->opt.k0 * p->scale[b];
  if (p->complete) {
    const int64_t g = group_of(p, b), lane = b - p->group_first[g];
    int64_t slot = p->group_offset[g] + lane;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j, slot += ATOMS_LANES) {
        double d = ref_distance(p, b, i, j);
        double k = factor * atoms_coefficient(p->opt.coeff, d, p->opt.dmin);
        p->dref[slot] = d, p->kcoef[slot] = k;
        p->dref_f[slot] = (float)d, p->kcoef_f[slot] = (float)k;
      }
    return;
  }
  /* Edge lists live as sliced ELLPACK only: each atom's list in edge
   * order (edges are sorted by their first atom), then padding. */
  const int64_t off = p->edge_offset[b], ne = p->edge_offset[b + 1] - off, s0 = p->slice_base[b];
  int64_t *fill = p->ell_fill;
  for (int64_t i = 0; i < n; ++i) fill[i] = 0;
  for (int64_t e = off; e < off + ne; ++e) {
    const int32_t ends[2] = {p->edge_i[e], p->edge_j[e]};
    const double d = ref_distance(p, b, ends[0], ends[1]);
    const double k = factor * atoms_coefficient(p->opt.coeff, d, p->opt.dmin);
    for (int side = 0; side < 2; ++side) {
      const int32_t i = ends[side];
      const int64_t at = p->slice_offset[s0 + i / ATOMS_LANES] + fill[i]++ * ATOMS_LANES + i % ATOMS_LANES;
      p->ell_nbr[at] = ends[1 - side];
      p->ell_dref[at] = d, p->ell_dref_f[at] = (float)d;
      if (p->ell_k) p->ell_k[at] = k, p->ell_k_f[at] = (float)k;
    }
  }
  for (int64_t slice = 0; slice < (n + ATOMS_LANES - 1) / ATOMS_LANES; ++slice) {
    const int64_t first = p->slice_offset[s0 + slice], width = (p->slice_offset[s0 + slice + 1] - first) / ATOMS_LANES;
    for (int l = 0; l < ATOMS_LANES; ++l) {
      const int64_t i = slice * ATOMS_LANES + l, self = i < n ? i : n - 1;
      for (int64_t w = i < n ? fill[i] : 0; w < width; ++w) {
        const int64_t at = first + w * ATOMS_LANES + l;
        p->ell_nbr[at] = (int32_t)self;
        p->ell_dref[at] = -1, p->ell_dref_f[at] = -1;
        if (p->ell_k) p->ell_k[at] = 0, p->ell_k_f[at] = 0;
      }
    }
  }
}

/* Orient every edge i < j and counting-sort a structure's edges by i:
 * a canonical order, so every atom's adjacency list (built in edge order)
 * and hence the loss's rounding do not depend on how the edges were
 * listed or generated. */
static core_status edges_sort(atoms_plan *p, int64_t b) {
  const int64_t n = p->natoms[b], off = p->edge_offset[b], ne = p->edge_offset[b + 1] - off;
  if (ne == 0) return CORE_OK;
  int64_t *start = calloc((size_t)n + 1, sizeof *start);
  int32_t *tmp = malloc(sizeof(int32_t) * 2 * (size_t)ne);
  if (!start || !tmp) {
    free(start), free(tmp);
    return CORE_ERROR(CORE_ERR_MEM, "atoms: cannot allocate the edge sort of %lld edges", (long long)ne);
  }
  int32_t *ei = p->edge_i + off, *ej = p->edge_j + off;
  for (int64_t e = 0; e < ne; ++e) {
    if (ei[e] > ej[e]) {
      int32_t t = ei[e];
      ei[e] = ej[e], ej[e] = t;
    }
    start[ei[e] + 1]++;
  }
  for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
  for (int64_t e = 0; e < ne; ++e) {
    int64_t at = start[ei[e]]++;
    tmp[2 * at] = ei[e], tmp[2 * at + 1] = ej[e];
  }
  for (int64_t e = 0; e < ne; ++e) ei[e] = tmp[2 * e], ej[e] = tmp[2 * e + 1];
  free(start), free(tmp);
  return CORE_OK;
}

void atoms_slice_law(const atoms_plan *p, int64_t b, slice_law *law) {
  /* scale is set once the plan knows the batch; layout time needs only the law. */
  law->factor = p->scale ? p->opt.k0 * p->scale[b] : 0.0;
  law->dmin = p->opt.dmin;
  law->numerator = p->opt.coeff == ATOMS_COEFF_LJ ? 72.0 : 1.0;
  switch (p->opt.coeff) {
    case ATOMS_COEFF_CONSTANT: law->law = SLICE_LAW_CONSTANT; break;
    case ATOMS_COEFF_INV_DIST: law->law = SLICE_LAW_INVERSE; break;
    case ATOMS_COEFF_INV_DIST2:
    case ATOMS_COEFF_LJ: law->law = SLICE_LAW_INVERSE_SQUARE; break;
    default: law->law = SLICE_LAW_STORED; break;
  }
}

core_status atoms_edges_slice_layout(atoms_plan *p) {
  CORE_CHECK(p->n_max * p->d < INT32_MAX, CORE_ERR_ARG, "atoms: %lld atoms in %d dimensions is too many for an edge list",
             (long long)p->n_max, p->d);
  p->slice_base[0] = 0;
  for (int64_t b = 0; b < p->b_count; ++b)
    p->slice_base[b + 1] = p->slice_base[b] + (p->natoms[b] + ATOMS_LANES - 1) / ATOMS_LANES;
  const int64_t slices = p->slice_base[p->b_count];
  p->slice_offset = malloc(sizeof(int64_t) * ((size_t)slices + 1));
  p->ell_fill = malloc(sizeof(int64_t) * ((size_t)p->n_max + 1));
  int64_t *degree = p->ell_fill;
  CORE_CHECK(p->slice_offset && degree, CORE_ERR_MEM, "atoms: cannot allocate the edge slices");
  p->slice_offset[0] = 0;
  for (int64_t b = 0; b < p->b_count; ++b) {
    const int64_t n = p->natoms[b], off = p->edge_offset[b], ne = p->edge_offset[b + 1] - off;
    for (int64_t i = 0; i < n; ++i) degree[i] = 0;
    for (int64_t e = off; e < off + ne; ++e) degree[p->edge_i[e]]++, degree[p->edge_j[e]]++;
    for (int64_t slice = 0; slice < p->slice_base[b + 1] - p->slice_base[b]; ++slice) {
      int64_t width = 0;
      for (int64_t i = slice * ATOMS_LANES; i < n && i < (slice + 1) * ATOMS_LANES; ++i)
        width = degree[i] > width ? degree[i] : width;
      const int64_t s = p->slice_base[b] + slice;
      p->slice_offset[s + 1] = p->slice_offset[s] + width * ATOMS_LANES;
    }
  }
  const size_t entries = (size_t)(p->slice_offset[slices] > 0 ? p->slice_offset[slices] : 1);
  p->ell_nbr = malloc(sizeof(int32_t) * entries);
  p->ell_dref = malloc(sizeof(double) * entries);
  p->ell_dref_f = malloc(sizeof(float) * entries);
  slice_law law;
  atoms_slice_law(p, 0, &law);
  if (law.law == SLICE_LAW_STORED) {
    p->ell_k = malloc(sizeof(double) * entries);
    p->ell_k_f = malloc(sizeof(float) * entries);
  }
  CORE_CHECK(p->ell_nbr && p->ell_dref && p->ell_dref_f && (law.law != SLICE_LAW_STORED || (p->ell_k && p->ell_k_f)),
             CORE_ERR_MEM,
             "atoms: cannot allocate %lld edge slots", (long long)entries);
  return CORE_OK;
}

core_status atoms_edges_fill(atoms_plan *p, const atoms_options *opt, int64_t b, uint64_t draw) {
  CORE_CALL(edges_fill_raw(p, opt, b, draw));
  if (p->complete) return CORE_OK;
  return edges_sort(p, b);
}
