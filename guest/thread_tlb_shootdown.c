/* thread_tlb_shootdown.c - one thread changes a mapping another thread is using: the change must
 * reach the other thread's TLB (Linux flushes every CPU the mm runs on before the call returns).
 *
 * Thread A touches a page (caching its translation), tells the main thread B, and keeps touching
 * it until B says its operation is done; then A touches it once more. B meanwhile installs a
 * guard (MADV_GUARD_INSTALL), unmaps the page, write-protects it, or discards it
 * (MADV_DONTNEED). Linux rules pinned: A's access after B's call returns faults with SIGSEGV
 * SEGV_MAPERR at the exact byte for a guard or an unmapped page, SEGV_ACCERR for a write to a
 * page made read-only; after MADV_DONTNEED A reads zero, never the old data. A catches its fault
 * with sigsetjmp/siglongjmp; the two threads hand over through atomics, and only B prints.
 * A runs on CPU 0 and B on CPU 1 (sched_setaffinity; under mmuemu, run it with --cpus 2), so that
 * B's change must be shot down to A's CPU.
 */
#define _GNU_SOURCE
#include "guest_util.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

static unsigned char *volatile target;
static volatile int write_mode;
static atomic_int go, touched, op_done, result_ready;
static volatile int armed, fault_sig, fault_code, last_val;
static void *volatile fault_addr;
static sigjmp_buf jb;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    if (!armed) {
        signal(sig, SIG_DFL);
        return;
    }
    armed = 0;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(jb, 1);
}

static void touch(void)
{
    volatile unsigned char *p = target + 8;
    if (write_mode)
        *p = 0x99;
    else
        last_val = *p;
}

static int spin_until(atomic_int *v, int want)
{
    for (long i = 0; atomic_load(v) < want; i++) {
        if (i > 2000000000L)
            return 0;
        if ((i & 1023) == 1023)
            sched_yield();
    }
    return 1;
}

/* One round of thread A (its own function: nothing here is live across the siglongjmp). */
__attribute__((noinline)) static void a_round(int s)
{
    fault_sig = 0;
    if (sigsetjmp(jb, 1) == 0) {
        armed = 1;
        touch();
        atomic_store(&touched, s);
        while (atomic_load(&op_done) < s)
            touch(); /* may fault here already, once B has changed the page table */
        touch();     /* must fault here at the latest (or see the new contents) */
        armed = 0;
    }
    atomic_store(&result_ready, s);
}

static void pin_to_cpu(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set); /* on a machine with one CPU, both share it */
}

static void *thread_a(void *arg)
{
    (void)arg;
    pin_to_cpu(0);
    for (int s = 1;; s++) {
        spin_until(&go, s);
        if (target == NULL)
            return NULL;
        a_round(s);
    }
}

static int round_no;

/* One handshake: A touches, B runs op, A touches again; "SIGSEGV SEGV_MAPERR addr=+0x8" or
 * "no fault, value 0x00". */
static const char *scenario(unsigned char *page, int writes, int (*op)(unsigned char *),
                            char *buf, size_t n)
{
    round_no++;
    target = page;
    write_mode = writes;
    atomic_store(&go, round_no);
    spin_until(&touched, round_no);
    int r = op(page);
    atomic_store(&op_done, round_no);
    spin_until(&result_ready, round_no);
    if (r != 0)
        snprintf(buf, n, "operation failed: %s", errname(errno));
    else if (fault_sig)
        snprintf(buf, n, "%s %s addr=%s", signame(fault_sig), segv_code_name(fault_code),
                 OFF(fault_addr, page));
    else
        snprintf(buf, n, "no fault, value 0x%02x", write_mode ? 0x99 : last_val);
    return buf;
}
#define SCENARIO(page, w, op) scenario((page), (w), (op), (char[96]){0}, 96)

static int op_guard(unsigned char *p) { return madvise(p, PG, MADV_GUARD_INSTALL); }
static int op_unmap(unsigned char *p) { return munmap(p, PG); }
static int op_readonly(unsigned char *p) { return mprotect(p, PG, PROT_READ); }
static int op_none(unsigned char *p) { return mprotect(p, PG, PROT_NONE); }
static int op_dontneed(unsigned char *p) { return madvise(p, PG, MADV_DONTNEED); }

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);

    unsigned char *pages = map_anon(6, PROT_READ | PROT_WRITE);
    memset(pages, 0x77, 6 * PG);
    pin_to_cpu(1);
    pthread_t a;
    pthread_create(&a, NULL, thread_a, NULL);

    expect("A reads, B installs a guard, A reads again", SCENARIO(pages, 0, op_guard),
           "SIGSEGV SEGV_MAPERR addr=+0x8");
    EXPECT_SYS("B removes the guard", madvise(pages, PG, MADV_GUARD_REMOVE), "0");
    expectf("B reads the page (the install discarded the data)", "0x00", "0x%02x", pages[8]);
    expect("A reads, B unmaps, A reads again", SCENARIO(pages + PG, 0, op_unmap),
           "SIGSEGV SEGV_MAPERR addr=+0x8");
    expect("A writes, B makes it read-only, A writes again", SCENARIO(pages + 2 * PG, 1,
           op_readonly), "SIGSEGV SEGV_ACCERR addr=+0x8");
    expect("A reads, B makes it PROT_NONE, A reads again", SCENARIO(pages + 3 * PG, 0, op_none),
           "SIGSEGV SEGV_ACCERR addr=+0x8");
    expect("A reads 0x77, B MADV_DONTNEEDs, A reads again", SCENARIO(pages + 4 * PG, 0,
           op_dontneed), "no fault, value 0x00");
    expect("A writes, B installs a guard, A writes again", SCENARIO(pages + 5 * PG, 1, op_guard),
           "SIGSEGV SEGV_MAPERR addr=+0x8");

    target = NULL;
    atomic_store(&go, round_no + 1);
    pthread_join(a, NULL);
    return summary("thread_tlb_shootdown");
}
