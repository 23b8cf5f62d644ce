// Translation (the hardware walk), the page-fault handler, and kernel accesses to user memory.
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "mmu/address_space.hpp"

namespace mmu {

const char* fault_reason_name(FaultReason reason) {
    switch (reason) {
    case FaultReason::None: return "none";
    case FaultReason::NoVma: return "no mapping at this address";
    case FaultReason::Protection: return "access not permitted by the mapping's protection";
    case FaultReason::GuardMarker: return "guard region (MADV_GUARD_INSTALL marker)";
    case FaultReason::OutOfMemory: return "out of guest memory";
    case FaultReason::BeyondEnd: return "beyond the end of the mapped file or object";
    case FaultReason::NotPresent: return "page not present";
    case FaultReason::UserFault: return "handed to userfaultfd (the range is registered)";
    case FaultReason::Poisoned: return "poisoned page (UFFDIO_POISON marker)";
    }
    return "?";
}

const char* access_name(Access access) {
    switch (access) {
    case Access::Read: return "read";
    case Access::Write: return "write";
    case Access::Execute: return "execute";
    }
    return "?";
}

namespace {

Fault make_fault(VirtAddr va, Access access, FaultReason reason) {
    Fault f{va, access, reason, 0, 0};
    switch (reason) {
    case FaultReason::NoVma:
    case FaultReason::GuardMarker:
        f.signo = kSigSegv;
        f.si_code = kSegvMapErr;
        break;
    case FaultReason::Protection:
        f.signo = kSigSegv;
        f.si_code = kSegvAccErr;
        break;
    case FaultReason::OutOfMemory:
    case FaultReason::BeyondEnd:
    case FaultReason::Poisoned:  // BUS_MCEERR_AR only with CONFIG_MEMORY_FAILURE (not the host's)
        f.signo = kSigBus;
        f.si_code = 2;  // BUS_ADRERR
        break;
    case FaultReason::None:
    case FaultReason::NotPresent:
    case FaultReason::UserFault:
        break;
    }
    return f;
}

bool pte_allows(Pte pte, Access access) {
    if (!pte.present()) return false;
    if (access == Access::Write) return pte.writable();
    if (access == Access::Execute) return pte.executable();
    return true;
}

// x86 access_error(): a write needs VM_WRITE; a fault on a present entry that refused the
// access (a protection fault: NX on fetch) is an error; a read or fetch of a not-present entry
// only needs the VMA to be accessible at all. Instruction fetches are not checked against
// VM_EXEC here: the page is mapped NX and the retried fetch takes the protection path.
bool access_error(const Vma& vma, Access access, bool protection_fault) {
    if (access == Access::Read && vma.prot == kProtExec) return true;  // execute-only (pkey)
    if (access == Access::Write) return !(vma.prot & kProtWrite);
    if (protection_fault) return true;
    return vma.prot == kProtNone;
}

}  // namespace

Translated AddressSpace::translate(VirtAddr va, Access access) {
    Translated out;
    if (const TlbEntry* hit = tlb_.lookup(asid_, va, access)) {
        out.ok = true;
        out.translation = {(hit->pfn << kPageShift) | (va & (kPageSize - 1)), hit->writable,
                           hit->executable};
        return out;
    }
    tlb_.count_walk();
    Pte* pte = table_.find(va);
    if (!pte || !pte_allows(*pte, access)) {
        out.fault = make_fault(va, access, FaultReason::NotPresent);
        return out;
    }
    // The walk sets Accessed, and Dirty on a write; a TLB entry is writable only once Dirty is
    // set, so the first write after a read still reaches the walk (as the hardware does).
    *pte = pte->with(Pte::kAccessed | (access == Access::Write ? Pte::kDirty : 0));
    const bool writable = pte->writable() && pte->dirty();
    tlb_.insert(asid_, va, pte->pfn(), writable, pte->executable());
    out.ok = true;
    out.translation = {(pte->pfn() << kPageShift) | (va & (kPageSize - 1)), writable,
                       pte->executable()};
    return out;
}

Translated AddressSpace::access(VirtAddr va, Access access) {
    // A fetch may fault twice: not present (mapped NX), then the protection fault.
    for (int attempt = 0; attempt < 3; ++attempt) {
        Translated t = translate(va, access);
        if (t.ok) return t;
        t.fault = handle_fault(va, access);
        if (t.fault.signo != 0 || t.fault.reason == FaultReason::UserFault) return t;
    }
    throw std::logic_error("page fault resolved but the access still does not translate");
}

// The object's frame backing `va` (shared mappings, and the page cache of private file
// mappings), made on first use: zeroed, or read from the file.
Result<Pfn> AddressSpace::shared_frame(Vma& vma, VirtAddr va) {
    return vma.shmem->frame(vma.pgoff_at(va));
}

Fault AddressSpace::handle_fault_impl(VirtAddr va, Access access) {
    // A fault edits one PTE: checked mode verifies that entry, not the whole table.
    struct CheckEntry {
        const AddressSpace& as;
        VirtAddr va;
        ~CheckEntry() {
            if (as.checked_ && as.operation_depth_ == 0) as.check_entry(va);
        }
    } check{*this, va};
    ++faults_.faults;
    Vma* vma = vmas_.find(va);
    if (!vma) vma = grow_stack(va);
    Fault result;
    if (!vma) {
        result = make_fault(va, access, FaultReason::NoVma);
    } else if (const Pte* existing = table_.find(va);
               access_error(*vma, access, existing && existing->present())) {
        // Checked before the PTE: a guard page in a read-only mapping written to is SEGV_ACCERR.
        result = make_fault(va, access, FaultReason::Protection);
        // Linux backs PROT_EXEC-only memory with a protection key on CPUs that have them (as
        // the host does): a data read there is SEGV_PKUERR.
        if (access == Access::Read && vma->prot == kProtExec) result.si_code = kSegvPkuErr;
    } else {
        auto pte = table_.ensure(va);
        result = pte ? resolve_fault(*vma, *pte.value(), va, access)
                     : make_fault(va, access, FaultReason::OutOfMemory);
    }
    if (result.signo != 0) ++faults_.signals;
    if (result.reason == FaultReason::GuardMarker) ++faults_.guard_faults;
    return result;
}

// A fault just below a GROWSDOWN VMA (a stack) extends it, within RLIMIT_STACK and never closer
// than the stack guard gap to the mapping below (Linux expand_downwards).
Vma* AddressSpace::grow_stack(VirtAddr va) {
    Vma* stack = vmas_.find_at_or_above(va);
    if (!stack || !stack->has(vma_flag::kGrowsDown) || va >= stack->start) return nullptr;
    const VirtAddr new_start = page_down(va);
    if (stack->end - new_start > layout_.stack_limit) return nullptr;
    auto it = vmas_.all().find(stack->start);
    if (it != vmas_.all().begin()) {
        const Vma& below = std::prev(it)->second;
        if (below.end > new_start) return nullptr;
        if (below.prot != kProtNone && below.end + kStackGuardGap > new_start) return nullptr;
    }
    vmas_.extend_down(stack->start, new_start);
    return vmas_.find(va);
}

// Whether a fault in a VMA registered with a userfaultfd goes to it (handle_userfault): a
// missing page (MODE_MISSING; for shmem, a page the object does not hold), a page the shmem
// object holds but this mapping does not map (MODE_MINOR), a write to a write-protected page
// (MODE_WP). Guard and poisoned markers never raise an event.
std::optional<Fault> AddressSpace::userfault(const Vma& vma, Pte pte, VirtAddr va,
                                             Access access) const {
    const std::uint32_t write = access == Access::Write ? uffd_flag::kWrite : 0;
    auto to_uffd = [&](std::uint32_t flags) {
        Fault f{va, access, FaultReason::UserFault, 0, 0};
        f.uffd_ctx = vma.uffd_ctx;
        f.uffd_flags = flags;
        return f;
    };
    if (pte.maps_frame()) {
        if (write && pte.uffd_wp() && vma.has(vma_flag::kUffdWp))
            return to_uffd(uffd_flag::kWrite | uffd_flag::kWp);
        return std::nullopt;
    }
    if (pte.is_guard() || pte.is_poisoned()) return std::nullopt;
    if (vma.shmem_backed()) {
        const std::uint64_t index = vma.pgoff_at(va);
        if (index >= vma.shmem->page_limit()) return std::nullopt;  // SIGBUS beyond the end
        if (vma.shmem->resident(index)) {
            if (vma.has(vma_flag::kUffdMinor)) return to_uffd(write | uffd_flag::kMinor);
            return std::nullopt;
        }
    }
    if (vma.has(vma_flag::kUffdMissing)) return to_uffd(write);
    return std::nullopt;
}

// The VMA allows the access; make the PTE allow it too.
Fault AddressSpace::resolve_fault(Vma& vma, Pte& pte, VirtAddr va, Access access) {
    const bool write = access == Access::Write;
    const bool exec = vma.prot & kProtExec;
    const bool may_write = vma.prot & kProtWrite;
    if (write && pte.uffd_wp() && vma.has(vma_flag::kUffdWp) && vma.has(vma_flag::kUffdWpAsync)) {
        // UFFD_FEATURE_WP_ASYNC: the kernel resolves the write-protect fault itself, no event; the
        // protection is dropped and the write goes on as any write fault. The entry gains no
        // access by losing the bit: no flush.
        pte = pte.without(Pte::kUffdWp);
    }
    if (vma.has(vma_flag::kUffdAny))
        if (auto to_uffd = userfault(vma, pte, va, access)) return *to_uffd;
    if (pte.kind() == PteKind::Marker && (pte.marker_bits() & marker::kUffdWp) && !pte.is_guard() &&
        !pte.is_poisoned()) {
        // A uffd-wp marker: the page is faulted in as into an empty entry, then write-protected,
        // so that a write faults again, now as a write-protect event (do_pte_missing, then
        // pte_mkuffd_wp). Nothing translated it before: no flush.
        pte = Pte::none();
        const Fault f = resolve_fault(vma, pte, va, access);
        if (pte.maps_frame() && vma.has(vma_flag::kUffdWp))
            pte = pte.without(Pte::kWritable).with(Pte::kUffdWp);
        else if (pte.is_none())
            pte = Pte::make_marker(marker::kUffdWp);  // not resolved (a signal, an event): kept
        return f;
    }
    switch (pte.kind()) {
    case PteKind::Marker:
        if (pte.is_guard()) return make_fault(va, access, FaultReason::GuardMarker);
        if (pte.is_poisoned()) return make_fault(va, access, FaultReason::Poisoned);
        pte = Pte::none();  // other markers only carry state for an empty PTE
        [[fallthrough]];
    case PteKind::None:
    case PteKind::Swap: {
        // A page of an object beyond its end (a truncated file): SIGBUS (Linux filemap_fault).
        if (vma.shmem && !vma.has(vma_flag::kSpecial) && vma.pgoff_at(va) >= vma.shmem->page_limit())
            return make_fault(va, access, FaultReason::BeyondEnd);
        if (vma.shared()) {
            auto frame = shared_frame(vma, va);
            if (!frame) return make_fault(va, access, FaultReason::OutOfMemory);
            memory_.get(frame.value());
            ++rss_pages_;
            // A file page is mapped read-only until written, so that the write marks it dirty
            // (Linux's write-notify for shared file mappings); shmem is mapped as the VMA allows.
            const bool tracked = vma.shmem->backing != nullptr;
            pte = Pte::page(frame.value(), may_write && (write || !tracked), exec);
            if (write) {
                vma.shmem->mark_dirty(vma.pgoff_at(va));
                pte = pte.with(Pte::kDirty | Pte::kAccessed);
            }
            ++faults_.demand_zero;
            return {};
        }
        if (!write && !vma.file_private()) {  // private anonymous read: the shared zero page
            pte = Pte::page(memory_.zero_page(), false, exec);
            ++faults_.zero_page_maps;
            return {};
        }
        if (vma.file_private()) {
            // The page cache page: mapped read-only on a read, copied on a write.
            auto cached = shared_frame(vma, va);
            if (!cached) return make_fault(va, access, FaultReason::OutOfMemory);
            if (!write) {
                memory_.get(cached.value());
                ++rss_pages_;
                pte = Pte::page(cached.value(), false, exec);
                return {};
            }
            prepare_anon(vma);
            auto copy = memory_.allocate();
            if (!copy) return make_fault(va, access, FaultReason::OutOfMemory);
            std::memcpy(memory_.frame(copy.value()), memory_.frame(cached.value()), kPageSize);
            ++rss_pages_;
            pte = Pte::page(copy.value(), true, exec).with(Pte::kDirty | Pte::kAccessed);
            ++faults_.cow_copies;
            return {};
        }
        prepare_anon(vma);  // the first private page needs the VMA's anon_vma
        auto frame = memory_.allocate();
        if (!frame) return make_fault(va, access, FaultReason::OutOfMemory);
        ++rss_pages_;
        pte = Pte::page(frame.value(), true, exec).with(Pte::kDirty | Pte::kAccessed);
        ++faults_.demand_zero;
        return {};
    }
    case PteKind::ProtNone:  // the VMA allows access again but the PTE was not yet rewritten
        pte = Pte::page(pte.pfn(), false, exec).with(pte.raw() & Pte::kUffdWp);
        if (!write) return {};
        [[fallthrough]];
    case PteKind::Present: {
        if (!write || pte.writable()) return {};  // spurious (e.g. a stale refusal): retry
        const Pfn old = pte.pfn();
        if (vma.shared() || (old != memory_.zero_page() && memory_.refcount(old) == 1)) {
            if (vma.shared()) vma.shmem->mark_dirty(vma.pgoff_at(va));
            pte = pte.with(Pte::kWritable | Pte::kDirty).without(Pte::kUffdWp);
            ++faults_.write_enables;
            return {};
        }
        // Copy-on-write: the frame is shared with another process (or is the zero page).
        prepare_anon(vma);
        auto copy = memory_.allocate();
        if (!copy) return make_fault(va, access, FaultReason::OutOfMemory);
        std::memcpy(memory_.frame(copy.value()), memory_.frame(old), kPageSize);
        if (old == memory_.zero_page()) ++rss_pages_;
        TlbGather gather(tlb_, memory_, asid_);
        gather.add_page(va);  // the old read-only translation must go before the new one is used
        gather.defer_put(old);
        pte = Pte::page(copy.value(), true, exec).with(Pte::kDirty | Pte::kAccessed);
        ++faults_.cow_copies;
        return {};
    }
    }
    return {};
}

// Fault in [start, end) as get_user_pages would. With `stop_at_error` the first page that
// cannot be populated ends the call with EFAULT (hole: ENOMEM); without it the rest of that
// VMA is skipped and population goes on with the next VMA (MAP_POPULATE, mlock).
Status AddressSpace::populate(VirtAddr start, VirtAddr end, Populate kind, bool stop_at_error) {
    for (VirtAddr va = start; va < end;) {
        Vma* vma = vmas_.find(va);
        if (!vma) {
            if (stop_at_error) return Errno{ENOMEM};
            const Vma* next = vmas_.find_at_or_above(va);
            if (!next || next->start >= end) break;
            va = next->start;
            continue;
        }
        const VirtAddr vma_end = std::min(end, vma->end);
        if (vma->has(vma_flag::kSpecial)) {
            // Raw frames (vvar) cannot be populated; the vDSO's code can be read (already there).
            if (stop_at_error && kind != Populate::Lock &&
                (vma->has(vma_flag::kPfnMap) || kind == Populate::Write))
                return Errno{EINVAL};
            va = vma_end;  // special pages are not faulted in this way
            continue;
        }
        if (stop_at_error && kind != Populate::Lock) {
            // MADV_POPULATE_*: the VMA must allow the access itself (write-only is not readable
            // here, unlike for a user access): EINVAL, checked before any guard page.
            const std::uint32_t needed = kind == Populate::Write ? kProtWrite : kProtRead;
            if (!(vma->prot & needed)) return Errno{EINVAL};
        }
        Access access = Access::Read;
        if (kind == Populate::Write ||
            (kind == Populate::Lock && (vma->prot & kProtWrite) && !vma->shared()))
            access = Access::Write;
        for (; va < vma_end; va += kPageSize) {
            Pte* pte = table_.find(va);
            if (!pte || !pte_allows(*pte, access) || !pte->maps_frame()) {
                Fault f = handle_fault(va, access);
                // A userfaultfd range is not populated here: as for a UFFD_USER_MODE_ONLY
                // context, a kernel-mode fault there fails.
                if (f.signo != 0 || f.reason == FaultReason::UserFault) {
                    if (f.signo != 0) --faults_.signals;  // a kernel-side failure is not a signal
                    if (stop_at_error) return Errno{EFAULT};
                    va = vma_end;
                    break;
                }
                vma = vmas_.find(va);
                pte = table_.find(va);
            }
            // Population touches each page as an access would (GUP's FOLL_TOUCH): it is young.
            if (pte && pte->maps_frame()) *pte = pte->with(Pte::kAccessed);
        }
    }
    return Ok{};
}

std::size_t AddressSpace::copy_user(VirtAddr va, std::byte* buf, std::size_t n, Access access) {
    std::size_t done = 0;
    while (done < n) {
        const VirtAddr at = va + done;
        if (at < va || at >= layout_.task_size) break;  // wrapped or beyond user space
        Translated t = this->access(at, access);
        if (!t.ok) break;
        const std::size_t chunk = std::min<std::size_t>(n - done, kPageSize - (at & (kPageSize - 1)));
        std::byte* host = memory_.host_base() + t.translation.paddr;
        if (access == Access::Write) {
            std::memcpy(host, buf + done, chunk);
            memory_.note_frame_write(t.translation.paddr >> kPageShift);
        } else {
            std::memcpy(buf + done, host, chunk);
        }
        done += chunk;
    }
    return done;
}

std::size_t AddressSpace::copy_from_user_partial(void* dst, VirtAddr src, std::size_t n) {
    return copy_user(src, static_cast<std::byte*>(dst), n, Access::Read);
}

std::size_t AddressSpace::copy_to_user_partial(VirtAddr dst, const void* src, std::size_t n) {
    return copy_user(dst, static_cast<std::byte*>(const_cast<void*>(src)), n, Access::Write);
}

Status AddressSpace::poke_impl(VirtAddr dst, const void* src, std::size_t n) {
    const CheckOnReturn check(*this);
    const auto* bytes = static_cast<const std::byte*>(src);
    for (std::size_t done = 0; done < n;) {
        const VirtAddr at = dst + done;
        Vma* vma = vmas_.find(at);
        if (!vma) return Errno{EFAULT};
        auto slot = table_.ensure(at);
        if (!slot) return Errno{ENOMEM};
        Pte& pte = *slot.value();
        if (pte.is_guard()) return Errno{EFAULT};
        const bool exec = vma->prot & kProtExec;
        const bool may_write = vma->prot & kProtWrite;
        Pfn pfn;
        if (vma->shmem && !vma->has(vma_flag::kSpecial) && vma->pgoff_at(at) >= vma->shmem->page_limit())
            return Errno{EFAULT};  // beyond the end of the file
        if (vma->shared()) {
            auto frame = shared_frame(*vma, at);
            if (!frame) return Errno{ENOMEM};
            pfn = frame.value();
            vma->shmem->mark_dirty(vma->pgoff_at(at));
            if (!pte.maps_frame()) {
                memory_.get(pfn);
                ++rss_pages_;
                pte = Pte::page(pfn, may_write, exec);
            }
        } else if (pte.maps_frame() && pte.pfn() != memory_.zero_page() &&
                   memory_.refcount(pte.pfn()) == 1) {
            pfn = pte.pfn();
        } else {
            // A private copy, readable (and writable if the VMA is) like after a COW fault.
            prepare_anon(*vma);
            auto copy = memory_.allocate();
            if (!copy) return Errno{ENOMEM};
            TlbGather gather(tlb_, memory_, asid_);
            if (!pte.maps_frame() && vma->file_private()) {
                auto cached = shared_frame(*vma, at);  // unmapped file page: start from the file
                if (!cached) return Errno{ENOMEM};
                std::memcpy(memory_.frame(copy.value()), memory_.frame(cached.value()), kPageSize);
            }
            if (pte.maps_frame()) {
                std::memcpy(memory_.frame(copy.value()), memory_.frame(pte.pfn()), kPageSize);
                if (pte.present()) gather.add_page(at);
                if (pte.pfn() == memory_.zero_page()) ++rss_pages_;
                gather.defer_put(pte.pfn());
            } else {
                ++rss_pages_;
            }
            pfn = copy.value();
            pte = vma->prot == kProtNone ? Pte::prot_none(pfn)
                                         : Pte::page(pfn, may_write, exec).with(Pte::kDirty);
        }
        const std::size_t chunk = std::min<std::size_t>(n - done, kPageSize - (at & (kPageSize - 1)));
        std::memcpy(memory_.frame(pfn) + (at & (kPageSize - 1)), bytes + done, chunk);
        memory_.note_frame_write(pfn);
        done += chunk;
    }
    return Ok{};
}

Status AddressSpace::copy_from_user(void* dst, VirtAddr src, std::size_t n) {
    if (copy_from_user_partial(dst, src, n) != n) return Errno{EFAULT};
    return Ok{};
}

Status AddressSpace::copy_to_user(VirtAddr dst, const void* src, std::size_t n) {
    if (copy_to_user_partial(dst, src, n) != n) return Errno{EFAULT};
    return Ok{};
}

}  // namespace mmu
