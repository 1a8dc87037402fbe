/* A sum of K vectors over P ranks whose bits do not depend on P.
 *
 * core_tree_sum_create(comm, shards, n, &s): collective on comm; the plan
 *   of this rank's messages and additions (a duplicate of comm carries them).
 * core_tree_sum_work(s): local; the workspace execute needs, in floats.
 * core_tree_sum_execute(s, bufs, work, sum): collective; sum (n) on every
 *   rank = the tree sum of the K shard vectors; bufs are overwritten.
 * core_tree_sum_destroy(&s): collective (it frees the communicator).
 *
 * Why: float addition is commutative but not associative, so a sum has
 * the bits of its grouping. MPI_Allreduce groups by rank and by the
 * library's algorithm, which change with P. Here the grouping is one fixed
 * binary tree over the K shards: level 0 holds the shard vectors, node i
 * of level l covers shards [i 2^l, (i + 1) 2^l) ∩ [0, K) and is left child
 * + right child, a lone left child carried up unchanged. Only the grouping
 * is fixed: which rank performs an addition is free (a + b == b + a bit
 * for bit), and that freedom buys the bandwidth of a reduce-scatter.
 *
 * Layout: rank r of P holds shards [r M, (r + 1) M), M = K / P. A node
 * inside one rank's block is that rank's, whole. A node whose shards span
 * ranks r0..r1 is spread over those ranks: each holds one contiguous
 * piece of [0, n). Its pieces are
 *   - regular (the children's pieces have the same bounds and the
 *     children's ranks are disjoint: P and M powers of two, where the top
 *     log2 P levels pair ranks): each piece split in two, the first half
 *     to the left child's holder, the second to the right's. This is
 *     recursive halving (Rabenseifner): a rank sends and receives n / 2^j
 *     floats at the j-th level above its block, n (P - 1) / P in all;
 *   - otherwise a block partition of [0, n) over r0..r1 (P not a power of
 *     two, or a node that cuts through a rank's block when M is not).
 * Each rank adds, on its own piece of the node, the piece of one child to
 * the other's: the pieces of the child it holds stay in its buffer (in
 * place), those held elsewhere are received. The root's pieces are then
 * gathered on every rank (MPI_Allgatherv: data movement, no arithmetic).
 * Depth: ceil(log2 K) levels, the lowest log2 M of them local when M is a
 * power of two, each at most a few messages per rank (more only at an
 * irregular level whose children differ much in width).
 *
 * Storage: a node's piece held by rank r lives in the buffer of r's
 * first shard inside the node, at its offsets in [0, n). A parent's
 * buffer is its left child's (or, if r holds none of the left child, its
 * right child's), so the sum runs in place; a child held by another rank
 * arrives in the workspace (n floats per boundary of r's block that a
 * spread node crosses: at most 2 n).
 *
 * Messages between two ranks within a level are posted in the same order
 * on both sides (nodes ascending, then left child before right) with one
 * tag, so MPI's non-overtaking rule pairs them; levels are separated by
 * MPI_Waitall. */
#include "eloss/core.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum { OP_RECV, OP_SEND, OP_ADD };
enum { TREE_SUM_TAG = 7 };

/* A piece of a node's vector: [lo, hi) held by rank. */
typedef struct {
  int rank;
  int64_t lo, hi;
} tree_piece;

/* The pieces of one node: piece[first .. first + count) of its level. */
typedef struct {
  int first, count;
} tree_node;

/* One message or addition of this rank. Buffers: b >= 0 is shard buffer
 * bufs[b], b < 0 is workspace slot -1 - b (n floats each). */
typedef struct {
  int kind, peer, buf, src; /* src: the source buffer of OP_ADD */
  int64_t lo, len;
} tree_op;

struct core_tree_sum {
  MPI_Comm comm; /* a duplicate of the caller's: its messages meet no other */
  int rank, size, shards, mine, levels;
  size_t n, work;
  tree_op *op;
  int (*level)[3];    /* (levels) receives, sends, additions of each level, in op order */
  MPI_Request *req;   /* (max receives + sends of a level) scratch of execute */
  int *counts, *displs; /* (size) the root's pieces: the final gather */
};

/* ---- the plan ------------------------------------------------------------ */

typedef struct {
  tree_op *op;
  int count, cap;
  int ok;
} op_list;

static void op_push(op_list *l, tree_op o) {
  if (o.len <= 0 || !l->ok) return;
  if (l->count == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    tree_op *grown = realloc(l->op, sizeof *grown * (size_t)cap);
    if (!grown) {
      l->ok = 0;
      return;
    }
    l->op = grown, l->cap = cap;
  }
  l->op[l->count++] = o;
}

static int piece_of(const tree_piece *pc, tree_node nd, int rank) {
  for (int k = 0; k < nd.count; ++k)
    if (pc[nd.first + k].rank == rank) return nd.first + k;
  return -1;
}

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

/* The pieces of node i of a level whose nodes span 2^l shards, from its
 * children (left, right; right NULL when lone). Appends to pc at *used. */
static tree_node node_pieces(const tree_piece *child_pc, const tree_node *left, const tree_node *right,
                             int64_t first_shard, int64_t last_shard, int64_t right_first, int M, int64_t n,
                             tree_piece *pc, int *used) {
  tree_node nd = {*used, 0};
  const tree_piece *L = child_pc + left->first;
  if (!right) { /* a lone left child: carried up, pieces and all */
    for (int k = 0; k < left->count; ++k) pc[(*used)++] = L[k];
  } else if (left->count == 1 && right->count == 1 && L[0].rank == child_pc[right->first].rank) {
    pc[(*used)++] = (tree_piece){L[0].rank, 0, n}; /* inside one rank's block */
  } else {
    const tree_piece *R = child_pc + right->first;
    int regular = left->count == right->count && right_first % M == 0;
    for (int k = 0; regular && k < left->count; ++k) regular = L[k].lo == R[k].lo && L[k].hi == R[k].hi;
    if (regular) {
      for (int k = 0; k < left->count; ++k) {
        const int64_t mid = L[k].lo + (L[k].hi - L[k].lo + 1) / 2;
        pc[(*used)++] = (tree_piece){L[k].rank, L[k].lo, mid};
        pc[(*used)++] = (tree_piece){R[k].rank, mid, R[k].hi};
      }
    } else {
      const int r0 = (int)(first_shard / M), r1 = (int)(last_shard / M);
      for (int r = r0; r <= r1; ++r) {
        int64_t len, start;
        core_partition(n, r1 - r0 + 1, r - r0, &len, &start);
        pc[(*used)++] = (tree_piece){r, start, start + len};
      }
    }
  }
  nd.count = *used - nd.first;
  return nd;
}

/* The buffer of a rank whose block starts at shard mine_first for a node
 * or child starting at shard first: that of its first shard inside. */
static int buffer_index(int64_t first, int64_t mine_first) { return (int)(max64(first, mine_first) - mine_first); }

/* This rank's receives, sends and additions for node (l, i), appended to
 * the three lists. */
static void node_ops(const tree_piece *cpc, tree_node left, tree_node right, const tree_piece *pc, tree_node nd,
                     int64_t first_shard, int64_t right_first, int rank, int M, op_list ops[3]) {
  const int64_t mine_first = (int64_t)rank * M;
  const int in_left = piece_of(cpc, left, rank) >= 0;
  const tree_node child[2] = {left, right};
  const int64_t child_first[2] = {first_shard, right_first};
  const int own = in_left ? 0 : 1;
  const int dst = buffer_index(child_first[own], mine_first);
  const int slot = first_shard <= mine_first ? 0 : 1; /* the node holds r's first shard, or its last */
  const int me = piece_of(pc, nd, rank);
  for (int c = 0; c < 2; ++c) {
    const tree_piece *cp = cpc + child[c].first;
    /* Receives: the pieces of child c on my piece held elsewhere. */
    if (me >= 0)
      for (int k = 0; k < child[c].count; ++k) {
        if (cp[k].rank == rank) continue;
        const int64_t lo = max64(pc[me].lo, cp[k].lo), hi = min64(pc[me].hi, cp[k].hi);
        op_push(&ops[OP_RECV], (tree_op){OP_RECV, cp[k].rank, c == own ? dst : -1 - slot, 0, lo, hi - lo});
        if (c != own) op_push(&ops[OP_ADD], (tree_op){OP_ADD, rank, dst, -1 - slot, lo, hi - lo});
      }
    /* My piece of child c: added in place if it is the other child; sent
     * where other ranks' pieces of the node need it. */
    const int held = piece_of(cpc, child[c], rank);
    if (held < 0) continue;
    const int buf = buffer_index(child_first[c], mine_first);
    for (int k = 0; k < nd.count; ++k) {
      const tree_piece *q = pc + nd.first + k;
      const int64_t lo = max64(q->lo, cpc[held].lo), hi = min64(q->hi, cpc[held].hi);
      if (q->rank != rank) op_push(&ops[OP_SEND], (tree_op){OP_SEND, q->rank, buf, 0, lo, hi - lo});
      else if (c != own) op_push(&ops[OP_ADD], (tree_op){OP_ADD, rank, dst, buf, lo, hi - lo});
    }
  }
}

/* Every level's pieces (each rank computes all of them: they are a pure
 * function of K, P, n) and this rank's operations. */
static core_status plan_build(core_tree_sum *s) {
  const int K = s->shards, M = s->mine;
  const int64_t n = (int64_t)s->n;
  int levels = 0;
  while ((1LL << levels) < K) ++levels;
  s->levels = levels;
  tree_piece *pc[2] = {malloc(sizeof(tree_piece) * (size_t)(K + s->size + 1)),
                       malloc(sizeof(tree_piece) * (size_t)(K + s->size + 1))};
  tree_node *nodes[2] = {malloc(sizeof(tree_node) * (size_t)K), malloc(sizeof(tree_node) * (size_t)K)};
  s->level = malloc(sizeof *s->level * (size_t)(levels + 1));
  op_list all = {.ok = 1}, ops[3] = {{.ok = 1}, {.ok = 1}, {.ok = 1}};
  core_status st = pc[0] && pc[1] && nodes[0] && nodes[1] && s->level
                       ? CORE_OK
                       : CORE_ERROR(CORE_ERR_MEM, "core_tree_sum_create: cannot allocate the tree of %d shards", K);
  int count = K, used = 0, max_req = 0;
  for (int k = 0; !st && k < K; ++k) {
    pc[0][k] = (tree_piece){k / M, 0, n};
    nodes[0][k] = (tree_node){k, 1};
  }
  for (int l = 1; !st && l <= levels; ++l) {
    const tree_piece *cpc = pc[(l - 1) & 1];
    const tree_node *child = nodes[(l - 1) & 1];
    tree_piece *npc = pc[l & 1];
    tree_node *node = nodes[l & 1];
    const int next = (count + 1) / 2;
    used = 0;
    for (int k = 0; k < 3; ++k) ops[k].count = 0;
    for (int i = 0; i < next; ++i) {
      const int64_t first = (int64_t)i << l, last = min64(((int64_t)(i + 1) << l), K) - 1;
      const int64_t right_first = first + (1LL << (l - 1));
      const tree_node *right = 2 * i + 1 < count ? &child[2 * i + 1] : NULL;
      node[i] = node_pieces(cpc, &child[2 * i], right, first, last, right_first, M, n, npc, &used);
      const int r0 = (int)(first / M), r1 = (int)(last / M);
      if (right && s->rank >= r0 && s->rank <= r1)
        node_ops(cpc, child[2 * i], *right, npc, node[i], first, right_first, s->rank, M, ops);
    }
    count = next;
    for (int k = 0; k < 3; ++k) {
      s->level[l - 1][k] = ops[k].count;
      for (int j = 0; j < ops[k].count; ++j) op_push(&all, ops[k].op[j]);
    }
    if (ops[OP_RECV].count + ops[OP_SEND].count > max_req) max_req = ops[OP_RECV].count + ops[OP_SEND].count;
  }
  if (!st && !(all.ok && ops[0].ok && ops[1].ok && ops[2].ok))
    st = CORE_ERROR(CORE_ERR_MEM, "core_tree_sum_create: cannot allocate the operations of %d shards", K);
  /* The root's pieces: one per rank, gathered at the end. */
  if (!st) {
    const tree_piece *rpc = pc[levels & 1];
    const tree_node root = nodes[levels & 1][0];
    for (int r = 0; r < s->size; ++r) s->counts[r] = -1;
    for (int k = 0; k < root.count; ++k) {
      const tree_piece *q = rpc + root.first + k;
      s->counts[q->rank] = (int)(q->hi - q->lo), s->displs[q->rank] = (int)q->lo;
    }
    for (int r = 0; r < s->size; ++r)
      if (s->counts[r] < 0) st = CORE_ERROR(CORE_ERR_ARG, "core_tree_sum_create: rank %d holds no piece of the sum", r);
  }
  size_t slots = 0;
  for (int j = 0; !st && j < all.count; ++j) {
    if (all.op[j].buf < 0 && (size_t)(-all.op[j].buf) > slots) slots = (size_t)(-all.op[j].buf);
    if (all.op[j].kind == OP_ADD && all.op[j].src < 0 && (size_t)(-all.op[j].src) > slots) slots = (size_t)(-all.op[j].src);
  }
  s->work = slots * s->n;
  s->op = all.op;
  s->req = st ? NULL : malloc(sizeof(MPI_Request) * (size_t)(max_req + 1));
  if (!st && !s->req) st = CORE_ERROR(CORE_ERR_MEM, "core_tree_sum_create: cannot allocate %d requests", max_req);
  for (int k = 0; k < 3; ++k) free(ops[k].op);
  free(pc[0]), free(pc[1]), free(nodes[0]), free(nodes[1]);
  return st;
}

core_status core_tree_sum_create(MPI_Comm comm, int shards, size_t n, core_tree_sum **out) {
  *out = NULL;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  core_status st = CORE_OK;
  if (shards < 1 || shards % size != 0)
    st = CORE_ERROR(CORE_ERR_ARG, "core_tree_sum_create: %d ranks do not divide %d shards", size, shards);
  else if (n > (size_t)INT_MAX)
    st = CORE_ERROR(CORE_ERR_ARG, "core_tree_sum_create: %zu floats, MPI counts take at most %d", n, INT_MAX);
  core_tree_sum *s = st ? NULL : calloc(1, sizeof *s);
  if (s) s->comm = MPI_COMM_NULL;
  if (!st && (!s || core_fault("core.tree_sum")))
    st = CORE_ERROR(CORE_ERR_MEM, "core_tree_sum_create: cannot allocate the plan");
  if (!st) {
    s->rank = rank, s->size = size, s->shards = shards, s->mine = shards / size, s->n = n;
    s->counts = malloc(sizeof(int) * (size_t)size);
    s->displs = malloc(sizeof(int) * (size_t)size);
    st = s->counts && s->displs ? plan_build(s) : CORE_ERROR(CORE_ERR_MEM, "core_tree_sum_create: cannot allocate the plan");
  }
  st = core_agree(comm, st);
  if (!st && MPI_Comm_dup(comm, &s->comm) != MPI_SUCCESS)
    st = CORE_ERROR(CORE_ERR_MPI, "core_tree_sum_create: MPI_Comm_dup failed"), s->comm = MPI_COMM_NULL;
  st = core_agree(comm, st);
  if (st) {
    core_tree_sum_destroy(&s);
    return st;
  }
  *out = s;
  return CORE_OK;
}

size_t core_tree_sum_work(const core_tree_sum *s) { return s->work; }

void core_tree_sum_destroy(core_tree_sum **s) {
  if (!s || !*s) return;
  if ((*s)->comm != MPI_COMM_NULL) MPI_Comm_free(&(*s)->comm);
  free((*s)->op), free((*s)->level), free((*s)->req), free((*s)->counts), free((*s)->displs);
  free(*s);
  *s = NULL;
}

/* ---- the sum ---------------------------------------------------------------- */

static float *buffer_of(float *const *bufs, float *work, size_t n, int b) {
  return b >= 0 ? bufs[b] : work + (size_t)(-1 - b) * n;
}

/* d[0 .. len) += s[0 .. len): one rounding per element, so the grouping
 * alone decides the bits (vectorised or not). */
static void add_into(float *restrict d, const float *restrict s, int64_t len) {
  for (int64_t i = 0; i < len; ++i) d[i] += s[i];
}

enum { TREE_SUM_BLOCK = 2048 }; /* floats: a block of every shard fits in L2 */

core_status core_tree_sum_execute(const core_tree_sum *s, float *const *bufs, float *work, float *sum) {
  /* The levels before this rank's first message (its block's subtrees)
   * run a block of the vector at a time, all levels per block: the partial
   * sums stay in cache, and every element gets the same additions in the
   * same grouping. */
  const tree_op *op = s->op;
  int l = 0, local_adds = 0;
  for (; l < s->levels && s->level[l][OP_RECV] + s->level[l][OP_SEND] == 0; ++l) local_adds += s->level[l][OP_ADD];
  for (int64_t b = 0; local_adds > 0 && b < (int64_t)s->n; b += TREE_SUM_BLOCK)
    for (int j = 0; j < local_adds; ++j) {
      const int64_t lo = max64(op[j].lo, b), hi = min64(op[j].lo + op[j].len, b + TREE_SUM_BLOCK);
      if (hi > lo)
        add_into(buffer_of(bufs, work, s->n, op[j].buf) + lo, buffer_of(bufs, work, s->n, op[j].src) + lo, hi - lo);
    }
  op += local_adds;
  /* An MPI failure is remembered, not returned at once: a rank that left
   * the schedule early would leave its partners waiting. */
  core_status st = CORE_OK;
  for (; l < s->levels; ++l) {
    const int recvs = s->level[l][OP_RECV], sends = s->level[l][OP_SEND], adds = s->level[l][OP_ADD];
    for (int j = 0; j < recvs + sends; ++j) {
      const tree_op *o = op + j;
      float *p = buffer_of(bufs, work, s->n, o->buf) + o->lo;
      s->req[j] = MPI_REQUEST_NULL;
      int rc = o->kind == OP_RECV ? MPI_Irecv(p, (int)o->len, MPI_FLOAT, o->peer, TREE_SUM_TAG, s->comm, &s->req[j])
                                  : MPI_Isend(p, (int)o->len, MPI_FLOAT, o->peer, TREE_SUM_TAG, s->comm, &s->req[j]);
      if (rc != MPI_SUCCESS && !st)
        st = CORE_ERROR(CORE_ERR_MPI, "core_tree_sum_execute: level %d: a message to or from rank %d failed", l + 1,
                        o->peer);
    }
    if (MPI_Waitall(recvs + sends, s->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS && !st)
      st = CORE_ERROR(CORE_ERR_MPI, "core_tree_sum_execute: level %d: MPI_Waitall failed", l + 1);
    op += recvs + sends;
    for (int j = 0; j < adds; ++j, ++op)
      add_into(buffer_of(bufs, work, s->n, op->buf) + op->lo, buffer_of(bufs, work, s->n, op->src) + op->lo, op->len);
  }
  CORE_CALL(core_agree(s->comm, st));
  /* The root's piece is in the buffer of the rank's first shard. */
  const float *mine = bufs[0] + s->displs[s->rank];
  CORE_CHECK(MPI_Allgatherv(mine, s->counts[s->rank], MPI_FLOAT, sum, s->counts, s->displs, MPI_FLOAT, s->comm) ==
                 MPI_SUCCESS,
             CORE_ERR_MPI, "core_tree_sum_execute: MPI_Allgatherv of the sum failed");
  return CORE_OK;
}
