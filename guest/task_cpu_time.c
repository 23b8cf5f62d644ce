/* CPU time per task, as getrusage(2), times(2) and /proc/PID/stat report it: a thread that only
 * sleeps has next to none of its own (RUSAGE_THREAD) while its process has the busy thread's;
 * a child's time shows in RUSAGE_CHILDREN and times()'s cutime only once it is waited for; the
 * process total never falls below a thread's. Only comparisons are printed (the amounts depend
 * on the machine). */
#include "common/guest_util.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <sys/wait.h>

static long long usec(struct timeval tv) { return tv.tv_sec * 1000000ll + tv.tv_usec; }
static long long cpu_us(int who)
{
    struct rusage u;
    getrusage(who, &u);
    return usec(u.ru_utime) + usec(u.ru_stime);
}

static volatile unsigned long sink;
/* Busy for at least `ms` of CPU time (so the amount does not depend on the CPU's speed). */
static void burn(long ms)
{
    const long long start = cpu_us(RUSAGE_THREAD);
    while (cpu_us(RUSAGE_THREAD) - start < ms * 1000)
        for (unsigned long i = 0; i < 20000; i++) sink += i * i;
}

static long long sleeper_own = -1;
static void *sleeper(void *arg)
{
    (void)arg;
    usleep(20000);
    sleeper_own = cpu_us(RUSAGE_THREAD);
    return NULL;
}

/* utime + stime + cutime + cstime of /proc/self/stat (fields 14-17), in ticks. */
static long long stat_ticks(int field)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024] = "";
    if (f) fgets(buf, sizeof buf, f), fclose(f);
    char *p = strrchr(buf, ')');
    long long v = -1;
    for (int i = 2; p && i < field; i++) p = strchr(p + 1, ' ');
    if (p) sscanf(p + 1, "%lld", &v);
    return v;
}

int main(void)
{
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    burn(60);
    pthread_join(t, NULL);
    const long long self = cpu_us(RUSAGE_SELF), thread = cpu_us(RUSAGE_THREAD);
    expect("a sleeping thread's own CPU time is small", sleeper_own >= 0 && sleeper_own < 15000 ? "yes" : "no", "yes");
    expect("the busy thread's time is at least what it burned", thread >= 60000 ? "yes" : "no", "yes");
    expect("the process's time covers the thread's", self >= thread ? "yes" : "no", "yes");
    expect("/proc/self/stat utime+stime is the process's", stat_ticks(14) + stat_ticks(15) >= 5 ? "yes" : "no", "yes");
    EXPECT_SYS("getrusage(bad who)", getrusage(7, &(struct rusage){0}), "-1 EINVAL");

    struct tms before, after;
    times(&before);
    const long long children_before = cpu_us(RUSAGE_CHILDREN);
    pid_t pid = fork();
    if (pid == 0) {
        burn(80);
        _exit(0);
    }
    usleep(1000);
    expect("a running child's time is not the parent's", cpu_us(RUSAGE_CHILDREN) == children_before ? "yes" : "no", "yes");
    siginfo_t info;
    waitid(P_PID, pid, &info, WEXITED | WNOWAIT);
    expect("nor is an exited child's not yet waited for", cpu_us(RUSAGE_CHILDREN) == children_before ? "yes" : "no", "yes");
    expect("child", WAIT(pid), "exit 0");
    times(&after);
    expect("RUSAGE_CHILDREN after the wait", cpu_us(RUSAGE_CHILDREN) - children_before >= 80000 ? "has the child's" : "no", "has the child's");
    expect("times() cutime after the wait", after.tms_cutime - before.tms_cutime >= 5 ? "has the child's" : "no", "has the child's");
    expect("/proc/self/stat cutime", stat_ticks(16) >= 5 ? "has the child's" : "no", "has the child's");
    expect("the parent's own time did not take it", cpu_us(RUSAGE_SELF) - self < 60000 ? "yes" : "no", "yes");
    return summary("task_cpu_time");
}
