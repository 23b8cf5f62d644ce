// fork: the child gets a copy of every VMA except MADV_DONTFORK ones. Private pages are shared
// copy-on-write (write-protected in both), shared pages are shared, guard markers are copied
// except in MADV_WIPEONFORK ranges, which the child sees empty. Locks are not inherited.
#include <cerrno>

#include "mmu/address_space.hpp"

namespace mmu {

Result<std::unique_ptr<AddressSpace>> AddressSpace::fork_impl() {
    const CheckOnReturn check(*this);
    auto child = std::make_unique<AddressSpace>(memory_, tlb_, layout_);
    child->brk_start_ = brk_start_;
    child->brk_ = brk_;
    child->next_anon_id_ = next_anon_id_;
    TlbGather gather(tlb_, memory_, asid_);
    for (const auto& entry : vmas_.all()) {
        const Vma& vma = entry.second;  // not a structured binding: the lambda below captures it
        if (vma.has(vma_flag::kDontFork)) continue;
        Vma copy = vma;
        // The child's mappings are not registered with the parent's userfaultfd (no
        // UFFD_FEATURE_EVENT_FORK), and its pages lose userfaultfd write-protection.
        copy.flags &= ~(vma_flag::kLocked | vma_flag::kLockOnFault | vma_flag::kUffdAny);
        copy.uffd_ctx = 0;
        const bool wipe = vma.has(vma_flag::kWipeOnFork);
        // Each child VMA gets an anon_vma of its own, chained to the parent's (anon_vma_fork).
        if (copy.anon_id != 0) {
            copy.anon_id = child->new_anon_id(copy);
            copy.anon_inherited = true;
        }
        if (wipe) copy.anon_id = 0, copy.anon_inherited = false;
        child->vmas_.insert(std::move(copy));
        if (wipe) continue;
        Status status = Ok{};
        (void)table_.walk_range(vma.start, vma.end, MissingTables::Skip, EmptyTables::Keep,
                                [&](VirtAddr va, Pte& pte) {
            if (pte.is_none()) return WalkAction::Continue;
            // The child is not registered: userfaultfd write-protection stays behind.
            if (pte.kind() == PteKind::Marker && (pte.marker_bits() & marker::kUffdWp)) {
                const std::uint64_t rest = pte.marker_bits() & ~marker::kUffdWp;
                if (!rest) return WalkAction::Continue;
                auto slot = child->table_.ensure(va);
                if (!slot) {
                    status = Errno{ENOMEM};
                    return WalkAction::Stop;
                }
                *slot.value() = Pte::make_marker(rest);
                return WalkAction::Continue;
            }
            auto slot = child->table_.ensure(va);
            if (!slot) {
                status = Errno{ENOMEM};
                return WalkAction::Stop;
            }
            if (pte.maps_frame()) {
                memory_.get(pte.pfn());
                if (pte.pfn() != memory_.zero_page()) ++child->rss_pages_;
                if (!vma.shared() && pte.present() && pte.writable()) {
                    pte = pte.without(Pte::kWritable);  // copy-on-write from now on
                    gather.add_page(va);
                }
            }
            *slot.value() = pte.maps_frame() ? pte.without(Pte::kUffdWp) : pte;
            return WalkAction::Continue;
        });
        if (!status) return Errno{status.error()};
    }
    return child;
}

}  // namespace mmu
