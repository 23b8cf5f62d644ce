/* nolibc_strace_calls.c - a fixed sequence of raw system calls for the --strace golden test
 * (tests/emu/strace_test.sh): a write, a failing openat, an anonymous mmap, a guard install, a
 * write and an openat whose buffers are in the guard page, a read from stdin, a write from NULL,
 * and exit_group(3). No libc, so nothing else is called.
 */
#include "nolibc.h"

void cmain(u64 *sp)
{
    (void)sp;
    sys6(1 /* write */, 1, (long)"hello\n", 6, 0, 0, 0);
    sys6(257 /* openat */, -100 /* AT_FDCWD */, (long)"/nonexistent/file", 02000000 /* O_CLOEXEC */, 0, 0, 0);
    char *area = (char *)sys6(9 /* mmap */, 0, 0x3000, 3 /* PROT_READ|PROT_WRITE */,
                              0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
    sys6(28 /* madvise */, (long)(area + 0x1000), 0x1000, 102 /* MADV_GUARD_INSTALL */, 0, 0, 0);
    sys6(1 /* write */, 1, (long)(area + 0x1000), 4, 0, 0, 0);
    sys6(257 /* openat */, -100, (long)(area + 0x1000), 0, 0, 0, 0);
    sys6(0 /* read */, 0, (long)area, 8, 0, 0, 0);
    sys6(1 /* write */, 1, 0, 1, 0, 0, 0);
    sys6(231 /* exit_group */, 3, 0, 0, 0, 0, 0);
}
