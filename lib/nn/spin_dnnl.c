/* The spin model of lib/nn on oneDNN convolutions: the same function and
 * the same parameter block as the BLAS path of spin_model.c, faster.
 *
 * nn_spin_dnnl_create(cfg, &d): local; allocates the activations for
 *   cfg->max_batch and a oneDNN CPU engine and stream; *d owned by the
 *   caller, freed by nn_spin_dnnl_destroy (accepts NULL, nulls the handle).
 * nn_spin_dnnl_stages: the stages of the model's one definition
 *   (spin_model.c runs them in order; nn_impl.h), with state d: begin
 *   (this B's primitives, one thread), the input convolution, one residual
 *   block, the output head, and their backward in reverse; each caches
 *   what its backward needs. Parameters and gradients come as the named
 *   views of nn_impl.h. All local. The first call with a batch size B creates oneDNN
 *   primitives for it (JIT code, milliseconds; up to N_PLANS sizes are
 *   kept); later calls with that B allocate nothing.
 * nn_spin_dnnl_winograd(d): 1 if the block convolutions are Winograd
 *   ones (decided at creation: winograd_available). Local.
 * nn_spin_dnnl_block(W): the channel block oneDNN has fast kernels for on
 *   this CPU (16 on AVX-512, 8 on AVX2) if it divides W, else 0. Local.
 *
 * Why this is faster than PyTorch on oneDNN as well: the block
 * convolutions run oneDNN's Winograd kernel (block_conv_pds) where PyTorch
 * runs its direct one; and, kernels aside, activations
 * stay in oneDNN's blocked layout (nChw16c or nChw8c, nn_spin_dnnl_block)
 * for the whole model, so no convolution pays a reorder of its input or
 * output (PyTorch reorders around every call); ReLU and the residual sum
 * are fused into the convolutions as post-ops; circular padding is one
 * copy of each activation into a (L+2, L+2) buffer that the forward caches
 * for the weight gradient, and ReLU is applied during that copy.
 *
 * Backward of the input: conv^T(g) is computed as a forward convolution of
 * the padded g with the flipped, transposed kernel
 *   wf[c, o, ky, kx] = w[o, c, 2 - ky, 2 - kx],
 * because on a torus (and with zero padding, stride 1, 3 x 3) the adjoint
 * of a same-size convolution is that convolution. oneDNN's backward-data on
 * the padded input would also compute the gradient of the halo, 27 % more
 * work at L = 16, only to fold it back.
 *
 * Threads and reproducibility: oneDNN (Debian's build uses the OpenMP
 * runtime) would run on omp_get_max_threads() threads; every call here
 * runs with one thread, set and restored around it, so the result is a
 * function of the inputs and B alone, bit for bit (the trainer runs one
 * rank per core). For a fixed B the weight gradient sums over the batch
 * inside oneDNN, in an order that depends on B: splitting a batch changes
 * the rounding (not the value beyond float32 rounding). */
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

#ifndef ELOSS_HAVE_DNNL

core_status nn_spin_dnnl_create(const nn_spin_config *cfg, nn_spin_dnnl **d) {
  (void)cfg;
  if (d) *d = NULL;
  return CORE_ERROR(CORE_ERR_UNSUPPORTED, "nn: this build has no oneDNN (install libdnnl-dev and reconfigure)");
}
void nn_spin_dnnl_destroy(nn_spin_dnnl **d) {
  if (d) *d = NULL;
}
int nn_spin_dnnl_winograd(const nn_spin_dnnl *d) {
  (void)d;
  return 0;
}
int nn_spin_dnnl_block(int width) {
  (void)width;
  return 0;
}
/* Never run: without oneDNN no model has this backend (create fails). */
const nn_spin_stages nn_spin_dnnl_stages = {0};

#else

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#define DN(call)                                                                                                  \
  do {                                                                                                            \
    dnnl_status_t s_ = (call);                                                                                    \
    if (s_ != dnnl_success)                                                                                       \
      return CORE_ERROR(CORE_ERR_UNSUPPORTED, "nn (oneDNN): %s failed: %s", #call, dnnl_status2str(s_));          \
  } while (0)

/* One primitive with its argument slots; handles are set per call. */
#define OP_MAX_ARGS 4
typedef struct {
  dnnl_primitive_t prim;
  int n;
  int arg[OP_MAX_ARGS];
  dnnl_memory_t mem[OP_MAX_ARGS];
} op;

/* Everything that depends on the batch size B. */
typedef struct {
  int B; /* 0: unused slot */
  op in_fwd, in_bww;          /* input conv 4 -> W: forward (+bias), weight gradient */
  op c_relu, c_sum, c_flip;   /* W -> W forward: +bias then ReLU; +bias + dst; no bias (adjoint) */
  op c_bww;                   /* W -> W weight and bias gradient */
  op re_in_w, re_in_dw;       /* oihw <-> the primitives' weight formats */
  op re_relu, re_sum, re_flip, re_dw;
  float *wbuf;                /* the reordered weights of each primitive, carved below */
  float *w_in, *w_relu, *w_sum, *w_flip, *dw_in, *dw;
  op re_g;                    /* dL/dh_0 to IN_TAG */
  float *g_in;                /* (B, W, L, L) in IN_TAG */
} bplan;

#define N_PLANS 4

struct nn_spin_dnnl {
  nn_spin_config cfg;
  int R;
  int nblk, cb;            /* activation layout: (B, nblk, L, L, cb), C = nblk cb */
  dnnl_format_tag_t tag;   /* the same as a oneDNN tag */
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  bplan plan[N_PLANS];
  int next_plan;
  float *mem;              /* one allocation, carved below */
  float *P0;               /* (Bm, 4, L+2, L+2) nchw: the padded input */
  float *P0b;              /* (Bm, L+2, L+2, IN_BLOCK): the same, channels padded to IN_BLOCK */
  float *P;                /* (R, 2, Bm, W, L+2, L+2): padded relu(h_{r-1}) and relu(h1) of block r */
  float *af;               /* (Bm, W, L, L) relu(h_R) */
  float *hA, *hB, *t, *u;  /* (Bm, W, L, L) ping-pong and scratch */
  float *Pg;               /* (Bm, W, L+2, L+2) a padded gradient */
  float *wflip;            /* (W, W, 3, 3) flipped, transposed kernel (oihw) */
  float *dws;              /* (W, max(W, 4), 3, 3) a weight gradient in oihw */
  float *dbs;              /* (W) a bias gradient */
  /* A pass in progress (between begin and end): */
  bplan *pl;               /* its batch size's primitives */
  float *h, *hn;           /* the activation (forward) or its gradient (backward) and the next one: hA, hB */
  int saved_threads;       /* oneDNN's thread count before begin */
};

/* ---- thin helpers over the C API ----------------------------------------------- */

static core_status op_create(op *o, dnnl_engine_t eng, const_dnnl_primitive_desc_t pd, int n, const int *args) {
  o->n = n;
  for (int i = 0; i < n; ++i) {
    o->arg[i] = args[i];
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, args[i]);
    CORE_CHECK(md != NULL, CORE_ERR_UNSUPPORTED, "nn (oneDNN): no memory descriptor for argument %d", args[i]);
    DN(dnnl_memory_create(&o->mem[i], md, eng, DNNL_MEMORY_NONE));
  }
  DN(dnnl_primitive_create(&o->prim, pd));
  return CORE_OK;
}

static void op_destroy(op *o) {
  if (o->prim) dnnl_primitive_destroy(o->prim);
  for (int i = 0; i < o->n; ++i)
    if (o->mem[i]) dnnl_memory_destroy(o->mem[i]);
  memset(o, 0, sizeof *o);
}

/* Execute o on the buffers ptr[0 .. o->n) (in the order of its args). */
static core_status op_exec(const op *o, dnnl_stream_t s, void *const *ptr) {
  dnnl_exec_arg_t a[OP_MAX_ARGS];
  for (int i = 0; i < o->n; ++i) {
    DN(dnnl_memory_set_data_handle(o->mem[i], ptr[i]));
    a[i].arg = o->arg[i];
    a[i].memory = o->mem[i];
  }
  DN(dnnl_primitive_execute(o->prim, s, o->n, a));
  DN(dnnl_stream_wait(s));
  return CORE_OK;
}

static core_status run2(const op *o, dnnl_stream_t s, const void *a, void *b) {
  void *ptr[2] = {(void *)a, b};
  return op_exec(o, s, ptr);
}
static core_status run3(const op *o, dnnl_stream_t s, const void *a, const void *b, void *c) {
  void *ptr[3] = {(void *)a, (void *)b, c};
  return op_exec(o, s, ptr);
}
static core_status run4(const op *o, dnnl_stream_t s, const void *a, const void *b, const void *c, void *d) {
  void *ptr[4] = {(void *)a, (void *)b, (void *)c, d};
  return op_exec(o, s, ptr);
}

enum { POST_NONE, POST_RELU, POST_SUM };

/* The input convolution's weight gradient runs on 8-channel blocks (the
 * 4 input channels padded to 8), PyTorch's choice: oneDNN 2.6 has no JIT
 * kernel for it from nchw, nhwc or 16-channel blocks (its reference kernel
 * took 60 % of a step). The forward runs from nchw. */
#define IN_BLOCK 8
#define IN_TAG dnnl_aBcd8b

/* Forward convolution (B, Ci, L+2, L+2) [stag] -> (B, Co, L, L) [dtag],
 * 3x3, no padding (the input is padded already), weights in the
 * primitive's choice of format, algorithm alg. The oneDNN status, so that
 * a caller can tell "no kernel for this" (dnnl_unimplemented) from a
 * failure. */
static dnnl_status_t conv_pd_status(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, int B, int Ci, int Co, int L,
                                    dnnl_format_tag_t stag, dnnl_format_tag_t dtag, int bias, int post,
                                    dnnl_alg_kind_t alg) {
  dnnl_dims_t sd = {B, Ci, L + 2, L + 2}, wd = {Co, Ci, 3, 3}, bd = {Co}, dd = {B, Co, L, L};
  dnnl_dims_t strides = {1, 1}, pad0 = {0, 0};
  dnnl_memory_desc_t smd, wmd, bmd, dmd;
  dnnl_convolution_desc_t cd;
  dnnl_status_t s = dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, stag);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
  if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dtag);
  if (s == dnnl_success)
    s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, alg, &smd, &wmd, bias ? &bmd : NULL, &dmd,
                                           strides, pad0, pad0);
  if (s != dnnl_success) return s;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  s = dnnl_primitive_attr_create(&attr);
  if (s == dnnl_success) s = dnnl_post_ops_create(&po);
  if (s == dnnl_success && post == POST_RELU) s = dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f);
  if (s == dnnl_success && post == POST_SUM) s = dnnl_post_ops_append_sum(po, 1.0f);
  if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &cd, attr, eng, NULL);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  return s;
}

/* The same, direct, failing with a message. */
static core_status conv_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, int B, int Ci, int Co, int L,
                           dnnl_format_tag_t stag, dnnl_format_tag_t dtag, int bias, int post) {
  DN(conv_pd_status(pd, eng, B, Ci, Co, L, stag, dtag, bias, post, dnnl_convolution_direct));
  return CORE_OK;
}

/* The W -> W forward convolutions of the blocks and of the adjoints (RELU,
 * SUM, FLIP of plan_build) with algorithm alg; the first oneDNN failure.
 * plan_build asks for Winograd F(4x4, 3x3) when d->cfg.conv says so
 * (winograd_available decided it at creation), else direct. Winograd
 * does 2.25x fewer multiplications than direct for a 3 x 3 kernel, and
 * made a training step of the small spin model 22 % faster (12 x 12,
 * W 32, depth 6, batch 16; bench/nn_bench). oneDNN's Winograd weight gradient was
 * slower than its direct one there, so the weight gradients stay direct. */
static dnnl_status_t block_conv_pds(const nn_spin_dnnl *d, dnnl_primitive_desc_t *relu, dnnl_primitive_desc_t *sum,
                                    dnnl_primitive_desc_t *flip, int B, dnnl_alg_kind_t alg) {
  const int W = d->cfg.width, L = d->cfg.L;
  const dnnl_format_tag_t T = d->tag;
  dnnl_status_t s = conv_pd_status(relu, d->eng, B, W, W, L, T, T, 1, POST_RELU, alg);
  if (s == dnnl_success) s = conv_pd_status(sum, d->eng, B, W, W, L, T, T, 1, POST_SUM, alg);
  if (s == dnnl_success) s = conv_pd_status(flip, d->eng, B, W, W, L, T, T, 0, POST_NONE, alg);
  return s;
}

/* Weight and bias gradient of that convolution; hint: a forward pd of it. */
static core_status bww_pd(dnnl_primitive_desc_t *pd, dnnl_engine_t eng, int B, int Ci, int Co, int L,
                          dnnl_format_tag_t stag, dnnl_format_tag_t dtag, const_dnnl_primitive_desc_t hint) {
  dnnl_dims_t sd = {B, Ci, L + 2, L + 2}, wd = {Co, Ci, 3, 3}, bd = {Co}, dd = {B, Co, L, L};
  dnnl_dims_t strides = {1, 1}, pad0 = {0, 0};
  dnnl_memory_desc_t smd, wmd, bmd, dmd;
  DN(dnnl_memory_desc_init_by_tag(&smd, 4, sd, dnnl_f32, stag));
  DN(dnnl_memory_desc_init_by_tag(&wmd, 4, wd, dnnl_f32, dnnl_format_tag_any));
  DN(dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x));
  DN(dnnl_memory_desc_init_by_tag(&dmd, 4, dd, dnnl_f32, dtag));
  dnnl_convolution_desc_t cd;
  DN(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &smd, &wmd, &bmd, &dmd, strides,
                                                 pad0, pad0));
  DN(dnnl_primitive_desc_create(pd, &cd, NULL, eng, hint));
  return CORE_OK;
}

/* A reorder between oihw (Co, Ci, 3, 3) and the weight format `arg` of pd;
 * to_user: from the primitive's format to oihw. *bytes: the size of the
 * primitive's format. */
static core_status weight_reorder(op *o, dnnl_engine_t eng, const_dnnl_primitive_desc_t pd, int arg, int Co, int Ci,
                                  int to_user, size_t *bytes) {
  dnnl_dims_t wd = {Co, Ci, 3, 3};
  dnnl_memory_desc_t user;
  DN(dnnl_memory_desc_init_by_tag(&user, 4, wd, dnnl_f32, dnnl_oihw));
  const dnnl_memory_desc_t *prim = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, arg);
  CORE_CHECK(prim != NULL, CORE_ERR_UNSUPPORTED, "nn (oneDNN): no weights descriptor");
  *bytes = dnnl_memory_desc_get_size(prim);
  dnnl_primitive_desc_t rpd;
  DN(dnnl_reorder_primitive_desc_create(&rpd, to_user ? prim : &user, eng, to_user ? &user : prim, eng, NULL));
  static const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
  core_status st = op_create(o, eng, rpd, 2, args);
  dnnl_primitive_desc_destroy(rpd);
  return st;
}

static void plan_destroy(bplan *pl) {
  op *ops[] = {&pl->in_fwd, &pl->in_bww, &pl->c_relu,  &pl->c_sum,   &pl->c_flip,  &pl->c_bww,
               &pl->re_in_w, &pl->re_in_dw, &pl->re_relu, &pl->re_sum, &pl->re_flip, &pl->re_dw, &pl->re_g};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; ++i) op_destroy(ops[i]);
  free(pl->wbuf);
  memset(pl, 0, sizeof *pl);
}

static core_status plan_build(nn_spin_dnnl *d, bplan *pl, int B, dnnl_primitive_desc_t *pds) {
  const int W = d->cfg.width, L = d->cfg.L;
  dnnl_engine_t e = d->eng;
  const dnnl_format_tag_t T = d->tag;
  enum { IN_FWD, IN_BWW, RELU, SUM, FLIP, HINT, BWW, IN_HINT, N_PD };
  CORE_CALL(conv_pd(&pds[IN_FWD], e, B, 4, W, L, dnnl_nchw, T, 1, POST_NONE));
  CORE_CALL(conv_pd(&pds[IN_HINT], e, B, 4, W, L, IN_TAG, IN_TAG, 1, POST_NONE));
  CORE_CALL(bww_pd(&pds[IN_BWW], e, B, 4, W, L, IN_TAG, IN_TAG, pds[IN_HINT]));
  DN(block_conv_pds(d, &pds[RELU], &pds[SUM], &pds[FLIP], B,
                    d->cfg.conv == NN_CONV_WINOGRAD ? dnnl_convolution_winograd : dnnl_convolution_direct));
  CORE_CALL(conv_pd(&pds[HINT], e, B, W, W, L, T, T, 1, POST_NONE));
  CORE_CALL(bww_pd(&pds[BWW], e, B, W, W, L, T, T, pds[HINT]));
  static const int fwd_b[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
  static const int fwd_nb[3] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
  static const int bww[4] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS};
  CORE_CALL(op_create(&pl->in_fwd, e, pds[IN_FWD], 4, fwd_b));
  CORE_CALL(op_create(&pl->in_bww, e, pds[IN_BWW], 4, bww));
  CORE_CALL(op_create(&pl->c_relu, e, pds[RELU], 4, fwd_b));
  CORE_CALL(op_create(&pl->c_sum, e, pds[SUM], 4, fwd_b));
  CORE_CALL(op_create(&pl->c_flip, e, pds[FLIP], 3, fwd_nb));
  CORE_CALL(op_create(&pl->c_bww, e, pds[BWW], 4, bww));
  size_t sz[7];
  {
    /* dL/dh_0 from the model's layout to IN_TAG for the input's weight gradient. */
    dnnl_dims_t gd = {B, W, L, L};
    dnnl_memory_desc_t from, to;
    DN(dnnl_memory_desc_init_by_tag(&from, 4, gd, dnnl_f32, T));
    DN(dnnl_memory_desc_init_by_tag(&to, 4, gd, dnnl_f32, IN_TAG));
    sz[6] = dnnl_memory_desc_get_size(&to);
    dnnl_primitive_desc_t rpd;
    DN(dnnl_reorder_primitive_desc_create(&rpd, &from, e, &to, e, NULL));
    static const int args[2] = {DNNL_ARG_FROM, DNNL_ARG_TO};
    core_status st = op_create(&pl->re_g, e, rpd, 2, args);
    dnnl_primitive_desc_destroy(rpd);
    CORE_CALL(st);
  }
  CORE_CALL(weight_reorder(&pl->re_in_w, e, pds[IN_FWD], DNNL_ARG_WEIGHTS, W, 4, 0, &sz[0]));
  CORE_CALL(weight_reorder(&pl->re_relu, e, pds[RELU], DNNL_ARG_WEIGHTS, W, W, 0, &sz[1]));
  CORE_CALL(weight_reorder(&pl->re_sum, e, pds[SUM], DNNL_ARG_WEIGHTS, W, W, 0, &sz[2]));
  CORE_CALL(weight_reorder(&pl->re_flip, e, pds[FLIP], DNNL_ARG_WEIGHTS, W, W, 0, &sz[3]));
  CORE_CALL(weight_reorder(&pl->re_in_dw, e, pds[IN_BWW], DNNL_ARG_DIFF_WEIGHTS, W, 4, 1, &sz[4]));
  CORE_CALL(weight_reorder(&pl->re_dw, e, pds[BWW], DNNL_ARG_DIFF_WEIGHTS, W, W, 1, &sz[5]));
  /* Each buffer rounded up to 64 bytes (16 floats): aligned for AVX-512. */
  size_t fl[7], total = 0;
  for (int i = 0; i < 7; ++i) fl[i] = (sz[i] / sizeof(float) + 15) / 16 * 16, total += fl[i];
  pl->wbuf = aligned_alloc(64, total * sizeof(float));
  CORE_CHECK(pl->wbuf != NULL, CORE_ERR_MEM, "nn (oneDNN): cannot allocate %zu floats of weights", total);
  float *q = pl->wbuf;
  float **dst[7] = {&pl->w_in, &pl->w_relu, &pl->w_sum, &pl->w_flip, &pl->dw_in, &pl->dw, &pl->g_in};
  for (int i = 0; i < 7; ++i) *dst[i] = q, q += fl[i];
  pl->B = B;
  return CORE_OK;
}

/* The plan for batch B, created on first use (the oldest of N_PLANS is
 * replaced when all are taken). */
static core_status plan_get(nn_spin_dnnl *d, int B, bplan **out) {
  for (int i = 0; i < N_PLANS; ++i)
    if (d->plan[i].B == B) {
      *out = &d->plan[i];
      return CORE_OK;
    }
  bplan *pl = &d->plan[d->next_plan];
  d->next_plan = (d->next_plan + 1) % N_PLANS;
  plan_destroy(pl);
  dnnl_primitive_desc_t pds[8] = {0};
  core_status st = plan_build(d, pl, B, pds);
  for (int i = 0; i < 8; ++i)
    if (pds[i]) dnnl_primitive_desc_destroy(pds[i]);
  if (st) {
    plan_destroy(pl);
    return st;
  }
  *out = pl;
  return CORE_OK;
}

/* ---- layout kernels ---------------------------------------------------------------- */

/* Circular (or zero) padding of n planes: src (n, L, L, cb) -> dst
 * (n, L+2, L+2, cb), dst[y][x] = src[y-1 mod L][x-1 mod L] (0 in the halo
 * of an open lattice); relu: max(., 0) on the way. */
static void pad_planes(float *restrict dst, const float *restrict src, size_t n, int L, int cb, nn_padding pad,
                       int relu) {
  const int circ = pad == NN_PAD_CIRCULAR;
  const size_t Lp = (size_t)L + 2, row = (size_t)L * cb, prow = Lp * cb;
  for (size_t p = 0; p < n; ++p) {
    const float *s = src + p * (size_t)L * row;
    float *o = dst + p * Lp * prow;
    for (size_t y = 0; y < Lp; ++y) {
      float *orow = o + y * prow;
      long sy = (long)y - 1;
      if (sy < 0) sy = circ ? L - 1 : -1;
      else if (sy >= L) sy = circ ? 0 : -1;
      if (sy < 0) {
        memset(orow, 0, sizeof(float) * prow);
        continue;
      }
      const float *srow = s + (size_t)sy * row;
      if (relu) {
        for (size_t i = 0; i < row; ++i) orow[cb + i] = srow[i] > 0.0f ? srow[i] : 0.0f;
        for (int i = 0; i < cb; ++i) {
          float a = circ ? srow[row - cb + i] : 0.0f, b = circ ? srow[i] : 0.0f;
          orow[i] = a > 0.0f ? a : 0.0f;
          orow[cb + row + i] = b > 0.0f ? b : 0.0f;
        }
      } else {
        memcpy(orow + cb, srow, sizeof(float) * row);
        for (int i = 0; i < cb; ++i) {
          orow[i] = circ ? srow[row - cb + i] : 0.0f;
          orow[cb + row + i] = circ ? srow[i] : 0.0f;
        }
      }
    }
  }
}

/* out = base + [P > 0] da over n planes, P padded (n, L+2, L+2, cb) read at
 * its interior, the rest (n, L, L, cb); base NULL means 0. The ReLU
 * derivative from the cached relu output: relu(h) > 0 iff h > 0. */
static void mask_interior(float *restrict out, const float *restrict base, const float *restrict da,
                          const float *restrict P, size_t n, int L, int cb) {
  const size_t Lp = (size_t)L + 2, row = (size_t)L * cb;
  for (size_t p = 0; p < n; ++p)
    for (int y = 0; y < L; ++y) {
      const float *pr = P + (p * Lp + (size_t)y + 1) * Lp * cb + cb;
      const size_t off = (p * L + (size_t)y) * row;
      if (base)
        for (size_t i = 0; i < row; ++i) out[off + i] = base[off + i] + (float)(pr[i] > 0.0f) * da[off + i];
      else
        for (size_t i = 0; i < row; ++i) out[off + i] = (float)(pr[i] > 0.0f) * da[off + i];
    }
}

/* The padded input in a channel-last block of cbp >= 4 floats per pixel
 * (channels 4 .. cbp-1 zero): P0 (B, L+2, L+2, cbp) from x (B, 4, L, L),
 * P0[b, y, x, c] = x[b, c, y-1 mod L, x-1 mod L] (0 off an open lattice). */
static void pad_input(float *restrict P0, const float *restrict x, int B, int L, int cbp, nn_padding pad) {
  const int circ = pad == NN_PAD_CIRCULAR, Lp = L + 2;
  const size_t S = (size_t)L * L;
  memset(P0, 0, sizeof(float) * (size_t)B * Lp * Lp * cbp);
  for (int b = 0; b < B; ++b)
    for (int y = 0; y < Lp; ++y) {
      int sy = y - 1;
      if (sy < 0 || sy >= L) {
        if (!circ) continue;
        sy = sy < 0 ? L - 1 : 0;
      }
      for (int xx = 0; xx < Lp; ++xx) {
        int sx = xx - 1;
        if (sx < 0 || sx >= L) {
          if (!circ) continue;
          sx = sx < 0 ? L - 1 : 0;
        }
        float *o = P0 + (((size_t)b * Lp + (size_t)y) * Lp + (size_t)xx) * cbp;
        const float *xs = x + (size_t)b * 4 * S + (size_t)sy * L + (size_t)sx;
        for (int c = 0; c < 4; ++c) o[c] = xs[(size_t)c * S];
      }
    }
}

/* wf[c, o, ky, kx] = w[o, c, 2 - ky, 2 - kx]: the kernel of the adjoint. */
static void flip_kernel(float *restrict wf, const float *restrict w, int C) {
  for (int o = 0; o < C; ++o)
    for (int c = 0; c < C; ++c)
      for (int k = 0; k < 9; ++k) wf[((size_t)c * C + o) * 9 + k] = w[((size_t)o * C + c) * 9 + 8 - k];
}

static void add_to(float *restrict g, const float *restrict d, size_t n) {
  for (size_t i = 0; i < n; ++i) g[i] += d[i];
}

/* ---- create / destroy ---------------------------------------------------------------- */

/* 1 if oneDNN has Winograd kernels for the block convolutions on this CPU
 * (its jit_wino_4x3 needs AVX-512 and 16-channel blocks), probed at the
 * largest batch. Decided once, at creation, so that every batch size runs
 * the same algorithm and the model can say which before it runs. */
static int winograd_available(const nn_spin_dnnl *d) {
  if (d->cb != 16) return 0;
  dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
  const dnnl_status_t s = block_conv_pds(d, &pd[0], &pd[1], &pd[2], d->cfg.max_batch, dnnl_convolution_winograd);
  for (int i = 0; i < 3; ++i)
    if (pd[i]) dnnl_primitive_desc_destroy(pd[i]);
  return s == dnnl_success;
}

static core_status create_one_thread(const nn_spin_config *cfg, nn_spin_dnnl *d) {
  const int W = cfg->width, L = cfg->L, R = cfg->depth / 2;
  d->cfg = *cfg;
  d->R = R;
  const int blk = nn_spin_dnnl_block(W);
  if (blk)
    d->tag = blk == 16 ? dnnl_aBcd16b : dnnl_aBcd8b, d->nblk = W / blk, d->cb = blk;
  else
    d->tag = dnnl_acdb, d->nblk = 1, d->cb = W;
  DN(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
  DN(dnnl_stream_create(&d->strm, d->eng, dnnl_stream_default_flags));
  /* Without residual blocks (depth 0) there is no W -> W convolution to run. */
  if (d->cfg.conv == NN_CONV_WINOGRAD && (R == 0 || !winograd_available(d))) d->cfg.conv = NN_CONV_DIRECT;
  const size_t Bm = (size_t)cfg->max_batch, S = (size_t)L * L, Sp = (size_t)(L + 2) * (L + 2);
  const size_t act = Bm * W * S, pact = Bm * W * Sp;
  size_t total = Bm * (4 + IN_BLOCK) * Sp + (size_t)R * 2 * pact + 5 * act + pact + (size_t)W * W * 9 +
                 (size_t)W * (W > 4 ? W : 4) * 9 + (size_t)W;
  d->mem = malloc(sizeof(float) * total);
  CORE_CHECK(d->mem != NULL, CORE_ERR_MEM, "nn (oneDNN): cannot allocate %zu floats of activations", total);
  float *q = d->mem;
  d->P0 = q, q += Bm * 4 * Sp;
  d->P0b = q, q += Bm * IN_BLOCK * Sp;
  d->P = q, q += (size_t)R * 2 * pact;
  d->af = q, q += act;
  d->hA = q, q += act;
  d->hB = q, q += act;
  d->t = q, q += act;
  d->u = q, q += act;
  d->Pg = q, q += pact;
  d->wflip = q, q += (size_t)W * W * 9;
  d->dws = q, q += (size_t)W * (W > 4 ? W : 4) * 9;
  d->dbs = q;
  return CORE_OK;
}

core_status nn_spin_dnnl_create(const nn_spin_config *cfg, nn_spin_dnnl **out) {
  CORE_CHECK(cfg && out, CORE_ERR_ARG, "nn_spin_dnnl_create: NULL argument");
  *out = NULL;
  nn_spin_dnnl *d = calloc(1, sizeof *d);
  CORE_CHECK(d != NULL, CORE_ERR_MEM, "nn_spin_dnnl_create: out of memory");
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  core_status st = create_one_thread(cfg, d);
  omp_set_num_threads(saved);
  if (st) {
    nn_spin_dnnl_destroy(&d);
    return st;
  }
  *out = d;
  return CORE_OK;
}

void nn_spin_dnnl_destroy(nn_spin_dnnl **dp) {
  if (!dp || !*dp) return;
  nn_spin_dnnl *d = *dp;
  for (int i = 0; i < N_PLANS; ++i) plan_destroy(&d->plan[i]);
  if (d->strm) dnnl_stream_destroy(d->strm);
  if (d->eng) dnnl_engine_destroy(d->eng);
  free(d->mem);
  free(d);
  *dp = NULL;
}

/* ---- forward and backward ---------------------------------------------------------------- */

/* Element (b, c, s) of an activation (B, W, S) in the layout (B, nblk, S, cb). */
static inline size_t at(const nn_spin_dnnl *d, size_t b, int c, size_t s, size_t S) {
  return ((b * (size_t)d->nblk + (size_t)(c / d->cb)) * S + s) * (size_t)d->cb + (size_t)(c % d->cb);
}

/* ---- the stages (nn_spin_stages, nn_impl.h) ---------------------------------------------- */

static core_status dnnl_begin(void *state, int B) {
  nn_spin_dnnl *d = state;
  d->saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  return plan_get(d, B, &d->pl);
}

static void dnnl_end(void *state) { omp_set_num_threads(((nn_spin_dnnl *)state)->saved_threads); }

/* h_0 = conv3x3_{4->W}(x) */
static core_status dnnl_input(void *state, int B, const float *x, const nn_spin_tensors *w) {
  nn_spin_dnnl *d = state;
  const bplan *pl = d->pl;
  pad_planes(d->P0, x, (size_t)B * 4, d->cfg.L, 1, d->cfg.pad, 0);
  pad_input(d->P0b, x, B, d->cfg.L, IN_BLOCK, d->cfg.pad);
  CORE_CALL(run2(&pl->re_in_w, d->strm, w->w_in, pl->w_in));
  CORE_CALL(run4(&pl->in_fwd, d->strm, d->P0, pl->w_in, w->b_in, d->hA));
  d->h = d->hA, d->hn = d->hB;
  return CORE_OK;
}

/* h_{r+1} = h_r + conv2(relu(conv1(relu(h_r)))) */
static core_status dnnl_block(void *state, int B, int r, const nn_spin_block_tensors *w) {
  nn_spin_dnnl *d = state;
  const bplan *pl = d->pl;
  const int W = d->cfg.width, L = d->cfg.L;
  const nn_padding pad = d->cfg.pad;
  const size_t n = (size_t)B * W * L * L, planes = (size_t)B * d->nblk;
  const size_t pstride = (size_t)d->cfg.max_batch * W * (size_t)(L + 2) * (L + 2);
  float *P1 = d->P + (size_t)(2 * r) * pstride, *P2 = P1 + pstride;
  /* a2 = relu(conv1(relu(h)) + b1): ReLU of h in the padding copy, of h1
   * as the convolution's post-op. */
  pad_planes(P1, d->h, planes, L, d->cb, pad, 1);
  CORE_CALL(run2(&pl->re_relu, d->strm, w->w1, pl->w_relu));
  CORE_CALL(run4(&pl->c_relu, d->strm, P1, pl->w_relu, w->b1, d->t));
  pad_planes(P2, d->t, planes, L, d->cb, pad, 0);
  /* h_next = h + conv2(a2) + b2: the sum post-op adds the conv to dst = h. */
  memcpy(d->hn, d->h, sizeof(float) * n);
  CORE_CALL(run2(&pl->re_sum, d->strm, w->w2, pl->w_sum));
  CORE_CALL(run4(&pl->c_sum, d->strm, P2, pl->w_sum, w->b2, d->hn));
  float *tmp = d->h;
  d->h = d->hn, d->hn = tmp;
  return CORE_OK;
}

/* z = conv1x1_{W->1}(relu(h_R)): summed over channel blocks, then within. */
static core_status dnnl_output(void *state, int B, const nn_spin_tensors *w, float *z) {
  nn_spin_dnnl *d = state;
  const size_t S = (size_t)d->cfg.L * d->cfg.L, n = (size_t)B * d->cfg.width * S;
  const float *wo = w->w_out, bo = w->b_out[0], *h = d->h;
  for (size_t i = 0; i < n; ++i) d->af[i] = h[i] > 0.0f ? h[i] : 0.0f;
  for (size_t b = 0; b < (size_t)B; ++b) {
    float *zb = z + b * S;
    for (size_t q = 0; q < S; ++q) zb[q] = bo;
    for (int k = 0; k < d->nblk; ++k)
      for (size_t q = 0; q < S; ++q) {
        const float *a = d->af + at(d, b, k * d->cb, q, S), *wk = wo + k * d->cb;
        float acc = 0.0f;
        for (int c = 0; c < d->cb; ++c) acc += wk[c] * a[c];
        zb[q] += acc;
      }
  }
  return CORE_OK;
}

/* Weight and bias gradient of a W -> W convolution with padded input Pin
 * and output gradient g: grad_w += dL/dw, grad_b += dL/db. */
static core_status conv_grad(nn_spin_dnnl *d, const bplan *pl, const float *Pin, const float *g, float *gw,
                             float *gb) {
  const int W = d->cfg.width;
  CORE_CALL(run4(&pl->c_bww, d->strm, Pin, g, pl->dw, d->dbs));
  CORE_CALL(run2(&pl->re_dw, d->strm, pl->dw, d->dws));
  add_to(gw, d->dws, (size_t)W * W * 9);
  add_to(gb, d->dbs, (size_t)W);
  return CORE_OK;
}

/* da = conv^T(g) for the W -> W kernel w: a forward convolution of the
 * padded g with the flipped, transposed kernel. */
static core_status conv_adjoint(nn_spin_dnnl *d, const bplan *pl, int B, const float *g, const float *w,
                                float *da) {
  const int W = d->cfg.width, L = d->cfg.L;
  pad_planes(d->Pg, g, (size_t)B * d->nblk, L, d->cb, d->cfg.pad, 0);
  flip_kernel(d->wflip, w, W);
  CORE_CALL(run2(&pl->re_flip, d->strm, d->wflip, pl->w_flip));
  CORE_CALL(run3(&pl->c_flip, d->strm, d->Pg, pl->w_flip, da));
  return CORE_OK;
}

/* z = b_out + sum_c w_out[c] af[c]: dw_out[c] += sum af[c] dz, db_out += sum dz,
 * g = dL/dh_R = w_out[c] dz [af > 0]. */
static core_status dnnl_output_backward(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *gr,
                                        const float *dz) {
  nn_spin_dnnl *d = state;
  const size_t S = (size_t)d->cfg.L * d->cfg.L;
  const float *wo = w->w_out;
  float *gwo = gr->w_out, *gbo = gr->b_out;
  float *g = d->hA;
  for (size_t b = 0; b < (size_t)B; ++b) {
    const float *dzb = dz + b * S;
    float acc = 0.0f;
    for (size_t q = 0; q < S; ++q) acc += dzb[q];
    gbo[0] += acc;
    for (int k = 0; k < d->nblk; ++k)
      for (size_t q = 0; q < S; ++q) {
        const size_t i = at(d, b, k * d->cb, q, S);
        const float *a = d->af + i, *wk = wo + k * d->cb;
        float *gw = gwo + k * d->cb, *gi = g + i;
        for (int c = 0; c < d->cb; ++c) {
          gw[c] += a[c] * dzb[q];
          gi[c] = (float)(a[c] > 0.0f) * wk[c] * dzb[q];
        }
      }
  }
  d->h = d->hA, d->hn = d->hB; /* from here on: dL/dh_r and the buffer of dL/dh_{r-1} */
  return CORE_OK;
}

static core_status dnnl_block_backward(void *state, int B, int r, const nn_spin_block_tensors *w,
                                       const nn_spin_block_tensors *gr) {
  nn_spin_dnnl *d = state;
  const bplan *pl = d->pl;
  const int W = d->cfg.width, L = d->cfg.L;
  const size_t planes = (size_t)B * d->nblk;
  const size_t pstride = (size_t)d->cfg.max_batch * W * (size_t)(L + 2) * (L + 2);
  const float *P1 = d->P + (size_t)(2 * r) * pstride, *P2 = P1 + pstride;
  float *g = d->h, *gn = d->hn, *da = d->t, *dh = d->u;
  /* out = h + conv2(a2): conv2's gradients, then dh1 = [a2 > 0] conv2^T(g). */
  CORE_CALL(conv_grad(d, pl, P2, g, gr->w2, gr->b2));
  CORE_CALL(conv_adjoint(d, pl, B, g, w->w2, da));
  mask_interior(dh, NULL, da, P2, planes, L, d->cb);
  /* h1 = conv1(a1), a1 = relu(h): conv1's gradients, then
   * dL/dh = g + [h > 0] conv1^T(dh1). */
  CORE_CALL(conv_grad(d, pl, P1, dh, gr->w1, gr->b1));
  CORE_CALL(conv_adjoint(d, pl, B, dh, w->w1, da));
  mask_interior(gn, g, da, P1, planes, L, d->cb);
  d->h = gn, d->hn = g;
  return CORE_OK;
}

/* h_0 = conv3x3_{4->W}(x): its parameter gradients (x is data). */
static core_status dnnl_input_backward(void *state, int B, const nn_spin_tensors *w, const nn_spin_tensors *gr) {
  (void)B, (void)w;
  nn_spin_dnnl *d = state;
  const bplan *pl = d->pl;
  const int W = d->cfg.width;
  CORE_CALL(run2(&pl->re_g, d->strm, d->h, pl->g_in));
  CORE_CALL(run4(&pl->in_bww, d->strm, d->P0b, pl->g_in, pl->dw_in, d->dbs));
  CORE_CALL(run2(&pl->re_in_dw, d->strm, pl->dw_in, d->dws));
  add_to(gr->w_in, d->dws, (size_t)W * 4 * 9);
  add_to(gr->b_in, d->dbs, (size_t)W);
  return CORE_OK;
}

const nn_spin_stages nn_spin_dnnl_stages = {dnnl_begin, dnnl_input, dnnl_block, dnnl_output, dnnl_output_backward,
                                            dnnl_block_backward, dnnl_input_backward, dnnl_end};

int nn_spin_dnnl_winograd(const nn_spin_dnnl *d) { return d->cfg.conv == NN_CONV_WINOGRAD; }

/* oneDNN's JIT convolutions want channel blocks of the vector width: 16
 * on AVX-512, 8 on AVX2. With a block it has no kernel for (16 on an AVX2
 * CPU) it runs its reference kernels, over 1000x slower (measured with
 * DNNL_MAX_CPU_ISA=AVX2, width 32); with nhwc, 5-10x slower than im2col +
 * OpenBLAS (width 8 on 8 x 8). dnnl_get_effective_cpu_isa honours
 * DNNL_MAX_CPU_ISA. */
int nn_spin_dnnl_block(int width) {
  const dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  if ((isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core) return width % 16 == 0 ? 16 : 0;
  if ((isa & dnnl_cpu_isa_avx2) == dnnl_cpu_isa_avx2) return width % 8 == 0 ? 8 : 0;
  return 0;
}

#endif
