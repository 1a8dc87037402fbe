/* TAP test of one lattice split across ranks (run at 1, 2 and 4 ranks):
 * the DMDA-split sweep equals, spin for spin, a serial model of its rules
 * written here from mc.h's description (start from the INIT stream, site i
 * of sweep t drawing the i-th uniform of (seed, MC | instance << 8,
 * replica << 40 | t), checkerboard order, +x -x +y -y field order), on a
 * periodic 12 x 12 Gaussian instance with Metropolis and an open 10 x 10
 * uniform one with heat bath; and its energy equals spin_energy of the
 * gathered spins. */
#include <math.h>
#include <petscsys.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

static void serial_model(const spin_lattice *lat, const double *J, mc_algorithm alg, double beta, uint64_t seed,
                         uint64_t instance, int replica, int sweeps, int8_t *s) {
  const int L = lat->L, n = L * L;
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_INIT | instance << 8, (uint64_t)replica);
  for (int i = 0; i < n; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
  double *u = malloc(sizeof(double) * (size_t)n);
  for (int t = 0; t < sweeps; ++t) {
    core_rng_init(&rng, seed, CORE_PURPOSE_MC | instance << 8, (uint64_t)replica << 40 | (uint64_t)t);
    for (int i = 0; i < n; ++i) u[i] = core_rng_uniform(&rng);
    for (int colour = 0; colour < 2; ++colour)
      for (int i = 0; i < n; ++i) {
        if ((i % L + i / L) % 2 != colour) continue;
        double h = 0.0;
        for (int dir = 0; dir < 2; ++dir) {
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
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  tap_set_quiet(rank != 0);
  tap_plan(4);
  tap_diag("%d ranks", size);
  for (int c = 0; c < 2; ++c) {
    const int L = c ? 10 : 12, replica = 3, sweeps = 60;
    const spin_coupling_law law = c ? SPIN_COUPLING_UNIFORM : SPIN_COUPLING_GAUSSIAN;
    const mc_algorithm alg = c ? MC_HEATBATH : MC_METROPOLIS;
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, c ? SPIN_OPEN : SPIN_PERIODIC, L);
    double *J = malloc(sizeof(double) * 2 * L * L);
    spin_couplings_generate(&lat, law, 17, 9, J);
    int8_t *model = malloc((size_t)(L * L)), *gathered = malloc((size_t)(L * L));
    mc_split *sp;
    core_status st = mc_split_create(MPI_COMM_WORLD, &lat, law, 17, 9, replica, alg, &sp);
    if (!st) mc_split_set_beta(sp, 0.7);
    int same_start = 1, same_end = 1;
    serial_model(&lat, J, alg, 0.7, 17, 9, replica, 0, model);
    if (!st) st = mc_split_gather(sp, gathered);
    if (!st && rank == 0) same_start = !memcmp(gathered, model, (size_t)(L * L));
    for (int t = 0; t < sweeps && !st; ++t) st = mc_split_sweep(sp);
    serial_model(&lat, J, alg, 0.7, 17, 9, replica, sweeps, model);
    if (!st) st = mc_split_gather(sp, gathered);
    if (!st && rank == 0) same_end = !memcmp(gathered, model, (size_t)(L * L));
    double e_split = st ? NAN : mc_split_energy(sp), e_model = spin_energy(&lat, J, 0.0, model);
    int ok = !st && same_start && same_end, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    tap_ok(all_ok, "%s %d x %d, %s: split lattice equals the serial model spin for spin, at start and after %d sweeps",
           c ? "open" : "periodic", L, L, c ? "heat bath" : "Metropolis", sweeps);
    tap_ok(fabs(e_split - e_model) < 1e-9, "energy %.10f equals the model's %.10f", e_split, e_model);
    mc_split_destroy(&sp);
    free(J), free(gathered), free(model);
  }
  PetscCall(PetscFinalize());
  return tap_done();
}
