// Memory objects: the pages behind every mapping that is not private anonymous memory -- shmem
// (MAP_SHARED|MAP_ANONYMOUS), memfd, and the page cache of a file. One model for all three: a
// size, frames indexed by page offset (allocated on demand; a hole reads as zero, a file page is
// read from the file's backing), and the pages written through a shared mapping (dirty).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "mmu/result.hpp"
#include "mmu/types.hpp"

namespace mmu {

class PhysicalMemory;

// Where the pages of a file come from and go back to (the emulator's host file). The library
// never does I/O itself.
class ObjectBacking {
public:
    virtual ~ObjectBacking() = default;
    // Fills the zeroed frame `page` with the file's bytes of page `index` (short at the end).
    virtual void read_page(std::uint64_t index, std::byte* page) = 0;
    // Writes the first `len` bytes of page `index` back to the file.
    virtual void write_page(std::uint64_t index, const std::byte* page, std::size_t len) = 0;
    // Deallocates pages [first, first + count) of the file, which read as zero from then on
    // (fallocate PUNCH_HOLE|KEEP_SIZE, as MADV_REMOVE does on a shared file mapping).
    virtual void punch_hole(std::uint64_t first, std::uint64_t count) = 0;
    // Waits until what was written back is on the storage (msync MS_SYNC: fdatasync).
    virtual void sync_data() = 0;
};

// Shared by every VMA, address space and descriptor that uses it (shared_ptr). Private
// mappings of it map its frames read-only and copy on write; shared mappings map its frames.
struct SharedMemoryObject {
    static constexpr std::uint64_t kUnbounded = ~0ull;
    // `frames` is indexed by page offset: beyond this many pages (256 GiB into an object) its
    // index would take more than 512 MiB of host memory, so a page there cannot be had (ENOMEM,
    // as when RAM runs out). Linux has no such bound: see README, not supported.
    static constexpr std::uint64_t kMaxIndexedPages = std::uint64_t{1} << 26;

    SharedMemoryObject() = default;
    SharedMemoryObject(const SharedMemoryObject&) = delete;
    SharedMemoryObject& operator=(const SharedMemoryObject&) = delete;
    ~SharedMemoryObject();  // writes dirty pages back, then gives its frames back

    PhysicalMemory* memory = nullptr;
    std::uint64_t id = 0;     // inode number shown in /proc/self/maps
    std::uint32_t dev_major = 0, dev_minor = 0;
    std::vector<Pfn> frames;  // frame numbers + 1, 0 when absent (a hole, or not read yet)
    // Bytes in the object (i_size). A fault at or beyond page_up(size) is SIGBUS/BUS_ADRERR.
    std::uint64_t size = kUnbounded;
    std::set<std::uint64_t> dirty;          // pages written through a shared mapping
    std::unique_ptr<ObjectBacking> backing;  // a file's pages; null for shmem and memfd

    // Pages an access may reach (Linux: beyond the page-rounded i_size is SIGBUS).
    std::uint64_t page_limit() const { return size == kUnbounded ? size : page_up(size) >> kPageShift; }
    bool resident(std::uint64_t index) const { return index < frames.size() && frames[index] != 0; }
    // The frame of page `index`, made on first use (zeroed, or read from the backing).
    Result<Pfn> frame(std::uint64_t index);
    // A write through a shared mapping: the page goes back to the file at the next write-back.
    void mark_dirty(std::uint64_t index) {
        if (backing) dirty.insert(index);
    }
    // Writes the dirty pages of [first, last) back to the backing (clipped to the size) and
    // write-protects them in every mapping, so that later writes dirty them again.
    void write_back(std::uint64_t first = 0, std::uint64_t last = kUnbounded);
    // read(2)/write(2) on the object itself (memfd): bytes copied; writes grow the size.
    std::size_t read(std::uint64_t offset, void* dst, std::size_t n);
    Result<std::size_t> write(std::uint64_t offset, const void* src, std::size_t n);
    // The file was written behind the object's back (write(2) to the host file): the resident
    // pages take the new bytes so that every mapping sees them.
    void absorb(std::uint64_t offset, const void* src, std::size_t n);
    // The file changed behind the object's back (another host process wrote it): every resident
    // page not dirtied through a mapping takes the file's bytes again, in place, so that every
    // mapping sees them (a file has one page cache).
    void reread_clean();
    // Drops the frames of pages at or beyond `first` (after every mapping of them was zapped),
    // and zeroes the tail of the page that holds the new end (truncate_inode_pages_range).
    void drop_from(std::uint64_t first, std::uint64_t new_size);

private:
    void write_out(std::uint64_t first, std::uint64_t last);  // the I/O half of write_back
};

// A page cache holding `size` bytes of a file from page `first_page` on (the emulator reads the
// file; the library only holds pages). Pages outside stay absent and read as zero.
Result<std::shared_ptr<SharedMemoryObject>> make_page_cache(PhysicalMemory& memory,
                                                             const void* bytes, std::size_t size,
                                                             std::uint64_t first_page);

// What a zap of an object's pages does to private copies of them (anonymous pages made by a
// write fault in a private mapping): truncation removes them too, a punched hole keeps them.
enum class CowPolicy : std::uint8_t { ZapCopies, KeepCopies };

// ftruncate of an object: pages beyond the new end are zapped from every mapping of it in every
// address space built over its memory (TLBs flushed), then freed. Growing needs no zap.
void resize_object(SharedMemoryObject& object, std::uint64_t new_size);

// A hole punched in pages [first, last) of `object` (MADV_REMOVE, fallocate PUNCH_HOLE): the
// pages leave every mapping of it in every address space (TLBs flushed) -- private copies made
// by earlier writes stay, as Linux keeps COWed pages -- their frames and dirty state are dropped,
// and the backing file gets the hole, so the range reads as zero from then on.
void punch_object(SharedMemoryObject& object, std::uint64_t first, std::uint64_t last);

}  // namespace mmu
