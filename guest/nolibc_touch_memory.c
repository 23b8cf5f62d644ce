/* nolibc_touch_memory.c - a memory-bound guest with no libc: maps N MiB (argv[1], default 64),
 * stores to and loads from every 64-byte line of it for R rounds (argv[2], default 4), prints a
 * checksum and exits 0. Used by the benchmarks (the same code under mmuemu, raw Unicorn and
 * qemu-x86_64) and to check that a guest asking for more memory than --ram gets a clear error.
 */
#include "nolibc.h"

__attribute__((used, noreturn)) void cmain(u64 *sp)
{
    long argc = (long)sp[0];
    char **argv = (char **)(sp + 1);
    const u64 mib = parse(argc > 1 ? argv[1] : 0, 64), rounds = parse(argc > 2 ? argv[2] : 0, 4);
    const u64 bytes = mib << 20;
    volatile u64 *mem = (volatile u64 *)sys6(9, 0, (long)bytes, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    if ((long)mem < 0)
        sys6(231, 1, 0, 0, 0, 0, 0);
    u64 sum = 0;
    for (u64 r = 0; r < rounds; r++) {
        for (u64 i = 0; i < bytes / 8; i += 8)
            mem[i] = i ^ r;
        for (u64 i = 0; i < bytes / 8; i += 8)
            sum += mem[i];
    }
    print_hex("checksum ", sum);
    sys6(231, 0, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}
