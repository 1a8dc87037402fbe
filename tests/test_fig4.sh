#!/usr/bin/env bash
# TAP test of jobs/fig4 (the paper's Fig. 4 / Table 2 at CPU scale) and
# jobs/plot_fig4.py, on data written here (random H, C, N, O, F molecules
# of 4 to 11 atoms: no chemistry is needed to test the machinery, and no
# RDKit to make them):
# - plot_fig4.py on a synthetic fig4.csv of two seeds: the means and
#   standard errors (worked by hand below), the paper's column on the
#   fraction-1 rows only, the energy-against-MSE finding, a PNG; with one
#   seed the values alone, never "nan";
# - bad NETWORKS, LOSSES, FRACTIONS, SEEDS, SAMPLES, SCALE, EXTRA, DATA and
#   NP: exit 2 before any work (OUT_DIR never created);
# - `runs` lists network x loss x fraction x seed;
# - a tiny run (GDM-aug, MSE and sparse, one fraction, one seed, 6
#   steps): the subset holds round(0.5 n) molecules of at least 7 atoms,
#   fig4.csv has both rows filled, fig4.md and fig4.png are written, the
#   1003 samples of each model come in pieces of 1000 and 3, joined; a
#   rerun trains and samples nothing and leaves the models as they were;
#   other settings on the same OUT_DIR are refused, and so is a run while
#   another holds OUT_DIR's lock; a report with a run missing names it.
#   test_fig4.sh <eloss> <repo>
set -uo pipefail
eloss=$(realpath "$1")
repo=$(realpath "$2")
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..14"
tap_need_python 14 "numpy, rdkit, matplotlib" "python3-rdkit python3-matplotlib"
fig4=$repo/jobs/fig4
plot=$repo/jobs/plot_fig4.py
cols="network,loss,fraction,seed,train_molecules,steps,test_eps_mse,test_x_rmse,atom_stability,mol_stability"
cols="$cols,validity,uniqueness,novelty,bond_w1,nn_w1,train_seconds,sample_seconds"

# Two seeds. GDM-aug energy at fraction 1: mol_stability 0.25 and 0.35 ->
# 30.0 +- 5.0 % (s.e. = |a - b| / 2 for two values); bond_w1 0.2 and 0.3
# -> 0.250 +- 0.050. MSE: bond_w1 0.4 and 0.5 -> 0.450 +- 0.050, so
# energy - MSE = -0.200 A at sqrt(0.05^2 + 0.05^2) = 0.0707 s.e.: 2.8
# standard errors; atom stability 55 +- 5 against 50 +- 0 %: 1.0.
mkdir two one
{
  echo "$cols"
  echo "gdm_aug,energy,1,1,6385,600,0.25,0.9,0.5,0.25,0.6,1,1,0.2,0.3,40,6"
  echo "gdm_aug,energy,1,2,6385,600,0.27,0.9,0.6,0.35,0.7,1,1,0.3,0.4,41,6"
  echo "gdm_aug,mse,1,1,6385,600,0.25,0.9,0.5,0,0.6,1,1,0.4,0.5,40,6"
  echo "gdm_aug,mse,1,2,6385,600,0.25,0.9,0.5,0,0.6,1,1,0.5,0.6,40,6"
  echo "gdm_aug,mse,0.1,1,638,600,0.3,0.9,0.4,0,0.5,1,1,0.6,0.7,40,6"
  echo "gdm_aug,mse,0.1,2,638,600,0.3,0.9,0.4,0,0.5,1,1,0.7,0.8,40,6"
} > two/fig4.csv
"$py" "$plot" two two/fig4.csv 2> two.err
rc=$?
md=two/fig4.md
[ $rc = 0 ] && grep -q '^| GDM-aug | energy | 1 | 6385 | 30.0 ± 5.0 | 55.0 ± 5.0 | 65.0 ± 5.0 | 100.0 ± 0.0 | 0.250 ± 0.050 | ' $md &&
  grep -q '^| GDM-aug | MSE | 1 | 6385 | 0.0 ± 0.0 | .* | 0.450 ± 0.050 | .* | 2 | 83.7 ± 2.3 / 98.3 / 93.6 ± 1.7 |$' $md &&
  grep -q '^| GDM-aug | MSE | 0.1 | 638 | .* | 2 | – |$' $md
ok $? "plot_fig4.py, two seeds: mean ± s.e. worked by hand, the paper's Table 2 beside fraction 1 only (exit $rc)"
grep -A1 '^- GDM-aug, fraction 1:$' $md |
  grep -q '^  - bond W1 (Å), lower is better: energy 0.250 < MSE 0.450\. Energy − MSE = -0.200, 2.8 standard errors: beyond' &&
  grep -q '^  - atom stability (%), higher is better: energy 55.0 > MSE 50.0\. Energy − MSE = +5.0, 1.0 standard errors: within' $md &&
  grep -q 'Molecule stability reaches 35.0 % at most' $md &&
  grep -q 'Fraction 0.1 → 1, bond W1 / nn W1 (Å): GDM-aug MSE 0.650 → 0.450 / 0.750 → 0.550' $md
ok $? "fig4.md says what the numbers show: losses ordered per metric, energy − MSE in standard errors, the fraction's effect"
[ "$(head -c 8 two/fig4.png | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ ! -e two/fig4.md.tmp ]
ok $? "fig4.png is a PNG ($(stat -c %s two/fig4.png 2> /dev/null) bytes), no temporary left"
awk -F, 'NR == 1 || $4 == 1' two/fig4.csv > one/fig4.csv
"$py" "$plot" one one/fig4.csv 2> one.err
rc=$?
[ $rc = 0 ] && [ "$(grep -c '^| GDM-aug' one/fig4.md)" = 3 ] && ! grep -qi 'nan' one/fig4.md &&
  grep -q '^| GDM-aug | energy | 1 | 6385 | 25.0 | 50.0 | 60.0 | 100.0 | 0.200 | 0.300 | 0.2500 | 1 | ' one/fig4.md &&
  grep -q 'One seed: no standard error' one/fig4.md && [ -s one/fig4.png ]
ok $? "one seed: the values alone, no \"± nan\" (exit $rc)"

# Settings checked before any work: exit 2, OUT_DIR never made.
good=1
for spec in "NETWORKS=gdm_aug egnn|unknown network 'egnn'" "NETWORKS=edm edm|edm is given twice" \
            "LOSSES=mse mae|unknown loss 'mae'" "LOSSES= |LOSSES is empty" "SEEDS=|SEEDS is empty" \
            "FRACTIONS=1.0|'1.0' is not a fraction" "FRACTIONS=0|'0' is not a fraction" \
            "FRACTIONS=1.5|'1.5' is not a fraction" "FRACTIONS=0.1 0.1|0.1 is given twice" \
            "SEEDS=1 01|write '01' as 1" "SEEDS=-1|'-1' is not a seed" "SAMPLES=0|'0' is not a molecule count" \
            "SCALE=huge|unknown scale 'huge'" "LR=1e-3|'1e-3' is neither deck nor paper" \
            "EXTRA=-steps 5 -model egnn|-model is set by jobs/fig4" "EXTRA=-steps 5 -bogus 1|EXTRA: eloss train refuses it with gdm_aug, mse: unknown or unused option -bogus" "DATA=$PWD/nowhere|has no readable train.xyz" \
            "NP=3|NP=3 does not divide the training's -shards 4" "NP=8|NP=8 does not divide the training's -shards 4"; do
  var=${spec%%=*} rest=${spec#*=}
  env "$var=${rest%%|*}" ELOSS="$eloss" OUT_DIR="$PWD/bad" "$fig4" > /dev/null 2> err.txt
  rc=$?
  { [ $rc = 2 ] && grep -q -- "${rest#*|}" err.txt && [ ! -e bad ]; } || { good=0; echo "# $spec: rc $rc: $(cat err.txt)"; }
done
env ELOSS="$eloss" OUT_DIR="$PWD/bad" "$fig4" train gdm_aug mse 0.10 1 > /dev/null 2> err.txt
rc=$?
{ [ $rc = 2 ] && grep -q "train gdm_aug mse 0.10 1: '0.10' is not a fraction" err.txt && [ ! -e bad ]; } || good=0
[ $good = 1 ]
ok $? "bad NETWORKS, LOSSES, FRACTIONS, SEEDS, SAMPLES, SCALE, LR, EXTRA, DATA, NP and train arguments: exit 2, nothing made"
NETWORKS="edm gdm_aug" LOSSES="energy mse" FRACTIONS="0.25 1" SEEDS="3 4" "$fig4" runs > runs.txt 2> err.txt
[ $? = 0 ] && [ "$(wc -l < runs.txt)" = 16 ] && [ "$(head -n 1 runs.txt)" = "edm energy 0.25 3" ] &&
  [ "$(sed -n 2p runs.txt)" = "edm energy 0.25 4" ] && [ "$(tail -n 1 runs.txt)" = "gdm_aug mse 1 4" ]
ok $? "runs: 2 networks x 2 losses x 2 fractions x 2 seeds = $(wc -l < runs.txt) lines, network-major"

# A tiny run on molecules written here.
mkdir data
"$py" - << 'PY'
import numpy as np
rng = np.random.default_rng(23)
def write(path, count):
    with open(path, "w") as f:
        for k in range(count):
            n = int(rng.integers(4, 12))
            x = rng.normal(scale=1.3, size=(n, 3))
            f.write("%d\nmolecule %d\n" % (n, k))
            for i in range(n):
                f.write("%s %.6f %.6f %.6f\n" % ("HCNOF"[rng.integers(5)], *x[i]))
write("data/train.xyz", 60)
write("data/valid.xyz", 8)
PY
tiny=(DATA="$PWD/data" NETWORKS=gdm_aug "LOSSES=mse sparse" FRACTIONS=0.5 SEEDS=2 SAMPLES=1003 ELOSS="$eloss"
      "EXTRA=-width 8 -layers 1 -diffusion_steps 10 -batch 8 -steps 6")
env "${tiny[@]}" OUT_DIR="$PWD/out" "$fig4" > run1.out 2> run1.err
rc=$?
eligible=$(awk 'i == 0 { if ($1 >= 7) e++; i = $1 + 2 } { i-- } END { print e }' data/train.xyz)
small=$(awk 'NR == FNR { n[$1] = 1; next } i == 0 { if (k in n && $1 < 7) bad++; k++; i = $1 + 2 } { i-- }
             END { print bad + 0 }' out/train_f0.5.idx data/train.xyz)
want=$("$py" -c "print(max(1, round(0.5 * $eligible)))")
[ $rc = 0 ] && [ "$(wc -l < out/train_f0.5.idx)" = "$want" ] && [ "$small" = 0 ] &&
  grep -q "^fraction=0.5 molecules=$want eligible=$eligible frames=60$" out/subsets.txt
ok $? "tiny run (exit $rc): the subset is $want of the $eligible molecules of at least 7 atoms, none smaller"
ncols=$(head -n 1 out/fig4.csv | tr ',' '\n' | wc -l)
[ "$(wc -l < out/fig4.csv)" = 3 ] && grep -q '^gdm_aug,mse,0.5,2,' out/fig4.csv && grep -q '^gdm_aug,sparse,0.5,2,' out/fig4.csv &&
  awk -F, -v n="$ncols" 'NR > 1 { if (NF != n) exit 1; for (i = 1; i <= NF; i++) if ($i == "") exit 1 }' out/fig4.csv &&
  grep -q '^| GDM-aug | energy (sparse) | 0.5 | ' out/fig4.md && [ -s out/fig4.png ] &&
  grep -q 'molecules=1003 ' out/gdm_aug.sparse.f0.5.seed2.molcheck
ok $? "fig4.csv: both runs, every one of the $ncols columns filled; fig4.md and fig4.png written"
[ "$(grep -c '^sample: 1000 molecules' run1.err)" = 2 ] && [ "$(grep -c '^sample: 3 molecules' run1.err)" = 2 ] &&
  [ "$(grep -c '^[0-9]' out/gdm_aug.mse.f0.5.seed2.xyz)" = 1003 ] && ! ls out/*part* > /dev/null 2>&1
ok $? "1003 samples drawn as pieces of 1000 and 3 (a stop loses one piece at most), joined, the pieces removed"
before=$(stat -c %Y.%s out/*.ckpt | tr '\n' ' ')
sleep 1
env "${tiny[@]}" OUT_DIR="$PWD/out" "$fig4" > run2.out 2> run2.err
rc=$?
[ $rc = 0 ] && ! grep -q 'training\|sampling' run2.err && [ "$(stat -c %Y.%s out/*.ckpt | tr '\n' ' ')" = "$before" ] &&
  cmp -s run1.out run2.out
ok $? "a rerun reuses both runs: nothing trained or sampled, the models untouched, the same table (exit $rc)"
env "${tiny[@]}" SAMPLES=7 OUT_DIR="$PWD/out" "$fig4" > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q 'fig4: .*/out holds results of other settings' err.txt
ok $? "other settings on the same OUT_DIR: refused (exit $rc)"
(flock -n 9 && env "${tiny[@]}" OUT_DIR="$PWD/out" "$fig4" report > /dev/null 2> err.txt) 9>> out/.lock
rc=$?
[ $rc = 1 ] && grep -q "fig4: OUT_DIR $PWD/out is in use: another jobs/fig4 run holds $PWD/out/.lock" err.txt
ok $? "a run while another holds OUT_DIR's lock: refused at once (exit $rc)"
env "${tiny[@]}" "LOSSES=mse energy" OUT_DIR="$PWD/out" "$fig4" report > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "gdm_aug, energy, fraction 0.5, seed 2 is not done: run jobs/fig4 train gdm_aug energy 0.5 2" err.txt
ok $? "a report with a run missing names it and the stage to run (exit $rc)"
row=$(ls out/*.row | head -1)
cp "$row" row.keep
echo garbage > "$row"
env "${tiny[@]}" OUT_DIR="$PWD/out" "$fig4" report > /dev/null 2> err.txt
rc=$?
cp row.keep "$row"
[ $rc = 1 ] && grep -q "$row: not one row of" err.txt && [ "$(grep -c . err.txt)" = 1 ]
ok $? "a damaged run row: the report refuses it in one line naming the file (exit $rc)"
tap_exit
