#!/usr/bin/env bash
# Two builds of mmuemu side by side on the single-task workloads of compare_emulators.sh (the
# memory loop, the guard install/remove loop, busybox sha256sum of a generated file): runs are
# interleaved (A, B, A, B...), the median of each is printed with the ratio B/A. Outputs must be
# identical between the builds (a difference fails). Nothing is asserted about the times.
# Usage: tests/bench/compare_builds.sh MMUEMU_A MMUEMU_B [--runs N] [--sha-mib N]
# (the guests come from build/bench: build the bench preset first)
set -euo pipefail
a=$(realpath "$1") b=$(realpath "$2"); shift 2
runs=5 sha_mib=64
while (($#)); do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --sha-mib) sha_mib=$2; shift 2 ;;
    *) sed -n '/^# Usage:/p' "$0" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/../.."
bench=build/bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -c $((sha_mib << 20)) /dev/urandom >"$work/data"
busybox=$(command -v busybox)

declare -A cmd=(
    [touch]="$bench/guest/nolibc_touch_memory 64 8"
    [guard]="$bench/tests/bench/nolibc_guard_loop 1000000"
    [sha256]="$busybox sha256sum $work/data"
)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() {  # timed OUT CMD...: seconds
    local out=$1; shift
    local start end
    start=$(date +%s.%N)
    "$@" >"$out" 2>/dev/null </dev/null || true
    end=$(date +%s.%N)
    echo "$end - $start" | bc -l
}
failed=0
printf '%-8s %10s %10s %8s\n' workload A B B/A
for w in touch guard sha256; do
    ta="" tb=""
    for _ in $(seq "$runs"); do
        ta+="$(timed "$work/a.out" "$a" run ${cmd[$w]}) "
        tb+="$(timed "$work/b.out" "$b" run ${cmd[$w]}) "
        cmp -s "$work/a.out" "$work/b.out" || { echo "WARNING: $w: outputs differ" >&2; failed=1; }
    done
    ma=$(echo "$ta" | tr ' ' '\n' | grep -v '^$' | median)
    mb=$(echo "$tb" | tr ' ' '\n' | grep -v '^$' | median)
    printf '%-8s %9.3fs %9.3fs %8.3f\n' "$w" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)"
done
exit $failed
