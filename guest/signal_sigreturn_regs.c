/* signal_sigreturn_regs.c - rt_sigreturn restores the complete register state.
 *
 * An assembly routine loads known values into all 15 general registers (rdi = a guard-page
 * address), xmm0-xmm15, MXCSR (round-toward-zero), sets DF and clears CF, writes a pattern
 * into the 128-byte red zone below rsp, then faults with a 2-byte `movb (%rdi), %al`.
 * The SIGSEGV handler checks the ucontext holds exactly those values (GPRs, EFLAGS.DF, xmm via
 * uc_mcontext.fpregs, MXCSR), checks that it runs itself with DF clear and the default MXCSR,
 * clobbers all xmm registers, then edits the context: RIP += 2 (past the faulting
 * instruction), r12 := new value, CF := 1, xmm5 := new value. After rt_sigreturn the routine
 * stores every register: all must match, with exactly the handler's edits, and the red zone must
 * be intact. A second routine does the same around a tgkill() syscall that delivers SIGUSR1
 * (asynchronous delivery on syscall exit; rax = 0, rcx/r11 are clobbered by `syscall` itself),
 * whose handler edits r13.
 */
#include "guest_util.h"
#include <ucontext.h>

enum { RAX, RBX, RCX, RDX, RSI, RDI, RBP, R8, R9, R10, R11, R12, R13, R14, R15, NGPR };
static const char *const gpr_names[NGPR] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                            "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
/* ucontext index of each register above */
static const int greg_index[NGPR] = {REG_RAX, REG_RBX, REG_RCX, REG_RDX, REG_RSI,
                                     REG_RDI, REG_RBP, REG_R8,  REG_R9,  REG_R10,
                                     REG_R11, REG_R12, REG_R13, REG_R14, REG_R15};

struct regs {
    uint64_t gpr[NGPR];     /* 0 */
    uint64_t flags;         /* 120 */
    uint8_t xmm[16][16];    /* 128 */
    uint64_t mxcsr;         /* 384 */
    uint64_t redzone[4];    /* 392: at rsp-8, -40, -72, -128 */
};
_Static_assert(__builtin_offsetof(struct regs, flags) == 120, "layout");
_Static_assert(__builtin_offsetof(struct regs, xmm) == 128, "layout");
_Static_assert(__builtin_offsetof(struct regs, mxcsr) == 384, "layout");
_Static_assert(__builtin_offsetof(struct regs, redzone) == 392, "layout");

struct regs g_before, g_after;
uint32_t default_mxcsr = 0x1f80;
void fault_roundtrip(void);
void tgkill_roundtrip(void);
extern const char fault_insn[], fault_after[];

/* Both round trips end alike: every register, the four red-zone words, RFLAGS, the XMM
 * registers and MXCSR into g_after, then the default MXCSR and the callee-saved registers back. */
#define SAVE_AFTER_AND_RETURN \
    "  mov %rax, g_after+0(%rip)\n" \
    "  mov %rbx, g_after+8(%rip)\n" \
    "  mov %rcx, g_after+16(%rip)\n" \
    "  mov %rdx, g_after+24(%rip)\n" \
    "  mov %rsi, g_after+32(%rip)\n" \
    "  mov %rdi, g_after+40(%rip)\n" \
    "  mov %rbp, g_after+48(%rip)\n" \
    "  mov %r8, g_after+56(%rip)\n" \
    "  mov %r9, g_after+64(%rip)\n" \
    "  mov %r10, g_after+72(%rip)\n" \
    "  mov %r11, g_after+80(%rip)\n" \
    "  mov %r12, g_after+88(%rip)\n" \
    "  mov %r13, g_after+96(%rip)\n" \
    "  mov %r14, g_after+104(%rip)\n" \
    "  mov %r15, g_after+112(%rip)\n" \
    "  mov -8(%rsp), %rax\n" \
    "  mov %rax, g_after+392(%rip)\n" \
    "  mov -40(%rsp), %rax\n" \
    "  mov %rax, g_after+400(%rip)\n" \
    "  mov -72(%rsp), %rax\n" \
    "  mov %rax, g_after+408(%rip)\n" \
    "  mov -128(%rsp), %rax\n" \
    "  mov %rax, g_after+416(%rip)\n" \
    "  pushfq\n" \
    "  pop %rax\n" \
    "  mov %rax, g_after+120(%rip)\n" \
    "  cld\n" \
    "  movdqu %xmm0, g_after+128(%rip)\n" \
    "  movdqu %xmm1, g_after+144(%rip)\n" \
    "  movdqu %xmm2, g_after+160(%rip)\n" \
    "  movdqu %xmm3, g_after+176(%rip)\n" \
    "  movdqu %xmm4, g_after+192(%rip)\n" \
    "  movdqu %xmm5, g_after+208(%rip)\n" \
    "  movdqu %xmm6, g_after+224(%rip)\n" \
    "  movdqu %xmm7, g_after+240(%rip)\n" \
    "  movdqu %xmm8, g_after+256(%rip)\n" \
    "  movdqu %xmm9, g_after+272(%rip)\n" \
    "  movdqu %xmm10, g_after+288(%rip)\n" \
    "  movdqu %xmm11, g_after+304(%rip)\n" \
    "  movdqu %xmm12, g_after+320(%rip)\n" \
    "  movdqu %xmm13, g_after+336(%rip)\n" \
    "  movdqu %xmm14, g_after+352(%rip)\n" \
    "  movdqu %xmm15, g_after+368(%rip)\n" \
    "  stmxcsr g_after+384(%rip)\n" \
    "  ldmxcsr default_mxcsr(%rip)\n" \
    "  pop %r15\n" \
    "  pop %r14\n" \
    "  pop %r13\n" \
    "  pop %r12\n" \
    "  pop %rbx\n" \
    "  pop %rbp\n" \
    "  ret\n"

__asm__(".text\n"
    ".globl fault_roundtrip\n"
    ".type fault_roundtrip, @function\n"
    "fault_roundtrip:\n"
    "  push %rbp\n"
    "  push %rbx\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  mov g_before+392(%rip), %rax\n"
    "  mov %rax, -8(%rsp)\n"
    "  mov g_before+400(%rip), %rax\n"
    "  mov %rax, -40(%rsp)\n"
    "  mov g_before+408(%rip), %rax\n"
    "  mov %rax, -72(%rsp)\n"
    "  mov g_before+416(%rip), %rax\n"
    "  mov %rax, -128(%rsp)\n"
    "  ldmxcsr g_before+384(%rip)\n"
    "  movdqu g_before+128(%rip), %xmm0\n"
    "  movdqu g_before+144(%rip), %xmm1\n"
    "  movdqu g_before+160(%rip), %xmm2\n"
    "  movdqu g_before+176(%rip), %xmm3\n"
    "  movdqu g_before+192(%rip), %xmm4\n"
    "  movdqu g_before+208(%rip), %xmm5\n"
    "  movdqu g_before+224(%rip), %xmm6\n"
    "  movdqu g_before+240(%rip), %xmm7\n"
    "  movdqu g_before+256(%rip), %xmm8\n"
    "  movdqu g_before+272(%rip), %xmm9\n"
    "  movdqu g_before+288(%rip), %xmm10\n"
    "  movdqu g_before+304(%rip), %xmm11\n"
    "  movdqu g_before+320(%rip), %xmm12\n"
    "  movdqu g_before+336(%rip), %xmm13\n"
    "  movdqu g_before+352(%rip), %xmm14\n"
    "  movdqu g_before+368(%rip), %xmm15\n"
    "  mov g_before+0(%rip), %rax\n"
    "  mov g_before+8(%rip), %rbx\n"
    "  mov g_before+16(%rip), %rcx\n"
    "  mov g_before+24(%rip), %rdx\n"
    "  mov g_before+32(%rip), %rsi\n"
    "  mov g_before+40(%rip), %rdi\n"
    "  mov g_before+48(%rip), %rbp\n"
    "  mov g_before+56(%rip), %r8\n"
    "  mov g_before+64(%rip), %r9\n"
    "  mov g_before+72(%rip), %r10\n"
    "  mov g_before+80(%rip), %r11\n"
    "  mov g_before+88(%rip), %r12\n"
    "  mov g_before+96(%rip), %r13\n"
    "  mov g_before+104(%rip), %r14\n"
    "  mov g_before+112(%rip), %r15\n"
    "  std\n"
    "  clc\n"
    ".globl fault_insn\n"
    "fault_insn:\n"
    "  movb (%rdi), %al\n"
    ".globl fault_after\n"
    "fault_after:\n"
    SAVE_AFTER_AND_RETURN
    ".size fault_roundtrip, .-fault_roundtrip\n"
    ".globl tgkill_roundtrip\n"
    ".type tgkill_roundtrip, @function\n"
    "tgkill_roundtrip:\n"
    "  push %rbp\n"
    "  push %rbx\n"
    "  push %r12\n"
    "  push %r13\n"
    "  push %r14\n"
    "  push %r15\n"
    "  mov g_before+392(%rip), %rax\n"
    "  mov %rax, -8(%rsp)\n"
    "  mov g_before+400(%rip), %rax\n"
    "  mov %rax, -40(%rsp)\n"
    "  mov g_before+408(%rip), %rax\n"
    "  mov %rax, -72(%rsp)\n"
    "  mov g_before+416(%rip), %rax\n"
    "  mov %rax, -128(%rsp)\n"
    "  ldmxcsr g_before+384(%rip)\n"
    "  movdqu g_before+128(%rip), %xmm0\n"
    "  movdqu g_before+144(%rip), %xmm1\n"
    "  movdqu g_before+160(%rip), %xmm2\n"
    "  movdqu g_before+176(%rip), %xmm3\n"
    "  movdqu g_before+192(%rip), %xmm4\n"
    "  movdqu g_before+208(%rip), %xmm5\n"
    "  movdqu g_before+224(%rip), %xmm6\n"
    "  movdqu g_before+240(%rip), %xmm7\n"
    "  movdqu g_before+256(%rip), %xmm8\n"
    "  movdqu g_before+272(%rip), %xmm9\n"
    "  movdqu g_before+288(%rip), %xmm10\n"
    "  movdqu g_before+304(%rip), %xmm11\n"
    "  movdqu g_before+320(%rip), %xmm12\n"
    "  movdqu g_before+336(%rip), %xmm13\n"
    "  movdqu g_before+352(%rip), %xmm14\n"
    "  movdqu g_before+368(%rip), %xmm15\n"
    "  mov g_before+0(%rip), %rax\n"
    "  mov g_before+8(%rip), %rbx\n"
    "  mov g_before+16(%rip), %rcx\n"
    "  mov g_before+24(%rip), %rdx\n"
    "  mov g_before+32(%rip), %rsi\n"
    "  mov g_before+40(%rip), %rdi\n"
    "  mov g_before+48(%rip), %rbp\n"
    "  mov g_before+56(%rip), %r8\n"
    "  mov g_before+64(%rip), %r9\n"
    "  mov g_before+72(%rip), %r10\n"
    "  mov g_before+80(%rip), %r11\n"
    "  mov g_before+88(%rip), %r12\n"
    "  mov g_before+96(%rip), %r13\n"
    "  mov g_before+104(%rip), %r14\n"
    "  mov g_before+112(%rip), %r15\n"
    "  std\n"
    "  clc\n"
    "  syscall\n"
    SAVE_AFTER_AND_RETURN
    ".size tgkill_roundtrip, .-tgkill_roundtrip\n"
);

#define MXCSR_RZ 0x7f80u
#define NEW_R12 0xfeedfacecafebeefULL
#define NEW_R13 0x0badc0de0badc0deULL

static char *guard;
/* what the handlers saw */
static volatile int h_gpr_ok, h_xmm_ok, h_mxcsr_ok, h_df_saved, h_cf_saved, h_own_df, h_rip_ok,
    h_addr_ok, h_len_ok;
static volatile unsigned h_own_mxcsr;

static void clobber_fpu(void)
{
    __asm__ volatile("pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
                     "pxor %%xmm3, %%xmm3\n\tpxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\t"
                     "pxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\tpxor %%xmm8, %%xmm8\n\t"
                     "pxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
                     "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\t"
                     "pxor %%xmm15, %%xmm15\n\t"
                     :
                     :
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                       "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    unsigned m = 0x1f80 | 0x4000; /* round down */
    __asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static void inspect(ucontext_t *uc, int skip_syscall_regs)
{
    unsigned long own_flags;
    unsigned own_mxcsr;
    __asm__ volatile("pushfq\n\tpop %0" : "=r"(own_flags));
    __asm__ volatile("stmxcsr %0" : "=m"(own_mxcsr));
    h_own_df = (own_flags >> 10) & 1;
    h_own_mxcsr = own_mxcsr;
    int ok = 0;
    for (int i = 0; i < NGPR; i++) {
        if (skip_syscall_regs && (i == RAX || i == RCX || i == R11)) {
            ok++;
            continue;
        }
        ok += (uint64_t)uc->uc_mcontext.gregs[greg_index[i]] == g_before.gpr[i];
    }
    h_gpr_ok = ok;
    ok = 0;
    for (int i = 0; i < 16; i++)
        ok += memcmp(uc->uc_mcontext.fpregs->_xmm[i].element, g_before.xmm[i], 16) == 0;
    h_xmm_ok = ok;
    h_mxcsr_ok = uc->uc_mcontext.fpregs->mxcsr == MXCSR_RZ;
    h_df_saved = (uc->uc_mcontext.gregs[REG_EFL] >> 10) & 1;
    h_cf_saved = uc->uc_mcontext.gregs[REG_EFL] & 1;
}

static void h_segv(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    ucontext_t *uc = ucv;
    inspect(uc, 0);
    h_addr_ok = si->si_addr == guard + 0x123;
    h_rip_ok = (const char *)uc->uc_mcontext.gregs[REG_RIP] == fault_insn;
    h_len_ok = fault_after - fault_insn == 2;
    clobber_fpu();
    uc->uc_mcontext.gregs[REG_RIP] += 2;
    uc->uc_mcontext.gregs[REG_R12] = (greg_t)NEW_R12;
    uc->uc_mcontext.gregs[REG_EFL] |= 1;
    memset(uc->uc_mcontext.fpregs->_xmm[5].element, 0xee, 16);
}

static void h_usr1(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    inspect(uc, 1);
    clobber_fpu();
    uc->uc_mcontext.gregs[REG_R13] = (greg_t)NEW_R13;
}

static void prepare(void)
{
    for (int i = 0; i < NGPR; i++)
        g_before.gpr[i] = 0x0101010101010101ULL * (uint64_t)(i + 1) + 0x1000ULL * (uint64_t)i;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++)
            g_before.xmm[i][j] = (uint8_t)((i * 16 + j) ^ 0x5a);
    g_before.mxcsr = MXCSR_RZ;
    for (int i = 0; i < 4; i++)
        g_before.redzone[i] = 0x7265647a6f6e6530ULL + (uint64_t)i;
    memset(&g_after, 0, sizeof g_after);
}

/* Compare g_after with g_before; edited registers expect their new values. */
static void compare(const char *what, int edited_gpr, uint64_t edited_val, int edited_xmm,
                    int syscall_clobbers)
{
    char bad[256] = "";
    int ngood = 0;
    for (int i = 0; i < NGPR; i++) {
        if (syscall_clobbers && (i == RCX || i == R11)) {
            ngood++;
            continue;
        }
        uint64_t want = i == edited_gpr ? edited_val : g_before.gpr[i];
        if (syscall_clobbers && i == RAX)
            want = 0;
        if (g_after.gpr[i] == want)
            ngood++;
        else
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " %s", gpr_names[i]);
    }
    char l[128];
    snprintf(l, sizeof l, "%s: general registers as expected", what);
    expectf(l, "15/15", "%d/15%s", ngood, bad);
    bad[0] = 0;
    ngood = 0;
    for (int i = 0; i < 16; i++) {
        uint8_t want[16];
        if (i == edited_xmm)
            memset(want, 0xee, 16);
        else
            memcpy(want, g_before.xmm[i], 16);
        if (memcmp(g_after.xmm[i], want, 16) == 0)
            ngood++;
        else
            snprintf(bad + strlen(bad), sizeof bad - strlen(bad), " xmm%d", i);
    }
    snprintf(l, sizeof l, "%s: xmm registers as expected", what);
    expectf(l, "16/16", "%d/16%s", ngood, bad);
    snprintf(l, sizeof l, "%s: mxcsr", what);
    expectf(l, "0x7f80", "0x%llx", (unsigned long long)g_after.mxcsr);
    int rz = 0;
    for (int i = 0; i < 4; i++)
        rz += g_after.redzone[i] == g_before.redzone[i];
    snprintf(l, sizeof l, "%s: red zone intact", what);
    expectf(l, "4/4", "%d/4", rz);
}

int main(void)
{
    guard = map_anon(1, PROT_READ | PROT_WRITE);
    madvise(guard, PG, MADV_GUARD_INSTALL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sa.sa_sigaction = h_usr1;
    sigaction(SIGUSR1, &sa, NULL);

    out("-- synchronous: guard-page fault, handler skips the instruction --\n");
    prepare();
    g_before.gpr[RDI] = (uint64_t)(uintptr_t)(guard + 0x123);
    fault_roundtrip();
    expectf("handler: si_addr, RIP at the faulting insn, insn length 2", "yes yes yes",
            "%s %s %s", h_addr_ok ? "yes" : "no", h_rip_ok ? "yes" : "no", h_len_ok ? "yes" : "no");
    expectf("handler: ucontext GPRs match", "15/15", "%d/15", h_gpr_ok);
    expectf("handler: ucontext xmm match", "16/16", "%d/16", h_xmm_ok);
    expectf("handler: ucontext mxcsr, EFLAGS.DF, EFLAGS.CF", "RZ 1 0", "%s %d %d",
            h_mxcsr_ok ? "RZ" : "other", h_df_saved, h_cf_saved);
    expectf("handler runs with DF and MXCSR", "DF=0 mxcsr=0x1f80", "DF=%d mxcsr=0x%x", h_own_df,
            h_own_mxcsr);
    compare("after sigreturn", R12, NEW_R12, 5, 0);
    expectf("after sigreturn: DF CF (CF set by the handler)", "DF=1 CF=1", "DF=%d CF=%d",
            (int)((g_after.flags >> 10) & 1), (int)(g_after.flags & 1));

    out("-- asynchronous: SIGUSR1 delivered on return from tgkill --\n");
    prepare();
    h_gpr_ok = h_xmm_ok = -1;
    g_before.gpr[RAX] = SYS_tgkill;
    g_before.gpr[RDI] = (uint64_t)getpid();
    g_before.gpr[RSI] = (uint64_t)syscall(SYS_gettid);
    g_before.gpr[RDX] = SIGUSR1;
    tgkill_roundtrip();
    expectf("handler: ucontext GPRs match (rax/rcx/r11 not compared)", "15/15", "%d/15",
            h_gpr_ok);
    expectf("handler: ucontext xmm match", "16/16", "%d/16", h_xmm_ok);
    compare("after sigreturn (rax=0, rcx/r11 not compared)", R13, NEW_R13, -1, 1);
    expectf("after sigreturn: DF", "DF=1", "DF=%d", (int)((g_after.flags >> 10) & 1));
    return summary("signal_sigreturn_regs");
}
