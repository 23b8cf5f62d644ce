/* segment_loads.c - loading DS, ES, SS, FS and GS with selectors of Linux's x86-64 GDT from
 * user mode.
 *
 * Rules pinned (each compared with the host kernel):
 *  - DS and ES take the null selector (any RPL), __USER32_CS (0x23), __USER_DS (0x2b),
 *    __USER_CS (0x33) and the per-CPU segment (0x7b), with any RPL (0x20, 0x28, 0x30, 0x78);
 *    the selector reads back as loaded;
 *  - kernel segments (0x08-0x1b), the TSS and LDT entries, empty TLS entries, an LDT selector
 *    (TI set) and selectors past the GDT's end are SIGSEGV with si_code SI_KERNEL, the register
 *    unchanged;
 *  - SS takes only 0x2b (the null selector, another RPL or a code segment: SIGSEGV);
 *  - GS and FS take what DS takes, and the load sets the base to 0 (the descriptor's), also for
 *    the null selector; a refused load leaves selector and base alone (FS is glibc's thread
 *    pointer: the test puts its base back with raw instructions before anything else runs);
 *  - a selector loaded from memory works like one from a register;
 *  - DS keeps its value across a system call, in a signal handler and after it returns, and in a
 *    forked child.
 */
#include "guest_util.h"

#include <asm/prctl.h>
#include <sys/wait.h>

static sigjmp_buf jump;
static volatile int caught_code;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    caught_code = si->si_code;
    siglongjmp(jump, 1);
}

static unsigned short read_ds(void)
{
    unsigned short v;
    __asm__ volatile("mov %%ds,%0" : "=r"(v));
    return v;
}

static void load_ds(unsigned short v) { __asm__ volatile("mov %0,%%ds" ::"r"(v)); }
static void load_es(unsigned short v) { __asm__ volatile("mov %0,%%es" ::"r"(v)); }
static void load_ss(unsigned short v) { __asm__ volatile("mov %0,%%ss" ::"r"(v)); }

static unsigned short read_seg(int which)
{
    unsigned short v;
    if (which == 0)
        __asm__ volatile("mov %%ds,%0" : "=r"(v));
    else if (which == 1)
        __asm__ volatile("mov %%es,%0" : "=r"(v));
    else
        __asm__ volatile("mov %%ss,%0" : "=r"(v));
    return v;
}

static void try_load(int which, unsigned short selector)
{
    static const char *names[] = {"ds", "es", "ss"};
    caught_code = 0;
    if (!sigsetjmp(jump, 1)) {
        if (which == 0)
            load_ds(selector);
        else if (which == 1)
            load_es(selector);
        else
            load_ss(selector);
    }
    out("%s <- %#06x: %s, now %#x\n", names[which], selector,
        caught_code ? (caught_code == 0x80 ? "SIGSEGV SI_KERNEL" : "SIGSEGV other") : "ok", read_seg(which));
    load_ds(0);
    load_es(0);
    load_ss(0x2b);
}

/* GS with a base set first: what the load leaves in the selector and the base. */
static void try_gs(unsigned short selector)
{
    unsigned long base = 0;
    syscall(SYS_arch_prctl, ARCH_SET_GS, 0x12345000UL);
    caught_code = 0;
    if (!sigsetjmp(jump, 1))
        __asm__ volatile("mov %0,%%gs" ::"r"(selector));
    unsigned short now;
    __asm__ volatile("mov %%gs,%0" : "=r"(now));
    syscall(SYS_arch_prctl, ARCH_GET_GS, &base);
    out("gs <- %#06x: %s, now %#x, base %#lx\n", selector,
        caught_code ? (caught_code == 0x80 ? "SIGSEGV SI_KERNEL" : "SIGSEGV other") : "ok", now, base);
    const unsigned short null = 0;
    __asm__ volatile("mov %0,%%gs" ::"r"(null));
    syscall(SYS_arch_prctl, ARCH_SET_GS, 0UL);
}

/* FS holds glibc's thread pointer: the load and the reads of the result are raw instructions
 * and system calls, and the base is put back before anything else runs. */
static void try_fs(unsigned short selector)
{
    unsigned long saved = 0, base = 0;
    unsigned short now, null = 0;
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"(SYS_arch_prctl), "D"(ARCH_GET_FS), "S"(&saved) : "rcx", "r11", "memory");
    __asm__ volatile("mov %0,%%fs" ::"r"(selector));
    __asm__ volatile("mov %%fs,%0" : "=r"(now));
    __asm__ volatile("syscall" : "=a"(r) : "0"(SYS_arch_prctl), "D"(ARCH_GET_FS), "S"(&base) : "rcx", "r11", "memory");
    __asm__ volatile("mov %0,%%fs" ::"r"(null));
    __asm__ volatile("syscall" : "=a"(r) : "0"(SYS_arch_prctl), "D"(ARCH_SET_FS), "S"(saved) : "rcx", "r11", "memory");
    (void)r;
    out("fs <- %#06x: now %#x, base %#lx\n", selector, now, base);
}

static volatile unsigned short ds_in_handler;
static void on_usr1(int sig)
{
    (void)sig;
    ds_in_handler = read_ds();
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    static const unsigned short selectors[] = {0,    1,    3,    0x08, 0x10, 0x13, 0x18, 0x1b, 0x20,
                                               0x23, 0x28, 0x2b, 0x30, 0x33, 0x38, 0x3b, 0x43, 0x53,
                                               0x63, 0x6b, 0x73, 0x78, 0x7b, 0x83, 0x2f, 0xffff};
    for (unsigned i = 0; i < sizeof selectors / sizeof *selectors; ++i)
        try_load(0, selectors[i]);
    try_load(1, 0x2b);
    try_load(1, 0x10);
    static const unsigned short ss_selectors[] = {0, 3, 0x23, 0x28, 0x2b, 0x33, 0x7b};
    for (unsigned i = 0; i < sizeof ss_selectors / sizeof *ss_selectors; ++i)
        try_load(2, ss_selectors[i]);

    /* GS (glibc does not use it): the same selectors as DS, and the base the load gives. */
    static const unsigned short gs_selectors[] = {0, 3, 0x10, 0x23, 0x28, 0x2b, 0x33, 0x63, 0x7b, 0x2f};
    for (unsigned i = 0; i < sizeof gs_selectors / sizeof *gs_selectors; ++i)
        try_gs(gs_selectors[i]);
    try_fs(0x2b);
    try_fs(0x33);

    unsigned short in_memory = 0x33, es;
    __asm__ volatile("mov %0,%%es" ::"m"(in_memory));
    __asm__ volatile("mov %%es,%0" : "=r"(es));
    out("es from memory: %#x\n", es);
    load_es(0);

    load_ds(0x2b);
    getppid();
    out("ds after a system call: %#x\n", read_ds());
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    out("ds in the handler: %#x, after it: %#x\n", ds_in_handler, read_ds());
    pid_t child = fork();
    if (child == 0) {
        out("ds in the child: %#x\n", read_ds());
        _exit(0);
    }
    waitpid(child, NULL, 0);
    load_ds(0);
    return 0;
}
