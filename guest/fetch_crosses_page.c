/* fetch_crosses_page.c - an instruction whose bytes run into a page it may not execute.
 *
 * Two pages are mapped RWX; code is written at the end of the first: a few ordinary
 * instructions (inc rcx three times, add qword [rdx], 1) and then a 10-byte movabs rax, imm64
 * that starts 3 bytes before the page end. The second page is then made a guard page
 * (MADV_GUARD_INSTALL), PROT_NONE, PROT_READ (readable, not executable) or unmapped. The fetch
 * of the movabs faults: the SIGSEGV handler (SA_SIGINFO) records si_code, si_addr and RIP
 * relative to the region, rcx and the memory counter (the earlier instructions ran exactly
 * once), and leaves with siglongjmp.
 * Also: the crossing instruction entered directly (first of its block), an instruction that
 * ends exactly at the page end followed by the guard page (the next fetch faults at the page
 * start), an earlier load from the guard page (that data fault comes first), the same code
 * run once while the second page was executable and again after the guard went in, and the
 * cases with no fault at all. Last, two threads fault that way 3000 times each at the same time
 * (under mmuemu --cpus 2 they run on two virtual CPUs). With the argument `die`, the first case
 * without a handler.
 */
#include "guest_util.h"

#include <pthread.h>
#include <ucontext.h>

/* Per thread: the faults of two threads at once are compared too. */
static __thread sigjmp_buf jb;
static __thread volatile int got_code;
static __thread volatile uintptr_t got_addr, got_rip, got_rcx;

static void on_segv(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    ucontext_t *uc = ucv;
    got_code = si->si_code;
    got_addr = (uintptr_t)si->si_addr;
    got_rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    got_rcx = (uintptr_t)uc->uc_mcontext.gregs[REG_RCX];
    siglongjmp(jb, 1);
}

enum second_page { GUARD, PROT_NONE_PAGE, READ_ONLY, UNMAPPED, EXECUTABLE };

static const unsigned char kIncRcx[] = {0x48, 0xff, 0xc1};             /* inc rcx */
static const unsigned char kAddMem[] = {0x48, 0x83, 0x02, 0x01};       /* add qword [rdx], 1 */
static const unsigned char kLoadRsi[] = {0x48, 0x8b, 0x06};            /* mov rax, [rsi] */
static const unsigned char kMovabs[] = {0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8}; /* movabs rax, imm64 */
static const unsigned char kRet[] = {0xc3};

struct code {
    unsigned char *at;
};

static void emit(struct code *c, const unsigned char *bytes, size_t n)
{
    memcpy(c->at, bytes, n);
    c->at += n;
}

/* Calls entry with rcx = 0, rdx = counter, rsi = load_from; returns rax. The stack pointer
 * drops below the red zone first (the call pushes a return address). */
static uint64_t call_code(void *entry, uint64_t *counter, void *load_from)
{
    uint64_t rax, rcx = 0;
    void *rdx = counter, *rsi = load_from;
    __asm__ volatile("sub $128, %%rsp\n\tcall *%[f]\n\tadd $128, %%rsp"
                     : "=a"(rax), "+c"(rcx), "+d"(rdx), "+S"(rsi)
                     : [f] "r"(entry)
                     : "memory", "cc", "rdi", "r8", "r9", "r10", "r11");
    return rax;
}

static void make_second_page(char *base, enum second_page kind)
{
    char *p = base + PG;
    switch (kind) {
    case GUARD: madvise(p, PG, MADV_GUARD_INSTALL); break;
    case PROT_NONE_PAGE: mprotect(p, PG, PROT_NONE); break;
    case READ_ONLY: mprotect(p, PG, PROT_READ); break;
    case UNMAPPED: munmap(p, PG); break;
    case EXECUTABLE: break;
    }
}

/* Runs the code at base + entry; prints what happened. */
static void run(const char *label, char *base, size_t entry, void *load_from)
{
    uint64_t counter = 0;
    got_code = 0;
    if (sigsetjmp(jb, 1) == 0) {
        uint64_t rax = call_code(base + entry, &counter, load_from);
        out("%-44s no fault, rax 0x%lx, counter %lu\n", label, (unsigned long)rax, (unsigned long)counter);
        return;
    }
    out("%-44s %s si_addr %s rip %s rcx %lu counter %lu\n", label, segv_code_name(got_code),
        OFF((void *)got_addr, base), OFF((void *)got_rip, base), (unsigned long)got_rcx,
        (unsigned long)counter);
}

static char *map_code(void)
{
    return map_anon(2, PROT_READ | PROT_WRITE | PROT_EXEC);
}

/* inc rcx x3, add [rdx], 1, [mov rax, [rsi]], then the movabs at page end - movabs_back,
 * then ret. Returns the offset of the first instruction. */
static size_t write_code(char *base, size_t movabs_back, int with_load)
{
    size_t prefix = 3 * sizeof kIncRcx + sizeof kAddMem + (with_load ? sizeof kLoadRsi : 0);
    size_t start = PG - movabs_back - prefix;
    struct code c = {(unsigned char *)base + start};
    for (int i = 0; i < 3; i++)
        emit(&c, kIncRcx, sizeof kIncRcx);
    emit(&c, kAddMem, sizeof kAddMem);
    if (with_load)
        emit(&c, kLoadRsi, sizeof kLoadRsi);
    emit(&c, kMovabs, sizeof kMovabs);
    emit(&c, kRet, sizeof kRet);
    return start;
}

static void crossing_case(const char *label, enum second_page kind)
{
    char *base = map_code();
    size_t start = write_code(base, 3, 0);
    make_second_page(base, kind);
    run(label, base, start, NULL);
    run("  the same again", base, start, NULL);
    munmap(base, 2 * PG);
}

/* Runs the crossing code `times` times; counts the faults that are exactly as on x86. */
static int precise_faults(int times, enum second_page kind)
{
    char *base = map_code();
    size_t start = write_code(base, 3, 0);
    make_second_page(base, kind);
    int want_code = kind == GUARD || kind == UNMAPPED ? SEGV_MAPERR : SEGV_ACCERR;
    int precise = 0;
    for (volatile int i = 0; i < times; i++) {
        uint64_t counter = 0;
        got_code = 0;
        if (sigsetjmp(jb, 1) == 0)
            call_code(base + start, &counter, NULL);
        precise += got_code == want_code && got_rip == (uintptr_t)base + PG - 3 &&
                   got_addr == (uintptr_t)base + PG && got_rcx == 3 && counter == 1;
    }
    munmap(base, 2 * PG);
    return precise;
}

static pthread_barrier_t start_together;

struct thread_run {
    int times;
    enum second_page kind;
    int precise;
};

static void *fault_thread(void *arg)
{
    struct thread_run *run = arg;
    pthread_barrier_wait(&start_together);
    run->precise = precise_faults(run->times, run->kind);
    return NULL;
}

/* `die`: the guard-page case without a handler; the process dies by SIGSEGV (mmuemu's fault
 * report names the instruction). */
static int die(void)
{
    char *base = map_code();
    size_t start = write_code(base, 3, 0);
    make_second_page(base, GUARD);
    uint64_t counter = 0;
    call_code(base + start, &counter, NULL);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "die") == 0)
        return die();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    crossing_case("movabs crosses into a guard page:", GUARD);
    crossing_case("movabs crosses into a PROT_NONE page:", PROT_NONE_PAGE);
    crossing_case("movabs crosses into a PROT_READ page:", READ_ONLY);
    crossing_case("movabs crosses into an unmapped page:", UNMAPPED);
    crossing_case("movabs crosses into an executable page:", EXECUTABLE);

    /* The crossing instruction is the first one run. */
    char *base = map_code();
    write_code(base, 3, 0);
    make_second_page(base, GUARD);
    run("movabs entered directly, guard page:", base, PG - 3, NULL);
    munmap(base, 2 * PG);

    /* The movabs ends exactly at the page end: the next instruction (the ret) starts the
     * second page. */
    base = map_code();
    size_t start = write_code(base, 10, 0);
    run("movabs ends at the page end, executable:", base, start, NULL);
    make_second_page(base, GUARD);
    run("movabs ends at the page end, guard page:", base, start, NULL);
    munmap(base, 2 * PG);

    /* A load from the guard page before the crossing instruction faults first. */
    base = map_code();
    start = write_code(base, 3, 1);
    make_second_page(base, GUARD);
    run("load from the guard page, then movabs:", base, start, base + PG + 8);
    munmap(base, 2 * PG);

    /* Run while the second page is executable, then guard it and run the same code again. */
    base = map_code();
    start = write_code(base, 3, 0);
    run("run once with both pages executable:", base, start, NULL);
    make_second_page(base, GUARD);
    run("then the second page becomes a guard:", base, start, NULL);
    munmap(base, 2 * PG);

    out("200 faults in a row, precise: %d\n", precise_faults(200, PROT_NONE_PAGE));

    pthread_t threads[2];
    struct thread_run runs[2] = {{3000, GUARD, 0}, {3000, READ_ONLY, 0}};
    pthread_barrier_init(&start_together, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, fault_thread, &runs[i]);
    for (int i = 0; i < 2; i++) {
        pthread_join(threads[i], NULL);
        out("thread %d: 3000 faults, precise: %d\n", i + 1, runs[i].precise);
    }
    return 0;
}
