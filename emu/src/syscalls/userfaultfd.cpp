// userfaultfd(2), /dev/userfaultfd's USERFAULTFD_IOC_NEW, the UFFDIO_* ioctls, read(2) and poll
// of the descriptor, and the faulting side: a fault in a registered range blocks its thread and
// queues a message until another thread resolves the page (COPY, ZEROPAGE, CONTINUE, WRITEPROTECT,
// WAKE) or the descriptor is closed. The page-table work is the MMU's (mmu/src/userfaultfd.cpp).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

#include <cstddef>
#include <cstring>
#include <fstream>

#include "kernel/userfaultfd.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu {

using namespace mmu;

// --- the context ---

Userfaultfd::~Userfaultfd() {
    if (auto as = mm_.lock()) as->uffd_release(id_);
    for (auto& w : waiting_) w->woken = true;
}

std::shared_ptr<UffdWaiter> Userfaultfd::add_waiter(VirtAddr page, std::uint32_t flags,
                                                    std::weak_ptr<Task> task) {
    auto w = std::make_shared<UffdWaiter>();
    w->page = page;
    w->flags = flags;
    w->task = std::move(task);
    pending_.push_back(w);
    waiting_.push_back(w);
    return w;
}

namespace {
bool gone(const UffdWaiter& w) {
    if (w.woken) return true;
    const auto t = w.task.lock();
    return !t || t->state != TaskState::Blocked || t->block.userfault.get() != &w;
}
}  // namespace

void Userfaultfd::drop_gone() {
    std::erase_if(pending_, [](const auto& w) { return gone(*w); });
    std::erase_if(waiting_, [](const auto& w) { return gone(*w); });
}

std::shared_ptr<UffdWaiter> Userfaultfd::take_pending() {
    drop_gone();
    if (pending_.empty()) return nullptr;
    auto w = pending_.front();
    pending_.pop_front();
    return w;
}

bool Userfaultfd::has_pending() const {
    for (const auto& w : pending_)
        if (!gone(*w)) return true;
    return false;
}

void Userfaultfd::wake(VirtAddr start, std::uint64_t len) {
    for (auto& w : waiting_)
        if (w->page >= start && w->page - start < len) w->woken = true;
    drop_gone();
}

// --- the faulting thread ---

std::uint64_t Process::add_userfaultfd(std::function<std::shared_ptr<Userfaultfd>(std::uint64_t)> make) {
    const std::uint64_t id = next_userfaultfd_id_++;
    std::erase_if(userfaultfds_, [](const auto& entry) { return entry.second.expired(); });
    userfaultfds_[id] = make(id);
    return id;
}

std::shared_ptr<Userfaultfd> Process::find_userfaultfd(std::uint64_t id) const {
    auto it = userfaultfds_.find(id);
    return it == userfaultfds_.end() ? nullptr : it->second.lock();
}

// Linux's handle_userfault for a fault from user mode: with UFFD_FEATURE_SIGBUS the thread gets
// SIGBUS/BUS_ADRERR; otherwise it sleeps (interruptibly) until the page is resolved, and then
// executes the faulting instruction again (a signal ends the sleep: the handler runs, then the
// access faults anew).
void Process::userfault(const Fault& fault, std::uint64_t rip) {
    auto ctx = find_userfaultfd(fault.uffd_ctx);
    if (!ctx) {  // released meanwhile: the range behaves as unregistered
        as().uffd_release(fault.uffd_ctx);
        return;
    }
    if (ctx->features & uffd_feature::kSigbus) {
        Fault f = fault;
        f.signo = kSigBus;
        f.si_code = 2;  // BUS_ADRERR
        deliver(fault_signal(f, rip), true);
        return;
    }
    Task& t = *current_;
    auto waiter = ctx->add_waiter(page_down(fault.addr), fault.uffd_flags, current_);
    t.block = BlockState{};
    t.block.ready = [waiter] { return waiter->woken; };
    t.block.userfault = waiter;
    t.state = TaskState::Blocked;
}

namespace sys {

namespace {

constexpr std::uint64_t kUffdApi = 0xAA;
constexpr int kUserModeOnly = 1;  // UFFD_USER_MODE_ONLY
constexpr std::uint8_t kEventPagefault = 0x12;

// The ioctl numbers (_IOWR/_IOR(0xAA, nr, struct)) and their structures.
struct UffdRange {
    std::uint64_t start, len;
};
struct UffdioApi {
    std::uint64_t api, features, ioctls;
};
struct UffdioRegister {
    UffdRange range;
    std::uint64_t mode, ioctls;
};
struct UffdioCopy {
    std::uint64_t dst, src, len, mode;
    std::int64_t copy;
};
struct UffdioFill {  // ZEROPAGE, CONTINUE and POISON: range, mode, then the result
    UffdRange range;
    std::uint64_t mode;
    std::int64_t result;
};
struct UffdioWriteprotect {
    UffdRange range;
    std::uint64_t mode;
};
struct UffdMsg {
    std::uint8_t event, reserved1;
    std::uint16_t reserved2;
    std::uint32_t reserved3;
    std::uint64_t flags, address;
    std::uint32_t ptid, pad;
};
static_assert(sizeof(UffdMsg) == 32);

enum Nr : unsigned {
    kRegister = 0x00, kUnregister = 0x01, kWake = 0x02, kCopy = 0x03, kZeropage = 0x04,
    kWriteprotect = 0x06, kContinue = 0x07, kPoison = 0x08, kApi = 0x3F,
};
constexpr unsigned long kIocApi = _IOWR(kUffdApi, kApi, UffdioApi);
constexpr unsigned long kIocRegister = _IOWR(kUffdApi, kRegister, UffdioRegister);
constexpr unsigned long kIocUnregister = _IOR(kUffdApi, kUnregister, UffdRange);
constexpr unsigned long kIocWake = _IOR(kUffdApi, kWake, UffdRange);
constexpr unsigned long kIocCopy = _IOWR(kUffdApi, kCopy, UffdioCopy);
constexpr unsigned long kIocZeropage = _IOWR(kUffdApi, kZeropage, UffdioFill);
constexpr unsigned long kIocWriteprotect = _IOWR(kUffdApi, kWriteprotect, UffdioWriteprotect);
constexpr unsigned long kIocContinue = _IOWR(kUffdApi, kContinue, UffdioFill);
constexpr unsigned long kIocPoison = _IOWR(kUffdApi, kPoison, UffdioFill);
constexpr unsigned long kIocNew = _IO(kUffdApi, 0x00);  // USERFAULTFD_IOC_NEW on /dev/userfaultfd

constexpr std::uint64_t bit(unsigned nr) { return 1ull << nr; }
// The ioctls UFFDIO_API and UFFDIO_REGISTER report (no UFFDIO_MOVE here).
constexpr std::uint64_t kApiIoctls = bit(kRegister) | bit(kUnregister) | bit(kApi);
constexpr std::uint64_t kRangeIoctls =
    bit(kWake) | bit(kCopy) | bit(kZeropage) | bit(kWriteprotect) | bit(kContinue) | bit(kPoison);

constexpr std::uint64_t kDontWake = 1;      // *_MODE_DONTWAKE (bit 0 of every fill mode)
constexpr std::uint64_t kCopyModeWp = 2;    // UFFDIO_COPY_MODE_WP, UFFDIO_CONTINUE_MODE_WP
constexpr std::uint64_t kWpModeWp = 1;      // UFFDIO_WRITEPROTECT_MODE_WP
constexpr std::uint64_t kWpModeDontWake = 2;

Userfaultfd* context_of(const GuestFile& f) { return static_cast<Userfaultfd*>(f.object.get()); }

// userfaultfd_syscall_allowed: UFFD_USER_MODE_ONLY, vm.unprivileged_userfaultfd = 1, or
// CAP_SYS_PTRACE (mmuemu's user's rights are the guest's).
bool creation_allowed(int flags) {
    if (flags & kUserModeOnly) return true;
    std::ifstream sysctl("/proc/sys/vm/unprivileged_userfaultfd");
    int unprivileged = 0;
    if (sysctl >> unprivileged && unprivileged == 1) return true;
    return host_has_capability(19);  // CAP_SYS_PTRACE
}

std::int64_t new_userfaultfd(Process& p, int flags) {
    if (flags & ~(O_CLOEXEC | O_NONBLOCK | kUserModeOnly)) return err(EINVAL);
    std::weak_ptr<AddressSpace> mm = p.group().mm;
    std::shared_ptr<Userfaultfd> ctx;
    p.add_userfaultfd([&](std::uint64_t id) {
        ctx = std::make_shared<Userfaultfd>(id, mm);
        return ctx;
    });
    auto f = std::make_shared<GuestFile>();
    f->kind = GuestFile::Kind::Userfaultfd;
    f->object = ctx;
    f->open_flags = O_RDONLY;
    f->nonblocking = flags & O_NONBLOCK;
    f->path = "anon_inode:[userfaultfd]";
    return install_fd(p, f, 0, flags & O_CLOEXEC);
}

template <class T>
bool get(Process& p, std::uint64_t addr, T& out) {
    return static_cast<bool>(p.as().copy_from_user(&out, addr, sizeof out));
}

// UFFDIO_API: a wrong api or an unknown feature is EINVAL with the reply zeroed; the reply is
// written before the context is initialized, so a second UFFDIO_API is EINVAL (zeroed too).
std::int64_t uffdio_api(Process& p, Userfaultfd& ctx, std::uint64_t arg) {
    UffdioApi api;
    if (!get(p, arg, api)) return err(EFAULT);
    const UffdioApi zero{};
    if (api.api != kUffdApi) return put(p, arg, zero) ? err(EFAULT) : err(EINVAL);
    std::uint64_t wanted = api.features;
    // Linux: WP_ASYNC relies on WP_UNPOPULATED, which it then enables too.
    if (wanted & uffd_feature::kWpAsync) wanted |= uffd_feature::kWpUnpopulated;
    const UffdioApi reply{kUffdApi, uffd_feature::kImplemented, kApiIoctls};
    if (wanted & ~reply.features) return put(p, arg, zero) ? err(EFAULT) : err(EINVAL);
    if (put(p, arg, reply)) return err(EFAULT);
    if (ctx.initialized) return put(p, arg, zero) ? err(EFAULT) : err(EINVAL);
    ctx.initialized = true;
    ctx.features = wanted;
    return 0;
}

std::int64_t uffdio_register(Process& p, Userfaultfd& ctx, AddressSpace& as, std::uint64_t arg) {
    UffdioRegister r;
    if (!get(p, arg, r)) return err(EFAULT);
    if (r.mode & ~std::uint64_t{uffd_mode::kAll}) return err(EINVAL);  // an unknown mode
    // The context's write-protect features go with the registration (the VMA names the context).
    std::uint32_t modes = static_cast<std::uint32_t>(r.mode);
    if (ctx.features & uffd_feature::kWpAsync) modes |= uffd_mode::kCtxWpAsync;
    if (ctx.features & uffd_feature::kWpUnpopulated) modes |= uffd_mode::kCtxWpUnpopulated;
    const Status s = as.uffd_register(r.range.start, r.range.len, modes, ctx.id());
    if (!s) return err(s.error());
    std::uint64_t ioctls = kRangeIoctls;
    if (!(r.mode & uffd_mode::kMinor)) ioctls &= ~bit(kContinue);  // CONTINUE only for MINOR
    if (!(r.mode & uffd_mode::kWp)) ioctls &= ~bit(kWriteprotect);
    return p.as().copy_to_user(arg + offsetof(UffdioRegister, ioctls), &ioctls, sizeof ioctls)
               ? 0 : err(EFAULT);
}

// The result of a fill (COPY, ZEROPAGE, CONTINUE, POISON): the bytes done go to the result field
// (or -errno when none was), the resolved pages wake their waiters unless DONTWAKE, and a range
// done only in part is EAGAIN.
std::int64_t fill_result(Process& p, Userfaultfd& ctx, std::uint64_t result_addr, VirtAddr start,
                         std::uint64_t len, bool wake, const UffdFill& fill) {
    const std::int64_t value = fill.done ? static_cast<std::int64_t>(fill.done) : -fill.error;
    if (!p.as().copy_to_user(result_addr, &value, sizeof value)) return err(EFAULT);
    if (!fill.done) return err(fill.error);
    if (wake) ctx.wake(start, fill.done);
    return fill.done == len ? 0 : err(EAGAIN);
}

std::int64_t uffdio_copy(Process& p, Userfaultfd& ctx, AddressSpace& as, std::uint64_t arg) {
    UffdioCopy c;
    if (!get(p, arg, c)) return err(EFAULT);
    if (const Status s = as.uffd_validate(c.dst, c.len); !s) return err(s.error());
    if (c.src + c.len <= c.src) return err(EINVAL);
    if (c.mode & ~(kDontWake | kCopyModeWp)) return err(EINVAL);
    const UffdFill fill = as.uffd_copy(c.dst, c.src, c.len, c.mode & kCopyModeWp, ctx.id());
    return fill_result(p, ctx, arg + offsetof(UffdioCopy, copy), c.dst, c.len, !(c.mode & kDontWake), fill);
}

// ZEROPAGE, CONTINUE and POISON share one layout.
std::int64_t uffdio_fill(Process& p, Userfaultfd& ctx, AddressSpace& as, unsigned nr, std::uint64_t arg) {
    UffdioFill f;
    if (!get(p, arg, f)) return err(EFAULT);
    if (const Status s = as.uffd_validate(f.range.start, f.range.len); !s) return err(s.error());
    const std::uint64_t modes = nr == kContinue ? (kDontWake | kCopyModeWp) : kDontWake;
    if (f.mode & ~modes) return err(EINVAL);
    UffdFill fill;
    if (nr == kZeropage) fill = as.uffd_zeropage(f.range.start, f.range.len, ctx.id());
    else if (nr == kContinue) fill = as.uffd_continue(f.range.start, f.range.len, f.mode & kCopyModeWp, ctx.id());
    else fill = as.uffd_poison(f.range.start, f.range.len, ctx.id());
    return fill_result(p, ctx, arg + offsetof(UffdioFill, result), f.range.start, f.range.len,
                       !(f.mode & kDontWake), fill);
}

std::int64_t uffdio_writeprotect(Process& p, Userfaultfd& ctx, AddressSpace& as, std::uint64_t arg) {
    UffdioWriteprotect w;
    if (!get(p, arg, w)) return err(EFAULT);
    if (const Status s = as.uffd_validate(w.range.start, w.range.len); !s) return err(s.error());
    if (w.mode & ~(kWpModeWp | kWpModeDontWake)) return err(EINVAL);
    const bool protect = w.mode & kWpModeWp, dont_wake = w.mode & kWpModeDontWake;
    if (protect && dont_wake) return err(EINVAL);
    if (const Status s = as.uffd_writeprotect(w.range.start, w.range.len, protect); !s) return err(s.error());
    if (!protect && !dont_wake) ctx.wake(w.range.start, w.range.len);
    return 0;
}

std::int64_t uffdio_range(Process& p, Userfaultfd& ctx, AddressSpace& as, unsigned nr, std::uint64_t arg) {
    UffdRange r;
    if (!get(p, arg, r)) return err(EFAULT);
    if (nr == kWake) {
        if (const Status s = as.uffd_validate(r.start, r.len); !s) return err(s.error());
    } else if (const Status s = as.uffd_unregister(r.start, r.len); !s) {
        return err(s.error());
    }
    ctx.wake(r.start, r.len);  // unregistering wakes the range's waiters too
    return 0;
}

}  // namespace

std::int64_t userfaultfd_ioctl(Process& p, GuestFile& f, std::uint64_t request, std::uint64_t arg) {
    if (f.userfaultfd_device) {  // /dev/userfaultfd: USERFAULTFD_IOC_NEW(flags) only
        if (request != kIocNew) return err(EINVAL);
        if (arg & ~static_cast<std::uint64_t>(O_CLOEXEC | O_NONBLOCK | kUserModeOnly)) return err(EINVAL);
        return new_userfaultfd(p, static_cast<int>(arg));
    }
    Userfaultfd& ctx = *context_of(f);
    if (request == kIocApi) return uffdio_api(p, ctx, arg);
    if (!ctx.initialized) return err(EINVAL);
    auto mm = ctx.mm();
    if (!mm) return err(ESRCH);  // its process has exited or replaced its program
    AddressSpace& as = *mm;
    switch (request) {
    case kIocRegister: return uffdio_register(p, ctx, as, arg);
    case kIocUnregister: return uffdio_range(p, ctx, as, kUnregister, arg);
    case kIocWake: return uffdio_range(p, ctx, as, kWake, arg);
    case kIocCopy: return uffdio_copy(p, ctx, as, arg);
    case kIocZeropage: return uffdio_fill(p, ctx, as, kZeropage, arg);
    case kIocContinue: return uffdio_fill(p, ctx, as, kContinue, arg);
    case kIocPoison: return uffdio_fill(p, ctx, as, kPoison, arg);
    case kIocWriteprotect: return uffdio_writeprotect(p, ctx, as, arg);
    default: return err(EINVAL);
    }
}

// read(2): whole messages only (EINVAL below 32 bytes); the first waits unless O_NONBLOCK
// (EAGAIN), the following ones are taken only if already queued.
std::int64_t userfaultfd_read(Process& p, GuestFile& f, std::uint64_t buf, std::uint64_t count) {
    Userfaultfd& ctx = *context_of(f);
    if (!ctx.initialized) return err(EINVAL);
    std::int64_t done = 0;
    while (true) {
        if (count < sizeof(UffdMsg)) return done ? done : err(EINVAL);
        auto w = ctx.take_pending();
        if (!w) {
            if (done) return done;
            if (f.nonblocking) return err(EAGAIN);
            BlockState b;
            std::weak_ptr<Userfaultfd> weak = std::static_pointer_cast<Userfaultfd>(f.object);
            b.ready = [weak] {
                auto c = weak.lock();
                return !c || c->has_pending();
            };
            return p.block(std::move(b));
        }
        UffdMsg msg{};
        msg.event = kEventPagefault;
        msg.flags = w->flags;
        msg.address = w->page;  // page-aligned: no UFFD_FEATURE_EXACT_ADDRESS
        if (ctx.features & uffd_feature::kThreadId)
            if (const auto t = w->task.lock()) msg.ptid = static_cast<std::uint32_t>(t->tid);
        if (!p.as().copy_to_user(buf + static_cast<std::uint64_t>(done), &msg, sizeof msg))
            return done ? done : err(EFAULT);
        done += static_cast<std::int64_t>(sizeof msg);
        count -= sizeof msg;
    }
}

// poll: POLLERR before UFFDIO_API and on a blocking descriptor (Linux: poll cannot promise that
// read will not block), POLLIN while a message is queued.
short userfaultfd_poll_events(const GuestFile& f) {
    const Userfaultfd& ctx = *context_of(f);
    if (!ctx.initialized || !f.nonblocking) return POLLERR;
    return ctx.has_pending() ? POLLIN : 0;
}

std::optional<std::int64_t> userfaultfd_syscall(Process& p, const SyscallArgs& s) {
    if (s.nr != SYS_userfaultfd) return std::nullopt;
    // The permission is checked before the flags (userfaultfd_syscall_allowed, then new_userfaultfd).
    const int flags = static_cast<int>(s.a[0]);
    if (!creation_allowed(flags)) return err(EPERM);
    return new_userfaultfd(p, flags);
}

}  // namespace sys

}  // namespace emu
