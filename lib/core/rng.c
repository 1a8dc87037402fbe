/* Counter-based random streams (Philox4x32-10).
 *
 * core_rng_init(rng, seed, purpose, index): local; the stream is a pure
 *   function of its three arguments, so any rank can regenerate any
 *   structure's, instance's or replica's randomness alone.
 * core_philox4x32(key, ctr, out): one Philox4x32-10 block.
 * core_rng_u32/u64/uniform/below/normal: draws; local.
 *
 * Philox4x32-10 is the counter-based generator of Salmon, Moraes, Dror and
 * Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC'11): ten rounds of
 * two 32x32->64 multiplies with Weyl-sequence key schedule. It passes
 * BigCrush and costs a few ns per 4 words. The key is splitmix64 of
 * (seed, purpose); the counter is (draw number, index). */
#include "eloss/core.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void core_philox4x32(const uint32_t key[2], const uint32_t ctr[4], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
  uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
    uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = (uint32_t)p0;
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += PHILOX_W0;
    k1 += PHILOX_W1;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void core_rng_init(core_rng *rng, uint64_t seed, uint64_t purpose, uint64_t index) {
  uint64_t key = splitmix64(seed ^ splitmix64(purpose));
  rng->key[0] = (uint32_t)key;
  rng->key[1] = (uint32_t)(key >> 32);
  rng->ctr[0] = rng->ctr[1] = 0;
  rng->ctr[2] = (uint32_t)index;
  rng->ctr[3] = (uint32_t)(index >> 32);
  rng->used = 4;
}

void core_rng_seek(core_rng *rng, uint64_t word) {
  const uint64_t block = word / 4;
  rng->ctr[0] = (uint32_t)block;
  rng->ctr[1] = (uint32_t)(block >> 32);
  core_philox4x32(rng->key, rng->ctr, rng->buf);
  if (++rng->ctr[0] == 0) ++rng->ctr[1];
  rng->used = (int)(word % 4);
}

/* The next word, inlined into every draw below: core_rng_u32 is an
 * exported symbol, so calls to it inside the library went through the PLT
 * (four per normal: the denoise task draws 3N + 4 normals per example). */
static inline uint32_t next_word(core_rng *rng) {
  if (rng->used == 4) {
    core_philox4x32(rng->key, rng->ctr, rng->buf);
    if (++rng->ctr[0] == 0) ++rng->ctr[1];
    rng->used = 0;
  }
  return rng->buf[rng->used++];
}

static inline uint64_t next_u64(core_rng *rng) {
  uint64_t hi = next_word(rng);
  return (hi << 32) | next_word(rng);
}

static inline double next_uniform(core_rng *rng) { return (double)(next_u64(rng) >> 11) * 0x1.0p-53; }

uint32_t core_rng_u32(core_rng *rng) { return next_word(rng); }

uint64_t core_rng_u64(core_rng *rng) { return next_u64(rng); }

double core_rng_uniform(core_rng *rng) { return next_uniform(rng); }

uint64_t core_rng_below(core_rng *rng, uint64_t n) {
  /* Reject the top partial copy of [0, n) so every residue is equally likely. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = next_u64(rng);
  while (x >= limit);
  return x % n;
}

double core_rng_normal(core_rng *rng) {
  double u1 = 1.0 - next_uniform(rng); /* (0, 1]: log stays finite */
  double u2 = next_uniform(rng);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * CORE_PI * u2);
}

void core_rng_rotation(core_rng *rng, double R[9]) {
  double q[4], qq = 0;
  for (int k = 0; k < 4; ++k) q[k] = core_rng_normal(rng), qq += q[k] * q[k];
  const double qn = 1.0 / sqrt(qq), w = q[0] * qn, a = q[1] * qn, b = q[2] * qn, e = q[3] * qn;
  const double M[9] = {1 - 2 * (b * b + e * e), 2 * (a * b - w * e),     2 * (a * e + w * b),
                       2 * (a * b + w * e),     1 - 2 * (a * a + e * e), 2 * (b * e - w * a),
                       2 * (a * e - w * b),     2 * (b * e + w * a),     1 - 2 * (a * a + b * b)};
  for (int k = 0; k < 9; ++k) R[k] = M[k];
}
