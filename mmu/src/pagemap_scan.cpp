#include "mmu/pagemap_scan.hpp"

#include <algorithm>
#include <limits>

#include "mmu/address_space.hpp"

namespace mmu {

namespace {

// Linux copies regions out through a bounce buffer of at most this many entries, and a run
// never continues across two fills of it (PAGEMAP_WALK_SIZE >> PAGE_SHIFT).
constexpr std::uint64_t kBounceEntries = 512;

// The categories of one page, from its PTE (`pte` null: no page table there).
std::uint64_t page_categories(const AddressSpace& as, const Vma& vma, VirtAddr va, const Pte* pte) {
    if (!pte) return 0;  // a hole in the page tables: only the mapping's categories
    // Written: not write-protected by userfaultfd (the PTE bit, or the marker bit).
    const bool wp = pte->uffd_wp() || (pte->kind() == PteKind::Marker && (pte->marker_bits() & marker::kUffdWp));
    std::uint64_t c = wp ? 0 : page_is::kWritten;
    switch (pte->kind()) {
    case PteKind::None: break;
    case PteKind::Swap: c |= page_is::kSwapped; break;
    case PteKind::Marker:
        c |= page_is::kSwapped;
        if (pte->is_guard()) c |= page_is::kGuard;
        break;
    case PteKind::Present:
    case PteKind::ProtNone: {  // a PROT_NONE page is still present to Linux
        c |= page_is::kPresent;
        const Pfn pfn = pte->pfn();
        if (pfn == as.memory().zero_page()) {
            c |= page_is::kPfnZero;
        } else if (vma.shmem) {
            const std::uint64_t index = vma.pgoff_at(va);
            // Not an anonymous page: the page cache's or shmem's own frame (or a special page).
            if (vma.has(vma_flag::kSpecial) || (vma.shmem->resident(index) && vma.shmem->frames[index] - 1 == pfn))
                c |= page_is::kFile;
        }
        break;
    }
    }
    return c;
}

class Scan {
public:
    Scan(const AddressSpace& as, const PagemapScanRequest& r) : as_(as), r_(r) {
        if (r_.has_vector) buffer_capacity_ = std::min(kBounceEntries, r_.vec_len);
    }

    Result<PagemapScanOutcome> run() {
        VirtAddr from = r_.start;
        PagemapScanOutcome out;
        while (from < r_.end) {
            walk_end_ = 0;
            const Status walked = walk(from);
            if (!walked && walked.error() != ENOSPC) return Errno{walked.error()};
            flush(out);
            out.protect.insert(out.protect.end(), protect_.begin(), protect_.end());
            protect_.clear();
            if (walked || r_.vec_len == 0 || found_ == max_pages()) break;
            from = walk_end_;
        }
        out.walk_end = walk_end_ ? walk_end_ : r_.end;
        return out;
    }

private:
    std::uint64_t max_pages() const { return r_.max_pages ? r_.max_pages : std::numeric_limits<std::uint64_t>::max(); }

    bool interesting(std::uint64_t categories) const {
        categories ^= r_.category_inverted;
        if ((categories & r_.category_mask) != r_.category_mask) return false;
        return !r_.category_anyof_mask || (categories & r_.category_anyof_mask);
    }

    // Walks [from, end) mapping by mapping; ENOSPC when the buffer or max_pages stopped it.
    Status walk(VirtAddr from) {
        for (const Vma* v = as_.vmas().find_at_or_above(from); v && v->start < r_.end;
             v = as_.vmas().find_at_or_above(v->end)) {
            // Write-protect requests need asynchronous userfaultfd write protection: EPERM with
            // CHECK_WPASYNC, otherwise WP_MATCHING skips the mapping.
            const bool wp_allowed = v->uffd_wp_async();
            if (!wp_allowed && (r_.flags & kScanCheckWpAsync)) return Errno{EPERM};
            if (!wp_allowed && (r_.flags & kScanWpMatching)) continue;
            if (v->has(vma_flag::kPfnMap)) continue;
            const std::uint64_t vma_categories = wp_allowed ? page_is::kWpAllowed : 0;  // never soft-dirty
            const std::uint64_t required = r_.category_mask & page_is::kWpAllowed;
            if (((vma_categories ^ r_.category_inverted) & required) != required) continue;
            for (VirtAddr va = std::max(from, v->start); va < std::min(r_.end, v->end); va += kPageSize)
                MMU_TRY(visit(*v, vma_categories, va));
        }
        return Ok{};
    }

    // One page: reported when interesting; with WP_MATCHING, protected when reported and written
    // (or without a page table: Linux protects the holes it reports). Without a vector Linux
    // protects every entry of a page table that is not protected yet, whatever its categories,
    // and the holes the mapping's categories make interesting.
    Status visit(const Vma& v, std::uint64_t vma_categories, VirtAddr va) {
        const PageWalk w = as_.walk(va);
        const Pte* pte = w.depth == kLevels ? &w.levels[kLevels - 1].entry : nullptr;
        const std::uint64_t categories = vma_categories | page_categories(as_, v, va, pte);
        const bool wp_matching = r_.flags & kScanWpMatching;
        if (wp_matching && no_vector_) {
            if (pte ? (categories & page_is::kWritten) != 0 : interesting(categories)) protect(va);
            return Ok{};
        }
        if (!interesting(categories)) return Ok{};
        const std::uint64_t before = found_;
        const Status s = output(categories, va, va + kPageSize);
        if (wp_matching && found_ > before && (!pte || (categories & page_is::kWritten))) protect(va);
        return s;
    }

    void protect(VirtAddr va) {
        if (!protect_.empty() && protect_.back().second == va) {
            protect_.back().second = va + kPageSize;
            return;
        }
        protect_.emplace_back(va, va + kPageSize);
    }

    Status output(std::uint64_t categories, VirtAddr start, VirtAddr end) {
        if (!buffer_capacity_) return Ok{};
        categories &= r_.return_mask;
        bool full = false;
        if (found_ + pages(end - start) > max_pages()) {
            end = start + ((max_pages() - found_) << kPageShift);
            full = true;
        }
        if (!push(categories, start, end)) {
            end = start;
            full = true;
        }
        found_ += pages(end - start);
        if (!full) return Ok{};
        walk_end_ = end;
        return Errno{ENOSPC};
    }

    bool push(std::uint64_t categories, VirtAddr start, VirtAddr end) {
        if (start == end) return true;
        if (!buffer_.empty() && buffer_.back().end == start && buffer_.back().categories == categories) {
            buffer_.back().end = end;
            return true;
        }
        if (buffer_.size() >= buffer_capacity_) return false;
        buffer_.push_back({start, end, categories});
        return true;
    }

    void flush(PagemapScanOutcome& out) {
        out.regions.insert(out.regions.end(), buffer_.begin(), buffer_.end());
        r_.vec_len -= buffer_.size();
        buffer_.clear();
        buffer_capacity_ = std::min(buffer_capacity_, r_.vec_len);
    }

    const AddressSpace& as_;
    PagemapScanRequest r_;
    std::uint64_t buffer_capacity_ = 0;
    bool no_vector_ = r_.vec_len == 0;  // Linux allocates no bounce buffer
    std::vector<std::pair<VirtAddr, VirtAddr>> protect_;
    std::vector<PageRegion> buffer_;
    std::uint64_t found_ = 0;
    VirtAddr walk_end_ = 0;
};

}  // namespace

Result<PagemapScanOutcome> pagemap_scan(const AddressSpace& as, PagemapScanRequest request) {
    if (request.flags & ~(kScanWpMatching | kScanCheckWpAsync)) return Errno{EINVAL};
    if ((request.category_inverted | request.category_mask | request.category_anyof_mask | request.return_mask) &
        ~page_is::kAll)
        return Errno{EINVAL};
    if (request.start & (kPageSize - 1)) return Errno{EINVAL};
    if (!request.has_vector && request.vec_len) return Errno{EINVAL};
    request.end = page_up(request.end);
    return Scan(as, request).run();
}

Result<PagemapScanOutcome> pagemap_scan_with_wp(AddressSpace& as, const PagemapScanRequest& request) {
    auto outcome = pagemap_scan(as, request);
    if (!outcome) return outcome;
    for (const auto& [start, end] : outcome.value().protect) MMU_TRY(as.uffd_wp_range(start, end - start));
    return outcome;
}

}  // namespace mmu
