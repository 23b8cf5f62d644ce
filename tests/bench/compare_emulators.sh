#!/usr/bin/env bash
# Runs the same guest programs natively, under mmuemu (fast mode, --check and --check=accesses),
# under raw Unicorn
# (raw_unicorn_runner: plain Unicorn 2.1, flat identity mapping, no MMU, no virtual TLB) and under
# Debian's qemu-x86_64, side by side in one run, and prints wall-clock medians and ratios:
#
#   touch    build/bench/guest/nolibc_touch_memory MiB ROUNDS   loads and stores over 64 MiB
#   guard    build/bench/tests/bench/nolibc_guard_loop N        madvise guard install + remove loop
#   sha256   busybox sha256sum FILE                             a generated 64 MiB file (raw
#                                                              Unicorn cannot run busybox: n/a)
#
# Every run's stdout and exit status are compared with the native run's; a difference shows as a
# WARNING row under the workload (and the script exits 1). Nothing is asserted about the times.
# Runs are interleaved (run 1 of every runner, then run 2, ...) after one untimed native run per
# workload that gives the reference output and warms the page cache.
#
# Usage: tests/bench/compare_emulators.sh [options]
#   --runs N            timed runs per cell, the median is shown (default 3)
#   --check-runs N      timed runs for the mmuemu --check=accesses cells (default: --runs). It
#                       takes minutes per run on sha256 of 64 MiB; --check-runs 1 saves most of that
#   --touch-mib N       (default 64)       --touch-rounds N   (default 8)
#   --guard-iters N     (default 1000000)  --sha-mib N        (default 64)
#   --only LIST         comma-separated workloads to run: touch,guard,sha256 (default all)
#   --raw-vtlb          add a column: raw Unicorn in UC_TLB_VIRTUAL mode (identity, no callback)
#   --timeout SECONDS   per run (default 1800); a run that times out is a failure
#   --no-build          do not configure/build the bench preset first
set -euo pipefail

runs=3
check_runs=""
touch_mib=64
touch_rounds=8
guard_iters=1000000
sha_mib=64
only="touch,guard,sha256"
raw_vtlb=0
timeout=1800
build=1
usage() { sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --check-runs) check_runs="$2"; shift 2 ;;
    --touch-mib) touch_mib="$2"; shift 2 ;;
    --touch-rounds) touch_rounds="$2"; shift 2 ;;
    --guard-iters) guard_iters="$2"; shift 2 ;;
    --sha-mib) sha_mib="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --raw-vtlb) raw_vtlb=1; shift ;;
    --timeout) timeout="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) usage ;;
    esac
done
check_runs="${check_runs:-$runs}"
for n in "$runs" "$check_runs" "$touch_mib" "$touch_rounds" "$guard_iters" "$sha_mib" "$timeout"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "$0: not a positive integer: $n" >&2; exit 2; }
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if ((build)); then
    cmake --preset bench >/dev/null
    # Only what this script runs, so that unrelated work in progress cannot stop it.
    if ! cmake --build --preset bench --target mmuemu nolibc_touch_memory nolibc_guard_loop \
        raw_unicorn_runner; then
        echo "$0: build failed; --no-build measures the binaries already in build/bench" >&2
        exit 1
    fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [[ ",$only," == *",sha256,"* ]]; then
    # Deterministic, not all-zero content: a 251-byte pattern (251 is prime, so it never lines up
    # with pages or SHA-256 blocks) repeated to the size.
    python3 - "$work/data.bin" "$sha_mib" <<'EOF'
import sys
path, mib = sys.argv[1], int(sys.argv[2])
block = bytes((i * 7 + 3) & 0xFF for i in range(251))
chunk = block * 4177  # 1048427 bytes, a whole number of pattern periods
remaining = mib << 20
with open(path, "wb") as f:
    while remaining:
        n = min(remaining, len(chunk))
        f.write(chunk[:n])
        remaining -= n
EOF
fi

export CE_ROOT="$root" CE_WORK="$work" CE_RUNS="$runs" CE_CHECK_RUNS="$check_runs" \
    CE_TOUCH_MIB="$touch_mib" CE_TOUCH_ROUNDS="$touch_rounds" CE_GUARD_ITERS="$guard_iters" \
    CE_SHA_MIB="$sha_mib" CE_ONLY="$only" CE_RAW_VTLB="$raw_vtlb" CE_TIMEOUT="$timeout"
python3 - <<'EOF'
import os
import shutil
import statistics
import subprocess
import sys
import time

env = os.environ
root, work = env["CE_ROOT"], env["CE_WORK"]
runs, check_runs, timeout = int(env["CE_RUNS"]), int(env["CE_CHECK_RUNS"]), int(env["CE_TIMEOUT"])
bench = f"{root}/build/bench"
mmuemu = f"{bench}/mmuemu"
raw = f"{bench}/tests/bench/raw_unicorn_runner"
qemu = shutil.which("qemu-x86_64")
busybox = "/bin/busybox"

for path in (mmuemu, raw, f"{bench}/guest/nolibc_touch_memory", f"{bench}/tests/bench/nolibc_guard_loop"):
    if not os.access(path, os.X_OK):
        sys.exit(f"missing {path}: build the bench preset (or drop --no-build)")

# Runners: column key -> (header, command prefix or None when not available).
RUNNERS = {
    "native": ("native s", []),
    "fast": ("mmuemu s", [mmuemu, "run"]),
    "check": ("--check s", [mmuemu, "run", "--check"]),
    "accesses": ("=accesses s", [mmuemu, "run", "--check=accesses"]),
    "raw": ("raw uc s", [raw]),
}
if env["CE_RAW_VTLB"] == "1":
    RUNNERS["rawv"] = ("raw vtlb s", [raw, "--virtual-tlb"])
RUNNERS["qemu"] = ("qemu s", [qemu] if qemu else None)

WORKLOADS = {
    "touch": (f"touch {env['CE_TOUCH_MIB']}MiB x{env['CE_TOUCH_ROUNDS']}",
              [f"{bench}/guest/nolibc_touch_memory", env["CE_TOUCH_MIB"], env["CE_TOUCH_ROUNDS"]], set()),
    "guard": (f"guard loop x{env['CE_GUARD_ITERS']}",
              [f"{bench}/tests/bench/nolibc_guard_loop", env["CE_GUARD_ITERS"]], set()),
    # busybox is a glibc-static program (TLS, brk, many syscalls): beyond raw_unicorn_runner.
    "sha256": (f"busybox sha256sum {env['CE_SHA_MIB']}MiB",
               [busybox, "sha256sum", f"{work}/data.bin"], {"raw", "rawv"}),
}
selected = [w.strip() for w in env["CE_ONLY"].split(",") if w.strip()]
for w in selected:
    if w not in WORKLOADS:
        sys.exit(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
if "sha256" in selected and not os.access(busybox, os.X_OK):
    sys.exit(f"{busybox} not found (Debian: busybox-static)")


def run(cmd):
    """(seconds, exit status, stdout, stderr) of one run; exit status None on timeout."""
    start = time.perf_counter()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return time.perf_counter() - start, None, e.stdout or b"", e.stderr or b""
    elapsed = time.perf_counter() - start
    status = p.returncode if p.returncode >= 0 else 128 - p.returncode  # as a shell reports it
    return elapsed, status, p.stdout, p.stderr


def short(data, limit=60):
    text = data.decode(errors="replace").strip().replace("\n", " | ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


times = {}        # (workload, runner) -> [seconds]
failed = set()    # (workload, runner) with any run whose output differed from native
warnings = {}     # workload -> [warning lines]
stderr_notes = {} # (workload, runner) -> first-seen stderr lines, in order
for w in selected:
    label, argv, unsupported = WORKLOADS[w]
    warnings[w] = []
    print(f"[{w}] reference run (native, untimed): {' '.join(argv)}", file=sys.stderr, flush=True)
    _, ref_status, ref_out, _ = run(argv)
    if ref_status != 0:
        warnings[w].append(f"native exit status {ref_status} (expected 0)")
    for i in range(max(runs, check_runs)):
        for key, (_, prefix) in RUNNERS.items():
            if prefix is None or key in unsupported or i >= (check_runs if key == "accesses" else runs):
                continue
            secs, status, out, err = run(prefix + argv)
            times.setdefault((w, key), []).append(secs)
            shown = "timeout" if status is None else f"{secs:.3f}s"
            print(f"[{w}] run {i + 1} {key:<6} {shown}", file=sys.stderr, flush=True)
            notes = stderr_notes.setdefault((w, key), [])
            for line in err.decode(errors="replace").splitlines():
                if line and line not in notes:
                    notes.append(line)
            problem = None
            if status is None:
                problem = f"timed out after {timeout}s"
            elif status != ref_status:
                problem = f"exit status {status}, native {ref_status}"
            elif out != ref_out:
                problem = f"stdout {short(out)!r}, native {short(ref_out)!r}"
            if problem:
                failed.add((w, key))
                warnings[w].append(f"run {i + 1} {key}: {problem}")


def median(w, key):
    t = times.get((w, key))
    return statistics.median(t) if t else None


def cell(w, key):
    if RUNNERS[key][1] is None:
        return "missing"
    if key in WORKLOADS[w][2]:
        return "n/a"
    m = median(w, key)
    return "-" if m is None else f"{m:.3f}" + ("!" if (w, key) in failed else "")


def ratio(w, a, b):
    ma, mb = median(w, a), median(w, b)
    if ma is None or mb is None or mb <= 0:
        return "n/a"
    return f"{ma / mb:.2f}" + ("!" if (w, a) in failed or (w, b) in failed else "")


cols = list(RUNNERS)
ratio_cols = [("mmuemu/raw", "fast", "raw"), ("mmuemu/qemu", "fast", "qemu"), ("check/fast", "check", "fast"),
              ("access/fast", "accesses", "fast")]
if "rawv" in RUNNERS:
    ratio_cols.insert(1, ("mmuemu/rawv", "fast", "rawv"))
header = f"{'workload':<30}" + "".join(f"{RUNNERS[k][0]:>12}" for k in cols) + \
    "".join(f"{name:>13}" for name, _, _ in ratio_cols)
print()
print(f"== wall-clock seconds, median of {runs} runs ({check_runs} for --check=accesses); "
      "ratios of those medians ==")
print(header)
print("-" * len(header))
for w in selected:
    print(f"{WORKLOADS[w][0]:<30}" + "".join(f"{cell(w, k):>12}" for k in cols) +
          "".join(f"{ratio(w, w_a, w_b):>13}" for _, w_a, w_b in ratio_cols))
    for line in warnings[w]:
        print(f"  WARNING {line}")
print()
print("Notes:")
print("  raw uc = raw_unicorn_runner: plain Unicorn 2.1 (default UC_TLB_CPU mode), one flat identity-mapped")
print("    region, no MMU. madvise is a no-op returning 0, so its guard installs/removes do nothing;")
print("    busybox (glibc static: TLS, brk, file I/O) is beyond its few system calls: n/a.")
if "rawv" in RUNNERS:
    print("  raw vtlb = the same runner with --virtual-tlb (UC_TLB_VIRTUAL, no callback: identity).")
if any(failed):
    print("  '!' marks a cell (or ratio) with a run whose stdout or exit status differed from native.")
if qemu:
    version = subprocess.run([qemu, "--version"], stdout=subprocess.PIPE, text=True).stdout.splitlines()
    print(f"  qemu: {qemu}, {version[0] if version else '?'}")
else:
    print("  qemu-x86_64 not found (Debian: qemu-user): its column shows 'missing'.")
for w in selected:
    for key in cols:
        notes = stderr_notes.get((w, key))
        if notes:
            print(f"  stderr {w}/{key}: " + "; ".join(notes[:4]) + (" ..." if len(notes) > 4 else ""))
sys.exit(1 if failed or any(warnings.values()) else 0)
EOF
