/* task_signals_wait.c - signals between processes, the wait family, process groups, sessions,
 * orphan re-parenting and timers.
 *
 * Linux rules pinned: kill() between parent and child (a signal blocked until sigsuspend);
 * SIGCHLD reaches a SA_SIGINFO handler with CLD_EXITED and si_status; wait4(WNOHANG) is 0 while
 * the child runs; WUNTRACED/WSTOPPED report a SIGSTOP stop and WCONTINUED a SIGCONT (waitpid and
 * waitid flavours); WNOWAIT leaves the child waitable; SIGCHLD set to SIG_IGN, or SA_NOCLDWAIT,
 * auto-reaps (wait fails with ECHILD, and with SA_NOCLDWAIT a handler still gets SIGCHLD);
 * setpgid/setsid/getsid rules (a group leader cannot setsid, a session leader's group cannot be
 * changed, no joining a group of another session); an orphan is re-parented to the nearest
 * PR_SET_CHILD_SUBREAPER ancestor; alarm() returns the previous alarm's remaining seconds and
 * interrupts pause(); an ITIMER_REAL interval timer repeats; nanosleep interrupted by a handler
 * fails with EINTR and reports the remaining time. Only one process prints at a time.
 */
#include "guest_util.h"
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t got_usr1, got_usr2, usr2_from_child, chld_code, chld_status, alarms;
static volatile pid_t chld_pid, peer;

static void on_usr(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else {
        got_usr2 = 1;
        usr2_from_child = si->si_pid == peer;
    }
}
static void on_chld(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    chld_code = si->si_code;
    chld_status = si->si_status;
    chld_pid = si->si_pid;
}
static void on_alrm(int sig) { (void)sig; alarms++; }

static void handle(int sig, void (*fn)(int, siginfo_t *, void *), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO | flags;
    sigaction(sig, &sa, NULL);
}

static sigset_t set_of(int a, int b)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, a);
    if (b)
        sigaddset(&s, b);
    return s;
}

static const char *yesno(int b) { return b ? "yes" : "no"; }
#define YES(label, cond) expect((label), yesno(cond), "yes")

static pid_t fork_blocked_reader(int p[2])
{
    if (pipe(p) != 0)
        exit(2);
    pid_t pid = fork();
    if (pid == 0) {
        char c;
        close(p[1]);
        while (read(p[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(p[0]);
    return pid;
}

static const char *cld_str(const siginfo_t *si, char *buf, size_t n)
{
    const char *c = si->si_code == CLD_EXITED ? "CLD_EXITED" : si->si_code == CLD_STOPPED
        ? "CLD_STOPPED" : si->si_code == CLD_CONTINUED ? "CLD_CONTINUED" : "CLD_?";
    snprintf(buf, n, "%s %d", c, si->si_status);
    return buf;
}
#define CLD(si) cld_str((si), (char[40]){0}, 40)

int main(void)
{
    sigset_t none, old;
    sigemptyset(&none);
    int st, p[2];

    out("-- kill between parent and child --\n");
    handle(SIGUSR1, on_usr, 0);
    handle(SIGUSR2, on_usr, 0);
    sigset_t usr = set_of(SIGUSR1, SIGUSR2);
    sigprocmask(SIG_BLOCK, &usr, &old);
    peer = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        while (!got_usr1)
            sigsuspend(&none);
        out("child: SIGUSR1 from the parent handled in sigsuspend: yes\n");
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    peer = pid;
    kill(pid, SIGUSR1);
    while (!got_usr2)
        sigsuspend(&none);
    YES("parent: SIGUSR2 came from the child", usr2_from_child);
    expect("parent: child", WAIT(pid), "exit 0");

    out("-- SIGCHLD handler --\n");
    handle(SIGCHLD, on_chld, 0);
    sigset_t chld = set_of(SIGCHLD, 0);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    pid = fork();
    if (pid == 0)
        _exit(5);
    while (!chld_pid)
        sigsuspend(&none);
    expectf("SIGCHLD siginfo", "CLD_EXITED 5 from the child", "%s %d from %s",
            chld_code == CLD_EXITED ? "CLD_EXITED" : "?", chld_status,
            chld_pid == pid ? "the child" : "elsewhere");
    expect("waitpid", WAIT(pid), "exit 5");

    out("-- SA_NOCLDWAIT with a handler, SIGCHLD ignored --\n");
    chld_pid = 0;
    handle(SIGCHLD, on_chld, SA_NOCLDWAIT);
    pid = fork();
    if (pid == 0)
        _exit(3);
    while (!chld_pid)
        sigsuspend(&none);
    expectf("SA_NOCLDWAIT: SIGCHLD still delivered", "CLD_EXITED 3", "%s %d",
            chld_code == CLD_EXITED ? "CLD_EXITED" : "?", chld_status);
    EXPECT_SYS("SA_NOCLDWAIT: wait (auto-reaped)", wait(&st), "-1 ECHILD");
    signal(SIGCHLD, SIG_IGN); /* also discards anything pending */
    sigprocmask(SIG_SETMASK, &old, NULL);
    pid = fork();
    if (pid == 0)
        _exit(4);
    EXPECT_SYS("SIG_IGN: wait blocks until the child is gone, then", wait(&st), "-1 ECHILD");
    signal(SIGCHLD, SIG_DFL);

    out("-- WNOHANG, stop and continue --\n");
    pid = fork_blocked_reader(p);
    EXPECT_SYS("wait4(WNOHANG) while the child runs", wait4(pid, &st, WNOHANG, NULL), "0");
    kill(pid, SIGSTOP);
    waitpid(pid, &st, WUNTRACED);
    expectf("waitpid(WUNTRACED)", "stopped by signal 19", "%s by signal %d",
            WIFSTOPPED(st) ? "stopped" : "?", WSTOPSIG(st));
    kill(pid, SIGCONT);
    waitpid(pid, &st, WCONTINUED);
    YES("waitpid(WCONTINUED): WIFCONTINUED", WIFCONTINUED(st));
    siginfo_t si;
    kill(pid, SIGSTOP);
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WSTOPPED);
    expect("waitid(WSTOPPED)", CLD(&si), "CLD_STOPPED 19");
    kill(pid, SIGCONT);
    memset(&si, 0, sizeof si);
    waitid(P_PID, (id_t)pid, &si, WCONTINUED);
    expect("waitid(WCONTINUED)", CLD(&si), "CLD_CONTINUED 18");
    EXPECT_SYS("nothing more to report", waitpid(pid, &st, WNOHANG | WUNTRACED | WCONTINUED), "0");
    close(p[1]);
    expect("child after its pipe closed", WAIT(pid), "exit 0");

    out("-- WNOWAIT --\n");
    pid = fork();
    if (pid == 0)
        _exit(9);
    for (int i = 0; i < 2; i++) {
        memset(&si, 0, sizeof si);
        waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
        expect("waitid(WEXITED|WNOWAIT)", CLD(&si), "CLD_EXITED 9");
    }
    expect("then waitpid", WAIT(pid), "exit 9");
    expect("and again", WAIT(pid), "wait4 ECHILD");

    out("-- process groups and sessions --\n");
    pid_t my_pgid = getpgid(0), my_sid = getsid(0);
    pid = fork();
    if (pid == 0) {
        YES("child: pgid and sid inherited", getpgid(0) == my_pgid && getsid(0) == my_sid);
        EXPECT_SYS("child: setpgid(0, 0)", setpgid(0, 0), "0");
        YES("child: now pgid == pid", getpgid(0) == getpid());
        EXPECT_SYS("child: setsid() as a group leader", setsid(), "-1 EPERM");
        _exit(g_unexpected ? 1 : 0);
    }
    expect("child", WAIT(pid), "exit 0");
    int go[2], ready[2];
    if (pipe(go) != 0 || pipe(ready) != 0)
        return 2;
    pid = fork();
    if (pid == 0) {
        pid_t s = setsid();
        YES("child2: setsid() returns its pid", s == getpid());
        YES("child2: sid == pgid == pid", getsid(0) == getpid() && getpgid(0) == getpid());
        EXPECT_SYS("child2: setpgid(0, parent's pgid) across sessions", setpgid(0, my_pgid),
                   "-1 EPERM");
        char c = 'r';
        write(ready[1], &c, 1);
        read(go[0], &c, 1);
        _exit(g_unexpected ? 1 : 0);
    }
    char c;
    read(ready[0], &c, 1);
    EXPECT_SYS("parent: setpgid(session leader child2)", setpgid(pid, pid), "-1 EPERM");
    YES("parent: getsid(child2) == child2", getsid(pid) == pid);
    write(go[1], &c, 1);
    expect("child2", WAIT(pid), "exit 0");

    out("-- orphan re-parented to the subreaper --\n");
    pid_t top = getpid();
    EXPECT_SYS("prctl(PR_SET_CHILD_SUBREAPER, 1)", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "0");
    if (pipe(p) != 0)
        return 2;
    pid = fork();
    if (pid == 0) {
        pid_t c_pid = getpid();
        int r[2];
        if (pipe(r) != 0)
            _exit(2);
        pid_t g = fork();
        if (g == 0) {
            int first_is_parent = getppid() == c_pid;
            write(r[1], "r", 1);
            int changed = 0;
            for (int i = 0; i < 20000 && !changed; i++) {
                changed = getppid() != c_pid;
                if (!changed)
                    nanosleep(&(struct timespec){0, 500000}, NULL);
            }
            YES("grandchild: its parent was the child", first_is_parent);
            YES("grandchild: getppid() changed when the child exited", changed);
            YES("grandchild: the new parent is the top process", getppid() == top);
            _exit(g_unexpected ? 1 : 0);
        }
        write(p[1], &g, sizeof g);
        read(r[0], &c, 1);
        _exit(0);
    }
    pid_t g = 0;
    read(p[0], &g, sizeof g);
    char child_st[48], grandchild_st[48];
    snprintf(child_st, sizeof child_st, "%s", WAIT(pid));
    snprintf(grandchild_st, sizeof grandchild_st, "%s", WAIT(g)); /* ours now */
    expect("top: child", child_st, "exit 0");
    expect("top: adopted grandchild", grandchild_st, "exit 0");

    out("-- timers --\n");
    signal(SIGALRM, on_alrm); /* SA_RESTART, like every glibc signal() handler */
    EXPECT_SYS("alarm(10)", alarm(10), "0");
    EXPECT_SYS("alarm(1) returns the previous alarm's seconds", alarm(1), "10");
    EXPECT_SYS("pause() until SIGALRM", pause(), "-1 EINTR");
    expectf("SIGALRMs", "1", "%d", (int)alarms);
    sigset_t alrm = set_of(SIGALRM, 0);
    sigprocmask(SIG_BLOCK, &alrm, NULL);
    alarms = 0;
    struct itimerval it = {{0, 20000}, {0, 20000}}, cur;
    setitimer(ITIMER_REAL, &it, NULL);
    while (alarms < 3)
        sigsuspend(&none);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, NULL);
    getitimer(ITIMER_REAL, &cur);
    expectf("interval timer: SIGALRMs, then disarmed", "3 disarmed", "%d %s", (int)alarms,
            cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0 ? "disarmed" : "armed");
    sigprocmask(SIG_UNBLOCK, &alrm, NULL);
    struct itimerval once = {{0, 0}, {0, 50000}};
    setitimer(ITIMER_REAL, &once, NULL);
    struct timespec rem = {0, 0};
    EXPECT_SYS("nanosleep(10 s) interrupted by SIGALRM",
               nanosleep(&(struct timespec){10, 0}, &rem), "-1 EINTR");
    YES("remaining time between 9 and 10 s", rem.tv_sec == 9);
    return summary("task_signals_wait");
}
