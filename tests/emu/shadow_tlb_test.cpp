// --check's shadow TLB: what a CPU was handed since its last flush, one entry per page (a refill
// replaces), emptied by a flush or losing one page to a page flush, bound to one address space at a time.
#include <gtest/gtest.h>

#include <map>

#include "machine/shadow_tlb.hpp"

namespace emu {
namespace {

std::map<mmu::VirtAddr, mmu::Pfn> held(const ShadowTlb& s) {
    std::map<mmu::VirtAddr, mmu::Pfn> out;
    s.all_of([&](mmu::VirtAddr page, const ShadowEntry& e) {
        out[page] = e.pfn;
        return true;
    });
    return out;
}

TEST(ShadowTlb, ARefillOfAPageReplacesItsEntry) {
    ShadowTlb s;
    ASSERT_TRUE(s.fill(1, 0x400000, {0x10, false, true}));
    ASSERT_TRUE(s.fill(1, 0x400000, {0x20, true, false}));
    ASSERT_EQ(s.size(), 1u);
    const auto e = s.find(0x400000);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->pfn, 0x20u);
    EXPECT_TRUE(e->writable);
    EXPECT_FALSE(e->executable);
}

TEST(ShadowTlb, AFlushEmptiesItAndFreesItForAnotherAddressSpace) {
    ShadowTlb s;
    ASSERT_TRUE(s.fill(1, 0x1000, {1, true, false}));
    EXPECT_FALSE(s.fill(2, 0x2000, {2, true, false})) << "another address space without a flush";
    s.flush();
    EXPECT_TRUE(s.empty());
    EXPECT_FALSE(s.find(0x1000));
    EXPECT_TRUE(s.fill(2, 0x2000, {2, true, false}));
    EXPECT_EQ(s.asid(), 2u);
}

TEST(ShadowTlb, KeepsEveryPageThroughGrowthAndOddAddresses) {
    ShadowTlb s;
    std::map<mmu::VirtAddr, mmu::Pfn> expected;
    for (mmu::Pfn i = 0; i < 5000; ++i) {
        const mmu::VirtAddr page = (i * 7919 % 100000) << mmu::kPageShift;
        ASSERT_TRUE(s.fill(1, page, {i, (i & 1) != 0, (i & 2) != 0}));
        expected[page] = i;
    }
    // Page 0, the last user page, the vsyscall page (kept aside), the highest frame of 64 GiB.
    for (const auto& [page, pfn] : std::map<mmu::VirtAddr, mmu::Pfn>{
             {0, 7}, {(1ull << 47) - 4096, 8}, {0xffffffffff600000ull, 9}, {0x5000000, (1ull << 24) - 1}}) {
        ASSERT_TRUE(s.fill(1, page, {pfn, true, true}));
        expected[page] = pfn;
    }
    EXPECT_EQ(held(s), expected);
    EXPECT_EQ(s.size(), expected.size());
    EXPECT_EQ(s.peak(), expected.size());
    const auto big = s.find(0x5000000);
    ASSERT_TRUE(big);
    EXPECT_EQ(big->pfn, (1ull << 24) - 1);
    EXPECT_TRUE(big->writable && big->executable);
    const auto vsyscall = s.find(0xffffffffff600000ull);
    ASSERT_TRUE(vsyscall);
    EXPECT_EQ(vsyscall->pfn, 9u);
    EXPECT_THROW(s.fill(1, 0x6000000, {1ull << 26, false, false}), std::out_of_range);
    s.flush();
    EXPECT_TRUE(held(s).empty());
}

// Collisions make probe chains through the flushed page's slot: every other page must stay
// findable after it leaves, whatever slot it landed in.
TEST(ShadowTlb, APageFlushRemovesThatPageAlone) {
    ShadowTlb s;
    std::map<mmu::VirtAddr, mmu::Pfn> expected;
    for (mmu::Pfn i = 0; i < 120; ++i) {
        const mmu::VirtAddr page = (i * 613 % 4096) << mmu::kPageShift;
        ASSERT_TRUE(s.fill(1, page, {i, true, false}));
        expected[page] = i;
    }
    ASSERT_TRUE(s.fill(1, 0xffffffffff600000ull, {3, false, true}));
    expected[0xffffffffff600000ull] = 3;
    for (mmu::Pfn i = 0; i < 120; i += 3) {
        const mmu::VirtAddr page = (i * 613 % 4096) << mmu::kPageShift;
        s.flush_page(page);
        expected.erase(page);
        EXPECT_FALSE(s.find(page));
        for (const auto& [kept, pfn] : expected) {
            const auto e = s.find(kept);
            ASSERT_TRUE(e) << std::hex << kept << " lost with " << page;
            EXPECT_EQ(e->pfn, pfn);
        }
    }
    s.flush_page(0x7777000);  // not held: nothing changes
    s.flush_page(0xffffffffff600000ull);
    expected.erase(0xffffffffff600000ull);
    EXPECT_EQ(held(s), expected);
    EXPECT_EQ(s.size(), expected.size());
    EXPECT_TRUE(s.fill(1, 0x1000, {5, false, false})) << "the same address space";
}

TEST(ShadowTlb, FlushingItsLastPageFreesItForAnotherAddressSpace) {
    ShadowTlb s;
    ASSERT_TRUE(s.fill(1, 0x1000, {1, true, false}));
    s.flush_page(0x1000);
    EXPECT_TRUE(s.empty());
    EXPECT_TRUE(s.fill(2, 0x2000, {2, true, false}));
}

}  // namespace
}  // namespace emu
