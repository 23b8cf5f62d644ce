/* proc_dev_escape.c - attempts to reach the host's /proc and device nodes, or to leave the root
 * through the generated /proc: symbolic links to the host's /proc and /dev/mem, /proc files that
 * describe the host, writes to the running program and to kernel addresses through
 * /proc/self/mem, and /proc/self/{fd,cwd,root} followed by "..". Runs only under mmuemu
 * (natively these files exist): tests/emu/proc_dev_escape_test.sh holds the answers the rules in
 * README ("Isolation") give, with and without --root.
 * usage: proc_dev_escape host|root
 */
#include "guest_util.h"
#include <sys/stat.h>
#include <sys/sysmacros.h>

static void try_open(const char *what, const char *path, int flags)
{
    int fd = open(path, flags);
    out("%s: %s\n", what, fd >= 0 ? "opened" : errname(errno));
    if (fd >= 0)
        close(fd);
}

static void try_stat(const char *what, const char *path)
{
    struct stat st;
    out("%s: %s\n", what, stat(path, &st) == 0 ? "exists" : errname(errno));
}

static void host_view(void)
{
    /* Symbolic links to the host's procfs and to device nodes, made by the guest itself. */
    (void)!symlink("/proc/self/mem", "mem_link");
    (void)!symlink("/proc", "proc_link");
    (void)!symlink("/dev/mem", "devmem_link");
    (void)!symlink("/proc/self/mem", "/tmp/proc_dev_escape_link");
    try_open("a link to /proc/self/mem", "mem_link", O_RDWR);
    try_open("a link to /proc, then self/status", "proc_link/self/status", O_RDONLY);
    try_stat("a link to /proc, then self/exe", "proc_link/self/exe");
    char target[256];
    ssize_t n = readlink("proc_link/self/exe", target, sizeof target);
    out("readlink through a link to /proc: %s\n", n >= 0 ? "answered" : errname(errno));
    try_open("a link to /dev/mem", "devmem_link", O_RDONLY);
    unlink("mem_link");
    unlink("proc_link");
    unlink("devmem_link");
    unlink("/tmp/proc_dev_escape_link");
}

int main(int argc, char **argv)
{
    const int confined = argc > 1 && !strcmp(argv[1], "root");
    if (!confined)
        host_view();
    /* Host-wide /proc files and device nodes the guest is not given. */
    try_open("/proc/kcore", "/proc/kcore", O_RDONLY);
    try_open("/proc/kallsyms", "/proc/kallsyms", O_RDONLY);
    try_open("/proc/sysrq-trigger", "/proc/sysrq-trigger", O_WRONLY);
    try_open("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/core_pattern", O_WRONLY);
    try_open("/proc/1/environ", "/proc/1/environ", O_RDONLY);
    try_open("/proc/./self/../1/mem", "/proc/./self/../1/mem", O_RDWR);
    try_open("/dev/mem", "/dev/mem", O_RDONLY);
    try_open("/dev/kmsg", "/dev/kmsg", O_RDONLY);
    try_open("/dev/port", "/dev/port", O_RDONLY);
    try_open("/dev/null", "/dev/null", O_RDWR);
    try_open("/dev/tty0", "/dev/tty0", O_RDONLY);
    out("mknod a character device: %s\n", mknod("dev_node", S_IFCHR | 0600, makedev(1, 1)) == 0 ? "made" : errname(errno));
    /* The running program and mmuemu's own memory. */
    try_open("/proc/self/exe for writing", "/proc/self/exe", O_RDWR);
    int mem = open("/proc/self/mem", O_RDWR);
    char byte = 0;
    out("write to a kernel address: %s\n",
        pwrite(mem, &byte, 1, (off_t)0xffffffff81000000ull) == 1 ? "written" : errname(errno));
    out("read from the emulator's heap range: %s\n",
        pread(mem, &byte, 1, (off_t)0x0000000000001000ull) == 1 ? "read" : errname(errno));
    close(mem);
    char maps[8192] = {0};
    int fd = open("/proc/self/maps", O_RDONLY);
    (void)!read(fd, maps, sizeof maps - 1);
    close(fd);
    /* The emulator's own libraries (this guest is static: natively it maps none). Not the words
     * "mmuemu" or "unicorn": the guest's own path may contain them. */
    out("maps names the emulator's libraries: %s\n",
        strstr(maps, "libunicorn") || strstr(maps, "libcapstone") || strstr(maps, "libstdc++") ? "yes" : "no");
    /* Leaving the root through the generated links. */
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    char path[128];
    snprintf(path, sizeof path, "/proc/self/fd/%d/../../../etc/hostname", dir);
    try_open("/proc/self/fd/<\"/\">/../../../etc/hostname", path, O_RDONLY);
    if (confined) {
        try_open("/proc/self/root/../etc/hostname", "/proc/self/root/../etc/hostname", O_RDONLY);
        try_open("/proc/self/cwd/../../../../etc/hostname", "/proc/self/cwd/../../../../etc/hostname", O_RDONLY);
        char exe[256] = {0};
        out("readlink /proc/self/exe: %s\n", readlink("/proc/self/exe", exe, sizeof exe - 1) > 0 ? exe : errname(errno));
    }
    return 0;
}
