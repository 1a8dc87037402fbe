/* EGNN: the E(n)-equivariant graph network of Satorras et al. (2021) as
 * EDM (Hoogeboom et al. 2022) uses it for molecules ("egnn_dynamics" of
 * EDM's egnn/models.py with egnn/egnn_new.py EGNN, EquivariantBlock, GCL
 * and EquivariantUpdate, at EDM's QM9 settings: attention, tanh,
 * norm_constant 1, one invariant sublayer per block, no sinusoidal
 * embedding, sum aggregation), on the complete graph of each molecule
 * without self-pairs (EDM's edge mask drops the diagonal), molecules of
 * different sizes concatenated.
 *
 * Per atom the input is x (3) and [f (F), t] (t = t / T, EDM's
 * condition_time); d0_ij = |x_i - x_j|^2 of the input positions.
 *   h_0 = E_in [f, t] + b_in                                            (H)
 *   block l (x_l, h_l) -> (x_{l+1}, h_{l+1}), over ordered pairs i != j:
 *     r_ij  = |x_i - x_j|^2,  c_ij = (x_i - x_j) / (sqrt(r_ij + 1e-8) + 1)
 *     GCL:  m_ij = silu(W2 silu(W1 [h_i, h_j, r_ij, d0_ij] + b1) + b2)
 *           a_ij = sigmoid(w_a . m_ij + b_a)                  (attention)
 *           g_i  = sum_j a_ij m_ij / nf
 *           h_{l+1,i} = h_i + V2 silu(V1 [h_i, g_i] + c1) + c2
 *     coordinates, from h' = h_{l+1}:
 *           phi_ij = u . silu(U2 silu(U1 [h'_i, h'_j, r_ij, d0_ij] + d1) + d2)
 *           x_{l+1,i} = x_i + sum_j c_ij tanh(phi_ij) R / nf    (R = 15)
 *   eps_x = x_L - x_0 centred per molecule; eps_h = E_out h_L + b_out.
 * h and the distances are invariant and c_ij rotates with the molecule,
 * so eps_x rotates with the input and eps_h does not change; translations
 * change neither. EDM's output layer also has a column for t, which it
 * then drops; here it is left out. u is initialised as EDM does (Xavier
 * uniform, gain 0.001), every other tensor as every lib/nn model.
 *
 * Backward: the GCL and the coordinate MLP through nn_pair_mlp (graph.c),
 * from what the forward keeps (the MLPs' derivatives and outputs);
 * the gradient reaches x_l through r_ij in both MLPs and through c_ij, and
 * x_l also passes straight to x_{l+1}. d0 is data: no gradient. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

enum { BLOCK_TENSORS = 15, EDGE_ATTRS = 2 };
enum { /* a block's tensors, in EDM's order */
  GCL_W1, GCL_B1, GCL_W2, GCL_B2, NODE_V1, NODE_C1, NODE_V2, NODE_C2, ATT_W, ATT_B,
  COORD_U1, COORD_D1, COORD_U2, COORD_D2, COORD_U
};
static const double dist_eps = 1e-8, norm_constant = 1.0;

struct nn_egnn {
  nn_model base; /* first: the model table's view */
  nn_egnn_config cfg;
  nn_params *p;
  int last_B;    /* molecules of the last forward that a backward may follow, or 0 */
  nn_pairs P;    /* the last forward's pairs */
  int64_t *natoms;
  /* Activations (one allocation, carved below); per block l at offset l. */
  float *mem;
  float *hin;              /* (Na, F + 1) [f, t] */
  float *x;                /* (L + 1, Na, 3) */
  float *h;                /* (L + 1, Na, H) */
  float *attr;             /* (L, Np, 2) [r_ij, d0_ij] */
  float *cdir, *nrm;       /* (L, Np, 3): c_ij; (L, Np): sqrt(r_ij + 1e-8) */
  float *A, *Bn, *A2, *B2; /* (L, Na, H): the first layers' atom halves */
  float *cache[2][4];      /* (L, Np, H) each: the two pair MLPs' nn_pair_mlp_cache */
  float *att, *th;         /* (L, Np): a_ij, tanh(phi_ij) */
  float *cat;              /* (L, Na, 2H) [h, g] */
  float *q, *dq_deriv, *r; /* (L, Na, H): q = V1 cat + c1, silu'(q), silu(q) */
  float *we;               /* (L, 2, 2, H): each MLP's r and d0 columns of W1 */
  float *e, *de;           /* (Np, H) scratch */
  float *dh, *dx, *dcat, *dq, *dA, *dB, *dattr, *dcd, *gwe, *out; /* scratch */
};

static int tensor(int l, int k) { return 2 + BLOCK_TENSORS * l + k; }

static size_t at(const nn_egnn *m, int l, size_t per_atom) { return (size_t)l * m->cfg.max_atoms * per_atom; }
static size_t ap(const nn_egnn *m, int l, size_t per_pair) { return (size_t)l * m->cfg.max_pairs * per_pair; }

static core_status name_tensors(nn_egnn *m) {
  const int H = m->cfg.width, L = m->cfg.layers, F = m->cfg.features;
  const int64_t emb_w[2] = {H, F + 1}, hb[1] = {H}, one[1] = {1}, out_w[2] = {F, H}, out_b[1] = {F};
  const int64_t w1[2] = {H, 2 * H + EDGE_ATTRS}, v1[2] = {H, 2 * H}, hh[2] = {H, H}, row[2] = {1, H};
  CORE_CALL(nn_params_name(m->p, 0, "embedding.weight", 2, emb_w));
  CORE_CALL(nn_params_name(m->p, 1, "embedding.bias", 1, hb));
  static const char *const part[BLOCK_TENSORS] = {
      "gcl_0.edge_mlp.0.weight",      "gcl_0.edge_mlp.0.bias",        "gcl_0.edge_mlp.2.weight",
      "gcl_0.edge_mlp.2.bias",        "gcl_0.node_mlp.0.weight",      "gcl_0.node_mlp.0.bias",
      "gcl_0.node_mlp.2.weight",      "gcl_0.node_mlp.2.bias",        "gcl_0.att_mlp.0.weight",
      "gcl_0.att_mlp.0.bias",         "gcl_equiv.coord_mlp.0.weight", "gcl_equiv.coord_mlp.0.bias",
      "gcl_equiv.coord_mlp.2.weight", "gcl_equiv.coord_mlp.2.bias",   "gcl_equiv.coord_mlp.4.weight"};
  const int64_t *const shape[BLOCK_TENSORS] = {w1, hb, hh, hb, v1, hb, hh, hb, row, one, w1, hb, hh, hb, row};
  for (int l = 0; l < L; ++l)
    for (int k = 0; k < BLOCK_TENSORS; ++k) {
      char name[NN_TENSOR_NAME_BYTES];
      snprintf(name, sizeof name, "e_block_%d.%s", l, part[k]);
      CORE_CALL(nn_params_name(m->p, tensor(l, k), name, shape[k] == hb || shape[k] == one ? 1 : 2, shape[k]));
    }
  CORE_CALL(nn_params_name(m->p, tensor(L, 0), "embedding_out.weight", 2, out_w));
  return nn_params_name(m->p, tensor(L, 0) + 1, "embedding_out.bias", 1, out_b);
}

static core_status workspace(nn_egnn *m) {
  const size_t H = (size_t)m->cfg.width, L = (size_t)m->cfg.layers, Na = (size_t)m->cfg.max_atoms;
  const size_t Np = (size_t)m->cfg.max_pairs, F = (size_t)m->cfg.features;
  const size_t per_block = Np * (2 + 3 + 1 + 8 * H + 2) + Na * H * (4 + 2 + 3) + 4 * H;
  const size_t total = Na * (F + 1) + (L + 1) * Na * (3 + H) + L * per_block + 2 * Np * H + Na * H * 2 + Na * 3 +
                       Na * 2 * H + Na * H * 3 + Np * (2 + 3) + 2 * H + Na * (3 + F);
  m->mem = malloc(sizeof(float) * total);
  m->natoms = malloc(sizeof(int64_t) * Na);
  CORE_CHECK(m->mem && m->natoms, CORE_ERR_MEM, "nn_egnn_create: cannot allocate %.3g GB of activations",
             4.0 * (double)total / 1e9);
  float *q = m->mem;
#define CARVE(ptr, n) (m->ptr = q, q += (n))
  CARVE(hin, Na * (F + 1));
  CARVE(x, (L + 1) * Na * 3);
  CARVE(h, (L + 1) * Na * H);
  CARVE(attr, L * Np * 2);
  CARVE(cdir, L * Np * 3);
  CARVE(nrm, L * Np);
  CARVE(A, L * Na * H);
  CARVE(Bn, L * Na * H);
  CARVE(A2, L * Na * H);
  CARVE(B2, L * Na * H);
  for (int k = 0; k < 2; ++k)
    for (int c = 0; c < 4; ++c) CARVE(cache[k][c], L * Np * H);
  CARVE(att, L * Np);
  CARVE(th, L * Np);
  CARVE(cat, L * Na * 2 * H);
  CARVE(q, L * Na * H);
  CARVE(dq_deriv, L * Na * H);
  CARVE(r, L * Na * H);
  CARVE(we, L * 4 * H);
  CARVE(e, Np * H);
  CARVE(de, Np * H);
  CARVE(dh, Na * H);
  CARVE(dx, Na * 3);
  CARVE(dcat, Na * 2 * H);
  CARVE(dq, Na * H);
  CARVE(dA, Na * H);
  CARVE(dB, Na * H);
  CARVE(dattr, Np * 2);
  CARVE(dcd, Np * 3);
  CARVE(gwe, 2 * H);
  CARVE(out, Na * (3 + F));
#undef CARVE
  return nn_pairs_alloc(&m->P, m->cfg.max_atoms, m->cfg.max_pairs);
}

core_status nn_egnn_create(const nn_egnn_config *cfg, uint64_t seed, nn_egnn **out) {
  CORE_CHECK(out && cfg, CORE_ERR_ARG, "nn_egnn_create: NULL argument");
  *out = NULL;
  CORE_CHECK(cfg->features >= 0 && cfg->features <= 64, CORE_ERR_ARG, "nn_egnn_create: %d features, expected 0..64",
             cfg->features);
  CORE_CHECK(cfg->width >= 1 && cfg->width <= 4096, CORE_ERR_ARG, "nn_egnn_create: width %d, expected 1..4096",
             cfg->width);
  CORE_CHECK(cfg->layers >= 0 && cfg->layers <= 64, CORE_ERR_ARG, "nn_egnn_create: %d layers, expected 0..64",
             cfg->layers);
  CORE_CHECK(isfinite(cfg->norm) && cfg->norm > 0, CORE_ERR_ARG, "nn_egnn_create: normalisation %g, expected > 0",
             cfg->norm);
  CORE_CHECK(isfinite(cfg->coords_range) && cfg->coords_range > 0, CORE_ERR_ARG,
             "nn_egnn_create: coordinate range %g, expected > 0", cfg->coords_range);
  CORE_CHECK(cfg->max_atoms >= 1 && cfg->max_pairs >= 0, CORE_ERR_ARG,
             "nn_egnn_create: max_atoms %d, max_pairs %lld: expected max_atoms >= 1, max_pairs >= 0", cfg->max_atoms,
             (long long)cfg->max_pairs);
  const int H = cfg->width, L = cfg->layers, F = cfg->features;
  const int nt = 2 + BLOCK_TENSORS * L + 2;
  size_t *sizes = malloc(sizeof(size_t) * (size_t)nt);
  double *bound = malloc(sizeof(double) * (size_t)nt);
  nn_egnn *m = calloc(1, sizeof *m);
  core_status st = sizes && bound && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "nn_egnn_create: out of memory");
  if (!st) {
    const size_t h = (size_t)H, w1 = 2 * h + EDGE_ATTRS;
    sizes[0] = h * (size_t)(F + 1), sizes[1] = h, bound[0] = bound[1] = 1.0 / sqrt(F + 1.0);
    const size_t size[BLOCK_TENSORS] = {h * w1, h, h * h, h, h * 2 * h, h, h * h, h, h, 1, h * w1, h, h * h, h, h};
    const double fan[BLOCK_TENSORS] = {(double)w1, (double)w1, (double)h, (double)h, 2.0 * h, 2.0 * h, (double)h,
                                       (double)h,  (double)h,  (double)h, (double)w1, (double)w1, (double)h,
                                       (double)h,  0};
    for (int l = 0; l < L; ++l)
      for (int k = 0; k < BLOCK_TENSORS; ++k) {
        sizes[tensor(l, k)] = size[k];
        /* EDM: xavier_uniform_(gain = 0.001) on the (1, H) output row of
         * the coordinate MLP, so the coordinates start almost still. */
        bound[tensor(l, k)] = k == COORD_U ? 0.001 * sqrt(6.0 / (h + 1.0)) : 1.0 / sqrt(fan[k]);
      }
    sizes[tensor(L, 0)] = (size_t)F * h, sizes[tensor(L, 0) + 1] = (size_t)F;
    bound[tensor(L, 0)] = bound[tensor(L, 0) + 1] = 1.0 / sqrt((double)H);
    st = nn_params_create(nt, sizes, &m->p);
    for (int t = 0; !st && t < nt; ++t) nn_params_init_uniform(m->p, t, bound[t], seed);
  }
  free(sizes);
  free(bound);
  if (!st) {
    m->base.type = &nn_egnn_type;
    m->cfg = *cfg;
    st = name_tensors(m);
  }
  if (!st) st = workspace(m);
  if (st) {
    nn_egnn_destroy(&m);
    return st;
  }
  *out = m;
  return CORE_OK;
}

void nn_egnn_destroy(nn_egnn **mp) {
  if (!mp || !*mp) return;
  nn_params_destroy(&(*mp)->p);
  free((*mp)->mem);
  free((*mp)->natoms);
  nn_pairs_free(&(*mp)->P);
  free(*mp);
  *mp = NULL;
}

nn_params *nn_egnn_params(nn_egnn *m) { return m->p; }

/* ---- one block ---------------------------------------------------------------- */

/* MLP k (0 the GCL's edge MLP, 1 the coordinate MLP) of block l. */
static nn_pair_mlp pair_mlp(const nn_egnn *m, int l, int k) {
  const int H = m->cfg.width;
  return (nn_pair_mlp){.H = H, .E = EDGE_ATTRS, .we = m->we + (size_t)(4 * l + 2 * k) * H,
                       .w2 = nn_params_tensor(m->p, tensor(l, k ? COORD_U2 : GCL_W2)),
                       .b2 = nn_params_tensor(m->p, tensor(l, k ? COORD_D2 : GCL_B2))};
}
static nn_pair_mlp_cache pair_cache(const nn_egnn *m, int l, int k) {
  const size_t o = ap(m, l, (size_t)m->cfg.width);
  return (nn_pair_mlp_cache){m->cache[k][0] + o, m->cache[k][1] + o, m->cache[k][2] + o, m->cache[k][3] + o};
}

/* r_ij, c_ij and |x_i - x_j| of block l from x_l; d0 from the input. */
static void block_geometry(nn_egnn *m, int l) {
  const nn_pairs *P = &m->P;
  const float *x = m->x + at(m, l, 3);
  float *attr = m->attr + ap(m, l, 2), *cd = m->cdir + ap(m, l, 3), *nrm = m->nrm + ap(m, l, 1);
  for (int64_t p = 0; p < P->pairs; ++p) {
    const float *xi = x + (size_t)P->i[p] * 3, *xj = x + (size_t)P->j[p] * 3;
    const float d[3] = {xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]};
    const float r = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    const float n = sqrtf(r + (float)dist_eps), s = 1.0f / (n + (float)norm_constant);
    attr[2 * p] = r;
    attr[2 * p + 1] = l ? m->attr[2 * p] : r;
    nrm[p] = n;
    for (int c = 0; c < 3; ++c) cd[3 * p + c] = d[c] * s;
  }
}

/* The GCL: h_{l+1} from h_l. */
static void gcl_forward(nn_egnn *m, int l, int infer) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const size_t NH = (size_t)Na * H;
  const float *h = m->h + at(m, l, H), *attr = m->attr + ap(m, l, 2);
  float *hn = m->h + at(m, l + 1, H), *A = m->A + at(m, l, H), *Bn = m->Bn + at(m, l, H);
  float *cat = m->cat + at(m, l, 2 * H), *q = m->q + at(m, l, H), *sq = m->dq_deriv + at(m, l, H);
  float *r = m->r + at(m, l, H), *att = m->att + ap(m, l, 1);
  const float *W1 = nn_params_tensor(m->p, tensor(l, GCL_W1)), *b1 = nn_params_tensor(m->p, tensor(l, GCL_B1));
  const float *wa = nn_params_tensor(m->p, tensor(l, ATT_W)), ba = *nn_params_tensor(m->p, tensor(l, ATT_B));
  const int ldw = 2 * H + EDGE_ATTRS;
  nn_gemm_wt(A, h, Na, H, W1, ldw, b1, H);
  nn_gemm_wt(Bn, h, Na, H, W1 + H, ldw, NULL, H);
  const nn_pair_mlp f = pair_mlp(m, l, 0);
  const nn_pair_mlp_cache c = pair_cache(m, l, 0);
  const float *msg = nn_pair_mlp_forward(&f, &m->P, A, Bn, attr, &c, m->e, infer);
  /* o_ij = a_ij m_ij into the scratch e (m stays for the backward). */
  float *e = m->e;
  for (int64_t p = 0; p < m->P.pairs; ++p) {
    const float *restrict mp = msg + p * H;
    float *restrict op = e + p * H, g = ba;
    for (int k = 0; k < H; ++k) g += wa[k] * mp[k];
    const float a = 1.0f / (1.0f + expf(-g));
    att[p] = a;
    for (int k = 0; k < H; ++k) op[k] = mp[k] * a;
  }
  for (int i = 0; i < Na; ++i) memcpy(cat + (size_t)i * 2 * H, h + (size_t)i * H, sizeof(float) * (size_t)H);
  nn_pairs_sum(&m->P, H, e, (float)(1.0 / m->cfg.norm), cat + H, 2 * H);
  nn_gemm_wt(q, cat, Na, 2 * H, nn_params_tensor(m->p, tensor(l, NODE_V1)), 2 * H,
             nn_params_tensor(m->p, tensor(l, NODE_C1)), H);
  if (infer) nn_silu_forward(r, q, NH);
  else nn_silu_forward_keep(r, sq, q, NH);
  nn_gemm_wt(hn, r, Na, H, nn_params_tensor(m->p, tensor(l, NODE_V2)), H, nn_params_tensor(m->p, tensor(l, NODE_C2)),
             H);
  for (size_t k = 0; k < NH; ++k) hn[k] += h[k];
}

/* The coordinate update: x_{l+1} from x_l and h_{l+1}. */
static void coord_forward(nn_egnn *m, int l, int infer) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const float *hn = m->h + at(m, l + 1, H), *attr = m->attr + ap(m, l, 2), *cd = m->cdir + ap(m, l, 3);
  const float *x = m->x + at(m, l, 3);
  float *xn = m->x + at(m, l + 1, 3), *A2 = m->A2 + at(m, l, H), *B2 = m->B2 + at(m, l, H), *th = m->th + ap(m, l, 1);
  const float *U1 = nn_params_tensor(m->p, tensor(l, COORD_U1)), *d1 = nn_params_tensor(m->p, tensor(l, COORD_D1));
  const float *u = nn_params_tensor(m->p, tensor(l, COORD_U));
  const int ldw = 2 * H + EDGE_ATTRS;
  nn_gemm_wt(A2, hn, Na, H, U1, ldw, d1, H);
  nn_gemm_wt(B2, hn, Na, H, U1 + H, ldw, NULL, H);
  const nn_pair_mlp f = pair_mlp(m, l, 1);
  const nn_pair_mlp_cache c = pair_cache(m, l, 1);
  const float *n = nn_pair_mlp_forward(&f, &m->P, A2, B2, attr, &c, m->e, infer);
  const float scale = (float)(m->cfg.coords_range / m->cfg.norm);
  for (int i = 0; i < Na; ++i) {
    float s[3] = {0, 0, 0};
    for (int64_t p = m->P.row[i]; p < m->P.row[i + 1]; ++p) {
      float phi = 0;
      for (int k = 0; k < H; ++k) phi += u[k] * n[p * H + k];
      th[p] = tanhf(phi);
      for (int c3 = 0; c3 < 3; ++c3) s[c3] += cd[3 * p + c3] * th[p];
    }
    for (int c3 = 0; c3 < 3; ++c3) xn[3 * i + c3] = x[3 * i + c3] + s[c3] * scale;
  }
}

/* W1's r and d0 columns of block l's two MLPs, contiguous (nn_pair_mlp's
 * layout). */
static void edge_columns(nn_egnn *m, int l) {
  const int H = m->cfg.width, ldw = 2 * H + EDGE_ATTRS;
  for (int k = 0; k < 2; ++k) {
    const float *W1 = nn_params_tensor(m->p, tensor(l, k ? COORD_U1 : GCL_W1));
    float *we = m->we + (size_t)(4 * l + 2 * k) * H;
    for (int c = 0; c < H; ++c) we[c] = W1[(size_t)c * ldw + 2 * H], we[H + c] = W1[(size_t)c * ldw + 2 * H + 1];
  }
}

core_status nn_egnn_forward(nn_egnn *m, const nn_input *in, float *y) {
  m->last_B = 0; /* a refused forward leaves nothing for a backward */
  CORE_CHECK(in && in->x && in->natoms && in->t && y, CORE_ERR_ARG,
             "nn_egnn_forward: x, natoms, t and y are required");
  const int B = in->B, F = m->cfg.features, H = m->cfg.width, L = m->cfg.layers, d = 3 + F;
  CORE_CHECK(B >= 1, CORE_ERR_ARG, "nn_egnn_forward: batch %d", B);
  int64_t Na = 0;
  for (int b = 0; b < B; ++b) {
    CORE_CHECK(in->natoms[b] >= 1, CORE_ERR_ARG, "nn_egnn_forward: molecule %d has %lld atoms", b,
               (long long)in->natoms[b]);
    Na += in->natoms[b];
  }
  const int64_t Np = nn_pairs_count(B, in->natoms, 0);
  CORE_CHECK(Na <= m->cfg.max_atoms && Np <= m->cfg.max_pairs, CORE_ERR_ARG,
             "nn_egnn_forward: %lld atoms and %lld pairs, the workspace holds %d and %lld", (long long)Na,
             (long long)Np, m->cfg.max_atoms, (long long)m->cfg.max_pairs);
  nn_pairs_build(&m->P, B, in->natoms, 0);
  for (int b = 0, i = 0; b < B; ++b)
    for (int64_t k = 0; k < in->natoms[b]; ++k, ++i) {
      memcpy(m->x + (size_t)i * 3, in->x + (size_t)i * d, sizeof(float) * 3);
      memcpy(m->hin + (size_t)i * (F + 1), in->x + (size_t)i * d + 3, sizeof(float) * (size_t)F);
      m->hin[(size_t)i * (F + 1) + F] = in->t[b];
    }
  nn_gemm_wt(m->h, m->hin, (int)Na, F + 1, nn_params_tensor(m->p, 0), F + 1, nn_params_tensor(m->p, 1), H);
  for (int l = 0; l < L; ++l) {
    edge_columns(m, l);
    block_geometry(m, l);
    gcl_forward(m, l, in->inference);
    coord_forward(m, l, in->inference);
  }
  const float *xL = m->x + at(m, L, 3), *hL = m->h + at(m, L, H);
  for (int i = 0; i < Na; ++i)
    for (int c = 0; c < 3; ++c) y[(size_t)i * d + c] = xL[3 * i + c] - m->x[3 * i + c];
  if (F) { /* eps_h = E_out h_L + b_out into y's feature columns */
    nn_gemm_wt(m->out, hL, (int)Na, H, nn_params_tensor(m->p, tensor(L, 0)), H, nn_params_tensor(m->p, tensor(L, 0) + 1),
               F);
    for (int i = 0; i < Na; ++i) memcpy(y + (size_t)i * d + 3, m->out + (size_t)i * F, sizeof(float) * (size_t)F);
  }
  nn_center_positions(y, d, B, in->natoms);
  memcpy(m->natoms, in->natoms, sizeof(int64_t) * (size_t)B);
  m->last_B = in->inference ? 0 : B;
  return CORE_OK;
}

/* ---- backward ----------------------------------------------------------------- */

/* W1's r and d0 column gradients (gwe, (2, H)) into the tensor's. */
static void add_edge_column_grads(nn_egnn *m, int l, int k) {
  const int H = m->cfg.width, ldw = 2 * H + EDGE_ATTRS;
  float *g = nn_params_grad(m->p, tensor(l, k ? COORD_U1 : GCL_W1));
  for (int c = 0; c < H; ++c) g[(size_t)c * ldw + 2 * H] += m->gwe[c], g[(size_t)c * ldw + 2 * H + 1] += m->gwe[H + c];
}

/* The first layer's atom halves: A = h W_a^T + b, B = h W_b^T, from
 * dA, dB; dh += their input gradient. */
static void first_layer_backward(nn_egnn *m, int l, int w_tensor, const float *h, float *dh) {
  const int H = m->cfg.width, Na = m->P.atoms, ldw = 2 * H + EDGE_ATTRS;
  nn_params *p = m->p;
  const float *W1 = nn_params_tensor(p, tensor(l, w_tensor));
  float *gW1 = nn_params_grad(p, tensor(l, w_tensor));
  nn_bias_grad(nn_params_grad(p, tensor(l, w_tensor + 1)), m->dA, Na, H);
  nn_gemm_grad(gW1, ldw, m->dA, Na, H, h, H);
  nn_gemm_grad(gW1 + H, ldw, m->dB, Na, H, h, H);
  nn_gemm_back(dh, m->dA, Na, H, W1, ldw, H);
  nn_gemm_back(dh, m->dB, Na, H, W1 + H, ldw, H);
}

/* x_{l+1} = x_l + sum_j c_ij tanh(phi_ij) R / nf: from dx (= dL/dx_{l+1},
 * which passes to x_l unchanged) into dh (dL/dh_{l+1}), dattr and dcd. */
static void coord_backward(nn_egnn *m, int l, float *dh) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const float *cd = m->cdir + ap(m, l, 3), *th = m->th + ap(m, l, 1), *attr = m->attr + ap(m, l, 2);
  const nn_pair_mlp_cache c = pair_cache(m, l, 1);
  const float *u = nn_params_tensor(m->p, tensor(l, COORD_U));
  float *gu = nn_params_grad(m->p, tensor(l, COORD_U));
  const float scale = (float)(m->cfg.coords_range / m->cfg.norm);
  for (int i = 0; i < Na; ++i)
    for (int64_t p = m->P.row[i]; p < m->P.row[i + 1]; ++p) {
      const float *g = m->dx + 3 * i;
      const float dth = scale * (cd[3 * p] * g[0] + cd[3 * p + 1] * g[1] + cd[3 * p + 2] * g[2]);
      for (int c3 = 0; c3 < 3; ++c3) m->dcd[3 * p + c3] = scale * th[p] * g[c3];
      const float dphi = dth * (1.0f - th[p] * th[p]);
      /* phi = u . n, n the MLP's output (kept); dn = dphi u. */
      const float *restrict n = c.m + p * H;
      float *restrict dn = m->de + p * H;
      for (int k = 0; k < H; ++k) gu[k] += dphi * n[k], dn[k] = dphi * u[k];
    }
  const nn_pair_mlp f = pair_mlp(m, l, 1);
  memset(m->gwe, 0, sizeof(float) * 2 * (size_t)H);
  nn_pair_mlp_backward(&f, &m->P, attr, &c, m->de, m->e, m->dA, m->dB, nn_params_grad(m->p, tensor(l, COORD_U2)),
                       nn_params_grad(m->p, tensor(l, COORD_D2)), m->gwe, m->dattr);
  add_edge_column_grads(m, l, 1);
  first_layer_backward(m, l, COORD_U1, m->h + at(m, l + 1, H), dh);
}

/* The GCL: dh holds dL/dh_{l+1} on entry, dL/dh_l on return; dattr +=. */
static void gcl_backward(nn_egnn *m, int l, float *dh) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const size_t NH = (size_t)Na * H;
  nn_params *p = m->p;
  const float *sq = m->dq_deriv + at(m, l, H), *r = m->r + at(m, l, H);
  const float *cat = m->cat + at(m, l, 2 * H), *att = m->att + ap(m, l, 1), *attr = m->attr + ap(m, l, 2);
  const float *wa = nn_params_tensor(p, tensor(l, ATT_W));
  float *gwa = nn_params_grad(p, tensor(l, ATT_W)), *gba = nn_params_grad(p, tensor(l, ATT_B));
  /* h' = h + V2 r + c2, r = silu(q), q = V1 cat + c1. */
  nn_gemm_grad(nn_params_grad(p, tensor(l, NODE_V2)), H, dh, Na, H, r, H);
  nn_bias_grad(nn_params_grad(p, tensor(l, NODE_C2)), dh, Na, H);
  memset(m->dA, 0, sizeof(float) * NH);
  nn_gemm_back(m->dA, dh, Na, H, nn_params_tensor(p, tensor(l, NODE_V2)), H, H);
  nn_silu_backward_kept(m->dq, m->dA, sq, NH);
  nn_gemm_grad(nn_params_grad(p, tensor(l, NODE_V1)), 2 * H, m->dq, Na, H, cat, 2 * H);
  nn_bias_grad(nn_params_grad(p, tensor(l, NODE_C1)), m->dq, Na, H);
  memset(m->dcat, 0, sizeof(float) * NH * 2);
  nn_gemm_back(m->dcat, m->dq, Na, H, nn_params_tensor(p, tensor(l, NODE_V1)), 2 * H, 2 * H);
  for (int i = 0; i < Na; ++i)
    for (int c = 0; c < H; ++c) dh[(size_t)i * H + c] += m->dcat[(size_t)i * 2 * H + c];
  /* o = a m, a = sigmoid(w_a . m + b_a): do into dm. */
  nn_pairs_spread(&m->P, H, m->dcat + H, 2 * H, (float)(1.0 / m->cfg.norm), m->de);
  const nn_pair_mlp_cache c = pair_cache(m, l, 0);
  for (int64_t pp = 0; pp < m->P.pairs; ++pp) {
    const float *restrict mp = c.m + pp * H;
    float *restrict d = m->de + pp * H;
    const float a = att[pp];
    float dom = 0;
    for (int k = 0; k < H; ++k) dom += d[k] * mp[k];
    const float dg = dom * a * (1.0f - a);
    *gba += dg;
    for (int k = 0; k < H; ++k) gwa[k] += dg * mp[k], d[k] = d[k] * a + dg * wa[k];
  }
  const nn_pair_mlp f = pair_mlp(m, l, 0);
  memset(m->gwe, 0, sizeof(float) * 2 * (size_t)H);
  nn_pair_mlp_backward(&f, &m->P, attr, &c, m->de, m->e, m->dA, m->dB, nn_params_grad(p, tensor(l, GCL_W2)),
                       nn_params_grad(p, tensor(l, GCL_B2)), m->gwe, m->dattr);
  add_edge_column_grads(m, l, 0);
  first_layer_backward(m, l, GCL_W1, m->h + at(m, l, H), dh);
}

/* r_ij and c_ij of x_l: dx (dL/dx_l) += their share, from dattr's r
 * column and dcd. */
static void geometry_backward(nn_egnn *m, int l) {
  const float *x = m->x + at(m, l, 3), *nrm = m->nrm + ap(m, l, 1);
  for (int64_t p = 0; p < m->P.pairs; ++p) {
    const int i = m->P.i[p], j = m->P.j[p];
    const float d[3] = {x[3 * i] - x[3 * j], x[3 * i + 1] - x[3 * j + 1], x[3 * i + 2] - x[3 * j + 2]};
    const float *g = m->dcd + 3 * p, n = nrm[p], s = 1.0f / (n + (float)norm_constant);
    /* c = d s(|d|): dc/dd = s I - d d^T s^2 / n. */
    const float dot = d[0] * g[0] + d[1] * g[1] + d[2] * g[2], k = dot * s * s / n;
    const float dr2 = 2.0f * m->dattr[2 * p];
    for (int c = 0; c < 3; ++c) {
      const float dd = g[c] * s - d[c] * k + d[c] * dr2;
      m->dx[3 * i + c] += dd;
      m->dx[3 * j + c] -= dd;
    }
  }
}

core_status nn_egnn_backward(nn_egnn *m, int B, const float *dy) {
  CORE_CHECK(B >= 1 && B == m->last_B, CORE_ERR_ARG,
             "nn_egnn_backward: batch %d, expected the %d of the last forward", B, m->last_B);
  CORE_CHECK(dy != NULL, CORE_ERR_ARG, "nn_egnn_backward: dy is NULL");
  const int H = m->cfg.width, L = m->cfg.layers, F = m->cfg.features, d = 3 + F, Na = m->P.atoms;
  nn_params *p = m->p;
  /* The centring is a projection: its adjoint centres dy's positions. */
  float *dout = m->out;
  memcpy(dout, dy, sizeof(float) * (size_t)Na * d);
  nn_center_positions(dout, d, B, m->natoms);
  for (int i = 0; i < Na; ++i) memcpy(m->dx + 3 * i, dout + (size_t)i * d, sizeof(float) * 3);
  float *dh = m->dh;
  memset(dh, 0, sizeof(float) * (size_t)Na * H);
  if (F) { /* compact the feature columns, then E_out's gradients */
    for (int i = 0; i < Na; ++i) memmove(dout + (size_t)i * F, dout + (size_t)i * d + 3, sizeof(float) * (size_t)F);
    nn_gemm_grad(nn_params_grad(p, tensor(L, 0)), H, dout, Na, F, m->h + at(m, L, H), H);
    nn_bias_grad(nn_params_grad(p, tensor(L, 0) + 1), dout, Na, F);
    nn_gemm_back(dh, dout, Na, F, nn_params_tensor(p, tensor(L, 0)), H, H);
  }
  for (int l = L - 1; l >= 0; --l) {
    memset(m->dattr, 0, sizeof(float) * 2 * (size_t)m->P.pairs);
    coord_backward(m, l, dh);
    gcl_backward(m, l, dh);
    geometry_backward(m, l);
  }
  nn_gemm_grad(nn_params_grad(p, 0), F + 1, dh, Na, H, m->hin, F + 1);
  nn_bias_grad(nn_params_grad(p, 1), dh, Na, H);
  return CORE_OK;
}

/* ---- the model table's row -------------------------------------------- */

static core_status table_create(const void *config, uint64_t seed, nn_model **model) {
  nn_egnn *m = NULL;
  CORE_CALL(nn_egnn_create(config, seed, &m));
  *model = &m->base;
  return CORE_OK;
}
static nn_params *table_params(nn_model *m) { return ((nn_egnn *)m)->p; }
static core_status table_forward(nn_model *m, const nn_input *in, float *y) {
  return nn_egnn_forward((nn_egnn *)m, in, y);
}
static core_status table_backward(nn_model *m, int B, const float *dy) {
  return nn_egnn_backward((nn_egnn *)m, B, dy);
}
static void table_destroy(nn_model *m) {
  nn_egnn *g = (nn_egnn *)m;
  nn_egnn_destroy(&g);
}

const nn_model_type nn_egnn_type = {"egnn", table_create, table_params, table_forward, table_backward,
                                    table_destroy};
