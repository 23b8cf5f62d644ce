#include "trace/trace_recorder.hpp"

#include <sys/syscall.h>

#include <array>
#include <bit>
#include <cstring>
#include <string_view>

#include "trace/trace_events.hpp"

namespace emu {

using namespace mmu;

namespace {

// Results that differ from run to run or machine to machine (pids, times, randomness, paths)
// are written as "?".
bool nondeterministic(std::uint64_t nr) {
    switch (nr) {
    case SYS_getpid: case SYS_gettid: case SYS_getppid: case SYS_set_tid_address: case SYS_time:
    case SYS_clock_gettime: case SYS_gettimeofday: case SYS_getrandom: case SYS_fork: case SYS_vfork:
    case SYS_clone: case SYS_clone3: case SYS_wait4: case SYS_pidfd_open: case SYS_getpgid:
    case SYS_getsid: case SYS_setsid: case SYS_timer_create: case SYS_getuid: case SYS_geteuid:
    case SYS_getgid: case SYS_getegid: case SYS_getpgrp: case SYS_umask:
    case SYS_readlink: case SYS_readlinkat: case SYS_getcwd:  // depend on where things are
        return true;
    default:
        return false;
    }
}

const char* syscall_name(std::uint64_t nr) {
    switch (nr) {
    case SYS_read: return "read";       case SYS_write: return "write";     case SYS_open: return "open";
    case SYS_close: return "close";     case SYS_fstat: return "fstat";     case SYS_lseek: return "lseek";
    case SYS_mmap: return "mmap";       case SYS_mprotect: return "mprotect"; case SYS_munmap: return "munmap";
    case SYS_brk: return "brk";         case SYS_rt_sigaction: return "rt_sigaction";
    case SYS_rt_sigprocmask: return "rt_sigprocmask"; case SYS_rt_sigreturn: return "rt_sigreturn";
    case SYS_ioctl: return "ioctl";     case SYS_readv: return "readv";     case SYS_writev: return "writev";
    case SYS_mremap: return "mremap";   case SYS_mincore: return "mincore"; case SYS_madvise: return "madvise";
    case SYS_pipe: return "pipe";       case SYS_pipe2: return "pipe2";     case SYS_dup: return "dup";
    case SYS_dup2: return "dup2";       case SYS_getpid: return "getpid";   case SYS_fork: return "fork";
    case SYS_clone: return "clone";     case SYS_exit: return "exit";       case SYS_exit_group: return "exit_group";
    case SYS_wait4: return "wait4";     case SYS_kill: return "kill";       case SYS_tgkill: return "tgkill";
    case SYS_uname: return "uname";     case SYS_fcntl: return "fcntl";     case SYS_getcwd: return "getcwd";
    case SYS_readlink: return "readlink"; case SYS_arch_prctl: return "arch_prctl";
    case SYS_set_tid_address: return "set_tid_address"; case SYS_set_robust_list: return "set_robust_list";
    case SYS_rseq: return "rseq";       case SYS_prlimit64: return "prlimit64"; case SYS_getrandom: return "getrandom";
    case SYS_openat: return "openat";   case SYS_newfstatat: return "newfstatat"; case SYS_mlock: return "mlock";
    case SYS_munlock: return "munlock"; case SYS_mlockall: return "mlockall"; case SYS_munlockall: return "munlockall";
    case SYS_mlock2: return "mlock2";   case 462: return "mseal";           case SYS_sigaltstack: return "sigaltstack";
    case SYS_process_madvise: return "process_madvise"; case SYS_pidfd_open: return "pidfd_open";
    case SYS_nanosleep: return "nanosleep"; case SYS_clock_gettime: return "clock_gettime";
    case SYS_gettid: return "gettid";   case SYS_clone3: return "clone3"; case SYS_futex: return "futex";
    case SYS_execve: return "execve";   case SYS_waitid: return "waitid"; case SYS_poll: return "poll";   case SYS_readlinkat: return "readlinkat"; case SYS_statx: return "statx";
    default: return nullptr;
    }
}

}  // namespace

TraceRecorder::TraceRecorder(const std::string& path) : writer_(path) {
    writer_.line(std::string(kTraceHeader) + " recorded");
}

TraceRecorder::TraceRecorder(const std::string& path, AddressSpace& running) : writer_(path) {
    writer_.line(std::string(kTraceHeader) + " recorded mid-run");
    write_snapshot(running);
    running.set_observer(this);
}

// VMAs become mmap/mmap-file/special lines with the flags that split them (locks, fork advice,
// seals), populated pages become faults, guard markers guard installs. What a trace cannot say
// (which frames are shared copy-on-write with a forked child, anon_vma identities) is not
// reproduced, so replay of such a trace does not check TLB flushes.
void TraceRecorder::write_snapshot(AddressSpace& as) {
    const int id = id_of(as);
    emit("# snapshot of the running address space: rebuilds it up to '# end of snapshot'");
    emit("as " + std::to_string(id));
    write_limits(as);
    const std::string as_id = " " + std::to_string(id) + " ";
    if (as.brk_base()) {
        emit("brk-base" + as_id + hex(as.brk_base()));
        if (as.brk_current() != as.brk_base()) emit("brk" + as_id + hex(as.brk_current()));
    }
    for (const auto& [start, v] : as.vmas().all()) {
        if (v.has(vma_flag::kHeap)) continue;  // made by brk above
        const std::string range = hex(v.start) + " " + hex(v.end - v.start);
        std::uint32_t flags = map::kFixed | (v.shared() ? map::kShared : map::kPrivate);
        if (v.has(vma_flag::kGrowsDown)) flags |= map::kGrowsDown;
        if (v.has(vma_flag::kNoReserve)) flags |= map::kNoReserve;
        if (v.has(vma_flag::kSpecial)) {
            emit("special" + as_id + hex(v.start) + " " + prot_text(v.prot) + " " + hex(v.end - v.start) +
                         " " + v.name);
        } else if (v.file_private()) {
            OperationRecord r{Operation::MmapFile, {v.start, v.end - v.start, v.prot, flags, v.pgoff,
                                                    v.shmem->frames.size()}, 0, v.name, nullptr};
            r.result = static_cast<std::int64_t>(v.start);
            emit(operation_line(id, r, 0));
        } else {
            emit("mmap" + as_id + range + " " + prot_text(v.prot) + " " +
                         mmap_flags_text(flags | map::kAnonymous));
        }
        if (v.has(vma_flag::kLocked)) emit("mlock" + as_id + range + (v.has(vma_flag::kLockOnFault) ? " 0x1" : " 0x0"));
        if (v.has(vma_flag::kWipeOnFork)) emit("madvise" + as_id + range + " WIPEONFORK");
        if (v.has(vma_flag::kDontFork)) emit("madvise" + as_id + range + " DONTFORK");
        for (VirtAddr va = v.start; va < v.end; va += kPageSize) {
            const PagemapEntry e = as.pagemap(va);
            if (e.guard) emit("madvise" + as_id + hex(va) + " 0x1000 GUARD_INSTALL");
            else if (e.present)
                emit("fault" + as_id + hex(va) + (e.pfn == as.memory().zero_page() ? " read" : " write"));
        }
        if (v.has(vma_flag::kSealed)) emit("mseal" + as_id + range + " 0x0");
    }
    emit("# end of snapshot");
}

TraceRecorder::~TraceRecorder() = default;

// Once a second task exists, the events of each task follow a "task N" line (N counts tasks in
// the order they were created, 1 = the first): deterministic, unlike pids.
void TraceRecorder::emit(std::string_view line) {
    write_task_tag();
    writer_.line(line);
}

void TraceRecorder::write_task_tag() {
    if (task_ && task_ != written_task_) {
        writer_.line("task " + std::to_string(task_));
        written_task_ = task_;
    }
}

void TraceRecorder::set_task(int task) { task_ = task; }

void TraceRecorder::note(const std::string& text) { writer_.line("# " + text); }


void TraceRecorder::follow(AddressSpace& child) {
    if (!active_) return;
    id_of(child);
    child.set_observer(this);
}

int TraceRecorder::id_of(const AddressSpace& as) {
    if (&as == last_as_) return last_id_;
    auto it = ids_.find(&as);
    int id;
    if (it != ids_.end()) {
        id = it->second;
    } else {
        id = next_id_++;
        ids_[&as] = id;
        asid_ids_[as.asid()] = id;
    }
    last_as_ = &as;
    last_id_ = id;
    return id;
}

void TraceRecorder::attach(AddressSpace& as) {
    as.set_observer(this);
    emit("as " + std::to_string(id_of(as)));
    write_limits(as);
}

// The guest's vm.max_map_count when it is not Linux's default (replay assumes the default for
// a recorded trace), so that a trace recorded on a host with another limit replays the same.
void TraceRecorder::write_limits(const AddressSpace& as) {
    if (as.layout().max_map_count != Layout{}.max_map_count)
        emit("limit " + std::to_string(id_of(as)) + " max_map_count " + std::to_string(as.layout().max_map_count));
}

void TraceRecorder::on_operation(const AddressSpace& as, const OperationRecord& record) {
    if (!active_) return;
    const int id = id_of(as);
    int child = 0;
    if (record.op == Operation::Fork && record.child) child = id_of(*record.child);
    emit(operation_line(id, record, child));
    write_flushes();
}

void TraceRecorder::write_flushes() {
    for (const std::string& f : flushes_) emit(f);
    flushes_.clear();
}

void TraceRecorder::fill(const AddressSpace& as, std::uint64_t vpage, Access access, bool ok,
                         std::uint64_t paddr, bool writable, bool executable) {
    write_flushes();
    if (!active_) return;
    std::string line = "fill " + std::to_string(id_of(as)) + " " + hex(vpage) + " " + access_text(access) + " -> ";
    if (!ok) line += "refused";
    else line += hex(paddr) + " r" + (writable ? "w" : "-") + (executable ? "x" : "-");
    emit(line);
}

void TraceRecorder::flush(const FlushEvent& e) {
    if (!active_) return;
    auto it = asid_ids_.find(e.asid);
    if (it == asid_ids_.end()) return;
    flushes_.push_back("flush " + std::to_string(it->second) +
                       (e.kind == FlushKind::Full ? std::string(" full") : " page " + hex(e.vpage)));
}

namespace {

// The pieces of an access line, formatted as hex() and std::to_string do (one line per traced
// memory operand: this is the hot path of --trace-accesses).
char* put_text(char* out, std::string_view text) {
    std::memcpy(out, text.data(), text.size());
    return out + text.size();
}

constexpr std::array<char, 512> kHexPairs = [] {
    std::array<char, 512> pairs{};
    for (unsigned i = 0; i < 256; ++i) {
        pairs[2 * i] = "0123456789abcdef"[i >> 4];
        pairs[2 * i + 1] = "0123456789abcdef"[i & 15];
    }
    return pairs;
}();

char* put_hex(char* out, std::uint64_t v) {
    int digits = v ? (67 - std::countl_zero(v)) / 4 : 1;
    *out++ = '0';
    *out++ = 'x';
    char* const end = out + digits;
    char* at = end;
    for (; digits >= 2; digits -= 2, v >>= 8) {
        at -= 2;
        std::memcpy(at, &kHexPairs[2 * (v & 0xff)], 2);
    }
    if (digits) *--at = "0123456789abcdef"[v & 15];
    return end;
}

char* put_decimal(char* out, std::uint64_t v) {
    if (v < 10) {  // the usual address-space id and operand size
        *out++ = static_cast<char>('0' + v);
        return out;
    }
    char digits[20];
    int n = 0;
    do {
        digits[n++] = static_cast<char>('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *out++ = digits[--n];
    return out;
}

}  // namespace

void TraceRecorder::access(const AddressSpace& as, std::uint64_t addr, unsigned size, Access access,
                           bool ok, std::uint64_t paddr, int si_code) {
    if (!flushes_.empty()) write_flushes();
    if (!active_) return;
    (void)si_code;
    const int id = id_of(as);
    write_task_tag();
    // "access " id hex size kind " -> " hex: at most 7+11+19+11+6+4+18 characters.
    char* const line = writer_.begin_line(96);
    char* out = put_text(line, "access ");
    out = put_decimal(out, static_cast<std::uint64_t>(id));
    *out++ = ' ';
    out = put_hex(out, addr);
    *out++ = ' ';
    out = put_decimal(out, size);
    *out++ = ' ';
    out = put_text(out, access == Access::Read ? "read -> " : access == Access::Write ? "write -> " : "exec -> ");
    out = ok ? put_hex(out, paddr) : put_text(out, "unmapped");
    writer_.end_line(out);
}

void TraceRecorder::syscall(const AddressSpace& as, std::uint64_t nr, std::int64_t result) {
    write_flushes();
    if (!active_) return;
    const char* name = syscall_name(nr);
    std::string line = "syscall " + std::to_string(id_of(as)) + " " + (name ? name : std::to_string(nr)) + " -> ";
    line += nondeterministic(nr) ? "?" : result_text(result, result > 4096);
    emit(line);
}

void TraceRecorder::signal(const AddressSpace& as, const SigInfo& info) {
    write_flushes();
    if (!active_) return;
    emit("signal " + std::to_string(id_of(as)) + " " + signal_name(info.signo) + " " +
                 si_code_name(info.signo, info.code) + " " + (info.from_kill ? std::string("-") : hex(info.addr)));
}

void TraceRecorder::sigreturn(const AddressSpace& as) {
    write_flushes();
    if (active_) emit("sigreturn " + std::to_string(id_of(as)));
}

void TraceRecorder::release(const AddressSpace& as, int status, int signo) {
    write_flushes();
    auto it = ids_.find(&as);
    if (!active_ || it == ids_.end()) return;
    emit("exit " + std::to_string(it->second) + " " +
                 (signo ? std::string(signal_name(signo)) : std::to_string(status)));
    asid_ids_.erase(as.asid());
    ids_.erase(it);
    if (&as == last_as_) last_as_ = nullptr;
}

void TraceRecorder::exit(const AddressSpace& as, int status, int signo) {
    write_flushes();
    if (!active_) return;
    emit("exit " + std::to_string(id_of(as)) + " " +
                 (signo ? std::string(signal_name(signo)) : std::to_string(status)));
    writer_.close();
    active_ = false;
}

void TraceRecorder::stop(AddressSpace& as) {
    as.set_observer(nullptr);
    write_flushes();
    emit("# trace stopped by the debugger");
    writer_.close();
    active_ = false;
}

}  // namespace emu
