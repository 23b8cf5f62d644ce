/* signal_siglongjmp.c - leaving SIGSEGV handlers with siglongjmp, repeatedly.
 *
 * 100 faults (guard read, guard write, unmapped read, read-only write, in turn) each left with
 * siglongjmp; after every one the signal mask must be exactly the one saved by sigsetjmp
 * (SIGSEGV unblocked, a user-blocked SIGUSR2 still blocked). A siglongjmp out of a SIGSEGV
 * handler nested in a SIGUSR1 handler restores the mask too. With sigsetjmp(env, 0) the mask is
 * not restored: SIGSEGV stays blocked, and a fault while SIGSEGV is blocked kills the process
 * even though a handler is installed (shown in a child).
 */
#include "guest_util.h"

static sigjmp_buf jb;
static volatile int code;
static char *base;

static void h_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    code = si->si_code;
    siglongjmp(jb, 1);
}

static void h_usr1(int sig)
{
    (void)sig;
    *(volatile char *)(base + PG) = 1; /* guard: the SIGSEGV handler jumps out of both */
}

static int mask_has(int sig)
{
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    signal(SIGUSR1, h_usr1);

    base = map_anon(4, PROT_READ | PROT_WRITE);
    madvise(base + PG, PG, MADV_GUARD_INSTALL);
    munmap(base + 2 * PG, PG);
    mprotect(base + 3 * PG, PG, PROT_READ);

    sigset_t u2;
    sigemptyset(&u2);
    sigaddset(&u2, SIGUSR2);
    sigprocmask(SIG_BLOCK, &u2, NULL);

    static const char *kinds[4] = {"guard read", "guard write", "unmapped read", "read-only write"};
    static const int want_code[4] = {SEGV_MAPERR, SEGV_MAPERR, SEGV_MAPERR, SEGV_ACCERR};
    int caught[4] = {0}, right_code[4] = {0}, mask_ok = 0;
    for (volatile int i = 0; i < 100; i++) {
        int k = i % 4;
        if (sigsetjmp(jb, 1) == 0) {
            volatile char *p = base + (size_t)(k < 2 ? 1 : k) * PG + (size_t)i;
            if (k == 0 || k == 2)
                (void)*p;
            else
                *p = 1;
        } else {
            caught[k]++;
            right_code[k] += code == want_code[k];
        }
        mask_ok += !mask_has(SIGSEGV) && mask_has(SIGUSR2);
    }
    for (int k = 0; k < 4; k++) {
        char l[64];
        snprintf(l, sizeof l, "%s: caught / right si_code", kinds[k]);
        expectf(l, "25 / 25", "%d / %d", caught[k], right_code[k]);
    }
    expectf("mask as saved after each siglongjmp", "100 / 100", "%d / 100", mask_ok);

    if (sigsetjmp(jb, 1) == 0) {
        self_tgkill(SIGUSR1);
        expect("fault inside a SIGUSR1 handler", "not caught", "caught");
    } else {
        expectf("after jumping out of SIGSEGV-in-SIGUSR1", "USR1=0 SEGV=0 USR2=1",
                "USR1=%d SEGV=%d USR2=%d", mask_has(SIGUSR1), mask_has(SIGSEGV), mask_has(SIGUSR2));
    }

    if (sigsetjmp(jb, 0) == 0) {
        (void)*(volatile char *)(base + PG);
    }
    expectf("after siglongjmp with savemask=0", "SEGV=1", "SEGV=%d", mask_has(SIGSEGV));
    pid_t pid = raw_fork();
    if (pid == 0) {
        out("child: faulting with SIGSEGV blocked and a handler installed\n");
        if (sigsetjmp(jb, 0) == 0)
            (void)*(volatile char *)(base + PG);
        out("child: BUG: handler ran\n");
        _exit(0);
    }
    expect("child", WAIT(pid), "signal 11 (SIGSEGV)");
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGSEGV);
    sigprocmask(SIG_UNBLOCK, &s, NULL);
    if (sigsetjmp(jb, 1) == 0)
        (void)*(volatile char *)(base + PG);
    expectf("after unblocking: another fault caught, mask", "SEGV=0 USR2=1", "SEGV=%d USR2=%d",
            mask_has(SIGSEGV), mask_has(SIGUSR2));
    return summary("signal_siglongjmp");
}
