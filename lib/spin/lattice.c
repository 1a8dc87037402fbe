/* Edwards-Anderson spin systems: lattices, couplings, energies, local
 * fields.
 *
 * spin_lattice_init, spin_lattice_bond_slots, spin_neighbor: local, pure.
 * spin_couplings_generate(lat, law, seed, instance, J): local; J is
 *   (dim, n_sites), a pure function of (seed, instance).
 * spin_energy, spin_local_fields, spin_flip_delta: local.
 * spin_couplings_from_hv / _to_hv: the `eloss gs` layout of open 2D
 *   lattices.
 * spin_*_names, spin_*_from_name: the command-line vocabulary; pure.
 *
 * The Hamiltonian is E(s) = -sum_<ij> J_ij s_i s_j - field sum_i s_i over
 * nearest-neighbour bonds, each bond counted once (stored at its lower
 * site). These loops are not the Monte Carlo hot path (lib/mc keeps its own
 * neighbour tables); they are the reference every sampler is checked
 * against. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eloss/spin.h"

core_status spin_lattice_init(spin_lattice *lat, spin_lattice_kind kind, spin_boundary bc, int L) {
  CORE_CHECK(kind == SPIN_SQUARE || kind == SPIN_CUBIC, CORE_ERR_ARG, "spin: unknown lattice kind %d", (int)kind);
  CORE_CHECK(bc == SPIN_OPEN || bc == SPIN_PERIODIC, CORE_ERR_ARG, "spin: unknown boundary %d", (int)bc);
  CORE_CHECK(L >= 2 && L <= (kind == SPIN_SQUARE ? SPIN_SQUARE_MAX_L : SPIN_CUBIC_MAX_L), CORE_ERR_ARG,
             "spin: lattice size L = %d out of range", L);
  CORE_CHECK(kind == SPIN_SQUARE || bc == SPIN_PERIODIC, CORE_ERR_ARG,
             "spin: cubic lattices are periodic only");
  lat->kind = kind;
  lat->bc = bc;
  lat->L = L;
  lat->dim = kind == SPIN_SQUARE ? 2 : 3;
  lat->n_sites = (int64_t)L * L * (lat->dim == 3 ? L : 1);
  return CORE_OK;
}

int64_t spin_lattice_bond_slots(const spin_lattice *lat) { return lat->dim * lat->n_sites; }

int64_t spin_neighbor(const spin_lattice *lat, int64_t site, int dir, int sign) {
  const int64_t L = lat->L;
  int64_t stride = dir == 0 ? 1 : dir == 1 ? L : L * L;
  int64_t coord = site / stride % L;
  int64_t next = coord + sign;
  if (next < 0 || next >= L) {
    if (lat->bc == SPIN_OPEN) return -1;
    next = (next + L) % L;
  }
  return site + (next - coord) * stride;
}

core_status spin_couplings_generate(const spin_lattice *lat, spin_coupling_law law, uint64_t seed,
                                    uint64_t instance, double *J) {
  CORE_CHECK((unsigned)law <= SPIN_COUPLING_FERRO, CORE_ERR_ARG, "spin: unknown coupling law %d", (int)law);
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_COUPLINGS, instance);
  for (int dir = 0; dir < lat->dim; ++dir)
    for (int64_t i = 0; i < lat->n_sites; ++i) {
      double j = 0;
      switch (law) {
        case SPIN_COUPLING_UNIFORM: j = 2 * core_rng_uniform(&rng) - 1; break;
        case SPIN_COUPLING_GAUSSIAN: j = core_rng_normal(&rng); break;
        case SPIN_COUPLING_PM: j = core_rng_u32(&rng) & 1 ? 1.0 : -1.0; break;
        case SPIN_COUPLING_FERRO: j = 1.0; break;
      }
      /* Every slot draws, present or not, so the stream position of a bond
       * does not depend on the boundary condition. */
      J[dir * lat->n_sites + i] = spin_neighbor(lat, i, dir, +1) >= 0 ? j : 0.0;
    }
  return CORE_OK;
}

/* Words of the stream one slot consumes in spin_couplings_generate. */
static uint64_t words_per_slot(spin_coupling_law law) {
  switch (law) {
    case SPIN_COUPLING_UNIFORM: return 2;  /* one 53-bit uniform */
    case SPIN_COUPLING_GAUSSIAN: return 4; /* two uniforms, Box-Muller */
    case SPIN_COUPLING_PM: return 1;
    case SPIN_COUPLING_FERRO: return 0;
  }
  return 0;
}

double spin_coupling_slot(const spin_lattice *lat, spin_coupling_law law, uint64_t seed, uint64_t instance,
                          int64_t slot) {
  const int dir = (int)(slot / lat->n_sites);
  const int64_t site = slot % lat->n_sites;
  if (spin_neighbor(lat, site, dir, +1) < 0) return 0.0;
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_COUPLINGS, instance);
  core_rng_seek(&rng, (uint64_t)slot * words_per_slot(law));
  switch (law) {
    case SPIN_COUPLING_UNIFORM: return 2 * core_rng_uniform(&rng) - 1;
    case SPIN_COUPLING_GAUSSIAN: return core_rng_normal(&rng);
    case SPIN_COUPLING_PM: return core_rng_u32(&rng) & 1 ? 1.0 : -1.0;
    case SPIN_COUPLING_FERRO: return 1.0;
  }
  return 0.0;
}

double spin_energy(const spin_lattice *lat, const double *J, double field, const int8_t *s) {
  double e = 0, m = 0;
  for (int dir = 0; dir < lat->dim; ++dir)
    for (int64_t i = 0; i < lat->n_sites; ++i) {
      int64_t j = spin_neighbor(lat, i, dir, +1);
      if (j >= 0) e -= J[dir * lat->n_sites + i] * s[i] * s[j];
    }
  for (int64_t i = 0; i < lat->n_sites; ++i) m += s[i];
  return e - field * m;
}

void spin_local_fields(const spin_lattice *lat, const double *J, const int8_t *s, double *h) {
  for (int64_t i = 0; i < lat->n_sites; ++i) {
    double sum = 0;
    for (int dir = 0; dir < lat->dim; ++dir) {
      int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
      if (up >= 0) sum += J[dir * lat->n_sites + i] * s[up];
      if (down >= 0) sum += J[dir * lat->n_sites + down] * s[down];
    }
    h[i] = sum;
  }
}

double spin_flip_delta(const spin_lattice *lat, const double *J, double field, const int8_t *s,
                       int64_t i) {
  double sum = 0;
  for (int dir = 0; dir < lat->dim; ++dir) {
    int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
    if (up >= 0) sum += J[dir * lat->n_sites + i] * s[up];
    if (down >= 0) sum += J[dir * lat->n_sites + down] * s[down];
  }
  return 2.0 * s[i] * (sum + field);
}

void spin_couplings_from_hv(const spin_lattice *lat, const double *H, const double *V, double *J) {
  const int L = lat->L;
  memset(J, 0, sizeof(double) * (size_t)spin_lattice_bond_slots(lat));
  for (int r = 0; r < L; ++r)
    for (int c = 0; c + 1 < L; ++c) J[r * L + c] = H[r * (L - 1) + c];
  for (int r = 0; r + 1 < L; ++r)
    for (int c = 0; c < L; ++c) J[lat->n_sites + r * L + c] = V[r * L + c];
}

void spin_couplings_to_hv(const spin_lattice *lat, const double *J, double *H, double *V) {
  const int L = lat->L;
  for (int r = 0; r < L; ++r)
    for (int c = 0; c + 1 < L; ++c) H[r * (L - 1) + c] = J[r * L + c];
  for (int r = 0; r + 1 < L; ++r)
    for (int c = 0; c < L; ++c) V[r * L + c] = J[lat->n_sites + r * L + c];
}

const char *const spin_lattice_kind_names[SPIN_LATTICE_KIND_COUNT] = {"square", "cubic"};
const char *const spin_boundary_names[SPIN_BOUNDARY_COUNT] = {"open", "periodic"};
const char *const spin_coupling_names[SPIN_COUPLING_COUNT] = {"uniform", "gaussian", "pm", "ferro"};


core_status spin_lattice_kind_from_name(const char *name, spin_lattice_kind *kind) {
  int k = 0;
  CORE_CALL(core_name_lookup("lattice", spin_lattice_kind_names, SPIN_LATTICE_KIND_COUNT, name, &k));
  *kind = (spin_lattice_kind)k;
  return CORE_OK;
}

core_status spin_boundary_from_name(const char *name, spin_boundary *bc) {
  int k = 0;
  CORE_CALL(core_name_lookup("boundary condition", spin_boundary_names, SPIN_BOUNDARY_COUNT, name, &k));
  *bc = (spin_boundary)k;
  return CORE_OK;
}

core_status spin_coupling_from_name(const char *name, spin_coupling_law *law) {
  int k = 0;
  CORE_CALL(core_name_lookup("coupling law", spin_coupling_names, SPIN_COUPLING_COUNT, name, &k));
  *law = (spin_coupling_law)k;
  return CORE_OK;
}

int64_t spin_couplings_first_bad(const double *J, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    if (!(fabs(J[k]) <= SPIN_COUPLING_MAX)) return k; /* NaN fails the comparison too */
  return -1;
}
