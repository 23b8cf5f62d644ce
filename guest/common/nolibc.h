/* nolibc.h - what the no-libc guests share: the raw system call, argument parsing, printing a
 * labelled hex value, and the _start that hands the kernel's stack pointer to cmain(u64 *sp).
 * Include it once, in a program built with -nostdlib -static.
 */
#ifndef MMUEMU_NOLIBC_H
#define MMUEMU_NOLIBC_H

typedef unsigned long u64;

static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

/* A decimal argument, or `fallback` when absent or zero. */
static inline u64 parse(const char *s, u64 fallback)
{
    if (!s)
        return fallback;
    u64 v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (u64)(*s++ - '0');
    return v ? v : fallback;
}

/* "LABEL" followed by 16 hex digits and a newline, on stdout. */
static inline void print_hex(const char *label, u64 v)
{
    char buf[64];
    int n = 0;
    while (label[n]) {
        buf[n] = label[n];
        n++;
    }
    for (int i = 15; i >= 0; i--)
        buf[n++] = "0123456789abcdef"[(v >> (i * 4)) & 15];
    buf[n++] = '\n';
    sys6(1, 1, (long)buf, n, 0, 0, 0);
}

/* The kernel's rsp points at argc, argv..., NULL, envp..., NULL, auxv. */
__asm__(".text\n.globl _start\n.type _start, @function\n_start:\n"
        "  xor %ebp, %ebp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call cmain\n  hlt\n");

#endif
