/* task_fork_many.c - 10,000 fork/_exit/waitpid round trips.
 *
 * Linux rules pinned: fork() returns 0 in the child and the child's pid in the parent; the
 * child's _exit(status) reaches the parent through waitpid() as WIFEXITED with WEXITSTATUS equal
 * to status & 0xff; a reaped child leaves nothing behind (no zombie: a second waitpid() of the
 * same pid fails with ECHILD), so the 10,000 children never exhaust anything. Each child also
 * writes one byte of a 1 MiB private buffer the parent filled (one copy-on-write break) and
 * checks that it still sees the parent's data; the parent checks that it never sees the child's
 * write. Meant to run under `mmuemu run --ram 64M`: every child's frames must be given back.
 * The children print nothing; the parent prints one summary line.
 */
#include "guest_util.h"
#include <sys/wait.h>

#define ITERATIONS 10000
#define BUF_PAGES 256 /* 1 MiB */

int main(void)
{
    unsigned char *buf = map_anon(BUF_PAGES, PROT_READ | PROT_WRITE);
    memset(buf, 0x5a, BUF_PAGES * PG);

    int exited_ok = 0, bad_status = 0, bad_wait = 0, fork_failed = 0, zombie = 0;
    for (int i = 0; i < ITERATIONS; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            fork_failed++;
            continue;
        }
        if (pid == 0) {
            /* The child: check the inherited data, break one COW page, exit with i & 0xff. */
            unsigned char *p = buf + (size_t)(i % BUF_PAGES) * PG + (size_t)(i % 64);
            int seen = *p;
            *p = (unsigned char)i;
            /* a wrong view of the memory flips the top bit of the status */
            _exit(seen == 0x5a && *p == (unsigned char)i ? (i & 0xff) : (i & 0xff) ^ 0x80);
        }
        int st = 0;
        pid_t r;
        do
            r = waitpid(pid, &st, 0);
        while (r < 0 && errno == EINTR);
        if (r != pid) {
            bad_wait++;
            continue;
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == (i & 0xff))
            exited_ok++;
        else
            bad_status++;
        if (i % 1000 == 999) {
            /* Spot check: the reaped child is gone. */
            errno = 0;
            if (waitpid(pid, &st, WNOHANG) != -1 || errno != ECHILD)
                zombie++;
        }
    }

    int parent_intact = 1;
    for (size_t off = 0; off < BUF_PAGES * PG; off++)
        if (buf[off] != 0x5a) {
            parent_intact = 0;
            break;
        }

    out("task_fork_many: %d forks, %d exit statuses as expected, %d wrong statuses, "
        "%d wrong waitpid results, %d fork failures, %d zombies\n",
        ITERATIONS, exited_ok, bad_status, bad_wait, fork_failed, zombie);
    out("task_fork_many: the parent's buffer is unchanged by the children's writes: %s\n",
        parent_intact ? "yes" : "no");
    errno = 0;
    int last = waitpid(-1, NULL, WNOHANG);
    out("task_fork_many: waitpid(-1) with no children left: %s\n", RSTR(last, errno));
    return exited_ok == ITERATIONS && parent_intact ? 0 : 1;
}
