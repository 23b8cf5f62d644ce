// Mappings of memory objects seen from one address space: msync, and the zap a truncation of
// the object asks of every address space.
#include <algorithm>
#include <cerrno>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {
constexpr int kMsAsync = 1, kMsInvalidate = 2, kMsSync = 4;
}  // namespace

// Linux's msync: EINVAL for unknown flags, an unaligned start or MS_ASYNC with MS_SYNC; EBUSY for
// MS_INVALIDATE on locked memory; a hole is ENOMEM (at once for plain MS_ASYNC, else after the
// rest). Linux writes shared file pages back for MS_SYNC only (MS_ASYNC has nothing to start since
// the page cache is the file); here the host file is only up to date after a write-back, so both
// write back.
Status AddressSpace::msync(VirtAddr start, std::uint64_t len, int flags) {
    if (flags & ~(kMsAsync | kMsInvalidate | kMsSync)) return Errno{EINVAL};
    if (!page_aligned(start)) return Errno{EINVAL};
    if ((flags & kMsAsync) && (flags & kMsSync)) return Errno{EINVAL};
    len = page_up(len);
    const VirtAddr end = start + len;
    if (end < start) return Errno{ENOMEM};
    if (end == start) return Ok{};
    Status unmapped = Ok{};
    for (const Vma* vma = vmas_.find_at_or_above(start);; vma = vmas_.find_at_or_above(start)) {
        if (!vma) return Errno{ENOMEM};
        if (start < vma->start) {
            if (flags == kMsAsync) return Errno{ENOMEM};
            start = vma->start;
            if (start >= end) return Errno{ENOMEM};
            unmapped = Errno{ENOMEM};
        }
        if ((flags & kMsInvalidate) && vma->has(vma_flag::kLocked)) return Errno{EBUSY};
        const VirtAddr piece_end = std::min(end, vma->end);
        if (vma->shared() && vma->shmem) {
            vma->shmem->write_back(vma->pgoff_at(start), vma->pgoff_at(piece_end));
            // MS_SYNC waits for the storage too (Linux: vfs_fsync_range, data only).
            if ((flags & kMsSync) && vma->shmem->backing) vma->shmem->backing->sync_data();
        }
        start = vma->end;
        if (start >= end) return unmapped;
    }
}

void AddressSpace::zap_object_pages(const SharedMemoryObject& object, std::uint64_t first,
                                    std::uint64_t last, CowPolicy cows) {
    const CheckOnReturn check(*this);
    TlbGather gather(tlb_, memory_, asid_);
    for (auto& entry : vmas_.all()) {
        const Vma& vma = entry.second;  // not a structured binding: the lambda below captures it
        if (vma.shmem.get() != &object) continue;
        const std::uint64_t lo = std::max(first, vma.pgoff), hi = std::min(last, vma.pgoff_at(vma.end));
        if (lo >= hi) continue;
        const VirtAddr from = vma.start + ((lo - vma.pgoff) << kPageShift);
        const VirtAddr to = vma.start + ((hi - vma.pgoff) << kPageShift);
        if (vma.shared() || cows == CowPolicy::ZapCopies) {
            zap(from, to, keep_markers_of(vma), gather);  // guard markers stay (Linux)
            continue;
        }
        // A private mapping keeps its own copies: only PTEs that still map the object's frame go.
        std::vector<VirtAddr> mapping_object;
        (void)table_.walk_range(from, to, MissingTables::Skip, EmptyTables::Keep, [&](VirtAddr va, Pte& pte) {
            const std::uint64_t index = vma.pgoff_at(va);
            if (pte.present() && object.resident(index) && pte.pfn() == object.frames[index] - 1)
                mapping_object.push_back(va);
            return WalkAction::Continue;
        });
        for (VirtAddr va : mapping_object) zap(va, va + kPageSize, keep_markers_of(vma), gather);
    }
}

void AddressSpace::write_protect_object_pages(const SharedMemoryObject& object, std::uint64_t first,
                                              std::uint64_t last) {
    TlbGather gather(tlb_, memory_, asid_);
    for (auto& [at, vma] : vmas_.all()) {
        if (vma.shmem.get() != &object || !vma.shared()) continue;
        const std::uint64_t lo = std::max(first, vma.pgoff), hi = std::min(last, vma.pgoff_at(vma.end));
        if (lo >= hi) continue;
        const VirtAddr from = vma.start + ((lo - vma.pgoff) << kPageShift);
        const VirtAddr to = vma.start + ((hi - vma.pgoff) << kPageShift);
        (void)table_.walk_range(from, to, MissingTables::Skip, EmptyTables::Keep, [&](VirtAddr va, Pte& pte) {
            if (pte.present() && pte.writable()) {
                pte = pte.without(Pte::kWritable | Pte::kDirty);
                gather.add_page(va);
            }
            return WalkAction::Continue;
        });
    }
}

}  // namespace mmu
