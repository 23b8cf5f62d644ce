/* task_bench.c - the cost of tasks: `fork N` runs N x (fork, child _exit, waitpid); `thread N`
 * runs N x (pthread_create, return, pthread_join). Prints one line with the count (the same
 * natively and under every emulator), timed from outside by compare_tasks.sh. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const long n = atol(argv[2]);
    long done = 0;
    if (strcmp(argv[1], "fork") == 0) {
        for (long i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            int status;
            if (pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
                done++;
        }
    } else {
        for (long i = 0; i < n; i++) {
            pthread_t t;
            void *ret;
            if (pthread_create(&t, NULL, nothing, (void *)i) == 0 && pthread_join(t, &ret) == 0 &&
                ret == (void *)i)
                done++;
        }
    }
    printf("%s: %ld of %ld\n", argv[1], done, n);
    return done == n ? 0 : 1;
}
