// Sockets: host sockets behind guest descriptors (so read, write, poll, epoll, dup and close treat
// them as any host descriptor). Every host socket is non-blocking; a guest call that must wait
// blocks only its task (BlockState) and runs again when the socket is ready. AF_UNIX names are
// guest paths, resolved inside the guest's root; SCM_RIGHTS carries guest descriptors.
#include <fcntl.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "syscalls/syscall_support.hpp"

namespace emu::sys {
namespace {

constexpr int kSigpipe = 13;
constexpr std::size_t kMaxTransfer = 4u << 20;  // bytes one call moves at most
constexpr int kScmMaxFd = 253;                  // SCM_MAX_FD (include/net/scm.h)
constexpr std::size_t kUnixPathMax = sizeof(sockaddr_un::sun_path);
constexpr socklen_t kUnixPathOffset = offsetof(sockaddr_un, sun_path);

// ---- Socket descriptors ----------------------------------------------------------------------

// The guest file behind `fd` when it is a socket: EBADF, or ENOTSOCK (net/socket.c sockfd_lookup).
std::int64_t socket_of(Process& p, std::uint64_t fd, std::shared_ptr<GuestFile>& out) {
    out = fd > INT32_MAX ? nullptr : p.files().get(static_cast<int>(fd));
    if (!out) return err(EBADF);
    struct stat st;
    if (out->kind != GuestFile::Kind::Host || out->host_fd < 0 || ::fstat(out->host_fd, &st) != 0 ||
        !S_ISSOCK(st.st_mode))
        return err(ENOTSOCK);
    return 0;
}

int socket_option(int host_fd, int option) {
    int value = 0;
    socklen_t len = sizeof value;
    return ::getsockopt(host_fd, SOL_SOCKET, option, &value, &len) == 0 ? value : -1;
}

// A new guest descriptor for a host socket (kept non-blocking on the host).
std::int64_t install_socket(Process& p, int host_fd, int type_flags) {
    auto f = std::make_shared<GuestFile>();
    f->host_fd = host_fd;
    f->host_nonblocking = true;
    f->nonblocking = type_flags & SOCK_NONBLOCK;
    f->open_flags = O_RDWR;
    return install_fd(p, f, 0, type_flags & SOCK_CLOEXEC);
}

// A call that found the socket not ready: EAGAIN for a non-blocking one, else the task sleeps until
// it is ready, at most SO_RCVTIMEO / SO_SNDTIMEO (then EAGAIN, as sock_rcvtimeo makes Linux do).
std::int64_t wait_for_socket(Process& p, const GuestFile& f, short events, int flags,
                             std::uint64_t progress = 0) {
    if (f.nonblocking || (flags & MSG_DONTWAIT)) return err(EAGAIN);
    timeval tv{};
    socklen_t len = sizeof tv;
    ::getsockopt(f.host_fd, SOL_SOCKET, events == POLLIN ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len);
    std::optional<std::uint64_t> deadline;
    const Task& t = p.task();
    if (t.block.retry && t.block.deadline_ns) deadline = t.block.deadline_ns;
    else if (tv.tv_sec || tv.tv_usec)
        deadline = monotonic_ns() + static_cast<std::uint64_t>(tv.tv_sec) * 1000000000ull +
                   static_cast<std::uint64_t>(tv.tv_usec) * 1000ull;
    if (deadline && monotonic_ns() >= *deadline) return progress ? static_cast<std::int64_t>(progress) : err(EAGAIN);
    BlockState b;
    b.deadline_ns = deadline;
    b.progress = progress;
    b.host_fds = {{f.host_fd, events, 0}};
    const int fd = f.host_fd;
    b.ready = [fd, events] { return host_ready(fd, events | POLLERR | POLLHUP); };
    return p.block(std::move(b));
}

// ---- Addresses -------------------------------------------------------------------------------

struct Address {
    sockaddr_storage storage{};
    socklen_t len = 0;
    OwnedFd keep;  // the directory or socket file an AF_UNIX host name goes through
    std::string guest_name;  // AF_UNIX: the path the guest gave (bind records it)

    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
};

// Host names of AF_UNIX sockets bound by guests, and the path each guest gave: getsockname,
// getpeername, accept and recvfrom answer the guest's own path (net/unix/af_unix.c unix_getname).
std::map<std::string, std::string>& bound_names() {
    static std::map<std::string, std::string> names;
    return names;
}

enum class AddressUse : std::uint8_t { Bind, Reach };

// A path name of an AF_UNIX address, as a host name: a bound socket is created in the directory
// found inside the root, a socket reached is the file found there (through its descriptor).
std::int64_t host_unix_name(Process& p, const std::string& path, AddressUse use, Address& out) {
    HostPath hp;
    const bool bind = use == AddressUse::Bind;
    if (const std::int64_t e = resolve_path(p, AT_FDCWD, path, hp, bind ? Final::NoFollow : Final::Follow,
                                            bind ? Purpose::Change : Purpose::Inspect))
        return e;
    std::string host = hp.path;
    if (hp.dirfd != AT_FDCWD) {
        host = host_path_of_fd(hp.dirfd) + "/" + hp.path;
        if (host.size() >= kUnixPathMax) host = "/proc/self/fd/" + std::to_string(hp.dirfd) + "/" + hp.path;
    }
    if (host.size() >= kUnixPathMax) return err(ENAMETOOLONG);
    out.keep = std::move(hp.owned);
    auto* un = reinterpret_cast<sockaddr_un*>(&out.storage);
    std::memset(un->sun_path, 0, kUnixPathMax);
    std::memcpy(un->sun_path, host.data(), host.size());
    out.len = static_cast<socklen_t>(kUnixPathOffset + host.size() + 1);
    out.guest_name = path;
    return 0;
}

// Copies a guest address (move_addr_to_kernel: EINVAL past sockaddr_storage, EFAULT) and turns an
// AF_UNIX path into the host name that reaches the same file inside the guest's root.
std::int64_t read_address(Process& p, const GuestFile& f, std::uint64_t addr, std::uint64_t len,
                          AddressUse use, Address& out) {
    if (static_cast<std::int32_t>(len) < 0 || len > sizeof out.storage) return err(EINVAL);
    out.len = static_cast<socklen_t>(len);
    if (len && !p.as().copy_from_user(&out.storage, addr, len)) return err(EFAULT);
    if (len <= kUnixPathOffset || out.storage.ss_family != AF_UNIX) return 0;
    if (socket_option(f.host_fd, SO_DOMAIN) != AF_UNIX) return 0;
    if (len > sizeof(sockaddr_un)) return err(EINVAL);  // unix_validate_addr
    const auto* un = reinterpret_cast<const sockaddr_un*>(&out.storage);
    if (un->sun_path[0] == 0) return 0;  // abstract: no file, the name passes as it is
    const std::string path(un->sun_path, strnlen(un->sun_path, len - kUnixPathOffset));
    return host_unix_name(p, path, use, out);
}

// A host address as the guest sees it: an AF_UNIX path becomes the guest's path.
void guest_view_of_address(Process& p, Address& a) {
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
    if (a.len <= kUnixPathOffset || un->sun_family != AF_UNIX || un->sun_path[0] == 0) return;
    const std::string host(un->sun_path, strnlen(un->sun_path, a.len - kUnixPathOffset));
    std::string guest;
    if (auto it = bound_names().find(host); it != bound_names().end()) guest = it->second;
    else guest = guest_view_of_host_path(p, host);
    if (guest.empty() || guest.size() >= kUnixPathMax) return;
    std::memset(un->sun_path, 0, kUnixPathMax);
    std::memcpy(un->sun_path, guest.data(), guest.size());
    a.len = static_cast<socklen_t>(kUnixPathOffset + guest.size() + 1);
}

// move_addr_to_user: reads the guest's length (EFAULT; EINVAL when negative), copies at most that
// much of the address and stores the full length.
std::int64_t write_address(Process& p, Address& a, std::uint64_t addr, std::uint64_t len_addr) {
    std::int32_t room = 0;
    if (!p.as().copy_from_user(&room, len_addr, sizeof room)) return err(EFAULT);
    if (room < 0) return err(EINVAL);
    guest_view_of_address(p, a);
    const std::size_t n = std::min<std::size_t>(static_cast<std::size_t>(room), a.len);
    if (n && !p.as().copy_to_user(addr, &a.storage, n)) return err(EFAULT);
    return put(p, len_addr, static_cast<std::int32_t>(a.len));
}

// ---- SCM_RIGHTS ------------------------------------------------------------------------------

// A guest file on its way through a socket. The host socket carries a token: a duplicate of the
// file's host descriptor, or an eventfd standing for a file with none (pidfd, epoll...). The
// receiver finds the file whose token is the same open file (kcmp) and shares it, as Linux does.
struct InFlight {
    OwnedFd token;
    std::shared_ptr<GuestFile> file;
};

std::vector<InFlight>& in_flight() {
    static std::vector<InFlight> files;
    return files;
}

bool same_open_file(int a, int b) {
    const int self = static_cast<int>(::getpid());
    return ::syscall(SYS_kcmp, self, self, KCMP_FILE, a, b) == 0;
}

// A token for `file`, recorded in flight: its host descriptor, or -errno.
int send_token(std::shared_ptr<GuestFile> file) {
    const int token = file->kind == GuestFile::Kind::Host && file->host_fd >= 0
                          ? ::fcntl(file->host_fd, F_DUPFD_CLOEXEC, 0)
                          : ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (token < 0) return -errno;
    in_flight().push_back({OwnedFd(token), std::move(file)});
    return token;
}

// Forgets tokens of a message that was not sent.
void drop_tokens(const std::vector<int>& tokens) {
    auto& v = in_flight();
    std::erase_if(v, [&](const InFlight& e) { return std::find(tokens.begin(), tokens.end(), e.token.get()) != tokens.end(); });
}

// The guest file a received host descriptor stands for (which the call then owns or closes).
std::shared_ptr<GuestFile> received_file(int host_fd) {
    auto& v = in_flight();
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (!same_open_file(host_fd, it->token.get())) continue;
        auto file = it->file;
        v.erase(it);
        ::close(host_fd);
        return file;
    }
    // Sent by a host process: a new guest file on that descriptor.
    auto file = std::make_shared<GuestFile>();
    file->host_fd = host_fd;
    const int fl = ::fcntl(host_fd, F_GETFL);
    file->host_nonblocking = fl >= 0 && (fl & O_NONBLOCK);
    file->nonblocking = file->host_nonblocking;
    file->open_flags = fl >= 0 ? fl & O_ACCMODE : O_RDWR;
    return file;
}

// The guest's control messages as the host sends them: SCM_RIGHTS descriptors become tokens
// (EBADF for a closed one, EINVAL past SCM_MAX_FD or for a malformed header: __scm_send).
std::int64_t host_control(Process& p, const std::vector<char>& guest, std::vector<char>& host,
                          std::vector<int>& tokens) {
    host = guest;
    std::size_t at = 0;
    while (at + sizeof(cmsghdr) <= guest.size()) {
        cmsghdr h;
        std::memcpy(&h, guest.data() + at, sizeof h);
        if (h.cmsg_len < sizeof(cmsghdr) || h.cmsg_len > guest.size() - at) return err(EINVAL);
        if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS) {
            const std::size_t n = (h.cmsg_len - CMSG_LEN(0)) / sizeof(int);
            if (n > kScmMaxFd) return err(EINVAL);
            for (std::size_t i = 0; i < n; ++i) {
                int fd;
                const std::size_t off = at + CMSG_LEN(0) + i * sizeof(int);
                std::memcpy(&fd, guest.data() + off, sizeof fd);
                auto file = fd < 0 ? nullptr : p.files().get(fd);
                if (!file) return err(EBADF);
                const int token = send_token(file);
                if (token < 0) return token;
                tokens.push_back(token);
                std::memcpy(host.data() + off, &token, sizeof token);
            }
        } else if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_CREDENTIALS &&
                   h.cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            // The guest names its own process; the host kernel checks mmuemu's pid.
            ucred c;
            std::memcpy(&c, guest.data() + at + CMSG_LEN(0), sizeof c);
            if (c.pid == p.group().tgid) c.pid = ::getpid();
            std::memcpy(host.data() + at + CMSG_LEN(0), &c, sizeof c);
        }
        at += CMSG_ALIGN(h.cmsg_len);
    }
    return 0;
}

// The host's control messages as the guest receives them into `room` bytes (scm_detach_fds,
// put_cmsg): descriptors are installed while they fit, the rest closed, MSG_CTRUNC when cut.
std::vector<char> guest_control(Process& p, msghdr& host, std::size_t room, bool cloexec) {
    std::vector<char> out;
    for (cmsghdr* c = CMSG_FIRSTHDR(&host); c; c = CMSG_NXTHDR(&host, c)) {
        std::vector<char> data(reinterpret_cast<char*>(CMSG_DATA(c)),
                               reinterpret_cast<char*>(c) + c->cmsg_len);
        const std::size_t left = room - std::min(room, out.size());
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            const std::size_t n = data.size() / sizeof(int);
            const std::size_t fit = left < sizeof(cmsghdr) ? 0 : (left - sizeof(cmsghdr)) / sizeof(int);
            std::vector<int> fds;
            bool full = false;  // no descriptor left (EMFILE): the rest are dropped
            for (std::size_t i = 0; i < n; ++i) {
                int hfd;
                std::memcpy(&hfd, data.data() + i * sizeof(int), sizeof hfd);
                if (full || fds.size() >= fit) {
                    ::close(hfd);
                    continue;
                }
                const int gfd = install_fd(p, received_file(hfd), 0, cloexec);
                if (gfd < 0) full = true;
                else fds.push_back(gfd);
            }
            if (fds.size() < n) host.msg_flags |= MSG_CTRUNC;
            if (fds.empty()) continue;
            cmsghdr h{};
            h.cmsg_len = CMSG_LEN(fds.size() * sizeof(int));
            h.cmsg_level = SOL_SOCKET;
            h.cmsg_type = SCM_RIGHTS;
            const std::size_t at = out.size();
            out.resize(at + std::min<std::size_t>(CMSG_SPACE(fds.size() * sizeof(int)), left), 0);
            std::memcpy(out.data() + at, &h, sizeof h);
            std::memcpy(out.data() + at + CMSG_LEN(0), fds.data(), fds.size() * sizeof(int));
            continue;
        }
        if (left < sizeof(cmsghdr)) {
            host.msg_flags |= MSG_CTRUNC;
            continue;
        }
        std::size_t len = c->cmsg_len;
        if (len > left) {
            host.msg_flags |= MSG_CTRUNC;
            len = left;
        }
        cmsghdr h = *c;
        h.cmsg_len = len;
        const std::size_t at = out.size();
        out.resize(at + std::min<std::size_t>(CMSG_ALIGN(len), left), 0);
        std::memcpy(out.data() + at, &h, sizeof h);
        std::memcpy(out.data() + at + sizeof h, data.data(), std::min(data.size(), len - sizeof h));
    }
    return out;
}

// ---- Sending and receiving -------------------------------------------------------------------

struct Buffer {
    std::uint64_t addr;
    std::size_t len;
};

bool is_stream(int host_fd) { return socket_option(host_fd, SO_TYPE) == SOCK_STREAM; }

// Flags the host call always gets: mmuemu never sleeps in the host, nor takes SIGPIPE there.
constexpr int kHostSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
constexpr int kHostRecvFlags = MSG_DONTWAIT | MSG_CMSG_CLOEXEC;

// sendto/sendmsg: the data is gathered through the MMU (EFAULT), a blocking stream send that fits
// only in part waits and continues where it stopped (`progress`); EPIPE raises SIGPIPE unless
// MSG_NOSIGNAL (net/core/stream.c sk_stream_error).
std::int64_t send_message(Process& p, GuestFile& f, const std::vector<Buffer>& bufs, int flags, Address* to,
                          const std::vector<char>& control) {
    std::vector<char> data;
    for (const Buffer& b : bufs) {
        const std::size_t at = data.size();
        const std::size_t len = std::min(b.len, kMaxTransfer - at);
        data.resize(at + len);
        if (len && !p.as().copy_from_user(data.data() + at, b.addr, len)) return err(EFAULT);
    }
    const Task& t = p.task();
    const std::size_t done = t.block.retry ? std::min<std::size_t>(t.block.progress, data.size()) : 0;
    std::vector<char> host_ctl;
    std::vector<int> tokens;
    if (done == 0 && !control.empty()) {
        if (const std::int64_t e = host_control(p, control, host_ctl, tokens)) {
            drop_tokens(tokens);
            return e;
        }
    }
    iovec iov{data.data() + done, data.size() - done};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (to && to->len) m.msg_name = to->sa(), m.msg_namelen = to->len;
    if (!host_ctl.empty()) m.msg_control = host_ctl.data(), m.msg_controllen = host_ctl.size();
    const long sent = ::sendmsg(f.host_fd, &m, (flags & ~MSG_DONTWAIT) | kHostSendFlags);
    if (sent < 0) {
        const int e = errno;
        drop_tokens(tokens);
        if (e == EAGAIN) return wait_for_socket(p, f, POLLOUT, flags, done);
        if (e == EPIPE && !(flags & MSG_NOSIGNAL)) p.send_signal(kSigpipe, 0);
        return done ? static_cast<std::int64_t>(done) : err(e);
    }
    const std::size_t total = done + static_cast<std::size_t>(sent);
    if (total < data.size() && !f.nonblocking && !(flags & MSG_DONTWAIT) && is_stream(f.host_fd))
        return wait_for_socket(p, f, POLLOUT, flags, total);
    return static_cast<std::int64_t>(total);
}

// Where recvfrom/recvmsg put what comes with the data.
struct ReceiveInfo {
    std::uint64_t name = 0, name_len_addr = 0;  // the sender's address and its length (or 0)
    std::uint64_t control = 0;                  // control buffer and its size
    std::size_t control_room = 0;
    int msg_flags = 0;                          // out: MSG_TRUNC, MSG_CTRUNC, MSG_EOR...
    std::size_t control_len = 0;                // out: bytes of control messages written
};

// Copies `data` into the buffers from byte `skip` of them on.
bool scatter(Process& p, const std::vector<Buffer>& bufs, std::size_t skip, const char* data, std::size_t n) {
    std::size_t done = 0;
    for (const Buffer& b : bufs) {
        if (done >= n) break;
        if (skip >= b.len) {
            skip -= b.len;
            continue;
        }
        const std::size_t chunk = std::min(b.len - skip, n - done);
        if (!p.as().copy_to_user(b.addr + skip, data + done, chunk)) return false;
        done += chunk;
        skip = 0;
    }
    return true;
}

// How much of the buffers the guest can write, up to the first faulting byte.
std::size_t writable_room(Process& p, const std::vector<Buffer>& bufs, std::size_t total) {
    std::size_t room = 0;
    for (const Buffer& b : bufs) {
        const std::size_t ok = writable_prefix(p, b.addr, b.len);
        room += ok;
        if (ok < b.len) break;
    }
    return std::min(room, total);
}

// recvfrom/recvmsg: data that would reach a faulting byte is EFAULT and stays queued; MSG_WAITALL
// on a stream waits until the buffers are full (or EOF, an error, a signal).
std::int64_t recv_message(Process& p, GuestFile& f, const std::vector<Buffer>& bufs, int flags, ReceiveInfo& info) {
    std::size_t total = 0;
    for (const Buffer& b : bufs) total += b.len;
    total = std::min(total, kMaxTransfer);
    const Task& t = p.task();
    const std::size_t done = t.block.retry ? std::min<std::size_t>(t.block.progress, total) : 0;
    const std::size_t room = writable_room(p, bufs, total);
    std::vector<char> tmp(std::max<std::size_t>(total, 1));
    if (room < total) {
        const long peek = ::recv(f.host_fd, tmp.data(), total, MSG_PEEK | MSG_DONTWAIT);
        if (peek < 0 && errno == EAGAIN) return wait_for_socket(p, f, POLLIN, flags, done);
        if (peek < 0) return err(errno);
        if (static_cast<std::size_t>(peek) + done > room) return err(EFAULT);
    }
    std::vector<char> ctl(info.control ? CMSG_SPACE(kScmMaxFd * sizeof(int)) + 512 : CMSG_SPACE(kScmMaxFd * sizeof(int)));
    Address from;
    iovec iov{tmp.data(), total - done};
    msghdr m{};
    m.msg_name = from.sa();
    m.msg_namelen = sizeof from.storage;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.data();
    m.msg_controllen = ctl.size();
    const long got = ::recvmsg(f.host_fd, &m, (flags & ~(MSG_DONTWAIT | MSG_WAITALL | MSG_CMSG_CLOEXEC)) | kHostRecvFlags);
    if (got < 0) {
        if (errno == EAGAIN) return done ? static_cast<std::int64_t>(done) : wait_for_socket(p, f, POLLIN, flags);
        return done ? static_cast<std::int64_t>(done) : err(errno);
    }
    const std::size_t copied = std::min(static_cast<std::size_t>(got), total - done);
    if (!scatter(p, bufs, done, tmp.data(), copied)) return err(EFAULT);
    from.len = m.msg_namelen;
    if (m.msg_controllen == 0) m.msg_control = nullptr;
    const std::vector<char> guest_ctl = guest_control(p, m, info.control ? info.control_room : 0, flags & MSG_CMSG_CLOEXEC);
    info.msg_flags = m.msg_flags;
    info.control_len = guest_ctl.size();
    if (!guest_ctl.empty() && !p.as().copy_to_user(info.control, guest_ctl.data(), guest_ctl.size())) return err(EFAULT);
    if (info.name)
        if (const std::int64_t e = write_address(p, from, info.name, info.name_len_addr)) return e;
    const std::size_t now = done + static_cast<std::size_t>(got);
    if ((flags & MSG_WAITALL) && !(flags & MSG_PEEK) && got > 0 && now < total && !f.nonblocking &&
        !(flags & MSG_DONTWAIT) && is_stream(f.host_fd))
        return wait_for_socket(p, f, POLLIN, flags, now);
    return static_cast<std::int64_t>(now);
}

// A guest msghdr's iovecs (UIO_MAXIOV: EMSGSIZE; EFAULT).
std::int64_t read_iovecs(Process& p, const msghdr& m, std::vector<Buffer>& out) {
    if (m.msg_iovlen > 1024) return err(EMSGSIZE);
    for (std::size_t i = 0; i < m.msg_iovlen; ++i) {
        iovec v;
        if (!p.as().copy_from_user(&v, reinterpret_cast<std::uint64_t>(m.msg_iov) + i * sizeof v, sizeof v))
            return err(EFAULT);
        if (static_cast<std::int64_t>(v.iov_len) < 0) return err(EINVAL);
        if (v.iov_len) out.push_back({reinterpret_cast<std::uint64_t>(v.iov_base), v.iov_len});
    }
    return 0;
}

std::int64_t do_sendmsg(Process& p, GuestFile& f, std::uint64_t msg_addr, int flags) {
    msghdr m;
    if (!p.as().copy_from_user(&m, msg_addr, sizeof m)) return err(EFAULT);
    std::vector<Buffer> bufs;
    if (const std::int64_t e = read_iovecs(p, m, bufs)) return e;
    Address to;
    if (m.msg_name)
        if (const std::int64_t e = read_address(p, f, reinterpret_cast<std::uint64_t>(m.msg_name), m.msg_namelen,
                                                AddressUse::Reach, to))
            return e;
    if (m.msg_controllen > INT32_MAX) return err(ENOBUFS);
    std::vector<char> control(m.msg_controllen >= sizeof(cmsghdr) ? m.msg_controllen : 0);
    if (!control.empty() &&
        !p.as().copy_from_user(control.data(), reinterpret_cast<std::uint64_t>(m.msg_control), control.size()))
        return err(EFAULT);
    return send_message(p, f, bufs, flags, m.msg_name ? &to : nullptr, control);
}

std::int64_t do_recvmsg(Process& p, GuestFile& f, std::uint64_t msg_addr, int flags) {
    msghdr m;
    if (!p.as().copy_from_user(&m, msg_addr, sizeof m)) return err(EFAULT);
    std::vector<Buffer> bufs;
    if (const std::int64_t e = read_iovecs(p, m, bufs)) return e;
    ReceiveInfo info;
    if (m.msg_name) {
        info.name = reinterpret_cast<std::uint64_t>(m.msg_name);
        info.name_len_addr = msg_addr + offsetof(msghdr, msg_namelen);
    }
    info.control = reinterpret_cast<std::uint64_t>(m.msg_control);
    info.control_room = m.msg_controllen;
    const std::int64_t r = recv_message(p, f, bufs, flags, info);
    if (r < 0) return r;
    const int out_flags = info.msg_flags & ~MSG_CMSG_CLOEXEC;
    if (put(p, msg_addr + offsetof(msghdr, msg_controllen), static_cast<std::size_t>(info.control_len)) ||
        put(p, msg_addr + offsetof(msghdr, msg_flags), out_flags))
        return err(EFAULT);
    return r;
}

// sendmmsg/recvmmsg: one message after another; once one is done the rest do not wait.
std::int64_t do_mmsg(Process& p, GuestFile& f, std::uint64_t vec, std::uint64_t vlen, int flags, bool send) {
    vlen = std::min<std::uint64_t>(vlen, 1024);
    std::uint64_t n = 0;
    for (; n < vlen; ++n) {
        const std::uint64_t at = vec + n * sizeof(mmsghdr);
        const int f_n = n ? flags | MSG_DONTWAIT : flags;
        const std::int64_t r = send ? do_sendmsg(p, f, at, f_n) : do_recvmsg(p, f, at, f_n);
        if (r < 0 || r == kBlock) return n ? static_cast<std::int64_t>(n) : r;
        if (put(p, at + offsetof(mmsghdr, msg_len), static_cast<unsigned>(r))) return n ? static_cast<std::int64_t>(n) : err(EFAULT);
        if (!send && (flags & MSG_WAITFORONE)) flags |= MSG_DONTWAIT;
    }
    return static_cast<std::int64_t>(n);
}

// ---- The calls -------------------------------------------------------------------------------

std::int64_t do_socket(Process& p, const SyscallArgs& s) {
    const int type = static_cast<int>(s.a[1]);
    const int fd = ::socket(static_cast<int>(s.a[0]), type | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(s.a[2]));
    if (fd < 0) return err(errno);
    return install_socket(p, fd, type);
}

std::int64_t do_socketpair(Process& p, const SyscallArgs& s) {
    const int type = static_cast<int>(s.a[1]);
    int fds[2];
    if (::socketpair(static_cast<int>(s.a[0]), type | SOCK_NONBLOCK | SOCK_CLOEXEC, static_cast<int>(s.a[2]), fds) < 0)
        return err(errno);
    const std::int64_t a = install_socket(p, fds[0], type);
    if (a < 0) {
        ::close(fds[1]);
        return a;
    }
    const std::int64_t b = install_socket(p, fds[1], type);
    if (b < 0) {
        p.files().close(static_cast<int>(a));
        return b;
    }
    const int out[2] = {static_cast<int>(a), static_cast<int>(b)};
    if (!p.as().copy_to_user(s.a[3], out, sizeof out)) {
        p.files().close(out[0]);
        p.files().close(out[1]);
        return err(EFAULT);
    }
    return 0;
}

std::int64_t do_bind(Process& p, GuestFile& f, const SyscallArgs& s) {
    Address a;
    if (const std::int64_t e = read_address(p, f, s.a[1], s.a[2], AddressUse::Bind, a)) return e;
    if (::bind(f.host_fd, a.sa(), a.len) < 0) return err(errno);
    if (!a.guest_name.empty())
        bound_names()[reinterpret_cast<sockaddr_un*>(&a.storage)->sun_path] = a.guest_name;
    return 0;
}

constexpr std::uint64_t kConnecting = 1;  // BlockState::progress of a connect in progress

// A blocking connect waits for the host's connection (EINPROGRESS), then answers SO_ERROR; an
// AF_UNIX listener whose backlog is full is asked again (Linux sleeps in unix_wait_for_peer).
std::int64_t do_connect(Process& p, GuestFile& f, const SyscallArgs& s) {
    const Task& t = p.task();
    BlockState b;
    b.host_fds = {{f.host_fd, POLLOUT, 0}};
    const int fd = f.host_fd;
    b.ready = [fd] { return host_ready(fd, POLLOUT | POLLERR | POLLHUP); };
    if (t.block.retry && t.block.progress == kConnecting) {
        if (!host_ready(fd, POLLOUT | POLLERR | POLLHUP)) {
            b.progress = kConnecting;
            return p.block(std::move(b));
        }
        const int e = socket_option(fd, SO_ERROR);
        return e > 0 ? err(e) : 0;
    }
    Address a;
    if (const std::int64_t e = read_address(p, f, s.a[1], s.a[2], AddressUse::Reach, a)) return e;
    if (::connect(fd, a.sa(), a.len) == 0) return 0;
    const int e = errno;
    if (f.nonblocking) return err(e);
    if (e == EINPROGRESS) {
        b.progress = kConnecting;
        return p.block(std::move(b));
    }
    if (e == EAGAIN && socket_option(fd, SO_DOMAIN) == AF_UNIX) {
        BlockState again;
        again.deadline_ns = monotonic_ns() + 1000000;  // look again in 1 ms
        return p.block(std::move(again));
    }
    return err(e);
}

std::int64_t do_accept(Process& p, GuestFile& f, std::uint64_t addr, std::uint64_t len_addr, std::uint64_t flags) {
    if (flags & ~static_cast<std::uint64_t>(SOCK_CLOEXEC | SOCK_NONBLOCK)) return err(EINVAL);
    Address a;
    a.len = sizeof a.storage;
    const int fd = ::accept4(f.host_fd, a.sa(), &a.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return errno == EAGAIN ? wait_for_socket(p, f, POLLIN, 0) : err(errno);
    const std::int64_t gfd = install_socket(p, fd, static_cast<int>(flags));
    if (gfd < 0 || !addr) return gfd;
    if (const std::int64_t e = write_address(p, a, addr, len_addr)) {
        p.files().close(static_cast<int>(gfd));
        return e;
    }
    return gfd;
}

std::int64_t do_name(Process& p, GuestFile& f, const SyscallArgs& s) {
    Address a;
    a.len = sizeof a.storage;
    const int r = s.nr == SYS_getsockname ? ::getsockname(f.host_fd, a.sa(), &a.len) : ::getpeername(f.host_fd, a.sa(), &a.len);
    if (r < 0) return err(errno);
    return write_address(p, a, s.a[1], s.a[2]);
}

// Options whose value holds a pointer into the caller's memory cannot pass to the host.
bool option_has_pointer(int level, int name) {
    return level == SOL_SOCKET && (name == SO_ATTACH_FILTER || name == SO_ATTACH_BPF ||
                                   name == SO_ATTACH_REUSEPORT_CBPF || name == SO_ATTACH_REUSEPORT_EBPF);
}

constexpr std::size_t kMaxOption = 4096;

std::int64_t do_setsockopt(Process& p, GuestFile& f, const SyscallArgs& s) {
    const int level = static_cast<int>(s.a[1]), name = static_cast<int>(s.a[2]);
    const std::int32_t len = static_cast<std::int32_t>(s.a[4]);
    if (len < 0) return err(EINVAL);
    if (option_has_pointer(level, name)) return err(ENOPROTOOPT);
    std::vector<char> value(std::min<std::size_t>(static_cast<std::size_t>(len), kMaxOption));
    if (!value.empty()) {
        const std::size_t got = p.as().copy_from_user_partial(value.data(), s.a[3], value.size());
        if (got == 0) return err(EFAULT);
        value.resize(got);
    }
    return host_result(::setsockopt(f.host_fd, level, name, s.a[3] ? value.data() : nullptr,
                                    static_cast<socklen_t>(value.size())));
}

std::int64_t do_getsockopt(Process& p, GuestFile& f, const SyscallArgs& s) {
    std::int32_t len = 0;
    if (!p.as().copy_from_user(&len, s.a[4], sizeof len)) return err(EFAULT);
    if (len < 0) return err(EINVAL);
    std::vector<char> value(std::min<std::size_t>(static_cast<std::size_t>(len), kMaxOption));
    socklen_t out = static_cast<socklen_t>(value.size());
    if (::getsockopt(f.host_fd, static_cast<int>(s.a[1]), static_cast<int>(s.a[2]), value.data(), &out) < 0)
        return err(errno);
    out = std::min<socklen_t>(out, static_cast<socklen_t>(value.size()));
    if (out && !p.as().copy_to_user(s.a[3], value.data(), out)) return err(EFAULT);
    return put(p, s.a[4], static_cast<std::int32_t>(out));
}

// The calls on an existing socket (EBADF, ENOTSOCK first).
std::int64_t on_socket(Process& p, const SyscallArgs& s) {
    // accept4 looks at its flags before the descriptor (net/socket.c __sys_accept4).
    if (s.nr == SYS_accept4 && (s.a[3] & ~static_cast<std::uint64_t>(SOCK_CLOEXEC | SOCK_NONBLOCK))) return err(EINVAL);
    std::shared_ptr<GuestFile> f;
    if (const std::int64_t e = socket_of(p, s.a[0], f)) return e;
    const int flags = static_cast<int>(s.a[3]);
    switch (s.nr) {
    case SYS_bind: return do_bind(p, *f, s);
    case SYS_listen: return host_result(::listen(f->host_fd, static_cast<int>(s.a[1])));
    case SYS_connect: return do_connect(p, *f, s);
    case SYS_accept: return do_accept(p, *f, s.a[1], s.a[2], 0);
    case SYS_accept4: return do_accept(p, *f, s.a[1], s.a[2], s.a[3]);
    case SYS_getsockname:
    case SYS_getpeername: return do_name(p, *f, s);
    case SYS_shutdown: return host_result(::shutdown(f->host_fd, static_cast<int>(s.a[1])));
    case SYS_setsockopt: return do_setsockopt(p, *f, s);
    case SYS_getsockopt: return do_getsockopt(p, *f, s);
    case SYS_sendto: {
        Address to;
        if (s.a[4])
            if (const std::int64_t e = read_address(p, *f, s.a[4], s.a[5], AddressUse::Reach, to)) return e;
        return send_message(p, *f, {{s.a[1], s.a[2]}}, flags, s.a[4] ? &to : nullptr, {});
    }
    case SYS_recvfrom: {
        ReceiveInfo info;
        info.name = s.a[4];
        info.name_len_addr = s.a[5];
        return recv_message(p, *f, {{s.a[1], s.a[2]}}, flags, info);
    }
    case SYS_sendmsg: return do_sendmsg(p, *f, s.a[1], static_cast<int>(s.a[2]));
    case SYS_recvmsg: return do_recvmsg(p, *f, s.a[1], static_cast<int>(s.a[2]));
    case SYS_sendmmsg: return do_mmsg(p, *f, s.a[1], s.a[2], static_cast<int>(s.a[3]), true);
    case SYS_recvmmsg: return do_mmsg(p, *f, s.a[1], s.a[2], static_cast<int>(s.a[3]), false);
    default: return err(ENOSYS);
    }
}

}  // namespace

std::optional<std::int64_t> socket_syscall(Process& p, const SyscallArgs& s) {
    switch (s.nr) {
    case SYS_socket: return do_socket(p, s);
    case SYS_socketpair: return do_socketpair(p, s);
    case SYS_bind: case SYS_listen: case SYS_connect: case SYS_accept: case SYS_accept4:
    case SYS_getsockname: case SYS_getpeername: case SYS_shutdown: case SYS_setsockopt:
    case SYS_getsockopt: case SYS_sendto: case SYS_recvfrom: case SYS_sendmsg: case SYS_recvmsg:
    case SYS_sendmmsg: case SYS_recvmmsg:
        return on_socket(p, s);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
