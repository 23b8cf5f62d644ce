/* pagemap_scan.h - the PAGEMAP_SCAN ioctl of Linux 6.7+ for guests: its interface
 * (include/uapi/linux/fs.h; Debian 12's headers predate it) and the way the guests print a
 * scan: "n: [from,to) categories ... walk_end=page", offsets in pages from a base. Include after
 * guest_util.h. */
#ifndef MMUEMU_PAGEMAP_SCAN_H
#define MMUEMU_PAGEMAP_SCAN_H

#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
struct page_region {
    uint64_t start, end, categories;
};
struct pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_SOFT_DIRTY (1 << 7)
#endif
#define PAGE_IS_GUARD (1 << 8)

/* The PAGE_IS_* names of `c`, comma-separated, or "-". */
GUEST_STATIC const char *scan_categories(uint64_t c, char *buf, size_t n)
{
    static const char *names[] = {"wpallowed", "written", "file", "present", "swapped", "pfnzero", "huge",
                                  "soft-dirty", "guard"};
    buf[0] = 0;
    for (int i = 0; i < 9; ++i)
        if (c & (1ull << i)) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? "," : "", names[i]);
    if (!buf[0]) snprintf(buf, n, "-");
    return buf;
}

/* Runs PAGEMAP_SCAN on `pagemap` with `a` (its vector replaced by one of 16 entries when it has
 * one) and writes what it gave into `got`: "-1 ERRNO", or the regions and walk_end. */
GUEST_STATIC void run_pagemap_scan(int pagemap, struct pm_scan_arg a, const char *base, char *got, size_t size)
{
    struct page_region vec[16];
    memset(vec, 0, sizeof vec);
    if (a.vec) a.vec = (uintptr_t)vec;
    errno = 0;
    long n = ioctl(pagemap, PAGEMAP_SCAN, &a);
    if (n < 0) {
        snprintf(got, size, "-1 %s", errname(errno));
        return;
    }
    snprintf(got, size, "%ld:", n);
    for (long i = 0; i < n && i < 16; ++i) {
        char c[128];
        snprintf(got + strlen(got), size - strlen(got), " [%ld,%ld) %s",
                 (long)((const char *)(uintptr_t)vec[i].start - base) / (long)PG,
                 (long)((const char *)(uintptr_t)vec[i].end - base) / (long)PG,
                 scan_categories(vec[i].categories, c, sizeof c));
    }
    snprintf(got + strlen(got), size - strlen(got), " walk_end=%ld",
             (long)((const char *)(uintptr_t)a.walk_end - base) / (long)PG);
}

#endif
