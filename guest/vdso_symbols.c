/* The vDSO as a C library sees it: found through AT_SYSINFO_EHDR, its dynamic symbol table names
 * Linux's x86-64 vDSO functions at version LINUX_2.6 (by the DT_HASH table and the version
 * sections, as glibc's _dl_vdso_vsym looks them up), and each gives what the system call gives. */
#include "common/guest_util.h"

#include <elf.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static const char *g_base;
static const Elf64_Sym *g_symtab;
static const char *g_strtab;
static const Elf64_Half *g_versym;
static const Elf64_Verdef *g_verdef;
static unsigned g_nsyms;
static long g_bias;

static void read_dynamic(void)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)g_base;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(g_base + eh->e_phoff);
    const Elf64_Dyn *dyn = NULL;
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !g_bias) g_bias = (long)g_base + (long)ph[i].p_offset - (long)ph[i].p_vaddr;
        if (ph[i].p_type == PT_DYNAMIC) dyn = (const Elf64_Dyn *)(g_base + ph[i].p_offset);
    }
    for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
        const char *at = (const char *)(g_bias + (long)dyn->d_un.d_ptr);
        if (dyn->d_tag == DT_SYMTAB) g_symtab = (const Elf64_Sym *)at;
        if (dyn->d_tag == DT_STRTAB) g_strtab = at;
        if (dyn->d_tag == DT_VERSYM) g_versym = (const Elf64_Half *)at;
        if (dyn->d_tag == DT_VERDEF) g_verdef = (const Elf64_Verdef *)at;
        if (dyn->d_tag == DT_HASH) g_nsyms = ((const Elf64_Word *)at)[1];
    }
}

static const char *version_name(Elf64_Half index)
{
    for (const Elf64_Verdef *d = g_verdef; d; d = d->vd_next ? (const Elf64_Verdef *)((const char *)d + d->vd_next) : NULL)
        if ((d->vd_ndx & 0x7fff) == (index & 0x7fff)) {
            const Elf64_Verdaux *aux = (const Elf64_Verdaux *)((const char *)d + d->vd_aux);
            return g_strtab + aux->vda_name;
        }
    return "?";
}

/* The function `name` at version LINUX_2.6, or NULL. */
static void *lookup(const char *name)
{
    for (unsigned i = 1; i < g_nsyms; i++) {
        const Elf64_Sym *s = &g_symtab[i];
        if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF) continue;
        if (strcmp(g_strtab + s->st_name, name) != 0) continue;
        if (!g_versym || strcmp(version_name(g_versym[i]), "LINUX_2.6") != 0) continue;
        return (void *)(g_bias + (long)s->st_value);
    }
    return NULL;
}

int main(void)
{
    g_base = (const char *)getauxval(AT_SYSINFO_EHDR);
    expect("AT_SYSINFO_EHDR", g_base ? "present" : "absent", "present");
    if (!g_base) return summary("vdso_symbols");
    expect("ELF shared object", memcmp(g_base, ELFMAG, SELFMAG) == 0 && ((const Elf64_Ehdr *)g_base)->e_type == ET_DYN ? "yes" : "no", "yes");
    read_dynamic();
    expect("dynamic symbol table, hash and versions", g_symtab && g_strtab && g_nsyms && g_versym && g_verdef ? "yes" : "no", "yes");
    static const char *names[] = {"__vdso_clock_gettime", "clock_gettime", "__vdso_gettimeofday", "gettimeofday",
                                  "__vdso_time", "time", "__vdso_getcpu", "getcpu", "__vdso_clock_getres",
                                  "clock_getres"};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s@LINUX_2.6", names[i]);
        expect(label, lookup(names[i]) ? "found" : "missing", "found");
    }

    int (*cgt)(clockid_t, struct timespec *) = lookup("__vdso_clock_gettime");
    int (*gtod)(struct timeval *, void *) = lookup("__vdso_gettimeofday");
    long (*tm)(long *) = lookup("__vdso_time");
    long (*gcpu)(unsigned *, unsigned *, void *) = lookup("__vdso_getcpu");
    int (*getres)(clockid_t, struct timespec *) = lookup("__vdso_clock_getres");
    if (!cgt || !gtod || !tm || !gcpu || !getres) return summary("vdso_symbols");

    struct timespec v, s;
    expectf("clock_gettime(MONOTONIC)", "0", "%d", cgt(CLOCK_MONOTONIC, &v));
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &s);
    long diff_ms = (s.tv_sec - v.tv_sec) * 1000 + (s.tv_nsec - v.tv_nsec) / 1000000;
    expect("agrees with the system call", diff_ms >= 0 && diff_ms < 1000 ? "yes" : "no", "yes");
    expectf("clock_gettime(REALTIME)", "0", "%d", cgt(CLOCK_REALTIME, &v));
    expect("realtime is now", labs(v.tv_sec - (long)syscall(SYS_time, NULL)) <= 1 ? "yes" : "no", "yes");
    expectf("clock_gettime(bad clock)", "-22", "%d", cgt(12345, &v));
    struct timeval tv;
    expectf("gettimeofday", "0", "%d", gtod(&tv, NULL));
    expect("gettimeofday is now", labs(tv.tv_sec - (long)syscall(SYS_time, NULL)) <= 1 ? "yes" : "no", "yes");
    long t = 0, r = tm(&t);
    expect("time", r == t && labs(r - (long)syscall(SYS_time, NULL)) <= 1 ? "now, stored" : "wrong", "now, stored");
    unsigned cpu = ~0u, node = ~0u;
    expectf("getcpu", "0", "%ld", gcpu(&cpu, &node, NULL));
    expect("getcpu's cpu and node", cpu < 4096 && node == 0 ? "plausible" : "wrong", "plausible");
    struct timespec res = {-1, -1}, sys_res = {-2, -2};
    int got = getres(CLOCK_MONOTONIC, &res);
    syscall(SYS_clock_getres, CLOCK_MONOTONIC, &sys_res);
    expectf("clock_getres(MONOTONIC)", "0 0 1", "%d %ld %ld", got, (long)res.tv_sec, res.tv_nsec);
    expect("as the system call's", res.tv_sec == sys_res.tv_sec && res.tv_nsec == sys_res.tv_nsec ? "yes" : "no", "yes");

    /* Mixed readings never go back, and the vDSO's clock moves on by itself (a busy wait of 20 ms
     * without a system call ends). */
    long long last = 0;
    int backwards = 0;
    for (int i = 0; i < 100000; i++) {
        struct timespec ts;
        if (i % 3 == 0) syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
        else cgt(CLOCK_MONOTONIC, &ts);
        long long ns = ts.tv_sec * 1000000000ll + ts.tv_nsec;
        if (ns < last) backwards++;
        last = ns;
    }
    expectf("vDSO and system call readings never go back", "0", "%d", backwards);
    struct timespec start, now;
    cgt(CLOCK_MONOTONIC, &start);
    long spins = 0;
    do {
        cgt(CLOCK_MONOTONIC, &now);
        spins++;
    } while ((now.tv_sec - start.tv_sec) * 1000000000ll + (now.tv_nsec - start.tv_nsec) < 20000000ll && spins < 2000000000l);
    expect("a busy wait on the vDSO clock ends", spins < 2000000000l ? "yes" : "no", "yes");
    return summary("vdso_symbols");
}
