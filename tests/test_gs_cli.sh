#!/usr/bin/env bash
# TAP test of `eloss gs`: the printed energy equals the energy of the spins
# it writes and, for 3 x 3, numpy's brute force over all 512 states; the
# transfer matrix and matching agree; a 40 x 40 lattice (beyond the
# transfer matrix) by matching; bad shapes, a lattice too wide for
# -gs_method tm and a NaN give one error and no output file.
#   test_gs_cli.sh <eloss>
set -uo pipefail
eloss=$(realpath "$1")
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..10"
"$py" - <<'PY'
import itertools
import numpy as np
rng = np.random.default_rng(2385)
for L in (3, 12, 40):
    np.save(f"H{L}.npy", rng.uniform(-1, 1, (L, L - 1)))
    np.save(f"V{L}.npy", rng.uniform(-1, 1, (L - 1, L)))
H, V = np.load("H3.npy"), np.load("V3.npy")
best = min(-(H * s[:, :-1] * s[:, 1:]).sum() - (V * s[:-1] * s[1:]).sum()
           for s in (np.array(c, float).reshape(3, 3) for c in itertools.product((-1, 1), repeat=9)))
open("brute3.txt", "w").write(repr(best))
np.save("H21.npy", np.zeros((21, 20))); np.save("V21.npy", np.zeros((20, 21)))
bad = np.load("H12.npy"); bad[2, 3] = np.nan; np.save("Hnan.npy", bad)
PY
energy_of() { "$py" -c "
import numpy as np; H=np.load('$1'); V=np.load('$2'); S=np.load('$3').astype(float)
assert S.shape == (H.shape[0], H.shape[0]) and S[0, 0] == 1 and set(np.unique(S)) <= {-1.0, 1.0}
print(repr(-(H*S[:,:-1]*S[:,1:]).sum()-(V*S[:-1]*S[1:]).sum()))"; }
out=$("$eloss" gs -jh H3.npy -jv V3.npy -out S3.npy)
"$py" -c "import sys; a=float('${out#energy=}'); b=float(open('brute3.txt').read()); sys.exit(abs(a-b) > 1e-12)"
ok $? "3 x 3: $out equals numpy brute force over 512 states ($(cat brute3.txt))"
out=$("$eloss" gs -jh H12.npy -jv V12.npy -out S12.npy)
e=$(energy_of H12.npy V12.npy S12.npy)
"$py" -c "import sys; sys.exit(abs(float('${out#energy=}') - float('$e')) > 1e-11)"
ok $? "12 x 12: printed $out equals the energy of the written spins ($e), S[0,0] = +1"
tm=$("$eloss" gs -jh H12.npy -jv V12.npy -gs_method tm -out Stm.npy)
mt=$("$eloss" gs -jh H12.npy -jv V12.npy -gs_method matching -out Smt.npy)
"$py" -c "import sys; sys.exit(abs(float('${tm#energy=}') - float('${mt#energy=}')) > 1e-11)" && cmp -s Stm.npy Smt.npy
ok $? "12 x 12: -gs_method tm ($tm) and matching ($mt) give the same energy and spins"
out=$("$eloss" gs -jh H40.npy -jv V40.npy -out S40.npy)
e=$(energy_of H40.npy V40.npy S40.npy)
"$py" -c "import sys; sys.exit(abs(float('${out#energy=}') - float('$e')) > 1e-10)"
ok $? "40 x 40 (matching, beyond the transfer matrix): printed $out equals the energy of the written spins"
cp H3.npy Hkeep.npy
"$eloss" gs -jh H3.npy -jv V3.npy -out "$PWD/H3.npy" > /dev/null 2> stderr.txt
[ $? = 2 ] && grep -q "is the input H3.npy" stderr.txt && cmp -s H3.npy Hkeep.npy
ok $? "-out naming the -jh file (by another path) is refused, the couplings intact"
bad() {
  local what=$1 needle=$2
  shift 2
  rm -f out.npy
  "$eloss" gs "$@" -out out.npy > stdout.txt 2> stderr.txt
  local rc=$?
  if [ $rc != 0 ] && [ ! -e out.npy ] && [ "$(grep -c error stderr.txt)" = 1 ] && grep -q -- "$needle" stderr.txt; then
    ok 0 "$what: $(cat stderr.txt)"
  else
    ok 1 "$what (rc=$rc, $(head -2 stderr.txt))"
  fi
}
bad "mismatched shapes" "V3.npy: expected shape (11, 12)" -jh H12.npy -jv V3.npy
bad "lattice too wide for the transfer matrix" "L = 21: the transfer matrix solves 2 <= L <= 20" -jh H21.npy -jv V21.npy -gs_method tm
bad "NaN coupling" "Hnan.npy: coupling nan at flat index" -jh Hnan.npy -jv V12.npy
bad "missing -jv" "-jv: required" -jh H12.npy
bad "unknown option" "-L" -jh H12.npy -jv V12.npy -L 12
tap_exit
