/* guard_mremap_move.c - guard markers travel with mremap moves.
 *
 * MREMAP_MAYMOVE growth that must move (blocked in place): the guard is at the same offset in
 * the new mapping, the data moved with it, the grown tail is empty and the old range is gone.
 * MREMAP_FIXED into a reserved destination; a never-populated mapping holding only a guard;
 * moving just the guard page out of the middle of a mapping; MREMAP_DONTUNMAP (new range has
 * data and guard, the old range stays mapped but empty, without guards); growth in place keeps
 * the guard.
 */
#include "guest_util.h"

static char *setup(size_t pages)
{
    char *b = map_anon(pages, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < pages; i++)
        memset(b + i * PG, 0xd0 + (int)i, PG);
    return b;
}

int main(void)
{
    probe_init();
    char *m;

    out("-- MREMAP_MAYMOVE grow, blocked in place --\n");
    char *b = setup(4);
    mprotect(b + 3 * PG, PG, PROT_READ); /* a different VMA right above blocks growth */
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    long v0 = vma_count();
    m = mremap(b, 3 * PG, 6 * PG, MREMAP_MAYMOVE);
    expect("mremap 3 -> 6 pages", m == MAP_FAILED ? errname(errno) : m == b ? "same" : "moved",
           "moved");
    expect("new p1 pagemap", PM(m + PG), "g=1 p=0");
    expect("new p1 read", PROBE_R(m + PG + 0x10, m), MAPERR_AT(PG + 0x10));
    expect("new p0 read", PROBE_R(m + 0x10, m), OKVAL(0xd0));
    expect("new p2 read", PROBE_R(m + 2 * PG, m), OKVAL(0xd2));
    expect("new p5 read", PROBE_R(m + 5 * PG, m), OKVAL(0));
    expect("old p0 read", PROBE_R(b, b), MAPERR_AT(0));
    expect("old p1 read", PROBE_R(b + PG, b), MAPERR_AT(PG));
    expect("blocker page read", PROBE_R(b + 3 * PG, b), OKVAL(0xd3));
    expectf("VMA delta", "+0", "%+ld", vma_count() - v0);
    munmap(m, 6 * PG);
    munmap(b + 3 * PG, PG);

    out("-- MREMAP_FIXED into a reserved destination --\n");
    b = setup(3);
    char *dst = map_anon(3, PROT_NONE);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    expect("mremap to dst", m == dst ? "at dst" : errname(errno), "at dst");
    expectf("dst pagemap p0 p1 p2", "g=0 g=1 g=0", "g=%d g=%d g=%d", pm_guard(dst),
            pm_guard(dst + PG), pm_guard(dst + 2 * PG));
    expect("dst p1 write", PROBE_W(dst + PG + 7, dst, 1), MAPERR_AT(PG + 7));
    expect("dst p2 read", PROBE_R(dst + 2 * PG + 7, dst), OKVAL(0xd2));
    expect("old p0 read", PROBE_R(b, b), MAPERR_AT(0));
    EXPECT_SYS("remove at dst", madvise(dst, 3 * PG, MADV_GUARD_REMOVE), "0");
    expect("dst p1 read after remove", PROBE_R(dst + PG, dst), OKVAL(0));
    munmap(dst, 3 * PG);

    out("-- never-populated mapping holding only a guard --\n");
    b = map_anon(3, PROT_READ | PROT_WRITE);
    dst = map_anon(3, PROT_NONE);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 3 * PG, 3 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    expect("mremap to dst", m == dst ? "at dst" : errname(errno), "at dst");
    expect("dst p1 pagemap", PM(dst + PG), "g=1 p=0");
    expect("dst p1 read", PROBE_R(dst + PG, dst), MAPERR_AT(PG));
    expect("dst p0 read", PROBE_R(dst, dst), OKVAL(0));
    munmap(dst, 3 * PG);

    out("-- move only the guard page out of the middle --\n");
    b = setup(3);
    dst = map_anon(1, PROT_NONE);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    v0 = vma_count();
    m = mremap(b + PG, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
    expect("mremap p1 to dst", m == dst ? "at dst" : errname(errno), "at dst");
    expect("dst pagemap", PM(dst), "g=1 p=0");
    expect("dst read", PROBE_R(dst + 3, dst), MAPERR_AT(3));
    expect("old p1 read (now a hole)", PROBE_R(b + PG, b), MAPERR_AT(PG));
    expectf("VMA delta", "+1", "%+ld", vma_count() - v0);
    munmap(dst, PG);
    munmap(b, 3 * PG);

    out("-- MREMAP_DONTUNMAP --\n");
    b = setup(2);
    dst = map_anon(2, PROT_NONE);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst);
    expect("mremap DONTUNMAP to dst", m == dst ? "at dst" : errname(errno), "at dst");
    expect("new p0 read", PROBE_R(dst, dst), OKVAL(0xd0));
    expect("new p1 pagemap", PM(dst + PG), "g=1 p=0");
    expect("new p1 read", PROBE_R(dst + PG, dst), MAPERR_AT(PG));
    expect("old p0 read (mapped, empty)", PROBE_R(b, b), OKVAL(0));
    expect("old p1 pagemap", PM(b + PG), "g=0 p=0");
    expect("old p1 read", PROBE_R(b + PG, b), OKVAL(0));
    munmap(dst, 2 * PG);
    munmap(b, 2 * PG);

    out("-- grow in place --\n");
    b = setup(6);
    munmap(b + 3 * PG, 3 * PG);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 3 * PG, 6 * PG, 0);
    expect("mremap 3 -> 6 pages without MAYMOVE", m == b ? "same address" : errname(errno),
           "same address");
    expect("p1 pagemap", PM(b + PG), "g=1 p=0");
    expect("p1 read", PROBE_R(b + PG, b), MAPERR_AT(PG));
    expect("p2 read", PROBE_R(b + 2 * PG, b), OKVAL(0xd2));
    expect("p5 read", PROBE_R(b + 5 * PG, b), OKVAL(0));
    m = mremap(b, 6 * PG, 8 * PG, MREMAP_MAYMOVE);
    expect("mremap 6 -> 8 pages with MAYMOVE", m == MAP_FAILED ? errname(errno) : "ok", "ok");
    expect("p1 read in the result", PROBE_R(m + PG, m), MAPERR_AT(PG));
    munmap(m, 8 * PG);

    return summary("guard_mremap_move");
}
