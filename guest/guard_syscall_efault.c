/* guard_syscall_efault.c - system calls that copy to or from a guard page fail with EFAULT,
 * exactly as for an unmapped address, and no signal is raised.
 *
 * Pipe write(2)/read(2)/writev(2) from/into a guard page (whole and straddling buffers, with
 * the amount of data that ended up in or stayed in the pipe), zero-length transfers, and a set
 * of other syscalls with an output or input buffer on a guard page (uname, clock_gettime,
 * getrandom, fstat, getcwd, rt_sigaction, rt_sigprocmask, nanosleep, openat, sigaltstack,
 * read from /proc/self/maps). mincore() reports guard pages as not resident.
 */
#include "guest_util.h"
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>

static int pfd[2];

/* Bytes currently in the pipe (drains it): non-blocking reads until EAGAIN. */
static long pipe_drain(void)
{
    char tmp[256];
    long total = 0;
    int fl = fcntl(pfd[0], F_GETFL);
    fcntl(pfd[0], F_SETFL, fl | O_NONBLOCK);
    for (;;) {
        ssize_t n = read(pfd[0], tmp, sizeof tmp);
        if (n <= 0)
            break;
        total += n;
    }
    fcntl(pfd[0], F_SETFL, fl);
    return total;
}

int main(void)
{
    probe_init();
    char *b = map_anon(3, PROT_READ | PROT_WRITE);
    memset(b, 'p', PG);
    memset(b + 2 * PG, 'q', PG);
    char *g = b + PG;
    EXPECT_SYS("install p1", madvise(g, PG, MADV_GUARD_INSTALL), "0");
    EXPECT_SYS("pipe2", pipe2(pfd, 0), "0");

    out("-- pipe write/read --\n");
    EXPECT_SYS("write(pipe, guard, 16)", write(pfd[1], g, 16), "-1 EFAULT");
    expectf("bytes in pipe", "0", "%ld", pipe_drain());
    EXPECT_SYS("write(pipe, guard, 0)", write(pfd[1], g, 0), "0");
    EXPECT_SYS("write(pipe, guard-8, 16) straddling", write(pfd[1], g - 8, 16), "-1 EFAULT");
    expectf("bytes in pipe", "0", "%ld", pipe_drain());
    EXPECT_SYS("write(pipe, guard-8, 8) just below", write(pfd[1], g - 8, 8), "8");
    expectf("bytes in pipe", "8", "%ld", pipe_drain());
    EXPECT_SYS("write(pipe, p0, 16)", write(pfd[1], b, 16), "16");
    EXPECT_SYS("read(pipe, guard, 16)", read(pfd[0], g, 16), "-1 EFAULT");
    expectf("bytes still in pipe", "16", "%ld", pipe_drain());
    EXPECT_SYS("write(pipe, p0, 16)", write(pfd[1], b, 16), "16");
    EXPECT_SYS("read(pipe, guard-8, 16) straddling", read(pfd[0], g - 8, 16), "-1 EFAULT");
    expectf("bytes still in pipe", "16", "%ld", pipe_drain());
    EXPECT_SYS("write(pipe, p0, 16)", write(pfd[1], b, 16), "16");
    EXPECT_SYS("read(pipe, guard, 0)", read(pfd[0], g, 0), "0");
    expectf("bytes still in pipe", "16", "%ld", pipe_drain());
    struct iovec iov[2] = {{b, 8}, {g, 8}};
    EXPECT_SYS("writev(pipe, {p0,8},{guard,8})", writev(pfd[1], iov, 2), "-1 EFAULT");
    expectf("bytes in pipe", "0", "%ld", pipe_drain());
    iov[1].iov_base = b + 2 * PG;
    EXPECT_SYS("writev(pipe, {p0,8},{p2,8})", writev(pfd[1], iov, 2), "16");
    expectf("bytes in pipe", "16", "%ld", pipe_drain());
    expect("no signal was raised: p0 intact", PROBE_R(b, b), OKVAL('p'));

    out("-- other syscalls with a buffer on the guard page --\n");
    EXPECT_SYS("uname(guard)", syscall(SYS_uname, g), "-1 EFAULT");
    EXPECT_SYS("clock_gettime(CLOCK_MONOTONIC, guard)",
               syscall(SYS_clock_gettime, (long)CLOCK_MONOTONIC, g), "-1 EFAULT");
    EXPECT_SYS("getrandom(guard, 16, 0)", syscall(SYS_getrandom, g, 16L, 0L), "-1 EFAULT");
    EXPECT_SYS("fstat(pipe, guard)", syscall(SYS_fstat, (long)pfd[0], g), "-1 EFAULT");
    EXPECT_SYS("getcwd(guard, 4096)", syscall(SYS_getcwd, g, 4096L), "-1 EFAULT");
    EXPECT_SYS("rt_sigaction(SIGUSR1, act=guard)",
               syscall(SYS_rt_sigaction, (long)SIGUSR1, g, 0L, 8L), "-1 EFAULT");
    EXPECT_SYS("rt_sigaction(SIGUSR1, oldact=guard)",
               syscall(SYS_rt_sigaction, (long)SIGUSR1, 0L, g, 8L), "-1 EFAULT");
    EXPECT_SYS("rt_sigprocmask(SIG_BLOCK, set=guard)",
               syscall(SYS_rt_sigprocmask, (long)SIG_BLOCK, g, 0L, 8L), "-1 EFAULT");
    EXPECT_SYS("nanosleep(req=guard)", syscall(SYS_nanosleep, g, 0L), "-1 EFAULT");
    EXPECT_SYS("openat(path=guard)", syscall(SYS_openat, (long)AT_FDCWD, g, (long)O_RDONLY, 0L),
               "-1 EFAULT");
    EXPECT_SYS("sigaltstack(ss=guard)", syscall(SYS_sigaltstack, g, 0L), "-1 EFAULT");
    int fd = open("/proc/self/maps", O_RDONLY);
    EXPECT_SYS("read(/proc/self/maps, guard, 100)", read(fd, g, 100), "-1 EFAULT");
    close(fd);
    expect("guard still in place", PM(g), "g=1 p=0");

    out("-- mincore --\n");
    unsigned char vec[3] = {9, 9, 9};
    EXPECT_SYS("mincore(p0..p2)", mincore(b, 3 * PG, vec), "0");
    expectf("vec", "1,0,1", "%d,%d,%d", vec[0] & 1, vec[1] & 1, vec[2] & 1);
    vec[0] = 9;
    EXPECT_SYS("mincore(guard only)", mincore(g, PG, vec), "0");
    expectf("vec", "0", "%d", vec[0] & 1);
    EXPECT_SYS("mincore(p0..p2, vec=guard)", mincore(b, 3 * PG, (unsigned char *)g),
               "-1 EFAULT");

    return summary("guard_syscall_efault");
}
