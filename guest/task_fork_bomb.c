/* task_fork_bomb.c - a fork bomb must be stopped by the kernel's task limits with EAGAIN (or
 * ENOMEM when memory runs out first), never by a crash or a hang. Every process forks until fork
 * fails; the children wait in pause(). The first process reports how fork failed, then kills the
 * whole process group and reaps what it can.
 * Not run natively by the test suite (as root, Linux would let it grow to the host's
 * threads-max): tests/emu runs it under mmuemu only, where threads-max follows --ram.
 */
#include "guest_util.h"

int main(void)
{
    setpgid(0, 0);
    pid_t top = getpid();
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return 2;
    long made = 0;
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) {
            int e = errno;
            if (getpid() == top) {
                out("fork failed with %s\n", e == EAGAIN || e == ENOMEM ? "EAGAIN or ENOMEM" : errname(e));
                break;
            }
            char c = (char)e;
            (void)!write(pipefd[1], &c, 1); /* tell the first process */
            for (;;)
                pause();
        }
        if (pid == 0)
            continue; /* the child forks on */
        made++;
        if (getpid() != top) {
            /* not the first process: after one child, wait (the bomb grows as a chain) */
            for (;;)
                pause();
        }
        char c;
        if (made >= 1 && read(pipefd[0], &c, 1) == 1) {
            out("fork failed with %s\n", c == EAGAIN || c == ENOMEM ? "EAGAIN or ENOMEM" : "another error");
            break;
        }
    }
    signal(SIGTERM, SIG_IGN);
    kill(0, SIGTERM);
    int reaped = 0;
    while (waitpid(-1, NULL, 0) > 0)
        reaped++;
    out("reaped its children: %s\n", reaped >= 1 ? "yes" : "no");
    return 0;
}
