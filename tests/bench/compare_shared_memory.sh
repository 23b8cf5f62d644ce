#!/usr/bin/env bash
# Shared and file-backed memory side by side in one run: a MAP_SHARED file read/write loop
# (dirty pages written back by msync) and a memfd guard install/remove loop (shmem pages
# refaulted after each removal), natively, under mmuemu (fast mode and --check) and under
# Debian's qemu-x86_64. Prints the median wall-clock time per iteration of --runs runs and the
# ratios; every run's output is compared with the native one (a difference is a failure).
# Usage: tests/bench/compare_shared_memory.sh [--runs N] [--file N] [--guard N] [--no-build]
set -euo pipefail
runs=3 file_n=2000 guard_n=20000 build=1
while (($#)); do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --file) file_n=$2; shift 2 ;;
    --guard) guard_n=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '/^# Usage:/p' "$0" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/../.."
if [ "$build" = 1 ]; then
    cmake --preset bench >/dev/null
    cmake --build --preset bench --target mmuemu shared_memory_bench >/dev/null
fi
mmuemu=build/bench/mmuemu bench=build/bench/tests/bench/shared_memory_bench
qemu=$(command -v qemu-x86_64 || true)

source tests/bench/side_by_side.sh  # median, time_run

failed=0
printf '%-26s %11s %11s %11s %11s %10s %10s\n' "per iteration" native mmuemu "--check" qemu "mmuemu/nat" "mmuemu/qemu"
for mode in file guard; do
    n=$file_n; [ "$mode" = guard ] && n=$guard_n
    expected=$("$bench" "$mode" "$n")
    declare -A samples=()
    for _ in $(seq "$runs"); do
        samples[native]+="$(time_run "$expected" "$bench" "$mode" "$n" || echo fail) "
        samples[mmuemu]+="$(time_run "$expected" "$mmuemu" run "$bench" "$mode" "$n" || echo fail) "
        samples[check]+="$(time_run "$expected" "$mmuemu" run --check "$bench" "$mode" "$n" || echo fail) "
        if [ -n "$qemu" ]; then samples[qemu]+="$(time_run "$expected" "$qemu" "$bench" "$mode" "$n" || echo fail) "; fi
    done
    for k in "${!samples[@]}"; do case "${samples[$k]}" in *fail*) failed=1 ;; esac; done
    per() { echo "${samples[$1]:-}" | tr ' ' '\n' | grep -v '^$' | median | awk -v n="$n" '{printf "%.2f", $1 / n * 1e6}'; }
    nat=$(per native) emu=$(per mmuemu) chk=$(per check) qem=$( [ -n "$qemu" ] && per qemu || echo n/a)
    ratio_nat=$(echo "$emu / $nat" | bc -l | awk '{printf "%.1f", $1}')
    ratio_qemu=$( [ "$qem" != n/a ] && echo "$emu / $qem" | bc -l | awk '{printf "%.2f", $1}' || echo n/a)
    label="file msync (N=$n)"; [ "$mode" = guard ] && label="memfd guard (N=$n)"
    printf '%-26s %8s us %8s us %8s us %8s us %10s %10s\n' "$label" "$nat" "$emu" "$chk" "$qem" "$ratio_nat" "$ratio_qemu"
    unset samples
done
exit $failed
