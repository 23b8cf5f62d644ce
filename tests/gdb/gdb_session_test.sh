#!/usr/bin/env bash
# Drives Debian's real gdb in batch mode against `mmuemu run --gdb`: break at main, step, read
# registers and memory, stop on the guard-page fault with $_siginfo naming the exact address and
# the pc at the faulting instruction, `monitor pte` naming the guard marker, `x` on the guard page
# failing, `signal 0` suppressing the signal, then continue to the guest's real death by SIGSEGV
# (exit status 139).
# usage: gdb_session_test.sh MMUEMU GUEST(guard_overflow_dies)
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
source "$(dirname "$0")/gdb_common.sh"
start_under_gdb "$guest"

# -ex commands: unlike a sourced file, an error (the guard page read) does not end the session.
commands=(
    "set pagination off" "set confirm off" "target remote 127.0.0.1:$port"
    "break main" "continue" "stepi" "info registers rip" 'x/2xg $sp' "next" "continue"
    'p $_siginfo.si_signo' 'p $_siginfo.si_code'
    'p $_siginfo._sifields._sigfault.si_addr == (void *) &p[len]' 'x/i $pc'
    'eval "monitor pte 0x%lx", (long) $_siginfo._sifields._sigfault.si_addr'
    "monitor vmas" 'x/1xb $_siginfo._sifields._sigfault.si_addr' "signal 0" "continue"
)
args=()
for c in "${commands[@]}"; do args+=(-ex "$c"); done
timeout 120 gdb -batch -nx "${args[@]}" "$guest" >"$work/gdb.out" 2>&1
wait "$emu"
status=$?

check "stopped at the main breakpoint"        "Breakpoint 1, main \\(\\) at .*guard_overflow_dies.c"
check "stepi executed one instruction"        "^rip +0x[0-9a-f]+ +0x[0-9a-f]+ <main\\+1>"
check "memory read at the stack pointer"      "^0x7ffffff[0-9a-f]+:[[:space:]]+0x[0-9a-f]{16}"
check "stopped on the guard fault"            "Program received signal SIGSEGV, Segmentation fault"
check "si_signo is SIGSEGV"                   "^\\\$1 = 11$"
check "si_code is SEGV_MAPERR"                "^\\\$2 = 1$"
check "si_addr is the first guard byte"       "^\\\$3 = 1$"
check "pc at the faulting store"              "=> 0x[0-9a-f]+ <main\\+[0-9]+>:[[:space:]]+movb +\\\$0x21"
check "monitor pte names the guard marker"    "PTE  \\[[ 0-9]+\\] [0-9a-f]{16}  guard marker"
check "x on the guard page fails"             "Cannot access memory at address 0x7ffff"
check "monitor vmas lists the mappings"       "rw-p 00000000 00:00 0"
check "continue delivers the signal"          "Program terminated with signal SIGSEGV"
# `signal 0` suppresses the fault: the store runs again and faults again, as on a native process.
if [ "$(grep -c "Program received signal SIGSEGV" "$work/gdb.out")" = 2 ]; then echo "ok   signal 0 re-executes the faulting store"
else echo "FAIL signal 0 should stop on the same fault again"; failures=$((failures + 1)); fi
if [ "$status" = 139 ]; then echo "ok   guest died by SIGSEGV (139)"; else echo "FAIL guest exit $status"; failures=$((failures + 1)); fi
if [ "$failures" -ne 0 ]; then
    echo "--- gdb transcript ---"; cat "$work/gdb.out"; echo "--- mmuemu stderr ---"; head -20 "$work/guest.err"
fi
echo "$((14 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
