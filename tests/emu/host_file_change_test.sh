#!/bin/bash
# A file another host process changes while a guest maps it: the guest (guest/host_file_change)
# maps a one-page file, prints "ready" and waits for a line on stdin; this script then rewrites
# the first byte and grows the file to two pages, and lets it go on. Natively and under mmuemu
# the output must be the same: a fresh mapping sees the new bytes and size.
# Usage: host_file_change_test.sh MMUEMU GUEST
set -euo pipefail
mmuemu=$1 guest=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run COMMAND...: output in $work/out
    printf 'a%.0s' $(seq 4096) > "$work/file"
    rm -f "$work/fifo" "$work/out"
    mkfifo "$work/fifo"
    "$@" "$work/file" < "$work/fifo" > "$work/out" &
    local pid=$!
    exec 3> "$work/fifo"
    for _ in $(seq 300); do grep -q '^ready$' "$work/out" 2> /dev/null && break; sleep 0.1; done
    grep -q '^ready$' "$work/out" || { echo "host_file_change_test: the guest never said ready"; kill "$pid"; exit 1; }
    printf 'B' | dd of="$work/file" conv=notrunc status=none
    printf 'c%.0s' $(seq 4096) >> "$work/file"
    echo go >&3
    exec 3>&-
    wait "$pid"
}

run "$guest"
cp "$work/out" "$work/native"
run "$mmuemu" run --check "$guest"
if ! diff -u "$work/native" "$work/out"; then
    echo "host_file_change_test: mmuemu differs from native (above)"
    exit 1
fi
cat "$work/out"
echo "host_file_change_test: identical to native"
