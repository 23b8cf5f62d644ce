/* guard_vs_protnone_vma_count.c - why guard regions exist: VMA cost.
 *
 * 10,000 single-page guards installed one call at a time on every other page of one mapping
 * leave the /proc/self/maps line count unchanged; 10,000 single-page PROT_NONE MAP_FIXED
 * mappings on every other page of an equally sized mapping add two VMAs each (+20,000).
 * Also checks, via pagemap bit 58 and a few fault probes, that all 10,000 guards are there,
 * and that removing them in one call restores every page.
 */
#include "guest_util.h"

#define N 10000
#define PAGES (2 * N + 1)

static uint64_t pm_buf[PAGES];

/* Count guard-marked pages of [p, p+PAGES) with one pagemap read. */
static long count_guards(char *p)
{
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return -1;
    long n = 0;
    size_t want = sizeof pm_buf, got = 0;
    if (lseek(fd, (off_t)((uintptr_t)p / PG * 8), SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    while (got < want) {
        ssize_t r = read(fd, (char *)pm_buf + got, want - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    for (size_t i = 0; i < got / 8; i++)
        n += (long)((pm_buf[i] >> 58) & 1);
    return n;
}

int main(void)
{
    probe_init();

    out("-- %d guards, one madvise per page, on every other page --\n", N);
    char *g = map_anon(PAGES, PROT_READ | PROT_WRITE);
    long v0 = vma_count();
    long fails = 0;
    for (long i = 0; i < N; i++)
        fails += madvise(g + (2 * i + 1) * PG, PG, MADV_GUARD_INSTALL) != 0;
    expectf("failed installs", "0", "%ld", fails);
    expectf("VMA count delta", "+0", "%+ld", vma_count() - v0);
    expectf("guard pages in pagemap", "10000", "%ld", count_guards(g));
    expect("first guard read", PROBE_R(g + PG, g), MAPERR_AT(PG));
    expect("middle guard read", PROBE_R(g + (2 * 5000 + 1) * PG + 5, g),
           MAPERR_AT((2 * 5000 + 1) * PG + 5));
    expect("last guard read", PROBE_R(g + (2 * N - 1) * PG, g), MAPERR_AT((2 * N - 1) * PG));
    expect("page between guards", PROBE_R(g + 2 * 5000 * PG, g), OKVAL(0));
    EXPECT_SYS("remove all in one call", madvise(g, PAGES * PG, MADV_GUARD_REMOVE), "0");
    expectf("guard pages in pagemap", "0", "%ld", count_guards(g));
    expect("middle page read", PROBE_R(g + (2 * 5000 + 1) * PG + 5, g), OKVAL(0));
    munmap(g, PAGES * PG);

    out("-- %d PROT_NONE MAP_FIXED pages on every other page --\n", N);
    char *p = map_anon(PAGES, PROT_READ | PROT_WRITE);
    v0 = vma_count();
    fails = 0;
    for (long i = 0; i < N; i++) {
        void *r = mmap(p + (2 * i + 1) * PG, PG, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        fails += r != p + (2 * i + 1) * PG;
    }
    expectf("failed mmaps", "0", "%ld", fails);
    expectf("VMA count delta", "+20000", "%+ld", vma_count() - v0);
    expect("middle PROT_NONE read", PROBE_R(p + (2 * 5000 + 1) * PG + 5, p),
           ACCERR_AT((2 * 5000 + 1) * PG + 5));
    munmap(p, PAGES * PG);
    expectf("VMA count delta after munmap", "-1", "%+ld", vma_count() - v0);

    return summary("guard_vs_protnone_vma_count");
}
