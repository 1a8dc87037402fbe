#!/usr/bin/env bash
# TAP test of jobs/einf (exact ground-state energies per spin of open
# lattices and the fit e(L) = e_inf + a/L + b/L^2) and jobs/plot_einf.py:
# - the fit on synthetic files whose mean energies per spin lie exactly on
#   -1.3 + 0.5/L - 2/L^2: it returns those coefficients and chi^2 = 0, and
#   the tables and the PNG are written;
# - bad LAWS, SIZES, SEED, FIT_MIN and NP: exit 2 before any work;
# - a tiny run (+-J, L = 6 .. 12, 16 instances each, 2 ranks): the csv
#   holds the files' mean energies per spin; a rerun generates nothing;
#   other SIZES on the same OUT_DIR are refused.
#   test_einf.sh <eloss> <repo>
set -uo pipefail
eloss=$(realpath "$1")
repo=$(realpath "$2")
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..5"
tap_need_python 5 "numpy, h5py, matplotlib" "python3-h5py python3-matplotlib"
einf=$repo/jobs/einf
export ELOSS=$eloss NP=2

# 1. The fit on synthetic data: energies +-0.01 per spin around the exact
# curve, so every mean lies on it.
mkdir -p syn/gaussian
"$py" - <<'PY'
import h5py
import numpy as np
for L in (8, 16, 32, 64):
    e = -1.3 + 0.5 / L - 2 / L**2
    with h5py.File(f"syn/gaussian/L{L}.h5", "w") as f:
        f["energy"] = np.array([e - 0.01, e + 0.01, e - 0.02, e + 0.02]) * L * L
PY
"$py" "$repo/jobs/plot_einf.py" syn 8 gaussian "8:4 16:4 32:4 64:4" 2> err.txt
"$py" - <<'PY'
import re
import sys
md = open("syn/einf.md").read()
row = [l for l in md.splitlines() if l.startswith("| Gaussian J | 4 (8–64)")][0]
e_inf, a, b = (float(x) for x in re.findall(r"\| (-?[0-9.]+) ±", row)[:3])
csv = open("syn/einf.csv").read().splitlines()
sys.exit(not (abs(e_inf + 1.3) < 1e-9 and abs(a - 0.5) < 1e-6 and abs(b + 2) < 1e-4 and "| 0.00 |" in row
              and len(csv) == 5 and csv[1].startswith("gaussian,8,4,")))
PY
[ $? = 0 ] && [ -s syn/einf.png ]
ok $? "the fit of means on -1.3 + 0.5/L - 2/L^2 returns those coefficients, chi^2 0; csv, md and png written"

# 2. Settings refused before any work.
bad=0
for setting in "LAWS=ising" "LAWS=pm pm" "SIZES=32 48 64 96" "SIZES=2:10 8:10 16:10 32:10" \
               "SIZES=8:10 8:10 16:10 32:10" "SIZES=8:10 16:10 32:10" "SEED=01" "FIT_MIN=600" "NP=0"; do
  rm -rf refused
  env "$setting" "OUT_DIR=$PWD/refused" "$einf" > /dev/null 2> err.txt
  rc=$?
  if [ $rc != 2 ] || [ -e refused ] || [ "$(wc -l < err.txt)" != 1 ]; then
    bad=1
    echo "# $setting: exit $rc, $(head -1 err.txt)"
  fi
done
ok $bad "bad LAWS, SIZES (no count, L < 4, twice, 3 sizes), SEED, FIT_MIN and NP: exit 2, one line, nothing written"

# 3. A tiny run.
tiny=(LAWS=pm "SIZES=6:16 8:16 10:16 12:16" FIT_MIN=6 "OUT_DIR=$PWD/tiny")
env "${tiny[@]}" "$einf" > out.txt 2> err.txt
rc=$?
"$py" - <<'PY'
import sys
import h5py
import numpy as np
rows = [l.split(",") for l in open("tiny/einf.csv").read().splitlines()[1:]]
good = len(rows) == 4
for law, L, n, m, s in rows:
    with h5py.File(f"tiny/{law}/L{L}.h5", "r") as f:
        e = f["energy"][...] / int(L) ** 2
        good = good and int(n) == 16 and abs(float(m) - e.mean()) < 1e-9 and "-gs_method matching" in f.attrs["options"]
sys.exit(not good)
PY
[ $rc = 0 ] && [ $? = 0 ] && [ -s tiny/einf.png ] && grep -q "^| ±J | 4 (6–12)" tiny/einf.md
ok $? "tiny run: the csv holds the files' mean energies per spin (by matching); md and png written"
env "${tiny[@]}" "$einf" > out2.txt 2> err2.txt
[ $? = 0 ] && ! grep -q "spingen:" err2.txt
ok $? "a rerun generates nothing"
env LAWS=pm "SIZES=6:16 8:16 10:16 12:20" FIT_MIN=6 "OUT_DIR=$PWD/tiny" "$einf" > /dev/null 2> err3.txt
[ $? = 1 ] && grep -q "holds results of other settings" err3.txt
ok $? "other SIZES on the same OUT_DIR refused"
tap_exit
