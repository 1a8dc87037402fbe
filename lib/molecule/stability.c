/* EDM's molecule stability (molecule.h, which states the definition and
 * where each fact comes from): the bond tables as data, the bond order of
 * a pair, the summed orders and stability of one molecule and of a batch,
 * and Hill formulas for reports.
 *
 * molecule_bond_order(z1, z2, d): pure; 0 .. 3, -1 outside H, C, N, O, F.
 * molecule_check(n, element, coords, bond_sum, &r): local, pure,
 *   allocates nothing; O(n^2) pairs, as EDM's every-pair rule needs.
 * molecule_check_batch(...): local, pure; molecule_check per molecule.
 * molecule_formula(n, element, buf, size): pure.
 *
 * Distances are computed as EDM's check_stability computes them, the
 * squared differences summed x, y, z in that order, then sqrt, then
 * scaled by 100 to pm before the comparisons, so an implementation that
 * follows EDM in double (tests/test_molcheck.py) agrees pair for pair,
 * not merely up to rounding at the thresholds. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eloss/molecule.h"

const int molecule_atomic_number[MOLECULE_ELEMENTS] = {1, 6, 7, 8, 9};
const char *const molecule_symbol[MOLECULE_ELEMENTS] = {"H", "C", "N", "O", "F"};

/* EDM's bonds1, bonds2, bonds3 restricted to H, C, N, O, F (rows and
 * columns in that order). */
const int molecule_bond_length_pm[3][MOLECULE_ELEMENTS][MOLECULE_ELEMENTS] = {
    {/* single */
     {74, 109, 101, 96, 92},
     {109, 154, 147, 143, 135},
     {101, 147, 145, 140, 136},
     {96, 143, 140, 148, 142},
     {92, 135, 136, 142, 142}},
    {/* double: none with H or F */
     {0, 0, 0, 0, 0},
     {0, 134, 129, 120, 0},
     {0, 129, 125, 121, 0},
     {0, 120, 121, 121, 0},
     {0, 0, 0, 0, 0}},
    {/* triple: C-C, C-N, C-O, N-N only */
     {0, 0, 0, 0, 0},
     {0, 120, 116, 113, 0},
     {0, 116, 110, 0, 0},
     {0, 113, 0, 0, 0},
     {0, 0, 0, 0, 0}},
};

const int molecule_bond_margin_pm[3] = {10, 5, 3};
const int molecule_valence[MOLECULE_ELEMENTS] = {1, 4, 3, 2, 1};

/* Row of each atomic number up to F, -1 for the others: the pair loop
 * looks rows up twice per pair. */
static const signed char row_of_z[10] = {-1, 0, -1, -1, -1, -1, 1, 2, 3, 4};

int molecule_element_row(int z) { return z >= 0 && z < 10 ? row_of_z[z] : -1; }

/* EDM's get_bond_order on table rows: each order holds only while the
 * lower ones do and the pair has a length for it, so a missing double
 * caps the order at 1 and a missing triple at 2. */
static int bond_order_rows(int a, int b, double distance_angstrom) {
  const double d = 100.0 * distance_angstrom;
  int order = 0;
  for (int k = 0; k < 3; ++k) {
    const int length = molecule_bond_length_pm[k][a][b];
    if (length == 0 || !(d < (double)(length + molecule_bond_margin_pm[k]))) break;
    order = k + 1;
  }
  return order;
}

int molecule_bond_order(int z1, int z2, double distance_angstrom) {
  const int a = molecule_element_row(z1), b = molecule_element_row(z2);
  return a < 0 || b < 0 ? -1 : bond_order_rows(a, b, distance_angstrom);
}

static core_status element_refused(int64_t atom, int z) {
  return CORE_ERROR(CORE_ERR_ARG, "atom %lld has atomic number %d, not one of H, C, N, O, F (the elements of EDM's "
                    "bond tables)", (long long)atom, z);
}

core_status molecule_check(int64_t n, const int *element, const double *coords, int *bond_sum, molecule_result *r) {
  CORE_CHECK(n >= 1 && n <= MOLECULE_MAX_ATOMS, CORE_ERR_ARG, "a molecule of %lld atoms: expected 1 .. %d",
             (long long)n, (int)MOLECULE_MAX_ATOMS);
  for (int64_t i = 0; i < n; ++i) {
    if (molecule_element_row(element[i]) < 0) return element_refused(i, element[i]);
    bond_sum[i] = 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    const int a = row_of_z[element[i]];
    const double *p = coords + 3 * i;
    for (int64_t j = i + 1; j < n; ++j) {
      const double *q = coords + 3 * j;
      const double dx = p[0] - q[0], dy = p[1] - q[1], dz = p[2] - q[2];
      const int order = bond_order_rows(a, row_of_z[element[j]], sqrt(dx * dx + dy * dy + dz * dz));
      bond_sum[i] += order;
      bond_sum[j] += order;
    }
  }
  int64_t stable = 0;
  for (int64_t i = 0; i < n; ++i) stable += bond_sum[i] == molecule_valence[row_of_z[element[i]]];
  r->atoms = n;
  r->stable_atoms = stable;
  r->stable = stable == n;
  return CORE_OK;
}

core_status molecule_check_batch(int64_t count, int64_t max_atoms, const int64_t *natoms, const int *element,
                                 const double *coords, int *bond_sum, molecule_result *per, molecule_summary *sum) {
  CORE_CHECK(count >= 1 && max_atoms >= 1, CORE_ERR_ARG, "a batch of %lld molecules of up to %lld atoms: expected "
             "at least one molecule and one atom", (long long)count, (long long)max_atoms);
  memset(sum, 0, sizeof *sum);
  for (int64_t b = 0; b < count; ++b) {
    CORE_CHECK(natoms[b] >= 1 && natoms[b] <= max_atoms, CORE_ERR_ARG, "molecule %lld: %lld atoms, expected 1 .. %lld",
               (long long)b, (long long)natoms[b], (long long)max_atoms);
    molecule_result r;
    int *bonds = bond_sum + b * max_atoms;
    const core_status st = molecule_check(natoms[b], element + b * max_atoms, coords + 3 * b * max_atoms, bonds, &r);
    if (st) {
      char why[512];
      snprintf(why, sizeof why, "%s", core_error_message());
      return CORE_ERROR(st, "molecule %lld, %s", (long long)b, why);
    }
    for (int64_t i = natoms[b]; i < max_atoms; ++i) bonds[i] = 0;
    if (per) per[b] = r;
    sum->atoms += r.atoms;
    sum->stable_atoms += r.stable_atoms;
    sum->stable_molecules += r.stable;
  }
  sum->molecules = count;
  sum->atom_stability = (double)sum->stable_atoms / (double)sum->atoms;
  sum->molecule_stability = (double)sum->stable_molecules / (double)count;
  return CORE_OK;
}

core_status molecule_formula(int64_t n, const int *element, char *buf, size_t size) {
  CORE_CHECK(size >= 1, CORE_ERR_ARG, "molecule_formula: an empty buffer");
  buf[0] = '\0';
  int64_t counts[MOLECULE_ELEMENTS] = {0};
  for (int64_t i = 0; i < n; ++i) {
    const int row = molecule_element_row(element[i]);
    if (row < 0) return element_refused(i, element[i]);
    ++counts[row];
  }
  /* Hill order by row: C, H, then F, N, O; without carbon F, H, N, O. */
  static const int with_carbon[] = {1, 0, 4, 2, 3}, without_carbon[] = {4, 0, 2, 3};
  const int *order = counts[1] ? with_carbon : without_carbon;
  const int k_end = counts[1] ? 5 : 4;
  size_t len = 0;
  for (int k = 0; k < k_end; ++k) {
    const int64_t c = counts[order[k]];
    if (!c) continue;
    const int w = c == 1 ? snprintf(buf + len, size - len, "%s", molecule_symbol[order[k]])
                         : snprintf(buf + len, size - len, "%s%lld", molecule_symbol[order[k]], (long long)c);
    if (w < 0 || (size_t)w >= size - len) {
      buf[0] = '\0';
      return CORE_ERROR(CORE_ERR_ARG, "molecule_formula: %zu bytes are too few for the formula of %lld atoms", size,
                        (long long)n);
    }
    len += (size_t)w;
  }
  return CORE_OK;
}
