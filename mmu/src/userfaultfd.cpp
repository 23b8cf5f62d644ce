// userfaultfd, the page-table side: registering VMAs with a context, the UFFDIO_* operations that
// install a page (or a marker) where nothing is mapped, userfaultfd write-protection in the PTE,
// and the release of a context. The descriptor, its messages and its waiting threads are the
// emulator's; the fault handler only says that a fault belongs to a context (FaultReason::
// UserFault, see userfault() in fault.cpp).
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {

// Linux's vma_can_userfault: anonymous memory and shmem (memfd, MAP_SHARED|MAP_ANONYMOUS), shared
// or private; MODE_MINOR only on shmem. Mappings of files: only for MODE_WP alone in a context
// with WP_ASYNC. Special mappings: never.
bool can_userfault(const Vma& v, std::uint32_t vma_flags) {
    if (v.has(vma_flag::kSpecial)) return false;
    const std::uint32_t modes = vma_flags & (vma_flag::kUffdMissing | vma_flag::kUffdWp | vma_flag::kUffdMinor);
    if (modes == vma_flag::kUffdWp && (vma_flags & vma_flag::kUffdWpAsync)) return true;
    if (v.shmem && !v.shmem_backed()) return false;
    if ((vma_flags & vma_flag::kUffdMinor) && !v.shmem_backed()) return false;
    return true;
}

// UNREGISTER's and WRITEPROTECT's range check: `error` when no VMA meets the range or one of
// those that do fails `ok`.
template <class Predicate>
Status every_vma_in(const VmaSet& vmas, VirtAddr start, VirtAddr end, int error, Predicate ok) {
    bool any = false;
    for (const Vma* v = vmas.find_at_or_above(start); v && v->start < end; v = vmas.find_at_or_above(v->end)) {
        if (!ok(*v)) return Errno{error};
        any = true;
    }
    return any ? Status{Ok{}} : Status{Errno{error}};
}

std::uint32_t vma_flags_for(std::uint32_t modes) {
    std::uint32_t flags = 0;
    if (modes & uffd_mode::kCtxWpAsync) flags |= vma_flag::kUffdWpAsync;
    if (modes & uffd_mode::kCtxWpUnpopulated) flags |= vma_flag::kUffdWpUnpopulated;
    if (modes & uffd_mode::kMissing) flags |= vma_flag::kUffdMissing;
    if (modes & uffd_mode::kWp) flags |= vma_flag::kUffdWp;
    if (modes & uffd_mode::kMinor) flags |= vma_flag::kUffdMinor;
    return flags;
}

// A page installed by UFFDIO_COPY/ZEROPAGE/CONTINUE: dirty and young like Linux's
// mfill_atomic_install_pte; write-protected ones are never writable.
Pte installed_page(const Vma& vma, Pfn pfn, bool writable, bool wp) {
    if (vma.prot == kProtNone) return Pte::prot_none(pfn).with(wp ? Pte::kUffdWp : 0);
    Pte pte = Pte::page(pfn, writable && !wp && (vma.prot & kProtWrite), vma.prot & kProtExec)
                  .with(Pte::kAccessed | Pte::kDirty);
    return wp ? pte.with(Pte::kUffdWp) : pte;
}

}  // namespace

// validate_range: a page-aligned, non-empty range inside [mmap_min_addr, TASK_SIZE).
Status AddressSpace::uffd_validate(VirtAddr start, std::uint64_t len) const {
    if (!page_aligned(start) || !page_aligned(len) || len == 0) return Errno{EINVAL};
    if (start < layout_.mmap_min_addr || start >= layout_.task_size) return Errno{EINVAL};
    if (len > layout_.task_size - start) return Errno{EINVAL};
    return Ok{};
}

// UFFDIO_REGISTER: every VMA meeting the range must support the modes (EINVAL), be writable in
// principle (EPERM) and not belong to another context (EBUSY); holes between them are allowed,
// a range meeting no VMA is EINVAL. The VMAs are split at the range's ends.
Status AddressSpace::uffd_register_impl(VirtAddr start, std::uint64_t len, std::uint32_t modes,
                                        std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    if ((modes & ~(uffd_mode::kAll | uffd_mode::kCtxFeatures)) || !(modes & uffd_mode::kAll)) return Errno{EINVAL};
    MMU_TRY(uffd_validate(start, len));
    const VirtAddr end = start + len;
    const std::uint32_t wanted = vma_flags_for(modes);
    std::vector<std::pair<VirtAddr, VirtAddr>> pieces;
    for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end;
         v = vmas_.find_at_or_above(v->end)) {
        if (!can_userfault(*v, wanted)) return Errno{EINVAL};
        if (v->shared() && v->has(vma_flag::kNoMayWrite)) return Errno{EPERM};
        if (v->uffd_ctx && v->uffd_ctx != ctx) return Errno{EBUSY};
        // Already registered with these modes (or more) by this context: left as it is.
        if (v->uffd_ctx == ctx && (v->flags & wanted) == wanted) {
            pieces.emplace_back(0, 0);
            continue;
        }
        pieces.emplace_back(std::max(start, v->start), std::min(end, v->end));
    }
    if (pieces.empty()) return Errno{EINVAL};
    Status result = Ok{};
    for (const auto& [from, to] : pieces) {
        if (from == to) continue;
        if (splits_exceed_map_count(*vmas_.find(from), from, to)) {
            result = Errno{ENOMEM};
            break;
        }
        for (Vma* piece : vmas_.isolate(from, to)) {
            piece->flags = (piece->flags & ~vma_flag::kUffdAny) | wanted;
            piece->uffd_ctx = ctx;
        }
    }
    vmas_.merge_around(start, end);
    return result;
}

// UFFDIO_UNREGISTER: EINVAL when a VMA in the range could never be registered (a file mapping);
// registered pieces lose their modes and write-protection; the caller wakes the waiters.
Status AddressSpace::uffd_unregister_impl(VirtAddr start, std::uint64_t len) {
    const CheckOnReturn check(*this);
    MMU_TRY(uffd_validate(start, len));
    const VirtAddr end = start + len;
    MMU_TRY(every_vma_in(vmas_, start, end, EINVAL, [](const Vma& v) { return can_userfault(v, v.flags); }));
    uffd_clear_vmas(start, end, 0);
    return Ok{};
}

void AddressSpace::uffd_release_impl(std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    uffd_clear_vmas(0, layout_.task_size + kPageSize, ctx);
}

// Unregisters the pieces of [start, end) registered with `ctx` (0: with any context).
void AddressSpace::uffd_clear_vmas(VirtAddr start, VirtAddr end, std::uint64_t ctx) {
    std::vector<std::pair<VirtAddr, VirtAddr>> pieces;
    for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end;
         v = vmas_.find_at_or_above(v->end))
        if (v->uffd_ctx && (ctx == 0 || v->uffd_ctx == ctx))
            pieces.emplace_back(std::max(start, v->start), std::min(end, v->end));
    for (const auto& [from, to] : pieces) {
        uffd_clear_wp(from, to);
        for (Vma* piece : vmas_.isolate(from, to)) {
            piece->flags &= ~vma_flag::kUffdAny;
            piece->uffd_ctx = 0;
        }
        vmas_.merge_around(from, to);
    }
}

// Drops userfaultfd write-protection (the bit and the marker bit). The pages stay read-only until
// the next write fault enables writing, so no TLB entry gains anything: no flush.
void AddressSpace::uffd_clear_wp(VirtAddr start, VirtAddr end) {
    (void)table_.walk_range(start, end, MissingTables::Skip, EmptyTables::Keep,
                            [](VirtAddr, Pte& pte) {
        if (pte.maps_frame()) {
            pte = pte.without(Pte::kUffdWp);
        } else if (pte.kind() == PteKind::Marker && (pte.marker_bits() & marker::kUffdWp)) {
            const std::uint64_t rest = pte.marker_bits() & ~marker::kUffdWp;
            pte = rest ? Pte::make_marker(rest) : Pte::none();
        }
        return WalkAction::Continue;
    });
}

// The VMA a fill operation works in: the whole range inside one VMA registered with `ctx`
// (ENOENT otherwise, Linux's validate_dst_vma).
Result<Vma*> AddressSpace::uffd_fill_vma(VirtAddr dst, std::uint64_t len, std::uint64_t ctx) {
    Vma* v = vmas_.find(dst);
    if (!v || ctx == 0 || v->uffd_ctx != ctx || dst + len > v->end) return Errno{ENOENT};
    if (!can_userfault(*v, 0)) return Errno{EINVAL};
    return v;
}

// The loop shared by COPY, ZEROPAGE, CONTINUE and POISON: page by page, `install(vma, pte, va)`
// fills an entry where nothing is mapped (an empty entry or a marker: guard and poisoned markers
// are replaced, as Linux 6.18 does); a mapped page is EEXIST. The first error ends the loop.
template <class InstallPage>
UffdFill AddressSpace::uffd_fill(VirtAddr dst, std::uint64_t len, InstallPage&& install) {
    UffdFill out;
    for (VirtAddr va = dst; va < dst + len; va += kPageSize) {
        Vma* vma = vmas_.find(va);
        auto slot = table_.ensure(va);
        if (!slot) {
            out.error = ENOMEM;
            break;
        }
        Pte& pte = *slot.value();
        if (pte.maps_frame() || pte.kind() == PteKind::Swap) {
            out.error = EEXIST;
            break;
        }
        if (const int e = install(*vma, pte, va)) {
            out.error = e;
            break;
        }
        out.done += kPageSize;
    }
    return out;
}

UffdFill AddressSpace::uffd_copy_impl(VirtAddr dst, VirtAddr src, std::uint64_t len, bool wp,
                                      std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    if (auto s = uffd_validate(dst, len); !s) return {0, s.error()};
    if (src + len <= src) return {0, EINVAL};
    auto vma = uffd_fill_vma(dst, len, ctx);
    if (!vma) return {0, vma.error()};
    if (wp && !vma.value()->has(vma_flag::kUffdWp)) return {0, EINVAL};
    std::array<std::byte, kPageSize> bytes;
    UffdFill out;
    // The source page is read first (it may fault itself), then the destination is filled.
    for (VirtAddr va = dst; va < dst + len; va += kPageSize) {
        if (copy_from_user_partial(bytes.data(), src + (va - dst), kPageSize) != kPageSize) {
            out.error = EFAULT;
            break;
        }
        const UffdFill one = uffd_fill(va, kPageSize, [&](Vma& v, Pte& pte, VirtAddr at) -> int {
            Pfn pfn;
            if (v.shared()) {  // shmem: the page goes into the object (a hole until now)
                const std::uint64_t index = v.pgoff_at(at);
                if (index >= v.shmem->page_limit()) return EFAULT;
                if (v.shmem->resident(index)) return EEXIST;
                auto frame = v.shmem->frame(index);
                if (!frame) return ENOMEM;
                pfn = frame.value();
                memory_.get(pfn);
            } else {
                prepare_anon(v);
                auto frame = memory_.allocate();
                if (!frame) return ENOMEM;
                pfn = frame.value();
            }
            std::memcpy(memory_.frame(pfn), bytes.data(), kPageSize);
            ++rss_pages_;
            pte = installed_page(v, pfn, true, wp);
            return 0;
        });
        out.done += one.done;
        if (one.error) {
            out.error = one.error;
            break;
        }
    }
    return out;
}

UffdFill AddressSpace::uffd_zeropage_impl(VirtAddr dst, std::uint64_t len, std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    if (auto s = uffd_validate(dst, len); !s) return {0, s.error()};
    if (auto vma = uffd_fill_vma(dst, len, ctx); !vma) return {0, vma.error()};
    return uffd_fill(dst, len, [&](Vma& v, Pte& pte, VirtAddr at) -> int {
        if (v.shared()) {  // shmem: a zeroed page in the object
            const std::uint64_t index = v.pgoff_at(at);
            if (index >= v.shmem->page_limit()) return EFAULT;
            if (v.shmem->resident(index)) return EEXIST;
            auto frame = v.shmem->frame(index);
            if (!frame) return ENOMEM;
            memory_.get(frame.value());
            ++rss_pages_;
            pte = installed_page(v, frame.value(), true, false);
            return 0;
        }
        // Private memory: the shared zero page, read-only (a write copies it).
        pte = installed_page(v, memory_.zero_page(), false, false).without(Pte::kDirty);
        ++faults_.zero_page_maps;
        return 0;
    });
}

UffdFill AddressSpace::uffd_continue_impl(VirtAddr dst, std::uint64_t len, bool wp,
                                          std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    if (auto s = uffd_validate(dst, len); !s) return {0, s.error()};
    auto vma = uffd_fill_vma(dst, len, ctx);
    if (!vma) return {0, vma.error()};
    if (!vma.value()->shmem_backed()) return {0, EINVAL};
    if (wp && !vma.value()->has(vma_flag::kUffdWp)) return {0, EINVAL};
    return uffd_fill(dst, len, [&](Vma& v, Pte& pte, VirtAddr at) -> int {
        // The page must already be in the object (a hole or beyond the end: EFAULT).
        const std::uint64_t index = v.pgoff_at(at);
        if (index >= v.shmem->page_limit() || !v.shmem->resident(index)) return EFAULT;
        const Pfn pfn = v.shmem->frames[index] - 1;
        memory_.get(pfn);
        ++rss_pages_;
        // A private mapping maps the object's page read-only: a write copies it.
        pte = installed_page(v, pfn, v.shared(), wp);
        return 0;
    });
}

UffdFill AddressSpace::uffd_poison_impl(VirtAddr dst, std::uint64_t len, std::uint64_t ctx) {
    const CheckOnReturn check(*this);
    if (auto s = uffd_validate(dst, len); !s) return {0, s.error()};
    if (auto vma = uffd_fill_vma(dst, len, ctx); !vma) return {0, vma.error()};
    return uffd_fill(dst, len, [&](Vma& v, Pte& pte, VirtAddr) -> int {
        if (!v.shared()) prepare_anon(v);  // a marker makes the VMA non-empty for fork
        pte = Pte::poisoned();
        return 0;
    });
}

// UFFDIO_WRITEPROTECT: ENOENT when the range meets no VMA or one not registered with MODE_WP.
// Protecting removes write access from mapped pages: their TLB entries are flushed. Where the VMA
// uses markers, pages not mapped (or not in the shmem object yet) get a uffd-wp marker, so that
// their first write is an event too. Guard and poisoned markers are left as they are.
Status AddressSpace::uffd_writeprotect_impl(VirtAddr start, std::uint64_t len, bool protect) {
    const CheckOnReturn check(*this);
    MMU_TRY(uffd_validate(start, len));
    const VirtAddr end = start + len;
    MMU_TRY(every_vma_in(vmas_, start, end, ENOENT, [](const Vma& v) { return v.has(vma_flag::kUffdWp); }));
    if (!protect) {
        uffd_clear_wp(start, end);
        return Ok{};
    }
    TlbGather gather(tlb_, memory_, asid_);
    std::vector<std::pair<VirtAddr, VirtAddr>> marker_pieces;
    for (const Vma* v = vmas_.find_at_or_above(start); v && v->start < end; v = vmas_.find_at_or_above(v->end))
        if (v->uffd_wp_uses_markers()) marker_pieces.emplace_back(std::max(start, v->start), std::min(end, v->end));
    for (const auto& [from, to] : marker_pieces)
        MMU_TRY(table_.walk_range(from, to, MissingTables::Allocate, EmptyTables::Keep, [](VirtAddr, Pte& pte) {
            if (pte.is_none()) pte = Pte::make_marker(marker::kUffdWp);
            return WalkAction::Continue;
        }));
    (void)table_.walk_range(start, end, MissingTables::Skip, EmptyTables::Keep,
                            [&](VirtAddr va, Pte& pte) {
        if (!pte.maps_frame()) return WalkAction::Continue;
        if (pte.present() && pte.writable()) gather.add_page(va);
        pte = pte.without(Pte::kWritable).with(Pte::kUffdWp);
        return WalkAction::Continue;
    });
    return Ok{};
}

Status AddressSpace::uffd_wp_range_impl(VirtAddr start, std::uint64_t len) {
    const CheckOnReturn check(*this);
    if (!page_aligned(start) || !page_aligned(len) || start + len < start) return Errno{EINVAL};
    TlbGather gather(tlb_, memory_, asid_);
    return table_.walk_range(start, start + len, MissingTables::Allocate, EmptyTables::Keep,
                             [&](VirtAddr va, Pte& pte) {
        if (pte.maps_frame()) {
            // Write access lost: no CPU may keep using a writable translation.
            if (pte.present() && pte.writable()) gather.add_page(va);
            pte = pte.without(Pte::kWritable).with(Pte::kUffdWp);
        } else if (pte.is_none()) {
            pte = Pte::make_marker(marker::kUffdWp);
        } else if (pte.kind() == PteKind::Marker) {
            pte = Pte::make_marker(pte.marker_bits() | marker::kUffdWp);  // a guard page stays one
        }
        return WalkAction::Continue;
    });
}

}  // namespace mmu
