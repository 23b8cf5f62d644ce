#include "syscalls/strace.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

// How each argument is shown. d: signed, u: unsigned, x: hex, f: descriptor (AT_FDCWD), s: path,
// b: a buffer the call reads (its length is the next argument), r: a buffer the call fills (shown
// after it), o: open flags, m: mode (octal), P: protection, M: mmap flags, A: madvise advice,
// S: signal number, p: pointer.
const std::map<std::uint64_t, const char*>& signatures() {
    static const std::map<std::uint64_t, const char*> table = {
        {SYS_read, "fru"}, {SYS_write, "fbu"}, {SYS_open, "som"}, {SYS_openat, "fsom"}, {SYS_close, "f"},
        {SYS_stat, "sp"}, {SYS_fstat, "fp"}, {SYS_lstat, "sp"}, {SYS_newfstatat, "fspx"}, {SYS_lseek, "fdd"},
        {SYS_mmap, "puPMfu"}, {SYS_mprotect, "puP"}, {SYS_munmap, "pu"}, {SYS_brk, "p"},
        {SYS_rt_sigaction, "Sppu"}, {SYS_rt_sigprocmask, "dppu"}, {SYS_ioctl, "fxx"}, {SYS_pread64, "frud"},
        {SYS_pwrite64, "fbud"}, {SYS_access, "sd"}, {SYS_pipe, "p"}, {SYS_pipe2, "px"}, {SYS_dup, "f"},
        {SYS_dup2, "ff"}, {SYS_dup3, "ffx"}, {SYS_getpid, ""}, {SYS_gettid, ""}, {SYS_getppid, ""},
        {SYS_clone, "xpppx"}, {SYS_fork, ""}, {SYS_vfork, ""}, {SYS_execve, "spp"}, {SYS_exit, "d"},
        {SYS_exit_group, "d"}, {SYS_wait4, "dpxp"}, {SYS_kill, "dS"}, {SYS_tgkill, "ddS"}, {SYS_uname, "p"},
        {SYS_fcntl, "fdx"}, {SYS_getcwd, "ru"}, {SYS_chdir, "s"}, {SYS_fchdir, "f"}, {SYS_mkdir, "sm"},
        {SYS_mkdirat, "fsm"}, {SYS_rmdir, "s"}, {SYS_unlink, "s"}, {SYS_unlinkat, "fsx"}, {SYS_rename, "ss"},
        {SYS_readlink, "sru"}, {SYS_readlinkat, "fsru"}, {SYS_arch_prctl, "xx"}, {SYS_futex, "pddppd"},
        {SYS_set_tid_address, "p"}, {SYS_getdents64, "fpu"}, {SYS_statx, "fsxxp"}, {SYS_prlimit64, "ddpp"},
        {SYS_getrandom, "pux"}, {SYS_mincore, "pup"}, {SYS_mlock, "pu"}, {SYS_munlock, "pu"},
        {SYS_madvise, "puA"}, {SYS_mremap, "puuxp"}, {SYS_nanosleep, "pp"}, {SYS_clock_nanosleep, "dxpp"},
        {SYS_getuid, ""}, {SYS_geteuid, ""}, {SYS_getgid, ""}, {SYS_getegid, ""}, {SYS_sched_yield, ""},
        {SYS_set_robust_list, "pu"}, {SYS_rseq, "puxx"}, {SYS_faccessat, "fsd"}, {SYS_faccessat2, "fsdx"},
        {SYS_writev, "fpd"}, {SYS_readv, "fpd"}, {SYS_chmod, "sm"}, {SYS_fchmod, "fm"}, {SYS_chown, "sdd"}, {SYS_lchown, "sdd"},
        {SYS_fchown, "fdd"}, {SYS_fchownat, "fsddx"}, {SYS_ftruncate, "fd"},
        {SYS_truncate, "sd"}, {SYS_symlink, "ss"}, {SYS_link, "ss"}, {SYS_mlock2, "pux"}, {462 /* mseal */, "pux"},
        {SYS_process_madvise, "fpdAx"}, {SYS_clock_gettime, "dp"}, {SYS_rt_sigreturn, ""},
        {SYS_userfaultfd, "x"}, {SYS_splice, "fpfpux"}, {SYS_tee, "ffux"}, {SYS_vmsplice, "fpux"},
        {SYS_sync_file_range, "fddx"}, {SYS_readahead, "fdu"}, {SYS_syncfs, "f"}, {SYS_setxattr, "sspux"},
        {SYS_lsetxattr, "sspux"}, {SYS_fsetxattr, "fspux"}, {SYS_removexattr, "ss"}, {SYS_lremovexattr, "ss"},
        {SYS_fremovexattr, "fs"}, {SYS_inotify_init1, "x"}, {SYS_inotify_add_watch, "fsx"},
        {SYS_inotify_rm_watch, "fd"}, {SYS_mbind, "pudpux"}, {SYS_set_mempolicy, "dpu"},
        {SYS_get_mempolicy, "ppupx"}, {SYS_move_pages, "dupppx"},
    };
    return table;
}

std::string hex(std::uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
    return buf;
}

// Joins the names of the bits of `value` that `names` knows; leftover bits in hex.
std::string flag_names(std::uint64_t value, std::initializer_list<std::pair<std::uint64_t, const char*>> names,
                       const char* zero) {
    std::string out;
    for (auto [bit, name] : names)
        if (bit && (value & bit) == bit) {
            out += (out.empty() ? "" : "|") + std::string(name);
            value &= ~bit;
        }
    if (value) out += (out.empty() ? "" : "|") + hex(value);
    return out.empty() ? zero : out;
}

std::string open_flags(std::uint64_t v) {
    const std::uint64_t access = v & O_ACCMODE;
    std::string out = access == O_WRONLY ? "O_WRONLY" : access == O_RDWR ? "O_RDWR" : "O_RDONLY";
    const std::string rest = flag_names(
        v & ~static_cast<std::uint64_t>(O_ACCMODE),
        {{O_TMPFILE, "O_TMPFILE"}, {O_CREAT, "O_CREAT"}, {O_EXCL, "O_EXCL"}, {O_NOCTTY, "O_NOCTTY"},
         {O_TRUNC, "O_TRUNC"}, {O_APPEND, "O_APPEND"}, {O_NONBLOCK, "O_NONBLOCK"}, {O_DSYNC, "O_DSYNC"},
         {O_DIRECT, "O_DIRECT"}, {O_DIRECTORY, "O_DIRECTORY"}, {O_NOFOLLOW, "O_NOFOLLOW"},
         {O_NOATIME, "O_NOATIME"}, {O_CLOEXEC, "O_CLOEXEC"}, {O_PATH, "O_PATH"}, {O_SYNC, "O_SYNC"}},
        "");
    return rest.empty() ? out : out + "|" + rest;
}

std::string prot_names(std::uint64_t v) {
    return flag_names(v, {{PROT_READ, "PROT_READ"}, {PROT_WRITE, "PROT_WRITE"}, {PROT_EXEC, "PROT_EXEC"}}, "PROT_NONE");
}

std::string mmap_flags(std::uint64_t v) {
    const std::uint64_t type = v & 0x3;
    std::string out = type == MAP_SHARED ? "MAP_SHARED" : type == MAP_PRIVATE ? "MAP_PRIVATE" : "MAP_SHARED_VALIDATE";
    const std::string rest =
        flag_names(v & ~0x3ull,
                   {{MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"}, {MAP_FIXED, "MAP_FIXED"},
                    {MAP_ANONYMOUS, "MAP_ANONYMOUS"}, {MAP_GROWSDOWN, "MAP_GROWSDOWN"},
                    {MAP_DENYWRITE, "MAP_DENYWRITE"}, {MAP_EXECUTABLE, "MAP_EXECUTABLE"}, {MAP_LOCKED, "MAP_LOCKED"},
                    {MAP_NORESERVE, "MAP_NORESERVE"}, {MAP_POPULATE, "MAP_POPULATE"}, {MAP_NONBLOCK, "MAP_NONBLOCK"},
                    {MAP_STACK, "MAP_STACK"}, {MAP_HUGETLB, "MAP_HUGETLB"}},
                   "");
    return rest.empty() ? out : out + "|" + rest;
}

std::string advice_name(std::uint64_t v) {
    static const std::map<std::uint64_t, const char*> names = {
        {0, "MADV_NORMAL"},      {1, "MADV_RANDOM"},         {2, "MADV_SEQUENTIAL"},     {3, "MADV_WILLNEED"},
        {4, "MADV_DONTNEED"},    {8, "MADV_FREE"},           {9, "MADV_REMOVE"},         {10, "MADV_DONTFORK"},
        {11, "MADV_DOFORK"},     {12, "MADV_MERGEABLE"},     {13, "MADV_UNMERGEABLE"},   {14, "MADV_HUGEPAGE"},
        {15, "MADV_NOHUGEPAGE"}, {16, "MADV_DONTDUMP"},      {17, "MADV_DODUMP"},        {18, "MADV_WIPEONFORK"},
        {19, "MADV_KEEPONFORK"}, {20, "MADV_COLD"},          {21, "MADV_PAGEOUT"},       {22, "MADV_POPULATE_READ"},
        {23, "MADV_POPULATE_WRITE"}, {24, "MADV_DONTNEED_LOCKED"}, {25, "MADV_COLLAPSE"}, {100, "MADV_HWPOISON"},
        {101, "MADV_SOFT_OFFLINE"}, {102, "MADV_GUARD_INSTALL"}, {103, "MADV_GUARD_REMOVE"},
    };
    const auto it = names.find(v);
    return it == names.end() ? std::to_string(v) : it->second;
}

std::string signal_name(std::uint64_t v) {
    const char* abbrev = v > 0 && v < 32 ? sigabbrev_np(static_cast<int>(v)) : nullptr;
    if (abbrev) return std::string("SIG") + abbrev;
    return v >= 32 && v <= 64 ? "SIGRT_" + std::to_string(v - 32) : std::to_string(v);
}

// A pointer the call could not read: a guard region or nothing mapped, as the MMU sees it.
std::string unreadable(Process& p, std::uint64_t addr) {
    if (addr == 0) return "NULL";
    if (addr < mmu::kTaskSize && p.as().pagemap(addr).guard) return hex(addr) + " (guard page)";
    if (addr >= mmu::kTaskSize || !p.as().vmas().find(addr)) return hex(addr) + " (unmapped)";
    return hex(addr);
}

// `bytes` as strace quotes them: escapes, at most 32 shown, then "...".
std::string quoted(const std::vector<char>& bytes, bool truncated) {
    std::string out = "\"";
    for (char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') out += std::string("\\") + c;
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (u >= 0x20 && u < 0x7f) out += c;
        else {
            char esc[8];
            std::snprintf(esc, sizeof esc, "\\%o", u);
            out += esc;
        }
    }
    return out + "\"" + (truncated ? "..." : "");
}

std::string buffer(Process& p, std::uint64_t addr, std::uint64_t len) {
    const std::size_t shown = static_cast<std::size_t>(std::min<std::uint64_t>(len, 32));
    std::vector<char> bytes(shown);
    if (shown && p.as().copy_from_user_partial(bytes.data(), addr, shown) != shown) return unreadable(p, addr);
    return quoted(bytes, len > shown);
}

std::string path(Process& p, std::uint64_t addr) {
    std::string s;
    if (!read_string(p, addr, s)) return unreadable(p, addr);
    std::vector<char> bytes(s.begin(), s.end());
    return quoted(bytes, false);
}

std::string argument(Process& p, char kind, std::uint64_t v, std::uint64_t next) {
    switch (kind) {
    case 'd': return std::to_string(static_cast<std::int64_t>(v));
    case 'u': return std::to_string(v);
    case 'f': return static_cast<int>(v) == AT_FDCWD ? "AT_FDCWD" : std::to_string(static_cast<int>(v));
    case 's': return path(p, v);
    case 'b': return buffer(p, v, next);
    case 'o': return open_flags(v);
    case 'm': {
        char buf[16];
        std::snprintf(buf, sizeof buf, "0%" PRIo64, v);
        return buf;
    }
    case 'P': return prot_names(v);
    case 'M': return mmap_flags(v);
    case 'A': return advice_name(v);
    case 'S': return signal_name(v);
    case 'p': return v ? hex(v) : "NULL";
    default: return hex(v);  // 'x', and 'r' until the call has filled it
    }
}

std::string result_text(std::uint64_t nr, std::int64_t result) {
    if (result == kNoReturn) return "?";
    if (result == kRestart) return "? ERESTARTSYS (To be restarted if SA_RESTART is set)";
    if (result < 0 && result >= -4095) {
        const int e = static_cast<int>(-result);
        const char* name = strerrorname_np(e);
        return std::string("-1 ") + (name ? name : std::to_string(e).c_str()) + " (" + std::strerror(e) + ")";
    }
    const bool address = nr == SYS_mmap || nr == SYS_brk || nr == SYS_mremap;
    return address ? hex(static_cast<std::uint64_t>(result)) : std::to_string(result);
}

}  // namespace

std::string strace_call(Process& p, const SyscallArgs& s) {
    const auto it = signatures().find(s.nr);
    const std::string name = syscall_name(s.nr);
    std::string kinds = it != signatures().end() ? it->second : "xxx";
    // open's mode is an argument only when the call can create a file (strace shows it then).
    const std::uint64_t open_flags_arg = s.nr == SYS_open ? s.a[1] : s.a[2];
    if ((s.nr == SYS_open || s.nr == SYS_openat) && !(open_flags_arg & (O_CREAT | __O_TMPFILE))) kinds.pop_back();
    std::string out = name + "(";
    for (std::size_t i = 0; i < kinds.size() && i < s.a.size(); ++i) {
        if (i) out += ", ";
        out += kinds[i] == 'r' ? "\x01" : argument(p, kinds[i], s.a[i], i + 1 < s.a.size() ? s.a[i + 1] : 0);
    }
    return out + ")";
}

void strace_result(Process& p, const SyscallArgs& s, const std::string& call, std::int64_t result) {
    std::string line = call;
    // A buffer the call filled is shown with what it holds now (the bytes read).
    if (const auto marker = line.find('\x01'); marker != std::string::npos) {
        const auto it = signatures().find(s.nr);
        const std::size_t index = it != signatures().end() ? std::string(it->second).find('r') : 1;
        const std::uint64_t addr = s.a[index];
        line.replace(marker, 1, result >= 0 ? buffer(p, addr, static_cast<std::uint64_t>(result)) : hex(addr));
    }
    const std::string prefix = p.tasks().size() > 1 ? "[pid " + std::to_string(p.task().tid) + "] " : "";
    std::fprintf(stderr, "%s%s = %s\n", prefix.c_str(), line.c_str(), result_text(s.nr, result).c_str());
}

}  // namespace emu::sys
