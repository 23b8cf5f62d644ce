/* thread_guard_stacks.c - thread stacks guarded the way glibc 2.42 guards them: the stack is an
 * ordinary read-write anonymous mapping whose lowest page is a MADV_GUARD_INSTALL guard region
 * (no PROT_NONE VMA), handed to pthread_create with pthread_attr_setstack.
 *
 * Linux rules pinned: the guard installs on a fresh thread stack (pagemap bit 58 set on that
 * page only); threads run normally on such stacks; a write that walks down the stack of one
 * thread faults at the first byte of the guard page it reaches (guard_start + 0xfff) with
 * SIGSEGV/SEGV_MAPERR, delivered to that thread, on the sigaltstack that thread registered
 * (sigaltstack is per thread); after the handler resets SIGSEGV to SIG_DFL and returns, the
 * faulting write is re-executed and the whole process dies by SIGSEGV (shell status 139).
 */
#include "guest_util.h"
#include <pthread.h>
#include <stdatomic.h>

#define STACK_PAGES 64 /* 256 KiB, the lowest page being the guard */
#define NORMAL_THREADS 4
#define ALT_PAGES 8

struct stack {
    char *base; /* the guard page */
    size_t size;
    int guarded;
};

static struct stack stacks[NORMAL_THREADS + 1];

static void alloc_stack(struct stack *s)
{
    s->size = STACK_PAGES * PG;
    s->base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK,
                   -1, 0);
    if (s->base == MAP_FAILED) {
        out("FATAL: stack mmap: %s\n", errname(errno));
        exit(2);
    }
    /* glibc 2.42 falls back to mprotect(PROT_NONE); this allocator falls back to nothing. */
    s->guarded = madvise(s->base, PG, MADV_GUARD_INSTALL) == 0;
}

/* Uses about 64 KiB of stack and checks that it runs inside its own stack, above the guard. */
__attribute__((noinline)) static long deep_sum(int depth, const struct stack *s, int *inside)
{
    volatile char frame[1024];
    frame[0] = (char)depth;
    frame[sizeof frame - 1] = (char)depth;
    if (!((char *)frame >= s->base + PG && (char *)frame < s->base + s->size))
        *inside = 0;
    if (depth == 0)
        return 0;
    return depth + frame[0] - frame[sizeof frame - 1] + deep_sum(depth - 1, s, inside);
}

static void *normal_thread(void *arg)
{
    const struct stack *s = arg;
    int inside = 1;
    long v = deep_sum(64, s, &inside);
    return (void *)(v * 2 + inside);
}

/* ---- the overflowing thread ---- */
static char *alt;
static struct stack *ovf;
static atomic_int ovf_tid;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    volatile char local = 0;
    int on_alt = (char *)&local >= alt && (char *)&local < alt + ALT_PAGES * PG;
    out("handler: %s %s at guard%s\n", signame(sig), segv_code_name(si->si_code),
        OFF(si->si_addr, ovf->base));
    out("handler: in the overflowing thread: %s, on its sigaltstack: %s\n",
        (int)syscall(SYS_gettid) == atomic_load(&ovf_tid) ? "yes" : "no", on_alt ? "yes" : "no");
    out("handler: resetting SIGSEGV to SIG_DFL and returning: the write faults again\n");
    signal(SIGSEGV, SIG_DFL);
}

/* A leaf: starts below its own frame and red zone, so the walk overwrites nothing live. */
__attribute__((noinline)) static void walk_down(void)
{
    volatile char *p = (char *)__builtin_frame_address(0) - 256;
    for (;;)
        *p-- = 0x5a; /* every byte down to the guard; the first guard byte is base + 0xfff */
}

__attribute__((noinline)) static void recurse_then_walk(int depth)
{
    volatile char frame[512];
    frame[0] = (char)depth;
    if ((char *)frame > ovf->base + 3 * PG && depth < 100000)
        recurse_then_walk(depth + 1);
    else if (depth < 100000)
        walk_down();
    frame[1] = frame[0]; /* not a tail call */
}

static void *overflow_thread(void *arg)
{
    (void)arg;
    atomic_store(&ovf_tid, (int)syscall(SYS_gettid));
    stack_t ss = {.ss_sp = alt, .ss_size = ALT_PAGES * PG, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) {
        out("sigaltstack: %s\n", errname(errno));
        return NULL;
    }
    out("overflow thread: recursing to the bottom of its stack, then writing downwards\n");
    recurse_then_walk(0);
    out("BUG: the walk returned\n");
    return NULL;
}

int main(void)
{
    for (int i = 0; i <= NORMAL_THREADS; i++) {
        alloc_stack(&stacks[i]);
        out("stack %d: guard installed: %s, pagemap guard bit of pages 0/1: %d/%d\n", i,
            stacks[i].guarded ? "yes" : "no", pm_guard(stacks[i].base),
            pm_guard(stacks[i].base + PG));
    }

    pthread_t th[NORMAL_THREADS];
    for (int i = 0; i < NORMAL_THREADS; i++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstack(&attr, stacks[i].base, stacks[i].size);
        int r = pthread_create(&th[i], &attr, normal_thread, &stacks[i]);
        pthread_attr_destroy(&attr);
        if (r != 0) {
            out("pthread_create: %s\n", errname(r));
            return 3;
        }
    }
    for (int i = 0; i < NORMAL_THREADS; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        out("thread %d: deep_sum %ld, every frame inside its stack above the guard: %s\n", i,
            (long)ret / 2, (long)ret % 2 ? "yes" : "no");
    }

    alt = map_anon(ALT_PAGES, PROT_READ | PROT_WRITE);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    ovf = &stacks[NORMAL_THREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstack(&attr, ovf->base, ovf->size);
    pthread_t t;
    pthread_create(&t, &attr, overflow_thread, NULL);
    pthread_join(t, NULL);
    out("BUG: the process survived the overflow\n");
    return 1;
}
