/* guest_util.h - shared helpers for the mmuemu differential guest programs.
 *
 * Everything here is header-only (static functions) so that each guest stays one .c file plus
 * this header. Output goes through write(2) only, so native and emulated runs see the same
 * bytes with no stdio buffering differences. Nothing printed may depend on addresses, pids,
 * times or randomness: addresses are printed relative to a base, errnos by name.
 *
 * Syscalls used here: write, openat, read, lseek, close, madvise, rt_sigaction,
 * rt_sigprocmask, fork, wait4, getpid, gettid, tgkill, exit_group.
 */
#ifndef MMUEMU_GUEST_UTIL_H
#define MMUEMU_GUEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 1
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

#define PG 4096UL

/* Helpers are static; not every guest uses every one. */
#define GUEST_STATIC static __attribute__((unused))

/* ---------------------------------------------------------------- output */

GUEST_STATIC void out_raw(const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        s += w;
        n -= (size_t)w;
    }
}

GUEST_STATIC __attribute__((format(printf, 1, 2))) void out(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    out_raw(buf, (size_t)n);
}

GUEST_STATIC const char *errname(int e)
{
    switch (e) {
    case 0: return "OK";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case EBADF: return "EBADF";
    case ECHILD: return "ECHILD";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case ENOSYS: return "ENOSYS";
    case EOVERFLOW: return "EOVERFLOW";
    case ERANGE: return "ERANGE";
    case ENOTTY: return "ENOTTY";
    case ESPIPE: return "ESPIPE";
    case EIO: return "EIO";
    case ENXIO: return "ENXIO";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case ETXTBSY: return "ETXTBSY";
    case ENOSPC: return "ENOSPC";
    case ELOOP: return "ELOOP";
    default: return "E?";
    }
}

/* "0" / "-1 EINVAL" style rendering of a syscall-ish int result. */
GUEST_STATIC const char *rstr(long r, int e, char *buf, size_t n)
{
    if (r == -1)
        snprintf(buf, n, "-1 %s", errname(e));
    else
        snprintf(buf, n, "%ld", r);
    return buf;
}
#define RSTR(r, e) rstr((long)(r), (e), (char[48]){0}, 48)

GUEST_STATIC const char *segv_code_name(int code)
{
    switch (code) {
    case SEGV_MAPERR: return "SEGV_MAPERR";
    case SEGV_ACCERR: return "SEGV_ACCERR";
#ifdef SEGV_BNDERR
    case SEGV_BNDERR: return "SEGV_BNDERR";
#endif
#ifdef SEGV_PKUERR
    case SEGV_PKUERR: return "SEGV_PKUERR";
#endif
    case SI_USER: return "SI_USER";
    case SI_KERNEL: return "SI_KERNEL";
    case SI_TKILL: return "SI_TKILL";
    case SI_QUEUE: return "SI_QUEUE";
    default: return "SEGV_?";
    }
}

/* The si_code's name for the signal it came with (SIGBUS has codes of its own). */
GUEST_STATIC const char *fault_code_name(int sig, int code)
{
    if (sig == SIGBUS) {
        switch (code) {
        case BUS_ADRALN: return "BUS_ADRALN";
        case BUS_ADRERR: return "BUS_ADRERR";
        case BUS_OBJERR: return "BUS_OBJERR";
        default: break;
        }
    }
    return segv_code_name(code);
}

GUEST_STATIC const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGTRAP: return "SIGTRAP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    case SIGCHLD: return "SIGCHLD";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    default: return "SIG?";
    }
}

/* Signed offset of p from base, rendered "+0x1008" / "-0x10". */
GUEST_STATIC const char *offstr(const void *p, const void *base, char *buf, size_t n)
{
    intptr_t d = (intptr_t)p - (intptr_t)base;
    if (d < 0)
        snprintf(buf, n, "-0x%lx", (unsigned long)-d);
    else
        snprintf(buf, n, "+0x%lx", (unsigned long)d);
    return buf;
}
#define OFF(p, base) offstr((p), (base), (char[40]){0}, 40)

/* ---------------------------------------------------------------- checks */

GUEST_STATIC int g_checks, g_unexpected;

/* Print "label: got" and compare against the value the host kernel gives. */
GUEST_STATIC void expect(const char *label, const char *got, const char *want)
{
    g_checks++;
    if (strcmp(got, want) == 0) {
        out("%s: %s\n", label, got);
    } else {
        g_unexpected++;
        out("%s: %s   [UNEXPECTED, host gives: %s]\n", label, got, want);
    }
}

GUEST_STATIC void expectf(const char *label, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
GUEST_STATIC void expectf(const char *label, const char *want, const char *fmt, ...)
{
    char got[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(got, sizeof got, fmt, ap);
    va_end(ap);
    expect(label, got, want);
}

/* Expect a syscall-style result: want is "0", "-1 EINVAL", "8192", ... */
GUEST_STATIC void expect_r(const char *label, long r, int e, const char *want)
{
    expect(label, RSTR(r, e), want);
}

/* Run a syscall-style expression and compare "ret" / "-1 ERRNAME" (errno sampled right after). */
#define EXPECT_SYS(label, call, want)                                                            \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (long)(call);                                                                  \
        int e_ = errno;                                                                          \
        expect_r((label), r_, e_, (want));                                                       \
    } while (0)

GUEST_STATIC int summary(const char *prog)
{
    out("summary: %s: %d checks, %d unexpected\n", prog, g_checks, g_unexpected);
    return g_unexpected == 0 ? 0 : 1;
}

/* ---------------------------------------------------------------- memory helpers */

GUEST_STATIC void *map_anon(size_t pages, int prot)
{
    void *p = mmap(NULL, pages * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        out("FATAL: mmap of %zu pages failed: %s\n", pages, errname(errno));
        exit(99);
    }
    return p;
}

GUEST_STATIC long madv(void *addr, size_t len, int advice, int *e)
{
    errno = 0;
    long r = madvise(addr, len, advice);
    *e = errno;
    return r;
}

/* The number of VMAs in /proc/self/maps that overlap [a, b). */
GUEST_STATIC int vmas_in(const void *a, const void *b)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[256];
    unsigned long lo, hi;
    int n = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo < (unsigned long)b && hi > (unsigned long)a) n++;
    if (f) fclose(f);
    return n;
}

/* Number of lines (= VMAs) in /proc/self/maps. */
GUEST_STATIC long vma_count(void)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    static char buf[65536];
    long lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    return lines;
}

/* pagemap entry of the page holding addr; bit 63 present, bit 58 guard region. */
GUEST_STATIC uint64_t pagemap_entry(const void *addr)
{
    /* Reopen after fork: an inherited fd would still show the parent's page tables. */
    static int fd = -1;
    static pid_t fd_pid;
    if (fd >= 0 && fd_pid != getpid()) {
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        fd_pid = getpid();
    }
    uint64_t e = 0;
    /* lseek + read, not pread64: the emulator implements only lseek/read. */
    if (fd < 0 || lseek(fd, (off_t)((uintptr_t)addr / PG * 8), SEEK_SET) < 0 ||
        read(fd, &e, sizeof e) != (ssize_t)sizeof e)
        return ~0ULL;
    return e;
}
GUEST_STATIC int pm_guard(const void *addr) { return (int)((pagemap_entry(addr) >> 58) & 1); }
GUEST_STATIC int pm_present(const void *addr) { return (int)((pagemap_entry(addr) >> 63) & 1); }
/* "g=1 p=0" */
GUEST_STATIC const char *pmstr(const void *addr, char *buf, size_t n)
{
    uint64_t e = pagemap_entry(addr);
    if (e == ~0ULL)
        snprintf(buf, n, "pagemap?");
    else
        snprintf(buf, n, "g=%d p=%d", (int)((e >> 58) & 1), (int)((e >> 63) & 1));
    return buf;
}
#define PM(a) pmstr((a), (char[24]){0}, 24)

/* ---------------------------------------------------------------- fault probes
 * probe_read/probe_write touch one byte under a SIGSEGV/SIGBUS handler and describe the outcome:
 *   "ok val=0x41"   or   "SIGSEGV SEGV_MAPERR addr=+0x1008"   (si_addr relative to base).
 */
static sigjmp_buf g_probe_jb;
static volatile sig_atomic_t g_probe_armed;
static volatile int g_probe_sig, g_probe_code;
GUEST_STATIC void *volatile g_probe_addr;

GUEST_STATIC void probe_handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (!g_probe_armed) {
        /* Not expected: die the default way so the exit status tells. */
        signal(sig, SIG_DFL);
        return; /* re-executes the access, now with the default action */
    }
    g_probe_armed = 0;
    g_probe_sig = sig;
    g_probe_code = si->si_code;
    g_probe_addr = si->si_addr;
    siglongjmp(g_probe_jb, 1);
}

GUEST_STATIC void probe_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = probe_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
}

/* mode: 'r' read, 'w' write (writes val) */
GUEST_STATIC const char *probe_access(void *addr, const void *base, int mode, unsigned char val, char *buf,
                                size_t n)
{
    if (sigsetjmp(g_probe_jb, 1) == 0) {
        g_probe_armed = 1;
        unsigned char v;
        if (mode == 'w') {
            *(volatile unsigned char *)addr = val;
            v = val;
        } else {
            v = *(volatile unsigned char *)addr;
        }
        g_probe_armed = 0;
        if (mode == 'w')
            snprintf(buf, n, "ok");
        else
            snprintf(buf, n, "ok val=0x%02x", v);
    } else {
        char o[40];
        snprintf(buf, n, "%s %s addr=%s", signame(g_probe_sig), fault_code_name(g_probe_sig, g_probe_code),
                 offstr(g_probe_addr, base, o, sizeof o));
    }
    return buf;
}
#define PROBE_R(addr, base) probe_access((addr), (base), 'r', 0, (char[96]){0}, 96)
#define PROBE_W(addr, base, v) probe_access((addr), (base), 'w', (v), (char[96]){0}, 96)

/* Write a fixed expected string for a guard fault at offset off from base. */
GUEST_STATIC const char *segv_at(const char *code, unsigned long off, char *buf, size_t n)
{
    snprintf(buf, n, "SIGSEGV %s addr=+0x%lx", code, off);
    return buf;
}
#define MAPERR_AT(off) segv_at("SEGV_MAPERR", (off), (char[96]){0}, 96)
#define ACCERR_AT(off) segv_at("SEGV_ACCERR", (off), (char[96]){0}, 96)

GUEST_STATIC const char *okval(unsigned v, char *buf, size_t n)
{
    snprintf(buf, n, "ok val=0x%02x", v);
    return buf;
}
#define OKVAL(v) okval((v), (char[24]){0}, 24)

/* ---------------------------------------------------------------- process helpers */

GUEST_STATIC pid_t raw_fork(void) { return (pid_t)syscall(SYS_fork); }

/* raise() in a raw-forked child would use the parent's cached tid: always use this. */
GUEST_STATIC int self_tgkill(int sig)
{
    return (int)syscall(SYS_tgkill, (long)getpid(), (long)syscall(SYS_gettid), (long)sig);
}

/* Wait for pid and render its status: "exit 0" / "signal 11 (SIGSEGV)". */
GUEST_STATIC const char *wait_str(pid_t pid, char *buf, size_t n)
{
    int st = 0;
    pid_t r;
    do
        r = (pid_t)syscall(SYS_wait4, (long)pid, &st, 0L, 0L);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        snprintf(buf, n, "wait4 %s", errname(errno));
    else if (WIFEXITED(st))
        snprintf(buf, n, "exit %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "signal %d (%s)", WTERMSIG(st), signame(WTERMSIG(st)));
    else
        snprintf(buf, n, "status 0x%x", st);
    return buf;
}
#define WAIT(pid) wait_str((pid), (char[48]){0}, 48)

#endif
