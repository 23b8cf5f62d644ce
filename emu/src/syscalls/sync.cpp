// Waiting and scheduling system calls: futex, rt_sigsuspend, pause, rt_sigtimedwait, sleeps,
// interval timers, sched_yield/affinity, getcpu, membarrier. A call that must wait returns
// Process::block(); it runs again when woken and finds its earlier state in the task's block.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <cstring>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

struct KernelTimespec {
    std::int64_t sec, nsec;
};

bool valid(const KernelTimespec& t) { return t.sec >= 0 && t.nsec >= 0 && t.nsec < 1000000000; }

std::uint64_t to_ns(const KernelTimespec& t) {
    const std::uint64_t sec = static_cast<std::uint64_t>(t.sec);
    if (sec > UINT64_MAX / 1000000000ull / 2) return UINT64_MAX / 2;
    return sec * 1000000000ull + static_cast<std::uint64_t>(t.nsec);
}

std::uint64_t clock_ns(clockid_t clock) {
    timespec ts;
    ::clock_gettime(clock, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// An absolute time on `clock` as a CLOCK_MONOTONIC deadline.
std::uint64_t monotonic_deadline(clockid_t clock, std::uint64_t absolute) {
    if (clock == CLOCK_MONOTONIC) return absolute;
    const std::uint64_t now = clock_ns(clock), mono = monotonic_ns();
    return absolute <= now ? mono : mono + (absolute - now);
}

// --- futex ---

constexpr int kFutexWait = 0, kFutexWake = 1, kFutexRequeue = 3, kFutexCmpRequeue = 4,
              kFutexWakeOp = 5, kFutexWaitBitset = 9, kFutexWakeBitset = 10;
constexpr int kFutexPrivate = 128, kFutexClockRealtime = 256;

std::pair<std::uint64_t, std::uint64_t> key_of(Process& p, std::uint64_t addr, bool is_private) {
    if (is_private) return {reinterpret_cast<std::uintptr_t>(&p.as()), addr};
    return p.futex_key(p.as(), addr);
}

// A futex key: the address must be 4-byte aligned; a shared (non-PRIVATE) key needs the page
// itself (Linux's get_futex_key faults it in: EFAULT when it cannot), a private one does not.
std::int64_t check_key(Process& p, std::uint64_t addr, bool is_private) {
    if (addr & 3) return err(EINVAL);
    std::uint32_t word;
    if (!is_private && !p.as().copy_from_user(&word, addr, 4)) return err(EFAULT);
    return 0;
}

std::int64_t futex_wait(Process& p, std::uint64_t addr, std::uint32_t expected,
                        std::optional<KernelTimespec> timeout, std::uint32_t bitset, bool absolute,
                        bool realtime, bool is_private) {
    Task& t = p.task();
    if (t.block.retry) {  // woken, timed out, or spuriously re-checked
        if (t.block.futex_woken) return 0;
        if (t.block.deadline_ns && monotonic_ns() >= *t.block.deadline_ns) {
            p.futex_dequeue(t);
            return err(ETIMEDOUT);
        }
        BlockState again = t.block;
        return p.block(std::move(again));
    }
    if (bitset == 0) return err(EINVAL);
    if (addr & 3) return err(EINVAL);
    BlockState b;
    if (timeout)
        b.deadline_ns = absolute ? monotonic_deadline(realtime ? CLOCK_REALTIME : CLOCK_MONOTONIC, to_ns(*timeout))
                                 : monotonic_ns() + to_ns(*timeout);
    std::uint32_t value;
    if (!p.as().copy_from_user(&value, addr, 4)) return err(EFAULT);
    if (value != expected) return err(EAGAIN);
    if (b.deadline_ns && monotonic_ns() >= *b.deadline_ns) return err(ETIMEDOUT);
    const auto [ka, kb] = key_of(p, addr, is_private);
    p.futex_enqueue(ka, kb, bitset);
    return p.block(std::move(b));
}

// FUTEX_WAKE_OP's operation on *uaddr2 and its comparison of the old value (futex(2)).
std::int64_t futex_wake_op(Process& p, std::uint64_t addr, int nr_wake, std::uint64_t addr2,
                           int nr_wake2, std::uint32_t encoded, bool is_private) {
    int op = static_cast<int>((encoded >> 28) & 0xf);
    const int cmp = static_cast<int>((encoded >> 24) & 0xf);
    int oparg = static_cast<int>(static_cast<std::int32_t>(encoded << 8) >> 20);
    const int cmparg = static_cast<int>(static_cast<std::int32_t>(encoded << 20) >> 20);
    if (op & 8) {
        op &= 7;
        oparg = 1 << (oparg & 31);
    }
    if (op > 4 || cmp > 5) return err(ENOSYS);
    std::int32_t old;
    if (!p.as().copy_from_user(&old, addr2, 4)) return err(EFAULT);
    std::int32_t next = old;
    switch (op) {
    case 0: next = oparg; break;
    case 1: next = static_cast<std::int32_t>(static_cast<std::uint32_t>(old) + static_cast<std::uint32_t>(oparg)); break;
    case 2: next = old | oparg; break;
    case 3: next = old & ~oparg; break;
    case 4: next = old ^ oparg; break;
    }
    if (!p.as().copy_to_user(addr2, &next, 4)) return err(EFAULT);
    const auto [ka, kb] = key_of(p, addr, is_private);
    int woken = p.futex_wake(ka, kb, nr_wake, ~0u);
    bool hit = false;
    switch (cmp) {
    case 0: hit = old == cmparg; break;
    case 1: hit = old != cmparg; break;
    case 2: hit = old < cmparg; break;
    case 3: hit = old <= cmparg; break;
    case 4: hit = old > cmparg; break;
    case 5: hit = old >= cmparg; break;
    }
    if (hit) {
        const auto [k2a, k2b] = key_of(p, addr2, is_private);
        woken += p.futex_wake(k2a, k2b, nr_wake2, ~0u);
    }
    return woken;
}

// Linux's order: the timeout is copied first (EFAULT, EINVAL), then FUTEX_CLOCK_REALTIME is
// checked against the operation and unknown operations are ENOSYS, then each operation checks
// its keys (alignment, then the page for shared keys) and arguments.
std::int64_t do_futex(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    const std::uint64_t addr = a[0];
    const int op = static_cast<int>(a[1]);
    const int cmd = op & ~(kFutexPrivate | kFutexClockRealtime);
    const bool is_private = op & kFutexPrivate;
    const bool realtime = op & kFutexClockRealtime;
    const std::uint32_t val = static_cast<std::uint32_t>(a[2]);
    std::optional<KernelTimespec> timeout;
    const bool waits = cmd == kFutexWait || cmd == kFutexWaitBitset;
    if (waits && a[3] && !p.task().block.retry) {
        KernelTimespec ts;
        if (!p.as().copy_from_user(&ts, a[3], sizeof ts)) return err(EFAULT);
        if (!valid(ts)) return err(EINVAL);
        timeout = ts;
    }
    if (realtime && cmd != kFutexWaitBitset) return err(ENOSYS);
    const int count = static_cast<int>(std::min<std::uint32_t>(val, INT_MAX));
    switch (cmd) {
    case kFutexWait: return futex_wait(p, addr, val, timeout, ~0u, false, realtime, is_private);
    case kFutexWaitBitset:
        return futex_wait(p, addr, val, timeout, static_cast<std::uint32_t>(a[5]), true, realtime, is_private);
    case kFutexWake:
    case kFutexWakeBitset: {
        const std::uint32_t bitset = cmd == kFutexWake ? ~0u : static_cast<std::uint32_t>(a[5]);
        if (bitset == 0) return err(EINVAL);
        if (const std::int64_t e = check_key(p, addr, is_private)) return e;
        const auto [ka, kb] = key_of(p, addr, is_private);
        return p.futex_wake(ka, kb, count, bitset);
    }
    case kFutexRequeue:
    case kFutexCmpRequeue: {
        const int requeue = static_cast<int>(std::min<std::uint64_t>(a[3] & 0xffffffffu, INT_MAX));
        if (static_cast<std::int32_t>(val) < 0 || static_cast<std::int32_t>(a[3]) < 0) return err(EINVAL);
        if (const std::int64_t e = check_key(p, addr, is_private)) return e;
        if (const std::int64_t e = check_key(p, a[4], is_private)) return e;
        if (cmd == kFutexCmpRequeue) {
            std::uint32_t value;
            if (!p.as().copy_from_user(&value, addr, 4)) return err(EFAULT);
            if (value != static_cast<std::uint32_t>(a[5])) return err(EAGAIN);
        }
        const auto [ka, kb] = key_of(p, addr, is_private);
        const auto [ta, tb] = key_of(p, a[4], is_private);
        return p.futex_requeue(ka, kb, ta, tb, count, requeue);
    }
    case kFutexWakeOp:
        if (const std::int64_t e = check_key(p, addr, is_private)) return e;
        if (a[4] & 3) return err(EINVAL);
        return futex_wake_op(p, addr, count, a[4], static_cast<int>(a[3] & 0x7fffffff),
                             static_cast<std::uint32_t>(a[5]), is_private);
    default: return err(ENOSYS);  // the PI operations are not modelled
    }
}

// --- signals ---

std::int64_t do_sigsuspend(Process& p, std::uint64_t mask_addr, std::uint64_t size) {
    Task& t = p.task();
    if (!t.block.retry) {
        if (size != 8) return err(EINVAL);
        std::uint64_t mask;
        if (!p.as().copy_from_user(&mask, mask_addr, 8)) return err(EFAULT);
        t.saved_mask = t.signals.blocked;
        t.signals.blocked = mask & ~kUnblockable;
    }
    return p.block(BlockState{});  // only a signal ends it: EINTR after the handler ran
}

std::int64_t do_sigtimedwait(Process& p, std::uint64_t set_addr, std::uint64_t info_addr,
                             std::uint64_t timeout, std::uint64_t size) {
    Task& t = p.task();
    if (size != 8) return err(EINVAL);
    std::uint64_t set;
    if (!p.as().copy_from_user(&set, set_addr, 8)) return err(EFAULT);
    set &= ~kUnblockable;
    if (const std::uint64_t ready = t.signals.pending & set) {
        const int sig = __builtin_ctzll(ready) + 1;
        SigInfo info = t.signals.take(sig);
        p.timer_signal_taken(info);
        if (info_addr && put(p, info_addr, encode_siginfo(info)) != 0) return err(EFAULT);
        return sig;
    }
    BlockState b;
    if (t.block.retry) {
        b = t.block;
        if (b.deadline_ns && monotonic_ns() >= *b.deadline_ns) return err(EAGAIN);
    } else if (timeout) {
        KernelTimespec ts;
        if (!p.as().copy_from_user(&ts, timeout, sizeof ts)) return err(EFAULT);
        if (!valid(ts)) return err(EINVAL);
        if (ts.sec == 0 && ts.nsec == 0) return err(EAGAIN);
        b.deadline_ns = monotonic_ns() + to_ns(ts);
    }
    Task* self = &t;
    b.ready = [self, set] { return (self->signals.pending & set) != 0; };
    return p.block(std::move(b));
}

// --- sleeping ---

std::int64_t do_sleep(Process& p, clockid_t clock, bool absolute, std::uint64_t req, std::uint64_t rem) {
    Task& t = p.task();
    if (t.block.retry) {
        const std::uint64_t now = monotonic_ns(), deadline = t.block.deadline_ns.value_or(now);
        if (now >= deadline) return 0;
        if (p.signal_interrupts()) {
            if (rem && !absolute) {
                const std::uint64_t left = deadline - now;
                const KernelTimespec r{static_cast<std::int64_t>(left / 1000000000ull),
                                       static_cast<std::int64_t>(left % 1000000000ull)};
                if (put(p, rem, r) != 0) return err(EFAULT);
            }
            return err(EINTR);
        }
        BlockState again = t.block;
        return p.block(std::move(again));
    }
    KernelTimespec ts;
    if (!p.as().copy_from_user(&ts, req, sizeof ts)) return err(EFAULT);
    if (!valid(ts)) return err(EINVAL);
    BlockState b;
    b.deadline_ns = absolute ? monotonic_deadline(clock, to_ns(ts)) : monotonic_ns() + to_ns(ts);
    if (monotonic_ns() >= *b.deadline_ns) return 0;
    return p.block(std::move(b));
}

// --- interval timers (ITIMER_REAL; alarm) ---

struct KernelItimerval {
    std::int64_t interval_sec, interval_usec, value_sec, value_usec;
};

KernelItimerval current_itimer(const ThreadGroup& g) {
    KernelItimerval v{};
    v.interval_sec = static_cast<std::int64_t>(g.alarm_interval_ns / 1000000000ull);
    v.interval_usec = static_cast<std::int64_t>(g.alarm_interval_ns % 1000000000ull / 1000);
    if (g.alarm_ns) {
        const std::uint64_t now = monotonic_ns();
        const std::uint64_t left = g.alarm_ns > now ? g.alarm_ns - now : 1000;
        v.value_sec = static_cast<std::int64_t>(left / 1000000000ull);
        v.value_usec = static_cast<std::int64_t>(std::max<std::uint64_t>(1, left % 1000000000ull / 1000));
        if (v.value_usec >= 1000000) v.value_usec = 999999;
    }
    return v;
}

std::int64_t do_setitimer(Process& p, int which, std::uint64_t value, std::uint64_t old) {
    if (which < 0 || which > 2) return err(EINVAL);
    ThreadGroup& g = p.group();
    KernelItimerval next{};
    if (value && !p.as().copy_from_user(&next, value, sizeof next)) return err(EFAULT);
    if (next.interval_usec < 0 || next.interval_usec >= 1000000 || next.value_usec < 0 ||
        next.value_usec >= 1000000 || next.interval_sec < 0 || next.value_sec < 0)
        return err(EINVAL);
    if (which != 0) return err(ENOSYS);  // ITIMER_VIRTUAL/PROF: CPU-time timers are not modelled
    const KernelItimerval previous = current_itimer(g);
    if (old && put(p, old, previous) != 0) return err(EFAULT);
    if (!value) return 0;
    const std::uint64_t v = static_cast<std::uint64_t>(next.value_sec) * 1000000000ull +
                            static_cast<std::uint64_t>(next.value_usec) * 1000;
    g.alarm_ns = v ? monotonic_ns() + v : 0;
    g.alarm_interval_ns = static_cast<std::uint64_t>(next.interval_sec) * 1000000000ull +
                          static_cast<std::uint64_t>(next.interval_usec) * 1000;
    return 0;
}

std::int64_t do_alarm(Process& p, std::uint64_t seconds) {
    ThreadGroup& g = p.group();
    std::int64_t left = 0;
    if (g.alarm_ns) {
        const KernelItimerval v = current_itimer(g);
        left = v.value_sec + (v.value_usec >= 500000 ? 1 : 0);
        if (left == 0) left = 1;
    }
    const std::uint64_t secs = static_cast<std::uint32_t>(seconds);
    g.alarm_ns = secs ? monotonic_ns() + secs * 1000000000ull : 0;
    g.alarm_interval_ns = 0;
    return left;
}

// --- POSIX timers ---

struct KernelItimerspec {
    KernelTimespec interval, value;
};

std::uint64_t ns_of(const KernelTimespec& t) { return to_ns(t); }

KernelTimespec timespec_of(std::uint64_t ns) {
    return {static_cast<std::int64_t>(ns / 1000000000ull), static_cast<std::int64_t>(ns % 1000000000ull)};
}

PosixTimer* find_timer(Process& p, std::uint64_t id) {
    for (PosixTimer& t : p.group().timers)
        if (static_cast<std::uint64_t>(t.id) == id) return &t;
    return nullptr;
}

// timer_create: clocks whose time mmuemu can read without CPU accounting; the notification as
// struct sigevent gives it (value, signo, notify, thread id).
std::int64_t do_timer_create(Process& p, std::int64_t clock, std::uint64_t sevp, std::uint64_t id_out) {
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME && clock != CLOCK_TAI) {
        if (clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID || clock < 0)
            return err(clock < 0 ? EINVAL : ENOTSUP);  // CPU-time timers are not modelled
        return err(EINVAL);
    }
    PosixTimer t;
    t.id = p.group().next_timer_id;
    t.value = static_cast<std::uint64_t>(t.id);
    if (sevp) {
        struct {
            std::uint64_t value;
            std::int32_t signo, notify, tid, pad;
        } ev{};
        if (!p.as().copy_from_user(&ev, sevp, sizeof ev)) return err(EFAULT);
        constexpr int kSignal = 0, kNone = 1, kThreadId = 4;
        if (ev.notify != kSignal && ev.notify != kNone && ev.notify != kThreadId) return err(EINVAL);
        if (ev.notify != kNone && (ev.signo < 1 || ev.signo > kNsig)) return err(EINVAL);
        if (ev.notify == kThreadId) {
            auto target = p.find_task(ev.tid);
            if (!target || target->group.get() != &p.group()) return err(EINVAL);
            t.target_tid = ev.tid;
        }
        t.notify = ev.notify != kNone;
        t.signo = ev.signo;
        t.value = ev.value;
    }
    const std::int32_t id = t.id;
    if (put(p, id_out, id) != 0) return err(EFAULT);
    p.group().timers.push_back(t);
    ++p.group().next_timer_id;
    return 0;
}

std::int64_t do_timer_settime(Process& p, std::uint64_t id, std::uint64_t flags, std::uint64_t next,
                              std::uint64_t old) {
    PosixTimer* t = find_timer(p, id);
    if (!t) return err(EINVAL);
    KernelItimerspec spec;
    if (!p.as().copy_from_user(&spec, next, sizeof spec)) return err(EFAULT);
    if (!valid(spec.value) || !valid(spec.interval)) return err(EINVAL);
    const std::uint64_t now = monotonic_ns();
    if (old) {
        const KernelItimerspec previous{timespec_of(t->interval_ns),
                                        timespec_of(t->deadline_ns > now ? t->deadline_ns - now : 0)};
        if (put(p, old, previous) != 0) return err(EFAULT);
    }
    const std::uint64_t value = ns_of(spec.value);
    t->interval_ns = ns_of(spec.interval);
    t->overrun = t->pending_overrun = 0;
    if (value == 0) t->deadline_ns = 0;  // disarm
    else if (flags & 1) t->deadline_ns = std::max<std::uint64_t>(1, monotonic_deadline(CLOCK_REALTIME, value));
    else t->deadline_ns = now + value;
    return 0;
}

}  // namespace

std::optional<std::int64_t> wait_syscall(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    switch (s.nr) {
    case SYS_futex: return do_futex(p, s);
    case SYS_rt_sigsuspend: return do_sigsuspend(p, a[0], a[1]);
    case SYS_pause: return p.block(BlockState{});
    case SYS_rt_sigtimedwait: return do_sigtimedwait(p, a[0], a[1], a[2], a[3]);
    case SYS_nanosleep: return do_sleep(p, CLOCK_MONOTONIC, false, a[0], a[1]);
    case SYS_clock_nanosleep: {
        const clockid_t clock = static_cast<clockid_t>(a[0]);
        if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME &&
            clock != CLOCK_TAI)
            return err(clock == CLOCK_THREAD_CPUTIME_ID ? EINVAL : (clock < 0 || clock > 11 ? EINVAL : ENOTSUP));
        if (a[1] & ~1ull) return err(EINVAL);
        return do_sleep(p, clock == CLOCK_REALTIME || clock == CLOCK_TAI ? CLOCK_REALTIME : CLOCK_MONOTONIC,
                        a[1] & 1, a[2], a[3]);
    }
    case SYS_alarm: return do_alarm(p, a[0]);
    case SYS_setitimer: return do_setitimer(p, static_cast<int>(a[0]), a[1], a[2]);
    case SYS_getitimer: {
        if (a[0] > 2) return err(EINVAL);
        const KernelItimerval v = a[0] == 0 ? current_itimer(p.group()) : KernelItimerval{};
        return put(p, a[1], v);
    }
    case SYS_timer_create: return do_timer_create(p, static_cast<std::int32_t>(a[0]), a[1], a[2]);
    case SYS_timer_settime: return do_timer_settime(p, a[0], a[1], a[2], a[3]);
    case SYS_timer_gettime: {
        const PosixTimer* t = find_timer(p, a[0]);
        if (!t) return err(EINVAL);
        const std::uint64_t now = monotonic_ns();
        const KernelItimerspec cur{timespec_of(t->interval_ns),
                                   timespec_of(t->deadline_ns > now ? t->deadline_ns - now : (t->deadline_ns ? 1 : 0))};
        return put(p, a[1], cur);
    }
    case SYS_timer_getoverrun: {
        const PosixTimer* t = find_timer(p, a[0]);
        return t ? t->overrun : err(EINVAL);
    }
    case SYS_timer_delete: {
        auto& timers = p.group().timers;
        const auto before = timers.size();
        std::erase_if(timers, [&](const PosixTimer& t) { return static_cast<std::uint64_t>(t.id) == a[0]; });
        return timers.size() == before ? err(EINVAL) : 0;
    }
    case SYS_sched_yield: p.yield(); return 0;
    case SYS_sched_getaffinity: {
        if (a[1] < 8 || (a[1] & 7)) return err(EINVAL);
        auto t = a[0] ? p.find_task(static_cast<int>(a[0])) : p.current();
        if (!t) return err(ESRCH);
        const std::uint64_t all = p.cpu_count() >= 64 ? ~0ull : (1ull << p.cpu_count()) - 1;
        const std::uint64_t mask = t->affinity & all;
        return put(p, a[2], mask) == 0 ? 8 : err(EFAULT);
    }
    case SYS_sched_setaffinity: {
        auto t = a[0] ? p.find_task(static_cast<int>(a[0])) : p.current();
        if (!t) return err(ESRCH);
        std::uint64_t mask = 0;
        if (!p.as().copy_from_user(&mask, a[2], std::min<std::uint64_t>(a[1], 8))) return err(EFAULT);
        const std::uint64_t all = p.cpu_count() >= 64 ? ~0ull : (1ull << p.cpu_count()) - 1;
        if (!(mask & all)) return err(EINVAL);
        t->affinity = mask & all;
        if (t == p.current() && !(mask & (1ull << p.cpu_index()))) p.yield();
        return 0;
    }
    case SYS_getcpu: {
        const std::uint32_t cpu = p.cpu_index(), node = 0;
        if (a[0] && put(p, a[0], cpu) != 0) return err(EFAULT);
        if (a[1] && put(p, a[1], node) != 0) return err(EFAULT);
        return 0;
    }
    case SYS_membarrier: {
        // One host thread runs every CPU in turn: each barrier is already satisfied.
        constexpr std::int64_t kQuery = 0, kSupported = 1 | 8 | 16 | 32 | 64;
        if (a[1] & ~1ull) return err(EINVAL);
        if (static_cast<std::int64_t>(a[0]) == kQuery) return kSupported;
        const std::uint64_t cmd = a[0];
        if (cmd == 1 || cmd == 2 || cmd == 8 || cmd == 16 || cmd == 32 || cmd == 64) return 0;
        return err(EINVAL);
    }
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
