#!/usr/bin/env bash
# TAP test of `eloss spingen -first I -count K` (a part of a split) and
# `eloss spingen-merge` (the parts joined), read back with h5py:
# - parts given out of order, written on 1 and 2 ranks, merged on 1 and 2
#   ranks, equal a single spingen run with the same options in every
#   dataset (names, order, dtypes, values) and every root attribute; open
#   exact lattices with samples, and periodic annealed ones (agreement);
# - a part's checkpoint belongs to its range: -resume with another range is
#   refused;
# - refused, with exit 1, one error line and no output file: a gap, an
#   overlap, a missing end, parts of other options, a damaged row, a file
#   that is not a part, an existing -out without -force, -out naming a part;
# - bad ranges and a missing -parts exit 2.
#   test_spingen_merge.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..16"

# same A B: exit 0 iff A and B hold the same datasets (in order) and root attributes.
same() { "$py" "$tap_h5same" "$1" "$2" --attributes all; }

args=(-L 7 -instances 29 -seed 13 -split train -samples 2 -sample_betas 0.7,2.385 -sample_therm 20 -sample_sweeps 3)
"$eloss" spingen "${args[@]}" -out single.h5 > /dev/null 2>&1
"$eloss" spingen "${args[@]}" -first 0 -count 11 -out p0.h5 > /dev/null 2>&1
"${mpi[@]}" -n 2 "$eloss" spingen "${args[@]}" -first 11 -count 5 -chunk 2 -out p1.h5 > /dev/null 2>&1
"$eloss" spingen "${args[@]}" -first 16 -out p2.h5 > p2.out 2>&1
grep -q '^first=16 instances=13 ' p2.out
ok $? "-first 16 without -count runs to the end of the split (13 instances)"
"$eloss" spingen-merge -parts p2.h5,p0.h5,p1.h5 -out merged1.h5 > merge1.out 2> merge1.err
ok $? "merge of three parts named out of order exits 0 ($(cat merge1.out))"
same single.h5 merged1.h5
ok $? "merged on 1 rank = single run: every dataset and root attribute (part_first, part_count dropped)"
"${mpi[@]}" -n 2 "$eloss" spingen-merge -parts p0.h5,p1.h5,p2.h5 -out merged2.h5 > /dev/null 2>&1
same single.h5 merged2.h5
ok $? "merged on 2 ranks = single run"

pargs=(-L 5 -bc periodic -gs sa -gs_replicas 3 -gs_sweeps 40 -instances 9 -seed 4 -split test)
"$eloss" spingen "${pargs[@]}" -out psingle.h5 > /dev/null 2>&1
"$eloss" spingen "${pargs[@]}" -first 0 -count 4 -out q0.h5 > /dev/null 2>&1
"$eloss" spingen "${pargs[@]}" -first 4 -out q1.h5 > /dev/null 2>&1
"$eloss" spingen-merge -parts q1.h5,q0.h5 -out pmerged.h5 > /dev/null 2>&1
same psingle.h5 pmerged.h5
ok $? "periodic annealed parts (ground_state_agreement) merge to the single run"

# A part stopped by SIGTERM at once (checkpoint at 0): resuming it with
# another range is refused.
"$eloss" spingen -L 20 -instances 400 -first 100 -count 300 -out r.h5 > /dev/null 2> r.err &
pid=$!
for _ in $(seq 200); do [ -e r.h5.ckpt ] && break; sleep 0.05; done
kill -TERM $pid
wait $pid
code=$?
"$eloss" spingen -L 20 -instances 400 -first 100 -count 200 -resume -out r.h5 > /dev/null 2> r2.err
code2=$?
[ $code = 3 ] && [ $code2 = 1 ] && grep -q 'other options or data: -count 200 (the file has 300)' r2.err
ok $? "a part's checkpoint names its range: -resume with another -count is refused (stop exit $code)"

# refused CASE_NAME EXPECTED_MESSAGE merge-args...: exit 1, one stderr line with the message, no output.
refused() {
  local name=$1 want=$2
  shift 2
  rm -f x.h5
  "$eloss" spingen-merge "$@" > x.out 2> x.err
  local code=$?
  [ $code = 1 ] && [ "$(wc -l < x.err)" = 1 ] && grep -q -- "$want" x.err && [ ! -e x.h5 ] && [ ! -e x.h5.partial ] \
    && [ ! -s x.out ]
  ok $? "$name refused: exit $code, $(head -c 160 x.err)"
}
refused "a gap" "instances \[11, 16) are in no part" -parts p0.h5,p2.h5 -out x.h5
refused "a part given twice" "p1.h5 is given twice" -parts p0.h5,p1.h5,p1.h5,p2.h5 -out x.h5
refused "a missing end" "instances \[16, 29) of the split's 29 are in no part" -parts p0.h5,p1.h5 -out x.h5
"$eloss" spingen "${args[@]/13/14}" -first 11 -count 5 -out other.h5 > /dev/null 2>&1
refused "parts of another seed" "other.h5: written with other options" -parts p0.h5,other.h5,p2.h5 -out x.h5
cp p1.h5 damaged.h5
"$py" -c '
import h5py
with h5py.File("damaged.h5", "r+") as f:
    f["couplings_h"][3, 2, 1] += 2.385e-9
'
refused "a damaged row" "damaged.h5: instance 14 does not match its stored checksum" -parts p0.h5,damaged.h5,p2.h5 -out x.h5
cp p1.h5 older.h5
"$py" -c '
import h5py
with h5py.File("older.h5", "r+") as f:
    del f.attrs["mc_sweep_rules"]
'
refused "a part of older Monte Carlo rules" "older.h5: written by an eloss with Monte Carlo rules 1" -parts p0.h5,older.h5,p2.h5 -out x.h5
refused "a whole file (not a part)" "single.h5: no part_first" -parts single.h5 -out x.h5
touch x.h5.keep
cp merged1.h5 exists.h5
"$eloss" spingen-merge -parts p0.h5,p1.h5,p2.h5 -out exists.h5 > /dev/null 2> x.err
[ $? = 1 ] && grep -q 'already exists; pass -force' x.err && cmp -s exists.h5 merged1.h5 \
  && "$eloss" spingen-merge -parts p0.h5,p1.h5,p2.h5 -out exists.h5 -force > /dev/null 2>&1 && same single.h5 exists.h5
ok $? "an existing -out is kept without -force and replaced with it"
cp p1.h5 p1.copy
"$eloss" spingen-merge -parts p0.h5,p1.h5,p2.h5 -out p1.h5 -force > /dev/null 2> x.err
[ $? = 2 ] && grep -q -- '-out p1.h5: is the input p1.h5' x.err && cmp -s p1.h5 p1.copy
ok $? "-out naming a part is refused even with -force, the part intact"

bad=0
"$eloss" spingen "${args[@]}" -first 29 -out b.h5 > /dev/null 2>&1; [ $? = 2 ] || bad=1
"$eloss" spingen "${args[@]}" -first 20 -count 10 -out b.h5 > /dev/null 2>&1; [ $? = 2 ] || bad=1
"$eloss" spingen "${args[@]}" -count 0 -out b.h5 > /dev/null 2>&1; [ $? = 2 ] || bad=1
"$eloss" spingen-merge -out b.h5 > /dev/null 2>&1; [ $? = 2 ] || bad=1
"$eloss" spingen-merge -parts p0.h5 > /dev/null 2>&1; [ $? = 2 ] || bad=1
[ $bad = 0 ] && [ ! -e b.h5 ]
ok $? "-first past the split, a range past its end, -count 0, no -parts, no -out: exit 2, no file"
tap_exit
