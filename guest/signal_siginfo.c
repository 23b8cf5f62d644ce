/* signal_siginfo.c - what a SA_SIGINFO handler sees for synchronous faults and sent signals.
 *
 * For each case: si_signo, si_code name, si_errno, si_addr (relative to the mapping base or to
 * the faulting instruction), and from the ucontext: REG_TRAPNO (14 page fault, 13 #GP, 6 #UD,
 * 3 #BP, 0 #DE), REG_ERR (x86 page-fault error code: P=1 protection, W=2 write, U=4 user,
 * I=0x10 instruction fetch; Linux adds P for user accesses to kernel addresses), REG_CR2 and
 * whether REG_RIP is the faulting instruction. Cases: unmapped read/write, read-only write
 * (untouched and touched page), PROT_NONE read, guard read/write/execute, execute on a
 * non-executable page, NULL, kernel and non-canonical addresses, ud2, divide by zero, int3,
 * kill() and tgkill() to self.
 */
#include "guest_util.h"
#include <ucontext.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code, got_errno, got_pid_is_self;
static void *volatile got_addr;
static volatile long got_trapno, got_err;
static volatile unsigned long got_rip, got_cr2;
static volatile unsigned long insn_rip; /* address of the instruction expected to fault */

static void handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    got_sig = sig;
    got_code = si->si_code;
    got_errno = si->si_errno;
    got_addr = si->si_addr;
    got_pid_is_self = si->si_pid == getpid();
    got_trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    got_err = uc->uc_mcontext.gregs[REG_ERR];
    got_rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
    got_cr2 = (unsigned long)uc->uc_mcontext.gregs[REG_CR2];
    siglongjmp(jb, 1);
}

static const char *code_name(int sig, int code)
{
    if (sig == SIGILL && code == ILL_ILLOPN)
        return "ILL_ILLOPN";
    if (sig == SIGFPE && code == FPE_INTDIV)
        return "FPE_INTDIV";
    if (sig == SIGTRAP && code == TRAP_BRKPT)
        return "TRAP_BRKPT";
    return segv_code_name(code);
}

static const char *errbits(long err, char *buf, size_t n)
{
    snprintf(buf, n, "0x%lx(%s%s%s%s%s)", err, err & 1 ? "P" : "-", err & 2 ? "W" : "-",
             err & 4 ? "U" : "-", err & 0x10 ? "I" : "-", err & 0x20 ? "K" : "-");
    return buf;
}

typedef void (*trigger_fn)(void *arg);
#define INSN_BASE ((const void *)-1L) /* "relative to the faulting instruction" */

/* Runs trigger(arg) and renders the signal it raised. base: for si_addr/cr2 offsets.
 * pf: 0 sent signal, 1 exception (trapno), 2 page fault (trapno, err, cr2). */
static void run(const char *label, trigger_fn trigger, void *arg, const void *base, int pf,
                const char *want)
{
    char got[256];
    insn_rip = 0;
    if (sigsetjmp(jb, 1) == 0) {
        trigger(arg);
        snprintf(got, sizeof got, "no signal");
    } else {
        const void *rel = base == INSN_BASE ? (const void *)insn_rip : base;
        int n = snprintf(got, sizeof got, "%s %s errno=%d", signame(got_sig),
                         code_name(got_sig, got_code), got_errno);
        if (pf >= 1) /* for sent signals si_addr overlays si_pid/si_uid */
            n += snprintf(got + n, sizeof got - (size_t)n, " addr=%s",
                          rel ? OFF(got_addr, rel) : got_addr ? "nonzero" : "0");
        /* trapno/err/cr2 are only meaningful for exceptions: for sent signals the kernel
         * reports whatever the last exception left there. */
        if (pf >= 1)
            n += snprintf(got + n, sizeof got - (size_t)n, " trapno=%ld", got_trapno);
        if (pf >= 2)
            n += snprintf(got + n, sizeof got - (size_t)n, " err=%s cr2=%s",
                          errbits(got_err, (char[32]){0}, 32),
                          rel ? OFF((void *)got_cr2, rel) : "?");
        if (insn_rip)
            snprintf(got + n, sizeof got - (size_t)n, " rip=insn%+ld",
                     (long)(got_rip - insn_rip));
    }
    expect(label, got, want);
}

/* Triggers: each records the faulting instruction's address first. */
static void t_read(void *p)
{
    unsigned char v;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %1\n1:\tmovb (%2), %0"
                     : "=q"(v), "=m"(insn_rip)
                     : "r"(p)
                     : "rax", "memory");
}
static void t_write(void *p)
{
    __asm__ volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %0\n1:\tmovb $1, (%1)"
                     : "=m"(insn_rip)
                     : "r"(p)
                     : "rax", "memory");
}
static void t_exec(void *p)
{
    insn_rip = (unsigned long)p;
    ((void (*)(void))p)();
}
static void t_ud2(void *p)
{
    (void)p;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %0\n1:\tud2" : "=m"(insn_rip) : : "rax");
}
static void t_div0(void *p)
{
    long zero = (long)(uintptr_t)p; /* 0 at run time, unknown to the compiler */
    __asm__ volatile("lea 1f(%%rip), %%rcx\n\tmov %%rcx, %0\n\tmov $7, %%eax\n\tcqo\n"
                     "1:\tidivq %1"
                     : "=m"(insn_rip)
                     : "r"(zero)
                     : "rax", "rcx", "rdx", "memory");
}
static void t_int3(void *p)
{
    (void)p;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\tmov %%rax, %0\n1:\tint3" : "=m"(insn_rip) : : "rax");
}
static void t_kill(void *p)
{
    (void)p;
    kill(getpid(), SIGSEGV);
}
static void t_tgkill(void *p)
{
    (void)p;
    self_tgkill(SIGSEGV);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGTRAP, &sa, NULL);

    char *b = map_anon(8, PROT_READ | PROT_WRITE);
    munmap(b + PG, PG);                        /* p1: hole */
    mprotect(b + 2 * PG, 2 * PG, PROT_READ);   /* p2, p3: read-only (p3 will be read first) */
    mprotect(b + 4 * PG, PG, PROT_NONE);       /* p4: PROT_NONE */
    madvise(b + 5 * PG, PG, MADV_GUARD_INSTALL); /* p5: guard */
    b[6 * PG] = 1;                             /* p6: touched RW page (not executable) */
    volatile unsigned char sink = b[3 * PG];   /* p3: read-only, zero page mapped */
    (void)sink;

    run("read hole", t_read, b + PG + 0x10, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x1010 trapno=14 err=0x4(--U--) cr2=+0x1010 rip=insn+0");
    run("write hole", t_write, b + PG + 0x20, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x1020 trapno=14 err=0x6(-WU--) cr2=+0x1020 rip=insn+0");
    run("write read-only, untouched", t_write, b + 2 * PG + 0x30, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x2030 trapno=14 err=0x6(-WU--) cr2=+0x2030 rip=insn+0");
    run("write read-only, read before", t_write, b + 3 * PG + 0x40, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x3040 trapno=14 err=0x7(PWU--) cr2=+0x3040 rip=insn+0");
    run("read PROT_NONE", t_read, b + 4 * PG + 0x50, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x4050 trapno=14 err=0x4(--U--) cr2=+0x4050 rip=insn+0");
    run("read guard", t_read, b + 5 * PG + 0x60, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x5060 trapno=14 err=0x4(--U--) cr2=+0x5060 rip=insn+0");
    run("write guard", t_write, b + 5 * PG + 0x70, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x5070 trapno=14 err=0x6(-WU--) cr2=+0x5070 rip=insn+0");
    run("execute guard", t_exec, b + 5 * PG + 0x80, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x5080 trapno=14 err=0x14(--UI-) cr2=+0x5080 rip=insn+0");
    run("execute hole", t_exec, b + PG + 0x90, b, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x1090 trapno=14 err=0x14(--UI-) cr2=+0x1090 rip=insn+0");
    run("execute RW page (touched)", t_exec, b + 6 * PG + 0xa0, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x60a0 trapno=14 err=0x15(P-UI-) cr2=+0x60a0 rip=insn+0");
    /* A fetch from a not-present page of a readable VMA is handled as a read fault first (the
     * page gets mapped, non-executable); the retried fetch then faults with P set. */
    expect("p7 before the exec attempt", PM(b + 7 * PG), "g=0 p=0");
    run("execute RW page (untouched)", t_exec, b + 7 * PG + 0xb0, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x70b0 trapno=14 err=0x15(P-UI-) cr2=+0x70b0 rip=insn+0");
    expect("p7 after the exec attempt", PM(b + 7 * PG), "g=0 p=1");
    run("execute PROT_NONE", t_exec, b + 4 * PG + 0xc0, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x40c0 trapno=14 err=0x14(--UI-) cr2=+0x40c0 rip=insn+0");
    run("execute read-only, untouched", t_exec, b + 2 * PG + 0xd0, b, 2,
        "SIGSEGV SEGV_ACCERR errno=0 addr=+0x20d0 trapno=14 err=0x15(P-UI-) cr2=+0x20d0 rip=insn+0");
    run("read NULL+8 (offsets from 8)", t_read, (void *)8, (void *)8, 2,
        "SIGSEGV SEGV_MAPERR errno=0 addr=+0x0 trapno=14 err=0x4(--U--) cr2=+0x0 rip=insn+0");
    run("read kernel address", t_read, (void *)0xffff888000000000UL, (void *)0xffff888000000000UL,
        2, "SIGSEGV SEGV_MAPERR errno=0 addr=+0x0 trapno=14 err=0x5(P-U--) cr2=+0x0 rip=insn+0");
    run("read non-canonical address", t_read, (void *)0x0000800000000000UL, NULL, 2,
        "SIGSEGV SI_KERNEL errno=0 addr=0 trapno=13 err=0x0(-----) cr2=? rip=insn+0");
    run("ud2", t_ud2, NULL, INSN_BASE, 1,
        "SIGILL ILL_ILLOPN errno=0 addr=+0x0 trapno=6 rip=insn+0");
    run("divide by zero", t_div0, NULL, INSN_BASE, 1,
        "SIGFPE FPE_INTDIV errno=0 addr=+0x0 trapno=0 rip=insn+0");
    run("int3", t_int3, NULL, NULL, 1, "SIGTRAP SI_KERNEL errno=0 addr=0 trapno=3 rip=insn+1");
    run("kill(getpid(), SIGSEGV)", t_kill, NULL, NULL, 0, "SIGSEGV SI_USER errno=0");
    expect("kill: si_pid is our pid", got_pid_is_self ? "yes" : "no", "yes");
    run("tgkill(self, SIGSEGV)", t_tgkill, NULL, NULL, 0, "SIGSEGV SI_TKILL errno=0");
    expect("tgkill: si_pid is our pid", got_pid_is_self ? "yes" : "no", "yes");
    return summary("signal_siginfo");
}
