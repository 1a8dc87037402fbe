/* Plan/execute driver of the atomistic losses.
 *
 * atoms_options_default(&opt): paper defaults (energy loss, constant
 *   coefficients, complete graph, k0 = 1, dmin = 1e-6, pool = 100).
 * atoms_plan_create(comm, opt, B, b_start, b_count, N, d, ref, natoms, &plan):
 *   collective; see atoms.h.
 * atoms_plan_execute / _f32: collective; per-structure terms are computed
 *   locally, gathered to every rank and summed in global structure order, so
 *   the loss is bit-identical for any number of ranks (a plain Allreduce
 *   would change the summation order with the rank count).
 * atoms_plan_execute_local: local.
 * atoms_plan_resample(plan, draw): local; REGULAR edges only.
 * atoms_plan_set_reference(plan, ref, natoms), atoms_plan_matches: local;
 *   reuse a plan for new reference structures of the same shape (a
 *   training step's targets), keeping its buffers and graph pool.
 *
 * Normalisation, fixed here once for every kernel: the energy loss is
 * (1/B) sum_b E_b [/ n_b if per_atom]; MSE, MAE and Kabsch are means over
 * the real coordinates of the whole batch, as torch's reductions over a
 * (B, N, d) tensor without padding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoms_impl.h"

void atoms_options_default(atoms_options *opt) {
  memset(opt, 0, sizeof *opt);
  opt->loss = ATOMS_LOSS_ENERGY;
  opt->coeff = ATOMS_COEFF_CONSTANT;
  opt->k0 = 1.0;
  opt->dmin = 1e-6;
  opt->edges = ATOMS_EDGES_COMPLETE;
  opt->pool = 100;
  opt->seed = 0;
  opt->bond_tolerance = 0.45;
}

/* malloc(0) may return NULL; every buffer gets at least one element. */
static size_t at_least_one(int64_t n) { return n > 0 ? (size_t)n : 1; }

const char *const atoms_loss_names[ATOMS_LOSS_COUNT] = {"energy", "mse", "mae", "kabsch"};
const char *const atoms_coeff_names[ATOMS_COEFF_COUNT] = {"constant", "exp_dist", "inv_dist", "inv_dist2", "lj"};
const char *const atoms_edges_names[ATOMS_EDGES_COUNT] = {"complete", "explicit", "regular", "bonds"};


core_status atoms_loss_from_name(const char *name, atoms_loss_kind *loss) {
  int k = 0;
  CORE_CALL(core_name_lookup("loss", atoms_loss_names, ATOMS_LOSS_COUNT, name, &k));
  *loss = (atoms_loss_kind)k;
  return CORE_OK;
}

core_status atoms_coeff_from_name(const char *name, atoms_coeff_law *coeff) {
  int k = 0;
  CORE_CALL(core_name_lookup("coefficient law", atoms_coeff_names, ATOMS_COEFF_COUNT, name, &k));
  *coeff = (atoms_coeff_law)k;
  return CORE_OK;
}

core_status atoms_edges_from_name(const char *name, atoms_edge_kind *edges) {
  int k = 0;
  CORE_CALL(core_name_lookup("edge set", atoms_edges_names, ATOMS_EDGES_COUNT, name, &k));
  *edges = (atoms_edge_kind)k;
  return CORE_OK;
}

const char *atoms_loss_name(atoms_loss_kind loss) { return atoms_loss_names[loss]; }
const char *atoms_coeff_name(atoms_coeff_law coeff) { return atoms_coeff_names[coeff]; }

void atoms_plan_destroy(atoms_plan **plan) {
  if (!plan || !*plan) return;
  atoms_plan *p = *plan;
  free(p->natoms);
  free(p->ref);
  free(p->scale);
  free(p->edge_offset);
  free(p->edge_i);
  free(p->edge_j);
  free(p->slice_base), free(p->slice_offset), free(p->ell_nbr), free(p->ell_dref), free(p->ell_k);
  free(p->ell_dref_f), free(p->ell_k_f), free(p->ell_fill), free(p->chunk_energy);
  free(p->dref);
  free(p->kcoef);
  free(p->dref_f);
  free(p->kcoef_f);
  free(p->group_first);
  free(p->group_size);
  free(p->group_offset);
  free(p->qref);
  free(p->qsq);
  if (p->pool_graph)
    for (int64_t i = 0; i < p->pool_n_count * p->opt.pool; ++i) free(p->pool_graph[i]);
  free(p->pool_graph);
  free(p->pool_n);
  free(p->terms);
  free(p->terms_all);
  free(p->recv_counts);
  free(p->displs);
  free(p->soa);
  free(p->soa_grad);
  free(p->soa_f);
  free(p->soa_grad_f);
  free(p);
  *plan = NULL;
}

/* Explicit edges as (min, max, row) triples, sorted: a repeated unordered
 * pair sits next to its first occurrence. */
static int compare_edges(const void *a, const void *b) {
  const int64_t *x = a, *y = b;
  for (int k = 0; k < 3; ++k)
    if (x[k] != y[k]) return x[k] < y[k] ? -1 : 1;
  return 0;
}

/* Each row of an explicit list already stands for both orientations of a
 * pair (Eq. 7), so a pair given twice, in either order, would count its
 * spring twice: refused, naming both rows. */
static core_status check_distinct_edges(const int32_t *edges, int64_t m) {
  if (m < 2) return CORE_OK;
  int64_t *key = malloc(sizeof(int64_t) * 3 * (size_t)m);
  CORE_CHECK(key, CORE_ERR_MEM, "atoms: cannot allocate %lld edges", (long long)m);
  for (int64_t e = 0; e < m; ++e) {
    const int64_t i = edges[2 * e], j = edges[2 * e + 1];
    key[3 * e] = i < j ? i : j, key[3 * e + 1] = i < j ? j : i, key[3 * e + 2] = e;
  }
  qsort(key, (size_t)m, 3 * sizeof(int64_t), compare_edges);
  core_status st = CORE_OK;
  for (int64_t e = 1; e < m && !st; ++e)
    if (key[3 * e] == key[3 * e - 3] && key[3 * e + 1] == key[3 * e - 2])
      st = CORE_ERROR(CORE_ERR_ARG, "atoms: edge %lld (%lld, %lld) repeats edge %lld: each row stands for both "
                                    "orientations of its pair, so give a pair once",
                      (long long)key[3 * e + 2], (long long)edges[2 * key[3 * e + 2]],
                      (long long)edges[2 * key[3 * e + 2] + 1], (long long)key[3 * e - 1]);
  free(key);
  return st;
}

static core_status check_options(const atoms_options *opt, int d) {
  CORE_CHECK(d == 2 || d == 3, CORE_ERR_ARG, "atoms: dimension must be 2 or 3, got %d", d);
  CORE_CHECK((unsigned)opt->loss <= ATOMS_LOSS_KABSCH, CORE_ERR_ARG, "atoms: unknown loss %d", (int)opt->loss);
  CORE_CHECK((unsigned)opt->coeff <= ATOMS_COEFF_LJ, CORE_ERR_ARG, "atoms: unknown coefficient law %d", (int)opt->coeff);
  CORE_CHECK(isfinite(opt->k0) && opt->k0 > 0, CORE_ERR_ARG, "atoms: k0 must be positive, got %g", opt->k0);
  CORE_CHECK(isfinite(opt->dmin) && opt->dmin > 0, CORE_ERR_ARG, "atoms: dmin must be positive, got %g", opt->dmin);
  if (opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_REGULAR)
    CORE_CHECK(opt->pool >= 1, CORE_ERR_ARG, "atoms: the graph pool must hold at least one graph, got %d", opt->pool);
  if (opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_EXPLICIT)
    CORE_CHECK(opt->edge_list || opt->n_edges == 0, CORE_ERR_ARG, "atoms: explicit edges requested without an edge list");
  if (opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_EXPLICIT && opt->edge_list)
    CORE_CALL(check_distinct_edges(opt->edge_list, opt->n_edges));
  if (opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_BONDS)
    CORE_CHECK(opt->element, CORE_ERR_ARG, "atoms: bond edges need the atoms' elements (an XYZ reference)");
  return CORE_OK;
}

/* Lane groups: runs of consecutive structures with equal atom counts, cut
 * every ATOMS_LANES structures, for the kernels that vectorise across
 * structures (complete-graph energy, Kabsch). */
static core_status build_groups(atoms_plan *p) {
  const int64_t bc = p->b_count;
  p->group_first = malloc(sizeof(int64_t) * at_least_one(bc));
  p->group_size = malloc(sizeof(int) * at_least_one(bc));
  p->group_offset = malloc(sizeof(int64_t) * at_least_one(bc));
  CORE_CHECK(p->group_first && p->group_size && p->group_offset, CORE_ERR_MEM,
             "atoms: cannot allocate %lld lane groups", (long long)bc);
  for (int64_t b = 0; b < bc;) {
    int64_t g = p->n_groups++, size = 1;
    while (b + size < bc && size < ATOMS_LANES && p->natoms[b + size] == p->natoms[b]) ++size;
    p->group_first[g] = b;
    p->group_size[g] = (int)size;
    b += size;
  }
  return CORE_OK;
}

/* Kabsch: each group's centred reference as (n, d, lanes) and each lane's
 * sum of squares, fixed by the reference, so execute only touches the
 * prediction. Unused lanes stay zero. fill_kabsch_reference recomputes
 * them from p->ref (plan creation and atoms_plan_set_reference). */
static void fill_kabsch_reference(atoms_plan *p) {
  const int d = p->d;
  for (int64_t g = 0; g < p->n_groups; ++g) {
    const int64_t first = p->group_first[g], n = p->natoms[first];
    double *q = p->qref + p->group_offset[g];
    for (int l = 0; l < p->group_size[g]; ++l) {
      const double *y = p->ref + (first + l) * p->n_max * d;
      double c[3] = {0, 0, 0};
      for (int64_t i = 0; i < n; ++i)
        for (int k = 0; k < d; ++k) c[k] += y[i * d + k] / (double)n;
      p->qsq[g * ATOMS_LANES + l] = 0;
      for (int64_t i = 0; i < n; ++i)
        for (int k = 0; k < d; ++k) {
          double v = y[i * d + k] - c[k];
          q[(i * d + k) * ATOMS_LANES + l] = v;
          p->qsq[g * ATOMS_LANES + l] += v * v;
        }
    }
  }
}

static core_status build_kabsch_reference(atoms_plan *p) {
  const int d = p->d;
  int64_t total = 0;
  for (int64_t g = 0; g < p->n_groups; ++g) {
    p->group_offset[g] = total;
    total += p->natoms[p->group_first[g]] * d * ATOMS_LANES;
  }
  p->qref = calloc(at_least_one(total), sizeof(double));
  p->qsq = calloc(at_least_one(p->n_groups * ATOMS_LANES), sizeof(double));
  CORE_CHECK(p->qref && p->qsq, CORE_ERR_MEM, "atoms: cannot allocate the Kabsch reference");
  fill_kabsch_reference(p);
  return CORE_OK;
}

/* Every real coordinate of the rank's reference structures is finite. */
static core_status check_reference(const atoms_plan *p, const double *ref) {
  for (int64_t b = 0; b < p->b_count; ++b)
    for (int64_t a = 0; a < p->natoms[b] * p->d; ++a)
      CORE_CHECK(isfinite(ref[b * p->n_max * p->d + a]), CORE_ERR_VALUE,
                 "atoms: reference structure %lld has a non-finite coordinate (atom %lld)",
                 (long long)(p->b_start + b), (long long)(a / p->d));
  return CORE_OK;
}

/* Everything local to one rank; the caller agrees on the status. */
static core_status plan_build(atoms_plan *p, const atoms_options *opt, const double *ref,
                              const int64_t *natoms) {
  const int64_t bc = p->b_count, n = p->n_max;
  const int d = p->d;
  p->natoms = malloc(sizeof *p->natoms * at_least_one(bc));
  p->ref = malloc(sizeof *p->ref * at_least_one(bc * n * d));
  p->scale = malloc(sizeof *p->scale * at_least_one(bc));
  p->terms = malloc(sizeof *p->terms * at_least_one(bc));
  p->terms_all = malloc(sizeof *p->terms_all * at_least_one(p->batch));
  p->recv_counts = malloc(sizeof(int) * (size_t)p->size);
  p->displs = malloc(sizeof(int) * (size_t)p->size);
  p->edge_offset = calloc((size_t)bc + 1, sizeof *p->edge_offset);
  /* Complete graphs and Kabsch transpose ATOMS_LANES structures at a time to
   * (d, n, lanes) coordinates and gradients; the other kernels work in
   * place and need no workspace. */
  int lanes = (opt->loss == ATOMS_LOSS_ENERGY && opt->edges == ATOMS_EDGES_COMPLETE) ||
              opt->loss == ATOMS_LOSS_KABSCH;
  size_t soa = at_least_one(lanes ? n * d * ATOMS_LANES : 0);
  p->soa = malloc(sizeof(double) * soa);
  p->soa_grad = malloc(sizeof(double) * soa);
  p->soa_f = malloc(sizeof(float) * soa);
  p->soa_grad_f = malloc(sizeof(float) * soa);
  p->workspace_bytes = 2.0 * (double)soa * (sizeof(double) + sizeof(float));
  CORE_CHECK(p->natoms && p->ref && p->scale && p->terms && p->terms_all && p->recv_counts &&
                 p->displs && p->edge_offset && p->soa && p->soa_grad && p->soa_f && p->soa_grad_f,
             CORE_ERR_MEM, "atoms: cannot allocate a plan for %lld structures of %lld atoms",
             (long long)bc, (long long)n);
  if (bc * n * d > 0) memcpy(p->ref, ref, sizeof *ref * (size_t)(bc * n * d));
  for (int64_t b = 0; b < bc; ++b) {
    p->natoms[b] = natoms ? natoms[b] : n;
    CORE_CHECK(p->natoms[b] >= 0 && p->natoms[b] <= n, CORE_ERR_ARG,
               "atoms: structure %lld has %lld atoms, outside [0, %lld]",
               (long long)(p->b_start + b), (long long)p->natoms[b], (long long)n);
  }
  CORE_CALL(check_reference(p, ref));
  if (opt->loss == ATOMS_LOSS_KABSCH) {
    CORE_CALL(build_groups(p));
    return build_kabsch_reference(p);
  }
  if (opt->loss != ATOMS_LOSS_ENERGY) return CORE_OK;

  p->complete = opt->edges == ATOMS_EDGES_COMPLETE;
  if (opt->edges == ATOMS_EDGES_REGULAR) {
    /* Distinct atom counts of the owned structures index the lazy pool. */
    p->pool_n = malloc(sizeof *p->pool_n * at_least_one(bc));
    CORE_CHECK(p->pool_n, CORE_ERR_MEM, "atoms: cannot allocate the graph pool index");
    for (int64_t b = 0; b < bc; ++b) {
      int64_t k;
      for (k = 0; k < p->pool_n_count && p->pool_n[k] != p->natoms[b]; ++k) {}
      if (k == p->pool_n_count) p->pool_n[p->pool_n_count++] = p->natoms[b];
    }
    p->pool_graph = calloc(at_least_one(p->pool_n_count * opt->pool),
                           sizeof *p->pool_graph);
    CORE_CHECK(p->pool_graph, CORE_ERR_MEM, "atoms: cannot allocate the graph pool");
  }
  for (int64_t b = 0; b < bc; ++b) {
    int64_t count;
    CORE_CALL(atoms_edges_count(p, opt, b, &count));
    p->edge_offset[b + 1] = p->edge_offset[b] + count;
  }
  p->n_edges = p->edge_offset[bc];
  p->n_slots = p->n_edges;
  if (p->complete) {
    CORE_CALL(build_groups(p));
    p->n_slots = 0;
    for (int64_t g = 0; g < p->n_groups; ++g) {
      const int64_t n_g = p->natoms[p->group_first[g]];
      p->group_offset[g] = p->n_slots;
      p->n_slots += n_g * (n_g - 1) / 2 * ATOMS_LANES;
    }
  }
  size_t ne = at_least_one(p->n_slots);
  if (p->complete) {
    p->dref = calloc(ne, sizeof(double));
    p->kcoef = calloc(ne, sizeof(double));
    p->dref_f = calloc(ne, sizeof(float));
    p->kcoef_f = calloc(ne, sizeof(float));
  } else {
    p->edge_i = malloc(sizeof(int32_t) * ne);
    p->edge_j = malloc(sizeof(int32_t) * ne);
    p->slice_base = malloc(sizeof(int64_t) * ((size_t)bc + 1));
    p->chunk_energy = malloc(sizeof(double) * (size_t)(n / ATOMS_CHUNK + 1));
  }
  CORE_CHECK(p->complete ? p->dref && p->kcoef && p->dref_f && p->kcoef_f
                         : p->edge_i && p->edge_j && p->slice_base && p->chunk_energy,
             CORE_ERR_MEM, "atoms: cannot allocate %.3g GB for the pairs of %lld structures of up to %lld atoms: split "
             "the batch", (double)p->n_slots * (p->complete ? 24.0 : 8.0) / 1e9, (long long)bc, (long long)n);
  /* Coefficients are weighed once the batch-wide normalisers are known. */
  for (int64_t b = 0; b < bc; ++b) CORE_CALL(atoms_edges_fill(p, opt, b, 0));
  if (!p->complete) CORE_CALL(atoms_edges_slice_layout(p));
  return CORE_OK;
}

core_status atoms_plan_create(MPI_Comm comm, const atoms_options *opt, int64_t batch,
                              int64_t b_start, int64_t b_count, int64_t n_max, int d,
                              const double *ref, const int64_t *natoms, atoms_plan **plan) {
  *plan = NULL;
  core_status st = check_options(opt, d);
  if (!st && (batch < 0 || b_start < 0 || b_count < 0 || b_start + b_count > batch || n_max < 0))
    st = CORE_ERROR(CORE_ERR_ARG, "atoms: owned structures [%lld, %lld) outside a batch of %lld",
                    (long long)b_start, (long long)(b_start + b_count), (long long)batch);
  atoms_plan *p = NULL;
  if (!st) {
    p = calloc(1, sizeof *p);
    if (!p) st = CORE_ERROR(CORE_ERR_MEM, "atoms: cannot allocate a plan");
  }
  if (p) {
    p->comm = comm;
    MPI_Comm_rank(comm, &p->rank);
    MPI_Comm_size(comm, &p->size);
    p->opt = *opt;
    p->opt.edge_list = NULL;
    p->opt.element = NULL;
    if (p->opt.degree == 0) p->opt.degree = 2 * d;
    p->batch = batch, p->b_start = b_start, p->b_count = b_count, p->n_max = n_max, p->d = d;
  }
  if (!st) st = plan_build(p, opt, ref, natoms);
  st = core_agree(comm, st);
  if (st) {
    atoms_plan_destroy(&p);
    return st;
  }
  /* Who owns which structures, for the gather of per-structure terms. */
  int64_t range[2] = {b_start, b_count}, *ranges = malloc(sizeof(int64_t) * 2 * (size_t)p->size);
  st = ranges ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "atoms: cannot allocate rank ranges");
  st = core_agree(comm, st);
  if (st) {
    atoms_plan_destroy(&p);
    return st;
  }
  MPI_Allgather(range, 2, MPI_INT64_T, ranges, 2, MPI_INT64_T, comm);
  int64_t covered = 0;
  for (int r = 0; r < p->size; ++r) {
    if (ranges[2 * r] != covered) st = CORE_ERROR(CORE_ERR_ARG,
        "atoms: ranks must own consecutive structures in rank order (rank %d starts at %lld, expected %lld)",
        r, (long long)ranges[2 * r], (long long)covered);
    p->displs[r] = (int)ranges[2 * r];
    p->recv_counts[r] = (int)ranges[2 * r + 1];
    covered += ranges[2 * r + 1];
  }
  free(ranges);
  if (!st && covered != batch)
    st = CORE_ERROR(CORE_ERR_ARG, "atoms: ranks own %lld structures of a batch of %lld",
                    (long long)covered, (long long)batch);
  if (st) {
    atoms_plan_destroy(&p);
    return st;
  }
  /* Normalisers need batch-wide counts. */
  double local_coords = 0;
  for (int64_t b = 0; b < b_count; ++b) local_coords += (double)(p->natoms[b] * d);
  double coords = local_coords;
  MPI_Allreduce(&local_coords, &coords, 1, MPI_DOUBLE, MPI_SUM, comm);
  for (int64_t b = 0; b < b_count; ++b) {
    if (opt->loss == ATOMS_LOSS_ENERGY)
      p->scale[b] = 1.0 / (double)batch / (opt->per_atom && p->natoms[b] ? (double)p->natoms[b] : 1.0);
    else
      p->scale[b] = coords > 0 ? 1.0 / coords : 0.0;
  }
  if (opt->loss == ATOMS_LOSS_ENERGY)
    for (int64_t b = 0; b < b_count; ++b) atoms_edges_weigh(p, b);
  *plan = p;
  return CORE_OK;
}

core_status atoms_plan_resample(atoms_plan *plan, uint64_t draw) {
  if (plan->opt.loss != ATOMS_LOSS_ENERGY || plan->opt.edges != ATOMS_EDGES_REGULAR) return CORE_OK;
  for (int64_t b = 0; b < plan->b_count; ++b) {
    CORE_CALL(atoms_edges_fill(plan, &plan->opt, b, draw));
    atoms_edges_weigh(plan, b);
  }
  return CORE_OK;
}

int atoms_plan_matches(const atoms_plan *plan, int64_t b_count, int64_t n_max, int d, const int64_t *natoms) {
  if (!plan || plan->b_count != b_count || plan->n_max != n_max || plan->d != d) return 0;
  for (int64_t b = 0; b < b_count; ++b)
    if (plan->natoms[b] != (natoms ? natoms[b] : n_max)) return 0;
  return 1;
}

/* The same computation as plan creation, on the arrays the plan already
 * has: the complete graph's and the current edges' reference distances and
 * coefficients (atoms_edges_weigh), Kabsch's centred reference, or the
 * copy MSE and MAE read. Bonds depend on the reference geometry, so a
 * BONDS plan cannot keep its edges and is refused. */
core_status atoms_plan_set_reference(atoms_plan *plan, const double *ref, const int64_t *natoms) {
  CORE_CHECK(plan && ref, CORE_ERR_ARG, "atoms_plan_set_reference: NULL argument");
  CORE_CHECK(!(plan->opt.loss == ATOMS_LOSS_ENERGY && plan->opt.edges == ATOMS_EDGES_BONDS), CORE_ERR_ARG,
             "atoms_plan_set_reference: bonds come from the reference geometry; create a new plan");
  CORE_CHECK(atoms_plan_matches(plan, plan->b_count, plan->n_max, plan->d, natoms), CORE_ERR_ARG,
             "atoms_plan_set_reference: the atom counts differ from the plan's; create a new plan");
  CORE_CALL(check_reference(plan, ref));
  const int64_t bc = plan->b_count;
  if (bc * plan->n_max * plan->d > 0) memcpy(plan->ref, ref, sizeof *ref * (size_t)(bc * plan->n_max * plan->d));
  if (plan->opt.loss == ATOMS_LOSS_KABSCH) fill_kabsch_reference(plan);
  if (plan->opt.loss == ATOMS_LOSS_ENERGY)
    for (int64_t b = 0; b < bc; ++b) atoms_edges_weigh(plan, b);
  return CORE_OK;
}

int64_t atoms_plan_edge_count(const atoms_plan *plan) {
  if (plan->opt.loss != ATOMS_LOSS_ENERGY) return 0;
  return plan->n_edges;
}

core_status atoms_plan_structure_edges(const atoms_plan *plan, int64_t b, int64_t capacity, int32_t *edges,
                                       int64_t *count) {
  CORE_CHECK(b >= 0 && b < plan->b_count, CORE_ERR_ARG, "atoms: structure %lld outside the plan's %lld structures",
             (long long)b, (long long)plan->b_count);
  CORE_CHECK(capacity >= 0 && (edges || capacity == 0), CORE_ERR_ARG,
             "atoms: room for %lld edges but no buffer", (long long)capacity);
  *count = 0;
  if (plan->opt.loss != ATOMS_LOSS_ENERGY) return CORE_OK;
  if (plan->complete) { /* pairs are implicit: enumerate the upper triangle */
    const int64_t n = plan->natoms[b];
    *count = n * (n - 1) / 2;
    int64_t e = 0;
    for (int64_t i = 0; i < n && e < capacity; ++i)
      for (int64_t j = i + 1; j < n && e < capacity; ++j, ++e) {
        edges[2 * e] = (int32_t)i;
        edges[2 * e + 1] = (int32_t)j;
      }
    return CORE_OK;
  }
  const int64_t first = plan->edge_offset[b], n_edges = plan->edge_offset[b + 1] - first;
  *count = n_edges;
  for (int64_t e = 0; e < n_edges && e < capacity; ++e) {
    edges[2 * e] = plan->edge_i[first + e];
    edges[2 * e + 1] = plan->edge_j[first + e];
  }
  return CORE_OK;
}

double atoms_plan_bytes_per_structure(const atoms_plan *plan) {
  if (plan->b_count == 0) return 0;
  double per_slot = plan->complete ? 2 * sizeof(double) + 2 * sizeof(float) : 2 * sizeof(int32_t);
  double bytes = (double)plan->n_slots * per_slot;
  if (!plan->complete && plan->slice_offset) { /* the sliced ELLPACK copy */
    const double entries = (double)plan->slice_offset[plan->slice_base[plan->b_count]];
    bytes += entries * (sizeof(int32_t) + sizeof(double) + sizeof(float) +
                        (plan->ell_k ? sizeof(double) + sizeof(float) : 0));
    bytes += (double)(plan->slice_base[plan->b_count] + 1) * sizeof(int64_t);
    bytes += (double)(plan->n_max + 1) * sizeof(int64_t) + (double)(plan->n_max / ATOMS_CHUNK + 1) * sizeof(double);
  }
  bytes += (double)plan->b_count * (double)(plan->n_max * plan->d) * sizeof(double); /* ref copy */
  if (plan->opt.loss == ATOMS_LOSS_KABSCH) /* lane-layout centred reference */
    bytes += (double)plan->n_groups * ATOMS_LANES * (double)(plan->n_max * plan->d + 1) * sizeof(double);
  bytes += (double)plan->b_count * (sizeof(int64_t) * 2 + sizeof(double) * 3);
  return (bytes + plan->workspace_bytes) / (double)plan->b_count;
}

static double sum_terms(atoms_plan *plan) {
  const double *all = plan->terms;
  if (plan->size > 1) {
    MPI_Allgatherv(plan->terms, (int)plan->b_count, MPI_DOUBLE, plan->terms_all,
                   plan->recv_counts, plan->displs, MPI_DOUBLE, plan->comm);
    all = plan->terms_all;
  }
  double sum = 0;
  for (int64_t b = 0; b < plan->batch; ++b) sum += all[b];
  return sum;
}

core_status atoms_plan_execute_local(atoms_plan *plan, const double *pred, double *terms,
                                     double *grad) {
  const int64_t stride = plan->n_max * plan->d;
  if (plan->opt.loss == ATOMS_LOSS_ENERGY) {
    atoms_energy_f64(plan, pred, terms, grad);
    return CORE_OK;
  }
  if (plan->opt.loss == ATOMS_LOSS_KABSCH) return atoms_kabsch_f64(plan, pred, terms, grad);
  for (int64_t b = 0; b < plan->b_count; ++b)
    CORE_CALL(atoms_baseline_structure_f64(plan, b, pred + b * stride, grad ? grad + b * stride : NULL,
                                           &terms[b]));
  return CORE_OK;
}

core_status atoms_plan_execute(atoms_plan *plan, const double *pred, double *loss, double *grad) {
  core_status st = atoms_plan_execute_local(plan, pred, plan->terms, grad);
  if (plan->size > 1) st = core_agree(plan->comm, st);
  if (st) return st;
  *loss = sum_terms(plan);
  return CORE_OK;
}

core_status atoms_plan_execute_f32(atoms_plan *plan, const float *pred, double *loss, float *grad) {
  const int64_t stride = plan->n_max * plan->d;
  core_status st = CORE_OK;
  if (plan->opt.loss == ATOMS_LOSS_ENERGY)
    atoms_energy_f32(plan, pred, plan->terms, grad);
  else if (plan->opt.loss == ATOMS_LOSS_KABSCH)
    st = atoms_kabsch_f32(plan, pred, plan->terms, grad);
  else
    for (int64_t b = 0; b < plan->b_count && !st; ++b)
      st = atoms_baseline_structure_f32(plan, b, pred + b * stride, grad ? grad + b * stride : NULL,
                                        &plan->terms[b]);
  if (plan->size > 1) st = core_agree(plan->comm, st);
  if (st) return st;
  *loss = sum_terms(plan);
  return CORE_OK;
}

core_status atoms_plan_time(atoms_plan *plan, const void *pred, int single, int64_t repeat, double *loss, void *grad,
                            double *seconds) {
  core_status st = CORE_OK;
  double start = 0;
  *seconds = 0;
  for (int64_t it = 0; !st && it <= repeat; ++it) {
    if (it == 1) {
      MPI_Barrier(plan->comm);
      start = core_time();
    }
    st = single ? atoms_plan_execute_f32(plan, pred, loss, grad) : atoms_plan_execute(plan, pred, loss, grad);
  }
  if (!st && repeat > 0) {
    const double elapsed = core_time() - start;
    MPI_Allreduce(&elapsed, seconds, 1, MPI_DOUBLE, MPI_MAX, plan->comm);
  }
  return st;
}
