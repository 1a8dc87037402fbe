"""The report of jobs/einf: exact ground-state energies per spin of open
L x L Edwards-Anderson lattices, their fit e(L) = e_inf + a/L + b/L^2 and
the literature's e_inf.

    plot_einf.py OUT_DIR FIT_MIN "LAWS" "L:COUNT ..."

Reads OUT_DIR/<law>/L<L>.h5 (eloss spingen), writes OUT_DIR/einf.csv (per
law and L: instances, mean energy per spin, its standard error),
OUT_DIR/einf.md (the fits over L >= FIT_MIN and over L >= 2 FIT_MIN, with
1-sigma errors from the weighted least squares, chi^2 per degree of
freedom, and the literature's values) and OUT_DIR/einf.png.
"""
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# e_inf of the 2D EA spin glass (bulk energy per spin) in the literature.
LITERATURE = {
    "gaussian": (-1.3148, None, "Hartmann & Young 2001; Campbell, Hartmann & Katzgraber 2004"),
    "pm": (-1.4015, 0.0008, "De Simone et al. 1996"),
}
LABEL = {"gaussian": "Gaussian J", "pm": "±J", "uniform": "J ~ U[-1, 1]"}


def measure(out_dir, law, sizes):
    rows = []
    for L in sizes:
        with h5py.File(f"{out_dir}/{law}/L{L}.h5", "r") as f:
            e = f["energy"][...] / (L * L)
        rows.append((L, len(e), e.mean(), e.std(ddof=1) / np.sqrt(len(e))))
    return rows


def fit(rows, fit_min):
    """Weighted least squares of e = c0 + c1/L + c2/L^2 over L >= fit_min."""
    use = [r for r in rows if r[0] >= fit_min]
    L = np.array([r[0] for r in use], float)
    y = np.array([r[2] for r in use])
    s = np.array([r[3] for r in use])
    A = np.stack([np.ones_like(L), 1 / L, 1 / L**2], axis=1) / s[:, None]
    coef, *_ = np.linalg.lstsq(A, y / s, rcond=None)
    cov = np.linalg.inv(A.T @ A)
    chi2 = float(((A @ coef - y / s) ** 2).sum())
    dof = len(use) - 3
    return coef, np.sqrt(np.diag(cov)), chi2 / dof if dof > 0 else float("nan"), len(use), int(L.min())


def main():
    out_dir, fit_min = sys.argv[1], int(sys.argv[2])
    laws = sys.argv[3].split()
    sizes = sorted(int(p.split(":")[0]) for p in sys.argv[4].split())
    data = {law: measure(out_dir, law, sizes) for law in laws}
    with open(f"{out_dir}/einf.csv", "w") as f:
        f.write("law,L,instances,energy_per_spin,stderr\n")
        for law in laws:
            for L, n, m, s in data[law]:
                f.write(f"{law},{L},{n},{m:.10f},{s:.3e}\n")
    lines = ["# Exact ground-state energy per spin, open L x L lattices, and its limit", ""]
    lines += ["Fit: e(L) = e_inf + a/L + b/L^2, weighted by the standard errors (1-sigma errors from the fit).", ""]
    lines += ["| couplings | sizes fitted | e_inf | a | b | chi^2/dof | literature e_inf | difference / sigma |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    fits = {}
    for law in laws:
        for lo in (fit_min, 2 * fit_min):
            if sum(1 for r in data[law] if r[0] >= lo) < 4:
                continue
            coef, err, chi, n, Lmin = fit(data[law], lo)
            fits.setdefault(law, (coef, err, chi, n, Lmin))
            lit = LITERATURE.get(law)
            lit_text, diff = "", ""
            if lit:
                lit_text = f"{lit[0]:.4f}" + (f" ± {lit[1]:.4f}" if lit[1] else "") + f" ({lit[2]})"
                sigma = np.hypot(err[0], lit[1] or 0.0)
                diff = f"{(coef[0] - lit[0]) / sigma:+.1f}"
            Ls = [r[0] for r in data[law] if r[0] >= lo]
            lines.append(f"| {LABEL.get(law, law)} | {n} ({Ls[0]}–{Ls[-1]}) | {coef[0]:.5f} ± {err[0]:.5f} | "
                         f"{coef[1]:.3f} ± {err[1]:.3f} | {coef[2]:.2f} ± {err[2]:.2f} | {chi:.2f} | {lit_text} | {diff} |")
    lines += ["", "| couplings | L | instances | e(L) per spin | standard error |", "|---|---:|---:|---:|---:|"]
    for law in laws:
        for L, n, m, s in data[law]:
            lines.append(f"| {LABEL.get(law, law)} | {L} | {n} | {m:.6f} | {s:.6f} |")
    with open(f"{out_dir}/einf.md", "w") as f:
        f.write("\n".join(lines) + "\n")

    fig, axes = plt.subplots(1, len(laws), figsize=(5.2 * len(laws), 4.2), squeeze=False)
    for ax, law in zip(axes[0], laws):
        L = np.array([r[0] for r in data[law]], float)
        m = np.array([r[2] for r in data[law]])
        s = np.array([r[3] for r in data[law]])
        ax.errorbar(1 / L, m, yerr=s, fmt="o", ms=4, label="exact (matching), mean ± s.e.")
        if law in fits:
            coef, err, chi, n, Lmin = fits[law]
            x = np.linspace(0, 1 / Lmin, 100)
            ax.plot(x, coef[0] + coef[1] * x + coef[2] * x**2, "-",
                    label=f"fit L ≥ {Lmin}: e∞ = {coef[0]:.4f} ± {err[0]:.4f}")
        if law in LITERATURE:
            ax.axhline(LITERATURE[law][0], color="gray", ls="--", lw=1, label=f"literature e∞ = {LITERATURE[law][0]}")
        ax.set_xlabel("1 / L")
        ax.set_ylabel("ground-state energy per spin")
        ax.set_title(f"2D Edwards–Anderson, open boundaries, {LABEL.get(law, law)}")
        ax.set_xlim(left=0)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(f"{out_dir}/einf.png", dpi=120)


if __name__ == "__main__":
    main()
