/* Ground states by sampling: simulated annealing and parallel tempering,
 * for lattices the exact transfer matrix cannot do (periodic, cubic, wide).
 *
 * mc_search_options_anneal / _tempering: defaults (see mc.h).
 * mc_anneal, mc_tempering: local; both return the lowest-energy state ever
 * visited, in canonical sign, and are pure functions of (lattice, J,
 * options, seed, instance); searches with different `stream` use disjoint
 * random streams, and a non-NULL `stop` is checked before every sweep.
 *
 * Tempering runs on mc_pt (tempering.c) over MPI_COMM_SELF: one instance
 * per rank, as the dataset generator shards instances. With `houdayer`,
 * two ladders run side by side and, after every sweep, the two replicas at
 * each temperature of the colder half exchange a Houdayer cluster. */
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
  opt->houdayer = 0;
}

void mc_search_options_tempering(mc_search_options *opt) {
  opt->replicas = 16;
  opt->sweeps = 3000;
  opt->beta_min = 0.3;
  opt->beta_max = 6.0;
  opt->algorithm = MC_METROPOLIS;
  opt->stream = 0;
  opt->stop = NULL;
  opt->houdayer = 1;
}

/* Replicas of independent searches: search `stream` uses mc_chain replicas
 * [stream * replicas, (stream + 1) * replicas), below
 * MC_SEARCH_REPLICA_LIMIT (mc.h). */
enum { REPLICA_LIMIT = MC_SEARCH_REPLICA_LIMIT };

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
  if (stopped(opt)) return CORE_ERROR(CORE_ERR_STOPPED, "mc: annealing stopped before its first sweep");
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

/* Workspace of Houdayer's cluster move: two configurations and a queue. */
typedef struct {
  int degree;        /* 2 dim neighbour slots per site */
  int32_t *neighbor; /* (n, degree) spin_neighbor(site, dir, -1 / +1), -1 where open */
  int8_t *a, *b, *q; /* (n) each: the two replicas and their overlap field */
  int32_t *queue;    /* (n) */
} cluster_work;

static core_status cluster_work_create(const spin_lattice *lat, cluster_work *w) {
  const int64_t n = lat->n_sites;
  w->degree = 2 * lat->dim;
  w->neighbor = malloc(sizeof(int32_t) * (size_t)(n * w->degree));
  w->a = malloc((size_t)n), w->b = malloc((size_t)n), w->q = malloc((size_t)n);
  w->queue = malloc(sizeof(int32_t) * (size_t)n);
  CORE_CHECK(w->neighbor && w->a && w->b && w->q && w->queue, CORE_ERR_MEM, "mc: cannot allocate the cluster move");
  for (int64_t i = 0; i < n; ++i)
    for (int dir = 0; dir < lat->dim; ++dir)
      for (int side = 0; side < 2; ++side)
        w->neighbor[i * w->degree + 2 * dir + side] = (int32_t)spin_neighbor(lat, i, dir, side ? 1 : -1);
  return CORE_OK;
}

static void cluster_work_destroy(cluster_work *w) {
  free(w->neighbor), free(w->a), free(w->b), free(w->q), free(w->queue);
}

/* Houdayer's cluster move (J. Houdayer, Eur. Phys. J. B 22, 479 (2001))
 * between replica ra of chain ca and replica rb of chain cb, both at the
 * same temperature and zero field: the sites where the two disagree
 * (overlap q_i = -1) form clusters over the lattice bonds; flipping one
 * cluster, picked through a uniformly random site of q_i = -1, in both
 * replicas leaves E_a + E_b unchanged (every bond cut by the cluster's
 * border joins a site where the replicas agree, and its two energies
 * trade places), so the move is accepted always and obeys detailed
 * balance for the pair's joint Boltzmann weight. When more than half of
 * the sites disagree, replica b is flipped globally first (a symmetry at
 * zero field), so the clusters are those of the minority. The move spreads
 * large rearrangements that single-spin flips and exchanges reach only
 * slowly: the reason it works so well in two dimensions, where the
 * disagreement clusters do not percolate at low temperature. */
static void houdayer_move(const spin_lattice *lat, mc_chain *ca, int ra, mc_chain *cb, int rb, core_rng *rng,
                          cluster_work *w) {
  const int64_t n = lat->n_sites;
  memcpy(w->a, mc_chain_spins(ca, ra), (size_t)n);
  memcpy(w->b, mc_chain_spins(cb, rb), (size_t)n);
  int64_t differ = 0;
  for (int64_t i = 0; i < n; ++i) differ += w->a[i] != w->b[i];
  if (2 * differ > n) {
    for (int64_t i = 0; i < n; ++i) w->b[i] = (int8_t)-w->b[i];
    differ = n - differ;
  }
  if (differ == 0) return;
  for (int64_t i = 0; i < n; ++i) w->q[i] = (int8_t)(w->a[i] * w->b[i]);
  /* The seed: the k-th disagreeing site, k uniform. */
  int64_t k = (int64_t)(core_rng_uniform(rng) * (double)differ), seed_site = 0;
  if (k >= differ) k = differ - 1;
  for (int64_t i = 0; i < n; ++i)
    if (w->q[i] < 0 && k-- == 0) {
      seed_site = i;
      break;
    }
  /* Breadth-first growth over sites of q = -1; a site joins by having its
   * q set to +1 and both its spins flipped. */
  int64_t head = 0, tail = 0;
  w->queue[tail++] = (int32_t)seed_site;
  w->q[seed_site] = 1;
  while (head < tail) {
    const int32_t site = w->queue[head++];
    w->a[site] = (int8_t)-w->a[site], w->b[site] = (int8_t)-w->b[site];
    for (int slot = 0; slot < w->degree; ++slot) {
      const int32_t next = w->neighbor[(int64_t)site * w->degree + slot];
      if (next < 0 || w->q[next] > 0) continue;
      w->q[next] = 1;
      w->queue[tail++] = next;
    }
  }
  mc_chain_set_spins(ca, ra, w->a);
  mc_chain_set_spins(cb, rb, w->b);
}

core_status mc_tempering(const spin_lattice *lat, const double *J, const mc_search_options *opt, uint64_t seed,
                         uint64_t instance, int8_t *best, double *best_energy, double *swap_rates) {
  CORE_CALL(check(opt));
  const int T = opt->replicas, copies = opt->houdayer ? 2 : 1;
  CORE_CHECK(opt->stream <= REPLICA_LIMIT / (copies * T) - 1, CORE_ERR_ARG,
             "mc: search stream %d of %d x %d replicas leaves the range of search replicas [0, %d)", opt->stream,
             copies, T, (int)REPLICA_LIMIT);
  if (stopped(opt)) return CORE_ERROR(CORE_ERR_STOPPED, "mc: tempering stopped before its first sweep");
  /* Ladder c of stream k: replicas (copies k + c) T + r, exchange stream
   * index copies k + c; with one copy, stream 0 is replicas 0 .. T - 1
   * and index 0, as mc_pt_create. */
  mc_pt *pt[2] = {NULL, NULL};
  mc_chain *ch[2] = {NULL, NULL};
  core_status st = CORE_OK;
  for (int c = 0; c < copies && !st; ++c) {
    const int index = copies * opt->stream + c;
    st = mc_pt_create_streams(MPI_COMM_SELF, lat, J, 0.0, T, opt->beta_min, opt->beta_max, opt->algorithm, seed,
                              instance, index * T, (uint64_t)index, &pt[c]);
    if (!st) ch[c] = mc_pt_chain(pt[c], NULL, NULL);
  }
  const int64_t n = lat->n_sites;
  cluster_work w = {0, NULL, NULL, NULL, NULL, NULL};
  if (!st && copies == 2) st = cluster_work_create(lat, &w);
  *best_energy = INFINITY;
  for (int t = 0; t < opt->sweeps && !st; ++t) {
    if (stopped(opt)) {
      st = CORE_ERROR(CORE_ERR_STOPPED, "mc: tempering stopped after %d of %d sweeps", t, opt->sweeps);
      break;
    }
    for (int c = 0; c < copies; ++c) mc_pt_sweep(pt[c]);
    if (copies == 2) {
      /* One cluster move per temperature of the colder half, from the
       * stream (seed, EXCHANGE | instance << 8, 1 << 63 | stream << 40 |
       * sweep); exchange indices stay below 2^23, so below that bit. In
       * the hotter half the disagreement clusters percolate and a move
       * flips nearly everything, at the cost of a sweep: on 200 16 x 16
       * periodic instances, 2000 sweeps with moves in the colder half
       * agreed as often (197 vs 196 of 200) in 0.053 s instead of 0.072. */
      core_rng rng;
      core_rng_init(&rng, seed, CORE_PURPOSE_EXCHANGE | instance << 8,
                    (uint64_t)1 << 63 | (uint64_t)opt->stream << 40 | (uint64_t)t);
      for (int k = T / 2; k < T; ++k)
        houdayer_move(lat, ch[0], mc_pt_replica_at(pt[0], k), ch[1], mc_pt_replica_at(pt[1], k), &rng, &w);
    }
    for (int c = 0; c < copies; ++c) {
      for (int r = 0; r < T; ++r) record(ch[c], r, n, best, best_energy);
      if (!st) st = mc_pt_exchange(pt[c]);
    }
  }
  if (swap_rates && !st) mc_pt_rates(pt[0], swap_rates);
  for (int c = 0; c < copies; ++c) mc_pt_destroy(&pt[c]);
  cluster_work_destroy(&w);
  CORE_CALL(st);
  canonical(n, best);
  *best_energy = spin_energy(lat, J, 0.0, best);
  return CORE_OK;
}
