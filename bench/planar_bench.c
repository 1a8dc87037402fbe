/* Exact ground states of open L x L Edwards-Anderson lattices: matching
 * (mc_planar_solve) against the transfer matrix (mc_exact_solve) where
 * both run, then matching alone at large L with its scaling exponent.
 * One core, one rank. Both solvers get the same instances; their energies
 * must agree or the bench fails.
 *
 *   build/bench/planar_bench [-law uniform|gaussian|pm] [-tm 12,16,20]
 *                            [-sizes 64,256,1024] [-seconds 2]
 *
 * Prints one Markdown table per part: per L the instances timed, seconds
 * per instance for each solver and the ratio; for the large sizes the
 * seconds per instance, the spins per second and the local exponent
 * log(t2/t1)/log(L2^2/L1^2) against the number of spins. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "eloss/mc.h"
#include "eloss/spin.h"

static double now(void) { return MPI_Wtime(); }

static int parse_list(const char *text, int *out, int max) {
  int n = 0;
  for (const char *p = text; *p && n < max;) {
    char *end;
    out[n++] = (int)strtol(p, &end, 10);
    p = *end == ',' ? end + 1 : end + strlen(end);
  }
  return n;
}

/* Time one solver on instances 0, 1, ... until `seconds` pass (at least 2). */
typedef struct {
  int count;
  double seconds;
  double energy_sum;
} timing;

static int run(int L, spin_coupling_law law, double seconds, int use_tm, timing *out) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
  double *J = malloc(sizeof(double) * 2 * (size_t)lat.n_sites);
  int8_t *s = malloc((size_t)lat.n_sites);
  mc_exact *ex = NULL;
  mc_planar *pl = NULL;
  core_status st = use_tm ? mc_exact_create(L, &ex) : mc_planar_create(L, L, &pl);
  if (st) {
    fprintf(stderr, "planar_bench: %s\n", core_error_message());
    return 1;
  }
  out->count = 0;
  out->seconds = 0;
  out->energy_sum = 0;
  while (out->count < 2 || out->seconds < seconds) {
    spin_couplings_generate(&lat, law, 1, (uint64_t)out->count, J);
    double e, t0 = now();
    st = use_tm ? mc_exact_solve(ex, J, s, &e) : mc_planar_solve(pl, J, s, &e);
    out->seconds += now() - t0;
    if (st) {
      fprintf(stderr, "planar_bench: %s\n", core_error_message());
      return 1;
    }
    out->energy_sum += e;
    ++out->count;
  }
  mc_exact_destroy(&ex);
  mc_planar_destroy(&pl);
  free(J);
  free(s);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const char *law_name = "uniform";
  int tm[8] = {12, 16, 20}, n_tm = 3, sizes[8] = {64, 256, 1024}, n_sizes = 3;
  double seconds = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "-law")) law_name = argv[i + 1];
    else if (!strcmp(argv[i], "-tm")) n_tm = parse_list(argv[i + 1], tm, 8);
    else if (!strcmp(argv[i], "-sizes")) n_sizes = parse_list(argv[i + 1], sizes, 8);
    else if (!strcmp(argv[i], "-seconds")) seconds = atof(argv[i + 1]);
    else {
      fprintf(stderr, "planar_bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  spin_coupling_law law;
  if (spin_coupling_from_name(law_name, &law)) {
    fprintf(stderr, "planar_bench: %s\n", core_error_message());
    return 2;
  }
  printf("## Matching against the transfer matrix (%s couplings, one core)\n\n", law_name);
  printf("| L | instances | transfer matrix s | matching s | speed-up |\n|---:|---:|---:|---:|---:|\n");
  for (int i = 0; i < n_tm; ++i) {
    timing a, b;
    if (run(tm[i], law, seconds, 1, &a)) return 1;
    /* matching on the same instances */
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, tm[i]);
    double *J = malloc(sizeof(double) * 2 * (size_t)lat.n_sites);
    int8_t *s = malloc((size_t)lat.n_sites);
    mc_planar *pl;
    mc_planar_create(tm[i], tm[i], &pl);
    b.count = a.count;
    b.seconds = 0;
    b.energy_sum = 0;
    for (int k = 0; k < a.count; ++k) {
      spin_couplings_generate(&lat, law, 1, (uint64_t)k, J);
      double e, t0 = now();
      mc_planar_solve(pl, J, s, &e);
      b.seconds += now() - t0;
      b.energy_sum += e;
    }
    mc_planar_destroy(&pl);
    free(J);
    free(s);
    if (fabs(a.energy_sum - b.energy_sum) > 1e-9 * fabs(a.energy_sum)) {
      fprintf(stderr, "planar_bench: L = %d: energies differ (%.17g against %.17g)\n", tm[i], a.energy_sum,
              b.energy_sum);
      return 1;
    }
    printf("| %d | %d | %.3g | %.3g | %.1fx |\n", tm[i], a.count, a.seconds / a.count, b.seconds / b.count,
           (a.seconds / a.count) / (b.seconds / b.count));
    fflush(stdout);
  }
  printf("\n## Matching at large L (%s couplings, one core)\n\n", law_name);
  printf("| L | instances | s per instance | spins per s | exponent | energy per spin |\n|---:|---:|---:|---:|---:|---:|\n");
  double prev_t = 0, prev_n = 0;
  for (int i = 0; i < n_sizes; ++i) {
    timing t;
    if (run(sizes[i], law, seconds, 0, &t)) return 1;
    const double per = t.seconds / t.count, n = (double)sizes[i] * sizes[i];
    char expo[32] = "";
    if (prev_t > 0) snprintf(expo, sizeof expo, "%.2f", log(per / prev_t) / log(n / prev_n));
    printf("| %d | %d | %.3g | %.3g | %s | %.5f |\n", sizes[i], t.count, per, n / per, expo, t.energy_sum / t.count / n);
    fflush(stdout);
    prev_t = per;
    prev_n = n;
  }
  MPI_Finalize();
  return 0;
}
