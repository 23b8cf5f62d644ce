/* nolibc_guard.c - guard regions with no libc at all (-nostdlib -static, own _start).
 *
 * Raw syscalls only: mmap, madvise(MADV_GUARD_INSTALL/REMOVE), rt_sigaction with SA_RESTORER
 * and an own rt_sigreturn trampoline, write, munmap, exit_group. A read and a write on the
 * guard page are caught by a SA_SIGINFO handler that prints the signal, si_code and si_addr
 * (relative to the mapping) and resumes after the faulting instruction by editing RIP in the
 * ucontext. After MADV_GUARD_REMOVE the page reads as zero without a fault.
 */
typedef unsigned long u64;

static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
    long r;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

/* The compiler may emit calls to these. */
void *memset(void *d, int c, u64 n)
{
    unsigned char *p = d;
    while (n--)
        *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, u64 n)
{
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

static void put(const char *s)
{
    u64 n = 0;
    while (s[n])
        n++;
    sys6(1, 1, (long)s, (long)n, 0, 0, 0);
}

static void put_hex(u64 v)
{
    char b[19];
    int i = 18;
    b[i] = 0;
    do {
        b[--i] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v);
    b[--i] = 'x';
    b[--i] = '0';
    put(b + i);
}

static void put_long(long v)
{
    char b[24];
    int i = 23, neg = v < 0;
    u64 u = neg ? (u64)-v : (u64)v;
    b[i] = 0;
    do {
        b[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        b[--i] = '-';
    put(b + i);
}

static int failures;

static void check_long(const char *label, long got, long want)
{
    put(label);
    put(": ");
    put_long(got);
    if (got != want) {
        put("   [UNEXPECTED, host gives: ");
        put_long(want);
        put("]");
        failures++;
    }
    put("\n");
}

/* kernel ABI structures */
struct k_sigaction {
    void (*handler)(int, void *, void *);
    u64 flags;
    void (*restorer)(void);
    u64 mask;
};
#define SA_SIGINFO 4
#define SA_NODEFER 0x40000000
#define SA_RESTORER 0x04000000
#define UC_MCONTEXT 40 /* uc_flags, uc_link, stack_t (24) */
#define GREG_RIP 16

void restorer(void);
__asm__(".text\n"
        ".globl restorer\n"
        "restorer:\n"
        "  mov $15, %eax\n" /* rt_sigreturn */
        "  syscall\n"
        "  hlt\n");

static char *base;
static volatile int fault_count, last_sig, last_code;
static volatile u64 last_addr;
static volatile u64 resume_at;

static void handler(int sig, void *info, void *ucv)
{
    last_sig = sig;
    last_code = *(int *)((char *)info + 8);
    last_addr = *(u64 *)((char *)info + 16);
    fault_count++;
    u64 *gregs = (u64 *)((char *)ucv + UC_MCONTEXT);
    gregs[GREG_RIP] = resume_at;
}

/* Returns the byte read, or -1 if it faulted. */
static int try_read(char *p)
{
    int before = fault_count;
    unsigned char v = 0;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\t"
                     "mov %%rax, %1\n\t"
                     "movb (%2), %0\n"
                     "1:"
                     : "+q"(v), "=m"(resume_at)
                     : "r"(p)
                     : "rax", "memory");
    return fault_count != before ? -1 : v;
}

static int try_write(char *p, unsigned char v)
{
    int before = fault_count;
    __asm__ volatile("lea 1f(%%rip), %%rax\n\t"
                     "mov %%rax, %0\n\t"
                     "movb %2, (%1)\n"
                     "1:"
                     : "=m"(resume_at)
                     : "r"(p), "q"(v)
                     : "rax", "memory");
    return fault_count != before ? -1 : 0;
}

static int streq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

static void report(const char *label, const char *want_code, u64 want_off)
{
    put(label);
    put(": ");
    put(last_sig == 11 ? "SIGSEGV " : "SIG? ");
    const char *code = last_code == 1 ? "SEGV_MAPERR" : last_code == 2 ? "SEGV_ACCERR" : "SEGV_?";
    put(code);
    put(" addr=+");
    put_hex(last_addr - (u64)base);
    int ok = last_sig == 11 && streq(code, want_code) && last_addr - (u64)base == want_off;
    if (!ok) {
        put("   [UNEXPECTED]");
        failures++;
    }
    put("\n");
}

__attribute__((used, noreturn)) void cmain(void)
{
    static const char *const maperr = "SEGV_MAPERR";
    struct k_sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.handler = handler;
    sa.flags = SA_SIGINFO | SA_RESTORER | SA_NODEFER;
    sa.restorer = restorer;
    check_long("rt_sigaction(SIGSEGV)", sys6(13, 11, (long)&sa, 0, 8, 0, 0), 0);

    long m = sys6(9 /* mmap */, 0, 3 * 4096, 3 /* RW */, 0x22 /* PRIVATE|ANON */, -1, 0);
    base = (char *)m;
    check_long("mmap 3 pages ok", m > 0 && (m & 4095) == 0, 1);
    for (int i = 0; i < 3 * 4096; i++)
        base[i] = 'N';
    check_long("madvise(p1, MADV_GUARD_INSTALL)", sys6(28, (long)(base + 4096), 4096, 102, 0, 0, 0),
               0);
    check_long("read p1 faulted", try_read(base + 0x1008), -1);
    report("guard read", maperr, 0x1008);
    check_long("write p1 faulted", try_write(base + 0x1ff8, 7), -1);
    report("guard write", maperr, 0x1ff8);
    check_long("read p0", try_read(base + 0xfff), 'N');
    check_long("read p2", try_read(base + 0x2000), 'N');
    check_long("madvise(p1, MADV_GUARD_REMOVE)", sys6(28, (long)(base + 4096), 4096, 103, 0, 0, 0),
               0);
    check_long("read p1 after remove", try_read(base + 0x1008), 0);
    check_long("faults seen by the handler", fault_count, 2);
    check_long("munmap", sys6(11, (long)base, 3 * 4096, 0, 0, 0, 0), 0);
    put(failures ? "summary: nolibc_guard: unexpected results\n" : "summary: nolibc_guard: ok\n");
    sys6(231, failures ? 1 : 0, 0, 0, 0, 0, 0);
    __builtin_unreachable();
}

__asm__(".text\n"
        ".globl _start\n"
        ".type _start, @function\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  and $-16, %rsp\n"
        "  call cmain\n"
        "  hlt\n");
