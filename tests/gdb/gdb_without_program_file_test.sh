#!/usr/bin/env bash
# gdb without the program file: it reads the executable's path from the stub (qXfer:exec-file),
# breaks at main, and a hardware watchpoint (Z2) stops after the store that changes the value.
# `monitor trace on FILE` records from there on (a snapshot first) and the trace replays.
# usage: gdb_without_program_file_test.sh MMUEMU GUEST(guard_walkthrough)
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
source "$(dirname "$0")/gdb_common.sh"
start_under_gdb "$guest"
timeout 120 gdb -batch -nx -ex "target remote 127.0.0.1:$port" -ex 'break main' -ex 'continue' \
    -ex 'info symbol $pc' -ex "monitor trace on $work/mid.trace" -ex 'watch *(int*)($sp - 64)' \
    -ex 'continue' -ex 'delete' -ex 'next' -ex 'next' -ex 'monitor trace off' -ex 'kill' >"$work/gdb.out" 2>&1
wait "$emu"
check "symbols read from the exec-file the stub named" "Reading symbols from $guest"
check "stopped at main"                                "Breakpoint 1, main \\(\\)"
check "pc resolved to main"                            "^main in section .text"
check "hardware watchpoint set"                        "^(Hardware )?[Ww]atchpoint 2: "
check "watchpoint reported the change"                 "^New value = "
check "monitor trace on started a trace"              "recording the MMU trace to "
check "monitor trace off stopped it"                  "^trace stopped"
if "$mmuemu" replay "$work/mid.trace" >"$work/replay.out" 2>&1; then echo "ok   the mid-run trace replays"
else echo "FAIL the mid-run trace does not replay: $(cat "$work/replay.out")"; failures=$((failures + 1)); fi
[ "$failures" -ne 0 ] && cat "$work/gdb.out"
echo "$((8 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
