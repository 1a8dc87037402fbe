#!/usr/bin/env bash
# TAP test of `eloss clustergen` (Lennard-Jones clusters):
# - the datasets are identical on 1, 2 and 4 ranks (h5py), and the run
#   finds the LJ13 global minimum;
# - shapes; crc32 = zlib.crc32 of each temperature's rows; every stored
#   energy = an independent numpy LJ energy of its positions; samples stay
#   in the containing sphere; the global minimum's energy is that of its
#   coordinates and of the -xyz file; every option is an attribute;
# - SIGTERM → checkpoint, exit 3, no output; -resume (on 2 ranks) equals
#   an uninterrupted run;
# - bad options: exit 2 and one line; bad -resume: nothing to resume,
#   other options, a damaged checkpoint, a finished output: exit 1 and one
#   error; a second run on a locked output is refused;
# - -start: samples keep the start's atom labels; a changed start file is
#   refused on -resume; a start of another atom count is refused.
#   test_clustergen.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..28"

# same <a.h5> <b.h5>: exit 0 iff both files hold the same datasets, equal, and the same options.
same() { "$py" "$tap_h5same" "$1" "$2" --attributes options; }
one_error() { [ "$(grep -c 'error' "$1")" = 1 ] && [ "$(wc -l < "$1")" -le 3 ]; }

small=(-n 13 -samples 6 -therm 10 -sweeps 4 -walks 3 -bh_steps 60 -seed 5 -temperatures 0.1,0.2,0.3)
for np in 1 2 4; do
  "${mpi[@]}" -n $np "$eloss" clustergen "${small[@]}" -out r$np.h5 -xyz m$np.xyz > out$np.txt 2> err$np.txt
  echo "# np=$np rc=$? $(cat out$np.txt)"
done
same r1.h5 r2.h5 && same r1.h5 r4.h5 && cmp -s m1.xyz m4.xyz
ok $? "1, 2 and 4 ranks: identical datasets and XYZ"
grep -q "^global_min_energy=-44.3268014" out1.txt
ok $? "prints global_min_energy=-44.3268014... (CCD LJ13 -44.326801): $(cut -d' ' -f1 out1.txt)"
grep -q "clustergen cycles: .*/s .*ETA" err1.txt
ok $? "progress line with rate and ETA"

"$py" - <<'PY'
import sys
import zlib
import h5py
import numpy as np
f = h5py.File("r1.h5", "r")
T, K, N = 3, 6, 13
def energy(x):  # independent of lib/lj: all pairs by numpy broadcasting
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))[np.triu_indices(len(x), 1)]
    return (4 * (d ** -12 - d ** -6)).sum()
pos, e = f["positions"][...], f["energies"][...]
checks = {
    "shapes": pos.shape == (T, K, N, 3) and e.shape == (T, K) and f["temperatures"].shape == (T,)
              and f["global_min_positions"].shape == (N, 3) and f["walk_min_energies"].shape == (3,),
    "crc32": all(zlib.crc32(pos[t].tobytes() + e[t].tobytes() + f["temperatures"][t].tobytes()) == f["crc32"][t]
                 for t in range(T)),
    "energies": max(abs(energy(pos[t, k]) - e[t, k]) for t in range(T) for k in range(K)) < 1e-9,
    "sphere": np.sqrt((pos ** 2).sum(-1)).max() <= f.attrs["radius"],
    "gm": abs(energy(f["global_min_positions"][...]) - f["global_min_energy"][0]) < 1e-9
          and f["global_min_energy"][0] == f["walk_min_energies"][...].min(),
    "attrs": all(k in f.attrs for k in ("n", "seed", "samples", "therm", "sweeps", "radius", "walks", "bh_steps",
                                        "bh_step", "bh_temperature", "temperatures", "options", "exchange_acceptance"))
             and f.attrs["n"] == 13 and f.attrs["seed"] == 5 and list(f.attrs["temperatures"]) == [0.1, 0.2, 0.3],
}
lines = open("m1.xyz").read().split("\n")
xyz = np.array([[float(v) for v in l.split()[1:]] for l in lines[2:2 + N]])
checks["xyz"] = lines[0] == "13" and abs(energy(xyz) - f["global_min_energy"][0]) < 1e-9
print("# " + " ".join(f"{k}={v}" for k, v in checks.items()))
sys.exit(not all(checks.values()))
PY
ok $? "shapes, crc32 = zlib, energies = numpy LJ of the positions, samples inside the sphere, global minimum and XYZ consistent, options as attributes"

# SIGTERM, then -resume on 2 ranks = an uninterrupted run.
long=(-n 38 -samples 1500 -therm 150 -sweeps 100 -walks 2 -bh_steps 40 -seed 3 -checkpoint_seconds 0.3)
"$eloss" clustergen "${long[@]}" -out ref.h5 > /dev/null 2>&1 &
ref_pid=$!
"$eloss" clustergen "${long[@]}" -out cut.h5 > /dev/null 2> cut.err &
pid=$!
# Signal once the sampling has started (the progress line), well before
# its end (about 8 s here).
for _ in $(seq 100); do grep -q "cycles" cut.err && break; sleep 0.05; done
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
[ $rc = 3 ] && [ -e cut.h5.ckpt ] && [ ! -e cut.h5 ] && grep -q "with -resume" cut.err
ok $? "SIGTERM: exit $rc, checkpoint written, no output ($(grep -o 'stopped after [0-9]* of [0-9]* cycles' cut.err))"
"${mpi[@]}" -n 2 "$eloss" clustergen "${long[@]}" -out cut.h5 -resume > /dev/null 2> resume.err
rc=$?
wait $ref_pid
[ $rc = 0 ] && same cut.h5 ref.h5 && [ ! -e cut.h5.ckpt ] && grep -q "resuming" resume.err
ok $? "-resume on 2 ranks = uninterrupted run on 1 (exit $rc), checkpoint removed"

# -start: every chain starts at the given structure (the -xyz of the run
# above), so at low temperature every sample keeps its atom labels: each
# is within 0.3 of the start after the best rotation (a relabelled or
# other isomer is not); 1 and 2 ranks agree; the start's CRC-32 is in the
# options line; an edited start file makes -resume refuse.
st=(-n 13 -samples 20 -therm 5 -sweeps 4 -walks 1 -bh_steps 10 -seed 9 -temperatures 0.02,0.05 -start m1.xyz)
"$eloss" clustergen "${st[@]}" -out s1.h5 > /dev/null 2> s1.err &&
  "${mpi[@]}" -n 2 "$eloss" clustergen "${st[@]}" -out s2.h5 > /dev/null 2>&1 && same s1.h5 s2.h5 &&
  "$py" - <<'PY'
import h5py
import numpy as np
f = h5py.File("s1.h5", "r")
lines = open("m1.xyz").read().split("\n")
start = np.array([[float(v) for v in l.split()[1:4]] for l in lines[2:15]])
start -= start.mean(0)
worst = 0
for x in f["positions"][...].reshape(-1, 13, 3):
    x = x - x.mean(0)
    u, s, vt = np.linalg.svd(x.T @ start)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    worst = max(worst, np.sqrt(((x @ r - start) ** 2).sum(1).mean()))
print("# worst aligned RMSD of a sample to the start: %.3f" % worst)
assert worst < 0.3
opts = f.attrs["options"].decode() if isinstance(f.attrs["options"], bytes) else f.attrs["options"]
assert "-start m1.xyz -start_crc32 %d" % int(np.ravel(f.attrs["start_crc32"])[0]) in opts, opts
PY
ok $? "-start: 1 and 2 ranks agree, every sample is the start's structure with its labels, the start's CRC in the options"
"$eloss" clustergen "${st[@]}" -samples 20000 -sweeps 40 -out sr.h5 > /dev/null 2>&1 &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
awk 'NR == 3 { $2 = sprintf("%.12f", $2 + 1e-6) } { print }' m1.xyz > m1e.xyz && mv m1e.xyz m1.xyz
"$eloss" clustergen "${st[@]}" -samples 20000 -sweeps 40 -out sr.h5 -resume > /dev/null 2> e.txt
rc=$?
[ $rc = 1 ] && grep -q "other options or data: -start_crc32" e.txt && [ ! -e sr.h5 ]
ok $? "-resume after the start file changed is refused: exit $rc, $(grep error e.txt | head -c 120)"
printf '3\nthree\nAr 0 0 0\nAr 1 0 0\nAr 0 1 0\n' > three.xyz
"$eloss" clustergen -n 13 -samples 2 -start three.xyz -out bad.h5 > /dev/null 2> e.txt
rc=$?
[ $rc = 1 ] && grep -q "three.xyz: -start needs one structure of -n 13 atoms, the file has 1 frame of 3" e.txt &&
  [ ! -e bad.h5 ]
ok $? "-start of 3 atoms for -n 13: exit $rc, $(grep error e.txt | head -c 120)"

# Bad options: exit 2, one line, no output.
bad() {
  "$eloss" clustergen "$@" > o.txt 2> e.txt
  local rc=$?
  [ $rc = 2 ] && [ "$(wc -l < e.txt)" = 1 ] && [ ! -s o.txt ] && [ ! -e bad.h5 ]
  ok $? "$* → exit $rc: $(head -c 150 e.txt)"
}
bad -n 1 -out bad.h5
bad -n abc -out bad.h5
bad -n 13 -temperatures 0.2,0.1 -out bad.h5
bad -n 13 -temperatures 0.1,nan -out bad.h5
bad -n 13 -bogus 3 -out bad.h5
bad -n 13
bad -n 13 -samples 0 -temperatures 0.1,0.2 -out bad.h5
bad -n 13 -samples 0 -start three.xyz -out bad.h5
bad -n 13 -samples 2 -start three.xyz -out three.xyz -force

# Bad -resume and unsafe starts: exit 1, one error.
tiny=(-n 8 -samples 2 -therm 2 -sweeps 2 -walks 1 -bh_steps 10)
fails() {
  local what=$1 pattern=$2
  shift 2
  "$eloss" clustergen "$@" > o.txt 2> e.txt
  local rc=$?
  [ $rc = 1 ] && one_error e.txt && grep -q "$pattern" e.txt
  ok $? "$what → exit $rc: $(grep error e.txt | head -c 160)"
}
fails "-resume with no checkpoint" "nothing to resume" "${tiny[@]}" -out none.h5 -resume
printf '3\nc\nAr 0 0 0\nAr 0.1 0 0\nAr 1 1 0\n' > close.xyz
fails "-start with two atoms 0.1 apart" "closer than 0.5 sigma" -n 3 -samples 2 -start close.xyz -out none.h5
cp cut.h5 done.h5 2>/dev/null
fails "an existing output without -force" "already exists" "${tiny[@]}" -out done.h5
"$eloss" clustergen "${long[@]}" -out other.h5 > /dev/null 2>&1 &
pid=$!
sleep 1.5
kill -TERM $pid
wait $pid
cp other.h5.ckpt keep.ckpt
fails "-resume with other options (-seed 4)" "other options or data: -seed 4 (the file has 3)" "${long[@]}" -seed 4 -out other.h5 -resume
"$py" - <<'PY'
data = bytearray(open("other.h5.ckpt", "rb").read())
data[-20] ^= 0x10          # a byte of the state section
open("other.h5.ckpt", "wb").write(data)
PY
fails "-resume with a damaged checkpoint" "state" "${long[@]}" -out other.h5 -resume
fails "a run over an interrupted one without -resume or -force" "pass -resume" "${long[@]}" -out other.h5
"$eloss" clustergen "${long[@]}" -out busy.h5 > /dev/null 2>&1 &
pid=$!
sleep 0.8
fails "a second run on an output being written" "being written by another run" "${long[@]}" -out busy.h5
kill -TERM $pid
wait $pid
# A failure on one rank of two at each fault-injection site: one error on
# every rank, no hang, no output file.
for site in cluster.alloc:1:1 cluster.compute:1:3 cluster.checkpoint:0:1; do
  rm -f f.h5 f.h5.ckpt f.h5.partial
  ELOSS_FAULT=$site timeout 60 "${mpi[@]}" -n 2 -x ELOSS_FAULT "$eloss" clustergen "${small[@]}" -checkpoint_seconds 0.001 \
    -out f.h5 > /dev/null 2> err.txt
  rc=$?
  [ $rc != 0 ] && [ $rc != 124 ] && [ "$(grep -c 'eloss clustergen: error' err.txt)" = 1 ] && grep -q "injected fault\|cannot allocate" err.txt &&
    [ ! -e f.h5 ]
  ok $? "ELOSS_FAULT=$site under 2 ranks: exit $rc, one error, no output ($(grep 'error' err.txt | cut -c1-70))"
done
tap_exit
