/* task_clone_errors.c - the flag combinations clone and clone3 refuse, and a few they accept.
 *
 * Linux rules pinned (copy_process, clone3_args_valid, copy_struct_from_user): CLONE_SIGHAND
 * needs CLONE_VM, CLONE_THREAD needs CLONE_SIGHAND, CLONE_FS excludes CLONE_NEWNS and
 * CLONE_NEWUSER, CLONE_THREAD excludes CLONE_NEWPID and CLONE_NEWUSER, CLONE_PIDFD excludes
 * CLONE_DETACHED and, in clone (where both use the parent_tid argument), CLONE_PARENT_SETTID:
 * all EINVAL. clone3: a size below 64 (CLONE_ARGS_SIZE_VER0), unknown flag bits, CSIGNAL bits
 * in flags, exit_signal above 64 or with CLONE_THREAD, a stack without a size or a size without
 * a stack, CLONE_CLEAR_SIGHAND with CLONE_SIGHAND, set_tid_size without set_tid or above the
 * pid-namespace depth: EINVAL; a NULL struct EFAULT; a larger struct with non-zero trailing bytes
 * or a size above a page E2BIG. Accepted: clone with CLONE_PARENT_SETTID (the child's pid is
 * stored), CLONE_VM|CLONE_VFORK without a stack (vfork), clone3 plain, with CLONE_PIDFD, and
 * with CLONE_VM|CLONE_VFORK on its own stack. With RLIMIT_NPROC 0 a non-root fork fails with
 * EAGAIN (root is exempt, so that part is skipped as root, the same way in both runs).
 * Every system call is made from inline assembly whose child branch exits at once without
 * touching memory, so an unexpectedly accepted combination cannot corrupt the parent.
 */
#include "guest_util.h"
#include <linux/sched.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x1000
#endif
#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* clone(flags, stack, ptid, ctid, tls); the child exits with child_status immediately. */
static long raw_clone(unsigned long flags, void *stack, int *ptid, long child_status)
{
    long ret;
    register long r10 __asm__("r10") = 0; /* ctid */
    register long r8 __asm__("r8") = 0;   /* tls */
    register long r9 __asm__("r9") = child_status;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov %%r9, %%rdi\n\t"
                     "mov $60, %%eax\n\t" /* exit */
                     "syscall\n\t"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone), "D"(flags), "S"(stack), "d"(ptid), "r"(r10),
                       "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static long raw_clone3(void *args, size_t size, long child_status)
{
    long ret;
    register long r9 __asm__("r9") = child_status;
    __asm__ volatile("syscall\n\t"
                     "test %%rax, %%rax\n\t"
                     "jnz 1f\n\t"
                     "mov %%r9, %%rdi\n\t"
                     "mov $60, %%eax\n\t"
                     "syscall\n\t"
                     "1:"
                     : "=a"(ret)
                     : "a"((long)SYS_clone3), "D"(args), "S"(size), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

static const char *ename(long r)
{
    static char buf[32];
    if (r >= 0)
        return "accepted";
    int e = (int)-r;
    snprintf(buf, sizeof buf, "%s", e == E2BIG ? "E2BIG" : errname(e));
    return buf;
}

static void refused(const char *label, unsigned long flags, const char *want)
{
    int ptid = 0;
    expect(label, ename(raw_clone(flags, NULL, &ptid, 0)), want);
}

static struct clone_args args3(unsigned long long flags, unsigned long long exit_signal)
{
    struct clone_args a;
    memset(&a, 0, sizeof a);
    a.flags = flags;
    a.exit_signal = exit_signal;
    return a;
}

static void refused3(const char *label, struct clone_args a, size_t size, const char *want)
{
    expect(label, ename(raw_clone3(&a, size, 0)), want);
}

int main(void)
{
    out("-- clone refuses --\n");
    refused("CLONE_SIGHAND without CLONE_VM", CLONE_SIGHAND | SIGCHLD, "EINVAL");
    refused("CLONE_THREAD without CLONE_SIGHAND", CLONE_THREAD | CLONE_VM, "EINVAL");
    refused("CLONE_FS|CLONE_NEWNS", CLONE_FS | CLONE_NEWNS | SIGCHLD, "EINVAL");
    refused("CLONE_FS|CLONE_NEWUSER", CLONE_FS | CLONE_NEWUSER | SIGCHLD, "EINVAL");
    refused("CLONE_THREAD|CLONE_NEWPID", CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWPID,
            "EINVAL");
    refused("CLONE_THREAD|CLONE_NEWUSER",
            CLONE_THREAD | CLONE_SIGHAND | CLONE_VM | CLONE_NEWUSER, "EINVAL");
    refused("CLONE_PIDFD|CLONE_PARENT_SETTID", CLONE_PIDFD | CLONE_PARENT_SETTID | SIGCHLD,
            "EINVAL");
    refused("CLONE_PIDFD|CLONE_DETACHED", CLONE_PIDFD | CLONE_DETACHED | SIGCHLD, "EINVAL");

    out("-- clone3 refuses --\n");
    refused3("size 63", args3(0, SIGCHLD), 63, "EINVAL");
    refused3("size 0", args3(0, SIGCHLD), 0, "EINVAL");
    refused3("unknown flag bit 40", args3(1ULL << 40, SIGCHLD), sizeof(struct clone_args),
             "EINVAL");
    refused3("CSIGNAL bits in flags", args3(SIGCHLD, SIGCHLD), 64, "EINVAL");
    refused3("exit_signal 65", args3(0, 65), 64, "EINVAL");
    refused3("CLONE_THREAD with an exit_signal",
             args3(CLONE_THREAD | CLONE_SIGHAND | CLONE_VM, SIGCHLD), 64, "EINVAL");
    struct clone_args a = args3(0, SIGCHLD);
    a.stack = 0x10000;
    refused3("stack without stack_size", a, 64, "EINVAL");
    a = args3(0, SIGCHLD);
    a.stack_size = PG;
    refused3("stack_size without stack", a, 64, "EINVAL");
    refused3("CLONE_CLEAR_SIGHAND|CLONE_SIGHAND",
             args3(CLONE_CLEAR_SIGHAND | CLONE_SIGHAND | CLONE_VM, SIGCHLD), 64, "EINVAL");
    a = args3(0, SIGCHLD);
    a.set_tid_size = 1;
    refused3("set_tid_size 1 without set_tid", a, sizeof a, "EINVAL");
    static pid_t tids[64];
    a.set_tid = (uintptr_t)tids;
    a.set_tid_size = 64;
    refused3("set_tid_size 64", a, sizeof a, "EINVAL");
    expect("NULL args", ename(raw_clone3(NULL, 64, 0)), "EFAULT");
    static unsigned char big[2 * 4096];
    ((struct clone_args *)big)->exit_signal = SIGCHLD;
    big[sizeof(struct clone_args) + 8] = 1;
    expect("size 128 with a non-zero byte past the struct",
           ename(raw_clone3(big, sizeof(struct clone_args) + 40, 0)), "E2BIG");
    big[sizeof(struct clone_args) + 8] = 0;
    expect("size 4097", ename(raw_clone3(big, 4097, 0)), "E2BIG");

    out("-- accepted --\n");
    int ptid = 0;
    long pid = raw_clone(CLONE_PARENT_SETTID | SIGCHLD, NULL, &ptid, 7);
    expectf("clone(CLONE_PARENT_SETTID): ptid holds the child's pid", "yes", "%s",
            pid > 0 && ptid == pid ? "yes" : "no");
    expect("  child", WAIT((pid_t)pid), "exit 7");
    pid = raw_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, NULL, NULL, 8);
    expect("clone(CLONE_VM|CLONE_VFORK) without a stack (vfork): child", WAIT((pid_t)pid),
           "exit 8");
    a = args3(0, SIGCHLD);
    pid = raw_clone3(&a, sizeof a, 9);
    expect("clone3 plain: child", WAIT((pid_t)pid), "exit 9");
    int pidfd = -1;
    a = args3(CLONE_PIDFD, SIGCHLD);
    a.pidfd = (uintptr_t)&pidfd;
    pid = raw_clone3(&a, 64, 10);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int polled = poll(&pfd, 1, 10000);
    int w = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED);
    expectf("clone3(CLONE_PIDFD): poll, waitid(P_PIDFD)", "1 CLD_EXITED 10 pid ok", "%d %s %d %s",
            polled, w == 0 && si.si_code == CLD_EXITED ? "CLD_EXITED" : "?", si.si_status,
            si.si_pid == pid ? "pid ok" : "pid wrong");
    close(pidfd);
    char *stack = map_anon(4, PROT_READ | PROT_WRITE);
    a = args3(CLONE_VM | CLONE_VFORK, SIGCHLD);
    a.stack = (uintptr_t)stack;
    a.stack_size = 4 * PG;
    pid = raw_clone3(&a, sizeof a, 11);
    expect("clone3(CLONE_VM|CLONE_VFORK) on its own stack: child", WAIT((pid_t)pid), "exit 11");

    out("-- RLIMIT_NPROC --\n");
    if (geteuid() == 0) {
        out("RLIMIT_NPROC: skipped, running as root (root is exempt from the limit)\n");
    } else {
        pid = fork();
        if (pid == 0) {
            struct rlimit rl = {0, 0};
            setrlimit(RLIMIT_NPROC, &rl);
            errno = 0;
            pid_t c = fork();
            if (c == 0)
                _exit(0);
            int e = errno;
            out("RLIMIT_NPROC 0: fork: %s\n", c > 0 ? "accepted" : errname(e));
            if (c > 0)
                waitpid(c, NULL, 0);
            _exit(0);
        }
        expect("RLIMIT_NPROC child", WAIT((pid_t)pid), "exit 0");
    }
    return summary("task_clone_errors");
}
