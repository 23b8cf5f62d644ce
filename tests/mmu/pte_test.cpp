// PTE and marker encodings: round trips and the human-readable decoder.
#include <gtest/gtest.h>

#include "mmu/pte.hpp"

namespace mmu {
namespace {

// Every kind survives an encode/decode round trip over many frame numbers.
TEST(Pte, PresentRoundTripKeepsEveryField) {
    for (Pfn pfn : {Pfn{0}, Pfn{1}, Pfn{0x1a2}, Pfn{0xfffffffffull}}) {
        for (bool w : {false, true}) {
            for (bool x : {false, true}) {
                const Pte p = Pte::page(pfn, w, x);
                EXPECT_EQ(p.kind(), PteKind::Present);
                EXPECT_EQ(p.pfn(), pfn);
                EXPECT_EQ(p.writable(), w);
                EXPECT_EQ(p.executable(), x);
                EXPECT_TRUE(p.user());
                EXPECT_EQ(Pte{p.raw()}, p);
            }
        }
    }
}

// The guard marker is a non-present entry: the hardware faults on it.
TEST(Pte, GuardMarkerIsNotPresentAndDecodesAsGuard) {
    const Pte g = Pte::guard();
    EXPECT_FALSE(g.raw() & Pte::kPresent);
    EXPECT_EQ(g.kind(), PteKind::Marker);
    EXPECT_TRUE(g.is_guard());
    EXPECT_EQ(g.marker_bits(), marker::kGuard);
    EXPECT_EQ(describe(g), "guard marker");
}

// Markers and swap entries never collide with PROT_NONE entries (bit 8).
TEST(Pte, SoftwareEntriesDoNotAliasProtNone) {
    for (unsigned type = 0; type < 32; ++type) {
        const Pte s = Pte::swap(type, 0xabcde);
        EXPECT_NE(s.kind(), PteKind::ProtNone);
        EXPECT_NE(s.kind(), PteKind::Present);
        EXPECT_EQ(s.swap_type(), type);
        EXPECT_EQ(s.swap_offset(), 0xabcdeu);
    }
    EXPECT_EQ(Pte::prot_none(0x42).kind(), PteKind::ProtNone);
    EXPECT_EQ(Pte::prot_none(0x42).pfn(), 0x42u);
}

TEST(Pte, DescribeRendersPresentEntries) {
    EXPECT_EQ(describe(Pte::page(0x1a2, true, false)), "present rw- user pfn 0x1a2");
    EXPECT_EQ(describe(Pte::page(0x1a2, false, true).with(Pte::kAccessed | Pte::kDirty)),
              "present r-x user pfn 0x1a2 A D");
    EXPECT_EQ(describe(Pte::table(0x10), 4), "table pfn 0x10 user");
    EXPECT_EQ(describe(Pte::none()), "none");
    EXPECT_EQ(describe(Pte::make_marker(marker::kUffdWp)), "uffd-wp marker");
    EXPECT_EQ(describe(Pte::swap(2, 0x99)), "swap type 2 offset 0x99");
}

}  // namespace
}  // namespace mmu
