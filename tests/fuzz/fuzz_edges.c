/* libFuzzer harness: edge lists (lib/io/edges.c), an (E, 2) int .npy. The
 * input is the file, read with the vertex count inferred and with n = 7. */
#include "fuzz_common.h"

#include "eloss/io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("edges", data, size);
  for (int64_t n_given = 0; n_given <= 7; n_given += 7) {
    int32_t *edges = NULL;
    int64_t m = 0, n = 0;
    if (!io_edges_read(path, n_given, &edges, &m, &n)) free(edges);
  }
  return 0;
}
