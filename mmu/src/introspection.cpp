// What a debugger or /proc shows: PTE rendering, /proc/self/maps, pagemap, and self-checks.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

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
    std::snprintf(buf, sizeof buf, "present r%c%c %s pfn 0x%" PRIx64 "%s%s%s%s",
                  entry.writable() ? 'w' : '-', entry.executable() ? 'x' : '-',
                  entry.user() ? "user" : "kernel", entry.pfn(), entry.accessed() ? " A" : "",
                  entry.dirty() ? " D" : "", entry.global() ? " G" : "",
                  level == 1 && entry.uffd_wp() ? " uffd-wp" : "");
    return buf;
}

std::uint64_t PagemapEntry::raw() const {
    std::uint64_t v = 0;
    if (present) v |= (1ull << 63) | (pfn & ((1ull << 55) - 1));
    if (swap) v |= 1ull << 62;
    if (file) v |= 1ull << 61;
    if (exclusive) v |= 1ull << 56;
    if (guard) v |= 1ull << 58;  // PM_GUARD_REGION
    if (uffd_wp) v |= 1ull << 57;  // PM_UFFD_WP
    return v;
}

PagemapEntry AddressSpace::pagemap(VirtAddr va) const {
    PagemapEntry e;
    const PageWalk w = table_.walk(va);
    if (w.depth != kLevels) return e;
    const Pte pte = w.levels[kLevels - 1].entry;
    e.guard = pte.is_guard();
    e.uffd_wp = pte.uffd_wp() || (pte.kind() == PteKind::Marker && (pte.marker_bits() & marker::kUffdWp));
    e.swap = pte.kind() == PteKind::Swap || pte.kind() == PteKind::Marker;
    if (pte.maps_frame()) {
        e.present = true;
        e.pfn = pte.pfn();
        // A page of a memory object holds one reference of the object's own besides its mappings.
        const Vma* vma = vmas_.find(va);
        const std::uint64_t index = vma && vma->shmem ? vma->pgoff_at(va) : 0;
        e.file = vma && vma->shmem && vma->shmem->resident(index) && vma->shmem->frames[index] - 1 == e.pfn;
        e.exclusive = e.pfn != memory_.zero_page() && memory_.refcount(e.pfn) == (e.file ? 2u : 1u);
    }
    return e;
}

std::string maps_line(const Vma& v) {
    char line[256];
    const bool shared = v.shared();
    const bool backed = v.shmem != nullptr && !v.has(vma_flag::kSpecial);  // shmem or a file
    const std::uint64_t offset = backed ? v.pgoff << kPageShift : 0;
    const unsigned major = backed ? v.shmem->dev_major : 0;
    // Shared memory and memfd live on the internal shmem mount (device 00:01); a file's mapping
    // shows the file's own device, minor 0 included.
    const bool shmem = shared && !v.shmem->backing && v.shmem->dev_major == 0;
    const unsigned minor = backed ? (shmem && v.shmem->dev_minor == 0 ? 1u : v.shmem->dev_minor) : 0;
    int n = std::snprintf(line, sizeof line, "%08" PRIx64 "-%08" PRIx64 " %c%c%c%c %08" PRIx64
                          " %02x:%02x %" PRIu64 " ", v.start, v.end, (v.prot & kProtRead) ? 'r' : '-',
                          (v.prot & kProtWrite) ? 'w' : '-', (v.prot & kProtExec) ? 'x' : '-',
                          shared ? 's' : 'p', offset, major, minor, backed ? v.shmem->id : 0);
    std::string out(line, static_cast<std::size_t>(n));
    std::string name = v.name;
    if (shared && name.empty()) name = "/dev/zero (deleted)";
    if (v.has(vma_flag::kStack)) name = "[stack]";
    if (!name.empty()) {
        // Linux pads the name to column 73 (seq_pad).
        if (n < 73) out.append(static_cast<std::size_t>(73 - n), ' ');
        out += name;
    } else {
        out.pop_back();
        out += ' ';
    }
    out += '\n';
    return out;
}

std::string AddressSpace::maps() const {
    std::string out;
    for (const auto& [start, v] : vmas_.all()) out += maps_line(v);
    return out;
}

std::string vm_flag_names(const Vma& v) {
    using namespace vma_flag;
    const bool pfnmap = v.has(kPfnMap);
    // VM_SHARED is cleared for a shared mapping of a file opened read-only; VM_MAYSHARE stays.
    const bool may_write = !pfnmap && !(v.shared() && v.has(kNoMayWrite));
    // In the order of the VM_* bits (show_smap_vma_flags prints them by bit number).
    const std::pair<bool, const char*> names[] = {
        {(v.prot & kProtRead) != 0, "rd"}, {(v.prot & kProtWrite) != 0, "wr"},
        {(v.prot & kProtExec) != 0, "ex"}, {v.shared() && !v.has(kNoMayWrite), "sh"},
        {true, "mr"},                      {may_write, "mw"},
        {!pfnmap, "me"},                   {v.shared(), "ms"},
        {v.has(kGrowsDown), "gd"},         {v.has(kUffdMissing), "um"},
        {pfnmap, "pf"},                    {v.has(kHasGuards), "gu"},
        {v.has(kUffdWp), "uw"},            {v.has(kLocked), "lo"},
        {pfnmap, "io"},                    {v.has(kSeqRead), "sr"},
        {v.has(kRandomRead), "rr"},        {v.has(kDontFork), "dc"},
        {v.has(kSpecial), "de"},           {v.has(kLockOnFault), "lf"},
        {v.has(kAccount), "ac"},           {v.has(kNoReserve), "nr"},
        {v.has(kWipeOnFork), "wf"},        {v.has(kDontDump) || pfnmap, "dd"},
        {v.has(kHugePage), "hg"},          {v.has(kNoHugePage), "nh"},
        {v.has(kMergeable), "mg"},         {v.has(kUffdMinor), "ui"},
        {v.has(kSealed), "sl"},
    };
    std::string out;
    for (const auto& [set, name] : names)
        if (set) (out += name) += ' ';
    return out;
}

VmaUsage& VmaUsage::operator+=(const VmaUsage& o) {
    resident += o.resident, referenced += o.referenced, anonymous += o.anonymous;
    shared_clean += o.shared_clean, shared_dirty += o.shared_dirty;
    private_clean += o.private_clean, private_dirty += o.private_dirty;
    pss += o.pss, pss_dirty += o.pss_dirty, pss_anon += o.pss_anon, pss_file += o.pss_file;
    pss_shmem += o.pss_shmem, pss_locked += o.pss_locked;
    return *this;
}

namespace {

// One resident page as smaps_account sees it.
struct PageSharing {
    bool anonymous = true;  // a private copy, not a page of the VMA's object
    bool file = false;      // a page of a file's page cache (else shmem/memfd)
    bool dirty = false;
    bool young = true;          // Accessed since the last clear_refs
    std::uint32_t mappers = 1;  // Linux's mapcount
};

void account(VmaUsage& u, const PageSharing& page, bool locked) {
    // Pss: each mapper carries an equal part of the page (PAGE_SIZE << PSS_SHIFT / mapcount).
    const std::uint64_t pss = (kPageSize << VmaUsage::kPssShift) / page.mappers;
    const bool exclusive = page.mappers < 2;
    u.resident += kPageSize;
    if (page.young) u.referenced += kPageSize;
    u.pss += pss;
    if (page.anonymous) u.anonymous += kPageSize, u.pss_anon += pss;
    else if (page.file) u.pss_file += pss;
    else u.pss_shmem += pss;
    if (locked) u.pss_locked += pss;
    if (page.dirty) {
        u.pss_dirty += pss;
        (exclusive ? u.private_dirty : u.shared_dirty) += kPageSize;
    } else {
        (exclusive ? u.private_clean : u.shared_clean) += kPageSize;
    }
}

}  // namespace

VmaUsage AddressSpace::usage(const Vma& v) const {
    VmaUsage u;
    const bool locked = v.has(vma_flag::kLocked);
    auto& table = const_cast<PageTable&>(table_);  // the walk only reads: no tables made or freed
    (void)table.walk_range(v.start, v.end, MissingTables::Skip, EmptyTables::Keep, [&](VirtAddr va, Pte& pte) {
        // vm_normal_page: the zero page is nobody's memory and is not counted.
        if (!pte.maps_frame() || pte.pfn() == memory_.zero_page()) return WalkAction::Continue;
        PageSharing page;
        page.dirty = pte.dirty();
        page.young = pte.accessed();
        const std::uint32_t refs = memory_.refcount(pte.pfn());
        const std::uint64_t index = v.shmem ? v.pgoff_at(va) : 0;
        if (v.shmem && v.shmem->resident(index) && v.shmem->frames[index] - 1 == pte.pfn()) {
            // The object holds one reference of its own; the others are mappings.
            page.anonymous = false;
            // Shmem and memfd are 00:00 and 00:01 with no backing; the rest is a file's page
            // cache (the loader's copy of an ELF has no backing but the file's device) or the
            // vDSO's pages, which Linux also counts as Pss_File (neither anon nor swap-backed).
            const SharedMemoryObject& object = *v.shmem;
            const bool shmem = !object.backing && object.dev_major == 0 && object.dev_minor <= 1 &&
                               !v.has(vma_flag::kSpecial);
            page.file = !shmem;
            page.dirty = page.dirty || v.shmem->dirty.contains(index);
            page.mappers = refs > 1 ? refs - 1 : 1;
        } else {
            page.mappers = refs > 0 ? refs : 1;
        }
        account(u, page, locked);
        return WalkAction::Continue;
    });
    return u;
}

void AddressSpace::clear_refs(int type) {
    if (type < kClearRefsAll || type > kClearRefsMapped) return;
    // No TLB flush, as on Linux (clearing Accessed takes no access away): a translation still
    // cached keeps the page unreferenced even when it is used, until the TLB drops it.
    const CheckOnReturn check(*this);
    for (auto& [start, v] : vmas_.all()) {
        const bool file = v.shmem && !v.has(vma_flag::kSpecial);  // Linux: the VMA has a vm_file
        if ((type == kClearRefsAnon && file) || (type == kClearRefsMapped && !file)) continue;
        (void)table_.walk_range(v.start, v.end, MissingTables::Skip, EmptyTables::Keep, [&](VirtAddr, Pte& pte) {
            if (pte.present()) pte = pte.without(Pte::kAccessed);
            return WalkAction::Continue;
        });
    }
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
    else if (pte.uffd_wp() && pte.writable())
        broken = "userfaultfd write-protected PTE mapped writable";
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
        if (prev && mergeable(*prev, v))
            throw std::logic_error("adjacent mergeable VMAs left unmerged: " + maps_line(*prev) + maps_line(v));
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
            if (pte.uffd_wp() && pte.writable())
                throw std::logic_error("userfaultfd write-protected PTE mapped writable");
        }
        return WalkAction::Continue;
    });
    if (rss != rss_pages_) throw std::logic_error("RSS counter differs from the page table");
}

}  // namespace mmu
