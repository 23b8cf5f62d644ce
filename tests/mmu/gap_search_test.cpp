// Top-down placement with the gap search cache against Linux's rule stated directly: random
// mmap / munmap / mprotect / mremap / stack growth sequences, every placement compared with a
// walk over every gap, and the cache recomputed from scratch after every operation.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <vector>

#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

// The highest start of `len` bytes over all gaps clipped to [low, high); a gap ends at the next
// VMA's start, or at its stack guard gap for a GROWSDOWN VMA (Linux vm_start_gap).
std::optional<VirtAddr> reference_gap(const VmaSet& vmas, std::uint64_t len, VirtAddr low,
                                      VirtAddr high) {
    std::optional<VirtAddr> best;
    VirtAddr below = 0;  // the end of the VMA under the gap
    auto consider = [&](VirtAddr gap_end) {
        const VirtAddr lo = std::max(below, low), hi = std::min(gap_end, high);
        if (hi > lo && hi - lo >= len) best = std::max(best.value_or(0), hi - len);
    };
    for (const auto& [start, v] : vmas.all()) {
        VirtAddr gap_end = v.start;
        if (v.has(vma_flag::kGrowsDown)) gap_end = v.start > kStackGuardGap ? v.start - kStackGuardGap : 0;
        consider(gap_end);
        below = v.end;
    }
    consider(~VirtAddr{0});
    return best;
}

// Where place() must put an anonymous mapping without a hint: below mmap_base, else above it.
VirtAddr reference_placement(const AddressSpace& as, std::uint64_t len) {
    const Layout& l = as.layout();
    const VirtAddr low = std::max<VirtAddr>(l.mmap_min_addr, kPageSize);
    if (auto gap = reference_gap(as.vmas(), len, low, l.mmap_base)) return *gap;
    return reference_gap(as.vmas(), len, l.mmap_base, l.task_size).value_or(0);
}

class GapSearchTest : public MmuTest {
protected:
    std::mt19937_64 rng;

    std::uint64_t pick(std::uint64_t n) { return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng); }

    // A few lengths, often repeated, so that the cache is used and broken often.
    std::uint64_t random_len() {
        static constexpr std::uint64_t kPages[] = {1, 1, 1, 2, 3, 4, 8, 17, 300};
        return kPages[pick(std::size(kPages))] * kPageSize;
    }
    std::uint32_t random_prot() { return pick(2) ? kProtRead : kRw; }

    // A page-aligned range around a random VMA, possibly spanning neighbours and holes.
    std::pair<VirtAddr, std::uint64_t> random_range() {
        auto it = as->vmas().all().begin();
        std::advance(it, pick(as->vmas().count()));
        const Vma& v = it->second;
        const VirtAddr start = v.start + pick(pages(v.size())) * kPageSize;
        return {start, (1 + pick(pick(4) ? 4 : 600)) * kPageSize};
    }

    void place_and_compare(std::uint32_t flags) {
        const std::uint64_t len = random_len();
        const VirtAddr expected = reference_placement(*as, len);
        auto placed = as->mmap(0, len, random_prot(), kAnon | flags);
        ASSERT_TRUE(placed.ok()) << "errno " << placed.error();
        ASSERT_EQ(placed.value(), expected) << "len " << len << " with " << as->vma_count() << " VMAs";
    }

    void grow_a_stack() {
        for (const auto& [start, v] : as->vmas().all()) {
            if (!v.has(vma_flag::kGrowsDown) || pick(2)) continue;
            (void)touch(*as, v.start - (1 + pick(3)) * kPageSize, Access::Write, 1);
            return;
        }
    }

    void step() {
        const auto op = pick(20);
        if (op < 9 || as->vma_count() < 4) return place_and_compare(0);
        if (op == 9) return place_and_compare(map::kGrowsDown);
        const auto [start, len] = random_range();
        if (op < 15) {
            (void)as->munmap(start, len);
        } else if (op < 18) {
            (void)as->mprotect(start, len, random_prot());
        } else if (op == 18) {
            (void)as->mremap(start, kPageSize, (1 + pick(6)) * kPageSize, mremap_flags::kMayMove);
        } else {
            grow_a_stack();
        }
    }
};

// Every placement equals the full walk's, and the cache never claims a gap it has not ruled out.
TEST_F(GapSearchTest, PlacementEqualsFullWalkOnRandomSequences) {
    as->set_checked(false);  // checked separately below, with the cache's own check
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        as = std::make_unique<AddressSpace>(memory, tlb);
        rng.seed(seed);
        for (int i = 0; i < 2500; ++i) {
            ASSERT_NO_FATAL_FAILURE(step()) << "operation " << i;
            ASSERT_TRUE(as->vmas().gap_cache_exact()) << "operation " << i;
        }
        as->check_invariants();
    }
}

// Freeing a hole high up makes the next small mapping go there, not below the cached position.
TEST_F(GapSearchTest, MunmapAboveTheCachedPositionIsFoundAgain) {
    std::vector<VirtAddr> placed;
    for (int i = 0; i < 64; ++i) placed.push_back(map(1, i % 2 ? kProtRead : kRw));
    ASSERT_TRUE(as->munmap(placed[3], kPageSize).ok());
    EXPECT_EQ(map(1, kRw), placed[3]);
    ASSERT_TRUE(as->munmap(placed[10], 2 * kPageSize).ok());  // a two-page hole
    EXPECT_EQ(map(2, kRw), placed[10]);
}

}  // namespace
}  // namespace mmu::testing
