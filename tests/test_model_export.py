#!/usr/bin/python3
"""TAP test: trained models usable outside eloss.

  test_model_export.py <source root> <libeloss.so> <eloss program> <mpiexec>

- eloss.load_model reads a model file of `eloss train` into (config,
  tensors) with the names and shapes of eloss.torch's modules, and refuses
  a damaged or foreign file naming it;
- `eloss eval -pred_out` writes the test set's inputs, logits and spins
  (HDF5), the same bytes of data on 1 and 2 ranks, and refuses an existing
  file without -force and a denoise model;
- the PyTorch module of the same architecture (eloss.torch.load_module),
  run on those inputs, gives eloss's logits to 1e-5 (open and periodic
  lattices, a residual model), and its spins give eval's energy gap;
- a denoise model loads into eloss.torch.MLP strictly (every name and
  shape);
- diffusion models (GDM and EGNN, parameters and moving average) load into
  eloss.torch.GDM / EGNN strictly, and those PyTorch modules, written the
  way EDM writes its networks, give eloss.diffusion_forward's (the C
  network's) eps to 1e-5 of its size, with the EGNN's coordinates moving;
  diffusion_forward refuses bad arrays and a model of another task.
Skips without numpy, h5py or torch."""
import os
import subprocess
import sys
import tempfile

source_root, library, eloss_program, mpiexec = sys.argv[1:5]
library, eloss_program = os.path.abspath(library), os.path.abspath(eloss_program)
os.environ["ELOSS_LIBRARY"] = library
sys.path.insert(0, os.path.join(source_root, "python"))
mpi = [mpiexec, "--allow-run-as-root", "--oversubscribe"]
PLAN = 17
print("1..%d" % PLAN, flush=True)
try:
    import h5py
    import numpy as np
    import torch
except ImportError as e:
    for k in range(PLAN):
        print("ok %d # SKIP %s" % (k + 1, e))
    sys.exit(0)
import eloss
import eloss.torch as elt

count = failed = 0


def ok(cond, what):
    global count, failed
    count += 1
    failed += 0 if cond else 1
    print("%s %d - %s" % ("ok" if cond else "not ok", count, what), flush=True)


def run(*args, ranks=1):
    cmd = ([*mpi, "-n", str(ranks)] if ranks > 1 else []) + [eloss_program, *args]
    return subprocess.run(cmd, capture_output=True, text=True)


os.chdir(tempfile.mkdtemp())
torch.set_num_threads(1)
for bc in ("open", "periodic"):
    run("spingen", "-bc", bc, "-L", "6", "-instances", "48", "-seed", "3", "-gs", "sa", "-out", "tr_%s.h5" % bc)
    run("spingen", "-bc", bc, "-L", "6", "-instances", "20", "-seed", "4", "-gs", "sa", "-split", "test",
        "-out", "te_%s.h5" % bc)
    r = run("train", "-train", "tr_%s.h5" % bc, "-test", "te_%s.h5" % bc, "-width", "8", "-depth", "2", "-steps", "15",
            "-batch", "8", "-lr", "3e-3", "-conv", "direct", "-out", "m_%s.ckpt" % bc)
    if r.returncode:
        print("Bail out! training failed: %s" % r.stderr[-300:])
        sys.exit(1)

config, tensors = eloss.load_model("m_open.ckpt")
ok(config["task"] == "spin" and config["L"] == 6 and config["width"] == 8 and config["depth"] == 2 and
   config["step"] == 15 and "-loss ce" in config["identity"] and
   sorted(tensors) == sorted(["input.weight", "input.bias", "blocks.0.conv1.weight", "blocks.0.conv1.bias",
                              "blocks.0.conv2.weight", "blocks.0.conv2.bias", "output.weight", "output.bias"]) and
   tensors["input.weight"].shape == (8, 4, 3, 3) and tensors["output.weight"].shape == (1, 8, 1, 1),
   "load_model: config %s, tensors %s" % ({k: config[k] for k in ("task", "L", "width", "step")},
                                          {k: v.shape for k, v in list(tensors.items())[:2]}))

data = open("m_open.ckpt", "rb").read()
open("bad.ckpt", "wb").write(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
try:
    eloss.load_model("bad.ckpt")
    ok(False, "a flipped byte in the file is refused")
except eloss.Error as e:
    ok("bad.ckpt" in str(e) and "checksum" in str(e), "a flipped byte in the file is refused: %s" % e)
try:
    eloss.load_model("te_open.h5")
    ok(False, "an HDF5 file is refused")
except eloss.Error as e:
    ok("te_open.h5" in str(e), "a file that is no model is refused: %s" % e)

for bc in ("open", "periodic"):
    r = run("eval", "-model", "m_%s.ckpt" % bc, "-test", "te_%s.h5" % bc, "-pred_out", "p_%s.h5" % bc)
    gap = float(r.stdout.split("energy_gap=")[1].split()[0]) if "energy_gap=" in r.stdout else None
    module = elt.load_module("m_%s.ckpt" % bc)
    with h5py.File("p_%s.h5" % bc, "r") as f, h5py.File("te_%s.h5" % bc, "r") as t:
        x, logits, spins = f["inputs"][...], f["logits"][...], f["spins"][...]
        with torch.no_grad():
            z = module(torch.from_numpy(x)).numpy()
        diff = float(np.abs(z - logits).max() / max(1.0, np.abs(logits).max()))
        # The energy gap of the PyTorch spins, from the stored couplings.
        s = np.where(z >= 0, 1, -1).astype(np.float64)
        if bc == "open":
            e = -(t["couplings_h"][...] * s[:, :, :-1] * s[:, :, 1:]).sum((1, 2)) \
                - (t["couplings_v"][...] * s[:, :-1, :] * s[:, 1:, :]).sum((1, 2))
        else:
            e = -(t["couplings_h"][...] * s * np.roll(s, -1, 2)).sum((1, 2)) \
                - (t["couplings_v"][...] * s * np.roll(s, -1, 1)).sum((1, 2))
        torch_gap = float((e - t["energy"][...]).mean())
    ok(r.returncode == 0 and diff < 1e-5 and (np.where(logits >= 0, 1, -1) == spins).all(),
       "%s: PyTorch's forward of the exported model = eloss's logits (max rel diff %.2e)" % (bc, diff))
    ok(gap is not None and abs(torch_gap - gap) < 1e-7 * max(1.0, abs(gap)),
       "%s: the PyTorch spins' mean energy gap %.9g = eval's %s" % (bc, torch_gap, gap))

r2 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-pred_out", "p2.h5", ranks=2)
with h5py.File("p_open.h5", "r") as a, h5py.File("p2.h5", "r") as b:
    same = r2.returncode == 0 and all((a[k][...] == b[k][...]).all() for k in ("inputs", "logits", "spins"))
ok(same, "-pred_out on 2 ranks holds the data of 1 rank")
before = open("p2.h5", "rb").read()
r3 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-pred_out", "p2.h5")
r4 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-pred_out", "p2.h5", "-force")
ok(r3.returncode != 0 and "already exists" in r3.stderr and r4.returncode == 0,
   "-pred_out over an existing file: refused without -force (%s), replaced with it" % r3.stderr.strip()[-80:])
r5 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-pred_out", "te_open.h5", "-force")
ok(r5.returncode != 0 and os.path.getsize("te_open.h5") > 0 and h5py.is_hdf5("te_open.h5"),
   "-pred_out naming the test set is refused: %s" % r5.stderr.strip()[-90:])

model_bytes = open("m_open.ckpt", "rb").read()
r6 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-pred_out", "m_open.ckpt", "-force")
r7 = run("eval", "-model", "m_open.ckpt", "-test", "te_open.h5", "-csv", "both.out", "-pred_out", "both.out", "-force")
ok(r6.returncode == 2 and r7.returncode == 2 and open("m_open.ckpt", "rb").read() == model_bytes and
   not os.path.exists("both.out"),
   "-pred_out naming the model or the -csv file is refused even with -force: %s" % r6.stderr.strip()[-80:])
with h5py.File("p_open.h5", "r") as f:
    stored = f.attrs["model"]
    stored = stored.decode() if isinstance(stored, bytes) else stored
ok(stored == eloss.load_model("m_open.ckpt")[0]["identity"],
   "the predictions' model attribute is the model's identity (%s...)" % stored[:40])

# -select best: load_model reads the selected parameters, which eval scores.
run("spingen", "-L", "6", "-instances", "20", "-seed", "3", "-gs", "sa", "-split", "valid", "-out", "va_open.h5")
r = run("train", "-train", "tr_open.h5", "-test", "te_open.h5", "-valid", "va_open.h5", "-width", "8", "-depth", "2",
        "-steps", "200", "-batch", "8", "-lr", "1e-2", "-conv", "direct", "-eval_every", "5", "-select", "best",
        "-out", "m_best.ckpt")
words = dict(w.split("=", 1) for w in r.stdout.split() if "=" in w)
best_config, best_tensors = eloss.load_model("m_best.ckpt")
pe = run("eval", "-model", "m_best.ckpt", "-test", "te_open.h5", "-pred_out", "p_best.h5")
with h5py.File("p_best.h5", "r") as f:
    module = elt.load_module("m_best.ckpt")
    with torch.no_grad():
        z = module(torch.from_numpy(f["inputs"][...])).numpy()
    same = float(np.abs(z - f["logits"][...]).max()) < 1e-5 * max(1.0, float(np.abs(z).max()))
ok(r.returncode == 0 and pe.returncode == 0 and best_config["selected_step"] == int(words["selected_step"]) <
   best_config["step"] and same,
   "-select best: load_model gives selected_step %s of %s steps, and its tensors are the parameters eval scores"
   % (best_config.get("selected_step"), best_config.get("step")))

g2 = os.path.join(source_root, "inputs", "molecules", "g2.xyz")
r = run("train", "-task", "denoise", "-train", g2, "-test", os.path.join(source_root, "inputs", "molecules",
                                                                         "g2_rotated.xyz"),
        "-width", "16", "-steps", "3", "-batch", "8", "-out", "dn.ckpt")
try:
    module = elt.load_module("dn.ckpt")
    config, tensors = eloss.load_model("dn.ckpt")
    ok(r.returncode == 0 and isinstance(module, elt.MLP) and config["task"] == "denoise" and
       len(module.layers) == 3 and module.layers[1].weight.shape == (16, 16),
       "a denoise model loads into eloss.torch.MLP strictly: %s" % [tuple(l.weight.shape) for l in module.layers])
except Exception as e:  # noqa: BLE001 - any failure is the test's finding
    ok(False, "a denoise model loads into eloss.torch.MLP: %s %s" % (e, r.stderr[-200:]))

# Diffusion models: random H, C, N, O, F molecules of 4 to 12 atoms.
rng = np.random.default_rng(11)


def write_molecules(path, count):
    with open(path, "w") as f:
        for k in range(count):
            n = int(rng.integers(4, 13))
            f.write("%d\nm %d\n" % (n, k))
            for a in rng.normal(scale=1.2, size=(n, 3)):
                f.write("%s %.5f %.5f %.5f\n" % ("HCNOF"[rng.integers(5)], *a))


write_molecules("dtr.xyz", 48)
write_molecules("dte.xyz", 8)
natoms = np.array([5, 1, 9, 12])
x = np.zeros((natoms.sum(), 8), np.float32)
first = 0
for n in natoms:
    x[first:first + n, :3] = rng.normal(size=(n, 3))
    x[first:first + n, :3] -= x[first:first + n, :3].mean(0)
    x[first + np.arange(n), 3 + rng.integers(0, 5, n)] = 0.25
    first += n
t = rng.uniform(size=natoms.size).astype(np.float32)
for net, steps in (("gdm", "30"), ("egnn", "80")):
    r = run("train", "-task", "diffusion", "-model", net, "-train", "dtr.xyz", "-test", "dte.xyz", "-width", "16",
            "-layers", "2", "-diffusion_steps", "50", "-batch", "8", "-steps", steps, "-lr", "3e-3", "-ema", "0.9",
            "-eval_every", "0", "-out", "%s.ckpt" % net)
    worst, moved, said = 0.0, 0.0, ""
    try:
        for ema in (True, False):
            module = elt.load_module("%s.ckpt" % net, ema=ema)
            with torch.no_grad():
                y = module(torch.from_numpy(x), torch.from_numpy(natoms), torch.from_numpy(t)).numpy()
            e = eloss.diffusion_forward("%s.ckpt" % net, x, natoms, t, ema=ema)
            worst = max(worst, float(np.abs(e - y).max() / np.abs(e).max()))
            moved = max(moved, float(np.abs(e[:, :3]).max()))
        cls = elt.EGNN if net == "egnn" else elt.GDM
        said = "%s, %d tensors" % (type(module).__name__, len(module.state_dict()))
        ok(r.returncode == 0 and isinstance(module, cls) and worst < 1e-5 and moved > 1e-2,
           "%s: the PyTorch module of the model file = eloss's network (largest difference %.1e of |eps|, "
           "largest |eps_x| %.2g; %s)" % (net, worst, moved, said))
    except Exception as exc:  # noqa: BLE001 - any failure is the test's finding
        ok(False, "%s: %s %s" % (net, exc, r.stderr[-200:]))
refusals = []
for args, needle in (((x[:-1], natoms, t), "summing to"), ((x.astype(np.float64), natoms, t), "float32"),
                     ((x, natoms, t + 2.0), "expected a time in [0, 1]")):
    try:
        eloss.diffusion_forward("gdm.ckpt", *args)
        refusals.append("accepted")
    except eloss.Error as exc:
        refusals.append(str(exc) if needle in str(exc) else "wrong message: %s" % exc)
try:
    eloss.diffusion_forward("m_open.ckpt", x, natoms, t)
    refusals.append("a spin model accepted")
except eloss.Error as exc:
    refusals.append(str(exc) if "not a diffusion model" in str(exc) else "wrong message: %s" % exc)
ok(not any(r == "accepted" or r.startswith("wrong") or r.endswith("accepted") for r in refusals),
   "diffusion_forward refuses rows not matching natoms, float64, t outside [0, 1] and a spin model: %s"
   % " | ".join(r[:60] for r in refusals))
sys.exit(1 if failed or count != PLAN else 0)
