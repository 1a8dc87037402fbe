/* Parallel tempering with replicas sharded over ranks.
 *
 * mc_pt_create / mc_pt_exchange: collective; mc_pt_sweep: local;
 * mc_pt_adapt and the accessors: local, identical on every rank.
 *
 * Exchanges swap temperatures between replicas, never spins: after each
 * exchange step every rank knows every replica's energy and magnetisation
 * (one MPI_Allgatherv of two doubles per replica) and the permutation
 * between ladder positions and replicas, decided from one shared stream per
 * step. A configuration thus stays on its rank for the whole run and only a
 * few bytes per replica cross the network. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

struct mc_pt {
  MPI_Comm comm;
  int size, rank;
  int n_temps, first, count; /* local replicas [first, first + count) */
  uint64_t seed, instance;
  int64_t steps;
  double *betas;             /* (n_temps) ladder, position 0 hottest */
  int *replica_at;           /* (n_temps) position -> replica */
  int *position_of;          /* (n_temps) replica -> position */
  double *observed;          /* (2 n_temps) energy, magnetisation by replica */
  double *local;             /* (2 count) */
  int *counts, *displs;      /* (size) Allgatherv layout, in doubles */
  long *accepted, *tried;    /* (n_temps - 1) since the last adapt */
  mc_chain *chain;
};

core_status mc_pt_create(MPI_Comm comm, const spin_lattice *lat, const double *J, int n_temps, double beta_min,
                         double beta_max, mc_algorithm algorithm, uint64_t seed, uint64_t instance, mc_pt **pt) {
  *pt = NULL;
  core_status st = CORE_OK;
  if (n_temps < 1 || !(beta_min > 0) || beta_max < beta_min)
    st = CORE_ERROR(CORE_ERR_ARG, "tempering: need at least one temperature and 0 < beta_min <= beta_max "
                                  "(got %d, %g, %g)", n_temps, beta_min, beta_max);
  CORE_CALL(core_agree(comm, st));
  mc_pt *p = calloc(1, sizeof *p);
  if (p) {
    p->comm = comm;
    MPI_Comm_size(comm, &p->size);
    MPI_Comm_rank(comm, &p->rank);
    p->n_temps = n_temps, p->seed = seed, p->instance = instance;
    int64_t count, first;
    core_partition(n_temps, p->size, p->rank, &count, &first);
    p->first = (int)first, p->count = (int)count;
    p->betas = malloc(sizeof(double) * (size_t)n_temps);
    p->replica_at = malloc(sizeof(int) * (size_t)n_temps);
    p->position_of = malloc(sizeof(int) * (size_t)n_temps);
    p->observed = malloc(sizeof(double) * 2 * (size_t)n_temps);
    p->local = malloc(sizeof(double) * 2 * (size_t)(count > 0 ? count : 1));
    p->counts = malloc(sizeof(int) * (size_t)p->size);
    p->displs = malloc(sizeof(int) * (size_t)p->size);
    p->accepted = calloc((size_t)n_temps, sizeof(long));
    p->tried = calloc((size_t)n_temps, sizeof(long));
  }
  if (!p || !p->betas || !p->replica_at || !p->position_of || !p->observed || !p->local || !p->counts ||
      !p->displs || !p->accepted || !p->tried)
    st = CORE_ERROR(CORE_ERR_MEM, "tempering: cannot allocate a ladder of %d", n_temps);
  if (!st) st = mc_chain_create(lat, J, 0.0, p->first, p->count, algorithm, seed, instance, &p->chain);
  st = core_agree(comm, st);
  if (st) {
    mc_pt_destroy(&p);
    return st;
  }
  for (int k = 0; k < n_temps; ++k) {
    p->betas[k] = n_temps == 1 ? beta_max : beta_min * pow(beta_max / beta_min, (double)k / (n_temps - 1));
    p->replica_at[k] = p->position_of[k] = k;
  }
  for (int r = 0; r < p->size; ++r) {
    int64_t c, f;
    core_partition(n_temps, p->size, r, &c, &f);
    p->counts[r] = (int)(2 * c), p->displs[r] = (int)(2 * f);
  }
  for (int r = 0; r < p->count; ++r) mc_chain_set_replica_beta(p->chain, r, p->betas[p->first + r]);
  st = core_agree(comm, mc_pt_exchange(p));
  if (st) {
    mc_pt_destroy(&p);
    return st;
  }
  *pt = p;
  return CORE_OK;
}

void mc_pt_sweep(mc_pt *p) { mc_chain_sweep(p->chain); }

core_status mc_pt_exchange(mc_pt *p) {
  for (int r = 0; r < p->count; ++r) {
    p->local[2 * r] = mc_chain_energy(p->chain, r);
    p->local[2 * r + 1] = mc_chain_magnetization(p->chain, r);
  }
  CORE_CHECK(MPI_Allgatherv(p->local, 2 * p->count, MPI_DOUBLE, p->observed, p->counts, p->displs, MPI_DOUBLE,
                            p->comm) == MPI_SUCCESS,
             CORE_ERR_MPI, "tempering: gathering the replicas' energies failed");
  /* The first call (from create) only gathers. */
  if (p->steps++ == 0) return CORE_OK;
  core_rng rng;
  core_rng_init(&rng, p->seed, CORE_PURPOSE_EXCHANGE | p->instance << 8, (uint64_t)p->steps);
  for (int k = (int)(p->steps % 2); k + 1 < p->n_temps; k += 2) {
    const int a = p->replica_at[k], b = p->replica_at[k + 1];
    const double x = (p->betas[k] - p->betas[k + 1]) * (p->observed[2 * a] - p->observed[2 * b]);
    p->tried[k]++;
    if (x >= 0 || core_rng_uniform(&rng) < exp(x)) {
      p->replica_at[k] = b, p->replica_at[k + 1] = a;
      p->position_of[b] = k, p->position_of[a] = k + 1;
      p->accepted[k]++;
    }
  }
  for (int r = 0; r < p->count; ++r) mc_chain_set_replica_beta(p->chain, r, p->betas[p->position_of[p->first + r]]);
  return CORE_OK;
}

void mc_pt_adapt(mc_pt *p) {
  const int T = p->n_temps;
  if (T < 3) return;
  double mean = 0, span = p->betas[T - 1] - p->betas[0], total = 0;
  double *gap = malloc(sizeof(double) * (size_t)T);
  if (!gap) return;
  for (int k = 0; k + 1 < T; ++k) mean += p->tried[k] ? (double)p->accepted[k] / p->tried[k] : 0;
  mean /= T - 1;
  for (int k = 0; k + 1 < T; ++k) {
    double rate = p->tried[k] ? (double)p->accepted[k] / p->tried[k] : mean;
    /* A pair that accepts more than the mean can afford a wider gap. */
    double f = (rate + 0.01) / (mean + 0.01);
    f = f < 0.5 ? 0.5 : f > 2 ? 2 : f;
    gap[k] = (p->betas[k + 1] - p->betas[k]) * f;
    total += gap[k];
  }
  for (int k = 0; k + 1 < T; ++k) p->betas[k + 1] = p->betas[k] + gap[k] * span / total;
  free(gap);
  memset(p->accepted, 0, sizeof(long) * (size_t)T);
  memset(p->tried, 0, sizeof(long) * (size_t)T);
  for (int r = 0; r < p->count; ++r) mc_chain_set_replica_beta(p->chain, r, p->betas[p->position_of[p->first + r]]);
}

const double *mc_pt_betas(const mc_pt *p) { return p->betas; }

void mc_pt_rates(const mc_pt *p, double *rates) {
  for (int k = 0; k + 1 < p->n_temps; ++k) rates[k] = p->tried[k] ? (double)p->accepted[k] / p->tried[k] : 0.0;
}

double mc_pt_energy_at(const mc_pt *p, int position) { return p->observed[2 * p->replica_at[position]]; }
double mc_pt_magnetization_at(const mc_pt *p, int position) { return p->observed[2 * p->replica_at[position] + 1]; }
int mc_pt_replica_at(const mc_pt *p, int position) { return p->replica_at[position]; }

mc_chain *mc_pt_chain(mc_pt *p, int *first, int *count) {
  if (first) *first = p->first;
  if (count) *count = p->count;
  return p->chain;
}

void mc_pt_destroy(mc_pt **pt) {
  if (!pt || !*pt) return;
  mc_pt *p = *pt;
  mc_chain_destroy(&p->chain);
  free(p->betas), free(p->replica_at), free(p->position_of), free(p->observed), free(p->local);
  free(p->counts), free(p->displs), free(p->accepted), free(p->tried);
  free(p);
  *pt = NULL;
}
