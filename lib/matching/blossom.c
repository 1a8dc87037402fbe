/* Minimum-weight perfect matching: Edmonds' blossom algorithm, primal-dual,
 * one alternating tree at a time.
 *
 * Duals. Every node X (a vertex, or a blossom: an odd cycle of nodes
 * shrunk to one) has a dual y_X; blossoms keep y_X >= 0. The slack of edge
 * e = (u, v) is w_e minus the duals of every node that holds exactly one of
 * u, v; the algorithm keeps every slack >= 0 and every matched edge, and
 * every edge of a blossom's cycle, at slack 0 (tight). For an edge between
 * two top-level nodes U, V that is
 *     slack = w_e - inner[u] - inner[v] - y_U - y_V,
 * where inner[u] sums the duals of the nodes below the top that hold u
 * (fixed while they are below the top: only top-level duals change).
 *
 * A tree. Its root is an unmatched node, labelled +; a + node's matched
 * partner is a - child, a - node's matched partner a + child. The tree's
 * duals move together: y += d on + nodes, y -= d on - nodes, which keeps
 * its tree edges tight. Stored duals of tree nodes are offset by the tree's
 * total change `eps` (actual = y + label * eps), so a change costs nothing
 * and every event has a fixed time in eps:
 *   + node to a free matched node, tight:   grow (the node becomes -, its
 *                                           partner +);
 *   + node to a free unmatched node, tight: augment (the tree ends);
 *   + node to + node, tight:                shrink the cycle to a blossom;
 *   - blossom's dual reaches 0:             expand it.
 * The events wait in a binary heap keyed by that time; an entry made stale
 * by a later change is re-checked when it comes up. Weights are doubled on
 * input: along tight edges every vertex of a tree then has the same parity
 * of summed duals, so (+, +) slacks are even and every dual stays an
 * integer.
 *
 * A blossom stores its children in cycle order, child 0 the base (the one
 * matched outside), with the edge between child i and child i + 1; edges
 * 1, 3, 5, ... are matched. The vertex-level matching is kept at all times,
 * so the result needs no final expansion. */
#include <stdlib.h>
#include <string.h>

#include "eloss/matching.h"

typedef struct {
  int32_t k;      /* children */
  int32_t *child; /* (k) nodes, cycle order, child[0] the base */
  int32_t *edge;  /* (k) edge[i] joins child i and child (i + 1) % k */
  int32_t *lo;    /* (k) its endpoint in child i */
  int32_t *hi;    /* (k) its endpoint in child (i + 1) % k */
} blossom;

typedef struct {
  int64_t key;
  int32_t id;   /* an edge, or a blossom node for EXPAND */
  int32_t kind; /* EVENT_EDGE, EVENT_EXPAND */
} event;

enum { EVENT_EDGE, EVENT_EXPAND };

typedef struct {
  int32_t n, capacity; /* vertices; nodes (vertices + blossoms) */
  int64_t m;
  const int32_t *ends;
  int64_t *w2;        /* (m) doubled weights */
  int64_t *adj_start; /* (n + 1) CSR of incident edges */
  int32_t *adj;       /* (2 m) */
  /* per node */
  int32_t *parent;     /* the blossom directly holding it, -1 at top */
  int64_t *y;          /* dual (tree nodes: offset by label * eps) */
  int8_t *label;       /* +1, -1, 0 free */
  int32_t *tree_edge;  /* - node: the edge to its + parent */
  int32_t *base;       /* the base vertex (a vertex: itself) */
  int32_t *mark;       /* scratch stamps (shrink) */
  blossom *bl;         /* (capacity - n) */
  int32_t *free_ids;   /* unused blossom nodes */
  int32_t n_free;
  /* per vertex */
  int32_t *top;   /* its top-level node */
  int64_t *inner; /* duals of the nodes below the top that hold it */
  int32_t *mate;  /* matched edge, -1 */
  /* the current tree */
  int64_t eps;
  int32_t *tree; /* nodes labelled in this tree */
  int64_t tree_count, tree_capacity;
  event *heap;
  int64_t heap_count, heap_capacity;
  int32_t *stack; /* scratch: vertex enumeration, augment work */
  int64_t stack_capacity;
  int32_t stamp;
} solver;

static inline int32_t other_end(const solver *s, int32_t e, int32_t v) {
  return s->ends[2 * (int64_t)e] == v ? s->ends[2 * (int64_t)e + 1] : s->ends[2 * (int64_t)e];
}

static inline int64_t y_actual(const solver *s, int32_t x) { return s->y[x] + s->label[x] * s->eps; }

static inline int64_t slack_of(const solver *s, int32_t e) {
  const int32_t u = s->ends[2 * (int64_t)e], v = s->ends[2 * (int64_t)e + 1];
  return s->w2[e] - s->inner[u] - s->inner[v] - y_actual(s, s->top[u]) - y_actual(s, s->top[v]);
}

static core_status heap_push(solver *s, int64_t key, int32_t id, int32_t kind) {
  if (s->heap_count == s->heap_capacity) {
    int64_t cap = s->heap_capacity ? 2 * s->heap_capacity : 1024;
    event *h = realloc(s->heap, sizeof *h * (size_t)cap);
    CORE_CHECK(h, CORE_ERR_MEM, "matching: cannot grow the event heap to %lld entries", (long long)cap);
    s->heap = h;
    s->heap_capacity = cap;
  }
  int64_t i = s->heap_count++;
  while (i > 0) {
    int64_t p = (i - 1) / 2;
    if (s->heap[p].key <= key) break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = (event){key, id, kind};
  return CORE_OK;
}

static event heap_pop(solver *s) {
  event top = s->heap[0], last = s->heap[--s->heap_count];
  int64_t i = 0, n = s->heap_count;
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && s->heap[c + 1].key < s->heap[c].key) ++c;
    if (s->heap[c].key >= last.key) break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (n > 0) s->heap[i] = last;
  return top;
}

static core_status stack_reserve(solver *s, int64_t need) {
  if (need <= s->stack_capacity) return CORE_OK;
  int64_t cap = s->stack_capacity ? s->stack_capacity : 1024;
  while (cap < need) cap *= 2;
  int32_t *p = realloc(s->stack, sizeof *p * (size_t)cap);
  CORE_CHECK(p, CORE_ERR_MEM, "matching: cannot grow a work stack to %lld entries", (long long)cap);
  s->stack = p;
  s->stack_capacity = cap;
  return CORE_OK;
}

/* The vertices inside node x, appended to s->stack from position `from`;
 * returns the new end, or -1 when memory runs out. */
static int64_t vertices_of(solver *s, int32_t x, int64_t from) {
  if (stack_reserve(s, from + 1)) return -1;
  int64_t end = from, read = from;
  s->stack[end++] = x;
  /* Breadth-first over the blossom tree: blossoms are replaced by their
   * children until only vertices remain in [from, end). */
  while (read < end) {
    int32_t node = s->stack[read];
    if (node < s->n) {
      ++read;
      continue;
    }
    const blossom *b = &s->bl[node - s->n];
    if (stack_reserve(s, end + b->k)) return -1;
    s->stack[read] = b->child[0];
    for (int32_t i = 1; i < b->k; ++i) s->stack[end++] = b->child[i];
  }
  return end;
}

static core_status tree_add(solver *s, int32_t x) {
  if (s->tree_count == s->tree_capacity) {
    int64_t cap = 2 * s->tree_capacity;
    int32_t *t = realloc(s->tree, sizeof *t * (size_t)cap);
    CORE_CHECK(t, CORE_ERR_MEM, "matching: cannot grow the tree list to %lld nodes", (long long)cap);
    s->tree = t;
    s->tree_capacity = cap;
  }
  s->tree[s->tree_count++] = x;
  return CORE_OK;
}

/* Label node x + (its stored dual offset) and queue the events of its
 * edges; skip_top: edges to this top-level node are internal. */
static core_status scan_plus(solver *s, int32_t x, int32_t skip_top) {
  int64_t end = vertices_of(s, x, 0);
  CORE_CHECK(end >= 0, CORE_ERR_MEM, "matching: out of memory");
  for (int64_t k = 0; k < end; ++k) {
    const int32_t u = s->stack[k];
    for (int64_t a = s->adj_start[u]; a < s->adj_start[u + 1]; ++a) {
      const int32_t e = s->adj[a], v = other_end(s, e, u), V = s->top[v];
      if (V == skip_top || s->label[V] < 0) continue;
      const int64_t sl = slack_of(s, e);
      CORE_CALL(heap_push(s, s->label[V] > 0 ? s->eps + sl / 2 : s->eps + sl, e, EVENT_EDGE));
    }
  }
  return CORE_OK;
}

/* A node turned free inside the tree's reach: queue its edges to + nodes. */
static core_status scan_free(solver *s, int32_t x) {
  int64_t end = vertices_of(s, x, 0);
  CORE_CHECK(end >= 0, CORE_ERR_MEM, "matching: out of memory");
  for (int64_t k = 0; k < end; ++k) {
    const int32_t u = s->stack[k];
    for (int64_t a = s->adj_start[u]; a < s->adj_start[u + 1]; ++a) {
      const int32_t e = s->adj[a], v = other_end(s, e, u), V = s->top[v];
      if (V == x || s->label[V] <= 0) continue;
      CORE_CALL(heap_push(s, s->eps + slack_of(s, e), e, EVENT_EDGE));
    }
  }
  return CORE_OK;
}

static void set_label(solver *s, int32_t x, int8_t label) {
  const int64_t actual = y_actual(s, x);
  s->label[x] = label;
  s->y[x] = actual - label * s->eps;
}

/* The top-level node matched to top-level node x, -1 if x is unmatched. */
static int32_t mate_node(const solver *s, int32_t x) {
  const int32_t e = s->mate[s->base[x]];
  return e < 0 ? -1 : s->top[other_end(s, e, s->base[x])];
}

/* The endpoint of edge e inside top-level node x. */
static int32_t end_in(const solver *s, int32_t e, int32_t x) {
  const int32_t u = s->ends[2 * (int64_t)e];
  return s->top[u] == x ? u : s->ends[2 * (int64_t)e + 1];
}

/* The + parent of - node x. */
static int32_t tree_parent(const solver *s, int32_t x) {
  const int32_t e = s->tree_edge[x];
  return s->top[other_end(s, e, end_in(s, e, x))];
}

static core_status grow(solver *s, int32_t e, int32_t v_node) {
  set_label(s, v_node, -1);
  s->tree_edge[v_node] = e;
  CORE_CALL(tree_add(s, v_node));
  if (v_node >= s->n) CORE_CALL(heap_push(s, s->y[v_node], v_node, EVENT_EXPAND));
  const int32_t w = mate_node(s, v_node);
  set_label(s, w, +1);
  CORE_CALL(tree_add(s, w));
  return scan_plus(s, w, w);
}

/* Children of a new blossom: the path from the lowest common ancestor A
 * down to u's node, then from v's node back up. */
static core_status shrink(solver *s, int32_t e) {
  const int32_t u = s->ends[2 * (int64_t)e], v = s->ends[2 * (int64_t)e + 1];
  int32_t U = s->top[u], V = s->top[v];
  /* Walk up from both sides in turn, stamping the + nodes, until one side
   * reaches a node the other stamped. */
  const int32_t stamp_u = ++s->stamp, stamp_v = ++s->stamp;
  int32_t a = U, b = V, lca = -1;
  s->mark[a] = stamp_u;
  s->mark[b] = stamp_v;
  for (;;) {
    if (a == b) {
      lca = a;
      break;
    }
    int32_t m = mate_node(s, a);
    if (m >= 0) {
      a = tree_parent(s, m);
      if (s->mark[a] == stamp_v) {
        lca = a;
        break;
      }
      s->mark[a] = stamp_u;
    }
    m = mate_node(s, b);
    if (m >= 0) {
      b = tree_parent(s, m);
      if (s->mark[b] == stamp_u) {
        lca = b;
        break;
      }
      s->mark[b] = stamp_v;
    }
  }
  /* Count the children: path lengths from U and V up to the lca. */
  int32_t k = 1;
  for (int32_t x = U; x != lca; x = tree_parent(s, mate_node(s, x))) k += 2;
  for (int32_t x = V; x != lca; x = tree_parent(s, mate_node(s, x))) k += 2;
  CORE_CHECK(s->n_free > 0, CORE_ERR_MEM, "matching: out of blossom nodes (internal)");
  const int32_t B = s->free_ids[--s->n_free];
  blossom *bl = &s->bl[B - s->n];
  int32_t *mem = malloc(sizeof *mem * 4 * (size_t)k);
  CORE_CHECK(mem, CORE_ERR_MEM, "matching: cannot allocate a blossom of %d nodes", k);
  bl->k = k;
  bl->child = mem;
  bl->edge = mem + k;
  bl->lo = mem + 2 * k;
  bl->hi = mem + 3 * k;
  /* Side of U: child indices from the lca downwards, filled from the end
   * of that segment: positions 1 .. a_len. */
  int32_t a_len = 0;
  for (int32_t x = U; x != lca; x = tree_parent(s, mate_node(s, x))) a_len += 2;
  bl->child[0] = lca;
  {
    int32_t pos = a_len;
    for (int32_t x = U; x != lca;) {
      const int32_t minus = mate_node(s, x), up = tree_parent(s, minus);
      bl->child[pos] = x;
      bl->child[pos - 1] = minus;
      bl->edge[pos - 1] = s->mate[s->base[x]];  /* minus - x, matched */
      bl->edge[pos - 2] = s->tree_edge[minus]; /* up - minus */
      pos -= 2;
      x = up;
    }
  }
  bl->edge[a_len] = e; /* U - V */
  {
    int32_t pos = a_len + 1;
    for (int32_t x = V; x != lca;) {
      const int32_t minus = mate_node(s, x), up = tree_parent(s, minus);
      bl->child[pos] = x;
      bl->child[pos + 1] = minus;
      bl->edge[pos] = s->mate[s->base[x]];   /* x - minus, matched */
      bl->edge[pos + 1] = s->tree_edge[minus]; /* minus - up (up: the lca at the end) */
      pos += 2;
      x = up;
    }
  }
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i], next = bl->child[(i + 1) % k], ed = bl->edge[i];
    bl->lo[i] = end_in(s, ed, c);
    bl->hi[i] = end_in(s, ed, next);
  }
  /* Freeze the children's duals; their vertices now belong to B. The
   * former - children are now inside a + node: their edges are queued. */
  int8_t *was_minus = malloc((size_t)k);
  CORE_CHECK(was_minus, CORE_ERR_MEM, "matching: out of memory shrinking a blossom");
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i];
    const int64_t yc = y_actual(s, c);
    was_minus[i] = s->label[c] < 0;
    s->y[c] = yc;
    s->label[c] = 0;
    s->parent[c] = B;
    int64_t end = vertices_of(s, c, 0);
    if (end < 0) {
      free(was_minus);
      return CORE_ERROR(CORE_ERR_MEM, "matching: out of memory");
    }
    for (int64_t t = 0; t < end; ++t) {
      s->inner[s->stack[t]] += yc;
      s->top[s->stack[t]] = B;
    }
  }
  s->parent[B] = -1;
  s->base[B] = s->base[lca];
  s->label[B] = +1;
  s->y[B] = -s->eps; /* actual 0 */
  s->tree_edge[B] = -1;
  core_status st = tree_add(s, B);
  for (int32_t i = 0; i < k && !st; ++i)
    if (was_minus[i]) st = scan_plus(s, bl->child[i], B);
  free(was_minus);
  return st;
}

/* Make vertex v the base of blossom b0 (and so of every blossom between):
 * rotate each cycle so that the child holding v is child 0, flipping the
 * matching along the even path from it to the old base. Iterative, with a
 * work list of (blossom, vertex) pairs in s->stack. */
static core_status make_base(solver *s, int32_t b0, int32_t v0) {
  int64_t top = 0;
  CORE_CALL(stack_reserve(s, 2));
  s->stack[top++] = b0;
  s->stack[top++] = v0;
  while (top > 0) {
    const int32_t v = s->stack[--top], B = s->stack[--top];
    blossom *bl = &s->bl[B - s->n];
    int32_t c = v;
    while (s->parent[c] != B) c = s->parent[c];
    const int32_t k = bl->k;
    int32_t i = 0;
    while (bl->child[i] != c) ++i;
    CORE_CALL(stack_reserve(s, top + 2 + 2 * (int64_t)k));
    if (c >= s->n) {
      s->stack[top++] = c;
      s->stack[top++] = v;
    }
    if (i > 0) {
      /* Even path from child i to child 0: backwards if i is even,
       * forwards otherwise; its edges alternate matched / unmatched and
       * are flipped. */
      const int dir = (i % 2 == 0) ? -1 : 1;
      const int32_t steps = dir < 0 ? i : k - i;
      for (int32_t t = 0; t < steps; ++t) {
        const int32_t j = dir < 0 ? i - 1 - t : i + t; /* edge index */
        if (t % 2 == 1) {
          /* becomes matched: edge j between child j and child j + 1 */
          const int32_t ed = bl->edge[j], p = bl->lo[j], q = bl->hi[j];
          const int32_t cp = bl->child[j], cq = bl->child[(j + 1) % k];
          s->mate[p] = ed;
          s->mate[q] = ed;
          if (cp >= s->n) {
            s->stack[top++] = cp;
            s->stack[top++] = p;
          }
          if (cq >= s->n) {
            s->stack[top++] = cq;
            s->stack[top++] = q;
          }
        }
      }
      /* Rotate so that child i is child 0. */
      int32_t *tmp = malloc(sizeof *tmp * 4 * (size_t)k);
      CORE_CHECK(tmp, CORE_ERR_MEM, "matching: out of memory rotating a blossom");
      for (int32_t t = 0; t < k; ++t) {
        const int32_t from = (i + t) % k;
        tmp[t] = bl->child[from];
        tmp[k + t] = bl->edge[from];
        tmp[2 * k + t] = bl->lo[from];
        tmp[3 * k + t] = bl->hi[from];
      }
      memcpy(bl->child, tmp, sizeof *tmp * 4 * (size_t)k);
      free(tmp);
    }
    s->base[B] = v;
  }
  return CORE_OK;
}

/* Edge e joins + node top[u] to the unmatched free node top[v]: flip the
 * path from the root through e. */
static core_status augment(solver *s, int32_t e) {
  int32_t u = s->ends[2 * (int64_t)e], v = s->ends[2 * (int64_t)e + 1];
  if (s->label[s->top[u]] <= 0) {
    int32_t t = u;
    u = v;
    v = t;
  }
  if (s->top[v] >= s->n) CORE_CALL(make_base(s, s->top[v], v));
  s->mate[v] = e;
  int32_t x = u, ecur = e;
  for (;;) {
    /* X's old matched edge leads to its - parent Ym; Ym's tree edge then
     * becomes matched, and the walk goes on from the + node above. */
    const int32_t X = s->top[x], bx = s->base[X], old = s->mate[bx];
    if (X >= s->n) CORE_CALL(make_base(s, X, x));
    s->mate[x] = ecur;
    if (old < 0) break;
    const int32_t Ym = s->top[other_end(s, old, bx)];
    const int32_t et = s->tree_edge[Ym], p = end_in(s, et, Ym), z = other_end(s, et, p);
    if (Ym >= s->n) CORE_CALL(make_base(s, Ym, p));
    s->mate[p] = et;
    x = z;
    ecur = et;
  }
  return CORE_OK;
}

/* - blossom B whose dual reached 0: its children return to the top; the
 * even path from the child its tree edge enters to its base stays in the
 * tree, the rest become free (matched in pairs along the cycle). */
static core_status expand(solver *s, int32_t B) {
  blossom *bl = &s->bl[B - s->n];
  const int32_t k = bl->k;
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i];
    s->parent[c] = -1;
    int64_t end = vertices_of(s, c, 0);
    CORE_CHECK(end >= 0, CORE_ERR_MEM, "matching: out of memory");
    for (int64_t t = 0; t < end; ++t) {
      s->inner[s->stack[t]] -= s->y[c];
      s->top[s->stack[t]] = c;
    }
    s->label[c] = 0;
  }
  const int32_t et = s->tree_edge[B];
  const int32_t a = s->ends[2 * (int64_t)et], b = s->ends[2 * (int64_t)et + 1];
  int32_t j = -1;
  for (int32_t i = 0; i < k && j < 0; ++i)
    if (s->top[a] == bl->child[i] || s->top[b] == bl->child[i]) j = i;
  /* The path from child j to child 0 (even length), as in make_base. */
  const int dir = (j % 2 == 0) ? -1 : 1;
  const int32_t steps = j == 0 ? 0 : (dir < 0 ? j : k - j);
  int8_t *on_path = calloc((size_t)k, 1);
  CORE_CHECK(on_path, CORE_ERR_MEM, "matching: out of memory expanding a blossom");
  core_status st = CORE_OK;
  for (int32_t t = 0; t <= steps && !st; ++t) {
    const int32_t idx = dir < 0 ? j - t : (j + t) % k, c = bl->child[idx];
    on_path[idx] = 1;
    if (t % 2 == 0) {
      /* - node: its tree edge is the unmatched edge to the previous + */
      set_label(s, c, -1);
      if (t == 0)
        s->tree_edge[c] = et;
      else
        s->tree_edge[c] = dir < 0 ? bl->edge[idx] : bl->edge[(idx - 1 + k) % k];
      st = tree_add(s, c);
      if (!st && c >= s->n) st = heap_push(s, s->y[c], c, EVENT_EXPAND);
    } else {
      set_label(s, c, +1);
      st = tree_add(s, c);
    }
  }
  for (int32_t t = 0; t <= steps && !st; ++t) {
    const int32_t idx = dir < 0 ? j - t : (j + t) % k;
    if (t % 2 == 1) st = scan_plus(s, bl->child[idx], bl->child[idx]);
  }
  for (int32_t i = 0; i < k && !st; ++i)
    if (!on_path[i]) st = scan_free(s, bl->child[i]);
  free(on_path);
  free(bl->child);
  bl->child = bl->edge = bl->lo = bl->hi = NULL;
  bl->k = 0;
  s->label[B] = 0;
  s->parent[B] = -1;
  s->free_ids[s->n_free++] = B;
  return st;
}

/* Grow a tree from unmatched node r until it augments. */
static core_status solve_tree(solver *s, int32_t r) {
  s->eps = 0;
  s->tree_count = 0;
  s->heap_count = 0;
  set_label(s, r, +1);
  CORE_CALL(tree_add(s, r));
  CORE_CALL(scan_plus(s, r, r));
  for (;;) {
    CORE_CHECK(s->heap_count > 0, CORE_ERR_VALUE, "matching: the graph has no perfect matching");
    const event ev = heap_pop(s);
    if (ev.key > s->eps) s->eps = ev.key;
    if (ev.kind == EVENT_EXPAND) {
      const int32_t B = ev.id;
      if (s->bl[B - s->n].k > 0 && s->parent[B] < 0 && s->label[B] < 0 && y_actual(s, B) == 0)
        CORE_CALL(expand(s, B));
      continue;
    }
    const int32_t e = ev.id, u = s->ends[2 * (int64_t)e], v = s->ends[2 * (int64_t)e + 1];
    int32_t U = s->top[u], V = s->top[v];
    if (U == V) continue;
    if (s->label[U] <= 0) {
      int32_t t = U;
      U = V;
      V = t;
    }
    if (s->label[U] <= 0 || s->label[V] < 0) continue;
    const int64_t sl = slack_of(s, e);
    CORE_CHECK(sl >= 0 && (s->label[V] <= 0 || sl % 2 == 0), CORE_ERR_NUMERIC,
               "matching: internal error: edge %d has slack %lld", e, (long long)sl);
    if (s->label[V] > 0) {
      if (sl > 0) {
        CORE_CALL(heap_push(s, s->eps + sl / 2, e, EVENT_EDGE));
        continue;
      }
      CORE_CALL(shrink(s, e));
    } else {
      if (sl > 0) {
        CORE_CALL(heap_push(s, s->eps + sl, e, EVENT_EDGE));
        continue;
      }
      if (s->mate[s->base[V]] >= 0) {
        CORE_CALL(grow(s, e, V));
      } else {
        CORE_CALL(augment(s, e));
        break;
      }
    }
  }
  /* Dissolve the tree: actual duals, no labels. */
  for (int64_t t = 0; t < s->tree_count; ++t) {
    const int32_t x = s->tree[t];
    if (s->label[x] != 0) {
      s->y[x] = y_actual(s, x);
      s->label[x] = 0;
    }
  }
  s->eps = 0;
  return CORE_OK;
}

static void solver_free(solver *s) {
  if (s->bl)
    for (int32_t b = 0; b < s->capacity - s->n; ++b) free(s->bl[b].child);
  free(s->w2);
  free(s->adj_start);
  free(s->adj);
  free(s->parent);
  free(s->y);
  free(s->label);
  free(s->tree_edge);
  free(s->base);
  free(s->mark);
  free(s->bl);
  free(s->free_ids);
  free(s->top);
  free(s->inner);
  free(s->mate);
  free(s->tree);
  free(s->heap);
  free(s->stack);
}

static core_status solver_init(solver *s, int32_t n, int64_t m, const int32_t *ends, const int64_t *weight) {
  s->n = n;
  s->m = m;
  s->ends = ends;
  s->capacity = n + n / 2 + 1;
  const size_t N = (size_t)s->capacity;
  s->w2 = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
  s->adj_start = calloc((size_t)n + 1, sizeof(int64_t));
  s->adj = malloc(sizeof(int32_t) * (size_t)(2 * m > 0 ? 2 * m : 1));
  s->parent = malloc(sizeof(int32_t) * N);
  s->y = calloc(N, sizeof(int64_t));
  s->label = calloc(N, 1);
  s->tree_edge = malloc(sizeof(int32_t) * N);
  s->base = malloc(sizeof(int32_t) * N);
  s->mark = calloc(N, sizeof(int32_t));
  s->bl = calloc(N - (size_t)n, sizeof(blossom));
  s->free_ids = malloc(sizeof(int32_t) * (N - (size_t)n));
  s->top = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  s->inner = calloc((size_t)(n > 0 ? n : 1), sizeof(int64_t));
  s->mate = malloc(sizeof(int32_t) * (size_t)(n > 0 ? n : 1));
  s->tree = malloc(sizeof(int32_t) * N);
  s->tree_capacity = (int64_t)N;
  CORE_CHECK(s->w2 && s->adj_start && s->adj && s->parent && s->y && s->label && s->tree_edge && s->base &&
                 s->mark && s->bl && s->free_ids && s->top && s->inner && s->mate && s->tree,
             CORE_ERR_MEM, "matching: cannot allocate the workspace for %d vertices and %lld edges", n,
             (long long)m);
  for (int64_t e = 0; e < m; ++e) {
    s->w2[e] = 2 * weight[e];
    ++s->adj_start[ends[2 * e] + 1];
    ++s->adj_start[ends[2 * e + 1] + 1];
  }
  for (int32_t v = 0; v < n; ++v) s->adj_start[v + 1] += s->adj_start[v];
  int64_t *fill = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  CORE_CHECK(fill, CORE_ERR_MEM, "matching: out of memory");
  memcpy(fill, s->adj_start, sizeof(int64_t) * (size_t)n);
  for (int64_t e = 0; e < m; ++e) {
    s->adj[fill[ends[2 * e]]++] = (int32_t)e;
    s->adj[fill[ends[2 * e + 1]]++] = (int32_t)e;
  }
  free(fill);
  for (size_t x = 0; x < N; ++x) {
    s->parent[x] = -1;
    s->tree_edge[x] = -1;
    s->base[x] = (int32_t)x;
  }
  s->n_free = 0;
  for (int32_t b = s->capacity - 1; b >= n; --b) s->free_ids[s->n_free++] = b;
  for (int32_t v = 0; v < n; ++v) {
    s->top[v] = v;
    s->mate[v] = -1;
  }
  return CORE_OK;
}

/* Greedy start: y_v = the least half doubled weight at v (every slack >=
 * 0), then each unmatched vertex raises its dual to its least slack and
 * takes that neighbour when it is free (unmatched neighbours first). */
static void greedy_start(solver *s) {
  for (int32_t v = 0; v < s->n; ++v) {
    int64_t least = INT64_MAX;
    for (int64_t a = s->adj_start[v]; a < s->adj_start[v + 1]; ++a)
      if (s->w2[s->adj[a]] / 2 < least) least = s->w2[s->adj[a]] / 2;
    s->y[v] = least;
  }
  for (int32_t v = 0; v < s->n; ++v) {
    if (s->mate[v] >= 0) continue;
    int64_t least = INT64_MAX;
    int32_t pick = -1, pick_free = 0;
    for (int64_t a = s->adj_start[v]; a < s->adj_start[v + 1]; ++a) {
      const int32_t e = s->adj[a], u = other_end(s, e, v);
      const int64_t sl = s->w2[e] - s->y[v] - s->y[u];
      const int is_free = s->mate[u] < 0;
      if (sl < least || (sl == least && is_free && !pick_free)) {
        least = sl;
        pick = e;
        pick_free = is_free;
      }
    }
    s->y[v] += least;
    if (pick_free) {
      s->mate[v] = pick;
      s->mate[other_end(s, pick, v)] = pick;
    }
  }
}

core_status matching_min_perfect(int32_t n, int64_t m, const int32_t *ends, const int64_t *weight,
                                 int32_t *mate, int64_t *total) {
  CORE_CHECK(n >= 0 && m >= 0 && m < INT32_MAX, CORE_ERR_ARG,
             "matching: %d vertices and %lld edges (at most 2^31 - 1 edges)", n, (long long)m);
  CORE_CHECK(n % 2 == 0, CORE_ERR_VALUE, "matching: the graph has no perfect matching (%d vertices, odd)", n);
  uint64_t sum = 0;
  for (int64_t e = 0; e < m; ++e) {
    CORE_CHECK(ends[2 * e] >= 0 && ends[2 * e] < n && ends[2 * e + 1] >= 0 && ends[2 * e + 1] < n, CORE_ERR_ARG,
               "matching: edge %lld joins %d and %d, outside 0 .. %d", (long long)e, ends[2 * e],
               ends[2 * e + 1], n - 1);
    CORE_CHECK(ends[2 * e] != ends[2 * e + 1], CORE_ERR_ARG, "matching: edge %lld is a loop at vertex %d",
               (long long)e, ends[2 * e]);
    const int64_t w = weight[e];
    CORE_CHECK(w >= -MATCHING_WEIGHT_SUM_MAX && w <= MATCHING_WEIGHT_SUM_MAX, CORE_ERR_VALUE,
               "matching: weight of edge %lld is %lld, beyond 2^58 in size", (long long)e, (long long)w);
    sum += (uint64_t)(w < 0 ? -w : w);
    CORE_CHECK(sum <= (uint64_t)MATCHING_WEIGHT_SUM_MAX, CORE_ERR_VALUE,
               "matching: the weights' absolute values sum beyond 2^58 (at edge %lld)", (long long)e);
  }
  solver s;
  memset(&s, 0, sizeof s);
  core_status st = solver_init(&s, n, m, ends, weight);
  for (int32_t v = 0; v < n && !st; ++v)
    if (s.adj_start[v + 1] == s.adj_start[v])
      st = CORE_ERROR(CORE_ERR_VALUE, "matching: the graph has no perfect matching (vertex %d has no edge)", v);
  if (!st) greedy_start(&s);
  for (int32_t v = 0; v < n && !st; ++v)
    if (s.mate[s.base[s.top[v]]] < 0) st = solve_tree(&s, s.top[v]);
  if (!st) {
    int64_t sum_w = 0;
    for (int32_t v = 0; v < n; ++v) {
      mate[v] = s.mate[v];
      if (ends[2 * (int64_t)mate[v]] == v) sum_w += weight[mate[v]];
    }
    *total = sum_w;
  }
  solver_free(&s);
  return st;
}
