/* Losses on spin predictions: the labelled baselines (cross-entropy,
 * margin), the local-field energy loss of the paper (Eq. 15-16) and the
 * label-free entropy-regularised mean-field energy; value and gradient with
 * respect to the logits.
 *
 * spin_loss_names, spin_loss_from_name, spin_loss_options_default: pure.
 * spin_loss_plan_create(lat, opt, &plan): local; checks the options and
 *   builds a neighbour table, (n_sites, 2 dim) pairs (neighbour, slot).
 * spin_loss_plan_destroy(&plan): accepts NULL.
 * spin_loss_execute(plan, B, J, logits, target, &loss, grad) and _f32:
 *   local, reentrant, allocate nothing. J (B, dim n), logits and grad
 *   (B, n), target (B, n) int8 +-1. *loss is the mean over the B
 *   instances; grad (overwritten) is its gradient, row b = (1/B) dloss_b/dz_b.
 *
 * Model of a prediction. The network gives logits z_i; the prediction is
 * the product distribution q(s_i = +1) = sigma(z_i), with magnetisation
 * m_i = 2 sigma(z_i) - 1 = tanh(z_i / 2) and entropy S[q] = sum_i
 * H(sigma(z_i)), H the binary entropy in nats.
 *
 * Numerics. softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^-|x|) and
 * sigma(x) = 1 / (1 + e^-x) evaluated through e^-|x| never overflow. The
 * entropy is written through softplus,
 *   H(sigma(z)) = sigma(z) softplus(-z) + sigma(-z) softplus(z),
 * a sum of two non-negative terms (no cancellation: the tempting
 * softplus(z) - z sigma(z) loses every digit for z > 36), and its
 * derivative is dH/dz = -z sigma(z) sigma(-z). Both are accurate for
 * |z| up to 700 and beyond (the terms underflow gracefully to 0).
 * dm/dz = (1 - m^2) / 2 is evaluated as 2 sigma(z) sigma(-z), which keeps
 * its relative accuracy where 1 - tanh^2 would round to 0.
 *
 * The hinge max(0, 1 - y z) has a kink at y z = 1; there the subgradient 0
 * is used (the branch y z < 1 is taken strictly). flip_invariant takes
 * min(loss(y), loss(-y)) per instance and the gradient of the smaller one;
 * on a tie, the one of y (also a subgradient choice: the min is not
 * differentiable there). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "eloss/spin.h"

struct spin_loss_plan {
  spin_lattice lat;
  spin_loss_options opt;
  int degree;      /* 2 dim: neighbours per site, k = 2 dir (+ side), 2 dir + 1 (- side) */
  int64_t *nbr;    /* (n_sites, degree) neighbour site, -1 where an open lattice ends */
  int64_t *slot;   /* (n_sites, degree) coupling slot of that bond, -1 likewise */
};

const char *const spin_loss_names[SPIN_LOSS_COUNT] = {"ce", "margin", "local", "true", "bond"};

/* Why local and true refuse flip_invariant: whatever fixed pattern p a
 * network outputs, the min over y and -y picks the sign with a gain
 * |sum_i w_i y_i p_i| > 0, a positive feedback no label breaks, and
 * training collapses to a constant prediction (docs/train.md, "Flip
 * invariance"). */
#define COLLAPSES "the better of y and -y collapses a network to a constant prediction (docs/train.md); bond is the " \
                  "flip-invariant energy loss"
const spin_loss_info spin_loss_table[SPIN_LOSS_COUNT] = {
    [SPIN_LOSS_CE] = {"ce", "cross-entropy of the spins against the labels",
                      SPIN_LOSS_NEEDS_LABELS | SPIN_LOSS_FLIP_OPTION, NULL},
    [SPIN_LOSS_MARGIN] = {"margin", "hinge max(0, 1 - y z) against the labels",
                          SPIN_LOSS_NEEDS_LABELS | SPIN_LOSS_FLIP_OPTION, NULL},
    [SPIN_LOSS_LOCAL] = {"local", "the paper's local-field energy loss (Eq. 15-16)",
                         SPIN_LOSS_NEEDS_LABELS | SPIN_LOSS_NEEDS_COUPLINGS | SPIN_LOSS_USES_T |
                             SPIN_LOSS_DIVIDES_BY_T | SPIN_LOSS_USES_H0,
                         COLLAPSES},
    [SPIN_LOSS_TRUE] = {"true", "mean-field energy of the prediction, no labels",
                        SPIN_LOSS_NEEDS_COUPLINGS | SPIN_LOSS_USES_T, COLLAPSES},
    [SPIN_LOSS_BOND] = {"bond", "the local-field loss on bonds, invariant under y -> -y",
                        SPIN_LOSS_NEEDS_LABELS | SPIN_LOSS_NEEDS_COUPLINGS | SPIN_LOSS_USES_T |
                            SPIN_LOSS_DIVIDES_BY_T | SPIN_LOSS_USES_H0,
                        "bond is invariant under y -> -y already"},
};

const char *spin_loss_list(unsigned flags, char *buf, size_t size) {
  int matches = 0, k;
  for (k = 0; k < SPIN_LOSS_COUNT; ++k) matches += (spin_loss_table[k].flags & flags) == flags;
  size_t used = 0;
  buf[0] = '\0';
  for (k = 0; k < SPIN_LOSS_COUNT && used < size; ++k) {
    if ((spin_loss_table[k].flags & flags) != flags) continue;
    --matches;
    const int n = snprintf(buf + used, size - used, "%s%s", spin_loss_table[k].name,
                           matches > 1 ? ", " : matches == 1 ? " and " : "");
    used += n > 0 ? (size_t)n : 0;
  }
  return buf;
}

core_status spin_loss_options_check(const spin_loss_options *opt, unsigned given, const char **option) {
  *option = NULL;
  CORE_CHECK((unsigned)opt->kind < SPIN_LOSS_COUNT, CORE_ERR_ARG, "spin loss: unknown kind %d", (int)opt->kind);
  const spin_loss_info *info = &spin_loss_table[opt->kind];
  const unsigned f = info->flags;
  char list[128];
  *option = "-flip_invariant";
  CORE_CHECK(!opt->flip_invariant || (f & SPIN_LOSS_FLIP_OPTION), CORE_ERR_UNSUPPORTED, "is for -loss %s only: with "
             "-loss %s %s", spin_loss_list(SPIN_LOSS_FLIP_OPTION, list, sizeof list), info->name, info->no_flip);
  *option = "-T";
  CORE_CHECK(!(given & SPIN_LOSS_GIVEN_T) || (f & SPIN_LOSS_USES_T), CORE_ERR_ARG, "is for -loss %s only",
             spin_loss_list(SPIN_LOSS_USES_T, list, sizeof list));
  CORE_CHECK(!(f & SPIN_LOSS_DIVIDES_BY_T) || (isfinite(opt->T) && opt->T > 0), CORE_ERR_ARG,
             "expected T > 0 for -loss %s (it divides by T)", info->name);
  CORE_CHECK(!(f & SPIN_LOSS_USES_T) || (isfinite(opt->T) && opt->T >= 0), CORE_ERR_ARG,
             "expected a finite T >= 0 for -loss %s", info->name);
  *option = "-h0";
  CORE_CHECK(!(given & SPIN_LOSS_GIVEN_H0) || (f & SPIN_LOSS_USES_H0), CORE_ERR_ARG, "is for -loss %s only",
             spin_loss_list(SPIN_LOSS_USES_H0, list, sizeof list));
  CORE_CHECK(isfinite(opt->h0), CORE_ERR_ARG, "expected a finite real number");
  *option = "-target";
  CORE_CHECK(!(given & SPIN_LOSS_GIVEN_TARGET) || (f & SPIN_LOSS_NEEDS_LABELS), CORE_ERR_ARG,
             "-loss %s uses no labels", info->name);
  *option = NULL;
  return CORE_OK;
}

core_status spin_loss_from_name(const char *name, spin_loss_kind *kind) {
  int k = 0;
  CORE_CALL(core_name_lookup("spin loss", spin_loss_names, SPIN_LOSS_COUNT, name, &k));
  *kind = (spin_loss_kind)k;
  return CORE_OK;
}

void spin_loss_options_default(spin_loss_options *opt) {
  opt->kind = SPIN_LOSS_CE;
  opt->T = 0.1;
  opt->h0 = 5.0;
  opt->flip_invariant = 0;
}

core_status spin_loss_plan_create(const spin_lattice *lat, const spin_loss_options *opt, spin_loss_plan **plan) {
  *plan = NULL;
  const char *option;
  const core_status refused = spin_loss_options_check(opt, 0, &option);
  if (refused) {
    char why[512];
    snprintf(why, sizeof why, "%s", core_error_message());
    return CORE_ERROR(refused, "spin loss %s: %s%s%s", (unsigned)opt->kind < SPIN_LOSS_COUNT ?
                      spin_loss_names[opt->kind] : "?", option ? option + 1 : "", option ? ": " : "", why);
  }
  spin_loss_plan *p = calloc(1, sizeof *p);
  CORE_CHECK(p, CORE_ERR_MEM, "spin loss: cannot allocate a plan");
  p->lat = *lat;
  p->opt = *opt;
  p->degree = 2 * lat->dim;
  const int64_t n = lat->n_sites;
  p->nbr = malloc(sizeof(int64_t) * (size_t)(n * p->degree));
  p->slot = malloc(sizeof(int64_t) * (size_t)(n * p->degree));
  if (!p->nbr || !p->slot) {
    spin_loss_plan_destroy(&p);
    return CORE_ERROR(CORE_ERR_MEM, "spin loss: cannot allocate the neighbour table of %lld sites", (long long)n);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int dir = 0; dir < lat->dim; ++dir) {
      /* The bond to the + neighbour is stored at this site, the bond to the
       * - neighbour at that neighbour (spin.h). */
      int64_t up = spin_neighbor(lat, i, dir, +1), down = spin_neighbor(lat, i, dir, -1);
      int64_t *nb = p->nbr + i * p->degree + 2 * dir, *sl = p->slot + i * p->degree + 2 * dir;
      nb[0] = up;
      sl[0] = up >= 0 ? dir * n + i : -1;
      nb[1] = down;
      sl[1] = down >= 0 ? dir * n + down : -1;
    }
  *plan = p;
  return CORE_OK;
}

void spin_loss_plan_destroy(spin_loss_plan **plan) {
  if (!plan || !*plan) return;
  free((*plan)->nbr);
  free((*plan)->slot);
  free(*plan);
  *plan = NULL;
}

/* ---- scalar pieces ------------------------------------------------------- */

static double softplus(double x) { return fmax(x, 0.0) + log1p(exp(-fabs(x))); }

static double sigmoid(double x) {
  double e = exp(-fabs(x));
  return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* sigma(z) sigma(-z) = e^-|z| / (1 + e^-|z|)^2, without overflow. */
static double sigmoid_pq(double z) {
  double e = exp(-fabs(z));
  return e / ((1.0 + e) * (1.0 + e));
}

/* H(sigma(z)) in nats, as a sum of two non-negative terms. */
static double binary_entropy(double z) { return sigmoid(z) * softplus(-z) + sigmoid(-z) * softplus(z); }

/* d H(sigma(z)) / dz = log((1 - p) / p) dp/dz = -z sigma(z) sigma(-z). */
static double binary_entropy_grad(double z) { return -z * sigmoid_pq(z); }

/* ---- the losses of one instance ------------------------------------------ */

/* Logits of one instance, float64 or float32 (the network's). */
typedef struct {
  const double *d;
  const float *f;
} logit_row;

static inline double logit_at(logit_row z, int64_t i) { return z.d ? z.d[i] : (double)z.f[i]; }

/* Gradient row: scale * g_i is stored into d or f (NULL: no gradient). */
typedef struct {
  double *d;
  float *f;
} grad_row;

static inline int grad_wanted(grad_row g) { return g.d || g.f; }

static inline void grad_store(grad_row g, int64_t i, double v) {
  if (g.d) g.d[i] = v;
  else if (g.f) g.f[i] = (float)v;
}

/* Cross-entropy of the sign labels: mean_i softplus(-sign y_i z_i)
 * = mean_i -log q(y_i); sign = +1 or -1 (the flipped target). Gradient
 * -sign y_i sigma(-sign y_i z_i) / n, times scale. */
static double ce_value(const spin_loss_plan *p, logit_row z, const int8_t *y, int sign) {
  const int64_t n = p->lat.n_sites;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += softplus(-sign * y[i] * logit_at(z, i));
  return sum / (double)n;
}

static void ce_grad(const spin_loss_plan *p, logit_row z, const int8_t *y, int sign, double scale, grad_row g) {
  const int64_t n = p->lat.n_sites;
  for (int64_t i = 0; i < n; ++i) {
    double t = sign * y[i];
    grad_store(g, i, scale * -t * sigmoid(-t * logit_at(z, i)) / (double)n);
  }
}

/* Hinge on the margin: mean_i max(0, 1 - sign y_i z_i). Gradient
 * -sign y_i / n where sign y_i z_i < 1, and 0 where it is >= 1 (the
 * subgradient 0 at the kink). */
static double margin_value(const spin_loss_plan *p, logit_row z, const int8_t *y, int sign) {
  const int64_t n = p->lat.n_sites;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += fmax(0.0, 1.0 - sign * y[i] * logit_at(z, i));
  return sum / (double)n;
}

static void margin_grad(const spin_loss_plan *p, logit_row z, const int8_t *y, int sign, double scale,
                        grad_row g) {
  const int64_t n = p->lat.n_sites;
  for (int64_t i = 0; i < n; ++i) {
    double t = sign * y[i];
    grad_store(g, i, t * logit_at(z, i) < 1.0 ? scale * -t / (double)n : 0.0);
  }
}

/* h_i(y) = sum_j J_ij y_j over the neighbours j of site i. */
static double local_field(const spin_loss_plan *p, const double *J, const int8_t *y, int64_t i) {
  const int64_t *nb = p->nbr + i * p->degree, *sl = p->slot + i * p->degree;
  double h = 0;
  for (int k = 0; k < p->degree; ++k)
    if (nb[k] >= 0) h += J[sl[k]] * y[nb[k]];
  return h;
}

/* Paper Eq. 15-16, the local-field energy loss:
 *   L_LF(q; y) = (1/T) (E_LF[q] - T S[q]),  E_LF[q] = -sum_i w_i y_i m_i,
 *   w_i = y_i h_i(y) + h0,  h_i(y) = sum_j J_ij y_j.
 * E_LF is the energy of independent spins, each in the field w_i y_i, so
 * its ground state has m_i = sign(w_i y_i). The printed formula for the
 * field h^LF is garbled; this reading is the one under which App. C.3's
 * claims hold:
 *   - h0 > 4: on the square lattice with |J| <= 1 a site has at most 4
 *     bonds, so |h_i(y)| <= 4 and every w_i >= h0 - 4 > 0: y is the unique
 *     minimiser of E_LF over m in [-1, 1]^n, for any y and J;
 *   - h0 > 0 and y a ground state: flipping site i changes the energy by
 *     2 y_i h_i(y) >= 0, so w_i >= h0 > 0 and again y is the unique
 *     minimiser.
 * With the entropy each site is minimised on its own: per site
 * f(z) = -(w_i y_i / T) m(z) - H(sigma(z)) has f'(z) = sigma(z) sigma(-z)
 * (z - 2 w_i y_i / T), so the unique minimiser is z_i = 2 w_i y_i / T, of
 * the sign of y_i whenever w_i > 0 (the test checks this).
 * Gradient: dL/dz_i = -(w_i y_i / T) dm_i/dz_i - dH/dz_i
 *                   = sigma(z_i) sigma(-z_i) (z_i - 2 w_i y_i / T). */
static double local_value(const spin_loss_plan *p, const double *J, logit_row z, const int8_t *y, double scale,
                          grad_row g) {
  const double T = p->opt.T, h0 = p->opt.h0;
  double e = 0, s = 0;
  for (int64_t i = 0; i < p->lat.n_sites; ++i) {
    const double zi = logit_at(z, i);
    const double w = y[i] * local_field(p, J, y, i) + h0;
    e -= w * y[i] * tanh(0.5 * zi);
    s += binary_entropy(zi);
    /* dL/dz_i = -(w_i y_i / T) dm_i/dz_i - dH/dz_i, dm/dz = 2 sigma(z) sigma(-z). */
    if (grad_wanted(g))
      grad_store(g, i, scale * (-(w * y[i] / T) * 2.0 * sigmoid_pq(zi) - binary_entropy_grad(zi)));
  }
  return (e - T * s) / T;
}

/* The two pair energies, computed by one loop (pair_value below).
 *
 * true, the label-free loss: the entropy-regularised mean-field energy
 * (the variational free energy of a product distribution),
 *   L_true(q) = -sum_<ij> J_ij m_i m_j - T S[q],
 * each bond once (at its lower site, spin.h). Gradient:
 *   dL/dz_i = -h_i(m) dm_i/dz_i - T dH/dz_i,  h_i(m) = sum_j J_ij m_j.
 * Uses no labels and is invariant under z -> -z (m -> -m, H even).
 *
 * bond, the flip-invariant energy loss: the local-field loss moved from
 * sites to bonds,
 *   L_bond(q; y) = (1/T) (E_bond[q] - T S[q]),
 *   E_bond[q] = -sum_<ij> w_ij y_i y_j m_i m_j,  w_ij = J_ij y_i y_j + h0.
 * Why bonds: y and -y are equally ground states, and a site term w_i y_i m_i
 * changes sign with y, so the min over y and -y of L_LF rewards a constant
 * prediction (docs/train.md, "Flip invariance"). The products y_i y_j and
 * m_i m_j are invariant under y -> -y and z -> -z, so L_bond is too, with
 * no min to take. With u_i = y_i m_i, E_bond = -sum_<ij> w_ij u_i u_j is a
 * ferromagnet when every w_ij > 0 (h0 > max |J|, so h0 > 1 for |J| <= 1):
 * on a connected lattice its minimisers over [-1, 1]^n are exactly u = +1
 * and u = -1, i.e. m = y and m = -y (Mattis). Expanded,
 *   E_bond = -sum_<ij> (J_ij + h0 y_i y_j) m_i m_j,
 * the true mean-field energy plus h0 times the energy of the Mattis model
 * whose ground states are +-y: the true loss's loop with the couplings
 * J_ij + h0 y_i y_j, divided by T. Gradient:
 *   dL/dz_i = -(1/T) g_i dm_i/dz_i - dH/dz_i,  g_i = sum_j (J_ij + h0 y_i y_j) m_j.
 *
 * y == NULL: true; else bond. The magnetisations m are recomputed from z
 * where needed instead of stored, so that execute allocates nothing. */
static double pair_value(const spin_loss_plan *p, const double *J, logit_row z, const int8_t *y, double scale,
                         grad_row g) {
  const double T = p->opt.T, h0 = y ? p->opt.h0 : 0.0;
  const int64_t n = p->lat.n_sites;
  double e = 0, s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double zi = logit_at(z, i), mi = tanh(0.5 * zi);
    const int64_t *nb = p->nbr + i * p->degree, *sl = p->slot + i * p->degree;
    double h = 0;
    for (int k = 0; k < p->degree; ++k) {
      if (nb[k] < 0) continue;
      const double c = y ? J[sl[k]] + h0 * y[i] * y[nb[k]] : J[sl[k]], mj = tanh(0.5 * logit_at(z, nb[k]));
      h += c * mj;
      if ((k & 1) == 0) e -= c * mi * mj; /* the + bond, stored at i */
    }
    s += binary_entropy(zi);
    if (grad_wanted(g))
      grad_store(g, i, y ? scale * (-(h / T) * 2.0 * sigmoid_pq(zi) - binary_entropy_grad(zi))
                         : scale * (-h * 2.0 * sigmoid_pq(zi) - T * binary_entropy_grad(zi)));
  }
  return y ? (e - T * s) / T : e - T * s;
}

/* ---- execute --------------------------------------------------------------- */

static core_status execute(const spin_loss_plan *p, int64_t B, const double *J, logit_row z, const int8_t *target,
                           double *loss, grad_row g) {
  CORE_CHECK(p, CORE_ERR_ARG, "spin loss: no plan");
  CORE_CHECK(B >= 1, CORE_ERR_ARG, "spin loss: batch of %lld instances", (long long)B);
  CORE_CHECK(loss, CORE_ERR_ARG, "spin loss: no loss pointer");
  const spin_loss_kind kind = p->opt.kind;
  const int64_t n = p->lat.n_sites, slots = spin_lattice_bond_slots(&p->lat);
  CORE_CHECK(target || !(spin_loss_table[kind].flags & SPIN_LOSS_NEEDS_LABELS), CORE_ERR_ARG, "spin loss: %s needs a target",
             spin_loss_names[kind]);
  CORE_CHECK(J || !(spin_loss_table[kind].flags & SPIN_LOSS_NEEDS_COUPLINGS), CORE_ERR_ARG, "spin loss: %s needs couplings",
             spin_loss_names[kind]);
  /* Validate everything first, so a refused batch leaves grad untouched. */
  for (int64_t k = 0; k < B * n; ++k) {
    CORE_CHECK(isfinite(logit_at(z, k)), CORE_ERR_VALUE, "spin loss: non-finite logit at instance %lld, site %lld",
               (long long)(k / n), (long long)(k % n));
    if (target && kind != SPIN_LOSS_TRUE)
      CORE_CHECK(target[k] == 1 || target[k] == -1, CORE_ERR_VALUE,
                 "spin loss: target %d at instance %lld, site %lld is not +1 or -1", (int)target[k],
                 (long long)(k / n), (long long)(k % n));
  }
  const double scale = 1.0 / (double)B;
  double total = 0;
  for (int64_t b = 0; b < B; ++b) {
    logit_row zb = {z.d ? z.d + b * n : NULL, z.f ? z.f + b * n : NULL};
    grad_row gb = {g.d ? g.d + b * n : NULL, g.f ? g.f + b * n : NULL};
    const int8_t *yb = target ? target + b * n : NULL;
    const double *Jb = J ? J + b * slots : NULL;
    double lb = 0;
    switch (kind) {
      case SPIN_LOSS_CE:
      case SPIN_LOSS_MARGIN: {
        const int ce = kind == SPIN_LOSS_CE;
        int sign = 1;
        lb = ce ? ce_value(p, zb, yb, 1) : margin_value(p, zb, yb, 1);
        if (p->opt.flip_invariant) {
          double flipped = ce ? ce_value(p, zb, yb, -1) : margin_value(p, zb, yb, -1);
          if (flipped < lb) lb = flipped, sign = -1;
        }
        if (grad_wanted(gb)) {
          if (ce) ce_grad(p, zb, yb, sign, scale, gb);
          else margin_grad(p, zb, yb, sign, scale, gb);
        }
        break;
      }
      case SPIN_LOSS_LOCAL: lb = local_value(p, Jb, zb, yb, scale, gb); break;
      case SPIN_LOSS_TRUE: lb = pair_value(p, Jb, zb, NULL, scale, gb); break;
      case SPIN_LOSS_BOND: lb = pair_value(p, Jb, zb, yb, scale, gb); break;
    }
    total += lb;
  }
  *loss = total * scale;
  return CORE_OK;
}

core_status spin_loss_execute(const spin_loss_plan *plan, int64_t B, const double *J, const double *logits,
                              const int8_t *target, double *loss, double *grad) {
  CORE_CHECK(logits, CORE_ERR_ARG, "spin loss: no logits");
  logit_row z = {logits, NULL};
  grad_row g = {grad, NULL};
  return execute(plan, B, J, z, target, loss, g);
}

core_status spin_loss_execute_f32(const spin_loss_plan *plan, int64_t B, const double *J, const float *logits,
                                  const int8_t *target, double *loss, float *grad) {
  CORE_CHECK(logits, CORE_ERR_ARG, "spin loss: no logits");
  logit_row z = {NULL, logits};
  grad_row g = {NULL, grad};
  return execute(plan, B, J, z, target, loss, g);
}
