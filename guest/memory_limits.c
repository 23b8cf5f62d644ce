/* memory_limits.c - the kernel's memory limits as a program meets them: the overcommit heuristic
 * (vm.overcommit_memory = 0: one private writable mapping larger than RAM + swap fails with
 * ENOMEM unless MAP_NORESERVE; read-only and shared ones are not charged), heap growth by brk
 * beyond it, RLIMIT_AS for mmap and brk, RLIMIT_DATA for private writable memory (not read-only
 * or shared mappings), and RLIMIT_MEMLOCK for mlock (lifted by CAP_IPC_LOCK, as root has it).
 */
#include "guest_util.h"
#include <sys/resource.h>

static const char *try_mmap(size_t len, int prot, int flags)
{
    void *p = mmap(NULL, len, prot, flags, -1, 0);
    if (p == MAP_FAILED)
        return errname(errno);
    munmap(p, len);
    return "ok";
}

int main(void)
{
    const size_t huge = (size_t)1 << 46; /* 64 TiB: more than any machine here has */
    out("64 TiB private rw: %s\n", try_mmap(huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS));
    out("64 TiB private rw NORESERVE: %s\n",
        try_mmap(huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE));
    out("64 TiB private read-only: %s\n", try_mmap(huge, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS));
    void *start = sbrk(0);
    out("brk + 1 TiB: %s\n", brk((char *)start + ((size_t)1 << 40)) == 0 ? "ok" : errname(errno));
    out("brk + 1 MiB: %s\n", brk((char *)start + (1 << 20)) == 0 ? "ok" : errname(errno));
    brk(start);

    struct rlimit as = {256 << 20, 256 << 20};
    out("setrlimit(RLIMIT_AS, 256 MiB): %s\n", setrlimit(RLIMIT_AS, &as) == 0 ? "0" : errname(errno));
    out("512 MiB NORESERVE under it: %s\n",
        try_mmap(512u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE));
    out("16 MiB under it: %s\n", try_mmap(16u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS));
    out("brk + 512 MiB under it: %s\n", brk((char *)start + (512u << 20)) == 0 ? "ok" : errname(errno));

    struct rlimit data = {32 << 20, 32 << 20};
    out("setrlimit(RLIMIT_DATA, 32 MiB): %s\n", setrlimit(RLIMIT_DATA, &data) == 0 ? "0" : errname(errno));
    out("64 MiB private rw under it: %s\n", try_mmap(64u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS));
    out("64 MiB private rw NORESERVE under it: %s\n",
        try_mmap(64u << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE));
    out("64 MiB private read-only under it: %s\n", try_mmap(64u << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS));
    out("64 MiB shared rw under it: %s\n", try_mmap(64u << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS));
    out("brk + 64 MiB under it: %s\n", brk((char *)start + (64u << 20)) == 0 ? "ok" : errname(errno));

    struct rlimit memlock = {64 << 10, 64 << 10};
    out("setrlimit(RLIMIT_MEMLOCK, 64 KiB): %s\n", setrlimit(RLIMIT_MEMLOCK, &memlock) == 0 ? "0" : errname(errno));
    void *m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    const int locked = mlock(m, 1 << 20);
    out("mlock 1 MiB over it: %s (%s)\n", locked == 0 ? "ok" : errname(errno),
        geteuid() == 0 ? "as root, CAP_IPC_LOCK lifts the limit" : "without CAP_IPC_LOCK");
    out("mlock 16 KiB: %s\n", mlock(m, 16 << 10) == 0 ? "ok" : errname(errno));
    return 0;
}
