// TCP and UDP on the host's loopback (127.0.0.1 and ::1) with ephemeral ports (bind port 0, then
// getsockname): a blocking accept in a thread and in a forked child while another task connects,
// non-blocking connect (EINPROGRESS, then SO_ERROR), shutdown, MSG_WAITALL, socket options and
// the errno rules. Nothing printed depends on the port numbers.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char* what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else printf("%s: %ld\n", what, r);
}

// A loopback address of `family` with `port` (network order).
static socklen_t loopback(int family, struct sockaddr_storage* a, in_port_t port) {
    memset(a, 0, sizeof *a);
    if (family == AF_INET) {
        struct sockaddr_in* in = (struct sockaddr_in*)a;
        in->sin_family = AF_INET;
        in->sin_port = port;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return sizeof *in;
    }
    struct sockaddr_in6* in6 = (struct sockaddr_in6*)a;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = port;
    in6->sin6_addr = in6addr_loopback;
    return sizeof *in6;
}

static in_port_t port_of(const struct sockaddr_storage* a) {
    return a->ss_family == AF_INET ? ((const struct sockaddr_in*)a)->sin_port
                                   : ((const struct sockaddr_in6*)a)->sin6_port;
}

// A listening TCP socket on an ephemeral loopback port; its address in `a`.
static int tcp_listener(int family, struct sockaddr_storage* a, socklen_t* len) {
    int s = socket(family, SOCK_STREAM, 0);
    int one = 1;
    show("  setsockopt SO_REUSEADDR", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    *len = loopback(family, a, 0);
    show("  bind port 0", bind(s, (struct sockaddr*)a, *len));
    socklen_t l = sizeof *a;
    getsockname(s, (struct sockaddr*)a, &l);
    printf("  getsockname: family ok %d, len ok %d, ephemeral port %d\n", a->ss_family == family, l == *len,
           port_of(a) != 0);
    show("  listen", listen(s, 8));
    return s;
}

// The server thread keeps what it saw for the main thread to print after joining it.
struct server_args {
    int listener;
    int family;
    char report[512];
};

static void* tcp_server(void* arg) {
    struct server_args* sa = arg;
    struct sockaddr_storage peer;
    socklen_t len = sizeof peer;
    int c = accept(sa->listener, (struct sockaddr*)&peer, &len);
    const int accepted = c >= 0, family_ok = peer.ss_family == sa->family;
    char buf[256];
    long total = 0, n;
    while ((n = read(c, buf + total, sizeof buf - 1 - (size_t)total)) > 0) total += n;
    buf[total] = 0;
    const long w = write(c, "reply after shutdown", 20);
    snprintf(sa->report, sizeof sa->report,
             "  server: accepted %d, peer family ok %d\n  server: read \"%s\" then EOF (%ld)\n"
             "  server: write after the client's SHUT_WR: %ld\n",
             accepted, family_ok, buf, n, w);
    close(c);
    return NULL;
}

static void tcp_thread(int family) {
    printf("TCP %s, server thread\n", family == AF_INET ? "127.0.0.1" : "::1");
    struct sockaddr_storage a;
    socklen_t alen;
    int l = tcp_listener(family, &a, &alen);
    struct server_args sa = {l, family, ""};
    pthread_t t;
    pthread_create(&t, NULL, tcp_server, &sa);
    usleep(20000);  // the server waits in accept
    int c = socket(family, SOCK_STREAM, 0);
    show("  connect", connect(c, (struct sockaddr*)&a, alen));
    int one = 1, v = 0;
    socklen_t vl = sizeof v;
    show("  setsockopt TCP_NODELAY", setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    show("  getsockopt TCP_NODELAY", getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl));
    printf("    value %d len %u\n", v != 0, vl);
    vl = sizeof v;
    show("  getsockopt SO_TYPE", getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl));
    printf("    value %d\n", v);
    vl = sizeof v;
    show("  getsockopt SO_ERROR", getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
    printf("    value %d\n", v);
    struct sockaddr_storage peer;
    socklen_t pl = sizeof peer;
    getpeername(c, (struct sockaddr*)&peer, &pl);
    printf("  getpeername is the listener: %d\n", pl == alen && port_of(&peer) == port_of(&a));
    show("  send part 1", send(c, "hello ", 6, 0));
    show("  send part 2", send(c, "over tcp", 8, 0));
    show("  shutdown SHUT_WR", shutdown(c, SHUT_WR));
    show("  send after SHUT_WR", send(c, "x", 1, MSG_NOSIGNAL));
    char buf[64] = {0};
    show("  recv MSG_WAITALL", recv(c, buf, 20, MSG_WAITALL));
    printf("  client got \"%s\"\n", buf);
    show("  recv at EOF", recv(c, buf, sizeof buf, 0));
    pthread_join(t, NULL);
    fputs(sa.report, stdout);
    close(c);
    close(l);
}

// The server is a forked child blocked in accept; the parent connects and waits for it.
static void tcp_fork(int family) {
    printf("TCP %s, server child process\n", family == AF_INET ? "127.0.0.1" : "::1");
    struct sockaddr_storage a;
    socklen_t alen;
    int l = tcp_listener(family, &a, &alen);
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        int c = accept(l, NULL, NULL);
        char buf[32];
        long n = recv(c, buf, sizeof buf, 0);
        send(c, buf, (size_t)n, 0);
        close(c);
        _exit(c >= 0 ? 0 : 1);
    }
    usleep(20000);
    int c = socket(family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    long r = connect(c, (struct sockaddr*)&a, alen);
    printf("  non-blocking connect: 0 or EINPROGRESS %d\n", r == 0 || errno == EINPROGRESS);
    struct pollfd p = {c, POLLOUT, 0};
    show("  poll POLLOUT", poll(&p, 1, 5000));
    int v = -1;
    socklen_t vl = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
    printf("  SO_ERROR %d\n", v);
    show("  connect again (EISCONN)", connect(c, (struct sockaddr*)&a, alen));
    int fl = fcntl(c, F_GETFL);
    fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
    show("  send", send(c, "echo me", 7, 0));
    char buf[32] = {0};
    show("  recv (blocks until the child echoes)", recv(c, buf, sizeof buf, 0));
    printf("  echo \"%s\"\n", buf);
    int st;
    waitpid(child, &st, 0);
    printf("  child exit %d\n", WEXITSTATUS(st));
    close(c);
    // Nobody listens on the port once the listener is closed.
    close(l);
    c = socket(family, SOCK_STREAM, 0);
    show("  connect to a closed port", connect(c, (struct sockaddr*)&a, alen));
    close(c);
}

static void udp(int family) {
    printf("UDP %s\n", family == AF_INET ? "127.0.0.1" : "::1");
    struct sockaddr_storage a, b, from;
    socklen_t alen = loopback(family, &a, 0), blen = loopback(family, &b, 0);
    int s1 = socket(family, SOCK_DGRAM, 0), s2 = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bind(s1, (struct sockaddr*)&a, alen);
    bind(s2, (struct sockaddr*)&b, blen);
    socklen_t l = sizeof a;
    getsockname(s1, (struct sockaddr*)&a, &l);
    l = sizeof b;
    getsockname(s2, (struct sockaddr*)&b, &l);
    show("  sendto", sendto(s2, "udp datagram", 12, 0, (struct sockaddr*)&a, alen));
    char buf[64] = {0};
    socklen_t fl = sizeof from;
    show("  recvfrom", recvfrom(s1, buf, sizeof buf, 0, (struct sockaddr*)&from, &fl));
    printf("  \"%s\" from s2: %d\n", buf, fl == blen && port_of(&from) == port_of(&b));
    show("  recv MSG_DONTWAIT on empty", recv(s1, buf, sizeof buf, MSG_DONTWAIT));
    show("  getpeername unconnected", getpeername(s1, (struct sockaddr*)&from, &fl));
    show("  connect", connect(s1, (struct sockaddr*)&b, blen));
    show("  send", send(s1, "back", 4, 0));
    struct iovec iov[2] = {{buf, 2}, {buf + 10, 10}};
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    show("  recvmsg into two iovecs", recvmsg(s2, &m, 0));
    printf("  \"%.2s\" \"%.2s\" flags %d\n", buf, buf + 10, m.msg_flags);
    show("  send 5 bytes", send(s1, "12345", 5, 0));
    show("  recv 3 with MSG_TRUNC", recv(s2, buf, 3, MSG_TRUNC));
    close(s1);
    close(s2);
}

static void errors(void) {
    printf("errors\n");
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_storage a;
    socklen_t alen = loopback(AF_INET, &a, 0);
    show("  bind short length", bind(s, (struct sockaddr*)&a, 4));
    show("  getpeername unconnected", getpeername(s, (struct sockaddr*)&a, &alen));
    show("  send unconnected", send(s, "x", 1, MSG_NOSIGNAL));
    show("  recv unconnected", recv(s, &a, 1, 0));
    show("  shutdown unconnected", shutdown(s, SHUT_RDWR));
    int v = 0;
    socklen_t vl = sizeof v;
    show("  getsockopt unknown", getsockopt(s, SOL_SOCKET, 9999, &v, &vl));
    show("  setsockopt bad pointer", setsockopt(s, SOL_SOCKET, SO_REUSEADDR, (void*)8, sizeof v));
    show("  socket with protocol mismatch", socket(AF_INET, SOCK_STREAM, IPPROTO_UDP));
    close(s);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    tcp_thread(AF_INET);
    tcp_thread(AF_INET6);
    tcp_fork(AF_INET);
    tcp_fork(AF_INET6);
    udp(AF_INET);
    udp(AF_INET6);
    errors();
    return 0;
}
