/* file_locks_rules.c - fcntl record locks (POSIX and OFD) and flock between processes (issue 9).
 *
 * Rules pinned (each compared with the host kernel):
 *  - POSIX locks belong to the process: its own locks never conflict, another process's
 *    overlapping lock does when either is a write lock (F_SETLK: EAGAIN; F_GETLK reports the
 *    lock with the holder's pid, or F_UNLCK and nothing else changed);
 *  - ranges split on unlock and merge with touching locks of the same type; l_len 0 runs to
 *    infinity, a negative l_len covers the bytes before l_start;
 *  - closing any descriptor of the file drops all the process's locks on it; fork copies none;
 *  - F_SETLKW waits for the holder; a two-process cycle is EDEADLK;
 *  - OFD locks and flock belong to the open file description (shared by dup and fork, separate
 *    for another open); OFD locks conflict with the same process's POSIX locks, flock does not;
 *  - argument errors: EINVAL (type, whence, negative start, l_pid for OFD, F_GETLK of F_UNLCK),
 *    EBADF (write lock on a read-only descriptor).
 */
#include "guest_util.h"

#include <sys/file.h>
#include <sys/wait.h>

static const char *path = "file_locks_rules.tmp";

static const char *ename(int e)
{
    return e == EDEADLK ? "EDEADLK" : errname(e);
}

static const char *tname(int t)
{
    return t == F_RDLCK ? "RD" : t == F_WRLCK ? "WR" : t == F_UNLCK ? "UN" : "?";
}

static int lk(int fd, int cmd, int type, long start, long len)
{
    struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
    return fcntl(fd, cmd, &fl) == 0 ? 0 : errno;
}

/* F_GETLK (or F_OFD_GETLK) of a write lock on [start, start+len): the conflicting lock. */
static void show(const char *what, int fd, int cmd, int type, long start, long len, pid_t holder)
{
    struct flock fl = {.l_type = (short)type, .l_whence = SEEK_SET, .l_start = start, .l_len = len,
                       .l_pid = cmd == F_OFD_GETLK ? 0 : 12345};
    if (fcntl(fd, cmd, &fl) != 0) {
        out("%s: %s\n", what, ename(errno));
        return;
    }
    if (fl.l_type == F_UNLCK) {
        out("%s: UN (start %ld len %ld pid %s)\n", what, (long)fl.l_start, (long)fl.l_len,
            fl.l_pid == 12345 ? "unchanged" : "changed");
        return;
    }
    out("%s: %s start %ld len %ld pid %s\n", what, tname(fl.l_type), (long)fl.l_start, (long)fl.l_len,
        fl.l_pid == holder ? "holder" : fl.l_pid == -1 ? "-1" : "other");
}

/* Runs `child` in a forked process and waits for it. */
static void in_child(void (*child)(int fd, pid_t parent), int fd)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        child(fd, parent);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
}

static void child_conflicts(int fd, pid_t parent)
{
    out(" child: F_SETLK WR [0,10): %s\n", ename(lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    out(" child: F_SETLK RD [10,20): %s\n", ename(lk(fd, F_SETLK, F_RDLCK, 10, 10)));
    show(" child: F_GETLK [5,6)", fd, F_GETLK, F_WRLCK, 5, 1, parent);
    show(" child: F_GETLK RD [5,6)", fd, F_GETLK, F_RDLCK, 5, 1, parent);
}

static void child_split(int fd, pid_t parent)
{
    show(" child: [0,inf)", fd, F_GETLK, F_WRLCK, 0, 0, parent);
    show(" child: [50,51)", fd, F_GETLK, F_WRLCK, 50, 1, parent);
    show(" child: [55,inf)", fd, F_GETLK, F_WRLCK, 55, 0, parent);
    show(" child: [105,115)", fd, F_GETLK, F_WRLCK, 105, 10, parent);
    show(" child: RD [105,115)", fd, F_GETLK, F_RDLCK, 105, 10, parent);
    show(" child: [200,210) as 210 len -10", fd, F_GETLK, F_WRLCK, 210, -10, parent);
}

static void child_nothing(int fd, pid_t parent)
{
    show(" child: [0,inf)", fd, F_GETLK, F_WRLCK, 0, 0, parent);
}

static void posix_rules(void)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char buf[300] = {0};
    write(fd, buf, sizeof buf);
    out("posix: F_SETLK WR [0,10): %s\n", ename(lk(fd, F_SETLK, F_WRLCK, 0, 10)));
    show("posix: own F_GETLK", fd, F_GETLK, F_WRLCK, 0, 0, getpid());
    in_child(child_conflicts, fd);
    out("posix: WR [0,100): %s\n", ename(lk(fd, F_SETLK, F_WRLCK, 0, 100)));
    out("posix: UN [40,60): %s\n", ename(lk(fd, F_SETLK, F_UNLCK, 40, 20)));
    out("posix: RD [100,110): %s\n", ename(lk(fd, F_SETLK, F_RDLCK, 100, 10)));
    out("posix: RD [110,120): %s\n", ename(lk(fd, F_SETLK, F_RDLCK, 110, 10)));
    out("posix: WR [200,210): %s\n", ename(lk(fd, F_SETLK, F_WRLCK, 200, 10)));
    in_child(child_split, fd);
    int other = open(path, O_RDONLY);
    close(other);
    out("posix: closed another descriptor of the file\n");
    in_child(child_nothing, fd);
    close(fd);
}

static int gate[2];

static void child_waits(int fd, pid_t parent)
{
    (void)parent;
    char c = 1;
    write(gate[1], &c, 1);
    int r = lk(fd, F_SETLKW, F_WRLCK, 0, 1);
    out(" child: F_SETLKW after the parent unlocked: %s\n", ename(r));
}

static void child_deadlock(int fd, pid_t parent)
{
    (void)parent;
    char c = 1;
    out(" child: WR [1,2): %s\n", ename(lk(fd, F_SETLK, F_WRLCK, 1, 1)));
    write(gate[1], &c, 1);
    usleep(300000);  /* the parent is waiting for byte 1 by now */
    out(" child: F_SETLKW [0,1): %s\n", ename(lk(fd, F_SETLKW, F_WRLCK, 0, 1)));
}

static void blocking_rules(void)
{
    int fd = open(path, O_RDWR);
    pipe(gate);
    lk(fd, F_SETLK, F_WRLCK, 0, 1);
    pid_t pid = fork();
    if (pid == 0) {
        child_waits(fd, 0);
        _exit(0);
    }
    char c;
    read(gate[0], &c, 1);
    usleep(200000);
    out("wait: parent unlocks\n");
    lk(fd, F_SETLK, F_UNLCK, 0, 1);
    waitpid(pid, NULL, 0);

    lk(fd, F_SETLK, F_WRLCK, 0, 1);
    pid = fork();
    if (pid == 0) {
        child_deadlock(fd, 0);
        _exit(0);
    }
    read(gate[0], &c, 1);
    int r = lk(fd, F_SETLKW, F_WRLCK, 1, 1);
    out("deadlock: parent F_SETLKW [1,2) once the child exits: %s\n", ename(r));
    waitpid(pid, NULL, 0);
    close(fd);
}

static void child_ofd(int fd, pid_t parent)
{
    (void)parent;
    out(" child: F_OFD_SETLK WR on the inherited description: %s\n", ename(lk(fd, F_OFD_SETLK, F_WRLCK, 0, 10)));
    out(" child: flock LOCK_UN on the inherited description: %s\n", flock(fd, LOCK_UN) ? ename(errno) : "OK");
}

static void ofd_and_flock_rules(void)
{
    int a = open(path, O_RDWR), b = open(path, O_RDWR);
    out("ofd: a WR [0,10): %s\n", ename(lk(a, F_OFD_SETLK, F_WRLCK, 0, 10)));
    out("ofd: b WR [5,6): %s\n", ename(lk(b, F_OFD_SETLK, F_WRLCK, 5, 1)));
    show("ofd: b F_OFD_GETLK", b, F_OFD_GETLK, F_WRLCK, 5, 1, getpid());
    out("ofd: POSIX WR [5,6) through b: %s\n", ename(lk(b, F_SETLK, F_WRLCK, 5, 1)));
    show("ofd: POSIX F_GETLK through b", b, F_GETLK, F_WRLCK, 5, 1, getpid());
    int d = dup(a);
    out("ofd: dup of a WR [0,20): %s\n", ename(lk(d, F_OFD_SETLK, F_WRLCK, 0, 20)));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1, .l_pid = 1};
    out("ofd: l_pid 1: %s\n", fcntl(a, F_OFD_SETLK, &fl) ? ename(errno) : "OK");
    out("ofd: POSIX WR [30,40) through b: %s\n", ename(lk(b, F_SETLK, F_WRLCK, 30, 10)));
    out("ofd: a WR [35,36): %s\n", ename(lk(a, F_OFD_SETLK, F_WRLCK, 35, 1)));
    lk(b, F_SETLK, F_UNLCK, 0, 0);

    out("flock: a EX: %s\n", flock(a, LOCK_EX) ? ename(errno) : "OK");
    out("flock: b EX|NB: %s\n", flock(b, LOCK_EX | LOCK_NB) ? ename(errno) : "OK");
    out("flock: b SH|NB: %s\n", flock(b, LOCK_SH | LOCK_NB) ? ename(errno) : "OK");
    out("flock: dup of a SH: %s\n", flock(d, LOCK_SH) ? ename(errno) : "OK");
    out("flock: b SH|NB: %s\n", flock(b, LOCK_SH | LOCK_NB) ? ename(errno) : "OK");
    out("flock: b POSIX WR [100,101) (flock is separate): %s\n", ename(lk(b, F_SETLK, F_WRLCK, 100, 1)));
    in_child(child_ofd, a);
    out("flock: b EX|NB after the child's LOCK_UN: %s\n", flock(b, LOCK_EX | LOCK_NB) ? ename(errno) : "OK");
    out("flock: op 0: %s\n", flock(b, 0) ? ename(errno) : "OK");
    close(a);
    close(b);
    close(d);
}

static void error_rules(void)
{
    int ro = open(path, O_RDONLY);
    struct flock fl = {.l_type = 7, .l_whence = SEEK_SET};
    out("err: type 7: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    fl.l_type = F_UNLCK;
    out("err: F_GETLK of F_UNLCK: %s\n", fcntl(ro, F_GETLK, &fl) ? ename(errno) : "OK");
    fl.l_type = F_WRLCK;
    out("err: WR on O_RDONLY: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    fl.l_type = F_RDLCK;
    fl.l_whence = 9;
    out("err: whence 9: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    fl.l_whence = SEEK_SET;
    fl.l_start = -1;
    out("err: start -1: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    fl.l_start = 5;
    fl.l_len = -6;
    out("err: start 5 len -6: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    fl.l_whence = SEEK_END;
    fl.l_start = 0;
    fl.l_len = 0;
    out("err: RD from SEEK_END: %s\n", fcntl(ro, F_SETLK, &fl) ? ename(errno) : "OK");
    out("err: bad descriptor: %s\n", fcntl(99, F_SETLK, &fl) ? ename(errno) : "OK");
    out("err: flock bad descriptor: %s\n", flock(99, LOCK_SH) ? ename(errno) : "OK");
    close(ro);
}

int main(void)
{
    posix_rules();
    blocking_rules();
    ofd_and_flock_rules();
    error_rules();
    unlink(path);
    return 0;
}
