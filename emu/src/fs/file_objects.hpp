// The memory object (page cache) of each host file the guest maps, shared by every mapping of
// that file in every task, and the rule that keeps it coherent with read(2) and write(2):
//  - a mapping reads a page from the host file on its first fault; pages written through a
//    shared mapping are dirty and go back to the host file on msync, when the last mapping of
//    the file goes (munmap, exit) and before any guest read of that file (so read(2) sees them);
//  - a guest write(2) to the file goes to the host file and into the pages the object holds
//    (so every mapping sees it); a truncation shrinks the object (zapping the pages beyond the
//    end from every mapping).
// Changes made to the host file by other host processes (seen as a new modification time or
// size) are taken in when the guest maps the file again: clean pages are read again and the
// size follows; until then the pages already read keep their bytes.
#pragma once

#include <sys/types.h>
#include <sys/stat.h>
#include <time.h>

#include <map>
#include <memory>
#include <utility>

#include "mmu/memory_object.hpp"

namespace mmu {
class PhysicalMemory;
}

namespace emu {

struct GuestFile;

class FileObjects {
public:
    explicit FileObjects(mmu::PhysicalMemory& memory) : memory_(memory) {}

    // The object of `file`'s host file, made on first use. `writable`: the caller maps it
    // shared and writable, so the object must be able to write back (with `file`'s descriptor).
    std::shared_ptr<mmu::SharedMemoryObject> get_or_make(GuestFile& file, bool writable);
    // The live object of `file`'s host file, or null (also for anything not a regular file).
    std::shared_ptr<mmu::SharedMemoryObject> find(GuestFile& file);
    std::shared_ptr<mmu::SharedMemoryObject> find(dev_t dev, ino_t ino);

    // The coherence hooks around guest file I/O (see above).
    void before_read(GuestFile& file);
    void after_write(GuestFile& file, std::int64_t offset, const void* bytes, std::size_t n);
    // After a host truncation of the file with this identity (ftruncate, truncate, O_TRUNC).
    void after_truncate(dev_t dev, ino_t ino, std::uint64_t new_size);

private:
    struct Entry {
        std::weak_ptr<mmu::SharedMemoryObject> object;
        struct timespec mtime {};  // the file's when the object last looked
        std::uint64_t size = 0;
    };
    mmu::PhysicalMemory& memory_;
    std::map<std::pair<dev_t, ino_t>, Entry> objects_;

    void take_in_host_changes(mmu::SharedMemoryObject& object, Entry& entry, const struct stat& st);
};

}  // namespace emu
