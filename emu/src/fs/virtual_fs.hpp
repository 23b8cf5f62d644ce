// The trees mmuemu generates instead of showing the host's: /proc, built from the MMU and the
// task model, and the /dev entries every guest is given (null, zero, full, random, urandom, tty,
// the standard streams and /dev/fd). A guest path is looked up here, lexically, before the host
// sees it; anything under /proc that is not generated does not exist (ENOENT).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fs/guest_files.hpp"

namespace emu {

class Process;

// A generated file, directory or symbolic link.
struct VirtualNode {
    enum class Type : std::uint8_t { File, Directory, Symlink };
    // What a file reads: generated text, or a process's memory (pagemap words, /proc/PID/mem).
    // UserfaultfdDevice: /dev/userfaultfd, a character device answering USERFAULTFD_IOC_NEW.
    enum class Data : std::uint8_t { Text, Pagemap, Mem, ClearRefs, UserfaultfdDevice };
    using Entry = DirectoryEntry;

    Type type = Type::File;
    Data data = Data::Text;
    std::string path;       // its guest path, normalized ("/proc/12/maps")
    unsigned mode = 0444;   // permission bits, as Linux shows them
    std::string text;       // File: the contents; Symlink: what readlink answers
    int tgid = 0;           // Pagemap, Mem, ClearRefs: whose memory
    std::vector<Entry> entries;  // Directory: without "." and ".."
    std::uint64_t size = 0;      // what stat shows (Linux: 64 for a descriptor link)

    std::uint64_t inode() const;
    unsigned st_mode() const;
};

// What a guest path names before the host resolves anything.
struct VirtualLookup {
    enum class Kind : std::uint8_t {
        Host,       // not a virtual path: the host resolves it inside the guest's root
        Node,       // a generated node
        GuestPath,  // continue with another guest path (/proc/PID/cwd/..., /dev/stdin)
        HostFile,   // a host file mmuemu names for the guest (a descriptor's file, a device)
        OpenFile,   // /proc/PID/fd/N of a file that has no host descriptor
        Error,
    };
    Kind kind = Kind::Host;
    int error = 0;
    VirtualNode node;
    std::string path;                  // GuestPath: the guest path; HostFile: the host path
    bool device = false;               // HostFile: one of the /dev devices (never changed)
    std::shared_ptr<GuestFile> file;   // OpenFile
};

// Looks up the absolute guest path `path`; `follow` says whether a final symbolic link is
// followed (stat, open) or named itself (lstat, readlink, unlink).
VirtualLookup lookup_virtual(Process& p, const std::string& path, bool follow);
// `path` with ".", ".." and repeated slashes removed, as components ("/" is none).
std::vector<std::string> path_components(const std::string& path);
// What /proc/PID/fd/N shows for a descriptor's file.
std::string describe_open_file(Process& p, const GuestFile& f);

}  // namespace emu
