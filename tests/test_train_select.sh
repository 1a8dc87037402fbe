#!/usr/bin/env bash
# TAP test of training to convergence with `eloss train -task spin`
# (docs/train.md, "Validation, selection, patience"):
# - -select best: the model file's parameters are those of the best line of
#   the metrics file (the lowest valid_energy_gap, the earliest of equal
#   ones): eval of the file prints that line's test metrics, and train's
#   last line says its step; -select last prints the last line's;
# - -patience K stops K evaluations after the best, which no later
#   evaluation beats; a stopped run is finished (-resume refused), and
#   -resume with a larger -patience continues to the bytes of a run that
#   never stopped;
# - the model files of 1, 2 and 4 ranks are the same bytes; SIGTERM and
#   -resume on another rank count end with the bytes of an uninterrupted
#   run (selection and all);
# - -train_count N trains on the first N instances: the same losses and
#   metrics as a file of those N;
# - refusals: a validation set that shares instances with the training or
#   test set, of another lattice, -select best or -patience without
#   -valid, -patience with -eval_every 0, -train_count beyond the file,
#   -valid with another task, -resume with another validation set.
#   test_train_select.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..17"

"$eloss" spingen -L 6 -instances 96 -seed 5 -split train -out train.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 48 -seed 5 -split train -out train48.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 40 -seed 5 -split test -out test.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 40 -seed 5 -split valid -out valid.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 6 -instances 40 -seed 6 -split valid -out valid2.h5 > /dev/null 2>&1 &&
  "$eloss" spingen -L 7 -instances 8 -seed 5 -split valid -out valid7.h5 > /dev/null 2>&1
ok $? "spingen writes the training, test and validation sets"

# A small network at a high learning rate overfits 96 instances: the
# validation gap falls, then rises.
base=(-train train.h5 -test test.h5 -valid valid.h5 -width 8 -depth 2 -batch 16 -lr 1e-2 -seed 2 -eval_every 10)
"$eloss" train "${base[@]}" -loss ce -steps 300 -select best -out best.ckpt > best.out 2> best.err
rc1=$?
"$eloss" eval -model best.ckpt -test test.h5 > best.eval 2> /dev/null
rc2=$?
"$py" - best.ckpt.jsonl best.out best.eval <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
evals = [r for r in rows if "valid_energy_gap" in r]
assert len(evals) == 30 and all("test_energy_gap" in r for r in evals), len(evals)
best = min(evals, key=lambda r: r["valid_energy_gap"])  # the first of equal ones
assert best["step"] != evals[-1]["step"], "the best is the last: the check would not tell best from last"
out = dict(kv.split("=") for kv in open(sys.argv[2]).read().split())
assert int(out["selected_step"]) == best["step"] == int(out["best_step"]), (out["selected_step"], best["step"])
for k in ("test_energy_gap", "test_site_accuracy", "valid_energy_gap", "valid_site_accuracy"):
    assert out[k] == "%.9g" % best[k], (k, out[k], best[k])
ev = dict(kv.split("=") for kv in open(sys.argv[3]).read().split())
assert ev["energy_gap"] == "%.9g" % best["test_energy_gap"], (ev["energy_gap"], best["test_energy_gap"])
assert ev["selected_step"] == str(best["step"]), ev
print("# best at step %d of 300: valid gap %.4f, test gap %.4f; the last: valid %.4f" %
      (best["step"], best["valid_energy_gap"], best["test_energy_gap"], evals[-1]["valid_energy_gap"]))
PY
ok $(( rc1 || rc2 || $? )) "-select best: train and eval report the metrics file's best validation line (exits $rc1 $rc2)"

"$eloss" train "${base[@]}" -loss ce -steps 300 -select last -out last.ckpt > last.out 2> /dev/null &&
  "$eloss" eval -model last.ckpt -test test.h5 > last.eval 2> /dev/null &&
  "$py" - last.ckpt.jsonl last.eval best.ckpt.jsonl <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
ev = dict(kv.split("=") for kv in open(sys.argv[2]).read().split())
assert ev["energy_gap"] == "%.9g" % rows[-1]["test_energy_gap"] and "selected_step" not in ev, ev
# The same training: only the file's choice differs.
def numbers(path):
    return [{k: v for k, v in json.loads(l).items() if k not in ("samples_per_s", "seconds")} for l in open(path)]
assert numbers(sys.argv[1]) == numbers(sys.argv[3])
PY
ok $? "-select last: eval reports the last line; the training is the same as -select best's"

# Patience: the stop comes K evaluations after the best.
"$eloss" train "${base[@]}" -loss ce -steps 3000 -select best -patience 4 -out pat.ckpt > pat.out 2> pat.err
rc=$?
"$py" - pat.ckpt.jsonl pat.out <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
evals = [r for r in rows if "valid_energy_gap" in r]
best = min(evals, key=lambda r: r["valid_energy_gap"])
after = [r for r in evals if r["step"] > best["step"]]
assert len(after) == 4 and all(r["valid_energy_gap"] >= best["valid_energy_gap"] for r in after), after
assert rows[-1]["step"] == after[-1]["step"] < 3000, rows[-1]["step"]
out = dict(kv.split("=") for kv in open(sys.argv[2]).read().split())
assert out["stopped_early"] == "1" and out["steps"] == str(rows[-1]["step"]), out
print("# stopped at step %d, best at %d" % (rows[-1]["step"], best["step"]))
PY
ok $(( rc || $? )) "-patience 4 stops 4 evaluations after the best, none of them better (exit $rc)"
grep -q "stopping after step [0-9]*: 4 evaluations without a better validation score" pat.err
ok $? "the stop is said: $(grep -o 'stopping after.*' pat.err)"

stopped=$(sed -n 's/^steps=\([0-9]*\).*/\1/p' pat.out)
cp pat.ckpt pat.keep
"$eloss" train "${base[@]}" -loss ce -steps 3000 -select best -patience 4 -out pat.ckpt -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "stopped at step $stopped: its last 4 evaluations brought no better validation score" err.txt &&
  cmp -s pat.ckpt pat.keep
ok $? "-resume of a run that patience stopped is refused, the file kept: $(grep -o 'stopped at step.*' err.txt | cut -c1-90)"
limit=$((stopped + 100))
"$eloss" train "${base[@]}" -loss ce -steps $limit -select best -patience 1000 -out pat.ckpt -resume > /dev/null 2>&1 &&
  "$eloss" train "${base[@]}" -loss ce -steps $limit -select best -patience 1000 -out once.ckpt > /dev/null 2>&1 &&
  cmp -s pat.ckpt once.ckpt && cut -d, -f1-3 pat.ckpt.jsonl > a.txt && cut -d, -f1-3 once.ckpt.jsonl > b.txt &&
  cmp -s a.txt b.txt
ok $? "-resume with a larger -patience continues to the bytes of a run that never stopped ($stopped, then $limit steps)"

# Ranks.
"${mpi[@]}" -n 2 "$eloss" train "${base[@]}" -loss local -steps 300 -select best -patience 6 -out r2.ckpt > r2.out 2> /dev/null &&
  "${mpi[@]}" -n 4 "$eloss" train "${base[@]}" -loss local -steps 300 -select best -patience 6 -out r4.ckpt > r4.out 2> /dev/null &&
  "$eloss" train "${base[@]}" -loss local -steps 300 -select best -patience 6 -out r1.ckpt > r1.out 2> /dev/null &&
  cmp -s r1.ckpt r2.ckpt && cmp -s r1.ckpt r4.ckpt && [ "$(cut -d' ' -f1-12 r1.out)" = "$(cut -d' ' -f1-12 r4.out)" ]
ok $? "the model files of 1, 2 and 4 ranks are identical, selection included: $(cut -d' ' -f1-5 r1.out)"

# SIGTERM, then -resume on 2 ranks.
long=("${base[@]}" -loss ce -lr 1e-3 -steps 6000 -select best -patience 100000 -checkpoint_seconds 0.3)
"$eloss" train "${long[@]}" -out ref.ckpt > /dev/null 2>&1
"$eloss" train "${long[@]}" -out cut.ckpt > /dev/null 2> cut.err &
pid=$!
for _ in $(seq 100); do grep -q "eloss train: -task" cut.err && break; sleep 0.05; done
sleep 0.6
kill -TERM $pid
wait $pid
rc1=$?
"${mpi[@]}" -n 2 "$eloss" train "${long[@]}" -out cut.ckpt -resume > /dev/null 2> err.txt
rc2=$?
at=$(grep -o 'stopped after step [0-9]*' cut.err | grep -o '[0-9]*$')
[ $rc1 = 3 ] && [ $rc2 = 0 ] && cmp -s ref.ckpt cut.ckpt
ok $? "SIGTERM at step ${at:-?} and -resume on 2 ranks: the bytes of the uninterrupted run (exits $rc1 $rc2)"

# -train_count: the first N instances.
cnt=(-test test.h5 -width 8 -depth 2 -batch 16 -lr 3e-3 -seed 2 -eval_every 10 -loss margin -steps 40)
"$eloss" train "${cnt[@]}" -train train.h5 -train_count 48 -out c1.ckpt > c1.out 2> /dev/null &&
  "$eloss" train "${cnt[@]}" -train train48.h5 -out c2.ckpt > c2.out 2> /dev/null &&
  cut -d, -f1,3 c1.ckpt.jsonl > a.txt && cut -d, -f1,3 c2.ckpt.jsonl > b.txt && cmp -s a.txt b.txt &&
  [ "$(cut -d' ' -f1-6 c1.out)" = "$(cut -d' ' -f1-6 c2.out)" ]
ok $? "-train_count 48 trains as on a file of the first 48 instances: $(cut -d' ' -f1-3 c1.out)"
"$eloss" train "${cnt[@]}" -train train48.h5 -train_count 48 -out c3.ckpt > /dev/null 2>&1 && cmp -s c1.ckpt c3.ckpt
ok $? "-train_count 48 of a 48-instance file is the run of -train_count 48 of a larger one (the same model file)"

# Refusals.
"$eloss" train "${base[@]/valid.h5/test.h5}" -loss ce -steps 10 -out x1.ckpt > /dev/null 2> e1.txt
rc1=$?
"$eloss" train "${base[@]/valid.h5/train48.h5}" -loss ce -steps 10 -out x2.ckpt > /dev/null 2> e2.txt
rc2=$?
[ $rc1 = 1 ] && [ $rc2 = 1 ] && [ ! -e x1.ckpt ] && [ ! -e x2.ckpt ] &&
  grep -q "40 of the 40 instances of -valid test.h5 are also in -test test.h5" e1.txt &&
  grep -q "48 of the 48 instances of -valid train48.h5 are also in -train train.h5" e2.txt
ok $? "a validation set that shares instances with the test or training set is refused: $(grep -o '40 of.*test.h5' e1.txt | head -1)"
"$eloss" train "${base[@]/valid.h5/valid7.h5}" -loss ce -steps 10 -out x3.ckpt > /dev/null 2> e3.txt
[ $? = 1 ] && [ ! -e x3.ckpt ] && grep -q "valid7.h5 holds open square lattices of L = 7, the model is for open square lattices of L = 6" e3.txt
ok $? "a validation set of another lattice is refused: $(grep -o 'valid7.h5 holds.*' e3.txt | cut -c1-60)"
nov=(-train train.h5 -test test.h5 -width 8 -depth 2 -batch 16 -steps 10)
"$eloss" train "${nov[@]}" -select best -out x4.ckpt > /dev/null 2> e4.txt
rc1=$?
"$eloss" train "${nov[@]}" -select last -out x4.ckpt > /dev/null 2> e4b.txt
rc1b=$?
"$eloss" train "${nov[@]}" -patience 3 -out x4.ckpt > /dev/null 2> e5.txt
rc2=$?
"$eloss" train "${nov[@]}" -valid valid.h5 -patience 3 -eval_every 0 -out x4.ckpt > /dev/null 2> e6.txt
rc3=$?
"$eloss" train "${nov[@]}" -train_count 97 -out x4.ckpt > /dev/null 2> e7.txt
rc4=$?
[ $rc1 = 2 ] && [ $rc1b = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 2 ] && [ $rc4 = 1 ] && [ ! -e x4.ckpt ] &&
  grep -q "\-select best: chooses by the validation set's score: give -valid" e4.txt && grep -q "\-patience 3: needs a validation set" e5.txt &&
  grep -q "\-patience 3: counts evaluations" e6.txt && grep -q "\-train_count 97: train.h5 holds 96 instances" e7.txt
ok $? "-select best or -patience without -valid, -patience with -eval_every 0, -train_count 97 of 96: refused (exits $rc1 $rc2 $rc3 $rc4)"
"$eloss" clustergen -atoms 4 -structures 16 -seed 1 -out c.h5 > /dev/null 2>&1
"$eloss" train -task denoise -train c.h5 -test c.h5 -valid valid.h5 -steps 1 -out x5.ckpt > /dev/null 2> e8.txt
[ $? = 2 ] && grep -q "\-valid.*applies to -task spin" e8.txt
ok $? "-valid with -task denoise is refused: $(head -1 e8.txt | cut -c1-80)"
cp best.ckpt keep.ckpt
"$eloss" train "${base[@]/valid.h5/valid2.h5}" -loss ce -steps 600 -select best -out best.ckpt -resume > /dev/null 2> e9.txt
[ $? = 1 ] && grep -q "valid_data crc32" e9.txt && cmp -s best.ckpt keep.ckpt
ok $? "-resume with another validation set is refused, the model kept"
# The option that differs is named, wherever it sits in the run's options.
"$eloss" train -train train.h5 -test test.h5 -width 8 -depth 2 -batch 16 -lr 1e-2 -seed 2 -eval_every 10 -loss ce \
  -steps 600 -out best.ckpt -resume > /dev/null 2> e10.txt
rc1=$?
"$eloss" train "${base[@]}" -loss ce -steps 600 -select best -train_count 80 -out best.ckpt -resume > /dev/null 2> e11.txt
rc2=$?
[ $rc1 = 1 ] && [ $rc2 = 1 ] && grep -q "no -valid_data (the file has -valid_data crc32:[0-9a-f]*)" e10.txt &&
  grep -q "\-train_count 80 (the file has no -train_count)" e11.txt && cmp -s best.ckpt keep.ckpt
ok $? "-resume without the validation set, or with -train_count, is refused naming that option: $(grep -o 'no -valid_data[^)]*)' e10.txt)"
tap_exit
