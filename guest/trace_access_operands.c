/* trace_access_operands.c - memory operands at known addresses, for the --trace-accesses test
 * (tests/traces/access_events_test.sh checks the recorded events against the addresses chosen
 * here): a store through a base register, base + index * scale + displacement, a 32-bit address
 * register whose upper half is not zero (the CPU uses the low half only), movsq (two operands),
 * a read-modify-write, a gs-relative load, a rip-relative load in code at a known address, and
 * one instruction at one address whose displacement changes between runs: by a guest store, by
 * read() (the kernel writes the code), by a new mapping at the same address, and an instruction
 * that crosses a page boundary patched likewise. A store into a read-only page and a load from
 * nothing mapped end in SIGSEGV (caught); an instruction without a memory operand becomes one
 * with, by a store and by read(). Natively it prints the same results.
 */
#include "guest_util.h"

#include <asm/prctl.h>

#define DATA 0x20000000UL /* below 4 GiB: 32-bit address registers reach it */
#define CODE 0x21000000UL /* two RWX pages */
#define READ_ONLY 0x22000000UL
#define NOTHING 0x23000000UL

typedef void (*store_fn)(unsigned long base, unsigned long value);

/* mov %rsi, disp32(%rdi); ret */
static void put_store(unsigned char *at, unsigned disp)
{
    static const unsigned char mov[3] = {0x48, 0x89, 0xb7};
    memcpy(at, mov, 3);
    memcpy(at + 3, &disp, 4);
    at[7] = 0xc3;
}

/* mov %rsi, %rax; four nops; ret: as long as put_store's code, without a memory operand */
static void put_register_move(unsigned char *at)
{
    static const unsigned char move[8] = {0x48, 0x89, 0xf0, 0x90, 0x90, 0x90, 0x90, 0xc3};
    memcpy(at, move, sizeof move);
}

static unsigned long word(unsigned long off) { return *(volatile unsigned long *)(DATA + off); }

static void *map_fixed(unsigned long addr, size_t len, int prot)
{
    return mmap((void *)addr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
}

int main(void)
{
    if (map_fixed(DATA, PG, PROT_READ | PROT_WRITE) != (void *)DATA ||
        map_fixed(CODE, 2 * PG, PROT_READ | PROT_WRITE | PROT_EXEC) != (void *)CODE ||
        map_fixed(READ_ONLY, PG, PROT_READ) != (void *)READ_ONLY) {
        out("mmap failed: %s\n", errname(errno));
        return 1;
    }

    *(volatile unsigned *)(DATA + 0x21c) = 0x22;
    *(volatile unsigned char *)(DATA + 0x300) = 0x33;
    *(volatile unsigned long *)(DATA + 0x400) = 0x44;
    /* write 8 at +0x100 */
    __asm__ volatile("movq %1, (%0)" ::"r"(DATA + 0x100), "r"(0x11UL) : "memory");
    /* read 4 at +0x200 + 3 * 4 + 0x10 = +0x21c */
    unsigned v32;
    __asm__ volatile("movl 0x10(%1,%2,4), %0" : "=r"(v32) : "r"(DATA + 0x200), "r"(3UL) : "memory");
    /* read 1 at +0x300 through %ecx, with garbage above it in %rcx */
    unsigned char v8;
    __asm__ volatile("movb (%%ecx), %0" : "=r"(v8) : "c"(0xdead000000000000UL | (DATA + 0x300)) : "memory");
    /* movsq: read 8 at +0x400, write 8 at +0x500 */
    unsigned long from = DATA + 0x400, to = DATA + 0x500;
    __asm__ volatile("movsq" : "+S"(from), "+D"(to)::"memory");
    /* read and write 8 at +0x600 */
    __asm__ volatile("addq $5, (%0)" ::"r"(DATA + 0x600) : "memory");
    out("plain operands: %lx %u %u %lx %lx\n", word(0x100), v32, v8, word(0x500), word(0x600));

    /* read 8 at %gs:0x8 with the gs base at +0x700 (glibc uses fs only) */
    if (syscall(SYS_arch_prctl, ARCH_SET_GS, DATA + 0x700) != 0) {
        out("arch_prctl(ARCH_SET_GS) failed: %s\n", errname(errno));
        return 1;
    }
    *(volatile unsigned long *)(DATA + 0x708) = 0x77;
    unsigned long gs_value;
    __asm__ volatile("movq %%gs:0x8, %0" : "=r"(gs_value)::"memory");
    out("gs-relative: %lx\n", gs_value);

    /* mov 0x100(%rip), %rax; ret at CODE + 0x40: reads 8 at CODE + 0x47 + 0x100 */
    static const unsigned char rip_load[8] = {0x48, 0x8b, 0x05, 0x00, 0x01, 0x00, 0x00, 0xc3};
    memcpy((void *)(CODE + 0x40), rip_load, sizeof rip_load);
    *(volatile unsigned long *)(CODE + 0x147) = 0x42;
    out("rip-relative: %lx\n", ((unsigned long (*)(void))(CODE + 0x40))());

    /* One instruction, its displacement changed between calls: writes 8 at +0x800, then +0x808
     * (a guest store), +0x810 (read() from a pipe), +0x818 (a new mapping). */
    store_fn store = (store_fn)CODE;
    put_store((unsigned char *)CODE, 0x800);
    store(DATA, 1);
    *(volatile unsigned *)(CODE + 3) = 0x808;
    store(DATA, 2);
    int p[2];
    if (pipe(p) != 0)
        return 1;
    unsigned disp = 0x810;
    (void)!write(p[1], &disp, 4);
    (void)!read(p[0], (void *)(CODE + 3), 4);
    store(DATA, 3);
    munmap((void *)CODE, PG);
    if (map_fixed(CODE, PG, PROT_READ | PROT_WRITE | PROT_EXEC) != (void *)CODE)
        return 1;
    put_store((unsigned char *)CODE, 0x818);
    store(DATA, 4);
    out("rewritten code: %lx %lx %lx %lx\n", word(0x800), word(0x808), word(0x810), word(0x818));

    /* The same across the page boundary: the instruction starts 4 bytes before CODE + PG (its
     * displacement straddles it): writes at +0x900, then +0x908. */
    store_fn crossing = (store_fn)(CODE + PG - 4);
    put_store((unsigned char *)(CODE + PG - 4), 0x900);
    crossing(DATA, 5);
    unsigned next = 0x908;
    memcpy((void *)(CODE + PG - 1), &next, 4);
    crossing(DATA, 6);
    out("crossing code: %lx %lx\n", word(0x900), word(0x908));

    /* An instruction without a memory operand that becomes one with: by a guest store (writes
     * at +0xa00), then by read() (+0xa08). A tracer that skips instructions without operands
     * must see the new ones. */
    store_fn changing = (store_fn)(CODE + 0x80);
    put_register_move((unsigned char *)CODE + 0x80);
    changing(DATA, 7);
    put_store((unsigned char *)CODE + 0x80, 0xa00);
    changing(DATA, 8);
    put_register_move((unsigned char *)CODE + 0x80);
    changing(DATA, 9);
    unsigned char store_code[8];
    put_store(store_code, 0xa08);
    (void)!write(p[1], store_code, sizeof store_code);
    (void)!read(p[0], (void *)(CODE + 0x80), sizeof store_code);
    changing(DATA, 10);
    out("operands appearing: %lx %lx\n", word(0xa00), word(0xa08));

    /* write 1 at READ_ONLY + 0x10 and read 1 at NOTHING + 0x20: both refused */
    probe_init();
    out("store into a read-only page: %s\n", PROBE_W((void *)(READ_ONLY + 0x10), (void *)READ_ONLY, 1));
    out("load from nothing mapped: %s\n", PROBE_R((void *)(NOTHING + 0x20), (void *)NOTHING));
    return 0;
}
