#!/usr/bin/env bash
# The guest sees a generated /proc and only the /dev devices it is given: guest/proc_dev_escape
# tries to reach the host's procfs and device nodes (links to them, host-wide /proc files, its
# own running program, kernel addresses through /proc/self/mem) and to leave --root through
# /proc/self/{fd,cwd,root} plus "..". Every answer is the one README's isolation rules give
# (ENOENT for what the guest is not given, EPERM, ETXTBSY, EIO); the expected outputs were
# checked line by line against those rules. Runs with the host view and with --root.
# usage: proc_dev_escape_test.sh MMUEMU PROC_DEV_ESCAPE_GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0
mkdir -p "$work/host" "$work/root"
(cd "$work/host" && "$mmuemu" run --check "$guest" host) >"$work/host.out" 2>"$work/host.err" || fail=1
cp "$guest" "$work/root/proc_dev_escape"
(cd "$work/root" && "$mmuemu" run --check --root "$work/root" "$work/root/proc_dev_escape" root) \
    >"$work/root.out" 2>"$work/root.err" || fail=1
for mode in host root; do
    if ! diff "$here/proc_dev_escape.$mode.expected" "$work/$mode.out"; then
        echo "the $mode view differs from the expected answers (above)"
        fail=1
    fi
done
[ $fail = 0 ] && echo "every attempt refused as expected: $(cat "$work"/*.out | wc -l) lines" || cat "$work"/*.err
exit $fail
