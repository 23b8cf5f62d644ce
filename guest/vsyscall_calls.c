/* vsyscall_calls.c - the legacy vsyscall page as Linux 6.18 offers it by default (execute-only,
 * emulated): time, gettimeofday and getcpu called at their fixed addresses return like system
 * calls; a call to any other address in the page, and a read of it, are SIGSEGV; /proc/self/maps
 * ends with the [vsyscall] line.
 */
#include "guest_util.h"
#include <sys/time.h>
#include <time.h>

static sigjmp_buf back;
static volatile int last_signal, last_code;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
    (void)uc;
    last_signal = sig;
    last_code = info->si_code;
    siglongjmp(back, 1);
}

int main(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);

    time_t (*vtime)(time_t *) = (time_t (*)(time_t *))0xffffffffff600400ul;
    time_t stored = 0, now = vtime(&stored);
    out("time: plausible %d, stored the same %d\n", now > 1700000000, now == stored);
    int (*vgettimeofday)(struct timeval *, void *) = (int (*)(struct timeval *, void *))0xffffffffff600000ul;
    struct timeval tv = {0};
    const int result = vgettimeofday(&tv, NULL);
    out("gettimeofday: %d, plausible %d\n", result, tv.tv_sec > 1700000000);
    if (!sigsetjmp(back, 1)) {
        ((void (*)(void))0xffffffffff600100ul)();
        out("a call into the middle of the page returned\n");
    } else {
        out("a call into the middle of the page: %s %s\n", signame(last_signal), segv_code_name(last_code));
    }
    if (!sigsetjmp(back, 1)) {
        volatile unsigned char *page = (volatile unsigned char *)0xffffffffff600000ul;
        out("read of the page: %d\n", page[0]);
    } else {
        out("read of the page: %s %s\n", signame(last_signal), segv_code_name(last_code));
    }
    char maps[16384] = {0};
    int fd = open("/proc/self/maps", O_RDONLY);
    long n = 0, r;
    while ((r = read(fd, maps + n, sizeof maps - 1 - (size_t)n)) > 0)
        n += r;
    close(fd);
    const char *last = maps;
    for (char *p = maps; *p; p++)
        if (p[0] == '\n' && p[1])
            last = p + 1;
    out("last line of maps: %s", last);
    return 0;
}
