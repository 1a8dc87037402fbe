/* A graph network's training step (forward + backward, float32, no
 * optimizer) on a batch of molecules of QM9-like sizes, for bench/graph_run
 * against the same network in PyTorch (bench/graph_torch.py).
 *
 *   graph_bench <gdm|egnn> <width> <layers> <molecules> [features] [forward]
 *
 * With "forward", forward passes only: what a sampler runs T times.
 *
 * Molecule b has 10 + (7 b) % 20 atoms (10 .. 29, mean ~19.5, QM9's range),
 * the same list as graph_torch.py. Prints steps_per_s and molecules_per_s:
 * the median of 7 blocks of >= 0.2 s after a warm-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eloss/nn.h"

static int cmp(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 5 || (strcmp(argv[1], "gdm") && strcmp(argv[1], "egnn"))) {
    fprintf(stderr, "usage: graph_bench <gdm|egnn> <width> <layers> <molecules> [features] [forward]\n");
    return 2;
  }
  const int egnn = !strcmp(argv[1], "egnn");
  const int H = atoi(argv[2]), L = atoi(argv[3]), B = atoi(argv[4]), F = argc > 5 ? atoi(argv[5]) : 5;
  const int forward_only = argc > 6 && !strcmp(argv[6], "forward");
  int64_t *natoms = malloc(sizeof(int64_t) * (size_t)B), atoms = 0, pairs = 0;
  for (int b = 0; b < B; ++b)
    natoms[b] = 10 + (7 * b) % 20, atoms += natoms[b], pairs += natoms[b] * (natoms[b] - egnn);
  nn_gdm_config gdm = {.features = F, .width = H, .layers = L, .norm = 1.0, .max_atoms = (int)atoms,
                       .max_pairs = pairs};
  nn_egnn_config eg = {.features = F, .width = H, .layers = L, .norm = 1.0, .coords_range = 15.0,
                       .max_atoms = (int)atoms, .max_pairs = pairs};
  nn_model *m = NULL;
  if (nn_model_create(argv[1], egnn ? (const void *)&eg : (const void *)&gdm, 1, &m)) {
    fprintf(stderr, "graph_bench: %s\n", core_error_message());
    return 1;
  }
  const int d = 3 + F;
  float *x = malloc(sizeof(float) * (size_t)(atoms * d)), *y = malloc(sizeof(float) * (size_t)(atoms * d));
  float *dy = malloc(sizeof(float) * (size_t)(atoms * d)), *t = malloc(sizeof(float) * (size_t)B);
  core_rng rng;
  core_rng_init(&rng, 3, CORE_PURPOSE_TEST, 0);
  for (int64_t k = 0; k < atoms * d; ++k) x[k] = (float)core_rng_normal(&rng), dy[k] = (float)core_rng_normal(&rng);
  for (int b = 0; b < B; ++b) t[b] = (float)core_rng_uniform(&rng);
  nn_params *p = nn_model_params(m);
  nn_input in = {.B = B, .x = x, .natoms = natoms, .t = t, .inference = forward_only};
  for (int w = 0; w < 3; ++w) {
    nn_params_zero_grad(p);
    nn_model_forward(m, &in, y);
    if (!forward_only) nn_model_backward(m, B, dy);
  }
  double rate[7];
  for (int r = 0; r < 7; ++r) {
    int steps = 0;
    const double t0 = core_time();
    double el = 0;
    do {
      nn_params_zero_grad(p);
      nn_model_forward(m, &in, y);
      if (!forward_only) nn_model_backward(m, B, dy);
      ++steps;
      el = core_time() - t0;
    } while (el < 0.2);
    rate[r] = steps / el;
  }
  qsort(rate, 7, sizeof rate[0], cmp);
  printf("network=%s width=%d layers=%d molecules=%d atoms=%lld pairs=%lld params=%zu steps_per_s=%.4g "
         "molecules_per_s=%.4g\n",
         argv[1], H, L, B, (long long)atoms, (long long)pairs, p->n, rate[3], rate[3] * B);
  nn_model_destroy(&m);
  free(natoms), free(x), free(y), free(dy), free(t);
  return 0;
}
