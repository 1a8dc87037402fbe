/* eloss spinloss: a spin loss and its gradient with respect to the logits,
 * for a batch of square-lattice instances given as .npy arrays.
 *
 *   eloss spinloss -jh H.npy -jv V.npy -logits Z.npy -target Y.npy
 *                  -loss ce|margin|local|true|bond [-T 0.1] [-h0 5]
 *                  [-flip_invariant] [-grad_out G.npy]
 *
 * Z (B, L, L) float64 (float32 accepted) logits, q(s = +1) = sigma(z);
 * Y (B, L, L) int8 of +-1 (not with -loss true, which uses no labels).
 * Couplings: open lattices H (B, L, L-1), V (B, L-1, L) as in `eloss gs`;
 * periodic lattices H and V both (B, L, L), the bond from each site to its
 * + neighbour along x resp. y, wrapping, as `eloss spingen` stores them.
 * The layout is recognised by the shape of H. Prints loss=<%.17g>, the mean
 * over the B instances; -grad_out writes d loss / d Z, (B, L, L) float64.
 * Every rank computes the whole batch (it takes microseconds); rank 0
 * prints and writes. The formulas are in lib/spin/loss.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/spin.h"

static const char help[] =
    "eloss spinloss: a spin loss and its gradient with respect to the logits\n"
    "  ce      mean over sites of softplus(-y z)\n"
    "  margin  mean over sites of max(0, 1 - y z) (subgradient 0 at y z = 1)\n"
    "  local   (1/T)(-sum_i w_i y_i m_i - T S[q]), w_i = y_i h_i(y) + h0 (Eq. 15-16)\n"
    "  bond    (1/T)(-sum_<ij> w_ij y_i y_j m_i m_j - T S[q]), w_ij = J_ij y_i y_j + h0: the local loss on\n"
    "          bonds, invariant under y -> -y (minimisers +-y for h0 > max |J|)\n"
    "  true    -sum_<ij> J_ij m_i m_j - T S[q] (no labels; do not give -target)\n"
    "with m = tanh(z/2), S the entropy of q(s = +1) = sigma(z); the loss is the mean over instances.\n"
    "Couplings: open lattice -jh (B, L, L-1) and -jv (B, L-1, L) as in eloss gs; periodic lattice\n"
    "-jh and -jv both (B, L, L): the bond from each site to its + neighbour along x resp. y,\n"
    "wrapping, as eloss spingen stores them. The shape of -jh tells which.\n"
    "-flip_invariant (ce, margin) takes per instance the better of y and -y; it is refused with\n"
    "local and true, where that min collapses training to a constant prediction (docs/train.md); bond needs none.\n";

/* Read a .npy named by option; CORE_ERR_ARG if the option was not given. */
static core_status array_read(const char *path, const char *option, io_array *a) {
  CORE_CHECK(path[0], CORE_ERR_ARG, "%s is required", option);
  return io_npy_read(path, a);
}

static int shape_is(const io_array *a, int64_t d0, int64_t d1, int64_t d2) {
  return a->ndim == 3 && a->shape[0] == d0 && a->shape[1] == d1 && a->shape[2] == d2;
}

/* Couplings H and V of either layout -> the lattice and J (B, 2 L^2) of
 * spin.h. */
static core_status couplings_load(const char *jh, const char *jv, spin_lattice *lat, int64_t *batch, double **J) {
  io_array H = {0}, V = {0};
  char s[96];
  core_status st = array_read(jh, "-jh", &H);
  if (!st && H.dtype != IO_F32 && H.dtype != IO_F64)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected float32 or float64 couplings, found %s", jh,
                    io_dtype_name(H.dtype));
  if (!st && (H.ndim != 3 || H.shape[0] < 1 || H.shape[1] < 2 ||
              (H.shape[2] != H.shape[1] && H.shape[2] + 1 != H.shape[1])))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: shape %s for -jh; expected (B, L, L-1) (open) or (B, L, L) (periodic) "
                    "with B >= 1, L >= 2", jh, io_shape_text(&H, s, sizeof s));
  const int64_t B = st ? 0 : H.shape[0], L = st ? 0 : H.shape[1];
  const int periodic = !st && H.shape[2] == L;
  if (!st) st = array_read(jv, "-jv", &V);
  if (!st && V.dtype != IO_F32 && V.dtype != IO_F64)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected float32 or float64 couplings, found %s", jv,
                    io_dtype_name(V.dtype));
  if (!st && !shape_is(&V, B, periodic ? L : L - 1, L))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: shape %s for -jv; expected (%lld, %lld, %lld) to match -jh %s (%s)", jv,
                    io_shape_text(&V, s, sizeof s), (long long)B, (long long)(periodic ? L : L - 1), (long long)L, jh,
                    periodic ? "periodic" : "open");
  if (!st) st = spin_lattice_init(lat, SPIN_SQUARE, periodic ? SPIN_PERIODIC : SPIN_OPEN, (int)L);
  if (!st) st = io_array_convert(&H, IO_F64);
  if (!st) st = io_array_convert(&V, IO_F64);
  for (int k = 0; k < 2 && !st; ++k) {
    const io_array *a = k ? &V : &H;
    const int64_t bad = spin_couplings_first_bad(a->data, a->count);
    if (bad >= 0)
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: coupling %.15g at flat index %lld: expected a finite value of size <= %g",
                      k ? jv : jh, ((const double *)a->data)[bad], (long long)bad, SPIN_COUPLING_MAX);
  }
  const int64_t n = st ? 0 : lat->n_sites, slots = st ? 0 : spin_lattice_bond_slots(lat);
  if (!st && !(*J = malloc(sizeof(double) * (size_t)(B * slots))))
    st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the couplings of %lld instances", (long long)B);
  for (int64_t b = 0; !st && b < B; ++b) {
    const double *h = (const double *)H.data, *v = (const double *)V.data;
    double *Jb = *J + b * slots;
    if (periodic) {
      memcpy(Jb, h + b * n, sizeof(double) * (size_t)n);
      memcpy(Jb + n, v + b * n, sizeof(double) * (size_t)n);
    } else {
      spin_couplings_from_hv(lat, h + b * L * (L - 1), v + b * (L - 1) * L, Jb);
    }
  }
  *batch = B;
  io_array_free(&H);
  io_array_free(&V);
  return st;
}

typedef struct {
  char jh[PETSC_MAX_PATH_LEN], jv[PETSC_MAX_PATH_LEN], zpath[PETSC_MAX_PATH_LEN], ypath[PETSC_MAX_PATH_LEN],
      gout[PETSC_MAX_PATH_LEN];
  spin_loss_options opt;
} spinloss_args;

static PetscErrorCode spinloss_options(void *opts) {
  spinloss_args *a = opts;
  spin_loss_options_default(&a->opt);
  PetscInt kind = SPIN_LOSS_CE;
  PetscReal T = a->opt.T, h0 = a->opt.h0;
  PetscBool flip = PETSC_FALSE, set, set_jh, set_jv, set_logits, set_target, set_T, set_h0, set_flip;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss spinloss options", NULL);
  PetscOptionItems *po = PetscOptionsObject;
  PetscCall(app_opt_string(po, "-jh", "horizontal couplings (B, L, L-1) open or (B, L, L) periodic .npy",
                           "a file name", a->jh, sizeof a->jh, &set_jh));
  PetscCall(app_opt_string(po, "-jv", "vertical couplings (B, L-1, L) open or (B, L, L) periodic .npy",
                           "a file name", a->jv, sizeof a->jv, &set_jv));
  PetscCall(app_opt_string(po, "-logits", "logits Z (B, L, L) float64 .npy, q(s = +1) = sigma(z)",
                           "a file name", a->zpath, sizeof a->zpath, &set_logits));
  PetscCall(app_opt_string(po, "-target", "target spins Y (B, L, L) int8 of +-1 .npy (not for true)",
                           "a file name", a->ypath, sizeof a->ypath, &set_target));
  PetscCall(app_opt_enum(po, "-loss", "the loss", spin_loss_names, SPIN_LOSS_COUNT, &kind, &set));
  PetscCall(app_opt_real(po, "-T", "temperature of local (> 0) and true (>= 0), in units of J", 0, INFINITY, 0,
                         &T, &set_T));
  PetscCall(app_opt_real(po, "-h0", "local, bond: constant of w_i = y_i h_i(y) + h0, w_ij = J_ij y_i y_j + h0",
                         -INFINITY, INFINITY, 0, &h0, &set_h0));
  PetscCall(app_opt_bool(po, "-flip_invariant", "ce, margin: loss of the better of y and -y", &flip, &set_flip));
  PetscCall(app_opt_string(po, "-grad_out", "write d loss / d logits (B, L, L) float64 .npy here",
                           "a file name", a->gout, sizeof a->gout, &set));
  PetscOptionsEnd();
  a->opt.kind = (spin_loss_kind)kind;
  a->opt.T = T;
  a->opt.h0 = h0;
  a->opt.flip_invariant = flip == PETSC_TRUE;
  const char *refused;
  if (spin_loss_options_check(&a->opt, (set_T ? SPIN_LOSS_GIVEN_T : 0) | (set_h0 ? SPIN_LOSS_GIVEN_H0 : 0) |
                                           (set_target ? SPIN_LOSS_GIVEN_TARGET : 0), &refused))
    app_option_error(refused, "%s", core_error_message());
  /* After the checks of values: a wrong value is the first thing to hear of. */
  if (!set_jh) app_option_error("-jh", "required: the horizontal couplings (.npy)");
  if (!set_jv) app_option_error("-jv", "required: the vertical couplings (.npy)");
  if (!set_logits) app_option_error("-logits", "required: the logits (.npy)");
  if (!set_target && (spin_loss_table[kind].flags & SPIN_LOSS_NEEDS_LABELS))
    app_option_error("-target", "required for -loss %s: the target spins (.npy)", spin_loss_names[kind]);
  const char *inputs[] = {a->jh, a->jv, a->zpath, a->ypath};
  app_output_not_input("-grad_out", a->gout, inputs, 4);
  return 0;
}

static int spinloss_main(void *opts) {
  const spinloss_args *a = opts;
  const char *jh = a->jh, *jv = a->jv, *zpath = a->zpath, *ypath = a->ypath, *gout = a->gout;
  const spin_loss_options opt = a->opt;
  const spin_loss_kind kind = opt.kind;
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  spin_lattice lat;
  spin_loss_plan *plan = NULL;
  io_array Z = {0}, Y = {0};
  double *J = NULL, *grad = NULL, loss = 0;
  int64_t B = 0;
  char s[96];
  core_status st = couplings_load(jh, jv, &lat, &B, &J);
  const int64_t L = st ? 0 : lat.L;
  if (!st) st = array_read(zpath, "-logits", &Z);
  if (!st && Z.dtype != IO_F32 && Z.dtype != IO_F64)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected float64 logits, found %s", zpath, io_dtype_name(Z.dtype));
  if (!st && !shape_is(&Z, B, L, L))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: shape %s for -logits; expected (%lld, %lld, %lld) to match -jh %s", zpath,
                    io_shape_text(&Z, s, sizeof s), (long long)B, (long long)L, (long long)L, jh);
  if (!st) st = io_array_convert(&Z, IO_F64);
  for (int64_t k = 0; !st && k < Z.count; ++k)
    if (!isfinite(((const double *)Z.data)[k]))
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: non-finite logit at flat index %lld", zpath, (long long)k);
  if (!st && (spin_loss_table[kind].flags & SPIN_LOSS_NEEDS_LABELS)) {
    st = array_read(ypath, "-target", &Y);
    if (!st && Y.dtype != IO_I8)
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected int8 target spins, found %s", ypath, io_dtype_name(Y.dtype));
    if (!st && !shape_is(&Y, B, L, L))
      st = CORE_ERROR(CORE_ERR_FORMAT, "%s: shape %s for -target; expected (%lld, %lld, %lld) to match -jh %s", ypath,
                      io_shape_text(&Y, s, sizeof s), (long long)B, (long long)L, (long long)L, jh);
    for (int64_t k = 0; !st && k < Y.count; ++k) {
      const int8_t v = ((const int8_t *)Y.data)[k];
      if (v != 1 && v != -1)
        st = CORE_ERROR(CORE_ERR_VALUE, "%s: target %d at flat index %lld; expected +1 or -1", ypath, (int)v,
                        (long long)k);
    }
  }
  if (!st) st = spin_loss_plan_create(&lat, &opt, &plan);
  if (!st && gout[0] && !(grad = malloc(sizeof(double) * (size_t)(B * lat.n_sites))))
    st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate the gradient of %lld instances", (long long)B);
  if (!st) st = spin_loss_execute(plan, B, J, Z.data, Y.data, &loss, grad);
  if (!st && rank == 0 && gout[0]) {
    int64_t shape[3] = {B, L, L};
    st = io_npy_write(gout, IO_F64, 3, shape, grad);
  }
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st && rank == 0) printf("loss=%.17g\n", loss);
  spin_loss_plan_destroy(&plan);
  io_array_free(&Z);
  io_array_free(&Y);
  free(J);
  free(grad);
  return st ? app_report("spinloss", st) : 0;
}

const app_command app_spinloss_command = {
    .name = "spinloss",
    .summary = "spin loss + gradient on logits (ce, margin, local Eq. 15-16, true, bond)",
    .help = help,
    .size = sizeof(spinloss_args),
    .options = spinloss_options,
    .run = spinloss_main,
};
