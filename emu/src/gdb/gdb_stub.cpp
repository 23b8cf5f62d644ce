#include "gdb/gdb_stub.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace emu {

GdbStub::GdbStub(DebugTarget& target, const GdbOptions& options)
    : options_(options), session_(target, [this](const std::string& bytes) { send_raw(bytes); }) {
    sockaddr_storage storage{};
    socklen_t len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
    const auto port = htons(static_cast<std::uint16_t>(options.port));
    if (::inet_pton(AF_INET, options.listen_address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = port;
        len = sizeof *v4;
    } else if (::inet_pton(AF_INET6, options.listen_address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = port;
        len = sizeof *v6;
    } else {
        throw std::invalid_argument("--gdb-listen: '" + options.listen_address + "' is not an IP address");
    }
    listener_ = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener_ < 0) throw std::system_error(errno, std::generic_category(), "gdb socket");
    const int yes = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&storage), len) < 0 || ::listen(listener_, 4) < 0)
        throw std::system_error(errno, std::generic_category(),
                                "gdb: cannot listen on " + options.listen_address + ":" + std::to_string(options.port));
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&storage), &len);
    port_ = ntohs(storage.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
}

void GdbStub::start_watching(uc_engine* uc) {
    if (client_ < 0 || watcher_.joinable()) return;
    watching_ = true;
    const int client = client_;
    watcher_ = std::thread([this, uc, client] {
        while (watching_) {
            // What the client sends while the guest runs is kept up to a bound; beyond it the
            // bytes stay in the socket (TCP holds the client back) until the next stop.
            if (pending_input_.size() > 2 * RspSession::kMaxPacket) {
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
                continue;
            }
            pollfd fd{client, POLLIN, 0};
            const int ready = ::poll(&fd, 1, 20);  // short waits: stop_watching() ends the loop
            if (ready <= 0 || !(fd.revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[1024];
            const ssize_t n = ::recv(client, buf, sizeof buf, MSG_DONTWAIT);
            if (n <= 0) return;  // the main loop sees the disconnection at the next stop
            std::string bytes(buf, static_cast<std::size_t>(n));
            const auto ctrl_c = bytes.find('\x03');
            if (ctrl_c != std::string::npos) bytes.erase(ctrl_c, 1);
            pending_input_ += bytes;  // the main thread reads it only after stop_watching()
            if (ctrl_c != std::string::npos) {
                interrupted_ = true;
                // Unicorn may be between blocks: ask until the run loop has seen it.
                while (watching_) {
                    uc_emu_stop(uc);
                    std::this_thread::sleep_for(std::chrono::milliseconds(5));
                }
                return;
            }
        }
    });
}

void GdbStub::stop_watching() {
    if (!watcher_.joinable()) return;
    watching_ = false;
    watcher_.join();
}

GdbStub::~GdbStub() {
    stop_watching();
    if (client_ >= 0) ::close(client_);
    if (listener_ >= 0) ::close(listener_);
}

void GdbStub::wait_for_client() {
    std::fprintf(stderr, "mmuemu: waiting for gdb on %s:%d\n", options_.listen_address.c_str(), port_);
    while (client_ < 0) {
        client_ = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client_ < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "gdb accept");
        // SIGINT and SIGTERM end mmuemu while it waits (as they would end a program in accept).
        if (client_ < 0 && (host_signal_pending(SIGINT) || host_signal_pending(SIGTERM)))
            throw HostSignalExit(host_signal_pending(SIGINT) ? SIGINT : SIGTERM);
    }
    const int yes = 1;
    ::setsockopt(client_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    session_.new_client();
    pending_input_.clear();
}

void GdbStub::drop_client() {
    if (client_ >= 0) ::close(client_);
    client_ = -1;
}

// A second client while one is attached is accepted and closed at once.
void GdbStub::refuse_extra_clients() {
    pollfd pfd{listener_, POLLIN, 0};
    while (::poll(&pfd, 1, 0) > 0 && (pfd.revents & POLLIN)) {
        const int extra = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (extra < 0) break;
        static const char busy[] = "$E01#a6";
        (void)!::write(extra, busy, sizeof busy - 1);
        ::close(extra);
    }
}

void GdbStub::send_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size() && client_ >= 0) {
        const ssize_t n = ::send(client_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            drop_client();
            return;
        }
        done += static_cast<std::size_t>(n);
    }
}


// Reads one packet; malformed input is answered with '-' and skipped. False: the client left.
bool GdbStub::read_packet(std::string& out) {
    while (client_ >= 0) {
        if (auto packet = session_.take_packet(pending_input_)) {
            out = std::move(*packet);
            return true;
        }
        pollfd fds[2] = {{client_, POLLIN, 0}, {listener_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (fds[1].revents & POLLIN) refuse_extra_clients();
        if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buf[4096];
        const ssize_t n = ::recv(client_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            drop_client();
            return false;
        }
        pending_input_.append(buf, static_cast<std::size_t>(n));
    }
    return false;
}

Resume GdbStub::stopped(int signo, const SigInfo* info, const std::string& extra, bool announce) {
    session_.stop(signo, info, extra);
    bool announced = !announce;  // the first stop is not announced: gdb asks with '?'
    while (true) {
        if (client_ < 0) {
            if (!options_.wait_for_reconnect) return Resume::Kill;
            wait_for_client();
            announced = true;  // a new client asks '?' first
        }
        if (!announced) {
            session_.announce_stop();
            announced = true;
        }
        std::string packet;
        if (!read_packet(packet)) continue;  // the client left: kill, or wait for another
        if (auto resume = session_.handle(packet)) return *resume;
    }
}

void GdbStub::exited(int status, int signo) {
    if (client_ >= 0) session_.exited(status, signo);
}

}  // namespace emu
