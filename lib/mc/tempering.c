/* Parallel tempering with replicas sharded over ranks.
 *
 * mc_pt_create / mc_pt_exchange / mc_pt_adapt: collective (each agrees on
 *   a status across the ranks before every collective call it makes, so a
 *   local failure on one rank makes every rank return the same error);
 * mc_pt_sweep: local; the accessors: local, identical on every rank.
 *
 * Exchanges swap temperatures between replicas, never spins: after each
 * exchange step every rank knows every replica's energy and magnetisation
 * (one MPI_Allgatherv of two doubles per replica) and the permutation
 * between ladder positions and replicas, decided from one shared stream per
 * step. A configuration thus stays on its rank for the whole run and only a
 * few bytes per replica cross the network.
 *
 * Ladder feedback (mc_pt_adapt): the exchange acceptance A of two
 * neighbouring temperatures whose energy histograms are Gaussian of width
 * sigma is A = erfc(dbeta sigma / 2) (Kofke, J. Chem. Phys. 117, 6911
 * (2002); Rathore, Chopra and de Pablo, J. Chem. Phys. 122, 024111 (2005)),
 * so the "length" of a gap, d = erfc^-1(A) = dbeta sigma / 2, is additive
 * along the beta axis: the total length is a property of the system, not of
 * the ladder, and a ladder with equal lengths per gap has equal acceptance.
 * The feedback measures each gap's length, treats it as spread uniformly
 * over the gap (a piecewise-constant density sigma(beta)), and places the
 * new temperatures where the cumulative length is equally spaced; a damping
 * of 1/2 (half way from the old ladder to that target) keeps noise in the
 * measured rates from making the ladder oscillate. Its fixed point is equal
 * acceptance whatever the shape of the histograms (equal lengths <=> equal
 * A, since erfc^-1 is monotone). Fault-injection sites: "pt.create",
 * "pt.adapt" (core.h). */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mc_impl.h"

struct mc_pt {
  MPI_Comm comm;
  int size, rank;
  int n_temps, first, count; /* local replicas [first, first + count) */
  uint64_t seed, instance;
  uint64_t exchange_index;   /* exchange stream index: exchange_index << 40 | step */
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

core_status mc_pt_create(MPI_Comm comm, const spin_lattice *lat, const double *J, double field, int n_temps,
                         double beta_min, double beta_max, mc_algorithm algorithm, uint64_t seed, uint64_t instance,
                         mc_pt **pt) {
  return mc_pt_create_streams(comm, lat, J, field, n_temps, beta_min, beta_max, algorithm, seed, instance, 0, 0, pt);
}

core_status mc_pt_create_streams(MPI_Comm comm, const spin_lattice *lat, const double *J, double field, int n_temps,
                                 double beta_min, double beta_max, mc_algorithm algorithm, uint64_t seed,
                                 uint64_t instance, int first_replica, uint64_t exchange_index, mc_pt **pt) {
  *pt = NULL;
  core_status st = CORE_OK;
  if (n_temps < 1 || !(beta_min > 0) || beta_max < beta_min)
    st = CORE_ERROR(CORE_ERR_ARG, "tempering: need at least one temperature and 0 < beta_min <= beta_max "
                                  "(got %d, %g, %g)", n_temps, beta_min, beta_max);
  else if (first_replica < 0 || first_replica > (1 << 20) - n_temps || exchange_index >= (uint64_t)1 << 23)
    st = CORE_ERROR(CORE_ERR_ARG, "tempering: replicas [%d, %d) or exchange stream %llu out of range", first_replica,
                    first_replica + n_temps, (unsigned long long)exchange_index);
  CORE_CALL(core_agree(comm, st));
  mc_pt *p = calloc(1, sizeof *p);
  if (p) {
    p->comm = comm;
    MPI_Comm_size(comm, &p->size);
    MPI_Comm_rank(comm, &p->rank);
    p->n_temps = n_temps, p->seed = seed, p->instance = instance, p->exchange_index = exchange_index;
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
      !p->displs || !p->accepted || !p->tried || core_fault("pt.create"))
    st = CORE_ERROR(CORE_ERR_MEM, "tempering: cannot allocate a ladder of %d", n_temps);
  if (!st)
    st = mc_chain_create(lat, J, field, first_replica + p->first, p->count, algorithm, seed, instance, &p->chain);
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
  core_rng_init(&rng, p->seed, CORE_PURPOSE_EXCHANGE | p->instance << 8, p->exchange_index << 40 | (uint64_t)p->steps);
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

/* Length of a gap with exchange acceptance `rate` over `tried` attempts:
 * erfc^-1(A) = Q^-1(A / 2) / sqrt(2) (Q the upper Gaussian tail), with A
 * kept half an attempt away from 0 and 1 so that a gap that never (or
 * always) accepted has a finite length. */
static double gap_length(double rate, long tried) {
  const double margin = 0.5 / (double)(tried > 1 ? tried : 1);
  const double a = fmin(fmax(rate, margin), 1.0 - margin);
  return gsl_cdf_ugaussian_Qinv(a / 2) / sqrt(2.0);
}

core_status mc_pt_adapt(mc_pt *p) {
  const int T = p->n_temps;
  double *cumulative = malloc(sizeof(double) * 2 * (size_t)(T > 0 ? T : 1)); /* (T) lengths, (T) new ladder */
  core_status st = cumulative && !core_fault("pt.adapt") ? CORE_OK
                                                         : CORE_ERROR(CORE_ERR_MEM, "tempering: cannot allocate the feedback");
  /* The ladder must stay the same on every rank: all adapt or none. */
  st = core_agree(p->comm, st);
  if (st) {
    free(cumulative);
    return st;
  }
  int measured = T >= 3;
  for (int k = 0; k + 1 < T; ++k) measured &= p->tried[k] > 0;
  if (measured) {
    double *goal = cumulative + T;
    /* Cumulative length at each rung of the current ladder. */
    cumulative[0] = 0;
    for (int k = 0; k + 1 < T; ++k)
      cumulative[k + 1] = cumulative[k] + gap_length((double)p->accepted[k] / (double)p->tried[k], p->tried[k]);
    /* Rung j goes where the cumulative length is j / (T - 1) of the total,
     * by linear interpolation inside the old gap that holds that length;
     * the ends stay. */
    const double total = cumulative[T - 1];
    goal[0] = p->betas[0], goal[T - 1] = p->betas[T - 1];
    for (int j = 1, gap = 0; j + 1 < T; ++j) {
      const double want = total * j / (T - 1);
      while (gap + 2 < T && cumulative[gap + 1] < want) ++gap;
      const double width = cumulative[gap + 1] - cumulative[gap];
      const double f = width > 0 ? (want - cumulative[gap]) / width : 0.5;
      goal[j] = p->betas[gap] + f * (p->betas[gap + 1] - p->betas[gap]);
    }
    /* Damping: half way. Both ladders increase, so the mean does too. */
    for (int j = 1; j + 1 < T; ++j) p->betas[j] = 0.5 * (p->betas[j] + goal[j]);
  }
  free(cumulative);
  memset(p->accepted, 0, sizeof(long) * (size_t)T);
  memset(p->tried, 0, sizeof(long) * (size_t)T);
  for (int r = 0; r < p->count; ++r) mc_chain_set_replica_beta(p->chain, r, p->betas[p->position_of[p->first + r]]);
  return CORE_OK;
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
