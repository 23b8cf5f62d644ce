// What a debugger or /proc shows: PTE rendering, /proc/self/maps, pagemap, and self-checks.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "mmu/address_space.hpp"

namespace mmu {

std::string describe(Pte entry, int level) {
    char buf[160];
    switch (entry.kind()) {
    case PteKind::None: return "none";
    case PteKind::Marker: {
        std::string out;
        const std::uint64_t bits = entry.marker_bits();
        if (bits & marker::kGuard) out += "guard ";
        if (bits & marker::kUffdWp) out += "uffd-wp ";
        if (bits & marker::kPoisoned) out += "poisoned ";
        if (out.empty()) out = "unknown ";
        return out + "marker";
    }
    case PteKind::Swap:
        std::snprintf(buf, sizeof buf, "swap type %u offset 0x%" PRIx64, entry.swap_type(),
                      entry.swap_offset());
        return buf;
    case PteKind::ProtNone:
        std::snprintf(buf, sizeof buf, "prot-none pfn 0x%" PRIx64, entry.pfn());
        return buf;
    case PteKind::Present:
        break;
    }
    if (level > 1 && !entry.huge()) {
        std::snprintf(buf, sizeof buf, "table pfn 0x%" PRIx64 "%s", entry.pfn(),
                      entry.user() ? " user" : "");
        return buf;
    }
    std::snprintf(buf, sizeof buf, "present r%c%c %s pfn 0x%" PRIx64 "%s%s%s",
                  entry.writable() ? 'w' : '-', entry.executable() ? 'x' : '-',
                  entry.user() ? "user" : "kernel", entry.pfn(), entry.accessed() ? " A" : "",
                  entry.dirty() ? " D" : "", entry.global() ? " G" : "");
    return buf;
}

std::uint64_t PagemapEntry::raw() const {
    std::uint64_t v = 0;
    if (present) v |= (1ull << 63) | (pfn & ((1ull << 55) - 1));
    if (exclusive) v |= 1ull << 56;
    if (guard) v |= 1ull << 58;  // PM_GUARD_REGION
    return v;
}

PagemapEntry AddressSpace::pagemap(VirtAddr va) const {
    PagemapEntry e;
    const PageWalk w = table_.walk(va);
    if (w.depth != kLevels) return e;
    const Pte pte = w.levels[kLevels - 1].entry;
    e.guard = pte.is_guard();
    if (pte.present()) {
        e.present = true;
        e.pfn = pte.pfn();
        e.exclusive = pte.pfn() != memory_.zero_page() && memory_.refcount(pte.pfn()) == 1;
    }
    return e;
}

std::string AddressSpace::maps() const {
    std::string out;
    char line[256];
    for (const auto& [start, v] : vmas_.all()) {
        const bool shared = v.shared();
        const bool backed = v.shmem != nullptr && !v.has(vma_flag::kSpecial);  // shmem or a file
        const std::uint64_t offset = backed ? v.pgoff << kPageShift : 0;
        const unsigned major = backed ? v.shmem->dev_major : 0;
        // Shared memory and memfd live on the internal shmem mount (device 00:01); a file's
        // mapping shows the file's own device, minor 0 included.
        const bool shmem = shared && !v.shmem->backing && v.shmem->dev_major == 0;
        const unsigned minor = backed ? (shmem && v.shmem->dev_minor == 0 ? 1u : v.shmem->dev_minor) : 0;
        int n = std::snprintf(line, sizeof line, "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64
                              " %02x:%02x %" PRIu64 " ", v.start, v.end, (v.prot & kProtRead) ? 'r' : '-',
                              (v.prot & kProtWrite) ? 'w' : '-', (v.prot & kProtExec) ? 'x' : '-',
                              shared ? 's' : 'p', offset, major, minor, backed ? v.shmem->id : 0);
        std::string name = v.name;
        if (shared && name.empty()) name = "/dev/zero (deleted)";
        if (v.has(vma_flag::kStack)) name = "[stack]";
        out.append(line, static_cast<std::size_t>(n));
        if (!name.empty()) {
            // Linux pads the name to column 73 (seq_pad).
            if (n < 73) out.append(static_cast<std::size_t>(73 - n), ' ');
            out += name;
        } else {
            out.pop_back();
            out += ' ';
        }
        out += '\n';
    }
    return out;
}

std::uint64_t AddressSpace::total_vm_bytes() const {
    std::uint64_t total = 0;
    for (const auto& [start, v] : vmas_.all()) total += v.size();
    return total;
}

std::uint64_t AddressSpace::locked_bytes() const {
    std::uint64_t total = 0;
    for (const auto& [start, v] : vmas_.all())
        if (v.has(vma_flag::kLocked)) total += v.size();
    return total;
}

AddressSpace::CheckOnReturn::~CheckOnReturn() {
    if (--as_.operation_depth_ != 0 || !as_.checked_) return;
    try {
        as_.check_invariants();
    } catch (const std::logic_error& broken) {
        std::fprintf(stderr, "mmu: MMU invariant broken: %s\n", broken.what());
        std::abort();
    }
}

void AddressSpace::check_entry(VirtAddr va) const {
    const PageWalk w = table_.walk(va);
    if (w.depth != kLevels) return;
    const Pte pte = w.levels[kLevels - 1].entry;
    const char* broken = nullptr;
    const Vma* v = vmas_.find(va);
    if (!pte.is_none() && !v) broken = "page-table entry outside every VMA";
    else if (pte.maps_frame() && pte.pfn() != memory_.zero_page() && memory_.refcount(pte.pfn()) == 0)
        broken = "mapped frame with reference count 0";
    else if (pte.present() && pte.writable() && pte.pfn() == memory_.zero_page())
        broken = "zero page mapped writable";
    else if (pte.present() && pte.writable() && v && !(v->prot & kProtWrite))
        broken = "writable PTE in a VMA without PROT_WRITE";
    if (broken) {
        std::fprintf(stderr, "mmu: MMU invariant broken at 0x%" PRIx64 ": %s\n", va, broken);
        std::abort();
    }
}

// Recomputes from scratch what the operations maintain incrementally.
void AddressSpace::check_invariants() const {
    auto& self = const_cast<AddressSpace&>(*this);
    std::uint64_t rss = 0;
    VirtAddr prev_end = 0;
    const Vma* prev = nullptr;
    for (const auto& [start, v] : vmas_.all()) {
        if (v.start != start || v.start >= v.end || !page_aligned(v.start) || !page_aligned(v.end))
            throw std::logic_error("malformed VMA");
        if (v.start < prev_end) throw std::logic_error("overlapping VMAs");
        if (prev && mergeable(*prev, v)) throw std::logic_error("adjacent mergeable VMAs left unmerged");
        prev_end = v.end;
        prev = &v;
    }
    if (!vmas_.gap_cache_exact()) throw std::logic_error("gap search cache claims a gap too short");
    (void)self.table_.walk_range(0, layout_.task_size + kPageSize, MissingTables::Skip,
                                 EmptyTables::Keep, [&](VirtAddr va, Pte& pte) {
        if (pte.is_none()) return WalkAction::Continue;
        const Vma* v = vmas_.find(va);
        // A present entry or a marker implies a covering VMA.
        if (!v) throw std::logic_error("page-table entry outside every VMA");
        if (pte.maps_frame()) {
            if (pte.pfn() != memory_.zero_page()) {
                ++rss;
                if (memory_.refcount(pte.pfn()) == 0)
                    throw std::logic_error("mapped frame with reference count 0");
            } else if (pte.writable()) {
                throw std::logic_error("zero page mapped writable");
            }
            if (pte.present() && pte.writable() && !(v->prot & kProtWrite))
                throw std::logic_error("writable PTE in a VMA without PROT_WRITE");
        }
        return WalkAction::Continue;
    });
    if (rss != rss_pages_) throw std::logic_error("RSS counter differs from the page table");
}

}  // namespace mmu
