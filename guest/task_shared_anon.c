/* task_shared_anon.c - MAP_SHARED|MAP_ANONYMOUS memory is one object shared across fork;
 * MAP_PRIVATE memory is copy-on-write in both directions.
 *
 * Linux rules pinned: a shared anonymous mapping is backed by one shmem object, so a write by
 * either process is seen by the other, whether the page was touched before the fork (present in
 * both page tables) or first touched after it by the child or by the parent (the other process
 * faults in the same page later); a never-touched shared page reads zero in both. A private
 * mapping is copy-on-write: neither side sees the other's writes, for pages touched before the
 * fork and for pages first touched after it. MADV_DONTNEED on shared anonymous memory only drops
 * the PTEs (the data is still there on the next access); on private memory it discards the COW
 * copy and the page reads zero (not the parent's data). A grandchild's write is visible too; a
 * child's munmap does not affect the parent. Parent and child alternate through two pipes, and
 * only the side holding the turn prints, so the output order is fixed.
 */
#include "guest_util.h"
#include <sys/wait.h>

#define SH_PAGES 8
#define PV_PAGES 4

static int to_child[2], to_parent[2];

static void pass_turn(int fd)
{
    char c = 't';
    if (write(fd, &c, 1) != 1)
        _exit(98);
}

static void take_turn(int fd)
{
    char c;
    ssize_t r;
    do
        r = read(fd, &c, 1);
    while (r < 0 && errno == EINTR);
    if (r != 1)
        _exit(97);
}

/* "0xc4" when the whole page holds that byte, "mixed" otherwise. */
static const char *page_val(const unsigned char *page, char *buf, size_t n)
{
    for (size_t i = 1; i < PG; i++)
        if (page[i] != page[0]) {
            snprintf(buf, n, "mixed");
            return buf;
        }
    snprintf(buf, n, "0x%02x", page[0]);
    return buf;
}
#define PV(page) page_val((page), (char[16]){0}, 16)

static const char *hex_str(unsigned v, char *buf, size_t n)
{
    snprintf(buf, n, "0x%02x", v);
    return buf;
}
#define HEX(v) hex_str((v), (char[16]){0}, 16)

/* "child: shared page 2 ..." labels with the page number filled in. */
static const char *label_k(const char *fmt, int k, char *buf, size_t n)
{
    snprintf(buf, n, fmt, k);
    return buf;
}
#define LABEL(fmt, k) label_k((fmt), (k), (char[96]){0}, 96)

static void fill(unsigned char *page, unsigned v) { memset(page, (int)v, PG); }

int main(void)
{
    unsigned char *s = mmap(NULL, SH_PAGES * PG, PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    unsigned char *p = map_anon(PV_PAGES, PROT_READ | PROT_WRITE);
    if (s == MAP_FAILED || pipe(to_child) != 0 || pipe(to_parent) != 0) {
        out("FATAL: setup failed: %s\n", errname(errno));
        return 2;
    }
    /* Before the fork: shared pages 0-3 and private pages 0-1 are touched, the rest are not. */
    for (int k = 0; k < 4; k++)
        fill(s + k * PG, 0x10 + k);
    for (int k = 0; k < 2; k++)
        fill(p + k * PG, 0x40 + k);

    out("-- parent and child alternate --\n");
    pid_t pid = fork();
    if (pid == 0) {
        g_checks = g_unexpected = 0;
        for (int k = 0; k < 4; k++)
            expect(LABEL("child: shared page %d (touched before fork)", k), PV(s + k * PG),
                   HEX(0x10 + k));
        for (int k = 4; k < 8; k++)
            expect(LABEL("child: shared page %d (never touched)", k), PV(s + k * PG), "0x00");
        expect("child: private page 0", PV(p), "0x40");
        expect("child: private page 1", PV(p + PG), "0x41");
        expect("child: private page 2 (untouched)", PV(p + 2 * PG), "0x00");
        fill(s, 0xc0);          /* shared, touched before the fork */
        fill(s + 4 * PG, 0xc4); /* shared, first touched after the fork, by the child */
        fill(s + 5 * PG, 0xc5);
        for (int k = 0; k < PV_PAGES; k++)
            fill(p + k * PG, 0xe0 + k);
        pass_turn(to_parent[1]);
        take_turn(to_child[0]);

        expect("child: shared page 1 after the parent's write", PV(s + PG), "0xa1");
        expect("child: shared page 4 after the parent's write", PV(s + 4 * PG), "0xa4");
        expect("child: shared page 6 (first touched by the parent)", PV(s + 6 * PG), "0xa6");
        expect("child: shared page 7 (first touched by the parent)", PV(s + 7 * PG), "0xa7");
        for (int k = 0; k < PV_PAGES; k++)
            expect(LABEL("child: private page %d (parent's write invisible)", k),
                   PV(p + k * PG),
                   HEX(0xe0 + k));
        EXPECT_SYS("child: MADV_DONTNEED shared", madvise(s, SH_PAGES * PG, MADV_DONTNEED), "0");
        expect("child: shared page 0 after MADV_DONTNEED", PV(s), "0xc0");
        expect("child: shared page 6 after MADV_DONTNEED", PV(s + 6 * PG), "0xa6");
        EXPECT_SYS("child: MADV_DONTNEED private", madvise(p, PV_PAGES * PG, MADV_DONTNEED), "0");
        expect("child: private page 0 after MADV_DONTNEED", PV(p), "0x00");
        fill(s + 2 * PG, 0xd2); /* the last write before exiting */
        out("child: %d checks, %d unexpected\n", g_checks, g_unexpected);
        _exit(g_unexpected ? 1 : 0);
    }
    take_turn(to_parent[0]);
    expect("parent: shared page 0 (child's write)", PV(s), "0xc0");
    expect("parent: shared page 1 (untouched by the child)", PV(s + PG), "0x11");
    expect("parent: shared page 4 (first touched by the child)", PV(s + 4 * PG), "0xc4");
    expect("parent: shared page 5 (first touched by the child)", PV(s + 5 * PG), "0xc5");
    expect("parent: shared page 6 (never touched yet)", PV(s + 6 * PG), "0x00");
    expect("parent: private page 0 (child's write invisible)", PV(p), "0x40");
    expect("parent: private page 1 (child's write invisible)", PV(p + PG), "0x41");
    expect("parent: private page 2 (child's write invisible)", PV(p + 2 * PG), "0x00");
    fill(s + PG, 0xa1);
    fill(s + 4 * PG, 0xa4);
    fill(s + 6 * PG, 0xa6); /* first touched after the fork, by the parent */
    fill(s + 7 * PG, 0xa7);
    for (int k = 0; k < PV_PAGES; k++)
        fill(p + k * PG, 0xb0 + k);
    pass_turn(to_child[1]);
    expect("parent: child", WAIT(pid), "exit 0");
    expect("parent: shared page 2 (child's last write before exit)", PV(s + 2 * PG), "0xd2");
    expect("parent: shared page 0 (child's MADV_DONTNEED kept the data)", PV(s), "0xc0");
    for (int k = 0; k < PV_PAGES; k++)
        expect(LABEL("parent: private page %d (own data)", k), PV(p + k * PG), HEX(0xb0 + k));

    out("-- a grandchild writes, a child unmaps --\n");
    pid = fork();
    if (pid == 0) {
        pid_t gc = fork();
        if (gc == 0) {
            fill(s + 3 * PG, 0x33);
            _exit(0);
        }
        int st;
        waitpid(gc, &st, 0);
        _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 1);
    }
    expect("parent: child (after its grandchild)", WAIT(pid), "exit 0");
    expect("parent: shared page 3 (grandchild's write)", PV(s + 3 * PG), "0x33");
    pid = fork();
    if (pid == 0) {
        fill(s + 5 * PG, 0x55);
        _exit(munmap(s, SH_PAGES * PG) == 0 ? 0 : 1);
    }
    expect("parent: child that unmapped", WAIT(pid), "exit 0");
    expect("parent: shared page 5 still mapped, child's write kept", PV(s + 5 * PG), "0x55");
    return summary("task_shared_anon");
}
