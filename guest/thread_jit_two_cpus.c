/* thread_jit_two_cpus.c - code rewritten by one thread is what every thread then runs. Two
 * threads pinned to CPUs 0 and 1 each call a function generated in an mmap'd page; the main
 * thread rewrites it the way a W^X JIT does (mprotect RW, write, mprotect RX) and both threads
 * must run the new code. Under mmuemu (--cpus 2) each CPU has its own translated code: making
 * the page executable must drop the other CPU's translations too.
 */
#define _GNU_SOURCE
#include "guest_util.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static unsigned char *code;
static atomic_int round_no, done[2];
static int results[2][4];

static void emit(int value)
{
    mprotect(code, 4096, PROT_READ | PROT_WRITE);
    code[0] = 0xb8; /* mov eax, imm32 */
    memcpy(code + 1, &value, 4);
    code[5] = 0xc3; /* ret */
    mprotect(code, 4096, PROT_READ | PROT_EXEC);
}

static void *runner(void *arg)
{
    const int me = (int)(intptr_t)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(me, &set);
    sched_setaffinity(0, sizeof set, &set);
    for (int r = 0; r < 4; r++) {
        while (atomic_load(&round_no) <= r)
            sched_yield();
        int (*fn)(void) = (int (*)(void))code;
        int v = 0;
        for (int i = 0; i < 1000; i++) /* translated and cached by this CPU */
            v = fn();
        results[me][r] = v;
        atomic_fetch_add(&done[me], 1);
    }
    return NULL;
}

int main(void)
{
    code = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, runner, (void *)(intptr_t)i);
    for (int r = 0; r < 4; r++) {
        emit(100 + r);
        atomic_store(&round_no, r + 1);
        while (atomic_load(&done[0]) <= r || atomic_load(&done[1]) <= r)
            sched_yield();
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    for (int r = 0; r < 4; r++)
        out("round %d: thread on CPU 0 ran %d, thread on CPU 1 ran %d\n", r, results[0][r], results[1][r]);
    return 0;
}
