#!/usr/bin/env bash
# TAP test: every command that writes a file, on a nearly full disk (a
# small tmpfs with one page free), ends with exit 1, one error naming the
# file (and none of HDF5's own noise), and no output left behind: no
# truncated CSV, model, metrics, .npy, HDF5 or XYZ file, no temporary. (spingen's own full-disk cases are in
# test_spingen_safety.sh.) Needs root for the tmpfs: SKIP without.
#   test_full_disk.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir

cases=14
echo "1..$cases"
mkdir -p disk
if ! mount -t tmpfs -o size=1m tmpfs disk 2> /dev/null; then
  for k in $(seq $cases); do echo "ok $k # SKIP cannot mount a tmpfs here (not root?)"; done
  exit 0
fi
trap 'umount "$work/disk" 2> /dev/null; rm -rf "$work"' EXIT

# Inputs, on the normal disk.
"$eloss" spingen -L 8 -instances 64 -seed 1 -out train.h5 > /dev/null 2>&1
"$eloss" spingen -L 8 -instances 300 -seed 2 -split test -out test.h5 > /dev/null 2>&1
"$eloss" train -train train.h5 -test test.h5 -width 8 -depth 2 -steps 5 -batch 16 -out model.ckpt > /dev/null 2>&1
/usr/bin/python3 - << 'PY'
import numpy as np
rng = np.random.default_rng(3)
ref = rng.normal(size=(40, 30, 3)); np.save("ref.npy", ref); np.save("pred.npy", ref + 0.1 * rng.normal(size=ref.shape))
# Molecules for a diffusion model (eloss sample).
for name, count in (("dmol.xyz", 24), ("dtest.xyz", 4)):
  with open(name, "w") as f:
    for k in range(count):
      n = 7 + k % 5
      x = rng.normal(scale=1.2, size=(n, 3))
      f.write("%d\nmolecule %d\n" % (n, k) + "".join("%s %.5f %.5f %.5f\n" % ("HCNOF"[i % 5], *x[i]) for i in range(n)))
# 400 methane molecules: a per-molecule table larger than the free page.
with open("mols.xyz", "w") as f:
    for k in range(400):
        f.write("5\nmethane %d\nC 0 0 0\nH 0.63 0.63 0.63\nH -0.63 -0.63 0.63\nH -0.63 0.63 -0.63\nH 0.63 -0.63 -0.63\n" % k)
PY
"$eloss" train -task diffusion -train dmol.xyz -test dtest.xyz -width 8 -layers 1 -diffusion_steps 10 -steps 2 -batch 8 \
  -out dm.ckpt > /dev/null 2>&1
[ -f train.h5 ] && [ -f test.h5 ] && [ -f model.ckpt ] && [ -f ref.npy ] && [ -f dm.ckpt ] ||
  { echo "Bail out! inputs not made"; exit 1; }

# Leave one 4 KiB page free: an output of more than that fails part-way
# (FREE=0: none, for the small outputs).
fill() {
  rm -rf disk/* disk/.[!.]* 2> /dev/null
  dd if=/dev/zero of=disk/fill bs=64k 2> /dev/null
  truncate -s "-${FREE:-4096}" disk/fill
}
# $1: description; $2: the files that must not exist; then the command.
n=0
check() {
  local what=$1 files=$2
  shift 2
  fill
  "$@" > out.txt 2> err.txt
  local rc=$? left
  left=$(ls -A disk | grep -v '^fill$' | tr '\n' ' ')
  n=$((n + 1))
  local absent=1 f
  for f in $files; do [ -e "$f" ] && absent=0; done
  [ $rc = 1 ] && [ $absent = 1 ] && [ -z "$left" ] && grep -q "error" err.txt && ! grep -q "^HDF5\|infinite loop\|HDF5-DIAG" err.txt
  ok $? "$what: exit $rc, left on the disk: '${left}', $(grep -m1 error err.txt | cut -c1-110)"
}

check "eval -csv" "disk/e.csv" "$eloss" eval -model model.ckpt -test test.h5 -csv disk/e.csv
check "molcheck -csv" "disk/mol.csv" "$eloss" molcheck -in mols.xyz -csv disk/mol.csv
check "sample -out" "disk/gen.xyz" "$eloss" sample -model dm.ckpt -n 100 -out disk/gen.xyz
check "train -out (and its metrics)" "disk/m.ckpt disk/m.ckpt.jsonl" \
  "$eloss" train -train train.h5 -test test.h5 -width 8 -depth 2 -steps 5 -batch 16 -out disk/m.ckpt
check "train -metrics" "disk/m.jsonl m2.ckpt" \
  "$eloss" train -train train.h5 -test test.h5 -width 8 -depth 2 -steps 60 -batch 16 -eval_every 1 -out m2.ckpt \
  -metrics disk/m.jsonl
check "train on 2 ranks, -out" "disk/m.ckpt" \
  "${mpi[@]}" -n 2 "$eloss" train -train train.h5 -test test.h5 -width 8 -depth 2 -steps 5 -batch 16 -out disk/m.ckpt
small=(-loss sparse -vertices 7 -aug_angle 1 -samples 1000 -epochs 1 -seed 2 -test 200)
check "shapes -out" "disk/s.csv" "$eloss" shapes "${small[@]}" -out disk/s.csv
check "shapes -metrics" "disk/s.jsonl" "$eloss" shapes "${small[@]}" -metrics disk/s.jsonl
check "loss -grad_out" "disk/g.npy" "$eloss" loss -pred pred.npy -ref ref.npy -grad_out disk/g.npy
FREE=0 check "rigidity -csv" "disk/r.csv" "$eloss" rigidity -survey_n 8,12,21,30,40 -survey_k 3,4,6 -survey_d 2,3 -samples 2 -csv disk/r.csv
check "clustergen -out" "disk/c.h5" "$eloss" clustergen -n 13 -samples 400 -out disk/c.h5
# The data of a finished run are kept when only its -xyz fails: nothing
# of the run may then appear.
FREE=0 check "clustergen -xyz" "disk/c.xyz c.h5" "$eloss" clustergen -n 13 -samples 20 -walks 2 -out c.h5 -xyz disk/c.xyz
check "spingen -out" "disk/d.h5" "$eloss" spingen -L 16 -instances 200 -out disk/d.h5
"$eloss" spingen -L 8 -instances 64 -first 0 -count 32 -out p1.h5 > /dev/null 2>&1
"$eloss" spingen -L 8 -instances 64 -first 32 -count 32 -out p2.h5 > /dev/null 2>&1
check "spingen-merge -out" "disk/merged.h5" "$eloss" spingen-merge -parts p1.h5,p2.h5 -out disk/merged.h5
[ $n = $cases ] || echo "Bail out! $n cases run, $cases planned"
tap_exit
