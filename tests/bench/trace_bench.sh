#!/usr/bin/env bash
# Trace performance, measured side by side in one run (Release build; no pass/fail thresholds):
#  - replay speed of access events that hit the TLB (events per second),
#  - recording overhead of --trace on the torture test (ratio to a plain run),
#  - compressed (.zst) versus text size of the same trace,
#  - the cost of --trace-accesses on real programs: a plain run and a run recording every memory
#    operand into a trace file (medians of --runs), their ratio, the access events recorded and
#    events per second of the recording run; with --baseline OTHER_MMUEMU the same recording by
#    another build (an older one) too, and whether its trace is the same bytes,
#  - replay of a huge VMA set (tests/bench/many_vma_trace.py: N unmergeable one-page mappings,
#    faults, guards, mprotects, munmaps) for N = 10k, 100k, 1M, the pages visited in a scattered
#    and in address order: seconds (median of --runs), peak RSS, microseconds per mapping and
#    that cost relative to N = 10k next to log2(N)/log2(10k), what O(N log N) alone would give.
# usage: bash tests/bench/trace_bench.sh [--no-build] [--runs N] [--baseline MMUEMU] [--accesses-only] [--vmas-only]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=1 runs=3 baseline="" accesses_only=0 vmas_only=0
while (($#)); do
    case "$1" in
    --no-build) build=0; shift ;;
    --runs) runs="$2"; shift 2 ;;
    --baseline) baseline="$(realpath "$2")"; shift 2 ;;
    --accesses-only) accesses_only=1; shift ;;
    --vmas-only) vmas_only=1; shift ;;
    *) sed -n '/^# usage:/p' "$0" >&2; exit 2 ;;
    esac
done
((build == 0)) || { cmake --preset bench >/dev/null && cmake --build --preset bench >/dev/null; }
b=build/bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); echo "$e - $s" | bc -l; }

access_cost() {
    TB_BENCH="$PWD/$b" TB_WORK="$work" TB_RUNS="$runs" TB_BASELINE="$baseline" python3 - <<'PY'
import filecmp, os, shutil, statistics, subprocess, tempfile, time
env = os.environ
bench, work, runs, baseline = env["TB_BENCH"], env["TB_WORK"], int(env["TB_RUNS"]), env["TB_BASELINE"]
programs = {
    "sqlite_wal": [f"{bench}/guest/sqlite_wal"],
    "lua_script": [f"{bench}/guest/lua_script"],
    "openssl_digests": [f"{bench}/guest/openssl_digests"],
    "mm_torture": [f"{bench}/guest/mm_torture"],
}
# Every run in a fresh directory (sqlite_wal makes its database there) with the same
# environment, so that runs of one program are the same instructions (lua_script seeds its
# hash tables from the clock: its traces differ from run to run).
clean_env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
clock_seeded = {"lua_script"}

def run(mmuemu, argv, trace=None):
    d = tempfile.mkdtemp(dir=work)
    flags = ["--trace", trace, "--trace-accesses"] if trace else []
    start = time.perf_counter()
    subprocess.run([mmuemu, "run", *flags, *argv], cwd=d, env=clean_env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    secs = time.perf_counter() - start
    shutil.rmtree(d)
    return secs

def events(trace):
    with open(trace, "rb") as f:
        return sum(1 for line in f if line.startswith(b"access "))

head = f"{'program':<18}{'plain s':>9}{'accesses s':>12}{'ratio':>7}{'events':>12}{'events/s':>11}"
if baseline:
    head += f"{'baseline s':>12}{'b. ratio':>9}{'b. events/s':>12}{'same trace':>11}{'speed-up':>9}"
print(head)
for name, argv in programs.items():
    mine, theirs = f"{work}/{name}.trace", f"{work}/{name}.baseline.trace"
    plain = statistics.median(run(f"{bench}/mmuemu", argv) for _ in range(runs))
    def fresh_trace_run():  # truncating the last run's trace would be timed with this one
        if os.path.exists(mine):
            os.remove(mine)
        return run(f"{bench}/mmuemu", argv, mine)
    traced = statistics.median(fresh_trace_run() for _ in range(runs))
    n = events(mine)
    line = f"{name:<18}{plain:>9.3f}{traced:>12.3f}{traced / plain:>7.1f}{n:>12,}{n / traced / 1e6:>10.2f}M"
    if baseline:
        old = run(baseline, argv, theirs)  # one run: the old recorder is slow
        same = "n/a" if name in clock_seeded else "yes" if filecmp.cmp(mine, theirs, shallow=False) else "no"
        line += f"{old:>12.2f}{old / plain:>9.1f}{events(theirs) / old / 1e6:>11.2f}M{same:>11}{old / traced:>9.1f}"
        os.remove(theirs)
    os.remove(mine)
    print(line, flush=True)
PY
}
many_vmas() {
    TB_BENCH="$PWD/$b" TB_WORK="$work" TB_RUNS="$runs" TB_GENERATOR="$PWD/tests/bench/many_vma_trace.py" python3 - <<'PY'
import math, os, statistics, subprocess, time
env = os.environ
bench, work, runs, generator = env["TB_BENCH"], env["TB_WORK"], int(env["TB_RUNS"]), env["TB_GENERATOR"]
sizes = [10_000, 100_000, 1_000_000]

def replay(trace):
    """Wall seconds, CPU seconds and peak RSS (KiB) of one replay, which must succeed."""
    start = time.perf_counter()
    p = subprocess.Popen([f"{bench}/mmuemu", "replay", trace], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0 or b"all outcomes match" not in out:
        raise SystemExit(f"replay of {trace} failed: {out.decode()}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss

print(f"{'order':<11}{'mappings':>11}{'events':>11}{'wall s':>8}{'CPU s':>8}{'peak RSS':>10}{'us/mapping':>12}"
      f"{'cost ratio':>12}{'log ratio':>11}   (us/mapping: CPU time; ratios to 10k)")
for order in ("scattered", "sequential"):
    base = None
    for n in sizes:
        trace = f"{work}/vmas_{order}_{n}.trace"
        subprocess.run(["python3", generator, *(["--sequential"] if order == "sequential" else []), str(n), trace], check=True)
        with open(trace, "rb") as f:
            events = sum(1 for line in f if line[:1] not in (b"#", b"\n"))
        results = [replay(trace) for _ in range(runs)]
        wall = statistics.median(r[0] for r in results)
        cpu = statistics.median(r[1] for r in results)
        rss = max(r[2] for r in results)
        per = cpu / n * 1e6
        base = base or per
        print(f"{order:<11}{n:>11,}{events:>11,}{wall:>8.3f}{cpu:>8.3f}{rss / 1024:>8.0f}MB{per:>12.2f}"
              f"{per / base:>12.2f}{math.log2(n) / math.log2(sizes[0]):>11.2f}", flush=True)
        os.remove(trace)
PY
}
if ((accesses_only)); then access_cost; exit 0; fi
if ((vmas_only)); then many_vmas; exit 0; fi

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

# 4. --trace-accesses on real programs
access_cost

# 5. replay of a huge VMA set
many_vmas
