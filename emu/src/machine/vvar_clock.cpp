#include "machine/vvar_clock.hpp"

#include <time.h>
#include <x86intrin.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <fstream>
#include <string>
#include <vector>

#include "mmu/physical_memory.hpp"
#include "vdso/vvar_clock.h"

namespace emu {

namespace {

constexpr std::size_t kVvarPages = 4;

unsigned long long read_tsc() {
    _mm_lfence();
    return __rdtsc();
}

unsigned long long host_ns(clockid_t clock) {
    struct timespec ts {};
    ::clock_gettime(clock, &ts);
    return static_cast<unsigned long long>(ts.tv_sec) * 1000000000ull + static_cast<unsigned long long>(ts.tv_nsec);
}

// The TSC counts at one rate whatever the CPU does (constant_tsc) and in every sleep state
// (nonstop_tsc): only then may it stand for a clock.
bool invariant_tsc() {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line))
        if (line.rfind("flags", 0) == 0)
            return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
    return false;
}

}  // namespace

VvarClock::VvarClock(mmu::PhysicalMemory& memory) : memory_(memory) {
    if (!invariant_tsc()) return;
    // The ticks read outside the two clock readings: the interval they time is at least as long
    // as the clock's, so the tick comes out short, never long.
    const unsigned long long tsc0 = read_tsc(), ns0 = host_ns(CLOCK_MONOTONIC);
    unsigned long long ns1 = ns0;
    while (ns1 - ns0 < 2000000) ns1 = host_ns(CLOCK_MONOTONIC);
    const unsigned long long tsc1 = read_tsc();
    if (tsc1 <= tsc0) return;
    unsigned long long tick = ((ns1 - ns0) << 32) / (tsc1 - tsc0);  // 2 ms << 32 fits in 64 bits
    tick -= tick / 10000;  // a margin for the readings' own noise
    ns_per_tick_32_32_ = tick;
    ticks_between_refreshes_ = (1000000ull << 32) / tick;
}

const std::shared_ptr<mmu::SharedMemoryObject>& VvarClock::pages() {
    if (!pages_) {
        const std::vector<std::byte> zeros(kVvarPages * mmu::kPageSize);
        auto cache = mmu::make_page_cache(memory_, zeros.data(), zeros.size(), 0);
        if (!cache) throw std::system_error(ENOMEM, std::generic_category(), "allocating the [vvar] pages");
        pages_ = cache.value();
        refresh();
    }
    return pages_;
}

bool VvarClock::read(clockid_t clock, struct timespec& out) const {
    if (!ns_per_tick_32_32_ || !pages_) return false;
    mmuemu_vvar_clock data{};
    std::memcpy(&data, pages_->memory->frame(pages_->frames[0] - 1), sizeof data);
    unsigned long long base = 0;
    switch (clock) {
    case CLOCK_REALTIME: base = data.realtime_ns; break;
    case CLOCK_MONOTONIC: base = data.monotonic_ns; break;
    case CLOCK_BOOTTIME: base = data.boottime_ns; break;
    default: return false;
    }
    const unsigned long long tsc = read_tsc();
    const unsigned long long ticks = tsc > data.tsc_base ? tsc - data.tsc_base : 0;
    // ticks * tick >> 32 without 128-bit arithmetic: whole and fractional parts of the tick.
    const unsigned long long whole = data.ns_per_tick_32_32 >> 32, fraction = data.ns_per_tick_32_32 & 0xffffffffull;
    const unsigned long long ns = base + ticks * whole + (((ticks >> 32) * fraction) + (((ticks & 0xffffffffull) * fraction) >> 32));
    out.tv_sec = static_cast<time_t>(ns / 1000000000ull);
    out.tv_nsec = static_cast<long>(ns % 1000000000ull);
    return true;
}

void VvarClock::refresh() {
    if (!ns_per_tick_32_32_ || !pages_) return;
    // Three clock reads cost more than a cheap system call: not more than once a millisecond.
    if (last_refresh_tsc_ && read_tsc() - last_refresh_tsc_ < ticks_between_refreshes_) return;
    mmuemu_vvar_clock data{};
    // The clocks first, then the TSC: each base is at most the clock's value at tsc_base, so the
    // vDSO's time never runs ahead of what a system call answers after it.
    data.monotonic_ns = host_ns(CLOCK_MONOTONIC);
    data.realtime_ns = host_ns(CLOCK_REALTIME);
    data.boottime_ns = host_ns(CLOCK_BOOTTIME);
    data.tsc_base = read_tsc();
    last_refresh_tsc_ = data.tsc_base;
    data.ns_per_tick_32_32 = ns_per_tick_32_32_;
    data.valid = 1;
    std::memcpy(pages_->memory->frame(pages_->frames[0] - 1), &data, sizeof data);
}

}  // namespace emu
