/* libFuzzer harness, raw: the input is an HDF5 file, handed to both HDF5
 * loaders (spinset_load and the denoise task's clustergen reader). Most
 * mutations are refused by libhdf5's own parser before eloss sees a
 * dataset; the structured harnesses (fuzz_h5_spin, fuzz_h5_cluster) are
 * where eloss's checks get exercised. A crash inside libhdf5 itself is
 * libhdf5's bug, reported as such. */
#include <hdf5.h>

#include "fuzz_common.h"

#include "eloss/mc.h"
#include "eloss/spinset.h"
#include "eloss/train.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fuzz_mpi_init();
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  static const uint8_t warm[] = {0};
  LLVMFuzzerTestOneInput(warm, sizeof warm);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file("h5raw", data, size);
  spinset_data d;
  (void)spinset_load(MPI_COMM_SELF, path, &d);
  spinset_data_free(&d);
  train_denoise_options o;
  train_denoise_options_default(&o);
  o.test = path;
  o.width = 2;
  o.shard_size = 1;
  train_task *task = NULL;
  if (!train_denoise_task_create(MPI_COMM_SELF, &o, &task)) train_task_destroy(&task);
  return 0;
}
