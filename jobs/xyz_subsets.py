#!/usr/bin/env python3
"""Training subsets of a multi-frame XYZ file for jobs/fig4 (Fig. 4's
dataset fractions).

    python3 jobs/xyz_subsets.py TRAIN.xyz OUT_DIR SEED MIN_ATOMS FRACTION...

The molecules of TRAIN.xyz with at least MIN_ATOMS atoms are eligible
(jobs/fig4: 7, where the sparse loss's graphs are 6-regular rather than
complete, and every loss trains on the same molecules). One seeded permutation of the eligible molecules
(Python's random.Random(SEED).shuffle, the same sequence in every CPython
3) is cut at round(F n) molecules for each fraction F, at least 1: the
subsets are nested, the smaller inside the larger. Writes, for each
fraction not already there, OUT_DIR/train_f<F>.xyz (the chosen frames, in
their order in TRAIN.xyz, bytes unchanged) and OUT_DIR/train_f<F>.idx (their
0-based frame indices in TRAIN.xyz, one a line), each whole (a temporary
file, then a rename). Prints one line per fraction:
fraction=F molecules=N eligible=E frames=T. Bad input: one line on stderr
naming the file and the frame, exit 1. Standard library only.
"""
import os
import random
import sys


def frames(path):
    """The frames of a multi-frame XYZ file: a list of (atom count, text)."""
    with open(path) as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out, i = [], 0
    while i < len(lines):
        try:
            n = int(lines[i].split()[0])
        except (ValueError, IndexError):
            sys.exit("xyz_subsets: %s: line %d: expected an atom count, found %r" % (path, i + 1, lines[i][:40]))
        if n < 1 or i + 2 + n > len(lines):
            sys.exit("xyz_subsets: %s: frame %d (line %d): %d atoms, but the file ends or the count is not positive"
                     % (path, len(out), i + 1, n))
        out.append((n, "\n".join(lines[i:i + 2 + n]) + "\n"))
        i += 2 + n
    if not out:
        sys.exit("xyz_subsets: %s: no molecules" % path)
    return out


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__.strip().split("\n\n")[1])
    path, out_dir, seed, min_atoms, fractions = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), \
        sys.argv[5:]
    all_frames = frames(path)
    eligible = [i for i, (n, _) in enumerate(all_frames) if n >= min_atoms]
    if not eligible:
        sys.exit("xyz_subsets: %s: no molecule has %d atoms or more" % (path, min_atoms))
    order = list(eligible)
    random.Random(seed).shuffle(order)
    for text in fractions:
        f = float(text)
        chosen = sorted(order[:max(1, int(round(f * len(order))))])
        xyz = os.path.join(out_dir, "train_f%s.xyz" % text)
        idx = os.path.join(out_dir, "train_f%s.idx" % text)
        if not (os.path.exists(xyz) and os.path.exists(idx)):
            write_atomic(idx, "".join("%d\n" % i for i in chosen))
            write_atomic(xyz, "".join(all_frames[i][1] for i in chosen))
        print("fraction=%s molecules=%d eligible=%d frames=%d" % (text, len(chosen), len(eligible), len(all_frames)))


if __name__ == "__main__":
    main()
