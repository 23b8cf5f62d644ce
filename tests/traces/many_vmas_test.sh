#!/usr/bin/env bash
# Replay of a huge VMA set, and vm.max_map_count in replay (no timing is asserted):
#  - the generator's VMA counts are the host kernel's (tests/bench/many_vma_trace.py --native),
#  - a generated trace of 100,000 unmergeable one-page mappings (faults, guards, mprotects that
#    merge and that do not, munmaps, `expect AS vmas` after each phase) replays with every outcome
#    matching, `trace stats` reports the peak of 100,000 VMAs, and such a trace with one mmap
#    line dropped diverges at the first VMA count,
#  - a recorded trace of guest/vma_count_limit (which runs into the host's 65,530 under
#    compare_with_native) replays as recorded, diverges when a `limit` line raises the limit or
#    when it is taken as a hand-written trace (no limit), and replays again with the limit stated.
# usage: many_vmas_test.sh MMUEMU VMA_COUNT_LIMIT_GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
generator="$(dirname "$0")/../bench/many_vma_trace.py"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=0 failures=0
pass() { passes=$((passes + 1)); }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }

# replay_is TRACE STATUS REGEX: replays TRACE, expects exit STATUS and REGEX in stdout + stderr.
replay_is() {
    "$mmuemu" replay "$1" >"$work/out" 2>&1
    local s=$?
    if [ "$s" = "$2" ] && grep -Eq -- "$3" "$work/out"; then pass; else fail "replay $(basename "$1"): exit $s (want $2): $(head -c 400 "$work/out")"; fi
}

for order in "" --sequential; do
    python3 "$generator" $order --native 3001 && pass || fail "host VMA counts $order"
done

n=100000
python3 "$generator" "$n" "$work/many.trace" || fail "generator"
replay_is "$work/many.trace" 0 "many.trace: [0-9]+ events replayed, all outcomes match"
"$mmuemu" trace stats "$work/many.trace" >"$work/stats" 2>&1
if grep -q "peak VMA count $n\$" "$work/stats" && grep -Eq "^  mmap +$n\$" "$work/stats"; then pass; else fail "stats: $(cat "$work/stats")"; fi
# One mapping fewer (in a smaller trace, the same lines): the first `expect 1 vmas` must catch it.
python3 "$generator" 10000 "$work/small.trace" || fail "generator"
sed '/^mmap 1 0x100004000 /d' "$work/small.trace" >"$work/lost.trace"
replay_is "$work/lost.trace" 1 "expected: vmas 10000"

"$mmuemu" run --trace "$work/limit.trace" "$guest" >/dev/null 2>&1 || fail "recording vma_count_limit"
if grep -q -- "-> -ENOMEM" "$work/limit.trace"; then pass; else fail "the recording has no refusal at the limit"; fi
replay_is "$work/limit.trace" 0 "all outcomes match"
# The recorder writes a `limit` line only for a host limit other than Linux's default 65,530.
host_limit=$(cat /proc/sys/vm/max_map_count)
sed -i '/^limit 1 max_map_count /d' "$work/limit.trace"
sed "0,/^as 1\$/s//as 1\nlimit 1 max_map_count $((host_limit + 1))/" "$work/limit.trace" >"$work/raised.trace"
replay_is "$work/raised.trace" 1 "expected: -ENOMEM"
sed '1s/.*/mmuemu-trace 1/' "$work/limit.trace" >"$work/handwritten.trace"
replay_is "$work/handwritten.trace" 1 "expected: -ENOMEM"
sed "0,/^as 1\$/s//as 1\nlimit 1 max_map_count $host_limit/" "$work/handwritten.trace" >"$work/stated.trace"
replay_is "$work/stated.trace" 0 "all outcomes match"

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
