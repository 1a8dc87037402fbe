/* libFuzzer harness: checkpoint files (lib/io/checkpoint.c). The input is
 * the file, read as a "fuzz" checkpoint of three sections (16, 0 and 40
 * bytes), whole and by its first section, as train and spingen read theirs. */
#include "fuzz_common.h"

#include "eloss/io.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("ckpt", data, size);
  unsigned char head[16], empty[1], body[40];
  const io_ckpt_section sections[3] = {{"head", head, sizeof head}, {"empty", empty, 0}, {"body", body, sizeof body}};
  uint32_t crc = 0;
  int found = 0;
  (void)io_ckpt_read(path, "fuzz", &crc, 3, sections, &found);
  (void)io_ckpt_read_first(path, "fuzz", &crc, 1, sections);
  return 0;
}
