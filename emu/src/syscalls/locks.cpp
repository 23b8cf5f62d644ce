// File locks: fcntl's POSIX record locks (per guest process, kept in FileLocks with a host
// mirror), fcntl's OFD locks and flock (per open file description: taken on the guest file's
// own host descriptor, which is one open file description of the host, shared by dup and fork
// exactly as the guest's is); fallocate and fsync, which keep mapped pages coherent with the file.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"
#include "syscalls/syscalls.hpp"

namespace emu::sys {

namespace {

constexpr std::uint64_t kHostPollNs = 2'000'000;  // a lock held by another host process: look again

bool is_ofd(int cmd) { return cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW; }
bool is_lock_cmd(int cmd) {
    return cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || is_ofd(cmd);
}

// The file's identity for the lock table (memfds: their own inode numbers on device ~0).
std::optional<FileKey> key_of(const GuestFile& f, bool* regular = nullptr) {
    if (f.kind == GuestFile::Kind::Memfd) return FileKey{static_cast<dev_t>(~0ull), f.inode};
    struct stat st;
    if (f.host_fd < 0 || ::fstat(f.host_fd, &st) < 0) return std::nullopt;
    if (regular) *regular = S_ISREG(st.st_mode);
    return FileKey{st.st_dev, st.st_ino};
}

int access_mode(const GuestFile& f) {
    if (f.host_fd < 0) return f.open_flags & O_ACCMODE;
    const int flags = ::fcntl(f.host_fd, F_GETFL);
    return flags < 0 ? -1 : flags & (O_ACCMODE | O_PATH);
}

// Linux flock_to_posix_lock: the range from whence/start/len; a negative length covers the
// bytes before start; 0 runs to infinity.
std::int64_t to_range(const GuestFile& f, const struct flock& fl, RecordLock& out) {
    std::int64_t base = 0;
    if (fl.l_whence == SEEK_CUR) {
        base = f.host_fd >= 0 ? ::lseek(f.host_fd, 0, SEEK_CUR) : static_cast<std::int64_t>(f.offset);
    } else if (fl.l_whence == SEEK_END) {
        struct stat st{};
        if (f.kind == GuestFile::Kind::Memfd) st.st_size = static_cast<off_t>(f.memfd->size);
        else if (::fstat(f.host_fd, &st) < 0) return err(errno);
        base = st.st_size;
    } else if (fl.l_whence != SEEK_SET) {
        return err(EINVAL);
    }
    if (base < 0) return err(EINVAL);
    std::int64_t start;
    if (__builtin_add_overflow(base, static_cast<std::int64_t>(fl.l_start), &start)) return err(EOVERFLOW);
    if (start < 0) return err(EINVAL);
    std::int64_t end = INT64_MAX;
    if (fl.l_len > 0) {
        if (fl.l_len - 1 > INT64_MAX - start) return err(EOVERFLOW);
        end = start + fl.l_len - 1;
    } else if (fl.l_len < 0) {
        end = start - 1;
        start += fl.l_len;
        if (start < 0) return err(EINVAL);
    }
    out.start = static_cast<std::uint64_t>(start);
    out.end = static_cast<std::uint64_t>(end);
    return 0;
}

struct flock host_request(const RecordLock& r) {
    struct flock fl{};
    fl.l_type = r.type;
    fl.l_whence = SEEK_SET;
    fl.l_start = static_cast<off_t>(r.start);
    fl.l_len = r.end == RecordLock::kLockEof ? 0 : static_cast<off_t>(r.end - r.start + 1);
    return fl;
}

// F_GETLK's answer for a conflicting lock (Linux posix_lock_to_flock).
void report(struct flock& fl, const RecordLock& held, int pid) {
    fl = host_request(held);
    fl.l_pid = pid;
}

std::int64_t wait_for_lock(Process& p, FileLocks& locks, FileKey key, const RecordLock& req, bool host_held) {
    BlockState b;
    if (host_held) b.deadline_ns = monotonic_ns() + kHostPollNs;
    else b.ready = [&locks, key, req] { return !locks.conflict(key, req); };
    return p.block(std::move(b));
}

// F_GETLK, F_SETLK, F_SETLKW (POSIX: owned by the calling process).
std::int64_t posix_lock(Process& p, GuestFile& f, int cmd, struct flock& fl, std::uint64_t addr) {
    bool regular = false;
    const auto key = key_of(f, &regular);
    if (!key) return err(EBADF);
    RecordLock req{p.group().tgid, fl.l_type};
    if (auto r = to_range(f, fl, req); r < 0) return r;
    FileLocks& locks = p.file_locks();
    const int owner = req.owner;
    if (cmd == F_GETLK) {
        if (auto held = locks.conflict(*key, req)) {
            report(fl, *held, held->owner);
            return put(p, addr, fl);
        }
        const bool had_mirror = locks.holds_any(*key, owner);  // (an owner with locks has one)
        const int m = regular && f.host_fd >= 0 ? locks.mirror(*key, owner, f.host_fd) : -1;
        struct flock probe = host_request(req);
        if (m >= 0 && ::fcntl(m, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) fl = probe;
        else fl.l_type = F_UNLCK;
        if (!had_mirror) locks.drop_if_unused(*key, owner);  // a mirror opened for the question
        return put(p, addr, fl);
    }
    if (const int mode = access_mode(f); mode < 0 || (mode & O_PATH)) return err(EBADF);
    else if ((req.type == F_RDLCK && mode == O_WRONLY) || (req.type == F_WRLCK && mode == O_RDONLY)) return err(EBADF);
    if (auto held = locks.conflict(*key, req)) {
        if (cmd == F_SETLK) return err(EAGAIN);
        auto still_waiting = [&p](int tid) {
            auto t = p.find_task(tid);
            return t && t->state == TaskState::Blocked;
        };
        if (locks.would_deadlock(owner, held->owner, still_waiting)) {
            locks.clear_waiting(owner);
            return err(EDEADLK);
        }
        locks.set_waiting(owner, p.task().tid, held->owner);
        return wait_for_lock(p, locks, *key, req, false);
    }
    // Other host processes: the request repeated on this owner's mirror.
    if (regular && f.host_fd >= 0) {
        const int m = locks.mirror(*key, owner, f.host_fd);
        struct flock host = host_request(req);
        if (m >= 0 && ::fcntl(m, F_OFD_SETLK, &host) < 0) {
            const int e = errno;
            locks.drop_if_unused(*key, owner);
            if (e != EAGAIN || cmd == F_SETLK) return err(e == EACCES ? EAGAIN : e);
            return wait_for_lock(p, locks, *key, req, true);
        }
    }
    locks.clear_waiting(owner);
    locks.apply(*key, req);
    return 0;
}

// F_OFD_*: the lock belongs to the open file description, the guest file's host descriptor.
std::int64_t ofd_lock(Process& p, GuestFile& f, int cmd, struct flock& fl, std::uint64_t addr) {
    if (fl.l_pid != 0) return err(EINVAL);
    if (f.host_fd < 0) return cmd == F_OFD_GETLK ? (fl.l_type = F_UNLCK, put(p, addr, fl)) : 0;
    RecordLock req{0, fl.l_type};
    if (auto r = to_range(f, fl, req); r < 0) return r;
    if (cmd == F_OFD_GETLK) {
        // A guest process's POSIX lock is reported with its guest pid (the host sees the mirror).
        if (const auto key = key_of(f); key)
            if (auto held = p.file_locks().conflict(*key, {-1, req.type, req.start, req.end})) {
                report(fl, *held, held->owner);
                return put(p, addr, fl);
            }
        struct flock probe = host_request(req);
        if (::fcntl(f.host_fd, F_OFD_GETLK, &probe) < 0) return err(errno);
        if (probe.l_type == F_UNLCK) fl.l_type = F_UNLCK;
        else fl = probe;
        return put(p, addr, fl);
    }
    struct flock host = host_request(req);
    if (::fcntl(f.host_fd, F_OFD_SETLK, &host) == 0) return 0;
    if (errno != EAGAIN || cmd == F_OFD_SETLK) return err(errno);
    BlockState b;
    b.deadline_ns = monotonic_ns() + kHostPollNs;
    return p.block(std::move(b));
}

std::int64_t do_flock(Process& p, int fd, int op) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (f->host_fd < 0) return (op & ~LOCK_NB) == LOCK_SH || (op & ~LOCK_NB) == LOCK_EX || (op & ~LOCK_NB) == LOCK_UN ? 0 : err(EINVAL);
    if (::flock(f->host_fd, op | LOCK_NB) == 0) return 0;
    if (errno != EWOULDBLOCK || (op & LOCK_NB)) return err(errno);
    BlockState b;
    b.deadline_ns = monotonic_ns() + kHostPollNs;
    return p.block(std::move(b));
}

std::int64_t lock_fcntl(Process& p, int fd, int cmd, std::uint64_t addr) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    struct flock fl;
    if (!p.as().copy_from_user(&fl, addr, sizeof fl)) return err(EFAULT);
    if (fl.l_type != F_RDLCK && fl.l_type != F_WRLCK && fl.l_type != F_UNLCK) return err(EINVAL);
    if ((cmd == F_GETLK || cmd == F_OFD_GETLK) && fl.l_type == F_UNLCK) return err(EINVAL);
    if (is_ofd(cmd)) return ofd_lock(p, *f, cmd, fl, addr);
    return posix_lock(p, *f, cmd, fl, addr);
}

// fsync, fdatasync: pages written through shared mappings reach the host file first.
std::int64_t do_fsync(Process& p, int fd, bool data_only) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (f->host_fd < 0) return f->kind == GuestFile::Kind::Host ? err(EINVAL) : 0;
    if (auto object = p.file_objects().find(*f)) object->write_back();
    return host_result(data_only ? ::fdatasync(f->host_fd) : ::fsync(f->host_fd));
}

// Resident pages of [offset, offset + len) read as zero (a punched hole): every mapping sees it.
void zero_resident(mmu::SharedMemoryObject& object, std::uint64_t offset, std::uint64_t len) {
    static const std::byte zeros[kPageSize]{};
    const std::uint64_t end = std::min(offset + len, object.frames.size() * kPageSize);
    for (std::uint64_t at = offset; at < end;) {
        const std::uint64_t chunk = std::min(end - at, kPageSize - (at & (kPageSize - 1)));
        object.absorb(at, zeros, chunk);
        at += chunk;
    }
}

// Linux fallocate: 0 allocates (and grows the size), FALLOC_FL_KEEP_SIZE allocates only,
// FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE) frees the range, which then reads as zero.
std::int64_t do_fallocate(Process& p, int fd, int mode, std::int64_t offset, std::int64_t len) {
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (offset < 0 || len <= 0) return err(EINVAL);
    if (len > INT64_MAX - offset) return err(EFBIG);
    const bool punch = mode & FALLOC_FL_PUNCH_HOLE;
    if (punch && !(mode & FALLOC_FL_KEEP_SIZE)) return err(EOPNOTSUPP);
    const auto first = static_cast<std::uint64_t>(offset), n = static_cast<std::uint64_t>(len);
    if (f->kind == GuestFile::Kind::Memfd) {  // shmem: modes 0, KEEP_SIZE, PUNCH_HOLE|KEEP_SIZE
        if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE)) return err(EOPNOTSUPP);
        if ((f->open_flags & O_ACCMODE) == O_RDONLY) return err(EBADF);
        auto& object = *f->memfd;
        if (punch) {
            if (f->seals & 0x18) return err(EPERM);  // F_SEAL_WRITE, F_SEAL_FUTURE_WRITE
            zero_resident(object, first, n);
            return 0;
        }
        if (!(mode & FALLOC_FL_KEEP_SIZE) && first + n > object.size) {
            if (f->seals & 4) return err(EPERM);  // F_SEAL_GROW
            mmu::resize_object(object, first + n);
        }
        return 0;
    }
    if (f->host_fd < 0) return err(ENODEV);
    auto object = p.file_objects().find(*f);
    if (object && punch) object->write_back();  // the bytes around the hole reach the file first
    if (::fallocate(f->host_fd, mode, offset, len) < 0) return err(errno);
    if (!object) return 0;
    if (punch) zero_resident(*object, first, n);
    struct stat st;
    if (::fstat(f->host_fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > object->size)
        mmu::resize_object(*object, static_cast<std::uint64_t>(st.st_size));
    return 0;
}

}  // namespace

// close(2) of `fd` (also dup2 over it): the caller's POSIX locks on that file go.
void release_posix_locks(Process& p, int fd) {
    if (p.file_locks().empty()) return;
    auto f = p.files().get(fd);
    if (!f) return;
    if (const auto key = key_of(*f)) p.file_locks().release(*key, p.group().tgid);
}

std::optional<std::int64_t> lock_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    if (s.nr == SYS_fsync || s.nr == SYS_fdatasync) return do_fsync(p, static_cast<int>(a[0]), s.nr == SYS_fdatasync);
    if (s.nr == SYS_fallocate)
        return do_fallocate(p, static_cast<int>(a[0]), static_cast<int>(a[1]), static_cast<std::int64_t>(a[2]),
                            static_cast<std::int64_t>(a[3]));
    if (s.nr == SYS_flock) return do_flock(p, static_cast<int>(a[0]), static_cast<int>(a[1]));
    if (s.nr == SYS_fcntl && is_lock_cmd(static_cast<int>(a[1])))
        return lock_fcntl(p, static_cast<int>(a[0]), static_cast<int>(a[1]), a[2]);
    return std::nullopt;
}

}  // namespace emu::sys
