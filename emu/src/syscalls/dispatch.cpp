// The system-call dispatcher: memory calls go to the mmu library and return exactly its errno;
// the rest are answered from the host (files under --root, time, identity) with guest pointers
// read and written through the MMU with the kernel's rules (EFAULT, never a host crash).
#include "syscalls/syscalls.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <x86intrin.h>
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
#include "machine/process.hpp"
#include "syscalls/strace.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu {

namespace sys {

// A NUL-terminated string from guest memory (paths are at most PATH_MAX).
bool read_string(Process& p, std::uint64_t addr, std::string& out, std::size_t limit) {
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

bool host_has_capability(int cap) {
    struct {
        std::uint32_t version;
        int pid;
    } header{0x20080522, 0};  // _LINUX_CAPABILITY_VERSION_3
    struct {
        std::uint32_t effective, permitted, inheritable;
    } data[2]{};
    if (::syscall(SYS_capget, &header, data) != 0) return ::geteuid() == 0;
    return (data[cap / 32].effective >> (cap % 32)) & 1;
}

namespace {
std::map<std::uint64_t, std::uint64_t>& unsupported_counts() {
    static std::map<std::uint64_t, std::uint64_t> counts;
    return counts;
}
}  // namespace

std::int64_t unsupported(std::uint64_t nr) {
    if (unsupported_counts()[nr]++ == 0)
        std::fprintf(stderr, "mmuemu: unsupported system call %s (%llu): returning -ENOSYS\n",
                     syscall_name(nr).c_str(), static_cast<unsigned long long>(nr));
    return err(ENOSYS);
}

const std::map<std::uint64_t, std::uint64_t>& unsupported_calls() { return unsupported_counts(); }

}  // namespace sys

namespace {

using namespace sys;

// Calls that block in the host and are restarted after a SA_RESTART handler (Linux: -ERESTARTSYS).
bool restartable(std::uint64_t nr) {
    switch (nr) {
    case SYS_read: case SYS_write: case SYS_readv: case SYS_writev: case SYS_pread64:
    case SYS_pwrite64: case SYS_wait4: case SYS_waitid: case SYS_open: case SYS_openat:
    case SYS_ioctl: case SYS_futex: case SYS_accept: case SYS_accept4: case SYS_recvfrom:
    case SYS_sendto: case SYS_recvmsg: case SYS_sendmsg:
        return true;
    default:
        return false;
    }
}

// The areas in the order of how often real programs call them (memory and files first).
std::int64_t dispatch(Process& p, const SyscallArgs& s) {
    if (auto r = memory_syscall(p, s)) return *r;
    if (auto r = lock_syscall(p, s)) return *r;
    if (auto r = memfd_syscall(p, s)) return *r;
    if (auto r = file_syscall(p, s)) return *r;
    if (auto r = splice_syscall(p, s)) return *r;
    if (auto r = inotify_syscall(p, s)) return *r;
    if (auto r = file_metadata_syscall(p, s)) return *r;
    if (auto r = task_syscall(p, s)) return *r;
    if (auto r = wait_syscall(p, s)) return *r;
    if (auto r = poll_syscall(p, s)) return *r;
    if (auto r = event_syscall(p, s)) return *r;
    if (auto r = userfaultfd_syscall(p, s)) return *r;
    if (auto r = socket_syscall(p, s)) return *r;
    if (auto r = process_syscall(p, s)) return *r;
    if (auto r = identity_syscall(p, s)) return *r;
    if (auto r = sysv_shm_syscall(p, s)) return *r;
    if (auto r = memory_policy_syscall(p, s)) return *r;
    return unsupported(s.nr);
}

}  // namespace

std::int64_t do_syscall(Process& p, const SyscallArgs& s) {
    p.vvar_clock().refresh();  // the vDSO's clocks catch up with the host's at every entry
    const std::uint64_t entered = __rdtsc();  // the call's share of the CPU slice is system time
    // Code written by one CPU is invalidated in that engine only: when memory becomes executable
    // (a JIT flipping W^X), every other CPU's translations are dropped as well. (Unmapping or
    // replacing code needs nothing here: the frames it frees, and those the kernel side writes,
    // have their code dropped by Process::drop_changed_code.)
    const bool code_may_change = s.nr == SYS_mprotect && (s.a[2] & kProtExec) && p.cpu_count() > 1;
    // A task woken from a blocking call by a signal: the call ends with EINTR (or restarts), even
    // if what it waited for is also there now. Sleeps and sigtimedwait answer for themselves.
    const Task& t = p.task();
    const bool interrupted = t.block.retry && t.block.interruptible && !t.block.futex_woken &&
                             p.signal_interrupts() && s.nr != SYS_nanosleep &&
                             s.nr != SYS_clock_nanosleep && s.nr != SYS_rt_sigtimedwait;
    const std::string traced_call = p.options().strace ? sys::strace_call(p, s) : std::string();
    std::int64_t result = interrupted ? err(EINTR) : dispatch(p, s);
    if (code_may_change) p.flush_code_everywhere();
    // Linux checks for a pending signal before it sleeps: a blocking call then fails with EINTR.
    if (result == kBlock && p.signal_interrupts() && p.task().block.interruptible) result = err(EINTR);
    // The call does not wait after all: the task stays on the CPU (a vfork parent, whose block
    // is not a retry, waits with its result already set).
    Task& task = p.task();
    if (result != kBlock && task.state == TaskState::Blocked && task.block.retry) {
        task.state = TaskState::Runnable;
        p.futex_dequeue(task);
        task.block = BlockState{};
    }
    if (result == err(EINTR) && restartable(s.nr) && p.restart_after_interrupt()) result = kRestart;
    // A call that waits is shown once, when it completes (it is executed again when woken).
    if (p.options().strace && result != kBlock) sys::strace_result(p, s, traced_call, result);
    p.add_syscall_ticks(__rdtsc() - entered);
    return result;
}

}  // namespace emu
