// Signals in the run loop: host signals forwarded to the guest, delivery (handler, ignore,
// default action), and death by a signal.
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "fault_report.hpp"
#include "process.hpp"

#include <signal.h>
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

void on_host_signal(int sig, siginfo_t* info, void*) {
    host_info[sig] = *info;
    host_pending.fetch_or(sig_bit(sig));
    if (uc_engine* uc = running_engine.load()) uc_emu_stop(uc);
}

}  // namespace

void Process::install_host_signal_forwarding() {
    running_engine = cpu_.handle();
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
}

void Process::take_host_signals() {
    std::uint64_t bits = host_pending.exchange(0);
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
        signals_.queue(info);
    }
}

bool Process::restart_after_interrupt() {
    take_host_signals();
    const auto sig = signals_.next_deliverable();
    if (!sig) return true;  // nothing for the guest (an ignored host signal): just retry
    const SigAction& action = signals_.actions[*sig];
    if (action.handler == 1) return true;
    return action.handler > 1 && (action.flags & sa::kRestart);
}

void Process::deliver_pending() {
    while (!exited_) {
        auto info = signals_.take_deliverable();
        if (!info) return;
        deliver(*info, false);
    }
}

void Process::deliver(const SigInfo& original, bool synchronous) {
    ++stats_.signals_delivered;
    SigInfo info = original;
    if (gdb_) {
        // As under ptrace: the debugger sees the signal before any handler runs, and decides
        // whether it is delivered (continue), replaced, or suppressed (signal 0).
        debugger_stop(info.signo, &info, "");
        if (exited_) return;
        if (gdb_) {
            const int sig = gdb_->signal_to_deliver();
            if (sig == 0) return;
            info.signo = sig;
        }
    }
    SigAction& action = signals_.actions[info.signo];
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
        if (d == DefaultAction::Ignore || d == DefaultAction::Continue || d == DefaultAction::Stop)
            return;
        if (recorder_) recorder_->signal(*as_, info);
        kill_by_signal(info, synchronous);
        return;
    }
    if (recorder_) recorder_->signal(*as_, info);  // only signals that run a handler or kill
    if (!setup_frame(info, action)) {
        // The frame could not be written (no stack): SIGSEGV with the default action.
        SigInfo segv;
        segv.signo = 11;
        segv.code = 0x80;
        signals_.actions[11] = SigAction{};
        kill_by_signal(segv, true);
    }
}

void Process::kill_by_signal(const SigInfo& info, bool report) {
    if (report) print_fault_report(*this, info);
    exited_ = true;
    killed_by_ = info.signo;
    exit_status_ = 128 + info.signo;
}

}  // namespace emu
