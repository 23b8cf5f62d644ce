#include "fs/virtual_fs.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <functional>

#include "fs/guest_paths.hpp"
#include "fs/proc_files.hpp"
#include "machine/process.hpp"

namespace emu {

namespace {

using Components = std::vector<std::string>;
using Kind = VirtualLookup::Kind;

VirtualLookup error(int e) {
    VirtualLookup v;
    v.kind = Kind::Error;
    v.error = e;
    return v;
}

std::string join(const Components& c, std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) out += "/" + c[i];
    return out.empty() ? "/" : out;
}

std::string rest_of(const Components& c, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < c.size(); ++i) out += "/" + c[i];
    return out;
}

VirtualLookup node(VirtualNode n) {
    VirtualLookup v;
    v.kind = Kind::Node;
    v.node = std::move(n);
    return v;
}

VirtualLookup directory(const Components& c, std::size_t end, std::vector<VirtualNode::Entry> entries,
                        unsigned mode = 0555) {
    VirtualNode n;
    n.type = VirtualNode::Type::Directory;
    n.path = join(c, 0, end);
    n.mode = mode;
    n.entries = std::move(entries);
    return node(std::move(n));
}

VirtualLookup text_file(const Components& c, std::size_t end, std::string text, unsigned mode = 0444) {
    VirtualNode n;
    n.path = join(c, 0, end);
    n.mode = mode;
    n.text = std::move(text);
    return node(std::move(n));
}

VirtualLookup symlink_node(const Components& c, std::size_t end, std::string target) {
    VirtualNode n;
    n.type = VirtualNode::Type::Symlink;
    n.path = join(c, 0, end);
    n.mode = 0777;
    n.text = std::move(target);
    return node(std::move(n));
}

VirtualLookup guest_path(std::string path) {
    VirtualLookup v;
    v.kind = Kind::GuestPath;
    v.path = std::move(path);
    return v;
}

VirtualLookup host_file(std::string path, bool device) {
    VirtualLookup v;
    v.kind = Kind::HostFile;
    v.path = std::move(path);
    v.device = device;
    return v;
}

bool is_number(const std::string& s) {
    return !s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

bool in_list(const char* const* list, const std::string& name) {
    for (; *list; ++list)
        if (name == *list) return true;
    return false;
}

// A symbolic link at c[i]: named itself when it is the last component and not followed, else
// followed to `target` (a guest path) with the components after it.
VirtualLookup link_to(const Components& c, std::size_t i, bool follow, const std::string& target) {
    if (i + 1 == c.size() && !follow) return symlink_node(c, i + 1, target);
    return guest_path(target + rest_of(c, i + 1));
}

std::shared_ptr<Task> first_live_thread(const ThreadGroup& g) {
    std::shared_ptr<Task> any;
    for (const auto& w : g.threads)
        if (auto t = w.lock()) {
            if (t->alive()) return t;
            if (!any) any = t;
        }
    return any;
}

// /proc/PID/fd/N: the descriptor's file, reached through the descriptor itself (as Linux's magic
// link does), so a deleted file or a pipe is reached too.
VirtualLookup fd_entry(Process& p, Task& t, const Components& c, std::size_t i, bool follow) {
    if (!t.files || !is_number(c[i])) return error(ENOENT);
    auto f = t.files->get(std::stoi(c[i]));
    if (!f) return error(ENOENT);
    if (i + 1 == c.size() && !follow) {
        VirtualLookup v = symlink_node(c, i + 1, describe_open_file(p, *f));
        // Linux shows the access mode of the descriptor in the link's permission bits.
        const int host_flags = f->host_fd >= 0 ? ::fcntl(f->host_fd, F_GETFL) : -1;
        const int access = (host_flags >= 0 ? host_flags : f->open_flags) & O_ACCMODE;
        v.node.mode = 0100 | (access != O_WRONLY ? 0400 : 0) | (access != O_RDONLY ? 0200 : 0);
        v.node.size = 64;
        return v;
    }
    // The file itself is reached through the descriptor; a path below it (a directory's) is a
    // guest path again, so that ".." cannot climb out of the root through the descriptor.
    if (f->host_fd >= 0 && i + 1 == c.size()) return host_file("/proc/self/fd/" + std::to_string(f->host_fd), false);
    if (f->host_fd >= 0) {
        const std::string dir = guest_view_of_host_path(p, host_path_of_fd(f->host_fd));
        return dir.empty() ? error(ENOENT) : guest_path(dir + rest_of(c, i + 1));
    }
    if (i + 1 != c.size()) return error(ENOTDIR);
    VirtualLookup v;
    v.kind = Kind::OpenFile;
    v.file = f;
    return v;
}

// /proc/PID/fdinfo/N: the position, the open flags as the kernel keeps them (O_LARGEFILE is set
// for every file open() opens on a 64-bit kernel; O_CLOEXEC shows the descriptor flag), the mount
// (1: the root, 2: /proc, 0: a pipe, socket or anonymous inode) and the inode.
std::string fdinfo_text(const GuestFile& f, bool cloexec) {
    constexpr int kLargefile = 0100000;
    std::uint64_t pos = f.offset, ino = f.inode;
    int flags = f.open_flags, mount = f.kind == GuestFile::Kind::Generated ? 2 : 0;
    if (f.host_fd >= 0) {
        const off_t at = ::lseek(f.host_fd, 0, SEEK_CUR);
        pos = at >= 0 ? static_cast<std::uint64_t>(at) : 0;
        if (const int host = ::fcntl(f.host_fd, F_GETFL); host >= 0) flags = host & ~O_NONBLOCK;
        if (struct stat st {}; ::fstat(f.host_fd, &st) == 0) {
            ino = st.st_ino;
            if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISCHR(st.st_mode)) mount = 1;
        }
    }
    flags |= (f.nonblocking ? O_NONBLOCK : 0) | (cloexec ? O_CLOEXEC : 0);
    // A host descriptor's flags already carry O_LARGEFILE when open() set it (not for a pipe).
    if (f.host_fd < 0 && (f.kind == GuestFile::Kind::Generated || f.kind == GuestFile::Kind::Memfd)) flags |= kLargefile;
    char text[160];
    std::snprintf(text, sizeof text, "pos:\t%llu\nflags:\t0%o\nmnt_id:\t%d\nino:\t%llu\n",
                  static_cast<unsigned long long>(pos), static_cast<unsigned>(flags), mount,
                  static_cast<unsigned long long>(ino));
    return text;
}

std::vector<VirtualNode::Entry> fd_entries(const Task& t) {
    std::vector<VirtualNode::Entry> out;
    if (t.files)
        for (const auto& [fd, f] : t.files->table()) out.push_back({std::to_string(fd), DT_LNK});
    return out;
}

VirtualLookup process_dir(Process& p, ThreadGroup& g, Task& t, const Components& c, std::size_t i, bool follow,
                          bool thread_dir);

// /proc/PID/task and /proc/PID/task/TID.
VirtualLookup task_dir(Process& p, ThreadGroup& g, const Components& c, std::size_t i, bool follow) {
    if (i == c.size()) {
        std::vector<VirtualNode::Entry> entries;
        for (const auto& w : g.threads)
            if (auto t = w.lock(); t && (t->alive() || g.state != GroupState::Alive))
                entries.push_back({std::to_string(t->tid), DT_DIR});
        return directory(c, i, std::move(entries));
    }
    for (const auto& w : g.threads)
        if (auto t = w.lock(); t && std::to_string(t->tid) == c[i] && (t->alive() || g.state != GroupState::Alive))
            return process_dir(p, g, *t, c, i + 1, follow, true);
    return error(ENOENT);
}

std::string guest_cwd_of_task(Process& p, const Task& t) {
    return t.fs ? guest_cwd_of(p, *t.fs) : "/";
}

// /proc/PID or /proc/PID/task/TID.
VirtualLookup process_dir(Process& p, ThreadGroup& g, Task& t, const Components& c, std::size_t i, bool follow,
                          bool thread_dir) {
    if (i == c.size()) {
        std::vector<VirtualNode::Entry> entries;
        for (const char* const* leaf = proc_task_text_leaves(); *leaf; ++leaf) entries.push_back({*leaf, DT_REG});
        for (const char* name : {"cwd", "exe", "root"}) entries.push_back({name, DT_LNK});
        entries.push_back({"fd", DT_DIR});
        entries.push_back({"fdinfo", DT_DIR});
        entries.push_back({"mem", DT_REG});
        entries.push_back({"pagemap", DT_REG});
        entries.push_back({"clear_refs", DT_REG});
        if (!thread_dir) entries.push_back({"task", DT_DIR});
        std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
        return directory(c, i, std::move(entries));
    }
    const std::string& leaf = c[i];
    const bool last = i + 1 == c.size();
    const bool zombie = g.state != GroupState::Alive;
    if (in_list(proc_task_text_leaves(), leaf)) {
        if (!last) return error(ENOTDIR);
        std::string text;
        proc_task_file(p, g, t, leaf, text);
        return text_file(c, i + 1, std::move(text), leaf == "environ" || leaf == "auxv" ? 0400 : 0444);
    }
    if (leaf == "pagemap" || leaf == "mem" || leaf == "clear_refs") {
        if (!last) return error(ENOTDIR);
        VirtualLookup v = text_file(c, i + 1, "", leaf == "mem" ? 0600 : leaf == "pagemap" ? 0400 : 0200);
        v.node.data = leaf == "mem"       ? VirtualNode::Data::Mem
                      : leaf == "pagemap" ? VirtualNode::Data::Pagemap
                                          : VirtualNode::Data::ClearRefs;
        v.node.tgid = g.tgid;
        return v;
    }
    // A zombie's links lead nowhere (ENOENT), as Linux's do once the task has released them.
    if (leaf == "exe") {
        if (zombie) return error(ENOENT);
        if (last && !follow) {
            char real[PATH_MAX];
            const std::string host = ::realpath(g.exe.c_str(), real) ? real : g.exe;
            const std::string inside = guest_view_of_host_path(p, host);
            return symlink_node(c, i + 1, inside.empty() ? host : inside);
        }
        return last ? host_file(g.exe, false) : error(ENOTDIR);
    }
    if (leaf == "cwd") return zombie ? error(ENOENT) : link_to(c, i, follow, guest_cwd_of_task(p, t));
    if (leaf == "root") return zombie ? error(ENOENT) : link_to(c, i, follow, "/");
    if (leaf == "fd") {
        if (zombie) return error(ENOENT);
        if (last) {
            VirtualLookup v = directory(c, i + 1, fd_entries(t), 0500);
            v.node.size = v.node.entries.size() + 2;  // Linux: the descriptors, "." and ".."
            return v;
        }
        return fd_entry(p, t, c, i + 1, follow);
    }
    if (leaf == "fdinfo") {
        if (zombie) return error(ENOENT);
        if (last) {
            std::vector<VirtualNode::Entry> entries = fd_entries(t);
            for (auto& e : entries) e.type = DT_REG;
            return directory(c, i + 1, std::move(entries), 0555);
        }
        if (!t.files || !is_number(c[i + 1])) return error(ENOENT);
        auto f = t.files->get(std::stoi(c[i + 1]));
        if (!f) return error(ENOENT);
        if (i + 2 != c.size()) return error(ENOTDIR);
        return text_file(c, i + 2, fdinfo_text(*f, t.files->cloexec(std::stoi(c[i + 1]))));
    }
    if (leaf == "task" && !thread_dir) return task_dir(p, g, c, i + 1, follow);
    return error(ENOENT);
}

// /proc/sys: the few settings the memory manager and the task model take from it.
VirtualLookup sys_dir(Process& p, const Components& c, std::size_t i) {
    static const std::vector<std::pair<std::string, std::vector<std::string>>> tree = {
        {"kernel", {"hostname", "osrelease", "ostype", "pid_max", "threads-max"}},
        {"vm", {"max_map_count", "overcommit_memory"}},
    };
    if (i == c.size()) return directory(c, i, {{"kernel", DT_DIR}, {"vm", DT_DIR}});
    for (const auto& [dir, files] : tree) {
        if (c[i] != dir) continue;
        if (i + 1 == c.size()) {
            std::vector<VirtualNode::Entry> entries;
            for (const auto& f : files) entries.push_back({f, DT_REG});
            return directory(c, i + 1, std::move(entries));
        }
        if (std::find(files.begin(), files.end(), c[i + 1]) == files.end()) return error(ENOENT);
        if (i + 2 != c.size()) return error(ENOTDIR);
        std::string text;
        proc_machine_file(p, "sys/" + dir + "/" + c[i + 1], text);
        return text_file(c, i + 2, std::move(text), 0644);
    }
    return error(ENOENT);
}

VirtualLookup proc_root(Process& p, const Components& c) {
    std::vector<VirtualNode::Entry> entries;
    for (const char* const* leaf = proc_machine_leaves(); *leaf; ++leaf) entries.push_back({*leaf, DT_REG});
    entries.push_back({"self", DT_LNK});
    entries.push_back({"sys", DT_DIR});
    entries.push_back({"thread-self", DT_LNK});
    for (const auto& [tgid, g] : p.groups())
        if (g->state != GroupState::Reaped) entries.push_back({std::to_string(tgid), DT_DIR});
    return directory(c, 1, std::move(entries));
}

VirtualLookup proc_lookup(Process& p, const Components& c, bool follow) {
    if (c.size() == 1) return proc_root(p, c);
    const std::string& name = c[1];
    const bool last = c.size() == 2;
    const std::string self = std::to_string(p.group().tgid);
    if (name == "self") return link_to(c, 1, follow, "/proc/" + self);
    if (name == "thread-self") return link_to(c, 1, follow, "/proc/" + self + "/task/" + std::to_string(p.task().tid));
    if (name == "sys") return sys_dir(p, c, 2);
    if (in_list(proc_machine_leaves(), name)) {
        if (!last) return error(ENOTDIR);
        std::string text;
        proc_machine_file(p, name, text);
        return text_file(c, 2, std::move(text));
    }
    if (!is_number(name)) return error(ENOENT);
    const int id = std::stoi(name);
    if (auto g = p.find_group(id); g && g->state != GroupState::Reaped) {
        auto t = first_live_thread(*g);
        if (t) return process_dir(p, *g, *t, c, 2, follow, false);
    }
    // A thread's own directory is reachable by its id, though /proc does not list it.
    if (auto t = p.find_task(id); t && t->alive() && t->group) return process_dir(p, *t->group, *t, c, 2, follow, true);
    return error(ENOENT);
}

// /dev entries every guest has; the rest of /dev is the host's (device nodes refused on open).
VirtualLookup dev_lookup(const Components& c, bool follow) {
    static const char* const devices[] = {"null", "zero", "full", "random", "urandom", "tty", nullptr};
    static const char* const streams[] = {"stdin", "stdout", "stderr"};
    const std::string& name = c[1];
    if (in_list(devices, name)) return c.size() == 2 ? host_file("/dev/" + name, true) : error(ENOTDIR);
    for (int fd = 0; fd < 3; ++fd)
        if (name == streams[fd]) return link_to(c, 1, follow, "/proc/self/fd/" + std::to_string(fd));
    if (name == "fd") return link_to(c, 1, follow, "/proc/self/fd");
    if (name == "userfaultfd") {  // always generated: the guest's descriptors are mmuemu's
        if (c.size() != 2) return error(ENOTDIR);
        VirtualLookup v;
        v.kind = VirtualLookup::Kind::Node;
        v.node.path = "/dev/userfaultfd";
        v.node.data = VirtualNode::Data::UserfaultfdDevice;
        v.node.mode = 0600;
        return v;
    }
    return {};
}

// Whether the path so far ends at a link whose target is outside the generated trees (a working
// directory, a root, a descriptor's file, a standard stream): a ".." after it climbs from the
// target, as in Linux, not back into /proc.
bool leaves_generated_tree(const Components& c) {
    const std::size_t n = c.size();
    if (n == 2 && c[0] == "dev") return c[1] == "stdin" || c[1] == "stdout" || c[1] == "stderr";
    if (n < 3 || c[0] != "proc") return false;
    const bool thread = n >= 5 && c[2] == "task";
    const std::size_t leaf = thread ? 4 : 2;
    if (n == leaf + 1) return c[leaf] == "cwd" || c[leaf] == "root" || c[leaf] == "exe";
    return n == leaf + 2 && c[leaf] == "fd";
}

}  // namespace

std::uint64_t VirtualNode::inode() const {
    // Stable per path, far from the inode numbers of small real file systems.
    return (std::hash<std::string>{}(path) & 0xffffffffull) | 0x4000000000ull;
}

unsigned VirtualNode::st_mode() const {
    switch (type) {
    case Type::Directory: return S_IFDIR | mode;
    case Type::Symlink: return S_IFLNK | mode;
    default: return (data == Data::UserfaultfdDevice ? S_IFCHR : S_IFREG) | mode;
    }
}

std::vector<std::string> path_components(const std::string& path) {
    Components out;
    std::size_t pos = 0;
    bool raw = false;  // past a link that leaves the generated tree: ".." belongs to its target
    while (pos < path.size()) {
        const std::size_t next = std::min(path.find('/', pos), path.size());
        const std::string part = path.substr(pos, next - pos);
        pos = next + 1;
        if (part.empty() || part == ".") continue;
        if (part == ".." && !raw) {
            if (!out.empty()) out.pop_back();
            continue;
        }
        out.push_back(part);
        raw = raw || leaves_generated_tree(out);
    }
    return out;
}

VirtualLookup lookup_virtual(Process& p, const std::string& path, bool follow) {
    const Components c = path_components(path);
    if (c.empty()) return {};
    if (c[0] == "proc") return proc_lookup(p, c, follow);
    if (c[0] == "dev" && c.size() >= 2) return dev_lookup(c, follow);
    return {};
}

std::string describe_open_file(Process& p, const GuestFile& f) {
    switch (f.kind) {
    case GuestFile::Kind::Pidfd: return "anon_inode:[pidfd]";
    case GuestFile::Kind::Signalfd: return "anon_inode:[signalfd]";
    case GuestFile::Kind::Epoll: return "anon_inode:[eventpoll]";
    case GuestFile::Kind::Userfaultfd: return "anon_inode:[userfaultfd]";
    default: break;
    }
    if (f.host_fd < 0) return f.path;
    const std::string host = host_path_of_fd(f.host_fd);
    if (host.empty() || host[0] != '/') return host;  // pipe:[N], socket:[N], anon_inode:...
    const std::string inside = guest_view_of_host_path(p, host);
    return inside.empty() ? f.path : inside;
}

}  // namespace emu
