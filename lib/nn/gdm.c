/* GDM: the non-equivariant graph network EDM (Hoogeboom et al. 2022)
 * trains as its baseline diffusion model ("gnn_dynamics" of EDM's
 * egnn/models.py and egnn/egnn_new.py GNN/GCL), on the complete graph of
 * each molecule, for molecules of different sizes concatenated in one
 * batch (no padding).
 *
 * Per atom the input is [x (3), features (F), t] (t the example's diffusion
 * time t / T, as EDM's condition_time), the output [eps_x (3), eps_h (F)]:
 *   h_0 = E_in [x, f, t] + b_in                                   (H)
 *   per layer l (EDM's GCL, normalisation factor nf, sum aggregation):
 *     m_ij = silu(W2 silu(W1 [h_i, h_j] + b1) + b2)   for every ordered pair
 *            (i, j) of the molecule's atoms, i = j included (EDM's adjacency
 *            lists every pair of its n x n block)
 *     a_i  = sum_j m_ij / nf
 *     h_i <- h_i + V2 silu(V1 [h_i, a_i] + c1) + c2
 *   [eps_x, eps_h] = E_out h_L + b_out, eps_x centred per molecule.
 * EDM's output layer also has a column for t, which it then drops; here it
 * is left out. Positions enter raw (the sampler keeps them centred), so the
 * network is not rotation-equivariant: GDM-aug rotates its training data.
 *
 * Cost: the pair MLP's second layer, a (sum n_b^2, H) x (H, H) GEMM per
 * layer, dominates. W1 [h_i, h_j] = W1a h_i + W1b h_j is two GEMMs over the
 * atoms, added per pair. The forward keeps per layer sigma and output of
 * the first pair activation, the second's input and sigma (4 pair arrays),
 * so backward recomputes nothing but the sum A_i + B_j. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"

enum { GDM_LAYER_TENSORS = 8 };

struct nn_gdm {
  nn_model base; /* first: the model table's view */
  nn_gdm_config cfg;
  int din, dout;
  nn_params *p;
  int last_B;     /* molecules of the last forward that a backward may follow, or 0 */
  nn_pairs P;     /* the last forward's pairs */
  /* Activations (one allocation, carved below). */
  float *mem;
  float *in;             /* (Na, din) */
  float *h;              /* (L + 1, Na, H) */
  float *A, *Bn;         /* (L, Na, H): W1a h_i + b1, W1b h_j */
  float *d1, *s1, *d2, *msg; /* (L, Np, H): the edge MLP's nn_pair_mlp_cache */
  float *cat;            /* (L, Na, 2H): [h, a] */
  float *q, *dq_deriv, *r; /* (L, Na, H): q = V1 cat + c1, silu'(q), r = silu(q) */
  float *out;            /* (Na, dout) */
  float *e, *de;         /* (Np, H) scratch */
  float *dh, *dcat, *dq, *dA, *dB; /* (Na, 2H) / (Na, H) scratch */
  int64_t *natoms;       /* (max atoms) the last forward's molecule sizes */
};

/* Tensor t of layer l, or of the embeddings: the one table of the layout. */
static int layer_tensor(int l, int k) { return 2 + GDM_LAYER_TENSORS * l + k; }

static core_status name_tensors(nn_gdm *m) {
  const int H = m->cfg.width, L = m->cfg.layers;
  const int64_t emb_w[2] = {H, m->din}, hb[1] = {H}, pair_w1[2] = {H, 2 * H}, hh[2] = {H, H};
  const int64_t out_w[2] = {m->dout, H}, out_b[1] = {m->dout};
  CORE_CALL(nn_params_name(m->p, 0, "embedding.weight", 2, emb_w));
  CORE_CALL(nn_params_name(m->p, 1, "embedding.bias", 1, hb));
  static const char *const part[GDM_LAYER_TENSORS] = {"edge_mlp.0.weight", "edge_mlp.0.bias", "edge_mlp.2.weight",
                                                      "edge_mlp.2.bias",   "node_mlp.0.weight", "node_mlp.0.bias",
                                                      "node_mlp.2.weight", "node_mlp.2.bias"};
  for (int l = 0; l < L; ++l)
    for (int k = 0; k < GDM_LAYER_TENSORS; ++k) {
      char name[NN_TENSOR_NAME_BYTES];
      snprintf(name, sizeof name, "gcl_%d.%s", l, part[k]);
      const int64_t *shape = k % 2 ? hb : (k == 0 || k == 4) ? pair_w1 : hh;
      CORE_CALL(nn_params_name(m->p, layer_tensor(l, k), name, k % 2 ? 1 : 2, shape));
    }
  CORE_CALL(nn_params_name(m->p, layer_tensor(L, 0), "embedding_out.weight", 2, out_w));
  return nn_params_name(m->p, layer_tensor(L, 0) + 1, "embedding_out.bias", 1, out_b);
}

static core_status workspace(nn_gdm *m) {
  const size_t H = (size_t)m->cfg.width, L = (size_t)m->cfg.layers, Na = (size_t)m->cfg.max_atoms;
  const size_t Np = (size_t)m->cfg.max_pairs, din = (size_t)m->din, dout = (size_t)m->dout;
  const size_t total = Na * din + (L + 1) * Na * H + 2 * L * Na * H + 4 * L * Np * H + L * Na * 2 * H +
                       3 * L * Na * H + Na * dout + 2 * Np * H + Na * 2 * H * 2 + 3 * Na * H;
  m->mem = malloc(sizeof(float) * total);
  m->natoms = malloc(sizeof(int64_t) * (size_t)m->cfg.max_atoms);
  CORE_CHECK(m->mem && m->natoms, CORE_ERR_MEM, "nn_gdm_create: cannot allocate %.3g GB of activations",
             4.0 * (double)total / 1e9);
  float *q = m->mem;
  m->in = q, q += Na * din;
  m->h = q, q += (L + 1) * Na * H;
  m->A = q, q += L * Na * H;
  m->Bn = q, q += L * Na * H;
  m->d1 = q, q += L * Np * H;
  m->s1 = q, q += L * Np * H;
  m->d2 = q, q += L * Np * H;
  m->msg = q, q += L * Np * H;
  m->cat = q, q += L * Na * 2 * H;
  m->q = q, q += L * Na * H;
  m->dq_deriv = q, q += L * Na * H;
  m->r = q, q += L * Na * H;
  m->out = q, q += Na * dout;
  m->e = q, q += Np * H;
  m->de = q, q += Np * H;
  m->dh = q, q += Na * 2 * H;
  m->dcat = q, q += Na * 2 * H;
  m->dq = q, q += Na * H;
  m->dA = q, q += Na * H;
  m->dB = q;
  return nn_pairs_alloc(&m->P, m->cfg.max_atoms, m->cfg.max_pairs);
}

core_status nn_gdm_create(const nn_gdm_config *cfg, uint64_t seed, nn_gdm **out) {
  CORE_CHECK(out && cfg, CORE_ERR_ARG, "nn_gdm_create: NULL argument");
  *out = NULL;
  CORE_CHECK(cfg->features >= 0 && cfg->features <= 64, CORE_ERR_ARG, "nn_gdm_create: %d features, expected 0..64",
             cfg->features);
  CORE_CHECK(cfg->width >= 1 && cfg->width <= 4096, CORE_ERR_ARG, "nn_gdm_create: width %d, expected 1..4096",
             cfg->width);
  CORE_CHECK(cfg->layers >= 0 && cfg->layers <= 64, CORE_ERR_ARG, "nn_gdm_create: %d layers, expected 0..64",
             cfg->layers);
  CORE_CHECK(isfinite(cfg->norm) && cfg->norm > 0, CORE_ERR_ARG, "nn_gdm_create: normalisation %g, expected > 0",
             cfg->norm);
  CORE_CHECK(cfg->max_atoms >= 1 && cfg->max_pairs >= cfg->max_atoms, CORE_ERR_ARG,
             "nn_gdm_create: max_atoms %d, max_pairs %lld: expected max_pairs >= max_atoms >= 1", cfg->max_atoms,
             (long long)cfg->max_pairs);
  const int H = cfg->width, L = cfg->layers, din = 3 + cfg->features + 1, dout = 3 + cfg->features;
  const int nt = 2 + GDM_LAYER_TENSORS * L + 2;
  size_t *sizes = malloc(sizeof(size_t) * 2 * (size_t)nt);
  nn_gdm *m = calloc(1, sizeof *m);
  core_status st = sizes && m ? CORE_OK : CORE_ERROR(CORE_ERR_MEM, "nn_gdm_create: out of memory");
  if (!st) {
    size_t *fan = sizes + nt;
    sizes[0] = (size_t)H * din, sizes[1] = (size_t)H, fan[0] = fan[1] = (size_t)din;
    for (int l = 0; l < L; ++l) {
      const size_t pair[GDM_LAYER_TENSORS] = {(size_t)H * 2 * H, H, (size_t)H * H, H, (size_t)H * 2 * H, H,
                                              (size_t)H * H, H};
      const size_t fans[GDM_LAYER_TENSORS] = {2 * H, 2 * H, H, H, 2 * H, 2 * H, H, H};
      for (int k = 0; k < GDM_LAYER_TENSORS; ++k) sizes[layer_tensor(l, k)] = pair[k], fan[layer_tensor(l, k)] = fans[k];
    }
    sizes[layer_tensor(L, 0)] = (size_t)dout * H, sizes[layer_tensor(L, 0) + 1] = (size_t)dout;
    fan[layer_tensor(L, 0)] = fan[layer_tensor(L, 0) + 1] = (size_t)H;
    st = nn_params_create(nt, sizes, &m->p);
    for (int t = 0; !st && t < nt; ++t) nn_params_init_uniform(m->p, t, 1.0 / sqrt((double)fan[t]), seed);
  }
  free(sizes);
  if (!st) {
    m->base.type = &nn_gdm_type;
    m->cfg = *cfg, m->din = din, m->dout = dout;
    st = name_tensors(m);
  }
  if (!st) st = workspace(m);
  if (st) {
    nn_gdm_destroy(&m);
    return st;
  }
  *out = m;
  return CORE_OK;
}

void nn_gdm_destroy(nn_gdm **mp) {
  if (!mp || !*mp) return;
  nn_params_destroy(&(*mp)->p);
  free((*mp)->mem);
  free((*mp)->natoms);
  nn_pairs_free(&(*mp)->P);
  free(*mp);
  *mp = NULL;
}

nn_params *nn_gdm_params(nn_gdm *m) { return m->p; }

/* Layer l's pair MLP and its cache. */
static nn_pair_mlp edge_mlp(const nn_gdm *m, int l) {
  return (nn_pair_mlp){.H = m->cfg.width,
                       .w2 = nn_params_tensor(m->p, layer_tensor(l, 2)),
                       .b2 = nn_params_tensor(m->p, layer_tensor(l, 3))};
}
static nn_pair_mlp_cache edge_cache(const nn_gdm *m, int l) {
  const size_t o = (size_t)l * m->cfg.max_pairs * m->cfg.width;
  return (nn_pair_mlp_cache){m->d1 + o, m->s1 + o, m->d2 + o, m->msg + o};
}

static void layer_forward(nn_gdm *m, int l, int infer) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const size_t NH = (size_t)Na * H, o = (size_t)l * m->cfg.max_atoms * H;
  const float *h = m->h + o;
  float *hn = m->h + o + (size_t)m->cfg.max_atoms * H;
  float *A = m->A + o, *Bn = m->Bn + o, *q = m->q + o, *sq = m->dq_deriv + o, *r = m->r + o;
  float *cat = m->cat + 2 * o;
  const float *W1 = nn_params_tensor(m->p, layer_tensor(l, 0)), *b1 = nn_params_tensor(m->p, layer_tensor(l, 1));
  const float *V1 = nn_params_tensor(m->p, layer_tensor(l, 4)), *c1 = nn_params_tensor(m->p, layer_tensor(l, 5));
  const float *V2 = nn_params_tensor(m->p, layer_tensor(l, 6)), *c2 = nn_params_tensor(m->p, layer_tensor(l, 7));
  nn_gemm_wt(A, h, Na, H, W1, 2 * H, b1, H);
  nn_gemm_wt(Bn, h, Na, H, W1 + H, 2 * H, NULL, H);
  const nn_pair_mlp f = edge_mlp(m, l);
  const nn_pair_mlp_cache c = edge_cache(m, l);
  const float *e = nn_pair_mlp_forward(&f, &m->P, A, Bn, NULL, &c, m->e, infer);
  /* cat = [h, a], a_i = sum_j m_ij / nf. */
  for (int i = 0; i < Na; ++i) memcpy(cat + (size_t)i * 2 * H, h + (size_t)i * H, sizeof(float) * (size_t)H);
  nn_pairs_sum(&m->P, H, e, (float)(1.0 / m->cfg.norm), cat + H, 2 * H);
  nn_gemm_wt(q, cat, Na, 2 * H, V1, 2 * H, c1, H);
  if (infer) nn_silu_forward(r, q, NH);
  else nn_silu_forward_keep(r, sq, q, NH);
  nn_gemm_wt(hn, r, Na, H, V2, H, c2, H);
  for (size_t k = 0; k < NH; ++k) hn[k] += h[k];
}

core_status nn_gdm_forward(nn_gdm *m, const nn_input *in, float *y) {
  m->last_B = 0; /* a refused forward leaves nothing for a backward */
  CORE_CHECK(in && in->x && in->natoms && in->t && y, CORE_ERR_ARG, "nn_gdm_forward: x, natoms, t and y are required");
  const int B = in->B, F = m->cfg.features, H = m->cfg.width, L = m->cfg.layers, d = 3 + F;
  CORE_CHECK(B >= 1, CORE_ERR_ARG, "nn_gdm_forward: batch %d", B);
  int64_t Na = 0;
  for (int b = 0; b < B; ++b) {
    CORE_CHECK(in->natoms[b] >= 1, CORE_ERR_ARG, "nn_gdm_forward: molecule %d has %lld atoms", b,
               (long long)in->natoms[b]);
    Na += in->natoms[b];
  }
  const int64_t Np = nn_pairs_count(B, in->natoms, 1);
  CORE_CHECK(Na <= m->cfg.max_atoms && Np <= m->cfg.max_pairs, CORE_ERR_ARG,
             "nn_gdm_forward: %lld atoms and %lld pairs, the workspace holds %d and %lld", (long long)Na,
             (long long)Np, m->cfg.max_atoms, (long long)m->cfg.max_pairs);
  for (int b = 0, i = 0; b < B; ++b)
    for (int64_t k = 0; k < in->natoms[b]; ++k, ++i) {
      memcpy(m->in + (size_t)i * m->din, in->x + (size_t)i * d, sizeof(float) * (size_t)d);
      m->in[(size_t)i * m->din + d] = in->t[b];
    }
  nn_pairs_build(&m->P, B, in->natoms, 1);
  nn_gemm_wt(m->h, m->in, (int)Na, m->din, nn_params_tensor(m->p, 0), m->din, nn_params_tensor(m->p, 1), H);
  for (int l = 0; l < L; ++l) layer_forward(m, l, in->inference);
  const float *hL = m->h + (size_t)L * m->cfg.max_atoms * H;
  nn_gemm_wt(y, hL, (int)Na, H, nn_params_tensor(m->p, layer_tensor(L, 0)), H,
          nn_params_tensor(m->p, layer_tensor(L, 0) + 1), m->dout);
  /* eps_x centred per molecule, as EDM's remove_mean. */
  nn_center_positions(y, d, B, in->natoms);
  memcpy(m->natoms, in->natoms, sizeof(int64_t) * (size_t)B);
  m->last_B = in->inference ? 0 : B;
  return CORE_OK;
}

/* dh (Na, H) holds dL/dh_{l+1} on entry, dL/dh_l on return. */
static void layer_backward(nn_gdm *m, int l, float *dh) {
  const int H = m->cfg.width, Na = m->P.atoms;
  const size_t NH = (size_t)Na * H, o = (size_t)l * m->cfg.max_atoms * H;
  const float *h = m->h + o, *sq = m->dq_deriv + o, *r = m->r + o;
  const float *cat = m->cat + 2 * o;
  nn_params *p = m->p;
  const float *W1 = nn_params_tensor(p, layer_tensor(l, 0));
  const float *V1 = nn_params_tensor(p, layer_tensor(l, 4)), *V2 = nn_params_tensor(p, layer_tensor(l, 6));
  float *gW1 = nn_params_grad(p, layer_tensor(l, 0)), *gb1 = nn_params_grad(p, layer_tensor(l, 1));
  float *gV1 = nn_params_grad(p, layer_tensor(l, 4)), *gc1 = nn_params_grad(p, layer_tensor(l, 5));
  float *gV2 = nn_params_grad(p, layer_tensor(l, 6)), *gc2 = nn_params_grad(p, layer_tensor(l, 7));
  /* h' = h + V2 r + c2, r = silu(q), q = V1 cat + c1. */
  nn_gemm_grad(gV2, H, dh, Na, H, r, H);
  nn_bias_grad(gc2, dh, Na, H);
  float *dr = m->dA; /* (Na, H) scratch */
  memset(dr, 0, sizeof(float) * NH);
  nn_gemm_back(dr, dh, Na, H, V2, H, H);
  nn_silu_backward_kept(m->dq, dr, sq, NH);
  nn_gemm_grad(gV1, 2 * H, m->dq, Na, H, cat, 2 * H);
  nn_bias_grad(gc1, m->dq, Na, H);
  memset(m->dcat, 0, sizeof(float) * NH * 2);
  nn_gemm_back(m->dcat, m->dq, Na, H, V1, 2 * H, 2 * H);
  /* dh (the residual path) += dcat's h half; its a half, / nf, to every pair of i. */
  for (int i = 0; i < Na; ++i)
    for (int c = 0; c < H; ++c) dh[(size_t)i * H + c] += m->dcat[(size_t)i * 2 * H + c];
  nn_pairs_spread(&m->P, H, m->dcat + H, 2 * H, (float)(1.0 / m->cfg.norm), m->de);
  const nn_pair_mlp f = edge_mlp(m, l);
  const nn_pair_mlp_cache c = edge_cache(m, l);
  nn_pair_mlp_backward(&f, &m->P, NULL, &c, m->de, m->e, m->dA, m->dB, nn_params_grad(p, layer_tensor(l, 2)),
                       nn_params_grad(p, layer_tensor(l, 3)), NULL, NULL);
  nn_bias_grad(gb1, m->dA, Na, H);
  nn_gemm_grad(gW1, 2 * H, m->dA, Na, H, h, H);
  nn_gemm_grad(gW1 + H, 2 * H, m->dB, Na, H, h, H);
  nn_gemm_back(dh, m->dA, Na, H, W1, 2 * H, H);
  nn_gemm_back(dh, m->dB, Na, H, W1 + H, 2 * H, H);
}

core_status nn_gdm_backward(nn_gdm *m, int B, const float *dy) {
  CORE_CHECK(B >= 1 && B == m->last_B, CORE_ERR_ARG, "nn_gdm_backward: batch %d, expected the %d of the last forward",
             B, m->last_B);
  CORE_CHECK(dy != NULL, CORE_ERR_ARG, "nn_gdm_backward: dy is NULL");
  const int H = m->cfg.width, L = m->cfg.layers, d = m->dout, Na = m->P.atoms;
  const int64_t *natoms = m->natoms;
  /* The centring is a projection: its adjoint centres dy's positions. */
  float *dout = m->out;
  memcpy(dout, dy, sizeof(float) * (size_t)Na * d);
  nn_center_positions(dout, d, B, natoms);
  nn_params *p = m->p;
  const float *hL = m->h + (size_t)L * m->cfg.max_atoms * H;
  nn_gemm_grad(nn_params_grad(p, layer_tensor(L, 0)), H, dout, Na, d, hL, H);
  nn_bias_grad(nn_params_grad(p, layer_tensor(L, 0) + 1), dout, Na, d);
  float *dh = m->dh;
  memset(dh, 0, sizeof(float) * (size_t)Na * H);
  nn_gemm_back(dh, dout, Na, d, nn_params_tensor(p, layer_tensor(L, 0)), H, H);
  for (int l = L - 1; l >= 0; --l) layer_backward(m, l, dh);
  nn_gemm_grad(nn_params_grad(p, 0), m->din, dh, Na, H, m->in, m->din);
  nn_bias_grad(nn_params_grad(p, 1), dh, Na, H);
  return CORE_OK;
}

/* ---- the model table's row -------------------------------------------- */

static core_status table_create(const void *config, uint64_t seed, nn_model **model) {
  nn_gdm *m = NULL;
  CORE_CALL(nn_gdm_create(config, seed, &m));
  *model = &m->base;
  return CORE_OK;
}
static nn_params *table_params(nn_model *m) { return ((nn_gdm *)m)->p; }
static core_status table_forward(nn_model *m, const nn_input *in, float *y) { return nn_gdm_forward((nn_gdm *)m, in, y); }
static core_status table_backward(nn_model *m, int B, const float *dy) { return nn_gdm_backward((nn_gdm *)m, B, dy); }
static void table_destroy(nn_model *m) {
  nn_gdm *g = (nn_gdm *)m;
  nn_gdm_destroy(&g);
}

const nn_model_type nn_gdm_type = {"gdm", table_create, table_params, table_forward, table_backward, table_destroy};
