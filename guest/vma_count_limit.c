/* vma_count_limit.c - the vm.max_map_count limit (65530 by default) with 65,530 one-page
 * mappings: single pages with alternating protections (so that neighbours do not merge) are
 * mapped until mmap fails with ENOMEM; the limit counts every VMA of the process ([vsyscall],
 * which /proc/self/maps lists, is not one). Measured on the host: mmap compares the count before
 * adding a VMA (fails when it is above the limit), so the last mmap that works takes it to the
 * limit + 1. There, splitting a VMA in three (mprotect or munmap of its middle page) fails with
 * ENOMEM too; unmapping its head and mprotect of a whole VMA do not. Once the pages are unmapped
 * again, mmap works. Prints counts and errnos only.
 */
#include "guest_util.h"

#define MAX_PAGES 70000

static void *pages[MAX_PAGES];

static long read_max_map_count(void)
{
    int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
    char buf[32] = {0};
    if (fd < 0 || read(fd, buf, sizeof buf - 1) <= 0)
        return -1;
    close(fd);
    return strtol(buf, NULL, 10);
}

static const char *result(int r) { return r == 0 ? "0" : errname(errno); }

int main(void)
{
    const long limit = read_max_map_count();
    out("vm.max_map_count: %ld\n", limit);

    /* A three-page mapping whose middle can be split off later. */
    char *three = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (three == MAP_FAILED)
        return 1;
    const long before = vma_count();  /* /proc/self/maps lines, [vsyscall] included */

    int mapped = 0, error = 0;
    for (; mapped < MAX_PAGES; mapped++) {
        /* The first one differs from `three` above it too. */
        const int prot = mapped % 2 ? PROT_READ | PROT_WRITE : PROT_READ;
        void *p = mmap(NULL, PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            error = errno;
            break;
        }
        pages[mapped] = p;
    }
    out("one-page mappings until mmap failed: %s; maps lines before + mapped = %ld\n", errname(error),
        before + mapped);
    out("maps lines at the limit: %ld\n", vma_count());
    out("mmap at the limit: %s\n", mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED
                                       ? errname(errno) : "mapped");

    out("mprotect splitting a VMA in three: %s\n", result(mprotect(three + PG, PG, PROT_READ)));
    out("munmap splitting a VMA in three: %s\n", result(munmap(three + PG, PG)));
    out("munmap of a VMA's head: %s\n", result(munmap(three, PG)));
    out("mprotect of the rest (no split): %s\n", result(mprotect(three + PG, 2 * PG, PROT_READ)));

    int unmapped = 0;
    for (int i = 0; i < mapped; i++)
        unmapped += munmap(pages[i], PG) == 0;
    out("unmapped %s of them\n", unmapped == mapped ? "all" : "not all");
    out("maps lines after unmapping = before: %s\n", vma_count() == before ? "yes" : "no");
    out("mprotect of its last page (a split): %s\n", result(mprotect(three + 2 * PG, PG, PROT_READ | PROT_WRITE)));
    void *again = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    out("mmap after unmapping: %s\n", again == MAP_FAILED ? errname(errno) : "mapped");
    return 0;
}
