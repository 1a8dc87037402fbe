/* Ground states by sampling: simulated annealing and parallel tempering,
 * for lattices the exact transfer matrix cannot do (periodic, cubic, wide).
 *
 * mc_search_options_anneal / _tempering: defaults (see mc.h).
 * mc_anneal, mc_tempering: local; both return the lowest-energy state ever
 * visited, in canonical sign, and are pure functions of (lattice, J,
 * options, seed, instance).
 *
 * Tempering exchanges configurations by exchanging temperatures: replica
 * slot r keeps its spins and its random stream, and the ladder position of
 * each slot is permuted, which moves no spins. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

void mc_search_options_anneal(mc_search_options *opt) {
  opt->replicas = 48;
  opt->sweeps = 1500;
  opt->beta_min = 0.5;
  opt->beta_max = 5.0;
  opt->algorithm = MC_METROPOLIS;
}

void mc_search_options_tempering(mc_search_options *opt) {
  opt->replicas = 12;
  opt->sweeps = 3000;
  opt->beta_min = 0.3;
  opt->beta_max = 6.0;
  opt->algorithm = MC_METROPOLIS;
}

static core_status check(const mc_search_options *opt) {
  CORE_CHECK(opt->replicas >= 1 && opt->sweeps >= 1 && opt->beta_min > 0 && opt->beta_max >= opt->beta_min,
             CORE_ERR_ARG, "mc: search needs replicas >= 1, sweeps >= 1 and 0 < beta_min <= beta_max "
                           "(got %d, %d, %g, %g)", opt->replicas, opt->sweeps, opt->beta_min, opt->beta_max);
  return CORE_OK;
}

static double ladder(const mc_search_options *opt, int k, int count) {
  if (count <= 1) return opt->beta_max;
  return opt->beta_min * pow(opt->beta_max / opt->beta_min, (double)k / (count - 1));
}

/* Keep the best state of a replica if it beats the record. */
static void record(const mc_chain *ch, int r, int64_t n, int8_t *best, double *best_energy) {
  double e = mc_chain_energy(ch, r);
  if (e < *best_energy) {
    *best_energy = e;
    memcpy(best, mc_chain_spins(ch, r), (size_t)n);
  }
}

static void canonical(int64_t n, int8_t *s) {
  if (s[0] < 0)
    for (int64_t i = 0; i < n; ++i) s[i] = (int8_t)-s[i];
}

core_status mc_anneal(const spin_lattice *lat, const double *J, const mc_search_options *opt, uint64_t seed,
                      uint64_t instance, int8_t *best, double *best_energy) {
  CORE_CALL(check(opt));
  mc_chain *ch;
  CORE_CALL(mc_chain_create(lat, J, 0.0, 0, opt->replicas, opt->algorithm, seed, instance, &ch));
  *best_energy = INFINITY;
  for (int k = 0; k < opt->sweeps; ++k) {
    mc_chain_set_beta(ch, ladder(opt, k, opt->sweeps));
    mc_chain_sweep(ch);
    /* The record only matters once the runs are cold: the last third. */
    if (3 * k >= 2 * opt->sweeps)
      for (int r = 0; r < opt->replicas; ++r) record(ch, r, lat->n_sites, best, best_energy);
  }
  mc_chain_destroy(&ch);
  canonical(lat->n_sites, best);
  *best_energy = spin_energy(lat, J, 0.0, best);
  return CORE_OK;
}

core_status mc_tempering(const spin_lattice *lat, const double *J, const mc_search_options *opt, uint64_t seed,
                         uint64_t instance, int8_t *best, double *best_energy, double *swap_rates) {
  CORE_CALL(check(opt));
  const int T = opt->replicas;
  mc_chain *ch;
  CORE_CALL(mc_chain_create(lat, J, 0.0, 0, T, opt->algorithm, seed, instance, &ch));
  int *slot = malloc(sizeof(int) * (size_t)T);        /* slot[k]: replica at ladder position k */
  double *energy = malloc(sizeof(double) * (size_t)T); /* by replica */
  long *accepted = calloc((size_t)T, sizeof(long)), *tried = calloc((size_t)T, sizeof(long));
  if (!slot || !energy || !accepted || !tried) {
    free(slot), free(energy), free(accepted), free(tried);
    mc_chain_destroy(&ch);
    return CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate a tempering ladder of %d", T);
  }
  for (int k = 0; k < T; ++k) slot[k] = k, mc_chain_set_replica_beta(ch, k, ladder(opt, k, T));
  *best_energy = INFINITY;
  for (int t = 0; t < opt->sweeps; ++t) {
    mc_chain_sweep(ch);
    for (int r = 0; r < T; ++r) {
      energy[r] = mc_chain_energy(ch, r);
      if (energy[r] < *best_energy) {
        *best_energy = energy[r];
        memcpy(best, mc_chain_spins(ch, r), (size_t)lat->n_sites);
      }
    }
    core_rng rng;
    core_rng_init(&rng, seed, CORE_PURPOSE_EXCHANGE | instance << 8, (uint64_t)t);
    for (int k = t % 2; k + 1 < T; k += 2) {
      const int a = slot[k], b = slot[k + 1];
      const double ba = ladder(opt, k, T), bb = ladder(opt, k + 1, T);
      const double x = (ba - bb) * (energy[a] - energy[b]);
      tried[k]++;
      if (x >= 0 || core_rng_uniform(&rng) < exp(x)) {
        slot[k] = b, slot[k + 1] = a;
        mc_chain_set_replica_beta(ch, b, ba);
        mc_chain_set_replica_beta(ch, a, bb);
        accepted[k]++;
      }
    }
  }
  if (swap_rates)
    for (int k = 0; k + 1 < T; ++k) swap_rates[k] = tried[k] ? (double)accepted[k] / (double)tried[k] : 0.0;
  free(slot), free(energy), free(accepted), free(tried);
  mc_chain_destroy(&ch);
  canonical(lat->n_sites, best);
  *best_energy = spin_energy(lat, J, 0.0, best);
  return CORE_OK;
}
