#!/usr/bin/python3
"""TAP test: eloss's minimum-weight perfect matching against an independent
solver on graphs too large for brute force.

  test_matching_nx.py <libeloss.so>

matching_min_perfect (called through ctypes) and networkx's
max_weight_matching (Galil's O(n^3) blossom algorithm, another code
entirely), on hundreds of random graphs of 20 to 500 vertices in five
families: sparse random graphs with weights 0..3 (ties everywhere),
weights up to 10^6, weights of both signs, nearest-neighbour graphs of
random points weighted by distance (deeply nested blossoms), and square
grids. Every graph holds an even cycle through all its vertices, so a
perfect matching exists. For each: eloss's mate array is a perfect
matching of the graph, its weight is the total eloss reports, and that
total equals the least one networkx finds (its maximum-cardinality
matching of largest weight under w' = W - w)."""
import ctypes
import random
import sys

try:
    import networkx as nx
    import numpy as np
except ImportError as exc:
    print(f"Bail out! {exc.name} is missing (jobs/local test installs python3-networkx and python3-numpy)")
    sys.exit(1)

lib = ctypes.CDLL(sys.argv[1])
lib.matching_min_perfect.restype = ctypes.c_int
lib.matching_min_perfect.argtypes = [ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p,
                                     ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64)]

checks = 0


def ok(good, text):
    global checks
    checks += 1
    print(f"{'ok' if good else 'not ok'} {checks} - {text}")
    return good


def eloss_match(n, edges):
    """(status, mate, total) of eloss's solver on {(a, b): w}."""
    ends = np.array([v for ab in edges for v in ab], dtype=np.int32)
    weight = np.array(list(edges.values()), dtype=np.int64)
    mate = np.full(n, -1, dtype=np.int32)
    total = ctypes.c_int64(0)
    st = lib.matching_min_perfect(n, len(edges), ends.ctypes.data, weight.ctypes.data, mate.ctypes.data,
                                  ctypes.byref(total))
    return st, mate, total.value, ends.reshape(-1, 2), weight


def reference_total(n, edges):
    big = max(abs(w) for w in edges.values()) + 1
    g = nx.Graph()
    g.add_weighted_edges_from((a, b, big - w) for (a, b), w in edges.items())
    m = nx.max_weight_matching(g, maxcardinality=True)
    assert 2 * len(m) == n
    return sum(edges[(a, b)] if (a, b) in edges else edges[(b, a)] for a, b in m)


def with_cycle(n, rng, weight):
    """An even cycle through every vertex, in random order."""
    order = list(range(n))
    rng.shuffle(order)
    edges = {}
    for i in range(n):
        a, b = order[i], order[(i + 1) % n]
        edges[(min(a, b), max(a, b))] = weight()
    return edges


def random_graph(n, extra, rng, weight):
    edges = with_cycle(n, rng, weight)
    while len(edges) < n + extra:
        a, b = rng.sample(range(n), 2)
        edges.setdefault((min(a, b), max(a, b)), weight())
    return edges


def nearest_neighbours(n, k, rng):
    pts = np.array([(rng.random(), rng.random()) for _ in range(n)])
    d = np.rint(1e4 * np.sqrt(((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1))).astype(np.int64)
    edges = with_cycle(n, rng, lambda: 0)
    for a, b in list(edges):
        edges[(a, b)] = int(d[a, b])
    for a in range(n):
        for b in np.argsort(d[a], kind="stable")[1:k + 1]:
            edges[(min(a, int(b)), max(a, int(b)))] = int(d[a, b])
    return edges


def grid(rows, cols, rng):
    idx = lambda r, c: r * cols + c
    edges = {}
    for r in range(rows):
        for c in range(cols):
            if c + 1 < cols:
                edges[(idx(r, c), idx(r, c + 1))] = rng.randint(0, 9)
            if r + 1 < rows:
                edges[(idx(r, c), idx(r + 1, c))] = rng.randint(0, 9)
    return edges  # rows * cols even: a Hamiltonian cycle exists (snake), so a perfect matching does


def run_family(name, graphs):
    bad = []
    sizes = []
    for n, edges in graphs:
        st, mate, total, ends, weight = eloss_match(n, edges)
        sizes.append(n)
        if st != 0:
            bad.append(f"n={n}: status {st}")
            continue
        idx = np.arange(n)
        e = mate
        other = np.where(ends[e, 0] == idx, ends[e, 1], ends[e, 0])
        perfect = (e >= 0).all() and ((ends[e, 0] == idx) | (ends[e, 1] == idx)).all() and (mate[other] == e).all()
        own = int(weight[np.unique(e)].sum()) if perfect else None
        ref = reference_total(n, edges)
        if not perfect or own != total or total != ref:
            bad.append(f"n={n}: perfect {perfect}, mate weight {own}, total {total}, networkx {ref}")
    ok(not bad, f"{name}: {len(graphs)} graphs of {min(sizes)}..{max(sizes)} vertices equal networkx"
       + (f"; {bad[:3]}" if bad else ""))


rng = random.Random(20261206)
print("TAP version 13")
run_family("sparse, weights 0..3",
           [(n, random_graph(n, rng.choice([n // 2, n, 3 * n]), rng, lambda: rng.randint(0, 3)))
            for n in [rng.randrange(20, 400, 2) for _ in range(60)]])
run_family("sparse, weights 0..10^6",
           [(n, random_graph(n, rng.choice([n // 2, 2 * n]), rng, lambda: rng.randint(0, 10**6)))
            for n in [rng.randrange(20, 400, 2) for _ in range(40)]])
run_family("weights -100..100",
           [(n, random_graph(n, 2 * n, rng, lambda: rng.randint(-100, 100)))
            for n in [rng.randrange(20, 300, 2) for _ in range(40)]])
run_family("nearest neighbours of random points, distances",
           [(n, nearest_neighbours(n, rng.choice([3, 5]), rng)) for n in [rng.randrange(50, 500, 2) for _ in range(20)]])
run_family("square grids, weights 0..9",
           [(r * c, grid(r, c, rng)) for r, c in [(rng.randrange(4, 24, 2), rng.randrange(3, 24)) for _ in range(40)]])
print(f"1..{checks}")
