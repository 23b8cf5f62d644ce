// Linux signal state of the guest process and the x86-64 signal frame (rt_sigframe).
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

namespace emu {

inline constexpr int kNsig = 64;

// struct k_sigaction as rt_sigaction(2) passes it on x86-64.
struct SigAction {
    std::uint64_t handler = 0;  // SIG_DFL = 0, SIG_IGN = 1
    std::uint64_t flags = 0;
    std::uint64_t restorer = 0;
    std::uint64_t mask = 0;
};

namespace sa {
inline constexpr std::uint64_t kSigInfo = 0x4;
inline constexpr std::uint64_t kOnStack = 0x08000000;
inline constexpr std::uint64_t kRestart = 0x10000000;
inline constexpr std::uint64_t kNoDefer = 0x40000000;
inline constexpr std::uint64_t kResetHand = 0x80000000;
inline constexpr std::uint64_t kRestorer = 0x04000000;
}  // namespace sa

// The fields of siginfo_t the emulator produces (laid out as the kernel does, 128 bytes).
struct SigInfo {
    int signo = 0;
    int code = 0;
    std::uint64_t addr = 0;  // SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP: the faulting address
    int pid = 0;             // kill/tgkill/SIGCHLD: the sender or child
    int uid = 0;
    int status = 0;          // SIGCHLD: exit code or signal
    std::uint64_t value = 0; // rt_sigqueueinfo, timers: si_value
    bool timer = false;      // from a POSIX timer (pid = timer id, uid = overrun)
    bool from_kill = false;
    // x86 trap information for the ucontext (REG_TRAPNO, REG_ERR, REG_CR2).
    std::uint64_t trapno = 0;
    std::uint64_t error_code = 0;
};

struct AltStack {
    std::uint64_t sp = 0;
    int flags = 2;  // SS_DISABLE
    std::uint64_t size = 0;
};

inline constexpr std::uint64_t sig_bit(int sig) { return 1ull << (sig - 1); }
inline constexpr std::uint64_t kUnblockable = sig_bit(9) | sig_bit(19);  // SIGKILL, SIGSTOP

// siginfo_t as the kernel writes it (signal frames, waitid, rt_sigtimedwait, signalfd).
std::array<std::uint8_t, 128> encode_siginfo(const SigInfo& info);

// What the default action of a signal does.
enum class DefaultAction { Terminate, CoreDump, Ignore, Stop, Continue };
DefaultAction default_action(int sig);
const char* signal_name(int sig);
const char* si_code_name(int sig, int code);

// The handlers of a thread group (shared by CLONE_SIGHAND).
using SignalHandlers = std::array<SigAction, kNsig + 1>;

// One task's signal state: its own mask, pending set and alternate stack, and the handlers it
// shares with the tasks it was cloned with CLONE_SIGHAND.
struct SignalState {
    std::shared_ptr<SignalHandlers> handlers = std::make_shared<SignalHandlers>();
    SigAction& action(int sig) { return (*handlers)[static_cast<std::size_t>(sig)]; }
    const SigAction& action(int sig) const { return (*handlers)[static_cast<std::size_t>(sig)]; }
    std::uint64_t blocked = 0;
    std::uint64_t pending = 0;
    // Standard signals coalesce (one pending instance); real-time signals (>= 32) queue.
    std::array<std::deque<SigInfo>, kNsig + 1> pending_info{};
    AltStack altstack;

    // False when a standard signal was already pending (it coalesces).
    bool queue(const SigInfo& info) {
        auto& q = pending_info[info.signo];
        if (info.signo < 32 && !q.empty()) return false;
        q.push_back(info);
        pending |= sig_bit(info.signo);
        return true;
    }
    // The lowest-numbered pending, unblocked signal (synchronous faults are delivered directly).
    std::optional<SigInfo> take_deliverable() {
        const std::uint64_t ready = pending & ~blocked;
        if (!ready) return std::nullopt;
        return take(__builtin_ctzll(ready) + 1);
    }
    // Dequeues the oldest instance of pending signal `sig`.
    SigInfo take(int sig) {
        auto& q = pending_info[static_cast<std::size_t>(sig)];
        SigInfo info = q.front();
        q.pop_front();
        if (q.empty()) pending &= ~sig_bit(sig);
        return info;
    }
    std::optional<int> next_deliverable() const {
        const std::uint64_t ready = pending & ~blocked;
        if (!ready) return std::nullopt;
        return __builtin_ctzll(ready) + 1;
    }
};

}  // namespace emu
