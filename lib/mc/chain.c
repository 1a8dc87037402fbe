/* Metropolis and heat-bath Monte Carlo chains of Edwards-Anderson spin
 * systems: the production sweep, many chains at a time.
 *
 * mc_chain_create (replicas of one instance) / mc_chain_create_lanes (any
 *   (instance, replica) pairs) / mc_chain_destroy: neighbour tables (n,
 *   2 dim) with the coupling of each neighbour (double, for energies), the
 *   sweep's visiting table (each site and its neighbours as byte offsets,
 *   in visiting order, so the sweep reads it and its float couplings
 *   front to back with no index arithmetic), and the spins of every
 *   chain. Local.
 * mc_chain_set_beta, mc_chain_sweep: the step; the caller owns the loop, so
 *   apps can print progress and stop between sweeps. Local.
 * mc_chain_energy / _magnetization / _spins: observables. Local.
 *
 * Layout: replicas are the SIMD lanes. Replicas come in groups of
 * MC_LANES; a group stores its spins as float +-1, site-major
 * (n, MC_LANES), so one site of all lanes is one vector, and each lane has
 * its own random stream and inverse temperature. One update of 16 replicas
 * is then ~30 AVX-512 instructions with no branch: the local field from
 * broadcast couplings (or per-lane coupling vectors when the lanes hold
 * different instances), the acceptance probability as 2^y from a 16-entry
 * table (one permute) and a cubic, a xoshiro128+ draw, a compare and a
 * sign flip. Lanes past the last replica of the last group run a dummy
 * chain that nothing reads.
 *
 * Arithmetic is float32 (couplings and beta are rounded to float once),
 * in a fixed order, fused multiply-adds only where the rules say so (C11
 * mode: -ffp-contract=off), so the AVX-512, AVX2 and portable sweeps (all
 * three tested on one machine through ELOSS_MC_ISA) and the scalar model
 * in tests/test_mc_kernel.c give the same bits. The portable build calls
 * fmaf lane by lane, slow where the CPU has no FMA (x86-64 before AVX2).
 * Energies are exact: computed on demand in double from the
 * double couplings, once per sweep and group.
 *
 * Randomness: in sweep t, replica r draws from a xoshiro128+ generator
 * whose 128-bit state is the first Philox block of the stream (seed,
 * CORE_PURPOSE_MC_LANES | instance << 8, r << 40 | t), computed for all
 * lanes at once at the start of the sweep (an all-zero block, probability
 * 2^-128, gets its low bit set); the k-th site of the visiting order uses
 * its k-th output. So the randomness is keyed by (seed, instance, replica,
 * sweep), a chain can restart from its spins and sweep count alone, and
 * results depend neither on the grouping, the rank nor the target. The
 * uniform is u = (2 (x >> 9) + 1) 2^-24 in (0, 1): acceptance
 * probabilities are resolved to 2^-23. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

/* GCC on x86-64 also builds the sweep for AVX-512 and for AVX2 and picks
 * one at run time; other compilers and CPUs get the portable build. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define MC_X86_BUILDS 1
#include <immintrin.h>
#else
#define MC_X86_BUILDS 0
#endif

enum { MC_LANES = 16 };

typedef float lanes_f32 __attribute__((vector_size(MC_LANES * sizeof(float))));
typedef int32_t lanes_i32 __attribute__((vector_size(MC_LANES * sizeof(int32_t))));
typedef uint32_t lanes_u32 __attribute__((vector_size(MC_LANES * sizeof(uint32_t))));
typedef double lanes_f64 __attribute__((vector_size(MC_LANES / 2 * sizeof(double))));
typedef uint64_t lanes_u64 __attribute__((vector_size(MC_LANES / 2 * sizeof(uint64_t))));
typedef uint32_t half_u32 __attribute__((vector_size(MC_LANES / 2 * sizeof(uint32_t))));
/* The sweep's vectors (lib/mc/sweep_body.h): a whole group, or half of one. */
typedef lanes_f32 f32x16;
typedef lanes_i32 i32x16;
typedef lanes_u32 u32x16;
typedef float f32x8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t i32x8 __attribute__((vector_size(8 * sizeof(int32_t))));
typedef uint32_t u32x8 __attribute__((vector_size(8 * sizeof(uint32_t))));
#define LANES_LO(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define LANES_HI(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)

/* One sweep of one group of lanes (lib/mc/sweep_body.h; the rules are
 * above sweep_rules below); state is the lanes' xoshiro128+ states,
 * (4, MC_LANES). */
typedef void sweep_fn(int per_lane, int64_t n, int degree, const int32_t *visit, const float *coupling, float field,
                      int heatbath, float *spins, const uint32_t *state, const float *beta);
/* E(s) of a group's lanes (lib/mc/sweep_body.h). */
typedef void energy_fn(int per_lane, int dim, int64_t n, const int32_t *neighbor, const double *coupling64,
                       double field, const float *spins, double *e);

struct mc_chain {
  spin_lattice lat;
  int replicas, groups, degree; /* lanes in use; degree = 2 dim neighbour slots per site */
  mc_algorithm algorithm;
  double field;
  int64_t sweeps;
  int32_t *neighbor;   /* (n, degree); a missing neighbour is the site itself ... */
  int per_lane;        /* couplings differ between lanes (several instances) */
  double *coupling64;  /* ... with coupling 0: (n, degree), or per lane
                          (groups, n, degree, MC_LANES); for exact energies */
  sweep_fn *sweep;     /* the sweep for this CPU, picked at creation */
  energy_fn *group_energy; /* ... and the energies */
  int32_t *visit;      /* (n, 1 + degree) the sweep's k-th site and its
                          neighbour slots, as byte offsets into a group's
                          spins (site * MC_LANES * 4 < 2^30) */
  float *coupling;     /* the couplings in float, in the sweep's order:
                          (n, degree) or (groups, n, degree, MC_LANES) */
  float *spins;        /* (groups, n, MC_LANES) +-1 */
  uint32_t *lane_key;  /* (groups, 2, MC_LANES) Philox key of (seed, MC_LANES | instance << 8) */
  uint32_t *lane_replica; /* (groups, MC_LANES) replica number of each lane */
  float *beta;         /* (groups, MC_LANES) */
  /* Observables computed on demand, at most once per sweep; const
   * observers fill them (the memory is not the const struct). */
  double *energy;        /* (groups, MC_LANES) E(s) */
  double *magnetization; /* (groups, MC_LANES) */
  int8_t *spin_cache;    /* (replicas, n) */
  int64_t *cache_sweep;  /* sweep at which each cache was filled: replicas'
                            spins, then groups' m, then groups' E */
};

static void *aligned_calloc(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if (p) memset(p, 0, bytes ? bytes : 64);
  return p;
}

#if MC_X86_BUILDS
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

static void kernels_pick(mc_chain *c);

core_status mc_chain_create_lanes(const spin_lattice *lat, int count, const double *const *J,
                                  const uint64_t *instance, const int *replica, double field, mc_algorithm algorithm,
                                  uint64_t seed, mc_chain **chain) {
  *chain = NULL;
  CORE_CHECK(count >= 0, CORE_ERR_ARG, "mc: %d chains", count);
  for (int r = 0; r < count; ++r) {
    CORE_CHECK(replica[r] >= 0 && replica[r] < (1 << 20), CORE_ERR_ARG, "mc: replica %d out of range", replica[r]);
    CORE_CHECK(instance[r] < ((uint64_t)1 << 48), CORE_ERR_ARG, "mc: instance index too large");
  }
  CORE_CHECK(algorithm == MC_METROPOLIS || algorithm == MC_HEATBATH, CORE_ERR_ARG, "mc: unknown algorithm %d",
             (int)algorithm);
  CORE_CHECK(lat->n_sites <= 1 << 24, CORE_ERR_ARG,
             "mc: %lld sites is too many for one chain (at most 2^24; split the lattice)", (long long)lat->n_sites);
  const int64_t n = lat->n_sites;
  mc_chain *c = calloc(1, sizeof *c);
  CORE_CHECK(c, CORE_ERR_MEM, "mc: cannot allocate a chain");
  c->lat = *lat;
  c->replicas = count;
  c->groups = (count + MC_LANES - 1) / MC_LANES;
  c->degree = 2 * lat->dim;
  c->algorithm = algorithm;
  c->field = field;
  for (int r = 1; r < count; ++r) c->per_lane |= J[r] != J[0];
  const size_t deg = (size_t)c->degree, lanes = (size_t)c->groups * MC_LANES;
  const size_t coupling_count = (size_t)n * deg * (c->per_lane ? lanes : 1);
  c->neighbor = malloc(sizeof(int32_t) * (size_t)n * deg);
  c->coupling = aligned_calloc(sizeof(float) * coupling_count);
  c->coupling64 = aligned_calloc(sizeof(double) * coupling_count);
  c->visit = malloc(sizeof(int32_t) * (size_t)n * (deg + 1));
  c->spins = aligned_calloc(sizeof(float) * (size_t)n * lanes);
  c->lane_replica = aligned_calloc(sizeof(uint32_t) * lanes);
  c->lane_key = aligned_calloc(sizeof(uint32_t) * 2 * lanes);
  c->beta = aligned_calloc(sizeof(float) * lanes);
  c->energy = calloc(lanes + 1, sizeof(double));
  c->magnetization = calloc(lanes + 1, sizeof(double));
  c->spin_cache = malloc((size_t)n * (size_t)(count > 0 ? count : 1));
  c->cache_sweep = malloc(sizeof(int64_t) * (size_t)(count + 2 * c->groups + 1));
  if (!c->neighbor || !c->coupling || !c->coupling64 || !c->visit || !c->spins || !c->lane_replica ||
      !c->lane_key || !c->beta || !c->energy || !c->magnetization || !c->spin_cache || !c->cache_sweep) {
    mc_chain_destroy(&c);
    return CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate %d chains of %lld sites", count, (long long)n);
  }
  for (int k = 0; k < count + 2 * c->groups; ++k) c->cache_sweep[k] = -1;
  for (int64_t i = 0; i < n; ++i)
    for (int dir = 0; dir < lat->dim; ++dir) {
      const int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
      c->neighbor[i * c->degree + 2 * dir] = (int32_t)(up >= 0 ? up : i);
      c->neighbor[i * c->degree + 2 * dir + 1] = (int32_t)(down >= 0 ? down : i);
    }
  /* Couplings of lane l (or of every lane) in neighbour-slot order. */
  for (int lane = 0; lane < (c->per_lane ? count : (count > 0)); ++lane) {
    const double *Jl = J[lane];
    const int64_t g = lane / MC_LANES, l = lane % MC_LANES;
    for (int64_t a = 0; a < n * c->degree; ++a) {
      const int64_t i = a / c->degree, dir = a % c->degree / 2;
      /* The + neighbour's bond is stored at i, the - neighbour's at it. */
      const int64_t owner = a % 2 ? c->neighbor[a] : i;
      const double j = c->neighbor[a] != i ? Jl[dir * n + owner] : 0.0;
      const int64_t at = c->per_lane ? (g * n * c->degree + a) * MC_LANES + l : a;
      c->coupling64[at] = j;
    }
  }
  /* Checkerboard needs an even L on a torus; otherwise plain order. The
   * k-th site visited gets row k of the visiting table and couplings. */
  int colours = lat->bc == SPIN_OPEN || lat->L % 2 == 0;
  int64_t k = 0;
  const int64_t bytes = MC_LANES * (int64_t)sizeof(float), groups = c->per_lane ? c->groups : (count > 0);
  for (int colour = 0; colour < (colours ? 2 : 1); ++colour)
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = i % lat->L, y = i / lat->L % lat->L, z = lat->dim == 3 ? i / ((int64_t)lat->L * lat->L) : 0;
      if (colours && (x + y + z) % 2 != colour) continue;
      int32_t *v = c->visit + k * (c->degree + 1);
      v[0] = (int32_t)(i * bytes);
      for (int a = 0; a < c->degree; ++a) v[1 + a] = (int32_t)(c->neighbor[i * c->degree + a] * bytes);
      for (int64_t g = 0; g < groups; ++g)
        for (int a = 0; a < c->degree; ++a)
          if (c->per_lane)
            for (int l = 0; l < MC_LANES; ++l)
              c->coupling[((g * n + k) * c->degree + a) * MC_LANES + l] =
                  (float)c->coupling64[((g * n + i) * c->degree + a) * MC_LANES + l];
          else
            c->coupling[k * c->degree + a] = (float)c->coupling64[i * c->degree + a];
      ++k;
    }
  for (int64_t lane = 0; lane < (int64_t)lanes; ++lane) {
    const int g = (int)(lane / MC_LANES), l = (int)(lane % MC_LANES);
    float *s = c->spins + (int64_t)g * n * MC_LANES + l;
    c->beta[lane] = 1.0f;
    if (lane >= count) { /* dummy lane: any stream, nothing reads it */
      c->lane_replica[lane] = (uint32_t)lane;
      for (int64_t i = 0; i < n; ++i) s[i * MC_LANES] = 1.0f;
      continue;
    }
    c->lane_replica[lane] = (uint32_t)replica[lane];
    core_rng init, moves; /* moves: only the key is used, the sweep makes the counters */
    core_rng_init(&moves, seed, CORE_PURPOSE_MC_LANES | instance[lane] << 8, 0);
    c->lane_key[(int64_t)g * 2 * MC_LANES + l] = moves.key[0];
    c->lane_key[(int64_t)g * 2 * MC_LANES + MC_LANES + l] = moves.key[1];
    core_rng_init(&init, seed, CORE_PURPOSE_INIT | instance[lane] << 8, (uint64_t)replica[lane]);
    for (int64_t i = 0; i < n; ++i) s[i * MC_LANES] = core_rng_u32(&init) & 1 ? 1.0f : -1.0f;
  }
  kernels_pick(c);
  *chain = c;
  return CORE_OK;
}

core_status mc_chain_create(const spin_lattice *lat, const double *J, double field, int first_replica,
                            int replicas, mc_algorithm algorithm, uint64_t seed, uint64_t instance,
                            mc_chain **chain) {
  *chain = NULL;
  CORE_CHECK(replicas >= 0 && first_replica >= 0 && first_replica + replicas < (1 << 20), CORE_ERR_ARG,
             "mc: replicas [%d, %d) out of range", first_replica, first_replica + replicas);
  const double **Js = malloc(sizeof *Js * (size_t)(replicas + 1));
  uint64_t *instances = malloc(sizeof *instances * (size_t)(replicas + 1));
  int *numbers = malloc(sizeof *numbers * (size_t)(replicas + 1));
  core_status st = Js && instances && numbers ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "mc: cannot allocate a chain");
  for (int r = 0; !st && r < replicas; ++r) Js[r] = J, instances[r] = instance, numbers[r] = first_replica + r;
  if (!st) st = mc_chain_create_lanes(lat, replicas, Js, instances, numbers, field, algorithm, seed, chain);
  free(Js), free(instances), free(numbers);
  return st;
}

void mc_chain_set_beta(mc_chain *chain, double beta) {
  for (int r = 0; r < chain->replicas; ++r) chain->beta[r] = (float)beta;
}

void mc_chain_set_replica_beta(mc_chain *chain, int replica, double beta) { chain->beta[replica] = (float)beta; }

void mc_chain_set_spins(mc_chain *chain, int replica, const int8_t *spins) {
  const int64_t n = chain->lat.n_sites;
  const int g = replica / MC_LANES, l = replica % MC_LANES;
  float *s = chain->spins + (int64_t)g * n * MC_LANES + l;
  for (int64_t i = 0; i < n; ++i) s[i * MC_LANES] = spins[i] > 0 ? 1.0f : -1.0f;
  chain->cache_sweep[replica] = chain->cache_sweep[chain->replicas + g] = -1;
  chain->cache_sweep[chain->replicas + chain->groups + g] = -1;
}

/* 32 x 32 -> 64-bit products of a constant and every lane: high and low
 * words, through two halves of 64-bit lanes. */
#define LANES_MULHILO(m, x, hi, lo)                                                                   \
  do {                                                                                                \
    const lanes_u64 p0_ = __builtin_convertvector(LANES_LO(x), lanes_u64) * (uint64_t)(m);             \
    const lanes_u64 p1_ = __builtin_convertvector(LANES_HI(x), lanes_u64) * (uint64_t)(m);             \
    const half_u32 h0_ = __builtin_convertvector(p0_ >> 32, half_u32), h1_ = __builtin_convertvector(p1_ >> 32, half_u32); \
    const half_u32 l0_ = __builtin_convertvector(p0_, half_u32), l1_ = __builtin_convertvector(p1_, half_u32); \
    (hi) = __builtin_shufflevector(h0_, h1_, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);     \
    (lo) = __builtin_shufflevector(l0_, l1_, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);     \
  } while (0)

/* This sweep's generator state of each lane of a group, (4, MC_LANES):
 * the first Philox4x32-10 block of the stream (seed, MC_LANES | instance
 * << 8, r << 40 | sweep), as core_rng_init lays it out (counter = 0, 0,
 * index low, index high), all lanes at once. */
TARGET_CLONES static void lane_states(const uint32_t *lane_key, const uint32_t *lane_replica, int64_t sweep,
                                      uint32_t *state) {
  lanes_u32 replica;
  memcpy(&replica, lane_replica, sizeof replica);
  const uint64_t index_low = (uint64_t)sweep & 0xffffffffu;
  lanes_u32 s0 = (lanes_u32){0}, s1 = (lanes_u32){0}, s2 = (lanes_u32){0} + (uint32_t)index_low,
            s3 = (replica << 8) | (uint32_t)((uint64_t)sweep >> 32);
  lanes_u32 k0, k1;
  memcpy(&k0, lane_key, sizeof k0), memcpy(&k1, lane_key + MC_LANES, sizeof k1);
  for (int round = 0; round < 10; ++round) {
    lanes_u32 hi0, lo0, hi1, lo1;
    LANES_MULHILO(0xD2511F53u, s0, hi0, lo0);
    LANES_MULHILO(0xCD9E8D57u, s2, hi1, lo1);
    s0 = hi1 ^ s1 ^ k0, s1 = lo1, s2 = hi0 ^ s3 ^ k1, s3 = lo0;
    k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
  }
  s0 |= ((s0 | s1 | s2 | s3) == 0) & 1; /* xoshiro's one forbidden state */
  memcpy(state, &s0, sizeof s0), memcpy(state + MC_LANES, &s1, sizeof s1);
  memcpy(state + 2 * MC_LANES, &s2, sizeof s2), memcpy(state + 3 * MC_LANES, &s3, sizeof s3);
}

/* sweep_rules: one sweep of one group visits every site in the order of
 * `visit`, all lanes at once. Per site, in float32 arithmetic:
 *   h = field + sum_a J_a s_a   (in slot order; J_a s_a is exact)
 *   c = beta fl(-2 log2 e)      (per lane, once per sweep)
 *   Metropolis: y = (s c) h = log2 exp(-beta dE) with dE = 2 s h, and
 *     flip if U < 2^24 P(y) (u < P(y));
 *   heat bath: y = c h = log2 exp(-2 beta h), and s = +1 if
 *     U (1 + P(y)) < 2^24 (u < 1 / (1 + exp(-2 beta h))), else -1;
 * both detailed balance for exp(-beta E). P(y) is 2^y for y clamped to
 * [-25, 25] (beyond, every decision is already certain: 2^24 2^-25 < 1 <= U,
 * 2^24 2^25 > U, 1 + 2^-25 rounds to 1 and U (1 + 2^25) > 2^24):
 *   k = y rounded to the nearest sixteenth (t = y + 1.5 2^19 has ulp 1/16;
 *     k = t - 1.5 2^19 and f = y - k are exact, |f| <= 1/32),
 *   P(y) = 2^floor(k) (T[16 (k - floor(k))] q(f)), T[j] = fl(2^(j/16)),
 *   q(f) = fma(fma(fma(f, C3, C2), f, C1), f, 1), the cubic of 2^f
 *   (truncation error below 1e-8),
 * where 2^24 is folded into the table for Metropolis (exact). P is within
 * 2.5e-7 of 2^y (tests/test_mc_kernel.c measures it). The uniform is
 * u = U 2^-24 with U = (x >> 9) << 1 | 1 = (x >> 8) | 1 an odd integer, x
 * the lane's next xoshiro128+ output; comparisons are scaled up by 2^24
 * instead, exactly (a power of 2 commutes with rounding).
 *
 * Why the builds agree bit for bit: the table index floor(16 k) mod 16 is
 * the low 4 bits of t's bits (t = 0x49400000 + 16 k as bits, and the low
 * 4 bits of 0x49400000 are 0), and floor(k) << 23 is (t >> 4) << 23 as
 * it stands (the low 9 bits of 0x49400000 >> 4 are 0), so adding it to
 * the exponent bits equals vscalefps while the result is normal (it is:
 * 2^-25 to 2^49). Fused multiply-adds are explicit (fmaf lane by lane in
 * the portable build) and nothing else is contracted (-ffp-contract=off);
 * h's products are exact, so fusing them changes nothing. */
#define SWEEP_MINUS_2_LOG2E (-0x1.715476p+1f)
#define SWEEP_EXP2_C1 0x1.62e430p-1f /* ln 2, ln^2 2 / 2, ln^3 2 / 6 */
#define SWEEP_EXP2_C2 0x1.ebfbe0p-3f
#define SWEEP_EXP2_C3 0x1.c6b08ep-5f
static const float sweep_exp2_table[16] __attribute__((aligned(64))) = {
    0x1.000000p+0f, 0x1.0b5586p+0f, 0x1.172b84p+0f, 0x1.2387a6p+0f, 0x1.306fe0p+0f, 0x1.3dea64p+0f,
    0x1.4bfdaep+0f, 0x1.5ab07ep+0f, 0x1.6a09e6p+0f, 0x1.7a1148p+0f, 0x1.8ace54p+0f, 0x1.9c4918p+0f,
    0x1.ae89fap+0f, 0x1.c199bep+0f, 0x1.d5818ep+0f, 0x1.ea4afap+0f};
static const float sweep_exp2_table_24[16] __attribute__((aligned(64))) = {
    0x1.000000p+24f, 0x1.0b5586p+24f, 0x1.172b84p+24f, 0x1.2387a6p+24f, 0x1.306fe0p+24f, 0x1.3dea64p+24f,
    0x1.4bfdaep+24f, 0x1.5ab07ep+24f, 0x1.6a09e6p+24f, 0x1.7a1148p+24f, 0x1.8ace54p+24f, 0x1.9c4918p+24f,
    0x1.ae89fap+24f, 0x1.c199bep+24f, 0x1.d5818ep+24f, 0x1.ea4afap+24f};

/* The sweep for each instruction set, from lib/mc/sweep_body.h: 16-lane
 * vectors are one AVX-512 register; AVX2 sweeps a group as two halves of
 * 8 lanes (16-lane vectors would be register pairs, and spill); the
 * portable build keeps 16 lanes and lets the compiler split them. */
/* The helpers pass vectors by value but are always inlined, so no call
 * ABI is involved (GCC reports this at the end of the file, hence no pop). */
#pragma GCC diagnostic ignored "-Wpsabi"
#define SWEEP_W 16
#define SWEEP_ISA 0
#define SWEEP_NAME(x) portable_##x
#define SWEEP_TARGET
#include "sweep_body.h"
#undef SWEEP_W
#undef SWEEP_ISA
#undef SWEEP_NAME
#undef SWEEP_TARGET
#if MC_X86_BUILDS
#define SWEEP_W 16
#define SWEEP_ISA 4
#define SWEEP_NAME(x) v4_##x
#define SWEEP_TARGET __attribute__((target("arch=x86-64-v4")))
#include "sweep_body.h"
#undef SWEEP_W
#undef SWEEP_ISA
#undef SWEEP_NAME
#undef SWEEP_TARGET
#define SWEEP_W 8
#define SWEEP_ISA 3
#define SWEEP_NAME(x) v3_##x
#define SWEEP_TARGET __attribute__((target("arch=x86-64-v3")))
#include "sweep_body.h"
#undef SWEEP_W
#undef SWEEP_ISA
#undef SWEEP_NAME
#undef SWEEP_TARGET
#endif

/* The best sweep this CPU runs. The environment variable ELOSS_MC_ISA=v3
 * or =baseline asks for a lower level, so that tests can check on one
 * machine that every build gives the same bits. */
static void kernels_pick(mc_chain *c) {
  c->sweep = portable_sweep, c->group_energy = portable_energy;
#if MC_X86_BUILDS
  const char *want = getenv("ELOSS_MC_ISA");
  const int level = want && strcmp(want, "baseline") == 0 ? 1 : want && strcmp(want, "v3") == 0 ? 3 : 4;
  __builtin_cpu_init();
  if (level >= 4 && __builtin_cpu_supports("x86-64-v4"))
    c->sweep = v4_sweep, c->group_energy = v4_energy;
  else if (level >= 3 && __builtin_cpu_supports("x86-64-v3"))
    c->sweep = v3_sweep, c->group_energy = v3_energy;
#endif
}

void mc_chain_sweep(mc_chain *chain) {
  const int64_t n = chain->lat.n_sites;
  const int64_t per_group = chain->per_lane ? n * chain->degree * MC_LANES : 0;
  uint32_t state[4 * MC_LANES] __attribute__((aligned(64)));
  for (int g = 0; g < chain->groups; ++g) {
    lane_states(chain->lane_key + g * 2 * MC_LANES, chain->lane_replica + g * MC_LANES, chain->sweeps, state);
    chain->sweep(chain->per_lane, n, chain->degree, chain->visit, chain->coupling + g * per_group,
                 (float)chain->field, chain->algorithm == MC_HEATBATH, chain->spins + (int64_t)g * n * MC_LANES,
                 state, chain->beta + g * MC_LANES);
  }
  chain->sweeps++;
}


int64_t mc_chain_sweeps(const mc_chain *chain) { return chain->sweeps; }

const int8_t *mc_chain_spins(const mc_chain *chain, int replica) {
  const int64_t n = chain->lat.n_sites;
  int8_t *out = chain->spin_cache + (int64_t)replica * n;
  if (chain->cache_sweep[replica] != chain->sweeps) {
    const float *s = chain->spins + (int64_t)(replica / MC_LANES) * n * MC_LANES + replica % MC_LANES;
    /* From the sign bit, without a branch: spins are random, so a
     * comparison would mispredict half the time (the cluster moves of
     * mc_tempering read spins every sweep). */
    for (int64_t i = 0; i < n; ++i) {
      uint32_t bits;
      memcpy(&bits, &s[i * MC_LANES], sizeof bits);
      out[i] = (int8_t)(1 - 2 * (int)(bits >> 31));
    }
    chain->cache_sweep[replica] = chain->sweeps;
  }
  return out;
}

double mc_chain_energy(const mc_chain *chain, int replica) {
  const int64_t n = chain->lat.n_sites;
  const int g = replica / MC_LANES;
  double *e = chain->energy + g * MC_LANES;
  int64_t *stamp = chain->cache_sweep + chain->replicas + chain->groups + g;
  if (*stamp != chain->sweeps) {
    const int64_t per_group = chain->per_lane ? n * chain->degree * MC_LANES : 0;
    chain->group_energy(chain->per_lane, chain->lat.dim, n, chain->neighbor, chain->coupling64 + g * per_group,
                        chain->field, chain->spins + (int64_t)g * n * MC_LANES, e);
    *stamp = chain->sweeps;
  }
  return e[replica % MC_LANES];
}

double mc_chain_magnetization(const mc_chain *chain, int replica) {
  const int64_t n = chain->lat.n_sites;
  const int g = replica / MC_LANES;
  double *m = chain->magnetization + g * MC_LANES;
  if (chain->cache_sweep[chain->replicas + g] != chain->sweeps) {
    const float *s = chain->spins + (int64_t)g * n * MC_LANES;
    double sum[MC_LANES] = {0};
    for (int64_t i = 0; i < n; ++i)
      for (int l = 0; l < MC_LANES; ++l) sum[l] += s[i * MC_LANES + l];
    for (int l = 0; l < MC_LANES; ++l) m[l] = (double)sum[l] / (double)n;
    chain->cache_sweep[chain->replicas + g] = chain->sweeps;
  }
  return m[replica % MC_LANES];
}

void mc_chain_destroy(mc_chain **chain) {
  if (!chain || !*chain) return;
  mc_chain *c = *chain;
  free(c->neighbor), free(c->coupling), free(c->coupling64), free(c->visit);
  free(c->spins), free(c->lane_replica), free(c->lane_key), free(c->beta), free(c->energy), free(c->magnetization);
  free(c->spin_cache), free(c->cache_sweep);
  free(c);
  *chain = NULL;
}
