/* task_pidfd_harness.c - a test harness in the style of the Linux kernel selftests
 * (tools/testing/selftests/kselftest_harness.h): every test runs in a forked child, and the
 * parent waits for it through a pidfd.
 *
 * Linux rules pinned: pidfd_open(pid, 0) of a child gives a descriptor that poll() reports
 * POLLIN on once the child has exited (and not before: poll with timeout 0 on a running child
 * returns 0); waitid(P_PIDFD, fd, &info, WEXITED) reaps it with si_pid = the child, si_code
 * CLD_EXITED and si_status = the exit status, or CLD_KILLED and si_status = the signal for a
 * child killed by a signal (SIGTERM, SIGKILL, SIGUSR2, SIGINT: no core dump, so never
 * CLD_DUMPED); pidfd_send_signal(fd, sig, NULL, 0) signals the child with si_code SI_USER and
 * si_pid = the sender; after the reap pidfd_send_signal fails with ESRCH; pidfd_open with
 * unknown flags is EINVAL. The children print nothing; the parent prints one line per test.
 */
#include "guest_util.h"
#include <poll.h>
#include <sys/wait.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define TESTS 100

static int pidfd_open(pid_t pid, unsigned flags)
{
    return (int)syscall(SYS_pidfd_open, (long)pid, (long)flags);
}

static int pidfd_send_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, (long)fd, (long)sig, 0L, 0L);
}

/* What test i does: most exit with a status derived from i, a few are killed by a signal. */
static int test_signal(int i)
{
    switch (i) {
    case 13: return SIGTERM;
    case 37: return SIGKILL;
    case 64: return SIGUSR2;
    case 99: return SIGINT;
    default: return 0;
    }
}

static const char *sig_name(int sig) { return sig == SIGINT ? "SIGINT" : signame(sig); }

static int test_status(int i) { return i % 5 == 0 ? 0 : (i * 7) % 64; }

static void run_test_body(int i)
{
    int sig = test_signal(i);
    if (sig) {
        self_tgkill(sig);
        for (;;)
            pause();
    }
    _exit(test_status(i));
}

/* poll the pidfd (timeout 10 s) and reap the child through it; "CLD_EXITED 7" / "CLD_KILLED 15". */
static const char *poll_and_reap(int fd, pid_t pid, char *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int pr = poll(&p, 1, 10000);
    if (pr != 1 || !(p.revents & POLLIN)) {
        snprintf(buf, n, "poll %d revents 0x%x", pr, p.revents);
        return buf;
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid((idtype_t)P_PIDFD, (id_t)fd, &info, WEXITED) != 0) {
        snprintf(buf, n, "waitid %s", errname(errno));
        return buf;
    }
    const char *code = info.si_code == CLD_EXITED   ? "CLD_EXITED"
                       : info.si_code == CLD_KILLED ? "CLD_KILLED"
                       : info.si_code == CLD_DUMPED ? "CLD_DUMPED"
                                                    : "CLD_?";
    snprintf(buf, n, "%s %d%s", code, info.si_status, info.si_pid == pid ? "" : " (wrong si_pid)");
    return buf;
}
#define POLL_AND_REAP(fd, pid) poll_and_reap((fd), (pid), (char[64]){0}, 64)

static volatile sig_atomic_t usr1_code, usr1_from_parent;
static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    usr1_code = si->si_code;
    usr1_from_parent = si->si_pid == getppid();
}

int main(void)
{
    int passed = 0;
    out("TAP version 13\n1..%d\n", TESTS);
    for (int i = 1; i <= TESTS; i++) {
        pid_t pid = fork();
        if (pid == 0)
            run_test_body(i);
        int fd = pidfd_open(pid, 0);
        if (fd < 0) {
            out("not ok %d pidfd_open: %s\n", i, errname(errno));
            continue;
        }
        const char *got = POLL_AND_REAP(fd, pid);
        char want[64];
        int sig = test_signal(i);
        if (sig)
            snprintf(want, sizeof want, "CLD_KILLED %d", sig);
        else
            snprintf(want, sizeof want, "CLD_EXITED %d", test_status(i));
        int ok = strcmp(got, want) == 0;
        passed += ok;
        out("%s %d test_%03d: %s%s%s\n", ok ? "ok" : "not ok", i, i, got,
            sig ? " " : "", sig ? sig_name(sig) : "");
        close(fd);
    }
    out("# %d of %d tests reported as expected\n", passed, TESTS);

    g_checks = g_unexpected = 0;
    out("-- pidfd_send_signal to a child blocked in pause() --\n");
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    int fd = pidfd_open(pid, 0);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    EXPECT_SYS("poll(pidfd of a running child, timeout 0)", poll(&p, 1, 0), "0");
    EXPECT_SYS("pidfd_send_signal(SIGUSR2)", pidfd_send_signal(fd, SIGUSR2), "0");
    expect("reaped through the pidfd", POLL_AND_REAP(fd, pid), "CLD_KILLED 12");
    EXPECT_SYS("pidfd_send_signal after the reap", pidfd_send_signal(fd, SIGUSR2), "-1 ESRCH");
    EXPECT_SYS("waitid(P_PIDFD) after the reap", waitid((idtype_t)P_PIDFD, (id_t)fd,
                                                        &(siginfo_t){0}, WEXITED), "-1 ECHILD");
    close(fd);

    out("-- pidfd_send_signal to a handler: si_code and si_pid --\n");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &old); /* the child takes it only inside sigsuspend */
    pid = fork();
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigsuspend(&none);
        _exit(usr1_code == SI_USER && usr1_from_parent ? 42 : 1);
    }
    fd = pidfd_open(pid, 0);
    EXPECT_SYS("pidfd_send_signal(SIGUSR1)", pidfd_send_signal(fd, SIGUSR1), "0");
    expect("child saw SI_USER from its parent", POLL_AND_REAP(fd, pid), "CLD_EXITED 42");
    close(fd);
    sigprocmask(SIG_SETMASK, &old, NULL);

    out("-- pidfd_open errors --\n");
    EXPECT_SYS("pidfd_open(self, unknown flag)", pidfd_open(getpid(), 1u << 3), "-1 EINVAL");
    EXPECT_SYS("pidfd_open(-1)", pidfd_open(-1, 0), "-1 EINVAL");
    fd = pidfd_open(getpid(), 0);
    expectf("pidfd_open(self)", "valid", "%s", fd >= 0 ? "valid" : errname(errno));
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    EXPECT_SYS("poll(own pidfd, timeout 0)", poll(&p, 1, 0), "0");
    close(fd);

    out("-- process_mrelease --\n");
    /* Only a dying process's memory can be reaped early: a live one is EINVAL; once it has
     * exited (zombie or reaped) its pidfd names no task any more (ESRCH). */
    pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    fd = pidfd_open(pid, 0);
    EXPECT_SYS("process_mrelease(unknown flag)", syscall(448, fd, 1), "-1 EINVAL");
    EXPECT_SYS("process_mrelease(not a pidfd)", syscall(448, 0, 0), "-1 EBADF");
    EXPECT_SYS("process_mrelease(-1)", syscall(448, -1, 0), "-1 EBADF");
    EXPECT_SYS("process_mrelease(live process)", syscall(448, fd, 0), "-1 EINVAL");
    kill(pid, SIGKILL);
    p = (struct pollfd){.fd = fd, .events = POLLIN};
    poll(&p, 1, -1);
    EXPECT_SYS("process_mrelease(zombie)", syscall(448, fd, 0), "-1 ESRCH");
    waitpid(pid, NULL, 0);
    EXPECT_SYS("process_mrelease(reaped)", syscall(448, fd, 0), "-1 ESRCH");
    close(fd);
    int r = summary("task_pidfd_harness");
    return passed == TESTS ? r : 1;
}
