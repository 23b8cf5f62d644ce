// Helpers shared by the system-call files: Linux results and guest memory accessed with the
// kernel's rules.
#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "fs/guest_paths.hpp"
#include "machine/process.hpp"
#include "syscalls/syscalls.hpp"

namespace emu::sys {

using namespace mmu;

constexpr std::int64_t err(int e) { return -static_cast<std::int64_t>(e); }
inline std::int64_t host_result(long r) { return r < 0 ? err(errno) : r; }
inline std::int64_t status(const Status& s) { return s ? 0 : err(s.error()); }
template <class T>
std::int64_t value_or_errno(const Result<T>& r) {
    return r ? static_cast<std::int64_t>(r.value()) : err(r.error());
}

// Writes `value` to the guest at `addr`: 0, or -EFAULT.
template <class T>
std::int64_t put(Process& p, std::uint64_t addr, const T& value) {
    return p.as().copy_to_user(addr, &value, sizeof value) ? 0 : err(EFAULT);
}

// A NUL-terminated string from guest memory (paths are at most PATH_MAX).
bool read_string(Process& p, std::uint64_t addr, std::string& out, std::size_t limit = 4096);
// How many bytes of [addr, addr + n) the guest could write before the first faulting page.
std::size_t writable_prefix(Process& p, std::uint64_t addr, std::size_t n);
// A new descriptor for `file`, the lowest free one at or above `min`, below the caller's
// RLIMIT_NOFILE: the descriptor, or -EMFILE.
int install_fd(Process& p, std::shared_ptr<GuestFile> file, int min = 0, bool cloexec = false);
// RLIMIT_NOFILE of the calling process, as a descriptor bound.
int nofile_limit(Process& p);
// Whether mmuemu itself (and so the guest, which has its user's rights) holds a capability in
// its effective set (CAP_SYS_RESOURCE = 24, CAP_SYS_ADMIN = 21).
bool host_has_capability(int cap);
// -ENOSYS, with one warning line per system call ("unsupported system call pkey_alloc (330)");
// every call is counted for --stats.
std::int64_t unsupported(std::uint64_t nr);
// How often each unsupported call was made, by number.
const std::map<std::uint64_t, std::uint64_t>& unsupported_calls();
// The call's name from the kernel's table ("syscall_N" when the table does not have it).
std::string syscall_name(std::uint64_t nr);

// Each area answers its own calls and std::nullopt for the others.
std::optional<std::int64_t> memory_syscall(Process& p, const SyscallArgs& s);
std::optional<std::int64_t> file_syscall(Process& p, const SyscallArgs& s);
// inotify_init, inotify_init1, inotify_add_watch, inotify_rm_watch (inotify.cpp).
std::optional<std::int64_t> inotify_syscall(Process& p, const SyscallArgs& s);
// splice, tee and vmsplice (splice.cpp).
std::optional<std::int64_t> splice_syscall(Process& p, const SyscallArgs& s);
// Shared by the file calls (files.cpp): whether a host descriptor is a regular file; for a
// descriptor the guest opened blocking, the wait until the host says it is ready for `events`
// (nullopt: ready now, or the guest asked not to wait); readv/writev of `count` iovecs.
bool is_regular_file(int host_fd);
bool host_ready(int fd, short events);
std::optional<std::int64_t> wait_until_ready(Process& p, const GuestFile& f, short events);
std::int64_t do_iov(Process& p, int fd, std::uint64_t iov_addr, int count, bool is_write);
std::optional<std::int64_t> memfd_syscall(Process& p, const SyscallArgs& s);
// set_mempolicy, get_mempolicy, mbind, set_mempolicy_home_node, migrate_pages, move_pages.
std::optional<std::int64_t> memory_policy_syscall(Process& p, const SyscallArgs& s);
std::optional<std::int64_t> sysv_shm_syscall(Process& p, const SyscallArgs& s);
// ioctl on a /proc/PID/pagemap descriptor (PAGEMAP_SCAN).
std::int64_t pagemap_ioctl(Process& p, GuestFile& f, std::uint64_t cmd, std::uint64_t arg);
// flock, fcntl's record locks, fallocate (locks.cpp).
std::optional<std::int64_t> lock_syscall(Process& p, const SyscallArgs& s);
// Before `fd` is closed (close, dup2 over it, close_range): the caller's POSIX locks on its file go.
void release_posix_locks(Process& p, int fd);
std::optional<std::int64_t> file_metadata_syscall(Process& p, const SyscallArgs& s);
std::optional<std::int64_t> process_syscall(Process& p, const SyscallArgs& s);
// Identity, priority and resource usage: getgroups, set*id, getpriority, times, getrusage...
std::optional<std::int64_t> identity_syscall(Process& p, const SyscallArgs& s);
std::optional<std::int64_t> task_syscall(Process& p, const SyscallArgs& s);
// execve/execveat (exec.cpp) and wait4/waitid (wait.cpp), called by task_syscall.
std::int64_t do_execve(Process& p, int dirfd, std::uint64_t path, std::uint64_t argv, std::uint64_t envp,
                       int flags);
std::int64_t do_wait4(Process& p, std::int64_t pid, std::uint64_t status, int options, std::uint64_t rusage);
std::int64_t do_waitid(Process& p, int idtype, std::int64_t id, std::uint64_t info, int options,
                       std::uint64_t rusage);
std::optional<std::int64_t> wait_syscall(Process& p, const SyscallArgs& s);
std::optional<std::int64_t> poll_syscall(Process& p, const SyscallArgs& s);
// socket, bind, connect, accept, send*/recv*, *sockopt (sockets.cpp).
std::optional<std::int64_t> socket_syscall(Process& p, const SyscallArgs& s);
// eventfd2, signalfd4, epoll_create1/ctl/wait/pwait (syscalls_events.cpp).
std::optional<std::int64_t> event_syscall(Process& p, const SyscallArgs& s);
// userfaultfd(2), its ioctls (and /dev/userfaultfd's), read(2) and poll events (userfaultfd.cpp).
std::optional<std::int64_t> userfaultfd_syscall(Process& p, const SyscallArgs& s);
std::int64_t userfaultfd_ioctl(Process& p, GuestFile& f, std::uint64_t request, std::uint64_t arg);
std::int64_t userfaultfd_read(Process& p, GuestFile& f, std::uint64_t buf, std::uint64_t count);
short userfaultfd_poll_events(const GuestFile& f);
// read/write of a signalfd or an epoll descriptor (nullopt for any other descriptor).
std::optional<std::int64_t> event_read_write(Process& p, const SyscallArgs& s);
// ppoll, pselect6, epoll_pwait: the signal mask is replaced for the duration of the call (as
// rt_sigsuspend does); restore_temporary_mask puts it back unless a handler frame will (EINTR).
std::int64_t set_temporary_mask(Process& p, std::uint64_t mask_addr, std::uint64_t size);
void restore_temporary_mask(Process& p, std::int64_t result);
// Which of `requested` (POLLIN, POLLOUT, ...) guest descriptor `fd` has now (POLLNVAL: closed).
short poll_events(Process& p, int fd, short requested);
// The same for an epoll descriptor: POLLIN when one of its interests is ready.
short epoll_poll_events(Process& p, GuestFile& epoll, short requested);

}  // namespace emu::sys
