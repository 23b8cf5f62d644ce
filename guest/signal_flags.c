/* signal_flags.c - sigaction flags, masks and self-sent signals.
 *
 * Delivery order without and with SA_NODEFER (a signal raised inside its own handler runs after
 * the handler returns, or nested at once); the mask inside a handler (the signal itself plus
 * sa_mask) and its restoration; SA_RESETHAND (the disposition reads back as SIG_DFL after one
 * delivery; a second SIGSEGV kills a child); the flags read back by sigaction(); SA_RESTART vs
 * EINTR for a pipe read interrupted by signals from a child; a blocked signal stays pending
 * until unblocked and is delivered before sigprocmask returns; standard signals coalesce,
 * real-time signals queue; the delivery order of two pending signals unblocked together;
 * SIG_IGN; kill(pid, 0); SI_USER vs SI_TKILL; SIGCHLD with CLD_EXITED; death by a default action.
 */
#include "guest_util.h"
#include <time.h>

static char logbuf[256];
static volatile int deliveries, count_usr1, count_usr2, count_rt, last_code, handler_mask_ok;
static volatile int chld_code, chld_status, chld_pid;

static void logs(const char *s)
{
    size_t n = strlen(logbuf);
    snprintf(logbuf + n, sizeof logbuf - n, "%s%s", n ? " " : "", s);
}

static void h_nest(int sig)
{
    (void)sig;
    int d = ++deliveries;
    logs(d == 1 ? "enter1" : "enter2");
    if (d == 1)
        self_tgkill(SIGUSR1); /* once only */
    logs(d == 1 ? "leave1" : "leave2");
}

static void h_mask(int sig)
{
    (void)sig;
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    handler_mask_ok = sigismember(&cur, SIGUSR1) * 2 + sigismember(&cur, SIGUSR2);
}

static void h_count(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    last_code = si->si_code;
    if (sig == SIGUSR1) {
        count_usr1++;
        logs("USR1");
    } else if (sig == SIGUSR2) {
        count_usr2++;
        logs("USR2");
    } else {
        count_rt++;
    }
}

static void h_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_pid = si->si_pid;
}

static void set(int sig, void (*h)(int), void (*sa3)(int, siginfo_t *, void *), int flags,
                int masksig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (sa3)
        sa.sa_sigaction = sa3;
    else
        sa.sa_handler = h;
    sa.sa_flags = flags | (sa3 ? SA_SIGINFO : 0);
    sigemptyset(&sa.sa_mask);
    if (masksig)
        sigaddset(&sa.sa_mask, masksig);
    sigaction(sig, &sa, NULL);
}

static void block(int how, int sig1, int sig2)
{
    sigset_t s;
    sigemptyset(&s);
    if (sig1)
        sigaddset(&s, sig1);
    if (sig2)
        sigaddset(&s, sig2);
    sigprocmask(how, &s, NULL);
}

static const char *blocked_str(void)
{
    static char b[64];
    sigset_t cur;
    sigprocmask(SIG_BLOCK, NULL, &cur);
    snprintf(b, sizeof b, "USR1=%d USR2=%d SEGV=%d", sigismember(&cur, SIGUSR1),
             sigismember(&cur, SIGUSR2), sigismember(&cur, SIGSEGV));
    return b;
}

static void sleep_ms(long ms)
{
    /* raw nanosleep: glibc's nanosleep() uses clock_nanosleep */
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Child sends 30 SIGUSR1 to the parent 10 ms apart, then writes "hello" to the pipe. */
static const char *interrupted_read(int flags, char *res, size_t n)
{
    int p[2];
    pipe(p);
    set(SIGUSR1, NULL, h_count, flags, 0);
    pid_t parent = getpid();
    pid_t pid = raw_fork();
    if (pid == 0) {
        for (int i = 0; i < 30; i++) {
            kill(parent, SIGUSR1);
            sleep_ms(10);
        }
        write(p[1], "hello", 5);
        _exit(0);
    }
    char buf[16] = {0};
    errno = 0;
    ssize_t r = read(p[0], buf, sizeof buf - 1);
    int e = errno;
    if (r > 0)
        snprintf(res, n, "%zd bytes \"%s\"", r, buf);
    else
        snprintf(res, n, "%s", RSTR(r, e));
    expect("  child", WAIT(pid), "exit 0");
    close(p[0]);
    close(p[1]);
    return res;
}

int main(void)
{
    probe_init();

    out("-- SA_NODEFER --\n");
    set(SIGUSR1, h_nest, NULL, 0, 0);
    logbuf[0] = 0;
    deliveries = 0;
    self_tgkill(SIGUSR1);
    expect("raise inside handler, default flags", logbuf, "enter1 leave1 enter2 leave2");
    set(SIGUSR1, h_nest, NULL, SA_NODEFER, 0);
    logbuf[0] = 0;
    deliveries = 0;
    self_tgkill(SIGUSR1);
    expect("raise inside handler, SA_NODEFER", logbuf, "enter1 enter2 leave2 leave1");

    out("-- mask inside a handler --\n");
    set(SIGUSR1, h_mask, NULL, 0, SIGUSR2);
    self_tgkill(SIGUSR1);
    expectf("in handler: USR1 blocked, USR2 (sa_mask) blocked", "1 1", "%d %d",
            handler_mask_ok >> 1, handler_mask_ok & 1);
    expect("after return", blocked_str(), "USR1=0 USR2=0 SEGV=0");
    set(SIGUSR1, h_mask, NULL, SA_NODEFER, 0);
    self_tgkill(SIGUSR1);
    expectf("in SA_NODEFER handler: USR1 blocked, USR2 blocked", "0 0", "%d %d",
            handler_mask_ok >> 1, handler_mask_ok & 1);

    out("-- flags read back --\n");
    set(SIGUSR2, NULL, h_count, SA_RESTART | SA_ONSTACK, 0);
    struct sigaction old;
    sigaction(SIGUSR2, NULL, &old);
    expectf("SIGUSR2 flags", "SA_SIGINFO=1 SA_RESTART=1 SA_ONSTACK=1 SA_NODEFER=0 SA_RESETHAND=0",
            "SA_SIGINFO=%d SA_RESTART=%d SA_ONSTACK=%d SA_NODEFER=%d SA_RESETHAND=%d",
            !!(old.sa_flags & SA_SIGINFO), !!(old.sa_flags & SA_RESTART),
            !!(old.sa_flags & SA_ONSTACK), !!(old.sa_flags & SA_NODEFER),
            !!(old.sa_flags & SA_RESETHAND));
    expect("SIGUSR2 handler", old.sa_sigaction == h_count ? "ours" : "other", "ours");

    out("-- SA_RESETHAND --\n");
    set(SIGUSR2, NULL, h_count, SA_RESETHAND, 0);
    count_usr2 = 0;
    self_tgkill(SIGUSR2);
    sigaction(SIGUSR2, NULL, &old);
    expectf("after one delivery", "count=1 handler=SIG_DFL", "count=%d handler=%s", count_usr2,
            old.sa_handler == SIG_DFL ? "SIG_DFL" : "other");
    pid_t pid = raw_fork();
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = probe_handler;
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
        sigaction(SIGSEGV, &sa, NULL);
        char *g = map_anon(1, PROT_READ | PROT_WRITE);
        madvise(g, PG, MADV_GUARD_INSTALL);
        out("child: first guard fault: %s\n", PROBE_R(g, g));
        out("child: second guard fault (default action now)\n");
        PROBE_R(g, g);
        out("child: BUG: survived\n");
        _exit(0);
    }
    expect("child with SA_RESETHAND SIGSEGV handler", WAIT(pid), "signal 11 (SIGSEGV)");

    out("-- SA_RESTART vs EINTR (pipe read interrupted by a child's signals) --\n");
    char res[64];
    expect("read with SA_RESTART", interrupted_read(SA_RESTART, res, sizeof res),
           "5 bytes \"hello\"");
    expect("read without SA_RESTART", interrupted_read(0, res, sizeof res), "-1 EINTR");

    out("-- blocking, pending, coalescing, queueing --\n");
    set(SIGUSR1, NULL, h_count, 0, 0);
    set(SIGUSR2, NULL, h_count, 0, 0);
    set(SIGRTMIN + 1, NULL, h_count, 0, 0);
    count_usr1 = count_usr2 = count_rt = 0;
    block(SIG_BLOCK, SIGUSR1, 0);
    self_tgkill(SIGUSR1);
    self_tgkill(SIGUSR1);
    expectf("USR1 raised twice while blocked: handler runs", "0", "%d", count_usr1);
    block(SIG_UNBLOCK, SIGUSR1, 0);
    expectf("after unblock (delivered before sigprocmask returned, coalesced)", "1", "%d",
            count_usr1);
    sigset_t rt;
    sigemptyset(&rt);
    sigaddset(&rt, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &rt, NULL);
    for (int i = 0; i < 3; i++)
        self_tgkill(SIGRTMIN + 1);
    expectf("SIGRTMIN+1 raised 3 times while blocked", "0", "%d", count_rt);
    sigprocmask(SIG_UNBLOCK, &rt, NULL);
    expectf("after unblock (queued)", "3", "%d", count_rt);
    block(SIG_BLOCK, SIGUSR1, SIGUSR2);
    logbuf[0] = 0;
    self_tgkill(SIGUSR2);
    self_tgkill(SIGUSR1);
    block(SIG_UNBLOCK, SIGUSR1, SIGUSR2);
    expect("USR2 then USR1 pending, unblocked together: handlers ran", logbuf, "USR2 USR1");

    out("-- ignore, kill 0, sender codes --\n");
    signal(SIGUSR1, SIG_IGN);
    count_usr1 = 0;
    self_tgkill(SIGUSR1);
    expectf("SIG_IGN: still alive, handler count", "0", "%d", count_usr1);
    EXPECT_SYS("kill(getpid(), 0)", kill(getpid(), 0), "0");
    set(SIGUSR2, NULL, h_count, 0, 0);
    kill(getpid(), SIGUSR2);
    expect("kill(getpid(), SIGUSR2) si_code", segv_code_name(last_code), "SI_USER");
    self_tgkill(SIGUSR2);
    expect("tgkill(getpid(), gettid(), SIGUSR2) si_code", segv_code_name(last_code), "SI_TKILL");

    out("-- SIGCHLD and default actions --\n");
    set(SIGCHLD, NULL, h_chld, SA_RESTART, 0);
    pid = raw_fork();
    if (pid == 0)
        _exit(7);
    expect("child", WAIT(pid), "exit 7");
    expectf("SIGCHLD", "CLD_EXITED status=7 pid=child", "%s status=%d pid=%s",
            chld_code == CLD_EXITED ? "CLD_EXITED" : "other", chld_status,
            chld_pid == pid ? "child" : "other");
    pid = raw_fork();
    if (pid == 0) {
        signal(SIGUSR1, SIG_DFL);
        self_tgkill(SIGUSR1);
        _exit(0);
    }
    expect("child raising SIGUSR1 with SIG_DFL", WAIT(pid), "signal 10 (SIGUSR1)");
    expectf("SIGCHLD for a killed child", "CLD_KILLED status=10", "%s status=%d",
            chld_code == CLD_KILLED ? "CLD_KILLED" : "other", chld_status);

    return summary("signal_flags");
}
