#!/usr/bin/env bash
# The trace commands end to end: --trace-accesses recording replays; `trace stats` reports
# counts, faults, flushes, peak RSS and VMA count; `trace diff` finds the first semantic
# difference (and ignores comments and spacing).
# usage: commands_test.sh MMUEMU TOUCH_MEMORY_GUEST GOLDEN_TRACE
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2") golden=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=0 failures=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$mmuemu" run --trace "$work/acc.trace" --trace-accesses "$guest" 1 1 >/dev/null 2>&1
grep -q "^access 1 0x" "$work/acc.trace" && ok || fail "--trace-accesses records access events"
"$mmuemu" replay "$work/acc.trace" >/dev/null 2>"$work/err" && ok || fail "access trace replays: $(cat "$work/err")"
"$mmuemu" run --trace "$work/fills.trace" --trace-fills "$guest" 1 1 >/dev/null 2>&1
grep -q "^fill 1 0x" "$work/fills.trace" && "$mmuemu" replay "$work/fills.trace" >/dev/null 2>&1 && ok ||
    fail "--trace-fills records fills that replay"
# A dynamic program: ld.so maps its libraries with mmap(2), whose page cache is read on first use
# (the trace's PAGES is 0 there and PGOFF beyond it).
"$mmuemu" run --trace "$work/dyn.trace" --trace-accesses /bin/ls -la /usr >/dev/null 2>&1
grep -q "^mmap-file 1 0x[0-9a-f]* 0x[0-9a-f]* r-x PRIVATE|FIXED|DENYWRITE 0x[1-9a-f][0-9a-f]* 0 libc.so.6 " "$work/dyn.trace" &&
    "$mmuemu" replay "$work/dyn.trace" >/dev/null 2>"$work/err" && ok ||
    fail "a dynamic program's trace (libc mapped by ld.so) replays: $(cat "$work/err")"
# A shell that forks and execs: the exec'd program's address space is recorded from the loader's
# first mapping on.
"$mmuemu" run --trace "$work/exec.trace" --trace-accesses /bin/busybox sh -c 'echo a | cat' >/dev/null 2>&1
[ "$(grep -c '^as ' "$work/exec.trace")" -ge 2 ] && "$mmuemu" replay "$work/exec.trace" >/dev/null 2>"$work/err" && ok ||
    fail "a trace with fork and exec replays: $(cat "$work/err")"
# Dynamic programs exec'd by a dynamic shell: every process maps libc's one page cache (its
# frames, hence the recorded physical addresses, are shared).
"$mmuemu" run --trace "$work/dynexec.trace" --trace-accesses /bin/sh -c 'ls /usr | wc -l' >/dev/null 2>&1
[ "$(grep -c '^as ' "$work/dynexec.trace")" -ge 3 ] && "$mmuemu" replay "$work/dynexec.trace" >/dev/null 2>"$work/err" && ok ||
    fail "a dynamic shell's pipeline replays: $(cat "$work/err")"

"$mmuemu" trace stats "$golden" >"$work/stats" 2>&1
grep -q "faults by outcome" "$work/stats" && grep -q "TLB flushes: " "$work/stats" &&
    grep -Eq "peak RSS [0-9]+ KiB, peak VMA count [0-9]+" "$work/stats" && ok || fail "trace stats: $(cat "$work/stats")"

zstd -q -d -c "$golden" >"$work/a.trace"
sed 's/^\(madvise .*\)GUARD_INSTALL -> 0$/\1GUARD_INSTALL   ->   0   # spacing and comments do not matter/' \
    "$work/a.trace" >"$work/same.trace"
"$mmuemu" trace diff "$golden" "$work/same.trace" >/dev/null && ok || fail "diff ignores formatting"
line=$(grep -n "^madvise" "$work/a.trace" | head -1 | cut -d: -f1)
sed "${line}s/-> 0$/-> -EINVAL/" "$work/a.trace" >"$work/changed.trace"
"$mmuemu" trace diff "$golden" "$work/changed.trace" >"$work/out"; status=$?
[ $status = 1 ] && grep -q "changed.trace:$line: madvise .* -> -EINVAL" "$work/out" && ok ||
    fail "diff reports the first difference at line $line: exit $status $(cat "$work/out")"
"$mmuemu" replay "$work/changed.trace" >/dev/null 2>"$work/err"; status=$?
[ $status = 1 ] && grep -q "changed.trace:$line:" "$work/err" && ok || fail "replay reports the divergence"
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
