// The clock data of the [vvar] page (emu/vdso/vvar_clock.h): one set of frames mapped by every
// guest process, through which the vDSO reads CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME
// from the TSC without a system call. The TSC (the host's: Unicorn's rdtsc returns it) is timed
// against CLOCK_MONOTONIC once, at start; refresh() moves the base to the host clocks' values.
#pragma once

#include <time.h>

#include <memory>

#include "mmu/memory_object.hpp"

namespace mmu {
class PhysicalMemory;
}

namespace emu {

class VvarClock {
public:
    // Calibrates the TSC (2 ms) when the host's is invariant; otherwise the vDSO asks the kernel.
    explicit VvarClock(mmu::PhysicalMemory& memory);
    // The [vvar] pages (4) to map read-only in every process, made at the first call (where a
    // trace replay makes them too: frame numbers stay the same in both).
    const std::shared_ptr<mmu::SharedMemoryObject>& pages();
    // The clocks' values now become the base: call whenever the guest CPUs are stopped (before
    // they run, at every system call), so that the vDSO's clocks keep up with the host's. At
    // most once a millisecond: between bases the TSC carries the clocks, and since the tick is
    // taken short, a new base only ever moves them forward.
    void refresh();
    // CLOCK_REALTIME, CLOCK_MONOTONIC or CLOCK_BOOTTIME as the vDSO computes it, for the system
    // calls to answer the same (one clock, two ways to read it: never backwards between them).
    // False for any other clock, or without a usable TSC.
    bool read(clockid_t clock, struct timespec& out) const;

private:
    mmu::PhysicalMemory& memory_;
    std::shared_ptr<mmu::SharedMemoryObject> pages_;
    unsigned long long ns_per_tick_32_32_ = 0;  // 0: no usable TSC
    unsigned long long ticks_between_refreshes_ = 0;  // a millisecond of TSC ticks
    unsigned long long last_refresh_tsc_ = 0;
};

}  // namespace emu
