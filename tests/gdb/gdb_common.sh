# Shared by the gdb tests (sourced): a scratch directory, mmuemu started with its stub on a free
# loopback port, and the transcript check.
#   start_under_gdb GUEST [STDOUT_FILE]   sets $work, $port, $emu
#   check DESCRIPTION REGEX               the transcript $work/gdb.out must match; counts $failures
work=$(mktemp -d)
failures=0
trap 'kill $emu 2>/dev/null; rm -rf "$work"' EXIT

start_under_gdb() {
    local guest=$1 out=${2:-/dev/null}
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$mmuemu" run --gdb "$port" "$guest" >"$out" 2>"$work/guest.err" </dev/null &
    emu=$!
    for _ in $(seq 50); do grep -q "waiting for gdb" "$work/guest.err" 2>/dev/null && break; sleep 0.1; done
}

check() {
    if grep -Eq -- "$2" "$work/gdb.out"; then echo "ok   $1"; else echo "FAIL $1 (no /$2/)"; failures=$((failures + 1)); fi
}
