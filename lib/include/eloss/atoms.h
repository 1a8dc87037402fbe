/* eloss atoms: the paper's atomistic energy loss (Eq. 7) and its baselines
 * (MSE, MAE, Kabsch-aligned MSE) as plan/execute, with analytic gradients,
 * float64 and float32 paths, and structures sharded over MPI ranks.
 *
 * Worked example (each rank owns structures [b_start, b_start + b_count)):
 *
 *   atoms_options opt;
 *   atoms_options_default(&opt);
 *   opt.loss = ATOMS_LOSS_ENERGY;
 *   opt.coeff = ATOMS_COEFF_EXP_DIST;
 *   atoms_plan *plan;
 *   atoms_plan_create(comm, &opt, B, b_start, b_count, N, d, ref, NULL, &plan);
 *   for (step ...) {
 *     double loss;
 *     atoms_plan_execute(plan, pred, &loss, grad);   // collective
 *   }
 *   atoms_plan_destroy(&plan);
 *
 * Arrays are flat row-major: ref, pred, grad are (b_count, N, d) for the
 * rank's own structures; natoms (b_count) gives the real atom count of each
 * structure of a padded batch (rows past it are ignored and get zero
 * gradient). The loss is the mean over all B structures of the per-structure
 * loss (energy) or the mean over all real coordinates of the batch (MSE,
 * MAE, Kabsch), so 1, 2 or 4 ranks give the same number: per-structure terms
 * are gathered and summed in global order on every rank. */
#ifndef ELOSS_ATOMS_H
#define ELOSS_ATOMS_H

#include <mpi.h>
#include <stdint.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  ATOMS_LOSS_ENERGY, /* Eq. 7 pair-distance springs */
  ATOMS_LOSS_MSE,    /* mean squared error over coordinates */
  ATOMS_LOSS_MAE,    /* mean absolute error over coordinates */
  ATOMS_LOSS_KABSCH  /* MSE after optimal proper rotation of the reference */
} atoms_loss_kind;

typedef enum {
  ATOMS_COEFF_CONSTANT,  /* k = 1          (Morse Taylor coefficient, App. A.3) */
  ATOMS_COEFF_EXP_DIST,  /* k = exp(-d)                                         */
  ATOMS_COEFF_INV_DIST,  /* k = 1/d                                             */
  ATOMS_COEFF_INV_DIST2, /* k = 1/d^2                                           */
  ATOMS_COEFF_LJ         /* k = 72/d^2     (Lennard-Jones Taylor coefficient)   */
} atoms_coeff_law;

typedef enum {
  ATOMS_EDGES_COMPLETE, /* every pair i < j of the structure's atoms        */
  ATOMS_EDGES_EXPLICIT, /* one edge list shared by every structure          */
  ATOMS_EDGES_REGULAR,  /* random k-regular graph per structure from a pool;
                           a structure of n <= k atoms: its complete graph */
  ATOMS_EDGES_BONDS     /* covalent bonds of the reference geometry         */
} atoms_edge_kind;

typedef struct {
  atoms_loss_kind loss;
  atoms_coeff_law coeff;
  double k0;        /* global scale of every k_ij (default 1)                  */
  int per_atom;     /* divide each structure's energy by its atom count        */
  double dmin;      /* reference distances below dmin count as dmin in the
                       coefficient law (default 1e-6, length units)           */
  atoms_edge_kind edges;
  const int32_t *edge_list; /* EXPLICIT: (n_edges, 2) unordered pairs      */
  int64_t n_edges;
  int degree;       /* REGULAR: k; 0 means 2 d (the paper's choice)         */
  int pool;         /* REGULAR: graphs pre-generated per atom count (100)  */
  uint64_t seed;    /* REGULAR: pool and per-structure choice              */
  const int *element; /* BONDS: (b_count, N) atomic numbers                */
  double bond_tolerance; /* BONDS: bonded if d < r_i + r_j + tolerance (0.45 A) */
} atoms_options;

void atoms_options_default(atoms_options *opt);

typedef struct atoms_plan atoms_plan;

/* Build a plan from the rank's reference structures: edges, reference
 * distances and coefficients of every owned structure. Collective on comm
 * (agrees on errors and counts the batch's coordinates). ref is copied where
 * needed; opt->edge_list and opt->element are read only during the call.
 * Errors: d not 2 or 3, a non-finite reference coordinate, natoms out of
 * [0, N], an explicit edge outside a structure, an impossible regular graph
 * (n k odd, k >= n), an element without a covalent radius. */
core_status atoms_plan_create(MPI_Comm comm, const atoms_options *opt, int64_t batch,
                              int64_t b_start, int64_t b_count, int64_t n_max, int d,
                              const double *ref, const int64_t *natoms, atoms_plan **plan);

/* Loss over the whole batch and, if grad is not NULL, its gradient with
 * respect to the rank's rows of pred (written, not accumulated). Collective
 * on the plan's comm. Allocates nothing; not reentrant on one plan (it
 * keeps a small workspace); make one plan per thread. */
core_status atoms_plan_execute(atoms_plan *plan, const double *pred, double *loss,
                               double *grad);
/* float32 predictions and gradients; sums are accumulated in double. */
core_status atoms_plan_execute_f32(atoms_plan *plan, const float *pred, double *loss,
                                   float *grad);
/* One evaluation (float32 pred and grad when single, else float64), then
 * `repeat` more, timed: *seconds is the slowest rank's wall time of the
 * repeats (0 when repeat = 0), what a benchmark of the loss reports.
 * Collective on the plan's comm. */
core_status atoms_plan_time(atoms_plan *plan, const void *pred, int single, int64_t repeat, double *loss, void *grad,
                            double *seconds);

/* Local part of execute: terms (b_count) = each owned structure's
 * contribution to the batch loss (already divided by its normaliser), and the
 * gradient rows. Sum terms over all structures in global order for the loss. */
core_status atoms_plan_execute_local(atoms_plan *plan, const double *pred,
                                     double *terms, double *grad);

/* REGULAR edges: draw structure b's graph for draw number `draw` (e.g. the
 * training step) from the pool and recompute its reference distances and
 * coefficients, as the paper resamples a pool graph per loss evaluation.
 * Local. */
core_status atoms_plan_resample(atoms_plan *plan, uint64_t draw);

/* New reference structures for an existing plan, of the same shape: ref
 * (b_count, N, d) as at creation, natoms equal to the plan's (NULL: all N).
 * Recomputes everything the reference decides (reference distances and
 * coefficients of the current edges, Kabsch's centred reference), with the
 * same bits as a new plan for ref; REGULAR edges keep their current draw
 * (call atoms_plan_resample after it for a new one). Local; allocates
 * nothing. Errors: other atom counts, a non-finite coordinate, BONDS
 * edges (they depend on the reference: create a new plan). The training
 * tasks call it every step instead of creating a plan, which kept the
 * graph pool of the sparse loss from being reused. */
core_status atoms_plan_set_reference(atoms_plan *plan, const double *ref, const int64_t *natoms);
/* 1 if a plan holds b_count structures of n_max atoms in d dimensions with
 * these atom counts (NULL: all n_max), so atoms_plan_set_reference takes
 * them; 0 otherwise, and for a NULL plan. Pure. */
int atoms_plan_matches(const atoms_plan *plan, int64_t b_count, int64_t n_max, int d, const int64_t *natoms);

/* Number of edges the plan holds for the rank's structures. */
int64_t atoms_plan_edge_count(const atoms_plan *plan);
/* The edges the plan holds for owned structure b (0 <= b < b_count), as
 * (count, 2) pairs with i < j, ordered by i: the pool graph of the last
 * draw (REGULAR), the bonds found (BONDS), the given list (EXPLICIT, each
 * row turned to i < j), every pair in row-major upper-triangle order
 * (COMPLETE); none for the baselines. Writes min(count, capacity) rows of edges (may be NULL when
 * capacity is 0) and sets *count to the full number, so a caller can ask
 * for the size first. What a binding shows its users and what its tests
 * check the loss against. Local. */
core_status atoms_plan_structure_edges(const atoms_plan *plan, int64_t b, int64_t capacity, int32_t *edges,
                                       int64_t *count);

/* Bytes the plan holds per structure on average (what docs/performance.md quotes). */
double atoms_plan_bytes_per_structure(const atoms_plan *plan);

void atoms_plan_destroy(atoms_plan **plan);

/* Eq. 7 coefficient k(d) of a law at reference distance d (before k0). */
double atoms_coefficient(atoms_coeff_law law, double d, double dmin);

/* Covalent radius in Angstrom of element Z (Cordero et al., Dalton Trans.
 * 2008), 0 if not tabulated. */
double atoms_covalent_radius(int Z);

/* Optimal proper rotation R (d x d, row-major) minimising
 * sum_i |p_i - R q_i|^2 for centred point sets p, q (n, d): the Kabsch
 * algorithm via GSL SVD with the determinant sign fixed to +1. Local. */
core_status atoms_kabsch_rotation(int64_t n, int d, const double *p, const double *q,
                                  double *R);
/* RMSD between p and q after centring both and rotating q onto p. */
core_status atoms_kabsch_rmsd(int64_t n, int d, const double *p, const double *q,
                              double *rmsd);

/* Command-line names of the losses and coefficient laws, indexed by the
 * enums ("energy", "exp_dist", ...): the lists -help shows. */
enum {
  ATOMS_LOSS_COUNT = ATOMS_LOSS_KABSCH + 1,
  ATOMS_COEFF_COUNT = ATOMS_COEFF_LJ + 1,
  ATOMS_EDGES_COUNT = ATOMS_EDGES_BONDS + 1
};
extern const char *const atoms_loss_names[ATOMS_LOSS_COUNT];
extern const char *const atoms_coeff_names[ATOMS_COEFF_COUNT];
/* "complete", "explicit", "regular", "bonds": the edge sets by name, for
 * bindings (the CLI's -edges takes a file name in place of "explicit"). */
extern const char *const atoms_edges_names[ATOMS_EDGES_COUNT];
/* Name -> enum; CORE_ERR_ARG listing the allowed names otherwise. Pure. */
core_status atoms_loss_from_name(const char *name, atoms_loss_kind *loss);
core_status atoms_coeff_from_name(const char *name, atoms_coeff_law *coeff);
core_status atoms_edges_from_name(const char *name, atoms_edge_kind *edges);
const char *atoms_loss_name(atoms_loss_kind loss);
const char *atoms_coeff_name(atoms_coeff_law coeff);

/* ---- training losses by name (lib/atoms/presets.c) ----
 *
 * The losses a model of atoms trains with (eloss shapes, train -task
 * denoise), one row each: the loss and edges they set in atoms_options.
 *   atoms_options o;
 *   atoms_preset_options(ATOMS_PRESET_SPARSE, ATOMS_COEFF_EXP_DIST, seed, &o);
 * A new training loss is a row here (and its kernel in atoms, if new). */
typedef enum { ATOMS_PRESET_MSE, ATOMS_PRESET_ENERGY, ATOMS_PRESET_KABSCH, ATOMS_PRESET_SPARSE } atoms_preset;
enum { ATOMS_PRESET_COUNT = ATOMS_PRESET_SPARSE + 1 };
typedef struct {
  const char *name;
  const char *summary;    /* one line, for -help and the docs */
  atoms_loss_kind loss;
  atoms_edge_kind edges;
  int uses_coeff;         /* the coefficient law k(d) of Eq. 7 applies */
  int redrawn;            /* random edges, redrawn every step (atoms_plan_resample) */
} atoms_preset_info;
extern const atoms_preset_info atoms_preset_table[ATOMS_PRESET_COUNT];
extern const char *const atoms_preset_names[ATOMS_PRESET_COUNT]; /* "mse", "energy", "kabsch", "sparse" */
core_status atoms_preset_from_name(const char *name, atoms_preset *preset);
/* atoms_options_default, then the preset's loss and edges, coeff where
 * the preset uses one, and the edges' seed. Pure. */
void atoms_preset_options(atoms_preset preset, atoms_coeff_law coeff, uint64_t seed, atoms_options *opt);

#ifdef __cplusplus
}
#endif
#endif
