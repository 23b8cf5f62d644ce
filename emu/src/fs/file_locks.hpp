// POSIX record locks (fcntl F_SETLK/F_SETLKW/F_GETLK) of guest processes. Every guest process
// lives in the one mmuemu host process, so the host cannot tell their POSIX locks apart: the
// table is kept here, per file identity (dev:ino), owned by a thread group (Linux: the files
// table; a guest pid here), with Linux's rules:
//  - a request conflicts with a lock of another owner on an overlapping range when either is a
//    write lock; the owner's own locks are replaced, split and merged (posix_lock_inode);
//  - every lock of an owner on a file goes when it closes any descriptor of that file, and all
//    of them when it exits; fork does not copy them.
// Other host processes see the guest's locks through a mirror: one host descriptor per (file,
// owner), opened anew (its own open file description), on which every change is repeated as an
// OFD lock. OFD locks follow the same range rules, so the mirror holds exactly the owner's locks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace emu {

struct FileKey {
    dev_t dev = 0;
    ino_t ino = 0;
    auto operator<=>(const FileKey&) const = default;
};

// One lock, or one request: a byte range [start, end] (end inclusive; kLockEof: to infinity).
struct RecordLock {
    static constexpr std::uint64_t kLockEof = INT64_MAX;  // Linux OFFSET_MAX
    int owner = 0;
    short type = 0;  // F_RDLCK, F_WRLCK (F_UNLCK in a request)
    std::uint64_t start = 0;
    std::uint64_t end = kLockEof;

    bool overlaps(const RecordLock& o) const { return start <= o.end && o.start <= end; }
};

class FileLocks {
public:
    FileLocks() = default;
    FileLocks(const FileLocks&) = delete;
    FileLocks& operator=(const FileLocks&) = delete;
    ~FileLocks();

    // The first lock of another owner that `request` conflicts with (F_UNLCK: none).
    std::optional<RecordLock> conflict(FileKey file, const RecordLock& request) const;
    // Sets or clears (F_UNLCK) the request's range for its owner.
    void apply(FileKey file, const RecordLock& request);
    bool holds_any(FileKey file, int owner) const;
    // close(2) of a descriptor of `file` by `owner`, and exit of `owner`.
    void release(FileKey file, int owner);
    void release_owner(int owner);
    bool empty() const { return locks_.empty(); }

    // The host mirror descriptor of (file, owner): opened from `host_fd` on first use; -1 when it
    // cannot be opened (the lock is then only seen by the guest).
    int mirror(FileKey file, int owner, int host_fd);

    // Deadlock detection (Linux posix_locks_deadlock): `waiter` waits for a lock `blocker`
    // holds. A cycle of waiting owners through `blocker` back to `waiter` is a deadlock.
    void set_waiting(int waiter, int tid, int blocker) { waiting_[waiter] = {tid, blocker}; }
    void clear_waiting(int waiter) { waiting_.erase(waiter); }
    // `still_waiting(tid)`: the task that recorded a wait is still blocked in it.
    template <class StillWaiting>
    bool would_deadlock(int waiter, int blocker, StillWaiting still_waiting) const {
        for (int i = 0; i < 10 && blocker != waiter; ++i) {  // Linux MAX_DEADLK_ITERATIONS
            auto it = waiting_.find(blocker);
            if (it == waiting_.end() || !still_waiting(it->second.first)) return false;
            blocker = it->second.second;
        }
        return blocker == waiter;
    }

    // An owner without locks on `file` closes its mirror (which drops its host locks).
    void drop_if_unused(FileKey file, int owner);

private:

    std::map<FileKey, std::vector<RecordLock>> locks_;   // each file's locks, by owner then start
    std::map<std::pair<FileKey, int>, int> mirrors_;     // (file, owner) -> host descriptor
    std::map<int, std::pair<int, int>> waiting_;         // owner -> (tid, owner it waits for)
};

}  // namespace emu
