#!/usr/bin/python3
"""Per-call cost of the Python binding against PyTorch's own loss, on the
batch of docs/performance.md ("Python calls"): B = 512 structures of N = 30 atoms in d = 3, float64, one
thread; loss + gradient per call (forward + backward for the torch sides).

  ELOSS_LIBRARY=build/lib/libeloss.so PYTHONPATH=python bench/py_overhead.py

Rows:
  energy, per call   what a training step pays when the reference changes
                     every batch: eloss.energy_loss / eloss.torch.energy_loss
                     (plan built, executed, freed per call) against PyTorch
                     computing Eq. 7 from pred and ref (cdist, exp, backward).
  energy, plan kept  reference work done once: eloss.AtomsLoss(ref) called on
                     pred, against PyTorch with the reference distances and
                     coefficients precomputed (as bench/atoms_torch.py).
  mse                a loss so cheap that the call itself is what is measured.
The overhead column is the wrapper's time minus the C library's own time
for the same work (the plan call, or the numpy call for the torch wrapper).
Each figure is the median of 7 blocks of >= 0.1 s; the best of 3 rounds.
"""
import os
import statistics
import sys
import time

# glibc's allocator serves multi-megabyte temporaries with fresh mmap()s
# until its threshold adapts, which made PyTorch 3-10x slower in a fresh
# process (bench/run); pin the thresholds and one thread, then start again.
if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="33554432", MALLOC_TRIM_THRESHOLD_="1073741824",
               OMP_NUM_THREADS="1")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import numpy as np
import torch

import eloss
import eloss.torch as elt

torch.set_num_threads(1)
B, N, D = 512, 30, 3


def timed(fn):
    fn()
    blocks = []
    for _ in range(7):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            t = time.perf_counter()
            if t - t0 >= 0.1:
                break
        blocks.append(1e3 * (t - t0) / n)
    return statistics.median(blocks)


rng = np.random.default_rng(1)
ref = 3.0 * rng.uniform(size=(B, N, D))
pred = ref + 0.1 * rng.normal(size=ref.shape)
ref_t = torch.tensor(ref)
pred_t = torch.tensor(pred, requires_grad=True)


def torch_energy(p, r, d=None, k=None):
    # Eq. 7 with k = exp(-d) over ordered pairs with its 1/2; cdist's
    # backward gives the zero subgradient on the diagonal.
    if d is None:
        d = torch.cdist(r, r)
        k = torch.exp(-d)
    return (0.5 * k * (d - torch.cdist(p, p)) ** 2).sum((1, 2)).mean()


d_fixed = torch.cdist(ref_t, ref_t)
k_fixed = torch.exp(-d_fixed)
plan = eloss.AtomsLoss(ref, coeff="exp_dist")


def backward(loss):
    pred_t.grad = None
    loss.backward()


cases = {
    "numpy energy_loss": lambda: eloss.energy_loss(pred, ref, coeff="exp_dist"),
    "torch wrapper energy": lambda: backward(elt.energy_loss(pred_t, ref_t, coeff="exp_dist")),
    "pytorch energy": lambda: backward(torch_energy(pred_t, ref_t)),
    "plan call": lambda: plan(pred),
    "pytorch energy, ref precomputed": lambda: backward(torch_energy(pred_t, ref_t, d_fixed, k_fixed)),
    "numpy mse_loss": lambda: eloss.mse_loss(pred, ref),
    "torch wrapper mse": lambda: backward(elt.mse_loss(pred_t, ref_t)),
    "pytorch mse": lambda: backward(((pred_t - ref_t) ** 2).mean()),
}
# The sides agree before they are timed.
for a, b in (("torch wrapper energy", "pytorch energy"), ("torch wrapper mse", "pytorch mse")):
    cases[a](), (g := pred_t.grad.clone()), cases[b]()
    assert torch.allclose(g, pred_t.grad, rtol=1e-9, atol=1e-14), (a, b)

best = {}
for _ in range(3):
    for name, fn in cases.items():
        best[name] = min(best.get(name, float("inf")), timed(fn))

print("eloss %s, PyTorch %s, numpy %s; B=%d N=%d d=%d float64, 1 thread, ms per call (loss + gradient)\n"
      % (eloss.__version__, torch.__version__, np.__version__, B, N, D))
print("| loss | eloss numpy | eloss torch wrapper | wrapper overhead | PyTorch autograd | PyTorch / wrapper |")
print("|---|---:|---:|---:|---:|---:|")
rows = (("energy exp_dist complete, per call", "numpy energy_loss", "torch wrapper energy", "pytorch energy"),
        ("energy exp_dist complete, plan kept", "plan call", None, "pytorch energy, ref precomputed"),
        ("mse", "numpy mse_loss", "torch wrapper mse", "pytorch mse"))
for label, np_case, wrap_case, torch_case in rows:
    c, t = best[np_case], best[torch_case]
    if wrap_case:
        w = best[wrap_case]
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.1fx |" % (label, c, w, w - c, t, t / w))
    else:
        print("| %s | %.3f | - | - | %.3f | %.1fx |" % (label, c, t, t / c))
