/* Internals shared by the atoms sources: the plan layout and the kernels'
 * signatures. Not installed. */
#ifndef ELOSS_ATOMS_IMPL_H
#define ELOSS_ATOMS_IMPL_H

#include "eloss/atoms.h"

/* Structures evaluated side by side by the complete-graph kernel: one SIMD
 * lane per structure, so the pair loop has no remainder whatever N is. */
enum { ATOMS_LANES = 8 };

struct atoms_plan {
  MPI_Comm comm;
  int rank, size;
  atoms_options opt; /* copy; edge_list and element pointers cleared */
  int64_t batch, b_start, b_count, n_max;
  int d;
  int64_t *natoms;   /* (b_count) real atoms per owned structure          */
  double *ref;       /* (b_count, n_max, d) reference coordinates          */
  double *scale;     /* (b_count) factor turning a structure's sum into its
                        share of the batch loss                              */
  /* Eq. 7 edge data. Edge lists (explicit, regular, bonds) are
   * concatenated over owned structures, each structure's edges sorted by
   * their first atom. Complete graphs keep the pairs implicit (i < j,
   * row-major upper triangle) and group consecutive structures with equal
   * atom counts ATOMS_LANES at a time, their pair data interleaved as
   * (pairs, ATOMS_LANES); unused lanes hold k' = 0. */
  int complete;
  int64_t *edge_offset;      /* (b_count + 1) edge lists only */
  int32_t *edge_i, *edge_j;  /* (n_edges) */
  double *dref, *kcoef;      /* (n_slots) reference distance, k' = k0 k scale */
  float *dref_f, *kcoef_f;   /* (n_slots) the same for the float32 path */
  int64_t n_edges;           /* real edges over owned structures */
  int64_t n_slots;           /* length of dref/kcoef (lane padding included) */
  int64_t n_groups;          /* complete energy and Kabsch */
  int64_t *group_first;      /* (n_groups) first owned structure of a group */
  int *group_size;           /* (n_groups) structures in the group, <= ATOMS_LANES */
  int64_t *group_offset;     /* (n_groups) first slot (energy) or first qref entry */
  double *qref;              /* Kabsch: per group the centred reference (n, d, lanes) */
  double *qsq;               /* Kabsch: (n_groups, lanes) sum of squares of qref */
  /* REGULAR: lazily built pool, graph p of atom count n comes from the
   * stream (seed, CORE_PURPOSE_EDGES, n * pool + p). */
  int64_t pool_n_count;
  int64_t *pool_n;           /* (pool_n_count) distinct atom counts */
  int32_t **pool_graph;      /* (pool_n_count * pool) edges (n k / 2, 2), NULL until used */
  /* Workspaces sized at creation. */
  double *terms;             /* (b_count) */
  double *terms_all;         /* (batch) */
  int *recv_counts, *displs; /* (size) */
  double *soa, *soa_grad;    /* (d, n_max, ATOMS_LANES) */
  float *soa_f, *soa_grad_f; /* (d, n_max, ATOMS_LANES) */
  double workspace_bytes;
};

/* Eq. 7 kernels (energy.c): each owned structure's sum over its edges of
 * k' (d_ref - |pred_i - pred_j|)^2 into terms (b_count), gradient rows
 * written to grad (b_count, n_max, d) unless grad is NULL. */
void atoms_energy_f64(atoms_plan *plan, const double *pred, double *terms, double *grad);
void atoms_energy_f32(atoms_plan *plan, const float *pred, double *terms, float *grad);

/* Baselines (baselines.c): the structure's share of the batch loss. */
core_status atoms_baseline_structure_f64(const atoms_plan *plan, int64_t b,
                                         const double *pred, double *grad, double *term);
core_status atoms_baseline_structure_f32(const atoms_plan *plan, int64_t b,
                                         const float *pred, float *grad, double *term);

/* Kabsch-aligned MSE of every owned structure, ATOMS_LANES at a time
 * (baselines.c). */
core_status atoms_kabsch_f64(atoms_plan *plan, const double *pred, double *terms, double *grad);
core_status atoms_kabsch_f32(atoms_plan *plan, const float *pred, double *terms, float *grad);

/* Edge construction (edges.c). */
core_status atoms_edges_count(const atoms_plan *plan, const atoms_options *opt, int64_t b,
                              int64_t *count);
core_status atoms_edges_fill(atoms_plan *plan, const atoms_options *opt, int64_t b,
                             uint64_t draw);
/* Reference distance and k' of every edge of structure b. */
void atoms_edges_weigh(atoms_plan *plan, int64_t b);

#endif
