/* guard_file_and_shmem.c - guard regions on every kind of mapping (Linux 6.15+ rules, issue 9).
 *
 * For private and shared anonymous memory, private and shared memfd mappings, private and shared
 * mappings of an on-disk file, and read-only mappings of that file: installing a guard works,
 * reads and writes fault with SIGSEGV (SEGV_MAPERR; a write to a read-only mapping is
 * SEGV_ACCERR), pagemap shows bit 58, mincore reports the object's page (resident for
 * everything but private anonymous memory), MADV_POPULATE_READ
 * fails with EFAULT, MADV_DONTNEED keeps the guard, a forked child inherits it, and removal makes
 * the page's content come back from the object (the file or shmem page; zero for private
 * anonymous memory and for holes), private copies being dropped by the install; a guard beyond
 * the end of a truncated file is still SIGSEGV, and SIGBUS once removed.
 */
#include "guest_util.h"

#include <sys/wait.h>

enum kind { ANON_PRIVATE, ANON_SHARED, MEMFD_SHARED, MEMFD_PRIVATE, FILE_SHARED, FILE_PRIVATE,
            FILE_RO_PRIVATE, FILE_RO_SHARED };
static const char *kind_names[] = {"anon-private", "anon-shared", "memfd-shared", "memfd-private",
                                   "file-shared", "file-private", "file-ro-private", "file-ro-shared"};
static const char *path = "guard_file_and_shmem.tmp";

static int make_fd(enum kind k)
{
    int fd;
    if (k == MEMFD_SHARED || k == MEMFD_PRIVATE)
        fd = memfd_create("guarded", 0);
    else
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    char page[PG];
    for (int i = 0; i < 3; i++) { /* page 3 stays a hole within the size */
        memset(page, 'A' + i, PG);
        pwrite(fd, page, PG, (off_t)i * PG);
    }
    ftruncate(fd, 4 * PG);
    if (k == FILE_RO_PRIVATE || k == FILE_RO_SHARED) {
        close(fd);
        fd = open(path, O_RDONLY);
    }
    return fd;
}

static char *map_kind(enum kind k, int fd)
{
    const int rw = PROT_READ | PROT_WRITE;
    switch (k) {
    case ANON_PRIVATE: return mmap(NULL, 4 * PG, rw, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    case ANON_SHARED: return mmap(NULL, 4 * PG, rw, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    case MEMFD_SHARED: case FILE_SHARED: return mmap(NULL, 4 * PG, rw, MAP_SHARED, fd, 0);
    case MEMFD_PRIVATE: case FILE_PRIVATE: return mmap(NULL, 4 * PG, rw, MAP_PRIVATE, fd, 0);
    case FILE_RO_PRIVATE: return mmap(NULL, 4 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    case FILE_RO_SHARED: return mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
    }
    return MAP_FAILED;
}

/* madvise, then its result compared (errno read after the call). */
static void advise(const char *label, void *addr, size_t len, int advice, const char *want)
{
    int e = 0;
    long r = madv(addr, len, advice, &e);
    expect_r(label, r, e, want);
}

static int mincore_of(void *addr)
{
    unsigned char v = 0xff;
    if (mincore(addr, PG, &v) != 0)
        return -errno;
    return v & 1;
}

static void run(enum kind k)
{
    const char *name = kind_names[k];
    char label[96];
#define L(what) (snprintf(label, sizeof label, "%s: %s", name, what), label)
    const int writable = k != FILE_RO_PRIVATE && k != FILE_RO_SHARED;
    int fd = k == ANON_PRIVATE || k == ANON_SHARED ? -1 : make_fd(k);
    char *m = map_kind(k, fd);
    if (m == MAP_FAILED) {
        out("%s: mmap %s\n", name, errname(errno));
        return;
    }
    if (fd < 0)
        for (int i = 0; i < 3; i++)
            memset(m + i * PG, 'A' + i, PG);
    if (writable)
        m[PG + 1] = 'w'; /* shared: into the object; private: a private copy */
    out("%s: before: %c %c\n", name, m[PG], m[PG + 1]);
    advise(L("install"), m + PG, 2 * PG, MADV_GUARD_INSTALL, "0");
    expect(L("read guard"), PROBE_R(m + PG, m), MAPERR_AT(PG));
    expect(L("write guard"), PROBE_W(m + PG, m, 1), writable ? MAPERR_AT(PG) : ACCERR_AT(PG));
    expect(L("read hole guard"), PROBE_R(m + 3 * PG, m), "ok val=0x00");
    expect(L("read page 2 guard"), PROBE_R(m + 2 * PG, m), MAPERR_AT(2 * PG));
    expectf(L("pagemap guard bit"), "1 0", "%d %d", pm_guard(m + PG), pm_guard(m));
    /* mincore reports the object's page (page cache, shmem) even where the guard is. */
    expectf(L("mincore"), k == ANON_PRIVATE ? "0" : "1", "%d", mincore_of(m + PG));
    advise(L("populate read"), m + PG, PG, MADV_POPULATE_READ, "-1 EFAULT");
    advise(L("dontneed"), m, 4 * PG, MADV_DONTNEED, "0");
    expect(L("guard kept by dontneed"), PROBE_R(m + PG, m), MAPERR_AT(PG));
    pid_t pid = raw_fork();
    if (pid == 0)
        _exit(strcmp(PROBE_R(m + PG, m), MAPERR_AT(PG)) == 0 && pm_guard(m + PG) ? 0 : 1);
    expect(L("child inherits the guard"), WAIT(pid), "exit 0");
    advise(L("remove"), m + PG, 2 * PG, MADV_GUARD_REMOVE, "0");
    out("%s: after remove: %s / %s / %s\n", name, PROBE_R(m + PG, m), PROBE_R(m + PG + 1, m),
        PROBE_R(m + 2 * PG, m));
    expectf(L("pagemap after remove"), "0", "%d", pm_guard(m + PG));
    if (fd >= 0) {
        char c = 0;
        pread(fd, &c, 1, PG + 1);
        out("%s: file byte after remove: %c\n", name, c);
        /* A guard on the last page, then the file shrinks under it and grows again. */
        if (k != FILE_RO_PRIVATE && k != FILE_RO_SHARED) {
            advise(L("install on page 3"), m + 3 * PG, PG, MADV_GUARD_INSTALL, "0");
            ftruncate(fd, 2 * PG);
            expect(L("guard beyond the end"), PROBE_R(m + 3 * PG, m), MAPERR_AT(3 * PG));
            advise(L("remove on page 3"), m + 3 * PG, PG, MADV_GUARD_REMOVE, "0");
            out("%s: beyond the end after remove: %s\n", name, PROBE_R(m + 3 * PG, m));
        }
        close(fd);
    }
    munmap(m, 4 * PG);
    unlink(path);
#undef L
}

int main(void)
{
    probe_init();
    for (int k = ANON_PRIVATE; k <= FILE_RO_SHARED; k++)
        run((enum kind)k);
    return summary("guard_file_and_shmem");
}
