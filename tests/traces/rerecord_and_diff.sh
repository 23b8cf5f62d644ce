#!/usr/bin/env bash
# Re-records a guest program's trace and diffs it against the golden file.
# usage: rerecord_and_diff.sh MMUEMU GUEST GOLDEN
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2") golden=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The same command line and an empty environment as when the golden file was recorded: the
# initial stack (and so every stack address) depends on them.
(cd "$(dirname "$guest")" && "$mmuemu" run --clear-env --trace "$work/fresh.trace" "./$(basename "$guest")" \
    >/dev/null 2>&1 </dev/null)
"$mmuemu" trace diff "$golden" "$work/fresh.trace" || {
    echo "the behaviour changed; if intended, re-bless with: bash tests/traces/rebless.sh"
    exit 1
}
