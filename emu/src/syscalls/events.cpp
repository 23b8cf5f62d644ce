// eventfd2, signalfd4 and epoll. An eventfd is a host eventfd (non-blocking on the host: the
// read/write paths block the task, never mmuemu). A signalfd reads the task's pending signals.
// An epoll keeps its interest list here; interests on host descriptors are also registered in a
// host epoll instance (its descriptor is the GuestFile's host_fd), which gives Linux's exact
// level/edge/one-shot behaviour for them; the other kinds (signalfd, pidfd, nested epoll,
// generated files) are scanned by the emulator.
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

static_assert(sizeof(signalfd_siginfo) == 128);
constexpr std::uint32_t kEpollFlags = EPOLLET | EPOLLONESHOT | EPOLLWAKEUP | EPOLLEXCLUSIVE;
constexpr std::uint32_t kAlways = EPOLLERR | EPOLLHUP;  // reported whether asked for or not

struct Interest {
    int fd;                         // Linux keys an interest by (open file, descriptor number)
    std::weak_ptr<GuestFile> file;  // dropped once the open file is closed everywhere
    std::uint32_t events;
    std::uint64_t data;
    std::uint64_t key;              // its data on the host epoll
    bool on_host = false;           // the host epoll watches it
    bool armed = true;              // EPOLLONESHOT: off after one report, until EPOLL_CTL_MOD
    bool was_ready = false;         // EPOLLET: reported since it was last seen not ready
};

struct EpollState {
    std::vector<Interest> interests;
    std::uint64_t next_key = 1;
};

EpollState& state_of(GuestFile& f) { return *static_cast<EpollState*>(f.object.get()); }

// The events of an open file as seen by task `t` (a signalfd reads the task's own signals).
std::uint32_t file_events(Process& p, Task& t, GuestFile& f, std::uint32_t requested, int depth = 0);

std::uint32_t epoll_ready(Process& p, Task& t, GuestFile& ep, int depth) {
    // Nesting is limited (Linux: EPOLL_MAX_NESTS) and loops are refused at EPOLL_CTL_ADD.
    if (depth > 5) return 0;
    pollfd h{ep.host_fd, POLLIN, 0};
    if (::poll(&h, 1, 0) > 0) return EPOLLIN;
    for (Interest& i : state_of(ep).interests) {
        auto f = i.file.lock();
        if (!f || i.on_host || !i.armed) continue;
        const std::uint32_t ev = file_events(p, t, *f, (i.events & ~kEpollFlags) | kAlways, depth + 1);
        if (ev && !((i.events & EPOLLET) && i.was_ready)) return EPOLLIN;
    }
    return 0;
}

std::uint32_t file_events(Process& p, Task& t, GuestFile& f, std::uint32_t requested, int depth) {
    switch (f.kind) {
    case GuestFile::Kind::Pidfd: {
        auto g = p.find_group(f.pid);
        return (!g || g->state != GroupState::Alive) ? (EPOLLIN & requested) : 0;
    }
    case GuestFile::Kind::Signalfd: return (t.signals.pending & f.sigmask) ? (EPOLLIN & requested) : 0;
    case GuestFile::Kind::Epoll: return epoll_ready(p, t, f, depth) & requested;
    case GuestFile::Kind::Userfaultfd:
        return static_cast<std::uint16_t>(userfaultfd_poll_events(f)) & (requested | kAlways);
    case GuestFile::Kind::Generated:
    case GuestFile::Kind::Memfd:
        return (EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM) & requested;
    case GuestFile::Kind::Host: break;
    }
    if (f.host_fd < 0) return (EPOLLIN | EPOLLOUT) & requested;
    pollfd h{f.host_fd, static_cast<short>(requested & 0xffff), 0};
    if (::poll(&h, 1, 0) < 0) return EPOLLERR;
    return static_cast<std::uint16_t>(h.revents) & (requested | kAlways);
}

// Does epoll file `target` (transitively) watch `ep`? Adding it then would make a loop (ELOOP).
bool watches(const GuestFile& target, const GuestFile& ep, int depth = 0) {
    if (&target == &ep) return true;
    if (depth > 5 || target.kind != GuestFile::Kind::Epoll) return false;
    for (const Interest& i : static_cast<EpollState*>(target.object.get())->interests)
        if (auto f = i.file.lock(); f && watches(*f, ep, depth + 1)) return true;
    return false;
}

// --- eventfd ---

std::int64_t do_eventfd(Process& p, unsigned initval, int flags) {
    // Linux: only EFD_CLOEXEC, EFD_NONBLOCK and EFD_SEMAPHORE.
    if (flags & ~(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) return err(EINVAL);
    const int fd = ::eventfd(initval, EFD_CLOEXEC | EFD_NONBLOCK | (flags & EFD_SEMAPHORE));
    if (fd < 0) return err(errno);
    auto f = std::make_shared<GuestFile>();
    f->host_fd = fd;
    f->host_nonblocking = true;
    f->nonblocking = flags & EFD_NONBLOCK;
    f->path = "anon_inode:[eventfd]";
    return install_fd(p, f, 0, flags & EFD_CLOEXEC);
}

// --- signalfd ---

std::int64_t do_signalfd(Process& p, int fd, std::uint64_t mask_addr, std::uint64_t sizemask, int flags) {
    if (sizemask != 8) return err(EINVAL);  // sizeof(sigset_t), checked first
    std::uint64_t mask;
    if (!p.as().copy_from_user(&mask, mask_addr, 8)) return err(EFAULT);
    if (flags & ~(SFD_CLOEXEC | SFD_NONBLOCK)) return err(EINVAL);
    mask &= ~kUnblockable;  // SIGKILL and SIGSTOP are never read through a signalfd
    if (fd == -1) {
        auto f = std::make_shared<GuestFile>();
        f->kind = GuestFile::Kind::Signalfd;
        f->sigmask = mask;
        f->nonblocking = flags & SFD_NONBLOCK;
        f->path = "anon_inode:[signalfd]";
        return install_fd(p, f, 0, flags & SFD_CLOEXEC);
    }
    auto f = p.files().get(fd);
    if (!f) return err(EBADF);
    if (f->kind != GuestFile::Kind::Signalfd) return err(EINVAL);  // not a signalfd
    f->sigmask = mask;  // the flags are ignored when updating
    return fd;
}

// struct signalfd_siginfo with the fields Linux copies for the signal's siginfo layout.
signalfd_siginfo to_ssi(const SigInfo& in) {
    signalfd_siginfo o{};
    o.ssi_signo = static_cast<std::uint32_t>(in.signo);
    o.ssi_code = in.code;
    const bool fault = in.code > 0 && in.code < 0x80 &&
                       (in.signo == 4 || in.signo == 5 || in.signo == 7 || in.signo == 8 || in.signo == 11);
    if (in.timer) {  // SIL_TIMER: the timer id and its overruns, and the sigev_value
        o.ssi_tid = static_cast<std::uint32_t>(in.pid);
        o.ssi_overrun = static_cast<std::uint32_t>(in.uid);
        o.ssi_int = static_cast<std::int32_t>(in.value);
        o.ssi_ptr = in.value;
    } else if (fault) {
        o.ssi_addr = in.addr;  // SIL_FAULT
    } else {
        o.ssi_pid = static_cast<std::uint32_t>(in.pid);  // SIL_KILL, SIL_RT, SIL_CHLD
        o.ssi_uid = static_cast<std::uint32_t>(in.uid);
        if (in.signo == 17 && in.code > 0) o.ssi_status = in.status;
        if (in.code < 0) {  // SI_QUEUE and other user codes carry a sigval
            o.ssi_int = static_cast<std::int32_t>(in.value);
            o.ssi_ptr = in.value;
        }
    }
    return o;
}

std::int64_t read_signalfd(Process& p, const std::shared_ptr<GuestFile>& fp, std::uint64_t buf, std::uint64_t count) {
    GuestFile& f = *fp;
    const std::uint64_t n = count / sizeof(signalfd_siginfo);
    if (n == 0) return err(EINVAL);  // room for not even one signalfd_siginfo
    SignalState& s = p.signals();
    if (!(s.pending & f.sigmask)) {
        if (f.nonblocking) return err(EAGAIN);
        if (p.signal_interrupts()) return err(EINTR);  // a signal is checked before sleeping
        // Only the first signal is waited for; the task wakes when one in the mask is pending.
        BlockState b;
        std::weak_ptr<Task> self = p.current();
        std::weak_ptr<GuestFile> file = fp;  // its mask may be changed by signalfd4 meanwhile
        b.ready = [self, file] {
            auto t = self.lock();
            auto sfd = file.lock();
            return !t || !sfd || (t->signals.pending & sfd->sigmask);
        };
        return p.block(std::move(b));
    }
    std::uint64_t done = 0;
    while (done < n && (s.pending & f.sigmask)) {
        const int sig = __builtin_ctzll(s.pending & f.sigmask) + 1;
        SigInfo info = s.take(sig);
        p.timer_signal_taken(info);
        // As Linux: the signal is dequeued before the copy, so a bad buffer loses it.
        const signalfd_siginfo o = to_ssi(info);
        if (!p.as().copy_to_user(buf + done * 128, &o, sizeof o)) break;
        ++done;
    }
    if (done == 0) return err(EFAULT);
    return static_cast<std::int64_t>(done * 128);
}

// --- epoll ---

std::int64_t do_epoll_create(Process& p, int flags) {
    if (flags & ~EPOLL_CLOEXEC) return err(EINVAL);  // only EPOLL_CLOEXEC
    const int host = ::epoll_create1(EPOLL_CLOEXEC);
    if (host < 0) return err(errno);
    auto f = std::make_shared<GuestFile>();
    f->kind = GuestFile::Kind::Epoll;
    f->host_fd = host;  // closed with the GuestFile
    f->object = std::make_shared<EpollState>();
    f->path = "anon_inode:[eventpoll]";
    return install_fd(p, f, 0, flags & EPOLL_CLOEXEC);
}

bool can_poll(const GuestFile& f) {
    // Regular files, directories and generated /proc files have no poll method: EPERM.
    if (f.kind == GuestFile::Kind::Generated) return false;
    if (f.kind != GuestFile::Kind::Host || f.host_fd < 0) return true;
    struct stat st;
    return ::fstat(f.host_fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode));
}

std::int64_t do_epoll_ctl(Process& p, int epfd, int op, int fd, std::uint64_t event_addr) {
    epoll_event ev{};
    // The event is read first (not for EPOLL_CTL_DEL): EFAULT before any descriptor check.
    if (op != EPOLL_CTL_DEL && !p.as().copy_from_user(&ev, event_addr, sizeof ev)) return err(EFAULT);
    auto ep = p.files().get(epfd);
    auto target = p.files().get(fd);
    if (!ep || !target) return err(EBADF);
    if (!can_poll(*target)) return err(EPERM);
    // The epoll may not watch itself, and epfd must be an epoll.
    if (ep == target || ep->kind != GuestFile::Kind::Epoll) return err(EINVAL);
    // EPOLLEXCLUSIVE: only with ADD, only with EPOLLIN/OUT/ERR/HUP/WAKEUP/ET, not on an epoll.
    if (op != EPOLL_CTL_DEL && (ev.events & EPOLLEXCLUSIVE)) {
        if (op == EPOLL_CTL_MOD) return err(EINVAL);
        if (target->kind == GuestFile::Kind::Epoll) return err(EINVAL);
        if (ev.events & ~(EPOLLEXCLUSIVE | EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET))
            return err(EINVAL);
    }
    EpollState& st = state_of(*ep);
    std::erase_if(st.interests, [](const Interest& i) { return i.file.expired(); });
    auto it = std::find_if(st.interests.begin(), st.interests.end(), [&](const Interest& i) {
        return i.fd == fd && i.file.lock() == target;
    });
    const bool exists = it != st.interests.end();
    // A host descriptor is also registered in the host epoll, which then tracks its edges.
    const bool host = target->kind == GuestFile::Kind::Host && target->host_fd >= 0;
    switch (op) {
    case EPOLL_CTL_ADD: {
        if (exists) return err(EEXIST);
        if (target->kind == GuestFile::Kind::Epoll && watches(*target, *ep)) return err(ELOOP);
        Interest i{fd, target, ev.events, ev.data.u64, st.next_key++};
        if (host) {
            epoll_event h{ev.events, {}};
            h.data.u64 = i.key;
            if (::epoll_ctl(ep->host_fd, EPOLL_CTL_ADD, target->host_fd, &h) == 0)
                i.on_host = true;
            else if (errno != EEXIST)  // EEXIST: a dup already watched on the host: scan it
                return err(errno);
        }
        st.interests.push_back(i);
        return 0;
    }
    case EPOLL_CTL_MOD: {
        if (!exists) return err(ENOENT);
        if (it->events & EPOLLEXCLUSIVE) return err(EINVAL);  // exclusive interests cannot change
        if (it->on_host) {
            epoll_event h{ev.events, {}};
            h.data.u64 = it->key;
            if (::epoll_ctl(ep->host_fd, EPOLL_CTL_MOD, target->host_fd, &h) != 0) return err(errno);
        }
        it->events = ev.events;
        it->data = ev.data.u64;
        it->armed = true;  // MOD re-arms an EPOLLONESHOT interest
        it->was_ready = false;
        return 0;
    }
    case EPOLL_CTL_DEL: {
        if (!exists) return err(ENOENT);
        if (it->on_host) ::epoll_ctl(ep->host_fd, EPOLL_CTL_DEL, target->host_fd, nullptr);
        st.interests.erase(it);
        return 0;
    }
    default: return err(EINVAL);
    }
}

// One pass: the host epoll's events first, then the scanned interests. At most `max` events.
std::vector<epoll_event> collect(Process& p, Task& t, GuestFile& ep, int max) {
    EpollState& st = state_of(ep);
    std::vector<epoll_event> out(static_cast<std::size_t>(max));
    int n = ::epoll_wait(ep.host_fd, out.data(), max, 0);
    if (n < 0) n = 0;
    out.resize(static_cast<std::size_t>(n));
    // The host key becomes the guest's data; an unknown key is a host descriptor mmuemu never
    // closes (its own 0, 1, 2) whose guest file is gone: not reported.
    std::erase_if(out, [&](epoll_event& e) {
        auto it = std::find_if(st.interests.begin(), st.interests.end(),
                               [&](const Interest& i) { return i.on_host && i.key == e.data.u64; });
        if (it == st.interests.end() || it->file.expired()) return true;
        e.data.u64 = it->data;
        return false;
    });
    std::vector<Interest> reported;  // level-triggered ones go to the back (Linux's round robin)
    for (auto it = st.interests.begin(); it != st.interests.end();) {
        auto f = it->file.lock();
        if (!f) {
            it = st.interests.erase(it);
            continue;
        }
        if (it->on_host || !it->armed) {
            ++it;
            continue;
        }
        const std::uint32_t ev = file_events(p, t, *f, (it->events & ~kEpollFlags) | kAlways);
        // EPOLLET: reported once per not-ready -> ready change.
        const bool edge_seen = (it->events & EPOLLET) && it->was_ready;
        it->was_ready = ev != 0 && (edge_seen || static_cast<int>(out.size()) < max);
        if (!ev || edge_seen || static_cast<int>(out.size()) >= max) {
            ++it;
            continue;
        }
        epoll_event e{ev, {}};
        e.data.u64 = it->data;
        out.push_back(e);
        if (it->events & EPOLLONESHOT) it->armed = false;
        reported.push_back(*it);
        it = st.interests.erase(it);
    }
    st.interests.insert(st.interests.end(), reported.begin(), reported.end());
    return out;
}

struct EpollEventPacked {  // struct epoll_event on x86-64: packed, 12 bytes
    std::uint32_t events;
    std::uint64_t data;
} __attribute__((packed));
static_assert(sizeof(EpollEventPacked) == 12);

std::int64_t do_epoll_wait(Process& p, int epfd, std::uint64_t events_addr, int maxevents,
                           std::optional<std::uint64_t> deadline) {
    // Linux: EINVAL for maxevents <= 0 or above EP_MAX_EVENTS, before the descriptor checks.
    if (maxevents <= 0 || maxevents > INT_MAX / 12) return err(EINVAL);
    // access_ok: the whole array must lie in user space (it is not written unless events come).
    const std::uint64_t bytes = static_cast<std::uint64_t>(maxevents) * 12;
    if (events_addr >= kTaskSize || bytes > kTaskSize - events_addr) return err(EFAULT);
    auto ep = p.files().get(epfd);
    if (!ep) return err(EBADF);
    if (ep->kind != GuestFile::Kind::Epoll) return err(EINVAL);
    Task& t = p.task();
    if (t.block.retry) deadline = t.block.deadline_ns;
    // Events are taken only as far as the buffer is writable; Linux puts back an event it could
    // not copy and fails with EFAULT when it could copy none.
    const int room = static_cast<int>(writable_prefix(p, events_addr, bytes) / 12);
    if (room == 0 && epoll_ready(p, t, *ep, 0)) return err(EFAULT);
    const auto got = room ? collect(p, t, *ep, room) : std::vector<epoll_event>{};
    if (got.empty()) {
        if (deadline && monotonic_ns() >= *deadline) return 0;
        // Linux checks for a signal before it sleeps: EINTR now (the task never blocks).
        if (p.signal_interrupts()) return err(EINTR);
        BlockState b;
        b.deadline_ns = deadline;
        b.host_fds = {{ep->host_fd, POLLIN, 0}};
        Process* pp = &p;
        std::weak_ptr<Task> self = p.current();
        std::weak_ptr<GuestFile> file = ep;
        b.ready = [pp, self, file] {
            auto task = self.lock();
            auto f = file.lock();
            return !task || !f || epoll_ready(*pp, *task, *f, 0) != 0;
        };
        return p.block(std::move(b));
    }
    for (std::size_t i = 0; i < got.size(); ++i) {
        const EpollEventPacked e{got[i].events, got[i].data.u64};
        if (!p.as().copy_to_user(events_addr + i * 12, &e, sizeof e)) return i ? static_cast<std::int64_t>(i) : err(EFAULT);
    }
    return static_cast<std::int64_t>(got.size());
}

std::optional<std::uint64_t> deadline_ms(int timeout) {
    if (timeout < 0) return std::nullopt;  // wait forever
    return monotonic_ns() + static_cast<std::uint64_t>(timeout) * 1000000ull;
}

}  // namespace

short epoll_poll_events(Process& p, GuestFile& epoll, short requested) {
    return static_cast<short>(epoll_ready(p, p.task(), epoll, 0) & static_cast<std::uint16_t>(requested));
}

std::optional<std::int64_t> event_read_write(Process& p, const SyscallArgs& s) {
    // Only signalfd and epoll descriptors are answered here; the file code does the rest.
    const auto& a = s.a;
    auto f = p.files().get(static_cast<int>(a[0]));
    if (!f || (f->kind != GuestFile::Kind::Signalfd && f->kind != GuestFile::Kind::Epoll)) return std::nullopt;
    // An epoll has no read/write; a signalfd cannot be written.
    if (s.nr == SYS_write || f->kind == GuestFile::Kind::Epoll) return err(EINVAL);
    return read_signalfd(p, f, a[1], a[2]);
}

std::optional<std::int64_t> event_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_eventfd: return do_eventfd(p, static_cast<unsigned>(a[0]), 0);
    case SYS_eventfd2: return do_eventfd(p, static_cast<unsigned>(a[0]), static_cast<int>(a[1]));
    case SYS_signalfd: return do_signalfd(p, static_cast<int>(a[0]), a[1], a[2], 0);
    case SYS_signalfd4: return do_signalfd(p, static_cast<int>(a[0]), a[1], a[2], static_cast<int>(a[3]));
    case SYS_epoll_create:
        if (static_cast<int>(a[0]) <= 0) return err(EINVAL);  // the size hint must be positive
        return do_epoll_create(p, 0);
    case SYS_epoll_create1: return do_epoll_create(p, static_cast<int>(a[0]));
    case SYS_epoll_ctl:
        return do_epoll_ctl(p, static_cast<int>(a[0]), static_cast<int>(a[1]), static_cast<int>(a[2]), a[3]);
    case SYS_epoll_wait:
        return do_epoll_wait(p, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), deadline_ms(static_cast<int>(a[3])));
    case SYS_epoll_pwait:
    case SYS_epoll_pwait2: {
        std::optional<std::uint64_t> deadline;
        if (s.nr == SYS_epoll_pwait) {
            deadline = deadline_ms(static_cast<int>(a[3]));
        } else if (a[3] && !p.task().block.retry) {
            // epoll_pwait2: a timespec (NULL: forever), read and validated before the mask.
            struct {
                std::int64_t sec, nsec;
            } ts;
            if (!p.as().copy_from_user(&ts, a[3], sizeof ts)) return err(EFAULT);
            if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000) return err(EINVAL);
            deadline = monotonic_ns() + static_cast<std::uint64_t>(ts.sec) * 1000000000ull +
                       static_cast<std::uint64_t>(ts.nsec);
        }
        if (const std::int64_t e = set_temporary_mask(p, a[4], a[5])) return e;
        const std::int64_t r = do_epoll_wait(p, static_cast<int>(a[0]), a[1], static_cast<int>(a[2]), deadline);
        restore_temporary_mask(p, r);
        return r;
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
