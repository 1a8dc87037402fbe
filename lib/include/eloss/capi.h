/* eloss capi: the atomistic and spin losses behind a flat C interface of
 * plain types (no MPI, no enums, no structs), for callers that cannot build
 * an MPI_Comm or mirror a C struct: Python's ctypes (python/eloss), Julia's
 * ccall, Fortran's bind(C).
 *
 * Worked example (what `eloss loss -loss energy -coeff exp_dist` computes):
 *
 *   double loss, grad[B * N * 3];
 *   if (capi_atoms_loss("energy", "exp_dist", "complete", B, N, 3, ref, NULL,
 *                       1.0, 0, 1e-6, NULL, 0, 0, 100, 0, 0, NULL, 0.45,
 *                       pred, &loss, grad))
 *     fprintf(stderr, "%s\n", capi_error_message());
 *
 * or, for many predictions against one reference batch, a plan:
 *
 *   capi_atoms_plan *plan;
 *   capi_atoms_plan_create("energy", "exp_dist", "complete", B, N, 3, ref, ...,
 *                          &plan);
 *   capi_atoms_plan_execute(plan, pred, &loss, grad);   // per prediction
 *   capi_atoms_plan_destroy(&plan);
 *
 * Every function returning int returns a core_status code (0 = success,
 * see core.h); on failure capi_error_message() names the argument and the
 * problem. Losses, coefficient laws, edge sets and spin losses are given by
 * the names of the command line ("energy", "exp_dist", "regular", "local",
 * ...), which the library resolves with its own name tables, so a binding
 * holds no copy of them.
 *
 * MPI. The first call initialises MPI (MPI_Init_thread, serialized) unless
 * the process already did, and every loss runs on MPI_COMM_SELF: one
 * process computes the whole batch, as `eloss loss` on one rank, with the
 * same numbers. Calls from several threads are serialised where they may
 * touch MPI (creating and executing atoms plans; the spin losses make no
 * MPI call and run concurrently); one plan is not reentrant.
 * capi_finalize() ends MPI if capi started it. */
#ifndef ELOSS_CAPI_H
#define ELOSS_CAPI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "0.1.0". Pure. */
const char *capi_version(void);

/* Message of the last failed call on this thread, naming the argument or
 * value at fault; "" before any failure. Owned by the library, valid until
 * the thread's next failing call. */
const char *capi_error_message(void);

/* MPI_Finalize if capi initialised MPI and it is not finalised yet (a
 * binding calls this at interpreter exit); afterwards every loss call fails
 * with a message saying so. Returns 0 or an MPI error status. */
int capi_finalize(void);

/* ---- atoms (eloss/atoms.h, `eloss loss`) ---- */

typedef struct capi_atoms_plan capi_atoms_plan;

/* Plan of one reference batch. Arguments as the options of `eloss loss`:
 *   loss      "energy" | "mse" | "mae" | "kabsch"
 *   coeff     "constant" | "exp_dist" | "inv_dist" | "inv_dist2" | "lj" (energy)
 *   edges     "complete" | "explicit" | "regular" | "bonds" (energy)
 *   batch, n_atoms, d   shape (B, N, d) of ref and of every prediction, d = 2, 3
 *   ref       (B, N, d) float64 reference coordinates, finite; copied
 *   natoms    (B) real atom counts of a padded batch, or NULL (all N)
 *   k0, per_atom, dmin  global scale of k, divide by atom count, clamp of d in k(d)
 *   edge_list (n_edges, 2) int64 unordered pairs (explicit), read during the call
 *   degree, pool, seed  regular: k (0 = 2 d), graphs per atom count, seed
 *   elements  (B, N) int64 atomic numbers (bonds), read during the call
 *   bond_tolerance      bonds: Angstrom added to the covalent radii sum
 * Regular graphs are those of draw 0; capi_atoms_plan_resample redraws.
 * Local (MPI_COMM_SELF); *plan owned by the caller, NULL on failure. */
int capi_atoms_plan_create(const char *loss, const char *coeff, const char *edges, int64_t batch, int64_t n_atoms,
                           int d, const double *ref, const int64_t *natoms, double k0, int per_atom, double dmin,
                           const int64_t *edge_list, int64_t n_edges, int degree, int pool, uint64_t seed,
                           const int64_t *elements, double bond_tolerance, capi_atoms_plan **plan);

/* Loss of pred (B, N, d) float64 against the plan's reference: *loss, and
 * grad (B, N, d), overwritten with d loss / d pred, unless grad is NULL.
 * A non-finite prediction is refused (naming structure and atom) before
 * anything is written. Local; allocates nothing; not reentrant on one plan. */
int capi_atoms_plan_execute(capi_atoms_plan *plan, const double *pred, double *loss, double *grad);

/* Regular edges: draw every structure's graph for draw number `draw` (the
 * training step), as atoms_plan_resample. A no-op for other edge sets. */
int capi_atoms_plan_resample(capi_atoms_plan *plan, uint64_t draw);

/* Edges of structure b, as atoms_plan_structure_edges: min(count, capacity)
 * rows of (count, 2) int32 pairs i < j written, *count the full number. */
int capi_atoms_plan_edges(const capi_atoms_plan *plan, int64_t b, int64_t capacity, int32_t *edges, int64_t *count);

/* Accepts NULL and *plan == NULL; sets *plan = NULL. */
void capi_atoms_plan_destroy(capi_atoms_plan **plan);

/* create (with draw `draw` of regular graphs) + execute + destroy: one loss
 * and gradient, what `eloss loss` prints and writes. */
int capi_atoms_loss(const char *loss, const char *coeff, const char *edges, int64_t batch, int64_t n_atoms, int d,
                    const double *ref, const int64_t *natoms, double k0, int per_atom, double dmin,
                    const int64_t *edge_list, int64_t n_edges, int degree, int pool, uint64_t seed, uint64_t draw,
                    const int64_t *elements, double bond_tolerance, const double *pred, double *loss_value,
                    double *grad);

/* The library's vocabularies by name, for bindings: name k of
 * `vocabulary` ("atoms_loss", "atoms_coeff", "atoms_edges",
 * "atoms_preset", "spin_loss"), or NULL past its end or for an unknown
 * vocabulary. The strings are static. Pure. */
const char *capi_name(const char *vocabulary, int k);

/* ---- spins (eloss/spin.h, `eloss spinloss`) ---- */

/* The spin losses' vocabulary, spin_loss_table row by row: the number of
 * losses, and loss k's name, one-line summary and flags (1 reads labels,
 * 2 reads couplings, 4 uses T, 8 divides by T, 16 uses h0, 32 takes
 * flip_invariant; SPIN_LOSS_* of eloss/spin.h). The strings are static.
 * Returns 0, or non-zero for k out of range. Pure. */
int capi_spin_loss_count(void);
int capi_spin_loss_info(int k, const char **name, const char **summary, unsigned *flags);

/* A spin loss and its gradient for B instances of an L x L square lattice,
 * the arrays of `eloss spinloss`:
 *   loss      "ce" | "margin" | "local" | "true" | "bond"
 *   T, h0     temperature (local, bond: > 0; true: >= 0) and the constant
 *             of the local-field weights (local, bond)
 *   flip_invariant  ce, margin only: the better of y and -y per instance
 *   periodic  0: jh (B, L, L-1), jv (B, L-1, L) as `eloss gs`;
 *             1: jh, jv (B, L, L), each site's bond to its + neighbour
 *             along x resp. y, wrapping, as `eloss spingen` stores them
 *   jh, jv    float64 couplings, finite (may be NULL for ce and margin)
 *   logits    (B, L, L) float64, finite; q(s = +1) = sigma(z)
 *   target    (B, L, L) int8 of +-1; NULL allowed for (and ignored by) true
 *   *loss_value  the mean over the B instances
 *   grad      (B, L, L) float64 d loss / d logits, or NULL
 * Local; allocates the couplings in the library's layout per call. */
int capi_spin_loss(const char *loss, double T, double h0, int flip_invariant, int64_t batch, int L, int periodic,
                   const double *jh, const double *jv, const double *logits, const int8_t *target,
                   double *loss_value, double *grad);

/* ---- diffusion models (train.h, `eloss train -task diffusion`) ---- */

/* The noise prediction eps (atoms, 8) of a diffusion model file's network
 * (GDM or EGNN) for `batch` molecules concatenated: natoms (batch) atoms
 * each (1 .. 63), x (atoms, 8) rows of [position (3), one-hot type / 4
 * (H, C, N, O, F)] as the model was trained on (positions centred per
 * molecule), t (batch) the diffusion time t / T in [0, 1]. use_ema: the
 * parameters' moving average where the file keeps one (what eloss sample
 * uses), else the parameters. float32, as the network computes. Opens the
 * file at every call; local, no MPI. */
int capi_diffusion_forward(const char *model, int use_ema, int64_t batch, const int64_t *natoms, const float *x,
                           const float *t, float *eps);

#ifdef __cplusplus
}
#endif
#endif
