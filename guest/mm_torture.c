/* mm_torture.c - a deterministic pseudo-random sequence of memory-management operations.
 *
 * A fixed-seed LCG drives 300 operations on a 64-page region (fenced by one PROT_NONE page on
 * each side, all inside one reservation so nothing else is ever placed there): mmap MAP_FIXED
 * (private/shared, NONE/R/RW), MAP_FIXED_NOREPLACE, munmap, mprotect, mremap (shrink, grow in
 * place, MAYMOVE|FIXED move, DONTUNMAP), madvise (guard install/remove, DONTNEED, WILLNEED,
 * POPULATE_READ/WRITE, COLD, PAGEOUT, RANDOM/NORMAL, DONTFORK/DOFORK), mlock/munlock and byte
 * writes. After each step one line: the operation, its result (value or errno name), the VMA
 * count delta, a 64-character map of the region ('.' no VMA, 'G' guard marker, '-' no access,
 * 'r' read-only, 'w' writable; found with fault probes and pagemap bit 58) and a checksum of
 * all readable contents. MADV_FREE is left out: whether freed data survives is up to memory
 * pressure, not to the rules.
 */
#include "guest_util.h"

#define NPAGES 64
#define STEPS 300

static char *R; /* region: NPAGES pages, fences at R-PG and R+NPAGES*PG */
static uint64_t lcg = 0x6d6d75656d75ULL;

static unsigned rnd(unsigned n)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (unsigned)((lcg >> 33) % n);
}

static const char *protname(int prot)
{
    switch (prot) {
    case PROT_NONE: return "NONE";
    case PROT_READ: return "R";
    case PROT_READ | PROT_WRITE: return "RW";
    default: return "?";
    }
}

static int rnd_prot(void)
{
    static const int prots[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE};
    return prots[rnd(4)];
}

/* Probe one page: returns the map character. Writes back the value read (no data change). */
static char page_state(char *p)
{
    if (pm_guard(p))
        return 'G';
    if (sigsetjmp(g_probe_jb, 1) == 0) {
        g_probe_armed = 1;
        unsigned char v = *(volatile unsigned char *)p;
        g_probe_armed = 0;
        if (sigsetjmp(g_probe_jb, 1) == 0) {
            g_probe_armed = 1;
            *(volatile unsigned char *)p = v;
            g_probe_armed = 0;
            return 'w';
        }
        return g_probe_code == SEGV_ACCERR ? 'r' : '?';
    }
    return g_probe_code == SEGV_MAPERR ? '.' : g_probe_code == SEGV_ACCERR ? '-' : '?';
}

static void snapshot(char *map, uint64_t *sum)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < NPAGES; i++) {
        char *p = R + (size_t)i * PG;
        char c = page_state(p);
        map[i] = c;
        if (c == 'r' || c == 'w') {
            const volatile uint64_t *q = (const volatile uint64_t *)p;
            for (size_t k = 0; k < PG / 8; k++)
                h = (h ^ q[k] ^ (uint64_t)i) * 1099511628211ULL;
        }
    }
    map[NPAGES] = 0;
    *sum = h;
}

int main(void)
{
    probe_init();
    char *outer = mmap(NULL, (NPAGES + 2) * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    R = outer + PG;
    mmap(R, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    long v0 = vma_count();

    static const struct {
        int adv;
        const char *name;
    } advs[] = {
        {MADV_GUARD_INSTALL, "GUARD_INSTALL"}, {MADV_GUARD_INSTALL, "GUARD_INSTALL"},
        {MADV_GUARD_INSTALL, "GUARD_INSTALL"}, {MADV_GUARD_REMOVE, "GUARD_REMOVE"},
        {MADV_GUARD_REMOVE, "GUARD_REMOVE"},   {MADV_DONTNEED, "DONTNEED"},
        {MADV_WILLNEED, "WILLNEED"},           {MADV_POPULATE_READ, "POPULATE_READ"},
        {MADV_POPULATE_WRITE, "POPULATE_WRITE"}, {MADV_COLD, "COLD"},
        {MADV_PAGEOUT, "PAGEOUT"},             {MADV_RANDOM, "RANDOM"},
        {MADV_NORMAL, "NORMAL"},               {MADV_DONTFORK, "DONTFORK"},
        {MADV_DOFORK, "DOFORK"},
    };

    char map[NPAGES + 1];
    uint64_t sum;
    snapshot(map, &sum);
    out("start: vmas=%+ld %s sum=%016llx\n", vma_count() - v0, map, (unsigned long long)sum);

    for (int step = 1; step <= STEPS; step++) {
        char desc[128], result[48] = "";
        long r = 0;
        int e = 0;
        unsigned s = rnd(NPAGES);
        unsigned maxlen = NPAGES - s < 8 ? NPAGES - s : 8;
        unsigned len = 1 + rnd(maxlen);
        char *a = R + (size_t)s * PG;
        unsigned op = rnd(32);
        errno = 0;
        if (op < 4) {
            int prot = rnd_prot();
            int shared = rnd(8) == 0;
            snprintf(desc, sizeof desc, "mmap(+%u,%u,%s,%s|FIXED)", s, len, protname(prot),
                     shared ? "SHARED" : "PRIVATE");
            void *m = mmap(a, len * PG, prot,
                           (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
            r = m == MAP_FAILED ? -1 : m == a ? 0 : 1;
        } else if (op < 5) {
            int prot = rnd_prot();
            snprintf(desc, sizeof desc, "mmap(+%u,%u,%s,PRIVATE|FIXED_NOREPLACE)", s, len,
                     protname(prot));
            void *m = mmap(a, len * PG, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                           -1, 0);
            r = m == MAP_FAILED ? -1 : m == a ? 0 : 1;
        } else if (op < 8) {
            snprintf(desc, sizeof desc, "munmap(+%u,%u)", s, len);
            r = munmap(a, len * PG);
        } else if (op < 12) {
            int prot = rnd_prot();
            snprintf(desc, sizeof desc, "mprotect(+%u,%u,%s)", s, len, protname(prot));
            r = mprotect(a, len * PG, prot);
        } else if (op < 15) {
            unsigned kind = rnd(4);
            unsigned nl = 1 + rnd(8);
            len = 1 + (len - 1) % 3; /* short sources: fewer EFAULTs for spanning VMAs */
            void *m;
            if (kind == 0) { /* resize in place */
                if (s + nl > NPAGES)
                    nl = NPAGES - s;
                snprintf(desc, sizeof desc, "mremap(+%u,%u->%u,0)", s, len, nl);
                m = mremap(a, len * PG, nl * PG, 0);
                r = m == MAP_FAILED ? -1 : m == a ? 0 : 1;
            } else {
                int dontunmap = kind == 3;
                if (dontunmap)
                    nl = len;
                unsigned d = rnd(NPAGES - nl + 1);
                char *dst = R + (size_t)d * PG;
                snprintf(desc, sizeof desc, "mremap(+%u,%u->+%u,%u,MAYMOVE|FIXED%s)", s, len, d,
                         nl, dontunmap ? "|DONTUNMAP" : "");
                m = mremap(a, len * PG, nl * PG,
                           MREMAP_MAYMOVE | MREMAP_FIXED | (dontunmap ? MREMAP_DONTUNMAP : 0), dst);
                r = m == MAP_FAILED ? -1 : m == dst ? 0 : 1;
            }
        } else if (op < 23) {
            unsigned k = rnd(sizeof advs / sizeof advs[0]);
            snprintf(desc, sizeof desc, "madvise(+%u,%u,%s)", s, len, advs[k].name);
            r = madvise(a, len * PG, advs[k].adv);
        } else if (op < 24) {
            if (rnd(2)) {
                snprintf(desc, sizeof desc, "mlock(+%u,%u)", s, len);
                r = mlock(a, len * PG);
            } else {
                snprintf(desc, sizeof desc, "munlock(+%u,%u)", s, len);
                r = munlock(a, len * PG);
            }
        } else {
            unsigned off = rnd((unsigned)PG);
            unsigned char v = (unsigned char)(step | 1);
            snprintf(desc, sizeof desc, "write(+%u+0x%x,0x%02x)", s, off, v);
            const char *res = probe_access(a + off, R, 'w', v, (char[96]){0}, 96);
            if (strcmp(res, "ok") == 0)
                r = 0;
            else
                snprintf(result, sizeof result, "%s", segv_code_name(g_probe_code));
        }
        e = errno;
        if (!result[0])
            snprintf(result, sizeof result, "%s", RSTR(r, e));
        snapshot(map, &sum);
        out("%3d %-44s = %-11s vmas=%+ld %s sum=%016llx\n", step, desc, result, vma_count() - v0,
            map, (unsigned long long)sum);
    }

    munlock(outer, (NPAGES + 2) * PG);
    EXPECT_SYS("munmap everything", munmap(outer, (NPAGES + 2) * PG), "0");
    expectf("VMA delta after munmap", "-3", "%+ld", vma_count() - v0);
    return summary("mm_torture");
}
