/* When Linux merges anonymous VMAs, seen through /proc/self/maps: after fork, a child's VMA
 * whose anon_vma came with fork merges with no VMA lacking one (its anon_vma chain is not
 * singular), while the parent's still merge; split pieces keep one anon_vma and merge again,
 * but neighbours that each made their own never merge; a VMA moved by mremap keeps its page
 * offset and does not merge with a new neighbour. */
#include "common/guest_util.h"

#include <sys/wait.h>


static char *map_at(char *at, int pages)
{
    return mmap(at, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

int main(void)
{
    /* A 16-page window of our own: [0,4) written before fork, the rest unmapped. */
    char *base = mmap(NULL, 16 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *a = map_at(base, 4);
    a[0] = 1;
    munmap(base + 4 * PG, 12 * PG);
    int pipefd[2];
    pipe(pipefd);
    pid_t pid = fork();
    if (pid == 0) {
        char report[256];
        char *b = map_at(base + 4 * PG, 4);
        int after_mmap = vmas_in(base, base + 8 * PG);
        b[0] = 1;
        int after_write = vmas_in(base, base + 8 * PG);
        mprotect(a + PG, PG, PROT_READ);
        int split = vmas_in(base, base + 4 * PG);
        mprotect(a + PG, PG, PROT_READ | PROT_WRITE);
        int rejoined = vmas_in(base, base + 4 * PG);
        char *c = map_at(base + 8 * PG, 4);
        c[0] = 1;
        int third = vmas_in(base, base + 12 * PG);
        snprintf(report, sizeof report, "%d %d %d %d %d", after_mmap, after_write, split, rejoined, third);
        write(pipefd[1], report, strlen(report) + 1);
        _exit(0);
    }
    char got[256] = "";
    read(pipefd[0], got, sizeof got);
    expect("child: next to inherited, written, split, rejoined, third", got, "2 2 3 1 2");
    expect("child", WAIT(pid), "exit 0");
    char *b = map_at(base + 4 * PG, 4);
    expectf("parent: next to its own", "1", "%d", vmas_in(base, base + 8 * PG));
    b[0] = 1;
    expectf("parent: written", "1", "%d", vmas_in(base, base + 8 * PG));

    /* Protection-only differences: an anon_vma made in one piece serves its neighbour. */
    munmap(base, 16 * PG);
    char *p = map_at(base, 6);
    mprotect(p + 2 * PG, 2 * PG, PROT_READ);
    p[0] = 1;
    p[5 * PG] = 1;
    expectf("three pieces", "3", "%d", vmas_in(base, base + 6 * PG));
    mprotect(p + 2 * PG, 2 * PG, PROT_READ | PROT_WRITE);
    expectf("equal protection again: two anon_vmas, two VMAs", "2", "%d", vmas_in(base, base + 6 * PG));

    /* mremap: the moved VMA keeps its page offset; a new neighbour does not merge with it. */
    munmap(base, 16 * PG);
    char *src = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    src[0] = 1;
    char *moved = mremap(src, 2 * PG, 2 * PG, MREMAP_MAYMOVE | MREMAP_FIXED, base);
    expect("moved", moved == base ? "ok" : errname(errno), "ok");
    char *n = map_at(base + 2 * PG, 2);
    expectf("after a moved VMA, untouched", "2", "%d", vmas_in(base, base + 4 * PG));
    n[0] = 1;
    expectf("after a moved VMA, written", "2", "%d", vmas_in(base, base + 4 * PG));
    char *before = map_at(base - 2 * PG, 2);
    (void)before;
    expectf("before a moved VMA", "3", "%d", vmas_in(base - 2 * PG, base + 4 * PG));
    return summary("vma_merge_rules");
}
