/* Minimum-weight perfect matching: Edmonds' blossom algorithm, primal-dual,
 * every alternating tree at once under one dual change, with the data
 * structures of Kolmogorov's Blossom V (2009) that keep a step's cost
 * independent of blossom sizes.
 *
 * Duals. Every node X (a vertex, or a blossom: an odd cycle of nodes
 * shrunk to one) has a dual y_X; blossoms keep y_X >= 0. The slack of edge
 * e = (u, v) is w_e minus the duals of every node that holds exactly one of
 * u, v; the algorithm keeps every slack >= 0 and every matched edge and
 * every edge of a blossom's cycle at slack 0 (tight). For an edge between
 * two top-level nodes U, V that is
 *     slack = w_e - inner(u) - inner(v) - y_U - y_V,
 * where inner(u) sums the duals of the nodes below the top that hold u
 * (fixed while they are below the top: only top-level duals change).
 *
 * Trees. Every unmatched node roots a tree, labelled +; a + node's
 * matched partner is a - child, a - node's matched partner a + child. All
 * trees' duals move together: y += d on + nodes, y -= d on - nodes, which
 * keeps tree edges tight, so every unmatched node grows at the same rate
 * and near pairs meet first. Stored duals of tree nodes are offset by the
 * total change `eps` (actual = y + label * eps), so a change costs nothing
 * and every event has a fixed time in eps:
 *   + node to a free (matched) node, tight: grow (the node becomes -, its
 *                                           partner +);
 *   + node to + node of another tree:       augment (both trees end, their
 *                                           nodes become free);
 *   + node to + node of the same tree:      shrink the cycle to a blossom;
 *   - blossom's dual reaches 0:             expand it.
 * The events wait in a radix heap keyed by that time; an entry made stale
 * by a later change is re-checked when it comes up. Weights are multiplied
 * by 4 and the start's duals are even: every tree's vertices then share one
 * parity of summed duals (tight edges join them, and all trees start
 * together), so (+, +) slacks are even and every event time an integer.
 *
 * Cost. No step looks up which top-level node holds a vertex. Each
 * top-level node keeps its boundary sides (the ends inside it of edges
 * leaving it) in a circular list; a list is numbered by the vertex it
 * started at, and knows the node it belongs to and a dual folded into it.
 * A side's owner (the node holding its end) is its list's node; an
 * edge's stored slack leaves out the two owners' duals and the two lists'
 * folded duals. A new blossom takes its largest child's list whole: the
 * list is given to the blossom and the child's frozen dual is folded into
 * it, at no cost in the list's length. Only the other children's sides
 * are walked: those whose edge now lies inside the blossom leave their
 * lists (with their twins in the taken list) and keep their neighbours,
 * the rest join the taken list, their stored slacks corrected. Expanding
 * undoes exactly that, last step first (the walked sides are cut back out
 * as the segments they were appended as; the sides taken out go back
 * between the neighbours they kept). An edge inside a blossom keeps the
 * lists it had when it went inside, whose nodes are then below the top:
 * that is how an event on it is recognised as stale. Augmenting through a
 * blossom only changes its matched edge: a blossom's internal matching
 * follows from which child holds the end of that edge (its base), so it
 * is laid out only when the blossom expands, or at the end. */
#include <stdlib.h>
#include <string.h>

#include "eloss/matching.h"

typedef struct {
  int32_t k;      /* children; 0: unused */
  int32_t *child; /* (k) nodes, cycle order, child[0] the base at creation */
  int32_t *edge;  /* (k) edge[i] joins child i and child (i + 1) % k */
  int32_t *first; /* (k) the first boundary side that came from the child
                     that was i-th at creation, -1 if none did */
  int32_t *block; /* the one allocation holding the three */
  int32_t adopted;       /* index at creation of the child whose list it took */
  int32_t adopted_first; /* a side of that list once the shrink took the
                            inside edges out, -1 if none was left */
  int32_t adopted_count; /* how many */
} blossom;

typedef struct {
  int64_t key;
  int32_t id;   /* an edge, or a blossom node for EVENT_EXPAND */
  int32_t kind;
} event;

enum { EVENT_EDGE, EVENT_EXPAND };

typedef struct {
  event *ev;
  int64_t count, capacity;
} radix_bucket_t;

typedef struct {
  int32_t n, capacity; /* vertices; nodes (vertices + blossoms) */
  int64_t m;
  const int32_t *ends;
  const int64_t *weight;
  /* per node */
  int32_t *parent;    /* the blossom directly holding it, -1 at top */
  int64_t *y;         /* dual (tree nodes: offset by label * eps) */
  int8_t *label;      /* +1, -1, 0 free */
  int32_t *tree_edge; /* - node: the edge to its + parent */
  int32_t *match;     /* top-level node: its matched edge, -1 */
  int32_t *tree_id;   /* top-level tree node: its tree (the root vertex), -1 */
  int32_t *mark;      /* scratch stamps */
  blossom *bl;        /* (capacity - n) */
  int32_t *free_ids;
  int32_t n_free;
  int32_t *list;      /* the list (a vertex number) of its boundary sides */
  int32_t *inside;    /* blossom: the last side it took out of a list,
                         -1 (a stack through next_inside) */
  /* per list (the lists are numbered by the vertex each started at): the
   * node it belongs to, the duals folded into it (of the nodes below
   * that node whose lists it took), a side of it (-1: empty), its size */
  int32_t *list_node, *list_head;
  int64_t *list_dual, *list_count;
  /* per side (side 2e is the end ends[2e] of edge e, 2e + 1 the other):
   * its list, and its neighbours there, circular (a side taken out of the
   * list keeps them, to go back in) */
  int32_t *list_of, *next, *prev, *next_inside;
  /* per edge: 4 w minus the duals of the nodes below the top holding one
   * end and not folded into its list's dual */
  int64_t *slack;
  int64_t *queued;    /* per edge: the earliest time it waits for in the
                         queue, INT64_MAX when none */
  /* trees: the nodes each tree labelled, as linked lists in a pool */
  int64_t eps;
  int64_t *tree_head; /* (n) by root vertex: last pool entry, -1 */
  int32_t *pool_node;
  int64_t *pool_next;
  int64_t pool_count, pool_capacity;
  radix_bucket_t radix[65];
  uint64_t radix_last;
  int64_t heap_count;
  int32_t *stack;
  int64_t stack_capacity;
  int32_t stamp;
  volatile sig_atomic_t *stop;
} solver;

static inline int64_t y_actual(const solver *s, int32_t x) { return s->y[x] + s->label[x] * s->eps; }

/* The node holding the end of `side`: the top-level one while the edge
 * joins two top-level nodes; below the top for an edge inside a blossom. */
static inline int32_t owner(const solver *s, int32_t side) { return s->list_node[s->list_of[side]]; }

/* The duals summed over the nodes that hold the end of `side` alone. */
static inline int64_t end_dual(const solver *s, int32_t side) {
  return s->list_dual[s->list_of[side]] + y_actual(s, owner(s, side));
}

static inline int64_t slack_of(const solver *s, int32_t e) {
  return s->slack[e] - end_dual(s, 2 * e) - end_dual(s, 2 * e + 1);
}

static void list_take_out(solver *s, int32_t side, int32_t B) {
  const int32_t l = s->list_of[side], a = s->prev[side], b = s->next[side];
  s->next[a] = b;
  s->prev[b] = a;
  if (--s->list_count[l] == 0) s->list_head[l] = -1;
  else if (s->list_head[l] == side) s->list_head[l] = b;
  s->next_inside[side] = s->inside[B];
  s->inside[B] = side;
}

/* ---- heap, stacks ------------------------------------------------------ */

/* The events by time in a radix heap (Ahuja, Mehlhorn, Orlin, Tarjan
 * 1990): every time queued is at least the last one taken, so an event
 * waits in the bucket of the highest bit where its time differs from the
 * last time taken; taking the next event empties the lowest nonempty
 * bucket into lower ones around its least time. An event moves at most 64
 * times and every access is to the end of an array, which beats a
 * comparison heap of millions of entries that miss the cache. */
static inline int radix_bucket(uint64_t key, uint64_t last) {
  if (key == last) return 0;
  uint64_t x = key ^ last;
  int b = 0;
  while (x >> 32) { x >>= 32; b += 32; }
  if (x >> 16) { x >>= 16; b += 16; }
  if (x >> 8) { x >>= 8; b += 8; }
  if (x >> 4) { x >>= 4; b += 4; }
  if (x >> 2) { x >>= 2; b += 2; }
  if (x >> 1) b += 1;
  return b + 1;
}

static core_status bucket_append(solver *s, int i, event ev) {
  radix_bucket_t *r = &s->radix[i];
  if (r->count == r->capacity) {
    const int64_t cap = r->capacity ? 2 * r->capacity : 256;
    event *p = realloc(r->ev, sizeof *p * (size_t)cap);
    CORE_CHECK(p, CORE_ERR_MEM, "matching: cannot grow the event queue to %lld entries", (long long)cap);
    r->ev = p;
    r->capacity = cap;
  }
  r->ev[r->count++] = ev;
  return CORE_OK;
}

static core_status heap_push(solver *s, int64_t key, int32_t id, int32_t kind) {
  CORE_CHECK(key >= 0 && (uint64_t)key >= s->radix_last, CORE_ERR_NUMERIC,
             "matching: internal error: an event at %lld, before the last one taken", (long long)key);
  /* An edge already waiting for a time no later is checked then anyway. */
  if (kind == EVENT_EDGE) {
    if (key >= s->queued[id]) return CORE_OK;
    s->queued[id] = key;
  }
  ++s->heap_count;
  return bucket_append(s, radix_bucket((uint64_t)key, s->radix_last), (event){key, id, kind});
}

/* The next event (the queue is not empty). */
static core_status heap_pop(solver *s, event *out) {
  if (s->radix[0].count == 0) {
    int i = 1;
    while (s->radix[i].count == 0) ++i;
    radix_bucket_t *r = &s->radix[i];
    uint64_t least = UINT64_MAX;
    for (int64_t j = 0; j < r->count; ++j)
      if ((uint64_t)r->ev[j].key < least) least = (uint64_t)r->ev[j].key;
    s->radix_last = least;
    const int64_t count = r->count;
    r->count = 0;
    for (int64_t j = 0; j < count; ++j)
      CORE_CALL(bucket_append(s, radix_bucket((uint64_t)r->ev[j].key, least), r->ev[j]));
  }
  --s->heap_count;
  *out = s->radix[0].ev[--s->radix[0].count];
  return CORE_OK;
}

static core_status stack_push(solver *s, int64_t *count, int32_t x) {
  if (*count == s->stack_capacity) {
    int64_t cap = s->stack_capacity ? 2 * s->stack_capacity : 1024;
    int32_t *p = realloc(s->stack, sizeof *p * (size_t)cap);
    CORE_CHECK(p, CORE_ERR_MEM, "matching: cannot grow a work stack to %lld entries", (long long)cap);
    s->stack = p;
    s->stack_capacity = cap;
  }
  s->stack[(*count)++] = x;
  return CORE_OK;
}

static core_status tree_add(solver *s, int32_t x, int32_t tree) {
  if (s->pool_count == s->pool_capacity) {
    int64_t cap = s->pool_capacity ? 2 * s->pool_capacity : 1024;
    int32_t *a = realloc(s->pool_node, sizeof *a * (size_t)cap);
    if (a) s->pool_node = a;
    int64_t *b = a ? realloc(s->pool_next, sizeof *b * (size_t)cap) : NULL;
    CORE_CHECK(a && b, CORE_ERR_MEM, "matching: cannot grow the tree lists to %lld nodes", (long long)cap);
    s->pool_next = b;
    s->pool_capacity = cap;
  }
  s->tree_id[x] = tree;
  s->pool_node[s->pool_count] = x;
  s->pool_next[s->pool_count] = s->tree_head[tree];
  s->tree_head[tree] = s->pool_count++;
  return CORE_OK;
}

/* ---- tree ---------------------------------------------------------------- */

static void set_label(solver *s, int32_t x, int8_t label) {
  const int64_t actual = y_actual(s, x);
  s->label[x] = label;
  s->y[x] = actual - label * s->eps;
}

/* The top-level node at the far end of boundary edge e from node x. */
static inline int32_t across(const solver *s, int32_t e, int32_t x) {
  const int32_t a = owner(s, 2 * e);
  return a == x ? owner(s, 2 * e + 1) : a;
}

static int32_t mate_node(const solver *s, int32_t x) { return s->match[x] < 0 ? -1 : across(s, s->match[x], x); }
static int32_t tree_parent(const solver *s, int32_t x) { return across(s, s->tree_edge[x], x); }

/* Queue the event of boundary side `side` of + node x (none toward -). */
static core_status queue_plus_side(solver *s, int32_t side) {
  const int32_t V = owner(s, side ^ 1);
  if (s->label[V] < 0) return CORE_OK;
  const int64_t sl = slack_of(s, side >> 1);
  return heap_push(s, s->label[V] > 0 ? s->eps + sl / 2 : s->eps + sl, side >> 1, EVENT_EDGE);
}

static core_status scan_plus(solver *s, int32_t x) {
  const int32_t h = s->list_head[s->list[x]];
  if (h < 0) return CORE_OK;
  int32_t side = h;
  do {
    CORE_CALL(queue_plus_side(s, side));
    side = s->next[side];
  } while (side != h);
  return CORE_OK;
}

/* A node turned free: queue its edges to + nodes. */
static core_status scan_free(solver *s, int32_t x) {
  const int32_t h = s->list_head[s->list[x]];
  if (h < 0) return CORE_OK;
  int32_t side = h;
  do {
    if (s->label[owner(s, side ^ 1)] > 0)
      CORE_CALL(heap_push(s, s->eps + slack_of(s, side >> 1), side >> 1, EVENT_EDGE));
    side = s->next[side];
  } while (side != h);
  return CORE_OK;
}

static core_status grow(solver *s, int32_t e, int32_t v_node, int32_t tree) {
  set_label(s, v_node, -1);
  s->tree_edge[v_node] = e;
  CORE_CALL(tree_add(s, v_node, tree));
  if (v_node >= s->n) CORE_CALL(heap_push(s, s->y[v_node], v_node, EVENT_EXPAND));
  const int32_t w = mate_node(s, v_node);
  set_label(s, w, +1);
  CORE_CALL(tree_add(s, w, tree));
  return scan_plus(s, w);
}

/* Children of a new blossom: the lowest common ancestor A of the two +
 * nodes, the path from A down to u's node, then from v's node back up. */
static core_status shrink(solver *s, int32_t e) {
  const int32_t U = owner(s, 2 * e), V = owner(s, 2 * e + 1);
  const int32_t tree = s->tree_id[U];
  const int32_t stamp_u = ++s->stamp, stamp_v = ++s->stamp;
  int32_t a = U, b = V, lca = -1;
  s->mark[a] = stamp_u;
  s->mark[b] = stamp_v;
  while (lca < 0) {
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
  int32_t a_len = 0, b_len = 0;
  for (int32_t x = U; x != lca; x = tree_parent(s, mate_node(s, x))) a_len += 2;
  for (int32_t x = V; x != lca; x = tree_parent(s, mate_node(s, x))) b_len += 2;
  const int32_t k = 1 + a_len + b_len;
  CORE_CHECK(s->n_free > 0, CORE_ERR_NUMERIC, "matching: internal error: out of blossom nodes");
  const int32_t B = s->free_ids[--s->n_free];
  blossom *bl = &s->bl[B - s->n];
  bl->k = k;
  bl->block = malloc(sizeof(int32_t) * 3 * (size_t)k);
  CORE_CHECK(bl->block, CORE_ERR_MEM, "matching: cannot allocate a blossom of %d nodes", k);
  bl->child = bl->block;
  bl->edge = bl->block + k;
  bl->first = bl->block + 2 * k;
  bl->child[0] = lca;
  for (int32_t x = U, pos = a_len; x != lca; pos -= 2) {
    const int32_t minus = mate_node(s, x), up = tree_parent(s, minus);
    bl->child[pos] = x;
    bl->child[pos - 1] = minus;
    bl->edge[pos - 1] = s->match[x];        /* minus - x, matched */
    bl->edge[pos - 2] = s->tree_edge[minus]; /* up - minus */
    x = up;
  }
  bl->edge[a_len] = e;
  for (int32_t x = V, pos = a_len + 1; x != lca; pos += 2) {
    const int32_t minus = mate_node(s, x), up = tree_parent(s, minus);
    bl->child[pos] = x;
    bl->child[pos + 1] = minus;
    bl->edge[pos] = s->match[x];             /* x - minus, matched */
    bl->edge[pos + 1] = s->tree_edge[minus]; /* minus - up */
    x = up;
  }
  /* B takes the lca's place in the tree with dual 0; the children's duals
   * are frozen at their actual values. */
  s->label[B] = +1;
  s->y[B] = -s->eps;
  s->match[B] = s->match[lca];
  s->tree_edge[B] = -1;
  s->parent[B] = -1;
  s->inside[B] = -1;
  const int32_t was_minus = ++s->stamp;
  int32_t big = 0;
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i];
    if (s->label[c] < 0) s->mark[c] = was_minus;
    s->y[c] = y_actual(s, c);
    s->label[c] = 0;
    s->tree_id[c] = -1;
    s->parent[c] = B;
    if (s->list_count[s->list[c]] > s->list_count[s->list[bl->child[big]]]) big = i;
  }
  /* B takes its largest child's list whole: the list now belongs to B and
   * the child's frozen dual joins the list's dual, whatever the list's
   * length. The other children's lists are walked: a side whose far end is
   * inside B leaves its list (keeping its neighbours, to go back in when B
   * expands), with its twin when that is in the taken list; the others
   * move to the taken list, the difference of the folded duals going into
   * their stored slack, and are queued when their child was - (a + child's
   * were queued already). What is left of the walked lists is appended to
   * the taken list once every walk is done. */
  const int32_t taken = bl->child[big], L = s->list[taken];
  bl->adopted = big;
  s->list[B] = L;
  s->list_node[L] = B;
  s->list_dual[L] += s->y[taken];
  for (int32_t i = 0; i < k; ++i) {
    bl->first[i] = -1;
    if (i == big) continue;
    const int32_t c = bl->child[i], lc = s->list[c], h = s->list_head[lc];
    if (h < 0) continue;
    const int64_t shift = s->list_dual[lc] + s->y[c] - s->list_dual[L];
    const int minus = s->mark[c] == was_minus;
    const int32_t last = s->prev[h];
    for (int32_t side = h;;) {
      const int32_t next = s->next[side], far = owner(s, side ^ 1);
      if (far == B || s->parent[far] == B) {
        list_take_out(s, side, B);
        if (far == B) list_take_out(s, side ^ 1, B);
      } else {
        s->list_of[side] = L;
        s->slack[side >> 1] -= shift;
        if (bl->first[i] < 0) bl->first[i] = side;
        if (minus) CORE_CALL(queue_plus_side(s, side));
      }
      if (side == last) break;
      side = next;
    }
  }
  bl->adopted_first = s->list_head[L];
  bl->adopted_count = (int32_t)s->list_count[L];
  if (s->mark[taken] == was_minus && s->list_head[L] >= 0) {
    const int32_t h = s->list_head[L];
    int32_t side = h;
    do {
      CORE_CALL(queue_plus_side(s, side));
      side = s->next[side];
    } while (side != h);
  }
  for (int32_t i = 0; i < k; ++i) {
    const int32_t f = bl->first[i];
    if (i == big || f < 0) continue;
    const int32_t lc = s->list[bl->child[i]];
    if (s->list_head[L] < 0) {
      s->list_head[L] = f;
    } else {
      const int32_t hb = s->list_head[L], tail_b = s->prev[hb], tail_f = s->prev[f];
      s->next[tail_b] = f;
      s->prev[f] = tail_b;
      s->next[tail_f] = hb;
      s->prev[hb] = tail_f;
    }
    s->list_count[L] += s->list_count[lc];
    s->list_count[lc] = 0;
    s->list_head[lc] = -1;
  }
  return tree_add(s, B, tree);
}

/* Blossom B leaves the top: children back at the top with their boundary
 * sides, cycle rotated so that child 0 holds B's matched end (the base),
 * and every child's matched edge laid out: the base takes B's, children
 * 2t-1 and 2t take edge 2t-1. Returns the stamp marking B's children. */
static int32_t dissolve(solver *s, int32_t B, int32_t **tmp, int64_t *tmp_size) {
  blossom *bl = &s->bl[B - s->n];
  const int32_t k = bl->k, stamp = ++s->stamp;
  /* Undo the shrink, last step first. B's list is what the shrink left
   * (every blossom formed above B has expanded since): the taken child's
   * segment, then the walked children's segments in order. Cut it into
   * them, giving the walked sides back their lists and stored slacks and
   * the taken list back to its child; then put back the sides B took out,
   * in the reverse order, each between the neighbours it kept. */
  if (*tmp_size < 2 * (int64_t)k) {
    int32_t *p = realloc(*tmp, sizeof *p * 2 * (size_t)k);
    if (!p) return -1;
    *tmp = p;
    *tmp_size = 2 * (int64_t)k;
  }
  const int32_t ad = bl->adopted, L = s->list[B], a = bl->child[ad];
  int32_t *tail = *tmp, following = bl->adopted_first;
  for (int32_t i = 0; i < k && following < 0; ++i)
    if (i != ad) following = bl->first[i];
  for (int32_t i = k - 1; i >= 0; --i)
    if (i != ad && bl->first[i] >= 0) {
      tail[i] = s->prev[following];
      following = bl->first[i];
    }
  if (bl->adopted_first >= 0) tail[ad] = s->prev[following];
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i], f = bl->first[i];
    s->parent[c] = -1;
    s->mark[c] = stamp;
    if (i == ad || f < 0) continue;
    const int32_t lc = s->list[c];
    const int64_t shift = s->list_dual[lc] + s->y[c] - s->list_dual[L];
    int64_t count = 0;
    for (int32_t side = f;; side = s->next[side]) {
      s->list_of[side] = lc;
      s->slack[side >> 1] += shift;
      ++count;
      if (side == tail[i]) break;
    }
    s->next[tail[i]] = f;
    s->prev[f] = tail[i];
    s->list_head[lc] = f;
    s->list_count[lc] = count;
  }
  if (bl->adopted_first >= 0) {
    s->next[tail[ad]] = bl->adopted_first;
    s->prev[bl->adopted_first] = tail[ad];
  }
  s->list_head[L] = bl->adopted_first;
  s->list_count[L] = bl->adopted_count;
  s->list_node[L] = a;
  s->list_dual[L] -= s->y[a];
  s->list[B] = -1;
  for (int32_t side = s->inside[B]; side >= 0; side = s->next_inside[side]) {
    const int32_t l = s->list_of[side];
    s->next[s->prev[side]] = side;
    s->prev[s->next[side]] = side;
    if (s->list_count[l]++ == 0) s->list_head[l] = side;
  }
  s->inside[B] = -1;
  /* Rotate to the base. */
  const int32_t me = s->match[B];
  int32_t base = 0;
  if (me >= 0) {
    const int32_t ta = owner(s, 2 * me);
    const int32_t c = s->mark[ta] == stamp ? ta : owner(s, 2 * me + 1);
    while (bl->child[base] != c) ++base;
  }
  if (base > 0) {
    if (*tmp_size < 2 * (int64_t)k) {
      int32_t *p = realloc(*tmp, sizeof *p * 2 * (size_t)k);
      if (!p) return -1;
      *tmp = p;
      *tmp_size = 2 * (int64_t)k;
    }
    for (int32_t t = 0; t < k; ++t) {
      (*tmp)[t] = bl->child[(base + t) % k];
      (*tmp)[k + t] = bl->edge[(base + t) % k];
    }
    memcpy(bl->child, *tmp, sizeof(int32_t) * 2 * (size_t)k);
  }
  s->match[bl->child[0]] = me;
  for (int32_t t = 1; t < k; t += 2) s->match[bl->child[t]] = s->match[bl->child[t + 1]] = bl->edge[t];
  for (int32_t i = 0; i < k; ++i) {
    s->label[bl->child[i]] = 0;
    s->tree_id[bl->child[i]] = -1;
  }
  return stamp;
}

static void blossom_release(solver *s, int32_t B) {
  blossom *bl = &s->bl[B - s->n];
  free(bl->block);
  bl->block = bl->child = bl->edge = bl->first = NULL;
  bl->k = 0;
  s->label[B] = 0;
  s->parent[B] = -1;
  s->match[B] = -1;
  s->tree_id[B] = -1;
  s->free_ids[s->n_free++] = B;
}

/* Flip the path from + node X up to its root; X's new matched edge is e. */
static void augment_path(solver *s, int32_t X, int32_t e) {
  int32_t ecur = e;
  for (;;) {
    const int32_t old = s->match[X];
    s->match[X] = ecur;
    if (old < 0) break;
    const int32_t Ym = across(s, old, X), et = s->tree_edge[Ym];
    s->match[Ym] = et;
    X = across(s, et, Ym);
    ecur = et;
  }
}

/* A tree ends: its nodes' duals become actual, they lose their labels, and
 * the top-level ones are listed on s->stack from *count (to be scanned). */
static core_status tree_dissolve(solver *s, int32_t tree, int64_t *count) {
  for (int64_t i = s->tree_head[tree]; i >= 0; i = s->pool_next[i]) {
    const int32_t x = s->pool_node[i];
    if (s->tree_id[x] != tree || s->parent[x] >= 0 || s->label[x] == 0) continue;
    if (x >= s->n && s->bl[x - s->n].k == 0) continue;
    s->y[x] = y_actual(s, x);
    s->label[x] = 0;
    s->tree_id[x] = -1;
    CORE_CALL(stack_push(s, count, x));
  }
  s->tree_head[tree] = -1;
  return CORE_OK;
}

/* Edge e joins + nodes of two trees: flip both paths to their roots,
 * end both trees, and queue the edges from their nodes to + nodes. */
static core_status augment(solver *s, int32_t e) {
  const int32_t U = owner(s, 2 * e), V = owner(s, 2 * e + 1);
  const int32_t tu = s->tree_id[U], tv = s->tree_id[V];
  augment_path(s, U, e);
  augment_path(s, V, e);
  int64_t count = 0;
  CORE_CALL(tree_dissolve(s, tu, &count));
  CORE_CALL(tree_dissolve(s, tv, &count));
  /* scan_free does not touch s->stack */
  for (int64_t i = 0; i < count; ++i) CORE_CALL(scan_free(s, s->stack[i]));
  return CORE_OK;
}

/* - blossom B whose dual reached 0: the even path from the child its tree
 * edge enters to its base stays in the tree, the rest become free. */
static core_status expand(solver *s, int32_t B, int32_t **tmp, int64_t *tmp_size) {
  const int32_t et = s->tree_edge[B], tree = s->tree_id[B];
  const int32_t stamp = dissolve(s, B, tmp, tmp_size);
  CORE_CHECK(stamp >= 0, CORE_ERR_MEM, "matching: out of memory expanding a blossom");
  blossom *bl = &s->bl[B - s->n];
  const int32_t k = bl->k;
  const int32_t ta = owner(s, 2 * et);
  const int32_t entry = s->mark[ta] == stamp ? ta : owner(s, 2 * et + 1);
  int32_t j = 0;
  while (bl->child[j] != entry) ++j;
  const int dir = (j % 2 == 0) ? -1 : 1;
  const int32_t steps = j == 0 ? 0 : (dir < 0 ? j : k - j);
  const int32_t on_path = ++s->stamp;
  for (int32_t t = 0; t <= steps; ++t) {
    const int32_t idx = dir < 0 ? j - t : (j + t) % k, c = bl->child[idx];
    s->mark[c] = on_path;
    if (t % 2 == 0) {
      set_label(s, c, -1);
      s->tree_edge[c] = t == 0 ? et : (dir < 0 ? bl->edge[idx] : bl->edge[(idx - 1 + k) % k]);
      CORE_CALL(tree_add(s, c, tree));
      if (c >= s->n) CORE_CALL(heap_push(s, s->y[c], c, EVENT_EXPAND));
    } else {
      set_label(s, c, +1);
      CORE_CALL(tree_add(s, c, tree));
    }
  }
  for (int32_t i = 0; i < k; ++i) {
    const int32_t c = bl->child[i];
    if (s->mark[c] != on_path) CORE_CALL(scan_free(s, c));
    else if (s->label[c] > 0) CORE_CALL(scan_plus(s, c));
  }
  blossom_release(s, B);
  return CORE_OK;
}

/* Every unmatched node roots a tree; events until none is left. */
static core_status solve_all(solver *s, int32_t **tmp, int64_t *tmp_size) {
  s->eps = 0;
  int64_t trees = 0;
  for (int32_t v = 0; v < s->n; ++v)
    if (s->match[v] < 0) {
      set_label(s, v, +1);
      CORE_CALL(tree_add(s, v, v));
      ++trees;
    }
  for (int32_t v = 0; v < s->n; ++v)
    if (s->label[v] > 0) CORE_CALL(scan_plus(s, v));
  while (trees > 0) {
    CORE_CHECK(!(s->stop && *s->stop), CORE_ERR_STOPPED, "matching: stopped on request");
    CORE_CHECK(s->heap_count > 0, CORE_ERR_VALUE, "matching: the graph has no perfect matching");
    event ev;
    CORE_CALL(heap_pop(s, &ev));
    if (ev.key > s->eps) s->eps = ev.key;
    if (ev.kind == EVENT_EXPAND) {
      const int32_t B = ev.id;
      if (s->bl[B - s->n].k > 0 && s->parent[B] < 0 && s->label[B] < 0 && y_actual(s, B) == 0)
        CORE_CALL(expand(s, B, tmp, tmp_size));
      continue;
    }
    const int32_t e = ev.id;
    if (ev.key == s->queued[e]) s->queued[e] = INT64_MAX;
    int32_t U = owner(s, 2 * e), V = owner(s, 2 * e + 1);
    /* owners below the top: the edge is inside a blossom */
    if (s->parent[U] >= 0 || s->parent[V] >= 0) continue;
    if (s->label[U] <= 0) {
      const int32_t t = U;
      U = V;
      V = t;
    }
    if (s->label[U] <= 0 || s->label[V] < 0) continue;
    const int64_t sl = slack_of(s, e);
    CORE_CHECK(sl >= 0 && (s->label[V] <= 0 || sl % 2 == 0), CORE_ERR_NUMERIC,
               "matching: internal error: edge %d has slack %lld", e, (long long)sl);
    if (sl > 0) {
      CORE_CALL(heap_push(s, s->eps + (s->label[V] > 0 ? sl / 2 : sl), e, EVENT_EDGE));
      continue;
    }
    if (s->label[V] == 0) {
      CORE_CHECK(s->match[V] >= 0, CORE_ERR_NUMERIC, "matching: internal error: a free unmatched node");
      CORE_CALL(grow(s, e, V, s->tree_id[U]));
    } else if (s->tree_id[U] == s->tree_id[V]) {
      CORE_CALL(shrink(s, e));
    } else {
      CORE_CALL(augment(s, e));
      trees -= 2;
    }
  }
  return CORE_OK;
}

static void solver_free(solver *s) {
  if (s->bl)
    for (int32_t b = 0; b < s->capacity - s->n; ++b) free(s->bl[b].block);
  free(s->parent);
  free(s->y);
  free(s->label);
  free(s->tree_edge);
  free(s->match);
  free(s->tree_id);
  free(s->tree_head);
  free(s->pool_node);
  free(s->pool_next);
  free(s->mark);
  free(s->bl);
  free(s->free_ids);
  free(s->list);
  free(s->inside);
  free(s->list_node);
  free(s->list_head);
  free(s->list_dual);
  free(s->list_count);
  free(s->list_of);
  free(s->next);
  free(s->prev);
  free(s->next_inside);
  free(s->slack);
  free(s->queued);
  for (int i = 0; i < 65; ++i) free(s->radix[i].ev);
  free(s->stack);
}

static core_status solver_init(solver *s, int32_t n, int64_t m, const int32_t *ends, const int64_t *weight) {
  s->n = n;
  s->m = m;
  s->ends = ends;
  s->weight = weight;
  s->capacity = n + n / 2 + 1;
  const size_t N = (size_t)s->capacity, sides = (size_t)(2 * m > 0 ? 2 * m : 1);
  s->parent = malloc(sizeof(int32_t) * N);
  s->y = calloc(N, sizeof(int64_t));
  s->label = calloc(N, 1);
  s->tree_edge = malloc(sizeof(int32_t) * N);
  s->match = malloc(sizeof(int32_t) * N);
  s->tree_id = malloc(sizeof(int32_t) * N);
  s->tree_head = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  s->mark = calloc(N, sizeof(int32_t));
  s->bl = calloc(N - (size_t)n, sizeof(blossom));
  s->free_ids = malloc(sizeof(int32_t) * (N - (size_t)n));
  const size_t nv = (size_t)(n > 0 ? n : 1);
  s->list = malloc(sizeof(int32_t) * N);
  s->inside = malloc(sizeof(int32_t) * N);
  s->list_node = malloc(sizeof(int32_t) * nv);
  s->list_head = malloc(sizeof(int32_t) * nv);
  s->list_dual = calloc(nv, sizeof(int64_t));
  s->list_count = calloc(nv, sizeof(int64_t));
  s->list_of = malloc(sizeof(int32_t) * sides);
  s->next = malloc(sizeof(int32_t) * sides);
  s->prev = malloc(sizeof(int32_t) * sides);
  s->next_inside = malloc(sizeof(int32_t) * sides);
  s->slack = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
  s->queued = malloc(sizeof(int64_t) * (size_t)(m > 0 ? m : 1));
  CORE_CHECK(s->parent && s->y && s->label && s->tree_edge && s->match && s->mark && s->bl && s->free_ids &&
                 s->list && s->inside && s->list_node && s->list_head && s->list_dual && s->list_count &&
                 s->list_of && s->next && s->prev && s->next_inside && s->slack && s->queued && s->tree_id &&
                 s->tree_head,
             CORE_ERR_MEM, "matching: cannot allocate the workspace for %d vertices and %lld edges", n,
             (long long)m);
  for (size_t x = 0; x < N; ++x) {
    s->parent[x] = s->tree_edge[x] = s->match[x] = s->tree_id[x] = s->list[x] = s->inside[x] = -1;
  }
  for (int32_t v = 0; v < n; ++v) {
    s->list[v] = s->list_node[v] = v;
    s->list_head[v] = -1;
  }
  s->n_free = 0;
  for (int32_t b = s->capacity - 1; b >= n; --b) s->free_ids[s->n_free++] = b;
  for (int32_t v = 0; v < n; ++v) s->tree_head[v] = -1;
  /* each vertex's list: its sides in increasing order */
  for (int64_t side = 0; side < 2 * m; ++side) {
    const int32_t v = ends[side], sd = (int32_t)side;
    s->list_of[sd] = v;
    ++s->list_count[v];
    if (s->list_head[v] < 0) {
      s->list_head[v] = s->next[sd] = s->prev[sd] = sd;
    } else {
      const int32_t h = s->list_head[v], t = s->prev[h];
      s->next[t] = sd;
      s->prev[sd] = t;
      s->next[sd] = h;
      s->prev[h] = sd;
    }
  }
  for (int64_t e = 0; e < m; ++e) {
    s->slack[e] = 4 * weight[e];
    s->queued[e] = INT64_MAX;
  }
  return CORE_OK;
}

/* Greedy start: y_v = twice the least weight at v (every slack of the
 * quadrupled weights >= 0, every dual even),
 * then each unmatched vertex raises its dual to its least slack and takes
 * that neighbour when it is unmatched (unmatched neighbours first). */
static void greedy_start(solver *s) {
  for (int32_t v = 0; v < s->n; ++v) s->y[v] = INT64_MAX;
  for (int64_t e = 0; e < s->m; ++e)
    for (int i = 0; i < 2; ++i)
      if (2 * s->weight[e] < s->y[s->ends[2 * e + i]]) s->y[s->ends[2 * e + i]] = 2 * s->weight[e];
  for (int32_t v = 0; v < s->n; ++v) {
    if (s->match[v] >= 0) continue;
    int64_t least = INT64_MAX;
    int32_t pick = -1, pick_free = 0;
    for (int32_t side = s->list_head[v];;) {
      const int32_t e = side >> 1, u = s->ends[side ^ 1];
      const int64_t sl = s->slack[e] - s->y[v] - s->y[u];
      const int is_free = s->match[u] < 0;
      if (sl < least || (sl == least && is_free && !pick_free)) {
        least = sl;
        pick = e;
        pick_free = is_free;
      }
      side = s->next[side];
      if (side == s->list_head[v]) break;
    }
    s->y[v] += least;
    if (pick_free) s->match[v] = s->match[s->ends[2 * (int64_t)pick] ^ s->ends[2 * (int64_t)pick + 1] ^ v] = pick;
  }
}

core_status matching_min_perfect(int32_t n, int64_t m, const int32_t *ends, const int64_t *weight,
                                 int32_t *mate, int64_t *total) {
  return matching_min_perfect_stoppable(n, m, ends, weight, NULL, mate, total);
}

core_status matching_min_perfect_stoppable(int32_t n, int64_t m, const int32_t *ends, const int64_t *weight,
                                           volatile sig_atomic_t *stop, int32_t *mate, int64_t *total) {
  CORE_CHECK(n >= 0 && n <= MATCHING_EDGES_MAX && m >= 0 && m <= MATCHING_EDGES_MAX, CORE_ERR_ARG,
             "matching: %d vertices and %lld edges (at most 2^30 - 1 of each)", n, (long long)m);
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
               "matching: weight of edge %lld is %lld, beyond 2^56 in size", (long long)e, (long long)w);
    sum += (uint64_t)(w < 0 ? -w : w);
    CORE_CHECK(sum <= (uint64_t)MATCHING_WEIGHT_SUM_MAX, CORE_ERR_VALUE,
               "matching: the weights' absolute values sum beyond 2^56 (at edge %lld)", (long long)e);
  }
  solver s;
  memset(&s, 0, sizeof s);
  int32_t *tmp = NULL;
  int64_t tmp_size = 0;
  s.stop = stop;
  core_status st = solver_init(&s, n, m, ends, weight);
  for (int32_t v = 0; v < n && !st; ++v)
    if (s.list_head[v] < 0)
      st = CORE_ERROR(CORE_ERR_VALUE, "matching: the graph has no perfect matching (vertex %d has no edge)", v);
  if (!st) greedy_start(&s);
  if (!st) st = solve_all(&s, &tmp, &tmp_size);
  /* Lay out every blossom's matching, outermost first. */
  int64_t count = 0;
  for (int32_t B = n; B < s.capacity && !st; ++B)
    if (s.bl[B - n].k > 0 && s.parent[B] < 0) st = stack_push(&s, &count, B);
  while (count > 0 && !st) {
    const int32_t B = s.stack[--count];
    if (dissolve(&s, B, &tmp, &tmp_size) < 0) {
      st = CORE_ERROR(CORE_ERR_MEM, "matching: out of memory");
      break;
    }
    const blossom *bl = &s.bl[B - n];
    for (int32_t i = 0; i < bl->k && !st; ++i)
      if (bl->child[i] >= n) st = stack_push(&s, &count, bl->child[i]);
    blossom_release(&s, B);
  }
  if (!st) {
    int64_t sum_w = 0;
    for (int32_t v = 0; v < n; ++v) {
      mate[v] = s.match[v];
      if (ends[2 * (int64_t)mate[v]] == v) sum_w += weight[mate[v]];
    }
    *total = sum_w;
  }
  free(tmp);
  solver_free(&s);
  return st;
}
