/* Metropolis and heat-bath Monte Carlo chains of Edwards-Anderson spin
 * systems, many replicas of one instance at a time.
 *
 * mc_chain_create / mc_chain_destroy: the plan of a chain: neighbour tables
 *   (n, 2 dim) with the coupling of each neighbour, the site order of a
 *   sweep, and the spins of every replica (replicas, n). Local.
 * mc_chain_set_beta, mc_chain_sweep: the step; the caller owns the loop, so
 *   apps can print progress and stop between sweeps. Local.
 * mc_chain_energy / _magnetization / _spins: observables. Local.
 *
 * Randomness (see mc.h): each (replica, sweep) has its own Philox stream and
 * site i consumes the i-th uniform of it, whatever the visiting order, so a
 * chain replays bit for bit on any number of ranks. Checkerboard order
 * (even sublattice, then odd) is what lets the next issue's vectorised and
 * domain-split sweeps reproduce this reference exactly: sites of one colour
 * do not interact. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

struct mc_chain {
  spin_lattice lat;
  int first_replica, replicas, degree; /* degree = 2 dim neighbour slots per site */
  mc_algorithm algorithm;
  uint64_t seed, instance;
  double field;
  double *betas;       /* (replicas) inverse temperature of each replica */
  double *energy;      /* (replicas) E(s) kept up to date flip by flip */
  int64_t sweeps;
  int64_t *neighbor;   /* (n, degree), -1 where an open lattice ends */
  double *coupling;    /* (n, degree) */
  int64_t *order;      /* (n) visiting order of a sweep */
  double *uniforms;    /* (n) this sweep's draws of one replica */
  int8_t *spins;       /* (replicas, n) */
};

/* E(s) of replica r from scratch: every bond is seen from both ends. */
static double energy_from_scratch(const mc_chain *chain, int replica) {
  const int8_t *s = chain->spins + (int64_t)replica * chain->lat.n_sites;
  const int64_t n = chain->lat.n_sites;
  double bonds = 0, m = 0;
  for (int64_t i = 0; i < n; ++i) {
    double h = 0;
    for (int a = 0; a < chain->degree; ++a) {
      int64_t j = chain->neighbor[i * chain->degree + a];
      if (j >= 0) h += chain->coupling[i * chain->degree + a] * s[j];
    }
    bonds += s[i] * h;
    m += s[i];
  }
  return -0.5 * bonds - chain->field * m;
}

static uint64_t mc_purpose(uint64_t base, uint64_t instance) { return base | instance << 8; }

core_status mc_chain_create(const spin_lattice *lat, const double *J, double field, int first_replica,
                            int replicas, mc_algorithm algorithm, uint64_t seed, uint64_t instance,
                            mc_chain **chain) {
  *chain = NULL;
  CORE_CHECK(replicas >= 0 && first_replica >= 0 && first_replica + replicas < (1 << 20), CORE_ERR_ARG,
             "mc: replicas [%d, %d) out of range", first_replica, first_replica + replicas);
  CORE_CHECK(algorithm == MC_METROPOLIS || algorithm == MC_HEATBATH, CORE_ERR_ARG, "mc: unknown algorithm %d",
             (int)algorithm);
  CORE_CHECK(instance < ((uint64_t)1 << 48), CORE_ERR_ARG, "mc: instance index too large");
  const int64_t n = lat->n_sites;
  mc_chain *c = calloc(1, sizeof *c);
  CORE_CHECK(c, CORE_ERR_MEM, "mc: cannot allocate a chain");
  c->lat = *lat;
  c->first_replica = first_replica;
  c->replicas = replicas;
  c->degree = 2 * lat->dim;
  c->algorithm = algorithm;
  c->seed = seed;
  c->instance = instance;
  c->field = field;
  c->neighbor = malloc(sizeof(int64_t) * (size_t)(n * c->degree));
  c->coupling = malloc(sizeof(double) * (size_t)(n * c->degree));
  c->order = malloc(sizeof(int64_t) * (size_t)n);
  c->uniforms = malloc(sizeof(double) * (size_t)n);
  c->spins = malloc((size_t)(n * (replicas > 0 ? replicas : 1)));
  c->betas = malloc(sizeof(double) * (size_t)(replicas > 0 ? replicas : 1));
  c->energy = malloc(sizeof(double) * (size_t)(replicas > 0 ? replicas : 1));
  if (!c->neighbor || !c->coupling || !c->order || !c->uniforms || !c->spins || !c->betas || !c->energy) {
    mc_chain_destroy(&c);
    return CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate %d replicas of %lld sites", replicas, (long long)n);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int dir = 0; dir < lat->dim; ++dir) {
      int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
      c->neighbor[i * c->degree + 2 * dir] = up;
      c->coupling[i * c->degree + 2 * dir] = up >= 0 ? J[dir * n + i] : 0.0;
      c->neighbor[i * c->degree + 2 * dir + 1] = down;
      c->coupling[i * c->degree + 2 * dir + 1] = down >= 0 ? J[dir * n + down] : 0.0;
    }
  /* Checkerboard needs an even L on a torus; otherwise plain order. */
  int colours = lat->bc == SPIN_OPEN || lat->L % 2 == 0;
  int64_t k = 0;
  for (int colour = 0; colour < (colours ? 2 : 1); ++colour)
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = i % lat->L, y = i / lat->L % lat->L, z = lat->dim == 3 ? i / ((int64_t)lat->L * lat->L) : 0;
      if (!colours || (x + y + z) % 2 == colour) c->order[k++] = i;
    }
  for (int r = 0; r < replicas; ++r) c->betas[r] = 1.0;
  for (int r = 0; r < replicas; ++r) {
    core_rng rng;
    core_rng_init(&rng, seed, mc_purpose(CORE_PURPOSE_INIT, instance), (uint64_t)(first_replica + r));
    for (int64_t i = 0; i < n; ++i) c->spins[r * n + i] = core_rng_u32(&rng) & 1 ? 1 : -1;
    c->energy[r] = energy_from_scratch(c, r);
  }
  *chain = c;
  return CORE_OK;
}

void mc_chain_set_beta(mc_chain *chain, double beta) {
  for (int r = 0; r < chain->replicas; ++r) chain->betas[r] = beta;
}

void mc_chain_set_replica_beta(mc_chain *chain, int replica, double beta) { chain->betas[replica] = beta; }

void mc_chain_set_spins(mc_chain *chain, int replica, const int8_t *spins) {
  memcpy(chain->spins + (int64_t)replica * chain->lat.n_sites, spins, (size_t)chain->lat.n_sites);
  chain->energy[replica] = energy_from_scratch(chain, replica);
}

void mc_chain_sweep(mc_chain *chain) {
  const int64_t n = chain->lat.n_sites;
  const int degree = chain->degree;
  for (int r = 0; r < chain->replicas; ++r) {
    core_rng rng;
    core_rng_init(&rng, chain->seed, mc_purpose(CORE_PURPOSE_MC, chain->instance),
                  (uint64_t)(chain->first_replica + r) << 40 | (uint64_t)chain->sweeps);
    for (int64_t i = 0; i < n; ++i) chain->uniforms[i] = core_rng_uniform(&rng);
    int8_t *s = chain->spins + r * n;
    const double beta = chain->betas[r];
    double e = chain->energy[r];
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = chain->order[k];
      double h = chain->field;
      for (int a = 0; a < degree; ++a) {
        int64_t j = chain->neighbor[i * degree + a];
        if (j >= 0) h += chain->coupling[i * degree + a] * s[j];
      }
      const double u = chain->uniforms[i];
      const double delta = 2.0 * s[i] * h; /* energy change of flipping s_i */
      int flip;
      if (chain->algorithm == MC_METROPOLIS)
        flip = delta <= 0 || u < exp(-beta * delta);
      else
        flip = (u * (1.0 + exp(-2.0 * beta * h)) < 1.0 ? 1 : -1) != s[i];
      if (flip) {
        s[i] = (int8_t)-s[i];
        e += delta;
      }
    }
    /* Refresh from scratch now and then so rounding never accumulates. */
    chain->energy[r] = (chain->sweeps + 1) % 1024 == 0 ? energy_from_scratch(chain, r) : e;
  }
  chain->sweeps++;
}

int64_t mc_chain_sweeps(const mc_chain *chain) { return chain->sweeps; }


const int8_t *mc_chain_spins(const mc_chain *chain, int replica) {
  return chain->spins + (int64_t)replica * chain->lat.n_sites;
}

double mc_chain_energy(const mc_chain *chain, int replica) { return chain->energy[replica]; }

double mc_chain_magnetization(const mc_chain *chain, int replica) {
  const int8_t *s = mc_chain_spins(chain, replica);
  int64_t m = 0;
  for (int64_t i = 0; i < chain->lat.n_sites; ++i) m += s[i];
  return (double)m / (double)chain->lat.n_sites;
}

void mc_chain_destroy(mc_chain **chain) {
  if (!chain || !*chain) return;
  mc_chain *c = *chain;
  free(c->neighbor);
  free(c->coupling);
  free(c->order);
  free(c->uniforms);
  free(c->spins);
  free(c->betas);
  free(c->energy);
  free(c);
  *chain = NULL;
}
