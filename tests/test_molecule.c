/* TAP test of lib/molecule (EDM's stability metric, molecule.h):
 * - the tables are symmetric and hold EDM's published values at a few
 *   spots read off qm9/bond_analyze.py by hand;
 * - bond orders 0.0001 Angstrom inside and outside every threshold of C-C,
 *   C-N, C-O, N-N and C-H (thresholds = table length + margin, worked out
 *   by hand below), strictness at a threshold that is exact in binary (N-O
 *   single, 150 pm = 1.5 Angstrom), and the caps of pairs missing from the
 *   double or triple table (C-H, O-O, N-O);
 * - molecules built here at textbook geometries (CRC Handbook / NIST
 *   CCCBDB experimental bond lengths and angles): methane, ethene, ethyne,
 *   water and HCN are stable with the summed orders worked out by hand; a
 *   methyl radical, a stretched methane, a compressed ethene and a
 *   stretched ethyne are not, with the atoms that fail named;
 * - the result does not change under a rotation, a translation or a
 *   permutation of the atoms;
 * - a batch gives EDM's two fractions; Hill formulas;
 * - an element outside H, C, N, O, F is refused naming the atom (and the
 *   molecule in a batch). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eloss/molecule.h"
#include "tap.h"

enum { H = 1, C = 6, N = 7, O = 8, F = 9 };

typedef struct {
  const char *name;
  int n;
  int z[8];
  double x[8][3];
} molecule;

/* Geometries (Angstrom). Methane: r(CH) 1.087, tetrahedral. Ethene:
 * r(CC) 1.339, r(CH) 1.087, HCH 117.4 deg. Ethyne: r(CC) 1.203, r(CH)
 * 1.063. Water: r(OH) 0.9572, HOH 104.52 deg. HCN: r(CH) 1.064, r(CN)
 * 1.156. Methyl radical: planar, r(CH) 1.079. */
static molecule methane(double r_ch) {
  const double a = 1.087 / sqrt(3.0);
  molecule m = {"methane", 5, {C, H, H, H, H}, {{0, 0, 0}, {a, a, a}, {-a, -a, a}, {-a, a, -a}, {a, -a, -a}}};
  /* The first H moved along its bond to r_ch. */
  for (int c = 0; c < 3; ++c) m.x[1][c] *= r_ch / 1.087;
  return m;
}

static molecule ethene(double r_cc) {
  const double half = 58.7 * CORE_PI / 180.0, hx = 1.087 * cos(half), hy = 1.087 * sin(half), c = r_cc / 2;
  return (molecule){"ethene", 6, {C, C, H, H, H, H},
                    {{-c, 0, 0}, {c, 0, 0}, {-c - hx, hy, 0}, {-c - hx, -hy, 0}, {c + hx, hy, 0}, {c + hx, -hy, 0}}};
}

static molecule ethyne(double r_cc) {
  const double c = r_cc / 2;
  return (molecule){"ethyne", 4, {C, C, H, H}, {{-c, 0, 0}, {c, 0, 0}, {-c - 1.063, 0, 0}, {c + 1.063, 0, 0}}};
}

static molecule water(void) {
  const double half = 104.52 / 2 * CORE_PI / 180.0;
  return (molecule){"water", 3, {O, H, H},
                    {{0, 0, 0}, {0.9572 * sin(half), 0.9572 * cos(half), 0}, {-0.9572 * sin(half), 0.9572 * cos(half), 0}}};
}

static molecule hcn(void) { return (molecule){"HCN", 3, {H, C, N}, {{-1.064, 0, 0}, {0, 0, 0}, {1.156, 0, 0}}}; }

static molecule methyl(void) {
  molecule m = {"methyl radical", 4, {C, H, H, H}, {{0, 0, 0}}};
  for (int k = 0; k < 3; ++k) {
    const double t = 2 * CORE_PI * k / 3;
    m.x[k + 1][0] = 1.079 * cos(t), m.x[k + 1][1] = 1.079 * sin(t);
  }
  return m;
}

/* Check m; *bonds receives the summed orders. */
static molecule_result check(const molecule *m, int *bonds) {
  molecule_result r = {-1, -1, -1};
  if (molecule_check(m->n, m->z, &m->x[0][0], bonds, &r)) tap_diag("%s: %s", m->name, core_error_message());
  return r;
}

static int same_ints(const int *a, const int *b, int n) { return !memcmp(a, b, sizeof(int) * (size_t)n); }

static void expect(const molecule *m, const int *want_bonds, int want_stable_atoms, int want_stable, const char *why) {
  int bonds[8];
  const molecule_result r = check(m, bonds);
  char got[64] = "";
  for (int i = 0; i < m->n; ++i) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%d", i ? "," : "", bonds[i]);
  tap_ok(r.atoms == m->n && r.stable_atoms == want_stable_atoms && r.stable == want_stable &&
             same_ints(bonds, want_bonds, m->n),
         "%s: summed orders %s, %lld of %d atoms stable, %s (%s)", m->name, got, (long long)r.stable_atoms, m->n,
         r.stable ? "stable" : "not stable", why);
}

int main(void) {
  tap_plan(41);

  /* ---- tables ---- */
  int symmetric = 1;
  for (int k = 0; k < 3; ++k)
    for (int a = 0; a < MOLECULE_ELEMENTS; ++a)
      for (int b = 0; b < MOLECULE_ELEMENTS; ++b)
        symmetric &= molecule_bond_length_pm[k][a][b] == molecule_bond_length_pm[k][b][a];
  tap_ok(symmetric, "the three bond tables are symmetric");
  const int c = molecule_element_row(C), n = molecule_element_row(N), o = molecule_element_row(O),
            h = molecule_element_row(H), f = molecule_element_row(F);
  tap_ok(h == 0 && c == 1 && n == 2 && o == 3 && f == 4 && molecule_element_row(16) == -1 &&
             molecule_element_row(0) == -1 && molecule_element_row(-3) == -1,
         "rows H, C, N, O, F = 0..4; S, 0 and -3 have none");
  tap_ok(molecule_bond_length_pm[0][h][h] == 74 && molecule_bond_length_pm[0][o][o] == 148 &&
             molecule_bond_length_pm[0][f][f] == 142 && molecule_bond_length_pm[1][n][o] == 121 &&
             molecule_bond_length_pm[2][c][o] == 113 && molecule_bond_length_pm[2][n][o] == 0 &&
             molecule_bond_length_pm[1][c][h] == 0 && molecule_bond_margin_pm[0] == 10 &&
             molecule_bond_margin_pm[1] == 5 && molecule_bond_margin_pm[2] == 3,
         "EDM's H-H 74, O-O 148, F-F 142 single, N-O 121 double, C-O 113 triple, no N-O triple, no C-H double; "
         "margins 10, 5, 3 pm");
  tap_ok(molecule_valence[h] == 1 && molecule_valence[c] == 4 && molecule_valence[n] == 3 && molecule_valence[o] == 2 &&
             molecule_valence[f] == 1,
         "valences H 1, C 4, N 3, O 2, F 1");

  /* ---- bond orders at the thresholds (pm): length + margin ---- */
  static const struct {
    int z1, z2;
    double threshold_pm[3]; /* single, double, triple; 0 = none */
  } pairs[] = {
      {C, C, {154 + 10, 134 + 5, 120 + 3}}, {C, N, {147 + 10, 129 + 5, 116 + 3}}, {O, C, {143 + 10, 120 + 5, 113 + 3}},
      {N, N, {145 + 10, 125 + 5, 110 + 3}}, {C, H, {109 + 10, 0, 0}},
  };
  for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; ++p) {
    int good = 1;
    char seen[200] = "";
    for (int k = 0; k < 3 && pairs[p].threshold_pm[k] > 0; ++k) {
      const double t = pairs[p].threshold_pm[k] / 100.0;
      const int inside = molecule_bond_order(pairs[p].z1, pairs[p].z2, t - 1e-4),
                outside = molecule_bond_order(pairs[p].z2, pairs[p].z1, t + 1e-4);
      good &= inside == k + 1 && outside == k;
      snprintf(seen + strlen(seen), sizeof seen - strlen(seen), " %.4f:%d %.4f:%d", t - 1e-4, inside, t + 1e-4, outside);
    }
    tap_ok(good, "Z %d-%d at 0.01 pm inside / outside each threshold (Angstrom:order):%s", pairs[p].z1, pairs[p].z2,
           seen);
  }
  tap_ok(molecule_bond_order(N, O, 1.5) == 0 && molecule_bond_order(N, O, 1.4999) == 1,
         "N-O at exactly 1.5 Angstrom = 150 pm = its single threshold: no bond (strict <); 1.4999: single");
  tap_ok(molecule_bond_order(C, H, 0.5) == 1 && molecule_bond_order(H, H, 0.3) == 1 && molecule_bond_order(O, O, 1.0) == 2 &&
             molecule_bond_order(N, O, 1.0) == 2 && molecule_bond_order(F, F, 0.8) == 1,
         "pairs missing from the double table stay single however close (C-H, H-H, F-F), those missing from the "
         "triple table double (O-O, N-O)");
  tap_ok(molecule_bond_order(C, C, 5.0) == 0 && molecule_bond_order(C, C, 0.0) == 3 && molecule_bond_order(16, C, 1.8) == -1 &&
             molecule_bond_order(C, 2, 1.0) == -1,
         "far apart: 0; coincident C-C: 3; S or He: -1");

  /* ---- textbook molecules ---- */
  const molecule m0 = methane(1.087), e0 = ethene(1.339), y0 = ethyne(1.203), w0 = water(), hc = hcn();
  expect(&m0, (int[]){4, 1, 1, 1, 1}, 5, 1, "four C-H single at 1.087; H-H 1.775 > 0.84");
  expect(&e0, (int[]){4, 4, 1, 1, 1, 1}, 6, 1, "C=C 1.339 < 1.39 double, not < 1.23 triple");
  expect(&y0, (int[]){4, 4, 1, 1}, 4, 1, "C#C 1.203 < 1.23 triple");
  expect(&w0, (int[]){2, 1, 1}, 3, 1, "O-H 0.957 < 1.06; H-H 1.514");
  expect(&hc, (int[]){1, 4, 3}, 3, 1, "C#N 1.156 < 1.19 triple, H..N 2.22 none");
  const molecule me = methyl(), ms = methane(1.25), ec = ethene(1.15), ys = ethyne(1.30);
  expect(&me, (int[]){3, 1, 1, 1}, 3, 0, "the radical's carbon has 3 bonds");
  expect(&ms, (int[]){3, 0, 1, 1, 1}, 3, 0, "one C-H at 1.25 > 1.19: C 3 and that H 0");
  expect(&ec, (int[]){5, 5, 1, 1, 1, 1}, 4, 0, "C-C compressed to 1.15 < 1.23: a triple, C 5");
  expect(&ys, (int[]){3, 3, 1, 1}, 2, 0, "C-C stretched to 1.30: a double, C 3");

  /* ---- invariances ---- */
  molecule moved = e0;
  const double ang = 0.7391, ca = cos(ang), sa = sin(ang);
  for (int i = 0; i < moved.n; ++i) {
    const double x = e0.x[i][0], y = e0.x[i][1], z = e0.x[i][2];
    moved.x[i][0] = ca * x - sa * z + 3.217, moved.x[i][1] = y - 12.5, moved.x[i][2] = sa * x + ca * z + 0.031;
  }
  int b0[8], b1[8];
  molecule_result r0 = check(&e0, b0), r1 = check(&moved, b1);
  tap_ok(r1.stable && r1.stable_atoms == r0.stable_atoms && same_ints(b0, b1, 6),
         "ethene rotated by 0.7391 rad and translated: the same summed orders");
  static const int perm[6] = {4, 0, 3, 5, 1, 2};
  molecule shuffled = ec;
  for (int i = 0; i < 6; ++i) {
    shuffled.z[i] = ec.z[perm[i]];
    memcpy(shuffled.x[i], ec.x[perm[i]], sizeof shuffled.x[i]);
  }
  r0 = check(&ec, b0), r1 = check(&shuffled, b1);
  int permuted = 1;
  for (int i = 0; i < 6; ++i) permuted &= b1[i] == b0[perm[i]];
  tap_ok(permuted && r1.stable_atoms == r0.stable_atoms && r1.stable == r0.stable,
         "compressed ethene with its atoms permuted: each atom keeps its summed order");

  /* ---- a batch in io_xyz_read's layout ---- */
  const molecule *set[4] = {&m0, &me, &w0, &ys};
  enum { B = 4, NMAX = 5 };
  int64_t natoms[B];
  int z[B * NMAX] = {0}, bonds[B * NMAX];
  double x[B * NMAX * 3] = {0};
  for (int b = 0; b < B; ++b) {
    natoms[b] = set[b]->n;
    for (int i = 0; i < set[b]->n; ++i) {
      z[b * NMAX + i] = set[b]->z[i];
      memcpy(x + 3 * (b * NMAX + i), set[b]->x[i], sizeof set[b]->x[i]);
    }
  }
  memset(bonds, 0x55, sizeof bonds);
  molecule_result per[B];
  molecule_summary s;
  core_status st = molecule_check_batch(B, NMAX, natoms, z, x, bonds, per, &s);
  tap_ok(!st && s.molecules == 4 && s.atoms == 16 && s.stable_atoms == 13 && s.stable_molecules == 2 &&
             s.atom_stability == 13.0 / 16.0 && s.molecule_stability == 0.5,
         "methane, methyl, water, stretched ethyne: 13 of 16 atoms, 2 of 4 molecules stable (got %lld/%lld, "
         "%lld/%lld)", (long long)s.stable_atoms, (long long)s.atoms, (long long)s.stable_molecules,
         (long long)s.molecules);
  tap_ok(!st && per[1].stable_atoms == 3 && !per[1].stable && per[2].stable && bonds[NMAX + 4] == 0 &&
             bonds[2 * NMAX + 3] == 0 && bonds[2 * NMAX] == 2 && bonds[3 * NMAX + 1] == 3,
         "per-molecule results, summed orders in place, zeros in the padding");
  st = molecule_check_batch(B, NMAX, natoms, z, x, bonds, NULL, &s);
  tap_ok(!st && s.stable_atoms == 13, "the per-molecule results are optional");

  /* ---- formulas ---- */
  char buf[MOLECULE_FORMULA_MAX];
  const struct {
    const molecule *m;
    const char *want;
  } formulas[] = {{&m0, "CH4"}, {&e0, "C2H4"}, {&y0, "C2H2"}, {&w0, "H2O"}, {&hc, "CHN"}, {&me, "CH3"}};
  for (size_t k = 0; k < sizeof formulas / sizeof formulas[0]; ++k) {
    st = molecule_formula(formulas[k].m->n, formulas[k].m->z, buf, sizeof buf);
    tap_ok(!st && !strcmp(buf, formulas[k].want), "Hill formula of %s: %s (want %s)", formulas[k].m->name, buf,
           formulas[k].want);
  }
  st = molecule_formula(4, (int[]){F, H, O, N}, buf, sizeof buf);
  tap_ok(!st && !strcmp(buf, "FHNO"), "without carbon, alphabetical with H among the rest: FHNO (%s)", buf);
  st = molecule_formula(3, (int[]){O, C, F}, buf, sizeof buf);
  tap_ok(!st && !strcmp(buf, "CFO"), "with carbon: C first, no H, then F, O: CFO (%s)", buf);
  st = molecule_formula(6, e0.z, buf, 4);
  tap_ok(st == CORE_ERR_ARG && buf[0] == '\0' && strstr(core_error_message(), "too few"),
         "a 4-byte buffer for C2H4 is refused: %s", core_error_message());

  /* ---- refusals ---- */
  molecule bad = m0;
  bad.z[3] = 16;
  int tmp[8];
  molecule_result rr;
  st = molecule_check(bad.n, bad.z, &bad.x[0][0], tmp, &rr);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "atom 3 has atomic number 16") &&
             strstr(core_error_message(), "H, C, N, O, F"),
         "sulphur refused, naming the atom: %s", core_error_message());
  bad.z[3] = 2;
  st = molecule_check(bad.n, bad.z, &bad.x[0][0], tmp, &rr);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "atomic number 2,"), "helium refused: %s",
         core_error_message());
  z[2 * NMAX + 1] = 17;
  st = molecule_check_batch(B, NMAX, natoms, z, x, bonds, per, &s);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "molecule 2, atom 1 has atomic number 17"),
         "chlorine in a batch refused, naming molecule and atom: %s", core_error_message());
  z[2 * NMAX + 1] = H;
  natoms[1] = 6;
  st = molecule_check_batch(B, NMAX, natoms, z, x, bonds, per, &s);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "molecule 1: 6 atoms, expected 1 .. 5"),
         "an atom count above the padded width refused: %s", core_error_message());
  natoms[1] = 4;
  st = molecule_check(0, bad.z, &bad.x[0][0], tmp, &rr);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "0 atoms"), "an empty molecule refused: %s",
         core_error_message());
  st = molecule_formula(2, (int[]){C, 35}, buf, sizeof buf);
  tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "atomic number 35"), "formula refuses bromine: %s",
         core_error_message());
  return tap_done();
}
