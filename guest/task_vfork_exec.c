/* task_vfork_exec.c - vfork, posix_spawn, clone(CLONE_VM|CLONE_VFORK), execve and #! scripts.
 *
 * Linux rules pinned: a vfork child shares the parent's memory and the parent is suspended
 * until the child execs or exits (a write the child makes after a delay, just before execve or
 * _exit, is seen by the parent as soon as vfork returns); the same for glibc's clone() with
 * CLONE_VM|CLONE_VFORK|SIGCHLD on its own stack and for posix_spawn (which reports an exec failure
 * as its return value). execve keeps the pid and parent, closes O_CLOEXEC descriptors only,
 * resets caught signals to SIG_DFL but keeps SIG_IGN. A "#!" script runs its interpreter with
 * argv = interpreter, the rest of the #! line as ONE optional argument, the script path, then
 * the original argv[1..] (argv[0] is dropped). Errors: a missing file ENOENT, a directory and a
 * file without execute permission EACCES, garbage or an empty file ENOEXEC, a script whose
 * interpreter is missing ENOENT.
 * The program re-executes itself (/proc/self/exe) in "child" and "script" roles; children print,
 * and the parent prints only after it has reaped them, so the output order is fixed. Paths are
 * printed as <exe> and <tmpdir>.
 */
#include "guest_util.h"
#include <limits.h>
#include <sched.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;
static volatile int shared_marker;
static char exe[PATH_MAX];

#define TMP_PREFIX "/tmp/task_vfork_exec."

/* An argument with the build-dependent parts replaced: "<exe>", "<tmpdir>/script". */
static const char *show(const char *arg, char *buf, size_t n)
{
    size_t pl = strlen(TMP_PREFIX);
    if (strcmp(arg, exe) == 0)
        snprintf(buf, n, "<exe>");
    else if (strncmp(arg, TMP_PREFIX, pl) == 0 && strlen(arg) >= pl + 6)
        snprintf(buf, n, "<tmpdir>%s", arg + pl + 6);
    else
        snprintf(buf, n, "%s", arg);
    return buf;
}

/* The re-executed image: print what it received, exit with the requested code. */
static int child_role(int argc, char **argv, int code)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "  exec'd image: argc=%d", argc);
    for (int i = 0; i < argc; i++)
        n += snprintf(line + n, sizeof line - (size_t)n, " [%s]",
                      show(argv[i], (char[PATH_MAX]){0}, PATH_MAX));
    out("%s\n", line);
    struct sigaction a1, a2;
    sigaction(SIGUSR1, NULL, &a1);
    sigaction(SIGUSR2, NULL, &a2);
    out("  exec'd image: caught SIGUSR1 reset to SIG_DFL: %s, ignored SIGUSR2 still SIG_IGN: %s\n",
        a1.sa_handler == SIG_DFL ? "yes" : "no", a2.sa_handler == SIG_IGN ? "yes" : "no");
    errno = 0;
    int cloexec = fcntl(10, F_GETFD), kept = fcntl(11, F_GETFD);
    out("  exec'd image: O_CLOEXEC fd closed: %s, plain fd kept: %s\n",
        cloexec == -1 && errno == EBADF ? "yes" : "no", kept == 0 ? "yes" : "no");
    return code;
}

static void on_usr1(int sig) { (void)sig; }

static void reap(const char *what, pid_t pid, int marker_seen, int want_marker)
{
    const char *st = WAIT(pid);
    if (want_marker >= 0)
        out("%s: parent resumed after the child's last write: %s\n", what,
            marker_seen == want_marker ? "yes" : "no");
    out("%s: child %s\n", what, st);
}

static void short_delay(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static int clone_exit_fn(void *arg)
{
    (void)arg;
    short_delay();
    shared_marker = 3;
    return 5;
}

static int clone_exec_fn(void *arg)
{
    short_delay();
    shared_marker = 4;
    execve("/proc/self/exe", (char **)arg, environ);
    return 127;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0 ||
        chmod(path, mode) != 0) {
        out("FATAL: cannot write %s: %s\n", show(path, (char[PATH_MAX]){0}, PATH_MAX),
            errname(errno));
        exit(2);
    }
}

static const char *exec_err(const char *path)
{
    static char buf[32];
    char *args[] = {"x", NULL};
    errno = 0;
    execve(path, args, environ);
    snprintf(buf, sizeof buf, "%s", errno == ENOEXEC ? "ENOEXEC" : errname(errno));
    return buf;
}

int main(int argc, char **argv)
{
    if (!realpath("/proc/self/exe", exe))
        return 3;
    if (argc >= 4 && strcmp(argv[1], "child") == 0) {
        out("  exec'd image: getppid() is the pid passed by the parent: %s\n",
            (long)getppid() == atol(argv[3]) ? "yes" : "no");
        argv[3] = "<ppid>";
        return child_role(argc, argv, atoi(argv[2]));
    }
    if (argc >= 2 && strncmp(argv[1], "script-arg", 10) == 0)
        return child_role(argc, argv, 11);
    size_t l1 = argc >= 2 ? strlen(argv[1]) : 0;
    if (l1 > 13 && strcmp(argv[1] + l1 - 13, "/noarg-script") == 0)
        return child_role(argc, argv, 12);

    /* State the exec'd images check: dispositions and descriptors. */
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, SIG_IGN);
    int fd = open("/dev/null", O_RDONLY);
    dup2(fd, 10);
    fcntl(10, F_SETFD, FD_CLOEXEC);
    dup2(fd, 11);
    close(fd);
    char ppid_arg[24];
    snprintf(ppid_arg, sizeof ppid_arg, "%ld", (long)getpid());

    out("-- vfork + execve of /proc/self/exe --\n");
    char *args7[] = {"task_vfork_exec", "child", "7", ppid_arg, NULL};
    shared_marker = 0;
    pid_t pid = vfork();
    if (pid == 0) {
        short_delay();
        shared_marker = 1;
        execve("/proc/self/exe", args7, environ);
        _exit(127);
    }
    reap("vfork+execve", pid, shared_marker, 1);

    out("-- vfork + _exit --\n");
    shared_marker = 0;
    pid = vfork();
    if (pid == 0) {
        short_delay();
        shared_marker = 2;
        _exit(3);
    }
    reap("vfork+_exit", pid, shared_marker, 2);

    out("-- posix_spawn of /proc/self/exe --\n");
    char *args9[] = {"spawned", "child", "9", ppid_arg, NULL};
    int r = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, args9, environ);
    if (r == 0)
        reap("posix_spawn", pid, 0, -1); /* the child runs concurrently: print after the reap */
    out("posix_spawn: %s\n", errname(r));
    r = posix_spawn(&pid, "/nonexistent/program", NULL, NULL, args9, environ);
    out("posix_spawn of a missing file: %s\n", errname(r));

    out("-- clone(CLONE_VM|CLONE_VFORK|SIGCHLD) on its own stack --\n");
    char *stack = map_anon(16, PROT_READ | PROT_WRITE);
    shared_marker = 0;
    pid = clone(clone_exit_fn, stack + 16 * PG, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
    reap("clone, child returns", pid, shared_marker, 3);
    char *args6[] = {"cloned", "child", "6", ppid_arg, NULL};
    shared_marker = 0;
    pid = clone(clone_exec_fn, stack + 16 * PG, CLONE_VM | CLONE_VFORK | SIGCHLD, args6);
    reap("clone, child execs", pid, shared_marker, 4);

    out("-- #! scripts --\n");
    char dir[] = TMP_PREFIX "XXXXXX";
    if (!mkdtemp(dir))
        return 4;
    char script[PATH_MAX], noarg[PATH_MAX], badinterp[PATH_MAX], plain[PATH_MAX],
        garbage[PATH_MAX], empty[PATH_MAX], text[PATH_MAX + 64];
    snprintf(script, sizeof script, "%s/script", dir);
    snprintf(noarg, sizeof noarg, "%s/noarg-script", dir);
    snprintf(badinterp, sizeof badinterp, "%s/bad-interpreter", dir);
    snprintf(plain, sizeof plain, "%s/not-executable", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    int len = snprintf(text, sizeof text, "#!%s script-arg two words\necho never\n", exe);
    write_file(script, text, (size_t)len, 0755);
    len = snprintf(text, sizeof text, "#!%s\n", exe);
    write_file(noarg, text, (size_t)len, 0755);
    write_file(badinterp, "#!/nonexistent/interpreter\n", 27, 0755);
    write_file(plain, text, (size_t)len, 0644);
    write_file(garbage, "\x01\x02garbage, not a program\n", 26, 0755);
    write_file(empty, "", 0, 0755);

    char *sargs[] = {"script-argv0", "a1", "a 2", NULL};
    pid = fork();
    if (pid == 0) {
        execve(script, sargs, environ);
        _exit(127);
    }
    reap("script with an argument", pid, 0, -1);
    pid = fork();
    if (pid == 0) {
        execve(noarg, sargs, environ);
        _exit(127);
    }
    reap("script without an argument", pid, 0, -1);

    out("-- execve errors --\n");
    out("missing file: %s\n", exec_err("/nonexistent/program"));
    out("empty path: %s\n", exec_err(""));
    out("directory: %s\n", exec_err(dir));
    out("file without execute permission: %s\n", exec_err(plain));
    out("garbage with execute permission: %s\n", exec_err(garbage));
    out("empty file with execute permission: %s\n", exec_err(empty));
    out("script with a missing interpreter: %s\n", exec_err(badinterp));

    unlink(script);
    unlink(noarg);
    unlink(badinterp);
    unlink(plain);
    unlink(garbage);
    unlink(empty);
    out("cleanup: %s\n", rmdir(dir) == 0 ? "ok" : errname(errno));
    return 0;
}
