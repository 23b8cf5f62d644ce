#include "kernel/sysv_shm.hpp"

#include <algorithm>

#include "mmu/address_space.hpp"
#include "mmu/physical_memory.hpp"

namespace emu {

void SysvShm::reap() {
    std::erase_if(segments_, [this](const auto& entry) {
        return (entry.second.mode & kShmDest) && attachments(entry.second) == 0;
    });
}

ShmSegment* SysvShm::find_key(key_t key) {
    for (auto& [index, segment] : segments_)
        if (segment.key == key && !(segment.mode & kShmDest)) return &segment;
    return nullptr;
}

ShmSegment* SysvShm::find_id(int id) {
    if (id < 0) return nullptr;
    auto it = segments_.find(id % kIpcMni);
    return it != segments_.end() && it->second.id == id ? &it->second : nullptr;
}

ShmSegment* SysvShm::find_index(int index) {
    auto it = segments_.find(index);
    return it != segments_.end() ? &it->second : nullptr;
}

// Indices are handed out cyclically (Linux's idr_alloc_cyclic since 4.x): the next free index
// after the last one given, and the sequence number grows each time the allocation wraps.
ShmSegment& SysvShm::create(key_t key, std::uint64_t size, std::uint32_t mode, std::uint32_t uid,
                            std::uint32_t gid, int pid, std::int64_t now) {
    int index = last_index_ + 1;
    while (index < kIpcMni && segments_.count(index)) ++index;
    if (index >= kIpcMni) {
        index = 0;
        while (segments_.count(index)) ++index;
    }
    if (index <= last_index_) ++seq_;
    last_index_ = index;
    ShmSegment& s = segments_[index];
    s.id = seq_ * kIpcMni + index;
    s.key = key;
    s.uid = s.cuid = uid;
    s.gid = s.cgid = gid;
    s.mode = mode & 0777;
    s.size = size;
    s.ctime = now;
    s.cpid = pid;
    s.object = std::make_shared<mmu::SharedMemoryObject>();
    s.object->memory = &memory_;
    s.object->size = size;
    s.object->id = static_cast<std::uint64_t>(s.id);  // the inode /proc/PID/maps shows
    s.object->dev_minor = 1;
    return s;
}

void SysvShm::destroy(int id) { segments_.erase(id % kIpcMni); }

void SysvShm::remove(ShmSegment& segment) {
    if (attachments(segment) == 0) {
        destroy(segment.id);
        return;
    }
    segment.mode |= kShmDest;
    segment.key = 0;  // IPC_PRIVATE: shmget finds it no more
}

std::uint64_t SysvShm::attachments(const ShmSegment& segment) const {
    std::uint64_t n = 0;
    for (const mmu::AddressSpace* as : memory_.address_spaces())
        for (const auto& [start, vma] : as->vmas().all())
            if (vma.shmem == segment.object) ++n;
    return n;
}

ShmSegment* SysvShm::find_object(const mmu::SharedMemoryObject* object) {
    for (auto& [index, segment] : segments_)
        if (segment.object.get() == object) return &segment;
    return nullptr;
}

int SysvShm::highest_index() const { return segments_.empty() ? 0 : segments_.rbegin()->first; }

std::uint64_t SysvShm::total_pages() const {
    std::uint64_t n = 0;
    for (const auto& [index, segment] : segments_) n += mmu::page_up(segment.size) >> mmu::kPageShift;
    return n;
}

std::uint64_t SysvShm::resident_pages() const {
    std::uint64_t n = 0;
    for (const auto& [index, segment] : segments_)
        n += static_cast<std::uint64_t>(std::count_if(segment.object->frames.begin(), segment.object->frames.end(),
                                                      [](mmu::Pfn f) { return f != 0; }));
    return n;
}

}  // namespace emu
