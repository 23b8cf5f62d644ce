#!/usr/bin/env bash
# Builds the Release `bench` preset, runs mmu_bench (mmuemu) and native_guard_bench (the same
# guard-region and fault-in sequences on the host kernel), and prints them side by side:
# operation, mmuemu ns/op, host kernel ns/op, and the ratio mmuemu / host.
#
# Usage: tests/bench/compare_guard_ops.sh [--min-time SECONDS]   (default 0.5, for both sides)
# Times are wall-clock (mmu_bench real_time, CLOCK_MONOTONIC on the host side).
set -euo pipefail

min_time=0.5
while (($#)); do
    case "$1" in
    --min-time) min_time="$2"; shift 2 ;;
    *) echo "usage: $0 [--min-time SECONDS]" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
cmake --preset bench >/dev/null
cmake --build --preset bench
bin="$root/build/bench/tests/bench"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== mmu_bench (mmuemu) =="
# Exit status ignored here: a benchmark that failed shows as an error row in the table.
"$bin/mmu_bench" --benchmark_min_time="$min_time" \
    --benchmark_out="$out/mmu.json" --benchmark_out_format=json || true
echo
echo "== native_guard_bench (host kernel) =="
"$bin/native_guard_bench" --min-time "$min_time" | tee "$out/native.txt" || true
echo

python3 - "$out/mmu.json" "$out/native.txt" <<'EOF'
import json
import re
import sys

# (row label, mmu_bench name, native_guard_bench name); None where one side has no counterpart.
ROWS = [("translate/tlb_hit", "translate/tlb_hit", None),
        ("translate/walk", "translate/walk", None),
        ("fault_in/write (MMU only)", "fault_in/write", None),
        ("fault_in/write+store", "fault_in/write+store", "fault_in/touch")]
for op in ("guard_install", "guard_remove", "guard_install+remove"):
    for contents in ("empty", "populated"):
        for pages in (1, 512):
            name = f"{op}/{pages}/{contents}"
            ROWS.append((name, name, name))
ROWS += [("fork/10000/redirty", "fork/10000/redirty", None),
         ("fork/10000/steady", "fork/10000/steady", None)]

SCALE = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def load_mmu(path):
    """mmu_bench JSON: name -> ns/op (real time), or an error string."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        sys.exit(f"cannot read mmu_bench results: {e}")
    results = {}
    for b in data["benchmarks"]:
        name = re.sub(r"/iterations:\d+$", "", b["name"])  # fixed-iteration benchmarks
        if b.get("error_occurred"):
            results[name] = "error: " + b.get("error_message", "?")
        else:
            results[name] = b["real_time"] * SCALE[b.get("time_unit", "ns")]
    return results


def load_native(path):
    """native_guard_bench table: name -> ns/op, or an error string."""
    results = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            if not fields or line.startswith("#") or fields[0] == "operation":
                continue
            if fields[1] == "error":
                results[fields[0]] = "error: " + " ".join(fields[3:])
            else:
                results[fields[0]] = float(fields[1])
    return results


def cell(value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return "error"
    return f"{value:.1f}"


mmu = load_mmu(sys.argv[1])
native = load_native(sys.argv[2])
print("== mmuemu vs host kernel (ns/op, wall clock; ratio = mmuemu / host) ==")
print(f"{'operation':<34} {'mmuemu':>12} {'host kernel':>12} {'ratio':>8}")
errors = []
for label, mmu_name, native_name in ROWS:
    m = mmu.get(mmu_name, "error: not run") if mmu_name else None
    n = native.get(native_name, "error: not run") if native_name else None
    for side, name, value in (("mmuemu", mmu_name, m), ("host", native_name, n)):
        if isinstance(value, str):
            errors.append(f"{side} {name}: {value}")
    ratio = f"{m / n:.2f}" if isinstance(m, float) and isinstance(n, float) and n > 0 else "-"
    print(f"{label:<34} {cell(m):>12} {cell(n):>12} {ratio:>8}")
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF
