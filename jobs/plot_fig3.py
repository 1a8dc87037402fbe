#!/usr/bin/env python3
"""Tables and plots of jobs/fig3 (the paper's Fig. 3).

    python3 jobs/plot_fig3.py OUT_DIR

Reads OUT_DIR/fig3b.csv, fig3c.csv and fig3a_<loss>.csv; writes fig3.md
(quality, mean +- standard error over seeds, per loss and rotation range,
and per N for the complete and sparse energy; with one seed, the value
alone) and fig3a.png (six predicted test shapes per loss at aug_angle =
pi, each about its centroid, with the true polygon), fig3b.png, fig3c.png
(error bars where there are two seeds or more). Files are written to
temporary names and renamed. Needs matplotlib (python3-matplotlib).
"""
import csv
import math
import os
import sys

LOSSES = ["mse", "energy", "kabsch", "sparse"]
NAMES = {"mse": "MSE", "energy": "energy (complete)", "kabsch": "Kabsch-aligned MSE", "sparse": "energy (sparse)"}


def mean_se(v):
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v))


def cell(v):
    """A table cell: the mean +- its standard error; one seed has no
    standard error, so the mean alone (not "± nan")."""
    m, se = mean_se(v)
    return f"{m:.2f}" + (f" ± {se:.2f}" if len(v) > 1 else "")


def yerr(ms):
    """Error bars of errorbar(): None when no point has a standard error
    (one seed), which matplotlib would refuse as all-NaN."""
    errs = [e for _, e in ms]
    if all(math.isnan(e) for e in errs):
        return None
    return [0.0 if math.isnan(e) else e for e in errs]


def group(rows, key):
    out = {}
    for r in rows:
        out.setdefault((r["loss"], float(r[key])), []).append(float(r["quality"]))
    return out


def save(fig, path):
    tmp = path + ".tmp.png"
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    b = group(list(csv.DictReader(open(os.path.join(out, "fig3b.csv")))), "aug_angle")
    c = group(list(csv.DictReader(open(os.path.join(out, "fig3c.csv")))), "vertices")
    angles = sorted({a for _, a in b})
    ns = sorted({n for _, n in c})
    seeds = max(len(v) for v in list(b.values()) + list(c.values()))
    lines = [f"Mean ± standard error over {seeds} seeds." if seeds > 1 else
             "One seed: the values alone (no standard error).", "",
             "Quality against the rotation range of the training targets (N = 9):", "",
             "| loss | " + " | ".join(f"θ_aug = {a / math.pi:g}π" for a in angles) + " |",
             "|---|" + "---:|" * len(angles)]
    for loss in LOSSES:
        lines.append(f"| {NAMES[loss]} | " + " | ".join(cell(b[(loss, a)]) for a in angles) + " |")
    lines += ["", "Quality against the number of vertices (θ_aug = π):", "",
              "| loss | " + " | ".join(f"N = {n:g}" for n in ns) + " |", "|---|" + "---:|" * len(ns)]
    for loss in ("energy", "sparse"):
        lines.append(f"| {NAMES[loss]} | " + " | ".join(cell(c[(loss, n)]) for n in ns) + " |")
    tmp = os.path.join(out, "fig3.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out, "fig3.md"))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(LOSSES), 6, figsize=(9, 6.4))
    for i, loss in enumerate(LOSSES):
        shapes = {}
        path = os.path.join(out, f"fig3a_{loss}.csv")
        for r in csv.DictReader(open(path)):
            shapes.setdefault(int(r["shape"]), []).append(r)
        for j in range(6):
            ax = axes[i][j]
            v = shapes[j]
            xs, ys = [float(r["x"]) for r in v], [float(r["y"]) for r in v]
            cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
            rad = float(v[0]["radius"])
            t = [2 * math.pi * k / 200 for k in range(201)]
            ax.plot([rad * math.cos(a) for a in t], [rad * math.sin(a) for a in t], color="0.85", lw=0.8)
            ax.plot([x - cx for x in xs] + [xs[0] - cx], [y - cy for y in ys] + [ys[0] - cy], "o-", ms=2, lw=0.8)
            ax.set_aspect("equal")
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(NAMES[loss], fontsize=7)
    fig.suptitle("Predicted test shapes at θ_aug = π (grey: the true radius)", fontsize=9)
    fig.tight_layout()
    save(fig, os.path.join(out, "fig3a.png"))

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for loss in LOSSES:
        ms = [mean_se(b[(loss, a)]) for a in angles]
        ax.errorbar([a / math.pi for a in angles], [m for m, _ in ms], yerr=yerr(ms), marker="o", ms=3,
                    capsize=2, label=NAMES[loss])
    ax.set_xlabel("θ_aug / π")
    ax.set_ylabel("quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, os.path.join(out, "fig3b.png"))

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for loss in ("energy", "sparse"):
        ms = [mean_se(c[(loss, n)]) for n in ns]
        ax.errorbar(ns, [m for m, _ in ms], yerr=yerr(ms), marker="o", ms=3, capsize=2, label=NAMES[loss])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("vertices N")
    ax.set_ylabel("quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, os.path.join(out, "fig3c.png"))


if __name__ == "__main__":
    main()
