/* Internals shared by the atoms sources: the plan layout and the kernels'
 * signatures. Not installed. */
#ifndef ELOSS_ATOMS_IMPL_H
#define ELOSS_ATOMS_IMPL_H

#include "eloss/atoms.h"

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
  /* Eq. 7 edge data, concatenated over owned structures. For complete
   * graphs the pairs are implicit (i < j, row-major upper triangle) and
   * edge_i/edge_j stay NULL. */
  int complete;
  int64_t *edge_offset;      /* (b_count + 1) */
  int32_t *edge_i, *edge_j;  /* (n_edges) */
  double *dref, *kcoef;      /* (n_edges) reference distance, k' = k0 k scale */
  float *dref_f, *kcoef_f;   /* (n_edges) the same for the float32 path */
  int64_t n_edges;
  /* REGULAR: lazily built pool, graph p of atom count n comes from the
   * stream (seed, CORE_PURPOSE_EDGES, n * pool + p). */
  int64_t pool_n_count;
  int64_t *pool_n;           /* (pool_n_count) distinct atom counts */
  int32_t **pool_graph;      /* (pool_n_count * pool) edges (n k / 2, 2), NULL until used */
  /* Workspaces sized at creation. */
  double *terms;             /* (b_count) */
  double *terms_all;         /* (batch) */
  int *recv_counts, *displs; /* (size) */
  double *soa, *soa_grad;    /* (d, n_max) */
  float *soa_f, *soa_grad_f; /* (d, n_max) */
};

/* Eq. 7 kernels (energy.c): sum over the structure's edges of
 * k' (d_ref - |pred_i - pred_j|)^2, gradient written to grad (n, d). */
double atoms_energy_structure_f64(const atoms_plan *plan, int64_t b, const double *pred,
                                  double *grad, double *soa, double *soa_grad);
double atoms_energy_structure_f32(const atoms_plan *plan, int64_t b, const float *pred,
                                  float *grad, float *soa, float *soa_grad);

/* Baselines (baselines.c): the structure's share of the batch loss. */
core_status atoms_baseline_structure_f64(const atoms_plan *plan, int64_t b,
                                         const double *pred, double *grad, double *term);
core_status atoms_baseline_structure_f32(const atoms_plan *plan, int64_t b,
                                         const float *pred, float *grad, double *term);

/* Edge construction (edges.c). */
core_status atoms_edges_count(const atoms_plan *plan, const atoms_options *opt, int64_t b,
                              int64_t *count);
core_status atoms_edges_fill(atoms_plan *plan, const atoms_options *opt, int64_t b,
                             uint64_t draw);
/* Reference distance and k' of every edge of structure b. */
void atoms_edges_weigh(atoms_plan *plan, int64_t b);

#endif
