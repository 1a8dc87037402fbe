/* Edge lists on disk: an (E, 2) int32 or int64 .npy of 0-based vertex
 * pairs, as `eloss loss -edges` and `eloss rigidity -edges` take them.
 *
 * io_edges_read(path, n_given, &edges, &n_edges, &n): local. Reads into a
 * new int32 (E, 2) array (caller frees), refusing a wrong dtype or shape,
 * an index outside [0, n_given) (or outside int32 when n_given <= 0) and a
 * self-loop, each with a message naming the file and the edge. *n is
 * n_given if positive, else the largest index + 1 (0 for an empty list). */
#include <stdlib.h>
#include <string.h>

#include "eloss/io.h"

/* An edge as its sorted pair and its row, to find a pair given twice. */
typedef struct {
  int32_t lo, hi;
  int64_t row;
} edge_key;

static int edge_key_cmp(const void *a, const void *b) {
  const edge_key *x = a, *y = b;
  if (x->lo != y->lo) return x->lo < y->lo ? -1 : 1;
  if (x->hi != y->hi) return x->hi < y->hi ? -1 : 1;
  return x->row < y->row ? -1 : x->row > y->row;
}

/* A graph is simple: the same pair twice, in either order, is refused
 * naming both rows. */
static core_status first_repeat(const char *path, const int32_t *e, int64_t m) {
  if (m < 2) return CORE_OK;
  edge_key *k = malloc(sizeof *k * (size_t)m);
  CORE_CHECK(k != NULL, CORE_ERR_MEM, "%s: cannot allocate %lld edges", path, (long long)m);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t a = e[2 * i], b = e[2 * i + 1];
    k[i] = (edge_key){a < b ? a : b, a < b ? b : a, i};
  }
  qsort(k, (size_t)m, sizeof *k, edge_key_cmp);
  core_status st = CORE_OK;
  for (int64_t i = 1; i < m && !st; ++i)
    if (k[i].lo == k[i - 1].lo && k[i].hi == k[i - 1].hi)
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: edge %lld = (%d, %d) repeats edge %lld: a pair of vertices is one edge",
                      path, (long long)k[i].row, (int)e[2 * k[i].row], (int)e[2 * k[i].row + 1],
                      (long long)k[i - 1].row);
  free(k);
  return st;
}

core_status io_edges_read(const char *path, int64_t n_given, int32_t **edges, int64_t *n_edges,
                          int64_t *n) {
  io_array a;
  memset(&a, 0, sizeof a);
  CORE_CALL(io_npy_read(path, &a));
  if (a.ndim != 2 || a.shape[1] != 2 || (a.dtype != IO_I32 && a.dtype != IO_I64)) {
    char shape[128] = "";
    for (int i = 0; i < a.ndim; ++i) {
      size_t used = strlen(shape);
      snprintf(shape + used, sizeof shape - used, "%s%lld", i ? ", " : "",
               (long long)a.shape[i]);
    }
    core_status st = CORE_ERROR(CORE_ERR_FORMAT,
                                "%s: expected an int32 or int64 edge list of shape (E, 2), "
                                "found %s of shape (%s)",
                                path, io_dtype_name(a.dtype), shape);
    io_array_free(&a);
    return st;
  }
  int64_t m = a.shape[0];
  int32_t *out = malloc(sizeof(int32_t) * 2 * (size_t)(m > 0 ? m : 1));
  if (!out) {
    io_array_free(&a);
    return CORE_ERROR(CORE_ERR_MEM, "%s: cannot allocate %lld edges", path, (long long)m);
  }
  int64_t limit = n_given > 0 ? n_given : INT32_MAX, largest = -1;
  core_status st = CORE_OK;
  for (int64_t e = 0; e < m && !st; ++e) {
    int64_t v[2];
    for (int c = 0; c < 2; ++c)
      v[c] = a.dtype == IO_I32 ? ((const int32_t *)a.data)[2 * e + c]
                               : ((const int64_t *)a.data)[2 * e + c];
    for (int c = 0; c < 2 && !st; ++c)
      if (v[c] < 0 || v[c] >= limit)
        st = CORE_ERROR(CORE_ERR_VALUE, "%s: edge %lld = (%lld, %lld) has vertex index %lld, "
                        "expected 0 <= index < %lld%s",
                        path, (long long)e, (long long)v[0], (long long)v[1], (long long)v[c],
                        (long long)limit, n_given > 0 ? "" : " (indices are 0-based int32)");
    if (!st && v[0] == v[1])
      st = CORE_ERROR(CORE_ERR_VALUE, "%s: edge %lld = (%lld, %lld) is a self-loop", path,
                      (long long)e, (long long)v[0], (long long)v[1]);
    if (!st) {
      out[2 * e] = (int32_t)v[0];
      out[2 * e + 1] = (int32_t)v[1];
      if (v[0] > largest) largest = v[0];
      if (v[1] > largest) largest = v[1];
    }
  }
  io_array_free(&a);
  if (!st) st = first_repeat(path, out, m);
  if (st) {
    free(out);
    return st;
  }
  *edges = out;
  *n_edges = m;
  *n = n_given > 0 ? n_given : largest + 1;
  return CORE_OK;
}
