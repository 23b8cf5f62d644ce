/* nolibc_touch_memory.c - a memory-bound guest with no libc: maps N MiB (argv[1], default 64),
 * stores to and loads from every 64-byte line of it for R rounds (argv[2], default 4), prints a
 * checksum and exits 0. Used by the benchmarks (the same code under mmuemu, raw Unicorn and
 * qemu-x86_64) and to check that a guest asking for more memory than --ram gets a clear error.
 */
typedef unsigned long u64;

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

static u64 parse(const char *s, u64 fallback)
{
    if (!s)
        return fallback;
    u64 v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (u64)(*s++ - '0');
    return v ? v : fallback;
}

static void print_hex(const char *label, u64 v)
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

__attribute__((used, noreturn)) void cmain(u64 *sp)
{
    long argc = (long)sp[0];
    char **argv = (char **)(sp + 1);
    const u64 mib = parse(argc > 1 ? argv[1] : 0, 64), rounds = parse(argc > 2 ? argv[2] : 0, 4);
    const u64 bytes = mib << 20;
    volatile u64 *mem = (volatile u64 *)sys6(9, 0, (long)bytes, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    if ((long)mem < 0)
        sys6(231, 1, 0, 0, 0, 0, 0);
    u64 sum = 0;
    for (u64 r = 0; r < rounds; r++) {
        for (u64 i = 0; i < bytes / 8; i += 8)
            mem[i] = i ^ r;
        for (u64 i = 0; i < bytes / 8; i += 8)
            sum += mem[i];
    }
    print_hex("checksum ", sum);
    sys6(231, 0, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}

__asm__(".text\n.globl _start\n.type _start, @function\n_start:\n"
        "  xor %ebp, %ebp\n  mov %rsp, %rdi\n  and $-16, %rsp\n  call cmain\n  hlt\n");
