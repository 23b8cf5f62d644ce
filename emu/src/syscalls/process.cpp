// Process, identity, time and signal system calls, and fork.
#include "syscalls/syscalls.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
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
#include "fs/proc_files.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

std::int64_t do_rt_sigaction(Process& p, int sig, std::uint64_t act, std::uint64_t old, std::uint64_t size) {
    if (size != 8) return err(EINVAL);
    if (sig < 1 || sig > kNsig || sig == 9 || sig == 19) return err(EINVAL);
    SigAction current = p.signals().action(sig);
    if (act) {
        SigAction next;
        if (!p.as().copy_from_user(&next, act, sizeof next)) return err(EFAULT);
        next.mask &= ~kUnblockable;
        p.signals().action(sig) = next;
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
    case SYS_getuid: return ::getuid();
    case SYS_geteuid: return ::geteuid();
    case SYS_getgid: return ::getgid();
    case SYS_getegid: return ::getegid();
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
    case SYS_getrlimit:
    case SYS_setrlimit: {
        const bool pr = s.nr == SYS_prlimit64;
        std::shared_ptr<Task> target = p.current();
        if (pr && a[0] != 0 && !(target = p.find_task(static_cast<int>(a[0])))) return err(ESRCH);
        const unsigned resource = static_cast<unsigned>(a[pr ? 1 : 0]);
        if (resource >= target->group->rlimits.size()) return err(EINVAL);
        auto& limit = target->group->rlimits[resource];
        const std::uint64_t in = s.nr == SYS_setrlimit ? a[1] : pr ? a[2] : 0;
        const std::uint64_t out = s.nr == SYS_getrlimit ? a[1] : pr ? a[3] : 0;
        std::pair<std::uint64_t, std::uint64_t> next{};
        if (in && !p.as().copy_from_user(&next, in, sizeof next)) return err(EFAULT);
        if (in && next.first > next.second) return err(EINVAL);
        // No more descriptors than fs.nr_open (1048576), even for root.
        if (in && resource == RLIMIT_NOFILE && next.second > 1048576) return err(EPERM);
        // Raising a hard limit needs CAP_SYS_RESOURCE (the guest has mmuemu's user's rights).
        if (in && next.second > limit.second && !host_has_capability(24)) return err(EPERM);
        const auto old = limit;
        if (out && put(p, out, old) != 0) return err(EFAULT);
        if (in) limit = next;
        if (in && target->group->mm) {
            AddressSpace& mm = *target->group->mm;
            if (resource == RLIMIT_AS) mm.set_address_space_limit(next.first);
            if (resource == RLIMIT_DATA) mm.set_data_limit(next.first);
            if (resource == RLIMIT_MEMLOCK && !host_has_capability(14)) mm.set_memlock_limit(next.first);
        }
        return 0;
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
        // The machine's own figures: its uptime, guest RAM and tasks (no swap, no load model).
        struct sysinfo si{};
        si.uptime = static_cast<long>(machine_uptime_ns() / 1000000000);
        si.totalram = guest_ram_total(p);
        si.freeram = guest_ram_free(p);
        si.procs = static_cast<unsigned short>(std::min<std::size_t>(p.tasks().size(), 65535));
        si.mem_unit = 1;
        return put(p, a[0], si);
    }
    case SYS_clock_gettime: {
        struct timespec ts;
        if (!p.vvar_clock().read(static_cast<clockid_t>(a[0]), ts) &&
            ::clock_gettime(static_cast<clockid_t>(a[0]), &ts) < 0)
            return err(errno);
        return put(p, a[1], ts);
    }
    case SYS_clock_getres: {
        struct timespec ts;
        if (::clock_getres(static_cast<clockid_t>(a[0]), &ts) < 0) return err(errno);
        return a[1] ? put(p, a[1], ts) : 0;
    }
    case SYS_gettimeofday: {
        struct timespec ts;
        if (!p.vvar_clock().read(CLOCK_REALTIME, ts)) ::clock_gettime(CLOCK_REALTIME, &ts);
        const struct { long s, us; } tv{ts.tv_sec, ts.tv_nsec / 1000};
        return a[0] ? put(p, a[0], tv) : 0;
    }
    case SYS_time: {
        struct timespec ts;
        if (!p.vvar_clock().read(CLOCK_REALTIME, ts)) ::clock_gettime(CLOCK_REALTIME, &ts);
        const long t = ts.tv_sec;
        if (a[0] && put(p, a[0], t) != 0) return err(EFAULT);
        return t;
    }
    case SYS_rt_sigaction: return do_rt_sigaction(p, fd, a[1], a[2], a[3]);
    case SYS_rt_sigprocmask: return do_rt_sigprocmask(p, fd, a[1], a[2], a[3]);
    case SYS_rt_sigreturn: return restore_sigframe(p) ? kNoReturn : err(EFAULT);
    case SYS_sigaltstack: return do_sigaltstack(p, a[0], a[1]);
    case SYS_rt_sigpending: return put(p, a[0], p.signals().pending);
    case SYS_prctl: {
        constexpr std::uint64_t kSetName = 15, kGetName = 16, kSetChildSubreaper = 36,
                                kGetChildSubreaper = 37;
        if (a[0] == kSetName) {
            std::string name;
            if (!read_string(p, a[1], name, 4096)) return err(EFAULT);
            p.group().comm = name.substr(0, 15);
            return 0;
        }
        if (a[0] == kGetName) {
            char comm[16] = {};
            std::snprintf(comm, sizeof comm, "%s", p.group().comm.c_str());
            return p.as().copy_to_user(a[1], comm, sizeof comm) ? 0 : err(EFAULT);
        }
        // Orphans go to the first task in any case (the machine's init); a subreaper above them
        // is always that task in the programs this models.
        if (a[0] == kSetChildSubreaper) return 0;
        if (a[0] == kGetChildSubreaper) {
            const std::int32_t on = 0;
            return put(p, a[1], on);
        }
        return err(EINVAL);
    }
    default:
        return std::nullopt;
    }
}

}  // namespace emu::sys
