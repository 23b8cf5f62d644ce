// NUMA memory policies on a machine with one memory node (node 0), as the host is:
// set_mempolicy/get_mempolicy (the task's policy), mbind and set_mempolicy_home_node (a range's
// policy, a VMA attribute in the mmu library), migrate_pages and move_pages (nothing ever moves).
// The checks and their order are Linux's (mm/mempolicy.c and mm/migrate.c as of 6.18),
// each compared with the host by guest memory_policy_rules.
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "machine/process.hpp"
#include "syscalls/syscall_support.hpp"

namespace emu::sys {

namespace {

using mmu::MemPolicy;

constexpr int kMpolDefault = 0, kMpolPreferred = 1, kMpolBind = 2, kMpolInterleave = 3, kMpolLocal = 4,
              kMpolPreferredMany = 5, kMpolWeightedInterleave = 6, kMpolMax = 7;
constexpr unsigned kFlagNumaBalancing = 1u << 13, kFlagRelativeNodes = 1u << 14, kFlagStaticNodes = 1u << 15;
constexpr unsigned kModeFlags = kFlagNumaBalancing | kFlagRelativeNodes | kFlagStaticNodes;
constexpr std::uint64_t kGetNode = 1, kGetAddr = 2, kGetMemsAllowed = 4;
constexpr std::uint64_t kMbindStrict = 1, kMbindMove = 2, kMbindMoveAll = 4;
constexpr std::uint64_t kMaxNumNodes = 1024;       // the host's MAX_NUMNODES (CONFIG_NODES_SHIFT 10)
constexpr std::uint64_t kMaxNodemaskBits = 32768;  // PAGE_SIZE * BITS_PER_BYTE
constexpr int kCapSysNice = 23;

// A node mask from the guest, as Linux's get_nodes reads it: maxnode - 1 bits (maxnode 0 wraps
// and is EINVAL unless there is no mask), bits at or above MAX_NUMNODES must be clear.
struct NodeMask {
    std::uint64_t low = 0;     // nodes 0-63
    bool any = false;          // some node below MAX_NUMNODES is set
    bool beyond_node0 = false;  // some node other than 0 is set (a node this machine lacks)
};

std::int64_t read_nodes(Process& p, std::uint64_t addr, std::uint64_t maxnode, NodeMask& out) {
    out = {};
    --maxnode;
    if (maxnode == 0 || addr == 0) return 0;
    if (maxnode > kMaxNodemaskBits) return err(EINVAL);
    const std::uint64_t words = (maxnode + 63) / 64;
    for (std::uint64_t i = 0; i < words; ++i) {
        std::uint64_t word = 0;
        if (!p.as().copy_from_user(&word, addr + i * 8, 8)) return err(EFAULT);
        const std::uint64_t first_bit = i * 64, valid_bits = std::min<std::uint64_t>(64, maxnode - first_bit);
        if (valid_bits < 64) word &= (std::uint64_t{1} << valid_bits) - 1;
        for (std::uint64_t bit = 0; bit < 64 && word; ++bit) {
            if (!((word >> bit) & 1)) continue;
            if (first_bit + bit >= kMaxNumNodes) return err(EINVAL);
            out.any = true;
            out.beyond_node0 |= first_bit + bit != 0;
        }
        if (i == 0) out.low = word;
    }
    return 0;
}

// sanitize_mpol_flags: the mode and its flags, split.
std::int64_t split_mode(std::uint64_t raw, int& mode, unsigned& flags) {
    flags = static_cast<unsigned>(raw) & kModeFlags;
    const auto rest = static_cast<unsigned>(raw) & ~kModeFlags;
    if (rest >= kMpolMax) return err(EINVAL);
    mode = static_cast<int>(rest);
    if ((flags & kFlagStaticNodes) && (flags & kFlagRelativeNodes)) return err(EINVAL);
    if ((flags & kFlagNumaBalancing) && mode != kMpolBind && mode != kMpolPreferredMany) return err(EINVAL);
    return 0;
}

// mpol_new: the policy a mode, its flags and a node mask make on a one-node machine. An empty
// mask makes MPOL_PREFERRED local; nodes are intersected with the allowed ones ({0}), except
// that MPOL_F_RELATIVE_NODES folds them onto it; get_mempolicy reports the user's mask for
// STATIC and RELATIVE policies, else the nodes in effect.
std::int64_t make_policy(int mode, unsigned flags, const NodeMask& nodes, MemPolicy& out) {
    out = {};
    const bool user_mask = flags & (kFlagStaticNodes | kFlagRelativeNodes);
    if (mode == kMpolDefault) return nodes.any ? err(EINVAL) : 0;
    if (mode == kMpolPreferred && !nodes.any) {
        if (user_mask) return err(EINVAL);
        mode = kMpolLocal;
    } else if (mode == kMpolLocal) {
        if (nodes.any || user_mask) return err(EINVAL);
    } else if (!nodes.any) {
        return err(EINVAL);
    }
    if (mode != kMpolLocal) {
        const bool node0 = (flags & kFlagRelativeNodes) ? nodes.any : (nodes.low & 1);
        if (!node0) return err(EINVAL);
    }
    out.mode = static_cast<std::uint16_t>(mode);
    out.flags = static_cast<std::uint16_t>(flags);
    out.nodes = mode == kMpolLocal ? 0 : user_mask ? nodes.low : 1;
    return 0;
}

// copy_nodes_to_user: maxnode - 1 bits rounded up to longs, zero beyond the one node's long.
std::int64_t write_nodes(Process& p, std::uint64_t addr, std::uint64_t maxnode, std::uint64_t nodes) {
    std::uint64_t bytes = ((maxnode - 1 + 63) / 64) * 8;
    if (bytes > 8) {
        if (bytes > 4096) return err(EINVAL);
        const std::vector<std::uint8_t> zeros(bytes - 8);
        if (!p.as().copy_to_user(addr + 8, zeros.data(), zeros.size())) return err(EFAULT);
        bytes = 8;
    }
    return !bytes || p.as().copy_to_user(addr, &nodes, bytes) ? 0 : err(EFAULT);
}

std::int64_t do_set_mempolicy(Process& p, const SyscallArgs& s) {
    int mode;
    unsigned flags;
    if (const std::int64_t e = split_mode(s.a[0], mode, flags)) return e;
    NodeMask nodes;
    if (const std::int64_t e = read_nodes(p, s.a[1], s.a[2], nodes)) return e;
    MemPolicy policy;
    if (const std::int64_t e = make_policy(mode, flags, nodes, policy)) return e;
    p.task().mempolicy = policy;
    return 0;
}

std::int64_t do_get_mempolicy(Process& p, const SyscallArgs& s) {
    const std::uint64_t mode_addr = s.a[0], mask_addr = s.a[1], maxnode = s.a[2], addr = s.a[3], flags = s.a[4];
    if (mask_addr && maxnode < 1) return err(EINVAL);  // fewer bits than nr_node_ids
    if (flags & ~(kGetNode | kGetAddr | kGetMemsAllowed)) return err(EINVAL);
    std::int64_t value = 0;
    std::uint64_t nodes = 0;
    if (flags & kGetMemsAllowed) {
        if (flags & (kGetNode | kGetAddr)) return err(EINVAL);
        nodes = 1;
    } else {
        MemPolicy policy = p.task().mempolicy;
        if (flags & kGetAddr) {
            const mmu::Vma* v = p.as().vmas().find(addr);
            if (!v) return err(EFAULT);
            policy = v->policy.mode ? v->policy : MemPolicy{};
        } else if (addr) {
            return err(EINVAL);
        }
        if (flags & kGetNode) {
            if (flags & kGetAddr) {
                // The node of the page at addr, faulted in as get_user_pages would (read).
                if (!p.as().access(addr & ~std::uint64_t{4095}, mmu::Access::Read).ok) return err(EFAULT);
                value = 0;
            } else if (policy.mode == kMpolInterleave || policy.mode == kMpolWeightedInterleave) {
                value = 0;  // the next interleave node
            } else {
                return err(EINVAL);
            }
        } else {
            value = policy.mode | (policy.flags & kModeFlags);
        }
        nodes = policy.nodes;
    }
    if (mode_addr && put(p, mode_addr, static_cast<int>(value)) != 0) return err(EFAULT);
    return mask_addr ? write_nodes(p, mask_addr, maxnode, nodes) : 0;
}

std::int64_t do_mbind(Process& p, const SyscallArgs& s) {
    const std::uint64_t start = s.a[0], flags = s.a[5];
    int mode;
    unsigned mode_flags;
    if (const std::int64_t e = split_mode(s.a[2], mode, mode_flags)) return e;
    NodeMask nodes;
    if (const std::int64_t e = read_nodes(p, s.a[3], s.a[4], nodes)) return e;
    if (flags & ~(kMbindStrict | kMbindMove | kMbindMoveAll)) return err(EINVAL);
    if ((flags & kMbindMoveAll) && !host_has_capability(kCapSysNice)) return err(EPERM);
    if (start & 4095) return err(EINVAL);
    const std::uint64_t len = (s.a[1] + 4095) & ~std::uint64_t{4095};
    const std::uint64_t end = start + len;
    if (end < start) return err(EINVAL);
    MemPolicy policy;
    if (end == start) return 0;
    if (const std::int64_t e = make_policy(mode, mode_flags, nodes, policy)) return e;
    const mmu::Status r = p.as().set_policy(start, end, policy);
    return r ? 0 : err(r.error());
}

std::int64_t do_set_home_node(Process& p, const SyscallArgs& s) {
    const std::uint64_t start = s.a[0], node = s.a[2];
    if (start & 4095) return err(EINVAL);
    if (s.a[3] != 0) return err(EINVAL);
    if (node != 0) return err(EINVAL);  // not below MAX_NUMNODES, or not online
    const std::uint64_t end = start + ((s.a[1] + 4095) & ~std::uint64_t{4095});
    if (end < start) return err(EINVAL);
    if (end == start) return 0;
    const mmu::Status r = p.as().set_home_node(start, end, static_cast<int>(node));
    return r ? 0 : err(r.error());
}

// The address space of the process `pid` names (0: the caller's), or nullptr (ESRCH).
mmu::AddressSpace* address_space_of(Process& p, std::uint64_t pid) {
    if (pid == 0) return &p.as();
    const auto task = p.find_task(static_cast<int>(pid));
    return task && task->group->mm ? task->group->mm.get() : nullptr;
}

// migrate_pages: no page is ever on another node, so none is left behind (0). An empty new
// mask is EINVAL.
std::int64_t do_migrate_pages(Process& p, const SyscallArgs& s) {
    NodeMask old_nodes, new_nodes;
    if (const std::int64_t e = read_nodes(p, s.a[2], s.a[1], old_nodes)) return e;
    if (const std::int64_t e = read_nodes(p, s.a[3], s.a[1], new_nodes)) return e;
    if (!address_space_of(p, s.a[0])) return err(ESRCH);
    // Nodes the task may not use: EPERM without CAP_SYS_NICE, else EINVAL (they have no memory).
    if (new_nodes.beyond_node0) return err(host_has_capability(kCapSysNice) ? EINVAL : EPERM);
    if (!new_nodes.any) return err(EINVAL);  // nowhere to move to (measured on the host)
    return 0;
}

// move_pages: the status of each page is its node (0) when a page is mapped there, -EFAULT
// where no VMA is or the zero page is mapped, -ENOENT where nothing is mapped yet (a guard or
// PROT_NONE page included). With `nodes`, each must be 0 (ENODEV otherwise).
std::int64_t do_move_pages(Process& p, const SyscallArgs& s) {
    const std::uint64_t count = s.a[1], pages = s.a[2], nodes = s.a[3], status = s.a[4], flags = s.a[5];
    if (flags & ~(kMbindMove | kMbindMoveAll)) return err(EINVAL);
    if ((flags & kMbindMoveAll) && !host_has_capability(kCapSysNice)) return err(EPERM);
    mmu::AddressSpace* mm = address_space_of(p, s.a[0]);
    if (!mm) return err(ESRCH);
    for (std::uint64_t i = 0; i < count; ++i) {
        std::uint64_t page = 0;
        if (!p.as().copy_from_user(&page, pages + i * 8, 8)) return err(EFAULT);
        if (nodes) {
            int node = 0;
            if (!p.as().copy_from_user(&node, nodes + i * 4, 4)) return err(EFAULT);
            if (node != 0) return err(ENODEV);
        }
        int state = -EFAULT;
        if (mm->vmas().find(page)) {
            const mmu::Pte leaf = mm->leaf(page);
            state = !leaf.present() ? -ENOENT : leaf.pfn() == mm->memory().zero_page() ? -EFAULT : 0;
        }
        if (put(p, status + i * 4, state) != 0) return err(EFAULT);
    }
    return 0;
}

}  // namespace

std::optional<std::int64_t> memory_policy_syscall(Process& p, const SyscallArgs& s) {
    switch (s.nr) {
    case SYS_set_mempolicy: return do_set_mempolicy(p, s);
    case SYS_get_mempolicy: return do_get_mempolicy(p, s);
    case SYS_mbind: return do_mbind(p, s);
    case 450: return do_set_home_node(p, s);  // set_mempolicy_home_node (Linux 5.17)
    case SYS_migrate_pages: return do_migrate_pages(p, s);
    case SYS_move_pages: return do_move_pages(p, s);
    default: return std::nullopt;
    }
}

}  // namespace emu::sys
