/* syscall_fuzz.c - a seeded system-call fuzzer: thousands of calls with random arguments over the
 * calls mmuemu implements (memory, files, descriptors, signals, time, futex wakes, polls with no
 * wait, timers, events), with pointers that are valid, NULL, unmapped, on a guard page, in
 * kernel space or misaligned, and lengths from 0 to huge. Memory calls stay inside an arena the
 * program owns, so that the program itself survives natively. What counts: mmuemu neither
 * crashes nor hangs (the test runs it under --check and ASan); the program prints one line.
 * usage: syscall_fuzz [SEED [CALLS]]
 */
#include "guest_util.h"
#include <sys/stat.h>
#include <sys/syscall.h>

static unsigned long long state;
static unsigned long long rnd(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

enum { ARENA_PAGES = 64 };
static unsigned char *arena, *guard;

static long any_pointer(void)
{
    switch (rnd() % 8) {
    case 0: return 0;
    case 1: return (long)guard + (long)(rnd() % 4096);
    case 2: return (long)0xffff800000001000ull;  /* kernel space */
    case 3: return (long)(arena + ARENA_PAGES * 4096 + 4096 * 64); /* unmapped, past the arena */
    case 4: return (long)(arena + rnd() % (ARENA_PAGES * 4096)) | 1; /* misaligned */
    default: return (long)(arena + (rnd() % (ARENA_PAGES - 8)) * 4096);
    }
}

static long any_length(void)
{
    switch (rnd() % 6) {
    case 0: return 0;
    case 1: return (long)(rnd() % 64);
    case 2: return 4096 * (long)(rnd() % 8 + 1);
    case 3: return -1;
    case 4: return (long)1 << (rnd() % 62);
    default: return (long)(rnd() % 100000);
    }
}

/* A descriptor to read or write that cannot block: a file or directory, or a pipe, socket or
 * device opened O_NONBLOCK; -1 when the one drawn is neither. */
static int io_fd(void)
{
    const int fd = (int)(rnd() % 70);
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fd; /* EBADF is a fine answer to fuzz */
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return fd;
    const int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK) ? fd : -1;
}

static long arena_address(void) { return (long)(arena + (rnd() % ARENA_PAGES) * 4096); }
static long small_int(void) { return (long)(rnd() % 70) - 3; }
static long any_flags(void) { return rnd() % 4 ? (long)(rnd() & 0xffff) : (long)rnd(); }

int main(int argc, char **argv)
{
    state = argc > 1 ? strtoull(argv[1], NULL, 0) : 42;
    if (!state)
        state = 42;
    const long calls = argc > 2 ? atol(argv[2]) : 20000;
    arena = mmap(NULL, ARENA_PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    guard = arena + (ARENA_PAGES - 1) * 4096;
    madvise(guard, 4096, 102 /* MADV_GUARD_INSTALL */);
    signal(SIGPIPE, SIG_IGN);
    /* The result line goes to a descriptor out of the fuzzed range; 0-2 become /dev/null so that
     * nothing waits for a terminal and nothing random reaches the real output. */
    const int report = dup2(1, 900);
    const int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3; fd++)
        dup2(null, fd);
    char dir[] = "/tmp/syscall_fuzz.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0)
        return 2;
    long done = 0;
    for (long i = 0; i < calls; i++) {
        long r = 0;
        switch (rnd() % 40) {
        /* memory, inside the arena */
        case 0: r = syscall(SYS_mprotect, arena_address(), any_length() & 0xfffff, rnd() % 8); break;
        case 1: r = syscall(SYS_madvise, arena_address(), any_length() & 0xfffff, small_int() > 30 ? 102 + (long)(rnd() % 2) : small_int()); break;
        case 2: r = syscall(SYS_mlock2, arena_address(), any_length() & 0xffff, rnd() % 3); break;
        case 3: r = syscall(SYS_munlock, arena_address(), any_length() & 0xffff); break;
        case 4: r = syscall(SYS_mincore, arena_address(), any_length() & 0xffff, any_pointer()); break;
        case 5: r = syscall(SYS_msync, arena_address(), any_length() & 0xffff, any_flags() & 7); break;
        case 6: {
            long p = syscall(SYS_mmap, 0, any_length() & 0xffffff, rnd() % 8, (rnd() % 2 ? 0x02 : 0x01) | 0x20 | (rnd() % 2 ? 0x4000 : 0), -1, 0);
            if (p > 0 && p < (long)0x800000000000) syscall(SYS_munmap, p, 1);
            r = p;
            break;
        }
        case 7: r = syscall(SYS_brk, (long)sbrk(0) + (long)(rnd() % 3 == 0 ? -1 : (long)(rnd() % (1 << 20)))); break;
        case 8: r = syscall(SYS_mseal, arena_address(), 4096, any_flags()); break;
        /* files and descriptors */
        case 9: r = syscall(SYS_openat, rnd() % 2 ? -100 : small_int(), rnd() % 3 ? (long)"f" : any_pointer(), any_flags() & ~0x40000 /* no O_PATH games */, 0644); if (r > 2) close((int)r); break;
        case 10: { const int fd = io_fd(); r = fd < 0 ? 0 : syscall(SYS_read, fd, any_pointer(), any_length() & 0xffff); break; }
        case 11: { const int fd = io_fd(); r = fd < 0 ? 0 : syscall(SYS_write, fd, any_pointer(), any_length() & 0xffff); break; }
        case 12: r = syscall(SYS_close, small_int() + 3 > 2 ? small_int() + 3 : 100); break;
        case 13: r = syscall(SYS_dup3, small_int(), small_int() + 3 > 2 ? small_int() + 3 : 99, any_flags() & 0x80000); if (r > 2) close((int)r); break;
        case 14: { /* never F_SETFL (it could make a pipe blocking) nor a blocking lock */
            static const long cmds[] = {0, 1, 2, 3, 1030, 1031, 1032, 99, -1};
            r = syscall(SYS_fcntl, small_int(), cmds[rnd() % 9], any_flags() & 0xfffff); break; }
        case 15: r = syscall(SYS_newfstatat, -100, any_pointer(), any_pointer(), any_flags() & 0x1100); break;
        case 16: r = syscall(SYS_pipe2, any_pointer(), (any_flags() & 0x80000) | 0x800 /* never blocks */); break;
        case 17: r = syscall(SYS_getdents64, small_int(), any_pointer(), any_length() & 0xffff); break;
        case 18: r = syscall(SYS_readlinkat, -100, any_pointer(), any_pointer(), any_length() & 0xfff); break;
        case 19: r = syscall(SYS_getcwd, any_pointer(), any_length() & 0xfff); break;
        case 20: r = syscall(SYS_mkdirat, -100, rnd() % 2 ? (long)"d" : any_pointer(), 0755); break;
        case 21: r = syscall(SYS_unlinkat, -100, rnd() % 2 ? (long)"f" : any_pointer(), rnd() % 2 ? 0x200 : 0); break;
        case 22: r = syscall(SYS_lseek, small_int(), (long)rnd(), small_int()); break;
        case 23: r = syscall(SYS_ioctl, small_int(), (long)rnd() & 0xffffffff, any_pointer()); break;
        /* signals */
        case 24: { /* no signal the calls below can raise gets a random handler */
            long sig = small_int();
            if (sig == SIGSEGV || sig == SIGBUS || sig == SIGPIPE || sig == SIGILL || sig == SIGFPE ||
                sig == SIGTRAP || sig == SIGSYS || sig == SIGXFSZ || sig == SIGALRM)
                sig = 10;
            r = syscall(SYS_rt_sigaction, sig, rnd() % 2 ? 0 : any_pointer(), any_pointer(), rnd() % 2 ? 8 : small_int()); break; }
        case 25: r = syscall(SYS_rt_sigprocmask, small_int(), rnd() % 2 ? 0 : any_pointer(), any_pointer(), rnd() % 2 ? 8 : small_int()); break;
        case 26: r = syscall(SYS_sigaltstack, rnd() % 2 ? 0 : any_pointer(), any_pointer()); break;
        case 27: r = syscall(SYS_rt_sigpending, any_pointer(), 8); break;
        /* time, identity, misc */
        case 28: r = syscall(SYS_clock_gettime, small_int(), any_pointer()); break;
        case 29: r = syscall(SYS_uname, any_pointer()); break;
        case 30: r = syscall(SYS_getrandom, any_pointer(), any_length() & 0xfff, any_flags() & 7); break;
        case 31: r = syscall(SYS_prlimit64, 0, small_int(), 0, any_pointer()); break;
        case 32: r = syscall(SYS_futex, any_pointer(), small_int() % 14 == 0 ? 1 : (1 | (rnd() % 2 ? 128 : 0)), any_length(), 0, any_pointer(), any_flags()); break;
        case 33: { struct timespec zero = {0, 0};
            r = syscall(SYS_ppoll, any_pointer(), any_length() & 0xff, &zero, 0, 8); break; }
        case 34: r = syscall(SYS_sched_getaffinity, 0, any_length() & 0xff, any_pointer()); break;
        case 35: r = syscall(SYS_timer_create, small_int(), any_pointer(), any_pointer()); break;
        case 36: r = syscall(SYS_timer_delete, small_int()); break;
        case 37: r = syscall(SYS_eventfd2, (long)rnd(), any_flags() & 0x80801); if (r > 2) close((int)r); break;
        case 38: r = syscall(SYS_epoll_ctl, small_int(), small_int(), small_int(), any_pointer()); break;
        case 39: r = syscall(SYS_wait4, -1, any_pointer(), 1 /* WNOHANG */, any_pointer()); break;
        }
        (void)r;
        done++;
    }
    /* Descriptors 3 and up and timers are left to the exit. */
    char line[64];
    const int n = snprintf(line, sizeof line, "syscall_fuzz: %ld calls survived\n", done);
    (void)!write(report, line, (size_t)n);
    return 0;
}
