// shmget, shmat, shmdt and shmctl on the machine's SysV segments (kernel/sysv_shm.hpp), with
// the errno rules of Linux's ipc/shm.c as shm(2) and shmctl(2) document them.
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"
#include "syscalls/syscalls.hpp"

namespace emu::sys {

namespace {

constexpr int kShmStatAny = 15;  // SHM_STAT_ANY (Linux 4.17)
constexpr int kIpc64 = 0x100;    // IPC_64: the 64-bit layout, the only one on x86-64

// ipcperms: the requested bits (any of the owner/group/other triplets of `flag`, folded into
// one) must all be granted by the triplet of `mode` that applies; root passes (CAP_IPC_OWNER).
bool permitted(const ShmSegment& s, std::uint32_t flag) {
    const auto euid = static_cast<std::uint32_t>(::geteuid()), egid = static_cast<std::uint32_t>(::getegid());
    if (euid == 0) return true;
    const std::uint32_t requested = ((flag >> 6) | (flag >> 3) | flag) & 7;
    std::uint32_t granted = s.mode;
    if (euid == s.uid || euid == s.cuid) granted >>= 6;
    else if (egid == s.gid || egid == s.cgid) granted >>= 3;
    return (requested & ~granted & 7) == 0;
}

std::int64_t shmget(Process& p, key_t key, std::uint64_t size, int flags) {
    SysvShm& shm = p.sysv_shm();
    shm.reap();
    ShmSegment* found = key == IPC_PRIVATE ? nullptr : shm.find_key(key);
    if (!found) {
        if (key != IPC_PRIVATE && !(flags & IPC_CREAT)) return err(ENOENT);
        if (size < 1 || size > SysvShm::kShmMax) return err(EINVAL);
        if (shm.full()) return err(ENOSPC);
        // A segment is charged like a private writable mapping (shmem accounting): the overcommit
        // heuristic refuses one larger than RAM + swap.
        const std::uint64_t limit = p.as().layout().overcommit_limit;
        if (limit && mmu::page_up(size) > limit) return err(ENOMEM);
        const auto euid = static_cast<std::uint32_t>(::geteuid()), egid = static_cast<std::uint32_t>(::getegid());
        return shm.create(key, size, static_cast<std::uint32_t>(flags), euid, egid, p.group().tgid, ::time(nullptr)).id;
    }
    if ((flags & IPC_CREAT) && (flags & IPC_EXCL)) return err(EEXIST);
    if (!permitted(*found, static_cast<std::uint32_t>(flags) & 0777)) return err(EACCES);
    if (size > found->size) return err(EINVAL);
    return found->id;
}

std::int64_t shmat(Process& p, int id, std::uint64_t addr, int flags) {
    SysvShm& shm = p.sysv_shm();
    shm.reap();
    if (id < 0) return err(EINVAL);
    if (addr & (mmu::kPageSize - 1)) {
        if (!(flags & SHM_RND)) return err(EINVAL);
        addr = mmu::page_down(addr);  // SHMLBA is the page size on x86
        if (addr == 0 && (flags & SHM_REMAP)) return err(EINVAL);
    }
    std::uint32_t prot = mmu::kProtRead, want = 0444;
    if (!(flags & SHM_RDONLY)) prot |= mmu::kProtWrite, want |= 0222;
    if (flags & SHM_EXEC) prot |= mmu::kProtExec, want |= 0111;
    ShmSegment* s = shm.find_id(id);
    if (!s) return err(EINVAL);
    if (!permitted(*s, want)) return err(EACCES);
    std::uint32_t map_flags = mmu::map::kShared;
    if (addr) {
        // Without SHM_REMAP an attach at a given address may not replace anything mapped there.
        if (!(flags & SHM_REMAP) && p.as().vmas().intersects(addr, addr + mmu::page_up(s->size))) return err(EINVAL);
        map_flags |= mmu::map::kFixed;
    }
    char name[32];
    std::snprintf(name, sizeof name, "/SYSV%08x (deleted)", static_cast<unsigned>(s->key));
    auto r = p.as().mmap_file(addr, s->size, prot, map_flags, s->object, 0, name, !(flags & SHM_RDONLY));
    if (!r) return err(r.error());
    s->atime = ::time(nullptr);
    s->lpid = p.group().tgid;
    return static_cast<std::int64_t>(r.value());
}

// shmdt: detaches the attachment made at `addr`. Its first VMA is the first one at or above
// addr that maps a segment at the offset matching addr (a fragment left by munmap or mprotect
// qualifies); then every later VMA of the same segment at its matching offset, within the
// segment's size from addr (shmdt(2), Linux's do_shmdt).
std::int64_t shmdt(Process& p, std::uint64_t addr) {
    SysvShm& shm = p.sysv_shm();
    if (addr & (mmu::kPageSize - 1)) return err(EINVAL);
    auto& vmas = p.as().vmas();
    const auto at_its_offset = [addr](const mmu::Vma& v) { return mmu::pages(v.start - addr) == v.pgoff; };
    const mmu::Vma* v = vmas.find_at_or_above(addr);
    ShmSegment* s = nullptr;
    for (; v; v = vmas.find_at_or_above(v->end))
        if ((s = shm.find_object(v->shmem.get())) && at_its_offset(*v)) break;
    if (!v) return err(EINVAL);
    const auto object = s->object;
    const std::uint64_t size = mmu::page_up(s->size);
    std::uint64_t next = v->end;
    (void)p.as().munmap(v->start, v->end - v->start);
    for (v = vmas.find_at_or_above(next); v && v->end - addr <= size; v = vmas.find_at_or_above(next)) {
        next = v->end;
        if (v->shmem == object && at_its_offset(*v)) (void)p.as().munmap(v->start, v->end - v->start);
    }
    s->dtime = ::time(nullptr);
    s->lpid = p.group().tgid;
    shm.reap();
    return 0;
}

struct shmid_ds stat_of(const SysvShm& shm, const ShmSegment& s) {
    struct shmid_ds d {};
    d.shm_perm.__key = s.key;
    d.shm_perm.uid = s.uid;
    d.shm_perm.gid = s.gid;
    d.shm_perm.cuid = s.cuid;
    d.shm_perm.cgid = s.cgid;
    d.shm_perm.mode = static_cast<decltype(d.shm_perm.mode)>(s.mode);
    d.shm_perm.__seq = static_cast<decltype(d.shm_perm.__seq)>(s.id / SysvShm::kIpcMni);
    d.shm_segsz = s.size;
    d.shm_atime = s.atime;
    d.shm_dtime = s.dtime;
    d.shm_ctime = s.ctime;
    d.shm_cpid = s.cpid;
    d.shm_lpid = s.lpid;
    d.shm_nattch = shm.attachments(s);
    return d;
}

std::int64_t shm_info_of(Process& p, int cmd, std::uint64_t buf) {
    SysvShm& shm = p.sysv_shm();
    if (cmd == IPC_INFO) {
        struct shminfo info {};
        info.shmmax = SysvShm::kShmMax;
        info.shmmin = 1;
        info.shmmni = SysvShm::kShmMni;
        info.shmseg = SysvShm::kShmMni;
        info.shmall = SysvShm::kShmMax;
        if (put(p, buf, info) != 0) return err(EFAULT);
    } else {
        struct shm_info info {};
        info.used_ids = shm.count();
        info.shm_tot = shm.total_pages();
        info.shm_rss = shm.resident_pages();
        if (put(p, buf, info) != 0) return err(EFAULT);
    }
    return shm.highest_index();
}

std::int64_t shmctl(Process& p, int id, int cmd, std::uint64_t buf) {
    SysvShm& shm = p.sysv_shm();
    shm.reap();
    cmd &= ~kIpc64;
    if (id < 0 && cmd != IPC_INFO && cmd != SHM_INFO) return err(EINVAL);
    switch (cmd) {
    case IPC_INFO:
    case SHM_INFO: return shm_info_of(p, cmd, buf);
    case SHM_STAT:
    case kShmStatAny:
    case IPC_STAT: {
        ShmSegment* s = cmd == IPC_STAT ? shm.find_id(id) : shm.find_index(id);
        if (!s) return err(EINVAL);
        if (cmd != kShmStatAny && !permitted(*s, 0444)) return err(EACCES);
        if (put(p, buf, stat_of(shm, *s)) != 0) return err(EFAULT);
        return cmd == IPC_STAT ? 0 : s->id;
    }
    case IPC_SET:
    case IPC_RMID:
    case SHM_LOCK:
    case SHM_UNLOCK: break;
    default: return err(EINVAL);
    }
    struct shmid_ds in {};
    if (cmd == IPC_SET && !p.as().copy_from_user(&in, buf, sizeof in)) return err(EFAULT);
    ShmSegment* s = shm.find_id(id);
    if (!s) return err(EINVAL);
    // Changing or removing a segment is for its owner, its creator or root (EPERM).
    const auto euid = static_cast<std::uint32_t>(::geteuid());
    const bool owner = euid == 0 || euid == s->uid || euid == s->cuid;
    switch (cmd) {
    case IPC_RMID:
        if (!owner) return err(EPERM);
        shm.remove(*s);
        return 0;
    case IPC_SET:
        if (!owner) return err(EPERM);
        s->uid = in.shm_perm.uid;
        s->gid = in.shm_perm.gid;
        s->mode = (s->mode & ~0777u) | (in.shm_perm.mode & 0777u);
        s->ctime = ::time(nullptr);
        return 0;
    default:  // SHM_LOCK, SHM_UNLOCK: nothing is ever swapped here; the flag is kept
        if (!owner) return err(EPERM);
        if (cmd == SHM_LOCK) s->mode |= SysvShm::kShmLocked;
        else s->mode &= ~SysvShm::kShmLocked;
        return 0;
    }
}

}  // namespace

std::optional<std::int64_t> sysv_shm_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_shmget: return shmget(p, static_cast<key_t>(a[0]), a[1], static_cast<int>(a[2]));
    case SYS_shmat: return shmat(p, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]));
    case SYS_shmdt: return shmdt(p, a[0]);
    case SYS_shmctl: return shmctl(p, static_cast<int>(a[0]), static_cast<int>(a[1]), a[2]);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
