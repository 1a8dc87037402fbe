/* Measurement runs: the three modes of eloss mc, from the couplings of
 * one instance to the estimates of its observables.
 *
 * mc_run_replicas(comm, o, replicas, cold, &res): independent replica
 *   chains; ranks own whole overlap pairs (2p, 2p+1).
 * mc_run_tempering(comm, o, temps, beta_min, adapt, &res, betas, rates):
 *   one chain per temperature over the ranks, measured at the coldest.
 * mc_run_split(comm, o, replicas, &res): every replica's lattice split
 *   across the ranks.
 * All collective. Each agrees on a status across the ranks before every
 * collective call, so an error on one rank ends every rank with it. The
 * estimates come from mc_series: rank 0 sums in replica order, so they
 * are the same digits on any number of ranks. */
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

/* Core time per single-spin update: the measured seconds of every rank
 * (sum) over the updates of all replicas. */
static double ns_per_update(MPI_Comm comm, double seconds, const mc_run_options *o, double replicas) {
  double total = 0.0;
  MPI_Allreduce(&seconds, &total, 1, MPI_DOUBLE, MPI_SUM, comm);
  return 1e9 * total / ((double)o->sweeps * replicas * (double)o->lat->n_sites);
}

core_status mc_run_replicas(MPI_Comm comm, const mc_run_options *o, int replicas, int cold, mc_run_result *res) {
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  memset(res, 0, sizeof *res);
  const spin_lattice *lat = o->lat;
  /* Replicas 2p and 2p+1 form overlap pair p: ranks own whole pairs. */
  const int64_t pairs = (replicas + 1) / 2;
  int64_t my_pairs, first_pair;
  core_partition(pairs, size, rank, &my_pairs, &first_pair);
  const int64_t first = 2 * first_pair;
  int64_t mine = 2 * my_pairs;
  if (first + mine > replicas) mine = replicas - first;
  if (mine < 0) mine = 0;
  const int overlaps = replicas >= 2;
  double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(lat));
  mc_chain *chain = NULL;
  mc_overlap *overlap = NULL;
  mc_series *series = NULL;
  core_status st = J ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the couplings");
  if (!st) st = spin_couplings_generate(lat, o->law, o->seed, o->instance, J);
  if (!st) st = mc_chain_create(lat, J, o->field, (int)first, (int)mine, o->algorithm, o->seed, o->instance, &chain);
  if (!st && overlaps) st = mc_overlap_create(lat, &overlap);
  if (!st && cold) {
    int8_t *up = malloc((size_t)lat->n_sites);
    if (!up) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate a cold start");
    else {
      memset(up, 1, (size_t)lat->n_sites);
      for (int r = 0; r < mine; ++r) mc_chain_set_spins(chain, r, up);
      free(up);
    }
  }
  st = core_agree(comm, st);
  double measured = 0;
  if (!st) {
    mc_chain_set_beta(chain, o->beta);
    core_progress progress;
    core_progress_start(&progress, "eloss mc sweeps", o->therm + o->sweeps, o->progress);
    for (int64_t t = 0; t < o->therm; ++t) {
      mc_chain_sweep(chain);
      core_progress_update(&progress, t + 1);
    }
    /* Collective: agrees on its own status. */
    st = mc_series_create(comm, lat, o->sweeps, replicas, (int)first, (int)mine, &series);
    for (int64_t t = 0; !st && t < o->sweeps; ++t) {
      const double t0 = core_time();
      mc_chain_sweep(chain);
      measured += core_time() - t0;
      mc_series_add_chain(series, chain, overlaps ? overlap : NULL);
      st = mc_series_next(series); /* collective every few sweeps, agreed inside */
      core_progress_update(&progress, o->therm + t + 1);
    }
    res->ns_per_update = ns_per_update(comm, measured, o, replicas);
    if (!st) st = mc_series_estimate(series, o->blocks, res->est, &res->count);
  }
  mc_chain_destroy(&chain);
  mc_overlap_destroy(&overlap);
  mc_series_destroy(&series);
  free(J);
  return st;
}

core_status mc_run_tempering(MPI_Comm comm, const mc_run_options *o, int temps, double beta_min, int adapt,
                             mc_run_result *res, double *betas, double *rates) {
  memset(res, 0, sizeof *res);
  double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(o->lat));
  mc_pt *pt = NULL;
  mc_series *series = NULL; /* the coldest temperature, known on every rank */
  core_status st = J ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the tempering run");
  if (!st) st = spin_couplings_generate(o->lat, o->law, o->seed, o->instance, J);
  if (!st) st = mc_series_create(MPI_COMM_SELF, o->lat, o->sweeps, 1, 0, 1, &series);
  st = core_agree(comm, st);
  if (!st) st = mc_pt_create(comm, o->lat, J, o->field, temps, beta_min, o->beta, o->algorithm, o->seed, o->instance, &pt);
  core_progress progress;
  core_progress_start(&progress, "eloss mc tempering sweeps", o->therm + o->sweeps, o->progress);
  double measured = 0;
  for (int64_t t = 0; !st && t < o->therm + o->sweeps; ++t) {
    const double t0 = core_time();
    mc_pt_sweep(pt);
    if (t >= o->therm) measured += core_time() - t0;
    st = mc_pt_exchange(pt);
    if (!st && adapt > 0 && t < o->therm && (t + 1) % adapt == 0) st = mc_pt_adapt(pt);
    if (!st && adapt > 0 && t + 1 == o->therm) st = mc_pt_adapt(pt); /* the rates cover the measurement */
    if (!st && t >= o->therm) {
      mc_series_add(series, 0, mc_pt_energy_at(pt, temps - 1), mc_pt_magnetization_at(pt, temps - 1));
      /* A series on MPI_COMM_SELF: its status is this rank's alone until
       * agreed, and the next exchange is collective. */
      st = core_agree(comm, mc_series_next(series));
    }
    core_progress_update(&progress, t + 1);
  }
  if (!st) st = core_agree(comm, mc_series_estimate(series, o->blocks, res->est, &res->count));
  res->ns_per_update = ns_per_update(comm, measured, o, temps);
  if (!st) {
    memcpy(betas, mc_pt_betas(pt), sizeof(double) * (size_t)temps);
    mc_pt_rates(pt, rates);
  }
  mc_pt_destroy(&pt);
  mc_series_destroy(&series);
  free(J);
  return st;
}

core_status mc_run_split(MPI_Comm comm, const mc_run_options *o, int replicas, mc_run_result *res) {
  int size;
  MPI_Comm_size(comm, &size);
  memset(res, 0, sizeof *res);
  const int R = replicas, pairs = R / 2;
  double *energy = malloc(sizeof(double) * (size_t)R), *m = malloc(sizeof(double) * (size_t)R);
  mc_split *sp = NULL;
  mc_series *series = NULL; /* every rank measures every replica */
  core_status st = energy && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "cannot allocate the measurements");
  if (!st) st = mc_series_create(MPI_COMM_SELF, o->lat, o->sweeps, R, 0, R, &series);
  st = core_agree(comm, st);
  if (!st) st = mc_split_create(comm, o->lat, o->law, o->seed, o->instance, 0, R, o->algorithm, &sp);
  st = core_agree(comm, st);
  if (!st) mc_split_set_beta(sp, o->beta);
  core_progress progress;
  core_progress_start(&progress, "eloss mc split sweeps", o->therm + o->sweeps, o->progress);
  double measured = 0;
  for (int64_t t = 0; !st && t < o->therm + o->sweeps; ++t) {
    /* Time the sweep alone: without the barrier, a rank still measuring
     * would make the others' first halo exchange wait. */
    MPI_Barrier(comm);
    const double t0 = core_time();
    st = core_agree(comm, mc_split_sweep(sp));
    if (!st && t >= o->therm) {
      measured += core_time() - t0;
      st = mc_split_measure(sp, energy, m);
      for (int r = 0; !st && r < R; ++r) mc_series_add(series, r, energy[r], m[r]);
      for (int p = 0; !st && p < pairs; ++p) {
        double q, chik;
        st = mc_split_overlap(sp, 2 * p, 2 * p + 1, &q, &chik);
        if (!st) mc_series_add_pair(series, p, q, chik);
      }
      if (!st) st = core_agree(comm, mc_series_next(series)); /* a series on MPI_COMM_SELF */
    }
    core_progress_update(&progress, t + 1);
  }
  if (!st) st = core_agree(comm, mc_series_estimate(series, o->blocks, res->est, &res->count));
  /* Wall time of the sweeps times the ranks sharing them: every rank's
   * measured time is that wall time. */
  res->ns_per_update = ns_per_update(comm, measured, o, R);
  mc_split_destroy(&sp);
  mc_series_destroy(&series);
  free(energy), free(m);
  return st;
}
