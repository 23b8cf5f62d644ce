/* task_exit_leaves_nothing.c - the process exits (exit_group) while it still has threads blocked
 * on a futex and in a pipe read, a thread holding a robust mutex, and unreaped children (one a
 * zombie, one blocked in read on a pipe whose write end the parent holds: it sees EOF natively
 * when the parent is gone). Nothing may be left behind: under mmuemu the run ends cleanly (the
 * ASan build checks for leaks), natively every child ends on its own.
 */
#include "guest_util.h"
#include <linux/futex.h>
#include <pthread.h>

static unsigned futex_word;
static int pipe_for_threads[2];

static void *futex_waiter(void *arg)
{
    (void)arg;
    syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return NULL;
}

static void *pipe_reader(void *arg)
{
    (void)arg;
    char c;
    (void)!read(pipe_for_threads[0], &c, 1);
    return NULL;
}

static pthread_mutex_t robust;

static void *robust_holder(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&robust);
    for (;;)
        pause();
    return NULL;
}

int main(void)
{
    if (pipe(pipe_for_threads) != 0)
        return 2;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &ma);
    pthread_t t;
    for (int i = 0; i < 3; i++)
        pthread_create(&t, NULL, futex_waiter, NULL);
    pthread_create(&t, NULL, pipe_reader, NULL);
    pthread_create(&t, NULL, robust_holder, NULL);

    pid_t zombie = fork();
    if (zombie == 0)
        _exit(3);
    int child_pipe[2];
    if (pipe(child_pipe) != 0)
        return 2;
    pid_t reader = fork();
    if (reader == 0) {
        close(child_pipe[1]);
        char c;
        (void)!read(child_pipe[0], &c, 1); /* EOF when the parent is gone */
        _exit(0);
    }
    close(child_pipe[0]);
    struct timespec nap = {0, 20 * 1000 * 1000};
    nanosleep(&nap, NULL); /* let everything block */
    out("exiting with 5 blocked threads and 2 unreaped children\n");
    exit(7);
}
