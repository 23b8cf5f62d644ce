// The frame allocator's promises: every frame it hands out reads as zero, also after freed frames
// were given back to the host in a batch, and given-back frames really leave the host's memory.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "mmu/physical_memory.hpp"

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

}  // namespace
}  // namespace mmu
