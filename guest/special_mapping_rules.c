/* special_mapping_rules.c - what Linux lets a program do to its [vdso] and [vvar] mappings: they
 * cannot be split (mprotect, munmap or MAP_FIXED over one page of them is EINVAL), and each
 * madvise advice on one page gets Linux's answer (the vDSO's code can be "discarded" or paged out
 * as a no-op, vvar's raw frames cannot; guard regions, huge pages, WIPEONFORK and DODUMP are
 * refused on both; advice that changes flags on part of one is refused as a split).
 */
#include "guest_util.h"
#include <sys/auxv.h>

static unsigned long find(const char *name)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    unsigned long addr = 0;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, name) && !strstr(line, "vclock")) {
            addr = strtoul(line, NULL, 16);
            break;
        }
    if (f)
        fclose(f);
    return addr;
}

int main(void)
{
    static const int advice[] = {0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20, 21, 22, 23, 25, 102, 103};
    const char *names[] = {"[vdso]", "[vvar]"};
    for (int n = 0; n < 2; n++) {
        unsigned long a = find(names[n]);
        out("%s:", names[n]);
        for (unsigned i = 0; i < sizeof advice / sizeof *advice; i++)
            out(" %d=%s", advice[i], madvise((void *)a, 4096, advice[i]) ? errname(errno) : "0");
        out("\n");
    }
    void *v = (void *)getauxval(AT_SYSINFO_EHDR);
    out("mprotect one vDSO page rw-: %s\n", mprotect(v, 4096, PROT_READ | PROT_WRITE) ? errname(errno) : "0");
    out("mprotect one vDSO page r--: %s\n", mprotect(v, 4096, PROT_READ) ? errname(errno) : "0");
    void *r = mmap(v, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    out("MAP_FIXED over one vDSO page: %s\n", r == MAP_FAILED ? errname(errno) : "0");
    out("munmap one vDSO page: %s\n", munmap(v, 4096) ? errname(errno) : "0");
    return 0;
}
