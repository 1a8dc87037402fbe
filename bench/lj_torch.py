#!/usr/bin/python3
"""PyTorch CPU baseline for bench/lj_bench.c: Lennard-Jones energy and
gradient of n particles, the same maths (s = 1/r^2, s3 = s^3,
E = 4 sum_{i<j} s3 (s3 - 1), dE/dx_i = -sum_j f (x_i - x_j) with
f = s s3 (48 s3 - 24)), as whole-tensor operations on one thread, float64.

Prints one line per size: case=lj_N<n> torch_ns=<ns per particle per evaluation>
(median of 7 blocks of >= 0.1 s, best of 3 rounds). The configuration is
a random cluster with points >= 0.8 apart, as on the C side (not the same
points: the cost does not depend on them).
"""
import statistics
import time

import numpy as np
import torch

torch.set_num_threads(1)


def cluster(n, seed=1):
    rng = np.random.default_rng(seed)
    ball = 0.75 * n ** (1 / 3) + 0.5
    pts = []
    while len(pts) < n:
        p = rng.uniform(-ball, ball, 3)
        if p @ p <= ball * ball and all(((p - q) ** 2).sum() >= 0.64 for q in pts):
            pts.append(p)
    return torch.tensor(1.1 * np.array(pts), dtype=torch.float64)


def energy_gradient(x, eye):
    diff = x[:, None, :] - x[None, :, :]                # (n, n, 3)
    r2 = (diff * diff).sum(-1) + eye                    # (n, n), 1 on the diagonal
    s = (1.0 / r2).masked_fill_(eye.bool(), 0.0)        # no self-interaction
    s3 = s * s * s
    e = 2.0 * (s3 * (s3 - 1.0)).sum()                   # each pair twice: 4 / 2
    f = s * s3 * (48.0 * s3 - 24.0)
    g = -(f[:, :, None] * diff).sum(1)                  # (n, 3)
    return e, g


def timed(fn, n):
    fn()
    blocks = []
    for _ in range(7):
        reps, t0 = 0, time.perf_counter()
        while True:
            fn()
            reps += 1
            t = time.perf_counter()
            if t - t0 >= 0.1:
                break
        blocks.append(1e9 * (t - t0) / reps / n)
    return statistics.median(blocks)


def main():
    for n in (13, 38, 150, 1000):
        x = cluster(n)
        eye = torch.eye(n, dtype=torch.float64)
        # Check the maths against a plain loop on a small case before timing.
        if n == 13:
            e, g = energy_gradient(x, eye)
            xs = x.numpy()
            ref = sum(4 * (d ** -12 - d ** -6) for i in range(n) for j in range(i + 1, n)
                      for d in [np.sqrt(((xs[i] - xs[j]) ** 2).sum())])
            assert abs(float(e) - ref) < 1e-10 * abs(ref), (float(e), ref)
        with torch.no_grad():
            ns = min(timed(lambda: energy_gradient(x, eye), n) for _ in range(3))
        print(f"case=lj_N{n} torch_ns={ns:.3f}", flush=True)


main()
