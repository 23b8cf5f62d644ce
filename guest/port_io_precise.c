/* port_io_precise.c - a faulting IN or OUT stops the program at that instruction: nothing after
 * it runs before the signal.
 *
 * Each case sets RCX to 5 and a flag in memory to 0, then runs IN or OUT (a #GP at CPL 3 with
 * Linux's I/O permissions), followed in the same straight-line code by two increments of RCX, a
 * store of 1 to the flag and another increment. Natively the SIGSEGV handler sees RIP at the
 * port instruction, RCX 5, RAX as it was and the flag 0 (and for INS/OUTS, RDI/RSI still at the
 * buffer below the stack pointer they were set to). An emulator that notices the port
 * access in a callback and stops only a little later lets the instructions after it run.
 */
#include "guest_util.h"
#include <ucontext.h>

static sigjmp_buf jb;
static volatile unsigned long got_rip, got_rcx, got_rax, got_rsp, got_rdi, got_rsi;
volatile int flag;

static void handler(int sig, siginfo_t *si, void *ucv)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    got_rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
    got_rcx = (unsigned long)uc->uc_mcontext.gregs[REG_RCX];
    got_rax = (unsigned long)uc->uc_mcontext.gregs[REG_RAX];
    got_rsp = (unsigned long)uc->uc_mcontext.gregs[REG_RSP];
    got_rdi = (unsigned long)uc->uc_mcontext.gregs[REG_RDI];
    got_rsi = (unsigned long)uc->uc_mcontext.gregs[REG_RSI];
    siglongjmp(jb, 1);
}

#define RAX_MAGIC 0x1122334455667788UL

/* One function per case: setup, the port instruction at <name>_at, then what must not run. */
#define PORT_CASE(name, setup, insn)                                                           \
    void name(void);                                                                          \
    extern const char name##_at[];                                                            \
    __asm__(".text\n.globl " #name "\n.type " #name ",@function\n" #name ":\n"                \
            "movabs $0x1122334455667788, %rax\nmov $5, %ecx\nmov $0x80, %edx\n"               \
            "movl $0, flag(%rip)\n" setup "\n.globl " #name "_at\n" #name "_at:\n" insn "\n"\
            "inc %ecx\ninc %ecx\nmovl $1, flag(%rip)\ninc %ecx\nret\n"                        \
            ".size " #name ", .-" #name "\n")

PORT_CASE(p_in_imm, "", "in $0x80, %al");
PORT_CASE(p_in_dx, "", "in (%dx), %eax");
PORT_CASE(p_out_imm, "", "out %al, $0x80");
PORT_CASE(p_out_dx, "", "out %ax, (%dx)");
PORT_CASE(p_insb, "lea -64(%rsp), %rdi", "insb");
PORT_CASE(p_outsb, "lea -64(%rsp), %rsi", "outsb");

struct port_case {
    const char *name;
    void (*fn)(void);
    const char *at;
    char string_reg; /* 'D' or 'S': the string instruction's pointer, set to RSP - 64 */
};

#define C(label, name, reg) {label, name, name##_at, reg}

static const struct port_case cases[] = {
    C("in al,0x80", p_in_imm, 0),   C("in eax,dx", p_in_dx, 0), C("out 0x80,al", p_out_imm, 0),
    C("out dx,ax", p_out_dx, 0),    C("insb", p_insb, 'D'),     C("outsb", p_outsb, 'S'),
};

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
        const struct port_case *c = &cases[i];
        if (!sigsetjmp(jb, 1)) {
            c->fn();
            printf("%-12s ran to the end\n", c->name);
            continue;
        }
        printf("%-12s SIGSEGV rip %s rcx %lu rax %s flag %d", c->name,
               got_rip == (unsigned long)c->at ? "at it" : "elsewhere", got_rcx,
               got_rax == RAX_MAGIC ? "kept" : "changed", flag);
        if (c->string_reg)
            printf(" r%ci %s", c->string_reg == 'D' ? 'd' : 's',
                   (c->string_reg == 'D' ? got_rdi : got_rsi) == got_rsp - 64 ? "kept" : "moved");
        printf("\n");
    }
    return 0;
}
