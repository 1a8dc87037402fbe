/* eloss spin: Edwards-Anderson spin systems on square and cubic lattices:
 * lattices, coupling laws, energies, local fields and single-flip energy
 * changes (paper Sec. 5 and 6.3).
 *
 * Worked example:
 *
 *   spin_lattice lat;
 *   spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, 16);
 *   double *J = malloc(sizeof(double) * spin_lattice_bond_slots(&lat));
 *   spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, seed, instance, J);
 *   double E = spin_energy(&lat, J, 0.0, s);      // s: (n_sites) int8 of +-1
 *
 * Sites are numbered row-major: site = (z L + y) L + x (2D: y L + x), x the
 * column. Couplings are stored as J (n_dirs, n_sites): J[dir * n + site]
 * couples site to its + neighbour along dir (0: x, 1: y, 2: z). A bond that
 * would leave an open lattice has J = 0 and is never used. */
#ifndef ELOSS_SPIN_H
#define ELOSS_SPIN_H

#include <stdint.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { SPIN_SQUARE, SPIN_CUBIC } spin_lattice_kind;
typedef enum { SPIN_OPEN, SPIN_PERIODIC } spin_boundary;
/* Largest linear sizes spin_lattice_init accepts. */
enum { SPIN_SQUARE_MAX_L = 1 << 15, SPIN_CUBIC_MAX_L = 1 << 10 };
typedef enum {
  SPIN_COUPLING_UNIFORM,  /* J ~ U[-1, 1], the paper's                      */
  SPIN_COUPLING_GAUSSIAN, /* J ~ N(0, 1)                                    */
  SPIN_COUPLING_PM,       /* J = +-1 with probability 1/2                   */
  SPIN_COUPLING_FERRO     /* J = 1                                          */
} spin_coupling_law;

typedef struct {
  spin_lattice_kind kind;
  spin_boundary bc;
  int L;           /* linear size */
  int dim;         /* 2 or 3 */
  int64_t n_sites; /* L^dim */
} spin_lattice;

/* Validate and fill a lattice: L >= 2; cubic lattices are periodic. */
core_status spin_lattice_init(spin_lattice *lat, spin_lattice_kind kind, spin_boundary bc, int L);

/* Length of a coupling array: dim * n_sites. */
int64_t spin_lattice_bond_slots(const spin_lattice *lat);

/* Neighbour of site along dir (0..dim-1) in direction +1 or -1; -1 if the
 * bond leaves an open lattice. */
int64_t spin_neighbor(const spin_lattice *lat, int64_t site, int dir, int sign);

/* Couplings of instance `instance`: a pure function of (seed, instance)
 * through the stream (seed, CORE_PURPOSE_COUPLINGS, instance), drawn in slot
 * order, so any instance can be regenerated alone on any rank. */
core_status spin_couplings_generate(const spin_lattice *lat, spin_coupling_law law, uint64_t seed,
                                    uint64_t instance, double *J);

/* The single coupling J[slot] of spin_couplings_generate, computed alone by
 * seeking in the stream: what a rank holding part of a lattice needs. */
double spin_coupling_slot(const spin_lattice *lat, spin_coupling_law law, uint64_t seed, uint64_t instance,
                          int64_t slot);

/* E(s) = -sum_<ij> J_ij s_i s_j - field sum_i s_i. */
double spin_energy(const spin_lattice *lat, const double *J, double field, const int8_t *s);

/* Local fields h_i = sum_j J_ij s_j over the neighbours of each site. */
void spin_local_fields(const spin_lattice *lat, const double *J, const int8_t *s, double *h);

/* Energy change of flipping site i: 2 s_i (h_i + field). */
double spin_flip_delta(const spin_lattice *lat, const double *J, double field, const int8_t *s,
                       int64_t i);

/* Open L x L square lattice couplings <-> the (L, L-1) horizontal and
 * (L-1, L) vertical arrays of `eloss gs`: H[r, c] couples (r, c)-(r, c+1),
 * V[r, c] couples (r, c)-(r+1, c). */
void spin_couplings_from_hv(const spin_lattice *lat, const double *H, const double *V, double *J);

/* The couplings eloss accepts: finite, |J| <= SPIN_COUPLING_MAX. Larger
 * ones lose their scale in a network's float32 inputs, and energies of
 * 1e300 cancel to a zero gap that scores a wrong prediction as exact. */
#define SPIN_COUPLING_MAX 1e6
/* Index of the first of n couplings that is not finite or beyond
 * SPIN_COUPLING_MAX in size, -1 if none. Pure. */
int64_t spin_couplings_first_bad(const double *J, int64_t n);
void spin_couplings_to_hv(const spin_lattice *lat, const double *J, double *H, double *V);

/* Command-line names, indexed by the enums ("square", "periodic",
 * "uniform", ...): the one vocabulary of eloss options, decks and bindings.
 * Name tables live once in the library. */
enum {
  SPIN_LATTICE_KIND_COUNT = SPIN_CUBIC + 1,
  SPIN_BOUNDARY_COUNT = SPIN_PERIODIC + 1,
  SPIN_COUPLING_COUNT = SPIN_COUPLING_FERRO + 1
};
extern const char *const spin_lattice_kind_names[SPIN_LATTICE_KIND_COUNT];
extern const char *const spin_boundary_names[SPIN_BOUNDARY_COUNT];
extern const char *const spin_coupling_names[SPIN_COUPLING_COUNT];

/* Name -> enum. CORE_ERR_ARG, with a message listing the allowed names,
 * for any other string. Pure. */
core_status spin_lattice_kind_from_name(const char *name, spin_lattice_kind *kind);
core_status spin_boundary_from_name(const char *name, spin_boundary *bc);
core_status spin_coupling_from_name(const char *name, spin_coupling_law *law);

/* ---- Losses on spin predictions (lib/spin/loss.c) ----
 *
 * A network predicts logits z (n_sites) per instance; q(s_i = +1) =
 * sigma(z_i) independently, m_i = E_q[s_i] = tanh(z_i / 2) and S[q] =
 * sum_i H(sigma(z_i)), H the binary entropy in nats. Target y (n_sites) int8
 * of +-1, couplings J (slots) in the layout above. Per instance:
 *   ce      mean_i softplus(-y_i z_i)
 *   margin  mean_i max(0, 1 - y_i z_i)
 *   local   (1/T) (-sum_i w_i y_i m_i - T S[q]),  w_i = y_i h_i(y) + h0
 *           (paper Eq. 15-16, the reading of App. C.3; see loss.c)
 *   true    -sum_<ij> J_ij m_i m_j - T S[q]     (no labels)
 *   bond    (1/T) (-sum_<ij> w_ij y_i y_j m_i m_j - T S[q]),
 *           w_ij = J_ij y_i y_j + h0: the local loss on bonds, invariant
 *           under y -> -y (minimisers +-y for h0 > max |J|; see loss.c)
 * flip_invariant (ce, margin only) takes per instance the better of y and
 * -y. The batch loss is the mean over the instances.
 *
 *   spin_loss_options opt;
 *   spin_loss_options_default(&opt);              // ce, T = 0.1, h0 = 5
 *   spin_loss_from_name("local", &opt.kind);
 *   spin_loss_plan *plan;
 *   spin_loss_plan_create(&lat, &opt, &plan);     // once
 *   spin_loss_execute(plan, B, J, z, y, &loss, grad);   // per batch
 *   spin_loss_plan_destroy(&plan); */
typedef enum { SPIN_LOSS_CE, SPIN_LOSS_MARGIN, SPIN_LOSS_LOCAL, SPIN_LOSS_TRUE, SPIN_LOSS_BOND } spin_loss_kind;
enum { SPIN_LOSS_COUNT = SPIN_LOSS_BOND + 1 };
extern const char *const spin_loss_names[SPIN_LOSS_COUNT]; /* "ce", "margin", "local", "true", "bond" */
core_status spin_loss_from_name(const char *name, spin_loss_kind *kind);

/* The vocabulary of spin losses, one row per loss: what each reads and
 * which options apply. The apps, the C API and the Python package read
 * their rules from here (a new loss is its kernel and its row). */
enum {
  SPIN_LOSS_NEEDS_LABELS = 1 << 0,    /* reads the target spins y              */
  SPIN_LOSS_NEEDS_COUPLINGS = 1 << 1, /* reads the couplings J                 */
  SPIN_LOSS_USES_T = 1 << 2,          /* a temperature T >= 0 enters            */
  SPIN_LOSS_DIVIDES_BY_T = 1 << 3,    /* ... and divides it: T > 0              */
  SPIN_LOSS_USES_H0 = 1 << 4,         /* the weights' constant h0 enters        */
  SPIN_LOSS_FLIP_OPTION = 1 << 5      /* flip_invariant may be asked for        */
};
typedef struct {
  const char *name;
  const char *summary;  /* one line, for -help and the docs */
  unsigned flags;       /* SPIN_LOSS_* above */
  const char *no_flip;  /* why flip_invariant is refused (NULL where allowed) */
} spin_loss_info;
extern const spin_loss_info spin_loss_table[SPIN_LOSS_COUNT];

/* The losses with every flag of `flags`, as "local, bond and true" into
 * buf (size bytes). Pure. */
const char *spin_loss_list(unsigned flags, char *buf, size_t size);

/* Options a caller gave explicitly (the rest are defaults). */
enum { SPIN_LOSS_GIVEN_T = 1 << 0, SPIN_LOSS_GIVEN_H0 = 1 << 1, SPIN_LOSS_GIVEN_TARGET = 1 << 2 };

typedef struct spin_loss_options spin_loss_options;
/* The table's rules applied to opt: an option the loss does not use given
 * explicitly (`given`), T or h0 out of range, flip_invariant where the
 * loss refuses it. On error *option names the option ("-T", "-h0",
 * "-flip_invariant", "-target") and the message says why, without the
 * option's name, so that every front end can prefix its own spelling.
 * Pure. */
core_status spin_loss_options_check(const spin_loss_options *opt, unsigned given, const char **option);

struct spin_loss_options {
  spin_loss_kind kind;
  double T;           /* temperature of local, bond and true, in units of J: > 0 for local and bond, >= 0 for true */
  double h0;          /* local and bond: the constant of w_i = y_i h_i(y) + h0, w_ij = J_ij y_i y_j + h0 */
  int flip_invariant; /* ce and margin only: loss of the better of y and -y */
};

/* ce, T = 0.1, h0 = 5, flip_invariant = 0. Pure. */
void spin_loss_options_default(spin_loss_options *opt);

typedef struct spin_loss_plan spin_loss_plan;

/* Any spin_lattice (tests cover open and periodic square lattices).
 * Check the options against the lattice and build the plan (a neighbour
 * table of the lattice: 2 dim (site, slot) pairs per site). Refuses
 * flip_invariant with local or true (CORE_ERR_UNSUPPORTED): the min over y
 * and -y of those losses collapses a network to a constant prediction
 * (DESIGN.md, "Flip invariance"). Local; *plan owned by the caller. */
core_status spin_loss_plan_create(const spin_lattice *lat, const spin_loss_options *opt, spin_loss_plan **plan);
/* Accepts NULL and *plan == NULL; sets *plan = NULL. */
void spin_loss_plan_destroy(spin_loss_plan **plan);

/* Loss of B instances and its gradient with respect to the logits.
 *   J      (B, bond_slots) float64 couplings (read by local and true only;
 *          may be NULL for ce and margin)
 *   logits (B, n_sites), finite
 *   target (B, n_sites) int8 of +-1; NULL allowed for (and ignored by) true
 *   *loss  = (1/B) sum_b loss_b, the mean over the B instances given
 *   grad   (B, n_sites) or NULL: overwritten with d(*loss)/d(logits), so
 *          row b is (1/B) d loss_b / d z_b.
 * A data-parallel caller holding B_local of B_global instances multiplies
 * *loss and grad by B_local / B_global before summing over ranks (one
 * MPI_Allreduce of the gradient of the network's parameters), so 1, 2 or 4
 * ranks give the same update. Validates every input before computing (a
 * target not +-1 or a non-finite logit is CORE_ERR_VALUE and leaves grad
 * untouched). Sums in double. Local; const plan, allocates nothing,
 * reentrant. */
core_status spin_loss_execute(const spin_loss_plan *plan, int64_t B, const double *J, const double *logits,
                              const int8_t *target, double *loss, double *grad);
/* The same on float32 logits and gradient (a network's), computed in double. */
core_status spin_loss_execute_f32(const spin_loss_plan *plan, int64_t B, const double *J, const float *logits,
                                  const int8_t *target, double *loss, float *grad);

#ifdef __cplusplus
}
#endif
#endif
