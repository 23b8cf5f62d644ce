// NUMA memory policies of ranges (mbind, set_mempolicy_home_node): a VMA attribute like any
// other, so the work is splitting and merging VMAs. The machine has one node; which node a page
// is on never changes.
#include <algorithm>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {
constexpr std::uint16_t kMpolBind = 2, kMpolPreferredMany = 5;
}  // namespace

Status AddressSpace::set_policy_impl(VirtAddr start, VirtAddr end, const MemPolicy& policy) {
    // mbind looks at the whole range before it changes anything: a hole is EFAULT, except that
    // MPOL_DEFAULT only needs some VMA in the range (Linux's MPOL_MF_DISCONTIG_OK when the new
    // policy is none; measured on the host).
    const bool holes_allowed = policy.mode == 0;
    if (holes_allowed ? !vmas_.intersects(start, end) : !vmas_.covered(start, end)) return Errno{EFAULT};
    Status result = Ok{};
    for (VirtAddr at = start; at < end;) {
        Vma* v = vmas_.find_at_or_above(at);
        if (!v || v->start >= end) break;
        at = std::max(at, v->start);
        const VirtAddr piece_end = std::min(end, v->end);
        if (v->policy != policy) {
            if (splits_exceed_map_count(*v, at, piece_end)) {
                result = Errno{ENOMEM};
                break;
            }
            for (Vma* piece : vmas_.isolate(at, piece_end)) piece->policy = policy;
        }
        at = piece_end;
    }
    vmas_.merge_around(start, end);
    return result;
}

Status AddressSpace::set_home_node_impl(VirtAddr start, VirtAddr end, int node) {
    // The errno to return, 0 for success (a plain int: GCC's -O3 took a Status assigned in the
    // loop for maybe-uninitialized, which -Werror made a build failure of the Release preset).
    int error = ENOENT;  // no VMA in the range has a policy
    for (Vma* v = vmas_.find_at_or_above(start); v && v->start < end; v = vmas_.find_at_or_above(v->end)) {
        if (v->policy.mode == 0) continue;
        if (v->policy.mode != kMpolBind && v->policy.mode != kMpolPreferredMany) {
            error = EOPNOTSUPP;
            break;
        }
        const VirtAddr from = std::max(start, v->start), to = std::min(end, v->end);
        MemPolicy policy = v->policy;
        policy.home_node = node;
        if (policy != v->policy && splits_exceed_map_count(*v, from, to)) {
            error = ENOMEM;
            break;
        }
        const VirtAddr resume = to;
        if (policy != v->policy)
            for (Vma* piece : vmas_.isolate(from, to)) piece->policy = policy;
        error = 0;
        v = vmas_.find(resume - 1);  // the piece that ends the part just changed
    }
    vmas_.merge_around(start, end);
    if (error) return Errno{error};
    return Ok{};
}

}  // namespace mmu
