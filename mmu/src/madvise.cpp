// madvise: a dispatcher over VMAs. Each advice either edits VMA flags (splitting and merging
// VMAs) or edits page tables; the range is clipped per VMA and holes give ENOMEM after the rest
// has been applied (Linux's rule). Guard install/remove edit page tables only.
#include <cerrno>
#include <cstring>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {

struct AdviceName {
    int advice;
    const char* name;
};

constexpr AdviceName kAdviceNames[] = {
    {madv::kNormal, "MADV_NORMAL"},         {madv::kRandom, "MADV_RANDOM"},
    {madv::kSequential, "MADV_SEQUENTIAL"}, {madv::kWillNeed, "MADV_WILLNEED"},
    {madv::kDontNeed, "MADV_DONTNEED"},     {madv::kFree, "MADV_FREE"},
    {madv::kRemove, "MADV_REMOVE"},         {madv::kDontFork, "MADV_DONTFORK"},
    {madv::kDoFork, "MADV_DOFORK"},         {madv::kMergeable, "MADV_MERGEABLE"},
    {madv::kUnmergeable, "MADV_UNMERGEABLE"}, {madv::kHugePage, "MADV_HUGEPAGE"},
    {madv::kNoHugePage, "MADV_NOHUGEPAGE"}, {madv::kDontDump, "MADV_DONTDUMP"},
    {madv::kDoDump, "MADV_DODUMP"},         {madv::kWipeOnFork, "MADV_WIPEONFORK"},
    {madv::kKeepOnFork, "MADV_KEEPONFORK"}, {madv::kCold, "MADV_COLD"},
    {madv::kPageOut, "MADV_PAGEOUT"},       {madv::kPopulateRead, "MADV_POPULATE_READ"},
    {madv::kPopulateWrite, "MADV_POPULATE_WRITE"},
    {madv::kDontNeedLocked, "MADV_DONTNEED_LOCKED"}, {madv::kCollapse, "MADV_COLLAPSE"},
    {madv::kGuardInstall, "MADV_GUARD_INSTALL"}, {madv::kGuardRemove, "MADV_GUARD_REMOVE"},
};

bool advice_known(int advice) {
    for (const auto& a : kAdviceNames)
        if (a.advice == advice) return true;
    return false;
}

// Advice that discards memory: refused with EPERM on a sealed read-only anonymous mapping,
// since it would let a program change memory it cannot write (mseal(2)).
bool discards(int advice) {
    switch (advice) {
    case madv::kFree:
    case madv::kDontNeed:
    case madv::kDontNeedLocked:
    case madv::kRemove:
    case madv::kDontFork:
    case madv::kWipeOnFork:
    case madv::kGuardInstall:
        return true;
    default:
        return false;
    }
}

}  // namespace

const char* advice_name(int advice) {
    for (const auto& a : kAdviceNames)
        if (a.advice == advice) return a.name;
    return "MADV_UNKNOWN";
}

int advice_from_name(const char* name) {
    std::string n = name;
    for (char& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (n.rfind("MADV_", 0) != 0) n = "MADV_" + n;
    // The names used by the first published patches.
    if (n == "MADV_GUARD_POISON") return madv::kGuardInstall;
    if (n == "MADV_GUARD_UNPOISON") return madv::kGuardRemove;
    for (const auto& a : kAdviceNames)
        if (n == a.name) return a.advice;
    return -1;
}

Status AddressSpace::madvise_impl(VirtAddr addr, std::uint64_t len_in, int advice) {
    const CheckOnReturn check(*this);
    if (!advice_known(advice)) return Errno{EINVAL};
    if (!page_aligned(addr)) return Errno{EINVAL};
    const std::uint64_t len = page_up(len_in);
    if (len_in != 0 && len == 0) return Errno{EINVAL};
    const VirtAddr end = addr + len;
    if (end < addr) return Errno{EINVAL};
    if (end == addr) return Ok{};
    if (advice == madv::kPopulateRead || advice == madv::kPopulateWrite)
        return madvise_populate(addr, end, advice);

    TlbGather gather(tlb_, memory_, asid_);
    Status result = Ok{};
    for (VirtAddr at = addr; at < end;) {
        Vma* v = vmas_.find_at_or_above(at);
        if (!v || v->start >= end) {
            result = Errno{ENOMEM};
            break;
        }
        if (v->start > at) {
            result = Errno{ENOMEM};  // a hole: remembered, the rest is still advised
            at = v->start;
        }
        const VirtAddr piece_end = std::min(end, v->end);
        MMU_TRY(madvise_vma(*v, at, piece_end, advice, gather));
        at = piece_end;
    }
    return result;
}

Status AddressSpace::madvise_vma(Vma& vma, VirtAddr start, VirtAddr end, int advice,
                                 TlbGather& gather) {
    using namespace vma_flag;
    if (vma.has(kSealed) && discards(advice) && !vma.shared() && !(vma.prot & kProtWrite))
        return Errno{EPERM};
    const bool locked = vma.has(kLocked);
    if (vma.has(kSpecial)) {
        // Linux's answers for the vDSO and vvar (checked on the host): guard regions, freeing,
        // huge pages, WIPEONFORK and DODUMP are refused on every special mapping; discarding,
        // paging out and populating for reading are no-ops on the vDSO's code and refused on raw
        // frames; KSM ignores them; other flag changes follow the rule that they cannot be split.
        const bool pfn = vma.has(kPfnMap);
        switch (advice) {
        case madv::kGuardInstall: case madv::kGuardRemove: case madv::kFree: case madv::kRemove:
        case madv::kWipeOnFork: case madv::kPopulateWrite: case madv::kCollapse:
        case madv::kHugePage: case madv::kNoHugePage: case madv::kDoDump:
            return Errno{EINVAL};
        case madv::kDontNeed: case madv::kDontNeedLocked: case madv::kCold: case madv::kPageOut:
        case madv::kPopulateRead:
            return pfn ? Status{Errno{EINVAL}} : Status{Ok{}};
        case madv::kDoFork:
            if (pfn) return Errno{EINVAL};  // VM_IO
            break;
        case madv::kMergeable: case madv::kUnmergeable:
            return Ok{};
        default:
            break;
        }
    }
    switch (advice) {
    case madv::kNormal: return apply_vma_flags(start, end, 0, kRandomRead | kSeqRead, false);
    case madv::kRandom: return apply_vma_flags(start, end, kRandomRead, kSeqRead, false);
    case madv::kSequential: return apply_vma_flags(start, end, kSeqRead, kRandomRead, false);
    case madv::kDontFork: return apply_vma_flags(start, end, kDontFork, 0, false);
    case madv::kDoFork: return apply_vma_flags(start, end, 0, kDontFork, false);
    case madv::kDontDump: return apply_vma_flags(start, end, kDontDump, 0, false);
    case madv::kDoDump: return apply_vma_flags(start, end, 0, kDontDump, false);
    case madv::kMergeable: return apply_vma_flags(start, end, kMergeable, 0, false);
    case madv::kUnmergeable: return apply_vma_flags(start, end, 0, kMergeable, false);
    case madv::kHugePage: return apply_vma_flags(start, end, kHugePage, kNoHugePage, false);
    case madv::kNoHugePage: return apply_vma_flags(start, end, kNoHugePage, kHugePage, false);
    case madv::kWipeOnFork:
        if (vma.shmem) return Errno{EINVAL};  // only private anonymous memory
        return apply_vma_flags(start, end, kWipeOnFork, 0, false);
    case madv::kKeepOnFork: return apply_vma_flags(start, end, 0, kWipeOnFork, false);
    case madv::kWillNeed: return Ok{};
    case madv::kCollapse: return Errno{EINVAL};  // no transparent huge pages here
    case madv::kCold:
    case madv::kPageOut:
        // Not on locked memory; with no swap device, anonymous pages stay where they are.
        return locked ? Status{Errno{EINVAL}} : Status{Ok{}};
    case madv::kDontNeed:
    case madv::kDontNeedLocked:
        if (locked && advice == madv::kDontNeed) return Errno{EINVAL};
        zap(start, end, keep_markers_of(vma), gather);  // guard markers survive
        return Ok{};
    case madv::kFree:
        if (locked || vma.shmem) return Errno{EINVAL};  // anonymous private memory only
        // Lazy free: pages stay until memory pressure; nothing is reclaimed here.
        return Ok{};
    case madv::kRemove:
        // madvise(2): a hole punched in the backing file or shmem, so only a mapping that may
        // write it shared can ask (EACCES); anonymous private memory has no file (EINVAL).
        if (locked || !vma.shmem) return Errno{EINVAL};
        if (!vma.shared() || vma.has(vma_flag::kNoMayWrite)) return Errno{EACCES};
        punch_object(*vma.shmem, vma.pgoff_at(start), vma.pgoff_at(end));
        return Ok{};
    case madv::kGuardInstall: return guard_install(vma, start, end, gather);
    case madv::kGuardRemove:
        guard_remove(start, end);
        return Ok{};
    default: return Errno{EINVAL};
    }
}

// MADV_GUARD_INSTALL: an optimistic walk installs markers in empty slots and keeps existing
// markers; when it meets a page it stops, the range is zapped (like DONTNEED) and the walk is
// retried. Markers are never nested or counted. The gather flushes the zapped pages before the
// call returns.
Status AddressSpace::guard_install(Vma& vma, VirtAddr start, VirtAddr end, TlbGather& gather) {
    if (vma.has(vma_flag::kLocked)) return Errno{EINVAL};
    // Installing a marker makes anonymous memory non-empty for fork: it gets its anon_vma now.
    // A file mapping does not (measured on the host: two private file VMAs that only differ in
    // protection still merge after guard installs in both; anonymous ones do not).
    if (!vma.shmem) prepare_anon(vma);
    vma.flags |= vma_flag::kHasGuards;
    while (true) {
        bool met_page = false;
        MMU_TRY(table_.walk_range(start, end, MissingTables::Allocate, EmptyTables::Keep,
                                  [&](VirtAddr, Pte& pte) {
            if (pte.is_none()) {
                pte = Pte::guard();
                return WalkAction::Continue;
            }
            if (pte.is_guard()) return WalkAction::Continue;
            met_page = true;
            return WalkAction::Stop;
        }));
        if (!met_page) return Ok{};
        ++faults_.guard_install_zaps;
        zap(start, end, MarkerPolicy::Keep, gather);
        // zap() keeps markers of every kind; any other marker in the way is replaced too.
        (void)table_.walk_range(start, end, MissingTables::Skip, EmptyTables::Keep,
                                [](VirtAddr, Pte& pte) {
            if (pte.kind() == PteKind::Marker && !pte.is_guard()) pte = Pte::none();
            return WalkAction::Continue;
        });
    }
}

// MADV_GUARD_REMOVE: clears guard markers only; pages and other markers stay. Turning a
// non-present entry into an empty one needs no TLB flush.
void AddressSpace::guard_remove(VirtAddr start, VirtAddr end) {
    (void)table_.walk_range(start, end, MissingTables::Skip, EmptyTables::Keep,
                            [](VirtAddr, Pte& pte) {
        if (pte.is_guard()) {
            // A guard marker's userfaultfd write-protection (PAGEMAP_SCAN's write-protect sets it)
            // goes with it: Linux clears the whole entry.
            const std::uint64_t rest = pte.marker_bits() & ~(marker::kGuard | marker::kUffdWp);
            pte = rest ? Pte::make_marker(rest) : Pte::none();
        }
        return WalkAction::Continue;
    });
}

// MADV_POPULATE_READ/WRITE: fault every page in; a hole is ENOMEM, a page that cannot be
// populated (guard, protection) is EFAULT. No "apply the rest" here: the first error ends it.
Status AddressSpace::madvise_populate(VirtAddr start, VirtAddr end, int advice) {
    return populate(start, end, advice == madv::kPopulateWrite ? Populate::Write : Populate::Read,
                    true);
}

// Sets and clears VMA flags on [start, end), splitting and merging VMAs as Linux does.
Status AddressSpace::apply_vma_flags(VirtAddr start, VirtAddr end, std::uint32_t set,
                                     std::uint32_t clear, bool stop_at_hole) {
    Status result = Ok{};
    for (VirtAddr at = start; at < end;) {
        Vma* v = vmas_.find_at_or_above(at);
        if (!v || v->start >= end) {
            result = Errno{ENOMEM};
            break;
        }
        if (v->start > at) {
            result = Errno{ENOMEM};
            if (stop_at_hole) break;
            at = v->start;
        }
        const VirtAddr piece_end = std::min(end, v->end);
        const std::uint32_t flags = (v->flags | set) & ~clear;
        if (flags != v->flags && splits_special(at, piece_end)) {
            result = Errno{EINVAL};
            break;
        }
        if (flags != v->flags && splits_exceed_map_count(*v, at, piece_end)) {
            result = Errno{ENOMEM};
            break;
        }
        if (flags != v->flags)
            for (Vma* piece : vmas_.isolate(at, piece_end)) piece->flags = flags;
        at = piece_end;
    }
    vmas_.merge_around(start, end);
    return result;
}

}  // namespace mmu
