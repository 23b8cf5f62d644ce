/* thread_mutex_log.c - four threads append to one log under a mutex, without sleeping, and the
 * main thread checks the log: every entry present once, each thread's entries in its own order.
 * Natively and under mmuemu the output is the same whatever the interleaving; the determinism
 * test records it to see that mmuemu's interleaving is the same run after run (and changes with
 * --sched-seed).
 */
#include "guest_util.h"
#include <pthread.h>

enum { THREADS = 4, ENTRIES = 2000 };
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int log_entries[THREADS * ENTRIES];
static int log_len;

static void *writer(void *arg)
{
    const int id = (int)(intptr_t)arg;
    for (int i = 0; i < ENTRIES; i++) {
        pthread_mutex_lock(&lock);
        log_entries[log_len++] = id * ENTRIES + i;
        pthread_mutex_unlock(&lock);
        if (i % 97 == 0)
            sched_yield();
    }
    return NULL;
}

int main(void)
{
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int next[THREADS] = {0}, in_order = 1;
    for (int k = 0; k < log_len; k++) {
        const int id = log_entries[k] / ENTRIES, seq = log_entries[k] % ENTRIES;
        if (seq != next[id]++)
            in_order = 0;
    }
    out("entries: %d, each thread's in order: %s\n", log_len, in_order ? "yes" : "no");
    return 0;
}
