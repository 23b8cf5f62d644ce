/* proc_smaps.c - /proc/self/smaps and smaps_rollup are generated from the page table.
 *
 * Makes a known set of mappings (anonymous untouched, read-touched, write-touched, mlocked,
 * read-only, one with a guard region, shared anonymous memory also mapped by a forked child, a
 * private file mapping read), then prints for each of them the smaps fields that depend on the
 * page table and the VMA flags: Size, Rss, Pss, Shared_*, Private_*, Anonymous, Locked, Swap,
 * VmFlags. The rollup is checked by difference (libc's own mappings differ between runs).
 * Rules pinned (Linux 6.18 fs/proc/task_mmu.c):
 *   - the zero page mapped by a read fault is not resident;
 *   - a page mapped once is private, a page mapped twice is shared and its Pss is halved;
 *   - Locked is the Pss of a VM_LOCKED VMA;
 *   - VmFlags lists the two-letter names in bit order ("gu" once a guard region was installed).
 */
#include "common/guest_util.h"

#include <sys/wait.h>

static char g_buf[1 << 20];
static int g_print; /* the first, silent pass prints nothing */

/* out() in the printing pass; the silent pass formats the same text (running the same code). */
static __attribute__((format(printf, 1, 2))) void say(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (g_print && n > 0)
        out_raw(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static size_t read_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    size_t n = 0;
    if (fd < 0) {
        g_buf[0] = 0;
        return 0;
    }
    for (;;) {
        ssize_t r = read(fd, g_buf + n, sizeof g_buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    g_buf[n] = 0;
    return n;
}

/* The smaps block of the VMA starting at `addr` in g_buf, or NULL. */
static const char *find_block(const void *addr)
{
    char key[32];
    snprintf(key, sizeof key, "%lx-", (unsigned long)addr);
    for (const char *line = g_buf; *line;) {
        if (strncmp(line, key, strlen(key)) == 0)
            return line;
        const char *nl = strchr(line, '\n');
        if (!nl)
            break;
        line = nl + 1;
    }
    return NULL;
}

/* The value of `field` ("Rss") within the block, in kB; -1 when absent. */
static long field_kb(const char *block, const char *field)
{
    size_t len = strlen(field);
    const char *line = strchr(block, '\n');
    while (line && line[1]) {
        ++line;
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
            if (strchr(line, '-') && strchr(line, '-') < strchr(line, ' '))
                return -1; /* the next VMA's header */
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            return strtol(line + len + 1, NULL, 10);
        line = strchr(line, '\n');
    }
    return -1;
}

static void copy_vmflags(const char *block, char *dst, size_t n)
{
    const char *p = strstr(block, "\nVmFlags:");
    dst[0] = 0;
    if (!p)
        return;
    p += 9;
    while (*p == ' ')
        ++p;
    size_t i = 0;
    while (p[i] && p[i] != '\n' && i + 1 < n) {
        dst[i] = p[i];
        ++i;
    }
    while (i > 0 && dst[i - 1] == ' ')
        --i;
    dst[i] = 0;
}

static const char *const kFields[] = {"Size",          "Rss",          "Pss",       "Pss_Dirty",
                                      "Shared_Clean",  "Shared_Dirty", "Private_Clean",
                                      "Private_Dirty", "Anonymous",    "Locked",    "Swap"};

struct sums {
    long rss, pss, anon;
};

/* Prints one VMA's fields from the smaps text in g_buf and adds them to `s`. */
static void show(const char *label, const void *addr, struct sums *s)
{
    const char *block = find_block(addr);
    if (!block) {
        say("%s: no VMA\n", label);
        return;
    }
    say("%s:", label);
    for (size_t i = 0; i < sizeof kFields / sizeof kFields[0]; ++i)
        say(" %s=%ld", kFields[i], field_kb(block, kFields[i]));
    char flags[128];
    copy_vmflags(block, flags, sizeof flags);
    say(" VmFlags=[%s]\n", flags);
    if (s) {
        s->rss += field_kb(block, "Rss");
        s->pss += field_kb(block, "Pss");
        s->anon += field_kb(block, "Anonymous");
    }
}

static struct sums rollup(void)
{
    struct sums s = {0, 0, 0};
    read_file("/proc/self/smaps_rollup");
    const char *end = strchr(g_buf, '\n');
    if (!end || end - g_buf < 8 || strncmp(end - 8, "[rollup]", 8) != 0)
        say("rollup: bad header\n");
    s.rss = field_kb(g_buf, "Rss");
    s.pss = field_kb(g_buf, "Pss");
    s.anon = field_kb(g_buf, "Anonymous");
    return s;
}

/* Touches a deep stack once so that later calls fault nothing new in the rollup's totals. */
static void warm_stack(void)
{
    volatile char deep[64 * 1024];
    for (size_t i = 0; i < sizeof deep; i += PG)
        deep[i] = 1;
}

enum { kPages = 4, kSlot = kPages + 1 };
enum { A_UNTOUCHED, B_READ, C_WRITTEN, D_LOCKED, E_READONLY, F_GUARD, G_SHARED, H_FILE, kCount };
static const char *const kLabel[kCount] = {"untouched", "read_zero", "written", "mlocked",
                                           "readonly",  "guarded",   "shared",  "file_private"};

/* Makes the mappings, touches them and shows their smaps blocks; returns the first mapping. */
static char *make_mappings(char **m, struct sums *ours)
{
    /* One reservation; each test mapping sits in its own slot with a PROT_NONE page after it, so
     * no two of them merge. */
    char *base = mmap(NULL, kCount * kSlot * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < kCount; ++i)
        m[i] = base + (size_t)i * kSlot * PG;
    const int rw = PROT_READ | PROT_WRITE;
    const int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
    mmap(m[A_UNTOUCHED], kPages * PG, rw, anon, -1, 0);
    mmap(m[B_READ], kPages * PG, rw, anon, -1, 0);
    mmap(m[C_WRITTEN], kPages * PG, rw, anon, -1, 0);
    mmap(m[D_LOCKED], kPages * PG, rw, anon, -1, 0);
    mmap(m[E_READONLY], kPages * PG, PROT_READ, anon, -1, 0);
    mmap(m[F_GUARD], kPages * PG, rw, anon, -1, 0);
    mmap(m[G_SHARED], kPages * PG, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

    int fd = open("smaps_file", O_RDWR | O_CREAT | O_TRUNC, 0600);
    static char page[PG];
    for (int i = 0; i < 3; ++i) {
        memset(page, 'a' + i, sizeof page);
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page)
            say("write failed\n");
    }
    fsync(fd); /* clean page cache: Linux counts a dirty folio as dirty */
    mmap(m[H_FILE], 3 * PG, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    close(fd);

    volatile char sink = 0;
    for (int p = 0; p < kPages; ++p)
        sink += m[B_READ][p * PG];
    for (int p = 0; p < 3; ++p)
        m[C_WRITTEN][p * PG] = 1;
    say("mlock: %s\n", RSTR(mlock(m[D_LOCKED], kPages * PG), errno));
    for (int p = 0; p < 2; ++p)
        sink += m[E_READONLY][p * PG];
    for (int p = 0; p < kPages; ++p)
        m[F_GUARD][p * PG] = 1;
    int e = 0;
    say("guard install: %s\n", RSTR(madv(m[F_GUARD] + PG, PG, MADV_GUARD_INSTALL, &e), e));
    m[G_SHARED][0] = 1;
    m[G_SHARED][PG] = 1;
    for (int p = 0; p < 3; ++p)
        sink += m[H_FILE][p * PG];
    (void)sink;

    read_file("/proc/self/smaps");
    for (int i = 0; i < kCount; ++i)
        show(kLabel[i], m[i], ours);
    say("sums: Rss=%ld Pss=%ld Anonymous=%ld\n", ours->rss, ours->pss, ours->anon);
    return base;
}

int main(void)
{
    memset(g_buf, 0, sizeof g_buf);
    warm_stack();
    out("smaps of known mappings\n");
    char *m[kCount];
    struct sums ours = {0, 0, 0};
    /* A silent first pass faults in every code page and buffer the measured pass uses, so that
     * the rollup's totals change by our mappings only. */
    char *base = make_mappings(m, &ours);
    rollup();
    munmap(base, kCount * kSlot * PG);
    unlink("smaps_file");

    g_print = 1;
    ours = (struct sums){0, 0, 0};
    struct sums before = rollup();
    make_mappings(m, &ours);
    struct sums after = rollup();
    out("rollup delta Rss: %ld (ours %ld)\n", after.rss - before.rss, ours.rss);
    /* The rollup's Pss is not compared: the program's own file pages are shared with any other
     * process running it at the same time, natively. */
    out("rollup delta Anonymous: %ld (ours %ld)\n", after.anon - before.anon, ours.anon);

    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%ld/smaps", (long)syscall(SYS_gettid));
    read_file(path);
    show("task written", m[C_WRITTEN], NULL);
    snprintf(path, sizeof path, "/proc/self/task/%ld/smaps_rollup", (long)syscall(SYS_gettid));
    out("task rollup bytes > 0: %d\n", read_file(path) > 0);

    /* A child maps the shared pages too (it reads them: fork does not copy shared PTEs) and
     * shares the written private pages copy-on-write. */
    int ready[2], done[2];
    if (pipe(ready) || pipe(done))
        return 1;
    pid_t child = raw_fork();
    if (child == 0) {
        char c = 0;
        close(done[1]);
        c += m[G_SHARED][0];
        c += m[G_SHARED][PG];
        if (write(ready[1], &c, 1) != 1)
            _exit(1);
        while (read(done[0], &c, 1) < 0 && errno == EINTR) {
        }
        _exit(0);
    }
    char c;
    close(done[0]);
    if (read(ready[0], &c, 1) != 1)
        out("child not ready\n");
    read_file("/proc/self/smaps");
    show("shared with child", m[G_SHARED], NULL);
    show("written with child", m[C_WRITTEN], NULL);
    close(done[1]);
    char wbuf[48];
    out("child: %s\n", wait_str(child, wbuf, sizeof wbuf));
    read_file("/proc/self/smaps");
    show("shared after child", m[G_SHARED], NULL);
    show("written after child", m[C_WRITTEN], NULL);

    unlink("smaps_file");
    return 0;
}
