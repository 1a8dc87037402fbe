#!/usr/bin/env bash
# TAP test of `eloss spingen`, read back with h5py as users do:
# - the datasets are identical on 1, 2 and 4 ranks;
# - shapes, dtypes, canonical sign, energies equal to -sum J s s of the
#   stored spins, the same energy as `eloss gs` on an instance's couplings;
# - SIGTERM mid-run checkpoints and exits with code 3 leaving no final file;
#   -resume (on another rank count) completes it, equal to a straight run,
#   with the transfer matrix and with matching (128 x 128); a stop ends a
#   512 x 512 solve in progress; a stop during the last batch says what
#   happens (stopped and resumable, or finished) and does it;
# - a resume with other options and bad options are refused.
#   test_spingen.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..18"
# spingen on one rank, sent SIGTERM after $1 seconds (the rank itself is
# signalled, as Slurm does: mpiexec would tear the job down); its exit code.
spingen_stopped() {
  local seconds=$1
  shift
  "$eloss" spingen "$@" > /dev/null 2>&1 &
  local pid=$!
  sleep "$seconds"
  kill -TERM $pid
  wait $pid
}
args=(-L 10 -instances 37 -seed 11 -samples 3 -sample_betas 0.4,1.5 -sample_therm 50 -sample_sweeps 5)
for np_ in 1 2 4; do "${mpi[@]}" -n $np_ "$eloss" spingen "${args[@]}" -chunk 4 -out np$np_.h5 > np$np_.out 2> np$np_.err; done
"$py" - <<'PY'
import sys
import h5py
import numpy as np
files = [h5py.File(f"np{k}.h5", "r") for k in (1, 2, 4)]
same = all(set(f) == set(files[0]) and all(np.array_equal(f[d][...], files[0][d][...]) for d in files[0])
           and dict(f.attrs).keys() == dict(files[0].attrs).keys() for f in files)
sys.exit(not same)
PY
ok $? "datasets and attributes identical on 1, 2 and 4 ranks"
# Samples of a batch share one chain, an (instance, beta) pair per SIMD
# lane: batches of 1 (each instance alone) must give the same file.
"$eloss" spingen "${args[@]}" -chunk 1 -out batch1.h5 > /dev/null 2>&1
"$py" - <<'PY'
import sys
import h5py
import numpy as np
a, b = h5py.File("np1.h5", "r"), h5py.File("batch1.h5", "r")
sys.exit(not all(np.array_equal(a[d][...], b[d][...]) for d in a))
PY
ok $? "-chunk 1 (every instance alone) gives the datasets of -chunk 4 (instances share the lanes)"
"$py" - <<'PY'
import sys
import h5py
import numpy as np
f = h5py.File("np1.h5", "r")
H, V, s = f["couplings_h"][...], f["couplings_v"][...], f["samples"][...].astype(float)
# E of every sample (I, B, S): colder samples must sit lower for every instance on average.
E = -(H[:, None, None] * s[..., :, :-1] * s[..., :, 1:]).sum((-2, -1)) - (V[:, None, None] * s[..., :-1, :] * s[..., 1:, :]).sum((-2, -1))
hot, cold = E[:, 0].mean(), E[:, 1].mean()
print(f"# mean sample energy: beta 0.4 {hot:.2f}, beta 1.5 {cold:.2f}")
sys.exit(not cold < hot - 10)
PY
ok $? "samples at beta 1.5 have lower energy than at beta 0.4 (the temperatures reach their lanes)"
"$py" - <<'PY'
import sys
import h5py
import numpy as np
f = h5py.File("np2.h5", "r")
H, V, S, E = f["couplings_h"][...], f["couplings_v"][...], f["ground_state"][...].astype(float), f["energy"][...]
good = (H.shape == (37, 10, 9) and V.shape == (37, 9, 10) and S.shape == (37, 10, 10) and E.shape == (37,)
        and f["ground_state"].dtype == np.int8 and f["samples"].shape == (37, 2, 3, 10, 10)
        and (S[:, 0, 0] == 1).all() and set(np.unique(S)) == {-1.0, 1.0}
        and np.allclose(-(H * S[:, :, :-1] * S[:, :, 1:]).sum((1, 2)) - (V * S[:, :-1] * S[:, 1:]).sum((1, 2)), E,
                        atol=1e-12, rtol=0)
        and list(f.attrs["sample_betas"]) == [0.4, 1.5] and f.attrs["seed"] == 11 and isinstance(f.attrs["split"], str)
        and (np.abs(H) <= 1).all() and set(np.unique(f["samples"][...])) == {-1, 1})
np.save("H5.npy", H[5]); np.save("V5.npy", V[5]); open("E5.txt", "w").write(repr(E[5]))
sys.exit(not good)
PY
ok $? "shapes, dtypes, s[0,0] = +1, energies = -sum J s s of the stored spins, attributes"
gs=$("$eloss" gs -jh H5.npy -jv V5.npy)
"$py" -c "import sys; sys.exit(abs(float('${gs#energy=}') - float(open('E5.txt').read())) > 1e-12)"
ok $? "instance 5's energy equals eloss gs on its couplings ($gs)"
grep -q "^instances=37 mean_energy_per_spin=-0\.[0-9]* err=" np1.out
ok $? "summary line: $(cat np1.out)"

# Interrupt and resume.
long=(-L 16 -gs_method tm -instances 600 -seed 3 -chunk 2 -checkpoint_seconds 0.2)
spingen_stopped 2.5 "${long[@]}" -out full.h5
rc=$?
[ $rc = 3 ] && [ -e full.h5.ckpt ] && [ -e full.h5.partial ] && [ ! -e full.h5 ]
ok $? "SIGTERM: exit code $rc, checkpoint and partial file kept, no final file"
"${mpi[@]}" -n 2 "$eloss" spingen "${long[@]}" -out full.h5 -resume > resume.out 2> resume.err
rc=$?
"${mpi[@]}" -n 2 "$eloss" spingen "${long[@]}" -out straight.h5 > /dev/null 2>&1
"$py" "$tap_h5same" full.h5 straight.h5 --attributes none > /dev/null
same=$?
[ $rc = 0 ] && [ $same = 0 ] && [ ! -e full.h5.ckpt ] && grep -q "resuming" resume.err
ok $? "-resume on 2 ranks completes the run, equal to a straight run ($(grep resuming resume.err))"

# Refusals: one error, non-zero exit, no output.
spingen_stopped 2 "${long[@]}" -out stop.h5
"$eloss" spingen -L 16 -gs_method tm -instances 600 -seed 4 -chunk 2 -out stop.h5 -resume > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "other options or data: -seed 4 (the file has" err.txt && [ ! -e stop.h5 ]
ok $? "resume with other options refused: $(grep error err.txt)"
"$eloss" spingen -gs exact -gs_method tm -L 21 -instances 2 -out wide.h5 > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && [ ! -e wide.h5 ] && [ ! -e wide.h5.partial ] && [ "$(grep -c error err.txt)" = 1 ]
grep -q "the transfer matrix solves 2 <= L <= 20" err.txt
ok $? "L = 21 with -gs_method tm refused: $(grep error err.txt)"
"$eloss" spingen -gs exact -bc periodic -instances 2 -out per.h5 > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && [ ! -e per.h5 ] && grep -q "needs -lattice square -bc open" err.txt
ok $? "periodic lattice refused for exact ground states"

# Sampled ground states: periodic square and cubic lattices.
"${mpi[@]}" -n 2 "$eloss" spingen -bc periodic -L 6 -instances 6 -seed 8 -gs sa -gs_sweeps 400 -out p2.h5 > /dev/null 2>&1 &&
"${mpi[@]}" -n 1 "$eloss" spingen -bc periodic -L 6 -instances 6 -seed 8 -gs sa -gs_sweeps 400 -out p1.h5 > /dev/null 2>&1 &&
"${mpi[@]}" -n 2 "$eloss" spingen -lattice cubic -bc periodic -L 4 -instances 5 -seed 8 -out c2.h5 -gs_sweeps 300 > /dev/null 2>&1
rc=$?
"$py" - <<'PY'
import sys
import h5py
import numpy as np
p1, p2, c = h5py.File("p1.h5", "r"), h5py.File("p2.h5", "r"), h5py.File("c2.h5", "r")
same = all(np.array_equal(p1[d][...], p2[d][...]) for d in p1)
def energy(f, dims):
    s = f["ground_state"][...].astype(float)
    e = 0
    for axis, name in zip(range(dims), ["couplings_h", "couplings_v", "couplings_z"][:dims]):
        # bond from each site to its + neighbour along x (last axis), y, z
        ax = s.ndim - 1 - axis
        e = e - (f[name][...] * s * np.roll(s, -1, axis=ax)).sum(axis=tuple(range(1, s.ndim)))
    return e
good = (same and p2["couplings_h"].shape == (6, 6, 6) and c["ground_state"].shape == (5, 4, 4, 4)
        and c["couplings_z"].shape == (5, 4, 4, 4) and "tempering" in c.attrs["ground_state_method"]
        and "annealing" in p2.attrs["ground_state_method"]
        and np.allclose(energy(p2, 2), p2["energy"][...], atol=1e-9) and np.allclose(energy(c, 3), c["energy"][...], atol=1e-9))
sys.exit(not good)
PY
[ $rc = 0 ] && [ $? = 0 ]
ok $? "periodic square (sa) and cubic (pt, the default there) datasets: rank-independent, energies match the stored wrap-around bonds"
# -dry_run: the options and -out checked as a run checks them, nothing written.
out=$("$eloss" spingen -L 6 -instances 40 -first 10 -count 5 -seed 1 -out dry.h5 -dry_run 2> err.txt)
rc1=$?
touch taken.h5
"$eloss" spingen -L 6 -instances 40 -seed 1 -out taken.h5 -dry_run > /dev/null 2> err2.txt
rc2=$?
"$eloss" spingen -L 6 -instances 40 -seed 1 -out nodir/x.h5 -dry_run > /dev/null 2> err3.txt
rc3=$?
[ $rc1 = 0 ] && grep -q "^dry_run instances=40 rows=5 memory_mb=[1-9][0-9]* out=dry.h5 options=-lattice square" <<< "$out" && [ ! -e dry.h5 ] &&
  [ ! -e dry.h5.partial ] && [ $rc2 = 1 ] && grep -q "taken.h5 already exists" err2.txt && [ ! -s taken.h5 ] &&
  [ $rc3 = 1 ] && grep -q "directory nodir does not exist" err3.txt
ok0=$?
# Its memory estimate at L = 1024: the solver's ~1.9 GB and 16 instances' buffers.
mb=$("$eloss" spingen -L 1024 -instances 4 -out dry1024.h5 -dry_run | sed -n 's/.* memory_mb=\([0-9]*\) .*/\1/p')
[ $ok0 = 0 ] && [ -n "$mb" ] && [ "$mb" -ge 1500 ] && [ "$mb" -le 4000 ] && [ ! -e dry1024.h5 ]
ok $? "-dry_run prints the split's size and the memory per rank ($mb MB at L = 1024) and writes nothing; an existing -out and a missing directory are refused"

# Exact ground states by matching: beyond the transfer matrix, the same
# bytes on 1, 2 and 4 ranks (+-J: many degenerate ground states); below
# it, the same energies as the transfer matrix.
for n in 1 2 4; do
  "${mpi[@]}" -n $n "$eloss" spingen -L 40 -couplings pm -instances 12 -seed 2 -chunk 2 -out m$n.h5 > /dev/null 2>&1
done
"$py" - <<'PY'
import sys
import h5py
import numpy as np
f = [h5py.File(f"m{n}.h5", "r") for n in (1, 2, 4)]
H, V, S = f[0]["couplings_h"][...], f[0]["couplings_v"][...], f[0]["ground_state"][...].astype(float)
E = -(H * S[:, :, :-1] * S[:, :, 1:]).sum((1, 2)) - (V * S[:, :-1] * S[:, 1:]).sum((1, 2))
good = (all(np.array_equal(f[0][d][...], g[d][...]) for g in f[1:] for d in f[0])
        and "-gs_method matching" in f[0].attrs["options"] and "matching" in f[0].attrs["ground_state_method"]
        and np.array_equal(E, f[0]["energy"][...]) and (E == np.round(E)).all() and (S[:, 0, 0] == 1).all())
sys.exit(not good)
PY
ok $? "40 x 40 +-J by matching (-gs auto): 1, 2 and 4 ranks give the same datasets; integer energies of the stored spins"
"$eloss" spingen -L 14 -couplings gaussian -instances 30 -seed 6 -gs_method tm -out tm.h5 > /dev/null 2>&1 &&
"$eloss" spingen -L 14 -couplings gaussian -instances 30 -seed 6 -gs_method matching -out mt.h5 > /dev/null 2>&1
rc=$?
"$py" - <<'PY'
import sys
import h5py
import numpy as np
a, b = h5py.File("tm.h5", "r"), h5py.File("mt.h5", "r")
sys.exit(not all(np.array_equal(a[d][...], b[d][...]) for d in ("ground_state", "energy", "crc32")))
PY
[ $rc = 0 ] && [ $? = 0 ]
ok $? "14 x 14 Gaussian: -gs_method tm and matching store the same rows (ground states, energies, checksums)"

# Interrupt and resume exact ground states by matching, one instance a chunk.
big=(-L 128 -couplings gaussian -instances 64 -seed 8 -chunk 1 -checkpoint_seconds 0.2)
spingen_stopped 2 "${big[@]}" -out big.h5
rc1=$?
[ -e big.h5.ckpt ] && [ ! -e big.h5 ]
kept=$?
"${mpi[@]}" -n 2 "$eloss" spingen "${big[@]}" -out big.h5 -resume > /dev/null 2> big_resume.err
rc2=$?
"${mpi[@]}" -n 2 "$eloss" spingen "${big[@]}" -out big_straight.h5 > /dev/null 2>&1
"$py" "$tap_h5same" big.h5 big_straight.h5 --attributes none > /dev/null && "$py" -c "import h5py, sys; sys.exit('matching' not in h5py.File('big.h5')['/'].attrs['ground_state_method'])"
same=$?
[ $rc1 = 3 ] && [ $kept = 0 ] && [ $rc2 = 0 ] && [ $same = 0 ] && grep -q "resuming" big_resume.err
ok $? "128 x 128 by matching: SIGTERM (exit $rc1) then -resume on 2 ranks equals a straight run ($(grep resuming big_resume.err))"
# A stop ends the solve in progress: the first 512 x 512 instance takes
# seconds, so a stop 0.8 s after the start finds none of them done.
spingen_stopped 0.8 -L 512 -couplings gaussian -instances 2 -chunk 1 -seed 9 -out mid.h5
rc=$?
[ $rc = 3 ] && [ -e mid.h5.ckpt ] && [ ! -e mid.h5 ]
ok $? "SIGTERM inside a 512 x 512 matching solve: exit $rc, a checkpoint at 0 instances"
# A stop during the one (last) batch of a transfer-matrix run (not
# interruptible): either it came before the instance (exit 3, checkpoint,
# advice to resume) or the batch completes (exit 0, the final file, no
# advice to resume); never a mix.
"$eloss" spingen -L 20 -gs_method tm -instances 1 -seed 1 -out last.h5 > /dev/null 2> last.err &
pid=$!
sleep 0.5
kill -TERM $pid
wait $pid
rc=$?
if [ $rc = 3 ]; then
  [ -e last.h5.ckpt ] && [ ! -e last.h5 ] && grep -q -- "-resume" last.err
else
  [ $rc = 0 ] && [ -e last.h5 ] && [ ! -e last.h5.ckpt ] && ! grep -q -- "-resume" last.err
fi
ok $? "SIGTERM in the last batch: exit $rc and what it says agree ($(tail -1 last.err))"
tap_exit
