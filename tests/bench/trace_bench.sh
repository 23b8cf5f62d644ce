#!/usr/bin/env bash
# Trace performance, measured side by side in one run (Release build; no pass/fail thresholds):
#  - replay speed of access events that hit the TLB (events per second),
#  - recording overhead of --trace on the torture test (ratio to a plain run),
#  - compressed (.zst) versus text size of the same trace.
# usage: bash tests/bench/trace_bench.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${1:-}" = --no-build ] || { cmake --preset bench >/dev/null && cmake --build --preset bench >/dev/null; }
b=build/bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

# 1. replay: 5 million access events over 256 pages that stay in the TLB
events=5000000
python3 - "$work/access.trace" "$events" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    f.write("mmuemu-trace 1\nas 1\nmmap 1 0x10000000 0x100000 rw- PRIVATE|ANONYMOUS|FIXED|POPULATE\n")
    chunk = "".join("access 1 0x%x 8 read\n" % (0x10000000 + (i % 256) * 4096 + (i % 64) * 8) for i in range(100000))
    for _ in range(n // 100000):
        f.write(chunk)
PY
replay=$(for i in 1 2 3; do seconds "$b/mmuemu" replay "$work/access.trace"; done | median)
printf 'replay of %d access events (TLB hits): %.2f s = %.2f million events/s\n' "$events" "$replay" \
    "$(echo "$events / $replay / 1000000" | bc -l)"

# 2. recording overhead on the torture test
plain=$(for i in $(seq 11); do seconds "$b/mmuemu" run "$b/guest/mm_torture"; done | median)
traced=$(for i in $(seq 11); do seconds "$b/mmuemu" run --trace "$work/torture.trace" "$b/guest/mm_torture"; done | median)
printf 'mm_torture: plain %.3f s, with --trace %.3f s: overhead %.1f%%\n' "$plain" "$traced" \
    "$(echo "($traced / $plain - 1) * 100" | bc -l)"

# 3. compression
"$b/mmuemu" run --trace "$work/torture.trace.zst" "$b/guest/mm_torture" >/dev/null
text=$(stat -c %s "$work/torture.trace") zst=$(stat -c %s "$work/torture.trace.zst")
printf 'mm_torture trace: %d bytes of text, %d bytes compressed: %.1fx smaller\n' "$text" "$zst" \
    "$(echo "$text / $zst" | bc -l)"
