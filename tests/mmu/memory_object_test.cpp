// Memory objects: file pages read on demand, written back when dirty, shared mappings seen by
// every address space, SIGBUS beyond the end, and truncation zapping every mapping (with flushes).
#include <cstring>
#include <map>

#include "mmu_fixture.hpp"

namespace mmu::testing {
namespace {

// A file held in memory: what the emulator's host file is to the library.
class FakeFile final : public ObjectBacking {
public:
    explicit FakeFile(std::map<std::uint64_t, std::uint8_t>& bytes) : bytes_(bytes) {}
    void read_page(std::uint64_t index, std::byte* page) override {
        for (std::uint64_t i = 0; i < kPageSize; ++i)
            if (auto it = bytes_.find((index << kPageShift) + i); it != bytes_.end())
                page[i] = std::byte{it->second};
    }
    void write_page(std::uint64_t index, const std::byte* page, std::size_t len) override {
        ++writes;
        for (std::size_t i = 0; i < len; ++i)
            bytes_[(index << kPageShift) + i] = std::to_integer<std::uint8_t>(page[i]);
    }
    void sync_data() override { ++syncs; }
    int syncs = 0;
    void punch_hole(std::uint64_t first, std::uint64_t count) override {
        bytes_.erase(bytes_.lower_bound(first << kPageShift), bytes_.lower_bound((first + count) << kPageShift));
    }
    int writes = 0;

private:
    std::map<std::uint64_t, std::uint8_t>& bytes_;
};

class MemoryObjectTest : public MmuTest {
protected:
    std::map<std::uint64_t, std::uint8_t> file{{0, 'a'}, {kPageSize, 'b'}};
    FakeFile* backing = nullptr;

    // The address space goes first: its objects write back into `file` as they die.
    ~MemoryObjectTest() override { as.reset(); }

    std::shared_ptr<SharedMemoryObject> make_file(std::uint64_t size) {
        auto object = std::make_shared<SharedMemoryObject>();
        object->memory = &memory;
        object->size = size;
        auto fake = std::make_unique<FakeFile>(file);
        backing = fake.get();
        object->backing = std::move(fake);
        return object;
    }
    VirtAddr map_object(AddressSpace& space, std::shared_ptr<SharedMemoryObject> object,
                        std::uint32_t type, std::uint64_t npages) {
        auto r = space.mmap_file(0, npages * kPageSize, kRw, type, std::move(object), 0, "/f");
        EXPECT_TRUE(r.ok());
        return r.ok() ? r.value() : 0;
    }
};

// A shared file mapping reads the file on first fault; a write marks the page dirty and msync
// writes exactly that page back.
TEST_F(MemoryObjectTest, SharedWriteGoesBackOnMsync) {
    auto object = make_file(2 * kPageSize);
    const VirtAddr base = map_object(*as, object, map::kShared, 2);
    EXPECT_EQ(read(base).value, 'a');
    EXPECT_EQ(read(base + kPageSize).value, 'b');
    ASSERT_TRUE(write(base + 1, 'x').ok);
    EXPECT_EQ(object->dirty.size(), 1u);
    ASSERT_TRUE(as->msync(base, 2 * kPageSize, 4).ok());
    EXPECT_EQ(file[1], 'x');
    EXPECT_EQ(backing->writes, 1);
    EXPECT_EQ(backing->syncs, 1);  // MS_SYNC (4) waits for the storage
    EXPECT_TRUE(object->dirty.empty());
}

// Another address space (a forked child) mapping the object sees the write at once.
TEST_F(MemoryObjectTest, SharedPagesAreSharedAcrossAddressSpaces) {
    auto object = make_file(2 * kPageSize);
    const VirtAddr base = map_object(*as, object, map::kShared, 2);
    auto other = make_checked();
    const VirtAddr there = map_object(*other, object, map::kShared, 2);
    ASSERT_TRUE(touch(*other, there, Access::Write, 'o').ok);
    EXPECT_EQ(read(base).value, 'o');
    other->check_invariants();
}

// Beyond the page-rounded size: SIGBUS/BUS_ADRERR for reads and writes, private or shared.
TEST_F(MemoryObjectTest, BeyondTheEndIsSigbus) {
    auto object = make_file(kPageSize + 10);
    const VirtAddr base = map_object(*as, object, map::kPrivate, 4);
    EXPECT_TRUE(read(base + kPageSize + 100).ok);
    const AccessOutcome r = read(base + 2 * kPageSize);
    EXPECT_EQ(r.signo, kSigBus);
    EXPECT_EQ(r.si_code, 2);
    EXPECT_EQ(write(base + 3 * kPageSize, 1).signo, kSigBus);
}

// Shrinking zaps the pages beyond the new end from every mapping in every address space,
// private copies included, flushes their TLB entries, and zeroes the tail of the last page.
TEST_F(MemoryObjectTest, TruncationZapsEveryMapping) {
    auto object = make_file(2 * kPageSize);
    const VirtAddr shared = map_object(*as, object, map::kShared, 2);
    auto other = make_checked();
    const VirtAddr priv = map_object(*other, object, map::kPrivate, 2);
    ASSERT_TRUE(write(shared + kPageSize, 's').ok);
    ASSERT_TRUE(touch(*other, priv + kPageSize, Access::Write, 'p').ok);  // a private copy
    ASSERT_TRUE(write(shared + 200, 'z').ok);
    EXPECT_TRUE(tlb.holds(as->asid(), shared + kPageSize));
    const auto flushes = tlb.counters().page_flushes + tlb.counters().full_flushes;
    resize_object(*object, 100);
    EXPECT_FALSE(tlb.holds(as->asid(), shared + kPageSize));
    EXPECT_GT(tlb.counters().page_flushes + tlb.counters().full_flushes, flushes);
    EXPECT_EQ(read(shared + kPageSize).signo, kSigBus);
    EXPECT_EQ(touch(*other, priv + kPageSize, Access::Read).signo, kSigBus);
    EXPECT_EQ(read(shared + 200).value, 0);  // the tail of the partial page
    resize_object(*object, 2 * kPageSize);
    EXPECT_TRUE(read(shared + kPageSize).ok);
    other->check_invariants();
}

// The last reference going (munmap of the last mapping, exit) writes dirty pages back.
TEST_F(MemoryObjectTest, LastUnmapWritesBack) {
    auto object = make_file(kPageSize);
    const VirtAddr base = map_object(*as, object, map::kShared, 1);
    object.reset();
    ASSERT_TRUE(write(base, 'w').ok);
    ASSERT_TRUE(as->munmap(base, kPageSize).ok());
    EXPECT_EQ(file[0], 'w');
}

// A read-only shared mapping without VM_MAYWRITE refuses mprotect(PROT_WRITE) with EACCES.
TEST_F(MemoryObjectTest, NoMayWriteRefusesWritableMprotect) {
    auto object = make_file(kPageSize);
    auto r = as->mmap_file(0, kPageSize, kProtRead, map::kShared, object, 0, "/f", false);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(as->mprotect(r.value(), kPageSize, kRw).error(), EACCES);
    EXPECT_TRUE(as->mprotect(r.value(), kPageSize, kProtRead).ok());
}

// MADV_REMOVE on a shared file mapping punches a hole: the page leaves every mapping (shared
// ones elsewhere too), its dirty data is dropped, the file gets the hole, and the range reads as
// zero; a private copy made earlier stays. A private mapping may not ask (EACCES).
TEST_F(MemoryObjectTest, RemovePunchesAHoleEverywhere) {
    auto object = make_file(2 * kPageSize);
    const VirtAddr shared = map_object(*as, object, map::kShared, 2);
    auto other = make_checked();
    const VirtAddr other_shared = map_object(*other, object, map::kShared, 2);
    const VirtAddr priv = map_object(*other, object, map::kPrivate, 2);
    ASSERT_TRUE(touch(*other, priv, Access::Write, 'p').ok);        // a private copy of page 0
    EXPECT_EQ(touch(*other, priv + kPageSize, Access::Read).value, 'b');  // maps the object's page
    ASSERT_TRUE(write(shared + kPageSize + 1, 'd').ok);             // dirty, never written back
    EXPECT_EQ(touch(*other, other_shared + kPageSize, Access::Read).value, 'b');
    const auto flushes = tlb.counters().page_flushes + tlb.counters().full_flushes;
    ASSERT_TRUE(as->madvise(shared, 2 * kPageSize, madv::kRemove).ok());
    EXPECT_GT(tlb.counters().page_flushes + tlb.counters().full_flushes, flushes);
    EXPECT_FALSE(tlb.holds(other->asid(), other_shared + kPageSize));
    EXPECT_TRUE(object->dirty.empty());
    EXPECT_EQ(file.count(0), 0u);
    EXPECT_EQ(file.count(kPageSize), 0u);
    EXPECT_EQ(touch(*other, other_shared + kPageSize, Access::Read).value, 0);
    EXPECT_EQ(touch(*other, other_shared + kPageSize + 1, Access::Read).value, 0);
    EXPECT_EQ(touch(*other, priv, Access::Read).value, 'p');
    EXPECT_EQ(touch(*other, priv + kPageSize, Access::Read).value, 0);
    EXPECT_EQ(other->madvise(priv, kPageSize, madv::kRemove).error(), EACCES);
    EXPECT_EQ(backing->writes, 0);
    other->check_invariants();
}

}  // namespace
}  // namespace mmu::testing
