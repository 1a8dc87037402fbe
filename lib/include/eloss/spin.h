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

#ifdef __cplusplus
}
#endif
#endif
