#include "fs/guest_paths.hpp"

#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdio>
#include <set>

#include "machine/process.hpp"

namespace emu {

namespace {

// A host path inside `root` as the guest sees it ("" when it is not inside).
std::string inside_root(const std::string& host, const std::string& root) {
    if (root == "/") return host;
    if (host.compare(0, root.size(), root) != 0) return "";
    if (host.size() == root.size()) return "/";
    return host[root.size()] == '/' ? host.substr(root.size()) : "";
}

// The directory the guest's paths start from: its root, or the host's / without --root.
int root_descriptor(Process& p) {
    static const int host_root = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return p.fs().root_fd >= 0 ? p.fs().root_fd : host_root;
}

// The character and block devices a guest may open: the /dev devices it is given and the
// terminals mmuemu's own standard streams are on.
bool device_allowed(Process& p, const struct stat& st) {
    if (p.options().host_devices) return true;
    static const std::set<dev_t> allowed = [] {
        std::set<dev_t> out;
        struct stat dev;
        for (const char* path : {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"})
            if (::stat(path, &dev) == 0 && S_ISCHR(dev.st_mode)) out.insert(dev.st_rdev);
        for (int fd = 0; fd < 3; ++fd)
            if (::fstat(fd, &dev) == 0 && S_ISCHR(dev.st_mode)) out.insert(dev.st_rdev);
        return out;
    }();
    return S_ISCHR(st.st_mode) && allowed.count(st.st_rdev) != 0;
}

// Whether a host descriptor the guest's path led to may be used: never the host's procfs (its
// files describe mmuemu, and its magic links reach anything), never a device node it was not
// given.
int check_reachable(Process& p, int fd, bool opening) {
    struct statfs fs;
    if (::fstatfs(fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) return -ENOENT;
    struct stat st;
    if (opening && ::fstat(fd, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && !device_allowed(p, st))
        return -ENOENT;
    return 0;
}

// openat2 from the guest's root, which ".." and absolute symlinks cannot leave; `rel` has no
// leading slash. Checked with check_reachable.
int open_in_root(Process& p, const std::string& rel, int flags, unsigned mode, bool opening) {
    const int root = root_descriptor(p);
    if (root < 0) return -ENOENT;
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags) | O_CLOEXEC;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
    if (fd < 0) return -errno;
    OwnedFd owned(static_cast<int>(fd));
    if (const int e = check_reachable(p, owned.get(), opening)) return e;
    return owned.release();
}

// An absolute guest path in the form openat2 resolves from the root descriptor.
std::string relative_to_root(const std::string& absolute) {
    const auto first = absolute.find_first_not_of('/');
    return first == std::string::npos ? "." : absolute.substr(first);
}

// Resolves the absolute guest path `absolute` on the host.
std::int64_t host_resolve(Process& p, const std::string& absolute, HostPath& out, Final final) {
    std::string rel = relative_to_root(absolute);
    if (final == Final::Follow) {
        // The file itself, found inside the root; the host call then reaches it through the
        // descriptor's /proc/self/fd link (which names exactly that file).
        const int fd = open_in_root(p, rel, O_PATH, 0, false);
        if (fd < 0) return fd;
        out.owned.reset(fd);
        out.dirfd = AT_FDCWD;
        out.path = "/proc/self/fd/" + std::to_string(fd);
        return 0;
    }
    // The directory that holds the last component, found inside the root; the component itself
    // is named in it (never followed).
    while (rel.size() > 1 && rel.back() == '/') rel.pop_back();
    const auto slash = rel.rfind('/');
    const std::string parent = slash == std::string::npos ? "." : rel.substr(0, slash);
    const std::string leaf = slash == std::string::npos ? rel : rel.substr(slash + 1);
    const int fd = open_in_root(p, parent, O_PATH | O_DIRECTORY, 0, false);
    if (fd < 0) return fd;
    out.owned.reset(fd);
    out.dirfd = fd;
    out.path = leaf;
    return 0;
}

}  // namespace

std::string host_path_of_fd(int fd) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const long n = ::readlink(link, target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

std::string guest_view_of_host_path(Process& p, const std::string& host) { return inside_root(host, p.fs().root); }

std::int64_t guest_absolute_path(Process& p, int dirfd, const std::string& path, std::string& out) {
    if (path.empty()) return -ENOENT;
    if (path[0] == '/') {
        out = path;
        return 0;
    }
    std::string base;
    if (dirfd == AT_FDCWD) {
        base = guest_cwd(p);
    } else {
        auto f = p.files().get(dirfd);
        if (!f) return -EBADF;
        if (f->kind == GuestFile::Kind::Generated && f->directory) {
            base = f->path;
        } else {
            if (f->host_fd < 0) return -ENOTDIR;
            base = inside_root(host_path_of_fd(f->host_fd), p.fs().root);
        }
    }
    if (base.empty()) return -ENOENT;  // a directory outside the root: nothing is there
    out = base + "/" + path;
    return 0;
}

VirtualLookup lookup_path(Process& p, int dirfd, const std::string& path, Final final) {
    std::string absolute;
    if (const std::int64_t e = guest_absolute_path(p, dirfd, path, absolute)) {
        VirtualLookup v;
        v.kind = VirtualLookup::Kind::Error;
        v.error = static_cast<int>(-e);
        return v;
    }
    // Links inside the virtual trees lead to other guest paths; 40 hops make ELOOP, as in Linux.
    for (int hops = 0; hops < 40; ++hops) {
        VirtualLookup v = lookup_virtual(p, absolute, final == Final::Follow);
        if (v.kind == VirtualLookup::Kind::Host) v.path = absolute;
        if (v.kind != VirtualLookup::Kind::GuestPath) return v;
        absolute = v.path;
    }
    VirtualLookup loop;
    loop.kind = VirtualLookup::Kind::Error;
    loop.error = ELOOP;
    return loop;
}

std::int64_t resolve_path(Process& p, int dirfd, const std::string& path, HostPath& out, Final final, Purpose purpose) {
    VirtualLookup v = lookup_path(p, dirfd, path, final);
    using Kind = VirtualLookup::Kind;
    switch (v.kind) {
    case Kind::Error: return -v.error;
    case Kind::Node:
    case Kind::OpenFile: return purpose == Purpose::Change ? -EPERM : -EACCES;
    case Kind::HostFile:
        if (v.device && purpose == Purpose::Change) return -EPERM;
        out.dirfd = AT_FDCWD;
        out.path = v.path;
        return 0;
    default: return host_resolve(p, v.path, out, final);
    }
}

int open_host_path(Process& p, const std::string& path, int flags, unsigned mode) {
    const std::string rel = relative_to_root(path);
    // What the path names is checked before it is opened (opening a device can act on it).
    const int probe = open_in_root(p, rel, O_PATH | (flags & O_NOFOLLOW), 0, false);
    if (probe >= 0) {
        OwnedFd owned(probe);
        if (const int e = check_reachable(p, probe, true)) return e;
        if ((flags & O_CREAT) && (flags & O_EXCL)) return -EEXIST;
    } else if (probe != -ENOENT || !(flags & O_CREAT)) {
        return probe;
    }
    return open_in_root(p, rel, flags, mode, true);
}

std::string host_path_of(const HostPath& hp) {
    if (hp.path.rfind("/proc/self/fd/", 0) == 0) return host_path_of_fd(std::stoi(hp.path.substr(14)));
    if (hp.dirfd == AT_FDCWD || (!hp.path.empty() && hp.path[0] == '/')) return hp.path;
    const std::string dir = host_path_of_fd(hp.dirfd);
    if (dir.empty()) return hp.path;
    return hp.path.empty() ? dir : dir + "/" + hp.path;
}

std::string guest_cwd_of(Process& p, const FsState& fs) {
    if (!fs.virtual_cwd.empty()) return fs.virtual_cwd;
    const std::string cwd = inside_root(host_path_of_fd(fs.cwd_fd), p.fs().root);
    return cwd.empty() ? "/" : cwd;
}

std::string guest_cwd(Process& p) { return guest_cwd_of(p, p.fs()); }

}  // namespace emu
