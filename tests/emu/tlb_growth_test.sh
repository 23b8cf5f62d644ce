#!/usr/bin/env bash
# Unicorn's soft TLB grows only when it is flushed: a program whose working set outgrows it
# without system calls must still get a bigger TLB (mmuemu flushes after many fills), or it
# refills the same pages forever. busybox bzip2 of 1 MiB sorts blocks of 900 kB in several MiB
# of tables: without the resize flushes it took 13.5 million TLB fills, with them 190,000. The
# compressed output must also be the native one.
# usage: tlb_growth_test.sh MMUEMU BUSYBOX
set -u
mmuemu=$1 busybox=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -c "
import sys
block = bytes((i * 7 + 3) & 0xFF for i in range(251))
open(sys.argv[1], 'wb').write((block * 4200)[: 1 << 20])" "$work/data.bin"
"$busybox" bzip2 -c "$work/data.bin" > "$work/native.bz2"
"$mmuemu" run --stats "$busybox" bzip2 -c "$work/data.bin" > "$work/mmuemu.bz2" 2> "$work/stats"
status=$?
fail=0
[ "$status" = 0 ] || { echo "mmuemu exited with status $status"; cat "$work/stats"; fail=1; }
cmp -s "$work/native.bz2" "$work/mmuemu.bz2" || { echo "the compressed output differs from native"; fail=1; }
fills=$(sed -n 's/.*Unicorn: TLB fills \([0-9]*\),.*/\1/p' "$work/stats")
limit=1000000
if [ -z "$fills" ]; then
    echo "no 'Unicorn: TLB fills' line in --stats"; fail=1
elif [ "$fills" -ge "$limit" ]; then
    echo "Unicorn's TLB was refilled $fills times (limit $limit): it did not grow"; fail=1
fi
[ $fail = 0 ] && echo "busybox bzip2 of 1 MiB: $fills TLB fills (limit $limit), output as native"
exit $fail
