/* libFuzzer harness, structured: clustergen datasets read by the denoise
 * task (lib/train/denoise_task.c, read_clustergen through
 * train_denoise_task_create, as `eloss eval -task denoise` loads a test
 * set). From the input: T = 1..3 temperatures, K = 1..3 samples, N = 2..5
 * atoms; positions (T, K, N, 3), temperatures (T), energies (T, K), each
 * with a dtype and shape drawn by h5_put (or left out), values from the
 * input; crc32 (T) drawn or right (computed from what the file holds), so
 * that inputs reach the checks behind the checksum. The task is built with
 * a width-2 model on MPI_COMM_SELF and destroyed. */
#include "fuzz_h5_common.h"

#include "eloss/io.h"
#include "eloss/train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_mpi_init();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  static const uint8_t warm[] = {0x00, 0x01};
  LLVMFuzzerTestOneInput(warm, sizeof warm);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_bytes b = {data, size};
  const uint8_t shape = fuzz_u8(&b), flags = fuzz_u8(&b);
  const int T = 1 + shape % 3, K = 1 + (shape >> 2) % 3, N = 2 + (shape >> 4) % 4;
  const char *path = fuzz_path("h5cluster");
  hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (file < 0) abort();
  static double x[3 * 3 * 5 * 3], temps[3], en[3 * 3];
  const int64_t row = (int64_t)K * N * 3;
  for (int64_t k = 0; k < T * row; ++k) x[k] = (flags & 0x80) ? fuzz_f64(&b) : (int8_t)fuzz_u8(&b) / 8.0;
  for (int t = 0; t < T; ++t) temps[t] = fuzz_f64(&b);
  for (int k = 0; k < T * K; ++k) en[k] = fuzz_f64(&b);
  const hsize_t pdims[4] = {(hsize_t)T, (hsize_t)K, (hsize_t)N, 3}, edims[2] = {(hsize_t)T, (hsize_t)K};
  int ok = h5_put(file, "positions", &b, 4, pdims, H5T_NATIVE_DOUBLE, x);
  ok &= h5_put(file, "temperatures", &b, 1, pdims, H5T_NATIVE_DOUBLE, temps);
  ok &= h5_put(file, "energies", &b, 2, edims, H5T_NATIVE_DOUBLE, en);
  int read_ok = ok && (flags & 1) && !h5_get(file, "positions", H5T_NATIVE_DOUBLE, x) &&
                !h5_get(file, "temperatures", H5T_NATIVE_DOUBLE, temps) &&
                !h5_get(file, "energies", H5T_NATIVE_DOUBLE, en);
  static int64_t crc[3];
  for (int t = 0; t < T; ++t) {
    crc[t] = (int64_t)fuzz_u32(&b);
    if (!read_ok) continue;
    uint32_t sum = io_crc32(0, x + t * row, sizeof(double) * (size_t)row);
    sum = io_crc32(sum, en + t * K, sizeof(double) * (size_t)K);
    crc[t] = io_crc32(sum, temps + t, sizeof(double));
  }
  h5_put(file, "crc32", &b, 1, pdims, H5T_NATIVE_INT64, crc);
  if (H5Fclose(file) < 0) abort();

  train_denoise_options o;
  train_denoise_options_default(&o);
  o.test = path;
  o.width = 2;
  o.shard_size = 1;
  o.loss = (atoms_preset)((flags >> 1) % ATOMS_PRESET_COUNT);
  train_task *task = NULL;
  if (!train_denoise_task_create(MPI_COMM_SELF, &o, &task)) train_task_destroy(&task);
  return 0;
}
