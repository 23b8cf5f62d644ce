/* privileged_instructions.c - guest code runs at CPL 3: privileged instructions fault.
 *
 * For each instruction a user process may not execute (hlt, cli, sti, control registers,
 * MSRs, invlpg, port I/O, descriptor tables, wbinvd, swapgs, sysret, iret with a bad frame,
 * a null SS, INT through a kernel gate) and a few it may (rdtsc, cpuid, int3), prints the
 * signal, si_code, whether si_addr is 0 or the instruction, and whether the handler's RIP is
 * the instruction itself or the one after it. Natively every privileged one is #GP: SIGSEGV,
 * SI_KERNEL, si_addr 0, RIP at the instruction; ud2 is SIGILL ILL_ILLOPN at the instruction;
 * int3 and INT 3 are SIGTRAP SI_KERNEL with RIP after them. For IN and OUT it also prints
 * whether RAX is what it was: the fault comes before the port is read.
 */
#include "guest_util.h"
#include <ucontext.h>

static sigjmp_buf jb;
static volatile int got_sig, got_code;
static void *volatile got_addr;
static volatile unsigned long got_rip, got_rax;

static void handler(int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    got_sig = sig;
    got_code = si->si_code;
    got_addr = si->si_addr;
    got_rip = (unsigned long)uc->uc_mcontext.gregs[REG_RIP];
    got_rax = (unsigned long)uc->uc_mcontext.gregs[REG_RAX];
    siglongjmp(jb, 1);
}

#define RAX_MAGIC 0x1122334455667788UL

/* One function per case: setup, the instruction at <name>_at, its end at <name>_end, ret. */
#define TRIGGER(name, setup, insn)                                                            \
    void name(void);                                                                          \
    extern const char name##_at[], name##_end[];                                              \
    __asm__(".text\n.globl " #name "\n.type " #name ",@function\n" #name ":\n" setup "\n"   \
            ".globl " #name "_at\n" #name "_at:\n" insn "\n.globl " #name "_end\n" #name     \
            "_end:\nret\n.size " #name ", .-" #name "\n")

TRIGGER(t_hlt, "", "hlt");
TRIGGER(t_cli, "", "cli");
TRIGGER(t_sti, "", "sti");
TRIGGER(t_read_cr0, "", "mov %cr0, %rax");
TRIGGER(t_write_cr3, "xor %eax, %eax", "mov %rax, %cr3");
TRIGGER(t_read_cr4, "", "mov %cr4, %rax");
TRIGGER(t_rdmsr, "xor %ecx, %ecx", "rdmsr");
TRIGGER(t_wrmsr, "mov $0xc0000100, %ecx; xor %eax, %eax; xor %edx, %edx", "wrmsr");
TRIGGER(t_invlpg, "", "invlpg (%rsp)");
TRIGGER(t_in_imm, "movabs $0x1122334455667788, %rax", "in $0x80, %al");
TRIGGER(t_in_dx, "movabs $0x1122334455667788, %rax; mov $0x80, %edx", "in (%dx), %eax");
TRIGGER(t_out_imm, "movabs $0x1122334455667788, %rax", "out %al, $0x80");
TRIGGER(t_lgdt, "", "lgdt -16(%rsp)");
TRIGGER(t_lidt, "", "lidt -16(%rsp)");
TRIGGER(t_wbinvd, "", "wbinvd");
TRIGGER(t_swapgs, "", "swapgs");
TRIGGER(t_sysret, "", "sysretq");
/* A frame with a null CS: iretq at CPL 3 checks it before anything changes. */
TRIGGER(t_iretq, "mov %rsp, %rax; push $0x2b; push %rax; pushfq; push $0; lea 1f(%rip), %rax; "
                 "push %rax", "iretq; 1:");
TRIGGER(t_null_ss, "xor %eax, %eax", "mov %eax, %ss");
TRIGGER(t_int81, "", "int $0x81");
TRIGGER(t_ud2, "", "ud2");
TRIGGER(t_int3, "", "int3");
TRIGGER(t_int_3, "", "int $3");
TRIGGER(t_rdtsc, "", "rdtsc");
TRIGGER(t_cpuid, "push %rbx; xor %eax, %eax; xor %ecx, %ecx", "cpuid; pop %rbx");

struct test {
    const char *name;
    void (*fn)(void);
    const char *at, *end;
    int check_rax;
};

#define T(label, name, rax) {label, name, name##_at, name##_end, rax}

static const struct test tests[] = {
    T("hlt", t_hlt, 0),          T("cli", t_cli, 0),
    T("sti", t_sti, 0),          T("mov cr0,rax", t_read_cr0, 0),
    T("mov rax,cr3", t_write_cr3, 0), T("mov cr4,rax", t_read_cr4, 0),
    T("rdmsr", t_rdmsr, 0),      T("wrmsr FS_BASE", t_wrmsr, 0),
    T("invlpg", t_invlpg, 0),    T("in al,0x80", t_in_imm, 1),
    T("in eax,dx", t_in_dx, 1),  T("out 0x80,al", t_out_imm, 1),
    T("lgdt", t_lgdt, 0),        T("lidt", t_lidt, 0),
    T("wbinvd", t_wbinvd, 0),    T("swapgs", t_swapgs, 0),
    T("sysretq", t_sysret, 0),   T("iretq null cs", t_iretq, 0),
    T("mov ss,null", t_null_ss, 0), T("int 0x81", t_int81, 0),
    T("ud2", t_ud2, 0),          T("int3", t_int3, 0),
    T("int 3", t_int_3, 0),      T("rdtsc", t_rdtsc, 0),
    T("cpuid", t_cpuid, 0),
};

static const char *where(unsigned long value, const struct test *t)
{
    if (value == (unsigned long)t->at)
        return "insn";
    if (value == (unsigned long)t->end)
        return "after";
    return value ? "other" : "0";
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    for (int sig = 1; sig < 32; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    setvbuf(stdout, NULL, _IONBF, 0);
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; ++i) {
        const struct test *t = &tests[i];
        got_sig = 0;
        if (!sigsetjmp(jb, 1)) {
            t->fn();
            printf("%-16s ran\n", t->name);
            continue;
        }
        printf("%-16s %-7s code %3d si_addr %-5s rip %s", t->name, signame(got_sig), got_code,
               where((unsigned long)got_addr, t), where(got_rip, t));
        if (t->check_rax)
            printf(" rax %s", got_rax == RAX_MAGIC ? "kept" : "changed");
        printf("\n");
    }
    return 0;
}
