#include "gdb/gdb_stub.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "machine/process.hpp"

namespace emu {

using namespace mmu;

namespace {

constexpr std::size_t kMaxPacket = 0x4000;

// Linux signal numbers -> GDB's (the remote protocol uses GDB's numbering).
int to_gdb_signal(int sig) {
    static const int table[32] = {0,  1,  2,  3,  4,  5,  6,  10, 8,  9,  30, 11, 31, 13, 14, 15,
                                  0,  20, 19, 17, 18, 21, 22, 16, 24, 25, 26, 27, 28, 23, 32, 12};
    return sig >= 0 && sig < 32 ? table[sig] : sig;
}

int from_gdb_signal(int gdb) {
    for (int sig = 1; sig < 32; ++sig)
        if (to_gdb_signal(sig) == gdb) return sig;
    return gdb;
}

std::string hex_bytes(const void* data, std::size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    const auto* p = static_cast<const std::uint8_t*>(data);
    for (std::size_t i = 0; i < n; ++i) {
        out += digits[p[i] >> 4];
        out += digits[p[i] & 15];
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool parse_hex_bytes(const std::string& hex, std::vector<std::uint8_t>& out) {
    if (hex.size() % 2) return false;
    out.clear();
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        const int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    }
    return true;
}

bool parse_number(const std::string& text, std::uint64_t& out) {
    if (text.empty() || text.size() > 16) return false;
    out = 0;
    for (char c : text) {
        const int v = hex_value(c);
        if (v < 0) return false;
        out = out * 16 + static_cast<std::uint64_t>(v);
    }
    return true;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> parts;
    std::string cur;
    std::istringstream in(s);
    while (std::getline(in, cur, sep)) parts.push_back(cur);
    if (!s.empty() && s.back() == sep) parts.emplace_back();
    return parts;
}

std::string escape_binary(const std::string& data) {
    std::string out;
    for (char c : data) {
        if (c == '$' || c == '#' || c == '}' || c == '*') {
            out += '}';
            out += static_cast<char>(c ^ 0x20);
        } else {
            out += c;
        }
    }
    return out;
}

// The register file gdb is told about (qXfer:features): x86-64 core, SSE, Linux, segment bases.
struct RegisterInfo {
    const char* name;
    int bits;
    int uc_id;  // -1: not in Unicorn (reads as zero)
    const char* type;
    const char* feature;
};

const std::vector<RegisterInfo>& registers() {
    static const std::vector<RegisterInfo> regs = [] {
        std::vector<RegisterInfo> r = {
            {"rax", 64, UC_X86_REG_RAX, "int64", "core"}, {"rbx", 64, UC_X86_REG_RBX, "int64", "core"},
            {"rcx", 64, UC_X86_REG_RCX, "int64", "core"}, {"rdx", 64, UC_X86_REG_RDX, "int64", "core"},
            {"rsi", 64, UC_X86_REG_RSI, "int64", "core"}, {"rdi", 64, UC_X86_REG_RDI, "int64", "core"},
            {"rbp", 64, UC_X86_REG_RBP, "data_ptr", "core"}, {"rsp", 64, UC_X86_REG_RSP, "data_ptr", "core"},
            {"r8", 64, UC_X86_REG_R8, "int64", "core"},   {"r9", 64, UC_X86_REG_R9, "int64", "core"},
            {"r10", 64, UC_X86_REG_R10, "int64", "core"}, {"r11", 64, UC_X86_REG_R11, "int64", "core"},
            {"r12", 64, UC_X86_REG_R12, "int64", "core"}, {"r13", 64, UC_X86_REG_R13, "int64", "core"},
            {"r14", 64, UC_X86_REG_R14, "int64", "core"}, {"r15", 64, UC_X86_REG_R15, "int64", "core"},
            {"rip", 64, UC_X86_REG_RIP, "code_ptr", "core"}, {"eflags", 32, UC_X86_REG_EFLAGS, "int32", "core"},
            {"cs", 32, UC_X86_REG_CS, "int32", "core"},   {"ss", 32, UC_X86_REG_SS, "int32", "core"},
            {"ds", 32, UC_X86_REG_DS, "int32", "core"},   {"es", 32, UC_X86_REG_ES, "int32", "core"},
            {"fs", 32, UC_X86_REG_FS, "int32", "core"},   {"gs", 32, UC_X86_REG_GS, "int32", "core"},
        };
        static const char* st[] = {"st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"};
        for (int i = 0; i < 8; ++i) r.push_back({st[i], 80, UC_X86_REG_ST0 + i, "i387_ext", "core"});
        r.push_back({"fctrl", 32, UC_X86_REG_FPCW, "int", "core"});
        r.push_back({"fstat", 32, UC_X86_REG_FPSW, "int", "core"});
        r.push_back({"ftag", 32, UC_X86_REG_FPTAG, "int", "core"});
        for (const char* n : {"fiseg", "fioff", "foseg", "fooff", "fop"}) r.push_back({n, 32, -1, "int", "core"});
        static const char* xmm[] = {"xmm0", "xmm1", "xmm2",  "xmm3",  "xmm4",  "xmm5",  "xmm6",  "xmm7",
                                    "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"};
        for (int i = 0; i < 16; ++i) r.push_back({xmm[i], 128, UC_X86_REG_XMM0 + i, "uint128", "sse"});
        r.push_back({"mxcsr", 32, UC_X86_REG_MXCSR, "int", "sse"});
        r.push_back({"orig_rax", 64, -1, "int", "linux"});
        r.push_back({"fs_base", 64, UC_X86_REG_FS_BASE, "int", "segments"});
        r.push_back({"gs_base", 64, UC_X86_REG_GS_BASE, "int", "segments"});
        return r;
    }();
    return regs;
}

std::string target_xml() {
    std::string xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
                      "<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n"
                      "<osabi>GNU/Linux</osabi>\n";
    std::string current;
    int regnum = 0;
    for (const RegisterInfo& r : registers()) {
        if (current != r.feature) {
            if (!current.empty()) xml += "</feature>\n";
            current = r.feature;
            xml += "<feature name=\"org.gnu.gdb.i386." + current + "\">\n";
        }
        xml += "<reg name=\"" + std::string(r.name) + "\" bitsize=\"" + std::to_string(r.bits) +
               "\" type=\"" + r.type + "\" regnum=\"" + std::to_string(regnum++) + "\"/>\n";
    }
    return xml + "</feature>\n</target>\n";
}

}  // namespace

GdbStub::GdbStub(Process& process, const GdbOptions& options) : process_(process), options_(options) {
    sockaddr_storage storage{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    const auto port = htons(static_cast<std::uint16_t>(options.port));
    if (::inet_pton(AF_INET, options.listen_address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = port;
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, options.listen_address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = port;
        len = sizeof *v6;
    } else {
        throw std::invalid_argument("--gdb-listen: '" + options.listen_address + "' is not an IP address");
    }
    listener_ = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::system_error(errno, std::generic_category(), "gdb socket");
    const int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&storage), len) < 0 || ::listen(listener_, 4) < 0)
        throw std::system_error(errno, std::generic_category(),
                                "gdb: cannot listen on " + options.listen_address + ":" + std::to_string(options.port));
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&storage), &len);
    port_ = ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
}

void GdbStub::start_watching(uc_engine* uc) {
    if (client_ < 0 || watcher_.joinable()) return;
    watching_ = true;
    const int client = client_;
    watcher_ = std::thread([this, uc, client] {
        while (watching_) {
            // What the client sends while the guest runs is kept up to a bound; beyond it the
            // bytes stay in the socket (TCP holds the client back) until the next stop.
            if (pending_input_.size() > 2 * kMaxPacket) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            pollfd fd{client, POLLIN, 0};
            const int ready = ::poll(&fd, 1, 20);  // short waits: stop_watching() ends the loop
            if (ready <= 0 || !(fd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[1024];
            const ssize_t n = ::recv(client, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) return;  // the main loop sees the disconnection at the next stop
            std::string bytes(buf, static_cast<std::size_t>(n));
            const auto ctrl_c = bytes.find('\x03');
            if (ctrl_c != std::string::npos) bytes.erase(ctrl_c, 1);
            pending_input_ += bytes;  // the main thread reads it only after stop_watching()
            if (ctrl_c != std::string::npos) {
                interrupted_ = true;
                // Unicorn may be between blocks: ask until the run loop has seen it.
                while (watching_) {
                    uc_emu_stop(uc);
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
                return;
            }
        }
    });
}

void GdbStub::stop_watching() {
    if (!watcher_.joinable()) return;
    watching_ = false;
    watcher_.join();
}

GdbStub::~GdbStub() {
    stop_watching();
    if (client_ >= 0) ::close(client_);
    if (listener_ >= 0) ::close(listener_);
}

void GdbStub::wait_for_client() {
    std::fprintf(stderr, "mmuemu: waiting for gdb on %s:%d\n", options_.listen_address.c_str(), port_);
    while (client_ < 0) {
        client_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client_ < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "gdb accept");
        // SIGINT and SIGTERM end mmuemu while it waits (as they would end a program in accept).
        if (client_ < 0 && (host_signal_pending(SIGINT) || host_signal_pending(SIGTERM)))
            throw HostSignalExit(host_signal_pending(SIGINT) ? SIGINT : SIGTERM);
    }
    const int yes = 1;
    ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    no_ack_ = false;
    pending_input_.clear();
}

void GdbStub::drop_client() {
    if (client_ >= 0) ::close(client_);
    client_ = -1;
}

// A second client while one is attached is accepted and closed at once.
void GdbStub::refuse_extra_clients() {
    pollfd pfd{listener_, POLLIN, 0};
    while (::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
        const int extra = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (extra < 0) break;
        static const char busy[] = "$E01#a6";
        (void)!::write(extra, busy, sizeof busy - 1);
        ::close(extra);
    }
}

void GdbStub::send_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size() && client_ >= 0) {
        const ssize_t n = ::send(client_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            drop_client();
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}

void GdbStub::send_packet(const std::string& body) {
    unsigned sum = 0;
    for (char c : body) sum += static_cast<unsigned char>(c);
    char tail[4];
    std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
    send_raw("$" + body + tail);
}

void GdbStub::send_console(const std::string& text) {
    std::string packet = "O";
    packet += hex_bytes(text.data(), text.size());
    send_packet(packet);
}

// Reads one packet; malformed input is answered with '-' and skipped. False: the client left.
bool GdbStub::read_packet(std::string& out) {
    while (client_ >= 0) {
        // Drop acknowledgements and anything before '$'; a lone ^C while stopped means nothing.
        std::size_t start = pending_input_.find('$');
        if (start == std::string::npos) {
            pending_input_.clear();
        } else {
            pending_input_.erase(0, start);
            const std::size_t hash = pending_input_.find('#');
            if (hash != std::string::npos && pending_input_.size() >= hash + 3) {
                const std::string body = pending_input_.substr(1, hash - 1);
                const int hi = hex_value(pending_input_[hash + 1]), lo = hex_value(pending_input_[hash + 2]);
                pending_input_.erase(0, hash + 3);
                unsigned sum = 0;
                for (char c : body) sum += static_cast<unsigned char>(c);
                if (hi < 0 || lo < 0 || static_cast<unsigned>(hi * 16 + lo) != (sum & 0xff)) {
                    if (!no_ack_) send_raw("-");
                    continue;
                }
                if (!no_ack_) send_raw("+");
                out.clear();
                for (std::size_t i = 0; i < body.size(); ++i) {
                    if (body[i] == '}' && i + 1 < body.size()) out += static_cast<char>(body[++i] ^ 0x20);
                    else out += body[i];
                }
                return true;
            }
            if (pending_input_.size() > kMaxPacket + 4) {  // oversized: refuse and resynchronise
                pending_input_.clear();
                if (!no_ack_) send_raw("-");
                continue;
            }
        }
        pollfd fds[2] = {{client_, POLLIN, 0}, {listener_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (fds[1].revents & POLLIN) refuse_extra_clients();
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = ::recv(client_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            drop_client();
            return false;
        }
        pending_input_.append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

std::string GdbStub::stop_reply() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "T%02xthread:%x;", to_gdb_signal(stop_signal_),
                  static_cast<unsigned>(process_.debugger_thread()));
    return buf + stop_extra_;
}

Resume GdbStub::stopped(int signo, const SigInfo* info, const std::string& extra, bool announce) {
    stop_signal_ = signo;
    stop_extra_ = extra;
    stop_info_ = info ? *info : SigInfo{};
    stop_info_.signo = signo;
    resume_signal_ = 0;
    selected_thread_ = 0;  // a stop selects the thread that stopped
    bool announced = !announce;  // the first stop is not announced: gdb asks with '?'

    while (true) {
        if (client_ < 0) {
            if (!options_.wait_for_reconnect) return Resume::Kill;
            wait_for_client();
            announced = true;  // a new client asks '?' first
        }
        if (!announced) {
            send_packet(stop_reply());
            announced = true;
        }
        std::string packet;
        if (!read_packet(packet)) continue;  // the client left: kill, or wait for another
        if (auto resume = handle(packet)) return *resume;
    }
}

void GdbStub::exited(int status, int signo) {
    if (client_ < 0) return;
    char buf[16];
    if (signo) std::snprintf(buf, sizeof buf, "X%02x", to_gdb_signal(signo));
    else std::snprintf(buf, sizeof buf, "W%02x", status & 0xff);
    send_packet(buf);
}

std::optional<Resume> GdbStub::parse_resume(const std::string& p) {
    // A signal to resume with: a gdb signal number that maps to a Linux one (1-64), else the
    // packet is refused (bad_resume_).
    auto with_signal = [&](const std::string& rest) {
        std::uint64_t sig = 0;
        if (!parse_number(rest.substr(0, rest.find(';')), sig) || sig > 255) return false;
        const int linux_sig = from_gdb_signal(static_cast<int>(sig));
        if (linux_sig < 1 || linux_sig > kNsig) return false;
        resume_signal_ = linux_sig;
        return true;
    };
    auto refuse = [&]() -> std::optional<Resume> {
        bad_resume_ = true;
        return std::nullopt;
    };
    resume_thread_ = continue_thread_;  // Hc, for the legacy packets
    switch (p[0]) {
    case 'c': resume_signal_ = 0; return Resume::Continue;
    case 's': resume_signal_ = 0; return Resume::Step;
    case 'C': return with_signal(p.substr(1)) ? std::optional(Resume::Continue) : refuse();
    case 'S': return with_signal(p.substr(1)) ? std::optional(Resume::Step) : refuse();
    default: break;
    }
    if (p.rfind("vCont;", 0) == 0) {
        // All-stop: the first action is what happens; a thread id on it (s:TID) names the thread
        // that steps (the others run or wait as the scheduler decides).
        const auto actions = split(p.substr(6), ';');
        if (actions.empty() || actions.front().empty()) return refuse();
        const std::string action = actions.front();
        const std::string verb = action.substr(0, action.find(':'));
        std::uint64_t tid = 0;
        const auto colon = action.find(':');
        resume_thread_ = colon != std::string::npos && parse_number(action.substr(colon + 1), tid) &&
                                 process_.debugger_has_thread(static_cast<int>(tid))
                             ? static_cast<int>(tid)
                             : 0;
        if (verb == "c") { resume_signal_ = 0; return Resume::Continue; }
        if (verb == "s") { resume_signal_ = 0; return Resume::Step; }
        if (verb[0] == 'C') return with_signal(verb.substr(1)) ? std::optional(Resume::Continue) : refuse();
        if (verb[0] == 'S') return with_signal(verb.substr(1)) ? std::optional(Resume::Step) : refuse();
        return refuse();
    }
    return std::nullopt;
}

std::optional<Resume> GdbStub::handle(const std::string& p) {
    if (p.empty()) {
        send_packet("");
        return std::nullopt;
    }
    if (auto resume = parse_resume(p)) return resume;
    if (std::exchange(bad_resume_, false)) {
        send_packet("E01");
        return std::nullopt;
    }
    std::vector<std::uint8_t> bytes;
    std::uint64_t a = 0, b = 0;
    switch (p[0]) {
    case '?': send_packet(stop_reply()); return std::nullopt;
    case 'g': send_packet(read_registers()); return std::nullopt;
    case 'G': send_packet(write_registers(p.substr(1)) ? "OK" : "E01"); return std::nullopt;
    case 'p':
        send_packet(parse_number(p.substr(1), a) ? read_register(static_cast<unsigned>(a)) : "E01");
        return std::nullopt;
    case 'P': {
        const auto eq = p.find('=');
        const bool ok = eq != std::string::npos && parse_number(p.substr(1, eq - 1), a) &&
                        write_register(static_cast<unsigned>(a), p.substr(eq + 1));
        send_packet(ok ? "OK" : "E01");
        return std::nullopt;
    }
    case 'm': {
        const auto parts = split(p.substr(1), ',');
        if (parts.size() != 2 || !parse_number(parts[0], a) || !parse_number(parts[1], b) || b > kMaxPacket / 2) {
            send_packet("E01");
            return std::nullopt;
        }
        send_packet(read_memory(a, b));
        return std::nullopt;
    }
    case 'M':
    case 'X': {
        const auto colon = p.find(':');
        const auto parts = split(p.substr(1, colon == std::string::npos ? 0 : colon - 1), ',');
        if (colon == std::string::npos || parts.size() != 2 || !parse_number(parts[0], a) || !parse_number(parts[1], b)) {
            send_packet("E01");
            return std::nullopt;
        }
        const std::string data = p.substr(colon + 1);
        if (p[0] == 'M') {
            if (!parse_hex_bytes(data, bytes) || bytes.size() != b) {
                send_packet("E01");
                return std::nullopt;
            }
        } else {
            bytes.assign(data.begin(), data.end());
            if (bytes.size() != b) {
                send_packet("E01");
                return std::nullopt;
            }
        }
        send_packet(b == 0 || write_memory(a, bytes) ? "OK" : "E14");
        return std::nullopt;
    }
    case 'Z':
    case 'z': {
        const auto parts = split(p.substr(1), ',');
        if (parts.size() < 3 || parts[0].size() != 1 || !parse_number(parts[1], a) || !parse_number(parts[2], b)) {
            send_packet("E01");
            return std::nullopt;
        }
        const char kind = parts[0][0];
        const bool insert = p[0] == 'Z';
        if (kind == '0' || kind == '1') {
            if (insert) breakpoints_.insert(a);
            else breakpoints_.erase(a);
        } else if (kind >= '2' && kind <= '4') {
            // A watched range must be small and mapped (x86 debug registers watch 1-8 bytes; a
            // longer range is split over pages each time the guest resumes).
            if (insert && (b == 0 || b > kMaxWatchBytes || a + b < a || !process_.as().vmas().covered(page_down(a), page_down(a + b - 1) + kPageSize))) {
                send_packet("E01");
                return std::nullopt;
            }
            if (insert && watchpoints_.size() >= kMaxWatchpoints) {
                send_packet("E01");
                return std::nullopt;
            }
            if (insert) {
                watchpoints_.push_back({a, b, kind});
            } else {
                std::erase_if(watchpoints_, [&](const Watch& w) { return w.addr == a && w.len == b && w.kind == kind; });
            }
        } else {
            send_packet("");
            return std::nullopt;
        }
        send_packet("OK");
        return std::nullopt;
    }
    case 'k': return Resume::Kill;
    case 'D':
        send_packet("OK");
        return Resume::Detach;
    case 'H': {
        // Hg selects the thread whose registers g/G/p/P read and write; Hc (the thread to
        // resume) is accepted: every thread runs on continue (all-stop mode).
        std::int64_t tid = 0;
        const std::string id = p.substr(2);
        if (id == "-1" || id == "0" || id.empty()) tid = 0;
        else if (!parse_number(id, a) || !process_.debugger_has_thread(static_cast<int>(a))) {
            send_packet("E01");
            return std::nullopt;
        } else {
            tid = static_cast<std::int64_t>(a);
        }
        if (p[1] == 'g') selected_thread_ = static_cast<int>(tid);
        else continue_thread_ = static_cast<int>(tid);
        send_packet("OK");
        return std::nullopt;
    }
    case 'T':
        send_packet(parse_number(p.substr(1), a) && process_.debugger_has_thread(static_cast<int>(a)) ? "OK" : "E01");
        return std::nullopt;
    default: break;
    }
    if (p == "vCont?") {
        send_packet("vCont;c;C;s;S");
    } else if (p.rfind("vKill", 0) == 0) {
        send_packet("OK");
        return Resume::Kill;
    } else if (p.rfind("qSupported", 0) == 0) {
        send_packet("PacketSize=4000;qXfer:features:read+;qXfer:exec-file:read+;qXfer:auxv:read+;"
                    "qXfer:siginfo:read+;QStartNoAckMode+;vContSupported+");
    } else if (p == "QStartNoAckMode") {
        send_packet("OK");
        no_ack_ = true;
    } else if (p.rfind("qAttached", 0) == 0) {
        send_packet("1");
    } else if (p == "qC") {
        char buf[32];
        std::snprintf(buf, sizeof buf, "QC%x", static_cast<unsigned>(process_.debugger_thread()));
        send_packet(buf);
    } else if (p == "qfThreadInfo") {
        // Every live thread of the debugged process (forked children are not followed).
        std::string list = "m";
        for (const int tid : process_.debugger_threads()) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%s%x", list.size() > 1 ? "," : "", static_cast<unsigned>(tid));
            list += buf;
        }
        send_packet(list.size() > 1 ? list : "l");
    } else if (p.rfind("qThreadExtraInfo,", 0) == 0) {
        std::uint64_t tid = 0;
        if (!parse_number(p.substr(17), tid) || !process_.debugger_has_thread(static_cast<int>(tid))) {
            send_packet("E01");
        } else {
            const std::string name = process_.debugger_thread_name(static_cast<int>(tid));
            send_packet(hex_bytes(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
        }
    } else if (p == "qsThreadInfo") {
        send_packet("l");
    } else if (p == "qOffsets") {
        send_packet("Text=0;Data=0;Bss=0");
    } else if (p.rfind("qSymbol", 0) == 0) {
        send_packet("OK");
    } else if (p.rfind("qXfer:", 0) == 0) {
        // qXfer:OBJECT:read:ANNEX:OFFSET,LENGTH
        const auto parts = split(p, ':');
        std::uint64_t offset = 0, length = 0;
        const auto range = parts.size() >= 5 ? split(parts[4], ',') : std::vector<std::string>{};
        if (parts.size() < 5 || parts[2] != "read" || range.size() != 2 || !parse_number(range[0], offset) ||
            !parse_number(range[1], length)) {
            send_packet("E00");
        } else {
            send_packet(xfer(parts[1], parts[3], offset, length));
        }
    } else if (p.rfind("qRcmd,", 0) == 0) {
        std::vector<std::uint8_t> text;
        if (!parse_hex_bytes(p.substr(6), text)) {
            send_packet("E01");
        } else {
            const std::string reply = monitor(std::string(text.begin(), text.end()));
            if (!reply.empty()) send_console(reply);
            send_packet("OK");
        }
    } else {
        send_packet("");  // unknown packets: the empty reply
    }
    return std::nullopt;
}

std::string GdbStub::xfer(const std::string& object, const std::string& annex, std::uint64_t offset,
                          std::uint64_t length) {
    std::string data;
    if (object == "features" && annex == "target.xml") {
        data = target_xml();
    } else if (object == "exec-file") {
        char real[4096];
        data = ::realpath(process_.program_path().c_str(), real) ? real : process_.program_path();
    } else if (object == "auxv") {
        const auto& words = process_.stack_image().auxv_words;
        data.assign(reinterpret_cast<const char*>(words.data()), words.size() * 8);
    } else if (object == "siginfo") {
        // The kernel's siginfo_t of the last stop (128 bytes): signo, errno, code, then the union.
        char si[128] = {};
        const std::int32_t head[3] = {stop_info_.signo, 0, stop_info_.code};
        std::memcpy(si, head, sizeof head);
        if (stop_info_.from_kill) {
            const std::int32_t who[2] = {stop_info_.pid, stop_info_.uid};
            std::memcpy(si + 16, who, sizeof who);
        } else {
            std::memcpy(si + 16, &stop_info_.addr, 8);
        }
        data.assign(si, sizeof si);
    } else {
        return "";
    }
    if (offset >= data.size()) return "l";
    const std::string chunk = data.substr(offset, length);
    return (offset + chunk.size() < data.size() ? "m" : "l") + escape_binary(chunk);
}

std::string GdbStub::read_register(unsigned regno) {
    const auto& regs = registers();
    if (regno >= regs.size()) return "E01";
    const RegisterInfo& r = regs[regno];
    std::uint8_t value[16] = {};
    if (r.uc_id >= 0) process_.debugger_read_register(selected_thread_, r.uc_id, value);
    if (std::string(r.name) == "orig_rax") std::memset(value, 0xff, 8);
    return hex_bytes(value, static_cast<std::size_t>(r.bits / 8));
}

std::string GdbStub::read_registers() {
    std::string out;
    for (unsigned i = 0; i < registers().size(); ++i) out += read_register(i);
    return out;
}

bool GdbStub::write_register(unsigned regno, const std::string& hex) {
    const auto& regs = registers();
    std::vector<std::uint8_t> bytes;
    if (regno >= regs.size() || !parse_hex_bytes(hex, bytes)) return false;
    const RegisterInfo& r = regs[regno];
    if (bytes.size() != static_cast<std::size_t>(r.bits / 8)) return false;
    if (r.uc_id < 0) return true;
    std::uint8_t value[16] = {};
    std::memcpy(value, bytes.data(), bytes.size());
    process_.debugger_write_register(selected_thread_, r.uc_id, value);
    return true;
}

bool GdbStub::write_registers(const std::string& hex) {
    std::size_t at = 0;
    for (unsigned i = 0; i < registers().size() && at < hex.size(); ++i) {
        const std::size_t n = static_cast<std::size_t>(registers()[i].bits / 4);
        if (!write_register(i, hex.substr(at, n))) return false;
        at += n;
    }
    return true;
}

// Memory as ptrace sees it: through the MMU, faulting pages in; a guard page or an unmapped
// address is an error (gdb prints "Cannot access memory").
std::string GdbStub::read_memory(std::uint64_t addr, std::uint64_t len) {
    std::vector<std::uint8_t> buf(len);
    const std::size_t got = process_.as().copy_from_user_partial(buf.data(), addr, len);
    if (got == 0 && len != 0) return "E14";
    return hex_bytes(buf.data(), got);
}

bool GdbStub::write_memory(std::uint64_t addr, const std::vector<std::uint8_t>& bytes) {
    if (!process_.as().poke(addr, bytes.data(), bytes.size())) return false;
    process_.flush_code_everywhere();  // the bytes may be code, translated by any CPU
    return true;
}

std::string GdbStub::monitor(const std::string& command) {
    std::istringstream in(command);
    std::string verb;
    in >> verb;
    auto& as = process_.as();
    std::ostringstream out;
    auto number = [&](std::uint64_t& v) {
        std::string t;
        if (!(in >> t)) return false;
        try {
            v = std::stoull(t, nullptr, 0);
            return true;
        } catch (...) {
            return false;
        }
    };
    if (verb.empty() || verb == "help") {
        out << "mmuemu monitor commands:\n"
               "  pte ADDR          the four-level page walk of ADDR, each entry decoded\n"
               "  vmas              the VMAs, as /proc/self/maps shows them\n"
               "  tlb               the TLB model: counters and cached entries\n"
               "  stats             page-fault counters, RSS, VMA and page-table counts\n"
               "  guard ADDR LEN    madvise(ADDR, LEN, MADV_GUARD_INSTALL)\n"
               "  unguard ADDR LEN  madvise(ADDR, LEN, MADV_GUARD_REMOVE)\n"
               "  trace on FILE|off record an MMU trace from here (a snapshot first), or stop\n";
    } else if (verb == "pte") {
        std::uint64_t addr;
        if (!number(addr)) return "usage: monitor pte ADDR\n";
        static const char* names[] = {"", "PTE  ", "PDE  ", "PDPTE", "PML4E"};
        const PageWalk w = as.walk(addr);
        char line[160];
        std::snprintf(line, sizeof line, "page walk of 0x%" PRIx64 " (CR3 pfn 0x%" PRIx64 "):\n", addr,
                      as.page_table_root());
        out << line;
        for (int i = 0; i < w.depth; ++i) {
            std::snprintf(line, sizeof line, "  %s[%3u] %016" PRIx64 "  %s\n", names[w.levels[i].level],
                          w.levels[i].index, w.levels[i].entry.raw(),
                          describe(w.levels[i].entry, w.levels[i].level).c_str());
            out << line;
        }
        if (w.depth < kLevels) out << "  (no lower-level table)\n";
        if (const Vma* v = as.vmas().find(addr)) {
            std::snprintf(line, sizeof line, "VMA %08" PRIx64 "-%08" PRIx64 " prot %c%c%c %s\n", v->start, v->end,
                          (v->prot & kProtRead) ? 'r' : '-', (v->prot & kProtWrite) ? 'w' : '-',
                          (v->prot & kProtExec) ? 'x' : '-', v->name.empty() ? "[anon]" : v->name.c_str());
            out << line;
        } else {
            out << "no VMA contains this address\n";
        }
    } else if (verb == "vmas") {
        out << as.maps();
    } else if (verb == "tlb") {
        const TlbCounters& c = as.tlb().counters();
        out << "TLB: hits " << c.hits << ", misses " << c.misses << ", walks " << c.walks << ", page flushes "
            << c.page_flushes << ", full flushes " << c.full_flushes << "\n";
        const RunStats& r = process_.stats();
        out << "CPUs: " << process_.cpu_count() << " (this thread on CPU " << process_.cpu_index()
            << "), context switches " << r.context_switches << ", CR3 loads " << r.cr3_loads
            << ", shootdowns " << r.shootdowns << ", Unicorn TLB flushes " << r.unicorn_flushes << "\n";
        int shown = 0;
        for (const TlbEntry& e : as.tlb().entries()) {
            if (e.asid != as.asid()) continue;
            if (shown++ == 32) {
                out << "  ...\n";
                break;
            }
            char line[96];
            std::snprintf(line, sizeof line, "  %016" PRIx64 " -> pfn 0x%" PRIx64 " %s%s\n", e.vpage, e.pfn,
                          e.writable ? "w" : "-", e.executable ? "x" : "-");
            out << line;
        }
    } else if (verb == "stats") {
        const FaultCounters& f = as.fault_counters();
        out << "page faults " << f.faults << " (demand-zero " << f.demand_zero << ", zero page " << f.zero_page_maps
            << ", COW " << f.cow_copies << ", guard " << f.guard_faults << ", signals " << f.signals << ")\n"
            << "VMAs " << as.vma_count() << ", RSS " << as.rss_pages() * 4 << " KiB, page-table pages "
            << as.page_table_pages() << "\n";
    } else if (verb == "guard" || verb == "unguard") {
        std::uint64_t addr, len;
        if (!number(addr) || !number(len)) return "usage: monitor " + verb + " ADDR LEN\n";
        const Status s = as.madvise(addr, len, verb == "guard" ? madv::kGuardInstall : madv::kGuardRemove);
        out << "madvise(0x" << std::hex << addr << ", 0x" << len << std::dec << ", "
            << (verb == "guard" ? "MADV_GUARD_INSTALL" : "MADV_GUARD_REMOVE") << ") = "
            << (s ? std::string("0") : std::string("-1 ") + std::strerror(s.error())) << "\n";
    } else if (verb == "trace") {
        std::string what, file;
        in >> what >> file;
        if (what == "on" && !file.empty()) out << process_.start_trace(file);
        else if (what == "off") out << process_.stop_trace();
        else out << "usage: monitor trace on FILE | monitor trace off\n";
    } else {
        out << "unknown monitor command '" << verb << "' (try: monitor help)\n";
    }
    return out.str();
}

}  // namespace emu
