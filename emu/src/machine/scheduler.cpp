// The scheduler: one host thread runs the virtual CPUs in turn (as QEMU's TCG did before
// multi-threaded TCG), each CPU running one task for a time slice counted in translated blocks.
// Blocked tasks are woken by re-checking what they wait for; when nothing can run, the host
// sleeps in poll() on the descriptors and deadlines the blocked tasks wait for.
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <utility>
#include <cinttypes>
#include <climits>
#include <cstdio>

#include "machine/process.hpp"
#include "syscalls/syscalls.hpp"

namespace emu {

using namespace mmu;

std::uint64_t monotonic_ns() {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {
constexpr std::uint64_t kSliceBlocks = 20000;  // translated blocks per time slice
}  // namespace

// xorshift64, seeded by --sched-seed.
std::uint64_t Process::next_random() {
    rng_state_ ^= rng_state_ << 13;
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    return rng_state_;
}

std::uint64_t Process::next_slice_budget() {
    if (options_.sched_seed == 0) return kSliceBlocks;
    // Slices between 1/8 and 2 times the default, varying the interleaving.
    return kSliceBlocks / 8 + next_random() % (kSliceBlocks * 2);
}

// Time slices start once there is a second task: the block hook is added to every CPU and the
// translated code is dropped so that every block calls it.
void Process::enable_preemption() {
    if (preemption_) return;
    preemption_ = true;
    for (auto& c : cpus_) {
        c.engine->on_block(&Process::block_hook, this);
        flush_code(c);
    }
}

void Process::flush_code_everywhere() {
    if (options_.skip_code_flush) return;
    for (auto& c : cpus_) flush_code(c);
}

// code_frames empties: the TLB goes too, so that no frame can be translated again without a fill.
void Process::flush_code(VirtualCpu& c) {
    c.engine->flush_code();
    ++stats_.code_flushes;
    flush_cpu(c);
    c.code_frames.clear();
    c.stale_code.clear();
}

// QEMU keys translated code by the physical page it came from (a lookup checks the frames the
// TLB gives now) and notices only the CPU's own stores into it. A frame that is only unmapped
// keeps its code, which stays right while its contents do (a library mapped again reuses it).
// Code goes stale when the kernel side writes into the frame, or when the frame is freed (it
// will be handed out again with other contents): every kernel-side write and every free comes
// here (PhysicalMemory's frame-change listener).
void Process::on_frame_change(Pfn pfn) {
    for (const VirtualCpu& c : cpus_)
        if (c.code_frames.contains(pfn)) {
            changed_code_.push_back(pfn);
            return;
        }
}

// Runs before any CPU runs again (after a system call, before a time slice) and in the TLB-fill
// hook. Stale code of a frame is dropped on each CPU that may hold it, and nowhere else.
void Process::drop_changed_code() {
    if (changed_code_.empty()) return;
    const std::vector<Pfn> frames = std::exchange(changed_code_, {});
    if (options_.skip_code_flush) return;
    for (VirtualCpu& c : cpus_) drop_changed_code(c, frames);
}

// Dropping one frame's code mid-block is what QEMU does when a guest store hits code; dropping
// all of it is not safe there, so without that the CPU stops at the next block and the code goes
// before it runs again (the next block, were it stale, stops before its first instruction).
void Process::drop_changed_code_in_fill() {
    if constexpr (Cpu::kInvalidatesCodePrecisely) drop_changed_code();
    else cpu().stop();
}

void Process::drop_changed_code(VirtualCpu& c, const std::vector<Pfn>& frames) {
    for (const Pfn pfn : frames) {
        const auto it = c.code_frames.find(pfn);
        if (it == c.code_frames.end()) continue;
        if (!c.engine->invalidate_code(pfn << kPageShift, kPageSize)) {
            flush_code(c);  // an unpatched Unicorn: all of it
            return;
        }
        ++stats_.code_pages_dropped;
        c.stale_code.erase(pfn);
        // A freed frame is mapped by no page table, so no TLB holds it (the unmapping flushed
        // them before the free): it cannot be translated again without a fill.
        if (ram_.refcount(pfn) == 0) c.code_frames.erase(it);
    }
}

bool Process::signal_interrupts() const {
    const SignalState& s = current_->signals;
    return (s.pending & ~s.blocked) != 0;
}

std::shared_ptr<Task> Process::find_task(int tid) const {
    auto it = tasks_.find(tid);
    return it == tasks_.end() || !it->second->alive() ? nullptr : it->second;
}

std::shared_ptr<ThreadGroup> Process::find_group(int tgid) const {
    auto it = groups_.find(tgid);
    return it == groups_.end() ? nullptr : it->second;
}

std::int64_t Process::block(BlockState b) {
    Task& t = *current_;
    b.retry = true;
    b.progress = std::max(b.progress, t.block.progress);
    t.block = std::move(b);
    t.state = TaskState::Blocked;
    return kBlock;
}

// Interval timers (alarm, setitimer ITIMER_REAL) and POSIX timers of every group.
void Process::check_timers() {
    const std::uint64_t now = monotonic_ns();
    for (auto& [tgid, g] : groups_) {
        if (g->state != GroupState::Alive) continue;
        for (PosixTimer& t : g->timers) {
            if (!t.deadline_ns || now < t.deadline_ns) continue;
            std::uint64_t expiries = 1;
            if (t.interval_ns) {
                expiries += (now - t.deadline_ns) / t.interval_ns;
                t.deadline_ns += expiries * t.interval_ns;
            } else {
                t.deadline_ns = 0;
            }
            if (!t.notify) continue;
            if (t.signal_pending) {  // not yet delivered: the expiries are overruns
                t.pending_overrun += static_cast<int>(std::min<std::uint64_t>(expiries, INT_MAX));
                continue;
            }
            t.pending_overrun = static_cast<int>(std::min<std::uint64_t>(expiries - 1, INT_MAX));
            SigInfo info;
            info.signo = t.signo;
            info.code = -2;  // SI_TIMER: si_timerid, si_overrun, si_value
            info.pid = t.id;
            info.uid = t.pending_overrun;
            info.value = t.value;
            info.from_kill = true;
            info.timer = true;
            if (t.target_tid) {
                if (auto task = find_task(t.target_tid)) t.signal_pending = signal_task(*task, info);
            } else {
                t.signal_pending = signal_group(*g, info);
            }
        }
        if (g->state != GroupState::Alive || !g->alarm_ns || now < g->alarm_ns) continue;
        g->alarm_ns = g->alarm_interval_ns ? now + g->alarm_interval_ns : 0;
        SigInfo info;
        info.signo = 14;   // SIGALRM
        info.code = 0x80;  // SI_KERNEL
        signal_group(*g, info);
    }
}

// A blocked task is runnable again when what it waits for happened, its deadline passed, or a
// signal it does not block arrived (its call then fails with EINTR or restarts).
bool Process::wake_ready_tasks() {
    check_timers();
    bool any = false;
    const std::uint64_t now = monotonic_ns();
    for (auto& [tid, t] : tasks_) {
        if (t->state != TaskState::Blocked) continue;
        const SignalState& s = t->signals;
        const bool signalled = t->block.interruptible && (s.pending & ~s.blocked);
        const bool timed_out = t->block.deadline_ns && now >= *t->block.deadline_ns;
        if (signalled || timed_out || t->block.futex_woken || (t->block.ready && t->block.ready())) {
            t->state = TaskState::Runnable;
            any = true;
        }
    }
    return any;
}

// Round robin in tid order, starting after the task scheduled last; only tasks allowed on the
// CPU about to run (sched_setaffinity). A CPU with nothing to run passes its turn.
std::shared_ptr<Task> Process::pick_next() {
    // Dead tasks leave the table (their registers, files and address space are already gone).
    std::erase_if(tasks_, [&](const auto& entry) { return !entry.second->alive(); });
    wake_ready_tasks();
    if (forced_next_) {
        const auto t = find_task(std::exchange(forced_next_, 0));
        if (t && t->state == TaskState::Runnable && !t->group->stopped) return t;
    }
    for (std::size_t tries = 0; tries < cpus_.size(); ++tries) {
        const std::uint64_t cpu_bit = 1ull << cpu_index_;
        auto eligible = [&](const std::shared_ptr<Task>& t) {
            return t->state == TaskState::Runnable && !t->group->stopped && (t->affinity & cpu_bit);
        };
        if (options_.sched_seed) {
            // A seeded run picks among the runnable tasks at random (still reproducibly).
            std::vector<std::shared_ptr<Task>> ready;
            for (const auto& [tid, t] : tasks_)
                if (eligible(t)) ready.push_back(t);
            if (!ready.empty()) return ready[next_random() % ready.size()];
        }
        const int last = cpus_[cpu_index_].last_tid;
        for (auto it = tasks_.upper_bound(last); it != tasks_.end(); ++it)
            if (eligible(it->second)) return it->second;
        for (auto it = tasks_.begin(); it != tasks_.end() && it->first <= last; ++it)
            if (eligible(it->second)) return it->second;
        cpu_index_ = (cpu_index_ + 1) % static_cast<unsigned>(cpus_.size());
    }
    return nullptr;
}

// Nothing is runnable: sleep in the host until a descriptor a task waits on is ready, the
// earliest deadline passes, or a host signal arrives (its handler writes to the wake pipe).
void Process::wait_for_events() {
    std::vector<pollfd> fds;
    std::optional<std::uint64_t> deadline;
    bool blocked = false;
    for (auto& [tid, t] : tasks_) {
        if (t->alive() && t->group->stopped) blocked = true;
        if (t->state != TaskState::Blocked) continue;
        blocked = true;
        for (const pollfd& f : t->block.host_fds) fds.push_back(f);
        if (t->block.deadline_ns) deadline = std::min(deadline.value_or(UINT64_MAX), *t->block.deadline_ns);
    }
    for (auto& [tgid, g] : groups_) {
        if (g->state != GroupState::Alive) continue;
        if (g->alarm_ns) deadline = std::min(deadline.value_or(UINT64_MAX), g->alarm_ns);
        for (const PosixTimer& t : g->timers)
            if (t.deadline_ns) deadline = std::min(deadline.value_or(UINT64_MAX), t.deadline_ns);
    }
    if (!blocked) {
        // No task left that could ever run: the first task's group is gone or the state is
        // inconsistent; end rather than spin.
        finished_ = true;
        return;
    }
    fds.push_back({host_wake_fd(), POLLIN, 0});
    int timeout = -1;
    if (deadline) {
        const std::uint64_t now = monotonic_ns();
        timeout = *deadline <= now ? 0 : static_cast<int>(std::min<std::uint64_t>((*deadline - now + 999999) / 1000000, INT_MAX));
    }
    ::poll(fds.data(), fds.size(), timeout);
    drain_host_wake_fd();
    take_host_signals();
}

// Puts `task` on CPU `index`: its registers into the engine, and a CR3 load (a TLB flush) when
// the CPU held another address space's translations.
void Process::switch_to(unsigned index, const std::shared_ptr<Task>& task) {
    cpu_index_ = index;
    VirtualCpu& c = cpus_[index];
    if (c.task != task) {
        park(c);
        // Its registers may still be in the engine of the CPU it ran on last.
        for (auto& other : cpus_)
            if (other.task == task) park(other);
        if (task->registers) {
            c.engine->restore(*task->registers);
            task->registers.reset();
        }
        for (const auto& [id, value] : task->register_overrides) c.engine->set_reg(id, value);
        task->register_overrides.clear();
        ++stats_.context_switches;
        c.task = task;
    }
    const Asid asid = task->group->mm->asid();
    if (c.loaded_asid != asid) {
        if (c.loaded_asid) ++stats_.cr3_loads;
        flush_cpu(c);
        c.loaded_asid = asid;
    }
    current_ = task;
    last_operation_ = "context switch";
    // With more than one task, a trace tags events with the task (numbered in creation order).
    if (recorder_ && preemption_) recorder_->set_task(task->tid - init_->tgid + 1);
    task->last_cpu = static_cast<int>(index);
    c.last_tid = task->tid;
}

// A task leaving a CPU keeps its registers in the engine until another task is put there; then
// they are saved into the task, leaving the CPU empty.
void Process::park(VirtualCpu& c) {
    if (c.task && c.task->alive() && !c.task->registers) {
        c.task->registers = std::make_shared<CpuContext>(c.engine->handle());
        c.engine->save(*c.task->registers);
    }
    c.task.reset();
}

}  // namespace emu
