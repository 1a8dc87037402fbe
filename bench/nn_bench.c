/* Timing of the lib/nn spin model: one training step's forward + backward
 * (no loss, dz = a fixed random array) on B instances of L x L, per step
 * and per instance. Median of 7 blocks of >= 0.2 s after one warm-up.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/nn_bench [L W depth B [blas|dnnl]]   (defaults 16 32 8 32, the
 *   model's default backend: dnnl when the build has oneDNN)
 *
 * Prints one line: L=.. W=.. depth=.. B=.. params=.. ms_per_step=.. us_per_instance=.. gflops=..
 * samples_per_s=.. backend=.. (bench/spin_train_torch.py prints the same keys).
 * gflops counts the 3x3 convolutions' multiply-adds as 2 flops each:
 * forward 2 S 9 (4 W + 2 R W^2) per instance (R = depth / 2 blocks), backward
 * the weight gradients of all and the input gradients of the blocks',
 * 2 S 9 (4 W + 4 R W^2); the rest (1x1, ReLU, im2col) is not counted.
 * A second line times cblas_sgemm alone on the forward GEMM of a residual
 * convolution, (W x 9W) (9W x S), the ceiling the layers work against. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int L = argc > 1 ? atoi(argv[1]) : 16, W = argc > 2 ? atoi(argv[2]) : 32;
  int depth = argc > 3 ? atoi(argv[3]) : 8, B = argc > 4 ? atoi(argv[4]) : 32;
  const char *backend = argc > 5 ? argv[5] : NULL;
  MPI_Init(NULL, NULL);
  spin_lattice lat;
  nn_spin_config cfg = {.L = L, .pad = NN_PAD_CIRCULAR, .width = W, .depth = depth, .max_batch = B};
  nn_spin_model *m = NULL;
  if (spin_lattice_init(&lat, SPIN_SQUARE, SPIN_PERIODIC, L) || nn_spin_model_create(&cfg, 1, &m)) {
    fprintf(stderr, "nn_bench: %s\n", core_error_message());
    MPI_Finalize();
    return 2;
  }
  if (backend && nn_spin_model_set_backend(m, strcmp(backend, "dnnl") == 0 ? NN_BACKEND_DNNL : NN_BACKEND_BLAS)) {
    fprintf(stderr, "nn_bench: %s\n", core_error_message());
    MPI_Finalize();
    return 2;
  }
  const int S = L * L;
  double *J = malloc(sizeof(double) * (size_t)B * 2 * S);
  float *x = malloc(sizeof(float) * (size_t)B * 4 * S), *z = malloc(sizeof(float) * (size_t)B * S);
  float *dz = malloc(sizeof(float) * (size_t)B * S);
  for (int b = 0; b < B; ++b) spin_couplings_generate(&lat, SPIN_COUPLING_UNIFORM, 3, (uint64_t)b, J + (size_t)b * 2 * S);
  nn_spin_input(&lat, B, J, x);
  core_rng rng;
  core_rng_init(&rng, 3, CORE_PURPOSE_TEST, 0);
  for (int i = 0; i < B * S; ++i) dz[i] = (float)(core_rng_uniform(&rng) - 0.5) / (float)(B * S);
  nn_params *p = nn_spin_model_params(m);
  nn_spin_model_forward(m, B, x, z);
  nn_spin_model_backward(m, B, dz);
  double blocks[7];
  for (int k = 0; k < 7; ++k) {
    long reps = 0;
    double t0 = core_time(), t;
    do {
      nn_params_zero_grad(p);
      nn_spin_model_forward(m, B, x, z);
      nn_spin_model_backward(m, B, dz);
      ++reps;
    } while ((t = core_time() - t0) < 0.2);
    blocks[k] = t / (double)reps;
  }
  qsort(blocks, 7, sizeof(double), cmp);
  const double R = depth / 2, flops = 2.0 * S * 9 * (8.0 * W + 6.0 * R * W * W) * B;
  printf("L=%d W=%d depth=%d B=%d params=%zu ms_per_step=%.3f us_per_instance=%.1f gflops=%.1f samples_per_s=%.1f "
         "backend=%s\n",
         L, W, depth, B, p->n, 1e3 * blocks[3], 1e6 * blocks[3] / B, 1e-9 * flops / blocks[3], B / blocks[3],
         nn_spin_model_backend(m) == NN_BACKEND_DNNL ? "dnnl" : "blas");
  {
    const int M = W, N = S, K = 9 * W;
    float *a = calloc((size_t)M * K, sizeof(float)), *bm = calloc((size_t)K * N, sizeof(float));
    float *c = calloc((size_t)M * N, sizeof(float));
    for (int k = 0; k < 7; ++k) {
      long reps = 0;
      double t0 = core_time(), t;
      do {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, bm, N, 1.0f, c, N);
        ++reps;
      } while ((t = core_time() - t0) < 0.1);
      blocks[k] = t / (double)reps;
    }
    qsort(blocks, 7, sizeof(double), cmp);
    printf("sgemm M=%d N=%d K=%d gflops=%.1f\n", M, N, K, 1e-9 * 2.0 * M * N * K / blocks[3]);
    free(a), free(bm), free(c);
  }
  nn_spin_model_destroy(&m);
  free(J), free(x), free(z), free(dz);
  MPI_Finalize();
  return 0;
}
