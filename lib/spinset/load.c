/* Reading a spin-glass dataset back: what `eloss train` and `eloss eval`
 * learn from, so nothing reaches a model unchecked.
 *
 * spinset_load(comm, path, &data): collective; every rank ends with the
 *   whole dataset (couplings in spin.h's slot layout, ground states,
 *   energies); data owned by the caller, freed by spinset_data_free.
 *
 * Rank 0 alone reads the file (read-only), in chunks of instances, and
 * checks every instance before anyone uses it:
 *   - its stored crc32 against the CRC-32 of its rows (the layout and
 *     order of lib/spinset/generate.c: couplings_*, ground_state, energy,
 *     samples, ground_state_agreement), so a flipped bit anywhere is found;
 *   - spins are +-1 and the stored energy is the energy of the stored
 *     ground state under the stored couplings (to 1e-9 relative).
 * The other ranks receive the arrays by MPI_Bcast. Samples are read only
 * to be checksummed (training uses ground states), a chunk at a time.
 * Every rank holds the whole set: datasets of this suite's experiments are
 * megabytes; sharded loading is for when they are not. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"
#include "eloss/mc.h"
#include "eloss/spinset.h"

static const char *const bond_names[3] = {"couplings_h", "couplings_v", "couplings_z"};

enum { CHUNK = 256 };

/* Product of n extents; -1 past INT64_MAX. */
static int64_t product(int n, const int64_t *d) {
  int64_t p = 1;
  for (int k = 0; k < n; ++k) {
    if (d[k] < 0 || (d[k] && p > INT64_MAX / d[k])) return -1;
    p *= d[k];
  }
  return p;
}

/* The lattice from the shapes spingen writes: ground_state (I, L, L) or
 * (I, L, L, L); open square bonds (I, L, L-1) and (I, L-1, L), periodic
 * (I, G). Collective (every rank asks for the same shapes). */
static core_status layout(io_h5 *f, const char *path, spin_lattice *lat, int64_t *count, int64_t bond_rows[3]) {
  int nd;
  int64_t gs[IO_NDIM_MAX], h[IO_NDIM_MAX];
  CORE_CALL(io_h5_dataset_info(f, "ground_state", &nd, gs));
  CORE_CHECK(nd == 3 || nd == 4, CORE_ERR_FORMAT, "%s: no dataset ground_state of shape (I, L, L) or (I, L, L, L): not "
             "a dataset written by eloss spingen", path);
  const int64_t L = gs[1];
  for (int k = 2; k < nd; ++k)
    CORE_CHECK(gs[k] == L, CORE_ERR_FORMAT, "%s: ground_state has shape (%lld, %lld, %lld%s), not a cubic array",
               path, (long long)gs[0], (long long)gs[1], (long long)gs[2], nd == 4 ? ", ..." : "");
  CORE_CHECK(L >= 2 && L <= (nd == 3 ? SPIN_SQUARE_MAX_L : SPIN_CUBIC_MAX_L), CORE_ERR_FORMAT,
             "%s: lattice size %lld out of range", path, (long long)L);
  int hd;
  CORE_CALL(io_h5_dataset_info(f, "couplings_h", &hd, h));
  CORE_CHECK(hd == nd, CORE_ERR_FORMAT, "%s: couplings_h has rank %d, expected %d", path, hd, nd);
  spin_boundary bc = h[nd - 1] == L - 1 ? SPIN_OPEN : SPIN_PERIODIC;
  CORE_CHECK(nd == 3 || bc == SPIN_PERIODIC, CORE_ERR_FORMAT, "%s: open boundaries on a cubic lattice", path);
  CORE_CALL(spin_lattice_init(lat, nd == 3 ? SPIN_SQUARE : SPIN_CUBIC, bc, (int)L));
  *count = gs[0];
  for (int dir = 0; dir < lat->dim; ++dir) {
    int bd;
    int64_t b[IO_NDIM_MAX], want[3];
    CORE_CALL(io_h5_dataset_info(f, bond_names[dir], &bd, b));
    for (int k = 0; k < lat->dim; ++k) want[k] = L;
    if (bc == SPIN_OPEN) want[dir == 0 ? 1 : 0] = L - 1;
    int ok = bd == nd && b[0] == *count;
    for (int k = 0; ok && k < lat->dim; ++k) ok = b[1 + k] == want[k];
    CORE_CHECK(ok, CORE_ERR_FORMAT, "%s: %s does not have the shape of %lld instances of a %s %s lattice of L = %lld",
               path, bond_names[dir], (long long)*count, spin_boundary_names[bc], spin_lattice_kind_names[lat->kind],
               (long long)L);
    bond_rows[dir] = product(lat->dim, want);
  }
  int ed;
  int64_t e[IO_NDIM_MAX];
  CORE_CALL(io_h5_dataset_info(f, "energy", &ed, e));
  CORE_CHECK(ed == 1 && e[0] == *count, CORE_ERR_FORMAT, "%s: energy is not a vector of %lld values", path,
             (long long)*count);
  CORE_CALL(io_h5_dataset_info(f, "crc32", &ed, e));
  CORE_CHECK(ed == 1 && e[0] == *count, CORE_ERR_FORMAT,
             "%s: no dataset crc32 of %lld checksums (written by an eloss older than its checksums?)", path,
             (long long)*count);
  CORE_CHECK(*count >= 1, CORE_ERR_FORMAT, "%s: no instances", path);
  return CORE_OK;
}

/* Broadcast n bytes from rank 0 in pieces an int can count. */
static core_status bcast_bytes(MPI_Comm comm, void *data, size_t n, const char *path) {
  char *p = data;
  while (n > 0) {
    int piece = n > (size_t)(1 << 30) ? 1 << 30 : (int)n;
    CORE_CHECK(MPI_Bcast(p, piece, MPI_BYTE, 0, comm) == MPI_SUCCESS, CORE_ERR_MPI, "%s: MPI_Bcast failed", path);
    p += piece, n -= (size_t)piece;
  }
  return CORE_OK;
}

core_status spinset_load(MPI_Comm comm, const char *path, spinset_data *d) {
  memset(d, 0, sizeof *d);
  int rank;
  MPI_Comm_rank(comm, &rank);
  io_h5 *f = NULL;
  CORE_CALL(io_h5_open_read(comm, path, &f));
  int64_t count = 0, bond_rows[3] = {0};
  core_status st = layout(f, path, &d->lat, &count, bond_rows);
  int sd = 0, ad = 0;
  int64_t sshape[IO_NDIM_MAX], ashape[IO_NDIM_MAX];
  if (!st) st = io_h5_dataset_info(f, "samples", &sd, sshape);
  if (!st) st = io_h5_dataset_info(f, "ground_state_agreement", &ad, ashape);
  if (!st && ((sd && sshape[0] != count) || (ad && (ad != 1 || ashape[0] != count))))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: samples or ground_state_agreement does not have %lld rows", path,
                    (long long)count);
  const spin_lattice *lat = &d->lat;
  const int64_t n = lat->n_sites, slots = spin_lattice_bond_slots(lat);
  const int64_t sample_row = sd ? product(sd - 1, sshape + 1) : 0;
  const int64_t chunk = count < CHUNK ? count : CHUNK;
  /* Every size below fits an int64 and a size_t (a file's shapes are
   * hostile until checked): the bytes of one instance, times count. */
  const int64_t instance_bytes = 8 * (slots + 1 + 1) + n + sample_row + 1;
  if (!st && (sample_row < 0 || sample_row > INT_MAX || count > (INT64_MAX / 2) / instance_bytes))
    st = CORE_ERROR(CORE_ERR_FORMAT, "%s: %lld instances of %lld bytes are more than this loader holds", path,
                    (long long)count, (long long)instance_bytes);
  double *bonds[3] = {NULL, NULL, NULL};
  int8_t *samples = NULL, *agree = NULL;
  int64_t *crc = NULL;
  if (!st) {
    d->count = count;
    d->J = malloc(sizeof(double) * (size_t)(count * slots));
    d->gs = malloc((size_t)(count * n));
    d->energy = malloc(sizeof(double) * (size_t)count);
    d->crc = malloc(sizeof(uint32_t) * (size_t)count);
    if (rank == 0) {
      for (int dir = 0; dir < lat->dim; ++dir) bonds[dir] = malloc(sizeof(double) * (size_t)(chunk * bond_rows[dir]));
      samples = sd ? malloc((size_t)(chunk * sample_row)) : NULL;
      agree = malloc((size_t)chunk);
      crc = malloc(sizeof(int64_t) * (size_t)chunk);
    }
    int missing = !d->J || !d->gs || !d->energy || !d->crc;
    if (rank == 0) missing |= !bonds[0] || !bonds[1] || (lat->dim == 3 && !bonds[2]) || (sd && !samples) || !agree || !crc;
    if (missing) st = CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %lld instances", path, (long long)count);
  }
  st = core_agree(comm, st);
  for (int64_t start = 0; !st && start < count; start += chunk) {
    const int64_t c = count - start < chunk ? count - start : chunk, mine = rank == 0 ? c : 0;
    int8_t *gs = d->gs + start * n;
    double *energy = d->energy + start;
    for (int dir = 0; !st && dir < lat->dim; ++dir)
      st = io_h5_read_rows(f, bond_names[dir], IO_F64, start, mine, bonds[dir]);
    if (!st) st = io_h5_read_rows(f, "ground_state", IO_I8, start, mine, gs);
    if (!st) st = io_h5_read_rows(f, "energy", IO_F64, start, mine, energy);
    if (!st && sd) st = io_h5_read_rows(f, "samples", IO_I8, start, mine, samples);
    if (!st && ad) st = io_h5_read_rows(f, "ground_state_agreement", IO_I8, start, mine, agree);
    if (!st) st = io_h5_read_rows(f, "crc32", IO_I64, start, mine, crc);
    core_status check = CORE_OK;
    for (int64_t k = 0; !st && !check && k < mine; ++k) {
      const int64_t i = start + k;
      uint32_t sum = 0;
      for (int dir = 0; dir < lat->dim; ++dir)
        sum = io_crc32(sum, bonds[dir] + k * bond_rows[dir], sizeof(double) * (size_t)bond_rows[dir]);
      sum = io_crc32(sum, gs + k * n, (size_t)n);
      sum = io_crc32(sum, &energy[k], sizeof(double));
      if (sd) sum = io_crc32(sum, samples + k * sample_row, (size_t)sample_row);
      if (ad) sum = io_crc32(sum, &agree[k], 1);
      d->crc[i] = sum;
      if ((int64_t)sum != crc[k]) {
        /* Rows never written read as zeros (spins are +-1): an unfinished
         * eloss spingen output, not a damaged one. */
        int64_t zeros = 0;
        for (int64_t s = 0; s < n; ++s) zeros += gs[k * n + s] == 0;
        if (zeros == n && crc[k] == 0)
          check = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld was never written: an unfinished eloss spingen output "
                             "(its <out>.partial)? finish it with the same spingen command and -resume", path,
                             (long long)i);
        else
          check = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld does not match its stored checksum (crc32): the "
                             "file is damaged; regenerate it with eloss spingen", path, (long long)i);
        break;
      }
      double *J = d->J + i * slots;
      if (lat->bc == SPIN_OPEN)
        spin_couplings_from_hv(lat, bonds[0] + k * bond_rows[0], bonds[1] + k * bond_rows[1], J);
      else
        for (int dir = 0; dir < lat->dim; ++dir) memcpy(J + dir * n, bonds[dir] + k * n, sizeof(double) * (size_t)n);
      const int64_t bad = spin_couplings_first_bad(J, slots);
      if (bad >= 0) {
        check = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld: coupling %.15g is not a finite value of size <= %g",
                           path, (long long)i, J[bad], SPIN_COUPLING_MAX);
        break;
      }
      int spins_ok = 1;
      for (int64_t s = 0; s < n; ++s) spins_ok &= gs[k * n + s] == 1 || gs[k * n + s] == -1;
      double e = spins_ok ? spin_energy(lat, J, 0.0, gs + k * n) : NAN;
      if (!spins_ok)
        check = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld: a ground-state spin is not +1 or -1", path, (long long)i);
      else if (!(fabs(e - energy[k]) <= 1e-9 * fmax(1.0, fabs(e))))
        check = CORE_ERROR(CORE_ERR_FORMAT, "%s: instance %lld: the stored energy %.17g is not the energy of the "
                           "stored ground state (%.17g)", path, (long long)i, energy[k], e);
    }
    st = core_agree(comm, st ? st : check);
  }
  if (!st) st = io_h5_attr_read_string(f, "/", "split", d->split, sizeof d->split);
  core_status closed = io_h5_close(&f);
  if (!st) st = closed;
  if (!st) st = bcast_bytes(comm, d->J, sizeof(double) * (size_t)(count * slots), path);
  if (!st) st = bcast_bytes(comm, d->gs, (size_t)(count * n), path);
  if (!st) st = bcast_bytes(comm, d->energy, sizeof(double) * (size_t)count, path);
  if (!st) st = bcast_bytes(comm, d->crc, sizeof(uint32_t) * (size_t)count, path);
  for (int dir = 0; dir < 3; ++dir) free(bonds[dir]);
  free(samples), free(agree), free(crc);
  if (st) spinset_data_free(d);
  return st;
}

void spinset_data_free(spinset_data *d) {
  if (!d) return;
  free(d->J), free(d->gs), free(d->energy), free(d->crc);
  memset(d, 0, sizeof *d);
}
