#!/usr/bin/env bash
# TAP test of `eloss loss` as users meet it: results, rank independence of
# the printed loss and of the gradient file's bytes, -help, and every bad
# input giving one clear error, a non-zero exit and no output file.
#   test_cli.sh <eloss> <mpiexec> <repo>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
repo=$3
py=/usr/bin/python3
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..26"

# Data: 7 structures of 11 atoms in 3D, a prediction, a complete edge list.
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(2385)
ref = rng.uniform(-1.5, 1.5, size=(7, 11, 3))
pred = ref + 0.2 * rng.normal(size=ref.shape)
np.save("ref.npy", ref)
np.save("pred.npy", pred)
np.save("pred32.npy", pred.astype(np.float32))
i, j = np.triu_indices(11, 1)
np.save("all_pairs.npy", np.stack([i, j], 1).astype(np.int64))
np.save("wide.npy", rng.normal(size=(7, 11, 4)))
bad = pred.copy(); bad[3, 4, 1] = np.nan
np.save("nan.npy", bad)
np.save("short_pred.npy", pred[:5])
np.save("outside_edges.npy", np.array([[0, 1], [3, 11]], dtype=np.int32))
np.save("float_edges.npy", np.array([[0.0, 1.0]]))
# The energy loss of Eq. 7 with k = exp(-d), written independently in numpy.
d = np.linalg.norm(ref[:, :, None] - ref[:, None], axis=-1)
dh = np.linalg.norm(pred[:, :, None] - pred[:, None], axis=-1)
E = 0.5 * (np.exp(-d) * (d - dh) ** 2).sum(axis=(1, 2))
open("numpy_energy.txt", "w").write(repr(E.mean()))
PY
head -c 300 pred.npy > truncated.npy
echo "hello" > text.npy

loss() { "${mpi[@]}" -n "$1" "$eloss" loss "${@:2}"; }

# One 40 000-atom structure with a random edge list of uneven degrees: big
# enough for the edge-list kernel to use threads. Its loss and gradient
# must equal numpy's Eq. 7 and be the same bits with 1 and 2 threads, for
# a stored (exp_dist) and a recomputed (inv_dist) coefficient law.
"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
n = 40000
ref = rng.uniform(0, 60, size=(1, n, 2))
pred = ref + 0.3 * rng.normal(size=ref.shape)
e = rng.integers(0, n, size=(90000, 2))
e = e[e[:, 0] != e[:, 1]]
e = np.unique(np.sort(e, axis=1), axis=0)
np.save("big_ref.npy", ref); np.save("big_pred.npy", pred); np.save("big_edges.npy", e.astype(np.int32))
i, j = e[:, 0], e[:, 1]
d = np.linalg.norm(ref[0, i] - ref[0, j], axis=1)
dh = np.linalg.norm(pred[0, i] - pred[0, j], axis=1)
for name, k in (("exp_dist", np.exp(-d)), ("inv_dist", 1 / d)):
    c = -2 * k * (d - dh) / dh
    g = np.zeros((n, 2))
    np.add.at(g, i, c[:, None] * (pred[0, i] - pred[0, j]))
    np.add.at(g, j, -c[:, None] * (pred[0, i] - pred[0, j]))
    np.save(f"big_grad_{name}.npy", g[None])
    open(f"big_{name}.txt", "w").write(repr((k * (d - dh) ** 2).sum()))
PY
for law in exp_dist inv_dist; do
  a=$(OMP_NUM_THREADS=1 "$eloss" loss -pred big_pred.npy -ref big_ref.npy -coeff $law -edges big_edges.npy -grad_out big1.npy)
  b=$(OMP_NUM_THREADS=2 "$eloss" loss -pred big_pred.npy -ref big_ref.npy -coeff $law -edges big_edges.npy -grad_out big2.npy)
  [ "$a" = "$b" ] && cmp -s big1.npy big2.npy && "$py" - "${a#loss=}" "$(cat big_$law.txt)" big1.npy big_grad_$law.npy <<'PY'
import sys, numpy as np
a, b = float(sys.argv[1]), float(sys.argv[2])
g, want = np.load(sys.argv[3]), np.load(sys.argv[4])
sys.exit(not (abs(a - b) <= 1e-12 * abs(b) and np.abs(g - want).max() <= 1e-12 * np.abs(want).max()))
PY
  ok $? "40 000 atoms, uneven degrees, $law: 1 and 2 threads give the same bits, equal to numpy ($a)"
done

out=$(loss 1 -pred pred.npy -ref ref.npy -coeff exp_dist -grad_out g1.npy 2>err.txt)
ok $? "energy loss runs on one rank"
want=$(cat numpy_energy.txt)
"$py" -c "import sys; a=float('${out#loss=}'); b=float('$want'); sys.exit(abs(a-b) > 1e-12*abs(b))"
ok $? "loss ($out) equals an independent numpy evaluation of Eq. 7 ($want)"
"$py" -c "import numpy as np; g=np.load('g1.npy'); assert g.shape==(7,11,3) and g.dtype==np.float64"
ok $? "gradient file is a (7, 11, 3) float64 array numpy can load"
for np_ in 2 4; do
  o=$(loss $np_ -pred pred.npy -ref ref.npy -coeff exp_dist -grad_out g$np_.npy)
  [ "$o" = "$out" ] && cmp -s g1.npy g$np_.npy
  ok $? "$np_ ranks print the same loss and write the same gradient bytes"
done
o=$(loss 2 -pred pred.npy -ref ref.npy -coeff exp_dist -edges all_pairs.npy)
# The same terms summed in another order (per atom, not per pair).
"$py" -c "import sys; a=float('${o#loss=}'); b=float('${out#loss=}'); sys.exit(abs(a-b) > 1e-13*abs(b))"
ok $? "an explicit list of every pair equals the complete graph to 1e-13 ($o)"
# -preset: the training losses by name (atoms_preset_table) are the same
# losses as their options written out.
o=$(loss 1 -pred pred.npy -ref ref.npy -preset energy -grad_out gp.npy)
[ "$o" = "$out" ] && cmp -s g1.npy gp.npy
ok $? "-preset energy = -loss energy -coeff exp_dist -edges complete, bit for bit ($o)"
a=$(loss 1 -pred pred.npy -ref ref.npy -preset sparse -seed 4)
b=$(loss 1 -pred pred.npy -ref ref.npy -coeff exp_dist -edges regular -seed 4)
m=$(loss 1 -pred pred.npy -ref ref.npy -preset mse)
n=$(loss 1 -pred pred.npy -ref ref.npy -loss mse)
[ -n "$a" ] && [ "$a" = "$b" ] && [ -n "$m" ] && [ "$m" = "$n" ]
ok $? "-preset sparse = the energy loss on regular graphs, -preset mse = -loss mse ($a, $m)"
o=$(loss 1 -pred pred32.npy -ref ref.npy -coeff exp_dist -precision single -grad_out g32.npy)
"$py" -c "import numpy as np, sys; g=np.load('g32.npy'); a=float('${o#loss=}'); b=float('${out#loss=}'); sys.exit(not (g.dtype==np.float32 and abs(a-b) < 1e-5*b))"
ok $? "float32 path agrees with float64 ($o) and writes float32"
o=$(loss 1 -pred pred.npy -ref ref.npy -loss kabsch -repeat 3)
grep -q '^loss=' <<< "$o" && grep -q '^ms_per_eval=' <<< "$o"
ok $? "-repeat prints loss= and ms_per_eval="
o=$(loss 2 -options_file "$repo/inputs/loss_demo.opts" -pred "$repo/inputs/demo/pred_noisy.xyz" -ref "$repo/inputs/demo/ref.xyz" -edges bonds)
grep -q '^loss=[0-9]' <<< "$o"
ok $? "XYZ molecules with covalent-bond edges from the deck ($o)"
a=$(loss 1 -options_file "$repo/inputs/loss_demo.opts" -pred "$repo/inputs/demo/pred_noisy.xyz" -ref "$repo/inputs/demo/ref.xyz")
b=$(loss 1 -options_file "$repo/inputs/loss_demo.opts" -pred "$repo/inputs/demo/pred_moved.xyz" -ref "$repo/inputs/demo/ref.xyz")
"$py" -c "import sys; a=float('${a#loss=}'); b=float('${b#loss=}'); sys.exit(abs(a-b) > 1e-8*a)"
ok $? "demo molecules: energy loss unchanged by rotating and translating each one ($a, $b)"
"$eloss" loss -help > help.txt 2>&1
rc=$?
[ $rc = 0 ] && grep -q -- '-coeff' help.txt && grep -q -- '-grad_out' help.txt && grep -q 'exp_dist' help.txt
ok $? "-help lists the options and exits 0"
"$py" -c "open('long.xyz', 'w').write('2\\n' + 'c' * 4095 + 'H 0 0 0\\nH 0.74 0 0\\n')"
"$eloss" loss -pred long.xyz -ref long.xyz > out.txt 2> err.txt
[ $? = 1 ] && grep -q "long.xyz:2: a line longer than 4094 characters" err.txt && [ ! -s out.txt ]
ok $? "an XYZ line too long for the reader is refused, not read as two lines: $(cat err.txt)"
cp pred.npy keep.npy
"$eloss" loss -pred pred.npy -ref ref.npy -grad_out pred.npy > /dev/null 2> err.txt
[ $? = 2 ] && grep -q "is the input pred.npy" err.txt && cmp -s pred.npy keep.npy
ok $? "-grad_out naming the -pred file is refused, the prediction intact"

# Bad input: exit code != 0, one error line naming the file, no output file.
bad() {
  local what=$1 needle=$2
  shift 2
  rm -f out.npy
  loss 2 "$@" -grad_out out.npy > stdout.txt 2> stderr.txt
  local rc=$?
  local lines
  lines=$(grep -c 'error' stderr.txt)
  if [ $rc != 0 ] && [ ! -e out.npy ] && [ "$lines" = 1 ] && grep -q -- "$needle" stderr.txt && ! grep -q loss= stdout.txt; then
    ok 0 "$what: $(grep error stderr.txt)"
  else
    ok 1 "$what (rc=$rc, stderr: $(cat stderr.txt | head -3))"
  fi
}
bad "wrong shape (d = 4)" "wide.npy" -pred wide.npy -ref ref.npy
bad "prediction and reference shapes differ" "short_pred.npy" -pred short_pred.npy -ref ref.npy
bad "NaN in the prediction" "nan.npy: non-finite value at structure 3, atom 4" -pred nan.npy -ref ref.npy
bad "truncated .npy" "truncated.npy: truncated" -pred truncated.npy -ref ref.npy
bad "not a .npy file" "text.npy: not a .npy file" -pred text.npy -ref ref.npy
bad "unknown option" "-bogus" -pred pred.npy -ref ref.npy -bogus 3
bad "missing file" "nothere.npy: cannot open" -pred nothere.npy -ref ref.npy
bad "edge outside the structures" "outside_edges.npy: edge 1 = (3, 11) has vertex index 11" -pred pred.npy -ref ref.npy -edges outside_edges.npy
bad "float edge list" "float_edges.npy: expected an int32 or int64 edge list" -pred pred.npy -ref ref.npy -edges float_edges.npy
tap_exit
