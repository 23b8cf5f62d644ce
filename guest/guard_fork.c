/* guard_fork.c - guard markers across fork (raw fork syscall + wait4).
 *
 * The child inherits guards, both in a populated mapping and in one that was never touched
 * (installing a guard makes the VMA "non-empty" so fork copies its page tables); a grandchild
 * inherits them too. Guards are per process: a guard the child removes or installs does not
 * change the parent, also on a MAP_SHARED page (whose data the parent still sees). Private data
 * is copy-on-write (child writes are invisible to the parent). MADV_WIPEONFORK ranges are empty
 * in the child (no guards, zero data); MADV_DONTFORK ranges are absent in the child.
 * The parent never prints while a child runs, so the output order is fixed.
 */
#include "guest_util.h"

static void child_begin(void)
{
    g_checks = 0;
    g_unexpected = 0;
}

static void child_end(const char *who)
{
    out("%s: %d checks, %d unexpected\n", who, g_checks, g_unexpected);
    _exit(g_unexpected ? 1 : 0);
}

int main(void)
{
    probe_init();
    pid_t pid;

    char *t = map_anon(3, PROT_READ | PROT_WRITE); /* touched */
    char *u = map_anon(3, PROT_READ | PROT_WRITE); /* never touched */
    memset(t, 0x81, PG);
    memset(t + 2 * PG, 0x82, PG);
    EXPECT_SYS("parent: install t.p1", madvise(t + PG, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("parent: install u.p1", madvise(u + PG, PG, MADV_GUARD_INSTALL), "0");

    out("-- inheritance, per-process guards, copy-on-write --\n");
    pid = raw_fork();
    if (pid == 0) {
        child_begin();
        expect("child: t.p1 pagemap", PM(t + PG), "g=1 p=0");
        expect("child: t.p1 read", PROBE_R(t + PG + 8, t), MAPERR_AT(PG + 8));
        expect("child: t.p0 read", PROBE_R(t, t), OKVAL(0x81));
        expect("child: u.p1 pagemap (untouched VMA)", PM(u + PG), "g=1 p=0");
        expect("child: u.p1 read", PROBE_R(u + PG + 8, u), MAPERR_AT(PG + 8));
        expect("child: u.p0 read", PROBE_R(u, u), OKVAL(0));
        pid_t gc = raw_fork();
        if (gc == 0) {
            child_begin();
            expect("grandchild: t.p1 read", PROBE_R(t + PG, t), MAPERR_AT(PG));
            expect("grandchild: u.p1 read", PROBE_R(u + PG, u), MAPERR_AT(PG));
            child_end("grandchild");
        }
        expect("child: grandchild", WAIT(gc), "exit 0");
        t[2 * PG] = 0x99;
        expect("child: t.p2 after child write", PROBE_R(t + 2 * PG, t), OKVAL(0x99));
        EXPECT_SYS("child: remove t.p1", madvise(t + PG, PG, MADV_GUARD_REMOVE), "0");
        expect("child: t.p1 read after remove", PROBE_R(t + PG, t), OKVAL(0));
        EXPECT_SYS("child: install t.p0", madvise(t, PG, MADV_GUARD_INSTALL), "0");
        expect("child: t.p0 read", PROBE_R(t, t), MAPERR_AT(0));
        child_end("child");
    }
    expect("parent: child", WAIT(pid), "exit 0");
    expect("parent: t.p2 (child's write not visible)", PROBE_R(t + 2 * PG, t), OKVAL(0x82));
    expect("parent: t.p1 still guarded", PROBE_R(t + PG, t), MAPERR_AT(PG));
    expect("parent: t.p0 (child's guard not visible)", PROBE_R(t, t), OKVAL(0x81));

    out("-- MAP_SHARED: guards are per page table, data is shared --\n");
    char *s = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memset(s, 0xa1, 3 * PG);
    EXPECT_SYS("parent: install s.p1", madvise(s + PG, PG, MADV_GUARD_INSTALL), "0");
    pid = raw_fork();
    if (pid == 0) {
        child_begin();
        expect("child: s.p1 read", PROBE_R(s + PG, s), MAPERR_AT(PG));
        s[2 * PG] = 0xa7;
        EXPECT_SYS("child: install s.p2", madvise(s + 2 * PG, PG, MADV_GUARD_INSTALL), "0");
        expect("child: s.p2 read", PROBE_R(s + 2 * PG, s), MAPERR_AT(2 * PG));
        EXPECT_SYS("child: remove s.p1", madvise(s + PG, PG, MADV_GUARD_REMOVE), "0");
        expect("child: s.p1 read after remove", PROBE_R(s + PG, s), OKVAL(0xa1));
        child_end("child");
    }
    expect("parent: child", WAIT(pid), "exit 0");
    expect("parent: s.p2 (child's write visible, its guard not)", PROBE_R(s + 2 * PG, s),
           OKVAL(0xa7));
    expect("parent: s.p1 still guarded", PROBE_R(s + PG, s), MAPERR_AT(PG));
    munmap(s, 3 * PG);

    out("-- MADV_WIPEONFORK --\n");
    char *w = map_anon(3, PROT_READ | PROT_WRITE);
    memset(w, 0x91, 3 * PG);
    EXPECT_SYS("parent: install w.p1", madvise(w + PG, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("parent: MADV_WIPEONFORK w", madvise(w, 3 * PG, MADV_WIPEONFORK), "0");
    pid = raw_fork();
    if (pid == 0) {
        child_begin();
        expect("child: w.p1 pagemap", PM(w + PG), "g=0 p=0");
        expect("child: w.p1 read", PROBE_R(w + PG, w), OKVAL(0));
        expect("child: w.p0 read", PROBE_R(w, w), OKVAL(0));
        child_end("child");
    }
    expect("parent: child", WAIT(pid), "exit 0");
    expect("parent: w.p1", PROBE_R(w + PG, w), MAPERR_AT(PG));
    expect("parent: w.p0", PROBE_R(w, w), OKVAL(0x91));

    out("-- MADV_DONTFORK --\n");
    char *d = map_anon(3, PROT_READ | PROT_WRITE);
    memset(d, 0xbb, 3 * PG);
    EXPECT_SYS("parent: install d.p2", madvise(d + 2 * PG, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("parent: MADV_DONTFORK d.p1", madvise(d + PG, PG, MADV_DONTFORK), "0");
    long parent_vmas = vma_count();
    pid = raw_fork();
    if (pid == 0) {
        child_begin();
        expectf("child: VMA count relative to the parent", "-1", "%+ld",
                vma_count() - parent_vmas);
        expect("child: d.p0 read", PROBE_R(d, d), OKVAL(0xbb));
        expect("child: d.p1 read (not inherited)", PROBE_R(d + PG, d), MAPERR_AT(PG));
        expect("child: d.p2 read (guard inherited)", PROBE_R(d + 2 * PG, d), MAPERR_AT(2 * PG));
        child_end("child");
    }
    expect("parent: child", WAIT(pid), "exit 0");
    expect("parent: d.p1", PROBE_R(d + PG, d), OKVAL(0xbb));

    return summary("guard_fork");
}
