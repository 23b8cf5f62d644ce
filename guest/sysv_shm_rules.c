/* System V shared memory as Linux gives it: shmget's key and size rules, shmat/shmdt (address
 * rules, SHM_RDONLY, SHM_RND, SHM_REMAP), shm_nattch counting VMAs (a split counts twice, a
 * fork adds the child's), the segment shared between processes, IPC_RMID while attached
 * (SHM_DEST, key gone, still attachable by id), IPC_SET, and the maps line of an attachment. */
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/wait.h>

#include "common/guest_util.h"

static key_t g_key;

static long nattch(int id)
{
    struct shmid_ds ds;
    if (shmctl(id, IPC_STAT, &ds) < 0) return -errno;
    return (long)ds.shm_nattch;
}

/* The /proc/self/maps line of the VMA at `addr`, as "perms name inode-is-id". */
static const char *maps_of(void *addr, int id, char *buf, size_t size)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    snprintf(buf, size, "none");
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, inode;
        char perms[8], dev[16];
        char name[256] = "";
        if (sscanf(line, "%lx-%lx %7s %*x %15s %lu %255[^\n]", &lo, &hi, perms, dev, &inode, name) < 5) continue;
        if (lo != (unsigned long)addr) continue;
        char want[64];
        snprintf(want, sizeof want, "/SYSV%08x (deleted)", (unsigned)g_key);
        const char *n = name;
        while (*n == ' ') ++n;
        snprintf(buf, size, "%s %s inode=%s pages=%lu", perms, strcmp(n, want) == 0 ? "/SYSV<key> (deleted)" : n,
                 inode == (unsigned long)id ? "id" : "other", (hi - lo) / PG);
    }
    if (f) fclose(f);
    return buf;
}
#define MAPS(addr, id) maps_of((addr), (id), (char[256]){0}, 256)

int main(void)
{
    probe_init();
    g_key = (key_t)(0x4d4d0000 | (getpid() & 0xffff));
    /* shmget. */
    EXPECT_SYS("size 0", shmget(IPC_PRIVATE, 0, 0600), "-1 EINVAL");
    EXPECT_SYS("64 TiB, more than RAM and swap", shmget(IPC_PRIVATE, 1ul << 46, 0600), "-1 ENOMEM");
    EXPECT_SYS("absent key without IPC_CREAT", shmget(g_key, PG, 0600), "-1 ENOENT");
    int id = shmget(g_key, 10000, IPC_CREAT | IPC_EXCL | 0600);
    expect("create", id >= 0 ? "ok" : errname(errno), "ok");
    EXPECT_SYS("IPC_EXCL again", shmget(g_key, PG, IPC_CREAT | IPC_EXCL | 0600), "-1 EEXIST");
    EXPECT_SYS("bigger than the segment", shmget(g_key, 3 * PG, 0600), "-1 EINVAL");
    expect("same key, smaller size", shmget(g_key, 100, 0) == id ? "same id" : "other", "same id");
    expect("IPC_CREAT finds it", shmget(g_key, 100, IPC_CREAT | 0600) == id ? "same id" : "other", "same id");
    int priv1 = shmget(IPC_PRIVATE, PG, 0600), priv2 = shmget(IPC_PRIVATE, PG, 0600);
    expect("IPC_PRIVATE twice", priv1 >= 0 && priv2 >= 0 && priv1 != priv2 ? "two segments" : "?", "two segments");
    shmctl(priv1, IPC_RMID, NULL), shmctl(priv2, IPC_RMID, NULL);

    struct shmid_ds ds;
    EXPECT_SYS("IPC_STAT", shmctl(id, IPC_STAT, &ds), "0");
    expectf("stat fields", "segsz=10000 mode=600 nattch=0 cpid=self key=ok", "segsz=%lu mode=%o nattch=%lu cpid=%s key=%s",
            (unsigned long)ds.shm_segsz, ds.shm_perm.mode, (unsigned long)ds.shm_nattch,
            ds.shm_cpid == getpid() ? "self" : "other", ds.shm_perm.__key == g_key ? "ok" : "other");

    /* shmat: two attachments see the same pages; the last partial page is there in full. */
    char *a = shmat(id, NULL, 0);
    char *b = shmat(id, NULL, 0);
    expect("attach twice", a != (void *)-1 && b != (void *)-1 && a != b ? "ok" : errname(errno), "ok");
    a[5] = 'x';
    a[11000] = 'y';
    expectf("second attachment sees it", "x y", "%c %c", b[5], b[11000]);
    expect("maps line", MAPS(a, id), "rw-s /SYSV<key> (deleted) inode=id pages=3");
    expectf("nattch", "2", "%ld", nattch(id));

    /* A split VMA counts twice; a forked child adds its own. */
    EXPECT_SYS("mprotect splits", mprotect(b, PG, PROT_READ), "0");
    expectf("nattch after split", "3", "%ld", nattch(id));
    int pipefd[2];
    pipe(pipefd);
    pid_t pid = fork();
    if (pid == 0) {
        a[6] = 'c';
        char n[8];
        snprintf(n, sizeof n, "%ld", nattch(id));
        write(pipefd[1], n, strlen(n) + 1);
        _exit(0);
    }
    char got[8] = "";
    read(pipefd[0], got, sizeof got);
    expect("nattch in the child", got, "6");
    expect("child", WAIT(pid), "exit 0");
    expectf("parent sees the child's write, nattch back", "c 3", "%c %ld", b[6], nattch(id));

    /* shmdt rules. */
    EXPECT_SYS("shmdt inside", shmdt(a + PG), "-1 EINVAL");
    EXPECT_SYS("shmdt unaligned", shmdt(a + 1), "-1 EINVAL");
    EXPECT_SYS("shmdt both pieces", shmdt(b), "0");
    expectf("nattch after shmdt", "1", "%ld", nattch(id));
    expect("detached", PROBE_R(b, b), "SIGSEGV SEGV_MAPERR addr=+0x0");
    EXPECT_SYS("shmdt again", shmdt(b), "-1 EINVAL");
    char *anon = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_SYS("shmdt of anonymous memory", shmdt(anon), "-1 EINVAL");

    /* shmat address and flag rules. */
    EXPECT_SYS("shmat bad id", (long)shmat(-1, NULL, 0), "-1 EINVAL");
    EXPECT_SYS("shmat unaligned", (long)shmat(id, anon + 1, 0), "-1 EINVAL");
    EXPECT_SYS("shmat over a mapping", (long)shmat(id, anon, 0), "-1 EINVAL");
    char *r = shmat(id, anon + 1, SHM_RND | SHM_REMAP);
    expect("SHM_RND|SHM_REMAP replaces", r == anon ? "at anon" : errname(errno), "at anon");
    expectf("remapped sees the segment", "x", "%c", r[5]);
    shmdt(r);
    char *ro = shmat(id, NULL, SHM_RDONLY);
    expect("SHM_RDONLY maps line", MAPS(ro, id), "r--s /SYSV<key> (deleted) inode=id pages=3");
    expect("write to SHM_RDONLY", PROBE_W(ro, ro, 1), "SIGSEGV SEGV_ACCERR addr=+0x0");
    EXPECT_SYS("mprotect SHM_RDONLY writable", mprotect(ro, PG, PROT_READ | PROT_WRITE), "-1 EACCES");
    shmdt(ro);
    char *x = shmat(id, NULL, SHM_EXEC);
    expect("SHM_EXEC maps line", MAPS(x, id), "rwxs /SYSV<key> (deleted) inode=id pages=3");
    shmdt(x);

    /* shmctl rules. */
    EXPECT_SYS("IPC_STAT bad id", shmctl(id + 1, IPC_STAT, &ds), "-1 EINVAL");
    EXPECT_SYS("bad command", shmctl(id, 99, &ds), "-1 EINVAL");
    EXPECT_SYS("IPC_STAT to a bad pointer", shmctl(id, IPC_STAT, (void *)8), "-1 EFAULT");
    ds.shm_perm.mode = 0640;
    EXPECT_SYS("IPC_SET", shmctl(id, IPC_SET, &ds), "0");
    shmctl(id, IPC_STAT, &ds);
    expectf("mode after IPC_SET", "640", "%o", ds.shm_perm.mode);
    EXPECT_SYS("SHM_LOCK", shmctl(id, SHM_LOCK, NULL), "0");
    shmctl(id, IPC_STAT, &ds);
    expectf("SHM_LOCKED", "2640", "%o", ds.shm_perm.mode);
    EXPECT_SYS("SHM_UNLOCK", shmctl(id, SHM_UNLOCK, NULL), "0");

    /* IPC_RMID while attached: SHM_DEST, the key is private, the id still attaches. */
    EXPECT_SYS("IPC_RMID attached", shmctl(id, IPC_RMID, NULL), "0");
    shmctl(id, IPC_STAT, &ds);
    expectf("after IPC_RMID", "mode=1640 key=0 nattch=1", "mode=%o key=%d nattch=%lu", ds.shm_perm.mode,
            ds.shm_perm.__key, (unsigned long)ds.shm_nattch);
    EXPECT_SYS("key gone", shmget(g_key, PG, 0600), "-1 ENOENT");
    char *again = shmat(id, NULL, 0);
    expect("attach a removed segment", again != (void *)-1 ? "ok" : errname(errno), "ok");
    expectf("it still holds", "x", "%c", again[5]);
    /* shmdt of an attachment whose first page is gone finds the rest by its offset. */
    munmap(again, PG);
    EXPECT_SYS("shmdt after its first page was unmapped", shmdt(again), "0");
    expect("rest detached", PROBE_R(again + 2 * PG, again), "SIGSEGV SEGV_MAPERR addr=+0x2000");
    EXPECT_SYS("last shmdt", shmdt(a), "0");
    EXPECT_SYS("destroyed", shmctl(id, IPC_STAT, &ds), "-1 EINVAL");
    return summary("sysv_shm_rules");
}
