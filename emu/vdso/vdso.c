/* The vDSO mmuemu maps into every guest process: an ELF shared object with a dynamic symbol
 * table and the LINUX_2.6 symbol version, exporting the time and CPU functions the x86-64 Linux
 * vDSO exports, so that a C library finds them where it looks. CLOCK_REALTIME, CLOCK_MONOTONIC
 * and CLOCK_BOOTTIME (and so gettimeofday and time) are read from the TSC and the clock data
 * mmuemu keeps in [vvar] (vvar_clock.h), without a system call; the other clocks, getcpu and
 * clock_getres make their system call, and a negative result is -errno, as a vDSO fallback
 * returns it. Built without the C library (emu/CMakeLists.txt). */
#include "vvar_clock.h"

struct timespec {
    long tv_sec, tv_nsec;
};
struct timeval {
    long tv_sec, tv_usec;
};
struct timezone;

enum {
    kGettimeofday = 96,
    kTime = 201,
    kClockGettime = 228,
    kClockGetres = 229,
    kGetcpu = 309,
};
enum { kClockRealtime = 0, kClockMonotonic = 1, kClockBoottime = 7 };

/* The first [vvar] page: six pages below the vDSO (vdso.lds). */
extern const volatile struct mmuemu_vvar_clock mmuemu_vvar __attribute__((visibility("hidden")));

static long syscall3(long nr, long a, long b, long c)
{
    long result;
    __asm__ volatile("syscall" : "=a"(result) : "0"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return result;
}

static unsigned long long read_tsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
    return (unsigned long long)hi << 32 | lo;
}

/* Nanoseconds of `clock` now, or 0 when the system call has to answer. */
static int clock_ns(int clock, unsigned long long *ns)
{
    if (!mmuemu_vvar.valid) return 0;
    unsigned long long base;
    switch (clock) {
    case kClockRealtime: base = mmuemu_vvar.realtime_ns; break;
    case kClockMonotonic: base = mmuemu_vvar.monotonic_ns; break;
    case kClockBoottime: base = mmuemu_vvar.boottime_ns; break;
    default: return 0;
    }
    const unsigned long long tsc = read_tsc(), tsc_base = mmuemu_vvar.tsc_base;
    const unsigned long long ticks = tsc > tsc_base ? tsc - tsc_base : 0;
    *ns = base + (unsigned long long)(((unsigned __int128)ticks * mmuemu_vvar.ns_per_tick_32_32) >> 32);
    return 1;
}

int __vdso_clock_gettime(int clock, struct timespec *ts)
{
    unsigned long long ns;
    if (!clock_ns(clock, &ns)) return (int)syscall3(kClockGettime, clock, (long)ts, 0);
    ts->tv_sec = (long)(ns / 1000000000ull);
    ts->tv_nsec = (long)(ns % 1000000000ull);
    return 0;
}

int __vdso_gettimeofday(struct timeval *tv, struct timezone *tz)
{
    unsigned long long ns;
    if (tz || !clock_ns(kClockRealtime, &ns)) return (int)syscall3(kGettimeofday, (long)tv, (long)tz, 0);
    if (tv) {
        tv->tv_sec = (long)(ns / 1000000000ull);
        tv->tv_usec = (long)(ns % 1000000000ull / 1000);
    }
    return 0;
}

long __vdso_time(long *t)
{
    unsigned long long ns;
    if (!clock_ns(kClockRealtime, &ns)) return syscall3(kTime, (long)t, 0, 0);
    const long seconds = (long)(ns / 1000000000ull);
    if (t) *t = seconds;
    return seconds;
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
