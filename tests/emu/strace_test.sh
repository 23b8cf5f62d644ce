#!/usr/bin/env bash
# --strace against the real strace on the host kernel: guest/nolibc_strace_calls makes a fixed
# sequence of raw system calls; `mmuemu run --strace` must print the same calls, arguments and
# results as `strace` does natively, once addresses (ASLR puts them anywhere from 0x7e.. to
# 0x7f..: every long hex number is one), strace's column
# padding and the names strace 6.1 does not know yet (MADV_GUARD_INSTALL) are normalized. Pointers
# into the guard page and NULL must be marked as such by mmuemu.
# usage: strace_test.sh MMUEMU GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v strace >/dev/null || { echo "strace not found: install it (tests/install_dependencies.sh)"; exit 1; }
normalize() {
    grep -v -e '^execve(' -e '^+++ ' "$1" |
        sed -E -e 's/ +\(guard page\)//g' -e 's/ +\(unmapped\)//g' -e 's/ +=/ =/' \
            -e 's/0x66 \/\* MADV_\?\?\? \*\//MADV_GUARD_INSTALL/' -e 's/0x[0-9a-f]{8,}/ADDR/g'
}
fail=0
# Twice: stdout a file (the bad buffers are EFAULT) and /dev/null (which never reads them).
for out in "$work/stdout" /dev/null; do
    strace -o "$work/native.raw" "$guest" </dev/null >"$out"
    "$mmuemu" run --strace "$guest" </dev/null >"$out" 2>"$work/emu.raw"
    if ! diff <(normalize "$work/native.raw") <(normalize "$work/emu.raw"); then
        echo "mmuemu --strace differs from strace with stdout $out (native <  > mmuemu, normalized)"
        fail=1
    fi
    cp "$work/emu.raw" "$work/emu.$(basename "$out").raw"
done
for want in 'write\(1, 0x[0-9a-f]+ \(guard page\), 4\) = -1 EFAULT' 'openat\(AT_FDCWD, 0x[0-9a-f]+ \(guard page\), O_RDONLY\)' \
            'write\(1, NULL, 1\) = -1 EFAULT' 'madvise\(0x[0-9a-f]+, 4096, MADV_GUARD_INSTALL\) = 0'; do
    grep -Eq "$want" "$work/emu.stdout.raw" || { echo "missing in mmuemu's output: $want"; fail=1; }
done
[ $fail = 0 ] && echo "same calls as strace, twice: $(wc -l <"$work/emu.raw") lines" || { echo "--- mmuemu:"; cat "$work"/emu.*.raw; }
exit $fail
