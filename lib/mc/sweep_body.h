/* The Monte Carlo kernels of lib/mc/chain.c, a template it includes once
 * per instruction set: the sweep of SWEEP_W lanes of a group, and the
 * exact energies of a group's lanes (which tempering reads after every
 * sweep). The rules they implement, and why the shortcuts keep the bits of
 * the scalar model in tests/test_mc_kernel.c, are in chain.c's header and
 * above sweep_rules there; this file holds only the code. The includer
 * defines
 *   SWEEP_W        lanes per vector: 16, or 8 for AVX2 (a group of 16
 *                  lanes is then swept as two independent halves: the
 *                  lanes of a group never interact)
 *   SWEEP_ISA      4: AVX-512 (x86-64-v4); 3: AVX2 and FMA (x86-64-v3);
 *                  0: portable vector extensions
 *   SWEEP_NAME(x)  this instantiation's name for x
 *   SWEEP_TARGET   its target attribute (may be empty)
 * and the vector types f32x16, u32x16, i32x16, f32x8, u32x8, i32x8,
 * lanes_f32 and lanes_f64 (a group, and half of one in double). */

#if SWEEP_W == 16
#define VF f32x16
#define VU u32x16
#define VI i32x16
#else
#define VF f32x8
#define VU u32x8
#define VI i32x8
#endif
#define INLINE static inline __attribute__((always_inline)) SWEEP_TARGET

/* The exp table 2^(j/16) (times 2^24 for Metropolis) as the lookup wants
 * it: one register (AVX-512), two halves (AVX2), or memory. */
#if SWEEP_ISA == 4
typedef __m512 SWEEP_NAME(table);
INLINE SWEEP_NAME(table) SWEEP_NAME(table_load)(const float *t) { return _mm512_loadu_ps(t); }
#elif SWEEP_ISA == 3
typedef struct { __m256 lo, hi; } SWEEP_NAME(table);
INLINE SWEEP_NAME(table) SWEEP_NAME(table_load)(const float *t) {
  return (SWEEP_NAME(table)){_mm256_loadu_ps(t), _mm256_loadu_ps(t + 8)};
}
#else
typedef const float *SWEEP_NAME(table);
INLINE SWEEP_NAME(table) SWEEP_NAME(table_load)(const float *t) { return t; }
#endif

/* a b + c rounded once. */
INLINE VF SWEEP_NAME(fma)(VF a, VF b, VF c) {
#if SWEEP_ISA == 4
  return (VF)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#elif SWEEP_ISA == 3
  return (VF)_mm256_fmadd_ps((__m256)a, (__m256)b, (__m256)c);
#else
  VF r;
  for (int l = 0; l < SWEEP_W; ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return r;
#endif
}

/* x in every lane. A broadcast: (VF){0} + x costs an add besides (GCC
 * keeps it, as -0 + 0 = +0), and the intrinsic lets the AVX-512 FMA read x
 * from memory as an embedded broadcast. The sign of a zero coupling does
 * not reach any decision: it only signs a zero y. */
INLINE VF SWEEP_NAME(splat)(float x) {
#if SWEEP_ISA == 4
  return (VF)_mm512_set1_ps(x);
#elif SWEEP_ISA == 3
  return (VF)_mm256_set1_ps(x);
#else
  return (VF){0} + x;
#endif
}

/* h + J s for s = +-1: J s is exact, so fusing changes nothing; only the
 * builds with FMA fuse. */
INLINE VF SWEEP_NAME(add_product)(VF h, VF J, VF s) {
#if SWEEP_ISA == 0
  return h + J * s;
#else
  return SWEEP_NAME(fma)(J, s, h);
#endif
}

/* y clamped to [-25, 25]. The portable build clamps with integer
 * arithmetic on the bits, because GCC 12 turns comparisons of 64-byte
 * vectors into one scalar compare per lane when it compiles for SSE2: |y|
 * and 25 are non-negative floats, ordered as their bits, d = |y| - 25 (as
 * integers, no overflow) and min = 25 + (d & (d >> 31)), then y's sign
 * back. All three give the same bits, -0 included. */
INLINE VF SWEEP_NAME(clamp25)(VF y) {
#if SWEEP_ISA == 4
  /* vrangeps 0b0010: the smaller magnitude, with the sign of y */
  return (VF)_mm512_range_ps((__m512)y, _mm512_set1_ps(25.0f), 0x02);
#elif SWEEP_ISA == 3
  return (VF)_mm256_max_ps(_mm256_min_ps((__m256)y, _mm256_set1_ps(25.0f)), _mm256_set1_ps(-25.0f));
#else
  const VI bits = (VI)y, d = (bits & 0x7fffffff) - 0x41c80000; /* 25.0f */
  return (VF)(((d & (d >> 31)) + 0x41c80000) | (bits & (int32_t)0x80000000u));
#endif
}

/* table[j] where j is the low 4 bits of t's bits. */
INLINE VF SWEEP_NAME(lookup)(SWEEP_NAME(table) table, VF t) {
#if SWEEP_ISA == 4
  return (VF)_mm512_permutexvar_ps((__m512i)t, table);
#elif SWEEP_ISA == 3
  const __m256i j = (__m256i)t;
  const __m256 lo = _mm256_permutevar8x32_ps(table.lo, j), hi = _mm256_permutevar8x32_ps(table.hi, j);
  return (VF)_mm256_blendv_ps(lo, hi, (__m256)_mm256_slli_epi32(j, 28)); /* bit 3 of j picks the half */
#else
  VF r;
  for (int l = 0; l < SWEEP_W; ++l) r[l] = table[((VU)t)[l] & 15];
  return r;
#endif
}

/* p 2^floor(k) where k = t - 786432 is a multiple of 1/16 in [-25, 25]
 * and p 2^floor(k) is normal: vscalefps, or floor(k) added to the
 * exponent bits, which t's bits give as (t >> 4) << 23 (see sweep_rules
 * in chain.c). Equal bits. */
INLINE VF SWEEP_NAME(scale)(VF p, VF k, VF t) {
#if SWEEP_ISA == 4
  (void)t;
  return (VF)_mm512_scalef_ps((__m512)p, (__m512)k);
#else
  (void)k;
  return (VF)((VU)p + (((VU)t >> 4) << 23));
#endif
}

/* The sweep of SWEEP_W lanes; every pointer already points at the first
 * of them (spins at lane o of site 0: the visiting table's byte offsets
 * are site * MC_LANES * 4). per_lane, no_field, heatbath and degree are
 * constants at every call, so each combination compiles to its own loop. */
INLINE void SWEEP_NAME(body)(const int per_lane, const int no_field, const int heatbath, const int degree,
                             int64_t n, const int32_t *restrict visit, const float *restrict coupling,
                             float field, float *restrict spins, const uint32_t *restrict state,
                             const float *restrict beta, const float *restrict table16) {
  char *const base = (char *)spins;
#define SPIN_AT(offset) (*(VF *)(base + (offset)))
  VU s0, s1, s2, s3;
  memcpy(&s0, state, sizeof s0), memcpy(&s1, state + MC_LANES, sizeof s1);
  memcpy(&s2, state + 2 * MC_LANES, sizeof s2), memcpy(&s3, state + 3 * MC_LANES, sizeof s3);
  VF b;
  memcpy(&b, beta, sizeof b);
  const VF c = b * SWEEP_MINUS_2_LOG2E;
  const SWEEP_NAME(table) table = SWEEP_NAME(table_load)(table16);
  const VI sign = (VI){0} + (int32_t)0x80000000u;
  for (int64_t k = 0; k < n; ++k) {
    const int32_t *v = visit + k * (degree + 1), *nb = v + 1; /* site, neighbours */
    VF h;
    if (per_lane) { /* a coupling vector per neighbour slot */
      const float *J = coupling + k * degree * MC_LANES;
#define J_AT(a) (*(const VF *)(J + (a) * MC_LANES))
      h = no_field ? J_AT(0) * SPIN_AT(nb[0]) : SWEEP_NAME(add_product)((VF){0} + field, J_AT(0), SPIN_AT(nb[0]));
      for (int a = 1; a < degree; ++a) h = SWEEP_NAME(add_product)(h, J_AT(a), SPIN_AT(nb[a]));
#undef J_AT
    } else { /* one coupling for every lane */
      const float *J = coupling + k * degree;
      h = no_field ? J[0] * SPIN_AT(nb[0]) : SWEEP_NAME(add_product)((VF){0} + field, SWEEP_NAME(splat)(J[0]), SPIN_AT(nb[0]));
      for (int a = 1; a < degree; ++a) h = SWEEP_NAME(add_product)(h, SWEEP_NAME(splat)(J[a]), SPIN_AT(nb[a]));
    }
    /* xoshiro128+ step; the top 23 bits make U = 2^24 u, an odd integer. */
    const VU x = s0 + s3, t = s1 << 9;
    s2 ^= s0, s3 ^= s1, s1 ^= s2, s0 ^= s3, s2 ^= t;
    s3 = (s3 << 11) | (s3 >> 21);
    const VF U = __builtin_convertvector((VI)((x >> 8) | 1), VF);
    const VF s = SPIN_AT(v[0]);
    /* y = log2 of the acceptance (Metropolis) or of exp(-2 beta h) (heat
     * bath), clamped; p = 2^y (times 2^24 for Metropolis) from the table
     * entry of y's nearest sixteenth and a cubic for the rest. */
    const VF y = SWEEP_NAME(clamp25)(heatbath ? c * h : (s * c) * h);
    const VF ty = y + 786432.0f, ky = ty - 786432.0f, f = y - ky;
    VF q = SWEEP_NAME(fma)(f, (VF){0} + SWEEP_EXP2_C3, (VF){0} + SWEEP_EXP2_C2);
    q = SWEEP_NAME(fma)(q, f, (VF){0} + SWEEP_EXP2_C1);
    q = SWEEP_NAME(fma)(q, f, (VF){0} + 1.0f);
    const VF p = SWEEP_NAME(scale)(SWEEP_NAME(lookup)(table, ty) * q, ky, ty);
    if (!heatbath) {
      /* Flip if U < p: both are positive floats, ordered as their bits,
       * so the sign of the difference of the bits is the decision. */
      SPIN_AT(v[0]) = (VF)((VI)s ^ (((VI)U - (VI)p) & sign));
    } else {
      /* s = +1 if U (1 + p) < 2^24 (compared as bits, as above), else -1. */
      const VI up = (VI)(U * (1.0f + p)) - (VI)((VF){0} + 16777216.0f);
      SPIN_AT(v[0]) = (VF)(((VI){0} + (int32_t)0x3f800000) | (~up & sign));
    }
  }
#undef SPIN_AT
}

/* The sweep of one group, the combination picked at run time. */
SWEEP_TARGET static void SWEEP_NAME(sweep)(int per_lane, int64_t n, int degree, const int32_t *visit,
                                           const float *coupling, float field, int heatbath, float *spins,
                                           const uint32_t *state, const float *beta) {
  const float *table = heatbath ? sweep_exp2_table : sweep_exp2_table_24;
  for (int o = 0; o < MC_LANES; o += SWEEP_W) {
    const float *J = coupling + (per_lane ? o : 0);
#define CALL(PER_LANE, NO_FIELD, HEATBATH)                                                                    \
  (degree == 4 ? SWEEP_NAME(body)(PER_LANE, NO_FIELD, HEATBATH, 4, n, visit, J, field, spins + o, state + o, \
                                  beta + o, table)                                                           \
               : SWEEP_NAME(body)(PER_LANE, NO_FIELD, HEATBATH, 6, n, visit, J, field, spins + o, state + o, \
                                  beta + o, table))
    const int no_field = field == 0.0f;
    if (per_lane)
      no_field ? (heatbath ? CALL(1, 1, 1) : CALL(1, 1, 0)) : (heatbath ? CALL(1, 0, 1) : CALL(1, 0, 0));
    else
      no_field ? (heatbath ? CALL(0, 1, 1) : CALL(0, 1, 0)) : (heatbath ? CALL(0, 0, 1) : CALL(0, 0, 0));
#undef CALL
  }
}

/* The 16 floats of x as two halves of 8 doubles (exact). AVX-512 has one
 * instruction per half; GCC 12 widens a generic half 4 lanes at a time
 * with a shuffle around each. */
INLINE void SWEEP_NAME(widen)(lanes_f32 x, lanes_f64 *lo, lanes_f64 *hi) {
#if SWEEP_ISA == 4
  *lo = (lanes_f64)_mm512_cvtps_pd(_mm512_castps512_ps256((__m512)x));
  *hi = (lanes_f64)_mm512_cvtps_pd(_mm512_extractf32x8_ps((__m512)x, 1));
#else
  *lo = __builtin_convertvector(LANES_LO(x), lanes_f64);
  *hi = __builtin_convertvector(LANES_HI(x), lanes_f64);
#endif
}

/* acc + J ss with ss = +-1: the product is exact, so the fused form has
 * the same bits. */
INLINE lanes_f64 SWEEP_NAME(add_bond)(lanes_f64 acc, lanes_f64 J, lanes_f64 ss) {
#if SWEEP_ISA == 4
  return (lanes_f64)_mm512_fmadd_pd((__m512d)J, (__m512d)ss, (__m512d)acc);
#else
  return acc + J * ss;
#endif
}

/* E(s) of every lane of a group, in double: each bond once, as the +
 * neighbour of its first site; s_i s_j = +-1 exactly in float, so J s_i s_j
 * is exact and the builds agree. One sum per direction, added at the end:
 * a single sum would chain dim dependent adds per site, whose latency
 * would set the pace (tempering reads every energy after every sweep). */
INLINE void SWEEP_NAME(energy_body)(const int per_lane, const int dim, int64_t n, const int32_t *restrict neighbor,
                                    const double *restrict coupling64, double field, const float *restrict spins_,
                                    double *restrict e) {
  const lanes_f32 *spins = (const lanes_f32 *)spins_;
  lanes_f64 bonds_lo[3] = {{0}, {0}, {0}}, bonds_hi[3] = {{0}, {0}, {0}};
  lanes_f32 m = {0}; /* integer sums: exact below 2^24 sites */
  for (int64_t i = 0; i < n; ++i) {
    const lanes_f32 si = spins[i];
    for (int dir = 0; dir < dim; ++dir) {
      const int64_t a = i * 2 * dim + 2 * dir;
      lanes_f64 ss_lo, ss_hi;
      SWEEP_NAME(widen)(si * spins[neighbor[a]], &ss_lo, &ss_hi);
      if (per_lane) {
        lanes_f64 lo, hi;
        memcpy(&lo, coupling64 + a * MC_LANES, sizeof lo);
        memcpy(&hi, coupling64 + a * MC_LANES + MC_LANES / 2, sizeof hi);
        bonds_lo[dir] = SWEEP_NAME(add_bond)(bonds_lo[dir], lo, ss_lo);
        bonds_hi[dir] = SWEEP_NAME(add_bond)(bonds_hi[dir], hi, ss_hi);
      } else {
        const double j = coupling64[a];
        const lanes_f64 J = {j, j, j, j, j, j, j, j};
        bonds_lo[dir] = SWEEP_NAME(add_bond)(bonds_lo[dir], J, ss_lo);
        bonds_hi[dir] = SWEEP_NAME(add_bond)(bonds_hi[dir], J, ss_hi);
      }
    }
    m += si;
  }
  for (int dir = 1; dir < dim; ++dir) bonds_lo[0] += bonds_lo[dir], bonds_hi[0] += bonds_hi[dir];
  for (int l = 0; l < MC_LANES / 2; ++l) {
    e[l] = -bonds_lo[0][l] - field * (double)m[l];
    e[l + MC_LANES / 2] = -bonds_hi[0][l] - field * (double)m[l + MC_LANES / 2];
  }
}

#if SWEEP_ISA == 3
/* The same sums for AVX2, written out: GCC 12 compiles the generic body
 * above for AVX2 through the stack (its 64-byte vectors split into halves
 * and reassembled), 3.3 ns per site and lane against 0.2 with AVX-512
 * (bench/mc_bench, ELOSS_MC_ISA=v3). Each group of 16 lanes is four
 * quarters of 4 doubles, one sum per direction and quarter, added in the
 * same order as above: the same bits. */
INLINE void SWEEP_NAME(energy_body_avx2)(const int per_lane, const int dim, int64_t n, const int32_t *restrict neighbor,
                                         const double *restrict coupling64, double field, const float *restrict spins,
                                         double *restrict e) {
  __m256d acc[3][4];
  for (int dir = 0; dir < 3; ++dir)
    for (int q = 0; q < 4; ++q) acc[dir][q] = _mm256_setzero_pd();
  __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps(); /* integer sums: exact below 2^24 sites */
  for (int64_t i = 0; i < n; ++i) {
    const float *si = spins + i * MC_LANES;
    const __m256 s0 = _mm256_loadu_ps(si), s1 = _mm256_loadu_ps(si + 8);
    m0 = _mm256_add_ps(m0, s0), m1 = _mm256_add_ps(m1, s1);
    for (int dir = 0; dir < dim; ++dir) {
      const int64_t a = i * 2 * dim + 2 * dir;
      const float *sj = spins + (int64_t)neighbor[a] * MC_LANES;
      const __m256 p0 = _mm256_mul_ps(s0, _mm256_loadu_ps(sj)), p1 = _mm256_mul_ps(s1, _mm256_loadu_ps(sj + 8));
      const __m256d ss[4] = {_mm256_cvtps_pd(_mm256_castps256_ps128(p0)), _mm256_cvtps_pd(_mm256_extractf128_ps(p0, 1)),
                             _mm256_cvtps_pd(_mm256_castps256_ps128(p1)), _mm256_cvtps_pd(_mm256_extractf128_ps(p1, 1))};
      for (int q = 0; q < 4; ++q) {
        const __m256d J = per_lane ? _mm256_loadu_pd(coupling64 + a * MC_LANES + 4 * q) : _mm256_set1_pd(coupling64[a]);
        acc[dir][q] = _mm256_fmadd_pd(J, ss[q], acc[dir][q]);
      }
    }
  }
  double bonds[MC_LANES];
  for (int q = 0; q < 4; ++q) {
    __m256d sum = acc[0][q];
    for (int dir = 1; dir < dim; ++dir) sum = _mm256_add_pd(sum, acc[dir][q]);
    _mm256_storeu_pd(bonds + 4 * q, sum);
  }
  float m[MC_LANES];
  _mm256_storeu_ps(m, m0), _mm256_storeu_ps(m + 8, m1);
  for (int l = 0; l < MC_LANES; ++l) e[l] = -bonds[l] - field * (double)m[l];
}
#define SWEEP_ENERGY_BODY SWEEP_NAME(energy_body_avx2)
#else
#define SWEEP_ENERGY_BODY SWEEP_NAME(energy_body)
#endif

SWEEP_TARGET static void SWEEP_NAME(energy)(int per_lane, int dim, int64_t n, const int32_t *neighbor,
                                            const double *coupling64, double field, const float *spins, double *e) {
  if (per_lane)
    dim == 2 ? SWEEP_ENERGY_BODY(1, 2, n, neighbor, coupling64, field, spins, e)
             : SWEEP_ENERGY_BODY(1, 3, n, neighbor, coupling64, field, spins, e);
  else
    dim == 2 ? SWEEP_ENERGY_BODY(0, 2, n, neighbor, coupling64, field, spins, e)
             : SWEEP_ENERGY_BODY(0, 3, n, neighbor, coupling64, field, spins, e);
}
#undef SWEEP_ENERGY_BODY

#undef VF
#undef VU
#undef VI
#undef INLINE
