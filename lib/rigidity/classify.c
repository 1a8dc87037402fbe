/* Infinitesimal and global rigidity of a graph in R^d at a generic placement.
 *
 * Why: the sparse energy loss (Eq. 7 summed over a graph's edges, paper
 * Sec. 4.3 and App. A.5) has the same minimisers as the complete one exactly
 * when the graph is globally rigid: the edge lengths of the reference then
 * fix the point cloud up to a rigid motion. This file decides that property,
 * both for a single graph (`eloss rigidity -edges`) and for the random
 * regular graph survey of Fig. 5, and is what tests/test_rigidity.c checks
 * against frameworks whose answer is known by hand.
 *
 * rigidity_classify(n, d, n_edges, edges, seed, result)
 *   n       vertices, n >= 1; d dimension, 1 <= d <= 3;
 *   edges   (n_edges, 2) int32, 0-based, unordered pairs; repeated pairs are
 *           allowed (they add nothing), self-loops and indices outside [0, n)
 *           are errors (CORE_ERR_ARG, naming the row);
 *   seed    the generic placement and the random stress come from the stream
 *           (seed, CORE_PURPOSE_RIGIDITY, 0), so the answer is a pure function
 *           of the inputs;
 *   result  filled on success (see rigidity.h for the fields).
 *   Cost: one dense SVD of an (max(E, d n), min(E, d n)) matrix plus one of
 *   an (n, n) matrix, O((E + d n)^3) time and O(E d n + n^2) doubles of
 *   workspace (allocated per call, freed before returning): meant for the
 *   graph sizes of the paper's survey (n up to a few hundred; n = 100, k = 6,
 *   d = 3 takes about 80 ms), not for whole proteins.
 *   Errors: CORE_ERR_ARG, CORE_ERR_MEM, CORE_ERR_NUMERIC if the GSL SVD does
 *   not converge. Local; the GSL error handler is switched off during the call
 *   (and restored) so the library never aborts.
 *
 * Theory, and the choices it leaves open.
 * - Placement: coordinates i.i.d. standard normal. A generic placement
 *   (algebraically independent coordinates) is reached with probability 1,
 *   and at a generic placement infinitesimal rigidity equals rigidity
 *   (Asimow-Roth 1978): the rigidity matrix R (E, d n), row e = (i, j)
 *   holding p_i - p_j in the columns of i and p_j - p_i in those of j, has
 *   rank d n - d(d+1)/2 (the trivial motions removed). When n <= d + 1 the
 *   points span only an (n-1)-flat, the trivial motions have dimension
 *   d n - n(n-1)/2, and the target is n(n-1)/2: only K_n is rigid.
 * - Global rigidity (n >= d + 2): an equilibrium stress is w in R^E with
 *   w^T R = 0, i.e. sum_j w_ij (p_i - p_j) = 0 at every vertex; its stress
 *   matrix Omega (n, n) has Omega_ij = -w_ij on edges and zero row sums.
 *   Connelly (2005): a stress with rank Omega = n - d - 1 at a generic
 *   placement makes the graph globally rigid; Gortler-Healy-Thurston (2010):
 *   if the graph is globally rigid, a random combination of a basis of the
 *   stresses has that rank with probability 1. So the test is: rigid, and
 *   rank Omega(w) = n - d - 1 for w a standard-normal combination of an
 *   orthonormal basis of the left null space of R. (Requiring rigidity as
 *   well is redundant in exact arithmetic, Connelly's condition implies it,
 *   and costs nothing here; it is a second line of defence against a
 *   mis-ranked stress matrix.)
 *   For n <= d + 1 there is no stress to test: K_n is globally rigid (any
 *   placement with the same pairwise distances is congruent), every other
 *   graph is not even rigid. stress_rank and stress_target are then 0.
 * - One SVD gives both the rigidity rank and the random stress. GSL's SVD
 *   needs rows >= columns, so the tall orientation is factored:
 *   if d n >= E, R^T (d n, E) = U S V^T and the columns of V past the rank
 *   are an orthonormal basis of the stresses; w is their combination with
 *   standard-normal coefficients.
 *   if E > d n, R (E, d n) = U S V^T (thin U), and w = z - U_r U_r^T z for
 *   z ~ N(0, I_E), U_r the columns of U with nonzero singular values.
 *   Both give a standard Gaussian vector of the stress space, i.e. the same
 *   distribution as a normal combination of any orthonormal basis, and
 *   neither factors a matrix larger than (max(E, d n), min(E, d n)).
 * - Tolerance: a singular value counts as nonzero when it exceeds
 *   sigma_max * max(rows, cols) * 1e-10, i.e. 1e-9 to 3e-8 of sigma_max for
 *   the survey's matrices. Measured on random regular graphs with n <= 100,
 *   k <= 8, d = 1..3 (the survey's and the tests' range, 30-200 graphs per
 *   cell): the largest singular value that is zero in exact arithmetic was
 *   1.6e-14 sigma_max (round-off), the smallest genuine one 1.5e-6 sigma_max.
 *   The threshold sits between them, >= 50x below the genuine ones and
 *   >= 1e5x above round-off. Genuine singular values shrink as n grows (a
 *   long cycle's like 1/n^2), so for n in the thousands this margin should
 *   be re-measured before the answers are trusted. */
#include "eloss/rigidity.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <stdlib.h>

/* Relative rank tolerance; see the notes above. */
static const double RIGIDITY_RANK_RTOL = 1e-10;

/* Number of singular values (sorted descending, count m) above the
 * tolerance for a (rows, cols) matrix. */
static int64_t rank_from_singular_values(const double *s, int64_t m, int64_t rows,
                                         int64_t cols) {
  if (m == 0 || s[0] <= 0.0) return 0;
  double tol = s[0] * (double)(rows > cols ? rows : cols) * RIGIDITY_RANK_RTOL;
  int64_t r = 0;
  while (r < m && s[r] > tol) ++r;
  return r;
}

/* Workspace of one call, one contiguous block of doubles. With
 * tall = max(E, d n) and thin = min(E, d n): */
typedef struct {
  double *block;
  double *p;     /* (n, d) generic placement                               */
  double *a;     /* (tall, thin) R^T or R, overwritten by U                */
  double *v;     /* (thin, thin) right singular vectors                    */
  double *s;     /* (thin) singular values                                 */
  double *work;  /* (max(thin, n)) SVD workspace, then U_r^T z             */
  double *w;     /* (E) the random equilibrium stress                      */
  double *omega; /* (n, n) stress matrix, overwritten by U                 */
  double *v2;    /* (n, n) its right singular vectors (not used further)  */
  double *s2;    /* (n) its singular values                                */
} classify_work;

static core_status classify_work_alloc(classify_work *ws, int64_t n, int d,
                                       int64_t n_edges, int stress) {
  int64_t dn = (int64_t)d * n, e = n_edges;
  int64_t thin = e < dn ? e : dn, tall = e < dn ? dn : e, big = thin > n ? thin : n;
  /* Sized in double first: tall * thin overflows int64 long before malloc
   * would fail for graphs at the int32 limits. */
  double approx = (double)dn + (double)tall * (double)thin + (double)thin * (double)thin +
                  (double)thin + (double)big + (double)e + 2.0 * (double)n * (double)n +
                  (double)n;
  if (approx >= 0.5 * (double)(SIZE_MAX / sizeof(double)))
    return CORE_ERROR(CORE_ERR_MEM,
                      "rigidity_classify: %.3g doubles of workspace needed for n = %lld, "
                      "d = %d, %lld edges: too large for the dense test",
                      approx, (long long)n, d, (long long)n_edges);
  int64_t nn = stress ? n * n : 0;
  int64_t sizes[9] = {dn, tall * thin, thin * thin, thin, big, e, nn, nn, stress ? n : 0};
  int64_t total = 0;
  for (int i = 0; i < 9; ++i) total += sizes[i];
  ws->block = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
  CORE_CHECK(ws->block != NULL, CORE_ERR_MEM,
             "rigidity_classify: cannot allocate %lld doubles of workspace "
             "(n = %lld, d = %d, %lld edges)",
             (long long)total, (long long)n, d, (long long)n_edges);
  double **slot[9] = {&ws->p, &ws->a, &ws->v, &ws->s, &ws->work,
                      &ws->w, &ws->omega, &ws->v2, &ws->s2};
  double *at = ws->block;
  for (int i = 0; i < 9; ++i) {
    *slot[i] = at;
    at += sizes[i];
  }
  return CORE_OK;
}

/* SVD of the row-major (rows, cols) matrix a, rows >= cols >= 1: a becomes
 * U, v (cols, cols) and s (cols) are filled. */
static core_status svd(double *a, int64_t rows, int64_t cols, double *v, double *s,
                       double *work) {
  gsl_matrix_view A = gsl_matrix_view_array(a, (size_t)rows, (size_t)cols);
  gsl_matrix_view V = gsl_matrix_view_array(v, (size_t)cols, (size_t)cols);
  gsl_vector_view S = gsl_vector_view_array(s, (size_t)cols);
  gsl_vector_view W = gsl_vector_view_array(work, (size_t)cols);
  int gs = gsl_linalg_SV_decomp(&A.matrix, &V.matrix, &S.vector, &W.vector);
  CORE_CHECK(gs == GSL_SUCCESS, CORE_ERR_NUMERIC,
             "rigidity_classify: GSL SVD of a %lld x %lld matrix failed: %s",
             (long long)rows, (long long)cols, gsl_strerror(gs));
  return CORE_OK;
}

/* Rank of the rigidity matrix R (E, d n) at ws->p, and a random equilibrium
 * stress w (E) drawn from rng (zero if R has full row rank). */
static core_status rigidity_rank_and_stress(int64_t n, int d, int64_t n_edges,
                                            const int32_t *edges, core_rng *rng,
                                            classify_work *ws, int64_t *rank) {
  int64_t dn = (int64_t)d * n, e_count = n_edges;
  int transposed = dn >= e_count; /* factor R^T (d n, E) rather than R (E, d n) */
  int64_t rows = transposed ? dn : e_count, cols = transposed ? e_count : dn;
  for (int64_t i = 0; i < rows * cols; ++i) ws->a[i] = 0.0;
  /* Row e of R: p_i - p_j in the d columns of vertex i, p_j - p_i in those
   * of vertex j. Stored as a[e, col] or, transposed, a[col, e]. */
  for (int64_t e = 0; e < e_count; ++e) {
    int64_t i = edges[2 * e], j = edges[2 * e + 1];
    for (int c = 0; c < d; ++c) {
      double diff = ws->p[i * d + c] - ws->p[j * d + c];
      int64_t ci = i * d + c, cj = j * d + c;
      if (transposed) {
        ws->a[ci * cols + e] = diff;
        ws->a[cj * cols + e] = -diff;
      } else {
        ws->a[e * cols + ci] = diff;
        ws->a[e * cols + cj] = -diff;
      }
    }
  }
  CORE_CALL(svd(ws->a, rows, cols, ws->v, ws->s, ws->work));
  int64_t r = rank_from_singular_values(ws->s, cols, rows, cols);
  *rank = r;

  if (transposed) {
    /* w = V[:, r:] c, c ~ N(0, I): V is (E, E). */
    for (int64_t e = 0; e < e_count; ++e) ws->w[e] = 0.0;
    for (int64_t col = r; col < e_count; ++col) {
      double coef = core_rng_normal(rng);
      for (int64_t e = 0; e < e_count; ++e) ws->w[e] += coef * ws->v[e * e_count + col];
    }
  } else {
    /* w = z - U_r (U_r^T z), z ~ N(0, I_E): U is (E, d n) in ws->a. */
    for (int64_t e = 0; e < e_count; ++e) ws->w[e] = core_rng_normal(rng);
    double *t = ws->work; /* (r) U_r^T z */
    for (int64_t c = 0; c < r; ++c) t[c] = 0.0;
    for (int64_t e = 0; e < e_count; ++e)
      for (int64_t c = 0; c < r; ++c) t[c] += ws->a[e * cols + c] * ws->w[e];
    for (int64_t e = 0; e < e_count; ++e) {
      double acc = 0.0;
      for (int64_t c = 0; c < r; ++c) acc += ws->a[e * cols + c] * t[c];
      ws->w[e] -= acc;
    }
  }
  return CORE_OK;
}

/* Rank of the stress matrix Omega (n, n) of the stress ws->w (E). */
static core_status stress_rank(int64_t n, int64_t n_edges, const int32_t *edges,
                               classify_work *ws, int64_t *out) {
  for (int64_t i = 0; i < n * n; ++i) ws->omega[i] = 0.0;
  for (int64_t e = 0; e < n_edges; ++e) {
    int64_t i = edges[2 * e], j = edges[2 * e + 1];
    double w = ws->w[e];
    ws->omega[i * n + j] -= w;
    ws->omega[j * n + i] -= w;
    ws->omega[i * n + i] += w;
    ws->omega[j * n + j] += w;
  }
  CORE_CALL(svd(ws->omega, n, n, ws->v2, ws->s2, ws->work));
  *out = rank_from_singular_values(ws->s2, n, n, n);
  return CORE_OK;
}

static core_status classify_run(int64_t n, int d, int64_t n_edges, const int32_t *edges,
                                uint64_t seed, rigidity_result *r) {
  int small = n <= d + 1;
  r->rigidity_target = small ? n * (n - 1) / 2 : d * n - (int64_t)d * (d + 1) / 2;
  r->stress_target = small ? 0 : n - d - 1;
  r->rigidity_rank = 0;
  r->stress_rank = 0;

  int stress = !small && n_edges > 0;
  classify_work ws = {0};
  CORE_CALL(classify_work_alloc(&ws, n, d, n_edges, stress));

  /* One stream: the placement first, then the stress coefficients. */
  core_rng rng;
  core_rng_init(&rng, seed, CORE_PURPOSE_RIGIDITY, 0);
  for (int64_t i = 0; i < n * d; ++i) ws.p[i] = core_rng_normal(&rng);

  core_status st = CORE_OK;
  if (n_edges > 0)
    st = rigidity_rank_and_stress(n, d, n_edges, edges, &rng, &ws, &r->rigidity_rank);
  if (!st && stress) st = stress_rank(n, n_edges, edges, &ws, &r->stress_rank);
  free(ws.block);
  if (st) return st;

  r->rigid = r->rigidity_rank == r->rigidity_target;
  r->globally_rigid = small ? r->rigid : r->rigid && r->stress_rank == r->stress_target;
  return CORE_OK;
}

core_status rigidity_classify(int64_t n, int d, int64_t n_edges, const int32_t *edges,
                              uint64_t seed, rigidity_result *result) {
  CORE_CHECK(result != NULL, CORE_ERR_ARG, "rigidity_classify: result must not be NULL");
  CORE_CHECK(d >= 1 && d <= 3, CORE_ERR_ARG,
             "rigidity_classify: dimension d = %d, expected 1, 2 or 3", d);
  CORE_CHECK(n >= 1 && n <= INT32_MAX, CORE_ERR_ARG,
             "rigidity_classify: n = %lld vertices, expected 1 <= n <= %d", (long long)n,
             INT32_MAX);
  CORE_CHECK(n_edges >= 0 && n_edges <= INT32_MAX, CORE_ERR_ARG,
             "rigidity_classify: %lld edges, expected 0 <= E <= %d", (long long)n_edges,
             INT32_MAX);
  CORE_CHECK(n_edges == 0 || edges != NULL, CORE_ERR_ARG,
             "rigidity_classify: edges must not be NULL when E = %lld", (long long)n_edges);
  for (int64_t e = 0; e < n_edges; ++e) {
    int32_t i = edges[2 * e], j = edges[2 * e + 1];
    CORE_CHECK(i >= 0 && i < n && j >= 0 && j < n, CORE_ERR_ARG,
               "rigidity_classify: edge %lld = (%d, %d) has an index outside [0, %lld)",
               (long long)e, i, j, (long long)n);
    CORE_CHECK(i != j, CORE_ERR_ARG, "rigidity_classify: edge %lld = (%d, %d) is a self-loop",
               (long long)e, i, j);
  }
  gsl_error_handler_t *previous = gsl_set_error_handler_off();
  core_status st = classify_run(n, d, n_edges, edges, seed, result);
  gsl_set_error_handler(previous);
  return st;
}
