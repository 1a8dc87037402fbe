#!/usr/bin/env python3
"""The Markdown tables and the PNGs of jobs/table5.

    python3 jobs/plot_table5.py OUT_DIR MAX_STEPS LOSS...

Reads OUT_DIR/table5.csv (one row per run), OUT_DIR/table5_lr.csv (the
learning-rate search, maybe empty) and each run's metrics file. Writes:
table5.md: per lattice L and width W, the test energy gap (mean +-
standard error over seeds of each run's mean over the test set), loss
against training-set size, with the exact fraction and site accuracy at
the largest size, the learning rate each loss trained with, and how many
runs stopped by patience (converged) rather than at MAX_STEPS; then the
search's validation gaps. table5.png: test gap against training-set size,
one curve per loss, a panel per (L, W). table5_curves.png: validation gap
against step, mean over seeds, a panel per (L, W, size). Files are written
under temporary names and renamed. Needs matplotlib (python3-matplotlib).
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


def cell(values, digits):
    m, se = mean_se(values)
    # One seed has no standard error: the mean alone, not "± nan".
    return f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if len(values) > 1 else "")


def write(path, text_or_fig):
    tmp = path + ".tmp" + os.path.splitext(path)[1]
    if isinstance(text_or_fig, str):
        with open(tmp, "w") as f:
            f.write(text_or_fig)
    else:
        text_or_fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def key(r):
    return int(r["L"]), int(r["width"])


def tables(rows, tune, losses, max_steps):
    lines = []
    for L, W in sorted({key(r) for r in rows}):
        here = [r for r in rows if key(r) == (L, W)]
        sizes = sorted({int(r["size"]) for r in here})
        top = sizes[-1]
        lines += [f"### {L} × {L}, width {W}", "",
                  "Test energy gap (units of J, %d spins; mean ± standard error over seeds):" % (L * L), "",
                  "| loss | " + " | ".join(f"N = {n}" for n in sizes) +
                  f" | exact fraction (N = {top}) | site accuracy (N = {top}) | lr | converged | seeds |"
                  " paper (16 × 16, W = 256, N = 10⁴) |",
                  "|---|" + "---:|" * (len(sizes) + 6)]
        for loss in losses:
            runs = [r for r in here if r["loss"] == loss]
            if not runs:
                continue
            gaps = [cell([float(r["energy_gap"]) for r in runs if int(r["size"]) == n], 1)
                    if any(int(r["size"]) == n for r in runs) else "–" for n in sizes]
            last = [r for r in runs if int(r["size"]) == top]
            conv = sum(r["stopped_early"] == "1" for r in runs)
            seeds = len({r["seed"] for r in runs})
            lines.append(f"| {NAMES.get(loss, loss)} | " + " | ".join(gaps) +
                         f" | {cell([float(r['exact_fraction']) for r in last], 3)}"
                         f" | {cell([float(r['site_accuracy']) for r in last], 3)}"
                         f" | {runs[0]['lr']} | {conv}/{len(runs)} | {seeds} | {PAPER.get(loss, '–')} |")
        lines += ["", f"converged: runs stopped by -patience before the cap of {max_steps} steps; the model of "
                  "every run is its best validation step's (-select best).", ""]
        search = [t for t in tune if (int(t["L"]), int(t["width"])) == (L, W)]
        if search:
            lrs = sorted({t["lr"] for t in search}, key=float)
            lines += ["Learning-rate search (validation energy gap of the selected model; bold: chosen):", "",
                      "| loss | " + " | ".join(f"lr {lr}" for lr in lrs) + " |", "|---|" + "---:|" * len(lrs)]
            for loss in losses:
                got = {t["lr"]: t for t in search if t["loss"] == loss}
                if got:
                    lines.append(f"| {NAMES.get(loss, loss)} | " + " | ".join(
                        ("**%.2f**" if got[lr]["chosen"] == "1" else "%.2f") % float(got[lr]["valid_energy_gap"])
                        if lr in got else "–" for lr in lrs) + " |")
            lines.append("")
    return "\n".join(lines)


def main():
    out_dir, max_steps, losses = sys.argv[1], sys.argv[2], sys.argv[3:]
    rows = list(csv.DictReader(open(os.path.join(out_dir, "table5.csv"))))
    tune_path = os.path.join(out_dir, "table5_lr.csv")
    tune = list(csv.DictReader(open(tune_path))) if os.path.exists(tune_path) else []
    write(os.path.join(out_dir, "table5.md"), tables(rows, tune, losses, max_steps))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = sorted({key(r) for r in rows})
    fig, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.4), squeeze=False)
    for ax, (L, W) in zip(axes[0], panels):
        for loss in losses:
            runs = [r for r in rows if key(r) == (L, W) and r["loss"] == loss]
            sizes = sorted({int(r["size"]) for r in runs})
            if not sizes:
                continue
            stats = [mean_se([float(r["energy_gap"]) for r in runs if int(r["size"]) == n]) for n in sizes]
            ax.errorbar(sizes, [m for m, _ in stats], yerr=[0 if math.isnan(s) else s for _, s in stats],
                        marker="o", ms=4, capsize=3, label=NAMES.get(loss, loss))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training instances N")
        ax.set_ylabel("test energy gap")
        ax.set_title(f"{L} × {L}, width {W}: best validation step of each run")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    write(os.path.join(out_dir, "table5.png"), fig)

    curves = sorted({(int(r["L"]), int(r["width"]), int(r["size"])) for r in rows})
    fig, axes = plt.subplots(len(panels), len(curves) // len(panels), figsize=(4.2 * len(curves) // len(panels),
                             3.4 * len(panels)), squeeze=False)
    for ax, (L, W, N) in zip(axes.flat, curves):
        for loss in losses:
            runs = [r for r in rows if (int(r["L"]), int(r["width"]), int(r["size"])) == (L, W, N) and
                    r["loss"] == loss]
            by_step = {}
            for r in runs:
                path = os.path.join(out_dir, f"L{L}", f"w{W}", f"n{N}", f"{loss}.lr{r['lr']}.seed{r['seed']}.ckpt.jsonl")
                for line in open(path):
                    rec = json.loads(line)
                    if "valid_energy_gap" in rec:
                        by_step.setdefault(rec["step"], []).append(rec["valid_energy_gap"])
            # Runs stop at different steps: a step's mean over the seeds that reached it.
            steps = sorted(by_step)
            if steps:
                ax.plot(steps, [sum(by_step[s]) / len(by_step[s]) for s in steps], lw=1, label=NAMES.get(loss, loss))
        ax.set_yscale("log")
        ax.set_title(f"{L} × {L}, W = {W}, N = {N}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.set_ylabel("validation energy gap", fontsize=8)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    write(os.path.join(out_dir, "table5_curves.png"), fig)


if __name__ == "__main__":
    main()
