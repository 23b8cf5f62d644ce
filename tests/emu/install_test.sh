#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, the prefix moved elsewhere, and the installed mmuemu
# run from another directory with an empty environment: it must find its Unicorn in the prefix
# (RUNPATH relative to itself, nothing of the build tree), run a guest, and have a manual page
# that lists the options --help lists.
# usage: install_test.sh BUILD_DIR GUEST
set -u
build=$(realpath "$1") guest=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
mv "$work/prefix" "$work/moved"
mmuemu="$work/moved/bin/mmuemu"
runpath=$(readelf -d "$mmuemu" | grep -E 'RUNPATH|RPATH')
case "$runpath" in
    *"$build"*) echo "the installed binary still points into the build tree: $runpath"; fail=1 ;;
esac
if ! ldd "$mmuemu" | grep -q "libunicorn.so.2 => $work/moved/"; then
    echo "libunicorn is not found in the prefix:"; ldd "$mmuemu" | grep unicorn; fail=1
fi
out=$(cd / && env -i "$mmuemu" run --check "$guest" 2>&1); status=$?
[ "$status" = 42 ] || { echo "the installed mmuemu ran the guest with status $status: $out"; fail=1; }
man="$work/moved/share/man/man1/mmuemu.1"
if [ ! -f "$man" ]; then
    echo "no manual page at share/man/man1/mmuemu.1"; fail=1
else
    for option in --check --strace --root --host-devices --ram --gdb; do
        grep -q -- "$(printf '%s' "$option" | sed 's/-/\\\\-/g')" "$man" || { echo "the manual page lacks $option"; fail=1; }
        "$mmuemu" --help | grep -q -- "$option" || { echo "--help lacks $option"; fail=1; }
    done
fi
[ $fail = 0 ] && echo "installed, moved and run from / with an empty environment: ok"
exit $fail
