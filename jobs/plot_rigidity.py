#!/usr/bin/env python3
"""Draw the paper's Fig. 5 (App. A.5) from the CSV of `eloss rigidity -csv`.

    python3 jobs/plot_rigidity.py survey.csv fig5.png

One panel per dimension d; x = degree k of the random regular graphs,
y = fraction of the samples that are globally rigid (solid) and
infinitesimally rigid (dashed), one colour per vertex count n. The dotted
vertical line marks k = 2d, the degree the sparse energy loss uses; the
curves of different n are shifted slightly along k so equal ones stay visible. Cells
decided by the edge count (by_count = 1) are exact zeros and drawn as such.
Needs only the standard library and matplotlib (Debian: python3-matplotlib);
the PNG is written to a temporary name and renamed, so it appears whole.
"""
import csv
import os
import sys


def read_cells(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"n", "k", "d", "frac_rigid", "frac_globally_rigid"}
    if not rows or not need.issubset(rows[0].keys()):
        sys.exit(f"plot_rigidity: {path}: expected the CSV written by 'eloss rigidity -csv' "
                 f"with columns {sorted(need)}")
    return [{"n": int(r["n"]), "k": int(r["k"]), "d": int(r["d"]),
             "rigid": float(r["frac_rigid"]), "global": float(r["frac_globally_rigid"]),
             "samples": int(r["samples"])} for r in rows]


def main(argv):
    if len(argv) != 3:
        sys.exit("usage: plot_rigidity.py survey.csv out.png")
    csv_path, png_path = argv[1], argv[2]
    cells = read_cells(csv_path)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({c["d"] for c in cells})
    sizes = sorted({c["n"] for c in cells})
    samples = max(c["samples"] for c in cells)
    fig, axes = plt.subplots(1, len(dims), figsize=(4.2 * len(dims), 3.4), squeeze=False,
                             sharey=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, d in zip(axes[0], dims):
        for i, n in enumerate(sizes):
            pts = sorted((c["k"], c["global"], c["rigid"]) for c in cells
                         if c["d"] == d and c["n"] == n)
            if not pts:
                continue
            # Equal curves would hide each other: shift each n a little in k.
            shift = 0.06 * (i - (len(sizes) - 1) / 2)
            ks = [p[0] + shift for p in pts]
            colour = colours[i % len(colours)]
            ax.plot(ks, [p[1] for p in pts], "o-", color=colour, label=f"n = {n}")
            ax.plot(ks, [p[2] for p in pts], "--", color=colour, alpha=0.5)
        ax.axvline(2 * d, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"d = {d}")
        ax.set_xlabel("degree k")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("fraction globally rigid (solid)\nrigid (dashed)")
    axes[0][0].legend(loc="upper left", fontsize="small")
    fig.suptitle(f"Random k-regular graphs, {samples} samples per point", fontsize="medium")
    fig.tight_layout()

    tmp = f"{png_path}.tmp.{os.getpid()}.png"
    try:
        fig.savefig(tmp, dpi=150)
        os.replace(tmp, png_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


if __name__ == "__main__":
    main(sys.argv)
