#!/usr/bin/python3
"""TAP test of the Python binding (python/eloss).

  test_python.py <source root> <libeloss.so> <eloss program> <version>

Against PyTorch autograd on the formulas written out below from
docs/loss.md, docs/spinloss.md and the paper (never by calling eloss), in
float64, to 1e-10 relative:
the value and gradient of the energy loss (Eq. 7) for 5 coefficient laws x
4 edge sets (complete, explicit, regular, bonds) x d = 2, 3, with k0,
per_atom, dmin and padded batches; MSE, MAE and Kabsch-aligned MSE; every
spin loss on open, periodic and L = 2 periodic lattices, flip-invariant ce
and margin. Then: a PyTorch training step through eloss.torch equals one
through the autograd formulas (parameters after 3 SGD steps); the Python
values equal `eloss loss` and `eloss spinloss` bit for bit; bad arrays and
options raise eloss.Error with the library's message and the process goes
on; a gradient 1e-9 off is caught by the comparison. Skips with a message
without python3-numpy (whole test) or python3-torch (torch parts)."""
import os
import subprocess
import sys
import tempfile

source_root, library, eloss_program, version = sys.argv[1:5]
library, eloss_program = os.path.abspath(library), os.path.abspath(eloss_program)
os.environ["ELOSS_LIBRARY"] = library
sys.path.insert(0, os.path.join(source_root, "python"))

count = 0
failed = 0


def ok(cond, what, detail=""):
    global count, failed
    count += 1
    if not cond:
        failed += 1
    print("%s %d - %s%s" % ("ok" if cond else "not ok", count, what, (" (" + detail + ")") if detail else ""),
          flush=True)


def skip(what, why):
    global count
    count += 1
    print("ok %d - %s # SKIP %s" % (count, what, why), flush=True)


try:
    import numpy as np
except ImportError:
    print("1..0 # SKIP python3-numpy is not installed (jobs/local test installs it)")
    sys.exit(0)

import eloss

ok("torch" not in sys.modules and eloss.__version__ == version and os.path.samefile(eloss.library_path, library),
   "import eloss loads ELOSS_LIBRARY, imports no torch, reports version %s" % version)

try:
    import torch
    torch.set_default_dtype(torch.float64)
    import eloss.torch as elt
    have_torch = True
except ImportError:
    have_torch = False
    why_no_torch = "python3-torch is not installed (jobs/local test installs it)"

TOL = 1e-10
rng = np.random.default_rng(2385)


def rel_err(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-300)
    return float(np.max(np.abs(got - want))) / scale if want.size else 0.0


def agree(got, want):
    """(loss, grad) pairs agree to TOL relative; returns (bool, text)."""
    e_loss, e_grad = rel_err(got[0], want[0]), rel_err(got[1], want[1])
    return e_loss <= TOL and e_grad <= TOL and got[1].shape == want[1].shape, \
        "loss rel %.1e, grad rel %.1e" % (e_loss, e_grad)


def autograd(fn, x):
    """fn's value and gradient at x (ndarray) through PyTorch autograd."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    value = fn(t)
    value.backward()
    return float(value), t.grad.numpy()


# ---- reference formulas (docs/loss.md, paper Eq. 7) --------------------------

def coefficient(law, d, dmin):
    """k(d) of Eq. 7; laws that decay as a power see max(d, dmin)."""
    r = torch.clamp(d, min=dmin)
    return {"constant": torch.ones_like(d), "exp_dist": torch.exp(-d), "inv_dist": 1 / r,
            "inv_dist2": 1 / r ** 2, "lj": 72 / r ** 2}[law]


def energy_reference(ref, edge_lists, law, k0=1.0, per_atom=False, dmin=1e-6, natoms=None):
    """E = sum over the edges (one row per unordered pair) of k (d - d^)^2,
    mean over structures; edge_lists[b] None = every ordered pair i != j
    with Eq. 7's 1/2."""
    B, N, _ = ref.shape
    ref_t = torch.tensor(ref)

    def loss(pred):
        total = 0
        for b in range(B):
            n = N if natoms is None else int(natoms[b])
            if edge_lists[b] is None:
                pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
                half = 0.5
            else:
                pairs = [tuple(e) for e in edge_lists[b]]
                half = 1.0
            if not pairs:
                continue
            i = torch.tensor([int(p[0]) for p in pairs], dtype=torch.long)
            j = torch.tensor([int(p[1]) for p in pairs], dtype=torch.long)
            d = (ref_t[b, i] - ref_t[b, j]).norm(dim=-1)
            dh = (pred[b, i] - pred[b, j]).norm(dim=-1)
            e = half * (k0 * coefficient(law, d, dmin) * (d - dh) ** 2).sum()
            total = total + (e / n if per_atom else e)
        return total / B
    return loss


def mse_reference(ref):
    return lambda pred: ((pred - torch.tensor(ref)) ** 2).mean()


def mae_reference(ref):
    return lambda pred: (pred - torch.tensor(ref)).abs().mean()


def kabsch_reference(ref):
    """Mean over coordinates of |p_i - (R q_i + mean p)|^2, q the centred
    reference, R the proper rotation maximising tr(R sum_i q_i p_i^T),
    held fixed (no gradient through the SVD)."""
    ref_t = torch.tensor(ref)

    def loss(pred):
        total = 0
        for b in range(pred.shape[0]):
            p, q = pred[b], ref_t[b] - ref_t[b].mean(0)
            with torch.no_grad():
                U, _, Vt = torch.linalg.svd(q.T @ (p - p.mean(0)))
                V = Vt.T
                D = torch.eye(p.shape[1])
                D[-1, -1] = torch.sign(torch.det(V @ U.T))
                R = V @ D @ U.T
            total = total + ((p - (q @ R.T + p.mean(0))) ** 2).sum()
        return total / pred.numel()
    return loss


# Cordero et al. (2008) covalent radii in Angstrom, of the elements used here.
COVALENT = {1: 0.31, 6: 0.76, 7: 0.71, 8: 0.66}


def bonds_of(ref_b, elements_b, tolerance=0.45):
    n = len(elements_b)
    return np.array([(i, j) for i in range(n) for j in range(i + 1, n)
                     if np.linalg.norm(ref_b[i] - ref_b[j]) < COVALENT[elements_b[i]] + COVALENT[elements_b[j]]
                     + tolerance], dtype=np.int64).reshape(-1, 2)


# ---- reference spin losses (docs/spinloss.md, Eq. 15-16) ---------------------

def lattice_bonds(L, periodic):
    """(i, j, array, r, c): site i = r L + c joined to its + neighbour j
    along x (array 'h') or y (array 'v') by coupling array[b, r, c]."""
    out = []
    for r in range(L):
        for c in range(L):
            if periodic or c + 1 < L:
                out.append((r * L + c, r * L + (c + 1) % L, "h", r, c))
            if periodic or r + 1 < L:
                out.append((r * L + c, ((r + 1) % L) * L + c, "v", r, c))
    return out


def spin_reference(target, jh, jv, kind, T=0.1, h0=5.0, flip=False):
    B, L = jh.shape[0], jh.shape[1]
    periodic = jh.shape[2] == L
    bonds = lattice_bonds(L, periodic)
    bi = torch.tensor([e[0] for e in bonds])
    bj = torch.tensor([e[1] for e in bonds])
    Jb = torch.tensor(np.stack([(jh if e[2] == "h" else jv)[:, e[3], e[4]] for e in bonds], axis=1))  # (B, bonds)
    y_all = None if target is None else torch.tensor(target.reshape(B, L * L).astype(np.float64))

    def instance(z, y, J):
        m = torch.tanh(z / 2)
        p = torch.sigmoid(z)
        S = -(p * torch.log(p) + (1 - p) * torch.log1p(-p)).sum()
        if kind == "ce":
            return torch.nn.functional.softplus(-y * z).mean()
        if kind == "margin":
            return torch.relu(1 - y * z).mean()
        if kind == "true":
            return -(J * m[bi] * m[bj]).sum() - T * S
        if kind == "local":
            h = torch.zeros(L * L).index_add(0, bi, J * y[bj]).index_add(0, bj, J * y[bi])
            w = y * h + h0
            return (-(w * y * m).sum() - T * S) / T
        if kind == "bond":
            yy = y[bi] * y[bj]
            return (-((J * yy + h0) * yy * m[bi] * m[bj]).sum() - T * S) / T
        raise ValueError(kind)

    def loss(logits):
        z_all = logits.reshape(B, L * L)
        total = 0
        for b in range(B):
            y = None if y_all is None else y_all[b]
            value = instance(z_all[b], y, Jb[b])
            if flip:
                value = torch.minimum(value, instance(z_all[b], -y, Jb[b]))
            total = total + value
        return total / B
    return loss


def atoms_case(B, N, d, scale=1.0):
    ref = scale * rng.uniform(0, N ** (1.0 / d), (B, N, d))
    return ref + 0.15 * rng.normal(size=ref.shape), ref


# ---- energy loss: 5 laws x 4 edge sets x d = 2, 3 ----------------------------

if not have_torch:
    skip("energy, baseline and spin losses = PyTorch autograd", why_no_torch)
else:
    B, N = 5, 10
    for d in (2, 3):
        pred, ref = atoms_case(B, N, d)
        explicit = np.array([[0, 1], [2, 1], [3, 7], [9, 4], [5, 6], [8, 2]])  # a reversed row (2, 1)
        for law in eloss.COEFF_LAWS:
            got = eloss.energy_loss(pred, ref, coeff=law)
            good, text = agree(got, autograd(energy_reference(ref, [None] * B, law), pred))
            ok(good, "energy %s complete d=%d = autograd" % (law, d), text)
            got = eloss.energy_loss(pred, ref, coeff=law, edges=explicit)
            good, text = agree(got, autograd(energy_reference(ref, [explicit] * B, law), pred))
            ok(good, "energy %s explicit edges d=%d = autograd" % (law, d), text)
            plan = eloss.AtomsLoss(ref, coeff=law, edges="regular", seed=11)
            plan.resample(4)
            graphs = [plan.edges(b) for b in range(B)]
            degrees = [np.bincount(g.ravel(), minlength=N) for g in graphs]
            simple = all(len({tuple(e) for e in g}) == len(g) and all(e[0] < e[1] for e in g) for g in graphs)
            got = eloss.energy_loss(pred, ref, coeff=law, edges="regular", seed=11, draw=4)
            good, text = agree(got, autograd(energy_reference(ref, graphs, law), pred))
            same = agree(got, plan(pred))[0]
            ok(good and same and simple and all((dg == 2 * d).all() for dg in degrees),
               "energy %s regular d=%d: simple %d-regular graphs, = autograd on them, = the plan's draw 4"
               % (law, d, 2 * d), text)
            plan.close()
        # Bonds: molecules of H, C, N, O in Angstrom, 3D only (covalent radii).
        if d == 3:
            elements = rng.choice([1, 6, 7, 8], (B, N))
            ref_m = rng.uniform(0, 3.2, (B, N, 3))
            pred_m = ref_m + 0.1 * rng.normal(size=ref_m.shape)
            graphs = [bonds_of(ref_m[b], elements[b]) for b in range(B)]
            n_bonds = sum(len(g) for g in graphs)
            for law in eloss.COEFF_LAWS:
                got = eloss.energy_loss(pred_m, ref_m, coeff=law, edges="bonds", elements=elements)
                good, text = agree(got, autograd(energy_reference(ref_m, graphs, law), pred_m))
                ok(good and 0 < n_bonds < B * N * (N - 1) // 2,
                   "energy %s bonds = autograd on bonds from covalent radii (%d of %d pairs)"
                   % (law, n_bonds, B * N * (N - 1) // 2), text)
    # Options: k0, per_atom, dmin (coincident reference atoms), padding.
    pred, ref = atoms_case(4, 7, 3)
    got = eloss.energy_loss(pred, ref, coeff="inv_dist2", k0=2.385, per_atom=True)
    good, text = agree(got, autograd(energy_reference(ref, [None] * 4, "inv_dist2", k0=2.385, per_atom=True), pred))
    ok(good, "k0 = 2.385 and per_atom = autograd", text)
    ref_c = ref.copy()
    ref_c[1, 3] = ref_c[1, 5]
    got = eloss.energy_loss(pred, ref_c, coeff="lj", dmin=0.3)
    good, text = agree(got, autograd(energy_reference(ref_c, [None] * 4, "lj", dmin=0.3), pred))
    ok(good and np.isfinite(got[0]), "coincident reference atoms: k sees max(d, dmin = 0.3), = autograd", text)
    natoms = np.array([7, 4, 6, 3])
    got = eloss.energy_loss(pred, ref, coeff="exp_dist", natoms=natoms)
    good, text = agree(got, autograd(energy_reference(ref, [None] * 4, "exp_dist", natoms=natoms), pred))
    padded_zero = all((got[1][b, natoms[b]:] == 0).all() for b in range(4))
    ok(good and padded_zero, "padded batch (natoms): = autograd over the real atoms, padding gets zero gradient", text)

    # Baselines.
    for d in (2, 3):
        pred, ref = atoms_case(6, 9, d)
        for name, fn, reference in (("mse", eloss.mse_loss, mse_reference), ("mae", eloss.mae_loss, mae_reference),
                                    ("kabsch", eloss.kabsch_loss, kabsch_reference)):
            good, text = agree(fn(pred, ref), autograd(reference(ref), pred))
            ok(good, "%s d=%d = autograd" % (name, d), text)
    # Kabsch on a rotated copy: zero loss, so the rotation is really found.
    pred, ref = atoms_case(3, 8, 3)
    c, s = np.cos(0.7), np.sin(0.7)
    moved = ref @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + np.array([1.5, -2.0, 0.25])
    ok(eloss.kabsch_loss(moved, ref)[0] < 1e-24 and eloss.mse_loss(moved, ref)[0] > 0.1,
       "kabsch of a rigidly moved reference is 0 (%.1e), MSE is not" % eloss.kabsch_loss(moved, ref)[0])

    # ---- spin losses ---------------------------------------------------------
    for L, periodic in ((5, False), (5, True), (2, True)):
        B = 3
        logits = rng.uniform(-3, 3, (B, L, L))
        target = rng.choice(np.array([-1, 1], np.int8), (B, L, L))
        jh = rng.uniform(-1, 1, (B, L, L if periodic else L - 1))
        jv = rng.uniform(-1, 1, (B, L if periodic else L - 1, L))
        # Keep logits off the hinge's kink y z = 1 (docs/spinloss.md: subgradient 0 there).
        logits[np.abs(logits * target - 1) < 1e-3] += 0.01
        where = "%s L=%d" % ("periodic" if periodic else "open", L)
        for kind in eloss.SPIN_LOSSES:
            flips = (False, True) if kind in ("ce", "margin") else (False,)
            for flip in flips:
                y = None if kind == "true" else target
                # T and h0 only where the loss takes them (else refused, as the CLI refuses)
                temps = dict(T=0.37) if kind in ("local", "bond", "true") else {}
                temps.update(h0=4.5) if kind in ("local", "bond") else None
                got = eloss.spin_loss(logits, y, jh, jv, loss=kind, flip_invariant=flip, **temps)
                want = autograd(spin_reference(y, jh, jv, kind, T=0.37, h0=4.5, flip=flip), logits)
                good, text = agree(got, want)
                ok(good, "spin %s%s %s = autograd" % (kind, " flip_invariant" if flip else "", where), text)
    # flip_invariant really picks per instance: y and -y give the same numbers.
    logits = rng.uniform(-3, 3, (4, 4, 4))
    target = rng.choice(np.array([-1, 1], np.int8), (4, 4, 4))
    jh, jv = rng.uniform(-1, 1, (4, 4, 3)), rng.uniform(-1, 1, (4, 3, 4))
    a = eloss.spin_loss(logits, target, jh, jv, loss="ce", flip_invariant=True)
    b = eloss.spin_loss(logits, -target, jh, jv, loss="ce", flip_invariant=True)
    ok(a[0] == b[0] and (a[1] == b[1]).all(), "flip-invariant ce: y and -y give identical loss and gradient")
    # The defaults of the contract: loss="local", T=0.1, h0=5.
    want = autograd(spin_reference(target, jh, jv, "local", T=0.1, h0=5.0), logits)
    good, text = agree(eloss.spin_loss(logits, target, jh, jv), want)
    ok(good, "spin_loss defaults are local, T = 0.1, h0 = 5", text)

    # The comparison bites: a gradient 1e-9 off (relative) is refused.
    pred, ref = atoms_case(2, 5, 3)
    value, grad = eloss.energy_loss(pred, ref)
    broken = grad.copy()
    broken.flat[3] += 1e-9 * np.abs(grad).max()
    ok(not agree((value, broken), autograd(energy_reference(ref, [None] * 2, "exp_dist"), pred))[0],
       "a gradient 1e-9 off is caught by the comparison")

# ---- the same numbers as the command line -----------------------------------

with tempfile.TemporaryDirectory() as tmp:
    pred, ref = atoms_case(6, 8, 3)
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 0], [0, 4], [2, 6]], np.int64)
    for name, a in (("P", pred), ("R", ref), ("E", edges)):
        np.save(os.path.join(tmp, name + ".npy"), a)
    run = subprocess.run([eloss_program, "loss", "-pred", "P.npy", "-ref", "R.npy", "-loss", "energy", "-coeff",
                          "inv_dist", "-edges", "E.npy", "-grad_out", "G.npy"], cwd=tmp, capture_output=True,
                         text=True)
    value, grad = eloss.energy_loss(pred, ref, coeff="inv_dist", edges=edges)
    cli_ok = run.returncode == 0 and run.stdout.strip() == "loss=%.17g" % value
    ok(cli_ok and (np.load(os.path.join(tmp, "G.npy")) == grad).all(),
       "energy_loss = `eloss loss` bit for bit (printed loss, gradient file)", run.stdout.strip() + run.stderr.strip())
    B, L = 3, 6
    logits = rng.uniform(-3, 3, (B, L, L))
    target = rng.choice(np.array([-1, 1], np.int8), (B, L, L))
    jh, jv = rng.uniform(-1, 1, (B, L, L)), rng.uniform(-1, 1, (B, L, L))
    for name, a in (("Z", logits), ("Y", target), ("H", jh), ("V", jv)):
        np.save(os.path.join(tmp, name + ".npy"), a)
    run = subprocess.run([eloss_program, "spinloss", "-jh", "H.npy", "-jv", "V.npy", "-logits", "Z.npy", "-target",
                          "Y.npy", "-loss", "bond", "-T", "0.2", "-h0", "1.5", "-grad_out", "GS.npy"], cwd=tmp,
                         capture_output=True, text=True)
    value, grad = eloss.spin_loss(logits, target, jh, jv, loss="bond", T=0.2, h0=1.5)
    cli_ok = run.returncode == 0 and run.stdout.strip() == "loss=%.17g" % value
    ok(cli_ok and (np.load(os.path.join(tmp, "GS.npy")) == grad).all(),
       "spin_loss = `eloss spinloss` bit for bit (periodic bond)", run.stdout.strip() + run.stderr.strip())

# ---- a training step: the wrapper against autograd ---------------------------

if not have_torch:
    skip("a PyTorch training step through eloss.torch = one through autograd", why_no_torch)
else:
    def train(loss_of, model, x, steps=3):
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_of(model(x))
            loss.backward()
            opt.step()
        return torch.cat([p.detach().ravel() for p in model.parameters()])

    B, N = 8, 12
    torch.manual_seed(7)
    x = torch.randn(B, 16)
    ref = rng.uniform(0, 2.5, (B, N, 3))
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.Tanh(), torch.nn.Linear(32, N * 3),
                                torch.nn.Unflatten(1, (N, 3)))
    twin = __import__("copy").deepcopy(model)
    ref_t = torch.tensor(ref)
    wrapped = train(lambda p: elt.energy_loss(p, ref_t, coeff="exp_dist"), model, x)
    reference = train(energy_reference(ref, [None] * B, "exp_dist"), twin, x)
    err = rel_err(wrapped.numpy(), reference.numpy())
    ok(err <= TOL, "3 SGD steps with elt.energy_loss = with the autograd Eq. 7", "parameters rel %.1e" % err)

    L = 6
    jh, jv = torch.tensor(rng.uniform(-1, 1, (B, L, L))), torch.tensor(rng.uniform(-1, 1, (B, L, L)))
    target = torch.tensor(rng.choice(np.array([-1, 1], np.int8), (B, L, L)))
    net = torch.nn.Sequential(torch.nn.Linear(16, L * L), torch.nn.Unflatten(1, (L, L)))
    twin = __import__("copy").deepcopy(net)
    wrapped = train(lambda z: elt.spin_loss(z, target, jh, jv, loss="local"), net, x)
    reference = train(spin_reference(target.numpy(), jh.numpy(), jv.numpy(), "local"), twin, x)
    err = rel_err(wrapped.numpy(), reference.numpy())
    ok(err <= TOL, "3 SGD steps with elt.spin_loss (local) = with the autograd Eq. 15-16", "parameters rel %.1e" % err)

    # Every wrapper is differentiable and scales with the incoming gradient.
    pred = torch.tensor(atoms_case(3, 6, 3)[0], requires_grad=True)
    ref_t = torch.tensor(atoms_case(3, 6, 3)[1])
    fine = True
    for fn in (elt.mse_loss, elt.mae_loss, elt.kabsch_loss,
               lambda p, r: elt.energy_loss(p, r, edges=torch.tensor([[0, 1], [1, 2], [3, 5]]))):
        pred.grad = None
        (2.5 * fn(pred, ref_t)).backward()
        fine = fine and np.allclose(pred.grad.numpy(), 2.5 * eloss.atoms_loss(
            pred.detach().numpy(), ref_t.numpy(), **({} if fn in (elt.mse_loss, elt.mae_loss, elt.kabsch_loss)
                                                      else {"edges": np.array([[0, 1], [1, 2], [3, 5]])}),
            loss={elt.mse_loss: "mse", elt.mae_loss: "mae", elt.kabsch_loss: "kabsch"}.get(fn, "energy"))[1],
            rtol=0, atol=1e-15)
    ok(fine, "torch wrappers of mse, mae, kabsch and explicit-edge energy: backward = grad_output x eloss gradient")
    as_array = elt.energy_loss(pred, ref_t.numpy())
    as_tensor = elt.energy_loss(pred, ref_t)
    ok(float(as_array) == float(as_tensor) and as_array.requires_grad,
       "torch wrapper: ref as an ndarray = ref as a tensor, and the loss requires grad")

# ---- bad arrays raise eloss.Error with the message, never crash ---------------

pred, ref = atoms_case(2, 4, 3)
nan_pred = pred.copy()
nan_pred[1, 2, 0] = np.nan
inf_ref = ref.copy()
inf_ref[0, 3, 1] = np.inf
non_contiguous = np.ascontiguousarray(pred.transpose(1, 0, 2)).transpose(1, 0, 2)
L = 4
logits = rng.uniform(-2, 2, (2, L, L))
target = rng.choice(np.array([-1, 1], np.int8), (2, L, L))
jh, jv = rng.uniform(-1, 1, (2, L, L - 1)), rng.uniform(-1, 1, (2, L - 1, L))
bad_target = target.copy()
bad_target[1, 2, 3] = 0
nan_logits = logits.copy()
nan_logits[0, 1, 1] = np.nan
nan_jh = jh.copy()
nan_jh[1, 0, 2] = np.nan
raw = np.zeros(pred.size * 8 + 1, np.uint8)
misaligned = np.ndarray(pred.shape, np.float64, raw.data, 1)
misaligned[...] = pred
bad_cases = [
    ("pred of 2 dimensions", lambda: eloss.mse_loss(pred[0], ref[0]), "pred: expected a 3-dimensional array"),
    ("pred float32", lambda: eloss.energy_loss(pred.astype(np.float32), ref), "pred: expected dtype float64, got float32"),
    ("ref int64", lambda: eloss.kabsch_loss(pred, ref.astype(np.int64)), "ref: expected dtype float64, got int64"),
    ("big-endian pred", lambda: eloss.mse_loss(pred.astype(">f8"), ref), "non-native byte order"),
    ("a list for pred", lambda: eloss.mse_loss(pred.tolist(), ref), "pred: expected a numpy.ndarray"),
    ("non-contiguous pred", lambda: eloss.energy_loss(non_contiguous, ref), "pred: expected a C-contiguous array"),
    ("pred and ref shapes differ", lambda: eloss.energy_loss(pred[:, :3].copy(), ref), "pred has shape (2, 3, 3) but ref has (2, 4, 3)"),
    ("d = 4", lambda: eloss.mse_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4))), "d = 2 or 3"),
    ("NaN in pred", lambda: eloss.energy_loss(nan_pred, ref), "pred has a non-finite value (nan) at structure 1, atom 2"),
    ("NaN in pred (plan)", lambda: eloss.AtomsLoss(ref)(nan_pred), "non-finite value (nan) at structure 1, atom 2"),
    ("inf in ref", lambda: eloss.kabsch_loss(pred, inf_ref), "reference structure 0 has a non-finite coordinate (atom 3)"),
    ("unknown law", lambda: eloss.energy_loss(pred, ref, coeff="morse"), "unknown coefficient law 'morse': expected one of constant, exp_dist"),
    ("unknown loss", lambda: eloss.atoms_loss(pred, ref, loss="huber"), "unknown loss 'huber'"),
    ("unknown edge set", lambda: eloss.energy_loss(pred, ref, edges="knn"), "unknown edge set 'knn'"),
    ("edge outside", lambda: eloss.energy_loss(pred, ref, edges=np.array([[0, 4]])), "edge 0 (0, 4) is outside"),
    ("self-loop edge", lambda: eloss.energy_loss(pred, ref, edges=np.array([[0, 1], [2, 2]])), "edge 1 joins atom 2 to itself"),
    ("pool beyond 32 bits", lambda: eloss.energy_loss(pred, ref, edges="regular", degree=2, pool=2 ** 32 + 5), "pool: 4294967301 is outside [1, 2147483647]"),
    ("a float seed", lambda: eloss.energy_loss(pred, ref, edges="regular", degree=2, seed=1.7), "seed: expected an integer, got 1.7"),
    ("draw beyond 64 bits", lambda: eloss.energy_loss(pred, ref, edges="regular", degree=2, draw=2 ** 64), "draw: 18446744073709551616 is outside"),
    ("degree with complete edges", lambda: eloss.energy_loss(pred, ref, degree=4), "degree applies to edges='regular' only, not to 'complete'"),
    ("bond_tolerance with regular edges", lambda: eloss.energy_loss(pred, ref, edges="regular", bond_tolerance=0.3), "bond_tolerance applies to edges='bonds' only"),
    ("k0 with mse", lambda: eloss.atoms_loss(pred, ref, loss="mse", k0=2.0), "k0 applies to the energy loss only"),
    ("coordinates that overflow the loss", lambda: eloss.energy_loss(pred * 1e160, ref * 1e160, coeff="constant"), "the loss overflowed to"),
    ("an empty batch", lambda: eloss.mse_loss(np.zeros((0, 4, 3)), np.zeros((0, 4, 3))), "an empty batch"),
    ("no atoms (plan)", lambda: eloss.AtomsLoss(np.zeros((2, 0, 3))), "an empty batch"),
    ("a misaligned array", lambda: eloss.mse_loss(misaligned, ref), "pred: expected an aligned array"),
    ("resample without regular edges", lambda: eloss.AtomsLoss(ref).resample(1), "only a plan with edges='regular' draws graphs"),
    ("T with ce", lambda: eloss.spin_loss(logits, target, jh, jv, loss="ce", T=7.0), "T is for loss local, true and bond only"),
    ("h0 with true", lambda: eloss.spin_loss(logits, None, jh, jv, loss="true", h0=99.0), "h0 is for loss local and bond only"),
    ("target with true", lambda: eloss.spin_loss(logits, target, jh, jv, loss="true"), "target: loss 'true' uses no labels; pass None"),
    ("a pair given twice", lambda: eloss.energy_loss(pred, ref, edges=np.array([[0, 1], [2, 3], [1, 0]])), "edge 2 (1, 0) repeats edge 0"),
    ("coeff with mse", lambda: eloss.atoms_loss(pred, ref, loss="mse", coeff="lj"), "coeff applies to the energy loss only, not to 'mse'"),
    ("edges with kabsch (plan)", lambda: eloss.AtomsLoss(ref, loss="kabsch", edges="regular"), "edges applies to the energy loss only"),
    ("float edges", lambda: eloss.energy_loss(pred, ref, edges=np.array([[0.0, 1.0]])), "edges: expected an integer array"),
    ("edges of 3 columns", lambda: eloss.energy_loss(pred, ref, edges=np.array([[0, 1, 2]])), "edges: expected an (m, 2) array"),
    ("impossible regular graph", lambda: eloss.energy_loss(pred, ref, edges="regular", degree=1, natoms=np.array([3, 3])), "no 1-regular graph exists"),
    ("bonds without elements", lambda: eloss.energy_loss(pred, ref, edges="bonds"), "bond edges need the atoms' elements"),
    ("element without a radius", lambda: eloss.energy_loss(pred, ref, edges="bonds", elements=np.full((2, 4), 200)), "element 200 without a covalent radius"),
    ("negative k0", lambda: eloss.energy_loss(pred, ref, k0=-1.0), "k0 must be positive"),
    ("natoms beyond N", lambda: eloss.mse_loss(pred, ref, natoms=np.array([4, 5])), "structure 1 has 5 atoms, outside [0, 4]"),
    ("logits float32", lambda: eloss.spin_loss(logits.astype(np.float32), target, jh, jv), "logits: expected dtype float64"),
    ("target int64", lambda: eloss.spin_loss(logits, target.astype(np.int64), jh, jv), "target: expected dtype int8, got int64"),
    ("target 0", lambda: eloss.spin_loss(logits, bad_target, jh, jv), "target 0 at instance 1, site 11 is not +1 or -1"),
    ("NaN logit", lambda: eloss.spin_loss(nan_logits, target, jh, jv), "non-finite logit at instance 0, site 5"),
    ("NaN coupling", lambda: eloss.spin_loss(logits, target, nan_jh, jv), "jh has a coupling nan at flat index 14"),
    ("jv of the wrong shape", lambda: eloss.spin_loss(logits, target, jh, jv[:, :2].copy()), "jv: shape (2, 2, 4); expected (2, 3, 4)"),
    ("logits of another L", lambda: eloss.spin_loss(logits[:, :3, :3].copy(), target, jh, jv), "logits: shape (2, 3, 3); expected (2, 4, 4)"),
    ("non-contiguous logits", lambda: eloss.spin_loss(logits.transpose(0, 2, 1), target, jh, jv), "logits: expected a C-contiguous array"),
    ("flip_invariant local", lambda: eloss.spin_loss(logits, target, jh, jv, loss="local", flip_invariant=True), "flip_invariant: is for -loss ce and margin only"),
    ("T = 0 local", lambda: eloss.spin_loss(logits, target, jh, jv, loss="local", T=0.0), "T: expected T > 0 for -loss local"),
    ("no target for ce", lambda: eloss.spin_loss(logits, None, jh, jv, loss="ce"), "ce needs a target"),
    ("unknown spin loss", lambda: eloss.spin_loss(logits, target, jh, jv, loss="hinge"), "unknown spin loss 'hinge'"),
]
if have_torch:
    pred_t = torch.tensor(pred, requires_grad=True)
    bad_cases += [
        ("torch float32 pred", lambda: elt.energy_loss(pred_t.float(), torch.tensor(ref)), "pred: expected dtype float64, got float32 (convert with .double())"),
        ("torch int64 target", lambda: elt.spin_loss(torch.tensor(logits, requires_grad=True), torch.tensor(target).long(), jh, jv), "target: expected dtype int8, got int64 (convert with .to(torch.int8))"),
        ("torch non-contiguous pred", lambda: elt.mse_loss(pred_t.transpose(0, 1), torch.tensor(ref).transpose(0, 1)), "pred: expected a C-contiguous tensor (.contiguous())"),
        ("torch ref that requires grad", lambda: elt.energy_loss(pred_t, torch.tensor(ref, requires_grad=True)), "ref: requires grad, but eloss differentiates only the prediction (pass ref.detach())"),
        ("torch couplings that require grad", lambda: elt.spin_loss(torch.tensor(logits, requires_grad=True), target, torch.tensor(jh, requires_grad=True), jv), "jh: requires grad"),
        ("torch double backward", lambda: torch.autograd.grad(torch.autograd.grad(elt.mse_loss(pred_t, torch.tensor(ref)), pred_t, create_graph=True)[0].sum(), pred_t), "differentiable once"),
        ("torch coeff with mse", lambda: elt.atoms_loss(pred_t, torch.tensor(ref), loss="mse", coeff="lj"), "coeff applies to the energy loss only"),
        ("torch NaN pred", lambda: elt.energy_loss(torch.tensor(nan_pred, requires_grad=True), torch.tensor(ref)), "pred has a non-finite value (nan) at structure 1, atom 2"),
        ("torch wrapper given an ndarray pred", lambda: elt.mse_loss(pred, torch.tensor(ref)), "pred: expected a torch.Tensor, got ndarray"),
    ]
for what, call, message in bad_cases:
    try:
        call()
        ok(False, "%s raises eloss.Error" % what, "no exception")
    except eloss.Error as e:
        ok(message in str(e), "%s raises eloss.Error with the message" % what, str(e))
    except Exception as e:  # any other exception type is a failure of the contract
        ok(False, "%s raises eloss.Error" % what, "%s: %s" % (type(e).__name__, e))
value, _ = eloss.energy_loss(pred, ref)
ok(np.isfinite(value), "after every refusal the library still computes (the process never crashed)")

# close() while another thread runs the plan: the call finishes first or
# is refused; never a crash.
import threading
outcomes = set()
for _ in range(200):
    plan = eloss.AtomsLoss(ref)
    def run():
        try:
            plan(pred)
            outcomes.add("ran")
        except eloss.Error as e:
            outcomes.add("refused" if "closed" in str(e) else str(e))
    worker = threading.Thread(target=run)
    worker.start()
    plan.close()
    worker.join()
ok(outcomes <= {"ran", "refused"}, "close() racing a call from another thread, 200 times: each call ran or was refused (%s)"
   % ", ".join(sorted(outcomes)))

closed = eloss.AtomsLoss(ref)
closed.close()
try:
    closed(pred)
    ok(False, "a closed plan refuses to run")
except eloss.Error as e:
    ok("closed" in str(e), "a closed plan refuses to run with a message", str(e))

print("1..%d" % count)
sys.exit(1 if failed else 0)
