#!/usr/bin/env bash
# TAP test of `eloss spinloss` (docs/spinloss.md): for every loss, open
# and periodic couplings, with and without -flip_invariant, the printed
# loss equals an independent numpy implementation of the formulas written
# below (relative 1e-12) and the -grad_out gradient equals numpy's analytic
# gradient (1e-10 of its largest entry); bad input (wrong shapes,
# mismatched B, a target not +-1, NaN logits, wrong dtypes, a missing file)
# gives one error line, a non-zero exit and no gradient file; bad option
# values and options of another loss exit 2 with one line. On datasets of
# `eloss spingen` (open exact and periodic annealed ground states, the
# coupling layouts as stored): `true` at z = 60 y is the stored energy,
# and the `local` gradient at z = 0 with h0 = 0.01 points towards the
# ground state at every site (App. C.3: w_i > 0 for any h0 > 0). Two
# ranks print one identical line and write the same gradient bytes.
#   test_spinloss_cli.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..42"
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(2385)
B, L = 3, 5
np.save("Z.npy", rng.uniform(-3, 3, (B, L, L)))
np.save("Y.npy", rng.choice(np.array([-1, 1], np.int8), (B, L, L)))
np.save("Hopen.npy", rng.uniform(-1, 1, (B, L, L - 1)))
np.save("Vopen.npy", rng.uniform(-1, 1, (B, L - 1, L)))
np.save("Hper.npy", rng.uniform(-1, 1, (B, L, L)))
np.save("Vper.npy", rng.uniform(-1, 1, (B, L, L)))
# Bad inputs.
np.save("V4.npy", rng.uniform(-1, 1, (B, 3, 4)))
np.save("Z2.npy", rng.uniform(-3, 3, (2, L, L)))
z = np.load("Z.npy"); z[1, 2, 3] = np.nan; np.save("Znan.npy", z)
y = np.load("Y.npy"); y[2, 0, 1] = 0; np.save("Y0.npy", y)
np.save("Yf.npy", np.load("Y.npy").astype(np.float64))
np.save("Vper2.npy", rng.uniform(-1, 1, (2, L, L)))
# The smallest lattice, L = 2 periodic: each pair of neighbours is joined
# by two bonds (one each way round).
np.save("sZ.npy", rng.uniform(-3, 3, (2, 2, 2))); np.save("sY.npy", rng.choice(np.array([-1, 1], np.int8), (2, 2, 2)))
np.save("sHper.npy", rng.uniform(-1, 1, (2, 2, 2))); np.save("sVper.npy", rng.uniform(-1, 1, (2, 2, 2)))
PY
cat > check.py <<'PY'
# check.py <bc> <loss> <flip> <T> <h0> <printed "loss=..."> <grad.npy> [prefix]:
# an independent numpy implementation of docs/spinloss.md's formulas, on the
# arrays <prefix>Z.npy, <prefix>Y.npy, <prefix>H<bc>.npy, <prefix>V<bc>.npy.
import sys
import numpy as np
bc, kind, flip, T, h0, printed, gpath = sys.argv[1], sys.argv[2], sys.argv[3] == "1", float(sys.argv[4]), float(sys.argv[5]), sys.argv[6], sys.argv[7]
pre = sys.argv[8] if len(sys.argv) > 8 else ""
z, y = np.load(pre + "Z.npy"), np.load(pre + "Y.npy").astype(float)
H, V = np.load(pre + "H%s.npy" % bc), np.load(pre + "V%s.npy" % bc)
B, n = z.shape[0], z[0].size

def field(s, H=H, V=V):
    """h_i(s) = sum_j J_ij s_j, per instance."""
    if bc == "open":
        h = np.zeros_like(s)
        h[:, :, :-1] += H * s[:, :, 1:]; h[:, :, 1:] += H * s[:, :, :-1]
        h[:, :-1, :] += V * s[:, 1:, :]; h[:, 1:, :] += V * s[:, :-1, :]
        return h
    return (H * np.roll(s, -1, 2) + np.roll(H * s, 1, 2) + V * np.roll(s, -1, 1) + np.roll(V * s, 1, 1))

def bond_energy(s, H=H, V=V):
    """-sum_<ij> J_ij s_i s_j, each bond once, per instance."""
    if bc == "open":
        return -(H * s[:, :, :-1] * s[:, :, 1:]).sum((1, 2)) - (V * s[:, :-1, :] * s[:, 1:, :]).sum((1, 2))
    return -(H * s * np.roll(s, -1, 2)).sum((1, 2)) - (V * s * np.roll(s, -1, 1)).sum((1, 2))

p = 1 / (1 + np.exp(-z)); q = 1 - p
m = 2 * p - 1                       # = tanh(z / 2)
S = (-p * np.log(p) - q * np.log(q)).sum((1, 2))
dm, dS = 2 * p * q, -z * p * q      # dm/dz, d(entropy)/dz

def labelled(t):
    if kind == "ce":
        return np.log1p(np.exp(-t * z)).mean((1, 2)), -t / (1 + np.exp(t * z)) / n
    return np.maximum(0, 1 - t * z).mean((1, 2)), np.where(t * z < 1, -t, 0.0) / n

if kind in ("ce", "margin"):
    l, g = labelled(y)
    if flip:
        lf, gf = labelled(-y)
        take = lf < l
        l = np.where(take, lf, l); g = np.where(take[:, None, None], gf, g)
elif kind == "local":
    w = y * field(y) + h0
    l = (-(w * y * m).sum((1, 2)) - T * S) / T
    g = -(w * y / T) * dm - dS
elif kind == "bond":
    # w_ij y_i y_j = J_ij + h0 y_i y_j: bonds with those couplings.
    if bc == "open":
        Hw, Vw = H + h0 * y[:, :, :-1] * y[:, :, 1:], V + h0 * y[:, :-1, :] * y[:, 1:, :]
    else:
        Hw, Vw = H + h0 * y * np.roll(y, -1, 2), V + h0 * y * np.roll(y, -1, 1)
    l = (bond_energy(m, Hw, Vw) - T * S) / T
    g = -field(m, Hw, Vw) / T * dm - dS
else:
    l = bond_energy(m) - T * S
    g = -field(m) * dm - T * dS
want, gwant = l.mean(), g / B
got = float(printed.split("=")[1])
gget = np.load(gpath)
rel = abs(got - want) / abs(want)
grel = np.abs(gget - gwant).max() / np.abs(gwant).max()
ok = rel <= 1e-12 and gget.shape == z.shape and gget.dtype == np.float64 and grel <= 1e-10
print("%s: loss %.17g vs numpy %.17g (rel %.1e), gradient max rel %.1e" % ("ok" if ok else "MISMATCH", got, want, rel, grel))
sys.exit(0 if ok else 1)
PY
for bc in open per; do
  for kind in ce margin local true bond; do
    for flip in 0 1; do
      case $kind in local|true|bond) [ $flip = 1 ] && continue ;; esac
      args=(-jh H$bc.npy -jv V$bc.npy -logits Z.npy -loss $kind -grad_out G.npy)
      [ $kind != true ] && args+=(-target Y.npy)
      [ $flip = 1 ] && args+=(-flip_invariant)
      T=0.1 h0=5
      # Non-default temperature and h0 on the periodic lattice.
      if [ $bc = per ] && [ $kind = local ]; then T=0.37 h0=4.5; args+=(-T $T -h0 $h0); fi
      if [ $bc = per ] && [ $kind = true ]; then T=0.7; args+=(-T $T); fi
      if [ $bc = per ] && [ $kind = bond ]; then T=0.25 h0=1.5; args+=(-T $T -h0 $h0); fi
      rm -f G.npy
      out=$("$eloss" spinloss "${args[@]}" 2> stderr.txt)
      msg=$("$py" check.py $bc $kind $flip $T $h0 "$out" G.npy 2>&1)
      ok $? "$kind$([ $flip = 1 ] && echo ' -flip_invariant') $bc T=$T h0=$h0: $msg"
    done
  done
done
# The comparison bites: the last periodic `true` output checked as if T were 0.71.
"$py" check.py per true 0 0.71 5 "$out" G.npy > /dev/null 2>&1
[ $? != 0 ]; ok $? "check.py refuses the same output checked against T = 0.71 instead of 0.7"
for kind in local true bond; do
  t=(-target sY.npy); [ $kind = true ] && t=()
  out=$("$eloss" spinloss -jh sHper.npy -jv sVper.npy -logits sZ.npy "${t[@]}" -loss $kind -grad_out G.npy 2> stderr.txt)
  msg=$("$py" check.py per $kind 0 0.1 5 "$out" G.npy s 2>&1)
  ok $? "$kind, L = 2 periodic (two bonds per pair): $msg"
done
for bc in open periodic; do
  if [ $bc = open ]; then gen=(-L 5 -instances 3 -seed 9); else gen=(-bc periodic -L 6 -instances 3 -seed 8 -gs sa -gs_sweeps 400); fi
  "$eloss" spingen "${gen[@]}" -out d$bc.h5 > /dev/null 2>&1
  "$py" - d$bc.h5 $bc <<'PY'
import sys
import h5py
import numpy as np
f, bc = h5py.File(sys.argv[1], "r"), sys.argv[2]
np.save(f"Hd{bc}.npy", f["couplings_h"][...]); np.save(f"Vd{bc}.npy", f["couplings_v"][...])
gs = f["ground_state"][...]
np.save(f"Yd{bc}.npy", gs); np.save(f"Zd{bc}.npy", 60.0 * gs); np.save(f"Z0{bc}.npy", np.zeros(gs.shape))
open(f"E{bc}.txt", "w").write(repr(f["energy"][...].mean()))
PY
  out=$("$eloss" spinloss -jh Hd$bc.npy -jv Vd$bc.npy -logits Zd$bc.npy -loss true 2>&1)
  "$py" -c "import sys; a=float('${out#loss=}'); b=float(open('E$bc.txt').read()); sys.exit(abs(a-b) > 1e-12*abs(b))"
  ok $? "spingen $bc: true at z = 60 y is the mean stored ground-state energy ($out vs $(cat E$bc.txt))"
  "$eloss" spinloss -jh Hd$bc.npy -jv Vd$bc.npy -logits Z0$bc.npy -target Yd$bc.npy -loss local -h0 0.01 \
    -grad_out G.npy > /dev/null 2>&1
  "$py" -c "import sys, numpy as np; sys.exit(not (np.sign(-np.load('G.npy')) == np.load('Yd$bc.npy')).all())"
  ok $? "spingen $bc: local gradient at z = 0, h0 = 0.01, descends towards the ground state at every site"
done
"$eloss" spinloss "${args[@]}" > one.txt 2>&1 && cp G.npy G1.npy &&
  "${mpi[@]}" -n 2 "$eloss" spinloss "${args[@]}" > two.txt 2>&1 && cmp -s one.txt two.txt && cmp -s G.npy G1.npy
ok $? "2 ranks: the same single line ($(cat two.txt)) and the same gradient bytes as 1 rank"
# bad <expected rc: "nonzero" or 2> <what> <needle> args...: one error line,
# the exit code, nothing on stdout, no gradient file.
bad() {
  local want=$1 what=$2 needle=$3
  shift 3
  rm -f G.npy
  "$eloss" spinloss "$@" -grad_out G.npy > stdout.txt 2> stderr.txt
  local rc=$?
  local rc_ok=1
  if [ "$want" = 2 ]; then [ $rc = 2 ] && rc_ok=0; else [ $rc != 0 ] && rc_ok=0; fi
  if [ $rc_ok = 0 ] && [ ! -e G.npy ] && [ ! -s stdout.txt ] && [ "$(wc -l < stderr.txt)" = 1 ] &&
     grep -q "^eloss spinloss: error: " stderr.txt && grep -qF -- "$needle" stderr.txt; then
    ok 0 "$what (exit $rc): $(cat stderr.txt)"
  else
    ok 1 "$what (rc=$rc, $(head -3 stderr.txt))"
  fi
}
open=(-jh Hopen.npy -jv Vopen.npy)
bad nonzero "wrong -jv shape" "V4.npy: shape (3, 3, 4) for -jv; expected (3, 4, 5)" -jh Hopen.npy -jv V4.npy -logits Z.npy -target Y.npy
bad nonzero "periodic -jh with open -jv" "expected (3, 5, 5) to match -jh Hper.npy (periodic)" -jh Hper.npy -jv Vopen.npy -logits Z.npy -target Y.npy
bad nonzero "mismatched B in -jv" "Vper2.npy: shape (2, 5, 5)" -jh Hper.npy -jv Vper2.npy -logits Z.npy -target Y.npy
bad nonzero "mismatched B in -logits" "Z2.npy: shape (2, 5, 5) for -logits; expected (3, 5, 5)" "${open[@]}" -logits Z2.npy -target Y.npy
bad nonzero "target not +-1" "Y0.npy: target 0 at flat index 51" "${open[@]}" -logits Z.npy -target Y0.npy -loss local
bad nonzero "float target" "Yf.npy: expected int8 target spins, found float64" "${open[@]}" -logits Z.npy -target Yf.npy
bad nonzero "NaN logit" "Znan.npy: non-finite logit at flat index 38" "${open[@]}" -logits Znan.npy -target Y.npy
bad nonzero "missing -logits" "-logits: required" "${open[@]}" -target Y.npy
bad nonzero "missing -target" "-target: required for -loss margin" "${open[@]}" -logits Z.npy -loss margin
bad nonzero "no such file" "nothere.npy" -jh nothere.npy -jv Vopen.npy -logits Z.npy -target Y.npy
bad 2 "unknown loss" "-loss mse: expected one of ce, margin, local, true, bond" "${open[@]}" -logits Z.npy -target Y.npy -loss mse
bad 2 "negative T" "-T -1: expected a finite real number >= 0" "${open[@]}" -logits Z.npy -target Y.npy -loss local -T -1
bad 2 "T = nan" "-T nan: expected" "${open[@]}" -logits Z.npy -loss true -T nan
bad 2 "T = 0 with local" "-T 0: expected T > 0 for -loss local" "${open[@]}" -logits Z.npy -target Y.npy -loss local -T 0
bad 2 "-flip_invariant with local" "-flip_invariant: is for -loss ce and margin only" "${open[@]}" -logits Z.npy -target Y.npy -loss local -flip_invariant
bad 2 "-flip_invariant with true" "-flip_invariant: is for -loss ce and margin only" "${open[@]}" -logits Z.npy -loss true -flip_invariant
bad 2 "-target with true" "-target Y.npy: -loss true uses no labels" "${open[@]}" -logits Z.npy -target Y.npy -loss true
bad 2 "-h0 with ce" "-h0 3: is for -loss local and bond only" "${open[@]}" -logits Z.npy -target Y.npy -h0 3
cp Z.npy Zkeep.npy
"$eloss" spinloss "${open[@]}" -logits Z.npy -target Y.npy -grad_out ./Z.npy > /dev/null 2> stderr.txt
[ $? = 2 ] && grep -qF -- "-grad_out ./Z.npy: is the input Z.npy" stderr.txt && cmp -s Z.npy Zkeep.npy
ok $? "-grad_out naming the -logits file is refused, the logits intact: $(cat stderr.txt)"
tap_exit
