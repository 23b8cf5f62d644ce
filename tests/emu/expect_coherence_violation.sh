#!/usr/bin/env bash
# A checker test: runs `MMUEMU run ARGS...` (a run with a fault injected) and passes only when it
# stops with exit status 70 and "MMU coherence violation" followed by text matching PATTERN (an
# extended regular expression) on stderr.
# usage: expect_coherence_violation.sh PATTERN MMUEMU ARGS...
set -u
pattern=$1 mmuemu=$2
shift 2
err=$(mktemp)
trap 'rm -f "$err"' EXIT
"$mmuemu" run "$@" >/dev/null 2>"$err"
status=$?
cat "$err"
if [ "$status" != 70 ]; then
    echo "FAIL: exit status $status, expected 70 (an MMU coherence violation)"
    exit 1
fi
if ! grep -Eq "MMU coherence violation: .*($pattern)" "$err"; then
    echo "FAIL: no 'MMU coherence violation' report matching: $pattern"
    exit 1
fi
echo "caught: $(grep -Eo "MMU coherence violation: .*" "$err" | head -1)"
