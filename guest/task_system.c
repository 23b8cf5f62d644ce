/* task_system.c - system() and popen(): glibc runs "/bin/sh -c CMD" with clone(CLONE_VM|
 * CLONE_VFORK) and waits; popen connects a pipe to it. Pinned: the command's output and exit
 * status come back, the caller's SIGCHLD/SIGINT dispositions are restored, system(NULL) reports
 * a shell. Needs a /bin/sh: natively the host's, under mmuemu busybox in the --root the test
 * builds (tests/emu/CMakeLists.txt).
 */
#include "guest_util.h"
#include <sys/wait.h>

int main(void)
{
    fflush(stdout);
    int st = system("echo from system; exit 3");
    out("system: exited %s with %d\n", WIFEXITED(st) ? "normally" : "abnormally", WEXITSTATUS(st));
    out("system(NULL): %s\n", system(NULL) ? "a shell is there" : "no shell");
    st = system("kill -TERM $$");
    out("system, shell killed: %s\n", WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM ? "SIGTERM" : "other");
    FILE *f = popen("echo via popen; echo second line", "r");
    char line[64];
    while (f && fgets(line, sizeof line, f))
        out("popen read: %s", line);
    out("pclose: %d\n", f ? WEXITSTATUS(pclose(f)) : -1);
    f = popen("cat", "w");
    if (f) {
        fputs("written into popen\n", f);
        fflush(stdout);
        out("pclose of the writer: %d\n", WEXITSTATUS(pclose(f)));
    }
    struct sigaction sa;
    sigaction(SIGCHLD, NULL, &sa);
    out("SIGCHLD disposition after system: %s\n", sa.sa_handler == SIG_DFL ? "SIG_DFL" : "changed");
    return 0;
}
