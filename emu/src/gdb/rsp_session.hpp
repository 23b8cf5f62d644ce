// The GDB Remote Serial Protocol without the socket: framing and acknowledgements, and every
// command (registers, memory, breakpoints, watchpoints, threads, qXfer, monitor) over a
// DebugTarget. Replies leave through a byte sink; GdbStub connects it to a TCP client, the RSP
// fuzzer drives it from bytes alone.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gdb/debug_target.hpp"
#include "kernel/signals.hpp"

namespace emu {

// What the client asked the guest to do next.
enum class Resume : std::uint8_t { Continue, Step, Kill, Detach };

class RspSession {
public:
    // Packets (and pending client bytes) are bounded: PacketSize in qSupported.
    static constexpr std::size_t kMaxPacket = 0x4000;
    using Sink = std::function<void(const std::string& bytes)>;

    RspSession(DebugTarget& target, Sink sink) : target_(target), sink_(std::move(sink)) {}

    // Takes the next whole packet out of `input` (acknowledging it, unescaped), or nullopt when
    // `input` holds no whole packet yet. Bytes before '$' are dropped; a packet with a bad
    // checksum is answered '-' and skipped; more than a packet's worth without a whole one is
    // dropped and answered '-'.
    std::optional<std::string> take_packet(std::string& input);
    // A new client: acknowledgements are on again until it asks for QStartNoAckMode.
    void new_client() { no_ack_ = false; }

    // The guest stopped: what '?' reports from now on, and the thread registers are read from.
    void stop(int signo, const SigInfo* info, const std::string& extra);
    void announce_stop() { send_packet(stop_reply()); }
    // Serves one packet; a value when the packet resumes, kills or detaches.
    std::optional<Resume> handle(const std::string& packet);
    void exited(int status, int signo);

    // After a resume: the signal to deliver (0: none) and the thread that steps (0: the one that
    // stopped).
    int signal_to_deliver() const { return resume_signal_; }
    int resume_thread() const { return resume_thread_; }

    bool breakpoint_at(std::uint64_t rip) const { return breakpoints_.count(rip) != 0; }
    struct Watch {
        std::uint64_t addr, len;
        char kind;  // '2' write, '3' read, '4' access
    };
    const std::vector<Watch>& watchpoints() const { return watchpoints_; }

private:
    void send_packet(const std::string& body);
    void send_console(const std::string& text);
    std::string stop_reply() const;
    std::optional<Resume> parse_resume(const std::string& packet);
    std::optional<Resume> handle_breakpoint(const std::string& packet);
    std::optional<Resume> handle_query(const std::string& packet);
    std::string read_registers();
    bool write_registers(const std::string& hex);
    std::string read_register(unsigned regno);
    bool write_register(unsigned regno, const std::string& hex);
    std::string read_memory(std::uint64_t addr, std::uint64_t len);
    bool write_memory(std::uint64_t addr, const std::vector<std::uint8_t>& bytes);
    std::string xfer(const std::string& object, const std::string& annex, std::uint64_t offset,
                     std::uint64_t length);
    std::string monitor(const std::string& command);

    DebugTarget& target_;
    Sink sink_;
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
};

}  // namespace emu
