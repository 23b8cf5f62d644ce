#!/usr/bin/env bash
# Real programs under mmuemu without a check, with --check and with --check=accesses, side by
# side (Release build, build/bench): wall-clock medians and the ratios to the unchecked run.
# Every run's stdout and exit status must equal the unchecked run's (a WARNING row otherwise,
# and exit status 1). Each run starts in a fresh empty directory (sqlite_wal makes its database
# in the current one).
#
#   sha256   busybox sha256sum of a generated 10 MiB file
#   sqlite   guest/sqlite_wal (on-disk SQLite in WAL mode, a forked writer)
#   lua      guest/lua_script      zlib   guest/zlib_roundtrip      openssl   guest/openssl_digests
#
# Usage: tests/bench/compare_check_modes.sh [--runs N] [--accesses-runs N] [--no-build]
set -euo pipefail
runs=3
accesses_runs=""
build=1
while (($#)); do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --accesses-runs) accesses_runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '/^# Usage:/p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done
accesses_runs="${accesses_runs:-$runs}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if ((build)); then
    cmake --preset bench >/dev/null
    cmake --build --preset bench --target mmuemu sqlite_wal lua_script zlib_roundtrip openssl_digests
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -c "
import sys
block = bytes((i * 7 + 3) & 0xFF for i in range(251))
open(sys.argv[1], 'wb').write((block * (10 * 4177 + 1))[: 10 << 20])" "$work/data.bin"

export CM_BENCH="$root/build/bench" CM_WORK="$work" CM_RUNS="$runs" CM_ACCESSES_RUNS="$accesses_runs"
python3 - <<'PY'
import os, shutil, statistics, subprocess, tempfile, time
env = os.environ
bench, work = env["CM_BENCH"], env["CM_WORK"]
runs, accesses_runs = int(env["CM_RUNS"]), int(env["CM_ACCESSES_RUNS"])
mmuemu = f"{bench}/mmuemu"
programs = {
    "busybox sha256sum 10 MiB": ["/bin/busybox", "sha256sum", f"{work}/data.bin"],
    "sqlite_wal": [f"{bench}/guest/sqlite_wal"],
    "lua_script": [f"{bench}/guest/lua_script"],
    "zlib_roundtrip": [f"{bench}/guest/zlib_roundtrip"],
    "openssl_digests": [f"{bench}/guest/openssl_digests"],
}
modes = {"fast": [], "check": ["--check"], "accesses": ["--check=accesses"]}

def run(argv):
    d = tempfile.mkdtemp(dir=work)
    start = time.perf_counter()
    p = subprocess.run(argv, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    secs = time.perf_counter() - start
    shutil.rmtree(d)
    return secs, p.returncode, p.stdout

print(f"{'program':<28}{'mmuemu s':>10}{'--check s':>11}{'=accesses s':>13}{'check/fast':>12}{'access/fast':>13}")
failed = False
for name, argv in programs.items():
    times, ref, warnings = {}, None, []
    for i in range(max(runs, accesses_runs)):
        for mode, flags in modes.items():
            if i >= (accesses_runs if mode == "accesses" else runs):
                continue
            secs, status, out = run([mmuemu, "run", *flags, *argv])
            times.setdefault(mode, []).append(secs)
            if ref is None:
                ref = (status, out)
            elif (status, out) != ref:
                warnings.append(f"{mode} run {i + 1}: exit {status} or stdout differs from the first run")
    med = {m: statistics.median(t) for m, t in times.items()}
    print(f"{name:<28}{med['fast']:>10.3f}{med['check']:>11.3f}{med['accesses']:>13.3f}"
          f"{med['check'] / med['fast']:>12.2f}{med['accesses'] / med['fast']:>13.2f}")
    for w in warnings:
        print(f"  WARNING {w}")
        failed = True
print(f"(medians of {runs} runs, {accesses_runs} for --check=accesses)")
raise SystemExit(1 if failed else 0)
PY
