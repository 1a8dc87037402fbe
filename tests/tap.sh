# TAP helpers for the shell tests (sourced, not run):
#   ok <status> <description>   prints "ok N - ..." or "not ok N - ..."
#   tap_exit                    exit status: 0 iff every check passed
#   tap_workdir                 cd into a fresh temporary $work, removed on exit
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
tap_workdir() {
  work=$(mktemp -d) || exit 1
  trap 'rm -rf "$work"' EXIT
  cd "$work" || exit 1
}
