// A userfaultfd context (Linux's struct userfaultfd_ctx): the API handshake's state, the fault
// messages not yet read, and the threads waiting for their fault to be resolved. The page-table
// side (registered VMAs, UFFDIO_COPY...) is the MMU's: VMAs name the context by its id.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "mmu/address_space.hpp"

namespace emu {

struct Task;

// UFFD_FEATURE_* this emulator implements (and reports in UFFDIO_API).
namespace uffd_feature {
inline constexpr std::uint64_t kPagefaultFlagWp = 1ull << 0;
inline constexpr std::uint64_t kMissingShmem = 1ull << 5;
inline constexpr std::uint64_t kSigbus = 1ull << 7;
inline constexpr std::uint64_t kThreadId = 1ull << 8;
inline constexpr std::uint64_t kMinorShmem = 1ull << 10;
inline constexpr std::uint64_t kWpShmem = 1ull << 12;  // UFFD_FEATURE_WP_HUGETLBFS_SHMEM (shmem part)
inline constexpr std::uint64_t kWpUnpopulated = 1ull << 13;
inline constexpr std::uint64_t kPoison = 1ull << 14;
inline constexpr std::uint64_t kWpAsync = 1ull << 15;
inline constexpr std::uint64_t kImplemented = kPagefaultFlagWp | kMissingShmem | kSigbus | kThreadId | kMinorShmem |
                                              kWpShmem | kWpUnpopulated | kPoison | kWpAsync;
}  // namespace uffd_feature

// One thread blocked on a fault in a registered range.
struct UffdWaiter {
    mmu::VirtAddr page = 0;      // the faulting page (the message's address)
    std::uint32_t flags = 0;     // UFFD_PAGEFAULT_FLAG_*
    std::weak_ptr<Task> task;
    bool woken = false;          // resolved (COPY, WAKE...) or the context was released
};

class Userfaultfd {
public:
    Userfaultfd(std::uint64_t id, std::weak_ptr<mmu::AddressSpace> mm) : id_(id), mm_(std::move(mm)) {}
    // The last descriptor is closed: the ranges become unregistered and every waiter retries
    // its fault as a normal one.
    ~Userfaultfd();
    Userfaultfd(const Userfaultfd&) = delete;
    Userfaultfd& operator=(const Userfaultfd&) = delete;

    std::uint64_t id() const { return id_; }
    // The address space the context was created in (ioctls work on it from any task).
    std::shared_ptr<mmu::AddressSpace> mm() const { return mm_.lock(); }

    bool initialized = false;     // UFFDIO_API succeeded
    std::uint64_t features = 0;   // what UFFDIO_API enabled

    // A fault to report; the caller blocks the thread until waiter->woken.
    std::shared_ptr<UffdWaiter> add_waiter(mmu::VirtAddr page, std::uint32_t flags, std::weak_ptr<Task> task);
    // The next unread message's waiter (nullptr: none); it stays a waiter until woken.
    std::shared_ptr<UffdWaiter> take_pending();
    bool has_pending() const;
    // Wakes the waiters whose page is in [start, start + len).
    void wake(mmu::VirtAddr start, std::uint64_t len);

private:
    // Forgets waiters that no longer wait: woken, or their thread left the wait (a signal, exit),
    // whose unread message Linux removes with them.
    void drop_gone();

    std::uint64_t id_;
    std::weak_ptr<mmu::AddressSpace> mm_;
    std::deque<std::shared_ptr<UffdWaiter>> pending_;   // not yet read
    std::vector<std::shared_ptr<UffdWaiter>> waiting_;  // read or not, until woken
};

}  // namespace emu
