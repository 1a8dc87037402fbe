/* Benchmark of lib/lj's energy + gradient kernel against a plain double
 * loop built with -O3 -march=native (bench/lj_plain.c), and the time to
 * find the LJ38 global minimum by basin hopping.
 *
 *   lj_bench kernel     case=lj_N<n> eloss_ns=<ns per particle> plain_ns=<...>
 *   lj_bench lj38 [walks] [max_steps] [seed]
 *
 * Kernel: n particles of a quenched cluster-like configuration (random
 * points >= 0.8 apart, scaled by 1.1); one evaluation = E and dE/dx of all
 * particles; reported as ns per particle per evaluation ("particle-step"),
 * the median of 7 blocks of >= 0.1 s, the two sides alternating for 3
 * rounds with the best round kept (this VM drifts). The PyTorch side is
 * bench/lj_torch.py; bench/lj_run prints the table.
 *
 * LJ38: walks run one after another, LJ_BASIN_CHUNK steps at a time, all
 * of them advanced in turn, until one reaches the Cambridge Cluster
 * Database's -173.928427 (to 1e-5) or max_steps per walk; prints the walk,
 * the steps summed over all walks and the seconds. One seed's time to
 * solution is a sample, not a mean (basin hopping on this double funnel
 * is erratic): bench/lj_run runs seeds 1 to 5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/lj.h"
#include "lj_plain.h"

static int compare(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median over 7 blocks of >= 0.1 s of ns per particle per evaluation. */
static double time_kernel(int plain, int n, const double *x, double *g, double *w) {
  double blocks[7], sink = 0;
  for (int b = 0; b < 7; ++b) {
    int64_t reps = 0;
    const double t0 = core_time();
    double t;
    do {
      sink += plain ? lj_plain_energy_gradient(n, x, g) : lj_energy_gradient(n, x, g, w);
      ++reps;
      t = core_time();
    } while (t - t0 < 0.1);
    blocks[b] = 1e9 * (t - t0) / (double)reps / n;
  }
  qsort(blocks, 7, sizeof blocks[0], compare);
  if (sink == 1.2345) puts("");
  return blocks[3];
}

static int kernel(void) {
  const int sizes[] = {13, 38, 150, 1000};
  for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; ++c) {
    const int n = sizes[c];
    double *x = malloc(sizeof(double) * 3 * n), *g = malloc(sizeof(double) * 3 * n), *gp = malloc(sizeof(double) * 3 * n);
    double *w = malloc(sizeof(double) * 6 * n);
    core_rng rng;
    core_rng_init(&rng, 1, CORE_PURPOSE_TEST, (uint64_t)n);
    lj_random_start(n, 0.75 * cbrt((double)n) + 0.5, &rng, x);
    for (int k = 0; k < 3 * n; ++k) x[k] *= 1.1;
    /* Same answer first: a benchmark of a wrong kernel measures nothing. */
    const double e = lj_energy_gradient(n, x, g, w), ep = lj_plain_energy_gradient(n, x, gp);
    double gdiff = 0, gmax = 0;
    for (int k = 0; k < 3 * n; ++k) gdiff = fmax(gdiff, fabs(g[k] - gp[k])), gmax = fmax(gmax, fabs(gp[k]));
    if (fabs(e - ep) > 1e-11 * fabs(ep) || gdiff > 1e-11 * gmax) {
      fprintf(stderr, "lj_bench: n = %d: eloss and the plain loop disagree (E %.17g vs %.17g, grad %.1e)\n", n, e, ep,
              gdiff / gmax);
      return 1;
    }
    double best_e = INFINITY, best_p = INFINITY;
    for (int round = 0; round < 3; ++round) {
      best_e = fmin(best_e, time_kernel(0, n, x, g, w));
      best_p = fmin(best_p, time_kernel(1, n, x, gp, w));
    }
    printf("case=lj_N%d eloss_ns=%.3f plain_ns=%.3f energy=%.12g\n", n, best_e, best_p, e);
    fflush(stdout);
    free(x), free(g), free(gp), free(w);
  }
  return 0;
}

static int lj38(int walks, int max_steps, uint64_t seed) {
  const int n = 38;
  const double target = -173.928427;
  lj_basin *b;
  if (lj_basin_create(n, lj_default_radius(n), 0.4, 0.8, &b)) {
    fprintf(stderr, "lj_bench: %s\n", core_error_message());
    return 1;
  }
  double *rows = malloc(sizeof(double) * (size_t)(walks * lj_walk_size(n)));
  const double t0 = core_time();
  for (int w = 0; w < walks; ++w) lj_basin_start(b, seed, (uint64_t)w, rows + w * lj_walk_size(n));
  int found = -1;
  int64_t steps = 0;
  double best = INFINITY;
  for (uint64_t chunk = 0; found < 0 && (int64_t)chunk * LJ_BASIN_CHUNK < max_steps; ++chunk)
    for (int w = 0; found < 0 && w < walks; ++w) {
      double *row = rows + w * lj_walk_size(n);
      lj_basin_steps(b, seed, (uint64_t)w, chunk, row);
      steps += LJ_BASIN_CHUNK;
      best = fmin(best, row[LJ_WALK_BEST_ENERGY]);
      if (fabs(row[LJ_WALK_BEST_ENERGY] - target) <= 1e-5) found = w;
    }
  printf("case=lj38_global_min seed=%llu found=%d walk=%d steps=%lld seconds=%.2f best=%.6f target=%.6f ms_per_step=%.3f\n",
         (unsigned long long)seed, found >= 0, found, (long long)steps, core_time() - t0, best, target, 1e3 * (core_time() - t0) / (double)steps);
  free(rows);
  lj_basin_destroy(&b);
  return found >= 0 ? 0 : 2;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rc = 1;
  if (argc >= 2 && !strcmp(argv[1], "kernel")) rc = kernel();
  else if (argc >= 2 && !strcmp(argv[1], "lj38"))
    rc = lj38(argc >= 3 ? atoi(argv[2]) : 8, argc >= 4 ? atoi(argv[3]) : 20000, argc >= 5 ? strtoull(argv[4], NULL, 10) : 1);
  else fprintf(stderr, "usage: lj_bench kernel | lj38 [walks] [max_steps] [seed]\n");
  MPI_Finalize();
  return rc;
}
