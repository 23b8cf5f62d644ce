#!/usr/bin/env bash
# Bad trace input: every case must end with exit status 2 and one message naming FILE:LINE and
# what was expected (or the file and what is wrong with it), never a crash.
# usage: bad_input_test.sh MMUEMU
set -u
mmuemu=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=0 failures=0

case_() {  # case_ NAME REGEX CONTENT: replays CONTENT, expects exit 2 and REGEX on stderr
    local name=$1 pattern=$2
    printf '%b' "$3" >"$work/$name.trace"
    "$mmuemu" replay "$work/$name.trace" >/dev/null 2>"$work/err"
    local status=$?
    if [ "$status" = 2 ] && grep -Eq -- "$pattern" "$work/err"; then
        passes=$((passes + 1))
    else
        echo "FAIL $name: exit $status, stderr: $(head -c 300 "$work/err")"
        failures=$((failures + 1))
    fi
}
h='mmuemu-trace 1\nas 1\n'
case_ unknown-event    "unknown-event.trace:3: expected a known event .*got 'frobnicate'" "${h}frobnicate 1 2 3\n"
case_ bad-number       "bad-number.trace:3: expected a number .*got '0xzz'" "${h}munmap 1 0xzz 0x1000\n"
case_ missing-field    "missing-field.trace:3: expected mmap AS ADDR LEN PROT FLAGS" "${h}mmap 1 0x1000 0x1000\n"
case_ bad-prot         "bad-prot.trace:3: expected a protection like rw-" "${h}mprotect 1 0x1000 0x1000 rwz\n"
case_ bad-advice       "bad-advice.trace:3: expected a madvise advice name" "${h}madvise 1 0x1000 0x1000 GUARD_EVERYTHING\n"
case_ bad-access       "bad-access.trace:3: expected an access kind" "${h}fault 1 0x1000 jump\n"
case_ no-such-space    "no-such-space.trace:3: expected an existing address space, but 7 was never created" "${h}munmap 7 0x1000 0x1000\n"
case_ bad-version      "bad-version.trace:1: expected mmuemu-trace 1" "mmuemu-trace 9\n"
case_ bad-result       "bad-result.trace:3: expected an errno name" "${h}munmap 1 0x1000 0x1000 -> -EWHATEVER\n"
case_ duplicate-space  "duplicate-space.trace:3: expected a new address space id" "${h}as 1\n"
# Hostile sizes and counts are refused against explicit limits (they once aborted or took GBs).
case_ huge-poke        "huge-poke.trace:3: expected a poke of at most 16 MiB" "${h}poke 1 0x1000 99999999999\n"
case_ huge-special     "huge-special.trace:3: expected a special mapping of at most 1 MiB" "${h}special 1 0x1000 r-x 0xffffffffff [x]\n"
case_ huge-file        "huge-file.trace:3: expected PAGES at most the replay's RAM" "${h}mmap-file 1 0 0x1000 r-- PRIVATE 0 99999999999 f\n"
case_ huge-pgoff       "huge-pgoff.trace:3: expected PAGES at most the replay's RAM .* and PGOFF at most 16777216" "${h}mmap-file 1 0 0x1000 r-- PRIVATE 0x1000001 0 f\n"
case_ bad-limit        "bad-limit.trace:3: expected limit AS max_map_count N" "${h}limit 1 max_vmas 10\n"
case_ huge-limit       "huge-limit.trace:3: expected a max_map_count of at most 4000000 \\(the replay's bound on host memory\\)" "${h}limit 1 max_map_count 4000001\n"
case_ no-header        "no-header.trace:1: expected the header 'mmuemu-trace 1' on the first line" "as 1\n"
case_ empty            "empty.trace: empty trace" ""
forks="${h}"; for i in $(seq 2 19); do forks+="fork 1 -> $i\n"; done
printf '%b' "$forks" >"$work/forks.trace"
"$mmuemu" replay "$work/forks.trace" >/dev/null 2>"$work/err" && passes=$((passes + 1)) ||
    { echo "FAIL 18 forks: $(cat "$work/err")"; failures=$((failures + 1)); }
{ echo "mmuemu-trace 1"; for i in $(seq 5000); do echo "as $i"; done; } >"$work/spaces.trace"
"$mmuemu" replay "$work/spaces.trace" >/dev/null 2>"$work/err"; s=$?
if [ $s = 2 ] && grep -q "spaces.trace:4098: expected at most 4096 address spaces" "$work/err"; then passes=$((passes + 1));
else echo "FAIL too many address spaces: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
"$mmuemu" replay "$work" >/dev/null 2>"$work/err"; s=$?
if [ $s = 2 ] && grep -q "is a directory, not a trace file" "$work/err"; then passes=$((passes + 1));
else echo "FAIL directory: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
# Compressed input: truncated and corrupt frames.
printf 'mmuemu-trace 1\nas 1\n' > "$work/ok.trace"
for i in $(seq 2000); do echo "mmap 1 0x10000000 0x1000 rw- PRIVATE|ANONYMOUS|FIXED -> 0x10000000"; done >> "$work/ok.trace"
zstd -q -f "$work/ok.trace" -o "$work/ok.trace.zst"
head -c 100 "$work/ok.trace.zst" > "$work/truncated.trace.zst"
"$mmuemu" replay "$work/truncated.trace.zst" >/dev/null 2>"$work/err"; s=$?
if [ $s = 2 ] && grep -q "truncated.trace.zst:.*truncated compressed trace" "$work/err"; then passes=$((passes + 1)); else echo "FAIL truncated-zst: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
cp "$work/ok.trace.zst" "$work/corrupt.trace.zst"
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$work/corrupt.trace.zst" bs=1 seek=20 conv=notrunc 2>/dev/null
"$mmuemu" replay "$work/corrupt.trace.zst" >/dev/null 2>"$work/err"; s=$?
# Corruption is caught by zstd (checksum, bad block) or, when it decodes to text, by the parser.
if [ $s = 2 ] && grep -Eq "corrupt.trace.zst:[0-9]+: (corrupt compressed trace|expected )" "$work/err"; then passes=$((passes + 1)); else echo "FAIL corrupt-zst: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
"$mmuemu" replay "$work/ok.trace.zst" >/dev/null 2>&1 && passes=$((passes + 1)) || { echo "FAIL valid zst"; failures=$((failures + 1)); }
"$mmuemu" replay "$work/missing.trace" >/dev/null 2>"$work/err"; s=$?
if [ $s = 2 ] && grep -q "missing.trace: cannot open trace file" "$work/err"; then passes=$((passes + 1)); else echo "FAIL missing: exit $s"; failures=$((failures + 1)); fi
# A divergence is exit 1 with file:line, expected and got.
printf "${h}mmap 1 0x10000000 0x1000 rw- PRIVATE|ANONYMOUS|FIXED -> 0x20000000\n" > "$work/diverge.trace"
"$mmuemu" replay "$work/diverge.trace" >/dev/null 2>"$work/err"; s=$?
if [ $s = 1 ] && grep -q "diverge.trace:3:" "$work/err" && grep -q "expected: 0x20000000" "$work/err" && grep -q "got:      0x10000000" "$work/err"; then passes=$((passes + 1)); else echo "FAIL divergence: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
# Populating or locking a 64 TiB mapping is bounded by the replay's RAM (--ram): it ends when the
# page tables have used it up, without memory beyond it (RSS checked) and in seconds.
printf "${h}mmap 1 0x100000000 0x400000000000 rw- PRIVATE|ANONYMOUS|FIXED|NORESERVE -> 0x100000000\nmadvise 1 0x100000000 0x400000000000 POPULATE_READ -> ?\nmlockall 1 1 -> ?\n" > "$work/populate.trace"
/usr/bin/time -o "$work/rss" -f "%M" timeout 60 "$mmuemu" replay --ram 32M "$work/populate.trace" >/dev/null 2>"$work/err"; s=$?
rss=$(tail -1 "$work/rss")
if [ "$s" = 0 ] && [ -n "$rss" ] && [ "$rss" -lt 200000 ]; then passes=$((passes + 1)); else echo "FAIL populate 64 TiB with --ram 32M: exit $s, RSS ${rss} KiB $(cat "$work/err")"; failures=$((failures + 1)); fi
"$mmuemu" replay --ram 12Q "$work/populate.trace" >/dev/null 2>"$work/err"; s=$?
if [ $s = 2 ] && grep -q "^mmuemu: --ram: unknown unit in '12Q'$" "$work/err"; then passes=$((passes + 1)); else echo "FAIL replay --ram 12Q: exit $s $(cat "$work/err")"; failures=$((failures + 1)); fi
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
