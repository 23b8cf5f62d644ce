#!/usr/bin/env bash
# "#!" scripts as the program mmuemu runs: each runs natively (the kernel's binfmt_script) and
# under `mmuemu run --check`, and stdout and exit status must be identical — a plain script, one
# whose interpreter has an argument, `#!/usr/bin/env sh`, and a script whose interpreter is itself
# a script. A "#!" line naming nothing and a directory are refused with a one-line message and
# status 126.
# usage: script_programs_test.sh MMUEMU
set -u
mmuemu=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

printf '#!/bin/sh\necho "sh: $0 [$*]"\nexit 3\n' >plain.sh
printf '#!/bin/sh -e\necho "with -e: $0 [$*]"; false; echo not reached\n' >with_arg.sh
printf '#!/usr/bin/env sh\necho "env: $0 [$*]"\n' >via_env.sh
printf '#!%s/plain.sh inner-arg\n' "$work" >nested.sh
printf '#!\n' >empty.sh
chmod +x ./*.sh

fail=0
for script in plain.sh with_arg.sh via_env.sh nested.sh; do
    native=$("./$script" one "two words" 2>/dev/null; echo "status $?")
    emu=$("$mmuemu" run --check "./$script" one "two words" 2>/dev/null; echo "status $?")
    if [ "$native" != "$emu" ]; then
        printf '%s differs:\n  native: %s\n  mmuemu: %s\n' "$script" "$native" "$emu"
        fail=1
    else
        echo "$script: identical ($(echo "$native" | tr '\n' ' '))"
    fi
done

expect_refusal() {  # what, pattern, command...
    local what=$1 pattern=$2
    shift 2
    local out status
    out=$("$@" 2>&1 >/dev/null)
    status=$?
    if [ "$status" != 126 ] || ! grep -qE "$pattern" <<<"$out" || [ "$(wc -l <<<"$out")" != 1 ]; then
        printf '%s: status %s, message: %s\n' "$what" "$status" "$out"
        fail=1
    else
        echo "$what: refused ($out)"
    fi
}
expect_refusal "a #! line without an interpreter" 'empty\.sh: "#!" names no interpreter' "$mmuemu" run ./empty.sh
expect_refusal "a directory" "$work: not a regular file \(a directory\)" "$mmuemu" run "$work"
exit $fail
