#!/usr/bin/env bash
# Re-records the golden traces after an intended change of behaviour:
#   bash tests/traces/rebless.sh            (uses build/default; build it first)
# Review the result with `git diff --stat tests/traces/golden` and `mmuemu trace diff OLD NEW`.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/default}
root=$(pwd)
while read -r program; do
    case "$program" in ''|'#'*) continue ;; esac
    # Run as ./NAME with an empty environment: the initial stack depends on both.
    (cd "$build/guest" && "$root/$build/mmuemu" run --clear-env \
        --trace "$root/tests/traces/golden/$program.trace.zst" "./$program" >/dev/null 2>&1 </dev/null) || true
    echo "recorded tests/traces/golden/$program.trace.zst"
done < tests/traces/golden_programs.txt
