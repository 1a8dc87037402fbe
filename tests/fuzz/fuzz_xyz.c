/* libFuzzer harness: XYZ molecule files (lib/io/xyz.c). The input is the
 * file. */
#include "fuzz_common.h"

#include "eloss/io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("xyz", data, size);
  io_molecules mol;
  (void)io_xyz_read(path, &mol);
  io_molecules_free(&mol);
  return 0;
}
