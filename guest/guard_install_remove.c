/* guard_install_remove.c - the install/remove rules of MADV_GUARD_INSTALL / MADV_GUARD_REMOVE.
 *
 * Pins: install is idempotent (no nesting/counting); install zaps populated pages; remove clears
 * only markers (present pages keep their data) and is a no-op where there are none; lengths are
 * rounded up to pages; a range may span several VMAs; the VMA protection is checked before the
 * marker (guard in a read-only VMA: read MAPERR, write ACCERR; in PROT_NONE: ACCERR); guards on
 * read-only, PROT_NONE, shared anonymous, file-backed (.data), .bss, brk-heap and main-stack
 * pages; after removal a shared page shows its data again and a private file page shows the
 * file's content again; process_madvise(pidfd_open(getpid())) batches over an iovec.
 */
#include "guest_util.h"
#include <sys/uio.h>

/* A page-aligned, initialised array lives in the file-backed private data segment. */
static unsigned char data_pages[3 * 4096] __attribute__((aligned(4096))) = {
    [0] = 0x5a, [4096] = 0x5b, [4096 + 7] = 0x5b, [8192] = 0x5c};
/* And a page-aligned zero array in .bss (anonymous). */
static unsigned char bss_pages[3 * 4096] __attribute__((aligned(4096)));

static void basic(void)
{
    int e;
    long r;
    out("-- idempotent install, zap, remove only markers --\n");
    char *b = map_anon(3, PROT_READ | PROT_WRITE);
    memset(b, 0x11, 3 * PG);
    r = madv(b + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install p1", r, e, "0");
    r = madv(b + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install p1 again", r, e, "0");
    r = madv(b, 3 * PG, MADV_GUARD_INSTALL, &e);
    expect_r("install p0..p2 over populated p0,p2 and guarded p1", r, e, "0");
    expectf("pagemap p0 p1 p2", "g=1 p=0 | g=1 p=0 | g=1 p=0", "%s | %s | %s", PM(b), PM(b + PG),
            PM(b + 2 * PG));
    r = madv(b + PG, PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove p1 once", r, e, "0");
    expect("p1 after one remove (no counting)", PROBE_R(b + PG, b), OKVAL(0));
    expect("p0 still guarded", PROBE_R(b + 5, b), MAPERR_AT(5));
    r = madv(b, 3 * PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove p0..p2", r, e, "0");
    expect("p0 after remove: zapped data is gone", PROBE_R(b + 5, b), OKVAL(0));

    memset(b, 0x22, 3 * PG);
    r = madv(b + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install p1 between populated pages", r, e, "0");
    r = madv(b, 3 * PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove over p0..p2", r, e, "0");
    expectf("p0/p1/p2 values after remove", "0x22 0x00 0x22", "0x%02x 0x%02x 0x%02x", b[0],
            b[PG], b[2 * PG]);
    expectf("pagemap p0 p2 (present pages untouched)", "g=0 p=1 | g=0 p=1", "%s | %s", PM(b),
            PM(b + 2 * PG));
    r = madv(b, 3 * PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove where no guards", r, e, "0");

    out("-- lengths --\n");
    r = madv(b, 100, MADV_GUARD_INSTALL, &e);
    expect_r("install len=100", r, e, "0");
    expectf("p0 p1 after len=100", "g=1 p=0 | g=0 p=1", "%s | %s", PM(b), PM(b + PG));
    expect("read p0+0xfff", PROBE_R(b + 0xfff, b), MAPERR_AT(0xfff));
    r = madv(b, PG + 1, MADV_GUARD_INSTALL, &e);
    expect_r("install len=PG+1", r, e, "0");
    expect("p1 guarded by the rounded-up length", PM(b + PG), "g=1 p=0");
    r = madv(b + PG, 0, MADV_GUARD_REMOVE, &e);
    expect_r("remove len=0", r, e, "0");
    expect("p1 still guarded", PM(b + PG), "g=1 p=0");
    r = madv(b, 1, MADV_GUARD_REMOVE, &e);
    expect_r("remove len=1", r, e, "0");
    expectf("p0 p1 after remove len=1", "g=0 p=0 | g=1 p=0", "%s | %s", PM(b), PM(b + PG));
    munmap(b, 3 * PG);
}

static void prot_kinds(void)
{
    int e;
    long r;
    out("-- spanning VMAs, protection checked before the marker --\n");
    char *b = map_anon(4, PROT_READ | PROT_WRITE);
    memset(b, 0x33, 4 * PG);
    long v0 = vma_count();
    mprotect(b + 2 * PG, 2 * PG, PROT_READ);
    expectf("VMAs after mprotect(p2..p3, R)", "+1", "%+ld", vma_count() - v0);
    r = madv(b, 4 * PG, MADV_GUARD_INSTALL, &e);
    expect_r("install over rw|ro VMAs", r, e, "0");
    expectf("VMAs after install", "+1", "%+ld", vma_count() - v0);
    expect("rw page read", PROBE_R(b + 0x10, b), MAPERR_AT(0x10));
    expect("rw page write", PROBE_W(b + 0x1010, b, 1), MAPERR_AT(0x1010));
    expect("ro page read", PROBE_R(b + 0x2010, b), MAPERR_AT(0x2010));
    expect("ro page write", PROBE_W(b + 0x3010, b, 1), ACCERR_AT(0x3010));
    r = madv(b, 4 * PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove over both", r, e, "0");
    expect("ro page read after remove", PROBE_R(b + 0x2010, b), OKVAL(0));
    munmap(b, 4 * PG);

    char *n = map_anon(2, PROT_NONE);
    r = madv(n, 2 * PG, MADV_GUARD_INSTALL, &e);
    expect_r("install in PROT_NONE mapping", r, e, "0");
    expect("pagemap", PM(n), "g=1 p=0");
    expect("PROT_NONE+guard read", PROBE_R(n + 4, n), ACCERR_AT(4));
    expect("PROT_NONE+guard write", PROBE_W(n + 4, n, 1), ACCERR_AT(4));
    mprotect(n, 2 * PG, PROT_READ);
    expect("after mprotect(R): read", PROBE_R(n + PG + 4, n), MAPERR_AT(PG + 4));
    munmap(n, 2 * PG);

    char *ro = map_anon(2, PROT_READ);
    expect("ro untouched read", PROBE_R(ro + PG, ro), OKVAL(0));
    r = madv(ro, 2 * PG, MADV_GUARD_INSTALL, &e);
    expect_r("install in read-only private mapping", r, e, "0");
    expect("pagemap", PM(ro + PG), "g=1 p=0");
    expect("read", PROBE_R(ro + PG + 1, ro), MAPERR_AT(PG + 1));
    munmap(ro, 2 * PG);
}

static void shared_and_file(void)
{
    int e;
    long r;
    out("-- shared anonymous: guard is per page table, data survives in the object --\n");
    char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(s, 0x67, 2 * PG);
    r = madv(s, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install shared p0", r, e, "0");
    expect("pagemap", PM(s), "g=1 p=0");
    expect("read", PROBE_R(s + 9, s), MAPERR_AT(9));
    r = madv(s, PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove shared p0", r, e, "0");
    expect("read after remove (shmem data back)", PROBE_R(s + 9, s), OKVAL(0x67));
    munmap(s, 2 * PG);

    out("-- file-backed private (.data) and anonymous .bss --\n");
    unsigned char *d = data_pages;
    expect("data p1 initial", PROBE_R(d + PG + 7, d), OKVAL(0x5b));
    d[2 * PG] = 0xee; /* private COW copy of p2 */
    r = madv(d + PG, 2 * PG, MADV_GUARD_INSTALL, &e);
    expect_r("install .data p1..p2", r, e, "0");
    expect(".data p1 read", PROBE_R(d + PG + 7, d), MAPERR_AT(PG + 7));
    expect(".data p2 write", PROBE_W(d + 2 * PG, d, 1), MAPERR_AT(2 * PG));
    expect(".data p0 untouched", PROBE_R(d, d), OKVAL(0x5a));
    r = madv(d + PG, 2 * PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove .data p1..p2", r, e, "0");
    expect(".data p1 after remove (file content)", PROBE_R(d + PG + 7, d), OKVAL(0x5b));
    expect(".data p2 after remove (COW copy dropped, file content)", PROBE_R(d + 2 * PG, d),
           OKVAL(0x5c));

    unsigned char *z = bss_pages;
    z[PG] = 0x44;
    r = madv(z + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install .bss p1", r, e, "0");
    expect(".bss p1 read", PROBE_R(z + PG, z), MAPERR_AT(PG));
    r = madv(z + PG, PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove .bss p1", r, e, "0");
    expect(".bss p1 after remove", PROBE_R(z + PG, z), OKVAL(0));
}

static void heap_and_stack(void)
{
    int e;
    long r;
    out("-- brk heap and main stack --\n");
    char *cur = sbrk(0);
    char *h = (char *)(((uintptr_t)cur + PG - 1) & ~(PG - 1));
    if (sbrk((intptr_t)(h - cur) + 3 * (intptr_t)PG) == (void *)-1) {
        out("sbrk failed\n");
        g_unexpected++;
        return;
    }
    memset(h, 0x48, 3 * PG);
    r = madv(h + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install brk-heap p1", r, e, "0");
    expect("heap p1 read", PROBE_R(h + PG + 3, h), MAPERR_AT(PG + 3));
    expect("heap p2 read", PROBE_R(h + 2 * PG, h), OKVAL(0x48));
    r = madv(h + PG, PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove brk-heap p1", r, e, "0");
    expect("heap p1 after remove", PROBE_R(h + PG + 3, h), OKVAL(0));
    sbrk(-(3 * (intptr_t)PG + (h - cur)));

    volatile char big[16 * 4096];
    for (size_t i = 0; i < sizeof big; i += PG)
        big[i] = 0x53;
    char *sp = (char *)(((uintptr_t)big + PG - 1) & ~(PG - 1)) + 4 * PG;
    r = madv(sp, PG, MADV_GUARD_INSTALL, &e);
    expect_r("install on a main-stack page", r, e, "0");
    expect("stack page read", PROBE_R(sp + 16, sp), MAPERR_AT(16));
    r = madv(sp, PG, MADV_GUARD_REMOVE, &e);
    expect_r("remove on the stack page", r, e, "0");
    expect("stack page after remove", PROBE_R(sp + 16, sp), OKVAL(0));
}

static void pmadvise(void)
{
    out("-- process_madvise(pidfd_open(getpid())) --\n");
    char *b = map_anon(4, PROT_READ | PROT_WRITE);
    memset(b, 1, 4 * PG);
    int pidfd = (int)syscall(SYS_pidfd_open, (long)getpid(), 0L);
    expect("pidfd_open", pidfd >= 0 ? "fd" : errname(errno), "fd");
    struct iovec iov[2] = {{b, PG}, {b + 2 * PG, PG}};
    errno = 0;
    long r = syscall(SYS_process_madvise, (long)pidfd, iov, 2L, (long)MADV_GUARD_INSTALL, 0L);
    expect_r("install p0 and p2", r, errno, "8192");
    expectf("pagemap p0..p3", "g=1 g=0 g=1 g=0", "g=%d g=%d g=%d g=%d", pm_guard(b),
            pm_guard(b + PG), pm_guard(b + 2 * PG), pm_guard(b + 3 * PG));
    expect("read p2", PROBE_R(b + 2 * PG, b), MAPERR_AT(2 * PG));
    errno = 0;
    r = syscall(SYS_process_madvise, (long)pidfd, iov, 2L, (long)MADV_GUARD_REMOVE, 0L);
    expect_r("remove p0 and p2", r, errno, "8192");
    expect("read p2 after remove", PROBE_R(b + 2 * PG, b), OKVAL(0));
    errno = 0;
    r = syscall(SYS_process_madvise, (long)pidfd, iov, 2L, (long)MADV_GUARD_INSTALL, 1L);
    expect_r("flags=1", r, errno, "-1 EINVAL");
    munmap(b + 2 * PG, 2 * PG);
    errno = 0;
    r = syscall(SYS_process_madvise, (long)pidfd, iov, 2L, (long)MADV_GUARD_INSTALL, 0L);
    expect_r("second iovec in a hole (partial)", r, errno, "4096");
    expect("p0 guarded", PM(b), "g=1 p=0");
    close(pidfd);
    munmap(b, 2 * PG);
}

int main(void)
{
    probe_init();
    basic();
    prot_kinds();
    shared_and_file();
    heap_and_stack();
    pmadvise();
    return summary("guard_install_remove");
}
