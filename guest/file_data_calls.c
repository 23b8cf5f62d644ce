/* file_data_calls.c - the file calls issue 11 lists that move data between descriptors or
 * change a file's attributes: splice, tee, vmsplice, sync_file_range, readahead, syncfs,
 * setxattr/removexattr (and their l/f forms), fchmodat2 and the chown family.
 *
 * Rules pinned (each compared with the host kernel):
 *  - splice moves bytes between a pipe and a file (with and without offsets; the file offset
 *    moves only without one), or between two pipes; neither end a pipe is EINVAL, an offset on a
 *    pipe ESPIPE, a closed descriptor EBADF, a write-only input EBADF; len 0 returns 0;
 *  - a file written by splice shows the bytes through a MAP_SHARED mapping made before;
 *  - a blocking splice from an empty pipe waits for another process's write, then sees EOF;
 *  - tee copies without consuming; tee between non-pipes EINVAL, to the same pipe EINVAL;
 *  - vmsplice into the write end gathers user memory, from the read end scatters into it; a
 *    regular file EBADF (0 with nothing to move, EFAULT for a bad iovec: the iovecs are read
 *    first), a bad iovec pointer EFAULT, the count taken as 32 bits;
 *  - splice and tee of length 0 return 0 before the descriptors are looked at; unknown flags
 *    EINVAL before EBADF; a length above SSIZE_MAX EINVAL; into an O_APPEND file EINVAL;
 *  - SPLICE_F_NONBLOCK on an empty pipe EAGAIN;
 *  - sync_file_range: unknown flag EINVAL, negative offset EINVAL, a pipe ESPIPE; readahead on a
 *    pipe EINVAL; syncfs of a bad descriptor EBADF;
 *  - setxattr: a user.* attribute round-trips; XATTR_CREATE on an existing one EEXIST,
 *    XATTR_REPLACE on a missing one ENODATA, both flags checked as CREATE, an empty name ERANGE, a value
 *    over 64 KiB E2BIG; removexattr of a missing one ENODATA; a user.* attribute on a symlink
 *    itself EPERM; lsetxattr/fsetxattr/fremovexattr on the file;
 *  - fchmodat2 changes a mode; AT_SYMLINK_NOFOLLOW on a symlink EOPNOTSUPP; an unknown flag
 *    EINVAL;
 *  - fchownat with an unknown flag EINVAL, AT_EMPTY_PATH on a descriptor, lchown of a dangling
 *    symlink works, chown of a missing file ENOENT.
 */
#include "guest_util.h"
#include "show_result.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

static void splice_checks(void)
{
    int fd = open("file_data_calls.tmp", O_RDWR | O_CREAT | O_TRUNC, 0644);
    char *m;
    int p[2], q[2];
    struct iovec iov_one[1] = {{"z", 1}};
    char buf[64] = {0};
    loff_t off;

    if (write(fd, "0123456789", 10) != 10 || pipe(p) || pipe(q))
        return;
    m = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    off = 2;
    SHOW("splice file@2 -> pipe 5", splice(fd, &off, p[1], NULL, 5, 0));
    out("  offset now %ld, file position %ld\n", (long)off, (long)lseek(fd, 0, SEEK_CUR));
    lseek(fd, 0, SEEK_SET);
    SHOW("splice file (position 0) -> pipe 3", splice(fd, NULL, p[1], NULL, 3, 0));
    out("  file position %ld\n", (long)lseek(fd, 0, SEEK_CUR));
    out("tee pipe -> pipe 100: %s\n", result_text(tee(p[0], q[1], 100, 0)));
    out("read copy: %s '%s'\n", result_text(read(q[0], buf, sizeof buf - 1)), buf);
    off = 20;
    SHOW("splice pipe -> file@20 100", splice(p[0], NULL, fd, &off, 100, 0));
    out("  offset now %ld\n", (long)off);
    out("mapping at 20: '%.8s', size %ld\n", m + 20, (long)lseek(fd, 0, SEEK_END));
    out("splice empty pipe nonblock: %s\n", result_text(splice(p[0], NULL, fd, NULL, 10, SPLICE_F_NONBLOCK)));
    out("splice len 0: %s\n", result_text(splice(fd, NULL, p[1], NULL, 0, 0)));
    out("splice file -> file: %s\n", result_text(splice(fd, NULL, fd, NULL, 4, 0)));
    off = 0;
    out("splice offset on a pipe: %s\n", result_text(splice(p[0], &off, fd, NULL, 4, 0)));
    out("splice closed fd: %s\n", result_text(splice(999, NULL, p[1], NULL, 4, 0)));
    out("splice from the write end: %s\n", result_text(splice(p[1], NULL, q[1], NULL, 4, 0)));
    out("splice bad offset pointer: %s\n", result_text(splice(fd, (loff_t *)bad_pointer, p[1], NULL, 4, 0)));
    SHOW("splice len 0 with bad descriptors", splice(-1, NULL, -1, NULL, 0, 0));
    SHOW("splice bad flags with bad descriptors", splice(-1, NULL, -1, NULL, 4, 0x100));
    SHOW("splice pipe -> file, length above SSIZE_MAX", splice(p[0], NULL, fd, NULL, ~0UL, 0));
    int append = open("file_data_calls.tmp", O_WRONLY | O_APPEND);
    SHOW("splice pipe -> O_APPEND file", splice(p[0], NULL, append, NULL, 4, SPLICE_F_NONBLOCK));
    close(append);
    SHOW("tee len 0 with bad descriptors", tee(-1, -1, 0, 0));
    SHOW("vmsplice bad flags with a bad descriptor", vmsplice(-1, NULL, 0, 0x100));
    SHOW("vmsplice a regular file, nothing to move", vmsplice(fd, NULL, 0, 0));
    SHOW("vmsplice a regular file, bad iovec", vmsplice(fd, (struct iovec *)bad_pointer, 1, 0));
    SHOW("vmsplice 2^32 + 1 iovecs (the count is 32 bits)", syscall(SYS_vmsplice, p[1], iov_one, (1UL << 32) + 1, 0));
    char one_byte;
    if (read(p[0], &one_byte, 1) != 1)
        out("  the byte did not arrive\n");
    out("tee file -> pipe: %s\n", result_text(tee(fd, p[1], 4, 0)));
    out("tee pipe -> same pipe: %s\n", result_text(tee(p[0], p[1], 4, 0)));

    /* pipe to pipe, and vmsplice both ways */
    struct iovec iov[2] = {{"ab", 2}, {"cde", 3}};
    out("vmsplice gather 2+3: %s\n", result_text(vmsplice(p[1], iov, 2, 0)));
    out("splice pipe -> pipe 4: %s\n", result_text(splice(p[0], NULL, q[1], NULL, 4, 0)));
    char a[3] = {0}, b[3] = {0};
    struct iovec rd[2] = {{a, 2}, {b, 2}};
    out("vmsplice scatter from read end: %s '%s' '%s'\n", result_text(vmsplice(q[0], rd, 2, 0)), a, b);
    out("vmsplice a regular file: %s\n", result_text(vmsplice(fd, iov, 1, 0)));
    out("vmsplice bad iovec: %s\n", result_text(vmsplice(p[1], (struct iovec *)bad_pointer, 1, 0)));
    out("vmsplice nr 0: %s\n", result_text(vmsplice(p[1], iov, 0, 0)));

    /* A blocking splice from an empty pipe waits for the writer (another process). */
    int w[2];
    if (pipe(w) == 0) {
        pid_t child = fork();
        if (child == 0) {
            usleep(20000);
            if (write(w[1], "late", 4) != 4)
                _exit(1);
            _exit(0);
        }
        close(w[1]);
        off = 40;
        SHOW("splice waits for the writer", splice(w[0], NULL, fd, &off, 100, 0));
        SHOW("then end of file", splice(w[0], NULL, fd, &off, 100, 0));
        char wb[8] = {0};
        out("  file at 40: '%s'\n", pread(fd, wb, 4, 40) == 4 ? wb : "?");
        waitpid(child, NULL, 0);
        close(w[0]);
    }

    out("sync_file_range: %s\n", result_text(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE)));
    out("sync_file_range bad flag: %s\n", result_text(sync_file_range(fd, 0, 0, 8)));
    out("sync_file_range negative offset: %s\n", result_text(sync_file_range(fd, -1, 0, 0)));
    out("sync_file_range pipe: %s\n", result_text(sync_file_range(p[0], 0, 0, 0)));
    out("readahead: %s\n", result_text(readahead(fd, 0, 4096)));
    out("readahead pipe: %s\n", result_text(readahead(p[0], 0, 4096)));
    SHOW("syncfs", syncfs(fd));
    SHOW("syncfs bad fd", syncfs(999));
    munmap(m, PG);
    close(fd);
    unlink("file_data_calls.tmp");
}

static void xattr_checks(void)
{
    const char *f = "file_data_calls.x";
    unlink(f);
    unlink("file_data_calls.l");
    int fd = open(f, O_RDWR | O_CREAT, 0644);
    char v[16] = {0};
    static char big[65537];
    if (symlink(f, "file_data_calls.l"))
        return;
    out("setxattr: %s\n", result_text(setxattr(f, "user.k", "v1", 2, 0)));
    out("getxattr: %s '%s'\n", result_text(getxattr(f, "user.k", v, sizeof v)), v);
    out("XATTR_CREATE existing: %s\n", result_text(setxattr(f, "user.k", "v2", 2, XATTR_CREATE)));
    out("XATTR_REPLACE missing: %s\n", result_text(setxattr(f, "user.none", "v2", 2, XATTR_REPLACE)));
    out("both flags: %s\n", result_text(setxattr(f, "user.k", "v2", 2, 3)));
    out("empty name: %s\n", result_text(setxattr(f, "", "v2", 2, 0)));
    out("value over 64 KiB: %s\n", result_text(setxattr(f, "user.k", big, sizeof big, 0)));
    out("bad value pointer: %s\n", result_text(setxattr(f, "user.k", bad_pointer, 2, 0)));
    out("no such file: %s\n", result_text(setxattr("file_data_calls.none", "user.k", "v", 1, 0)));
    out("unknown namespace: %s\n", result_text(setxattr(f, "nonsense.k", "v", 1, 0)));
    out("lsetxattr user.* on a symlink: %s\n", result_text(lsetxattr("file_data_calls.l", "user.k", "v", 1, 0)));
    out("setxattr through the symlink: %s\n", result_text(setxattr("file_data_calls.l", "user.t", "t", 1, 0)));
    out("fsetxattr: %s\n", result_text(fsetxattr(fd, "user.f", "fv", 2, 0)));
    memset(v, 0, sizeof v);
    out("fgetxattr: %s '%s'\n", result_text(fgetxattr(fd, "user.f", v, sizeof v)), v);
    out("listxattr size: %s\n", result_text(listxattr(f, NULL, 0)));
    SHOW("removexattr", removexattr(f, "user.k"));
    SHOW("removexattr again", removexattr(f, "user.k"));
    out("lremovexattr on the symlink: %s\n", result_text(lremovexattr("file_data_calls.l", "user.t")));
    out("fremovexattr: %s\n", result_text(fremovexattr(fd, "user.f")));
    out("fremovexattr bad fd: %s\n", result_text(fremovexattr(999, "user.f")));
    out("removexattr through the symlink: %s\n", result_text(removexattr("file_data_calls.l", "user.t")));
    out("listxattr at the end: %s\n", result_text(listxattr(f, NULL, 0)));
    out("setxattr on /proc/self/status: %s\n", result_text(setxattr("/proc/self/status", "user.k", "v", 1, 0)));

    out("fchmodat2 0600: %s\n", result_text(syscall(SYS_fchmodat2, AT_FDCWD, f, 0600, 0)));
    struct stat st;
    stat(f, &st);
    out("mode now %o\n", st.st_mode & 07777);
    out("fchmodat2 nofollow on symlink: %s\n",
        result_text(syscall(SYS_fchmodat2, AT_FDCWD, "file_data_calls.l", 0600, AT_SYMLINK_NOFOLLOW)));
    out("fchmodat2 nofollow on the file: %s\n",
        result_text(syscall(SYS_fchmodat2, AT_FDCWD, f, 0640, AT_SYMLINK_NOFOLLOW)));
    out("fchmodat2 bad flag: %s\n", result_text(syscall(SYS_fchmodat2, AT_FDCWD, f, 0600, 0x4)));
    out("fchmodat2 AT_EMPTY_PATH: %s\n", result_text(syscall(SYS_fchmodat2, fd, "", 0644, AT_EMPTY_PATH)));
    stat(f, &st);
    out("mode now %o\n", st.st_mode & 07777);

    out("fchownat bad flag: %s\n", result_text(fchownat(AT_FDCWD, f, -1, -1, 0x2)));
    out("fchownat AT_EMPTY_PATH: %s\n", result_text(fchownat(fd, "", getuid(), getgid(), AT_EMPTY_PATH)));
    out("fchownat empty path without the flag: %s\n", result_text(fchownat(fd, "", getuid(), getgid(), 0)));
    unlink("file_data_calls.d");
    if (symlink("file_data_calls.nowhere", "file_data_calls.d") == 0) {
        out("lchown dangling symlink: %s\n", result_text(lchown("file_data_calls.d", getuid(), -1)));
        out("chown dangling symlink: %s\n", result_text(chown("file_data_calls.d", getuid(), -1)));
    }
    out("chown missing: %s\n", result_text(chown("file_data_calls.none", -1, -1)));
    out("chown bad pointer: %s\n", result_text(chown((const char *)bad_pointer, -1, -1)));
    close(fd);
    unlink(f);
    unlink("file_data_calls.l");
    unlink("file_data_calls.d");
}

int main(void)
{
    splice_checks();
    xattr_checks();
    return 0;
}
