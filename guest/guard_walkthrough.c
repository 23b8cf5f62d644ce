/* guard_walkthrough.c - the user-facing demo of lightweight guard regions.
 *
 * Maps 4 pages, writes to them, installs a guard on page 1 (MADV_GUARD_INSTALL), shows that a
 * read and a write there fault with SIGSEGV/SEGV_MAPERR at the exact byte, that the neighbours
 * keep their data, that /proc/self/pagemap flags the page (bit 58), that the VMA count does not
 * change, and that after MADV_GUARD_REMOVE the page reads as zero (its old data was discarded).
 */
#include "guest_util.h"

int main(void)
{
    probe_init();
    out("== guard walkthrough ==\n");

    char *base = map_anon(4, PROT_READ | PROT_WRITE);
    long vmas0 = vma_count();
    for (int i = 0; i < 4; i++)
        memset(base + i * PG, 'A' + i, PG);
    out("mapped 4 pages, page i filled with 'A'+i\n");
    expect("page 1 before guard", PROBE_R(base + PG + 8, base), OKVAL('B'));
    expect("pagemap page 1 before guard", PM(base + PG), "g=0 p=1");

    int e;
    long r = madv(base + PG, PG, MADV_GUARD_INSTALL, &e);
    expect_r("madvise(page 1, MADV_GUARD_INSTALL)", r, e, "0");
    expect("pagemap page 1", PM(base + PG), "g=1 p=0");
    expect("guard read", PROBE_R(base + 0x1008, base), MAPERR_AT(0x1008));
    expect("guard write", PROBE_W(base + 0x1ff0, base, 1), MAPERR_AT(0x1ff0));
    expect("guard read first byte", PROBE_R(base + 0x1000, base), MAPERR_AT(0x1000));
    expect("guard read last byte", PROBE_R(base + 0x1fff, base), MAPERR_AT(0x1fff));
    expect("page 0 last byte", PROBE_R(base + 0xfff, base), OKVAL('A'));
    expect("page 2 first byte", PROBE_R(base + 0x2000, base), OKVAL('C'));
    expect("page 3", PROBE_R(base + 0x3abc, base), OKVAL('D'));
    expectf("VMA count delta after install", "+0", "%+ld", vma_count() - vmas0);

    r = madv(base + PG, PG, MADV_GUARD_REMOVE, &e);
    expect_r("madvise(page 1, MADV_GUARD_REMOVE)", r, e, "0");
    expect("pagemap page 1 after remove", PM(base + PG), "g=0 p=0");
    expect("page 1 read after remove (old data gone)", PROBE_R(base + 0x1008, base), OKVAL(0));
    expect("page 1 write after remove", PROBE_W(base + 0x1008, base, 0x77), "ok");
    expect("page 1 read back", PROBE_R(base + 0x1008, base), OKVAL(0x77));
    expect("page 0 still", PROBE_R(base + 0x10, base), OKVAL('A'));
    expectf("VMA count delta after remove", "+0", "%+ld", vma_count() - vmas0);

    errno = 0;
    r = munmap(base, 4 * PG);
    expect_r("munmap", r, errno, "0");
    return summary("guard_walkthrough");
}
