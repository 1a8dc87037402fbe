#!/usr/bin/env bash
# TAP test of jobs/quickstart, the job README.md promises: it runs under
# mpirun -n 2, prints the four-row table in which the invariant losses agree
# on both predictions and MSE does not, and writes the gradient file.
#   test_quickstart.sh <eloss> <repo>
set -uo pipefail
eloss=$(realpath "$1")
repo=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "1..6"
OUT_DIR=$out "$repo/jobs/quickstart" "$eloss" 2 --allow-run-as-root --oversubscribe > "$out/log" 2>&1
rc=$?
[ $rc = 0 ] && echo "ok 1 - quickstart exits 0" || { echo "not ok 1 - quickstart exit code $rc"; sed 's/^/# /' "$out/log"; }
# compare <row label> <want>: exit 0 if the row exists and its two columns
# agree to 1e-8 relative (want = 1) or differ (want = 0).
compare() {
  awk -F'|' -v label="$1" -v want="$2" '{ name = $2; gsub(/^ +| +$/, "", name) }
    name == label { found = 1; a = $3 + 0; b = $4 + 0; d = a - b; if (d < 0) d = -d; same = a > 0 && d <= 1e-8 * a }
    END { exit !(found && same == want) }' "$out/log"
}
agree() { compare "$1" 1; }
agree "energy, exp_dist, complete" && agree "energy, lj, covalent bonds" && agree "kabsch-aligned MSE" && echo "ok 2 - energy and Kabsch rows agree on noisy and moved predictions" || echo "not ok 2 - invariant rows differ"
compare "MSE" 0 && echo "ok 3 - MSE row differs between the two predictions" || echo "not ok 3 - MSE row missing or unchanged by the rigid motions"
[ -s "$out/grad.npy" ] && echo "ok 4 - gradient written to OUT_DIR/grad.npy" || echo "not ok 4 - no gradient file"
grep -q "instances: *300" "$out/log" && grep -q "ground-state energy per spin: *-0\.[0-9]* +- 0\.[0-9]" "$out/log"
[ $? = 0 ] && echo "ok 5 - spin dataset summary: $(grep 'energy per spin' "$out/log" | tr -s ' ')" || echo "not ok 5 - no spin dataset summary"
/usr/bin/python3 -c "
import h5py, sys
f = h5py.File('$out/spin16_quickstart.h5', 'r')
sys.exit(not (f['ground_state'].shape == (300, 16, 16) and f['samples'].shape == (300, 2, 4, 16, 16)))"
[ $? = 0 ] && echo "ok 6 - the dataset opens in h5py with the advertised shapes" || echo "not ok 6 - dataset missing or malformed"
