// userfaultfd, the page-table side: registration (VMA flags, splitting, merging, errno), faults
// handed to the context instead of being resolved, UFFDIO_COPY/ZEROPAGE/CONTINUE/POISON installing
// where nothing is mapped, the uffd-wp PTE bit with its TLB flush, and the release of a context.
#include <cstring>

#include "mmu/pagemap_scan.hpp"
#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

constexpr std::uint64_t kCtx = 7;

class UserfaultfdTest : public MmuTest {
protected:
    // Two pages of bytes `value` to copy from.
    VirtAddr source(std::uint8_t value) {
        const VirtAddr src = map(2);
        for (VirtAddr va = src; va < src + 2 * kPageSize; va += 512) EXPECT_TRUE(write(va, value).ok);
        return src;
    }
    const Vma& vma_at(VirtAddr va) { return *as->vmas().find(va); }
    Pte pte_at(VirtAddr va) {
        const PageWalk w = as->walk(va);
        return w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
    }
    Fault fault_of(VirtAddr va, Access access) { return as->access(va, access).fault; }
};

TEST_F(UserfaultfdTest, RegisterSplitsTheVmaAndNamesTheModes) {
    const VirtAddr base = map(4);
    ASSERT_TRUE(as->uffd_register(base + kPageSize, 2 * kPageSize, uffd_mode::kMissing | uffd_mode::kWp, kCtx).ok());
    const Vma& mid = vma_at(base + kPageSize);
    EXPECT_EQ(mid.start, base + kPageSize);
    EXPECT_EQ(mid.end, base + 3 * kPageSize);
    EXPECT_EQ(mid.uffd_ctx, kCtx);
    EXPECT_NE(vm_flag_names(mid).find("um uw "), std::string::npos) << vm_flag_names(mid);
    EXPECT_EQ(vma_at(base).uffd_ctx, 0u);
    EXPECT_EQ(vm_flag_names(vma_at(base)).find("um"), std::string::npos);
    // Unregistering makes the three pieces one VMA again.
    ASSERT_TRUE(as->uffd_unregister(base, 4 * kPageSize).ok());
    EXPECT_EQ(vma_at(base).end, base + 4 * kPageSize);
}

TEST_F(UserfaultfdTest, ContextIsPartOfVmaCompatibility) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->uffd_register(base, kPageSize, uffd_mode::kMissing, kCtx).ok());
    ASSERT_TRUE(as->uffd_register(base + kPageSize, kPageSize, uffd_mode::kMissing, kCtx + 1).ok());
    // Same flags, different contexts: two VMAs.
    EXPECT_EQ(vma_at(base).end, base + kPageSize);
    EXPECT_EQ(vma_at(base + kPageSize).uffd_ctx, kCtx + 1);
    // A VMA registered by another context is EBUSY.
    EXPECT_EQ(as->uffd_register(base, 2 * kPageSize, uffd_mode::kMissing, kCtx).error(), EBUSY);
}

TEST_F(UserfaultfdTest, RegistrationErrors) {
    const VirtAddr base = map(2);
    EXPECT_EQ(as->uffd_register(base + 1, kPageSize, uffd_mode::kMissing, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_register(base, kPageSize + 1, uffd_mode::kMissing, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_register(base, 0, uffd_mode::kMissing, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_register(base, kPageSize, 0, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_register(base, kPageSize, 8, kCtx).error(), EINVAL);
    // MINOR needs shmem.
    EXPECT_EQ(as->uffd_register(base, kPageSize, uffd_mode::kMinor, kCtx).error(), EINVAL);
    // A range meeting no VMA.
    ASSERT_TRUE(as->munmap(base, 2 * kPageSize).ok());
    EXPECT_EQ(as->uffd_register(base, 2 * kPageSize, uffd_mode::kMissing, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_unregister(base, 2 * kPageSize).error(), EINVAL);
}

TEST_F(UserfaultfdTest, MissingFaultGoesToTheContextUntilCopied) {
    const VirtAddr src = source(0x5a);
    const VirtAddr base = map(3);
    ASSERT_TRUE(as->uffd_register(base, 3 * kPageSize, uffd_mode::kMissing, kCtx).ok());
    const Fault f = fault_of(base + 8, Access::Write);
    EXPECT_EQ(f.reason, FaultReason::UserFault);
    EXPECT_EQ(f.signo, 0);
    EXPECT_EQ(f.uffd_ctx, kCtx);
    EXPECT_EQ(f.uffd_flags, uffd_flag::kWrite);
    EXPECT_TRUE(pte_at(base).is_none());  // nothing was resolved
    EXPECT_EQ(fault_of(base, Access::Read).uffd_flags, 0u);

    const UffdFill copied = as->uffd_copy(base, src, kPageSize, false, kCtx);
    EXPECT_EQ(copied.done, kPageSize);
    EXPECT_EQ(copied.error, 0);
    EXPECT_EQ(read(base + 512).value, 0x5a);
    EXPECT_TRUE(write(base, 1).ok);  // writable at once (a private, exclusive page)
    // A page already there: EEXIST; a range that meets one after the first page: partial.
    EXPECT_EQ(as->uffd_copy(base, src, kPageSize, false, kCtx).error, EEXIST);
    EXPECT_EQ(as->uffd_copy(base + 2 * kPageSize, src, kPageSize, false, kCtx).done, kPageSize);
    const UffdFill partial = as->uffd_copy(base + kPageSize, src, 2 * kPageSize, false, kCtx);
    EXPECT_EQ(partial.done, kPageSize);
    EXPECT_EQ(partial.error, EEXIST);
    // Outside the registered VMA, or another context: ENOENT.
    EXPECT_EQ(as->uffd_copy(src, src, kPageSize, false, kCtx).error, ENOENT);
    EXPECT_EQ(as->uffd_copy(base, src, kPageSize, false, kCtx + 1).error, ENOENT);
    // MODE_WP without WP registration: EINVAL.
    EXPECT_EQ(as->uffd_copy(base, src, kPageSize, true, kCtx).error, EINVAL);
}

TEST_F(UserfaultfdTest, ZeropageMapsTheZeroPageReadOnly) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(as->uffd_register(base, kPageSize, uffd_mode::kMissing, kCtx).ok());
    EXPECT_EQ(as->uffd_zeropage(base, kPageSize, kCtx).done, kPageSize);
    const Pte pte = pte_at(base);
    EXPECT_EQ(pte.pfn(), memory.zero_page());
    EXPECT_FALSE(pte.writable());
    EXPECT_EQ(read(base).value, 0);
    EXPECT_TRUE(write(base, 3).ok);  // copy-on-write of the zero page, no event
    EXPECT_NE(pte_at(base).pfn(), memory.zero_page());
    EXPECT_EQ(as->uffd_zeropage(base, kPageSize, kCtx).error, EEXIST);
}

TEST_F(UserfaultfdTest, GuardAndPoisonMarkersNeverGoToTheContext) {
    const VirtAddr src = source(0x77);
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->uffd_register(base, 2 * kPageSize, uffd_mode::kMissing, kCtx).ok());
    ASSERT_TRUE(as->madvise(base, kPageSize, madv::kGuardInstall).ok());
    EXPECT_TRUE(read(base).faulted_with(kSegvMapErr));
    EXPECT_EQ(fault_of(base, Access::Read).reason, FaultReason::GuardMarker);

    EXPECT_EQ(as->uffd_poison(base + kPageSize, kPageSize, kCtx).done, kPageSize);
    EXPECT_TRUE(pte_at(base + kPageSize).is_poisoned());
    const Fault poisoned = fault_of(base + kPageSize + 3, Access::Read);
    EXPECT_EQ(poisoned.reason, FaultReason::Poisoned);
    EXPECT_EQ(poisoned.signo, kSigBus);
    EXPECT_EQ(poisoned.si_code, 2);  // BUS_ADRERR (the host has no CONFIG_MEMORY_FAILURE)
    // Linux 6.18: UFFDIO_COPY replaces markers (guard and poisoned alike).
    EXPECT_EQ(as->uffd_copy(base, src, 2 * kPageSize, false, kCtx).done, 2 * kPageSize);
    EXPECT_EQ(read(base).value, 0x77);
    EXPECT_EQ(read(base + kPageSize).value, 0x77);
    EXPECT_EQ(as->uffd_poison(base, kPageSize, kCtx).error, EEXIST);
}

TEST_F(UserfaultfdTest, WriteProtectUsesThePteBitAndFlushes) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 0x11).ok);
    ASSERT_TRUE(write(base + kPageSize, 0x22).ok);
    ASSERT_TRUE(as->uffd_register(base, 2 * kPageSize, uffd_mode::kWp, kCtx).ok());
    ASSERT_TRUE(as->translate(base, Access::Write).ok);  // a writable translation is cached
    ASSERT_TRUE(tlb.holds(as->asid(), base));
    ASSERT_TRUE(as->uffd_writeprotect(base, kPageSize, true).ok());
    EXPECT_FALSE(tlb.holds(as->asid(), base));  // removing write access flushed it
    const Pte pte = pte_at(base);
    EXPECT_TRUE(pte.uffd_wp());
    EXPECT_FALSE(pte.writable());
    EXPECT_NE(describe(pte).find("uffd-wp"), std::string::npos);
    EXPECT_EQ(read(base).value, 0x11);  // reads are not affected
    const Fault f = fault_of(base, Access::Write);
    EXPECT_EQ(f.reason, FaultReason::UserFault);
    EXPECT_EQ(f.uffd_flags, uffd_flag::kWrite | uffd_flag::kWp);
    EXPECT_TRUE(write(base + kPageSize, 1).ok);  // the other page is not protected
    // mprotect keeps the protection (and the page read-only).
    ASSERT_TRUE(as->mprotect(base, kPageSize, kProtRead).ok());
    ASSERT_TRUE(as->mprotect(base, kPageSize, kRw).ok());
    EXPECT_TRUE(pte_at(base).uffd_wp());
    EXPECT_EQ(fault_of(base, Access::Write).reason, FaultReason::UserFault);
    // Clearing it: the write goes through.
    ASSERT_TRUE(as->uffd_writeprotect(base, kPageSize, false).ok());
    EXPECT_FALSE(pte_at(base).uffd_wp());
    EXPECT_TRUE(write(base, 0x33).ok);
    // A VMA not registered with MODE_WP: ENOENT.
    const VirtAddr other = map(1);
    EXPECT_EQ(as->uffd_writeprotect(other, kPageSize, true).error(), ENOENT);
}

TEST_F(UserfaultfdTest, ForkAndReleaseDropRegistrationAndProtection) {
    const VirtAddr base = map(1);
    ASSERT_TRUE(write(base, 0x11).ok);
    ASSERT_TRUE(as->uffd_register(base, kPageSize, uffd_mode::kMissing | uffd_mode::kWp, kCtx).ok());
    ASSERT_TRUE(as->uffd_writeprotect(base, kPageSize, true).ok());
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    const Vma& cv = *child.value()->vmas().find(base);
    EXPECT_EQ(cv.uffd_ctx, 0u);
    EXPECT_FALSE(cv.has(vma_flag::kUffdAny));
    EXPECT_FALSE(child.value()->walk(base).levels[kLevels - 1].entry.uffd_wp());
    EXPECT_TRUE(touch(*child.value(), base, Access::Write, 5).ok);  // copy-on-write, no event
    child.value().reset();

    as->uffd_release(kCtx);
    EXPECT_EQ(vma_at(base).uffd_ctx, 0u);
    EXPECT_FALSE(pte_at(base).uffd_wp());
    EXPECT_TRUE(write(base, 6).ok);
}

TEST_F(UserfaultfdTest, MinorFaultsOnShmemAndContinue) {
    auto object = std::make_shared<SharedMemoryObject>();
    object->memory = &memory;
    object->size = 3 * kPageSize;
    auto frame = object->frame(0);  // page 0 is in the object, pages 1 and 2 are holes
    ASSERT_TRUE(frame.ok());
    std::memset(memory.frame(frame.value()), 0x4d, kPageSize);
    auto mapped = as->mmap_file(0, 3 * kPageSize, kRw, map::kShared, object, 0, "/memfd:t (deleted)");
    ASSERT_TRUE(mapped.ok());
    const VirtAddr base = mapped.value();
    ASSERT_TRUE(as->uffd_register(base, 3 * kPageSize, uffd_mode::kMinor | uffd_mode::kMissing, kCtx).ok());
    EXPECT_NE(vm_flag_names(vma_at(base)).find("um "), std::string::npos);
    EXPECT_NE(vm_flag_names(vma_at(base)).find("ui "), std::string::npos);
    const Fault minor = fault_of(base, Access::Read);
    EXPECT_EQ(minor.reason, FaultReason::UserFault);
    EXPECT_EQ(minor.uffd_flags, uffd_flag::kMinor);
    const Fault missing = fault_of(base + kPageSize, Access::Write);
    EXPECT_EQ(missing.uffd_flags, uffd_flag::kWrite);
    EXPECT_EQ(as->uffd_continue(base + kPageSize, kPageSize, false, kCtx).error, EFAULT);  // a hole
    EXPECT_EQ(as->uffd_continue(base, kPageSize, false, kCtx).done, kPageSize);
    EXPECT_EQ(read(base).value, 0x4d);
    EXPECT_TRUE(write(base, 0x4e).ok);  // shared and writable: the object's own page
    EXPECT_EQ(memory.frame(frame.value())[0], std::byte{0x4e});
    EXPECT_EQ(as->uffd_continue(base, kPageSize, false, kCtx).error, EEXIST);
    // A COPY into the hole puts the page into the object.
    const VirtAddr src = source(0x53);
    EXPECT_EQ(as->uffd_copy(base + kPageSize, src, kPageSize, false, kCtx).done, kPageSize);
    EXPECT_TRUE(object->resident(1));
    EXPECT_EQ(read(base + kPageSize).value, 0x53);
    ASSERT_TRUE(as->uffd_unregister(base, 3 * kPageSize).ok());
    EXPECT_EQ(read(base + 2 * kPageSize).value, 0);  // unregistered: a normal fault
}

// In shmem, write-protection reaches pages not mapped yet through uffd-wp markers: the first
// write maps the page write-protected and then faults to the context.
TEST_F(UserfaultfdTest, WriteProtectMarksUnmappedShmemPages) {
    auto object = std::make_shared<SharedMemoryObject>();
    object->memory = &memory;
    object->size = 2 * kPageSize;
    auto mapped = as->mmap_file(0, 2 * kPageSize, kRw, map::kShared, object, 0, "/memfd:w (deleted)");
    ASSERT_TRUE(mapped.ok());
    const VirtAddr base = mapped.value();
    ASSERT_TRUE(as->uffd_register(base, 2 * kPageSize, uffd_mode::kWp, kCtx).ok());
    ASSERT_TRUE(as->uffd_writeprotect(base, 2 * kPageSize, true).ok());
    const Pte marker_pte = pte_at(base);
    EXPECT_EQ(marker_pte.kind(), PteKind::Marker);
    EXPECT_TRUE(marker_pte.marker_bits() & marker::kUffdWp);
    EXPECT_TRUE(as->pagemap(base).uffd_wp);
    EXPECT_EQ(read(base).value, 0);  // a read maps the page, still write-protected
    EXPECT_TRUE(pte_at(base).uffd_wp());
    const Fault f = fault_of(base + kPageSize, Access::Write);
    EXPECT_EQ(f.reason, FaultReason::UserFault);
    EXPECT_EQ(f.uffd_flags, uffd_flag::kWrite | uffd_flag::kWp);
    // The child of a fork is not registered: no marker, no protection.
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    EXPECT_TRUE(touch(*child.value(), base, Access::Write, 1).ok);
    child.value().reset();
    ASSERT_TRUE(as->uffd_writeprotect(base, 2 * kPageSize, false).ok());
    EXPECT_FALSE(as->pagemap(base + kPageSize).uffd_wp);
    EXPECT_TRUE(write(base + kPageSize, 2).ok);
}

TEST_F(UserfaultfdTest, FileMappingsCannotBeRegistered) {
    auto object = std::make_shared<SharedMemoryObject>();
    object->memory = &memory;
    object->size = kPageSize;
    struct NoFile final : ObjectBacking {
        void read_page(std::uint64_t, std::byte*) override {}
        void write_page(std::uint64_t, const std::byte*, std::size_t) override {}
        void punch_hole(std::uint64_t, std::uint64_t) override {}
        void sync_data() override {}
    };
    object->backing = std::make_unique<NoFile>();
    auto mapped = as->mmap_file(0, kPageSize, kProtRead, map::kPrivate, object, 0, "/file");
    ASSERT_TRUE(mapped.ok());
    EXPECT_EQ(as->uffd_register(mapped.value(), kPageSize, uffd_mode::kMissing, kCtx).error(), EINVAL);
    EXPECT_EQ(as->uffd_unregister(mapped.value(), kPageSize).error(), EINVAL);
}

}  // namespace
}  // namespace mmu::testing

namespace mmu::testing {
namespace {

constexpr std::uint32_t kAsyncWp = uffd_mode::kWp | uffd_mode::kCtxWpAsync | uffd_mode::kCtxWpUnpopulated;

class UffdWpAsyncTest : public MmuTest {
protected:
    Pte pte_at(VirtAddr va) {
        const PageWalk w = as->walk(va);
        return w.depth == kLevels ? w.levels[kLevels - 1].entry : Pte::none();
    }
    bool wp_marker_at(VirtAddr va) {
        const Pte pte = pte_at(va);
        return pte.kind() == PteKind::Marker && (pte.marker_bits() & marker::kUffdWp);
    }
    // PAGEMAP_SCAN with WP_MATCHING|CHECK_WPASYNC for the written pages of [start, start + n pages).
    PagemapScanOutcome collect(VirtAddr start, std::uint64_t pages, std::uint64_t vec_len = 16,
                               std::uint64_t max_pages = 0) {
        PagemapScanRequest r;
        r.flags = kScanWpMatching | kScanCheckWpAsync;
        r.start = start;
        r.end = start + pages * kPageSize;
        r.has_vector = vec_len != 0;
        r.vec_len = vec_len;
        r.max_pages = max_pages;
        r.category_mask = r.return_mask = page_is::kWritten;
        auto out = pagemap_scan_with_wp(*as, r);
        EXPECT_TRUE(out.ok());
        return out.ok() ? out.value() : PagemapScanOutcome{};
    }
};

TEST_F(UffdWpAsyncTest, UnpopulatedPagesGetMarkersAndWritesResolveWithoutAnEvent) {
    const VirtAddr base = map(3);
    ASSERT_TRUE(write(base, 0x11).ok);
    ASSERT_TRUE(as->uffd_register(base, 3 * kPageSize, kAsyncWp, kCtx).ok());
    EXPECT_TRUE(as->vmas().find(base)->uffd_wp_async());
    ASSERT_TRUE(as->uffd_writeprotect(base, 3 * kPageSize, true).ok());
    EXPECT_TRUE(pte_at(base).uffd_wp());
    EXPECT_TRUE(wp_marker_at(base + kPageSize));
    EXPECT_TRUE(wp_marker_at(base + 2 * kPageSize));
    // The write-protect fault is resolved here: no UserFault, the bit is gone, the byte written.
    EXPECT_TRUE(write(base, 0x22).ok);
    EXPECT_FALSE(pte_at(base).uffd_wp());
    EXPECT_EQ(read(base).value, 0x22);
    // A read of a marker maps the zero page still protected; a write ends with a writable page.
    EXPECT_EQ(read(base + kPageSize).value, 0);
    EXPECT_TRUE(pte_at(base + kPageSize).uffd_wp());
    EXPECT_TRUE(write(base + 2 * kPageSize, 0x33).ok);
    EXPECT_FALSE(pte_at(base + 2 * kPageSize).uffd_wp());
    EXPECT_TRUE(pte_at(base + 2 * kPageSize).writable());
}

TEST_F(UffdWpAsyncTest, SynchronousContextStillReportsTheFault) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(write(base, 0x11).ok);
    ASSERT_TRUE(as->uffd_register(base, 2 * kPageSize, uffd_mode::kWp | uffd_mode::kCtxWpUnpopulated, kCtx).ok());
    EXPECT_FALSE(as->vmas().find(base)->uffd_wp_async());
    ASSERT_TRUE(as->uffd_writeprotect(base, 2 * kPageSize, true).ok());
    EXPECT_TRUE(wp_marker_at(base + kPageSize));  // WP_UNPOPULATED alone: markers, no async
    EXPECT_EQ(as->access(base, Access::Write).fault.reason, FaultReason::UserFault);
}

TEST_F(UffdWpAsyncTest, ScanProtectsWhatItReportsAndFlushesTheTlb) {
    const VirtAddr base = map(4);
    ASSERT_TRUE(as->uffd_register(base, 4 * kPageSize, kAsyncWp, kCtx).ok());
    ASSERT_TRUE(as->uffd_writeprotect(base, 4 * kPageSize, true).ok());
    EXPECT_TRUE(collect(base, 4).regions.empty());  // markers: nothing written yet
    ASSERT_TRUE(write(base + kPageSize, 1).ok);
    ASSERT_TRUE(write(base + 2 * kPageSize, 2).ok);
    ASSERT_TRUE(as->translate(base + kPageSize, Access::Write).ok);  // a writable translation is cached
    ASSERT_TRUE(tlb.holds(as->asid(), base + kPageSize));
    const PagemapScanOutcome out = collect(base, 4);
    ASSERT_EQ(out.regions.size(), 1u);
    EXPECT_EQ(out.regions[0].start, base + kPageSize);
    EXPECT_EQ(out.regions[0].end, base + 3 * kPageSize);
    EXPECT_EQ(out.regions[0].categories, page_is::kWritten);
    // The scan removed write access: the cached translation is gone and a write faults again.
    EXPECT_FALSE(tlb.holds(as->asid(), base + kPageSize));
    EXPECT_FALSE(as->translate(base + kPageSize, Access::Write).ok);
    EXPECT_TRUE(pte_at(base + kPageSize).uffd_wp());
    EXPECT_TRUE(pte_at(base + 2 * kPageSize).uffd_wp());
    EXPECT_TRUE(collect(base, 4).regions.empty());
    // Only the page written since is reported next time.
    ASSERT_TRUE(write(base + 2 * kPageSize, 3).ok);
    const PagemapScanOutcome again = collect(base, 4);
    ASSERT_EQ(again.regions.size(), 1u);
    EXPECT_EQ(again.regions[0].start, base + 2 * kPageSize);
    EXPECT_EQ(again.regions[0].end, base + 3 * kPageSize);
}

TEST_F(UffdWpAsyncTest, ScanCutByMaxPagesOrAFullVectorProtectsNothingBeyondTheCut) {
    const VirtAddr base = map(6);
    ASSERT_TRUE(as->uffd_register(base, 6 * kPageSize, kAsyncWp, kCtx).ok());
    for (VirtAddr va = base; va < base + 4 * kPageSize; va += kPageSize) ASSERT_TRUE(write(va, 1).ok);
    ASSERT_TRUE(as->uffd_writeprotect(base + 4 * kPageSize, 2 * kPageSize, true).ok());
    const PagemapScanOutcome cut = collect(base, 6, 16, 2);
    ASSERT_EQ(cut.regions.size(), 1u);
    EXPECT_EQ(cut.regions[0].end, base + 2 * kPageSize);
    EXPECT_EQ(cut.walk_end, base + 2 * kPageSize);
    EXPECT_TRUE(pte_at(base + kPageSize).uffd_wp());
    EXPECT_FALSE(pte_at(base + 2 * kPageSize).uffd_wp());  // beyond max_pages: still writable
    EXPECT_TRUE(pte_at(base + 2 * kPageSize).writable());
    // A vector of one region: the second run is neither reported nor protected.
    ASSERT_TRUE(write(base + 5 * kPageSize, 1).ok);
    const PagemapScanOutcome full = collect(base, 6, 1);
    ASSERT_EQ(full.regions.size(), 1u);
    EXPECT_EQ(full.regions[0].start, base + 2 * kPageSize);
    EXPECT_EQ(full.walk_end, base + 5 * kPageSize);
    EXPECT_FALSE(pte_at(base + 5 * kPageSize).uffd_wp());
    // Without a vector every entry not yet protected is.
    EXPECT_TRUE(collect(base, 6, 0).regions.empty());
    EXPECT_TRUE(pte_at(base + 5 * kPageSize).uffd_wp());
}

// Linux: a guard marker counts as written until the scan sets the uffd-wp bit on it; it stays a
// guard page, and removing the guard clears the whole entry.
TEST_F(UffdWpAsyncTest, ScanProtectsGuardMarkersAndGuardRemovalDropsTheBit) {
    const VirtAddr base = map(2);
    ASSERT_TRUE(as->uffd_register(base, 2 * kPageSize, kAsyncWp, kCtx).ok());
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardInstall).ok());
    // The empty entry next to it (its page table exists now) counts as written too.
    const PagemapScanOutcome first = collect(base, 2);
    ASSERT_EQ(first.regions.size(), 1u);
    EXPECT_EQ(first.regions[0].start, base);
    EXPECT_EQ(first.regions[0].end, base + 2 * kPageSize);
    EXPECT_TRUE(pte_at(base + kPageSize).is_guard());
    EXPECT_TRUE(wp_marker_at(base + kPageSize));
    EXPECT_TRUE(collect(base, 2).regions.empty());
    ASSERT_TRUE(as->madvise(base + kPageSize, kPageSize, madv::kGuardRemove).ok());
    EXPECT_TRUE(pte_at(base + kPageSize).is_none());
}

TEST_F(UffdWpAsyncTest, CheckWpAsyncIsEpermElsewhereAndWpMatchingSkips) {
    const VirtAddr plain = map(1);
    ASSERT_TRUE(write(plain, 1).ok);
    PagemapScanRequest r;
    r.start = plain;
    r.end = plain + kPageSize;
    r.has_vector = true;
    r.vec_len = 4;
    r.return_mask = page_is::kAll;
    r.flags = kScanCheckWpAsync;
    EXPECT_EQ(pagemap_scan(*as, r).error(), EPERM);
    r.flags = kScanWpMatching;
    auto skipped = pagemap_scan_with_wp(*as, r);
    ASSERT_TRUE(skipped.ok());
    EXPECT_TRUE(skipped.value().regions.empty());
    EXPECT_TRUE(skipped.value().protect.empty());
    EXPECT_TRUE(write(plain, 2).ok);
}

}  // namespace
}  // namespace mmu::testing
