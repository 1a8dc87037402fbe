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
    nn_gemm_wt(c->v, work, (int)P->pairs, H, f->w2, H, f->b2, H);
    nn_silu_forward(c->v, c->v, PH);
    return c->v;
  }
  nn_silu_forward_keep(c->s1, c->sig_u, work, PH);
  nn_gemm_wt(c->v, c->s1, (int)P->pairs, H, f->w2, H, f->b2, H);
  nn_silu_forward_keep(work, c->sig_v, c->v, PH);
  return work;
}

void nn_pair_mlp_backward(const nn_pair_mlp *f, const nn_pairs *P, const float *A, const float *Bn, const float *attr,
                          const nn_pair_mlp_cache *c, float *dm, float *work, float *du, float *dA, float *dB,
                          float *gw2, float *gb2, float *gwe, float *dattr) {
  const int H = f->H, E = f->E, Np = (int)P->pairs;
  const size_t PH = (size_t)P->pairs * H;
  /* m = silu(v), v = W2 s1 + b2. */
  float *dv = work;
  nn_silu_backward_kept(dv, dm, c->v, c->sig_v, PH);
  nn_gemm_grad(gw2, H, dv, Np, H, c->s1, H);
  nn_bias_grad(gb2, dv, Np, H);
  float *ds1 = dm;
  memset(ds1, 0, sizeof(float) * PH);
  nn_gemm_back(ds1, dv, Np, H, f->w2, H, H);
  /* s1 = silu(u), u recomputed. */
  pair_preactivation(f, P, A, Bn, attr, work);
  nn_silu_backward_kept(du, ds1, work, c->sig_u, PH);
  memset(dA, 0, sizeof(float) * (size_t)P->atoms * H);
  memset(dB, 0, sizeof(float) * (size_t)P->atoms * H);
  for (int64_t p = 0; p < P->pairs; ++p) {
    float *restrict a = dA + (size_t)P->i[p] * H, *restrict b = dB + (size_t)P->j[p] * H;
    const float *restrict g = du + p * H;
    for (int ch = 0; ch < H; ++ch) a[ch] += g[ch], b[ch] += g[ch];
  }
  for (int k = 0; k < E; ++k) {
    for (int64_t p = 0; gwe && p < P->pairs; ++p) {
      const float e = attr[p * E + k];
      const float *restrict g = du + p * H;
      float *restrict gw = gwe + (size_t)k * H;
      for (int ch = 0; ch < H; ++ch) gw[ch] += e * g[ch];
    }
    for (int64_t p = 0; dattr && p < P->pairs; ++p) {
      const float *restrict g = du + p * H, *restrict w = f->we + (size_t)k * H;
      float s = 0;
      for (int ch = 0; ch < H; ++ch) s += w[ch] * g[ch];
      dattr[p * E + k] += s;
    }
  }
}
