// PhysicalMemory's frame-change listener, on which an emulator that keeps translated code by
// frame relies: every kernel-side write into a frame in use is reported as Written, every last
// reference that goes as Freed (after the TLB flush that removed the frame's last translation),
// and handing a frame out again is not a change (it was reported when freed).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "mmu/memory_object.hpp"
#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

class FrameChangeTest : public MmuTest {
protected:
    std::vector<std::string> events;  // "flush", "written <pfn>", "freed <pfn>", in order

    void SetUp() override {
        memory.set_frame_change_listener([this](Pfn pfn, PhysicalMemory::FrameChange change) {
            events.push_back((change == PhysicalMemory::FrameChange::Written ? "written " : "freed ") +
                             std::to_string(pfn));
        });
        tlb.set_listener([this](const FlushEvent&) { events.push_back("flush"); });
    }
    void TearDown() override {
        MmuTest::TearDown();
        memory.set_frame_change_listener(nullptr);
        tlb.set_listener(nullptr);
    }

    Pfn frame_of(VirtAddr va) {
        const Translated t = as->access(va, Access::Read);
        EXPECT_TRUE(t.ok);
        return t.translation.paddr >> kPageShift;
    }
    bool saw(const std::string& event) const { return std::find(events.begin(), events.end(), event) != events.end(); }
};

TEST_F(FrameChangeTest, AllocationIsNoChangeAndCopyToUserIsAWrite) {
    const VirtAddr va = map(1);
    ASSERT_TRUE(write(va, 1).ok);  // demand-zero: a fresh frame
    EXPECT_TRUE(events.empty());
    const Pfn pfn = frame_of(va);
    const std::array<char, 4> bytes{1, 2, 3, 4};
    ASSERT_TRUE(as->copy_to_user(va + 8, bytes.data(), bytes.size()));
    EXPECT_EQ(events, std::vector<std::string>{"written " + std::to_string(pfn)});
}

TEST_F(FrameChangeTest, AWriteIsReportedWhateverThePagesProtection) {
    const VirtAddr va = map(1, kRw | kProtExec);
    ASSERT_TRUE(write(va, 1).ok);
    const Pfn pfn = frame_of(va);
    ASSERT_TRUE(as->mprotect(va, kPageSize, kProtRead).ok());  // no longer executable, nor writable
    events.clear();
    const char byte = 7;
    ASSERT_TRUE(as->poke(va, &byte, 1).ok());  // a debugger's (or /proc/pid/mem's) write
    EXPECT_TRUE(saw("written " + std::to_string(pfn)));
}

TEST_F(FrameChangeTest, UnmappingTheLastMappingFreesTheFrameAfterTheFlush) {
    const VirtAddr va = map(2);
    ASSERT_TRUE(write(va, 1).ok);
    ASSERT_TRUE(write(va + kPageSize, 1).ok);
    const Pfn first = frame_of(va), second = frame_of(va + kPageSize);
    events.clear();
    ASSERT_TRUE(as->munmap(va, 2 * kPageSize).ok());
    const auto flush = std::find(events.begin(), events.end(), "flush");
    const auto freed_first = std::find(events.begin(), events.end(), "freed " + std::to_string(first));
    const auto freed_second = std::find(events.begin(), events.end(), "freed " + std::to_string(second));
    ASSERT_NE(freed_first, events.end());
    ASSERT_NE(freed_second, events.end());
    EXPECT_LT(flush, freed_first);
    EXPECT_LT(flush, freed_second);
}

TEST_F(FrameChangeTest, ASharedFrameIsFreedWithItsLastReference) {
    const VirtAddr va = map(1);
    ASSERT_TRUE(write(va, 1).ok);
    const Pfn pfn = frame_of(va);
    auto child = as->fork();
    ASSERT_TRUE(child);
    events.clear();
    ASSERT_TRUE(as->munmap(va, kPageSize).ok());
    EXPECT_FALSE(saw("freed " + std::to_string(pfn)));  // the child still maps it
    child.value().reset();
    EXPECT_TRUE(saw("freed " + std::to_string(pfn)));
}

TEST_F(FrameChangeTest, TruncationFreesTheObjectsFramesAndWritesThePartialPage) {
    auto object = make_page_cache(memory, std::vector<char>(3 * kPageSize, 'x').data(), 3 * kPageSize, 0);
    ASSERT_TRUE(object);
    auto& frames = object.value()->frames;
    const Pfn kept = frames[0] - 1, partial = frames[1] - 1, dropped = frames[2] - 1;
    resize_object(*object.value(), kPageSize + 100);
    EXPECT_FALSE(saw("written " + std::to_string(kept)));
    EXPECT_FALSE(saw("freed " + std::to_string(kept)));
    EXPECT_TRUE(saw("written " + std::to_string(partial)));  // zeroed beyond the new end
    EXPECT_TRUE(saw("freed " + std::to_string(dropped)));
}

}  // namespace
}  // namespace mmu::testing
