/* How reliable and how fast the default heuristic ground-state searches
 * are on the lattices `eloss spingen -gs auto` gives them: 16 x 16
 * periodic Edwards-Anderson instances with uniform couplings in [-1, 1].
 *
 *   build/bench/mc_search_bench [instances [seed [reference_every [method]]]]
 *
 * For each instance (couplings from (seed, i); defaults 200 instances,
 * seed 1) two independent searches with the default options, streams 0
 * and 1, and their agreement on the ground-state energy (to 1e-9); every
 * reference_every-th instance (default 4; 0: none) also a search 10 times
 * longer (stream 2) as a check that the agreed energy is the minimum.
 * method is "pt" (default) or "sa". Prints one line per disagreement or
 * lower reference, then
 *   agreed=<a>/<instances> reference_lower=<r>/<checked> seconds_per_search=<s>
 * (wall time of the stream-0 searches). Single process. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

static core_status search(int anneal, const spin_lattice *lat, const double *J, const mc_search_options *opt,
                          uint64_t seed, uint64_t instance, int8_t *s, double *e) {
  return anneal ? mc_anneal(lat, J, opt, seed, instance, s, e) : mc_tempering(lat, J, opt, seed, instance, s, e, NULL);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const int instances = argc > 1 ? atoi(argv[1]) : 200;
  const uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
  const int every = argc > 3 ? atoi(argv[3]) : 4;
  const int anneal = argc > 4 && strcmp(argv[4], "sa") == 0;
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, 16);
  mc_search_options opt;
  if (anneal) mc_search_options_anneal(&opt);
  else mc_search_options_tempering(&opt);
  double J[512], seconds = 0;
  int8_t s[256];
  int agreed = 0, lower = 0, checked = 0;
  for (int i = 0; i < instances; ++i) {
    double e0, e1, er;
    spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, seed, (uint64_t)i, J);
    mc_search_options o = opt;
    const double t0 = core_time();
    core_status st = search(anneal, &lat, J, &o, seed, (uint64_t)i, s, &e0);
    seconds += core_time() - t0;
    o.stream = 1;
    if (!st) st = search(anneal, &lat, J, &o, seed, (uint64_t)i, s, &e1);
    if (st) {
      fprintf(stderr, "mc_search_bench: %s\n", core_error_message());
      return 1;
    }
    const int same = fabs(e0 - e1) < 1e-9;
    agreed += same;
    int ref_lower = 0;
    if (every > 0 && i % every == 0) {
      o.stream = 2, o.sweeps *= 10;
      if (search(anneal, &lat, J, &o, seed, (uint64_t)i, s, &er)) {
        fprintf(stderr, "mc_search_bench: %s\n", core_error_message());
        return 1;
      }
      ++checked;
      ref_lower = er < fmin(e0, e1) - 1e-9;
      lower += ref_lower;
    }
    if (!same || ref_lower)
      printf("instance %d: stream 0 %.9f, stream 1 %.9f%s\n", i, e0, e1, ref_lower ? ", the longer search lower" : "");
  }
  printf("agreed=%d/%d reference_lower=%d/%d seconds_per_search=%.3f\n", agreed, instances, lower, checked,
         seconds / instances);
  MPI_Finalize();
  return 0;
}
