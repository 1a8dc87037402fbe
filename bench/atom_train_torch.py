#!/usr/bin/python3
"""PyTorch CPU baseline of the atomistic training tasks (docs/performance.md): the
same MLP, batch, loss maths, optimizer and precision (float32) as
`eloss shapes` and `eloss train -task denoise`, timed over a fixed number
of Adam steps.

  python3 bench/atom_train_torch.py shapes  N        loss B steps threads
  python3 bench/atom_train_torch.py denoise data.h5  loss W B steps threads

loss: mse | energy | kabsch | sparse.

shapes (lib/train/shapes_task.c): MLP {1, 64, 64, 2N} with SiLU, lr 1e-3;
each step draws B radii r ~ U[0.3, 5] and angles ~ U[-pi, pi] and builds
the rotated polygons (vertex k: r (cos(2 pi k / N + phi), sin(...))), as
eloss does inside its step.

denoise (lib/train/denoise_task.c): MLP {3N + 1, W, W, 3N} with SiLU on an
`eloss clustergen` file (positions (T, K, N, 3), every structure centred),
lr 3e-4, -rotate: each step draws B structures (a fixed random order), a
noise level from {0.05, 0.1, 0.2}, a uniform rotation (unit quaternion of
four normals) and eps ~ N(0, I); input (R x + sigma eps, sigma), output
eps_hat, prediction x_hat = x_t - sigma eps_hat, loss(x_hat, R x).

Losses, as lib/atoms computes them:
  mse     mean over the batch's coordinates of (x_hat - x)^2
  energy  Eq. 7 on the complete graph, k_ij = exp(-d_ij) from the reference
          distances: mean over structures of sum_{i<j} k_ij (d_ij - d^_ij)^2
          (torch.cdist, the fastest form on this CPU build: bench/atoms_torch.py)
  kabsch  MSE between x_hat and the reference rotated onto it (proper
          rotation from the SVD, held fixed in the gradient, as eloss)
  sparse  the energy loss on 2d-regular graphs (4 in 2D, 6 in 3D), one per
          structure redrawn every step from a pool of 100 random regular
          graphs per atom count (built before timing; eloss keeps a pool of
          100 too)
Reference distances and coefficients change every step (new shapes,
rotations), so they are computed inside the step, as in eloss.

Timing: 3 warm-up steps, then `steps` steps, wall clock in the process
(data loading and evaluation excluded, as eloss's samples_per_s).
Prints samples_per_s=.. task=.. loss=.. B=.. threads=..
"""
import math
import sys
import time

import numpy as np
import torch
from torch import nn


def mlp(sizes):
    layers = []
    for k in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[k], sizes[k + 1]))
        if k + 2 < len(sizes):
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def random_regular(n, degree, rng):
    """A simple degree-regular graph on n vertices: stubs paired at random,
    a pair that would make a loop or a double edge redrawn, a restart when
    stuck (the pairing of Steger and Wormald)."""
    while True:
        stubs = list(np.repeat(np.arange(n), degree))
        edges = set()
        while stubs:
            for _ in range(100):
                a, b = rng.choice(len(stubs), 2, replace=False)
                u, v = sorted((stubs[a], stubs[b]))
                if u != v and (u, v) not in edges:
                    break
            else:
                break
            edges.add((u, v))
            for k in sorted((a, b), reverse=True):
                stubs.pop(k)
        if not stubs:
            return np.array(sorted(edges), np.int64)


def regular_pool(n, degree, count=100, seed=3):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([random_regular(n, degree, rng) for _ in range(count)]))  # (count, E, 2)


def make_loss(name, n, d):
    """loss(pred, ref) for pred, ref (B, n, d)."""
    def mse(pred, ref):
        return ((pred - ref) ** 2).mean()

    def energy(pred, ref):
        with torch.no_grad():
            dref = torch.cdist(ref, ref)
            k = torch.exp(-dref)
        dh = torch.cdist(pred, pred)
        # Each unordered pair once: 1/2 of the sum over ordered pairs.
        return (0.5 * k * (dref - dh) ** 2).sum((1, 2)).mean()

    def kabsch(pred, ref):
        p_mean = pred.mean(1, keepdim=True)
        with torch.no_grad():
            q = ref - ref.mean(1, keepdim=True)
            h = q.transpose(1, 2) @ (pred - p_mean)
            u, s, vt = torch.linalg.svd(h)
            v = vt.transpose(1, 2)
            fix = torch.ones_like(s)
            fix[:, -1] = torch.sign(torch.linalg.det(v @ u.transpose(1, 2)))
            r = v @ torch.diag_embed(fix) @ u.transpose(1, 2)
            aligned = q @ r.transpose(1, 2) + p_mean
        return ((pred - aligned) ** 2).mean()

    if name == "sparse":
        pool = regular_pool(n, 2 * d)
        gen = torch.Generator().manual_seed(7)

    def sparse(pred, ref):
        B = pred.shape[0]
        e = pool[torch.randint(0, pool.shape[0], (B,), generator=gen)]  # (B, E, 2)
        b = torch.arange(B)[:, None]
        i, j = e[..., 0], e[..., 1]
        with torch.no_grad():
            dref = (ref[b, i] - ref[b, j]).norm(dim=-1)
            k = torch.exp(-dref)
        dh = (pred[b, i] - pred[b, j]).norm(dim=-1)
        return (k * (dref - dh) ** 2).sum(-1).mean()

    return {"mse": mse, "energy": energy, "kabsch": kabsch, "sparse": sparse}[name]


def shapes(args):
    N, loss_name, B, steps, threads = int(args[0]), args[1], *map(int, args[2:5])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model = mlp([1, 64, 64, 2 * N]).float()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = make_loss(loss_name, N, 2)
    base = 2 * math.pi * torch.arange(N, dtype=torch.float64) / N

    def step():
        r = 0.3 + 4.7 * torch.rand(B, 1, dtype=torch.float64)
        phi = math.pi * (2 * torch.rand(B, 1, dtype=torch.float64) - 1)
        a = base + phi
        ref = torch.stack((r * torch.cos(a), r * torch.sin(a)), -1).float()  # (B, N, 2)
        opt.zero_grad(set_to_none=True)
        pred = model(r.float()).view(B, N, 2)
        loss = loss_fn(pred, ref)
        loss.backward()
        opt.step()
    return step, B, steps, threads, f"task=shapes N={N} loss={loss_name}"


def denoise(args):
    import h5py
    path, loss_name, W, B, steps, threads = args[0], args[1], *map(int, args[2:6])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    with h5py.File(path, "r") as f:
        pos = f["positions"][...]
    N = pos.shape[2]
    x_all = pos.reshape(-1, N, 3)
    x_all = torch.from_numpy(x_all - x_all.mean(1, keepdims=True))  # float64, centred
    count = x_all.shape[0]
    model = mlp([3 * N + 1, W, W, 3 * N]).float()
    opt = torch.optim.Adam(model.parameters(), lr=3e-4)
    loss_fn = make_loss(loss_name, N, 3)
    levels = torch.tensor([0.05, 0.1, 0.2], dtype=torch.float64)
    order = torch.from_numpy(np.random.default_rng(1).permutation(np.arange((steps + 3) * B) % count))
    at = [0]

    def step():
        idx = order[at[0]:at[0] + B]
        at[0] += B
        x = x_all[idx]
        sigma = levels[torch.randint(0, 3, (B,))][:, None, None]
        q = torch.randn(B, 4, dtype=torch.float64)
        w, a, b, e = (q / q.norm(dim=1, keepdim=True)).unbind(1)
        R = torch.stack((1 - 2 * (b * b + e * e), 2 * (a * b - w * e), 2 * (a * e + w * b),
                         2 * (a * b + w * e), 1 - 2 * (a * a + e * e), 2 * (b * e - w * a),
                         2 * (a * e - w * b), 2 * (b * e + w * a), 1 - 2 * (a * a + b * b)), 1).view(B, 3, 3)
        clean = x @ R.transpose(1, 2)
        xt = (clean + sigma * torch.randn(B, N, 3, dtype=torch.float64)).float()
        inp = torch.cat((xt.view(B, 3 * N), sigma.view(B, 1).float()), 1)
        s = sigma.float()
        opt.zero_grad(set_to_none=True)
        eps_hat = model(inp).view(B, N, 3)
        x_hat = xt - s * eps_hat
        loss = loss_fn(x_hat, clean.float())
        loss.backward()
        opt.step()
    return step, B, steps, threads, f"task=denoise N={N} W={W} loss={loss_name}"


def main():
    step, B, steps, threads, what = {"shapes": shapes, "denoise": denoise}[sys.argv[1]](sys.argv[2:])
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sec = time.perf_counter() - t0
    print(f"samples_per_s={steps * B / sec:.1f} steps={steps} B={B} threads={threads} {what}")


if __name__ == "__main__":
    sys.exit(main())
