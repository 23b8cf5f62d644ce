#!/usr/bin/env bash
# Scheduling is deterministic: a multi-threaded program (and a forking one), neither of which
# sleeps (a sleep ends when the host clock says so), recorded twice gives
# byte-identical traces; two --sched-seed values interleave the tasks differently (their "task N"
# sequences differ) and both runs still print what the program prints natively; every trace
# replays with all outcomes matching.
# usage: determinism_test.sh MMUEMU THREADED_GUEST FORKING_GUEST
set -u
mmuemu=$(realpath "$1") threaded=$(realpath "$2") forking=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

for guest in "$threaded" "$forking"; do
    name=$(basename "$guest")
    "$guest" >"native.$name.out" </dev/null
    for run in 1 2; do
        "$mmuemu" run --trace "$name.$run.trace" "$guest" >"$name.$run.out" </dev/null
    done
    if cmp -s "$name.1.trace" "$name.2.trace"; then echo "ok   $name: two recordings are byte-identical"
    else fail "$name: recordings differ"; cmp "$name.1.trace" "$name.2.trace"; fi
    grep -q '^task 2$' "$name.1.trace" && echo "ok   $name: events are tagged with their task" || fail "$name: no task tags"
    "$mmuemu" replay "$name.1.trace" >/dev/null || fail "$name: replay"
done

name=$(basename "$threaded")
for seed in 1 2; do
    "$mmuemu" run --sched-seed "$seed" --trace "seed$seed.trace" "$threaded" >"seed$seed.out" </dev/null
    cmp -s "seed$seed.out" "native.$name.out" && echo "ok   --sched-seed $seed: output as natively" ||
        fail "--sched-seed $seed: output differs from native"
    "$mmuemu" replay "seed$seed.trace" >/dev/null || fail "--sched-seed $seed: replay"
    grep '^task ' "seed$seed.trace" >"seed$seed.tasks"
done
if cmp -s seed1.tasks seed2.tasks; then fail "two seeds gave the same interleaving"
else echo "ok   two seeds interleave the tasks differently"; fi
[ "$failures" -eq 0 ]
