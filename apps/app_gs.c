/* eloss gs: the exact ground state of one open L x L Edwards-Anderson
 * instance given as two coupling arrays.
 *
 *   eloss gs -jh H.npy -jv V.npy [-gs_method auto|tm|matching] [-out S.npy]
 *
 * H (L, L-1): H[r, c] couples (r, c)-(r, c+1); V (L-1, L): V[r, c] couples
 * (r, c)-(r+1, c). Prints energy=<%.17g>; -out writes the spins as an
 * (L, L) int8 array of +-1 with S[0, 0] = +1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "eloss/io.h"
#include "eloss/mc.h"

static const char help[] =
    "eloss gs: exact ground state of an open L x L Edwards-Anderson lattice without field.\n"
    "-gs_method tm: min-plus transfer matrix over the 2^L states of a row, L <= 20, time\n"
    "~ L^2 2^L (16 x 16: ~20 ms, 20 x 20: ~0.6 s); matching: minimum-weight perfect\n"
    "matching of the frustrated plaquettes on the dual graph, any L (16 x 16: ~1 ms,\n"
    "256 x 256: ~0.6 s, 1024 x 1024: ~17 s; ~2 kB per spin; couplings spanning many\n"
    "decades cost more); auto: the faster (tm below L = 12).\n"
    "The spins are stored in canonical sign: S[0, 0] = +1.\n";

/* Read a float coupling array: -jh of shape (L, L-1) for any L >= 2
 * (rows < 0), or -jv of the shape (rows, cols) -jh fixed. */
static core_status couplings_read(const char *path, const char *option, int64_t rows, int64_t cols,
                                  io_array *a) {
  char found[128];
  CORE_CHECK(path[0], CORE_ERR_ARG, "%s is required", option);
  CORE_CALL(io_npy_read(path, a));
  core_status st = CORE_OK;
  if (a->dtype != IO_F32 && a->dtype != IO_F64)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected float32 or float64 couplings, found %s", path,
                    io_dtype_name(a->dtype));
  else if (rows >= 0 && (a->ndim != 2 || a->shape[0] != rows || a->shape[1] != cols))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected shape (%lld, %lld) for %s, found %s", path, (long long)rows,
                    (long long)cols, option, io_shape_text(a, found, sizeof found));
  else if (rows < 0 && (a->ndim != 2 || a->shape[1] + 1 != a->shape[0]))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: expected shape (L, L-1) for %s, found %s", path, option,
                    io_shape_text(a, found, sizeof found));
  else if (rows < 0 && a->shape[0] < 2)
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: shape (%lld, %lld) for %s is a lattice of L = %lld; expected (L, L-1) "
                    "with L >= 2", path, (long long)a->shape[0], (long long)a->shape[1], option,
                    (long long)a->shape[0]);
  if (!st) st = io_array_convert(a, IO_F64);
  const int64_t bad = st ? -1 : spin_couplings_first_bad(a->data, a->count);
  if (bad >= 0)
    st = CORE_ERROR(CORE_ERR_VALUE, "%s: coupling %.15g at flat index %lld: expected a finite value of size <= %g", path,
                    ((double *)a->data)[bad], (long long)bad, SPIN_COUPLING_MAX);
  if (st) io_array_free(a);
  return st;
}

typedef struct {
  char jh[PETSC_MAX_PATH_LEN], jv[PETSC_MAX_PATH_LEN], out[PETSC_MAX_PATH_LEN];
  PetscInt method; /* 0: auto, else 1 + mc_ground_method */
} gs_args;

static PetscErrorCode gs_options(void *opts) {
  gs_args *a = opts;
  PetscBool set, jh_set, jv_set;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "eloss gs options", NULL);
  PetscCall(app_opt_string(PetscOptionsObject, "-jh", "horizontal couplings (L, L-1) .npy, required", "a file name",
                           a->jh, sizeof a->jh, &jh_set));
  PetscCall(app_opt_string(PetscOptionsObject, "-jv", "vertical couplings (L-1, L) .npy, required", "a file name",
                           a->jv, sizeof a->jv, &jv_set));
  PetscCall(app_opt_string(PetscOptionsObject, "-out", "write the ground-state spins (L, L) int8 .npy here",
                           "a file name", a->out, sizeof a->out, &set));
  const char *methods[1 + MC_GROUND_METHOD_COUNT] = {"auto"};
  for (int k = 0; k < MC_GROUND_METHOD_COUNT; ++k) methods[1 + k] = mc_ground_method_names[k];
  PetscCall(app_opt_enum(PetscOptionsObject, "-gs_method", "tm (transfer matrix, L <= 20) or matching (any L); "
                         "auto = the faster for L", methods, 1 + MC_GROUND_METHOD_COUNT, &a->method, &set));
  PetscOptionsEnd();
  if (!jh_set) app_option_error("-jh", "required: the horizontal couplings (.npy)");
  if (!jv_set) app_option_error("-jv", "required: the vertical couplings (.npy)");
  const char *inputs[] = {a->jh, a->jv};
  app_output_not_input("-out", a->out, inputs, 2);
  return 0;
}

static int gs_main(void *opts) {
  const gs_args *a = opts;
  const char *jh = a->jh, *jv = a->jv, *out = a->out;
  /* One instance: every rank solves it (the same bytes on every rank);
   * rank 0 prints and writes. */
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  io_array H = {0}, V = {0};
  mc_ground *ex = NULL;
  double *J = NULL, energy = 0;
  int8_t *spins = NULL;
  spin_lattice lat;
  core_status st = couplings_read(jh, "-jh", -1, 0, &H);
  int64_t L = st ? 0 : H.shape[0];
  if (!st) st = couplings_read(jv, "-jv", L - 1, L, &V);
  const mc_ground_method method =
      a->method > 0 ? (mc_ground_method)(a->method - 1) : mc_ground_method_default(L > 1 << 20 ? 1 << 20 : (int)L);
  if (!st && (L > 1 << 20 || mc_ground_check((int)L, method))) {
    char why[512];
    snprintf(why, sizeof why, "%s", L > 1 << 20 ? "too large for any exact solver" : core_error_message());
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "%s: L = %lld: %s", jh, (long long)L, why);
  }
  if (!st) st = spin_lattice_init(&lat, SPIN_SQUARE, SPIN_OPEN, (int)L);
  if (!st) st = mc_ground_create((int)L, method, &ex);
  if (!st) {
    J = malloc(sizeof(double) * (size_t)spin_lattice_bond_slots(&lat));
    spins = malloc((size_t)lat.n_sites);
    if (!J || !spins) st = CORE_ERROR(CORE_ERR_MEM, "cannot allocate an %lld x %lld instance", (long long)L, (long long)L);
  }
  if (!st) {
    spin_couplings_from_hv(&lat, H.data, V.data, J);
    st = mc_ground_solve(ex, J, spins, &energy);
  }
  if (!st && rank == 0 && out[0]) {
    int64_t shape[2] = {L, L};
    st = io_npy_write(out, IO_I8, 2, shape, spins);
  }
  st = core_agree(MPI_COMM_WORLD, st);
  if (!st && rank == 0) printf("energy=%.17g\n", energy);
  mc_ground_destroy(&ex);
  io_array_free(&H);
  io_array_free(&V);
  free(J);
  free(spins);
  return st ? app_report("gs", st) : 0;
}

const app_command app_gs_command = {
    .name = "gs",
    .summary = "exact ground state of an open L x L Edwards-Anderson instance",
    .help = help,
    .size = sizeof(gs_args),
    .options = gs_options,
    .run = gs_main,
};
