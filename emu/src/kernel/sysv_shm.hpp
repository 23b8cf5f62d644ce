// System V shared memory (shmget, shmat, shmdt, shmctl): the machine's one IPC namespace of
// segments. A segment is a shmem memory object (mmu) plus its ipc_perm; shmat maps the object
// shared. Linux's rules kept here:
//  - an id is seq * 32768 + index (IPCMNI), indices given cyclically (see create);
//  - shm_nattch counts the VMAs that map the segment in every address space (Linux counts VMA
//    opens and closes, so a split or a fork adds one), computed when asked;
//  - IPC_RMID of an attached segment marks it SHM_DEST and makes its key private; it is destroyed
//    once nothing maps it any more (checked at the next IPC call, which is the only place where
//    the difference could be seen).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>

#include "mmu/memory_object.hpp"

namespace mmu {
class PhysicalMemory;
}

namespace emu {

struct ShmSegment {
    int id = 0;
    key_t key = 0;
    std::uint32_t uid = 0, gid = 0, cuid = 0, cgid = 0;
    std::uint32_t mode = 0;  // permission bits, SHM_DEST (01000), SHM_LOCKED (02000)
    std::uint64_t size = 0;  // shm_segsz: the bytes asked for
    std::int64_t atime = 0, dtime = 0, ctime = 0;
    int cpid = 0, lpid = 0;
    std::shared_ptr<mmu::SharedMemoryObject> object;
};

class SysvShm {
public:
    static constexpr int kIpcMni = 32768;
    static constexpr std::uint32_t kShmDest = 01000, kShmLocked = 02000;
    static constexpr std::uint64_t kShmMax = ~0ull - (1ull << 24);  // SHMMAX, also SHMALL (pages)
    static constexpr int kShmMni = 4096;

    explicit SysvShm(mmu::PhysicalMemory& memory) : memory_(memory) {}

    // Destroys the segments marked for removal that nothing maps any more.
    void reap();
    ShmSegment* find_key(key_t key);
    ShmSegment* find_id(int id);       // EINVAL when null
    ShmSegment* find_index(int index); // SHM_STAT
    ShmSegment& create(key_t key, std::uint64_t size, std::uint32_t mode, std::uint32_t uid,
                       std::uint32_t gid, int pid, std::int64_t now);
    void destroy(int id);
    // IPC_RMID: destroyed now if unmapped, else SHM_DEST with a private key.
    void remove(ShmSegment& segment);
    // The VMAs mapping `segment` in every address space (shm_nattch).
    std::uint64_t attachments(const ShmSegment& segment) const;
    // The segment whose object this is, or null (a VMA from shmat).
    ShmSegment* find_object(const mmu::SharedMemoryObject* object);
    int highest_index() const;
    int count() const { return static_cast<int>(segments_.size()); }
    std::uint64_t total_pages() const;
    std::uint64_t resident_pages() const;
    bool full() const { return count() >= kShmMni; }

private:
    mmu::PhysicalMemory& memory_;
    std::map<int, ShmSegment> segments_;  // by index
    int seq_ = 0;
    int last_index_ = -1;
};

}  // namespace emu
