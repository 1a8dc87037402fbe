/* eloss molecule: the stability metric of EDM (Hoogeboom, Satorras,
 * Vignac, Welling 2022, "Equivariant Diffusion for Molecule Generation in
 * 3D"), the score of generated molecules that the energy-loss paper's
 * diffusion experiments report (Sec. 6.2).
 *
 * The definition, as the authors' code has it (repository
 * ehoogeboom/e3_diffusion_for_molecules, commit d28fd52e, files
 * qm9/bond_analyze.py, qm9/analyze.py and configs/datasets_config.py;
 * read, not copied):
 *
 * - Bond lengths (bond_analyze.py: bonds1, bonds2, bonds3, in pm; the
 *   file cites wiredchemist.com's table of bond energies and lengths and
 *   chemistry-reference.com's "Bond Lengths and Enthalpies"). For H, C, N,
 *   O, F, QM9's elements (datasets_config.py, qm9_with_h's atom_decoder):
 *
 *     single    H    C    N    O    F     double  C    N    O   triple  C    N    O
 *       H      74  109  101   96   92       C    134  129  120     C   120  116  113
 *       C     109  154  147  143  135       N    129  125  121     N   116  110    -
 *       N     101  147  145  140  136       O    120  121  121     O   113    -    -
 *       O      96  143  140  148  142
 *       F      92  135  136  142  142
 *
 *   No pair with H or F has a double or a triple bond, and N-O, O-O have
 *   no triple bond.
 * - Margins margin1, margin2, margin3 = 10, 5, 3 pm ("tuned to maximize
 *   the stability of the QM9 true samples", bond_analyze.py).
 * - Bond order of two atoms at distance d (get_bond_order, d in pm =
 *   100 * d in Angstrom, every comparison strict):
 *     d >= single + 10: 0;
 *     else 1, unless the pair has a double length and d < double + 5: then
 *     2, unless the pair has a triple length and d < triple + 3: then 3.
 *   A pair missing from the double table is therefore at most single
 *   however close (C-H at 0.5 Angstrom is order 1), and one missing from
 *   the triple table at most double (N-O, O-O).
 * - Every pair of atoms counts (analyze.py, check_stability: all i < j,
 *   no neighbour cut-off beyond the tables), and an atom's summed bond
 *   orders are compared with its valence (allowed_bonds: H 1, C 4, N 3,
 *   O 2, F 1); the atom is stable when they are equal, the molecule when
 *   all its atoms are.
 * - Over a set of molecules (analyze_stability_for_molecules): atom
 *   stability = stable atoms / atoms, both summed over all molecules;
 *   molecule stability = stable molecules / molecules.
 *
 * Here distances are computed in double from the coordinates as given
 * (EDM samples in float32); the two can differ only for a pair within
 * float32 rounding (~1e-6 Angstrom) of a threshold.
 *
 * Worked example (one molecule, then a batch in io_xyz_read's layout):
 *
 *   int z[5] = {6, 1, 1, 1, 1}, bonds[5];          // methane
 *   double x[5][3] = {...};                         // Angstrom
 *   molecule_result r;
 *   molecule_check(5, z, &x[0][0], bonds, &r);      // bonds = {4, 1, 1, 1, 1}, r.stable = 1
 *
 *   io_molecules mol;
 *   io_xyz_read("samples.xyz", &mol);
 *   molecule_summary s;
 *   molecule_check_batch(mol.count, mol.max_atoms, mol.natoms, mol.element, mol.coords, bond_sums, NULL, &s);
 *   printf("%g %g\n", s.atom_stability, s.molecule_stability);
 */
#ifndef ELOSS_MOLECULE_H
#define ELOSS_MOLECULE_H

#include <stddef.h>
#include <stdint.h>

#include "eloss/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The elements of the tables, in the order of their rows: H, C, N, O, F.
 * MOLECULE_MAX_ATOMS keeps summed orders (at most 3 (n - 1)) inside an int
 * and the n^2 / 2 pairs of one molecule to seconds. MOLECULE_FORMULA_MAX
 * holds any formula of at most MOLECULE_MAX_ATOMS atoms. */
enum { MOLECULE_ELEMENTS = 5, MOLECULE_MAX_ATOMS = 1 << 20, MOLECULE_FORMULA_MAX = 64 };

/* Atomic numbers and symbols of the rows: {1, 6, 7, 8, 9}, {"H", ...}. */
extern const int molecule_atomic_number[MOLECULE_ELEMENTS];
extern const char *const molecule_symbol[MOLECULE_ELEMENTS];
/* Typical bond lengths, pm: [order - 1][row][row], symmetric; 0 where the
 * pair has no bond of that order in EDM's tables. */
extern const int molecule_bond_length_pm[3][MOLECULE_ELEMENTS][MOLECULE_ELEMENTS];
/* margin1, margin2, margin3, pm: {10, 5, 3}. */
extern const int molecule_bond_margin_pm[3];
/* Valences (EDM's allowed_bonds): H 1, C 4, N 3, O 2, F 1. */
extern const int molecule_valence[MOLECULE_ELEMENTS];

/* The row of atomic number z, or -1 outside H, C, N, O, F. Pure. */
int molecule_element_row(int z);

/* EDM's bond order (0 .. 3) of atoms with atomic numbers z1, z2 at
 * distance_angstrom; -1 if either element is outside the tables (callers
 * that need a message go through molecule_check, which names the atom).
 * Pure. */
int molecule_bond_order(int z1, int z2, double distance_angstrom);

typedef struct {
  int64_t atoms;        /* n */
  int64_t stable_atoms; /* atoms whose summed bond orders equal their valence */
  int stable;           /* 1: every atom is stable */
} molecule_result;

/* One molecule: n atoms (1 .. MOLECULE_MAX_ATOMS) with atomic numbers
 * element (n) and coordinates coords (n, 3) in Angstrom. Writes each
 * atom's summed bond orders over every other atom to bond_sum (n, caller's
 * memory) and the counts to *r. CORE_ERR_ARG for an n out of range or an
 * element outside H, C, N, O, F, naming the atom (0-based) and its atomic
 * number; bond_sum and *r are then unspecified. Local, pure, allocates
 * nothing. */
core_status molecule_check(int64_t n, const int *element, const double *coords, int *bond_sum, molecule_result *r);

typedef struct {
  int64_t molecules, atoms;               /* summed over the batch */
  int64_t stable_atoms, stable_molecules;
  double atom_stability;                  /* stable_atoms / atoms */
  double molecule_stability;              /* stable_molecules / molecules */
} molecule_summary;

/* A batch in io_xyz_read's padded layout: count molecules of natoms[b]
 * (<= max_atoms) atoms, element (count, max_atoms), coords (count,
 * max_atoms, 3) Angstrom, padding ignored. bond_sum (count, max_atoms)
 * receives the summed orders (0 in the padding); per (count) the result of
 * each molecule, or NULL; *sum EDM's two fractions. Errors as
 * molecule_check, naming the molecule (0-based) too. Local, pure. */
core_status molecule_check_batch(int64_t count, int64_t max_atoms, const int64_t *natoms, const int *element,
                                 const double *coords, int *bond_sum, molecule_result *per, molecule_summary *sum);

/* The Hill formula of n atoms (C first, then H, then the other elements
 * alphabetically; without carbon all alphabetically; counts of 1 left
 * out): "CH4", "C2H4", "CHN", "H2O", "FH". CORE_ERR_ARG for an element
 * outside H, C, N, O, F (naming the atom) or a buffer shorter than the
 * formula. Pure. */
core_status molecule_formula(int64_t n, const int *element, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
