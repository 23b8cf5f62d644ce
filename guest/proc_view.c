// A program that reads its own /proc files, those of a child, and the /dev devices, and prints
// what must be the same natively and under mmuemu: the values themselves where they are
// deterministic, else whether they agree with what the program knows (its pid, argv, mappings,
// descriptors). A /proc that describes mmuemu instead of the guest fails here.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[65536];

static const char* errname(int e) {
    switch (e) {
    case 0: return "ok";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case EIO: return "EIO";
    case ENOSPC: return "ENOSPC";
    case EBADF: return "EBADF";
    case ELOOP: return "ELOOP";
    default: return "other";
    }
}

// The whole file, NUL-terminated in buf; its length or -errno.
static long slurp(const char* path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -errno;
    long total = 0, n;
    while (total < (long)sizeof buf - 1 && (n = read(fd, buf + total, sizeof buf - 1 - total)) > 0) total += n;
    close(fd);
    buf[total] = 0;
    return total;
}

static const char* field(const char* text, const char* name) {
    const char* at = strstr(text, name);
    return at ? at + strlen(name) : "";
}

static void check(const char* what, int ok) { printf("%-52s %s\n", what, ok ? "yes" : "NO"); }

static void status_and_stat(void) {
    char path[64];
    slurp("/proc/self/status");
    check("status: Pid is getpid()", atoi(field(buf, "\nPid:\t")) == getpid());
    check("status: PPid is getppid()", atoi(field(buf, "\nPPid:\t")) == getppid());
    check("status: Tgid is getpid()", atoi(field(buf, "\nTgid:\t")) == getpid());
    check("status: Name is the program", strncmp(field(buf, "Name:\t"), "proc_view\n", 10) == 0);
    check("status: one thread", atoi(field(buf, "\nThreads:\t")) == 1);
    const long vm_size_kb = atol(field(buf, "\nVmSize:\t"));
    slurp("/proc/self/stat");
    int pid = 0, ppid = 0;
    char comm[64] = "", state = 0;
    sscanf(buf, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid);
    check("stat: pid, comm, state R, ppid", pid == getpid() && !strcmp(comm, "proc_view") && state == 'R' && ppid == getppid());
    slurp("/proc/self/statm");
    check("statm: size agrees with VmSize", atol(buf) * 4 == vm_size_kb);
    snprintf(path, sizeof path, "/proc/%d/comm", getpid());
    slurp(path);
    printf("/proc/PID/comm: %s", buf);
}

static void identity(int argc, char** argv, char** envp) {
    char real[PATH_MAX], link[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", link, sizeof link - 1);
    if (n > 0) link[n] = 0;
    check("exe is the program", realpath(argv[0], real) && !strcmp(real, link));
    long len = slurp("/proc/self/cmdline");
    long expect = 0;
    for (int i = 0; i < argc; ++i) expect += (long)strlen(argv[i]) + 1;
    check("cmdline is argv", len == expect && !memcmp(buf, argv[0], strlen(argv[0]) + 1));
    len = slurp("/proc/self/environ");
    check("environ starts with envp[0]", envp[0] ? !strcmp(buf, envp[0]) : len == 0);
    len = slurp("/proc/self/auxv");
    int pagesz = 0, entry = 0;
    for (long i = 0; i + 16 <= len; i += 16) {
        uint64_t key, value;
        memcpy(&key, buf + i, 8);
        memcpy(&value, buf + i + 8, 8);
        if (key == AT_PAGESZ) pagesz = value == 4096;
        if (key == AT_ENTRY) entry = value == getauxval(AT_ENTRY);
    }
    check("auxv: AT_PAGESZ 4096 and AT_ENTRY", pagesz && entry);
    char cwd[PATH_MAX];
    n = readlink("/proc/self/cwd", link, sizeof link - 1);
    if (n > 0) link[n] = 0;
    check("cwd link is getcwd()", n > 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, link));
    n = readlink("/proc/self/root", link, sizeof link - 1);
    check("root link is /", n == 1 && link[0] == '/');
}

static void maps_and_memory(void) {
    char* page = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    strcpy(page, "before");
    char line[128];
    snprintf(line, sizeof line, "%lx-%lx rw-p", (unsigned long)page, (unsigned long)(page + 3 * 4096));
    slurp("/proc/self/maps");
    check("maps shows a new mapping", strstr(buf, line) != NULL);
    check("maps shows [stack] and no mmuemu", strstr(buf, "[stack]") && !strstr(buf, "mmuemu"));
    // /proc/PID/mem writes as a debugger does: through a read-only mapping, never onto a guard.
    mprotect(page, 4096, PROT_READ);
    int fd = open("/proc/self/mem", O_RDWR);
    char got[8] = "";
    pread(fd, got, 7, (off_t)(uintptr_t)page);
    printf("mem read: %s\n", got);
    ssize_t w = pwrite(fd, "after", 6, (off_t)(uintptr_t)page);
    printf("mem write to a read-only page: %zd, now %s\n", w, page);
    madvise(page + 4096, 4096, 102 /* MADV_GUARD_INSTALL */);
    errno = 0;
    w = pwrite(fd, "x", 1, (off_t)(uintptr_t)(page + 4096));
    printf("mem write to a guard page: %zd %s\n", w, errname(w < 0 ? errno : 0));
    errno = 0;
    w = pread(fd, got, 1, (off_t)(uintptr_t)(page + 4096));
    printf("mem read of a guard page: %zd %s\n", w, errname(w < 0 ? errno : 0));
    close(fd);
    fd = open("/proc/self/pagemap", O_RDONLY);
    uint64_t words[3];
    pread(fd, words, sizeof words, (off_t)((uintptr_t)page / 4096 * 8));
    printf("pagemap: present %d %d %d, guard %d %d %d\n", (int)(words[0] >> 63), (int)(words[1] >> 63),
           (int)(words[2] >> 63), (int)(words[0] >> 58 & 1), (int)(words[1] >> 58 & 1), (int)(words[2] >> 58 & 1));
    close(fd);
}

// /proc/self/fdinfo/N: pos and flags as they are, and whether ino is the file's and mnt_id is there.
static void fdinfo_of(int fd, const char* what) {
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    int info = open(path, O_RDONLY);
    ssize_t n = info >= 0 ? read(info, text, sizeof text - 1) : -1;
    close(info);
    text[n > 0 ? n : 0] = 0;
    unsigned long long pos = ~0ull, ino = ~0ull;
    unsigned flags = ~0u;
    int mnt = -1;
    const char* line = strstr(text, "pos:");
    if (line) sscanf(line, "pos: %llu", &pos);
    if ((line = strstr(text, "flags:"))) sscanf(line, "flags: %o", &flags);
    if ((line = strstr(text, "mnt_id:"))) sscanf(line, "mnt_id: %d", &mnt);
    if ((line = strstr(text, "ino:"))) sscanf(line, "ino: %llu", &ino);
    struct stat st;
    fstat(fd, &st);
    printf("fdinfo %-44s pos %llu flags 0%o mnt_id %s ino %s\n", what, pos, flags, mnt >= 0 ? "present" : "missing",
           ino == (unsigned long long)st.st_ino ? "matches fstat" : "differs");
}

static void descriptors(void) {
    const char* file = "proc_view.tmp";
    int fd = open(file, O_RDWR | O_CREAT | O_TRUNC, 0644);
    write(fd, "file contents\n", 14);
    int pipes[2];
    pipe(pipes);
    char path[64], link[PATH_MAX], cwd[PATH_MAX], expect[PATH_MAX + 32];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    snprintf(expect, sizeof expect, "%s/%s", getcwd(cwd, sizeof cwd), file);
    check("fd link names the file", !strcmp(link, expect));
    int again = open(path, O_RDONLY);
    n = read(again, link, 14);
    check("fd link reopens the file from the start", n == 14 && !memcmp(link, "file contents\n", 14));
    close(again);
    int comm = open("/proc/self/comm", O_RDONLY);
    snprintf(path, sizeof path, "/proc/self/fd/%d", comm);
    again = open(path, O_RDONLY);
    n = read(again, link, sizeof link);
    check("a /proc file reopens through its fd link", n == 10 && !memcmp(link, "proc_view\n", 10));
    close(again);
    close(comm);
    snprintf(path, sizeof path, "/proc/self/fd/%d", pipes[0]);
    n = readlink(path, link, sizeof link - 1);
    check("a pipe's link is pipe:[...]", n > 6 && !memcmp(link, "pipe:[", 6));
    struct stat st;
    lstat(path, &st);
    printf("pipe read-end link mode %o\n", st.st_mode);
    fdinfo_of(fd, "file, position 14");
    int cloexec = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    lseek(cloexec, 5, SEEK_SET);
    fdinfo_of(cloexec, "O_RDONLY|O_CLOEXEC|O_NONBLOCK, position 5");
    close(cloexec);
    fdinfo_of(pipes[1], "pipe write end");
    int memfd = memfd_create("fdinfo", MFD_CLOEXEC);
    write(memfd, "abc", 3);
    fdinfo_of(memfd, "memfd");
    close(memfd);
    check("fdinfo of a closed descriptor is absent", slurp("/proc/self/fdinfo/999") == -ENOENT);
    // The listing has 0, 1, 2, the file, both pipe ends and the directory itself (a test runner
    // may pass more descriptors natively: only these are counted).
    DIR* d = opendir("/proc/self/fd");
    const int mine[] = {0, 1, 2, fd, pipes[0], pipes[1], dirfd(d)};
    int found = 0, links = 1;
    struct dirent* e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        for (unsigned i = 0; i < sizeof mine / sizeof mine[0]; ++i)
            if (atoi(e->d_name) == mine[i]) found |= 1 << i, links &= e->d_type == DT_LNK;
    }
    closedir(d);
    printf("/proc/self/fd lists ours: %x, as links: %d\n", found, links);
    n = readlink("/dev/stdin", link, sizeof link - 1);
    link[n > 0 ? n : 0] = 0;
    printf("/dev/stdin -> %s\n", link);
    close(pipes[0]);
    close(pipes[1]);
    close(fd);
    unlink(file);
}

static void devices(void) {
    int fd = open("/dev/null", O_RDWR);
    printf("/dev/null: read %zd, write %zd\n", read(fd, buf, 10), write(fd, "x", 1));
    close(fd);
    fd = open("/dev/zero", O_RDONLY);
    memset(buf, 1, 8);
    const ssize_t got = read(fd, buf, 8);
    printf("/dev/zero: read %zd, zero %d\n", got, !memcmp(buf, "\0\0\0\0\0\0\0\0", 8));
    close(fd);
    fd = open("/dev/full", O_WRONLY);
    errno = 0;
    ssize_t w = write(fd, "x", 1);
    printf("/dev/full: write %zd %s\n", w, errname(errno));
    close(fd);
    fd = open("/dev/urandom", O_RDONLY);
    printf("/dev/urandom: read %zd\n", read(fd, buf, 16));
    close(fd);
}

static void name_space_rules(void) {
#define CASE(what, call) printf("%-40s %s\n", what, (errno = 0, (call)) < 0 ? errname(errno) : "ok")
    CASE("unlink /proc/self/maps", unlink("/proc/self/maps"));
    CASE("mkdir /proc/x", mkdir("/proc/x", 0755));
    CASE("open /proc/self/nonexistent", open("/proc/self/nonexistent", O_RDONLY));
    CASE("open /proc/self/maps O_DIRECTORY", open("/proc/self/maps", O_RDONLY | O_DIRECTORY));
    CASE("open /proc/self O_WRONLY", open("/proc/self", O_WRONLY));
    CASE("chmod /proc/self/status", chmod("/proc/self/status", 0777));
    CASE("rmdir /proc/self", rmdir("/proc/self"));
    CASE("open /proc/99999999/stat", open("/proc/99999999/stat", O_RDONLY));
    CASE("readlink /proc/self/maps", readlink("/proc/self/maps", buf, 10));
#undef CASE
    struct stat st;
    stat("/proc/self/maps", &st);
    printf("stat maps: mode %o\n", st.st_mode);
    lstat("/proc/self", &st);
    printf("lstat /proc/self: link %d\n", S_ISLNK(st.st_mode));
    stat("/proc/self/fd", &st);
    printf("stat /proc/self/fd: mode %o\n", st.st_mode);
}

static void working_directory_in_proc(void) {
    char here[PATH_MAX], cwd[PATH_MAX], expect[64];
    getcwd(here, sizeof here);
    int r = chdir("/proc/self");
    snprintf(expect, sizeof expect, "/proc/%d", getpid());
    check("chdir /proc/self, getcwd is /proc/PID", r == 0 && getcwd(cwd, sizeof cwd) && !strcmp(cwd, expect));
    check("relative open of status inside it", slurp("status") > 0 && strstr(buf, "Pid:"));
    int dir = open("/proc/self", O_RDONLY | O_DIRECTORY);
    int fd = openat(dir, "stat", O_RDONLY);
    check("openat from a /proc directory", fd >= 0);
    close(fd);
    close(dir);
    chdir(here);
}

static void child_process(void) {
    int ready[2];
    pipe(ready);
    pid_t child = fork();
    if (child == 0) {
        close(ready[0]);
        write(ready[1], "x", 1);
        pause();
        _exit(0);
    }
    close(ready[1]);
    read(ready[0], buf, 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", child);
    slurp(path);
    int pid = 0, ppid = 0;
    char comm[64] = "", state = 0;
    sscanf(buf, "%d (%63[^)]) %c %d", &pid, comm, &state, &ppid);
    check("the child's stat: its pid, our pid as parent", pid == child && ppid == getpid());
    DIR* d = opendir("/proc");
    struct dirent* e;
    int listed = 0;
    while ((e = readdir(d)))
        if (atoi(e->d_name) == child) listed = e->d_type == DT_DIR;
    closedir(d);
    check("/proc lists the child", listed);
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    check("a reaped child's directory is gone", slurp(path) == -ENOENT);
}

int main(int argc, char** argv, char** envp) {
    if (argc > 1 && !strcmp(argv[1], "again")) {
        printf("executed again through /proc/self/exe\n");
        return 0;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    status_and_stat();
    identity(argc, argv, envp);
    maps_and_memory();
    descriptors();
    devices();
    name_space_rules();
    working_directory_in_proc();
    child_process();
    char* args[] = {argv[0], "again", NULL};
    execve("/proc/self/exe", args, envp);
    printf("execve /proc/self/exe failed: %s\n", errname(errno));
    return 1;
}
