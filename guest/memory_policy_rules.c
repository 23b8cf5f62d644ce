/* memory_policy_rules.c - NUMA memory policies on a machine with one node (node 0), as the host
 * and mmuemu both are: set_mempolicy/get_mempolicy for the task, mbind on ranges (which splits
 * and merges VMAs like any other VMA attribute), set_mempolicy_home_node, migrate_pages and
 * move_pages.
 *
 * Rules pinned (each compared with the host kernel):
 *  - the default policy reads back as MPOL_DEFAULT with an empty mask; every mode with node 0
 *    reads back with its mode flags; MPOL_PREFERRED with an empty mask reads back as MPOL_LOCAL;
 *  - errors: an unknown mode, both STATIC and RELATIVE, NUMA_BALANCING outside BIND, a node that
 *    is not online, a mask for DEFAULT or LOCAL, an empty mask for BIND or INTERLEAVE, a maxnode
 *    too small for get_mempolicy's mask, unknown flags: EINVAL; a bad mask pointer EFAULT;
 *  - MPOL_F_MEMS_ALLOWED gives node 0; MPOL_F_NODE|MPOL_F_ADDR gives the node of a page;
 *    MPOL_F_ADDR gives the policy of the VMA (EFAULT where nothing is mapped);
 *  - mbind on the middle of a mapping splits it in three VMAs; MPOL_DEFAULT on the same range
 *    merges them back; mbind over a hole EFAULT (MPOL_DEFAULT only needs some VMA in the range
 *    and resets the VMAs there), an unaligned start EINVAL, MPOL_MF_MOVE_ALL
 *    without CAP_SYS_NICE EPERM (as root it is allowed);
 *  - set_mempolicy_home_node: flags EINVAL, an offline node EINVAL, a range where no VMA has a
 *    policy ENOENT, a PREFERRED range EOPNOTSUPP, a BIND range 0 (the VMA keeps its mode);
 *  - move_pages with no nodes reports node 0 for a present page, -ENOENT for an untouched one
 *    and -EFAULT where nothing is mapped; to node 0 it succeeds, to node 1 ENODEV;
 *    migrate_pages returns 0 pages left, EINVAL with no node to move to (or a node not online:
 *    the guest runs as root in CI, EPERM otherwise; both runs share the user).
 */
#include "guest_util.h"
#include "show_result.h"

#include <sys/wait.h>

#ifndef MPOL_DEFAULT
#define MPOL_DEFAULT 0
#define MPOL_PREFERRED 1
#define MPOL_BIND 2
#define MPOL_INTERLEAVE 3
#define MPOL_LOCAL 4
#endif
#define MPOL_PREFERRED_MANY 5
#define MPOL_WEIGHTED_INTERLEAVE 6
#define MPOL_F_NUMA_BALANCING (1 << 13)
#define MPOL_F_RELATIVE_NODES (1 << 14)
#define MPOL_F_STATIC_NODES (1 << 15)
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2
#define MPOL_F_MEMS_ALLOWED 4
#define MPOL_MF_STRICT 1
#define MPOL_MF_MOVE 2
#define MPOL_MF_MOVE_ALL 4
#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

static long set_policy(int mode, const unsigned long *mask, unsigned long maxnode)
{
    return syscall(SYS_set_mempolicy, mode, mask, maxnode);
}

static long get_policy(int *mode, unsigned long *mask, unsigned long maxnode, void *addr, unsigned long flags)
{
    return syscall(SYS_get_mempolicy, mode, mask, maxnode, addr, flags);
}

static long mbind_range(void *addr, unsigned long len, int mode, const unsigned long *mask, unsigned long maxnode,
                        unsigned flags)
{
    return syscall(SYS_mbind, addr, len, mode, mask, maxnode, flags);
}

/* The task's policy as "mode M mask X" (or the error). */
static void show_policy(const char *label, void *addr, unsigned long flags)
{
    int mode = -1;
    unsigned long mask[2] = {~0UL, ~0UL};
    long r = get_policy(&mode, mask, 128, addr, flags);
    if (r < 0)
        out("%s: %s\n", label, strerrorname_np(errno));
    else
        out("%s: mode %#x mask %lx %lx\n", label, mode, mask[0], mask[1]);
}

static void task_policy(void)
{
    const unsigned long node0 = 1, node1 = 2, none = 0;
    show_policy("default", NULL, 0);
    const int modes[] = {MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED_MANY,
                         MPOL_WEIGHTED_INTERLEAVE, MPOL_BIND | MPOL_F_STATIC_NODES,
                         MPOL_INTERLEAVE | MPOL_F_RELATIVE_NODES, MPOL_BIND | MPOL_F_NUMA_BALANCING,
                         MPOL_PREFERRED_MANY | MPOL_F_NUMA_BALANCING};
    for (unsigned i = 0; i < sizeof modes / sizeof *modes; ++i) {
        char label[64];
        snprintf(label, sizeof label, "set %#x node 0", modes[i]);
        SHOW(label, set_policy(modes[i], &node0, 64));
        show_policy("  reads back", NULL, 0);
    }
    SHOW("set PREFERRED, empty mask", set_policy(MPOL_PREFERRED, &none, 64));
    show_policy("  reads back", NULL, 0);
    SHOW("set PREFERRED, NULL mask", set_policy(MPOL_PREFERRED, NULL, 0));
    show_policy("  reads back", NULL, 0);
    SHOW("set LOCAL", set_policy(MPOL_LOCAL, NULL, 0));
    show_policy("  reads back", NULL, 0);
    SHOW("F_NODE under LOCAL", get_policy(NULL, NULL, 0, NULL, MPOL_F_NODE));
    SHOW("set INTERLEAVE node 0", set_policy(MPOL_INTERLEAVE, &node0, 64));
    int node = -1;
    SHOW("F_NODE under INTERLEAVE", get_policy(&node, NULL, 0, NULL, MPOL_F_NODE));
    out("  next node %d\n", node);
    SHOW("set DEFAULT", set_policy(MPOL_DEFAULT, NULL, 0));
    show_policy("  reads back", NULL, 0);

    SHOW("unknown mode 7", set_policy(7, &node0, 64));
    SHOW("STATIC and RELATIVE", set_policy(MPOL_BIND | MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES, &node0, 64));
    SHOW("NUMA_BALANCING with INTERLEAVE", set_policy(MPOL_INTERLEAVE | MPOL_F_NUMA_BALANCING, &node0, 64));
    SHOW("node 1 (offline)", set_policy(MPOL_BIND, &node1, 64));
    SHOW("nodes 0 and 1", set_policy(MPOL_BIND, (unsigned long[]){3}, 64));
    SHOW("node 1 with maxnode 1 (cut off)", set_policy(MPOL_BIND, &node1, 1));
    SHOW("DEFAULT with a mask", set_policy(MPOL_DEFAULT, &node0, 64));
    SHOW("LOCAL with a mask", set_policy(MPOL_LOCAL, &node0, 64));
    SHOW("BIND with an empty mask", set_policy(MPOL_BIND, &none, 64));
    SHOW("BIND with maxnode 0", set_policy(MPOL_BIND, &node0, 0));
    SHOW("BIND with a bad mask pointer", set_policy(MPOL_BIND, bad_pointer, 64));
    SHOW("BIND with maxnode 2^20", set_policy(MPOL_BIND, &node0, 1UL << 20));
    SHOW("BIND with a high bit beyond the nodes", set_policy(MPOL_BIND, (unsigned long[]){1, 0, 1}, 192));
    show_policy("  reads back", NULL, 0);
    SHOW("set DEFAULT", set_policy(MPOL_DEFAULT, NULL, 0));

    int mode;
    unsigned long mask[4];
    SHOW("get with maxnode 0 and a mask", get_policy(&mode, mask, 0, NULL, 0));
    SHOW("get with maxnode 1 and a mask", get_policy(&mode, mask, 1, NULL, 0));
    SHOW("get with maxnode 0, no mask", get_policy(&mode, NULL, 0, NULL, 0));
    SHOW("get with a bad mode pointer", get_policy(bad_pointer, NULL, 0, NULL, 0));
    SHOW("get with a bad mask pointer", get_policy(&mode, bad_pointer, 64, NULL, 0));
    SHOW("get unknown flag", get_policy(&mode, NULL, 0, NULL, 8));
    SHOW("get addr without F_ADDR", get_policy(&mode, NULL, 0, &mode, 0));
    SHOW("get MEMS_ALLOWED|ADDR", get_policy(&mode, NULL, 0, &mode, MPOL_F_MEMS_ALLOWED | MPOL_F_ADDR));
    SHOW("get F_NODE under DEFAULT", get_policy(&mode, NULL, 0, NULL, MPOL_F_NODE));
    show_policy("MEMS_ALLOWED", NULL, MPOL_F_MEMS_ALLOWED);
    memset(mask, 0xff, sizeof mask);
    SHOW("MEMS_ALLOWED, maxnode 200", get_policy(&mode, mask, 200, NULL, MPOL_F_MEMS_ALLOWED));
    out("  mask %lx %lx %lx %lx\n", mask[0], mask[1], mask[2], mask[3]);
}

static void range_policy(void)
{
    const unsigned long node0 = 1;
    char *m = map_anon(8, PROT_READ | PROT_WRITE);
    out("mapping: %d VMAs\n", vmas_in(m, m + 8 * PG));
    SHOW("mbind BIND pages 2-4", mbind_range(m + 2 * PG, 3 * PG, MPOL_BIND, &node0, 64, 0));
    out("  %d VMAs\n", vmas_in(m, m + 8 * PG));
    show_policy("  policy at page 3", m + 3 * PG, MPOL_F_ADDR);
    show_policy("  policy at page 0", m, MPOL_F_ADDR);
    SHOW("mbind the same BIND on pages 5-6", mbind_range(m + 5 * PG, 2 * PG, MPOL_BIND, &node0, 64, 0));
    out("  %d VMAs\n", vmas_in(m, m + 8 * PG));
    SHOW("mbind INTERLEAVE on page 4", mbind_range(m + 4 * PG, PG, MPOL_INTERLEAVE, &node0, 64, 0));
    out("  %d VMAs\n", vmas_in(m, m + 8 * PG));
    SHOW("mbind DEFAULT on all", mbind_range(m, 8 * PG, MPOL_DEFAULT, NULL, 0, 0));
    out("  %d VMAs\n", vmas_in(m, m + 8 * PG));
    SHOW("mbind PREFERRED with MF_STRICT|MF_MOVE", mbind_range(m, 8 * PG, MPOL_PREFERRED, &node0, 64,
                                                               MPOL_MF_STRICT | MPOL_MF_MOVE));
    SHOW("mbind MF_MOVE_ALL", mbind_range(m, PG, MPOL_BIND, &node0, 64, MPOL_MF_MOVE_ALL));
    SHOW("mbind unknown flag", mbind_range(m, PG, MPOL_BIND, &node0, 64, 8));
    SHOW("mbind unaligned", mbind_range(m + 1, PG, MPOL_BIND, &node0, 64, 0));
    SHOW("mbind len 0", mbind_range(m, 0, MPOL_BIND, &node0, 64, 0));
    SHOW("mbind unaligned len", mbind_range(m, 100, MPOL_DEFAULT, NULL, 0, 0));
    munmap(m + 6 * PG, PG);
    SHOW("mbind over a hole", mbind_range(m + 4 * PG, 4 * PG, MPOL_BIND, &node0, 64, 0));
    out("  %d VMAs in [0,6)\n", vmas_in(m, m + 6 * PG));
    SHOW("mbind DEFAULT over the hole", mbind_range(m + 4 * PG, 4 * PG, MPOL_DEFAULT, NULL, 0, 0));
    SHOW("mbind DEFAULT on the hole alone", mbind_range(m + 6 * PG, PG, MPOL_DEFAULT, NULL, 0, 0));
    SHOW("mbind LOCAL over the hole", mbind_range(m + 4 * PG, 4 * PG, MPOL_LOCAL, NULL, 0, 0));
    out("  %d VMAs in [0,6)\n", vmas_in(m, m + 6 * PG));
    SHOW("mbind bad mode", mbind_range(m, PG, 9, &node0, 64, 0));
    SHOW("mbind empty mask BIND", mbind_range(m, PG, MPOL_BIND, NULL, 0, 0));
    SHOW("mbind wrapping length", mbind_range(m, -PG, MPOL_BIND, &node0, 64, 0));
    show_policy("policy at the hole", m + 6 * PG, MPOL_F_ADDR);
    m[0] = 1;
    SHOW("F_NODE|F_ADDR of a touched page", get_policy(&(int){0}, NULL, 0, m, MPOL_F_NODE | MPOL_F_ADDR));
    int node = -1;
    SHOW("F_NODE|F_ADDR of an untouched page", get_policy(&node, NULL, 0, m + PG, MPOL_F_NODE | MPOL_F_ADDR));
    out("  node %d\n", node);

    SHOW("home node: flags", syscall(SYS_set_mempolicy_home_node, m, PG, 0, 1));
    SHOW("home node: node 1", syscall(SYS_set_mempolicy_home_node, m, PG, 1, 0));
    SHOW("home node: a range without a policy", syscall(SYS_set_mempolicy_home_node, m, PG, 0, 0));
    SHOW("home node: a PREFERRED range", syscall(SYS_set_mempolicy_home_node, m + 2 * PG, PG, 0, 0));
    mbind_range(m + 3 * PG, PG, MPOL_BIND, &node0, 64, 0);
    out("  %d VMAs in [0,6)\n", vmas_in(m, m + 6 * PG));
    SHOW("home node: a BIND range", syscall(SYS_set_mempolicy_home_node, m + 3 * PG, PG, 0, 0));
    out("  %d VMAs in [0,6)\n", vmas_in(m, m + 6 * PG));
    show_policy("  policy there", m + 3 * PG, MPOL_F_ADDR);
    SHOW("home node: BIND and none", syscall(SYS_set_mempolicy_home_node, m, 4 * PG, 0, 0));
    SHOW("home node: over the hole", syscall(SYS_set_mempolicy_home_node, m + 5 * PG, 3 * PG, 0, 0));
    SHOW("home node: unaligned", syscall(SYS_set_mempolicy_home_node, m + 1, PG, 0, 0));

    void *pages[5] = {m, m + PG, m + 6 * PG, bad_pointer, m + 5 * PG};
    int status[5] = {7, 7, 7, 7, 7};
    m[PG] = 0;
    SHOW("move_pages query", syscall(SYS_move_pages, 0, 5, pages, NULL, status, 0));
    out("  status %d %d %d %d %d\n", status[0], status[1], status[2], status[3], status[4]);
    SHOW("move_pages bad status pointer", syscall(SYS_move_pages, 0, 1, pages, NULL, bad_pointer, 0));
    SHOW("move_pages bad pages pointer", syscall(SYS_move_pages, 0, 1, bad_pointer, NULL, status, 0));
    int nodes[2] = {0, 0};
    SHOW("move_pages to node 0", syscall(SYS_move_pages, 0, 2, pages, nodes, status, 0));
    out("  status %d %d\n", status[0], status[1]);
    nodes[0] = 1;
    SHOW("move_pages to node 1", syscall(SYS_move_pages, 0, 1, pages, nodes, status, 0));
    SHOW("move_pages bad flags", syscall(SYS_move_pages, 0, 1, pages, NULL, status, 8));
    SHOW("move_pages no such pid", syscall(SYS_move_pages, 99999, 1, pages, NULL, status, 0));
    const unsigned long from = 1, to = 1;
    SHOW("migrate_pages self", syscall(SYS_migrate_pages, 0, 64, &from, &to));
    SHOW("migrate_pages no such pid", syscall(SYS_migrate_pages, 99999, 64, &from, &to));
    SHOW("migrate_pages to no node", syscall(SYS_migrate_pages, 0, 64, &from, NULL));
    SHOW("migrate_pages from no node", syscall(SYS_migrate_pages, 0, 64, NULL, &to));
    SHOW("migrate_pages maxnode 1", syscall(SYS_migrate_pages, 0, 1, &from, &to));
    SHOW("migrate_pages to node 1", syscall(SYS_migrate_pages, 0, 64, &from, (unsigned long[]){2}));
    SHOW("migrate_pages bad mask pointer", syscall(SYS_migrate_pages, 0, 64, bad_pointer, &to));
    munmap(m, 8 * PG);
}

int main(void)
{
    task_policy();
    /* A thread's policy is its own; a forked child inherits it. */
    const unsigned long node0 = 1;
    set_policy(MPOL_INTERLEAVE, &node0, 64);
    pid_t child = fork();
    if (child == 0) {
        show_policy("child inherits", NULL, 0);
        _exit(0);
    }
    waitpid(child, NULL, 0);
    set_policy(MPOL_DEFAULT, NULL, 0);
    range_policy();
    return 0;
}
