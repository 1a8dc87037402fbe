#!/usr/bin/env python3
"""The Markdown table and the PNG of jobs/table5.

    python3 jobs/plot_table5.py OUT_DIR table5.csv LOSS...

table5.md: per loss, mean +- standard error over the seeds of the test
energy gap, exact fraction and site accuracy (each seed's value is the
mean over the test set), the number of seeds, and the paper's Table 5
value (16 x 16, width 256) where it has one. table5.png: test energy gap
against training step, the mean over seeds of the metrics files
OUT_DIR/<loss>.seed<s>.ckpt.jsonl, one curve per loss. Both are written
to temporary names and renamed. Needs matplotlib (python3-matplotlib).
"""
import csv
import json
import math
import os
import sys

PAPER = {"ce": "58.8 ± 0.8", "margin": "49.87 ± 1.5", "local": "45.6 ± 1.6", "true": "14.6 ± 0.3"}
NAMES = {"ce": "cross-entropy", "ce_flip": "cross-entropy, flip-invariant", "margin": "margin",
         "margin_flip": "margin, flip-invariant", "local": "local energy (Eq. 16)",
         "true": "true energy (mean field)", "bond": "bond energy, flip-invariant"}


def mean_se(values):
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def main():
    out_dir, path, losses = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = list(csv.DictReader(open(path)))
    lines = ["| loss | test energy gap | exact fraction | site accuracy | seeds | paper (16 × 16, W = 256) |",
             "|---|---:|---:|---:|---:|---:|"]
    for loss in losses:
        runs = [r for r in rows if r["loss"] == loss]
        if not runs:
            continue
        cells = []
        for key, digits in (("energy_gap", 1), ("exact_fraction", 3), ("site_accuracy", 3)):
            m, se = mean_se([float(r[key]) for r in runs])
            # One seed has no standard error: the mean alone, not "± nan".
            cells.append(f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if len(runs) > 1 else ""))
        lines.append(f"| {NAMES.get(loss, loss)} | " + " | ".join(cells) +
                     f" | {len(runs)} | {PAPER.get(loss, '–')} |")
    tmp = os.path.join(out_dir, "table5.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out_dir, "table5.md"))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for loss in losses:
        curves = {}
        for seed in sorted({r["seed"] for r in rows if r["loss"] == loss}):
            for line in open(os.path.join(out_dir, f"{loss}.seed{seed}.ckpt.jsonl")):
                rec = json.loads(line)
                if "test_energy_gap" in rec:
                    curves.setdefault(rec["step"], []).append(rec["test_energy_gap"])
        steps = sorted(curves)
        if steps:
            ax.plot(steps, [sum(curves[s]) / len(curves[s]) for s in steps], marker="o", ms=3,
                    label=NAMES.get(loss, loss))
    ax.set_xlabel("training step")
    ax.set_ylabel("test energy gap  E(sign z) − E(ground state)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = os.path.join(out_dir, "table5.png.tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, os.path.join(out_dir, "table5.png"))


if __name__ == "__main__":
    main()
