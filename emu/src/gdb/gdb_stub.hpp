// A GDB Remote Serial Protocol server: gdb connects over TCP, stops the guest at breakpoints,
// steps, reads registers and memory through the MMU, sees faults before any handler runs, and
// asks the MMU why (monitor pte/vmas/tlb/stats/guard/unguard).
#pragma once

#include <unicorn/unicorn.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <stdexcept>
#include <string>
#include <vector>

#include "gdb/rsp_session.hpp"
#include "kernel/signals.hpp"

namespace emu {

// mmuemu was asked to end by a host signal while it could not run the guest (waiting for gdb).
class HostSignalExit : public std::runtime_error {
public:
    explicit HostSignalExit(int sig) : std::runtime_error("ended by a signal"), signo(sig) {}
    int signo;
};

// Whether the host signal `sig` has arrived and not been handed to the guest yet.
bool host_signal_pending(int sig);

struct GdbOptions {
    std::string listen_address = "127.0.0.1";
    int port = 0;
    bool wait_for_reconnect = false;  // --gdb-wait: a client that leaves is waited for again
};

// The TCP side of the stub: one client at a time, its bytes fed to an RspSession.
class GdbStub {
public:
    GdbStub(DebugTarget& target, const GdbOptions& options);  // listens; throws on failure
    ~GdbStub();
    GdbStub(const GdbStub&) = delete;
    GdbStub& operator=(const GdbStub&) = delete;

    int port() const { return port_; }
    // Blocks until a client is connected (the guest stops before its first instruction).
    void wait_for_client();

    // The guest stopped (breakpoint, step, watchpoint, signal): report it and serve the client
    // until it resumes. For a signal stop, `signal_to_deliver()` then tells what to deliver.
    Resume stopped(int signo, const SigInfo* info, const std::string& extra = {},
                   bool announce = true);
    int signal_to_deliver() const { return session_.signal_to_deliver(); }
    // The thread a step applies to (vCont;s:TID, or Hc then s); 0: the one that stopped.
    int resume_thread() const { return session_.resume_thread(); }
    void exited(int status, int signo);

    bool attached() const { return client_ >= 0; }
    // While the guest runs, a watcher thread reads the client: a ^C (0x03) stops the CPU and is
    // reported as SIGINT; any other bytes are kept for the next stop.
    void start_watching(uc_engine* uc);
    void stop_watching();
    bool take_interrupt() { return interrupted_.exchange(false); }
    // Breakpoint and watchpoint state for the CPU hooks.
    bool breakpoint_at(std::uint64_t rip) const { return session_.breakpoint_at(rip); }
    std::optional<std::uint64_t> step_over;  // resume from a breakpoint without hitting it again
    using Watch = RspSession::Watch;
    const std::vector<Watch>& watchpoints() const { return session_.watchpoints(); }

private:
    bool read_packet(std::string& out);
    void send_raw(const std::string& bytes);
    void drop_client();
    void refuse_extra_clients();

    GdbOptions options_;
    RspSession session_;
    int listener_ = -1;
    int client_ = -1;
    int port_ = 0;
    std::string pending_input_;
    std::thread watcher_;
    std::atomic<bool> watching_{false};
    std::atomic<bool> interrupted_{false};
};

}  // namespace emu
