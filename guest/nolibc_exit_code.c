/* nolibc_exit_code.c - the smallest guest: no libc at all (-nostdlib -static), own _start.
 *
 * Checks the initial process state the ABI promises at _start (rsp 16-byte aligned, argc >= 1,
 * argv[argc] == NULL, an environment pointer array after it), prints with raw write(2) and exits
 * with exit_group(42).
 */
typedef unsigned long u64;

static long sys3(long n, long a, long b, long c)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static u64 len(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    return n;
}

static void puts1(const char *s) { sys3(1 /* write */, 1, (long)s, (long)len(s)); }

__attribute__((noreturn)) static void exit_group(int code)
{
    sys3(231, code, 0, 0);
    __builtin_unreachable();
}

__attribute__((used, noreturn)) void cmain(u64 *sp)
{
    long argc = (long)sp[0];
    char **argv = (char **)(sp + 1);
    puts1("hello from nolibc\n");
    puts1(((u64)sp & 15) == 0 ? "rsp 16-byte aligned at _start: yes\n"
                              : "rsp 16-byte aligned at _start: no\n");
    puts1(argc >= 1 ? "argc >= 1: yes\n" : "argc >= 1: no\n");
    puts1(argv[argc] == 0 ? "argv[argc] == NULL: yes\n" : "argv[argc] == NULL: no\n");
    puts1("exiting with status 42\n");
    exit_group(42);
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n" /* the kernel's rsp: argc, argv..., NULL, envp..., NULL, auxv */
        "  and $-16, %rsp\n"
        "  call cmain\n"
        "  hlt\n");
