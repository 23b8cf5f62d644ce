// Guest-physical RAM: one host reservation that commits nothing until touched, handed out as 4 KiB
// frames with reference counts (shared by copy-on-write and fork).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "mmu/result.hpp"
#include "mmu/types.hpp"

namespace mmu {

class AddressSpace;

// A private anonymous host mapping reserved with MAP_NORESERVE (commits nothing until touched;
// pages given back with MADV_DONTNEED read as zero); unmapped on destruction. Every guest task
// of the machine uses it: nothing of it is shared with another host process.
class HostReservation {
public:
    explicit HostReservation(std::uint64_t bytes);  // throws std::system_error on failure
    ~HostReservation();
    HostReservation(const HostReservation&) = delete;
    HostReservation& operator=(const HostReservation&) = delete;

    std::byte* data() const { return data_; }
    std::uint64_t size() const { return size_; }
    // Gives the pages back to the host; they read as zero afterwards.
    void release(std::uint64_t offset, std::uint64_t bytes);

private:
    std::byte* data_;
    std::uint64_t size_;
};

struct PhysicalMemoryStats {
    std::uint64_t frames_total = 0;
    std::uint64_t frames_in_use = 0;
    std::uint64_t frames_peak = 0;
    std::uint64_t allocations = 0;
    std::uint64_t frees = 0;
};

class PhysicalMemory {
public:
    static constexpr std::uint64_t kDefaultBytes = 1ull << 30;  // 1 GiB of guest RAM
    // Freed frames wait, still holding data, and are zeroed when handed out again; every
    // kReleaseBatch of them are given back to the host in one sweep (and read as zero).
    static constexpr std::size_t kReleaseBatch = 4096;  // 16 MiB

    explicit PhysicalMemory(std::uint64_t bytes = kDefaultBytes);

    // A zero-filled frame with reference count 1, or ENOMEM when guest RAM is exhausted.
    Result<Pfn> allocate();
    void get(Pfn pfn);
    // Drops one reference; the last one frees the frame and gives its memory back to the host.
    void put(Pfn pfn);
    std::uint32_t refcount(Pfn pfn) const { return refcounts_[pfn]; }

    // The shared, permanently allocated, read-only zero page (Linux's ZERO_PAGE).
    Pfn zero_page() const { return zero_page_; }

    std::byte* frame(Pfn pfn) { return ram_.data() + (pfn << kPageShift); }
    const std::byte* frame(Pfn pfn) const { return ram_.data() + (pfn << kPageShift); }
    std::byte* host_base() const { return ram_.data(); }
    std::uint64_t size_bytes() const { return ram_.size(); }
    std::uint64_t frame_count() const { return refcounts_.size(); }
    bool valid(Pfn pfn) const { return pfn < refcounts_.size(); }

    const PhysicalMemoryStats& stats() const { return stats_; }

    // Every write the kernel side makes into a frame's contents: a system call's copy to user
    // memory, a debugger's poke, a write into a memory object's page, a frame handed out again
    // (zeroed or about to be filled). An emulator listens to check that every CPU drops the code
    // it translated from that frame before it runs again.
    using FrameWriteListener = std::function<void(Pfn)>;
    void set_frame_write_listener(FrameWriteListener listener) { frame_write_listener_ = std::move(listener); }

    // What makes code translated from a frame stale, for an emulator whose CPUs keep translated
    // code by frame and notice only their own stores: the kernel side wrote into the frame while
    // it is in use (every such write but the zeroing of a frame handed out again), or the frame's
    // last reference went (it will be handed out again with other contents, and no page maps it
    // any more).
    enum class FrameChange { Written, Freed };
    using FrameChangeListener = std::function<void(Pfn, FrameChange)>;
    void set_frame_change_listener(FrameChangeListener listener) { frame_change_listener_ = std::move(listener); }

    // The kernel side wrote into a frame in use.
    void note_frame_write(Pfn pfn) const {
        if (frame_write_listener_) frame_write_listener_(pfn);
        if (frame_change_listener_) frame_change_listener_(pfn, FrameChange::Written);
    }

    // Counts the page-table operations that may have changed an entry, in any address space over
    // this RAM: every PageTable::ensure and walk_range (those that edit a frame or a permission
    // go through one of them; find() only reads, or sets Accessed/Dirty). An emulator that
    // verifies what CPUs cached against the page tables can skip the work while it is unchanged.
    std::uint64_t page_table_epoch() const { return page_table_epoch_; }
    // Each of those operations also says which page table (its root) and which addresses: an
    // entry can change only inside that range (a table freed there held no present entry).
    void note_page_table_edit(Pfn root, VirtAddr start, VirtAddr end);
    struct PageTableEdit {
        Pfn root;
        VirtAddr start, end;
    };
    // The ranges edited since forget_page_table_edits() (adjacent ones merged), or nullptr when
    // there were too many to list: then any entry may have changed.
    const std::vector<PageTableEdit>* page_table_edits() const {
        return edits_overflowed_ ? nullptr : &page_table_edits_;
    }
    void forget_page_table_edits() {
        page_table_edits_.clear();
        edits_overflowed_ = false;
    }

    // The address spaces built over this RAM (each attaches itself for its lifetime): what the
    // truncation of a memory object walks to zap its pages from every mapping (Linux's i_mmap).
    void attach(AddressSpace* as) { spaces_.push_back(as); }
    void detach(AddressSpace* as) { std::erase(spaces_, as); }
    const std::vector<AddressSpace*>& address_spaces() const { return spaces_; }

private:
    HostReservation ram_;
    std::vector<AddressSpace*> spaces_;
    std::vector<std::uint32_t> refcounts_;
    void release_dirty();
    std::vector<Pfn> dirty_frames_;
    std::vector<Pfn> free_frames_;  // freed frames given back to the host (zero)
    Pfn never_used_ = 0;            // frames in [never_used_, limit_) were never handed out
    Pfn limit_ = 0;
    Pfn zero_page_ = 0;
    PhysicalMemoryStats stats_;
    FrameWriteListener frame_write_listener_;
    FrameChangeListener frame_change_listener_;
    std::uint64_t page_table_epoch_ = 0;
    static constexpr std::size_t kMaxListedEdits = 256;
    std::vector<PageTableEdit> page_table_edits_;
    bool edits_overflowed_ = false;
};

}  // namespace mmu
