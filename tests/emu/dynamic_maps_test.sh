#!/usr/bin/env bash
# /proc/self/maps of dynamic programs, natively under `setarch -R` (no ASLR, as mmuemu runs) and
# under mmuemu: identical line for line (program at ELF_ET_DYN_BASE, ld.so and the libraries
# top-down from the mmap base, [heap] after the program, vDSO below ld.so, [stack], [vsyscall]).
# LC_ALL is set (C, C.UTF-8): the locale files mapped otherwise depend on the host's settings.
# usage: dynamic_maps_test.sh MMUEMU
set -u
mmuemu=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
check() {
    local name=$1 locale=$2
    shift 2
    LC_ALL=$locale setarch -R "$@" >"$work/native"
    LC_ALL=$locale "$mmuemu" run --check "$@" >"$work/emu"
    if cmp -s "$work/native" "$work/emu"; then
        echo "$name: identical ($(wc -l <"$work/emu") mappings)"
    else
        echo "FAIL $name (native vs mmuemu):"
        diff "$work/native" "$work/emu"
        failures=$((failures + 1))
    fi
}
check "cat /proc/self/maps" C /usr/bin/cat /proc/self/maps
check "ld.so cat /proc/self/maps" C /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 /usr/bin/cat /proc/self/maps
# C.UTF-8: glibc maps the gconv module cache MAP_SHARED (a shared file mapping, its device shown).
check "cat /proc/self/maps, C.UTF-8" C.UTF-8 /usr/bin/cat /proc/self/maps
[ "$failures" -eq 0 ]
