// The TLB model: cached translations, invalidation, the 33-page ceiling, the flush listener, and
// the rule that nothing cached may let an access through once the page table forbids it.
#include <cerrno>
#include <vector>

#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

using TlbRules = MmuTest;

// A translation cached before a guard install must fault after it: the install's zap flushes it.
// (Verified to fail when the flush in TlbGather::commit is removed.)
TEST_F(TlbRules, TranslationCachedBeforeGuardInstallFaultsAfter) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 0x11).ok);
    ASSERT_TRUE(as->translate(base, Access::Write).ok);  // now cached
    ASSERT_TRUE(tlb.holds(as->asid(), base));
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    EXPECT_FALSE(tlb.holds(as->asid(), base));
    const Translated t = as->translate(base, Access::Read);
    EXPECT_FALSE(t.ok);
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));
}

// Every narrowing operation flushes before returning.
TEST_F(TlbRules, NarrowingOperationsFlushCachedTranslations) {
    struct Case {
        const char* name;
        std::function<bool(AddressSpace&, VirtAddr)> op;
    };
    const std::vector<Case> cases = {
        {"munmap", [](AddressSpace& a, VirtAddr v) { return a.munmap(v, kPageSize).ok(); }},
        {"mprotect ro", [](AddressSpace& a, VirtAddr v) { return a.mprotect(v, kPageSize, kProtRead).ok(); }},
        {"mprotect none", [](AddressSpace& a, VirtAddr v) { return a.mprotect(v, kPageSize, kProtNone).ok(); }},
        {"dontneed", [](AddressSpace& a, VirtAddr v) { return a.madvise(v, kPageSize, madv::kDontNeed).ok(); }},
        {"map fixed", [](AddressSpace& a, VirtAddr v) {
             return a.mmap(v, kPageSize, kRw, kAnon | map::kFixed).ok(); }},
        {"mremap move", [](AddressSpace& a, VirtAddr v) {
             return a.mremap(v, kPageSize, kPageSize, mremap_flags::kMayMove | mremap_flags::kFixed,
                             0x300000000000ull).ok(); }},
    };
    for (const Case& c : cases) {
        const VirtAddr base = map(1);
        ASSERT_TRUE(write(base, 1).ok);
        ASSERT_TRUE(as->translate(base, Access::Write).ok);
        ASSERT_TRUE(tlb.holds(as->asid(), base)) << c.name;
        ASSERT_TRUE(c.op(*as, base)) << c.name;
        const TlbEntry* stale = tlb.lookup(as->asid(), base, Access::Write);
        EXPECT_EQ(stale, nullptr) << c.name << " left a writable translation cached";
        (void)as->munmap(base, 2 * kPageSize);
        (void)as->munmap(0x300000000000ull, kPageSize);
    }
}

// fork write-protects the parent's private pages: its cached writable entries must go.
TEST_F(TlbRules, ForkFlushesParentWritableTranslations) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 5).ok);
    ASSERT_TRUE(as->translate(base, Access::Write).ok);
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    EXPECT_EQ(tlb.lookup(as->asid(), base, Access::Write), nullptr);
    ASSERT_TRUE(write(base, 6).ok);  // COW break in the parent
    EXPECT_EQ(touch(*child.value(), base, Access::Read).value, 5);
}

// Linux x86 flushes page by page up to 33 pages, the whole TLB beyond.
TEST_F(TlbRules, RangeFlushUsesThe33PageCeiling) {
    const VirtAddr base = map(64);
    for (int i = 0; i < 64; ++i) ASSERT_TRUE(write(base + i * kPageSize, 1).ok);
    TlbCounters before = tlb.counters();
    ASSERT_TRUE(as->madvise(base, 33 * kPageSize, madv::kDontNeed).ok());
    EXPECT_EQ(tlb.counters().page_flushes - before.page_flushes, 33u);
    EXPECT_EQ(tlb.counters().full_flushes, before.full_flushes);
    for (int i = 0; i < 64; ++i) ASSERT_TRUE(write(base + i * kPageSize, 1).ok);
    // A guard install over 34 populated pages zaps them with one full flush.
    before = tlb.counters();
    ASSERT_TRUE(as->madvise(base, 34 * kPageSize, madv::kGuardInstall).ok());
    EXPECT_EQ(tlb.counters().full_flushes - before.full_flushes, 1u);
    EXPECT_EQ(tlb.counters().page_flushes, before.page_flushes);
}

// The listener sees every flush (the emulator mirrors them onto Unicorn).
TEST_F(TlbRules, ListenerSeesEveryFlush) {
    std::vector<FlushEvent> seen;
    tlb.set_listener([&](const FlushEvent& e) { seen.push_back(e); });
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 1).ok);
    ASSERT_TRUE(write(base + kPageSize, 1).ok);
    ASSERT_TRUE(as->madvise(base, 2 * kPageSize, madv::kGuardInstall).ok());
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[0].kind, FlushKind::Page);
    EXPECT_EQ(seen[0].vpage, base);
    EXPECT_EQ(seen[1].vpage, base + kPageSize);
    EXPECT_EQ(seen[0].asid, as->asid());
}

// Guard removal and widening need no flush, and leave no cached refusal behind.
TEST_F(TlbRules, WideningNeedsNoFlushAndLeavesNoRefusal) {
    const VirtAddr base = map(1, kProtRead);
    ASSERT_TRUE(read(base).ok);
    const TlbCounters before = tlb.counters();
    ASSERT_TRUE(as->mprotect(base, kPageSize, kRw).ok());
    EXPECT_EQ(tlb.counters().page_flushes, before.page_flushes);
    EXPECT_TRUE(write(base, 3).ok);
}

// Hits and misses are counted; a hit needs no walk.
TEST_F(TlbRules, CountsHitsMissesAndWalks) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 1).ok);
    const TlbCounters before = tlb.counters();
    ASSERT_TRUE(as->translate(base, Access::Read).ok);
    ASSERT_TRUE(as->translate(base, Access::Read).ok);
    EXPECT_EQ(tlb.counters().hits - before.hits, 2u);
    EXPECT_EQ(tlb.counters().walks, before.walks);
}

}  // namespace
}  // namespace mmu::testing
