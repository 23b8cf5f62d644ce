// Task system calls: identity, clone/fork/vfork/clone3, execve, exit, wait4/waitid, kill and
// friends, pidfds, process groups and sessions. Each follows Linux's argument rules and errno.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "cpu/cpu.hpp"
#include "fs/proc_files.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

constexpr std::uint64_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneSighand = 0x800,
                        kClonePidfd = 0x1000, kCloneVfork = 0x4000, kCloneThread = 0x10000,
                        kCloneNewns = 0x20000, kCloneSettls = 0x80000, kCloneParentSettid = 0x100000,
                        kCloneChildCleartid = 0x200000, kCloneDetached = 0x400000,
                        kCloneChildSettid = 0x01000000, kCloneNewcgroup = 0x02000000,
                        kCloneNewuser = 0x10000000, kCloneIntoCgroup = 0x200000000ull,
                        kCloneClearSighand = 0x100000000ull;
constexpr std::uint64_t kNamespaceFlags = kCloneNewns | kCloneNewcgroup | 0x04000000 | 0x08000000 |
                                          kCloneNewuser | 0x20000000 | 0x40000000;
constexpr std::uint64_t kKnownCloneFlags = 0xffffff00ull | kCloneClearSighand | kCloneIntoCgroup;
constexpr int kSigchld = 17;

// --- clone ---

struct CloneRequest {
    std::uint64_t flags = 0;  // without the exit signal
    int exit_signal = 0;
    std::uint64_t stack = 0;  // the child's stack pointer (0: the parent's)
    std::uint64_t parent_tid = 0, child_tid = 0, tls = 0;
    std::uint64_t pidfd_out = 0;
};

// Linux's checks of copy_process and clone3, in its order.
std::int64_t validate_clone(const CloneRequest& r) {
    const std::uint64_t f = r.flags;
    if ((f & (kCloneNewns | kCloneFs)) == (kCloneNewns | kCloneFs)) return err(EINVAL);
    if ((f & (kCloneNewuser | kCloneFs)) == (kCloneNewuser | kCloneFs)) return err(EINVAL);
    if ((f & kCloneThread) && !(f & kCloneSighand)) return err(EINVAL);
    if ((f & kCloneSighand) && !(f & kCloneVm)) return err(EINVAL);
    if ((f & kClonePidfd) && (f & kCloneDetached)) return err(EINVAL);
    // A thread cannot get a new user or pid namespace.
    if ((f & kCloneThread) && (f & (kCloneNewuser | 0x20000000))) return err(EINVAL);
    if (f & kNamespaceFlags) return err(EPERM);  // namespaces need privileges mmuemu does not model
    return 0;
}

// Linux's two limits on new tasks: RLIMIT_NPROC of the user (not with CAP_SYS_RESOURCE or
// CAP_SYS_ADMIN), and threads-max,
// which the kernel derives from RAM (one task per 8 thread stacks of 16 KiB: RAM / 128 KiB).
std::int64_t check_task_limits(Process& p) {
    std::uint64_t live = 0;
    for (const auto& [tid, t] : p.tasks())
        if (t->alive()) ++live;
    const std::uint64_t threads_max = guest_threads_max(p.options().ram_bytes);
    if (live >= threads_max) return err(EAGAIN);
    const std::uint64_t nproc = p.group().rlimits[RLIMIT_NPROC].first;
    if (live >= nproc && !host_has_capability(24) && !host_has_capability(21)) return err(EAGAIN);
    return 0;
}

std::int64_t do_clone(Process& p, CloneRequest r) {
    if (const std::int64_t e = validate_clone(r)) return e;
    if (const std::int64_t e = check_task_limits(p)) return e;
    std::shared_ptr<AddressSpace> mm;
    if (r.flags & kCloneVm) {
        mm = p.group().mm;
    } else {
        auto copy = p.as().fork();
        if (!copy) return err(copy.error());
        mm = std::shared_ptr<AddressSpace>(std::move(copy.value()));
    }
    const std::uint64_t rip = p.cpu().reg(UC_X86_REG_RIP);  // the syscall instruction
    const std::uint64_t eflags = p.cpu().reg(UC_X86_REG_EFLAGS);
    const std::shared_ptr<Task> child = p.clone_task(r.flags | static_cast<std::uint64_t>(r.exit_signal), mm);
    auto& regs = child->register_overrides;
    regs = {{UC_X86_REG_RAX, 0}, {UC_X86_REG_RIP, rip + 2}, {UC_X86_REG_RCX, rip + 2},
            {UC_X86_REG_R11, eflags}};
    if (r.stack) regs.push_back({UC_X86_REG_RSP, r.stack});
    if (r.flags & kCloneSettls) regs.push_back({UC_X86_REG_FS_BASE, r.tls});
    const std::int32_t tid = child->tid;
    if (r.flags & kCloneChildCleartid) child->clear_child_tid = r.child_tid;
    if (r.flags & kCloneChildSettid) (void)child->group->mm->copy_to_user(r.child_tid, &tid, sizeof tid);
    if (r.flags & kCloneParentSettid) (void)p.as().copy_to_user(r.parent_tid, &tid, sizeof tid);
    if (r.flags & kClonePidfd) {
        auto f = std::make_shared<GuestFile>();
        f->kind = GuestFile::Kind::Pidfd;
        f->pid = child->group->tgid;
        f->path = "anon_inode:[pidfd]";
        const std::int32_t fd = install_fd(p, f, 0, true);
        (void)p.as().copy_to_user(r.pidfd_out, &fd, sizeof fd);
    }
    if (r.flags & kCloneVfork) {
        // The parent sleeps until the child execs or exits (killable, not interruptible).
        child->vfork_parent = p.task().tid;
        std::weak_ptr<Task> weak = child;
        BlockState b;
        b.interruptible = false;
        b.ready = [weak] {
            auto c = weak.lock();
            return !c || !c->alive() || c->vfork_parent == 0;
        };
        p.task().block = std::move(b);
        p.task().state = TaskState::Blocked;
    }
    return tid;
}

std::int64_t do_clone3(Process& p, std::uint64_t args, std::uint64_t size) {
    struct {
        std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
            set_tid, set_tid_size, cgroup;
    } k{};
    if (size < 64) return err(EINVAL);
    if (size > 4096) return err(E2BIG);
    if (!p.as().copy_from_user(&k, args, std::min<std::size_t>(size, sizeof k))) return err(EFAULT);
    for (std::uint64_t off = sizeof k; off < size; off += 8) {  // a newer struct: the rest must be 0
        std::uint64_t extra = 0;
        if (!p.as().copy_from_user(&extra, args + off, std::min<std::uint64_t>(8, size - off))) return err(EFAULT);
        if (extra) return err(E2BIG);
    }
    if (k.flags & ~kKnownCloneFlags) return err(EINVAL);
    if (k.flags & 0xff) return err(EINVAL);  // the exit signal has its own field
    if (k.exit_signal > kNsig) return err(EINVAL);
    // A thread (or CLONE_PARENT child) sends no exit signal of its own.
    if (k.exit_signal && (k.flags & (kCloneThread | 0x8000))) return err(EINVAL);
    if ((k.stack == 0) != (k.stack_size == 0)) return err(EINVAL);
    // set_tid and set_tid_size come together; choosing pids needs CAP_CHECKPOINT_RESTORE.
    if ((k.set_tid == 0) != (k.set_tid_size == 0) || k.set_tid_size > 32) return err(EINVAL);
    if (k.set_tid) return err(EPERM);
    if (k.flags & kCloneIntoCgroup) return err(EPERM);
    if ((k.flags & kCloneClearSighand) && (k.flags & kCloneSighand)) return err(EINVAL);
    CloneRequest r;
    r.flags = k.flags & ~kCloneClearSighand;
    r.exit_signal = static_cast<int>(k.exit_signal);
    r.stack = k.stack ? k.stack + k.stack_size : 0;
    r.parent_tid = k.parent_tid;
    r.child_tid = k.child_tid;
    r.tls = k.tls;
    r.pidfd_out = k.pidfd;
    return do_clone(p, r);
}

// --- signals between tasks ---

SigInfo user_signal(Process& p, int sig, int code) {
    SigInfo info;
    info.signo = sig;
    info.code = code;
    info.pid = p.group().tgid;
    info.uid = static_cast<int>(::getuid());
    info.from_kill = true;
    return info;
}

std::int64_t do_kill(Process& p, std::int64_t pid, int sig, const SigInfo& info) {
    if (sig < 0 || sig > kNsig) return err(EINVAL);
    std::vector<std::shared_ptr<ThreadGroup>> targets;
    if (pid > 0) {
        auto g = p.find_group(static_cast<int>(pid));
        if (!g) {
            if (auto t = p.find_task(static_cast<int>(pid))) g = t->group;
        }
        if (!g || g->state == GroupState::Reaped) return err(ESRCH);
        targets.push_back(g);
    } else {
        if (pid == INT_MIN) return err(ESRCH);
        const int pgid = pid == 0 ? p.group().pgid : static_cast<int>(-pid);
        for (auto& [tgid, g] : p.groups()) {
            if (g->state == GroupState::Reaped) continue;
            if (pid == -1 ? g.get() != &p.group() : g->pgid == pgid) targets.push_back(g);
        }
        if (targets.empty()) return err(ESRCH);
    }
    if (sig == 0) return 0;
    for (auto& g : targets) p.signal_group(*g, info);
    return 0;
}

std::int64_t do_tgkill(Process& p, std::int64_t tgid, std::int64_t tid, int sig) {
    if (tid <= 0 || (tgid != -1 && tgid <= 0)) return err(EINVAL);
    if (sig < 0 || sig > kNsig) return err(EINVAL);
    auto t = p.find_task(static_cast<int>(tid));
    if (!t || (tgid != -1 && t->group->tgid != tgid)) return err(ESRCH);
    if (sig == 0) return 0;
    p.signal_task(*t, user_signal(p, sig, -6));  // SI_TKILL
    return 0;
}

std::int64_t do_sigqueueinfo(Process& p, std::int64_t tgid, std::int64_t tid, int sig, std::uint64_t uinfo) {
    std::array<std::uint8_t, 128> raw;
    if (!p.as().copy_from_user(raw.data(), uinfo, raw.size())) return err(EFAULT);
    std::int32_t code;
    std::memcpy(&code, raw.data() + 8, 4);
    const bool self = tid ? tid == p.task().tid : tgid == p.group().tgid;
    // Only the kernel may claim kernel si_codes (>= 0) or SI_TKILL, except to oneself.
    if ((code >= 0 || code == -6) && !self) return err(EPERM);
    if (sig < 1 || sig > kNsig) return err(EINVAL);
    SigInfo info = user_signal(p, sig, code);
    std::int32_t pid, uid;
    std::memcpy(&pid, raw.data() + 16, 4);
    std::memcpy(&uid, raw.data() + 20, 4);
    info.pid = pid;
    info.uid = uid;
    std::memcpy(&info.value, raw.data() + 24, sizeof info.value);
    if (tid) {
        auto t = p.find_task(static_cast<int>(tid));
        if (!t || t->group->tgid != tgid) return err(ESRCH);
        p.signal_task(*t, info);
        return 0;
    }
    auto g = p.find_group(static_cast<int>(tgid));
    if (!g || g->state != GroupState::Alive) return err(ESRCH);
    p.signal_group(*g, info);
    return 0;
}

// --- pidfds ---

std::int64_t do_pidfd_open(Process& p, std::int64_t pid, std::uint64_t flags) {
    if (flags & ~static_cast<std::uint64_t>(O_NONBLOCK)) return err(EINVAL);
    if (pid <= 0) return err(EINVAL);
    auto g = p.find_group(static_cast<int>(pid));
    if (!g) return p.find_task(static_cast<int>(pid)) ? err(ENOENT) : err(ESRCH);
    if (g->state == GroupState::Reaped) return err(ESRCH);
    auto f = std::make_shared<GuestFile>();
    f->kind = GuestFile::Kind::Pidfd;
    f->pid = g->tgid;
    f->nonblocking = flags & O_NONBLOCK;
    f->path = "anon_inode:[pidfd]";
    return install_fd(p, f, 0, true);
}

std::shared_ptr<ThreadGroup> pidfd_group(Process& p, int fd, std::int64_t& error) {
    auto f = p.files().get(fd);
    if (!f) {
        error = err(EBADF);
        return nullptr;
    }
    if (f->kind != GuestFile::Kind::Pidfd) {
        error = err(EBADF);
        return nullptr;
    }
    auto g = p.find_group(f->pid);
    if (!g || g->state != GroupState::Alive) {
        error = err(ESRCH);
        return nullptr;
    }
    return g;
}

// --- process groups and sessions ---

std::int64_t do_setpgid(Process& p, std::int64_t pid, std::int64_t pgid) {
    if (pgid < 0) return err(EINVAL);
    ThreadGroup& self = p.group();
    std::shared_ptr<ThreadGroup> target = pid == 0 ? p.find_group(self.tgid) : p.find_group(static_cast<int>(pid));
    if (!target || target->state != GroupState::Alive) return err(ESRCH);
    if (target.get() != &self && target->parent.lock().get() != &self) return err(ESRCH);
    if (target->tgid == target->sid) return err(EPERM);  // a session leader
    if (target->sid != self.sid) return err(EPERM);
    const int new_pgid = pgid ? static_cast<int>(pgid) : target->tgid;
    if (new_pgid != target->tgid) {
        bool exists = false;
        for (auto& [tgid, g] : p.groups())
            if (g->state == GroupState::Alive && g->pgid == new_pgid && g->sid == self.sid) exists = true;
        if (!exists) return err(EPERM);
    }
    target->pgid = new_pgid;
    return 0;
}

std::int64_t group_id_of(Process& p, std::int64_t pid, bool session) {
    auto g = pid == 0 ? p.find_group(p.group().tgid) : p.find_group(static_cast<int>(pid));
    if (!g && pid) {
        if (auto t = p.find_task(static_cast<int>(pid))) g = t->group;
    }
    if (!g || g->state == GroupState::Reaped) return err(ESRCH);
    return session ? g->sid : g->pgid;
}

}  // namespace

std::optional<std::int64_t> task_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_getpid: return p.group().tgid;
    case SYS_gettid: return p.task().tid;
    case SYS_getppid: {
        auto parent = p.group().parent.lock();
        return parent ? parent->tgid : ::getppid();
    }
    case SYS_getpgrp: return p.group().pgid;
    case SYS_getpgid: return group_id_of(p, static_cast<std::int32_t>(a[0]), false);
    case SYS_getsid: return group_id_of(p, static_cast<std::int32_t>(a[0]), true);
    case SYS_setpgid: return do_setpgid(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]));
    case SYS_setsid: {
        ThreadGroup& g = p.group();
        for (auto& [tgid, other] : p.groups())
            if (other->state != GroupState::Reaped && other->pgid == g.tgid) return err(EPERM);
        g.sid = g.pgid = g.tgid;
        return g.sid;
    }
    case SYS_set_tid_address: p.task().clear_child_tid = a[0]; return p.task().tid;
    case SYS_set_robust_list:
        if (a[1] != 24) return err(EINVAL);
        p.task().robust_list = a[0];
        return 0;
    case SYS_get_robust_list: {
        auto t = a[0] ? p.find_task(static_cast<int>(a[0])) : p.current();
        if (!t) return err(ESRCH);
        if (put(p, a[1], t->robust_list) != 0) return err(EFAULT);
        const std::uint64_t len = 24;
        return put(p, a[2], len);
    }
    case SYS_exit: p.exit_thread(static_cast<int>(a[0] & 0xff)); return kNoReturn;
    case SYS_exit_group: p.exit_group(static_cast<int>(a[0] & 0xff)); return kNoReturn;
    case SYS_fork: return do_clone(p, CloneRequest{0, kSigchld});
    case SYS_vfork: return do_clone(p, CloneRequest{kCloneVm | kCloneVfork, kSigchld});
    case SYS_clone: {
        // x86-64 order: flags, stack, parent_tid, child_tid, tls. The legacy call takes the low
        // 32 bits of the flags and does not check the exit signal (CSIGNAL); one beyond 64 is
        // never sent.
        CloneRequest r;
        r.flags = a[0] & 0xffffff00ull;
        r.exit_signal = static_cast<int>(a[0] & 0xff);
        r.stack = a[1];
        r.parent_tid = a[2];
        r.child_tid = a[3];
        r.tls = a[4];
        r.pidfd_out = a[2];
        if ((r.flags & kClonePidfd) && (r.flags & kCloneParentSettid)) return err(EINVAL);
        return do_clone(p, r);
    }
    case SYS_clone3: return do_clone3(p, a[0], a[1]);
    case SYS_execve: return do_execve(p, AT_FDCWD, a[0], a[1], a[2], 0);
    case SYS_execveat: return do_execve(p, static_cast<int>(a[0]), a[1], a[2], a[3], static_cast<int>(a[4]));
    case SYS_wait4: return do_wait4(p, static_cast<std::int32_t>(a[0]), a[1], static_cast<int>(a[2]), a[3]);
    case SYS_waitid:
        return do_waitid(p, static_cast<int>(a[0]), static_cast<std::int32_t>(a[1]), a[2],
                         static_cast<int>(a[3]), a[4]);
    case SYS_kill: {
        const int sig = static_cast<int>(a[1]);
        return do_kill(p, static_cast<std::int32_t>(a[0]), sig, user_signal(p, sig, 0));
    }
    case SYS_tkill: return do_tgkill(p, -1, static_cast<std::int32_t>(a[0]), static_cast<int>(a[1]));
    case SYS_tgkill:
        return do_tgkill(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]), static_cast<int>(a[2]));
    case SYS_rt_sigqueueinfo:
        return do_sigqueueinfo(p, static_cast<std::int32_t>(a[0]), 0, static_cast<int>(a[1]), a[2]);
    case SYS_rt_tgsigqueueinfo:
        return do_sigqueueinfo(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]),
                               static_cast<int>(a[2]), a[3]);
    case SYS_pidfd_open: return do_pidfd_open(p, static_cast<std::int32_t>(a[0]), a[1]);
    case SYS_process_mrelease: {
        if (a[1]) return err(EINVAL);
        auto f = p.files().get(static_cast<int>(a[0]));
        if (!f || f->kind != GuestFile::Kind::Pidfd) return err(EBADF);
        auto g = p.find_group(f->pid);
        // Only a dying process's memory may be reaped early: a live one is EINVAL. A process
        // here gives its memory back as it exits, so once it has exited it is gone (ESRCH).
        return g && g->state == GroupState::Alive ? err(EINVAL) : err(ESRCH);
    }
    case SYS_pidfd_send_signal: {
        std::int64_t e = 0;
        if (a[3]) return err(EINVAL);
        const int sig = static_cast<int>(a[1]);
        if (sig < 0 || sig > kNsig) return err(EINVAL);
        auto g = pidfd_group(p, static_cast<int>(a[0]), e);
        if (!g) return e;
        if (sig == 0) return 0;
        p.signal_group(*g, user_signal(p, sig, 0));
        return 0;
    }
    case SYS_pidfd_getfd: {
        std::int64_t e = 0;
        if (a[2]) return err(EINVAL);
        auto g = pidfd_group(p, static_cast<int>(a[0]), e);
        if (!g) return e;
        for (auto& w : g->threads)
            if (auto t = w.lock(); t && t->alive() && t->files) {
                auto f = t->files->get(static_cast<int>(a[1]));
                if (!f) return err(EBADF);
                return install_fd(p, f, 0, true);
            }
        return err(ESRCH);
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
