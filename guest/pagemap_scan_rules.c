/* /proc/self/pagemap flag bits, /proc/self/clear_refs and the PAGEMAP_SCAN ioctl as Linux 6.18
 * gives them: the flags of untouched, zero-page, written, guard, file and shmem pages; clear_refs
 * (the host's kernel is built without CONFIG_MEM_SOFT_DIRTY: no page is ever soft-dirty, and
 * clear_refs 4 is accepted and changes nothing visible); and
 * PAGEMAP_SCAN's category, mask, inversion, return-mask, max_pages, vec_len and walk_end rules
 * over a region mixing present, absent and guard pages. Addresses print relative to the region. */
#include <fcntl.h>
#include <linux/fs.h>

#include "common/guest_util.h"
#include "common/pagemap_scan.h"

static int g_pagemap;

/* Bits 55-62 of a pagemap entry (soft-dirty, exclusive, uffd-wp, guard, file, swap) and 63. */
static const char *flags_of(const void *addr, char *buf, size_t n)
{
    uint64_t e = 0;
    if (pread(g_pagemap, &e, 8, (off_t)((uintptr_t)addr / PG * 8)) != 8) {
        snprintf(buf, n, "pread %s", errname(errno));
        return buf;
    }
    snprintf(buf, n, "%s%s%s%s%s%s%s", (e >> 63) & 1 ? " present" : "", (e >> 62) & 1 ? " swap" : "",
             (e >> 61) & 1 ? " file" : "", (e >> 58) & 1 ? " guard" : "", (e >> 57) & 1 ? " uffd-wp" : "",
             (e >> 56) & 1 ? " exclusive" : "", (e >> 55) & 1 ? " soft-dirty" : "");
    if (!buf[0]) snprintf(buf, n, " none");
    return buf + 1;
}
#define FLAGS(a) flags_of((a), (char[96]){0}, 96)

static struct pm_scan_arg scan_arg(char *base, int npages, struct page_region *vec, int vec_len)
{
    struct pm_scan_arg a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.start = (uintptr_t)base;
    a.end = (uintptr_t)base + npages * PG;
    a.vec = (uintptr_t)vec;
    a.vec_len = vec_len;
    a.return_mask = 0x1ff;
    return a;
}

/* Runs the scan and checks "n: [from,to) cats ... walk_end=page", in pages from base. */
static void scan(const char *label, char *base, struct pm_scan_arg a, const char *want)
{
    char got[1024];
    run_pagemap_scan(g_pagemap, a, base, got, sizeof got);
    expect(label, got, want);
}

/* "Rss Referenced" of the smaps entry of the mapping at `addr`, in kB. */
static const char *smaps_refs(const void *addr, char *buf, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[256];
    unsigned long lo, hi, rss = ~0ul, ref = ~0ul, v;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) in = lo == (unsigned long)addr;
        if (in && sscanf(line, "Rss: %lu", &v) == 1) rss = v;
        if (in && sscanf(line, "Referenced: %lu", &v) == 1) ref = v;
    }
    if (f) fclose(f);
    snprintf(buf, n, "Rss %lu Referenced %lu", rss, ref);
    return buf;
}
#define REFS(a) smaps_refs((a), (char[64]){0}, 64)

static void clear_soft_dirty(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    EXPECT_SYS("clear_refs 4", write(fd, "4", 1), "1");
    close(fd);
}

int main(void)
{
    probe_init();
    g_pagemap = open("/proc/self/pagemap", O_RDONLY);
    /* 8 pages: 0 written, 1 read (zero page), 2 untouched, 3 guard, 4-5 written, 6 untouched,
     * 7 written. */
    char *m = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    m[0] = 1;
    volatile char c = m[PG];
    (void)c;
    madvise(m + 3 * PG, PG, MADV_GUARD_INSTALL);
    m[4 * PG] = m[5 * PG] = m[7 * PG] = 1;
    expect("written", FLAGS(m), "present exclusive");
    expect("zero page", FLAGS(m + PG), "present");
    expect("untouched", FLAGS(m + 2 * PG), "none");
    expect("guard", FLAGS(m + 3 * PG), "swap guard");

    /* Soft-dirty: cleared by clear_refs 4 (VMA and PTEs), set again by the next write only. */
    clear_soft_dirty();
    expect("written, after clear", FLAGS(m), "present exclusive");
    expect("untouched, after clear", FLAGS(m + 2 * PG), "none");
    expect("guard, after clear", FLAGS(m + 3 * PG), "swap guard");
    c = m[4 * PG];
    m[0] = 2;
    m[2 * PG] = 1;
    expect("rewritten", FLAGS(m), "present exclusive");
    expect("newly written", FLAGS(m + 2 * PG), "present exclusive");
    expect("only read", FLAGS(m + 4 * PG), "present exclusive");
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    EXPECT_SYS("clear_refs 0", write(fd, "0", 1), "-1 EINVAL");
    EXPECT_SYS("clear_refs 6", write(fd, "6", 1), "-1 EINVAL");
    EXPECT_SYS("clear_refs x", write(fd, "x", 1), "-1 EINVAL");
    EXPECT_SYS("clear_refs 5", write(fd, "5\n", 2), "2");
    expect("referenced before", REFS(m), "Rss 20 Referenced 20");
    EXPECT_SYS("clear_refs 2", write(fd, " 2\n", 3), "3");
    expect("referenced after clear_refs 2", REFS(m), "Rss 20 Referenced 0");
    EXPECT_SYS("clear_refs 1", write(fd, "1", 1), "1");
    EXPECT_SYS("clear_refs too long", write(fd, "1                    ", 21), "12");
    close(fd);

    /* File and shmem pages. */
    char path[] = "/tmp/mmuemu-pagemap-XXXXXX";
    int f = mkstemp(path);
    ftruncate(f, 2 * PG);
    char *fp = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, f, 0);
    c = fp[0];
    fp[PG] = 1;
    expect("file page read", FLAGS(fp), "present file exclusive");
    expect("file page copied", FLAGS(fp + PG), "present exclusive");
    char *sh = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    sh[0] = 1;
    expect("shmem page", FLAGS(sh), "present file exclusive");

    /* PAGEMAP_SCAN. */
    struct page_region vec[16];
    struct pm_scan_arg a = scan_arg(m, 8, vec, 16);
    scan("all categories", m, a, "7: [0,1) written,present [1,2) written,present,pfnzero [2,3) written,present "
         "[3,4) written,swapped,guard [4,6) written,present [6,7) written [7,8) written,present walk_end=8");
    a = scan_arg(m, 8, vec, 16);
    a.return_mask = PAGE_IS_PRESENT;
    scan("return present only", m, a, "5: [0,3) present [3,4) - [4,6) present [6,7) - [7,8) present walk_end=8");
    a = scan_arg(m, 8, vec, 16);
    a.category_mask = PAGE_IS_PRESENT;
    a.return_mask = PAGE_IS_PRESENT;
    scan("present pages", m, a, "3: [0,3) present [4,6) present [7,8) present walk_end=8");
    a.category_inverted = PAGE_IS_PRESENT;
    scan("absent pages", m, a, "2: [3,4) - [6,7) - walk_end=8");
    a = scan_arg(m, 8, vec, 16);
    a.category_anyof_mask = PAGE_IS_GUARD | PAGE_IS_PFNZERO;
    a.return_mask = PAGE_IS_GUARD | PAGE_IS_PFNZERO;
    scan("guard or zero", m, a, "2: [1,2) pfnzero [3,4) guard walk_end=8");
    a = scan_arg(m, 8, vec, 16);
    a.category_mask = PAGE_IS_PRESENT;
    a.return_mask = PAGE_IS_PRESENT;
    a.max_pages = 4;
    scan("max_pages 4", m, a, "2: [0,3) present [4,5) present walk_end=5");
    a.max_pages = 0;
    a.vec_len = 2;
    scan("vec_len 2", m, a, "2: [0,3) present [4,6) present walk_end=7");
    a.vec_len = 0;
    a.vec = 0;
    scan("no vector", m, a, "0: walk_end=8");
    a = scan_arg(m + 2 * PG, 3, vec, 16);
    a.return_mask = PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT;
    scan("middle, soft-dirty", m + 2 * PG, a, "3: [0,1) present [1,2) - [2,3) present walk_end=3");

    /* Argument rules. */
    a = scan_arg(m, 8, vec, 16);
    a.size = sizeof a - 8;
    scan("bad size", m, a, "-1 EINVAL");
    a = scan_arg(m, 8, vec, 16);
    a.flags = 4;
    scan("bad flag", m, a, "-1 EINVAL");
    a = scan_arg(m, 8, vec, 16);
    a.category_mask = 1 << 9;
    scan("bad category", m, a, "-1 EINVAL");
    a = scan_arg(m, 8, vec, 16);
    a.start += 1;
    scan("unaligned start", m, a, "-1 EINVAL");
    a = scan_arg(m, 8, vec, 16);
    a.end = a.start + 1;
    scan("end rounded up", m, a, "1: [0,1) written,present walk_end=1");
    a = scan_arg(m, 8, vec, 16);
    a.vec = 0;
    scan("vec_len without vec", m, a, "-1 EINVAL");
    a = scan_arg(m, 8, vec, 16);
    a.flags = PM_SCAN_CHECK_WPASYNC;
    scan("CHECK_WPASYNC without uffd", m, a, "-1 EPERM");
    a = scan_arg(m, 8, vec, 16);
    a.flags = PM_SCAN_WP_MATCHING;
    scan("WP_MATCHING without uffd", m, a, "0: walk_end=8");
    EXPECT_SYS("other ioctl", ioctl(g_pagemap, _IO('f', 17), 0), "-1 EINVAL");
    int other = open("/proc/self/maps", O_RDONLY);
    a = scan_arg(m, 8, vec, 16);
    EXPECT_SYS("PAGEMAP_SCAN on maps", ioctl(other, PAGEMAP_SCAN, &a), "-1 ENOTTY");
    close(other);
    unlink(path);
    return summary("pagemap_scan_rules");
}
