#!/usr/bin/env bash
# TAP test of installing the Python binding as a user would, offline:
# `meson install` (staged), then `pip install --no-build-isolation ./python`
# into a fresh venv made with --system-site-packages; from outside the
# source tree and without ELOSS_LIBRARY the package finds the installed
# libeloss (through pkg-config, as for a custom prefix) and computes a
# known answer; ELOSS_LIBRARY naming a missing file is an ImportError that
# says so; the ten-line training example of README.md runs in the venv and
# its loss falls. Skips with a message without venv/pip or numpy (torch:
# the example only).
#   test_python_install.sh <build dir> <source root>
set -uo pipefail
build=$(realpath "$1")
src=$(realpath "$2")
py=/usr/bin/python3
source "$src/tests/tap.sh"
tap_workdir

if ! "$py" -c 'import numpy' 2> /dev/null; then
  echo "1..0 # SKIP python3-numpy is not installed (jobs/local test installs it)"
  exit 0
fi
if ! "$py" -m venv --system-site-packages "$work/venv" > venv.log 2>&1 || [ ! -x "$work/venv/bin/pip" ]; then
  echo "1..0 # SKIP cannot make a venv with pip (python3-venv, python3-pip): $(head -1 venv.log)"
  exit 0
fi
echo "1..6"
# pip builds in the directory it is given: give it a copy, so the source
# tree gets no build/ or egg-info.
cp -r "$src/python" "$work/python"
"$work/venv/bin/pip" install --no-build-isolation --no-index "$work/python" > pip.log 2>&1
ok $? "pip install --no-build-isolation --no-index ./python into a --system-site-packages venv (offline)"
meson install -C "$build" --destdir "$work/stage" > install.log 2>&1
ok $? "meson install puts libeloss in a staged prefix"

# The staged tree: point a copy of eloss.pc at it (as tests/test_install.sh).
pc=$(find "$work/stage" -name eloss.pc | head -1)
mkdir -p pc
sed "s|^prefix=|prefix=$work/stage|" "$pc" > pc/eloss.pc
export PKG_CONFIG_PATH=$work/pc
unset ELOSS_LIBRARY PYTHONPATH
got=$(cd / && "$work/venv/bin/python" -c '
import eloss, numpy as np
ref = np.array([[[0.0, 0], [1, 0], [0, 1]]]); pred = np.array([[[0.0, 0], [2, 0], [0, 1]]])
loss, grad = eloss.energy_loss(pred, ref, coeff="constant")
print(eloss.__file__, eloss.library_path, "%.15f" % loss, grad.shape)' 2>&1)
want=$(awk 'BEGIN { printf "%.15f", 1 + (sqrt(5) - sqrt(2))^2 }')
read -r module library value shape <<< "$got"
[[ "$module" == "$work/venv/"* && "$library" == "$work/stage/"* && "$value" == "$want" ]]
ok $? "without ELOSS_LIBRARY the venv's eloss loads the installed libeloss and gives 1 + (sqrt5 - sqrt2)^2 ($got)"

msg=$(cd / && ELOSS_LIBRARY=/nonexistent/libeloss.so "$work/venv/bin/python" -c 'import eloss' 2>&1)
[[ $? != 0 && "$msg" == *ImportError*"/nonexistent/libeloss.so (ELOSS_LIBRARY): no such file"* ]]
ok $? "ELOSS_LIBRARY naming a missing file: ImportError naming it"

# The README's training example, exactly as printed there.
sed -n '/^<!-- python-training-example -->/,/^```$/p' "$src/README.md" | sed '1,2d;$d' > example.py
lines=$(wc -l < example.py)
[ "$lines" -ge 5 ] && [ "$lines" -le 12 ]
ok $? "README.md has the training example ($lines lines)"
if "$work/venv/bin/python" -c 'import torch' 2> /dev/null; then
  out=$(cd / && "$work/venv/bin/python" "$work/example.py" 2>&1)
  echo "$out" | sed 's/^/# /'
  echo "$out" | awk 'NF == 2 { v[n++] = $2 } END { exit !(n >= 3 && v[n - 1] < 0.1 * v[0]) }'
  ok $? "the README training example runs against the installed library and its loss falls tenfold"
else
  echo "ok 6 - the README training example # SKIP python3-torch is not installed (jobs/local test installs it)"
  tap_count=$((tap_count + 1))
fi
tap_exit
