// AF_UNIX sockets as Linux has them: socketpair across fork with SCM_RIGHTS (a pipe end passed to
// the child), MSG_CTRUNC when the control buffer is short, a named stream server in a thread
// (accept4) and its client, datagrams, the names getsockname/getpeername answer (the guest's own
// relative paths), poll, MSG_PEEK/MSG_DONTWAIT, SIGPIPE, and the errno rules.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char* what, long r) {
    if (r < 0) printf("%s: -1 %s\n", what, strerrorname_np(errno));
    else printf("%s: %ld\n", what, r);
}

static socklen_t unix_addr(struct sockaddr_un* a, const char* path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strcpy(a->sun_path, path);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
}

static void show_name(const char* what, int fd, int peer) {
    struct sockaddr_un a;
    memset(&a, 0x55, sizeof a);
    socklen_t len = sizeof a;
    int r = peer ? getpeername(fd, (struct sockaddr*)&a, &len) : getsockname(fd, (struct sockaddr*)&a, &len);
    if (r < 0) {
        show(what, r);
        return;
    }
    if (len > offsetof(struct sockaddr_un, sun_path) && a.sun_path[0])
        printf("%s: family %d len %u path \"%s\"\n", what, a.sun_family, len, a.sun_path);
    else
        printf("%s: family %d len %u (unnamed or abstract)\n", what, a.sun_family, len);
}

static int send_fds(int sock, const int* fds, int n, const char* data) {
    char ctl[CMSG_SPACE(sizeof(int) * 4)];
    memset(ctl, 0, sizeof ctl);
    struct iovec iov = {(void*)data, strlen(data)};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
    struct cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    return (int)sendmsg(sock, &m, 0);
}

// Receives up to `room` descriptors' worth of control; prints what came.
static int recv_fds(int sock, size_t room, int* fds) {
    char buf[64], ctl[256];
    struct iovec iov = {buf, sizeof buf - 1};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = room ? ctl : NULL;
    m.msg_controllen = room;
    long n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
    if (n < 0) {
        show("recvmsg", n);
        return 0;
    }
    buf[n] = 0;
    int count = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + count, CMSG_DATA(c), sizeof(int) * k);
            count += k;
        }
    printf("recvmsg: \"%s\" fds %d ctrunc %d controllen %zu\n", buf, count, !!(m.msg_flags & MSG_CTRUNC),
           (size_t)m.msg_controllen);
    return count;
}

static void socketpair_fork_scm_rights(void) {
    int sv[2], pipefd[2];
    show("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    show("pipe", pipe(pipefd));
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        close(pipefd[1]);
        int fds[4];
        if (recv_fds(sv[1], sizeof(char[CMSG_SPACE(sizeof(int))]), fds) == 1) {
            printf("child: passed fd cloexec %d\n", !!(fcntl(fds[0], F_GETFD) & FD_CLOEXEC));
            const char* msg = "written by the child through a passed pipe end\n";
            if (write(fds[0], msg, strlen(msg)) < 0) _exit(2);
            close(fds[0]);
        }
        write(sv[1], "bye", 3);
        fflush(stdout);
        _exit(0);
    }
    close(sv[1]);
    fflush(stdout);
    const int sent = send_fds(sv[0], &pipefd[1], 1, "take this");
    close(pipefd[1]);
    char buf[128];
    long n = read(pipefd[0], buf, sizeof buf - 1);
    // Shown once the child has printed its lines (it writes the pipe after them): the order of
    // the two processes' lines is then the same in every run.
    show("sendmsg with SCM_RIGHTS", sent);
    if (n > 0) {
        buf[n] = 0;
        printf("parent read: %s", buf);
    }
    n = read(sv[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("parent got \"%s\"\n", buf);
    int st;
    waitpid(child, &st, 0);
    printf("child exit %d\n", WEXITSTATUS(st));
    show("read after child exit (EOF)", read(sv[0], buf, sizeof buf));
    close(sv[0]);
    close(pipefd[0]);
}

static void ctrunc_rules(void) {
    int sv[2], p1[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    pipe(p1);
    int two[2] = {p1[0], p1[1]};
    int fds[8];
    send_fds(sv[0], two, 2, "two fds, room for one");
    int got = recv_fds(sv[1], CMSG_LEN(sizeof(int)), fds);
    for (int i = 0; i < got; ++i) close(fds[i]);
    send_fds(sv[0], two, 2, "two fds, no room");
    recv_fds(sv[1], 0, fds);
    send_fds(sv[0], two, 2, "two fds, full room");
    got = recv_fds(sv[1], CMSG_SPACE(2 * sizeof(int)), fds);
    if (got == 2) {
        write(fds[1], "x", 1);
        char c = 0;
        show("read through received read end", read(fds[0], &c, 1));
        close(fds[0]);
        close(fds[1]);
    }
    int bad = 999;
    show("sendmsg SCM_RIGHTS with a closed fd", send_fds(sv[0], &bad, 1, "bad"));
    close(p1[0]);
    close(p1[1]);
    close(sv[0]);
    close(sv[1]);
}

static int listener;
static int server_go[2];  // the client's lines come first: the server prints once told to

static void* server(void* arg) {
    (void)arg;
    struct sockaddr_un peer;
    socklen_t len = sizeof peer;
    int c = accept4(listener, (struct sockaddr*)&peer, &len, SOCK_CLOEXEC);
    char go;
    (void)!read(server_go[0], &go, 1);
    printf("server: accept4 ok %d, peer len %u, cloexec %d\n", c >= 0, len, !!(fcntl(c, F_GETFD) & FD_CLOEXEC));
    show_name("server: accepted getsockname", c, 0);
    show_name("server: accepted getpeername", c, 1);
    char buf[64];
    long n = recv(c, buf, sizeof buf, 0);
    for (long i = 0; i < n; ++i) buf[i] = (char)(buf[i] >= 'a' && buf[i] <= 'z' ? buf[i] - 32 : buf[i]);
    send(c, buf, (size_t)n, 0);
    close(c);
    return NULL;
}

static void named_stream_server(void) {
    unlink("srv.sock");
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, "srv.sock");
    listener = socket(AF_UNIX, SOCK_STREAM, 0);
    show("bind srv.sock", bind(listener, (struct sockaddr*)&a, alen));
    struct stat st;
    printf("srv.sock is a socket: %d\n", stat("srv.sock", &st) == 0 && S_ISSOCK(st.st_mode));
    show("listen", listen(listener, 4));
    show_name("listener getsockname", listener, 0);
    show_name("listener getpeername", listener, 1);
    int again = socket(AF_UNIX, SOCK_STREAM, 0);
    show("bind srv.sock again (EADDRINUSE)", bind(again, (struct sockaddr*)&a, alen));
    close(again);
    pthread_t t;
    (void)!pipe(server_go);
    pthread_create(&t, NULL, server, NULL);
    usleep(20000);  // the server is then waiting in accept4
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    show("connect srv.sock", connect(c, (struct sockaddr*)&a, alen));
    show_name("client getsockname", c, 0);
    show_name("client getpeername", c, 1);
    (void)!write(server_go[1], "x", 1);
    send(c, "hello server", 12, 0);
    char buf[64] = {0};
    long n = recv(c, buf, sizeof buf - 1, MSG_WAITALL);
    printf("client got %ld \"%s\"\n", n, buf);
    pthread_join(t, NULL);
    close(server_go[0]);
    close(server_go[1]);
    close(c);
    close(listener);
    // A bound socket that does not listen refuses; a missing path is ENOENT.
    int lone = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un b;
    socklen_t blen = unix_addr(&b, "lone.sock");
    unlink("lone.sock");
    bind(lone, (struct sockaddr*)&b, blen);
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    show("connect to a socket nobody listens on", connect(c, (struct sockaddr*)&b, blen));
    blen = unix_addr(&b, "missing.sock");
    show("connect to a missing path", connect(c, (struct sockaddr*)&b, blen));
    blen = unix_addr(&b, "no-such-dir/x.sock");
    show("bind in a missing directory", bind(c, (struct sockaddr*)&b, blen));
    show("connect to the listener closed", connect(c, (struct sockaddr*)&a, alen));
    show("send on an unconnected stream", send(c, "x", 1, 0));
    show_name("getpeername unconnected", c, 1);
    close(c);
    close(lone);
    unlink("lone.sock");
    unlink("srv.sock");
}

static void datagrams(void) {
    unlink("d1.sock");
    unlink("d2.sock");
    int d1 = socket(AF_UNIX, SOCK_DGRAM, 0), d2 = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a1, a2, from;
    socklen_t l1 = unix_addr(&a1, "d1.sock"), l2 = unix_addr(&a2, "d2.sock");
    show("bind d1", bind(d1, (struct sockaddr*)&a1, l1));
    show("bind d2", bind(d2, (struct sockaddr*)&a2, l2));
    show("sendto d1", sendto(d2, "datagram one", 12, 0, (struct sockaddr*)&a1, l1));
    show("sendto d1 again", sendto(d2, "two", 3, 0, (struct sockaddr*)&a1, l1));
    char buf[64] = {0};
    socklen_t flen = sizeof from;
    show("recv MSG_PEEK", recv(d1, buf, sizeof buf, MSG_PEEK));
    long n = recvfrom(d1, buf, 5, 0, (struct sockaddr*)&from, &flen);
    printf("recvfrom (truncated to 5): %ld \"%.*s\" from \"%s\" len %u\n", n, (int)n, buf, from.sun_path, flen);
    struct iovec iov = {buf, sizeof buf};
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_name = &from;
    m.msg_namelen = 4;  // shorter than the name: truncated, the full length reported
    memset(&from, 0, sizeof from);
    n = recvmsg(d1, &m, 0);
    printf("recvmsg: %ld namelen %u partial \"%.2s\"\n", n, m.msg_namelen, from.sun_path);
    show("recv on empty non-blocking dgram", recv(d2, buf, sizeof buf, 0));
    show("recv MSG_DONTWAIT", recv(d1, buf, sizeof buf, MSG_DONTWAIT));
    // connect fixes the peer
    show("connect d2 to d1", connect(d2, (struct sockaddr*)&a1, l1));
    show_name("d2 getpeername", d2, 1);
    show("send connected", send(d2, "abc", 3, 0));
    struct sockaddr_un bogus;
    socklen_t blen = unix_addr(&bogus, "nothing-here.sock");
    show("sendto a missing path", sendto(d1, "z", 1, 0, (struct sockaddr*)&bogus, blen));
    n = recv(d1, buf, sizeof buf, 0);
    printf("got %ld\n", n);
    close(d1);
    close(d2);
    unlink("d1.sock");
    unlink("d2.sock");
    // Message boundaries of SOCK_SEQPACKET
    int sp[2];
    show("socketpair seqpacket", socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp));
    send(sp[0], "12345", 5, 0);
    send(sp[0], "678", 3, 0);
    show("seqpacket recv 1", recv(sp[1], buf, 2, 0));
    show("seqpacket recv 2", recv(sp[1], buf, sizeof buf, 0));
    close(sp[0]);
    close(sp[1]);
}

static void abstract_and_autobind(void) {
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "mmuemu-abstract-%d", (int)getpid());
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
    show("bind abstract", bind(s, (struct sockaddr*)&a, len));
    struct sockaddr_un b;
    socklen_t blen = sizeof b;
    getsockname(s, (struct sockaddr*)&b, &blen);
    printf("abstract name same: %d\n", blen == len && memcmp(&a, &b, len) == 0);
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    show("sendto abstract", sendto(c, "hi", 2, 0, (struct sockaddr*)&a, len));
    char buf[8];
    show("recv abstract", recv(s, buf, sizeof buf, 0));
    int au = socket(AF_UNIX, SOCK_STREAM, 0);
    show("autobind (addrlen 2)", bind(au, (struct sockaddr*)&a, offsetof(struct sockaddr_un, sun_path)));
    blen = sizeof b;
    getsockname(au, (struct sockaddr*)&b, &blen);
    printf("autobind: len %u abstract %d\n", blen, b.sun_path[0] == 0);
    close(au);
    close(s);
    close(c);
}

static void error_rules(void) {
    int p[2];
    pipe(p);
    struct sockaddr_un a;
    socklen_t alen = unix_addr(&a, "e.sock");
    show("bind on a pipe (ENOTSOCK)", bind(p[0], (struct sockaddr*)&a, alen));
    show("getsockname on a pipe", getsockname(p[0], (struct sockaddr*)&a, &alen));
    show("send on a pipe", send(p[1], "x", 1, 0));
    show("listen on fd 999 (EBADF)", listen(999, 1));
    show("socket bad family", socket(12345, SOCK_STREAM, 0));
    show("socket bad type", socket(AF_UNIX, 77, 0));
    show("socket bad flags", socket(AF_UNIX, SOCK_STREAM | 0x40000000, 0));
    show("accept4 bad flags", accept4(p[0], NULL, NULL, 0x1234));
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    show("bind addrlen 200", bind(s, (struct sockaddr*)&a, 200));
    show("bind addrlen 111", bind(s, (struct sockaddr*)&a, 111));
    show("bind addrlen 1", bind(s, (struct sockaddr*)&a, 1));
    show("bind addrlen -1", bind(s, (struct sockaddr*)&a, (socklen_t)-1));
    show("bind bad pointer (EFAULT)", bind(s, (struct sockaddr*)8, alen));
    struct sockaddr_in in = {0};
    in.sin_family = AF_INET;
    show("bind AF_INET address to AF_UNIX", bind(s, (struct sockaddr*)&in, sizeof in));
    show("listen unbound stream", listen(s, 1));
    show("accept on a non-listening socket", accept(s, NULL, NULL));
    socklen_t l = sizeof a;
    show("getsockname bad length pointer", getsockname(s, (struct sockaddr*)&a, (socklen_t*)8));
    l = (socklen_t)-1;
    show("getsockname negative length", getsockname(s, (struct sockaddr*)&a, &l));
    l = 0;
    show("getsockname zero length", getsockname(s, (struct sockaddr*)&a, &l));
    printf("  reported len %u\n", l);
    int* volatile bad_sv = (int*)8;
    show("socketpair bad pointer", socketpair(AF_UNIX, SOCK_STREAM, 0, bad_sv));
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    show("send from a bad buffer", send(sv[0], (void*)8, 4, 0));
    send(sv[0], "data", 4, 0);
    show("recv into a bad buffer", recv(sv[1], (void*)8, 4, 0));
    char buf[8] = {0};
    show("data still there", recv(sv[1], buf, sizeof buf, 0));
    show("recvmsg bad msghdr", recvmsg(sv[1], (struct msghdr*)8, 0));
    show("shutdown bad how", shutdown(sv[0], 7));
    int one = 1;
    show("setsockopt negative optlen", setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, (socklen_t)-1));
    show("setsockopt bad level", setsockopt(sv[0], 9999, 1, &one, sizeof one));
    socklen_t ol = sizeof one;
    show("getsockopt bad optval", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, (void*)8, &ol));
    show("getsockopt bad optlen", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &one, (socklen_t*)8));
    int type = 0;
    ol = sizeof type;
    show("getsockopt SO_TYPE", getsockopt(sv[0], SOL_SOCKET, SO_TYPE, &type, &ol));
    printf("  type %d len %u\n", type, ol);
    close(sv[0]);
    close(sv[1]);
    close(s);
    close(p[0]);
    close(p[1]);
}

static int sigpipes;
static void on_sigpipe(int sig) {
    (void)sig;
    ++sigpipes;
}

static void poll_and_sigpipe(void) {
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    struct pollfd p = {sv[1], POLLIN | POLLOUT, 0};
    show("poll before data", poll(&p, 1, 0));
    printf("  revents in %d out %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    show("recv nothing (EAGAIN)", recv(sv[1], &p, 1, 0));
    write(sv[0], "ping", 4);
    show("poll after data", poll(&p, 1, 1000));
    printf("  revents in %d out %d\n", !!(p.revents & POLLIN), !!(p.revents & POLLOUT));
    char buf[8];
    show("read", read(sv[1], buf, sizeof buf));
    struct stat st;
    fstat(sv[0], &st);
    printf("fstat S_ISSOCK %d\n", S_ISSOCK(st.st_mode));
    char link[64], target[64] = {0};
    snprintf(link, sizeof link, "/proc/self/fd/%d", sv[0]);
    readlink(link, target, sizeof target - 1);
    printf("/proc/self/fd link starts with socket:[ %d\n", strncmp(target, "socket:[", 8) == 0);
    close(sv[0]);
    p.events = POLLIN;
    show("poll after peer closed", poll(&p, 1, 1000));
    printf("  revents hup %d in %d\n", !!(p.revents & POLLHUP), !!(p.revents & POLLIN));
    signal(SIGPIPE, on_sigpipe);
    show("send MSG_NOSIGNAL to a closed peer", send(sv[1], "x", 1, MSG_NOSIGNAL));
    printf("  sigpipes %d\n", sigpipes);
    show("send to a closed peer", send(sv[1], "x", 1, 0));
    printf("  sigpipes %d\n", sigpipes);
    show("write to a closed peer", write(sv[1], "x", 1));
    printf("  sigpipes %d\n", sigpipes);
    close(sv[1]);
    // shutdown: the peer sees EOF, the other direction still works
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    show("shutdown SHUT_WR", shutdown(sv[0], SHUT_WR));
    show("peer reads EOF", read(sv[1], buf, sizeof buf));
    show("peer writes back", write(sv[1], "ok", 2));
    show("read it", read(sv[0], buf, sizeof buf));
    show("write after SHUT_WR", send(sv[0], "no", 2, MSG_NOSIGNAL));
    close(sv[0]);
    close(sv[1]);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    socketpair_fork_scm_rights();
    ctrunc_rules();
    named_stream_server();
    datagrams();
    abstract_and_autobind();
    error_rules();
    poll_and_sigpipe();
    return 0;
}
