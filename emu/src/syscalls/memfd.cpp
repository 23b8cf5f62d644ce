// memfd_create and the calls on a memfd descriptor: the file is a memory object (mmu), read and
// written in place, sized by ftruncate, mapped shared or private, sealed with F_ADD_SEALS.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cerrno>
#include <vector>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"
#include "syscalls/syscalls.hpp"

namespace emu::sys {

namespace {

constexpr unsigned kMfdCloexec = 1, kMfdAllowSealing = 2, kMfdHugetlb = 4, kMfdNoexecSeal = 8,
                   kMfdExec = 0x10;
constexpr unsigned kSealSeal = 1, kSealShrink = 2, kSealGrow = 4, kSealWrite = 8,
                   kSealFutureWrite = 0x10, kSealExec = 0x20, kAllSeals = 0x3f;
constexpr int kKernelLargefile = 0x8000;  // O_LARGEFILE as the kernel shows it (0 in glibc here)
constexpr std::size_t kNameMax = 255 - 6;  // NAME_MAX minus "memfd:"

std::uint64_t next_memfd_inode = 1;

// Linux memfd_create: flags first (EINVAL), then the name (EFAULT, EINVAL beyond 249 bytes).
std::int64_t memfd_create(Process& p, std::uint64_t name_addr, unsigned flags) {
    constexpr unsigned kAll = kMfdCloexec | kMfdAllowSealing | kMfdHugetlb | kMfdNoexecSeal | kMfdExec;
    if (flags & ~kAll) return err(EINVAL);
    if ((flags & kMfdExec) && (flags & kMfdNoexecSeal)) return err(EINVAL);
    std::string name;
    if (!read_string(p, name_addr, name, kNameMax + 1))  // unreadable, or too long
        return name.size() > kNameMax ? err(EINVAL) : err(EFAULT);
    auto f = std::make_shared<GuestFile>();
    f->kind = GuestFile::Kind::Memfd;
    f->open_flags = O_RDWR | kKernelLargefile;
    f->path = "/memfd:" + name + " (deleted)";
    f->inode = 0x100000 + next_memfd_inode++;
    // Without MFD_ALLOW_SEALING the file is born sealed against sealing; MFD_NOEXEC_SEAL makes it
    // non-executable for good (F_SEAL_EXEC) and allows sealing.
    f->seals = kSealSeal;
    f->st_mode = S_IFREG | 0777;
    if (flags & kMfdNoexecSeal) {
        f->st_mode = S_IFREG | 0666;
        f->seals = kSealExec;
    } else if (flags & kMfdAllowSealing) {
        f->seals = 0;
    }
    f->memfd = std::make_shared<mmu::SharedMemoryObject>();
    f->memfd->memory = &p.ram();
    f->memfd->size = 0;
    f->memfd->id = f->inode;
    f->memfd->dev_minor = 1;
    return install_fd(p, std::move(f), 0, flags & kMfdCloexec);
}

bool write_sealed(const GuestFile& f) { return f.seals & (kSealWrite | kSealFutureWrite); }

// read/write at `offset` (-1: the file position) through user buffers.
std::int64_t memfd_io(Process& p, GuestFile& f, std::uint64_t addr, std::size_t n, std::int64_t offset,
                      bool is_write) {
    auto& object = *f.memfd;
    std::uint64_t at = offset < 0 ? f.offset : static_cast<std::uint64_t>(offset);
    n = std::min<std::size_t>(n, 1 << 30);
    std::vector<char> tmp(std::min<std::size_t>(n, 1 << 20));
    std::size_t done = 0;
    while (done < n) {
        const std::size_t chunk = std::min(tmp.size(), n - done);
        std::size_t moved;
        if (is_write) {
            if (write_sealed(f)) return done ? static_cast<std::int64_t>(done) : err(EPERM);
            if ((f.seals & kSealGrow) && at + chunk > object.size) {
                if (done) break;
                return err(EPERM);
            }
            const std::size_t got = p.as().copy_from_user_partial(tmp.data(), addr + done, chunk);
            if (got == 0) return done ? static_cast<std::int64_t>(done) : err(EFAULT);
            auto put = object.write(at, tmp.data(), got);
            if (!put) return done ? static_cast<std::int64_t>(done) : err(put.error());
            moved = put.value();
        } else {
            moved = object.read(at, tmp.data(), chunk);
            if (moved == 0) break;
            const std::size_t copied = p.as().copy_to_user_partial(addr + done, tmp.data(), moved);
            if (copied == 0) return done ? static_cast<std::int64_t>(done) : err(EFAULT);
            moved = copied;
        }
        done += moved;
        at += moved;
        if (moved < chunk) break;
    }
    if (offset < 0) f.offset = at;
    return static_cast<std::int64_t>(done);
}

std::int64_t memfd_iov(Process& p, GuestFile& f, std::uint64_t iov_addr, int count, std::int64_t offset,
                       bool is_write) {
    if (count < 0 || count > 1024) return err(EINVAL);
    std::int64_t total = 0;
    for (int i = 0; i < count; ++i) {
        struct iovec iov;
        if (!p.as().copy_from_user(&iov, iov_addr + i * sizeof iov, sizeof iov)) return total ? total : err(EFAULT);
        const std::int64_t r = memfd_io(p, f, reinterpret_cast<std::uint64_t>(iov.iov_base), iov.iov_len,
                                        offset < 0 ? -1 : offset + total, is_write);
        if (r < 0) return total ? total : r;
        total += r;
        if (static_cast<std::size_t>(r) < iov.iov_len) break;
    }
    return total;
}

std::int64_t memfd_truncate(Process&, GuestFile& f, std::int64_t length) {
    if (length < 0) return err(EINVAL);
    const auto size = static_cast<std::uint64_t>(length);
    if ((f.seals & kSealShrink) && size < f.memfd->size) return err(EPERM);
    if ((f.seals & kSealGrow) && size > f.memfd->size) return err(EPERM);
    mmu::resize_object(*f.memfd, size);  // frames dropped or written: their code goes too
    return 0;
}

// Shared mappings of `object` that may be made writable (VM_SHARED with VM_MAYWRITE, even if
// read-only now: the 6.18 host refuses F_SEAL_WRITE for those too), in any task.
bool writably_mapped(Process& p, const mmu::SharedMemoryObject& object) {
    for (const mmu::AddressSpace* as : p.ram().address_spaces())
        for (const auto& [start, v] : as->vmas().all())
            if (v.shmem.get() == &object && v.shared() && !v.has(mmu::vma_flag::kNoMayWrite)) return true;
    return false;
}

// Linux memfd_add_seals: EPERM without write access or once F_SEAL_SEAL is set, EINVAL for
// unknown seals, EBUSY for F_SEAL_WRITE while a writable shared mapping exists.
std::int64_t add_seals(Process& p, GuestFile& f, unsigned seals) {
    if ((f.open_flags & O_ACCMODE) == O_RDONLY) return err(EPERM);
    if (seals & ~kAllSeals) return err(EINVAL);
    if (f.seals & kSealSeal) return err(EPERM);
    // F_SEAL_EXEC on an executable file implies the write seals (W^X from then on).
    if ((seals & kSealExec) && (f.st_mode & 0111))
        seals |= kSealShrink | kSealGrow | kSealWrite | kSealFutureWrite;
    if ((seals & kSealWrite) && !(f.seals & kSealWrite) && writably_mapped(p, *f.memfd)) return err(EBUSY);
    f.seals |= seals;
    return 0;
}

std::int64_t memfd_lseek(GuestFile& f, std::int64_t off, int whence) {
    std::int64_t base;
    switch (whence) {
    case SEEK_SET: base = 0; break;
    case SEEK_CUR: base = static_cast<std::int64_t>(f.offset); break;
    case SEEK_END: base = static_cast<std::int64_t>(f.memfd->size); break;
    default: return err(EINVAL);
    }
    if (base + off < 0) return err(EINVAL);
    f.offset = static_cast<std::uint64_t>(base + off);
    return base + off;
}

}  // namespace

// memfd_create, and the file calls whose descriptor is a memfd (nullopt: not ours).
std::optional<std::int64_t> memfd_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    if (s.nr == SYS_memfd_create) return memfd_create(p, a[0], static_cast<unsigned>(a[1]));
    switch (s.nr) {
    case SYS_read: case SYS_write: case SYS_pread64: case SYS_pwrite64: case SYS_readv:
    case SYS_writev: case SYS_preadv: case SYS_pwritev: case SYS_lseek: case SYS_ftruncate:
    case SYS_fcntl:
        break;
    default:
        return std::nullopt;
    }
    auto f = p.files().get(static_cast<int>(a[0]));
    if (!f || f->kind != GuestFile::Kind::Memfd) {
        if (s.nr == SYS_fcntl && f && (a[1] == F_ADD_SEALS || a[1] == F_GET_SEALS)) return err(EINVAL);
        return std::nullopt;
    }
    const auto off = static_cast<std::int64_t>(a[3]);
    switch (s.nr) {
    case SYS_read: return memfd_io(p, *f, a[1], a[2], -1, false);
    case SYS_write: return memfd_io(p, *f, a[1], a[2], -1, true);
    case SYS_pread64: return off < 0 ? err(EINVAL) : memfd_io(p, *f, a[1], a[2], off, false);
    case SYS_pwrite64: return off < 0 ? err(EINVAL) : memfd_io(p, *f, a[1], a[2], off, true);
    case SYS_readv: return memfd_iov(p, *f, a[1], static_cast<int>(a[2]), -1, false);
    case SYS_writev: return memfd_iov(p, *f, a[1], static_cast<int>(a[2]), -1, true);
    case SYS_preadv: return memfd_iov(p, *f, a[1], static_cast<int>(a[2]), off, false);
    case SYS_pwritev: return memfd_iov(p, *f, a[1], static_cast<int>(a[2]), off, true);
    case SYS_lseek: return memfd_lseek(*f, static_cast<std::int64_t>(a[1]), static_cast<int>(a[2]));
    case SYS_ftruncate: return memfd_truncate(p, *f, static_cast<std::int64_t>(a[1]));
    default: break;
    }
    switch (a[1]) {  // fcntl
    case F_ADD_SEALS: return add_seals(p, *f, static_cast<unsigned>(a[2]));
    case F_GET_SEALS: return f->seals;
    case F_GETFL: return f->open_flags | (f->nonblocking ? O_NONBLOCK : 0);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
