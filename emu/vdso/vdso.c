/* The vDSO mmuemu maps into every guest process: an ELF shared object with a dynamic symbol
 * table and the LINUX_2.6 symbol version, exporting the time and CPU functions the x86-64 Linux
 * vDSO exports, so that a C library finds them where it looks. Each makes its system call: the
 * clock data a syscall-free clock would read ([vvar]) is not kept by mmuemu yet. A negative
 * result is -errno, as a vDSO fallback returns it. Built without the C library (emu/CMakeLists). */
struct timespec;
struct timeval;
struct timezone;

enum {
    kGettimeofday = 96,
    kTime = 201,
    kClockGettime = 228,
    kClockGetres = 229,
    kGetcpu = 309,
};

static long syscall3(long nr, long a, long b, long c)
{
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

int __vdso_clock_gettime(int clock, struct timespec *ts)
{
    return (int)syscall3(kClockGettime, clock, (long)ts, 0);
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
    return (int)syscall3(kGettimeofday, (long)tv, (long)tz, 0);
}

long __vdso_time(long *t)
{
    return syscall3(kTime, (long)t, 0, 0);
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *unused)
{
    return syscall3(kGetcpu, (long)cpu, (long)node, (long)unused);
}

int __vdso_clock_getres(int clock, struct timespec *res)
{
    return (int)syscall3(kClockGetres, clock, (long)res, 0);
}

/* Linux's vDSO exports each function under its plain name too. */
int clock_gettime(int, struct timespec *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval *, struct timezone *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
long getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
int clock_getres(int, struct timespec *) __attribute__((weak, alias("__vdso_clock_getres")));
