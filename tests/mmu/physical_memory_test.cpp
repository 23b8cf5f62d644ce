// The frame allocator's promises: every frame it hands out reads as zero, also after freed frames
// were given back to the host in a batch, and given-back frames really leave the host's memory.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "mmu/address_space.hpp"
#include "mmu/physical_memory.hpp"
#include "mmu/tlb.hpp"

namespace mmu {
namespace {

// Whether the host has the page of `frame` resident (mincore).
bool resident(PhysicalMemory& memory, Pfn pfn) {
    unsigned char vec = 0;
    EXPECT_EQ(::mincore(memory.frame(pfn), kPageSize, &vec), 0);
    return vec & 1;
}

std::vector<Pfn> allocate_dirty(PhysicalMemory& memory, std::size_t n, unsigned char fill) {
    std::vector<Pfn> frames;
    for (std::size_t i = 0; i < n; ++i) {
        auto pfn = memory.allocate();
        EXPECT_TRUE(pfn);
        std::memset(memory.frame(pfn.value()), fill, kPageSize);
        frames.push_back(pfn.value());
    }
    return frames;
}

TEST(PhysicalMemory, FramesReadAsZeroAfterABatchWasGivenBack) {
    PhysicalMemory memory((PhysicalMemory::kReleaseBatch + 64) * kPageSize);
    const auto frames = allocate_dirty(memory, PhysicalMemory::kReleaseBatch, 0xa5);
    for (Pfn pfn : frames) memory.put(pfn);  // the last put releases the whole batch
    EXPECT_FALSE(resident(memory, frames.front()));
    EXPECT_FALSE(resident(memory, frames.back()));
    for (std::size_t i = 0; i < frames.size(); ++i) {
        auto pfn = memory.allocate();
        ASSERT_TRUE(pfn);
        const auto* bytes = reinterpret_cast<const unsigned char*>(memory.frame(pfn.value()));
        for (std::size_t b = 0; b < kPageSize; b += 512) ASSERT_EQ(bytes[b], 0) << "frame " << pfn.value();
    }
}

TEST(PhysicalMemory, AFrameFreedBeforeTheBatchIsZeroedWhenReused) {
    PhysicalMemory memory(64 * kPageSize);
    const auto frames = allocate_dirty(memory, 3, 0x5a);
    memory.put(frames[1]);
    auto again = memory.allocate();
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value(), frames[1]);
    EXPECT_EQ(std::memcmp(memory.frame(again.value()), std::vector<char>(kPageSize, 0).data(), kPageSize), 0);
}

// What the --check shadow-TLB checker relies on: every operation that may change a page-table
// entry lists the page table and the range, so that only translations there need comparing.
TEST(PhysicalMemory, PageTableEditsListTheirRanges) {
    PhysicalMemory memory(64 * kPageSize * 64);
    Tlb tlb;
    AddressSpace as(memory, tlb);
    const auto start = as.mmap(0, 8 * kPageSize, kProtRead | kProtWrite, map::kPrivate | map::kAnonymous);
    ASSERT_TRUE(start);
    memory.forget_page_table_edits();
    for (VirtAddr va = start.value(); va < start.value() + 4 * kPageSize; va += kPageSize)
        ASSERT_TRUE(as.access(va, Access::Write).ok);  // write faults fill the entries
    ASSERT_NE(memory.page_table_edits(), nullptr);
    const auto covers = [&](VirtAddr va) {
        for (const auto& e : *memory.page_table_edits())
            if (e.root == as.page_table_root() && e.start <= va && va < e.end) return true;
        return false;
    };
    for (VirtAddr va = start.value(); va < start.value() + 4 * kPageSize; va += kPageSize) EXPECT_TRUE(covers(va));
    memory.forget_page_table_edits();
    ASSERT_TRUE(as.mprotect(start.value() + kPageSize, kPageSize, kProtRead));
    EXPECT_TRUE(covers(start.value() + kPageSize));
    EXPECT_FALSE(covers(start.value() + 3 * kPageSize));  // untouched by the mprotect
    // Too many separate ranges to list: nullptr, meaning "anything may have changed".
    memory.forget_page_table_edits();
    for (VirtAddr va = 0; va < 300 * 2 * kPageSize; va += 2 * kPageSize)
        memory.note_page_table_edit(as.page_table_root(), va, va + kPageSize);
    EXPECT_EQ(memory.page_table_edits(), nullptr);
    memory.forget_page_table_edits();
    EXPECT_NE(memory.page_table_edits(), nullptr);
}

}  // namespace
}  // namespace mmu
