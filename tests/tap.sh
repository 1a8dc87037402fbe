# TAP helpers for the shell tests (sourced, not run):
#   ok <status> <description>   prints "ok N - ..." or "not ok N - ..."
#   tap_exit                    exit status: 0 iff every check passed
#   tap_workdir                 cd into a fresh temporary $work, removed on exit
#   tap_need_python N MODULES PACKAGES
#                               without Python's MODULES ("numpy, h5py"): the
#                               plan's N checks skipped, naming the Debian
#                               PACKAGES, and exit 0
#   $tap_h5same A B --attributes all|options|none
#                               jobs/h5same: exit 0 iff two HDF5 files hold the same data
tap_count=0
tap_h5same=$(realpath "$(dirname "${BASH_SOURCE[0]}")/../jobs/h5same")
tap_failed=0
ok() {
  tap_count=$((tap_count + 1))
  if [ "$1" = 0 ]; then
    echo "ok $tap_count - $2"
  else
    echo "not ok $tap_count - $2"
    tap_failed=$((tap_failed + 1))
  fi
}
tap_exit() { [ "$tap_failed" = 0 ]; }
tap_need_python() {
  /usr/bin/python3 -c "import $2" 2> /dev/null && return 0
  for _ in $(seq "$1"); do ok 0 "# SKIP /usr/bin/python3 lacks $2 (Debian: $3)"; done
  exit 0
}
tap_workdir() {
  work=$(mktemp -d) || exit 1
  trap 'rm -rf "$work"' EXIT
  cd "$work" || exit 1
}
