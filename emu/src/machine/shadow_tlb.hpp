// --check's model of one virtual CPU's soft TLB: every translation the TLB-fill hook handed to
// that CPU since its last flush. In Unicorn's virtual-TLB mode a CPU can use no translation that
// did not come through the hook, so this set contains everything the CPU's TLB may hold (it may
// also hold entries Unicorn has since evicted: those stay until the next flush, which makes the
// check stricter, never blind).
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <algorithm>
#include <utility>
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
// A slot is one word (page, frame, permissions) so that a large set still fits in the caches.
class ShadowTlb {
public:
    ShadowTlb() : slots_(kInitialSlots, kEmpty) {}

    // A fill of the page `vpage` of address space `asid`. A second fill of the same page replaces
    // the first, as in Unicorn's TLB (one entry per page: the new one overwrites the old, and
    // the victim TLB's copy of that page is dropped). Returns false when the CPU still holds
    // translations of another address space: it switched without a flush.
    bool fill(mmu::Asid asid, mmu::VirtAddr vpage, ShadowEntry entry) {
        if (!empty() && asid_ != asid) return false;
        asid_ = asid;
        if (entry.pfn >= kPfnLimit) throw std::out_of_range("shadow TLB: frame beyond 256 GiB of RAM");
        if (vpage >= kUserEnd) {  // the kernel half (the vsyscall page): kept aside
            std::erase_if(others_, [&](const auto& e) { return e.first == vpage; });
            others_.emplace_back(vpage, entry);
        } else {
            if ((used_.size() + 1) * 2 > slots_.size()) grow();
            insert(pack(vpage, entry));
        }
        peak_ = std::max(peak_, size());
        return true;
    }
    // The CPU's TLB was flushed, all of it.
    void flush() {
        for (std::uint32_t i : used_) slots_[i] = kEmpty;
        used_.clear();
        others_.clear();
    }
    // The CPU's TLB lost the entry of `vpage` (Unicorn keeps one per page). Open addressing
    // cannot just empty a slot (it would cut the probe chains that pass through it): the
    // others are inserted again, which costs what a full flush and their refills would.
    void flush_page(mmu::VirtAddr vpage) {
        if (vpage >= kUserEnd) {
            std::erase_if(others_, [&](const auto& e) { return e.first == vpage; });
            return;
        }
        if (!find(vpage)) return;
        const std::uint64_t key = key_of(vpage);
        std::vector<std::uint64_t> kept;
        kept.reserve(used_.size());
        for (std::uint32_t i : used_) {
            if ((slots_[i] & kKeyMask) != key) kept.push_back(slots_[i]);
            slots_[i] = kEmpty;
        }
        used_.clear();
        for (std::uint64_t slot : kept) insert(slot);
    }
    bool empty() const { return used_.empty() && others_.empty(); }
    std::size_t size() const { return used_.size() + others_.size(); }
    mmu::Asid asid() const { return asid_; }
    // The translation of `vpage`, if held.
    std::optional<ShadowEntry> find(mmu::VirtAddr vpage) const {
        if (vpage < kUserEnd) {
            const std::uint64_t key = key_of(vpage);
            for (std::size_t i = home(key);; i = (i + 1) & (slots_.size() - 1)) {
                if (slots_[i] == kEmpty) return std::nullopt;
                if ((slots_[i] & kKeyMask) == key) return entry_of(slots_[i]);
            }
        }
        for (const auto& [page, entry] : others_)
            if (page == vpage) return entry;
        return std::nullopt;
    }
    // Calls f(vpage, entry) for every translation held; stops at the first f that returns false.
    template <class F>
    bool all_of(F&& f) const {
        for (std::uint32_t i : used_)
            if (!f(page_of(slots_[i]), entry_of(slots_[i]))) return false;
        for (const auto& [page, entry] : others_)
            if (!f(page, entry)) return false;
        return true;
    }
    // The most translations held at once (--stats).
    std::size_t peak() const { return peak_; }

private:
    // slot = (page number + 1) << 28 | frame << 2 | writable << 1 | executable; 0 is empty.
    static constexpr std::uint64_t kEmpty = 0;
    static constexpr std::size_t kInitialSlots = 256;
    static constexpr mmu::VirtAddr kUserEnd = 1ull << 47;
    static constexpr unsigned kKeyShift = 28;
    static constexpr std::uint64_t kKeyMask = ~((1ull << kKeyShift) - 1);
    // Guest RAM is at most 64 GiB (--ram): 2^24 frames.
    static constexpr mmu::Pfn kPfnLimit = 1ull << (kKeyShift - 2);

    static std::uint64_t key_of(mmu::VirtAddr vpage) { return ((vpage >> mmu::kPageShift) + 1) << kKeyShift; }
    static std::uint64_t pack(mmu::VirtAddr vpage, const ShadowEntry& e) {
        return key_of(vpage) | e.pfn << 2 | std::uint64_t{e.writable} << 1 | std::uint64_t{e.executable};
    }
    static mmu::VirtAddr page_of(std::uint64_t slot) { return ((slot >> kKeyShift) - 1) << mmu::kPageShift; }
    static ShadowEntry entry_of(std::uint64_t slot) {
        return ShadowEntry{(slot & ~kKeyMask) >> 2, (slot & 2) != 0, (slot & 1) != 0};
    }
    std::size_t home(std::uint64_t key) const {
        return static_cast<std::size_t>((key * 0x9e3779b97f4a7c15ull) >> 32) & (slots_.size() - 1);
    }
    void insert(std::uint64_t slot) {
        const std::uint64_t key = slot & kKeyMask;
        std::size_t i = home(key);
        while (slots_[i] != kEmpty && (slots_[i] & kKeyMask) != key) i = (i + 1) & (slots_.size() - 1);
        if (slots_[i] == kEmpty) used_.push_back(static_cast<std::uint32_t>(i));
        slots_[i] = slot;
    }
    void grow() {
        std::vector<std::uint64_t> old(slots_.size() * 2, kEmpty);
        old.swap(slots_);
        const std::vector<std::uint32_t> indices = std::move(used_);
        used_.clear();
        for (std::uint32_t i : indices) insert(old[i]);
    }

    mmu::Asid asid_ = 0;
    std::vector<std::uint64_t> slots_;  // a power of two, at most half full
    std::vector<std::uint32_t> used_;   // the filled slots, in fill order
    std::vector<std::pair<mmu::VirtAddr, ShadowEntry>> others_;
    std::size_t peak_ = 0;
};

}  // namespace emu
