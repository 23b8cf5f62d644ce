#!/usr/bin/env bash
# The first thing to run: installs what is missing (as root), builds mmuemu, and runs a guest
# program that overflows a buffer into a guard page, under the emulator, with the fault report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install_dependencies.sh
cmake --preset default >/dev/null
cmake --build --preset default --target mmuemu guard_walkthrough guard_overflow_dies >/dev/null
build=build/default
echo "== 1. guard regions, step by step (guest/guard_walkthrough.c under mmuemu) =="
"$build/mmuemu" run "$build/guest/guard_walkthrough"
echo
echo "== 2. a buffer overflow into a guard page (guest/guard_overflow_dies.c under mmuemu) =="
set +e
"$build/mmuemu" run "$build/guest/guard_overflow_dies"
status=$?
set -e
echo "(the guest died with exit status $status, as it does natively: 128 + SIGSEGV)"
