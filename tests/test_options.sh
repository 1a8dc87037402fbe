#!/usr/bin/env bash
# TAP test of option values end to end, through the eloss program and
# mpirun (docs/options.md); the full table of refusals, every subcommand,
# runs in one process in test_refusals.c. Here:
# - a bad value (not a number, nan, inf, out of range, an integer that
#   overflows, an unknown or empty name, a stray word after a list, a
#   missing or malformed deck) gives exit code 2, exactly one line on stderr
#   naming the option and the value, no PETSc traceback and no output file,
#   on 1 and on 2 ranks, from the command line and from a deck;
# - an option that means nothing in the chosen mode is refused the same way;
# - -help still lists every option with its default and allowed values;
# - spingen -lattice cubic works (periodic by default, as in eloss mc), and
#   eloss gs names the right array for an L = 1 input.
#   test_options.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpiexec=$2
py=/usr/bin/python3
mpi=("$mpiexec" --allow-run-as-root --oversubscribe)
limit=${ELOSS_TEST_LIMIT:-60} # seconds any one refusal may take
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
echo "1..30"

"$py" - <<'PY'
import numpy as np
rng = np.random.default_rng(2385)
ref = rng.uniform(-1.5, 1.5, size=(3, 5, 3))
np.save("ref.npy", ref)
np.save("pred.npy", ref + 0.1 * rng.normal(size=ref.shape))
np.save("H1.npy", np.zeros((1, 0))); np.save("V1.npy", np.zeros((0, 1)))
np.save("H4.npy", rng.uniform(-1, 1, (4, 3))); np.save("V4.npy", rng.uniform(-1, 1, (3, 4)))
np.save("k4.npy", np.array([[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]], dtype=np.int32))
PY

# refused <ranks> <command> <needle> args...: exit 2, one stderr line
# "eloss <command>: error: ..." containing needle, nothing on stdout, no
# traceback, and none of the output files the command would write.
refused() {
  local np_=$1 cmd=$2 needle=$3
  shift 3
  rm -f out.h5 out.h5.partial out.h5.ckpt out.npy out.csv
  local out=()
  case $cmd in
    spingen) out=(-out out.h5) ;;
    loss) out=(-grad_out out.npy) ;;
    gs) out=(-out out.npy) ;;
    spinloss) out=(-grad_out out.npy) ;;
  esac
  # An -out given by the case itself replaces the default one.
  for a in "$@"; do [ "$a" = -out ] && out=(); done
  [ "${NOOUT:-}" = 1 ] && out=()
  # A refusal is immediate; a value taken as valid would start a real run.
  if [ "$np_" = 1 ]; then
    timeout "$limit" "$eloss" "$cmd" "$@" "${out[@]}" > stdout.txt 2> stderr.txt
  else
    timeout "$limit" "${mpi[@]}" -n "$np_" "$eloss" "$cmd" "$@" "${out[@]}" > stdout.txt 2> stderr.txt
  fi
  local rc=$? lines
  # Under mpirun, its own notice of a non-zero exit follows our line.
  if [ "$np_" = 1 ]; then lines=$(wc -l < stderr.txt); else lines=$(grep -c "^eloss" stderr.txt); fi
  if [ $rc = 2 ] && [ "$lines" = 1 ] && grep -q "^eloss $cmd: error: " stderr.txt && grep -qF -- "$needle" stderr.txt &&
     [ ! -s stdout.txt ] && ! grep -q "PETSC ERROR" stderr.txt &&
     [ ! -e out.h5 ] && [ ! -e out.h5.partial ] && [ ! -e out.npy ] && [ ! -e out.csv ]; then
    # The description stays one line: mpirun's multi-line notice is not ours.
    ok 0 "$cmd $* ($np_ rank$([ "$np_" = 1 ] || echo s)): $(grep "^eloss" stderr.txt)"
  else
    ok 1 "$cmd $* ($np_ ranks): rc=$rc, $lines lines, want '$needle': $(head -c 600 stderr.txt | tr '\n' ' ')"
  fi
}

L=(-pred pred.npy -ref ref.npy)

# Values a user once tried, each refused with one line.
refused 1 loss "-loss energi: expected one of energy, mse, mae, kabsch" "${L[@]}" -loss energi
refused 1 spingen "-options_file nothere.opts: cannot read the deck" -options_file nothere.opts
refused 1 loss "-options_file nothere.opts: cannot read the deck" -options_file nothere.opts
# The same on two ranks: one line, exit 2 on every rank.
refused 2 spingen "-instances 5.5: expected an integer >= 1" -instances 5.5
refused 2 spingen "-sample_betas 0.5 2: expected one value" -samples 2 -sample_betas 0.5 2
refused 2 spingen "-options_file nothere.opts: cannot read the deck" -options_file nothere.opts
refused 2 mc "-pt_beta_min 0.2: applies only to parallel tempering" -pt_beta_min 0.2
refused 2 spinloss "-loss mse: expected one of ce, margin, local, true, bond" -loss mse
refused 2 spinloss "-flip_invariant: is for -loss ce and margin only" -loss local -flip_invariant
printf -- '-loss local   # fine\n-T -0.5       # negative\n' > spinloss.opts
# A deck is read by the same rules.
printf -- '-L 8          # fine\n-instances 5.5  # not an integer\n' > bad.opts
refused 1 spingen "-instances 5.5: expected an integer >= 1" -options_file bad.opts
printf -- '-samples 2\n-sample_betas 0.5 2   # a stray 2\n' > stray.opts
printf -- '-L 8\n# a typo\n-instnces 5\n' > typo.opts
refused 1 spingen "unknown or unused option -instnces (-options_file typo.opts line 3)" -options_file typo.opts
printf -- 'L 16\n' > nodash.opts
printf -- '-L 4 -instances 2\n' > two.opts
printf -- '-L 5\0-instances 9\n' > nul.opts
{ printf '#%.0s' $(seq 5000); printf '\n-L 5\n'; } > long.opts
printf -- '-options_file nodash.opts\n' > nested.opts
refused 2 mc "-options_file nodash.opts: line 1: 'L' is not an option" -options_file nested.opts
mkdir -p adir

# Numbers: nan, inf, negative sizes, overflow, trailing junk.
refused 1 mc "-beta nan: expected a finite real number >= 0 and <= 1000" -beta nan
NOOUT=1 refused 1 spingen "-out: required" -L 4
refused 1 loss "foo: stray argument; options are written -name value" foo "${L[@]}"


# Options that mean nothing in the chosen mode.
refused 1 spingen "-gs exact: needs -lattice square -bc open; use -gs pt or -gs sa" -gs exact -lattice cubic -L 4

# -help: every option with its default ("<v>") and what it allows.
help_lists() {
  local cmd=$1
  shift
  "$eloss" "$cmd" -help > help.txt 2>&1
  local rc=$? missing=""
  for o in "$@"; do grep -qE -- "^  $o( <.*>)?: .*\(.+\)" help.txt || missing="$missing $o"; done
  [ $rc = 0 ] && [ -z "$missing" ] && ! grep -q "error" help.txt
  ok $? "$cmd -help lists every option with its default (missing:${missing:- none})"
}
help_lists loss -pred -ref -loss -preset -coeff -k0 -per_atom -coeff_dmin -edges -degree -pool -seed -bond_tolerance -natoms -precision -grad_out -repeat
help_lists rigidity -edges -d -n -seed -survey_n -survey_k -survey_d -samples -csv
help_lists gs -jh -jv -out
help_lists spinloss -jh -jv -logits -target -loss -T -h0 -flip_invariant -grad_out
help_lists mc -lattice -L -bc -couplings -instance -beta -field -algorithm -therm -sweeps -replicas -seed -blocks -cold -split -pt_temperatures -pt_beta_min -pt_adapt
help_lists clustergen -n -temperatures -samples -therm -sweeps -radius -walks -bh_steps -bh_step -bh_temperature -seed -checkpoint_seconds -resume -force -out -xyz
help_lists spingen -lattice -L -bc -couplings -instances -split -seed -gs -gs_replicas -gs_sweeps -gs_beta_min -gs_beta_max -samples -sample_betas -sample_therm -sample_sweeps -algorithm -chunk -checkpoint_seconds -resume -force -out
# (to a file first: grep -q closing a pipe early would kill the writer with
# SIGPIPE and, under pipefail, fail the check at random)
"$eloss" spingen -help > help.txt 2>&1
grep -qE -- "^  -sample_betas <1>: .*comma-separated finite real numbers > 0 and <= 1000" help.txt &&
  ! grep -q "(None)\|log_view\|formerly" help.txt
ok $? "spingen -help: -sample_betas shows its default and the allowed values; none of PETSc's own noise"

# Accepted: cubic spingen (periodic by default), -force, good values of each kind.
rm -f cubic.h5
"$eloss" spingen -lattice cubic -L 4 -instances 2 -gs_sweeps 200 -out cubic.h5 > out.txt 2> err.txt
rc=$?
[ $rc = 0 ] && [ -s cubic.h5 ] && grep -q -- "-lattice cubic -bc periodic" err.txt
ok $? "spingen -lattice cubic -L 4 runs with periodic boundaries by default (rc=$rc): $(grep -m1 error err.txt)"
"$eloss" spingen -L 4 -instances 3 -samples 1 -sample_betas 0.25,1.5 -sample_therm 5 -sample_sweeps 2 -resume false -force -out ok.h5 > out.txt 2> err.txt
rc=$?
[ $rc = 0 ] && [ -s ok.h5 ] && grep -q -- "-sample_betas 0.25,1.5" err.txt
ok $? "spingen accepts a valid beta list, a bool written out and -force (rc=$rc)"
o=$("$eloss" loss "${L[@]}" -edges regular -degree 2 -pool 3 -seed 7 2>&1)
grep -q "^loss=" <<< "$o"
ok $? "loss accepts the regular-graph options with -edges regular ($o)"

# eloss gs: an L = 1 input names -jh and the shape rule, not -jv.
rm -f out.npy
"$eloss" gs -jh H1.npy -jv V1.npy -out out.npy > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && [ ! -e out.npy ] && [ "$(wc -l < err.txt)" = 1 ] && grep -q "H1.npy: .* for -jh is a lattice of L = 1; expected (L, L-1) with L >= 2" err.txt
ok $? "gs with L = 1 names -jh and L >= 2: $(cat err.txt)"
"$eloss" gs -jh H4.npy -jv H4.npy > /dev/null 2> err.txt
grep -q "H4.npy: expected shape (3, 4) for -jv" err.txt
ok $? "gs with a wrong -jv shape says (L-1, L) = (3, 4): $(cat err.txt)"

# No output overwrites the options file a run reads, even with -force.
printf -- '-L 4\n-instances 3\n' > deck.opts
cp deck.opts deck.copy
"$eloss" spingen -options_file deck.opts -out deck.opts -force > /dev/null 2> err.txt
rc1=$?
printf -- '-n 5\n-samples 2\n-walks 1\n-bh_steps 5\n' > cdeck.opts
cp cdeck.opts cdeck.copy
"$eloss" clustergen -options_file cdeck.opts -out c.h5 -xyz cdeck.opts -force > /dev/null 2> err2.txt
rc2=$?
[ $rc1 = 2 ] && [ $rc2 = 2 ] && cmp -s deck.opts deck.copy && cmp -s cdeck.opts cdeck.copy &&
  grep -q -- "-out deck.opts: is the options file deck.opts read" err.txt && grep -q -- "-xyz cdeck.opts: is the options file" err2.txt
ok $? "an output naming the -options_file deck is refused even with -force: $(grep error err.txt | cut -c1-90)"
tap_exit
