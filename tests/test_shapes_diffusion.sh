#!/usr/bin/env bash
# TAP test of `eloss shapes -model diffusion` (docs/shapes.md):
# - the generated shapes (CSV) of 1, 2 and 4 ranks are the same bytes, for
#   the sparse loss whose graphs are redrawn every step, and the printed
#   metrics the same;
# - the CSV's quality column equals an independent numpy computation of
#   App. C.1's metric about each shape's centroid at its own mean radius,
#   and the printed mean, median, fraction above 5, radius quartiles and
#   fraction of radii in [0.3, 5] are those of the columns;
# - a small budget learns: N = 6, 9375 steps, the generated shapes' quality
#   is far above that of the same network untrained (lr 1e-12), for the
#   eps-MSE and for the Kabsch loss on x_hat, and their radii spread like
#   the data's (U[0.3, 5]: quartiles 1.48, 2.65, 3.83);
# - the regression's output line is unchanged by the new options;
# - jobs/plot_fig3diff.py (jobs/fig3diff's tables and figures) on the CSV
#   files of one seed (values alone, no "± nan") and of two (mean ± s.e.),
#   with the shapes of an eloss run binned by radius.
#   test_shapes_diffusion.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..7"

small=(-model diffusion -loss sparse -vertices 6 -aug_angle 1 -samples 512 -epochs 2 -seed 2 -test 70
  -diffusion_steps 40)
"$eloss" shapes "${small[@]}" -out d1.csv > d1.out 2> /dev/null &&
  "${mpi[@]}" -n 2 "$eloss" shapes "${small[@]}" -out d2.csv > d2.out 2> /dev/null &&
  "${mpi[@]}" -n 4 "$eloss" shapes "${small[@]}" -out d4.csv > d4.out 2> /dev/null &&
  cmp -s d1.csv d2.csv && cmp -s d1.csv d4.csv &&
  [ "$(cut -d' ' -f1-8 d1.out)" = "$(cut -d' ' -f1-8 d2.out)" ] && [ "$(cut -d' ' -f1-8 d1.out)" = "$(cut -d' ' -f1-8 d4.out)" ]
ok $? "sparse loss: 1, 2 and 4 ranks generate the same shapes and print the same metrics ($(cut -d' ' -f1-2 d1.out))"

"$py" - <<'PY'
import csv, math
import numpy as np
rows = list(csv.DictReader(open("d1.csv")))
shapes = {}
for r in rows:
    shapes.setdefault(int(r["shape"]), []).append(r)
assert len(shapes) == 70 and all(len(v) == 6 for v in shapes.values())
qs, rs = [], []
for v in shapes.values():
    p = np.array([[float(r["x"]), float(r["y"])] for r in v])
    p -= p.mean(0)
    rad = np.hypot(p[:, 0], p[:, 1])
    assert abs(rad.mean() - float(v[0]["radius"])) < 1e-7 * rad.mean(), (rad.mean(), v[0]["radius"])
    ang = np.sort(np.arctan2(p[:, 1], p[:, 0]))
    gaps = np.diff(np.append(ang, ang[0] + 2 * math.pi))
    q = -math.log(max(gaps.std() / (2 * math.pi) + rad.std() / rad.mean(), 1e-15))
    assert abs(q - float(v[0]["quality"])) < 1e-5 * max(1, abs(q)), (q, v[0]["quality"])
    qs.append(q), rs.append(rad.mean())
printed = dict(w.split("=") for w in open("d1.out").read().split())
rs = np.array(rs)
want = {"quality": np.mean(qs), "median": np.median(qs), "above5": np.mean(np.array(qs) > 5),
        "radius_q1": np.percentile(rs, 25), "radius_median": np.median(rs), "radius_q3": np.percentile(rs, 75),
        "in_range": np.mean((rs >= 0.3) & (rs <= 5))}
for k, v in want.items():
    assert abs(float(printed[k]) - v) <= 1e-3 * max(1, abs(v)), (k, printed[k], v)
PY
ok $? "the quality column and the printed mean, median, fraction above 5, radius quartiles and fraction in range equal numpy's"

# Measured (seeds 1, 2, 3): quality mse 4.92-5.07, kabsch 4.72-4.94, the
# untrained network 0.59-0.61; radius quartiles
# 1.21-1.87, 2.38-3.16, 3.69-4.21 with 92-96 % of the radii in [0.3, 5]
# (the data's 1.48, 2.65, 3.83, all); the untrained network's radii ~440.
budget=(-model diffusion -vertices 6 -samples 4000 -epochs 150 -batch 64 -lr 3e-3 -diffusion_steps 100 -test 300
  -ema 0.99 -seed 1)
run() { "$eloss" shapes "${budget[@]}" "$@" 2> /dev/null; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^$1=\([^ ]*\).*/\1/p" <<< "$2"; }
mse=$(run -loss mse)
kabsch=$(run -loss kabsch)
untrained=$(run -loss mse -epochs 1 -lr 1e-12)
q_mse=$(field quality "$mse") q_kabsch=$(field quality "$kabsch") q_0=$(field quality "$untrained")
awk -v m="$q_mse" -v k="$q_kabsch" -v u="$q_0" 'BEGIN { exit !(m > u + 3 && k > u + 3 && m > 4.2 && k > 4.0) }'
ok $? "9375 steps: mse $q_mse and kabsch $q_kabsch generate shapes far above the untrained network's $q_0"
r_mse="$(field radius_q1 "$mse") $(field radius_median "$mse") $(field radius_q3 "$mse") $(field in_range "$mse")"
r_kabsch="$(field radius_q1 "$kabsch") $(field radius_median "$kabsch") $(field radius_q3 "$kabsch") $(field in_range "$kabsch")"
inside() { awk -v s="$1" 'BEGIN { split(s, v, " "); exit !(v[1] > 0.9 && v[1] < 2.2 && v[2] > 2.0 && v[2] < 3.5 &&
  v[3] > 3.2 && v[3] < 4.7 && v[4] > 0.85) }'; }
inside "$r_mse" && inside "$r_kabsch"
ok $? "their radii spread like the data's (quartiles 1.48 2.65 3.83, all in [0.3, 5]): mse $r_mse, kabsch $r_kabsch"

"$eloss" shapes -loss energy -vertices 7 -samples 600 -epochs 2 -test 20 -seed 3 > reg.out 2> /dev/null &&
  grep -Eq '^quality=[^ ]+ err=[^ ]+ loss=energy vertices=7 aug_angle=0 steps=10 seconds=' reg.out
ok $? "the regression (the default -model) prints its line as before: $(cut -d' ' -f1-6 reg.out)"
"$eloss" shapes -model diffusion -loss mse -coeff constant > /dev/null 2> err.txt
rc=$?
[ $rc = 2 ] && [ "$(wc -l < err.txt)" = 1 ] && grep -q -- "-coeff constant: applies to -loss energy and sparse" err.txt
ok $? "-coeff with -loss mse: exit $rc, one line: $(cat err.txt)"
# jobs/fig3diff's plot step on the CSV files it reads, at a tiny size.
plot=$(dirname "$tap_h5same")/plot_fig3diff.py   # jobs/, found before tap_workdir
mplpy=
for candidate in python3 /usr/bin/python3; do
  "$candidate" -c 'import matplotlib' 2> /dev/null && { mplpy=$candidate; break; }
done
if [ -n "$mplpy" ]; then
  mkdir one two
  cp d1.csv one/fig3diff_a_mse.csv
  cp d1.csv two/fig3diff_a_kabsch.csv
  # rows <dir> <seeds...>: fig3diff.csv with a row per loss, angle and seed.
  rows() {
    local dir=$1 loss k seed
    shift
    echo "loss,aug_angle,seed,quality,err,median,above5,radius_q1,radius_median,radius_q3,in_range" > "$dir/fig3diff.csv"
    for loss in mse kabsch energy:constant; do for k in 0 4; do for seed in "$@"; do
      echo "$loss,$(awk -v k=$k 'BEGIN { printf "%.17g", k * 3.141592653589793 / 4 }'),$seed,$((k + seed)).5,0.1,5,0.5,1.5,2.6,3.8,0.9$seed" >> "$dir/fig3diff.csv"
    done; done; done
  }
  rows one 1
  rows two 1 2
  "$mplpy" "$plot" one "N = 6, test" > /dev/null 2> one.err && "$mplpy" "$plot" two > /dev/null 2> two.err &&
    [ -s one/fig3diff_a.png ] && [ -s one/fig3diff_b.png ] && [ -s two/fig3diff_a.png ] &&
    head -n 1 one/fig3diff.md | grep -q '^N = 6, test$' &&
    grep -q '^| MSE (eps) | 1.50 | 5.50 |$' one/fig3diff.md && ! grep -q '±\|nan' one/fig3diff.md &&
    grep -q '^| energy (constant k) | 2.00 ± 0.50 | 6.00 ± 0.50 |$' two/fig3diff.md &&
    "$py" -c '
import re, sys
rows = [l for l in open("one/fig3diff.md") if l.startswith("| MSE (eps) |") and re.search(r"\(\d+\)", l)]
counts = [int(c) for c in re.findall(r"\((\d+)\)", rows[0])] if len(rows) == 1 else []
sys.exit(not (len(counts) == 5 and sum(counts) == 70))'
  ok $? "plot_fig3diff.py: one seed's values alone, two seeds' mean ± s.e., the PNGs, the shapes by radius $(cat one.err two.err 2> /dev/null | tail -n 1 | cut -c1-200)"
else
  ok 0 "# SKIP plot_fig3diff.py: no python3 with matplotlib (Debian: python3-matplotlib)"
fi
tap_exit
