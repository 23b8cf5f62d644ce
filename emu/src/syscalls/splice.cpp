// splice, tee and vmsplice: data moved between a pipe and another descriptor without passing
// through the caller's buffers. Host pipes are non-blocking in mmuemu, so a call that would wait
// makes the task wait for the host descriptor instead and is executed again when it is ready.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "fs/file_objects.hpp"
#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

constexpr std::uint64_t kSpliceNonblock = SPLICE_F_NONBLOCK;
constexpr std::uint64_t kSpliceKnownFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;
constexpr std::size_t kMaxChunk = 1 << 20;

bool is_pipe(const GuestFile& f) {
    struct stat st;
    return f.host_fd >= 0 && ::fstat(f.host_fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

bool same_file(const GuestFile& a, const GuestFile& b) {
    struct stat sa, sb;
    return ::fstat(a.host_fd, &sa) == 0 && ::fstat(b.host_fd, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int access_mode(const GuestFile& f) { return ::fcntl(f.host_fd, F_GETFL) & O_ACCMODE; }

// The pipe end(s) a blocking call waits for, or nullopt when it can go on now. Linux treats a
// pipe opened O_NONBLOCK like SPLICE_F_NONBLOCK.
std::optional<std::int64_t> wait_for_pipes(Process& p, const GuestFile* in, const GuestFile* out,
                                           std::uint64_t flags) {
    if (flags & kSpliceNonblock) return std::nullopt;
    if (in)
        if (auto w = wait_until_ready(p, *in, POLLIN)) return w;
    if (out)
        if (auto w = wait_until_ready(p, *out, POLLOUT)) return w;
    return std::nullopt;
}

// A host call on pipes that found one not ready although the guest may wait: wait and retry.
std::int64_t finish(Process& p, long r, const GuestFile* in, const GuestFile* out, std::uint64_t flags) {
    if (r >= 0) return r;
    const int e = errno;
    const bool guest_waits = !(flags & kSpliceNonblock) && !(in && in->nonblocking) && !(out && out->nonblocking);
    if (e == EAGAIN && guest_waits) {
        BlockState b;
        if (in) b.host_fds.push_back({in->host_fd, POLLIN, 0});
        if (out) b.host_fds.push_back({out->host_fd, POLLOUT, 0});
        const int in_fd = in ? in->host_fd : -1, out_fd = out ? out->host_fd : -1;
        b.ready = [in_fd, out_fd] {
            return (in_fd < 0 || host_ready(in_fd, POLLIN)) && (out_fd < 0 || host_ready(out_fd, POLLOUT));
        };
        return p.block(std::move(b));
    }
    if (e == EPIPE) p.send_signal(13, 0);  // SIGPIPE, as a write to a pipe without readers
    return err(e);
}

// Reads an optional loff_t argument; a pipe takes none (ESPIPE).
std::int64_t read_offset(Process& p, std::uint64_t addr, bool pipe, loff_t& out) {
    if (!addr) return 0;
    if (pipe) return err(ESPIPE);
    return p.as().copy_from_user(&out, addr, sizeof out) ? 0 : err(EFAULT);
}

// From a pipe into a regular file: through a buffer, so that the file's pages mapped by the
// guest see the bytes (FileObjects::after_write), as a write(2) would.
std::int64_t splice_into_file(Process& p, GuestFile& in, GuestFile& out, std::uint64_t off_addr,
                              loff_t offset, std::size_t len, std::uint64_t flags) {
    if (::fcntl(out.host_fd, F_GETFL) & O_APPEND) return err(EINVAL);  // splice never appends
    std::vector<char> bytes(std::min(len, kMaxChunk));
    const long got = ::read(in.host_fd, bytes.data(), bytes.size());
    if (got <= 0) return got == 0 ? 0 : finish(p, got, &in, nullptr, flags);
    const long written = off_addr ? ::pwrite(out.host_fd, bytes.data(), static_cast<std::size_t>(got), offset)
                                  : ::write(out.host_fd, bytes.data(), static_cast<std::size_t>(got));
    if (written < 0) return err(errno);
    p.file_objects().after_write(out, off_addr ? offset : -1, bytes.data(), static_cast<std::size_t>(written));
    if (off_addr && put(p, off_addr, static_cast<loff_t>(offset + written)) != 0) return err(EFAULT);
    return written;
}

std::int64_t do_splice(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    if (a[4] == 0) return 0;  // before anything else is looked at, as Linux does
    if (a[5] & ~kSpliceKnownFlags) return err(EINVAL);
    auto in = p.files().get(static_cast<int>(a[0])), out = p.files().get(static_cast<int>(a[2]));
    if (!in || !out) return err(EBADF);
    if (in->host_fd < 0 || out->host_fd < 0) return err(EINVAL);
    const bool in_pipe = is_pipe(*in), out_pipe = is_pipe(*out);
    if (access_mode(*in) == O_WRONLY || access_mode(*out) == O_RDONLY) return err(EBADF);
    if ((!in_pipe && !out_pipe) || (in_pipe && out_pipe && same_file(*in, *out))) return err(EINVAL);
    loff_t off_in = 0, off_out = 0;
    if (const std::int64_t e = read_offset(p, a[1], in_pipe, off_in)) return e;
    if (const std::int64_t e = read_offset(p, a[3], out_pipe, off_out)) return e;
    // The length is a signed count there (rw_verify_area): above SSIZE_MAX is EINVAL.
    if (static_cast<std::int64_t>(a[4]) < 0) return err(EINVAL);
    const std::size_t len = std::min<std::uint64_t>(a[4], kMaxChunk);
    if (auto w = wait_for_pipes(p, in_pipe ? in.get() : nullptr, out_pipe ? out.get() : nullptr, a[5])) return *w;
    if (!out_pipe && out->kind == GuestFile::Kind::Host && is_regular_file(out->host_fd))
        return splice_into_file(p, *in, *out, a[3], off_out, len, a[5]);
    if (!in_pipe) p.file_objects().before_read(*in);  // pages written through mappings first
    const long r = ::splice(in->host_fd, a[1] ? &off_in : nullptr, out->host_fd, a[3] ? &off_out : nullptr,
                            len, static_cast<unsigned>(a[5] | kSpliceNonblock));
    if (r > 0 && a[1] && put(p, a[1], off_in) != 0) return err(EFAULT);
    if (r > 0 && a[3] && put(p, a[3], off_out) != 0) return err(EFAULT);
    return finish(p, r, in_pipe ? in.get() : nullptr, out_pipe ? out.get() : nullptr, a[5]);
}

// tee: both ends pipes (EINVAL otherwise, and for the same pipe, as the host answers).
std::int64_t do_tee(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    if (a[3] & ~kSpliceKnownFlags) return err(EINVAL);
    if (a[2] == 0) return 0;
    auto in = p.files().get(static_cast<int>(a[0])), out = p.files().get(static_cast<int>(a[1]));
    if (!in || !out) return err(EBADF);
    if (!is_pipe(*in) || !is_pipe(*out) || same_file(*in, *out)) return err(EINVAL);
    const std::size_t len = std::min<std::uint64_t>(a[2], kMaxChunk);
    if (auto w = wait_for_pipes(p, in.get(), out.get(), a[3])) return *w;
    const long r = ::tee(in->host_fd, out->host_fd, len, static_cast<unsigned>(a[3] | kSpliceNonblock));
    return finish(p, r, in.get(), out.get(), a[3]);
}

// vmsplice: into a pipe's write end it gathers the iovecs, from its read end it scatters into
// them, as writev and readv would; any other descriptor is EBADF.
std::int64_t do_vmsplice(Process& p, const SyscallArgs& s) {
    const auto& a = s.a;
    if (a[3] & ~kSpliceKnownFlags) return err(EINVAL);
    auto f = p.files().get(static_cast<int>(a[0]));
    if (!f) return err(EBADF);
    // The iovecs are read before the descriptor's kind is checked (measured: a regular file
    // with a bad iovec is EFAULT, with nothing to move 0, else EBADF).
    const auto count = static_cast<std::uint32_t>(a[2]);  // the kernel takes the count as unsigned int
    if (count > 1024) return err(EINVAL);                 // UIO_MAXIOV
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        struct iovec iov;
        if (!p.as().copy_from_user(&iov, a[1] + i * sizeof iov, sizeof iov)) return err(EFAULT);
        total += iov.iov_len;
    }
    if (total == 0) return 0;
    if (!is_pipe(*f)) return err(EBADF);
    const bool into_pipe = access_mode(*f) == O_WRONLY;
    if ((a[3] & kSpliceNonblock) && !host_ready(f->host_fd, into_pipe ? POLLOUT : POLLIN)) return err(EAGAIN);
    return do_iov(p, static_cast<int>(a[0]), a[1], static_cast<int>(count), into_pipe);
}

}  // namespace

std::optional<std::int64_t> splice_syscall(Process& p, const SyscallArgs& s) {
    switch (s.nr) {
    case SYS_splice: return do_splice(p, s);
    case SYS_tee: return do_tee(p, s);
    case SYS_vmsplice: return do_vmsplice(p, s);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
