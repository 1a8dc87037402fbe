/* TAP test of the spin losses of lib/spin/loss.c (docs/spinloss.md), on
 * one process:
 * - gradients against central differences for every loss x open/periodic x
 *   flip_invariant on/off (hinge kinks skipped on purpose, step per loss),
 *   and a deliberately corrupted gradient that the checker must catch;
 * - float32 = float64; a refused batch leaves the gradient untouched;
 * - invariants: `true` is even in z; flip_invariant ce/margin take the same
 *   value for y and -y, the min of the two plain losses; stable values at
 *   |z| = 700; the entropy at z = 0 is n log 2 (a known answer);
 * - App. C.3 under our reading of Eq. 15-16: for h0 > 4, every w_i > 0 and
 *   y minimises E_LF(m) = -sum_i w_i y_i m_i over [-1, 1]^n, for random y
 *   and J; for h0 > 0 the same holds when y is a ground state (brute force
 *   over all 2^16 states of 4 x 4 lattices), and fails for random y with
 *   h0 = 0 (the bound matters); with the entropy, the loss along z = a y
 *   decreases for a < 2 min w / T and its unique minimiser is
 *   z_i = 2 w_i y_i / T, of the sign of y;
 * - the data-parallel contract (a split batch, scaled by B_local / B, sums
 *   to the whole); the time of one execute on B = 256 16 x 16 is printed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/spin.h"
#include "tap.h"

enum { B = 3, L = 4, N = L * L, MAXN = 36 };

static core_rng rng;
static double gradient_corruption = 1.0;

static double uniform(double lo, double hi) { return lo + (hi - lo) * core_rng_uniform(&rng); }

static void random_target(int64_t count, int8_t *y) {
  for (int64_t i = 0; i < count; ++i) y[i] = core_rng_u32(&rng) & 1 ? 1 : -1;
}

static void random_couplings(const spin_lattice *lat, int64_t batch, uint64_t seed, double *J) {
  for (int64_t b = 0; b < batch; ++b)
    spin_couplings_generate(lat, SPIN_COUPLING_UNIFORM, seed, (uint64_t)b, J + b * spin_lattice_bond_slots(lat));
}

static core_status eval(const spin_lattice *lat, const spin_loss_options *opt, int64_t batch, const double *J,
                        const double *z, const int8_t *y, double *loss, double *grad) {
  spin_loss_plan *plan;
  CORE_CALL(spin_loss_plan_create(lat, opt, &plan));
  core_status st = spin_loss_execute(plan, batch, J, z, y, loss, grad);
  spin_loss_plan_destroy(&plan);
  return st;
}

/* The hinge's kinks (y z = 1, and y z = -1 for the flipped target) are
 * avoided by a distance of 100 steps: a central difference across one
 * measures the average of two slopes, not the gradient. */
static int near_kink(const spin_loss_options *opt, double yz, double h) {
  if (opt->kind != SPIN_LOSS_MARGIN) return 0;
  return fabs(yz - 1) < 100 * h || (opt->flip_invariant && fabs(yz + 1) < 100 * h);
}

/* max |analytic - central difference| / max |analytic| over the batch. */
static double gradient_error(const spin_lattice *lat, const spin_loss_options *opt, const double *J,
                             const double *z0, const int8_t *y, int *skipped) {
  const int64_t n = lat->n_sites, count = B * n;
  double g[B * MAXN], z[B * MAXN], loss, lp, lm;
  /* Steps: the local loss is scaled by 1/T = 10 and curves faster. */
  const double h = opt->kind == SPIN_LOSS_LOCAL ? 1e-6 : 1e-5;
  if (eval(lat, opt, B, J, z0, y, &loss, g)) return INFINITY;
  for (int64_t a = 0; a < count; ++a) g[a] *= gradient_corruption;
  memcpy(z, z0, sizeof(double) * (size_t)count);
  double worst = 0, gmax = 0;
  *skipped = 0;
  for (int64_t a = 0; a < count; ++a) {
    if (near_kink(opt, y[a] * z0[a], h)) {
      ++*skipped;
      continue;
    }
    z[a] = z0[a] + h;
    eval(lat, opt, B, J, z, y, &lp, NULL);
    z[a] = z0[a] - h;
    eval(lat, opt, B, J, z, y, &lm, NULL);
    z[a] = z0[a];
    double fd = (lp - lm) / (2 * h);
    if (fabs(fd - g[a]) > worst) worst = fabs(fd - g[a]);
    if (fabs(g[a]) > gmax) gmax = fabs(g[a]);
  }
  return gmax > 0 ? worst / gmax : INFINITY;
}

/* Logits of instance b leaning towards sign_b y with noise: odd instances
 * lean towards -y, so flip_invariant takes both branches in one batch. */
static void leaning_logits(const int8_t *y, double *z) {
  for (int b = 0; b < B; ++b)
    for (int i = 0; i < N; ++i) z[b * N + i] = (b & 1 ? -1 : 1) * y[b * N + i] * uniform(-0.8, 2.385);
}

static void test_gradients(void) {
  for (int bc = 0; bc < 2; ++bc) {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, (spin_boundary)bc, L);
    double J[B * 2 * N], z[B * N];
    int8_t y[B * N];
    random_couplings(&lat, B, 2385 + bc, J);
    random_target(B * N, y);
    leaning_logits(y, z);
    /* Two logits exactly on a hinge kink (y z = 1 and, flipped, y z = -1):
     * skipped by the check, and the subgradient 0 is used there. */
    z[5] = y[5];
    z[N + 7] = -y[N + 7];
    for (int kind = 0; kind < SPIN_LOSS_COUNT; ++kind)
      for (int flip = 0; flip < 2; ++flip) {
        if (flip && kind != SPIN_LOSS_CE && kind != SPIN_LOSS_MARGIN) continue;
        spin_loss_options opt;
        spin_loss_options_default(&opt);
        opt.kind = (spin_loss_kind)kind;
        opt.flip_invariant = flip;
        int skipped;
        double err = gradient_error(&lat, &opt, J, z, y, &skipped);
        tap_ok(err < 1e-6, "%s%s, %s 4x4, B = 3: gradient = central differences (rel err %.2e, %d kink sites skipped)",
               spin_loss_names[kind], flip ? " -flip_invariant" : "", spin_boundary_names[bc], err, skipped);
      }
  }
  /* The checker bites: a gradient 0.1 % off is caught. */
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[B * 2 * N], z[B * N];
  int8_t y[B * N];
  random_couplings(&lat, B, 7, J);
  random_target(B * N, y);
  leaning_logits(y, z);
  spin_loss_options opt;
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_LOCAL;
  gradient_corruption = 1.001;
  int skipped;
  double err = gradient_error(&lat, &opt, J, z, y, &skipped);
  gradient_corruption = 1.0;
  tap_ok(err > 1e-4, "a gradient scaled by 1.001 is caught (rel err %.2e > 1e-4)", err);
}

static void test_f32_and_refusals(void) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, L);
  double J[B * 2 * N], z[B * N], g[B * N];
  float zf[B * N], gf[B * N];
  int8_t y[B * N];
  random_couplings(&lat, B, 11, J);
  random_target(B * N, y);
  leaning_logits(y, z);
  for (int i = 0; i < B * N; ++i) z[i] = zf[i] = (float)z[i];
  int all = 1;
  double worst = 0;
  for (int kind = 0; kind < SPIN_LOSS_COUNT; ++kind) {
    spin_loss_options opt;
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)kind;
    spin_loss_plan *plan;
    double l64, l32;
    all &= !spin_loss_plan_create(&lat, &opt, &plan);
    all &= !spin_loss_execute(plan, B, J, z, y, &l64, g);
    all &= !spin_loss_execute_f32(plan, B, J, zf, y, &l32, gf);
    spin_loss_plan_destroy(&plan);
    all &= l32 == l64; /* the same double arithmetic on the same values */
    for (int i = 0; i < B * N; ++i) {
      double rel = fabs(gf[i] - g[i]) / fmax(fabs(g[i]), 1e-30);
      if (g[i] != 0 && rel > worst) worst = rel;
    }
  }
  tap_ok(all && worst < 1e-7, "float32 logits: loss bit-identical to float64 on the same values, gradient within "
         "float rounding (worst rel %.1e)", worst);

  spin_loss_options opt;
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_LOCAL;
  opt.flip_invariant = 1;
  spin_loss_plan *plan = NULL;
  core_status st = spin_loss_plan_create(&lat, &opt, &plan);
  tap_ok(st == CORE_ERR_UNSUPPORTED && !plan && strstr(core_error_message(), "flip_invariant"),
         "flip_invariant with local refused: %s", core_error_message());
  opt.kind = SPIN_LOSS_TRUE;
  st = spin_loss_plan_create(&lat, &opt, &plan);
  tap_ok(st == CORE_ERR_UNSUPPORTED && !plan, "flip_invariant with true refused");
  opt.flip_invariant = 0;
  opt.kind = SPIN_LOSS_LOCAL;
  opt.T = 0;
  st = spin_loss_plan_create(&lat, &opt, &plan);
  tap_ok(st == CORE_ERR_ARG && !plan, "local with T = 0 refused: %s", core_error_message());

  /* A bad target or logit: CORE_ERR_VALUE and the gradient untouched. */
  spin_loss_options_default(&opt);
  spin_loss_plan_create(&lat, &opt, &plan);
  for (int i = 0; i < B * N; ++i) g[i] = 2.385;
  double loss;
  y[N + 5] = 0;
  core_status st1 = spin_loss_execute(plan, B, J, z, y, &loss, g);
  y[N + 5] = 1;
  z[2 * N + 1] = NAN;
  core_status st2 = spin_loss_execute(plan, B, J, z, y, &loss, g);
  int untouched = 1;
  for (int i = 0; i < B * N; ++i) untouched &= g[i] == 2.385;
  tap_ok(st1 == CORE_ERR_VALUE && st2 == CORE_ERR_VALUE && untouched,
         "target 0 and a NaN logit refused, gradient untouched (%s)", core_error_message());
  spin_loss_plan_destroy(&plan);
  spin_loss_plan_destroy(&plan); /* NULL handle: no-op */
}

static void test_invariants(void) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[B * 2 * N], z[B * N], zm[B * N], g[B * N], gm[B * N];
  int8_t y[B * N], ym[B * N];
  random_couplings(&lat, B, 13, J);
  random_target(B * N, y);
  leaning_logits(y, z);
  for (int i = 0; i < B * N; ++i) zm[i] = -z[i], ym[i] = (int8_t)-y[i];
  spin_loss_options opt;
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_TRUE;
  double l, lm;
  eval(&lat, &opt, B, J, z, NULL, &l, g);
  eval(&lat, &opt, B, J, zm, NULL, &lm, gm);
  double odd = 0;
  for (int i = 0; i < B * N; ++i) odd = fmax(odd, fabs(g[i] + gm[i]));
  tap_ok(fabs(l - lm) <= 1e-14 * fabs(l) && odd <= 1e-15,
         "true: L(-z) = L(z) (%.17g vs %.17g), gradient odd (max |g(z) + g(-z)| = %.1e)", l, lm, odd);

  for (int kind = SPIN_LOSS_CE; kind <= SPIN_LOSS_MARGIN; ++kind) {
    double plain, plain_m, fl, fl_m;
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)kind;
    eval(&lat, &opt, B, J, z, y, &plain, NULL);
    eval(&lat, &opt, B, J, z, ym, &plain_m, NULL);
    opt.flip_invariant = 1;
    eval(&lat, &opt, B, J, z, y, &fl, NULL);
    eval(&lat, &opt, B, J, z, ym, &fl_m, NULL);
    /* Per instance min; check on the batch: flip <= both plain ones and
     * the instances one at a time. */
    double per_min = 0;
    for (int b = 0; b < B; ++b) {
      double a, c;
      opt.flip_invariant = 0;
      eval(&lat, &opt, 1, J, z + b * N, y + b * N, &a, NULL);
      eval(&lat, &opt, 1, J, z + b * N, ym + b * N, &c, NULL);
      per_min += fmin(a, c) / B;
    }
    tap_ok(fl == fl_m && fabs(fl - per_min) <= 1e-15 * per_min && fl < plain && fl < plain_m,
           "%s -flip_invariant: L(y) = L(-y) = %.6g = mean of per-instance min (plain %.6g, %.6g)",
           spin_loss_names[kind], fl, plain, plain_m);
  }

  /* |z| = 700: finite everywhere; ce of a confident right answer ~ e^-700,
   * of a confident wrong one exactly 700. */
  double zb[N], gb[N];
  int8_t yb[N];
  for (int i = 0; i < N; ++i) yb[i] = 1, zb[i] = 700;
  int finite = 1;
  double ce_right, ce_wrong;
  for (int kind = 0; kind < SPIN_LOSS_COUNT; ++kind) {
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)kind;
    for (int s = -1; s <= 1; s += 2) {
      for (int i = 0; i < N; ++i) zb[i] = s * 700.0 * (i & 1 ? 1 : -1);
      double v;
      finite &= !eval(&lat, &opt, 1, J, zb, yb, &v, gb) && isfinite(v);
      for (int i = 0; i < N; ++i) finite &= isfinite(gb[i]);
    }
  }
  spin_loss_options_default(&opt);
  for (int i = 0; i < N; ++i) zb[i] = 700;
  eval(&lat, &opt, 1, J, zb, yb, &ce_right, NULL);
  for (int i = 0; i < N; ++i) zb[i] = -700;
  eval(&lat, &opt, 1, J, zb, yb, &ce_wrong, NULL);
  tap_ok(finite && ce_right > 0 && ce_right < 1e-300 && ce_wrong == 700,
         "|z| = 700: every loss and gradient finite; ce = %.3g (right), %.17g (wrong)", ce_right, ce_wrong);

  /* Known answer: with J = 0 the true loss is -T S and at z = 0 each site
   * has entropy log 2, so the loss is -T n log 2. Far out, z = 40 gives
   * H = sigma(40) e^-40 + ... ~ 41 e^-40 (series of the definition). */
  double J0[2 * N] = {0};
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_TRUE;
  for (int i = 0; i < N; ++i) zb[i] = 0;
  double v;
  eval(&lat, &opt, 1, J0, zb, NULL, &v, NULL);
  tap_close(v, -0.1 * N * log(2.0), 1e-15, "true, J = 0, z = 0: loss = -T n log 2");
  for (int i = 0; i < N; ++i) zb[i] = 40;
  eval(&lat, &opt, 1, J0, zb, NULL, &v, NULL);
  /* H(p) = -p log p - q log q with q = e^-40/(1+e^-40): -q log q = q (40 + log(1+e^-40)), -p log p = p log1p(e^-40). */
  double q = exp(-40.0) / (1 + exp(-40.0)), p = 1 - q;
  double H = q * (40 + log1p(exp(-40.0))) + p * log1p(exp(-40.0));
  tap_close(v, -0.1 * N * H, 1e-14, "true, J = 0, z = 40: entropy without cancellation (41 e^-40 per site)");
}

/* w_i = y_i h_i(y) + h0, from lib/spin's spin_local_fields. */
static double weights(const spin_lattice *lat, const double *J, const int8_t *y, double h0, double *w) {
  double h[MAXN], wmin = INFINITY;
  spin_local_fields(lat, J, y, h);
  for (int64_t i = 0; i < lat->n_sites; ++i) w[i] = y[i] * h[i] + h0, wmin = fmin(wmin, w[i]);
  return wmin;
}

/* E_LF(m) = -sum_i w_i y_i m_i (the T -> 0 limit of T L_LF). */
static double e_lf(int64_t n, const double *w, const int8_t *y, const double *m) {
  double e = 0;
  for (int64_t i = 0; i < n; ++i) e -= w[i] * y[i] * m[i];
  return e;
}

/* y minimises E_LF over [-1, 1]^n: E_LF(y) < E_LF(m) for 2000 random m and
 * for each single-site move of y into the box. Returns the smallest gap. */
static double minimiser_gap(int64_t n, const double *w, const int8_t *y) {
  double my[MAXN], m[MAXN];
  for (int64_t i = 0; i < n; ++i) my[i] = y[i];
  const double ey = e_lf(n, w, y, my);
  double gap = INFINITY;
  for (int t = 0; t < 2000; ++t) {
    for (int64_t i = 0; i < n; ++i) m[i] = uniform(-1, 1);
    gap = fmin(gap, e_lf(n, w, y, m) - ey);
  }
  for (int64_t i = 0; i < n; ++i) {
    memcpy(m, my, sizeof(double) * (size_t)n);
    m[i] = y[i] * uniform(-1, 0.99);
    gap = fmin(gap, e_lf(n, w, y, m) - ey);
  }
  return gap;
}

static void test_c3(void) {
  const int L6 = 6, n6 = L6 * L6;
  for (int bc = 0; bc < 2; ++bc) {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, (spin_boundary)bc, L6);
    double J[2 * MAXN], w[MAXN], wmin = INFINITY, gap = INFINITY, wmin0 = INFINITY;
    int8_t y[MAXN];
    for (int t = 0; t < 20; ++t) {
      random_target(n6, y);
      /* Extreme couplings |J| = 1 (the bound's worst case) in half the trials. */
      spin_couplings_generate(&lat, t & 1 ? SPIN_COUPLING_PM : SPIN_COUPLING_UNIFORM, 99, (uint64_t)t, J);
      wmin = fmin(wmin, weights(&lat, J, y, 4.001, w));
      gap = fmin(gap, minimiser_gap(n6, w, y));
      wmin0 = fmin(wmin0, weights(&lat, J, y, 0.0, w));
    }
    tap_ok(wmin > 0 && gap > 0,
           "C.3, %s 6x6, h0 = 4.001, 20 random (y, J) incl. +-1 couplings: every w_i > 0 (min %.3g) and y "
           "minimises E_LF over [-1,1]^n (smallest gap %.3g)", spin_boundary_names[bc], wmin, gap);
    tap_ok(wmin0 < 0, "... and the bound matters: with h0 = 0 some w_i < 0 for random y (min %.3g), so y is not "
           "the minimiser", wmin0);
  }

  /* Ground states by brute force over the 2^16 states of 4 x 4. */
  for (int bc = 0; bc < 2; ++bc) {
    spin_lattice lat;
    spin_lattice_init(&lat, SPIN_SQUARE, (spin_boundary)bc, L);
    double wmin = INFINITY, gap = INFINITY, yh_min = INFINITY;
    for (int t = 0; t < 5; ++t) {
      double J[2 * N], w[N], best = INFINITY;
      int8_t s[N], y[N];
      spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 4242 + bc, (uint64_t)t, J);
      for (uint32_t c = 0; c < 1u << N; ++c) {
        for (int i = 0; i < N; ++i) s[i] = c >> i & 1 ? 1 : -1;
        double e = spin_energy(&lat, J, 0.0, s);
        if (e < best) best = e, memcpy(y, s, N);
      }
      yh_min = fmin(yh_min, weights(&lat, J, y, 0.0, w));
      wmin = fmin(wmin, weights(&lat, J, y, 0.01, w));
      gap = fmin(gap, minimiser_gap(N, w, y));
    }
    tap_ok(yh_min >= 0 && wmin > 0 && gap > 0,
           "C.3, %s 4x4, 5 brute-force ground states: min y_i h_i(y) = %.3g >= 0, so with h0 = 0.01 every "
           "w_i > 0 (min %.3g) and y minimises E_LF (gap %.3g)", spin_boundary_names[bc], yh_min, wmin, gap);
  }

  /* With the entropy (T = 0.1, h0 = 5): L(a y) decreases for a in
   * (0, 2 min w / T), the minimiser is z_i = 2 w_i y_i / T (gradient 0,
   * higher loss on each side), with the sign of y. */
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[2 * N], w[N], z[N], g[N];
  int8_t y[N];
  spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 5150, 0, J);
  random_target(N, y);
  spin_loss_options opt;
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_LOCAL;
  /* Beyond a ~ 20, sigma(a) sigma(-a) < 2e-9 and the loss is flat to
   * double precision, though still decreasing in exact arithmetic up to
   * 2 min w / T. */
  const double wmin = weights(&lat, J, y, opt.h0, w), amax = fmin(2 * wmin / opt.T, 20);
  double prev = INFINITY, v;
  int decreasing = 1, steps = 0;
  for (double a = 0; a <= amax; a += amax / 50, ++steps) {
    for (int i = 0; i < N; ++i) z[i] = a * y[i];
    eval(&lat, &opt, 1, J, z, y, &v, NULL);
    decreasing &= v < prev;
    prev = v;
  }
  tap_ok(decreasing, "local, T = 0.1, h0 = 5: L(a y) strictly decreasing on %d steps of a in [0, %.3g] "
         "(2 min w / T = %.3g)", steps, amax, 2 * wmin / opt.T);
  /* At T = 2 the minimiser z* = w y is small enough for its curvature
   * sigma sigma' to show in double precision. */
  opt.T = 2;
  double gmax = 0, lstar, worse = INFINITY;
  int signs = 1;
  for (int i = 0; i < N; ++i) z[i] = 2 * w[i] * y[i] / opt.T, signs &= (z[i] > 0) == (y[i] > 0);
  eval(&lat, &opt, 1, J, z, y, &lstar, g);
  for (int i = 0; i < N; ++i) gmax = fmax(gmax, fabs(g[i]));
  for (int i = 0; i < N; ++i)
    for (int s = -1; s <= 1; s += 2) {
      double keep = z[i];
      z[i] = keep + s * 0.05 * fabs(keep);
      eval(&lat, &opt, 1, J, z, y, &v, NULL);
      worse = fmin(worse, v - lstar);
      z[i] = keep;
    }
  tap_ok(signs && gmax < 1e-12 && worse > 0,
         "local, T = 2: z* = 2 w y / T has the sign of y, gradient 0 there (max %.1e) and a lower loss than any 5 %% move "
         "of one site (smallest rise %.3g)", gmax, worse);
}

/* The data-parallel contract: instances split into two "ranks" of 1 and
 * B - 1, each scaled by B_local / B, sum to the whole batch's loss and
 * reproduce its gradient rows. */
/* The bond loss (flip-invariant local energy): invariant under y -> -y
 * and z -> -z exactly; its T -> 0 energy E_bond(s) = -sum_<ij> w_ij y_i
 * y_j s_i s_j has exactly the two minimisers s = +-y over all 2^16 states
 * of a 4 x 4 lattice when h0 > 1 (w_ij > 0), whatever y is. */
static double e_bond(const spin_lattice *lat, const double *J, const int8_t *y, double h0, const int8_t *s) {
  double e = 0;
  for (int64_t i = 0; i < lat->n_sites; ++i)
    for (int dir = 0; dir < lat->dim; ++dir) {
      int64_t j = spin_neighbor(lat, i, dir, +1);
      if (j < 0) continue;
      const double w = J[dir * lat->n_sites + i] * y[i] * y[j] + h0;
      e -= w * y[i] * y[j] * s[i] * s[j];
    }
  return e;
}

static void test_bond(void) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[B * 2 * N], z[B * N], zm[B * N], g[B * N], gm[B * N], gy[B * N];
  int8_t y[B * N], ym[B * N];
  random_couplings(&lat, B, 23, J);
  random_target(B * N, y);
  leaning_logits(y, z);
  for (int i = 0; i < B * N; ++i) zm[i] = -z[i], ym[i] = (int8_t)-y[i];
  spin_loss_options opt;
  spin_loss_options_default(&opt);
  opt.kind = SPIN_LOSS_BOND;
  double l, lz, ly;
  eval(&lat, &opt, B, J, z, y, &l, g);
  eval(&lat, &opt, B, J, zm, y, &lz, gm);
  eval(&lat, &opt, B, J, z, ym, &ly, gy);
  double odd = 0, same = 0;
  for (int i = 0; i < B * N; ++i) odd = fmax(odd, fabs(g[i] + gm[i])), same = fmax(same, fabs(g[i] - gy[i]));
  tap_ok(fabs(l - lz) <= 1e-13 * fabs(l) && l == ly && odd <= 1e-15 && same == 0,
         "bond: L(z, y) = L(-z, y) = L(z, -y) = %.10g, gradient odd in z and even in y", l);

  for (int bc = 0; bc < 2; ++bc) {
    spin_lattice sq;
    spin_lattice_init(&sq, SPIN_SQUARE, (spin_boundary)bc, L);
    int exact = 1, found = 0;
    for (int t = 0; t < 4; ++t) {
      double Jt[2 * N];
      int8_t yt[N], s[N];
      spin_couplings_generate(&sq, t & 1 ? SPIN_COUPLING_PM : SPIN_COUPLING_UNIFORM, 77 + bc, (uint64_t)t, Jt);
      random_target(N, yt);
      double best = INFINITY;
      for (uint32_t c = 0; c < 1u << N; ++c) {
        for (int i = 0; i < N; ++i) s[i] = c >> i & 1 ? 1 : -1;
        best = fmin(best, e_bond(&sq, Jt, yt, 1.001, s));
      }
      for (uint32_t c = 0; c < 1u << N; ++c) {
        int plus = 1, minus = 1;
        for (int i = 0; i < N; ++i) {
          s[i] = c >> i & 1 ? 1 : -1;
          plus &= s[i] == yt[i], minus &= s[i] == -yt[i];
        }
        const int is_min = e_bond(&sq, Jt, yt, 1.001, s) <= best + 1e-12;
        exact &= is_min == (plus || minus);
        found += is_min;
      }
    }
    tap_ok(exact && found == 8, "bond, %s 4x4, h0 = 1.001, 4 random y (2 with |J| = 1): over all 2^16 states the "
           "minimisers of E_bond are exactly +-y (%d minima found)", spin_boundary_names[bc], found);
  }
  opt.flip_invariant = 1;
  spin_loss_plan *plan = NULL;
  core_status st = spin_loss_plan_create(&lat, &opt, &plan);
  tap_ok(st == CORE_ERR_UNSUPPORTED && !plan && strstr(core_error_message(), "already"),
         "bond with flip_invariant refused: %s", core_error_message());
}

static void test_split_batch(void) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L);
  double J[B * 2 * N], z[B * N], g[B * N], g1[N], g2[(B - 1) * N];
  int8_t y[B * N];
  random_couplings(&lat, B, 17, J);
  random_target(B * N, y);
  leaning_logits(y, z);
  double worst = 0;
  for (int kind = 0; kind < SPIN_LOSS_COUNT; ++kind) {
    spin_loss_options opt;
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)kind;
    double l, l1, l2;
    eval(&lat, &opt, B, J, z, y, &l, g);
    eval(&lat, &opt, 1, J, z, y, &l1, g1);
    eval(&lat, &opt, B - 1, J + 2 * N, z + N, y + N, &l2, g2);
    const double s1 = 1.0 / B, s2 = (B - 1.0) / B;
    worst = fmax(worst, fabs(s1 * l1 + s2 * l2 - l) / fabs(l));
    for (int i = 0; i < N; ++i) worst = fmax(worst, fabs(s1 * g1[i] - g[i]) / fmax(fabs(g[i]), 1e-300));
    for (int i = 0; i < (B - 1) * N; ++i)
      worst = fmax(worst, fabs(s2 * g2[i] - g[N + i]) / fmax(fabs(g[N + i]), 1e-300));
  }
  tap_ok(worst < 1e-14, "batch split 1 + %d, scaled by B_local / B: loss and gradient = the whole batch's, every "
         "loss (worst rel %.1e)", B - 1, worst);
}

/* Time of one execute on a training-sized batch (reported, not checked). */
static void report_timing(void) {
  enum { TB = 256, TL = 16, TN = TL * TL };
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, TL);
  double *J = malloc(sizeof(double) * TB * 2 * TN), *z = malloc(sizeof(double) * TB * TN),
         *g = malloc(sizeof(double) * TB * TN);
  float *zf = malloc(sizeof(float) * TB * TN), *gf = malloc(sizeof(float) * TB * TN);
  int8_t *y = malloc(TB * TN);
  random_couplings(&lat, TB, 19, J);
  random_target(TB * TN, y);
  for (int i = 0; i < TB * TN; ++i) zf[i] = (float)(z[i] = uniform(-4, 4));
  for (int kind = 0; kind < SPIN_LOSS_COUNT; ++kind) {
    spin_loss_options opt;
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)kind;
    spin_loss_plan *plan;
    spin_loss_plan_create(&lat, &opt, &plan);
    double loss, t[2];
    for (int f32 = 0; f32 < 2; ++f32) {
      const int reps = 20;
      double t0 = core_time();
      for (int r = 0; r < reps; ++r) {
        if (f32) spin_loss_execute_f32(plan, TB, J, zf, y, &loss, gf);
        else spin_loss_execute(plan, TB, J, z, y, &loss, g);
      }
      t[f32] = (core_time() - t0) / reps;
    }
    tap_diag("%-6s B = %d, 16x16 periodic, loss + gradient: %.3f ms float64, %.3f ms float32 (%.1f ns/site)",
             spin_loss_names[kind], TB, 1e3 * t[0], 1e3 * t[1], 1e9 * t[0] / (TB * TN));
    spin_loss_plan_destroy(&plan);
  }
  free(J), free(z), free(g), free(zf), free(gf), free(y);
}

/* The vocabulary table says what each kernel reads: a loss whose row says
 * it reads no labels (no couplings) must run with target (J) NULL, and one
 * that reads them must refuse NULL; options a row does not use are refused
 * when given, and T's range follows the row. */
static void test_table(void) {
  spin_lattice lat;
  spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, 4);
  const int64_t B = 2, n = lat.n_sites;
  double J[2 * 32], z[2 * 16], loss, grad[2 * 16];
  int8_t y[2 * 16];
  random_couplings(&lat, B, 11, J);
  random_target(B * n, y);
  for (int64_t i = 0; i < B * n; ++i) z[i] = uniform(-2.0, 2.0);
  int agree = 1;
  char why[256] = "";
  for (int k = 0; k < SPIN_LOSS_COUNT; ++k) {
    const unsigned f = spin_loss_table[k].flags;
    spin_loss_options opt;
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)k;
    spin_loss_plan *plan = NULL;
    if (spin_loss_plan_create(&lat, &opt, &plan)) {
      agree = 0, snprintf(why, sizeof why, "%s: no plan", spin_loss_table[k].name);
      continue;
    }
    const int no_y = spin_loss_execute(plan, B, J, z, NULL, &loss, grad) == CORE_OK;
    const int no_J = spin_loss_execute(plan, B, NULL, z, y, &loss, grad) == CORE_OK;
    if (no_y != !(f & SPIN_LOSS_NEEDS_LABELS) || no_J != !(f & SPIN_LOSS_NEEDS_COUPLINGS))
      agree = 0, snprintf(why, sizeof why, "%s: runs without y %d, without J %d", spin_loss_table[k].name, no_y, no_J);
    spin_loss_plan_destroy(&plan);
    const char *option;
    opt.T = 0.0;
    const int t0 = spin_loss_options_check(&opt, SPIN_LOSS_GIVEN_T, &option) == CORE_OK;
    if (t0 != ((f & SPIN_LOSS_USES_T) && !(f & SPIN_LOSS_DIVIDES_BY_T)))
      agree = 0, snprintf(why, sizeof why, "%s: T = 0 given: accepted %d", spin_loss_table[k].name, t0);
    spin_loss_options_default(&opt);
    opt.kind = (spin_loss_kind)k;
    const int h0 = spin_loss_options_check(&opt, SPIN_LOSS_GIVEN_H0, &option) == CORE_OK;
    opt.flip_invariant = 1;
    const int flip = spin_loss_options_check(&opt, 0, &option) == CORE_OK;
    if (h0 != !!(f & SPIN_LOSS_USES_H0) || flip != !!(f & SPIN_LOSS_FLIP_OPTION))
      agree = 0, snprintf(why, sizeof why, "%s: h0 given accepted %d, flip_invariant accepted %d",
                          spin_loss_table[k].name, h0, flip);
  }
  tap_ok(agree, "every row of spin_loss_table says what its kernel reads and which options it takes %s", why);
  char list[128];
  tap_ok(!strcmp(spin_loss_list(SPIN_LOSS_USES_H0, list, sizeof list), "local and bond") &&
             !strcmp(spin_loss_list(SPIN_LOSS_USES_T, list, sizeof list), "local, true and bond") &&
             !strcmp(spin_loss_list(SPIN_LOSS_NEEDS_LABELS | SPIN_LOSS_FLIP_OPTION, list, sizeof list), "ce and margin"),
         "spin_loss_list names the losses with given flags (%s)", list);
}

int main(void) {
  core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, 8);
  tap_plan(41);
  test_table();
  test_gradients();
  test_f32_and_refusals();
  test_invariants();
  test_c3();
  test_bond();
  test_split_batch();
  report_timing();
  return tap_done();
}
