/* guard_allocator.c - a tiny guard-paged allocator built on MADV_GUARD_INSTALL.
 *
 * One arena mapping; every allocation is right-aligned (16 bytes) against a guard page that
 * follows it, and freed allocations are turned into guard pages (never reused). A SIGSEGV
 * handler with sigsetjmp/siglongjmp reports what was caught: a heap overflow one byte past an
 * allocation and a use-after-free, each with the exact faulting offset. The whole arena stays
 * one VMA however many guards it holds.
 */
#include "guest_util.h"

#define ARENA_PAGES 64

static char *arena;
static size_t arena_next; /* next free page index */
static long guards_installed;

struct alloc {
    char *user;   /* pointer handed out */
    size_t size;  /* requested size */
    char *first;  /* first page of the allocation */
    size_t pages; /* data pages (guard page follows) */
};

static int galloc(size_t size, struct alloc *a)
{
    size_t rounded = (size + 15) & ~(size_t)15;
    size_t pages = (rounded + PG - 1) / PG;
    if (arena_next + pages + 1 > ARENA_PAGES)
        return -1;
    a->first = arena + arena_next * PG;
    a->pages = pages;
    a->size = size;
    a->user = a->first + pages * PG - rounded;
    if (madvise(a->first + pages * PG, PG, MADV_GUARD_INSTALL) != 0)
        return -1;
    guards_installed++;
    arena_next += pages + 1;
    return 0;
}

static int gfree(struct alloc *a)
{
    if (madvise(a->first, a->pages * PG, MADV_GUARD_INSTALL) != 0)
        return -1;
    guards_installed += (long)a->pages;
    return 0;
}

/* Fault catching for the "program under test" code paths. */
static sigjmp_buf catch_jb;
static volatile int caught_code;
static char *volatile caught_addr;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    caught_code = si->si_code;
    caught_addr = si->si_addr;
    siglongjmp(catch_jb, 1);
}

static void report(const char *what, const struct alloc *a, const char *want)
{
    char got[160];
    snprintf(got, sizeof got, "caught %s at user%s (arena%s)", segv_code_name(caught_code),
             OFF(caught_addr, a->user), OFF(caught_addr, arena));
    expect(what, got, want);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    arena = map_anon(ARENA_PAGES, PROT_READ | PROT_WRITE);
    long v0 = vma_count();

    struct alloc a, b, c;
    EXPECT_SYS("alloc a (100 bytes)", galloc(100, &a), "0");
    EXPECT_SYS("alloc b (5000 bytes)", galloc(5000, &b), "0");
    EXPECT_SYS("alloc c (4096 bytes)", galloc(4096, &c), "0");
    expectf("a/b/c offsets in arena", "+0xf90 +0x2c70 +0x5000", "%s %s %s", OFF(a.user, arena),
            OFF(b.user, arena), OFF(c.user, arena));

    memset(a.user, 'a', a.size);
    memset(b.user, 'b', b.size);
    memset(c.user, 'c', c.size);
    unsigned sum = 0;
    for (size_t i = 0; i < b.size; i++)
        sum += (unsigned char)b.user[i];
    expectf("in-bounds use of b", "sum=490000", "sum=%u", sum);

    /* Overflow: a loop that writes one element too many (size rounded to 16, so the first
     * byte past the rounded size is in the guard page). */
    volatile size_t i = 0;
    if (sigsetjmp(catch_jb, 1) == 0) {
        for (i = 0; i <= 112; i++)
            a.user[i] = 'A';
        expect("overflow of a", "not caught", "caught");
    } else {
        report("overflow of a", &a, "caught SEGV_MAPERR at user+0x70 (arena+0x1000)");
        expectf("bytes written before the fault", "112", "%zu", (size_t)i);
    }

    /* Overflow of a whole-page allocation: one past the end. */
    if (sigsetjmp(catch_jb, 1) == 0) {
        c.user[c.size] = 1;
        expect("overflow of c", "not caught", "caught");
    } else {
        report("overflow of c", &c, "caught SEGV_MAPERR at user+0x1000 (arena+0x6000)");
    }

    /* Use after free. */
    EXPECT_SYS("free b", gfree(&b), "0");
    if (sigsetjmp(catch_jb, 1) == 0) {
        volatile char x = b.user[10];
        (void)x;
        expect("read of freed b", "not caught", "caught");
    } else {
        report("read of freed b", &b, "caught SEGV_MAPERR at user+0xa (arena+0x2c7a)");
    }
    if (sigsetjmp(catch_jb, 1) == 0) {
        b.user[4999] = 0;
        expect("write to freed b", "not caught", "caught");
    } else {
        report("write to freed b", &b, "caught SEGV_MAPERR at user+0x1387 (arena+0x3ff7)");
    }

    /* Underflow: c[-1] lies in the guard page that follows b. */
    struct alloc d;
    EXPECT_SYS("alloc d (16 bytes)", galloc(16, &d), "0");
    if (sigsetjmp(catch_jb, 1) == 0) {
        volatile char x = c.user[-1];
        (void)x;
        expect("c[-1] (guard page after b)", "not caught", "caught");
    } else {
        report("c[-1] (guard page after b)", &c, "caught SEGV_MAPERR at user-0x1 (arena+0x4fff)");
    }
    expect("c and d still usable", (c.user[0] == 'c' && (d.user[0] = 1) == 1) ? "yes" : "no",
           "yes");

    /* Many allocations and frees: still one VMA. */
    int nalloc = 0;
    struct alloc t;
    while (galloc(1000, &t) == 0) {
        t.user[0] = 1;
        gfree(&t);
        nalloc++;
    }
    expectf("small allocations until the arena is full", "27", "%d", nalloc);
    expectf("guard pages installed", "60", "%ld", guards_installed);
    expectf("VMA count delta", "+0", "%+ld", vma_count() - v0);
    return summary("guard_allocator");
}
