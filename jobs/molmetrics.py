#!/usr/bin/env python3
"""molmetrics: validity, uniqueness and novelty of generated molecules as EDM
reports them, and an early metric (bond-length and nearest-neighbour
distributions against a reference set) that moves before stability does.

  jobs/molmetrics.py -samples gen.xyz [-reference train.xyz]
                     [-reference_smiles xyz|comment] [-json out.json] [-md out.md] [-force]

Prints one line,
  molecules=N validity=V uniqueness=U [novelty=X bond_w1=B nn_w1=D]
(novelty and the two W1 numbers only with -reference; %.9g), and writes
every number to -json and a Markdown table to -md, each whole (a temporary
file, then a rename) and only after everything is computed. Bad input: one
line on stderr naming the file and the problem, exit 1 (exit 2 for an
option error), nothing written. An existing -json or -md is refused
without -force. Needs numpy and RDKit (Debian: python3-rdkit); a python3
without them (pyenv, venv) hands over to /usr/bin/python3 when that has them.
docs/diffusion.md, "Validity, uniqueness, novelty and the early metric".

Definitions (EDM: Hoogeboom, Satorras, Vignac, Welling 2022, "Equivariant
Diffusion for Molecule Generation in 3D"; the authors' code,
ehoogeboom/e3_diffusion_for_molecules at fce07d70, read, not copied):

- Bonds (qm9/rdkit_functions.py, build_xae_molecule and build_molecule):
  every pair of atoms gets EDM's bond order from its distance
  (qm9/bond_analyze.py, get_bond_order, the tables below; the same rule as
  `eloss molcheck`, docs/molcheck.md and lib/include/eloss/molecule.h); an
  RDKit RWMol gets one atom per XYZ atom (element only: no charge, no
  explicit H count) and a SINGLE, DOUBLE or TRIPLE bond for each pair of
  order 1, 2, 3.
- Validity (BasicMolecularMetrics.compute_validity and mol2smiles): the
  molecule is valid when Chem.SanitizeMol succeeds (EDM catches ValueError,
  which RDKit's sanitisation errors are; any exception counts as invalid
  here). Its SMILES is then Chem.MolToSmiles of the largest fragment
  (Chem.GetMolFrags(asMols=True), the first of the largest by atom count,
  hydrogens included), sanitised again. validity = valid / molecules.
  The hydrogens are graph atoms, so the SMILES spells them ("[H]OC([H])..."):
  EDM's strings, compared as they are.
- Uniqueness (compute_uniqueness): distinct SMILES among the valid
  molecules / valid molecules.
- Novelty (compute_novelty): distinct SMILES not in the reference's SMILES
  list / distinct SMILES. EDM's list (compute_qm9_smiles) is built from the
  training set's coordinates by the same bond rule and mol2smiles, whole
  molecule (no largest fragment), invalid ones left out:
  -reference_smiles xyz (default). -reference_smiles comment takes each
  reference molecule's graph from the SMILES on its comment line (the
  QM9-like set's, inputs/molecules/make_qm9like.py) instead, written in
  EDM's form (hydrogens added as atoms, Kekule bonds, charges dropped,
  sanitised, MolToSmiles), so a molecule whose geometry EDM's tables
  misread (aromatic rings, docs/molcheck.md) still counts as seen.
- With no valid molecule, uniqueness and novelty are 0, as EDM's
  evaluate() reports them; novelty is 0 likewise with no distinct SMILES.
- Stability (qm9/analyze.py, check_stability), also written to -json:
  atoms whose summed bond orders equal their valence (H 1, C 4, N 3, O 2,
  F 1) / atoms; molecules whose atoms all are / molecules. Distances are
  computed as eloss molcheck computes them (float64, dx^2 + dy^2 + dz^2 in
  that order, sqrt, times 100 to pm, strict comparisons), so the two agree
  molecule by molecule.

The early metric (this project's, not EDM's): for each unordered element
pair (C-C, C-H, ...), two distributions of distances in Angstrom, over all
molecules of a file:
- bonded: every pair of atoms closer than the pair's single-bond length +
  margin1 (EDM's order >= 1);
- nearest neighbour: for every atom of a molecule of at least 2 atoms, the
  distance to its nearest other atom, filed under the pair (its element,
  the neighbour's element).
For each pair present in both files, W1 = the 1-Wasserstein distance of
the two empirical distributions = the integral over u in (0, 1) of
|F^-1(u) - G^-1(u)|, computed exactly on the common grid of the quantile
levels i/n and j/m of both samples (mean of |quantile difference|
weighted by the grid's interval widths). The total is the sum of the
pairs' W1 weighted by the reference's pair frequencies (pair count /
all pairs of that kind in the reference), over the pairs present in both
files, divided by those pairs' summed weight: that weight is reported as
the coverage (1 when every reference pair occurs in the samples). A pair
the reference lacks (bonded H-H, say) weighs 0 there; the total variation
0.5 sum_p |f_gen(p) - f_ref(p)| of the two files' pair frequencies, also
reported, shows such pairs.
"""
import json
import os
import re
import sys
import tempfile

PROG = "molmetrics"
DEBIAN_PYTHON = "/usr/bin/python3"

# ---- EDM's bond tables (qm9/bond_analyze.py: bonds1, bonds2, bonds3, margin1..3,
# allowed_bonds), restricted to QM9's elements H, C, N, O, F; pm. The file cites
# wiredchemist.com's table of bond energies and lengths and chemistry-reference.com's
# "Bond Lengths and Enthalpies". The same numbers as lib/molecule/stability.c.
ELEMENTS = ("H", "C", "N", "O", "F")
ATOMIC_NUMBER = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
SINGLE = {("H", "H"): 74, ("H", "C"): 109, ("H", "N"): 101, ("H", "O"): 96, ("H", "F"): 92,
          ("C", "C"): 154, ("C", "N"): 147, ("C", "O"): 143, ("C", "F"): 135,
          ("N", "N"): 145, ("N", "O"): 140, ("N", "F"): 136,
          ("O", "O"): 148, ("O", "F"): 142, ("F", "F"): 142}
DOUBLE = {("C", "C"): 134, ("C", "N"): 129, ("C", "O"): 120, ("N", "N"): 125, ("N", "O"): 121, ("O", "O"): 121}
TRIPLE = {("C", "C"): 120, ("C", "N"): 116, ("C", "O"): 113, ("N", "N"): 110}
MARGINS = (10, 5, 3)
VALENCE = {"H": 1, "C": 4, "N": 3, "O": 2, "F": 1}

# Pair names put the heavier-row element first in the order C, N, O, F, H: C-H, N-H, C-O.
NAME_ORDER = ("C", "N", "O", "F", "H")
PAIRS = [NAME_ORDER[i] + "-" + NAME_ORDER[j] for i in range(5) for j in range(i, 5)]

# All 118 symbols, so that a known element outside the tables gets its own message.
PERIODIC = ("H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As Se Br "
            "Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd Tb Dy Ho "
            "Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn").split()
NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


class InputError(Exception):
    """Bad input: one line, exit 1."""


class OptionError(Exception):
    """A bad option: one line, exit 2."""


def _table(table, a, b):
    return table.get((a, b), table.get((b, a)))


def _thresholds():
    """(5, 5, 3) array of the strict thresholds in pm, inf where the pair has no bond of that order."""
    import numpy as np
    t = np.full((5, 5, 3), -np.inf)
    for i, a in enumerate(ELEMENTS):
        for j, b in enumerate(ELEMENTS):
            for k, table in enumerate((SINGLE, DOUBLE, TRIPLE)):
                length = _table(table, a, b)
                t[i, j, k] = -np.inf if length is None else float(length + MARGINS[k])
    return t


# ---- XYZ ---------------------------------------------------------------------------
def read_xyz(path):
    """Frames of a multi-frame XYZ file as eloss reads them (lib/io/xyz.c): blank lines
    between frames, a count line, a comment line, count lines 'Symbol x y z' (symbol
    case-insensitive or an atomic number; extra columns ignored). Returns a list of
    (comment, symbols, coordinates (n, 3) float64). Elements must be H, C, N, O, F."""
    import numpy as np
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise InputError("%s: cannot open: %s" % (path, e.strerror or e))
    if b"\0" in data:
        line = data[:data.index(b"\0")].count(b"\n") + 1
        raise InputError("%s:%d: a NUL byte: not a text file" % (path, line))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise InputError("%s:%d: not UTF-8 text: not an XYZ file?" % (path, line))
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    frames, k = [], 0
    while k < len(lines):
        head = lines[k].strip()
        k += 1
        if not head:
            continue
        if not re.fullmatch(r"[+-]?\d+", head) or int(head) <= 0:
            raise InputError("%s:%d: expected the atom count of a frame, found '%s'" %
                             (path, k, _printable(head)))
        n = int(head)
        if k >= len(lines):
            raise InputError("%s: truncated: frame %d has no comment line" % (path, len(frames)))
        comment = lines[k].strip()
        k += 1
        if k + n > len(lines):
            raise InputError("%s: truncated: frame %d promises %d atoms, found %d" %
                             (path, len(frames), n, len(lines) - k))
        symbols, xyz = [], np.empty((n, 3))
        for a in range(n):
            fields = lines[k].split()
            k += 1
            if len(fields) < 4 or not all(NUMBER.fullmatch(v) for v in fields[1:4]):
                raise InputError("%s:%d: expected 'Symbol x y z'" % (path, k))
            symbol = _element(fields[0])
            if symbol is None:
                raise InputError("%s:%d: unknown element '%s'" % (path, k, _printable(fields[0][:15])))
            if symbol not in ATOMIC_NUMBER:
                raise InputError("%s: molecule %d, atom %d has atomic number %d, not one of H, C, N, O, F "
                                 "(the elements of EDM's bond tables)" %
                                 (path, len(frames), a, PERIODIC.index(symbol) + 1))
            xyz[a] = [float(v) for v in fields[1:4]]
            if not np.all(np.isfinite(xyz[a])):
                raise InputError("%s:%d: non-finite coordinate" % (path, k))
            symbols.append(symbol)
        frames.append((comment, symbols, xyz))
    if not frames:
        raise InputError("%s: no XYZ frames found" % path)
    return frames


def _printable(s):
    return "".join(c if " " <= c < "\x7f" else "?" for c in s[:43])


def _element(token):
    if token.isdigit():
        z = int(token)
        return PERIODIC[z - 1] if 1 <= z <= len(PERIODIC) else None
    for s in PERIODIC:
        if s.lower() == token.lower():
            return s
    return None


# ---- bonds, RDKit molecules, SMILES ---------------------------------------------------
def distances(xyz):
    """All pair distances in Angstrom, as eloss molcheck computes them."""
    import numpy as np
    d = xyz[:, None, :] - xyz[None, :, :]
    return np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2])


def bond_orders(symbols, dist, thresholds):
    """(n, n) int array of EDM's bond orders (0 on the diagonal)."""
    import numpy as np
    rows = np.array([ELEMENTS.index(s) for s in symbols])
    t = thresholds[rows[:, None], rows[None, :]]          # (n, n, 3)
    pm = 100.0 * dist
    single = pm < t[..., 0]
    double = single & (pm < t[..., 1])
    triple = double & (pm < t[..., 2])
    order = single.astype(int) + double + triple
    np.fill_diagonal(order, 0)
    return order


def edm_molecule(symbols, order):
    """EDM's build_molecule: an RWMol with one bare atom per atom and a bond per order > 0."""
    from rdkit import Chem
    kinds = (None, Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE)
    mol = Chem.RWMol()
    for s in symbols:
        mol.AddAtom(Chem.Atom(s))
    n = len(symbols)
    for i in range(n):
        for j in range(i):
            if order[i, j]:
                mol.AddBond(i, j, kinds[int(order[i, j])])
    return mol


def mol2smiles(mol):
    """EDM's mol2smiles: sanitise in place, then MolToSmiles; None when sanitisation fails."""
    from rdkit import Chem
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # noqa: BLE001 - EDM catches ValueError, which RDKit's sanitisation errors are
        return None
    return Chem.MolToSmiles(mol)


def valid_smiles(mol):
    """EDM's compute_validity for one molecule: the largest fragment's SMILES, or None."""
    from rdkit import Chem
    if mol2smiles(mol) is None:
        return None
    frags = Chem.GetMolFrags(mol, asMols=True)
    largest = max(frags, default=mol, key=lambda m: m.GetNumAtoms())
    return mol2smiles(largest)


def comment_smiles(comment):
    """EDM's form of the molecule whose SMILES is the first field of comment: (SMILES or
    None when it does not sanitise as a bare graph, element counts); raises ValueError
    when the field is no SMILES."""
    from rdkit import Chem
    fields = comment.split()
    m = Chem.MolFromSmiles(fields[0]) if fields else None
    if m is None:
        raise ValueError("no SMILES")
    m = Chem.AddHs(m)
    Chem.Kekulize(m, clearAromaticFlags=True)
    counts = {}
    rw = Chem.RWMol()
    for a in m.GetAtoms():
        rw.AddAtom(Chem.Atom(a.GetAtomicNum()))
        counts[a.GetSymbol()] = counts.get(a.GetSymbol(), 0) + 1
    for b in m.GetBonds():
        rw.AddBond(b.GetBeginAtomIdx(), b.GetEndAtomIdx(), b.GetBondType())
    return mol2smiles(rw), counts


# ---- the early metric ------------------------------------------------------------------
def w1(a, b):
    """1-Wasserstein distance of two 1-D empirical distributions: the integral of
    |F^-1(u) - G^-1(u)| over (0, 1), exact on the common grid of levels i/n and j/m."""
    import numpy as np
    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    n, m = len(a), len(b)
    if n == 0 or m == 0:
        raise ValueError("W1 of an empty sample")
    u = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    lo = np.concatenate(([0.0], u[:-1]))
    mid = 0.5 * (lo + u)
    ia = np.minimum((mid * n).astype(np.int64), n - 1)
    ib = np.minimum((mid * m).astype(np.int64), m - 1)
    return float(np.sum((u - lo) * np.abs(a[ia] - b[ib])))


def pair_name(a, b):
    i, j = sorted((NAME_ORDER.index(a), NAME_ORDER.index(b)))
    return NAME_ORDER[i] + "-" + NAME_ORDER[j]


class Distances:
    """Bonded and nearest-neighbour distances of a file, by pair."""

    def __init__(self):
        self.bonded = {p: [] for p in PAIRS}
        self.nn = {p: [] for p in PAIRS}

    def add(self, symbols, dist, order):
        import numpy as np
        n = len(symbols)
        i, j = np.nonzero(np.triu(order > 0, 1))
        for a, b, d in zip(i, j, dist[i, j]):
            self.bonded[pair_name(symbols[a], symbols[b])].append(d)
        if n >= 2:
            masked = dist + np.diag(np.full(n, np.inf))
            near = np.argmin(masked, axis=1)
            for a in range(n):
                self.nn[pair_name(symbols[a], symbols[near[a]])].append(masked[a, near[a]])

    def arrays(self):
        import numpy as np
        return ({p: np.array(v) for p, v in self.bonded.items()}, {p: np.array(v) for p, v in self.nn.items()})


def compare(gen, ref):
    """Per-pair W1 and the reference-weighted total of two {pair: distances} maps."""
    total_ref = sum(len(v) for v in ref.values())
    pairs, weighted, covered = {}, 0.0, 0
    for p in PAIRS:
        g, r = gen[p], ref[p]
        if not len(g) and not len(r):
            continue
        entry = {"generated": int(len(g)), "reference": int(len(r)),
                 "weight": len(r) / total_ref if total_ref else 0.0,
                 "generated_mean": float(g.mean()) if len(g) else None,
                 "reference_mean": float(r.mean()) if len(r) else None,
                 "w1": w1(g, r) if len(g) and len(r) else None}
        if entry["w1"] is not None:
            weighted += len(r) * entry["w1"]
            covered += len(r)
        pairs[p] = entry
    # Weights are counts / total_ref; renormalised over the covered pairs (exact 1 when all are).
    total = weighted / covered if covered else None
    # Pairs the reference lacks (H-H bonds, say) weigh 0 in the total: the total variation
    # between the two files' pair frequencies shows them.
    total_gen = sum(len(v) for v in gen.values())
    tv = None
    if total_gen and total_ref:
        tv = 0.5 * sum(abs(len(gen[p]) / total_gen - len(ref[p]) / total_ref) for p in PAIRS)
    return total, covered / total_ref if total_ref else 0.0, tv, pairs


# ---- the whole computation ---------------------------------------------------------------
def analyse(path, thresholds, keep_whole=False):
    """Per frame: (EDM's validity SMILES or None, whole-molecule SMILES or None (keep_whole),
    stable atoms, atoms), and the file's distances."""
    frames = read_xyz(path)
    per, dist_acc = [], Distances()
    for comment, symbols, xyz in frames:
        dist = distances(xyz)
        order = bond_orders(symbols, dist, thresholds)
        sums = order.sum(axis=1)
        stable = sum(int(sums[a] == VALENCE[s]) for a, s in enumerate(symbols))
        dist_acc.add(symbols, dist, order)
        mol = edm_molecule(symbols, order)
        if keep_whole:
            smiles = mol2smiles(mol)
        else:
            smiles = valid_smiles(mol)
        per.append({"smiles": smiles, "stable_atoms": stable, "atoms": len(symbols), "comment": comment,
                    "symbols": symbols})
    return per, dist_acc


def metrics(samples, reference=None, reference_smiles="xyz"):
    """Every number, as a dict (the JSON)."""
    thresholds = _thresholds()
    gen, gen_dist = analyse(samples, thresholds)
    n = len(gen)
    valid = [g["smiles"] for g in gen if g["smiles"] is not None]
    unique = set(valid)
    atoms = sum(g["atoms"] for g in gen)
    out = {
        "samples": samples,
        "molecules": n,
        "atoms": atoms,
        "valid": len(valid),
        "validity": len(valid) / n,
        "unique": len(unique),
        "uniqueness": len(unique) / len(valid) if valid else 0.0,
        "atom_stability": sum(g["stable_atoms"] for g in gen) / atoms,
        "mol_stability": sum(int(g["stable_atoms"] == g["atoms"]) for g in gen) / n,
        "reference": None, "reference_smiles": None, "reference_molecules": None,
        "reference_smiles_count": None, "reference_xyz_agrees": None,
        "novel": None, "novelty": None,
        "bond_w1": None, "bond_w1_coverage": None, "bond_pair_tv": None,
        "nn_w1": None, "nn_w1_coverage": None, "nn_pair_tv": None,
        "bond_pairs": None, "nn_pairs": None,
    }
    if reference is not None:
        ref, ref_dist = analyse(reference, thresholds, keep_whole=True)
        if reference_smiles == "comment":
            ref_set, agrees = set(), 0
            for k, r in enumerate(ref):
                try:
                    smiles, counts = comment_smiles(r["comment"])
                except ValueError:
                    raise InputError("%s: frame %d: the comment line '%s' holds no SMILES "
                                     "(-reference_smiles comment)" % (reference, k, _printable(r["comment"])))
                have = {s: r["symbols"].count(s) for s in set(r["symbols"])}
                if counts != have:
                    raise InputError("%s: frame %d: the comment's SMILES %s does not have the frame's atoms "
                                     "(-reference_smiles comment)" %
                                     (reference, k, _printable(r["comment"].split()[0])))
                if smiles is not None:
                    ref_set.add(smiles)
                agrees += smiles is not None and smiles == r["smiles"]
            out["reference_xyz_agrees"] = agrees
        else:
            ref_set = {r["smiles"] for r in ref if r["smiles"] is not None}
        novel = [s for s in unique if s not in ref_set]
        g_bond, g_nn = gen_dist.arrays()
        r_bond, r_nn = ref_dist.arrays()
        bond_total, bond_cov, bond_tv, bond_pairs = compare(g_bond, r_bond)
        nn_total, nn_cov, nn_tv, nn_pairs = compare(g_nn, r_nn)
        out.update({
            "reference": reference, "reference_smiles": reference_smiles, "reference_molecules": len(ref),
            "reference_smiles_count": len(ref_set),
            "novel": len(novel), "novelty": len(novel) / len(unique) if unique else 0.0,
            "bond_w1": bond_total, "bond_w1_coverage": bond_cov, "bond_pair_tv": bond_tv,
            "nn_w1": nn_total, "nn_w1_coverage": nn_cov, "nn_pair_tv": nn_tv,
            "bond_pairs": bond_pairs, "nn_pairs": nn_pairs,
        })
    out["smiles"] = [g["smiles"] for g in gen]
    out["stable_atoms"] = [g["stable_atoms"] for g in gen]
    out["units"] = "distances and W1 in Angstrom; fractions in [0, 1]"
    out["definitions"] = "jobs/molmetrics.py docstring; docs/diffusion.md"
    return out


def fmt(v):
    return "nan" if v is None else "%.9g" % v


def summary_line(m):
    keys = ["molecules", "validity", "uniqueness"]
    if m["reference"] is not None:
        keys += ["novelty", "bond_w1", "nn_w1"]
    return " ".join("%s=%s" % (k, m[k] if k == "molecules" else fmt(m[k])) for k in keys)


def markdown(m):
    rows = ["| metric | value |", "|---|---:|"]
    names = [("molecules", "molecules"), ("valid", "valid"), ("validity", "validity"), ("unique", "unique SMILES"),
             ("uniqueness", "uniqueness"), ("atom_stability", "atom stability"),
             ("mol_stability", "molecule stability")]
    if m["reference"] is not None:
        names += [("reference_molecules", "reference molecules"),
                  ("reference_smiles_count", "reference SMILES (%s)" % m["reference_smiles"]),
                  ("novel", "novel SMILES"), ("novelty", "novelty"),
                  ("bond_w1", "bond W1 (Å)"), ("bond_w1_coverage", "bond W1 coverage"),
                  ("bond_pair_tv", "bonded pair frequencies, total variation"),
                  ("nn_w1", "nearest-neighbour W1 (Å)"), ("nn_w1_coverage", "nearest-neighbour W1 coverage"),
                  ("nn_pair_tv", "nearest-neighbour pair frequencies, total variation")]
    for key, label in names:
        v = m[key]
        rows.append("| %s | %s |" % (label, v if isinstance(v, int) else fmt(v)))
    text = "# Molecule metrics\n\nsamples: `%s`" % m["samples"]
    if m["reference"] is not None:
        text += ", reference: `%s`" % m["reference"]
    text += "\n\n" + "\n".join(rows) + "\n"
    for key, title in (("bond_pairs", "Bonded distances"), ("nn_pairs", "Nearest-neighbour distances")):
        if not m[key]:
            continue
        text += ("\n## %s (Å)\n\n| pair | weight | generated | reference | mean generated | mean reference | W1 |\n"
                 "|---|---:|---:|---:|---:|---:|---:|\n" % title)
        for p, e in m[key].items():
            text += "| %s | %.4f | %d | %d | %s | %s | %s |\n" % (
                p, e["weight"], e["generated"], e["reference"],
                "–" if e["generated_mean"] is None else "%.4f" % e["generated_mean"],
                "–" if e["reference_mean"] is None else "%.4f" % e["reference_mean"],
                "–" if e["w1"] is None else "%.5f" % e["w1"])
    return text


# ---- command line --------------------------------------------------------------------------
USAGE = """usage: molmetrics.py -samples gen.xyz [-reference train.xyz] [-reference_smiles xyz|comment]
                      [-json out.json] [-md out.md] [-force]"""


def parse(argv):
    opts = {"samples": None, "reference": None, "reference_smiles": "xyz", "json": None, "md": None, "force": False}
    k = 0
    while k < len(argv):
        a = argv[k]
        if a in ("-help", "--help", "-h"):
            print(USAGE + "\n" + __doc__.split("\n\n", 1)[1].split("Definitions")[0].rstrip())
            sys.exit(0)
        if a == "-force":
            opts["force"] = True
            k += 1
            continue
        name = a[1:] if a.startswith("-") else None
        if name not in opts or name == "force":
            raise OptionError("unknown option '%s' (molmetrics.py -help lists them)" % _printable(a))
        if k + 1 >= len(argv) or argv[k + 1] == "":
            raise OptionError("%s: needs a value" % a)
        opts[name] = argv[k + 1]
        k += 2
    if opts["samples"] is None:
        raise OptionError("-samples: required")
    if opts["reference_smiles"] not in ("xyz", "comment"):
        raise OptionError("-reference_smiles %s: expected xyz or comment" % _printable(opts["reference_smiles"]))
    if opts["reference_smiles"] == "comment" and opts["reference"] is None:
        raise OptionError("-reference_smiles comment: needs -reference")
    outputs = [(o, opts[o]) for o in ("json", "md") if opts[o] is not None]
    inputs = [(o, opts[o]) for o in ("samples", "reference") if opts[o] is not None]
    for o, path in outputs:
        for other, ipath in inputs + [x for x in outputs if x[0] != o]:
            if _same(path, ipath):
                raise OptionError("-%s %s: is the %s %s: choose another file (it would be overwritten)" %
                                  (o, path, "input" if other in ("samples", "reference") else "-" + other, ipath))
    return opts


def _same(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def write_outputs(targets):
    """targets: [(path, text)]; each written to a temporary beside it, then all renamed."""
    temps = []
    try:
        for path, text in targets:
            fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".tmp.", dir=os.path.dirname(path) or ".")
            temps.append(tmp)
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
        for (path, _), tmp in zip(targets, temps):
            os.replace(tmp, path)
    except OSError as e:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise InputError("%s: cannot write: %s" % (getattr(e, "filename", None) or targets[len(temps) - 1][0],
                                                     e.strerror or e))


def main(argv):
    try:
        opts = parse(argv)
        for o in ("json", "md"):
            if opts[o] is not None and os.path.lexists(opts[o]) and not opts["force"]:
                raise InputError("%s already exists; pass -force to replace it, or choose another -%s" % (opts[o], o))
        try:
            import numpy  # noqa: F401
            from rdkit import RDLogger
        except ImportError as e:
            # `python3` first on PATH may be a pyenv or venv without them: Debian's has them.
            if os.path.realpath(sys.executable) != os.path.realpath(DEBIAN_PYTHON) and \
                    os.access(DEBIAN_PYTHON, os.X_OK) and not os.environ.get("MOLMETRICS_REEXEC"):
                os.environ["MOLMETRICS_REEXEC"] = "1"
                os.execv(DEBIAN_PYTHON, [DEBIAN_PYTHON, os.path.abspath(__file__)] + argv)
            raise InputError("%s has no RDKit or numpy (Debian: apt-get install python3-rdkit rdkit-data, then run "
                             "%s): %s" % (sys.executable, DEBIAN_PYTHON, e))
        RDLogger.DisableLog("rdApp.*")
        m = metrics(opts["samples"], opts["reference"], opts["reference_smiles"])
        targets = []
        if opts["json"] is not None:
            targets.append((opts["json"], json.dumps(m, indent=1, allow_nan=False) + "\n"))
        if opts["md"] is not None:
            targets.append((opts["md"], markdown(m)))
        write_outputs(targets)
    except OptionError as e:
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        return 2
    except InputError as e:
        sys.stderr.write("%s: error: %s\n" % (PROG, e))
        return 1
    print(summary_line(m), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
