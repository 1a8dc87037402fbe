#!/usr/bin/env bash
# TAP test of what keeps `eloss spingen`'s data beyond doubt, as an
# adversary would try it:
# - a split name with the same seed gives other instances (no train/test leak);
# - every instance's crc32 equals zlib.crc32 of its rows (h5py);
# - heuristic ground states are searched twice: agreement stored and printed;
# - a byte flipped in a checkpointed row of the .partial file is refused by
#   -resume, with no final file published;
# - two runs on one output: the second is refused (not queued), naming the holder;
# - an existing output is never replaced without -force; -resume with nothing
#   to resume, or over a finished file, says so; an interrupted run is not
#   discarded without -force; -out . and a missing directory fail before work;
# - checkpoints due every few milliseconds on 2 ranks never deadlock;
# - a failure injected on one rank in each collective step (allocation,
#   compute, row range, HDF5 write, flush, checkpoint) ends every rank with
#   exit 1 and one message, and -resume then completes the run
#   with the bytes of an uninterrupted one;
# - a full disk: at creation, refused with "No space left on device"
#   and no file left; in the middle of a run, the run ends with that message,
#   its last checkpoint intact, and the files moved elsewhere resume to the
#   bytes of an uninterrupted run;
# - SIGTERM to mpirun stops a 1000 x 1000 search (before its first
#   instance is done) with a checkpoint; SIGINT to mpirun (Ctrl-C) ends in
#   a checkpoint that -resume accepts. No check depends on how long
#   anything takes (the test's timeout bounds a hang).
#   test_spingen_safety.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..34"

# same <a.h5> <b.h5>: exit 0 iff both files hold the same datasets, equal.
same() { "$py" "$tap_h5same" "$1" "$2" --attributes none; }
# one_error <file>: exactly one "error:" line.
one_error() { [ "$(grep -c 'error:' "$1")" = 1 ]; }

"$eloss" spingen -L 8 -instances 20 -seed 1 -split train -out tr.h5 > /dev/null 2>&1
"$eloss" spingen -L 8 -instances 20 -seed 1 -split test -out te.h5 > /dev/null 2>&1
"$eloss" spingen -L 8 -instances 20 -seed 1 -split train -out tr2.h5 > /dev/null 2>&1
"$py" - <<'PY'
import sys
import h5py
import numpy as np
a, b, c = (h5py.File(n, "r") for n in ("tr.h5", "te.h5", "tr2.h5"))
shared = sum(any(np.array_equal(a["couplings_h"][i], b["couplings_h"][j]) for j in range(20)) for i in range(20))
sys.exit(not (shared == 0 and np.array_equal(a["couplings_h"][...], c["couplings_h"][...])))
PY
ok $? "-split test and -split train with one seed share no instance; the same split repeats itself"

"$eloss" spingen -L 6 -bc periodic -instances 5 -seed 2 -gs sa -gs_sweeps 50 -samples 2 -sample_therm 5 -sample_sweeps 2 \
  -sample_betas 0.5,2 -out crc.h5 > /dev/null 2>&1
"$py" - <<'PY'
import sys
import zlib
import h5py
names = ["couplings_h", "couplings_v", "ground_state", "energy", "samples", "ground_state_agreement"]
for path in ("tr.h5", "crc.h5"):
    f = h5py.File(path, "r")
    for i in range(f["crc32"].shape[0]):
        if zlib.crc32(b"".join(f[n][i].tobytes() for n in names if n in f)) != f["crc32"][i]:
            sys.exit(1)
PY
ok $? "crc32[i] = zlib.crc32 of instance i's rows (exact with no samples; annealing with samples and agreement)"

# Heuristic ground states: searched twice, agreement stored and printed.
"${mpi[@]}" -n 2 "$eloss" spingen -bc periodic -L 16 -instances 24 -seed 6 -out agree.h5 > /dev/null 2> err.txt
rc=$?
"$py" - <<'PY'
import re
import sys
import h5py
import numpy as np
f = h5py.File("agree.h5", "r")
a = f["ground_state_agreement"][...]
line = re.search(r"agreed on (\d+) of (\d+) instances", open("err.txt").read())
s = f["ground_state"][...].astype(float)
E = -(f["couplings_h"][...] * s * np.roll(s, -1, axis=2)).sum((1, 2)) - (f["couplings_v"][...] * s * np.roll(s, -1, axis=1)).sum((1, 2))
print(f"# agreement {a.sum()} of {a.size}")
sys.exit(not (line and int(line.group(1)) == a.sum() and int(line.group(2)) == 24 and a.sum() >= 0.9 * 24
              and set(np.unique(a)) <= {0, 1} and np.allclose(E, f["energy"][...], atol=1e-9)))
PY
[ $rc = 0 ] && [ $? = 0 ]
ok $? "16 x 16 periodic (tempering, twice per instance): $(grep -o 'agreed on .*' err.txt), stored per instance"

# An interrupted run to corrupt.
long=(-L 14 -instances 600 -seed 3 -chunk 2 -checkpoint_seconds 0.2)
"$eloss" spingen "${long[@]}" -out ref.h5 > /dev/null 2>&1
"$eloss" spingen "${long[@]}" -out cut.h5 > /dev/null 2>&1 &
pid=$!
# Stopped once a checkpoint with finished rows is written: the second one
# (the run takes seconds; no check depends on how long).
second_checkpoint() {
  for _ in $(seq 500); do [ -e "$1" ] && break; sleep 0.02; done
  cp "$1" first.ckpt 2> /dev/null
  for _ in $(seq 500); do cmp -s "$1" first.ckpt || break; sleep 0.02; done
}
second_checkpoint cut.h5.ckpt
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 3 ] && [ -e cut.h5.ckpt ]
ok $? "SIGTERM leaves a checkpoint (exit $rc)"
for name in couplings_h energy ground_state; do
  cp cut.h5.partial bad.h5.partial
  cp cut.h5.ckpt bad.h5.ckpt
  "$py" - "$name" <<'PY'
import sys
import h5py
name = sys.argv[1]
with h5py.File("bad.h5.partial", "r") as f:
    offset = f[name].id.get_offset() + f[name][0].nbytes + 3   # a byte of instance 1
with open("bad.h5.partial", "r+b") as fp:
    fp.seek(offset)
    byte = fp.read(1)
    fp.seek(offset)
    fp.write(bytes([byte[0] ^ 0x10]))
PY
  "$eloss" spingen "${long[@]}" -out bad.h5 -resume > /dev/null 2> err.txt
  rc=$?
  [ $rc = 1 ] && [ ! -e bad.h5 ] && one_error err.txt && grep -q "instance 1 does not match its checksum" err.txt
  ok $? "a flipped byte in $name of a checkpointed instance: -resume refuses ($(grep error err.txt))"
done
cp cut.h5.partial mixed.h5.partial
"$py" - <<'PY'
import h5py
with h5py.File("mixed.h5.partial", "r+") as f:   # data and its checksum changed together
    f["energy"][0] = f["energy"][0] + 1.0
    import zlib
    names = ["couplings_h", "couplings_v", "ground_state", "energy"]
    f["crc32"][0] = zlib.crc32(b"".join(f[n][0].tobytes() for n in names))
PY
cp cut.h5.ckpt mixed.h5.ckpt
"$eloss" spingen "${long[@]}" -out mixed.h5 -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && [ ! -e mixed.h5 ] && grep -q "do not match the checkpoint" err.txt
ok $? "a row rewritten with a matching crc32 is caught by the checkpoint's checksum of checksums"
"$py" -c "
import h5py
with h5py.File('cut.h5.partial', 'r+') as f:   # attributes are no rows: tampered ones are rewritten
    f.attrs['seed'] = 8
    f.attrs['split'] = 'test'"
"$eloss" spingen "${long[@]}" -out cut.h5 -resume > /dev/null 2>&1 && same cut.h5 ref.h5 &&
  "$py" -c "import h5py, sys; f = h5py.File('cut.h5', 'r'); sys.exit(not (f.attrs['seed'] == 3 and f.attrs['split'] == 'train'))"
ok $? "the copy with untouched rows resumes to the bytes of an uninterrupted run, its edited attributes rewritten"

# Two writers on one output (the transfer matrix at L = 16, about 20 ms an
# instance: the first run lasts seconds).
two=(-L 16 -gs_method tm -instances 600 -chunk 2 -checkpoint_seconds 0.2)
"${mpi[@]}" -n 2 "$eloss" spingen "${two[@]}" -seed 4 -out two.h5 > first.out 2> first.err &
pid=$!
for _ in $(seq 50); do [ -e two.h5.lock ] && break; sleep 0.1; done
"${mpi[@]}" -n 2 "$eloss" spingen "${two[@]}" -seed 100 -out two.h5 > /dev/null 2> err.txt
rc=$?
wait $pid
rc1=$?
"$py" -c "import h5py, sys; sys.exit(0 if int(h5py.File('two.h5', 'r').attrs['seed']) == 4 else 1)"
[ $? = 0 ] && [ $rc = 1 ] && [ $rc1 = 0 ] && grep -q "being written by another run (host .* pid [0-9]*" err.txt &&
  [ ! -e two.h5.lock ]
ok $? "a second run on the same -out is refused naming the holder; the first completes with its own data"

# The lock file removed by hand under a running job, then a -force run:
# the first run stops at its next checkpoint without publishing anything,
# the second completes with its own bytes.
"${mpi[@]}" -n 2 "$eloss" spingen "${long[@]}" -out stolen.h5 > /dev/null 2> first.err &
pid=$!
for _ in $(seq 50); do [ -e stolen.h5.ckpt ] && break; sleep 0.1; done
rm -f stolen.h5.lock
"${mpi[@]}" -n 2 "$eloss" spingen "${long[@]}" -out stolen.h5 -force > /dev/null 2> err.txt
rc=$?
wait $pid
rc1=$?
[ $rc = 0 ] && [ $rc1 = 1 ] && grep -q "was removed or replaced while this run held it" first.err && same stolen.h5 ref.h5
ok $? "a lock removed by hand: the first run stops ($(grep -o 'stolen.h5.lock was removed[^;]*' first.err)), the -force run ends with the right bytes"

# Overwrites and late failures.
"$eloss" spingen -L 8 -instances 20 -seed 1 -out tr.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && same tr.h5 tr2.h5 && grep -q "already exists; pass -force" err.txt
ok $? "an existing -out is not replaced: $(grep error err.txt)"
"$eloss" spingen -L 8 -instances 20 -seed 9 -out tr.h5 -force > /dev/null 2>&1 && ! same tr.h5 tr2.h5
ok $? "-force replaces it"
cp tr.h5 keep.h5
"$eloss" spingen -L 8 -instances 20 -seed 9 -out tr.h5 -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && same tr.h5 keep.h5 && grep -q "nothing to resume" err.txt
ok $? "-resume over a finished file refuses and leaves it: $(grep error err.txt)"
"$eloss" spingen -L 8 -instances 20 -seed 9 -out nothing.h5 -resume > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && [ ! -e nothing.h5 ] && [ ! -e nothing.h5.partial ] && grep -q "nothing to resume: no nothing.h5.ckpt" err.txt
ok $? "-resume with nothing to resume says so: $(grep error err.txt)"
"$eloss" spingen "${long[@]}" -out ckpt.h5 > /dev/null 2>&1 &
pid=$!
second_checkpoint ckpt.h5.ckpt
kill -TERM $pid
wait $pid
"$eloss" spingen "${long[@]}" -out ckpt.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && [ -e ckpt.h5.ckpt ] && grep -q "pass -resume to continue it, or -force" err.txt
ok $? "a fresh start over an interrupted run is refused: $(grep error err.txt)"
"$eloss" spingen "${long[@]}" -out ckpt.h5 -force > /dev/null 2> err.txt && same ckpt.h5 ref.h5 && [ ! -e ckpt.h5.ckpt ]
ok $? "-force over an interrupted run starts over and ends with the bytes of an uninterrupted run"
"$eloss" spingen -L 8 -instances 20 -out both.h5 -resume -force > /dev/null 2> err.txt
rc=$?
[ $rc = 2 ] && [ ! -e both.h5 ] && grep -q "contradicts -resume" err.txt
ok $? "-resume with -force is refused: $(grep error err.txt)"
echo junk > junk.h5.partial
"$eloss" spingen -L 8 -instances 20 -out junk.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "junk" junk.h5.partial && grep -q "exists but no checkpoint describes it" err.txt
ok $? "a stray <out>.partial is not overwritten without -force: $(grep error err.txt)"
echo precious > precious.txt
ln -s precious.txt link.h5.partial
"$eloss" spingen -L 8 -instances 20 -out link.h5 -force > /dev/null 2>&1 && grep -q precious precious.txt && [ -f link.h5 ] &&
  [ ! -L link.h5 ]
ok $? "-force replaces a symlinked <out>.partial instead of writing through it"
start=$(date +%s%N)
"$eloss" spingen -L 16 -instances 100000 -out . > /dev/null 2> err.txt
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 1 ] && one_error err.txt && grep -q "not a regular file" err.txt && [ ! -e ..partial ]
ok $? "-out . fails before any work (${ms} ms): $(grep error err.txt)"
"$eloss" spingen -L 16 -instances 100000 -out missing/x.h5 > /dev/null 2> err.txt
rc=$?
[ $rc = 1 ] && grep -q "directory missing does not exist" err.txt
ok $? "a missing directory fails before any work: $(grep error err.txt)"

# Checkpoints due all the time on 2 ranks: the decision is joint.
hung=0
for k in 1 2 3; do
  timeout 120 "${mpi[@]}" -n 2 "$eloss" spingen -L 14 -instances 150 -seed $k -chunk 1 -checkpoint_seconds 0.001 \
    -out due$k.h5 > /dev/null 2>&1 || hung=$((hung + 1))
done
[ $hung = 0 ]
ok $? "3 runs on 2 ranks with a checkpoint due every millisecond all finish ($hung failed or hung)"

# Injected failures on one rank, in each collective step.
args=(-L 12 -instances 60 -seed 5 -chunk 3 -samples 2 -sample_betas 0.5 -sample_therm 10 -sample_sweeps 2)
"${mpi[@]}" -n 2 "$eloss" spingen "${args[@]}" -out straight.h5 > /dev/null 2>&1
for spec in dataset.alloc:1:1 dataset.compute:1:20 h5.rows:1:25 h5.write:0:20 h5.flush:0:3 dataset.checkpoint:0:2; do
  rm -f inj.h5*
  start=$(date +%s)
  ELOSS_FAULT=$spec timeout 60 "${mpi[@]}" -n 2 -x ELOSS_FAULT "$eloss" spingen "${args[@]}" -checkpoint_seconds 0.001 \
    -out inj.h5 > /dev/null 2> err.txt
  rc=$?
  took=$(($(date +%s) - start))
  resumed=fresh
  if [ -e inj.h5.ckpt ]; then
    "$eloss" spingen "${args[@]}" -checkpoint_seconds 0.001 -out inj.h5 -resume > /dev/null 2>&1
  else
    "$eloss" spingen "${args[@]}" -checkpoint_seconds 0.001 -out inj.h5 -force > /dev/null 2>&1
  fi
  [ -e inj.h5 ] && resumed=resumed
  [ $rc = 1 ] && one_error err.txt && grep -q "injected fault" err.txt && [ ! -e inj.h5.lock ] && same inj.h5 straight.h5
  ok $? "fault $spec: exit $rc in ${took} s with one error, then the rerun ($resumed) equals an uninterrupted run"
done

# A full disk, in a small tmpfs (needs root: the CI runs as root).
mkdir -p small
if mount -t tmpfs -o size=3m tmpfs small 2> /dev/null; then
  trap 'umount "$work/small" 2> /dev/null; rm -rf "$work"' EXIT
  start=$(date +%s)
  timeout 60 "${mpi[@]}" -n 2 "$eloss" spingen -L 16 -instances 3000 -seed 99 -out small/x.h5 > /dev/null 2> err.txt
  rc=$?
  took=$(($(date +%s) - start))
  [ $rc = 1 ] && grep -q "No space left on device" err.txt && [ -z "$(ls small)" ]
  ok $? "a dataset larger than the disk is refused in ${took} s, nothing left: $(grep error err.txt)"
  # A run that fits, then the disk fills up under it (another program).
  mid=(-L 14 -instances 600 -seed 98 -chunk 2 -checkpoint_seconds 0.05)
  "${mpi[@]}" -n 2 "$eloss" spingen "${mid[@]}" -out small/y.h5 > /dev/null 2> err.txt &
  pid=$!
  for _ in $(seq 100); do [ -e small/y.h5.ckpt ] && break; sleep 0.05; done
  dd if=/dev/zero of=small/fill bs=4k > /dev/null 2>&1
  start=$(date +%s)
  timeout 60 tail --pid=$pid -f /dev/null
  wait $pid
  rc=$?
  took=$(($(date +%s) - start))
  mkdir elsewhere
  cp small/y.h5.partial small/y.h5.ckpt elsewhere/ 2> /dev/null
  "${mpi[@]}" -n 1 "$eloss" spingen "${mid[@]}" -out elsewhere/y.h5 -resume > /dev/null 2>&1
  "$eloss" spingen "${mid[@]}" -out full.h5 > /dev/null 2>&1
  [ $rc = 1 ] && grep -q "No space left on device" err.txt && same elsewhere/y.h5 full.h5
  ok $? "the disk fills during a run: exit $rc after ${took} s ($(grep error err.txt)); its checkpoint resumes elsewhere to the same bytes"
  umount small
else
  ok 0 "# SKIP cannot mount a tmpfs here (not root?)"
  ok 0 "# SKIP cannot mount a tmpfs here (not root?)"
fi

# A stop must not wait for a large instance: 1000 x 1000, tempering.
"${mpi[@]}" -n 2 "$eloss" spingen -bc periodic -L 1000 -instances 2 -out big.h5 > /dev/null 2> err.txt &
pid=$!
for _ in $(seq 100); do grep -q "writing big.h5.partial" err.txt && break; sleep 0.1; done
sleep 2
kill -TERM $pid
wait $pid
rc=$?
[ $rc != 0 ] && [ -e big.h5.ckpt ] && grep -q "stopped after 0 of 2" err.txt
ok $? "SIGTERM to mpirun during a 1000 x 1000 ground-state search: checkpoint and exit $rc (stopped after 0 of 2)"

# Ctrl-C: SIGINT to mpirun, twice: the run, then its resume (which must
# first accept every checkpointed row).
ctrl=(-L 16 -instances 32 -seed 1 -samples 40 -sample_sweeps 10000 -chunk 1)
ctrl_c() {
  "${mpi[@]}" -n 2 "$eloss" spingen "${ctrl[@]}" -out ctrl.h5 "$@" > /dev/null 2> err.txt &
  local pid=$!
  for _ in $(seq 100); do grep -q "writing ctrl.h5.partial\|resuming ctrl.h5.partial" err.txt && break; sleep 0.1; done
  # Ctrl-C once a batch of this run is done (its first progress line), not
  # after a fixed time: a batch takes 1.5 s here, 8 s under AddressSanitizer.
  for _ in $(seq 600); do grep -q "spingen instances: " err.txt && break; sleep 0.1; done
  kill -INT $pid
  wait $pid
}
ctrl_c
rc=$?
stopped=$(grep -o "stopped after [0-9]* of [0-9]*" err.txt)
[ $rc != 0 ] && [ -n "$stopped" ] && [ "$stopped" != "stopped after 0 of 32" ] && [ -e ctrl.h5.ckpt ]
ok $? "SIGINT to mpirun (Ctrl-C): exit $rc with a checkpoint ($stopped)"
ctrl_c -resume
rc=$?
k=$(echo "$stopped" | awk '{print $3}')
[ $rc != 0 ] && grep -q "resuming ctrl.h5.partial at instance $k of 32" err.txt && grep -q "stopped after" err.txt
ok $? "-resume accepts its rows and continues ($(grep -o 'resuming.*of 32' err.txt)), and stops again on Ctrl-C ($(grep -o 'stopped after [0-9]* of [0-9]*' err.txt))"
tap_exit
