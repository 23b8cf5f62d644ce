// --check's model of one virtual CPU's soft TLB: every translation the TLB-fill hook handed to
// that CPU since its last flush. In Unicorn's virtual-TLB mode a CPU can use no translation that
// did not come through the hook, so this set contains everything the CPU's TLB may hold (it may
// also hold entries Unicorn has since evicted: those stay until the next flush, which makes the
// check stricter, never blind).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "mmu/tlb.hpp"
#include "mmu/types.hpp"

namespace emu {

// One translation as it was handed out: the frame and the permissions the CPU may use.
struct ShadowEntry {
    mmu::Pfn pfn = 0;
    bool writable = false;
    bool executable = false;
};

// An open-addressing table keyed by page, cleared in time proportional to what it holds: fills
// and flushes are frequent (every flush empties it), so neither may allocate in the common case.
class ShadowTlb {
public:
    ShadowTlb() : slots_(kInitialSlots) {}

    // A fill of the page `vpage` of address space `asid`. A second fill of the same page replaces
    // the first, as in Unicorn's TLB (one entry per page: the new one overwrites the old, and
    // the victim TLB's copy of that page is dropped). Returns false when the CPU still holds
    // translations of another address space: it switched without a flush.
    bool fill(mmu::Asid asid, mmu::VirtAddr vpage, ShadowEntry entry) {
        if (!used_.empty() && asid_ != asid) return false;
        asid_ = asid;
        if ((used_.size() + 1) * 2 > slots_.size()) grow();
        insert(vpage, entry);
        return true;
    }
    // The CPU's TLB was flushed (all of it: Unicorn has no per-page flush).
    void flush() {
        for (std::uint32_t i : used_) slots_[i].vpage = kEmpty;
        used_.clear();
    }
    bool empty() const { return used_.empty(); }
    std::size_t size() const { return used_.size(); }
    mmu::Asid asid() const { return asid_; }
    // The translation of `vpage`, or nullptr.
    const ShadowEntry* find(mmu::VirtAddr vpage) const {
        for (std::size_t i = home(vpage);; i = (i + 1) & (slots_.size() - 1)) {
            if (slots_[i].vpage == vpage) return &slots_[i].entry;
            if (slots_[i].vpage == kEmpty) return nullptr;
        }
    }
    // Calls f(vpage, entry) for every translation held; stops at the first f that returns false.
    template <class F>
    bool all_of(F&& f) const {
        for (std::uint32_t i : used_)
            if (!f(slots_[i].vpage, slots_[i].entry)) return false;
        return true;
    }
    // The most translations held at once (--stats).
    std::size_t peak() const { return peak_; }

private:
    static constexpr mmu::VirtAddr kEmpty = ~mmu::VirtAddr{0};  // never page-aligned
    static constexpr std::size_t kInitialSlots = 256;
    struct Slot {
        mmu::VirtAddr vpage = kEmpty;
        ShadowEntry entry;
    };
    std::size_t home(mmu::VirtAddr vpage) const {
        return static_cast<std::size_t>(((vpage >> 12) * 0x9e3779b97f4a7c15ull) >> 20) & (slots_.size() - 1);
    }
    void insert(mmu::VirtAddr vpage, ShadowEntry entry) {
        std::size_t i = home(vpage);
        while (slots_[i].vpage != kEmpty && slots_[i].vpage != vpage) i = (i + 1) & (slots_.size() - 1);
        if (slots_[i].vpage == kEmpty) {
            slots_[i].vpage = vpage;
            used_.push_back(static_cast<std::uint32_t>(i));
            if (used_.size() > peak_) peak_ = used_.size();
        }
        slots_[i].entry = entry;
    }
    void grow() {
        std::vector<Slot> old(slots_.size() * 2);
        old.swap(slots_);
        const std::vector<std::uint32_t> indices = std::move(used_);
        used_.clear();
        for (std::uint32_t i : indices) insert(old[i].vpage, old[i].entry);
    }

    mmu::Asid asid_ = 0;
    std::vector<Slot> slots_;          // a power of two, at most half full
    std::vector<std::uint32_t> used_;  // the filled slots, in fill order
    std::size_t peak_ = 0;
};

}  // namespace emu
