// mremap: shrink, grow in place, move (MAYMOVE / FIXED / DONTUNMAP). Page-table entries travel
// with the mapping, guard markers included; the shrinking part is unmapped (markers cleared).
#include <algorithm>
#include <cerrno>

#include "mmu/address_space.hpp"

namespace mmu {

// Moves every non-empty entry of [from, from + len) to [to, to + len); translations of moved
// present pages are flushed at their old addresses.
Status AddressSpace::move_ptes(VirtAddr from, VirtAddr to, std::uint64_t len, TlbGather& gather) {
    Status status = Ok{};
    (void)table_.walk_range(from, from + len, MissingTables::Skip, EmptyTables::Keep,
                            [&](VirtAddr va, Pte& pte) {
        if (pte.is_none()) return WalkAction::Continue;
        auto target = table_.ensure(to + (va - from));
        if (!target) {
            status = Errno{ENOMEM};
            return WalkAction::Stop;
        }
        *target.value() = pte;
        if (pte.present()) gather.add_page(va);
        pte = Pte::none();
        return WalkAction::Continue;
    });
    return status;
}

Result<VirtAddr> AddressSpace::mremap_move(Vma& vma, VirtAddr old_addr, std::uint64_t old_len,
                                           std::uint64_t new_len, VirtAddr new_addr,
                                           bool dont_unmap) {
    Vma moved = vma;
    moved.start = new_addr;
    moved.end = new_addr + new_len;
    moved.pgoff = vma.pgoff_at(old_addr);
    // Without UFFD_FEATURE_EVENT_REMAP the moved mapping leaves its userfaultfd context (its
    // pages lose write-protection below).
    const bool was_registered = moved.uffd_ctx != 0;
    moved.flags &= ~vma_flag::kUffdAny;
    moved.uffd_ctx = 0;
    if (moved.shared() && moved.shmem->frames.size() < moved.pgoff + pages(new_len))
        moved.shmem->frames.resize(std::min(moved.pgoff + pages(new_len), SharedMemoryObject::kMaxIndexedPages), 0);
    const bool locked = moved.has(vma_flag::kLocked);
    {
        TlbGather gather(tlb_, memory_, asid_);
        MMU_TRY(move_ptes(old_addr, new_addr, old_len, gather));
        if (!dont_unmap) {
            vmas_.erase_range(old_addr, old_addr + old_len);
            zap(old_addr, old_addr + old_len, MarkerPolicy::Clear, gather);  // frees tables
        }
    }
    vmas_.insert(std::move(moved));
    if (was_registered) uffd_clear_wp(new_addr, new_addr + new_len);
    vmas_.merge_around(new_addr, new_addr + new_len);
    // The old range stays with DONTUNMAP (empty) and with a duplication (old_len 0), whose
    // one-page isolation is undone here: Linux leaves that VMA untouched.
    if (dont_unmap || old_len == 0) vmas_.merge_around(old_addr, old_addr + std::max(old_len, kPageSize));
    if (locked && new_len > old_len)
        (void)populate(new_addr + old_len, new_addr + new_len, Populate::Lock, false);
    return new_addr;
}

Result<VirtAddr> AddressSpace::mremap_impl(VirtAddr old_addr, std::uint64_t old_len,
                                      std::uint64_t new_len, std::uint32_t flags,
                                      VirtAddr new_addr) {
    const CheckOnReturn check(*this);
    using namespace mremap_flags;
    if (flags & ~(kMayMove | kFixed | kDontUnmap)) return Errno{EINVAL};
    if ((flags & kFixed) && !(flags & kMayMove)) return Errno{EINVAL};
    if ((flags & kDontUnmap) && (!(flags & kMayMove) || old_len != new_len)) return Errno{EINVAL};
    if (!page_aligned(old_addr)) return Errno{EINVAL};
    old_len = page_up(old_len);
    new_len = page_up(new_len);
    const VirtAddr top = layout_.task_size;
    if (new_len == 0 || new_len > top) return Errno{EINVAL};
    if (flags & kFixed) {
        if (!page_aligned(new_addr)) return Errno{EINVAL};
        if (new_len > top || new_addr > top - new_len) return Errno{EINVAL};
        if (new_addr < old_addr + old_len && old_addr < new_addr + new_len) return Errno{EINVAL};
    }
    Vma* vma = vmas_.find(old_addr);
    if (!vma) return Errno{EFAULT};
    if (vma->has(vma_flag::kSealed)) return Errno{EPERM};
    if (old_len == 0 && !vma->shared()) return Errno{EINVAL};  // only shared memory duplicates
    if (!(flags & kFixed) && new_len <= old_len && !(flags & kDontUnmap)) {
        // Shrinking is an munmap of the tail, which may cross into the following VMAs.
        if (sealed_in(old_addr + new_len, old_addr + old_len)) return Errno{EPERM};
        TlbGather gather(tlb_, memory_, asid_);
        unmap_range(old_addr + new_len, old_addr + old_len, gather);
        return old_addr;
    }
    if (old_len > vma->end - old_addr) return Errno{EFAULT};

    if (flags & kFixed) {
        if (sealed_in(new_addr, new_addr + new_len)) return Errno{EPERM};
        {
            TlbGather gather(tlb_, memory_, asid_);
            unmap_range(new_addr, new_addr + new_len, gather);
            if (new_len < old_len) {
                unmap_range(old_addr + new_len, old_addr + old_len, gather);
                old_len = new_len;
            }
        }
        vma = vmas_.find(old_addr);
        auto pieces = vmas_.isolate(old_addr, old_addr + (old_len ? old_len : kPageSize));
        return mremap_move(*pieces.front(), old_addr, old_len, new_len, new_addr,
                           flags & kDontUnmap);
    }
    // Grow in place when the old range ends its VMA and the space after it is free.
    const VirtAddr old_end = old_addr + old_len;
    if (old_len != 0 && !(flags & kDontUnmap) && vma->end == old_end && new_len <= top - old_addr &&
        vmas_.range_free(old_end, new_len - old_len)) {
        vma->end = old_addr + new_len;
        if (vma->shared() && vma->shmem->frames.size() < vma->pgoff_at(vma->end))
            vma->shmem->frames.resize(std::min(vma->pgoff_at(vma->end), SharedMemoryObject::kMaxIndexedPages), 0);
        const bool locked = vma->has(vma_flag::kLocked);
        vmas_.merge_around(old_addr, old_addr + new_len);
        if (locked) (void)populate(old_end, old_addr + new_len, Populate::Lock, false);
        return old_addr;
    }
    if (!(flags & kMayMove)) return Errno{ENOMEM};
    auto placed = place(0, new_len, 0);
    if (!placed) return placed;
    auto pieces = vmas_.isolate(old_addr, old_addr + (old_len ? old_len : kPageSize));
    return mremap_move(*pieces.front(), old_addr, old_len, new_len, placed.value(),
                       flags & kDontUnmap);
}

}  // namespace mmu
