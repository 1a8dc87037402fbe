/* What the graph networks of molecules share (gdm.c, egnn.c): GEMMs on one
 * thread, the ordered pairs of concatenated molecules, the sum over an
 * atom's pairs and EDM's two-layer edge MLP with its hand-written backward
 * (nn_impl.h documents each).
 *
 * The edge MLP's first layer is never a GEMM over the pairs: W [h_i, h_j]
 * = W_a h_i + W_b h_j is two GEMMs over the atoms, added per pair, n times
 * fewer flops; only its second layer, a (pairs, H) x (H, H) GEMM, runs over
 * the pairs, and dominates a step. */
#include <cblas.h>
#include <math.h>
#ifdef ELOSS_HAVE_DNNL
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

/* On oneDNN when the build has it: its GEMM dispatches on the CPU it runs
 * on, where Debian's OpenBLAS may take an unknown CPU for a 2004 one
 * (measured: its SSE3 "Prescott" kernel, GDM 4.7 -> 2.7 steps/s at width
 * 128). One thread: the trainer runs one rank per core, and the bits then
 * depend on nothing but the inputs. */
void nn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc) {
#ifdef ELOSS_HAVE_DNNL
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  omp_set_num_threads(saved);
#else
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B,
              ldb, beta, C, ldc);
#endif
}

void nn_gemm_wt(float *out, const float *in, int rows, int K, const float *w, int ldw, const float *bias, int H) {
  for (int i = 0; i < rows; ++i)
    if (bias) memcpy(out + (size_t)i * H, bias, sizeof(float) * (size_t)H);
    else memset(out + (size_t)i * H, 0, sizeof(float) * (size_t)H);
  nn_gemm(0, 1, rows, H, K, 1.0f, in, K, w, ldw, 1.0f, out, H);
}

void nn_gemm_grad(float *dw, int ldw, const float *dout, int rows, int H, const float *in, int K) {
  nn_gemm(1, 0, H, K, rows, 1.0f, dout, H, in, K, 1.0f, dw, ldw);
}

void nn_gemm_back(float *din, const float *dout, int rows, int H, const float *w, int ldw, int K) {
  nn_gemm(0, 0, rows, K, H, 1.0f, dout, H, w, ldw, 1.0f, din, K);
}

void nn_bias_grad(float *db, const float *dout, int64_t rows, int H) {
  for (int64_t i = 0; i < rows; ++i)
    for (int c = 0; c < H; ++c) db[c] += dout[i * H + c];
}

void nn_center_positions(float *y, int d, int B, const int64_t *natoms) {
  for (int b = 0, first = 0; b < B; first += (int)natoms[b], ++b)
    for (int c = 0; c < 3; ++c) {
      double mean = 0;
      for (int i = first; i < first + natoms[b]; ++i) mean += y[(size_t)i * d + c];
      mean /= (double)natoms[b];
      for (int i = first; i < first + natoms[b]; ++i) y[(size_t)i * d + c] -= (float)mean;
    }
}

/* ---- pairs ------------------------------------------------------------------ */

core_status nn_pairs_alloc(nn_pairs *P, int max_atoms, int64_t max_pairs) {
  memset(P, 0, sizeof *P);
  const size_t np = max_pairs > 0 ? (size_t)max_pairs : 1;
  P->i = malloc(sizeof(int32_t) * np);
  P->j = malloc(sizeof(int32_t) * np);
  P->row = malloc(sizeof(int64_t) * ((size_t)max_atoms + 1));
  if (P->i && P->j && P->row) return CORE_OK;
  nn_pairs_free(P);
  return CORE_ERROR(CORE_ERR_MEM, "nn_pairs_alloc: cannot allocate %lld pairs", (long long)max_pairs);
}

void nn_pairs_free(nn_pairs *P) {
  free(P->i), free(P->j), free(P->row);
  memset(P, 0, sizeof *P);
}

int64_t nn_pairs_count(int B, const int64_t *natoms, int self) {
  int64_t n = 0;
  for (int b = 0; b < B; ++b) n += natoms[b] * (natoms[b] - (self ? 0 : 1));
  return n;
}

void nn_pairs_build(nn_pairs *P, int B, const int64_t *natoms, int self) {
  int64_t p = 0;
  int a = 0;
  for (int b = 0, first = 0; b < B; first += (int)natoms[b], ++b)
    for (int i = first; i < first + natoms[b]; ++i, ++a) {
      P->row[a] = p;
      for (int j = first; j < first + natoms[b]; ++j)
        if (self || j != i) P->i[p] = i, P->j[p] = j, ++p;
    }
  P->row[a] = p;
  P->atoms = a, P->pairs = p;
}

void nn_pairs_sum(const nn_pairs *P, int H, const float *in, float scale, float *out, int ldo) {
  for (int a = 0; a < P->atoms; ++a) {
    float *restrict o = out + (size_t)a * ldo;
    memset(o, 0, sizeof(float) * (size_t)H);
    for (int64_t p = P->row[a]; p < P->row[a + 1]; ++p) {
      const float *restrict x = in + p * H;
      for (int c = 0; c < H; ++c) o[c] += x[c];
    }
    for (int c = 0; c < H; ++c) o[c] *= scale;
  }
}

void nn_pairs_spread(const nn_pairs *P, int H, const float *din, int ldd, float scale, float *out) {
  for (int a = 0; a < P->atoms; ++a) {
    const float *restrict d = din + (size_t)a * ldd;
    for (int64_t p = P->row[a]; p < P->row[a + 1]; ++p) {
      float *restrict o = out + p * H;
      for (int c = 0; c < H; ++c) o[c] = scale * d[c];
    }
  }
}

/* ---- the edge MLP ------------------------------------------------------------ */

/* u (pairs, H) = A_i + B_j + sum_k e_pk W_e[:, k]. */
static void pair_preactivation(const nn_pair_mlp *f, const nn_pairs *P, const float *A, const float *Bn,
                               const float *attr, float *u) {
  const int H = f->H, E = f->E;
  for (int64_t p = 0; p < P->pairs; ++p) {
    const float *restrict a = A + (size_t)P->i[p] * H, *restrict b = Bn + (size_t)P->j[p] * H;
    float *restrict up = u + p * H;
    for (int c = 0; c < H; ++c) up[c] = a[c] + b[c];
    for (int k = 0; k < E; ++k) {
      const float e = attr[p * E + k];
      const float *restrict w = f->we + (size_t)k * H;
      for (int c = 0; c < H; ++c) up[c] += e * w[c];
    }
  }
}

float *nn_pair_mlp_forward(const nn_pair_mlp *f, const nn_pairs *P, const float *A, const float *Bn,
                           const float *attr, const nn_pair_mlp_cache *c, float *work, int infer) {
  const int H = f->H;
  const size_t PH = (size_t)P->pairs * H;
  pair_preactivation(f, P, A, Bn, attr, work);
  if (infer) {
    nn_silu_forward(work, work, PH);
    nn_gemm_wt(c->m, work, (int)P->pairs, H, f->w2, H, f->b2, H);
    nn_silu_forward(c->m, c->m, PH);
    return c->m;
  }
  nn_silu_forward_keep(c->s1, c->d1, work, PH);
  nn_gemm_wt(work, c->s1, (int)P->pairs, H, f->w2, H, f->b2, H);
  nn_silu_forward_keep(c->m, c->d2, work, PH);
  return c->m;
}

/* dv = dm silu'(v) into out, and gb += its column sums: one pass. */
static void silu_back_bias(float *restrict out, float *restrict gb, const float *restrict dm,
                           const float *restrict d, int64_t rows, int H) {
  for (int64_t p = 0; p < rows; ++p) {
    const float *restrict a = dm + p * H, *restrict b = d + p * H;
    float *restrict o = out + p * H;
    for (int c = 0; c < H; ++c) {
      o[c] = a[c] * b[c];
      gb[c] += o[c];
    }
  }
}

/* du_p = ds1_p silu'(u_p) and, in the same pass over the pairs, dA_i +=
 * du_p, dB_j += du_p, gwe[k] += e_pk du_p, dattr_pk += W_e[:, k] . du_p.
 * du_p lives in one row (H floats, stays in L1): nothing reads it later. */
static void first_layer_pairs(const nn_pair_mlp *f, const nn_pairs *P, const float *attr, const float *ds1,
                              const float *d1, float *du_row, float *dA, float *dB, float *gwe, float *dattr) {
  const int H = f->H, E = f->E;
  memset(dA, 0, sizeof(float) * (size_t)P->atoms * H);
  memset(dB, 0, sizeof(float) * (size_t)P->atoms * H);
  for (int64_t p = 0; p < P->pairs; ++p) {
    float *restrict a = dA + (size_t)P->i[p] * H, *restrict b = dB + (size_t)P->j[p] * H;
    const float *restrict x = ds1 + p * H, *restrict y = d1 + p * H;
    float *restrict g = du_row;
    for (int ch = 0; ch < H; ++ch) {
      g[ch] = x[ch] * y[ch];
      a[ch] += g[ch], b[ch] += g[ch];
    }
    for (int k = 0; k < E; ++k) {
      const float e = attr[p * E + k];
      const float *restrict w = f->we + (size_t)k * H;
      float *restrict gw = gwe ? gwe + (size_t)k * H : NULL;
      float s = 0;
      for (int ch = 0; ch < H; ++ch) s += w[ch] * g[ch];
      if (dattr) dattr[p * E + k] += s;
      if (gw)
        for (int ch = 0; ch < H; ++ch) gw[ch] += e * g[ch];
    }
  }
}

void nn_pair_mlp_backward(const nn_pair_mlp *f, const nn_pairs *P, const float *attr, const nn_pair_mlp_cache *c,
                          float *dm, float *work, float *dA, float *dB, float *gw2, float *gb2, float *gwe,
                          float *dattr) {
  const int H = f->H, Np = (int)P->pairs;
  /* m = silu(v), v = W2 s1 + b2. */
  float *dv = work;
  silu_back_bias(dv, gb2, dm, c->d2, P->pairs, H);
  nn_gemm_grad(gw2, H, dv, Np, H, c->s1, H);
  float *ds1 = dm;
  nn_gemm(0, 0, Np, H, H, 1.0f, dv, H, f->w2, H, 0.0f, ds1, H);
  /* s1 = silu(u): du row by row in work (dv is spent). */
  first_layer_pairs(f, P, attr, ds1, c->d1, work, dA, dB, gwe, dattr);
}
