/* Internals shared by the atoms sources: the plan layout and the kernels'
 * signatures. Not installed. */
#ifndef ELOSS_ATOMS_IMPL_H
#define ELOSS_ATOMS_IMPL_H

#include "eloss/atoms.h"

/* Structures evaluated side by side by the complete-graph kernel: one SIMD
 * lane per structure, so the pair loop has no remainder whatever N is. */
enum { ATOMS_LANES = 8 };

/* Atoms per chunk of the edge-list kernel: chunks are the unit of thread
 * work and their energies are added in chunk order, so results do not
 * depend on the number of threads. Structures of at least
 * ATOMS_THREADED_ATOMS atoms use every thread OpenMP gives the process. */
enum { ATOMS_CHUNK = 4096, ATOMS_THREADED_ATOMS = 32768 };

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
  double *dref, *kcoef;      /* complete: (n_slots) reference distance, k' = k0 k scale */
  float *dref_f, *kcoef_f;   /* complete: (n_slots) the same for the float32 path */
  /* Edge lists again, as sliced ELLPACK: atoms in slices of ATOMS_LANES,
   * each slice's adjacency (both orientations of every edge) stored
   * (width, ATOMS_LANES) with width its largest degree, short lists and
   * missing atoms padded with the atom itself and k' = 0. The kernel runs
   * one SIMD lane per atom, gathers its neighbours and keeps its gradient
   * row in registers, so slices can be split among threads. Structure b's
   * slices are slice_base[b] .. slice_base[b + 1] - 1. */
  int64_t *slice_base;       /* (b_count + 1) */
  int64_t *slice_offset;     /* (slices + 1) first entry of each slice */
  int32_t *ell_nbr;          /* (entries) the other atom */
  double *ell_dref, *ell_k;  /* (entries); padding has d = -1; k' only for */
  float *ell_dref_f, *ell_k_f; /* laws the kernel cannot recompute (else NULL) */
  int64_t *ell_fill;         /* (n_max + 1) scratch: degrees, fill counts */
  double *chunk_energy;      /* (n_max / ATOMS_CHUNK + 1) per-chunk sums */
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
/* How the sliced kernel gets k': stored per entry (exp_dist), or
 * recomputed from the reference distance as factor * c(d) with c one of
 * atoms_coefficient's cheap laws (1, numerator / d, numerator / d^2 with
 * d clamped below at dmin), which halves the data a sweep streams. */
typedef enum { SLICE_LAW_STORED, SLICE_LAW_CONSTANT, SLICE_LAW_INVERSE, SLICE_LAW_INVERSE_SQUARE } slice_law_kind;
typedef struct {
  slice_law_kind law;
  double factor, dmin, numerator;
} slice_law;
void atoms_slice_law(const atoms_plan *plan, int64_t b, slice_law *law);

/* Reference distance and k' of every edge of structure b, and its sliced
 * ELLPACK copy. */
void atoms_edges_weigh(atoms_plan *plan, int64_t b);
/* Sizes of the sliced ELLPACK arrays from the filled edge lists (widths
 * are each slice's largest degree; a regular pool graph keeps them), and
 * their allocation. */
core_status atoms_edges_slice_layout(atoms_plan *plan);

#endif
