/* libFuzzer harness: NumPy .npy files (lib/io/npy.c). The input is the
 * file: io_npy_info, io_npy_read (then io_array_convert to float64 and
 * float32) and io_npy_read_rows of the second row. */
#include "fuzz_common.h"

#include "eloss/io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("npy", data, size);
  io_array a;
  memset(&a, 0, sizeof a);
  (void)io_npy_info(path, &a);
  if (!io_npy_read(path, &a)) {
    io_array b = a;
    b.data = NULL;
    (void)io_array_convert(&a, IO_F64);
    (void)io_array_convert(&a, IO_F32);
    io_array_free(&a);
    (void)io_npy_read_rows(path, 1, 1, &b);
    io_array_free(&b);
  }
  io_array_free(&a);
  return 0;
}
