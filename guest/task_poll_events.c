/* task_poll_events.c - readiness: poll, ppoll, select, pselect, epoll, eventfd, signalfd, pipes.
 *
 * Linux rules pinned: an empty pipe is not readable, a pipe with room is writable; closing the
 * write end makes the read end report POLLHUP (POLLIN|POLLHUP while data remains, then EOF);
 * closing the read end makes the write end report POLLERR and writes fail with EPIPE; a negative
 * fd is ignored, a closed one reports POLLNVAL; timeouts of 0 and 20 ms return 0 (select writes
 * the remaining time back); ppoll atomically installs its mask, so a pending blocked signal
 * interrupts it with EINTR; epoll is level-triggered by default, EPOLLET reports an edge once,
 * EPOLLONESHOT disarms until EPOLL_CTL_MOD, epoll_ctl errors (EEXIST, ENOENT, EINVAL on itself,
 * EPERM on a directory); eventfd counters add up, read resets them (EFD_SEMAPHORE: decrement by
 * one), EAGAIN when empty or full, EINVAL for 2^64-1 and for short buffers; signalfd reads a
 * blocked signal with its si_code (SI_TKILL for raise, SI_QUEUE with the value for sigqueue);
 * a default pipe holds 65536 bytes, is not writable when full and is again after one page is
 * read; a pipe written by a child wakes the parent's poll. Everything runs in one order.
 */
#include "guest_util.h"
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>

static const char *ename(int e) { return e == EPIPE ? "EPIPE" : errname(e); }
#define SYSR(label, call, want)                                                                  \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (long)(call);                                                                  \
        char b_[48];                                                                             \
        if (r_ == -1)                                                                            \
            snprintf(b_, sizeof b_, "-1 %s", ename(errno));                                     \
        else                                                                                     \
            snprintf(b_, sizeof b_, "%ld", r_);                                                  \
        expect((label), b_, (want));                                                             \
    } while (0)

/* "1 POLLIN|POLLHUP" / "0 -": poll's result and the revents of a single fd. */
static const char *poll1(int fd, short events, int timeout, char *buf, size_t n)
{
    struct pollfd p = {.fd = fd, .events = events};
    int r = poll(&p, 1, timeout);
    static const struct { short bit; const char *name; } names[] = {
        {POLLIN, "POLLIN"}, {POLLOUT, "POLLOUT"}, {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"},
        {POLLNVAL, "POLLNVAL"}, {POLLPRI, "POLLPRI"}};
    int len = snprintf(buf, n, "%d ", r);
    const char *sep = "";
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (p.revents & names[i].bit) {
            len += snprintf(buf + len, n - (size_t)len, "%s%s", sep, names[i].name);
            sep = "|";
        }
    if (!*sep)
        snprintf(buf + len, n - (size_t)len, "-");
    return buf;
}
#define POLL1(fd, ev, t) poll1((fd), (ev), (t), (char[80]){0}, 80)

static long ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* epoll_wait with room for one event: "1 0x1111 EPOLLIN" / "0". */
static const char *ewait(int ep, int timeout, char *buf, size_t n)
{
    struct epoll_event ev;
    int r = epoll_wait(ep, &ev, 1, timeout);
    if (r == 1)
        snprintf(buf, n, "1 0x%llx%s%s", (unsigned long long)ev.data.u64,
                 ev.events & EPOLLIN ? " EPOLLIN" : "", ev.events & EPOLLHUP ? " EPOLLHUP" : "");
    else
        snprintf(buf, n, "%d", r);
    return buf;
}
#define EWAIT(ep, t) ewait((ep), (t), (char[64]){0}, 64)

static int ep_ctl(int ep, int op, int fd, unsigned events, unsigned long long data)
{
    struct epoll_event ev = {.events = events, .data.u64 = data};
    return epoll_ctl(ep, op, fd, &ev);
}

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { (void)sig; handled++; }

int main(void)
{
    int p[2], q[2];
    char c, buf[4096];
    struct timespec t0;
    signal(SIGPIPE, SIG_IGN);

    out("-- poll on pipes --\n");
    if (pipe(p) != 0)
        return 2;
    expect("empty read end, timeout 0", POLL1(p[0], POLLIN, 0), "0 -");
    expect("write end", POLL1(p[1], POLLOUT, 0), "1 POLLOUT");
    write(p[1], "x", 1);
    expect("read end after a write", POLL1(p[0], POLLIN, 0), "1 POLLIN");
    close(p[1]);
    expect("write end closed, data left", POLL1(p[0], POLLIN, 0), "1 POLLIN|POLLHUP");
    read(p[0], &c, 1);
    expect("write end closed, drained", POLL1(p[0], POLLIN, 0), "1 POLLHUP");
    SYSR("read at EOF", read(p[0], &c, 1), "0");
    close(p[0]);
    pipe(p);
    close(p[0]);
    expect("read end closed: write end", POLL1(p[1], POLLOUT, 0), "1 POLLOUT|POLLERR");
    SYSR("write with no reader (SIGPIPE ignored)", write(p[1], "x", 1), "-1 EPIPE");
    close(p[1]);
    expect("fd -1 is ignored", POLL1(-1, POLLIN, 0), "0 -");
    expect("closed fd", POLL1(p[1], POLLIN, 0), "1 POLLNVAL");
    pipe(p);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    expect("empty read end, timeout 20 ms", POLL1(p[0], POLLIN, 20), "0 -");
    expectf("  at least 20 ms passed", "yes", "%s", ms_since(&t0) >= 19 ? "yes" : "no");

    out("-- ppoll, select, pselect --\n");
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    sigset_t usr1, none;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);
    SYSR("ppoll, 20 ms", ppoll(&pf, 1, &(struct timespec){0, 20000000}, &usr1), "0");
    signal(SIGUSR1, on_usr1);
    sigprocmask(SIG_BLOCK, &usr1, NULL);
    self_tgkill(SIGUSR1);
    SYSR("ppoll unblocking a pending SIGUSR1", ppoll(&pf, 1, &(struct timespec){1, 0}, &none),
         "-1 EINTR");
    expectf("  handler ran", "1", "%d", (int)handled);
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    struct timeval tv = {0, 0};
    SYSR("select, timeout 0: only the write end ready", select(p[1] + 1, &rd, &wr, NULL, &tv), "1");
    expectf("  read end in the result / write end", "0 1", "%d %d", FD_ISSET(p[0], &rd) != 0,
            FD_ISSET(p[1], &wr) != 0);
    write(p[1], "y", 1);
    FD_SET(p[0], &rd);
    FD_SET(p[1], &wr);
    SYSR("select after a write", select(p[1] + 1, &rd, &wr, NULL, &tv), "2");
    read(p[0], &c, 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    tv = (struct timeval){0, 20000};
    SYSR("select, 20 ms", select(p[0] + 1, &rd, NULL, NULL, &tv), "0");
    expectf("  remaining time written back", "0.000000", "%ld.%06ld", (long)tv.tv_sec,
            (long)tv.tv_usec);
    FD_SET(p[0], &rd);
    SYSR("pselect, 20 ms", pselect(p[0] + 1, &rd, NULL, NULL, &(struct timespec){0, 20000000},
                                   &usr1), "0");
    FD_ZERO(&rd);
    close(60); /* inside the fd table (64 entries); select ignores fds beyond it */
    FD_SET(60, &rd);
    SYSR("select on a closed fd", select(61, &rd, NULL, NULL, &(struct timeval){0, 0}),
         "-1 EBADF");

    out("-- epoll --\n");
    int ep = epoll_create1(EPOLL_CLOEXEC);
    SYSR("epoll_create1(bad flag)", epoll_create1(1), "-1 EINVAL");
    SYSR("ADD read end", ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1111), "0");
    SYSR("ADD again", ep_ctl(ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 0x1111), "-1 EEXIST");
    SYSR("MOD unknown fd", ep_ctl(ep, EPOLL_CTL_MOD, p[1], EPOLLOUT, 0), "-1 ENOENT");
    SYSR("DEL unknown fd", ep_ctl(ep, EPOLL_CTL_DEL, p[1], 0, 0), "-1 ENOENT");
    SYSR("ADD itself", ep_ctl(ep, EPOLL_CTL_ADD, ep, EPOLLIN, 0), "-1 EINVAL");
    int dir = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    SYSR("ADD a directory", ep_ctl(ep, EPOLL_CTL_ADD, dir, EPOLLIN, 0), "-1 EPERM");
    close(dir);
    expect("epoll_wait, empty, timeout 0", EWAIT(ep, 0), "0");
    write(p[1], "ab", 2);
    expect("after a write", EWAIT(ep, 0), "1 0x1111 EPOLLIN");
    expect("level-triggered: again", EWAIT(ep, 0), "1 0x1111 EPOLLIN");
    SYSR("epoll_wait, maxevents 0", epoll_wait(ep, &(struct epoll_event){0}, 0, 0), "-1 EINVAL");
    pipe(q);
    SYSR("ADD EPOLLET", ep_ctl(ep, EPOLL_CTL_ADD, q[0], EPOLLIN | EPOLLET, 0x2222), "0");
    SYSR("MOD p: EPOLLONESHOT", ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN | EPOLLONESHOT, 0x1111),
         "0");
    expect("oneshot fires", EWAIT(ep, 0), "1 0x1111 EPOLLIN");
    expect("then disarmed (data still there)", EWAIT(ep, 0), "0");
    write(q[1], "e", 1);
    expect("edge on q", EWAIT(ep, 0), "1 0x2222 EPOLLIN");
    expect("edge reported once", EWAIT(ep, 0), "0");
    write(q[1], "f", 1);
    expect("new edge", EWAIT(ep, 0), "1 0x2222 EPOLLIN");
    SYSR("DEL q", ep_ctl(ep, EPOLL_CTL_DEL, q[0], 0, 0), "0");
    SYSR("MOD p re-arms", ep_ctl(ep, EPOLL_CTL_MOD, p[0], EPOLLIN, 0x3333), "0");
    read(p[0], buf, 2);
    close(p[1]);
    expect("write end closed", EWAIT(ep, 0), "1 0x3333 EPOLLHUP");
    SYSR("DEL p", ep_ctl(ep, EPOLL_CTL_DEL, p[0], 0, 0), "0");
    SYSR("epoll_pwait, 20 ms", epoll_pwait(ep, &(struct epoll_event){0}, 1, 20, &usr1), "0");
    close(p[0]);
    close(q[0]);
    close(q[1]);
    close(ep);

    out("-- eventfd --\n");
    uint64_t v;
    int efd = eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC);
    SYSR("read (8 bytes)", read(efd, &v, 8), "8");
    expectf("  value", "3", "%llu", (unsigned long long)v);
    SYSR("read when 0", read(efd, &v, 8), "-1 EAGAIN");
    expect("poll when 0", POLL1(efd, POLLIN | POLLOUT, 0), "1 POLLOUT");
    write(efd, &(uint64_t){5}, 8);
    write(efd, &(uint64_t){2}, 8);
    expect("poll when 7", POLL1(efd, POLLIN | POLLOUT, 0), "1 POLLIN|POLLOUT");
    read(efd, &v, 8);
    expectf("5 + 2", "7", "%llu", (unsigned long long)v);
    SYSR("write 2^64-1", write(efd, &(uint64_t){~0ULL}, 8), "-1 EINVAL");
    SYSR("read into 4 bytes", read(efd, &v, 4), "-1 EINVAL");
    SYSR("write the maximum", write(efd, &(uint64_t){~0ULL - 1}, 8), "8");
    SYSR("write 1 more (would overflow)", write(efd, &(uint64_t){1}, 8), "-1 EAGAIN");
    close(efd);
    efd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
    char seq[64] = "";
    for (int i = 0; i < 4; i++) {
        errno = 0;
        long r = read(efd, &v, 8);
        snprintf(seq + strlen(seq), sizeof seq - strlen(seq), "%s%s", i ? " " : "",
                 r == 8 ? (v == 1 ? "1" : "?") : errname(errno));
    }
    expect("EFD_SEMAPHORE from 3: four reads", seq, "1 1 1 EAGAIN");
    close(efd);

    out("-- signalfd --\n");
    sigset_t both = usr1;
    sigaddset(&both, SIGUSR2);
    sigprocmask(SIG_BLOCK, &both, NULL);
    int sfd = signalfd(-1, &both, SFD_NONBLOCK | SFD_CLOEXEC);
    struct signalfd_siginfo ssi;
    SYSR("read, nothing pending", read(sfd, &ssi, sizeof ssi), "-1 EAGAIN");
    expect("poll, nothing pending", POLL1(sfd, POLLIN, 0), "0 -");
    raise(SIGUSR1);
    expect("poll after raise(SIGUSR1)", POLL1(sfd, POLLIN, 0), "1 POLLIN");
    SYSR("read into 64 bytes", read(sfd, &ssi, 64), "-1 EINVAL");
    SYSR("read", read(sfd, &ssi, sizeof ssi), "128");
    expectf("  signo, code", "10 SI_TKILL", "%u %s", ssi.ssi_signo,
            ssi.ssi_code == SI_TKILL ? "SI_TKILL" : "?");
    sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 42});
    read(sfd, &ssi, sizeof ssi);
    expectf("sigqueue(SIGUSR2, 42): signo, code, value", "12 SI_QUEUE 42", "%u %s %d",
            ssi.ssi_signo, ssi.ssi_code == SI_QUEUE ? "SI_QUEUE" : "?", ssi.ssi_int);
    expectf("handler never ran for them", "1", "%d", (int)handled);
    close(sfd);

    out("-- a full pipe --\n");
    pipe2(p, O_NONBLOCK);
    SYSR("F_GETPIPE_SZ", fcntl(p[1], F_GETPIPE_SZ), "65536");
    memset(buf, 'z', sizeof buf);
    long total = 0, r;
    while ((r = write(p[1], buf, sizeof buf)) > 0)
        total += r;
    expectf("bytes written until EAGAIN", "65536 EAGAIN", "%ld %s", total, errname(errno));
    expect("full: write end", POLL1(p[1], POLLOUT, 0), "0 -");
    read(p[0], buf, sizeof buf);
    expect("one page read: write end", POLL1(p[1], POLLOUT, 0), "1 POLLOUT");
    close(p[0]);
    close(p[1]);

    out("-- a child writes, the parent polls --\n");
    int ack[2];
    pipe(p);
    pipe(ack);
    pid_t pid = fork();
    if (pid == 0) {
        nanosleep(&(struct timespec){0, 20000000}, NULL);
        write(p[1], "hello", 5);
        read(ack[0], &c, 1); /* stay alive until the parent has looked */
        _exit(0);
    }
    close(p[1]);
    expect("poll, timeout 10 s", POLL1(p[0], POLLIN, 10000), "1 POLLIN");
    SYSR("read", read(p[0], buf, sizeof buf), "5");
    write(ack[1], "k", 1);
    expect("child", WAIT(pid), "exit 0");
    expect("poll after the child exited", POLL1(p[0], POLLIN, 10000), "1 POLLHUP");
    return summary("task_poll_events");
}
