#include "fs/guest_paths.hpp"

#include <linux/openat2.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdio>

#include "machine/process.hpp"

namespace emu {

namespace {

bool confined(Process& p) { return p.fs().root != "/"; }

// The host path a descriptor names (its /proc/self/fd link).
std::string host_path_of_fd(int fd) {
    char link[64], target[4096];
    std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const long n = ::readlink(link, target, sizeof target - 1);
    return n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string();
}

// A host path inside `root` as the guest sees it ("" when it is not inside).
std::string inside_root(const std::string& host, const std::string& root) {
    if (root == "/") return host;
    if (host.compare(0, root.size(), root) != 0) return "";
    if (host.size() == root.size()) return "/";
    return host[root.size()] == '/' ? host.substr(root.size()) : "";
}

// The guest's absolute path for `path` relative to `dirfd`, without the leading slashes (the
// form openat2 resolves from the root descriptor): 0 or -errno.
std::int64_t path_from_root(Process& p, int dirfd, const std::string& path, std::string& out) {
    if (path.empty()) return -ENOENT;
    std::string guest = path;
    if (path[0] != '/') {
        std::string base;
        if (dirfd == AT_FDCWD) {
            base = guest_cwd(p);
        } else {
            auto f = p.files().get(dirfd);
            if (!f) return -EBADF;
            if (f->host_fd < 0) return -ENOTDIR;
            base = inside_root(host_path_of_fd(f->host_fd), p.fs().root);
        }
        if (base.empty()) return -ENOENT;  // a directory outside the root: nothing is there
        guest = base + "/" + path;
    }
    const auto first = guest.find_first_not_of('/');
    out = first == std::string::npos ? "." : guest.substr(first);
    return 0;
}

int openat2_in_root(Process& p, const std::string& rel, int flags, unsigned mode) {
    const int root = p.fs().root_fd;
    if (root < 0) return -ENOENT;
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags) | O_CLOEXEC;
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how);
    return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

std::int64_t resolve_path(Process& p, int dirfd, const std::string& path, HostPath& out, Final final) {
    if (!confined(p)) {
        // The host's view. /proc/PID of the calling guest process is the host's /proc/self (a
        // directory, never the pid of mmuemu).
        const std::string own = "/proc/" + std::to_string(p.group().tgid);
        if (path.compare(0, own.size(), own) == 0 && (path.size() == own.size() || path[own.size()] == '/')) {
            out.dirfd = AT_FDCWD;
            out.path = "/proc/self/" + path.substr(std::min(path.size(), own.size() + 1));
            return 0;
        }
        if (!path.empty() && path[0] == '/') {
            out.dirfd = AT_FDCWD;
            out.path = path;
            return 0;
        }
        if (dirfd == AT_FDCWD) {
            out.dirfd = p.fs().cwd_fd >= 0 ? p.fs().cwd_fd : AT_FDCWD;
            out.path = path;
            return 0;
        }
        auto f = p.files().get(dirfd);
        if (!f) return -EBADF;
        if (f->host_fd < 0) return -ENOTDIR;
        out.dirfd = f->host_fd;
        out.path = path;
        return 0;
    }
    std::string rel;
    if (const std::int64_t e = path_from_root(p, dirfd, path, rel)) return e;
    if (final == Final::Follow) {
        // The file itself, found inside the root; the host call then reaches it through the
        // descriptor's /proc/self/fd link (which names exactly that file).
        const int fd = openat2_in_root(p, rel, O_PATH, 0);
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
    const int fd = openat2_in_root(p, parent, O_PATH | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    out.owned.reset(fd);
    out.dirfd = fd;
    out.path = leaf;
    return 0;
}

int open_guest_path(Process& p, int dirfd, const std::string& path, int flags, unsigned mode) {
    if (!confined(p)) {
        HostPath hp;
        if (const std::int64_t e = resolve_path(p, dirfd, path, hp)) return static_cast<int>(e);
        const int fd = ::openat(hp.dirfd, hp.path.c_str(), flags | O_CLOEXEC, mode);
        return fd < 0 ? -errno : fd;
    }
    std::string rel;
    if (const std::int64_t e = path_from_root(p, dirfd, path, rel)) return static_cast<int>(e);
    return openat2_in_root(p, rel, flags, mode);
}

std::string host_path_of(const HostPath& hp) {
    if (hp.path.rfind("/proc/self/fd/", 0) == 0) return host_path_of_fd(std::stoi(hp.path.substr(14)));
    if (hp.dirfd == AT_FDCWD || (!hp.path.empty() && hp.path[0] == '/')) return hp.path;
    const std::string dir = host_path_of_fd(hp.dirfd);
    if (dir.empty()) return hp.path;
    return hp.path.empty() ? dir : dir + "/" + hp.path;
}

std::string guest_cwd(Process& p) {
    const std::string cwd = inside_root(host_path_of_fd(p.fs().cwd_fd), p.fs().root);
    return cwd.empty() ? "/" : cwd;
}

}  // namespace emu
