/* cpu_initial_state.c - the CPU state Linux gives a program at exec and a signal handler.
 *
 * At exec (start_thread, fpu__clear_user_states): general registers zero but rsp, RFLAGS 0x202,
 * cs 0x33 / ss 0x2b / data segments 0, the x87 control word 0x037F with an empty stack, MXCSR
 * 0x1F80, vector registers zero. The ELF entry is a small stub (cpu_state_entry, linked with
 * --entry) that records the state before glibc's _start runs.
 *
 * A signal handler starts from the same FPU/SSE state; the interrupted one is saved in the
 * frame (uc_mcontext.fpregs: the FXSAVE image with struct _fpx_sw_bytes in its software bytes
 * and FP_XSTATE_MAGIC2 after the XSAVE area) and rt_sigreturn loads it back, with any change
 * the handler made there. Only what is the same on every x86-64 Linux is printed (no sizes
 * that depend on the host CPU's XSAVE features).
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

/* What the entry stub records (order: rax rbx rcx rdx rsi rdi rbp r8..r15, then rsp). */
uint64_t entry_gprs[16];
uint64_t entry_flags;
uint16_t entry_segs[6]; /* cs ss ds es fs gs */
uint32_t entry_mxcsr;
uint16_t entry_fenv[14]; /* fnstenv: cw, sw, tw at words 0, 2, 4 */
unsigned char entry_xmm[16][16];

__asm__(".text\n"
        ".globl cpu_state_entry\n"
        "cpu_state_entry:\n"
        "  mov %rax, entry_gprs+0(%rip)\n"
        "  mov %rbx, entry_gprs+8(%rip)\n"
        "  mov %rcx, entry_gprs+16(%rip)\n"
        "  mov %rdx, entry_gprs+24(%rip)\n"
        "  mov %rsi, entry_gprs+32(%rip)\n"
        "  mov %rdi, entry_gprs+40(%rip)\n"
        "  mov %rbp, entry_gprs+48(%rip)\n"
        "  mov %r8, entry_gprs+56(%rip)\n"
        "  mov %r9, entry_gprs+64(%rip)\n"
        "  mov %r10, entry_gprs+72(%rip)\n"
        "  mov %r11, entry_gprs+80(%rip)\n"
        "  mov %r12, entry_gprs+88(%rip)\n"
        "  mov %r13, entry_gprs+96(%rip)\n"
        "  mov %r14, entry_gprs+104(%rip)\n"
        "  mov %r15, entry_gprs+112(%rip)\n"
        "  mov %rsp, entry_gprs+120(%rip)\n"
        "  pushfq\n"
        "  popq entry_flags(%rip)\n"
        "  mov %cs, entry_segs+0(%rip)\n"
        "  mov %ss, entry_segs+2(%rip)\n"
        "  mov %ds, entry_segs+4(%rip)\n"
        "  mov %es, entry_segs+6(%rip)\n"
        "  mov %fs, entry_segs+8(%rip)\n"
        "  mov %gs, entry_segs+10(%rip)\n"
        "  stmxcsr entry_mxcsr(%rip)\n"
        "  fnstenv entry_fenv(%rip)\n"
        "  fldenv entry_fenv(%rip)\n" /* fnstenv masks exceptions: put the state back */
        "  movups %xmm0, entry_xmm+0(%rip)\n"
        "  movups %xmm1, entry_xmm+16(%rip)\n"
        "  movups %xmm2, entry_xmm+32(%rip)\n"
        "  movups %xmm3, entry_xmm+48(%rip)\n"
        "  movups %xmm4, entry_xmm+64(%rip)\n"
        "  movups %xmm5, entry_xmm+80(%rip)\n"
        "  movups %xmm6, entry_xmm+96(%rip)\n"
        "  movups %xmm7, entry_xmm+112(%rip)\n"
        "  movups %xmm8, entry_xmm+128(%rip)\n"
        "  movups %xmm9, entry_xmm+144(%rip)\n"
        "  movups %xmm10, entry_xmm+160(%rip)\n"
        "  movups %xmm11, entry_xmm+176(%rip)\n"
        "  movups %xmm12, entry_xmm+192(%rip)\n"
        "  movups %xmm13, entry_xmm+208(%rip)\n"
        "  movups %xmm14, entry_xmm+224(%rip)\n"
        "  movups %xmm15, entry_xmm+240(%rip)\n"
        "  jmp _start\n");

struct fpu_words {
    unsigned cw, sw, tw, mxcsr;
};

static struct fpu_words live_fpu(void)
{
    uint16_t env[14];
    uint32_t mxcsr;
    __asm__ volatile("fnstenv %0\n\tfldenv %0\n\tstmxcsr %1" : "=m"(env), "=m"(mxcsr));
    return (struct fpu_words){env[0], env[2], env[4], mxcsr};
}

static void print_fpu(const char *where, struct fpu_words f)
{
    printf("%s: fcw %#06x fsw %#06x ftw %#06x mxcsr %#06x\n", where, f.cw, f.sw, f.tw, f.mxcsr);
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void print_entry_state(const char *label)
{
    static const char *const names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                          "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
    printf("%s:", label);
    for (int i = 0; i < 15; i++)
        printf(" %s=%#llx", names[i], (unsigned long long)entry_gprs[i]);
    printf("\n%s: rsp %% 16 = %llu, rflags %#llx\n", label,
           (unsigned long long)(entry_gprs[15] % 16), (unsigned long long)entry_flags);
    printf("%s: cs %#x ss %#x ds %#x es %#x fs %#x gs %#x\n", label, entry_segs[0], entry_segs[1],
           entry_segs[2], entry_segs[3], entry_segs[4], entry_segs[5]);
    print_fpu(label, (struct fpu_words){entry_fenv[0], entry_fenv[2], entry_fenv[4], entry_mxcsr});
    printf("%s: xmm0-15 zero: %s\n", label, all_zero(entry_xmm, sizeof entry_xmm) ? "yes" : "no");
}

static unsigned short get_cw(void)
{
    unsigned short cw;
    __asm__ volatile("fnstcw %0" : "=m"(cw));
    return cw;
}

static void set_cw(unsigned short cw) { __asm__ volatile("fldcw %0" : : "m"(cw)); }

static volatile long double one = 1.0L, three = 3.0L;

static void print_third(const char *when) { printf("1/3 %s: %.21Lf\n", when, one / three); }

static void long_double_checks(void)
{
    print_third("at main");
    set_cw(get_cw()); /* an fldcw round trip */
    print_third("after fldcw round trip");
    set_cw(0x027f); /* double precision */
    print_third("at double precision");
    set_cw(0x037f);
    print_third("back at extended precision");
    volatile long double big = 12345678901.75L;
    long long truncated = (long long)big; /* fnstcw/fldcw/fistp/fldcw */
    printf("(long long)%.2Lf = %lld, fcw %#06x\n", big, truncated, get_cw());
    print_third("after a long double to long long conversion");
}

/* The interrupted state the signal frame must carry. */
static const uint32_t kPatternMxcsr = 0x1f80 | 0x6000; /* round toward zero */
static const uint32_t kPattern[4] = {0x11223344, 0x55667788, 0x99aabbcc, 0xddeeff00};
static const uint32_t kEditedMxcsr = 0x1f80 | 0x2000; /* round down */
static const uint32_t kEdited[4] = {0xcafef00d, 0x01234567, 0x89abcdef, 0x0badbeef};

struct sw_bytes { /* struct _fpx_sw_bytes, at byte 464 of the FXSAVE image */
    uint32_t magic1, extended_size;
    uint64_t xfeatures;
    uint32_t xstate_size, padding[7];
};

static void check_frame(ucontext_t *uc)
{
    struct _libc_fpstate *fp = uc->uc_mcontext.fpregs;
    printf("handler: frame fcw %#06x mxcsr %#06x ftw(abridged) %#04x\n", fp->cwd, fp->mxcsr,
           fp->ftw);
    printf("handler: frame xmm7 %s the pattern\n",
           memcmp(&fp->_xmm[7], kPattern, 16) == 0 ? "holds" : "does not hold");
    long double st0;
    memcpy(&st0, &fp->_st[0], 10);
    printf("handler: frame st0 %.3Lf\n", st0);
    struct sw_bytes sw;
    memcpy(&sw, (const char *)fp + 464, sizeof sw);
    const int magic1 = sw.magic1 == 0x46505853;
    printf("handler: uc_flags UC_FP_XSTATE %s, magic1 %s\n", (uc->uc_flags & 1) ? "set" : "clear",
           magic1 ? "ok" : "bad");
    if (magic1) {
        uint32_t magic2;
        uint64_t xstate_bv;
        memcpy(&magic2, (const char *)fp + sw.xstate_size, 4);
        memcpy(&xstate_bv, (const char *)fp + 512, 8);
        printf("handler: extended_size = xstate_size + 4: %s, magic2 %s, xfeatures has x87+SSE: "
               "%s, xstate_bv has x87+SSE: %s\n",
               sw.extended_size == sw.xstate_size + 4 ? "yes" : "no",
               magic2 == 0x46505845 ? "ok" : "bad", (sw.xfeatures & 3) == 3 ? "yes" : "no",
               (xstate_bv & 3) == 3 ? "yes" : "no");
    }
    /* Edits that rt_sigreturn must load. */
    fp->mxcsr = kEditedMxcsr;
    memcpy(&fp->_xmm[7], kEdited, 16);
    fp->cwd = 0x027f;
    long double two = 2.0L;
    memcpy(&fp->_st[0], &two, 10);
}

static void on_usr1(int sig, siginfo_t *info, void *context)
{
    struct fpu_words f = live_fpu(); /* first: nothing else has touched the FPU yet */
    unsigned char xmm7[16];
    __asm__ volatile("movups %%xmm7, %0" : "=m"(xmm7));
    (void)sig;
    (void)info;
    print_fpu("handler", f);
    printf("handler: live xmm7 zero: %s\n", all_zero(xmm7, sizeof xmm7) ? "yes" : "no");
    check_frame(context);
}

static void signal_checks(void)
{
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);

    const unsigned short extended_cw = 0x037f, single_cw = 0x007f;
    const uint32_t default_mxcsr = 0x1f80;
    uint32_t mxcsr_after;
    unsigned char xmm_after[16];
    unsigned short cw_after;
    long double st0_after;
    long r;
    /* One asm block, so that nothing between setting the state and the signal touches it: the
     * signal arrives as kill() returns. */
    __asm__ volatile("fldcw %[single]\n\t"
                     "fld1\n\t"
                     "movups %[pattern], %%xmm7\n\t"
                     "ldmxcsr %[pmxcsr]\n\t"
                     "syscall\n\t"
                     "stmxcsr %[mafter]\n\t"
                     "movups %%xmm7, %[xafter]\n\t"
                     "fnstcw %[cafter]\n\t"
                     "fstpt %[stafter]\n\t"
                     "ldmxcsr %[dmxcsr]\n\t"
                     "fldcw %[ext]\n\t"
                     : "=a"(r), [mafter] "=m"(mxcsr_after), [xafter] "=m"(xmm_after),
                       [cafter] "=m"(cw_after), [stafter] "=m"(st0_after)
                     : "a"((long)SYS_kill), "D"((long)getpid()), "S"((long)SIGUSR1),
                       [single] "m"(single_cw), [pattern] "m"(kPattern),
                       [pmxcsr] "m"(kPatternMxcsr), [dmxcsr] "m"(default_mxcsr),
                       [ext] "m"(extended_cw)
                     : "rcx", "r11", "xmm7", "memory");
    printf("after sigreturn: kill returned %ld, mxcsr %#06x (%s), xmm7 %s, fcw %#06x, st0 %.3Lf\n",
           r, mxcsr_after, mxcsr_after == kEditedMxcsr ? "the handler's" : "not the handler's",
           memcmp(xmm_after, kEdited, 16) == 0 ? "the handler's" : "not the handler's", cw_after,
           st0_after);
    /* Exception flags left by earlier arithmetic are the emulated FPU's business: not shown. */
    struct fpu_words f = live_fpu();
    printf("after the handler: fcw %#06x fsw top %u ftw %#06x\n", f.cw, (f.sw >> 11) & 7, f.tw);
}

/* fork copies the FPU/SSE state; execve starts afresh however dirty it was. */
static void fork_exec_checks(const char *self)
{
    const unsigned short single_cw = 0x007f, extended_cw = 0x037f;
    const uint32_t rz_mxcsr = 0x7f80, default_mxcsr = 0x1f80;
    fflush(stdout);
    __asm__ volatile("fldcw %0\n\tldmxcsr %1" : : "m"(single_cw), "m"(rz_mxcsr));
    pid_t pid = fork();
    if (pid == 0) {
        struct fpu_words f = live_fpu(); /* fsw: exception flags of earlier arithmetic, not shown */
        printf("forked child: fcw %#06x ftw %#06x mxcsr %#06x\n", f.cw, f.tw, f.mxcsr);
        fflush(stdout);
        char *argv[] = {(char *)self, "after-exec", NULL};
        char *envp[] = {NULL};
        long r;
        __asm__ volatile("fld1\n\tmovups %[pattern], %%xmm3\n\tsyscall"
                         : "=a"(r)
                         : "a"((long)SYS_execve), "D"(self), "S"(argv), "d"(envp),
                           [pattern] "m"(kPattern)
                         : "rcx", "r11", "xmm3", "memory");
        printf("execve failed: %ld\n", r);
        _exit(1);
    }
    __asm__ volatile("fldcw %0\n\tldmxcsr %1" : : "m"(extended_cw), "m"(default_mxcsr));
    int status = 0;
    waitpid(pid, &status, 0);
    printf("child status %#x\n", status);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
        print_entry_state("after execve");
        return 0;
    }
    print_entry_state("entry");
    print_fpu("main", live_fpu());
    unsigned long flags;
    __asm__ volatile("pushfq\n\tpopq %0" : "=r"(flags));
    printf("main: rflags IF %lu DF %lu TF %lu AC %lu\n", (flags >> 9) & 1, (flags >> 10) & 1,
           (flags >> 8) & 1, (flags >> 18) & 1);
    long_double_checks();
    signal_checks();
    fork_exec_checks(argv[0]);
    print_third("at exit");
    return 0;
}
