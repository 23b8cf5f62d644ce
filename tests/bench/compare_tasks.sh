#!/usr/bin/env bash
# The cost of a task, side by side in one run: N x (fork, _exit, waitpid) and N x
# (pthread_create, pthread_join), natively, under mmuemu (fast mode, --cpus 1 and 2) and under
# Debian's qemu-x86_64. Prints the median wall-clock time per iteration of --runs runs and the
# ratios; every run's output is compared with the native one (a difference is a failure).
# Usage: tests/bench/compare_tasks.sh [--runs N] [--forks N] [--threads N] [--no-build]
set -euo pipefail
runs=3 forks=2000 threads=2000 build=1
while (($#)); do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --forks) forks=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '/^# Usage:/p' "$0" >&2; exit 2 ;;
    esac
done
cd "$(dirname "$0")/../.."
if [ "$build" = 1 ]; then
    cmake --preset bench >/dev/null
    cmake --build --preset bench --target mmuemu task_bench >/dev/null
fi
mmuemu=build/bench/mmuemu bench=build/bench/tests/bench/task_bench
qemu=$(command -v qemu-x86_64 || true)

source tests/bench/side_by_side.sh  # median, time_run

failed=0
printf '%-22s %12s %12s %12s %12s %10s %10s\n' "per iteration" native mmuemu "mmuemu -c2" qemu "mmuemu/nat" "mmuemu/qemu"
for mode in fork thread; do
    n=$forks; [ "$mode" = thread ] && n=$threads
    expected=$("$bench" "$mode" "$n")
    declare -A samples=()
    for _ in $(seq "$runs"); do
        samples[native]+="$(time_run "$expected" "$bench" "$mode" "$n" || echo fail) "
        samples[mmuemu]+="$(time_run "$expected" "$mmuemu" run "$bench" "$mode" "$n" || echo fail) "
        samples[mmuemu2]+="$(time_run "$expected" "$mmuemu" run --cpus 2 "$bench" "$mode" "$n" || echo fail) "
        if [ -n "$qemu" ]; then samples[qemu]+="$(time_run "$expected" "$qemu" "$bench" "$mode" "$n" || echo fail) "; fi
    done
    for k in "${!samples[@]}"; do case "${samples[$k]}" in *fail*) failed=1 ;; esac; done
    per() { echo "${samples[$1]:-}" | tr ' ' '\n' | grep -v '^$' | median | awk -v n="$n" '{printf "%.1f", $1 / n * 1e6}'; }
    nat=$(per native) emu=$(per mmuemu) emu2=$(per mmuemu2) qem=$( [ -n "$qemu" ] && per qemu || echo n/a)
    ratio_nat=$(echo "$emu / $nat" | bc -l | awk '{printf "%.1f", $1}')
    ratio_qemu=$( [ "$qem" != n/a ] && echo "$emu / $qem" | bc -l | awk '{printf "%.2f", $1}' || echo n/a)
    printf '%-22s %10s us %10s us %10s us %10s us %10s %10s\n' "$mode+exit/join (N=$n)" "$nat" "$emu" "$emu2" "$qem" "$ratio_nat" "$ratio_qemu"
    unset samples
done
exit $failed
