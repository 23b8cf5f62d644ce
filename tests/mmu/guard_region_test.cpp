// One test per rule of shared/reference/linux-guard-regions.md. Each rule is also exercised
// against the host kernel in host_differential_test.cpp.
#include <cerrno>

#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

using GuardRegion = MmuTest;

// Install: every access to a guard page is SIGSEGV/SEGV_MAPERR; the VMA count does not change.
TEST_F(GuardRegion, InstallMakesEveryAccessFaultWithMapErr) {
    const VirtAddr base = map(3);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    EXPECT_TRUE(read(base + kPageSize + 5).faulted_with(kSegvMapErr));
    EXPECT_TRUE(write(base + kPageSize, 1).faulted_with(kSegvMapErr));
    // A fetch in a non-executable VMA reaches the marker first (x86 checks VM_EXEC via NX).
    EXPECT_EQ(as->access(base + kPageSize, Access::Execute).fault.si_code, kSegvMapErr);
    EXPECT_EQ(as->access(base, Access::Execute).fault.si_code, kSegvAccErr);
    EXPECT_TRUE(write(base, 1).ok);
    EXPECT_TRUE(write(base + 2 * kPageSize, 1).ok);
    EXPECT_EQ(as->vma_count(), 1u);
    EXPECT_TRUE(is_guard(base + kPageSize));
}

// Install zaps populated pages; after remove the page demand-faults as zero.
TEST_F(GuardRegion, InstallZapsPopulatedPagesAndRemoveGivesZeroPage) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 0x5a).ok);
    ASSERT_EQ(as->rss_pages(), 1u);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    EXPECT_EQ(as->rss_pages(), 0u);
    EXPECT_GE(as->fault_counters().guard_install_zaps, 1u);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardRemove).ok());
    EXPECT_FALSE(is_guard(base));
    auto r = read(base);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.value, 0);
}

// Markers do not nest: installing twice then removing once leaves no guard.
TEST_F(GuardRegion, InstallTwiceRemoveOnceLeavesNoGuard) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardRemove).ok());
    EXPECT_TRUE(write(base, 1).ok);
}

// Remove clears only guard markers: populated pages keep their contents.
TEST_F(GuardRegion, RemoveKeepsPresentPages) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 7).ok);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(as->madvise(base, 2 * kPageSize, madv::kGuardRemove).ok());
    EXPECT_EQ(read(base).value, 7);
    EXPECT_TRUE(read(base + kPageSize).ok);
}

// Kept by MADV_DONTNEED.
TEST_F(GuardRegion, DontNeedKeepsMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(write(base + kPageSize, 9).ok);
    ASSERT_TRUE(as->madvise(base, 2 * kPageSize, madv::kDontNeed).ok());
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));
    EXPECT_EQ(read(base + kPageSize).value, 0);
}

// Kept by MADV_FREE, MADV_COLD and MADV_PAGEOUT.
TEST_F(GuardRegion, FreeColdPageoutKeepMarkers) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    for (int advice : {madv::kFree, madv::kCold, madv::kPageOut}) {
        ASSERT_TRUE(as->madvise(base, kPageSize, advice).ok()) << advice_name(advice);
        EXPECT_TRUE(is_guard(base)) << advice_name(advice);
    }
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));
}

// Kept by mprotect, including PROT_NONE and back; the VMA split merges back.
TEST_F(GuardRegion, MprotectKeepsMarkers) {
    const VirtAddr base = map(3);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(as->mprotect(base + kPageSize, kPageSize, kProtNone).ok());
    EXPECT_EQ(as->vma_count(), 3u);
    // In a PROT_NONE VMA the protection check comes first: SEGV_ACCERR.
    EXPECT_TRUE(read(base + kPageSize).faulted_with(kSegvAccErr));
    ASSERT_TRUE(as->mprotect(base + kPageSize, kPageSize, kRw).ok());
    EXPECT_EQ(as->vma_count(), 1u);
    EXPECT_TRUE(read(base + kPageSize).faulted_with(kSegvMapErr));
}

// Cleared by munmap: a new mapping at the same place has no guard.
TEST_F(GuardRegion, MunmapClearsMarkers) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    ASSERT_TRUE(as->munmap(base, kPageSize).ok());
    EXPECT_FALSE(is_guard(base));
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));
    map(1, kRw, kAnon, base);
    EXPECT_TRUE(write(base, 1).ok);
}

// Cleared by mmap(MAP_FIXED) over the range.
TEST_F(GuardRegion, MapFixedClearsMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->madvise(base, 2 * kPageSize, madv::kGuardInstall).ok());
    map(1, kRw, kAnon, base);
    EXPECT_TRUE(write(base, 1).ok);
    EXPECT_TRUE(read(base + kPageSize).faulted_with(kSegvMapErr));
}

// mremap shrink clears the markers of the removed part; growing back has none.
TEST_F(GuardRegion, MremapShrinkClearsTailMarkers) {
    const VirtAddr base = map(4);
    ASSERT_TRUE(as->madvise(base + 3 * kPageSize, kPageSize, madv::kGuardInstall).ok());
    auto shrunk = as->mremap(base, 4 * kPageSize, 2 * kPageSize, 0);
    ASSERT_TRUE(shrunk.ok());
    auto grown = as->mremap(base, 2 * kPageSize, 4 * kPageSize, 0);
    ASSERT_TRUE(grown.ok());
    ASSERT_EQ(grown.value(), base);
    EXPECT_FALSE(is_guard(base + 3 * kPageSize));
    EXPECT_TRUE(write(base + 3 * kPageSize, 1).ok);
}

// mremap move carries markers with the PTEs; growing in place keeps them in the old part.
TEST_F(GuardRegion, MremapMoveCarriesMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 3).ok);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    const VirtAddr target = map(8);  // reserve, then free, a destination
    ASSERT_TRUE(as->munmap(target, 8 * kPageSize).ok());
    auto moved = as->mremap(base, 2 * kPageSize, 4 * kPageSize,
                            mremap_flags::kMayMove | mremap_flags::kFixed, target);
    ASSERT_TRUE(moved.ok());
    EXPECT_EQ(read(target).value, 3);
    EXPECT_TRUE(is_guard(target + kPageSize));
    EXPECT_TRUE(read(target + kPageSize).faulted_with(kSegvMapErr));
    EXPECT_TRUE(write(target + 3 * kPageSize, 1).ok);
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));  // old range is gone
}

TEST_F(GuardRegion, MremapGrowInPlaceKeepsMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    auto grown = as->mremap(base, 2 * kPageSize, 3 * kPageSize, 0);
    ASSERT_TRUE(grown.ok());
    EXPECT_TRUE(is_guard(base + kPageSize));
    EXPECT_TRUE(write(base + 2 * kPageSize, 1).ok);
}

// fork: the child inherits markers; data pages are copy-on-write.
TEST_F(GuardRegion, ForkChildInheritsMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 4).ok);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    AddressSpace& c = *child.value();
    EXPECT_TRUE(touch(c, base + kPageSize, Access::Read).faulted_with(kSegvMapErr));
    EXPECT_EQ(touch(c, base, Access::Read).value, 4);
    c.check_invariants();
}

// fork: in a WIPEONFORK range the child sees no markers (and no data).
TEST_F(GuardRegion, WipeOnForkChildHasNoMarkers) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 4).ok);
    ASSERT_TRUE(as->madvise(base, 2 * kPageSize, madv::kWipeOnFork).ok());
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    AddressSpace& c = *child.value();
    EXPECT_FALSE(c.pagemap(base + kPageSize).guard);
    EXPECT_EQ(touch(c, base + kPageSize, Access::Read).value, 0);
    EXPECT_EQ(touch(c, base, Access::Read).value, 0);
    EXPECT_TRUE(read(base + kPageSize).faulted_with(kSegvMapErr));  // parent keeps its guard
}

// Install on an mlock'd range is EINVAL; remove on it works.
TEST_F(GuardRegion, InstallOnLockedIsEinvalRemoveWorks) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    // mlock over a guard page fails (it cannot be populated) but locks the VMA.
    EXPECT_EQ(as->mlock(base, 2 * kPageSize).error(), ENOMEM);
    EXPECT_EQ(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).error(), EINVAL);
    EXPECT_TRUE(as->madvise(base, kPageSize, madv::kGuardRemove).ok());
    EXPECT_FALSE(is_guard(base));
}

// Holes: ENOMEM, after the advice has been applied to the mapped parts.
TEST_F(GuardRegion, HoleGivesEnomemAfterApplyingTheRest) {
    const VirtAddr base = map(3);
    ASSERT_TRUE(as->munmap(base + kPageSize, kPageSize).ok());
    EXPECT_EQ(as->madvise(base, 3 * kPageSize, madv::kGuardInstall).error(), ENOMEM);
    EXPECT_TRUE(is_guard(base));
    EXPECT_TRUE(is_guard(base + 2 * kPageSize));
    EXPECT_EQ(as->madvise(base, 3 * kPageSize, madv::kGuardRemove).error(), ENOMEM);
    EXPECT_FALSE(is_guard(base));
    EXPECT_FALSE(is_guard(base + 2 * kPageSize));
}

// Populating a guard page: MADV_POPULATE_* is EFAULT, MAP_POPULATE skips it.
TEST_F(GuardRegion, PopulateOverGuardIsEfault) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    EXPECT_EQ(as->madvise(base, 2 * kPageSize, madv::kPopulateRead).error(), EFAULT);
    EXPECT_EQ(as->madvise(base, 2 * kPageSize, madv::kPopulateWrite).error(), EFAULT);
    EXPECT_TRUE(is_guard(base + kPageSize));
}

// A sealed read-only anonymous mapping refuses install (EPERM); a writable sealed one accepts.
TEST_F(GuardRegion, SealedReadOnlyRefusesInstall) {
    const VirtAddr ro = map(1, kProtRead);
    ASSERT_TRUE(as->mseal(ro, kPageSize, 0).ok());
    EXPECT_EQ(as->madvise(ro, kPageSize, madv::kGuardInstall).error(), EPERM);
    const VirtAddr rw = map(1);
    ASSERT_TRUE(as->mseal(rw, kPageSize, 0).ok());
    EXPECT_TRUE(as->madvise(rw, kPageSize, madv::kGuardInstall).ok());
}

// Install is accepted on read-only, PROT_NONE and shared anonymous mappings (Linux >= 6.15).
TEST_F(GuardRegion, InstallAcceptedOnReadOnlyAndSharedMappings) {
    const VirtAddr ro = map(1, kProtRead);
    EXPECT_TRUE(as->madvise(ro, kPageSize, madv::kGuardInstall).ok());
    const VirtAddr none = map(1, kProtNone);
    EXPECT_TRUE(as->madvise(none, kPageSize, madv::kGuardInstall).ok());
    const VirtAddr shared = map(1, kRw, map::kShared | map::kAnonymous);
    EXPECT_TRUE(as->madvise(shared, kPageSize, madv::kGuardInstall).ok());
    EXPECT_TRUE(write(shared, 1).faulted_with(kSegvMapErr));
}

// 10,000 single-page guards in one mapping: still one VMA (the reason guard regions exist).
TEST_F(GuardRegion, TenThousandGuardsKeepOneVma) {
    const VirtAddr base = map(20000);
    for (int i = 0; i < 10000; ++i)
        ASSERT_TRUE(as->madvise(base + 2 * i * kPageSize, kPageSize, madv::kGuardInstall).ok());
    EXPECT_EQ(as->vma_count(), 1u);
}

// The advice names typed by users accept the first patch's POISON/UNPOISON spelling.
TEST(AdviceNames, PoisonAliasesMapToGuardAdvice) {
    EXPECT_EQ(advice_from_name("MADV_GUARD_POISON"), madv::kGuardInstall);
    EXPECT_EQ(advice_from_name("guard_unpoison"), madv::kGuardRemove);
    EXPECT_EQ(advice_from_name("MADV_GUARD_INSTALL"), 102);
    EXPECT_EQ(advice_from_name("dontneed"), madv::kDontNeed);
    EXPECT_EQ(advice_from_name("nonsense"), -1);
    EXPECT_STREQ(advice_name(103), "MADV_GUARD_REMOVE");
}

}  // namespace
}  // namespace mmu::testing
