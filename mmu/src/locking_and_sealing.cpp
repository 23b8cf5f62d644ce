// mlock, mlock2, munlock, mlockall, munlockall, mseal, mincore and brk.
#include <cerrno>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {
constexpr std::uint32_t kLockFlags = vma_flag::kLocked | vma_flag::kLockOnFault;
}

namespace {
struct PageRange {
    VirtAddr start, end;
};
// mlock and munlock round the range out to whole pages instead of rejecting an unaligned start;
// a range that wraps is EINVAL.
Result<PageRange> lock_range(VirtAddr addr, std::uint64_t len) {
    const VirtAddr start = page_down(addr);
    const VirtAddr end = start + page_up(len + (addr - start));
    if (end < start) return Errno{EINVAL};
    return PageRange{start, end};
}
}  // namespace

Status AddressSpace::mlock_impl(VirtAddr addr, std::uint64_t len, std::uint32_t flags) {
    const CheckOnReturn check(*this);
    if (flags & ~mlock_flags::kOnFault) return Errno{EINVAL};
    const auto range = lock_range(addr, len);
    if (!range) return Errno{range.error()};
    const auto [start, end] = range.value();
    if (end == start) return Ok{};
    if (!vmas_.find(start)) return Errno{ENOMEM};
    // RLIMIT_MEMLOCK: what would be locked (already locked pages counted once) may not exceed it.
    if (layout_.memlock_limit != ~0ull) {
        std::uint64_t newly = 0;
        for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end; v = vmas_.find_at_or_above(v->end))
            if (!v->has(vma_flag::kLocked)) newly += std::min(end, v->end) - std::max(start, v->start);
        if (locked_bytes() + newly > layout_.memlock_limit) return Errno{ENOMEM};
    }
    const std::uint32_t set = vma_flag::kLocked | (flags ? vma_flag::kLockOnFault : 0);
    MMU_TRY(apply_vma_flags(start, end, set, kLockFlags & ~set, true));
    if (flags & mlock_flags::kOnFault) return Ok{};
    // A page that cannot be populated (a guard region) fails the call after locking the
    // VMAs: get_user_pages' EFAULT becomes ENOMEM for mlock.
    if (!populate(start, end, Populate::Lock, true)) return Errno{ENOMEM};
    return Ok{};
}

Status AddressSpace::munlock_impl(VirtAddr addr, std::uint64_t len) {
    const CheckOnReturn check(*this);
    const auto range = lock_range(addr, len);
    if (!range) return Errno{range.error()};
    const auto [start, end] = range.value();
    if (end == start) return Ok{};
    if (!vmas_.find(start)) return Errno{ENOMEM};
    return apply_vma_flags(start, end, 0, kLockFlags, true);
}

Status AddressSpace::mlockall_impl(std::uint32_t flags) {
    const CheckOnReturn check(*this);
    using namespace mlock_flags;
    if (!flags || (flags & ~(kMclCurrent | kMclFuture | kMclOnFault)) || flags == kMclOnFault)
        return Errno{EINVAL};
    mlockall_flags_ = flags & (kMclFuture | kMclOnFault);
    if (!(flags & kMclFuture)) mlockall_flags_ = 0;
    if (flags & kMclCurrent) {
        const std::uint32_t set =
            vma_flag::kLocked | ((flags & kMclOnFault) ? vma_flag::kLockOnFault : 0);
        for (auto& [start, vma] : vmas_.all()) vma.flags = (vma.flags & ~kLockFlags) | set;
        vmas_.merge_around(0, layout_.task_size);
        if (!(flags & kMclOnFault)) (void)populate(0, layout_.task_size, Populate::Lock, false);
    }
    return Ok{};
}

Status AddressSpace::munlockall_impl() {
    const CheckOnReturn check(*this);
    mlockall_flags_ = 0;
    for (auto& [start, vma] : vmas_.all()) vma.flags &= ~kLockFlags;
    vmas_.merge_around(0, layout_.task_size);
    return Ok{};
}

// mseal: the whole range must be mapped; sealed VMAs refuse munmap, mremap, mprotect, MAP_FIXED
// over them and discarding madvise on read-only anonymous memory (EPERM).
Status AddressSpace::mseal_impl(VirtAddr addr, std::uint64_t len_in, std::uint64_t flags) {
    const CheckOnReturn check(*this);
    if (flags != 0) return Errno{EINVAL};
    if (!page_aligned(addr)) return Errno{EINVAL};
    const std::uint64_t len = page_up(len_in);
    if (len < len_in) return Errno{EINVAL};
    const VirtAddr end = addr + len;
    if (end < addr) return Errno{EINVAL};
    if (end == addr) return Ok{};
    if (!vmas_.covered(addr, end)) return Errno{ENOMEM};
    return apply_vma_flags(addr, end, vma_flag::kSealed, 0, true);
}

Result<std::vector<std::uint8_t>> AddressSpace::mincore(VirtAddr addr, std::uint64_t len) {
    if (!page_aligned(addr)) return Errno{EINVAL};
    if (addr > layout_.task_size || len > layout_.task_size - addr) return Errno{ENOMEM};
    const std::uint64_t count = pages(page_up(len));
    std::vector<std::uint8_t> vec;
    vec.reserve(count);
    for (std::uint64_t i = 0; i < count; ++i) {
        const VirtAddr va = addr + i * kPageSize;
        const Vma* vma = vmas_.find(va);
        if (!vma) return Errno{ENOMEM};
        const Pte* pte = table_.find(va);
        std::uint8_t resident = 0;
        if (pte && pte->maps_frame()) {
            resident = 1;
        } else if (pte && !pte->is_none() && !pte->is_guard()) {
            resident = 0;  // other software entries: not resident
        } else if (vma->shmem) {
            // An empty entry or a guard marker (6.18 host: looked up like an unmapped range):
            // the object's page counts, so anonymous memory reads 0 and files their page cache.
            const std::uint64_t index = vma->pgoff_at(va);  // shmem residency: the page cache
            resident = index < vma->shmem->frames.size() && vma->shmem->frames[index] != 0;
        }
        vec.push_back(resident);
    }
    return vec;
}

void AddressSpace::set_brk_base_impl(VirtAddr base) {
    brk_start_ = base;
    brk_ = base;
}

// brk(2): grows or shrinks the [heap] VMA; returns the new break, or the old one on failure.
VirtAddr AddressSpace::brk_impl(VirtAddr requested) {
    const CheckOnReturn check(*this);
    // Below the start or beyond the user address space (brk(-1): rounding it up would wrap to 0
    // and "shrink" the heap over everything) the break does not move.
    if (requested < brk_start_ || requested > layout_.task_size) return brk_;
    const VirtAddr old_top = page_up(brk_);
    const VirtAddr new_top = page_up(requested);
    if (new_top < old_top) {
        if (sealed_in(new_top, old_top)) return brk_;
        TlbGather gather(tlb_, memory_, asid_);
        unmap_range(new_top, old_top, gather);
    } else if (new_top > old_top) {
        if (new_top > layout_.task_size || !vmas_.range_free(old_top, new_top - old_top) ||
            !within_limits(old_top, new_top, true, true))
            return brk_;
        Vma heap;
        heap.start = old_top;
        heap.end = new_top;
        heap.prot = kProtRead | kProtWrite;
        heap.pgoff = pages(old_top);
        heap.flags = vma_flag::kHeap | vma_flag::kAccount;
        heap.name = "[heap]";
        if (mlockall_flags_ & mlock_flags::kMclFuture) heap.flags |= vma_flag::kLocked;
        vmas_.insert(std::move(heap));
        vmas_.merge_around(old_top, new_top);
    }
    brk_ = requested;
    return brk_;
}

}  // namespace mmu
