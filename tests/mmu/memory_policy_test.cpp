// NUMA memory policies of ranges (mbind's VMA side): a policy splits VMAs and keeps different
// policies apart, MPOL_DEFAULT merges them back, a hole refuses the whole change, the home node
// walk follows set_mempolicy_home_node's rules, and fork and mremap carry the policy along.
// The expected VMA counts are the ones guest memory_policy_rules measured on the host.
#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

constexpr std::uint16_t kBind = 2, kInterleave = 3, kPreferred = 1;

MemPolicy policy(std::uint16_t mode) {
    MemPolicy p;
    p.mode = mode;
    p.nodes = 1;
    return p;
}

class MemoryPolicyTest : public MmuTest {
protected:
    std::size_t vmas_in(VirtAddr start, VirtAddr end) {
        std::size_t n = 0;
        for (const Vma* v = as->vmas().find_at_or_above(start); v && v->start < end;
             v = as->vmas().find_at_or_above(v->end))
            ++n;
        return n;
    }
    std::uint16_t mode_at(VirtAddr va) { return as->vmas().find(va)->policy.mode; }
};

TEST_F(MemoryPolicyTest, BindSplitsEqualPoliciesMergeDefaultMergesBack) {
    const VirtAddr m = map(8);
    ASSERT_TRUE(as->set_policy(m + 2 * kPageSize, m + 5 * kPageSize, policy(kBind)).ok());
    EXPECT_EQ(vmas_in(m, m + 8 * kPageSize), 3u);
    EXPECT_EQ(mode_at(m + 3 * kPageSize), kBind);
    EXPECT_EQ(mode_at(m), 0);
    // The same policy next to it joins the middle VMA.
    ASSERT_TRUE(as->set_policy(m + 5 * kPageSize, m + 7 * kPageSize, policy(kBind)).ok());
    EXPECT_EQ(vmas_in(m, m + 8 * kPageSize), 3u);
    ASSERT_TRUE(as->set_policy(m + 4 * kPageSize, m + 5 * kPageSize, policy(kInterleave)).ok());
    EXPECT_EQ(vmas_in(m, m + 8 * kPageSize), 5u);
    ASSERT_TRUE(as->set_policy(m, m + 8 * kPageSize, MemPolicy{}).ok());
    EXPECT_EQ(vmas_in(m, m + 8 * kPageSize), 1u);
}

TEST_F(MemoryPolicyTest, AHoleIsEfaultAndChangesNothing) {
    const VirtAddr m = map(8);
    ASSERT_TRUE(as->munmap(m + 6 * kPageSize, kPageSize).ok());
    EXPECT_EQ(as->set_policy(m + 4 * kPageSize, m + 8 * kPageSize, policy(kBind)).error(), EFAULT);
    EXPECT_EQ(mode_at(m + 4 * kPageSize), 0);
    EXPECT_EQ(mode_at(m + 7 * kPageSize), 0);
    EXPECT_EQ(vmas_in(m, m + 8 * kPageSize), 2u);
}

TEST_F(MemoryPolicyTest, HomeNodeNeedsBindOrPreferredMany) {
    const VirtAddr m = map(6);
    EXPECT_EQ(as->set_home_node(m, m + kPageSize, 0).error(), ENOENT);
    ASSERT_TRUE(as->set_policy(m + kPageSize, m + 3 * kPageSize, policy(kPreferred)).ok());
    ASSERT_TRUE(as->set_policy(m + 3 * kPageSize, m + 4 * kPageSize, policy(kBind)).ok());
    EXPECT_EQ(as->set_home_node(m + kPageSize, m + 2 * kPageSize, 0).error(), EOPNOTSUPP);
    ASSERT_TRUE(as->set_home_node(m + 3 * kPageSize, m + 4 * kPageSize, 0).ok());
    EXPECT_EQ(as->vmas().find(m + 3 * kPageSize)->policy.home_node, 0);
    EXPECT_EQ(mode_at(m + 3 * kPageSize), kBind);
    // A range starting where no VMA has a policy stops at the PREFERRED one.
    EXPECT_EQ(as->set_home_node(m, m + 4 * kPageSize, 0).error(), EOPNOTSUPP);
}

TEST_F(MemoryPolicyTest, ForkAndMremapKeepThePolicy) {
    const VirtAddr m = map(4);
    ASSERT_TRUE(as->set_policy(m, m + 2 * kPageSize, policy(kInterleave)).ok());
    auto child = as->fork();
    ASSERT_TRUE(child.ok());
    EXPECT_EQ(child.value()->vmas().find(m)->policy.mode, kInterleave);
    EXPECT_EQ(child.value()->vmas().find(m + 2 * kPageSize)->policy.mode, 0);
    auto moved = as->mremap(m, 2 * kPageSize, 2 * kPageSize, mremap_flags::kMayMove | mremap_flags::kFixed,
                            m + 64 * kPageSize);
    ASSERT_TRUE(moved.ok()) << moved.error();
    EXPECT_EQ(mode_at(moved.value()), kInterleave);
}

}  // namespace
}  // namespace mmu::testing
