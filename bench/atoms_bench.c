/* Benchmark of the atomistic losses: loss + gradient per evaluation, in the
 * cases docs/performance.md quotes. One line per case:
 *
 *   case=<name> precision=<f64|f32> ms=<median ms per evaluation> bytes_per_structure=<plan bytes>
 *
 * Timing is inside the process (MPI/PETSc start-up is not counted): one
 * warm-up, then 7 blocks of evaluations each lasting >= 0.1 s; the median
 * block mean is reported. Run through bench/run, which runs the PyTorch
 * baseline on the same data sizes and prints ratios.
 *
 *   atoms_bench [filter [suffix]]   only cases whose name contains filter,
 *                                   printed with suffix appended (bench/run
 *                                   uses it for the 2-thread sparse case) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/atoms.h"

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static const char *filter = "", *suffix = "";

static void run(const char *name, const atoms_options *opt, int64_t batch, int64_t n, int d, int single) {
  if (!strstr(name, filter)) return;
  const int64_t count = batch * n * d;
  double *ref = malloc(sizeof(double) * (size_t)count), *pred = malloc(sizeof(double) * (size_t)count);
  double *grad = malloc(sizeof(double) * (size_t)count);
  float *pred_f = malloc(sizeof(float) * (size_t)count), *grad_f = malloc(sizeof(float) * (size_t)count);
  core_rng rng;
  core_rng_init(&rng, 1, CORE_PURPOSE_TEST, 0);
  /* Unit density: box side n^(1/d) so neighbour distances stay O(1). */
  double side = d == 2 ? sqrt((double)n) : cbrt((double)n);
  for (int64_t a = 0; a < count; ++a) ref[a] = side * core_rng_uniform(&rng);
  for (int64_t a = 0; a < count; ++a) pred[a] = ref[a] + 0.1 * core_rng_normal(&rng), pred_f[a] = (float)pred[a];
  atoms_plan *plan;
  if (atoms_plan_create(MPI_COMM_WORLD, opt, batch, 0, batch, n, d, ref, NULL, &plan)) {
    fprintf(stderr, "atoms_bench: %s\n", core_error_message());
    exit(1);
  }
  double loss;
  if (single) atoms_plan_execute_f32(plan, pred_f, &loss, grad_f);
  else atoms_plan_execute(plan, pred, &loss, grad);
  double block[7];
  for (int k = 0; k < 7; ++k) {
    int64_t evals = 0;
    double t0 = core_time(), t;
    do {
      if (single) atoms_plan_execute_f32(plan, pred_f, &loss, grad_f);
      else atoms_plan_execute(plan, pred, &loss, grad);
      ++evals;
      t = core_time();
    } while (t - t0 < 0.1);
    block[k] = 1e3 * (t - t0) / (double)evals;
  }
  qsort(block, 7, sizeof block[0], compare);
  printf("case=%s%s precision=%s ms=%.4f bytes_per_structure=%.0f\n", name, suffix, single ? "f32" : "f64", block[3],
         atoms_plan_bytes_per_structure(plan));
  fflush(stdout);
  atoms_plan_destroy(&plan);
  free(ref), free(pred), free(grad), free(pred_f), free(grad_f);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc > 1) filter = argv[1];
  if (argc > 2) suffix = argv[2];
  atoms_options opt;
  for (int single = 0; single <= 1; ++single) {
    atoms_options_default(&opt);
    opt.coeff = ATOMS_COEFF_EXP_DIST;
    run("energy_complete_B512_N30_d3", &opt, 512, 30, 3, single);
    opt.edges = ATOMS_EDGES_REGULAR;
    opt.pool = 1;
    opt.coeff = ATOMS_COEFF_INV_DIST;
    run("energy_sparse4_B1_N300000_d2", &opt, 1, 300000, 2, single);
    atoms_options_default(&opt);
    opt.loss = ATOMS_LOSS_KABSCH;
    run("kabsch_B512_N30_d3", &opt, 512, 30, 3, single);
    opt.loss = ATOMS_LOSS_MSE;
    run("mse_B512_N30_d3", &opt, 512, 30, 3, single);
  }
  MPI_Finalize();
  return 0;
}
