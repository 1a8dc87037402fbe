#!/usr/bin/env python3
"""Tables and plots of jobs/fig3diff (Fig. 3b for the diffusion model of
regular shapes).

    python3 jobs/plot_fig3diff.py OUT_DIR [SETTINGS]

Reads OUT_DIR/fig3diff.csv (loss, aug_angle, seed, quality, err, median,
above5, radius_q1, radius_median, radius_q3, in_range per run) and
fig3diff_a_<loss>.csv; writes fig3diff.md (per loss and rotation range,
mean +- standard error over seeds of: the mean quality of the generated
shapes, their median quality, the fraction above 5, the quartiles of their
radii and the fraction of radii in the data's [0.3, 5]; with one seed, the
values alone; SETTINGS is printed above the tables; then, from the shapes
generated at θ_aug = π, the mean quality of the shapes whose radius falls
between two quartiles of the data's radii: the quality depends on the
radius, since the sampler's last step adds the same noise to every shape), fig3diff_b.png
(quality against θ_aug) and fig3diff_a.png (six generated shapes per loss
at θ_aug = π, each about its centroid with the circle of its own radius).
Files are written to temporary names and renamed. Needs matplotlib.
"""
import csv
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_fig3 import cell, mean_se, save, yerr  # noqa: E402

NAMES = {"mse": "MSE (eps)", "energy": "energy (exp_dist)", "kabsch": "Kabsch-aligned MSE",
         "sparse": "energy (sparse)", "energy:constant": "energy (constant k)"}
COLUMNS = [("quality", "Mean quality of the generated shapes"),
           ("median", "Median quality"),
           ("above5", "Fraction of shapes with quality above 5"),
           ("radius_q1", "First quartile of the shapes' radii (the data's: 1.48)"),
           ("radius_median", "Median radius (the data's: 2.65)"),
           ("radius_q3", "Third quartile of the radii (the data's: 3.83)"),
           ("in_range", "Fraction of radii in the data's range [0.3, 5]")]


def name(loss):
    return NAMES.get(loss, loss)


def read_shapes(out, loss):
    """The generated shapes of fig3diff_a_<loss>.csv: {shape: rows}, or None."""
    path = os.path.join(out, f"fig3diff_a_{loss.replace(':', '_')}.csv")
    if not os.path.exists(path):
        return None
    shapes = {}
    for r in csv.DictReader(open(path)):
        shapes.setdefault(int(r["shape"]), []).append(r)
    return shapes


def by_radius(out, losses):
    """Table lines: mean quality (count) of the shapes generated at θ_aug =
    π per radius bin, the bins cut at the quartiles of the data's radii
    U[0.3, 5], and the shapes outside [0.3, 5]."""
    edges = [0.3 + 4.7 * k / 4 for k in range(5)]
    heads = [f"{a:.2f}–{b:.2f}" for a, b in zip(edges, edges[1:])] + ["outside"]
    lines = ["", "Quality by radius at θ_aug = π (first seed): mean quality (shapes) of the generated shapes whose "
             "radius lies between two quartiles of the data's radii:", "",
             "| loss | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(heads)]
    shown = 0
    for loss in losses:
        shapes = read_shapes(out, loss)
        if shapes is None:
            continue
        bins = [[] for _ in heads]
        for v in shapes.values():
            r, q = float(v[0]["radius"]), float(v[0]["quality"])
            k = next((i for i in range(4) if edges[i] <= r < edges[i + 1] or (i == 3 and r == edges[4])), 4)
            bins[k].append(q)
        lines.append(f"| {name(loss)} | " + " | ".join(f"{sum(b) / len(b):.2f} ({len(b)})" if b else "– (0)"
                                                      for b in bins) + " |")
        shown += 1
    return lines if shown else []


def main():
    out = sys.argv[1]
    settings = sys.argv[2] if len(sys.argv) > 2 else ""
    rows = list(csv.DictReader(open(os.path.join(out, "fig3diff.csv"))))
    losses = list(dict.fromkeys(r["loss"] for r in rows))
    angles = sorted({float(r["aug_angle"]) for r in rows})
    values = {}
    for r in rows:
        for col, _ in COLUMNS:
            values.setdefault((col, r["loss"], float(r["aug_angle"])), []).append(float(r[col]))
    seeds = max(len(v) for v in values.values())
    lines = [settings, ""] if settings else []
    lines += [f"Mean ± standard error over {seeds} seeds." if seeds > 1 else
              "One seed: the values alone (no standard error)."]
    for col, title in COLUMNS:
        lines += ["", title + ":", "",
                  "| loss | " + " | ".join(f"θ_aug = {a / math.pi:g}π" for a in angles) + " |",
                  "|---|" + "---:|" * len(angles)]
        for loss in losses:
            lines.append(f"| {name(loss)} | " +
                         " | ".join(cell(values[(col, loss, a)]) if (col, loss, a) in values else "–"
                                    for a in angles) + " |")
    lines += by_radius(out, losses)
    tmp = os.path.join(out, "fig3diff.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out, "fig3diff.md"))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for loss in losses:
        ms = [mean_se(values[("quality", loss, a)]) for a in angles]
        ax.errorbar([a / math.pi for a in angles], [m for m, _ in ms], yerr=yerr(ms), marker="o", ms=3,
                    capsize=2, label=name(loss))
    ax.axhline(5, color="0.6", lw=0.8, ls="--")
    ax.set_xlabel("θ_aug / π")
    ax.set_ylabel("quality of generated shapes")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, os.path.join(out, "fig3diff_b.png"))

    shown = [(loss, read_shapes(out, loss)) for loss in losses]
    shown = [(loss, shapes) for loss, shapes in shown if shapes is not None]
    if not shown:
        return
    fig, axes = plt.subplots(len(shown), 6, figsize=(9, 1.6 * len(shown) + 0.4), squeeze=False)
    for i, (loss, shapes) in enumerate(shown):
        for j in range(6):
            ax = axes[i][j]
            v = shapes[j]
            xs, ys = [float(r["x"]) for r in v], [float(r["y"]) for r in v]
            cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
            rad = float(v[0]["radius"])
            t = [2 * math.pi * k / 200 for k in range(201)]
            ax.plot([rad * math.cos(a) for a in t], [rad * math.sin(a) for a in t], color="0.85", lw=0.8)
            ax.plot([x - cx for x in xs] + [xs[0] - cx], [y - cy for y in ys] + [ys[0] - cy], "o-", ms=2, lw=0.8)
            ax.set_title(f"q = {float(v[0]['quality']):.1f}", fontsize=6)
            ax.set_aspect("equal")
            ax.set_xticks([]), ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name(loss), fontsize=7)
    fig.suptitle("Generated shapes at θ_aug = π (grey: the circle of each shape's mean radius)", fontsize=9)
    fig.tight_layout()
    save(fig, os.path.join(out, "fig3diff_a.png"))


if __name__ == "__main__":
    main()
