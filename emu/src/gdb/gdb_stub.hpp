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
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel/signals.hpp"

namespace emu {

class Process;

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

// What the client asked the guest to do next.
enum class Resume : std::uint8_t { Continue, Step, Kill, Detach };

class GdbStub {
public:
    GdbStub(Process& process, const GdbOptions& options);  // listens; throws on failure
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
    int signal_to_deliver() const { return resume_signal_; }
    // The thread a step applies to (vCont;s:TID, or Hc then s); 0: the one that stopped.
    int resume_thread() const { return resume_thread_; }
    void exited(int status, int signo);

    bool attached() const { return client_ >= 0; }
    // While the guest runs, a watcher thread reads the client: a ^C (0x03) stops the CPU and is
    // reported as SIGINT; any other bytes are kept for the next stop.
    void start_watching(uc_engine* uc);
    void stop_watching();
    bool take_interrupt() { return interrupted_.exchange(false); }
    // Breakpoint and watchpoint state for the CPU hooks.
    bool breakpoint_at(std::uint64_t rip) const { return breakpoints_.count(rip) != 0; }
    std::optional<std::uint64_t> step_over;  // resume from a breakpoint without hitting it again
    struct Watch {
        std::uint64_t addr, len;
        char kind;  // '2' write, '3' read, '4' access
    };
    const std::vector<Watch>& watchpoints() const { return watchpoints_; }

private:
    bool read_packet(std::string& out);
    void send_packet(const std::string& body);
    void send_raw(const std::string& bytes);
    void send_console(const std::string& text);
    std::optional<Resume> handle(const std::string& packet);
    std::string stop_reply() const;
    std::string read_registers();
    bool write_registers(const std::string& hex);
    std::string read_register(unsigned regno);
    bool write_register(unsigned regno, const std::string& hex);
    std::string read_memory(std::uint64_t addr, std::uint64_t len);
    bool write_memory(std::uint64_t addr, const std::vector<std::uint8_t>& bytes);
    std::string xfer(const std::string& object, const std::string& annex, std::uint64_t offset,
                     std::uint64_t length);
    std::string monitor(const std::string& command);
    std::optional<Resume> parse_resume(const std::string& packet);
    void drop_client();
    void refuse_extra_clients();

    Process& process_;
    GdbOptions options_;
    int listener_ = -1;
    int client_ = -1;
    int port_ = 0;
    bool no_ack_ = false;
    int stop_signal_ = 5;
    std::string stop_extra_;
    SigInfo stop_info_;
    int resume_signal_ = 0;
    int selected_thread_ = 0;  // Hg: 0 = the thread that stopped
    int continue_thread_ = 0;  // Hc
    int resume_thread_ = 0;
    bool bad_resume_ = false;  // the last resume packet was malformed (E01)
    static constexpr std::uint64_t kMaxWatchBytes = 1 << 20;
    static constexpr std::size_t kMaxWatchpoints = 64;
    std::set<std::uint64_t> breakpoints_;
    std::vector<Watch> watchpoints_;
    std::string pending_input_;
    std::thread watcher_;
    std::atomic<bool> watching_{false};
    std::atomic<bool> interrupted_{false};
};

}  // namespace emu
