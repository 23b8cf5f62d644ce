#include "mmu/tlb.hpp"

#include "mmu/physical_memory.hpp"

namespace mmu {

const TlbEntry* Tlb::lookup(Asid asid, VirtAddr va, Access access) {
    const TlbEntry& e = entries_[slot(asid, va)];
    const bool match = e.valid && e.asid == asid && e.vpage == page_down(va);
    const bool allowed = access == Access::Read || (access == Access::Write && e.writable) ||
                         (access == Access::Execute && e.executable);
    if (match && allowed) {
        ++counters_.hits;
        return &e;
    }
    ++counters_.misses;
    return nullptr;
}

void Tlb::insert(Asid asid, VirtAddr va, Pfn pfn, bool writable, bool executable) {
    entries_[slot(asid, va)] = TlbEntry{asid, page_down(va), pfn, true, writable, executable};
}

bool Tlb::holds(Asid asid, VirtAddr va) const {
    const TlbEntry& e = entries_[slot(asid, va)];
    return e.valid && e.asid == asid && e.vpage == page_down(va);
}

void Tlb::flush_page(Asid asid, VirtAddr va) {
    TlbEntry& e = entries_[slot(asid, va)];
    if (e.valid && e.asid == asid && e.vpage == page_down(va)) e.valid = false;
    ++counters_.page_flushes;
    notify(FlushEvent{FlushKind::Page, asid, page_down(va)});
}

void Tlb::flush_all(Asid asid) {
    for (TlbEntry& e : entries_)
        if (e.asid == asid) e.valid = false;
    ++counters_.full_flushes;
    notify(FlushEvent{FlushKind::Full, asid, 0});
}

std::vector<TlbEntry> Tlb::entries() const {
    std::vector<TlbEntry> out;
    for (const TlbEntry& e : entries_)
        if (e.valid) out.push_back(e);
    return out;
}

void TlbGather::add_page(VirtAddr va) {
    if (full_) return;
    pages_.push_back(page_down(va));
    if (pages_.size() > Tlb::kSinglePageFlushCeiling) {
        full_ = true;
        pages_.clear();
    }
}

void TlbGather::defer_put(Pfn pfn) {
    if (pfn != memory_.zero_page()) deferred_puts_.push_back(pfn);
}

void TlbGather::commit() {
    if (full_) {
        tlb_.flush_all(asid_);
    } else {
        for (VirtAddr va : pages_) tlb_.flush_page(asid_, va);
    }
    pages_.clear();
    full_ = false;
    for (Pfn pfn : deferred_puts_) memory_.put(pfn);
    deferred_puts_.clear();
}

}  // namespace mmu
