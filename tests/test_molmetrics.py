#!/usr/bin/python3
"""TAP test: jobs/molmetrics.py, EDM's validity, uniqueness and novelty and
the early metric (docs/diffusion.md, "Validity, uniqueness, novelty and the
early metric").

  test_molmetrics.py <source root> <eloss program>

Molecules: the first 30 SMILES of RDKit's NCI sample (first_5K.smi) made
only of H, C, N, O, F, neutral, one fragment, 2 to 9 heavy atoms and no
aromatic atom (EDM's tables have no aromatic bond), embedded with ETKDGv3
(fixed seed) and relaxed with MMFF94. Checked:
- W1 of the script against hand values and scipy's wasserstein_distance;
- the 30: validity 1, uniqueness 1, and every SMILES (EDM's, hydrogens as
  atoms) read back is the input's canonical SMILES;
- the stability the script writes equals `eloss molcheck`'s, molecule by
  molecule, on the same molecules with 0.02 to 0.08 Angstrom of noise
  (the same bond rule in Python and in C);
- 10 duplicates (rotated, translated, atoms shuffled) among 40 molecules
  give uniqueness 30/40; a reference holding 15 of the 30 gives novelty
  15/30, from its coordinates and from its comment lines;
- EDM's largest fragment, an over-valent atom (invalid), and benzene
  (valid, but read back as cyclohexane: its 1.39 Angstrom ring bonds are
  single by EDM's tables);
- W1 of a set against itself is 0; against the same set scaled by 1.05 it
  is 0.05 x the pair's mean distance for every pair (to the files' 1e-6
  Angstrom), and the total 5 % of the weighted mean bond length; a pair
  missing from the samples lowers the coverage and shows in the pair
  frequencies' total variation;
- the script runs as a program (its shebang) as under /usr/bin/python3;
- JSON and Markdown hold the numbers; a truncated XYZ, an unknown element,
  an element outside H, C, N, O, F, an existing output and option errors
  give one error line, a non-zero exit and no output file.
Skips without RDKit (Debian python3-rdkit) or its NCI data (rdkit-data)."""
import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

source_root, eloss_program = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
script = os.path.join(source_root, "jobs", "molmetrics.py")
NCI = "/usr/share/RDKit/Data/NCI/first_5K.smi"
try:
    import numpy as np
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem
except ImportError as e:
    print("1..0 # SKIP RDKit or numpy not importable (%s; Debian python3-rdkit)" % e)
    sys.exit(0)
if not os.path.exists(NCI):
    print("1..0 # SKIP %s missing (apt-get install rdkit-data)" % NCI)
    sys.exit(0)
RDLogger.DisableLog("rdApp.*")
PLAN = 22
print("1..%d" % PLAN, flush=True)
count = failed = 0


def ok(cond, what, skip=None):
    global count, failed
    count += 1
    if skip:
        print("ok %d - %s # SKIP %s" % (count, what, skip), flush=True)
        return
    failed += 0 if cond else 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, what), flush=True)


def run(*args):
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True)


def line(r):
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def canonical(smiles):
    return Chem.MolToSmiles(Chem.MolFromSmiles(smiles), isomericSmiles=False)


def write_xyz(path, frames):
    with open(path, "w") as f:
        for comment, symbols, xyz in frames:
            f.write("%d\n%s\n" % (len(symbols), comment))
            f.write("".join("%s %.6f %.6f %.6f\n" % (s, *p) for s, p in zip(symbols, xyz)))


def molecules(limit=30):
    params = AllChem.ETKDGv3()
    params.randomSeed = 31
    out = []
    for row in open(NCI):
        smi = row.split()[0]
        m = Chem.MolFromSmiles(smi)
        if m is None or "." in smi or not 2 <= m.GetNumHeavyAtoms() <= 9:
            continue
        if any(a.GetSymbol() not in ("C", "N", "O", "F") or a.GetFormalCharge() or a.GetNumRadicalElectrons() or
               a.GetIsAromatic() for a in m.GetAtoms()):
            continue
        if canonical(smi) in (c for c, _, _ in out):
            continue
        m = Chem.AddHs(m)
        if AllChem.EmbedMolecule(m, params) != 0 or AllChem.MMFFOptimizeMolecule(m, maxIters=2000) != 0:
            continue
        out.append((canonical(smi), [a.GetSymbol() for a in m.GetAtoms()], m.GetConformer().GetPositions()))
        if len(out) == limit:
            return out
    return out


work = tempfile.mkdtemp(prefix="molmetrics.")
atexit.register(shutil.rmtree, work, True)
os.chdir(work)
sys.dont_write_bytecode = True
spec = importlib.util.spec_from_file_location("molmetrics", script)
mm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mm)

# ---- W1 ---------------------------------------------------------------------------------------
rng = np.random.default_rng(5)
a, b = rng.normal(1.4, 0.1, 37), rng.normal(1.5, 0.2, 101)
hand = [mm.w1([0.0, 1.0], [0.0]), mm.w1([1.0, 2.0, 3.0], [1.3, 2.3, 3.3]), mm.w1([0.0, 1.0, 2.0], [0.0, 3.0]),
        mm.w1(a, a)]
# [0, 1, 2] vs [0, 3]: quantiles 0 | 0 on (0, 1/3), 1 | 0 on (1/3, 1/2), 1 | 3 on (1/2, 2/3), 2 | 3 on (2/3, 1).
want = [0.5, 0.3, 1 / 6 + 2 / 6 + 1 / 3, 0.0]
try:
    from scipy.stats import wasserstein_distance
    ref_scipy = wasserstein_distance(a, b)
except ImportError:
    ref_scipy = None
ok(all(abs(h - w) < 1e-12 for h, w in zip(hand, want)) and hand[3] == 0.0 and
   (ref_scipy is None or abs(mm.w1(a, b) - ref_scipy) < 1e-12),
   "W1 on the common quantile grid: hand values %s, 37 vs 101 normal draws %.12f%s" %
   (["%.6g" % h for h in hand], mm.w1(a, b), "" if ref_scipy is None else " (scipy %.12f)" % ref_scipy))

# ---- the 30 molecules -----------------------------------------------------------------------
mols = molecules()
if len(mols) < 30:
    print("Bail out! only %d usable NCI molecules" % len(mols))
    sys.exit(1)
print("# %d molecules, %d to %d atoms: %s ..." % (len(mols), min(len(s) for _, s, _ in mols),
                                                  max(len(s) for _, s, _ in mols), " ".join(c for c, _, _ in mols[:6])))
write_xyz("set.xyz", mols)
r = run("-samples", "set.xyz", "-json", "set.json", "-md", "set.md")
s = line(r) if r.returncode == 0 else {}
ok(r.returncode == 0 and r.stderr == "" and r.stdout.count("\n") == 1 and
   list(s) == ["molecules", "validity", "uniqueness"] and s == {"molecules": "30", "validity": "1", "uniqueness": "1"},
   "30 non-aromatic NCI molecules: %s" % (r.stdout.strip() or r.stderr.strip()))
direct = subprocess.run([script, "-samples", "set.xyz"], capture_output=True, text=True)
with open(script) as f:
    shebang = f.readline().strip()
ok(os.access(script, os.X_OK) and shebang == "#!/usr/bin/env python3" and direct.returncode == 0 and
   direct.stdout == r.stdout,
   "run as a program (%s, the python3 on PATH, which hands over to /usr/bin/python3 without RDKit): the same line" %
   shebang)
got = json.load(open("set.json")) if r.returncode == 0 else {"smiles": []}
back = [canonical(x) if x else None for x in got["smiles"]]
differ = [(c, x) for (c, _, _), x in zip(mols, back) if c != x]
ok(len(back) == 30 and not differ,
   "every SMILES read back is the input's canonical SMILES (%d differ%s); EDM's strings keep the hydrogens: %s" %
   (len(differ), ": %s" % differ[:3] if differ else "", got["smiles"][0] if got["smiles"] else None))
ok(got.get("valid") == 30 and got.get("unique") == 30 and got.get("novelty", 0) is None and
   got.get("bond_w1", 0) is None and got.get("atom_stability") == 1.0 and got.get("mol_stability") == 1.0,
   "JSON without -reference: 30 valid, 30 unique, novelty and W1 null, stability 1")

rng = np.random.default_rng(7)
noisy = [(c, sym, x + rng.normal(0, sigma, x.shape)) for sigma in (0.02, 0.04, 0.06, 0.08) for c, sym, x in mols]
write_xyz("noisy.xyz", noisy)
r = run("-samples", "noisy.xyz", "-json", "noisy.json")
if os.access(eloss_program, os.X_OK):
    e = subprocess.run([eloss_program, "molcheck", "-in", "noisy.xyz", "-csv", "noisy.csv"], capture_output=True,
                       text=True)
    js = json.load(open("noisy.json")) if r.returncode == 0 else {}
    mine = "atom_stability=%.9g mol_stability=%.9g" % (js.get("atom_stability", -1), js.get("mol_stability", -1))
    csv = [int(row.split(",")[2]) for row in open("noisy.csv").read().splitlines()[1:]] if e.returncode == 0 else []
    ok(r.returncode == 0 and e.returncode == 0 and e.stdout.split()[2:] == mine.split() and js["mol_stability"] < 1 and
       csv == js["stable_atoms"],
       "0.02-0.08 A of noise, 120 molecules: the script's stable atoms = eloss molcheck's, molecule by molecule (%s)" %
       e.stdout.strip())
else:
    ok(True, "stability = eloss molcheck's", skip="no eloss program at %s" % eloss_program)

# ---- uniqueness and novelty --------------------------------------------------------------------
def moved(frame, seed):
    c, sym, x = frame
    g = np.random.default_rng(seed)
    q, _ = np.linalg.qr(g.normal(size=(3, 3)))
    p = g.permutation(len(sym))
    return c, [sym[k] for k in p], (x @ q.T + g.normal(0, 5, 3))[p]


dups = mols + [moved(mols[k], 100 + k) for k in range(10)]
write_xyz("dups.xyz", dups)
write_xyz("half.xyz", mols[:15])
r = run("-samples", "dups.xyz", "-reference", "half.xyz", "-json", "dups.json")
s = line(r) if r.returncode == 0 else {}
js = json.load(open("dups.json")) if r.returncode == 0 else {}
ok(s.get("molecules") == "40" and s.get("validity") == "1" and s.get("uniqueness") == "%.9g" % (30 / 40) and
   js.get("unique") == 30,
   "10 duplicates (rotated, moved, atoms shuffled) among 40: uniqueness 30/40: %s" % r.stdout.strip())
ok(s.get("novelty") == "0.5" and js.get("novel") == 15 and js.get("reference_smiles_count") == 15,
   "a reference holding 15 of the 30 (SMILES from its coordinates): novelty 15/30 = %s" % s.get("novelty"))
r = run("-samples", "set.xyz", "-reference", "half.xyz", "-reference_smiles", "comment", "-json", "comment.json")
js = json.load(open("comment.json")) if r.returncode == 0 else {}
ok(r.returncode == 0 and line(r).get("novelty") == "0.5" and js.get("reference_xyz_agrees") == 15,
   "the same reference read from its comment lines: novelty %s, all 15 comment SMILES = the coordinates' (%s)" %
   (line(r).get("novelty") if r.returncode == 0 else r.stderr.strip(), js.get("reference_xyz_agrees")))


# ---- EDM's largest fragment, an invalid molecule, benzene ------------------------------------------------
def embed(smiles, seed=3):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(m, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(m, maxIters=2000)
    return [a.GetSymbol() for a in m.GetAtoms()], m.GetConformer().GetPositions()


eth_s, eth_x = embed("CCO")
wat_s, wat_x = embed("O")
meth_s, meth_x = embed("C")
benz_s, benz_x = embed("c1ccccc1")
# A fifth H 1.05 A from the C, opposite the first H: 1.2 A or more from the others (no H-H bond).
anti = -(meth_x[1] - meth_x[0]) / np.linalg.norm(meth_x[1] - meth_x[0])
frames = [("ethanol between two waters", wat_s + eth_s + wat_s,
           np.vstack([wat_x + [8.0, 0, 0], eth_x, wat_x - [8.0, 0, 0]])),
          ("methane with a fifth H", meth_s + ["H"], np.vstack([meth_x, meth_x[0] + 1.05 * anti])),
          ("benzene", benz_s, benz_x)]
write_xyz("odd.xyz", frames)
r = run("-samples", "odd.xyz", "-json", "odd.json")
js = json.load(open("odd.json")) if r.returncode == 0 else {"smiles": [None] * 3}
ring = [np.linalg.norm(benz_x[i] - benz_x[(i + 1) % 6]) for i in range(6)]
ok(js["smiles"][0] == "[H]OC([H])([H])C([H])([H])[H]" and js["smiles"][1] is None and
   js["smiles"][2] is not None and canonical(js["smiles"][2]) == "C1CCCCC1" and
   line(r).get("validity") == "%.9g" % (2 / 3),
   "ethanol between two waters 8 A away: the largest fragment %s; CH4 + a fifth H at 1.05 A: invalid (%s); "
   "benzene (C-C %.4f-%.4f A, EDM's C=C below 1.39): valid as %s; validity %s" %
   (js["smiles"][0], js["smiles"][1], min(ring), max(ring), js["smiles"][2], line(r).get("validity")))

# ---- W1 ----------------------------------------------------------------------------------------------
r = run("-samples", "set.xyz", "-reference", "set.xyz", "-json", "self.json", "-md", "self.md")
js = json.load(open("self.json")) if r.returncode == 0 else {}
ok(r.returncode == 0 and line(r).get("bond_w1") == "0" and line(r).get("nn_w1") == "0" and
   js["bond_w1_coverage"] == 1 and js["nn_w1_coverage"] == 1 and js["bond_pair_tv"] == 0 and js["nn_pair_tv"] == 0 and
   all(e["w1"] == 0 for e in list(js["bond_pairs"].values()) + list(js["nn_pairs"].values())) and
   line(r).get("novelty") == "0",
   "the set against itself: bond_w1 = nn_w1 = 0 for every pair, pair frequencies equal, novelty 0: %s" %
   r.stdout.strip())
write_xyz("scaled.xyz", [(c, sym, 1.05 * x) for c, sym, x in mols])
r = run("-samples", "scaled.xyz", "-reference", "set.xyz", "-json", "scaled.json", "-md", "scaled.md")
js = json.load(open("scaled.json")) if r.returncode == 0 else {"bond_pairs": {}, "nn_pairs": {}}
for kind in ("bond", "nn"):
    pairs = js[kind + "_pairs"]
    same = {p: e for p, e in pairs.items() if e["generated"] == e["reference"]}
    worst = max((abs(e["w1"] - 0.05 * e["reference_mean"]) for e in same.values()), default=1)
    mean = sum(e["weight"] * e["reference_mean"] for e in pairs.values())
    total = js.get(kind + "_w1") or 0
    # The files hold 6 decimals: distances are exact to ~1e-6 A.
    ok(r.returncode == 0 and len(same) == len(pairs) >= 4 and worst < 5e-6 and abs(total / mean - 0.05) < 5e-6,
       "scaled by 1.05, %s distances: every pair's W1 = 0.05 x its mean (%s; worst %.1e A), total %.6f A = %.4f %% of "
       "the weighted mean %.4f A" % (kind, ", ".join("%s %.4f" % (p, e["w1"]) for p, e in list(pairs.items())[:5]),
                                    worst, total, 100 * total / mean, mean))
md = open("scaled.md").read() if os.path.exists("scaled.md") else ""
ok("| bond W1 (Å) | %.9g |" % js.get("bond_w1", 0) in md and "## Bonded distances" in md and
   "## Nearest-neighbour distances" in md and "| C-H |" in md,
   "the Markdown table holds the totals and one row per pair")
no_n = [(c, sym, x) for c, sym, x in mols if "N" not in sym]
write_xyz("no_n.xyz", no_n)
r = run("-samples", "no_n.xyz", "-reference", "set.xyz", "-json", "no_n.json")
js = json.load(open("no_n.json")) if r.returncode == 0 else {}
missing = sum(e["weight"] for e in js.get("bond_pairs", {}).values() if e["w1"] is None)
ok(r.returncode == 0 and js["bond_pairs"]["C-N"]["w1"] is None and abs(js["bond_w1_coverage"] + missing - 1) < 1e-12
   and missing > 0 and js["bond_pair_tv"] > 0,
   "samples without N against a reference with N: C-N and N-H have no W1, coverage %.4f = 1 - their weight, "
   "pair frequencies' total variation %.4f" % (js.get("bond_w1_coverage", -1), js.get("bond_pair_tv", -1)))


# ---- bad input ------------------------------------------------------------------------------------------
def refused(args, code, needle, what, outputs=("out.json", "out.md")):
    before = set(os.listdir("."))
    r = run(*args)
    lines = r.stderr.splitlines()
    left = set(os.listdir(".")) - before
    ok(r.returncode == code and len(lines) == 1 and lines[0].startswith("molmetrics: error: ") and needle in lines[0]
       and r.stdout == "" and not left and not any(os.path.exists(o) for o in outputs),
       "%s: exit %d, nothing written: %s" % (what, r.returncode, r.stderr.strip()))


text = open("set.xyz").read().splitlines()
open("truncated.xyz", "w").write("\n".join(text[:-2]) + "\n")
refused(["-samples", "set.xyz", "-reference", "truncated.xyz", "-json", "out.json", "-md", "out.md"], 1,
        "truncated.xyz: truncated: frame 29 promises %d atoms, found %d" % (len(mols[-1][1]), len(mols[-1][1]) - 2),
        "a truncated reference")
open("unknown.xyz", "w").write("2\nXx\nC 0 0 0\nXx 1.1 0 0\n")
refused(["-samples", "unknown.xyz", "-json", "out.json", "-md", "out.md"], 1, "unknown.xyz:4: unknown element 'Xx'",
        "an unknown element")
open("sulphur.xyz", "w").write("3\nH2S\nS 0 0 0\nH 1.336 0 0\nH 0 1.336 0\n")
refused(["-samples", "sulphur.xyz", "-json", "out.json"], 1,
        "sulphur.xyz: molecule 0, atom 0 has atomic number 16, not one of H, C, N, O, F",
        "an element outside the tables")
keep = open("set.json").read()
refused(["-samples", "noisy.xyz", "-json", "set.json"], 1, "set.json already exists; pass -force", "an existing -json",
        outputs=())
kept = open("set.json").read() == keep
r = run("-samples", "noisy.xyz", "-json", "set.json", "-force")
ok(kept and r.returncode == 0 and json.load(open("set.json"))["mol_stability"] < 1,
   "an existing -json is left alone without -force and replaced with it")
refused(["-json", "out.json"], 2, "-samples: required", "no -samples")
refused(["-samples", "set.xyz", "-md", "./set.xyz"], 2, "-md ./set.xyz: is the input set.xyz", "-md naming the input",
        outputs=("out.md",))
sys.exit(1 if failed or count != PLAN else 0)
