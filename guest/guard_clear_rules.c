/* guard_clear_rules.c - operations that CLEAR guard markers.
 *
 * munmap of the range (a new mapping at the same place has no guards), mmap(MAP_FIXED) over the
 * whole range or over just the guard page, and the shrinking part of mremap (growing back in
 * place shows empty pages where the guards were, while the kept part keeps its guard).
 * Also: a MAP_FIXED mapping over a guard keeps the neighbours' data and the VMA count.
 */
#include "guest_util.h"

static char *setup(size_t pages)
{
    char *b = map_anon(pages, PROT_READ | PROT_WRITE);
    for (size_t i = 0; i < pages; i++)
        memset(b + i * PG, 0xc0 + (int)i, PG);
    return b;
}

int main(void)
{
    probe_init();

    out("-- munmap --\n");
    char *b = setup(3);
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("munmap p1", munmap(b + PG, PG), "0");
    expect("p1 read (hole)", PROBE_R(b + PG, b), MAPERR_AT(PG));
    char *m = mmap(b + PG, PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    expect("map p1 again", m == b + PG ? "placed" : errname(errno), "placed");
    expect("pagemap p1", PM(b + PG), "g=0 p=0");
    expect("p1 read", PROBE_R(b + PG, b), OKVAL(0));
    expect("p0 read", PROBE_R(b, b), OKVAL(0xc0));
    EXPECT_SYS("install p0..p2", madvise(b, 3 * PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("munmap all", munmap(b, 3 * PG), "0");
    m = mmap(b, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
             -1, 0);
    expect("map p0..p2 again", m == b ? "placed" : errname(errno), "placed");
    expectf("pagemap p0 p1 p2", "g=0 g=0 g=0", "g=%d g=%d g=%d", pm_guard(b), pm_guard(b + PG),
            pm_guard(b + 2 * PG));
    expect("p2 read", PROBE_R(b + 2 * PG + 1, b), OKVAL(0));
    munmap(b, 3 * PG);

    out("-- mmap(MAP_FIXED) over --\n");
    b = setup(3);
    long v0 = vma_count();
    EXPECT_SYS("install p0..p2", madvise(b, 3 * PG, MADV_GUARD_INSTALL), "0");
    m = mmap(b, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect("MAP_FIXED over p0..p2", m == b ? "placed" : errname(errno), "placed");
    expect("pagemap p1", PM(b + PG), "g=0 p=0");
    expect("p1 read", PROBE_R(b + PG + 2, b), OKVAL(0));
    expectf("VMA delta", "+0", "%+ld", vma_count() - v0);
    munmap(b, 3 * PG);

    b = setup(3);
    v0 = vma_count();
    EXPECT_SYS("install p1", madvise(b + PG, PG, MADV_GUARD_INSTALL), "0");
    m = mmap(b + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect("MAP_FIXED over p1 only", m == b + PG ? "placed" : errname(errno), "placed");
    expect("pagemap p1", PM(b + PG), "g=0 p=0");
    expect("p1 read", PROBE_R(b + PG + 2, b), OKVAL(0));
    expectf("p0/p2 data", "0xc0 0xc2", "0x%02x 0x%02x", (unsigned char)b[0],
            (unsigned char)b[2 * PG]);
    expectf("VMA delta (the new VMA merges with its neighbours)", "+0", "%+ld",
            vma_count() - v0);
    m = mmap(b + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    expect("MAP_FIXED PROT_READ over p1", m == b + PG ? "placed" : errname(errno), "placed");
    expect("p1 read", PROBE_R(b + PG + 2, b), OKVAL(0));
    expectf("VMA delta", "+2", "%+ld", vma_count() - v0);
    munmap(b, 3 * PG);

    out("-- mremap shrink --\n");
    b = setup(4);
    EXPECT_SYS("install p1 and p3", madvise(b + PG, PG, MADV_GUARD_INSTALL) |
                                        madvise(b + 3 * PG, PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 4 * PG, 2 * PG, 0);
    expect("mremap 4 -> 2 pages", m == b ? "same address" : errname(errno), "same address");
    expect("p1 (kept part) pagemap", PM(b + PG), "g=1 p=0");
    expect("p1 read", PROBE_R(b + PG, b), MAPERR_AT(PG));
    expect("p3 read (unmapped)", PROBE_R(b + 3 * PG, b), MAPERR_AT(3 * PG));
    m = mremap(b, 2 * PG, 4 * PG, 0);
    expect("mremap 2 -> 4 pages in place", m == b ? "same address" : errname(errno),
           "same address");
    expect("p1 still guarded", PM(b + PG), "g=1 p=0");
    expect("p3 pagemap (guard cleared)", PM(b + 3 * PG), "g=0 p=0");
    expect("p3 read", PROBE_R(b + 3 * PG, b), OKVAL(0));
    expect("p2 read (data dropped by the shrink)", PROBE_R(b + 2 * PG, b), OKVAL(0));
    expect("p0 read", PROBE_R(b, b), OKVAL(0xc0));
    munmap(b, 4 * PG);

    b = setup(4);
    EXPECT_SYS("install p1..p3", madvise(b + PG, 3 * PG, MADV_GUARD_INSTALL), "0");
    m = mremap(b, 4 * PG, PG, 0);
    expect("mremap 4 -> 1 page", m == b ? "same address" : errname(errno), "same address");
    m = mmap(b + PG, 3 * PG, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    expect("map the freed pages again", m == b + PG ? "placed" : errname(errno), "placed");
    expectf("pagemap p1 p2 p3", "g=0 g=0 g=0", "g=%d g=%d g=%d", pm_guard(b + PG),
            pm_guard(b + 2 * PG), pm_guard(b + 3 * PG));
    expect("p2 read", PROBE_R(b + 2 * PG, b), OKVAL(0));
    munmap(b, 4 * PG);

    return summary("guard_clear_rules");
}
