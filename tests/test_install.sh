#!/usr/bin/env bash
# TAP test of `meson install`: the library, headers, program and libeloss.pc
# land where they should, and another C code builds against them with
# nothing but `pkg-config --cflags --libs eloss`, then runs.
#   test_install.sh <build dir>
set -uo pipefail
build=$(realpath "$1")
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
echo "1..5"
meson install -C "$build" --destdir "$dest" > "$dest/install.log" 2>&1
[ $? = 0 ] && echo "ok 1 - meson install succeeds" || { echo "not ok 1 - meson install failed"; cat "$dest/install.log" | sed 's/^/# /'; }
pc=$(find "$dest" -name eloss.pc | head -1)
hdr=$(find "$dest" -path '*include/eloss/atoms.h' | head -1)
exe=$(find "$dest" -path '*bin/eloss' -type f | head -1)
[ -n "$pc" ] && [ -n "$hdr" ] && [ -n "$exe" ] && echo "ok 2 - eloss.pc, include/eloss/atoms.h and bin/eloss installed" || echo "not ok 2 - missing installed files (pc=$pc hdr=$hdr exe=$exe)"
cat > "$dest/user.c" <<'C'
#include <eloss/atoms.h>
#include <stdio.h>
int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  double ref[6] = {0, 0, 1, 0, 0, 1}, pred[6] = {0, 0, 2, 0, 0, 1}, loss;
  atoms_options opt;
  atoms_options_default(&opt);
  atoms_plan *plan;
  int bad = atoms_plan_create(MPI_COMM_SELF, &opt, 1, 0, 1, 3, 2, ref, NULL, &plan) ||
            atoms_plan_execute(plan, pred, &loss, NULL);
  atoms_plan_destroy(&plan);
  /* distances 1, 1, sqrt2 -> 2, 1, sqrt5: loss = 1 + (sqrt5 - sqrt2)^2 */
  printf("%.15f\n", loss);
  MPI_Finalize();
  return bad;
}
C
# The staged tree lives under $dest: point a copy of the .pc file there
# (a sysroot would also move MPI's own include path).
mkdir -p "$dest/pc"
sed "s|^prefix=|prefix=$dest|" "$pc" > "$dest/pc/eloss.pc"
export PKG_CONFIG_PATH=$dest/pc
flags=$(pkg-config --cflags --libs eloss 2>&1)
libdir=$(pkg-config --variable=libdir eloss)
cc -std=c11 "$dest/user.c" -o "$dest/user" $flags -Wl,-rpath,"$libdir" > "$dest/cc.log" 2>&1
[ $? = 0 ] && echo "ok 3 - a user program compiles and links with pkg-config --cflags --libs eloss" || { echo "not ok 3 - user program does not build: $(head -3 "$dest/cc.log")"; }
got=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "$dest/user" 2>/dev/null)
want=$(awk 'BEGIN { printf "%.15f", 1 + (sqrt(5) - sqrt(2))^2 }')
[ "$got" = "$want" ] && echo "ok 4 - it runs and gets the expected loss ($got)" || echo "not ok 4 - got '$got', want $want"
# The man pages: one per subcommand, generated from -help's option table.
pages=$(find "$dest" -path '*man1/eloss-*.1' | wc -l)
# One per subcommand the program lists (the staged copy cannot find its
# library outside the prefix, so the build tree's is asked).
commands=$("$build/apps/eloss" -help 2>/dev/null | grep -c '^  [a-z]')
train_page=$(find "$dest" -path '*man1/eloss-train.1' | head -1)
rendered=$(MANWIDTH=100 man -l "$train_page" 2>/dev/null | col -b 2>/dev/null)
missing=""
for o in -train -test -loss -steps -batch -shards -out -resume -force -metrics; do
  grep -q -- "^ *$o\b" <<< "$rendered" || missing="$missing $o"
done
[ "$pages" = "$commands" ] && [ "$pages" -ge 12 ] && [ -z "$missing" ] && grep -q "^NAME" <<< "$rendered" &&
  echo "ok 5 - $pages man pages installed, one per subcommand (man1/eloss-<command>.1); eloss-train.1 renders with every option" ||
  echo "not ok 5 - man pages: $pages installed for $commands subcommands, eloss-train.1 misses:${missing:- nothing}"
