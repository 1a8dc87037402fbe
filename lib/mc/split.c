/* One lattice split across ranks with a PETSc DMDA: the path for lattices
 * too large for one rank.
 *
 * mc_split_create / mc_split_sweep / mc_split_energy / mc_split_gather:
 *   collective; mc_split_set_beta: local.
 *
 * Spins live in a DMDA global vector (one double per site, +-1) with star
 * stencil and ghost width 1. A sweep updates the even sublattice, then the
 * odd one; before each colour DMGlobalToLocal refreshes the ghosts, and
 * because sites of one colour do not interact, updating them from the
 * ghosted copy is exact. Site i of sweep t uses the i-th uniform of the
 * stream of (seed, instance, replica, t), reached by core_rng_seek, so
 * no rank depends on another's draws and the run is the same spin for spin
 * on any number of ranks (tested at 1, 2, 4 against a serial model of the
 * same rules). */
#include <math.h>
#include <petscdmda.h>
#include <stdlib.h>

#include "eloss/mc.h"

#define PETSC_TRY(call)                                                              \
  do {                                                                               \
    if ((call) != 0) return CORE_ERROR(CORE_ERR_MPI, "PETSc call failed: %s", #call); \
  } while (0)

struct mc_split {
  MPI_Comm comm;
  spin_lattice lat;
  DM da;
  Vec global, local;
  PetscInt xs, ys, xm, ym;  /* owned block: columns [xs, xs+xm), rows [ys, ys+ym) */
  double *coupling;         /* (xm ym, 4): right, left, down, up; 0 where open */
  uint64_t seed, instance;
  int replica;
  mc_algorithm algorithm;
  double beta;
  int64_t sweeps;
};

static uint64_t purpose(uint64_t base, uint64_t instance) { return base | instance << 8; }

core_status mc_split_create(MPI_Comm comm, const spin_lattice *lat, spin_coupling_law law, uint64_t seed,
                            uint64_t instance, int replica, mc_algorithm algorithm, mc_split **split) {
  *split = NULL;
  CORE_CHECK(lat->kind == SPIN_SQUARE && (lat->bc == SPIN_OPEN || lat->L % 2 == 0), CORE_ERR_UNSUPPORTED,
             "split lattices: square lattices, open or periodic with even L (checkerboard), got %s L = %d",
             lat->kind == SPIN_SQUARE ? "square" : "cubic", lat->L);
  mc_split *sp = calloc(1, sizeof *sp);
  CORE_CHECK(sp, CORE_ERR_MEM, "split lattices: cannot allocate");
  sp->comm = comm, sp->lat = *lat, sp->seed = seed, sp->instance = instance, sp->replica = replica;
  sp->algorithm = algorithm, sp->beta = 1.0;
  *split = sp;
  const DMBoundaryType bt = lat->bc == SPIN_PERIODIC ? DM_BOUNDARY_PERIODIC : DM_BOUNDARY_NONE;
  PETSC_TRY(DMDACreate2d(comm, bt, bt, DMDA_STENCIL_STAR, lat->L, lat->L, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL,
                         NULL, &sp->da));
  PETSC_TRY(DMSetUp(sp->da));
  PETSC_TRY(DMCreateGlobalVector(sp->da, &sp->global));
  PETSC_TRY(DMCreateLocalVector(sp->da, &sp->local));
  PETSC_TRY(DMDAGetCorners(sp->da, &sp->xs, &sp->ys, NULL, &sp->xm, &sp->ym, NULL));
  sp->coupling = malloc(sizeof(double) * 4 * (size_t)(sp->xm * sp->ym > 0 ? sp->xm * sp->ym : 1));
  CORE_CHECK(sp->coupling, CORE_ERR_MEM, "split lattices: cannot allocate couplings");
  const int64_t n = lat->n_sites, L = lat->L;
  PetscScalar **g;
  PETSC_TRY(DMDAVecGetArray(sp->da, sp->global, &g));
  core_rng init;
  core_rng_init(&init, seed, purpose(CORE_PURPOSE_INIT, instance), (uint64_t)replica);
  for (PetscInt y = sp->ys; y < sp->ys + sp->ym; ++y)
    for (PetscInt x = sp->xs; x < sp->xs + sp->xm; ++x) {
      const int64_t site = y * L + x, k = (y - sp->ys) * sp->xm + (x - sp->xs);
      const int64_t left = spin_neighbor(lat, site, 0, -1), up = spin_neighbor(lat, site, 1, -1);
      double *c = sp->coupling + 4 * k;
      c[0] = spin_coupling_slot(lat, law, seed, instance, site);
      c[1] = left >= 0 ? spin_coupling_slot(lat, law, seed, instance, left) : 0.0;
      c[2] = spin_coupling_slot(lat, law, seed, instance, n + site);
      c[3] = up >= 0 ? spin_coupling_slot(lat, law, seed, instance, n + up) : 0.0;
      core_rng_seek(&init, (uint64_t)site);
      g[y][x] = core_rng_u32(&init) & 1 ? 1.0 : -1.0;
    }
  PETSC_TRY(DMDAVecRestoreArray(sp->da, sp->global, &g));
  return CORE_OK;
}

void mc_split_set_beta(mc_split *sp, double beta) { sp->beta = beta; }

core_status mc_split_sweep(mc_split *sp) {
  const int64_t L = sp->lat.L;
  const int open = sp->lat.bc == SPIN_OPEN;
  core_rng rng;
  core_rng_init(&rng, sp->seed, purpose(CORE_PURPOSE_MC, sp->instance), (uint64_t)sp->replica << 40 | (uint64_t)sp->sweeps);
  for (int colour = 0; colour < 2; ++colour) {
    PETSC_TRY(DMGlobalToLocalBegin(sp->da, sp->global, INSERT_VALUES, sp->local));
    PETSC_TRY(DMGlobalToLocalEnd(sp->da, sp->global, INSERT_VALUES, sp->local));
    const PetscScalar **l;
    PetscScalar **g;
    PETSC_TRY(DMDAVecGetArrayRead(sp->da, sp->local, (void *)&l));
    PETSC_TRY(DMDAVecGetArray(sp->da, sp->global, &g));
    for (PetscInt y = sp->ys; y < sp->ys + sp->ym; ++y)
      for (PetscInt x = sp->xs + ((sp->xs + y + colour) % 2); x < sp->xs + sp->xm; x += 2) {
        const double *c = sp->coupling + 4 * ((y - sp->ys) * sp->xm + (x - sp->xs));
        const double s = l[y][x];
        /* Fixed order: +x, -x, +y, -y neighbours, from the (zero) field. */
        double h = 0.0;
        if (!open || x + 1 < L) h += c[0] * l[y][x + 1];
        if (!open || x > 0) h += c[1] * l[y][x - 1];
        if (!open || y + 1 < L) h += c[2] * l[y + 1][x];
        if (!open || y > 0) h += c[3] * l[y - 1][x];
        core_rng_seek(&rng, 2 * (uint64_t)(y * L + x));
        const double u = core_rng_uniform(&rng);
        const double delta = 2.0 * s * h;
        double next = s;
        if (sp->algorithm == MC_METROPOLIS) {
          if (delta <= 0 || u < exp(-sp->beta * delta)) next = -s;
        } else {
          next = u * (1.0 + exp(-2.0 * sp->beta * h)) < 1.0 ? 1.0 : -1.0;
        }
        g[y][x] = next;
      }
    PETSC_TRY(DMDAVecRestoreArray(sp->da, sp->global, &g));
    PETSC_TRY(DMDAVecRestoreArrayRead(sp->da, sp->local, (void *)&l));
  }
  sp->sweeps++;
  return CORE_OK;
}

double mc_split_energy(mc_split *sp) {
  const int64_t L = sp->lat.L;
  const int open = sp->lat.bc == SPIN_OPEN;
  double local_e = 0, total = 0;
  if (DMGlobalToLocalBegin(sp->da, sp->global, INSERT_VALUES, sp->local) ||
      DMGlobalToLocalEnd(sp->da, sp->global, INSERT_VALUES, sp->local))
    return NAN;
  const PetscScalar **l;
  if (DMDAVecGetArrayRead(sp->da, sp->local, (void *)&l)) return NAN;
  /* Each bond once: to the +x and +y neighbours. */
  for (PetscInt y = sp->ys; y < sp->ys + sp->ym; ++y)
    for (PetscInt x = sp->xs; x < sp->xs + sp->xm; ++x) {
      const double *c = sp->coupling + 4 * ((y - sp->ys) * sp->xm + (x - sp->xs));
      if (!open || x + 1 < L) local_e -= c[0] * l[y][x] * l[y][x + 1];
      if (!open || y + 1 < L) local_e -= c[2] * l[y][x] * l[y + 1][x];
    }
  DMDAVecRestoreArrayRead(sp->da, sp->local, (void *)&l);
  if (MPI_Allreduce(&local_e, &total, 1, MPI_DOUBLE, MPI_SUM, sp->comm) != MPI_SUCCESS) return NAN;
  return total;
}

double mc_split_magnetization(mc_split *sp) {
  PetscScalar sum = 0;
  if (VecSum(sp->global, &sum)) return NAN;
  return (double)sum / (double)sp->lat.n_sites;
}

core_status mc_split_gather(mc_split *sp, int8_t *spins) {
  int rank, size;
  MPI_Comm_rank(sp->comm, &rank);
  MPI_Comm_size(sp->comm, &size);
  const int count = (int)(sp->xm * sp->ym);
  int64_t *sites = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
  int8_t *values = malloc((size_t)(count > 0 ? count : 1));
  int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
  int64_t *all_sites = rank == 0 ? malloc(sizeof(int64_t) * (size_t)sp->lat.n_sites) : NULL;
  int8_t *all_values = rank == 0 ? malloc((size_t)sp->lat.n_sites) : NULL;
  core_status st = sites && values && counts && displs && (rank || (all_sites && all_values))
                       ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "split lattices: cannot allocate the gather");
  st = core_agree(sp->comm, st);
  const PetscScalar **g = NULL;
  if (!st && DMDAVecGetArrayRead(sp->da, sp->global, (void *)&g)) st = CORE_ERROR(CORE_ERR_MPI, "PETSc: cannot read spins");
  if (!st) {
    int k = 0;
    for (PetscInt y = sp->ys; y < sp->ys + sp->ym; ++y)
      for (PetscInt x = sp->xs; x < sp->xs + sp->xm; ++x, ++k) {
        sites[k] = y * sp->lat.L + x;
        values[k] = g[y][x] > 0 ? 1 : -1;
      }
    DMDAVecRestoreArrayRead(sp->da, sp->global, (void *)&g);
    int err = MPI_Gather(&count, 1, MPI_INT, counts, 1, MPI_INT, 0, sp->comm);
    if (rank == 0)
      for (int r = 0, at = 0; r < size; at += counts[r], ++r) displs[r] = at;
    if (!err) err = MPI_Gatherv(sites, count, MPI_INT64_T, all_sites, counts, displs, MPI_INT64_T, 0, sp->comm);
    if (!err) err = MPI_Gatherv(values, count, MPI_INT8_T, all_values, counts, displs, MPI_INT8_T, 0, sp->comm);
    if (err) st = CORE_ERROR(CORE_ERR_MPI, "split lattices: gathering the spins failed");
    if (!st && rank == 0)
      for (int64_t i = 0; i < sp->lat.n_sites; ++i) spins[all_sites[i]] = all_values[i];
  }
  free(sites), free(values), free(counts), free(displs), free(all_sites), free(all_values);
  return st;
}

void mc_split_destroy(mc_split **split) {
  if (!split || !*split) return;
  mc_split *sp = *split;
  if (sp->global) VecDestroy(&sp->global);
  if (sp->local) VecDestroy(&sp->local);
  if (sp->da) DMDestroy(&sp->da);
  free(sp->coupling);
  free(sp);
  *split = NULL;
}
