// wait4 and waitid: zombies reaped, stops and continues reported, WNOHANG/WNOWAIT/__WALL/
// __WCLONE, P_PID/P_PGID/P_ALL/P_PIDFD; a wait with nothing to report yet blocks the task.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

constexpr int kSigchld = 17;

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
                // The waited-for child's CPU time, its own children's included, becomes part of
                // the parent's RUSAGE_CHILDREN (a child reaped without a wait does not count).
                const CpuTimes own = c->own_times();
                self.waited_children.user_ns += own.user_ns + c->waited_children.user_ns;
                self.waited_children.system_ns += own.system_ns + c->waited_children.system_ns;
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

}  // namespace

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
        if (f->kind != GuestFile::Kind::Pidfd) return err(EBADF);
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

}  // namespace emu::sys
