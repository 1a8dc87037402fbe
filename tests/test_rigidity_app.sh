#!/usr/bin/env bash
# End-to-end TAP test of `eloss rigidity`: the one-graph mode on .npy edge
# lists written here byte by byte (no numpy needed), its error paths, and the
# survey's promise that the CSV does not depend on the number of MPI ranks.
#
#   tests/test_rigidity_app.sh <path to eloss> [mpiexec]
set -uo pipefail
eloss=$1
mpiexec=${2:-mpiexec}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1

count=0 failed=0
ok() { # ok <condition status> <description>
  count=$((count + 1))
  if [ "$1" -eq 0 ]; then echo "ok $count - $2"; else echo "not ok $count - $2"; failed=$((failed + 1)); fi
}

# npy <file> <descr> <bytes per value> <rows> <cols> <values...>: a version
# 1.0 .npy of little-endian integers; the header is padded with spaces so
# the data start at a multiple of 64 bytes, as numpy writes it.
npy() {
  local file=$1 descr=$2 width=$3 rows=$4 cols=$5
  shift 5
  local header="{'descr': '$descr', 'fortran_order': False, 'shape': ($rows, $cols), }"
  local total=$(( (10 + ${#header} + 1 + 63) / 64 * 64 ))
  while [ $((10 + ${#header} + 1)) -lt "$total" ]; do header+=" "; done
  header+=$'\n'
  local len=${#header}
  {
    printf '\x93NUMPY\x01\x00'
    printf "\\x$(printf %02x $((len % 256)))\\x$(printf %02x $((len / 256)))"
    printf '%s' "$header"
    local v b i
    for v in "$@"; do
      for ((i = 0; i < width; ++i)); do
        b=$(( (v >> (8 * i)) & 255 ))
        printf "\\x$(printf %02x "$b")"
      done
    done
  } > "$file"
}

echo "1..9"

npy "$work/k4.npy" '<i4' 4 6 2  0 1 0 2 0 3 1 2 1 3 2 3
out=$("$eloss" rigidity -edges "$work/k4.npy" -d 2 2>/dev/null)
[ "$out" = "rigid=1 globally_rigid=1" ]; ok $? "K4 (int32) in 2D: '$out'"

npy "$work/c7.npy" '<i8' 8 7 2  0 1 1 2 2 3 3 4 4 5 5 6 6 0
out=$("$eloss" rigidity -edges "$work/c7.npy" -d 2 2>/dev/null)
[ "$out" = "rigid=0 globally_rigid=0" ]; ok $? "cycle C_7 (int64) in 2D: '$out'"

npy "$work/k4m.npy" '<i4' 4 5 2  0 1 0 2 0 3 1 2 1 3
out=$("$eloss" rigidity -edges "$work/k4m.npy" -d 2 2>/dev/null)
[ "$out" = "rigid=1 globally_rigid=0" ]; ok $? "K4 minus an edge in 2D: '$out'"

npy "$work/bad.npy" '<i4' 4 2 3  0 1 2 1 2 3
err=$("$eloss" rigidity -edges "$work/bad.npy" -d 2 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *bad.npy*"(E, 2)"* ]]; ok $? "shape (2, 3) refused naming the file (exit $rc): $err"

npy "$work/loop.npy" '<i4' 4 2 2  0 1 2 2
err=$("$eloss" rigidity -edges "$work/loop.npy" -d 2 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *loop.npy*self-loop* ]]; ok $? "self-loop refused naming the file (exit $rc): $err"

head -c 20 "$work/k4.npy" > "$work/trunc.npy"
err=$("$eloss" rigidity -edges "$work/trunc.npy" -d 2 2>&1 >/dev/null); rc=$?
[ $rc -ne 0 ] && [[ "$err" == *trunc.npy* ]]; ok $? "truncated file refused naming the file (exit $rc): $err"

"$eloss" rigidity -edges "$work/k4.npy" -d 2 -no_such_option 1 >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ]; ok $? "unknown option gives exit 2 (got $rc)"

survey=(rigidity -survey_n 8,12,21 -survey_k 3,4,6 -survey_d 2,3 -samples 37 -seed 99)
"$eloss" "${survey[@]}" -csv "$work/np1.csv" > "$work/np1.md" 2>/dev/null
"$mpiexec" --allow-run-as-root --oversubscribe -n 2 "$eloss" "${survey[@]}" -csv "$work/np2.csv" \
  > "$work/np2.md" 2>/dev/null
[ -s "$work/np1.md" ] && cmp -s "$work/np1.csv" "$work/np2.csv" && cmp -s "$work/np1.md" "$work/np2.md"
ok $? "survey CSV and table identical on 1 and 2 ranks"

# Every k = 2d cell of this small survey is globally rigid in all 37 samples,
# and no temporary file is left next to the CSV.
rows=$(awk -F, 'NR > 1 && $2 == 2 * $3 && $6 != $4' "$work/np1.csv" | wc -l)
left=$(ls "$work" | grep -c tmp)
[ -s "$work/np1.csv" ] && [ "$rows" -eq 0 ] && [ "$left" -eq 0 ]
ok $? "survey: k = 2d cells all globally rigid ($rows exceptions), $left temporary files left"

[ $failed -eq 0 ]
