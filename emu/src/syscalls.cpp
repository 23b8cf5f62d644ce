// System calls. Memory calls go to the mmu library and return exactly its errno; the rest are
// answered from the host (files under --root, time, identity) with guest pointers read and
// written through the MMU with the kernel's rules (EFAULT, never a host crash).
#include "syscalls.hpp"

#include <fcntl.h>
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

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "process.hpp"

namespace emu {

using namespace mmu;

std::int64_t do_fork(Process& p);

namespace {

constexpr std::int64_t err(int e) { return -static_cast<std::int64_t>(e); }
std::int64_t host_result(long r) { return r < 0 ? err(errno) : r; }
std::int64_t status(const Status& s) { return s ? 0 : err(s.error()); }
template <class T>
std::int64_t value_or_errno(const Result<T>& r) {
    return r ? static_cast<std::int64_t>(r.value()) : err(r.error());
}

// A NUL-terminated string from guest memory (paths are at most PATH_MAX).
bool read_string(Process& p, std::uint64_t addr, std::string& out, std::size_t limit = 4096) {
    out.clear();
    char c;
    while (out.size() < limit) {
        if (!p.as().copy_from_user(&c, addr + out.size(), 1)) return false;
        if (c == 0) return true;
        out.push_back(c);
    }
    return false;
}

// How many bytes of [addr, addr + n) the guest could write before the first faulting page.
std::size_t writable_prefix(Process& p, std::uint64_t addr, std::size_t n) {
    std::size_t ok = 0;
    while (ok < n) {
        if (!p.as().access(addr + ok, Access::Write).ok) break;
        ok += std::min<std::size_t>(n - ok, kPageSize - ((addr + ok) & (kPageSize - 1)));
    }
    return ok;
}

// ---- paths under --root and generated /proc files ----
std::string host_path(Process& p, const std::string& guest) {
    if (guest.empty() || guest[0] != '/' || p.options().root == "/") return guest;
    return p.options().root + guest;
}

bool is_self_proc(const std::string& path, const char* leaf) {
    return path == std::string("/proc/self/") + leaf ||
           path == "/proc/" + std::to_string(::getpid()) + "/" + leaf;
}

std::int64_t open_file(Process& p, int dirfd, std::uint64_t path_addr, int flags, int mode) {
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    auto file = std::make_shared<GuestFile>();
    file->path = path;
    file->open_flags = flags;
    file->cloexec = flags & O_CLOEXEC;
    if (is_self_proc(path, "maps")) {
        file->generated = proc_self_maps(p);
    } else if (is_self_proc(path, "status")) {
        file->generated = proc_self_status(p);
    } else if (is_self_proc(path, "pagemap")) {
        file->pagemap = true;
    } else {
        const int host_dirfd = dirfd == AT_FDCWD ? AT_FDCWD : -1;
        int real_dirfd = host_dirfd;
        if (dirfd != AT_FDCWD) {
            auto dir = p.files().get(dirfd);
            if (!dir) return err(EBADF);
            real_dirfd = dir->host_fd;
        }
        const int fd = ::openat(real_dirfd, host_path(p, path).c_str(), flags | O_CLOEXEC, mode);
        if (fd < 0) return err(errno);
        file->host_fd = fd;
    }
    return p.files().install(file);
}

std::int64_t read_generated(Process& p, GuestFile& f, std::uint64_t buf, std::size_t n,
                            std::uint64_t* offset) {
    std::uint64_t& pos = offset ? *offset : f.offset;
    std::vector<char> data;
    if (f.pagemap) {
        // 8 bytes per virtual page: bit 63 present, 58 guard, pfn in bits 0-54.
        const std::size_t count = n / 8;
        data.resize(count * 8);
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint64_t word = p.as().pagemap((pos / 8 + i) * kPageSize).raw();
            std::memcpy(data.data() + i * 8, &word, 8);
        }
    } else {
        if (pos < f.generated.size())
            data.assign(f.generated.begin() + static_cast<long>(pos),
                        f.generated.begin() + static_cast<long>(std::min(f.generated.size(), pos + n)));
    }
    if (data.empty()) return 0;
    const std::size_t copied = p.as().copy_to_user_partial(buf, data.data(), data.size());
    if (copied == 0) return err(EFAULT);
    pos += copied;
    return static_cast<std::int64_t>(copied);
}

// One user buffer of a read/write/readv/writev.
struct UserBuffer {
    std::uint64_t addr;
    std::size_t len;
};

bool is_regular_file(int host_fd) {
    struct stat st;
    return ::fstat(host_fd, &st) == 0 && S_ISREG(st.st_mode);
}

// Reads into the buffers the way Linux does when one of them faults: a regular file returns the
// bytes copied before the fault; a pipe, socket or terminal refuses with EFAULT and leaves its
// data unread when the data would reach the faulting byte.
std::int64_t read_into(Process& p, GuestFile& f, const std::vector<UserBuffer>& bufs, std::int64_t offset) {
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
    const long put = offset < 0 ? ::write(f.host_fd, tmp.data(), tmp.size())
                                : ::pwrite(f.host_fd, tmp.data(), tmp.size(), offset);
    return host_result(put);
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
    if (!f || f->host_fd < 0) return err(EBADF);
    return write_from(p, *f, {{buf, n}}, offset);
}

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
        if (is_write) return err(EBADF);
        std::int64_t total = 0;
        for (const UserBuffer& b : bufs) {
            const std::int64_t r = read_generated(p, *f, b.addr, b.len, nullptr);
            if (r < 0) return total ? total : r;
            total += r;
            if (static_cast<std::size_t>(r) < b.len) break;
        }
        return total;
    }
    return is_write ? write_from(p, *f, bufs, -1) : read_into(p, *f, bufs, -1);
}

template <class T>
std::int64_t put(Process& p, std::uint64_t addr, const T& value) {
    return p.as().copy_to_user(addr, &value, sizeof value) ? 0 : err(EFAULT);
}

std::int64_t do_fstatat(Process& p, int dirfd, std::uint64_t path_addr, std::uint64_t out, int flags) {
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    struct stat st;
    int r;
    if (path.empty() && (flags & AT_EMPTY_PATH)) {
        auto f = p.files().get(dirfd);
        if (!f) return err(EBADF);
        if (f->host_fd < 0) {
            std::memset(&st, 0, sizeof st);
            st.st_mode = S_IFREG | 0444;
            r = 0;
        } else {
            r = ::fstat(f->host_fd, &st);
        }
    } else {
        int real_dirfd = AT_FDCWD;
        if (dirfd != AT_FDCWD && path[0] != '/') {
            auto f = p.files().get(dirfd);
            if (!f) return err(EBADF);
            real_dirfd = f->host_fd;
        }
        r = ::fstatat(real_dirfd, host_path(p, path).c_str(), &st, flags);
    }
    if (r < 0) return err(errno);
    return put(p, out, st);
}

std::int64_t do_mmap(Process& p, const SyscallArgs& s) {
    const std::uint64_t addr = s.a[0], len = s.a[1], off = s.a[5];
    const auto prot = static_cast<std::uint32_t>(s.a[2]);
    auto flags = static_cast<std::uint32_t>(s.a[3]);
    const int fd = static_cast<int>(s.a[4]);
    if (off & (kPageSize - 1)) return err(EINVAL);
    std::shared_ptr<GuestFile> file;
    if (!(flags & map::kAnonymous)) {
        file = p.files().get(fd);
        if (!file || file->host_fd < 0) return err(EBADF);
        if ((flags & map::kType) != map::kPrivate) return err(ENODEV);  // shared file maps: not yet
    }
    if (!file) return value_or_errno(p.as().mmap(addr, len, prot, flags));
    // A private file mapping: the file's pages become a page cache the mapping copies on write.
    std::vector<char> data(std::min<std::uint64_t>(page_up(len), 256ull << 20));
    const long got = ::pread(file->host_fd, data.data(), data.size(), static_cast<off_t>(off));
    auto cache = make_page_cache(p.as().memory(), data.data(), got > 0 ? static_cast<std::size_t>(got) : 0,
                                 pages(off));
    if (!cache) return err(ENOMEM);
    struct stat st {};
    ::fstat(file->host_fd, &st);
    cache.value()->id = st.st_ino;
    cache.value()->dev_major = major(st.st_dev);
    cache.value()->dev_minor = minor(st.st_dev);
    char real[4096];
    const std::string name = ::realpath(file->path.c_str(), real) ? real : file->path;
    return value_or_errno(p.as().mmap_file(addr, len, prot, flags & ~map::kAnonymous, cache.value(),
                                           pages(off), name));
}

std::int64_t do_rt_sigaction(Process& p, int sig, std::uint64_t act, std::uint64_t old, std::uint64_t size) {
    if (size != 8) return err(EINVAL);
    if (sig < 1 || sig > kNsig || sig == 9 || sig == 19) return err(EINVAL);
    SigAction current = p.signals().actions[sig];
    if (act) {
        SigAction next;
        if (!p.as().copy_from_user(&next, act, sizeof next)) return err(EFAULT);
        next.mask &= ~kUnblockable;
        p.signals().actions[sig] = next;
    }
    if (old && put(p, old, current) != 0) return err(EFAULT);
    return 0;
}

std::int64_t do_rt_sigprocmask(Process& p, int how, std::uint64_t set, std::uint64_t old, std::uint64_t size) {
    if (size != 8) return err(EINVAL);
    const std::uint64_t current = p.signals().blocked;
    if (set) {
        std::uint64_t mask;
        if (!p.as().copy_from_user(&mask, set, 8)) return err(EFAULT);
        switch (how) {
        case SIG_BLOCK: p.signals().blocked |= mask; break;
        case SIG_UNBLOCK: p.signals().blocked &= ~mask; break;
        case SIG_SETMASK: p.signals().blocked = mask; break;
        default: return err(EINVAL);
        }
        p.signals().blocked &= ~kUnblockable;
    }
    if (old && put(p, old, current) != 0) return err(EFAULT);
    return 0;
}

std::int64_t do_sigaltstack(Process& p, std::uint64_t ss, std::uint64_t old) {
    AltStack& alt = p.signals().altstack;
    const std::uint64_t rsp = p.cpu().reg(UC_X86_REG_RSP);
    const bool on_alt = alt.flags != 2 && rsp > alt.sp && rsp <= alt.sp + alt.size;
    struct {
        std::uint64_t sp;
        std::int32_t flags, pad;
        std::uint64_t size;
    } k{alt.sp, on_alt ? 1 : alt.flags, 0, alt.size};
    if (ss) {
        decltype(k) next;
        if (!p.as().copy_from_user(&next, ss, sizeof next)) return err(EFAULT);
        if (on_alt) return err(EPERM);
        if (next.flags != 0 && next.flags != 2) return err(EINVAL);
        if (next.flags == 0 && next.size < 2048) return err(ENOMEM);  // MINSIGSTKSZ
        alt = next.flags == 2 ? AltStack{} : AltStack{next.sp, 0, next.size};
    }
    if (old && put(p, old, k) != 0) return err(EFAULT);
    return 0;
}


std::int64_t do_process_madvise(Process& p, const SyscallArgs& s) {
    const int pidfd = static_cast<int>(s.a[0]);
    constexpr int kPidfdSelf = -10000;  // PIDFD_SELF_THREAD_GROUP? accept both self forms
    auto f = p.files().get(pidfd);
    const bool self = pidfd == -10000 || pidfd == -20000 || (f && f->path == "pidfd:self");
    (void)kPidfdSelf;
    if (!self) return f ? err(EINVAL) : err(EBADF);
    if (s.a[4] != 0) return err(EINVAL);
    const auto count = s.a[2];
    if (count > 1024) return err(EINVAL);
    std::int64_t total = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        struct iovec iov;
        if (!p.as().copy_from_user(&iov, s.a[1] + i * sizeof iov, sizeof iov)) return err(EFAULT);
        const Status st = p.as().madvise(reinterpret_cast<std::uint64_t>(iov.iov_base), iov.iov_len,
                                         static_cast<int>(s.a[3]));
        if (!st) return total ? total : err(st.error());
        total += static_cast<std::int64_t>(iov.iov_len);
    }
    return total;
}

void warn_unknown(std::uint64_t nr) {
    static std::set<std::uint64_t> warned;
    if (warned.insert(nr).second)
        std::fprintf(stderr, "mmuemu: unsupported system call %llu: returning -ENOSYS\n",
                     static_cast<unsigned long long>(nr));
}

// Translated code is cached by physical address; when executable memory goes away its frames
// may be reused, so the cache is dropped (rare: unmapping or replacing code).
bool touches_code(Process& p, std::uint64_t start, std::uint64_t len) {
    for (const Vma* v = p.as().vmas().find_at_or_above(start); v && v->start < start + len;
         v = p.as().vmas().find_at_or_above(v->end))
        if (v->prot & kProtExec) return true;
    return false;
}

std::int64_t dispatch(Process& p, const SyscallArgs& s);

}  // namespace

// Calls that block in the host and are restarted after a SA_RESTART handler (Linux: -ERESTARTSYS).
bool restartable(std::uint64_t nr) {
    switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64:
    case SYS_pwrite64: case SYS_wait4: case SYS_open: case SYS_openat: case SYS_ioctl:
        return true;
    default:
        return false;
    }
}

std::int64_t do_syscall(Process& p, const SyscallArgs& s) {
    bool code_may_change = false;
    if (s.nr == SYS_munmap || s.nr == SYS_mremap || s.nr == SYS_madvise ||
        (s.nr == SYS_mmap && (s.a[3] & map::kFixed)))
        code_may_change = s.a[1] < kTaskSize && touches_code(p, s.a[0], s.a[1]);
    std::int64_t result = dispatch(p, s);
    if (code_may_change) p.cpu().flush_code();
    if (result == err(EINTR) && restartable(s.nr) && p.restart_after_interrupt()) return kRestart;
    return result;
}

namespace {

std::int64_t dispatch(Process& p, const SyscallArgs& s) {
    auto& as = p.as();
    const auto& a = s.a;
    const int fd = static_cast<int>(a[0]);
    switch (s.nr) {
    // ---- memory ----
    case SYS_mmap: return do_mmap(p, s);
    case SYS_munmap: return status(as.munmap(a[0], a[1]));
    case SYS_mprotect: return status(as.mprotect(a[0], a[1], static_cast<std::uint32_t>(a[2])));
    case SYS_mremap: return value_or_errno(as.mremap(a[0], a[1], a[2], static_cast<std::uint32_t>(a[3]), a[4]));
    case SYS_madvise: return status(as.madvise(a[0], a[1], static_cast<int>(a[2])));
    case SYS_mlock: return status(as.mlock(a[0], a[1], 0));
    case SYS_mlock2: return status(as.mlock(a[0], a[1], static_cast<std::uint32_t>(a[2])));
    case SYS_munlock: return status(as.munlock(a[0], a[1]));
    case SYS_mlockall: return status(as.mlockall(static_cast<std::uint32_t>(a[0])));
    case SYS_munlockall: return status(as.munlockall());
    case 462: return status(as.mseal(a[0], a[1], a[2]));  // mseal
    case SYS_brk: return static_cast<std::int64_t>(as.brk(a[0]));
    case SYS_mincore: {
        auto vec = as.mincore(a[0], a[1]);
        if (!vec) return err(vec.error());
        return as.copy_to_user(a[2], vec.value().data(), vec.value().size()) ? 0 : err(EFAULT);
    }
    case SYS_msync: return page_aligned(a[0]) ? 0 : err(EINVAL);
    case SYS_process_madvise: return do_process_madvise(p, s);
    case SYS_pidfd_open: {
        if (static_cast<pid_t>(a[0]) != ::getpid()) return err(ESRCH);
        auto f = std::make_shared<GuestFile>();
        f->path = "pidfd:self";
        return p.files().install(f);
    }
    // ---- files ----
    case SYS_read: return do_read(p, fd, a[1], a[2], -1);
    case SYS_write: return do_write(p, fd, a[1], a[2], -1);
    case SYS_pread64: return do_read(p, fd, a[1], a[2], static_cast<std::int64_t>(a[3]));
    case SYS_pwrite64: return do_write(p, fd, a[1], a[2], static_cast<std::int64_t>(a[3]));
    case SYS_readv: return do_iov(p, fd, a[1], static_cast<int>(a[2]), false);
    case SYS_writev: return do_iov(p, fd, a[1], static_cast<int>(a[2]), true);
    case SYS_open: return open_file(p, AT_FDCWD, a[0], static_cast<int>(a[1]), static_cast<int>(a[2]));
    case SYS_openat: return open_file(p, fd, a[1], static_cast<int>(a[2]), static_cast<int>(a[3]));
    case SYS_close: return p.files().close(fd) ? 0 : err(EBADF);
    case SYS_fstat: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        struct stat st{};
        if (f->host_fd >= 0) {
            if (::fstat(f->host_fd, &st) < 0) return err(errno);
        } else {
            st.st_mode = S_IFREG | 0444;
        }
        return put(p, a[1], st);
    }
    case SYS_stat: return do_fstatat(p, AT_FDCWD, a[0], a[1], 0);
    case SYS_lstat: return do_fstatat(p, AT_FDCWD, a[0], a[1], AT_SYMLINK_NOFOLLOW);
    case SYS_newfstatat: return do_fstatat(p, fd, a[1], a[2], static_cast<int>(a[3]));
    case SYS_statx: {
        std::string path;
        if (!read_string(p, a[1], path)) return err(EFAULT);
        int real_dirfd = AT_FDCWD;
        if (static_cast<int>(a[0]) != AT_FDCWD) {
            auto f = p.files().get(static_cast<int>(a[0]));
            if (!f || f->host_fd < 0) return err(EBADF);
            real_dirfd = f->host_fd;
        }
        struct statx stx;
        const long r = ::statx(real_dirfd, host_path(p, path).c_str(), static_cast<int>(a[2]),
                               static_cast<unsigned>(a[3]), &stx);
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
        case F_DUPFD: return p.files().install(f, static_cast<int>(a[2]));
        case F_DUPFD_CLOEXEC: return p.files().install(f, static_cast<int>(a[2]));
        case F_GETFD: return f->cloexec ? FD_CLOEXEC : 0;
        case F_SETFD: f->cloexec = a[2] & FD_CLOEXEC; return 0;
        case F_GETFL: return f->host_fd >= 0 ? host_result(::fcntl(f->host_fd, F_GETFL)) : O_RDONLY;
        case F_SETFL: return f->host_fd >= 0 ? host_result(::fcntl(f->host_fd, F_SETFL, static_cast<int>(a[2]))) : 0;
        default: return err(EINVAL);
        }
    }
    case SYS_dup: {
        auto f = p.files().get(fd);
        return f ? p.files().install(f) : err(EBADF);
    }
    case SYS_dup2:
    case SYS_dup3: {
        auto f = p.files().get(fd);
        if (!f) return err(EBADF);
        if (s.nr == SYS_dup3 && a[0] == a[1]) return err(EINVAL);
        p.files().install_at(static_cast<int>(a[1]), f);
        return static_cast<std::int64_t>(a[1]);
    }
    case SYS_pipe:
    case SYS_pipe2: {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC | (s.nr == SYS_pipe2 ? static_cast<int>(a[1]) & O_NONBLOCK : 0)) < 0)
            return err(errno);
        auto r = std::make_shared<GuestFile>(), w = std::make_shared<GuestFile>();
        r->host_fd = fds[0];
        w->host_fd = fds[1];
        const int gfds[2] = {p.files().install(r), p.files().install(w)};
        if (!p.as().copy_to_user(a[0], gfds, sizeof gfds)) {
            p.files().close(gfds[0]);
            p.files().close(gfds[1]);
            return err(EFAULT);
        }
        return 0;
    }
    case SYS_getcwd: {
        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return err(errno);
        const std::size_t n = std::strlen(buf) + 1;
        if (n > a[1]) return err(ERANGE);
        return p.as().copy_to_user(a[0], buf, n) ? static_cast<std::int64_t>(n) : err(EFAULT);
    }
    case SYS_readlink:
    case SYS_readlinkat: {
        const bool at = s.nr == SYS_readlinkat;
        std::string path;
        if (!read_string(p, a[at ? 1 : 0], path)) return err(EFAULT);
        const std::uint64_t buf = a[at ? 2 : 1], size = a[at ? 3 : 2];
        std::string target;
        if (is_self_proc(path, "exe")) {
            char real[4096];
            target = ::realpath(p.program_path().c_str(), real) ? real : p.program_path();
        } else {
            char tmp[4096];
            const long n = ::readlink(host_path(p, path).c_str(), tmp, sizeof tmp);
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
        return host_result(::access(host_path(p, path).c_str(), static_cast<int>(a[at ? 2 : 1])));
    }
    case SYS_getdents64: {
        auto f = p.files().get(fd);
        if (!f || f->host_fd < 0) return err(EBADF);
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
        const std::string hp = host_path(p, path);
        if (s.nr == SYS_unlink) return host_result(::unlink(hp.c_str()));
        if (s.nr == SYS_rmdir) return host_result(::rmdir(hp.c_str()));
        if (s.nr == SYS_unlinkat) return host_result(::unlinkat(AT_FDCWD, hp.c_str(), static_cast<int>(a[2])));
        return host_result(::mkdir(hp.c_str(), static_cast<mode_t>(a[at ? 2 : 1])));
    }
    case SYS_rename:
    case SYS_renameat:
    case SYS_renameat2: {
        const bool at = s.nr != SYS_rename;
        std::string from, to;
        if (!read_string(p, a[at ? 1 : 0], from) || !read_string(p, a[at ? 3 : 1], to)) return err(EFAULT);
        return host_result(::rename(host_path(p, from).c_str(), host_path(p, to).c_str()));
    }
    case SYS_ftruncate: {
        auto f = p.files().get(fd);
        if (!f || f->host_fd < 0) return err(EBADF);
        return host_result(::ftruncate(f->host_fd, static_cast<off_t>(a[1])));
    }
    case SYS_umask: return ::umask(static_cast<mode_t>(a[0]));
    case SYS_chdir: {
        std::string path;
        if (!read_string(p, a[0], path)) return err(EFAULT);
        return host_result(::chdir(host_path(p, path).c_str()));
    }
    // ---- process, identity, time ----
    case SYS_exit:
    case SYS_exit_group: p.exit(static_cast<int>(a[0] & 0xff)); return kNoReturn;
    case SYS_getpid: return ::getpid();
    case SYS_gettid: return ::getpid();
    case SYS_getppid: return ::getppid();
    case SYS_getuid: return ::getuid();
    case SYS_geteuid: return ::geteuid();
    case SYS_getgid: return ::getgid();
    case SYS_getegid: return ::getegid();
    case SYS_getpgrp: return ::getpgrp();
    case SYS_setpgid: return host_result(::setpgid(static_cast<pid_t>(a[0]), static_cast<pid_t>(a[1])));
    case SYS_set_tid_address: return ::getpid();
    case SYS_set_robust_list: return 0;
    case SYS_rseq: {
        // Registered, with CPU 0 written where the kernel would keep the current CPU.
        const std::uint32_t cpu[2] = {0, 0};
        if (a[2] == 1) return 0;  // RSEQ_FLAG_UNREGISTER
        return p.as().copy_to_user(a[0], cpu, sizeof cpu) ? 0 : err(EFAULT);
    }
    case SYS_arch_prctl:
        switch (a[0]) {
        case 0x1002: p.cpu().set_reg(UC_X86_REG_FS_BASE, a[1]); return 0;  // ARCH_SET_FS
        case 0x1001: p.cpu().set_reg(UC_X86_REG_GS_BASE, a[1]); return 0;  // ARCH_SET_GS
        case 0x1003: return put(p, a[1], p.cpu().reg(UC_X86_REG_FS_BASE));
        case 0x1004: return put(p, a[1], p.cpu().reg(UC_X86_REG_GS_BASE));
        default: return err(EINVAL);
        }
    case SYS_prlimit64:
    case SYS_getrlimit: {
        const bool pr = s.nr == SYS_prlimit64;
        if (pr && a[0] != 0 && static_cast<pid_t>(a[0]) != ::getpid()) return err(ESRCH);
        const int resource = static_cast<int>(a[pr ? 1 : 0]);
        struct rlimit old;
        if (::getrlimit(resource, &old) < 0) return err(errno);
        const std::uint64_t out = a[pr ? 3 : 1];
        return out ? put(p, out, old) : 0;
    }
    case SYS_getrandom: {
        const std::size_t n = std::min<std::size_t>(a[1], 1 << 16);
        std::vector<char> tmp(n);
        const long got = ::getrandom(tmp.data(), n, static_cast<unsigned>(a[2]));
        if (got < 0) return err(errno);
        return p.as().copy_to_user(a[0], tmp.data(), static_cast<std::size_t>(got)) ? got : err(EFAULT);
    }
    case SYS_uname: {
        struct utsname u;
        ::uname(&u);
        return put(p, a[0], u);
    }
    case SYS_sysinfo: {
        struct sysinfo_stub { char b[112]; } si{};
        return put(p, a[0], si);
    }
    case SYS_clock_gettime: {
        struct timespec ts;
        if (::clock_gettime(static_cast<clockid_t>(a[0]), &ts) < 0) return err(errno);
        return put(p, a[1], ts);
    }
    case SYS_clock_getres: {
        struct timespec ts;
        if (::clock_getres(static_cast<clockid_t>(a[0]), &ts) < 0) return err(errno);
        return a[1] ? put(p, a[1], ts) : 0;
    }
    case SYS_gettimeofday: {
        struct timespec ts;
        ::clock_gettime(CLOCK_REALTIME, &ts);
        const struct { long s, us; } tv{ts.tv_sec, ts.tv_nsec / 1000};
        return a[0] ? put(p, a[0], tv) : 0;
    }
    case SYS_time: {
        const long t = ::time(nullptr);
        if (a[0] && put(p, a[0], t) != 0) return err(EFAULT);
        return t;
    }
    case SYS_nanosleep:
    case SYS_clock_nanosleep: {
        const bool clock = s.nr == SYS_clock_nanosleep;
        struct timespec ts;
        if (!p.as().copy_from_user(&ts, a[clock ? 2 : 0], sizeof ts)) return err(EFAULT);
        if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000 || ts.tv_sec < 0) return err(EINVAL);
        if (clock) return -::clock_nanosleep(static_cast<clockid_t>(a[0]), static_cast<int>(a[1]), &ts, nullptr);
        return host_result(::nanosleep(&ts, nullptr));
    }
    case SYS_sched_yield: return 0;
    case SYS_sched_getaffinity: {
        const std::uint64_t mask = 1;
        if (a[1] < 8) return err(EINVAL);
        return put(p, a[2], mask) == 0 ? 8 : err(EFAULT);
    }
    case SYS_fork:
    case SYS_vfork: return do_fork(p);
    case SYS_clone: {
        constexpr std::uint64_t kCloneVm = 0x100, kCloneVfork = 0x4000, kCloneThread = 0x10000;
        if ((a[0] & kCloneThread) || ((a[0] & kCloneVm) && !(a[0] & kCloneVfork))) {
            warn_unknown(s.nr);  // threads are not supported yet
            return err(ENOSYS);
        }
        const std::int64_t pid = do_fork(p);
        constexpr std::uint64_t kChildSettid = 0x01000000;
        if (pid == 0 && (a[0] & kChildSettid)) {
            const std::int32_t tid = ::getpid();
            (void)put(p, a[3], tid);
        }
        return pid;
    }
    case SYS_wait4: {
        int wstatus = 0;
        const pid_t r = ::wait4(static_cast<pid_t>(a[0]), &wstatus, static_cast<int>(a[2]), nullptr);
        if (r < 0) return err(errno);
        if (a[1] && put(p, a[1], wstatus) != 0) return err(EFAULT);
        return r;
    }
    // ---- signals ----
    case SYS_rt_sigaction: return do_rt_sigaction(p, fd, a[1], a[2], a[3]);
    case SYS_rt_sigprocmask: return do_rt_sigprocmask(p, fd, a[1], a[2], a[3]);
    case SYS_rt_sigreturn: return restore_sigframe(p) ? kNoReturn : err(EFAULT);
    case SYS_sigaltstack: return do_sigaltstack(p, a[0], a[1]);
    case SYS_rt_sigpending: return put(p, a[0], p.signals().pending);
    case SYS_kill:
    case SYS_tgkill:
    case SYS_tkill: {
        const pid_t target = static_cast<pid_t>(s.nr == SYS_tgkill ? a[1] : a[0]);
        const int sig = static_cast<int>(s.nr == SYS_tgkill ? a[2] : a[1]);
        if (sig < 0 || sig > kNsig) return err(EINVAL);
        if (target != ::getpid() && !(s.nr == SYS_kill && target == 0)) {
            if (s.nr == SYS_kill) return host_result(::kill(target, sig));
            return err(ESRCH);
        }
        if (sig == 0) return 0;
        p.send_signal(sig, s.nr == SYS_kill ? 0 : -6);  // SI_USER or SI_TKILL
        return 0;
    }
    case SYS_futex: return 0;  // single-threaded: nothing to wait for or wake
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
    case SYS_prctl: {
        constexpr std::uint64_t kSetName = 15, kGetName = 16;
        static char comm[16] = "mmuemu-guest";
        if (a[0] == kSetName) {
            std::string name;
            if (!read_string(p, a[1], name)) return err(EFAULT);
            std::snprintf(comm, sizeof comm, "%s", name.c_str());
            return 0;
        }
        if (a[0] == kGetName) return p.as().copy_to_user(a[1], comm, sizeof comm) ? 0 : err(EFAULT);
        return err(EINVAL);
    }
    default:
        warn_unknown(s.nr);
        return err(ENOSYS);
    }
}

}  // namespace

// fork: the mmu copies the address space (COW, markers, WIPEONFORK, DONTFORK); the host process
// is forked too so that the child runs on its own CPU, and wait4 sees real exit statuses.
std::int64_t do_fork(Process& p) {
    auto child_as = p.as().fork();
    if (!child_as) return -child_as.error();
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) return -errno;
    if (pid == 0) {
        p.adopt_forked_address_space(std::move(child_as.value()));
        return 0;
    }
    p.keep_other_side(std::move(child_as.value()));
    return pid;
}

}  // namespace emu
