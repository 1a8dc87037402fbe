#!/usr/bin/env bash
# TAP test of the fault behaviour (docs/faults.md): jobs/faults with 3
# SIGKILLs per program instead of the 20 of `jobs/local test-faults`
# (see jobs/faults for every check).
#   test_faults.sh <eloss>
set -uo pipefail
eloss=$(realpath "$1")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$(dirname "${BASH_SOURCE[0]}")/tap.sh"
tap_workdir
ELOSS=$eloss KILLS=3 SEED=7 OUT_DIR=$work/out "$repo/jobs/faults"
