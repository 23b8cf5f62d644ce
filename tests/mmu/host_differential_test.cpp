// Scenarios run step by step on the host kernel and on the mmu library; every result, errno,
// fault, guard bit and VMA count must be identical. The host kernel (Linux >= 6.13) is the oracle.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cerrno>
#include <memory>

#include "targets.hpp"

namespace mmu::testing {
namespace {

constexpr std::uint64_t P = 4096;
constexpr int kRw = PROT_READ | PROT_WRITE;
constexpr int kAnonFixed = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE;
constexpr int kGuardInstall = 102;
constexpr int kGuardRemove = 103;

class HostDifferential : public ::testing::Test {
protected:
    std::unique_ptr<Target> host = make_host_target();
    std::unique_ptr<Target> mmu = make_mmu_target();

    // Runs `op` on both targets and expects the same result.
    template <class Op>
    std::int64_t both(const char* what, Op op) {
        const std::int64_t h = op(*host);
        const std::int64_t m = op(*mmu);
        EXPECT_EQ(m, h) << what << ": mmu " << m << " vs host " << h;
        return h;
    }
    std::int64_t map(std::uint64_t off, std::uint64_t npages, int prot = kRw, int flags = kAnonFixed) {
        return both("mmap", [&](Target& t) { return t.mmap(off, npages * P, prot, flags); });
    }
    std::int64_t advise(std::uint64_t off, std::uint64_t npages, int advice) {
        return both("madvise", [&](Target& t) { return t.madvise(off, npages * P, advice); });
    }
    void write(std::uint64_t off, std::uint8_t v) {
        const Probe h = host->write(off, v), m = mmu->write(off, v);
        EXPECT_EQ(m, h) << "write +" << off << ": mmu " << to_string(m) << " vs host " << to_string(h);
    }
    // Compares what every page of [off, off + npages) looks like: read result, guard bit,
    // presence, and the VMA count.
    void compare_pages(std::uint64_t off, std::uint64_t npages) {
        for (std::uint64_t i = 0; i < npages; ++i) {
            const std::uint64_t at = off + i * P;
            EXPECT_EQ(mmu->guard(at), host->guard(at)) << "guard bit of page +" << at;
            EXPECT_EQ(mmu->present(at), host->present(at)) << "present bit of page +" << at;
            const Probe h = host->read(at), m = mmu->read(at);
            EXPECT_EQ(m, h) << "read +" << at << ": mmu " << to_string(m) << " vs host " << to_string(h);
        }
        EXPECT_EQ(mmu->vma_count(), host->vma_count()) << "VMA count";
    }
};

TEST_F(HostDifferential, GuardInstallAndRemoveOnPopulatedPages) {
    map(0, 4);
    for (int i = 0; i < 4; ++i) write(i * P, static_cast<std::uint8_t>(i + 1));
    advise(P, 2, kGuardInstall);
    compare_pages(0, 4);
    advise(0, 4, kGuardRemove);
    compare_pages(0, 4);
}

TEST_F(HostDifferential, GuardsSurviveDontNeedFreeColdPageout) {
    map(0, 3);
    write(0, 9);
    advise(P, 1, kGuardInstall);
    for (int advice : {MADV_DONTNEED, MADV_FREE, MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED})
        advise(0, 3, advice);
    compare_pages(0, 3);
}

TEST_F(HostDifferential, GuardsSurviveMprotectRoundTrip) {
    map(0, 3);
    advise(P, 1, kGuardInstall);
    both("mprotect none", [](Target& t) { return t.mprotect(P, P, PROT_NONE); });
    compare_pages(0, 3);
    both("mprotect ro", [](Target& t) { return t.mprotect(P, P, PROT_READ); });
    write(P, 1);  // SEGV_ACCERR: the protection check comes before the marker
    compare_pages(0, 3);
    both("mprotect rw", [](Target& t) { return t.mprotect(P, P, kRw); });
    compare_pages(0, 3);
}

TEST_F(HostDifferential, MunmapAndMapFixedClearGuards) {
    map(0, 4);
    advise(0, 4, kGuardInstall);
    both("munmap", [](Target& t) { return t.munmap(P, P); });
    map(P, 1);
    map(2 * P, 1, kRw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
    compare_pages(0, 4);
}

TEST_F(HostDifferential, HolesGiveEnomemAfterAdvisingTheRest) {
    map(0, 4);
    both("munmap", [](Target& t) { return t.munmap(P, P); });
    for (int advice : {kGuardInstall, MADV_DONTNEED, kGuardRemove, kGuardInstall, MADV_DONTFORK,
                       MADV_POPULATE_WRITE, MADV_NORMAL})
        advise(0, 4, advice);
    compare_pages(0, 4);
    advise(P, 1, kGuardInstall);  // only a hole
}

TEST_F(HostDifferential, LockedRangesRefuseInstallButAllowRemove) {
    map(0, 3);
    advise(2 * P, 1, kGuardInstall);
    both("mlock over guard", [](Target& t) { return t.mlock(0, 3 * P, 0); });
    advise(0, 1, kGuardInstall);
    advise(0, 1, MADV_DONTNEED);
    advise(0, 3, kGuardRemove);
    both("munlock", [](Target& t) { return t.munlock(0, 3 * P); });
    both("mlock2 onfault", [](Target& t) { return t.mlock(0, P, 1); });
    advise(0, 1, kGuardInstall);
    compare_pages(0, 3);
}

TEST_F(HostDifferential, PopulateOverGuardsAndProtections) {
    map(0, 3);
    advise(P, 1, kGuardInstall);
    advise(0, 3, MADV_POPULATE_READ);
    advise(0, 3, MADV_POPULATE_WRITE);
    map(8 * P, 2, PROT_READ);
    advise(8 * P, 2, MADV_POPULATE_WRITE);
    advise(8 * P, 2, MADV_POPULATE_READ);
    map(16 * P, 2, PROT_NONE);
    advise(16 * P, 2, MADV_POPULATE_READ);
    map(24 * P, 2, PROT_WRITE);
    advise(24 * P, 2, MADV_POPULATE_READ);
    compare_pages(0, 3);
    compare_pages(8 * P, 2);
}

TEST_F(HostDifferential, MremapShrinkGrowMoveCarryGuards) {
    map(0, 4);
    write(0, 0x77);
    advise(P, 1, kGuardInstall);
    advise(3 * P, 1, kGuardInstall);
    both("shrink", [](Target& t) { return t.mremap(0, 4 * P, 2 * P, 0, 0); });
    both("regrow", [](Target& t) { return t.mremap(0, 2 * P, 4 * P, 0, 0); });
    compare_pages(0, 4);
    both("move", [](Target& t) { return t.mremap(0, 4 * P, 6 * P, MREMAP_MAYMOVE | MREMAP_FIXED, 64 * P); });
    compare_pages(0, 4);
    compare_pages(64 * P, 6);
    both("dontunmap", [](Target& t) {
        return t.mremap(64 * P, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, 128 * P);
    });
    compare_pages(64 * P, 2);
    compare_pages(128 * P, 2);
}

TEST_F(HostDifferential, ForkInheritsGuardsExceptWipeOnFork) {
    map(0, 4);
    write(0, 1);
    write(2 * P, 2);
    advise(P, 1, kGuardInstall);
    advise(3 * P, 1, kGuardInstall);
    advise(2 * P, 2, MADV_WIPEONFORK);
    const std::vector<std::uint64_t> offsets{0, P, 2 * P, 3 * P};
    const auto h = host->fork_and_read(offsets);
    const auto m = mmu->fork_and_read(offsets);
    for (std::size_t i = 0; i < offsets.size(); ++i)
        EXPECT_EQ(m[i], h[i]) << "child read +" << offsets[i] << ": mmu " << to_string(m[i])
                              << " vs host " << to_string(h[i]);
    compare_pages(0, 4);
}

TEST_F(HostDifferential, VmaSplitAndMergeCounts) {
    map(2 * P, 4);
    map(6 * P, 2);  // adjacent, merges
    compare_pages(0, 10);
    both("mprotect middle", [](Target& t) { return t.mprotect(3 * P, P, PROT_READ); });
    EXPECT_EQ(mmu->vma_count(), host->vma_count());
    both("mprotect back", [](Target& t) { return t.mprotect(3 * P, P, kRw); });
    EXPECT_EQ(mmu->vma_count(), host->vma_count());
    both("mlock middle", [](Target& t) { return t.mlock(4 * P, P, 0); });
    EXPECT_EQ(mmu->vma_count(), host->vma_count());
    both("munlock", [](Target& t) { return t.munlock(4 * P, P); });
    advise(5 * P, 1, MADV_RANDOM);
    EXPECT_EQ(mmu->vma_count(), host->vma_count());
    advise(5 * P, 1, MADV_NORMAL);
    // Two separately touched mappings, then the gap between them filled: merges with one side.
    map(20 * P, 2);
    write(20 * P, 1);
    map(24 * P, 2);
    write(24 * P, 1);
    map(22 * P, 2);
    compare_pages(0, 28);
}

TEST_F(HostDifferential, ArgumentValidationErrnos) {
    map(0, 4);
    both("madvise unaligned", [](Target& t) { return t.madvise(1, P, MADV_DONTNEED); });
    both("madvise unknown", [](Target& t) { return t.madvise(0, P, 999); });
    both("madvise len0 unknown", [](Target& t) { return t.madvise(0, 0, 999); });
    both("madvise len0", [](Target& t) { return t.madvise(0, 0, kGuardInstall); });
    both("madvise wrap", [](Target& t) { return t.madvise(0, ~0ull, kGuardInstall); });
    both("munmap len0", [](Target& t) { return t.munmap(0, 0); });
    both("munmap unaligned", [](Target& t) { return t.munmap(5, P); });
    both("munmap len100", [](Target& t) { return t.munmap(3 * P, 100); });
    both("mprotect unaligned", [](Target& t) { return t.mprotect(7, P, PROT_READ); });
    both("mprotect bad prot", [](Target& t) { return t.mprotect(0, P, 0x100); });
    both("mprotect wrap", [](Target& t) { return t.mprotect(0, ~0ull - 4095, PROT_READ); });
    both("mprotect growsdown", [](Target& t) { return t.mprotect(0, P, PROT_READ | PROT_GROWSDOWN); });
    both("mmap len0", [](Target& t) { return t.mmap(64 * P, 0, kRw, kAnonFixed); });
    both("mmap no type", [](Target& t) { return t.mmap(64 * P, P, kRw, MAP_ANONYMOUS | MAP_FIXED); });
    both("mmap unaligned fixed", [](Target& t) { return t.mmap(64 * P + 1, P, kRw, kAnonFixed); });
    both("mmap noreplace over", [](Target& t) { return t.mmap(0, P, kRw, kAnonFixed); });
    both("mmap shared validate", [](Target& t) {
        return t.mmap(64 * P, P, kRw, MAP_SHARED_VALIDATE | MAP_ANONYMOUS | MAP_FIXED);
    });
    both("mremap unaligned", [](Target& t) { return t.mremap(1, P, P, 0, 0); });
    both("mremap newlen0", [](Target& t) { return t.mremap(0, P, 0, 0, 0); });
    both("mremap fixed no maymove", [](Target& t) { return t.mremap(0, P, P, MREMAP_FIXED, 64 * P); });
    both("mremap private oldlen0", [](Target& t) { return t.mremap(0, 0, P, MREMAP_MAYMOVE, 0); });
    both("mremap hole", [](Target& t) { return t.mremap(64 * P, P, 2 * P, 0, 0); });
    both("mremap overlap", [](Target& t) {
        return t.mremap(0, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, P);
    });
    both("mlock bad flags", [](Target& t) { return t.mlock(0, P, 2); });
    both("mlock hole", [](Target& t) { return t.mlock(64 * P, P, 0); });
    both("mlock unaligned", [](Target& t) { return t.mlock(5, 10, 0); });
    both("munlock", [](Target& t) { return t.munlock(0, 4 * P); });
    std::vector<std::uint8_t> hv, mv;
    both("mincore unaligned", [&](Target& t) { return t.mincore(3, P, hv); });
    both("mincore hole", [&](Target& t) { return t.mincore(2 * P, 4 * P, hv); });
    compare_pages(0, 4);
}

TEST_F(HostDifferential, MincoreReportsResidency) {
    map(0, 4);
    write(0, 1);
    (void)host->read(P);
    (void)mmu->read(P);
    advise(2 * P, 1, kGuardInstall);
    std::vector<std::uint8_t> hv, mv;
    EXPECT_EQ(host->mincore(0, 4 * P, hv), 0);
    EXPECT_EQ(mmu->mincore(0, 4 * P, mv), 0);
    EXPECT_EQ(mv, hv);
}

TEST_F(HostDifferential, SharedAnonymousGuardKeepsPageCacheContents) {
    map(0, 2, kRw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE);
    write(0, 0x67);
    advise(0, 1, kGuardInstall);
    compare_pages(0, 2);
    advise(0, 1, kGuardRemove);
    compare_pages(0, 2);
    advise(0, 2, MADV_FREE);
    advise(0, 2, MADV_WIPEONFORK);
    advise(0, 2, MADV_REMOVE);
    compare_pages(0, 2);
}

// Sealing: the upper half of the window, a unique place per test (sealed maps stay forever).
TEST_F(HostDifferential, SealedMappingsRefuseModification) {
    const std::uint64_t base = kScratchBytes + 0 * 64 * P;
    map(base, 3, PROT_READ);
    map(base + 8 * P, 3, kRw);
    both("mseal ro", [&](Target& t) { return t.mseal(base + P, P); });
    both("mseal rw", [&](Target& t) { return t.mseal(base + 9 * P, P); });
    both("mseal hole", [&](Target& t) { return t.mseal(base + 2 * P, 4 * P); });
    for (std::uint64_t b : {base, base + 8 * P}) {
        for (int advice : {kGuardInstall, kGuardRemove, MADV_DONTNEED, MADV_FREE, MADV_DONTFORK,
                           MADV_WIPEONFORK, MADV_COLD, MADV_PAGEOUT, MADV_WILLNEED})
            both("madvise sealed", [&](Target& t) { return t.madvise(b + P, P, advice); });
        both("munmap sealed", [&](Target& t) { return t.munmap(b, 3 * P); });
        both("mprotect sealed", [&](Target& t) { return t.mprotect(b + P, P, PROT_READ); });
        both("mremap sealed", [&](Target& t) { return t.mremap(b + P, P, 2 * P, MREMAP_MAYMOVE, 0); });
        both("map fixed over sealed", [&](Target& t) {
            return t.mmap(b, 3 * P, kRw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED);
        });
        both("mlock sealed", [&](Target& t) { return t.mlock(b + P, P, 0); });
        both("munlock sealed", [&](Target& t) { return t.munlock(b + P, P); });
    }
}

}  // namespace
}  // namespace mmu::testing
