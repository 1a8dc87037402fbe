/* TAP test of the sharded atomistic losses: run under mpiexec with 1, 2 and
 * 4 ranks; every rank owns a slice of a 13-structure batch and the loss and
 * gradient rows must equal, bit for bit, a one-rank evaluation of the whole
 * batch done on every rank with MPI_COMM_SELF. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/atoms.h"
#include "tap.h"

enum { B = 13, N = 9, D = 3 };

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  tap_mpi_start(7, &rank, &size);

  /* The same data on every rank: a pure function of the stream. */
  static double ref[B * N * D], pred[B * N * D], g_all[B * N * D], g_mine[B * N * D];
  static float pred_f[B * N * D], gf_all[B * N * D], gf_mine[B * N * D];
  int64_t natoms[B];
  core_rng rng;
  core_rng_init(&rng, 99, CORE_PURPOSE_TEST, 0);
  for (int a = 0; a < B * N * D; ++a) ref[a] = 2 * core_rng_uniform(&rng) - 1;
  for (int a = 0; a < B * N * D; ++a) pred[a] = ref[a] + 0.3 * core_rng_normal(&rng), pred_f[a] = (float)pred[a];
  for (int b = 0; b < B; ++b) natoms[b] = b % 4 == 1 ? 7 : N;

  int64_t ln, ls;
  core_partition(B, size, rank, &ln, &ls);

  struct {
    const char *name;
    atoms_loss_kind loss;
    atoms_edge_kind edges;
  } cases[] = {
      {"energy complete exp_dist", ATOMS_LOSS_ENERGY, ATOMS_EDGES_COMPLETE},
      {"energy 6-regular", ATOMS_LOSS_ENERGY, ATOMS_EDGES_REGULAR},
      {"mse", ATOMS_LOSS_MSE, ATOMS_EDGES_COMPLETE},
      {"kabsch", ATOMS_LOSS_KABSCH, ATOMS_EDGES_COMPLETE},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
    atoms_options opt;
    atoms_options_default(&opt);
    opt.loss = cases[c].loss;
    opt.edges = cases[c].edges;
    opt.coeff = ATOMS_COEFF_EXP_DIST;
    opt.seed = 5;
    atoms_plan *whole = NULL, *shard = NULL;
    double l_all = NAN, l_mine = NAN;
    core_status st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, D, ref, natoms, &whole);
    if (!st) st = atoms_plan_execute(whole, pred, &l_all, g_all);
    st = core_agree(MPI_COMM_WORLD, st);
    if (!st)
      st = atoms_plan_create(MPI_COMM_WORLD, &opt, B, ls, ln, N, D, ref + ls * N * D, natoms + ls, &shard);
    if (!st) st = atoms_plan_execute(shard, pred + ls * N * D, &l_mine, g_mine);
    int same = !st && l_all == l_mine &&
               !memcmp(g_mine, g_all + ls * N * D, sizeof(double) * (size_t)(ln * N * D));
    int all_same;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    tap_ok(all_same, "%s: sharded loss and gradient equal the one-rank ones bit for bit (%.17g)",
           cases[c].name, l_mine);
    if (c == 0) {
      st = atoms_plan_execute_f32(whole, pred_f, &l_all, gf_all);
      if (!st) st = atoms_plan_execute_f32(shard, pred_f + ls * N * D, &l_mine, gf_mine);
      same = !st && l_all == l_mine &&
             !memcmp(gf_mine, gf_all + ls * N * D, sizeof(float) * (size_t)(ln * N * D));
      MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
      tap_ok(all_same, "%s float32: sharded equals one-rank bit for bit", cases[c].name);
    }
    atoms_plan_destroy(&whole);
    atoms_plan_destroy(&shard);
  }

  /* Resampling the regular graphs (a new draw, as at every training step)
   * stays independent of the rank count. */
  {
    atoms_options opt;
    atoms_options_default(&opt);
    opt.edges = ATOMS_EDGES_REGULAR;
    opt.pool = 7;
    opt.seed = 41;
    atoms_plan *whole = NULL, *shard = NULL;
    double l_all = NAN, l_mine = NAN, l_draw0 = NAN;
    core_status st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, D, ref, natoms, &whole);
    if (!st) st = atoms_plan_execute(whole, pred, &l_draw0, NULL);
    if (!st) st = atoms_plan_resample(whole, 3);
    if (!st) st = atoms_plan_execute(whole, pred, &l_all, g_all);
    st = core_agree(MPI_COMM_WORLD, st);
    if (!st) st = atoms_plan_create(MPI_COMM_WORLD, &opt, B, ls, ln, N, D, ref + ls * N * D, natoms + ls, &shard);
    if (!st) st = atoms_plan_resample(shard, 3);
    if (!st) st = atoms_plan_execute(shard, pred + ls * N * D, &l_mine, g_mine);
    int same = !st && l_all == l_mine && l_all != l_draw0 &&
               !memcmp(g_mine, g_all + ls * N * D, sizeof(double) * (size_t)(ln * N * D));
    int all_same;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    tap_ok(all_same, "resampled regular graphs (draw 3) change the loss (%.6g -> %.6g) identically on every rank count",
           l_draw0, l_mine);
    atoms_plan_destroy(&whole);
    atoms_plan_destroy(&shard);
  }

  /* A failure on one rank reaches every rank (no deadlock): rank size-1 gets
   * a NaN in its reference. */
  double saved = ref[(B - 1) * N * D];
  ref[(B - 1) * N * D] = NAN;
  atoms_options opt;
  atoms_options_default(&opt);
  atoms_plan *plan = NULL;
  core_status st = atoms_plan_create(MPI_COMM_WORLD, &opt, B, ls, ln, N, D, ref + ls * N * D, natoms + ls, &plan);
  ref[(B - 1) * N * D] = saved;
  int agreed = st == CORE_ERR_VALUE && plan == NULL && strstr(core_error_message(), "structure 12");
  int all_agreed;
  MPI_Allreduce(&agreed, &all_agreed, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  tap_ok(all_agreed, "a bad structure on the last rank fails every rank with its message");
  MPI_Finalize();
  return tap_done();
}
