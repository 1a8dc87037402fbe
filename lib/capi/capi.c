/* The flat C interface of eloss/capi.h: the atomistic losses (atoms.h) and
 * the spin losses (spin.h) for callers that only speak plain C types, above
 * all the Python binding in python/eloss (ctypes).
 *
 * capi_version, capi_error_message: pure / thread-local.
 * capi_finalize: ends MPI if capi started it.
 * capi_atoms_plan_create / _execute / _resample / _edges / _destroy,
 *   capi_atoms_loss: local, on MPI_COMM_SELF.
 * capi_spin_loss: local; the library's spin loss makes no MPI call.
 * capi_diffusion_forward: local, no MPI (a model file and the network).
 *
 * Why MPI at all: atoms_plan_create and _execute are collective on a
 * communicator. A foreign caller cannot name MPI_COMM_SELF portably (an
 * MPI_Comm is an int in MPICH, a pointer in Open MPI), so capi picks it,
 * and initialises MPI itself on first use when the host process has not
 * (an interpreter never calls MPI_Init). It asks for MPI_THREAD_SERIALIZED
 * and holds one mutex over every call that may reach MPI (atoms plan
 * creation and execution), because a ctypes caller releases Python's lock
 * during the call and threads may overlap. One rank's execute makes no MPI
 * call today, but atoms.h promises only "collective on the plan's comm".
 *
 * Validation. What the command line checks while reading its files is
 * checked here on the caller's buffers, with the same kind of message: a
 * non-finite prediction or coupling names its position; integer arrays
 * given as int64 (NumPy's default) are range-checked before they are
 * narrowed to the int32 / int the library keeps. Everything else (names,
 * shapes against the lattice, edges outside a structure, targets not +-1,
 * non-finite logits or references) is the library's own check. */
#include "eloss/capi.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/atoms.h"
#include "eloss/core.h"
#include "eloss/spin.h"
#include "eloss/train.h"

#ifndef ELOSS_VERSION
#define ELOSS_VERSION "unknown"
#endif

struct capi_atoms_plan {
  atoms_plan *plan;
  int64_t values;  /* B N d: length of every prediction and gradient */
  int64_t n_atoms; /* N and d, to name the atom of a bad value */
  int d;
};

static pthread_mutex_t mpi_lock = PTHREAD_MUTEX_INITIALIZER;
static int mpi_started_here; /* guarded by mpi_lock */

const char *capi_version(void) { return ELOSS_VERSION; }

const char *capi_error_message(void) { return core_error_message(); }

/* With mpi_lock held: MPI usable, initialising it if nobody has. */
static core_status mpi_ready_locked(void) {
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  CORE_CHECK(!finalised, CORE_ERR_MPI, "eloss: MPI is finalised already (capi_finalize or MPI_Finalize was "
             "called); no loss can run after it in this process");
  if (initialised) return CORE_OK;
  int provided = 0;
  CORE_CHECK(MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided) == MPI_SUCCESS, CORE_ERR_MPI,
             "eloss: MPI_Init_thread failed: the MPI library cannot start in this process");
  mpi_started_here = 1;
  return CORE_OK;
}

int capi_finalize(void) {
  pthread_mutex_lock(&mpi_lock);
  int initialised = 0, finalised = 0, status = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (mpi_started_here && initialised && !finalised) status = MPI_Finalize();
  mpi_started_here = 0;
  pthread_mutex_unlock(&mpi_lock);
  return status == MPI_SUCCESS ? 0 : CORE_ERROR(CORE_ERR_MPI, "eloss: MPI_Finalize failed (code %d)", status);
}

/* Index of the first non-finite value of x (n), or -1. */
static int64_t first_non_finite(const double *x, int64_t n) {
  for (int64_t k = 0; k < n; ++k)
    if (!isfinite(x[k])) return k;
  return -1;
}

/* B N d without overflow, for buffers the caller sized. */
static core_status atoms_shape_check(int64_t batch, int64_t n_atoms, int d, int64_t *values) {
  CORE_CHECK(batch >= 0 && n_atoms >= 0, CORE_ERR_ARG, "eloss: shape (%lld, %lld, %d) has a negative size",
             (long long)batch, (long long)n_atoms, d);
  CORE_CHECK(d == 2 || d == 3, CORE_ERR_ARG, "eloss: expected d = 2 or 3 coordinates per atom, got shape "
             "(%lld, %lld, %d)", (long long)batch, (long long)n_atoms, d);
  CORE_CHECK(n_atoms <= INT32_MAX && (n_atoms == 0 || batch <= INT64_MAX / 3 / n_atoms), CORE_ERR_ARG,
             "eloss: shape (%lld, %lld, %d) is too large", (long long)batch, (long long)n_atoms, d);
  *values = batch * n_atoms * d;
  return CORE_OK;
}

/* Plan creation proper: names resolved, int64 arrays narrowed, the plan
 * built on MPI_COMM_SELF. The caller holds mpi_lock and has MPI ready. */
static core_status atoms_plan_create_locked(const char *loss, const char *coeff, const char *edges, int64_t batch,
                                            int64_t n_atoms, int d, const double *ref, const int64_t *natoms,
                                            double k0, int per_atom, double dmin, const int64_t *edge_list,
                                            int64_t n_edges, int degree, int pool, uint64_t seed,
                                            const int64_t *elements, double bond_tolerance,
                                            capi_atoms_plan **plan) {
  int64_t values = 0;
  CORE_CALL(atoms_shape_check(batch, n_atoms, d, &values));
  CORE_CHECK(ref || values == 0, CORE_ERR_ARG, "eloss: no reference array");
  atoms_options opt;
  atoms_options_default(&opt);
  CORE_CALL(atoms_loss_from_name(loss, &opt.loss));
  CORE_CALL(atoms_coeff_from_name(coeff, &opt.coeff));
  CORE_CALL(atoms_edges_from_name(edges, &opt.edges));
  opt.k0 = k0;
  opt.per_atom = per_atom != 0;
  opt.dmin = dmin;
  CORE_CHECK(degree >= 0, CORE_ERR_ARG, "eloss: regular graph degree %d is negative", degree);
  opt.degree = degree;
  opt.pool = pool;
  opt.seed = seed;
  opt.bond_tolerance = bond_tolerance;
  CORE_CHECK(isfinite(bond_tolerance), CORE_ERR_ARG, "eloss: bond tolerance %g is not finite", bond_tolerance);
  const int energy = opt.loss == ATOMS_LOSS_ENERGY;

  /* Narrow the int64 arrays to the library's int32 / int, refusing what
   * would wrap. The library checks the values against each structure. */
  int32_t *edges32 = NULL;
  int *element_int = NULL;
  core_status st = CORE_OK;
  if (energy && opt.edges == ATOMS_EDGES_EXPLICIT) {
    CORE_CHECK(n_edges >= 0 && (edge_list || n_edges == 0), CORE_ERR_ARG,
               "eloss: explicit edges requested without an edge list");
    edges32 = malloc(sizeof(int32_t) * 2 * (size_t)(n_edges > 0 ? n_edges : 1));
    CORE_CHECK(edges32, CORE_ERR_MEM, "eloss: cannot allocate %lld edges", (long long)n_edges);
    for (int64_t e = 0; e < n_edges && !st; ++e) {
      const int64_t i = edge_list[2 * e], j = edge_list[2 * e + 1];
      if (i < 0 || j < 0 || i >= n_atoms || j >= n_atoms)
        st = CORE_ERROR(CORE_ERR_ARG, "eloss: edge %lld (%lld, %lld) is outside the structures' %lld atoms",
                        (long long)e, (long long)i, (long long)j, (long long)n_atoms);
      edges32[2 * e] = (int32_t)i, edges32[2 * e + 1] = (int32_t)j;
    }
    opt.edge_list = edges32;
    opt.n_edges = n_edges;
  }
  if (!st && energy && opt.edges == ATOMS_EDGES_BONDS) {
    if (!elements) st = CORE_ERROR(CORE_ERR_ARG, "eloss: bond edges need the atoms' elements (atomic numbers)");
    if (!st && !(element_int = malloc(sizeof(int) * (size_t)(batch * n_atoms > 0 ? batch * n_atoms : 1))))
      st = CORE_ERROR(CORE_ERR_MEM, "eloss: cannot allocate the elements of %lld structures", (long long)batch);
    for (int64_t a = 0; !st && a < batch * n_atoms; ++a) {
      if (elements[a] < INT_MIN || elements[a] > INT_MAX) /* the library refuses any Z without a radius */
        st = CORE_ERROR(CORE_ERR_ARG, "eloss: element %lld at structure %lld, atom %lld is not an atomic number",
                        (long long)elements[a], (long long)(a / n_atoms), (long long)(a % n_atoms));
      else
        element_int[a] = (int)elements[a];
    }
    opt.element = element_int;
  }
  capi_atoms_plan *p = NULL;
  if (!st && !(p = calloc(1, sizeof *p))) st = CORE_ERROR(CORE_ERR_MEM, "eloss: cannot allocate a plan");
  if (!st) st = atoms_plan_create(MPI_COMM_SELF, &opt, batch, 0, batch, n_atoms, d, ref, natoms, &p->plan);
  free(edges32);
  free(element_int);
  if (st) {
    free(p);
    return st;
  }
  p->values = values;
  p->n_atoms = n_atoms;
  p->d = d;
  *plan = p;
  return CORE_OK;
}

int capi_atoms_plan_create(const char *loss, const char *coeff, const char *edges, int64_t batch, int64_t n_atoms,
                           int d, const double *ref, const int64_t *natoms, double k0, int per_atom, double dmin,
                           const int64_t *edge_list, int64_t n_edges, int degree, int pool, uint64_t seed,
                           const int64_t *elements, double bond_tolerance, capi_atoms_plan **plan) {
  if (!plan) return CORE_ERROR(CORE_ERR_ARG, "eloss: no place for the plan");
  *plan = NULL;
  pthread_mutex_lock(&mpi_lock);
  core_status st = mpi_ready_locked();
  if (!st)
    st = atoms_plan_create_locked(loss, coeff, edges, batch, n_atoms, d, ref, natoms, k0, per_atom, dmin, edge_list,
                                  n_edges, degree, pool, seed, elements, bond_tolerance, plan);
  pthread_mutex_unlock(&mpi_lock);
  return st;
}

int capi_atoms_plan_execute(capi_atoms_plan *plan, const double *pred, double *loss, double *grad) {
  CORE_CHECK(plan && plan->plan, CORE_ERR_ARG, "eloss: no plan (destroyed or never created)");
  CORE_CHECK(loss, CORE_ERR_ARG, "eloss: no place for the loss");
  CORE_CHECK(pred || plan->values == 0, CORE_ERR_ARG, "eloss: no prediction array");
  /* `eloss loss` refuses a non-finite prediction while reading it; the
   * kernels would propagate it into every gradient row it touches. */
  const int64_t bad = first_non_finite(pred, plan->values);
  if (bad >= 0) {
    const int64_t per_structure = plan->n_atoms * plan->d;
    return CORE_ERROR(CORE_ERR_VALUE, "eloss: pred has a non-finite value (%g) at structure %lld, atom %lld, "
                      "coordinate %lld", pred[bad], (long long)(bad / per_structure),
                      (long long)(bad % per_structure / plan->d), (long long)(bad % plan->d));
  }
  pthread_mutex_lock(&mpi_lock);
  core_status st = atoms_plan_execute(plan->plan, pred, loss, grad);
  pthread_mutex_unlock(&mpi_lock);
  /* Finite inputs can still overflow (squares of coordinates near 1e154). */
  if (!st && !isfinite(*loss))
    st = CORE_ERROR(CORE_ERR_VALUE, "eloss: the loss overflowed to %g: coordinates too large for double precision "
                    "(scale them down)", *loss);
  return st;
}

int capi_atoms_plan_resample(capi_atoms_plan *plan, uint64_t draw) {
  CORE_CHECK(plan && plan->plan, CORE_ERR_ARG, "eloss: no plan (destroyed or never created)");
  return atoms_plan_resample(plan->plan, draw);
}

int capi_atoms_plan_edges(const capi_atoms_plan *plan, int64_t b, int64_t capacity, int32_t *edges, int64_t *count) {
  CORE_CHECK(plan && plan->plan, CORE_ERR_ARG, "eloss: no plan (destroyed or never created)");
  CORE_CHECK(count, CORE_ERR_ARG, "eloss: no place for the edge count");
  return atoms_plan_structure_edges(plan->plan, b, capacity, edges, count);
}

void capi_atoms_plan_destroy(capi_atoms_plan **plan) {
  if (!plan || !*plan) return;
  atoms_plan_destroy(&(*plan)->plan);
  free(*plan);
  *plan = NULL;
}

int capi_atoms_loss(const char *loss, const char *coeff, const char *edges, int64_t batch, int64_t n_atoms, int d,
                    const double *ref, const int64_t *natoms, double k0, int per_atom, double dmin,
                    const int64_t *edge_list, int64_t n_edges, int degree, int pool, uint64_t seed, uint64_t draw,
                    const int64_t *elements, double bond_tolerance, const double *pred, double *loss_value,
                    double *grad) {
  capi_atoms_plan *plan = NULL;
  core_status st = capi_atoms_plan_create(loss, coeff, edges, batch, n_atoms, d, ref, natoms, k0, per_atom, dmin,
                                          edge_list, n_edges, degree, pool, seed, elements, bond_tolerance, &plan);
  if (!st && draw != 0) st = capi_atoms_plan_resample(plan, draw);
  if (!st) st = capi_atoms_plan_execute(plan, pred, loss_value, grad);
  capi_atoms_plan_destroy(&plan);
  return st;
}

/* Couplings jh, jv of either layout -> J (B, 2 L^2) in spin.h's layout. */
static core_status spin_couplings_gather(const spin_lattice *lat, int64_t batch, const double *jh, const double *jv,
                                         double *J) {
  const int64_t n = lat->n_sites, L = lat->L, slots = spin_lattice_bond_slots(lat);
  const int periodic = lat->bc == SPIN_PERIODIC;
  const int64_t h_len = periodic ? n : L * (L - 1);
  const int64_t bad_h = spin_couplings_first_bad(jh, batch * h_len), bad_v = spin_couplings_first_bad(jv, batch * h_len);
  CORE_CHECK(bad_h < 0, CORE_ERR_VALUE, "eloss: jh has a coupling %.15g at flat index %lld: expected a finite value of "
             "size <= %g", bad_h >= 0 ? jh[bad_h] : 0.0, (long long)bad_h, SPIN_COUPLING_MAX);
  CORE_CHECK(bad_v < 0, CORE_ERR_VALUE, "eloss: jv has a coupling %.15g at flat index %lld: expected a finite value of "
             "size <= %g", bad_v >= 0 ? jv[bad_v] : 0.0, (long long)bad_v, SPIN_COUPLING_MAX);
  for (int64_t b = 0; b < batch; ++b) {
    double *Jb = J + b * slots;
    if (periodic) {
      memcpy(Jb, jh + b * n, sizeof(double) * (size_t)n);
      memcpy(Jb + n, jv + b * n, sizeof(double) * (size_t)n);
    } else {
      spin_couplings_from_hv(lat, jh + b * h_len, jv + b * h_len, Jb);
    }
  }
  return CORE_OK;
}

const char *capi_name(const char *vocabulary, int k) {
  static const struct {
    const char *vocabulary;
    const char *const *names;
    int count;
  } table[] = {{"atoms_loss", atoms_loss_names, ATOMS_LOSS_COUNT},
               {"atoms_coeff", atoms_coeff_names, ATOMS_COEFF_COUNT},
               {"atoms_edges", atoms_edges_names, ATOMS_EDGES_COUNT},
               {"atoms_preset", atoms_preset_names, ATOMS_PRESET_COUNT},
               {"spin_loss", spin_loss_names, SPIN_LOSS_COUNT}};
  for (size_t v = 0; vocabulary && v < sizeof table / sizeof table[0]; ++v)
    if (!strcmp(vocabulary, table[v].vocabulary)) return k >= 0 && k < table[v].count ? table[v].names[k] : NULL;
  return NULL;
}

int capi_spin_loss_count(void) { return SPIN_LOSS_COUNT; }

int capi_spin_loss_info(int k, const char **name, const char **summary, unsigned *flags) {
  CORE_CHECK(k >= 0 && k < SPIN_LOSS_COUNT, CORE_ERR_ARG, "eloss: spin loss %d of %d", k, (int)SPIN_LOSS_COUNT);
  *name = spin_loss_table[k].name, *summary = spin_loss_table[k].summary, *flags = spin_loss_table[k].flags;
  return CORE_OK;
}

int capi_spin_loss(const char *loss, double T, double h0, int flip_invariant, int64_t batch, int L, int periodic,
                   const double *jh, const double *jv, const double *logits, const int8_t *target,
                   double *loss_value, double *grad) {
  spin_loss_options opt;
  spin_loss_options_default(&opt);
  CORE_CALL(spin_loss_from_name(loss, &opt.kind));
  opt.T = T;
  opt.h0 = h0;
  opt.flip_invariant = flip_invariant != 0;
  CORE_CHECK(batch >= 1, CORE_ERR_ARG, "eloss: a batch of %lld instances; expected at least one", (long long)batch);
  spin_lattice lat;
  CORE_CALL(spin_lattice_init(&lat, SPIN_SQUARE, periodic ? SPIN_PERIODIC : SPIN_OPEN, L));
  const int64_t slots = spin_lattice_bond_slots(&lat);
  CORE_CHECK(batch <= INT64_MAX / 2 / slots, CORE_ERR_ARG, "eloss: %lld instances of %d x %d are too many",
             (long long)batch, L, L);
  CORE_CHECK(logits, CORE_ERR_ARG, "eloss: no logits array");
  CORE_CHECK(loss_value, CORE_ERR_ARG, "eloss: no place for the loss");
  const int couplings_needed = (spin_loss_table[opt.kind].flags & SPIN_LOSS_NEEDS_COUPLINGS) != 0;
  CORE_CHECK((jh && jv) || !couplings_needed, CORE_ERR_ARG, "eloss: spin loss %s needs the couplings jh and jv",
             spin_loss_names[opt.kind]);
  double *J = NULL;
  if (jh && jv) {
    J = malloc(sizeof(double) * (size_t)(batch * slots));
    CORE_CHECK(J, CORE_ERR_MEM, "eloss: cannot allocate the couplings of %lld instances", (long long)batch);
  }
  spin_loss_plan *plan = NULL;
  core_status st = J ? spin_couplings_gather(&lat, batch, jh, jv, J) : CORE_OK;
  if (!st) st = spin_loss_plan_create(&lat, &opt, &plan);
  if (!st) st = spin_loss_execute(plan, batch, J, logits, target, loss_value, grad);
  spin_loss_plan_destroy(&plan);
  free(J);
  return st;
}

int capi_diffusion_forward(const char *model, int use_ema, int64_t batch, const int64_t *natoms, const float *x,
                           const float *t, float *eps) {
  CORE_CHECK(model && natoms && x && t && eps, CORE_ERR_ARG, "eloss: diffusion_forward: a NULL argument");
  CORE_CHECK(batch >= 1 && batch <= INT_MAX, CORE_ERR_ARG, "eloss: a batch of %lld molecules; expected 1 .. %d",
             (long long)batch, INT_MAX);
  int64_t atoms = 0, largest = 0;
  for (int64_t b = 0; b < batch; ++b) {
    CORE_CHECK(natoms[b] >= 1 && natoms[b] < TRAIN_ARCH_HIST, CORE_ERR_ARG,
               "eloss: molecule %lld has %lld atoms; expected 1 .. %d", (long long)b, (long long)natoms[b],
               TRAIN_ARCH_HIST - 1);
    CORE_CHECK(isfinite(t[b]) && t[b] >= 0 && t[b] <= 1, CORE_ERR_VALUE,
               "eloss: t[%lld] = %g; expected a time in [0, 1]", (long long)b, (double)t[b]);
    atoms += natoms[b];
    largest = natoms[b] > largest ? natoms[b] : largest;
  }
  for (int64_t k = 0; k < atoms * 8; ++k)
    CORE_CHECK(isfinite(x[k]), CORE_ERR_VALUE, "eloss: x has a non-finite value at atom %lld, column %lld",
               (long long)(k / 8), (long long)(k % 8));
  nn_model *net = NULL;
  train_model_meta meta;
  CORE_CALL(train_diffusion_network_open(model, atoms, (int)largest, use_ema != 0, &net, &meta));
  nn_input in = {.B = (int)batch, .x = x, .natoms = natoms, .t = t, .inference = 1};
  core_status st = nn_model_forward(net, &in, eps);
  nn_model_destroy(&net);
  return st;
}
