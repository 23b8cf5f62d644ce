/* thread_pthreads.c - glibc pthreads: creation, synchronization, TLS, cancellation, signals.
 *
 * Linux/glibc rules pinned: 100 threads each return a value through pthread_join; a mutex makes
 * 8 x 1000 increments exact; condition variables hand 2 x 1000 items from 2 producers to 2
 * consumers through a 4-slot queue without loss; a 4-thread barrier makes every write before it
 * visible after it and returns PTHREAD_BARRIER_SERIAL_THREAD to exactly one waiter per round;
 * readers share a rwlock (trywrlock EBUSY while they hold it) and a writer excludes everyone;
 * __thread variables start at their initial value in every new thread (not the creator's value)
 * and live at distinct addresses; pthread_cancel acts at cancellation points (pthread_cond_wait
 * re-acquires the mutex and runs the cleanup handler, sleep, pthread_testcancel after cancellation
 * is re-enabled) and join returns PTHREAD_CANCELED; a pthread_kill'ed signal runs its handler in
 * the target thread; a process-directed kill(getpid()) is handled by the only thread that does
 * not block the signal. Only the main thread prints, after the threads it checks are joined.
 */
#include "guest_util.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

static pid_t my_tid(void) { return (pid_t)syscall(SYS_gettid); }
static const char *yesno(int b) { return b ? "yes" : "no"; }

static const char *ename(int e)
{
    return e == EDEADLK ? "EDEADLK" : e == ETIMEDOUT ? "ETIMEDOUT" : errname(e);
}

/* Wait (bounded, about 20 s) until *v >= want. */
static int wait_for(atomic_int *v, int want)
{
    for (long i = 0; i < 400000; i++) {
        if (atomic_load(v) >= want)
            return 1;
        nanosleep(&(struct timespec){0, 50000}, NULL);
    }
    return 0;
}

/* ---- creation and join ---- */
static void *square(void *arg) { return (void *)((long)arg * (long)arg); }

/* ---- mutex ---- */
static pthread_mutex_t mtx = PTHREAD_MUTEX_INITIALIZER;
static long counter;
static void *increment(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        pthread_mutex_lock(&mtx);
        counter++;
        pthread_mutex_unlock(&mtx);
    }
    return NULL;
}

/* ---- condition variables: bounded queue ---- */
#define QCAP 4
#define PER_PRODUCER 1000
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
static long queue[QCAP], q_head, q_count, consumed, consumed_sum;
static void *producer(void *arg)
{
    (void)arg;
    for (long v = 1; v <= PER_PRODUCER; v++) {
        pthread_mutex_lock(&mtx);
        while (q_count == QCAP)
            pthread_cond_wait(&not_full, &mtx);
        queue[(q_head + q_count++) % QCAP] = v;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mtx);
    }
    return NULL;
}
static void *consumer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mtx);
    for (;;) {
        while (q_count == 0 && consumed < 2 * PER_PRODUCER)
            pthread_cond_wait(&not_empty, &mtx);
        if (consumed == 2 * PER_PRODUCER)
            break;
        consumed_sum += queue[q_head];
        q_head = (q_head + 1) % QCAP;
        q_count--;
        if (++consumed == 2 * PER_PRODUCER)
            pthread_cond_broadcast(&not_empty); /* wake the other consumer to finish */
        pthread_cond_signal(&not_full);
    }
    pthread_mutex_unlock(&mtx);
    return NULL;
}

/* ---- barrier and TLS ---- */
#define BT 4
static pthread_barrier_t barrier;
static int slots[BT];
static atomic_int serials[3], all_seen_bad;
static __thread int tls_val = 42;
static __thread char tls_buf[64];
static void *barrier_thread(void *arg)
{
    int t = (int)(long)arg;
    int tls_fresh = tls_val == 42 && tls_buf[0] == 0 && tls_buf[63] == 0;
    tls_val = 100 + t;
    memset(tls_buf, 'a' + t, sizeof tls_buf);
    for (int round = 0; round < 3; round++) {
        slots[t] = round * 10 + t;
        if (pthread_barrier_wait(&barrier) == PTHREAD_BARRIER_SERIAL_THREAD)
            atomic_fetch_add(&serials[round], 1);
        for (int k = 0; k < BT; k++)
            if (slots[k] != round * 10 + k)
                atomic_fetch_add(&all_seen_bad, 1);
        pthread_barrier_wait(&barrier); /* nobody rewrites a slot before everyone checked */
    }
    int tls_kept = tls_val == 100 + t && tls_buf[0] == 'a' + t && tls_buf[63] == 'a' + t;
    return tls_fresh && tls_kept ? (void *)&tls_val : NULL;
}

/* ---- rwlock ---- */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int readers_in, writer_checked;
static void *reader(void *arg)
{
    (void)arg;
    pthread_rwlock_rdlock(&rw);
    atomic_fetch_add(&readers_in, 1);
    wait_for(&writer_checked, 1);
    pthread_rwlock_unlock(&rw);
    return NULL;
}
static void *try_while_written(void *arg)
{
    (void)arg;
    long a = pthread_rwlock_tryrdlock(&rw), b = pthread_rwlock_trywrlock(&rw);
    return (void *)(a * 1000 + b);
}

/* ---- cancellation ---- */
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;
static atomic_int cond_waiter_started, cleanup_ran, sleeper_started, testcancel_reached;
static void cleanup_unlock(void *m)
{
    atomic_store(&cleanup_ran, 1);
    pthread_mutex_unlock(m);
}
static void *cond_waiter(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mtx);
    pthread_cleanup_push(cleanup_unlock, &mtx);
    atomic_store(&cond_waiter_started, 1);
    for (;;)
        pthread_cond_wait(&never, &mtx);
    pthread_cleanup_pop(1);
    return NULL;
}
static void *sleeper(void *arg)
{
    (void)arg;
    atomic_store(&sleeper_started, 1);
    sleep(1000);
    return NULL;
}
static void *cancel_disabled(void *arg)
{
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    atomic_store(&sleeper_started, 2);
    wait_for(&testcancel_reached, 1); /* cancelled meanwhile: nanosleep does not act on it */
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
    pthread_testcancel();
    return NULL;
}

/* ---- signals ---- */
static atomic_int handled, target_ready, target_tid, handler_tid;
static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&handler_tid, my_tid());
    atomic_store(&handled, 1);
}
static void *kill_target(void *arg)
{
    int sig = (int)(long)arg;
    atomic_store(&target_tid, my_tid());
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, sig);
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
    atomic_store(&target_ready, 1);
    while (!atomic_load(&handled))
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    return NULL;
}
static void *bystander(void *arg)
{
    (void)arg;
    wait_for(&handled, 1); /* sig blocked here */
    return NULL;
}

static void signal_case(const char *what, int sig, int process_directed)
{
    atomic_store(&handled, 0);
    atomic_store(&target_ready, 0);
    atomic_store(&handler_tid, 0);
    signal(sig, on_signal);
    sigset_t m;
    sigemptyset(&m);
    sigaddset(&m, sig);
    /* Process-directed: blocked everywhere but in the target (new threads inherit the mask).
     * Thread-directed: unblocked everywhere, and still the target handles it. */
    pthread_sigmask(process_directed ? SIG_BLOCK : SIG_UNBLOCK, &m, NULL);
    pthread_t by[2], t;
    for (int i = 0; i < 2; i++)
        pthread_create(&by[i], NULL, bystander, NULL);
    pthread_create(&t, NULL, kill_target, (void *)(long)sig);
    wait_for(&target_ready, 1);
    if (process_directed)
        kill(getpid(), sig);
    else
        pthread_kill(t, sig);
    pthread_join(t, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(by[i], NULL);
    out("%s: handled by the target thread: %s\n", what,
        yesno(atomic_load(&handler_tid) == atomic_load(&target_tid)));
    pthread_sigmask(SIG_UNBLOCK, &m, NULL);
}

int main(void)
{
    pthread_t th[100];
    void *ret;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    int created = 0;
    long sum = 0;
    for (long i = 0; i < 100; i++)
        created += pthread_create(&th[i], &attr, square, (void *)i) == 0;
    for (int i = 0; i < created; i++)
        if (pthread_join(th[i], &ret) == 0)
            sum += (long)ret;
    out("create/join: %d threads, sum of returned i*i: %ld\n", created, sum);

    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], &attr, increment, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    out("mutex: 8 threads x 1000 increments: %ld\n", counter);

    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], &attr, i < 2 ? producer : consumer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    out("condvar: %ld items consumed, sum %ld\n", consumed, consumed_sum);

    tls_val = 7;
    pthread_barrier_init(&barrier, NULL, BT);
    for (long i = 0; i < BT; i++)
        pthread_create(&th[i], &attr, barrier_thread, (void *)i);
    void *tls_addr[BT];
    int tls_ok = 1;
    for (int i = 0; i < BT; i++) {
        pthread_join(th[i], &tls_addr[i]);
        tls_ok &= tls_addr[i] != NULL && tls_addr[i] != (void *)&tls_val;
        for (int k = 0; k < i; k++)
            tls_ok &= tls_addr[k] != tls_addr[i];
    }
    out("barrier: 3 rounds, every write before it seen after it: %s, one serial thread per round: "
        "%s\n", yesno(atomic_load(&all_seen_bad) == 0),
        yesno(serials[0] == 1 && serials[1] == 1 && serials[2] == 1));
    out("tls: threads start at 42, keep their own value, distinct addresses: %s; "
        "main keeps 7: %s\n",
        yesno(tls_ok), yesno(tls_val == 7));

    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], &attr, reader, NULL);
    int all_in = wait_for(&readers_in, 4);
    int wr_busy = pthread_rwlock_trywrlock(&rw), rd_ok = pthread_rwlock_tryrdlock(&rw);
    if (rd_ok == 0)
        pthread_rwlock_unlock(&rw);
    atomic_store(&writer_checked, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    out("rwlock: 4 readers inside at once: %s; trywrlock then: %s; tryrdlock then: %s\n",
        yesno(all_in), ename(wr_busy), ename(rd_ok));
    int wr = pthread_rwlock_wrlock(&rw);
    pthread_create(&th[0], &attr, try_while_written, NULL);
    pthread_join(th[0], &ret);
    out("rwlock: wrlock: %s; other thread's tryrdlock/trywrlock: %s/%s; own rdlock: %s\n",
        ename(wr), ename((int)((long)ret / 1000)), ename((int)((long)ret % 1000)),
        ename(pthread_rwlock_rdlock(&rw)));
    pthread_rwlock_unlock(&rw);

    pthread_create(&th[0], &attr, cond_waiter, NULL);
    wait_for(&cond_waiter_started, 1);
    pthread_mutex_lock(&mtx); /* succeeds only once the waiter is inside pthread_cond_wait */
    pthread_mutex_unlock(&mtx);
    pthread_cancel(th[0]);
    pthread_join(th[0], &ret);
    int relock = pthread_mutex_trylock(&mtx);
    if (relock == 0)
        pthread_mutex_unlock(&mtx);
    out("cancel in pthread_cond_wait: PTHREAD_CANCELED: %s, cleanup ran: %s, mutex free: %s\n",
        yesno(ret == PTHREAD_CANCELED), yesno(cleanup_ran), yesno(relock == 0));
    pthread_create(&th[0], &attr, sleeper, NULL);
    wait_for(&sleeper_started, 1);
    pthread_cancel(th[0]);
    pthread_join(th[0], &ret);
    out("cancel in sleep: PTHREAD_CANCELED: %s\n", yesno(ret == PTHREAD_CANCELED));
    pthread_create(&th[0], &attr, cancel_disabled, NULL);
    wait_for(&sleeper_started, 2);
    pthread_cancel(th[0]);
    atomic_store(&testcancel_reached, 1);
    pthread_join(th[0], &ret);
    out("cancel while disabled, acted on at pthread_testcancel: PTHREAD_CANCELED: %s\n",
        yesno(ret == PTHREAD_CANCELED));

    signal_case("pthread_kill(SIGUSR2)", SIGUSR2, 0);
    signal_case("kill(getpid(), SIGUSR1), unblocked in one thread only", SIGUSR1, 1);
    return 0;
}
