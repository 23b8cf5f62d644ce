// Process, identity, time and signal system calls, and fork.
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
#include "syscall_support.hpp"

namespace emu::sys {

std::int64_t do_fork(Process& p);

namespace {

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

}  // namespace

// exit, ids, time, fork/clone/wait4, rt_sigaction, sigaltstack, kill, prctl...
std::optional<std::int64_t> process_syscall(Process& p, const SyscallArgs& s) {
    [[maybe_unused]] auto& as = p.as();
    [[maybe_unused]] const auto& a = s.a;
    [[maybe_unused]] const int fd = static_cast<int>(a[0]);
    switch (s.nr) {
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
            return unsupported(s.nr);  // threads are not supported yet
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
        return std::nullopt;
    }
}

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

}  // namespace emu::sys
