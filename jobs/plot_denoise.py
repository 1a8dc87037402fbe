#!/usr/bin/env python3
"""Tables and plots of jobs/denoise.

    python3 jobs/plot_denoise.py OUT_DIR

Reads OUT_DIR/runs.txt (one run per line: name, options) and each run's
metrics OUT_DIR/runs/<name>.jsonl (eloss train -metrics); writes
denoise.csv (one row per run: its last test metrics and its best test
distance error), denoise.md (mean +- standard error over seeds per data
set, rotation and loss, with what the noisy input scores) and denoise.png
(each metric against step per loss, mean over seeds, one row per data set
and rotation; the noisy input dashed). Files are written to temporary
names and renamed. Needs matplotlib (python3-matplotlib).
"""
import json
import math
import os
import sys

LOSSES = ["mse", "energy", "kabsch", "sparse"]
NAMES = {"mse": "MSE", "energy": "energy (complete)", "kabsch": "Kabsch-aligned MSE", "sparse": "energy (sparse)"}
COLOURS = {"mse": "tab:red", "energy": "tab:blue", "kabsch": "tab:green", "sparse": "tab:purple"}
DATA = {"lj": "LJ13, 2100 training structures", "lj30": "LJ13, 30 training structures",
        "g2": "G2 molecules (148), tested rotated"}
# metric, label, noisy-input counterpart, lower is better
METRICS = [("test_dist_error", "distance-matrix error", "test_dist_error_noisy", True),
           ("test_bonds_ok", "bonds within 10 %", "test_bonds_ok_noisy", False),
           ("test_kabsch_rmsd", "Kabsch RMSD", None, True),
           ("test_lj_energy_gap", "LJ energy gap (median)", "test_lj_energy_gap_noisy", True)]


def mean_se(v):
    m = sum(v) / len(v)
    if len(v) < 2:
        return m, float("nan")
    return m, math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v))


def fmt(v, digits=4):
    m, se = mean_se(v)
    return f"{m:.{digits}g} ± {se:.2g}" if not math.isnan(se) else f"{m:.{digits}g}"


def write(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def load(out_dir):
    runs = []
    for line in open(os.path.join(out_dir, "runs.txt")):
        name = line.split()[0]
        data, rot, loss, seed = name.split("_")
        evals = []
        for row in open(os.path.join(out_dir, "runs", name + ".jsonl")):
            r = json.loads(row)
            if "test_dist_error" in r:
                evals.append(r)
        if not evals:
            sys.exit(f"plot_denoise: {name} has no test metrics")
        runs.append({"name": name, "data": data, "rotate": rot == "rot1", "loss": loss, "seed": int(seed[1:]),
                     "evals": evals})
    return runs


def main():
    out_dir = sys.argv[1]
    runs = load(out_dir)
    keys = [m[0] for m in METRICS] + ["test_dist_error_noisy", "test_bonds_ok_noisy", "test_lj_energy_gap_noisy"]
    lines = ["data,rotate,loss,seed,steps," + ",".join(k.replace("test_", "") for k in keys) +
             ",best_dist_error,best_step"]
    for r in runs:
        last = r["evals"][-1]
        best = min(r["evals"], key=lambda e: e["test_dist_error"])
        vals = [last.get(k) for k in keys]
        lines.append(f"{r['data']},{int(r['rotate'])},{r['loss']},{r['seed']},{last['step']}," +
                     ",".join("" if v is None else f"{v:.6g}" for v in vals) +
                     f",{best['test_dist_error']:.6g},{best['step']}")
    write(os.path.join(out_dir, "denoise.csv"), "\n".join(lines) + "\n")

    md = ["# Denoising with each loss (jobs/denoise)", "",
          "Final test metrics (mean ± standard error over seeds); `best` is the lowest test distance error "
          "seen during training. The noisy input row is what returning x_t scores.", ""]
    for data in DATA:
        group = [r for r in runs if r["data"] == data]
        if not group:
            continue
        lj = data.startswith("lj")
        md += [f"## {DATA[data]}", "",
               "| rotations | loss | distance error | best distance error | bonds within 10 % | Kabsch RMSD |" +
               (" LJ energy gap |" if lj else ""),
               "|---|---|---:|---:|---:|---:|" + ("---:|" if lj else "")]
        noisy = group[0]["evals"][-1]
        md.append(f"| | noisy input | {noisy['test_dist_error_noisy']:.4g} | | "
                  f"{noisy.get('test_bonds_ok_noisy', float('nan')):.3g} | |" +
                  (f" {noisy['test_lj_energy_gap_noisy']:.4g} |" if lj else ""))
        for rotate in (False, True):
            for loss in LOSSES:
                rs = [r for r in group if r["rotate"] == rotate and r["loss"] == loss]
                if not rs:
                    continue
                last = [r["evals"][-1] for r in rs]
                best = [min(e["test_dist_error"] for e in r["evals"]) for r in rs]
                row = (f"| {'yes' if rotate else 'no'} | {NAMES[loss]} | {fmt([e['test_dist_error'] for e in last])} | "
                       f"{fmt(best)} | {fmt([e['test_bonds_ok'] for e in last], 3)} | "
                       f"{fmt([e['test_kabsch_rmsd'] for e in last])} |")
                if lj:
                    row += f" {fmt([e['test_lj_energy_gap'] for e in last])} |"
                md.append(row)
        md.append("")
    write(os.path.join(out_dir, "denoise.md"), "\n".join(md))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    panels = [(d, rot) for d in DATA for rot in (False, True) if any(r["data"] == d for r in runs)]
    fig, axes = plt.subplots(len(panels), len(METRICS), figsize=(4.2 * len(METRICS), 2.8 * len(panels)),
                             squeeze=False)
    for i, (data, rotate) in enumerate(panels):
        for j, (key, label, noisy_key, _) in enumerate(METRICS):
            ax = axes[i][j]
            group = [r for r in runs if r["data"] == data and r["rotate"] == rotate]
            if key not in group[0]["evals"][-1]:
                ax.axis("off")
                continue
            for loss in LOSSES:
                rs = [r for r in group if r["loss"] == loss]
                if not rs:
                    continue
                steps = [e["step"] for e in rs[0]["evals"]]
                mean = [sum(r["evals"][k][key] for r in rs) / len(rs) for k in range(len(steps))]
                ax.plot(steps, mean, color=COLOURS[loss], label=NAMES[loss])
            if noisy_key:
                ax.axhline(group[0]["evals"][-1][noisy_key], color="grey", ls="--", lw=1, label="noisy input")
            if key == "test_lj_energy_gap":
                ax.set_yscale("symlog", linthresh=1.0)
            ax.set_title(f"{DATA[data]}, {'rotated' if rotate else 'not rotated'}", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            ax.set_xlabel("step", fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = os.path.join(out_dir, "denoise.png.tmp.png")
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, os.path.join(out_dir, "denoise.png"))


if __name__ == "__main__":
    main()
