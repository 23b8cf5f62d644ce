// File system calls: descriptors on host files under --root, pipes, and the /proc/self files
// generated from the MMU.
#include "syscalls/syscalls.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>
#include "fs/proc_files.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452  // Linux 6.6; Debian 12's headers predate it
#endif

namespace emu::sys {

namespace {

// Resolves a path argument (Final::Follow or NoFollow for its last component); on failure returns
// from the calling system call with its errno. RESOLVE_TO_CHANGE_OR_RETURN for calls that change
// the name space or a file's metadata (generated files and /dev devices refuse: EPERM).
#define RESOLVE_OR_RETURN(out, dirfd, path, final)                                  \
    HostPath out;                                                                   \
    if (const std::int64_t resolve_error = resolve_path(p, dirfd, path, out, final)) \
        return resolve_error
#define RESOLVE_TO_CHANGE_OR_RETURN(out, dirfd, path, final)                                          \
    HostPath out;                                                                                     \
    if (const std::int64_t resolve_error = resolve_path(p, dirfd, path, out, final, Purpose::Change)) \
        return resolve_error

using Kind = VirtualLookup::Kind;

// The device number /proc files show: the host's procfs's, as a guest would see a procfs.
dev_t proc_device() {
    static const dev_t dev = [] {
        struct stat st;
        return ::stat("/proc", &st) == 0 ? st.st_dev : makedev(0, 21);
    }();
    return dev;
}

// What stat shows for a generated file (and for pidfds, signalfds and epoll descriptors).
struct stat generated_stat(unsigned mode, std::uint64_t inode, std::uint64_t size = 0, std::size_t subdirs = 0) {
    struct stat st{};
    st.st_dev = proc_device();
    st.st_ino = inode;
    st.st_mode = mode ? mode : S_IFREG | 0600;
    st.st_nlink = S_ISDIR(st.st_mode) ? 2 + subdirs : 1;
    st.st_uid = ::getuid();
    st.st_gid = ::getgid();
    st.st_size = static_cast<off_t>(size);
    st.st_blksize = 1024;
    // Linux shows the time the process (here: the machine) started.
    static const struct timespec started = [] {
        struct timespec now;
        ::clock_gettime(CLOCK_REALTIME, &now);
        const std::uint64_t ns = static_cast<std::uint64_t>(now.tv_sec) * 1000000000 +
                                 static_cast<std::uint64_t>(now.tv_nsec) - machine_uptime_ns();
        return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    }();
    st.st_atim = st.st_mtim = st.st_ctim = started;
    return st;
}

struct stat node_stat(const VirtualNode& node) {
    const auto subdirs = std::count_if(node.entries.begin(), node.entries.end(),
                                       [](const DirectoryEntry& e) { return e.type == DT_DIR; });
    return generated_stat(node.st_mode(), node.inode(), node.size, static_cast<std::size_t>(subdirs));
}

struct statx statx_of(const struct stat& st) {
    struct statx stx{};
    stx.stx_mask = STATX_BASIC_STATS;
    stx.stx_blksize = static_cast<std::uint32_t>(st.st_blksize);
    stx.stx_nlink = static_cast<std::uint32_t>(st.st_nlink);
    stx.stx_uid = st.st_uid;
    stx.stx_gid = st.st_gid;
    stx.stx_mode = static_cast<std::uint16_t>(st.st_mode);
    stx.stx_ino = st.st_ino;
    stx.stx_size = static_cast<std::uint64_t>(st.st_size);
    stx.stx_dev_major = major(st.st_dev);
    stx.stx_dev_minor = minor(st.st_dev);
    for (auto [to, from] : {std::pair{&stx.stx_atime, &st.st_atim}, {&stx.stx_mtime, &st.st_mtim}, {&stx.stx_ctime, &st.st_ctim}}) {
        to->tv_sec = from->tv_sec;
        to->tv_nsec = static_cast<std::uint32_t>(from->tv_nsec);
    }
    return stx;
}

// Who may open a generated file for writing: its owner's write bit, or root (as on /proc).
bool may_write(unsigned mode) { return (mode & 0200) || ::geteuid() == 0; }

// access() on a generated node: root may read and write anything, execute only directories.
std::int64_t node_access(const VirtualNode& node, int want) {
    const bool root = ::geteuid() == 0;
    if ((want & R_OK) && !root && !(node.mode & 0400)) return err(EACCES);
    if ((want & W_OK) && !root && !(node.mode & 0200)) return err(EACCES);
    if ((want & X_OK) && !(node.mode & 0111)) return err(EACCES);
    return 0;
}

// open() of a generated node.
std::int64_t open_node(Process& p, const VirtualNode& node, int flags) {
    const int access = flags & O_ACCMODE;
    auto file = std::make_shared<GuestFile>();
    file->kind = GuestFile::Kind::Generated;
    file->path = node.path;
    file->open_flags = flags;
    file->st_mode = node.st_mode();
    file->inode = node.inode();
    switch (node.type) {
    case VirtualNode::Type::Symlink: return err(ELOOP);  // O_NOFOLLOW on a link
    case VirtualNode::Type::Directory:
        if (access != O_RDONLY || (flags & O_CREAT)) return err(EISDIR);
        file->directory = true;
        file->entries = node.entries;
        break;
    case VirtualNode::Type::File:
        if (flags & O_DIRECTORY) return err(ENOTDIR);
        if ((flags & O_CREAT) && (flags & O_EXCL)) return err(EEXIST);
        if (access != O_RDONLY && !may_write(node.mode)) return err(EACCES);
        file->generated = node.text;
        file->pagemap = node.data == VirtualNode::Data::Pagemap;
        file->mem = node.data == VirtualNode::Data::Mem;
        file->clear_refs = node.data == VirtualNode::Data::ClearRefs;
        file->memory_of = node.tgid;
        file->userfaultfd_device = node.data == VirtualNode::Data::UserfaultfdDevice;
        break;
    }
    file->nonblocking = flags & O_NONBLOCK;
    return install_fd(p, file, 0, flags & O_CLOEXEC);
}

// open() of /proc/PID/fd/N when N has no host descriptor: a generated file is opened afresh from
// its path, as Linux opens /proc files anew; an anonymous inode cannot be reopened (ENXIO).
std::int64_t reopen_generated(Process& p, const GuestFile& f, int flags) {
    if (f.kind != GuestFile::Kind::Generated) return err(ENXIO);
    const VirtualLookup v = lookup_virtual(p, f.path, true);
    if (v.kind != Kind::Node) return err(ENOENT);  // its process is gone
    return open_node(p, v.node, flags);
}

// Whether `st` is the program file of a live guest process (Linux: ETXTBSY for writers).
bool running_program(Process& p, const struct stat& st) {
    for (const auto& [tgid, g] : p.groups())
        if (g->state == GroupState::Alive && g->exe_dev == st.st_dev && g->exe_ino == st.st_ino) return true;
    return false;
}

// A host file opened for the guest: a FIFO is opened non-blocking on the host (its other end is
// usually another guest task): a read end opens at once and its reads wait for data; a blocking
// open of a write end waits, task by task, until a reader is there (ENXIO until then).
std::int64_t open_host_file(Process& p, const VirtualLookup& v, int flags, int mode) {
    auto file = std::make_shared<GuestFile>();
    file->open_flags = flags;
    // The umask is the guest task's (CLONE_FS); mmuemu's own is 0.
    const mode_t create_mode = static_cast<mode_t>(mode) & ~static_cast<mode_t>(p.fs().umask) & 07777;
    bool fifo = false;
    HostPath probe;
    const bool found = v.kind == Kind::HostFile
                           ? (probe.path = v.path, true)
                           : resolve_path(p, AT_FDCWD, v.path, probe, Final::Follow) == 0;
    if (struct stat st; found && ::fstatat(probe.dirfd, probe.path.c_str(), &st, 0) == 0) {
        fifo = S_ISFIFO(st.st_mode);
        // A program some guest process is running cannot be opened for writing.
        if ((flags & O_ACCMODE) != O_RDONLY && S_ISREG(st.st_mode) && running_program(p, st)) return err(ETXTBSY);
    }
    const int host_flags = flags | (fifo ? O_NONBLOCK : 0);
    int fd;
    if (v.kind == Kind::HostFile) {
        fd = ::open(v.path.c_str(), host_flags | O_CLOEXEC, create_mode);
        if (fd < 0) fd = -errno;
    } else {
        fd = open_host_path(p, v.path, host_flags, create_mode);
    }
    if (fd == -ENXIO && fifo && !(flags & O_NONBLOCK)) {
        BlockState b;
        b.deadline_ns = monotonic_ns() + 1000000;  // look again in 1 ms
        return p.block(std::move(b));
    }
    if (fd < 0) return fd;
    // O_TRUNC emptied the file: every mapping of it loses its pages (SIGBUS from then on).
    if (struct stat st; (flags & O_TRUNC) && ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        p.file_objects().after_truncate(st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size));
    file->host_fd = fd;
    file->null_device = is_null_device(fd);
    file->host_nonblocking = fifo;
    file->path = v.path;
    file->nonblocking = flags & O_NONBLOCK;
    return install_fd(p, file, 0, flags & O_CLOEXEC);
}

std::int64_t open_file(Process& p, int dirfd, std::uint64_t path_addr, int flags, int mode) {
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    const VirtualLookup v = lookup_path(p, dirfd, path, (flags & O_NOFOLLOW) ? Final::NoFollow : Final::Follow);
    switch (v.kind) {
    case Kind::Error: return err(v.error);
    case Kind::Node: return open_node(p, v.node, flags);
    case Kind::OpenFile: return reopen_generated(p, *v.file, flags);
    default: return open_host_file(p, v, flags, mode);
    }
}

// The address space a /proc/PID/pagemap or mem descriptor reads (none once the process is gone).
mmu::AddressSpace* memory_of(Process& p, const GuestFile& f) {
    auto g = p.find_group(f.memory_of);
    return g && g->state == GroupState::Alive && g->mm ? g->mm.get() : nullptr;
}

std::int64_t read_generated(Process& p, GuestFile& f, std::uint64_t buf, std::size_t n,
                            std::uint64_t* offset) {
    if (f.directory) return err(EISDIR);
    std::uint64_t& pos = offset ? *offset : f.offset;
    std::vector<char> data;
    if (f.pagemap || f.mem) {
        mmu::AddressSpace* target = memory_of(p, f);
        if (!target) return 0;
        if (f.pagemap) {
            // 8 bytes per virtual page: bit 63 present, 58 guard, pfn in bits 0-54.
            const std::size_t count = std::min<std::size_t>(n / 8, 1 << 17);
            data.resize(count * 8);
            for (std::size_t i = 0; i < count; ++i) {
                const std::uint64_t word = target->pagemap((pos / 8 + i) * kPageSize).raw();
                std::memcpy(data.data() + i * 8, &word, 8);
            }
        } else {
            // /proc/PID/mem reads what the process could read; nothing readable there is EIO.
            data.resize(std::min<std::size_t>(n, 1 << 20));
            data.resize(target->copy_from_user_partial(data.data(), pos, data.size()));
            if (data.empty() && n) return err(EIO);
        }
    } else {
        // Linux generates a seq_file (maps, status...) when it is read, not when it is opened:
        // a read from the start shows the state of now (cat's buffer is in the maps it prints).
        if (pos == 0 && f.kind == GuestFile::Kind::Generated) {
            const VirtualLookup v = lookup_path(p, AT_FDCWD, f.path, Final::Follow);
            if (v.kind == VirtualLookup::Kind::Node && v.node.type == VirtualNode::Type::File &&
                v.node.data == VirtualNode::Data::Text)
                f.generated = v.node.text;
        }
        if (pos >= f.generated.size()) return 0;
        data.assign(f.generated.begin() + static_cast<long>(pos),
                    f.generated.begin() + static_cast<long>(std::min<std::uint64_t>(f.generated.size(), pos + n)));
    }
    if (data.empty()) return 0;
    const std::size_t copied = p.as().copy_to_user_partial(buf, data.data(), data.size());
    if (copied == 0) return err(EFAULT);
    pos += copied;
    return static_cast<std::int64_t>(copied);
}

// /proc/PID/clear_refs takes a decimal 1-5 (surrounding white space allowed) in at most 12
// bytes (longer writes are cut there, and the cut length is what the write returns).
std::int64_t write_clear_refs(Process& p, GuestFile& f, std::uint64_t buf, std::size_t n) {
    constexpr std::size_t kNumberBuffer = 12;  // PROC_NUMBUF - 1
    n = std::min(n, kNumberBuffer);
    std::string text(n, '\0');
    if (n && !p.as().copy_from_user(text.data(), buf, n)) return err(EFAULT);
    const auto first = text.find_first_not_of(" \t\n\v\f\r");
    const auto last = text.find_last_not_of(" \t\n\v\f\r");
    text = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    int type = 0;
    const auto [end, ec] = std::from_chars(text.data() + (text.size() > 1 && text[0] == '+'), text.data() + text.size(), type);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return err(EINVAL);
    if (type < 1 || type > 5) return err(EINVAL);
    if (mmu::AddressSpace* target = memory_of(p, f)) target->clear_refs(type);
    return static_cast<std::int64_t>(n);
}

// A write to a generated file: /proc/PID/mem writes as a debugger does (through read-only
// protection, never onto a guard page), and drops translated code of what it wrote; the other
// generated files take no writes (EINVAL), as Linux's maps, status and stat.
std::int64_t write_generated(Process& p, GuestFile& f, std::uint64_t buf, std::size_t n, std::int64_t offset) {
    if ((f.open_flags & O_ACCMODE) == O_RDONLY || f.directory) return err(EBADF);
    if (f.clear_refs) return write_clear_refs(p, f, buf, n);
    if (!f.mem) return err(EINVAL);
    mmu::AddressSpace* target = memory_of(p, f);
    if (!target) return 0;
    std::vector<char> data(std::min<std::size_t>(n, 1 << 20));
    if (data.empty()) return 0;
    if (!p.as().copy_from_user(data.data(), buf, data.size())) return err(EFAULT);
    std::uint64_t at = offset >= 0 ? static_cast<std::uint64_t>(offset) : 0;
    std::uint64_t& pos = offset >= 0 ? at : f.offset;
    if (!target->poke(pos, data.data(), data.size())) return err(EIO);
    pos += data.size();
    return static_cast<std::int64_t>(data.size());
}

// getdents64 on a generated directory: "." and "..", then its entries; the offset counts them.
std::int64_t read_directory(Process& p, GuestFile& f, std::uint64_t buf, std::size_t size) {
    // Listed when read from the start, as Linux does (a descriptor opened since shows up).
    if (f.offset == 0) {
        const VirtualLookup now = lookup_virtual(p, f.path, true);
        if (now.kind == Kind::Node && now.node.type == VirtualNode::Type::Directory) f.entries = now.node.entries;
    }
    std::vector<char> out;
    const std::size_t total = f.entries.size() + 2;
    for (std::uint64_t i = f.offset; i < total; ++i) {
        const std::string name = i == 0 ? "." : i == 1 ? ".." : f.entries[i - 2].name;
        const unsigned char type = i < 2 ? static_cast<unsigned char>(DT_DIR) : f.entries[i - 2].type;
        const std::size_t reclen = (19 + name.size() + 1 + 7) & ~std::size_t{7};
        if (out.size() + reclen > size) {
            if (out.empty()) return err(EINVAL);  // the buffer holds not even one entry
            break;
        }
        std::vector<char> rec(reclen, 0);
        const std::uint64_t ino = i < 2 ? f.inode + i : f.inode ^ std::hash<std::string>{}(name);
        const std::int64_t next = static_cast<std::int64_t>(i + 1);
        const std::uint16_t len16 = static_cast<std::uint16_t>(reclen);
        std::memcpy(rec.data(), &ino, 8);
        std::memcpy(rec.data() + 8, &next, 8);
        std::memcpy(rec.data() + 16, &len16, 2);
        rec[18] = static_cast<char>(type);
        std::memcpy(rec.data() + 19, name.c_str(), name.size());
        out.insert(out.end(), rec.begin(), rec.end());
        f.offset = i + 1;
    }
    if (out.empty()) return 0;
    return p.as().copy_to_user(buf, out.data(), out.size()) ? static_cast<std::int64_t>(out.size()) : err(EFAULT);
}

// One user buffer of a read/write/readv/writev.
struct UserBuffer {
    std::uint64_t addr;
    std::size_t len;
};

}  // namespace

bool is_regular_file(int host_fd) {
    struct stat st;
    return ::fstat(host_fd, &st) == 0 && S_ISREG(st.st_mode);
}

bool host_ready(int fd, short events) {
    pollfd pfd{fd, events, 0};
    return ::poll(&pfd, 1, 0) > 0;
}

// A read or write on a pipe, socket or terminal that would wait: the task blocks (other tasks
// run) until the host descriptor is ready, unless the guest asked for O_NONBLOCK.
std::optional<std::int64_t> wait_until_ready(Process& p, const GuestFile& f, short events) {
    if (f.nonblocking || f.host_fd < 0 || is_regular_file(f.host_fd)) return std::nullopt;
    if (host_ready(f.host_fd, events)) return std::nullopt;
    BlockState b;
    b.host_fds = {{f.host_fd, events, 0}};
    const int fd = f.host_fd;
    b.ready = [fd, events] { return host_ready(fd, events); };
    return p.block(std::move(b));
}

namespace {

// Reads into the buffers the way Linux does when one of them faults: a regular file returns the
// bytes copied before the fault; a pipe, socket or terminal refuses with EFAULT and leaves its
// data unread when the data would reach the faulting byte.
std::int64_t read_into(Process& p, GuestFile& f, const std::vector<UserBuffer>& bufs, std::int64_t offset) {
    if (f.null_device) return 0;  // /dev/null: end of file, the buffers are never touched
    if (offset < 0)
        if (auto wait = wait_until_ready(p, f, POLLIN)) return *wait;
    std::size_t total = 0, room = 0;
    bool faulted = false;
    for (const UserBuffer& b : bufs) {
        total += b.len;
        if (faulted) continue;
        const std::size_t ok = writable_prefix(p, b.addr, b.len);
        room += ok;
        faulted = ok < b.len;
    }
    total = std::min<std::size_t>(total, 1 << 20);
    room = std::min(room, total);
    if (total == 0) return 0;
    if (room == 0) return err(EFAULT);
    if (room < total && !is_regular_file(f.host_fd)) {
        int available = 0;
        if (::ioctl(f.host_fd, FIONREAD, &available) == 0 && static_cast<std::size_t>(available) > room)
            return err(EFAULT);
    }
    p.file_objects().before_read(f);  // pages written through mappings reach the file first
    std::vector<char> tmp(room);
    const long got = offset < 0 ? ::read(f.host_fd, tmp.data(), room) : ::pread(f.host_fd, tmp.data(), room, offset);
    if (got < 0) return err(errno);
    std::size_t done = 0;
    for (const UserBuffer& b : bufs) {
        if (done >= static_cast<std::size_t>(got)) break;
        const std::size_t chunk = std::min(b.len, static_cast<std::size_t>(got) - done);
        if (!p.as().copy_to_user(b.addr, tmp.data() + done, chunk)) return err(EFAULT);
        done += chunk;
    }
    return got;
}

// Writes the buffers; a faulting byte makes a pipe or terminal write fail with EFAULT (nothing
// written), a regular file write stop short before it.
std::int64_t write_from(Process& p, GuestFile& f, const std::vector<UserBuffer>& bufs, std::int64_t offset) {
    if (f.null_device) {  // /dev/null takes everything without reading it
        std::size_t total = 0;
        for (const UserBuffer& b : bufs) total += b.len;
        return static_cast<std::int64_t>(std::min<std::size_t>(total, LONG_MAX));
    }
    std::vector<char> tmp;
    bool faulted = false;
    for (const UserBuffer& b : bufs) {
        const std::size_t at = tmp.size();
        const std::size_t len = std::min<std::size_t>(b.len, (1 << 20) - std::min<std::size_t>(at, 1 << 20));
        tmp.resize(at + len);
        const std::size_t got = p.as().copy_from_user_partial(tmp.data() + at, b.addr, len);
        if (got < len) {
            tmp.resize(at + got);
            faulted = true;
            break;
        }
    }
    if (faulted && (tmp.empty() || !is_regular_file(f.host_fd))) return err(EFAULT);
    if (tmp.empty()) return 0;
    if (offset >= 0) {
        const long put = ::pwrite(f.host_fd, tmp.data(), tmp.size(), offset);
        if (put > 0) p.file_objects().after_write(f, offset, tmp.data(), static_cast<std::size_t>(put));
        return host_result(put);
    }
    if (auto wait = wait_until_ready(p, f, POLLOUT)) return *wait;
    // A blocking write to a pipe mmuemu keeps non-blocking on the host: what fits now is
    // written, the task waits for room and the call continues where it stopped.
    const std::size_t done = std::min<std::size_t>(p.task().block.progress, tmp.size());
    const long put = ::write(f.host_fd, tmp.data() + done, tmp.size() - done);
    if (put < 0 && !(errno == EAGAIN && f.host_nonblocking && !f.nonblocking)) {
        if (errno == EPIPE) p.send_signal(13, 0);  // SIGPIPE, as the kernel sends it
        return done ? static_cast<std::int64_t>(done) : err(errno);
    }
    const std::size_t total = done + static_cast<std::size_t>(std::max<long>(put, 0));
    if (put > 0) p.file_objects().after_write(f, -1, tmp.data() + done, static_cast<std::size_t>(put));
    if (total < tmp.size() && f.host_nonblocking && !f.nonblocking) {
        BlockState b;
        b.progress = total;
        b.host_fds = {{f.host_fd, POLLOUT, 0}};
        const int fd = f.host_fd;
        b.ready = [fd] { return host_ready(fd, POLLOUT); };
        p.task().block.progress = total;
        return p.block(std::move(b));
    }
    return static_cast<std::int64_t>(total);
}

std::int64_t do_read(Process& p, int fd, std::uint64_t buf, std::size_t n, std::int64_t offset) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (f->host_fd < 0) {
        std::uint64_t off = offset < 0 ? 0 : static_cast<std::uint64_t>(offset);
        return read_generated(p, *f, buf, n, offset < 0 ? nullptr : &off);
    }
    return read_into(p, *f, {{buf, n}}, offset);
}

std::int64_t do_write(Process& p, int fd, std::uint64_t buf, std::size_t n, std::int64_t offset) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (f->kind == GuestFile::Kind::Generated) return write_generated(p, *f, buf, n, offset);
    if (f->host_fd < 0) return err(EBADF);
    return write_from(p, *f, {{buf, n}}, offset);
}

}  // namespace

std::int64_t do_iov(Process& p, int fd, std::uint64_t iov_addr, int count, bool is_write) {
    if (count < 0 || count > 1024) return err(EINVAL);
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    std::vector<UserBuffer> bufs;
    for (int i = 0; i < count; ++i) {
        struct iovec iov;
        if (!p.as().copy_from_user(&iov, iov_addr + i * sizeof iov, sizeof iov)) return err(EFAULT);
        if (iov.iov_len) bufs.push_back({reinterpret_cast<std::uint64_t>(iov.iov_base), iov.iov_len});
    }
    if (f->host_fd < 0) {
        std::int64_t total = 0;
        for (const UserBuffer& b : bufs) {
            const std::int64_t r = is_write ? write_generated(p, *f, b.addr, b.len, -1)
                                            : read_generated(p, *f, b.addr, b.len, nullptr);
            if (r < 0) return total ? total : r;
            total += r;
            if (static_cast<std::size_t>(r) < b.len) break;
        }
        return total;
    }
    return is_write ? write_from(p, *f, bufs, -1) : read_into(p, *f, bufs, -1);
}

namespace {

// fstat of a descriptor with no host file: what Linux shows for /proc files and anonymous inodes.
// A memfd shows its object's size.
struct stat stat_of_generated(const GuestFile& f) {
    return generated_stat(f.st_mode, f.inode, f.memfd ? f.memfd->size : 0);
}

std::int64_t do_fstatat(Process& p, int dirfd, std::uint64_t path_addr, std::uint64_t out, int flags) {
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    struct stat st;
    int r = 0;
    if (path.empty() && (flags & AT_EMPTY_PATH)) {
        auto f = p.files().get(dirfd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) st = stat_of_generated(*f);
        else r = ::fstat(f->host_fd, &st);
    } else {
        const Final final = (flags & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow;
        const VirtualLookup v = lookup_path(p, dirfd, path, final);
        if (v.kind == Kind::Error) return err(v.error);
        if (v.kind == Kind::Node) {
            st = node_stat(v.node);
        } else if (v.kind == Kind::OpenFile) {
            st = stat_of_generated(*v.file);
        } else {
            RESOLVE_OR_RETURN(hp, dirfd, path, final);
            r = ::fstatat(hp.dirfd, hp.path.c_str(), &st, flags & ~AT_EMPTY_PATH);
        }
    }
    if (r < 0) return err(errno);
    return put(p, out, st);
}

// fchmodat2 (Linux 6.6): fchmodat with flags. AT_SYMLINK_NOFOLLOW on a symlink is EOPNOTSUPP
// (the host answers it), AT_EMPTY_PATH with "" changes the descriptor's file.
std::int64_t do_fchmodat2(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    const int dirfd = static_cast<int>(a[0]);
    const auto mode = static_cast<mode_t>(a[2]);
    if (a[3] & ~static_cast<std::uint64_t>(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return err(EINVAL);
    std::string path;
    if (!read_string(p, a[1], path)) return err(EFAULT);
    if (path.empty() && (a[3] & AT_EMPTY_PATH)) {
        auto f = p.files().get(dirfd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EPERM);
        return host_result(::fchmod(f->host_fd, mode));
    }
    const bool nofollow = a[3] & AT_SYMLINK_NOFOLLOW;
    RESOLVE_TO_CHANGE_OR_RETURN(hp, dirfd, path, nofollow ? Final::NoFollow : Final::Follow);
    return host_result(::syscall(SYS_fchmodat2, hp.dirfd, hp.path.c_str(), mode, nofollow ? AT_SYMLINK_NOFOLLOW : 0));
}

// sync_file_range, readahead and syncfs: the host does the work on a host file (a pipe is ESPIPE
// or EINVAL there, as Linux answers); a memfd or a generated file has nothing to write back.
std::int64_t do_writeback_hint(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    constexpr std::uint64_t kSyncFileRangeFlags = 7;  // WAIT_BEFORE | WRITE | WAIT_AFTER
    auto f = p.files().get(static_cast<int>(a[0]));
    if (!f) return err(EBADF);
    if (s.nr == SYS_sync_file_range && (a[3] & ~kSyncFileRangeFlags)) return err(EINVAL);
    if (f->host_fd < 0) return s.nr == SYS_readahead && f->kind != GuestFile::Kind::Memfd ? err(EINVAL) : 0;
    if (s.nr == SYS_syncfs) return host_result(::syncfs(f->host_fd));
    if (s.nr == SYS_readahead)
        return host_result(::readahead(f->host_fd, static_cast<off64_t>(a[1]), a[2]));
    p.file_objects().before_read(*f);  // the guest's writes through shared mappings are written back too
    return host_result(::sync_file_range(f->host_fd, static_cast<off64_t>(a[1]), static_cast<off64_t>(a[2]),
                                         static_cast<unsigned>(a[3])));
}

// chown, lchown and fchownat on the host file: every guest task has mmuemu's identity, so the
// host's permission check is the guest's (-1 leaves an id unchanged, as Linux's chown).
std::int64_t do_chown(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    const bool at = s.nr == SYS_fchownat;
    const int flags = at ? static_cast<int>(a[4]) : (s.nr == SYS_lchown ? AT_SYMLINK_NOFOLLOW : 0);
    if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) return err(EINVAL);
    const auto uid = static_cast<uid_t>(a[at ? 2 : 1]);
    const auto gid = static_cast<gid_t>(a[at ? 3 : 2]);
    const int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
    std::string path;
    if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
    if (path.empty() && (flags & AT_EMPTY_PATH)) {
        auto f = p.files().get(dirfd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EPERM);
        return host_result(::fchown(f->host_fd, uid, gid));
    }
    RESOLVE_TO_CHANGE_OR_RETURN(hp, dirfd, path,
                                (flags & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow);
    return host_result(::fchownat(hp.dirfd, hp.path.c_str(), uid, gid, flags & AT_SYMLINK_NOFOLLOW));
}

// copy_file_range between two host files, by the host (flags must be 0; files generated by
// mmuemu cannot take part: EINVAL, after which programs copy with read and write).
std::int64_t do_copy_file_range(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    auto in = p.files().get(static_cast<int>(a[0])), out = p.files().get(static_cast<int>(a[2]));
    if (!in || !out) return err(EBADF);
    if (a[5] != 0 || in->host_fd < 0 || out->host_fd < 0) return err(EINVAL);
    loff_t off_in = 0, off_out = 0;
    if (a[1] && !p.as().copy_from_user(&off_in, a[1], sizeof off_in)) return err(EFAULT);
    if (a[3] && !p.as().copy_from_user(&off_out, a[3], sizeof off_out)) return err(EFAULT);
    const ssize_t n = ::copy_file_range(in->host_fd, a[1] ? &off_in : nullptr, out->host_fd,
                                        a[3] ? &off_out : nullptr, std::min<std::uint64_t>(a[4], 1 << 30), 0);
    if (n < 0) return err(errno);
    if (a[1] && put(p, a[1], off_in) != 0) return err(EFAULT);
    if (a[3] && put(p, a[3], off_out) != 0) return err(EFAULT);
    return n;
}

}  // namespace

int nofile_limit(Process& p) {
    return static_cast<int>(std::min<std::uint64_t>(p.group().rlimits[RLIMIT_NOFILE].first, INT_MAX));
}

int install_fd(Process& p, std::shared_ptr<GuestFile> file, int min, bool cloexec) {
    return p.files().install(std::move(file), min, cloexec, nofile_limit(p));
}

// read, write, open, stat, ioctl, fcntl, dup, pipe, directories, sendfile...
std::optional<std::int64_t> file_syscall(Process& p, const SyscallArgs& s) {
    [[maybe_unused]] auto& as = p.as();
    [[maybe_unused]] const auto& a = s.a;
    [[maybe_unused]] const int fd = static_cast<int>(a[0]);
    switch (s.nr) {
    case SYS_read:
    case SYS_write:
        if (auto r = event_read_write(p, s)) return *r;  // signalfd, epoll
        if (auto f = p.files().get(fd); f && f->kind == GuestFile::Kind::Userfaultfd)
            return s.nr == SYS_read ? userfaultfd_read(p, *f, a[1], a[2]) : err(EINVAL);
        return s.nr == SYS_read ? do_read(p, fd, a[1], a[2], -1) : do_write(p, fd, a[1], a[2], -1);
    case SYS_pread64: return do_read(p, fd, a[1], a[2], static_cast<std::int64_t>(a[3]));
    case SYS_pwrite64: return do_write(p, fd, a[1], a[2], static_cast<std::int64_t>(a[3]));
    case SYS_readv: return do_iov(p, fd, a[1], static_cast<int>(a[2]), false);
    case SYS_writev: return do_iov(p, fd, a[1], static_cast<int>(a[2]), true);
    case SYS_open: return open_file(p, AT_FDCWD, a[0], static_cast<int>(a[1]), static_cast<int>(a[2]));
    case SYS_openat: return open_file(p, fd, a[1], static_cast<int>(a[2]), static_cast<int>(a[3]));
    // creat(path, mode) is open(path, O_CREAT | O_WRONLY | O_TRUNC, mode).
    case SYS_creat: return open_file(p, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, static_cast<int>(a[1]));
    case SYS_close:
        release_posix_locks(p, fd);
        return p.files().close(fd) ? 0 : err(EBADF);
    case SYS_fstat: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        struct stat st{};
        if (f->host_fd >= 0) {
            if (::fstat(f->host_fd, &st) < 0) return err(errno);
        } else {
            st = stat_of_generated(*f);
        }
        return put(p, a[1], st);
    }
    case SYS_stat: return do_fstatat(p, AT_FDCWD, a[0], a[1], 0);
    case SYS_lstat: return do_fstatat(p, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
    case SYS_newfstatat: return do_fstatat(p, fd, a[1], a[2], static_cast<int>(a[3]));
    case SYS_statx: {
        std::string path;
        if (!read_string(p, a[1], path)) return err(EFAULT);
        struct statx stx;
        long r;
        const Final final = (a[2] & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow;
        if (path.empty() && (a[2] & AT_EMPTY_PATH)) {
            auto f = p.files().get(static_cast<int>(a[0]));
            if (!f) return err(EBADF);
            if (f->host_fd < 0) return put(p, a[4], statx_of(stat_of_generated(*f)));
            r = ::statx(f->host_fd, "", static_cast<int>(a[2]), static_cast<unsigned>(a[3]), &stx);
        } else if (const VirtualLookup v = lookup_path(p, static_cast<int>(a[0]), path, final); v.kind == Kind::Error) {
            return err(v.error);
        } else if (v.kind == Kind::Node) {
            return put(p, a[4], statx_of(node_stat(v.node)));
        } else if (v.kind == Kind::OpenFile) {
            return put(p, a[4], statx_of(stat_of_generated(*v.file)));
        } else {
            RESOLVE_OR_RETURN(hp, static_cast<int>(a[0]), path, final);
            r = ::statx(hp.dirfd, hp.path.c_str(), static_cast<int>(a[2]), static_cast<unsigned>(a[3]), &stx);
        }
        if (r < 0) return err(errno);
        return put(p, a[4], stx);
    }
    case SYS_lseek: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) {
            if (a[2] == SEEK_SET) f->offset = a[1];
            else if (a[2] == SEEK_CUR) f->offset += a[1];
            else if (a[2] == SEEK_END) f->offset = f->generated.size() + a[1];
            else return err(EINVAL);
            return static_cast<std::int64_t>(f->offset);
        }
        return host_result(::lseek(f->host_fd, static_cast<off_t>(a[1]), static_cast<int>(a[2])));
    }
    case SYS_ioctl: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (f->pagemap) return pagemap_ioctl(p, *f, a[1], a[2]);
        if (f->kind == GuestFile::Kind::Userfaultfd || f->userfaultfd_device)
            return userfaultfd_ioctl(p, *f, a[1], a[2]);
        if (f->host_fd < 0) return err(ENOTTY);
        if (a[1] == TCGETS) {
            char buf[60];
            if (::ioctl(f->host_fd, TCGETS, buf) < 0) return err(errno);
            return p.as().copy_to_user(a[2], buf, sizeof buf) ? 0 : err(EFAULT);
        }
        if (a[1] == TIOCGWINSZ) {
            struct winsize ws;
            if (::ioctl(f->host_fd, TIOCGWINSZ, &ws) < 0) return err(errno);
            return put(p, a[2], ws);
        }
        if (a[1] == TIOCGPGRP) {
            pid_t pg;
            if (::ioctl(f->host_fd, TIOCGPGRP, &pg) < 0) return err(errno);
            return put(p, a[2], pg);
        }
        return err(ENOTTY);
    }
    case SYS_fcntl: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        switch (a[1]) {
        case F_DUPFD:
        case F_DUPFD_CLOEXEC:
            // A starting point at or beyond RLIMIT_NOFILE is EINVAL; no free one below, EMFILE.
            if (a[2] >= static_cast<std::uint64_t>(nofile_limit(p))) return err(EINVAL);
            return install_fd(p, f, static_cast<int>(a[2]), a[1] == F_DUPFD_CLOEXEC);
        case F_GETFD: return p.files().cloexec(fd) ? FD_CLOEXEC : 0;
        case F_GETPIPE_SZ:
        case F_SETPIPE_SZ:
            if (f->host_fd < 0) return err(EBADF);
            return host_result(::fcntl(f->host_fd, static_cast<int>(a[1]), static_cast<int>(a[2])));
        case F_SETFD: p.files().set_cloexec(fd, a[2] & FD_CLOEXEC); return 0;
        case F_GETFL: {
            if (f->host_fd < 0) return (f->open_flags & O_ACCMODE) | (f->nonblocking ? O_NONBLOCK : 0);
            const int flags = ::fcntl(f->host_fd, F_GETFL);
            if (flags < 0) return err(errno);
            return (flags & ~O_NONBLOCK) | (f->nonblocking ? O_NONBLOCK : 0);
        }
        case F_SETFL: {
            f->nonblocking = a[2] & O_NONBLOCK;
            if (f->host_fd < 0) return 0;
            const int flags = static_cast<int>(a[2]) | (f->host_nonblocking ? O_NONBLOCK : 0);
            return host_result(::fcntl(f->host_fd, F_SETFL, flags));
        }
        default: return err(EINVAL);
        }
    }
    case SYS_dup: {
        auto f = p.files().get(fd);
        return f ? install_fd(p, f) : err(EBADF);
    }
    case SYS_dup2:
    case SYS_dup3: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (s.nr == SYS_dup3 && a[0] == a[1]) return err(EINVAL);
        if (s.nr == SYS_dup3 && (a[2] & ~static_cast<std::uint64_t>(O_CLOEXEC))) return err(EINVAL);
        if (a[1] >= static_cast<std::uint64_t>(nofile_limit(p))) return err(EBADF);
        if (a[0] == a[1]) return static_cast<std::int64_t>(a[1]);  // dup2 onto itself: no change
        release_posix_locks(p, static_cast<int>(a[1]));
        p.files().install_at(static_cast<int>(a[1]), f, s.nr == SYS_dup3 && (a[2] & O_CLOEXEC));
        return static_cast<std::int64_t>(a[1]);
    }
    case SYS_pipe:
    case SYS_pipe2: {
        int fds[2];
        const int flags = s.nr == SYS_pipe2 ? static_cast<int>(a[1]) : 0;
        if (flags & ~(O_CLOEXEC | O_NONBLOCK | O_DIRECT)) return err(EINVAL);
        // Non-blocking on the host: a guest task that waits for a pipe never blocks mmuemu.
        if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK | (flags & O_DIRECT)) < 0) return err(errno);
        auto r = std::make_shared<GuestFile>(), w = std::make_shared<GuestFile>();
        r->host_fd = fds[0];
        w->host_fd = fds[1];
        for (auto* f : {&r, &w}) {
            (*f)->host_nonblocking = true;
            (*f)->nonblocking = flags & O_NONBLOCK;
        }
        const bool cloexec = flags & O_CLOEXEC;
        const int gfds[2] = {install_fd(p, r, 0, cloexec), install_fd(p, w, 0, cloexec)};
        if (gfds[0] < 0 || gfds[1] < 0) {
            if (gfds[0] >= 0) p.files().close(gfds[0]);
            return err(EMFILE);
        }
        if (!p.as().copy_to_user(a[0], gfds, sizeof gfds)) {
            p.files().close(gfds[0]);
            p.files().close(gfds[1]);
            return err(EFAULT);
        }
        return 0;
    }
    case SYS_getcwd: {
        const std::string cwd = guest_cwd(p);
        const std::size_t n = cwd.size() + 1;
        if (n > a[1]) return err(ERANGE);
        return p.as().copy_to_user(a[0], cwd.c_str(), n) ? static_cast<std::int64_t>(n) : err(EFAULT);
    }
    case SYS_readlink:
    case SYS_readlinkat: {
        const bool at = s.nr == SYS_readlinkat;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        const std::uint64_t buf = a[at ? 2 : 1], size = a[at ? 3 : 2];
        if (static_cast<int>(size) <= 0) return err(EINVAL);  // bufsiz is an int
        std::string target;
        const int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
        const VirtualLookup v = lookup_path(p, dirfd, path, Final::NoFollow);
        if (v.kind == Kind::Error) return err(v.error);
        if (v.kind == Kind::Node || v.kind == Kind::OpenFile) {
            if (v.kind == Kind::OpenFile || v.node.type != VirtualNode::Type::Symlink) return err(EINVAL);
            target = v.node.text;
        } else {
            RESOLVE_OR_RETURN(hp, dirfd, path, Final::NoFollow);
            char tmp[4096];
            const long n = ::readlinkat(hp.dirfd, hp.path.c_str(), tmp, sizeof tmp);
            if (n < 0) return err(errno);
            target.assign(tmp, static_cast<std::size_t>(n));
        }
        const std::size_t n = std::min<std::size_t>(target.size(), size);
        return p.as().copy_to_user(buf, target.data(), n) ? static_cast<std::int64_t>(n) : err(EFAULT);
    }
    case SYS_access:
    case SYS_faccessat:
    case SYS_faccessat2: {
        const bool at = s.nr != SYS_access;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        const int flags = s.nr == SYS_faccessat2 ? static_cast<int>(a[3]) : 0;
        const int dirfd = at ? static_cast<int>(a[0]) : AT_FDCWD;
        const int want = static_cast<int>(a[at ? 2 : 1]);
        if (want & ~(R_OK | W_OK | X_OK)) return err(EINVAL);
        const Final final = (flags & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow;
        const VirtualLookup v = lookup_path(p, dirfd, path, final);
        if (v.kind == Kind::Error) return err(v.error);
        if (v.kind == Kind::Node) return node_access(v.node, want);
        if (v.kind == Kind::OpenFile) return 0;
        RESOLVE_OR_RETURN(hp, dirfd, path, final);
        return host_result(::faccessat(hp.dirfd, hp.path.c_str(), want, flags));
    }
    case SYS_getdents64: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (f->directory) return read_directory(p, *f, a[1], std::min<std::size_t>(a[2], 1 << 16));
        if (f->host_fd < 0) return err(ENOTDIR);
        const std::size_t n = std::min<std::size_t>(a[2], 1 << 16);
        std::vector<char> tmp(n);
        const long got = ::syscall(SYS_getdents64, f->host_fd, tmp.data(), n);
        if (got < 0) return err(errno);
        return p.as().copy_to_user(a[1], tmp.data(), static_cast<std::size_t>(got)) ? got : err(EFAULT);
    }
    case SYS_unlink:
    case SYS_unlinkat:
    case SYS_mkdir:
    case SYS_mkdirat:
    case SYS_rmdir: {
        const bool at = s.nr == SYS_unlinkat || s.nr == SYS_mkdirat;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        const bool removes_directory = s.nr == SYS_rmdir || (s.nr == SYS_unlinkat && (a[2] & AT_REMOVEDIR));
        if (removes_directory) {
            const VirtualLookup v = lookup_path(p, at ? static_cast<int>(a[0]) : AT_FDCWD, path, Final::NoFollow);
            if (v.kind == Kind::Node && v.node.type != VirtualNode::Type::Directory) return err(ENOTDIR);
        }
        RESOLVE_TO_CHANGE_OR_RETURN(hp, at ? static_cast<int>(a[0]) : AT_FDCWD, path, Final::NoFollow);
        if (s.nr == SYS_unlink) return host_result(::unlinkat(hp.dirfd, hp.path.c_str(), 0));
        if (s.nr == SYS_rmdir) return host_result(::unlinkat(hp.dirfd, hp.path.c_str(), AT_REMOVEDIR));
        if (s.nr == SYS_unlinkat) return host_result(::unlinkat(hp.dirfd, hp.path.c_str(), static_cast<int>(a[2])));
        const mode_t mode = static_cast<mode_t>(a[at ? 2 : 1]) & ~static_cast<mode_t>(p.fs().umask) & 07777;
        return host_result(::mkdirat(hp.dirfd, hp.path.c_str(), mode));
    }
    case SYS_rename:
    case SYS_renameat:
    case SYS_renameat2: {
        const bool at = s.nr != SYS_rename;
        std::string from, to;
        if (!read_string(p, a[at ? 1 : 0], from) || !read_string(p, a[at ? 3 : 1], to)) return err(EFAULT);
        // The new name first: a name that cannot exist (under /proc) is ENOENT before EPERM.
        RESOLVE_TO_CHANGE_OR_RETURN(new_path, at ? static_cast<int>(a[2]) : AT_FDCWD, to, Final::NoFollow);
        RESOLVE_TO_CHANGE_OR_RETURN(old_path, at ? static_cast<int>(a[0]) : AT_FDCWD, from, Final::NoFollow);
        const unsigned flags = s.nr == SYS_renameat2 ? static_cast<unsigned>(a[4]) : 0;
        return host_result(::renameat2(old_path.dirfd, old_path.path.c_str(), new_path.dirfd,
                                       new_path.path.c_str(), flags));
    }
    case SYS_truncate: {
        std::string path;
        if (!read_string(p, a[0], path)) return err(EFAULT);
        if (static_cast<std::int64_t>(a[1]) < 0) return err(EINVAL);
        RESOLVE_TO_CHANGE_OR_RETURN(hp, AT_FDCWD, path, Final::Follow);
        struct stat st;
        if (::stat(hp.path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && running_program(p, st)) return err(ETXTBSY);
        if (::truncate(hp.path.c_str(), static_cast<off_t>(a[1])) < 0) return err(errno);
        if (::stat(hp.path.c_str(), &st) == 0)
            p.file_objects().after_truncate(st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size));
        return 0;
    }
    case SYS_ftruncate: {
        auto f = p.files().get(fd);
        if (!f || f->host_fd < 0) return err(EBADF);
        if (::ftruncate(f->host_fd, static_cast<off_t>(a[1])) < 0) return err(errno);
        if (f->kind == GuestFile::Kind::Host) {
            struct stat st;
            if (::fstat(f->host_fd, &st) == 0)
                p.file_objects().after_truncate(st.st_dev, st.st_ino, static_cast<std::uint64_t>(st.st_size));
        }
        return 0;
    }
    case SYS_fchmodat2: return do_fchmodat2(p, s);
    case SYS_chmod:
    case SYS_fchmodat: {
        const bool at = s.nr == SYS_fchmodat;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        RESOLVE_TO_CHANGE_OR_RETURN(hp, at ? static_cast<int>(a[0]) : AT_FDCWD, path, Final::Follow);
        return host_result(::fchmodat(hp.dirfd, hp.path.c_str(), static_cast<mode_t>(a[at ? 2 : 1]), 0));
    }
    case SYS_link:
    case SYS_linkat: {
        const bool at = s.nr == SYS_linkat;
        std::string from, to;
        if (!read_string(p, a[at ? 1 : 0], from) || !read_string(p, a[at ? 3 : 1], to)) return err(EFAULT);
        const int flags = at ? static_cast<int>(a[4]) : 0;
        if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH)) return err(EINVAL);
        RESOLVE_TO_CHANGE_OR_RETURN(old_path, at ? static_cast<int>(a[0]) : AT_FDCWD, from,
                          (flags & AT_SYMLINK_FOLLOW) ? Final::Follow : Final::NoFollow);
        RESOLVE_TO_CHANGE_OR_RETURN(new_path, at ? static_cast<int>(a[2]) : AT_FDCWD, to, Final::NoFollow);
        return host_result(::linkat(old_path.dirfd, old_path.path.c_str(), new_path.dirfd,
                                    new_path.path.c_str(), flags & AT_SYMLINK_FOLLOW));
    }
    case SYS_symlink:
    case SYS_symlinkat: {
        // The target is stored as the guest wrote it (it is resolved when the link is followed).
        const bool at = s.nr == SYS_symlinkat;
        std::string target, path;
        if (!read_string(p, a[0], target) || !read_string(p, a[at ? 2 : 1], path)) return err(EFAULT);
        RESOLVE_TO_CHANGE_OR_RETURN(hp, at ? static_cast<int>(a[1]) : AT_FDCWD, path, Final::NoFollow);
        return host_result(::symlinkat(target.c_str(), hp.dirfd, hp.path.c_str()));
    }
    case SYS_mknod:
    case SYS_mknodat: {
        // FIFOs and regular files only: device nodes need privileges the guest does not have.
        const bool at = s.nr == SYS_mknodat;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        const mode_t mode = static_cast<mode_t>(a[at ? 2 : 1]);
        const mode_t type = mode & S_IFMT;
        if (type != 0 && type != S_IFREG && type != S_IFIFO) return err(EPERM);
        RESOLVE_TO_CHANGE_OR_RETURN(hp, at ? static_cast<int>(a[0]) : AT_FDCWD, path, Final::NoFollow);
        const mode_t perms = mode & 07777 & ~static_cast<mode_t>(p.fs().umask);
        return host_result(::mknodat(hp.dirfd, hp.path.c_str(), (type ? type : S_IFREG) | perms, 0));
    }
    case SYS_sync: ::sync(); return 0;
    case SYS_chroot: {
        // The new / of this task's fs state (CLONE_FS shares it); needs CAP_SYS_CHROOT.
        std::string path;
        if (!read_string(p, a[0], path)) return err(EFAULT);
        RESOLVE_OR_RETURN(hp, AT_FDCWD, path, Final::Follow);
        struct stat st;
        if (::fstatat(hp.dirfd, hp.path.c_str(), &st, 0) < 0) return err(errno);
        if (!S_ISDIR(st.st_mode)) return err(ENOTDIR);
        if (!host_has_capability(18)) return err(EPERM);
        char real[PATH_MAX];
        if (!::realpath(host_path_of(hp).c_str(), real)) return err(errno);
        FsState& fs = p.fs();
        if (fs.root_fd >= 0) ::close(fs.root_fd);
        fs.root_fd = -1;
        fs.root = std::string(real) == "/" ? "/" : real;
        if (fs.root != "/") fs.root_fd = ::open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return 0;
    }
    case SYS_utimensat: {
        struct timespec times[2];
        if (a[2] && !p.as().copy_from_user(times, a[2], sizeof times)) return err(EFAULT);
        const struct timespec* t = a[2] ? times : nullptr;
        if (!a[1]) {  // futimens: the descriptor itself
            auto f = p.files().get(fd);
            if (!f) return err(EBADF);
            if (f->host_fd < 0) return err(EPERM);
            return host_result(::futimens(f->host_fd, t));
        }
        std::string path;
        if (!read_string(p, a[1], path)) return err(EFAULT);
        RESOLVE_TO_CHANGE_OR_RETURN(hp, fd, path, (a[3] & AT_SYMLINK_NOFOLLOW) ? Final::NoFollow : Final::Follow);
        return host_result(::utimensat(hp.dirfd, hp.path.c_str(), t, static_cast<int>(a[3])));
    }
    case SYS_fchmod: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EPERM);
        return host_result(::fchmod(f->host_fd, static_cast<mode_t>(a[1])));
    }
    case SYS_fchown: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) return err(EPERM);
        return host_result(::fchown(f->host_fd, static_cast<uid_t>(a[1]), static_cast<gid_t>(a[2])));
    }
    case SYS_chown:
    case SYS_lchown:
    case SYS_fchownat: return do_chown(p, s);
    case SYS_umask: {
        const unsigned old = p.fs().umask;
        p.fs().umask = static_cast<unsigned>(a[0]) & 0777;
        return old;
    }
    case SYS_chdir:
    case SYS_fchdir: {
        int dir;
        if (s.nr == SYS_chdir) {
            std::string path;
            if (!read_string(p, a[0], path)) return err(EFAULT);
            const VirtualLookup v = lookup_path(p, AT_FDCWD, path, Final::Follow);
            if (v.kind == Kind::Error) return err(v.error);
            if (v.kind == Kind::OpenFile) return err(ENOTDIR);
            if (v.kind == Kind::Node) {
                if (v.node.type != VirtualNode::Type::Directory) return err(ENOTDIR);
                p.fs().virtual_cwd = v.node.path;
                return 0;
            }
            RESOLVE_OR_RETURN(hp, AT_FDCWD, path, Final::Follow);
            dir = ::openat(hp.dirfd, hp.path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        } else {
            auto f = p.files().get(fd);
            if (!f) return err(EBADF);
            if (f->directory) {
                p.fs().virtual_cwd = f->path;
                return 0;
            }
            if (f->host_fd < 0) return err(ENOTDIR);
            dir = ::openat(f->host_fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
        }
        if (dir < 0) return err(errno);
        // Search permission on the new directory, as chdir checks it.
        if (::faccessat(dir, ".", X_OK, 0) < 0) {
            const int e = errno;
            ::close(dir);
            return err(e);
        }
        FsState& fs = p.fs();
        if (fs.cwd_fd >= 0) ::close(fs.cwd_fd);
        fs.cwd_fd = dir;
        fs.virtual_cwd.clear();
        return 0;
    }
    case SYS_sendfile: {
        auto out = p.files().get(fd), in = p.files().get(static_cast<int>(a[1]));
        if (!out || !in) return err(EBADF);
        if (out->host_fd < 0 || in->host_fd < 0) return err(EINVAL);
        off_t offset = 0;
        if (a[2] && !p.as().copy_from_user(&offset, a[2], sizeof offset)) return err(EFAULT);
        const long n = ::sendfile(out->host_fd, in->host_fd, a[2] ? &offset : nullptr,
                                  std::min<std::uint64_t>(a[3], 1 << 30));
        if (n < 0) return err(errno);
        if (a[2] && put(p, a[2], offset) != 0) return err(EFAULT);
        return n;
    }
    case SYS_copy_file_range: return do_copy_file_range(p, s);
    case SYS_fadvise64: {
        // Advice only: EBADF, ESPIPE for a pipe, EINVAL for an unknown advice (mm/fadvise.c).
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (a[3] > POSIX_FADV_NOREUSE || static_cast<std::int64_t>(a[2]) < 0) return err(EINVAL);
        if (f->host_fd < 0) return 0;
        const int e = ::posix_fadvise(f->host_fd, static_cast<off_t>(a[1]), static_cast<off_t>(a[2]),
                                      static_cast<int>(a[3]));
        return e ? err(e) : 0;
    }
    case SYS_sync_file_range:
    case SYS_readahead:
    case SYS_syncfs: return do_writeback_hint(p, s);
    default:
        return std::nullopt;
    }
}

}  // namespace emu::sys
