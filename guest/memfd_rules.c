/* memfd_rules.c - memfd_create and what a memfd does (issue 9).
 *
 * Rules pinned (each compared with the host kernel): memfd_create's EINVAL/EFAULT rules for
 * flags and names (249 bytes at most); the file starts empty, grows by ftruncate and write,
 * reads zero in holes; read/write/pread/pwrite/lseek/fstat on it; shared mappings see write(2)
 * and each other (also across fork), private ones copy on write; access beyond the size is
 * SIGBUS and shrinking zaps mapped pages; /proc/self/maps names it "/memfd:NAME (deleted)";
 * F_GET_SEALS/F_ADD_SEALS with EPERM (F_SEAL_SEAL, no sealing allowed, sealed writes and
 * resizes), EBUSY (F_SEAL_WRITE while a shared mapping may write), EINVAL (bad seals, files
 * that are not memfds); MFD_NOEXEC_SEAL's mode and seal.
 */
#include "guest_util.h"

#include <sys/stat.h>
#include <sys/uio.h>

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 8U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x10
#endif
#ifndef F_SEAL_EXEC
#define F_SEAL_EXEC 0x20
#endif

/* The maps line of the mapping at `addr`, from the permissions on, without the inode. */
static void maps_line(const char *label, void *addr)
{
    char buf[65536];
    int fd = open("/proc/self/maps", O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    char want[32];
    snprintf(want, sizeof want, "%lx-", (unsigned long)addr);
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strncmp(line, want, strlen(want)) == 0) {
            char perms[8], dev[16], name[300] = "";
            unsigned long off, ino;
            sscanf(line, "%*s %7s %lx %15s %lu %299[^\n]", perms, &off, dev, &ino, name);
            out("%s: %s %lx %s %s\n", label, perms, off, dev, name);
            return;
        }
        line = nl ? nl + 1 : NULL;
    }
    out("%s: not found\n", label);
}

static void creation_rules(void)
{
    char name[300];
    memset(name, 'n', sizeof name);
    name[250] = 0;
    EXPECT_SYS("name of 250 bytes", memfd_create(name, 0), "-1 EINVAL");
    name[249] = 0;
    int fd = memfd_create(name, 0);
    expect("name of 249 bytes", fd >= 0 ? "ok" : errname(errno), "ok");
    close(fd);
    EXPECT_SYS("unknown flag", memfd_create("x", 0x100), "-1 EINVAL");
    EXPECT_SYS("MFD_EXEC with MFD_NOEXEC_SEAL", memfd_create("x", MFD_EXEC | MFD_NOEXEC_SEAL), "-1 EINVAL");
    EXPECT_SYS("bad name pointer", memfd_create((const char *)8, 0), "-1 EFAULT");
    fd = memfd_create("cloexec", MFD_CLOEXEC);
    expectf("MFD_CLOEXEC", "1", "%d", fcntl(fd, F_GETFD));
    expectf("F_GETFL", "0x8002", "%#x", fcntl(fd, F_GETFL));
    struct stat st;
    fstat(fd, &st);
    expectf("fstat", "regular 777 size 0", "%s %o size %ld", S_ISREG(st.st_mode) ? "regular" : "other",
            st.st_mode & 07777, (long)st.st_size);
    close(fd);
    fd = memfd_create("noexec", MFD_NOEXEC_SEAL);
    fstat(fd, &st);
    expectf("MFD_NOEXEC_SEAL", "mode 666 seals 0x20", "mode %o seals %#x", st.st_mode & 07777,
            fcntl(fd, F_GET_SEALS));
    close(fd);
}

static void file_rules(void)
{
    int fd = memfd_create("data", 0);
    EXPECT_SYS("write", write(fd, "hello", 5), "5");
    EXPECT_SYS("lseek end", lseek(fd, 0, SEEK_END), "5");
    EXPECT_SYS("pwrite beyond", pwrite(fd, "Z", 1, 2 * PG), "1");
    struct stat st;
    fstat(fd, &st);
    expectf("size after pwrite", "8193", "%ld", (long)st.st_size);
    char buf[16] = {0};
    EXPECT_SYS("pread hole", pread(fd, buf, 4, PG), "4");
    expectf("hole reads zero", "0 0", "%d %d", buf[0], buf[3]);
    lseek(fd, 0, SEEK_SET);
    EXPECT_SYS("read", read(fd, buf, 5), "5");
    expectf("content", "hello", "%.5s", buf);
    EXPECT_SYS("read at end", pread(fd, buf, 4, 2 * PG + 1), "0");
    struct iovec iov[2] = {{buf, 2}, {buf + 2, 3}};
    EXPECT_SYS("preadv", preadv(fd, iov, 2, 0), "5");
    EXPECT_SYS("ftruncate", ftruncate(fd, 3), "0");
    fstat(fd, &st);
    expectf("size after ftruncate", "3", "%ld", (long)st.st_size);
    EXPECT_SYS("read after shrink", pread(fd, buf, 10, 0), "3");
    EXPECT_SYS("ftruncate negative", ftruncate(fd, -1), "-1 EINVAL");
    EXPECT_SYS("F_GET_SEALS default", fcntl(fd, F_GET_SEALS), "1");
    EXPECT_SYS("F_ADD_SEALS not allowed", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), "-1 EPERM");
    close(fd);
}

static void mapping_rules(void)
{
    int fd = memfd_create("mapped", MFD_ALLOW_SEALING);
    ftruncate(fd, 2 * PG);
    char *s = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    maps_line("maps shared", s);
    maps_line("maps private", p);
    s[10] = 'S';
    expectf("private sees shared write", "S", "%c", p[10]);
    pwrite(fd, "W", 1, PG);
    expectf("shared sees pwrite", "W", "%c", s[PG]);
    p[PG] = 'P';
    expectf("private copy", "P W", "%c %c", p[PG], s[PG]);
    char c = 0;
    pread(fd, &c, 1, 10);
    expectf("read sees shared write", "S", "%c", c);
    pid_t pid = raw_fork();
    if (pid == 0) {
        s[20] = 'C';
        _exit(0);
    }
    expect("child", WAIT(pid), "exit 0");
    expectf("parent sees child write", "C", "%c", s[20]);
    expect("beyond the size", PROBE_R(s + 2 * PG, s), "SIGBUS BUS_ADRERR addr=+0x2000");
    ftruncate(fd, 100);
    expect("shrunk: page 1 gone", PROBE_R(s + PG, s), "SIGBUS BUS_ADRERR addr=+0x1000");
    expect("private copy gone too", PROBE_R(p + PG, p), "SIGBUS BUS_ADRERR addr=+0x1000");
    expect("tail zeroed", PROBE_R(s + 200, s), "ok val=0x00");
    expect("head kept", PROBE_R(s + 20, s), "ok val=0x43");
    ftruncate(fd, 2 * PG);
    expect("grown: zero", PROBE_R(s + PG, s), "ok val=0x00");

    /* Seals. */
    EXPECT_SYS("F_SEAL_WRITE with a shared mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "-1 EBUSY");
    EXPECT_SYS("bad seal", fcntl(fd, F_ADD_SEALS, 0x40), "-1 EINVAL");
    munmap(s, 3 * PG);
    void *ro = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT_SYS("F_SEAL_WRITE with a read-only shared mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "-1 EBUSY");
    munmap(ro, PG);
    EXPECT_SYS("F_SEAL_WRITE with a private mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), "0");
    EXPECT_SYS("write sealed", write(fd, "x", 1), "-1 EPERM");
    void *w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("shared writable map sealed", w == MAP_FAILED ? errname(errno) : "ok", "EPERM");
    ro = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    expect("shared read-only map sealed", ro == MAP_FAILED ? errname(errno) : "ok", "ok");
    EXPECT_SYS("mprotect it writable", mprotect(ro, PG, PROT_READ | PROT_WRITE), "-1 EACCES");
    EXPECT_SYS("seal grow+shrink", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK), "0");
    EXPECT_SYS("grow sealed", ftruncate(fd, 3 * PG), "-1 EPERM");
    EXPECT_SYS("shrink sealed", ftruncate(fd, PG), "-1 EPERM");
    EXPECT_SYS("same size", ftruncate(fd, 2 * PG), "0");
    EXPECT_SYS("F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL), "0");
    EXPECT_SYS("after F_SEAL_SEAL", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), "-1 EPERM");
    EXPECT_SYS("F_GET_SEALS", fcntl(fd, F_GET_SEALS), "15");
    close(fd);

    fd = memfd_create("future", MFD_ALLOW_SEALING);
    ftruncate(fd, PG);
    char *m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_SYS("F_SEAL_FUTURE_WRITE with a mapping", fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), "0");
    EXPECT_SYS("write after it", write(fd, "x", 1), "-1 EPERM");
    expect("old mapping still writes", PROBE_W(m, m, 'o'), "ok");
    w = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    expect("new shared writable map", w == MAP_FAILED ? errname(errno) : "ok", "EPERM");
    close(fd);
    fd = memfd_create("exec", MFD_ALLOW_SEALING);
    EXPECT_SYS("F_SEAL_EXEC on an executable memfd", fcntl(fd, F_ADD_SEALS, F_SEAL_EXEC), "0");
    EXPECT_SYS("implies the write seals", fcntl(fd, F_GET_SEALS), "62");
    close(fd);
    fd = open("memfd_rules.tmp", O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_SYS("F_GET_SEALS on a regular file", fcntl(fd, F_GET_SEALS), "-1 EINVAL");
    EXPECT_SYS("F_ADD_SEALS on a regular file", fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), "-1 EINVAL");
    close(fd);
    unlink("memfd_rules.tmp");
}

int main(void)
{
    probe_init();
    creation_rules();
    file_rules();
    mapping_rules();
    return summary("memfd_rules");
}
