/* The host-kernel counterpart of mmu_bench's guard and fault-in benchmarks: the same sequences of
 * madvise(MADV_GUARD_INSTALL / MADV_GUARD_REMOVE) calls over the same region sizes, and write
 * fault-in of fresh pages, timed with clock_gettime(CLOCK_MONOTONIC) around each batch.
 * Region resets (populating, clearing guards, munmap) happen between batches, outside the timing.
 * Transparent huge pages are disabled on every region (MADV_NOHUGEPAGE): both sides use 4 KiB
 * pages. Prints one "operation ns/op ops" line per case; case names match mmu_bench's.
 *
 * Usage: native_guard_bench [--min-time SECONDS]   (default 0.5 s of timed work per case) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif

#define GUARD_REGION_PAGES 4096u  /* as mmu_bench's kGuardRegionPages */
#define FAULT_BATCH_PAGES 16384u  /* as mmu_bench's kFaultBatchPages */
/* Remove on populated memory repopulates the whole region per batch for a few cheap calls: it
 * runs this many batches instead of a minimum time (as mmu_bench's kPopulatedRemoveBatches). */
#define POPULATED_REMOVE_BATCHES 100u
#define PM_PRESENT (1ull << 63)
#define PM_GUARD_REGION (1ull << 58)

enum contents { EMPTY, POPULATED };
enum guard_op { OP_INSTALL, OP_REMOVE, OP_INSTALL_REMOVE };

static size_t page_size;
static uint64_t min_ns = 500000000ull;
static int pagemap_fd = -1;
static int pagemap_shows_guards; /* PM_GUARD_REGION is reported (Linux 6.14+) */
static char failure[256];        /* why the current case failed */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what) {
    snprintf(failure, sizeof failure, "%s: %s", what, strerror(errno));
    return -1;
}

static char *map_region(size_t pages) {
    void *p = mmap(NULL, pages * page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) return NULL;
    if (madvise(p, pages * page_size, MADV_NOHUGEPAGE) != 0) {
        munmap(p, pages * page_size);
        return NULL;
    }
    return p;
}

static void populate(char *base, size_t pages) {
    for (size_t i = 0; i < pages; ++i) ((volatile char *)base)[i * page_size] = 1;
}

/* Reads the pagemap entries of `pages` pages from `va` into `entries`, in one call. */
static int pagemap_entries(const char *va, size_t pages, uint64_t *entries) {
    const off_t offset = (off_t)((uintptr_t)va / page_size * sizeof *entries);
    const size_t bytes = pages * sizeof *entries;
    return pread(pagemap_fd, entries, bytes, offset) == (ssize_t)bytes ? 0 : -1;
}

/* Checks the first `pages` pages: guarded exactly when `guarded` (if the kernel reports guards),
 * and none present (a guard install zaps what it covers). */
static int check_region(const char *base, size_t pages, int guarded) {
    static uint64_t entries[GUARD_REGION_PAGES];
    if (pages > GUARD_REGION_PAGES || pagemap_entries(base, pages, entries) != 0)
        return fail("reading /proc/self/pagemap");
    for (size_t i = 0; i < pages; ++i) {
        if (pagemap_shows_guards && !!(entries[i] & PM_GUARD_REGION) != guarded) {
            snprintf(failure, sizeof failure, "%s",
                     guarded ? "a page is not guarded" : "a guard is left");
            return -1;
        }
        if (entries[i] & PM_PRESENT) {
            snprintf(failure, sizeof failure, "a populated page survived guard install");
            return -1;
        }
    }
    return 0;
}

/* One guard case: batches over a GUARD_REGION_PAGES region, one call per `pages` chunk. */
static int guard_case(size_t pages, enum contents contents, enum guard_op op, double *ns_per_op,
                      uint64_t *ops) {
    const size_t region = GUARD_REGION_PAGES * page_size, len = pages * page_size;
    const size_t chunks = GUARD_REGION_PAGES / pages;
    char *base = map_region(GUARD_REGION_PAGES);
    if (!base) return fail("mmap");
    const int fixed_batches = op == OP_REMOVE && contents == POPULATED;
    uint64_t timed = 0;
    int rc = 0;
    *ops = 0;
    for (unsigned batch = 0;
         rc == 0 && (fixed_batches ? batch < POPULATED_REMOVE_BATCHES : timed < min_ns); ++batch) {
        if (contents == POPULATED) populate(base, GUARD_REGION_PAGES);
        if (op == OP_REMOVE && madvise(base, region, MADV_GUARD_INSTALL) != 0) {
            rc = fail("MADV_GUARD_INSTALL of the region");
            break;
        }
        const uint64_t start = now_ns();
        for (size_t k = 0; k < chunks; ++k) {
            char *va = base + k * len;
            if (op != OP_REMOVE && madvise(va, len, MADV_GUARD_INSTALL) != 0) {
                rc = fail("MADV_GUARD_INSTALL");
                break;
            }
            if (op != OP_INSTALL && madvise(va, len, MADV_GUARD_REMOVE) != 0) {
                rc = fail("MADV_GUARD_REMOVE");
                break;
            }
        }
        timed += now_ns() - start;
        *ops += chunks;
        if (rc == 0) rc = check_region(base, GUARD_REGION_PAGES, op == OP_INSTALL);
        if (rc == 0 && op == OP_INSTALL && madvise(base, region, MADV_GUARD_REMOVE) != 0)
            rc = fail("MADV_GUARD_REMOVE of the region");
    }
    munmap(base, region);
    *ns_per_op = (double)timed / (double)*ops;
    return rc;
}

/* Write fault-in of never-touched pages: one store per page of a fresh mapping. */
static int fault_in_case(double *ns_per_op, uint64_t *ops) {
    const size_t region = FAULT_BATCH_PAGES * page_size;
    unsigned char residency[FAULT_BATCH_PAGES];
    uint64_t timed = 0;
    *ops = 0;
    while (timed < min_ns) {
        char *base = map_region(FAULT_BATCH_PAGES);
        if (!base) return fail("mmap");
        const uint64_t start = now_ns();
        populate(base, FAULT_BATCH_PAGES);
        timed += now_ns() - start;
        *ops += FAULT_BATCH_PAGES;
        int rc = mincore(base, region, residency) != 0 ? fail("mincore") : 0;
        for (size_t i = 0; rc == 0 && i < FAULT_BATCH_PAGES; ++i)
            if (!(residency[i] & 1)) {
                snprintf(failure, sizeof failure, "a touched page is not resident");
                rc = -1;
            }
        munmap(base, region);
        if (rc != 0) return rc;
    }
    *ns_per_op = (double)timed / (double)*ops;
    return 0;
}

static void report(const char *name, int rc, double ns_per_op, uint64_t ops) {
    if (rc == 0)
        printf("%-36s %12.1f %12llu\n", name, ns_per_op, (unsigned long long)ops);
    else
        printf("%-36s %12s %12s  %s\n", name, "error", "-", failure);
    fflush(stdout);
}

/* Whether guard regions work here, and whether pagemap reports them. */
static int probe_guards(void) {
    char *page = map_region(1);
    if (!page) return fail("mmap");
    int rc = madvise(page, page_size, MADV_GUARD_INSTALL) != 0 ? fail("MADV_GUARD_INSTALL") : 0;
    uint64_t e = 0;
    if (rc == 0 && pagemap_entries(page, 1, &e) == 0)
        pagemap_shows_guards = (e & PM_GUARD_REGION) != 0;
    munmap(page, page_size);
    return rc;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--min-time") == 0 && i + 1 < argc) {
            min_ns = (uint64_t)(strtod(argv[++i], NULL) * 1e9);
        } else {
            fprintf(stderr, "usage: %s [--min-time SECONDS]\n", argv[0]);
            return 2;
        }
    }
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
    if (pagemap_fd < 0) {
        perror("/proc/self/pagemap");
        return 1;
    }
    struct utsname host;
    uname(&host);
    const int guards_ok = probe_guards() == 0;
    printf("# host kernel %s, page size %zu, guard regions %s, pagemap guard bit %s\n",
           host.release, page_size, guards_ok ? "supported" : failure,
           pagemap_shows_guards ? "reported" : "not reported (guard state unchecked)");
    printf("%-36s %12s %12s\n", "operation", "ns/op", "ops");

    double ns = 0;
    uint64_t ops = 0;
    int rc = fault_in_case(&ns, &ops);
    report("fault_in/touch", rc, ns, ops);

    static const struct { enum guard_op op; const char *name; } ops_list[] = {
        {OP_INSTALL, "guard_install"}, {OP_REMOVE, "guard_remove"},
        {OP_INSTALL_REMOVE, "guard_install+remove"}};
    static const size_t page_counts[] = {1, 512};
    int failed = rc != 0;
    for (size_t o = 0; o < sizeof ops_list / sizeof ops_list[0]; ++o)
        for (int c = EMPTY; c <= POPULATED; ++c)
            for (size_t n = 0; n < sizeof page_counts / sizeof page_counts[0]; ++n) {
                char name[64];
                snprintf(name, sizeof name, "%s/%zu/%s", ops_list[o].name, page_counts[n],
                         c == EMPTY ? "empty" : "populated");
                rc = guards_ok ? guard_case(page_counts[n], (enum contents)c, ops_list[o].op,
                                            &ns, &ops)
                               : -1;
                report(name, rc, ns, ops);
                failed |= rc != 0;
            }
    close(pagemap_fd);
    return failed ? 1 : 0;
}
