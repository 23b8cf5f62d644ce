// Address-space lifetime, placement, mmap, munmap and mprotect.
#include "mmu/address_space.hpp"

#include <atomic>
#include <cerrno>

namespace mmu {

namespace {
std::atomic<Asid> next_asid{1};
}  // namespace

AddressSpace::AddressSpace(PhysicalMemory& memory, Tlb& tlb, Layout layout)
    : memory_(memory), tlb_(tlb), layout_(layout), asid_(next_asid++), table_(memory) {
    memory_.attach(this);
}

AddressSpace::~AddressSpace() {
    memory_.detach(this);
    TlbGather gather(tlb_, memory_, asid_);
    zap(0, layout_.task_size + kPageSize, MarkerPolicy::Clear, gather);
}

// Linux's checks shared by munmap-like calls: page-aligned start, length within user space.
Status AddressSpace::validate_range(VirtAddr addr, std::uint64_t len) const {
    if (!page_aligned(addr) || addr > layout_.task_size || len > layout_.task_size - addr)
        return Errno{EINVAL};
    return Ok{};
}

std::uint64_t AddressSpace::new_anon_id(const Vma&) { return next_anon_id_++; }

// Gives `vma` an anon_vma before its first private page (or guard marker) appears. Like Linux, a
// neighbour's anon_vma is reused when the two could merge apart from protection, so that pieces
// of one mapping split by mprotect merge again later.
void AddressSpace::prepare_anon(Vma& vma) {
    if (vma.anon_id != 0 || vma.shared()) return;
    auto reusable = [&](const Vma* n) {
        if (!n || n->anon_id == 0 || n->anon_inherited || n->shared()) return false;
        Vma a = *n, b = vma;
        a.prot = b.prot;
        const bool below = n->end == vma.start;
        return below ? mergeable(a, b) : (vma.end == n->start && mergeable(b, a));
    };
    // Linux (find_mergeable_anon_vma) tries the next VMA first, then the previous one.
    const Vma* prev = vma.start ? vmas_.find(vma.start - 1) : nullptr;
    const Vma* next = vmas_.find(vma.end);
    if (reusable(next)) vma.anon_id = next->anon_id;
    else if (reusable(prev)) vma.anon_id = prev->anon_id;
    else vma.anon_id = new_anon_id(vma);
}

bool AddressSpace::sealed_in(VirtAddr start, VirtAddr end) const {
    for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end;
         v = vmas_.find_at_or_above(v->end))
        if (v->has(vma_flag::kSealed)) return true;
    return false;
}

// get_unmapped_area for anonymous memory: MAP_FIXED as given, else the hint if the range is
// free, else the highest gap below mmap_base (top-down), else the lowest above it.
Result<VirtAddr> AddressSpace::place(VirtAddr hint, std::uint64_t len, std::uint32_t flags) const {
    const VirtAddr top = layout_.task_size;
    if (len > top) return Errno{ENOMEM};
    if (flags & map::kFixed) {
        if (hint > top - len) return Errno{ENOMEM};
        if (!page_aligned(hint)) return Errno{EINVAL};
        return hint;
    }
    const VirtAddr low = std::max(layout_.mmap_min_addr, kPageSize);
    if (flags & map::k32Bit) {
        if (auto gap = vmas_.find_gap_top_down(len, 0x40000000, 0x80000000)) return *gap;
        return Errno{ENOMEM};
    }
    hint = page_down(hint);
    if (hint && hint >= low && hint <= top - len && vmas_.range_free(hint, len)) return hint;
    if (hint == 0 && len % kHugePageSize == 0) {
        // Anonymous mappings whose length is a multiple of 2 MiB are placed 2 MiB-aligned (so THP
        // can back them): search for len + 2 MiB, then take the highest aligned start in it.
        if (auto padded = vmas_.find_gap_top_down(len + kHugePageSize, low, layout_.mmap_base)) {
            const VirtAddr off_sub = (0 - *padded) & (kHugePageSize - 1);
            return *padded + (off_sub ? off_sub : kHugePageSize);
        }
    }
    if (auto gap = vmas_.find_gap_top_down(len, low, layout_.mmap_base)) return *gap;
    if (auto gap = vmas_.find_gap_top_down(len, layout_.mmap_base, top)) return *gap;
    return Errno{ENOMEM};
}


Result<VirtAddr> AddressSpace::mmap_file_impl(VirtAddr addr, std::uint64_t len, std::uint32_t prot,
                                         std::uint32_t flags, std::shared_ptr<SharedMemoryObject> file,
                                         std::uint64_t file_pgoff, std::string name, bool may_write) {
    const CheckOnReturn check(*this);
    constexpr std::uint32_t kKnownFlags =
        map::kType | map::kFixed | map::kAnonymous | map::k32Bit | map::kGrowsDown |
        map::kDenyWrite | map::kExecutable | map::kLocked | map::kNoReserve | map::kPopulate |
        map::kNonBlock | map::kStack | map::kHugeTlb | map::kSync | map::kFixedNoReplace |
        map::kUninitialized;
    if (len == 0) return Errno{EINVAL};
    const std::uint32_t type = flags & map::kType;
    // Anonymous memory accepts only MAP_SHARED or MAP_PRIVATE (MAP_SHARED_VALIDATE is EINVAL,
    // as measured on the 6.18 host).
    if (type != map::kShared && type != map::kPrivate) return Errno{EINVAL};
    (void)kKnownFlags;
    if (flags & map::kFixedNoReplace) flags |= map::kFixed;
    if (!(flags & map::kFixed)) {
        // round_hint_to_min: a hint below mmap_min_addr is raised to it.
        addr = page_down(addr);
        if (addr && addr < layout_.mmap_min_addr) addr = page_up(layout_.mmap_min_addr);
    }
    len = page_up(len);
    if (len == 0) return Errno{ENOMEM};
    if (vmas_.count() > layout_.max_map_count) return Errno{ENOMEM};
    // Shared anonymous memory gets a shmem object of its length, indexed page by page.
    if (!file && type == map::kShared && pages(len) > SharedMemoryObject::kMaxIndexedPages) return Errno{ENOMEM};
    auto placed = place(addr, len, flags);
    if (!placed) return placed;
    const VirtAddr start = placed.value();
    const VirtAddr end = start + len;
    if ((flags & map::kFixedNoReplace) && vmas_.intersects(start, end)) return Errno{EEXIST};
    if ((flags & map::kFixed) && sealed_in(start, end)) return Errno{EPERM};
    if ((flags & map::kFixed) && splits_special(start, end)) return Errno{EINVAL};
    const bool private_writable = type == map::kPrivate && (prot & kProtWrite);
    if (!within_limits(start, end, private_writable && !(flags & map::kNoReserve),
                       private_writable && !(flags & map::kGrowsDown)))
        return Errno{ENOMEM};
    if (flags & map::kHugeTlb) return Errno{ENOMEM};  // no huge pages are reserved

    {
        TlbGather gather(tlb_, memory_, asid_);
        unmap_range(start, end, gather);  // MAP_FIXED replaces whatever was there, markers too
    }
    Vma vma;
    vma.start = start;
    vma.end = end;
    vma.prot = prot & kProtRwx;
    vma.name = std::move(name);
    if (file) {
        vma.shmem = std::move(file);
        vma.pgoff = file_pgoff;
        if (type == map::kShared) vma.flags |= vma_flag::kShared;
        if (type == map::kShared && !may_write) vma.flags |= vma_flag::kNoMayWrite;
    } else if (type != map::kPrivate) {
        vma.flags |= vma_flag::kShared;
        vma.shmem = std::make_shared<SharedMemoryObject>();
        vma.shmem->memory = &memory_;
        // A shmem file of the mapping's length (Linux shmem_zero_setup): a page beyond it, once
        // mremap has grown the mapping, is SIGBUS.
        vma.shmem->size = len;
        vma.shmem->frames.assign(pages(len), 0);
        vma.pgoff = 0;
    } else {
        vma.pgoff = pages(start);
    }
    if (flags & map::kGrowsDown) vma.flags |= vma_flag::kGrowsDown;
    if (flags & map::kNoReserve) vma.flags |= vma_flag::kNoReserve;
    if (type == map::kPrivate && (prot & kProtWrite) && !(flags & map::kNoReserve))
        vma.flags |= vma_flag::kAccount;
    const bool lock = (flags & map::kLocked) || (mlockall_flags_ & mlock_flags::kMclFuture);
    if (lock) vma.flags |= vma_flag::kLocked;
    if (lock && (mlockall_flags_ & mlock_flags::kMclOnFault) && !(flags & map::kLocked))
        vma.flags |= vma_flag::kLockOnFault;
    vmas_.insert(std::move(vma));
    vmas_.merge_around(start, end);
    // MAP_POPULATE and locked mappings are faulted in now; failures are ignored (Linux).
    if ((flags & map::kPopulate) || (lock && !(vmas_.find(start)->has(vma_flag::kLockOnFault))))
        (void)populate(start, end, Populate::Lock, false);
    return start;
}

Status AddressSpace::map_special_impl(VirtAddr addr, std::uint32_t prot, const void* contents,
                                 std::size_t size, std::string name) {
    auto cache = make_page_cache(memory_, contents, size, 0);
    if (!cache) return Errno{cache.error()};
    return map_special_impl(addr, prot, cache.value(), size, std::move(name));
}

Status AddressSpace::map_special_impl(VirtAddr addr, std::uint32_t prot, std::shared_ptr<SharedMemoryObject> pages,
                                      std::size_t size, std::string name) {
    auto mapped = mmap_file_impl(addr, size, prot, map::kPrivate | map::kFixed, std::move(pages), 0,
                                 std::move(name), true);
    if (!mapped) return Errno{mapped.error()};
    Vma* v = vmas_.find(addr);
    v->flags |= vma_flag::kSpecial;
    // Data pages (vvar) are mapped as raw frames, never dumped; the code page (vDSO) is not.
    if (!(prot & kProtExec)) v->flags |= vma_flag::kPfnMap | vma_flag::kDontDump;
    v->flags &= ~vma_flag::kAccount;
    v->pgoff = 0;
    return Ok{};
}

void AddressSpace::zap(VirtAddr start, VirtAddr end, MarkerPolicy markers, TlbGather& gather) {
    const EmptyTables tables = markers == MarkerPolicy::Clear ? EmptyTables::Free : EmptyTables::Keep;
    const Pfn zero = memory_.zero_page();
    (void)table_.walk_range(start, end, MissingTables::Skip, tables, [&](VirtAddr va, Pte& pte) {
        switch (pte.kind()) {
        case PteKind::Present:
            gather.add_page(va);
            [[fallthrough]];
        case PteKind::ProtNone:
            if (pte.pfn() != zero) --rss_pages_;
            gather.defer_put(pte.pfn());
            pte = markers == MarkerPolicy::KeepUffdWp && pte.uffd_wp() ? Pte::make_marker(marker::kUffdWp) : Pte::none();
            break;
        case PteKind::Marker:
            if (markers == MarkerPolicy::Clear) pte = Pte::none();
            break;
        case PteKind::Swap:
            pte = Pte::none();
            break;
        case PteKind::None:
            break;
        }
        return WalkAction::Continue;
    });
}

// Removes VMAs and everything their page tables hold in [start, end) (munmap, MAP_FIXED).
void AddressSpace::unmap_range(VirtAddr start, VirtAddr end, TlbGather& gather) {
    if (start >= end || !vmas_.intersects(start, end)) return;
    vmas_.erase_range(start, end);
    zap(start, end, MarkerPolicy::Clear, gather);
}

Status AddressSpace::munmap_impl(VirtAddr addr, std::uint64_t len) {
    const CheckOnReturn check(*this);
    MMU_TRY(validate_range(addr, len));
    len = page_up(len);
    if (len == 0) return Errno{EINVAL};
    if (sealed_in(addr, addr + len)) return Errno{EPERM};
    if (splits_special(addr, addr + len)) return Errno{EINVAL};
    // Unmapping the middle of a VMA leaves one more VMA: refused at vm.max_map_count (Linux).
    if (const Vma* v = vmas_.find(addr); v && v->start < addr && addr + len < v->end &&
                                         vmas_.count() >= layout_.max_map_count)
        return Errno{ENOMEM};
    TlbGather gather(tlb_, memory_, asid_);
    unmap_range(addr, addr + len, gather);
    return Ok{};
}

// RLIMIT_AS (what the new range adds to total_vm, beyond what it replaces) and, for charged
// memory, the overcommit heuristic: checked before anything is changed (Linux's may_expand_vm and
// __vm_enough_memory).
bool AddressSpace::within_limits(VirtAddr start, VirtAddr end, bool charged, bool data) const {
    if (charged && layout_.overcommit_limit && end - start > layout_.overcommit_limit) return false;
    constexpr std::uint64_t kUnlimited = ~0ull;
    if (layout_.address_space_limit == kUnlimited && (!data || layout_.data_limit == kUnlimited))
        return true;  // the usual case: no sum over every VMA on each mmap
    std::uint64_t replaced = 0, replaced_data = 0;
    for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end; v = vmas_.find_at_or_above(v->end)) {
        const std::uint64_t overlap = std::min(end, v->end) - std::max(start, v->start);
        replaced += overlap;
        if (is_data(*v)) replaced_data += overlap;
    }
    if (total_vm_bytes() + (end - start) - replaced > layout_.address_space_limit) return false;
    // RLIMIT_DATA counts private writable memory that is not a stack (Linux's data_vm).
    return !data || layout_.data_limit == kUnlimited ||
           data_vm_bytes() + (end - start) - replaced_data <= layout_.data_limit;
}

bool AddressSpace::is_data(const Vma& v) {
    return (v.prot & kProtWrite) && !v.shared() && !v.has(vma_flag::kGrowsDown) && !v.has(vma_flag::kStack);
}

std::uint64_t AddressSpace::data_vm_bytes() const {
    std::uint64_t total = 0;
    for (const auto& [start, v] : vmas_.all())
        if (is_data(v)) total += v.size();
    return total;
}

// A special mapping (vDSO, vvar) cannot be split: an operation on part of one is EINVAL (its
// may_split hook refuses, as Linux's special mappings do).
bool AddressSpace::splits_special(VirtAddr start, VirtAddr end) const {
    const Vma* a = vmas_.find(start);
    if (a && a->has(vma_flag::kSpecial) && a->start < start) return true;
    const Vma* b = end > start ? vmas_.find(end - 1) : nullptr;
    return b && b->has(vma_flag::kSpecial) && end < b->end;
}

// Splitting `v` to change [start, end) of it adds a VMA at each end that falls inside it; Linux
// refuses each split once the count has reached vm.max_map_count (ENOMEM).
bool AddressSpace::splits_exceed_map_count(const Vma& v, VirtAddr start, VirtAddr end) const {
    const std::size_t splits = (v.start < start ? 1 : 0) + (end < v.end ? 1 : 0);
    return splits && vmas_.count() + splits > layout_.max_map_count;
}

// Rewrites the PTEs of [start, end) for a new protection. Narrowing flushes; widening leaves
// private pages read-only so that the next write takes the copy-on-write / write-enable path.
void AddressSpace::change_protection(VirtAddr start, VirtAddr end, std::uint32_t prot,
                                     TlbGather& gather) {
    (void)table_.walk_range(start, end, MissingTables::Skip, EmptyTables::Keep,
                            [&](VirtAddr va, Pte& pte) {
        if (!pte.maps_frame()) return WalkAction::Continue;  // none, markers: nothing to change
        const Pfn pfn = pte.pfn();
        Pte updated;
        // userfaultfd write-protection survives mprotect (and keeps the page read-only).
        const std::uint64_t wp = pte.raw() & Pte::kUffdWp;
        if (prot == kProtNone) {
            updated = Pte::prot_none(pfn).with(wp);
        } else {
            const bool keep_write = pte.present() && pte.writable() && (prot & kProtWrite);
            updated = Pte::page(pfn, keep_write, prot & kProtExec)
                          .with(pte.raw() & (Pte::kAccessed | Pte::kDirty | Pte::kUffdWp));
        }
        const bool narrowed = pte.present() && (!updated.present() ||
                                                (pte.writable() && !updated.writable()) ||
                                                (pte.executable() && !updated.executable()));
        if (narrowed) gather.add_page(va);
        pte = updated;
        return WalkAction::Continue;
    });
}

Status AddressSpace::mprotect_impl(VirtAddr addr, std::uint64_t len, std::uint32_t prot) {
    const CheckOnReturn check(*this);
    constexpr std::uint32_t kProtSem = 0x8, kGrowsDown = 0x01000000, kGrowsUp = 0x02000000;
    if (!page_aligned(addr)) return Errno{EINVAL};
    if (len == 0) return Ok{};
    len = page_up(len);
    const VirtAddr end = addr + len;
    if (end <= addr) return Errno{ENOMEM};
    if ((prot & kGrowsDown) && (prot & kGrowsUp)) return Errno{EINVAL};
    if (prot & kGrowsUp) return Errno{EINVAL};  // no VM_GROWSUP on x86
    if (prot & ~(kProtRwx | kProtSem | kGrowsDown)) return Errno{EINVAL};
    const Vma* first = vmas_.find_at_or_above(addr);
    if (!first) return Errno{ENOMEM};
    VirtAddr start = addr;
    if (prot & kGrowsDown) {
        if (!first->has(vma_flag::kGrowsDown)) return Errno{EINVAL};
        start = first->start;  // PROT_GROWSDOWN extends the change to the start of the stack
    } else if (first->start > addr) {
        return Errno{ENOMEM};
    }
    const std::uint32_t new_prot = prot & kProtRwx;
    TlbGather gather(tlb_, memory_, asid_);
    // VMAs before a hole are changed; the hole then stops the call with ENOMEM (Linux).
    for (VirtAddr at = start; at < end;) {
        Vma* v = vmas_.find(at);
        if (!v) {
            vmas_.merge_around(start, at);
            return Errno{ENOMEM};
        }
        const VirtAddr piece_end = std::min(end, v->end);
        if (v->has(vma_flag::kSealed)) {  // checked per VMA: earlier VMAs stay changed
            vmas_.merge_around(start, at);
            return Errno{EPERM};
        }
        if ((new_prot & kProtWrite) && v->has(vma_flag::kNoMayWrite)) {  // no VM_MAYWRITE
            vmas_.merge_around(start, at);
            return Errno{EACCES};
        }
        if (v->prot != new_prot && splits_special(at, piece_end)) {
            vmas_.merge_around(start, at);
            return Errno{EINVAL};
        }
        if (v->prot != new_prot && splits_exceed_map_count(*v, at, piece_end)) {
            vmas_.merge_around(start, at);
            return Errno{ENOMEM};
        }
        if (v->prot != new_prot) {
            const std::uint32_t old_prot = v->prot;
            auto pieces = vmas_.isolate(at, piece_end);
            for (Vma* p : pieces) {
                p->prot = new_prot;
                // Private memory made writable is charged from now on (VM_ACCOUNT sticks).
                constexpr std::uint32_t kNotCharged = vma_flag::kAccount | vma_flag::kShared |
                                                      vma_flag::kNoReserve;
                if ((new_prot & kProtWrite) && !(p->flags & kNotCharged))
                    p->flags |= vma_flag::kAccount;
                // ...and uncharged when made read-only before it ever had an anon_vma, if it is
                // anonymous memory (Linux: vma_is_anonymous); a private file mapping stays charged.
                if (!(new_prot & kProtWrite) && !p->shared() && !p->shmem && p->anon_id == 0)
                    p->flags &= ~vma_flag::kAccount;
            }
            // Locked private memory made writable is faulted in for writing now (Linux breaks
            // COW up front so that mlock'd pages never fault later).
            const bool fault_in = v->has(vma_flag::kLocked) && !v->shared() && !(old_prot & kProtWrite) &&
                                  (new_prot & kProtWrite);
            change_protection(at, piece_end, new_prot, gather);
            // Linux merges each changed piece with its neighbours at once (vma_modify_flags), before
            // faulting it in: the pages then join the merged VMA's anon_vma.
            vmas_.merge_around(at, piece_end);
            if (fault_in) (void)populate(at, piece_end, Populate::Lock, false);
        }
        at = piece_end;
    }
    vmas_.merge_around(start, end);
    return Ok{};
}

}  // namespace mmu
