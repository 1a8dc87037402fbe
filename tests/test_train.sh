#!/usr/bin/env bash
# TAP test of `eloss train` and `eloss eval` (docs/train.md), on
# datasets of `eloss spingen`:
# - the model file of 1, 2 and 4 ranks is the same bytes (the gradient sum
#   follows a fixed tree over the shards), for open and periodic lattices; 3 ranks
#   with 4 shards are refused;
# - SIGTERM checkpoints and exits 3; -resume (on another rank count) ends
#   with the bytes of an uninterrupted run; -resume to a larger -steps
#   equals training that long at once; a finished model is not replaced
#   without -force and -resume of a different run is refused;
# - a small network overfits 8 instances (every site right);
# - the metrics file is JSON lines with the test metrics at eval steps,
#   and eval prints the same metrics as the last line of training, the
#   same on 1 and 2 ranks (its -csv too, checked against numpy);
# - bad input: a test set of another lattice, a damaged data file, a
#   file without crc32, a truncated or foreign model file, nonsense
#   options: one error line, non-zero exit, nothing overwritten;
# - a fault on one rank (a shard, the model write) ends both ranks with
#   one error and leaves the previous model file intact;
# - jobs/table5 refuses bad losses, seeds, rates, sizes, lattices, EXTRA and an NP that does not
#   divide -shards before any work, and a second run on a locked OUT_DIR;
#   Ctrl-C during its training exits 3 advising a rerun of jobs/table5; NP
#   may change between runs on one OUT_DIR; a tiny sweep's learning-rate
#   search picks the rate of the lowest validation gap, and its runs use it.
#   test_train.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..55"

"$eloss" spingen -L 6 -instances 96 -seed 5 -split train -out train.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 40 -seed 5 -split test -out test.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 5 -bc periodic -instances 48 -seed 5 -split train -gs_sweeps 300 -out ptrain.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 5 -bc periodic -instances 16 -seed 5 -split test -gs_sweeps 300 -out ptest.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 7 -instances 8 -seed 5 -split test -out test7.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 40 -seed 6 -split test -out test2.h5 > /dev/null 2>&1
ok $? "spingen writes the open 6 x 6, periodic 5 x 5 and open 7 x 7 datasets"

base=(-train train.h5 -test test.h5 -width 8 -depth 2 -batch 16 -lr 3e-3 -seed 2 -eval_every 20)
"$eloss" train "${base[@]}" -loss ce -steps 60 -out r1.ckpt > r1.out 2> r1.err
rc1=$?
"${mpi[@]}" -n 2 "$eloss" train "${base[@]}" -loss ce -steps 60 -out r2.ckpt > r2.out 2> /dev/null
rc2=$?
"${mpi[@]}" -n 4 "$eloss" train "${base[@]}" -loss ce -steps 60 -out r4.ckpt > r4.out 2> /dev/null
rc4=$?
[ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc4 = 0 ] && cmp -s r1.ckpt r2.ckpt && cmp -s r1.ckpt r4.ckpt
ok $? "open 6 x 6, ce: the model files of 1, 2 and 4 ranks are identical (exits $rc1 $rc2 $rc4)"
grep -Eq '^steps=60 loss=[0-9.e+-]+ test_energy_gap=.* samples_per_s=[0-9.e+]+$' r1.out
ok $? "train ends with one line of metrics and samples_per_s: $(cut -c1-60 r1.out)"
grep -q "train steps: 60/60" r1.err
ok $? "a progress line with rate and ETA"

pbase=(-train ptrain.h5 -test ptest.h5 -width 16 -depth 2 -batch 8 -seed 4 -loss true -T 0.2 -steps 30 -eval_every 0)
"$eloss" train "${pbase[@]}" -out p1.ckpt > /dev/null 2>&1 &&
  "${mpi[@]}" -n 2 "$eloss" train "${pbase[@]}" -out p2.ckpt > /dev/null 2>&1 &&
  "${mpi[@]}" -n 4 "$eloss" train "${pbase[@]}" -out p4.ckpt > /dev/null 2>&1 &&
  cmp -s p1.ckpt p2.ckpt && cmp -s p1.ckpt p4.ckpt
ok $? "periodic 5 x 5, true loss, width 16 (oneDNN): the model files of 1, 2 and 4 ranks are identical"

"${mpi[@]}" -n 3 "$eloss" train "${pbase[@]}" -out p3.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "3 ranks do not divide the 4 micro-shards" err.txt && [ ! -e p3.ckpt ]
ok $? "3 ranks with -shards 4 are refused: $(grep -o '3 ranks do not.*shards' err.txt | head -1)"
# The advice works: what it says is accepted.
"${mpi[@]}" -n 3 "$eloss" train "${pbase[@]}" -batch 12 -out p3.ckpt > /dev/null 2> err2.txt
"${mpi[@]}" -n 3 "$eloss" train "${pbase[@]}" -batch 6 -shards 3 -steps 2 -out p3b.ckpt > /dev/null 2> err3.txt
rc3=$?
grep -q "make -batch a multiple of 3 and -shards 3" err.txt && grep -q "or set -shards 3 (a multiple of 3 that divides -batch 12" err2.txt &&
  [ $rc3 = 0 ] && [ -e p3b.ckpt ]
ok $? "the -shards advice is one the next run accepts: $(grep -o "or set -shards 3[^;]*" err2.txt)"

"$py" - <<'PY'
import json
rows = [json.loads(l) for l in open("r1.ckpt.jsonl")]
assert [r["step"] for r in rows] == list(range(1, 61)), "one line per step"
evals = [r for r in rows if "test_energy_gap" in r]
assert [r["step"] for r in evals] == [20, 40, 60], [r["step"] for r in evals]
for r in rows: assert r["loss"] > 0 and r["samples_per_s"] > 0
last = dict(kv.split("=") for kv in open("r1.out").read().split())
assert abs(float(last["test_energy_gap"]) - evals[-1]["test_energy_gap"]) < 1e-6
PY
ok $? "the metrics file: one JSON line per step, test metrics at steps 20, 40, 60, as printed"

# Evaluation: the same on 1 and 2 ranks, as training printed, and the CSV
# agrees with an independent computation in numpy of the gap's ground truth.
"$eloss" eval -model r1.ckpt -test test.h5 -csv e1.csv > e1.out 2> e1.err
rc=$?
"${mpi[@]}" -n 2 "$eloss" eval -model r1.ckpt -test test.h5 -csv e2.csv > e2.out 2> /dev/null
gap_train=$(grep -o 'test_energy_gap=[^ ]*' r1.out | cut -d= -f2)
gap_eval=$(grep -o '^energy_gap=[^ ]*' e1.out | cut -d= -f2)
[ $rc = 0 ] && cmp -s e1.out e2.out && cmp -s e1.csv e2.csv && [ "$gap_train" = "$gap_eval" ]
ok $? "eval: 1 and 2 ranks print and write the same, gap $gap_eval as training reported"
grep -Eq '^energy_gap=[0-9.e+-]+ err=[0-9.e+-]+ exact_fraction=[0-9.e+-]+ site_accuracy=[0-9.e+-]+ ' e1.out
ok $? "eval prints energy_gap, err, exact_fraction, site_accuracy"
"$py" - <<'PY'
import csv, h5py, numpy as np
f = h5py.File("test.h5", "r")
H, V, gs, E = f["couplings_h"][...], f["couplings_v"][...], f["ground_state"][...], f["energy"][...]
rows = list(csv.DictReader(open("e1.csv")))
assert len(rows) == len(E) == 40
for i, r in enumerate(rows):
    assert abs(float(r["ground_state_energy"]) - E[i]) < 1e-9
    # The predicted energy is at least the ground state's; exact iff equal.
    gap = float(r["energy_gap"])
    assert gap >= -1e-9 and (int(r["exact"]) == 1) == (abs(gap) < 1e-9)
    s = gs[i]
    e = -np.sum(H[i] * s[:, :-1] * s[:, 1:]) - np.sum(V[i] * s[:-1, :] * s[1:, :])
    assert abs(e - E[i]) < 1e-9
    assert 0.5 <= float(r["site_accuracy"]) <= 1
PY
ok $? "the CSV's ground-state energies and gaps are consistent with numpy on the stored data"

# SIGTERM and -resume.
long=(-train train.h5 -test test.h5 -width 8 -depth 2 -batch 16 -seed 3 -loss local -steps 12000 -eval_every 3000
      -checkpoint_seconds 0.3)
"$eloss" train "${long[@]}" -out ref.ckpt > /dev/null 2>&1
"$eloss" train "${long[@]}" -out cut.ckpt > /dev/null 2> cut.err &
pid=$!
for _ in $(seq 100); do grep -q "eloss train: -task" cut.err && break; sleep 0.05; done
sleep 0.4
kill -TERM $pid
wait $pid
rc=$?
stopped=$(grep -o 'stopped after step [0-9]*' cut.err | grep -o '[0-9]*$')
[ $rc = 3 ] && [ -e cut.ckpt ] && [ -n "$stopped" ] && [ "$stopped" -lt 12000 ]
ok $? "SIGTERM: checkpoint at step ${stopped:-?} of 12000 and exit $rc"
"$eloss" train "${long[@]}" -out cut.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "exists: pass -resume" err.txt
ok $? "an interrupted model is not restarted without -resume or -force"
"${mpi[@]}" -n 2 "$eloss" train "${long[@]}" -out cut.ckpt -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 0 ] && cmp -s ref.ckpt cut.ckpt && grep -q "resuming cut.ckpt at step $stopped" err.txt
ok $? "-resume on 2 ranks ends with the bytes of the uninterrupted run (exit $rc)"
cut -d, -f1,2 ref.ckpt.jsonl > a.txt
cut -d, -f1,2 cut.ckpt.jsonl > b.txt
cmp -s a.txt b.txt
ok $? "the resumed metrics file has each step once, with the losses of the uninterrupted run"

"$eloss" train "${base[@]}" -loss ce -steps 30 -out ext.ckpt > /dev/null 2>&1 &&
  "$eloss" train "${base[@]}" -loss ce -steps 60 -out ext.ckpt -resume > /dev/null 2>&1 && cmp -s ext.ckpt r1.ckpt
ok $? "30 steps, then -resume -steps 60, equals 60 steps at once"
"$eloss" train "${base[@]}" -loss ce -steps 30 -out mt.ckpt > /dev/null 2>&1 && cp mt.ckpt mt.keep &&
  head -c 300 mt.ckpt.jsonl > cut.jsonl && cp cut.jsonl mt.ckpt.jsonl
"$eloss" train "${base[@]}" -loss ce -steps 60 -out mt.ckpt -resume > /dev/null 2> err.txt
rc1=$?
grep -q "metrics file mt.ckpt.jsonl has steps 1 to [0-9]* whole, but the model is at step 30" err.txt && cmp -s mt.ckpt mt.keep &&
  cmp -s cut.jsonl mt.ckpt.jsonl && rm mt.ckpt.jsonl
rc2=$?
"$eloss" train "${base[@]}" -loss ce -steps 60 -out mt.ckpt -resume > /dev/null 2> err2.txt
rc3=$?
[ $rc1 = 1 ] && [ $rc2 = 0 ] && [ $rc3 = 1 ] && grep -q "metrics file mt.ckpt.jsonl does not exist, but the model is at step 30" err2.txt && [ ! -e mt.ckpt.jsonl ]
ok $? "-resume with its metrics file cut mid-line or removed is refused, model and file as they were: $(grep error err.txt)"
cp r1.ckpt keep.ckpt
"$eloss" train "${base[@]}" -loss ce -steps 60 -out r1.ckpt > /dev/null 2> err.txt
rc1=$?
"$eloss" train "${base[@]}" -loss margin -steps 90 -out r1.ckpt -resume > /dev/null 2> err2.txt
rc2=$?
"$eloss" train "${base[@]}" -loss ce -steps 60 -out r1.ckpt -resume > /dev/null 2> err3.txt
rc3=$?
[ $rc1 != 0 ] && [ $rc2 != 0 ] && [ $rc3 != 0 ] && cmp -s keep.ckpt r1.ckpt && grep -q "exists" err.txt &&
  grep -q "other options" err2.txt && grep -q "already has 60 steps" err3.txt
ok $? "a finished model is kept: no overwrite without -force, no -resume of another run or past its steps"
"$eloss" train "${base[@]/test.h5/test2.h5}" -loss ce -steps 90 -out r1.ckpt -resume > /dev/null 2> err.txt
[ $? = 1 ] && grep -q "other options or data: -test_data crc32:[0-9a-f]* (the file has crc32:" err.txt && cmp -s keep.ckpt r1.ckpt
ok $? "-resume with another -test set is refused (its metrics would mix two test sets)"
# -conv: the options text (which keys resume) records the convolutions
# that ran. Winograd runs where oneDNN has it (AVX-512); DNNL_MAX_CPU_ISA=AVX2
# caps oneDNN as on a CPU without AVX-512, where the model runs direct ones.
pd=(-train ptrain.h5 -test ptest.h5 -width 16 -depth 2 -batch 8 -seed 4 -loss true -T 0.2 -eval_every 0)
"$eloss" train "${pd[@]}" -steps 1 -conv winograd -out probe.ckpt > /dev/null 2> probe.err
wino=1
grep -q "no Winograd kernel" probe.err && wino=0
"$eloss" train "${pd[@]}" -steps 20 -conv direct -out pd.ckpt > /dev/null 2>&1 && cp pd.ckpt pd_keep.ckpt
"$eloss" train "${pd[@]}" -steps 30 -out pd.ckpt -resume > /dev/null 2> err.txt
rc=$?
if [ $wino = 1 ]; then
  cmp -s pd.ckpt pd_keep.ckpt && [ $rc = 1 ] && grep -q -- "-conv winograd (the file has direct)" err.txt &&
    "$eloss" train "${pd[@]}" -steps 30 -conv direct -out pd.ckpt -resume > pd.out 2>&1
  ok $? "-conv direct: resumed under -conv direct; without it refused, naming -conv: $(grep -o -- '-conv winograd (the file has direct)' err.txt)"
else
  cp pd_keep.ckpt pd.ckpt && [ $rc = 0 ] && ! grep -q "no Winograd kernel" err.txt &&
    "$eloss" train "${pd[@]}" -steps 30 -conv direct -out pd.ckpt -resume > pd.out 2>&1
  ok $? "-conv direct: this CPU has no Winograd kernel, so the default resumes a direct run too (quietly: -conv was not asked for)"
fi
DNNL_MAX_CPU_ISA=AVX2 "$eloss" train "${pd[@]}" -steps 20 -conv winograd -out pw.ckpt > /dev/null 2> err.txt
rc=$?
"$eloss" train "${pd[@]}" -steps 20 -out pw2.ckpt > /dev/null 2>&1 &&
  DNNL_MAX_CPU_ISA=AVX2 "$eloss" train "${pd[@]}" -steps 30 -out pw2.ckpt -resume > /dev/null 2> err2.txt
rc2=$?
[ $rc = 0 ] && grep -q "no Winograd kernel for this model on this CPU" err.txt && grep -q -- "-conv direct -batch" err.txt &&
  if [ $wino = 1 ]; then [ $rc2 = 1 ] && grep -q "ran Winograd convolutions, which oneDNN has not for this model on this CPU" err2.txt; else [ $rc2 = 0 ]; fi
ok $? "oneDNN capped at AVX2: -conv winograd runs direct convolutions and says so; a Winograd run is not continued there"
# eval runs the training's convolutions: its gap is the one training printed.
"$eloss" eval -model pd.ckpt -test ptest.h5 > pde.out 2> err.txt
gap_train=$(grep -o 'test_energy_gap=[^ ]*' pd.out | cut -d= -f2)
gap_eval=$(grep -o '^energy_gap=[^ ]*' pde.out | cut -d= -f2)
[ -n "$gap_eval" ] && [ "$gap_train" = "$gap_eval" ]
ok $? "eval of a -conv direct model runs direct convolutions: gap $gap_eval as training printed"
"$eloss" train "${base[@]}" -loss ce -steps 60 -out r1.ckpt -force > /dev/null 2>&1 && cmp -s keep.ckpt r1.ckpt
ok $? "-force trains again from scratch (the same bytes)"

# A small model overfits 8 instances: evaluated on its own training set.
"$eloss" spingen -L 6 -instances 8 -seed 9 -split tiny -out tiny.h5 > /dev/null 2>&1
"$eloss" train -train tiny.h5 -width 16 -depth 2 -batch 8 -shards 1 -lr 1e-2 -loss ce -steps 400 \
  -eval_every 0 -out tiny.ckpt > /dev/null 2>&1
"$eloss" eval -model tiny.ckpt -test tiny.h5 > tiny.out 2> tiny.err
grep -q "exact_fraction=1 site_accuracy=1 " tiny.out && grep -q "tiny.h5 is the data tiny.ckpt was trained on" tiny.err
ok $? "width 16 overfits 8 instances with ce (eval warns: its training data): $(cut -d' ' -f1,3,4 tiny.out)"

# Bad input.
cp r1.ckpt keep.ckpt
"$eloss" eval -model r1.ckpt -test test7.h5 > out.txt 2> err.txt
rc=$?
[ $rc = 1 ] && [ "$(wc -l < err.txt)" = 1 ] && grep -q "test7.h5 holds open square lattices of L = 7, the model is for open square lattices of L = 6" err.txt
ok $? "eval of a 6 x 6 model on 7 x 7 data: $(cut -c1-110 err.txt)"
"$py" - <<'PY'
import h5py, shutil
shutil.copy("train.h5", "flip.h5")
with h5py.File("flip.h5", "r+") as f:
    f["couplings_v"][17, 2, 3] = -f["couplings_v"][17, 2, 3]
shutil.copy("train.h5", "nocrc.h5")
with h5py.File("nocrc.h5", "r+") as f:
    del f["crc32"]
PY
"$eloss" train -train flip.h5 -steps 5 -out bad.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "flip.h5: instance 17 does not match its stored checksum" err.txt && [ ! -e bad.ckpt ]
ok $? "a flipped coupling is refused, naming instance 17, and no model is written"
# An unfinished spingen output (a fault on instance 199, checkpoints after
# every batch) is named as such, not as damaged.
ELOSS_FAULT=dataset.compute:0:200 "$eloss" spingen -L 6 -instances 500 -seed 3 -checkpoint_seconds 0.000001 \
  -out unf.h5 > /dev/null 2>&1
"$eloss" train -train unf.h5.partial -width 8 -depth 2 -steps 2 -out unf.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "unf.h5.partial: instance [0-9]* was never written: an unfinished eloss spingen output" err.txt &&
  [ ! -e unf.ckpt ]
ok $? "an unfinished spingen output (.partial) is named as such: $(grep -o 'instance [0-9]* was never written' err.txt)"
"$eloss" train -train nocrc.h5 -steps 5 -out bad.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "no dataset crc32" err.txt && [ ! -e bad.ckpt ]
ok $? "a data file without checksums is refused: $(grep error err.txt | cut -c1-90)"
head -c 6000 r1.ckpt > trunc.ckpt
"$eloss" eval -model trunc.ckpt -test test.h5 > /dev/null 2> err.txt
rc1=$?
"$eloss" eval -model train.h5 -test test.h5 > /dev/null 2> err2.txt
rc2=$?
"$eloss" train "${base[@]}" -loss ce -steps 90 -out trunc.ckpt -resume > /dev/null 2> err3.txt
rc3=$?
[ $rc1 = 1 ] && [ $rc2 = 1 ] && [ $rc3 = 1 ] && grep -q "trunc.ckpt: section 'param' is truncated" err.txt &&
  grep -q "train.h5: not an eloss checkpoint" err2.txt && grep -q "trunc.ckpt" err3.txt &&
  [ "$(head -c 6000 r1.ckpt | cmp - trunc.ckpt)" = "" ]
ok $? "a truncated model file and a foreign file are refused by eval and -resume, and left as they were"
"$eloss" train -train train.h5 -steps 10 -batch 12 -shards 8 -out x.ckpt > /dev/null 2> err.txt
rc1=$?
"$eloss" train -train train.h5 -steps 10 -loss local -flip_invariant -out x.ckpt > /dev/null 2> err2.txt
rc2=$?
"$eloss" train -train train.h5 -steps 10 -lr 0 -out x.ckpt > /dev/null 2> err3.txt
rc3=$?
[ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 2 ] && grep -q "^eloss train: error: -batch 12: expected a multiple of -shards 8" err.txt &&
  grep -q "flip_invariant" err2.txt && [ ! -e x.ckpt ]
ok $? "nonsense options exit 2 with one line: $(cat err.txt)"
"$eloss" train -train train.h5 -steps 10 -batch 256 -out x.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "batch 256 is larger than the 96 training examples" err.txt && [ ! -e x.ckpt ]
ok $? "a batch larger than the training set is refused"

# Outputs never clobber inputs or earlier results.
cp train.h5 train.copy
"$eloss" train "${base[@]}" -loss ce -steps 5 -out train.h5 -force > /dev/null 2> err.txt
rc1=$?
"$eloss" train "${base[@]}" -loss ce -steps 5 -out y.ckpt -metrics test.h5 -force > /dev/null 2> err2.txt
rc2=$?
[ $rc1 = 2 ] && [ $rc2 = 2 ] && cmp -s train.h5 train.copy && grep -q -- "-out train.h5: is the input train.h5" err.txt &&
  grep -q -- "-metrics test.h5: is the input test.h5" err2.txt && [ ! -e y.ckpt ]
ok $? "-out or -metrics naming an input is refused even with -force: $(grep error err.txt | cut -c1-90)"
# Names that collide with another output's files, and a metrics file that
# another run took over.
"$eloss" train "${base[@]}" -loss ce -steps 2 -out q.partial -metrics q > /dev/null 2> err.txt
rc1=$?
"$eloss" train "${base[@]}" -loss ce -steps 2 -out z.ckpt -metrics z.ckpt.tmp.1 > /dev/null 2> err2.txt
rc2=$?
"$eloss" train "${base[@]}" -loss local -seed 1 -steps 5 -out sa.ckpt -metrics shared.jsonl > /dev/null 2>&1 &&
  "$eloss" train "${base[@]}" -loss ce -seed 3 -steps 5 -out sb.ckpt -metrics shared.jsonl -force > /dev/null 2>&1
"$eloss" train "${base[@]}" -loss local -seed 1 -steps 8 -out sa.ckpt -metrics shared.jsonl -resume > /dev/null 2> err3.txt
rc3=$?
[ $rc1 = 2 ] && grep -q -- "-out q.partial: is where the metrics (q.partial) are written first" err.txt && [ ! -e q ] &&
  [ $rc2 != 0 ] && grep -q "z.ckpt.tmp.1: names ending in .tmp.<digits>" err2.txt && [ ! -e z.ckpt ] &&
  [ $rc3 = 1 ] && grep -q "shared.jsonl: step 1 is of another run" err3.txt
ok $? "-out on the metrics' .partial, -metrics on a temporary's name, and a metrics file another run overwrote are refused"
"$eloss" train "${base[@]}" -loss bond -steps 20 -out keep2.ckpt > /dev/null 2>&1
cp keep2.ckpt keep2.copy
cp keep2.ckpt.jsonl keep2.jsonl.copy
ELOSS_FAULT=train.shard:0:30 "$eloss" train "${base[@]}" -loss bond -steps 50 -out keep2.ckpt -force > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "injected fault" err.txt && cmp -s keep2.ckpt keep2.copy && cmp -s keep2.ckpt.jsonl keep2.jsonl.copy &&
  [ ! -e keep2.ckpt.jsonl.partial ]
ok $? "a -force run that fails before its first model keeps the old model and its metrics: $(grep error err.txt | cut -c1-90)"
"$eloss" train "${base[@]}" -loss ce -steps 5 -out z.ckpt -metrics keep2.ckpt.jsonl > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "keep2.ckpt.jsonl exists: pass -force" err.txt && cmp -s keep2.ckpt.jsonl keep2.jsonl.copy
ok $? "an existing metrics file is not replaced without -force"
"$eloss" spingen -L 6 -instances 30 -seed 5 -split train -out part.h5 > /dev/null 2>&1
"$eloss" train -train train.h5 -test part.h5 -steps 5 -out x.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "30 of the 30 instances of -test part.h5 are also in -train train.h5" err.txt && [ ! -e x.ckpt ]
ok $? "a test set that shares instances with the training set is refused: $(grep error err.txt | cut -c1-100)"
cp e1.csv e1.copy
"$eloss" eval -model r1.ckpt -test test.h5 -csv r1.ckpt > /dev/null 2> err.txt
rc1=$?
"$eloss" eval -model r1.ckpt -test test.h5 -csv e1.csv > /dev/null 2> err2.txt
rc2=$?
"$eloss" eval -model r1.ckpt -test test.h5 -csv e1.csv -force > /dev/null 2>&1
rc3=$?
[ $rc1 = 2 ] && [ $rc2 = 1 ] && [ $rc3 = 0 ] && cmp -s keep.ckpt r1.ckpt && cmp -s e1.csv e1.copy &&
  grep -q "is an input" err.txt && grep -q "e1.csv already exists; pass -force" err2.txt
ok $? "eval -csv: never an input, an existing file only with -force"

# Faults on one rank of two.
ELOSS_FAULT=train.shard:1:7 "${mpi[@]}" -n 2 -x ELOSS_FAULT "$eloss" train "${base[@]}" -loss ce -steps 60 \
  -out f.ckpt > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && [ "$(grep -c 'eloss train: error' err.txt)" = 1 ] && grep -q "injected fault" err.txt
ok $? "a failing shard on rank 1 ends both ranks with one error: $(grep 'eloss train: error' err.txt | cut -c1-80)"
cp r1.ckpt f.ckpt && cp r1.ckpt.jsonl f.ckpt.jsonl
ELOSS_FAULT=train.checkpoint:0:1 "${mpi[@]}" -n 2 -x ELOSS_FAULT "$eloss" train "${base[@]}" -loss ce -steps 90 \
  -out f.ckpt -resume > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "cannot write the checkpoint" err.txt && cmp -s f.ckpt r1.ckpt && [ -z "$(ls f.ckpt.tmp* 2>/dev/null)" ]
ok $? "a failing model write: one error, the previous model file intact, no temporary left"
"$eloss" eval -model f.ckpt -test test.h5 > /dev/null 2>&1
ok $? "which still evaluates"

# Two runs on one output.
"$eloss" train "${long[@]}" -out two.ckpt > /dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -e two.ckpt.lock ] && break; sleep 0.05; done
"$eloss" train "${long[@]}" -out two.ckpt > /dev/null 2> err.txt
rc=$?
kill -TERM $pid
wait $pid
[ $rc = 1 ] && grep -q "two.ckpt" err.txt && grep -qi "lock\|held\|running" err.txt
ok $? "a second run on the same -out is refused: $(grep error err.txt | cut -c1-100)"

# More bad input: each one line, the right exit code, no model file.
mkdir -p adir
"$eloss" eval -model adir/ -test test.h5 > /dev/null 2> e1.txt
r1=$?
"$eloss" train "${base[@]}" -loss bond -T 1e-7 -steps 2 -out smallT.ckpt > /dev/null 2> e2.txt
r2=$?
"$eloss" train "${base[@]}" -loss ce -width 4096 -depth 1000 -steps 2 -out huge.ckpt > /dev/null 2> e3.txt
r3=$?
[ $r1 = 1 ] && grep -q "adir/: is a directory, not a checkpoint" e1.txt &&
  [ $r2 = 2 ] && grep -q -- "-T 1e-7: -loss bond scales as 1/T" e2.txt && [ ! -e smallT.ckpt ] &&
  [ $r3 = 1 ] && grep -q "width 4096 and depth 1000 has .* parameters: cannot allocate" e3.txt && [ ! -e huge.ckpt ]
ok $? "eval of a directory, a -T that overflows, a model too large for memory: one error each, no model file (exits $r1 $r2 $r3)"
# A fresh run's metrics .partial left by a kill is removed by a -resume.
"$eloss" train "${base[@]}" -loss ce -steps 4 -out st.ckpt > /dev/null 2>&1 && echo junk > st.ckpt.jsonl.partial &&
  "$eloss" train "${base[@]}" -loss ce -steps 6 -out st.ckpt -resume > /dev/null 2>&1 && [ ! -e st.ckpt.jsonl.partial ]
ok $? "-resume removes a stale <metrics>.partial"

# jobs/table5 checks its losses, seeds and EXTRA before any work.
t5=$(dirname "$tap_h5same")/table5   # jobs/, found before tap_workdir
t5ok=1
for spec in "LOSSES=ce bogus|unknown loss 'bogus'" "LOSSES=ce ce|ce is given twice" "SEEDS=1 01|write '01' as 1" \
            "SEEDS=2 2|2 is given twice" "SEEDS=99999999999|not a seed" "EXTRA=-steps 5 -seed 3|-seed is set by jobs/table5" \
            "EXTRA=-lr 1e-2|-lr is set by jobs/table5" "LRS=1e-3 fast|'fast' is not a learning rate" \
            "LRS=1e-3 1e-3|1e-3 is given twice" "TUNE_SIZE=500|TUNE_SIZE: 500 is not one of SIZES" \
            "LATTICES=12 24|'24' is not an integer from 2 to 20" "SIZES=300 0|'0' is not an integer" \
            "SCALE=huge|unknown scale 'huge'" "SIZES=300 1000 8|8 training instances are fewer than a batch (64" \
            "EXTRA=-bogus 1|EXTRA: eloss train refuses it with ce" "EXTRA=-eval_every 0|-patience 10: counts evaluations" \
            "EXTRA=-select last|-select is set by jobs/table5"; do
  var=${spec%%=*} rest=${spec#*=}
  env "$var=${rest%%|*}" ELOSS="$eloss" OUT_DIR="$PWD/t5bad" "$t5" > /dev/null 2> err.txt
  rc=$?
  { [ $rc = 2 ] && grep -q -- "${rest#*|}" err.txt && [ ! -e t5bad ]; } || { t5ok=0; echo "# $spec: rc $rc: $(cat err.txt)"; }
done
[ $t5ok = 1 ]
ok $? "jobs/table5 refuses unknown or repeated losses, seeds, rates, sizes, lattices and per-run options in EXTRA, before any work"
# NP must divide the training's -shards (the deck's 4, or EXTRA's): refused
# before the data are generated (tiny sizes, so that a late refusal is cheap).
t5tiny=(LATTICES=4 WIDTHS=8 SIZES=64 TEST=8 VALID=8 LRS=1e-3 SEEDS=1 LOSSES=ce ELOSS="$eloss")
t5ok=1
for spec in "3||does not divide the training's -shards 4" "4|-shards 2|NP=4 does not divide the training's -shards 2" \
            "two||'two' is not a rank count"; do
  np=${spec%%|*} rest=${spec#*|}
  env "${t5tiny[@]}" NP="$np" EXTRA="${rest%%|*}" OUT_DIR="$PWD/t5np" "$t5" > /dev/null 2> err.txt
  rc=$?
  { [ $rc = 2 ] && grep -q -- "${rest#*|}" err.txt && [ ! -e t5np ]; } || { t5ok=0; echo "# NP=$np: rc $rc: $(cat err.txt)"; }
done
[ $t5ok = 1 ]
ok $? "jobs/table5 refuses an NP that does not divide -shards (the deck's or EXTRA's) before any work, nothing generated"
# A second run on the same OUT_DIR is refused at the start, naming it: here
# the lock a running jobs/table5 holds is held by flock.
mkdir t5lock
(flock -n 9 && env "${t5tiny[@]}" OUT_DIR="$PWD/t5lock" "$t5" data > /dev/null 2> err.txt) 9>> t5lock/.lock
rc=$?
[ $rc = 1 ] && grep -q "table5: OUT_DIR $PWD/t5lock is in use: another jobs/table5 run holds $PWD/t5lock/.lock" err.txt &&
  [ ! -e t5lock/L4 ] && [ ! -e t5lock/settings ]
ok $? "jobs/table5 on an OUT_DIR whose lock is held: refused at once, nothing written: $(head -n 1 err.txt)"
# Ctrl-C (SIGINT to the job's process group) during a training: exit 3 and
# the advice to rerun jobs/table5 with the same settings. NP is not part of
# the settings: the data of 2 ranks serve a training on 1.
t5int=("${t5tiny[@]}" "EXTRA=-steps 1000000 -eval_every 100000 -depth 2 -batch 16")
env "${t5int[@]}" NP=2 OUT_DIR="$PWD/t5int" "$t5" data > /dev/null 2> data.err
rc0=$?
rm -f int.err
set -m
env "${t5int[@]}" NP=1 OUT_DIR="$PWD/t5int" "$t5" train 4 8 64 ce 1 > /dev/null 2> int.err &
pid=$!
set +m
for _ in $(seq 600); do grep -q "eloss train: -task" int.err 2> /dev/null && break; sleep 0.1; done
kill -INT -- -$pid
wait $pid
rc=$?
[ $rc0 = 0 ] && [ $rc = 3 ] &&
  tail -n 1 int.err | grep -q "^table5: stopped; to continue, run jobs/table5 again with the same settings" &&
  env "${t5int[@]}" NP=1 OUT_DIR="$PWD/t5int" "$t5" data > /dev/null 2>&1
ok $? "Ctrl-C during a jobs/table5 training: exit $rc, \"$(tail -n 1 int.err | cut -c1-90)\"; another NP is accepted on the same OUT_DIR"
# The whole sweep, tiny: the search picks each loss's rate of the lowest
# validation gap, the runs train with it, the table has every cell.
t5sw=(LATTICES=4 WIDTHS=8 "SIZES=16 32" TUNE_SIZE=16 TEST=8 VALID=8 "LRS=1e-3 1e-2" SEEDS=1 "LOSSES=ce local"
      "EXTRA=-steps 40 -eval_every 10 -depth 2 -batch 16 -patience 2" ELOSS="$eloss")
env "${t5sw[@]}" NP=2 OUT_DIR="$PWD/t5sw" "$t5" > t5sw.out 2> t5sw.err
rc=$?
"$py" - t5sw <<'PY'
import csv, os, re, sys
d = sys.argv[1]
runs = list(csv.DictReader(open(os.path.join(d, "table5.csv"))))
tune = list(csv.DictReader(open(os.path.join(d, "table5_lr.csv"))))
assert len(runs) == 4 and len(tune) == 4, (len(runs), len(tune))
for loss in ("ce", "local"):
    search = [t for t in tune if t["loss"] == loss]
    best = min(search, key=lambda t: float(t["valid_energy_gap"]))  # the first of equal ones
    assert [t["lr"] for t in search if t["chosen"] == "1"] == [best["lr"]], search
    assert {r["lr"] for r in runs if r["loss"] == loss} == {best["lr"]}, loss
    # The search's run at TUNE_SIZE with the chosen rate is the table's run.
    log = open(os.path.join(d, "L4", "w8", "n16", f"{loss}.lr{best['lr']}.seed1.log")).read()
    assert re.search(r"valid_energy_gap=%s\b" % re.escape(best["valid_energy_gap"]), log), log
md = open(os.path.join(d, "table5.md")).read()
assert "| cross-entropy | " in md and "| local energy (Eq. 16) | " in md and "N = 32" in md and "bold: chosen" in md, md
assert os.path.getsize(os.path.join(d, "table5.png")) > 0 and os.path.getsize(os.path.join(d, "table5_curves.png")) > 0
PY
ok $(( rc || $? )) "jobs/table5, a tiny sweep: the search's lowest validation gap picks each loss's rate, the table has every cell (exit $rc)"
# Every recorded setting is compared, not only the first few.
t5ok=1
for change in "VALID=9" "LRS=1e-3 3e-2" "EXTRA=-steps 41 -eval_every 10 -depth 2 -batch 16 -patience 2" "DATA_SEED=6"; do
  env "${t5sw[@]}" "$change" NP=2 OUT_DIR="$PWD/t5sw" "$t5" > /dev/null 2> err.txt
  rc=$?
  { [ $rc = 1 ] && grep -q "holds results of other settings" err.txt; } || { t5ok=0; echo "# $change: rc $rc: $(head -c 300 err.txt)"; }
done
[ $t5ok = 1 ]
ok $? "jobs/table5 refuses a rerun on that OUT_DIR with another VALID, LRS, EXTRA or DATA_SEED"

# What a new user ran into.
# eval on the training data says so; one instance notes its undefined error.
"$eloss" eval -model r1.ckpt -test train.h5 > /dev/null 2> err.txt
rc1=$?
"$eloss" spingen -L 6 -instances 1 -seed 9 -split test -out one.h5 > /dev/null 2>&1
"$eloss" eval -model r1.ckpt -test one.h5 > one.out 2> err2.txt
rc2=$?
"$eloss" eval -model r1.ckpt -test test.h5 > /dev/null 2> err3.txt
[ $rc1 = 0 ] && grep -q "train.h5 is the data r1.ckpt was trained on" err.txt && [ $rc2 = 0 ] &&
  grep -q "one test instance" err2.txt && ! grep -q "warning\|note" err3.txt
ok $? "eval on the training set warns ($(grep -o 'warning.*' err.txt | cut -c1-70)); one instance notes err=nan; a test set neither"
# The progress line of a resumed run counts from the run's start.
"$eloss" train "${base[@]}" -loss ce -steps 20 -out prog.ckpt > /dev/null 2>&1
"$eloss" train "${base[@]}" -loss ce -steps 40 -out prog.ckpt -resume > /dev/null 2> err.txt
grep -q "train steps: 40/40" err.txt && ! grep -q "train steps: 20/20" err.txt
ok $? "a resumed run's progress counts from its start: $(grep -o 'train steps: [0-9]*/[0-9]*' err.txt | tail -1)"
# Couplings beyond 1e6 (here 1e300: energies that cancel to a zero gap).
"$py" - << 'PY'
import zlib
import h5py
import numpy as np
with h5py.File("test.h5", "r") as f, h5py.File("huge.h5", "w") as g:
    for k in f:
        g[k] = f[k][...]
    for a in f.attrs:
        g.attrs[a] = f.attrs[a]
    g["couplings_h"][3, 2, 1] = 1e300
    i = 3
    row = b"".join(np.ascontiguousarray(g[k][i]).astype(g[k].dtype.newbyteorder("<")).tobytes()
                   for k in ("couplings_h", "couplings_v", "ground_state", "energy"))
    g["crc32"][i] = zlib.crc32(row)
np.save("H.npy", np.full((5, 4), 1e300))
np.save("V.npy", np.zeros((4, 5)))
PY
"$eloss" eval -model r1.ckpt -test huge.h5 > /dev/null 2> err.txt
rc1=$?
"$eloss" gs -jh H.npy -jv V.npy > /dev/null 2> err2.txt
rc2=$?
[ $rc1 = 1 ] && grep -q "huge.h5: instance 3: coupling 1e+300 is not a finite value of size <= 1e+06" err.txt &&
  [ $rc2 != 0 ] && grep -q "H.npy: coupling 1e+300" err2.txt
ok $? "couplings beyond 1e6 are refused, naming the instance: $(grep error err.txt | cut -c1-100)"
# A dataset of another dtype is named as such, not as a checksum mismatch.
"$py" - << 'PY'
import h5py
with h5py.File("test.h5", "r") as f, h5py.File("f32.h5", "w") as g:
    for k in f:
        g[k] = f[k][...].astype("float32") if k == "couplings_h" else f[k][...]
    for a in f.attrs:
        g.attrs[a] = f.attrs[a]
PY
"$eloss" eval -model r1.ckpt -test f32.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "f32.h5: dataset couplings_h holds 4-byte floating-point values, expected float64" err.txt
ok $? "a dataset of another dtype is named: $(grep error err.txt | cut -c1-100)"
# A dataset of zero instances says so, not "never written".
"$py" - << 'PY'
import h5py
with h5py.File("test.h5", "r") as f, h5py.File("zero.h5", "w") as g:
    for k in f:
        g[k] = f[k][0:0]
    for a in f.attrs:
        g.attrs[a] = f.attrs[a]
PY
"$eloss" eval -model r1.ckpt -test zero.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "zero.h5: no instances" err.txt && ! grep -q "never written\|incomplete" err.txt
ok $? "a dataset of zero instances: $(grep error err.txt)"
# A denoise model resumed as a spin run names the task, not -conv.
"$eloss" train -task denoise -train "$(dirname "$0")/../inputs/molecules/g2.xyz" \
  -test "$(dirname "$0")/../inputs/molecules/g2_rotated.xyz" -width 16 -steps 3 -batch 8 -out dn.ckpt > /dev/null 2>&1
"$eloss" train "${base[@]}" -loss ce -steps 60 -out dn.ckpt -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q -- "-task spin (the file has denoise)" err.txt && ! grep error err.txt | grep -q -- "-conv"
ok $? "a denoise model resumed as a spin run: $(grep error err.txt | cut -c1-110)"
tap_exit
