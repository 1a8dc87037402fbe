#!/usr/bin/env python3
"""The Markdown table and the PNG of jobs/fig4.

    python3 jobs/plot_fig4.py OUT_DIR fig4.csv

fig4.csv: one row per run (network, loss, fraction, seed, then the run's
numbers; jobs/fig4 writes it). fig4.md: per network, loss and fraction,
mean +- standard error over the seeds of molecule and atom stability,
validity, uniqueness, bond_w1, nn_w1 and the final test eps-MSE (one seed:
the mean alone), the paper's Table 2 / Table 8 numbers (full QM9, 9 x 256
networks) beside the fraction-1 rows, then what the numbers show, computed
from them: whether any molecule is stable, the losses ordered by bond_w1,
nn_w1, atom stability and validity, the energy loss against MSE in units
of the standard error of their difference, and the effect of the fraction. The settings line of OUT_DIR/settings, when there,
heads the file. fig4.png: molecule stability (top), bond_w1 and nn_w1
against the fraction, mean +- s.e. over seeds, one curve per loss, one
column per network (Fig. 4 right plots molecule stability against the
fraction; the two W1 are there because stability barely moves at CPU
scale).
Both files are written to temporary names and renamed. Needs matplotlib
(python3-matplotlib) for the PNG only.
"""
import csv
import math
import os
import sys

NETWORKS = {"gdm_aug": "GDM-aug", "edm": "EDM", "gdm": "GDM"}
LOSSES = {"mse": "MSE", "energy": "energy", "kabsch": "Kabsch align", "sparse": "energy (sparse)"}
# The paper's Table 8 (Table 2 for GDM-aug and EDM): molecule stability,
# atom stability, validity, in %, mean +- s.e. over seeds, on QM9 (100k
# training molecules, 9 layers x 256 features, ~3000 epochs).
PAPER = {
    ("gdm_aug", "mse"): ("83.7 ± 2.3", "98.3", "93.6 ± 1.7"),
    ("gdm_aug", "kabsch"): ("82.3 ± 0.5", "97.8", "90.8 ± 2.0"),
    ("gdm_aug", "energy"): ("89.8 ± 2.8", "99.3 ± 0.3", "97.7 ± 1.4"),
    ("gdm_aug", "sparse"): ("89.1 ± 0.9", "99.0 ± 0.1", "97.4 ± 2.5"),
    ("edm", "mse"): ("82.4 ± 3.4", "98.8 ± 1.7", "93.0 ± 2.5"),
    ("edm", "kabsch"): ("80.6 ± 3.0", "98.3 ± 3.0", "92.5 ± 3.0"),
    ("edm", "energy"): ("86.6 ± 1.6", "99.0 ± 0.2", "96.8 ± 1.1"),
    ("gdm", "mse"): ("81.7 ± 3.3", "98.3 ± 0.3", "93.3 ± 1.7"),
    ("gdm", "kabsch"): ("81.7 ± 2.2", "98.4 ± 0.2", "93.1 ± 1.2"),
    ("gdm", "energy"): ("86.2 ± 2.1", "98.9 ± 0.2", "96.6 ± 1.3"),
    ("gdm", "sparse"): ("86.1 ± 2.3", "99.0 ± 0.1", "96.2 ± 1.4"),
}
# The table's columns: CSV key, header, scale, digits.
COLUMNS = [("mol_stability", "mol. stab. (%)", 100, 1), ("atom_stability", "atom stab. (%)", 100, 1),
           ("validity", "validity (%)", 100, 1), ("uniqueness", "uniqueness (%)", 100, 1),
           ("bond_w1", "bond W1 (Å)", 1, 3), ("nn_w1", "nn W1 (Å)", 1, 3), ("test_eps_mse", "test ε-MSE", 1, 4)]


def mean_se(values):
    """Mean and standard error of the mean (nan for one value)."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)


def cell(values, scale, digits):
    m, se = mean_se([scale * v for v in values])
    # One seed has no standard error: the mean alone, not "± nan".
    return f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if len(values) > 1 else "")


def ordered(keys, known):
    """keys in the order of known, then any others in their first order."""
    return [k for k in known if k in keys] + [k for k in keys if k not in known]


def groups(rows):
    """{(network, loss, fraction): [row, ...]} and the orders seen."""
    out = {}
    for r in rows:
        out.setdefault((r["network"], r["loss"], r["fraction"]), []).append(r)
    networks = ordered(list(dict.fromkeys(r["network"] for r in rows)), NETWORKS)
    losses = ordered(list(dict.fromkeys(r["loss"] for r in rows)), LOSSES)
    fractions = sorted(dict.fromkeys(r["fraction"] for r in rows), key=float)
    return out, networks, losses, fractions


def values(runs, key):
    return [float(r[key]) for r in runs]


# The metrics findings() compares the losses on: CSV key, label, scale,
# digits, lower is better.
FINDINGS = [("bond_w1", "bond W1 (Å)", 1, 3, True), ("nn_w1", "nn W1 (Å)", 1, 3, True),
            ("atom_stability", "atom stability (%)", 100, 1, False), ("validity", "validity (%)", 100, 1, False)]


def compare(g, net, frac, present, key, label, scale, digits, lower):
    """One sentence: the losses ordered best first on key, and the energy
    loss against MSE in units of the standard error of their difference."""
    means = {l: mean_se([scale * v for v in values(g[(net, l, frac)], key)]) for l in present}
    # A file without bonded pairs has no bond W1 (nan): left out, said so.
    known = [l for l in present if not math.isnan(means[l][0])]
    order = sorted(known, key=lambda l: means[l][0] if lower else -means[l][0])
    text = ""
    for k, l in enumerate(order):
        shown = f"{means[l][0]:.{digits}f}"
        if k:
            before = f"{means[order[k - 1]][0]:.{digits}f}"
            text += " = " if shown == before else (" < " if lower else " > ")
        text += f"{LOSSES.get(l, l)} {shown}"
    missing = [LOSSES.get(l, l) for l in present if l not in known]
    if missing:
        text += ("; " if text else "") + "none for " + ", ".join(missing) + " (no bonded pair in a sample)"
    sentence = f"{label}, {'lower' if lower else 'higher'} is better: {text}."
    if "energy" in known and "mse" in known:
        (me, se_e), (mm, se_m) = means["energy"], means["mse"]
        se = math.sqrt(se_e ** 2 + se_m ** 2)
        if math.isnan(se) or se == 0:
            sentence += " One seed: no standard error, so no difference can be called real."
        else:
            z = abs(me - mm) / se
            sentence += (f" Energy − MSE = {me - mm:+.{digits}f}, {z:.1f} standard errors: "
                         f"{'beyond' if z > 2 else 'within'} the seeds' spread.")
    return sentence


def findings(g, networks, losses, fractions):
    """What the numbers show, as sentences computed from them."""
    lines = []
    rows = [r for runs in g.values() for r in runs]
    stable = [float(r["mol_stability"]) for r in rows]
    if max(stable) == 0:
        lines.append(f"- **No run generated a stable molecule** ({len(rows)} runs, atom stability "
                     f"{100 * min(values(rows, 'atom_stability')):.0f}–{100 * max(values(rows, 'atom_stability')):.0f} %): "
                     "at this scale molecule stability cannot rank the losses; the paper's differences lie between "
                     "80 and 90 % stable molecules.")
    else:
        best = max(rows, key=lambda r: float(r["mol_stability"]))
        lines.append(f"- Molecule stability reaches {100 * float(best['mol_stability']):.1f} % at most "
                     f"({NETWORKS.get(best['network'], best['network'])}, {LOSSES.get(best['loss'], best['loss'])}, "
                     f"fraction {best['fraction']}, seed {best['seed']}); {sum(s > 0 for s in stable)} of {len(rows)} "
                     "runs generated a stable molecule.")
    for net in networks:
        for frac in fractions:
            present = [l for l in losses if (net, l, frac) in g]
            if len(present) < 2:
                continue
            lines.append(f"- {NETWORKS.get(net, net)}, fraction {frac}:")
            for key, label, scale, digits, lower in FINDINGS:
                lines.append("  - " + compare(g, net, frac, present, key, label, scale, digits, lower))
    if len(fractions) > 1:
        lo, hi = fractions[0], fractions[-1]
        parts = []
        for net in networks:
            for l in losses:
                if (net, l, lo) in g and (net, l, hi) in g:
                    a, b, c, d = (mean_se(values(g[(net, l, f)], k))[0] for k in ("bond_w1", "nn_w1") for f in (lo, hi))
                    parts.append(f"{NETWORKS.get(net, net)} {LOSSES.get(l, l)} {a:.3f} → {b:.3f} / {c:.3f} → {d:.3f}")
        if parts:
            lines.append(f"- Fraction {lo} → {hi}, bond W1 / nn W1 (Å): " + "; ".join(parts) + ".")
    return lines


def write_md(out_dir, g, networks, losses, fractions):
    lines = []
    settings = os.path.join(out_dir, "settings")
    if os.path.exists(settings):
        lines += ["Settings: `" + open(settings).read().strip() + "`", ""]
    head = "| network | loss | fraction | molecules | " + " | ".join(c[1] for c in COLUMNS) + \
        " | seeds | paper: mol. stab. / atom stab. / validity (%), full QM9 |"
    lines += [head, "|---|---|---:|---:|" + "---:|" * len(COLUMNS) + "---:|---|"]
    for net in networks:
        for l in losses:
            for frac in fractions:
                runs = g.get((net, l, frac))
                if not runs:
                    continue
                cells = [cell(values(runs, key), scale, digits) for key, _, scale, digits in COLUMNS]
                paper = " / ".join(PAPER[(net, l)]) if float(frac) == 1 and (net, l) in PAPER else "–"
                lines.append(f"| {NETWORKS.get(net, net)} | {LOSSES.get(l, l)} | {frac} | {runs[0]['train_molecules']} | "
                             + " | ".join(cells) + f" | {len(runs)} | {paper} |")
    lines += ["", "Mean ± standard error over the seeds (one seed: the value alone). Stability is EDM's "
              "(`eloss molcheck`); validity and uniqueness are EDM's (`jobs/molmetrics.py`, RDKit); bond W1 and "
              "nn W1 are the 1-Wasserstein distances of the samples' bonded and nearest-neighbour distances "
              "to the training subset's (Å; 0.001 between two samples of the data); test ε-MSE is EDM's "
              "objective on the validation molecules at the end of training. The paper's column is its "
              "Table 2 / Table 8, beside the fraction-1 rows only.", "", "What these numbers show:", ""]
    lines += findings(g, networks, losses, fractions)
    claim = ("What they do not show: the paper's claim is about molecule stability at its scale (Table 2: "
             "GDM-aug 89.8 % with the energy loss against 83.7 % with MSE; Fig. 4: about +10 % at small "
             "fractions). ")
    if all(float(r["mol_stability"]) == 0 for runs in g.values() for r in runs):
        claim += ("No model here generates a stable molecule, so these runs can neither confirm nor refute it; "
                  "that takes SCALE=paper on a cluster (jobs/submit-repro fig4). ")
    else:
        claim += ("Stability here is counted on the few samples of each model, from networks and budgets far "
                  "below the paper's; its differences say little about the paper's. ")
    claim += ("Differences in bond W1 are differences early in training, where the learning rates and position "
              "weights (not tuned per loss at this scale) matter as much as the losses.")
    lines += ["", claim]
    tmp = os.path.join(out_dir, "fig4.md.tmp")
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, os.path.join(out_dir, "fig4.md"))


def write_png(out_dir, g, networks, losses, fractions):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, axes = plt.subplots(3, len(networks), figsize=(4.2 * len(networks), 8.6), squeeze=False, sharey="row")
    # One colour per loss in every panel, the paper's order.
    colours = {l: f"C{i}" for i, l in enumerate(ordered(losses, LOSSES))}
    top = 10.0
    for col, net in enumerate(networks):
        for row, (key, label, scale) in enumerate((("mol_stability", "molecule stability (%)", 100),
                                                   ("bond_w1", "bond W1 to the data (Å)", 1),
                                                   ("nn_w1", "nearest-neighbour W1 (Å)", 1))):
            ax = axes[row][col]
            for l in losses:
                xs, ms, ses = [], [], []
                for frac in fractions:
                    runs = g.get((net, l, frac))
                    m, se = mean_se([scale * v for v in values(runs, key)]) if runs else (math.nan, 0)
                    if not math.isnan(m):
                        xs.append(float(frac)), ms.append(m), ses.append(0 if math.isnan(se) else se)
                if xs:
                    ax.errorbar(xs, ms, yerr=ses, marker="o", ms=4, capsize=3, color=colours[l],
                                label=LOSSES.get(l, l))
                    if row == 0:
                        top = max(top, max(m + e for m, e in zip(ms, ses)) * 1.1)
            ax.set_xlabel("dataset fraction")
            ax.set_ylabel(label)
            if row == 2:
                # Nearest-neighbour W1 spans decades where a model's samples fly apart.
                ax.set_yscale("log")
                ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            if row == 0:
                ax.set_title(NETWORKS.get(net, net))
            ax.grid(alpha=0.3)
    # Stability from 0, at least to 10 %: a row of zeros reads as zero.
    axes[0][0].set_ylim(-0.02 * top, top)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    tmp = os.path.join(out_dir, "fig4.png.tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, os.path.join(out_dir, "fig4.png"))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_fig4.py OUT_DIR fig4.csv")
    out_dir, path = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(path)))
    if not rows:
        sys.exit(f"plot_fig4: {path}: no runs")
    g, networks, losses, fractions = groups(rows)
    write_md(out_dir, g, networks, losses, fractions)
    write_png(out_dir, g, networks, losses, fractions)


if __name__ == "__main__":
    main()
