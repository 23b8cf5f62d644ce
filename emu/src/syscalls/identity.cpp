// Identity, scheduling priority and resource usage. The guest runs with mmuemu's user and
// groups; every guest task shares them, so identity changes other than to the current ids are
// refused (EPERM), as they are for an unprivileged user. Priorities are kept per task (nice
// values, inherited by clone). Resource usage is the machine's: mmuemu's CPU time, the guest's
// page faults and peak RSS.
#include "syscalls/syscalls.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "fs/proc_files.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

constexpr std::uint32_t kUnchanged = ~0u;  // -1: keep this id (setreuid, setresuid...)

// An id change is allowed when every requested id is -1 or one the process already has.
bool keeps_ids(std::initializer_list<std::uint32_t> requested, std::initializer_list<std::uint32_t> current) {
    return std::all_of(requested.begin(), requested.end(), [&](std::uint32_t id) {
        return id == kUnchanged || std::find(current.begin(), current.end(), id) != current.end();
    });
}

std::int64_t get_groups(Process& p, std::uint64_t size, std::uint64_t list) {
    if (static_cast<int>(size) < 0) return err(EINVAL);
    std::vector<gid_t> groups(static_cast<std::size_t>(std::max(0, ::getgroups(0, nullptr))));
    const int n = ::getgroups(static_cast<int>(groups.size()), groups.data());
    if (n < 0) return err(errno);
    if (size == 0) return n;
    if (size < static_cast<std::uint64_t>(n)) return err(EINVAL);
    return p.as().copy_to_user(list, groups.data(), static_cast<std::size_t>(n) * sizeof(gid_t)) ? n : err(EFAULT);
}

std::int64_t put_ids(Process& p, std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint32_t real,
                     std::uint32_t effective) {
    for (auto [addr, id] : {std::pair{a, real}, {b, effective}, {c, effective}})
        if (put(p, addr, id) != 0) return err(EFAULT);
    return 0;
}

// The tasks getpriority/setpriority name: PRIO_PROCESS (a task, 0 = the caller), PRIO_PGRP (a
// process group, 0 = the caller's), PRIO_USER (every task: they all have mmuemu's user).
std::vector<Task*> priority_targets(Process& p, int which, int who) {
    std::vector<Task*> out;
    for (const auto& [tid, t] : p.tasks()) {
        if (!t->alive()) continue;
        const bool match = which == PRIO_PROCESS ? (who == 0 ? t.get() == &p.task() : tid == who)
                           : which == PRIO_PGRP  ? t->group->pgid == (who == 0 ? p.group().pgid : who)
                                                 : who == 0 || static_cast<uid_t>(who) == ::getuid();
        if (match) out.push_back(t.get());
    }
    return out;
}

std::int64_t get_priority(Process& p, int which, int who) {
    if (which < PRIO_PROCESS || which > PRIO_USER) return err(EINVAL);
    const auto targets = priority_targets(p, which, who);
    if (targets.empty()) return err(ESRCH);
    int best = 19;
    for (Task* t : targets) best = std::min(best, t->nice);
    return 20 - best;  // the system call's form: 40 (nice -20) .. 1 (nice 19)
}

std::int64_t set_priority(Process& p, int which, int who, int prio) {
    if (which < PRIO_PROCESS || which > PRIO_USER) return err(EINVAL);
    const auto targets = priority_targets(p, which, who);
    if (targets.empty()) return err(ESRCH);
    const int nice = std::clamp(prio, -20, 19);
    for (Task* t : targets) {
        // Raising priority (a lower nice value) needs CAP_SYS_NICE (23).
        if (nice < t->nice && !host_has_capability(23)) return err(EACCES);
        t->nice = nice;
    }
    return 0;
}

struct timeval to_timeval(std::uint64_t ns) {
    return {static_cast<time_t>(ns / 1000000000), static_cast<suseconds_t>(ns % 1000000000 / 1000)};
}

// getrusage: the CPU time of the calling thread, of its process or of the children it waited
// for (mmuemu's accounting, Process::charge_cpu_time); the peak RSS and fault count are the
// machine's and the process's (not kept per thread or per child).
struct rusage usage_of(Process& p, int who) {
    CpuTimes times;
    if (who == RUSAGE_THREAD) times = {p.task().user_ns, p.task().system_ns};
    else if (who == RUSAGE_SELF) times = p.group().own_times();
    else times = p.group().waited_children;
    struct rusage out {};
    out.ru_utime = to_timeval(times.user_ns);
    out.ru_stime = to_timeval(times.system_ns);
    if (who != RUSAGE_CHILDREN) {
        out.ru_maxrss = static_cast<long>(p.stats().peak_rss_pages * 4);
        out.ru_minflt = static_cast<long>(p.as().fault_counters().faults);
    }
    return out;
}

constexpr long kTicksPerSecond = 100;  // USER_HZ, as AT_CLKTCK says

long ticks(const struct timeval& tv) { return tv.tv_sec * kTicksPerSecond + tv.tv_usec / (1000000 / kTicksPerSecond); }

}  // namespace

std::optional<std::int64_t> identity_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    const auto uid = static_cast<std::uint32_t>(::getuid()), euid = static_cast<std::uint32_t>(::geteuid());
    const auto gid = static_cast<std::uint32_t>(::getgid()), egid = static_cast<std::uint32_t>(::getegid());
    const auto arg = [&](int i) { return static_cast<std::uint32_t>(a[static_cast<std::size_t>(i)]); };
    switch (s.nr) {
    case SYS_getgroups: return get_groups(p, a[0], a[1]);
    case SYS_setgroups: return err(EPERM);
    case SYS_getresuid: return put_ids(p, a[0], a[1], a[2], uid, euid);
    case SYS_getresgid: return put_ids(p, a[0], a[1], a[2], gid, egid);
    case SYS_setuid: return keeps_ids({arg(0)}, {uid, euid}) && arg(0) != kUnchanged ? 0 : err(EPERM);
    case SYS_setgid: return keeps_ids({arg(0)}, {gid, egid}) && arg(0) != kUnchanged ? 0 : err(EPERM);
    case SYS_setreuid: return keeps_ids({arg(0), arg(1)}, {uid, euid}) ? 0 : err(EPERM);
    case SYS_setregid: return keeps_ids({arg(0), arg(1)}, {gid, egid}) ? 0 : err(EPERM);
    case SYS_setresuid: return keeps_ids({arg(0), arg(1), arg(2)}, {uid, euid}) ? 0 : err(EPERM);
    case SYS_setresgid: return keeps_ids({arg(0), arg(1), arg(2)}, {gid, egid}) ? 0 : err(EPERM);
    case SYS_setfsuid: return euid;  // the previous fsuid; nothing changes
    case SYS_setfsgid: return egid;
    case SYS_getpriority: return get_priority(p, static_cast<int>(a[0]), static_cast<int>(a[1]));
    case SYS_setpriority:
        return set_priority(p, static_cast<int>(a[0]), static_cast<int>(a[1]), static_cast<int>(a[2]));
    case SYS_times: {
        p.settle_cpu_slice();
        const struct rusage self = usage_of(p, RUSAGE_SELF), children = usage_of(p, RUSAGE_CHILDREN);
        struct tms t {};
        t.tms_utime = ticks(self.ru_utime);
        t.tms_stime = ticks(self.ru_stime);
        t.tms_cutime = ticks(children.ru_utime);
        t.tms_cstime = ticks(children.ru_stime);
        if (a[0] && put(p, a[0], t) != 0) return err(EFAULT);
        // Linux's clock for times() starts at INITIAL_JIFFIES (2^32 - 300 s worth of jiffies, so
        // that a 32-bit wrap comes 5 minutes after boot), in USER_HZ ticks: with Debian's HZ=250,
        // (2^32 - 75000) * 100 / 250 at boot (measured on the host: times() minus CLOCK_BOOTTIME
        // in ticks is 1717956893). Never 0, even in the first tick after the machine starts.
        constexpr std::int64_t kTicksAtBoot = ((1ll << 32) - 300 * 250) * kTicksPerSecond / 250;
        return kTicksAtBoot + static_cast<std::int64_t>(machine_uptime_ns() / (1000000000 / kTicksPerSecond));
    }
    case SYS_getrusage: {
        const int who = static_cast<int>(a[0]);
        if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD) return err(EINVAL);
        p.settle_cpu_slice();  // the calling task's time so far counts
        return put(p, a[1], usage_of(p, who));
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
