/* Timing of the lib/nn spin model: one training step's forward + backward
 * (no loss, dz = a fixed random array) on B instances of L x L, per step
 * and per instance. Median of 7 blocks of >= 0.2 s after one warm-up.
 *
 *   OPENBLAS_NUM_THREADS=1 build/bench/nn_bench [L W depth B [blas|dnnl [winograd|direct]]]
 *   (defaults 16 32 8 32, the model's default backend: dnnl when the build
 *   has oneDNN, and its default convolutions: Winograd where oneDNN has them;
 *   circular padding)
 *
 * Prints one line: L=.. W=.. depth=.. B=.. params=.. ms_per_step=.. us_per_instance=.. gflops=..
 * samples_per_s=.. backend=.. (bench/spin_train_torch.py prints the same keys;
 * backend=dnnl+winograd when the block convolutions ran Winograd).
 * gflops counts the 3x3 convolutions' multiply-adds as 2 flops each:
 * forward 2 S 9 (4 W + 2 R W^2) per instance (R = depth / 2 blocks), backward
 * the weight gradients of all and the input gradients of the blocks',
 * 2 S 9 (4 W + 4 R W^2); the rest (1x1, ReLU, im2col) is not counted.
 *
 *   build/bench/nn_bench peak
 * prints the fp32 FMA throughput of one core, measured with a tight loop of
 * independent AVX-512 (else AVX2) FMAs: fma_gflops=.. lanes=.. (the
 * peak bench/nn_run divides by).
 *
 * A second line times cblas_sgemm alone on the forward GEMM of a residual
 * convolution, (W x 9W) (9W x S), the ceiling the layers work against. */
#include <cblas.h>
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* n iterations of 16 independent chains of 16-lane FMAs (latency 4 x 2
 * units needs >= 8 in flight); returns a sum so nothing is optimised away. */
__attribute__((target("avx512f"))) static float fma_loop512(long n) {
  __m512 a[16], m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int k = 0; k < 16; ++k) a[k] = _mm512_set1_ps((float)k);
  for (long i = 0; i < n; ++i)
    for (int k = 0; k < 16; ++k) a[k] = _mm512_fmadd_ps(a[k], m, c);
  for (int k = 1; k < 16; ++k) a[0] = _mm512_add_ps(a[0], a[k]);
  return _mm512_reduce_add_ps(a[0]);
}

__attribute__((target("avx2,fma"))) static float fma_loop256(long n) {
  __m256 a[16], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int k = 0; k < 16; ++k) a[k] = _mm256_set1_ps((float)k);
  for (long i = 0; i < n; ++i)
    for (int k = 0; k < 16; ++k) a[k] = _mm256_fmadd_ps(a[k], m, c);
  float out[8];
  for (int k = 1; k < 16; ++k) a[0] = _mm256_add_ps(a[0], a[k]);
  _mm256_storeu_ps(out, a[0]);
  return out[0];
}

/* Best of 7 runs of 0.1 s: fp32 GFLOPS of one core (2 flops per FMA lane). */
static void fma_peak(void) {
  const int wide = __builtin_cpu_supports("avx512f"), lanes = wide ? 16 : 8;
  const long n = 2000000;
  double best = 0.0;
  volatile float sink = 0.0f;
  for (int k = 0; k < 7; ++k) {
    double t0 = core_time();
    sink += wide ? fma_loop512(n) : fma_loop256(n);
    double t = core_time() - t0;
    double g = 2.0 * lanes * 16.0 * (double)n / t * 1e-9;
    if (g > best) best = g;
  }
  printf("fma_gflops=%.1f lanes=%d\n", best, lanes);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "peak") == 0) {
    fma_peak();
    return 0;
  }
  int L = argc > 1 ? atoi(argv[1]) : 16, W = argc > 2 ? atoi(argv[2]) : 32;
  int depth = argc > 3 ? atoi(argv[3]) : 8, B = argc > 4 ? atoi(argv[4]) : 32;
  const char *backend = argc > 5 ? argv[5] : NULL, *conv = argc > 6 ? argv[6] : "winograd";
  MPI_Init(NULL, NULL);
  spin_lattice lat;
  nn_spin_config cfg = {.L = L, .pad = NN_PAD_CIRCULAR, .width = W, .depth = depth, .max_batch = B,
                        .conv = strcmp(conv, "direct") == 0 ? NN_CONV_DIRECT : NN_CONV_WINOGRAD};
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
         nn_spin_model_backend(m) == NN_BACKEND_BLAS            ? "blas"
         : nn_spin_model_conv_in_use(m) == NN_CONV_WINOGRAD ? "dnnl+winograd"
                                                            : "dnnl");
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
