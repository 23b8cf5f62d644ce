#!/usr/bin/env bash
# Start-up of dynamically linked programs (issue 12): Debian's /bin/true and `python3 -c pass`,
# natively, under mmuemu (Release build, build/bench) and under qemu-x86_64 (if installed), side
# by side: the median wall-clock time of N runs (default 5) and the ratio to native. Each run's
# exit status must be 0 (a failure is a FAILED cell and the script exits 1).
# usage: tests/bench/compare_dynamic_startup.sh [--runs N] [--no-build]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=5 build=1
while (($#)); do
    case "$1" in
    --runs) runs=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [--runs N] [--no-build]" >&2; exit 2 ;;
    esac
done
if [ "$build" = 1 ]; then
    cmake --preset bench >/tmp/mmuemu-bench-cfg.log 2>&1
    cmake --build --preset bench --target mmuemu >/tmp/mmuemu-bench-build.log 2>&1
fi
mmuemu=$(realpath build/bench/mmuemu)
qemu=$(command -v qemu-x86_64 || true)
python=/usr/bin/python3
failed=0

# median_ms CMD...: runs CMD `runs` times, prints the median wall-clock time in milliseconds.
median_ms() {
    local times=() i start end
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        if ! "$@" >/dev/null 2>&1 </dev/null; then echo FAILED; return; fi
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "%.1f", t[int((NR + 1) / 2)] / 1000 }'
}

row() {
    local name=$1
    shift
    local native emu q=n/a
    native=$(median_ms "$@")
    emu=$(median_ms "$mmuemu" run "$@")
    [ -n "$qemu" ] && q=$(median_ms "$qemu" "$@")
    for v in "$native" "$emu" "$q"; do [ "$v" = FAILED ] && failed=1; done
    ratio() { [ "$1" = FAILED ] || [ "$1" = n/a ] || [ "$native" = FAILED ] && echo "-" || awk -v a="$1" -v b="$native" 'BEGIN { printf "%.1fx", a / b }'; }
    printf '%-20s %10s %10s %7s %10s %7s\n' "$name" "$native" "$emu" "$(ratio "$emu")" "$q" "$(ratio "$q")"
}

echo "dynamic start-up, median of $runs runs, milliseconds (ratio to native)"
printf '%-20s %10s %10s %7s %10s %7s\n' program native mmuemu ratio qemu ratio
row "/bin/true" /bin/true
[ -x "$python" ] && row "python3 -c pass" "$python" -c pass
exit "$failed"
