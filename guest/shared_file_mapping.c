/* shared_file_mapping.c - MAP_SHARED mappings of an on-disk file (issue 9).
 *
 * Rules pinned (each compared with the host kernel):
 *  - a write through a shared mapping made by a forked child is seen by the parent's mapping,
 *    by read(2) right away, after msync, and after munmap (and is in the file afterwards);
 *  - write(2)/pwrite(2) to the file are seen through the mapping (shared and private);
 *  - private mappings see the file until they copy a page on write;
 *  - an access beyond the end of the file is SIGBUS/BUS_ADRERR, also after ftruncate shrinks
 *    the file under a mapping (in parent and child); growing it again brings zeros back;
 *  - EACCES: mmap(PROT_WRITE, MAP_SHARED) of an O_RDONLY descriptor, mprotect(PROT_WRITE) of a
 *    shared read-only mapping of it, any mapping of an O_WRONLY descriptor;
 *  - msync argument rules (EINVAL, ENOMEM for holes, EBUSY for MS_INVALIDATE on mlock'd memory).
 */
#include "guest_util.h"

#include <sys/stat.h>
#include <sys/wait.h>

static const char *path = "shared_file_mapping.tmp";

static void fill_file(int fd, size_t len, char c)
{
    char buf[PG];
    memset(buf, c, sizeof buf);
    for (size_t done = 0; done < len; done += PG)
        pwrite(fd, buf, len - done < PG ? len - done : PG, (off_t)done);
}

static char file_byte(int fd, off_t off)
{
    char c = '?';
    if (pread(fd, &c, 1, off) != 1)
        return '!';
    return c;
}

int main(void)
{
    probe_init();
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        out("open: %s\n", errname(errno));
        return 1;
    }
    fill_file(fd, 3 * PG, 'a');

    /* A shared mapping written by a child, read by the parent and by read(2). */
    char *m = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("mmap shared", m == MAP_FAILED ? errname(errno) : "ok", "ok");
    char *priv = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    expect("mmap private", priv == MAP_FAILED ? errname(errno) : "ok", "ok");
    expectf("private sees file", "a", "%c", priv[PG]);
    priv[2 * PG] = 'P'; /* this page is now a private copy */
    pid_t pid = raw_fork();
    if (pid == 0) {
        m[0] = 'C';
        m[PG + 5] = 'D';
        _exit(0);
    }
    expect("child", WAIT(pid), "exit 0");
    expectf("parent mapping sees child write", "C D", "%c %c", m[0], m[PG + 5]);
    expectf("read(2) sees mapping write", "C", "%c", file_byte(fd, 0));
    expectf("private mapping sees unwritten page", "D", "%c", priv[PG + 5]);
    m[2 * PG] = 'S';
    expectf("private copy keeps its own byte", "P", "%c", priv[2 * PG]);
    EXPECT_SYS("msync MS_SYNC", msync(m, 3 * PG, MS_SYNC), "0");
    expectf("read(2) after msync", "C D S", "%c %c %c", file_byte(fd, 0), file_byte(fd, PG + 5),
            file_byte(fd, 2 * PG));
    m[3] = 'E';
    EXPECT_SYS("msync MS_ASYNC", msync(m, PG, MS_ASYNC), "0");
    expectf("read(2) after MS_ASYNC", "E", "%c", file_byte(fd, 3));

    /* write(2)/pwrite(2) to the file are seen by the mappings. */
    EXPECT_SYS("pwrite", pwrite(fd, "WXYZ", 4, 100), "4");
    expectf("shared mapping sees pwrite", "WXYZ", "%.4s", m + 100);
    expectf("private mapping sees pwrite", "WXYZ", "%.4s", priv + 100);
    lseek(fd, PG + 10, SEEK_SET);
    EXPECT_SYS("write", write(fd, "qr", 2), "2");
    expectf("shared mapping sees write", "qr", "%.2s", m + PG + 10);
    expectf("mapping write before it survives", "D", "%c", m[PG + 5]);

    /* A page written, written back, then written again through the same mapping: the second
     * write reaches the file too. */
    m[2 * PG + 1] = 'F';
    msync(m, 3 * PG, MS_SYNC);
    m[2 * PG + 2] = 'G';
    /* munmap of the last shared mapping: the file has every byte. */
    m[PG + 20] = 'M';
    EXPECT_SYS("munmap", munmap(m, 3 * PG), "0");
    expectf("read(2) after munmap", "M F G", "%c %c %c", file_byte(fd, PG + 20), file_byte(fd, 2 * PG + 1),
            file_byte(fd, 2 * PG + 2));
    munmap(priv, 3 * PG);

    /* Beyond the end of the file: SIGBUS, also after a truncation under the mapping. */
    ftruncate(fd, PG + 100);
    char *t = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("read in the last page", PROBE_R(t + PG + 200, t), "ok val=0x00");
    expect("read beyond the end", PROBE_R(t + 2 * PG, t), "SIGBUS BUS_ADRERR addr=+0x2000");
    expect("write beyond the end", PROBE_W(t + 3 * PG, t, 1), "SIGBUS BUS_ADRERR addr=+0x3000");
    t[PG + 50] = 'T';
    pid = raw_fork();
    if (pid == 0) {
        volatile char c = t[PG + 50];
        (void)c;
        ftruncate(fd, 100);
        _exit(PROBE_R(t + PG, t)[0] == 'S' ? 7 : 8);
    }
    expect("child truncates", WAIT(pid), "exit 7");
    expect("parent: truncated page", PROBE_R(t + PG, t), "SIGBUS BUS_ADRERR addr=+0x1000");
    expect("parent: tail of the last page", PROBE_R(t + 200, t), "ok val=0x00");
    ftruncate(fd, 2 * PG);
    expect("grown again: zero", PROBE_R(t + PG + 50, t), "ok val=0x00");
    /* open(O_TRUNC) empties the file under the mapping as ftruncate(0) does. */
    t[50] = 'O';
    int trunc_fd = open(path, O_RDWR | O_TRUNC);
    expect("after open(O_TRUNC)", PROBE_R(t + 50, t), "SIGBUS BUS_ADRERR addr=+0x32");
    close(trunc_fd);
    ftruncate(fd, 2 * PG);
    expect("grown after O_TRUNC: zero", PROBE_R(t + 50, t), "ok val=0x00");
    pwrite(fd, "C", 1, 0);
    struct stat st;
    fstat(fd, &st);
    expectf("size", "8192", "%ld", (long)st.st_size);

    /* msync rules. */
    EXPECT_SYS("msync unaligned", msync(t + 1, PG, MS_SYNC), "-1 EINVAL");
    EXPECT_SYS("msync both", msync(t, PG, MS_SYNC | MS_ASYNC), "-1 EINVAL");
    EXPECT_SYS("msync bad flag", msync(t, PG, 8), "-1 EINVAL");
    EXPECT_SYS("msync zero length", msync(t, 0, MS_SYNC), "0");
    munmap(t + 2 * PG, PG);
    EXPECT_SYS("msync over a hole", msync(t, 4 * PG, MS_SYNC), "-1 ENOMEM");
    EXPECT_SYS("msync async over a hole", msync(t + 2 * PG, 2 * PG, MS_ASYNC), "-1 ENOMEM");
    EXPECT_SYS("msync invalidate", msync(t, PG, MS_INVALIDATE), "0");
    if (mlock(t, PG) == 0)
        EXPECT_SYS("msync invalidate locked", msync(t, PG, MS_INVALIDATE), "-1 EBUSY");
    else
        expect("msync invalidate locked", "-1 EBUSY", "-1 EBUSY");
    munlock(t, PG);
    munmap(t, 4 * PG);
    close(fd);

    /* Access-mode rules. */
    int ro = open(path, O_RDONLY);
    void *r = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    expect("shared writable of O_RDONLY", r == MAP_FAILED ? errname(errno) : "ok", "EACCES");
    r = mmap(NULL, PG, PROT_READ, MAP_SHARED, ro, 0);
    expect("shared read-only of O_RDONLY", r == MAP_FAILED ? errname(errno) : "ok", "ok");
    EXPECT_SYS("mprotect PROT_WRITE", mprotect(r, PG, PROT_READ | PROT_WRITE), "-1 EACCES");
    EXPECT_SYS("mprotect PROT_READ", mprotect(r, PG, PROT_READ), "0");
    expect("write to read-only shared", PROBE_W(r, r, 1), "SIGSEGV SEGV_ACCERR addr=+0x0");
    void *pr = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, ro, 0);
    expect("private writable of O_RDONLY", pr == MAP_FAILED ? errname(errno) : "ok", "ok");
    expect("private write", PROBE_W(pr, pr, 'z'), "ok");
    expectf("file unchanged by private write", "C", "%c", file_byte(ro, 0));
    close(ro);
    int wo = open(path, O_WRONLY);
    void *w = mmap(NULL, PG, PROT_WRITE, MAP_SHARED, wo, 0);
    expect("shared of O_WRONLY", w == MAP_FAILED ? errname(errno) : "ok", "EACCES");
    w = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wo, 0);
    expect("private of O_WRONLY", w == MAP_FAILED ? errname(errno) : "ok", "EACCES");
    close(wo);

    /* MADV_REMOVE punches a hole in the file: every mapping and read(2) see zeros, a private
     * copy stays, and only a shared mapping that may write can ask. */
    int h = open(path, O_RDWR);
    ftruncate(h, 2 * PG);
    pwrite(h, "HH", 2, PG);
    char *hs = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, h, 0);
    char *hs2 = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, h, 0);
    char *hp = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, h, 0);
    hs[0] = 'S';
    hp[PG] = 'P';
    expectf("before MADV_REMOVE", "S S H", "%c %c %c", hs2[0], hp[0], hs2[PG]);
    EXPECT_SYS("MADV_REMOVE private", madvise(hp, PG, MADV_REMOVE), "-1 EACCES");
    EXPECT_SYS("MADV_REMOVE shared", madvise(hs, 2 * PG, MADV_REMOVE), "0");
    expectf("after MADV_REMOVE: mappings", "0 0 0 P", "%d %d %d %c", hs[0], hs2[0], hs2[PG + 1], hp[PG]);
    expectf("after MADV_REMOVE: read(2)", "0 0", "%d %d", file_byte(h, 0), file_byte(h, PG));
    fstat(h, &st);
    expectf("after MADV_REMOVE: size", "8192", "%ld", (long)st.st_size);
    char *anon = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_SYS("MADV_REMOVE anonymous", madvise(anon, PG, MADV_REMOVE), "-1 EINVAL");
    char *shm = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shm[7] = 7;
    EXPECT_SYS("MADV_REMOVE shmem", madvise(shm, PG, MADV_REMOVE), "0");
    expectf("shmem after MADV_REMOVE", "0", "%d", shm[7]);
    munmap(hs, 2 * PG), munmap(hs2, 2 * PG), munmap(hp, 2 * PG), munmap(anon, PG), munmap(shm, PG);
    close(h);
    unlink(path);
    return summary("shared_file_mapping");
}
