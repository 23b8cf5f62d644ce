#!/usr/bin/env bash
# Host-side misuse gets one clear line naming the file or flag, and a shell-like exit status:
# 127 for a missing program, 126 for one that cannot be run, 2 for bad flags. Never a crash.
# usage: cli_and_loader_errors.sh MMUEMU GUEST_PROGRAM MEMORY_HUNGRY_GUEST
set -u
mmuemu=$(realpath "$1") guest=$(realpath "$2") hungry=$(realpath "$3")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0 passes=0

# expect NAME STATUS REGEX -- ARGS...: exit status and the first stderr line must match.
expect() {
    local name=$1 status=$2 pattern=$3
    shift 4
    "$mmuemu" "$@" >"$work/out" 2>"$work/err" </dev/null
    local got=$?
    local line
    line=$(head -n 1 "$work/err")
    if [ "$got" = "$status" ] && grep -Eq -- "$pattern" <<<"$line"; then
        passes=$((passes + 1))
    else
        echo "FAIL $name: exit $got (want $status), stderr: '$line' (want /$pattern/)"
        failures=$((failures + 1))
    fi
}

printf 'just text\n' >"$work/text"
head -c 100 "$guest" >"$work/truncated"
cp "$guest" "$work/wrong_arch" && printf '\x03\x00' | dd of="$work/wrong_arch" bs=1 seek=18 conv=notrunc 2>/dev/null
cp "$guest" "$work/bad_phoff" && printf '\xff\xff\xff\x7f' | dd of="$work/bad_phoff" bs=1 seek=32 conv=notrunc 2>/dev/null
chmod +x "$work"/*

expect missing-file      127 "mmuemu: .*/nope: No such file or directory" -- run "$work/nope"
expect not-elf           126 "mmuemu: .*/text: not an ELF executable" -- run "$work/text"
expect truncated         126 "mmuemu: .*/truncated: truncated or corrupt ELF" -- run "$work/truncated"
expect wrong-arch        126 "mmuemu: .*/wrong_arch: wrong architecture" -- run "$work/wrong_arch"
expect bad-phoff         126 "mmuemu: .*/bad_phoff: truncated or corrupt ELF" -- run "$work/bad_phoff"
# A dynamic program's interpreter (PT_INTERP) is looked up inside the guest's root.
mkdir -p "$work/noldso" "$work/badldso/lib64"
printf 'not an ELF file\n' >"$work/badldso/lib64/ld-linux-x86-64.so.2"
chmod +x "$work/badldso/lib64/ld-linux-x86-64.so.2"
expect interp-missing    127 "mmuemu: /lib64/ld-linux-x86-64.so.2 \(the interpreter of /bin/true, looked up in the guest root .*/noldso\): No such file or directory" -- run --root "$work/noldso" /bin/true
expect interp-not-elf    126 "mmuemu: .*/ld-linux-x86-64.so.2: not an ELF executable \(the interpreter of /bin/true\)" -- run --root "$work/badldso" /bin/true
expect dynamic-runs      0   "^$" -- run /bin/true
# ld.so reads the environment mmuemu gives (--env): a library path with a broken libc.so.6.
mkdir -p "$work/badlib" && printf 'short' >"$work/badlib/libc.so.6"
expect ld-library-path   127 "error while loading shared libraries: .*/badlib/libc.so.6: file too short" -- run --env LD_LIBRARY_PATH="$work/badlib" /bin/true
expect unknown-flag      2   "mmuemu: .*--frobnicate" -- run --frobnicate "$guest"
expect bad-ram           2   "mmuemu: --ram: 'lots' is not a size" -- run --ram lots "$guest"
expect tiny-ram          2   "mmuemu: --ram: .* must be between" -- run --ram 4K "$guest"
expect bad-env           2   "mmuemu: --env: 'NOEQUALS' is not K=V" -- run --env NOEQUALS "$guest"
expect ram-overflow      2   "mmuemu: --ram: '17179869185G' must be between" -- run --ram 17179869185G "$guest"
expect port-too-big      2   "mmuemu: --gdb-listen: '99999999999' is not a port" -- run --gdb-listen 127.0.0.1:99999999999 "$guest"
expect port-not-number   2   "mmuemu: --gdb-listen: 'abc' is not a port" -- run --gdb-listen 127.0.0.1:abc "$guest"
expect port-out-of-range 2   "mmuemu: --gdb: port 70000 is out of range" -- run --gdb 70000 "$guest"
expect port-zero         2   "mmuemu: --gdb: port 0 is out of range" -- run --gdb 0 "$guest"
expect no-address        2   "mmuemu: --gdb-listen: '' is not an IPv4 or IPv6 address" -- run --gdb-listen :1234 "$guest"
expect cpus-zero         2   "mmuemu: --cpus: must be between 1 and 64" -- run --cpus 0 "$guest"
expect unknown-command   2   "mmuemu: unknown command 'walk'" -- walk "$guest"
expect missing-program   2   "mmuemu: run: missing PROGRAM" -- run
expect ram-too-small     137 "the guest needs more memory than the guest RAM \(--ram 2 MiB\)" -- run --ram 2M "$hungry" 8
expect max-insns         124 "mmuemu: stopped after 1000 instructions \(--max-insns\)" -- run --max-insns 1000 "$hungry"
# --root: the guest sees DIR as /.
mkdir -p "$work/root/etc" && echo "inside the guest root" >"$work/root/etc/motd"
out=$("$mmuemu" run --root "$work/root" /bin/busybox cat /etc/motd 2>&1)
[ "$out" = "inside the guest root" ] && passes=$((passes + 1)) || { echo "FAIL --root: '$out'"; failures=$((failures + 1)); }
"$mmuemu" --help >"$work/out" 2>&1 && grep -q "usage: mmuemu run" "$work/out" && passes=$((passes + 1)) ||
    { echo "FAIL help"; failures=$((failures + 1)); }
"$mmuemu" --version | grep -q "^mmuemu [0-9]" && passes=$((passes + 1)) ||
    { echo "FAIL version"; failures=$((failures + 1)); }

echo "$passes passed, $failures failed"
[ "$failures" -eq 0 ]
