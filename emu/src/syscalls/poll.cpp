// Waiting on descriptors: poll, ppoll, select, pselect6 over host descriptors (pipes, terminals,
// sockets, eventfds), pidfds (readable once the process has exited), signalfds and epoll
// descriptors; a call that must wait blocks its task, never mmuemu.
#include <poll.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <climits>
#include <cstring>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

short poll_events(Process& p, int fd, short requested) {
    auto f = p.files().get(fd);
    if (!f) return POLLNVAL;
    const short always = POLLERR | POLLHUP | POLLNVAL;
    switch (f->kind) {
    case GuestFile::Kind::Pidfd: {
        // Readable once the process has exited; hung up as well once it has been reaped.
        auto g = p.find_group(f->pid);
        if (!g || g->state == GroupState::Reaped) return static_cast<short>((POLLIN & requested) | POLLHUP);
        return g->state != GroupState::Alive ? static_cast<short>(POLLIN & requested) : 0;
    }
    case GuestFile::Kind::Signalfd:
        return (p.signals().pending & f->sigmask) ? static_cast<short>(POLLIN & requested) : 0;
    case GuestFile::Kind::Epoll: return epoll_poll_events(p, *f, requested);
    case GuestFile::Kind::Userfaultfd:
        return static_cast<short>(userfaultfd_poll_events(*f) & (requested | always));
    case GuestFile::Kind::Generated:
    case GuestFile::Kind::Memfd:
        return static_cast<short>((POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM) & requested);
    case GuestFile::Kind::Host: break;
    }
    if (f->host_fd < 0) return static_cast<short>((POLLIN | POLLOUT) & requested);
    pollfd pfd{f->host_fd, requested, 0};
    if (::poll(&pfd, 1, 0) < 0) return POLLERR;
    return static_cast<short>(pfd.revents & (requested | always));
}

namespace {

struct KernelTimespec {
    std::int64_t sec, nsec;
};

// The host descriptors behind `fds`, for the scheduler's idle poll.
std::vector<pollfd> host_fds_of(Process& p, const std::vector<pollfd>& fds) {
    std::vector<pollfd> out;
    for (const pollfd& q : fds) {
        auto f = p.files().get(q.fd);
        if (f && f->kind == GuestFile::Kind::Host && f->host_fd >= 0) out.push_back({f->host_fd, q.events, 0});
    }
    return out;
}

// One pass over the descriptors; returns how many have events.
int scan(Process& p, std::vector<pollfd>& fds) {
    int n = 0;
    for (pollfd& q : fds) {
        q.revents = q.fd < 0 ? 0 : poll_events(p, q.fd, static_cast<short>(q.events | POLLERR | POLLHUP));
        if (q.revents) ++n;
    }
    return n;
}

// Waits until some descriptor is ready, the deadline passes or a signal arrives.
std::int64_t wait_for(Process& p, std::vector<pollfd>& fds, std::optional<std::uint64_t> deadline,
                      int& ready) {
    Task& t = p.task();
    if (t.block.retry) deadline = t.block.deadline_ns;
    ready = scan(p, fds);
    if (ready) return 0;
    if (deadline && monotonic_ns() >= *deadline) return 0;
    BlockState b;
    b.deadline_ns = deadline;
    b.host_fds = host_fds_of(p, fds);
    Process* pp = &p;
    std::weak_ptr<Task> self = p.current();
    auto copy = fds;
    b.ready = [pp, self, copy]() mutable {
        auto task = self.lock();
        if (!task || task != pp->current()) {
            // Readiness of host descriptors, pidfds and epoll needs no CPU; check the host ones.
            for (const pollfd& q : copy) {
                auto f = task && task->files ? task->files->get(q.fd) : nullptr;
                if (!f) return true;
                if (f->kind == GuestFile::Kind::Pidfd) {
                    auto g = pp->find_group(f->pid);
                    if (!g || g->state != GroupState::Alive) return true;
                } else if (f->kind == GuestFile::Kind::Signalfd) {
                    if (task->signals.pending & f->sigmask) return true;
                } else if (f->kind == GuestFile::Kind::Host && f->host_fd >= 0) {
                    pollfd h{f->host_fd, q.events, 0};
                    if (::poll(&h, 1, 0) > 0) return true;
                } else if (f->kind == GuestFile::Kind::Userfaultfd) {
                    if (userfaultfd_poll_events(*f) & (q.events | POLLERR)) return true;
                } else if (f->kind == GuestFile::Kind::Epoll) {
                    return true;  // re-checked by running the call again
                }
            }
            return false;
        }
        return scan(*pp, copy) > 0;
    };
    return p.block(std::move(b));
}

std::optional<std::uint64_t> deadline_from(const KernelTimespec& ts) {
    return monotonic_ns() + static_cast<std::uint64_t>(ts.sec) * 1000000000ull + static_cast<std::uint64_t>(ts.nsec);
}

std::int64_t do_poll(Process& p, std::uint64_t fds_addr, std::uint64_t nfds,
                     std::optional<std::uint64_t> deadline) {
    // More descriptors than RLIMIT_NOFILE allows is EINVAL, before the array is read.
    if (nfds > p.group().rlimits[RLIMIT_NOFILE].first || nfds > 1024 * 1024) return err(EINVAL);
    std::vector<pollfd> fds(nfds);
    if (nfds && !p.as().copy_from_user(fds.data(), fds_addr, nfds * sizeof(pollfd))) return err(EFAULT);
    int ready = 0;
    const std::int64_t r = wait_for(p, fds, deadline, ready);
    if (r) return r;
    for (std::size_t i = 0; i < fds.size(); ++i)
        if (!p.as().copy_to_user(fds_addr + i * sizeof(pollfd) + offsetof(pollfd, revents), &fds[i].revents,
                                 sizeof fds[i].revents))
            return err(EFAULT);
    return ready;
}

std::int64_t do_select(Process& p, int n, std::uint64_t rd, std::uint64_t wr, std::uint64_t ex,
                       std::optional<std::uint64_t> deadline) {
    if (n < 0) return err(EINVAL);
    n = std::min(n, 1024 * 1024);
    const std::size_t bytes = (static_cast<std::size_t>(n) + 63) / 64 * 8;
    std::vector<std::uint64_t> sets[3];
    const std::uint64_t addrs[3] = {rd, wr, ex};
    for (int k = 0; k < 3; ++k) {
        sets[k].assign(bytes / 8, 0);
        if (addrs[k] && bytes && !p.as().copy_from_user(sets[k].data(), addrs[k], bytes)) return err(EFAULT);
    }
    std::vector<pollfd> fds;
    for (int fd = 0; fd < n; ++fd) {
        short ev = 0;
        const auto bit = [&](int k) { return (sets[k][static_cast<std::size_t>(fd / 64)] >> (fd % 64)) & 1; };
        if (bit(0)) ev |= POLLIN;
        if (bit(1)) ev |= POLLOUT;
        if (bit(2)) ev |= POLLPRI;
        if (!ev) continue;
        if (!p.files().get(fd)) return err(EBADF);
        fds.push_back({fd, ev, 0});
    }
    int ready = 0;
    const std::int64_t r = wait_for(p, fds, deadline, ready);
    if (r) return r;
    for (auto& s : sets) std::fill(s.begin(), s.end(), 0);
    int count = 0;
    for (const pollfd& q : fds) {
        const auto set = [&](int k) {
            sets[k][static_cast<std::size_t>(q.fd / 64)] |= 1ull << (q.fd % 64);
            ++count;
        };
        if ((q.events & POLLIN) && (q.revents & (POLLIN | POLLHUP | POLLERR))) set(0);
        if ((q.events & POLLOUT) && (q.revents & (POLLOUT | POLLERR))) set(1);
        if ((q.events & POLLPRI) && (q.revents & POLLPRI)) set(2);
    }
    for (int k = 0; k < 3; ++k)
        if (addrs[k] && bytes && !p.as().copy_to_user(addrs[k], sets[k].data(), bytes)) return err(EFAULT);
    return count;
}

}  // namespace

std::int64_t set_temporary_mask(Process& p, std::uint64_t mask_addr, std::uint64_t size) {
    Task& t = p.task();
    if (!mask_addr || t.block.retry) return 0;
    if (size != 8) return err(EINVAL);
    std::uint64_t mask;
    if (!p.as().copy_from_user(&mask, mask_addr, 8)) return err(EFAULT);
    t.saved_mask = t.signals.blocked;
    t.signals.blocked = mask & ~kUnblockable;
    return 0;
}

void restore_temporary_mask(Process& p, std::int64_t result) {
    Task& t = p.task();
    // After EINTR the handler's frame saves the old mask (delivery restores it); otherwise now.
    if (t.saved_mask && result != err(EINTR) && result != kBlock) {
        t.signals.blocked = *t.saved_mask;
        t.saved_mask.reset();
    }
}

std::optional<std::int64_t> poll_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_poll: {
        const int timeout = static_cast<int>(a[2]);
        std::optional<std::uint64_t> deadline;
        if (timeout >= 0) deadline = monotonic_ns() + static_cast<std::uint64_t>(timeout) * 1000000ull;
        return do_poll(p, a[0], a[1], deadline);
    }
    case SYS_ppoll: {
        std::optional<std::uint64_t> deadline;
        if (a[2]) {
            KernelTimespec ts;
            if (!p.as().copy_from_user(&ts, a[2], sizeof ts)) return err(EFAULT);
            if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000) return err(EINVAL);
            deadline = deadline_from(ts);
        }
        if (const std::int64_t e = set_temporary_mask(p, a[3], a[4])) return e;
        const std::int64_t r = do_poll(p, a[0], a[1], deadline);
        restore_temporary_mask(p, r);
        return r;
    }
    case SYS_select:
    case SYS_pselect6: {
        std::optional<std::uint64_t> deadline;
        const bool pselect = s.nr == SYS_pselect6;
        if (a[4]) {
            KernelTimespec ts;
            if (!p.as().copy_from_user(&ts, a[4], sizeof ts)) return err(EFAULT);
            if (!pselect) ts.nsec *= 1000;  // struct timeval
            if (ts.sec < 0 || ts.nsec < 0 || ts.nsec >= 1000000000) return err(EINVAL);
            deadline = deadline_from(ts);
            if (p.task().block.retry) deadline = p.task().block.deadline_ns;
        }
        if (pselect && a[5]) {
            struct {
                std::uint64_t mask, size;
            } sig{};
            if (!p.as().copy_from_user(&sig, a[5], sizeof sig)) return err(EFAULT);
            if (const std::int64_t e = set_temporary_mask(p, sig.mask, sig.size)) return e;
        }
        const std::int64_t r = do_select(p, static_cast<int>(a[0]), a[1], a[2], a[3], deadline);
        restore_temporary_mask(p, r);
        // Linux writes back the time that was left (select: timeval, pselect6: timespec).
        if (a[4] && r >= 0 && r != kBlock && deadline) {
            const std::uint64_t now = monotonic_ns(), left = *deadline > now ? *deadline - now : 0;
            const std::int64_t frac = static_cast<std::int64_t>(left % 1000000000ull);
            const KernelTimespec tv{static_cast<std::int64_t>(left / 1000000000ull), pselect ? frac : frac / 1000};
            (void)put(p, a[4], tv);
        }
        return r;
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
