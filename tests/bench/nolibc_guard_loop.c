/* nolibc_guard_loop.c - a guard-region syscall loop with no libc (-nostdlib -static, own _start),
 * for compare_emulators.sh: the same code under native Linux, mmuemu, raw Unicorn and qemu-x86_64.
 *
 * Maps 512 pages, then for N iterations (argv[1], default 100000) installs a guard on one page
 * (madvise MADV_GUARD_INSTALL), removes it again (MADV_GUARD_REMOVE) and stores to / loads from
 * the neighbouring page. Prints a checksum and the number of failed madvise calls on stdout and
 * exits 0 (exit status 1 if the mmap fails).
 *
 * stdout does not depend on whether the guards really take effect, so that every runner can be
 * compared with native. Whether they do is printed on stderr ("guards effective: yes|no"): before
 * the loop a value is stored in the guard page; a real guard install zaps the page, so after the
 * remove it reads back as zero. Runners without an MMU (raw Unicorn) or that ignore the advice
 * (qemu-user) keep the value.
 */
#include "nolibc.h"

#define PAGE 4096ul
#define PAGES 512ul
#define GUARD_PAGE 256ul /* the page that is guarded and unguarded */
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103

static void put(int fd, const char *s)
{
    long n = 0;
    while (s[n])
        n++;
    sys6(1, fd, (long)s, n, 0, 0, 0);
}

__attribute__((used, noreturn)) void cmain(u64 *sp)
{
    long argc = (long)sp[0];
    char **argv = (char **)(sp + 1);
    const u64 iterations = parse(argc > 1 ? argv[1] : 0, 100000);
    char *mem = (char *)sys6(9, 0, (long)(PAGES * PAGE), 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    if ((long)mem < 0)
        sys6(231, 1, 0, 0, 0, 0, 0);
    char *guard = mem + GUARD_PAGE * PAGE;
    volatile u64 *neighbour = (volatile u64 *)(guard + PAGE);

    /* Do guards take effect here? (stderr only; see the header comment) */
    *(volatile u64 *)guard = 0x5a5a5a5a5a5a5a5aul;
    long rc_install = sys6(28, (long)guard, (long)PAGE, MADV_GUARD_INSTALL, 0, 0, 0);
    long rc_remove = sys6(28, (long)guard, (long)PAGE, MADV_GUARD_REMOVE, 0, 0, 0);
    int zapped = rc_install == 0 && rc_remove == 0 && *(volatile u64 *)guard == 0;
    put(2, zapped ? "guards effective: yes\n" : "guards effective: no\n");

    u64 sum = 0, failures = 0;
    for (u64 i = 0; i < iterations; i++) {
        if (sys6(28, (long)guard, (long)PAGE, MADV_GUARD_INSTALL, 0, 0, 0) != 0)
            failures++;
        if (sys6(28, (long)guard, (long)PAGE, MADV_GUARD_REMOVE, 0, 0, 0) != 0)
            failures++;
        const u64 slot = i & (PAGE / 8 - 1);
        neighbour[slot] = i * 0x9e3779b97f4a7c15ul;
        sum = (sum << 1 | sum >> 63) ^ neighbour[slot];
    }
    print_hex("checksum ", sum);
    print_hex("madvise failures ", failures);
    sys6(231, 0, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}
