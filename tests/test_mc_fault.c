/* TAP test of collective discipline in lib/mc (run at 2 and 4 ranks): for
 * each fault-injection site of a collective path (docs/design.md, "Fault
 * injection"), one rank other than 0 (the last) is made to fail at that
 * site, every rank calls the collective function, and every rank must
 * return the same non-OK status, promptly: a rank that returned alone would
 * leave the others waiting in the next collective call, and the test would
 * hang until meson's timeout. A failed constructor leaves its handle NULL.
 * Each case ends with one more call on every rank to prove the ranks are
 * still in step. */
#include <petscsys.h>
#include <stdio.h>
#include <stdlib.h>

#include "eloss/mc.h"
#include "tap.h"

/* Every rank got the same status, and it is not OK. */
static int same_failure(core_status st) {
  int mine = (int)st, lo, hi;
  MPI_Allreduce(&mine, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&mine, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return lo == hi && lo != CORE_OK;
}

static void inject(const char *site, int rank, int pass) {
  char spec[96];
  snprintf(spec, sizeof spec, "%s:%d:%d", site, rank, pass);
  core_fault_configure(spec);
}

int main(int argc, char **argv) {
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  int rank, size;
  tap_mpi_start(7, &rank, &size);
  const int victim = size - 1; /* not rank 0 */
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 8);
  double J[128];
  spin_couplings_generate(&lat, SPIN_COUPLING_GAUSSIAN, 3, 1, J);

  /* Tempering: creation and feedback. */
  mc_pt *pt = (mc_pt *)&lat; /* not NULL: the constructor must clear it */
  inject("pt.create", victim, 1);
  core_status st = mc_pt_create(MPI_COMM_WORLD, &lat, J, 0.0, 6, 0.3, 2.0, MC_METROPOLIS, 3, 1, &pt);
  tap_ok(same_failure(st) && !pt, "pt.create failing on rank %d: every rank returns the same error, no object (%s)",
         victim, core_error_message());
  core_fault_configure(NULL);
  st = mc_pt_create(MPI_COMM_WORLD, &lat, J, 0.0, 6, 0.3, 2.0, MC_METROPOLIS, 3, 1, &pt);
  for (int t = 0; !st && t < 50; ++t) {
    mc_pt_sweep(pt);
    st = mc_pt_exchange(pt);
  }
  double before[6], after[6];
  for (int k = 0; !st && k < 6; ++k) before[k] = mc_pt_betas(pt)[k];
  inject("pt.adapt", victim, 1);
  core_status fail = st ? st : mc_pt_adapt(pt);
  core_fault_configure(NULL);
  int same_ladder = 1;
  for (int k = 0; !st && k < 6; ++k) after[k] = mc_pt_betas(pt)[k], same_ladder &= after[k] == before[k];
  MPI_Allreduce(MPI_IN_PLACE, &same_ladder, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(!st && same_failure(fail) && same_ladder,
         "pt.adapt failing on rank %d: every rank returns the same error and keeps its ladder", victim);
  st = st ? st : mc_pt_exchange(pt);
  tap_ok(core_agree(MPI_COMM_WORLD, st) == CORE_OK, "tempering ranks still in step after the failures");
  mc_pt_destroy(&pt);

  /* Split lattice: three places in creation, then each collective call. */
  for (int pass = 1; pass <= 3; ++pass) {
    mc_split *sp = NULL;
    inject("split.create", victim, pass);
    st = mc_split_create(MPI_COMM_WORLD, &lat, SPIN_COUPLING_UNIFORM, 5, 0, 0, 2, MC_METROPOLIS, &sp);
    core_fault_configure(NULL);
    tap_ok(same_failure(st) && !sp, "split.create failing at pass %d on rank %d: every rank returns the same error, "
           "*split NULL (%s)", pass, victim, core_error_message());
    mc_split_destroy(&sp);
  }
  mc_split *sp = NULL;
  st = mc_split_create(MPI_COMM_WORLD, &lat, SPIN_COUPLING_UNIFORM, 5, 0, 0, 2, MC_METROPOLIS, &sp);
  static const char *const sites[] = {"split.sweep", "split.measure", "split.overlap", "split.gather"};
  int all_same = 1;
  int8_t spins[64];
  for (int c = 0; c < 4; ++c) {
    /* Colour 1 of the sweep (pass 2), past the first ghost update. */
    inject(sites[c], victim, c == 0 ? 2 : 1);
    double e[2], m[2], q, chi;
    core_status got = st;
    if (!st && c == 0) got = mc_split_sweep(sp);
    if (!st && c == 1) got = mc_split_measure(sp, e, m);
    if (!st && c == 2) got = mc_split_overlap(sp, 0, 1, &q, &chi);
    if (!st && c == 3) got = mc_split_gather(sp, 0, rank == 0 ? spins : NULL);
    core_fault_configure(NULL);
    const int same = same_failure(got);
    if (rank == 0 && !same) tap_diag("%s: ranks disagree or succeeded", sites[c]);
    all_same &= same;
    if (!st) st = core_agree(MPI_COMM_WORLD, mc_split_sweep(sp)); /* still in step */
  }
  tap_ok(!st && all_same, "split.sweep, split.measure, split.overlap, split.gather failing on rank %d: every rank "
         "returns the same error each time, and the next sweep runs", victim);
  mc_split_destroy(&sp);
  PetscCall(PetscFinalize());
  return tap_done();
}
