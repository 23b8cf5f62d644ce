/* Asynchronous userfaultfd write-protection (UFFD_FEATURE_WP_ASYNC, UFFD_FEATURE_WP_UNPOPULATED)
 * and PAGEMAP_SCAN's write-protect operations as Linux 6.18 gives them: which feature sets
 * UFFDIO_API accepts; write-protecting pages never touched (markers); writes resolved by the
 * kernel without an event; PAGE_IS_WPALLOWED and PAGE_IS_WRITTEN; PM_SCAN_WP_MATCHING collecting
 * the written pages and protecting them again in one call, cut by max_pages or a full vector;
 * PM_SCAN_CHECK_WPASYNC on other mappings. Offsets print in pages from the region. */
#include "common/guest_util.h"
#include "common/pagemap_scan.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#define NPAGES 8
static int g_pagemap;

/* PAGEMAP_SCAN over the region's pages; "n: [from,to) cats ... walk_end=off" in pages. */
static void scan(const char *label, char *base, int npages, uint64_t flags, uint64_t mask, uint64_t ret_mask,
                 int vec_len, uint64_t max_pages, const char *want)
{
    struct page_region vec_marker;
    struct pm_scan_arg a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.flags = flags;
    a.start = (uintptr_t)base;
    a.end = (uintptr_t)base + npages * PG;
    a.vec = vec_len ? (uintptr_t)&vec_marker : 0;  /* run_pagemap_scan supplies the vector */
    a.vec_len = (uint64_t)vec_len;
    a.max_pages = max_pages;
    a.category_mask = mask;
    a.return_mask = ret_mask;
    char got[1024];
    run_pagemap_scan(g_pagemap, a, base, got, sizeof got);
    expect(label, got, want);
}

/* The region's pagemap uffd-wp (bit 57) and present (bit 63) bits, one letter per page:
 * W protected and present, w protected and absent (a marker), P present, . neither. */
static const char *wp_bits(char *base, int npages, char *buf)
{
    for (int i = 0; i < npages; ++i) {
        uint64_t e = 0;
        if (pread(g_pagemap, &e, 8, (off_t)((uintptr_t)(base + i * PG) / PG * 8)) != 8) e = 0;
        const int wp = (e >> 57) & 1, present = (e >> 63) & 1;
        buf[i] = wp ? (present ? 'W' : 'w') : (present ? 'P' : '.');
    }
    buf[npages] = 0;
    return buf;
}
#define WP_BITS(base, n) wp_bits((base), (n), (char[64]){0})

static int new_uffd(uint64_t features, const char *label, const char *want)
{
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        expect(label, RSTR(fd, errno), want);
        return -1;
    }
    struct uffdio_api api = {.api = UFFD_API, .features = features};
    errno = 0;
    long r = ioctl(fd, UFFDIO_API, &api);
    char got[96];
    snprintf(got, sizeof got, "%s async=%d unpopulated=%d", RSTR(r, errno),
             !!(api.features & UFFD_FEATURE_WP_ASYNC), !!(api.features & UFFD_FEATURE_WP_UNPOPULATED));
    expect(label, got, want);
    if (r != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static long reg(int fd, void *start, unsigned long len, uint64_t mode)
{
    struct uffdio_register r = {.range = {(unsigned long)start, len}, .mode = mode};
    errno = 0;
    return ioctl(fd, UFFDIO_REGISTER, &r);
}

static long wprotect(int fd, void *start, unsigned long len, int on)
{
    struct uffdio_writeprotect w = {.range = {(unsigned long)start, len}, .mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
    errno = 0;
    return ioctl(fd, UFFDIO_WRITEPROTECT, &w);
}

static char *anon(int npages)
{
    char *p = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

#define W PAGE_IS_WRITTEN
#define WPM PM_SCAN_WP_MATCHING
#define CHK PM_SCAN_CHECK_WPASYNC

static void api_rules(void)
{
    int fd = new_uffd(UFFD_FEATURE_WP_ASYNC, "api: WP_ASYNC alone", "0 async=1 unpopulated=1");
    if (fd >= 0) close(fd);
    fd = new_uffd(UFFD_FEATURE_WP_UNPOPULATED, "api: WP_UNPOPULATED alone", "0 async=1 unpopulated=1");
    if (fd >= 0) close(fd);
    fd = new_uffd(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, "api: both", "0 async=1 unpopulated=1");
    if (fd >= 0) close(fd);
}

/* Sync WP with WP_UNPOPULATED only: markers on untouched anonymous pages, no async resolution. */
static void unpopulated_sync(void)
{
    char *m = anon(4);
    int fd = new_uffd(UFFD_FEATURE_WP_UNPOPULATED, "unpop: api", "0 async=1 unpopulated=1");
    if (!m || fd < 0) return;
    m[0] = 1;
    EXPECT_SYS("unpop: register wp", reg(fd, m, 4 * PG, UFFDIO_REGISTER_MODE_WP), "0");
    EXPECT_SYS("unpop: writeprotect", wprotect(fd, m, 4 * PG, 1), "0");
    expect("unpop: bits", WP_BITS(m, 4), "Wwww");
    expect("unpop: read page 1", OKVAL(m[PG]), "ok val=0x00");
    expect("unpop: bits after read", WP_BITS(m, 4), "WWww");
    scan("unpop: scan", m, 4, 0, 0, 0x1ff, 16, 0, "3: [0,1) present [1,2) present,pfnzero [2,4) swapped walk_end=4");
    EXPECT_SYS("unpop: unprotect", wprotect(fd, m, 4 * PG, 0), "0");
    expect("unpop: bits after unprotect", WP_BITS(m, 4), "PP..");
    close(fd);
    munmap(m, 4 * PG);
}

/* Without WP_UNPOPULATED, untouched anonymous pages stay unprotected. */
static void populated_only(void)
{
    char *m = anon(4);
    int fd = new_uffd(0, "plain: api", "0 async=1 unpopulated=1");
    if (!m || fd < 0) return;
    m[0] = 1;
    EXPECT_SYS("plain: register wp", reg(fd, m, 4 * PG, UFFDIO_REGISTER_MODE_WP), "0");
    EXPECT_SYS("plain: writeprotect", wprotect(fd, m, 4 * PG, 1), "0");
    expect("plain: bits", WP_BITS(m, 4), "W...");
    scan("plain: scan", m, 4, 0, 0, 0x1ff, 16, 0, "2: [0,1) present [1,4) written walk_end=4");
    scan("plain: check wpasync", m, 4, CHK, 0, 0x1ff, 16, 0, "-1 EPERM");
    scan("plain: wp matching skips", m, 4, WPM, W, W, 16, 0, "0: walk_end=4");
    close(fd);
    munmap(m, 4 * PG);
}

static void async_rules(void)
{
    char *m = anon(NPAGES);
    int fd = new_uffd(UFFD_FEATURE_WP_ASYNC, "async: api", "0 async=1 unpopulated=1");
    if (!m || fd < 0) return;
    m[0] = 1;
    m[PG] = 1;
    expect("async: read page 2", OKVAL(m[2 * PG]), "ok val=0x00");
    EXPECT_SYS("async: register wp", reg(fd, m, NPAGES * PG, UFFDIO_REGISTER_MODE_WP), "0");
    scan("async: before protect", m, NPAGES, 0, 0, 0x1ff, 16, 0, "3: [0,2) wpallowed,written,present [2,3) wpallowed,written,present,pfnzero [3,8) wpallowed,written walk_end=8");
    scan("async: before protect, written fast path", m, NPAGES, 0, W, W, 16, 0, "1: [0,8) written walk_end=8");
    EXPECT_SYS("async: writeprotect", wprotect(fd, m, NPAGES * PG, 1), "0");
    expect("async: bits", WP_BITS(m, NPAGES), "WWWwwwww");
    scan("async: after protect", m, NPAGES, 0, 0, 0x1ff, 16, 0, "3: [0,2) wpallowed,present [2,3) wpallowed,present,pfnzero [3,8) wpallowed,swapped walk_end=8");
    m[0] = 2;  /* resolved by the kernel: no event, no wait */
    m[5 * PG] = 3;
    expect("async: read page 6", OKVAL(m[6 * PG]), "ok val=0x00");
    expect("async: bits after writes", WP_BITS(m, NPAGES), "PWWwwPWw");
    scan("async: written", m, NPAGES, 0, W, W, 16, 0, "2: [0,1) written [5,6) written walk_end=8");
    scan("async: written, general path", m, NPAGES, 0, W, 0x1ff, 16, 0, "2: [0,1) wpallowed,written,present [5,6) wpallowed,written,present walk_end=8");
    scan("async: collect and protect", m, NPAGES, WPM | CHK, W, W, 16, 0, "2: [0,1) written [5,6) written walk_end=8");
    expect("async: bits after collect", WP_BITS(m, NPAGES), "WWWwwWWw");
    scan("async: collect again", m, NPAGES, WPM | CHK, W, W, 16, 0, "0: walk_end=8");
    m[PG] = 4;
    m[3 * PG] = 5;
    m[4 * PG] = 6;
    m[7 * PG] = 7;
    scan("async: written pages", m, NPAGES, WPM | CHK, W, W, 16, 0, "3: [1,2) written [3,5) written [7,8) written walk_end=8");
    expect("async: contents", (m[0] == 2 && m[PG] == 4 && m[3 * PG] == 5 && m[5 * PG] == 3 && m[7 * PG] == 7) ? "kept" : "lost",
           "kept");
    /* max_pages cuts the run: only what is reported gets protected. */
    for (int i = 0; i < 4; ++i) m[i * PG] = 8;
    scan("async: max_pages 2", m, NPAGES, WPM | CHK, W, W, 16, 2, "1: [0,2) written walk_end=2");
    scan("async: rest still written", m, NPAGES, 0, W, W, 16, 0, "1: [2,4) written walk_end=8");
    /* A full vector: the second run is neither reported nor protected. */
    m[6 * PG] = 9;
    scan("async: vec_len 1", m, NPAGES, WPM | CHK, W, W, 1, 0, "1: [2,4) written walk_end=6");
    scan("async: after vec_len 1", m, NPAGES, 0, W, W, 16, 0, "1: [6,7) written walk_end=8");
    /* The general path (another return mask) protects what it reports too. */
    scan("async: general path collect", m, NPAGES, WPM | CHK, W, 0x1ff, 16, 0, "1: [6,7) wpallowed,written,present walk_end=8");
    scan("async: after general", m, NPAGES, 0, 0, 0x1ff, 16, 0, "1: [0,8) wpallowed,present walk_end=8");
    /* Without a vector every page of the walked range is protected. */
    m[2 * PG] = 10;
    scan("async: no vector", m, NPAGES, WPM | CHK, W, W, 0, 0, "0: walk_end=8");
    scan("async: after no vector", m, NPAGES, 0, W, W, 16, 0, "0: walk_end=8");
    /* MADV_DONTNEED: the pages are gone, the markers with them? */
    EXPECT_SYS("async: dontneed 3", madvise(m + 3 * PG, PG, MADV_DONTNEED), "0");
    scan("async: after dontneed", m, NPAGES, 0, 0, 0x1ff, 16, 0, "3: [0,3) wpallowed,present [3,4) wpallowed,written [4,8) wpallowed,present walk_end=8");
    /* A guard page counts as written until a scan protects it (the marker keeps both). */
    EXPECT_SYS("async: guard page 4", madvise(m + 4 * PG, PG, MADV_GUARD_INSTALL), "0");
    scan("async: guard collect", m, NPAGES, WPM | CHK, W, 0x1ff, 16, 0, "2: [3,4) wpallowed,written [4,5) wpallowed,written,swapped,guard walk_end=8");
    scan("async: guard again", m, NPAGES, WPM | CHK, W, 0x1ff, 16, 0, "0: walk_end=8");
    expect("async: bits with guard", WP_BITS(m, NPAGES), "WWWwwWWW");
    expect("async: guard write", PROBE_W(m + 4 * PG, m, 1), "SIGSEGV SEGV_MAPERR addr=+0x4000");
    EXPECT_SYS("async: guard remove", madvise(m + 4 * PG, PG, MADV_GUARD_REMOVE), "0");
    expect("async: bits after guard remove", WP_BITS(m, NPAGES), "WWWw.WWW");
    /* A mapping that is not registered: CHECK_WPASYNC is EPERM, WP_MATCHING alone skips it. */
    char *other = anon(2);
    other[0] = 1;
    scan("other: check wpasync", other, 2, CHK, 0, 0x1ff, 16, 0, "-1 EPERM");
    scan("other: wp matching", other, 2, WPM, W, W, 16, 0, "0: walk_end=2");
    scan("other: plain", other, 2, 0, 0, 0x1ff, 16, 0, "2: [0,1) written,present [1,2) written walk_end=2");
    EXPECT_SYS("async: unregister", ({
                   struct uffdio_range r = {(unsigned long)m, NPAGES * PG};
                   errno = 0;
                   ioctl(fd, UFFDIO_UNREGISTER, &r);
               }),
               "0");
    scan("async: after unregister", m, NPAGES, 0, 0, 0x1ff, 16, 0, "3: [0,3) written,present [3,5) written [5,8) written,present walk_end=8");
    close(fd);
    munmap(m, NPAGES * PG);
    munmap(other, 2 * PG);
}

/* WP_ASYNC with modes other than WP alone, and with a memfd. */
static void async_modes(void)
{
    char *m = anon(2);
    int fd = new_uffd(UFFD_FEATURE_WP_ASYNC, "modes: api", "0 async=1 unpopulated=1");
    if (!m || fd < 0) return;
    EXPECT_SYS("modes: register missing|wp", reg(fd, m, 2 * PG, UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING),
               "0");
    EXPECT_SYS("modes: writeprotect", wprotect(fd, m, 2 * PG, 1), "0");
    scan("modes: scan", m, 2, CHK, 0, 0x1ff, 16, 0, "1: [0,2) wpallowed,swapped walk_end=2");
    close(fd);
    munmap(m, 2 * PG);

    int mfd = memfd_create("wpasync", 0);
    if (mfd < 0 || ftruncate(mfd, 4 * PG) != 0) return;
    char *s = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    fd = new_uffd(UFFD_FEATURE_WP_ASYNC, "shmem: api", "0 async=1 unpopulated=1");
    if (s == MAP_FAILED || fd < 0) return;
    s[0] = 1;
    EXPECT_SYS("shmem: register wp", reg(fd, s, 4 * PG, UFFDIO_REGISTER_MODE_WP), "0");
    EXPECT_SYS("shmem: writeprotect", wprotect(fd, s, 4 * PG, 1), "0");
    expect("shmem: bits", WP_BITS(s, 4), "Wwww");
    s[2 * PG] = 2;
    scan("shmem: collect", s, 4, WPM | CHK, W, W, 16, 0, "1: [2,3) written walk_end=4");
    scan("shmem: again", s, 4, WPM | CHK, W, W, 16, 0, "0: walk_end=4");
    /* Zapping shmem pages keeps their protection as markers (anonymous memory loses it). */
    EXPECT_SYS("shmem: dontneed 0-1", madvise(s, 2 * PG, MADV_DONTNEED), "0");
    expect("shmem: bits after dontneed", WP_BITS(s, 4), "wwWw");
    EXPECT_SYS("shmem: truncate to 1 page", ftruncate(mfd, PG), "0");
    expect("shmem: bits after truncate", WP_BITS(s, 4), "wwww");
    expect("shmem: read page 0", OKVAL(s[0]), "ok val=0x01");
    scan("shmem: after zaps", s, 4, 0, 0, 0x1ff, 16, 0, "2: [0,1) wpallowed,file,present [1,4) wpallowed,swapped walk_end=4");
    close(fd);
    munmap(s, 4 * PG);
    close(mfd);
}

/* Mappings of a file: only MODE_WP alone in a WP_ASYNC context; pages not mapped get markers. */
static void file_mappings(void)
{
    static const char *path = "uffd_wp_async_rules.tmp";
    unlink(path);
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (f < 0 || ftruncate(f, 4 * PG) != 0) return;
    int sync_fd = new_uffd(0, "file: sync api", "0 async=1 unpopulated=1");
    int fd = new_uffd(UFFD_FEATURE_WP_ASYNC, "file: api", "0 async=1 unpopulated=1");
    for (int shared = 0; shared < 2 && fd >= 0 && sync_fd >= 0; ++shared) {
        char label[64];
#define L(what) (snprintf(label, sizeof label, "file %s: %s", shared ? "shared" : "private", (what)), label)
        char *m = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, shared ? MAP_SHARED : MAP_PRIVATE, f, 0);
        if (m == MAP_FAILED) return;
        m[0] = 'a';
        /* Every page mapped first (the host maps a file's neighbouring pages on a read fault). */
        expect(L("read page 1"), OKVAL(m[PG]), "ok val=0x00");
        expect(L("read page 2"), OKVAL(m[2 * PG]), "ok val=0x00");
        expect(L("read page 3"), OKVAL(m[3 * PG]), "ok val=0x00");
        EXPECT_SYS(L("register wp, sync context"), reg(sync_fd, m, 4 * PG, UFFDIO_REGISTER_MODE_WP), "-1 EINVAL");
        EXPECT_SYS(L("register missing|wp"), reg(fd, m, 4 * PG, UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING),
                   "-1 EINVAL");
        EXPECT_SYS(L("register wp"), reg(fd, m, 4 * PG, UFFDIO_REGISTER_MODE_WP), "0");
        scan(L("before protect"), m, 4, 0, 0, 0x1ff, 16, 0, shared ? "1: [0,4) wpallowed,written,file,present walk_end=4" : "2: [0,1) wpallowed,written,present [1,4) wpallowed,written,file,present walk_end=4");
        EXPECT_SYS(L("writeprotect"), wprotect(fd, m, 4 * PG, 1), "0");
        expect(L("bits"), WP_BITS(m, 4), "WWWW");
        m[0] = 'b';
        m[2 * PG] = 'c';
        expect(L("read page 3 again"), OKVAL(m[3 * PG]), "ok val=0x00");
        expect(L("bits after writes"), WP_BITS(m, 4), "PWPW");
        scan(L("collect"), m, 4, WPM | CHK, W, W, 16, 0, "2: [0,1) written [2,3) written walk_end=4");
        scan(L("again"), m, 4, 0, 0, 0x1ff, 16, 0, shared ? "1: [0,4) wpallowed,file,present walk_end=4" : "4: [0,1) wpallowed,present [1,2) wpallowed,file,present [2,3) wpallowed,present [3,4) wpallowed,file,present walk_end=4");
        munmap(m, 4 * PG);
        char c[3] = {0};
        if (pread(f, c, 1, 0) != 1 || pread(f, c + 1, 1, 2 * PG) != 1) c[0] = '!';
        expect(L("file holds"), c[0] ? c : "-", shared ? "bc" : "-");
#undef L
    }
    if (fd >= 0) close(fd);
    if (sync_fd >= 0) close(sync_fd);
    close(f);
    unlink(path);
}

int main(void)
{
    probe_init();
    g_pagemap = open("/proc/self/pagemap", O_RDONLY);
    if (g_pagemap < 0) {
        out("open pagemap: %s\n", errname(errno));
        return 1;
    }
    api_rules();
    unpopulated_sync();
    populated_only();
    async_rules();
    async_modes();
    file_mappings();
    return summary("uffd_wp_async_rules");
}
