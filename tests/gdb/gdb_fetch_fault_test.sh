#!/usr/bin/env bash
# gdb on an instruction fetch that crosses into a guard page (guest fetch_crosses_page): the
# SIGSEGV stops with the pc at the crossing movabs (3 bytes before the page end, si_addr 3 bytes
# on, the three inc rcx before it done), not at the start of its translated block. A breakpoint
# at the block start then single-steps each instruction of that block (no SIGSEGV while stepping
# the earlier ones), and the step onto the movabs raises the SIGSEGV there. After gdb detaches,
# the guest's handler gets every fault and the program exits 0.
# usage: gdb_fetch_fault_test.sh MMUEMU GUEST(fetch_crosses_page)
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
source "$(dirname "$0")/gdb_common.sh"
start_under_gdb "$guest" "$work/guest.out"

commands=(
    "set pagination off" "set confirm off" "target remote 127.0.0.1:$port"
    "continue"
    "printf \"fault: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    'printf "si_addr - pc: %ld\n", (long) $_siginfo._sifields._sigfault.si_addr - (long) $pc'
    'break *($pc - 13)' "continue"
    "printf \"breakpoint: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "stepi" "printf \"step 1: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "stepi" "printf \"step 2: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "stepi" "printf \"step 3: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "stepi" "printf \"step 4: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "stepi" "printf \"step 5: pc %lx, rcx %ld\\n\", (long) \$pc & 0xfff, (long) \$rcx"
    "delete" "detach"
)
args=()
for c in "${commands[@]}"; do args+=(-ex "$c"); done
timeout 120 gdb -batch -nx "${args[@]}" "$guest" >"$work/gdb.out" 2>&1
wait "$emu"
status=$?

check "stopped on the fetch fault"                "Program received signal SIGSEGV, Segmentation fault"
check "pc at the crossing movabs"                 "^0x[0-9a-f]*ffd in \\?\\? \\(\\)$"
check "the earlier instructions ran"              "^fault: pc ffd, rcx 3$"
check "si_addr is the first byte of the next page" "^si_addr - pc: 3$"
check "breakpoint at the block start"             "^breakpoint: pc ff0, rcx 0$"
check "stepi: first inc rcx"                      "^step 1: pc ff3, rcx 1$"
check "stepi: second inc rcx"                     "^step 2: pc ff6, rcx 2$"
check "stepi: third inc rcx"                      "^step 3: pc ff9, rcx 3$"
check "stepi: add to memory"                      "^step 4: pc ffd, rcx 3$"
check "stepi onto the movabs faults there"        "^step 5: pc ffd, rcx 3$"
if [ "$(grep -c "Program received signal SIGSEGV" "$work/gdb.out")" = 2 ]; then echo "ok   two SIGSEGV stops, none while stepping the earlier instructions"
else echo "FAIL expected exactly two SIGSEGV stops"; failures=$((failures + 1)); fi
# Detached, the guest runs on (thousands more faults) without gdb and exits 0.
if grep -q "^thread 2: 3000 faults, precise: 3000$" "$work/guest.out"; then echo "ok   the guest ran to its end after detach"
else echo "FAIL the guest's last line is missing"; failures=$((failures + 1)); fi
if [ "$status" = 0 ]; then echo "ok   guest exit 0"; else echo "FAIL guest exit $status"; failures=$((failures + 1)); fi
if [ "$failures" -ne 0 ]; then
    echo "--- gdb transcript ---"; cat "$work/gdb.out"; echo "--- mmuemu stderr ---"; head -20 "$work/guest.err"
fi
echo "$((13 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
