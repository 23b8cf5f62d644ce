// Memory system calls: answered by the mmu library, with exactly its errno.
#include "syscalls/syscalls.hpp"

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
#include <optional>
#include <set>
#include <string>
#include <vector>
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

// The access checks of mmap on a descriptor (Linux do_mmap): a shared writable mapping needs a
// descriptor open for writing, every file mapping one open for reading (EACCES); a sealed memfd
// refuses shared writable mappings (EPERM); unknown flags with MAP_SHARED_VALIDATE: EOPNOTSUPP.
std::optional<std::int64_t> check_file_mapping(const GuestFile& f, int access_mode, std::uint32_t prot,
                                               std::uint32_t type, std::uint32_t flags) {
    constexpr std::uint32_t kValidated = map::kType | map::kFixed | map::kAnonymous |
        map::kDenyWrite | map::kExecutable | map::kLocked | map::kNoReserve | map::kPopulate |
        map::kNonBlock | map::kStack | map::kHugeTlb | map::kFixedNoReplace | map::kGrowsDown |
        map::k32Bit;
    if (type == map::kSharedValidate && (flags & ~kValidated)) return err(EOPNOTSUPP);
    const bool shared = type != map::kPrivate;
    if (shared && (prot & kProtWrite) && access_mode == O_RDONLY) return err(EACCES);
    if (access_mode == O_WRONLY) return err(EACCES);
    constexpr unsigned kSealWrite = 0x8, kSealFutureWrite = 0x10;
    if (shared && (prot & kProtWrite) && (f.seals & (kSealWrite | kSealFutureWrite))) return err(EPERM);
    return std::nullopt;
}

std::int64_t do_mmap(Process& p, const SyscallArgs& s) {
    const std::uint64_t addr = s.a[0], len = s.a[1], off = s.a[5];
    const auto prot = static_cast<std::uint32_t>(s.a[2]);
    auto flags = static_cast<std::uint32_t>(s.a[3]);
    const int fd = static_cast<int>(s.a[4]);
    if (off & (kPageSize - 1)) return err(EINVAL);
    if (flags & map::kAnonymous) return value_or_errno(p.as().mmap(addr, len, prot, flags));
    auto file = p.files().get(fd);
    if (!file) return err(EBADF);
    const std::uint32_t type = flags & map::kType;
    if (type != map::kShared && type != map::kPrivate && type != map::kSharedValidate) return err(EINVAL);
    if (len == 0) return err(EINVAL);
    const bool memfd = file->kind == GuestFile::Kind::Memfd;
    if (!memfd && (file->host_fd < 0 || file->kind != GuestFile::Kind::Host)) return err(ENODEV);
    struct stat st {};
    if (!memfd && (::fstat(file->host_fd, &st) != 0 || !S_ISREG(st.st_mode))) return err(ENODEV);
    const int access_mode = memfd ? (file->open_flags & O_ACCMODE) : (::fcntl(file->host_fd, F_GETFL) & O_ACCMODE);
    if (auto refused = check_file_mapping(*file, access_mode, prot, type, flags)) return *refused;
    const bool shared = type != map::kPrivate;
    constexpr unsigned kSealWrite = 0x8, kSealFutureWrite = 0x10;
    // VM_MAYWRITE: a shared mapping can later be made writable only through a writable
    // descriptor of a file not sealed against writing.
    const bool may_write = access_mode != O_RDONLY && !(file->seals & (kSealWrite | kSealFutureWrite));
    std::shared_ptr<SharedMemoryObject> object =
        memfd ? file->memfd : p.file_objects().get_or_make(*file, shared && may_write);
    if (!object) return err(ENOMEM);
    std::string name;
    if (memfd) {
        name = file->path;
    } else {
        char real[4096];
        name = ::realpath(file->path.c_str(), real) ? real : file->path;
    }
    flags = (flags & ~(map::kAnonymous | map::kType)) | (shared ? map::kShared : map::kPrivate);
    return value_or_errno(p.as().mmap_file(addr, len, prot, flags, std::move(object), pages(off),
                                           std::move(name), may_write));
}

std::int64_t do_process_madvise(Process& p, const SyscallArgs& s) {
    const int pidfd = static_cast<int>(s.a[0]);
    // PIDFD_SELF_THREAD (-10000) and PIDFD_SELF_THREAD_GROUP (-20000), or a pidfd of any process.
    std::shared_ptr<AddressSpace> target = p.group().mm;
    if (pidfd != -10000 && pidfd != -20000) {
        auto f = p.files().get(pidfd);
        if (!f) return err(EBADF);
        if (f->kind != GuestFile::Kind::Pidfd) return err(EBADF);
        auto g = p.find_group(f->pid);
        if (!g || g->state != GroupState::Alive || !g->mm) return err(ESRCH);
        target = g->mm;
    }
    if (s.a[4] != 0) return err(EINVAL);
    // Another process's memory takes only the advice that cannot corrupt it (Linux's
    // process_madvise_remote_valid: COLD, PAGEOUT, WILLNEED, COLLAPSE).
    const int advice = static_cast<int>(s.a[3]);
    if (target != p.group().mm && advice != 20 && advice != 21 && advice != 3 && advice != 25)
        return err(EINVAL);
    const auto count = s.a[2];
    if (count > 1024) return err(EINVAL);
    std::int64_t total = 0;
    for (std::uint64_t i = 0; i < count; ++i) {
        struct iovec iov;
        if (!p.as().copy_from_user(&iov, s.a[1] + i * sizeof iov, sizeof iov)) return err(EFAULT);
        const Status st = target->madvise(reinterpret_cast<std::uint64_t>(iov.iov_base), iov.iov_len, advice);
        if (!st) return total ? total : err(st.error());
        total += static_cast<std::int64_t>(iov.iov_len);
    }
    return total;
}

}  // namespace

// mmap, munmap, mprotect, mremap, madvise, the mlock family, mseal, mincore, brk...
std::optional<std::int64_t> memory_syscall(Process& p, const SyscallArgs& s) {
    [[maybe_unused]] auto& as = p.as();
    [[maybe_unused]] const auto& a = s.a;
    [[maybe_unused]] const int fd = static_cast<int>(a[0]);
    switch (s.nr) {
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
    case SYS_msync: return status(as.msync(a[0], a[1], static_cast<int>(a[2])));
    case SYS_process_madvise: return do_process_madvise(p, s);
    default:
        return std::nullopt;
    }
}

}  // namespace emu::sys
