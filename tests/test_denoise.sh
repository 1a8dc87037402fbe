#!/usr/bin/env bash
# TAP test of `eloss train -task denoise` (docs/train.md), on two small
# `eloss clustergen` LJ13 datasets (different seeds: train and test), XYZ
# files written here and the G2 molecules of inputs/molecules:
# - the model file of 1, 2 and 4 ranks is the same bytes (energy loss with
#   rotations; sparse loss on 1 and 2 ranks);
# - the training loss falls and LJ13 is denoised; on G2 molecules trained
#   in one orientation and tested in others, the energy loss ends with a
#   lower test distance-matrix error than MSE;
# - the last line has every metric; eval prints the same metrics on 1 and
#   2 ranks; XYZ data train too (no LJ gap), molecules of several sizes
#   padded;
# - bad input: options of the other task, -coeff with mse, no -test, a
#   damaged clustergen file, energies that are not the positions' (with
#   matching checksums), a noise level twice, a test set of larger
#   molecules than the training set: one error, non-zero exit.
#   test_denoise.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..24"

# Both sets are sampled from one start (the minimum of a first run), so
# they share atom labels: a denoiser can only learn labelled structures.
cg=(-n 13 -samples 100 -therm 10 -sweeps 4 -walks 1 -bh_steps 10 -temperatures 0.02,0.04,0.06 -start min.xyz)
"$eloss" clustergen -n 13 -samples 0 -walks 2 -bh_steps 100 -out min.h5 -xyz min.xyz > /dev/null 2>&1 &&
  "$eloss" clustergen "${cg[@]}" -seed 5 -out train.h5 > /dev/null 2>&1 &&
  "$eloss" clustergen "${cg[@]}" -seed 6 -samples 10 -out test.h5 > /dev/null 2>&1
ok $? "clustergen writes a training set (300 LJ13 samples) and a test set (30) from one start"

base=(-task denoise -train train.h5 -test test.h5 -width 32 -batch 16 -lr 3e-3 -seed 2 -eval_every 20)
"$eloss" train "${base[@]}" -loss energy -rotate -steps 60 -out r1.ckpt > r1.out 2> r1.err
rc1=$?
"${mpi[@]}" -n 2 "$eloss" train "${base[@]}" -loss energy -rotate -steps 60 -out r2.ckpt > r2.out 2> /dev/null
rc2=$?
"${mpi[@]}" -n 4 "$eloss" train "${base[@]}" -loss energy -rotate -steps 60 -out r4.ckpt > r4.out 2> /dev/null
rc4=$?
[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc4 = 0 ] && cmp -s r1.ckpt r2.ckpt && cmp -s r1.ckpt r4.ckpt &&
  [ "$(sed "s/ seconds=.*//" r1.out)" = "$(sed "s/ seconds=.*//" r2.out)" ]
ok $? "energy, -rotate: the model files of 1, 2 and 4 ranks are identical (exits $rc1 $rc2 $rc4)"
grep -Eq '^steps=60 loss=[0-9.e+-]+ test_dist_error=[0-9.e+-]+ test_dist_error_noisy=[0-9.e+-]+ test_bonds_ok=[0-9.e+-]+ test_bonds_ok_noisy=[0-9.e+-]+ test_kabsch_rmsd=[0-9.e+-]+ test_lj_energy_gap=[0-9.e+-]+ test_lj_energy_gap_noisy=[0-9.e+-]+ seconds=' r1.out
ok $? "train ends with one line of the denoise metrics: $(cut -c1-100 r1.out)"

"$eloss" eval -model r1.ckpt -test test.h5 > e1.out 2> /dev/null &&
  "${mpi[@]}" -n 2 "$eloss" eval -model r1.ckpt -test test.h5 > e2.out 2> /dev/null &&
  [ "$(sed 's/ steps=.*//' e1.out)" = "$(sed 's/^steps=60 loss=[^ ]* //; s/ seconds=.*//' r1.out)" ] && cmp -s e1.out e2.out
ok $? "eval prints the training's last metrics, on 1 and 2 ranks: $(cut -c1-60 e1.out)"
"$eloss" eval -model r1.ckpt -test test.h5 -csv e.csv > /dev/null 2> err.txt
rc=$?
"$eloss" eval -model r1.ckpt -test test.h5 -conv direct > out.txt 2> err2.txt
rc2=$?
[ $rc != 0 ] && grep -q "denoise model" err.txt && [ ! -e e.csv ] && [ $rc2 != 0 ] && grep -q "error: -conv: applies to spin" err2.txt &&
  [ ! -s out.txt ]
ok $? "eval -csv and -conv of a denoise model are refused: $(head -c 100 err.txt)"

sbase=("${base[@]}" -loss sparse -steps 20)
"$eloss" train "${sbase[@]}" -out s1.ckpt > /dev/null 2>&1 &&
  "${mpi[@]}" -n 2 "$eloss" train "${sbase[@]}" -out s2.ckpt > /dev/null 2>&1 && cmp -s s1.ckpt s2.ckpt
ok $? "sparse (graphs redrawn every step): the model files of 1 and 2 ranks are identical"

# Longer runs: the loss falls and the model denoises; on the G2 molecules
# trained in one orientation and tested in others, the energy loss ends
# with a lower test distance error than MSE (jobs/denoise: every seed, at
# every budget tried).
g2=(-task denoise -train "$repo/inputs/molecules/g2.xyz" -test "$repo/inputs/molecules/g2_rotated.xyz" -noise 0.05,0.1,0.2
    -width 64 -batch 32 -lr 1e-3 -steps 800 -eval_every 800 -seed 1)
"$eloss" train "${base[@]}" -loss mse -width 64 -batch 32 -steps 800 -eval_every 800 -out m.ckpt > m.out 2> /dev/null &&
  for l in mse energy; do
    "$eloss" train "${g2[@]}" -loss $l -out g2_$l.ckpt > g2_$l.out 2> /dev/null || exit 1
  done
ok $? "LJ13, mse 800 steps; G2 molecules, mse and energy, 800 steps: train"
$py - m.ckpt.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first = sum(r["loss"] for r in rows[:20]) / 20
last = sum(r["loss"] for r in rows[-20:]) / 20
print("# mean loss of steps 1-20 %.4g, of the last 20 %.4g" % (first, last))
assert last < 0.9 * first
PY
ok $? "the training loss falls by more than 10 %"
$py - <<'PY'
import re
mse = dict(re.findall(r"(\w+)=([-0-9.e+]+)", open("m.out").read()))
m, e = (dict(re.findall(r"(\w+)=([-0-9.e+]+)", open("g2_%s.out" % l).read())) for l in ("mse", "energy"))
print("# LJ13, mse, 800 steps: test_dist_error %s (noisy input %s)" % (mse["test_dist_error"], mse["test_dist_error_noisy"]))
print("# G2 trained unrotated, tested rotated, 800 steps: test_dist_error mse %s, energy %s (noisy input %s)"
      % (m["test_dist_error"], e["test_dist_error"], m["test_dist_error_noisy"]))
assert float(mse["test_dist_error"]) < 0.6 * float(mse["test_dist_error_noisy"])
assert float(e["test_dist_error"]) < float(m["test_dist_error"])
PY
ok $? "LJ13 is denoised; on molecules in unseen orientations energy beats MSE on the test distance error"

# XYZ data: two frames files written here (8-atom jittered cubes, argon).
$py - <<'PY'
import numpy as np
rng = np.random.default_rng(3)
cube = 1.1 * np.array([[i & 1, i >> 1 & 1, i >> 2 & 1] for i in range(8)], float)
for name, frames in (("a.xyz", 40), ("b.xyz", 12)):
    with open(name, "w") as f:
        for k in range(frames):
            x = cube + 0.05 * rng.standard_normal(cube.shape)
            f.write("8\nframe %d\n" % k + "".join("Ar %.8f %.8f %.8f\n" % tuple(p) for p in x))
with open("mixed.xyz", "w") as f:
    f.write(open("a.xyz").read() + "3\nsmall\nAr 0 0 0\nAr 1 0 0\nAr 0 1 0\n")
with open("big.xyz", "w") as f:
    f.write("9\nnine\n" + "".join("Ar %d 0 0\n" % k for k in range(9)))
PY
"$eloss" train -task denoise -train a.xyz -test b.xyz -loss kabsch -width 16 -batch 8 -steps 20 -out x.ckpt > x.out 2> x.err
rc=$?
[ $rc = 0 ] && grep -q "test_bonds_ok=" x.out && ! grep -q "test_lj_energy_gap" x.out
ok $? "XYZ data (kabsch): trains, reports bonds and no LJ energy gap (exit $rc)"

# SIGTERM while MPI and PETSc start (0.3 s in) is a stop request like any
# other: exit 3, not death by the signal (143).
"$eloss" train "${base[@]}" -loss mse -steps 1000000 -out early.ckpt > /dev/null 2> early.err &
pid=$!
sleep 0.3
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 3 ]
ok $? "SIGTERM 0.3 s after the start: exit $rc, $(tail -1 early.err | head -c 80)"

# jobs/denoise end to end at a tiny budget (1 seed, 40 steps): the data,
# 22 runs, the table with its three data sets and the PNG.
ELOSS=$eloss SEEDS=1 EXTRA="-steps 40 -eval_every 20" OUT_DIR=$PWD/dn_job "$repo/jobs/denoise" > dn_job.out 2> dn_job.err
rc=$?
[ $rc = 0 ] && [ "$(grep -c '^## ' dn_job/denoise.md)" = 3 ] && [ "$(wc -l < dn_job/denoise.csv)" = 23 ] &&
  [ -s dn_job/denoise.png ] && grep -q "noisy input" dn_job/denoise.md
ok $? "jobs/denoise at 40 steps: exit $rc, denoise.md with 3 data sets, 22 rows in denoise.csv, denoise.png"

refuse() { # refuse <description> <expected text> <command...>
  local what=$1 text=$2
  shift 2
  "$@" > /dev/null 2> err.txt
  local rc=$?
  [ $rc != 0 ] && grep -q -- "$text" err.txt && [ ! -e bad.ckpt ]
  ok $? "$what: exit $rc, $(head -c 150 err.txt | tr '\n' ' ')"
}
refuse "-T with -task denoise" "-T" "$eloss" train "${base[@]}" -T 0.5 -out bad.ckpt
refuse "-coeff with -loss mse" "-coeff" "$eloss" train "${base[@]}" -loss mse -coeff lj -out bad.ckpt
refuse "-noise with -task spin" "-noise" "$eloss" train -train train.h5 -noise 0.1 -out bad.ckpt
refuse "-task denoise without -test" "-test" "$eloss" train -task denoise -train train.h5 -out bad.ckpt
cp train.h5 damaged.h5
$py - <<'PY'
import h5py
with h5py.File("damaged.h5", "r+") as f:
    f["positions"][1, 2, 3, 0] += 1e-9
PY
refuse "a damaged clustergen file" "checksum" "$eloss" train -task denoise -train damaged.h5 -test test.h5 -out bad.ckpt
cp train.h5 forged.h5
$py - <<'PY'
import h5py, zlib
with h5py.File("forged.h5", "r+") as f:
    f["energies"][1, 2] += 0.5      # an energy that is not its positions', with a matching checksum
    c = zlib.crc32(f["positions"][1].tobytes())
    c = zlib.crc32(f["energies"][1].tobytes(), c)
    f["crc32"][1] = zlib.crc32(f["temperatures"][1:2].tobytes(), c)
PY
refuse "a clustergen file whose energies are not its positions' (checksums match)" "its positions give" \
  "$eloss" train -task denoise -train forged.h5 -test test.h5 -out bad.ckpt
refuse "a noise level given twice" "given twice" "$eloss" train "${base[@]}" -noise 0.1,0.2,0.1 -out bad.ckpt
"$eloss" clustergen "${cg[@]}" -seed 5 -samples 10 -out same_seed.h5 > /dev/null 2>&1
refuse "a test set holding training structures (clustergen, the training run's seed)" "test structures of same_seed.h5 are training structures of train.h5 (test structure 0 is training structure 0)" \
  "$eloss" train -task denoise -train train.h5 -test same_seed.h5 -out bad.ckpt
"$eloss" clustergen "${cg[@]:0:14}" -seed 6 -samples 10 -out no_start.h5 > /dev/null 2>&1
refuse "a test set sampled without the training set's -start" "different starts" \
  "$eloss" train -task denoise -train train.h5 -test no_start.h5 -out bad.ckpt
refuse "eval of an LJ model on molecules names the model's kind" "not like the model (clustergen, 13 atoms)" \
  "$eloss" eval -model r1.ckpt -test a.xyz
"$eloss" train -task denoise -train mixed.xyz -test b.xyz -loss energy -width 16 -batch 8 -steps 20 -out p.ckpt > p.out 2>&1 &&
  "$eloss" eval -model p.ckpt -test mixed.xyz > p_eval.out 2>&1
ok $? "XYZ frames of 8 and 3 atoms train (padded) and evaluate: $(grep -o 'test_dist_error=[^ ]*' p_eval.out)"
refuse "a test set of larger molecules than the training set" "at most 8 atoms" "$eloss" train -task denoise -train mixed.xyz -test big.xyz -out bad.ckpt
tap_exit
