/* TAP test of lib/atoms on one rank: analytic gradients against central
 * finite differences for every loss, coefficient law, edge set and
 * dimension; float32 against float64; the invariances of Prop. 4.2 (rigid
 * motions and reflections of either argument, automorphisms of the
 * reference) and the failure of MSE to have them; padded batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/atoms.h"
#include "tap.h"

enum { B = 3, N = 8 };

static core_rng rng;
/* Scales the analytic gradient inside gradient_error; 1 except in the test
 * that breaks it on purpose to show the comparison bites. */
static double gradient_corruption = 1.0;

static void random_coords(double *x, int64_t count, double scale) {
  for (int64_t i = 0; i < count; ++i) x[i] = scale * (2 * core_rng_uniform(&rng) - 1);
}

static core_status eval(const atoms_options *opt, int64_t batch, int64_t n, int d, const double *ref,
                        const int64_t *natoms, const double *pred, double *loss, double *grad) {
  atoms_plan *plan;
  CORE_CALL(atoms_plan_create(MPI_COMM_SELF, opt, batch, 0, batch, n, d, ref, natoms, &plan));
  core_status st = atoms_plan_execute(plan, pred, loss, grad);
  atoms_plan_destroy(&plan);
  return st;
}

/* max |analytic - central difference| / max |analytic|. */
static double gradient_error(const atoms_options *opt, int d, const double *ref, const int64_t *natoms,
                             const double *pred) {
  const int64_t count = B * N * d;
  double g[B * N * 3], x[B * N * 3], loss, lp, lm;
  if (eval(opt, B, N, d, ref, natoms, pred, &loss, g)) return INFINITY;
  for (int64_t a = 0; a < count; ++a) g[a] *= gradient_corruption;
  memcpy(x, pred, sizeof(double) * (size_t)count);
  double worst = 0, gmax = 0;
  for (int64_t a = 0; a < count; ++a) {
    const double h = 1e-5;
    x[a] = pred[a] + h;
    eval(opt, B, N, d, ref, natoms, x, &lp, NULL);
    x[a] = pred[a] - h;
    eval(opt, B, N, d, ref, natoms, x, &lm, NULL);
    x[a] = pred[a];
    double fd = (lp - lm) / (2 * h);
    if (fabs(fd - g[a]) > worst) worst = fabs(fd - g[a]);
    if (fabs(g[a]) > gmax) gmax = fabs(g[a]);
  }
  return gmax > 0 ? worst / gmax : INFINITY;
}

/* Random orthogonal d x d matrix (Gram-Schmidt of a Gaussian matrix), with a
 * reflection if asked. */
static void random_orthogonal(int d, int reflect, double *Q) {
  for (int i = 0; i < d * d; ++i) Q[i] = core_rng_normal(&rng);
  for (int r = 0; r < d; ++r) {
    for (int s = 0; s < r; ++s) {
      double dot = 0;
      for (int k = 0; k < d; ++k) dot += Q[r * d + k] * Q[s * d + k];
      for (int k = 0; k < d; ++k) Q[r * d + k] -= dot * Q[s * d + k];
    }
    double norm = 0;
    for (int k = 0; k < d; ++k) norm += Q[r * d + k] * Q[r * d + k];
    for (int k = 0; k < d; ++k) Q[r * d + k] /= sqrt(norm);
  }
  double det = d == 2 ? Q[0] * Q[3] - Q[1] * Q[2]
                      : Q[0] * (Q[4] * Q[8] - Q[5] * Q[7]) - Q[1] * (Q[3] * Q[8] - Q[5] * Q[6]) +
                            Q[2] * (Q[3] * Q[7] - Q[4] * Q[6]);
  if ((det < 0) != (reflect != 0))
    for (int k = 0; k < d; ++k) Q[k] = -Q[k];
}

static void rigid_motion(int64_t count_atoms, int d, const double *Q, const double *t, const double *x,
                         double *y) {
  for (int64_t i = 0; i < count_atoms; ++i)
    for (int a = 0; a < d; ++a) {
      double s = t[a];
      for (int c = 0; c < d; ++c) s += Q[a * d + c] * x[i * d + c];
      y[i * d + a] = s;
    }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  core_rng_init(&rng, 2385, CORE_PURPOSE_TEST, 0);
  tap_plan(2 * (5 * 4 + 3) + 2 * 6 + 8 + 5 + 1 + 1 + 5 + 1 + 3);

  double ref[B * N * 3], pred[B * N * 3];
  int element[B * N];
  int32_t explicit_edges[2 * 12];
  for (int i = 0; i < B * N; ++i) element[i] = i % 3 ? 6 : 8; /* carbons and oxygens */

  for (int d = 2; d <= 3; ++d) {
    random_coords(ref, B * N * d, 1.6);
    for (int a = 0; a < B * N * d; ++a) pred[a] = ref[a] + 0.3 * core_rng_normal(&rng);
    /* 12 distinct random pairs, in random orientation (a repeat is refused). */
    for (int e = 0; e < 12;) {
      explicit_edges[2 * e] = (int32_t)core_rng_below(&rng, N);
      explicit_edges[2 * e + 1] = (int32_t)((explicit_edges[2 * e] + 1 + core_rng_below(&rng, N - 1)) % N);
      int repeat = 0;
      for (int f = 0; f < e; ++f)
        repeat |= (explicit_edges[2 * f] == explicit_edges[2 * e] && explicit_edges[2 * f + 1] == explicit_edges[2 * e + 1]) ||
                  (explicit_edges[2 * f] == explicit_edges[2 * e + 1] && explicit_edges[2 * f + 1] == explicit_edges[2 * e]);
      e += !repeat;
    }
    /* Energy loss: every coefficient law on every edge set. */
    const atoms_edge_kind kinds[4] = {ATOMS_EDGES_COMPLETE, ATOMS_EDGES_EXPLICIT, ATOMS_EDGES_REGULAR,
                                      ATOMS_EDGES_BONDS};
    const char *kind_names[4] = {"complete", "explicit", "regular", "bonds"};
    for (int c = 0; c <= ATOMS_COEFF_LJ; ++c)
      for (int k = 0; k < 4; ++k) {
        atoms_options opt;
        atoms_options_default(&opt);
        opt.coeff = (atoms_coeff_law)c;
        opt.edges = kinds[k];
        opt.edge_list = explicit_edges;
        opt.n_edges = 12;
        opt.element = element;
        opt.seed = 7;
        opt.k0 = 1.37;
        opt.per_atom = c % 2;
        double err = gradient_error(&opt, d, ref, NULL, pred);
        tap_ok(err < 1e-6, "d=%d energy %s %s%s: gradient matches central differences (rel err %.2e)", d,
               atoms_coeff_name((atoms_coeff_law)c), kind_names[k], opt.per_atom ? " per-atom" : "", err);
      }
    /* Baselines. */
    for (int l = ATOMS_LOSS_MSE; l <= ATOMS_LOSS_KABSCH; ++l) {
      atoms_options opt;
      atoms_options_default(&opt);
      opt.loss = (atoms_loss_kind)l;
      /* Kabsch: the rotation is held fixed in the analytic gradient, which is
       * still the exact one because the aligned loss is stationary in R. */
      double err = gradient_error(&opt, d, ref, NULL, pred);
      tap_ok(err < 1e-6, "d=%d %s: gradient matches central differences (rel err %.2e)", d,
             atoms_loss_name((atoms_loss_kind)l), err);
    }
  }

  /* The checker bites: a gradient off by 1e-4 relative must fail. */
  {
    atoms_options opt;
    atoms_options_default(&opt);
    opt.coeff = ATOMS_COEFF_LJ;
    gradient_corruption = 1.0001;
    double err = gradient_error(&opt, 3, ref, NULL, pred);
    gradient_corruption = 1.0;
    tap_ok(err > 1e-6, "a gradient scaled by 1.0001 is caught (rel err %.2e > 1e-6)", err);
  }

  /* Invariance (Prop. 4.2) and the lack of it for MSE, in 2 and 3 dims. */
  for (int d = 2; d <= 3; ++d) {
    random_coords(ref, B * N * d, 1.3);
    for (int a = 0; a < B * N * d; ++a) pred[a] = ref[a] + 0.4 * core_rng_normal(&rng);
    double Q[9], t[3] = {0.8, -2.1, 0.35}, moved[B * N * 3], moved_ref[B * N * 3];
    atoms_options opt;
    atoms_options_default(&opt);
    opt.coeff = ATOMS_COEFF_EXP_DIST;
    double base, g0[B * N * 3], l1, l2, lmse0, lmse1;
    eval(&opt, B, N, d, ref, NULL, pred, &base, g0);
    random_orthogonal(d, 1, Q);
    rigid_motion(B * N, d, Q, t, pred, moved);
    eval(&opt, B, N, d, ref, NULL, moved, &l1, NULL);
    tap_close(l1, base, 1e-12, "energy loss unchanged by a reflection + translation of the prediction");
    random_orthogonal(d, 0, Q);
    rigid_motion(B * N, d, Q, t, ref, moved_ref);
    eval(&opt, B, N, d, moved_ref, NULL, pred, &l2, NULL);
    tap_close(l2, base, 1e-12, "energy loss unchanged by a rotation + translation of the reference");
    double gsum = 0, gabs = 0;
    for (int b = 0; b < B; ++b)
      for (int k = 0; k < d; ++k) {
        double s = 0;
        for (int i = 0; i < N; ++i) s += g0[(b * N + i) * d + k], gabs += fabs(g0[(b * N + i) * d + k]);
        gsum += fabs(s);
      }
    tap_ok(gsum < 1e-12 * gabs, "energy gradient sums to zero over each structure (|sum| %.1e)", gsum);
    atoms_options mse;
    atoms_options_default(&mse);
    mse.loss = ATOMS_LOSS_MSE;
    eval(&mse, B, N, d, ref, NULL, pred, &lmse0, NULL);
    rigid_motion(B * N, d, Q, t, pred, moved);
    eval(&mse, B, N, d, ref, NULL, moved, &lmse1, NULL);
    tap_ok(fabs(lmse1 - lmse0) > 1e-3 * lmse0, "MSE changes under a rigid motion (%.4g -> %.4g)", lmse0, lmse1);
    atoms_options kab;
    atoms_options_default(&kab);
    kab.loss = ATOMS_LOSS_KABSCH;
    eval(&kab, B, N, d, ref, NULL, pred, &l1, NULL);
    eval(&kab, B, N, d, ref, NULL, moved, &l2, NULL);
    tap_close(l2, l1, 1e-10, "Kabsch MSE unchanged by a proper rigid motion of the prediction");
    /* float32 path against float64. */
    float pf[B * N * 3], gf[B * N * 3];
    for (int a = 0; a < B * N * d; ++a) pf[a] = (float)pred[a];
    atoms_plan *plan;
    double lf = 0, gmax = 0, gerr = 0;
    atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, d, ref, NULL, &plan);
    atoms_plan_execute_f32(plan, pf, &lf, gf);
    atoms_plan_destroy(&plan);
    for (int a = 0; a < B * N * d; ++a) {
      gerr = fmax(gerr, fabs(gf[a] - g0[a]));
      gmax = fmax(gmax, fabs(g0[a]));
    }
    tap_ok(fabs(lf - base) < 1e-5 * base && gerr < 1e-4 * gmax,
           "float32 path agrees with float64 (loss rel %.1e, grad rel %.1e)", fabs(lf - base) / base,
           gerr / gmax);
  }

  /* Automorphisms of the reference (Prop. 4.2): a regular hexagon is mapped
   * to itself by rotating the labels; the energy loss of any prediction is
   * unchanged by relabelling it that way, MSE is not. */
  {
    enum { H = 6 };
    double hex[H * 2], p[H * 2], q[H * 2], le, lp, me, mp;
    for (int i = 0; i < H; ++i) hex[2 * i] = cos(2 * CORE_PI * i / H), hex[2 * i + 1] = sin(2 * CORE_PI * i / H);
    for (int a = 0; a < H * 2; ++a) p[a] = hex[a] + 0.3 * core_rng_normal(&rng);
    for (int i = 0; i < H; ++i) q[2 * i] = p[2 * ((i + 1) % H)], q[2 * i + 1] = p[2 * ((i + 1) % H) + 1];
    atoms_options opt, mse;
    atoms_options_default(&opt);
    opt.coeff = ATOMS_COEFF_INV_DIST2;
    atoms_options_default(&mse);
    mse.loss = ATOMS_LOSS_MSE;
    eval(&opt, 1, H, 2, hex, NULL, p, &le, NULL);
    eval(&opt, 1, H, 2, hex, NULL, q, &lp, NULL);
    eval(&mse, 1, H, 2, hex, NULL, p, &me, NULL);
    eval(&mse, 1, H, 2, hex, NULL, q, &mp, NULL);
    tap_close(lp, le, 1e-12, "energy loss unchanged by a hexagon automorphism of the prediction's labels");
    tap_ok(fabs(mp - me) > 1e-2 * me, "MSE changes under the same relabelling (%.4g -> %.4g)", me, mp);
  }

  /* The loss's fast rotation (closed form in 2D, quaternion in 3D) against
   * an independent GSL-SVD Kabsch alignment, for a generic prediction and
   * for a mirrored one, where only the determinant fix keeps R proper. */
  for (int d = 2; d <= 3; ++d)
    for (int mirror = 0; mirror <= 1; ++mirror) {
      double p[N * 3], q[N * 3], pc[N * 3], qc[N * 3], R[9], cp[3] = {0}, cq[3] = {0}, want = 0, got;
      random_coords(q, N * d, 2.0);
      for (int a = 0; a < N * d; ++a) p[a] = (mirror && a % d == 0 ? -q[a] : q[a]) + 0.2 * core_rng_normal(&rng) + 5.0;
      for (int i = 0; i < N; ++i)
        for (int k = 0; k < d; ++k) cp[k] += p[i * d + k] / N, cq[k] += q[i * d + k] / N;
      for (int i = 0; i < N; ++i)
        for (int k = 0; k < d; ++k) pc[i * d + k] = p[i * d + k] - cp[k], qc[i * d + k] = q[i * d + k] - cq[k];
      atoms_kabsch_rotation(N, d, pc, qc, R);
      for (int i = 0; i < N; ++i)
        for (int a = 0; a < d; ++a) {
          double rq = 0;
          for (int c = 0; c < d; ++c) rq += R[a * d + c] * qc[i * d + c];
          want += pow(pc[i * d + a] - rq, 2) / (N * d);
        }
      atoms_options kab;
      atoms_options_default(&kab);
      kab.loss = ATOMS_LOSS_KABSCH;
      eval(&kab, 1, N, d, q, NULL, p, &got, NULL);
      char what[128];
      snprintf(what, sizeof what, "d=%d%s: Kabsch loss equals MSE after a GSL-SVD alignment", d,
               mirror ? " mirrored" : "");
      tap_close(got, want, 1e-11, what);
    }

  /* Degenerate alignment: atoms on a line leave the rotation about the line
   * free (a double top eigenvalue in the quaternion method, so its
   * eigenvector fallback runs); a rotated copy must still align exactly. */
  {
    double q[N * 3], p[N * 3], Q[9], t[3] = {1.5, -0.5, 2.0}, got;
    for (int i = 0; i < N; ++i) q[3 * i] = 0.7 * i, q[3 * i + 1] = -0.35 * i, q[3 * i + 2] = 0.2 * i;
    random_orthogonal(3, 0, Q);
    rigid_motion(N, 3, Q, t, q, p);
    atoms_options kab;
    atoms_options_default(&kab);
    kab.loss = ATOMS_LOSS_KABSCH;
    eval(&kab, 1, N, 3, q, NULL, p, &got, NULL);
    tap_ok(got < 1e-24, "collinear structure: Kabsch aligns a rotated copy exactly (loss %.1e)", got);
  }

  /* Padded batches: structure 1 has 5 real atoms of 8; its padding rows
   * neither change the loss nor receive gradient, and the loss equals the
   * unpadded evaluation. */
  {
    const int d = 3;
    int64_t natoms[B] = {8, 5, 8};
    random_coords(ref, B * N * d, 1.5);
    for (int a = 0; a < B * N * d; ++a) pred[a] = ref[a] + 0.2 * core_rng_normal(&rng);
    atoms_options opt;
    atoms_options_default(&opt);
    opt.coeff = ATOMS_COEFF_INV_DIST;
    double l0, l1, g[B * N * 3], single;
    eval(&opt, B, N, d, ref, natoms, pred, &l0, g);
    for (int a = 5 * d; a < N * d; ++a) pred[N * d + a] += 10.0;
    eval(&opt, B, N, d, ref, natoms, pred, &l1, NULL);
    int zero = 1;
    for (int a = 5 * d; a < N * d; ++a) zero &= g[N * d + a] == 0.0;
    tap_ok(l0 == l1 && zero, "padding rows change nothing and get zero gradient");
    double err = gradient_error(&opt, d, ref, natoms, pred);
    tap_ok(err < 1e-6, "padded batch gradient matches central differences (rel err %.2e)", err);
    /* Structure 1 alone, unpadded, times 1/B. */
    eval(&opt, 1, 5, d, ref + N * d, NULL, pred + N * d, &single, NULL);
    double l_other;
    int64_t only1[B] = {0, 5, 0};
    eval(&opt, B, N, d, ref, only1, pred, &l_other, NULL);
    tap_close(l_other, single / B, 1e-13, "a padded structure's share equals its unpadded loss / B");
    atoms_options mse;
    atoms_options_default(&mse);
    mse.loss = ATOMS_LOSS_MSE;
    double m0;
    eval(&mse, B, N, d, ref, natoms, pred, &m0, NULL);
    double want = 0;
    for (int b = 0; b < B; ++b)
      for (int a = 0; a < natoms[b] * d; ++a) want += pow(pred[b * N * d + a] - ref[b * N * d + a], 2);
    tap_close(m0, want / (21 * d), 1e-13, "padded MSE is the mean over real coordinates only");
  }

  /* Edge counts: every pair once for complete graphs, n k / 2 per
   * structure for k-regular ones (k = 2d = 6 in 3D). */
  {
    double xyz[B * N * 3];
    random_coords(xyz, B * N * 3, 1.0);
    atoms_options complete, regular;
    atoms_options_default(&complete);
    atoms_options_default(&regular);
    regular.edges = ATOMS_EDGES_REGULAR;
    atoms_plan *pc, *pr;
    atoms_plan_create(MPI_COMM_SELF, &complete, B, 0, B, N, 3, xyz, NULL, &pc);
    atoms_plan_create(MPI_COMM_SELF, &regular, B, 0, B, N, 3, xyz, NULL, &pr);
    tap_ok(atoms_plan_edge_count(pc) == B * N * (N - 1) / 2 && atoms_plan_edge_count(pr) == B * N * 6 / 2,
           "edge counts: complete %lld, 6-regular %lld", (long long)atoms_plan_edge_count(pc),
           (long long)atoms_plan_edge_count(pr));
    atoms_plan_destroy(&pc);
    atoms_plan_destroy(&pr);
  }

  /* atoms_plan_set_reference: a plan given new references (and, for
   * regular graphs, a new draw) gives the bits of a plan created from them,
   * in single precision as the training tasks call it. */
  {
    double r1[B * N * 3], r2[B * N * 3];
    float pf[B * N * 3], g_new[B * N * 3], g_reused[B * N * 3];
    random_coords(r1, B * N * 3, 1.6);
    random_coords(r2, B * N * 3, 1.6);
    for (int a = 0; a < B * N * 3; ++a) pf[a] = (float)(r2[a] + 0.3 * core_rng_normal(&rng));
    static const struct { atoms_loss_kind loss; atoms_edge_kind edges; const char *name; } cases[5] = {
        {ATOMS_LOSS_ENERGY, ATOMS_EDGES_COMPLETE, "energy, complete"},
        {ATOMS_LOSS_ENERGY, ATOMS_EDGES_REGULAR, "energy, 6-regular redrawn"},
        {ATOMS_LOSS_KABSCH, ATOMS_EDGES_COMPLETE, "kabsch"},
        {ATOMS_LOSS_MSE, ATOMS_EDGES_COMPLETE, "mse"},
        {ATOMS_LOSS_MAE, ATOMS_EDGES_COMPLETE, "mae"}};
    for (int c = 0; c < 5; ++c) {
      atoms_options opt;
      atoms_options_default(&opt);
      opt.loss = cases[c].loss, opt.edges = cases[c].edges, opt.coeff = ATOMS_COEFF_EXP_DIST, opt.seed = 3;
      atoms_plan *fresh = NULL, *reused = NULL;
      double l_new = 0, l_reused = 1, l_stale = 0;
      core_status st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, 3, r2, NULL, &fresh);
      if (!st) st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, 3, r1, NULL, &reused);
      if (!st) st = atoms_plan_resample(fresh, 7);
      if (!st) st = atoms_plan_execute_f32(fresh, pf, &l_new, g_new);
      if (!st) st = atoms_plan_execute_f32(reused, pf, &l_stale, g_reused);
      if (!st) st = atoms_plan_set_reference(reused, r2, NULL);
      if (!st) st = atoms_plan_resample(reused, 7);
      if (!st) st = atoms_plan_execute_f32(reused, pf, &l_reused, g_reused);
      tap_ok(!st && l_new == l_reused && !memcmp(g_new, g_reused, sizeof g_new),
             "set_reference, %s: loss and gradient bit-identical to a new plan (%.17g, %.17g)", cases[c].name, l_new,
             l_reused);
      if (c == 0) /* the comparison bites: the plan before set_reference scores the old reference */
        tap_ok(!st && l_stale != l_new, "set_reference check bites: the old reference gives %.9g, not %.9g", l_stale,
               l_new);
      atoms_plan_destroy(&fresh);
      atoms_plan_destroy(&reused);
    }
    atoms_options opt;
    atoms_options_default(&opt);
    atoms_plan *plan = NULL;
    int64_t fewer[B];
    for (int b = 0; b < B; ++b) fewer[b] = b ? N : N - 1;
    core_status st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, 3, r1, NULL, &plan);
    if (!st) st = atoms_plan_set_reference(plan, r2, fewer);
    tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "atom counts"), "set_reference with other atom counts "
           "refused: %s", core_error_message());
    atoms_plan_destroy(&plan);
    opt.edges = ATOMS_EDGES_BONDS;
    opt.element = element;
    st = atoms_plan_create(MPI_COMM_SELF, &opt, B, 0, B, N, 3, r1, NULL, &plan);
    if (!st) st = atoms_plan_set_reference(plan, r2, NULL);
    tap_ok(st == CORE_ERR_ARG && strstr(core_error_message(), "bonds"), "set_reference on bonds refused: %s",
           core_error_message());
    atoms_plan_destroy(&plan);
  }

  /* Bad arguments are refused with a message. */
  {
    atoms_options opt;
    atoms_options_default(&opt);
    opt.edges = ATOMS_EDGES_REGULAR;
    atoms_plan *plan = NULL, *full = NULL;
    /* 4 atoms have no 4-regular graph: their complete graph instead, the
     * same loss and gradient as the complete edge set. */
    double moved[8], g_reg[8], g_full[8], l_reg = NAN, l_full = NAN;
    for (int a = 0; a < 8; ++a) moved[a] = ref[a] + 0.3 * (a % 3 - 1);
    core_status st = atoms_plan_create(MPI_COMM_SELF, &opt, 1, 0, 1, 4, 2, ref, NULL, &plan);
    atoms_options all;
    atoms_options_default(&all);
    if (!st) st = atoms_plan_create(MPI_COMM_SELF, &all, 1, 0, 1, 4, 2, ref, NULL, &full);
    if (!st) st = atoms_plan_execute(plan, moved, &l_reg, g_reg);
    if (!st) st = atoms_plan_execute(full, moved, &l_full, g_full);
    tap_ok(!st && atoms_plan_edge_count(plan) == 6 && l_reg == l_full && l_reg > 0 && !memcmp(g_reg, g_full, sizeof g_reg),
           "4 atoms under 4-regular edges get their complete graph: 6 edges, the complete graph's loss %.6g and "
           "gradient, bit for bit", l_reg);
    atoms_plan_destroy(&plan);
    atoms_plan_destroy(&full);
    opt.degree = 3;
    st = atoms_plan_create(MPI_COMM_SELF, &opt, 1, 0, 1, 5, 2, ref, NULL, &plan);
    tap_ok(st == CORE_ERR_ARG && !plan && strstr(core_error_message(), "3-regular"),
           "no 3-regular graph on 5 atoms (n k odd): %s", core_error_message());
    double bad[6] = {0, 0, 1, NAN, 2, 2};
    atoms_options_default(&opt);
    st = atoms_plan_create(MPI_COMM_SELF, &opt, 1, 0, 1, 3, 2, bad, NULL, &plan);
    tap_ok(st == CORE_ERR_VALUE && strstr(core_error_message(), "non-finite"), "NaN reference refused: %s",
           core_error_message());
  }
  MPI_Finalize();
  return tap_done();
}
