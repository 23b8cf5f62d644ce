#!/usr/bin/env bash
# gdb sees the guest's threads: thread_guard_stacks overflows one thread's guarded stack; gdb
# (Debian's, batch mode) stops on the SIGSEGV with the faulting thread selected, `info threads`
# lists the main thread blocked in pthread_join and the faulting thread, `bt` of the faulting
# thread shows its recursion, `thread 1` switches to main's registers (main in pthread_join).
# A breakpoint in a thread function stops in that thread first; `thread 3` + `stepi` steps that
# thread (vCont;s:TID), which stays selected. The guest's own handler returns
# after resetting SIGSEGV, so the second continue ends it by the signal.
# usage: gdb_threads_test.sh MMUEMU GUEST(thread_guard_stacks)
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
source "$(dirname "$0")/gdb_common.sh"
start_under_gdb "$guest"

commands=(
    "set pagination off" "set confirm off" "target remote 127.0.0.1:$port"
    "break normal_thread" "continue" "info threads" "bt 1" "thread 3" "stepi" "info threads" "delete"
    "continue" "info threads" "bt 3" 'p $_siginfo.si_signo' 'p $_siginfo.si_code'
    "thread 1" "bt 8" "continue" "continue"
)
args=()
for c in "${commands[@]}"; do args+=(-ex "$c"); done
timeout 120 gdb -batch -nx "${args[@]}" "$guest" >"$work/gdb.out" 2>&1
wait "$emu"
status=$?

check "breakpoint in a thread function"        "Thread [0-9]+ hit Breakpoint 1, normal_thread"
check "info threads lists two threads or more" "^\\* 2 +Thread [0-9]+"
check "stepi of another thread steps it"       "^\\* 3 +Thread [0-9]+ .* in clone3 \\(\\)"
check "the fault stops in a thread"            "Thread [0-9]+ received signal SIGSEGV"
check "bt of the faulting thread"              "^#1 .* in recurse_then_walk"
check "si_signo is SIGSEGV"                    "^\\\$1 = 11$"
check "si_code is SEGV_MAPERR"                 "^\\\$2 = 1$"
check "thread 1 is selected"                   "Switching to thread 1 "
check "main is waiting in pthread_join"        "in main \\(\\) at .*thread_guard_stacks.c"
check "continue delivers the signal"           "Program terminated with signal SIGSEGV"
# More than one thread in the list while the overflowing thread runs.
if [ "$(grep -Ec '^[* ] +[0-9]+ +Thread ' "$work/gdb.out")" -ge 3 ]; then echo "ok   several threads listed"
else echo "FAIL expected several 'Thread' lines in info threads"; failures=$((failures + 1)); fi
if [ "$status" = 139 ]; then echo "ok   guest died by SIGSEGV (139)"; else echo "FAIL guest exit $status"; failures=$((failures + 1)); fi
if [ "$failures" -ne 0 ]; then
    echo "--- gdb transcript ---"; cat "$work/gdb.out"; echo "--- mmuemu stderr ---"; head -20 "$work/guest.err"
fi
echo "$((12 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
