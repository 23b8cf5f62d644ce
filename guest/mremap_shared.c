/* mremap of shared mappings: a memfd mapping grown and moved keeps its pages and reaches the
 * rest of the file; a MAP_SHARED|MAP_ANONYMOUS mapping grown beyond its shmem object's size
 * gets SIGBUS there; DONTUNMAP of a shared mapping; old_len 0 duplicates a shared mapping
 * (both see each other's writes) and leaves the original VMA as it was. */
#include "common/guest_util.h"


int main(void)
{
    probe_init();
    int fd = memfd_create("grow", 0);
    ftruncate(fd, 4 * PG);
    char *m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    m[0] = 'a';
    m[PG] = 'b';
    char *g = mremap(m, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
    expectf("grow memfd mapping", "ok a b", "%s %c %c", g == MAP_FAILED ? errname(errno) : "ok", g[0], g[PG]);
    g[3 * PG] = 'd';
    char c = 0;
    pread(fd, &c, 1, 3 * PG);
    expectf("the file sees the grown part", "d", "%c", c);

    char *s = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    s[0] = 'x';
    char *s2 = mremap(s, 2 * PG, 8 * PG, MREMAP_MAYMOVE);
    expectf("grow shmem mapping", "ok x", "%s %c", s2 == MAP_FAILED ? errname(errno) : "ok", s2[0]);
    expect("inside the shmem object", PROBE_R(s2 + PG, s2), "ok val=0x00");
    expect("beyond the shmem object", PROBE_R(s2 + 5 * PG, s2), "SIGBUS BUS_ADRERR addr=+0x5000");

    char *d = mremap(g, 4 * PG, 4 * PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    expectf("DONTUNMAP of a shared mapping", "ok a d", "%s %c %c", d == MAP_FAILED ? errname(errno) : "ok", d[0],
            d[3 * PG]);
    expectf("the old range still maps the file", "a", "%c", g[0]);

    char *z = mremap(s2, 0, 2 * PG, MREMAP_MAYMOVE);
    expectf("duplicate (old_len 0)", "ok x", "%s %c", z == MAP_FAILED ? errname(errno) : "ok", z == MAP_FAILED ? '-' : z[0]);
    z[1] = 'q';
    expectf("the original sees the duplicate's write", "q", "%c", s2[1]);
    expectf("the original stays one VMA", "1", "%d", vmas_in(s2, s2 + 8 * PG));
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_SYS("duplicate of private memory", (long)mremap(p, 0, PG, MREMAP_MAYMOVE), "-1 EINVAL");
    return summary("mremap_shared");
}
