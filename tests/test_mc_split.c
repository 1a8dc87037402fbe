/* TAP test of one lattice split across ranks (run at 1, 2 and 4 ranks):
 * the DMDA-split sweep reproduces, spin for spin, the single-rank mc_chain
 * run of the same replica (periodic 12 x 12 Gaussian with Metropolis, open
 * 10 x 10 uniform with heat bath), and its energy equals the chain's. */
#include <math.h>
#include <petscsys.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

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
    mc_chain *ch;
    mc_chain_create(&lat, J, 0.0, replica, 1, alg, 17, 9, &ch);
    mc_chain_set_beta(ch, 0.7);
    mc_split *sp;
    core_status st = mc_split_create(MPI_COMM_WORLD, &lat, law, 17, 9, replica, alg, &sp);
    if (!st) mc_split_set_beta(sp, 0.7);
    int8_t *gathered = malloc((size_t)(L * L));
    int same_start = 1, same_end = 1;
    if (!st) st = mc_split_gather(sp, gathered);
    if (!st && rank == 0) same_start = !memcmp(gathered, mc_chain_spins(ch, 0), (size_t)(L * L));
    for (int t = 0; t < sweeps && !st; ++t) {
      mc_chain_sweep(ch);
      st = mc_split_sweep(sp);
    }
    if (!st) st = mc_split_gather(sp, gathered);
    if (!st && rank == 0) same_end = !memcmp(gathered, mc_chain_spins(ch, 0), (size_t)(L * L));
    double e_split = st ? NAN : mc_split_energy(sp), e_chain = mc_chain_energy(ch, 0);
    int ok = !st && same_start && same_end, all_ok;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    tap_ok(all_ok, "%s %d x %d, %s: split lattice equals the one-rank chain spin for spin, at start and after %d sweeps",
           c ? "open" : "periodic", L, L, c ? "heat bath" : "Metropolis", sweeps);
    tap_ok(fabs(e_split - e_chain) < 1e-9, "energy %.10f equals the chain's %.10f", e_split, e_chain);
    mc_split_destroy(&sp);
    mc_chain_destroy(&ch);
    free(J), free(gathered);
  }
  PetscCall(PetscFinalize());
  return tap_done();
}
