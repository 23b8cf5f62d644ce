/* inotify_events.c - inotify watches on files of the guest's root.
 *
 * Rules pinned (each compared with the host kernel):
 *  - events of a watched directory name the entry (create, modify, close-write, delete, a
 *    rename's MOVED_FROM/MOVED_TO pair), in order; watch descriptors count up from 1;
 *  - a non-blocking read with nothing queued is EAGAIN; a blocking read waits for an event
 *    another process causes; a buffer too small for one event is EINVAL;
 *  - inotify_rm_watch queues IN_IGNORED; removing it again EINVAL;
 *  - a missing path ENOENT, IN_DONT_FOLLOW on a symlink watches the link itself, IN_ONLYDIR
 *    on a file ENOTDIR, a descriptor that is not an inotify instance EINVAL, a bad one EBADF,
 *    unknown inotify_init1 flags EINVAL.
 */
#include "guest_util.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void show(const char *label, long r)
{
    if (r < 0)
        out("%s: %s\n", label, strerrorname_np(errno));
    else
        out("%s: %ld\n", label, r);
}

/* Prints every queued event: watch, mask names, name. */
static void drain(int fd)
{
    char buf[4096] __attribute__((aligned(8)));
    long n = read(fd, buf, sizeof buf);
    if (n < 0) {
        out("  read: %s\n", strerrorname_np(errno));
        return;
    }
    for (char *p = buf; p < buf + n;) {
        struct inotify_event *e = (struct inotify_event *)p;
        out("  wd %d:", e->wd);
        static const struct { unsigned bit; const char *name; } names[] = {
            {IN_ACCESS, "ACCESS"}, {IN_MODIFY, "MODIFY"}, {IN_ATTRIB, "ATTRIB"},
            {IN_CLOSE_WRITE, "CLOSE_WRITE"}, {IN_CLOSE_NOWRITE, "CLOSE_NOWRITE"}, {IN_OPEN, "OPEN"},
            {IN_MOVED_FROM, "MOVED_FROM"}, {IN_MOVED_TO, "MOVED_TO"}, {IN_CREATE, "CREATE"},
            {IN_DELETE, "DELETE"}, {IN_DELETE_SELF, "DELETE_SELF"}, {IN_IGNORED, "IGNORED"},
            {IN_ISDIR, "ISDIR"}};
        for (unsigned i = 0; i < sizeof names / sizeof *names; ++i)
            if (e->mask & names[i].bit)
                out(" %s", names[i].name);
        out(" '%s'\n", e->len ? e->name : "");
        p += sizeof *e + e->len;
    }
}

int main(void)
{
    mkdir("inotify_dir", 0755);
    unlink("inotify_dir/a");
    unlink("inotify_dir/b");
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    show("inotify_init1", fd >= 0 ? 0 : -1);
    int wd = inotify_add_watch(fd, "inotify_dir", IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE | IN_MOVE);
    show("watch the directory", wd);
    drain(fd);
    int f = open("inotify_dir/a", O_WRONLY | O_CREAT, 0644);
    if (write(f, "x", 1) != 1)
        out("write failed\n");
    close(f);
    rename("inotify_dir/a", "inotify_dir/b");
    unlink("inotify_dir/b");
    drain(fd);

    char tiny[4];
    f = open("inotify_dir/a", O_WRONLY | O_CREAT, 0644);
    close(f);
    show("read into 4 bytes", read(fd, tiny, sizeof tiny));
    drain(fd);

    /* Blocking: a child creates the file a little later. */
    int blocking = inotify_init1(0);
    inotify_add_watch(blocking, "inotify_dir", IN_CREATE);
    pid_t child = fork();
    if (child == 0) {
        usleep(20000);
        close(open("inotify_dir/c", O_WRONLY | O_CREAT, 0644));
        _exit(0);
    }
    drain(blocking);
    waitpid(child, NULL, 0);
    unlink("inotify_dir/c");
    close(blocking);

    show("rm_watch", inotify_rm_watch(fd, wd));
    drain(fd);
    show("rm_watch again", inotify_rm_watch(fd, wd));
    show("watch a missing path", inotify_add_watch(fd, "inotify_dir/none", IN_CREATE));
    symlink("a", "inotify_dir/link");
    show("watch through a symlink", inotify_add_watch(fd, "inotify_dir/link", IN_ATTRIB));
    show("watch the symlink itself", inotify_add_watch(fd, "inotify_dir/link", IN_ATTRIB | IN_DONT_FOLLOW));
    show("IN_ONLYDIR on a file", inotify_add_watch(fd, "inotify_dir/a", IN_ATTRIB | IN_ONLYDIR));
    show("watch on a descriptor that is not inotify (stdin)", inotify_add_watch(0, "inotify_dir", IN_CREATE));
    show("watch on a bad descriptor", inotify_add_watch(999, "inotify_dir", IN_CREATE));
    show("inotify_init1 bad flags", inotify_init1(0x4));
    chmod("inotify_dir/a", 0600);
    drain(fd);
    unlink("inotify_dir/link");
    unlink("inotify_dir/a");
    close(fd);
    rmdir("inotify_dir");
    return 0;
}
