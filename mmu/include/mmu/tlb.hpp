// A model of the CPU's TLB: translations cached per address space (ASID/PCID), invalidated only
// through the explicit API below, the way a kernel has to. A listener mirrors every flush onto
// the real CPU model (Unicorn's soft TLB in the emulator).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "mmu/types.hpp"

namespace mmu {

class PhysicalMemory;

using Asid = std::uint32_t;

struct TlbEntry {
    Asid asid = 0;
    VirtAddr vpage = 0;  // page-aligned virtual address
    Pfn pfn = 0;
    bool valid = false;
    bool writable = false;
    bool executable = false;
};

struct TlbCounters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::uint64_t walks = 0;
    std::uint64_t page_flushes = 0;  // single-page invalidations (INVLPG)
    std::uint64_t full_flushes = 0;  // whole-address-space invalidations (CR3 reload)
};

enum class FlushKind : std::uint8_t { Page, Full };

struct FlushEvent {
    FlushKind kind;
    Asid asid;
    VirtAddr vpage;  // for FlushKind::Page
};

class Tlb {
public:
    // Linux x86 flushes page by page up to this many pages and the whole TLB beyond
    // (tlb_single_page_flush_ceiling).
    static constexpr std::size_t kSinglePageFlushCeiling = 33;
    static constexpr std::size_t kEntries = 4096;  // direct-mapped

    using Listener = std::function<void(const FlushEvent&)>;

    // A cached translation allowing `access`, or nullptr (a miss). Counts hits and misses.
    const TlbEntry* lookup(Asid asid, VirtAddr va, Access access);
    void insert(Asid asid, VirtAddr va, Pfn pfn, bool writable, bool executable);
    void count_walk() { ++counters_.walks; }

    void flush_page(Asid asid, VirtAddr va);
    void flush_all(Asid asid);

    // True when some cached entry for (asid, va) exists, whatever its permissions.
    bool holds(Asid asid, VirtAddr va) const;
    std::vector<TlbEntry> entries() const;

    void set_listener(Listener listener) { listener_ = std::move(listener); }
    const TlbCounters& counters() const { return counters_; }

private:
    static std::size_t slot(Asid asid, VirtAddr va) {
        return ((va >> kPageShift) ^ (std::uint64_t{asid} * 0x9e37u)) % kEntries;
    }
    void notify(const FlushEvent& event) {
        if (listener_) listener_(event);
    }

    std::array<TlbEntry, kEntries> entries_{};
    TlbCounters counters_;
    Listener listener_;
};

// Batches the invalidations of one address-space operation and commits them once: page by page up
// to the ceiling, one full flush beyond. Frames unmapped by the operation are released only after
// the flush, so no stale translation can reach a frame that has a new owner. Commits on
// destruction if not committed before.
class TlbGather {
public:
    TlbGather(Tlb& tlb, PhysicalMemory& memory, Asid asid) : tlb_(tlb), memory_(memory), asid_(asid) {}
    ~TlbGather() { commit(); }
    TlbGather(const TlbGather&) = delete;
    TlbGather& operator=(const TlbGather&) = delete;

    void add_page(VirtAddr va);
    // Releases one reference to `pfn` after the flush (the zero page has no references to drop).
    void defer_put(Pfn pfn);
    void commit();

private:
    Tlb& tlb_;
    PhysicalMemory& memory_;
    Asid asid_;
    // The pages to flush one by one; past the ceiling only `full_` is kept (one full flush), so
    // that zapping millions of pages needs no memory per page.
    std::vector<VirtAddr> pages_;
    bool full_ = false;
    std::vector<Pfn> deferred_puts_;
};

}  // namespace mmu
