/* signal_altstack.c - sigaltstack and SA_ONSTACK.
 *
 * The alternate stack is an mmap'd area with a guard page (MADV_GUARD_INSTALL) below it.
 * Checks: a SA_ONSTACK handler runs on it (address of a local inside the area) and sees
 * SS_ONSTACK; a handler without SA_ONSTACK does not; a nested SA_ONSTACK signal stays on the
 * alternate stack, below the outer frame; changing the alternate stack while on it is EPERM;
 * SS_DISABLE; size below MINSIGSTKSZ (ENOMEM) and bad flags (EINVAL); a stack overflow by deep
 * recursion (RLIMIT_STACK lowered to 1 MiB with prlimit64) is caught on the alternate stack as
 * SIGSEGV/SEGV_MAPERR just below the deepest frame, twice, leaving via siglongjmp.
 */
#include "guest_util.h"
#include <sys/resource.h>

#define ALT_PAGES 16

static char *alt; /* first usable byte of the alternate stack */
static volatile int on_alt, saw_onstack, nested_on_alt, nested_below, eperm_inside, deliveries;
static volatile uintptr_t outer_local;

static int within_alt(const void *p)
{
    return (const char *)p >= alt && (const char *)p < alt + ALT_PAGES * PG;
}

static void h_check(int sig)
{
    volatile char local = 0;
    (void)local;
    stack_t cur;
    sigaltstack(NULL, &cur);
    int d = ++deliveries;
    if (d == 1) {
        on_alt = within_alt((const void *)&local);
        saw_onstack = (cur.ss_flags & SS_ONSTACK) != 0;
        stack_t ns = {.ss_sp = alt, .ss_size = ALT_PAGES * PG, .ss_flags = 0};
        errno = 0;
        eperm_inside = sigaltstack(&ns, NULL) == -1 ? errno : 0;
        outer_local = (uintptr_t)&local;
        if (sig == SIGUSR1)
            self_tgkill(SIGUSR2); /* nested, SIGUSR2 also SA_ONSTACK */
    } else {
        nested_on_alt = within_alt((const void *)&local);
        nested_below = (uintptr_t)&local < outer_local;
    }
}

static void deliver(int sig, int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h_check;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
    deliveries = 0;
    on_alt = saw_onstack = nested_on_alt = nested_below = eperm_inside = -1;
    self_tgkill(sig);
}

/* --- stack overflow --- */
static sigjmp_buf ovf_jb;
static volatile uintptr_t deepest;
static volatile int ovf_code, ovf_on_alt;
static volatile uintptr_t ovf_addr;

static void h_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    volatile char local = 0;
    ovf_on_alt = within_alt((const void *)&local);
    ovf_code = si->si_code;
    ovf_addr = (uintptr_t)si->si_addr;
    siglongjmp(ovf_jb, 1);
}

static volatile long recurse_limit = 1L << 40;

__attribute__((noinline)) static long recurse(long n)
{
    volatile char frame[2048];
    if (n > recurse_limit)
        return 0;
    frame[0] = (char)n;
    deepest = (uintptr_t)frame;
    return recurse(n + 1) + frame[0];
}

int main(void)
{
    char *area = map_anon(ALT_PAGES + 1, PROT_READ | PROT_WRITE);
    EXPECT_SYS("guard page below the alternate stack", madvise(area, PG, MADV_GUARD_INSTALL), "0");
    alt = area + PG;

    stack_t ss = {.ss_sp = alt, .ss_size = ALT_PAGES * PG, .ss_flags = 0}, cur;
    EXPECT_SYS("sigaltstack(64 KiB)", sigaltstack(&ss, NULL), "0");
    sigaltstack(NULL, &cur);
    expectf("read back", "sp=alt size=65536 flags=0", "sp=%s size=%zu flags=%d",
            cur.ss_sp == alt ? "alt" : "other", cur.ss_size, cur.ss_flags);

    out("-- SA_ONSTACK --\n");
    struct sigaction sa2;
    memset(&sa2, 0, sizeof sa2);
    sa2.sa_handler = h_check;
    sa2.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa2, NULL);
    deliver(SIGUSR1, SA_ONSTACK);
    expectf("SIGUSR1 SA_ONSTACK", "on altstack: yes, SS_ONSTACK: yes", "on altstack: %s, SS_ONSTACK: %s",
            on_alt == 1 ? "yes" : "no", saw_onstack == 1 ? "yes" : "no");
    expect("sigaltstack() inside the handler", errname(eperm_inside), "EPERM");
    expectf("nested SIGUSR2 (SA_ONSTACK)", "on altstack: yes, below outer frame: yes",
            "on altstack: %s, below outer frame: %s", nested_on_alt == 1 ? "yes" : "no",
            nested_below == 1 ? "yes" : "no");
    sigaltstack(NULL, &cur);
    expectf("after the handler", "flags=0", "flags=%d", cur.ss_flags);
    deliver(SIGUSR2, 0);
    expectf("SIGUSR2 without SA_ONSTACK", "on altstack: no, SS_ONSTACK: no",
            "on altstack: %s, SS_ONSTACK: %s", on_alt == 1 ? "yes" : "no",
            saw_onstack == 1 ? "yes" : "no");

    out("-- SS_DISABLE and errors --\n");
    stack_t dis = {.ss_sp = NULL, .ss_size = 0, .ss_flags = SS_DISABLE};
    EXPECT_SYS("sigaltstack(SS_DISABLE)", sigaltstack(&dis, NULL), "0");
    sigaltstack(NULL, &cur);
    expectf("read back flags", "SS_DISABLE", "%s", cur.ss_flags == SS_DISABLE ? "SS_DISABLE" : "other");
    sa2.sa_flags = 0;
    sigaction(SIGUSR2, &sa2, NULL);
    deliver(SIGUSR1, SA_ONSTACK);
    expectf("SA_ONSTACK handler with the altstack disabled", "on altstack: no", "on altstack: %s",
            on_alt == 1 ? "yes" : "no");
    stack_t small = {.ss_sp = alt, .ss_size = 512, .ss_flags = 0};
    EXPECT_SYS("ss_size 512", sigaltstack(&small, NULL), "-1 ENOMEM");
    stack_t bad = {.ss_sp = alt, .ss_size = ALT_PAGES * PG, .ss_flags = 0x1234};
    EXPECT_SYS("ss_flags 0x1234", sigaltstack(&bad, NULL), "-1 EINVAL");
    EXPECT_SYS("sigaltstack(64 KiB) again", sigaltstack(&ss, NULL), "0");

    out("-- stack overflow caught on the alternate stack --\n");
    struct rlimit rl = {1 << 20, 1 << 20};
    EXPECT_SYS("setrlimit(RLIMIT_STACK, 1 MiB)", setrlimit(RLIMIT_STACK, &rl), "0");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    for (int round = 1; round <= 2; round++) {
        char l[64];
        ovf_code = 0;
        if (sigsetjmp(ovf_jb, 1) == 0) {
            recurse(0);
            snprintf(l, sizeof l, "round %d", round);
            expect(l, "no fault", "caught");
        } else {
            snprintf(l, sizeof l, "round %d", round);
            expectf(l, "SIGSEGV SEGV_MAPERR on altstack: yes, just below the deepest frame: yes",
                    "SIGSEGV %s on altstack: %s, just below the deepest frame: %s",
                    segv_code_name(ovf_code), ovf_on_alt == 1 ? "yes" : "no",
                    ovf_addr < deepest && ovf_addr + 8192 >= deepest ? "yes" : "no");
        }
        sigaltstack(NULL, &cur);
        snprintf(l, sizeof l, "round %d: after siglongjmp", round);
        expectf(l, "flags=0", "flags=%d", cur.ss_flags);
    }
    return summary("signal_altstack");
}
