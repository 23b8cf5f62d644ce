// inotify on the host's files: the descriptor is the host's own inotify instance (kept
// non-blocking on the host, so a guest read waits as for a pipe), and a watch is added on the
// host file the guest path resolves to inside its root. Events name entries relative to the
// watched directory, so nothing of the host's paths reaches the guest.
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "fs/guest_paths.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

std::int64_t do_inotify_init(Process& p, std::uint64_t flags) {
    if (flags & ~static_cast<std::uint64_t>(IN_CLOEXEC | IN_NONBLOCK)) return err(EINVAL);
    const int fd = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (fd < 0) return err(errno);
    auto f = std::make_shared<GuestFile>();
    f->host_fd = fd;
    f->host_nonblocking = true;
    f->nonblocking = flags & IN_NONBLOCK;
    f->open_flags = O_RDONLY;
    const int guest_fd = install_fd(p, f, 0, flags & IN_CLOEXEC);
    return guest_fd < 0 ? err(EMFILE) : guest_fd;
}

// The guest path is resolved inside the root (IN_DONT_FOLLOW: the last component is not
// followed); generated /proc files cannot be watched (EACCES).
std::int64_t do_inotify_add_watch(Process& p, int fd, std::uint64_t path_addr, std::uint32_t mask) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    const Final final = (mask & IN_DONT_FOLLOW) ? Final::NoFollow : Final::Follow;
    HostPath hp;
    if (const std::int64_t e = resolve_path(p, AT_FDCWD, path, hp, final)) return e;
    if (f->host_fd < 0) return err(EINVAL);  // not an inotify descriptor
    return host_result(::inotify_add_watch(f->host_fd, host_path_of(hp).c_str(), mask));
}

}  // namespace

std::optional<std::int64_t> inotify_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_inotify_init: return do_inotify_init(p, 0);
    case SYS_inotify_init1: return do_inotify_init(p, a[0]);
    case SYS_inotify_add_watch:
        return do_inotify_add_watch(p, static_cast<int>(a[0]), a[1], static_cast<std::uint32_t>(a[2]));
    case SYS_inotify_rm_watch: {
        auto f = p.files().get(static_cast<int>(a[0]));
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EINVAL);
        return host_result(::inotify_rm_watch(f->host_fd, static_cast<int>(a[1])));
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
