/* The naive single-spin Metropolis of bench/mc_bench, in its own file so
 * that it is compiled with the same freedom as the production sweep's
 * best clone (see bench/meson.build). */
#ifndef ELOSS_BENCH_MC_NAIVE_H
#define ELOSS_BENCH_MC_NAIVE_H

#include <stdint.h>

#include "eloss/core.h"

/* The lattice size is a compile-time constant, as a first program would
 * #define it (and as it was when the naive loop sat in mc_bench.c, where
 * the constant reached it by inlining): the modulo arithmetic compiles to
 * masks. A run-time L makes the naive ~25% slower here (integer
 * divisions), which would flatter the ratio. */
enum { MC_NAIVE_L = 16 };

/* `sweeps` sweeps of one replica s (L * L, +-1) of the periodic L x L
 * lattice, L = MC_NAIVE_L, with couplings J (spin.h layout, (2, L, L)) at
 * inverse temperature beta, sites in plain order; returns the wall time
 * in s. Local. */
double mc_naive_sweeps(const double *J, int8_t *s, double beta, int sweeps, core_rng *rng);

#endif
