/* Layers of lib/nn: forward and backward side by side.
 *
 * Every function here is local, reentrant and allocates nothing; the caller
 * passes a workspace of the size the matching *_floats function gives.
 * Forward functions overwrite their output. Backward functions ACCUMULATE
 * (+=) into the parameter gradients dw, dbias and the input gradient din
 * (skipped when din is NULL), and quote the forward expression they
 * differentiate. Shapes are row-major, (B, C, L, L) = batch, channel, row,
 * column; S = L * L sites.
 *
 * Convolutions are im2col + GEMM (cblas_sgemm, OpenBLAS): per instance,
 * col (Ci*9, S) gathers the 3x3 neighbourhood of every site, with zeros
 * outside an open lattice or wrapped indices on a torus, and
 * out (Co, S) = w (Co, Ci*9) col. The backward recomputes col from the
 * cached input rather than storing it per instance (9x the input). */
#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "eloss/nn.h"

/* The element-wise loops below vectorise only when their selects may be
 * computed unconditionally (no floating-point traps are used anywhere). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define TARGET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TARGET_CLONES
#endif

/* ---- 3x3 convolution ------------------------------------------------------ */

/* sum_s x[s] in a fixed order: 16 interleaved partial sums (one AVX-512
 * register; GCC vectorises this form, not a single running sum, which
 * was 7 % of a training step), then the remainder, then the partials in
 * order. Deterministic; the rounding differs from a left-to-right sum. */
static float sum_sites(const float *x, int S) {
  float part[16] = {0};
  int s = 0;
  for (; s + 16 <= S; s += 16)
    for (int j = 0; j < 16; ++j) part[j] += x[s + j];
  float acc = 0.0f;
  for (; s < S; ++s) acc += x[s];
  for (int j = 0; j < 16; ++j) acc += part[j];
  return acc;
}

size_t nn_conv3x3_floats(int Ci, int L) { return (size_t)Ci * 9 * (size_t)L * (size_t)L; }

/* Source row of tap k (0..2) at row i: i + k - 1, wrapped on a torus, -1
 * outside an open lattice. */
static inline int tap_index(int i, int k, int L, nn_padding pad) {
  int j = i + k - 1;
  if (j >= 0 && j < L) return j;
  if (pad == NN_PAD_ZERO) return -1;
  return j < 0 ? j + L : j - L;
}

/* One row of a tap along x: dst[x] = src[x + kx - 1], the one column that
 * falls off either edge wrapped (circular) or 0 (zero). The interior is a
 * contiguous copy: the profile of a 16x16 model had im2col at 35 % of a
 * training step with a per-element index computation. */
static inline void tap_row(float *restrict dst, const float *restrict src, int kx, int L, nn_padding pad) {
  const int circ = pad == NN_PAD_CIRCULAR;
  if (kx == 1) {
    memcpy(dst, src, sizeof(float) * (size_t)L);
  } else if (kx == 0) { /* dst[x] = src[x - 1] */
    dst[0] = circ ? src[L - 1] : 0.0f;
    memcpy(dst + 1, src, sizeof(float) * (size_t)(L - 1));
  } else { /* dst[x] = src[x + 1] */
    memcpy(dst, src + 1, sizeof(float) * (size_t)(L - 1));
    dst[L - 1] = circ ? src[0] : 0.0f;
  }
}

/* The adjoint of tap_row: src[x + kx - 1] += dst[x]. */
static inline void tap_row_adjoint(float *restrict src, const float *restrict dst, int kx, int L, nn_padding pad) {
  const int circ = pad == NN_PAD_CIRCULAR;
  if (kx == 1) {
    for (int x = 0; x < L; ++x) src[x] += dst[x];
  } else if (kx == 0) {
    for (int x = 1; x < L; ++x) src[x - 1] += dst[x];
    if (circ) src[L - 1] += dst[0];
  } else {
    for (int x = 0; x < L - 1; ++x) src[x + 1] += dst[x];
    if (circ) src[0] += dst[L - 1];
  }
}

/* col[(c*9 + ky*3 + kx), y*L + x] = in[c, y+ky-1, x+kx-1]; in (Ci, L, L). */
static void im2col(float *col, const float *in, int Ci, int L, nn_padding pad) {
  const size_t S = (size_t)L * L;
  for (int c = 0; c < Ci; ++c)
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx) {
        float *row = col + ((size_t)c * 9 + (size_t)ky * 3 + (size_t)kx) * S;
        const float *src = in + (size_t)c * S;
        for (int y = 0; y < L; ++y) {
          int sy = tap_index(y, ky, L, pad);
          if (sy < 0)
            memset(row + (size_t)y * L, 0, sizeof(float) * (size_t)L);
          else
            tap_row(row + (size_t)y * L, src + (size_t)sy * L, kx, L, pad);
        }
      }
}

/* The adjoint of im2col: din[c, y+ky-1, x+kx-1] += dcol[(c*9+ky*3+kx), y*L+x]. */
static void col2im_add(float *din, const float *dcol, int Ci, int L, nn_padding pad) {
  const size_t S = (size_t)L * L;
  for (int c = 0; c < Ci; ++c)
    for (int ky = 0; ky < 3; ++ky)
      for (int kx = 0; kx < 3; ++kx) {
        const float *row = dcol + ((size_t)c * 9 + (size_t)ky * 3 + (size_t)kx) * S;
        float *dst = din + (size_t)c * S;
        for (int y = 0; y < L; ++y) {
          int sy = tap_index(y, ky, L, pad);
          if (sy >= 0) tap_row_adjoint(dst + (size_t)sy * L, row + (size_t)y * L, kx, L, pad);
        }
      }
}

/* in (B, Ci, L, L), w (Co, Ci, 3, 3), bias (Co) -> out (B, Co, L, L);
 * ws (Ci*9, S). */
void nn_conv3x3_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co,
                        int L, nn_padding pad, float *ws) {
  const int S = L * L, K = Ci * 9;
  for (int b = 0; b < B; ++b) {
    float *ob = out + (size_t)b * Co * S;
    im2col(ws, in + (size_t)b * Ci * S, Ci, L, pad);
    for (int o = 0; o < Co; ++o)
      for (int s = 0; s < S; ++s) ob[(size_t)o * S + s] = bias[o];
    /* ob (Co, S) += w (Co, K) col (K, S) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, S, K, 1.0f, w, K, ws, S, 1.0f, ob, S);
  }
}

/* Forward: out[b] (Co, S) = w (Co, K) col(in[b]) (K, S) + bias, so
 *   dw    += dout[b] col^T,   dbias[o] += sum_s dout[b,o,s],
 *   din[b] += col2im(w^T dout[b]).
 * ws: col (K, S) then dcol (K, S). (Computing din as the forward
 * convolution of dout with the flipped, transposed kernel, as the oneDNN
 * backend does, measured no faster here: one GEMM of the forward's shape
 * plus im2col of dout against this GEMM plus col2im.) */
void nn_conv3x3_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                         int B, int Ci, int Co, int L, nn_padding pad, float *ws) {
  const int S = L * L, K = Ci * 9;
  float *col = ws, *dcol = ws + (size_t)K * S;
  for (int b = 0; b < B; ++b) {
    const float *db_ = dout + (size_t)b * Co * S;
    im2col(col, in + (size_t)b * Ci * S, Ci, L, pad);
    /* dw (Co, K) += dout[b] (Co, S) col^T (S, K) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, K, S, 1.0f, db_, S, col, S, 1.0f, dw, K);
    for (int o = 0; o < Co; ++o) dbias[o] += sum_sites(db_ + (size_t)o * S, S);
    if (din) {
      /* dcol (K, S) = w^T (K, Co) dout[b] (Co, S) */
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, S, Co, 1.0f, w, K, db_, S, 0.0f, dcol, S);
      col2im_add(din + (size_t)b * Ci * S, dcol, Ci, L, pad);
    }
  }
}

/* ---- 1x1 convolution -------------------------------------------------------- */

/* in (B, Ci, S), w (Co, Ci), bias (Co) -> out (B, Co, S). */
void nn_conv1x1_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co,
                        int S) {
  for (int b = 0; b < B; ++b) {
    float *ob = out + (size_t)b * Co * S;
    for (int o = 0; o < Co; ++o)
      for (int s = 0; s < S; ++s) ob[(size_t)o * S + s] = bias[o];
    /* ob (Co, S) += w (Co, Ci) in[b] (Ci, S) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, S, Ci, 1.0f, w, Ci, in + (size_t)b * Ci * S, S,
                1.0f, ob, S);
  }
}

/* Forward: out[b] (Co, S) = w (Co, Ci) in[b] (Ci, S) + bias, so
 *   dw += dout[b] in[b]^T,  dbias[o] += sum_s dout[b,o,s],  din[b] += w^T dout[b]. */
void nn_conv1x1_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                         int B, int Ci, int Co, int S) {
  for (int b = 0; b < B; ++b) {
    const float *db_ = dout + (size_t)b * Co * S, *ib = in + (size_t)b * Ci * S;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, Ci, S, 1.0f, db_, S, ib, S, 1.0f, dw, Ci);
    for (int o = 0; o < Co; ++o) dbias[o] += sum_sites(db_ + (size_t)o * S, S);
    if (din)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ci, S, Co, 1.0f, w, Ci, db_, S, 1.0f,
                  din + (size_t)b * Ci * S, S);
  }
}

/* ---- dense ------------------------------------------------------------------ */

/* in (B, Ci), w (Co, Ci), bias (Co) -> out (B, Co) = in w^T + bias. */
void nn_dense_forward(float *out, const float *in, const float *w, const float *bias, int B, int Ci, int Co) {
  for (int b = 0; b < B; ++b) memcpy(out + (size_t)b * Co, bias, sizeof(float) * (size_t)Co);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, Co, Ci, 1.0f, in, Ci, w, Ci, 1.0f, out, Co);
}

/* Forward: out (B, Co) = in (B, Ci) w^T (Ci, Co) + bias, so
 *   dw (Co, Ci) += dout^T in,  dbias += sum_b dout[b],  din (B, Ci) += dout w. */
void nn_dense_backward(float *din, float *dw, float *dbias, const float *dout, const float *in, const float *w,
                       int B, int Ci, int Co) {
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Co, Ci, B, 1.0f, dout, Co, in, Ci, 1.0f, dw, Ci);
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < Co; ++o) dbias[o] += dout[(size_t)b * Co + o];
  if (din) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, Ci, Co, 1.0f, dout, Co, w, Ci, 1.0f, din, Ci);
}

/* ---- activations ------------------------------------------------------------- */

void nn_relu_forward(float *out, const float *in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

/* Forward: out = max(in, 0), so din += dout [in > 0] (subgradient 0 at the kink). */
void nn_relu_backward(float *restrict din, const float *restrict dout, const float *restrict in, size_t n) {
  /* A 0/1 mask times dout: GCC vectorises this form, not a select or a
   * branch (which also mispredicts on random signs); it was 12 % of a
   * training step. Equal to the branch for finite dout. */
  for (size_t i = 0; i < n; ++i) din[i] += (float)(in[i] > 0.0f) * dout[i];
}

/* SiLU is most of a graph network's step when each logistic costs a libm
 * expf (measured on GDM: 5.9 steps/s against 4.1 for PyTorch at width
 * 64). e^x here is 2^k e^r with |r| <= ln2 / 2, e^r by its degree-7
 * Taylor polynomial (relative error < 3e-8 on that range, below float's
 * rounding), 2^k by the exponent bits, branch-free so the loops vectorise,
 * compiled for AVX-512, AVX2 and baseline x86-64. The same arithmetic in
 * every clone (C11 does not contract a * b + c), so the bits do not depend
 * on the CPU. */
static inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 87.0f ? 87.0f : x;
  /* k = floor(x log2 e + 1/2) by truncation of a positive number (a
   * call to floorf would keep the loop scalar). */
  const float k = (float)((int32_t)(x * 1.44269504f + 126.5f) - 126);
  const float r = (x - k * 0.693145752f) - k * 1.42860677e-6f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = ((int32_t)k + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* 1 / y for y in [1, 1 + e^87]: a guess from the exponent bits, then three
 * Newton steps y_{k+1} = y_k (2 - x y_k). The division it replaces was
 * half of SiLU's time (vdivps: 2.8 -> 1.4 ns per element with AVX-512
 * here); relative error <= 1.8e-7 (checked for every float in the range),
 * the same bits on every CPU (multiplications and subtractions only). */
static inline float reciprocal(float y) {
  int32_t bits;
  memcpy(&bits, &y, sizeof bits);
  bits = 0x7EF311C3 - bits;
  float r;
  memcpy(&r, &bits, sizeof r);
  r = r * (2.0f - y * r);
  r = r * (2.0f - y * r);
  return r * (2.0f - y * r);
}

/* sigma(x) = 1 / (1 + e^-x), e^-x clamped to [e^-87, e^87]: sigma is then
 * 0 or 1 to float precision, the right limits. */
static inline float sigmoid(float x) { return reciprocal(1.0f + exp_approx(-x)); }

TARGET_CLONES void nn_silu_forward(float *out, const float *in, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = in[i] * sigmoid(in[i]);
}

/* Forward: out = x sigma(x), so din += dout sigma(x) (1 + x (1 - sigma(x))). */
TARGET_CLONES void nn_silu_backward(float *din, const float *dout, const float *in, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float s = sigmoid(in[i]);
    din[i] += dout[i] * s * (1.0f + in[i] * (1.0f - s));
  }
}

TARGET_CLONES void nn_silu_forward_keep(float *restrict out, float *restrict deriv, const float *restrict in,
                                        size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float x = in[i], s = sigmoid(x);
    out[i] = x * s;
    deriv[i] = s * (1.0f + x * (1.0f - s));
  }
}

/* din = dout silu'(x) from the kept derivative, written (=): one product
 * per element, two arrays read (the pair arrays of a batch are tens of
 * megabytes: this pass is memory-bound). */
TARGET_CLONES void nn_silu_backward_kept(float *restrict din, const float *restrict dout, const float *restrict deriv,
                                         size_t n) {
  for (size_t i = 0; i < n; ++i) din[i] = dout[i] * deriv[i];
}

/* ---- residual block ----------------------------------------------------------- */

size_t nn_residual_floats(int B, int C, int L) {
  return 2 * (size_t)B * (size_t)C * (size_t)L * (size_t)L + 2 * nn_conv3x3_floats(C, L);
}

/* out = x + conv2(a2), a2 = relu(h1), h1 = conv1(a1), a1 = relu(x);
 * x, out (B, C, L, L); cache = [a1 | h1 | a2], each (B, C, L, L). */
void nn_residual_forward(float *out, const float *x, float *cache, const float *w1, const float *b1, const float *w2,
                         const float *b2, int B, int C, int L, nn_padding pad, float *ws) {
  const size_t n = (size_t)B * C * L * L;
  float *a1 = cache, *h1 = cache + n, *a2 = cache + 2 * n;
  nn_relu_forward(a1, x, n);
  nn_conv3x3_forward(h1, a1, w1, b1, B, C, C, L, pad, ws);
  nn_relu_forward(a2, h1, n);
  nn_conv3x3_forward(out, a2, w2, b2, B, C, C, L, pad, ws);
  for (size_t i = 0; i < n; ++i) out[i] += x[i];
}

/* Forward: out = x + conv2(relu(conv1(relu(x)))), so
 *   dx += dout + relu'(x) conv1^T(relu'(h1) conv2^T(dout)),
 * with the parameter gradients of conv2 (input a2) and conv1 (input a1).
 * ws: da (B, C, L, L), dh (B, C, L, L), then the conv backward workspace. */
void nn_residual_backward(float *dx, float *dw1, float *db1, float *dw2, float *db2, const float *dout,
                          const float *x, const float *cache, const float *w1, const float *w2, int B, int C, int L,
                          nn_padding pad, float *ws) {
  const size_t n = (size_t)B * C * L * L;
  const float *a1 = cache, *h1 = cache + n, *a2 = cache + 2 * n;
  float *da = ws, *dh = ws + n, *cws = ws + 2 * n;
  if (dx)
    for (size_t i = 0; i < n; ++i) dx[i] += dout[i];
  memset(da, 0, sizeof(float) * n);
  nn_conv3x3_backward(da, dw2, db2, dout, a2, w2, B, C, C, L, pad, cws); /* da = dL/da2 */
  memset(dh, 0, sizeof(float) * n);
  nn_relu_backward(dh, da, h1, n); /* dh = dL/dh1 */
  memset(da, 0, sizeof(float) * n);
  nn_conv3x3_backward(dx ? da : NULL, dw1, db1, dh, a1, w1, B, C, C, L, pad, cws); /* da = dL/da1 */
  if (dx) nn_relu_backward(dx, da, x, n);
}
