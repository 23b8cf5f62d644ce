/* fallocate_rules.c - fallocate on a file and on a memfd, both mapped MAP_SHARED (issue 9).
 *
 * Rules pinned (each compared with the host kernel):
 *  - mode 0 grows the size to offset + len, FALLOC_FL_KEEP_SIZE does not;
 *  - FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: the range reads as zero through read(2) and
 *    through every shared mapping (whole and partial pages), also bytes just written through
 *    the mapping; the bytes around it keep their contents;
 *  - errors: PUNCH_HOLE without KEEP_SIZE EOPNOTSUPP, len 0 or negative offset EINVAL, a
 *    read-only descriptor EBADF, a pipe ESPIPE.
 */
#include "guest_util.h"

#include <sys/stat.h>
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 1
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 2
#endif

static const char *path = "fallocate_rules.tmp";

static const char *ename(int e)
{
    return e == EOPNOTSUPP ? "EOPNOTSUPP" : errname(e);
}

static const char *fa(int fd, int mode, long off, long len)
{
    return fallocate(fd, mode, off, len) == 0 ? "OK" : ename(errno);
}

static long size_of(int fd)
{
    struct stat st;
    fstat(fd, &st);
    return (long)st.st_size;
}

/* Which bytes of [from, to) are zero: runs printed as [a,b). */
static void zero_runs(const char *what, const char *p, long from, long to)
{
    out("%s zero:", what);
    for (long i = from; i < to;) {
        if (p[i]) {
            ++i;
            continue;
        }
        long j = i;
        while (j < to && !p[j])
            ++j;
        out(" [%ld,%ld)", i, j);
        i = j;
    }
    out("\n");
}

static void punch_checks(const char *kind, int fd)
{
    char buf[3 * PG];
    memset(buf, 'A', sizeof buf);
    pwrite(fd, buf, sizeof buf, 0);
    char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(m + 2 * PG, 'B', PG);  /* dirty through the mapping */
    out("%s: size %ld\n", kind, size_of(fd));
    out("%s: punch page 1: %s\n", kind, fa(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, PG, PG));
    out("%s: punch [10,110): %s\n", kind, fa(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 10, 100));
    out("%s: punch 2PG+100 len 50: %s\n", kind, fa(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * PG + 100, 50));
    zero_runs("  mapping", m, 0, 3 * PG);
    pread(fd, buf, sizeof buf, 0);
    zero_runs("  read(2)", buf, 0, 3 * PG);
    out("  bytes 0 %c, 2PG %c, 2PG+200 %c\n", buf[0], buf[2 * PG], buf[2 * PG + 200]);
    out("%s: size after punching %ld\n", kind, size_of(fd));
    const char *r;
    r = fa(fd, FALLOC_FL_KEEP_SIZE, 0, 8 * PG);
    out("%s: KEEP_SIZE beyond the end: %s, size %ld\n", kind, r, size_of(fd));
    r = fa(fd, 0, 4 * PG, PG);
    out("%s: mode 0 to 5 pages: %s, size %ld\n", kind, r, size_of(fd));
    r = fa(fd, 0, 0, PG);
    out("%s: mode 0 inside: %s, size %ld\n", kind, r, size_of(fd));
    out("%s: PUNCH without KEEP_SIZE: %s\n", kind, fa(fd, FALLOC_FL_PUNCH_HOLE, 0, PG));
    out("%s: len 0: %s\n", kind, fa(fd, 0, 0, 0));
    out("%s: offset -1: %s\n", kind, fa(fd, 0, -1, 10));
    out("  mapping byte 0 %c, byte 2PG+10 %c\n", m[0] ? m[0] : '0', m[2 * PG + 10]);
    munmap(m, 3 * PG);
}

int main(void)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    punch_checks("file", fd);
    int ro = open(path, O_RDONLY);
    out("file: read-only descriptor: %s\n", fa(ro, 0, 0, PG));
    close(ro);
    close(fd);
    unlink(path);
    int mfd = memfd_create("fallocate_rules", 0);
    punch_checks("memfd", mfd);
    close(mfd);
    int pfd[2];
    pipe(pfd);
    out("pipe: %s\n", fa(pfd[1], 0, 0, PG));
    return 0;
}
