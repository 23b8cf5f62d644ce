// --check's model of one virtual CPU's soft TLB: every translation the TLB-fill hook handed to
// that CPU since its last flush. In Unicorn's virtual-TLB mode a CPU can use no translation that
// did not come through the hook, so this set contains everything the CPU's TLB may hold (it may
// also hold entries Unicorn has since evicted: those stay until the next flush, which makes the
// check stricter, never blind).
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "mmu/tlb.hpp"
#include "mmu/types.hpp"

namespace emu {

// One translation as it was handed out: the frame and the permissions the CPU may use.
struct ShadowEntry {
    mmu::Pfn pfn = 0;
    bool writable = false;
    bool executable = false;
};

class ShadowTlb {
public:
    // A fill of the page `vpage` of address space `asid`. A second fill of the same page replaces
    // the first, as in Unicorn's TLB (one entry per page: the new one overwrites the old, and
    // the victim TLB's copy of that page is dropped). Returns false when the CPU still holds
    // translations of another address space: it switched without a flush.
    bool fill(mmu::Asid asid, mmu::VirtAddr vpage, ShadowEntry entry) {
        if (asid_ && *asid_ != asid && !entries_.empty()) return false;
        asid_ = asid;
        entries_.insert_or_assign(vpage, entry);
        if (entries_.size() > peak_) peak_ = entries_.size();
        return true;
    }
    // The CPU's TLB was flushed (all of it: Unicorn has no per-page flush).
    void flush() {
        entries_.clear();
        asid_.reset();
    }
    bool empty() const { return entries_.empty(); }
    std::optional<mmu::Asid> asid() const { return asid_; }
    const std::unordered_map<mmu::VirtAddr, ShadowEntry>& entries() const { return entries_; }
    // The most translations held at once (--stats).
    std::size_t peak() const { return peak_; }

private:
    std::optional<mmu::Asid> asid_;
    std::unordered_map<mmu::VirtAddr, ShadowEntry> entries_;
    std::size_t peak_ = 0;
};

}  // namespace emu
