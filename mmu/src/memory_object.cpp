// Memory objects (shmem, memfd, file page cache): frames on demand, write-back, truncation.
#include "mmu/memory_object.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "mmu/address_space.hpp"
#include "mmu/physical_memory.hpp"

namespace mmu {

SharedMemoryObject::~SharedMemoryObject() {
    write_out(0, kUnbounded);  // the last mapping and descriptor are gone: the file gets the rest
    if (!memory) return;
    for (Pfn f : frames)
        if (f) memory->put(f - 1);
}

Result<Pfn> SharedMemoryObject::frame(std::uint64_t index) {
    if (index >= kMaxIndexedPages) return Errno{ENOMEM};
    if (index >= frames.size()) frames.resize(index + 1, 0);
    if (frames[index] == 0) {
        auto fresh = memory->allocate();
        if (!fresh) return fresh;
        if (backing) backing->read_page(index, memory->frame(fresh.value()));
        frames[index] = fresh.value() + 1;
    }
    return frames[index] - 1;
}

// Linux's page_mkclean: the pages written back are write-protected in every mapping (TLBs
// flushed) so that the next write through any of them marks them dirty again.
void SharedMemoryObject::write_back(std::uint64_t first, std::uint64_t last) {
    if (!backing || !memory || dirty.empty()) return;
    for (AddressSpace* as : memory->address_spaces()) as->write_protect_object_pages(*this, first, last);
    write_out(first, last);
}

void SharedMemoryObject::write_out(std::uint64_t first, std::uint64_t last) {
    if (!backing || !memory) return;
    for (auto it = dirty.lower_bound(first); it != dirty.end() && *it < last;) {
        const std::uint64_t index = *it;
        const std::uint64_t at = index << kPageShift;
        if (resident(index) && at < size) {
            const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kPageSize, size - at));
            backing->write_page(index, memory->frame(frames[index] - 1), len);
        }
        it = dirty.erase(it);
    }
}

std::size_t SharedMemoryObject::read(std::uint64_t offset, void* dst, std::size_t n) {
    if (offset >= size) return 0;
    n = static_cast<std::size_t>(std::min<std::uint64_t>(n, size - offset));
    auto* out = static_cast<std::byte*>(dst);
    for (std::size_t done = 0; done < n;) {
        const std::uint64_t at = offset + done;
        const std::size_t in_page = at & (kPageSize - 1);
        const std::size_t chunk = std::min<std::size_t>(n - done, kPageSize - in_page);
        const std::uint64_t index = at >> kPageShift;
        if (resident(index)) std::memcpy(out + done, memory->frame(frames[index] - 1) + in_page, chunk);
        else std::memset(out + done, 0, chunk);  // a hole reads as zero without allocating
        done += chunk;
    }
    return n;
}

Result<std::size_t> SharedMemoryObject::write(std::uint64_t offset, const void* src, std::size_t n) {
    const auto* in = static_cast<const std::byte*>(src);
    for (std::size_t done = 0; done < n;) {
        const std::uint64_t at = offset + done;
        const std::size_t in_page = at & (kPageSize - 1);
        const std::size_t chunk = std::min<std::size_t>(n - done, kPageSize - in_page);
        auto f = frame(at >> kPageShift);
        if (!f) {
            if (done) return done;
            return Errno{ENOSPC};
        }
        std::memcpy(memory->frame(f.value()) + in_page, in + done, chunk);
        memory->note_frame_write(f.value());
        mark_dirty(at >> kPageShift);
        done += chunk;
        if (size == kUnbounded || at + chunk > size) size = at + chunk;
    }
    return n;
}

void SharedMemoryObject::absorb(std::uint64_t offset, const void* src, std::size_t n) {
    const auto* in = static_cast<const std::byte*>(src);
    for (std::size_t done = 0; done < n;) {
        const std::uint64_t at = offset + done;
        const std::size_t in_page = at & (kPageSize - 1);
        const std::size_t chunk = std::min<std::size_t>(n - done, kPageSize - in_page);
        const std::uint64_t index = at >> kPageShift;
        if (resident(index)) {
            std::memcpy(memory->frame(frames[index] - 1) + in_page, in + done, chunk);
            memory->note_frame_write(frames[index] - 1);
        }
        done += chunk;
    }
}

void SharedMemoryObject::reread_clean() {
    if (!backing) return;
    for (std::uint64_t i = 0; i < frames.size(); ++i) {
        if (!frames[i] || dirty.contains(i)) continue;
        std::byte* page = memory->frame(frames[i] - 1);
        std::memset(page, 0, kPageSize);
        backing->read_page(i, page);
        memory->note_frame_write(frames[i] - 1);
    }
}

void SharedMemoryObject::drop_from(std::uint64_t first, std::uint64_t new_size) {
    for (std::uint64_t i = first; i < frames.size(); ++i)
        if (frames[i]) {
            memory->put(frames[i] - 1);
            frames[i] = 0;
        }
    if (frames.size() > first) frames.resize(first);
    dirty.erase(dirty.lower_bound(first), dirty.end());
    // The partial page that holds the new end reads as zero beyond it.
    const std::uint64_t tail = new_size & (kPageSize - 1);
    if (tail && resident(new_size >> kPageShift)) {
        std::memset(memory->frame(frames[new_size >> kPageShift] - 1) + tail, 0, kPageSize - tail);
        memory->note_frame_write(frames[new_size >> kPageShift] - 1);
    }
}

Result<std::shared_ptr<SharedMemoryObject>> make_page_cache(PhysicalMemory& memory,
                                                             const void* bytes, std::size_t size,
                                                             std::uint64_t first_page) {
    auto object = std::make_shared<SharedMemoryObject>();
    object->memory = &memory;
    object->frames.assign(first_page, 0);
    const auto* src = static_cast<const std::byte*>(bytes);
    for (std::size_t off = 0; off < size; off += kPageSize) {
        auto frame = memory.allocate();
        if (!frame) return Errno{ENOMEM};
        std::memcpy(memory.frame(frame.value()), src + off, std::min<std::size_t>(kPageSize, size - off));
        object->frames.push_back(frame.value() + 1);
    }
    return object;
}

// Linux truncate_pagecache: unmap_mapping_range(even_cows) zaps the pages beyond the new end in
// every mapping (private copies too), then the page cache drops them.
void resize_object(SharedMemoryObject& object, std::uint64_t new_size) {
    const std::uint64_t old_size = object.size;
    object.size = new_size;
    if (old_size != SharedMemoryObject::kUnbounded && new_size >= old_size) return;
    const std::uint64_t first = page_up(new_size) >> kPageShift;
    if (object.memory)
        for (AddressSpace* as : object.memory->address_spaces())
            as->zap_object_pages(object, first, SharedMemoryObject::kUnbounded, CowPolicy::ZapCopies);
    object.drop_from(first, new_size);
}

void punch_object(SharedMemoryObject& object, std::uint64_t first, std::uint64_t last) {
    if (first >= last) return;
    if (object.memory)
        for (AddressSpace* as : object.memory->address_spaces())
            as->zap_object_pages(object, first, last, CowPolicy::KeepCopies);
    for (std::uint64_t i = first; i < last && i < object.frames.size(); ++i)
        if (object.frames[i]) {
            object.memory->put(object.frames[i] - 1);
            object.frames[i] = 0;
        }
    object.dirty.erase(object.dirty.lower_bound(first), object.dirty.lower_bound(last));
    if (object.backing) object.backing->punch_hole(first, last - first);
}

}  // namespace mmu
