/* root_escape.c - attempts to leave the root: "..", absolute and relative symbolic links, a
 * directory descriptor plus "..", chdir("..") repeatedly, /proc magic links, and creating,
 * renaming and removing through "..", and setxattr, chown, chmod, fchmodat2 and inotify on every
 * way out. Run natively inside chroot(DIR) and under mmuemu --root DIR
 * (tests/emu/root_escape_test.sh): every attempt must end the same way, inside DIR.
 */
#include "guest_util.h"
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/xattr.h>

static void try_open(const char *what, int dirfd, const char *path)
{
    int fd = openat(dirfd, path, O_RDONLY);
    char buf[64] = {0};
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0 && buf[n - 1] == '\n')
            buf[n - 1] = 0;
        out("%s: opened, reads '%s'\n", what, buf);
    } else {
        out("%s: %s\n", what, errname(errno));
    }
}

int main(void)
{
    char cwd[256];
    try_open("/../../../outside/secret", AT_FDCWD, "/../../../outside/secret");
    try_open("../../../../outside/secret", AT_FDCWD, "../../../../outside/secret");
    for (int i = 0; i < 6; i++)
        (void)!chdir("..");
    out("getcwd after chdir(\"..\") x6: %s\n", getcwd(cwd, sizeof cwd) ? cwd : errname(errno));
    try_open("outside/secret after the chdirs", AT_FDCWD, "outside/secret");
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    try_open("openat(\"/\" fd, ../../outside/secret)", dir, "../../outside/secret");
    int sub = open("/inside", O_RDONLY | O_DIRECTORY);
    try_open("openat(/inside fd, ../../../outside/secret)", sub, "../../../outside/secret");
    try_open("an absolute symlink to the outside", AT_FDCWD, "/abs_link");
    try_open("a relative symlink climbing out", AT_FDCWD, "/rel_link");
    try_open("a symlinked directory outside", AT_FDCWD, "/dir_link/secret");
    try_open("/proc/self/root", AT_FDCWD, "/proc/self/root/outside/secret");
    try_open("the inside file", AT_FDCWD, "/inside/file");
    try_open("the inside file through ..", AT_FDCWD, "/../inside/../inside/file");

    out("mkdir /../../made: %s\n", mkdir("/../../made", 0755) == 0 ? "0" : errname(errno));
    struct stat st;
    out("stat /made: %s\n", stat("/made", &st) == 0 ? "exists" : errname(errno));
    out("rename /made to ../../../moved: %s\n", rename("/made", "../../../moved") == 0 ? "0" : errname(errno));
    out("stat /moved: %s\n", stat("/moved", &st) == 0 ? "exists" : errname(errno));
    int fd = open("/../../created", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    out("create /../../created: %s\n", fd >= 0 ? "0" : errname(errno));
    if (fd >= 0) {
        (void)!write(fd, "made inside\n", 12);
        close(fd);
    }
    try_open("/created", AT_FDCWD, "/created");
    out("unlink ../../outside/secret: %s\n", unlink("../../outside/secret") == 0 ? "0" : errname(errno));
    out("symlink creation and readlink: %s\n", symlink("/nowhere", "/newlink") == 0 ? "0" : errname(errno));
    char target[64] = {0};
    out("readlink /newlink: %s\n", readlink("/newlink", target, sizeof target - 1) > 0 ? target : errname(errno));
    out("rmdir /moved: %s, unlink /created: %s, unlink /newlink: %s\n", rmdir("/moved") == 0 ? "0" : errname(errno),
        unlink("/created") == 0 ? "0" : errname(errno), unlink("/newlink") == 0 ? "0" : errname(errno));
    /* The calls that change a file's attributes, on every way out. */
    static const char *const ways_out[] = {"/../../outside/secret", "/abs_link", "/rel_link", "/dir_link/secret",
                                           "/proc/self/root/outside/secret"};
    for (unsigned i = 0; i < sizeof ways_out / sizeof *ways_out; ++i) {
        const char *path = ways_out[i];
        const int watcher = inotify_init1(0);
        const int watch = inotify_add_watch(watcher, path, IN_ALL_EVENTS);
        const int watch_errno = errno;
        close(watcher);
        out("%s: setxattr %s, chown %s, chmod %s, fchmodat2 %s, inotify watch %s\n", path,
            setxattr(path, "user.escaped", "1", 1, 0) == 0 ? "0" : errname(errno),
            chown(path, getuid(), getgid()) == 0 ? "0" : errname(errno),
            chmod(path, 0777) == 0 ? "0" : errname(errno),
            syscall(452, AT_FDCWD, path, 0777, 0) == 0 ? "0" : errname(errno),
            watch >= 0 ? "made" : errname(watch_errno));
    }
    return 0;
}
