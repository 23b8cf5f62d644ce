/* The clock data mmuemu keeps in the first [vvar] page and the vDSO reads (emu/vdso/vdso.c,
 * emu/src/machine/vvar_clock.cpp): the time of three clocks at one TSC reading, and the length
 * of a TSC tick. A clock is base + (rdtsc - tsc_base) * ns_per_tick; the tick is taken a little
 * short, so that the vDSO's time never passes the host clock the system calls give, and mmuemu
 * moves the base forward each time it takes the CPUs back. valid = 0: use the system call. */
#ifndef MMUEMU_VVAR_CLOCK_H
#define MMUEMU_VVAR_CLOCK_H

struct mmuemu_vvar_clock {
    unsigned long long valid;
    unsigned long long tsc_base;
    unsigned long long ns_per_tick_32_32; /* nanoseconds per tick, 32.32 fixed point */
    unsigned long long realtime_ns;       /* CLOCK_REALTIME at tsc_base */
    unsigned long long monotonic_ns;      /* CLOCK_MONOTONIC at tsc_base */
    unsigned long long boottime_ns;       /* CLOCK_BOOTTIME at tsc_base */
};

#endif
