// Signals in the run loop: host signals forwarded to the guest, delivery (handler, ignore,
// default action), and death by a signal.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "machine/fault_report.hpp"
#include "machine/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <cerrno>
#include <stdexcept>
#include <unistd.h>

#include <array>
#include <atomic>

namespace emu {

using namespace mmu;

namespace {

// Written by host signal handlers, read by the run loop.
std::atomic<std::uint64_t> host_pending{0};
std::array<siginfo_t, kNsig + 1> host_info{};
std::atomic<uc_engine*> running_engine{nullptr};
int wake_pipe[2] = {-1, -1};  // written by the handlers: wakes the scheduler's idle poll

void on_host_signal(int sig, siginfo_t* info, void*) {
    const int saved_errno = errno;
    host_info[sig] = *info;
    host_pending.fetch_or(sig_bit(sig));
    if (wake_pipe[1] >= 0) (void)!::write(wake_pipe[1], "", 1);
    errno = saved_errno;
}

}  // namespace

int Process::host_wake_fd() { return wake_pipe[0]; }

bool host_signal_pending(int sig) { return (host_pending.load() & sig_bit(sig)) != 0; }

void Process::drain_host_wake_fd() {
    char buf[64];
    while (::read(wake_pipe[0], buf, sizeof buf) > 0) {
    }
}

void Process::install_host_signal_forwarding() {
    if (wake_pipe[0] < 0 && ::pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        throw std::runtime_error("cannot create the scheduler's wake pipe");
    struct sigaction sa {};
    sa.sa_sigaction = on_host_signal;
    sa.sa_flags = SA_SIGINFO;  // no SA_RESTART: blocking host calls return EINTR
    sigfillset(&sa.sa_mask);
    for (int sig = 1; sig <= kNsig; ++sig) {
        // Faults and traps of the emulator itself stay fatal; KILL/STOP cannot be caught; 32 and
        // 33 belong to the C library.
        if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
            sig == SIGFPE || sig == SIGTRAP || sig == SIGABRT || sig == 32 || sig == 33)
            continue;
        ::sigaction(sig, &sa, nullptr);
    }
    // A write to a broken pipe raises SIGPIPE in the guest task that wrote (syscalls_files), not
    // in the first task.
    ::signal(SIGPIPE, SIG_IGN);
}

// Host signals go to the first task's process: SIGINT, SIGQUIT and SIGTSTP (what a terminal
// sends) to its whole process group, the others to the process itself.
void Process::take_host_signals() {
    std::uint64_t bits = host_pending.exchange(0);
    if (!bits) return;
    while (bits) {
        const int sig = __builtin_ctzll(bits) + 1;
        bits &= bits - 1;
        const siginfo_t& hi = host_info[sig];
        SigInfo info;
        info.signo = sig;
        info.code = hi.si_code;
        info.pid = hi.si_pid;
        info.uid = static_cast<int>(hi.si_uid);
        info.status = sig == SIGCHLD ? hi.si_status : 0;
        info.from_kill = true;
        if (!init_ || init_->state != GroupState::Alive) continue;
        if (sig == SIGINT || sig == SIGQUIT || sig == SIGTSTP) {
            const int pgid = init_->pgid;
            for (auto& [tgid, g] : groups_)
                if (g->state == GroupState::Alive && g->pgid == pgid) signal_group(*g, info);
        } else {
            signal_group(*init_, info);
        }
    }
}

bool Process::restart_after_interrupt() {
    take_host_signals();
    const auto sig = signals().next_deliverable();
    if (!sig) return true;  // nothing for the guest (an ignored host signal): just retry
    const SigAction& action = signals().action(*sig);
    if (action.handler == 1) return true;
    return action.handler > 1 && (action.flags & sa::kRestart);
}

void Process::deliver_pending() {
    const std::shared_ptr<Task> task = current_;
    while (task->alive() && task->state == TaskState::Runnable && !finished_) {
        auto info = task->signals.take_deliverable();
        if (!info) break;
        deliver(*info, false);
    }
    // rt_sigsuspend's mask comes back now unless a handler frame saved it.
    if (task->saved_mask && task->alive()) {
        task->signals.blocked = *task->saved_mask;
        task->saved_mask.reset();
    }
}

void Process::deliver(const SigInfo& original, bool synchronous) {
    last_operation_ = "signal delivery";
    ++stats_.signals_delivered;
    SigInfo info = original;
    timer_signal_taken(info);
    if (gdb_ && is_debugged(*current_)) {
        // As under ptrace: the debugger sees the signal before any handler runs, and decides
        // whether it is delivered (continue), replaced, or suppressed (signal 0).
        debugger_stop(info.signo, &info, "");
        if (finished_ || !current_->alive()) return;
        if (gdb_) {
            const int sig = gdb_->signal_to_deliver();
            if (sig == 0) return;
            info.signo = sig;
        }
    }
    SignalState& signals_ = current_->signals;
    SigAction& action = signals_.action(info.signo);
    const bool blocked = signals_.blocked & sig_bit(info.signo);
    // A fault that is blocked or ignored cannot be delivered: Linux resets it to the default
    // action and the process dies (force_sig_fault).
    if (synchronous && (blocked || action.handler == 1)) {
        action = SigAction{};
        signals_.blocked &= ~sig_bit(info.signo);
    }
    if (action.handler == 1) return;  // ignored
    if (action.handler == 0) {
        const DefaultAction d = default_action(info.signo);
        if (d == DefaultAction::Ignore || d == DefaultAction::Continue) return;
        if (d == DefaultAction::Stop) {
            stop_group(group(), info.signo);
            return;
        }
        if (recorder_ && recorder_->traces(as())) recorder_->signal(as(), info);
        kill_by_signal(info, synchronous);
        return;
    }
    if (recorder_ && recorder_->traces(as())) recorder_->signal(as(), info);  // handler or death
    if (!setup_frame(info, action)) {
        // The frame could not be written (no stack): SIGSEGV with the default action.
        SigInfo segv;
        segv.signo = 11;
        segv.code = 0x80;
        signals_.action(11) = SigAction{};
        kill_by_signal(segv, true);
    }
}

void Process::kill_by_signal(const SigInfo& info, bool report) {
    if (report) print_fault_report(*this, info);
    exit_group(0, info.signo);
}

}  // namespace emu
