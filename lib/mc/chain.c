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
 * is then ~48 vector instructions with no branch: the local field from
 * broadcast couplings (or per-lane coupling vectors when the lanes hold
 * different instances), the acceptance probability from a polynomial exp,
 * a xoshiro128+ draw, a compare and a sign flip. Lanes past the last
 * replica of the last group run a dummy chain that nothing reads.
 *
 * Arithmetic is float32 (couplings and beta are rounded to float once),
 * in a fixed order without contraction (C11 mode: -ffp-contract=off), so
 * the AVX-512, AVX2 and baseline sweeps (all three tested on one machine
 * through ELOSS_MC_ISA) and the scalar model in tests/test_mc_kernel.c give
 * the same bits. Energies are exact: computed on demand in double from the
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

enum { MC_LANES = 16 };

typedef float lanes_f32 __attribute__((vector_size(MC_LANES * sizeof(float))));
typedef int32_t lanes_i32 __attribute__((vector_size(MC_LANES * sizeof(int32_t))));
typedef uint32_t lanes_u32 __attribute__((vector_size(MC_LANES * sizeof(uint32_t))));
typedef double lanes_f64 __attribute__((vector_size(MC_LANES / 2 * sizeof(double))));
typedef uint64_t lanes_u64 __attribute__((vector_size(MC_LANES / 2 * sizeof(uint64_t))));
typedef uint32_t half_u32 __attribute__((vector_size(MC_LANES / 2 * sizeof(uint32_t))));
#define LANES_LO(v) __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7)
#define LANES_HI(v) __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15)

/* One sweep of one group of lanes (see sweep_group_body). */
typedef void sweep_fn(int64_t n, int degree, const int32_t *visit, const float *coupling, float field, int heatbath,
                      float *spins, const uint32_t *lane_key, const uint32_t *lane_replica, int64_t sweep,
                      const float *beta);

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
  sweep_fn *sweep;     /* the sweep for this CPU and layout, picked at the first sweep */
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

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

/* E(s) of every lane of a group, in double: each bond once, as the +
 * neighbour of its first site; s_i s_j = +-1 exactly in float. */
static inline __attribute__((always_inline)) void group_energy_body(
    const int per_lane, int64_t n, int dim, const int32_t *restrict neighbor, const double *restrict coupling64,
    double field, const float *restrict spins_, double *restrict e) {
  const lanes_f32 *spins = (const lanes_f32 *)spins_;
  lanes_f64 bonds_lo = {0}, bonds_hi = {0};
  lanes_f32 m = {0}; /* integer sums: exact below 2^24 sites */
  for (int64_t i = 0; i < n; ++i) {
    const lanes_f32 si = spins[i];
    for (int dir = 0; dir < dim; ++dir) {
      const int64_t a = i * 2 * dim + 2 * dir;
      const lanes_f32 ss = si * spins[neighbor[a]];
      if (per_lane) {
        lanes_f64 lo, hi;
        memcpy(&lo, coupling64 + a * MC_LANES, sizeof lo);
        memcpy(&hi, coupling64 + a * MC_LANES + MC_LANES / 2, sizeof hi);
        bonds_lo += lo * __builtin_convertvector(LANES_LO(ss), lanes_f64);
        bonds_hi += hi * __builtin_convertvector(LANES_HI(ss), lanes_f64);
      } else {
        bonds_lo += coupling64[a] * __builtin_convertvector(LANES_LO(ss), lanes_f64);
        bonds_hi += coupling64[a] * __builtin_convertvector(LANES_HI(ss), lanes_f64);
      }
    }
    m += si;
  }
  for (int l = 0; l < MC_LANES / 2; ++l) {
    e[l] = -bonds_lo[l] - field * (double)m[l];
    e[l + MC_LANES / 2] = -bonds_hi[l] - field * (double)m[l + MC_LANES / 2];
  }
}

TARGET_CLONES static void group_energy_shared(int64_t n, int dim, const int32_t *neighbor, const double *coupling64,
                                              double field, const float *spins, double *e) {
  group_energy_body(0, n, dim, neighbor, coupling64, field, spins, e);
}

TARGET_CLONES static void group_energy_lanes(int64_t n, int dim, const int32_t *neighbor, const double *coupling64,
                                             double field, const float *spins, double *e) {
  group_energy_body(1, n, dim, neighbor, coupling64, field, spins, e);
}

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

/* 2^scale exp(x) for x in [-86, 88] in float arithmetic: x = n ln2 + r
 * with |r| <= ln2 / 2 (n by the round-to-nearest magic constant 1.5 2^23,
 * ln2 in two parts so n ln2 is exact), e^r = 1 + r + r^2 P(r) with the
 * degree-5 minimax P of the Cephes expf (about 1 ulp), and n + scale added
 * to the exponent bits: for scale = 0 exp(x), exp(0) = 1 exactly; for
 * scale = 24 exactly 2^24 times that, as long as the result stays below
 * FLT_MAX (x <= 0: e^r is normal from 2^-126, so the product is exact).
 * The scale rides in the magic constant: t = x log2(e) + (1.5 2^23 +
 * scale) rounds exactly as without it (an even integer shift within the
 * binade of ulp 1), and t's bits are 0x4b400000 + n + scale, whose low 9
 * bits of 0x4b400000 are 0, so t << 23 is (n + scale) << 23 as it stands:
 * the model's (t - 0x4b400000) << 23 without the subtraction. */
#define LANES_EXP(x, scale, out)                                                                   \
  do {                                                                                             \
    const float magic_ = 12582912.0f + (float)(scale);                                             \
    const lanes_f32 t_ = (x) * 1.44269504088896341f + magic_;                                      \
    const lanes_f32 n_ = t_ - magic_;                                                              \
    lanes_f32 r_ = (x) - n_ * 0.693359375f;                                                         \
    r_ = r_ - n_ * -2.12194440e-4f;                                                                 \
    lanes_f32 p_ = 1.9875691500e-4f * r_ + 1.3981999507e-3f;                                        \
    p_ = p_ * r_ + 8.3334519073e-3f;                                                                \
    p_ = p_ * r_ + 4.1665795894e-2f;                                                                \
    p_ = p_ * r_ + 1.6666665459e-1f;                                                                \
    p_ = p_ * r_ + 5.0000001201e-1f;                                                                \
    p_ = (p_ * (r_ * r_) + r_) + 1.0f;                                                              \
    (out) = (lanes_f32)((lanes_u32)p_ + ((lanes_u32)t_ << 23));                                    \
  } while (0)

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

/* Bitwise select: mask lanes (all ones) take a, the others b. */
#define LANES_SELECT(mask, a, b) ((lanes_f32)(((lanes_i32)(a) & (mask)) | ((lanes_i32)(b) & ~(mask))))

/* x clamped to [-20, 20] without a comparison: GCC 12 turns comparisons
 * of 64-byte vectors into one scalar compare per lane when it compiles for
 * AVX2 or SSE2, so the AVX2 and baseline sweeps clamp with integer
 * arithmetic on the bits: |x| and 20 are non-negative floats, ordered as
 * their bits, d = |x| - 20 (as integers, no overflow) and
 * min = 20 + (d & (d >> 31)), then x's sign back. */
#define LANES_CLAMP20(x)                                                                              \
  do {                                                                                                \
    const lanes_i32 bits_ = (lanes_i32)(x), abs_ = bits_ & 0x7fffffff;                                \
    const lanes_i32 d_ = abs_ - 0x41a00000; /* 20.0f */                                               \
    (x) = (lanes_f32)(((d_ & (d_ >> 31)) + 0x41a00000) | (bits_ & (int32_t)0x80000000u));              \
  } while (0)

/* One sweep of one group: every site in the order of `visit`, all lanes
 * at once.
 * Metropolis: dE = 2 s h, flip if u < exp(min(-beta dE, 0)); heat bath:
 * s = +1 if u (1 + exp(-2 beta h)) < 1; h includes the field. Both satisfy
 * detailed balance for exp(-beta E). `degree` is 4 or 6; `no_field` (the
 * field is 0) drops the field from h.
 *
 * The vector code computes the documented expressions (the scalar model
 * of tests/test_mc_kernel.c) with fewer operations, taking the same
 * decisions bit for bit:
 *  - h starts from the first product instead of 0 + field when the field
 *    is 0: 0 + x = x except that -0 becomes +0, and a zero h gives
 *    exp(+-0) = 1 and the same flip either way.
 *  - Metropolis: -(beta ((2 s) h)) = ((-2 beta) s) h: the factors 2 s and
 *    -2 beta s are exact, so both round the same real number -2 beta s h
 *    (same sign of zero, too).
 *  - u = U 2^-24 with the odd integer U = (x >> 9) << 1 | 1 = (x >> 8) | 1;
 *    rather than scale U down, the comparisons scale up, exactly: u < p
 *    iff U < 2^24 p (the exp's exponent gets 24 more, p <= 1 is normal),
 *    and u (1 + p) < 1 iff U (1 + p) < 2^24 (a power of 2 commutes with
 *    rounding; when U (1 + p) overflows to inf, u (1 + p) > 1 too).
 *  - cmp_free (the AVX2 and baseline builds) clamps the exp's argument to
 *    [-20, 20] instead of the model's [-86, 0] (Metropolis) or [-86, 88]
 *    (heat bath), with the same decisions: inside [-20, 20] nothing
 *    changes; beyond, 2^24 e^-20 < 1 <= U (Metropolis: no flip either
 *    way), 2^24 e^20 > U (flip, as the model's clamp to 0 gives 2^24 > U),
 *    e^-20 < 2^-24 makes 1 + p round to 1 (heat bath: up either way) and
 *    U (1 + e^20) > 2^24 (down either way). */
static inline __attribute__((always_inline)) void sweep_group_body(
    const int per_lane, const int no_field, const int cmp_free, int64_t n, int degree, const int32_t *restrict visit,
    const float *restrict coupling, float field, int heatbath, float *restrict spins_, const uint32_t *restrict lane_key, const uint32_t *restrict lane_replica, int64_t sweep,
    const float *restrict beta) {
  char *const base = (char *)spins_;
#define SPIN_AT(offset) (*(lanes_f32 *)(base + (offset)))
  /* This sweep's generator state of each lane: the first Philox4x32-10
   * block of the stream (seed, MC_LANES | instance << 8, r << 40 | sweep),
   * as core_rng_init lays it out (counter = 0, 0, index low, index high),
   * all lanes at once. */
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
  lanes_f32 b;
  memcpy(&b, beta, sizeof b);
  const lanes_f32 minus_2b = -2.0f * b;
  const lanes_i32 sign = (lanes_i32){0} + (int32_t)0x80000000u;
  for (int64_t k = 0; k < n; ++k) {
    const int32_t *v = visit + k * (degree + 1), *nb = v + 1; /* site, neighbours */
    lanes_f32 h;
    if (per_lane) { /* a coupling vector per neighbour slot */
      const lanes_f32 *J = (const lanes_f32 *)coupling + k * degree;
      h = no_field ? J[0] * SPIN_AT(nb[0]) : ((lanes_f32){0} + field) + J[0] * SPIN_AT(nb[0]);
      for (int a = 1; a < degree; ++a) h = h + J[a] * SPIN_AT(nb[a]);
    } else { /* one coupling for every lane */
      const float *J = coupling + k * degree;
      h = no_field ? J[0] * SPIN_AT(nb[0]) : ((lanes_f32){0} + field) + J[0] * SPIN_AT(nb[0]);
      for (int a = 1; a < degree; ++a) h = h + J[a] * SPIN_AT(nb[a]);
    }
    /* xoshiro128+ step; the top 23 bits make U = 2^24 u, an odd integer. */
    const lanes_u32 x = s0 + s3, t = s1 << 9;
    s2 ^= s0, s3 ^= s1, s1 ^= s2, s0 ^= s3, s2 ^= t;
    s3 = (s3 << 11) | (s3 >> 21);
    const lanes_f32 U = __builtin_convertvector((lanes_i32)((x >> 8) | 1), lanes_f32);
    const lanes_f32 s = SPIN_AT(v[0]);
    if (!heatbath) {
      lanes_f32 arg = (s * minus_2b) * h, p; /* -beta dE */
      if (cmp_free) {
        LANES_CLAMP20(arg);
      } else {
        arg = LANES_SELECT(arg < 0.0f, arg, (lanes_f32){0});
        arg = LANES_SELECT(arg > -86.0f, arg, (lanes_f32){0} - 86.0f);
      }
      LANES_EXP(arg, 24, p); /* 2^24 exp(arg) */
      /* Flip if U < p: both are positive floats, ordered as their bits,
       * so the sign of the difference of the bits is the decision. */
      SPIN_AT(v[0]) = (lanes_f32)((lanes_i32)s ^ (((lanes_i32)U - (lanes_i32)p) & sign));
    } else {
      lanes_f32 arg = minus_2b * h, p;
      if (cmp_free) {
        LANES_CLAMP20(arg);
      } else {
        arg = LANES_SELECT(arg > -86.0f, arg, (lanes_f32){0} - 86.0f);
        arg = LANES_SELECT(arg < 88.0f, arg, (lanes_f32){0} + 88.0f);
      }
      LANES_EXP(arg, 0, p);
      /* s = +1 if U (1 + p) < 2^24 (positive, or +inf: compared as bits,
       * as above), else -1: the model's flip (up ^ (s > 0)) of s. */
      const lanes_i32 up = (lanes_i32)(U * (1.0f + p)) - (lanes_i32)((lanes_f32){0} + 16777216.0f);
      SPIN_AT(v[0]) = (lanes_f32)(((lanes_i32){0} + (int32_t)0x3f800000) | (~up & sign));
    }
  }
#undef SPIN_AT
}

/* The sweep for one instruction set: 16-lane vectors are one AVX-512
 * register, or two AVX2 / four SSE2 ones; the latter clamp without
 * comparisons (cmp_free, see LANES_CLAMP20), which is why these are
 * separate functions with a dispatch of our own rather than target
 * clones of one. */
#define SWEEP_VARIANT(NAME, PER_LANE, TARGET, CMP_FREE)                                                      \
  TARGET static void NAME(int64_t n, int degree, const int32_t *visit, const float *coupling, float field,    \
                          int heatbath, float *spins, const uint32_t *lane_key, const uint32_t *lane_replica,    \
                          int64_t sweep, const float *beta) {                                                \
    if (degree == 4 && field == 0.0f)                                                                         \
      sweep_group_body(PER_LANE, 1, CMP_FREE, n, 4, visit, coupling, field, heatbath, spins, lane_key,        \
                       lane_replica, sweep, beta);                                                            \
    else if (degree == 4)                                                                                     \
      sweep_group_body(PER_LANE, 0, CMP_FREE, n, 4, visit, coupling, field, heatbath, spins, lane_key,        \
                       lane_replica, sweep, beta);                                                            \
    else if (field == 0.0f)                                                                                   \
      sweep_group_body(PER_LANE, 1, CMP_FREE, n, 6, visit, coupling, field, heatbath, spins, lane_key,        \
                       lane_replica, sweep, beta);                                                            \
    else                                                                                                      \
      sweep_group_body(PER_LANE, 0, CMP_FREE, n, 6, visit, coupling, field, heatbath, spins, lane_key,        \
                       lane_replica, sweep, beta);                                                            \
  }
SWEEP_VARIANT(sweep_group_shared, 0, , 1)
SWEEP_VARIANT(sweep_group_lanes, 1, , 1)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define TARGET_V3 __attribute__((target("arch=x86-64-v3")))
SWEEP_VARIANT(sweep_group_shared_v4, 0, TARGET_V4, 0)
SWEEP_VARIANT(sweep_group_lanes_v4, 1, TARGET_V4, 0)
SWEEP_VARIANT(sweep_group_shared_v3, 0, TARGET_V3, 1)
SWEEP_VARIANT(sweep_group_lanes_v3, 1, TARGET_V3, 1)
#endif

/* The best sweep this CPU runs for the chain's coupling layout. The
 * environment variable ELOSS_MC_ISA=v3 or =baseline asks for a lower
 * level, so that tests can check on one machine that every build gives
 * the same bits. */
static sweep_fn *sweep_pick(int per_lane) {
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
  const char *want = getenv("ELOSS_MC_ISA");
  const int level = want && strcmp(want, "baseline") == 0 ? 1 : want && strcmp(want, "v3") == 0 ? 3 : 4;
  __builtin_cpu_init();
  if (level >= 4 && __builtin_cpu_supports("x86-64-v4")) return per_lane ? sweep_group_lanes_v4 : sweep_group_shared_v4;
  if (level >= 3 && __builtin_cpu_supports("x86-64-v3")) return per_lane ? sweep_group_lanes_v3 : sweep_group_shared_v3;
#endif
  return per_lane ? sweep_group_lanes : sweep_group_shared;
}
#undef SWEEP_VARIANT

void mc_chain_sweep(mc_chain *chain) {
  const int64_t n = chain->lat.n_sites;
  const int64_t per_group = chain->per_lane ? n * chain->degree * MC_LANES : 0;
  if (!chain->sweep) chain->sweep = sweep_pick(chain->per_lane);
  for (int g = 0; g < chain->groups; ++g)
    chain->sweep(
        n, chain->degree, chain->visit, chain->coupling + g * per_group, (float)chain->field,
        chain->algorithm == MC_HEATBATH, chain->spins + (int64_t)g * n * MC_LANES, chain->lane_key + g * 2 * MC_LANES,
        chain->lane_replica + g * MC_LANES, chain->sweeps, chain->beta + g * MC_LANES);
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
    (chain->per_lane ? group_energy_lanes : group_energy_shared)(n, chain->lat.dim, chain->neighbor,
                                                                 chain->coupling64 + g * per_group, chain->field,
                                                                 chain->spins + (int64_t)g * n * MC_LANES, e);
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
