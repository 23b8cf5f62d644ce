/* task_timers.c - POSIX timers (timer_create/settime/gettime/getoverrun/delete).
 *
 * Linux rules pinned: SIGEV_SIGNAL delivers the chosen signal with si_code SI_TIMER, si_value as
 * given (sevp NULL: SIGALRM); a periodic timer whose signal stays
 * blocked counts the missed expiries as overruns (timer_getoverrun after delivery, si_overrun in
 * the siginfo); SIGEV_THREAD_ID sends to one thread; SIGEV_NONE only counts down; disarming with
 * a zero value; timer_gettime of a disarmed timer is zero; a deleted or unknown id is EINVAL; bad
 * sigevent fields are EINVAL; TIMER_ABSTIME with a time in the past fires at once; glibc's
 * SIGEV_THREAD runs the function in a thread.
 */
#include "guest_util.h"
#include <pthread.h>
#include <time.h>

static volatile int got_sig, got_code, got_value;
static volatile pid_t got_tid;

static void handler(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    got_sig = sig;
    got_code = si->si_code;
    got_value = si->si_value.sival_int;
    got_tid = (pid_t)syscall(SYS_gettid);
}

static void arm(timer_t t, long value_ns, long interval_ns, int flags)
{
    struct itimerspec its = {{0, interval_ns}, {value_ns / 1000000000L, value_ns % 1000000000L}};
    if (timer_settime(t, flags, &its, NULL) != 0)
        out("timer_settime: %s\n", errname(errno));
}

static void wait_for(int sig)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    siginfo_t si;
    int r = sigwaitinfo(&set, &si);
    out("sigwaitinfo: %s code=%s value=%d overrun>=2: %s\n", r == sig ? "the timer's signal" : errname(errno),
        si.si_code == SI_TIMER ? "SI_TIMER" : "other", si.si_value.sival_int,
        si.si_overrun >= 2 ? "yes" : "no");
}

static pthread_t target_thread;
static volatile int thread_ready, thread_stop;

static void *thread_main(void *arg)
{
    (void)arg;
    thread_ready = 1;
    while (!thread_stop)
        pause();
    return NULL;
}

static volatile int thread_notified;
static void on_thread_notify(union sigval v)
{
    thread_notified = v.sival_int;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);

    out("-- SIGEV_SIGNAL with a value --\n");
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR1;
    ev.sigev_value.sival_int = 1234;
    timer_t t1;
    out("timer_create: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &t1) == 0 ? "0" : errname(errno));
    arm(t1, 20 * 1000 * 1000, 0, 0);
    while (!got_sig)
        pause();
    out("signal %d code %s value %d in the main thread: %s\n", got_sig,
        got_code == SI_TIMER ? "SI_TIMER" : "other", got_value, got_tid == getpid() ? "yes" : "no");
    struct itimerspec cur;
    timer_gettime(t1, &cur);
    out("after a one-shot expiry: disarmed %s\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0 ? "yes" : "no");

    out("-- periodic, signal blocked: overruns --\n");
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    arm(t1, 5 * 1000 * 1000, 5 * 1000 * 1000, 0);
    struct timespec nap = {0, 60 * 1000 * 1000};
    nanosleep(&nap, NULL);
    wait_for(SIGUSR1);
    out("timer_getoverrun >= 2: %s\n", timer_getoverrun(t1) >= 2 ? "yes" : "no");
    arm(t1, 0, 0, 0);
    timer_gettime(t1, &cur);
    out("disarmed with a zero value: %s\n", cur.it_value.tv_sec == 0 && cur.it_value.tv_nsec == 0 ? "yes" : "no");
    sigprocmask(SIG_UNBLOCK, &block, NULL);

    out("-- default sigevent (NULL): SIGALRM with the timer id --\n");
    timer_t t2;
    timer_create(CLOCK_REALTIME, NULL, &t2);
    got_sig = 0;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    struct itimerspec abs = {{0, 0}, {now.tv_sec - 1, 0}};
    timer_settime(t2, TIMER_ABSTIME, &abs, NULL); /* in the past: fires at once */
    while (!got_sig)
        pause();
    out("signal %s, code %s\n", got_sig == SIGALRM ? "SIGALRM" : "other",
        got_code == SI_TIMER ? "SI_TIMER" : "other");

    out("-- SIGEV_THREAD_ID --\n");
    pthread_create(&target_thread, NULL, thread_main, NULL);
    while (!thread_ready)
        sched_yield();
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGUSR1;
    ev._sigev_un._tid = 0;
    timer_t t3;
    out("SIGEV_THREAD_ID with tid 0: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &t3) == 0 ? "0" : errname(errno));
    ev._sigev_un._tid = getpid();
    got_sig = 0;
    out("SIGEV_THREAD_ID to the main thread: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &t3) == 0 ? "0" : errname(errno));
    arm(t3, 10 * 1000 * 1000, 0, 0);
    while (!got_sig)
        pause();
    out("delivered to the main thread: %s\n", got_tid == getpid() ? "yes" : "no");
    thread_stop = 1;
    pthread_kill(target_thread, SIGUSR1);
    pthread_join(target_thread, NULL);

    out("-- SIGEV_NONE and errors --\n");
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_NONE;
    timer_t t4;
    timer_create(CLOCK_MONOTONIC, &ev, &t4);
    arm(t4, 5L * 1000 * 1000 * 1000, 0, 0);
    timer_gettime(t4, &cur);
    out("SIGEV_NONE counts down: %s\n", cur.it_value.tv_sec >= 4 ? "yes" : "no");
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = 0;
    timer_t bad;
    out("signal 0: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &bad) == 0 ? "0" : errname(errno));
    ev.sigev_signo = 65;
    out("signal 65: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &bad) == 0 ? "0" : errname(errno));
    ev.sigev_signo = SIGUSR1;
    ev.sigev_notify = 77;
    out("notify 77: %s\n", timer_create(CLOCK_MONOTONIC, &ev, &bad) == 0 ? "0" : errname(errno));
    out("bad clock: %s\n", timer_create(99, NULL, &bad) == 0 ? "0" : errname(errno));
    struct itimerspec bad_its = {{0, 0}, {0, 1000000000L}};
    out("tv_nsec 1e9: %s\n", timer_settime(t4, 0, &bad_its, NULL) == 0 ? "0" : errname(errno));
    out("timer_delete: %s\n", timer_delete(t4) == 0 ? "0" : errname(errno));
    out("timer_delete again: %s\n", syscall(SYS_timer_delete, (long)(intptr_t)t4) == 0 ? "0" : errname(errno));
    out("timer_gettime of a deleted timer: %s\n",
        syscall(SYS_timer_gettime, (long)(intptr_t)t4, &cur) == 0 ? "0" : errname(errno));

    out("-- glibc SIGEV_THREAD --\n");
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD;
    ev.sigev_notify_function = on_thread_notify;
    ev.sigev_value.sival_int = 77;
    timer_t t5;
    out("timer_create(SIGEV_THREAD): %s\n", timer_create(CLOCK_MONOTONIC, &ev, &t5) == 0 ? "0" : errname(errno));
    arm(t5, 10 * 1000 * 1000, 0, 0);
    for (int i = 0; i < 500 && !thread_notified; i++) {
        struct timespec ms = {0, 2 * 1000 * 1000};
        nanosleep(&ms, NULL);
    }
    out("the function ran with value %d\n", thread_notified);
    return 0;
}
