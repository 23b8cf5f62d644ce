#!/usr/bin/env bash
# Differential test: runs PROGRAM natively on the host kernel and under `mmuemu run --check`
# (COMPARE_CHECK=--check=accesses: the per-access checker instead);
# stdout and exit status must be identical, and the native status must be the declared one.
# usage: compare_with_native.sh MMUEMU EXPECTED_STATUS PROGRAM [ARGS...]
# COMPARE_STDIN=FILE feeds FILE to both runs (default: /dev/null); COMPARE_CWD=DIR runs both in DIR;
# COMPARE_MMUEMU_ARGS="--ram 64M" adds mmuemu options right after `run --check` (split on blanks).
set -u
mmuemu=$(realpath "$1") expected=$2 program=$(realpath "$3")
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

input=${COMPARE_STDIN:-/dev/null}
dir=${COMPARE_CWD:-$work}
(cd "$dir" && exec "$program" "$@") >"$work/native.out" 2>"$work/native.err" <"$input"
native=$?
read -r -a mmuemu_args <<<"${COMPARE_MMUEMU_ARGS:-}"
(cd "$dir" && exec "$mmuemu" run "${COMPARE_CHECK:---check}" ${mmuemu_args[@]+"${mmuemu_args[@]}"} "$program" "$@") \
    >"$work/emu.out" 2>"$work/emu.err" <"$input"
emu=$?

fail=0
if [ "$native" != "$expected" ]; then
    echo "native run exited $native, the test declares $expected"
    fail=1
fi
if [ "$emu" != "$native" ]; then
    echo "exit status: mmuemu $emu, native $native"
    fail=1
fi
if ! cmp -s "$work/native.out" "$work/emu.out"; then
    echo "stdout differs (native vs mmuemu):"
    diff "$work/native.out" "$work/emu.out" | head -40
    fail=1
fi
if [ $fail -ne 0 ]; then
    echo "--- mmuemu stderr ---"
    head -60 "$work/emu.err"
    exit 1
fi
echo "identical: exit $emu, $(wc -l <"$work/emu.out") lines of output"
