/* One lattice split across ranks with a PETSc DMDA: the path for lattices
 * too large for one rank.
 *
 * mc_split_create / mc_split_sweep / mc_split_measure / mc_split_overlap /
 *   mc_split_gather: collective, and each agrees on a status across the
 *   ranks (core_agree) before every collective call it makes, so a local
 *   failure on one rank (fault-injection sites "split.create",
 *   "split.sweep", "split.measure", "split.overlap", "split.gather") makes
 *   every rank return the same error instead of hanging; a failed
 *   mc_split_create leaves *split NULL and frees everything;
 *   mc_split_set_beta: local.
 *
 * The lattice (square or cubic) is cut into slabs along its last axis (y
 * in 2D, z in 3D), with the slab sizes FFTW's MPI interface chooses, so
 * the overlap field of two replicas is already laid out for fftw3-mpi and
 * the structure factor needs no redistribution. Spins live in one DMDA
 * global vector with one degree of freedom per replica (double, +-1), star
 * stencil and ghost width 1: one halo exchange per colour serves every
 * replica. A sweep updates the even sublattice, then the odd one; sites of
 * one colour do not interact, so updating them from the ghosted copy is
 * exact. Site i of sweep t of replica r uses the i-th uniform of the
 * stream (seed, MC | instance << 8, r << 40 | t), reached by
 * core_rng_seek, so no rank depends on another's draws and the run is the
 * same spin for spin on any number of ranks (tested at 1, 2, 4 against a
 * serial model of the same rules). */
#include <fftw3-mpi.h>
#include <math.h>
#include <petscdmda.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/mc.h"

#define PETSC_TRY(call)                                                              \
  do {                                                                               \
    if ((call) != 0) return CORE_ERROR(CORE_ERR_MPI, "PETSc call failed: %s", #call); \
  } while (0)

struct mc_split {
  MPI_Comm comm;
  spin_lattice lat;
  int first_replica, replicas, degree;
  DM da;
  Vec global, local;
  int64_t owned;            /* sites of this rank: its slab */
  int64_t first_site;       /* global index of the slab's first site */
  int64_t ghost_corner[3]; /* ghosted local array: first x, y, z (-1 on a torus) */
  int64_t stride[3];        /* and its steps along x, y, z, in sites */
  double *coupling;         /* (owned, degree): +x, -x, +y, -y, +z, -z; 0 where open */
  uint64_t seed, instance;
  mc_algorithm algorithm;
  double beta;
  int64_t sweeps;
  /* fftw3-mpi structure factor of the overlap field. */
  ptrdiff_t fft_rows, fft_first_row; /* slab of the transform, rows of the last axis */
  double *field;
  fftw_complex *modes;
  fftw_plan plan;
};

static void ensure_fftw_mpi(void) {
  static int ready = 0;
  if (!ready) fftw_mpi_init(), ready = 1;
}

/* The body of mc_split_create: builds *sp step by step, agreeing on a
 * status across the ranks before every collective call, so it returns the
 * same status on every rank; the caller destroys a half-built object. */
static core_status split_setup(mc_split *sp, const spin_lattice *lat, spin_coupling_law law) {
  MPI_Comm comm = sp->comm;
  int size, rank;
  MPI_Comm_size(comm, &size);
  MPI_Comm_rank(comm, &rank);
  ensure_fftw_mpi();
  const ptrdiff_t L = lat->L, half = L / 2 + 1;
  ptrdiff_t rows, first_row, alloc;
  if (lat->dim == 2) alloc = fftw_mpi_local_size_2d(L, half, comm, &rows, &first_row);
  else alloc = fftw_mpi_local_size_3d(L, L, half, comm, &rows, &first_row);
  sp->fft_rows = rows, sp->fft_first_row = first_row;
  /* Every rank needs a slab: the DMDA has no empty ranks. */
  int empty = rows == 0, any_empty = 0;
  CORE_CHECK(MPI_Allreduce(&empty, &any_empty, 1, MPI_INT, MPI_LOR, comm) == MPI_SUCCESS, CORE_ERR_MPI,
             "split lattices: MPI_Allreduce failed");
  CORE_CHECK(!any_empty, CORE_ERR_ARG,
             "split lattices: L = %d over %d ranks leaves a rank without a slab of the last axis; "
             "use fewer ranks", lat->L, size);
  PetscInt *slabs = malloc(sizeof(PetscInt) * (size_t)size);
  core_status st = slabs && !core_fault("split.create") ? CORE_OK
                                                        : CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate");
  st = core_agree(comm, st);
  PetscInt mine = (PetscInt)rows;
  if (!st && MPI_Allgather(&mine, 1, MPIU_INT, slabs, 1, MPIU_INT, comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: MPI_Allgather failed");
  st = core_agree(comm, st);
  if (st) {
    free(slabs);
    return st;
  }
  const DMBoundaryType bt = lat->bc == SPIN_PERIODIC ? DM_BOUNDARY_PERIODIC : DM_BOUNDARY_NONE;
  PetscErrorCode perr;
  if (lat->dim == 2)
    perr = DMDACreate2d(comm, bt, bt, DMDA_STENCIL_STAR, lat->L, lat->L, 1, size, sp->replicas, 1, NULL, slabs, &sp->da);
  else
    perr = DMDACreate3d(comm, bt, bt, bt, DMDA_STENCIL_STAR, lat->L, lat->L, lat->L, 1, 1, size, sp->replicas, 1, NULL,
                        NULL, slabs, &sp->da);
  free(slabs);
  /* PETSc's creators are collective and fail together; agree anyway, so a
   * rank-local failure cannot leave the others in the next one. */
  CORE_CALL(core_agree(comm, perr ? CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot create the DMDA") : CORE_OK));
  CORE_CALL(core_agree(comm, DMSetUp(sp->da) ? CORE_ERROR(CORE_ERR_MPI, "split lattices: DMSetUp failed") : CORE_OK));
  perr = DMCreateGlobalVector(sp->da, &sp->global);
  CORE_CALL(core_agree(comm, perr ? CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot create a vector") : CORE_OK));
  perr = DMCreateLocalVector(sp->da, &sp->local);
  CORE_CALL(core_agree(comm, perr ? CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot create a vector") : CORE_OK));
  /* Local work up to the FFTW plan, which is collective. */
  st = CORE_OK;
  PetscInt xs, ys, zs, xm, ym, zm, gxs, gys, gzs, gxm, gym, gzm;
  if (DMDAGetCorners(sp->da, &xs, &ys, &zs, &xm, &ym, &zm) ||
      DMDAGetGhostCorners(sp->da, &gxs, &gys, &gzs, &gxm, &gym, &gzm))
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot read the DMDA corners");
  const int64_t plane = (int64_t)L * L;
  if (!st) {
    const int64_t last_first = lat->dim == 2 ? ys : zs;
    sp->owned = (int64_t)xm * ym * zm;
    sp->first_site = last_first * (lat->dim == 2 ? L : plane);
    sp->ghost_corner[0] = gxs, sp->ghost_corner[1] = gys, sp->ghost_corner[2] = gzs;
    sp->stride[0] = 1, sp->stride[1] = gxm, sp->stride[2] = (int64_t)gxm * gym;
    if (!(xm == L && (lat->dim == 2 || ym == L) && first_row == last_first && rows == (lat->dim == 2 ? ym : zm)))
      st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "split lattices: the DMDA slabs differ from FFTW's");
  }
  if (!st) {
    sp->coupling = malloc(sizeof(double) * (size_t)(sp->owned * sp->degree + 1));
    sp->field = fftw_alloc_real((size_t)(2 * alloc + 2));
    sp->modes = fftw_alloc_complex((size_t)(alloc + 1));
    if (!sp->coupling || !sp->field || !sp->modes || core_fault("split.create"))
      st = CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate couplings");
  }
  CORE_CALL(core_agree(comm, st));
  if (lat->dim == 2)
    sp->plan = fftw_mpi_plan_dft_r2c_2d(L, L, sp->field, sp->modes, comm, FFTW_ESTIMATE);
  else
    sp->plan = fftw_mpi_plan_dft_r2c_3d(L, L, L, sp->field, sp->modes, comm, FFTW_ESTIMATE);
  st = sp->plan ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot plan the overlap transform");
  CORE_CALL(core_agree(comm, st));
  /* Couplings and initial spins of the slab: local. */
  const int64_t n = lat->n_sites;
  const int replicas = sp->replicas;
  double *g;
  if (VecGetArray(sp->global, &g)) return core_agree(comm, CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot write spins"));
  for (int64_t k = 0; k < sp->owned; ++k) {
    const int64_t site = sp->first_site + k;
    double *c = sp->coupling + k * sp->degree;
    for (int dir = 0; dir < lat->dim; ++dir) {
      const int64_t down = spin_neighbor(lat, site, dir, -1);
      c[2 * dir] = spin_neighbor(lat, site, dir, +1) >= 0 ? spin_coupling_slot(lat, law, sp->seed, sp->instance, dir * n + site) : 0.0;
      c[2 * dir + 1] = down >= 0 ? spin_coupling_slot(lat, law, sp->seed, sp->instance, dir * n + down) : 0.0;
    }
  }
  for (int r = 0; r < replicas; ++r) {
    core_rng init;
    core_rng_init(&init, sp->seed, CORE_PURPOSE_INIT | sp->instance << 8, (uint64_t)(sp->first_replica + r));
    core_rng_seek(&init, (uint64_t)sp->first_site);
    for (int64_t k = 0; k < sp->owned; ++k) g[k * replicas + r] = core_rng_u32(&init) & 1 ? 1.0 : -1.0;
  }
  st = VecRestoreArray(sp->global, &g) ? CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot write spins") : CORE_OK;
  return core_agree(comm, st);
}

core_status mc_split_create(MPI_Comm comm, const spin_lattice *lat, spin_coupling_law law, uint64_t seed,
                            uint64_t instance, int first_replica, int replicas, mc_algorithm algorithm,
                            mc_split **split) {
  *split = NULL;
  core_status st = CORE_OK;
  if (lat->bc != SPIN_OPEN && lat->L % 2 != 0)
    st = CORE_ERROR(CORE_ERR_UNSUPPORTED, "split lattices: periodic lattices need an even L for the checkerboard, "
                                          "got L = %d", lat->L);
  else if (!(replicas >= 1 && first_replica >= 0 && first_replica + replicas < (1 << 20)))
    st = CORE_ERROR(CORE_ERR_ARG, "split lattices: replicas [%d, %d) out of range", first_replica,
                    first_replica + replicas);
  mc_split *sp = NULL;
  if (!st) {
    sp = calloc(1, sizeof *sp);
    if (!sp || core_fault("split.create")) st = CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate");
  }
  st = core_agree(comm, st);
  if (st) {
    free(sp);
    return st;
  }
  sp->comm = comm, sp->lat = *lat, sp->seed = seed, sp->instance = instance;
  sp->first_replica = first_replica, sp->replicas = replicas, sp->degree = 2 * lat->dim;
  sp->algorithm = algorithm, sp->beta = 1.0;
  st = split_setup(sp, lat, law);
  if (st) {
    mc_split_destroy(&sp);
    return st;
  }
  *split = sp;
  return CORE_OK;
}

void mc_split_set_beta(mc_split *sp, double beta) { sp->beta = beta; }

/* Position of site (x, y, z) in the ghosted local array. */
static int64_t ghosted(const mc_split *sp, int64_t x, int64_t y, int64_t z) {
  return (x - sp->ghost_corner[0]) * sp->stride[0] + (y - sp->ghost_corner[1]) * sp->stride[1] +
         (z - sp->ghost_corner[2]) * sp->stride[2];
}

/* The local half of a colour's update: every owned site of that colour,
 * from the ghosted copy. */
static core_status split_update_colour(mc_split *sp, int colour) {
  const spin_lattice *lat = &sp->lat;
  const int R = sp->replicas, D = sp->degree;
  const int64_t L = lat->L, plane = L * L;
  const double *l;
  double *g;
  CORE_CHECK(!core_fault("split.sweep"), CORE_ERR_MPI, "split lattices: cannot access the spins (injected)");
  PETSC_TRY(VecGetArrayRead(sp->local, &l));
  if (VecGetArray(sp->global, &g)) {
    VecRestoreArrayRead(sp->local, &l);
    return CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot access the spins");
  }
  for (int r = 0; r < R; ++r) {
    core_rng rng;
    core_rng_init(&rng, sp->seed, CORE_PURPOSE_MC | sp->instance << 8,
                  (uint64_t)(sp->first_replica + r) << 40 | (uint64_t)sp->sweeps);
    for (int64_t k = 0; k < sp->owned; ++k) {
      const int64_t site = sp->first_site + k;
      const int64_t x = site % L, y = site / L % L, z = site / plane;
      if ((x + y + z) % 2 != colour) continue;
      const int64_t at = ghosted(sp, x, y, z);
      const double *c = sp->coupling + k * D;
      /* Fixed order: +x, -x, +y, -y, +z, -z, from the (zero) field. A
       * zero coupling (a bond leaving an open lattice) is skipped, which
       * also keeps reads inside the ghosted array. */
      double h = 0.0;
      for (int a = 0; a < D; ++a)
        if (c[a] != 0.0) h += c[a] * l[(at + (a % 2 ? -sp->stride[a / 2] : sp->stride[a / 2])) * R + r];
      core_rng_seek(&rng, 2 * (uint64_t)site);
      const double u = core_rng_uniform(&rng);
      const double s = l[at * R + r];
      const double delta = 2.0 * s * h;
      double next = s;
      if (sp->algorithm == MC_METROPOLIS) {
        if (delta <= 0 || u < exp(-sp->beta * delta)) next = -s;
      } else {
        next = u * (1.0 + exp(-2.0 * sp->beta * h)) < 1.0 ? 1.0 : -1.0;
      }
      g[k * R + r] = next;
    }
  }
  PETSC_TRY(VecRestoreArray(sp->global, &g));
  PETSC_TRY(VecRestoreArrayRead(sp->local, &l));
  return CORE_OK;
}

core_status mc_split_sweep(mc_split *sp) {
  for (int colour = 0; colour < 2; ++colour) {
    /* The ghost update is collective: a rank whose last colour failed
     * must not leave the others waiting in it, so the status is agreed
     * after each colour's local work. */
    PETSC_TRY(DMGlobalToLocalBegin(sp->da, sp->global, INSERT_VALUES, sp->local));
    PETSC_TRY(DMGlobalToLocalEnd(sp->da, sp->global, INSERT_VALUES, sp->local));
    CORE_CALL(core_agree(sp->comm, split_update_colour(sp, colour)));
  }
  sp->sweeps++;
  return CORE_OK;
}

core_status mc_split_measure(mc_split *sp, double *energy, double *magnetization) {
  const spin_lattice *lat = &sp->lat;
  const int R = sp->replicas;
  const int64_t L = lat->L, plane = L * L;
  double *local = calloc((size_t)(2 * R), sizeof(double));
  core_status st = local && !core_fault("split.measure") ? CORE_OK
                                                         : CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate");
  /* Agree before the (collective) ghost update. */
  st = core_agree(sp->comm, st);
  if (st) {
    free(local);
    return st;
  }
  const double *l = NULL;
  if (DMGlobalToLocalBegin(sp->da, sp->global, INSERT_VALUES, sp->local) ||
      DMGlobalToLocalEnd(sp->da, sp->global, INSERT_VALUES, sp->local) || VecGetArrayRead(sp->local, &l))
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: PETSc ghost update failed");
  /* Each bond once: to the + neighbour along each axis. */
  for (int64_t k = 0; !st && k < sp->owned; ++k) {
    const int64_t site = sp->first_site + k, at = ghosted(sp, site % L, site / L % L, site / plane);
    const double *c = sp->coupling + k * sp->degree;
    for (int dir = 0; dir < lat->dim; ++dir) {
      if (c[2 * dir] == 0.0) continue;
      for (int r = 0; r < R; ++r) local[r] -= c[2 * dir] * l[at * R + r] * l[(at + sp->stride[dir]) * R + r];
    }
    for (int r = 0; r < R; ++r) local[R + r] += l[at * R + r];
  }
  if (l) VecRestoreArrayRead(sp->local, &l);
  st = core_agree(sp->comm, st);
  if (!st && MPI_Allreduce(MPI_IN_PLACE, local, 2 * R, MPI_DOUBLE, MPI_SUM, sp->comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: MPI_Allreduce failed");
  for (int r = 0; !st && r < R; ++r) {
    if (energy) energy[r] = local[r];
    if (magnetization) magnetization[r] = local[R + r] / (double)lat->n_sites;
  }
  free(local);
  return st;
}

core_status mc_split_overlap(mc_split *sp, int a, int b, double *q, double *chi_kmin) {
  const spin_lattice *lat = &sp->lat;
  const int R = sp->replicas;
  const int64_t L = lat->L, padded = 2 * (L / 2 + 1);
  double sums[4] = {0};
  core_status st = CORE_OK;
  const double *g = NULL;
  if (!(a >= 0 && a < R && b >= 0 && b < R))
    st = CORE_ERROR(CORE_ERR_ARG, "split lattices: no replica pair (%d, %d)", a, b);
  else if (VecGetArrayRead(sp->global, &g) || core_fault("split.overlap"))
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot read the spins for the overlap");
  /* fftw3-mpi's r2c input rows are padded to 2 (L/2 + 1) reals. */
  for (int64_t k = 0; !st && k < sp->owned; ++k) {
    const double v = g[k * R + a] * g[k * R + b];
    sp->field[k / L * padded + k % L] = v;
    sums[0] += v;
  }
  if (g && VecRestoreArrayRead(sp->global, &g) && !st)
    st = CORE_ERROR(CORE_ERR_MPI, "split lattices: cannot release the spins");
  /* The transform is collective: agree first. */
  CORE_CALL(core_agree(sp->comm, st));
  fftw_mpi_execute_dft_r2c(sp->plan, sp->field, sp->modes);
  /* k_min along x: mode (0, .., 0, 1); along y: row 1 of the first plane;
   * along z: plane 1. Each lives on the rank owning that row or plane. */
  const int64_t half = L / 2 + 1;
  for (int d = 0; d < lat->dim; ++d) {
    const int64_t slab_index = d == lat->dim - 1 ? 1 : 0; /* along the split axis: index 1 */
    if (slab_index < sp->fft_first_row || slab_index >= sp->fft_first_row + sp->fft_rows) continue;
    int64_t at = (slab_index - sp->fft_first_row) * (lat->dim == 2 ? half : L * half);
    if (d == 0) at += 1;
    else if (d == 1 && lat->dim == 3) at += half;
    const double re = sp->modes[at][0], im = sp->modes[at][1];
    sums[1 + d] = (re * re + im * im) / (double)lat->n_sites;
  }
  CORE_CHECK(MPI_Allreduce(MPI_IN_PLACE, sums, 4, MPI_DOUBLE, MPI_SUM, sp->comm) == MPI_SUCCESS, CORE_ERR_MPI,
             "split lattices: MPI_Allreduce failed");
  *q = sums[0] / (double)lat->n_sites;
  double chi = 0;
  for (int d = 0; d < lat->dim; ++d) chi += sums[1 + d];
  *chi_kmin = chi / lat->dim;
  return CORE_OK;
}

core_status mc_split_gather(mc_split *sp, int replica, int8_t *spins) {
  int rank, size;
  MPI_Comm_rank(sp->comm, &rank);
  MPI_Comm_size(sp->comm, &size);
  const int count = (int)sp->owned;
  int8_t *values = malloc((size_t)(count > 0 ? count : 1));
  int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
  core_status st = values && counts && displs ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate the gather");
  const double *g = NULL;
  if (!st && (VecGetArrayRead(sp->global, &g) || core_fault("split.gather")))
    st = CORE_ERROR(CORE_ERR_MPI, "PETSc: cannot read spins");
  /* Agree before the gathers. */
  st = core_agree(sp->comm, st);
  if (st && g) VecRestoreArrayRead(sp->global, &g);
  if (!st) {
    /* Slabs are contiguous site ranges in rank order. */
    for (int k = 0; k < count; ++k) values[k] = g[(int64_t)k * sp->replicas + replica] > 0 ? 1 : -1;
    VecRestoreArrayRead(sp->global, &g);
    int err = MPI_Gather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, sp->comm);
    if (rank == 0)
      for (int r = 0, at = 0; r < size; at += counts[r], ++r) displs[r] = at;
    if (!err) err = MPI_Gatherv(values, count, MPI_INT8_T, spins, counts, displs, MPI_INT8_T, 0, sp->comm);
    if (err) st = CORE_ERROR(CORE_ERR_MPI, "split lattices: gathering the spins failed");
  }
  free(values), free(counts), free(displs);
  return st;
}

void mc_split_destroy(mc_split **split) {
  if (!split || !*split) return;
  mc_split *sp = *split;
  if (sp->global) VecDestroy(&sp->global);
  if (sp->local) VecDestroy(&sp->local);
  if (sp->da) DMDestroy(&sp->da);
  if (sp->plan) fftw_destroy_plan(sp->plan);
  fftw_free(sp->field);
  fftw_free(sp->modes);
  free(sp->coupling);
  free(sp);
  *split = NULL;
}
