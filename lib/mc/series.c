/* Measurement series of Monte Carlo runs: what `eloss mc` measures after
 * every sweep, summed over replicas in a fixed order, and the estimates it
 * prints.
 *
 * mc_series_create(comm, lat, sweeps, replicas, first, mine, &s): series
 *   of `sweeps` measured sweeps of replicas 0 .. replicas - 1, this rank
 *   measuring replicas first .. first + mine - 1. Collective on comm; on
 *   failure every rank returns the same error with *s = NULL.
 * mc_series_add / _add_pair / _add_chain: this sweep's values of local
 *   replicas and pairs. Local.
 * mc_series_next: closes the sweep. Collective on comm.
 * mc_series_estimate: the estimates, the same on every rank. Collective.
 * mc_series_destroy: local; accepts NULL.
 *
 * Series (9, sweeps), each the average over replicas (or overlap pairs):
 * E/N, |m|, m^2, m^4; |q|, q^2, q^4, chi(0) = N q^2, chi(k_min) of the
 * pairs (2p, 2p + 1). Estimates from a blocked jackknife (estimate.c):
 * energy_per_spin, abs_m, m2, binder and, with a pair, abs_q, q2,
 * binder_q, xi_sg.
 *
 * Order of the sums: ranks own consecutive blocks of replicas (a pair never
 * straddles two ranks). Every rank writes its values of each sweep into a
 * row of 4 per replica and 5 per pair; every MC_SERIES_CHUNK sweeps (and
 * after the last) rank 0 of comm gathers the rows and adds them in global
 * replica order, starting from 0. So the sums are the same bits on any
 * number of ranks, and the estimates the same digits. When every rank
 * knows every replica's values (parallel tempering's coldest temperature,
 * a lattice split across ranks), each rank keeps its own complete series
 * on MPI_COMM_SELF.
 *
 * Collective discipline: every collective call here is preceded by a
 * core_agree on comm, so a failure on one rank (fault-injection site
 * "mc.measure": the buffers of mc_series_create) makes every rank return
 * the same error instead of leaving the others waiting. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

enum { CHUNK = MC_SERIES_CHUNK, NSERIES = 9 };

/* The estimates, in the order mc_series_estimate returns them. */
static const char *const estimate_names[MC_SERIES_ESTIMATES] = {"energy_per_spin", "abs_m", "m2", "binder",
                                                                "abs_q", "q2", "binder_q", "xi_sg"};

struct mc_series {
  MPI_Comm comm;
  int rank, size;
  int L;                   /* linear size, for xi */
  double n;                /* sites */
  int replicas, mine;      /* global and local replicas */
  int64_t sweeps, flushed; /* measured sweeps; sweeps added into sum */
  int64_t current;         /* the sweep being filled */
  int estimated;           /* the sums have become averages */
  int row;                 /* values per sweep on this rank: 4 mine + 5 (mine / 2) */
  double *sum;             /* rank 0 of comm: (9, sweeps) sums, then averages */
  double *local;           /* (CHUNK, row) this rank's values */
  double *all;             /* rank 0: every rank's (CHUNK, row) blocks, in rank order */
  int *mine_of, *counts, *displs; /* (size) replicas of each rank; doubles it sends; offsets */
};

static int row_length(int mine) { return 4 * mine + 5 * (mine / 2); }

core_status mc_series_create(MPI_Comm comm, const spin_lattice *lat, int64_t sweeps, int replicas, int first,
                             int mine, mc_series **series) {
  *series = NULL;
  mc_series *s = calloc(1, sizeof *s);
  core_status st = s ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate a measurement series");
  if (!st && (sweeps < 1 || replicas < 1 || mine < 0 || (mine > 0 && (first < 0 || first % 2 != 0 ||
                                                                      first + mine > replicas))))
    st = CORE_ERROR(CORE_ERR_ARG, "mc: series of %lld sweeps, replicas [%d, %d) of %d (pairs must stay on one rank)",
                    (long long)sweeps, first, first + mine, replicas);
  if (!st) {
    s->comm = comm;
    MPI_Comm_rank(comm, &s->rank);
    MPI_Comm_size(comm, &s->size);
    s->L = lat->L, s->n = (double)lat->n_sites;
    s->replicas = replicas, s->mine = mine, s->sweeps = sweeps, s->row = row_length(mine);
    s->local = calloc((size_t)CHUNK * (size_t)(s->row > 0 ? s->row : 1), sizeof(double));
    s->mine_of = malloc(sizeof(int) * (size_t)s->size);
    s->counts = malloc(sizeof(int) * (size_t)s->size), s->displs = malloc(sizeof(int) * (size_t)s->size);
    if (s->rank == 0) s->sum = calloc((size_t)(NSERIES * sweeps), sizeof(double));
    if (!s->local || !s->mine_of || !s->counts || !s->displs || (s->rank == 0 && !s->sum) || core_fault("mc.measure"))
      st = CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate the series of %lld sweeps", (long long)sweeps);
  }
  /* Agree before the gather: a rank that returned here alone would leave
   * the others waiting in it. */
  st = core_agree(comm, st);
  if (!st && MPI_Allgather(&mine, 1, MPI_INT, s->mine_of, 1, MPI_INT, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "mc: MPI_Allgather of the series' replica counts failed");
  int64_t total = 0;
  for (int r = 0; !st && r < s->size; ++r) total += s->mine_of[r];
  if (!st && total != replicas)
    st = CORE_ERROR(CORE_ERR_ARG, "mc: the ranks measure %lld replicas, not %d", (long long)total, replicas);
  total = 0;
  for (int r = 0; !st && r < s->size; ++r)
    s->displs[r] = (int)total, total += s->counts[r] = CHUNK * row_length(s->mine_of[r]);
  if (!st && s->rank == 0) {
    s->all = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    if (!s->all) st = CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate the gathered measurements");
  }
  st = core_agree(comm, st);
  if (st) {
    mc_series_destroy(&s);
    return st;
  }
  *series = s;
  return CORE_OK;
}

/* This rank's row of the current sweep. */
static double *current_row(mc_series *s) { return s->local + (s->current - s->flushed) * s->row; }

void mc_series_add(mc_series *s, int replica, double energy, double magnetization) {
  double *v = current_row(s) + 4 * replica;
  const double e = energy / s->n, m = magnetization;
  v[0] += e;
  v[1] += fabs(m);
  v[2] += m * m;
  v[3] += m * m * m * m;
}

void mc_series_add_pair(mc_series *s, int pair, double q, double chi_kmin) {
  double *v = current_row(s) + 4 * s->mine + 5 * pair;
  v[0] += fabs(q);
  v[1] += q * q;
  v[2] += q * q * q * q;
  v[3] += s->n * q * q;
  v[4] += chi_kmin;
}

void mc_series_add_chain(mc_series *s, const mc_chain *chain, mc_overlap *ov) {
  for (int r = 0; r < s->mine; ++r) mc_series_add(s, r, mc_chain_energy(chain, r), mc_chain_magnetization(chain, r));
  for (int r = 0; ov && r + 1 < s->mine; r += 2) {
    double q, chik;
    mc_overlap_measure(ov, mc_chain_spins(chain, r), mc_chain_spins(chain, r + 1), &q, &chik);
    mc_series_add_pair(s, r / 2, q, chik);
  }
}

core_status mc_series_next(mc_series *s) {
  CORE_CHECK(s->current < s->sweeps, CORE_ERR_ARG, "mc: series of %lld sweeps is full", (long long)s->sweeps);
  const int64_t done = ++s->current;
  if (done - s->flushed == CHUNK || done == s->sweeps) {
    const int err = MPI_Gatherv(s->local, CHUNK * s->row, MPI_DOUBLE, s->all, s->counts, s->displs, MPI_DOUBLE, 0,
                                s->comm);
    /* Every rank leaves the measurement loop together or not at all. */
    CORE_CALL(core_agree(s->comm, err == MPI_SUCCESS ? CORE_OK
                                                     : CORE_ERROR(CORE_ERR_MPI, "mc: gathering the measurements failed")));
    const int64_t T = s->sweeps;
    for (int q = 0; s->rank == 0 && q < s->size; ++q) {
      const double *block = s->all + s->displs[q];
      const int m = s->mine_of[q], row = row_length(m);
      for (int64_t t = s->flushed; t < done; ++t) {
        const double *v = block + (t - s->flushed) * row;
        for (int r = 0; r < m; ++r)
          for (int j = 0; j < 4; ++j) s->sum[j * T + t] += v[4 * r + j];
        for (int p = 0; p < m / 2; ++p)
          for (int j = 0; j < 5; ++j) s->sum[(4 + j) * T + t] += v[4 * m + 5 * p + j];
      }
    }
    s->flushed = done;
  }
  /* The next sweep's row starts from 0. */
  if (s->current < s->sweeps) memset(current_row(s), 0, sizeof(double) * (size_t)s->row);
  return CORE_OK;
}

/* Estimates from the averaged series on rank 0 (see the header). */
static core_status estimate_local(const mc_series *s, const double *avg, int blocks, mc_estimate *est, int *count) {
  const int64_t T = s->sweeps;
  const int pairs = s->replicas / 2;
  *count = pairs > 0 ? 8 : 4;
  for (int k = 0; k < *count; ++k) est[k].name = estimate_names[k], est[k].value = est[k].err = 0;
  for (int k = 0; k < 3; ++k) CORE_CALL(mc_estimate_mean(avg + k * T, T, blocks, &est[k].value, &est[k].err));
  CORE_CALL(mc_estimate_binder(avg + 2 * T, avg + 3 * T, T, blocks, &est[3].value, &est[3].err));
  if (pairs == 0) return CORE_OK;
  const double *ov = avg + 4 * T;
  CORE_CALL(mc_estimate_mean(ov, T, blocks, &est[4].value, &est[4].err));
  CORE_CALL(mc_estimate_mean(ov + T, T, blocks, &est[5].value, &est[5].err));
  CORE_CALL(mc_estimate_binder(ov + T, ov + 2 * T, T, blocks, &est[6].value, &est[6].err));
  return mc_estimate_xi(s->L, ov + 3 * T, ov + 4 * T, T, blocks, &est[7].value, &est[7].err);
}

core_status mc_series_estimate(mc_series *s, int blocks, mc_estimate est[MC_SERIES_ESTIMATES], int *count) {
  core_status st = CORE_OK;
  if (s->current != s->sweeps)
    st = CORE_ERROR(CORE_ERR_ARG, "mc: series has %lld of %lld sweeps", (long long)s->current, (long long)s->sweeps);
  else if (s->estimated)
    st = CORE_ERROR(CORE_ERR_ARG, "mc: a series is estimated once");
  s->estimated |= !st;
  if (!st && s->rank == 0) {
    /* Replica and pair averages. */
    const int64_t T = s->sweeps;
    const int pairs = s->replicas / 2;
    for (int64_t k = 0; k < 4 * T; ++k) s->sum[k] /= (double)s->replicas;
    for (int64_t k = 4 * T; pairs > 0 && k < NSERIES * T; ++k) s->sum[k] /= (double)pairs;
    st = estimate_local(s, s->sum, blocks, est, count);
  }
  /* Agree before the broadcast of rank 0's estimates. */
  CORE_CALL(core_agree(s->comm, st));
  double v[2 * MC_SERIES_ESTIMATES + 1] = {0};
  if (s->rank == 0) {
    v[0] = *count;
    for (int k = 0; k < *count; ++k) v[1 + 2 * k] = est[k].value, v[2 + 2 * k] = est[k].err;
  }
  CORE_CALL(core_agree(s->comm, MPI_Bcast(v, 2 * MC_SERIES_ESTIMATES + 1, MPI_DOUBLE, 0, s->comm) == MPI_SUCCESS
                                    ? CORE_OK
                                    : CORE_ERROR(CORE_ERR_MPI, "mc: broadcasting the estimates failed")));
  if (s->rank != 0) {
    *count = (int)v[0];
    for (int k = 0; k < *count; ++k)
      est[k].name = estimate_names[k], est[k].value = v[1 + 2 * k], est[k].err = v[2 + 2 * k];
  }
  return CORE_OK;
}

void mc_series_destroy(mc_series **series) {
  if (!series || !*series) return;
  mc_series *s = *series;
  free(s->sum), free(s->local), free(s->all), free(s->mine_of), free(s->counts), free(s->displs);
  free(s);
  *series = NULL;
}
