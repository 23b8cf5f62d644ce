#include "gdb/rsp_session.hpp"

#include <unicorn/unicorn.h>

#include <cstdio>
#include <cstring>
#include <sstream>

namespace emu {

using namespace mmu;

namespace {

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

void RspSession::send_packet(const std::string& body) {
    unsigned sum = 0;
    for (char c : body) sum += static_cast<unsigned char>(c);
    char tail[4];
    std::snprintf(tail, sizeof tail, "#%02x", sum & 0xff);
    sink_("$" + body + tail);
}

void RspSession::send_console(const std::string& text) {
    std::string packet = "O";
    packet += hex_bytes(text.data(), text.size());
    send_packet(packet);
}

std::optional<std::string> RspSession::take_packet(std::string& input) {
    while (true) {
        // Drop acknowledgements and anything before '$'; a lone ^C while stopped means nothing.
        const std::size_t start = input.find('$');
        if (start == std::string::npos) {
            input.clear();
            return std::nullopt;
        }
        input.erase(0, start);
        const std::size_t hash = input.find('#');
        if (hash == std::string::npos || input.size() < hash + 3) {
            if (input.size() > kMaxPacket + 4) {  // oversized: refuse and resynchronise
                input.clear();
                if (!no_ack_) sink_("-");
            }
            return std::nullopt;
        }
        const std::string body = input.substr(1, hash - 1);
        const int hi = hex_value(input[hash + 1]), lo = hex_value(input[hash + 2]);
        input.erase(0, hash + 3);
        unsigned sum = 0;
        for (char c : body) sum += static_cast<unsigned char>(c);
        if (hi < 0 || lo < 0 || static_cast<unsigned>(hi * 16 + lo) != (sum & 0xff)) {
            if (!no_ack_) sink_("-");
            continue;
        }
        if (!no_ack_) sink_("+");
        std::string packet;
        for (std::size_t i = 0; i < body.size(); ++i) {
            if (body[i] == '}' && i + 1 < body.size()) packet += static_cast<char>(body[++i] ^ 0x20);
            else packet += body[i];
        }
        return packet;
    }
}

std::string RspSession::stop_reply() const {
    char buf[64];
    std::snprintf(buf, sizeof buf, "T%02xthread:%x;", to_gdb_signal(stop_signal_),
                  static_cast<unsigned>(target_.debugger_thread()));
    return buf + stop_extra_;
}

void RspSession::stop(int signo, const SigInfo* info, const std::string& extra) {
    stop_signal_ = signo;
    stop_extra_ = extra;
    stop_info_ = info ? *info : SigInfo{};
    stop_info_.signo = signo;
    resume_signal_ = 0;
    selected_thread_ = 0;  // a stop selects the thread that stopped
}

void RspSession::exited(int status, int signo) {
    char buf[16];
    if (signo) std::snprintf(buf, sizeof buf, "X%02x", to_gdb_signal(signo));
    else std::snprintf(buf, sizeof buf, "W%02x", status & 0xff);
    send_packet(buf);
}

std::optional<Resume> RspSession::parse_resume(const std::string& p) {
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
                                 target_.debugger_has_thread(static_cast<int>(tid))
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

std::optional<Resume> RspSession::handle(const std::string& p) {
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
    case 'z': return handle_breakpoint(p);
    case 'k': return Resume::Kill;
    case 'D':
        send_packet("OK");
        return Resume::Detach;
    case 'H': {
        // Hg selects the thread whose registers g/G/p/P read and write; Hc (the thread to
        // resume) is accepted: every thread runs on continue (all-stop mode). Nothing else is.
        if (p.size() < 2 || (p[1] != 'g' && p[1] != 'c')) {
            send_packet("E01");
            return std::nullopt;
        }
        std::int64_t tid = 0;
        const std::string id = p.substr(2);
        if (id == "-1" || id == "0" || id.empty()) tid = 0;
        else if (!parse_number(id, a) || !target_.debugger_has_thread(static_cast<int>(a))) {
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
        send_packet(parse_number(p.substr(1), a) && target_.debugger_has_thread(static_cast<int>(a)) ? "OK" : "E01");
        return std::nullopt;
    default: break;
    }
    return handle_query(p);
}

// Z/z TYPE,ADDR,KIND: software and hardware breakpoints (0, 1) and watchpoints (2 write,
// 3 read, 4 access).
std::optional<Resume> RspSession::handle_breakpoint(const std::string& p) {
    std::uint64_t a = 0, b = 0;
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
        if (insert && (b == 0 || b > kMaxWatchBytes || a + b < a || !target_.debugger_memory().vmas().covered(page_down(a), page_down(a + b - 1) + kPageSize))) {
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

// The packets named by a word: v..., q..., Q...; anything unknown gets the empty reply.
std::optional<Resume> RspSession::handle_query(const std::string& p) {
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
        std::snprintf(buf, sizeof buf, "QC%x", static_cast<unsigned>(target_.debugger_thread()));
        send_packet(buf);
    } else if (p == "qfThreadInfo") {
        // Every live thread of the debugged process (forked children are not followed).
        std::string list = "m";
        for (const int tid : target_.debugger_threads()) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%s%x", list.size() > 1 ? "," : "", static_cast<unsigned>(tid));
            list += buf;
        }
        send_packet(list.size() > 1 ? list : "l");
    } else if (p.rfind("qThreadExtraInfo,", 0) == 0) {
        std::uint64_t tid = 0;
        if (!parse_number(p.substr(17), tid) || !target_.debugger_has_thread(static_cast<int>(tid))) {
            send_packet("E01");
        } else {
            const std::string name = target_.debugger_thread_name(static_cast<int>(tid));
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

std::string RspSession::xfer(const std::string& object, const std::string& annex, std::uint64_t offset,
                             std::uint64_t length) {
    std::string data;
    if (object == "features" && annex == "target.xml") {
        data = target_xml();
    } else if (object == "exec-file") {
        data = target_.debugger_exec_file();
    } else if (object == "auxv") {
        const auto words = target_.debugger_auxv();
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

std::string RspSession::read_register(unsigned regno) {
    const auto& regs = registers();
    if (regno >= regs.size()) return "E01";
    const RegisterInfo& r = regs[regno];
    std::uint8_t value[16] = {};
    if (r.uc_id >= 0) target_.debugger_read_register(selected_thread_, r.uc_id, value);
    if (std::string(r.name) == "orig_rax") std::memset(value, 0xff, 8);
    return hex_bytes(value, static_cast<std::size_t>(r.bits / 8));
}

std::string RspSession::read_registers() {
    std::string out;
    for (unsigned i = 0; i < registers().size(); ++i) out += read_register(i);
    return out;
}

bool RspSession::write_register(unsigned regno, const std::string& hex) {
    const auto& regs = registers();
    std::vector<std::uint8_t> bytes;
    if (regno >= regs.size() || !parse_hex_bytes(hex, bytes)) return false;
    const RegisterInfo& r = regs[regno];
    if (bytes.size() != static_cast<std::size_t>(r.bits / 8)) return false;
    if (r.uc_id < 0) return true;
    std::uint8_t value[16] = {};
    std::memcpy(value, bytes.data(), bytes.size());
    target_.debugger_write_register(selected_thread_, r.uc_id, value);
    return true;
}

bool RspSession::write_registers(const std::string& hex) {
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
std::string RspSession::read_memory(std::uint64_t addr, std::uint64_t len) {
    std::vector<std::uint8_t> buf(len);
    const std::size_t got = target_.debugger_memory().copy_from_user_partial(buf.data(), addr, len);
    if (got == 0 && len != 0) return "E14";
    return hex_bytes(buf.data(), got);
}

bool RspSession::write_memory(std::uint64_t addr, const std::vector<std::uint8_t>& bytes) {
    if (!target_.debugger_memory().poke(addr, bytes.data(), bytes.size())) return false;
    target_.debugger_code_changed();
    return true;
}


std::string RspSession::monitor(const std::string& command) {
    std::istringstream in(command);
    std::string verb;
    in >> verb;
    auto& as = target_.debugger_memory();
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
        out << target_.debugger_cpu_summary();
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
        if (what == "on" && !file.empty()) out << target_.start_trace(file);
        else if (what == "off") out << target_.stop_trace();
        else out << "usage: monitor trace on FILE | monitor trace off\n";
    } else {
        out << "unknown monitor command '" << verb << "' (try: monitor help)\n";
    }
    return out.str();
}

}  // namespace emu
