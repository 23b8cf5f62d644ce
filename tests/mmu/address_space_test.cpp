// Copy-on-write, VMA split/merge, page-table page reclaim, out-of-memory, placement, and the
// introspection views (/proc/self/maps text, pagemap, page walk).
#include <cerrno>

#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

using AddressSpaceTest = MmuTest;

// After fork, private pages are shared read-only; the first write copies, the other side keeps
// the old contents, and the frame is freed when the last user goes.
TEST_F(AddressSpaceTest, CopyOnWriteAfterFork) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 1).ok);
    const Pfn shared = as->pagemap(base).pfn;
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    AddressSpace& c = *child.value();
    EXPECT_EQ(c.pagemap(base).pfn, shared);
    EXPECT_EQ(memory.refcount(shared), 2u);
    ASSERT_TRUE(touch(c, base, Access::Write, 2).ok);
    EXPECT_NE(c.pagemap(base).pfn, shared);
    EXPECT_EQ(read(base).value, 1);
    EXPECT_EQ(touch(c, base, Access::Read).value, 2);
    EXPECT_EQ(memory.refcount(shared), 1u);
    // The parent is now the only owner: its write re-enables the PTE without a copy.
    const auto copies = as->fault_counters().cow_copies;
    ASSERT_TRUE(write(base, 3).ok);
    EXPECT_EQ(as->fault_counters().cow_copies, copies);
    EXPECT_EQ(as->pagemap(base).pfn, shared);
    c.check_invariants();
}

// brk beyond the user address space (brk(-1), whose rounding would wrap to 0) leaves the break
// and every mapping where they are; Linux answers with the current break.
TEST_F(AddressSpaceTest, BrkBeyondTheAddressSpaceChangesNothing) {
    const VirtAddr base = map(1);
    as->set_brk_base(0x600000);
    ASSERT_EQ(as->brk(0x602000), 0x602000u);
    const std::size_t vmas = as->vma_count();
    EXPECT_EQ(as->brk(~0ull), 0x602000u);
    EXPECT_EQ(as->brk(kTaskSize + 1), 0x602000u);
    EXPECT_EQ(as->vma_count(), vmas);
    EXPECT_TRUE(write(base, 1).ok);
    EXPECT_TRUE(write(0x601000, 1).ok);
}

// Every operation that splits VMAs stops at vm.max_map_count with ENOMEM (mprotect, madvise
// flags, mlock, munmap of a middle piece), never past it.
TEST_F(AddressSpaceTest, SplittingStopsAtMaxMapCount) {
    Layout small;
    small.max_map_count = 12;
    AddressSpace limited(memory, tlb, small);
    limited.set_checked(true);
    auto base = limited.mmap(0, 64 * kPageSize, kProtRead | kProtWrite, map::kPrivate | map::kAnonymous);
    ASSERT_TRUE(base.ok());
    const VirtAddr b = base.value();
    int refused = 0;
    for (int i = 1; i < 64; i += 2) {
        const Status s = limited.mprotect(b + static_cast<VirtAddr>(i) * kPageSize, kPageSize, kProtRead);
        if (!s) {
            EXPECT_EQ(s.error(), ENOMEM);
            ++refused;
        }
        EXPECT_LE(limited.vma_count(), small.max_map_count);
    }
    EXPECT_GT(refused, 0);
    const std::size_t at_limit = limited.vma_count();
    EXPECT_EQ(limited.madvise(b + 62 * kPageSize, kPageSize, madv::kDontFork).error(), ENOMEM);
    EXPECT_EQ(limited.mlock(b + 62 * kPageSize, kPageSize).error(), ENOMEM);
    EXPECT_EQ(limited.vma_count(), at_limit);
    // munmap of a middle page adds one VMA: allowed below the limit, refused at it.
    Status s = Ok{};
    for (VirtAddr page = b + 62 * kPageSize; s && page > b; page -= 2 * kPageSize) {
        s = limited.munmap(page, kPageSize);
        EXPECT_LE(limited.vma_count(), small.max_map_count);
    }
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), ENOMEM);
    EXPECT_EQ(limited.vma_count(), small.max_map_count);
    limited.check_invariants();
}

// Shared anonymous memory stays shared across fork.
TEST_F(AddressSpaceTest, SharedMemoryIsSharedWithTheChild) {
    const VirtAddr base = map(1, kRw, map::kShared | map::kAnonymous);
    ASSERT_TRUE(write(base, 1).ok);
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    ASSERT_TRUE(touch(*child.value(), base, Access::Write, 9).ok);
    EXPECT_EQ(read(base).value, 9);
}

// A read fault maps the shared zero page; the first write replaces it with a private frame.
TEST_F(AddressSpaceTest, ReadFaultMapsZeroPageThenWriteCopies) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(read(base).ok);
    EXPECT_EQ(as->pagemap(base).pfn, memory.zero_page());
    EXPECT_EQ(as->rss_pages(), 0u);
    ASSERT_TRUE(write(base, 1).ok);
    EXPECT_NE(as->pagemap(base).pfn, memory.zero_page());
    EXPECT_EQ(as->rss_pages(), 1u);
}

// mprotect of a middle page splits into three VMAs; restoring merges back into one.
TEST_F(AddressSpaceTest, MprotectSplitsAndMerges) {
    const VirtAddr base = map(3);
    ASSERT_TRUE(as->mprotect(base + kPageSize, kPageSize, kProtRead).ok());
    EXPECT_EQ(as->vma_count(), 3u);
    ASSERT_TRUE(as->mprotect(base + kPageSize, kPageSize, kRw).ok());
    EXPECT_EQ(as->vma_count(), 1u);
}

// munmap frees the page-table pages left empty (a 1 GiB-aligned region needs PT, PD and PDPT).
TEST_F(AddressSpaceTest, MunmapFreesEmptyPageTablePages) {
    const std::uint64_t before = as->page_table_pages();
    const VirtAddr base = map(1, kRw, kAnon, 0x200000000000ull);
    ASSERT_TRUE(write(base, 1).ok);
    EXPECT_EQ(as->page_table_pages(), before + 3);
    ASSERT_TRUE(as->munmap(base, kPageSize).ok());
    EXPECT_EQ(as->page_table_pages(), before);
    EXPECT_EQ(memory.stats().frames_in_use, 1 + as->page_table_pages());  // zero page + tables
}

// Running out of guest RAM is ENOMEM / SIGBUS to the caller, never a crash.
TEST(OutOfMemory, ExhaustedRamIsAnErrorNotACrash) {
    PhysicalMemory small(64 * kPageSize);
    Tlb tlb;
    AddressSpace as(small, tlb);
    auto base = as.mmap(0, 128 * kPageSize, kProtRead | kProtWrite, map::kPrivate | map::kAnonymous);
    ASSERT_TRUE(base.ok());
    int faults = 0;
    for (int i = 0; i < 128; ++i) {
        const Translated t = as.access(base.value() + i * kPageSize, Access::Write);
        if (!t.ok) {
            EXPECT_EQ(t.fault.signo, kSigBus);
            ++faults;
        }
    }
    EXPECT_GT(faults, 0);
    EXPECT_EQ(as.madvise(base.value(), 128 * kPageSize, madv::kPopulateWrite).error(), EFAULT);
    as.check_invariants();
}

// Top-down placement: each new mapping directly below the previous one, merged with it.
TEST_F(AddressSpaceTest, TopDownPlacementMergesNeighbours) {
    const VirtAddr a = map(1);
    const VirtAddr b = map(1);
    EXPECT_EQ(b, a - kPageSize);
    EXPECT_EQ(as->vma_count(), 1u);
    EXPECT_EQ(a + kPageSize, as->layout().mmap_base);
    // 2 MiB multiples are placed 2 MiB-aligned.
    const VirtAddr big = map(512);
    EXPECT_EQ(big % kHugePageSize, 0u);
}

// /proc/self/maps lines as Linux prints them.
TEST_F(AddressSpaceTest, MapsTextMatchesLinuxFormat) {
    const VirtAddr base = map(2, kProtRead, kAnon, 0x10000000);
    (void)base;
    ASSERT_TRUE(as->mmap(0x10004000, kPageSize, kRw, map::kShared | map::kAnonymous | map::kFixed).ok());
    EXPECT_EQ(as->maps(),
              "10000000-10002000 r--p 00000000 00:00 0 \n"
              "10004000-10005000 rw-s 00000000 00:01 0                                  /dev/zero (deleted)\n");
}

// The page walk shows all four levels and names the guard marker.
TEST_F(AddressSpaceTest, WalkDecodesEveryLevel) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    const PageWalk w = as->walk(base);
    ASSERT_EQ(w.depth, 4);
    EXPECT_EQ(describe(w.levels[3].entry, 1), "guard marker");
    EXPECT_EQ(describe(w.levels[0].entry, 4).rfind("table pfn", 0), 0u);
    // A guard marker is a swap entry to pagemap: PM_SWAP (62) and PM_GUARD_REGION (58), as Linux 6.18.
    EXPECT_EQ(as->pagemap(base).raw(), (1ull << 62) | (1ull << 58));
}

}  // namespace
}  // namespace mmu::testing
