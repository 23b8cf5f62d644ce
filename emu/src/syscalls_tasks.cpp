// Task system calls: identity, clone/fork/vfork/clone3, execve, exit, wait4/waitid, kill and
// friends, pidfds, process groups and sessions. Each follows Linux's argument rules and errno.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "cpu.hpp"
#include "process.hpp"
#include "syscall_support.hpp"

namespace emu::sys {

namespace {

constexpr std::uint64_t kCloneVm = 0x100, kCloneFs = 0x200, kCloneSighand = 0x800,
                        kClonePidfd = 0x1000, kCloneVfork = 0x4000, kCloneThread = 0x10000,
                        kCloneNewns = 0x20000, kCloneSettls = 0x80000, kCloneParentSettid = 0x100000,
                        kCloneChildCleartid = 0x200000, kCloneDetached = 0x400000,
                        kCloneChildSettid = 0x01000000, kCloneNewcgroup = 0x02000000,
                        kCloneNewuser = 0x10000000, kCloneIntoCgroup = 0x200000000ull,
                        kCloneClearSighand = 0x100000000ull;
constexpr std::uint64_t kNamespaceFlags = kCloneNewns | kCloneNewcgroup | 0x04000000 | 0x08000000 |
                                          kCloneNewuser | 0x20000000 | 0x40000000;
constexpr std::uint64_t kKnownCloneFlags = 0xffffff00ull | kCloneClearSighand | kCloneIntoCgroup;
constexpr int kSigchld = 17;

// --- clone ---

struct CloneRequest {
    std::uint64_t flags = 0;  // without the exit signal
    int exit_signal = 0;
    std::uint64_t stack = 0;  // the child's stack pointer (0: the parent's)
    std::uint64_t parent_tid = 0, child_tid = 0, tls = 0;
    std::uint64_t pidfd_out = 0;
};

// Linux's checks of copy_process and clone3, in its order.
std::int64_t validate_clone(const CloneRequest& r) {
    const std::uint64_t f = r.flags;
    if ((f & (kCloneNewns | kCloneFs)) == (kCloneNewns | kCloneFs)) return err(EINVAL);
    if ((f & (kCloneNewuser | kCloneFs)) == (kCloneNewuser | kCloneFs)) return err(EINVAL);
    if ((f & kCloneThread) && !(f & kCloneSighand)) return err(EINVAL);
    if ((f & kCloneSighand) && !(f & kCloneVm)) return err(EINVAL);
    if ((f & kClonePidfd) && (f & (kCloneDetached | kCloneThread))) return err(EINVAL);
    // A thread cannot get a new user or pid namespace.
    if ((f & kCloneThread) && (f & (kCloneNewuser | 0x20000000))) return err(EINVAL);
    if (f & kNamespaceFlags) return err(EPERM);  // namespaces need privileges mmuemu does not model
    if (r.exit_signal < 0 || r.exit_signal > kNsig) return err(EINVAL);
    return 0;
}

// Linux's two limits on new tasks: RLIMIT_NPROC of the user (not for root), and threads-max,
// which the kernel derives from RAM (one task per 8 thread stacks of 16 KiB: RAM / 128 KiB).
std::int64_t check_task_limits(Process& p) {
    std::uint64_t live = 0;
    for (const auto& [tid, t] : p.tasks())
        if (t->alive()) ++live;
    const std::uint64_t threads_max = std::max<std::uint64_t>(20, p.options().ram_bytes / (128 * 1024));
    if (live >= threads_max) return err(EAGAIN);
    const std::uint64_t nproc = p.group().rlimits[RLIMIT_NPROC].first;
    if (::geteuid() != 0 && live >= nproc) return err(EAGAIN);
    return 0;
}

std::int64_t do_clone(Process& p, CloneRequest r) {
    if (const std::int64_t e = validate_clone(r)) return e;
    if (const std::int64_t e = check_task_limits(p)) return e;
    std::shared_ptr<AddressSpace> mm;
    if (r.flags & kCloneVm) {
        mm = p.group().mm;
    } else {
        auto copy = p.as().fork();
        if (!copy) return err(copy.error());
        mm = std::shared_ptr<AddressSpace>(std::move(copy.value()));
    }
    const std::uint64_t rip = p.cpu().reg(UC_X86_REG_RIP);  // the syscall instruction
    const std::uint64_t eflags = p.cpu().reg(UC_X86_REG_EFLAGS);
    const std::shared_ptr<Task> child = p.clone_task(r.flags | static_cast<std::uint64_t>(r.exit_signal), mm);
    auto& regs = child->register_overrides;
    regs = {{UC_X86_REG_RAX, 0}, {UC_X86_REG_RIP, rip + 2}, {UC_X86_REG_RCX, rip + 2},
            {UC_X86_REG_R11, eflags}};
    if (r.stack) regs.push_back({UC_X86_REG_RSP, r.stack});
    if (r.flags & kCloneSettls) regs.push_back({UC_X86_REG_FS_BASE, r.tls});
    const std::int32_t tid = child->tid;
    if (r.flags & kCloneChildCleartid) child->clear_child_tid = r.child_tid;
    if (r.flags & kCloneChildSettid) (void)child->group->mm->copy_to_user(r.child_tid, &tid, sizeof tid);
    if (r.flags & kCloneParentSettid) (void)p.as().copy_to_user(r.parent_tid, &tid, sizeof tid);
    if (r.flags & kClonePidfd) {
        auto f = std::make_shared<GuestFile>();
        f->kind = GuestFile::Kind::Pidfd;
        f->pid = child->group->tgid;
        f->path = "anon_inode:[pidfd]";
        const std::int32_t fd = p.files().install(f, 0, true);
        (void)p.as().copy_to_user(r.pidfd_out, &fd, sizeof fd);
    }
    if (r.flags & kCloneVfork) {
        // The parent sleeps until the child execs or exits (killable, not interruptible).
        child->vfork_parent = p.task().tid;
        std::weak_ptr<Task> weak = child;
        BlockState b;
        b.interruptible = false;
        b.ready = [weak] {
            auto c = weak.lock();
            return !c || !c->alive() || c->vfork_parent == 0;
        };
        p.task().block = std::move(b);
        p.task().state = TaskState::Blocked;
    }
    return tid;
}

std::int64_t do_clone3(Process& p, std::uint64_t args, std::uint64_t size) {
    struct {
        std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
            set_tid, set_tid_size, cgroup;
    } k{};
    if (size < 64) return err(EINVAL);
    if (size > 4096) return err(E2BIG);
    if (!p.as().copy_from_user(&k, args, std::min<std::size_t>(size, sizeof k))) return err(EFAULT);
    for (std::uint64_t off = sizeof k; off < size; off += 8) {  // a newer struct: the rest must be 0
        std::uint64_t extra = 0;
        if (!p.as().copy_from_user(&extra, args + off, std::min<std::uint64_t>(8, size - off))) return err(EFAULT);
        if (extra) return err(E2BIG);
    }
    if (k.flags & ~kKnownCloneFlags) return err(EINVAL);
    if (k.flags & 0xff) return err(EINVAL);  // the exit signal has its own field
    if (k.exit_signal > kNsig) return err(EINVAL);
    // A thread (or CLONE_PARENT child) sends no exit signal of its own.
    if (k.exit_signal && (k.flags & (kCloneThread | 0x8000))) return err(EINVAL);
    if ((k.stack == 0) != (k.stack_size == 0)) return err(EINVAL);
    // set_tid and set_tid_size come together; choosing pids needs CAP_CHECKPOINT_RESTORE.
    if ((k.set_tid == 0) != (k.set_tid_size == 0) || k.set_tid_size > 32) return err(EINVAL);
    if (k.set_tid) return err(EPERM);
    if (k.flags & kCloneIntoCgroup) return err(EPERM);
    if ((k.flags & kCloneClearSighand) && (k.flags & kCloneSighand)) return err(EINVAL);
    CloneRequest r;
    r.flags = k.flags & ~kCloneClearSighand;
    r.exit_signal = static_cast<int>(k.exit_signal);
    r.stack = k.stack ? k.stack + k.stack_size : 0;
    r.parent_tid = k.parent_tid;
    r.child_tid = k.child_tid;
    r.tls = k.tls;
    r.pidfd_out = k.pidfd;
    return do_clone(p, r);
}

// --- execve ---

bool read_string_array(Process& p, std::uint64_t addr, std::vector<std::string>& out) {
    out.clear();
    if (!addr) return true;
    std::size_t total = 0;
    for (std::size_t i = 0;; ++i) {
        std::uint64_t ptr;
        if (!p.as().copy_from_user(&ptr, addr + 8 * i, 8)) return false;
        if (!ptr) return true;
        std::string s;
        if (!read_string(p, ptr, s, 128 * 1024)) return false;
        total += s.size() + 1 + 8;
        if (total > 2 * 1024 * 1024 || i > 0x7fffffff) return false;
        out.push_back(std::move(s));
    }
}

std::int64_t exec_program(Process& p, int dirfd, const std::string& path,
                          std::vector<std::string> argv, const std::vector<std::string>& envp,
                          int flags, int depth) {
    if (path.empty() && !(flags & AT_EMPTY_PATH)) return err(ENOENT);
    HostPath hp;
    if (const std::int64_t e = resolve_path(p, dirfd, path, hp)) return e;
    // The magic link to the running program is the guest's program, never mmuemu's binary.
    if (path == "/proc/self/exe" || path == "/proc/" + std::to_string(p.group().tgid) + "/exe")
        hp = {AT_FDCWD, p.group().exe};
    const int open_flags = O_RDONLY | O_CLOEXEC | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0);
    const int fd = path.empty() ? ::fcntl(hp.dirfd, F_DUPFD_CLOEXEC, 3)
                                : ::openat(hp.dirfd, hp.path.c_str(), open_flags);
    if (fd < 0) return err(errno == ELOOP && (flags & AT_SYMLINK_NOFOLLOW) ? ELOOP : errno);
    struct stat st;
    const bool ok = ::fstat(fd, &st) == 0;
    std::vector<std::uint8_t> bytes;
    if (ok && S_ISREG(st.st_mode)) {
        bytes.resize(static_cast<std::size_t>(st.st_size));
        std::size_t got = 0;
        while (got < bytes.size()) {
            const long n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        bytes.resize(got);
    }
    char self_fd[64];
    std::snprintf(self_fd, sizeof self_fd, "/proc/self/fd/%d", fd);
    const bool executable = ::access(self_fd, X_OK) == 0 && (st.st_mode & 0111);
    ::close(fd);
    if (!ok || !S_ISREG(st.st_mode) || !executable) return err(EACCES);
    const std::string host_file = host_path_of(hp);
    // "#!interpreter [one argument]": the interpreter runs with the script's path (Linux's
    // binfmt_script), at most a few levels deep.
    if (bytes.size() >= 2 && bytes[0] == '#' && bytes[1] == '!') {
        if (depth >= 4) return err(ELOOP);
        std::string line(bytes.begin() + 2, bytes.begin() + static_cast<long>(std::min<std::size_t>(bytes.size(), 256)));
        line = line.substr(0, line.find('\n'));
        const auto trim = [](std::string s) {
            const auto b = s.find_first_not_of(" \t");
            if (b == std::string::npos) return std::string();
            return s.substr(b, s.find_last_not_of(" \t") - b + 1);
        };
        line = trim(line);
        if (line.empty()) return err(ENOEXEC);
        const auto space = line.find_first_of(" \t");
        const std::string interp = line.substr(0, space);
        const std::string arg = space == std::string::npos ? "" : trim(line.substr(space));
        std::vector<std::string> next{interp};
        if (!arg.empty()) next.push_back(arg);
        next.push_back(path);
        for (std::size_t i = 1; i < argv.size(); ++i) next.push_back(argv[i]);
        return exec_program(p, AT_FDCWD, interp, std::move(next), envp, 0, depth + 1);
    }
    if (bytes.size() < 4 || std::memcmp(bytes.data(), "\x7f" "ELF", 4) != 0) return err(ENOEXEC);
    auto mm = std::make_shared<AddressSpace>(p.ram(), p.as().tlb());
    try {
        const LoadedImage image = load_elf(*mm, bytes, host_file);
        mm->set_brk_base(image.brk_start);
        const StackImage stack = build_stack(*mm, image, argv, envp, path);
        p.exec_image(std::move(mm), host_file, image, stack);
    } catch (const LoadError& e) {
        std::fprintf(stderr, "mmuemu: execve: %s\n", e.what());
        return err(std::string(e.what()).find("dynamically linked") != std::string::npos ? ENOENT : ENOEXEC);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "mmuemu: execve of %s: %s\n", path.c_str(), e.what());
        return err(ENOMEM);
    }
    return kNoReturn;
}

std::int64_t do_execve(Process& p, int dirfd, std::uint64_t path_addr, std::uint64_t argv_addr,
                       std::uint64_t envp_addr, int flags) {
    if (flags & ~(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)) return err(EINVAL);
    std::string path;
    if (!read_string(p, path_addr, path)) return err(EFAULT);
    std::vector<std::string> argv, envp;
    if (!read_string_array(p, argv_addr, argv) || !read_string_array(p, envp_addr, envp))
        return err(EFAULT);
    return exec_program(p, dirfd, path, std::move(argv), envp, flags, 0);
}

// --- wait ---

constexpr int kWnohang = 1, kWuntraced = 2, kWexited = 4, kWcontinued = 8, kWnowait = 0x01000000;
constexpr int kWnothread = 0x20000000, kWall = 0x40000000, kWclone = static_cast<int>(0x80000000u);

struct WaitMatch {
    enum class Kind { Any, Pid, Pgid } kind = Kind::Any;
    int id = 0;
};

bool matches(const ThreadGroup& c, const WaitMatch& m, int options) {
    if (m.kind == WaitMatch::Kind::Pid && c.tgid != m.id) return false;
    if (m.kind == WaitMatch::Kind::Pgid && c.pgid != m.id) return false;
    if (options & kWall) return true;
    const bool clone_child = c.exit_signal != kSigchld;
    return (options & kWclone) ? clone_child : !clone_child;
}

struct WaitResult {
    int pid = 0;
    int code = 0;     // CLD_*
    int status = 0;   // si_status
    int wstatus = 0;  // as wait4 encodes it
};

// One scan of the children: a reportable state change, 0 when there is none yet, or -ECHILD.
std::int64_t scan_children(Process& p, const WaitMatch& m, int options, WaitResult& out) {
    ThreadGroup& self = p.group();
    bool any = false;
    for (auto& w : self.children) {
        auto c = w.lock();
        if (!c || c->state == GroupState::Reaped || !matches(*c, m, options)) continue;
        any = true;
        if (c->state == GroupState::Zombie && (options & kWexited)) {
            const int signo = c->wait_status & 0x7f;
            out = {c->tgid, signo ? 2 : 1, signo ? signo : (c->wait_status >> 8) & 0xff, c->wait_status};
            if (!(options & kWnowait)) {
                c->state = GroupState::Reaped;
                const int tgid = c->tgid;
                std::erase_if(self.children, [&](const std::weak_ptr<ThreadGroup>& x) {
                    auto g = x.lock();
                    return !g || g->tgid == tgid;
                });
                p.forget_group(tgid);
            }
            return out.pid;
        }
        if (c->state == GroupState::Alive && c->stop_report && (options & kWuntraced)) {
            out = {c->tgid, 5, c->stop_signal, (c->stop_signal << 8) | 0x7f};
            if (!(options & kWnowait)) c->stop_report = false;
            return out.pid;
        }
        if (c->state == GroupState::Alive && c->continue_report && (options & kWcontinued)) {
            out = {c->tgid, 6, 18, 0xffff};
            if (!(options & kWnowait)) c->continue_report = false;
            return out.pid;
        }
    }
    return any ? 0 : err(ECHILD);
}

std::int64_t wait_common(Process& p, const WaitMatch& m, int options, WaitResult& out) {
    const std::int64_t r = scan_children(p, m, options, out);
    if (r != 0 || (options & kWnohang)) return r;
    BlockState b;
    Process* pp = &p;
    std::weak_ptr<ThreadGroup> self = p.current()->group;
    b.ready = [pp, self, m, options] {
        auto g = self.lock();
        if (!g) return true;
        bool any = false;
        for (auto& w : g->children) {
            auto c = w.lock();
            if (!c || c->state == GroupState::Reaped || !matches(*c, m, options)) continue;
            any = true;
            if ((c->state == GroupState::Zombie && (options & kWexited)) ||
                (c->stop_report && (options & kWuntraced)) || (c->continue_report && (options & kWcontinued)))
                return true;
        }
        (void)pp;
        return !any;  // the last child went (auto-reaped): the call ends with ECHILD
    };
    return p.block(std::move(b));
}

std::int64_t do_wait4(Process& p, std::int64_t pid, std::uint64_t status_addr, int options,
                      std::uint64_t rusage) {
    if (options & ~(kWnohang | kWuntraced | kWcontinued | kWnothread | kWall | kWclone)) return err(EINVAL);
    if (pid == INT_MIN) return err(ESRCH);
    WaitMatch m;
    if (pid > 0) m = {WaitMatch::Kind::Pid, static_cast<int>(pid)};
    else if (pid == 0) m = {WaitMatch::Kind::Pgid, p.group().pgid};
    else if (pid < -1) m = {WaitMatch::Kind::Pgid, static_cast<int>(-pid)};
    WaitResult out;
    const std::int64_t r = wait_common(p, m, options | kWexited, out);
    if (r <= 0) return r;
    if (status_addr && put(p, status_addr, out.wstatus) != 0) return err(EFAULT);
    if (rusage) {
        const std::array<std::uint8_t, 144> zero{};
        if (put(p, rusage, zero) != 0) return err(EFAULT);
    }
    return r;
}

std::int64_t do_waitid(Process& p, int idtype, std::int64_t id, std::uint64_t info_addr, int options,
                       std::uint64_t rusage) {
    if (options & ~(kWnohang | kWuntraced | kWexited | kWcontinued | kWnowait | kWnothread | kWall | kWclone))
        return err(EINVAL);
    if (!(options & (kWexited | kWuntraced | kWcontinued))) return err(EINVAL);
    WaitMatch m;
    switch (idtype) {
    case 0: break;  // P_ALL
    case 1:         // P_PID
        if (id <= 0) return err(EINVAL);
        m = {WaitMatch::Kind::Pid, static_cast<int>(id)};
        break;
    case 2:  // P_PGID
        if (id < 0) return err(EINVAL);
        m = {WaitMatch::Kind::Pgid, id ? static_cast<int>(id) : p.group().pgid};
        break;
    case 3: {  // P_PIDFD
        auto f = p.files().get(static_cast<int>(id));
        if (!f) return err(EBADF);
        if (f->kind != GuestFile::Kind::Pidfd) return err(EINVAL);
        m = {WaitMatch::Kind::Pid, f->pid};
        if (f->nonblocking) options |= kWnohang;
        break;
    }
    default: return err(EINVAL);
    }
    WaitResult out;
    const std::int64_t r = wait_common(p, m, options, out);
    if (r < 0 || r == kBlock) return r;
    if (info_addr) {
        std::array<std::uint8_t, 128> k{};
        if (r > 0) {
            SigInfo info;
            info.signo = kSigchld;
            info.code = out.code;
            info.pid = out.pid;
            info.uid = static_cast<int>(::getuid());
            info.status = out.status;
            info.from_kill = true;
            k = encode_siginfo(info);
        }
        if (put(p, info_addr, k) != 0) return err(EFAULT);
    }
    if (rusage) {
        const std::array<std::uint8_t, 144> zero{};
        if (put(p, rusage, zero) != 0) return err(EFAULT);
    }
    return 0;
}

// --- signals between tasks ---

SigInfo user_signal(Process& p, int sig, int code) {
    SigInfo info;
    info.signo = sig;
    info.code = code;
    info.pid = p.group().tgid;
    info.uid = static_cast<int>(::getuid());
    info.from_kill = true;
    return info;
}

std::int64_t do_kill(Process& p, std::int64_t pid, int sig, const SigInfo& info) {
    if (sig < 0 || sig > kNsig) return err(EINVAL);
    std::vector<std::shared_ptr<ThreadGroup>> targets;
    if (pid > 0) {
        auto g = p.find_group(static_cast<int>(pid));
        if (!g) {
            if (auto t = p.find_task(static_cast<int>(pid))) g = t->group;
        }
        if (!g || g->state == GroupState::Reaped) return err(ESRCH);
        targets.push_back(g);
    } else {
        if (pid == INT_MIN) return err(ESRCH);
        const int pgid = pid == 0 ? p.group().pgid : static_cast<int>(-pid);
        for (auto& [tgid, g] : p.groups()) {
            if (g->state == GroupState::Reaped) continue;
            if (pid == -1 ? g.get() != &p.group() : g->pgid == pgid) targets.push_back(g);
        }
        if (targets.empty()) return err(ESRCH);
    }
    if (sig == 0) return 0;
    for (auto& g : targets) p.signal_group(*g, info);
    return 0;
}

std::int64_t do_tgkill(Process& p, std::int64_t tgid, std::int64_t tid, int sig) {
    if (tid <= 0 || (tgid != -1 && tgid <= 0)) return err(EINVAL);
    if (sig < 0 || sig > kNsig) return err(EINVAL);
    auto t = p.find_task(static_cast<int>(tid));
    if (!t || (tgid != -1 && t->group->tgid != tgid)) return err(ESRCH);
    if (sig == 0) return 0;
    p.signal_task(*t, user_signal(p, sig, -6));  // SI_TKILL
    return 0;
}

std::int64_t do_sigqueueinfo(Process& p, std::int64_t tgid, std::int64_t tid, int sig, std::uint64_t uinfo) {
    std::array<std::uint8_t, 128> raw;
    if (!p.as().copy_from_user(raw.data(), uinfo, raw.size())) return err(EFAULT);
    std::int32_t code;
    std::memcpy(&code, raw.data() + 8, 4);
    const bool self = tid ? tid == p.task().tid : tgid == p.group().tgid;
    // Only the kernel may claim kernel si_codes (>= 0) or SI_TKILL, except to oneself.
    if ((code >= 0 || code == -6) && !self) return err(EPERM);
    if (sig < 1 || sig > kNsig) return err(EINVAL);
    SigInfo info = user_signal(p, sig, code);
    std::int32_t pid, uid;
    std::memcpy(&pid, raw.data() + 16, 4);
    std::memcpy(&uid, raw.data() + 20, 4);
    info.pid = pid;
    info.uid = uid;
    std::memcpy(&info.value, raw.data() + 24, sizeof info.value);
    if (tid) {
        auto t = p.find_task(static_cast<int>(tid));
        if (!t || t->group->tgid != tgid) return err(ESRCH);
        p.signal_task(*t, info);
        return 0;
    }
    auto g = p.find_group(static_cast<int>(tgid));
    if (!g || g->state != GroupState::Alive) return err(ESRCH);
    p.signal_group(*g, info);
    return 0;
}

// --- pidfds ---

std::int64_t do_pidfd_open(Process& p, std::int64_t pid, std::uint64_t flags) {
    if (flags & ~static_cast<std::uint64_t>(O_NONBLOCK)) return err(EINVAL);
    if (pid <= 0) return err(EINVAL);
    auto g = p.find_group(static_cast<int>(pid));
    if (!g) return p.find_task(static_cast<int>(pid)) ? err(ENOENT) : err(ESRCH);
    if (g->state == GroupState::Reaped) return err(ESRCH);
    auto f = std::make_shared<GuestFile>();
    f->kind = GuestFile::Kind::Pidfd;
    f->pid = g->tgid;
    f->nonblocking = flags & O_NONBLOCK;
    f->path = "anon_inode:[pidfd]";
    return p.files().install(f, 0, true);
}

std::shared_ptr<ThreadGroup> pidfd_group(Process& p, int fd, std::int64_t& error) {
    auto f = p.files().get(fd);
    if (!f) {
        error = err(EBADF);
        return nullptr;
    }
    if (f->kind != GuestFile::Kind::Pidfd) {
        error = err(EBADF);
        return nullptr;
    }
    auto g = p.find_group(f->pid);
    if (!g || g->state != GroupState::Alive) {
        error = err(ESRCH);
        return nullptr;
    }
    return g;
}

// --- process groups and sessions ---

std::int64_t do_setpgid(Process& p, std::int64_t pid, std::int64_t pgid) {
    if (pgid < 0) return err(EINVAL);
    ThreadGroup& self = p.group();
    std::shared_ptr<ThreadGroup> target = pid == 0 ? p.find_group(self.tgid) : p.find_group(static_cast<int>(pid));
    if (!target || target->state != GroupState::Alive) return err(ESRCH);
    if (target.get() != &self && target->parent.lock().get() != &self) return err(ESRCH);
    if (target->tgid == target->sid) return err(EPERM);  // a session leader
    if (target->sid != self.sid) return err(EPERM);
    const int new_pgid = pgid ? static_cast<int>(pgid) : target->tgid;
    if (new_pgid != target->tgid) {
        bool exists = false;
        for (auto& [tgid, g] : p.groups())
            if (g->state == GroupState::Alive && g->pgid == new_pgid && g->sid == self.sid) exists = true;
        if (!exists) return err(EPERM);
    }
    target->pgid = new_pgid;
    return 0;
}

std::int64_t group_id_of(Process& p, std::int64_t pid, bool session) {
    auto g = pid == 0 ? p.find_group(p.group().tgid) : p.find_group(static_cast<int>(pid));
    if (!g && pid) {
        if (auto t = p.find_task(static_cast<int>(pid))) g = t->group;
    }
    if (!g || g->state == GroupState::Reaped) return err(ESRCH);
    return session ? g->sid : g->pgid;
}

}  // namespace

std::optional<std::int64_t> task_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_getpid: return p.group().tgid;
    case SYS_gettid: return p.task().tid;
    case SYS_getppid: {
        auto parent = p.group().parent.lock();
        return parent ? parent->tgid : ::getppid();
    }
    case SYS_getpgrp: return p.group().pgid;
    case SYS_getpgid: return group_id_of(p, static_cast<std::int32_t>(a[0]), false);
    case SYS_getsid: return group_id_of(p, static_cast<std::int32_t>(a[0]), true);
    case SYS_setpgid: return do_setpgid(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]));
    case SYS_setsid: {
        ThreadGroup& g = p.group();
        for (auto& [tgid, other] : p.groups())
            if (other->state != GroupState::Reaped && other->pgid == g.tgid) return err(EPERM);
        g.sid = g.pgid = g.tgid;
        return g.sid;
    }
    case SYS_set_tid_address: p.task().clear_child_tid = a[0]; return p.task().tid;
    case SYS_set_robust_list:
        if (a[1] != 24) return err(EINVAL);
        p.task().robust_list = a[0];
        return 0;
    case SYS_get_robust_list: {
        auto t = a[0] ? p.find_task(static_cast<int>(a[0])) : p.current();
        if (!t) return err(ESRCH);
        if (put(p, a[1], t->robust_list) != 0) return err(EFAULT);
        const std::uint64_t len = 24;
        return put(p, a[2], len);
    }
    case SYS_exit: p.exit_thread(static_cast<int>(a[0] & 0xff)); return kNoReturn;
    case SYS_exit_group: p.exit_group(static_cast<int>(a[0] & 0xff)); return kNoReturn;
    case SYS_fork: return do_clone(p, CloneRequest{0, kSigchld});
    case SYS_vfork: return do_clone(p, CloneRequest{kCloneVm | kCloneVfork, kSigchld});
    case SYS_clone: {
        // x86-64 order: flags, stack, parent_tid, child_tid, tls.
        CloneRequest r;
        r.flags = a[0] & ~0xffull;
        r.exit_signal = static_cast<int>(a[0] & 0xff);
        r.stack = a[1];
        r.parent_tid = a[2];
        r.child_tid = a[3];
        r.tls = a[4];
        r.pidfd_out = a[2];
        if ((r.flags & kClonePidfd) && (r.flags & kCloneParentSettid)) return err(EINVAL);
        if (r.flags & kCloneClearSighand) return err(EINVAL);
        return do_clone(p, r);
    }
    case SYS_clone3: return do_clone3(p, a[0], a[1]);
    case SYS_execve: return do_execve(p, AT_FDCWD, a[0], a[1], a[2], 0);
    case SYS_execveat: return do_execve(p, static_cast<int>(a[0]), a[1], a[2], a[3], static_cast<int>(a[4]));
    case SYS_wait4: return do_wait4(p, static_cast<std::int32_t>(a[0]), a[1], static_cast<int>(a[2]), a[3]);
    case SYS_waitid:
        return do_waitid(p, static_cast<int>(a[0]), static_cast<std::int32_t>(a[1]), a[2],
                         static_cast<int>(a[3]), a[4]);
    case SYS_kill: {
        const int sig = static_cast<int>(a[1]);
        return do_kill(p, static_cast<std::int32_t>(a[0]), sig, user_signal(p, sig, 0));
    }
    case SYS_tkill: return do_tgkill(p, -1, static_cast<std::int32_t>(a[0]), static_cast<int>(a[1]));
    case SYS_tgkill:
        return do_tgkill(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]), static_cast<int>(a[2]));
    case SYS_rt_sigqueueinfo:
        return do_sigqueueinfo(p, static_cast<std::int32_t>(a[0]), 0, static_cast<int>(a[1]), a[2]);
    case SYS_rt_tgsigqueueinfo:
        return do_sigqueueinfo(p, static_cast<std::int32_t>(a[0]), static_cast<std::int32_t>(a[1]),
                               static_cast<int>(a[2]), a[3]);
    case SYS_pidfd_open: return do_pidfd_open(p, static_cast<std::int32_t>(a[0]), a[1]);
    case SYS_pidfd_send_signal: {
        std::int64_t e = 0;
        if (a[3]) return err(EINVAL);
        const int sig = static_cast<int>(a[1]);
        if (sig < 0 || sig > kNsig) return err(EINVAL);
        auto g = pidfd_group(p, static_cast<int>(a[0]), e);
        if (!g) return e;
        if (sig == 0) return 0;
        p.signal_group(*g, user_signal(p, sig, 0));
        return 0;
    }
    case SYS_pidfd_getfd: {
        std::int64_t e = 0;
        if (a[2]) return err(EINVAL);
        auto g = pidfd_group(p, static_cast<int>(a[0]), e);
        if (!g) return e;
        for (auto& w : g->threads)
            if (auto t = w.lock(); t && t->alive() && t->files) {
                auto f = t->files->get(static_cast<int>(a[1]));
                if (!f) return err(EBADF);
                return p.files().install(f, 0, true);
            }
        return err(ESRCH);
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
