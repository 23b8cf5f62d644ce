// The kernel model's tasks: a Task is one guest thread (Linux's task_struct); a ThreadGroup is one
// guest process (the tasks that share a tgid, and the state Linux keeps per signal_struct).
// CLONE_VM, CLONE_FILES, CLONE_FS and CLONE_SIGHAND decide which parts are shared: each is a
// shared_ptr that clone either shares or copies.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <poll.h>
#include <sys/stat.h>

#include "loader/elf_loader.hpp"
#include "mmu/vma.hpp"
#include "fs/guest_files.hpp"
#include "mmu/address_space.hpp"
#include "kernel/signals.hpp"

namespace emu {

// CLONE_FS: the working directory (a host O_PATH descriptor and its guest path) and the umask.
struct FsState {
    FsState() = default;
    FsState(const FsState& other);  // duplicates the directory descriptor
    FsState& operator=(const FsState&) = delete;
    ~FsState();

    int cwd_fd = -1;          // host descriptor of the working directory (O_PATH)
    std::string cwd = "/";    // the guest's path of it (getcwd)
    unsigned umask = 022;
    std::string root = "/";   // host path of the guest's / (--root, then chroot)
    int root_fd = -1;         // a host descriptor of it (O_PATH), when it is not the host's /
    std::string virtual_cwd;  // the working directory when it is a generated one (/proc/PID)
};

// Why a task is off the run queue, and how the scheduler knows it may continue. A blocked task
// re-executes its system call when `ready` says so (or a signal, or the deadline, wakes it); the
// call finds its own earlier progress in `progress`/`deadline_ns` (retry = true).
struct BlockState {
    bool retry = false;                  // this execution of the call is a retry after a block
    std::function<bool()> ready;         // may the call make progress now?
    std::vector<pollfd> host_fds;        // host descriptors the call waits on (for the idle poll)
    std::optional<std::uint64_t> deadline_ns;  // CLOCK_MONOTONIC time at which it times out
    std::uint64_t progress = 0;          // bytes already written by a partial pipe write
    bool futex_woken = false;            // a FUTEX_WAKE chose this waiter
    bool interruptible = true;           // a signal ends the wait (false: vfork parent)
    std::shared_ptr<void> userfault;     // the userfaultfd fault (UffdWaiter) it waits on
};

// A stopped process (SIGSTOP) is ThreadGroup::stopped: its tasks keep their own state.
enum class TaskState : std::uint8_t { Runnable, Blocked, Dead };

struct ThreadGroup;
class CpuContext;

struct Task {
    int tid = 0;
    std::shared_ptr<ThreadGroup> group;
    std::shared_ptr<GuestFiles> files;       // CLONE_FILES
    std::shared_ptr<FsState> fs;             // CLONE_FS
    SignalState signals;                     // mask, pending, altstack; handlers: CLONE_SIGHAND
    std::optional<std::uint64_t> saved_mask; // rt_sigsuspend's mask to restore after the handler
    std::shared_ptr<CpuContext> registers;   // the saved CPU context while off a CPU
    // Registers to set once the saved context is loaded (a new clone's return value and stack).
    std::vector<std::pair<int, std::uint64_t>> register_overrides;
    TaskState state = TaskState::Runnable;
    BlockState block;
    std::uint64_t clear_child_tid = 0;       // CLONE_CHILD_CLEARTID / set_tid_address
    std::uint64_t robust_list = 0;           // set_robust_list head
    int vfork_parent = 0;                    // a vfork child's parent tid, until exec or exit
    std::uint64_t affinity = ~0ull;          // sched_setaffinity, one bit per virtual CPU
    int nice = 0;                            // setpriority: -20 (most favoured) to 19
    mmu::MemPolicy mempolicy;                // set_mempolicy (inherited by clone and fork, kept by exec)
    int last_cpu = 0;
    // CPU time: host time spent running its code (user) and in its system calls (system).
    std::uint64_t user_ns = 0, system_ns = 0;

    bool alive() const { return state != TaskState::Dead; }
};

struct CpuTimes {
    std::uint64_t user_ns = 0, system_ns = 0;
};

enum class GroupState : std::uint8_t { Alive, Zombie, Reaped };

// A POSIX timer (timer_create): a CLOCK_MONOTONIC deadline, a period, and the signal it sends
// (to the process, or to one thread with SIGEV_THREAD_ID). An expiry while the previous signal
// is still pending counts as an overrun instead of a second signal.
struct PosixTimer {
    int id = 0;
    int signo = 14;
    bool notify = true;        // false: SIGEV_NONE
    int target_tid = 0;        // SIGEV_THREAD_ID, else 0
    std::uint64_t value = 0;   // sigev_value
    std::uint64_t deadline_ns = 0, interval_ns = 0;  // 0 deadline: disarmed
    int overrun = 0, pending_overrun = 0;
    bool signal_pending = false;
};

struct ThreadGroup {
    int tgid = 0;
    int pgid = 0;
    int sid = 0;
    std::weak_ptr<ThreadGroup> parent;       // nullptr: the first task (its parent is outside)
    std::shared_ptr<mmu::AddressSpace> mm;   // CLONE_VM shares it between groups (vfork)
    std::vector<std::weak_ptr<Task>> threads;
    std::vector<std::weak_ptr<ThreadGroup>> children;
    // A new program: its file, and its name as comm (the file name's last component, 15 bytes).
    void set_exe(const std::string& path) {
        exe = path;
        comm = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1).substr(0, 15);
        struct stat st;
        if (::stat(path.c_str(), &st) == 0) exe_dev = st.st_dev, exe_ino = st.st_ino;
    }
    GroupState state = GroupState::Alive;
    int exit_signal = 17;                    // sent to the parent at exit (SIGCHLD)
    int wait_status = 0;                     // as wait4 reports it
    // Job control: a stop or continue not yet reported to a waiting parent.
    bool stopped = false;
    bool stop_report = false, continue_report = false;
    int stop_signal = 0;
    std::string exe;                         // host path of the running program
    std::uint64_t exe_dev = 0, exe_ino = 0;  // its file, which may not be written (ETXTBSY)
    std::string comm = "mmuemu-guest";
    StackImage stack;
    // Interval timer (ITIMER_REAL / alarm): CLOCK_MONOTONIC deadline and period, 0 = off.
    std::uint64_t alarm_ns = 0, alarm_interval_ns = 0;
    std::vector<PosixTimer> timers;
    // Resource limits (getrlimit/setrlimit/prlimit64), inherited by fork; RLIMIT_NPROC is
    // enforced by clone, the others are kept and reported.
    std::array<std::pair<std::uint64_t, std::uint64_t>, 16> rlimits{};
    int next_timer_id = 0;
    // CPU time of its threads that have exited, and of its children it waited for (with theirs):
    // what getrusage(RUSAGE_SELF / RUSAGE_CHILDREN) and times() add up.
    CpuTimes exited_threads, waited_children;

    // RUSAGE_SELF: the threads alive now and those gone.
    CpuTimes own_times() const {
        CpuTimes sum = exited_threads;
        for (const auto& w : threads)
            if (auto t = w.lock(); t && t->alive()) sum.user_ns += t->user_ns, sum.system_ns += t->system_ns;
        return sum;
    }

    int live_threads() const {
        int n = 0;
        for (const auto& w : threads)
            if (auto t = w.lock(); t && t->alive()) ++n;
        return n;
    }
};

// CLOCK_MONOTONIC now, in nanoseconds.
std::uint64_t monotonic_ns();

}  // namespace emu
