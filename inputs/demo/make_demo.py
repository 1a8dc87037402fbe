#!/usr/bin/python3
"""Regenerate the quickstart molecules (ref.xyz, pred_noisy.xyz, pred_moved.xyz).

ref.xyz holds four small molecules with textbook geometries (Angstrom);
pred_noisy.xyz perturbs every atom by Gaussian noise of 0.05 A;
pred_moved.xyz is pred_noisy after a random rotation and translation of each
molecule: an invariant loss must give the same value on both files.
"""
import math
import numpy as np

rng = np.random.default_rng(2385)

def ring(n, r, z=0.0, phase=0.0):
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n), z) for k in range(n)]

molecules = [
    ("water", ["O", "H", "H"], [(0, 0, 0.117), (0, 0.757, -0.469), (0, -0.757, -0.469)]),
    ("ammonia", ["N", "H", "H", "H"], [(0, 0, 0.1)] + ring(3, 0.94, -0.27)),
    ("methane", ["C", "H", "H", "H", "H"],
     [(0, 0, 0), (0.629, 0.629, 0.629), (-0.629, -0.629, 0.629), (-0.629, 0.629, -0.629), (0.629, -0.629, -0.629)]),
    ("benzene", ["C"] * 6 + ["H"] * 6, ring(6, 1.39) + ring(6, 2.48)),
]

def write(path, frames):
    with open(path, "w") as f:
        for name, els, xyz in frames:
            f.write(f"{len(els)}\n{name}\n")
            for e, (x, y, z) in zip(els, xyz):
                f.write(f"{e} {x:.10f} {y:.10f} {z:.10f}\n")

def rotation():
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q @ np.diag(np.sign(np.diag(r)))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q

write("ref.xyz", molecules)
noisy = [(n, e, np.asarray(x) + 0.05 * rng.normal(size=(len(e), 3))) for n, e, x in molecules]
write("pred_noisy.xyz", noisy)
moved = [(n, e, x @ rotation().T + rng.normal(size=3) * 3) for n, e, x in noisy]
write("pred_moved.xyz", moved)
