/* guard_errors.c - error returns of MADV_GUARD_INSTALL / MADV_GUARD_REMOVE.
 *
 * mlock'd ranges: install EINVAL (nothing discarded), remove OK; MLOCK_ONFAULT ranges too.
 * Holes: ENOMEM after applying the advice to the mapped parts (also when the range starts in a
 * hole, and for a range that is only a hole). MADV_POPULATE_READ/WRITE over a guard: EFAULT
 * after populating the pages before it. mseal: read-only / PROT_NONE sealed anonymous mappings
 * refuse install (EPERM) but allow remove; sealed writable or shared ones accept it.
 * Arguments: unaligned start, wrapping or huge lengths, unknown advice; the vDSO/vvar special
 * mappings (EINVAL) and the vsyscall page (not a VMA: ENOMEM).
 */
#include "guest_util.h"
#include <sys/auxv.h>

static long sys_mseal(void *a, size_t len) { return syscall(SYS_mseal, a, len, 0L); }

int main(void)
{
    probe_init();
    char *b;

    out("-- mlock --\n");
    b = map_anon(2, PROT_READ | PROT_WRITE);
    memset(b, 0x22, 2 * PG);
    EXPECT_SYS("mlock", mlock(b, 2 * PG), "0");
    EXPECT_SYS("install on mlock'd", madvise(b, PG, MADV_GUARD_INSTALL), "-1 EINVAL");
    expect("p0 pagemap (nothing zapped)", PM(b), "g=0 p=1");
    expect("p0 read", PROBE_R(b, b), OKVAL(0x22));
    EXPECT_SYS("remove on mlock'd", madvise(b, 2 * PG, MADV_GUARD_REMOVE), "0");
    EXPECT_SYS("munlock", munlock(b, 2 * PG), "0");
    EXPECT_SYS("install after munlock", madvise(b, PG, MADV_GUARD_INSTALL), "0");
    munmap(b, 2 * PG);
    b = map_anon(2, PROT_READ | PROT_WRITE);
    EXPECT_SYS("mlock2(MLOCK_ONFAULT)", mlock2(b, 2 * PG, MLOCK_ONFAULT), "0");
    EXPECT_SYS("install on MLOCK_ONFAULT range", madvise(b, PG, MADV_GUARD_INSTALL),
               "-1 EINVAL");
    EXPECT_SYS("remove on MLOCK_ONFAULT range", madvise(b, PG, MADV_GUARD_REMOVE), "0");
    munlock(b, 2 * PG);
    munmap(b, 2 * PG);

    out("-- holes --\n");
    b = map_anon(4, PROT_READ | PROT_WRITE);
    memset(b, 0x33, 4 * PG);
    munmap(b + 2 * PG, PG);
    EXPECT_SYS("install p0..p3 with hole at p2", madvise(b, 4 * PG, MADV_GUARD_INSTALL),
               "-1 ENOMEM");
    expectf("guards p0 p1 p3", "g=1 g=1 g=1", "g=%d g=%d g=%d", pm_guard(b), pm_guard(b + PG),
            pm_guard(b + 3 * PG));
    expect("p3 read", PROBE_R(b + 3 * PG, b), MAPERR_AT(3 * PG));
    EXPECT_SYS("remove p0..p3 with hole", madvise(b, 4 * PG, MADV_GUARD_REMOVE), "-1 ENOMEM");
    expectf("guards p0 p1 p3", "g=0 g=0 g=0", "g=%d g=%d g=%d", pm_guard(b), pm_guard(b + PG),
            pm_guard(b + 3 * PG));
    EXPECT_SYS("install p2..p3 (starts in the hole)",
               madvise(b + 2 * PG, 2 * PG, MADV_GUARD_INSTALL), "-1 ENOMEM");
    expect("p3 guard", PM(b + 3 * PG), "g=1 p=0");
    EXPECT_SYS("install on the hole only", madvise(b + 2 * PG, PG, MADV_GUARD_INSTALL),
               "-1 ENOMEM");
    EXPECT_SYS("remove on the hole only", madvise(b + 2 * PG, PG, MADV_GUARD_REMOVE),
               "-1 ENOMEM");
    munmap(b, 4 * PG);

    out("-- populate over a guard --\n");
    b = map_anon(3, PROT_READ | PROT_WRITE);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("MADV_POPULATE_READ p0..p2", madvise(b, 3 * PG, MADV_POPULATE_READ), "-1 EFAULT");
    expectf("pagemap p0 | p2", "g=0 p=1 | g=0 p=0", "%s | %s", PM(b), PM(b + 2 * PG));
    madvise(b, PG, MADV_DONTNEED);
    EXPECT_SYS("MADV_POPULATE_WRITE p0..p2", madvise(b, 3 * PG, MADV_POPULATE_WRITE),
               "-1 EFAULT");
    expectf("pagemap p0 | p2", "g=0 p=1 | g=0 p=0", "%s | %s", PM(b), PM(b + 2 * PG));
    EXPECT_SYS("MADV_POPULATE_READ guard only", madvise(b + PG, PG, MADV_POPULATE_READ),
               "-1 EFAULT");
    EXPECT_SYS("MADV_WILLNEED over the guard", madvise(b, 3 * PG, MADV_WILLNEED), "0");
    expect("p1 still guarded", PM(b + PG), "g=1 p=0");
    munmap(b, 3 * PG);
    b = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
             -1, 0);
    expectf("MAP_POPULATE mapping, pagemap p0 p1", "g=0 p=1 | g=0 p=1", "%s | %s", PM(b),
            PM(b + PG));
    munmap(b, 3 * PG);

    out("-- mseal --\n");
    b = map_anon(2, PROT_READ);
    EXPECT_SYS("mseal read-only anon", sys_mseal(b, 2 * PG), "0");
    EXPECT_SYS("install on sealed read-only", madvise(b, PG, MADV_GUARD_INSTALL), "-1 EPERM");
    expect("pagemap", PM(b), "g=0 p=0");
    EXPECT_SYS("remove on sealed read-only", madvise(b, PG, MADV_GUARD_REMOVE), "0");
    EXPECT_SYS("DONTNEED on sealed read-only", madvise(b, PG, MADV_DONTNEED), "-1 EPERM");
    b = map_anon(2, PROT_READ | PROT_WRITE);
    EXPECT_SYS("mseal read-write anon", sys_mseal(b, 2 * PG), "0");
    EXPECT_SYS("install on sealed read-write", madvise(b, PG, MADV_GUARD_INSTALL), "0");
    expect("read", PROBE_R(b + 1, b), MAPERR_AT(1));
    EXPECT_SYS("remove on sealed read-write", madvise(b, PG, MADV_GUARD_REMOVE), "0");
    expect("read after remove", PROBE_R(b + 1, b), OKVAL(0));
    EXPECT_SYS("munmap sealed", munmap(b, 2 * PG), "-1 EPERM");
    b = map_anon(1, PROT_NONE);
    EXPECT_SYS("mseal PROT_NONE anon", sys_mseal(b, PG), "0");
    EXPECT_SYS("install on sealed PROT_NONE", madvise(b, PG, MADV_GUARD_INSTALL), "-1 EPERM");
    b = mmap(NULL, PG, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    EXPECT_SYS("mseal read-only shared anon", sys_mseal(b, PG), "0");
    EXPECT_SYS("install on sealed read-only shared", madvise(b, PG, MADV_GUARD_INSTALL), "0");

    out("-- arguments --\n");
    b = map_anon(2, PROT_READ | PROT_WRITE);
    EXPECT_SYS("unaligned start", madvise(b + 1, PG, MADV_GUARD_INSTALL), "-1 EINVAL");
    EXPECT_SYS("unaligned start, len 0", madvise(b + 1, 0, MADV_GUARD_INSTALL), "-1 EINVAL");
    EXPECT_SYS("len 0", madvise(b, 0, MADV_GUARD_INSTALL), "0");
    expect("pagemap p0 after len 0", PM(b), "g=0 p=0");
    EXPECT_SYS("len ~0", madvise(b, ~0UL, MADV_GUARD_INSTALL), "-1 EINVAL");
    EXPECT_SYS("len ~0-4095 (wraps)", madvise(b, ~0UL - 4095, MADV_GUARD_INSTALL), "-1 EINVAL");
    EXPECT_SYS("remove len ~0", madvise(b, ~0UL, MADV_GUARD_REMOVE), "-1 EINVAL");
    EXPECT_SYS("advice 104 (unknown)", madvise(b, PG, 104), "-1 EINVAL");
    EXPECT_SYS("advice 101 (unknown)", madvise(b, PG, 101), "-1 EINVAL");
    EXPECT_SYS("advice 999 (unknown)", madvise(b, PG, 999), "-1 EINVAL");
    EXPECT_SYS("address 0 (nothing mapped)", madvise(NULL, PG, MADV_GUARD_INSTALL), "-1 ENOMEM");
    EXPECT_SYS("address 1<<47 (beyond user space)",
               madvise((void *)(1UL << 47), PG, MADV_GUARD_INSTALL), "-1 ENOMEM");
    EXPECT_SYS("vsyscall page", madvise((void *)0xffffffffff600000UL, PG, MADV_GUARD_INSTALL),
               "-1 ENOMEM");
    char *vdso = (char *)getauxval(AT_SYSINFO_EHDR);
    if (vdso) {
        EXPECT_SYS("vDSO (special mapping)", madvise(vdso, PG, MADV_GUARD_INSTALL), "-1 EINVAL");
        EXPECT_SYS("vvar page below the vDSO (special mapping)",
                   madvise(vdso - PG, PG, MADV_GUARD_INSTALL), "-1 EINVAL");
    } else {
        expect("vDSO", "absent", "present");
    }
    int pidfd = (int)syscall(SYS_pidfd_open, (long)getpid(), 0L);
    struct iovec {
        void *base;
        size_t len;
    } iov = {b, PG};
    EXPECT_SYS("process_madvise unknown advice",
               syscall(SYS_process_madvise, (long)pidfd, &iov, 1L, 104L, 0L), "-1 EINVAL");
    EXPECT_SYS("process_madvise install, unaligned iov",
               (iov.base = b + 8, syscall(SYS_process_madvise, (long)pidfd, &iov, 1L,
                                          (long)MADV_GUARD_INSTALL, 0L)),
               "-1 EINVAL");
    close(pidfd);
    munmap(b, 2 * PG);

    return summary("guard_errors");
}
