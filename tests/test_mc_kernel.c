/* TAP test of the vectorised sweep against a scalar model written here
 * from the rules in mc.h and lib/mc/chain.c's header: xoshiro128+ seeded
 * per (replica, sweep) from Philox, float32 arithmetic in the documented
 * order, the table-and-cubic exp2, Metropolis and heat bath; also lanes of
 * different instances (mc_chain_create_lanes). The model runs one
 * replica at a time with plain scalar code; the chain runs replicas as
 * SIMD lanes in groups of 16. They must agree bit for bit, spin for spin,
 * on square and cubic lattices, open and periodic, even and odd L (plain
 * order), with a field, per-replica temperatures and a replica block that
 * starts mid-group and spans two groups. Also: the model's exp2 is within
 * 2.5e-7 of libm's over the range the sweep uses, and the chain's exact
 * energies and magnetisations equal spin_energy of its spins. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"
#include "tap.h"

/* 2^y for y in [-25, 25] as chain.c's sweep_rules define it, with the
 * table computed here from libm (chain.c holds it as constants; a change
 * of one ulp would move a decision only when U falls within that ulp, so
 * these sweeps check the rules more than the last bit of each constant,
 * while every build of the sweep shares the constants). The sweep compares U = 2^24 u
 * with 2^24 P(y) from a table scaled by 2^24: the same decisions, since a
 * power of 2 commutes with rounding. */
static float model_exp2(float y) {
  const float t = y + 786432.0f, k = t - 786432.0f, f = y - k;
  const float q = fmaf(fmaf(fmaf(f, 0x1.c6b08ep-5f, 0x1.ebfbe0p-3f), f, 0x1.62e430p-1f), f, 1.0f);
  const int sixteenths = (int)(16.0f * k); /* exact: k is a multiple of 1/16 */
  const int j = ((sixteenths % 16) + 16) % 16, e = (sixteenths - j) / 16;
  const float table = (float)exp2(j / 16.0);
  return ldexpf(table * q, e);
}

static float clamp25(float y) { return y < -25.0f ? -25.0f : y > 25.0f ? 25.0f : y; }

typedef struct {
  const spin_lattice *lat;
  const double *J;
  float field;
  mc_algorithm alg;
  uint64_t seed, instance;
} model_setup;

/* Replica r of the chain, `sweeps` sweeps at inverse temperature beta. */
static void model_replica(const model_setup *m, int r, float beta, int sweeps, int8_t *out) {
  const spin_lattice *lat = m->lat;
  const int64_t n = lat->n_sites;
  const int degree = 2 * lat->dim;
  float *s = malloc(sizeof(float) * (size_t)n);
  core_rng rng;
  core_rng_init(&rng, m->seed, CORE_PURPOSE_INIT | m->instance << 8, (uint64_t)r);
  for (int64_t i = 0; i < n; ++i) s[i] = core_rng_u32(&rng) & 1 ? 1.0f : -1.0f;
  uint32_t x[4];
  const int colours = lat->bc == SPIN_OPEN || lat->L % 2 == 0;
  for (int t = 0; t < sweeps; ++t) {
    core_rng_init(&rng, m->seed, CORE_PURPOSE_MC_LANES | m->instance << 8, (uint64_t)r << 40 | (uint64_t)t);
    for (int w = 0; w < 4; ++w) x[w] = core_rng_u32(&rng);
    if (!(x[0] | x[1] | x[2] | x[3])) x[0] = 1;
    for (int colour = 0; colour < (colours ? 2 : 1); ++colour)
      for (int64_t i = 0; i < n; ++i) {
        const int64_t cx = i % lat->L, cy = i / lat->L % lat->L, cz = lat->dim == 3 ? i / ((int64_t)lat->L * lat->L) : 0;
        if (colours && (cx + cy + cz) % 2 != colour) continue;
        float h = 0.0f + m->field;
        for (int a = 0; a < degree; ++a) {
          const int dir = a / 2;
          const int64_t j = spin_neighbor(lat, i, dir, a % 2 ? -1 : +1);
          const float J = j < 0 ? 0.0f : (float)(a % 2 ? m->J[dir * n + j] : m->J[dir * n + i]);
          h = h + J * s[j < 0 ? i : j];
        }
        const uint32_t draw = x[0] + x[3], shifted = x[1] << 9;
        x[2] ^= x[0], x[3] ^= x[1], x[1] ^= x[2], x[0] ^= x[3], x[2] ^= shifted;
        x[3] = (x[3] << 11) | (x[3] >> 21);
        const float u = (float)(int32_t)((draw >> 9) << 1 | 1) * 0x1p-24f;
        const float c = beta * -0x1.715476p+1f; /* beta fl(-2 log2 e) */
        int flip;
        if (m->alg == MC_METROPOLIS) /* u < exp(-beta 2 s h) */
          flip = u < model_exp2(clamp25((s[i] * c) * h));
        else /* up if u < 1 / (1 + exp(-2 beta h)) */
          flip = (u * (1.0f + model_exp2(clamp25(c * h))) < 1.0f) != (s[i] > 0.0f);
        if (flip) s[i] = -s[i];
      }
  }
  for (int64_t i = 0; i < n; ++i) out[i] = s[i] > 0 ? 1 : -1;
  free(s);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  tap_plan(1 + 4 * 2 + 2 + 1);

  double worst = 0;
  for (int k = 0; k <= 400000; ++k) {
    const float y = -25.0f + 50.0f * (float)k / 400000.0f;
    worst = fmax(worst, fabs(model_exp2(y) / exp2((double)y) - 1.0));
  }
  tap_ok(worst < 2.5e-7, "table and cubic exp2 within %.2e of libm on [-25, 25]", worst);

  struct {
    spin_lattice_kind kind;
    spin_boundary bc;
    int L, first, replicas, sweeps;
    spin_coupling_law law;
    mc_algorithm alg;
    double field, beta;
    const char *name;
  } cases[4] = {
      {SPIN_SQUARE, SPIN_PERIODIC, 16, 5, 19, 40, SPIN_COUPLING_UNIFORM, MC_METROPOLIS, 0.0, 0.9,
       "square periodic 16, uniform, Metropolis, replicas 5..23"},
      {SPIN_SQUARE, SPIN_OPEN, 7, 0, 3, 40, SPIN_COUPLING_GAUSSIAN, MC_HEATBATH, 0.3, 1.2,
       "square open 7, Gaussian, heat bath, field 0.3"},
      {SPIN_CUBIC, SPIN_PERIODIC, 4, 30, 17, 25, SPIN_COUPLING_PM, MC_METROPOLIS, -0.2, 3.0,
       "cubic 4, +-J, Metropolis, field -0.2, cold"},
      {SPIN_CUBIC, SPIN_PERIODIC, 3, 2, 5, 25, SPIN_COUPLING_UNIFORM, MC_HEATBATH, 0.0, 8.0,
       "cubic 3 (odd: plain order), uniform, heat bath, beta 8 (clamped exp)"},
  };
  for (int c = 0; c < 4; ++c) {
    spin_lattice lat;
    spin_lattice_init(&lat, cases[c].kind, cases[c].bc, cases[c].L);
    const int64_t n = lat.n_sites;
    double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
    spin_couplings_generate(&lat, cases[c].law, 41, 7, J);
    mc_chain *ch;
    mc_chain_create(&lat, J, cases[c].field, cases[c].first, cases[c].replicas, cases[c].alg, 41, 7, &ch);
    /* Each replica its own temperature, as in tempering. */
    for (int r = 0; r < cases[c].replicas; ++r) mc_chain_set_replica_beta(ch, r, cases[c].beta * (1.0 + 0.05 * r));
    for (int t = 0; t < cases[c].sweeps; ++t) mc_chain_sweep(ch);
    const model_setup m = {&lat, J, (float)cases[c].field, cases[c].alg, 41, 7};
    int8_t *want = malloc((size_t)n);
    int same = 1, energies = 1;
    double worst_e = 0;
    for (int r = 0; r < cases[c].replicas; ++r) {
      model_replica(&m, cases[c].first + r, (float)(cases[c].beta * (1.0 + 0.05 * r)), cases[c].sweeps, want);
      same &= !memcmp(want, mc_chain_spins(ch, r), (size_t)n);
      const double e = spin_energy(&lat, J, cases[c].field, mc_chain_spins(ch, r));
      int64_t msum = 0;
      for (int64_t i = 0; i < n; ++i) msum += mc_chain_spins(ch, r)[i];
      worst_e = fmax(worst_e, fabs(mc_chain_energy(ch, r) - e));
      energies &= fabs(mc_chain_energy(ch, r) - e) < 1e-9 && mc_chain_magnetization(ch, r) == (double)msum / n;
    }
    tap_ok(same, "%s: every replica equals the scalar model after %d sweeps", cases[c].name, cases[c].sweeps);
    tap_ok(energies, "%s: energies exact (worst %.1e) and magnetisations equal the spins'", cases[c].name, worst_e);
    mc_chain_destroy(&ch);
    free(J), free(want);
  }
  /* Lanes of different instances (mc_chain_create_lanes): 20 chains of 5
   * instances, each lane its own replica number and temperature. */
  {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, 9);
    const int64_t n = lat.n_sites;
    enum { LANES = 20, INSTANCES = 5 };
    double *J = malloc(sizeof(double) * (size_t)(INSTANCES * spin_lattice_bond_slots(&lat)));
    const double *Js[LANES];
    uint64_t instance[LANES];
    int replica[LANES];
    for (int k = 0; k < INSTANCES; ++k)
      spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 41, (uint64_t)(100 + k), J + k * spin_lattice_bond_slots(&lat));
    for (int l = 0; l < LANES; ++l) {
      instance[l] = (uint64_t)(100 + l % INSTANCES);
      Js[l] = J + (l % INSTANCES) * spin_lattice_bond_slots(&lat);
      replica[l] = 3 * l + 1;
    }
    mc_chain *ch;
    mc_chain_create_lanes(&lat, LANES, Js, instance, replica, 0.1, MC_HEATBATH, 41, &ch);
    for (int l = 0; l < LANES; ++l) mc_chain_set_replica_beta(ch, l, 0.5 + 0.1 * l);
    for (int t = 0; t < 30; ++t) mc_chain_sweep(ch);
    int8_t *want = malloc((size_t)n);
    int same = 1, energies = 1;
    for (int l = 0; l < LANES; ++l) {
      const model_setup m = {&lat, Js[l], 0.1f, MC_HEATBATH, 41, instance[l]};
      model_replica(&m, replica[l], (float)(0.5 + 0.1 * l), 30, want);
      same &= !memcmp(want, mc_chain_spins(ch, l), (size_t)n);
      energies &= fabs(mc_chain_energy(ch, l) - spin_energy(&lat, Js[l], 0.1, mc_chain_spins(ch, l))) < 1e-9;
    }
    tap_ok(same, "20 lanes of 5 instances (open 9 x 9, heat bath, field): every lane equals the scalar model of its instance");
    tap_ok(energies, "20 lanes of 5 instances: energies exact with each lane's own couplings");
    mc_chain_destroy(&ch);
    free(J), free(want);
  }
  /* The three builds in one process (ELOSS_MC_ISA is read when a chain is
   * created): the same spins and the same energies, bit for bit, so that
   * tempering, which decides on energies, is the same on every CPU. */
  {
    static const char *const isa[3] = {NULL, "v3", "baseline"};
    int same = 1;
    for (int c = 0; c < 4; ++c) {
      spin_lattice lat;
      spin_lattice_init(&lat, cases[c].kind, cases[c].bc, cases[c].L);
      const int64_t n = lat.n_sites;
      const int R = cases[c].replicas;
      double *J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
      double *e = malloc(sizeof(double) * 3 * (size_t)R);
      int8_t *spins = malloc(3 * (size_t)(R * n));
      spin_couplings_generate(&lat, cases[c].law, 41, 7, J);
      for (int k = 0; k < 3; ++k) {
        if (isa[k]) setenv("ELOSS_MC_ISA", isa[k], 1);
        mc_chain *ch;
        mc_chain_create(&lat, J, cases[c].field, cases[c].first, R, cases[c].alg, 41, 7, &ch);
        unsetenv("ELOSS_MC_ISA");
        for (int r = 0; r < R; ++r) mc_chain_set_replica_beta(ch, r, cases[c].beta * (1.0 + 0.05 * r));
        for (int t = 0; t < cases[c].sweeps; ++t) mc_chain_sweep(ch);
        for (int r = 0; r < R; ++r) {
          e[k * R + r] = mc_chain_energy(ch, r);
          memcpy(spins + (k * R + r) * n, mc_chain_spins(ch, r), (size_t)n);
        }
        mc_chain_destroy(&ch);
      }
      same &= !memcmp(e, e + R, sizeof(double) * (size_t)R) && !memcmp(e, e + 2 * R, sizeof(double) * (size_t)R) &&
              !memcmp(spins, spins + R * n, (size_t)(R * n)) && !memcmp(spins, spins + 2 * R * n, (size_t)(R * n));
      free(J), free(e), free(spins);
    }
    tap_ok(same, "the AVX-512, AVX2 and portable builds in one process: the same spins and energies, bit for bit, "
                 "in all four cases");
  }
  MPI_Finalize();
  return tap_done();
}
