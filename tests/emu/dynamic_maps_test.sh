#!/usr/bin/env bash
# /proc/self/maps of dynamic programs, natively under `setarch -R` (no ASLR, as mmuemu runs) and
# under mmuemu: identical line for line (program at ELF_ET_DYN_BASE, ld.so and the libraries
# top-down from the mmap base, [heap] after the program, vDSO below ld.so, [stack], [vsyscall]).
# LC_ALL=C: the locale files mapped otherwise depend on the host's locale settings.
# usage: dynamic_maps_test.sh MMUEMU
set -u
mmuemu=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
check() {
    local name=$1
    shift
    LC_ALL=C setarch -R "$@" >"$work/native"
    LC_ALL=C "$mmuemu" run --check "$@" >"$work/emu"
    if cmp -s "$work/native" "$work/emu"; then
        echo "$name: identical ($(wc -l <"$work/emu") mappings)"
    else
        echo "FAIL $name (native vs mmuemu):"
        diff "$work/native" "$work/emu"
        failures=$((failures + 1))
    fi
}
check "cat /proc/self/maps" /usr/bin/cat /proc/self/maps
check "ld.so cat /proc/self/maps" /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /usr/bin/cat /proc/self/maps
[ "$failures" -eq 0 ]
