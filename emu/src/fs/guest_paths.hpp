// Guest paths as the host resolves them. Without --root the guest sees the host's / (as under
// qemu-user). With --root DIR (or after chroot) every path is resolved by the host kernel inside
// DIR (openat2 with RESOLVE_IN_ROOT and RESOLVE_NO_MAGICLINKS): "..", absolute symlinks and
// /proc magic links cannot leave it, from / , from the working directory or from a directory
// descriptor alike. In both modes /proc is generated (fs/virtual_fs.hpp), never the host's: a
// path that reaches the host's procfs some other way (a symlink, a bind mount) is ENOENT, and so
// is a device node other than the /dev devices every guest is given (unless --host-devices).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "fs/virtual_fs.hpp"

namespace emu {

class Process;
struct FsState;

// A host descriptor closed with its owner.
class OwnedFd {
public:
    OwnedFd() = default;
    explicit OwnedFd(int fd) : fd_(fd) {}
    OwnedFd(OwnedFd&& other) noexcept : fd_(other.release()) {}
    OwnedFd& operator=(OwnedFd&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    OwnedFd(const OwnedFd&) = delete;
    OwnedFd& operator=(const OwnedFd&) = delete;
    ~OwnedFd() { reset(); }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// What a host *at call takes: a directory descriptor and a path in it.
struct HostPath {
    int dirfd = AT_FDCWD;
    std::string path;
    OwnedFd owned;  // a descriptor the resolution opened (dirfd or the file itself)
};

// Whether the last component is followed when it is a symbolic link (stat, open, chmod...) or
// named itself (lstat, unlink, rename, readlink, mkdir...).
enum class Final : std::uint8_t { Follow, NoFollow };
// What the caller does with the path: look at it (stat, open, exec) or change the name space or
// the file's metadata (unlink, mkdir, rename, chmod...). Generated /proc nodes and the /dev
// devices cannot be changed (EPERM).
enum class Purpose : std::uint8_t { Inspect, Change };

// The guest's absolute path of `path` relative to the guest directory descriptor `dirfd` (or
// AT_FDCWD): 0 or -errno (EBADF, ENOTDIR, ENOENT).
std::int64_t guest_absolute_path(Process& p, int dirfd, const std::string& path, std::string& out);
// Looks `path` up in the virtual trees (/proc, /dev), following their links to other guest
// paths. Kind::Host means the host resolves it: `path` of the result is the absolute guest path.
VirtualLookup lookup_path(Process& p, int dirfd, const std::string& path, Final final);

// Resolves `path` for a host *at call: 0, or a negative errno (EBADF, ENOTDIR, ENOENT, ELOOP,
// EXDEV...). Generated nodes are refused (EACCES to look at through a host call, EPERM to change);
// callers that serve them (open, stat, readlink, access, chdir) use lookup_path first.
std::int64_t resolve_path(Process& p, int dirfd, const std::string& path, HostPath& out,
                          Final final = Final::Follow, Purpose purpose = Purpose::Inspect);
// Opens the absolute guest path `path` (a Kind::Host lookup) with open(2) flags inside the
// guest's root: a host descriptor or -errno. Host /proc files and device nodes other than the
// given ones are never opened (ENOENT), however the path reaches them.
int open_host_path(Process& p, const std::string& path, int flags, unsigned mode);
// The host's absolute path of a resolved path (for names shown to the guest and in reports).
std::string host_path_of(const HostPath& hp);
// The host path a host descriptor names ("" if none); "pipe:[N]" and the like for non-files.
std::string host_path_of_fd(int fd);
// A host path as the guest sees it inside its root ("" when it is outside).
std::string guest_view_of_host_path(Process& p, const std::string& host);
// getcwd: the task's working directory as the guest sees it (inside its root).
std::string guest_cwd(Process& p);
std::string guest_cwd_of(Process& p, const FsState& fs);

}  // namespace emu
