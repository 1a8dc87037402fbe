#!/usr/bin/python3
"""Write the real-molecule set of `eloss train -task denoise` from the G2
collection of Debian's python3-ase (run once; its output is committed):

  g2.xyz          every G2 molecule with at least 2 atoms, by name, in the
                  geometry and orientation the collection gives
  g2_rotated.xyz  the same molecules, each in ROTATIONS uniformly random
                  orientations about its centroid (seeded: the file is the
                  same on every run)

The denoiser learns this fixed set of molecules; g2_rotated.xyz asks it to
recognise and clean them in orientations it was not shown, which is what
training with and without -rotate is about.

  /usr/bin/python3 inputs/molecules/make_g2.py [out dir]
"""
import os
import sys

import numpy as np
from ase.collections import g2

ROTATIONS = 2
SEED = 2025


def random_rotation(rng):
    # A unit quaternion of four normals is uniform on S^3, hence R on SO(3).
    w, a, b, c = rng.standard_normal(4)
    n = np.sqrt(w * w + a * a + b * b + c * c)
    w, a, b, c = w / n, a / n, b / n, c / n
    return np.array([[1 - 2 * (b * b + c * c), 2 * (a * b - w * c), 2 * (a * c + w * b)],
                     [2 * (a * b + w * c), 1 - 2 * (a * a + c * c), 2 * (b * c - w * a)],
                     [2 * (a * c - w * b), 2 * (b * c + w * a), 1 - 2 * (a * a + b * b)]])


def frame(name, symbols, xyz):
    lines = [str(len(symbols)), f"{name} (G2 collection, ase {__import__('ase').__version__}; Angstrom)"]
    lines += [f"{s:<2} {x:12.6f} {y:12.6f} {z:12.6f}" for s, (x, y, z) in zip(symbols, xyz)]
    return "\n".join(lines) + "\n"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    rng = np.random.default_rng(SEED)
    plain, rotated = [], []
    for name in sorted(g2.names):
        atoms = g2[name]
        if len(atoms) < 2:
            continue
        symbols = atoms.get_chemical_symbols()
        pos = atoms.get_positions()
        plain.append(frame(name, symbols, pos))
        centred = pos - pos.mean(axis=0)
        for _ in range(ROTATIONS):
            rotated.append(frame(name, symbols, centred @ random_rotation(rng).T))
    for fname, frames in (("g2.xyz", plain), ("g2_rotated.xyz", rotated)):
        tmp = os.path.join(out, fname + ".tmp")
        with open(tmp, "w") as f:
            f.write("".join(frames))
        os.replace(tmp, os.path.join(out, fname))
        print(f"{fname}: {len(frames)} frames")


if __name__ == "__main__":
    main()
