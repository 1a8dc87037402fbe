#!/usr/bin/env bash
# TAP test of `eloss train -task diffusion` (GDM trained as EDM's noise
# predictor, docs/diffusion.md), on small molecule sets written here
# (random H, C, N, O, F molecules of 7 to 12 atoms; no chemistry needed to
# test the machinery):
# - with -loss mse the test eps-MSE falls; energy, kabsch and sparse train
#   and report finite metrics;
# - the model file of 1 and 2 ranks is the same bytes; 10 steps, then
#   -resume to 20, is the same bytes as 20 steps;
# - -model egnn (EDM): the test eps-MSE falls; 1, 2 and 4 ranks give the
#   same model and samples; -rotate with it is refused;
# - -ema keeps a moving average beside the parameters (training unchanged:
#   the same parameters with or without it), resumes exactly, and the
#   samples use it;
# - eloss sample writes the molecules, the same bytes on 1 and 2 ranks,
#   with the stability eloss molcheck finds in them; a second run on the
#   same -out is refused while the first runs; the first, stopped, leaves
#   its checkpoint, and -resume finishes the same bytes as a whole run;
# - the defaults of the paper's Tables 6-7 per network and loss;
# - bad input: no -test, -noise and -depth with
#   diffusion (exit 2); an element outside H, C, N, O, F, a test set that
#   holds training molecules and a molecule too
#   small for the sparse loss's 6-regular graphs trains (its complete graph); eval
#   of a diffusion model says where its metrics are.
#   test_diffusion_train.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..22"

"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
def write(path, count, symbols="HCNOF", small=False):
    with open(path, "w") as f:
        for k in range(count):
            n = 4 if small and k == 2 else int(rng.integers(7, 13))
            x = rng.normal(scale=1.2, size=(n, 3))
            f.write("%d\nmolecule %d\n" % (n, k))
            for i in range(n):
                f.write("%s %.6f %.6f %.6f\n" % (symbols[rng.integers(len(symbols))], *x[i]))
write("train.xyz", 96)
write("test.xyz", 12)
write("sulfur.xyz", 5, symbols="HCS")
write("small.xyz", 8, small=True)
PY
base=(-task diffusion -train train.xyz -test test.xyz -width 16 -layers 2 -diffusion_steps 100 -batch 16 -seed 3)
"$eloss" train "${base[@]}" -loss mse -lr 3e-3 -steps 300 -eval_every 10 -out mse.ckpt > mse.out 2> mse.err
rc=$?
first=$(grep -m1 -o '"test_eps_mse": [0-9.e+-]*' mse.ckpt.jsonl | grep -o '[0-9.e+-]*$')
last=$(grep -o '"test_eps_mse": [0-9.e+-]*' mse.ckpt.jsonl | tail -1 | grep -o '[0-9.e+-]*$')
[ $rc = 0 ] && "$py" -c "import sys; sys.exit(not (float('$last') < 0.9 * float('$first')))"
ok $? "-loss mse: the test eps-MSE falls from $first (step 10) to $last (step 300)"
good=1 said=""
for loss in energy kabsch; do
  "$eloss" train "${base[@]}" -loss $loss -steps 30 -eval_every 0 -out $loss.ckpt > $loss.out 2> /dev/null || good=0
  grep -q "test_eps_mse=[0-9]" $loss.out && grep -q "test_x_rmse=[0-9]" $loss.out || good=0
  said="$said $loss: $(grep -o 'test_x_rmse=[0-9.e+-]*' $loss.out)"
done
"$eloss" train "${base[@]}" -loss sparse -steps 30 -eval_every 0 -out sparse.ckpt > sparse.out 2> /dev/null || good=0
grep -q "test_eps_mse=[0-9]" sparse.out || good=0
[ $good = 1 ]
ok $? "-loss energy, kabsch and sparse train and report finite metrics:$said"
# The paper's Tables 6-7 as defaults: a run's identity holds what it used.
ident() { grep -a -o -- "-lr [0-9.e-]* \|-pos_weight [0-9.e-]* " "$1" | sort -u | tr -d '\n'; }
"$eloss" train "${base[@]}" -model egnn -loss kabsch -steps 1 -eval_every 0 -out egk.ckpt > /dev/null 2>&1
[ "$(ident energy.ckpt)" = "-lr 0.0004 -pos_weight 0.05 " ] && [ "$(ident kabsch.ckpt)" = "-lr 0.0008 -pos_weight 0.8 " ] &&
  [ "$(ident mse.ckpt)" = "-lr 0.003 -pos_weight 1.5 " ] && [ "$(ident egk.ckpt)" = "-lr 0.0003 -pos_weight 0.8 " ]
ok $? "defaults from the paper's Tables 6-7: gdm energy ($(ident energy.ckpt)), gdm kabsch, gdm mse's weight 1.5 (-lr given), egnn kabsch ($(ident egk.ckpt))"
"$eloss" train "${base[@]}" -loss energy -rotate -steps 20 -shards 4 -eval_every 10 -out r1.ckpt > /dev/null 2>&1
"${mpi[@]}" -n 2 "$eloss" train "${base[@]}" -loss energy -rotate -steps 20 -shards 4 -eval_every 10 -out r2.ckpt > /dev/null 2>&1
"$eloss" train "${base[@]}" -loss energy -steps 20 -shards 4 -eval_every 10 -out r0.ckpt > /dev/null 2>&1
cmp -s r1.ckpt r2.ckpt && ! cmp -s r0.ckpt r1.ckpt
ok $? "1 and 2 ranks write the same model file, byte for byte (GDM-aug: -rotate, which changes the model)"
"$eloss" train "${base[@]}" -loss energy -rotate -steps 10 -shards 4 -eval_every 10 -out cut.ckpt > /dev/null 2>&1 &&
  "$eloss" train "${base[@]}" -loss energy -rotate -steps 20 -shards 4 -eval_every 10 -out cut.ckpt -resume > /dev/null 2>&1
cmp -s cut.ckpt r1.ckpt
ok $? "10 steps, then -resume to 20: the same bytes as 20 steps"
# EDM: the equivariant network.
"$eloss" train "${base[@]}" -model egnn -loss mse -lr 3e-3 -steps 150 -eval_every 10 -out eg.ckpt > eg.out 2> /dev/null
rc=$?
first=$(grep -m1 -o '"test_eps_mse": [0-9.e+-]*' eg.ckpt.jsonl | grep -o '[0-9.e+-]*$')
last=$(grep -o '"test_eps_mse": [0-9.e+-]*' eg.ckpt.jsonl | tail -1 | grep -o '[0-9.e+-]*$')
[ $rc = 0 ] && "$py" -c "import sys; sys.exit(not (float('$last') < 0.9 * float('$first')))"
ok $? "-model egnn -loss mse: the test eps-MSE falls from $first (step 10) to $last (step 150)"
"$eloss" train "${base[@]}" -model egnn -loss energy -steps 10 -shards 4 -eval_every 5 -out eg1.ckpt > /dev/null 2>&1
"${mpi[@]}" -n 2 "$eloss" train "${base[@]}" -model egnn -loss energy -steps 10 -shards 4 -eval_every 5 -out eg2.ckpt > /dev/null 2>&1
"${mpi[@]}" -n 4 "$eloss" train "${base[@]}" -model egnn -loss energy -steps 10 -shards 4 -eval_every 5 -out eg4.ckpt > /dev/null 2>&1
"$eloss" sample -model eg.ckpt -n 6 -seed 2 -chunk 1 -out eg1.xyz > /dev/null 2>&1 &&
  "${mpi[@]}" -n 2 "$eloss" sample -model eg.ckpt -n 6 -seed 2 -chunk 1 -out eg2.xyz > /dev/null 2>&1 &&
  "${mpi[@]}" -n 4 "$eloss" sample -model eg.ckpt -n 6 -seed 2 -chunk 1 -out eg4.xyz > /dev/null 2>&1
cmp -s eg1.ckpt eg2.ckpt && cmp -s eg1.ckpt eg4.ckpt && cmp -s eg1.xyz eg2.xyz && cmp -s eg1.xyz eg4.xyz &&
  [ "$(grep -c '^sample ' eg1.xyz)" = 6 ]
ok $? "-model egnn: 1, 2 and 4 ranks write the same model file (-loss energy) and the same samples, byte for byte"
# The moving average.
ema=(-loss mse -steps 20 -eval_every 0)
"$eloss" train "${base[@]}" "${ema[@]}" -ema 0 -out e0.ckpt > /dev/null 2>&1
"$eloss" train "${base[@]}" "${ema[@]}" -ema 0.5 -out e5.ckpt > /dev/null 2>&1
"$eloss" train "${base[@]}" "${ema[@]}" -ema 0.5 -steps 10 -out e5r.ckpt > /dev/null 2>&1 &&
  "$eloss" train "${base[@]}" "${ema[@]}" -ema 0.5 -out e5r.ckpt -resume > /dev/null 2>&1
"$eloss" sample -model e0.ckpt -n 3 -out g0.xyz > /dev/null 2>&1 && "$eloss" sample -model e5.ckpt -n 3 -out g5.xyz > /dev/null 2>&1
ELOSS_LIBRARY= PYTHONPATH= "$py" - <<'PY'
import struct, sys
def sections(path):
    b = open(path, "rb").read(); off = 48; out = {}
    while off < len(b):
        name = b[off:off + 16].rstrip(b"\0").decode(); size = struct.unpack("<Q", b[off + 16:off + 24])[0]; off += 32
        out[name] = b[off:off + size]; off += size
    return out
a, b = sections("e0.ckpt"), sections("e5.ckpt")
sys.exit(not (a["param"] == b["param"] and "ema" not in a and "ema" in b and b["ema"] != b["param"]))
PY
[ $? = 0 ] && cmp -s e5.ckpt e5r.ckpt && ! cmp -s g0.xyz g5.xyz
ok $? "-ema: the same parameters with and without it, an ema section beside them, resumed exactly, sampled with"

# Sampling.
"$eloss" sample -model mse.ckpt -n 10 -seed 4 -chunk 4 -out s1.xyz > s1.out 2> /dev/null &&
  "${mpi[@]}" -n 2 "$eloss" sample -model mse.ckpt -n 10 -seed 4 -chunk 4 -out s2.xyz > /dev/null 2>&1
cmp -s s1.xyz s2.xyz && [ "$(grep -c '^sample ' s1.xyz)" = 10 ]
ok $? "sample: 10 molecules, the same bytes on 1 and 2 ranks ($(cut -c1-80 s1.out))"
"$eloss" molcheck -in s1.xyz > mc.out 2> /dev/null
[ "$(grep -o 'atom_stability=[0-9.e+-]*' mc.out | cut -d= -f2)" = "$(grep -o 'atom_stability=[0-9.e+-]*' s1.out | cut -d= -f2)" ] ||
  "$py" -c "import sys; a=float('$(grep -o 'atom_stability=[0-9.e+-]*' mc.out | cut -d= -f2)'); b=float('$(grep -o 'atom_stability=[0-9.e+-]*' s1.out | cut -d= -f2)'); sys.exit(abs(a-b) > 1e-6)"
ok $? "sample's atom stability = eloss molcheck's on its file ($(cut -c1-60 mc.out))"
# Two samplers on one -out; the first stopped mid-run, then resumed.
"$eloss" sample -model mse.ckpt -n 240 -chunk 2 -seed 5 -checkpoint_seconds 0.01 -out busy.xyz > /dev/null 2>&1 &
pid=$!
for _ in $(seq 400); do [ -e busy.xyz.ckpt ] && break; sleep 0.05; done
"$eloss" sample -model mse.ckpt -n 2 -out busy.xyz -force > /dev/null 2> busy.err
rc=$?
kill -TERM $pid 2> /dev/null
wait $pid
rc1=$?
[ $rc = 1 ] && grep -q "busy.xyz is being written by another run" busy.err && [ $rc1 = 3 ] && [ -e busy.xyz.ckpt ] &&
  [ ! -e busy.xyz ]
ok $? "a second sample on a busy -out is refused ($(grep -o 'is being written[^(]*' busy.err)); the first, stopped (exit $rc1), leaves its checkpoint and no -out"
"$eloss" sample -model mse.ckpt -n 240 -chunk 2 -seed 5 -out busy.xyz -resume > resume.out 2> resume.err &&
  "${mpi[@]}" -n 2 "$eloss" sample -model mse.ckpt -n 240 -chunk 2 -seed 5 -out whole.xyz > /dev/null 2>&1
cmp -s busy.xyz whole.xyz && [ ! -e busy.xyz.ckpt ] && grep -q "(resumed)" resume.err
ok $? "-resume finishes it: the same bytes as an uninterrupted run on 2 ranks, the checkpoint removed"
refused() { # refused <rc> <needle> <args...>
  local want=$1 needle=$2
  shift 2
  "$eloss" "$@" > out.txt 2> err.txt
  local rc=$?
  [ $rc = "$want" ] && [ "$(grep -c 'error' err.txt)" = 1 ] && grep -q -- "$needle" err.txt
  ok $? "$* : exit $rc, $(grep error err.txt | cut -c1-120)"
}
refused 2 "-test: required for -task diffusion" train -task diffusion -train train.xyz -out x.ckpt
refused 2 "-noise 0.1: applies to -task denoise" train "${base[@]}" -noise 0.1 -out x.ckpt
refused 2 "-rotate: is GDM-aug's augmentation" train "${base[@]}" -model egnn -rotate -out x.ckpt
refused 1 "sulfur.xyz: molecule 0, atom" train "${base[@]}" -train sulfur.xyz -out x.ckpt
refused 1 "12 of the 12 test molecules of test.xyz are training molecules" train "${base[@]}" -train test.xyz -out x.ckpt
"$eloss" train "${base[@]}" -train small.xyz -loss sparse -steps 4 -batch 8 -eval_every 0 -out small.ckpt > small.out 2>&1
grep -q "test_eps_mse=[0-9]" small.out
ok $? "-loss sparse trains on a set with a molecule of 4 atoms (its complete graph; 6-regular graphs for the others)"
refused 1 "mse.ckpt is a diffusion model" eval -model mse.ckpt -test test.xyz
"$py" -c "
l = open('test.xyz').read().split('\n'); p = l[2].split(); p[1] = '1e30'; l[2] = ' '.join(p)
open('far.xyz', 'w').write('\n'.join(l))"
refused 1 "far.xyz: molecule 0, atom 0 lies .* A from its molecule.s centre" train "${base[@]}" -test far.xyz -out x.ckpt
"$eloss" train "${base[@]}" -loss mse -lr 1 -steps 40 -ema 0 -eval_every 0 -out blown.ckpt > /dev/null 2>&1
refused 1 "a non-finite coordinate; the model's network diverged" sample -model blown.ckpt -n 4 -out blown.xyz
refused 1 "s1.xyz already exists; pass -force" sample -model mse.ckpt -n 2 -out s1.xyz
tap_exit
