#!/usr/bin/env bash
# The real-program suite side by side in one run (Release build, build/bench): each program
# natively, under mmuemu (fast and --check) and under Debian's qemu-x86_64, wall-clock medians
# of --runs runs and the ratios. Every run's stdout and exit status must equal the native run's
# (a WARNING line and exit status 1 otherwise). Each run starts in a fresh empty directory.
#
#   busybox sha256sum / bzip2 -c and xz -c (XZ Utils) of a generated 4 MiB file, busybox awk summing
#   it by line
#   guest/sqlite_wal  guest/lua_script  guest/zlib_roundtrip  guest/openssl_digests
#   guest/python_embedded
#   guest/vma_count_limit: 65,530 one-page mmaps up to vm.max_map_count, then unmapped (qemu-user
#   counts its own mappings against the host's limit: its output differs, a NOTE, not a failure)
#
# Every program is run directly, never through a shell: qemu-x86_64 runs the programs a guest
# execs natively (there is no binfmt_misc registration here), so a pipeline under `sh -c` would
# time the host for everything but the shell. (busybox's xz applet only decompresses.)
#
# Usage: tests/bench/compare_real_programs.sh [--runs N] [--no-build]
set -euo pipefail
runs=3
build=1
while (($#)); do
    case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    *) sed -n '/^# Usage:/p' "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
if ((build)); then
    cmake --preset bench >/dev/null
    cmake --build --preset bench --target mmuemu sqlite_wal lua_script zlib_roundtrip openssl_digests python_embedded \
        vma_count_limit
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -c "
import sys
block = bytes((i * 7 + 3) & 0xFF for i in range(251))
open(sys.argv[1], 'wb').write((block * (4 * 4177 + 1))[: 4 << 20])
open(sys.argv[2], 'w').write(''.join(f'{i} {i * i % 977} guard\n' for i in range(60000)))" "$work/data.bin" "$work/lines.txt"

export RP_BENCH="$root/build/bench" RP_WORK="$work" RP_RUNS="$runs" RP_QEMU="$(command -v qemu-x86_64 || true)"
python3 - <<'PY'
import os, shutil, statistics, subprocess, sys, tempfile, time
env = os.environ
bench, work, runs, qemu = env["RP_BENCH"], env["RP_WORK"], int(env["RP_RUNS"]), env["RP_QEMU"]
mmuemu = f"{bench}/mmuemu"
programs = {
    "busybox sha256sum 4 MiB": ["/bin/busybox", "sha256sum", f"{work}/data.bin"],
    "busybox bzip2 4 MiB": ["/bin/busybox", "bzip2", "-c", f"{work}/data.bin"],
    "xz 4 MiB": ["/usr/bin/xz", "-c", f"{work}/data.bin"],
    "busybox awk 60k lines": ["/bin/busybox", "awk", "{s += $2} END {print s, NR}", f"{work}/lines.txt"],
    "sqlite_wal": [f"{bench}/guest/sqlite_wal"],
    "lua_script": [f"{bench}/guest/lua_script"],
    "zlib_roundtrip": [f"{bench}/guest/zlib_roundtrip"],
    "openssl_digests": [f"{bench}/guest/openssl_digests"],
    "python_embedded": [f"{bench}/guest/python_embedded"],
    "65,530 one-page mmaps": [f"{bench}/guest/vma_count_limit"],
}
qemu_differs = {"65,530 one-page mmaps"}
ways = {"native": [], "mmuemu": [mmuemu, "run"], "--check": [mmuemu, "run", "--check"]}
if qemu:
    ways["qemu"] = [qemu]

def run(argv):
    d = tempfile.mkdtemp(dir=work)
    start = time.perf_counter()
    p = subprocess.run(argv, cwd=d, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    secs = time.perf_counter() - start
    shutil.rmtree(d)
    return secs, p.returncode, p.stdout

head = f"{'program':<26}" + "".join(f"{w + ' s':>11}" for w in ways) + f"{'mmuemu/nat':>11}{'check/fast':>11}"
if qemu:
    head += f"{'mmuemu/qemu':>12}"
print(head)
failed = False
for name, argv in programs.items():
    times, native_result = {}, None
    for i in range(runs):
        for way, prefix in ways.items():
            secs, status, out = run(prefix + argv)
            times.setdefault(way, []).append(secs)
            if way == "native":
                native_result = native_result or (status, out)
            elif (status, out) != native_result and way == "qemu" and name in qemu_differs:
                if i == 0:
                    print(f"NOTE: {name} under qemu: output differs from native (expected)")
            elif (status, out) != native_result:
                print(f"WARNING: {name} under {way} (run {i + 1}): exit {status} or stdout differs from native")
                failed = True
    med = {w: statistics.median(t) for w, t in times.items()}
    line = f"{name:<26}" + "".join(f"{med[w]:>11.3f}" for w in ways)
    line += f"{med['mmuemu'] / med['native']:>11.1f}{med['--check'] / med['mmuemu']:>11.2f}"
    if qemu:
        line += f"{med['mmuemu'] / med['qemu']:>12.2f}"
    print(line)
sys.exit(1 if failed else 0)
PY
