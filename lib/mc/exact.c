/* Exact ground states of open square Edwards-Anderson lattices by a
 * min-plus transfer matrix.
 *
 * mc_exact_create(L, &ex) / mc_exact_destroy(&ex): workspace; local.
 * mc_exact_solve(ex, J, spins, &energy): local; see mc.h.
 *
 * Algorithm. Sites are added in row-major order. After site t = (r, c) the
 * state is the last L spins placed: bit k of the state holds the spin in
 * column k of row r for k <= c and of row r - 1 for k > c (bit 1 = +1).
 * Adding (r, c) replaces bit c, which held its upper neighbour (r-1, c),
 * and bit c-1 holds its left neighbour (r, c-1):
 *
 *   E_t(S') = min_u [ E_{t-1}(S' with bit c = u) - Jv u s ] - Jh l s,
 *
 * with s = bit c of S', l = bit c-1 of S', Jv the bond to (r-1, c) (zero in
 * row 0, where the replaced bits are free placeholders) and Jh the bond to
 * (r, c-1) (zero in column 0). The two states that differ only in bit c
 * feed each other, so the update is in place over pairs (S0, S1); within a
 * block of 2^c pairs the left spin l is constant over each half, which
 * keeps the inner loops branch-free and vectorisable. The chosen u of every
 * state and site is kept as one bit, and the ground state is read back from
 * the best final state. Ties go to u = 0, so the result is deterministic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

struct mc_exact {
  int L;
  int64_t states;   /* 2^L */
  double *energy;   /* (states) */
  uint8_t *choice;  /* (L * L, states / 8) bit per state: the u chosen */
  uint8_t *flags;   /* (states) scratch for one site's choices */
};

core_status mc_exact_create(int L, mc_exact **ex) {
  *ex = NULL;
  CORE_CHECK(L >= 2 && L <= MC_EXACT_MAX_L, CORE_ERR_ARG,
             "exact ground states: L = %d outside [2, %d] (the transfer matrix needs 2^L states; "
             "L = 20 needs about 60 MB and under a second per instance)", L, (int)MC_EXACT_MAX_L);
  mc_exact *e = calloc(1, sizeof *e);
  CORE_CHECK(e, CORE_ERR_MEM, "exact ground states: cannot allocate the workspace");
  e->L = L;
  e->states = (int64_t)1 << L;
  e->energy = malloc(sizeof(double) * (size_t)e->states);
  e->choice = malloc((size_t)L * L * (size_t)(e->states / 8 > 0 ? e->states / 8 : 1));
  e->flags = malloc((size_t)e->states);
  if (!e->energy || !e->choice || !e->flags) {
    mc_exact_destroy(&e);
    return CORE_ERROR(CORE_ERR_MEM, "exact ground states: cannot allocate %lld states for L = %d",
                      (long long)((int64_t)1 << L), L);
  }
  *ex = e;
  return CORE_OK;
}

void mc_exact_destroy(mc_exact **ex) {
  if (!ex || !*ex) return;
  free((*ex)->energy);
  free((*ex)->choice);
  free((*ex)->flags);
  free(*ex);
  *ex = NULL;
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

/* One site: pairs (S0, S1) = states with bit c = 0 / 1, left spin l fixed
 * over each half of a block. flag = 1 where u = 1 was chosen. */
TARGET_CLONES static void site_update(int64_t states, int c, double jv, double jh, double *restrict en,
                        uint8_t *restrict flag) {
  const int64_t m = (int64_t)1 << c;
  for (int64_t base = 0; base < states; base += 2 * m) {
    double *e0 = en + base, *e1 = en + base + m;
    uint8_t *f0 = flag + base, *f1 = flag + base + m;
    for (int half = 0; half < (c > 0 ? 2 : 1); ++half) {
      /* l = bit c-1: -1 on the first half of the block, +1 on the second. */
      const double l = c > 0 ? (half ? 1.0 : -1.0) : 0.0;
      const int64_t lo0 = c > 0 ? half * (m / 2) : 0, lo1 = c > 0 ? lo0 + m / 2 : 1;
      for (int64_t lo = lo0; lo < lo1; ++lo) {
        const double a = e0[lo], b = e1[lo];
        /* s = -1: u = -1 gives a - jv, u = +1 gives b + jv; s = +1 mirrored. */
        const double down0 = a - jv, down1 = b + jv, up0 = a + jv, up1 = b - jv;
        f0[lo] = down1 < down0;
        f1[lo] = up1 < up0;
        e0[lo] = (down1 < down0 ? down1 : down0) + jh * l;
        e1[lo] = (up1 < up0 ? up1 : up0) - jh * l;
      }
    }
  }
}

/* Eight 0/1 flags to one byte, state s at bit s % 8 of byte s / 8. */
TARGET_CLONES static void pack_bits(int64_t states, const uint8_t *restrict flags, uint8_t *restrict bits) {
  if (states < 8) {
    bits[0] = 0;
    for (int64_t s = 0; s < states; ++s) bits[0] |= (uint8_t)(flags[s] << s);
    return;
  }
  for (int64_t k = 0; k < states / 8; ++k) {
    const uint8_t *f = flags + 8 * k;
    bits[k] = (uint8_t)(f[0] | f[1] << 1 | f[2] << 2 | f[3] << 3 | f[4] << 4 | f[5] << 5 | f[6] << 6 | f[7] << 7);
  }
}

core_status mc_exact_solve(mc_exact *ex, const double *J, int8_t *spins, double *energy) {
  const int L = ex->L;
  const int64_t states = ex->states, n = (int64_t)L * L, bytes = states / 8 > 0 ? states / 8 : 1;
  for (int64_t k = 0; k < n; ++k)
    CORE_CHECK(isfinite(J[k]) && isfinite(J[n + k]), CORE_ERR_VALUE,
               "exact ground states: coupling of site %lld is not finite", (long long)k);
  memset(ex->energy, 0, sizeof(double) * (size_t)states);
  for (int r = 0; r < L; ++r)
    for (int c = 0; c < L; ++c) {
      const double jv = r > 0 ? J[n + (int64_t)(r - 1) * L + c] : 0.0;
      const double jh = c > 0 ? J[(int64_t)r * L + c - 1] : 0.0;
      site_update(states, c, jv, jh, ex->energy, ex->flags);
      pack_bits(states, ex->flags, ex->choice + ((int64_t)r * L + c) * bytes);
    }
  int64_t best = 0;
  for (int64_t s = 1; s < states; ++s)
    if (ex->energy[s] < ex->energy[best]) best = s;
  *energy = ex->energy[best];
  /* Walk back: the state after site (r, c) holds s(r, c) in bit c; the
   * state before it had bit c = the chosen u. */
  int64_t state = best;
  for (int64_t t = n - 1; t >= 0; --t) {
    const int c = (int)(t % L);
    spins[t] = (int8_t)((state >> c) & 1 ? 1 : -1);
    const uint8_t *bits = ex->choice + t * bytes;
    int64_t u = (bits[state >> 3] >> (state & 7)) & 1;
    state = (state & ~((int64_t)1 << c)) | (u << c);
  }
  if (spins[0] < 0)
    for (int64_t k = 0; k < n; ++k) spins[k] = (int8_t)-spins[k];
  return CORE_OK;
}
