#!/usr/bin/env bash
# --trace-accesses records the memory operands guest/trace_access_operands.c makes at addresses
# it chose (so the expectations below come from the program, not from mmuemu): each kind of
# operand, and one instruction whose bytes change between runs (by a guest store, by read(), by a
# new mapping, across a page boundary, and from no memory operand to one) gives each new address
# once, never a stale one. The trace then replays (the recorded translations agree with the MMU
# model).
# usage: access_events_test.sh MMUEMU GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passes=0 failures=0
ok() { passes=$((passes + 1)); }
fail() { echo "FAIL $1"; failures=$((failures + 1)); }

"$mmuemu" run --trace "$work/t.trace" --trace-accesses "$guest" >"$work/out" 2>&1 &&
    grep -q "load from nothing mapped: SIGSEGV SEGV_MAPERR" "$work/out" && ok || fail "the guest runs: $(cat "$work/out")"

# An event "access 1 ADDR SIZE KIND -> PADDR" that found a translation.
mapped() { grep -q "^access 1 $1 $2 $3 -> 0x[0-9a-f]*$" "$work/t.trace" && ok || fail "no mapped event: $1 $2 $3"; }
mapped 0x20000100 8 write   # through a base register
mapped 0x2000021c 4 read    # base + index * 4 + 0x10
mapped 0x20000300 1 read    # through %ecx (the upper half of %rcx ignored)
mapped 0x20000400 8 read    # movsq's source
mapped 0x20000500 8 write   # movsq's destination
mapped 0x20000600 8 read    # a read-modify-write: both
mapped 0x20000600 8 write
mapped 0x20000708 8 read    # gs-relative
mapped 0x21000147 8 read    # rip-relative, in code at 0x21000040
grep -q "^access 1 0xdead" "$work/t.trace" && fail "a 32-bit address register counted its upper half" || ok

# One instruction, four displacements: four stores, in order, each once.
lines=""
for addr in 0x20000800 0x20000808 0x20000810 0x20000818 0x20000900 0x20000908 0x20000a00 0x20000a08; do
    count=$(grep -c "^access 1 $addr 8 write -> 0x" "$work/t.trace")
    [ "$count" = 1 ] && ok || fail "rewritten code: $count stores recorded at $addr, expected 1"
    lines="$lines $(grep -n "^access 1 $addr 8 write -> 0x" "$work/t.trace" | head -1 | cut -d: -f1)"
done
sorted=$(echo $lines | tr ' ' '\n' | sort -n | tr '\n' ' ')
[ "$(echo $lines)" = "$(echo $sorted)" ] && ok || fail "rewritten code: the stores are out of order (lines$lines)"

grep -q "^access 1 0x22000010 1 write -> unmapped$" "$work/t.trace" && ok || fail "a store into a read-only page is not refused"
grep -q "^access 1 0x23000020 1 read -> unmapped$" "$work/t.trace" && ok || fail "a load from nothing mapped is not refused"

"$mmuemu" replay "$work/t.trace" >/dev/null 2>"$work/err" && ok || fail "the trace replays: $(cat "$work/err")"
echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
