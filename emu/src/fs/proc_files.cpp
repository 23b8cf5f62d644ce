// /proc text files generated from the MMU and the task model, in the formats Linux prints
// (proc(5)); values mmuemu does not model are printed as 0.
#include "fs/proc_files.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "fs/proc_smaps.hpp"
#include "machine/process.hpp"

namespace emu {

namespace {

using mmu::Vma;
namespace vf = mmu::vma_flag;

// printf into a std::string.
template <typename... Args>
void append(std::string& out, const char* format, Args... args) {
    char buf[512];
    const int n = std::snprintf(buf, sizeof buf, format, args...);
    if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

int parent_tgid(const ThreadGroup& g) {
    auto parent = g.parent.lock();
    return parent ? parent->tgid : static_cast<int>(::getppid());
}

// Linux's one-letter task state: R running, S sleeping, T stopped, Z zombie.
char state_letter(Process& p, const ThreadGroup& g, const Task& t) {
    if (g.state != GroupState::Alive) return 'Z';
    if (g.stopped) return 'T';
    if (&t == &p.task()) return 'R';
    return t.state == TaskState::Blocked ? 'S' : 'R';
}

const char* state_name(char letter) {
    switch (letter) {
    case 'S': return "S (sleeping)";
    case 'T': return "T (stopped)";
    case 'Z': return "Z (zombie)";
    default: return "R (running)";
    }
}

// The sums Linux keeps per mm: data_vm (private writable, not stack), stack_vm and exec_vm, in
// pages.
struct VmSums {
    std::uint64_t data = 0, stack = 0, exec = 0;
};

VmSums vm_sums(const mmu::AddressSpace& as) {
    VmSums s;
    for (const auto& [start, v] : as.vmas().all()) {
        const std::uint64_t pages = v.size() >> mmu::kPageShift;
        const bool stack = v.has(vf::kGrowsDown) || v.has(vf::kStack);
        if (stack) s.stack += pages;
        else if ((v.prot & mmu::kProtWrite) && !v.shared()) s.data += pages;
        else if ((v.prot & mmu::kProtExec) && !(v.prot & mmu::kProtWrite)) s.exec += pages;
    }
    return s;
}

// Signals with a handler (caught) or ignored, as bit masks.
std::uint64_t signals_with(const Task& t, bool ignored) {
    std::uint64_t mask = 0;
    for (int sig = 1; sig <= kNsig; ++sig) {
        const std::uint64_t h = t.signals.action(sig).handler;
        if (ignored ? h == 1 : h > 1) mask |= sig_bit(sig);
    }
    return mask;
}

// Guest memory [start, end) as the kernel reads it for cmdline and environ.
std::string guest_bytes(mmu::AddressSpace& as, std::uint64_t start, std::uint64_t end) {
    if (end <= start) return "";
    std::string out(std::min<std::uint64_t>(end - start, 1 << 20), '\0');
    out.resize(as.copy_from_user_partial(out.data(), start, out.size()));
    return out;
}

std::string status(Process& p, ThreadGroup& g, Task& t) {
    mmu::AddressSpace& as = *g.mm;
    const std::uint64_t size_kb = as.total_vm_bytes() / 1024, rss_kb = as.rss_pages() * 4;
    const VmSums sums = vm_sums(as);
    const char state = state_letter(p, g, t);
    const auto uid = static_cast<unsigned>(::getuid()), euid = static_cast<unsigned>(::geteuid());
    const auto gid = static_cast<unsigned>(::getgid()), egid = static_cast<unsigned>(::getegid());
    std::string s;
    append(s, "Name:\t%s\nUmask:\t%04o\nState:\t%s\n", g.comm.c_str(), t.fs ? t.fs->umask : 022u,
           state_name(state));
    append(s, "Tgid:\t%d\nNgid:\t0\nPid:\t%d\nPPid:\t%d\nTracerPid:\t0\n", g.tgid, t.tid, parent_tgid(g));
    append(s, "Uid:\t%u\t%u\t%u\t%u\nGid:\t%u\t%u\t%u\t%u\n", uid, euid, euid, euid, gid, egid, egid, egid);
    append(s, "FDSize:\t%d\nGroups:\t\n", t.files ? std::max<int>(64, static_cast<int>(t.files->count())) : 0);
    if (state != 'Z') {
        const std::uint64_t peak = std::max<std::uint64_t>(p.stats().peak_rss_pages * 4, rss_kb);
        append(s, "VmPeak:\t%8" PRIu64 " kB\nVmSize:\t%8" PRIu64 " kB\nVmLck:\t%8" PRIu64 " kB\n", size_kb,
               size_kb, as.locked_bytes() / 1024);
        append(s, "VmPin:\t%8d kB\nVmHWM:\t%8" PRIu64 " kB\nVmRSS:\t%8" PRIu64 " kB\n", 0, peak, rss_kb);
        append(s, "RssAnon:\t%8" PRIu64 " kB\nRssFile:\t%8d kB\nRssShmem:\t%8d kB\n", rss_kb, 0, 0);
        append(s, "VmData:\t%8" PRIu64 " kB\nVmStk:\t%8" PRIu64 " kB\nVmExe:\t%8" PRIu64 " kB\n",
               sums.data * 4, sums.stack * 4, sums.exec * 4);
        append(s, "VmLib:\t%8d kB\nVmPTE:\t%8" PRIu64 " kB\nVmSwap:\t%8d kB\n", 0, as.page_table_pages() * 4, 0);
    }
    append(s, "Threads:\t%d\n", g.live_threads());
    append(s, "SigQ:\t0/%" PRIu64 "\n", g.rlimits[RLIMIT_SIGPENDING].first);
    append(s, "SigPnd:\t%016" PRIx64 "\nShdPnd:\t%016" PRIx64 "\nSigBlk:\t%016" PRIx64 "\n",
           t.signals.pending, std::uint64_t{0}, t.signals.blocked);
    append(s, "SigIgn:\t%016" PRIx64 "\nSigCgt:\t%016" PRIx64 "\n", signals_with(t, true), signals_with(t, false));
    append(s, "NoNewPrivs:\t0\nSeccomp:\t0\n");
    const unsigned cpus = p.cpu_count();
    append(s, "Cpus_allowed:\t%" PRIx64 "\nCpus_allowed_list:\t0-%u\n",
           t.affinity & (cpus >= 64 ? ~0ull : (1ull << cpus) - 1), cpus - 1);
    return s;
}

// proc(5)'s 52 fields of /proc/PID/stat.
std::string stat(Process& p, ThreadGroup& g, Task& t) {
    mmu::AddressSpace& as = *g.mm;
    const StackImage& st = g.stack;
    const auto& faults = as.fault_counters();
    // utime, stime (the process's, or a thread's own in its task directory) and the waited-for
    // children's, in USER_HZ ticks.
    p.settle_cpu_slice();
    const CpuTimes own = t.tid == g.tgid ? g.own_times() : CpuTimes{t.user_ns, t.system_ns};
    constexpr std::uint64_t kNsPerTick = 1000000000 / 100;
    std::string s;
    append(s, "%d (%s) %c %d %d %d 0 -1 4194304 %" PRIu64 " 0 0 0 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
           " 20 0 %d 0 0 ", t.tid, g.comm.c_str(), state_letter(p, g, t), parent_tgid(g), g.pgid, g.sid, faults.faults,
           own.user_ns / kNsPerTick, own.system_ns / kNsPerTick, g.waited_children.user_ns / kNsPerTick,
           g.waited_children.system_ns / kNsPerTick, g.live_threads());
    append(s, "%" PRIu64 " %" PRIu64 " %" PRIu64 " 0 0 %" PRIu64 " 0 0 ", as.total_vm_bytes(), as.rss_pages(),
           g.rlimits[RLIMIT_RSS].first, st.rsp);
    append(s, "%" PRIu64 " %" PRIu64 " 0 0 %" PRIu64 " %" PRIu64 " 0 0 0 %d %d 0 0 0 0 0 ", t.signals.pending,
           t.signals.blocked, signals_with(t, true), signals_with(t, false), g.exit_signal, t.last_cpu);
    append(s, "0 0 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %d\n",
           as.brk_base(), as.brk_current(), st.arg_start, st.arg_end, st.env_start, st.env_end,
           g.state == GroupState::Alive ? 0 : g.wait_status);
    return s;
}

std::string statm(const ThreadGroup& g) {
    const mmu::AddressSpace& as = *g.mm;
    const VmSums sums = vm_sums(as);
    std::string s;
    append(s, "%" PRIu64 " %" PRIu64 " 0 %" PRIu64 " 0 %" PRIu64 " 0\n", as.total_vm_bytes() >> mmu::kPageShift,
           as.rss_pages(), sums.exec, sums.data + sums.stack);
    return s;
}

std::string auxv(const ThreadGroup& g) {
    const auto& words = g.stack.auxv_words;
    return std::string(reinterpret_cast<const char*>(words.data()), words.size() * sizeof words[0]);
}

std::string meminfo(Process& p) {
    const std::uint64_t total_kb = guest_ram_total(p) / 1024;
    const std::uint64_t used_kb = total_kb - guest_ram_free(p) / 1024;
    std::string s;
    append(s, "MemTotal:       %8" PRIu64 " kB\nMemFree:        %8" PRIu64 " kB\n", total_kb, total_kb - used_kb);
    append(s, "MemAvailable:   %8" PRIu64 " kB\nBuffers:        %8d kB\nCached:         %8d kB\n",
           total_kb - used_kb, 0, 0);
    append(s, "SwapCached:     %8d kB\nSwapTotal:      %8d kB\nSwapFree:       %8d kB\n", 0, 0, 0);
    return s;
}

std::string cpuinfo(Process& p) {
    std::string s;
    for (unsigned cpu = 0; cpu < p.cpu_count(); ++cpu) {
        append(s, "processor\t: %u\nvendor_id\t: mmuemu\nmodel name\t: mmuemu virtual CPU (Unicorn)\n", cpu);
        append(s, "physical id\t: 0\ncore id\t\t: %u\ncpu cores\t: %u\n\n", cpu, p.cpu_count());
    }
    return s;
}

std::string uptime() {
    // Seconds since mmuemu started (the machine's boot), idle time not modelled.
    const std::uint64_t up = machine_uptime_ns();
    std::string s;
    append(s, "%" PRIu64 ".%02" PRIu64 " 0.00\n", up / 1000000000, up / 10000000 % 100);
    return s;
}

// /proc/stat: each virtual CPU's user and system time in USER_HZ ticks (100 per second) and its
// idle time as the rest of the machine's uptime; boot time, tasks created, running and blocked
// tasks, context switches. Interrupt and softirq counts are zero (nothing is modelled).
std::string machine_stat(Process& p) {
    constexpr std::uint64_t kNsPerTick = 10000000;
    const std::uint64_t up = machine_uptime_ns();
    std::vector<std::array<std::uint64_t, 3>> rows;  // user, system, idle
    std::array<std::uint64_t, 3> total{};
    for (unsigned cpu = 0; cpu < p.cpu_count(); ++cpu) {
        const CpuTimes& busy = p.cpu_busy(cpu);
        const std::uint64_t used = busy.user_ns + busy.system_ns;
        const std::array<std::uint64_t, 3> row{busy.user_ns / kNsPerTick, busy.system_ns / kNsPerTick,
                                              (up > used ? up - used : 0) / kNsPerTick};
        for (int i = 0; i < 3; ++i) total[i] += row[i];
        rows.push_back(row);
    }
    std::string s;
    auto line = [&s](const std::string& name, const std::array<std::uint64_t, 3>& r) {
        append(s, "%s %" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 0 0 0 0 0 0\n", name.c_str(), r[0], r[1], r[2]);
    };
    line("cpu ", total);
    for (std::size_t cpu = 0; cpu < rows.size(); ++cpu) line("cpu" + std::to_string(cpu), rows[cpu]);
    int running = 0, blocked = 0;
    for (const auto& [tid, t] : p.tasks()) {
        if (t->alive() && t->state == TaskState::Runnable) ++running;
        if (t->alive() && t->state == TaskState::Blocked) ++blocked;
    }
    const std::uint64_t boot_s = static_cast<std::uint64_t>(::time(nullptr)) - up / 1000000000;
    append(s, "intr 0\nctxt %" PRIu64 "\nbtime %" PRIu64 "\nprocesses %" PRIu64 "\n", p.stats().context_switches,
           boot_s, p.stats().tasks_created);
    append(s, "procs_running %d\nprocs_blocked %d\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n", running, blocked);
    return s;
}

// /proc/vmstat: the counters the model has (free frames, faults of the live processes); no
// swap, no paging I/O, no major faults (file pages are read without waiting).
std::string vmstat(Process& p) {
    std::uint64_t faults = 0, rss = 0;
    for (const auto& [tgid, g] : p.groups()) {
        if (g->state != GroupState::Alive || !g->mm) continue;
        faults += g->mm->fault_counters().faults;
        rss += g->mm->rss_pages();
    }
    std::string s;
    append(s, "nr_free_pages %" PRIu64 "\nnr_anon_pages %" PRIu64 "\nnr_mlock 0\n",
           guest_ram_free(p) >> mmu::kPageShift, rss);
    append(s, "pgpgin 0\npgpgout 0\npswpin 0\npswpout 0\npgfault %" PRIu64 "\npgmajfault 0\n", faults);
    return s;
}

std::string loadavg(Process& p) {
    int running = 0, newest = 0;
    for (const auto& [tid, t] : p.tasks()) {
        if (t->alive() && t->state == TaskState::Runnable) ++running;
        newest = std::max(newest, tid);
    }
    std::string s;
    append(s, "0.00 0.00 0.00 %d/%zu %d\n", running, p.tasks().size(), newest);
    return s;
}

// The file system type of the guest's root, by its statfs magic number.
const char* root_fs_type(Process& p) {
    struct statfs fs;
    const int root = p.fs().root_fd >= 0 ? p.fs().root_fd : AT_FDCWD;
    if ((root == AT_FDCWD ? ::statfs("/", &fs) : ::fstatfs(root, &fs)) != 0) return "rootfs";
    switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xef53: return "ext4";
    case 0x794c7630: return "overlay";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683e: return "btrfs";
    default: return "rootfs";
    }
}

// The guest's mounts: its root and the generated /proc (host mounts are not shown). The root
// is "/dev/root" (the name Linux gives a root device it has no other name for).
std::string mounts(Process& p) {
    return std::string("/dev/root / ") + root_fs_type(p) +
           " rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n";
}

// The same as /proc/PID/mountinfo: ids, the device numbers stat shows, root, mount point.
std::string mountinfo(Process& p) {
    struct stat root {}, proc {};
    const int root_fd = p.fs().root_fd;
    if (root_fd >= 0) ::fstat(root_fd, &root);
    else ::stat("/", &root);
    ::stat("/proc", &proc);
    std::string s;
    append(s, "1 1 %u:%u / / rw,relatime shared:1 - %s /dev/root rw\n", major(root.st_dev), minor(root.st_dev),
           root_fs_type(p));
    append(s, "2 1 %u:%u / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n", major(proc.st_dev),
           minor(proc.st_dev));
    return s;
}

// One field of uname(2) (what the guest's uname answers), as a /proc/sys/kernel line.
std::string utsname_field(char (utsname::*field)[65]) {
    struct utsname u;
    ::uname(&u);
    return std::string(u.*field) + "\n";
}

std::string version() {
    struct utsname u;
    ::uname(&u);
    return std::string("Linux version ") + u.release + " (mmuemu) " + u.version + "\n";
}

constexpr const char* kVsyscallLine =
    "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

}  // namespace

std::uint64_t machine_uptime_ns() {
    static const std::uint64_t boot_ns = monotonic_ns();
    return monotonic_ns() - boot_ns;
}

std::uint64_t guest_ram_total(Process& p) { return p.ram().frame_count() * mmu::kPageSize; }

std::uint64_t guest_ram_free(Process& p) {
    const std::uint64_t used = p.ram().stats().frames_in_use * mmu::kPageSize;
    return guest_ram_total(p) - std::min(used, guest_ram_total(p));
}

std::uint64_t guest_threads_max(std::uint64_t ram_bytes) {
    return std::max<std::uint64_t>(20, ram_bytes / (128 * 1024));
}

const char* const* proc_task_text_leaves() {
    static const char* const leaves[] = {"auxv",  "cmdline", "comm",  "environ", "maps",         "mountinfo",
                                         "mounts", "smaps",  "smaps_rollup", "stat", "statm", "status", nullptr};
    return leaves;
}

const char* const* proc_machine_leaves() {
    static const char* const leaves[] = {"cpuinfo", "loadavg", "meminfo", "mounts", "stat", "uptime", "version", "vmstat", nullptr};
    return leaves;
}

bool proc_task_file(Process& p, ThreadGroup& g, Task& t, const std::string& leaf, std::string& out) {
    const bool zombie = g.state != GroupState::Alive;
    if (leaf == "status") out = status(p, g, t);
    else if (leaf == "stat") out = stat(p, g, t);
    else if (leaf == "comm") out = g.comm + "\n";
    else if (leaf == "statm") out = zombie ? "0 0 0 0 0 0 0\n" : statm(g);
    // Linux lists the vsyscall page (emulated, execute-only) after the VMAs.
    else if (leaf == "maps") out = zombie ? "" : g.mm->maps() + kVsyscallLine;
    else if (leaf == "smaps") out = zombie ? "" : proc_smaps(*g.mm, kVsyscallLine);
    else if (leaf == "smaps_rollup") out = zombie ? "" : proc_smaps_rollup(*g.mm);
    else if (leaf == "mounts") out = mounts(p);
    else if (leaf == "mountinfo") out = mountinfo(p);
    else if (leaf == "auxv") out = zombie ? "" : auxv(g);
    else if (leaf == "cmdline") out = zombie ? "" : guest_bytes(*g.mm, g.stack.arg_start, g.stack.arg_end);
    else if (leaf == "environ") out = zombie ? "" : guest_bytes(*g.mm, g.stack.env_start, g.stack.env_end);
    else return false;
    return true;
}

bool proc_machine_file(Process& p, const std::string& path, std::string& out) {
    const mmu::Layout& layout = p.as().layout();
    if (path == "meminfo") out = meminfo(p);
    else if (path == "cpuinfo") out = cpuinfo(p);
    else if (path == "uptime") out = uptime();
    else if (path == "loadavg") out = loadavg(p);
    else if (path == "version") out = version();
    else if (path == "stat") out = machine_stat(p);
    else if (path == "vmstat") out = vmstat(p);
    else if (path == "mounts") out = mounts(p);
    else if (path == "sys/kernel/osrelease") out = utsname_field(&utsname::release);
    else if (path == "sys/kernel/ostype") out = utsname_field(&utsname::sysname);
    else if (path == "sys/kernel/hostname") out = utsname_field(&utsname::nodename);
    else if (path == "sys/vm/max_map_count") out = std::to_string(layout.max_map_count) + "\n";
    else if (path == "sys/vm/overcommit_memory") out = layout.overcommit_limit ? "0\n" : "1\n";
    else if (path == "sys/kernel/pid_max") out = "4194304\n";
    else if (path == "sys/kernel/threads-max") out = std::to_string(guest_threads_max(p.options().ram_bytes)) + "\n";
    else return false;
    return true;
}

}  // namespace emu
