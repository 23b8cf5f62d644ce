// Task life and death: clone, exit of a thread and of a thread group, zombies and reaping,
// re-parenting of orphans, SIGCHLD, job-control stops, execve's replacement of the program, and
// futex wait queues (which thread exit needs for CLONE_CHILD_CLEARTID and robust lists).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cpu/cpu.hpp"
#include "fs/guest_paths.hpp"
#include "machine/process.hpp"

namespace emu {

using namespace mmu;

namespace {
constexpr std::uint64_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneFiles = 0x400,
                        kCloneSighand = 0x800, kCloneVfork = 0x4000, kCloneParent = 0x8000,
                        kCloneThread = 0x10000;
constexpr int kSigchld = 17, kSigkill = 9, kSigstop = 19, kSigcont = 18;
constexpr std::uint64_t kStopSignals = sig_bit(19) | sig_bit(20) | sig_bit(21) | sig_bit(22);
// siginfo si_code values of SIGCHLD.
constexpr int kCldExited = 1, kCldKilled = 2, kCldStopped = 5, kCldContinued = 6;
constexpr std::uint64_t kSaNoCldStop = 1, kSaNoCldWait = 2;
}  // namespace

FsState::FsState(const FsState& other)
    : cwd(other.cwd), umask(other.umask), root(other.root), virtual_cwd(other.virtual_cwd) {
    if (other.cwd_fd >= 0) cwd_fd = ::fcntl(other.cwd_fd, F_DUPFD_CLOEXEC, 3);
    if (other.root_fd >= 0) root_fd = ::fcntl(other.root_fd, F_DUPFD_CLOEXEC, 3);
}

FsState::~FsState() {
    if (cwd_fd >= 0) ::close(cwd_fd);
    if (root_fd >= 0) ::close(root_fd);
}

std::shared_ptr<Task> Process::clone_task(std::uint64_t flags, std::shared_ptr<AddressSpace> mm) {
    const std::shared_ptr<Task> parent = current_;
    auto t = std::make_shared<Task>();
    t->tid = next_pid_++;
    if (flags & kCloneThread) {
        t->group = parent->group;
    } else {
        auto g = std::make_shared<ThreadGroup>();
        const ThreadGroup& pg = *parent->group;
        g->tgid = t->tid;
        g->pgid = pg.pgid;
        g->sid = pg.sid;
        std::shared_ptr<ThreadGroup> parent_group = parent->group;
        if ((flags & kCloneParent) && pg.parent.lock()) parent_group = pg.parent.lock();
        g->parent = parent_group;
        parent_group->children.push_back(g);
        g->mm = std::move(mm);
        // A fork of a traced process is traced too (its fork line named the child's id).
        if (recorder_ && g->mm != pg.mm && pg.mm && recorder_->traces(*pg.mm)) recorder_->follow(*g->mm);
        g->exit_signal = static_cast<int>(flags & 0xff);
        g->exe = pg.exe;
        g->exe_dev = pg.exe_dev;
        g->exe_ino = pg.exe_ino;
        g->comm = pg.comm;
        g->stack = pg.stack;
        g->rlimits = pg.rlimits;
        groups_[g->tgid] = g;
        t->group = g;
    }
    t->group->threads.push_back(t);
    t->files = (flags & kCloneFiles) ? parent->files : parent->files->clone();
    t->fs = (flags & kCloneFs) ? parent->fs : std::make_shared<FsState>(*parent->fs);
    if (!(flags & kCloneSighand))
        t->signals.handlers = std::make_shared<SignalHandlers>(*parent->signals.handlers);
    else
        t->signals.handlers = parent->signals.handlers;
    t->signals.blocked = parent->signals.blocked;
    // A new thread sharing the stack-less address space starts without an alternate stack.
    if (!((flags & kCloneVm) && !(flags & kCloneVfork))) t->signals.altstack = parent->signals.altstack;
    t->affinity = parent->affinity;
    t->nice = parent->nice;  // a child inherits its parent's nice value
    t->mempolicy = parent->mempolicy;
    t->registers = std::make_shared<CpuContext>(cpu().handle());
    cpu().save(*t->registers);
    tasks_[t->tid] = t;
    ++stats_.tasks_created;
    enable_preemption();
    return t;
}

// Where a futex lives: private memory by (address space, address); shared memory by (object,
// offset), so that two processes mapping it find each other (Linux's get_futex_key).
std::pair<std::uint64_t, std::uint64_t> Process::futex_key(AddressSpace& mm, std::uint64_t addr) const {
    if (const Vma* v = mm.vmas().find(addr); v && v->shared() && v->shmem)
        return {reinterpret_cast<std::uintptr_t>(v->shmem.get()),
                (v->pgoff_at(addr) << kPageShift) | (addr & (kPageSize - 1))};
    // A shared (non-PRIVATE) key on private memory differs from the private key of the same
    // address (Linux's FUT_OFF_MMSHARED): a FUTEX_WAKE does not wake a FUTEX_WAIT_PRIVATE waiter.
    return {reinterpret_cast<std::uintptr_t>(&mm), addr | (1ull << 63)};
}

void Process::futex_enqueue(std::uint64_t key_a, std::uint64_t key_b, std::uint32_t bitset) {
    futex_waiters_.push_back({key_a, key_b, bitset, current_});
}

void Process::futex_dequeue(Task& task) {
    std::erase_if(futex_waiters_, [&](const FutexWaiter& w) {
        auto t = w.task.lock();
        return !t || t.get() == &task;
    });
}

int Process::futex_wake(std::uint64_t key_a, std::uint64_t key_b, int count, std::uint32_t bitset) {
    int woken = 0;
    for (auto it = futex_waiters_.begin(); it != futex_waiters_.end() && woken < count;) {
        auto t = it->task.lock();
        if (t && it->key_a == key_a && it->key_b == key_b && (it->bitset & bitset)) {
            t->block.futex_woken = true;
            it = futex_waiters_.erase(it);
            ++woken;
        } else {
            ++it;
        }
    }
    return woken;
}

int Process::futex_requeue(std::uint64_t from_a, std::uint64_t from_b, std::uint64_t to_a,
                           std::uint64_t to_b, int wake, int requeue) {
    int done = futex_wake(from_a, from_b, wake, ~0u);
    for (auto& w : futex_waiters_) {
        if (requeue <= 0) break;
        if (w.key_a == from_a && w.key_b == from_b) {
            w.key_a = to_a;
            w.key_b = to_b;
            --requeue;
            ++done;
        }
    }
    return done;
}

// What Linux does for a dying thread before it is gone (mm_release and exit_robust_list): a
// robust lock it holds is marked FUTEX_OWNER_DIED and one waiter woken; clear_child_tid is
// zeroed and its futex woken (pthread_join waits there).
void Process::release_thread(Task& t, bool mm_release) {
    std::shared_ptr<AddressSpace> mm = t.group ? t.group->mm : nullptr;
    if (mm_release && mm) {
        constexpr std::uint32_t kTidMask = 0x3fffffff, kOwnerDied = 0x40000000, kWaiters = 0x80000000;
        auto release_lock = [&](std::uint64_t entry, std::int64_t offset) {
            const std::uint64_t word_addr = entry + static_cast<std::uint64_t>(offset);
            std::uint32_t word;
            if (!mm->copy_from_user(&word, word_addr, 4)) return;
            if ((word & kTidMask) != static_cast<std::uint32_t>(t.tid)) return;
            const std::uint32_t next = (word & kWaiters) | kOwnerDied;
            if (!mm->copy_to_user(word_addr, &next, 4)) return;
            if (word & kWaiters) {
                auto [a, b] = futex_key(*mm, word_addr);
                futex_wake(a, b, 1, ~0u);
            }
        };
        struct {
            std::uint64_t next;
            std::int64_t offset;
            std::uint64_t pending;
        } head{};
        if (t.robust_list && mm->copy_from_user(&head, t.robust_list, sizeof head)) {
            std::uint64_t entry = head.next;
            for (int n = 0; n < 2048 && entry && entry != t.robust_list; ++n) {
                std::uint64_t next = 0;
                if (!mm->copy_from_user(&next, entry & ~1ull, 8)) break;
                if ((entry & ~1ull) != head.pending) release_lock(entry & ~1ull, head.offset);
                entry = next;
            }
            if (head.pending) release_lock(head.pending & ~1ull, head.offset);
        }
        if (t.clear_child_tid) {
            const std::uint32_t zero = 0;
            if (mm->copy_to_user(t.clear_child_tid, &zero, 4)) {
                auto [a, b] = futex_key(*mm, t.clear_child_tid);
                futex_wake(a, b, 1, ~0u);
            }
        }
    }
    futex_dequeue(t);
    if (t.group) {  // its CPU time stays with its process (RUSAGE_SELF)
        t.group->exited_threads.user_ns += t.user_ns;
        t.group->exited_threads.system_ns += t.system_ns;
        t.user_ns = t.system_ns = 0;
    }
    t.state = TaskState::Dead;
    t.block = BlockState{};
    t.vfork_parent = 0;
    t.files.reset();
    t.fs.reset();
    t.registers.reset();
}

void Process::exit_thread(int code) {
    const std::shared_ptr<Task> t = current_;
    const std::shared_ptr<ThreadGroup> g = t->group;
    release_thread(*t, true);
    if (g->live_threads() == 0) {
        finish_group(*g, (code & 0xff) << 8);
    } else {
        // The group goes on: forget the dead thread (thread churn must not grow the list).
        std::erase_if(g->threads, [](const std::weak_ptr<Task>& w) {
            auto x = w.lock();
            return !x || !x->alive();
        });
    }
    cpu().stop();
}

void Process::exit_group(int code, int signo) {
    const std::shared_ptr<ThreadGroup> g = current_->group;
    kill_group(*g, signo ? signo : (code & 0xff) << 8);
}

// Every thread of `g` ends now; the group becomes a zombie with `wait_status`.
void Process::kill_group(ThreadGroup& g, int wait_status) {
    if (g.state != GroupState::Alive) return;
    for (auto& w : g.threads)
        if (auto t = w.lock(); t && t->alive()) release_thread(*t, true);
    finish_group(g, wait_status);
    if (current_ && current_->group.get() == &g) cpu().stop();
}

// The address space goes: CPUs that hold its translations load no address space (the code
// translated from the frames it frees goes with them, see drop_changed_code).
void Process::drop_address_space(std::shared_ptr<AddressSpace>& mm) {
    if (!mm) return;
    if (mm.use_count() == 1) {
        const Asid asid = mm->asid();
        for (auto& c : cpus_)
            if (c.loaded_asid == asid) {
                flush_cpu(c);
                c.loaded_asid.reset();
            }
        mm.reset();
    }
    mm.reset();
}

void Process::finish_group(ThreadGroup& g, int wait_status) {
    if (g.state != GroupState::Alive) return;
    const std::shared_ptr<ThreadGroup> self = find_group(g.tgid);
    g.state = GroupState::Zombie;
    file_locks_.release_owner(g.tgid);  // Linux: the exit closes every descriptor
    g.wait_status = wait_status;
    g.alarm_ns = 0;
    g.stopped = false;
    const int signo = wait_status & 0x7f;
    if (&g == init_.get()) {
        // The first task's status is mmuemu's; whatever else still runs ends with it.
        finished_ = true;
        killed_by_ = signo;
        exit_status_ = signo ? 128 + signo : (wait_status >> 8) & 0xff;
        if (recorder_ && g.mm && recorder_->traces(*g.mm)) {
            if (stats_.tasks_created)
                recorder_->note("tasks " + std::to_string(stats_.tasks_created + 1) + ", context switches " +
                                std::to_string(stats_.context_switches) + ", CR3 loads " +
                                std::to_string(stats_.cr3_loads) + ", TLB shootdowns " +
                                std::to_string(stats_.shootdowns) + " on " + std::to_string(cpus_.size()) +
                                " CPUs");
            recorder_->exit(*g.mm, exit_status_, killed_by_);
        }
        return;
    }
    if (recorder_ && g.mm && g.mm.use_count() == 1)
        recorder_->release(*g.mm, (wait_status >> 8) & 0xff, signo);
    drop_address_space(g.mm);
    // Orphans are re-parented to the first task (the init of this machine).
    for (auto& w : g.children) {
        if (auto c = w.lock()) {
            c->parent = init_;
            init_->children.push_back(c);
        }
    }
    g.children.clear();
    notify_parent(g, signo ? kCldKilled : kCldExited, signo ? signo : (wait_status >> 8) & 0xff);
}

// SIGCHLD (or the clone's exit signal) to the parent; a parent that ignores SIGCHLD or set
// SA_NOCLDWAIT has its children reaped at once (no zombie).
void Process::notify_parent(ThreadGroup& g, int code, int status) {
    auto parent = g.parent.lock();
    if (!parent || parent->state != GroupState::Alive) return;
    std::shared_ptr<Task> leader;
    for (auto& w : parent->threads)
        if (auto t = w.lock(); t && t->alive()) {
            leader = t;
            break;
        }
    if (!leader) return;
    const SigAction& chld = leader->signals.action(kSigchld);
    const bool exiting = code == kCldExited || code == kCldKilled;
    if (!exiting && (chld.flags & kSaNoCldStop)) return;
    if (exiting && g.exit_signal == kSigchld && (chld.handler == 1 || (chld.flags & kSaNoCldWait))) {
        g.state = GroupState::Reaped;
        std::erase_if(parent->children, [&](const std::weak_ptr<ThreadGroup>& w) {
            auto c = w.lock();
            return !c || c.get() == &g;
        });
        groups_.erase(g.tgid);
        if (chld.handler == 1) return;
    }
    const int sig = exiting ? g.exit_signal : kSigchld;
    if (sig <= 0 || sig > kNsig) return;
    SigInfo info;
    info.signo = sig;
    info.code = code;
    info.pid = g.tgid;
    info.uid = static_cast<int>(::getuid());
    info.status = status;
    info.from_kill = true;
    signal_group(*parent, info);
}

void Process::stop_group(ThreadGroup& g, int sig) {
    if (g.state != GroupState::Alive || g.stopped) return;
    g.stopped = true;
    g.stop_report = true;
    g.continue_report = false;
    g.stop_signal = sig;
    if (current_ && current_->group.get() == &g) cpu().stop();
    notify_parent(g, kCldStopped, sig);
}

void Process::continue_group(ThreadGroup& g) {
    for (auto& w : g.threads)
        if (auto t = w.lock()) {
            t->signals.pending &= ~kStopSignals;
            for (int s = 19; s <= 22; ++s) t->signals.pending_info[static_cast<std::size_t>(s)].clear();
        }
    if (!g.stopped) return;
    g.stopped = false;
    g.stop_report = false;
    g.continue_report = true;
    notify_parent(g, kCldContinued, kSigcont);
}

// Linux's signal generation: SIGKILL kills at once, SIGSTOP stops at once, SIGCONT continues at
// once; a signal whose action is to ignore it is dropped unless blocked (complete_signal and
// sig_ignored); otherwise it is queued on one thread that does not block it.
bool Process::signal_group(ThreadGroup& g, const SigInfo& info) {
    if (g.state != GroupState::Alive) return false;
    if (info.signo == kSigkill) {
        kill_group(g, kSigkill);
        return true;
    }
    if (info.signo == kSigcont) continue_group(g);
    if (info.signo == kSigstop) {
        stop_group(g, kSigstop);
        return true;
    }
    std::shared_ptr<Task> target;
    if (current_ && current_->group.get() == &g && current_->alive() &&
        !(current_->signals.blocked & sig_bit(info.signo)))
        target = current_;
    for (auto& w : g.threads) {
        if (target) break;
        if (auto t = w.lock(); t && t->alive() && !(t->signals.blocked & sig_bit(info.signo))) target = t;
    }
    for (auto& w : g.threads) {
        if (target) break;
        if (auto t = w.lock(); t && t->alive()) target = t;
    }
    return target && signal_task(*target, info);
}

bool Process::signal_task(Task& t, const SigInfo& info) {
    if (!t.alive()) return false;
    const int sig = info.signo;
    if (sig == kSigkill || sig == kSigstop || sig == kSigcont) {
        if (sig != kSigcont) return signal_group(*t.group, info);
        continue_group(*t.group);
    }
    const SigAction& action = t.signals.action(sig);
    const bool blocked = t.signals.blocked & sig_bit(sig);
    const bool ignored = action.handler == 1 ||
                         (action.handler == 0 && (default_action(sig) == DefaultAction::Ignore ||
                                                  default_action(sig) == DefaultAction::Continue));
    if (ignored && !blocked) return false;
    // A stop signal generated for the group cancels a pending SIGCONT and vice versa.
    if (kStopSignals & sig_bit(sig)) {
        t.signals.pending &= ~sig_bit(kSigcont);
        t.signals.pending_info[kSigcont].clear();
    }
    if (!t.signals.queue(info)) return false;
    if (current_.get() == &t && !blocked) cpu().stop();  // delivered before the next instruction
    return true;
}

// A POSIX timer's signal leaves the pending set: it carries the overruns counted so far, and
// the timer may signal again (Linux fills si_overrun when the signal is dequeued).
void Process::timer_signal_taken(SigInfo& info) {
    if (!info.timer) return;
    for (PosixTimer& t : group().timers)
        if (t.id == info.pid) {
            info.uid = t.pending_overrun;
            t.overrun = t.pending_overrun;
            t.pending_overrun = 0;
            t.signal_pending = false;
        }
}

InterpreterFile Process::open_interpreter(const std::string& interp, const std::string& program) {
    const std::string where = interp + " (the interpreter of " + program + ", looked up in the guest root " +
                              fs().root + ")";
    const int fd = open_host_path(*this, interp, O_RDONLY | O_CLOEXEC, 0);
    if (fd == -ENOENT || fd == -ENOTDIR) throw LoadError(where + ": No such file or directory", 127, -fd);
    if (fd < 0) throw LoadError(where + ": " + std::strerror(-fd), 126, -fd);
    const OwnedFd owned(fd);
    struct stat st {};
    // open_exec: a regular file the caller may execute.
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
        throw LoadError(where + ": Permission denied", 126, EACCES);
    InterpreterFile file;
    file.bytes.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < file.bytes.size()) {
        const long n = ::pread(fd, file.bytes.data() + got, file.bytes.size() - got, static_cast<off_t>(got));
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    file.bytes.resize(got);
    file.host_path = host_path_of_fd(fd);
    return file;
}

void Process::trace_new_image(AddressSpace& mm) {
    if (recorder_ && recorder_->traces(as())) recorder_->attach(mm);
}

void Process::untrace_failed_image(const AddressSpace& mm) {
    if (recorder_) recorder_->release(mm, 0, 0);
}

// execve succeeded: the group runs `image` in `mm` from now on. Other threads are gone, the
// descriptor table is unshared and loses its close-on-exec descriptors, handled signals return
// to their default action (ignored ones stay ignored), the alternate stack is gone.
void Process::exec_image(std::shared_ptr<AddressSpace> mm, const std::string& exe,
                         const LoadedImage& image, const StackImage& stack) {
    const std::shared_ptr<Task> t = current_;
    ThreadGroup& g = *t->group;
    for (auto& w : g.threads)
        if (auto other = w.lock(); other && other != t && other->alive()) release_thread(*other, true);
    std::erase_if(g.threads, [&](const std::weak_ptr<Task>& w) { return w.lock() != t; });
    mm->set_checked(options_.check == CheckMode::Accesses);
    std::shared_ptr<AddressSpace> old = std::move(g.mm);
    g.mm = std::move(mm);
    if (recorder_ && old && old.use_count() == 1) recorder_->release(*old, 0, 0);
    drop_address_space(old);
    t->vfork_parent = 0;
    t->files = t->files->clone();
    t->files->close_on_exec();
    auto handlers = std::make_shared<SignalHandlers>();
    for (int sig = 1; sig <= kNsig; ++sig)
        if (t->signals.action(sig).handler == 1) (*handlers)[static_cast<std::size_t>(sig)].handler = 1;
    t->signals.handlers = handlers;
    t->signals.altstack = AltStack{};
    t->clear_child_tid = 0;
    t->robust_list = 0;
    g.timers.clear();  // POSIX timers do not survive execve (alarm does)
    g.set_exe(exe);
    g.stack = stack;
    VirtualCpu& c = cpus_[cpu_index_];
    c.engine->restore(*initial_context_);
    flush_cpu(c);
    c.loaded_asid = g.mm->asid();
    cpu().set_reg(UC_X86_REG_RSP, stack.rsp);
    redirect(image.start);
}

}  // namespace emu
