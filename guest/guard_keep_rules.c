/* guard_keep_rules.c - operations that must KEEP guard markers.
 *
 * For each operation a fresh 3-page mapping gets p0/p2 filled and a guard on p1, then the
 * operation is applied over the whole range (or the part named). Checked after each: pagemap
 * bit 58 of p1, a fault probe on p1, the data of p0, and the VMA count delta.
 * Kept by: MADV_DONTNEED, MADV_DONTNEED_LOCKED, MADV_FREE, MADV_COLD, MADV_PAGEOUT,
 * MADV_WILLNEED, MADV_POPULATE_READ/WRITE next to the guard, MADV_RANDOM/NORMAL and
 * MADV_DONTFORK/DOFORK (VMA split and re-merge), MADV_HUGEPAGE/NOHUGEPAGE, mprotect to NONE,
 * R and back to RW (whole range, only the guard page, only a neighbour: split and merge),
 * VMA merge with a new adjacent mapping, mlock2(MLOCK_ONFAULT)/munlock, and a failed mlock
 * (which returns ENOMEM because the guard page cannot be populated).
 */
#include "guest_util.h"

#ifndef MADV_DONTNEED_LOCKED
#define MADV_DONTNEED_LOCKED 24
#endif

static char *b;
static long v0;

static void setup(void)
{
    b = map_anon(3, PROT_READ | PROT_WRITE);
    memset(b, 0xa0, PG);
    memset(b + 2 * PG, 0xa2, PG);
    v0 = vma_count();
    if (madvise(b + PG, PG, MADV_GUARD_INSTALL) != 0)
        out("setup: install failed: %s\n", errname(errno));
}

static void teardown(void) { munmap(b, 3 * PG); }

/* Common after-checks; p0want==NULL skips the p0 data check (MADV_FREE may or may not drop). */
static void after(const char *op, const char *p1read, const char *p0want, const char *vdelta)
{
    char l[160];
    snprintf(l, sizeof l, "%s: pagemap p1", op);
    expect(l, PM(b + PG), "g=1 p=0");
    snprintf(l, sizeof l, "%s: read p1", op);
    expect(l, PROBE_R(b + PG + 0x40, b), p1read);
    if (p0want) {
        snprintf(l, sizeof l, "%s: p0", op);
        expect(l, PROBE_R(b + 0x40, b), p0want);
    }
    snprintf(l, sizeof l, "%s: VMA delta", op);
    expectf(l, vdelta, "%+ld", vma_count() - v0);
}

static void advice(const char *name, int adv, const char *p0want)
{
    setup();
    char l[96];
    snprintf(l, sizeof l, "madvise(p0..p2, %s)", name);
    EXPECT_SYS(l, madvise(b, 3 * PG, adv), "0");
    after(name, MAPERR_AT(PG + 0x40), p0want, "+0");
    teardown();
}

int main(void)
{
    probe_init();
    const char *mp = MAPERR_AT(PG + 0x40);

    out("-- madvise advices --\n");
    advice("MADV_DONTNEED", MADV_DONTNEED, OKVAL(0));
    advice("MADV_DONTNEED_LOCKED", MADV_DONTNEED_LOCKED, OKVAL(0));
    advice("MADV_FREE", MADV_FREE, NULL);
    advice("MADV_COLD", MADV_COLD, OKVAL(0xa0));
    advice("MADV_PAGEOUT", MADV_PAGEOUT, OKVAL(0xa0));
    advice("MADV_WILLNEED", MADV_WILLNEED, OKVAL(0xa0));
    advice("MADV_HUGEPAGE", MADV_HUGEPAGE, OKVAL(0xa0));
    advice("MADV_NOHUGEPAGE", MADV_NOHUGEPAGE, OKVAL(0xa0));

    setup();
    EXPECT_SYS("MADV_DONTNEED on the guard page alone", madvise(b + PG, PG, MADV_DONTNEED), "0");
    after("DONTNEED guard only", mp, OKVAL(0xa0), "+0");
    teardown();

    setup();
    madvise(b, 3 * PG, MADV_DONTNEED);
    EXPECT_SYS("POPULATE_WRITE p0 (next to guard)", madvise(b, PG, MADV_POPULATE_WRITE), "0");
    EXPECT_SYS("POPULATE_READ p2 (next to guard)", madvise(b + 2 * PG, PG, MADV_POPULATE_READ), "0");
    expectf("pagemap p0 p2", "g=0 p=1 | g=0 p=1", "%s | %s", PM(b), PM(b + 2 * PG));
    after("POPULATE next to guard", mp, OKVAL(0), "+0");
    teardown();

    out("-- VMA flag advices that split the VMA around the guard --\n");
    setup();
    EXPECT_SYS("MADV_RANDOM on p1", madvise(b + PG, PG, MADV_RANDOM), "0");
    after("RANDOM p1", mp, OKVAL(0xa0), "+2");
    EXPECT_SYS("MADV_NORMAL on p1", madvise(b + PG, PG, MADV_NORMAL), "0");
    after("NORMAL p1 (merged back)", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("MADV_DONTFORK on p0..p1", madvise(b, 2 * PG, MADV_DONTFORK), "0");
    after("DONTFORK p0..p1", mp, OKVAL(0xa0), "+1");
    EXPECT_SYS("MADV_DOFORK on p0..p1", madvise(b, 2 * PG, MADV_DOFORK), "0");
    after("DOFORK p0..p1 (merged back)", mp, OKVAL(0xa0), "+0");
    teardown();

    out("-- mprotect --\n");
    setup();
    EXPECT_SYS("mprotect(p0..p2, NONE)", mprotect(b, 3 * PG, PROT_NONE), "0");
    after("PROT_NONE", ACCERR_AT(PG + 0x40), ACCERR_AT(0x40), "+0");
    EXPECT_SYS("mprotect(p0..p2, R)", mprotect(b, 3 * PG, PROT_READ), "0");
    after("PROT_READ", mp, OKVAL(0xa0), "+0");
    expect("PROT_READ: write p1", PROBE_W(b + PG + 0x40, b, 1), ACCERR_AT(PG + 0x40));
    EXPECT_SYS("mprotect(p0..p2, RW)", mprotect(b, 3 * PG, PROT_READ | PROT_WRITE), "0");
    after("back to RW", mp, OKVAL(0xa0), "+0");
    expect("RW: write p1", PROBE_W(b + PG + 0x40, b, 1), MAPERR_AT(PG + 0x40));
    EXPECT_SYS("mprotect(p1 only, R)", mprotect(b + PG, PG, PROT_READ), "0");
    after("p1 R (split in 3)", mp, OKVAL(0xa0), "+2");
    EXPECT_SYS("mprotect(p1 only, RW)", mprotect(b + PG, PG, PROT_READ | PROT_WRITE), "0");
    after("p1 RW (merged)", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("mprotect(p0 only, R)", mprotect(b, PG, PROT_READ), "0");
    after("p0 R (split)", mp, OKVAL(0xa0), "+1");
    EXPECT_SYS("mprotect(p0 only, RW)", mprotect(b, PG, PROT_READ | PROT_WRITE), "0");
    after("p0 RW (merged)", mp, OKVAL(0xa0), "+0");
    teardown();

    out("-- merge with a new adjacent mapping --\n");
    setup();
    EXPECT_SYS("munmap p2", munmap(b + 2 * PG, PG), "0");
    expectf("VMA delta", "+0", "%+ld", vma_count() - v0);
    char *nx = mmap(b + 2 * PG, PG, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    expect("mmap p2 again (merges with the guarded VMA)",
           nx == b + 2 * PG ? "placed" : errname(errno), "placed");
    after("after adjacent mmap", mp, OKVAL(0xa0), "+0");
    teardown();

    out("-- mlock --\n");
    setup();
    EXPECT_SYS("mlock2(p0..p2, MLOCK_ONFAULT)", mlock2(b, 3 * PG, MLOCK_ONFAULT), "0");
    after("MLOCK_ONFAULT", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("munlock", munlock(b, 3 * PG), "0");
    after("munlock", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("mlock(p0..p2) over a guard", mlock(b, 3 * PG), "-1 ENOMEM");
    after("failed mlock", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("mlock(p1 only)", mlock(b + PG, PG), "-1 ENOMEM");
    after("failed mlock p1", mp, OKVAL(0xa0), "+0");
    EXPECT_SYS("guard remove on the (locked) range", madvise(b, 3 * PG, MADV_GUARD_REMOVE), "0");
    expect("p1 after remove", PROBE_R(b + PG + 0x40, b), OKVAL(0));
    EXPECT_SYS("munlock", munlock(b, 3 * PG), "0");
    teardown();

    return summary("guard_keep_rules");
}
