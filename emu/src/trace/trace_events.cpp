#include "trace/trace_events.hpp"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace emu {

using namespace mmu;

namespace {

struct FlagName {
    std::uint32_t bit;
    const char* name;
};

constexpr FlagName kMapFlags[] = {
    {map::kFixed, "FIXED"},         {map::kAnonymous, "ANONYMOUS"}, {map::k32Bit, "32BIT"},
    {map::kGrowsDown, "GROWSDOWN"}, {map::kDenyWrite, "DENYWRITE"}, {map::kExecutable, "EXECUTABLE"},
    {map::kLocked, "LOCKED"},       {map::kNoReserve, "NORESERVE"}, {map::kPopulate, "POPULATE"},
    {map::kNonBlock, "NONBLOCK"},   {map::kStack, "STACK"},         {map::kHugeTlb, "HUGETLB"},
    {map::kSync, "SYNC"},           {map::kFixedNoReplace, "FIXED_NOREPLACE"},
    {map::kUninitialized, "UNINITIALIZED"},
};

constexpr FlagName kMremapFlags[] = {
    {mremap_flags::kMayMove, "MAYMOVE"}, {mremap_flags::kFixed, "FIXED"}, {mremap_flags::kDontUnmap, "DONTUNMAP"}};

constexpr std::pair<int, const char*> kErrnos[] = {
    {EPERM, "EPERM"},   {ENOENT, "ENOENT"}, {ESRCH, "ESRCH"},   {EINTR, "EINTR"},   {EIO, "EIO"},
    {EBADF, "EBADF"},   {EAGAIN, "EAGAIN"}, {ENOMEM, "ENOMEM"}, {EACCES, "EACCES"}, {EFAULT, "EFAULT"},
    {EBUSY, "EBUSY"},   {EEXIST, "EEXIST"}, {ENODEV, "ENODEV"}, {EINVAL, "EINVAL"}, {ENOSYS, "ENOSYS"},
    {ENOTTY, "ENOTTY"}, {ERANGE, "ERANGE"}, {EOVERFLOW, "EOVERFLOW"}, {EOPNOTSUPP, "EOPNOTSUPP"},
};

template <std::size_t N>
std::string flags_text(std::uint32_t flags, const FlagName (&names)[N], std::string prefix) {
    std::string out = std::move(prefix);
    for (const auto& f : names)
        if (flags & f.bit) {
            if (!out.empty()) out += '|';
            out += f.name;
            flags &= ~f.bit;
        }
    if (flags) {
        if (!out.empty()) out += '|';
        out += hex(flags);
    }
    return out.empty() ? "0" : out;
}

template <std::size_t N>
std::uint32_t parse_flags(std::string_view token, const FlagName (&names)[N],
                          std::uint32_t (*type)(std::string_view)) {
    std::uint32_t flags = 0;
    while (!token.empty()) {
        const auto bar = token.find('|');
        const std::string_view part = token.substr(0, bar);
        std::uint32_t bit = type ? type(part) : 0;
        if (!bit) {
            for (const auto& f : names)
                if (part == f.name) bit = f.bit;
        }
        if (!bit && part != "0") bit = static_cast<std::uint32_t>(parse_u64(part));
        flags |= bit;
        token = bar == std::string_view::npos ? std::string_view{} : token.substr(bar + 1);
    }
    return flags;
}

std::uint32_t map_type(std::string_view part) {
    if (part == "PRIVATE") return map::kPrivate;
    if (part == "SHARED") return map::kShared;
    if (part == "SHARED_VALIDATE") return map::kSharedValidate;
    return 0;
}

}  // namespace

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

std::string prot_text(std::uint32_t prot) {
    std::string s = "---";
    if (prot & kProtRead) s[0] = 'r';
    if (prot & kProtWrite) s[1] = 'w';
    if (prot & kProtExec) s[2] = 'x';
    if (prot & ~kProtRwx) s += "|" + hex(prot & ~std::uint32_t{kProtRwx});
    return s;
}

std::string mmap_flags_text(std::uint32_t flags) {
    const std::uint32_t type = flags & map::kType;
    std::string t = type == map::kPrivate ? "PRIVATE" : type == map::kShared ? "SHARED"
                    : type == map::kSharedValidate ? "SHARED_VALIDATE" : type ? hex(type) : "";
    return flags_text(flags & ~map::kType, kMapFlags, t);
}

std::string mremap_flags_text(std::uint32_t flags) { return flags_text(flags, kMremapFlags, ""); }

std::string advice_text(int advice) {
    const char* name = advice_name(advice);
    if (std::strcmp(name, "MADV_UNKNOWN") == 0) return std::to_string(advice);
    return name + 5;  // without "MADV_"
}

std::string errno_text(int e) {
    for (const auto& [value, name] : kErrnos)
        if (value == e) return name;
    return std::to_string(e);
}

std::string result_text(std::int64_t r, bool address) {
    if (r < 0 && r > -4096) return "-" + errno_text(static_cast<int>(-r));
    return address ? hex(static_cast<std::uint64_t>(r)) : std::to_string(r);
}

std::string access_text(Access a) { return a == Access::Read ? "read" : a == Access::Write ? "write" : "exec"; }

std::int64_t fault_outcome(const Fault& f) {
    if (f.signo) return (static_cast<std::int64_t>(f.signo) << 8) | f.si_code;
    return f.reason == FaultReason::UserFault ? -1 : 0;
}

std::string fault_outcome_text(std::int64_t encoded) {
    if (encoded == 0) return "resolved";
    if (encoded == -1) return "userfault";
    const int signo = static_cast<int>(encoded >> 8), code = static_cast<int>(encoded & 0xff);
    std::string s = signo == kSigSegv ? "SIGSEGV" : signo == kSigBus ? "SIGBUS" : std::to_string(signo);
    s += ':';
    if (signo == kSigSegv && code == kSegvMapErr) return s + "SEGV_MAPERR";
    if (signo == kSigSegv && code == kSegvAccErr) return s + "SEGV_ACCERR";
    if (signo == kSigSegv && code == kSegvPkuErr) return s + "SEGV_PKUERR";
    if (signo == kSigBus && code == 2) return s + "BUS_ADRERR";
    return s + std::to_string(code);
}

std::string operation_line(int id, const OperationRecord& r, int child_id) {
    const std::string as = " " + std::to_string(id) + " ";
    const auto& a = r.args;
    switch (r.op) {
    case Operation::Mmap:
        return "mmap" + as + hex(a[0]) + " " + hex(a[1]) + " " + prot_text(static_cast<std::uint32_t>(a[2])) + " " +
               mmap_flags_text(static_cast<std::uint32_t>(a[3])) + " -> " + result_text(r.result, true);
    case Operation::MmapFile: {
        // The file's base name only: a trace does not depend on where the program was built.
        std::string name = r.name.substr(r.name.rfind('/') == std::string::npos ? 0 : r.name.rfind('/') + 1);
        for (char& c : name)
            if (c == ' ' || c == '\t') c = '_';
        return "mmap-file" + as + hex(a[0]) + " " + hex(a[1]) + " " + prot_text(static_cast<std::uint32_t>(a[2])) +
               " " + mmap_flags_text(static_cast<std::uint32_t>(a[3])) + " " + hex(a[4]) + " " +
               std::to_string(a[5]) + " " + (name.empty() ? "-" : name) + " -> " + result_text(r.result, true);
    }
    case Operation::MapSpecial:
        return "special" + as + hex(a[0]) + " " + prot_text(static_cast<std::uint32_t>(a[1])) + " " + hex(a[2]) +
               " " + r.name + " -> " + result_text(r.result, false);
    case Operation::Munmap:
        return "munmap" + as + hex(a[0]) + " " + hex(a[1]) + " -> " + result_text(r.result, false);
    case Operation::Mprotect:
        return "mprotect" + as + hex(a[0]) + " " + hex(a[1]) + " " + prot_text(static_cast<std::uint32_t>(a[2])) +
               " -> " + result_text(r.result, false);
    case Operation::Mremap:
        return "mremap" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " " +
               mremap_flags_text(static_cast<std::uint32_t>(a[3])) + " " + hex(a[4]) + " -> " +
               result_text(r.result, true);
    case Operation::Madvise:
        return "madvise" + as + hex(a[0]) + " " + hex(a[1]) + " " + advice_text(static_cast<int>(a[2])) + " -> " +
               result_text(r.result, false);
    case Operation::Mlock:
        return "mlock" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " -> " + result_text(r.result, false);
    case Operation::Munlock:
        return "munlock" + as + hex(a[0]) + " " + hex(a[1]) + " -> " + result_text(r.result, false);
    case Operation::Mlockall: return "mlockall" + as + hex(a[0]) + " -> " + result_text(r.result, false);
    case Operation::Munlockall: return "munlockall" + as + "-> " + result_text(r.result, false);
    case Operation::Mseal:
        return "mseal" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " -> " + result_text(r.result, false);
    case Operation::Brk: return "brk" + as + hex(a[0]) + " -> " + result_text(r.result, true);
    case Operation::BrkBase: return "brk-base" + as + hex(a[0]);
    case Operation::Poke: return "poke" + as + hex(a[0]) + " " + hex(a[1]) + " -> " + result_text(r.result, false);
    case Operation::Fork: return "fork" + as + "-> " + (r.result < 0 ? result_text(r.result, false) : std::to_string(child_id));
    case Operation::Fault: {  // the most frequent event: formatted without temporaries
        char buf[96];
        const int n = std::snprintf(buf, sizeof buf, "fault %d 0x%llx %s -> ", id,
                                    static_cast<unsigned long long>(a[0]),
                                    a[1] == 0 ? "read" : a[1] == 1 ? "write" : "exec");
        std::string line(buf, static_cast<std::size_t>(n));
        if (r.result == 0) line += "resolved";
        else line += fault_outcome_text(r.result);
        return line;
    }
    case Operation::UffdRegister:
        return "uffd-register" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " " + std::to_string(a[3]) +
               " -> " + result_text(r.result, false);
    case Operation::UffdUnregister:
        return "uffd-unregister" + as + hex(a[0]) + " " + hex(a[1]) + " -> " + result_text(r.result, false);
    case Operation::UffdCopy:
        return "uffd-copy" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " " + std::to_string(a[3]) + " " +
               std::to_string(a[4]) + " -> " + hex(a[5]) + " " + result_text(r.result, false);
    case Operation::UffdZeropage:
    case Operation::UffdPoison:
        return std::string(r.op == Operation::UffdZeropage ? "uffd-zeropage" : "uffd-poison") + as + hex(a[0]) +
               " " + hex(a[1]) + " " + std::to_string(a[2]) + " -> " + hex(a[5]) + " " + result_text(r.result, false);
    case Operation::UffdContinue:
        return "uffd-continue" + as + hex(a[0]) + " " + hex(a[1]) + " " + std::to_string(a[2]) + " " +
               std::to_string(a[3]) + " -> " + hex(a[5]) + " " + result_text(r.result, false);
    case Operation::UffdWriteprotect:
        return "uffd-writeprotect" + as + hex(a[0]) + " " + hex(a[1]) + " " + std::to_string(a[2]) + " -> " +
               result_text(r.result, false);
    case Operation::UffdRelease: return "uffd-release" + as + std::to_string(a[0]);
    case Operation::UffdWpRange:
        return "uffd-wp-range" + as + hex(a[0]) + " " + hex(a[1]) + " -> " + result_text(r.result, false);
    case Operation::SetPolicy:
        return "mbind" + as + hex(a[0]) + " " + hex(a[1]) + " " + hex(a[2]) + " " + hex(a[3]) + " " +
               std::to_string(static_cast<std::int32_t>(a[4])) + " -> " + result_text(r.result, false);
    case Operation::SetHomeNode:
        return "home-node" + as + hex(a[0]) + " " + hex(a[1]) + " " + std::to_string(a[2]) + " -> " +
               result_text(r.result, false);
    }
    return "# unknown operation";
}

std::uint64_t parse_u64(std::string_view t) {
    std::uint64_t v = 0;
    const bool is_hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
    const char* begin = t.data() + (is_hex ? 2 : 0);
    const char* end = t.data() + t.size();
    auto [ptr, ec] = std::from_chars(begin, end, v, is_hex ? 16 : 10);
    if (ec != std::errc() || ptr != end || begin == end)
        throw std::invalid_argument("a number (decimal or 0x-hex), got '" + std::string(t) + "'");
    return v;
}

std::uint32_t parse_prot(std::string_view t) {
    const std::string_view rwx = t.substr(0, t.find('|'));
    if (rwx.size() != 3 || (rwx[0] != 'r' && rwx[0] != '-') || (rwx[1] != 'w' && rwx[1] != '-') ||
        (rwx[2] != 'x' && rwx[2] != '-'))
        throw std::invalid_argument("a protection like rw- or r-x, got '" + std::string(t) + "'");
    std::uint32_t prot = 0;
    if (rwx[0] == 'r') prot |= kProtRead;
    if (rwx[1] == 'w') prot |= kProtWrite;
    if (rwx[2] == 'x') prot |= kProtExec;
    if (t.size() > 3) prot |= static_cast<std::uint32_t>(parse_u64(t.substr(4)));
    return prot;
}

std::uint32_t parse_mmap_flags(std::string_view t) { return parse_flags(t, kMapFlags, &map_type); }
std::uint32_t parse_mremap_flags(std::string_view t) { return parse_flags(t, kMremapFlags, nullptr); }

int parse_advice(std::string_view t) {
    if (!t.empty() && t[0] >= '0' && t[0] <= '9') return static_cast<int>(parse_u64(t));
    const int a = advice_from_name(std::string(t).c_str());
    if (a < 0) throw std::invalid_argument("a madvise advice name (e.g. GUARD_INSTALL, DONTNEED), got '" + std::string(t) + "'");
    return a;
}

std::int64_t parse_result(std::string_view t) {
    if (t.size() > 1 && t[0] == '-' && t[1] >= 'A' && t[1] <= 'Z') {
        for (const auto& [value, name] : kErrnos)
            if (t.substr(1) == name) return -value;
        throw std::invalid_argument("an errno name, got '" + std::string(t) + "'");
    }
    if (t.size() > 1 && t[0] == '-') return -static_cast<std::int64_t>(parse_u64(t.substr(1)));
    return static_cast<std::int64_t>(parse_u64(t));
}

Access parse_access(std::string_view t) {
    if (t == "read" || t == "R") return Access::Read;
    if (t == "write" || t == "W") return Access::Write;
    if (t == "exec" || t == "X") return Access::Execute;
    throw std::invalid_argument("an access kind (read, write, exec), got '" + std::string(t) + "'");
}

std::int64_t parse_fault_outcome(std::string_view t) {
    if (t == "resolved") return 0;
    if (t == "userfault") return -1;
    static const std::pair<const char*, std::int64_t> outcomes[] = {
        {"SIGSEGV:SEGV_MAPERR", (11 << 8) | 1}, {"SIGSEGV:SEGV_ACCERR", (11 << 8) | 2},
        {"SIGSEGV:SEGV_PKUERR", (11 << 8) | 4}, {"SIGBUS:BUS_ADRERR", (7 << 8) | 2}};
    for (const auto& [name, value] : outcomes)
        if (t == name) return value;
    throw std::invalid_argument("a fault outcome (resolved, SIGSEGV:SEGV_MAPERR, ...), got '" + std::string(t) + "'");
}

void tokenize(std::string_view line, TraceLine& out) {
    out.tokens.clear();
    out.result.clear();
    bool after_arrow = false;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        if (i >= line.size() || line[i] == '#') break;
        std::size_t j = i;
        while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
        const std::string_view token = line.substr(i, j - i);
        if (token == "->") after_arrow = true;
        else (after_arrow ? out.result : out.tokens).push_back(token);
        i = j;
    }
}

}  // namespace emu
