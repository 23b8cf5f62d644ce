#include "mmu/physical_memory.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cassert>
#include <cstring>
#include <cerrno>
#include <system_error>

namespace mmu {

HostReservation::HostReservation(std::uint64_t bytes) : size_(bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (p == MAP_FAILED)
        throw std::system_error(errno, std::generic_category(), "reserving guest RAM");
    data_ = static_cast<std::byte*>(p);
}

HostReservation::~HostReservation() { ::munmap(data_, size_); }

void HostReservation::release(std::uint64_t offset, std::uint64_t bytes) {
    // Private anonymous memory: MADV_DONTNEED frees the pages; they read as zero afterwards.
    if (::madvise(data_ + offset, bytes, MADV_DONTNEED) != 0) std::memset(data_ + offset, 0, bytes);
}

PhysicalMemory::PhysicalMemory(std::uint64_t bytes)
    : ram_(page_down(bytes)), refcounts_(pages(page_down(bytes)), 0) {
    stats_.frames_total = refcounts_.size();
    limit_ = refcounts_.size();
    auto zero = allocate();
    if (!zero) throw std::system_error(ENOMEM, std::generic_category(), "guest RAM too small");
    zero_page_ = zero.value();
}

Result<Pfn> PhysicalMemory::allocate() {
    Pfn pfn;
    if (!dirty_frames_.empty()) {
        pfn = dirty_frames_.back();
        dirty_frames_.pop_back();
        std::memset(frame(pfn), 0, kPageSize);
    } else if (!free_frames_.empty()) {
        pfn = free_frames_.back();
        free_frames_.pop_back();
    } else if (never_used_ < limit_) {
        pfn = never_used_++;
    } else {
        return Errno{ENOMEM};
    }
    // Invariant: every frame handed out reads as zero.
    refcounts_[pfn] = 1;
    // A write for the checker; for translated code, the frame changed when it was freed.
    if (frame_write_listener_) frame_write_listener_(pfn);
    ++stats_.allocations;
    if (++stats_.frames_in_use > stats_.frames_peak) stats_.frames_peak = stats_.frames_in_use;
    return pfn;
}

// The zero page is pinned: mapping it takes no reference.
void PhysicalMemory::note_page_table_edit(Pfn root, VirtAddr start, VirtAddr end) {
    ++page_table_epoch_;
    if (edits_overflowed_) return;
    if (!page_table_edits_.empty()) {  // populating a range edits it page by page: one range
        PageTableEdit& last = page_table_edits_.back();
        if (last.root == root && start <= last.end && end >= last.start) {
            last.start = std::min(last.start, start);
            last.end = std::max(last.end, end);
            return;
        }
    }
    if (page_table_edits_.size() == kMaxListedEdits) {
        edits_overflowed_ = true;
        page_table_edits_.clear();
        return;
    }
    page_table_edits_.push_back({root, start, end});
}

void PhysicalMemory::get(Pfn pfn) {
    if (pfn == zero_page_) return;
    assert(refcounts_[pfn] > 0);
    ++refcounts_[pfn];
}

void PhysicalMemory::put(Pfn pfn) {
    if (pfn == zero_page_) return;
    assert(refcounts_[pfn] > 0);
    if (--refcounts_[pfn] != 0) return;
    if (frame_change_listener_) frame_change_listener_(pfn, FrameChange::Freed);
    dirty_frames_.push_back(pfn);
    ++stats_.frees;
    --stats_.frames_in_use;
    if (dirty_frames_.size() >= kReleaseBatch) release_dirty();
}

// Gives the dirty frames back to the host, one madvise per run of contiguous frames.
void PhysicalMemory::release_dirty() {
    std::sort(dirty_frames_.begin(), dirty_frames_.end());
    for (std::size_t i = 0; i < dirty_frames_.size();) {
        std::size_t j = i + 1;
        while (j < dirty_frames_.size() && dirty_frames_[j] == dirty_frames_[j - 1] + 1) ++j;
        ram_.release(dirty_frames_[i] << kPageShift, (j - i) << kPageShift);
        i = j;
    }
    free_frames_.insert(free_frames_.end(), dirty_frames_.rbegin(), dirty_frames_.rend());
    dirty_frames_.clear();
}

}  // namespace mmu
