/* Ground states by sampling: simulated annealing and parallel tempering,
 * for lattices the exact transfer matrix cannot do (periodic, cubic, wide).
 *
 * mc_search_options_anneal / _tempering: defaults (see mc.h).
 * mc_anneal, mc_tempering: local; both return the lowest-energy state ever
 * visited, in canonical sign, and are pure functions of (lattice, J,
 * options, seed, instance).
 *
 * Tempering runs on mc_pt (tempering.c) over MPI_COMM_SELF: one instance
 * per rank, as the dataset generator shards instances. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mc_impl.h"

void mc_search_options_anneal(mc_search_options *opt) {
  opt->replicas = 48;
  opt->sweeps = 1500;
  opt->beta_min = 0.5;
  opt->beta_max = 5.0;
  opt->algorithm = MC_METROPOLIS;
  opt->stream = 0;
  opt->stop = NULL;
}

void mc_search_options_tempering(mc_search_options *opt) {
  opt->replicas = 12;
  opt->sweeps = 3000;
  opt->beta_min = 0.3;
  opt->beta_max = 6.0;
  opt->algorithm = MC_METROPOLIS;
  opt->stream = 0;
  opt->stop = NULL;
}

/* Replicas of independent searches: search `stream` uses mc_chain replicas
 * [stream * replicas, (stream + 1) * replicas), below REPLICA_LIMIT, the
 * first replica number the dataset generator uses for its equilibrium
 * samples (mc_dataset_generate), so the two never share a stream. */
enum { REPLICA_LIMIT = 1 << 19 };

static core_status check(const mc_search_options *opt) {
  CORE_CHECK(opt->replicas >= 1 && opt->sweeps >= 1 && opt->beta_min > 0 && opt->beta_max >= opt->beta_min,
             CORE_ERR_ARG, "mc: search needs replicas >= 1, sweeps >= 1 and 0 < beta_min <= beta_max "
                           "(got %d, %d, %g, %g)", opt->replicas, opt->sweeps, opt->beta_min, opt->beta_max);
  CORE_CHECK(opt->replicas <= REPLICA_LIMIT && opt->stream >= 0 &&
                 opt->stream <= REPLICA_LIMIT / opt->replicas - 1,
             CORE_ERR_ARG, "mc: search stream %d of %d replicas leaves the range of search replicas [0, %d)",
             opt->stream, opt->replicas, (int)REPLICA_LIMIT);
  return CORE_OK;
}

static int stopped(const mc_search_options *opt) { return opt->stop && *opt->stop; }

static double schedule(const mc_search_options *opt, int k, int count) {
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
  CORE_CALL(mc_chain_create(lat, J, 0.0, opt->stream * opt->replicas, opt->replicas, opt->algorithm, seed, instance,
                            &ch));
  *best_energy = INFINITY;
  for (int k = 0; k < opt->sweeps; ++k) {
    if (stopped(opt)) {
      mc_chain_destroy(&ch);
      return CORE_ERROR(CORE_ERR_STOPPED, "mc: annealing stopped after %d of %d sweeps", k, opt->sweeps);
    }
    mc_chain_set_beta(ch, schedule(opt, k, opt->sweeps));
    mc_chain_sweep(ch);
    /* The record only matters once the runs are cold: the last third,
     * which always holds the final sweep (even with 1 or 2 sweeps). */
    if (3 * k >= 2 * opt->sweeps || k == opt->sweeps - 1)
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
  mc_pt *pt;
  CORE_CALL(mc_pt_create_streams(MPI_COMM_SELF, lat, J, 0.0, opt->replicas, opt->beta_min, opt->beta_max,
                                 opt->algorithm, seed, instance, opt->stream * opt->replicas,
                                 (uint64_t)opt->stream, &pt));
  mc_chain *ch = mc_pt_chain(pt, NULL, NULL);
  *best_energy = INFINITY;
  core_status st = CORE_OK;
  for (int t = 0; t < opt->sweeps && !st; ++t) {
    if (stopped(opt)) {
      st = CORE_ERROR(CORE_ERR_STOPPED, "mc: tempering stopped after %d of %d sweeps", t, opt->sweeps);
      break;
    }
    mc_pt_sweep(pt);
    for (int r = 0; r < opt->replicas; ++r) record(ch, r, lat->n_sites, best, best_energy);
    st = mc_pt_exchange(pt);
  }
  if (swap_rates) mc_pt_rates(pt, swap_rates);
  mc_pt_destroy(&pt);
  CORE_CALL(st);
  canonical(lat->n_sites, best);
  *best_energy = spin_energy(lat, J, 0.0, best);
  return CORE_OK;
}
