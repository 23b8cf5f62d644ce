// The guest's file descriptors: host descriptors opened under --root, plus files the emulator
// generates (/proc/self/maps, status, pagemap).
#pragma once

#include <climits>
#include <cstdint>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "mmu/memory_object.hpp"

namespace emu {

// One entry of a generated directory (getdents64).
struct DirectoryEntry {
    std::string name;
    unsigned char type;  // DT_DIR, DT_REG or DT_LNK
};

struct GuestFile {
    GuestFile() = default;
    GuestFile(const GuestFile&) = delete;
    GuestFile& operator=(const GuestFile&) = delete;
    ~GuestFile();  // closes the host descriptor (never the emulator's own 0, 1, 2)

    int host_fd = -1;            // a real host descriptor, or -1 for generated content
    std::string generated;       // contents of a generated file (snapshot taken at open)
    std::uint64_t offset = 0;    // for generated files
    bool pagemap = false;        // /proc/PID/pagemap: read through the MMU at the offset
    bool mem = false;            // /proc/PID/mem: read and written through the MMU at the offset
    bool clear_refs = false;     // /proc/PID/clear_refs: takes a number (clear_refs_write)
    int memory_of = 0;           // pagemap, mem: the thread group whose memory it is
    bool directory = false;      // a generated directory: `entries` (offset counts entries)
    std::vector<DirectoryEntry> entries;
    unsigned st_mode = 0;        // generated files: what fstat shows
    std::uint64_t inode = 0;
    bool null_device = false;    // the host descriptor is /dev/null (reads and writes touch no buffer)
    bool nonblocking = false;    // the guest's O_NONBLOCK (host pipes are always non-blocking)
    bool host_nonblocking = false;  // the host descriptor was made O_NONBLOCK by mmuemu
    // Kernel objects that are not host descriptors (pidfd, signalfd, epoll): kind and state.
    // Userfaultfd: `object` is its context (kernel/userfaultfd.hpp).
    enum class Kind : std::uint8_t { Host, Generated, Pidfd, Signalfd, Epoll, Memfd, Userfaultfd } kind = Kind::Host;
    bool userfaultfd_device = false;  // /dev/userfaultfd (USERFAULTFD_IOC_NEW)
    int pid = 0;                 // Pidfd: the thread group
    std::uint64_t sigmask = 0;   // Signalfd: the signals it reads
    std::shared_ptr<void> object;  // Epoll: its interest list (owned by the epoll code)
    int open_flags = 0;
    std::string path;
    // Memfd: the object is the file (size, pages); `offset` is the file position.
    std::shared_ptr<mmu::SharedMemoryObject> memfd;
    unsigned seals = 0;          // Memfd: F_SEAL_* (shared by every descriptor of the file)
    // Host: the file's identity once asked for (0, 0: not a regular file), see FileObjects.
    bool identity_known = false;
    dev_t identity_dev = 0;
    ino_t identity_ino = 0;
};

// Whether a host descriptor is /dev/null (character device 1:3).
bool is_null_device(int host_fd);

class GuestFiles {
public:
    GuestFiles();  // 0, 1, 2 are the emulator's own stdin/stdout/stderr
    ~GuestFiles();
    GuestFiles(const GuestFiles&) = delete;
    GuestFiles& operator=(const GuestFiles&) = delete;

    // The lowest free descriptor at or above `min`.
    // -EMFILE when that descriptor would be `limit` or above (RLIMIT_NOFILE).
    int install(std::shared_ptr<GuestFile> file, int min = 0, bool cloexec = false, int limit = INT_MAX);
    std::shared_ptr<GuestFile> get(int fd) const;
    bool close(int fd);
    bool install_at(int fd, std::shared_ptr<GuestFile> file, bool cloexec = false);
    // FD_CLOEXEC belongs to the descriptor, not to the open file.
    bool cloexec(int fd) const { return cloexec_.count(fd) != 0; }
    void set_cloexec(int fd, bool on);
    std::size_t count() const { return table_.size(); }
    // A copy of the table (fork without CLONE_FILES): the same open files, each descriptor
    // sharing its file with the original.
    std::shared_ptr<GuestFiles> clone() const;
    // execve: descriptors marked close-on-exec are closed.
    void close_on_exec();
    const std::map<int, std::shared_ptr<GuestFile>>& table() const { return table_; }

private:
    std::map<int, std::shared_ptr<GuestFile>> table_;
    std::set<int> cloexec_;
    int next_free_ = 0;  // every descriptor below it is in use
};

}  // namespace emu
