// Guest paths as the host resolves them. Without --root the guest sees the host's / (as under
// qemu-user). With --root DIR (or after chroot) every path is resolved by the host kernel inside
// DIR (openat2 with RESOLVE_IN_ROOT and RESOLVE_NO_MAGICLINKS): "..", absolute symlinks and
// /proc magic links cannot leave it, from / , from the working directory or from a directory
// descriptor alike.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace emu {

class Process;

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
    OwnedFd owned;  // a descriptor the resolution opened (dirfd or the magic link's target)
};

// Whether the last component is followed when it is a symbolic link (stat, open, chmod...) or
// named itself (lstat, unlink, rename, readlink, mkdir...).
enum class Final : std::uint8_t { Follow, NoFollow };

// Resolves `path` (relative to the guest directory descriptor `dirfd`, or AT_FDCWD) for a host
// *at call: 0, or a negative errno (EBADF, ENOTDIR, ENOENT, ELOOP, EXDEV...).
std::int64_t resolve_path(Process& p, int dirfd, const std::string& path, HostPath& out,
                          Final final = Final::Follow);
// Opens `path` with open(2) flags inside the guest's root: a host descriptor or -errno.
int open_guest_path(Process& p, int dirfd, const std::string& path, int flags, unsigned mode);
// The host's absolute path of a resolved path (for names shown to the guest and in reports).
std::string host_path_of(const HostPath& hp);
// getcwd: the task's working directory as the guest sees it (inside its root).
std::string guest_cwd(Process& p);

}  // namespace emu
