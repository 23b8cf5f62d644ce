// What dynamic programs ask about their files beyond stat: the file system (statfs, fstatfs),
// extended attributes (getxattr, listxattr, setxattr, removexattr and their l/f forms: ls reads
// ACLs and security labels, cp -a copies them) and close_range (Python's subprocess).
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <cerrno>
#include <string>
#include <vector>

#include "fs/guest_paths.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

using Kind = VirtualLookup::Kind;

// statfs of the generated /proc (Linux's procfs: PROC_SUPER_MAGIC, 4 KiB blocks, no blocks).
struct statfs proc_statfs() {
    struct statfs sf {};
    sf.f_type = 0x9fa0;
    sf.f_bsize = sf.f_frsize = 4096;
    sf.f_namelen = 255;
    sf.f_flags = ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME;
    return sf;
}

// The host path a guest path names, or the generated node it names (`generated` set).
std::int64_t host_path_for(Process& p, std::uint64_t path_addr, Final final, std::string& out,
                           bool& generated) {
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    const VirtualLookup v = lookup_path(p, AT_FDCWD, path, final);
    if (v.kind == Kind::Error) return err(v.error);
    generated = v.kind == Kind::Node || v.kind == Kind::OpenFile;
    if (generated) return 0;
    HostPath hp;
    if (const std::int64_t e = resolve_path(p, AT_FDCWD, v.kind == Kind::GuestPath ? v.path : path, hp, final))
        return e;
    out = host_path_of(hp);
    return 0;
}

std::int64_t do_statfs(Process& p, const SyscallArgs& s) {
    struct statfs sf {};
    if (s.nr == SYS_fstatfs) {
        auto f = p.files().get(static_cast<int>(s.a[0]));
        if (!f) return err(EBADF);
        if (f->host_fd < 0) sf = proc_statfs();
        else if (::fstatfs(f->host_fd, &sf) != 0) return err(errno);
    } else {
        std::string host;
        bool generated = false;
        if (const std::int64_t e = host_path_for(p, s.a[0], Final::Follow, host, generated)) return e;
        if (generated) sf = proc_statfs();
        else if (::statfs(host.c_str(), &sf) != 0) return err(errno);
    }
    return put(p, s.a[1], sf);
}

// The bytes of an xattr call's answer go back to the guest when it gave room for them.
std::int64_t copy_out(Process& p, std::uint64_t addr, std::uint64_t size, const std::vector<char>& buf, long n) {
    if (n < 0) return err(errno);
    if (size && n > 0 && !p.as().copy_to_user(addr, buf.data(), static_cast<std::size_t>(n))) return err(EFAULT);
    return n;
}

// getxattr/lgetxattr/fgetxattr and listxattr/llistxattr/flistxattr, answered by the host file
// (generated /proc files have none: EOPNOTSUPP, as procfs).
std::int64_t do_xattr(Process& p, const SyscallArgs& s) {
    const bool list = s.nr == SYS_listxattr || s.nr == SYS_llistxattr || s.nr == SYS_flistxattr;
    const bool by_fd = s.nr == SYS_fgetxattr || s.nr == SYS_flistxattr;
    const Final final = (s.nr == SYS_lgetxattr || s.nr == SYS_llistxattr) ? Final::NoFollow : Final::Follow;
    const std::uint64_t value = list ? s.a[1] : s.a[2], size = list ? s.a[2] : s.a[3];
    constexpr std::uint64_t kXattrSizeMax = 65536;
    std::string name;
    if (!list && !read_string(p, s.a[1], name)) return err(EFAULT);
    if (!list && (name.empty() || name.size() > 255)) return err(name.empty() ? ENODATA : ERANGE);
    std::vector<char> buf(std::min(size, kXattrSizeMax));
    if (by_fd) {
        auto f = p.files().get(static_cast<int>(s.a[0]));
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EOPNOTSUPP);
        const long n = list ? ::flistxattr(f->host_fd, buf.data(), buf.size())
                            : ::fgetxattr(f->host_fd, name.c_str(), buf.data(), buf.size());
        return copy_out(p, value, size, buf, n);
    }
    std::string host;
    bool generated = false;
    if (const std::int64_t e = host_path_for(p, s.a[0], final, host, generated)) return e;
    if (generated) return err(EOPNOTSUPP);
    long n;
    if (final == Final::NoFollow)
        n = list ? ::llistxattr(host.c_str(), buf.data(), buf.size())
                 : ::lgetxattr(host.c_str(), name.c_str(), buf.data(), buf.size());
    else
        n = list ? ::listxattr(host.c_str(), buf.data(), buf.size())
                 : ::getxattr(host.c_str(), name.c_str(), buf.data(), buf.size());
    return copy_out(p, value, size, buf, n);
}

// setxattr/lsetxattr/fsetxattr and removexattr/lremovexattr/fremovexattr on the host file. The
// flags, the name and the value are taken from the guest before the path is looked up, as Linux
// does: unknown flags EINVAL, an empty or over-long name ERANGE, a value over 64 KiB E2BIG.
// Generated /proc files take none (EOPNOTSUPP, as procfs).
std::int64_t do_change_xattr(Process& p, const SyscallArgs& s) {
    const bool remove = s.nr == SYS_removexattr || s.nr == SYS_lremovexattr || s.nr == SYS_fremovexattr;
    const bool by_fd = s.nr == SYS_fsetxattr || s.nr == SYS_fremovexattr;
    const Final final = (s.nr == SYS_lsetxattr || s.nr == SYS_lremovexattr) ? Final::NoFollow : Final::Follow;
    constexpr std::uint64_t kXattrSizeMax = 65536, kKnownFlags = XATTR_CREATE | XATTR_REPLACE;
    const int flags = remove ? 0 : static_cast<int>(s.a[4]);
    if (!remove && (s.a[4] & ~kKnownFlags)) return err(EINVAL);
    std::string name;
    if (!read_string(p, s.a[1], name)) return err(EFAULT);
    if (name.empty() || name.size() > 255) return err(ERANGE);
    std::vector<char> value;
    if (!remove) {
        if (s.a[3] > kXattrSizeMax) return err(E2BIG);
        value.resize(s.a[3]);
        if (!value.empty() && !p.as().copy_from_user(value.data(), s.a[2], value.size())) return err(EFAULT);
    }
    if (by_fd) {
        auto f = p.files().get(static_cast<int>(s.a[0]));
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EOPNOTSUPP);
        return host_result(remove ? ::fremovexattr(f->host_fd, name.c_str())
                                  : ::fsetxattr(f->host_fd, name.c_str(), value.data(), value.size(), flags));
    }
    std::string host;
    bool generated = false;
    if (const std::int64_t e = host_path_for(p, s.a[0], final, host, generated)) return e;
    if (generated) return err(EOPNOTSUPP);
    const char* path = host.c_str();
    if (final == Final::NoFollow)
        return host_result(remove ? ::lremovexattr(path, name.c_str())
                                  : ::lsetxattr(path, name.c_str(), value.data(), value.size(), flags));
    return host_result(remove ? ::removexattr(path, name.c_str())
                              : ::setxattr(path, name.c_str(), value.data(), value.size(), flags));
}

// close_range(first, last, flags): EINVAL for unknown flags or first > last; closes (or marks
// close-on-exec) every open descriptor in the range, after unsharing the table if asked.
std::int64_t do_close_range(Process& p, const SyscallArgs& s) {
    constexpr std::uint64_t kUnshare = 2, kCloexec = 4;
    const auto first = static_cast<std::uint32_t>(s.a[0]), last = static_cast<std::uint32_t>(s.a[1]);
    if ((s.a[2] & ~(kUnshare | kCloexec)) || first > last) return err(EINVAL);
    if (s.a[2] & kUnshare) p.task().files = p.files().clone();
    std::vector<int> fds;
    for (const auto& [fd, file] : p.files().table())
        if (static_cast<std::uint32_t>(fd) >= first && static_cast<std::uint32_t>(fd) <= last) fds.push_back(fd);
    for (const int fd : fds) {
        if (s.a[2] & kCloexec) p.files().set_cloexec(fd, true);
        else {
            release_posix_locks(p, fd);
            p.files().close(fd);
        }
    }
    return 0;
}

}  // namespace

std::optional<std::int64_t> file_metadata_syscall(Process& p, const SyscallArgs& s) {
    switch (s.nr) {
    case SYS_statfs:
    case SYS_fstatfs: return do_statfs(p, s);
    case SYS_getxattr: case SYS_lgetxattr: case SYS_fgetxattr:
    case SYS_listxattr: case SYS_llistxattr: case SYS_flistxattr: return do_xattr(p, s);
    case SYS_setxattr: case SYS_lsetxattr: case SYS_fsetxattr:
    case SYS_removexattr: case SYS_lremovexattr: case SYS_fremovexattr: return do_change_xattr(p, s);
    case SYS_close_range: return do_close_range(p, s);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
