/* TAP test of lattices split across ranks (run at 1, 2 and 4 ranks):
 * - the DMDA-split sweep equals, spin for spin and for every replica, a
 *   serial model of its rules written here from mc.h (start from the INIT
 *   stream, site i of sweep t drawing the i-th uniform of (seed, MC |
 *   instance << 8, replica << 40 | t), checkerboard order, +x -x +y -y +z
 *   -z field order): periodic 12 x 12 Gaussian with Metropolis (replicas 3
 *   and 4), open 10 x 10 uniform with heat bath (one replica), periodic
 *   8^3 uniform with Metropolis (two replicas);
 * - energies and magnetisations equal spin_energy and the mean of the
 *   gathered spins; the fftw3-mpi overlap and structure factor equal the
 *   serial FFTW ones (mc_overlap_measure);
 * - a lattice too small for the ranks (L = 6 on 4 ranks: FFTW leaves one
 *   rank no slab) is refused with a message, and accepted on fewer. */
#include <math.h>
#include <petscsys.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

static void serial_model(const spin_lattice *lat, const double *J, mc_algorithm alg, double beta, uint64_t seed,
                         uint64_t instance, int replica, int sweeps, int8_t *s) {
  const int64_t n = lat->n_sites, L = lat->L;
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_INIT | instance << 8, (uint64_t)replica);
  for (int64_t i = 0; i < n; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
  double *u = malloc(sizeof(double) * (size_t)n);
  for (int t = 0; t < sweeps; ++t) {
    core_rng_init(&rng, seed, CORE_PURPOSE_MC | instance << 8, (uint64_t)replica << 40 | (uint64_t)t);
    for (int64_t i = 0; i < n; ++i) u[i] = core_rng_uniform(&rng);
    for (int colour = 0; colour < 2; ++colour)
      for (int64_t i = 0; i < n; ++i) {
        if ((i % L + i / L % L + i / (L * L)) % 2 != colour) continue;
        double h = 0.0;
        for (int dir = 0; dir < lat->dim; ++dir) {
          const int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
          if (up >= 0) h += J[dir * n + i] * s[up];
          if (down >= 0) h += J[dir * n + down] * s[down];
        }
        const double delta = 2.0 * s[i] * h;
        if (alg == MC_METROPOLIS) {
          if (delta <= 0 || u[i] < exp(-beta * delta)) s[i] = (int8_t)-s[i];
        } else {
          s[i] = u[i] * (1.0 + exp(-2.0 * beta * h)) < 1.0 ? 1 : -1;
        }
      }
  }
  free(u);
}

int main(int argc, char **argv) {
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  int rank, size;
  tap_mpi_start(3 * 3 + 1, &rank, &size);
  struct {
    spin_lattice_kind kind;
    spin_boundary bc;
    int L, first, replicas;
    spin_coupling_law law;
    mc_algorithm alg;
    const char *name;
  } cases[3] = {
      {SPIN_SQUARE, SPIN_PERIODIC, 12, 3, 2, SPIN_COUPLING_GAUSSIAN, MC_METROPOLIS, "periodic 12 x 12, Metropolis, replicas 3, 4"},
      {SPIN_SQUARE, SPIN_OPEN, 10, 0, 1, SPIN_COUPLING_UNIFORM, MC_HEATBATH, "open 10 x 10, heat bath, one replica"},
      {SPIN_CUBIC, SPIN_PERIODIC, 8, 0, 2, SPIN_COUPLING_UNIFORM, MC_METROPOLIS, "periodic 8^3, Metropolis, replicas 0, 1"},
  };
  const int sweeps = 40;
  const double beta = 0.7;
  for (int c = 0; c < 3; ++c) {
    spin_lattice lat;
    spin_lattice_init(&lat, cases[c].kind, cases[c].bc, cases[c].L);
    const int64_t n = lat.n_sites;
    const int R = cases[c].replicas;
    double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
    spin_couplings_generate(&lat, cases[c].law, 17, 9, J);
    int8_t *model = malloc((size_t)(n * R)), *gathered = malloc((size_t)(n * R));
    mc_split *sp;
    core_status st = mc_split_create(MPI_COMM_WORLD, &lat, cases[c].law, 17, 9, cases[c].first, R, cases[c].alg, &sp);
    if (!st) mc_split_set_beta(sp, beta);
    for (int t = 0; t < sweeps && !st; ++t) st = mc_split_sweep(sp);
    double energy[2], m[2], q = 0, chik = 0;
    if (!st) st = mc_split_measure(sp, energy, m);
    if (!st && R == 2) st = mc_split_overlap(sp, 0, 1, &q, &chik);
    for (int r = 0; r < R && !st; ++r) st = mc_split_gather(sp, r, gathered + r * n);
    int same = 1, observables = 1, overlap = 1;
    double worst = 0;
    if (!st && rank == 0) {
      for (int r = 0; r < R; ++r) {
        serial_model(&lat, J, cases[c].alg, beta, 17, 9, cases[c].first + r, sweeps, model + r * n);
        same &= !memcmp(gathered + r * n, model + r * n, (size_t)n);
        int64_t msum = 0;
        for (int64_t i = 0; i < n; ++i) msum += model[r * n + i];
        const double e = spin_energy(&lat, J, 0.0, model + r * n);
        worst = fmax(worst, fabs(energy[r] - e));
        observables &= fabs(energy[r] - e) < 1e-9 && fabs(m[r] - (double)msum / n) < 1e-15;
      }
      if (R == 2) {
        mc_overlap *ov;
        double q_serial, chik_serial;
        mc_overlap_create(&lat, &ov);
        mc_overlap_measure(ov, model, model + n, &q_serial, &chik_serial);
        overlap = fabs(q - q_serial) < 1e-15 && fabs(chik - chik_serial) < 1e-9 * fmax(1.0, chik_serial);
        tap_diag("%s: q = %.6f, chi(k_min) = %.9f (serial %.9f)", cases[c].name, q, chik, chik_serial);
        mc_overlap_destroy(&ov);
      }
    }
    int ok[3] = {!st && same, !st && observables, !st && overlap}, all[3];
    MPI_Allreduce(ok, all, 3, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    tap_ok(all[0], "%s: every replica equals the serial model after %d sweeps", cases[c].name, sweeps);
    tap_ok(all[1], "%s: energies (worst %.1e) and magnetisations equal the gathered spins'", cases[c].name, worst);
    tap_ok(all[2], "%s: %s", cases[c].name,
           R == 2 ? "fftw3-mpi overlap and chi(k_min) equal the serial FFTW ones" : "(one replica: no overlap)");
    mc_split_destroy(&sp);
    free(J), free(gathered), free(model);
  }
  {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 6);
    mc_split *sp;
    core_status st = mc_split_create(MPI_COMM_WORLD, &lat, SPIN_COUPLING_UNIFORM, 1, 0, 0, 1, MC_METROPOLIS, &sp);
    tap_ok(size == 4 ? st == CORE_ERR_ARG && strstr(core_error_message(), "without a slab") : st == CORE_OK,
           "L = 6 over %d ranks: %s", size, st ? core_error_message() : "accepted");
    mc_split_destroy(&sp);
  }
  PetscCall(PetscFinalize());
  return tap_done();
}
