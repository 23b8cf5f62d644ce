/* userfaultfd: the API handshake, registration rules, missing faults resolved by a handler
 * thread (UFFDIO_COPY, ZEROPAGE, DONTWAKE + WAKE), EEXIST, write-protect faults, minor faults on
 * a memfd resolved with UFFDIO_CONTINUE, missing faults on shmem, UFFDIO_POISON (SIGBUS), guard
 * pages inside a registered range (SIGSEGV, no event), UFFD_FEATURE_SIGBUS, a close while a
 * thread waits, /dev/userfaultfd, smaps VmFlags and the errno of the error cases.
 * Addresses are printed as offsets from their region; features are printed only as "granted"
 * answers for the bits this program asks for. */
#include "guest_util.h"
#include "pagemap_scan.h"

#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON 0x08
#endif
struct poison_args {
    struct uffdio_range range;
    __u64 mode;
    __s64 updated;
};
#define UFFDIO_POISON_IOC _IOWR(UFFDIO, _UFFDIO_POISON, struct poison_args)
#define USERFAULTFD_IOC_NEW_IOC _IO(UFFDIO, 0x00)
#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#endif

static long uffd_new(int flags) { return syscall(SYS_userfaultfd, flags); }

static const char *res(long r)
{
    static char bufs[4][48];
    static int next;
    char *b = bufs[next++ % 4];
    return rstr(r, errno, b, 48);
}

static long do_ioctl(int fd, unsigned long req, void *arg)
{
    errno = 0;
    return ioctl(fd, req, arg);
}

static int api(int fd, __u64 features, struct uffdio_api *out)
{
    memset(out, 0, sizeof *out);
    out->api = UFFD_API;
    out->features = features;
    return (int)do_ioctl(fd, UFFDIO_API, out);
}

static long reg(int fd, void *start, unsigned long len, __u64 mode, __u64 *ioctls)
{
    struct uffdio_register r = {.range = {(unsigned long)start, len}, .mode = mode};
    long ret = do_ioctl(fd, UFFDIO_REGISTER, &r);
    if (ioctls) *ioctls = r.ioctls;
    return ret;
}

static long unreg(int fd, void *start, unsigned long len)
{
    struct uffdio_range r = {(unsigned long)start, len};
    return do_ioctl(fd, UFFDIO_UNREGISTER, &r);
}

static long copy_page(int fd, void *dst, const void *src, unsigned long len, __u64 mode, __s64 *copied)
{
    struct uffdio_copy c = {.dst = (unsigned long)dst, .src = (unsigned long)src, .len = len, .mode = mode};
    long r = do_ioctl(fd, UFFDIO_COPY, &c);
    if (copied) *copied = c.copy;
    return r;
}

static long wp(int fd, void *start, unsigned long len, __u64 mode)
{
    struct uffdio_writeprotect w = {.range = {(unsigned long)start, len}, .mode = mode};
    return do_ioctl(fd, UFFDIO_WRITEPROTECT, &w);
}

/* --- the handler thread: one action per expected fault, chosen by the main thread --- */

enum action { ACT_COPY, ACT_ZEROPAGE, ACT_COPY_DONTWAKE_THEN_WAKE, ACT_UNPROTECT, ACT_CONTINUE, ACT_QUIT };

static int g_uffd;
static char *g_base;            /* the region the current fault is reported relative to */
static volatile int g_action;
static volatile int g_main_progressed;
static int g_quit_pipe[2];
static char *g_src;             /* a source page for UFFDIO_COPY */
static pid_t g_main_tid;
/* What the handler did for the last fault, printed by the main thread once the handler is done
 * (the faulting thread may run again before the handler's call returns). */
static char g_log[2048];
static volatile int g_handled;

static void hlog(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t used = strlen(g_log);
    vsnprintf(g_log + used, sizeof g_log - used, fmt, ap);
    va_end(ap);
}

static void print_msg(const struct uffd_msg *m)
{
    char *addr = (char *)(unsigned long)m->arg.pagefault.address;
    hlog("  event %s flags%s%s%s offset +0x%lx thread %s\n",
           m->event == UFFD_EVENT_PAGEFAULT ? "PAGEFAULT" : "?",
           (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) ? " WRITE" : "",
           (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) ? " WP" : "",
           (m->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR) ? " MINOR" : "",
           (unsigned long)(addr - g_base),
           (pid_t)m->arg.pagefault.feat.ptid == g_main_tid ? "main" : "other");
}

static void resolve(const struct uffd_msg *m)
{
    char *page = (char *)(unsigned long)(m->arg.pagefault.address & ~(PG - 1));
    __s64 copied = 0;
    switch (g_action) {
    case ACT_COPY: {
        long r = copy_page(g_uffd, page, g_src, PG, 0, &copied);
        hlog("  handler: UFFDIO_COPY %s copy=%lld\n", res(r), (long long)copied);
        break;
    }
    case ACT_ZEROPAGE: {
        struct uffdio_zeropage z = {.range = {(unsigned long)page, PG}};
        long r = do_ioctl(g_uffd, UFFDIO_ZEROPAGE, &z);
        hlog("  handler: UFFDIO_ZEROPAGE %s zeropage=%lld\n", res(r), (long long)z.zeropage);
        break;
    }
    case ACT_COPY_DONTWAKE_THEN_WAKE: {
        long r = copy_page(g_uffd, page, g_src, PG, UFFDIO_COPY_MODE_DONTWAKE, &copied);
        hlog("  handler: UFFDIO_COPY DONTWAKE %s copy=%lld\n", res(r), (long long)copied);
        usleep(50000);
        hlog("  handler: faulting thread still blocked: %s\n", g_main_progressed ? "no" : "yes");
        struct uffdio_range w = {(unsigned long)page, PG};
        r = do_ioctl(g_uffd, UFFDIO_WAKE, &w);
        hlog("  handler: UFFDIO_WAKE %s\n", res(r));
        break;
    }
    case ACT_UNPROTECT: {
        long r = wp(g_uffd, page, PG, 0);
        hlog("  handler: UFFDIO_WRITEPROTECT clear %s\n", res(r));
        break;
    }
    case ACT_CONTINUE: {
        struct uffdio_continue c = {.range = {(unsigned long)page, PG}};
        long r = do_ioctl(g_uffd, UFFDIO_CONTINUE, &c);
        hlog("  handler: UFFDIO_CONTINUE %s mapped=%lld\n", res(r), (long long)c.mapped);
        break;
    }
    }
}

static void *handler(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd fds[2] = {{g_uffd, POLLIN, 0}, {g_quit_pipe[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) continue;
        if (fds[1].revents) return NULL;
        struct uffd_msg msg[4];
        ssize_t n = read(g_uffd, msg, sizeof msg);
        if (n < 0) {
            printf("  handler: read %s\n", res(n));
            continue;
        }
        for (ssize_t i = 0; i < n / (ssize_t)sizeof msg[0]; ++i) {
            print_msg(&msg[i]);
            resolve(&msg[i]);
            __atomic_add_fetch(&g_handled, 1, __ATOMIC_SEQ_CST);
        }
    }
}

/* --- signals --- */

static sigjmp_buf g_jb;
static volatile int g_sig, g_code, g_lsb;
static void *volatile g_addr;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    g_sig = sig;
    g_code = si->si_code;
    g_addr = si->si_addr;
    g_lsb = sig == SIGBUS ? si->si_addr_lsb : 0;
    siglongjmp(g_jb, 1);
}

static const char *touch(volatile char *p, int write, char *buf, size_t n, char *base)
{
    g_sig = 0;
    if (sigsetjmp(g_jb, 1) == 0) {
        char v = 0;
        if (write) *p = 'W';
        else v = *p;
        snprintf(buf, n, write ? "ok" : "ok val=0x%02x", (unsigned char)v);
    } else {
        const char *code = g_sig == SIGBUS ? (g_code == BUS_MCEERR_AR ? "BUS_MCEERR_AR"
                                              : g_code == BUS_ADRERR  ? "BUS_ADRERR" : "BUS_?")
                                           : segv_code_name(g_code);
        snprintf(buf, n, "%s %s addr=+0x%lx lsb=%d", signame(g_sig), code,
                 (unsigned long)((char *)g_addr - base), g_lsb);
    }
    return buf;
}
#define TOUCH_R(p, base) touch((p), 0, (char[96]){0}, 96, (base))
#define TOUCH_W(p, base) touch((p), 1, (char[96]){0}, 96, (base))

/* An access that raises one userfaultfd event: prints what the handler did, then returns how
 * the access ended. */
static const char *fault_touch(volatile char *p, int write, char *buf, size_t n, char *base)
{
    int before = __atomic_load_n(&g_handled, __ATOMIC_SEQ_CST);
    g_log[0] = 0;
    touch(p, write, buf, n, base);
    while (__atomic_load_n(&g_handled, __ATOMIC_SEQ_CST) == before) sched_yield();
    fputs(g_log, stdout);
    return buf;
}
#define FAULT_R(p, base) fault_touch((p), 0, (char[96]){0}, 96, (base))
#define FAULT_W(p, base) fault_touch((p), 1, (char[96]){0}, 96, (base))

/* poll(2)'s answer: a blocking userfaultfd always polls POLLERR (read might block). */
static const char *pending_events(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    int n = poll(&p, 1, 0);
    static char buf[64];
    snprintf(buf, sizeof buf, "%d%s%s", n, (p.revents & POLLIN) ? " POLLIN" : "", (p.revents & POLLERR) ? " POLLERR" : "");
    return buf;
}

/* The write-protect state as /proc/self/pagemap (bit 57, PM_UFFD_WP) and PAGEMAP_SCAN
 * (PAGE_IS_WRITTEN: not write-protected) show it, for `npages` pages from `base`. */

static void print_wp_state(const char *label, char *base, int npages)
{
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    printf("%s pagemap uffd-wp:", label);
    for (int i = 0; i < npages; ++i) {
        uint64_t e = 0;
        pread(pm, &e, 8, (off_t)((uintptr_t)(base + i * PG) / PG * 8));
        printf(" %d", (int)((e >> 57) & 1));
    }
    struct page_region vec[8];
    struct pm_scan_arg a = {.size = sizeof a, .start = (uintptr_t)base, .end = (uintptr_t)base + npages * PG,
                         .vec = (uintptr_t)vec, .vec_len = 8, .return_mask = PAGE_IS_WRITTEN | PAGE_IS_PRESENT};
    long n = ioctl(pm, PAGEMAP_SCAN, &a);
    printf("; scan %ld:", n);
    for (long i = 0; i < n; ++i)
        printf(" [+%lu,+%lu)%s%s", (unsigned long)((vec[i].start - (uintptr_t)base) / PG),
               (unsigned long)((vec[i].end - (uintptr_t)base) / PG),
               (vec[i].categories & PAGE_IS_PRESENT) ? " present" : "",
               (vec[i].categories & PAGE_IS_WRITTEN) ? " written" : "");
    printf("\n");
    close(pm);
}

/* VmFlags tokens of the smaps entry starting at `start`, among um/uw/ui. */
static void print_uffd_vmflags(const char *label, void *start)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512], want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)start);
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, want, strlen(want)) == 0) in = 1;
        else if (in && strncmp(line, "VmFlags:", 8) == 0) {
            printf("%s VmFlags uffd:%s%s%s\n", label, strstr(line, " um") ? " um" : "",
                   strstr(line, " uw") ? " uw" : "", strstr(line, " ui") ? " ui" : "");
            break;
        }
    }
    if (f) fclose(f);
}

static void handshake(void)
{
    printf("== creation and the API handshake\n");
    errno = 0;
    printf("userfaultfd(bad flag 0x2) = %s\n", res(uffd_new(2)));
    int fd = (int)uffd_new(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    printf("userfaultfd(O_CLOEXEC|O_NONBLOCK|UFFD_USER_MODE_ONLY) >= 0: %s\n", fd >= 0 ? "yes" : "no");
    printf("FD_CLOEXEC %d, O_NONBLOCK %d\n", fcntl(fd, F_GETFD) & FD_CLOEXEC, !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
    char link[64] = {0}, path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    readlink(path, link, sizeof link - 1);
    printf("fd link: %s\n", link);
    struct uffd_msg m;
    errno = 0;
    printf("read before UFFDIO_API: %s\n", res(read(fd, &m, sizeof m)));
    char mem_dummy[1];
    (void)mem_dummy;
    struct pollfd pf = {fd, POLLIN, 0};
    poll(&pf, 1, 0);
    printf("poll before UFFDIO_API: revents%s%s\n", (pf.revents & POLLERR) ? " POLLERR" : "",
           (pf.revents & POLLIN) ? " POLLIN" : "");
    struct uffdio_range rg = {0x100000, PG};
    printf("UFFDIO_WAKE before UFFDIO_API: %s\n", res(do_ioctl(fd, UFFDIO_WAKE, &rg)));
    struct uffdio_api a;
    memset(&a, 0, sizeof a);
    a.api = 0xAB;
    printf("UFFDIO_API api=0xAB: %s (features=%llx ioctls=%llx)\n", res(do_ioctl(fd, UFFDIO_API, &a)),
           (unsigned long long)a.features, (unsigned long long)a.ioctls);
    printf("UFFDIO_API unknown feature bit 62: %s (features=%llx)\n", res(api(fd, 1ull << 62, &a)),
           (unsigned long long)a.features);
    const struct {
        __u64 bit;
        const char *name;
    } wanted[] = {{UFFD_FEATURE_PAGEFAULT_FLAG_WP, "PAGEFAULT_FLAG_WP"}, {UFFD_FEATURE_MISSING_SHMEM, "MISSING_SHMEM"},
                  {UFFD_FEATURE_SIGBUS, "SIGBUS"}, {UFFD_FEATURE_THREAD_ID, "THREAD_ID"},
                  {UFFD_FEATURE_MINOR_SHMEM, "MINOR_SHMEM"}, {UFFD_FEATURE_WP_HUGETLBFS_SHMEM, "WP_HUGETLBFS_SHMEM"},
                  {UFFD_FEATURE_POISON, "POISON"}};
    printf("UFFDIO_API features=0: %s\n", res(api(fd, 0, &a)));
    for (unsigned i = 0; i < sizeof wanted / sizeof wanted[0]; ++i)
        printf("  feature %s available: %s\n", wanted[i].name, (a.features & wanted[i].bit) ? "yes" : "no");
    printf("  ioctls REGISTER %d UNREGISTER %d API %d\n", !!(a.ioctls & (1ull << _UFFDIO_REGISTER)),
           !!(a.ioctls & (1ull << _UFFDIO_UNREGISTER)), !!(a.ioctls & (1ull << _UFFDIO_API)));
    /* Linux 6.18 leaves the reply filled in (all features, the ioctls) and fails with EINVAL. */
    long again = api(fd, 0, &a);
    printf("second UFFDIO_API: %s (wanted features reported: %s, ioctls %llx)\n", res(again),
           (a.features & UFFD_FEATURE_POISON) && (a.features & UFFD_FEATURE_MINOR_SHMEM) ? "yes" : "no",
           (unsigned long long)a.ioctls);
    close(fd);

    fd = (int)uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY);
    __u64 all = 0;
    for (unsigned i = 0; i < sizeof wanted / sizeof wanted[0]; ++i) all |= wanted[i].bit;
    all &= ~(__u64)UFFD_FEATURE_SIGBUS;
    printf("UFFDIO_API with the wanted features (but SIGBUS): %s\n", res(api(fd, all, &a)));
    close(fd);

    printf("== /dev/userfaultfd\n");
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    printf("open /dev/userfaultfd: %s\n", dev >= 0 ? "ok" : res(dev));
    errno = 0;
    long nfd = ioctl(dev, USERFAULTFD_IOC_NEW_IOC, O_CLOEXEC | O_NONBLOCK);
    printf("USERFAULTFD_IOC_NEW(O_CLOEXEC|O_NONBLOCK) >= 0: %s\n", nfd >= 0 ? "yes" : res(nfd));
    if (nfd >= 0) {
        printf("  UFFDIO_API on it: %s\n", res(api((int)nfd, 0, &a)));
        close((int)nfd);
    }
    errno = 0;
    printf("USERFAULTFD_IOC_NEW(bad flag 0x4): %s\n", res(ioctl(dev, USERFAULTFD_IOC_NEW_IOC, 4)));
    errno = 0;
    printf("other ioctl on /dev/userfaultfd: %s\n", res(ioctl(dev, _IO(UFFDIO, 0x01), 0)));
    close(dev);
}

static void registration_errors(int fd, char *region)
{
    printf("== registration errors\n");
    __u64 io;
    printf("REGISTER unaligned start: %s\n", res(reg(fd, region + 1, PG, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("REGISTER unaligned len: %s\n", res(reg(fd, region, PG + 1, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("REGISTER len 0: %s\n", res(reg(fd, region, 0, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("REGISTER mode 0: %s\n", res(reg(fd, region, PG, 0, &io)));
    printf("REGISTER mode 0x8: %s\n", res(reg(fd, region, PG, 8, &io)));
    printf("REGISTER MINOR on anonymous memory: %s\n", res(reg(fd, region, PG, UFFDIO_REGISTER_MODE_MINOR, &io)));
    char *hole = mmap(NULL, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 2 * PG);
    printf("REGISTER an unmapped range: %s\n", res(reg(fd, hole, 2 * PG, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("REGISTER below mmap_min_addr: %s\n", res(reg(fd, (void *)PG, PG, UFFDIO_REGISTER_MODE_MISSING, &io)));
    int exe = open("/proc/self/exe", O_RDONLY);
    char *file = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, exe, 0);
    printf("REGISTER a private file mapping: %s\n", res(reg(fd, file, PG, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("UNREGISTER a private file mapping: %s\n", res(unreg(fd, file, PG)));
    munmap(file, PG);
    close(exe);
    printf("UNREGISTER unaligned: %s\n", res(unreg(fd, region + 1, PG)));
    printf("UNREGISTER a never-registered anonymous range: %s\n", res(unreg(fd, region, PG)));
    printf("UNREGISTER an unmapped range: %s\n", res(unreg(fd, hole, 2 * PG)));
}

static void missing_faults(int fd, char *region)
{
    printf("== missing faults resolved by a handler thread\n");
    __u64 io = 0;
    printf("REGISTER MISSING 8 pages: %s\n", res(reg(fd, region, 8 * PG, UFFDIO_REGISTER_MODE_MISSING, &io)));
    printf("  range ioctls WAKE %d COPY %d ZEROPAGE %d WRITEPROTECT %d CONTINUE %d POISON %d\n",
           !!(io & (1ull << _UFFDIO_WAKE)), !!(io & (1ull << _UFFDIO_COPY)), !!(io & (1ull << _UFFDIO_ZEROPAGE)),
           !!(io & (1ull << _UFFDIO_WRITEPROTECT)), !!(io & (1ull << _UFFDIO_CONTINUE)),
           !!(io & (1ull << _UFFDIO_POISON)));
    print_uffd_vmflags("registered MISSING:", region);

    __s64 copied;
    char other[PG] __attribute__((aligned(4096)));
    printf("COPY to an unregistered range: %s copy=", res(copy_page(fd, other, g_src, PG, 0, &copied)));
    printf("%lld\n", (long long)copied);
    printf("COPY unaligned dst: %s\n", res(copy_page(fd, region + 8, g_src, PG, 0, &copied)));
    printf("COPY unaligned len: %s\n", res(copy_page(fd, region, g_src, 100, 0, &copied)));
    printf("COPY bad mode 0x4: %s\n", res(copy_page(fd, region, g_src, PG, 4, &copied)));
    printf("COPY MODE_WP without WP registration: %s\n",
           res(copy_page(fd, region, g_src, PG, UFFDIO_COPY_MODE_WP, &copied)));
    printf("COPY beyond the registered VMA: %s\n", res(copy_page(fd, region + 7 * PG, g_src, 2 * PG, 0, &copied)));

    g_base = region;
    g_action = ACT_COPY;
    printf("read page 0 (COPY): %s\n", FAULT_R(region, region));
    printf("  page 0 byte 100: 0x%02x\n", (unsigned char)region[100]);
    g_action = ACT_ZEROPAGE;
    printf("write page 1 (ZEROPAGE, then the write): %s\n", FAULT_W(region + PG + 5, region));
    printf("  page 1 bytes 5,6: 0x%02x 0x%02x\n", (unsigned char)region[PG + 5], (unsigned char)region[PG + 6]);
    g_action = ACT_COPY_DONTWAKE_THEN_WAKE;
    g_main_progressed = 0;
    printf("read page 2 (COPY DONTWAKE, WAKE): %s\n", FAULT_R(region + 2 * PG, region));
    g_main_progressed = 1;

    printf("COPY page 0 again: %s copy=", res(copy_page(fd, region, g_src, PG, 0, &copied)));
    printf("%lld\n", (long long)copied);
    printf("COPY page 3 (no waiter): %s copy=", res(copy_page(fd, region + 3 * PG, g_src, PG, 0, &copied)));
    printf("%lld\n", (long long)copied);
    printf("COPY pages 4-5 over 4-5, page 5 present: ");
    copy_page(fd, region + 5 * PG, g_src, PG, UFFDIO_COPY_MODE_DONTWAKE, &copied);
    printf("%s copy=", res(copy_page(fd, region + 4 * PG, g_src, 2 * PG, 0, &copied)));
    printf("%lld\n", (long long)copied);
    struct uffdio_zeropage z = {.range = {(unsigned long)region, PG}};
    long r = do_ioctl(fd, UFFDIO_ZEROPAGE, &z);
    printf("ZEROPAGE over a present page: %s zeropage=%lld\n", res(r), (long long)z.zeropage);
    z.range.start = (unsigned long)region + 6 * PG;
    z.mode = 2;
    r = do_ioctl(fd, UFFDIO_ZEROPAGE, &z);
    printf("ZEROPAGE bad mode: %s\n", res(r));
    struct uffdio_range w = {(unsigned long)region + 1, PG};
    printf("WAKE unaligned: %s\n", res(do_ioctl(fd, UFFDIO_WAKE, &w)));
    w.start = (unsigned long)region;
    printf("WAKE with nobody waiting: %s\n", res(do_ioctl(fd, UFFDIO_WAKE, &w)));
    printf("WRITEPROTECT in a MISSING-only range: %s\n", res(wp(fd, region, PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    printf("events pending now: %s\n", pending_events(fd));
}

static void poison_and_guard(int fd, char *region)
{
    printf("== poison and guard markers in a registered range\n");
    struct poison_args pa = {.range = {(unsigned long)region + 6 * PG, PG}};
    long r = do_ioctl(fd, UFFDIO_POISON_IOC, &pa);
    printf("POISON page 6: %s updated=%lld\n", res(r), (long long)pa.updated);
    pa.range.start = (unsigned long)region;
    r = do_ioctl(fd, UFFDIO_POISON_IOC, &pa);
    printf("POISON a present page: %s updated=%lld\n", res(r), (long long)pa.updated);
    pa.range.start = (unsigned long)region + 6 * PG;
    pa.mode = 2;
    printf("POISON bad mode: %s\n", res(do_ioctl(fd, UFFDIO_POISON_IOC, &pa)));
    printf("read poisoned page 6: %s\n", TOUCH_R(region + 6 * PG + 8, region));
    printf("write poisoned page 6: %s\n", TOUCH_W(region + 6 * PG, region));
    __s64 copied;
    printf("COPY over the poisoned page: %s\n", res(copy_page(fd, region + 6 * PG, g_src, PG, 0, &copied)));
    printf("read page 6 after COPY: %s\n", TOUCH_R(region + 6 * PG, region));
    printf("MADV_GUARD_INSTALL page 7: %s\n", res(madvise(region + 7 * PG, PG, MADV_GUARD_INSTALL)));
    printf("read guard page 7: %s\n", TOUCH_R(region + 7 * PG, region));
    printf("write guard page 7: %s\n", TOUCH_W(region + 7 * PG, region));
    printf("COPY over the guard page: %s\n", res(copy_page(fd, region + 7 * PG, g_src, PG, 0, &copied)));
    printf("read page 7 after COPY: %s\n", TOUCH_R(region + 7 * PG, region));
    printf("events pending after the guard faults: %s\n", pending_events(fd));
    printf("MADV_DONTNEED page 6: %s\n", res(madvise(region + 6 * PG, PG, MADV_DONTNEED)));
    printf("UNREGISTER 8 pages: %s\n", res(unreg(fd, region, 8 * PG)));
    print_uffd_vmflags("after UNREGISTER:", region);
    printf("read page 6 after unregister: %s\n", TOUCH_R(region + 6 * PG, region));
}

static void write_protect(int fd)
{
    printf("== write-protect faults\n");
    char *r = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    r[0] = 'a';
    r[PG] = 'b';
    g_base = r;
    printf("REGISTER WP: %s\n", res(reg(fd, r, 2 * PG, UFFDIO_REGISTER_MODE_WP, NULL)));
    print_uffd_vmflags("registered WP:", r);
    printf("WRITEPROTECT mode WP|DONTWAKE: %s\n",
           res(wp(fd, r, PG, UFFDIO_WRITEPROTECT_MODE_WP | UFFDIO_WRITEPROTECT_MODE_DONTWAKE)));
    printf("WRITEPROTECT mode 0x4: %s\n", res(wp(fd, r, PG, 4)));
    printf("WRITEPROTECT unaligned: %s\n", res(wp(fd, r + 1, PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    print_wp_state("before WRITEPROTECT:", r, 2);
    printf("WRITEPROTECT page 0: %s\n", res(wp(fd, r, PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    print_wp_state("after WRITEPROTECT page 0:", r, 2);
    printf("read page 0: %s\n", TOUCH_R(r, r));
    g_action = ACT_UNPROTECT;
    printf("write page 0 (WRITEPROTECT clears): %s\n", FAULT_W(r + 10, r));
    printf("  page 0 bytes 0,10: %c %c\n", r[0], r[10]);
    print_wp_state("after the handler cleared it:", r, 2);
    printf("write page 1 (not protected): %s\n", TOUCH_W(r + PG, r));
    printf("WRITEPROTECT page 1 then write again: %s\n", res(wp(fd, r + PG, PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    printf("  write page 1: %s\n", FAULT_W(r + PG + 1, r));
    printf("UNREGISTER: %s\n", res(unreg(fd, r, 2 * PG)));
    printf("WRITEPROTECT after UNREGISTER: %s\n", res(wp(fd, r, PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    munmap(r, 2 * PG);

    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("REGISTER MISSING|WP: %s\n", res(reg(fd, m, 2 * PG, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP, NULL)));
    print_uffd_vmflags("registered MISSING|WP:", m);
    __s64 copied;
    long ret = copy_page(fd, m, g_src, PG, UFFDIO_COPY_MODE_WP, &copied);
    printf("COPY MODE_WP page 0: %s copy=%lld\n", res(ret), (long long)copied);
    g_base = m;
    printf("read page 0: %s\n", TOUCH_R(m, m));
    g_action = ACT_UNPROTECT;
    printf("write page 0 (WRITEPROTECT clears): %s\n", FAULT_W(m + 3, m));
    printf("UNREGISTER: %s\n", res(unreg(fd, m, 2 * PG)));
    munmap(m, 2 * PG);
}

static void memfd_faults(int fd)
{
    printf("== minor faults on a memfd (UFFDIO_CONTINUE) and missing faults on shmem\n");
    int mfd = memfd_create("uffd", MFD_CLOEXEC);
    ftruncate(mfd, 4 * PG);
    char page[PG];
    memset(page, 'M', sizeof page);
    pwrite(mfd, page, PG, 0);
    pwrite(mfd, page, PG, PG);
    char *s = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    g_base = s;
    printf("REGISTER MINOR on a shared memfd mapping: %s\n", res(reg(fd, s, 4 * PG, UFFDIO_REGISTER_MODE_MINOR, NULL)));
    print_uffd_vmflags("registered MINOR:", s);
    g_action = ACT_CONTINUE;
    printf("read page 0 (in the page cache: minor): %s\n", FAULT_R(s + 1, s));
    g_action = ACT_CONTINUE;
    printf("write page 1 (minor): %s\n", FAULT_W(s + PG, s));
    struct uffdio_continue c = {.range = {(unsigned long)s, PG}};
    long r = do_ioctl(fd, UFFDIO_CONTINUE, &c);
    printf("CONTINUE a mapped page: %s mapped=%lld\n", res(r), (long long)c.mapped);
    c.range.start = (unsigned long)s + 3 * PG;
    r = do_ioctl(fd, UFFDIO_CONTINUE, &c);
    printf("CONTINUE a hole of the memfd: %s mapped=%lld\n", res(r), (long long)c.mapped);
    c.range.start = (unsigned long)s + 2 * PG;
    c.mode = 4;
    printf("CONTINUE bad mode: %s\n", res(do_ioctl(fd, UFFDIO_CONTINUE, &c)));
    printf("UNREGISTER: %s\n", res(unreg(fd, s, 4 * PG)));
    printf("read page 3 after UNREGISTER (a hole): %s\n", TOUCH_R(s + 3 * PG, s));

    char *t = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    g_base = t;
    ftruncate(mfd, 0);
    ftruncate(mfd, 4 * PG);
    pwrite(mfd, page, PG, 0);
    printf("REGISTER MISSING|MINOR on a fresh shared mapping: %s\n",
           res(reg(fd, t, 4 * PG, UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR, NULL)));
    g_action = ACT_COPY;
    printf("read page 2 (a hole: missing, COPY): %s\n", FAULT_R(t + 2 * PG, t));
    char back = 0;
    pread(mfd, &back, 1, 2 * PG);
    printf("  the memfd's page 2 now holds 0x%02x\n", (unsigned char)back);
    g_action = ACT_CONTINUE;
    printf("read page 0 (cached: minor, CONTINUE): %s\n", FAULT_R(t, t));
    __s64 copied;
    printf("COPY over a cached page: %s\n", res(copy_page(fd, t, g_src, PG, 0, &copied)));
    printf("UNREGISTER: %s\n", res(unreg(fd, t, 4 * PG)));

    /* Write-protection of shmem reaches pages not mapped yet (page 1: in the memfd, page 3: a
     * hole) as well as mapped ones (page 0). */
    pwrite(mfd, page, PG, PG);
    char *w = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
    g_base = w;
    /* Read after the registration: Linux maps no neighbours around a fault in a WP or MINOR
     * range (no fault-around), so page 0 is the only one mapped. */
    printf("REGISTER WP on shmem: %s\n", res(reg(fd, w, 4 * PG, UFFDIO_REGISTER_MODE_WP, NULL)));
    printf("read page 0: %s\n", TOUCH_R(w, w));
    printf("WRITEPROTECT 4 pages: %s\n", res(wp(fd, w, 4 * PG, UFFDIO_WRITEPROTECT_MODE_WP)));
    print_wp_state("shmem after WRITEPROTECT:", w, 4);
    g_action = ACT_UNPROTECT;
    printf("write page 0 (mapped): %s\n", FAULT_W(w + 1, w));
    printf("write page 1 (in the memfd, not mapped): %s\n", FAULT_W(w + PG + 1, w));
    printf("read page 3 (a hole): %s\n", TOUCH_R(w + 3 * PG, w));
    printf("write page 3: %s\n", FAULT_W(w + 3 * PG, w));
    print_wp_state("shmem after the writes:", w, 4);
    printf("UNREGISTER: %s\n", res(unreg(fd, w, 4 * PG)));
    printf("write page 2 after UNREGISTER: %s\n", TOUCH_W(w + 2 * PG, w));
    munmap(w, 4 * PG);
    munmap(t, 4 * PG);
    munmap(s, 4 * PG);
    close(mfd);
}

static void feature_sigbus(void)
{
    printf("== UFFD_FEATURE_SIGBUS\n");
    int fd = (int)uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY);
    struct uffdio_api a;
    printf("UFFDIO_API SIGBUS: %s\n", res(api(fd, UFFD_FEATURE_SIGBUS, &a)));
    char *r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("REGISTER MISSING: %s\n", res(reg(fd, r, PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    printf("read: %s\n", TOUCH_R(r + 4, r));
    printf("events pending (blocking descriptor): %s\n", pending_events(fd));
    close(fd);
    printf("read after close: %s\n", TOUCH_R(r + 4, r));
    munmap(r, PG);
}

static char *g_close_region;
static void *faulting_thread(void *arg)
{
    (void)arg;
    printf("  faulting thread: read %s\n", TOUCH_R(g_close_region + 9, g_close_region));
    return NULL;
}

static void close_while_waiting(void)
{
    printf("== the descriptor closed while a thread waits\n");
    int fd = (int)uffd_new(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api a;
    api(fd, 0, &a);
    g_close_region = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("REGISTER MISSING: %s\n", res(reg(fd, g_close_region, PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    errno = 0;
    struct uffd_msg m;
    printf("read with nothing pending (O_NONBLOCK): %s\n", res(read(fd, &m, sizeof m)));
    errno = 0;
    printf("read of 16 bytes: %s\n", res(read(fd, &m, 16)));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42}, got;
    printf("epoll_ctl ADD: %s\n", res(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)));
    printf("epoll_wait with nothing pending: %d\n", epoll_wait(ep, &got, 1, 0));
    pthread_t t;
    pthread_create(&t, NULL, faulting_thread, NULL);
    int ready = epoll_wait(ep, &got, 1, -1);
    printf("  epoll_wait: %d data %llu events%s\n", ready, (unsigned long long)got.data.u64,
           (got.events & EPOLLIN) ? " EPOLLIN" : "");
    close(ep);
    ssize_t n = read(fd, &m, sizeof m);
    g_base = g_close_region;
    printf("  main read %zd bytes: event %s offset +0x%lx\n", n, m.event == UFFD_EVENT_PAGEFAULT ? "PAGEFAULT" : "?",
           (unsigned long)((char *)(unsigned long)m.arg.pagefault.address - g_close_region));
    fflush(stdout);
    close(fd);
    pthread_join(t, NULL);
    print_uffd_vmflags("after close:", g_close_region);
    munmap(g_close_region, PG);
}

/* A handler that blocks in read(2) on a blocking descriptor. */
static void *blocking_reader(void *arg)
{
    int fd = *(int *)arg;
    struct uffd_msg m;
    ssize_t n = read(fd, &m, sizeof m);
    hlog("  reader: read %zd bytes, event %s flags%s offset +0x%lx\n", n,
         m.event == UFFD_EVENT_PAGEFAULT ? "PAGEFAULT" : "?",
         (m.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) ? " WRITE" : "",
         (unsigned long)((char *)(unsigned long)m.arg.pagefault.address - g_base));
    __s64 copied;
    long r = copy_page(fd, (char *)(unsigned long)m.arg.pagefault.address, g_src, PG, 0, &copied);
    hlog("  reader: UFFDIO_COPY %s\n", res(r));
    __atomic_add_fetch(&g_handled, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void blocking_read(void)
{
    printf("== a handler blocked in read(2)\n");
    int fd = (int)uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY);
    struct uffdio_api a;
    api(fd, 0, &a);
    char *r = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    printf("REGISTER MISSING: %s\n", res(reg(fd, r, 2 * PG, UFFDIO_REGISTER_MODE_MISSING, NULL)));
    g_base = r;
    pthread_t t;
    pthread_create(&t, NULL, blocking_reader, &fd);
    printf("write page 1: %s\n", FAULT_W(r + PG + 2, r));
    pthread_join(t, NULL);
    printf("  page 1 bytes 0,2: 0x%02x 0x%02x\n", (unsigned char)r[PG], (unsigned char)r[PG + 2]);
    close(fd);
    munmap(r, 2 * PG);
}

/* A signal to a thread waiting on its fault: the handler runs, the access faults again (a second
 * message), and the copy then resolves it. */
static volatile int g_usr1;
static char *g_signal_region;
static void on_usr1(int sig) { (void)sig; g_usr1 = 1; }
static void *signalled_thread(void *arg)
{
    (void)arg;
    volatile char v = g_signal_region[5];
    (void)v;
    return NULL;
}

static void signal_while_waiting(void)
{
    printf("== a signal to the waiting thread\n");
    int fd = (int)uffd_new(O_CLOEXEC | UFFD_USER_MODE_ONLY);
    struct uffdio_api a;
    api(fd, 0, &a);
    g_signal_region = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    reg(fd, g_signal_region, PG, UFFDIO_REGISTER_MODE_MISSING, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_t t;
    pthread_create(&t, NULL, signalled_thread, NULL);
    struct uffd_msg m;
    printf("read: %zd\n", read(fd, &m, sizeof m));
    pthread_kill(t, SIGUSR1);
    printf("read after the signal: %zd (offset +0x%lx)\n", read(fd, &m, sizeof m),
           (unsigned long)((char *)(unsigned long)m.arg.pagefault.address - g_signal_region));
    printf("handler ran: %d\n", g_usr1);
    __s64 copied;
    printf("COPY: %s\n", res(copy_page(fd, g_signal_region, g_src, PG, 0, &copied)));
    pthread_join(t, NULL);
    printf("thread done, byte 5: 0x%02x\n", (unsigned char)g_signal_region[5]);

    printf("== UNREGISTER while a thread waits\n");
    printf("MADV_DONTNEED: %s\n", res(madvise(g_signal_region, PG, MADV_DONTNEED)));
    pthread_create(&t, NULL, signalled_thread, NULL);
    printf("read: %zd\n", read(fd, &m, sizeof m));
    printf("UNREGISTER: %s\n", res(unreg(fd, g_signal_region, PG)));
    pthread_join(t, NULL);
    printf("thread done, byte 5: 0x%02x\n", (unsigned char)g_signal_region[5]);
    close(fd);
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    g_main_tid = (pid_t)syscall(SYS_gettid);

    handshake();

    g_uffd = (int)uffd_new(O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    struct uffdio_api a;
    api(g_uffd, UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_PAGEFAULT_FLAG_WP, &a);
    g_src = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(g_src, 'S', PG);
    /* Between two PROT_NONE pages, so that it merges with no neighbour (what is placed next to it
     * differs: Linux 6.18 gives MAP_STACK thread stacks VM_NOHUGEPAGE). */
    char *fence = mmap(NULL, 10 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *region = mmap(fence + PG, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    pipe(g_quit_pipe);
    pthread_t h;
    pthread_create(&h, NULL, handler, NULL);

    registration_errors(g_uffd, region);
    missing_faults(g_uffd, region);
    poison_and_guard(g_uffd, region);
    write_protect(g_uffd);
    memfd_faults(g_uffd);

    write(g_quit_pipe[1], "q", 1);
    pthread_join(h, NULL);
    feature_sigbus();
    blocking_read();
    signal_while_waiting();
    close_while_waiting();
    printf("done\n");
    return 0;
}
