// The PAGEMAP_SCAN ioctl of /proc/PID/pagemap (Linux 6.7+, Documentation/admin-guide/mm/
// pagemap.rst): a walk of a virtual range that reports runs of pages sharing a set of
// categories, filtered by required, inverted and any-of masks, bounded by a vector length and
// a page count, and telling where it stopped (walk_end).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "mmu/result.hpp"
#include "mmu/types.hpp"

namespace mmu {

class AddressSpace;

namespace page_is {  // PAGE_IS_* categories (include/uapi/linux/fs.h)
inline constexpr std::uint64_t kWpAllowed = 1u << 0;
inline constexpr std::uint64_t kWritten = 1u << 1;
inline constexpr std::uint64_t kFile = 1u << 2;
inline constexpr std::uint64_t kPresent = 1u << 3;
inline constexpr std::uint64_t kSwapped = 1u << 4;
inline constexpr std::uint64_t kPfnZero = 1u << 5;
inline constexpr std::uint64_t kHuge = 1u << 6;
inline constexpr std::uint64_t kSoftDirty = 1u << 7;
inline constexpr std::uint64_t kGuard = 1u << 8;
inline constexpr std::uint64_t kAll = (1u << 9) - 1;
}  // namespace page_is

inline constexpr std::uint64_t kScanWpMatching = 1u << 0;    // PM_SCAN_WP_MATCHING
inline constexpr std::uint64_t kScanCheckWpAsync = 1u << 1;  // PM_SCAN_CHECK_WPASYNC

// struct pm_scan_arg, as the caller gave it (size and pointers already checked by the caller).
struct PagemapScanRequest {
    std::uint64_t flags = 0;
    VirtAddr start = 0, end = 0;
    bool has_vector = false;      // vec != NULL
    std::uint64_t vec_len = 0;    // regions the caller's vector holds
    std::uint64_t max_pages = 0;  // 0: no limit
    std::uint64_t category_inverted = 0, category_mask = 0, category_anyof_mask = 0, return_mask = 0;
};

struct PageRegion {
    VirtAddr start = 0, end = 0;
    std::uint64_t categories = 0;
};

struct PagemapScanOutcome {
    std::vector<PageRegion> regions;  // what the caller's vector receives, in order
    VirtAddr walk_end = 0;
    // PM_SCAN_WP_MATCHING: the page ranges to write-protect (AddressSpace::uffd_wp_range), in
    // address order, adjacent ones merged.
    std::vector<std::pair<VirtAddr, VirtAddr>> protect;
};

// EINVAL for unknown flags or categories or an unaligned start; EPERM when CHECK_WPASYNC meets
// a mapping without asynchronous userfaultfd write protection (Vma::uffd_wp_async); WP_MATCHING
// skips such mappings. Pages without a page table report only their mapping's categories; pages
// of a PFN mapping (vvar) and gaps between mappings are never reported. The walk itself changes
// nothing: with WP_MATCHING the caller applies `protect`, before anything else runs, as Linux
// protects during the walk (pagemap_scan_with_wp below does both).
Result<PagemapScanOutcome> pagemap_scan(const AddressSpace& as, PagemapScanRequest request);

// pagemap_scan, then the write-protection it selected.
Result<PagemapScanOutcome> pagemap_scan_with_wp(AddressSpace& as, const PagemapScanRequest& request);

}  // namespace mmu
