/* libFuzzer harness, structured: spin-glass datasets read by
 * spinset_load (lib/spinset/load.c, what `eloss train` and `eval`
 * load). From the input it draws a lattice (square or cubic, open or
 * periodic, L = 2..5, 1..3 instances), then writes with the HDF5 API
 * ground_state, couplings_h/_v/_z, samples and ground_state_agreement,
 * each with a dtype and shape drawn by h5_put (or left out), spins and
 * couplings from the input; then energy and crc32, either from the input
 * or right (computed from what the file holds, by the loader's rules), so
 * that inputs get past the checksum to the checks behind it; then the
 * "split" attribute in one of five forms. The loader runs on
 * MPI_COMM_SELF. */
#include "fuzz_h5_common.h"

#include "eloss/io.h"
#include "eloss/mc.h"
#include "eloss/spinset.h"
#include "eloss/spin.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_mpi_init();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  static const uint8_t warm[] = {0x00, 0x03};
  LLVMFuzzerTestOneInput(warm, sizeof warm);
  return 0;
}

enum { MAX_I = 3, MAX_N = 125 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_bytes b = {data, size};
  const uint8_t shape = fuzz_u8(&b), flags = fuzz_u8(&b);
  const int cubic = shape & 1, periodic = cubic || (shape & 2), L = 2 + (shape >> 2) % 4, I = 1 + (shape >> 4) % MAX_I;
  spin_lattice lat;
  if (spin_lattice_init(&lat, cubic ? SPIN_CUBIC : SPIN_SQUARE, periodic ? SPIN_PERIODIC : SPIN_OPEN, L)) return 0;
  const int dim = lat.dim;
  const int64_t n = lat.n_sites;
  static const char *const bond_names[3] = {"couplings_h", "couplings_v", "couplings_z"};

  const char *path = fuzz_path("h5spin");
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) abort();

  /* ground_state (I, L, L[, L]) */
  static int8_t gs[MAX_I * MAX_N];
  hsize_t gdims[4] = {(hsize_t)I, (hsize_t)L, (hsize_t)L, (hsize_t)L};
  for (int64_t k = 0; k < I * n; ++k) {
    const uint8_t v = fuzz_u8(&b);
    gs[k] = (flags & 0x80) ? (int8_t)v : (v & 1) ? 1 : -1;
  }
  int ok = h5_put(file, "ground_state", &b, 1 + dim, gdims, H5T_NATIVE_INT8, gs);

  /* couplings: open square (I, L, L-1) and (I, L-1, L); else (I, L, L[, L]) */
  static double bonds[3][MAX_I * MAX_N];
  int64_t rows[3];
  for (int dir = 0; dir < dim; ++dir) {
    hsize_t bd[4] = {(hsize_t)I, (hsize_t)L, (hsize_t)L, (hsize_t)L};
    if (!periodic) bd[dir == 0 ? 2 : 1] = (hsize_t)(L - 1);
    rows[dir] = (int64_t)(bd[1] * bd[2] * (dim == 3 ? bd[3] : 1));
    for (int64_t k = 0; k < I * rows[dir]; ++k) bonds[dir][k] = (int8_t)fuzz_u8(&b) / 16.0;
    ok &= h5_put(file, bond_names[dir], &b, 1 + dim, bd, H5T_NATIVE_DOUBLE, bonds[dir]);
  }

  /* samples (I, S, L, L[, L]) and ground_state_agreement (I), optional */
  static int8_t samples[MAX_I * 2 * MAX_N], agree[MAX_I];
  const int S = 1 + (flags >> 4) % 2;
  hsize_t sdims[5] = {(hsize_t)I, (hsize_t)S, (hsize_t)L, (hsize_t)L, (hsize_t)L};
  for (int64_t k = 0; k < I * S * n; ++k) samples[k] = (fuzz_u8(&b) & 1) ? 1 : -1;
  for (int k = 0; k < I; ++k) agree[k] = (int8_t)fuzz_u8(&b);
  int have_samples = 0, have_agree = 0;
  if (flags & 4) have_samples = h5_put(file, "samples", &b, 2 + dim, sdims, H5T_NATIVE_INT8, samples);
  if (flags & 8) have_agree = h5_put(file, "ground_state_agreement", &b, 1, gdims, H5T_NATIVE_INT8, agree);

  /* energy (I): drawn, or the energy of what the file holds */
  static double energy[MAX_I], J[MAX_I * 3 * MAX_N];
  const int64_t slots = spin_lattice_bond_slots(&lat);
  int read_ok = ok && (flags & 3) && !h5_get(file, "ground_state", H5T_NATIVE_INT8, gs);
  for (int dir = 0; read_ok && dir < dim; ++dir) read_ok = !h5_get(file, bond_names[dir], H5T_NATIVE_DOUBLE, bonds[dir]);
  for (int i = 0; i < I; ++i) {
    energy[i] = fuzz_f64(&b);
    if (!read_ok || !(flags & 1)) continue;
    double *Ji = J + i * slots;
    if (!periodic) spin_couplings_from_hv(&lat, bonds[0] + i * rows[0], bonds[1] + i * rows[1], Ji);
    else for (int dir = 0; dir < dim; ++dir) memcpy(Ji + dir * n, bonds[dir] + i * n, sizeof(double) * (size_t)n);
    energy[i] = spin_energy(&lat, Ji, 0.0, gs + i * n);
  }
  ok &= h5_put(file, "energy", &b, 1, gdims, H5T_NATIVE_DOUBLE, energy);

  /* crc32 (I): drawn, or the CRC-32 of each instance's rows as stored */
  static int64_t crc[MAX_I];
  if (have_samples) have_samples = !h5_get(file, "samples", H5T_NATIVE_INT8, samples);
  if (have_agree) have_agree = !h5_get(file, "ground_state_agreement", H5T_NATIVE_INT8, agree);
  read_ok = read_ok && ok && (flags & 2) && !h5_get(file, "energy", H5T_NATIVE_DOUBLE, energy);
  for (int i = 0; i < I; ++i) {
    crc[i] = (int64_t)fuzz_u32(&b);
    if (!read_ok) continue;
    uint32_t sum = 0;
    for (int dir = 0; dir < dim; ++dir)
      sum = io_crc32(sum, bonds[dir] + i * rows[dir], sizeof(double) * (size_t)rows[dir]);
    sum = io_crc32(sum, gs + i * n, (size_t)n);
    sum = io_crc32(sum, &energy[i], sizeof(double));
    if (have_samples) sum = io_crc32(sum, samples + i * S * n, (size_t)(S * n));
    if (have_agree) sum = io_crc32(sum, &agree[i], 1);
    crc[i] = sum;
  }
  h5_put(file, "crc32", &b, 1, gdims, H5T_NATIVE_INT64, crc);
  h5_put_attr(file, "split", &b);
  if (H5Fclose(file) < 0) abort();

  spinset_data d;
  (void)spinset_load(MPI_COMM_SELF, path, &d);
  spinset_data_free(&d);
  return 0;
}
