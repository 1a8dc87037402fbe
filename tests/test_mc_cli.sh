#!/usr/bin/env bash
# TAP test of `eloss mc`: output format, replicas sharded over 1, 2 and 4
# ranks printing the same digits (the chains are identical and the replica
# sums are taken in replica order on rank 0), the ferromagnet's
# energy within 3 sigma of Kaufman's 8 x 8 value, the split lattice on 1 and
# 2 ranks, and refused bad input.
#   test_mc_cli.sh <eloss> <mpiexec>
set -uo pipefail
eloss=$(realpath "$1")
mpi=("$2" --allow-run-as-root --oversubscribe)
py=/usr/bin/python3
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
echo "1..16"
args=(-L 8 -couplings ferro -beta 0.3 -therm 200 -sweeps 4000 -replicas 6 -seed 5)
o1=$("${mpi[@]}" -n 1 "$eloss" mc "${args[@]}" 2>/dev/null)
for name in energy_per_spin abs_m m2 binder abs_q q2 binder_q xi_sg; do grep -q "^$name=[-0-9.e]* err=[0-9.e-]*$" <<< "$o1" || bad=1; done
grep -q '^ns_per_update=' <<< "$o1" && [ -z "${bad:-}" ]
ok $? "prints energy_per_spin, abs_m, m2, binder, abs_q, q2, binder_q, xi_sg with err=, then ns_per_update"
for np_ in 2 4; do
  o=$("${mpi[@]}" -n $np_ "$eloss" mc "${args[@]}" 2>/dev/null)
  [ -n "$o" ] && [ "$(grep -v ns_per_update <<<"$o1")" = "$(grep -v ns_per_update <<<"$o")" ]
  ok $? "$np_ ranks print the 1-rank estimates digit for digit (same chains, sums in replica order)"
done
# Kaufman's exact energy per spin of the 8 x 8 torus at beta = 0.3 (J = 1):
# -0.71247..., from mc_ising2d_exact_energy, itself checked against brute force.
"$py" - "$o1" <<'PY'
import sys
line = [l for l in sys.argv[1].splitlines() if l.startswith("energy_per_spin=")][0]
value, err = float(line.split("=")[1].split()[0]), float(line.split("err=")[1])
sys.exit(not abs(value - (-0.712474)) < 3 * err + 1e-6)
PY
ok $? "8 x 8 ferromagnet at beta 0.3 within 3 sigma of the exact -0.712474 ($(echo "$o1" | head -1))"
"$eloss" mc -lattice cubic -bc open -L 4 > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "cubic lattices are periodic only" err.txt
ok $? "open cubic lattice refused: $(cat err.txt)"
"$eloss" mc -L 8 -sweeps 10 -blocks 20 > /dev/null 2> err.txt
rc=$?
[ $rc != 0 ] && grep -q "sweeps >= -blocks" err.txt
ok $? "fewer sweeps than jackknife blocks refused"
rm -f err.txt
# Parallel tempering over ranks: the ordered 8 x 8 ferromagnet from random
# starts, measured at the coldest temperature against Kaufman (-1.909066...
# at beta = 0.6, from mc_ising2d_exact_energy), identical on 1 and 2 ranks.
pt=(-L 8 -couplings ferro -beta 0.6 -pt_temperatures 6 -pt_beta_min 0.25 -pt_adapt 100 -therm 800 -sweeps 4000)
p1=$("${mpi[@]}" -n 1 "$eloss" mc "${pt[@]}" 2>/dev/null)
p2=$("${mpi[@]}" -n 2 "$eloss" mc "${pt[@]}" 2>/dev/null)
[ "$(echo "$p1" | grep -v ns_per_update)" = "$(echo "$p2" | grep -v ns_per_update)" ] && grep -q "^pt_exchange_rates=0\." <<< "$p1"
ok $? "tempering: 1 and 2 ranks print the same estimates, ladder and exchange rates"
"$py" - "$p1" <<'PY'
import sys
line = [l for l in sys.argv[1].splitlines() if l.startswith("energy_per_spin=")][0]
value, err = float(line.split("=")[1].split()[0]), float(line.split("err=")[1])
sys.exit(not abs(value - (-1.909066)) < 3 * err + 1e-6)
PY
ok $? "tempering: coldest energy within 3 sigma of the exact -1.909066 ($(echo "$p1" | head -1))"
"$eloss" mc -pt_temperatures 4 -replicas 4 > /dev/null 2> err.txt
[ $? != 0 ] && grep -q "does not combine with -replicas" err.txt
ok $? "tempering with -replicas refused"
# Split lattice: its own chain, identical on 1 and 2 ranks, and
# statistically equal to the replica chains of the same instance.
sp=(-L 12 -bc periodic -couplings gaussian -beta 0.8 -therm 200 -sweeps 4000 -seed 4)
s1=$("${mpi[@]}" -n 1 "$eloss" mc "${sp[@]}" -split 2>/dev/null | grep -E "^(energy_per_spin|abs_m|m2|binder)=")
s2=$("${mpi[@]}" -n 2 "$eloss" mc "${sp[@]}" -split 2>/dev/null | grep -E "^(energy_per_spin|abs_m|m2|binder)=")
many=$("${mpi[@]}" -n 1 "$eloss" mc "${sp[@]}" -replicas 16 2>/dev/null | grep -E "^(energy_per_spin|abs_m|m2|binder)=")
"$py" - "$s1" "$s2" <<'PY'
import sys
def values(text):
    return {l.split("=")[0]: float(l.split("=")[1].split()[0]) for l in text.splitlines()}
a, b = values(sys.argv[1]), values(sys.argv[2])
sys.exit(not (len(a) == 4 and a.keys() == b.keys() and all(abs(a[k] - b[k]) <= 1e-9 * max(1, abs(a[k])) for k in a)))
PY
ok $? "-split gives the same estimates on 1 and 2 ranks ($(echo "$s2" | head -1))"
"$py" - "$s2" "$many" <<'PY'
import sys
def energy(text):
    line = [l for l in text.splitlines() if l.startswith("energy_per_spin=")][0]
    return float(line.split("=")[1].split()[0]), float(line.split("err=")[1])
(a, ea), (b, eb) = energy(sys.argv[1]), energy(sys.argv[2])
sys.exit(not abs(a - b) < 3 * (ea * ea + eb * eb) ** 0.5)
PY
ok $? "-split energy agrees with 16 replica chains within 3 sigma ($(echo "$s2" | head -1); $(echo "$many" | head -1))"
"$eloss" mc -split -field 0.3 -sweeps 100 > out.txt 2> err.txt; rc1=$?
grep -q "does not combine with .*-field" err.txt && [ ! -s out.txt ] &&
  ! "$eloss" mc -split -lattice cubic -L 5 -sweeps 100 2> err.txt > out.txt && grep -q "even L" err.txt && [ ! -s out.txt ] && [ $rc1 != 0 ]
ok $? "-split refuses -field and an odd periodic L, with one error and no output"
# A failure injected on rank 1 of a collective path (docs/design.md, "Fault
# injection"): every rank stops with exit code 1 and one error, no hang.
fault_case() { # site, then eloss mc arguments
  local site=$1; shift
  ELOSS_FAULT=$site:1:1 timeout 60 "${mpi[@]}" -x ELOSS_FAULT -n 2 "$eloss" mc "$@" > out.txt 2> err.txt
  local rc=$?
  [ $rc = 1 ] && grep -q "^eloss mc: error: " err.txt
  ok $? "ELOSS_FAULT=$site:1:1 on 2 ranks: exit $rc (1 wanted), $(grep -m1 '^eloss mc: error' err.txt)"
}
fault_case mc.measure -L 8 -therm 10 -sweeps 100 -replicas 4
fault_case pt.adapt -L 8 -therm 100 -sweeps 100 -pt_temperatures 4 -pt_beta_min 0.2 -pt_adapt 50
fault_case split.overlap -L 8 -therm 10 -sweeps 100 -split
# Tempering honours -field (it once ran every replica at field 0).
f0=$("$eloss" mc -L 8 -therm 100 -sweeps 400 -pt_temperatures 4 -pt_beta_min 0.2 -beta 1 -field 0 2>/dev/null | grep '^abs_m=')
f2=$("$eloss" mc -L 8 -therm 100 -sweeps 400 -pt_temperatures 4 -pt_beta_min 0.2 -beta 1 -field 2 2>/dev/null | grep '^abs_m=')
"$py" - "$f2" <<'PY'
import sys
sys.exit(not float(sys.argv[1].split("=")[1].split()[0]) > 0.5)
PY
ok $? "tempering with -field 2 magnetises the coldest replica, |m| > 0.5 ($f2; at -field 0: $f0)"
rm -f err.txt out.txt
tap_exit
