/* task_futex.c - the futex system call, raw, plus robust mutexes.
 *
 * Linux rules pinned: FUTEX_WAIT returns EAGAIN at once when the word differs from the expected
 * value, ETIMEDOUT after a relative timeout; FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC
 * (or, with FUTEX_CLOCK_REALTIME, CLOCK_REALTIME) deadline; FUTEX_WAKE/REQUEUE/CMP_REQUEUE
 * return how many waiters they woke or moved; CMP_REQUEUE is EAGAIN when the word changed;
 * FUTEX_WAKE_OP applies its operation to the second word and wakes its waiters only if the
 * comparison with the old value holds; FUTEX_WAKE_BITSET wakes only waiters whose bitset
 * intersects; a private waiter is not woken by a shared wake; an unknown op is ENOSYS, an
 * unaligned word EINVAL, a zero bitset EINVAL, a bad timeout EINVAL, a NULL word EFAULT.
 * Robust lists: get_robust_list reports glibc's registration, set_robust_list with a wrong size
 * is EINVAL, and a thread or a process that dies holding a robust mutex makes the next locker
 * get EOWNERDEAD. Counts are made deterministic without timing: a waiter is known to be blocked
 * once a REQUEUE has moved it, so requeues are repeated until all waiters have moved.
 */
#include "guest_util.h"
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

static long futex(void *uaddr, int op, long val, const void *timeout_or_val2, void *uaddr2,
                  long val3)
{
    return syscall(SYS_futex, uaddr, (long)op, val, timeout_or_val2, uaddr2, val3);
}

static const char *ename(int e)
{
    return e == ETIMEDOUT ? "ETIMEDOUT" : e == EOWNERDEAD ? "EOWNERDEAD" : errname(e);
}
#define FX(label, call, want)                                                                   \
    do {                                                                                         \
        errno = 0;                                                                               \
        long r_ = (call);                                                                        \
        char b_[48];                                                                             \
        if (r_ == -1)                                                                            \
            snprintf(b_, sizeof b_, "-1 %s", ename(errno));                                     \
        else                                                                                     \
            snprintf(b_, sizeof b_, "%ld", r_);                                                  \
        expect((label), b_, (want));                                                             \
    } while (0)

/* ---- waiter threads ---- */
struct waiter {
    atomic_int *word;
    int op;
    unsigned bitset;
    pthread_t th;
};
static atomic_int started;

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    atomic_fetch_add(&started, 1);
    long r;
    do
        r = futex(w->word, w->op, 0, NULL, NULL, (long)w->bitset);
    while (r == -1 && errno == EINTR);
    return (void *)r;
}

static void start_waiters(struct waiter *w, int n, atomic_int *word, int op, unsigned bitset)
{
    atomic_store(&started, 0);
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.word = word, .op = op, .bitset = bitset};
        pthread_create(&w[i].th, NULL, wait_thread, &w[i]);
    }
}

static int join_waiters(struct waiter *w, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++) {
        void *r;
        pthread_join(w[i].th, &r);
        ok += (long)r == 0;
    }
    return ok;
}

/* Move all n waiters from `from` to `to`, however late they block; returns the moves counted. */
static long requeue_all(atomic_int *from, atomic_int *to, int n, int op)
{
    long moved = 0;
    for (long tries = 0; moved < n && tries < 200000; tries++) {
        long r = futex(from, op, 0, (void *)(long)INT_MAX, to, 0);
        if (r > 0)
            moved += r;
        else
            nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    return moved;
}

static atomic_int f1, f2, f3;

/* ---- robust mutexes ---- */
static pthread_mutex_t *robust;
static void *die_holding(void *arg)
{
    (void)arg;
    pthread_mutex_lock(robust);
    return NULL; /* the thread exits with the mutex held */
}

static void init_robust(pthread_mutex_t *m, int pshared)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    if (pshared)
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &a);
}

static void next_locker(const char *who, pthread_mutex_t *m)
{
    int r = pthread_mutex_lock(m);
    expectf(who, "EOWNERDEAD", "%s", ename(r));
    if (r == EOWNERDEAD)
        pthread_mutex_consistent(m);
    pthread_mutex_unlock(m);
    expectf("  then lock again", "OK", "%s", ename(pthread_mutex_lock(m)));
    pthread_mutex_unlock(m);
}

int main(void)
{
    struct timespec ts;
    struct waiter w[4];

    out("-- waits that return at once or time out --\n");
    atomic_store(&f1, 1);
    FX("FUTEX_WAIT, value differs", futex(&f1, FUTEX_WAIT, 0, NULL, NULL, 0), "-1 EAGAIN");
    ts = (struct timespec){0, 10 * 1000 * 1000};
    FX("FUTEX_WAIT, relative 10 ms", futex(&f1, FUTEX_WAIT_PRIVATE, 1, &ts, NULL, 0),
       "-1 ETIMEDOUT");
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec -= 1;
    FX("FUTEX_WAIT_BITSET, absolute CLOCK_MONOTONIC in the past",
       futex(&f1, FUTEX_WAIT_BITSET, 1, &ts, NULL, FUTEX_BITSET_MATCH_ANY), "-1 ETIMEDOUT");
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec -= 1;
    FX("FUTEX_WAIT_BITSET|FUTEX_CLOCK_REALTIME, in the past",
       futex(&f1, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 1, &ts, NULL, -1), "-1 ETIMEDOUT");
    atomic_store(&f1, 0);

    out("-- errors --\n");
    FX("unknown op 99", futex(&f1, 99, 0, NULL, NULL, 0), "-1 ENOSYS");
    FX("unaligned word", futex((char *)&f1 + 1, FUTEX_WAKE, 1, NULL, NULL, 0), "-1 EINVAL");
    FX("FUTEX_WAIT_BITSET with bitset 0", futex(&f1, FUTEX_WAIT_BITSET, 0, NULL, NULL, 0),
       "-1 EINVAL");
    ts = (struct timespec){0, 2000000000L};
    FX("FUTEX_WAIT with tv_nsec 2e9", futex(&f1, FUTEX_WAIT, 0, &ts, NULL, 0), "-1 EINVAL");
    FX("FUTEX_WAIT on NULL", futex(NULL, FUTEX_WAIT, 0, NULL, NULL, 0), "-1 EFAULT");
    FX("FUTEX_WAKE with no waiters", futex(&f1, FUTEX_WAKE, INT_MAX, NULL, NULL, 0), "0");

    out("-- FUTEX_WAKE counts the woken --\n");
    start_waiters(w, 4, &f1, FUTEX_WAIT, 0);
    long woken = 0;
    for (long tries = 0; woken < 4 && tries < 200000; tries++) {
        long r = futex(&f1, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
        woken += r > 0 ? r : 0;
        if (woken < 4)
            nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    expectf("total woken by FUTEX_WAKE", "4", "%ld", woken);
    expectf("waiters returning 0", "4", "%d", join_waiters(w, 4));

    out("-- FUTEX_REQUEUE and FUTEX_CMP_REQUEUE --\n");
    start_waiters(w, 4, &f1, FUTEX_WAIT, 0);
    expectf("FUTEX_REQUEUE f1->f2 until all moved", "4", "%ld",
            requeue_all(&f1, &f2, 4, FUTEX_REQUEUE));
    FX("FUTEX_WAKE f1 (empty now)", futex(&f1, FUTEX_WAKE, INT_MAX, NULL, NULL, 0), "0");
    FX("FUTEX_WAKE f2, 1", futex(&f2, FUTEX_WAKE, 1, NULL, NULL, 0), "1");
    FX("FUTEX_CMP_REQUEUE f2->f3, word changed",
       futex(&f2, FUTEX_CMP_REQUEUE, 0, (void *)(long)INT_MAX, &f3, 1), "-1 EAGAIN");
    FX("FUTEX_CMP_REQUEUE f2->f3, wake 1, move the rest",
       futex(&f2, FUTEX_CMP_REQUEUE, 1, (void *)(long)INT_MAX, &f3, 0), "3");
    FX("FUTEX_WAKE f3", futex(&f3, FUTEX_WAKE, INT_MAX, NULL, NULL, 0), "2");
    expectf("waiters returning 0", "4", "%d", join_waiters(w, 4));

    out("-- FUTEX_WAKE_OP --\n");
    atomic_store(&f2, 0);
    FX("WAKE_OP f1, f2 = 5 if old == 0, no waiters",
       futex(&f1, FUTEX_WAKE_OP, 1, (void *)1L, &f2, FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 0)),
       "0");
    expectf("  f2", "5", "%d", atomic_load(&f2));
    FX("WAKE_OP f2 += 3 (old 5)",
       futex(&f1, FUTEX_WAKE_OP, 1, (void *)1L, &f2, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_GT, 9)),
       "0");
    FX("WAKE_OP f2 |= 1 << 4 (OPARG_SHIFT)",
       futex(&f1, FUTEX_WAKE_OP, 1, (void *)1L, &f2,
             FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_EQ, 0)), "0");
    expectf("  f2", "24", "%d", atomic_load(&f2));
    atomic_store(&f2, 0);
    start_waiters(w, 1, &f2, FUTEX_WAIT, 0);
    requeue_all(&f2, &f3, 1, FUTEX_REQUEUE);
    FX("the waiter moved back to f2", futex(&f3, FUTEX_REQUEUE, 0, (void *)1L, &f2, 0), "1");
    FX("WAKE_OP f2 = 7 if old > 0: comparison false",
       futex(&f1, FUTEX_WAKE_OP, 1, (void *)1L, &f2, FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_GT, 0)),
       "0");
    FX("WAKE_OP f2 = 9 if old == 7: comparison true",
       futex(&f1, FUTEX_WAKE_OP, 1, (void *)1L, &f2, FUTEX_OP(FUTEX_OP_SET, 9, FUTEX_OP_CMP_EQ, 7)),
       "1");
    expectf("  f2", "9", "%d", atomic_load(&f2));
    expectf("waiter returning 0", "1", "%d", join_waiters(w, 1));

    out("-- FUTEX_WAKE_BITSET, private and shared --\n");
    atomic_store(&f1, 0);
    start_waiters(w, 1, &f1, FUTEX_WAIT_BITSET, 0x1);
    requeue_all(&f1, &f3, 1, FUTEX_REQUEUE);
    futex(&f3, FUTEX_REQUEUE, 0, (void *)1L, &f1, 0);
    FX("FUTEX_WAKE_BITSET 0x2 (waiter has 0x1)", futex(&f1, FUTEX_WAKE_BITSET, 1, NULL, NULL, 2),
       "0");
    FX("FUTEX_WAKE_BITSET 0x3", futex(&f1, FUTEX_WAKE_BITSET, 1, NULL, NULL, 3), "1");
    join_waiters(w, 1);
    start_waiters(w, 1, &f1, FUTEX_WAIT_PRIVATE, 0);
    requeue_all(&f1, &f3, 1, FUTEX_REQUEUE_PRIVATE);
    FX("private waiter moved back", futex(&f3, FUTEX_REQUEUE_PRIVATE, 0, (void *)1L, &f1, 0), "1");
    FX("FUTEX_WAKE (shared) of a private waiter", futex(&f1, FUTEX_WAKE, 1, NULL, NULL, 0), "0");
    FX("FUTEX_WAKE_PRIVATE", futex(&f1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), "1");
    join_waiters(w, 1);

    out("-- robust lists --\n");
    void *head = NULL;
    size_t len = 0;
    FX("get_robust_list(0)", syscall(SYS_get_robust_list, 0L, &head, &len), "0");
    expectf("  registered by glibc, length", "yes 24", "%s %zu", head ? "yes" : "no", len);
    FX("set_robust_list with length 8", syscall(SYS_set_robust_list, head, 8L), "-1 EINVAL");
    robust = map_anon(1, PROT_READ | PROT_WRITE);
    init_robust(robust, 0);
    pthread_t t;
    pthread_create(&t, NULL, die_holding, NULL);
    pthread_join(t, NULL);
    next_locker("thread died holding it: lock", robust);
    pthread_mutex_t *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                   -1, 0);
    init_robust(shared, 1);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(shared);
        _exit(0);
    }
    expect("child", WAIT(pid), "exit 0");
    next_locker("process died holding a shared one: lock", shared);
    return summary("task_futex");
}
