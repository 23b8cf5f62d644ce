#!/usr/bin/env bash
# gdb without the program file: it reads the executable's path from the stub (qXfer:exec-file),
# breaks at main, and a hardware watchpoint (Z2) stops after the store that changes the value.
# `monitor trace on FILE` records from there on (a snapshot first) and the trace replays.
# usage: gdb_without_program_file_test.sh MMUEMU GUEST(guard_walkthrough)
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
work=$(mktemp -d)
trap 'kill $emu 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$mmuemu" run --gdb "$port" "$guest" >/dev/null 2>"$work/guest.err" </dev/null &
emu=$!
for _ in $(seq 50); do grep -q "waiting for gdb" "$work/guest.err" 2>/dev/null && break; sleep 0.1; done
timeout 120 gdb -batch -nx -ex "target remote 127.0.0.1:$port" -ex 'break main' -ex 'continue' \
    -ex 'info symbol $pc' -ex "monitor trace on $work/mid.trace" -ex 'watch *(int*)($sp - 64)' \
    -ex 'continue' -ex 'delete' -ex 'next' -ex 'next' -ex 'monitor trace off' -ex 'kill' >"$work/gdb.out" 2>&1
wait "$emu"
failures=0
check() { if grep -Eq -- "$2" "$work/gdb.out"; then echo "ok   $1"; else echo "FAIL $1 (no /$2/)"; failures=$((failures + 1)); fi; }
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
