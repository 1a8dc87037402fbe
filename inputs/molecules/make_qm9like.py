#!/usr/bin/python3
"""Build a QM9-like molecule set from the NCI molecules RDKit ships
(docs/molecules.md, "The QM9-like set").

QM9 (every stable molecule of at most 9 heavy atoms C, N, O, F, with DFT
geometries) cannot be downloaded here. This script writes a stand-in of
the same kind: neutral closed-shell molecules of at most 9 heavy atoms
from {C, N, O, F}, hydrogens explicit, one 3D conformer each.

Recipe:
  1. Read the NCI SMILES (Debian's rdkit-data: first_5K.smi), kekulise
     (molecules RDKit cannot read or kekulise are left out).
     An atom is usable when it is C, N, O or F, uncharged, not a radical,
     not an isotope.
  2. Candidates, in a fixed order: the parents in a seeded random order;
     for each parent, first every connected component made only of usable
     atoms with at most 9 of them (the small molecules themselves), then
     FRAGMENTS random connected subgraphs of usable atoms: a random start
     atom grown by random neighbours up to a size k drawn with P(k) ~ 2^k,
     k = 1..9 (QM9, like every exhaustive enumeration, is dominated by its
     largest molecules); a neighbour in a ring brings the rest of its
     smallest ring along with probability RING_CLOSE when it fits (else
     rings would mostly be cut open). A subgraph keeps the parent's
     (Kekule) bonds between its atoms; every cut bond is capped with
     hydrogen (the atoms are rebuilt bare and RDKit's sanitisation adds the
     implicit H). A candidate must sanitise, be neutral with no radical,
     and its stereo-free canonical SMILES must be new (deduplication across
     the whole set). When a pass over the parents gives too few molecules,
     another pass draws new fragments (its own random streams).
  3. Each candidate, in order: hydrogens added, one ETKDGv3 conformer
     (random seed SEED), MMFF94 optimisation (at most 2000 iterations),
     centred on its centroid. The conformer fails when embedding fails,
     MMFF has no parameters, does not converge or ends with a gradient
     component above 0.1 kcal/mol/A (a stuck minimiser), or when the bonds
     perceived from the coordinates (d <= 1.3 (r_i + r_j), RDKit's
     covalent radii: the rule of RDKit's DetermineConnectivity and
     xyz2mol) are not the molecule's graph; then seeds SEED + 1 and
     SEED + 2 are tried, and after three failures the candidate is
     skipped. The first COUNT molecules that pass are the set.
  4. Split by molecule with a seeded permutation: 80 % train, 10 % valid,
     10 % test (each split in the permutation's order).

Outputs in OUT (written whole, each through a temporary and a rename):
  train.xyz valid.xyz test.xyz   multi-frame XYZ: atom count, the canonical
                                 SMILES, then "Sym x y z" lines (Angstrom);
                                 atoms in the order of the SMILES, then H
  summary.json                   counts, atoms per molecule, elements, the
                                 training split's histogram of atom counts,
                                 what was skipped and why

The files are a function of (--count, --seed, the NCI file, RDKit's
version): the same bytes for any --procs, run after run.

  /usr/bin/python3 inputs/molecules/make_qm9like.py [--out DIR] [--count N]
                   [--seed S] [--procs P] [--source FILE]
"""
import argparse
import hashlib
import json
import multiprocessing
import os
import sys
import time

import numpy as np
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import AllChem

MAX_HEAVY = 9
ELEMENTS = (6, 7, 8, 9)            # C N O F
FRAGMENTS = 8                      # random subgraphs per parent and pass
MAX_PASSES = 40
RING_CLOSE = 0.5                   # chance that a ring atom brings its whole ring
COV_FACTOR = 1.3                   # RDKit DetermineConnectivity's default
MMFF_ITERS = 2000
MMFF_GRAD_MAX = 0.1                # kcal/mol/A, largest gradient component after MMFF
ATTEMPTS = 3                       # ETKDG seeds SEED, SEED + 1, SEED + 2
SPLITS = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
DEFAULT_SOURCE = "/usr/share/RDKit/Data/NCI/first_5K.smi"
SIZE_CDF = np.cumsum([2.0 ** k for k in range(1, MAX_HEAVY + 1)])
SIZE_CDF /= SIZE_CDF[-1]

RDLogger.DisableLog("rdApp.*")

_parents = []       # kekulised parent molecules (set before the workers fork)
_usable = []        # per parent: the sorted usable atom indices
_seed = 0


def usable_atom(a):
    return (a.GetAtomicNum() in ELEMENTS and a.GetFormalCharge() == 0 and
            a.GetNumRadicalElectrons() == 0 and a.GetIsotope() == 0)


def load_parents(path):
    parents, usable = [], []
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            m = Chem.MolFromSmiles(fields[0])
            if m is None:
                continue
            try:
                Chem.Kekulize(m, clearAromaticFlags=True)
            except Exception:  # noqa: BLE001 - RDKit raises several kinds
                continue
            parents.append(m)
            usable.append([a.GetIdx() for a in m.GetAtoms() if usable_atom(a)])
    return parents, usable


def subgraph_smiles(m, atoms):
    """Canonical SMILES of the induced subgraph on atoms, capped with H;
    None when it is no valid neutral closed-shell molecule."""
    keep = set(atoms)
    rw = Chem.RWMol()
    index = {}
    for i in sorted(keep):
        index[i] = rw.AddAtom(Chem.Atom(m.GetAtomWithIdx(i).GetAtomicNum()))
    for b in m.GetBonds():
        i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
        if i in keep and j in keep:
            rw.AddBond(index[i], index[j], b.GetBondType())
    try:
        Chem.SanitizeMol(rw)
    except Exception:  # noqa: BLE001 - valence errors and friends
        return None
    if any(a.GetFormalCharge() or a.GetNumRadicalElectrons() for a in rw.GetAtoms()):
        return None
    smi = Chem.MolToSmiles(rw, isomericSmiles=False)
    # The stored SMILES must read back to itself (the XYZ atom order is its order).
    back = Chem.MolFromSmiles(smi)
    if back is None or Chem.MolToSmiles(back, isomericSmiles=False) != smi:
        return None
    return smi


def parent_candidates(job):
    """The candidate SMILES of one parent in one pass, in draw order."""
    p, npass = job
    m, usable = _parents[p], _usable[p]
    out = []
    if not usable:
        return out
    ok = set(usable)
    if npass == 0:
        for comp in Chem.GetMolFrags(m):
            if len(comp) <= MAX_HEAVY and all(i in ok for i in comp):
                smi = subgraph_smiles(m, comp)
                if smi:
                    out.append(smi)
    rng = np.random.default_rng([_seed, npass, p])
    neighbours = {i: sorted(n.GetIdx() for n in m.GetAtomWithIdx(i).GetNeighbors()) for i in usable}
    # Per atom, its smallest ring made only of usable atoms.
    ring_of = {}
    for ring in sorted(m.GetRingInfo().AtomRings(), key=len):
        if all(i in ok for i in ring):
            for i in ring:
                ring_of.setdefault(i, sorted(ring))
    for _ in range(FRAGMENTS):
        k = 1 + int(np.searchsorted(SIZE_CDF, rng.random(), side="right"))
        start = usable[int(rng.integers(len(usable)))]
        chosen, frontier = set(), set()
        grow = [start]
        while True:
            for i in grow:
                chosen.add(i)
                frontier.update(neighbours[i])
            if len(chosen) >= k:
                break
            options = sorted(i for i in frontier if i in ok and i not in chosen)
            if not options:
                break
            nxt = options[int(rng.integers(len(options)))]
            grow = [nxt]
            # A ring atom brings its whole ring with probability RING_CLOSE
            # when the ring fits: open chains cut out of rings would
            # otherwise crowd out the rings themselves.
            rest = [i for i in ring_of.get(nxt, ()) if i not in chosen]
            if rest and len(chosen) + len(rest) <= k and rng.random() < RING_CLOSE:
                grow = rest
        smi = subgraph_smiles(m, chosen)
        if smi:
            out.append(smi)
    return out


def bond_graph(symbols, xyz, radius, factor, extra):
    """Pairs (i, j), i < j, with d_ij <= factor (r_i + r_j) + extra."""
    r = np.array([radius[s] for s in symbols])
    d = np.sqrt(((xyz[:, None, :] - xyz[None, :, :]) ** 2).sum(-1))
    lim = factor * (r[:, None] + r[None, :]) + extra
    i, j = np.nonzero(np.triu(d <= lim, 1))
    return set(zip(i.tolist(), j.tolist()))


PT = Chem.GetPeriodicTable()
RDKIT_RCOV = {s: PT.GetRcovalent(s) for s in ("H", "C", "N", "O", "F")}
# eloss's own rule (lib/atoms/edges.c): Cordero et al. 2008 radii + 0.45 A.
CORDERO = {"H": 0.31, "C": 0.76, "N": 0.71, "O": 0.66, "F": 0.57}


def embed_once(smi, seed):
    """(symbols, coordinates, eloss rule agrees) or the reason of failure."""
    m = Chem.AddHs(Chem.MolFromSmiles(smi))
    params = AllChem.ETKDGv3()
    params.randomSeed = seed
    params.numThreads = 1
    if AllChem.EmbedMolecule(m, params) != 0:
        return "embedding"
    props = AllChem.MMFFGetMoleculeProperties(m)
    if props is None or not AllChem.MMFFHasAllMoleculeParams(m):
        return "mmff_parameters"
    ff = AllChem.MMFFGetMoleculeForceField(m, props)
    # Minimize's 0 is not enough: from an embedding with a nearly linear
    # sp2 angle MMFF's gradient is huge (1e6 kcal/mol/A) and the minimiser
    # stops at once reporting convergence, bonds still 1.4 A long.
    if ff.Minimize(maxIts=MMFF_ITERS) != 0 or max(abs(g) for g in ff.CalcGrad()) > MMFF_GRAD_MAX:
        return "mmff_not_converged"
    xyz = m.GetConformer().GetPositions()
    xyz = xyz - xyz.mean(axis=0)
    symbols = [a.GetSymbol() for a in m.GetAtoms()]
    graph = {tuple(sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))) for b in m.GetBonds()}
    if bond_graph(symbols, xyz, RDKIT_RCOV, COV_FACTOR, 0.0) != graph:
        return "connectivity"
    return symbols, xyz, bond_graph(symbols, xyz, CORDERO, 1.0, 0.45) == graph


def embed(smi):
    """(smi, symbols, coordinates, eloss rule agrees, attempts) or (smi, reason)."""
    for attempt in range(ATTEMPTS):
        r = embed_once(smi, (_seed + attempt) % 2 ** 31)
        if not isinstance(r, str):
            return (smi, *r, attempt + 1)
    return smi, r


def init_worker(seed):
    global _seed
    _seed = seed


def frame(smi, symbols, xyz):
    lines = [str(len(symbols)), smi]
    lines += ["%-2s %12.6f %12.6f %12.6f" % (s, x + 0.0, y + 0.0, z + 0.0) for s, (x, y, z) in zip(symbols, xyz)]
    return "\n".join(lines) + "\n"


def write_atomic(path, text):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def build(args, pool):
    order = np.random.default_rng([args.seed, 0x9A]).permutation(len(_parents)).tolist()
    mapper = pool.imap if pool else map
    seen, accepted = set(), []
    stats = {"parents": len(_parents), "passes": 0, "candidates_drawn": 0, "candidates_embedded": 0,
             "skipped": {"embedding": 0, "mmff_parameters": 0, "mmff_not_converged": 0, "connectivity": 0}}
    block = 64  # parents per round trip; any value gives the same files
    for npass in range(MAX_PASSES):
        stats["passes"] = npass + 1
        new_in_pass = 0
        for b0 in range(0, len(order), block):
            jobs = [(p, npass) for p in order[b0:b0 + block]]
            fresh = []
            for cands in mapper(parent_candidates, jobs):
                stats["candidates_drawn"] += len(cands)
                for smi in cands:
                    if smi not in seen:
                        seen.add(smi)
                        fresh.append(smi)
            new_in_pass += len(fresh)
            # Embed in slices a little larger than what is still missing,
            # so that little is computed past the last molecule needed.
            while fresh and len(accepted) < args.count:
                size = (args.count - len(accepted)) * 6 // 5 + 8
                for r in mapper(embed, fresh[:size]):
                    if len(accepted) == args.count:
                        break
                    stats["candidates_embedded"] += 1
                    if len(r) == 2:
                        stats["skipped"][r[1]] += 1
                    else:
                        accepted.append(r)
                fresh = fresh[size:]
            if len(accepted) == args.count:
                return accepted, stats
        if new_in_pass == 0:
            break
    sys.exit("make_qm9like: only %d molecules after %d passes over %d parents (asked for %d)" %
             (len(accepted), stats["passes"], len(_parents), args.count))


def main():
    global _parents, _usable, _seed
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(here, "..", "..", "data", "qm9like"),
                    help="output directory (default: data/qm9like of the repository)")
    ap.add_argument("--count", type=int, default=8000, help="molecules wanted (default 8000)")
    ap.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1,
                    help="worker processes (default: the CPU count); the files do not depend on it")
    ap.add_argument("--source", default=DEFAULT_SOURCE, help="NCI SMILES file (default %s)" % DEFAULT_SOURCE)
    args = ap.parse_args()
    if args.count < 10:
        ap.error("--count must be at least 10 (one molecule per split at least)")
    if not 0 <= args.seed < 2 ** 31:
        ap.error("--seed must be in [0, 2^31)")
    if args.procs < 1:
        ap.error("--procs must be at least 1")
    if not os.path.isfile(args.source):
        sys.exit("make_qm9like: %s not found (Debian package rdkit-data)" % args.source)
    os.makedirs(args.out, exist_ok=True)

    t0 = time.time()
    _seed = args.seed
    _parents, _usable = load_parents(args.source)
    if args.procs > 1:
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(args.procs, initializer=init_worker, initargs=(args.seed,)) as pool:
            accepted, stats = build(args, pool)
    else:
        accepted, stats = build(args, None)

    perm = np.random.default_rng([args.seed, 0x5B]).permutation(len(accepted)).tolist()
    n_train = int(round(SPLITS[0][1] * len(accepted)))
    n_valid = int(round(SPLITS[1][1] * len(accepted)))
    parts = {"train": perm[:n_train], "valid": perm[n_train:n_train + n_valid], "test": perm[n_train + n_valid:]}

    natoms = np.array([len(r[1]) for r in accepted])
    nheavy = np.array([sum(s != "H" for s in r[1]) for r in accepted])
    elements = {}
    for r in accepted:
        for s in r[1]:
            elements[s] = elements.get(s, 0) + 1
    total = int(natoms.sum())
    mols = [Chem.MolFromSmiles(r[0]) for r in accepted]
    train_atoms = natoms[parts["train"]]
    with open(args.source, "rb") as f:
        source_sha = hashlib.sha256(f.read()).hexdigest()
    summary = {
        "what": "QM9-like molecules: fragments of RDKit's NCI set, <= 9 heavy atoms C N O F, neutral, "
                "explicit H, ETKDGv3 + MMFF94 (inputs/molecules/make_qm9like.py)",
        "count": len(accepted), "seed": args.seed,
        "source": os.path.basename(args.source), "source_sha256": source_sha, "rdkit": rdBase.rdkitVersion,
        "splits": {k: len(v) for k, v in parts.items()},
        "atoms_mean": round(float(natoms.mean()), 3), "atoms_max": int(natoms.max()),
        "atoms_min": int(natoms.min()),
        "heavy_atoms_mean": round(float(nheavy.mean()), 3),
        "heavy_atoms_histogram": {str(k): int((nheavy == k).sum()) for k in range(1, MAX_HEAVY + 1)},
        "elements": {s: elements.get(s, 0) for s in ("H", "C", "N", "O", "F")},
        "element_shares": {s: round(elements.get(s, 0) / total, 4) for s in ("H", "C", "N", "O", "F")},
        "train_atoms_histogram": {str(k): int((train_atoms == k).sum())
                                  for k in range(int(natoms.min()), int(natoms.max()) + 1)},
        "with_ring": sum(m.GetRingInfo().NumRings() > 0 for m in mols),
        "aromatic": sum(any(a.GetIsAromatic() for a in m.GetAtoms()) for m in mols),
        "eloss_bonds_agree": int(sum(r[3] for r in accepted)),
        "embedding_attempts": {str(k): int(sum(r[4] == k for r in accepted)) for k in range(1, ATTEMPTS + 1)},
        **stats,
    }
    for name, idx in parts.items():
        write_atomic(os.path.join(args.out, name + ".xyz"),
                     "".join(frame(*accepted[i][:3]) for i in idx))
    write_atomic(os.path.join(args.out, "summary.json"), json.dumps(summary, indent=1) + "\n")
    print("make_qm9like: %d molecules (train %d, valid %d, test %d) in %s; atoms mean %.2f max %d; "
          "%.1f s on %d process(es)" % (len(accepted), len(parts["train"]), len(parts["valid"]),
                                        len(parts["test"]), os.path.normpath(args.out), natoms.mean(),
                                        natoms.max(), time.time() - t0, args.procs))


if __name__ == "__main__":
    main()
